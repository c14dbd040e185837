#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Prepare this machine for the lab: packages from Debian's registry (QEMU 10
# and the guest kernel from bookworm-backports), the guest kernel tree and
# the initramfs, all cached under $IVF_CACHE. Safe to run again: it only
# does what is missing.
set -euo pipefail
. "$(dirname "$0")/common.sh"

add_backports() {
	local f=/etc/apt/sources.list.d/igbvf-backports.sources
	if grep -rqs "$IVF_SUITE" /etc/apt/sources.list /etc/apt/sources.list.d/; then
		return 0
	fi
	# Same URI and keyring as the machine's own bookworm entry.
	local uri key
	uri=$(awk '/^URIs:/{u=$2} /^Suites:.*bookworm( |$)/{print u; exit}' \
		/etc/apt/sources.list.d/*.sources 2>/dev/null || true)
	key=$(awk '/^Signed-By:/{k=$2} /^Suites:.*bookworm( |$)/{f=1} f&&/^Signed-By:/{print $2; exit}' \
		/etc/apt/sources.list.d/*.sources 2>/dev/null || true)
	[ -n "$uri" ] || uri=$(awk '$1=="deb" && $3=="bookworm"{print $2; exit}' \
		/etc/apt/sources.list 2>/dev/null || true)
	[ -n "$uri" ] || uri=http://deb.debian.org/debian
	[ -n "$key" ] || key=/usr/share/keyrings/debian-archive-keyring.gpg
	log "adding $IVF_SUITE ($uri)"
	printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: %s\n' \
		"$uri" "$IVF_SUITE" "$key" | as_root tee "$f" >/dev/null
	APT_UPDATED=
}

need_pkgs() {
	local p miss=
	for p in "$@"; do
		dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep 'ok installed' >/dev/null ||
			miss="$miss $p"
	done
	echo "$miss"
}

APT_UPDATED=
apt_install() {
	local miss
	miss=$(need_pkgs "$@")
	[ -n "$miss" ] || return 0
	if [ -z "$APT_UPDATED" ]; then
		as_root apt-get update -q >/dev/null
		APT_UPDATED=1
	fi
	log "installing$miss"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		--no-install-recommends $APT_EXTRA $miss >/dev/null
}

add_backports
if ! grep -rqs "$IVF_SUITE" /var/lib/apt/lists/ 2>/dev/null &&
   ! ls /var/lib/apt/lists/*"${IVF_SUITE}"* >/dev/null 2>&1; then
	as_root apt-get update -q >/dev/null
	APT_UPDATED=1
fi
APT_EXTRA="-t $IVF_SUITE" apt_install qemu-system-x86 linux-headers-amd64
# Only what the scripts use. Nothing that pins a library version: the
# backports QEMU upgrades some (libelf1 among them), and e.g. bookworm's
# libelf-dev then can't be installed ("held broken packages").
APT_EXTRA= apt_install busybox-static dkms sparse linux-source-6.12 cpio \
	xz-utils zstd kmod iproute2 gcc make libc6-dev rsync git jq \
	ipxe-qemu seabios qemu-system-data mmdebstrap

# libvirt (selftests/tests/libvirt.sh): libvirt >= 10 picks a vfio-pci
# variant driver from modules.alias, bookworm has 9.0, so backports' 11.x:
# the monolithic daemon, its QEMU driver, virsh; and driverctl. The daemons
# run only inside the lab guest, never here: while they are installed, a
# policy-rc.d (if the machine has none) forbids starting services.
if [ -n "$(need_pkgs libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients driverctl)" ]; then
	prc=
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		prc=/usr/sbin/policy-rc.d
		printf '#!/bin/sh\nexit 101\n' | as_root tee "$prc" >/dev/null
		as_root chmod 755 "$prc"
	fi
	APT_EXTRA="-t $IVF_SUITE" apt_install libvirt-daemon \
		libvirt-daemon-driver-qemu libvirt-clients || rc=$?
	APT_EXTRA= apt_install driverctl || rc=$?
	[ -z "$prc" ] || as_root rm -f "$prc"
	[ "${rc:-0}" = 0 ] || die "cannot install libvirt"
fi

# The selftests use 6.12's uAPI headers (PRE_COPY, the VFIO cdev, iommufd,
# DMA logging): bookworm's own linux-libc-dev is 6.1.
if ! grep -qs VFIO_DEVICE_BIND_IOMMUFD /usr/include/linux/vfio.h; then
	log "installing linux-libc-dev from $IVF_SUITE"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		--no-install-recommends -t "$IVF_SUITE" linux-libc-dev >/dev/null
fi

KVER=$(ivf_kver) || die "cannot tell the guest kernel version"
KROOT=$(ivf_kroot "$KVER")
[ -d "$(ivf_kdir "$KVER")" ] || die "headers for $KVER missing"

# Guest kernel: the unsigned image package, extracted (not installed).
if [ ! -f "$KROOT/done" ]; then
	log "fetching linux-image-$KVER-unsigned"
	tmp=$(mktemp -d)
	(cd "$tmp" && apt-get download -q "linux-image-$KVER-unsigned" >/dev/null)
	ivf_unpack_kernel "$KROOT" "$KVER" "$tmp"/linux-image-*.deb ||
		die "cannot unpack linux-image-$KVER-unsigned"
	rm -rf "$tmp"
fi

INITRD=$(ivf_initramfs "$KVER" "$KROOT")
echo "KVER=$KVER"
echo "KROOT=$KROOT"
echo "INITRD=$INITRD"
