#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Installs what building and booting rust_pgmap needs, and skips what is
# already there. Safe to run again; every make target calls it.
set -euo pipefail

BINDGEN_VERSION=0.73.2
VNG_VERSION=1.42

apt_packages=(
	rustc-web rust-web-src rust-web-clippy rustfmt-web
	linux-source-6.12
	clang lld llvm libclang-dev
	bc bison flex libelf-dev libssl-dev cpio kmod make gcc
	qemu-system-x86
	rsync gcc-multilib
	ndctl daxctl python3-matplotlib
	fio rdma-core ibverbs-utils ibverbs-providers libibverbs-dev perftest iproute2
)

missing=()
for pkg in "${apt_packages[@]}"; do
	[ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" = "install ok installed" ] ||
		missing+=("$pkg")
done
if ((${#missing[@]})); then
	echo "setup: installing ${missing[*]}"
	sudo_cmd=()
	[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
	"${sudo_cmd[@]}" apt-get update -qq
	DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" >/dev/null
fi

cargo_bin=${CARGO_HOME:-$HOME/.cargo}/bin
bindgen_version=$("$cargo_bin/bindgen" --version 2>/dev/null || true)
if [ "$bindgen_version" != "bindgen $BINDGEN_VERSION" ]; then
	echo "setup: installing bindgen-cli $BINDGEN_VERSION"
	cargo install --locked --quiet --version "$BINDGEN_VERSION" bindgen-cli
fi

# Read whole outputs first: with pipefail, grep -q closing the pipe early fails the check.
vng_info=$(python3 -m pip show virtme-ng 2>/dev/null || true)
if ! grep -q "^Version: $VNG_VERSION\$" <<<"$vng_info"; then
	echo "setup: installing virtme-ng $VNG_VERSION"
	python3 -m pip install --quiet --disable-pip-version-check "virtme-ng==$VNG_VERSION"
fi
