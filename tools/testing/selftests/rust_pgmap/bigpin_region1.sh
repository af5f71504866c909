#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# bigpin_test on the second memmap= region (region=1), whose PIN of every page needs more than
# 4 MiB of page pointers. Reloads the module for it, and leaves it loaded as it found it.
. "$(dirname "$0")/lib.sh"

if ! grep -q "memmap=[^ ]* .*memmap=" /proc/cmdline; then
	echo "# no second memmap= region"
	exit "$KSFT_SKIP"
fi
unload_for_reload || exit 1
# The second region, as the kernel was booted with it.
second=$(echo "$MEMMAP" | cut -d' ' -f2)
want=$(($(to_bytes "${second%%!*}") / 4096))
rc=0
if load_rust_pgmap region=1; then
	pages=$(status_field nr_pages)
	if [ "$pages" = "$want" ]; then
		"$(dirname "$0")/bigpin_test" || rc=$?
	else
		echo "# region=1 claimed $pages pages, not the $want of the second region ($second)"
		rc=1
	fi
	rmmod rust_pgmap || rc=1
else
	rc=1
fi
restore_module || rc=1
exit "$rc"
