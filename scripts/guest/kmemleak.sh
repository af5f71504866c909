# SPDX-License-Identifier: GPL-2.0
# Sourced by the guest scripts.

# kmemleak_scan FILE: reports the leaks not reported yet into FILE. On 6.12 an object's first
# scan only records its checksum, so a leak shows on the second scan; `clear` then keeps the
# next report from repeating this one. Each scan costs seconds under TCG.
kmemleak_scan() {
	local ctl=/sys/kernel/debug/kmemleak

	[ -w "$ctl" ] || return 0
	echo scan >"$ctl"
	echo scan >"$ctl"
	cat "$ctl" >"$1"
	echo clear >"$ctl"
}
