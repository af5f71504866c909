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
