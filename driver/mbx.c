// SPDX-License-Identifier: GPL-2.0-only
/*
 * igbvf-vfio-pci: mailbox mediation.
 *
 * Every guest access to BAR0 page 0 passes through ivf_bar0_rw(); mailbox
 * accesses come here. The PF-side configuration of a VF (MAC, filters,
 * multicast hashes, VLANs, max frame, promiscuous mode) can only be learnt
 * from this traffic, so we keep a log of what the PF acknowledged:
 *
 * - a guest write of V2PMAILBOX with REQ sends the message the guest put in
 *   VMBMEM: take a copy of it;
 * - the PF's reply lands in VMBMEM[0] as the request's type with ACK or
 *   NACK; when the guest reads it, commit an ACKed request to the log;
 * - VF_RESET answered (ACK or NACK) means the PF reset its view of the VF:
 *   the log restarts from the MAC the PF returned;
 * - CTRL.RST from the guest, FLR and open/close of the device clear it, as
 *   the PF clears its own state on a VF reset.
 *
 * The lock is held across the device access and the bookkeeping, so the
 * log follows the order the device saw, and the driver's own mailbox
 * transactions (migration) never interleave with the guest's. Every call
 * given @io runs inside a device access, with memory_lock held for read
 * (bar.c's trap, vf.c's migration accesses); the mailbox lock nests in it.
 *
 * Two more things are virtualised on page 0:
 *
 * - the read-to-clear V2PMAILBOX bits (PFSTS, PFACK, RSTD): when the driver
 *   reads V2PMAILBOX it keeps them in r2c and the guest's next read gets
 *   them, the way igbvf shadows them for itself;
 * - the statistics counters, which the device never resets and which can't
 *   be written: a migrated guest reads destination counter + offset, so its
 *   counters carry on from the source's values.
 */
#include <linux/bitmap.h>
#include <linux/delay.h>
#include <linux/etherdevice.h>
#include <linux/io.h>
#include <linux/iopoll.h>
#include <linux/seq_file.h>
#include <linux/string.h>

#include "ivf.h"

/* Polls of V2PMAILBOX for a PF's ACK or message, at most this far apart. */
#define IVF_MBX_WAIT_POLL_US	500
/* Tries to own the mailbox, 0.5 to 1 ms apart. */
#define IVF_MBX_OWN_TRIES	20
/* How long a quiesce waits for the PF to answer the guest's request. */
#define IVF_MBX_SETTLE_US	USEC_PER_SEC
#define IVF_MBX_SETTLE_POLL_US	1000

void ivf_mbx_init(struct ivf_device *ivf)
{
	mutex_init(&ivf->mbx.lock);
	ivf_mbx_reset(ivf);
}

void ivf_mbx_destroy(struct ivf_device *ivf)
{
	mutex_destroy(&ivf->mbx.lock);
}

static const u16 ivf_stats_regs[IVF_NSTATS] = {
	IVF_VFGPRC, IVF_VFGPTC, IVF_VFGORC, IVF_VFGOTC, IVF_VFMPRC,
	IVF_VFGPRLBC, IVF_VFGPTLBC, IVF_VFGORLBC, IVF_VFGOTLBC,
};

static int ivf_stats_index(u32 off)
{
	unsigned int i;

	if (off < IVF_VFGPRC || off > IVF_VFGOTLBC)
		return -1;
	for (i = 0; i < IVF_NSTATS; i++)
		if (ivf_stats_regs[i] == off)
			return i;
	return -1;
}

static void ivf_mbx_forget(struct ivf_mbx *mbx)
{
	lockdep_assert_held(&mbx->lock);
	mbx->req_pending = false;
	memset(&mbx->cfg, 0, sizeof(mbx->cfg));
	mbx->cfg_gen++;
}

/* The VF was reset (FLR, CTRL.RST, open/close): the PF forgets it too. */
void ivf_mbx_reset(struct ivf_device *ivf)
{
	mutex_lock(&ivf->mbx.lock);
	ivf_mbx_forget(&ivf->mbx);
	ivf->mbx.r2c = 0;
	mutex_unlock(&ivf->mbx.lock);
}

/* A new user: statistics start from what the device says. */
void ivf_mbx_open(struct ivf_device *ivf)
{
	mutex_lock(&ivf->mbx.lock);
	memset(ivf->mbx.stats_off, 0, sizeof(ivf->mbx.stats_off));
	mutex_unlock(&ivf->mbx.lock);
}

/* A MAC address travels in message words 1-2, in memory order. */
static void ivf_msg_mac(const u32 *msg, u8 *mac)
{
	__le32 w[2] = { cpu_to_le32(msg[1]), cpu_to_le32(msg[2]) };

	memcpy(mac, w, ETH_ALEN);
}

/* An ACKed request: log what the PF now has. */
static void ivf_mbx_commit_req(struct ivf_device *ivf, const u32 *req)
{
	struct ivf_pf_config *cfg = &ivf->mbx.cfg;
	u32 info = (req[0] & IVF_MSG_INFO_MASK) >> IVF_MSG_INFO_SHIFT;
	unsigned int i;

	lockdep_assert_held(&ivf->mbx.lock);
	switch (req[0] & IVF_MSG_TYPE_MASK) {
	case IVF_MSG_SET_MAC_ADDR:
		if (!info) {
			ivf_msg_mac(req, cfg->mac);
			cfg->mac_valid = true;
		} else if ((req[0] & IVF_MSG_INFO_MASK) == IVF_MSG_MAC_FILTER_ADD) {
			u8 mac[ETH_ALEN];

			ivf_msg_mac(req, mac);
			for (i = 0; i < cfg->n_uc; i++)
				if (ether_addr_equal(cfg->uc[i], mac))
					break;
			if (i == cfg->n_uc && cfg->n_uc < IVF_MAX_UC_FILTERS)
				ether_addr_copy(cfg->uc[cfg->n_uc++], mac);
		} else if ((req[0] & IVF_MSG_INFO_MASK) == IVF_MSG_MAC_FILTER_CLR) {
			cfg->n_uc = 0;
		}
		break;
	case IVF_MSG_SET_MULTICAST:
		cfg->n_mc = min_t(u32, info, IVF_MAX_MC_HASHES);
		for (i = 0; i < cfg->n_mc; i++)
			cfg->mc[i] = req[1 + i / 2] >> (16 * (i & 1));
		break;
	case IVF_MSG_SET_VLAN:
		if (info)
			set_bit(req[1] & (VLAN_N_VID - 1), cfg->vlans);
		else
			clear_bit(req[1] & (VLAN_N_VID - 1), cfg->vlans);
		break;
	case IVF_MSG_SET_LPE:
		cfg->max_frame = req[1];
		break;
	case IVF_MSG_SET_PROMISC:
		cfg->promisc = req[0] & IVF_MSG_INFO_MASK;
		break;
	}
	ivf->mbx.cfg_gen++;
}

/* The guest reads VMBMEM[0]: if it is the reply to its request, log it. */
static void ivf_mbx_reply(struct ivf_device *ivf, void __iomem *io, u32 reply)
{
	struct ivf_mbx *mbx = &ivf->mbx;
	u32 words[IVF_VF_RESET_REPLY_WORDS];

	lockdep_assert_held(&mbx->lock);
	if (!mbx->req_pending || !(reply & (IVF_MSG_ACK | IVF_MSG_NACK)) ||
	    (reply & IVF_MSG_TYPE_MASK) != (mbx->req[0] & IVF_MSG_TYPE_MASK))
		return;
	mbx->req_pending = false;

	if ((reply & IVF_MSG_TYPE_MASK) == IVF_MSG_VF_RESET) {
		/* The PF reset the VF's state and granted clear-to-send. */
		memset(&mbx->cfg, 0, sizeof(mbx->cfg));
		mbx->cfg.cts = true;
		mbx->cfg_gen++;
		if (reply & IVF_MSG_ACK) {
			words[0] = reply;
			words[1] = ioread32(io + IVF_VMBMEM(1));
			words[2] = ioread32(io + IVF_VMBMEM(2));
			ivf_msg_mac(words, mbx->cfg.mac);
			mbx->cfg.mac_valid = true;
		}
		return;
	}
	if (mbx->cfg.cts != !!(reply & IVF_MSG_CTS))
		mbx->cfg_gen++;
	mbx->cfg.cts = !!(reply & IVF_MSG_CTS);
	if (reply & IVF_MSG_ACK)
		ivf_mbx_commit_req(ivf, mbx->req);
}

/*
 * One 32-bit access of BAR0 page 0, done on the device, with the mailbox
 * bookkeeping around it. Returns the value read (reads) or 0.
 */
u32 ivf_mbx_access(struct ivf_device *ivf, void __iomem *io, u32 off, u32 val,
		   bool iswrite)
{
	struct ivf_mbx *mbx = &ivf->mbx;
	unsigned int i;

	lockdep_assert_held_read(&ivf->core.memory_lock);
	mutex_lock(&mbx->lock);
	if (iswrite) {
		if (off == IVF_V2PMAILBOX && (val & IVF_MBX_REQ)) {
			for (i = 0; i < IVF_VMBMEM_WORDS; i++)
				mbx->req[i] = ioread32(io + IVF_VMBMEM(i));
			mbx->req_pending = true;
			mbx->req_replied = false;
		}
		iowrite32(val, io + off);
		if ((off == IVF_CTRL || off == IVF_CTRL_DUP) &&
		    (val & IVF_CTRL_RST)) {
			ivf_mbx_forget(mbx);
			ivf_dirty_guest_reset(ivf, io);
		}
		val = 0;
	} else {
		int stat = ivf_stats_index(off);

		val = ioread32(io + off);
		if (off == IVF_V2PMAILBOX) {
			val |= mbx->r2c;
			mbx->r2c = 0;
			if (mbx->req_pending && (val & IVF_MBX_PFSTS))
				mbx->req_replied = true;
		} else if (off == IVF_VMBMEM(0)) {
			ivf_mbx_reply(ivf, io, val);
		} else if (stat >= 0) {
			val += mbx->stats_off[stat];
		}
	}
	mutex_unlock(&mbx->lock);
	return val;
}

/*
 * The driver's own read of V2PMAILBOX: the read-to-clear bits are kept for
 * the guest (and for the driver's transactions, which consume PFACK and
 * PFSTS the way a VF driver does).
 */
static u32 ivf_v2p_read(struct ivf_mbx *mbx, void __iomem *io)
{
	u32 v;

	lockdep_assert_held(&mbx->lock);
	v = ioread32(io + IVF_V2PMAILBOX);
	mbx->r2c |= v & IVF_MBX_R2C_BITS;
	if (mbx->req_pending && (v & IVF_MBX_PFSTS))
		mbx->req_replied = true;
	return v;
}

u32 ivf_mbx_read_v2p(struct ivf_device *ivf, void __iomem *io)
{
	u32 v;

	lockdep_assert_held_read(&ivf->core.memory_lock);
	mutex_lock(&ivf->mbx.lock);
	v = ivf_v2p_read(&ivf->mbx, io) | ivf->mbx.r2c;
	mutex_unlock(&ivf->mbx.lock);
	return v;
}

/* The read-to-clear bits seen so far, after one more read of V2PMAILBOX. */
static u32 ivf_mbx_r2c(struct ivf_mbx *mbx, void __iomem *io)
{
	ivf_v2p_read(mbx, io);
	return mbx->r2c;
}

/* Wait for a read-to-clear bit and consume it. */
static int ivf_mbx_wait(struct ivf_mbx *mbx, void __iomem *io, u32 bit,
			unsigned int timeout_ms)
{
	u32 r2c;
	int ret;

	lockdep_assert_held(&mbx->lock);
	ret = read_poll_timeout(ivf_mbx_r2c, r2c, r2c & bit, IVF_MBX_WAIT_POLL_US,
				timeout_ms * USEC_PER_MSEC, false, mbx, io);
	if (!ret)
		mbx->r2c &= ~bit;
	return ret;
}

/* Take the VF side of the mailbox (VFU). */
static int ivf_mbx_own(struct ivf_mbx *mbx, void __iomem *io)
{
	unsigned int i;

	lockdep_assert_held(&mbx->lock);
	for (i = 0; i < IVF_MBX_OWN_TRIES; i++) {
		iowrite32(IVF_MBX_VFU, io + IVF_V2PMAILBOX);
		if (ivf_v2p_read(mbx, io) & IVF_MBX_VFU)
			return 0;
		usleep_range(500, 1000);
	}
	return -EBUSY;
}

/*
 * One request/reply exchange with the PF, as igbvf does it: own the
 * mailbox, write the message, REQ; wait for the PF's ACK, then for its
 * message; own the mailbox again, read the reply, ACK it (which releases
 * the mailbox). The guest's accesses wait on the lock meanwhile.
 */
int ivf_mbx_xfer(struct ivf_device *ivf, void __iomem *io, const u32 *msg,
		 unsigned int n, u32 *reply, unsigned int nreply,
		 unsigned int timeout_ms)
{
	struct ivf_mbx *mbx = &ivf->mbx;
	unsigned int i;
	int ret;

	lockdep_assert_held_read(&ivf->core.memory_lock);
	mutex_lock(&mbx->lock);
	ivf_v2p_read(mbx, io);
	mbx->r2c &= ~(IVF_MBX_PFACK | IVF_MBX_PFSTS);
	ret = ivf_mbx_own(mbx, io);
	if (ret)
		goto out;
	for (i = 0; i < n; i++)
		iowrite32(msg[i], io + IVF_VMBMEM(i));
	iowrite32(IVF_MBX_REQ, io + IVF_V2PMAILBOX);
	ret = ivf_mbx_wait(mbx, io, IVF_MBX_PFACK, timeout_ms);
	if (ret)
		goto out;
	ret = ivf_mbx_wait(mbx, io, IVF_MBX_PFSTS, timeout_ms);
	if (ret)
		goto out;
	ret = ivf_mbx_own(mbx, io);
	if (ret)
		goto out;
	for (i = 0; i < nreply; i++)
		reply[i] = ioread32(io + IVF_VMBMEM(i));
	iowrite32(IVF_MBX_ACK, io + IVF_V2PMAILBOX);
out:
	mutex_unlock(&mbx->lock);
	return ret;
}

/*
 * One look for the answer to the guest's request, logging an ACKed one:
 * whether no request is left unanswered. The lock is not held between
 * looks, so the guest's own accesses go on meanwhile.
 */
static bool ivf_mbx_settled(struct ivf_device *ivf, void __iomem *io)
{
	struct ivf_mbx *mbx = &ivf->mbx;
	bool settled;

	mutex_lock(&mbx->lock);
	ivf_v2p_read(mbx, io);
	if (mbx->req_pending && mbx->req_replied)
		ivf_mbx_reply(ivf, io, ioread32(io + IVF_VMBMEM(0)));
	settled = !mbx->req_pending;
	mutex_unlock(&mbx->lock);
	return settled;
}

/*
 * Quiesce: if the guest sent a request the PF has not answered yet, give
 * the PF up to a second to answer, and log an ACKed reply now, so that the
 * configuration we send matches the PF's. Returns -ETIMEDOUT if the PF
 * stayed silent (the request then travels in the stream and the
 * destination sends it again).
 */
int ivf_mbx_settle(struct ivf_device *ivf, void __iomem *io)
{
	bool settled;

	lockdep_assert_held_read(&ivf->core.memory_lock);
	return read_poll_timeout(ivf_mbx_settled, settled, settled,
				 IVF_MBX_SETTLE_POLL_US, IVF_MBX_SETTLE_US,
				 false, ivf, io);
}

/* The mailbox, configuration log and counters as the guest sees them. */
void ivf_mbx_save(struct ivf_device *ivf, void __iomem *io,
		  struct ivf_vf_state *st)
{
	struct ivf_mbx *mbx = &ivf->mbx;
	unsigned int i;
	u32 v2p;

	lockdep_assert_held_read(&ivf->core.memory_lock);
	mutex_lock(&mbx->lock);
	v2p = ivf_v2p_read(mbx, io);
	st->mbx.vfu = v2p & IVF_MBX_VFU;
	st->mbx.r2c = mbx->r2c;
	for (i = 0; i < IVF_VMBMEM_WORDS; i++)
		st->mbx.vmbmem[i] = ioread32(io + IVF_VMBMEM(i));
	st->mbx.req_pending = mbx->req_pending;
	memcpy(st->mbx.req, mbx->req, sizeof(st->mbx.req));
	st->cfg = mbx->cfg;
	for (i = 0; i < IVF_NSTATS; i++)
		st->stats[i] = ioread32(io + ivf_stats_regs[i]) +
			       mbx->stats_off[i];
	st->have_stats = true;
	mutex_unlock(&mbx->lock);
}

/*
 * Destination, after the configuration was replayed to the PF: install the
 * guest's view of the mailbox. @reply, if not NULL, is the PF's answer to a
 * request the source PF never answered, which the driver sent again; the
 * guest finds it as if its own request had just been answered.
 */
void ivf_mbx_load(struct ivf_device *ivf, void __iomem *io,
		  const struct ivf_vf_state *st, const u32 *reply)
{
	struct ivf_mbx *mbx = &ivf->mbx;
	const u32 *words = reply ? reply : st->mbx.vmbmem;
	unsigned int i;

	lockdep_assert_held_read(&ivf->core.memory_lock);
	mutex_lock(&mbx->lock);
	if (ivf_mbx_own(mbx, io))
		ivf_warn_rl(ivf->core.pdev,
			    "migration: could not own the mailbox to restore it\n");
	for (i = 0; i < IVF_VMBMEM_WORDS; i++)
		iowrite32(words[i], io + IVF_VMBMEM(i));
	/* Release without REQ or ACK: the PF is not told. */
	iowrite32(0, io + IVF_V2PMAILBOX);
	/* What our own handshake left is not the guest's. */
	ioread32(io + IVF_V2PMAILBOX);
	mbx->r2c = st->mbx.r2c;
	if (reply)
		mbx->r2c |= IVF_MBX_PFACK | IVF_MBX_PFSTS;
	mbx->cfg = st->cfg;
	mbx->cfg_gen++;
	mbx->req_pending = st->mbx.req_pending;
	mbx->req_replied = false;
	memcpy(mbx->req, st->mbx.req, sizeof(mbx->req));
	/* Log the re-sent request's answer now, as the source would have. */
	if (reply)
		ivf_mbx_reply(ivf, io, reply[0]);
	for (i = 0; i < IVF_NSTATS; i++)
		mbx->stats_off[i] = st->have_stats ?
			st->stats[i] - ioread32(io + ivf_stats_regs[i]) : 0;
	if (st->mbx.vfu)
		iowrite32(IVF_MBX_VFU, io + IVF_V2PMAILBOX);
	mutex_unlock(&mbx->lock);
}

/* A copy of the configuration log, and its generation. */
u32 ivf_mbx_config(struct ivf_device *ivf, struct ivf_pf_config *cfg)
{
	u32 gen;

	mutex_lock(&ivf->mbx.lock);
	*cfg = ivf->mbx.cfg;
	gen = ivf->mbx.cfg_gen;
	mutex_unlock(&ivf->mbx.lock);
	return gen;
}

void ivf_mbx_show(struct ivf_device *ivf, struct seq_file *m)
{
	struct ivf_mbx *mbx = &ivf->mbx;
	struct ivf_pf_config *cfg = &mbx->cfg;
	unsigned int i, vid;

	mutex_lock(&mbx->lock);
	seq_printf(m, "cts %d\n", cfg->cts);
	if (cfg->mac_valid)
		seq_printf(m, "mac %pM\n", cfg->mac);
	else
		seq_puts(m, "mac none\n");
	seq_printf(m, "uc %u", cfg->n_uc);
	for (i = 0; i < cfg->n_uc; i++)
		seq_printf(m, " %pM", cfg->uc[i]);
	seq_printf(m, "\nmc %u", cfg->n_mc);
	for (i = 0; i < cfg->n_mc; i++)
		seq_printf(m, " 0x%03x", cfg->mc[i]);
	seq_printf(m, "\nvlans %u", bitmap_weight(cfg->vlans, VLAN_N_VID));
	for_each_set_bit(vid, cfg->vlans, VLAN_N_VID)
		seq_printf(m, " %u", vid);
	seq_printf(m, "\nmax_frame %u\npromisc 0x%x\n", cfg->max_frame,
		   cfg->promisc);
	if (mbx->req_pending)
		seq_printf(m, "pending 0x%08x\n", mbx->req[0]);
	else
		seq_puts(m, "pending none\n");
	seq_printf(m, "r2c 0x%02x\nstats_off", mbx->r2c);
	for (i = 0; i < IVF_NSTATS; i++)
		seq_printf(m, " %u", mbx->stats_off[i]);
	seq_puts(m, "\n");
	mutex_unlock(&mbx->lock);
}
