#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# In the guest, on the compare kernel with a 512 MiB and a 2176 MiB memmap= region, both handed
# to rust_pgmap (their nd regions disabled): the two refmodes side by side, the module reloaded
# for each, alternating run by run. Results go to $OUT/refmode.txt for compare-report.py.
set -euo pipefail
. "$ROOT/scripts/guest/compare-lib.sh"

runs=${COMPARE_RUNS:-7}
bench=/sys/kernel/debug/rust_pgmap_bench/request_release
quiet_console
for region in /sys/bus/nd/devices/region*; do
	ndctl disable-region "${region##*/}" >/dev/null
done

# tag MODE MIB: marks each result line with the refmode and the region size.
tag() {
	sed -u "s/\$/ mode=$1 region_mib=$2/"
}

one_run() {
	local mode=$1 mib
	insmod "$MODULE" refmode="$mode" region=0
	mib=$(($(rust_pgmap_pages) / 256))
	{
		for nr in 1 512; do
			echo "$nr 1000000" >"$bench"
			cat "$bench"
		done
		"$BIN/pgmap_bench" faultin rust_pgmap 64 1
		gup_bench PIN_FAST rust_pgmap
		gup_bench GUP_FAST rust_pgmap
		"$BIN/pgmap_bench" teardown rust_pgmap 1 0
		"$BIN/pgmap_bench" teardown rust_pgmap 1
		"$BIN/pgmap_bench" teardown-pinned rust_pgmap 1
	} | tag "$mode" "$mib"
	rmmod rust_pgmap
	insmod "$MODULE" refmode="$mode" region=1
	mib=$(($(rust_pgmap_pages) / 256))
	{
		"$BIN/pgmap_bench" teardown rust_pgmap 1 0
		"$BIN/pgmap_bench" teardown rust_pgmap 1
		"$BIN/pgmap_bench" teardown-pinned rust_pgmap 1
	} | tag "$mode" "$mib"
	rmmod rust_pgmap
}

for ((run = 0; run < runs; run++)); do
	one_run folio
	one_run scan
done | tee "$OUT/refmode.txt"
