#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The whole test suite: host checks (sparse/W=1 build, also for Debian's
# trixie, trixie-backports and sid kernels in build roots; checkpatch, DKMS)
# and the lab tests in guest boots, in two lanes (a guest per core): the
# lab's IOMMUFD kernel for the DMA logging backend in the background, and
# Debian's kernel, Debian's 7.x from trixie-backports and the IOMMUFD
# kernel's container list; then, alone, the stock-QEMU boot and the stock
# QEMU through iommufd. Prepares the machine first
# (selftests/vm/setup.sh). Ends with "N passed, N failed, N skipped" and
# exits non-zero on any failure.
#
#   IVF_TESTS="region_info traffic"   run only these lab tests (Debian kernel;
#                                     "none": no such boot)
#   IVF_TESTS_BPO="region_info"       ... on Debian's trixie-backports 7.x
#                                     (IVF_KERNEL_BPO: another, e.g. trixie)
#   IVF_TESTS_IOMMUFD="dirty_log:cdev_log" ... on the IOMMUFD kernel, lockdep on
#   IVF_TESTS_IOMMUFD_TYPE1="..."     ... in its second boot (through
#                                     type1)
#   IVF_TESTS_QEMU="qemu_migrate"     the stock-QEMU boot (left out when
#                                     only IVF_TESTS is given)
#   IVF_TESTS_IOMMUFD_QEMU=...        ... on the IOMMUFD kernel, through
#                                     iommufd (likewise)
#   IVF_SKIP_HOST=1                   skip the host checks
#   IVF_NO_IOMMUFD=1                  no IOMMUFD kernel (build or boot)
set -uo pipefail
cd "$(dirname "$0")/.."
. selftests/vm/common.sh

pass=0 fail=0 skip=0
# The run's budget (IVF_BUDGET_MIN, default 85: CI gives 90 min): no boot
# runs past it. Each boot also has its own cap, about twice what it took in
# the last full run (IVF_TIMEOUT overrides every cap). A guest that hangs
# panics at once (lab.sh); a slow host or a hung test ends as a failure
# here, with the summary line, not as CI's timeout.
deadline=$(($(date +%s) + ${IVF_BUDGET_MIN:-85} * 60))
verdict() { # name rc
	case $2 in
	0) pass=$((pass + 1)); echo "ok - $1" ;;
	4) skip=$((skip + 1)); echo "ok - $1 # SKIP" ;;
	*) fail=$((fail + 1)); echo "not ok - $1" ;;
	esac
}
# Run a check with its output in a log; show the log's tail if it fails.
quiet() {
	local log
	log=$IVF_CACHE/logs/$(basename "$1" .sh).log
	mkdir -p "$(dirname "$log")"
	"$@" >"$log" 2>&1 && return 0
	local rc=$?
	tail -n 25 "$log"
	return $rc
}
summary() {
	echo "$pass passed, $fail failed, $skip skipped"
	[ $fail = 0 ]
	exit
}

t_run=$(date +%s)
selftests/vm/setup.sh >/dev/null
verdict "lab setup (packages, guest kernel, initramfs)" $?
[ $fail = 0 ] || summary
KVER=$(ivf_kver)
KDIR=$(ivf_kdir "$KVER")

# What each boot runs (see the boots below for what they are).
btests=${IVF_TESTS_BPO-region_info bar_access invalidate mailbox traffic vf_driver migration_fsm migration_stream migration_reset stale_fd migrate tracker_arcs dirty_exact dirty_contract dirty_map dirty_vmm unmap_race stream_xkernel_resume stream_xkernel_save}
[ -z "${IVF_TESTS:-}" ] || [ -n "${IVF_TESTS_BPO:-}" ] || btests=
bkernel=${IVF_KERNEL_BPO:-trixie-bpo}
qtests=${IVF_TESTS_QEMU-stream_xkernel_resume qemu_migrate libvirt}
qtestsi=${IVF_TESTS_IOMMUFD_QEMU-qemu_migrate}
itests=${IVF_TESTS_IOMMUFD-dirty_log:cdev_log tracker_arcs:cdev_log stale_fd:cdev_log reset_race:cdev_log log_bound:cdev_log iommufd_race:cdev_log dirty_contract:cdev_log dirty_vmm:cdev_log migration_fsm:cdev_log migrate:cdev_log migration_reset:cdev_log migration_stream:cdev_log hostile_guest:cdev_log unmap_race:container}
itests1=${IVF_TESTS_IOMMUFD_TYPE1-dirty_log:group_log dirty_exact:group_log alloc_fail:container}
if [ -n "${IVF_TESTS:-}" ]; then
	[ -n "${IVF_TESTS_QEMU:-}" ] || qtests=
	[ -n "${IVF_TESTS_IOMMUFD_QEMU:-}" ] || qtestsi=
	[ -n "${IVF_TESTS_IOMMUFD:-}" ] || itests=
	[ -n "${IVF_TESTS_IOMMUFD_TYPE1:-}" ] || itests1=
fi

# A fresh machine (an empty cache) builds the IOMMUFD kernel (about 17
# min on 2 cores), three build roots, Debian's 7.x kernel and the nested
# guest's image. They start here, in the background at the lowest CPU
# priority, and are waited for where they are first needed: the main boot
# runs one vCPU, so the second core builds meanwhile. With a warm cache each
# is a check of a few seconds.
mkdir -p "$IVF_CACHE/logs"
prep=$(mktemp -d)
# A run that ends early (its budget spent) leaves nothing building.
kill_tree() { # PID
	local c
	for c in $(pgrep -P "$1"); do kill_tree "$c"; done
	kill "$1" 2>/dev/null
}
prep_pids=
trap 'for p in $prep_pids; do kill_tree "$p"; done; rm -rf "$prep"' EXIT
prep_start() { # NAME CMD...: CMD niced in the background, output in logs/NAME.log
	local name=$1
	shift
	date +%s >"$prep/$name.t0"
	(renice -n 19 -p "$BASHPID" >/dev/null
	 "$@" >"$IVF_CACHE/logs/$name.log" 2>&1
	 echo $? >"$prep/$name.rc.tmp"
	 mv "$prep/$name.rc.tmp" "$prep/$name.rc") &
	prep_pids="$prep_pids $!"
	echo $! >"$prep/$name.pid"
}
prep_wait() { # NAME: wait for it (not past the run's budget); its exit status
	local t0 t1 waited=$(date +%s)

	while [ ! -f "$prep/$1.rc" ]; do
		if [ "$(date +%s)" -ge $((deadline - 300)) ]; then
			echo "# $1: still not done with the run's budget nearly spent: stopped (log: $IVF_CACHE/logs/$1.log)"
			kill_tree "$(cat "$prep/$1.pid")"
			return 124
		fi
		sleep 2
	done
	t0=$(cat "$prep/$1.t0")
	t1=$(stat -c %Y "$prep/$1.rc")
	echo "# $1: $(( (t1 - t0 + 30) / 60 )) min in the background, waited $(( ($(date +%s) - waited + 30) / 60 )) min for it"
	return "$(cat "$prep/$1.rc")"
}
prep_roots() {
	local suite rc=0

	for suite in trixie sid bookworm; do
		echo "== build root $suite"
		selftests/vm/buildroot.sh path "$suite" || rc=1
	done
	[ -z "$btests" ] || {
		echo "== Debian's $bkernel kernel"
		selftests/vm/kernel-debian.sh "$bkernel" || rc=1
	}
	return $rc
}
prep_nested() { selftests/vm/nested.sh >"$prep/nested.path"; }
if [ -z "${IVF_NO_IOMMUFD:-}" ]; then
	# its tools first, in the foreground: two apt-get at once would fail
	quiet selftests/vm/kernel-iommufd.sh --tools
	prep_start kernel-iommufd selftests/vm/kernel-iommufd.sh
fi
if [ -z "${IVF_SKIP_HOST:-}" ] || [ -n "$btests" ]; then
	prep_start roots prep_roots
fi
[ -z "$qtests$qtestsi" ] || prep_start nested prep_nested

if [ -z "${IVF_SKIP_HOST:-}" ]; then
	out=$(make -s -C "$KDIR" M="$PWD" C=2 W=1 modules 2>&1)
	rc=$?
	echo "$out" | grep -E 'warning|error' && rc=1
	verdict "module builds for $KVER with sparse and W=1, no warnings" $rc
	quiet selftests/checkpatch.sh
	verdict "checkpatch clean" $?
	quiet selftests/dkms.sh
	verdict "dkms add/build/install/remove for $KVER" $?
fi

# Debian's other kernels, each built in a root of its suite, with its
# compiler (selftests/vm/buildroot.sh); skipped if the registry can't be
# reached and no root is cached. After the main boot: the roots are made
# in the background meanwhile.
host_roots() {
	local suite blog kvers k out rc dlog

	for suite in trixie sid bookworm; do
		blog=$IVF_CACHE/logs/buildroot-$suite.log
		if ! kvers=$(selftests/vm/buildroot.sh kernels "$suite" 2>"$blog") ||
		   [ -z "$kvers" ]; then
			tail -n 5 "$blog"
			verdict "build root for Debian $suite" 4
			continue
		fi
		for k in $kvers; do
			if [ "$suite" = bookworm ]; then
				# refused before anything compiles, in one line
				out=$(selftests/vm/buildroot.sh build "$suite" "$k" -s 2>&1)
				rc=$?
				echo "$out" | grep -q '\*\*\* igbvf-vfio-pci: .*supported: ' &&
					[ $rc != 0 ] && ! echo "$out" | grep -q 'CC \[M\]'
				verdict "the module refuses $k ($suite) at build time, in one line" $?
				continue
			fi
			quiet selftests/vm/buildroot.sh check "$suite" "$k"
			verdict "module builds for $k ($suite, its compiler) with sparse and W=1, no warnings" $?
			# DKMS as a user of that suite runs it, in the
			# root (the host's DKMS and modules untouched)
			dlog=$IVF_CACHE/logs/dkms-$suite-$k.log
			selftests/vm/buildroot.sh dkms "$suite" "$k" >"$dlog" 2>&1
			rc=$?
			[ $rc = 0 ] || tail -n 25 "$dlog"
			sed -n 's/^dkms status: /# dkms status ('"$suite"' root): /p' "$dlog"
			verdict "dkms add/build/install/remove for $k ($suite build root)" $rc
		done
	done
}

make -s -C selftests
verdict "selftests build" $?

# One lab run: boot the guest (IVF_KERNEL in the environment), run the
# suite, count its results as "lab[LABEL]: NAME".
# The lab's own QEMU (the emulated machine, not anything under test) died:
# QEMU 10.0's multi-threaded TCG once aborted in the stock-QEMU boot (two
# vCPUs) with "iotlb_to_section: Assertion `section_index <
# d->map.sections_nb' failed" (session 11, in stream_xkernel_resume).
lab_qemu_died() { # RUN
	grep -aE '^qemu-system-x86_64: .*(Assertion .* failed|Segmentation fault)' \
		"$1/console.log" 2>/dev/null | head -n 1
}

lab_suite() { # LABEL CAP_SECONDS
	local runfile run lab_rc line name cap left t0 died attempt=1
	while :; do
		cap=${IVF_TIMEOUT:-$2}
		left=$((deadline - $(date +%s) - 60))
		if [ $left -lt 180 ]; then
			verdict "$1: started in time (the run's budget, IVF_BUDGET_MIN=${IVF_BUDGET_MIN:-85}, is spent)" 1
			return
		fi
		[ "$cap" -le $left ] || cap=$left
		echo "# $1: at most $((cap / 60)) min"
		t0=$(date +%s)
		runfile=$(mktemp)
		IVF_TIMEOUT=$cap IVF_NOBUILD=1 IVF_RUN_FILE=$runfile \
			selftests/vm/lab.sh run 'bash selftests/vm/suite.sh'
		lab_rc=$?
		# Our own run's directory: runs/latest may be another lab's.
		run=$(cat "$runfile")
		rm -f "$runfile"
		died=$(lab_qemu_died "$run")
		[ -n "$died" ] && [ $attempt = 1 ] || break
		# Once: the boot's results are dropped, and it boots again.
		echo "# $1: the lab's own QEMU died ($died; logs in $run): booting once more"
		attempt=2
	done
	[ -z "$died" ] || echo "# $1: the lab's own QEMU died again ($died)"
	last_run=$run
	if [ -f "$run/results" ]; then
		while read -r line; do
			name=$(echo "$line" | sed -E 's/^(not ok|ok|skip) ([^ ]+).*/\2/')
			case $line in
			"not ok"*) verdict "$1: $name" 1 ;;
			skip*) verdict "$1: $name" 4 ;;
			ok*) verdict "$1: $name" 0 ;;
			esac
		done <"$run/results"
	else
		verdict "$1: the guest ran the suite" 1
	fi
	[ -s "$run/splats.txt" ]
	verdict "$1: guest kernel log free of WARN/BUG/Oops/lockdep/KASAN/refcount splats and module leaks" $((1 - $?))
	[ $lab_rc = 0 ] || [ $fail != 0 ] || verdict "$1: lab run exit status ($lab_rc)" 1
	echo "# guest logs: $run ($(( ($(date +%s) - t0 + 30) / 60 )) min)"
}

# A device state across kernels (stream_xkernel): the main boot saves one
# (6.12.95) in its run directory, the 7.x boot resumes it and saves its own,
# the stock-QEMU boot (6.12.95) resumes that. A resume with nothing saved
# before it (that boot left out) is a SKIP; a save that failed is a failure.
# xk_saved RUN TESTS: RUN's saved state, if TESTS saved one
xk_saved() {
	case " $2 " in
	*" stream_xkernel_save "*|*" stream_xkernel "*) echo "$1/xk" ;;
	esac
}
last_run=
xk_main=

# The lab's IOMMUFD kernel (started building in the background at the
# beginning; cached): the DMA logging backend, the hardening tests and the
# migration tests through iommufd, with lockdep, KASAN and kmemleak; then
# the container (type1), where the tracker also pins in type1 once the
# device is in PRE_COPY: DMA logging through it, the pulses' exactness, two
# threads unmapping at once and the tracker out of memory (fault injection),
# with lockdep too: the tracker holds no pin across type1's unmap callback.
# Two lanes: this one boots the IOMMUFD kernel for the DMA logging list (one
# vCPU) beside the other's Debian boots and then the IOMMUFD kernel's second
# boot (one vCPU each): the two cores take a guest each. A sanitizer boot
# costs about 4 min before its first test, and KASAN slows the guest's
# kernel about twentyfold under TCG: the hostile-guest soak runs 30 s there
# (60 s on Debian's kernel), and a harness binary gets 20 min (a case opens
# the device afresh, which KASAN makes slow: migrate:cdev_log about 200 s).
# The lane's output goes to a file; its verdicts are counted at san_join. A
# run of chosen tests (IVF_TESTS) leaves it out unless it names its own.
san_lane() {
	local rc
	prep_wait kernel-iommufd
	rc=$?
	[ $rc = 0 ] || tail -n 25 "$IVF_CACHE/logs/kernel-iommufd.log"
	verdict "lab IOMMUFD kernel (Debian's linux-source-6.12 with IOMMUFD, VFIO cdev, lockdep, KASAN, kmemleak)" $rc
	[ $rc = 0 ] || return
	if [ -z "${IVF_SKIP_HOST:-}" ]; then
		quiet selftests/kbuild-iommufd.sh
		verdict "module builds with CONFIG_IOMMUFD_DRIVER (DMA logging), sparse and W=1 clean" $?
	fi
	[ -n "$itests$itests1$qtestsi" ] || return
	IVF_KERNEL=iommufd selftests/vm/lab.sh build
	rc=$?
	verdict "module builds for the IOMMUFD lab kernel" $rc
	[ $rc = 0 ] || return
	touch "$prep/iommufd.ok"
	[ -n "$itests" ] || return
	IVF_KERNEL=iommufd \
	IVF_TEST_TIMEOUT=${IVF_TEST_TIMEOUT:-1200} \
	IVF_HOSTILE_SECS=${IVF_HOSTILE_SECS:-30} IVF_TESTS=$itests \
		lab_suite "lab-iommufd" 2700
}
san_pid=
if [ -z "${IVF_NO_IOMMUFD:-}" ]; then
	echo "# lab-iommufd: in the background beside the Debian boots (its results after them)"
	{ san_lane; touch "$prep/san.done"; } >"$prep/san.out" 2>&1 &
	san_pid=$!
	prep_pids="$prep_pids $san_pid"
fi
# whether the sanitizer lane built the module for its kernel (waits for it)
san_ready() {
	while [ -n "$san_pid" ] && [ ! -f "$prep/iommufd.ok" ] &&
		[ ! -f "$prep/san.done" ]; do
		sleep 2
	done
	[ -f "$prep/iommufd.ok" ]
}
# wait for the sanitizer lane; count and show its verdicts
san_join() {
	local line n
	[ -n "$san_pid" ] || return 0
	wait "$san_pid"
	san_pid=
	while IFS= read -r line; do
		case $line in
		"not ok - "*) verdict "${line#not ok - }" 1 ;;
		"ok - "*" # SKIP") n=${line#ok - }; verdict "${n% # SKIP}" 4 ;;
		"ok - "*) verdict "${line#ok - }" 0 ;;
		*) echo "$line" ;;
		esac
	done <"$prep/san.out"
}

# Debian's kernel: everything. The guest part takes 5-30 min under TCG
# (the host's speed varies a lot).
# The benchmarks (make bench) run here too while they stay cheap (42 s).
if [ "${IVF_TESTS:-}" != none ]; then
	IVF_TESTS=${IVF_TESTS:-all bench} lab_suite "lab" 1500
	# suite.sh's own list (IVF_TESTS unset) has stream_xkernel_save
	xk_main=$(xk_saved "$last_run" "${IVF_TESTS:-stream_xkernel_save}")
fi

# Debian's 7.x (trixie-backports; IVF_KERNEL_BPO picks another, e.g.
# trixie): the BAR, migration and dirty-tracking tests on a kernel whose
# region info goes through .get_region_info_caps, through type1 (it has no
# IOMMUFD). Its image comes from the registry through the trixie build
# root (kernel-debian.sh), cached; skipped if neither has it.
if [ -z "${IVF_SKIP_HOST:-}" ] || [ -n "$btests" ]; then
	prep_wait roots
	[ -n "${IVF_SKIP_HOST:-}" ] || host_roots
fi
xk_bpo=
if [ -n "$btests" ]; then
	blog=$IVF_CACHE/logs/kernel-$bkernel.log
	bpaths=$(selftests/vm/kernel-debian.sh "$bkernel" 2>"$blog")
	rc=$?
	[ $rc = 0 ] || tail -n 5 "$blog"
	bkver=$(echo "$bpaths" | sed -n 's/^KVER=//p')
	verdict "Debian's $bkernel kernel (${bkver:-none found}) for the lab" $rc
	if [ $rc = 0 ]; then
		IVF_KERNEL=$bkernel selftests/vm/lab.sh build
		verdict "module builds for $bkver (its suite's build root)" $?
		IVF_KERNEL=$bkernel IVF_TESTS=$btests IVF_XK_IN=$xk_main \
			lab_suite "lab-$bkernel" 900
		xk_bpo=$(xk_saved "$last_run" "$btests")
	fi
fi

# The IOMMUFD kernel's second boot (DMA logging through type1, the tracker
# out of memory): this lane's last, beside the sanitizer lane's boot. The
# two lists are split so that both lanes take about as long (README, "What
# a run costs"). dirty_exact checks 2000 frames a run there (26000 on
# Debian's kernel): the sanitizer looks for memory and lock errors on the
# same paths, and each frame costs about twenty times as much.
if [ -n "$itests1" ] && san_ready; then
	IVF_KERNEL=iommufd IVF_EXACT_FRAMES=2000 \
	IVF_TEST_TIMEOUT=${IVF_TEST_TIMEOUT:-1200} \
		IVF_TESTS=$itests1 lab_suite "lab-iommufd-2" 1500
fi

# The sanitizer lane's verdicts, once it is done.
san_join

# A stock QEMU (the host's) live-migrating a real Linux guest whose igbvf
# drives the VF, inside the lab: its own boot, with two vCPUs for the nested
# QEMUs (selftests/tests/qemu_migrate.sh; about 8 min). On the IOMMUFD
# kernel below, QEMU opens the VF through iommufd and migrates it with the
# driver's DMA logging, under KASAN (precopy only: about 10 min; "precopy
# back" with IVF_QM_SCENARIOS_IOMMUFD). The same boot runs libvirt's tests
# (selftests/tests/libvirt.sh: two libvirtd in the lab guest bind the VF,
# driverctl, virsh migrate --live; about 8 min).
nested=
if [ -n "$qtests$qtestsi" ]; then
	prep_wait nested
	rc=$?
	nested=$(cat "$prep/nested.path" 2>/dev/null)
	[ $rc = 0 ] || tail -n 25 "$IVF_CACHE/logs/nested.log"
	verdict "nested guest image (Debian's kernel, busybox, seqflow)" $rc
	[ $rc = 0 ] || nested=
fi
[ -z "$qtests" ] || [ -z "$nested" ] ||
	IVF_SMP=2 IVF_NESTED=$nested IVF_TESTS=$qtests IVF_XK_IN=$xk_bpo \
		lab_suite "lab-qemu" 1500
# The stock QEMU through iommufd: its own boot of the IOMMUFD kernel, alone
# like the stock-QEMU boot (nested QEMUs miss their flow windows on a
# shared host).
[ -n "$nested" ] || qtestsi=
if [ -f "$prep/iommufd.ok" ] && [ -n "$qtestsi" ]; then
	IVF_KERNEL=iommufd IVF_SMP=2 IVF_NESTED=$nested IVF_QM_IOMMUFD=1 \
	IVF_QM_SCENARIOS="${IVF_QM_SCENARIOS_IOMMUFD:-precopy}" \
	IVF_TESTS=$qtestsi lab_suite "lab-iommufd-qemu" 1800
fi
summary
