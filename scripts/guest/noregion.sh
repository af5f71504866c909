#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# In the guest, booted without memmap=: the module must refuse to load. noregion.sh is installed
# but not in the default list, so this runs it with the kernel runner's run_many directly, as
# run_kselftest.sh does.
cd "$KSELFTEST/rust_pgmap" || exit 1
BASE_DIR=$KSELFTEST
# shellcheck source=/dev/null
. "$KSELFTEST/kselftest/runner.sh"
run_many ./noregion.sh
