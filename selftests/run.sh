#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The whole test suite: host checks (sparse/W=1 build, checkpatch, DKMS)
# and the lab tests in one guest boot. Prepares the machine first
# (selftests/vm/setup.sh). Ends with "N passed, N failed, N skipped" and
# exits non-zero on any failure.
#
#   IVF_TESTS="region_info traffic"   run only these lab tests
#   IVF_SKIP_HOST=1                   skip the host checks
set -uo pipefail
cd "$(dirname "$0")/.."
. selftests/vm/common.sh

pass=0 fail=0 skip=0
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

selftests/vm/setup.sh >/dev/null
verdict "lab setup (packages, guest kernel, initramfs)" $?
[ $fail = 0 ] || summary
KVER=$(ivf_kver)
KDIR=$(ivf_kdir "$KVER")

if [ -z "${IVF_SKIP_HOST:-}" ]; then
	out=$(make -s -C "$KDIR" M="$PWD" C=2 W=1 modules 2>&1)
	rc=$?
	echo "$out" | grep -E 'warning|error' && rc=1
	verdict "module builds for $KVER with sparse and W=1, no warnings" $rc
	quiet selftests/checkpatch.sh
	verdict "checkpatch clean" $?
	quiet selftests/dkms.sh
	verdict "dkms add/build/install/remove for $KVER" $?
	quiet selftests/kbuild-iommufd.sh
	verdict "module builds with CONFIG_IOMMUFD_DRIVER (DMA logging), sparse and W=1 clean" $?
fi

make -s -C selftests
verdict "selftests build" $?

runfile=$(mktemp)
# The guest part takes 20-30 min under TCG (the host's speed varies 2-3x).
IVF_TIMEOUT=${IVF_TIMEOUT:-3600} IVF_NOBUILD=1 IVF_RUN_FILE=$runfile \
	selftests/vm/lab.sh run 'bash selftests/vm/suite.sh'
lab_rc=$?
# Our own run's directory: runs/latest may be another lab's by now.
run=$(cat "$runfile")
rm -f "$runfile"
if [ -f "$run/results" ]; then
	while read -r line; do
		name=$(echo "$line" | sed -E 's/^(not ok|ok|skip) ([^ ]+).*/\2/')
		case $line in
		"not ok"*) verdict "lab: $name" 1 ;;
		skip*) verdict "lab: $name" 4 ;;
		ok*) verdict "lab: $name" 0 ;;
		esac
	done <"$run/results"
else
	verdict "lab: the guest ran the suite" 1
fi
[ -s "$run/splats.txt" ]
verdict "guest kernel log free of WARN/BUG/Oops/lockdep/refcount splats" $((1 - $?))
[ $lab_rc = 0 ] || [ $fail != 0 ] || verdict "lab run exit status ($lab_rc)" 1
echo "# guest logs: $run"
summary
