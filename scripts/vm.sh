#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# vm.sh FLAVOR MODE: boots the FLAVOR kernel with virtme-ng under TCG and runs
# scripts/guest/MODE.sh in it. The guest writes its output to build/FLAVOR/guest-MODE/, the
# serial console goes to console.log there. A guest that outlives $RUST_PGMAP_VM_TIMEOUT
# seconds is killed and reported with its last console lines.
#
# RUST_PGMAP_MEMMAP sets the regions, separated by spaces (default "512M!1G 2176M!4G": 512 MiB
# of emulated pmem at 1 GiB, which the module claims by default, and 2176 MiB at 4 GiB, over the
# 2 GiB at which a PIN of every page needs more than 4 MiB of page pointers). RUST_PGMAP_VM_MEMORY
# sets the guest memory (default 4608M: RAM at 0-2 GiB and 4-6.5 GiB on q35).
# RUST_PGMAP_VM_APPEND adds kernel parameters. RUST_PGMAP_CASE is passed to the guest script as
# $CASE, and names the output directory build/FLAVOR/guest-MODE-CASE. RUST_PGMAP_REFMODE (the
# refmode of the check boot's full run), COMPARE_RUNS and COMPARE_SWAP_REGIONS reach the guest.
#
# Exits 3 if the guest stopped before its command finished (a kernel panic, with virtme-ng's
# panic=-1), 4 if it did not finish in time, 1 on any other failure.
set -euo pipefail
. "$(dirname "$0")/common.sh"

flavor=${1:?usage: vm.sh FLAVOR MODE}
mode=${2:?usage: vm.sh FLAVOR MODE}
memmap=${RUST_PGMAP_MEMMAP:-512M!1G 2176M!4G}
memory=${RUST_PGMAP_VM_MEMORY:-4608M}
case=${RUST_PGMAP_CASE:-}
tag=$mode${case:+-$case}
kdir=$(bash "$ROOT/scripts/kernel.sh" dir "$flavor")
out=$ROOT/build/$flavor/guest-$tag
rm -rf "$out"
mkdir -p "$out"

# The guest's environment, as export lines that any value survives (quotes, spaces).
guest_env() {
	local mod=$ROOT/build/$flavor/module var
	local KSRC FLAVOR=$flavor MODULE=$mod/rust_pgmap.ko KSELFTEST=$ROOT/build/kselftest
	local CONSUMER_MODULE=$mod/samples/kernel/rust_pgmap_consumer.ko
	local CONSUMER_RS_MODULE=$mod/samples/kernel/rust_pgmap_consumer_rs.ko
	local TEST_HOLDER_MODULE=$mod/tools/testing/selftests/rust_pgmap/test_modules/rust_pgmap_test_holder.ko
	local SAMPLES=$ROOT/build/samples COMPARE_BIN=$ROOT/build/compare/bin MEMMAP=$memmap CASE=$case
	KSRC=$(kernel_src_dir)
	for var in ROOT KSRC FLAVOR MODULE CONSUMER_MODULE CONSUMER_RS_MODULE TEST_HOLDER_MODULE \
		KSELFTEST SAMPLES COMPARE_BIN MEMMAP ADHOC CASE RUST_PGMAP_REFMODE COMPARE_RUNS \
		COMPARE_SWAP_REGIONS; do
		printf 'export %s=%q\n' "$var" "${!var:-}"
	done
}
guest_env >"$out/env.sh"

# null_blk with a timer completion 1 s after submission: I/O is still in flight when a
# teardown starts, and the unpin comes from interrupt context.
# A log buffer large enough that a failing run keeps its first splat (the default is 128 KiB;
# a clean check boot fills half of it).
# no5lvl: TCG's "-cpu max" offers LA57, and on 6.12 identify_cpu() clears the boot CPU's
# capabilities while it re-reads them, so an interrupt in that window sees 4-level paging and
# KASAN reports its own direct-map address as a wild access ("BUG: KASAN: wild-memory-access
# in do_raw_spin_lock" from handle_edge_irq, once in a CI boot). Upstream later stopped the clearing
# ("x86/cpu: Allow caps to be set arbitrarily early"); 4-level paging avoids the window.
append="log_buf_len=2M no5lvl"
append="$append null_blk.nr_devices=1 null_blk.memory_backed=1 null_blk.irqmode=2"
append="$append null_blk.completion_nsec=1000000000 null_blk.bs=4096 null_blk.gb=1"
# One 64 MiB brd ramdisk, /dev/ram0: a block device that completes at once, for fio's runs.
append="$append brd.rd_nr=1 brd.rd_size=65536"
for range in $memmap; do
	append="$append memmap=$range"
done
append="$append ${RUST_PGMAP_VM_APPEND:-}"
vng_args=(--run "$kdir/arch/x86/boot/bzImage" --disable-kvm --cpus 2 --memory "$memory"
	--append "$append" --rwdir "$out" --cwd "$ROOT")

if [ "$mode" = shell ]; then
	echo "guest shell: the module is $ROOT/build/$flavor/module/rust_pgmap.ko (exit to quit)"
	exec vng "${vng_args[@]}"
fi

# The check boot runs the whole suite twice: 30 minutes; any other boot 15.
[ "$mode" = check ] && timeout=1800 || timeout=900
# PREEMPT_RT runs the suite about 1.6 times slower (check-rt: 970 s for the first refmode).
[ "$mode" = check ] && [ "$flavor" = rt ] && timeout=3600
timeout=${RUST_PGMAP_VM_TIMEOUT:-$timeout}
setsid timeout --kill-after=10 "$timeout" vng "${vng_args[@]}" --verbose \
	--exec "$ROOT/scripts/guest/boot.sh $out $mode" </dev/null >"$out/console.log" 2>&1 &
vm=$!
# The guest powers off through ACPI when its command is done. One that does not is stopped,
# and the run fails: every later boot would otherwise wait for the timeout.
while kill -0 "$vm" 2>/dev/null; do
	if [ -f "$out/done" ] && [ -z "${done_at:-}" ]; then
		done_at=$SECONDS
	fi
	if [ -n "${done_at:-}" ] && ((SECONDS - done_at > 30)); then
		kill -TERM -- -"$vm" 2>/dev/null
		echo "error: the guest finished but did not power off within 30 s" >&2
		exit 1
	fi
	sleep 1
done
rc=0
wait "$vm" || rc=$?
if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
	echo "error: the guest did not finish within $timeout s; last console lines:" >&2
	tail -n 50 "$out/console.log" >&2
	exit 4
fi
if [ ! -f "$out/done" ]; then
	echo "error: the guest stopped before its command finished (vng exit $rc); last console lines:" >&2
	tail -n 50 "$out/console.log" >&2
	exit 3
fi
