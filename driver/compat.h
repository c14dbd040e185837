/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Kernel differences for igbvf-vfio-pci, by feature. Kbuild compiles each
 * driver/probes/IVF_HAVE_*.c against the headers we build against and
 * defines IVF_HAVE_* for those that compile; it refuses, in one line, a
 * kernel the driver can't be right on (older than 6.10). Built for Debian's
 * 6.12.95 and 6.12.117, 7.2.13 (sid) and 7.3.4 (trixie-backports), and run
 * in the lab on each of them.
 *
 * IVF_HAVE_VFIO_DEVICE_INODE (6.10+, required): the vfio-pci core zaps BAR
 *	mappings by file offset on the per-device inode, so our own
 *	fault-based BAR0 mappings are invalidated with the core's. Before
 *	that (Debian's 6.1) the core tracks VMAs in a private list and would
 *	never zap ours. Covered by: invalidate (6.12.95 and 7.3.4 boots);
 *	run.sh's "refuses 6.1 (bookworm) at build time, in one line".
 * IVF_HAVE_SETUP_BARMAP (up to 7.1): BAR0 is requested and mapped on first
 *	use with vfio_pci_core_setup_barmap(). Covered by: every lab test
 *	on 6.12.95 (bar_access, traffic, migrate...).
 * IVF_HAVE_GET_IOMAP (7.2+): the core requests and maps every BAR when it
 *	enables the device and vfio_pci_core_get_iomap() hands out the
 *	mapping, or an ERR_PTR: vdev->barmap[] may then hold an ERR_PTR too.
 *	The driver fails open if BAR0 is not mapped, and reads barmap[0]
 *	only while the device is open (every other path is gated on an open
 *	device: migration fds, the tracker), so its NULL checks stay right.
 *	Covered by: bar_access, stale_fd, migrate and the dirty tests in the
 *	7.3.4 boot.
 * IVF_HAVE_GET_REGION_INFO_CAPS (6.19+): VFIO_DEVICE_GET_REGION_INFO no
 *	longer reaches .ioctl; vfio copies the user's struct in and out and
 *	asks .get_region_info_caps for the answer. BAR0 (sparse mmap) and
 *	the MSI-X BAR (no mmap) are answered by bar.c, every other region by
 *	the core's vfio_pci_ioctl_get_region_info(). Before, main.c's .ioctl
 *	answers those two itself and leaves the rest to the core's ioctl.
 *	Covered by: region_info (every region and IRQ compared with stock
 *	vfio-pci on the same VF) in the 6.12.95 and 7.3.4 boots.
 * IVF_HAVE_MATCH_TOKEN_UUID (6.18+): the VF token check is an op, and the
 *	core's match calls it without a NULL check: it must be set.
 *	Covered by: every open of a VF in the 7.3.4 boot (a NULL op would
 *	oops on the first).
 * IVF_HAVE_PRECOPY_INFO_V2 (Debian's 7.2 and 7.3): a user may opt in to
 *	VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2, after which the flags of
 *	VFIO_MIG_GET_PRECOPY_INFO are an output. We never start new initial
 *	data, so we answer 0 there; without the opt-in the user's flags are
 *	returned as they came, as vfio-pci drivers always did. Covered by:
 *	migration_fsm (opts in where the feature exists: the 7.3.4 boot).
 * IVF_HAVE_NS_TOKEN (up to 6.12): MODULE_IMPORT_NS() takes a bare symbol
 *	namespace; 6.13 made it a string. Covered by: the builds for 6.12.x
 *	and 7.x (a wrong form fails modpost).
 *
 * Not a difference for this driver (checked against 7.3.4): the fault
 * path's huge pfnmap (our vm_ops have no .huge_fault, BAR0 is 16 KiB),
 * dma-buf export of BARs (VFIO_DEVICE_FEATURE_DMA_BUF needs
 * vdev->pci_ops->get_dmabuf_phys, which we leave NULL: -EOPNOTSUPP, so
 * trapped page 0 can't be exported), PASID attach (ops left NULL, the
 * 82576 VF has no PASID), .dma_unmap and vfio_pin_pages() (unchanged), and
 * the migration and log ops (unchanged), vfio_mig_get_next_state() (the
 * same code as 6.12.95: lm.c's refusal of the arcs it loops on still
 * matters), and reset_done (7.3's PCI core warns when a driver has none;
 * ours has one). Debian's 7.2 and 7.3 still have no IOMMUFD: the DMA
 * logging backend (dirty_log.c) compiles there only with CONFIG_IOMMUFD_DRIVER
 * forced on, which was tried once, warning-free.
 */
#ifndef IVF_COMPAT_H
#define IVF_COMPAT_H

#include <linux/err.h>
#include <linux/vfio_pci_core.h>

#ifdef IVF_HAVE_MATCH_TOKEN_UUID
#define IVF_COMPAT_TOKEN_OPS .match_token_uuid = vfio_pci_core_match_token_uuid,
#else
#define IVF_COMPAT_TOKEN_OPS
#endif

#ifdef IVF_HAVE_GET_REGION_INFO_CAPS
#define IVF_COMPAT_REGION_INFO_OPS .get_region_info_caps = ivf_get_region_info_caps,
#define ivf_core_region_info vfio_pci_ioctl_get_region_info
#else
#define IVF_COMPAT_REGION_INFO_OPS
/* Never called: without the op, .ioctl passes other regions to the core. */
static inline int ivf_core_region_info(struct vfio_device *vdev,
				       struct vfio_region_info *info,
				       struct vfio_info_cap *caps)
{
	return -ENOTTY;
}
#endif

/* BAR @bar mapped for the driver's own accesses, or an ERR_PTR. */
static inline void __iomem *ivf_core_iomap(struct vfio_pci_core_device *vdev,
					   int bar)
{
#ifdef IVF_HAVE_GET_IOMAP
	return vfio_pci_core_get_iomap(vdev, bar);
#else
	int ret = vfio_pci_core_setup_barmap(vdev, bar);

	return ret ? IOMEM_ERR_PTR(ret) : vdev->barmap[bar];
#endif
}

/* The flags VFIO_MIG_GET_PRECOPY_INFO returns in @info. */
static inline void ivf_precopy_info_flags(struct vfio_device *vdev,
					  struct vfio_precopy_info *info)
{
#ifdef IVF_HAVE_PRECOPY_INFO_V2
	if (vdev->precopy_info_v2)
		info->flags = 0;
#endif
}

#ifdef IVF_HAVE_NS_TOKEN
#define IVF_NS_IOMMUFD IOMMUFD
#else
#define IVF_NS_IOMMUFD "IOMMUFD"
#endif

#endif /* IVF_COMPAT_H */
