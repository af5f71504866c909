#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Prints the versions in use; a missing requirement stops the run, naming it.
set -uo pipefail
. "$(dirname "$0")/common.sh"

missing=0
need() {
	local what=$1
	shift
	local out
	if out=$("$@" 2>/dev/null | head -n 1) && [ -n "$out" ]; then
		printf '  %-8s %s\n' "$what" "$out"
	else
		echo "error: missing requirement: $what ($*)" >&2
		missing=1
	fi
}

echo "versions:"
need kernel bash -c ". '$ROOT/scripts/common.sh'; v=\$(dpkg-query -W -f='\${Version}' linux-source-6.12) && echo \"linux-source-6.12 \$v (\$(basename \"\$KERNEL_TARBALL\"))\""
need rustc /usr/bin/rustc --version
need rust-src bash -c "test -d /usr/lib/rustlib/src/rust/library && echo /usr/lib/rustlib/src/rust/library"
need bindgen "$BINDGEN" --version
need clang clang --version
need ld.lld ld.lld --version
need rustfmt /usr/bin/rustfmt --version
need clippy /usr/bin/clippy-driver --version
need qemu qemu-system-x86_64 --version
need vng vng --version
[ "$missing" = 0 ] || exit 1
