# SPDX-License-Identifier: GPL-2.0
#
# rust_pgmap. The module itself is built by Kbuild (see Kbuild); this file drives everything
# around it. Every target installs and builds what it needs first.
#
#   make run     build the release kernel and module, boot, run the demo
#   make check   lint, build the debug kernel and module, boot, run every selftest in each refmode
#   make check-rt make check's guest run on the debug kernel built with PREEMPT_RT (not in CI:
#                a third kernel does not fit its time; see Documentation/testing.rst)
#   make compare device-dax against rust_pgmap: the DAX-gup mistake and the price of the fix
#   make lint    rustfmt and clippy (CLIPPY=1 W=1), no warnings allowed; the verdict's own tests
#   make shell   an interactive guest with the module available
#   make clean   remove build/ (the kernel cache stays; see README)

PHASE := scripts/phase.sh

.PHONY: run check check-rt compare lint shell clean setup kernel-% module-% selftests

setup:
	@$(PHASE) setup scripts/setup-toolchain.sh
	@scripts/versions.sh

kernel-%: setup
	@$(PHASE) kernel-$* scripts/kernel.sh build $*

module-%: kernel-%
	@$(PHASE) module-$* scripts/module.sh $*

selftests: setup
	@$(PHASE) selftests scripts/selftests.sh

run: module-release selftests
	@$(PHASE) guest scripts/vm.sh release demo
	@cat build/release/guest-demo/demo.log
	@echo "--- module log:"
	@grep -E 'rust_pgmap(_consumer)?:' build/release/guest-demo/dmesg.txt
	@test "$$(cat build/release/guest-demo/exit)" = 0

lint: kernel-debug
	@$(PHASE) rustfmt sh -c '/usr/bin/rustfmt --check --edition 2021 \
		--config-path "$$(bash -c ". scripts/common.sh; kernel_src_dir")/.rustfmt.toml" \
		rust/*.rs rust/*/*.rs samples/kernel/*.rs'
	@$(PHASE) clippy scripts/module.sh debug lint
	@$(PHASE) verdict-selftest scripts/check-results-test.py

check: lint module-debug selftests
	@rm -rf build/debug/guest-check
	@$(PHASE) guest-check scripts/vm.sh debug check || \
		echo "check: the guest did not finish; the verdict follows"
	@scripts/check-verdict.sh debug

check-rt: module-rt selftests
	@rm -rf build/rt/guest-check
	@$(PHASE) guest-check-rt scripts/vm.sh rt check || \
		echo "check-rt: the guest did not finish; the verdict follows"
	@scripts/check-verdict.sh rt

compare: module-compare
	@$(PHASE) compare scripts/compare.sh

shell: module-release selftests
	@scripts/vm.sh release shell

clean:
	rm -rf build
