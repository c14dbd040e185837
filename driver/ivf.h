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
#include <linux/rwsem.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <linux/xarray.h>

#include "compat.h"
#include "ivf_migration.h"
#include "ivf_regs.h"
#include "dirty.h"

#define IVF_DRV_NAME		"igbvf-vfio-pci"

/* Log lines a user can trigger at will are ratelimited. */
#define ivf_err_rl(pdev, fmt, ...) \
	dev_err_ratelimited(&(pdev)->dev, fmt, ##__VA_ARGS__)
#define ivf_warn_rl(pdev, fmt, ...) \
	dev_warn_ratelimited(&(pdev)->dev, fmt, ##__VA_ARGS__)

/*
 * BAR0 of the 82576 VF: 16 KiB, four 4 KiB pages. Page 0 (control, mailbox,
 * statistics) is trapped for the device's whole life; pages 1-3
 * (interrupts, RX queues, TX queues) may be mapped.
 */
#define IVF_BAR0_PAGE_SIZE	SZ_4K
#define IVF_BAR0_MAP_START	IVF_BAR0_PAGE_SIZE
/* Page 2, RX queue registers, moves onto a shadow while tracking. */
#define IVF_SHADOW_PAGE		2

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

/* Page-0 statistics counters, in stream order (struct ivf_mig_stats). */
#define IVF_NSTATS		9

struct ivf_mbx {
	struct mutex lock;		/* serialises page-0 accesses */
	bool req_pending;		/* a request awaits the PF's reply */
	bool req_replied;		/* PFSTS seen since the request */
	u32 req[IVF_VMBMEM_WORDS];	/* that request, as the guest wrote it */
	struct ivf_pf_config cfg;
	u32 cfg_gen;			/* bumped on every change of cfg */
	/*
	 * Read-to-clear V2PMAILBOX bits (PFSTS, PFACK, RSTD) the driver read
	 * on the guest's behalf; the guest's next read of V2PMAILBOX gets
	 * them.
	 */
	u32 r2c;
	/* Added to the device's statistics counters on guest reads. */
	u32 stats_off[IVF_NSTATS];
};

/* Registers of one RX/TX queue pair. */
struct ivf_queue_regs {
	u32 rdbal, rdbah, rdlen, srrctl, rdh, rdt, rxdctl;
	u32 tdbal, tdbah, tdlen, tdh, tdt, txdctl, txctl, tdwbal, tdwbah;
};

struct ivf_irq_regs {
	u32 eims, eiac, eiam, eitr[3], ivar0, ivar_misc;
};

/* The mailbox as the guest sees it. */
struct ivf_mbx_image {
	bool req_pending;
	bool vfu;
	u32 r2c;
	u32 vmbmem[IVF_VMBMEM_WORDS];
	u32 req[IVF_VMBMEM_WORDS];
};

/* A VF's whole migratable state, host-endian; stream.c (de)serialises it. */
struct ivf_vf_state {
	struct ivf_pf_config cfg;
	struct ivf_queue_regs q[IVF_NUM_QUEUES];
	struct ivf_irq_regs irq;
	struct ivf_mbx_image mbx;
	bool have_stats;
	u32 stats[IVF_NSTATS];
};

struct ivf_mig_file;

/* Migration (lm.c; its data fds: mig_file.c). */
struct ivf_lm {
	struct mutex state_mutex;	/* the FSM; never held over user copies */
	enum vfio_device_mig_state state;
	struct ivf_mig_file *saving;
	struct ivf_mig_file *resuming;
	spinlock_t reset_lock;		/* protects deferred_reset */
	bool deferred_reset;
	/*
	 * Quiesced (P2P and stopped states): queues disabled, interrupts
	 * masked. What to put back on resume: queue enables and the guest's
	 * interrupt mask.
	 */
	bool quiesced;
	u32 rxdctl[IVF_NUM_QUEUES];
	u32 txdctl[IVF_NUM_QUEUES];
	u32 eims;
	/* ivf_vf_io_lock() set COMMAND.MEM; ivf_vf_io_done() puts cmd back */
	bool cmd_forced;
	u16 cmd;
};

struct ivf_device {
	struct vfio_pci_core_device core;
	struct ivf_mbx mbx;
	struct ivf_lm lm;
	struct ivf_dirty dirty;
	/* held (read) while the tracker walks the user's IOMMU domain */
	struct rw_semaphore dom_rwsem;
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
bool ivf_region_is_ours(struct ivf_device *ivf, u32 index);
int ivf_region_info(struct ivf_device *ivf, struct vfio_region_info *info,
		    struct vfio_info_cap *caps);
long ivf_region_info_ioctl(struct ivf_device *ivf, u32 index,
			   struct vfio_region_info __user *arg);
ssize_t ivf_bar0_rw(struct ivf_device *ivf, char __user *buf, size_t count,
		    loff_t *ppos, bool iswrite);
int ivf_bar0_mmap(struct ivf_device *ivf, struct vm_area_struct *vma);
bool ivf_is_msix_bar(struct ivf_device *ivf, u32 index);
int ivf_msix_mmap(struct ivf_device *ivf, u32 index);
void ivf_bar0_zap(struct ivf_device *ivf, u64 offset, u64 len);

/* mbx.c */
void ivf_mbx_init(struct ivf_device *ivf);
void ivf_mbx_destroy(struct ivf_device *ivf);
void ivf_mbx_reset(struct ivf_device *ivf);
void ivf_mbx_open(struct ivf_device *ivf);
u32 ivf_mbx_access(struct ivf_device *ivf, void __iomem *io, u32 off, u32 val,
		   bool iswrite);
void ivf_mbx_show(struct ivf_device *ivf, struct seq_file *m);

u32 ivf_mbx_read_v2p(struct ivf_device *ivf, void __iomem *io);
int ivf_mbx_xfer(struct ivf_device *ivf, void __iomem *io, const u32 *msg,
		 unsigned int n, u32 *reply, unsigned int nreply,
		 unsigned int timeout_ms);
int ivf_mbx_settle(struct ivf_device *ivf, void __iomem *io);
void ivf_mbx_save(struct ivf_device *ivf, void __iomem *io,
		  struct ivf_vf_state *st);
void ivf_mbx_load(struct ivf_device *ivf, void __iomem *io,
		  const struct ivf_vf_state *st, const u32 *reply);
u32 ivf_mbx_config(struct ivf_device *ivf, struct ivf_pf_config *cfg);

/* vf.c */
/* BAR0 with memory_lock held for read, or NULL (not accessible) */
void __iomem *ivf_vf_io_try(struct ivf_device *ivf);
void ivf_vf_io_unlock(struct ivf_device *ivf);
void ivf_vf_clear_queues(struct ivf_device *ivf);
int ivf_vf_quiesce(struct ivf_device *ivf);
int ivf_vf_unquiesce(struct ivf_device *ivf);
int ivf_vf_save(struct ivf_device *ivf, struct ivf_vf_state *st);
int ivf_vf_precheck(struct ivf_device *ivf, const struct ivf_pf_config *cfg);
int ivf_vf_restore(struct ivf_device *ivf, const struct ivf_vf_state *st);

/* replay.c */
int ivf_replay_send(struct ivf_device *ivf, void __iomem *io, u32 *msg,
		    unsigned int n, u32 *reply, unsigned int nreply,
		    const char *what);
int ivf_replay_config(struct ivf_device *ivf, void __iomem *io,
		      const struct ivf_pf_config *cfg);

/* dirty.c, dirty_shadow.c (shadow, reset), dirty_pulse.c (dma_unmap) */
void ivf_dirty_init(struct ivf_device *ivf);
void ivf_dirty_destroy(struct ivf_device *ivf);
int ivf_dirty_engage(struct ivf_device *ivf);
void ivf_dirty_disengage(struct ivf_device *ivf);
void ivf_dirty_reload(struct ivf_device *ivf);
void ivf_dirty_pause(struct ivf_device *ivf, bool pause);
void ivf_dirty_drain(struct ivf_device *ivf);
int ivf_dirty_check_lost(struct ivf_device *ivf);
void ivf_dirty_unpause(struct ivf_device *ivf);
void ivf_dirty_reset(struct ivf_device *ivf);
void ivf_dirty_guest_reset(struct ivf_device *ivf, void __iomem *io);
void ivf_dirty_dma_unmap(struct ivf_device *ivf, u64 iova, u64 length);
bool ivf_dirty_shadow(struct ivf_device *ivf, unsigned long *pfn);
bool ivf_dirty_shadow_rw(struct ivf_device *ivf, u64 off, __le32 *data,
			 bool iswrite);
void ivf_dirty_show(struct ivf_device *ivf, struct seq_file *m);

/* stream.c */
size_t ivf_stream_final_size(void);
size_t ivf_stream_put_config(const struct ivf_pf_config *cfg, u8 *buf);
size_t ivf_stream_put_final(const struct ivf_vf_state *st, u8 *buf);
int ivf_stream_check_header(struct pci_dev *pdev, const u8 *buf, u32 *len);
int ivf_stream_parse(struct pci_dev *pdev, const u8 *pkt, u32 len,
		     struct ivf_vf_state *st, bool *final);

/* mig_file.c */
struct file *ivf_mig_open_saving(struct ivf_device *ivf, bool final);
struct file *ivf_mig_open_resuming(struct ivf_device *ivf);
int ivf_mig_save_final(struct ivf_device *ivf, struct ivf_mig_file *migf);
int ivf_mig_apply(struct ivf_device *ivf);
void ivf_mig_file_end(struct ivf_device *ivf, struct ivf_mig_file **pmigf);

/* lm.c */
void ivf_lm_init(struct ivf_device *ivf);
void ivf_lm_destroy(struct ivf_device *ivf);
void ivf_lm_open(struct ivf_device *ivf);
void ivf_lm_close(struct ivf_device *ivf);
void ivf_lm_reset_done(struct ivf_device *ivf);
void ivf_lm_unlock(struct ivf_device *ivf);
bool ivf_lm_reset_pending(struct ivf_device *ivf);
void ivf_lm_show(struct ivf_device *ivf, struct seq_file *m);
extern const struct vfio_migration_ops ivf_mig_ops;

/* debugfs.c */
void ivf_debugfs_init(void);
void ivf_debugfs_exit(void);
void ivf_debugfs_add(struct ivf_device *ivf);
void ivf_debugfs_remove(struct ivf_device *ivf);

#endif /* IVF_H */
