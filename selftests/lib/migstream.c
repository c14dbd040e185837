// SPDX-License-Identifier: GPL-2.0
/*
 * Reference parser and builder for the igbvf-vfio-pci migration stream.
 * Written from the rules in include/ivf_migration.h only.
 */
#include <endian.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "ivf_regs.h"
#include "mig.h"
#include "migstream.h"

static uint16_t get16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return le16toh(v);
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return le32toh(v);
}

static void put16(uint8_t *p, uint16_t v)
{
	v = htole16(v);
	memcpy(p, &v, 2);
}

static void put32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

__attribute__((format(printf, 4, 5)))
static int fail(struct ms_stream *s, size_t off, int err, const char *fmt, ...)
{
	va_list ap;

	s->err_off = off;
	va_start(ap, fmt);
	vsnprintf(s->why, sizeof(s->why), fmt, ap);
	va_end(ap);
	return -err;
}

static uint32_t known_min_len(uint16_t type)
{
	switch (type) {
	case IVF_MIG_REC_PF_CONFIG:
		return sizeof(struct ivf_mig_pf_config);
	case IVF_MIG_REC_QUEUES:
		return sizeof(struct ivf_mig_queues);
	case IVF_MIG_REC_IRQ:
		return sizeof(struct ivf_mig_irq);
	case IVF_MIG_REC_MAILBOX:
		return sizeof(struct ivf_mig_mailbox);
	case IVF_MIG_REC_STATS:
		return sizeof(struct ivf_mig_stats);
	}
	return 0;
}

static int parse_records(struct ms_stream *s, struct ms_pkt *p)
{
	size_t end = p->off + p->len, off = p->off + MS_HDR_LEN;
	unsigned int seen = 0;

	p->first_rec = s->nrec;
	while (off < end) {
		const uint8_t *r = s->buf + off;
		struct ms_rec *rec;
		uint32_t min;
		uint64_t next;

		if (end - off < MS_REC_LEN)
			return fail(s, off, EMSGSIZE,
				    "%zu bytes left in the packet, less than a record header",
				    end - off);
		if (s->nrec >= MS_MAX_REC)
			return fail(s, off, EMSGSIZE, "more than %d records",
				    MS_MAX_REC);
		rec = &s->rec[s->nrec];
		rec->off = off;
		rec->type = get16(r);
		rec->flags = get16(r + 2);
		rec->len = get32(r + 4);
		next = (uint64_t)off + MS_REC_LEN + rec->len;
		if (next > end)
			return fail(s, off, EMSGSIZE,
				    "record type %u length %u overruns the packet",
				    rec->type, rec->len);
		next = (next + 7) & ~7ull;
		if (next > end)
			return fail(s, off, EMSGSIZE,
				    "record type %u padding overruns the packet",
				    rec->type);
		min = known_min_len(rec->type);
		if (min && rec->len < min)
			return fail(s, off, EBADMSG,
				    "record type %u is %u bytes, less than %u",
				    rec->type, rec->len, min);
		if (!min && (rec->flags & IVF_MIG_REC_MANDATORY))
			return fail(s, off, EPROTO,
				    "unknown mandatory record type %u", rec->type);
		if (min)
			seen |= 1u << rec->type;
		s->nrec++;
		p->nrec++;
		off = next;
	}
	if (p->kind == IVF_MIG_PKT_FINAL) {
		static const uint16_t need[] = {
			IVF_MIG_REC_PF_CONFIG, IVF_MIG_REC_QUEUES,
			IVF_MIG_REC_IRQ, IVF_MIG_REC_MAILBOX,
		};
		unsigned int i;

		for (i = 0; i < sizeof(need) / sizeof(need[0]); i++)
			if (!(seen & (1u << need[i])))
				return fail(s, p->off, EPROTO,
					    "FINAL packet without record type %u",
					    need[i]);
	}
	if (seen & (1u << IVF_MIG_REC_PF_CONFIG)) {
		const struct ms_rec *r = ms_find(s, p - s->pkt,
						 IVF_MIG_REC_PF_CONFIG);
		const struct ivf_mig_pf_config *c = ms_payload(s, r);

		if (c->n_uc > IVF_MIG_MAX_UC || c->n_mc > IVF_MIG_MAX_MC)
			return fail(s, r->off, EBADMSG,
				    "PF_CONFIG with %u unicast and %u multicast entries",
				    c->n_uc, c->n_mc);
	}
	return 0;
}

int ms_parse(struct ms_stream *s, const uint8_t *buf, size_t len)
{
	size_t off = 0;
	bool final = false;
	int ret;

	memset(s, 0, sizeof(*s));
	s->buf = buf;
	s->len = len;
	while (off < len) {
		const uint8_t *h = buf + off;
		struct ms_pkt *p;
		uint8_t tmp[IVF_MIG_MAX_PACKET];

		if (final)
			return fail(s, off, EINVAL, "%zu bytes after the FINAL packet",
				    len - off);
		if (s->npkt >= MS_MAX_PKT)
			return fail(s, off, EMSGSIZE, "more than %d packets",
				    MS_MAX_PKT);
		if (len - off < MS_HDR_LEN)
			return fail(s, off, ENODATA, "partial packet header");
		p = &s->pkt[s->npkt];
		p->off = off;
		p->major = get16(h + 4);
		p->minor = get16(h + 6);
		p->kind = get16(h + 12);
		p->len = get32(h + 16);
		p->crc = get32(h + 20);
		if (get32(h) != IVF_MIG_MAGIC)
			return fail(s, off, EINVAL, "bad magic 0x%08x", get32(h));
		if (p->major > IVF_MIG_MAJOR)
			return fail(s, off, EPROTONOSUPPORT, "major version %u",
				    p->major);
		if (get16(h + 8) != IVF_PCI_VENDOR_ID ||
		    get16(h + 10) != IVF_PCI_DEVICE_ID)
			return fail(s, off, EXDEV, "device %04x:%04x",
				    get16(h + 8), get16(h + 10));
		if (p->kind != IVF_MIG_PKT_CONFIG && p->kind != IVF_MIG_PKT_FINAL)
			return fail(s, off, EINVAL, "packet kind %u", p->kind);
		if (p->len < MS_HDR_LEN || p->len > IVF_MIG_MAX_PACKET)
			return fail(s, off, EMSGSIZE, "packet length %u", p->len);
		if (len - off < p->len)
			return fail(s, off, ENODATA, "partial packet (%zu of %u bytes)",
				    len - off, p->len);
		memcpy(tmp, h, p->len);
		put32(tmp + 20, 0);
		if (mig_crc32c(tmp, p->len) != p->crc)
			return fail(s, off, EBADMSG, "CRC 0x%08x, computed 0x%08x",
				    p->crc, mig_crc32c(tmp, p->len));
		s->npkt++;
		ret = parse_records(s, p);
		if (ret)
			return ret;
		final = p->kind == IVF_MIG_PKT_FINAL;
		off += p->len;
	}
	if (!final)
		return fail(s, off, ENODATA, "no FINAL packet");
	return 0;
}

const struct ms_rec *ms_find(const struct ms_stream *s, unsigned int pkt,
			     uint16_t type)
{
	unsigned int i;

	if (pkt >= s->npkt)
		return NULL;
	for (i = 0; i < s->pkt[pkt].nrec; i++)
		if (s->rec[s->pkt[pkt].first_rec + i].type == type)
			return &s->rec[s->pkt[pkt].first_rec + i];
	return NULL;
}

int ms_final(const struct ms_stream *s)
{
	unsigned int i;

	for (i = 0; i < s->npkt; i++)
		if (s->pkt[i].kind == IVF_MIG_PKT_FINAL)
			return i;
	return -1;
}

void mb_init(struct ms_build *b, uint8_t *buf, size_t cap)
{
	memset(b, 0, sizeof(*b));
	b->buf = buf;
	b->cap = cap;
}

void mb_raw(struct ms_build *b, const void *data, size_t len)
{
	if (b->len + len > b->cap) {
		b->overflow = 1;
		return;
	}
	if (data)
		memcpy(b->buf + b->len, data, len);
	else
		memset(b->buf + b->len, 0, len);
	b->len += len;
}

void mb_pkt_begin(struct ms_build *b, uint16_t kind)
{
	uint8_t h[MS_HDR_LEN] = { 0 };

	put32(h, IVF_MIG_MAGIC);
	put16(h + 4, IVF_MIG_MAJOR);
	put16(h + 6, IVF_MIG_MINOR);
	put16(h + 8, IVF_PCI_VENDOR_ID);
	put16(h + 10, IVF_PCI_DEVICE_ID);
	put16(h + 12, kind);
	b->pkt = b->len;
	mb_raw(b, h, sizeof(h));
}

void mb_rec(struct ms_build *b, uint16_t type, uint16_t flags,
	    const void *data, uint32_t len)
{
	uint8_t r[MS_REC_LEN];
	size_t pad = (8 - len % 8) % 8;

	put16(r, type);
	put16(r + 2, flags);
	put32(r + 4, len);
	mb_raw(b, r, sizeof(r));
	mb_raw(b, data, len);
	mb_raw(b, NULL, pad);
}

size_t mb_pkt_end(struct ms_build *b)
{
	if (b->overflow || b->len - b->pkt < MS_HDR_LEN)
		return b->pkt;
	put32(b->buf + b->pkt + 16, b->len - b->pkt);
	mig_packet_fix_crc(b->buf + b->pkt);
	return b->pkt;
}
