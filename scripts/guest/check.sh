#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# In the guest, booted with two memmap= regions: every selftest of kselftest-list.txt with the
# kernel's kselftest runner, in each refmode ($RUST_PGMAP_REFMODE first, folio by default), the
# module loaded before and unloaded after; the second refmode leaves out the programs that
# first_refmode_only names. The runner logs are run-first.log and run-second.log, which the host
# holds against the list (scripts/check-results.py); kmemleak scans after the first unload, and
# boot.sh after the rest. Last, the tests that need the module unloaded or leave it loaded
# (run-last.log). Exits non-zero if a load or an unload failed. Prints each program's time.
. "$ROOT/scripts/guest/kmemleak.sh"

first=${RUST_PGMAP_REFMODE:-folio}
[ "$first" = folio ] && second=scan || second=folio
rc=0

cd "$KSELFTEST/rust_pgmap" || exit 1
BASE_DIR=$KSELFTEST
# shellcheck source=/dev/null
. "$KSELFTEST/kselftest/runner.sh"

# run_programs LOG PROGRAM...: each program with the runner, appending to LOG. The runner writes
# the programs' output to $logfile, /dev/stdout by default, opened anew: in a virtme-ng guest
# that is a symlink to virtme-ng's own output port, not to our stdout, so the programs' KTAP
# would go to the console. LOG is opened for appending by both, which keeps their order.
run_programs() {
	local log=$1 prog start
	local logfile=$log
	shift
	for prog in "$@"; do
		start=$EPOCHREALTIME
		run_many "./$prog" >>"$log" 2>&1
		echo "check: $RUST_PGMAP_REFMODE: $prog: $(awk -v a="$start" -v b="$EPOCHREALTIME" \
			'BEGIN { printf "%.1f", b - a }') s"
	done
}

mapfile -t all < <(cut -d: -f2 "$KSELFTEST/kselftest-list.txt")
mapfile -t once < <(grep -v '^#' "$ROOT/tools/testing/selftests/rust_pgmap/first_refmode_only" |
	cut -d' ' -f1)
mapfile -t rest < <(printf '%s\n' "${all[@]}" | grep -vxF -f <(printf '%s\n' "${once[@]}"))

for pass in first second; do
	start=$SECONDS
	if [ "$pass" = first ]; then
		mode=$first
		programs=("${all[@]}")
	else
		mode=$second
		programs=("${rest[@]}")
	fi
	export RUST_PGMAP_REFMODE=$mode
	log=$OUT/run-$pass.log
	echo "# refmode $mode" >"$log"
	if insmod "$MODULE" refmode="$mode"; then
		echo "kselftest: Running tests in rust_pgmap, refmode $mode" >/dev/kmsg
		run_programs "$log" "${programs[@]}"
		rmmod rust_pgmap || {
			echo "check: rmmod after refmode=$mode failed"
			rc=1
		}
	else
		echo "check: insmod refmode=$mode failed"
		rc=1
	fi
	[ "$pass" = first ] && kmemleak_scan "$OUT/kmemleak-$mode.txt"
	echo "check: refmode=$mode: $((SECONDS - start)) s"
done

# With the module unloaded: it refuses a region that does not exist. Then a leaked device
# reference leaves it loaded for the rest of the boot.
: >"$OUT/run-last.log"
run_programs "$OUT/run-last.log" noregion.sh leaked_dev_ref.sh
exit "$rc"
