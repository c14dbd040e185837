#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The main job. Prepares the machine (first run: packages, guest kernel and
# initramfs into the cache, a few minutes), builds the module, boots the
# emulated lab (two QEMU igb = 82576 with SR-IOV, and a peer NIC on one wire),
# binds VFs to igbvf-vfio-pci, drives real frames through one from a
# userspace VF driver against a kernel e1000e peer, migrates it live to the
# other PF under traffic, then prints what happened.
#
# With a real 82576 and no lab wanted: see README, "Using it on a real VF".
set -eo pipefail
cd "$(dirname "$0")/.."
selftests/vm/setup.sh >/dev/null
selftests/vm/lab.sh run 'bash selftests/vm/demo-guest.sh'
