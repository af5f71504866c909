# SPDX-License-Identifier: GPL-2.0
# Sourced by the guest scripts.

# kmemleak_scan FILE: reports the leaks not reported yet into FILE. On 6.12 an object's first
# scan only records its checksum, so a leak shows on the second scan; `clear` then keeps the
# next report from repeating this one. Each scan costs seconds under TCG. On the debug kernel,
# a kmemleak that cannot scan (it disables itself on an internal error) is reported in FILE too,
# which the host counts as a failure: a scan that did not run must not read as "no leaks".
kmemleak_scan() {
	local ctl=/sys/kernel/debug/kmemleak

	if [ ! -w "$ctl" ]; then
		[ "$FLAVOR" != debug ] || echo "kmemleak: $ctl is missing: no scan" >"$1"
		return 0
	fi
	if ! { echo scan >"$ctl" && echo scan >"$ctl" && cat "$ctl" >"$1"; }; then
		echo "kmemleak: the scan failed: kmemleak is disabled" >>"$1"
		return 0
	fi
	echo clear >"$ctl"
}
