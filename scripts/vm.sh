#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# vm.sh FLAVOR MODE [--no-memmap]: boots the FLAVOR kernel with virtme-ng under TCG and runs
# scripts/guest/MODE.sh in it. The guest writes its output to build/FLAVOR/guest-MODE/, the
# serial console goes to console.log there. A guest that outlives $RUST_PGMAP_VM_TIMEOUT
# seconds is killed and reported with its last console lines.
#
# RUST_PGMAP_MEMMAP sets the region (default 512M!1G: 512 MiB of emulated pmem at 1 GiB).
set -euo pipefail
. "$(dirname "$0")/common.sh"

flavor=${1:?usage: vm.sh FLAVOR MODE [--no-memmap]}
mode=${2:?usage: vm.sh FLAVOR MODE [--no-memmap]}
memmap=${RUST_PGMAP_MEMMAP:-512M!1G}
tag=$mode
if [ "${3:-}" = --no-memmap ]; then
	memmap=
	tag=$mode-nomemmap
fi
kdir=$(bash "$ROOT/scripts/kernel.sh" dir "$flavor")
out=$ROOT/build/$flavor/guest-$tag
rm -rf "$out"
mkdir -p "$out"

cat >"$out/env.sh" <<ENV
ROOT='$ROOT'
KSRC='$(kernel_src_dir)'
FLAVOR='$flavor'
MODULE='$ROOT/build/$flavor/module/rust_pgmap.ko'
SELFTESTS='$ROOT/build/selftests'
MEMMAP='$memmap'
ADHOC='${ADHOC:-}'
ENV

# null_blk with a timer completion 1 s after submission: I/O is still in flight when a
# teardown starts, and the unpin comes from interrupt context.
append="null_blk.nr_devices=1 null_blk.memory_backed=1 null_blk.irqmode=2"
append="$append null_blk.completion_nsec=1000000000 null_blk.bs=4096 null_blk.gb=1"
[ -z "$memmap" ] || append="$append memmap=$memmap"
vng_args=(--run "$kdir/arch/x86/boot/bzImage" --disable-kvm --cpus 2 --memory 2G
	--append "$append" --rwdir "$out" --cwd "$ROOT")

if [ "$mode" = shell ]; then
	echo "guest shell: the module is $ROOT/build/$flavor/module/rust_pgmap.ko (exit to quit)"
	exec vng "${vng_args[@]}"
fi

timeout=${RUST_PGMAP_VM_TIMEOUT:-900}
setsid timeout --kill-after=10 "$timeout" vng "${vng_args[@]}" --verbose \
	--exec "$ROOT/scripts/guest/boot.sh $out $mode" </dev/null >"$out/console.log" 2>&1 &
vm=$!
# Without ACPI power-off the guest halts instead of exiting QEMU: stop it once the guest
# command wrote its last file.
while kill -0 "$vm" 2>/dev/null; do
	if [ -f "$out/done" ]; then
		sleep 2
		kill -TERM -- -"$vm" 2>/dev/null
		break
	fi
	sleep 1
done
rc=0
wait "$vm" || rc=$?
if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
	echo "error: the guest did not finish within $timeout s; last console lines:" >&2
	tail -n 50 "$out/console.log" >&2
	exit 1
fi
if [ ! -f "$out/done" ]; then
	echo "error: the guest stopped before its command finished (vng exit $rc); last console lines:" >&2
	tail -n 50 "$out/console.log" >&2
	exit 1
fi
