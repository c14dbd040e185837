/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * igbvf-vfio-pci: private definitions shared by the driver's files.
 */
#ifndef IVF_H
#define IVF_H

#include <linux/atomic.h>
#include <linux/pci.h>
#include <linux/seq_file.h>
#include <linux/sizes.h>
#include <linux/vfio_pci_core.h>

#include <linux/if_ether.h>
#include <linux/if_vlan.h>
#include <linux/mutex.h>

#include "compat.h"
#include "ivf_regs.h"

#define IVF_DRV_NAME		"igbvf-vfio-pci"

/*
 * BAR0 of the 82576 VF: 16 KiB, four 4 KiB pages. Page 0 (control, mailbox,
 * statistics) is trapped for the device's whole life; pages 1-3
 * (interrupts, RX queues, TX queues) may be mapped.
 */
#define IVF_BAR0_PAGE_SIZE	SZ_4K
#define IVF_BAR0_MAP_START	IVF_BAR0_PAGE_SIZE

/* Unicast filters a VF can ask for (igbvf sends at most 3). */
#define IVF_MAX_UC_FILTERS	3

/*
 * The VF's configuration as the PF has acknowledged it. It lives in the PF
 * and can't be read through the VF, so it is learnt from the guest's
 * mailbox traffic (mbx.c), for replay on a migration destination.
 */
struct ivf_pf_config {
	bool cts;			/* PF answered VF_RESET: clear to send */
	bool mac_valid;
	u8 mac[ETH_ALEN];
	u8 n_uc;
	u8 uc[IVF_MAX_UC_FILTERS][ETH_ALEN];
	u8 n_mc;
	u16 mc[IVF_MAX_MC_HASHES];
	u32 max_frame;			/* SET_LPE; 0 = never set */
	u32 promisc;			/* SET_PROMISC info bits */
	DECLARE_BITMAP(vlans, VLAN_N_VID);
};

struct ivf_mbx {
	struct mutex lock;		/* serialises page-0 mailbox accesses */
	bool req_pending;		/* a request awaits the PF's reply */
	u32 req[IVF_VMBMEM_WORDS];	/* that request, as the guest wrote it */
	struct ivf_pf_config cfg;
};

struct ivf_device {
	struct vfio_pci_core_device core;
	struct ivf_mbx mbx;
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

/* mbx.c */
void ivf_mbx_init(struct ivf_device *ivf);
void ivf_mbx_destroy(struct ivf_device *ivf);
void ivf_mbx_reset(struct ivf_device *ivf);
u32 ivf_mbx_access(struct ivf_device *ivf, void __iomem *io, u32 off, u32 val,
		   bool iswrite);
void ivf_mbx_show(struct ivf_device *ivf, struct seq_file *m);

/* debugfs.c */
void ivf_debugfs_init(void);
void ivf_debugfs_exit(void);
void ivf_debugfs_add(struct ivf_device *ivf);
void ivf_debugfs_remove(struct ivf_device *ivf);

#endif /* IVF_H */
