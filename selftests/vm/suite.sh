#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The lab part of the test suite, run inside the guest by selftests/run.sh
# (through lab.sh). Each test runs with a timeout; its output goes to the
# console and to $IVF_OUT/<name>.log, its verdict to $IVF_OUT/results.
set -u
B=selftests/build
res=$IVF_OUT/results
: >"$res"

run_test() {
	local name=$1 rc
	shift
	echo "=== $name"
	local t0=$SECONDS
	timeout "${IVF_TEST_TIMEOUT:-600}" "$@" 2>&1 | tee "$IVF_OUT/$name.log"
	rc=${PIPESTATUS[0]}
	case $rc in
	0) echo "ok $name $((SECONDS - t0))s" >>"$res" ;;
	4) echo "skip $name" >>"$res" ;;
	*) echo "not ok $name (exit $rc) $((SECONDS - t0))s" >>"$res" ;;
	esac
	# A test must leave the device usable; if it did not, say so.
	if dmesg | grep -qE 'WARNING:|BUG:|Oops|refcount_t|DEBUG_LOCKS_WARN_ON|INFO: possible'; then
		echo "# kernel log has a splat after $name"
	fi
}

# NAME_cdev: the test through the device's cdev and iommufd, dirty pages
# through DMA logging; NAME_log: through the group and container, dirty
# pages through DMA logging (both need IVF_KERNEL=iommufd).
for t in ${IVF_TESTS:-region_info bar_access invalidate mailbox traffic migration_fsm migration_stream stream_xkernel_save migration_reset stale_fd reset_race migration_pfdown migrate tracker_arcs log_flood dirty_exact dirty_contract dirty_map dirty_vmm dirty_log unmap_race hostile_guest bind bench}; do
	case $t in
	dirty_log) run_test "$t" "$B/$t" ;;
	*_cdev) run_test "$t" env IVF_VFIO=cdev IVF_DIRTY=log "$B/${t%_cdev}" ;;
	*_log) run_test "$t" env IVF_VFIO=group IVF_DIRTY=log "$B/${t%_log}" ;;
	bind) run_test bind bash selftests/tests/bind.sh ;;
	# A device state across boots (kernels): _save keeps it in this
	# run's directory, _resume takes IVF_XK_IN's (a former run's, given
	# by run.sh; SKIP without), stream_xkernel does both.
	stream_xkernel_save)
		run_test "$t" env -u IVF_XK_IN IVF_XK_SAVE="$IVF_OUT/xk" \
			"$B/stream_xkernel" ;;
	stream_xkernel_resume)
		run_test "$t" env -u IVF_XK_SAVE "$B/stream_xkernel" ;;
	stream_xkernel)
		run_test "$t" env IVF_XK_SAVE="$IVF_OUT/xk" "$B/stream_xkernel" ;;
	qemu_migrate) IVF_TEST_TIMEOUT=${IVF_TEST_TIMEOUT:-3000} run_test "$t" bash selftests/tests/qemu_migrate.sh ;;
	libvirt) IVF_TEST_TIMEOUT=${IVF_TEST_TIMEOUT:-1200} run_test "$t" bash selftests/tests/libvirt.sh ;;
	bench) IVF_TEST_TIMEOUT=${IVF_TEST_TIMEOUT:-1200} run_test bench bash selftests/bench/run.sh ;;
	*) run_test "$t" "$B/$t" ;;
	esac
done
cat "$res"
! grep -q '^not ok' "$res"
