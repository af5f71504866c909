#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Loading and unloading rust_pgmap over the memmap= region. Needs MODULE, MEMMAP and KSRC.
. "$(dirname "$0")/lib.sh"

# The module claims the first region by default.
first=${MEMMAP%% *}
size=$(to_bytes "${first%%!*}")
start=$(to_bytes "${first##*!}")
expect=$(printf 'registered /dev/rust_pgmap: pmem %#x-%#x, %d pages, refmode %s' \
	"$start" $((start + size - 1)) $((size / 4096)) "$REFMODE")

ktap_print_header
ktap_set_plan 7

# Starts from the module unloaded, and leaves it as it found it.
unload_for_reload || ktap_exit_fail_msg "cannot unload rust_pgmap"

dmesg_mark
if load_rust_pgmap && dmesg_since_mark | grep -qF "$expect"; then
	ktap_test_pass "insmod_registers_region"
else
	ktap_print_msg "expected '$expect', got: $(dmesg_since_mark)"
	ktap_test_fail "insmod_registers_region"
fi

mode=$(stat -c '%F %a' /dev/rust_pgmap 2>&1)
ktap_print_msg "/dev/rust_pgmap: $mode"
if [ "$mode" = "character special file 600" ]; then
	ktap_test_pass "device_node_mode_0600"
else
	ktap_test_fail "device_node_mode_0600"
fi

ktap_test_result "iomem_region_claimed" grep -q "rust_pgmap" /proc/iomem

state=$(status_field state)
pages=$(status_field nr_pages)
ktap_print_msg "status: state $state, nr_pages $pages"
if [ "$state" = live ] && [ "$pages" = $((size / 4096)) ]; then
	ktap_test_pass "status_file_reports_live_pgmap"
else
	ktap_test_fail "status_file_reports_live_pgmap"
fi

dmesg_mark
if rmmod rust_pgmap && [ ! -e /dev/rust_pgmap ] && ! grep -q rust_pgmap /proc/iomem &&
	dmesg_since_mark | grep -q "unmapped pfn"; then
	ktap_test_pass "rmmod_unloads_cleanly"
else
	ktap_print_msg "after rmmod: $(lsmod | grep rust_pgmap) $(dmesg_since_mark)"
	ktap_test_fail "rmmod_unloads_cleanly"
fi

# The region and the memmap are given back: a second load sees them again.
if load_rust_pgmap && [ "$(status_field state)" = live ] && rmmod rust_pgmap; then
	ktap_test_pass "insmod_after_rmmod_reclaims_region"
else
	ktap_test_fail "insmod_after_rmmod_reclaims_region"
fi

# An open file holds the module: rmmod says it is in use, and leaves it loaded.
load_rust_pgmap || ktap_exit_fail_msg "cannot load rust_pgmap again"
exec 3<>/dev/rust_pgmap || ktap_exit_fail_msg "cannot open /dev/rust_pgmap"
out=$(rmmod rust_pgmap 2>&1)
rc=$?
ktap_print_msg "rmmod with the device open: exit $rc, '$out'"
if [ "$rc" != 0 ] && [[ $out == *"is in use"* ]] && [ -e /dev/rust_pgmap ] &&
	[ "$(status_field state)" = live ]; then
	ktap_test_pass "rmmod_refused_while_open"
else
	ktap_test_fail "rmmod_refused_while_open"
fi
exec 3>&-
rmmod rust_pgmap || ktap_exit_fail_msg "cannot unload rust_pgmap after the file closed"
restore_module || ktap_exit_fail_msg "cannot reload rust_pgmap"

ktap_finished
