#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# check-verdict.sh: the verdict of `make check` on build/debug/guest-check: every program of the
# list ran in each refmode's log (the second without those first_refmode_only names), the last
# boot steps ran, nothing skipped but what allowed_skips lists, and the guest is clean
# (scripts/check-results.py). scripts/mutants.sh holds its mutants to the same verdict.
set -euo pipefail
. "$(dirname "$0")/common.sh"

out=$ROOT/build/debug/guest-check
tests=$ROOT/tools/testing/selftests/rust_pgmap
list=$ROOT/build/kselftest/kselftest-list.txt
exec "$ROOT/scripts/check-results.py" --allowed-skips "$tests/allowed_skips" \
	--expect "$out/run-first.log=@$list" \
	--expect "$out/run-second.log=@$list" \
	--except "$out/run-second.log=@$tests/first_refmode_only" \
	--expect "$out/run-last.log=rust_pgmap:noregion.sh,rust_pgmap:leaked_dev_ref.sh" \
	"$out"
