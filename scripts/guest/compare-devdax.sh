#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# In the guest, on the compare kernel: the negative control on device-dax, for one holder
# and alignment ($CASE: HOLDER-ALIGN, like longterm-2M). This boot has oops=panic: the Oops
# that the release is expected to cause ends it, and the host reads the report from the console.
set -euo pipefail
. "$ROOT/scripts/guest/compare-lib.sh"

holder=${CASE%-*}
align=${CASE##*-}
[ "$holder" != rdma ] || rxe_up
compare_regions
dax=$(devdax_create "$align")
echo "info devdax=$dax holder=$holder align=$align" | tee "$OUT/info.txt"
NEGATIVE_CONTROL_LOG=$OUT/nc.txt "$BIN/negative_control" "$holder" "$dax"
