// SPDX-License-Identifier: GPL-2.0-only
/*
 * igbvf-vfio-pci dirty tracking: the doorbell shadow, and the VF resets
 * that reload it.
 *
 * While tracking, user mappings of BAR0 page 2 (RX queue registers) fault
 * onto a page of RAM, the shadow, and reads and writes of page 2 through
 * the device file go there too; the poller (dirty_poll.c) forwards what the
 * guest wrote there to the device. This file: those faults and accesses,
 * putting the shadow in place of page 2 (loaded from the device) and
 * taking it away, freeing it, and the two resets that change the VF's
 * registers behind the poller's back: the core's, which can't take
 * dirty->lock, and the guest's CTRL.RST (the page-0 trap). Each reset
 * loads the shadow from the device at once, under shadow_lock, and leaves
 * a note (resync, guest_reset); its second half, ivf_dirty_resync() or
 * ivf_dirty_guest_resync(), runs in the next pass (dirty->lock held),
 * takes seen[] from the device and restarts the rings. See dirty.c for the
 * whole.
 */
#include <linux/io.h>
#include <linux/mm.h>
#include <linux/spinlock.h>

#include "ivf.h"
#include "dirty_shadow.h"

/*
 * Fault on BAR0 page 2 while tracking: the shadow, with RAM's own
 * protection (the vma's is uncached, for MMIO). memory_lock held.
 */
bool ivf_dirty_shadow(struct ivf_device *ivf, unsigned long *pfn)
{
	struct ivf_dirty *d = &ivf->dirty;

	if (!d->shadow_on)
		return false;
	*pfn = page_to_pfn(d->shadow);
	return true;
}

/*
 * read/write of page 2 while tracking go to the shadow too, or a write of
 * the tail through the file would skip the arming. memory_lock held.
 */
bool ivf_dirty_shadow_rw(struct ivf_device *ivf, u64 off, __le32 *data,
			 bool iswrite)
{
	struct ivf_dirty *d = &ivf->dirty;
	u32 *w;

	if (!d->shadow_on)
		return false;
	w = &d->shadow_va[IVF_SH(off)];
	if (iswrite)
		WRITE_ONCE(*w, le32_to_cpu(*data));
	else
		*data = cpu_to_le32(READ_ONCE(*w));
	return true;
}

/*
 * What the guest last enabled on RX queue @q, as the device has or will
 * have it: a quiesced device (P2P and stopped states, or restored and not
 * running yet) has its queues disabled by us, and gets lm->rxdctl back on
 * the way to a running state. The shadow and the poller must hold that
 * value, or a queue the device runs would look disabled to both: the
 * poller would neither retire its buffers nor forward the guest's disable.
 * Caller holds state_mutex (or memory_lock for write, with no migration
 * arc under way) and has read @dev from the device.
 */
static u32 ivf_rxdctl_of(struct ivf_device *ivf, unsigned int q, u32 dev)
{
	return ivf->lm.quiesced ? ivf->lm.rxdctl[q] : dev;
}

/*
 * Put the shadow in place of page 2 (or take it away), under memory_lock.
 * Loading it reads the device: refused (-EIO) if the VF is in a low power
 * state or its BAR0 is not mapped. Caller holds state_mutex and dirty->lock.
 */
int ivf_dirty_switch(struct ivf_device *ivf, bool on)
{
	struct vfio_pci_core_device *vdev = &ivf->core;
	struct ivf_dirty *d = &ivf->dirty;
	void __iomem *io = vdev->barmap[VFIO_PCI_BAR0_REGION_INDEX];
	unsigned int q, i;

	lockdep_assert_held(&d->lock);
	down_write(&vdev->memory_lock);
	if (on && (!io || vdev->pm_runtime_engaged ||
		   (__force int)vdev->pdev->current_state >=
		   (__force int)PCI_D3hot)) {
		up_write(&vdev->memory_lock);
		return -EIO;
	}
	unmap_mapping_range(vdev->vdev.inode->i_mapping,
			    VFIO_PCI_INDEX_TO_OFFSET(VFIO_PCI_BAR0_REGION_INDEX) +
			    IVF_PAGE2, PAGE_SIZE, true);
	if (on) {
		/* No user write can reach the device from here on. */
		for (q = 0; q < IVF_NUM_QUEUES; q++) {
			for (i = 0; i < IVF_RXQ_WORDS / 2; i++) {
				u32 reg = IVF_RDBAL(q) + 4 * i;
				u32 v = ioread32(io + reg);

				if (reg == IVF_RXDCTL(q))
					v = ivf_rxdctl_of(ivf, q, v);
				d->shadow_va[IVF_SH(reg)] = v;
				d->rx[q].seen[i] = v;
			}
		}
	}
	d->shadow_on = on;
	up_write(&vdev->memory_lock);
	return 0;
}

/*
 * A reset through sysfs (pci_reset_function()) reaches ivf_dirty_reset()
 * without memory_lock: shadow_lock keeps the shadow from being freed under
 * it.
 */
void ivf_dirty_free_shadow(struct ivf_device *ivf)
{
	struct ivf_dirty *d = &ivf->dirty;
	struct page *page = d->shadow;

	spin_lock(&d->shadow_lock);
	d->shadow_va = NULL;
	d->shadow = NULL;
	spin_unlock(&d->shadow_lock);
	if (page)
		__free_page(page);
}

/*
 * After a VF reset: the shadow holds what the device now has. The core
 * writes reset_seen[] with memory_lock held for write.
 */
void ivf_dirty_resync(struct ivf_device *ivf)
{
	struct ivf_dirty *d = &ivf->dirty;
	u32 head[IVF_NUM_QUEUES];
	unsigned int q;

	down_read(&ivf->core.memory_lock);
	atomic_set(&d->resync, 0);
	for (q = 0; q < IVF_NUM_QUEUES; q++) {
		struct ivf_rxq_trk *t = &d->rx[q];

		memcpy(t->seen, d->reset_seen[q], sizeof(t->seen));
		head[q] = t->seen[(IVF_RDH(q) - IVF_RDBAL(q)) / 4] & 0xffff;
	}
	up_read(&ivf->core.memory_lock);
	for (q = 0; q < IVF_NUM_QUEUES; q++) {
		struct ivf_rxq_trk *t = &d->rx[q];

		ivf_rxq_restart(ivf, t, t->ndesc ? head[q] % t->ndesc : 0);
	}
}

/*
 * The device's RX queue registers into the shadow, after a reset (the
 * core's, @guest false: also into reset_seen[] for the poller; or the
 * guest's, @guest true: with every queue disabled). shadow_lock held.
 */
static void ivf_shadow_from_device(struct ivf_dirty *d, void __iomem *io,
				   bool guest)
{
	unsigned int q, i;

	lockdep_assert_held(&d->shadow_lock);
	for (q = 0; q < IVF_NUM_QUEUES; q++) {
		for (i = 0; i < IVF_RXQ_WORDS / 2; i++) {
			u32 reg = IVF_RDBAL(q) + 4 * i;
			u32 v = ioread32(io + reg);

			if (guest && reg == IVF_RXDCTL(q))
				v &= ~IVF_XDCTL_ENABLE;
			WRITE_ONCE(d->shadow_va[IVF_SH(reg)], v);
			if (!guest)
				d->reset_seen[q][i] = v;
		}
	}
}

/*
 * The VF was reset (memory_lock held for write by the core, so no poll is
 * in a register section): put the device's registers in the shadow and
 * tell the poller.
 */
void ivf_dirty_reset(struct ivf_device *ivf)
{
	struct vfio_pci_core_device *vdev = &ivf->core;
	struct ivf_dirty *d = &ivf->dirty;
	void __iomem *io = vdev->barmap[VFIO_PCI_BAR0_REGION_INDEX];

	spin_lock(&d->shadow_lock);
	if (READ_ONCE(d->shadow_on) && d->shadow_va && io) {
		ivf_shadow_from_device(d, io, false);
		atomic_set(&d->resync, 1);
	}
	spin_unlock(&d->shadow_lock);
}

/*
 * The guest wrote CTRL.RST (the page-0 trap, memory_lock held for read, the
 * write already on the device). On the 82576 a VF reset puts the VF's queue
 * registers back to their reset values (QEMU's model only clears the queue
 * enables): what the poller has seen is stale, and a guest that programs
 * the same ring again would not have it forwarded. The guest's next writes
 * to page 2 land in the shadow and must all reach the device, however late
 * the poller runs: so the shadow takes the device's registers here, before
 * the guest's write returns, with every queue disabled (a reset disables
 * them, even if the device does not show it yet); the next pass takes
 * seen[] from the device and restarts the rings. A pass that loaded the
 * shadow earlier may still forward one stale value after the reset: the
 * next pass compares with what the device then has and puts it right.
 */
void ivf_dirty_guest_reset(struct ivf_device *ivf, void __iomem *io)
{
	struct ivf_dirty *d = &ivf->dirty;

	spin_lock(&d->shadow_lock);
	if (READ_ONCE(d->shadow_on) && d->shadow_va) {
		ivf_shadow_from_device(d, io, true);
		atomic_set(&d->guest_reset, 1);
	}
	spin_unlock(&d->shadow_lock);
}

/*
 * The pass's part of a guest's CTRL.RST: what the device has now, in
 * seen[] (the shadow is the guest's since ivf_dirty_guest_reset()); false:
 * the pass ends.
 */
bool ivf_dirty_guest_resync(struct ivf_device *ivf)
{
	struct ivf_dirty *d = &ivf->dirty;
	u32 head[IVF_NUM_QUEUES];
	void __iomem *io;
	unsigned int q, i;

	/* not ivf_pass_io(): it ends the pass while guest_reset is set */
	io = ivf_vf_io_try(ivf);
	if (!io)
		return false;
	if (atomic_read(&d->resync)) {
		ivf_vf_io_unlock(ivf);
		return false;
	}
	atomic_set(&d->guest_reset, 0);
	for (q = 0; q < IVF_NUM_QUEUES; q++) {
		for (i = 0; i < IVF_RXQ_WORDS / 2; i++)
			d->rx[q].seen[i] = ioread32(io + IVF_RDBAL(q) + 4 * i);
		head[q] = ioread32(io + IVF_RDH(q)) & IVF_RING_IDX_MASK;
	}
	ivf_vf_io_unlock(ivf);
	for (q = 0; q < IVF_NUM_QUEUES; q++) {
		struct ivf_rxq_trk *t = &d->rx[q];

		ivf_rxq_restart(ivf, t, t->ndesc ? head[q] % t->ndesc : 0);
	}
	return true;
}
