#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# longterm_test (the long-term pin matrix) with 2 MiB folios, in the suite's refmode.
. "$(dirname "$0")/lib.sh"

with_folio_size 2M "$(dirname "$0")/longterm_test"
