# SPDX-License-Identifier: GPL-2.0
# suite.sh's reading of a kselftest-harness test's TAP (see there).
# Input: first the cases the run was to report (one full name a line, file
# 1), then the run's output (file 2); -v rc (its exit status), secs, name
# Output: results lines.
FNR == NR {
	want[++n] = $0
	seen[$0] = ""
	next
}
/^(not )?ok [0-9]+ / {
	v = $1 == "not" ? "not ok" : "ok"
	c = $1 == "not" ? $4 : $3
	if (!(c in seen))
		next
	if (v == "ok" && match($0, / # SKIP ?/)) {
		v = "skip"
		why[c] = substr($0, RSTART + RLENGTH)
	}
	seen[c] = v
	got++
}
function group(c) {
	sub(/\.[^.]*$/, "", c)
	return c
}
END {
	# a variant the kernel cannot do: all its cases skip, one line for it
	for (i = 1; i <= n; i++) {
		g = group(want[i])
		cases[g]++
		if (seen[want[i]] == "skip")
			skips[g]++
	}
	for (i = 1; i <= n; i++) {
		c = want[i]
		g = group(c)
		if (cases[g] > 1 && skips[g] == cases[g]) {
			if (!(g in told))
				printf "skip %s (%d cases: %s)\n", g, cases[g], why[c]
			told[g] = 1
		} else if (seen[c] == "") {
			printf "not ok %s (not reported: the binary ended with %s)\n", c, rc
		} else if (seen[c] == "skip") {
			printf "skip %s (%s)\n", c, why[c]
		} else {
			print seen[c], c
		}
	}
	if (got < n)
		printf "not ok %s (exit %s: %d of %d cases not reported) %ds\n", name, rc, n - got, n, secs
	else if (rc != 0 && rc != 4)
		printf "not ok %s (exit %s) %ds\n", name, rc, secs
}
