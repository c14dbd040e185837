#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Debian's other guest kernels for the lab: trixie's, trixie-backports' and
# sid's kernel images from Debian's registry, downloaded through the build
# root's private apt state of their suite (buildroot.sh; the host's apt is
# untouched), unpacked (not installed) into $IVF_CACHE/kernel/KVER, with
# the lab's initramfs. The module is built for them in that root (lab.sh
# build).
#
#   kernel-debian.sh WHICH          fetch unless cached; print KVER, KROOT,
#                                   INITRD and SUITE (of the build root)
#   kernel-debian.sh --path WHICH   the same, only if cached (exit 4 if not)
#
# WHICH: trixie-bpo (trixie-backports' kernel, 7.3.4 today), trixie
# (trixie's own, 6.12.117 today), sid (7.2.13 today), or a version the
# trixie or sid root has headers for (7.3, 7.3.4, 6.12.117, 7.2). Exit 4
# (skip) when neither the registry nor the cache has it.
set -euo pipefail
. "$(dirname "$0")/common.sh"

BR=$IVF_REPO/selftests/vm/buildroot.sh
# What the lab needs of a guest kernel's configuration (=y or =m).
NEED="PCI_IOV INTEL_IOMMU IRQ_REMAP VFIO VFIO_IOMMU_TYPE1 VFIO_PCI_CORE
      VFIO_PCI IGB IGBVF E1000E VIRTIO_PCI NET_9P NET_9P_VIRTIO 9P_FS
      NET_NS DEVTMPFS TMPFS BLK_DEV_INITRD RD_GZIP DEBUG_FS SLUB_DEBUG"

path_only=
if [ "${1:-}" = --path ]; then
	path_only=1
	shift
fi
which=${1:?usage: kernel-debian.sh [--path] trixie-bpo|trixie|sid|VERSION}

# The kernel release WHICH names, among the headers of SUITE's build root.
pick() {
	local root k v

	root=$("$BR" path "$SUITE") || return 1
	for k in $("$BR" kernels "$SUITE"); do
		v=$(dpkg-query --admindir="$root/var/lib/dpkg" -W \
			-f '${Version}' "linux-headers-$k")
		case $which in
		trixie-bpo|bpo) [[ $v == *~bpo* ]] || continue ;;
		trixie) [[ $v != *~bpo* ]] || continue ;;
		sid) ;;
		*) [[ $k == "$which"[.+]* || $k == "$which" ]] || continue ;;
		esac
		echo "$k"
	done | sort -V | tail -n1
}

# The image packages: linux-image-KVER-unsigned where Debian still makes
# it (6.12); from 7.x linux-image-KVER is a meta package of
# linux-binary-KVER (vmlinuz), linux-modules-KVER and linux-base-KVER.
fetch() { # KVER KROOT
	local kver=$1 kroot=$2 tmp deps

	tmp=$(mktemp -d)
	log "fetching the linux-image-$kver packages"
	if ! "$BR" download "$SUITE" "$tmp" "linux-image-$kver-unsigned" \
		2>/dev/null; then
		"$BR" download "$SUITE" "$tmp" "linux-image-$kver" ||
			{ rm -rf "$tmp"; return 1; }
		deps=$(dpkg-deb -f "$tmp"/linux-image-*.deb Depends | tr ',' '\n' |
		       sed -n "s/^ *\(linux-[a-z]*-$kver\)\( .*\)\{0,1\}$/\1/p")
		rm -f "$tmp"/linux-image-*.deb
		# shellcheck disable=SC2086
		[ -z "$deps" ] || "$BR" download "$SUITE" "$tmp" $deps ||
			{ rm -rf "$tmp"; return 1; }
	fi
	ivf_unpack_kernel "$kroot.tmp" "$kver" "$tmp"/*.deb ||
		{ rm -rf "$tmp" "$kroot.tmp"; return 1; }
	rm -rf "$tmp" "$kroot"
	mv "$kroot.tmp" "$kroot"
}

# Refuse a kernel that lacks what the lab needs; say what it has not.
check_config() { # KVER KROOT
	local c=$2/boot/config-$1 o miss=

	for o in $NEED; do
		grep -Eq "^CONFIG_$o=[ym]" "$c" || miss="$miss $o"
	done
	[ -z "$miss" ] || die "$1 lacks what the lab needs:$miss"
	grep -q '^CONFIG_IOMMUFD=' "$c" ||
		log "$1 has no IOMMUFD: type1 only (no VFIO cdev, no DMA logging)"
}

case $which in
sid) suites=sid ;;
trixie*|bpo) suites=trixie ;;
*) suites="trixie sid" ;;
esac
kver=
for SUITE in $suites; do
	kver=$(pick 2>/dev/null) || kver=
	[ -z "$kver" ] || break
done
if [ -z "$kver" ]; then
	# No root and no registry: the module could not be built anyway.
	log "no kernel '$which': neither the registry nor the cache has" \
		"a build root ($suites) with its headers"
	exit 4
fi
kroot=$(ivf_kroot "$kver")
if [ ! -f "$kroot/done" ]; then
	[ -z "$path_only" ] || exit 4
	fetch "$kver" "$kroot" || { log "cannot fetch linux-image-$kver"; exit 4; }
fi
check_config "$kver" "$kroot"
echo "KVER=$kver"
echo "KROOT=$kroot"
echo "INITRD=$(ivf_initramfs "$kver" "$kroot")"
echo "SUITE=$SUITE"
