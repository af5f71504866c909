#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# module.sh FLAVOR [lint]: builds rust_pgmap.ko against the FLAVOR kernel in build/FLAVOR/module
# (a copy of the sources, so that both flavors can coexist). With "lint", builds from scratch in
# build/lint with CLIPPY=1 W=1 and fails on any warning.
set -euo pipefail
. "$(dirname "$0")/common.sh"

flavor=${1:?usage: module.sh FLAVOR [lint]}
mode=${2:-build}
kdir=$(bash "$ROOT/scripts/kernel.sh" dir "$flavor")
[ -f "$kdir/.rust_pgmap_built" ] || die "the $flavor kernel is not built (scripts/kernel.sh build $flavor)"

if [ "$mode" = lint ]; then
	out=$ROOT/build/lint
	rm -rf "$out"
	extra=(CLIPPY=1 W=1)
else
	out=$ROOT/build/$flavor/module
	extra=(W=1)
fi
mkdir -p "$out"
# Keep mtimes, so that Kbuild rebuilds only what changed.
tests=tools/testing/selftests/rust_pgmap
mkdir -p "$out/samples" "$out/$tests"
cp -a --update "$ROOT/Kbuild" "$ROOT/rust" "$ROOT/include" "$out/"
cp -a --update "$ROOT/samples/kernel" "$out/samples/"
cp -a --update "$ROOT/$tests/test_modules" "$out/$tests/"

log=$out/build.log
if ! make -C "$kdir" M="$out" "${KMAKE_ARGS[@]}" "${extra[@]}" modules >"$log" 2>&1; then
	cat "$log"
	die "module build failed"
fi
if grep -E "warning:|error:" "$log"; then
	die "the module build has warnings (see $log)"
fi
echo "module: $out/rust_pgmap.ko"
