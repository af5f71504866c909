# SPDX-License-Identifier: GPL-2.0
# Shared by the shell selftests: KTAP helpers from the kselftest install beside this directory
# (or the kernel tree, when run from the source), and the module under test.
# shellcheck source=/dev/null
if [ -f "$(dirname "${BASH_SOURCE[0]}")/../kselftest/ktap_helpers.sh" ]; then
	. "$(dirname "${BASH_SOURCE[0]}")/../kselftest/ktap_helpers.sh"
else
	. "$KSRC/tools/testing/selftests/kselftest/ktap_helpers.sh"
fi

STATUS=/sys/class/misc/rust_pgmap/status
# The refmode that the suite runs in (RUST_PGMAP_REFMODE, folio by default): every load of the
# module goes through load_rust_pgmap, so that a test that reloads it keeps the mode.
REFMODE=${RUST_PGMAP_REFMODE:-folio}

load_rust_pgmap() {
	insmod "$MODULE" refmode="$REFMODE" "$@"
}

# For the tests that reload the module with parameters of their own: unload_for_reload unloads
# it if it is loaded, and restore_module loads it back if it was.
unload_for_reload() {
	RUST_PGMAP_WAS_LOADED=$(lsmod | grep -c '^rust_pgmap ')
	[ "$RUST_PGMAP_WAS_LOADED" = 0 ] || rmmod rust_pgmap
}
restore_module() {
	[ "${RUST_PGMAP_WAS_LOADED:-0}" = 0 ] || load_rust_pgmap
}

# with_folio_size SIZE PROGRAM...: runs PROGRAM with the module reloaded with folio_size=SIZE,
# then loads it back as it was; PROGRAM's exit code, or 1 if a load or unload failed.
with_folio_size() {
	local size=$1 rc=0
	shift
	unload_for_reload || return 1
	if load_rust_pgmap folio_size="$size"; then
		"$@" || rc=$?
		rmmod rust_pgmap || rc=1
	else
		rc=1
	fi
	restore_module || rc=1
	return "$rc"
}

# load_refused PARAM REASON: with the module unloaded, a load with PARAM must fail and log a
# line that contains REASON. Returns 1, saying which, if it loaded or logged no such line.
load_refused() {
	dmesg_mark
	if load_rust_pgmap "$1" 2>/dev/null; then
		echo "# $1 was accepted"
		rmmod rust_pgmap
		return 1
	fi
	if ! dmesg_since_mark | grep -qF "$2"; then
		echo "# $1: no dmesg line says why it was refused ($2)"
		return 1
	fi
}

# skip_without_pmd_mappings: first in the programs of 2 MiB folios. 6.12 has no
# CONFIG_TRANSPARENT_HUGEPAGE with PREEMPT_RT, and a module that cannot map a folio by PMD must
# refuse folio_size=2M with EINVAL and one line: then the program skips, having checked that.
skip_without_pmd_mappings() {
	local rc=0
	[ -d /sys/kernel/mm/transparent_hugepage ] && return 0
	unload_for_reload || exit 1
	load_refused folio_size=2M 'folio_size=2M: this kernel has no PMD mappings' || rc=1
	restore_module || rc=1
	[ "$rc" = 0 ] || exit "$rc"
	ktap_print_header
	ktap_skip_all "no CONFIG_TRANSPARENT_HUGEPAGE: folio_size=2M is refused with EINVAL"
	exit "$KSFT_SKIP"
}

# Converts a memmap size like 512M or 1G to bytes.
to_bytes() {
	local n=${1%[KMGkmg]}
	case $1 in
	*[Kk]) echo $((n << 10)) ;;
	*[Mm]) echo $((n << 20)) ;;
	*[Gg]) echo $((n << 30)) ;;
	*) echo "$n" ;;
	esac
}

# The dmesg lines logged since the mark, with the module prefix.
dmesg_mark() {
	DMESG_MARK=$(dmesg | wc -l)
}
dmesg_since_mark() {
	dmesg | tail -n +$((DMESG_MARK + 1)) | grep 'rust_pgmap:'
}

status_field() {
	awk -v k="$1" '$1 == k { print $2 }' "$STATUS"
}
