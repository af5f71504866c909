#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# In the guest, booted with memmap=: every selftest.
. "$ROOT/scripts/guest/suite.sh"
T=$ROOT/tools/testing/selftests/rust_pgmap

run_suite \
	"module_lifecycle:$T/module_lifecycle.sh"
