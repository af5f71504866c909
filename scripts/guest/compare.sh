#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# In the guest, on the compare kernel with two memmap= regions of the same size: device-dax on
# the first (the e820 pmem driver's namespace, reconfigured), rust_pgmap on the second (its
# namespace's region disabled, then claimed with region=1). Runs rust_pgmap's negative control
# and every benchmark, interleaved run by run across the targets so that a drift of the
# emulation hits them alike. Results go to $OUT as key=value lines for compare-report.py.
set -euo pipefail
. "$ROOT/scripts/guest/compare-lib.sh"

runs=${COMPARE_RUNS:-7}
# Fault-ins per run of the fault-in (and munmap) rows, alternating target by target: with 2 MiB
# folios one fault-in of 64 MiB is 32 faults, a few milliseconds, and the emulation's speed
# shifts by up to 2x from one stretch of a boot to the next: 8 in a row of one target and 8 of
# the other could each land in a different one.
faultins=${COMPARE_FAULTINS:-8}
echo "info kernel=$(uname -r) cpus=$(nproc) date=$(date -u +%Y-%m-%dT%H:%MZ)" >"$OUT/info.txt"
echo "info memmap=$(echo "$MEMMAP" | tr ' ' ',') runs=$runs faultins=$faultins" >>"$OUT/info.txt"

quiet_console
rxe_up
compare_regions
ndctl disable-region "$RUST_PGMAP_REGION" >/dev/null
insmod "$MODULE" region="$RUST_PGMAP_INDEX"
dax=$(devdax_create 4K)
echo "info devdax=$dax devdax_region=$DAX_REGION rust_pgmap_region=$RUST_PGMAP_REGION" \
	"rust_pgmap_bytes=$(($(rust_pgmap_pages) * 4096))" \
	"devdax_bytes=$(cat /sys/bus/dax/devices/"$dax"/size)" \
	"rust_pgmap_range=$(grep -m1 rust_pgmap /proc/iomem | tr -d ' ' | cut -d: -f1)" >>"$OUT/info.txt"
cat "$OUT/info.txt"

echo "--- negative control, rust_pgmap"
for holder in vmsplice odirect longterm rdma; do
	NEGATIVE_CONTROL_LOG=$OUT/nc-rust_pgmap-$holder.txt "$BIN/negative_control" "$holder" rust_pgmap
done

perf_rows() {
	local targets=("$@") run target i
	for ((run = 0; run < runs; run++)); do
		for ((i = 0; i < faultins; i++)); do
			for target in "${targets[@]}"; do
				"$BIN/pgmap_bench" faultin "$target" 64 1
			done
		done
		for target in "${targets[@]}"; do
			gup_bench PIN_FAST "$target"
			gup_bench GUP_FAST "$target"
			[ "$target" = anon ] || "$BIN/pgmap_bench" teardown "$target" 1
			[ "$target" = anon ] || "$BIN/pgmap_bench" teardown "$target" 1 0
		done
	done
}

echo "--- benchmarks: anonymous memory, rust_pgmap, device-dax (4K)"
perf_rows anon rust_pgmap "$dax" | sed "s/target=$dax/target=devdax-4K/" | tee "$OUT/perf.txt"

# Clients that no one here wrote: fewer runs, each takes seconds.
echo "--- clients: fio and perftest on anonymous memory, rust_pgmap, device-dax (4K)"
for ((run = 0; run < ${COMPARE_CLIENT_RUNS:-3}; run++)); do
	for target in anon rust_pgmap "$dax"; do
		client_rows "$target"
	done
done | sed "s/target=$dax/target=devdax-4K/" | tee -a "$OUT/perf.txt"

echo "--- benchmarks: device-dax (2M) and rust_pgmap (folio_size=2M)"
dax=$(devdax_create 2M)
rmmod rust_pgmap
insmod "$MODULE" region="$RUST_PGMAP_INDEX" folio_size=2M
echo "--- negative control, rust_pgmap with 2 MiB folios"
for holder in vmsplice odirect longterm rdma; do
	NEGATIVE_CONTROL_LOG=$OUT/nc-rust_pgmap-2M-$holder.txt "$BIN/negative_control" "$holder" \
		rust_pgmap
done
perf_rows "$dax" rust_pgmap |
	sed -e "s/target=$dax/target=devdax-2M/" -e "s/target=rust_pgmap /target=rust_pgmap-2M /" |
	tee -a "$OUT/perf.txt"
rmmod rust_pgmap
