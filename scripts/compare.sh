#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# compare.sh: `make compare`. Builds the comparison programs, then boots the compare kernel
# (release + the in-tree device-dax stack) ten times, on two 512 MiB memmap= regions but for
# the second boot:
#   1. rust_pgmap's negative control (4 KiB and 2 MiB folios), and every benchmark on anonymous
#      memory, rust_pgmap (both folio sizes), device-dax (4K) and device-dax (2M), in one boot;
#   2. the two refmodes of rust_pgmap side by side, on a 512 MiB and a 2176 MiB region;
#   3.-10. device-dax's negative control, one holder and alignment (4K, 2M) per boot, each with
#      oops=panic and a time limit: the Oops that its release is expected to cause ends it.
# Then writes build/compare/report.md and report.png and prints the report. Exits 0 when every
# scenario ran, whatever device-dax did.
set -euo pipefail
. "$(dirname "$0")/common.sh"

phase=$ROOT/scripts/phase.sh
export RUST_PGMAP_MEMMAP=${RUST_PGMAP_COMPARE_MEMMAP:-512M!1G 512M!4G}
out=$ROOT/build/compare

"$phase" compare-programs make -s -C "$ROOT/compare" KSRC="$(kernel_src_dir)" OUTPUT="$out/bin"
"$phase" compare-main "$ROOT/scripts/vm.sh" compare compare
[ "$(cat "$out/guest-compare/exit")" = 0 ] ||
	die "the benchmark boot's script failed (see $out/guest-compare/compare.log)"
RUST_PGMAP_MEMMAP=${RUST_PGMAP_REFMODE_MEMMAP:-512M!1G 2176M!4G} \
	"$phase" compare-refmode "$ROOT/scripts/vm.sh" compare compare-refmode
[ "$(cat "$out/guest-compare-refmode/exit")" = 0 ] ||
	die "the refmode boot's script failed (see $out/guest-compare-refmode/compare-refmode.log)"

for case in {longterm,vmsplice,odirect,rdma}-{4K,2M}; do
	rc=0
	RUST_PGMAP_CASE=$case RUST_PGMAP_VM_APPEND=oops=panic RUST_PGMAP_VM_TIMEOUT=300 \
		"$phase" "compare-devdax-$case" "$ROOT/scripts/vm.sh" compare compare-devdax \
		2>"$out/devdax-$case.vm.log" || rc=$?
	case $rc in
	0) how="ended normally" ;;
	3) how="ended in a kernel panic" ;;
	4) how="hung, and was stopped after its time limit" ;;
	*) how="failed" ;;
	esac
	if ! grep -q '^case ' "$out/guest-compare-devdax-$case/nc.txt" 2>/dev/null; then
		cat "$out/devdax-$case.vm.log" >&2
		die "device-dax, $case: the boot $how before the scenario ran"
	fi
	echo "$how" >"$out/guest-compare-devdax-$case/boot-end.txt"
	echo "compare: device-dax, $case: the boot $how (see the report)"
done

"$phase" compare-report /usr/bin/python3 "$ROOT/scripts/compare-report.py" "$out"
cat "$out/report.md"
