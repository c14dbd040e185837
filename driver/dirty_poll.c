// SPDX-License-Identifier: GPL-2.0-only
/*
 * igbvf-vfio-pci dirty tracking: the poller.
 *
 * While tracking, user mappings of BAR0 page 2 (RX queue registers) fault
 * onto a page of RAM, the shadow (dirty_shadow.c). The poller thread
 * forwards what the guest wrote there to the device in a safe order, arming
 * RX buffers (the ring model, dirty_model.c) before the device is given
 * them, and copies what the device updates back; it reads the TX rings'
 * registers for the model too, and lays the rings out when tracking
 * starts. Register sections hold memory_lock (read) only; see
 * ivf_pass_io(). See dirty.c for the whole.
 */
#include <linux/delay.h>
#include <linux/io.h>
#include <linux/kstrtox.h>
#include <linux/kthread.h>
#include <linux/minmax.h>
#include <linux/moduleparam.h>
#include <linux/slab.h>

#include "ivf.h"
#include "dirty_poll.h"
#include "dirty_shadow.h"

/* A module parameter that refuses values outside [min, max] (ERANGE). */
struct ivf_uint_param {
	unsigned int *val;
	unsigned int min, max;
};

static int ivf_uint_set(const char *val, const struct kernel_param *kp)
{
	const struct ivf_uint_param *p = kp->arg;
	unsigned int n;
	int ret;

	ret = kstrtouint(val, 0, &n);
	if (ret)
		return ret;
	if (n < p->min || n > p->max)
		return -ERANGE;
	WRITE_ONCE(*p->val, n);
	return 0;
}

static int ivf_uint_get(char *buf, const struct kernel_param *kp)
{
	const struct ivf_uint_param *p = kp->arg;

	return sysfs_emit(buf, "%u\n", READ_ONCE(*p->val));
}

static const struct kernel_param_ops ivf_uint_ops = {
	.set	= ivf_uint_set,
	.get	= ivf_uint_get,
};

/*
 * The poller's period. Bounded: a period near UINT_MAX would put the
 * poller to sleep for 71 minutes, and kthread_stop() (device close) would
 * wait for it.
 */
#define IVF_POLL_US_MIN		5
#define IVF_POLL_US_MAX		1000000
static unsigned int dirty_poll_us = 50;
static struct ivf_uint_param ivf_poll_us_param = {
	&dirty_poll_us, IVF_POLL_US_MIN, IVF_POLL_US_MAX
};
module_param_cb(dirty_poll_us, &ivf_uint_ops, &ivf_poll_us_param, 0644);
MODULE_PARM_DESC(dirty_poll_us,
		 "While tracking dirty pages: period of the RX doorbell poller in microseconds, 5-1000000 (default 50)");

/* Routine passes look at the TX rings (and pulses put off) this often. */
#define IVF_TX_CHECK_POLLS	16

unsigned int ivf_dirty_poll_us(void)
{
	return READ_ONCE(dirty_poll_us);
}

static bool ivf_rxq_special(u32 reg, unsigned int q)
{
	return reg == IVF_RXDCTL(q) || reg == IVF_RDT(q) || reg == IVF_RDH(q) ||
	       reg == IVF_RQDPC(q);
}

/*
 * A pass holds memory_lock (read) only while it touches registers, never
 * across a call into the IOMMU backend: vfio_pin_pages(), vfio_unpin_pages()
 * and vfio_dma_rw() take the container's lock, under which type1 takes
 * mmap_lock, under which a BAR fault takes memory_lock (lockdep saw the
 * cycle). Between two register sections the core may reset the VF (resync
 * is set again) or make it inaccessible: the pass then ends where it is.
 * Each step records what the device has (seen[]) only once it is written,
 * and lays out or restarts a ring before the device gets it, so the next
 * pass carries on (after a reset, from the reset state).
 */
void __iomem *ivf_pass_io(struct ivf_device *ivf)
{
	void __iomem *io = ivf_vf_io_try(ivf);

	if (io && (atomic_read(&ivf->dirty.resync) ||
		   atomic_read(&ivf->dirty.guest_reset))) {
		ivf_vf_io_unlock(ivf);
		io = NULL;
	}
	return io;
}

#define SEEN(t, r, q)	((t)->seen[((r) - IVF_RDBAL(q)) / 4])

/* Step 1: a queue disable goes to the device first. */
static void ivf_rxq_disable(struct ivf_dirty *d, struct ivf_rxq_trk *t,
			    void __iomem *io, unsigned int q, u32 rxdctl)
{
	if (rxdctl != SEEN(t, IVF_RXDCTL(q), q) &&
	    !(rxdctl & IVF_XDCTL_ENABLE)) {
		iowrite32(rxdctl, io + IVF_RXDCTL(q));
		SEEN(t, IVF_RXDCTL(q), q) = rxdctl;
	}
}

/*
 * Step 2: ring base, length, buffer sizes, anything else; then the head.
 * A guest that changed its ring or buffer sizes between two polls never had
 * the device see the queue disabled: it is disabled here for the change
 * (the buffers armed for the old layout are dropped, and armed again for
 * the new one before the enable). A head past the ring is given to the
 * device modulo the ring. false: the pass ends; the new layout could not
 * be made (no memory) and the queue is held disabled until it can.
 */
static bool ivf_rxq_geometry(struct ivf_device *ivf, struct ivf_rxq_trk *t,
			     void __iomem **pio, unsigned int q, bool *held)
{
	struct ivf_dirty *d = &ivf->dirty;
	u32 bal, bah, len, srr, rdh, reg, w;
	void __iomem *io = *pio;
	bool relayout;

	bal = READ_ONCE(*ivf_sh(d, IVF_RDBAL(q)));
	bah = READ_ONCE(*ivf_sh(d, IVF_RDBAH(q)));
	len = READ_ONCE(*ivf_sh(d, IVF_RDLEN(q)));
	srr = READ_ONCE(*ivf_sh(d, IVF_SRRCTL(q)));
	rdh = READ_ONCE(*ivf_sh(d, IVF_RDH(q)));
	relayout = bal != SEEN(t, IVF_RDBAL(q), q) ||
		   bah != SEEN(t, IVF_RDBAH(q), q) ||
		   len != SEEN(t, IVF_RDLEN(q), q) ||
		   srr != SEEN(t, IVF_SRRCTL(q), q);
	if ((relayout || rdh != SEEN(t, IVF_RDH(q), q)) &&
	    (SEEN(t, IVF_RXDCTL(q), q) & IVF_XDCTL_ENABLE)) {
		iowrite32(SEEN(t, IVF_RXDCTL(q), q) & ~IVF_XDCTL_ENABLE,
			  io + IVF_RXDCTL(q));
		SEEN(t, IVF_RXDCTL(q), q) &= ~IVF_XDCTL_ENABLE;
	}
	if (relayout || rdh != SEEN(t, IVF_RDH(q), q)) {
		/* Lay out the new geometry before the device gets it. */
		ivf_vf_io_unlock(ivf);
		*pio = NULL;
		if (relayout && ivf_rxq_layout(ivf, t, bal, bah, len, srr)) {
			if (!d->st.layout_nomem++)
				ivf_warn_rl(ivf->core.pdev,
					    "dirty tracking: no memory to lay out RX queue %u's ring: the queue stays disabled until there is\n",
					    q);
			*held = true;
			return true;
		}
		/* A new head: nothing is posted until the tail moves again. */
		ivf_rxq_restart(ivf, t, t->ndesc ?
				(rdh & IVF_RING_IDX_MASK) % t->ndesc : 0);
		io = ivf_pass_io(ivf);
		if (!io)
			return false;
		*pio = io;
	}
	for (reg = IVF_RDBAL(q); reg < IVF_RDBAL(q) + 0x100; reg += 4) {
		if (ivf_rxq_special(reg, q))
			continue;
		if (reg == IVF_RDBAL(q))
			w = bal;
		else if (reg == IVF_RDBAH(q))
			w = bah;
		else if (reg == IVF_RDLEN(q))
			w = len;
		else if (reg == IVF_SRRCTL(q))
			w = srr;
		else
			w = READ_ONCE(*ivf_sh(d, reg));
		if (w == SEEN(t, reg, q))
			continue;
		iowrite32(w, io + reg);
		SEEN(t, reg, q) = w;
	}
	if (rdh != SEEN(t, IVF_RDH(q), q)) {
		iowrite32(t->head_seq % max(t->ndesc, 1U), io + IVF_RDH(q));
		SEEN(t, IVF_RDH(q), q) = rdh;
	}
	return true;
}

/*
 * Step 3: the enable. The device owns head to tail from here on: if the
 * head moved while the queue was off, under a tail written before it (step
 * 2 dropped what that tail armed), arm it again first, and give the device
 * only the tail that is armed.
 */
static bool ivf_rxq_enable(struct ivf_device *ivf, struct ivf_rxq_trk *t,
			   void __iomem **pio, unsigned int q, u32 rxdctl)
{
	void __iomem *io = *pio;
	int fwd;

	if (rxdctl == SEEN(t, IVF_RXDCTL(q), q))
		return true;
	if ((rxdctl & IVF_XDCTL_ENABLE) &&
	    !(SEEN(t, IVF_RXDCTL(q), q) & IVF_XDCTL_ENABLE)) {
		ivf_vf_io_unlock(ivf);
		*pio = NULL;
		fwd = ivf_rxq_tail(ivf, t, SEEN(t, IVF_RDT(q), q));
		io = ivf_pass_io(ivf);
		if (!io)
			return false;
		*pio = io;
		if (fwd < 0)
			fwd = t->ndesc ? t->tail_seq % t->ndesc : 0;
		if (fwd != SEEN(t, IVF_RDT(q), q)) {
			iowrite32(fwd, io + IVF_RDT(q));
			SEEN(t, IVF_RDT(q), q) = fwd;
		}
	}
	iowrite32(rxdctl, io + IVF_RXDCTL(q));
	SEEN(t, IVF_RXDCTL(q), q) = rxdctl;
	return true;
}

/*
 * Step 4, queue enabled: show the guest what the device changed (a VF reset
 * disables the queue behind its back; the head moves), and retire what the
 * device consumed, by posting number: a slot the guest posts again later
 * keeps its new buffer armed whatever the head does meanwhile.
 */
static bool ivf_rxq_consumed(struct ivf_device *ivf, struct ivf_rxq_trk *t,
			     void __iomem **pio, unsigned int q, bool full)
{
	struct ivf_dirty *d = &ivf->dirty;
	void __iomem *io = *pio;
	u32 v, head;

	v = ioread32(io + IVF_RXDCTL(q));
	if (v != SEEN(t, IVF_RXDCTL(q), q) &&
	    cmpxchg(ivf_sh(d, IVF_RXDCTL(q)), SEEN(t, IVF_RXDCTL(q), q), v) ==
	    SEEN(t, IVF_RXDCTL(q), q))
		SEEN(t, IVF_RXDCTL(q), q) = v;
	head = ioread32(io + IVF_RDH(q));
	/*
	 * The device has used every descriptor it was given while the guest
	 * has posted more that we have not forwarded yet: frames arriving now
	 * are dropped (QEMU's igb drops them without counting them anywhere
	 * the VF can see). Counted, so that a loss can be told from a bug.
	 */
	if ((head & IVF_RING_IDX_MASK) == SEEN(t, IVF_RDT(q), q) &&
	    READ_ONCE(*ivf_sh(d, IVF_RDT(q))) != SEEN(t, IVF_RDT(q), q))
		d->st.rx_starved++;
	if (full || !(d->st.polls % IVF_TX_CHECK_POLLS))
		WRITE_ONCE(*ivf_sh(d, IVF_RQDPC(q)),
			   ioread32(io + IVF_RQDPC(q)));
	ivf_vf_io_unlock(ivf);
	*pio = NULL;
	ivf_rxq_retire(ivf, t, head & IVF_RING_IDX_MASK);
	io = ivf_pass_io(ivf);
	if (!io)
		return false;
	*pio = io;
	if (cmpxchg(ivf_sh(d, IVF_RDH(q)), SEEN(t, IVF_RDH(q), q), head) ==
	    SEEN(t, IVF_RDH(q), q))
		SEEN(t, IVF_RDH(q), q) = head;
	return true;
}

/*
 * One RX queue: forward what the guest wrote to the shadow, in a safe
 * order, arming buffers before the device may use them. false: the pass
 * ends (the VF was reset or became inaccessible: see ivf_pass_io()).
 */
static bool ivf_rxq_poll(struct ivf_device *ivf, unsigned int q, bool full)
{
	struct ivf_dirty *d = &ivf->dirty;
	struct ivf_rxq_trk *t = &d->rx[q];
	void __iomem *io;
	bool held = false;
	u32 rxdctl, v;
	int fwd;

	io = ivf_pass_io(ivf);
	if (!io)
		return false;
	rxdctl = READ_ONCE(*ivf_sh(d, IVF_RXDCTL(q)));
	ivf_rxq_disable(d, t, io, q, rxdctl);
	if (!ivf_rxq_geometry(ivf, t, &io, q, &held))
		return false;
	if (held)
		return true;
	if (!ivf_rxq_enable(ivf, t, &io, q, rxdctl))
		return false;
	/*
	 * A disabled queue's head doesn't move and the device doesn't enable
	 * it by itself: no register reads for it (each one is a device
	 * access; an idle queue costs nothing).
	 */
	if ((SEEN(t, IVF_RXDCTL(q), q) & IVF_XDCTL_ENABLE) &&
	    !ivf_rxq_consumed(ivf, t, &io, q, full))
		return false;

	/*
	 * Step 5: the tail, once what it posts is armed (a disabled queue's
	 * too: if the head moves before the enable, step 2 drops these and
	 * step 3 arms again from the new head).
	 */
	v = READ_ONCE(*ivf_sh(d, IVF_RDT(q)));
	if (v != SEEN(t, IVF_RDT(q), q)) {
		ivf_vf_io_unlock(ivf);
		fwd = ivf_rxq_tail(ivf, t, v);
		io = ivf_pass_io(ivf);
		if (!io)
			return false;
		if (fwd >= 0 && fwd != SEEN(t, IVF_RDT(q), q)) {
			iowrite32(fwd, io + IVF_RDT(q));
			SEEN(t, IVF_RDT(q), q) = fwd;
			d->st.tails++;
		}
	}
	ivf_vf_io_unlock(ivf);
	return true;
}

#undef SEEN

/*
 * TX ring and head write-back registers of queue @q, and its head
 * (memory_lock held).
 */
void ivf_txq_read(void __iomem *io, unsigned int q, u32 r[6])
{
	r[0] = ioread32(io + IVF_TDBAL(q));
	r[1] = ioread32(io + IVF_TDBAH(q));
	r[2] = ioread32(io + IVF_TDLEN(q)) & IVF_RING_LEN_MASK;
	r[3] = ioread32(io + IVF_TDWBAL(q));
	r[4] = ioread32(io + IVF_TDWBAH(q));
	r[5] = ioread32(io + IVF_TDH(q)) & IVF_RING_IDX_MASK;
}

/*
 * One pass; dirty->lock held. @full: also the TX rings, put-off pulses and
 * retries, which routine passes only look at every IVF_TX_CHECK_POLLS.
 */
void ivf_dirty_poll(struct ivf_device *ivf, bool full)
{
	struct ivf_dirty *d = &ivf->dirty;
	u32 txr[IVF_NUM_QUEUES][6];
	void __iomem *io;
	unsigned int q;

	if (atomic_read(&d->resync))
		ivf_dirty_resync(ivf);
	if (atomic_read(&d->guest_reset) && !ivf_dirty_guest_resync(ivf))
		goto out;
	for (q = 0; q < IVF_NUM_QUEUES; q++)
		if (!ivf_rxq_poll(ivf, q, full))
			goto out;
	if (full || !(d->st.polls % IVF_TX_CHECK_POLLS)) {
		io = ivf_pass_io(ivf);
		if (!io)
			goto out;
		for (q = 0; q < IVF_NUM_QUEUES; q++)
			ivf_txq_read(io, q, txr[q]);
		ivf_vf_io_unlock(ivf);
		for (q = 0; q < IVF_NUM_QUEUES; q++)
			ivf_txq_update(ivf, q, txr[q]);
		if (d->pin_mode) {
			ivf_pulse_sweep(ivf, false);
			ivf_pulse_retry(ivf, false);
		}
		ivf_dirty_scope(ivf);
	}
out:
	d->st.polls++;
}

int ivf_dirty_thread(void *data)
{
	struct ivf_device *ivf = data;
	struct ivf_dirty *d = &ivf->dirty;
	unsigned int us;

	/*
	 * An ordinary thread: a real-time poller starved everything else on
	 * a one-vCPU guest (the lab's suite ran five times slower).
	 */
	while (!kthread_should_stop()) {
		/* Never blocks on the lock: it may be held to stop us. */
		if (mutex_trylock(&d->lock)) {
			if (!READ_ONCE(d->paused))
				ivf_dirty_poll(ivf, false);
			mutex_unlock(&d->lock);
		}
		us = clamp(READ_ONCE(dirty_poll_us), IVF_POLL_US_MIN,
			   IVF_POLL_US_MAX);
		usleep_range(us, us + us / 4);
	}
	return 0;
}

/*
 * The shadow was just loaded from the device: lay the rings out and arm
 * what is posted already (hardware head to tail). dirty->lock held; memory_lock
 * only around the register reads (see ivf_pass_io()).
 */
int ivf_dirty_start_rings(struct ivf_device *ivf)
{
	struct ivf_dirty *d = &ivf->dirty;
	u32 head[IVF_NUM_QUEUES], txr[IVF_NUM_QUEUES][6];
	bool armed[IVF_NUM_QUEUES] = { };
	void __iomem *io;
	unsigned int q;
	int ret = 0;

	io = ivf_pass_io(ivf);
	if (!io)
		goto no_io;
	for (q = 0; q < IVF_NUM_QUEUES; q++) {
		head[q] = ioread32(io + IVF_RDH(q)) & 0xffff;
		ivf_txq_read(io, q, txr[q]);
	}
	ivf_vf_io_unlock(ivf);
	for (q = 0; q < IVF_NUM_QUEUES; q++) {
		struct ivf_rxq_trk *t = &d->rx[q];
		u32 *s = t->seen, tail;

		ret = ivf_rxq_layout(ivf, t, s[0], s[1], s[2], s[3]);
		if (ret)
			return ret;
		tail = s[(IVF_RDT(q) - IVF_RDBAL(q)) / 4] & 0xffff;
		/*
		 * A head past the ring (the guest wrote it so before tracking
		 * started): the 82576 leaves that undefined; QEMU's igb writes
		 * back one descriptor there and goes on from index 0. Arm from
		 * there: the device may own all of it up to the tail.
		 */
		if (t->ndesc && tail < t->ndesc) {
			ivf_rxq_restart(ivf, t, head[q] < t->ndesc ? head[q] : 0);
			ivf_rxq_arm_to(ivf, t, tail);
			armed[q] = true;
		}
		ivf_txq_update(ivf, q, txr[q]);
	}
	/*
	 * The device kept receiving: what it consumed meanwhile may have been
	 * read as written-back descriptors. Those buffers were written before
	 * tracking started.
	 */
	io = ivf_pass_io(ivf);
	if (!io)
		goto no_io;
	for (q = 0; q < IVF_NUM_QUEUES; q++)
		head[q] = ioread32(io + IVF_RDH(q)) & 0xffff;
	ivf_vf_io_unlock(ivf);
	for (q = 0; q < IVF_NUM_QUEUES; q++)
		if (armed[q])
			ivf_rxq_retire(ivf, &d->rx[q], head[q]);
	return 0;

no_io:
	ivf_err_rl(ivf->core.pdev,
		   "dirty tracking: the VF is not accessible (low power state, BAR0 not mapped, or a reset)\n");
	return -EIO;
}
