# SPDX-License-Identifier: GPL-2.0
# Sourced by the compare guest scripts: the libnvdimm regions and device-dax set-up.
BIN=$COMPARE_BIN

# The benchmark boots keep kernel messages off the console (they still reach dmesg): under TCG
# the serial console charges each line to whoever logs it, and rust_pgmap logs its kill, unmap
# and attach while device-dax's unbind and bind log nothing.
quiet_console() {
	dmesg -n 1
}

# The pages of the region that rust_pgmap claimed.
rust_pgmap_pages() {
	awk '$1 == "nr_pages" { print $2 }' /sys/class/misc/rust_pgmap/status
}

# Sets DAX_REGION and RUST_PGMAP_REGION: the nd regions of the first and second memmap= range,
# in address order, which is also the order of rust_pgmap's region= parameter (RUST_PGMAP_INDEX).
# With COMPARE_SWAP_REGIONS=1 the two swap places, to show that placement does not decide.
compare_regions() {
	local regions
	regions=$(for r in /sys/bus/nd/devices/region*; do
		echo "$(printf '%d' "$(cat "$r/resource")") ${r##*/}"
	done | sort -n | awk '{ print $2 }')
	DAX_REGION=$(echo "$regions" | sed -n 1p)
	RUST_PGMAP_REGION=$(echo "$regions" | sed -n 2p)
	RUST_PGMAP_INDEX=1
	if [ "${COMPARE_SWAP_REGIONS:-0}" = 1 ]; then
		DAX_REGION=$(echo "$regions" | sed -n 2p)
		RUST_PGMAP_REGION=$(echo "$regions" | sed -n 1p)
		RUST_PGMAP_INDEX=0
	fi
	[ -n "$DAX_REGION" ] && [ -n "$RUST_PGMAP_REGION" ] || {
		echo "compare: needs two legacy pmem regions, found: $regions" >&2
		return 1
	}
}

# Reconfigures $DAX_REGION's namespace as device-dax with its memmap in RAM (-M mem, as
# rust_pgmap's) and the given alignment; prints the character device's name.
devdax_create() {
	local align=$1 ns json
	ns=$(basename "$(ls -d /sys/bus/nd/devices/"$DAX_REGION"/namespace*.0)")
	json=$(ndctl create-namespace -f -e "$ns" -m devdax -M mem -a "$align")
	echo "$json" | grep -oE '"chardev" *: *"dax[0-9.]+"' | grep -oE 'dax[0-9.]+'
}

# One gup_test run of PIN_FAST or GUP_FAST on TARGET (anon, rust_pgmap or daxN.M), 64 MiB in
# calls of 512 pages, as one key=value line.
gup_bench() {
	local bench=$1 target=$2 flag args
	[ "$bench" = PIN_FAST ] && flag=-a || flag=-u
	case $target in
	anon) args=(-T) ;;
	rust_pgmap) args=(-S -f /dev/rust_pgmap) ;;
	*) args=(-S -f "/dev/$target") ;;
	esac
	"$BIN/gup_test" "$flag" -n 512 -m 64 -r 1 "${args[@]}" |
		sed -n "s/^# ${bench}_BENCHMARK: Time: get:\([0-9]*\) put:\([0-9]*\) us.*/bench=${bench,,} target=$target get_us=\1 put_us=\2/p"
}

# Soft-RoCE for the rdma holder: an rxe device on one end of a veth pair, inside the guest.
rxe_up() {
	ip link set lo up
	ip link add cmp_veth0 type veth peer name cmp_veth1
	ip link set cmp_veth0 up
	ip link set cmp_veth1 up
	rdma link add cmp_rxe0 type rxe netdev cmp_veth0
}

# fio_bench BENCH TARGET OPTION...: one fio run of 32 MiB O_DIRECT on /dev/ram0 with its buffers
# on TARGET (anon: anonymous shared memory; rust_pgmap or daxN.M: a shared mapping of the
# device), as one key=value line; nothing if fio failed.
fio_bench() {
	local bench=$1 target=$2 mem=mmapshared
	shift 2
	[ "$target" = anon ] || mem=mmapshared:/dev/$target
	fio --name="$bench" --filename=/dev/ram0 --direct=1 --bs=4k --size=32M --iomem="$mem" \
		--output-format=json "$@" 2>/dev/null |
		python3 -c '
import json, sys
job = json.load(sys.stdin)["jobs"][0]
ddir = "read" if job["read"]["io_bytes"] else "write"
if job["error"] == 0 and job[ddir]["io_bytes"] == 32 << 20:
    print("bench=%s target=%s kib_s=%d" % (sys.argv[1], sys.argv[2], job[ddir]["bw"]))' \
		"$bench" "$target"
}

# perftest_bench TARGET: ib_write_bw, 1000 exchanges of 64 KiB between a server and a client on
# cmp_rxe0 (rxe_up), both with their buffers on TARGET, as one key=value line. perftest turns
# cycles into seconds with a clock rate it fits by regression, and gives no report when the fit
# misses r^2 >= 0.9, which TCG's cycle counter sometimes does: up to three tries.
perftest_bench() {
	local target=$1 mmap=() server try line run
	[ "$target" = anon ] || mmap=(--mmap=/dev/"$target")
	for try in 1 2 3; do
		run=(timeout 120 ib_write_bw -d cmp_rxe0 -x 0 -p $((18600 + try)) -n 1000 -s 65536)
		"${run[@]}" "${mmap[@]}" >/dev/null 2>&1 &
		server=$!
		sleep 1
		line=$("${run[@]}" "${mmap[@]}" ${mmap[0]:+--mmap-offset=$((64 << 20))} 127.0.0.1 \
			2>/dev/null |
			awk -v t="$target" \
				'/#bytes/ { getline; print "bench=ib_write_bw target=" t " mb_s=" $4; exit }')
		wait "$server"
		[ -n "$line" ] && break
	done
	[ -n "$line" ] && echo "$line"
}

# client_rows TARGET: fio's engines and perftest with their buffers on TARGET.
client_rows() {
	local target=$1
	fio_bench fio_read_psync "$target" --rw=read --ioengine=psync
	fio_bench fio_write_psync "$target" --rw=write --ioengine=psync
	fio_bench fio_read_io_uring "$target" --rw=read --ioengine=io_uring --iodepth=8
	fio_bench fio_read_io_uring_fixedbufs "$target" --rw=read --ioengine=io_uring --iodepth=8 \
		--fixedbufs
	perftest_bench "$target"
}
