#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# fio, which no one here wrote, with its I/O buffers in a shared mapping of /dev/rust_pgmap
# (iomem=mmapshared:/dev/rust_pgmap) and O_DIRECT to a brd ramdisk, in the suite's refmode: each
# engine writes and verifies; a TEARDOWN during a run fails the plain engine's I/O with EFAULT,
# and waits for io_uring's registered buffers (a long-term pin) until fio lets them go; the data
# is intact after ATTACH. Needs fio (the setup script installs it) and /dev/ram0 (vm.sh sizes it).
. "$(dirname "$0")/lib.sh"

CTL=$(dirname "$0")/rpg_ctl
BLK=/dev/ram0
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# Region pages that fio's buffers do not reach (they start at page 0): a pattern kept there
# across the teardown shows that the pgmap's memory kept its bytes.
PATTERN_FIRST=4096
PATTERN_PAGES=16
SEED=$((RANDOM << 15 | RANDOM))
# Each job's I/O: 128 blocks of 4 KiB. Under TCG with KASAN most of a run's time is fio's own
# start-up and its verification, not the device; more blocks buy no coverage.
SIZE=$((512 << 10))

ktap_print_header
ktap_set_plan 7
command -v fio >/dev/null || ktap_exit_fail_msg "fio is not installed"
[ -b "$BLK" ] || ktap_exit_fail_msg "$BLK: no such block device"
"$CTL" live >/dev/null || ktap_exit_fail_msg "the pgmap cannot be made live"

ctl_field() {
	"$CTL" "$1" | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k { print $2 }'
}

# run_fio NAME OPTION...: fio on $BLK with its buffers in the device; JSON in $TMP/NAME.json.
run_fio() {
	local name=$1
	shift
	fio --name="$name" --filename="$BLK" --direct=1 --bs=4k --size="$SIZE" \
		--iomem=mmapshared:/dev/rust_pgmap --output-format=json \
		--output="$TMP/$name.json" "$@" >"$TMP/$name.out" 2>&1
}

# fio_result NAME FIELD: a field of the job's result: error, read_bytes, write_bytes. The JSON
# is read once per run (python3 takes seconds to start under TCG and KASAN).
fio_result() {
	[ -e "$TMP/$1.result" ] || python3 -c '
import json, sys
job = json.load(open(sys.argv[1]))["jobs"][0]
print("error", job["error"])
print("read_bytes", job["read"]["io_bytes"])
print("write_bytes", job["write"]["io_bytes"])' "$TMP/$1.json" >"$TMP/$1.result" 2>/dev/null
	awk -v k="$2" '$1 == k { print $2 }' "$TMP/$1.result"
}

# One engine: $SIZE of random 4 KiB writes, each read back and checked (crc32c headers), all
# through the device's pages. The buffers must come from the pgmap, and go back to it.
engine_test() {
	local test=$1 before after
	shift
	before=$(ctl_field status requested)
	if ! run_fio "$test" --rw=randwrite --verify=crc32c --do_verify=1 "$@"; then
		ktap_print_msg "$test: fio failed: $(tail -n 3 "$TMP/$test.out")"
		ktap_test_fail "$test"
		return
	fi
	after=$(ctl_field status requested)
	ktap_print_msg "$test: error $(fio_result "$test" error)," \
		"wrote $(fio_result "$test" write_bytes) B, read back $(fio_result "$test" read_bytes) B;" \
		"device folios requested $((after - before))"
	if [ "$(fio_result "$test" error)" = 0 ] && [ "$(fio_result "$test" write_bytes)" = "$SIZE" ] &&
		[ "$(fio_result "$test" read_bytes)" = "$SIZE" ] && ((after > before)) &&
		[ "$(ctl_field status outstanding)" = 0 ]; then
		ktap_test_pass "$test"
	else
		ktap_test_fail "$test"
	fi
}

engine_test fio_psync_writes_and_verifies --ioengine=psync
engine_test fio_libaio_writes_and_verifies --ioengine=libaio --iodepth=8
engine_test fio_io_uring_writes_and_verifies --ioengine=io_uring --iodepth=8
engine_test fio_io_uring_fixedbufs_writes_and_verifies --ioengine=io_uring --iodepth=8 --fixedbufs

"$CTL" fill "$PATTERN_FIRST" "$PATTERN_PAGES" "$SEED" >/dev/null ||
	ktap_exit_fail_msg "cannot write the pattern"

# teardown_during NAME DELAY OPTION...: fio with OPTION in the background and, DELAY seconds
# after its buffers are mapped (the device has folios out), a TEARDOWN. Sets TD to the
# teardown's line, TD_MS to the time it took and FIO_RC to fio's exit code; fails if fio never
# mapped its buffers (20 s).
teardown_during() {
	local name=$1 delay=$2 pid i
	shift 2
	run_fio "$name" "$@" &
	pid=$!
	for ((i = 0; i < 200; i++)); do
		[ "$(ctl_field status outstanding)" != 0 ] && break
		sleep 0.1
	done
	if ((i == 200)); then
		kill "$pid"
		wait "$pid"
		ktap_print_msg "$name: fio never mapped its buffers: $(tail -n 3 "$TMP/$name.out")"
		return 1
	fi
	sleep "$delay"
	TD=$("$CTL" teardown)
	TD_MS=$(echo "$TD" | tr ' ' '\n' | awk -F= '$1 == "ms" { print $2 }')
	wait "$pid"
	FIO_RC=$?
	ktap_print_msg "$name: teardown $TD; fio exited $FIO_RC, error $(fio_result "$name" error)," \
		"read $(fio_result "$name" read_bytes) B"
}

# Reads through the mapping: a TEARDOWN zaps it, the next read's gup fails, fio stops with
# EFAULT, and nothing waits for fio.
test=teardown_fails_psync_reads_with_efault
if teardown_during "$test" 0 --rw=randread --ioengine=psync --time_based --runtime=30 &&
	[ "$FIO_RC" != 0 ] && [ "$(fio_result "$test" error)" = 14 ] &&
	[ "$(ctl_field status state)" = dead ]; then
	ktap_test_pass "$test"
else
	ktap_print_msg "$(tail -n 5 "$TMP/$test.out")"
	ktap_test_fail "$test"
fi
"$CTL" attach >/dev/null || ktap_exit_fail_msg "ATTACH failed"

# Registered buffers are pinned long-term (both refmodes allow it): the TEARDOWN waits until
# fio's run ends and its ring unregisters them, and every read of the run succeeds. The reads
# need no CPU access to the buffers, which the TEARDOWN's zap takes away. fio runs for 8 s and
# the TEARDOWN starts half a second after fio registered its buffers (which faults them in):
# it must wait for seconds, however slow the host.
test=teardown_waits_for_fixedbufs
if teardown_during "$test" 0.5 --rw=randread --ioengine=io_uring --iodepth=8 --fixedbufs \
	--time_based --runtime=8 &&
	[ "$FIO_RC" = 0 ] && [ "$(fio_result "$test" error)" = 0 ] &&
	[ "$(ctl_field status state)" = dead ] &&
	((${TD_MS:-0} >= 2000)); then
	ktap_test_pass "$test"
else
	ktap_print_msg "$(tail -n 5 "$TMP/$test.out")"
	ktap_test_fail "$test"
fi
"$CTL" attach >/dev/null || ktap_exit_fail_msg "ATTACH failed"

# After the two teardowns: the pattern is still in the region, and fio reads back and checks
# what the fixedbufs job wrote, through buffers of the new pgmap.
test=data_intact_after_attach
if "$CTL" verify "$PATTERN_FIRST" "$PATTERN_PAGES" "$SEED" >"$TMP/verify.out" &&
	run_fio fio_verify_only --rw=randwrite --verify=crc32c --verify_only --ioengine=psync &&
	[ "$(fio_result fio_verify_only error)" = 0 ] &&
	[ "$(fio_result fio_verify_only read_bytes)" = "$SIZE" ]; then
	ktap_test_pass "$test"
else
	ktap_print_msg "$test: pattern $(cat "$TMP/verify.out"); fio:" \
		"$(tail -n 3 "$TMP/fio_verify_only.out")"
	ktap_test_fail "$test"
fi

ktap_finished
