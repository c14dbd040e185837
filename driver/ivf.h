/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * igbvf-vfio-pci: private definitions shared by the driver's files.
 */
#ifndef IVF_H
#define IVF_H

#include <linux/atomic.h>
#include <linux/pci.h>
#include <linux/sizes.h>
#include <linux/vfio_pci_core.h>

#include "compat.h"

#define IVF_DRV_NAME		"igbvf-vfio-pci"
#define IVF_PCI_DEVICE_82576_VF	0x10ca

/*
 * BAR0 of the 82576 VF: 16 KiB, four 4 KiB pages. Page 0 (control, mailbox,
 * statistics) is trapped for the device's whole life; pages 1-3
 * (interrupts, RX queues, TX queues) may be mapped.
 */
#define IVF_BAR0_SIZE		SZ_16K
#define IVF_BAR0_PAGE_SIZE	SZ_4K
#define IVF_BAR0_MAP_START	IVF_BAR0_PAGE_SIZE

struct ivf_device {
	struct vfio_pci_core_device core;
	/* BAR0 mmap faults served (a PTE inserted); debugfs reports it. */
	atomic64_t bar0_faults;
	struct dentry *debugfs;
};

static inline struct ivf_device *ivf_from_vdev(struct vfio_device *vdev)
{
	return container_of(vdev, struct ivf_device, core.vdev);
}

/* bar.c */
int ivf_bar0_enable(struct ivf_device *ivf);
long ivf_bar0_region_info(struct ivf_device *ivf,
			  struct vfio_region_info __user *arg);
ssize_t ivf_bar0_rw(struct ivf_device *ivf, char __user *buf, size_t count,
		    loff_t *ppos, bool iswrite);
int ivf_bar0_mmap(struct ivf_device *ivf, struct vm_area_struct *vma);
void ivf_bar0_zap(struct ivf_device *ivf, u64 offset, u64 len);

/* debugfs.c */
void ivf_debugfs_init(void);
void ivf_debugfs_exit(void);
void ivf_debugfs_add(struct ivf_device *ivf);
void ivf_debugfs_remove(struct ivf_device *ivf);

#endif /* IVF_H */
