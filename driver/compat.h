/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Kernel-version differences for igbvf-vfio-pci.
 *
 * The driver relies on the vfio-pci core zapping BAR mappings by file offset
 * on the per-device inode (unmap_mapping_range on vdev->inode->i_mapping),
 * which appeared in 6.10. Before that (Debian's 6.1) the core tracks VMAs in
 * a private list and a variant's own fault-based mappings are never zapped.
 * 6.19 moved region info to a .get_region_info_caps op and 7.2 replaced
 * vfio_pci_core_setup_barmap(); neither is handled yet. Refuse to build
 * where the result would be wrong rather than build something that is.
 */
#ifndef IVF_COMPAT_H
#define IVF_COMPAT_H

#include <linux/version.h>

#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 10, 0)
#error "igbvf-vfio-pci needs Linux 6.10 or later (offset-based BAR zap in vfio-pci core)"
#endif
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 19, 0)
#error "igbvf-vfio-pci does not support Linux 6.19+ yet (.get_region_info_caps)"
#endif

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 18, 0)
#define IVF_COMPAT_TOKEN_OPS .match_token_uuid = vfio_pci_core_match_token_uuid,
#else
#define IVF_COMPAT_TOKEN_OPS
#endif

#endif /* IVF_COMPAT_H */
