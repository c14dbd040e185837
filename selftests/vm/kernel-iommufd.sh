#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The lab's second guest kernel: Debian's linux-source-6.12 built with
# IOMMUFD, IOMMUFD_DRIVER (the real iova_bitmap), VFIO_DEVICE_CDEV and
# the sanitizers: lockdep, KASAN (generic) and kmemleak, and fault
# injection (failslab, fail_page_alloc); everything the lab
# needs built in (no modules but ours). Debian's
# kernels have none of the IOMMUFD options, so the driver's DMA-logging
# backend (log_ops) only runs on this kernel.
#
#   kernel-iommufd.sh         build it unless cached; print KVER/KTREE/KROOT
#   kernel-iommufd.sh --path  print them only if it is built (exit 4 if not)
#   kernel-iommufd.sh --tools install the build tools only (run.sh does it
#                             first: the build then runs in the background)
#
# Cached in $IVF_CACHE/kernel-iommufd-lab/<key>, key = hash of the options
# below, $rev and the source tarball's name: a change to either rebuilds.
# About 20 minutes on 2 cores, once. Exit 4 (skip) if the build tools
# cannot be installed.
set -euo pipefail
. "$(dirname "$0")/common.sh"

src=$(ls /usr/src/linux-source-6.12.tar.* 2>/dev/null | head -n1) || true
[ -n "$src" ] || { log "no /usr/src/linux-source-6.12.tar.*: run setup.sh"; exit 4; }
# y: what the lab and the tests use, as built-ins (guest.sh's modprobe
# finds them in modules.builtin).
on="PCI_IOV PCI_MSI NET_VENDOR_INTEL IGB IGBVF E1000E
    IOMMU_SUPPORT INTEL_IOMMU IRQ_REMAP X86_X2APIC
    IOMMUFD VFIO VFIO_GROUP VFIO_CONTAINER VFIO_IOMMU_TYPE1 VFIO_DEVICE_CDEV
    VFIO_PCI_CORE VFIO_PCI VFIO_PCI_MMAP VFIO_PCI_INTX
    VIRTIO VIRTIO_PCI NET_9P NET_9P_VIRTIO 9P_FS 9P_FS_POSIX_ACL NETFS_SUPPORT
    NAMESPACES NET_NS PACKET UNIX DEVTMPFS TMPFS BLK_DEV_INITRD RD_GZIP
    DEBUG_FS DEBUG_FS_ALLOW_ALL LIBCRC32C CRYPTO_CRC32C SLUB_DEBUG
    MODULES MODULE_UNLOAD DEBUG_INFO_NONE
    PROVE_LOCKING DEBUG_ATOMIC_SLEEP
    KASAN KASAN_GENERIC KASAN_OUTLINE DEBUG_KMEMLEAK
    FAULT_INJECTION FAILSLAB FAIL_PAGE_ALLOC FAULT_INJECTION_DEBUG_FS"
off="DRM SOUND WLAN WIRELESS CFG80211 MAC80211 RFKILL USB_SUPPORT HID
     INPUT_MOUSE INPUT_JOYSTICK INPUT_TABLET INPUT_TOUCHSCREEN AGP
     MODULE_SIG LOCALVERSION_AUTO DEBUG_INFO_DWARF5
     DEBUG_INFO_DWARF_TOOLCHAIN_DEFAULT IOMMUFD_VFIO_CONTAINER
     VFIO_NOIOMMU"
# Bump when the build steps change in a way the lists above do not show.
rev=1
key=$(echo "$rev $(basename "$src") $on $off" | sha1sum | cut -c1-12)
base=$IVF_CACHE/kernel-iommufd-lab
tree=$base/$key/src
root=$base/$key/root

print() {
	echo "KVER=$(cat "$tree/include/config/kernel.release")"
	echo "KTREE=$tree"
	echo "KROOT=$root"
}

if [ -f "$base/$key/done" ] && [ "${1:-}" != --tools ]; then
	print
	exit 0
fi
[ "${1:-}" != --path ] || exit 4

tools() {
	local t
	for t in flex bison bc; do command -v $t >/dev/null || return 1; done
	[ -f /usr/include/libelf.h ] && [ -f /usr/include/openssl/ssl.h ]
}
if ! tools; then
	log "installing the kernel build tools"
	as_root apt-get update -q >/dev/null || true
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		--no-install-recommends flex bison bc libssl-dev libelf-dev \
		>/dev/null 2>&1 ||
	# The backports QEMU may have upgraded libelf1; take the matching -dev.
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		--no-install-recommends -t "$IVF_SUITE" flex bison bc \
		libssl-dev libelf-dev >/dev/null 2>&1 || true
	tools || { log "cannot install flex/bison/bc/libelf-dev/libssl-dev"; exit 4; }
fi
[ "${1:-}" != --tools ] || exit 0

rm -rf "$base"
mkdir -p "$tree" "$root"
log "unpacking $src"
tar -xf "$src" -C "$tree" --strip-components=1
cd "$tree"
make -s x86_64_defconfig
args=()
for o in $on; do args+=(-e "$o"); done
for o in $off; do args+=(-d "$o"); done
scripts/config "${args[@]}" --set-str LOCALVERSION -ivf-iommufd
make -s olddefconfig
for o in IOMMUFD IOMMUFD_DRIVER VFIO_DEVICE_CDEV VFIO_CONTAINER \
	 VFIO_IOMMU_TYPE1 VFIO_PCI IGB IGBVF E1000E 9P_FS INTEL_IOMMU PROVE_LOCKING \
	 KASAN KASAN_GENERIC DEBUG_KMEMLEAK FAILSLAB FAIL_PAGE_ALLOC \
	 FAULT_INJECTION_DEBUG_FS; do
	grep -q "^CONFIG_$o=y" .config || die "CONFIG_$o is not y in $tree/.config"
done
log "building the IOMMUFD lab kernel in $tree (once, about 20 min)"
make -s -j"$(nproc)" bzImage modules >/dev/null
make -s INSTALL_MOD_PATH="$root" modules_install >/dev/null
mkdir -p "$root/boot"
cp arch/x86/boot/bzImage "$root/boot/vmlinuz-$(cat include/config/kernel.release)"
cp .config "$root/boot/config-$(cat include/config/kernel.release)"
touch "$base/$key/done"
print
