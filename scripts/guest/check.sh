#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# In the guest, booted with two memmap= regions: every selftest. The C tests need the module
# loaded; module_lifecycle.sh and rmmod_test load and unload it themselves.
. "$ROOT/scripts/guest/suite.sh"
T=$ROOT/tools/testing/selftests/rust_pgmap
# with_module "INSMOD_ARGS" COMMAND: runs COMMAND with the module loaded, then unloads it.
with_module() {
	echo "insmod \"$MODULE\" $1 && { ${*:2}; rc=\$?; rmmod rust_pgmap || rc=1; exit \$rc; }"
}
# The second region, when the boot has one (exit 4 is a skip).
bigpin_region1="echo '# no second memmap= region'; exit 4"
[ "${MEMMAP#* }" = "$MEMMAP" ] || bigpin_region1=$(with_module "region=1" "$SELFTESTS/bigpin_test")

run_suite \
	"smp:$T/smp.sh" \
	"module_lifecycle:$T/module_lifecycle.sh" \
	"pgmap_test:$(with_module "" "$SELFTESTS/pgmap_test")" \
	"devnode_test:$(with_module "" "$SELFTESTS/devnode_test")" \
	"result_buffer_test:$(with_module "" "$SELFTESTS/result_buffer_test")" \
	"gup_paths_test:$(with_module "" "$SELFTESTS/gup_paths_test")" \
	"outstanding_test:$(with_module "" "$SELFTESTS/outstanding_test")" \
	"badinput_test:$(with_module "" "$SELFTESTS/badinput_test")" \
	"fuzz_test:$(with_module "" "$SELFTESTS/fuzz_test")" \
	"stress_test:$(with_module "" "$SELFTESTS/stress_test")" \
	"free_race_test:$(with_module "" "$SELFTESTS/free_race_test")" \
	"bigpin_test:$(with_module "" "$SELFTESTS/bigpin_test")" \
	"bigpin_test_region1:$bigpin_region1" \
	"rmmod_test:$SELFTESTS/rmmod_test"
