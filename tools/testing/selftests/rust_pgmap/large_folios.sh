#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# An unknown folio size is refused with EINVAL and one line; large_folio_test runs with the
# module reloaded with folio_size=2M, in the suite's refmode. Leaves the module loaded as it
# found it.
. "$(dirname "$0")/lib.sh"
skip_without_pmd_mappings

unload_for_reload || exit 1
rc=0
dmesg_mark
if load_rust_pgmap folio_size=3M 2>/dev/null; then
	echo "# folio_size=3M was accepted"
	rmmod rust_pgmap
	rc=1
elif ! dmesg_since_mark | grep -q 'folio_size="3M": not a folio size'; then
	echo "# folio_size=3M: no dmesg line says why it was refused"
	rc=1
fi
restore_module || rc=1
with_folio_size 2M "$(dirname "$0")/large_folio_test" || rc=$?
exit "$rc"
