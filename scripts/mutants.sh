#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# mutants.sh [NAME...]: shows that the checks of `make check` can fail. Each mutant is one
# small change to the module or a test-only setting, applied to a scratch copy of the tree in
# build/mutants/NAME, built, and booted with the programs that must catch it; the host's verdict
# (scripts/check-results.py) must then fail, saying what it must say. A mutant that passes is
# MISSED, and the script exits 1. Without names, it runs them all (tens of minutes under TCG).
# Needs a `make check` first: it reuses the kernel, and builds the module and selftests anew.
set -euo pipefail
. "$(dirname "$0")/common.sh"

# Each mutant sets: file, the file it changes ("-" for none) and subst, the change (a perl
# substitution over the whole file); refmode; command, what the guest runs: "check" boots
# scripts/guest/check.sh and holds it against the list as make check does, anything else runs as
# an adhoc suite (scripts/guest/adhoc.sh), with @MAIN@ naming this tree (for the programs that
# it built unchanged); append, kernel parameters to add; expect, an extended grep pattern that
# the failed verdict must match.

mutant_init_fails() {
	file=rust/rust_pgmap.rs
	subst='s/let index = ffi::region_param\(\);/let index = ffi::region_param() + 7;/'
	command=check
	expect='did not run'
}

mutant_leak() {
	file=rust/rust_pgmap.rs
	subst='s/(        api::publish\(device\);)/$1\n        let _ = KBox::into_raw(KBox::new([0u64; 16], GFP_KERNEL)?);/'
	# The adhoc wrapper loads and unloads the module: that is all this mutant needs.
	command=true
	expect='unreferenced object'
}

mutant_skip_sweep() {
	file=rust/pgmap/drain.rs
	subst='s/(        self\.wait_idle\(self\.mode == RefMode::Folio, interruptible, &mut log\)\?;)/        if self.mode == RefMode::Folio {\n    $1\n        }/'
	refmode=scan
	command='$KSELFTEST/rust_pgmap/pgmap_test -t release_in_hard_irq_wakes_the_drain; $KSELFTEST/rust_pgmap/stress_test'
	expect='the teardown did not wait|Oops|BUG:'
}

mutant_drop_sample_write() {
	file=samples/kernel/rust_pgmap_consumer_rs.rs
	subst='s/(        unsafe \{ api::fill\(hold, \|i, byte\| pattern\(OFFSET \+ i, byte\)\) \};)/        if OFFSET == 0 {\n    $1\n        }/'
	# The unchanged sample writes the pages first; the mutant then finds its pattern there.
	command='CONSUMER_RS_MODULE=@MAIN@/build/debug/module/samples/kernel/rust_pgmap_consumer_rs.ko $KSELFTEST/rust_pgmap/consumer_test -t the_rust_sample_is_revoked_and_its_data_survives; $KSELFTEST/rust_pgmap/consumer_test -t the_rust_sample_is_revoked_and_its_data_survives'
	expect='^#   .*the_rust_sample_is_revoked'
}

mutant_spurious_ebusy() {
	file=rust/pgmap/request.rs
	subst='s/if !self\.pgmap\.is_idle\(i, self\.page\(i\)\?\) \{/if !self.pgmap.is_idle(i, self.page(i)?) || i % 7 == 3 {/'
	command='$KSELFTEST/rust_pgmap/fuzz_test'
	expect='fuzz: op .*REQUEST.*busy'
}

mutant_act_before_result_check() {
	file=rust/test_device.rs
	subst='s/(    let buf = PinnedUserBuffer::pin_for_write\(arg, core::mem::size_of::<T>\(\)\)\?;\n)(.*?)(    let result = op\(\)\?;\n)/$3$1$2/s'
	command='$KSELFTEST/rust_pgmap/fuzz_test'
	expect='fuzz: op .*\((teardown|attach)\)'
}

mutant_region_ignored() {
	file=rust/rust_pgmap.rs
	subst='s/LegacyPmemRegion::claim\(c_str!\("rust_pgmap"\), index\)/LegacyPmemRegion::claim(c_str!("rust_pgmap"), index * 0)/'
	command='$KSELFTEST/rust_pgmap/bigpin_region1.sh'
	expect='claimed 131072 pages'
}

mutant_early_completion() {
	append=null_blk.completion_nsec=1000
	command='$KSELFTEST/rust_pgmap/gup_paths_test -t o_direct_write_in_flight_holds_teardown'
	expect='completed before the teardown'
}

mutant_no_holder_module() {
	command='env -u TEST_HOLDER_MODULE $KSELFTEST/rust_pgmap/revoke_test'
	expect='skipped \('
}

mutant_stress_time_bound() {
	command='RUST_PGMAP_STRESS_SECS=0 $KSELFTEST/rust_pgmap/stress_test'
	expect='too few to prove anything'
}

mutant_skip_fault_wait() {
	file=rust/device.rs
	subst='s/        if pgmap\.wait_for_faults\(\) \{\n            self\.mapping\.zap_all\(\);\n        \}\n//'
	command='rmmod rust_pgmap; insmod $MODULE folio_size=2M; $KSELFTEST/rust_pgmap/large_folio_test -t a_teardown_zaps_the_mapping_of_a_fault_in_flight; rmmod rust_pgmap; insmod $MODULE'
	expect='the teardown did not complete'
}

mutant_request_leaks_on_enomem() {
	file=rust/test_device.rs
	subst='s/(            \.try_create_and_insert\(req\.handle, hold\.clone\(\), GFP_KERNEL\)\n        \{\n)            let _ = hold\.release\(\);\n/$1/'
	# Only REQUEST: a later TEARDOWN would wait for the leaked folios for ever.
	command='RUST_PGMAP_FI_ONLY=ioctl_REQUEST $KSELFTEST/rust_pgmap/fault_inject_test'
	expect='ioctl_REQUEST: n=[0-9]+: the failed call left the device changed'
}
mutants=(init_fails leak skip_sweep drop_sample_write spurious_ebusy act_before_result_check
	region_ignored early_completion no_holder_module stress_time_bound skip_fault_wait
	request_leaks_on_enomem)

want=("$@")
for name in "${want[@]}"; do
	printf '%s\n' "${mutants[@]}" | grep -qxF "$name" || die "no mutant named $name"
done
missed=0
for name in "${mutants[@]}"; do
	file=- subst= refmode=folio command= append= expect=
	"mutant_$name"
	if ((${#want[@]})) && ! printf '%s\n' "${want[@]}" | grep -qxF "$name"; then
		continue
	fi
	tree=$ROOT/build/mutants/$name
	echo "==> mutant $name"
	rm -rf "$tree"
	mkdir -p "$tree"
	# The tree without its build output; the kernel cache is shared.
	git -C "$ROOT" ls-files -z --cached --others --exclude-standard |
		(cd "$ROOT" && xargs -0 cp --parents -t "$tree")
	if [ "$file" != - ]; then
		before=$(sha256sum "$tree/$file")
		perl -0pi -e "$subst" "$tree/$file"
		[ "$(sha256sum "$tree/$file")" != "$before" ] ||
			die "mutant $name: the change does not apply to $file any more"
	fi
	bash "$tree/scripts/module.sh" debug >/dev/null
	bash "$tree/scripts/selftests.sh" >/dev/null
	command=${command//@MAIN@/$ROOT}
	out=$tree/build/debug
	if [ "$command" = check ]; then
		RUST_PGMAP_REFMODE=$refmode RUST_PGMAP_VM_APPEND=$append \
			bash "$tree/scripts/vm.sh" debug check || true
		verdict=("$tree/scripts/check-verdict.sh")
	else
		# The refmode reaches the tests too, for the reloads they make.
		ADHOC="insmod \$MODULE refmode=$refmode; $command; rmmod rust_pgmap" \
			RUST_PGMAP_REFMODE=$refmode RUST_PGMAP_VM_APPEND=$append \
			bash "$tree/scripts/vm.sh" debug adhoc || true
		verdict=("$tree/scripts/check-results.py" "$out/guest-adhoc")
	fi
	if "${verdict[@]}" >"$tree/verdict.txt" 2>&1; then
		echo "MISSED: $name passed"
		missed=$((missed + 1))
	elif ! grep -qE -- "$expect" "$tree/verdict.txt"; then
		echo "MISSED: $name failed, but without '$expect' (see $tree/verdict.txt)"
		missed=$((missed + 1))
	else
		echo "caught: $name: $(grep -m1 -E -- "$expect" "$tree/verdict.txt")"
		tail -n 1 "$tree/verdict.txt"
	fi
done
[ "$missed" = 0 ]
