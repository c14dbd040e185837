// SPDX-License-Identifier: GPL-2.0
/*
 * migration_stream: the stream a destination accepts and refuses.
 *
 * A real stream is saved from IVF_VF0 (after the PF handshake, multicast
 * hashes, VLANs, LPE and rings) and checked against include/ivf_migration.h
 * (packets, 8-byte aligned records, CRC32C, contents). Then IVF_VF2 is put
 * in RESUMING and fed the good stream (in one write and in small pieces),
 * truncated streams, single-bit flips, and streams edited field by field
 * (CRC recomputed so that the field check is what refuses). Each one:
 *  - write() returns the errno of the ABI table, RESUMING -> STOP fails
 *    (ENODATA if the stream just stops early), or both succeed;
 *  - the kernel log says why (named cases);
 *  - a refused stream never reaches VF2's ring registers (only a valid
 *    CONFIG packet may: it is checked against the PF at once, which resets
 *    the VF and replays its configuration);
 *  - after VFIO_DEVICE_RESET the VF does the PF mailbox handshake.
 * A good stream needs VF2's admin MAC to be VF0's: the test sets it with
 * ip(8) and restores it. With VF2's own admin MAC the replay must fail
 * with EADDRNOTAVAIL: in RESUMING -> STOP for a FINAL-only stream, in the
 * write() of the CONFIG packet for a PRE_COPY stream.
 *
 * Env: IVF_VF0, IVF_VF2, IVF_PF, IVF_PF_IF, IVF_VF0_MAC, IVF_VF2_MAC;
 *      IVF_FLIPS=all to flip every bit of the stream (slow), or a number of
 *      payload bits to sample besides every header bit (default 48);
 *      IVF_SEED for the sample.
 */
#include <endian.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ivf.h"
#include "kmsg.h"
#include "ktap.h"
#include "mig.h"
#include "mig_states.h"
#include "migstream.h"
#include "util.h"

KTAP_DEFINE_STATE();

static const uint16_t src_hashes[3] = { 0x0123, 0x0456, 0x0789 };
#define SRC_MAX_FRAME	9018

/* ring registers of both queues: what "the device was touched" means */
static const struct {
	uint32_t off;
	const char *name;
} regs[] = {
	{ IVF_RDBAL(0), "RDBAL0" }, { IVF_RDBAH(0), "RDBAH0" },
	{ IVF_RDLEN(0), "RDLEN0" }, { IVF_SRRCTL(0), "SRRCTL0" },
	{ IVF_RXDCTL(0), "RXDCTL0" }, { IVF_RDT(0), "RDT0" },
	{ IVF_TDBAL(0), "TDBAL0" }, { IVF_TDBAH(0), "TDBAH0" },
	{ IVF_TDLEN(0), "TDLEN0" }, { IVF_TXDCTL(0), "TXDCTL0" },
	{ IVF_TDWBAL(0), "TDWBAL0" },
	{ IVF_RDBAL(1), "RDBAL1" }, { IVF_TDBAL(1), "TDBAL1" },
	{ IVF_IVAR0, "IVAR0" }, { IVF_EITR(0), "EITR0" },
};
#define NREGS (sizeof(regs) / sizeof(regs[0]))

struct dst {
	const char *bdf;
	struct vfio_dev d;
	struct ivf v;
	struct kmsg k;
	int fd;
	struct vfio_dma dma[4];	/* VF0's ring IOVAs, for RUNNING */
	int ndma;
};

/* what a case did */
struct result {
	int werr;		/* first failing write, 0 if all accepted */
	size_t written;		/* bytes accepted */
	int serr;		/* RESUMING -> STOP */
	uint32_t state;		/* GET afterwards */
	bool regs_after_write;	/* unchanged by the writes */
	bool regs_after_stop;	/* unchanged after the STOP attempt */
	char reg_diff[160];
	int nlog;
	char log[512];
	uint32_t after[NREGS];
};

static const char *ename(int e)
{
	switch (-e) {
	case 0: return "ok";
	case EINVAL: return "EINVAL";
	case EPROTONOSUPPORT: return "EPROTONOSUPPORT";
	case EXDEV: return "EXDEV";
	case EMSGSIZE: return "EMSGSIZE";
	case EBADMSG: return "EBADMSG";
	case EPROTO: return "EPROTO";
	case ENODATA: return "ENODATA";
	case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
	case ENODEV: return "ENODEV";
	}
	return strerror(-e);
}

static void snap(struct vfio_dev *d, uint32_t *v)
{
	unsigned int i;

	for (i = 0; i < NREGS; i++)
		if (vfio_bar_read32(d, 0, regs[i].off, &v[i]))
			v[i] = 0xdeadbeef;
}

static bool same(const uint32_t *a, const uint32_t *b, char *diff, size_t len)
{
	unsigned int i;

	for (i = 0; i < NREGS; i++) {
		if (a[i] != b[i]) {
			snprintf(diff, len, "%s 0x%08x -> 0x%08x", regs[i].name,
				 a[i], b[i]);
			return false;
		}
	}
	return true;
}

/* fresh destination in RUNNING, sentinels in the ring registers */
static int dst_reset(struct dst *t)
{
	uint32_t s = 0;
	int ret;

	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
	ret = vfio_dev_reset(&t->d);
	if (!ret)
		ret = mig_get_state(&t->d, &s);
	if (!ret && s != S_RUNNING)
		ret = -EPROTO;
	if (ret)
		return ret;
	vfio_bar_write32(&t->d, 0, IVF_RDBAL(0), 0x0badc000);
	vfio_bar_write32(&t->d, 0, IVF_TDBAL(0), 0x0bade000);
	vfio_bar_write32(&t->d, 0, IVF_RDLEN(0), 0x1000);
	vfio_bar_write32(&t->d, 0, IVF_TDLEN(0), 0x2000);
	return 0;
}

/*
 * Feed @buf to a fresh RESUMING session of the destination in writes of
 * @chunk bytes (0: one write), then try RESUMING -> STOP.
 */
static int run_case(struct dst *t, const uint8_t *buf, size_t len,
		    size_t chunk, struct result *r)
{
	uint32_t before[NREGS], mid[NREGS];
	int ret;

	memset(r, 0, sizeof(*r));
	ret = dst_reset(t);
	if (!ret)
		ret = mig_set_state(&t->d, S_RESUMING, &t->fd);
	if (!ret && t->fd < 0)
		ret = -EBADF;
	if (ret)
		return ret;
	snap(&t->d, before);
	kmsg_mark(&t->k);

	if (!chunk)
		chunk = len ? len : 1;
	while (r->written < len) {
		size_t n = len - r->written < chunk ? len - r->written : chunk;
		ssize_t w = write(t->fd, buf + r->written, n);

		if (w < 0) {
			r->werr = -errno;
			break;
		}
		if (w == 0) {
			r->werr = -EIO;
			break;
		}
		r->written += w;
	}
	snap(&t->d, mid);
	r->regs_after_write = same(before, mid, r->reg_diff,
				   sizeof(r->reg_diff));
	r->serr = mig_set_state(&t->d, S_STOP, NULL);
	r->state = 0;
	mig_get_state(&t->d, &r->state);
	snap(&t->d, r->after);
	r->regs_after_stop = same(before, r->after, r->reg_diff,
				  sizeof(r->reg_diff));
	r->nlog = kmsg_read(&t->k, t->bdf, r->log, sizeof(r->log));
	return 0;
}

static int handshake(struct dst *t)
{
	int ret = dst_reset(t);

	if (!ret)
		ret = ivf_reset(&t->v);
	if (!ret && !t->v.cts)
		ret = -EPROTO;
	return ret;
}

#define R_LOG	1	/* the kernel log must say why */
#define R_TOUCH	2	/* a valid CONFIG packet may reset the VF */

/*
 * A stream the destination must refuse: in write() with @werr, or (writes
 * accepted) in RESUMING -> STOP with @serr. Nothing may reach the device
 * (unless R_TOUCH: a valid CONFIG packet is checked against the PF at
 * once), the log must say why (R_LOG), and the VF must work after a reset.
 */
static void expect_refused(struct dst *t, const char *name, const uint8_t *buf,
			   size_t len, size_t chunk, int werr, int serr,
			   unsigned int flags)
{
	struct result r;
	int ret = run_case(t, buf, len, chunk, &r);
	bool ok;

	if (ret) {
		ktap_check(false, "%s: could not start RESUMING: %s", name,
			   strerror(-ret));
		return;
	}
	if (werr) {
		ok = r.werr == werr && r.serr != 0;
		ktap_check(ok, "%s: write() %s after %zu of %zu bytes (%s), then STOP %s",
			   name, ename(r.werr), r.written, len, ename(werr),
			   ename(r.serr));
	} else {
		ok = r.werr == 0 && r.serr == serr;
		ktap_check(ok, "%s: %zu bytes accepted (%s), RESUMING -> STOP %s (%s), state %s",
			   name, r.written, ename(r.werr), ename(r.serr),
			   ename(serr), mig_state_name(r.state));
	}
	if (!(flags & R_TOUCH))
		ktap_check(r.regs_after_write && r.regs_after_stop,
			   "%s: ring registers untouched%s%s", name,
			   r.regs_after_stop && r.regs_after_write ? "" : ": ",
			   r.reg_diff);
	if (flags & R_LOG)
		ktap_check(r.nlog > 0, "%s: kernel log: %s", name,
			   r.nlog ? r.log : "(nothing about the device)");
	else if (r.nlog)
		ktap_info("%s: kernel log: %s", name, r.log);
	ret = handshake(t);
	ktap_check(!ret, "%s: after VFIO_DEVICE_RESET the VF does the handshake (%s)",
		   name, err_str(ret));
}

/* a stream the destination must take */
static bool expect_accepted(struct dst *t, const char *name, const uint8_t *buf,
			    size_t len, size_t chunk, struct result *r)
{
	int ret = run_case(t, buf, len, chunk, r);

	if (ret) {
		ktap_check(false, "%s: could not start RESUMING: %s", name,
			   strerror(-ret));
		return false;
	}
	if (r->nlog)
		ktap_info("%s: kernel log: %s", name, r->log);
	return ktap_check(!r->werr && !r->serr && r->state == S_STOP,
			  "%s: %zu bytes in %s, write %s, RESUMING -> STOP %s, state %s",
			  name, r->written, chunk ? "pieces" : "one write",
			  ename(r->werr), ename(r->serr),
			  mig_state_name(r->state));
}

/* ---- the source ------------------------------------------------------ */

static int save_stream(struct vfio_dev *d, bool precopy, uint8_t **buf,
		       size_t *len)
{
	ssize_t n;
	int fd = -1, ret;

	*buf = NULL;
	*len = 0;
	if (precopy) {
		ret = mig_set_state(d, S_PRE_COPY, &fd);
		if (ret)
			return ret;
		n = mig_read_all(fd, buf, len);
		if (n >= 0)
			ret = mig_set_state(d, S_PRE_COPY_P2P, NULL);
		if (n >= 0 && !ret)
			ret = mig_set_state(d, S_STOP_COPY, NULL);
	} else {
		ret = mig_set_state(d, S_STOP, NULL);
		if (!ret)
			ret = mig_set_state(d, S_STOP_COPY, &fd);
		n = 0;
	}
	if (!ret && n >= 0 && fd >= 0)
		n = mig_read_all(fd, buf, len);
	if (!ret && n < 0)
		ret = n;
	if (!ret && fd < 0)
		ret = -EBADF;
	if (fd >= 0)
		close(fd);
	if (!ret)
		ret = mig_set_state(d, S_STOP, NULL);
	return ret;
}

static bool vlan_set(const struct ivf_mig_pf_config *c, unsigned int v)
{
	return le64toh(c->vlans[v / 64]) >> (v % 64) & 1;
}

static void check_stream(const uint8_t *buf, size_t len, const struct ivf *v)
{
	const struct ivf_mig_pf_config *c;
	const struct ivf_mig_queues *q;
	const struct ivf_mig_hdr *h = (const void *)buf;
	struct ms_stream s;
	unsigned int i, nvlan = 0, aligned = 1;
	char m1[18], m2[18];
	const struct ms_rec *r;
	int ret;

	ret = ms_parse(&s, buf, len);
	if (!ktap_check(!ret, "saved stream parses per the ABI (%s)",
			ret ? s.why : "ok"))
		return;
	ktap_check(s.npkt == 1 && s.pkt[0].kind == IVF_MIG_PKT_FINAL &&
		   s.pkt[0].len == len,
		   "STOP_COPY stream: one FINAL packet of %zu bytes (%u packets)",
		   len, s.npkt);
	ktap_check(le32toh(h->magic) == IVF_MIG_MAGIC &&
		   le16toh(h->major) == IVF_MIG_MAJOR &&
		   le16toh(h->minor) == IVF_MIG_MINOR &&
		   le16toh(h->vendor) == IVF_PCI_VENDOR_ID &&
		   le16toh(h->device) == IVF_PCI_DEVICE_ID && h->reserved == 0,
		   "header: magic 0x%08x v%u.%u %04x:%04x reserved %u",
		   le32toh(h->magic), le16toh(h->major), le16toh(h->minor),
		   le16toh(h->vendor), le16toh(h->device), le16toh(h->reserved));
	ktap_info("CRC32C 0x%08x (verified)", s.pkt[0].crc);
	for (i = 0; i < s.nrec; i++) {
		ktap_info("record type %u flags 0x%x length %u at +%zu",
			  s.rec[i].type, s.rec[i].flags, s.rec[i].len,
			  s.rec[i].off - s.pkt[0].off);
		if ((s.rec[i].off - s.pkt[0].off) % 8)
			aligned = 0;
	}
	ktap_check(aligned, "records 8-byte aligned, filling the packet");
	ktap_check(ms_find(&s, 0, IVF_MIG_REC_PF_CONFIG) &&
		   ms_find(&s, 0, IVF_MIG_REC_QUEUES) &&
		   ms_find(&s, 0, IVF_MIG_REC_IRQ) &&
		   ms_find(&s, 0, IVF_MIG_REC_MAILBOX),
		   "FINAL holds PF_CONFIG, QUEUES, IRQ and MAILBOX");

	r = ms_find(&s, 0, IVF_MIG_REC_PF_CONFIG);
	c = ms_payload(&s, r);
	ivf_format_mac(c->mac, m1);
	ivf_format_mac(v->mac, m2);
	ktap_check((le32toh(c->flags) & (IVF_MIG_CFG_CTS | IVF_MIG_CFG_MAC)) ==
		   (IVF_MIG_CFG_CTS | IVF_MIG_CFG_MAC) && !memcmp(c->mac, v->mac, 6),
		   "PF_CONFIG: CTS, MAC %s (the VF's %s)", m1, m2);
	ktap_check(c->n_mc == 3 && le16toh(c->mc[0]) == src_hashes[0] &&
		   le16toh(c->mc[1]) == src_hashes[1] &&
		   le16toh(c->mc[2]) == src_hashes[2],
		   "PF_CONFIG: 3 multicast hashes (%u: 0x%x 0x%x 0x%x)", c->n_mc,
		   le16toh(c->mc[0]), le16toh(c->mc[1]), le16toh(c->mc[2]));
	for (i = 0; i < 4096; i++)
		nvlan += vlan_set(c, i);
	ktap_check(nvlan == 2 && vlan_set(c, 7) && vlan_set(c, 100),
		   "PF_CONFIG: VLANs 7 and 100 (%u set)", nvlan);
	ktap_check(le32toh(c->max_frame) == SRC_MAX_FRAME,
		   "PF_CONFIG: max_frame %u", le32toh(c->max_frame));

	r = ms_find(&s, 0, IVF_MIG_REC_QUEUES);
	q = ms_payload(&s, r);
	ktap_check(le32toh(q->q[0].rdbal) == (uint32_t)v->rx_ring_dma.iova &&
		   le32toh(q->q[0].rdlen) == v->rx_count * 16 &&
		   le32toh(q->q[0].tdbal) == (uint32_t)v->tx_ring_dma.iova &&
		   le32toh(q->q[0].tdlen) == v->tx_count * 16 &&
		   (le32toh(q->q[0].rxdctl) & IVF_XDCTL_ENABLE) &&
		   (le32toh(q->q[0].txdctl) & IVF_XDCTL_ENABLE),
		   "QUEUES: queue 0 as programmed (rdbal 0x%x rdlen %u tdbal 0x%x tdlen %u, enabled)",
		   le32toh(q->q[0].rdbal), le32toh(q->q[0].rdlen),
		   le32toh(q->q[0].tdbal), le32toh(q->q[0].tdlen));
}

/* ---- stream surgery ---------------------------------------------------- */

static uint8_t work[2 * IVF_MIG_MAX_PACKET + 64];

static size_t copy_stream(const uint8_t *buf, size_t len)
{
	memcpy(work, buf, len);
	return len;
}

static void set16(size_t off, uint16_t v)
{
	v = htole16(v);
	memcpy(work + off, &v, 2);
}

static void set32(size_t off, uint32_t v)
{
	v = htole32(v);
	memcpy(work + off, &v, 4);
}

/*
 * Rebuild the FINAL packet @s (of a FINAL-only stream) into work[]:
 * record @drop left out, record @shrink cut to @shrink_len bytes, record
 * @grow given @grow_by zero bytes more, and an extra record appended if
 * @extra_type. Returns the length.
 */
static size_t rebuild(const struct ms_stream *s, int drop, int shrink,
		      uint32_t shrink_len, int grow, uint32_t grow_by,
		      uint16_t extra_type, uint16_t extra_flags)
{
	static uint8_t tmp[IVF_MIG_MAX_PACKET * 2];
	struct ms_build b;
	unsigned int i;

	mb_init(&b, work, sizeof(work));
	mb_pkt_begin(&b, IVF_MIG_PKT_FINAL);
	for (i = 0; i < s->nrec; i++) {
		const struct ms_rec *r = &s->rec[i];
		uint32_t l = r->len;

		if ((int)r->type == drop)
			continue;
		memset(tmp, 0, sizeof(tmp));
		memcpy(tmp, ms_payload(s, r), l);
		if ((int)r->type == shrink)
			l = shrink_len;
		if ((int)r->type == grow)
			l += grow_by;
		mb_rec(&b, r->type, r->flags, tmp, l);
	}
	if (extra_type) {
		memset(tmp, 0x5c, 16);
		mb_rec(&b, extra_type, extra_flags, tmp, 16);
	}
	mb_pkt_end(&b);
	return b.overflow ? 0 : b.len;
}

/* ---- destination setup ------------------------------------------------- */

static int vf_index(const char *pf, const char *bdf)
{
	char path[256], link[256];
	int i;

	for (i = 0; i < 64; i++) {
		ssize_t n;
		const char *base;

		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/virtfn%d",
			 pf, i);
		n = readlink(path, link, sizeof(link) - 1);
		if (n < 0)
			return -1;
		link[n] = '\0';
		base = strrchr(link, '/');
		if (!strcmp(base ? base + 1 : link, bdf))
			return i;
	}
	return -1;
}

static const char *pf_if;
static int vf2_index = -1;
static char vf2_mac[18];

static int set_admin_mac(const char *mac)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "ip link set %s vf %d mac %s", pf_if,
		 vf2_index, mac);
	return system(cmd) == 0 ? 0 : -EIO;
}

static void restore_admin_mac(void)
{
	if (vf2_index >= 0 && vf2_mac[0])
		set_admin_mac(vf2_mac);
}

static void on_signal(int sig)
{
	static const char msg[] = "not ok - migration_stream: timed out or killed\n";

	(void)sig;
	restore_admin_mac();
	if (write(1, msg, sizeof(msg) - 1) < 0)
		_exit(3);
	_exit(1);
}

/* the line @key of the driver's debugfs pf_config of @bdf */
static void pf_config_line(const char *bdf, const char *key, char *out,
			   size_t len)
{
	char path[256], buf[2048];
	const char *p;
	size_t klen = strlen(key);

	snprintf(out, len, "?");
	snprintf(path, sizeof(path),
		 "/sys/kernel/debug/igbvf-vfio-pci/%s/pf_config", bdf);
	if (read_str_file(path, buf, sizeof(buf)))
		return;
	for (p = buf; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (!strncmp(p, key, klen) && p[klen] == ' ') {
			snprintf(out, len, "%.*s", (int)strcspn(p + klen + 1, "\n"),
				 p + klen + 1);
			return;
		}
	}
}

/* ---- the cases ----------------------------------------------------------- */

static void good_stream(struct dst *t, const struct ivf *src,
			const uint8_t *buf, size_t len,
			const uint8_t *pbuf, size_t plen)
{
	const struct ivf_mig_queues *q;
	struct ms_stream s;
	struct result r;
	char line[256];
	uint32_t v = 0, s2 = 0;
	int ret;

	ms_parse(&s, buf, len);
	q = ms_payload(&s, ms_find(&s, 0, IVF_MIG_REC_QUEUES));

	if (expect_accepted(t, "good stream", buf, len, 0, &r)) {
		ktap_check(r.after[0] == le32toh(q->q[0].rdbal) &&
			   r.after[2] == le32toh(q->q[0].rdlen) &&
			   r.after[6] == le32toh(q->q[0].tdbal) &&
			   r.after[8] == le32toh(q->q[0].tdlen),
			   "STOP: VF2 rings programmed from the stream (RDBAL0 0x%x RDLEN0 %u TDBAL0 0x%x TDLEN0 %u)",
			   r.after[0], r.after[2], r.after[6], r.after[8]);
		ktap_check(!(r.after[4] & IVF_XDCTL_ENABLE) &&
			   !(r.after[9] & IVF_XDCTL_ENABLE),
			   "STOP: queues still disabled (RXDCTL0 0x%08x TXDCTL0 0x%08x)",
			   r.after[4], r.after[9]);
		pf_config_line(t->bdf, "mc", line, sizeof(line));
		ktap_check(!strcmp(line, "3 0x123 0x456 0x789"),
			   "VF2 pf_config mc after replay: \"%s\"", line);
		pf_config_line(t->bdf, "vlans", line, sizeof(line));
		ktap_check(!strcmp(line, "2 7 100"),
			   "VF2 pf_config vlans after replay: \"%s\"", line);
		pf_config_line(t->bdf, "max_frame", line, sizeof(line));
		ktap_check(!strcmp(line, "9018"),
			   "VF2 pf_config max_frame after replay: \"%s\"", line);

		/* guest memory as the source left it, then RUNNING */
		memcpy(t->dma[0].vaddr, src->rx_ring_dma.vaddr, t->dma[0].size);
		memcpy(t->dma[1].vaddr, src->tx_ring_dma.vaddr, t->dma[1].size);
		ret = mig_set_state(&t->d, S_RUNNING, NULL);
		mig_get_state(&t->d, &s2);
		vfio_bar_read32(&t->d, 0, IVF_RXDCTL(0), &v);
		ktap_check(!ret && s2 == S_RUNNING && (v & IVF_XDCTL_ENABLE),
			   "STOP -> RUNNING: %s, state %s, RX queue enabled (RXDCTL0 0x%08x)",
			   err_str(ret), mig_state_name(s2), v);
	}
	ret = handshake(t);
	ktap_check(!ret, "good stream: VFIO_DEVICE_RESET and handshake after (%s)",
		   err_str(ret));

	expect_accepted(t, "good stream, 1-byte writes", buf, len, 1, &r);
	expect_accepted(t, "good stream, 7-byte writes", buf, len, 7, &r);
	if (pbuf) {
		ret = ms_parse(&s, pbuf, plen);
		ktap_check(!ret && s.npkt == 2 && s.pkt[0].kind == IVF_MIG_PKT_CONFIG,
			   "PRE_COPY stream: CONFIG + FINAL, %zu bytes (%s)", plen,
			   ret ? s.why : "ok");
		expect_accepted(t, "CONFIG + FINAL stream, 5-byte writes", pbuf,
				plen, 5, &r);
		expect_accepted(t, "CONFIG + FINAL stream, one write", pbuf,
				plen, 0, &r);
	}
	ret = handshake(t);
	ktap_check(!ret, "accepted streams: reset and handshake after (%s)",
		   err_str(ret));
}

static void truncations(struct dst *t, const uint8_t *buf, size_t len,
			const uint8_t *pbuf, size_t plen)
{
	size_t cuts[MS_MAX_REC * 2 + 16];
	unsigned int n = 0, i, bad = 0, logged = 0;
	struct ms_stream s;
	char name[64];

	ms_parse(&s, buf, len);
	cuts[n++] = 0;
	cuts[n++] = 1;
	cuts[n++] = 12;
	cuts[n++] = MS_HDR_LEN - 1;
	cuts[n++] = MS_HDR_LEN;
	for (i = 0; i < s.nrec; i++) {
		cuts[n++] = s.rec[i].off;
		cuts[n++] = s.rec[i].off + 3;
		cuts[n++] = s.rec[i].off + MS_REC_LEN + s.rec[i].len / 2;
	}
	cuts[n++] = len - 8;
	cuts[n++] = len - 1;

	for (i = 0; i < n; i++) {
		struct result r;
		int ret = run_case(t, buf, cuts[i], 0, &r);

		snprintf(name, sizeof(name), "truncated at %zu of %zu", cuts[i], len);
		if (ret || r.werr || r.serr != -ENODATA || !r.regs_after_stop) {
			bad++;
			ktap_info("%s: %s, write %s, STOP %s (ENODATA)%s%s", name,
				  err_str(ret), ename(r.werr), ename(r.serr),
				  r.regs_after_stop ? "" : ", registers changed: ",
				  r.reg_diff);
		}
		logged += r.nlog > 0;
	}
	ktap_check(!bad, "%u truncations of the FINAL stream: writes accepted, STOP ENODATA, device untouched (%u bad)",
		   n, bad);
	ktap_info("truncations: %u of %u logged a line", logged, n);
	/*
	 * The driver's refusals are ratelimited (10 lines per 5 s per call
	 * site): the truncations used them up. Let the interval pass, so
	 * the cases below, which check their line, get one.
	 */
	sleep(6);

	if (pbuf) {
		/* CONFIG complete, FINAL missing or partial */
		ms_parse(&s, pbuf, plen);
		expect_refused(t, "CONFIG packet only", pbuf, s.pkt[1].off, 0,
			       0, -ENODATA, R_LOG | R_TOUCH);
		expect_refused(t, "CONFIG + half a FINAL header", pbuf,
			       s.pkt[1].off + 12, 0, 0, -ENODATA, R_TOUCH);
	} else {
		expect_refused(t, "truncated before the last byte", buf,
			       len - 1, 0, 0, -ENODATA, R_LOG);
	}
}

/* the errnos a one-bit flip at @byte of a FINAL-only stream may give */
static bool flip_ok(size_t byte, int bit, size_t len, const struct result *r)
{
	uint32_t l;

	if (!r->werr)
		/* a length that grew: the packet is not complete yet */
		return byte >= 16 && byte < 20 && r->serr == -ENODATA &&
		       (l = len ^ (1u << ((byte - 16) * 8 + bit))) > len &&
		       l <= IVF_MIG_MAX_PACKET;
	if (r->serr == 0)
		return false;	/* refused in write(), applied anyway */
	if (r->werr == -EBADMSG)
		return true;	/* the CRC, whatever the field */
	if (byte < 4 || (byte >= 12 && byte < 16))
		return r->werr == -EINVAL;		/* magic, kind, reserved */
	if (byte < 6)
		return r->werr == -EPROTONOSUPPORT;	/* major */
	if (byte >= 8 && byte < 12)
		return r->werr == -EXDEV;		/* vendor, device */
	if (byte >= 16 && byte < 20)
		return r->werr == -EMSGSIZE;		/* length */
	return false;
}

static void bit_flips(struct dst *t, const uint8_t *buf, size_t len,
		      unsigned int sample, bool all, uint64_t seed)
{
	unsigned int hist[8] = { 0 }, n = 0, bad = 0, logged = 0, i, npos = 0;
	uint64_t t0 = now_ns(), rng = seed | 1;
	size_t *pos;

	/* every header bit, then every other bit or a sample of them */
	pos = calloc(len * 8, sizeof(*pos));
	if (!pos)
		return;
	for (i = 0; i < MS_HDR_LEN * 8; i++)
		pos[npos++] = i;
	if (all) {
		for (i = MS_HDR_LEN * 8; i < len * 8; i++)
			pos[npos++] = i;
	} else {
		for (i = 0; i < sample && MS_HDR_LEN < len; i++) {
			rng ^= rng << 13;
			rng ^= rng >> 7;
			rng ^= rng << 17;
			pos[npos++] = MS_HDR_LEN * 8 +
				      rng % ((len - MS_HDR_LEN) * 8);
		}
	}

	for (i = 0; i < npos; i++) {
		size_t byte = pos[i] / 8;
		int bit = pos[i] % 8, ret;
		struct result r;

		copy_stream(buf, len);
		work[byte] ^= 1u << bit;
		ret = run_case(t, work, len, 0, &r);
		n++;
		if (ret || !flip_ok(byte, bit, len, &r) || !r.regs_after_stop) {
			if (bad++ < 10)
				ktap_info("flip of bit %d of byte %zu: %s, write %s after %zu bytes, STOP %s%s%s",
					  bit, byte, err_str(ret), ename(r.werr),
					  r.written, ename(r.serr),
					  r.regs_after_stop ? "" : ", registers changed: ",
					  r.reg_diff);
		}
		logged += r.nlog > 0;
		switch (-(r.werr ? r.werr : r.serr)) {
		case EINVAL: hist[0]++; break;
		case EPROTONOSUPPORT: hist[1]++; break;
		case EXDEV: hist[2]++; break;
		case EMSGSIZE: hist[3]++; break;
		case EBADMSG: hist[4]++; break;
		case EPROTO: hist[5]++; break;
		case ENODATA: hist[6]++; break;
		default: hist[7]++; break;
		}
	}
	free(pos);
	ktap_info("flips: EINVAL %u EPROTONOSUPPORT %u EXDEV %u EMSGSIZE %u EBADMSG %u EPROTO %u ENODATA(at STOP) %u other %u; %u logged",
		  hist[0], hist[1], hist[2], hist[3], hist[4], hist[5], hist[6],
		  hist[7], logged);
	ktap_check(!bad, "%u single-bit flips (%s) all refused with an ABI errno, device untouched (%u bad, %.1f s)",
		   n, all ? "every bit" : "every header bit + a sample", bad,
		   (now_ns() - t0) / 1e9);
}

static void edits(struct dst *t, const uint8_t *buf, size_t len)
{
	const size_t rsv = offsetof(struct ivf_mig_hdr, reserved);
	struct ms_stream s;
	struct result r;
	const struct ms_rec *last;
	size_t l, cfg;
	uint8_t *two;

	ms_parse(&s, buf, len);
	last = &s.rec[s.nrec - 1];
	cfg = ms_find(&s, 0, IVF_MIG_REC_PF_CONFIG)->off + MS_REC_LEN;

	/* accepted variants */
	l = copy_stream(buf, len);
	set16(offsetof(struct ivf_mig_hdr, minor), IVF_MIG_MINOR + 1);
	mig_packet_fix_crc(work);
	expect_accepted(t, "newer minor version", work, l, 0, &r);
	l = rebuild(&s, -1, -1, 0, -1, 0, 0x7ff0, 0);
	expect_accepted(t, "unknown optional record (skipped)", work, l, 0, &r);
	l = rebuild(&s, -1, -1, 0, IVF_MIG_REC_PF_CONFIG, 8, 0, 0);
	expect_accepted(t, "PF_CONFIG 8 bytes longer (newer fields ignored)",
			work, l, 0, &r);
	handshake(t);

	/* header fields, CRC recomputed */
	l = copy_stream(buf, len);
	set32(offsetof(struct ivf_mig_hdr, magic), 0x4d465648);
	mig_packet_fix_crc(work);
	expect_refused(t, "wrong magic", work, l, 0, -EINVAL, 0, R_LOG);
	l = copy_stream(buf, len);
	set16(offsetof(struct ivf_mig_hdr, major), IVF_MIG_MAJOR + 1);
	mig_packet_fix_crc(work);
	expect_refused(t, "newer major version", work, l, 0, -EPROTONOSUPPORT,
		       0, R_LOG);
	l = copy_stream(buf, len);
	set16(offsetof(struct ivf_mig_hdr, device), 0x10cb);
	mig_packet_fix_crc(work);
	expect_refused(t, "other device id 8086:10cb", work, l, 0, -EXDEV, 0,
		       R_LOG);
	l = copy_stream(buf, len);
	set16(offsetof(struct ivf_mig_hdr, vendor), 0x8087);
	mig_packet_fix_crc(work);
	expect_refused(t, "other vendor id 8087:10ca", work, l, 0, -EXDEV, 0,
		       R_LOG);
	l = copy_stream(buf, len);
	set16(offsetof(struct ivf_mig_hdr, kind), 3);
	mig_packet_fix_crc(work);
	expect_refused(t, "unknown packet kind 3", work, l, 0, -EINVAL, 0, R_LOG);
	l = copy_stream(buf, len);
	set32(offsetof(struct ivf_mig_hdr, crc32c), s.pkt[0].crc ^ 0x80);
	expect_refused(t, "CRC off by one bit", work, l, 0, -EBADMSG, 0, R_LOG);
	l = copy_stream(buf, len);
	set16(rsv, 1);
	mig_packet_fix_crc(work);
	{
		struct result rr;

		if (!run_case(t, work, l, 0, &rr))
			ktap_info("reserved header field 1 (CRC fixed): write %s, STOP %s (the ABI names no errno)",
				  ename(rr.werr), ename(rr.serr));
		handshake(t);
	}

	/* lengths (the CRC cannot cover a length it disagrees with) */
	l = copy_stream(buf, len);
	set32(offsetof(struct ivf_mig_hdr, length), IVF_MIG_MAX_PACKET + 8);
	expect_refused(t, "packet length above IVF_MIG_MAX_PACKET", work, l, 0,
		       -EMSGSIZE, 0, R_LOG);
	l = copy_stream(buf, len);
	set32(offsetof(struct ivf_mig_hdr, length), 0xfffffff8);
	expect_refused(t, "packet length 0xfffffff8", work, l, 0, -EMSGSIZE, 0,
		       R_LOG);
	l = copy_stream(buf, len);
	set32(offsetof(struct ivf_mig_hdr, length), 16);
	expect_refused(t, "packet length 16 (< header)", work, l, 0, -EMSGSIZE,
		       0, R_LOG);

	/* records */
	l = copy_stream(buf, len);
	set32(last->off + 4, last->len + 64);
	mig_packet_fix_crc(work);
	expect_refused(t, "last record overruns the packet", work, l, 0,
		       -EMSGSIZE, 0, R_LOG);
	l = copy_stream(buf, len);
	set32(s.rec[0].off + 4, 0xfffffff8);
	mig_packet_fix_crc(work);
	expect_refused(t, "record length 0xfffffff8", work, l, 0, -EMSGSIZE, 0,
		       R_LOG);
	l = rebuild(&s, -1, IVF_MIG_REC_PF_CONFIG, 8, -1, 0, 0, 0);
	expect_refused(t, "PF_CONFIG shorter than its struct", work, l, 0,
		       -EBADMSG, 0, R_LOG);
	l = copy_stream(buf, len);
	work[cfg + offsetof(struct ivf_mig_pf_config, n_mc)] = IVF_MIG_MAX_MC + 1;
	mig_packet_fix_crc(work);
	expect_refused(t, "PF_CONFIG with 31 multicast hashes", work, l, 0,
		       -EBADMSG, 0, R_LOG);
	l = copy_stream(buf, len);
	work[cfg + offsetof(struct ivf_mig_pf_config, n_uc)] = IVF_MIG_MAX_UC + 1;
	mig_packet_fix_crc(work);
	expect_refused(t, "PF_CONFIG with 4 unicast filters", work, l, 0,
		       -EBADMSG, 0, R_LOG);
	l = rebuild(&s, -1, -1, 0, -1, 0, 0x7ff1, IVF_MIG_REC_MANDATORY);
	expect_refused(t, "unknown mandatory record", work, l, 0, -EPROTO, 0,
		       R_LOG);
	l = rebuild(&s, IVF_MIG_REC_MAILBOX, -1, 0, -1, 0, 0, 0);
	expect_refused(t, "FINAL without the MAILBOX record", work, l, 0,
		       -EPROTO, 0, R_LOG);
	l = rebuild(&s, IVF_MIG_REC_QUEUES, -1, 0, -1, 0, 0, 0);
	expect_refused(t, "FINAL without the QUEUES record", work, l, 0,
		       -EPROTO, 0, R_LOG);
	{
		/* 8 bytes of nothing after the last record, inside the packet */
		struct ms_build b;

		l = copy_stream(buf, len);
		mb_init(&b, work, sizeof(work));
		b.len = l;
		b.pkt = 0;
		mb_raw(&b, NULL, 4);
		mb_pkt_end(&b);
		expect_refused(t, "4 stray bytes after the last record", work,
			       b.len, 0, -EMSGSIZE, 0, R_LOG);
	}

	/* after the FINAL packet */
	l = copy_stream(buf, len);
	memset(work + l, 0xaa, 8);
	expect_refused(t, "8 bytes of garbage after FINAL", work, l + 8, 0,
		       -EINVAL, 0, R_LOG);
	two = malloc(2 * len);
	if (two) {
		memcpy(two, buf, len);
		memcpy(two + len, buf, len);
		expect_refused(t, "a second FINAL packet", two, 2 * len, len,
			       -EINVAL, 0, R_LOG);
		free(two);
	}
}

int main(void)
{
	const char *src_bdf = env_need("IVF_VF0");
	const char *dst_bdf = env_need("IVF_VF2");
	const char *pf = env_need("IVF_PF");
	const char *src_mac = env_need("IVF_VF0_MAC");
	const char *own_mac = env_need("IVF_VF2_MAC");
	const char *flips = env_get("IVF_FLIPS");
	const char *e_seed = env_get("IVF_SEED");
	uint64_t seed = e_seed ? strtoull(e_seed, NULL, 0) : now_ns();
	struct dst t = { .fd = -1, .bdf = dst_bdf };
	uint8_t *stream = NULL, *pstream = NULL;
	size_t slen = 0, plen = 0;
	struct vfio_dev sd;
	struct ivf sv;
	uint64_t flags = 0, t0 = now_ns();
	int ret, i;

	pf_if = env_need("IVF_PF_IF");
	ktap_header("migration_stream: what a destination accepts and refuses");
	signal(SIGALRM, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	alarm(560);
	atexit(restore_admin_mac);

	/* the source */
	ret = vfio_dev_open(&sd, src_bdf);
	if (!ktap_check(!ret, "open source %s (%s)", src_bdf, err_str(ret)))
		ktap_finish();
	ret = mig_flags(&sd, &flags);
	if (ret == -ENOTTY)
		ktap_skip_all("no VFIO_DEVICE_FEATURE_MIGRATION (ENOTTY)");
	ret = ivf_open(&sv, &sd, IVF_ACCESS_MMAP);
	if (!ret)
		ret = ivf_reset(&sv);
	if (!ret)
		ret = ivf_set_multicast(&sv, src_hashes, 3);
	if (!ret)
		ret = ivf_set_vlan(&sv, 100, R_LOG);
	if (!ret)
		ret = ivf_set_vlan(&sv, 7, true);
	if (!ret)
		ret = ivf_set_lpe(&sv, SRC_MAX_FRAME);
	if (!ret)
		ret = ivf_rings_setup(&sv, NULL);
	if (!ktap_check(!ret, "source: handshake, 3 multicast hashes, VLANs 7 and 100, LPE %u, rings (%s)",
			SRC_MAX_FRAME, err_str(ret)))
		goto out;
	ret = save_stream(&sd, false, &stream, &slen);
	if (!ktap_check(!ret && slen > 0,
			"source: RUNNING -> STOP -> STOP_COPY, %zu bytes to EOF, -> STOP (%s)",
			slen, err_str(ret)))
		goto out;
	check_stream(stream, slen, &sv);
	ret = mig_set_state(&sd, S_RUNNING, NULL);
	if (!ret)
		ret = save_stream(&sd, true, &pstream, &plen);
	ktap_check(!ret, "source: PRE_COPY -> PRE_COPY_P2P -> STOP_COPY stream, %zu bytes (%s)",
		   plen, err_str(ret));
	if (ret) {
		free(pstream);
		pstream = NULL;
	}

	/* the destination */
	vf2_index = vf_index(pf, dst_bdf);
	snprintf(vf2_mac, sizeof(vf2_mac), "%s", own_mac);
	kmsg_open(&t.k);
	ret = vfio_dev_open(&t.d, dst_bdf);
	if (!ret)
		ret = ivf_open(&t.v, &t.d, IVF_ACCESS_MMAP);
	for (i = 0; !ret && i < 4; i++) {
		const struct vfio_dma *m = i == 0 ? &sv.rx_ring_dma :
					   i == 1 ? &sv.tx_ring_dma :
					   i == 2 ? &sv.rx_buf_dma : &sv.tx_buf_dma;

		ret = vfio_dma_alloc(&t.d, &t.dma[i], m->size, m->iova);
		t.ndma += !ret;
	}
	if (!ktap_check(!ret && vf2_index >= 0,
			"destination %s (VF %d) open, the source's ring IOVAs mapped (%s)",
			dst_bdf, vf2_index, err_str(ret)))
		goto out;
	ret = handshake(&t);
	ktap_check(!ret, "destination: reset and handshake before anything (%s)",
		   err_str(ret));

	/* VF2 keeps its own admin MAC: the replay must be refused */
	{
		struct result r;
		char m[18];

		ivf_format_mac(t.v.mac, m);
		ret = run_case(&t, stream, slen, 0, &r);
		ktap_check(!ret && !r.werr && r.serr == -EADDRNOTAVAIL,
			   "VF2 with admin MAC %s, stream MAC %s: write %s, RESUMING -> STOP %s (EADDRNOTAVAIL), state %s",
			   m, src_mac, ename(r.werr), ename(r.serr),
			   mig_state_name(r.state));
		ktap_check(r.nlog && str_has(r.log, "mac"),
			   "the kernel log names the MAC: %s",
			   r.nlog ? r.log : "(nothing)");
		ret = handshake(&t);
		ktap_check(!ret, "refused replay: reset and handshake after (%s)",
			   err_str(ret));
	}
	/* with a CONFIG packet first, the refusal comes from its write() */
	if (pstream) {
		struct ms_stream ps;
		struct result r;

		ms_parse(&ps, pstream, plen);
		/* the first write() is the whole CONFIG packet */
		ret = run_case(&t, pstream, plen, ps.pkt[0].len, &r);
		ktap_check(!ret && r.werr == -EADDRNOTAVAIL && r.written == 0 &&
			   r.serr,
			   "CONFIG + FINAL on VF2 with its own admin MAC: write of the CONFIG packet %s (EADDRNOTAVAIL), RESUMING -> STOP %s",
			   ename(r.werr), ename(r.serr));
		ktap_check(r.nlog && str_has(r.log, "mac"),
			   "the kernel log names the MAC: %s",
			   r.nlog ? r.log : "(nothing)");
		ret = handshake(&t);
		ktap_check(!ret, "CONFIG refused: reset and handshake after (%s)",
			   err_str(ret));
	}

	ret = set_admin_mac(src_mac);
	if (!ktap_check(!ret, "VF2's admin MAC set to VF0's %s", src_mac))
		goto out;
	ret = handshake(&t);
	ktap_check(!ret && !memcmp(t.v.mac, sv.mac, 6),
		   "VF2 handshake now gives VF0's MAC (%s)", err_str(ret));

	good_stream(&t, &sv, stream, slen, pstream, plen);
	edits(&t, stream, slen);
	truncations(&t, stream, slen, pstream, plen);
	bit_flips(&t, stream, slen,
		  flips && strcmp(flips, "all") ? strtoul(flips, NULL, 0) : 48,
		  flips && !strcmp(flips, "all"), seed);
	ktap_info("seed %llu, %.1f s in all", (unsigned long long)seed,
		  (now_ns() - t0) / 1e9);

	restore_admin_mac();
	ret = handshake(&t);
	ktap_check(!ret && t.v.mac_valid,
		   "admin MAC restored, VF2 handshake after all cases (%s)",
		   err_str(ret));
	ktap_check(t.v.io_errors == 0 && sv.io_errors == 0,
		   "no register access errors (%lu, %lu)", t.v.io_errors,
		   sv.io_errors);
out:
	restore_admin_mac();
	if (t.fd >= 0)
		close(t.fd);
	for (i = 0; i < t.ndma; i++)
		vfio_dma_free(&t.d, &t.dma[i]);
	ivf_close(&t.v);
	vfio_dev_close(&t.d);
	kmsg_close(&t.k);
	mig_set_state(&sd, S_RUNNING, NULL);
	ivf_close(&sv);
	vfio_dev_close(&sd);
	free(stream);
	free(pstream);
	ktap_finish();
}
