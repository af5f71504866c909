#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# phase.sh NAME CMD...: runs CMD and prints how long the phase took.
name=$1
shift
start=$EPOCHREALTIME
echo "==> $name"
"$@"
rc=$?
elapsed=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
if [ "$rc" = 0 ]; then
	echo "==> $name: ${elapsed} s"
else
	echo "==> $name: FAILED (exit $rc) after ${elapsed} s"
fi
exit "$rc"
