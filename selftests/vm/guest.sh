#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Runs inside the lab guest, chrooted into the host's root (read-only 9p).
# $1 is the run's output directory (a writable 9p share at the same path).
# Sets up the PF, its VFs and the modules, then runs the job and brings back
# the kernel log.
out=$1
set -a; . "$out/env"; set +a
set -u
[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd
mkdir -p /dev/shm /dev/pts
mount -t tmpfs shm /dev/shm
mount -t devpts devpts /dev/pts
exec > >(tee -a "$out/guest.log") 2>&1

fail() {
	echo "lab-guest: SETUP FAILED: $*"
	dmesg >"$out/dmesg.txt"
	echo 125 >"$out/rc"
	exit 125
}

mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mkdir -p /run/netns
kver=$(uname -r)
mp() { modprobe -d "$IVF_KROOT" "$@" || fail "modprobe $*"; }
mp igb
mp igbvf
mp e1000e
mp vfio-pci
mp libcrc32c
insmod "$IVF_MODULE" || fail "insmod $IVF_MODULE"

# PCI functions by id, in BDF order: igb PFs (A = slot 2, B = slot 4) and
# the e1000e peer, all on one QEMU hub (lab.sh).
pci_ids() {
	local d
	for d in /sys/bus/pci/devices/*; do
		[ "$(cat "$d/vendor"):$(cat "$d/device")" = "$1" ] && echo "${d##*/}"
	done
}
netdev_of() { # BDF: wait for its netdev, print its name
	local i n
	for i in $(seq 50); do
		n=$(ls "/sys/bus/pci/devices/$1/net" 2>/dev/null | head -n1)
		[ -n "$n" ] && { echo "$n"; return 0; }
		sleep 0.1
	done
	return 1
}
wait_carrier() { # [netns] IF: up to 10 s for the link
	local i ns=() c
	[ $# = 2 ] && { ns=(-n "$1"); shift; }
	for i in $(seq 100); do
		c=$(ip "${ns[@]}" -o link show "$1" 2>/dev/null)
		case $c in *LOWER_UP*) return 0 ;; esac
		sleep 0.1
	done
	return 1
}
pfs=($(pci_ids 0x8086:0x10c9))
((${#pfs[@]} == 2)) || fail "want 2 igb PFs, found ${#pfs[@]}: ${pfs[*]}"
peer_pci=$(pci_ids 0x8086:0x10d3 | head -n1)
[ -n "$peer_pci" ] || fail "no e1000e peer NIC"

# setup_pf VAR BDF NUMVFS MACFMT: PF up, VFs with admin MACs, BARs below
# 4 GiB; sets VAR_if and the arrays VAR_vf, VAR_mac.
setup_pf() {
	local var=$1 pf=$2 n=$3 fmt=$4 pf_if k bdf start
	pf_if=$(netdev_of "$pf") || fail "PF $pf has no netdev"
	ip link set "$pf_if" up || fail "PF $pf_if up"
	echo 0 >/sys/bus/pci/devices/$pf/sriov_drivers_autoprobe
	echo "$n" >/sys/bus/pci/devices/$pf/sriov_numvfs || fail "sriov_numvfs of $pf"
	eval "${var}_if=$pf_if"
	for ((k = 0; k < n; k++)); do
		bdf=$(basename "$(readlink /sys/bus/pci/devices/$pf/virtfn$k)")
		start=$(head -n1 /sys/bus/pci/devices/$bdf/resource | cut -d' ' -f1)
		# QEMU 10.0 does not decode VF BARs above 4 GiB (shared/LAB.md).
		((start < 0x100000000)) || fail "VF $bdf BAR0 at $start, above 4 GiB"
		eval "${var}_vf[$k]=$bdf"
		# shellcheck disable=SC2059
		eval "${var}_mac[$k]=$(printf "$fmt" $((k + 16)))"
	done
}
((IVF_NUMVFS >= 3)) || fail "IVF_NUMVFS must be at least 3"
((IVF_NUMVFS_B >= 1)) || fail "IVF_NUMVFS_B must be at least 1"
declare -a a_vf a_mac b_vf b_mac
setup_pf a "${pfs[0]}" "$IVF_NUMVFS" '02:00:00:00:01:%02x'
setup_pf b "${pfs[1]}" "$IVF_NUMVFS_B" '02:00:00:00:02:%02x'
# The destination of a migration gets the migrating VF's MAC as its admin
# MAC, as libvirt does for the destination host.
b_mac[0]=${a_mac[0]}
for ((k = 0; k < IVF_NUMVFS; k++)); do
	ip link set "$a_if" vf $k mac "${a_mac[k]}" || fail "admin MAC of VF $k on PF A"
done
for ((k = 0; k < IVF_NUMVFS_B; k++)); do
	ip link set "$b_if" vf $k mac "${b_mac[k]}" || fail "admin MAC of VF $k on PF B"
done

bind() {
	local bdf=$1 drv=$2 d=/sys/bus/pci/devices/$1
	[ -e "$d/driver" ] && echo "$bdf" >"$d/driver/unbind"
	echo "$drv" >"$d/driver_override"
	echo "$bdf" >/sys/bus/pci/drivers_probe
	[ "$(basename "$(readlink "$d/driver")")" = "$drv" ] || fail "bind $bdf to $drv"
}
bind "${a_vf[0]}" igbvf-vfio-pci
bind "${a_vf[2]}" igbvf-vfio-pci
for ((k = 0; k < IVF_NUMVFS_B; k++)); do
	bind "${b_vf[k]}" igbvf-vfio-pci
done
bind "${a_vf[1]}" igbvf

# Peers, each in its own netns, IPv6 off (no ND/MLD chatter on the wire):
# the e1000e on the hub (ivfpeer/peer0, outside both PFs: the peer of a
# migration) and igbvf on PF A's VF1 (ivfpeer1/peer1, through PF A's
# internal switch).
peer_ns() { # NS BDF NAME
	local i
	i=$(netdev_of "$2") || fail "no netdev for $2"
	ip netns add "$1" || fail "netns $1"
	ip link set "$i" netns "$1" || fail "netns move of $i"
	ip -n "$1" link set "$i" name "$3" || fail "rename $i"
	ip netns exec "$1" sh -c "echo 1 >/proc/sys/net/ipv6/conf/$3/disable_ipv6" 2>/dev/null
	ip -n "$1" link set "$3" up || fail "$3 up"
	ip -n "$1" link set lo up
}
peer_ns ivfpeer "$peer_pci" peer0
peer_ns ivfpeer1 "${a_vf[1]}" peer1
wait_carrier "$a_if" || fail "no link on PF A $a_if"
wait_carrier "$b_if" || fail "no link on PF B $b_if"
wait_carrier ivfpeer peer0 || fail "no link on the e1000e peer"
peer_mac=$(ip -n ivfpeer -o link show peer0 | sed -E 's/.*link\/ether ([^ ]+).*/\1/')

export IVF_PF=${pfs[0]} IVF_PF_IF=$a_if
export IVF_VF0=${a_vf[0]} IVF_VF0_MAC=${a_mac[0]}
export IVF_VF2=${a_vf[2]} IVF_VF2_MAC=${a_mac[2]}
export IVF_PFB=${pfs[1]} IVF_PFB_IF=$b_if
export IVF_DST=${b_vf[0]} IVF_DST_MAC=${b_mac[0]}
if ((IVF_NUMVFS_B > 1)); then
	export IVF_DST2=${b_vf[1]} IVF_DST2_MAC=${b_mac[1]}
fi
export IVF_PEER_NS=ivfpeer IVF_PEER_IF=peer0 IVF_PEER_MAC=$peer_mac
export IVF_PEER1_NS=ivfpeer1 IVF_PEER1_IF=peer1 IVF_PEER1_MAC=${a_mac[1]}
export IVF_OUT=$out IVF_KVER=$kver
echo "lab-guest: PF A $IVF_PF ($a_if): VF0 $IVF_VF0, VF2 $IVF_VF2, VF1 ${a_vf[1]} = peer1 in ivfpeer1"
echo "lab-guest: PF B $IVF_PFB ($b_if): DST $IVF_DST ($IVF_DST_MAC)${IVF_DST2:+, DST2 $IVF_DST2 ($IVF_DST2_MAC)}"
echo "lab-guest: peer e1000e $peer_pci = peer0 in ivfpeer ($peer_mac)"

cd "$IVF_REPO"
bash "$out/job.sh"
rc=$?
dmesg >"$out/dmesg.txt"
echo $rc >"$out/rc"
exit $rc
