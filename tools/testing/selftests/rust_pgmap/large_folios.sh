#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# An unknown folio size is refused with EINVAL and one line; large_folio_test runs with the
# module reloaded with folio_size=2M, in the suite's refmode. Leaves the module loaded as it
# found it.
. "$(dirname "$0")/lib.sh"
skip_without_pmd_mappings

unload_for_reload || exit 1
rc=0
load_refused folio_size=3M 'folio_size="3M": not a folio size' || rc=1
restore_module || rc=1
with_folio_size 2M "$(dirname "$0")/large_folio_test" || rc=$?
exit "$rc"
