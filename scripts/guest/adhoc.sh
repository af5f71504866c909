#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# In the guest: runs the command in $ADHOC as a one-program suite, for working on one test:
#   ADHOC="$PWD/build/selftests/pgmap_test -t map_write_read_back" scripts/vm.sh debug adhoc
. "$ROOT/scripts/guest/suite.sh"
run_suite "adhoc:$ADHOC"
