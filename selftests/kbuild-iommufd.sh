#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build the module, with sparse and W=1, against a 6.12 tree configured with
# CONFIG_IOMMUFD_DRIVER, the only place the DMA-logging backend (log_ops in
# driver/dirty.c) is compiled: the lab's Debian kernel does not have it.
# The tree (Debian's linux-source-6.12 + the lab kernel's config + IOMMUFD)
# is prepared once in $IVF_CACHE. Exit 4 (skip) if the tools to prepare a
# kernel tree are missing; this script does not install them.
set -eo pipefail
cd "$(dirname "$0")/.."
. selftests/vm/common.sh
KVER=$(ivf_kver)
tree=$IVF_CACHE/kernel-iommufd
if [ ! -f "$tree/.ivf-prepared" ]; then
	for t in flex bison bc; do
		command -v $t >/dev/null || { echo "no $t: skip"; exit 4; }
	done
	for h in /usr/include/libelf.h /usr/include/openssl/ssl.h; do
		[ -f $h ] || { echo "no $h: skip"; exit 4; }
	done
	src=$(ls /usr/src/linux-source-6.12.tar.* 2>/dev/null | head -n1)
	[ -n "$src" ] || { echo "no linux-source-6.12: skip"; exit 4; }
	rm -rf "$tree"
	mkdir -p "$tree"
	tar -xf "$src" -C "$tree" --strip-components=1
	cp "$(ivf_kdir "$KVER")/.config" "$tree/.config"
	"$tree/scripts/config" --file "$tree/.config" -e IOMMUFD -e IOMMUFD_DRIVER \
		-e VFIO_DEVICE_CDEV
	make -s -C "$tree" olddefconfig
	grep -q '^CONFIG_IOMMUFD_DRIVER=y' "$tree/.config"
	make -s -C "$tree" -j"$(nproc)" modules_prepare
	touch "$tree/.ivf-prepared"
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
git ls-files -z Kbuild driver include | xargs -0 cp --parents -t "$out"
# No Module.symvers in a prepared-only tree: link errors are expected,
# compiler and sparse warnings are not.
log=$(make -C "$tree" M="$out" C=2 W=1 KBUILD_MODPOST_WARN=1 modules 2>&1) || true
echo "$log" | grep -E 'warning|error' | grep -v -E 'modpost|Module.symvers|undefined!|KBUILD_MODPOST_WARN|You may get' && exit 1
grep -q ivf_log_read_and_clear "$out/driver/dirty.o" 2>/dev/null ||
	nm "$out/driver/dirty.o" | grep -q ivf_log_read_and_clear
