#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The module must refuse a region that the kernel was not booted with, with ENODEV and a
# reason: the one past the last memmap= region (on a boot without memmap=, the first). Needs the
# module unloaded.
. "$(dirname "$0")/lib.sh"

missing=$(echo "$MEMMAP" | wc -w)

ktap_print_header
ktap_set_plan 2

dmesg_mark
err=$(load_rust_pgmap region="$missing" 2>&1)
rc=$?
ktap_print_msg "insmod: $err"
if [ "$rc" != 0 ] && [[ $err == *"No such device"* ]]; then
	ktap_test_pass "insmod_noregion_enodev"
else
	ktap_test_fail "insmod_noregion_enodev"
fi
# The first load of an out-of-tree module also logs the taint; that is not our reason.
reason=$(dmesg_since_mark | grep -v "taints kernel")
ktap_print_msg "dmesg: $reason"
if [ "$(echo "$reason" | wc -l)" = 1 ] && [[ $reason == *"region $missing: boot with memmap="* ]] &&
	[ ! -e /dev/rust_pgmap ]; then
	ktap_test_pass "insmod_noregion_logs_one_reason"
else
	ktap_test_fail "insmod_noregion_logs_one_reason"
fi

ktap_finished
