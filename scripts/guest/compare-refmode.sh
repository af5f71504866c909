#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# In the guest, on the compare kernel with a 512 MiB and a 2176 MiB memmap= region, both handed
# to rust_pgmap (their nd regions disabled): the two refmodes side by side, with 4 KiB and with
# 2 MiB folios, the module reloaded for each, alternating run by run. Results go to
# $OUT/refmode.txt for compare-report.py.
set -euo pipefail
. "$ROOT/scripts/guest/compare-lib.sh"

runs=${COMPARE_RUNS:-7}
bench=/sys/kernel/debug/rust_pgmap_bench/request_release
quiet_console
for region in /sys/bus/nd/devices/region*; do
	ndctl disable-region "${region##*/}" >/dev/null
done

# tag MODE MIB FOLIO: marks each result line with the refmode, region size and folio size.
tag() {
	sed -u "s/\$/ mode=$1 region_mib=$2 folio=$3/"
}

# one_run MODE FOLIO_SIZE. A batch of 512 folios is 1 GiB with 2 MiB folios: those take 128.
one_run() {
	local mode=$1 folio=$2 mib batch=512
	[ "$folio" = 4K ] || batch=128
	insmod "$MODULE" refmode="$mode" region=0 folio_size="$folio"
	mib=$(($(rust_pgmap_pages) / 256))
	{
		for nr in 1 $batch; do
			echo "$nr 1000000" >"$bench"
			cat "$bench"
		done
		"$BIN/pgmap_bench" faultin rust_pgmap 64 1
		gup_bench PIN_FAST rust_pgmap
		gup_bench GUP_FAST rust_pgmap
		"$BIN/pgmap_bench" teardown rust_pgmap 1 0
		"$BIN/pgmap_bench" teardown rust_pgmap 1
		"$BIN/pgmap_bench" teardown-pinned rust_pgmap 1
	} | tag "$mode" "$mib" "$folio"
	rmmod rust_pgmap
	insmod "$MODULE" refmode="$mode" region=1 folio_size="$folio"
	mib=$(($(rust_pgmap_pages) / 256))
	{
		"$BIN/pgmap_bench" teardown rust_pgmap 1 0
		"$BIN/pgmap_bench" teardown rust_pgmap 1
		"$BIN/pgmap_bench" teardown-pinned rust_pgmap 1
	} | tag "$mode" "$mib" "$folio"
	rmmod rust_pgmap
}

for ((run = 0; run < runs; run++)); do
	for folio in 4K 2M; do
		one_run folio "$folio"
		one_run scan "$folio"
	done
done | tee "$OUT/refmode.txt"
