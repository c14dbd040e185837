#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# A stock QEMU live-migrates a real Linux guest through igbvf-vfio-pci.
#
# Runs in the lab guest (IVF_* from selftests/vm/guest.sh). The host's own
# QEMU (Debian's, bookworm-backports) boots a small Linux guest (Debian's
# kernel, a busybox initramfs: selftests/vm/nested.sh) under TCG, with PF A's
# VF0 passed through (-device vfio-pci,host=VF,enable-migration=on); the
# guest's stock igbvf drives it. seqflow runs in the guest and on the lab's
# e1000e peer: sequence-numbered frames both ways every 500 ms, so every lost,
# duplicated or reordered frame is counted. QEMU migrates the guest with its
# own monitor (QMP) over a unix socket, as a user would. Output as the
# kselftest harness's (selftests/tests/ktap.sh; -l lists the cases): one
# case per promise, named SCENARIO_PROMISE, figures in "#" lines, and a
# table of QEMU's own figures (query-migrate) at the end, next to the same
# guest migrated without a VF (an emulated e1000 on a tap bridge).
#
# Scenarios (IVF_QM_SCENARIOS, default all, in this order):
#   firmware  a guest with the VF that runs only firmware (no VF driver) and
#             the same without the VF: both converge
#   precopy   PF A -> PF B under traffic, QEMU's default settings
#   back      PF B -> PF A
#   cancel    migrate_cancel mid-precopy: the source keeps its traffic
#   refuse    a destination VF with another admin MAC refuses: QEMU's error
#             names the reason, the source keeps running
#   config    a multicast group and VLAN 100 added in the guest during
#             precopy reach the destination PF
#   idle      the guest's traffic stopped
#   defer     the destination as libvirt drives it: -S -incoming defer,
#             migrate-incoming, cont after the switch
#   baseline  the same Linux guest without a VF (e1000 on a tap bridge)
#
#   IVF_QM_DOWNTIME   downtime-limit in ms (default: QEMU's own, 300)
#   IVF_QM_IOMMUFD=1  QEMU opens the VF through iommufd (-object iommufd),
#                     on the lab's IOMMUFD kernel: dirty pages through the
#                     driver's DMA logging, no enable-migration needed
#   IVF_QM_TRACE      QEMU trace events for the nested QEMUs (lib.sh)
set -u
. selftests/tests/ktap.sh

# The cases of each scenario, in the order they are reported; after_switch
# reports the last three of a migration's (RUNS: its first, when the guest
# stays on the source).
after_cases() { # SCENARIO [RUNS]
	echo "${1}_${2:-guest_runs_on_destination}" \
		"${1}_traffic_goes_on_both_ways" \
		"${1}_frames_lost_within_blackout_in_order"
}
scenario_cases() { # SCENARIO
	case $1 in
	firmware)
		echo firmware_with_unused_vf_converges_and_migrates \
			firmware_without_vf_migrates ;;
	precopy | back)
		echo "${1}_qemu_completes_migration $(after_cases "$1")" ;;
	cancel)
		echo "cancel_qemu_cancels_migration" \
			"$(after_cases cancel source_keeps_running)" ;;
	refuse)
		echo refuse_migration_fails refuse_qemu_and_kernel_log_say_why \
			"$(after_cases refuse source_keeps_running)" ;;
	config)
		echo config_pf_filters_multicast_and_vlan_before \
			config_guest_joins_multicast_and_vlan_in_precopy \
			config_qemu_completes_migration \
			"$(after_cases config)" \
			config_multicast_reaches_guest_on_destination \
			config_vlan_reaches_guest_on_destination ;;
	idle)
		echo idle_qemu_completes_migration \
			idle_traffic_starts_again_both_ways ;;
	defer)
		echo defer_destination_takes_migrate_incoming \
			defer_qemu_completes_migration \
			defer_destination_waits_paused_for_cont \
			"$(after_cases defer)" ;;
	baseline)
		echo baseline_guest_boots_and_e1000_passes_frames \
			baseline_qemu_completes_migration \
			"$(after_cases baseline)" ;;
	*)	echo "scenario_${1//[^a-zA-Z0-9_]/_}_exists" ;;
	esac
}
scenarios=${IVF_QM_SCENARIOS:-firmware precopy back cancel refuse config idle defer baseline}
plan=()
for s in $scenarios; do
	case $s in
	firmware | baseline) ;;
	# the guest with the VF boots before the first scenario that uses it
	# (ktap_plan keeps the first of a name given again)
	*) plan+=(nested_guest_boots_and_vf_passes_frames) ;;
	esac
	# shellcheck disable=SC2207
	plan+=($(scenario_cases "$s"))
done
ktap_plan qemu_migrate "${plan[@]}" nested_kernels_log_no_splat_or_igbvf_error -- "$@"

. selftests/qemu/lib.sh
QM_LOG=$IVF_OUT/qemu
mkdir -p "$QM_LOG"
info() { echo "# $*"; }

# Debian's kernel, the one the image's modules are for (nested.sh names it
# nested-KVER-SUM.cpio.gz in the cache, next to kernel/KVER/); the lab's own
# may be the IOMMUFD one.
NESTED_KVER=${IVF_NESTED:-}; NESTED_KVER=${NESTED_KVER##*/nested-}
NESTED_KVER=${NESTED_KVER%-*.cpio.gz}
NESTED_KERNEL=${IVF_NESTED:-.}; NESTED_KERNEL=${NESTED_KERNEL%/*}/kernel/$NESTED_KVER/boot/vmlinuz-$NESTED_KVER
NESTED_INITRD=${IVF_NESTED:-}
MC=01:00:5e:01:02:03
VID=100
PEERNS=$IVF_PEER_NS
SEQFLOW=$PWD/selftests/qemu/build/seqflow
DBG=/sys/kernel/debug/igbvf-vfio-pci
# Scenarios that must still be in precopy when something happens (a cancel,
# a configuration change) cap the bandwidth, as a user may: at 8 MiB/s the
# first pass of this guest's 95 MB takes about 12 s here. QEMU's default
# is 128 MiB/s.
SLOW_BW=$((8 << 20))
CONFIG_BW=$((1 << 20))
DEFAULT_BW=$((128 << 20))
if [ ! -f "$NESTED_INITRD" ] || [ ! -f "$NESTED_KERNEL" ]; then
	ktap_abort "no nested guest image (IVF_NESTED: ${IVF_NESTED:-unset}) or kernel ($NESTED_KERNEL)"
fi
path="a type1 container"
[ -z "${IVF_QM_IOMMUFD:-}" ] || path=iommufd
info "qemu_migrate: $("$QEMU" --version | head -n1), nested guest ${NESTED_KERNEL##*/}, ${QM_MEM} MiB, VF through $path"

# --- the peer: seqflow in the peer's netns, flows 2 (unicast), 3
# (multicast) and 4 (VLAN 100) to the guest, counts flow 1 from it.
modprobe -q -d "$IVF_KROOT" -a 8021q tun bridge veth
PEER_VLAN=$IVF_PEER_IF.$VID
if ip -n "$PEERNS" link add link "$IVF_PEER_IF" name "$PEER_VLAN" type vlan id $VID; then
	ip -n "$PEERNS" link set "$PEER_VLAN" addrgenmode none
	ip -n "$PEERNS" link set "$PEER_VLAN" up
else
	info "no 802.1Q in this kernel: no VLAN flow (the config scenario needs one)"
	PEER_VLAN=
fi

# The VF on QEMU's command line: through the container (type1, Debian's
# kernels) or through iommufd.
vfdev() { # VF
	if [ -n "${IVF_QM_IOMMUFD:-}" ]; then
		echo "-object iommufd,id=iommufd0 -device vfio-pci,host=$1,iommufd=iommufd0"
	else
		echo "-device vfio-pci,host=$1,enable-migration=on"
	fi
}
PEER_PID=
peer_start() { # NS IF GUESTMAC [VLAN_IF]
	local vl=()
	[ -z "${4:-}" ] || vl=(tx:"$4":"$3":4)
	ip netns exec "$1" "$SEQFLOW" -i 500 -s "$QM/peer.status" -p 200 \
		tx:"$2":"$3":2 tx:"$2":$MC:3 "${vl[@]}" rx:"$2":1 \
		>"$QM_LOG/peer-$1.out" 2>&1 &
	PEER_PID=$!
	QM_PEER_RX=$((${#vl[@]} + 3))	# the status group of flow 1 (snap)
}
peer_stop() {
	[ -z "$PEER_PID" ] || kill "$PEER_PID" 2>/dev/null
	[ -z "$PEER_PID" ] || wait "$PEER_PID" 2>/dev/null
	PEER_PID=
	rm -f "$QM/peer.status"
}
cleanup() {
	local q
	for q in "$QM"/*.ppid; do
		[ -e "$q" ] || continue
		q=${q##*/}
		qm_stop "${q%.ppid}"
	done
	peer_stop
}
trap cleanup EXIT

# The gaps (longest silence) start over, both ends.
gaps_reset() { # NAME
	qm_run "$1" 'kill -USR1 $(pidof seqflow)' ||
		info "$1: the guest did not take its command"
	[ -z "$PEER_PID" ] || kill -USR1 "$PEER_PID"
}

# The nested Linux guest booted and passes frames both ways.
boot_guest() { # NAME DEVICE ARGS...
	local name=$1 t0=$SECONDS
	shift
	qm_start "$name" linux "$@" || return 1
	if ! wait_for 900 "grep -aq '^t=' '$QM_LOG/$name.log'"; then
		info "$name: no status line from the nested guest in $((SECONDS - t0)) s"
		tail -n 20 "$QM_LOG/$name.log" | sed 's/^/#   /'
		return 1
	fi
	info "$name: booted in $((SECONDS - t0)) s: $(grep -a '^nested:' "$QM_LOG/$name.log" | tail -n1)"
	flowing "$name" 60
}

mig_field() { echo "$1" | jq -r "$2 // empty" 2>/dev/null; }

# Wait for the end of SRC's migration; sets MIG (QEMU's last query-migrate
# answer) and MIG_STATUS.
migrate_wait() { # SRC TIMEOUT
	local end=$((SECONDS + $2)) st
	while :; do
		MIG=$(qmp "$1" query-migrate 2>/dev/null)
		st=$(mig_field "$MIG" .return.status)
		case $st in
		completed | failed | cancelled) break ;;
		esac
		if ((SECONDS >= end)); then
			info "still $st after $2 s: $(echo "$MIG" | jq -c '.return | {status, "expected-downtime", ram: {transferred: .ram.transferred, "dirty-sync-count": .ram["dirty-sync-count"], "dirty-pages-rate": .ram["dirty-pages-rate"], remaining: .ram.remaining}}' 2>/dev/null)"
			break
		fi
		sleep 0.5
	done
	MIG_STATUS=$st
}

# The figures of one migration, as QEMU reports them.
FIG=()
declare -A FIGS
figures() { # KEY LABEL [EXTRA]
	local r=.return
	local tt dt st ram syncs vfio
	tt=$(mig_field "$MIG" "$r[\"total-time\"]")
	dt=$(mig_field "$MIG" "$r.downtime")
	st=$(mig_field "$MIG" "$r[\"setup-time\"]")
	ram=$(mig_field "$MIG" "$r.ram.transferred")
	syncs=$(mig_field "$MIG" "$r.ram[\"dirty-sync-count\"]")
	vfio=$(mig_field "$MIG" "$r.vfio.transferred")
	FIGS[$1.ram]=${ram:-0}
	FIGS[$1.downtime]=${dt:-}
	FIG+=("$(printf '%-9s %-10s %6s %5s %5s %9s %4s %6s %s' "$1" "$MIG_STATUS" \
		"${tt:--}" "${dt:--}" "${st:--}" "$(( ${ram:-0} / 1024 ))" \
		"${syncs:--}" "${vfio:--}" "${3:-}")")
	info "$2: QEMU: ${FIG[-1]}"
}

# A destination QEMU: NAME VF|- INCOMING [QEMU ARGS...]; VF "-": no VF.
dst_start() {
	local name=$1 vf=$2 inc=$3 dev=()
	shift 3
	rm -f "$QM/mig.sock"
	# shellcheck disable=SC2207
	[ "$vf" = - ] || dev=($(vfdev "$vf"))
	qm_start "$name" linux "${dev[@]}" "$@" -incoming "$inc" || return 1
	[ "$inc" = defer ] || wait_for 300 "[ -S '$QM/mig.sock' ]"
}

start_migration() { # SRC [max-bandwidth]
	[ -z "${IVF_QM_DOWNTIME:-}" ] ||
		qmp "$1" migrate-set-parameters "{\"downtime-limit\":$IVF_QM_DOWNTIME}" >/dev/null
	[ -z "${2:-}" ] ||
		qmp "$1" migrate-set-parameters "{\"max-bandwidth\":$2}" >/dev/null
	qmp "$1" migrate "{\"uri\":\"unix:$QM/mig.sock\"}" >/dev/null
}

# The tracker of the source VF as it runs (debugfs).
tracker() { # VF
	[ -r "$DBG/$1/dirty" ] && tr '\n' ' ' <"$DBG/$1/dirty"
}

# What the guest, its VF and the tracker look like (after a failure).
diagnose() { # NAME
	local vf
	for vf in "$here" "$there"; do
		info "$vf tracker: $(tracker "$vf")"
	done
	qm_run "$1" 'grep -e eth0 -e CPU /proc/interrupts; ip -s link show eth0' 20
	tail -n 14 "$QM_LOG/$1.log" | grep -av '^t=' | sed 's/^/#   /'
	guest_status "$1" | sed 's/^/#   /'
}

# The VF's blackout in the migration that started at T0 (epoch seconds), in
# ms: from the first arc of SRC's VF out of a running state (its queues
# stop) to the first arc of DST's VF to RUNNING after it (its queues run
# again), by the wall-clock times of QEMU's trace (lib.sh). Empty when the
# source's VF never stopped (a cancelled pre-copy) or a trace is missing.
blackout_ms() { # SRC DST T0
	awk -v t0="$3" -v src="$QM_LOG/$1.trace" -v dst="$QM_LOG/$2.trace" '
	function ts(l,  a) { split(l, a, "[@:]"); return a[2] + 0 }
	BEGIN {
		while ((getline l < src) > 0)
			if (l ~ /vfio_migration_set_device_state .* state (RUNNING_P2P|PRE_COPY_P2P|STOP_COPY|STOP)$/ &&
			    ts(l) >= t0) {
				s = ts(l)
				break
			}
		if (!s)
			exit
		while ((getline l < dst) > 0)
			if (l ~ /vfio_migration_set_device_state .* state RUNNING$/ &&
			    ts(l) > s) {
				printf "%d\n", (ts(l) - s) * 1000
				exit
			}
	}'
}

# After a switch from SRC to DST: the guest runs on DST, frames flow both
# ways, and the frames lost around the switch (counters since snapshot A)
# are no more than the peers sent while neither VF could take or send them
# (the blackout, from QEMU's trace), plus one in flight; and at most 2 each
# way (the goal at a 500 ms interval) whatever the blackout, when it is
# short. The goal itself is reported as met or not. The cases:
# after_cases SCENARIO [RUNS].
after_switch() { # SCENARIO DST A_VAR SRC [RUNS]
	local -n A=$3
	local -A b
	local w iv=${NESTED_IV:-500} bound=2 st
	st=$(qmp "$2" query-status | jq -r .return.status)
	info "$1: the guest on $2: $st"
	ktap_check "${1}_${5:-guest_runs_on_destination}" [ "$st" = running ]
	if ! flowing "$2" 30; then
		ktap_fail "${1}_traffic_goes_on_both_ways"
		diagnose "$2"
		return 1
	fi
	ktap_ok "${1}_traffic_goes_on_both_ways"
	sleep 2.5
	snap "$2" b
	local li=$((b[lost2] - A[lost2])) lo=$((b[plost] - A[plost]))
	local dups=$((b[dup2] - A[dup2] + b[pdup] - A[pdup]))
	local reord=$((b[reord2] - A[reord2] + b[preord] - A[preord]))
	info "$1: peer->guest: lost $li, longest silence ${b[gap2]} ms (${b[sgap2]} ms by the sender's clock); guest->peer: lost $lo, longest silence ${b[pgap]} ms (${b[psgap]} ms by the guest's clock); duplicated $dups, reordered $reord"
	w=$(blackout_ms "$4" "$2" "${A[t]}")
	[ -z "$w" ] || ((w / iv + 1 <= bound)) || bound=$((w / iv + 1))
	info "$1: the VF's blackout (source stops to destination runs, QEMU's trace): ${w:-none} ms; goal of at most 2 frames lost each way: $( ((li <= 2 && lo <= 2)) && echo met || echo missed)"
	info "$1: at most $bound frames may be lost each way (${iv} ms apart, ${w:-no} ms blackout): lost in $li, out $lo; duplicated $dups, reordered $reord"
	ktap_check "${1}_frames_lost_within_blackout_in_order" \
		[ $li -le $bound -a $lo -le $bound -a $dups = 0 -a $reord = 0 ]
	LOSS="in:$li/${b[gap2]}ms out:$lo/${b[pgap]}ms bo:${w:--}ms"
}

# One live migration SRC -> DST (already waiting) under traffic.
live_migration() { # KEY SRC DST SRC_VF [max-bandwidth]
	local -A a
	local t0=$SECONDS
	info "$1: $2 -> $3${4:+ (source VF $4)}"
	gaps_reset "$2"
	sleep 0.5
	snap "$2" a
	if ! start_migration "$2" "${5:-}"; then
		ktap_fail "${1}_qemu_completes_migration" "QEMU did not start the migration"
		return 1
	fi
	sleep 1
	[ "$4" = - ] || info "$1: source VF tracker: $(tracker "$4")"
	migrate_wait "$2" 900
	if [ "$MIG_STATUS" != completed ]; then
		figures "$1" "$1"
		info "$1: $MIG_STATUS after $((SECONDS - t0)) s"
		sed 's/^/#   src: /' "$QM_LOG/$2.err" | tail -n 6
		sed 's/^/#   dst: /' "$QM_LOG/$3.err" | tail -n 6
		ktap_fail "${1}_qemu_completes_migration"
		return 1
	fi
	info "$1: QEMU completed the migration in $(mig_field "$MIG" '.return["total-time"]') ms"
	ktap_ok "${1}_qemu_completes_migration"
	qm_stop "$2"
	LOSS=
	after_switch "$1" "$3" a "$2"
	figures "$1" "$1" "$LOSS"
	return 0
}

# The guest moves: the names of the QEMU and VF it runs on now, and of the
# other side.
swap() { local t=$cur; cur=$other; other=$t; t=$here; here=$there; there=$t; }

sc_firmware() {
	local vf tc
	# With the VF: nothing set up in it, the tracker has nothing to pin.
	for vf in "$IVF_VF0" -; do
		# shellcheck disable=SC2207
		local key=fw-vf dev=($(vfdev "$IVF_VF0")) ddev=($(vfdev "$IVF_DST"))
		if [ "$vf" = - ]; then
			key=fw-novf dev=() ddev=()
		fi
		tc=firmware_with_unused_vf_converges_and_migrates
		[ "$vf" != - ] || tc=firmware_without_vf_migrates
		qm_start f1 firmware "${dev[@]}" ||
			{ ktap_fail $tc "QEMU did not start"; continue; }
		sleep 3
		rm -f "$QM/mig.sock"
		qm_start f2 firmware "${ddev[@]}" -incoming "unix:$QM/mig.sock" &&
			wait_for 60 "[ -S '$QM/mig.sock' ]"
		start_migration f1
		sleep 1
		[ "$vf" = - ] || info "$key: source VF tracker: $(tracker "$IVF_VF0")"
		migrate_wait f1 120
		figures "$key" "$key"
		info "$key: $MIG_STATUS, dirty syncs $(mig_field "$MIG" '.return.ram["dirty-sync-count"]')"
		ktap_check $tc [ "$MIG_STATUS" = completed ]
		qm_stop f1
		qm_stop f2
	done
	if [ -n "${FIGS[fw-vf.ram]:-}" ] && [ "${FIGS[fw-novf.ram]:-0}" -gt 0 ]; then
		info "firmware: RAM sent with the VF / without: $(awk -v a="${FIGS[fw-vf.ram]}" -v b="${FIGS[fw-novf.ram]}" 'BEGIN { printf "%.3f", a / b }')"
	fi
}

sc_migrate() { # KEY [max-bandwidth]
	info "$1: $here -> $there"
	dst_start "$other" "$there" "unix:$QM/mig.sock" ||
		{ ktap_fail "${1}_qemu_completes_migration" "the destination QEMU did not start"; return; }
	live_migration "$1" "$cur" "$other" "$here" "${2:-}" && swap
}

# Wait for the migration from cur to other to end: SCENARIO_qemu_completes_
# migration; 1 (and the figures, and what the destination said) if it did
# not complete.
migrated() { # SCENARIO LABEL
	migrate_wait "$cur" 900
	info "$2: $MIG_STATUS"
	if [ "$MIG_STATUS" != completed ]; then
		figures "$1" "$2"
		sed 's/^/#   dst: /' "$QM_LOG/$other.err" | tail -n 6
		ktap_fail "${1}_qemu_completes_migration"
		return 1
	fi
	ktap_ok "${1}_qemu_completes_migration"
}

# A migration that did not happen: the destination goes, the source VF is
# back in RUNNING and the guest goes on there (counters since A_VAR).
source_goes_on() { # SCENARIO A_VAR
	qm_stop "$other"
	LOSS=
	after_switch "$1" "$cur" "$2" "$cur" source_keeps_running
	FIG[-1]="${FIG[-1]} $LOSS"
}

sc_cancel() {
	local -A a
	local key="cancel ($here -> $there)"
	info "$key"
	dst_start "$other" "$there" "unix:$QM/mig.sock" ||
		{ ktap_fail cancel_qemu_cancels_migration "the destination QEMU did not start"; return; }
	gaps_reset "$cur"
	sleep 0.5
	snap "$cur" a
	start_migration "$cur" $SLOW_BW
	wait_for 30 "[ \"\$(mig_field \"\$(qmp $cur query-migrate)\" .return.ram.transferred)\" -gt $((16 << 20)) ] 2>/dev/null"
	MIG=$(qmp "$cur" query-migrate)
	info "$key: cancelling at $(mig_field "$MIG" .return.status), $(( $(mig_field "$MIG" '.return.ram.transferred // 0') / 1024 )) KiB sent"
	qmp "$cur" migrate_cancel >/dev/null
	migrate_wait "$cur" 60
	qmp "$cur" migrate-set-parameters "{\"max-bandwidth\":$DEFAULT_BW}" >/dev/null
	figures cancel "$key"
	info "$key: $MIG_STATUS"
	ktap_check cancel_qemu_cancels_migration [ "$MIG_STATUS" = cancelled ]
	if [ "$MIG_STATUS" = completed ]; then
		qm_stop "$cur"
		swap
		return
	fi
	source_goes_on cancel a
}

sc_refuse() {
	local -A a
	local key="refuse ($here -> $IVF_DST2, another admin MAC)"
	local t0
	info "$key"
	dst_start "$other" "$IVF_DST2" "unix:$QM/mig.sock" ||
		{ ktap_fail refuse_migration_fails "the destination QEMU did not start"; return; }
	gaps_reset "$cur"
	sleep 0.5
	snap "$cur" a
	t0=$(dmesg | wc -l)
	start_migration "$cur"
	migrate_wait "$cur" 300
	figures refuse "$key"
	info "$key: $MIG_STATUS"
	ktap_check refuse_migration_fails [ "$MIG_STATUS" = failed ]
	wait_for 10 "! qm_alive $other"
	info "$key: destination QEMU: $(grep -a 'load of migration failed' "$QM_LOG/$other.err" | tail -n1)"
	info "$key: kernel: $(dmesg | tail -n +$((t0 + 1)) | grep -a 'igbvf-vfio-pci' | grep -a refused | tail -n1)"
	grep -aq 'load of migration failed: Cannot assign requested address' "$QM_LOG/$other.err" &&
		dmesg | tail -n +$((t0 + 1)) | grep -aq "$IVF_DST2: migration: the destination PF refused MAC"
	# the destination QEMU names the reason (EADDRNOTAVAIL), the kernel
	# log the MAC
	ktap_verdict refuse_qemu_and_kernel_log_say_why $?
	source_goes_on refuse a
}

sc_config() {
	local -A a b
	local key="config ($here -> $there)" st
	info "$key"
	snap "$cur" a
	info "$key: before: multicast frames received ${a[rx3]:-none}, VLAN $VID frames ${a[rx4]:-none}"
	ktap_check config_pf_filters_multicast_and_vlan_before \
		[ "${a[rx3]:-1}" = 0 -a "${a[rx4]:-1}" = 0 ]
	dst_start "$other" "$there" "unix:$QM/mig.sock" ||
		{ ktap_fail config_guest_joins_multicast_and_vlan_in_precopy "the destination QEMU did not start"; return; }
	gaps_reset "$cur"
	sleep 0.5
	snap "$cur" a
	# Precopy slow enough to outlast the guest's three commands (at 8
	# MiB/s it sent the nested guest's ~94 MiB in 11 s, and on a slower
	# host the commands took longer), full speed once they are done.
	start_migration "$cur" $CONFIG_BW
	wait_for 30 "[ \"\$(mig_field \"\$(qmp $cur query-migrate)\" .return.ram.transferred)\" -gt 0 ] 2>/dev/null"
	qm_cmd "$cur" "vconfig add eth0 $VID && ip link set eth0.$VID up && mcjoin eth0 $MC && echo nested-config-done"
	wait_for 60 "grep -aq '^nested-config-done' '$QM_LOG/$cur.log'"
	st=$(mig_field "$(qmp "$cur" query-migrate)" .return.status)
	# Done: full speed again, so that precopy converges.
	qmp "$cur" migrate-set-parameters "{\"max-bandwidth\":$DEFAULT_BW}" >/dev/null
	info "$key: the guest joined $MC and added VLAN $VID: $(grep -aq '^nested-config-done' "$QM_LOG/$cur.log" && echo 'done' || echo no); the migration then: $st"
	grep -aq '^nested-config-done' "$QM_LOG/$cur.log" && [ "$st" = active ]
	ktap_verdict config_guest_joins_multicast_and_vlan_in_precopy $?
	migrated config "$key" || return
	qm_stop "$cur"
	swap
	LOSS=
	after_switch config "$cur" a "$other"
	figures config "$key" "$LOSS"
	info "$key: destination's PF configuration: $(tr '\n' ' ' <"$DBG/$here/pf_config")"
	snap "$cur" a
	sleep 3
	snap "$cur" b
	info "$key: on the destination PF in 3 s: $((b[rx3] - a[rx3])) multicast $MC frames, $((b[rx4] - a[rx4])) VLAN $VID frames"
	ktap_check config_multicast_reaches_guest_on_destination \
		[ $((b[rx3] - a[rx3])) -ge 3 ]
	ktap_check config_vlan_reaches_guest_on_destination \
		[ $((b[rx4] - a[rx4])) -ge 3 ]
}

sc_idle() {
	local -A a b
	local key="idle ($here -> $there)"
	info "$key"
	dst_start "$other" "$there" "unix:$QM/mig.sock" ||
		{ ktap_fail idle_qemu_completes_migration "the destination QEMU did not start"; return; }
	qm_run "$cur" 'kill -STOP $(pidof seqflow)'
	kill -STOP "$PEER_PID"
	sleep 2
	snap "$cur" a
	start_migration "$cur"
	sleep 1
	info "$key: source VF tracker: $(tracker "$here")"
	migrate_wait "$cur" 900
	figures idle "$key"
	info "$key: $MIG_STATUS"
	if [ "$MIG_STATUS" != completed ]; then
		ktap_fail idle_qemu_completes_migration
		kill -CONT "$PEER_PID"
		return
	fi
	ktap_ok idle_qemu_completes_migration
	qm_stop "$cur"
	swap
	kill -CONT "$PEER_PID"
	qm_run "$cur" 'kill -CONT $(pidof seqflow)'
	ktap_check idle_traffic_starts_again_both_ways flowing "$cur" 30
}

sc_defer() {
	local -A a
	local key="defer ($here -> $there, as libvirt)"
	info "$key"
	rm -f "$QM/mig.sock"
	# shellcheck disable=SC2046
	qm_start "$other" linux $(vfdev "$there") -S -incoming defer ||
		{ ktap_fail defer_destination_takes_migrate_incoming "the destination QEMU did not start"; return; }
	qmp "$other" migrate-set-capabilities '{"capabilities":[{"capability":"events","state":true}]}' >/dev/null
	qmp "$cur" migrate-set-capabilities '{"capabilities":[{"capability":"events","state":true}]}' >/dev/null
	ktap_check defer_destination_takes_migrate_incoming \
		qmp "$other" migrate-incoming "{\"uri\":\"unix:$QM/mig.sock\"}"
	wait_for 30 "[ -S '$QM/mig.sock' ]"
	gaps_reset "$cur"
	sleep 0.5
	snap "$cur" a
	start_migration "$cur"
	# libvirt's Finish phase: cont as soon as the destination has loaded
	# the guest and waits, paused; then the source goes away.
	local dst_st= i out
	for ((i = 0; i < 6000; i++)); do
		# no jq here: every process costs time while frames drop
		out=$(qmp "$other" query-status) || break
		[[ $out == *'"status": "inmigrate"'* ]] || break
		sleep 0.05
	done
	[[ $out != *'"status": "paused"'* ]] || qmp "$other" cont >/dev/null
	[[ $out =~ \"status\":\ \"([a-z-]+)\" ]] && dst_st=${BASH_REMATCH[1]}
	migrated defer "$key" || return
	info "$key: the destination before cont: ${dst_st:-no status}"
	ktap_check defer_destination_waits_paused_for_cont [ "$dst_st" = paused ]
	qm_stop "$cur"
	swap
	LOSS=
	after_switch defer "$cur" a "$other"
	figures defer "$key" "$LOSS"
}

# The same guest without a VF: an emulated e1000 on a tap, bridged to a
# seqflow peer in its own netns. The VF's cost is the difference.
sc_baseline() {
	local key="baseline (e1000, no VF)" mac=$IVF_VF0_MAC pmac
	ip link add qbr0 type bridge
	ip link set qbr0 up
	ip link add vb0 type veth peer name vb1
	ip netns add ivfbase
	ip link set vb1 netns ivfbase
	ip link set vb0 master qbr0 up
	ip -n ivfbase link set vb1 addrgenmode none
	ip -n ivfbase link set vb1 up
	ip tuntap add qtap0 mode tap
	ip tuntap add qtap1 mode tap
	ip link set qtap0 master qbr0 up
	ip link set qtap1 master qbr0 up
	pmac=$(ip -n ivfbase -o link show vb1 | sed -E 's/.*link\/ether ([0-9a-f:]+).*/\1/')
	peer_stop
	peer_start ivfbase vb1 "$mac"
	local nic=(-netdev tap,id=n0,ifname=qtap0,script=no,downscript=no
		   -device e1000,netdev=n0,mac="$mac")
	info "$key"
	if ! NESTED_PEER_MAC=$pmac boot_guest b1 "${nic[@]}"; then
		ktap_fail baseline_guest_boots_and_e1000_passes_frames
		return
	fi
	ktap_ok baseline_guest_boots_and_e1000_passes_frames
	nic[1]=tap,id=n0,ifname=qtap1,script=no,downscript=no
	NESTED_PEER_MAC=$pmac dst_start b2 - "unix:$QM/mig.sock" "${nic[@]}" ||
		{ ktap_fail baseline_qemu_completes_migration "the destination QEMU did not start"; return; }
	live_migration baseline b1 b2 -
}

cur=g1 other=g2 here=$IVF_VF0 there=$IVF_DST
booted=
for s in $scenarios; do
	info "--- $s"
	case $s in
	firmware) sc_firmware; continue ;;
	baseline)
		cleanup
		sc_baseline
		continue
		;;
	esac
	if [ -z "$booted" ]; then
		booted=1
		NESTED_PEER_MAC=$IVF_PEER_MAC
		peer_start "$PEERNS" "$IVF_PEER_IF" "$IVF_VF0_MAC" "$PEER_VLAN"
		# shellcheck disable=SC2046
		# the nested guest boots with PF A's VF0, its igbvf passes
		# frames both ways
		if ! boot_guest "$cur" $(vfdev "$here"); then
			ktap_fail nested_guest_boots_and_vf_passes_frames
			break
		fi
		ktap_ok nested_guest_boots_and_vf_passes_frames
	fi
	case $s in
	precopy | back) sc_migrate "$s" ;;
	cancel) sc_cancel ;;
	refuse) sc_refuse ;;
	config) sc_config ;;
	idle) sc_idle ;;
	defer) sc_defer ;;
	*) ktap_fail "scenario_${s//[^a-zA-Z0-9_]/_}_exists" "no scenario $s" ;;
	esac
done
cleanup

# The nested guests' kernels: no splat, no igbvf complaint (a TX hang, a
# reset, a mailbox timeout) in any of them.
splats=$(cat "$QM_LOG"/*.log 2>/dev/null |
	grep -aE 'WARNING:|BUG:|Oops|Call Trace|Tx Unit Hang|igbvf.*(timeout|reset|Reset|fail)' | head -n 5)
if [ -n "$splats" ]; then
	echo "$splats" | sed 's/^/#   /'
fi
ktap_check nested_kernels_log_no_splat_or_igbvf_error [ -z "$splats" ]

echo "# QEMU's figures (query-migrate): scenario, status, total ms, downtime ms, setup ms, RAM KiB, dirty syncs, VFIO bytes, frames lost/longest silence"
for l in "${FIG[@]}"; do
	echo "#   $l"
done
for k in precopy back; do
	if [ "${FIGS[$k.ram]:-0}" -gt 0 ] && [ "${FIGS[baseline.ram]:-0}" -gt 0 ]; then
		info "the VF's cost ($k against the baseline): RAM sent x$(awk -v a="${FIGS[$k.ram]}" -v b="${FIGS[baseline.ram]}" 'BEGIN { printf "%.3f", a / b }'), downtime ${FIGS[$k.downtime]:-?} ms against ${FIGS[baseline.downtime]:-?} ms"
	fi
done
ktap_finish
