#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The guest must run on at least two CPUs, or no race in this suite ever ran in parallel.
. "$(dirname "$0")/lib.sh"

ktap_print_header
ktap_set_plan 1

online=$(cat /sys/devices/system/cpu/online)
count=0
IFS=, read -ra ranges <<<"$online"
for r in "${ranges[@]}"; do
	if [[ $r == *-* ]]; then
		count=$((count + ${r#*-} - ${r%-*} + 1))
	else
		count=$((count + 1))
	fi
done
ktap_print_msg "online CPUs: $online ($count)"
if [ "$count" -ge 2 ]; then
	ktap_test_pass "guest_runs_on_at_least_two_cpus"
else
	ktap_test_fail "guest_runs_on_at_least_two_cpus"
fi

ktap_finished
