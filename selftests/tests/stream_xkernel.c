// SPDX-License-Identifier: GPL-2.0
/*
 * stream_xkernel: a device state saved under one kernel is resumed under
 * another, as when a host is upgraded with a suspended guest, or a guest
 * migrates between hosts running different kernels (Debian's 6.12 and 7.x).
 *
 * The saving boot plays a VMM that suspends its guest to files: the
 * userspace-driven VF (IVF_VF0) does the PF handshake, LPE, a multicast
 * hash and a VLAN, its rings and MSI-X, and carries traffic with the e1000e
 * peer. Then it saves the guest's RAM (the ring and buffer memory), the
 * guest's software state and the device state. The variants are the two
 * saves:
 *  - stopcopy: RUNNING -> STOP -> STOP_COPY, the FINAL packet; then the
 *    device runs again on the source (STOP -> RUNNING);
 *  - precopy: RUNNING -> PRE_COPY, the CONFIG packet; the guest adds a
 *    second multicast hash while the device is in PRE_COPY (a second
 *    CONFIG packet); PRE_COPY_P2P -> STOP_COPY, the FINAL packet.
 * Frames the device received after the guest's last poll stay in the RX
 * ring, unread: they are part of the saved state.
 *
 * A later boot (another kernel) resumes each into a VF as QEMU's
 * destination does (open, QEMU's reset, RAM mapped at the saved IOVAs,
 * RESUMING, the data, STOP, config space, RUNNING_P2P, RUNNING): stopcopy
 * into PF B's VF (IVF_DST, whose admin MAC is the saved one), precopy into
 * PF A's VF0 again. Each resume_ case resumes the save afresh.
 *
 * Cases (each in both variants, in this order: a variant's resume before
 * its save, so one directory may be both IVF_XK_IN and IVF_XK_SAVE):
 *   resume_takes_saved_stream_to_running
 *             the save is complete; the driver takes the data, RESUMING ->
 *             STOP; the ring registers in RUNNING_P2P are the saved ones;
 *             RUNNING
 *   resume_keeps_unread_rx_frames_in_order
 *             the frames left unread in the RX ring are there, in order
 *   resume_passes_frames_both_ways
 *             then frames flow both ways, none lost; TX completes
 *   resume_keeps_pf_config_filters_and_mailbox
 *             pf_config is the saved one, the saved multicast hashes pass
 *             and another does not, the guest's SET_MULTICAST is acked
 *   save_writes_device_state_ram_and_guest
 *             the save under traffic, written to IVF_XK_SAVE
 *
 * Env: IVF_XK_SAVE=DIR: the save_ cases save there (made; normally
 *      $IVF_OUT/xk); IVF_XK_IN=DIR: the resume_ cases resume from there.
 *      Without one, its cases SKIP; IVF_XK_IN naming a directory without
 *      a save: FAIL. IVF_VF0, IVF_VF0_MAC, IVF_DST, IVF_PEER_NS,
 *      IVF_PEER_IF. The file format (XK_VERSION) is the same as before
 *      the harness: saves of either build resume on the other.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <linux/pci_regs.h>
#include <unistd.h>

#include "dirty.h"
#include "dtraffic.h"
#include "fixture.h"
#include "frame.h"
#include "ivf.h"
#include "ivf_migration.h"
#include "mig.h"
#include "mig_states.h"
#include "peer.h"
#include "util.h"
#include "vmm.h"

#include "kselftest_harness.h"

/* a resume or a save is a few seconds on TCG */
#define CASE_TIMEOUT	300

#define RATE		500	/* frames/s each way */
#define STREAM_MC	31
#define NPROBE		5
#define TEST_VID	100
#define XK_MAGIC	0x4b584649u	/* "IFXK" */
#define XK_VERSION	1
#define NAREAS		5

static const struct ivf_ring_cfg ring_cfg = {
	.rx_count = 512, .tx_count = 256, .buf_size = 2048,
	.iova_base = 0x10000000,
};

static const uint8_t mc1[6] = { 0x01, 0x00, 0x5e, 0x21, 0x43, 0x65 };
static const uint8_t mc2[6] = { 0x01, 0x00, 0x5e, 0x11, 0x22, 0xb7 };

static struct peer peer;
static uint8_t vf_mac[6];

/*
 * What a VMM keeps of its guest besides the device state: the guest's own
 * variables (struct ivf without pointers) and its RAM (the areas).
 */
struct xk_image {
	uint32_t magic, version;
	char kver[65];			/* the saving kernel */
	char pf_config[1024];		/* debugfs, at the save */
	uint32_t rx_count, tx_count, buf_size;
	uint32_t rx_next, tx_next, tx_clean;
	uint32_t mbx_r2c;
	uint8_t mac[6];
	uint8_t cts, irq_on;
	uint64_t rx_frames, tx_frames;
	uint32_t pending;		/* RX frames written back, unread */
	uint32_t pending_seq;		/* the first one's sequence number */
	uint32_t nhash;			/* multicast hashes the guest set */
	uint64_t pre_len, final_len;
	struct {
		uint64_t iova, size;
	} area[NAREAS];
};

static struct vfio_dma *area_of(struct ivf *v, unsigned int i)
{
	struct vfio_dma *a[NAREAS] = {
		&v->rx_ring_dma, &v->tx_ring_dma, &v->rx_buf_dma,
		&v->tx_buf_dma, &v->rx_hdr_dma,
	};

	return a[i];
}

/* 82576 multicast hash (MTA filter type 0), as igbvf computes it */
static uint16_t mc_hash(const uint8_t m[6])
{
	return ((m[4] >> 4) | (uint16_t)m[5] << 4) & 0xfff;
}

static int write_file(const char *dir, const char *name, const void *a,
		      size_t alen, const void *b, size_t blen)
{
	char path[512];
	FILE *f;
	int ret = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f)
		return -errno;
	if (fwrite(a, 1, alen, f) != alen ||
	    (blen && fwrite(b, 1, blen, f) != blen))
		ret = -EIO;
	if (fclose(f) && !ret)
		ret = -errno;
	return ret;
}

/* the whole file, malloc'ed; NULL (errno set) if absent */
static uint8_t *read_file(const char *dir, const char *name, size_t *len)
{
	char path[512];
	uint8_t *buf = NULL;
	size_t cap = 0, n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "r");
	if (!f)
		return NULL;
	*len = 0;
	for (;;) {
		if (*len + 65536 > cap) {
			uint8_t *nb = realloc(buf, cap + 262144);

			if (!nb)
				break;
			buf = nb;
			cap += 262144;
		}
		n = fread(buf + *len, 1, cap - *len, f);
		*len += n;
		if (!n)
			break;
	}
	fclose(f);
	return buf;
}

/* frames of the peer's old stream found in the RX ring after resume */
struct old_rx {
	uint32_t n, first, next, bad;
};

static void old_cb(void *arg, const uint8_t *data, uint32_t len,
		   uint32_t status)
{
	struct old_rx *o = arg;
	uint32_t seq;

	(void)status;
	if (frame_check(data, len, vf_mac, peer.mac, DT_STREAM_PACED_TO_VF, 0,
			&seq) != FRAME_OK) {
		o->bad++;
		return;
	}
	if (!o->n)
		o->first = seq;
	else if (seq != o->next)
		o->bad++;
	o->next = seq + 1;
	o->n++;
}

/* multicast probes: frames to @m the guest gets */
static uint32_t mc_got;

static void mc_cb(void *arg, const uint8_t *data, uint32_t len,
		  uint32_t status)
{
	const uint8_t *m = arg;
	uint32_t seq;

	(void)status;
	if (frame_check(data, len, m, peer.mac, STREAM_MC, 0, &seq) ==
	    FRAME_OK)
		mc_got++;
}

static uint32_t probe_mc(struct dtraffic *g, struct ivf *v, const uint8_t *m)
{
	uint8_t buf[FRAME_MAX];
	int i;

	dtraffic_guest(g, v, 50);
	mc_got = 0;
	g->other = mc_cb;
	g->other_arg = (void *)m;
	for (i = 0; i < NPROBE; i++)
		peer_send(&peer, buf, frame_build(buf, m, peer.mac, STREAM_MC,
						  i, 0));
	dtraffic_guest(g, v, 300);
	g->other = NULL;
	return mc_got;
}

/* ---- the save's files -------------------------------------------------- */

/* RX descriptors the device wrote back that the guest has not read */
static void count_pending(struct ivf *v, struct xk_image *im)
{
	unsigned int i = v->rx_next;
	const uint8_t *buf;
	uint32_t seq;

	im->pending = 0;
	im->pending_seq = 0;
	while (im->pending < v->rx_count &&
	       (v->rx_ring[i].wb.status_error & IVF_RXD_STAT_DD)) {
		if (!im->pending) {
			buf = (const uint8_t *)v->rx_buf_dma.vaddr +
			      (size_t)i * v->buf_size;
			if (frame_check(buf, v->rx_ring[i].wb.length, vf_mac,
					peer.mac, DT_STREAM_PACED_TO_VF, 0,
					&seq) == FRAME_OK)
				im->pending_seq = seq;
		}
		im->pending++;
		i = (i + 1) % v->rx_count;
	}
}

static int save_files(const char *dir, const char *name, struct ivf *v,
		      const char *bdf, const uint8_t *pre, size_t pre_len,
		      const uint8_t *fin, size_t fin_len, uint32_t nhash)
{
	struct xk_image im;
	struct utsname u;
	char fname[64];
	uint8_t *ram;
	size_t ram_len = 0, o = 0;
	unsigned int i;
	int ret;

	memset(&im, 0, sizeof(im));
	im.magic = XK_MAGIC;
	im.version = XK_VERSION;
	uname(&u);
	snprintf(im.kver, sizeof(im.kver), "%s", u.release);
	ivf_pf_config_lines(bdf, im.pf_config, sizeof(im.pf_config), "; ");
	im.rx_count = v->rx_count;
	im.tx_count = v->tx_count;
	im.buf_size = v->buf_size;
	im.rx_next = v->rx_next;
	im.tx_next = v->tx_next;
	im.tx_clean = v->tx_clean;
	im.mbx_r2c = v->mbx_r2c;
	memcpy(im.mac, v->mac, 6);
	im.cts = v->cts;
	im.irq_on = v->irq_on;
	im.rx_frames = v->rx_frames;
	im.tx_frames = v->tx_frames;
	im.nhash = nhash;
	im.pre_len = pre_len;
	im.final_len = fin_len;
	count_pending(v, &im);
	for (i = 0; i < NAREAS; i++) {
		struct vfio_dma *m = area_of(v, i);

		if (!m->mapped)
			continue;
		im.area[i].iova = m->iova;
		im.area[i].size = m->size;
		ram_len += m->size;
	}
	ram = malloc(ram_len);
	if (!ram)
		return -ENOMEM;
	for (i = 0; i < NAREAS; i++) {
		if (!im.area[i].size)
			continue;
		memcpy(ram + o, area_of(v, i)->vaddr, im.area[i].size);
		o += im.area[i].size;
	}
	snprintf(fname, sizeof(fname), "%s.img", name);
	ret = write_file(dir, fname, &im, sizeof(im), ram, ram_len);
	free(ram);
	if (!ret) {
		snprintf(fname, sizeof(fname), "%s.pre", name);
		ret = write_file(dir, fname, pre, pre_len, NULL, 0);
	}
	if (!ret) {
		snprintf(fname, sizeof(fname), "%s.final", name);
		ret = write_file(dir, fname, fin, fin_len, NULL, 0);
	}
	ksft_print_msg("%s: saved on %s: %zu + %zu bytes of device state, %zu bytes of RAM, %u RX frames unread (first seq %u), rx_next %u tx_next %u; %s\n",
		  name, im.kver, pre_len, fin_len, ram_len, im.pending,
		  im.pending_seq, im.rx_next, im.tx_next, im.pf_config);
	return ret;
}

/* read a data fd to EOF or ENOMSG, appending; 0 or -errno */
static int read_step(int fd, uint8_t **buf, size_t *len)
{
	ssize_t n = mig_read_all(fd, buf, len);

	return n < 0 ? (int)n : 0;
}

/* the guest runs and lets the peer's frames pile up unread for a while */
static void run_then_pause(struct dtraffic *g, struct ivf *v, int ms)
{
	dtraffic_guest(g, v, ms);
	usleep(60000);
}

/* the guest's RAM back at its IOVAs, in @d's container */
static int load_ram(struct ivf *tmpl, struct vfio_dev *d,
		    const struct xk_image *im, const uint8_t *ram,
		    size_t ram_len)
{
	size_t o = 0;
	unsigned int i;
	int ret;

	for (i = 0; i < NAREAS; i++) {
		struct vfio_dma *m = area_of(tmpl, i);

		if (!im->area[i].size)
			continue;
		if (o + im->area[i].size > ram_len)
			return -ENODATA;
		ret = vfio_dma_alloc(d, m, im->area[i].size, im->area[i].iova);
		if (ret)
			return ret;
		memcpy(m->vaddr, ram + o, im->area[i].size);
		o += im->area[i].size;
	}
	tmpl->rx_ring = tmpl->rx_ring_dma.vaddr;
	tmpl->tx_ring = tmpl->tx_ring_dma.vaddr;
	tmpl->rx_count = im->rx_count;
	tmpl->tx_count = im->tx_count;
	tmpl->buf_size = im->buf_size;
	tmpl->rx_next = im->rx_next;
	tmpl->tx_next = im->tx_next;
	tmpl->tx_clean = im->tx_clean;
	tmpl->mbx_r2c = im->mbx_r2c;
	memcpy(tmpl->mac, im->mac, 6);
	tmpl->mac_valid = true;
	tmpl->cts = im->cts;
	tmpl->irq_on = im->irq_on;
	tmpl->rx_frames = im->rx_frames;
	tmpl->tx_frames = im->tx_frames;
	tmpl->rings_up = true;
	return 0;
}

struct reg_want {
	uint32_t off, want;
	const char *what;
};

static void set_reg(struct reg_want *r, uint32_t off, uint32_t want,
		    const char *what)
{
	r->off = off;
	r->want = want;
	r->what = what;
}

/* ---- the fixture ------------------------------------------------------ */

FIXTURE(stream_xkernel) {
	const char *in, *out, *vf0, *dst;
	bool peer_open;
	/* the resumed VF */
	struct vfio_dev d;
	struct ivf tmpl, v;
	bool opened, adopted;
	uint8_t *img, *pre, *fin;
	size_t img_len, pre_len, fin_len;
	struct xk_image im;
	struct dtraffic g;
	bool g_init;
};

/* the two saves, and where each is resumed */
FIXTURE_VARIANT(stream_xkernel) {
	const char *name;
	bool precopy;
};

FIXTURE_VARIANT_ADD(stream_xkernel, stopcopy) {
	.name = "stopcopy", .precopy = false,
};

FIXTURE_VARIANT_ADD(stream_xkernel, precopy) {
	.name = "precopy", .precopy = true,
};

FIXTURE_SETUP(stream_xkernel)
{
	const char *ns, *ifname, *why;
	int ret;

	self->in = env_get("IVF_XK_IN");
	self->out = env_get("IVF_XK_SAVE");
	why = vf_peer_unusable(&self->vf0, &ns, &ifname, NULL, NULL);
	if (why)
		SKIP(return, "%s", why);
	self->dst = env_get("IVF_DST");
	if (!self->dst || !env_get("IVF_VF0_MAC"))
		SKIP(return, "IVF_VF0_MAC and IVF_DST are needed");
	if (ivf_parse_mac(env_get("IVF_VF0_MAC"), vf_mac))
		SKIP(return, "bad IVF_VF0_MAC");
	ret = peer_open(&peer, ns, ifname, FRAME_ETHERTYPE);
	ASSERT_EQ(0, ret) TH_LOG("peer socket on %s (%s)",
				 ifname, err_str(ret));
	self->peer_open = true;
}

FIXTURE_TEARDOWN(stream_xkernel)
{
	unsigned int i;

	if (self->g_init) {
		dtraffic_stop(&self->g);
		dtraffic_free(&self->g);
	}
	if (self->adopted) {
		ivf_close(&self->v);
	} else if (self->opened) {
		/* the RAM, without touching a device that refused it */
		for (i = 0; i < NAREAS; i++)
			vfio_dma_free(&self->d, area_of(&self->tmpl, i));
	}
	if (self->opened)
		vfio_dev_close(&self->d);
	free(self->img);
	free(self->pre);
	free(self->fin);
	if (self->peer_open)
		peer_close(&peer);
}

/* ---- resume -------------------------------------------------------------- */

static void check_regs(struct __test_metadata *_metadata, struct ivf *v,
		       const uint8_t *fin, size_t fin_len, const char *name)
{
	const struct ivf_mig_queues *q;
	const struct ivf_mig_queue *s;
	uint32_t len;
	struct reg_want r[8];
	char diff[256] = "";
	size_t o = 0;
	unsigned int i, n = 0;

	q = vmm_find_record(fin, fin_len, IVF_MIG_PKT_FINAL,
			    IVF_MIG_REC_QUEUES, &len);
	ASSERT_TRUE(q && len >= sizeof(*q))
		TH_LOG("%s: FINAL has a QUEUES record", name);
	s = &q->q[0];
	set_reg(&r[n++], IVF_RDBAL(0), s->rdbal, "rdbal");
	set_reg(&r[n++], IVF_RDLEN(0), s->rdlen, "rdlen");
	set_reg(&r[n++], IVF_RDT(0), s->rdt, "rdt");
	set_reg(&r[n++], IVF_RDH(0), s->rdh, "rdh");
	set_reg(&r[n++], IVF_TDBAL(0), s->tdbal, "tdbal");
	set_reg(&r[n++], IVF_TDLEN(0), s->tdlen, "tdlen");
	set_reg(&r[n++], IVF_TDH(0), s->tdh, "tdh");
	set_reg(&r[n++], IVF_TDT(0), s->tdt, "tdt");
	for (i = 0; i < n; i++) {
		uint32_t got = ivf_rd(v, r[i].off);

		if (got != r[i].want && o < sizeof(diff))
			o += snprintf(diff + o, sizeof(diff) - o,
				      " %s 0x%x (saved 0x%x)", r[i].what, got,
				      r[i].want);
	}
	TH_LOG("%s: saved rdbal 0x%x rdlen %u rdh %u rdt %u tdh %u tdt %u",
	       name, s->rdbal, s->rdlen, s->rdh, s->rdt, s->tdh, s->tdt);
	EXPECT_EQ(0, o)
		TH_LOG("%s: ring registers in RUNNING_P2P must be the saved ones:%s",
		       name, diff);
}

static void check_tally(struct __test_metadata *_metadata, struct dtraffic *g,
			const char *name)
{
	struct dtraffic_tally a, b;

	dtraffic_tally(g, DT_TO_VF, 0, &a);
	dtraffic_tally(g, DT_TO_PEER, 0, &b);
	EXPECT_TRUE(a.sent > 0 && a.ok > 0 && !a.lost && !a.dup && !a.bad &&
		    !a.ooo)
		TH_LOG("%s: peer->vf %u sent, %u received intact and in order (lost %u dup %u bad %u reordered %u)",
		       name, a.sent, a.ok, a.lost, a.dup, a.bad, a.ooo);
	EXPECT_TRUE(b.sent > 0 && b.ok > 0 && !b.lost && !b.dup && !b.bad &&
		    !b.ooo)
		TH_LOG("%s: vf->peer %u sent, %u received intact and in order (lost %u dup %u bad %u reordered %u)",
		       name, b.sent, b.ok, b.lost, b.dup, b.bad, b.ooo);
}

/*
 * The variant's save, from IVF_XK_IN, resumed as QEMU's destination does,
 * up to RUNNING_P2P (@regs: its ring registers checked there), then
 * RUNNING. SKIP without IVF_XK_IN: false then, and the case returns (a
 * SKIP in this helper returns from it only).
 */
static bool resume(struct __test_metadata *_metadata,
		   FIXTURE_DATA(stream_xkernel) *self,
		   const FIXTURE_VARIANT(stream_xkernel) *variant, bool regs)
{
	const char *dir = self->in, *name = variant->name;
	const char *bdf = variant->precopy ? self->vf0 : self->dst;
	struct xk_image *im = &self->im;
	struct vfio_dev *d = &self->d;
	char fname[64];
	struct utsname u;
	struct stat st;
	int fd = -1, ret;

	if (!dir)
		SKIP(return false, "nothing to resume: no saved state given (IVF_XK_IN; run.sh gives the former boot's, and that boot did not run)");
	ASSERT_TRUE(!stat(dir, &st) && S_ISDIR(st.st_mode))
		TH_LOG("a saved state in %s (IVF_XK_IN)", dir);
	uname(&u);
	TH_LOG("resuming %s from %s into %s", name, dir, bdf);
	snprintf(fname, sizeof(fname), "%s.img", name);
	self->img = read_file(dir, fname, &self->img_len);
	snprintf(fname, sizeof(fname), "%s.pre", name);
	self->pre = read_file(dir, fname, &self->pre_len);
	snprintf(fname, sizeof(fname), "%s.final", name);
	self->fin = read_file(dir, fname, &self->fin_len);
	ASSERT_TRUE(self->img && self->img_len > sizeof(*im) && self->fin &&
		    self->fin_len && (self->pre || !variant->precopy))
		TH_LOG("%s: a saved device state, RAM and guest in %s", name,
		       dir);
	memcpy(im, self->img, sizeof(*im));
	ASSERT_TRUE(im->magic == XK_MAGIC && im->version == XK_VERSION &&
		    im->final_len == self->fin_len &&
		    im->pre_len == self->pre_len)
		TH_LOG("%s: the save must be complete (%zu + %zu bytes of device state)",
		       name, self->pre_len, self->fin_len);
	TH_LOG("%s: saved on %s, resumed on %s%s", name, im->kver, u.release,
	       strcmp(im->kver, u.release) ?
	       "" : " (the same kernel: not across kernels)");

	ret = vfio_dev_open(d, bdf);
	ASSERT_EQ(0, ret) TH_LOG("%s: open %s (%s)", name, bdf, err_str(ret));
	self->opened = true;
	ret = vmm_qemu_reset(d);
	ret = ret ? ret : load_ram(&self->tmpl, d, im,
				   self->img + sizeof(*im),
				   self->img_len - sizeof(*im));
	ASSERT_EQ(0, ret)
		TH_LOG("%s: reset as QEMU does, RAM mapped at the saved IOVAs: %s",
		       name, err_str(ret));
	ret = mig_set_state(d, S_RESUMING, &fd);
	if (!ret && fd < 0)
		ret = -EBADF;
	ret = ret ? ret : mig_write_all(fd, self->pre, self->pre_len, 0);
	EXPECT_EQ(0, ret)
		TH_LOG("%s: RESUMING, PRE_COPY data (%zu bytes, %d packets) accepted: %s",
		       name, self->pre_len, self->pre_len ?
		       vmm_count_packets(self->pre, self->pre_len) : 0,
		       err_str(ret));
	if (!ret) {
		ret = mig_write_all(fd, self->fin, self->fin_len, 0);
		EXPECT_EQ(0, ret) TH_LOG("%s: FINAL data (%zu bytes) accepted: %s",
					 name, self->fin_len, err_str(ret));
	}
	if (!ret) {
		ret = mig_set_state(d, S_STOP, NULL);
		EXPECT_EQ(0, ret)
			TH_LOG("%s: RESUMING -> STOP (PF handshake, replay, rings): %s",
			       name, err_str(ret));
	}
	if (fd >= 0)
		close(fd);
	ASSERT_EQ(0, ret);
	ret = ivf_adopt(&self->v, d, &self->tmpl, IVF_ACCESS_MMAP);
	ASSERT_EQ(0, ret) TH_LOG("%s: config space, BAR mapping, MSI-X (%s)",
				 name, err_str(ret));
	self->adopted = true;
	ret = mig_set_state(d, S_P2P, NULL);
	ASSERT_EQ(0, ret) TH_LOG("%s: STOP -> RUNNING_P2P: %s", name,
				 err_str(ret));
	if (regs)
		check_regs(_metadata, &self->v, self->fin, self->fin_len, name);
	ret = mig_set_state(d, S_RUNNING, NULL);
	ASSERT_EQ(0, ret) TH_LOG("%s: RUNNING_P2P -> RUNNING: %s", name,
				 err_str(ret));
	return true;
}

/* new traffic both ways on the resumed VF */
static void traffic(struct __test_metadata *_metadata,
		    FIXTURE_DATA(stream_xkernel) *self)
{
	ASSERT_EQ(0, dtraffic_paced_init(&self->g, &peer, vf_mac, RATE,
					 1u << 16))
		TH_LOG("traffic generator");
	self->g_init = true;
	dtraffic_start(&self->g);
	dtraffic_guest(&self->g, &self->v, 800);
	dtraffic_stop(&self->g);
	dtraffic_drain(&self->g, &self->v, 200);
	ivf_tx_clean(&self->v);
}

TEST_F_TIMEOUT(stream_xkernel, resume_takes_saved_stream_to_running,
	       CASE_TIMEOUT)
{
	resume(_metadata, self, variant, true);
}

/* the frames the source had received, unread by the guest */
TEST_F_TIMEOUT(stream_xkernel, resume_keeps_unread_rx_frames_in_order,
	       CASE_TIMEOUT)
{
	struct old_rx old = { 0 };
	int spins;

	if (!resume(_metadata, self, variant, false))
		return;
	for (spins = 0; spins < 20; spins++)
		if (ivf_rx_poll(&self->v, old_cb, &old, 64) <= 0 &&
		    old.n >= self->im.pending)
			break;
	EXPECT_TRUE(old.n == self->im.pending && !old.bad &&
		    (!old.n || old.first == self->im.pending_seq))
		TH_LOG("%s: the %u frames left unread in the RX ring must be there, in order from seq %u (found %u from seq %u, %u out of place)",
		       variant->name, self->im.pending, self->im.pending_seq,
		       old.n, old.first, old.bad);
}

TEST_F_TIMEOUT(stream_xkernel, resume_passes_frames_both_ways, CASE_TIMEOUT)
{
	struct old_rx old = { 0 };

	if (!resume(_metadata, self, variant, false))
		return;
	/* the saved frames first, as the guest would */
	while (ivf_rx_poll(&self->v, old_cb, &old, 64) > 0)
		;
	traffic(_metadata, self);
	check_tally(_metadata, &self->g, variant->name);
	EXPECT_EQ(0, ivf_tx_pending(&self->v))
		TH_LOG("%s: TX must complete (%u pending)", variant->name,
		       ivf_tx_pending(&self->v));
}

TEST_F_TIMEOUT(stream_xkernel, resume_keeps_pf_config_filters_and_mailbox,
	       CASE_TIMEOUT)
{
	uint16_t hashes[3] = { mc_hash(mc1), mc_hash(mc2), 0x0abc };
	const char *name = variant->name;
	const char *bdf = variant->precopy ? self->vf0 : self->dst;
	struct old_rx old = { 0 };
	char cfg[1024];
	uint32_t got1, got2;
	int ret;

	if (!resume(_metadata, self, variant, false))
		return;
	while (ivf_rx_poll(&self->v, old_cb, &old, 64) > 0)
		;
	ASSERT_EQ(0, dtraffic_paced_init(&self->g, &peer, vf_mac, RATE,
					 1u << 16))
		TH_LOG("traffic generator");
	self->g_init = true;

	/* the PF configuration is the saved one */
	ret = ivf_pf_config_lines(bdf, cfg, sizeof(cfg), "; ");
	EXPECT_TRUE(!ret && !strcmp(cfg, self->im.pf_config))
		TH_LOG("%s: pf_config must be the saved one: %s saved: %s",
		       name, cfg, self->im.pf_config);
	got1 = probe_mc(&self->g, &self->v, mc1);
	got2 = probe_mc(&self->g, &self->v, mc2);
	EXPECT_EQ(NPROBE, got1)
		TH_LOG("%s: %u/%d frames to the saved multicast address received",
		       name, got1, NPROBE);
	if (self->im.nhash >= 2) {
		EXPECT_EQ(NPROBE, got2)
			TH_LOG("%s: %u/%d frames to the multicast address added in PRE_COPY received",
			       name, got2, NPROBE);
	} else {
		EXPECT_EQ(0, got2)
			TH_LOG("%s: %u/%d frames to a multicast address the guest never joined received (must be filtered)",
			       name, got2, NPROBE);
	}

	/* the guest's mailbox works on */
	ret = ivf_set_multicast(&self->v, hashes, 3);
	EXPECT_TRUE(!ret && self->v.cts)
		TH_LOG("%s: SET_MULTICAST once resumed: acked with CTS (%s)",
		       name, err_str(ret));
}

/* ---- save ---------------------------------------------------------------- */

TEST_F_TIMEOUT(stream_xkernel, save_writes_device_state_ram_and_guest,
	       CASE_TIMEOUT)
{
	uint16_t hashes[2] = { mc_hash(mc1), mc_hash(mc2) };
	const char *dir = self->out, *bdf = self->vf0, *name = variant->name;
	uint8_t *pre = NULL, *fin = NULL;
	size_t pre_len = 0, fin_len = 0, pre_first;
	struct dtraffic *g = &self->g;
	struct ivf *v = &self->v;
	struct vfio_dev *d = &self->d;
	uint32_t rx0;
	int fd = -1, fd2 = -1, ret;

	if (!dir)
		SKIP(return, "nothing to save into (IVF_XK_SAVE)");
	TH_LOG("saving %s (%s), under traffic (%d frames/s each way), into %s",
	       bdf, name, RATE, dir);
	ASSERT_TRUE(!mkdir(dir, 0755) || errno == EEXIST)
		TH_LOG("mkdir %s: %s", dir, strerror(errno));
	ret = vfio_dev_open(d, bdf);
	ASSERT_EQ(0, ret) TH_LOG("open %s to save it (%s)", bdf, err_str(ret));
	self->opened = true;
	ret = ivf_open(v, d, IVF_ACCESS_MMAP);
	self->adopted = !ret;	/* ivf_close() puts it all back */
	ret = ret ? ret : ivf_reset(v);
	ret = ret ? ret : ivf_set_lpe(v, 1522);
	ret = ret ? ret : ivf_set_multicast(v, hashes, 1);
	ret = ret ? ret : ivf_set_vlan(v, TEST_VID, true);
	ret = ret ? ret : ivf_rings_setup(v, &ring_cfg);
	ret = ret ? ret : ivf_irq_enable(v);
	ASSERT_TRUE(!ret && v->cts && !memcmp(v->mac, vf_mac, 6))
		TH_LOG("guest handshake, LPE, multicast, VLAN %d, rings, MSI-X (%s)",
		       TEST_VID, err_str(ret));
	ret = dtraffic_paced_init(g, &peer, vf_mac, RATE, 1u << 16);
	ASSERT_EQ(0, ret) TH_LOG("traffic generator (%s)", err_str(ret));
	self->g_init = true;
	dtraffic_start(g);

	if (!variant->precopy) {
		/* STOP_COPY only */
		run_then_pause(g, v, 400);
		rx0 = g->vf_ok;
		ret = mig_set_state(d, S_STOP, NULL);
		ret = ret ? ret : mig_set_state(d, S_STOP_COPY, &fd);
		ret = ret ? ret : read_step(fd, &fin, &fin_len);
		if (fd >= 0)
			close(fd);
		fd = -1;
		ret = ret ? ret : mig_set_state(d, S_STOP, NULL);
		EXPECT_TRUE(!ret && rx0 > 0 && fin_len > 0)
			TH_LOG("stopcopy: RUNNING -> STOP -> STOP_COPY -> STOP, %zu bytes, after %u frames received: %s",
			       fin_len, rx0, err_str(ret));
		if (!ret)
			ret = save_files(dir, name, v, bdf, NULL, 0, fin,
					 fin_len, 1);
		EXPECT_EQ(0, ret) TH_LOG("stopcopy: written to %s: %s", dir,
					 err_str(ret));
		/* the source runs on once saved */
		ret = mig_set_state(d, S_RUNNING, NULL);
		EXPECT_EQ(0, ret) TH_LOG("STOP -> RUNNING once saved: %s",
					 err_str(ret));
		free(fin);
		return;
	}

	/* PRE_COPY, a config change in it, then STOP_COPY */
	dtraffic_guest(g, v, 300);
	rx0 = g->vf_ok;
	ret = mig_set_state(d, S_PRE_COPY, &fd);
	ret = ret ? ret : read_step(fd, &pre, &pre_len);
	pre_first = pre_len;
	if (!ret) {
		dtraffic_guest(g, v, 200);
		ret = ivf_set_multicast(v, hashes, 2);
		run_then_pause(g, v, 200);
	}
	ret = ret ? ret : read_step(fd, &pre, &pre_len);
	ret = ret ? ret : mig_set_state(d, S_PRE_COPY_P2P, NULL);
	ret = ret ? ret : mig_set_state(d, S_STOP_COPY, &fd2);
	if (fd2 >= 0) {
		close(fd);
		fd = fd2;
	}
	ret = ret ? ret : read_step(fd, &fin, &fin_len);
	if (fd >= 0)
		close(fd);
	ret = ret ? ret : mig_set_state(d, S_STOP, NULL);
	EXPECT_TRUE(!ret && vmm_count_packets(pre, pre_len) >= 2 &&
		    pre_len > pre_first && g->vf_ok > rx0)
		TH_LOG("precopy: RUNNING -> PRE_COPY (%zu bytes), SET_MULTICAST in PRE_COPY (%zu more), PRE_COPY_P2P -> STOP_COPY (%zu bytes) -> STOP, %d CONFIG packets: %s",
		       pre_first, pre_len - pre_first, fin_len,
		       vmm_count_packets(pre, pre_len), err_str(ret));
	if (!ret)
		ret = save_files(dir, name, v, bdf, pre, pre_len, fin, fin_len,
				 2);
	EXPECT_EQ(0, ret) TH_LOG("precopy: written to %s: %s", dir,
				 err_str(ret));
	free(pre);
	free(fin);
}

TEST_HARNESS_MAIN
