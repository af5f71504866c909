#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# In the guest, booted without memmap=: the module must refuse to load.
. "$ROOT/scripts/guest/suite.sh"
T=$ROOT/tools/testing/selftests/rust_pgmap

run_suite "noregion:$T/noregion.sh"
