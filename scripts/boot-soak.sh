#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# boot-soak.sh [N] [FLAVOR]: boots the FLAVOR (default debug) kernel N times (default 10) with
# nothing to do but boot, and checks every boot's dmesg as `make check` does. For splats that
# come and go at boot, before anything of ours runs.
set -euo pipefail
. "$(dirname "$0")/common.sh"

n=${1:-10}
flavor=${2:-debug}
clean=0
for i in $(seq 1 "$n"); do
	ADHOC=true "$ROOT/scripts/vm.sh" "$flavor" adhoc
	dir=$ROOT/build/$flavor/soak-$i
	rm -rf "$dir"
	mv "$ROOT/build/$flavor/guest-adhoc" "$dir"
	if "$ROOT/scripts/check-results.py" "$dir" >"$dir/result.txt"; then
		clean=$((clean + 1))
		echo "boot $i: clean ($(grep -o 'Brought up .*' "$dir/dmesg.txt"))"
	else
		echo "boot $i: NOT clean:"
		grep -A12 'dmesg_is_clean' "$dir/result.txt" | head -n 30
	fi
done
echo "$clean of $n boots clean"
[ "$clean" = "$n" ]
