# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
# The shell tests' side of the kselftest harness's output, sourced by
# selftests/tests/*.sh, so that suite.sh reads them as it reads the C tests
# (run_harness, selftests/vm/harness-*.awk): one results line per case.
#
# A test names its cases first, then reports each exactly once:
#   ktap_plan FIXTURE CASE... -- "$@"
#	the cases this run will report, in order (a case is one promise,
#	named for it; measured values go in "# " lines, never in names).
#	With -l in the script's arguments: print them as the harness's -l
#	table does and exit 4 (KSFT_SKIP), before the test touches anything.
#	Otherwise print the plan: "TAP version 13", "1..N".
#   ktap_check CASE COMMAND...	ok if COMMAND succeeds, not ok otherwise
#   ktap_verdict CASE STATUS	ok if STATUS is 0
#   ktap_ok CASE / ktap_fail CASE [WHY] / ktap_skip CASE WHY
#   ktap_abort WHY		every case not reported yet: not ok; finish
#   ktap_finish			the same for cases not reached (an earlier
#				step they need failed), the harness's totals,
#				exit 1 if a case failed, 4 if all skipped
# Output, as the harness's: "ok N FIXTURE.CASE", "not ok N FIXTURE.CASE",
# "ok N FIXTURE.CASE # SKIP WHY"; diagnostics as "# ...".
# A script that dies (or is killed) before its end leaves cases unreported:
# suite.sh counts each of them as not ok, from the list (-l).

KTAP_FIXTURE=
KTAP_CASES=()
declare -A KTAP_SEEN
KTAP_N=0
KTAP_PASS=0
KTAP_FAIL=0
KTAP_SKIP=0

ktap_plan() { # FIXTURE CASE... -- ARGS...
	local c list=0 dup OPTIND=1
	KTAP_FIXTURE=$1
	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		dup=
		for c in "${KTAP_CASES[@]}"; do
			[ "$c" != "$1" ] || dup=1
		done
		[ -n "$dup" ] || KTAP_CASES+=("$1")
		shift
	done
	[ $# = 0 ] || shift
	while getopts lh c; do
		case $c in
		l) list=1 ;;
		*)
			echo "usage: $0 [-l]   (-l: list the cases)" >&2
			[ "$c" = h ] && exit 4
			exit 1
			;;
		esac
	done
	if [ $list = 1 ]; then
		echo "# FIXTURE            VARIANT                   TEST"
		for c in "${KTAP_CASES[@]}"; do
			printf '%-20s %-25s %s\n' "$KTAP_FIXTURE" "" "$c"
			KTAP_FIXTURE=
		done
		printf -- '-%.0s' {1..80}
		echo
		exit 4
	fi
	echo "TAP version 13"
	echo "1..${#KTAP_CASES[@]}"
	echo "# Starting ${#KTAP_CASES[@]} tests from 1 test cases."
	for c in "${KTAP_CASES[@]}"; do
		KTAP_SEEN[$c]=
	done
}

# ktap_report CASE ok|fail|skip [WHY]
ktap_report() {
	local c=$1 v=$2 why=${3:-}
	if [ -z "${KTAP_SEEN[$c]+x}" ]; then
		echo "# ktap: $KTAP_FIXTURE.$c is not in the plan (a bug in the test)"
		KTAP_FAIL=$((KTAP_FAIL + 1))
		return
	fi
	if [ -n "${KTAP_SEEN[$c]}" ]; then
		echo "# ktap: $KTAP_FIXTURE.$c reported again ($v${why:+: $why}; a bug in the test)"
		[ "$v" != fail ] || KTAP_FAIL=$((KTAP_FAIL + 1))
		return
	fi
	KTAP_SEEN[$c]=$v
	KTAP_N=$((KTAP_N + 1))
	case $v in
	ok)
		KTAP_PASS=$((KTAP_PASS + 1))
		echo "ok $KTAP_N $KTAP_FIXTURE.$c"
		;;
	skip)
		KTAP_SKIP=$((KTAP_SKIP + 1))
		echo "ok $KTAP_N $KTAP_FIXTURE.$c # SKIP $why"
		;;
	*)
		KTAP_FAIL=$((KTAP_FAIL + 1))
		[ -z "$why" ] || echo "# $c: $why"
		echo "not ok $KTAP_N $KTAP_FIXTURE.$c"
		;;
	esac
}

ktap_ok() { ktap_report "$1" ok; }
ktap_fail() { ktap_report "$1" fail "${2:-}"; }
ktap_skip() { ktap_report "$1" skip "$2"; }
ktap_verdict() { # CASE STATUS
	if [ "$2" = 0 ]; then ktap_ok "$1"; else ktap_fail "$1"; fi
}
ktap_check() { # CASE COMMAND...
	local c=$1
	shift
	if "$@"; then ktap_ok "$c"; else ktap_fail "$c"; fi
}

# Every case of the plan not reported yet: not ok, WHY in a "# " line
# before them.
ktap_rest_fail() { # WHY
	local c told=
	for c in "${KTAP_CASES[@]}"; do
		[ -z "${KTAP_SEEN[$c]}" ] || continue
		[ -n "$told" ] || echo "# $1: the cases below"
		told=1
		ktap_fail "$c"
	done
}

ktap_finish() {
	ktap_rest_fail "not reached (a step they need failed)"
	echo "# Totals: pass:$KTAP_PASS fail:$KTAP_FAIL xfail:0 xpass:0 skip:$KTAP_SKIP error:0"
	[ $KTAP_FAIL = 0 ] || exit 1
	[ $KTAP_SKIP = 0 ] || [ $KTAP_PASS != 0 ] || exit 4
	exit 0
}

ktap_abort() { # WHY
	ktap_rest_fail "$1"
	ktap_finish
}
