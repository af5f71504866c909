# SPDX-License-Identifier: GPL-2.0
# Sourced by the other scripts: where things live and how the kernel is built.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE_DIR=${RUST_PGMAP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rust_pgmap}
KERNEL_TARBALL=${KERNEL_TARBALL:-$(ls /usr/src/linux-source-6.12.tar.* 2>/dev/null | head -n 1)}
BINDGEN=${BINDGEN:-${CARGO_HOME:-$HOME/.cargo}/bin/bindgen}

# The distro Rust: rustup's rustc comes first in PATH and has no rust-src.
KMAKE_ARGS=(
	LLVM=1
	RUSTC=/usr/bin/rustc
	HOSTRUSTC=/usr/bin/rustc
	RUSTFMT=/usr/bin/rustfmt
	CLIPPY_DRIVER=/usr/bin/clippy-driver
	BINDGEN="$BINDGEN"
)

die() {
	echo "error: $*" >&2
	exit 1
}

# The source tree unpacked from the Debian tarball, keyed on its package version.
kernel_src_dir() {
	local ver
	ver=$(dpkg-query -W -f='${Version}' linux-source-6.12 2>/dev/null) ||
		die "linux-source-6.12 is not installed (run scripts/setup-toolchain.sh)"
	echo "$CACHE_DIR/src/linux-source-$ver"
}

# Everything a kernel build depends on besides the source: fragments and tools.
toolchain_versions() {
	/usr/bin/rustc --version
	"$BINDGEN" --version
	clang --version | head -n 1
	ld.lld --version | head -n 1
}

# The config fragments of a flavor, in the order they merge: base.config, then the flavor's.
# A flavor's first line may be "# on top of: OTHER", a flavor whose fragments come before it.
flavor_fragments() {
	local flavor=$1 base
	base=$(sed -n '1s/^# on top of: //p' "$ROOT/qemu/$flavor.config")
	if [ -n "$base" ]; then
		flavor_fragments "$base"
	else
		echo "$ROOT/qemu/base.config"
	fi
	echo "$ROOT/qemu/$flavor.config"
}

kernel_build_dir() {
	local flavor=$1 key
	key=$({
		kernel_src_dir
		toolchain_versions
		flavor_fragments "$flavor" | xargs cat
	} | sha256sum | cut -c1-16)
	echo "$CACHE_DIR/build/$flavor-$key"
}
