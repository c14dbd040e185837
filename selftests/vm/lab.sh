#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The emulated lab: a QEMU TCG guest with an emulated 82576 (igb) PF with
# SR-IOV, our module loaded and VFs bound.
#
#   lab.sh build          build the module for the guest kernel and the selftests
#   lab.sh run 'CMD'      build, boot the guest, run CMD (bash, in the repo,
#                         with IVF_* variables set) and power off. Exit status
#                         is CMD's; non-zero as well on any splat in the log.
#
# Each run keeps its output (guest log, kernel log, results) in
# $IVF_CACHE/runs/<id>; $IVF_CACHE/runs/latest points at the last one, and
# the file named by $IVF_RUN_FILE (if set) gets this run's directory.
set -euo pipefail
. "$(dirname "$0")/common.sh"

KVER=$(ivf_kver) || die "run selftests/vm/setup.sh first"
KROOT=$(ivf_kroot "$KVER")
KDIR=$(ivf_kdir "$KVER")

build() {
	make -s -C "$KDIR" M="$IVF_REPO" W=1 modules >&2
	[ ! -f "$IVF_REPO/selftests/Makefile" ] || make -s -C "$IVF_REPO/selftests" >&2
}

# Lines in a guest kernel log that fail a run.
splats() {
	grep -E 'WARNING:|BUG:|Oops|Kernel panic|lockdep|possible recursive locking|circular locking|refcount_t|general protection fault|UBSAN|KASAN|kernel BUG' "$@"
}

run() {
	local cmd=$1 out initrd rc
	[ -f "$KROOT/done" ] || die "run selftests/vm/setup.sh first"
	initrd=$(ls -t "$IVF_CACHE"/initramfs-"$KVER"-*.cpio.gz 2>/dev/null | head -n1)
	[ -n "$initrd" ] || die "no initramfs, run selftests/vm/setup.sh"
	[ -n "${IVF_NOBUILD:-}" ] || build
	mkdir -p "$IVF_CACHE/runs"
	out=$IVF_CACHE/runs/$(date +%Y%m%d-%H%M%S)-$$
	mkdir "$out"
	ln -sfn "$out" "$IVF_CACHE/runs/latest"
	[ -z "${IVF_RUN_FILE:-}" ] || echo "$out" >"$IVF_RUN_FILE"
	cp "$IVF_REPO/selftests/vm/guest.sh" "$out/guest.sh"
	printf '%s\n' "$cmd" >"$out/job.sh"
	cat >"$out/env" <<-EOT
	IVF_REPO=$IVF_REPO
	IVF_KROOT=$KROOT
	IVF_MODULE=$IVF_REPO/igbvf-vfio-pci.ko
	IVF_NUMVFS=${IVF_NUMVFS:-3}
	EOT
	log "booting the lab guest ($KVER), output in $out"
	set +e
	timeout "${IVF_TIMEOUT:-1800}" qemu-system-x86_64 \
		-accel tcg,thread=multi -cpu max -smp "${IVF_SMP:-1}" -m 2048 \
		-machine q35,kernel-irqchip=split \
		-device intel-iommu,intremap=on \
		-global q35-pcihost.pci-hole64-size=0 \
		-netdev user,id=n0 -device igb,netdev=n0,addr=0x2 \
		-kernel "$KROOT/boot/vmlinuz-$KVER" -initrd "$initrd" \
		-append "console=ttyS0 intel_iommu=on panic=-1 loglevel=${IVF_LOGLEVEL:-4} ${IVF_APPEND-slub_debug=U,kmalloc-*} ivf_out=$out" \
		-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on \
		-virtfs local,path="$out",mount_tag=ivfout,security_model=none \
		-display none -serial stdio -monitor none -no-reboot \
		-qmp unix:"$out/qmp.sock",server=on,wait=off \
		${IVF_QEMU_EXTRA:-} </dev/null 2>&1 | tee "$out/console.log" |
		grep --line-buffered -v '^lab-guest-internal'
	set -e
	rc=$(cat "$out/rc" 2>/dev/null || echo 124)
	if splats "$out/console.log" "$out/dmesg.txt" 2>/dev/null >"$out/splats.txt"; then
		log "kernel log has splats (see $out/splats.txt):"
		head -n 20 "$out/splats.txt" >&2
		[ "$rc" != 0 ] || rc=126
	fi
	[ -f "$out/rc" ] || log "the guest did not finish (timeout or crash), see $out/console.log"
	log "guest exit status $rc, kernel log in $out/dmesg.txt"
	return "$rc"
}

case "${1:-}" in
build) build ;;
run) shift; run "$*" ;;
*) sed -n '4,13p' "$0"; exit 2 ;;
esac
