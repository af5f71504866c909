#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# RDMA over soft-RoCE, which no one here wrote, with its memory regions on device pages:
# perftest's ib_write_bw, ib_read_bw and ib_send_bw with --mmap=/dev/rust_pgmap, so that
# ibv_reg_mr() pins them (FOLL_LONGTERM), in the suite's refmode. Client and server share one
# rxe device on one end of a veth pair, talking to each other over its IPv6 link-local GID
# (rxe loops the packets back itself), and exchange their connection data over TCP on
# 127.0.0.1: nothing leaves the guest. A TEARDOWN while a region is registered waits until
# perftest deregisters it, naming the pinned pages; rmmod is refused until then. Both refmodes
# allow long-term pins (MEMORY_DEVICE_GENERIC), so the registration succeeds in each.
# Needs rdma-core, ibverbs-providers and perftest (the setup script installs them).
. "$(dirname "$0")/lib.sh"

CTL=$(dirname "$0")/rpg_ctl
RXE=rpg_rxe0
VETH=rpg_veth0
OUTSTANDING=/sys/kernel/debug/rust_pgmap/outstanding
TMP=$(mktemp -d)
# Region pages clear of both sides' buffers (page 0 and 64 MiB on): a pattern kept there across
# the teardown shows that the pgmap's memory kept its bytes.
PATTERN_FIRST=8192
PATTERN_PAGES=16
SEED=$((RANDOM << 15 | RANDOM))
PORT=18515

cleanup() {
	rdma link delete "$RXE" 2>/dev/null
	ip link delete "$VETH" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

ktap_print_header
ktap_set_plan 6
for tool in rdma ib_write_bw ib_read_bw ib_send_bw; do
	command -v "$tool" >/dev/null || ktap_exit_fail_msg "$tool is not installed"
done
ip link set lo up &&
	ip link add "$VETH" type veth peer name "${VETH%0}1" &&
	ip link set "$VETH" up && ip link set "${VETH%0}1" up &&
	rdma link add "$RXE" type rxe netdev "$VETH" ||
	ktap_exit_fail_msg "cannot set up soft-RoCE on a veth pair"
"$CTL" live >/dev/null || ktap_exit_fail_msg "the pgmap cannot be made live"

ctl_field() {
	"$CTL" "$1" | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k { print $2 }'
}

# start_perftest NAME TOOL OPTION...: a server and a client of TOOL on $RXE, each with its
# buffers in the device (the server's at page 0, the client's at 64 MiB); their output goes to
# $TMP/NAME.server and $TMP/NAME.client, their pids to SERVER and CLIENT. -e, where the verb
# has it (not WRITE): both sleep on completion events rather than poll, which under TCG would
# starve rxe's own kernel work of the guest's two CPUs. perftest turns cycles into seconds with
# a clock rate it fits by regression, and without -F exits with "Can't produce a report" when
# the fit misses r^2 >= 0.9, which TCG's cycle counter sometimes does (the bandwidth then
# reads 0): the tests check what moved, not how fast.
start_perftest() {
	local name=$1 tool=$2 i
	shift 2
	[ "$tool" = ib_write_bw ] || set -- -e "$@"
	PORT=$((PORT + 1))
	"$tool" -d "$RXE" -x 0 -p "$PORT" -F --mmap=/dev/rust_pgmap "$@" >"$TMP/$name.server" 2>&1 &
	SERVER=$!
	for ((i = 0; i < 100; i++)); do
		grep -q "Waiting for client" "$TMP/$name.server" && break
		sleep 0.1
	done
	"$tool" -d "$RXE" -x 0 -p "$PORT" -F --mmap=/dev/rust_pgmap --mmap-offset=$((64 << 20)) \
		"$@" 127.0.0.1 >"$TMP/$name.client" 2>&1 &
	CLIENT=$!
}

# wait_perftest: sets RES to both sides' exit codes, "0 0" when both succeeded. Not in a
# subshell: only this shell can wait for them.
wait_perftest() {
	local s c
	wait "$CLIENT"
	c=$?
	wait "$SERVER"
	s=$?
	RES="$s $c"
}

# result NAME: "ITERATIONS BW_AVERAGE" from the client's result line.
result() {
	awk '/#bytes/ { getline; print $2, $4; exit }' "$TMP/$1.client"
}

# Both sides' output, for a run that failed.
perftest_errors() {
	sed 's/^/server: /' "$TMP/$1.server"
	sed 's/^/client: /' "$TMP/$1.client"
}

# One tool: 100 exchanges of 64 KiB; the registrations fault in and pin device pages, and give
# them all back when perftest exits.
bw_test() {
	local test=$1 tool=$2 before after res
	before=$(ctl_field status requested)
	start_perftest "$test" "$tool" -n 100 -s 65536
	wait_perftest
	res=$RES
	after=$(ctl_field status requested)
	ktap_print_msg "$test: exit codes (server client) $res; iterations and average MB/s:" \
		"$(result "$test"); device folios requested $((after - before))"
	if [ "$res" = "0 0" ] && [ "$(result "$test" | cut -d' ' -f1)" = 100 ] &&
		((after > before)) && [ "$(ctl_field status outstanding)" = 0 ]; then
		ktap_test_pass "$test"
	else
		ktap_print_msg "server: $(tail -n 3 "$TMP/$test.server")"
		perftest_errors "$test" | sed 's/^/# /'
		ktap_test_fail "$test"
	fi
}

bw_test ib_write_bw_on_device_pages ib_write_bw
bw_test ib_read_bw_on_device_pages ib_read_bw
bw_test ib_send_bw_on_device_pages ib_send_bw

# wait_registered: until both sides' regions are registered, or 30 s: both faulted their pages
# in (64 folios in all), and then pinned them. The cheap STATUS is polled; the debugfs walk of
# every page is read once at the end, as it would starve rxe's packet processing under TCG.
wait_registered() {
	local i
	for ((i = 0; i < 300; i++)); do
		[ "$(ctl_field status outstanding)" -ge 64 ] && break
		sleep 0.1
	done
	sleep 0.5
	tail -n 1 "$OUTSTANDING" | grep -qE '\([1-9][0-9]* pinned'
}

"$CTL" fill "$PATTERN_FIRST" "$PATTERN_PAGES" "$SEED" >/dev/null ||
	ktap_exit_fail_msg "cannot write the pattern"

# A TEARDOWN with both regions registered: it waits, and outstanding names the pinned pages,
# until perftest's run ends and it deregisters them; the transfers go on meanwhile. 800 reads
# of 64 KiB take several seconds under TCG. Not perftest's duration mode (-D): its report
# needs a clock rate measured with r^2 >= 0.9, which TCG's cycle counter often misses.
test=teardown_waits_for_registered_regions
dmesg_mark
start_perftest "$test" ib_read_bw -n 800 -s 65536
if wait_registered; then
	"$CTL" teardown >"$TMP/teardown" 2>&1 &
	td=$!
	sleep 1
	summary=$(tail -n 1 "$OUTSTANDING")
	if kill -0 "$td" 2>/dev/null; then waited=yes; else waited=no; fi
	wait_perftest
	res=$RES
	wait "$td"
	td_rc=$?
	ktap_print_msg "$test: teardown still waiting 1 s in: $waited ($summary); perftest exit" \
		"codes $res, $(result "$test"); teardown exited $td_rc: $(cat "$TMP/teardown")"
	if [ "$waited" = yes ] && [ "$res" = "0 0" ] && [ "$td_rc" = 0 ] &&
		echo "$summary" | grep -qE '\([1-9][0-9]* pinned' &&
		dmesg_since_mark | grep -qE 'draining: .*[1-9][0-9]* pinned' &&
		[ "$(ctl_field status state)" = dead ]; then
		ktap_test_pass "$test"
	else
		perftest_errors "$test" | sed 's/^/# /'
		ktap_test_fail "$test"
	fi
else
	wait_perftest
	ktap_print_msg "$test: the regions were never registered: $(tail -n 3 "$TMP/$test.client")"
	ktap_test_fail "$test"
fi
"$CTL" attach >/dev/null || ktap_exit_fail_msg "ATTACH failed"
ktap_test_result "pattern_intact_after_attach" \
	"$CTL" verify "$PATTERN_FIRST" "$PATTERN_PAGES" "$SEED"

# rmmod in place of the TEARDOWN: the registered regions' mappings hold the device file, so the
# module stays, refused as in use, and perftest completes; once it exits, rmmod works. The
# module is loaded back as it was. As many reads as for the teardown: wait_registered() itself
# takes a second or two under TCG, and the run must outlast it.
test=rmmod_refused_while_registered
start_perftest "$test" ib_read_bw -n 800 -s 65536
if wait_registered; then
	rmmod rust_pgmap 2>"$TMP/rmmod"
	rmmod_rc=$?
	state=$(ctl_field status state)
	wait_perftest
	res=$RES
	ktap_print_msg "$test: rmmod exited $rmmod_rc ($(cat "$TMP/rmmod")), state then $state;" \
		"perftest exit codes $res"
	if [ "$rmmod_rc" != 0 ] && [ "$state" = live ] && [ "$res" = "0 0" ] &&
		unload_for_reload && restore_module; then
		ktap_test_pass "$test"
	else
		perftest_errors "$test" | sed 's/^/# /'
		ktap_test_fail "$test"
	fi
	# Loaded again however the test went: the suite's later programs need it.
	lsmod | grep -q '^rust_pgmap ' || load_rust_pgmap
else
	wait_perftest
	ktap_print_msg "$test: the regions were never registered: $(tail -n 3 "$TMP/$test.client")"
	ktap_test_fail "$test"
fi

ktap_finished
