#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# In the guest: load the module, show the device and region, run the lifecycle demo, unload.
set -e
insmod "$MODULE"
echo "device: $(ls -l /dev/rust_pgmap)"
echo "region: $(grep -B1 rust_pgmap /proc/iomem | tr -s ' \n' ' ')"
echo "status: $(tr '\n' ' ' </sys/class/misc/rust_pgmap/status)"
"$SAMPLES/pgmap_demo"
rmmod rust_pgmap
echo "unloaded: $(lsmod | grep -c rust_pgmap || true) rust_pgmap modules left"
