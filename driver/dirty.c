// SPDX-License-Identifier: GPL-2.0-only
/*
 * igbvf-vfio-pci: dirty tracking of the VF's DMA.
 *
 * The 82576 VF writes guest memory in three places only: RX buffers named by
 * RX descriptors, RX descriptor write-back (in the RX ring) and TX
 * completion write-back (the TX ring, or the head write-back word). The
 * rings and the head write-back word are found in registers at any time.
 * RX buffers are not: write-back overwrites the buffer address in the
 * descriptor, so a buffer must be seen before the device may use it.
 *
 * So while tracking, user mappings of BAR0 page 2 (RX queue registers) are
 * moved onto a shadow page of RAM. A poller thread picks up what the guest
 * wrote there: it forwards ring changes in a safe order (queue disable
 * first, then base, length, buffer sizes and head, then enable), reads the
 * descriptors between the last forwarded tail and the new one from guest
 * memory, "arms" their buffers, and only then forwards the tail to the
 * device. It copies the fields the device updates (RDH, the drop counter)
 * back into the shadow. A guest may set a disabled ring up in any order,
 * tail before head: the enable is what hands the device head to tail, so
 * the poller arms head to tail (again) before it forwards the enable.
 *
 * Reporting (type1 pinned-page scope): once a group has pinned a page,
 * type1's VFIO_IOMMU_DIRTY_PAGES reports only pages pinned now or pinned
 * since the last report, instead of all mapped memory; it marks a page
 * dirty when it is pinned.
 *
 * The tracker pins a page for an instant once the device has
 * written it: a buffer when the device's head has passed it (or when the
 * tracker lets it go without knowing: a ring laid out again, a reset), the
 * descriptors the device wrote back, a TX ring's written-back descriptors
 * and head write-back word when its head moves (and a new ring whole).
 * After the device is quiesced the tracker looks once more (no DMA after
 * that), so the report that follows has everything. No pin is held between
 * polls: type1's unmap callback takes no lock of ours and never waits for
 * an unpin that needs type1's own lock (two unmapping threads deadlocked
 * there), and a report holds what was written, not what might be.
 *
 * The tracker is engaged the first time the device enters PRE_COPY and
 * stays on until the device is closed: the driver can't see the container's
 * dirty-tracking ioctls, and once engaged type1 would report nothing for
 * this group if we stopped pinning.
 *
 * Locking: dirty->lock serialises the poller, engagement and teardown
 * (type1's unmap callback takes none of ours: ivf_dirty_dma_unmap()); it
 * is taken before memory_lock. memory_lock is held (read) only
 * around register accesses, never across vfio_pin_pages(),
 * vfio_unpin_pages() or vfio_dma_rw() (see ivf_pass_io()). The core resets
 * the VF with memory_lock held for write and can't take dirty->lock:
 * ivf_dirty_reset() only touches the shadow and reset_seen[] (no register
 * section of a poll runs meanwhile) and leaves a note that ends the poll
 * under way and makes the next one start from the reset state.
 *
 * The parts: dirty_model.c, the model of the rings (spans, arming,
 * retiring, guest memory reads; no register access); dirty_pulse.c, the
 * type1 side (pulses, fences, retries, the unmap callback); dirty_shadow.c,
 * the shadow and the resets that reload it; dirty_poll.c, the poller
 * (register passes); dirty_log.c, DMA logging (built only with
 * CONFIG_IOMMUFD_DRIVER). This file: starting, stopping and engaging the
 * tracker, quiesce and reset, and debugfs.
 */
#include <linux/ktime.h>
#include <linux/mm.h>
#include <linux/slab.h>

#include "ivf.h"
#include "dirty_poll.h"
#include "dirty_shadow.h"

/*
 * The device's registers were set behind the shadow's back (a migration
 * restored into this VF while it is tracked): load them again.
 */
void ivf_dirty_reload(struct ivf_device *ivf)
{
	struct ivf_dirty *d = &ivf->dirty;

	mutex_lock(&d->lock);
	if (d->engaged &&
	    (ivf_dirty_switch(ivf, true) || ivf_dirty_start_rings(ivf)))
		ivf_warn_rl(ivf->core.pdev, "dirty tracking: could not reload the rings\n");
	mutex_unlock(&d->lock);
}

/* Shadow the doorbell and start the poller. dirty->lock held. */
int ivf_dirty_start(struct ivf_device *ivf)
{
	struct ivf_dirty *d = &ivf->dirty;
	struct pci_dev *pdev = ivf->core.pdev;
	unsigned int q;
	int ret;

	d->shadow = alloc_page(GFP_KERNEL_ACCOUNT | __GFP_ZERO);
	d->pages = kvcalloc(IVF_MAX_PIN, sizeof(*d->pages), GFP_KERNEL);
	if (!d->shadow || !d->pages) {
		ret = -ENOMEM;
		goto fail;
	}
	spin_lock(&d->shadow_lock);
	d->shadow_va = page_address(d->shadow);
	spin_unlock(&d->shadow_lock);
	memset(d->rx, 0, sizeof(d->rx));
	memset(d->tx, 0, sizeof(d->tx));
	for (q = 0; q < IVF_NUM_QUEUES; q++)
		d->tx[q].tdlen = U32_MAX;	/* lay the TX rings out */
	spin_lock(&d->fence_lock);
	memset(d->fence, 0, sizeof(d->fence));
	d->pulse_iova = 0;
	d->pulse_end = 0;
	spin_unlock(&d->fence_lock);
	memset(&d->st, 0, sizeof(d->st));
	atomic_set(&d->guest_reset, 0);
	atomic_set(&d->resync, 0);

	ret = ivf_dirty_switch(ivf, true);
	if (ret) {
		ivf_err_rl(pdev,
			   "dirty tracking: the VF is not accessible (low power state or BAR0 not mapped)\n");
		goto fail;
	}
	ret = ivf_dirty_start_rings(ivf);
	if (ret)
		goto fail_switch;

	WRITE_ONCE(d->paused, ivf->lm.quiesced);
	d->thread = kthread_run(ivf_dirty_thread, ivf, "ivf-dirty/%s",
				pci_name(pdev));
	if (IS_ERR(d->thread)) {
		ret = PTR_ERR(d->thread);
		d->thread = NULL;
		goto fail_switch;
	}
	d->engaged = true;
	return 0;

fail_switch:
	ivf_dirty_switch(ivf, false);
	ivf_dirty_drop_all(ivf);
fail:
	ivf_dirty_free_shadow(ivf);
	kvfree(d->pages);
	d->pages = NULL;
	return ret;
}

/* Stop the poller, hand the device its registers back. dirty->lock held. */
void ivf_dirty_stop(struct ivf_device *ivf)
{
	struct ivf_dirty *d = &ivf->dirty;

	if (!d->engaged)
		return;
	/* The poller only ever trylocks, so it can't be waiting on us. */
	kthread_stop(d->thread);
	d->thread = NULL;
	/* The guest's last writes reach the device, then the real page. */
	ivf_dirty_poll(ivf, true);
	ivf_dirty_switch(ivf, false);
	ivf_dirty_drop_all(ivf);
	ivf_dirty_free_shadow(ivf);
	kvfree(d->pages);
	d->pages = NULL;
	d->engaged = false;
}

/*
 * The device enters PRE_COPY (state_mutex held): a VMM migrates memory while
 * it runs. With a type1 container, pulse what the device wrote so type1
 * reports only that; from then on until close. Through iommufd there is no
 * container to pin in: DMA logging (log_ops) reports instead.
 */
int ivf_dirty_engage(struct ivf_device *ivf)
{
	struct ivf_dirty *d = &ivf->dirty;
	struct pci_dev *pdev = ivf->core.pdev;
	int ret = 0;

#if IS_ENABLED(CONFIG_IOMMUFD)
	if (ivf->core.vdev.iommufd_device)
		return 0;
#endif
	mutex_lock(&d->lock);
	/*
	 * A new migration: the VMM copies all of memory once more, pages
	 * that could not be marked dirty before included.
	 */
	memset(d->retry, 0, sizeof(d->retry));
	d->lost = false;
	d->lost_pages = 0;
	if (d->pin_mode)
		goto out;
	/* ONCE: ivf_dirty_dma_unmap() reads it without dirty->lock */
	WRITE_ONCE(d->pin_mode, true);
	d->scoped = false;
	d->scope_retry = jiffies;
	/* Logging may already run the tracker: from now on it pulses too. */
	if (!d->engaged)
		ret = ivf_dirty_start(ivf);
	if (ret) {
		WRITE_ONCE(d->pin_mode, false);
		ivf_warn_rl(pdev,
			    "dirty tracking not engaged (%d): the VMM sees every mapped page as dirty\n",
			    ret);
	} else {
		ivf_dirty_scope(ivf);
		pci_info_ratelimited(pdev, "dirty tracking engaged: RX doorbell shadowed%s\n",
				     d->scoped ? "" :
				     "; nothing pinnable yet, so type1 reports every mapped page until the guest sets up a ring");
	}
out:
	mutex_unlock(&d->lock);
	return ret;
}

/* The device is closed: tracking ends, page 2 maps the registers again. */
void ivf_dirty_disengage(struct ivf_device *ivf)
{
	struct ivf_dirty *d = &ivf->dirty;

	mutex_lock(&d->lock);
	/*
	 * No one will ask type1 about this device's writes any more: the
	 * last poll pulses nothing.
	 */
	WRITE_ONCE(d->pin_mode, false);
	ivf_dirty_stop(ivf);
	d->logging = false;
	ivf_log_clear(d);
	mutex_unlock(&d->lock);
}

/*
 * Quiesce: forward what the guest wrote last (the saved state must have
 * its tail) and stop polling; unquiesce: poll again.
 */
void ivf_dirty_pause(struct ivf_device *ivf, bool pause)
{
	struct ivf_dirty *d = &ivf->dirty;

	mutex_lock(&d->lock);
	if (d->engaged && pause && !d->paused)
		ivf_dirty_poll(ivf, true);
	WRITE_ONCE(d->paused, pause);
	mutex_unlock(&d->lock);
}

/*
 * The device is quiesced and does no more DMA (state_mutex held). type1:
 * what it wrote since the last poll is reported at the next sync: the RX
 * postings it consumed and the descriptors it wrote back, the TX
 * descriptors and head write-back, and what unmaps put off (waiting for
 * their fences).
 */
void ivf_dirty_drain(struct ivf_device *ivf)
{
	struct ivf_dirty *d = &ivf->dirty;
	u32 head[IVF_NUM_QUEUES], txr[IVF_NUM_QUEUES][6];
	ktime_t t0 = ktime_get();
	void __iomem *io;
	unsigned int q;
	u64 left;

	mutex_lock(&d->lock);
	if (!d->engaged || !d->pin_mode)
		goto out;
	io = ivf_pass_io(ivf);
	if (!io) {
		/*
		 * A reset (the core's, under memory_lock, or the guest's)
		 * went first: it restarts the rings, which pulses everything
		 * armed.
		 */
		goto sweep;
	}
	for (q = 0; q < IVF_NUM_QUEUES; q++) {
		head[q] = ioread32(io + IVF_RDH(q)) & IVF_RING_IDX_MASK;
		ivf_txq_read(io, q, txr[q]);
	}
	ivf_vf_io_unlock(ivf);
	for (q = 0; q < IVF_NUM_QUEUES; q++) {
		ivf_rxq_retire(ivf, &d->rx[q], head[q]);
		ivf_txq_update(ivf, q, txr[q]);
	}
sweep:
	if (atomic_read(&d->resync))
		ivf_dirty_resync(ivf);
	if (atomic_read(&d->guest_reset))
		ivf_dirty_guest_resync(ivf);
	ivf_pulse_sweep(ivf, true);
	left = ivf_pulse_retry(ivf, true);
	if (left && !d->lost) {
		d->lost = true;
		d->lost_pages = left;
		ivf_err_rl(ivf->core.pdev,
			   "dirty tracking: %llu pages the device wrote could not be marked dirty (%pe): STOP_COPY is refused until a new migration starts\n",
			   left, ERR_PTR(d->st.pulse_err));
	}
	d->st.drain_us = ktime_us_delta(ktime_get(), t0);
	if (d->st.drain_us > 20000)
		pci_info_ratelimited(ivf->core.pdev,
				     "dirty tracking: the device's stop took %llu ms to report its last writes\n",
				     d->st.drain_us / 1000);
out:
	mutex_unlock(&d->lock);
}

/*
 * The device is about to hand over its state (-> STOP_COPY): refuse if a
 * page it wrote could not be marked dirty since this migration began
 * (ivf_dirty_drain()); the VMM's copy of guest memory would miss it.
 * state_mutex held.
 */
int ivf_dirty_check_lost(struct ivf_device *ivf)
{
	struct ivf_dirty *d = &ivf->dirty;
	u64 lost;

	mutex_lock(&d->lock);
	lost = d->lost ? d->lost_pages : 0;
	mutex_unlock(&d->lock);
	if (!lost)
		return 0;
	ivf_err_rl(ivf->core.pdev,
		   "migration: STOP_COPY refused: %llu pages the device wrote were never reported to the VMM; cancel, and migrate again\n",
		   lost);
	return -EIO;
}

/*
 * The migration state went back to RUNNING because the VF was reset or
 * the device closed (state_mutex held; maybe memory_lock for write, in a
 * reset, so no dirty->lock): the queues are the guest's again, and its
 * doorbells must reach the device. Without this a reset from STOP or ERROR
 * left the poller paused: RX tails never forwarded, TX rings never pinned.
 * Serialised with ivf_dirty_pause() by state_mutex.
 */
void ivf_dirty_unpause(struct ivf_device *ivf)
{
	WRITE_ONCE(ivf->dirty.paused, false);
}

void ivf_dirty_show(struct ivf_device *ivf, struct seq_file *m)
{
	struct ivf_dirty *d = &ivf->dirty;
	const struct ivf_dirty_stats *st = &d->st;
	unsigned int q, armed = 0;
	u32 i;

	mutex_lock(&d->lock);
	for (q = 0; q < IVF_NUM_QUEUES; q++)
		for (i = 0; i < d->rx[q].ndesc; i++)
			if (d->rx[q].bufs[2 * i].npages ||
			    d->rx[q].bufs[2 * i + 1].npages)
				armed++;
	seq_printf(m, "tracking %d\npaused %d\narmed %u\npolls %llu\nforwarded_tails %llu\npin_failures %llu\npoll_us %u\npinned_scope %d\n",
		   d->engaged, d->paused, armed, st->polls, st->tails,
		   st->pin_failures, ivf_dirty_poll_us(),
		   d->pin_mode && d->scoped);
	seq_printf(m, "held_tails %llu\nrx_starved %llu\n",
		   st->held_tails, st->rx_starved);
	seq_printf(m, "pulsing %d\npulses %llu\npulse_deferred %llu\npulse_unmapped %llu\ndrain_us %llu\n",
		   d->pin_mode, st->pulses, st->pulse_deferred,
		   st->pulse_unmapped, st->drain_us);
	seq_printf(m, "pulse_failed %llu\npulse_err %d\nlost %llu\nlayout_nomem %llu\n",
		   st->pulse_failed, st->pulse_err, d->lost ? d->lost_pages : 0,
		   st->layout_nomem);
	seq_printf(m, "logging %d\nlog_ranges %u\nlog_entries %lu\nlog_max %u\nlog_overflows %llu\n",
		   d->logging, d->log_nranges, d->log_entries,
		   IVF_LOG_MAX_PAGES, d->log_overflows);
	for (q = 0; q < IVF_NUM_QUEUES; q++) {
		struct ivf_rxq_trk *t = &d->rx[q];

		seq_printf(m, "rx%u ring 0x%llx ndesc %u srrctl 0x%08x posted %llu\n",
			   q, t->base, t->ndesc, t->srrctl,
			   t->tail_seq - t->head_seq);
	}
	/*
	 * RXDCTL, RDH and RDT as the guest sees them (the shadow), as the
	 * poller last forwarded them, and as the device has them.
	 */
	for (q = 0; d->engaged && q < IVF_NUM_QUEUES; q++) {
		static const u32 off[] = {
			IVF_RXDCTL(0) - IVF_RDBAL(0),
			IVF_RDH(0) - IVF_RDBAL(0),
			IVF_RDT(0) - IVF_RDBAL(0),
		};
		static const char * const name[] = { "rxdctl", "rdh", "rdt" };
		void __iomem *io;

		for (i = 0; i < ARRAY_SIZE(off); i++) {
			u32 reg = IVF_RDBAL(q) + off[i], dev = U32_MAX;

			io = ivf_vf_io_try(ivf);
			if (io) {
				dev = ioread32(io + reg);
				ivf_vf_io_unlock(ivf);
			}
			seq_printf(m, "rx%u %s shadow 0x%08x seen 0x%08x device 0x%08x\n",
				   q, name[i], READ_ONCE(*ivf_sh(d, reg)),
				   d->rx[q].seen[off[i] / 4], dev);
		}
	}
	mutex_unlock(&d->lock);
}

void ivf_dirty_init(struct ivf_device *ivf)
{
	mutex_init(&ivf->dirty.lock);
	spin_lock_init(&ivf->dirty.shadow_lock);
	spin_lock_init(&ivf->dirty.fence_lock);
	init_waitqueue_head(&ivf->dirty.pulse_wq);
	xa_init(&ivf->dirty.log);
	ivf_dirty_log_init(ivf);
}

void ivf_dirty_destroy(struct ivf_device *ivf)
{
	mutex_destroy(&ivf->dirty.lock);
}
