// SPDX-License-Identifier: GPL-2.0-only
/*
 * igbvf-vfio-pci: the migration stream, include/ivf_migration.h.
 *
 * Packets are built whole into a buffer and parsed whole from one, after
 * the header was checked on its own (so a bad stream is refused before its
 * full length is even buffered). Parsing never touches the device and
 * fills the caller's state only from a packet that passed every check.
 */
#include <linux/crc32c.h>
#include <linux/overflow.h>
#include <linux/string.h>

#include "ivf.h"

#define IVF_HDR_LEN	sizeof(struct ivf_mig_hdr)
#define IVF_REC_LEN	sizeof(struct ivf_mig_rec)

static size_t ivf_rec_size(size_t payload)
{
	return IVF_REC_LEN + ALIGN(payload, 8);
}

size_t ivf_stream_final_size(void)
{
	return IVF_HDR_LEN + ivf_rec_size(sizeof(struct ivf_mig_pf_config)) +
	       ivf_rec_size(sizeof(struct ivf_mig_queues)) +
	       ivf_rec_size(sizeof(struct ivf_mig_irq)) +
	       ivf_rec_size(sizeof(struct ivf_mig_mailbox)) +
	       ivf_rec_size(sizeof(struct ivf_mig_stats));
}

static u32 ivf_crc(const u8 *buf, size_t len)
{
	return ~crc32c(~0U, buf, len);
}

/* Append a record header; returns its zeroed payload. */
static void *ivf_put_rec(u8 *buf, size_t *off, u16 type, bool mandatory,
			 size_t len)
{
	struct ivf_mig_rec *rec = (struct ivf_mig_rec *)(buf + *off);
	void *payload = rec + 1;

	rec->type = cpu_to_le16(type);
	rec->flags = cpu_to_le16(mandatory ? IVF_MIG_REC_MANDATORY : 0);
	rec->length = cpu_to_le32(len);
	memset(payload, 0, ALIGN(len, 8));
	*off += ivf_rec_size(len);
	return payload;
}

static void ivf_put_hdr(u8 *buf, u16 kind, size_t len)
{
	struct ivf_mig_hdr *hdr = (struct ivf_mig_hdr *)buf;

	hdr->magic = cpu_to_le32(IVF_MIG_MAGIC);
	hdr->major = cpu_to_le16(IVF_MIG_MAJOR);
	hdr->minor = cpu_to_le16(IVF_MIG_MINOR);
	hdr->vendor = cpu_to_le16(IVF_PCI_VENDOR_ID);
	hdr->device = cpu_to_le16(IVF_PCI_DEVICE_ID);
	hdr->kind = cpu_to_le16(kind);
	hdr->reserved = 0;
	hdr->length = cpu_to_le32(len);
	hdr->crc32c = 0;
	hdr->crc32c = cpu_to_le32(ivf_crc(buf, len));
}

static void ivf_put_pf_config(u8 *buf, size_t *off,
			      const struct ivf_pf_config *cfg)
{
	struct ivf_mig_pf_config *r;
	u64 vlans[VLAN_N_VID / 64] = { 0 };
	unsigned int i, vid;

	r = ivf_put_rec(buf, off, IVF_MIG_REC_PF_CONFIG, true, sizeof(*r));
	r->flags = cpu_to_le32((cfg->cts ? IVF_MIG_CFG_CTS : 0) |
			       (cfg->mac_valid ? IVF_MIG_CFG_MAC : 0));
	memcpy(r->mac, cfg->mac, ETH_ALEN);
	r->n_uc = cfg->n_uc;
	r->n_mc = cfg->n_mc;
	memcpy(r->uc, cfg->uc, sizeof(r->uc));
	for (i = 0; i < IVF_MIG_MAX_MC; i++)
		r->mc[i] = cpu_to_le16(cfg->mc[i]);
	r->max_frame = cpu_to_le32(cfg->max_frame);
	r->promisc = cpu_to_le32(cfg->promisc);
	for_each_set_bit(vid, cfg->vlans, VLAN_N_VID)
		vlans[vid / 64] |= BIT_ULL(vid % 64);
	for (i = 0; i < ARRAY_SIZE(vlans); i++)
		r->vlans[i] = cpu_to_le64(vlans[i]);
}

size_t ivf_stream_put_config(const struct ivf_pf_config *cfg, u8 *buf)
{
	size_t off = IVF_HDR_LEN;

	ivf_put_pf_config(buf, &off, cfg);
	ivf_put_hdr(buf, IVF_MIG_PKT_CONFIG, off);
	return off;
}

static void ivf_le32_put(__le32 *dst, const u32 *src, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		dst[i] = cpu_to_le32(src[i]);
}

static void ivf_le32_get(u32 *dst, const __le32 *src, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		dst[i] = le32_to_cpu(src[i]);
}

/* struct ivf_queue_regs and struct ivf_mig_queue: the same u32 fields. */
#define IVF_QUEUE_WORDS	(sizeof(struct ivf_queue_regs) / sizeof(u32))

size_t ivf_stream_put_final(const struct ivf_vf_state *st, u8 *buf)
{
	struct ivf_mig_queues *qr;
	struct ivf_mig_irq *ir;
	struct ivf_mig_mailbox *mr;
	struct ivf_mig_stats *sr;
	size_t off = IVF_HDR_LEN;
	unsigned int q;

	BUILD_BUG_ON(sizeof(struct ivf_mig_queue) != sizeof(struct ivf_queue_regs));
	BUILD_BUG_ON(sizeof(struct ivf_mig_irq) != sizeof(struct ivf_irq_regs));
	BUILD_BUG_ON(IVF_MIG_NSTATS != IVF_NSTATS);
	BUILD_BUG_ON(IVF_MIG_MAX_MC != IVF_MAX_MC_HASHES);
	BUILD_BUG_ON(IVF_MIG_MAX_UC != IVF_MAX_UC_FILTERS);

	ivf_put_pf_config(buf, &off, &st->cfg);

	qr = ivf_put_rec(buf, &off, IVF_MIG_REC_QUEUES, true, sizeof(*qr));
	for (q = 0; q < IVF_NUM_QUEUES; q++)
		ivf_le32_put((__le32 *)&qr->q[q], (const u32 *)&st->q[q],
			     IVF_QUEUE_WORDS);

	ir = ivf_put_rec(buf, &off, IVF_MIG_REC_IRQ, true, sizeof(*ir));
	ivf_le32_put((__le32 *)ir, (const u32 *)&st->irq,
		     sizeof(*ir) / sizeof(u32));

	mr = ivf_put_rec(buf, &off, IVF_MIG_REC_MAILBOX, true, sizeof(*mr));
	mr->flags = cpu_to_le32((st->mbx.req_pending ? IVF_MIG_MBX_REQ_PENDING : 0) |
				(st->mbx.vfu ? IVF_MIG_MBX_VFU : 0));
	mr->r2c = cpu_to_le32(st->mbx.r2c);
	ivf_le32_put(mr->vmbmem, st->mbx.vmbmem, IVF_VMBMEM_WORDS);
	ivf_le32_put(mr->req, st->mbx.req, IVF_VMBMEM_WORDS);

	sr = ivf_put_rec(buf, &off, IVF_MIG_REC_STATS, false, sizeof(*sr));
	ivf_le32_put(sr->val, st->stats, IVF_NSTATS);

	ivf_put_hdr(buf, IVF_MIG_PKT_FINAL, off);
	return off;
}

int ivf_stream_check_header(struct pci_dev *pdev, const u8 *buf, u32 *len)
{
	const struct ivf_mig_hdr *hdr = (const struct ivf_mig_hdr *)buf;
	u16 major = le16_to_cpu(hdr->major), kind = le16_to_cpu(hdr->kind);
	u16 vendor = le16_to_cpu(hdr->vendor), device = le16_to_cpu(hdr->device);
	u32 length = le32_to_cpu(hdr->length);

	if (le32_to_cpu(hdr->magic) != IVF_MIG_MAGIC) {
		ivf_err_rl(pdev,
			   "migration stream refused: bad magic 0x%08x, not an igbvf-vfio-pci stream\n",
			   le32_to_cpu(hdr->magic));
		return -EINVAL;
	}
	if (major != IVF_MIG_MAJOR) {
		ivf_err_rl(pdev,
			   "migration stream refused: version %u.%u, this driver reads %u.x\n",
			   major, le16_to_cpu(hdr->minor), IVF_MIG_MAJOR);
		return -EPROTONOSUPPORT;
	}
	if (vendor != IVF_PCI_VENDOR_ID || device != IVF_PCI_DEVICE_ID) {
		ivf_err_rl(pdev,
			   "migration stream refused: it is from a %04x:%04x device, not %04x:%04x\n",
			   vendor, device, IVF_PCI_VENDOR_ID, IVF_PCI_DEVICE_ID);
		return -EXDEV;
	}
	if (kind != IVF_MIG_PKT_CONFIG && kind != IVF_MIG_PKT_FINAL) {
		ivf_err_rl(pdev, "migration stream refused: unknown packet kind %u\n",
			   kind);
		return -EINVAL;
	}
	if (length < IVF_HDR_LEN || length > IVF_MIG_MAX_PACKET ||
	    !IS_ALIGNED(length, 8)) {
		ivf_err_rl(pdev,
			   "migration stream refused: packet length %u out of bounds (%zu..%u, 8-byte multiple)\n",
			   length, IVF_HDR_LEN, IVF_MIG_MAX_PACKET);
		return -EMSGSIZE;
	}
	*len = length;
	return 0;
}

static int ivf_get_pf_config(struct pci_dev *pdev,
			     const struct ivf_mig_pf_config *r,
			     struct ivf_pf_config *cfg)
{
	u32 flags = le32_to_cpu(r->flags);
	unsigned int i, bit;

	if (r->n_uc > IVF_MIG_MAX_UC || r->n_mc > IVF_MIG_MAX_MC ||
	    (flags & ~(IVF_MIG_CFG_CTS | IVF_MIG_CFG_MAC))) {
		ivf_err_rl(pdev,
			   "migration stream refused: PF config record out of range (%u filters, %u hashes, flags 0x%x)\n",
			   r->n_uc, r->n_mc, flags);
		return -EBADMSG;
	}
	memset(cfg, 0, sizeof(*cfg));
	cfg->cts = flags & IVF_MIG_CFG_CTS;
	cfg->mac_valid = flags & IVF_MIG_CFG_MAC;
	memcpy(cfg->mac, r->mac, ETH_ALEN);
	cfg->n_uc = r->n_uc;
	cfg->n_mc = r->n_mc;
	memcpy(cfg->uc, r->uc, sizeof(cfg->uc));
	for (i = 0; i < IVF_MIG_MAX_MC; i++)
		cfg->mc[i] = le16_to_cpu(r->mc[i]);
	cfg->max_frame = le32_to_cpu(r->max_frame);
	cfg->promisc = le32_to_cpu(r->promisc);
	for (i = 0; i < ARRAY_SIZE(r->vlans); i++) {
		u64 w = le64_to_cpu(r->vlans[i]);

		for (bit = 0; bit < 64; bit++)
			if (w & BIT_ULL(bit))
				set_bit(i * 64 + bit, cfg->vlans);
	}
	return 0;
}

/* A ring must lie inside its length, in whole descriptors. */
static bool ivf_ring_ok(u32 len, u32 head, u32 tail)
{
	if (len % IVF_DESC_SIZE || len > IVF_RING_LEN_MAX)
		return false;
	if (!len)
		return true;
	return head < len / IVF_DESC_SIZE && tail < len / IVF_DESC_SIZE;
}

static int ivf_check_state(struct pci_dev *pdev, const struct ivf_vf_state *st)
{
	unsigned int q;

	for (q = 0; q < IVF_NUM_QUEUES; q++) {
		const struct ivf_queue_regs *r = &st->q[q];

		if (!ivf_ring_ok(r->rdlen, r->rdh, r->rdt) ||
		    !ivf_ring_ok(r->tdlen, r->tdh, r->tdt)) {
			ivf_err_rl(pdev,
				   "migration stream refused: queue %u ring registers are inconsistent (RDLEN 0x%x RDH %u RDT %u TDLEN 0x%x TDH %u TDT %u)\n",
				   q, r->rdlen, r->rdh, r->rdt, r->tdlen, r->tdh,
				   r->tdt);
			return -EBADMSG;
		}
	}
	return 0;
}

/* The CRC over the packet with the CRC field zero. */
static int ivf_check_crc(struct pci_dev *pdev, const u8 *pkt, u32 len)
{
	const struct ivf_mig_hdr *hdr = (const struct ivf_mig_hdr *)pkt;
	u32 want = le32_to_cpu(hdr->crc32c), crc;
	struct ivf_mig_hdr copy;

	copy = *hdr;
	copy.crc32c = 0;
	crc = crc32c(~0U, &copy, IVF_HDR_LEN);
	crc = ~crc32c(crc, pkt + IVF_HDR_LEN, len - IVF_HDR_LEN);
	if (crc != want) {
		ivf_err_rl(pdev,
			   "migration stream refused: checksum mismatch (0x%08x, computed 0x%08x)\n",
			   want, crc);
		return -EBADMSG;
	}
	return 0;
}

static int ivf_get_mailbox(struct pci_dev *pdev,
			   const struct ivf_mig_mailbox *mr,
			   struct ivf_vf_state *st)
{
	u32 mflags = le32_to_cpu(mr->flags);

	if (mflags & ~(IVF_MIG_MBX_REQ_PENDING | IVF_MIG_MBX_VFU) ||
	    le32_to_cpu(mr->r2c) & ~IVF_MBX_R2C_BITS) {
		ivf_err_rl(pdev,
			   "migration stream refused: mailbox record flags 0x%x r2c 0x%x\n",
			   mflags, le32_to_cpu(mr->r2c));
		return -EBADMSG;
	}
	st->mbx.req_pending = mflags & IVF_MIG_MBX_REQ_PENDING;
	st->mbx.vfu = mflags & IVF_MIG_MBX_VFU;
	st->mbx.r2c = le32_to_cpu(mr->r2c);
	ivf_le32_get(st->mbx.vmbmem, mr->vmbmem, IVF_VMBMEM_WORDS);
	ivf_le32_get(st->mbx.req, mr->req, IVF_VMBMEM_WORDS);
	return 0;
}

/* One record's payload @p, at least its type's minimum length, into @st. */
static int ivf_get_rec(struct pci_dev *pdev, u16 type, u16 flags,
		       const void *p, struct ivf_vf_state *st)
{
	const struct ivf_mig_queues *qr = p;
	unsigned int q;

	switch (type) {
	case IVF_MIG_REC_PF_CONFIG:
		return ivf_get_pf_config(pdev, p, &st->cfg);
	case IVF_MIG_REC_QUEUES:
		for (q = 0; q < IVF_NUM_QUEUES; q++)
			ivf_le32_get((u32 *)&st->q[q],
				     (const __le32 *)&qr->q[q],
				     IVF_QUEUE_WORDS);
		return 0;
	case IVF_MIG_REC_IRQ:
		ivf_le32_get((u32 *)&st->irq, p,
			     sizeof(struct ivf_mig_irq) / sizeof(u32));
		return 0;
	case IVF_MIG_REC_MAILBOX:
		return ivf_get_mailbox(pdev, p, st);
	case IVF_MIG_REC_STATS:
		ivf_le32_get(st->stats, ((const struct ivf_mig_stats *)p)->val,
			     IVF_NSTATS);
		st->have_stats = true;
		return 0;
	}
	if (flags & IVF_MIG_REC_MANDATORY) {
		ivf_err_rl(pdev,
			   "migration stream refused: unknown mandatory record type %u (from a newer driver?)\n",
			   type);
		return -EPROTO;
	}
	return 0;
}

/*
 * The record at @off: it must fit in the packet, appear once and be as
 * long as its type needs. *@end is where the next one starts.
 */
static int ivf_check_rec(struct pci_dev *pdev, const u8 *pkt, u32 len,
			 size_t off, unsigned long seen, u64 *end)
{
	const struct ivf_mig_rec *rec = (const struct ivf_mig_rec *)(pkt + off);
	u16 type;
	size_t min;
	u32 rlen;

	if (len - off < IVF_REC_LEN) {
		ivf_err_rl(pdev,
			   "migration stream refused: truncated record header at offset %zu\n",
			   off);
		return -EMSGSIZE;
	}
	type = le16_to_cpu(rec->type);
	rlen = le32_to_cpu(rec->length);
	if (check_add_overflow((u64)off + IVF_REC_LEN, ALIGN((u64)rlen, 8), end) ||
	    *end > len) {
		ivf_err_rl(pdev,
			   "migration stream refused: record type %u of %u bytes at offset %zu overruns its %u-byte packet\n",
			   type, rlen, off, len);
		return -EMSGSIZE;
	}
	if (type >= 1 && type < BITS_PER_LONG && (seen & BIT(type))) {
		ivf_err_rl(pdev, "migration stream refused: record type %u appears twice\n",
			   type);
		return -EBADMSG;
	}
	min = ivf_mig_rec_min_len(type);
	if (rlen < min) {
		ivf_err_rl(pdev,
			   "migration stream refused: record type %u is %u bytes, needs %zu\n",
			   type, rlen, min);
		return -EBADMSG;
	}
	return 0;
}

int ivf_stream_parse(struct pci_dev *pdev, const u8 *pkt, u32 len,
		     struct ivf_vf_state *st, bool *final)
{
	const struct ivf_mig_hdr *hdr = (const struct ivf_mig_hdr *)pkt;
	const struct ivf_mig_rec *rec;
	unsigned long seen = 0, need;
	size_t off = IVF_HDR_LEN;
	u16 type;
	u64 end;
	int ret;

	ret = ivf_check_crc(pdev, pkt, len);
	if (ret)
		return ret;
	memset(st, 0, sizeof(*st));
	while (off < len) {
		ret = ivf_check_rec(pdev, pkt, len, off, seen, &end);
		if (ret)
			return ret;
		rec = (const struct ivf_mig_rec *)(pkt + off);
		type = le16_to_cpu(rec->type);
		ret = ivf_get_rec(pdev, type, le16_to_cpu(rec->flags), rec + 1,
				  st);
		if (ret)
			return ret;
		if (type >= 1 && type < BITS_PER_LONG)
			seen |= BIT(type);
		off = end;
	}

	*final = le16_to_cpu(hdr->kind) == IVF_MIG_PKT_FINAL;
	need = BIT(IVF_MIG_REC_PF_CONFIG);
	if (*final)
		need |= BIT(IVF_MIG_REC_QUEUES) | BIT(IVF_MIG_REC_IRQ) |
			BIT(IVF_MIG_REC_MAILBOX);
	if ((seen & need) != need) {
		ivf_err_rl(pdev,
			   "migration stream refused: %s packet lacks mandatory records (has 0x%lx, needs 0x%lx)\n",
			   *final ? "final" : "config", seen & need, need);
		return -EPROTO;
	}
	return *final ? ivf_check_state(pdev, st) : 0;
}
