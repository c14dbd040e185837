# SPDX-License-Identifier: GPL-2.0
# Shared settings of the lab scripts. Sourced, not run.

IVF_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
IVF_CACHE=${IVF_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/igbvf-vfio-pci}
IVF_SUITE=${IVF_SUITE:-bookworm-backports}

die() { echo "lab: $*" >&2; exit 1; }
log() { echo "lab: $*" >&2; }

as_root() {
	if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# The guest kernel version: whatever linux-headers-amd64 from backports
# depends on. Never hard-coded, the archive moves.
ivf_kver() {
	local dep
	dep=$(dpkg-query -W -f '${Depends}' linux-headers-amd64 2>/dev/null) || return 1
	dep=${dep%%,*}
	dep=${dep%% *}
	echo "${dep#linux-headers-}"
}

ivf_kdir() { echo "/usr/src/linux-headers-$1"; }
# A field of dkms.conf: ivf_dkms_conf PACKAGE_NAME, PACKAGE_VERSION
ivf_dkms_conf() { sed -n "s/^$1=\"\(.*\)\"/\1/p" "$IVF_REPO/dkms.conf"; }
ivf_kroot() { echo "$IVF_CACHE/kernel/$1"; }

# Unpack (not install) a guest kernel's packages DEB... into KROOT, for
# release KVER: vmlinuz in KROOT/boot and modules in KROOT/lib/modules
# whatever the packages' layout (7.x ships both under /usr/lib/modules/KVER),
# and modules.dep, so the guest can modprobe -d KROOT.
ivf_unpack_kernel() { # KROOT KVER DEB...
	local kroot=$1 kver=$2 deb

	shift 2
	rm -rf "$kroot"
	mkdir -p "$kroot/boot"
	for deb in "$@"; do
		dpkg-deb -x "$deb" "$kroot" || return 1
	done
	[ -e "$kroot/lib" ] || ln -s usr/lib "$kroot/lib"
	[ -e "$kroot/boot/vmlinuz-$kver" ] ||
		ln -s "../lib/modules/$kver/vmlinuz" "$kroot/boot/vmlinuz-$kver"
	[ -e "$kroot/boot/config-$kver" ] ||
		ln -s "../lib/modules/$kver/config" "$kroot/boot/config-$kver"
	[ -f "$kroot/boot/vmlinuz-$kver" ] || { log "no vmlinuz for $kver"; return 1; }
	depmod -b "$kroot" "$kver" && touch "$kroot/done"
}

# The lab's initramfs for KVER (unpacked in KROOT): busybox, the 9p modules,
# and our init. Made once per kernel, init and busybox; prints its path.
ivf_initramfs() { # KVER KROOT
	local kver=$1 kroot=$2 init=$IVF_REPO/selftests/vm/init
	local sum initrd tmp a m f

	sum=$(cat "$init" /bin/busybox | sha1sum | cut -c1-12)
	initrd=$IVF_CACHE/initramfs-$kver-$sum.cpio.gz
	if [ ! -f "$initrd" ]; then
		log "building $initrd"
		tmp=$(mktemp -d)
		mkdir -p "$tmp"/{bin,dev,proc,sys,host,mod}
		cp /bin/busybox "$tmp/bin/busybox"
		for a in sh mount mkdir insmod sleep cat echo poweroff chroot ls sync grep; do
			ln -s busybox "$tmp/bin/$a"
		done
		for m in netfs 9pnet 9pnet_virtio 9p; do
			f=$(find "$kroot/lib/modules/$kver" -name "$m.ko*" | head -n1)
			[ -n "$f" ] || die "module $m not in the image"
			case "$f" in
			*.xz) xz -dc "$f" >"$tmp/mod/$m.ko" ;;
			*.zst) zstd -qdc "$f" >"$tmp/mod/$m.ko" ;;
			*) cp "$f" "$tmp/mod/$m.ko" ;;
			esac
		done
		install -m 0755 "$init" "$tmp/init"
		(cd "$tmp" && find . | cpio -o -H newc --quiet | gzip -1) >"$initrd.tmp"
		mv "$initrd.tmp" "$initrd"
		rm -rf "$tmp"
	fi
	# the ones no run has used for a week go (a changed init makes new ones)
	touch "$initrd"
	find "$IVF_CACHE" -maxdepth 1 -name 'initramfs-*.cpio.gz' -mtime +7 -delete
	echo "$initrd"
}
