#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Benchmarks, in the lab guest: our module against stock vfio-pci on the same
# VF in the same run (the programs rebind the VF and alternate the two drivers
# repeat by repeat, so host load drift hits both alike), then live migration
# between PF A and PF B under traffic. Prints the figures and a summary;
# exits non-zero if a benchmark could not run or lost frames.
set -uo pipefail
B=selftests/build
vf=${IVF_BENCH_VF:-$IVF_VF2}
reps=${IVF_BENCH_REPEATS:-5}
rc=0
out=$(mktemp)

bench() {
	echo "## $*"
	"$@" | tee -a "$out" || rc=1
}
bench $B/bench_fps --compare --len 60 "$vf" 20000 "$reps"
bench $B/bench_fps --compare --len 1514 "$vf" 5000 "$reps"
bench $B/bench_latency --compare "$vf" 20000 "$reps"
bench $B/bench_dirty "$vf" "${IVF_BENCH_DIRTY_FRAMES:-4000}" "$reps" "${IVF_BENCH_DIRTY_MIB:-256}"
# live migration VF0 (PF A) <-> DST (PF B) under traffic at a fixed load
if [ -n "${IVF_DST:-}" ]; then
	bench $B/bench_migration --rate "${IVF_BENCH_MIG_RATE:-1000}" "$reps"
else
	echo "# no IVF_DST (destination VF): migration benchmark skipped"
fi

echo "## summary (median of $reps repeats, min..max)"
grep -E '^# (fps|fps-ratio|latency|latency-ratio|mig|dirty-[a-z-]*) ' "$out" | grep -v 'op=clock' | sed 's/^# /#   /'
rm -f "$out"
exit $rc
