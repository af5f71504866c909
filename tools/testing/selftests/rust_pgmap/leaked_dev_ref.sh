#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# A device reference that a module leaked keeps rust_pgmap loaded: rmmod fails at once, rather
# than hanging, or unloading the code that the pgmap's memmap calls into. The leak cannot be
# undone, so this runs last in a boot (scripts/guest/check.sh). Needs MODULE and
# TEST_HOLDER_MODULE.
. "$(dirname "$0")/lib.sh"

ktap_print_header
ktap_set_plan 2

lsmod | grep -q '^rust_pgmap ' || load_rust_pgmap || ktap_exit_fail_msg "cannot load rust_pgmap"
insmod "$TEST_HOLDER_MODULE" leak_dev=1 || ktap_exit_fail_msg "cannot load the test holder"
rmmod rust_pgmap_test_holder || ktap_exit_fail_msg "cannot unload the test holder"

out=$(rmmod rust_pgmap 2>&1)
rc=$?
refcnt=$(cat /sys/module/rust_pgmap/refcnt 2>/dev/null)
ktap_print_msg "rmmod rust_pgmap: exit $rc, '$out'; refcnt $refcnt"
if [ "$rc" != 0 ] && [ "$refcnt" = 1 ] && [ -e /dev/rust_pgmap ]; then
	ktap_test_pass "rmmod_is_refused_while_a_leaked_device_reference_is_out"
else
	ktap_test_fail "rmmod_is_refused_while_a_leaked_device_reference_is_out"
fi

state=$(status_field state)
ktap_print_msg "state $state"
if [ "$state" = live ]; then
	ktap_test_pass "the_pgmap_stays_usable_under_the_leaked_reference"
else
	ktap_test_fail "the_pgmap_stays_usable_under_the_leaked_reference"
fi

ktap_finished
