#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The demo's guest side: show the binding and BAR0 layout, pass frames, then
# migrate the userspace-driven VF live from PF A to PF B under traffic.
set -eo pipefail
B=selftests/build
say() { printf '\n== %s\n' "$*"; }

# the VFs of a PF and the driver each is bound to
vfs_of() { # PF
	local l bdf drv
	for l in /sys/bus/pci/devices/$1/virtfn*; do
		bdf=$(basename "$(readlink "$l")")
		drv=$(basename "$(readlink "/sys/bus/pci/devices/$bdf/driver" 2>/dev/null)" 2>/dev/null || true)
		echo "  $bdf  driver=${drv:-none}"
	done
}

say "VFs of PF $IVF_PF ($IVF_PF_IF)"
vfs_of "$IVF_PF"
echo "  peer: e1000e netdev $IVF_PEER_IF in netns $IVF_PEER_NS ($IVF_PEER_MAC), on the same QEMU hub as both PFs"
say "VFs of PF B $IVF_PFB ($IVF_PFB_IF), the destination host"
vfs_of "$IVF_PFB"
ip link show "$IVF_PFB_IF" | grep -E '^ +vf 0 ' | sed 's/^ */  admin: /' || true

say "BAR0 region info: stock vfio-pci, then igbvf-vfio-pci (same VF, $IVF_VF2)"
$B/region_info | grep -E '^# (vfio-pci|variant): +(region 0:|sparse)' || true
echo "  (flags 0xf = READ|WRITE|MMAP|CAPS; only pages 1-3 may be mapped, page 0 is trapped)"

say "traffic: userspace 82576 VF driver on $IVF_VF0 <-> kernel e1000e peer"
$B/traffic | grep -E '^(ok|not ok|#)' | grep -vE '^# (---|===)' | tail -n 20
faults=$(cat "/sys/kernel/debug/igbvf-vfio-pci/$IVF_VF0/bar0_faults")
say "BAR0 mmap faults served by the driver so far: $faults (pages 1-3 mapped once, page 0 trapped)"

say "live migration under traffic: $IVF_VF0 (PF A) -> $IVF_DST (PF B), pre-copy, VFIO migration v2"
$B/bench_migration --demo | grep -vE '^# (repeat|bench_migration|errors)'
