#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# In the guest, booted with two memmap= regions: every selftest in kselftest-list.txt, with the
# kernel's kselftest runner and the module loaded with refmode=$RUST_PGMAP_REFMODE (folio by
# default); then the programs that cover the lifecycle, the gup paths, long-term pins and the
# API once more in the other refmode. The tests that reload the module leave it loaded as they found it.
mode=${RUST_PGMAP_REFMODE:-folio}
[ "$mode" = folio ] && other=scan || other=folio

export RUST_PGMAP_REFMODE=$mode
insmod "$MODULE" refmode="$mode" || exit 1
"$KSELFTEST/run_kselftest.sh"
rmmod rust_pgmap

echo "# the same programs with refmode=$other: pgmap_test gup_paths_test consumer_test outstanding_test badinput_test longterm_test revoke_test"
export RUST_PGMAP_REFMODE=$other
insmod "$MODULE" refmode="$other" || exit 1
"$KSELFTEST/run_kselftest.sh" -t rust_pgmap:pgmap_test -t rust_pgmap:gup_paths_test \
	-t rust_pgmap:consumer_test -t rust_pgmap:outstanding_test -t rust_pgmap:badinput_test \
	-t rust_pgmap:longterm_test -t rust_pgmap:revoke_test
rmmod rust_pgmap

# Last: a leaked device reference leaves rust_pgmap loaded for the rest of the boot.
cd "$KSELFTEST/rust_pgmap" || exit 1
BASE_DIR=$KSELFTEST
# shellcheck source=/dev/null
. "$KSELFTEST/kselftest/runner.sh"
run_many ./leaked_dev_ref.sh
