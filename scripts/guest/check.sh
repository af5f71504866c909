#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# In the guest, booted with two memmap= regions: every selftest in kselftest-list.txt, with the
# kernel's kselftest runner and the module loaded. The tests that reload the module leave it
# loaded as they found it.
insmod "$MODULE" || exit 1
"$KSELFTEST/run_kselftest.sh"
rmmod rust_pgmap
