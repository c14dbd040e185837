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
 * log follows the order the device saw.
 */
#include <linux/bitmap.h>
#include <linux/io.h>
#include <linux/seq_file.h>
#include <linux/string.h>

#include "ivf.h"

void ivf_mbx_init(struct ivf_device *ivf)
{
	mutex_init(&ivf->mbx.lock);
	ivf_mbx_reset(ivf);
}

void ivf_mbx_destroy(struct ivf_device *ivf)
{
	mutex_destroy(&ivf->mbx.lock);
}

static void ivf_mbx_forget(struct ivf_mbx *mbx)
{
	mbx->req_pending = false;
	memset(&mbx->cfg, 0, sizeof(mbx->cfg));
}

/* The VF was reset (FLR, CTRL.RST, open/close): the PF forgets it too. */
void ivf_mbx_reset(struct ivf_device *ivf)
{
	mutex_lock(&ivf->mbx.lock);
	ivf_mbx_forget(&ivf->mbx);
	mutex_unlock(&ivf->mbx.lock);
}

/* A MAC address travels in message words 1-2, in memory order. */
static void ivf_msg_mac(const u32 *msg, u8 *mac)
{
	__le32 w[2] = { cpu_to_le32(msg[1]), cpu_to_le32(msg[2]) };

	memcpy(mac, w, ETH_ALEN);
}

static void ivf_mbx_commit(struct ivf_device *ivf)
{
	struct ivf_mbx *mbx = &ivf->mbx;
	struct ivf_pf_config *cfg = &mbx->cfg;
	const u32 *req = mbx->req;
	u32 info = (req[0] & IVF_MSG_INFO_MASK) >> IVF_MSG_INFO_SHIFT;
	unsigned int i;

	switch (req[0] & IVF_MSG_TYPE_MASK) {
	case IVF_MSG_SET_MAC_ADDR:
		if (!info) {
			ivf_msg_mac(req, cfg->mac);
			cfg->mac_valid = true;
		} else if ((req[0] & IVF_MSG_INFO_MASK) == IVF_MSG_MAC_FILTER_ADD) {
			if (cfg->n_uc < IVF_MAX_UC_FILTERS)
				ivf_msg_mac(req, cfg->uc[cfg->n_uc++]);
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
}

/* The guest reads VMBMEM[0]: if it is the reply to its request, log it. */
static void ivf_mbx_reply(struct ivf_device *ivf, void __iomem *io, u32 reply)
{
	struct ivf_mbx *mbx = &ivf->mbx;
	u32 words[3];

	if (!mbx->req_pending || !(reply & (IVF_MSG_ACK | IVF_MSG_NACK)) ||
	    (reply & IVF_MSG_TYPE_MASK) != (mbx->req[0] & IVF_MSG_TYPE_MASK))
		return;
	mbx->req_pending = false;

	if ((reply & IVF_MSG_TYPE_MASK) == IVF_MSG_VF_RESET) {
		/* The PF reset the VF's state and granted clear-to-send. */
		memset(&mbx->cfg, 0, sizeof(mbx->cfg));
		mbx->cfg.cts = true;
		if (reply & IVF_MSG_ACK) {
			words[0] = reply;
			words[1] = ioread32(io + IVF_VMBMEM(1));
			words[2] = ioread32(io + IVF_VMBMEM(2));
			ivf_msg_mac(words, mbx->cfg.mac);
			mbx->cfg.mac_valid = true;
		}
		return;
	}
	mbx->cfg.cts = !!(reply & IVF_MSG_CTS);
	if (reply & IVF_MSG_ACK)
		ivf_mbx_commit(ivf);
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

	mutex_lock(&mbx->lock);
	if (iswrite) {
		if (off == IVF_V2PMAILBOX && (val & IVF_MBX_REQ)) {
			for (i = 0; i < IVF_VMBMEM_WORDS; i++)
				mbx->req[i] = ioread32(io + IVF_VMBMEM(i));
			mbx->req_pending = true;
		}
		iowrite32(val, io + off);
		if ((off == IVF_CTRL || off == IVF_CTRL_DUP) &&
		    (val & IVF_CTRL_RST))
			ivf_mbx_forget(mbx);
		val = 0;
	} else {
		val = ioread32(io + off);
		if (off == IVF_VMBMEM(0))
			ivf_mbx_reply(ivf, io, val);
	}
	mutex_unlock(&mbx->lock);
	return val;
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
	mutex_unlock(&mbx->lock);
}
