#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The emulated lab: a QEMU TCG guest with two emulated 82576 (igb) PFs with
# SR-IOV, the "source host" (PF A, slot 2) and the "destination host" (PF B,
# slot 4), and an e1000e traffic peer (slot 6), all on one QEMU hub (every
# frame goes to all other ports); our module loaded and VFs bound.
#
#   lab.sh build          build the module for the guest kernel and the selftests
#   lab.sh run 'CMD'      build, boot the guest, run CMD (bash, in the repo,
#                         with IVF_* variables set) and power off. Exit status
#                         is CMD's; non-zero as well on any splat in the log.
#
# IVF_KERNEL picks the guest kernel: debian (default, bookworm-backports'
# 6.12, which the host has headers for), iommufd (the lab's IOMMUFD kernel,
# kernel-iommufd.sh, with lockdep; IVF_LOCKDEP=0: without), trixie-bpo
# (trixie-backports' 7.x), trixie (trixie's 6.12), sid, or a version of
# those (7.3, 6.12.117, 7.2): Debian's images, fetched and cached by
# kernel-debian.sh, the module built for them in their suite's build root
# (buildroot.sh).
# IVF_MODULE_KO=PATH loads that build of the module instead (e.g. an older
# commit's, to show a test fails without a fix).
#
# Each run keeps its output (guest log, kernel log, results) in
# $IVF_CACHE/runs/<id>; $IVF_CACHE/runs/latest points at the last one, and
# the file named by $IVF_RUN_FILE (if set) gets this run's directory.
set -euo pipefail
. "$(dirname "$0")/common.sh"

KVER=$(ivf_kver) || die "run selftests/vm/setup.sh first"
DEB_KVER=$KVER
KROOT=$(ivf_kroot "$KVER")
KDIR=$(ivf_kdir "$KVER")
KTREE=
INITRD=
BR_SUITE=
# The kernel's boot-time IO-APIC timer check panics on a busy TCG host
# ("timer doesn't work through Interrupt-remapped IO-APIC"): seen on both
# lab kernels when the host's cores were busy. The guest's timer works.
KAPPEND=no_timer_check
# A hang ends the boot at once, with its stack: a soft lockup (a CPU in the
# kernel for 20 s without scheduling) or a task blocked for 120 s panics,
# the panic replays the whole kernel log to the console (panic_print=0x20:
# the stack was printed below the console's loglevel) and the guest exits
# (panic=-1, -no-reboot). Either is a failure anyway (splats()); without
# this a hung poller held the boot until its timeout (session 10's CI).
KAPPEND="$KAPPEND softlockup_panic=1 hung_task_panic=1 panic_print=0x20"
MODDIR=$IVF_REPO
# slub_debug=U: the tests count live slab objects allocated through the
# driver (alloc_traces); P: poisoning.
SLUB_APPEND="slub_debug=UP,kmalloc-*"
# IVF_KERNEL=iommufd: the lab's own kernel with IOMMUFD (kernel-iommufd.sh);
# the module is built for it in a copy of the sources, so the repository's
# .ko stays the Debian kernel's.
if [ "${IVF_KERNEL:-debian}" = iommufd ]; then
	paths=$("$IVF_REPO/selftests/vm/kernel-iommufd.sh" --path) ||
		die "the IOMMUFD lab kernel is not built (selftests/vm/kernel-iommufd.sh)"
	eval "$paths"
	KDIR=$KTREE
	MODDIR=$IVF_CACHE/module-iommufd
	# IVF_LOCKDEP=0: no dependency checks (lockdep.prove_locking=0), for
	# tests that unmap pages pinned through type1: type1 itself takes
	# iommu->lock under device_list_lock there (README, "The lab").
	[ "${IVF_LOCKDEP:-1}" != 0 ] || KAPPEND="$KAPPEND lockdep.prove_locking=0"
	# No slub_debug there: KASAN's redzones and quarantine catch what its
	# poisoning would, no test counts slab objects on that kernel
	# (kmemleak checks leaks instead), and poisoning every kmalloc costs
	# time under TCG.
	SLUB_APPEND=
elif [ "${IVF_KERNEL:-debian}" != debian ]; then
	paths=$("$IVF_REPO/selftests/vm/kernel-debian.sh" "$IVF_KERNEL") ||
		die "no kernel '$IVF_KERNEL' (IVF_KERNEL: debian, iommufd, trixie-bpo, trixie, sid or a version like 7.3)"
	eval "$paths"
	BR_SUITE=$SUITE
	MODDIR=$IVF_CACHE/module-$KVER
fi

build() {
	if [ -n "$BR_SUITE" ]; then
		# This suite's compiler: the host's can't build for its headers.
		rm -f "$MODDIR/igbvf-vfio-pci.ko"
		IVF_BR_OUT=$MODDIR "$IVF_REPO/selftests/vm/buildroot.sh" \
			build "$BR_SUITE" "$KVER" -s W=1 >&2
	else
		if [ "$MODDIR" != "$IVF_REPO" ]; then
			mkdir -p "$MODDIR"
			rsync -a --delete "$IVF_REPO/Kbuild" "$IVF_REPO/driver" \
				"$IVF_REPO/include" "$MODDIR/"
		fi
		make -s -C "$KDIR" M="$MODDIR" W=1 modules >&2
	fi
	[ ! -f "$IVF_REPO/selftests/Makefile" ] || make -s -C "$IVF_REPO/selftests" >&2
}

# The libvirt test installs the module with `dkms install`, as an operator
# does. DKMS builds it here, for the lab's Debian kernel (compiling in the
# guest would take minutes under TCG), into a tree of its own under the
# cache, keyed by the sources (never the host's /var/lib/dkms); the guest
# installs from a copy of that tree. Prints the tree's directory.
dkms_tree() {
	local name ver sum dir files
	name=$(ivf_dkms_conf PACKAGE_NAME)
	ver=$(ivf_dkms_conf PACKAGE_VERSION)
	files=(dkms.conf Kbuild Makefile driver include)
	sum=$(cd "$IVF_REPO" && git ls-files -z "${files[@]}" |
		xargs -0 sha256sum | sha256sum | cut -c1-12)
	dir=$IVF_CACHE/dkms-lab/$KVER-$sum
	if [ ! -f "$dir/done" ]; then
		rm -rf "$dir"
		mkdir -p "$dir/src/$name-$ver" "$dir/tree"
		(cd "$IVF_REPO" && git ls-files -z "${files[@]}" |
			rsync -a --from0 --files-from=- ./ "$dir/src/$name-$ver/")
		if ! { as_root dkms add "$name/$ver" --dkmstree "$dir/tree" \
			--sourcetree "$dir/src" &&
			as_root dkms build "$name/$ver" -k "$KVER" \
				--dkmstree "$dir/tree" --sourcetree "$dir/src"; } \
			>"$dir/log" 2>&1; then
			log "dkms build for the libvirt test failed (see $dir/log)"
			return 1
		fi
		touch "$dir/done"
		# older trees go (the last three stay)
		ls -dt "$IVF_CACHE"/dkms-lab/*/ | tail -n +4 | xargs -r rm -rf
	fi
	echo "$dir"
}

# Lines in a guest kernel log that fail a run: every splat from the first
# line that names the module (its load) on; a log that never names it is
# read whole. A splat before the module was loaded cannot involve it (the
# sanitizer kernel once reported a KASAN wild access in rcu_is_watching()
# from an interrupt during identify_cpu(), 1.7 s into boot): it is shown
# on stderr and does not fail the run. 0 if a splat was found.
SPLAT_RE='WARNING:|BUG:|Oops|Kernel panic|blocked for more than [0-9]+ seconds|DEBUG_LOCKS_WARN_ON|INFO: possible|possible recursive locking|circular locking|refcount_t|general protection fault|UBSAN|KASAN|kernel BUG|kmemleak: leak in'
# the module's first line in a kernel log: its taint notice or a device line
SPLAT_LOADED='igbvf_vfio_pci: |igbvf-vfio-pci [0-9a-f][0-9a-f][0-9a-f][0-9a-f]:'
# The console shows only messages above the module's load notice (loglevel
# 4), so it may never name the module: there, the load time is taken from
# the other logs (the guest's dmesg.txt), by the kernel's timestamps. A
# KASAN report 1.7 s into a boot failed session 11's run that way.
splat_load_time() { # FILE...
	grep -haE "$SPLAT_LOADED" "$@" 2>/dev/null |
		sed -nE 's/^\[ *([0-9]+\.[0-9]+)\].*/\1/p' | sort -g | head -n 1
}
splats() {
	local f found=1 all tload
	tload=$(splat_load_time "$@")
	for f in "$@"; do
		[ -f "$f" ] || continue
		all=0
		grep -qaE "$SPLAT_LOADED" "$f" || [ -n "$tload" ] || all=1
		awk -v all=$all -v re="$SPLAT_RE" -v ld="$SPLAT_LOADED" -v f="$f" \
			-v tload="${tload:--1}" '
			$0 ~ ld { on = 1 }
			tload >= 0 && match($0, /^\[ *[0-9]+\.[0-9]+\]/) {
				ts = substr($0, RSTART + 1, RLENGTH - 2) + 0
				if (ts >= tload + 0)
					on = 1
			}
			$0 ~ re {
				if (on || all)
					print f ":" $0
				else
					print "before the module was loaded (not counted): " f ":" $0 > "/dev/stderr"
			}' "$f" | grep . && found=0
	done
	return $found
}

run() {
	local cmd=$1 out initrd rc
	[ -f "$KROOT/done" ] || [ -n "$KTREE" ] || die "run selftests/vm/setup.sh first"
	initrd=$INITRD
	[ -n "$initrd" ] ||
		initrd=$(ivf_initramfs "$DEB_KVER" "$(ivf_kroot "$DEB_KVER")")
	[ -n "$initrd" ] || die "no initramfs, run selftests/vm/setup.sh"
	# The guest mounts its own /tmp and /run over the host's: a checkout
	# or cache there is shared on its own (selftests/vm/init).
	local p n=0 binds= shares=()
	for p in "$IVF_REPO" "$IVF_CACHE"; do
		case "$p" in /tmp | /tmp/* | /run | /run/*) ;; *) continue ;; esac
		case "$p" in
		*[\ ,:=]*) die "the lab cannot share $p with its guest (a space, comma, colon or = in the path): use a checkout elsewhere" ;;
		esac
		shares+=(-virtfs "local,path=$p,mount_tag=ivfx$n,security_model=none")
		binds="$binds${binds:+,}ivfx$n:$p"
		n=$((n + 1))
	done
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
	IVF_MODULE=${IVF_MODULE_KO:-$MODDIR/igbvf-vfio-pci.ko}
	IVF_NUMVFS=${IVF_NUMVFS:-3}
	IVF_NUMVFS_B=${IVF_NUMVFS_B:-2}
	EOT
	# DKMS for the libvirt test (Debian's kernel, the module of these
	# sources); without it the test installs by copy and depmod.
	local dk
	if [[ " ${IVF_TESTS:-} " == *" libvirt "* ]] && [ -z "$KTREE$BR_SUITE" ] &&
		[ -z "${IVF_MODULE_KO:-}" ] && command -v dkms >/dev/null &&
		dk=$(dkms_tree); then
		echo "IVF_DKMS=$dk" >>"$out/env"
	fi
	# Test knobs reach the guest (IVF_TESTS="traffic bind" ./selftests/run.sh).
	local v
	for v in ${!IVF_@}; do
		if [[ $v =~ ^IVF_(TESTS|TEST_TIMEOUT|BIND_LOOPS|BENCH_[A-Z_]+|MIG_[A-Z_]+|QM_[A-Z_]+|LV_[A-Z_]+|ACCESS|IRQ|HDR_SPLIT|DRIVER|VFIO|DIRTY|KERNEL|NESTED|EXACT_FRAMES|RACE_SECS|HOSTILE_[A-Z_]+|UNMAP_[A-Z_]+|XK_IN)$ ]]; then
			printf '%s=%q\n' "$v" "${!v}" >>"$out/env"
		fi
	done
	log "booting the lab guest ($KVER), output in $out"
	set +e
	timeout "${IVF_TIMEOUT:-1800}" qemu-system-x86_64 \
		-accel tcg,thread=multi -cpu max -smp "${IVF_SMP:-1}" -m 2048 \
		-machine q35,kernel-irqchip=split \
		-device intel-iommu,intremap=on \
		-global q35-pcihost.pci-hole64-size=0 \
		-netdev hubport,id=pA,hubid=0 \
		-device igb,netdev=pA,addr=0x2,mac=52:54:00:00:0a:01 \
		-netdev hubport,id=pB,hubid=0 \
		-device igb,netdev=pB,addr=0x4,mac=52:54:00:00:0b:01 \
		-netdev hubport,id=pP,hubid=0 \
		-device e1000e,netdev=pP,addr=0x6,mac=52:54:00:00:0c:01 \
		-kernel "$KROOT/boot/vmlinuz-$KVER" -initrd "$initrd" \
		-append "console=ttyS0 intel_iommu=on panic=-1 loglevel=${IVF_LOGLEVEL:-4} $KAPPEND ${IVF_APPEND-$SLUB_APPEND} ivf_out=$out${binds:+ ivf_bind=$binds}" \
		-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on \
		-virtfs local,path="$out",mount_tag=ivfout,security_model=none \
		"${shares[@]}" \
		-display none -serial stdio -monitor none -no-reboot \
		-qmp unix:"$out/qmp.sock",server=on,wait=off \
		${IVF_QEMU_EXTRA:-} </dev/null 2>&1 | tee "$out/console.log" |
		grep --line-buffered -v '^lab-guest-internal'
	set -e
	rc=$(cat "$out/rc" 2>/dev/null || echo 124)
	# kmemleak (IOMMUFD kernel): an unreferenced object allocated by us.
	if [ -s "$out/kmemleak.txt" ] &&
		grep -q 'igbvf_vfio_pci' "$out/kmemleak.txt"; then
		log "kmemleak: objects allocated by the module leaked (see $out/kmemleak.txt)"
		grep -B 12 'igbvf_vfio_pci' "$out/kmemleak.txt" | head -n 40 >&2
		echo "kmemleak: leak in igbvf_vfio_pci" >>"$out/console.log"
	fi
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
*) sed -n '4,18p' "$0"; exit 2 ;;
esac
