#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The benchmarks (`make bench`), in a lab boot of their own, not in the
# test run: prepares the machine if it must (selftests/vm/setup.sh; the
# first time a few minutes), builds the module and the selftests for the
# lab's kernel and boots the guest (lab.sh), which runs selftests/bench/
# run.sh: our module against stock vfio-pci on the same VF, alternated
# repeat by repeat, then the tracker's cost and a live migration. Its
# output streams to this terminal as it runs; the summary is printed again
# at the end, with the run's directory. Exits non-zero if a benchmark
# could not run or lost frames, or on a splat in the guest's kernel log.
#
#   IVF_BENCH_REPEATS=9 make bench     repeats per benchmark (default 5)
#   IVF_BENCH_VF, IVF_BENCH_DIRTY_FRAMES, IVF_BENCH_DIRTY_MIB,
#   IVF_BENCH_MIG_RATE                 see selftests/bench/run.sh
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
. selftests/vm/common.sh

selftests/vm/setup.sh >/dev/null || die "selftests/vm/setup.sh failed"
runfile=$(mktemp)
IVF_TESTS=bench IVF_RUN_FILE=$runfile \
	selftests/vm/lab.sh run 'bash selftests/vm/suite.sh'
rc=$?
run=$(cat "$runfile")
rm -f "$runfile"
echo
if [ -f "$run/bench.log" ] && grep -q '^## summary' "$run/bench.log"; then
	sed -n '/^## summary/,$p' "$run/bench.log"
else
	echo "bench: no figures: see console.log in ${run:-the run directory}"
fi
res=$(cat "$run/results" 2>/dev/null)
echo "# ${res:-bench: did not finish}; logs in $run"
exit $rc
