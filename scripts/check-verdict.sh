#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# check-verdict.sh [FLAVOR]: the verdict of `make check` (debug) or `make check-rt` (rt) on
# build/FLAVOR/guest-check: every program of the list ran in each refmode's log (the second
# without those first_refmode_only names), the last boot steps ran, nothing skipped but what
# allowed_skips (and allowed_skips.FLAVOR) lists, and the guest is clean
# (scripts/check-results.py). scripts/mutants.sh holds its mutants to the same verdict.
set -euo pipefail
. "$(dirname "$0")/common.sh"

flavor=${1:-debug}
out=$ROOT/build/$flavor/guest-check
tests=$ROOT/tools/testing/selftests/rust_pgmap
list=$ROOT/build/kselftest/kselftest-list.txt
skips=$tests/allowed_skips
# A flavor may allow more skips, for what its configuration lacks.
if [ -f "$tests/allowed_skips.$flavor" ]; then
	skips=$(mktemp)
	trap 'rm -f "$skips"' EXIT
	cat "$tests/allowed_skips" "$tests/allowed_skips.$flavor" >"$skips"
fi
"$ROOT/scripts/check-results.py" --allowed-skips "$skips" \
	--expect "$out/run-first.log=@$list" \
	--expect "$out/run-second.log=@$list" \
	--except "$out/run-second.log=@$tests/first_refmode_only" \
	--expect "$out/run-last.log=rust_pgmap:noregion.sh,rust_pgmap:leaked_dev_ref.sh" \
	"$out"
