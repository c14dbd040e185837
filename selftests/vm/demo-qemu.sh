#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The demo's second part, in the lab guest: a stock QEMU (the host's own)
# boots a small Linux guest whose stock igbvf drives PF A's VF0 through
# igbvf-vfio-pci, and live-migrates it to PF B's VF0 and back under
# sequence-numbered traffic with the peer. Prints what QEMU reported and
# what the guest saw.
set -o pipefail
printf '\n== a stock QEMU live-migrates a Linux guest: %s (PF A) -> %s (PF B) and back\n' \
	"$IVF_VF0" "$IVF_DST"
echo "   QEMU: -device vfio-pci,host=VF,enable-migration=on; migrate over a unix socket (QMP)"
echo "   traffic: a frame every 500 ms each way between the guest's igbvf and the e1000e peer"
IVF_QM_SCENARIOS="precopy back" bash selftests/tests/qemu_migrate.sh |
	grep -E '^(ok|not ok|#)' | grep -vE '^# (---|  +[=t])' | cut -c1-220
