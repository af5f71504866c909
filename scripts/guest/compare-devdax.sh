#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# In the guest, on the compare kernel: the negative control on device-dax, for one holder
# ($CASE). This boot has oops=panic: the Oops that the release is expected to cause ends it,
# and the host reads the report from the console.
set -euo pipefail
. "$ROOT/scripts/guest/compare-lib.sh"

compare_regions
dax=$(devdax_create 4K)
echo "info devdax=$dax holder=$CASE" | tee "$OUT/info.txt"
NEGATIVE_CONTROL_LOG=$OUT/nc.txt "$BIN/negative_control" "$CASE" "$dax"
