#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build the module, with sparse and W=1, against the lab's IOMMUFD kernel
# tree (selftests/vm/kernel-iommufd.sh): the only kernel here with
# CONFIG_IOMMUFD_DRIVER, so the only build that compiles the DMA-logging
# backend (log_ops in driver/dirty_log.c) and links it against the real
# iova_bitmap. Exit 4 (skip) if that kernel is not built.
set -eo pipefail
cd "$(dirname "$0")/.."
paths=$(selftests/vm/kernel-iommufd.sh --path) || { echo "no IOMMUFD kernel: skip"; exit 4; }
eval "$paths"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cp -r Kbuild driver include "$out/"
log=$(make -C "$KTREE" M="$out" C=2 W=1 modules 2>&1) || { echo "$log"; exit 1; }
echo "$log"
! echo "$log" | grep -E 'warning|error'
# (grep without -q: under pipefail, -q may stop reading and fail nm with
# SIGPIPE, which failed this check once)
nm "$out/driver/dirty_log.o" | grep ivf_log_read_and_clear >/dev/null
# the module links against the kernel's iova_bitmap, not a stub
modinfo -F depends "$out/igbvf-vfio-pci.ko" >/dev/null
nm -u "$out/igbvf-vfio-pci.ko" | grep iova_bitmap_set >/dev/null
