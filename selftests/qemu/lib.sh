# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
# Helpers for running a stock QEMU inside the lab guest (sourced by
# selftests/tests/qemu_migrate.sh). Each nested QEMU is NAME: its QMP socket
# $QM/NAME.qmp, its console log $QM_LOG/NAME.log (ttyS0: the nested kernel
# and seqflow's status lines), its command pipe $QM/NAME.cmd.in (ttyS1: a
# shell in the nested guest), its stderr $QM_LOG/NAME.err (what QEMU itself
# reports, e.g. why a migration failed).
QEMU=${QEMU:-qemu-system-x86_64}
QMPC=${QMPC:-selftests/qemu/build/qmp}
QM=${QM:-/tmp/qm}
QM_LOG=${QM_LOG:-$QM}
QM_MEM=${QM_MEM:-256}
mkdir -p "$QM" "$QM_LOG"

# qm_start NAME KIND [QEMU ARGS...]: start a nested QEMU in the background.
# KIND: linux (the nested Linux guest, NESTED_KERNEL + NESTED_INITRD) or
# firmware (no kernel: SeaBIOS finds nothing to boot and idles).
qm_start() {
	local name=$1 kind=$2
	shift 2
	rm -f "$QM/$name".{qmp,pid,cmd.in,cmd.out}
	mkfifo "$QM/$name.cmd.in" "$QM/$name.cmd.out"
	# A name started again (a migration back) appends to its logs.
	echo "=== $name started $(date +%T)" >>"$QM_LOG/$name.log"
	local boot=()
	if [ "$kind" = linux ]; then
		boot=(-kernel "$NESTED_KERNEL" -initrd "$NESTED_INITRD"
		      -append "console=ttyS0 panic=-1 no_timer_check loglevel=5 seqpeer=$NESTED_PEER_MAC seqiv=${NESTED_IV:-500}")
	fi
	# QEMU trace events into $QM_LOG/NAME.trace, each with its wall-clock
	# time (-msg timestamp=on): always the VF's migration arcs (the tests
	# measure the VF's blackout from them), plus IVF_QM_TRACE (e.g.
	# "vfio_migration* vfio_pci_reset*").
	local t
	for t in vfio_migration_set_device_state ${IVF_QM_TRACE:-}; do
		boot+=(-trace "$t")
	done
	boot+=(-msg timestamp=on -D "$QM_LOG/$name.trace")
	echo "# $name: $QEMU ... $*" >>"$QM_LOG/$name.err"
	"$QEMU" -accel tcg -machine q35 -m "$QM_MEM" -nodefaults -no-user-config \
		-display none "${boot[@]}" \
		-chardev file,id=con,path="$QM_LOG/$name.log" -serial chardev:con \
		-chardev pipe,id=cmd,path="$QM/$name.cmd" -serial chardev:cmd \
		-qmp unix:"$QM/$name.qmp",server=on,wait=off \
		-pidfile "$QM/$name.pid" "$@" \
		</dev/null >>"$QM_LOG/$name.err" 2>&1 &
	echo $! >"$QM/$name.ppid"
	local i
	for ((i = 0; i < 300; i++)); do
		[ -S "$QM/$name.qmp" ] && return 0
		kill -0 "$(cat "$QM/$name.ppid")" 2>/dev/null || break
		sleep 0.1
	done
	echo "# $name: QEMU did not start:"
	sed 's/^/#   /' "$QM_LOG/$name.err" | tail -n 5
	return 1
}

qm_alive() { kill -0 "$(cat "$QM/$1.ppid" 2>/dev/null)" 2>/dev/null; }

# qm_stop NAME: quit (QMP), then kill if it lingers.
# Wait up to 10 s for PID (a child) to exit, then kill it.
pid_reap() { # PID
	local i
	for ((i = 0; i < 100; i++)); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}
qm_stop() {
	local pid
	pid=$(cat "$QM/$1.ppid" 2>/dev/null) || return 0
	qmp "$1" quit >/dev/null 2>&1
	pid_reap "$pid"
	rm -f "$QM/$1.ppid"
}
# seqflow's counters, the guest's and the peer's: snap NAME VAR sets
# VAR[key] from the guest's last status line (on its console: flow 1 sent;
# 2, 3, 4 received) and the peer's status file (QM_PEER_STATUS, default
# $QM/peer.status; its flow 1 is group QM_PEER_RX, default 2): sent, rx2
# lost2 dup2 reord2 gap2 sgap2, rx3, rx4, prx plost pdup preord pgap psgap
# (empty when not there yet), and t (when, epoch seconds). One awk a
# snapshot: flowing() takes several a second next to the nested QEMUs, and
# on the sanitizer kernel a snapshot that forked a dozen programs took 30 s.
SNAP_AWK='
function val(line, grp, key,   gs, a, n, i, v) {
	if (split(line, gs, / [|] /) < grp)
		return ""
	n = split(gs[grp], a, " ")
	for (i = 1; i <= n; i++)
		if (index(a[i], key "=") == 1) {
			v = substr(a[i], length(key) + 2)
			return v ~ /^-?[0-9]+$/ ? v : ""
		}
	return ""
}
function put(k, v) { printf "[%s]=%s ", k, v }
BEGIN {
	re = "^t=[0-9]+ tx flow=1 .* max=-?[0-9]+ [|] rx flow=3 .* max=-?[0-9]+ [|] rx flow=4 .* max=-?[0-9]+.?$"
	# the last complete line: the file grows as QEMU gets the bytes, so
	# its last line is never taken
	while ((getline l < con) > 0) {
		if (n++ && prev ~ re)
			g = prev
		prev = l
	}
	getline p < peer
	put("sent", val(g, 1, "sent"))
	put("rx2", val(g, 2, "rx")); put("lost2", val(g, 2, "lost"))
	put("dup2", val(g, 2, "dup")); put("reord2", val(g, 2, "reord"))
	put("gap2", val(g, 2, "gap_ms")); put("sgap2", val(g, 2, "sgap_ms"))
	put("rx3", val(g, 3, "rx")); put("rx4", val(g, 4, "rx"))
	put("prx", val(p, pg, "rx")); put("plost", val(p, pg, "lost"))
	put("pdup", val(p, pg, "dup")); put("preord", val(p, pg, "reord"))
	put("pgap", val(p, pg, "gap_ms")); put("psgap", val(p, pg, "sgap_ms"))
}'
snap() { # NAME VAR
	eval "$2=($(awk -v con="$QM_LOG/$1.log" \
		-v peer="${QM_PEER_STATUS:-$QM/peer.status}" \
		-v pg="${QM_PEER_RX:-2}" "$SNAP_AWK") [t]=$EPOCHREALTIME)"
}

# Both directions of seqflow flow: the guest's and the peer's receive
# counts grow within SECONDS.
flowing() { # NAME SECONDS
	local -A a b
	local end t0=$SECONDS

	# The window starts after the first snapshot, and is looked at at
	# least once.
	snap "$1" a
	end=$((SECONDS + $2))
	while :; do
		sleep 0.5
		snap "$1" b
		((${b[rx2]:-0} > ${a[rx2]:-0} && ${b[prx]:-0} > ${a[prx]:-0})) && return 0
		((SECONDS < end)) || break
	done
	# what it saw: the guest's and the peer's counts, first and last
	echo "# $1: in $((SECONDS - t0)) s the guest's rx went ${a[rx2]:-none} -> ${b[rx2]:-none}, its sent ${a[sent]:-none} -> ${b[sent]:-none}, the peer's rx ${a[prx]:-none} -> ${b[prx]:-none}"
	return 1
}

qmp() { # NAME COMMAND [ARGS_JSON]
	local n=$1
	shift
	"$QMPC" "$QM/$n.qmp" "$@"
}

# qm_cmd NAME 'shell line': run in the nested guest (ttyS1).
qm_cmd() { echo "$2" >"$QM/$1.cmd.in"; }

# qm_run NAME 'shell line' [TIMEOUT]: run it and wait until the guest has
# (a line still in QEMU's serial buffer at a switchover would be lost).
QM_RUNS=0
qm_run() {
	QM_RUNS=$((QM_RUNS + 1))
	qm_cmd "$1" "$2; echo nested-done-$QM_RUNS."
	wait_for "${3:-20}" "grep -aq '^nested-done-$QM_RUNS[.]' '$QM_LOG/$1.log'"
}

# The last seqflow status line the nested guest printed on its console
# (for a diagnosis; snap() reads the same line).
guest_status() {
	sed '$d' "$QM_LOG/$1.log" |
		grep -aE '^t=[0-9]+ tx flow=1 .* max=-?[0-9]+ [|] rx flow=3 .* max=-?[0-9]+ [|] rx flow=4 .* max=-?[0-9]+.?$' |
		tail -n 1
}

# wait_for SECONDS 'condition': poll every 0.5 s
wait_for() {
	local end=$((SECONDS + $1))
	while ((SECONDS < end)); do
		eval "$2" && return 0
		sleep 0.5
	done
	eval "$2"
}
