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
mp vfio-pci
mp libcrc32c
insmod "$IVF_MODULE" || fail "insmod $IVF_MODULE"

pf=
for d in /sys/bus/pci/devices/*; do
	[ "$(cat "$d/vendor"):$(cat "$d/device")" = 0x8086:0x10c9 ] && { pf=${d##*/}; break; }
done
[ -n "$pf" ] || fail "no igb PF"
for i in $(seq 50); do
	pf_if=$(ls /sys/bus/pci/devices/$pf/net 2>/dev/null | head -n1)
	[ -n "$pf_if" ] && break
	sleep 0.1
done
[ -n "$pf_if" ] || fail "PF $pf has no netdev"
ip link set "$pf_if" up || fail "PF up"
echo 0 >/sys/bus/pci/devices/$pf/sriov_drivers_autoprobe
echo "$IVF_NUMVFS" >/sys/bus/pci/devices/$pf/sriov_numvfs || fail "sriov_numvfs"

declare -a vf mac
for ((k = 0; k < IVF_NUMVFS; k++)); do
	vf[k]=$(basename "$(readlink /sys/bus/pci/devices/$pf/virtfn$k)")
	mac[k]=$(printf '02:00:00:00:01:%02x' $((k + 16)))
	start=$(head -n1 /sys/bus/pci/devices/${vf[k]}/resource | cut -d' ' -f1)
	# QEMU 10.0 does not decode VF BARs above 4 GiB (shared/LAB.md).
	((start < 0x100000000)) || fail "VF ${vf[k]} BAR0 at $start, above 4 GiB"
	ip link set "$pf_if" vf $k mac "${mac[k]}" || fail "admin MAC of VF $k"
done

bind() {
	local bdf=$1 drv=$2 d=/sys/bus/pci/devices/$1
	[ -e "$d/driver" ] && echo "$bdf" >"$d/driver/unbind"
	echo "$drv" >"$d/driver_override"
	echo "$bdf" >/sys/bus/pci/drivers_probe
	[ "$(basename "$(readlink "$d/driver")")" = "$drv" ] || fail "bind $bdf to $drv"
}
bind "${vf[0]}" igbvf-vfio-pci
bind "${vf[2]}" igbvf-vfio-pci
bind "${vf[1]}" igbvf
for i in $(seq 50); do
	peer_if=$(ls /sys/bus/pci/devices/${vf[1]}/net 2>/dev/null | head -n1)
	[ -n "$peer_if" ] && break
	sleep 0.1
done
[ -n "$peer_if" ] || fail "igbvf netdev for ${vf[1]}"
ip netns add ivfpeer || fail "netns"
ip link set "$peer_if" netns ivfpeer || fail "netns move"
ip -n ivfpeer link set "$peer_if" name peer0
ip -n ivfpeer link set peer0 up
ip -n ivfpeer link set lo up

export IVF_PF=$pf IVF_PF_IF=$pf_if
export IVF_VF0=${vf[0]} IVF_VF0_MAC=${mac[0]}
export IVF_VF2=${vf[2]} IVF_VF2_MAC=${mac[2]}
export IVF_PEER_NS=ivfpeer IVF_PEER_IF=peer0 IVF_PEER_MAC=${mac[1]}
export IVF_OUT=$out IVF_KVER=$kver
echo "lab-guest: PF $pf ($pf_if), VF0 ${vf[0]}, VF2 ${vf[2]}, peer ${vf[1]} in ivfpeer"

cd "$IVF_REPO"
bash "$out/job.sh"
rc=$?
dmesg >"$out/dmesg.txt"
echo $rc >"$out/rc"
exit $rc
