// SPDX-License-Identifier: GPL-2.0-only
/*
 * igbvf-vfio-pci: the destination's side of the PF configuration.
 *
 * The PF keeps a VF's MAC, filters, multicast hashes, VLANs, max frame and
 * promiscuous mode, and learns them only from the VF's mailbox requests.
 * On a migration destination the driver is that VF for a moment: it resets
 * it, waits for the PF to finish, does the VF_RESET handshake and sends the
 * source's configuration (mbx.c's log of what the source PF acknowledged)
 * request by request, in the order igbvf does, from the table of steps
 * below. Every answer is checked; the first NACK fails the migration with
 * a line in the log that says what the PF refused and why it might have.
 *
 * All of it runs inside vf.c's device access (memory_lock held for read)
 * under state_mutex; the mailbox transactions are mbx.c's.
 */
#include <linux/bitops.h>
#include <linux/etherdevice.h>
#include <linux/io.h>
#include <linux/iopoll.h>

#include "ivf.h"

/* How long the PF has for a reset, and for each answer. */
#define IVF_MBX_TIMEOUT_MS	1000
/* Polls of the mailbox for the end of a PF reset, at most this far apart. */
#define IVF_RSTI_POLL_US	2000

/* A MAC in message words 1-2, in memory order. */
static void ivf_replay_put_mac(u32 *msg, const u8 *mac)
{
	__le32 w[2] = { 0, 0 };

	memcpy(w, mac, ETH_ALEN);
	msg[1] = le32_to_cpu(w[0]);
	msg[2] = le32_to_cpu(w[1]);
}

static void ivf_replay_get_mac(const u32 *msg, u8 *mac)
{
	__le32 w[2] = { cpu_to_le32(msg[1]), cpu_to_le32(msg[2]) };

	memcpy(mac, w, ETH_ALEN);
}

/*
 * Send one message to the destination PF; 0 on ACK, 1 on NACK, -errno if
 * the PF did not answer sensibly (logged).
 */
int ivf_replay_send(struct ivf_device *ivf, void __iomem *io, u32 *msg,
		    unsigned int n, u32 *reply, unsigned int nreply,
		    const char *what)
{
	struct pci_dev *pdev = ivf->core.pdev;
	int ret;

	ret = ivf_mbx_xfer(ivf, io, msg, n, reply, nreply, IVF_MBX_TIMEOUT_MS);
	if (ret) {
		ivf_err_rl(pdev,
			   "migration: the destination PF did not answer %s (%pe): is its interface up?\n",
			   what, ERR_PTR(ret));
		return -ETIMEDOUT;
	}
	if ((reply[0] & IVF_MSG_TYPE_MASK) != (msg[0] & IVF_MSG_TYPE_MASK) ||
	    !(reply[0] & (IVF_MSG_ACK | IVF_MSG_NACK))) {
		ivf_err_rl(pdev, "migration: unexpected PF reply 0x%08x to %s\n",
			   reply[0], what);
		return -EPROTO;
	}
	return (reply[0] & IVF_MSG_ACK) ? 0 : 1;
}

/* The source's PF configuration on its way to this PF. */
struct ivf_replay {
	const struct ivf_pf_config *cfg;
	u8 pf_mac[ETH_ALEN];		/* the MAC this PF gave at VF_RESET */
	u32 msg[IVF_VMBMEM_WORDS];	/* zeroed before each build */
};

/*
 * One kind of request of the replay, in the order igbvf sends them. build()
 * puts the request for item *@pos (the first item at or after it; an item
 * is a filter, a VLAN, or the one setting) into r->msg and returns its
 * length in words, or 0 when nothing is left to send. refused() says in
 * the log why the PF NACKed item @pos, and returns the error.
 */
struct ivf_replay_step {
	const char *what;
	unsigned int (*build)(struct ivf_replay *r, unsigned int *pos);
	int (*refused)(struct pci_dev *pdev, const struct ivf_replay *r,
		       unsigned int pos);
};

static unsigned int ivf_rp_mac(struct ivf_replay *r, unsigned int *pos)
{
	const struct ivf_pf_config *cfg = r->cfg;

	if (*pos || !cfg->mac_valid || ether_addr_equal(r->pf_mac, cfg->mac))
		return 0;
	r->msg[0] = IVF_MSG_SET_MAC_ADDR;
	ivf_replay_put_mac(r->msg, cfg->mac);
	return 3;
}

static int ivf_rp_mac_refused(struct pci_dev *pdev, const struct ivf_replay *r,
			      unsigned int pos)
{
	ivf_err_rl(pdev,
		   "migration: the destination PF refused MAC %pM: this VF's admin MAC there is %pM; give it the migrating MAC (ip link set PF vf N mac %pM)\n",
		   r->cfg->mac, r->pf_mac, r->cfg->mac);
	return -EADDRNOTAVAIL;
}

static unsigned int ivf_rp_uc(struct ivf_replay *r, unsigned int *pos)
{
	if (*pos >= r->cfg->n_uc)
		return 0;
	r->msg[0] = IVF_MSG_SET_MAC_ADDR | IVF_MSG_MAC_FILTER_ADD;
	ivf_replay_put_mac(r->msg, r->cfg->uc[*pos]);
	return 3;
}

static int ivf_rp_uc_refused(struct pci_dev *pdev, const struct ivf_replay *r,
			     unsigned int pos)
{
	ivf_err_rl(pdev,
		   "migration: the destination PF refused unicast filter %pM (no free filter, or an admin MAC is set)\n",
		   r->cfg->uc[pos]);
	return -ENOSPC;
}

static unsigned int ivf_rp_mc(struct ivf_replay *r, unsigned int *pos)
{
	const struct ivf_pf_config *cfg = r->cfg;
	unsigned int i;

	if (*pos || !cfg->n_mc)
		return 0;
	r->msg[0] = IVF_MSG_SET_MULTICAST | (cfg->n_mc << IVF_MSG_INFO_SHIFT);
	for (i = 0; i < cfg->n_mc; i++)
		r->msg[1 + i / 2] |= (u32)cfg->mc[i] << (16 * (i & 1));
	return IVF_VMBMEM_WORDS;
}

static int ivf_rp_mc_refused(struct pci_dev *pdev, const struct ivf_replay *r,
			     unsigned int pos)
{
	ivf_err_rl(pdev,
		   "migration: the destination PF refused %u multicast hashes\n",
		   r->cfg->n_mc);
	return -EREMOTEIO;
}

static unsigned int ivf_rp_vlan(struct ivf_replay *r, unsigned int *pos)
{
	*pos = find_next_bit(r->cfg->vlans, VLAN_N_VID, *pos);
	if (*pos >= VLAN_N_VID)
		return 0;
	r->msg[0] = IVF_MSG_SET_VLAN | (1 << IVF_MSG_INFO_SHIFT);
	r->msg[1] = *pos;
	return 2;
}

static int ivf_rp_vlan_refused(struct pci_dev *pdev,
			       const struct ivf_replay *r, unsigned int pos)
{
	ivf_err_rl(pdev,
		   "migration: the destination PF refused VLAN %u (a port VLAN is set, or its VLAN filters are full)\n",
		   pos);
	return -EREMOTEIO;
}

static unsigned int ivf_rp_lpe(struct ivf_replay *r, unsigned int *pos)
{
	if (*pos || !r->cfg->max_frame)
		return 0;
	r->msg[0] = IVF_MSG_SET_LPE;
	r->msg[1] = r->cfg->max_frame;
	return 2;
}

static int ivf_rp_lpe_refused(struct pci_dev *pdev, const struct ivf_replay *r,
			      unsigned int pos)
{
	ivf_err_rl(pdev, "migration: the destination PF refused max frame %u\n",
		   r->cfg->max_frame);
	return -EREMOTEIO;
}

static unsigned int ivf_rp_promisc(struct ivf_replay *r, unsigned int *pos)
{
	if (*pos || !r->cfg->promisc)
		return 0;
	r->msg[0] = IVF_MSG_SET_PROMISC | r->cfg->promisc;
	return 1;
}

static int ivf_rp_promisc_refused(struct pci_dev *pdev,
				  const struct ivf_replay *r, unsigned int pos)
{
	ivf_err_rl(pdev,
		   "migration: the destination PF refused promiscuous mode 0x%x\n",
		   r->cfg->promisc);
	return -EREMOTEIO;
}

static const struct ivf_replay_step ivf_replay_steps[] = {
	{ "SET_MAC_ADDR", ivf_rp_mac, ivf_rp_mac_refused },
	{ "MAC_FILTER_ADD", ivf_rp_uc, ivf_rp_uc_refused },
	{ "SET_MULTICAST", ivf_rp_mc, ivf_rp_mc_refused },
	{ "SET_VLAN", ivf_rp_vlan, ivf_rp_vlan_refused },
	{ "SET_LPE", ivf_rp_lpe, ivf_rp_lpe_refused },
	{ "SET_PROMISC", ivf_rp_promisc, ivf_rp_promisc_refused },
};

/* Send every request of the replay; the first NACK fails it. */
static int ivf_replay_steps_send(struct ivf_device *ivf, void __iomem *io,
				 struct ivf_replay *r)
{
	const struct ivf_replay_step *step;
	u32 reply[IVF_VMBMEM_WORDS];
	unsigned int pos, n;
	int ret;

	for (step = ivf_replay_steps;
	     step < ivf_replay_steps + ARRAY_SIZE(ivf_replay_steps); step++) {
		for (pos = 0; ; pos++) {
			memset(r->msg, 0, sizeof(r->msg));
			n = step->build(r, &pos);
			if (!n)
				break;
			ret = ivf_replay_send(ivf, io, r->msg, n, reply, 1,
					      step->what);
			if (ret < 0)
				return ret;
			if (ret)
				return step->refused(ivf->core.pdev, r, pos);
		}
	}
	return 0;
}

/* Reset the VF and replay the source's PF configuration to this PF. */
int ivf_replay_config(struct ivf_device *ivf, void __iomem *io,
		      const struct ivf_pf_config *cfg)
{
	struct ivf_replay r = { .cfg = cfg };
	u32 reply[IVF_VMBMEM_WORDS];
	u32 v2p;
	int ret;

	/* VF reset, as igbvf does at probe; the PF forgets the VF. */
	iowrite32(IVF_CTRL_RST, io + IVF_CTRL);
	ivf_mbx_reset(ivf);
	ret = read_poll_timeout(ivf_mbx_read_v2p, v2p, !(v2p & IVF_MBX_RSTI),
				IVF_RSTI_POLL_US,
				IVF_MBX_TIMEOUT_MS * USEC_PER_MSEC, false,
				ivf, io);
	if (ret) {
		ivf_err_rl(ivf->core.pdev,
			   "migration: the destination PF is resetting or down (mailbox RSTI stays set)\n");
		return -EAGAIN;
	}
	if (!cfg->cts)
		return 0;	/* the guest never did its handshake */

	r.msg[0] = IVF_MSG_VF_RESET;
	ret = ivf_replay_send(ivf, io, r.msg, 1, reply,
			      IVF_VF_RESET_REPLY_WORDS, "VF_RESET");
	if (ret < 0)
		return ret;
	if (!ret)
		ivf_replay_get_mac(reply, r.pf_mac);
	return ivf_replay_steps_send(ivf, io, &r);
}
