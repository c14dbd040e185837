#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The lab part of the test suite, run inside the guest by selftests/run.sh
# (through lab.sh). Each test runs with a timeout; its output goes to the
# console and to $IVF_OUT/<name>.log, its verdicts to $IVF_OUT/results,
# one a line: "ok NAME ...", "not ok NAME ...", "skip NAME ...".
#
# Tests on the kernel's kselftest harness (their source includes
# kselftest_harness.h) are named in IVF_TESTS as
#   TEST                  every case of every variant
#   TEST:VARIANT          every case of one variant (a fixture variant:
#                         dirty_contract:container, :cdev_log, :group_log)
#   TEST:VARIANT:CASE     one case; TEST::CASE: that case in every variant
# and give one results line per case, NAME = the harness's own
# FIXTURE.VARIANT.CASE (dirty_contract.container.close_ends_tracking).
# A variant this kernel cannot do skips all its cases: that is one line,
# "skip FIXTURE.VARIANT (N cases: why)". Cases the binary did not report
# (it died or ran out of time) are "not ok", and so is the binary, by
# TEST. Every C test is on the harness. The shell tests (bind,
# qemu_migrate, libvirt: selftests/tests/TEST.sh on selftests/tests/ktap.sh)
# print the harness's output and list their cases with -l, and go the same
# way: one line per case, NAME = TEST.CASE (bind.override_binds). They run
# whole: no :VARIANT or :CASE. bench (the benchmarks, run only when named)
# gives one line.
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

is_harness() { # TEST
	grep -qs '^#include "kselftest_harness.h"' "selftests/tests/$1.c" ||
		grep -qs '^\. selftests/tests/ktap\.sh' "selftests/tests/$1.sh"
}

# what is left of a session (the harness runs each case in a process group
# of its own, which a timeout of the binary does not reach), by its id
end_session() { # SID
	local sid=$1 st f

	for st in /proc/[0-9]*/stat; do
		{ read -r f <"$st"; } 2>/dev/null || continue
		f=(${f##*) })	# state ppid pgrp session ...
		[ "${f[3]:-}" != "$sid" ] || kill -KILL "${st//[^0-9]/}" 2>/dev/null
	done
}

# A binary's case list (its -l, through harness-list.awk) in
# listed[COMMAND], asked once a run: starting a binary costs seconds on a
# sanitizer kernel, and stream_xkernel is asked a dozen times a boot. Not
# in a subshell, or the list is lost with it.
declare -A listed=()
list_cases() { # COMMAND...
	local key="$*"
	[ -n "${listed[$key]+set}" ] ||
		listed[$key]=$("$@" -l 2>&1 | awk -f selftests/vm/harness-list.awk)
}

run_harness() { # NAME TEST VARIANT CASE
	local name=$1 bin=$2 variant=$3 tcase=$4 rc c sid tmo=600
	local log=$IVF_OUT/${1//:/.}.log awk=selftests/vm/harness
	local -a cases=() args=() cmd=("$B/$bin")

	echo "=== $name"
	local t0=$SECONDS
	if [ -f "selftests/tests/$bin.sh" ]; then
		cmd=(bash "selftests/tests/$bin.sh")
		if [ -n "$variant$tcase" ]; then
			echo "not ok $name (a shell test runs all its cases)" >>"$res"
			return
		fi
		case $bin in
		qemu_migrate) tmo=3000 ;;
		libvirt) tmo=1200 ;;
		esac
	fi
	# the cases to run, from the binary's own list
	list_cases "${cmd[@]}"
	while read -r c; do
		[ -n "$c" ] || continue
		[ -z "$variant" ] || [[ $c == *".$variant."* ]] || continue
		[ -z "$tcase" ] || [[ $c == *".$tcase" ]] || continue
		cases+=("$c")
		[ -z "$variant$tcase" ] || args+=(-r "$c")
	done <<<"${listed[${cmd[*]}]}"
	if [ ${#cases[@]} = 0 ]; then
		echo "not ok $name (no such case in ${cmd[*]} -l)" >>"$res"
		return
	fi
	printf '%s\n' "${cases[@]}" >"$log.cases"
	setsid -w bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$log.sid" \
		timeout "${IVF_TEST_TIMEOUT:-$tmo}" "${cmd[@]}" "${args[@]}" 2>&1 |
		tee "$log"
	rc=${PIPESTATUS[0]}
	sid=$(cat "$log.sid" 2>/dev/null) && end_session "$sid"
	awk -v rc="$rc" -v secs=$((SECONDS - t0)) -v name="$name" \
		-f "$awk-tap.awk" "$log.cases" "$log" >>"$res"
	rm -f "$log.sid"
	echo "# $name: ${#cases[@]} cases in $((SECONDS - t0)) s (exit $rc)"
	if dmesg | grep -qE 'WARNING:|BUG:|Oops|refcount_t|DEBUG_LOCKS_WARN_ON|INFO: possible'; then
		echo "# kernel log has a splat after $name"
	fi
}

# Benchmarks (bench) run only when named.
# "all" (the default): every test of the main boot, benchmarks not included.
all="region_info bar_access invalidate mailbox traffic vf_driver migration_fsm migration_stream stream_xkernel_save migration_reset stale_fd reset_race migration_pfdown migrate tracker_arcs log_flood dirty_exact dirty_contract dirty_map dirty_vmm dirty_log unmap_race hostile_guest bind"
tests=${IVF_TESTS:-all}
tests=" $tests "
tests=${tests/ all / $all }
# A device state across boots (kernels), stream_xkernel's cases: _save
# runs its save_ cases into this run's directory, _resume its resume_
# cases from IVF_XK_IN's (a former run's, given by run.sh; SKIP without),
# stream_xkernel both (caught before the harness dispatch, which would run
# it with nothing to save into). One harness run per case name (in both
# variants): run_harness picks a case by its full name only.
xk_cases() { # PREFIX: stream_xkernel's case names that start with it
	printf '%s\n' "${listed[$B/stream_xkernel]}" |
		sed -n "s/.*\\.\\($1[a-z0-9_]*\\)\$/\\1/p" | awk '!seen[$0]++'
}

run_xk() { # NAME
	local c
	list_cases "$B/stream_xkernel"
	[ "$1" = stream_xkernel_save ] ||
		for c in $(xk_cases resume_); do
			IVF_XK_SAVE= run_harness "$1:$c" stream_xkernel "" "$c"
		done
	[ "$1" = stream_xkernel_resume ] ||
		for c in $(xk_cases save_); do
			IVF_XK_SAVE="$IVF_OUT/xk" \
				run_harness "$1:$c" stream_xkernel "" "$c"
		done
}

for t in $tests; do
	case $t in
	stream_xkernel|stream_xkernel_save|stream_xkernel_resume)
		run_xk "$t"
		continue ;;
	esac
	h=${t%%:*}
	if is_harness "$h"; then
		IFS=: read -r _ v c <<<"$t"
		run_harness "$t" "$h" "$v" "$c"
		continue
	fi
	case $t in
	bench) IVF_TEST_TIMEOUT=${IVF_TEST_TIMEOUT:-1200} run_test bench bash selftests/bench/run.sh ;;
	*) run_test "$t" "$B/$t" ;;
	esac
done
cat "$res"
! grep -q '^not ok' "$res"
