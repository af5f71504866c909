#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# In the guest, booted with memmap=: every selftest. The C tests need the module loaded;
# module_lifecycle.sh loads and unloads it itself.
. "$ROOT/scripts/guest/suite.sh"
T=$ROOT/tools/testing/selftests/rust_pgmap
with_module() {
	echo "insmod \"$MODULE\" && { $*; rc=\$?; rmmod rust_pgmap || rc=1; exit \$rc; }"
}

run_suite \
	"module_lifecycle:$T/module_lifecycle.sh" \
	"pgmap_test:$(with_module "$SELFTESTS/pgmap_test")" \
	"gup_paths_test:$(with_module "$SELFTESTS/gup_paths_test")" \
	"badinput_test:$(with_module "$SELFTESTS/badinput_test")" \
	"fuzz_test:$(with_module "$SELFTESTS/fuzz_test")" \
	"stress_test:$(with_module "$SELFTESTS/stress_test")" \
	"rmmod_test:$SELFTESTS/rmmod_test"
