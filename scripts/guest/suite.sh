# SPDX-License-Identifier: GPL-2.0
# In the guest: runs test programs as one KTAP stream, each program's own KTAP nested (indented)
# under a top-level result line, as the kselftest runner does.

# run_suite NAME:COMMAND...
run_suite() {
	local i=0 entry name rc
	echo "TAP version 13"
	echo "1..$#"
	for entry in "$@"; do
		i=$((i + 1))
		name=${entry%%:*}
		echo "# selftests: rust_pgmap: $name"
		bash -c "${entry#*:}" 2>&1 | sed -u 's/^/  /'
		rc=${PIPESTATUS[0]}
		case $rc in
		0) echo "ok $i selftests: rust_pgmap: $name" ;;
		4) echo "ok $i selftests: rust_pgmap: $name # SKIP" ;;
		*) echo "not ok $i selftests: rust_pgmap: $name # exit=$rc" ;;
		esac
	done
}
