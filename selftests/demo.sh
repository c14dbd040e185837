#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The main job. Prepares the machine (first run: packages, guest kernel and
# initramfs into the cache, a few minutes), builds the module, boots the
# emulated lab (two QEMU igb = 82576 with SR-IOV, and a peer NIC on one wire),
# binds VFs to igbvf-vfio-pci, drives real frames through one from a
# userspace VF driver against a kernel e1000e peer, migrates it live to the
# other PF under traffic, then prints what happened. Last, the host's stock
# QEMU boots a Linux guest on a VF and live-migrates it to the other PF and
# back, and the demo prints QEMU's own figures and the guest's frame counts.
#
# With a real 82576 and no lab wanted: see README, "Using it on a real VF".
set -eo pipefail
cd "$(dirname "$0")/.."
selftests/vm/setup.sh >/dev/null
selftests/vm/lab.sh run 'bash selftests/vm/demo-guest.sh'
# Then a stock QEMU migrates a real Linux guest (a second boot: two vCPUs
# for the nested QEMUs; the guest boots in about 90 s under TCG).
nested=$(selftests/vm/nested.sh)
IVF_SMP=2 IVF_NESTED=$nested selftests/vm/lab.sh run 'bash selftests/vm/demo-qemu.sh'
