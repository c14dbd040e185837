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

# Every program started here comes over 9p into a TCG guest and costs a
# few hundred ms: bash builtins where possible, one modprobe, ip -batch.
# A sleep without a process:
exec {sleepfd}<> <(:)
nap() { read -rt "$1" -u "$sleepfd" _ || true; }

mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
# kmemleak (the IOMMUFD lab kernel) scans all memory every 10 min on its
# own, a minute of a TCG guest's CPU each time: only at the end here.
[ ! -w /sys/kernel/debug/kmemleak ] ||
	echo scan=off >/sys/kernel/debug/kmemleak 2>/dev/null
mkdir -p /run/netns
kver=$(uname -r)
# No IPv6 chatter (ND, MLD) on the wire: off in this netns; the peers in
# their netns get no IPv6 address (addrgenmode none).
echo 1 >/proc/sys/net/ipv6/conf/all/disable_ipv6
echo 1 >/proc/sys/net/ipv6/conf/default/disable_ipv6
# The module's own dependencies, as its kernel names them (6.12's crc32c
# is in libcrc32c, 7.x has it built in).
deps=$(modinfo -F depends "$IVF_MODULE") || fail "modinfo $IVF_MODULE"
modprobe -a -d "$IVF_KROOT" igb igbvf e1000e vfio-pci ${deps//,/ } ||
	fail "modprobe"
insmod "$IVF_MODULE" || fail "insmod $IVF_MODULE"

# PCI functions by id, in BDF order: igb PFs (A = slot 2, B = slot 4) and
# the e1000e peer, all on one QEMU hub (lab.sh).
pfs=() peer_pci=
for d in /sys/bus/pci/devices/*; do
	read -r ven <"$d/vendor"
	read -r dev <"$d/device"
	case $ven:$dev in
	0x8086:0x10c9) pfs+=("${d##*/}") ;;
	0x8086:0x10d3) [ -n "$peer_pci" ] || peer_pci=${d##*/} ;;
	esac
done
((${#pfs[@]} == 2)) || fail "want 2 igb PFs, found ${#pfs[@]}: ${pfs[*]}"
[ -n "$peer_pci" ] || fail "no e1000e peer NIC"
((IVF_NUMVFS >= 3)) || fail "IVF_NUMVFS must be at least 3"
((IVF_NUMVFS_B >= 1)) || fail "IVF_NUMVFS_B must be at least 1"

netdev_of() { # BDF: wait for its netdev, print its name
	local i n
	for ((i = 0; i < 50; i++)); do
		for n in /sys/bus/pci/devices/$1/net/*; do
			[ -e "$n" ] && { echo "${n##*/}"; return 0; }
		done
		nap 0.1
	done
	return 1
}
carrier() { # IF in this netns: up to 10 s for the link
	local i c
	for ((i = 0; i < 100; i++)); do
		c=0
		read -r c <"/sys/class/net/$1/carrier" 2>/dev/null
		[ "$c" = 1 ] && return 0
		nap 0.1
	done
	return 1
}
bind() {
	local bdf=$1 drv=$2 d=/sys/bus/pci/devices/$1
	[ -e "$d/driver" ] && echo "$bdf" >"$d/driver/unbind"
	echo "$drv" >"$d/driver_override"
	echo "$bdf" >/sys/bus/pci/drivers_probe
	[ -e "/sys/bus/pci/drivers/$drv/$bdf" ] || fail "bind $bdf to $drv"
}

# Links first: their autonegotiation runs while the rest is set up. The
# e1000e goes to netns ivfpeer as peer0 (outside both PFs: the peer of a
# migration).
a_if=$(netdev_of "${pfs[0]}") || fail "PF ${pfs[0]} has no netdev"
b_if=$(netdev_of "${pfs[1]}") || fail "PF ${pfs[1]} has no netdev"
e_if=$(netdev_of "$peer_pci") || fail "no netdev for $peer_pci"
ip -batch - <<-EOT || fail "PF up, peer netns"
	link set $a_if up
	link set $b_if up
	netns add ivfpeer
	netns add ivfpeer1
	link set $e_if netns ivfpeer name peer0
EOT
ip -n ivfpeer -batch - <<-EOT || fail "peer0 up"
	link set peer0 addrgenmode none
	link set peer0 up
	link set lo up
EOT

# VFs: admin MACs; BARs below 4 GiB (QEMU 10.0 does not decode VF BARs
# above, shared/LAB.md). PF B's VF0 gets PF A VF0's MAC, as libvirt gives
# the destination host the migrating MAC.
declare -a a_vf a_mac b_vf b_mac
vfs() { # VAR PF N MACFMT
	local k l start
	echo 0 >"/sys/bus/pci/devices/$2/sriov_drivers_autoprobe"
	echo "$3" >"/sys/bus/pci/devices/$2/sriov_numvfs" || fail "sriov_numvfs of $2"
	for ((k = 0; k < $3; k++)); do
		l=$(readlink "/sys/bus/pci/devices/$2/virtfn$k")
		read -r start _ <"/sys/bus/pci/devices/${l##*/}/resource"
		((start < 0x100000000)) || fail "VF ${l##*/} BAR0 at $start, above 4 GiB"
		eval "${1}_vf[$k]=${l##*/}"
		# shellcheck disable=SC2059
		eval "${1}_mac[$k]=$(printf "$4" $((k + 16)))"
	done
}
vfs a "${pfs[0]}" "$IVF_NUMVFS" '02:00:00:00:01:%02x'
vfs b "${pfs[1]}" "$IVF_NUMVFS_B" '02:00:00:00:02:%02x'
b_mac[0]=${a_mac[0]}
{
	for ((k = 0; k < IVF_NUMVFS; k++)); do
		echo "link set $a_if vf $k mac ${a_mac[k]}"
	done
	for ((k = 0; k < IVF_NUMVFS_B; k++)); do
		echo "link set $b_if vf $k mac ${b_mac[k]}"
	done
} | ip -batch - || fail "admin MACs"

bind "${a_vf[0]}" igbvf-vfio-pci
bind "${a_vf[2]}" igbvf-vfio-pci
for ((k = 0; k < IVF_NUMVFS_B; k++)); do
	bind "${b_vf[k]}" igbvf-vfio-pci
done
# VF1 of PF A: igbvf in netns ivfpeer1 as peer1 (through PF A's switch)
bind "${a_vf[1]}" igbvf
v_if=$(netdev_of "${a_vf[1]}") || fail "igbvf netdev for ${a_vf[1]}"
ip link set "$v_if" netns ivfpeer1 name peer1 || fail "peer1 netns"
ip -n ivfpeer1 -batch - <<-EOT || fail "peer1 up"
	link set peer1 addrgenmode none
	link set peer1 up
	link set lo up
EOT

carrier "$a_if" || fail "no link on PF A $a_if"
carrier "$b_if" || fail "no link on PF B $b_if"
for ((i = 0; i < 100; i++)); do
	peer=$(ip -n ivfpeer -o link show peer0)
	case $peer in *LOWER_UP*) break ;; esac
	nap 0.1
done
case $peer in *LOWER_UP*) ;; *) fail "no link on the e1000e peer" ;; esac
peer_mac=${peer#*link/ether }
peer_mac=${peer_mac%% *}

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
# A kernel with kmemleak (the IOMMUFD lab kernel): scan once the tests are
# done; lab.sh fails the run on a leak whose allocation is ours.
if [ -w /sys/kernel/debug/kmemleak ]; then
	echo scan >/sys/kernel/debug/kmemleak 2>/dev/null
	sleep 6
	echo scan >/sys/kernel/debug/kmemleak 2>/dev/null
	cat /sys/kernel/debug/kmemleak >"$out/kmemleak.txt" 2>/dev/null
fi
dmesg >"$out/dmesg.txt"
echo $rc >"$out/rc"
exit $rc
