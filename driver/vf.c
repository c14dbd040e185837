// SPDX-License-Identifier: GPL-2.0-only
/*
 * igbvf-vfio-pci: the VF's registers for migration.
 *
 * Quiesce (entering a P2P or stopped state): disable both queue pairs so the
 * device starts no new DMA, mask its interrupts, let the interrupt throttle
 * timers run out (a timer that fires still signals, whatever the mask), and
 * let a mailbox request the guest sent be answered. Unquiesce puts the
 * queue enables and the interrupt mask back, re-writes the tails (in QEMU
 * only a TDT write makes the device look at pending TX descriptors) and
 * raises every enabled vector once, for anything that happened meanwhile.
 *
 * Save reads the registers the guest programmed. Restore, on a freshly
 * reset destination VF: reset the VF, redo the PF handshake and replay the
 * configuration the source PF had acknowledged, checking every answer
 * (replay.c), then
 * program the rings with the queues still disabled; they are enabled on the
 * way to RUNNING, when the VMM has restored bus mastering.
 *
 * The FSM (lm.c) calls all of these with state_mutex held, which also
 * guards what they keep in struct ivf_lm (quiesced, the saved enables and
 * interrupt mask); only ivf_vf_clear_queues() runs at open, without it.
 */
#include <linux/delay.h>
#include <linux/io.h>
#include <linux/iopoll.h>

#include "ivf.h"

/* A queue stops within one descriptor's DMA; 10 ms is generous. */
#define IVF_QUEUE_STOP_US	10000
#define IVF_QUEUE_STOP_POLL_US	10
#define IVF_EIMS_ALL		((1U << IVF_MSIX_VECTORS) - 1)

/*
 * Device access for migration. The driver's own accesses don't depend on
 * the guest's COMMAND.MEM (a VF always decodes), but the device must be
 * powered: D3 or runtime-suspended is refused. memory_lock is held (read)
 * until ivf_vf_io_unlock(), which orders us against the core's resets.
 */
void __iomem *ivf_vf_io_try(struct ivf_device *ivf)
{
	struct vfio_pci_core_device *vdev = &ivf->core;
	void __iomem *io = vdev->barmap[VFIO_PCI_BAR0_REGION_INDEX];

	down_read(&vdev->memory_lock);
	if (io && !vdev->pm_runtime_engaged &&
	    (__force int)vdev->pdev->current_state < (__force int)PCI_D3hot)
		return io;
	up_read(&vdev->memory_lock);
	return NULL;
}

void ivf_vf_io_unlock(struct ivf_device *ivf)
{
	up_read(&ivf->core.memory_lock);
}

/*
 * The migration paths' device access: ivf_vf_io_lock() ... ivf_vf_io_done().
 *
 * A real 82576 VF decodes its BARs whatever its COMMAND register says (a VF
 * has no memory space enable of its own; the PF's VF MSE rules), and the
 * core's COMMAND.MEM for a VF is virtual. The user's COMMAND writes still
 * reach the device, though, and QEMU's emulated VF (igb) does honour its
 * own COMMAND.MEM. QEMU clears it whenever it resets a device: on a
 * migration destination that is before RESUMING, and it stays clear until
 * the guest's config space arrives at the end of the stream. Every register
 * the driver read there was 0, so the PF handshake of the early check of a
 * CONFIG packet found the mailbox never ours (EBUSY). So memory decode is
 * on for the driver's own accesses, and what was there is put back after
 * them. memory_lock (read) keeps the core from writing COMMAND meanwhile;
 * state_mutex serialises these sections.
 */
static void __iomem *ivf_vf_io_lock(struct ivf_device *ivf)
{
	struct pci_dev *pdev = ivf->core.pdev;
	void __iomem *io = ivf_vf_io_try(ivf);
	u16 cmd;

	if (!io) {
		ivf_err_rl(pdev,
			   "migration: the VF is not accessible (low power state or BAR0 not mapped)\n");
		return NULL;
	}
	ivf->lm.cmd_forced = false;
	if (!pci_read_config_word(pdev, PCI_COMMAND, &cmd) &&
	    !(cmd & PCI_COMMAND_MEMORY) &&
	    !pci_write_config_word(pdev, PCI_COMMAND, cmd | PCI_COMMAND_MEMORY)) {
		ivf->lm.cmd = cmd;
		ivf->lm.cmd_forced = true;
	}
	return io;
}

static void ivf_vf_io_done(struct ivf_device *ivf)
{
	if (ivf->lm.cmd_forced)
		pci_write_config_word(ivf->core.pdev, PCI_COMMAND, ivf->lm.cmd);
	ivf->lm.cmd_forced = false;
	ivf_vf_io_unlock(ivf);
}

/*
 * ivf_vf_io_lock() for the resuming side, which also needs the device
 * unreset since the stream's fd was checked: a reset in between ended that
 * stream (-ENODEV). On 0, *io is locked and ivf_vf_io_done() is the
 * caller's.
 */
static int ivf_vf_io_lock_live(struct ivf_device *ivf, void __iomem **io)
{
	*io = ivf_vf_io_lock(ivf);
	if (!*io)
		return -EIO;
	if (ivf_lm_reset_pending(ivf)) {
		ivf_vf_io_done(ivf);
		return -ENODEV;
	}
	return 0;
}

/*
 * The interrupt mask to put back after a stop: the vectors enabled in EIMS,
 * and every vector the guest set to auto-clear. QEMU's emulated VF reads
 * back the guest's last EIMS write instead of the mask, and igbvf's last
 * write is often one vector's (NAPI or TX cleanup re-enabling it): the
 * other vector stayed masked on the destination, and its interrupts (RX)
 * never came again. igbvf sets EIAC to every vector it services whenever
 * its interrupts are on, and clears it when it turns them off. A vector
 * enabled that the guest had auto-masked costs one extra interrupt, which
 * its handler takes for a spurious one; a vector left masked loses it for
 * good.
 */
static u32 ivf_vf_irq_mask(u32 eims, u32 eiac)
{
	return (eims | eiac) & IVF_EIMS_ALL;
}

/*
 * Wait for a queue's enable bit to read 0 after we cleared it (82576
 * datasheet, RXDCTL/TXDCTL.ENABLE: the queue stops once its current
 * descriptor is done; igbvf polls it too).
 */
static int ivf_vf_queue_stopped(struct ivf_device *ivf, void __iomem *io,
				u32 reg, const char *what, unsigned int q)
{
	u32 v;
	int ret;

	lockdep_assert_held_read(&ivf->core.memory_lock);
	ret = read_poll_timeout(ioread32, v, !(v & IVF_XDCTL_ENABLE),
				IVF_QUEUE_STOP_POLL_US, IVF_QUEUE_STOP_US, false,
				io + reg);
	if (ret)
		ivf_err_rl(ivf->core.pdev,
			   "migration: %s queue %u still enabled %u us after its disable (0x%08x); the device goes to ERROR\n",
			   what, q, IVF_QUEUE_STOP_US, v);
	return ret;
}

int ivf_vf_quiesce(struct ivf_device *ivf)
{
	struct ivf_lm *lm = &ivf->lm;
	unsigned int q, i, interval = 0;
	void __iomem *io;
	int ret;

	lockdep_assert_held(&ivf->lm.state_mutex);
	if (lm->quiesced)
		return 0;
	/* The guest's last RX doorbell writes reach the device first. */
	ivf_dirty_pause(ivf, true);
	io = ivf_vf_io_lock(ivf);
	if (!io)
		return -EIO;
	/* RX first: in-flight frames are then dropped, not half-written. */
	for (q = 0; q < IVF_NUM_QUEUES; q++) {
		lm->rxdctl[q] = ioread32(io + IVF_RXDCTL(q));
		iowrite32(lm->rxdctl[q] & ~IVF_XDCTL_ENABLE, io + IVF_RXDCTL(q));
	}
	for (q = 0; q < IVF_NUM_QUEUES; q++) {
		lm->txdctl[q] = ioread32(io + IVF_TXDCTL(q));
		iowrite32(lm->txdctl[q] & ~IVF_XDCTL_ENABLE, io + IVF_TXDCTL(q));
	}
	/*
	 * The uAPI says the device does no DMA once the arc is done: a queue
	 * finishes what it is doing before its enable bit reads 0.
	 */
	for (q = 0; q < IVF_NUM_QUEUES; q++) {
		ret = ivf_vf_queue_stopped(ivf, io, IVF_RXDCTL(q), "RX", q);
		if (!ret)
			ret = ivf_vf_queue_stopped(ivf, io, IVF_TXDCTL(q),
						   "TX", q);
		if (ret) {
			ivf_vf_io_done(ivf);
			return ret;
		}
	}
	lm->eims = ivf_vf_irq_mask(ioread32(io + IVF_EIMS),
				   ioread32(io + IVF_EIAC));
	iowrite32(IVF_EIMS_ALL, io + IVF_EIMC);
	for (i = 0; i < IVF_MSIX_VECTORS; i++)
		interval = max(interval,
			       ioread32(io + IVF_EITR(i)) & IVF_EITR_INTERVAL_MASK);
	lm->quiesced = true;
	ivf_vf_io_done(ivf);

	/* A running throttle timer fires within interval * 1.024 us. */
	if (interval)
		usleep_range(interval + interval / 32 + 10,
			     interval + interval / 32 + 100);

	io = ivf_vf_io_lock(ivf);
	if (!io)
		return -EIO;
	ret = ivf_mbx_settle(ivf, io);
	ivf_vf_io_done(ivf);
	if (ret)
		ivf_warn_rl(ivf->core.pdev,
			    "migration: the PF has not answered the guest's mailbox request; it will be sent again after migration\n");
	/* No more DMA: what it wrote last goes into the next dirty sync. */
	ivf_dirty_drain(ivf);
	return 0;
}

int ivf_vf_unquiesce(struct ivf_device *ivf)
{
	struct ivf_lm *lm = &ivf->lm;
	void __iomem *io;
	unsigned int q;

	lockdep_assert_held(&ivf->lm.state_mutex);
	if (!lm->quiesced)
		return 0;
	io = ivf_vf_io_lock(ivf);
	if (!io)
		return -EIO;
	for (q = 0; q < IVF_NUM_QUEUES; q++) {
		iowrite32(lm->rxdctl[q], io + IVF_RXDCTL(q));
		iowrite32(lm->txdctl[q], io + IVF_TXDCTL(q));
	}
	iowrite32(lm->eims, io + IVF_EIMS);
	for (q = 0; q < IVF_NUM_QUEUES; q++) {
		if (lm->txdctl[q] & IVF_XDCTL_ENABLE)
			iowrite32(ioread32(io + IVF_TDT(q)), io + IVF_TDT(q));
		if (lm->rxdctl[q] & IVF_XDCTL_ENABLE)
			iowrite32(ioread32(io + IVF_RDT(q)), io + IVF_RDT(q));
	}
	if (lm->eims)
		iowrite32(lm->eims, io + IVF_EICS);
	lm->quiesced = false;
	ivf_vf_io_done(ivf);
	ivf_dirty_pause(ivf, false);
	return 0;
}

/*
 * The registers of one queue pair that migrate (struct ivf_queue_regs), in
 * the order restore writes them: the queue enables first, written with
 * ENABLE clear (the device fetches nothing meanwhile; unquiesce sets them),
 * then each ring, its indices after it and TDT last. ENABLE: RXDCTL and
 * TXDCTL, which a quiesced VF keeps in struct ivf_lm, not in the device.
 * CLEAR: zeroed for a new user at open; KEEP: left as it is then.
 */
struct ivf_qreg {
	u16 reg;			/* queue 0's */
	u8 field;			/* index in struct ivf_queue_regs */
	u8 flags;
};

#define IVF_QR_ENABLE		BIT(0)
#define IVF_QR_CLEAR		BIT(1)
#define IVF_QR(name, member, fl) { IVF_##name(0), \
	offsetof(struct ivf_queue_regs, member) / sizeof(u32), IVF_QR_##fl }
#define IVF_QR_KEEP		0

static const struct ivf_qreg ivf_qregs[] = {
	/* Both enables first: neither queue runs while the rest is written. */
	IVF_QR(RXDCTL, rxdctl, ENABLE), IVF_QR(TXDCTL, txdctl, ENABLE),
	/* The RX ring, then its indices. */
	IVF_QR(RDBAL, rdbal, CLEAR), IVF_QR(RDBAH, rdbah, CLEAR),
	IVF_QR(RDLEN, rdlen, CLEAR), IVF_QR(SRRCTL, srrctl, KEEP),
	IVF_QR(RDH, rdh, CLEAR), IVF_QR(RDT, rdt, CLEAR),
	/* The TX ring and its head write-back, then its indices. */
	IVF_QR(TDBAL, tdbal, CLEAR), IVF_QR(TDBAH, tdbah, CLEAR),
	IVF_QR(TDLEN, tdlen, CLEAR), IVF_QR(TXCTL, txctl, KEEP),
	IVF_QR(TDWBAL, tdwbal, CLEAR), IVF_QR(TDWBAH, tdwbah, CLEAR),
	/* A disabled queue ignores its tail: TDT last does not transmit. */
	IVF_QR(TDH, tdh, CLEAR), IVF_QR(TDT, tdt, CLEAR),
};

static void __iomem *ivf_qreg_addr(void __iomem *io, const struct ivf_qreg *e,
				   unsigned int q)
{
	return io + e->reg + q * IVF_QUEUE_STRIDE;
}

/* Queue @q's registers into @r; the enables are the caller's. */
static void ivf_vf_queue_read(void __iomem *io, unsigned int q,
			      struct ivf_queue_regs *r)
{
	u32 *val = (u32 *)r;
	const struct ivf_qreg *e;

	BUILD_BUG_ON(ARRAY_SIZE(ivf_qregs) != sizeof(*r) / sizeof(u32));
	for (e = ivf_qregs; e < ivf_qregs + ARRAY_SIZE(ivf_qregs); e++)
		if (!(e->flags & IVF_QR_ENABLE))
			val[e->field] = ioread32(ivf_qreg_addr(io, e, q));
}

/* @r into queue @q's registers, with the queue left disabled. */
static void ivf_vf_queue_write(void __iomem *io, unsigned int q,
			       const struct ivf_queue_regs *r)
{
	const u32 *val = (const u32 *)r;
	const struct ivf_qreg *e;
	u32 v;

	for (e = ivf_qregs; e < ivf_qregs + ARRAY_SIZE(ivf_qregs); e++) {
		v = val[e->field];
		if (e->flags & IVF_QR_ENABLE)
			v &= ~IVF_XDCTL_ENABLE;
		iowrite32(v, ivf_qreg_addr(io, e, q));
	}
}

/*
 * A new user gets a VF whose queues hold nothing of the last user's: FLR on
 * the 82576 resets the VF's queue registers, QEMU's model only clears the
 * enables, and the next user would inherit (and read, and migrate) the last
 * user's ring addresses and indices. Called at open, after the core's FLR.
 */
void ivf_vf_clear_queues(struct ivf_device *ivf)
{
	const struct ivf_qreg *e;
	void __iomem *io, *reg;
	unsigned int q;

	io = ivf_vf_io_lock(ivf);
	if (!io)
		return;
	for (q = 0; q < IVF_NUM_QUEUES; q++) {
		for (e = ivf_qregs; e < ivf_qregs + ARRAY_SIZE(ivf_qregs); e++) {
			reg = ivf_qreg_addr(io, e, q);
			if (e->flags & IVF_QR_ENABLE)
				iowrite32(ioread32(reg) & ~IVF_XDCTL_ENABLE, reg);
			else if (e->flags & IVF_QR_CLEAR)
				iowrite32(0, reg);
		}
	}
	ivf_vf_io_done(ivf);
}

/* The state of a quiesced VF. */
int ivf_vf_save(struct ivf_device *ivf, struct ivf_vf_state *st)
{
	struct ivf_lm *lm = &ivf->lm;
	void __iomem *io;
	unsigned int q, i;

	lockdep_assert_held(&ivf->lm.state_mutex);
	if (WARN_ON(!lm->quiesced))
		return -EINVAL;
	io = ivf_vf_io_lock(ivf);
	if (!io)
		return -EIO;
	memset(st, 0, sizeof(*st));
	for (q = 0; q < IVF_NUM_QUEUES; q++) {
		ivf_vf_queue_read(io, q, &st->q[q]);
		st->q[q].rxdctl = lm->rxdctl[q];
		st->q[q].txdctl = lm->txdctl[q];
	}
	st->irq.eims = lm->eims;
	st->irq.eiac = ioread32(io + IVF_EIAC);
	st->irq.eiam = ioread32(io + IVF_EIAM);
	for (i = 0; i < IVF_MSIX_VECTORS; i++)
		st->irq.eitr[i] = ioread32(io + IVF_EITR(i));
	st->irq.ivar0 = ioread32(io + IVF_IVAR0);
	st->irq.ivar_misc = ioread32(io + IVF_IVAR_MISC);
	ivf_mbx_save(ivf, io, st);
	ivf_vf_io_done(ivf);
	return 0;
}

/*
 * Destination, as soon as a CONFIG packet arrives in RESUMING: replay the
 * source's PF configuration to this PF now, so that a PF that refuses it
 * (another admin MAC, a port VLAN, no free filter, PF down) fails the
 * migration before the source stops. RESUMING -> STOP does it again for
 * real, after a VF reset.
 */
int ivf_vf_precheck(struct ivf_device *ivf, const struct ivf_pf_config *cfg)
{
	void __iomem *io;
	int ret;

	lockdep_assert_held(&ivf->lm.state_mutex);
	ret = ivf_vf_io_lock_live(ivf, &io);
	if (ret)
		return ret;
	ret = ivf_replay_config(ivf, io, cfg);
	ivf_vf_io_done(ivf);
	if (ret)
		ivf_err_rl(ivf->core.pdev,
			   "migration: the source's PF configuration does not fit this VF's PF (%pe); refusing the stream\n",
			   ERR_PTR(ret));
	return ret;
}

int ivf_vf_restore(struct ivf_device *ivf, const struct ivf_vf_state *st)
{
	struct ivf_lm *lm = &ivf->lm;
	u32 reply[IVF_VMBMEM_WORDS];
	bool resent = false;
	void __iomem *io;
	unsigned int q, i;
	int ret;

	lockdep_assert_held(&ivf->lm.state_mutex);
	ret = ivf_vf_io_lock_live(ivf, &io);
	if (ret)
		return ret;
	ret = ivf_replay_config(ivf, io, &st->cfg);
	if (ret)
		goto out;

	/*
	 * A request the source PF never answered: send it to this PF, and
	 * present its answer to the guest as the answer to its request.
	 */
	if (st->mbx.req_pending &&
	    (st->cfg.cts ||
	     (st->mbx.req[0] & IVF_MSG_TYPE_MASK) == IVF_MSG_VF_RESET)) {
		ret = ivf_replay_send(ivf, io, (u32 *)st->mbx.req,
				      IVF_VMBMEM_WORDS, reply, IVF_VMBMEM_WORDS,
				      "the guest's pending request");
		if (ret < 0)
			goto out;
		resent = true;
	}

	for (q = 0; q < IVF_NUM_QUEUES; q++) {
		ivf_vf_queue_write(io, q, &st->q[q]);
		lm->rxdctl[q] = st->q[q].rxdctl;
		lm->txdctl[q] = st->q[q].txdctl;
	}
	iowrite32(st->irq.ivar0, io + IVF_IVAR0);
	iowrite32(st->irq.ivar_misc, io + IVF_IVAR_MISC);
	for (i = 0; i < IVF_MSIX_VECTORS; i++)
		iowrite32(st->irq.eitr[i], io + IVF_EITR(i));
	iowrite32(st->irq.eiac, io + IVF_EIAC);
	iowrite32(st->irq.eiam, io + IVF_EIAM);
	iowrite32(IVF_EIMS_ALL, io + IVF_EIMC);
	lm->eims = ivf_vf_irq_mask(st->irq.eims, st->irq.eiac);
	lm->quiesced = true;

	ivf_mbx_load(ivf, io, st, resent ? reply : NULL);
out:
	ivf_vf_io_done(ivf);
	return ret;
}
