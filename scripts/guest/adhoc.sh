#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# In the guest: runs the command in $ADHOC as a one-program suite, for working on one test:
#   ADHOC='insmod $MODULE; $KSELFTEST/rust_pgmap/pgmap_test -t map_write_read_back; rmmod rust_pgmap' \
#       scripts/vm.sh debug adhoc
. "$ROOT/scripts/guest/suite.sh"
# The suite's result is the command's exit code: stop at the first command that fails, or a
# later one that succeeds (the closing rmmod) would hide it.
run_suite "adhoc:set -e; $ADHOC"
