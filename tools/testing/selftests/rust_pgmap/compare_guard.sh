#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The programs of `make compare` (compare/), run briefly on rust_pgmap only, so that they
# cannot rot between comparisons: each must run and print the lines that the report reads.
# Needs the module loaded and $COMPARE_BIN (build/compare/bin).
. "$(dirname "$0")/lib.sh"

bin=${COMPARE_BIN:-}
ktap_print_header
if [ ! -x "$bin/pgmap_bench" ] || [ ! -c /dev/rust_pgmap ]; then
	ktap_skip_all "no compare programs in '$bin', or the module is not loaded"
	exit "$KSFT_SKIP"
fi
ktap_set_plan 9

# check NAME PATTERN CMD...: passes when CMD exits 0 and prints every line of PATTERN (an
# extended regex per line of output that must match at least once).
check() {
	local name=$1 patterns=$2 output
	shift 2
	if ! output=$("$@" 2>&1); then
		echo "$output" | sed 's/^/# /'
		ktap_test_fail "$name: exited with an error"
		return
	fi
	while IFS= read -r pattern; do
		if ! echo "$output" | grep -Eq "$pattern"; then
			echo "$output" | sed 's/^/# /'
			ktap_test_fail "$name: no line matches '$pattern'"
			return
		fi
	done <<<"$patterns"
	ktap_test_pass "$name"
}

check compare_faultin_benchmark_runs \
	'^bench=faultin target=rust_pgmap run=1 pages=1024 faultin_ns=[1-9][0-9]* munmap_ns=[1-9]' \
	"$bin/pgmap_bench" faultin rust_pgmap 4 2
check compare_teardown_benchmark_runs \
	'^bench=teardown target=rust_pgmap run=0 .*teardown_ns=[1-9][0-9]* recreate_ns=[1-9][0-9]* memmap_bytes_per_gib=[1-9]' \
	"$bin/pgmap_bench" teardown rust_pgmap 1 8
check compare_gup_test_pin_fast_runs '^# PIN_FAST_BENCHMARK: Time: get:[0-9]+ put:[0-9]+ us' \
	"$bin/gup_test" -a -n 512 -m 4 -r 1 -S -f /dev/rust_pgmap
check compare_gup_test_gup_fast_runs '^# GUP_FAST_BENCHMARK: Time: get:[0-9]+ put:[0-9]+ us' \
	"$bin/gup_test" -u -n 512 -m 4 -r 1 -S -f /dev/rust_pgmap
for holder in vmsplice odirect; do
	check "compare_negative_control_${holder}_waits_and_ends_clean" \
		"$(printf '%s\n' '^before-release teardown=waiting' '^data bytes_wrong=0 intact=yes' \
			'^after-release teardown_ms=' '^result clean=yes')" \
		"$bin/negative_control" "$holder" rust_pgmap
done
# Both refmodes take FOLL_LONGTERM, and the teardown waits for it.
check compare_negative_control_longterm_waits_and_ends_clean \
	"$(printf '%s\n' '^before-release teardown=waiting' '^data bytes_wrong=0 intact=yes' \
		'^after-release teardown_ms=' '^result clean=yes')" \
	"$bin/negative_control" longterm rust_pgmap
# The RDMA holder needs a verbs device: soft-RoCE on a veth pair of its own, gone after.
ip link set lo up
ip link add cg_veth0 type veth peer name cg_veth1 && ip link set cg_veth0 up &&
	ip link set cg_veth1 up && rdma link add cg_rxe0 type rxe netdev cg_veth0
check compare_negative_control_rdma_waits_and_ends_clean \
	"$(printf '%s\n' '^hold rc=0' '^before-release teardown=waiting' '^release rc=0' \
		'^data unread=no_cpu_view' '^after-release teardown_ms=' '^result clean=yes')" \
	"$bin/negative_control" rdma rust_pgmap
rdma link delete cg_rxe0
ip link delete cg_veth0
bench=/sys/kernel/debug/rust_pgmap_bench/request_release
check compare_request_release_benchmark_runs \
	'^bench=request_release refmode=(folio|scan) nr=16 cycles=1008 request_release_ns_per_folio=[0-9]+\.[0-9]{2} get_put_ns_per_folio=[0-9]+\.[0-9]{2}$' \
	sh -c "echo '16 1000' >$bench && cat $bench"
ktap_finished
