#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# selftests.sh: builds the selftests with the kernel tree's lib.mk into build/selftests and
# installs them, with the kernel's kselftest runner (run_kselftest.sh, kselftest/) and the list
# of tests that lib.mk emits, into build/kselftest; builds the samples into build/samples and
# the programs of `make compare` into build/compare/bin.
set -euo pipefail
. "$(dirname "$0")/common.sh"

ksrc=$(kernel_src_dir)
tests=$ROOT/tools/testing/selftests/rust_pgmap
install=$ROOT/build/kselftest
make_tests=(make -s -C "$tests" KSRC="$ksrc" OUTPUT="$ROOT/build/selftests")

# lib.mk does not create OUTPUT.
mkdir -p "$ROOT/build/selftests"
"${make_tests[@]}"
rm -rf "$install"
mkdir -p "$install"
"${make_tests[@]}" install INSTALL_PATH="$install/rust_pgmap"
"${make_tests[@]}" COLLECTION=rust_pgmap emit_tests >"$install/kselftest-list.txt"
cp -a "$ksrc/tools/testing/selftests/run_kselftest.sh" "$ksrc/tools/testing/selftests/kselftest" \
	"$install/"
make -s -C "$ROOT/samples" OUTPUT="$ROOT/build/samples"
make -s -C "$ROOT/compare" KSRC="$ksrc" OUTPUT="$ROOT/build/compare/bin"
echo "selftests: $(wc -l <"$install/kselftest-list.txt") in $install/kselftest-list.txt"
