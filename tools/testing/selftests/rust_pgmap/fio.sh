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
	fio --name="$name" --filename="$BLK" --direct=1 --bs=4k --size=2M \
		--iomem=mmapshared:/dev/rust_pgmap --output-format=json \
		--output="$TMP/$name.json" "$@" >"$TMP/$name.out" 2>&1
}

# fio_result NAME FIELD: a field of the job's result: error, read_bytes, write_bytes.
fio_result() {
	python3 -c '
import json, sys
job = json.load(open(sys.argv[1]))["jobs"][0]
print({"error": job["error"], "read_bytes": job["read"]["io_bytes"],
       "write_bytes": job["write"]["io_bytes"]}[sys.argv[2]])' "$TMP/$1.json" "$2" 2>/dev/null
}

# One engine: 2 MiB of random 4 KiB writes, each read back and checked (crc32c headers), all
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
	ktap_print_msg "$test: error $(fio_result "$test" error), wrote $(fio_result "$test" write_bytes) B," \
		"read back $(fio_result "$test" read_bytes) B; device folios requested $((after - before))"
	if [ "$(fio_result "$test" error)" = 0 ] && [ "$(fio_result "$test" write_bytes)" = 2097152 ] &&
		[ "$(fio_result "$test" read_bytes)" = 2097152 ] && ((after > before)) &&
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

# wait_fio_started NAME: until fio's buffers are mapped (the device has folios out), or 20 s.
wait_fio_started() {
	local i
	for ((i = 0; i < 200; i++)); do
		[ "$(ctl_field status outstanding)" != 0 ] && return 0
		sleep 0.1
	done
	return 1
}

# Reads through the mapping: a TEARDOWN zaps it, the next read's gup fails, fio stops with
# EFAULT, and nothing waits for fio.
test=teardown_fails_psync_reads_with_efault
run_fio "$test" --rw=randread --ioengine=psync --time_based --runtime=30 &
fio_pid=$!
if wait_fio_started; then
	td=$("$CTL" teardown)
	wait "$fio_pid"
	fio_rc=$?
	ktap_print_msg "$test: teardown $td; fio exited $fio_rc, error $(fio_result "$test" error)"
	if [ "$fio_rc" != 0 ] && [ "$(fio_result "$test" error)" = 14 ] &&
		[ "$(ctl_field status state)" = dead ]; then
		ktap_test_pass "$test"
	else
		ktap_print_msg "$(tail -n 5 "$TMP/$test.out")"
		ktap_test_fail "$test"
	fi
else
	kill "$fio_pid"
	wait "$fio_pid"
	ktap_print_msg "$test: fio never mapped its buffers: $(tail -n 3 "$TMP/$test.out")"
	ktap_test_fail "$test"
fi
"$CTL" attach >/dev/null || ktap_exit_fail_msg "ATTACH failed"

# Registered buffers are pinned long-term (both refmodes allow it): the TEARDOWN waits until
# fio's run ends and its ring unregisters them, and every read of the run succeeds. The reads
# need no CPU access to the buffers, which the TEARDOWN's zap takes away. fio runs for 8 s and
# the TEARDOWN starts 1 s after fio mapped its buffers: it must wait several seconds.
test=teardown_waits_for_fixedbufs
run_fio "$test" --rw=randread --ioengine=io_uring --iodepth=8 --fixedbufs --time_based \
	--runtime=8 &
fio_pid=$!
if wait_fio_started; then
	sleep 1
	td=$("$CTL" teardown)
	wait "$fio_pid"
	fio_rc=$?
	td_ms=$(echo "$td" | tr ' ' '\n' | awk -F= '$1 == "ms" { print $2 }')
	ktap_print_msg "$test: teardown $td; fio exited $fio_rc, error $(fio_result "$test" error)," \
		"read $(fio_result "$test" read_bytes) B"
	if [ "$fio_rc" = 0 ] && [ "$(fio_result "$test" error)" = 0 ] &&
		[ "$(ctl_field status state)" = dead ] && ((td_ms >= 3000)); then
		ktap_test_pass "$test"
	else
		ktap_print_msg "$(tail -n 5 "$TMP/$test.out")"
		ktap_test_fail "$test"
	fi
else
	kill "$fio_pid"
	wait "$fio_pid"
	ktap_print_msg "$test: fio never mapped its buffers: $(tail -n 3 "$TMP/$test.out")"
	ktap_test_fail "$test"
fi
"$CTL" attach >/dev/null || ktap_exit_fail_msg "ATTACH failed"

# After the two teardowns: the pattern is still in the region, and fio reads back and checks
# what the fixedbufs job wrote, through buffers of the new pgmap.
test=data_intact_after_attach
if "$CTL" verify "$PATTERN_FIRST" "$PATTERN_PAGES" "$SEED" >"$TMP/verify.out" &&
	run_fio fio_verify_only --rw=randwrite --verify=crc32c --verify_only --ioengine=psync &&
	[ "$(fio_result fio_verify_only error)" = 0 ] &&
	[ "$(fio_result fio_verify_only read_bytes)" = 2097152 ]; then
	ktap_test_pass "$test"
else
	ktap_print_msg "$test: pattern $(cat "$TMP/verify.out"); fio:" \
		"$(tail -n 3 "$TMP/fio_verify_only.out")"
	ktap_test_fail "$test"
fi

ktap_finished
