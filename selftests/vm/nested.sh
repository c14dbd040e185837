#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The nested guest's initramfs: the Linux guest that a stock QEMU runs and
# migrates inside the lab (selftests/tests/qemu_migrate.sh). Debian's kernel
# image (the lab's own, setup.sh), busybox, the NIC drivers (igbvf for the
# VF, e1000 for the no-VF baseline, 8021q for a VLAN), seqflow and mcjoin
# (selftests/qemu). Cached in $IVF_CACHE by content; prints its path.
set -euo pipefail
. "$(dirname "$0")/common.sh"

KVER=$(ivf_kver) || die "run selftests/vm/setup.sh first"
KROOT=$(ivf_kroot "$KVER")
[ -f "$KROOT/done" ] || die "run selftests/vm/setup.sh first"
Q=$IVF_REPO/selftests/qemu
make -s -C "$Q" >&2
INIT=$Q/nested-init
MODS="igbvf e1000 8021q"
sum=$(cat "$INIT" /bin/busybox "$Q/build/seqflow" "$Q/build/mcjoin" |
	sha1sum | cut -c1-12)
OUT=$IVF_CACHE/nested-$KVER-$sum.cpio.gz
if [ ! -f "$OUT" ]; then
	log "building $OUT"
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	mkdir -p "$tmp"/{bin,dev,proc,sys,mod,tmp}
	cp /bin/busybox "$tmp/bin/busybox"
	for a in sh mount insmod sleep cat echo ip ls stty readlink basename \
		 vconfig kill pidof ps grep dmesg poweroff tail; do
		ln -s busybox "$tmp/bin/$a"
	done
	cp "$Q/build/seqflow" "$Q/build/mcjoin" "$tmp/bin/"
	# Modules with their dependencies, each after what it needs.
	order=
	add_mod() {
		local f dep
		case " $order " in *" $1 "*) return ;; esac
		f=$(find "$KROOT/lib/modules/$KVER" -name "$1.ko*" | head -n1)
		[ -n "$f" ] || die "module $1 not in the image"
		for dep in $(modinfo -F depends "$f" | tr , ' '); do
			add_mod "$dep"
		done
		case "$f" in
		*.xz) xz -dc "$f" >"$tmp/mod/$1.ko" ;;
		*.zst) zstd -qdc "$f" >"$tmp/mod/$1.ko" ;;
		*) cp "$f" "$tmp/mod/$1.ko" ;;
		esac
		order="$order $1"
	}
	for m in $MODS; do
		add_mod "$m"
	done
	echo $order >"$tmp/mod/order"
	install -m 0755 "$INIT" "$tmp/init"
	(cd "$tmp" && find . | cpio -o -H newc --quiet | gzip -1) >"$OUT.tmp"
	mv "$OUT.tmp" "$OUT"
fi
# Each change to the guest's programs makes a new image: the ones no run
# has used for a week go.
touch "$OUT"
find "$IVF_CACHE" -maxdepth 1 -name 'nested-*.cpio.gz' -mtime +7 -delete
echo "$OUT"
