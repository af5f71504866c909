#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# kernel.sh dir FLAVOR    print the build directory of FLAVOR (release|debug)
# kernel.sh build FLAVOR  configure and build it unless the cached build is current
set -euo pipefail
. "$(dirname "$0")/common.sh"

cmd=${1:?usage: kernel.sh dir|build FLAVOR}
flavor=${2:?usage: kernel.sh dir|build FLAVOR}
[ -f "$ROOT/qemu/$flavor.config" ] || die "unknown flavor '$flavor' (no qemu/$flavor.config)"
src=$(kernel_src_dir)
out=$(kernel_build_dir "$flavor")

if [ "$cmd" = dir ]; then
	echo "$out"
	exit 0
fi
[ "$cmd" = build ] || die "unknown command '$cmd'"

if [ -f "$out/.rust_pgmap_built" ]; then
	echo "kernel: $flavor build is current: $out"
	exit 0
fi

if [ ! -f "$src/Makefile" ]; then
	[ -n "$KERNEL_TARBALL" ] || die "no /usr/src/linux-source-6.12.tar.* (run scripts/setup-toolchain.sh)"
	echo "kernel: unpacking $KERNEL_TARBALL"
	mkdir -p "$src.tmp"
	tar -xf "$KERNEL_TARBALL" -C "$src.tmp" --strip-components=1
	mv "$src.tmp" "$src"
fi

mkdir -p "$out"
mapfile -t fragments < <(flavor_fragments "$flavor")
echo "kernel: configuring $flavor in $out"
make -s -C "$src" O="$out" "${KMAKE_ARGS[@]}" allnoconfig >/dev/null
(cd "$src" && KCONFIG_CONFIG="$out/.config" ./scripts/kconfig/merge_config.sh -m -O "$out" \
	"$out/.config" "${fragments[@]}" >/dev/null)
make -s -C "$src" O="$out" "${KMAKE_ARGS[@]}" olddefconfig >/dev/null

# olddefconfig silently drops options whose dependencies are unmet. A later fragment's line for
# an option overrides an earlier one's.
bad=0
while IFS= read -r line; do
	case "$line" in
	CONFIG_*=*)
		grep -qxF -- "$line" "$out/.config" || {
			echo "kernel: $line asked for, .config has: $(grep -E "^(# )?${line%%=*}[= ]" "$out/.config" || echo unset)" >&2
			bad=1
		}
		;;
	"# CONFIG_"*" is not set")
		opt=${line#\# }
		opt=${opt%% *}
		! grep -q "^$opt=" "$out/.config" || {
			echo "kernel: $opt asked off, .config has: $(grep "^$opt=" "$out/.config")" >&2
			bad=1
		}
		;;
	esac
done < <(cat "${fragments[@]}" | sed -nE 's/^(# )?(CONFIG_[A-Z0-9_]+)[= ].*/\2 &/p' |
	awk '{ last[$1] = substr($0, length($1) + 2); order[$1] = NR }
	     END { for (o in last) print order[o], last[o] }' | sort -n | cut -d' ' -f2-)
[ "$bad" = 0 ] || die "the $flavor config lacks options the fragments ask for"

# How many objects a build of each flavor makes, as last measured: the progress lines' "about".
# (release: estimated, as the others grew by about 120 with soft-RoCE and its networking).
declare -A objects=([debug]=1640 [release]=1590 [compare]=1615 [rt]=1640)
echo "kernel: building $flavor ($(nproc) jobs): a progress line every 30 s"
make -s -C "$src" O="$out" "${KMAKE_ARGS[@]}" -j"$(($(nproc) + 1))" all &
build=$!
start=$SECONDS
next=30
while kill -0 "$build" 2>/dev/null; do
	sleep 2
	if ((SECONDS - start >= next)); then
		next=$((next + 30))
		echo "kernel: $flavor: $(find "$out" -name '*.o' | wc -l) of about" \
			"${objects[$flavor]:-?} objects, $((SECONDS - start)) s"
	fi
done
wait "$build"
touch "$out/.rust_pgmap_built"
echo "kernel: built $out/arch/x86/boot/bzImage"
