/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Kernel differences for igbvf-vfio-pci, by feature. Kbuild compiles each
 * driver/probes/IVF_HAVE_*.c against the headers we build against and
 * defines IVF_HAVE_* for those that compile; it refuses, in one line, a
 * kernel the driver can't be right on.
 *
 * IVF_HAVE_VFIO_DEVICE_INODE (6.10+): the vfio-pci core zaps BAR mappings
 *	by file offset on the per-device inode, so our own fault-based BAR0
 *	mappings are invalidated with the core's. Before that (Debian's 6.1)
 *	the core tracks VMAs in a private list and would never zap ours.
 * IVF_HAVE_SETUP_BARMAP (up to 7.1): vfio_pci_core_setup_barmap(); 7.2
 *	replaced it with vfio_pci_core_get_iomap().
 * IVF_HAVE_GET_REGION_INFO_CAPS (6.19+): region info goes through a new
 *	op the driver must implement; not done yet, refused.
 * IVF_HAVE_MATCH_TOKEN_UUID (6.18+): VF token op for cdev binds.
 * IVF_HAVE_NS_TOKEN (up to 6.12): MODULE_IMPORT_NS() takes a bare symbol
 *	namespace; 6.13 made it a string.
 */
#ifndef IVF_COMPAT_H
#define IVF_COMPAT_H

#ifdef IVF_HAVE_MATCH_TOKEN_UUID
#define IVF_COMPAT_TOKEN_OPS .match_token_uuid = vfio_pci_core_match_token_uuid,
#else
#define IVF_COMPAT_TOKEN_OPS
#endif

#ifdef IVF_HAVE_NS_TOKEN
#define IVF_NS_IOMMUFD IOMMUFD
#else
#define IVF_NS_IOMMUFD "IOMMUFD"
#endif

#endif /* IVF_COMPAT_H */
