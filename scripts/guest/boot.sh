#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# In the guest: boot.sh OUTDIR MODE runs MODE.sh, then saves dmesg and a kmemleak scan.
out=$1
mode=$2
. "$out/env.sh"
export OUT="$out"
mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug

"$ROOT/scripts/guest/$mode.sh" 2>&1 | tee "$out/$mode.log"
echo "${PIPESTATUS[0]}" >"$out/exit"

# What leaked since the guest script's own scans, if it made any.
. "$ROOT/scripts/guest/kmemleak.sh"
kmemleak_scan "$out/kmemleak.txt"
dmesg >"$out/dmesg.txt"
touch "$out/done"
