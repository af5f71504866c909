#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# In the guest: load the module, show the device and region, run the lifecycle demo, then the
# API demo with the sample consumer driver, unload.
set -e
insmod "$MODULE"
echo "device: $(ls -l /dev/rust_pgmap)"
echo "region: $(grep -B1 rust_pgmap /proc/iomem | tr -s ' \n' ' ')"
echo "status: $(tr '\n' ' ' </sys/class/misc/rust_pgmap/status)"
"$SAMPLES/pgmap_demo"

echo "--- a driver holding folios through the API (samples/kernel/rust_pgmap_consumer.c):"
insmod "$CONSUMER_MODULE" nr=64 offset=1024
sleep 0.2
echo "outstanding: $(sed -n '2p;$p' /sys/kernel/debug/rust_pgmap/outstanding | tr '\n' ';')"
"$SAMPLES/consumer_demo"
rmmod rust_pgmap_consumer
rmmod rust_pgmap
echo "unloaded: $(lsmod | grep -c rust_pgmap || true) rust_pgmap modules left"
