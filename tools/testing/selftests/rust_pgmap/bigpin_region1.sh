#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# bigpin_test on the second memmap= region (region=1), whose PIN of every page needs more than
# 4 MiB of page pointers. Reloads the module for it, and leaves it loaded as it found it.
. "$(dirname "$0")/lib.sh"

if ! grep -q "memmap=[^ ]* .*memmap=" /proc/cmdline; then
	echo "# no second memmap= region"
	exit "$KSFT_SKIP"
fi
was_loaded=$(lsmod | grep -c '^rust_pgmap ')
[ "$was_loaded" = 0 ] || rmmod rust_pgmap || exit 1
rc=0
if load_rust_pgmap region=1; then
	"$(dirname "$0")/bigpin_test" || rc=$?
	rmmod rust_pgmap || rc=1
else
	rc=1
fi
[ "$was_loaded" = 0 ] || load_rust_pgmap || rc=1
exit "$rc"
