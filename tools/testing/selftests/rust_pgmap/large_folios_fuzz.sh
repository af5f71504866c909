#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# fuzz_test (the random walk over the ABI) with 2 MiB folios, in the suite's refmode.
. "$(dirname "$0")/lib.sh"
skip_without_pmd_mappings

with_folio_size 2M "$(dirname "$0")/fuzz_test"
