# SPDX-License-Identifier: GPL-2.0
# The full names (FIXTURE[.VARIANT].CASE) of a kselftest-harness binary's
# "-l" table: "%-20s %-25s %s" rows, a fixture's variants and cases side by
# side, fixtures apart by a row of dashes (names must fit their columns).
function trim(s) {
	gsub(/^ +| +$/, "", s)
	return s
}
function flush(   i, j) {
	for (i = 1; i <= nt && !nv; i++)
		print f "." t[i]
	for (j = 1; j <= nv; j++)
		for (i = 1; i <= nt; i++)
			print f "." v[j] "." t[i]
	nv = nt = 0
}
/^# FIXTURE/ { next }
/^---/ { flush(); next }
{
	a = trim(substr($0, 1, 20))
	b = trim(substr($0, 22, 25))
	c = trim(substr($0, 48))
	if (a != "") {
		flush()
		f = a
	}
	if (b != "")
		v[++nv] = b
	if (c != "")
		t[++nt] = c
}
END { flush() }
