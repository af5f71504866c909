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
