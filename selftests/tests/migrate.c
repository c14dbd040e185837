// SPDX-License-Identifier: GPL-2.0
/*
 * migrate: live migration of a userspace-driven VF, from PF A ("source
 * host", IVF_VF0) to PF B ("destination host", IVF_DST, admin MAC = the
 * migrating MAC) and back, under traffic with the e1000e peer on the same
 * wire (QEMU hub). The VMM side is lib/vmm.c (QEMU's order of arcs), the
 * guest is lib/ivf.c, the traffic lib/dtraffic.c.
 *
 * 1. one migration with pre-copy under traffic: the device runs in
 *    PRE_COPY; the stream (one CONFIG packet, one FINAL packet < 4 KiB)
 *    carries the guest's rings where the guest left them; after resume RX
 *    continues at the right descriptor, TX completes, no frame is
 *    corrupted, duplicated or reordered, frames are lost only inside the
 *    stop window; MAC, multicast and VLAN filters work on PF B; pf_config
 *    on the destination equals the source's; statistics do not go back;
 *    the guest's mailbox works (a new SET_MULTICAST).
 * 2. IVF_MIG_HOPS (20) migrations back and forth in a row under traffic,
 *    alternately with and without pre-copy.
 * 3. cancelled migrations on the source (PRE_COPY -> RUNNING, after
 *    STOP_COPY -> RUNNING, STOP -> RUNNING) and a refused destination (PF B
 *    VF with another admin MAC, IVF_DST2: with pre-copy the CONFIG write
 *    fails before the source stops, without it RESUMING -> STOP fails):
 *    traffic goes on on the source.
 * 4. an idle VF (the guest never touched it), a VF with its handshake done
 *    but no rings (catch-up interrupt checked), a VF whose guest sent
 *    VF_RESET but never read the PF's reply, and one that only wrote
 *    CTRL.RST: each migrates, and the guest then finishes its work on PF B.
 * 5. damaged streams: bad CRC, magic, major version, device id.
 *
 * Env: IVF_VF0, IVF_VF0_MAC, IVF_DST, IVF_PFB_IF, IVF_PEER_NS, IVF_PEER_IF,
 *      optional IVF_DST2, IVF_MIG_HOPS (20), IVF_MIG_RATE (frames/s each
 *      way, 500), IVF_ACCESS=pio.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dirty.h"
#include "dtraffic.h"
#include "frame.h"
#include "ivf.h"
#include "ivf_migration.h"
#include "ktap.h"
#include "mig.h"
#include "peer.h"
#include "util.h"
#include "vmm.h"

KTAP_DEFINE_STATE();

#define STREAM_MC	31
#define STREAM_VLAN	32
#define TEST_VID	100
#define SLACK_NS	2000000ull	/* around a stop window */
#define NPROBE		5
#define VLAN_LEN	200	/* VLAN probes, without the tag */

/*
 * The guest does not run while the VMM works (one thread): a long RX ring
 * rides out the destination's open (an FLR) and the source's close, which
 * take 100-300 ms each under TCG, without overflowing at the test's rate.
 */
static const struct ivf_ring_cfg ring_cfg = {
	.rx_count = 1024, .tx_count = 256, .buf_size = 2048,
	.iova_base = 0x10000000,
};

static const uint8_t mc1[6] = { 0x01, 0x00, 0x5e, 0x21, 0x43, 0x65 };
static const uint8_t mc2[6] = { 0x01, 0x00, 0x5e, 0x11, 0x22, 0xb7 };

static const char *bdf_a, *bdf_b, *bdf_b2, *pfb_if;
static uint8_t vf_mac[6];
static enum ivf_access access_mode = IVF_ACCESS_MMAP;
static struct peer peer;

/* the guest and the two places it can run */
static struct ivf vm[2];
static struct vfio_dev dev[2];
static const char *where[2];
static int cur;

/* ---------------------------------------------------------------- helpers */

/* 82576 multicast hash (MTA filter type 0), as igbvf computes it */
static uint16_t mc_hash(const uint8_t m[6])
{
	return ((m[4] >> 4) | (uint16_t)m[5] << 4) & 0xfff;
}

struct probes {
	uint32_t mc[2];
	uint32_t vlan, vlan_stripped, vlan_tagged;
	uint32_t other;
};
static struct probes pr;

static void other_cb(void *arg, const uint8_t *data, uint32_t len,
		     uint32_t status)
{
	uint8_t buf[FRAME_MAX + 4];
	bool tagged = false;
	uint32_t seq;

	(void)arg;
	if (len > sizeof(buf))
		len = sizeof(buf);
	memcpy(buf, data, len);
	if (len > 18 && buf[12] == 0x81 && buf[13] == 0x00) {
		memmove(buf + 12, buf + 16, len - 16);
		len -= 4;
		tagged = true;
	}
	if (frame_check(buf, len, mc1, peer.mac, STREAM_MC, 0, &seq) == FRAME_OK)
		pr.mc[0]++;
	else if (frame_check(buf, len, mc2, peer.mac, STREAM_MC, 0, &seq) ==
		 FRAME_OK)
		pr.mc[1]++;
	else if (frame_check(buf, len, vf_mac, peer.mac, STREAM_VLAN,
			     VLAN_LEN, &seq) == FRAME_OK) {
		pr.vlan++;
		if (status & IVF_RXD_STAT_VP)
			pr.vlan_stripped++;
		if (tagged)
			pr.vlan_tagged++;
	} else {
		pr.other++;
	}
}

/* @n multicast frames to @m from the peer; how many the guest got */
static uint32_t probe_mc(struct dtraffic *g, const uint8_t m[6], int idx,
			 int n)
{
	uint8_t buf[FRAME_MAX];
	uint32_t before;
	int i;

	dtraffic_guest(g, &vm[cur], 50);	/* an empty RX ring first */
	before = pr.mc[idx];

	for (i = 0; i < n; i++) {
		size_t len = frame_build(buf, m, peer.mac, STREAM_MC, i, 0);

		peer_send(&peer, buf, len);
	}
	dtraffic_guest(g, &vm[cur], 300);
	return pr.mc[idx] - before;
}

/* @n frames tagged with VLAN @vid to the VF */
static uint32_t probe_vlan(struct dtraffic *g, uint16_t vid, int n)
{
	uint8_t buf[FRAME_MAX + 4];
	uint32_t before;
	int i;

	dtraffic_guest(g, &vm[cur], 50);
	before = pr.vlan;

	for (i = 0; i < n; i++) {
		size_t len = frame_build(buf, vf_mac, peer.mac, STREAM_VLAN,
					 i, VLAN_LEN);

		memmove(buf + 16, buf + 12, len - 12);
		buf[12] = 0x81;
		buf[13] = 0x00;
		buf[14] = vid >> 8;
		buf[15] = vid & 0xff;
		peer_send(&peer, buf, len + 4);
	}
	dtraffic_guest(g, &vm[cur], 300);
	return pr.vlan - before;
}

static void oneline(char *s)
{
	for (; *s; s++)
		if (*s == '\n')
			*s = ';';
}

/* the "vf 0" line of `ip link show PF` */
static int ip_vf_line(const char *pf_if, int vf, char *out, size_t len)
{
	char cmd[128], line[512], key[16];
	FILE *f;
	int ret = -ENOENT;

	snprintf(cmd, sizeof(cmd), "ip link show %s 2>/dev/null", pf_if);
	snprintf(key, sizeof(key), "vf %d ", vf);
	f = popen(cmd, "r");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *p = strstr(line, key);

		if (p && ret) {
			snprintf(out, len, "%.*s", (int)strcspn(p, "\n"), p);
			ret = 0;
		}
	}
	pclose(f);
	return ret;
}

static void print_arcs(const struct vmm_hop *h, const char *prefix)
{
	char line[1024];
	size_t o = 0;
	int a;

	for (a = 0; a < VMM_NARCS; a++) {
		if (!h->t_arc[a])
			continue;
		o += snprintf(line + o, sizeof(line) - o, " %s=%.2fms",
			      vmm_arc_name(a), h->t_arc[a] / 1e6);
		if (o >= sizeof(line))
			break;
	}
	ktap_info("%s arcs:%s", prefix, line);
}

/* move the guest to the other side; 0 or -errno */
static int hop(struct vmm_hop *h, struct dtraffic *g)
{
	int to = !cur, ret;

	h->access = access_mode;
	ret = vmm_migrate(&vm[cur], &dev[cur], &vm[to], &dev[to], where[to], h);
	if (h->stop_begin && g)
		dtraffic_window(g, h->stop_begin, h->stop_end);
	if (ret) {
		ktap_info("migration %s -> %s failed in %s: %s", where[cur],
			  where[to], h->failed ? h->failed : "?",
			  strerror(-ret));
		return ret;
	}
	cur = to;
	return 0;
}

/* the guest, while the source is in PRE_COPY */
struct precopy_guest {
	struct dtraffic *g;
	int ms;
	uint64_t rx_before, rx_after;
	struct ivf_stats last;
	int stats_ret;
};

static void precopy_guest(void *arg)
{
	struct precopy_guest *pg = arg;

	pg->rx_before = vm[cur].rx_frames;
	dtraffic_guest(pg->g, &vm[cur], pg->ms);
	pg->rx_after = vm[cur].rx_frames;
	/* the last statistics the guest reads on the source */
	pg->stats_ret = ivf_read_stats(&vm[cur], &pg->last);
}

static void guest_close(void)
{
	ivf_close(&vm[cur]);
	vfio_dev_close(&dev[cur]);
}

/* open the guest on side @side (cur), ivf_open only */
static int guest_open(int side)
{
	int ret;

	cur = side;
	ret = vfio_dev_open(&dev[cur], where[cur]);
	if (ret)
		return ret;
	ret = ivf_open(&vm[cur], &dev[cur], access_mode);
	if (ret)
		vfio_dev_close(&dev[cur]);
	return ret;
}

static void check_tally(struct dtraffic *g, const char *what)
{
	struct dtraffic_tally a, b;

	dtraffic_tally(g, DT_TO_VF, SLACK_NS, &a);
	dtraffic_tally(g, DT_TO_PEER, SLACK_NS, &b);
	ktap_info("%s: peer->vf sent %u ok %u lost %u (in stop windows %u, outside %u) dup %u bad %u reordered %u",
		  what, a.sent, a.ok, a.lost, a.lost_in_window, a.lost_outside,
		  a.dup, a.bad, a.ooo);
	ktap_info("%s: vf->peer sent %u ok %u lost %u (in stop windows %u, outside %u) dup %u bad %u reordered %u",
		  what, b.sent, b.ok, b.lost, b.lost_in_window, b.lost_outside,
		  b.dup, b.bad, b.ooo);
	if (a.lost_outside)
		dtraffic_print_lost(g, DT_TO_VF, 8, SLACK_NS, true);
	if (b.lost)
		dtraffic_print_lost(g, DT_TO_PEER, 8, SLACK_NS, false);
	ktap_check(a.sent > 0 && a.lost_outside == 0 && !a.dup && !a.bad &&
		   !a.ooo,
		   "%s: peer->vf frames intact, in order, no duplicate, lost only in stop windows (%u there)",
		   what, a.lost_in_window);
	ktap_check(b.sent > 0 && b.lost == 0 && !b.dup && !b.bad && !b.ooo,
		   "%s: vf->peer %u frames all delivered intact and in order",
		   what, b.sent);
}

/* frames both ways work on the current side (fresh traffic) */
static void check_traffic_now(const char *what, int rate)
{
	struct dtraffic g;

	if (dtraffic_paced_init(&g, &peer, vf_mac, rate, 1 << 16)) {
		ktap_check(false, "%s: traffic generator", what);
		return;
	}
	dtraffic_start(&g);
	dtraffic_guest(&g, &vm[cur], 500);
	dtraffic_stop(&g);
	dtraffic_drain(&g, &vm[cur], 200);
	check_tally(&g, what);
	dtraffic_free(&g);
}

/* --------------------------------------------------- 1: one migration */

static void check_final(const struct vmm_hop *h, const struct ivf *v)
{
	const struct ivf_mig_queues *q;
	unsigned int i, rdh, n, notdone = 0;
	uint32_t len;

	ktap_check(vmm_count_packets(h->pre, h->pre_len) >= 1 &&
		   vmm_find_record(h->pre, h->pre_len, IVF_MIG_PKT_CONFIG,
				   IVF_MIG_REC_PF_CONFIG, &len),
		   "PRE_COPY data: %zu bytes, %d CONFIG packet(s) with the PF config (PRECOPY_INFO initial %llu)",
		   h->pre_len, vmm_count_packets(h->pre, h->pre_len),
		   (unsigned long long)h->precopy_initial);
	ktap_check(vmm_count_packets(h->final, h->final_len) == 1 &&
		   h->final_len < 4096,
		   "STOP_COPY data: one FINAL packet of %zu bytes (< 4 KiB; MIG_DATA_SIZE said %llu)",
		   h->final_len, (unsigned long long)h->data_size);
	q = vmm_find_record(h->final, h->final_len, IVF_MIG_PKT_FINAL,
			    IVF_MIG_REC_QUEUES, &len);
	if (!ktap_check(q && len >= sizeof(*q), "FINAL has a QUEUES record"))
		return;
	ktap_info("queue 0 saved: rdh %u rdt %u rxdctl 0x%08x tdh %u tdt %u txdctl 0x%08x; guest rx_next %u tx_next %u",
		  q->q[0].rdh, q->q[0].rdt, q->q[0].rxdctl, q->q[0].tdh,
		  q->q[0].tdt, q->q[0].txdctl, v->rx_next, v->tx_next);
	ktap_check(q->q[0].rdbal == (uint32_t)v->rx_ring_dma.iova &&
		   q->q[0].tdbal == (uint32_t)v->tx_ring_dma.iova &&
		   q->q[0].rdlen == v->rx_count * 16 &&
		   q->q[0].tdlen == v->tx_count * 16,
		   "saved ring bases and lengths are the guest's");
	ktap_check(q->q[0].tdh == v->tx_next && q->q[0].tdt == v->tx_next,
		   "saved TDH == TDT == the guest's next TX slot (%u): nothing left to send",
		   v->tx_next);
	ktap_check(q->q[0].rdt == (v->rx_next + v->rx_count - 1) % v->rx_count,
		   "saved RDT (%u) is the guest's last RDT write", q->q[0].rdt);
	rdh = q->q[0].rdh;
	n = (rdh + v->rx_count - v->rx_next) % v->rx_count;
	for (i = 0; i < n; i++)
		if (!(v->rx_ring[(v->rx_next + i) % v->rx_count].wb.status_error &
		      IVF_RXD_STAT_DD))
			notdone++;
	ktap_check(rdh < v->rx_count && !notdone,
		   "saved RDH %u: the %u descriptors from the guest's next (%u) to it were written back by the source (%u not)",
		   rdh, n, v->rx_next, notdone);
}

static bool stats_ge(const struct ivf_stats *a, const struct ivf_stats *b)
{
	return a->gprc >= b->gprc && a->gptc >= b->gptc &&
	       a->gorc >= b->gorc && a->gotc >= b->gotc && a->mprc >= b->mprc;
}

static void test_one(struct dtraffic *g, int rate)
{
	struct precopy_guest pg = { .g = g, .ms = 300 };
	struct vmm_hop h = { .precopy = true, .guest = precopy_guest,
			     .guest_arg = &pg };
	char cfg_src[1024], cfg_dst[1024], line[512];
	struct ivf_stats st_dst, st_later;
	uint16_t hashes[2] = { mc_hash(mc1), mc_hash(mc2) };
	uint32_t got, ok_before, peer_ok_before, mc_ctrl, vlan_ctrl;
	uint64_t tx_before;
	struct ivf *v = &vm[cur];
	int ret;

	ktap_info("--- 1: one live migration %s -> %s under traffic (%d frames/s each way)",
		  where[0], where[1], rate);
	/* controls: filtered before the guest asks for them? */
	mc_ctrl = probe_mc(g, mc1, 0, NPROBE);
	vlan_ctrl = probe_vlan(g, TEST_VID, NPROBE);
	ktap_info("before SET_MULTICAST/SET_VLAN: %u/%d multicast, %u/%d VLAN %d frames got through",
		  mc_ctrl, NPROBE, vlan_ctrl, NPROBE, TEST_VID);
	ret = ivf_set_multicast(v, hashes, 1);
	ktap_check(!ret, "SET_MULTICAST {0x%03x} acked on the source", hashes[0]);
	ret = ivf_set_vlan(v, TEST_VID, true);
	ktap_check(!ret, "SET_VLAN add %d acked on the source", TEST_VID);
	got = probe_mc(g, mc1, 0, NPROBE);
	ktap_check(got == NPROBE, "source: %u/%d frames to the multicast address received",
		   got, NPROBE);
	got = probe_vlan(g, TEST_VID, NPROBE);
	ktap_check(got == NPROBE, "source: %u/%d frames of VLAN %d received",
		   got, NPROBE, TEST_VID);
	ret = ivf_pf_config_lines(where[cur], cfg_src, sizeof(cfg_src), "\n");
	ktap_check(!ret, "source pf_config readable");

	dtraffic_guest(g, v, 300);
	ok_before = g->vf_ok;
	ret = hop(&h, g);
	if (!ktap_check(!ret, "migrated %s -> %s (pre-copy): stop window %.1f ms",
			where[!cur], where[cur],
			(h.stop_end - h.stop_begin) / 1e6)) {
		vmm_hop_free(&h);
		return;
	}
	v = &vm[cur];
	print_arcs(&h, "hop 1");
	ktap_check(pg.rx_after > pg.rx_before,
		   "the device kept receiving in PRE_COPY (%llu frames)",
		   (unsigned long long)(pg.rx_after - pg.rx_before));
	check_final(&h, v);

	/* before the guest runs again */
	ret = ivf_read_stats(v, &st_dst);
	ktap_check(!pg.stats_ret && !ret && stats_ge(&st_dst, &pg.last),
		   "destination statistics >= the last the source showed (gprc %u >= %u, gptc %u >= %u, gorc %u >= %u, gotc %u >= %u, mprc %u >= %u)",
		   st_dst.gprc, pg.last.gprc, st_dst.gptc, pg.last.gptc,
		   st_dst.gorc, pg.last.gorc, st_dst.gotc, pg.last.gotc,
		   st_dst.mprc, pg.last.mprc);

	peer_ok_before = g->peer_ok;
	tx_before = v->tx_frames;
	dtraffic_guest(g, v, 500);
	ivf_tx_clean(v);
	ktap_check(g->vf_ok > ok_before,
		   "RX continues on the destination (%u frames since the hop)",
		   (uint32_t)(g->vf_ok - ok_before));
	ktap_check(v->tx_frames > tx_before && g->peer_ok > peer_ok_before &&
		   ivf_tx_pending(v) == 0,
		   "TX completes on the destination (%llu sent, %u reached the peer, %u pending)",
		   (unsigned long long)(v->tx_frames - tx_before),
		   (uint32_t)(g->peer_ok - peer_ok_before), ivf_tx_pending(v));
	ret = ivf_read_stats(v, &st_later);
	ktap_check(!ret && st_later.gprc > st_dst.gprc &&
		   st_later.gptc > st_dst.gptc,
		   "destination statistics count on (gprc %u -> %u, gptc %u -> %u)",
		   st_dst.gprc, st_later.gprc, st_dst.gptc, st_later.gptc);

	/* the PF config moved with the guest */
	got = probe_mc(g, mc1, 0, NPROBE);
	ktap_check(got == NPROBE,
		   "destination: %u/%d multicast frames received (%s)", got,
		   NPROBE, mc_ctrl ? "not filtered before: weak check" :
		   "filtered without the replayed hash");
	got = probe_vlan(g, TEST_VID, NPROBE);
	ktap_check(got == NPROBE,
		   "destination: %u/%d VLAN %d frames received (%s)", got,
		   NPROBE, TEST_VID, vlan_ctrl ? "not filtered before: weak check" :
		   "filtered without the replayed VLAN");
	ret = ivf_pf_config_lines(where[cur], cfg_dst, sizeof(cfg_dst), "\n");
	oneline(cfg_src);
	oneline(cfg_dst);
	ktap_check(!ret && !strcmp(cfg_src, cfg_dst),
		   "destination pf_config equals the source's: %s", cfg_dst);

	/* the guest's mailbox goes on */
	ret = ivf_set_multicast(v, hashes, 2);
	ktap_check(!ret && v->cts,
		   "SET_MULTICAST {0x%03x, 0x%03x} after migration: acked with CTS",
		   hashes[0], hashes[1]);
	got = probe_mc(g, mc2, 1, NPROBE);
	ktap_check(got == NPROBE,
		   "destination: %u/%d frames to the newly added multicast address received",
		   got, NPROBE);
	got = probe_mc(g, mc1, 0, NPROBE);
	ktap_check(got == NPROBE,
		   "destination: %u/%d frames to the first multicast address still received",
		   got, NPROBE);
	ret = ivf_pf_config_lines(where[cur], cfg_dst, sizeof(cfg_dst), "\n");
	snprintf(line, sizeof(line), "mc 2 0x%03x 0x%03x", hashes[0], hashes[1]);
	ktap_check(!ret && strstr(cfg_dst, line),
		   "destination pf_config has \"%s\"", line);
	ktap_info("hop 1: %u peer->vf frames lost in the %.1f ms stop window",
		  dtraffic_lost_between(g, DT_TO_VF, h.stop_begin - SLACK_NS,
					h.stop_end + SLACK_NS),
		  (h.stop_end - h.stop_begin) / 1e6);
	vmm_hop_free(&h);
}

/* ------------------------------------------------ 2: back and forth */

static void test_hops(struct dtraffic *g, int nhops)
{
	uint64_t b[256], e[256];
	double win[256];
	int i, done = 0, nb = nhops < 256 ? nhops : 256;
	struct ivf_stats prev, now;
	bool mono = true;

	ktap_info("--- 2: %d migrations back and forth under traffic", nhops);
	ivf_read_stats(&vm[cur], &prev);
	for (i = 0; i < nb; i++) {
		struct precopy_guest pg = { .g = g, .ms = 50 };
		struct vmm_hop h = { .precopy = !(i & 1),
				     .guest = precopy_guest, .guest_arg = &pg };
		uint32_t ok0 = g->vf_ok;

		if (hop(&h, g)) {
			vmm_hop_free(&h);
			break;
		}
		b[i] = h.stop_begin;
		e[i] = h.stop_end;
		win[i] = (h.stop_end - h.stop_begin) / 1e6;
		if (ivf_read_stats(&vm[cur], &now) || !stats_ge(&now, &prev))
			mono = false;
		dtraffic_guest(g, &vm[cur], 250);
		ivf_read_stats(&vm[cur], &prev);
		if (g->vf_ok == ok0) {
			ktap_info("hop %d: no frame received after it", i + 1);
			break;
		}
		if (i < 3 || i == nb - 1)
			print_arcs(&h, h.precopy ? "pre-copy hop" : "stop-copy hop");
		vmm_hop_free(&h);
		done++;
	}
	ktap_check(done == nhops, "%d/%d migrations in a row, traffic flowing after each",
		   done, nhops);
	ktap_check(mono, "statistics never went back across the hops");
	dtraffic_stop(g);
	dtraffic_drain(g, &vm[cur], 300);
	for (i = 0; i < done; i++)
		ktap_info("hop %d (%s): stop window %.1f ms, %u peer->vf frames lost in it",
			  i + 2, i & 1 ? "stop-copy" : "pre-copy", win[i],
			  dtraffic_lost_between(g, DT_TO_VF, b[i] - SLACK_NS,
						e[i] + SLACK_NS));
	if (done) {
		double w = stats_median(win, done);

		ktap_info("stop window median %.1f ms (min %.1f, max %.1f)", w,
			  stats_min(win, done), stats_max(win, done));
	}
	check_tally(g, "1+2 (all hops)");
}

/* --------------------------------------------------- 3: cancelled */

static void test_cancel(struct dtraffic *g, const char *dst2)
{
	struct vmm_hop h = { .precopy = true };
	struct vfio_dev *d = &dev[cur];
	uint8_t *buf = NULL;
	size_t len = 0;
	uint32_t ok0, st;
	uint64_t b, e;
	int fd = -1, ret;

	ktap_info("--- 3: cancelled migrations on %s under traffic", where[cur]);
	dtraffic_start(g);
	dtraffic_guest(g, &vm[cur], 200);

	/* PRE_COPY -> RUNNING: the device never stopped */
	ok0 = g->vf_ok;
	ret = mig_set_state(d, VFIO_DEVICE_STATE_PRE_COPY, &fd);
	if (!ret)
		ret = mig_read_all(fd, &buf, &len) < 0;
	dtraffic_guest(g, &vm[cur], 100);
	ret = ret ? ret : mig_set_state(d, VFIO_DEVICE_STATE_RUNNING, NULL);
	ktap_check(!ret && len > 0 && read(fd, buf, 1) < 0 && errno == ENODEV,
		   "PRE_COPY (%zu bytes read) -> RUNNING; the data fd then fails with ENODEV",
		   len);
	if (fd >= 0)
		close(fd);
	fd = -1;
	dtraffic_guest(g, &vm[cur], 200);
	ktap_check(g->vf_ok > ok0, "traffic goes on after the cancelled pre-copy");

	/* after STOP_COPY: the device was quiesced and saved, then resumes */
	ok0 = g->vf_ok;
	len = 0;
	b = now_ns();
	ret = mig_set_state(d, VFIO_DEVICE_STATE_PRE_COPY, &fd);
	if (!ret)
		ret = mig_read_all(fd, &buf, &len) < 0;
	if (!ret)
		ret = mig_set_state(d, VFIO_DEVICE_STATE_PRE_COPY_P2P, NULL);
	if (!ret)
		ret = mig_set_state(d, VFIO_DEVICE_STATE_STOP_COPY, NULL);
	if (!ret)
		ret = mig_read_all(fd, &buf, &len) < 0;
	if (!ret)
		ret = mig_set_state(d, VFIO_DEVICE_STATE_STOP, NULL);
	if (!ret)
		ret = mig_set_state(d, VFIO_DEVICE_STATE_RUNNING, NULL);
	e = now_ns();
	dtraffic_window(g, b, e);
	if (fd >= 0)
		close(fd);
	fd = -1;
	ktap_check(!ret && !mig_get_state(d, &st) &&
		   st == VFIO_DEVICE_STATE_RUNNING,
		   "PRE_COPY -> PRE_COPY_P2P -> STOP_COPY (%zu bytes) -> STOP -> RUNNING on the source",
		   len);
	dtraffic_guest(g, &vm[cur], 300);
	ktap_check(g->vf_ok > ok0,
		   "traffic goes on after the cancelled stop-copy (%u frames lost in its %.1f ms)",
		   dtraffic_lost_between(g, DT_TO_VF, b - SLACK_NS,
					 e + SLACK_NS),
		   (e - b) / 1e6);

	/* RUNNING -> STOP -> RUNNING */
	ok0 = g->vf_ok;
	b = now_ns();
	ret = mig_set_state(d, VFIO_DEVICE_STATE_STOP, NULL);
	if (!ret)
		ret = mig_set_state(d, VFIO_DEVICE_STATE_RUNNING, NULL);
	e = now_ns();
	dtraffic_window(g, b, e);
	dtraffic_guest(g, &vm[cur], 300);
	ktap_check(!ret && g->vf_ok > ok0,
		   "RUNNING -> STOP -> RUNNING, traffic goes on (%.1f ms stopped)",
		   (e - b) / 1e6);

	/*
	 * A destination that can't take the MAC: with pre-copy the CONFIG
	 * packet's write fails before the source stops; without, the
	 * RESUMING -> STOP arc fails and the source resumes.
	 */
	if (dst2) {
		int to = !cur, k;
		const char *saved = where[to];

		for (k = 0; k < 2; k++) {
			enum vmm_arc want = k ? VMM_DST_STOP : VMM_PRE_WRITE;

			vmm_hop_free(&h);
			memset(&h, 0, sizeof(h));
			h.precopy = !k;
			ok0 = g->vf_ok;
			where[to] = dst2;
			ret = hop(&h, g);
			ktap_check(ret == -EADDRNOTAVAIL && h.failed &&
				   !strcmp(h.failed, vmm_arc_name(want)) &&
				   (k || !h.stop_begin),
				   "to %s (another admin MAC, %s): refused in %s with EADDRNOTAVAIL%s (%s)",
				   dst2, k ? "no pre-copy" : "pre-copy",
				   h.failed ? h.failed : "-",
				   k ? "" : ", before the source stopped",
				   ret ? strerror(-ret) : "migrated");
			if (!ret) {	/* it did move: come back */
				vmm_hop_free(&h);
				h.precopy = false;
				hop(&h, g);
			}
			where[to] = saved;
			dtraffic_guest(g, &vm[cur], 300);
			ktap_check(!mig_get_state(&dev[cur], &st) &&
				   st == VFIO_DEVICE_STATE_RUNNING &&
				   g->vf_ok > ok0,
				   "the source runs on after the refused migration");
		}
		vmm_hop_free(&h);
	}
	free(buf);
}

/* ----------------------------------------------------- 4: idle VFs */

/* move the guest to the other side, checking it went; no traffic */
static int idle_hop(bool precopy, const char *what, struct vmm_hop *h)
{
	int ret;

	memset(h, 0, sizeof(*h));
	h->precopy = precopy;
	ret = hop(h, NULL);
	ktap_check(!ret, "%s: migrated to %s (%s), stop-copy data %zu bytes",
		   what, where[cur], precopy ? "pre-copy" : "no pre-copy",
		   h->final_len);
	return ret;
}

static void test_idle(int rate)
{
	struct vmm_hop h = { 0 };
	uint16_t hash = mc_hash(mc2);
	uint32_t msg[IVF_VMBMEM_WORDS];
	char m[18], cfg[1024];
	int ret, i, fired;
	struct ivf *v;

	ktap_info("--- 4: idle and half-initialised VFs");

	/* (a) never touched by the guest */
	if (guest_open(0) ||
	    idle_hop(true, "idle VF (no handshake, no rings)", &h)) {
		guest_close();
		goto b;
	}
	v = &vm[cur];
	ret = ivf_reset(v);
	ivf_format_mac(v->mac, m);
	ktap_check(!ret && v->cts && !memcmp(v->mac, vf_mac, 6),
		   "idle VF: the guest's first VF_RESET on the destination gets CTS and MAC %s",
		   m);
	ret = ivf_rings_setup(v, NULL);
	if (ktap_check(!ret, "idle VF: rings set up on the destination"))
		check_traffic_now("idle VF after migration", rate);
	guest_close();
	vmm_hop_free(&h);
b:
	/* (b) handshake and multicast done, interrupts on, no rings */
	if (guest_open(0))
		goto c;
	v = &vm[cur];
	ret = ivf_reset(v);
	if (!ret)
		ret = ivf_set_multicast(v, &hash, 1);
	if (!ret)
		ret = ivf_irq_enable(v);
	if (!ktap_check(!ret, "handshake, SET_MULTICAST, MSI-X on the source") ||
	    idle_hop(false, "VF without rings", &h)) {
		guest_close();
		goto c;
	}
	v = &vm[cur];
	for (fired = 0, i = 0; i < IVF_MSIX_VECTORS; i++)
		if (vfio_irq_wait(v->dev, i, i ? 0 : 500) == 1)
			fired |= 1 << i;
	ktap_check(fired != 0,
		   "VF without rings: catch-up interrupt on resume (vectors 0x%x)",
		   fired);
	ret = ivf_pf_config_lines(where[cur], cfg, sizeof(cfg), "\n");
	{
		char want[32];

		snprintf(want, sizeof(want), "mc 1 0x%03x", hash);
		ktap_check(!ret && strstr(cfg, want) && strstr(cfg, "cts 1"),
			   "VF without rings: destination pf_config has cts 1 and \"%s\"",
			   want);
	}
	ret = ivf_set_vlan(v, TEST_VID, true);
	ktap_check(!ret && v->cts,
		   "VF without rings: the guest's SET_VLAN on the destination is acked with CTS");
	ret = ivf_rings_setup(v, NULL);
	if (ktap_check(!ret, "VF without rings: rings set up on the destination"))
		check_traffic_now("VF without rings after migration", rate);
	guest_close();
	vmm_hop_free(&h);
c:
	/* (c) VF_RESET sent, the PF's reply never read */
	if (guest_open(0))
		goto d;
	v = &vm[cur];
	ivf_wr(v, IVF_CTRL, IVF_CTRL_RST);
	usleep(1000);
	for (i = 0; i < 1000; i++) {
		uint32_t mb = ivf_rd(v, IVF_V2PMAILBOX);

		if (!(mb & (IVF_MBX_RSTI | IVF_MBX_RSTD)))
			break;
		usleep(100);
	}
	msg[0] = IVF_MSG_VF_RESET;
	ret = ivf_mbx_send(v, msg, 1);
	if (!ktap_check(!ret, "unfinished handshake: VF_RESET sent and acked, reply not read") ||
	    idle_hop(true, "unfinished handshake", &h)) {
		guest_close();
		goto d;
	}
	v = &vm[cur];
	memset(msg, 0, sizeof(msg));
	ret = ivf_mbx_recv(v, msg, IVF_VF_RESET_REPLY_WORDS);
	ktap_check(!ret && msg[0] == (IVF_MSG_VF_RESET | IVF_MSG_ACK) &&
		   msg[1] == (uint32_t)(vf_mac[0] | vf_mac[1] << 8 |
					vf_mac[2] << 16 |
					(uint32_t)vf_mac[3] << 24) &&
		   msg[2] == (uint32_t)(vf_mac[4] | vf_mac[5] << 8),
		   "unfinished handshake: the guest reads the VF_RESET reply on the destination (0x%08x 0x%08x 0x%08x, %s)",
		   msg[0], msg[1], msg[2], ret ? strerror(-ret) : "ok");
	v->cts = true;
	memcpy(v->mac, vf_mac, 6);
	v->mac_valid = true;
	ret = ivf_set_multicast(v, &hash, 1);
	ktap_check(!ret, "unfinished handshake: SET_MULTICAST then acked on the destination (%s)",
		   ret ? strerror(-ret) : "ok");
	guest_close();
	vmm_hop_free(&h);
d:
	/* (d) only CTRL.RST written, RSTD never read */
	if (guest_open(0))
		return;
	v = &vm[cur];
	ivf_wr(v, IVF_CTRL, IVF_CTRL_RST);
	if (idle_hop(false, "CTRL.RST only", &h)) {
		guest_close();
		return;
	}
	v = &vm[cur];
	ret = ivf_reset(v);
	ktap_check(!ret && v->cts && !memcmp(v->mac, vf_mac, 6),
		   "CTRL.RST only: the guest's reset handshake completes on the destination (%s)",
		   ret ? strerror(-ret) : "ok");
	guest_close();
	vmm_hop_free(&h);
}

/* ------------------------------------------------ 5: damaged streams */

static void test_damaged(void)
{
	struct vmm_hop h = { .precopy = false };
	static const struct {
		const char *what;
		size_t off;	/* byte to change */
		uint8_t xor;
		bool fix_crc;
		int err;
	} cases[] = {
		{ "CRC mismatch (a payload byte flipped)", 40, 0x01, false, EBADMSG },
		{ "bad magic", 0, 0xff, true, EINVAL },
		{ "major version 3", 4, 0x02, true, EPROTONOSUPPORT },
		{ "device id 0x10cb", 10, 0x01, true, EXDEV },
	};
	unsigned int i;
	uint8_t *s;
	int ret;

	ktap_info("--- 5: damaged streams");
	/* a good stream from an idle VF */
	if (guest_open(0))
		return;
	if (idle_hop(false, "source of the streams", &h)) {
		guest_close();
		return;
	}
	guest_close();
	s = malloc(h.final_len);
	for (i = 0; s && i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct vfio_dev d;
		int fd = -1, werr;

		memcpy(s, h.final, h.final_len);
		s[cases[i].off] ^= cases[i].xor;
		if (cases[i].fix_crc)
			mig_packet_fix_crc(s);
		ret = vfio_dev_open(&d, where[1]);
		if (ret) {
			ktap_check(false, "open %s: %s", where[1], strerror(-ret));
			continue;
		}
		ret = mig_set_state(&d, VFIO_DEVICE_STATE_RESUMING, &fd);
		werr = ret ? ret : mig_write_all(fd, s, h.final_len, 0);
		ret = ret ? ret : mig_set_state(&d, VFIO_DEVICE_STATE_STOP, NULL);
		ktap_check(werr == -cases[i].err && ret,
			   "%s: write fails with %s (%s), RESUMING -> STOP fails (%s)",
			   cases[i].what, strerror(cases[i].err),
			   werr ? strerror(-werr) : "accepted",
			   ret ? strerror(-ret) : "succeeded");
		if (fd >= 0)
			close(fd);
		vfio_dev_close(&d);
	}
	free(s);
	vmm_hop_free(&h);
}

int main(void)
{
	const char *s;
	char line[512], m[18];
	uint64_t flags = 0;
	uint32_t state = 0;
	int rate, nhops, ret;
	struct dtraffic g;

	bdf_a = env_need("IVF_VF0");
	bdf_b = env_need("IVF_DST");
	pfb_if = env_need("IVF_PFB_IF");
	bdf_b2 = env_get("IVF_DST2");
	s = env_get("IVF_MIG_HOPS");
	nhops = s ? atoi(s) : 20;
	s = env_get("IVF_MIG_RATE");
	rate = s ? atoi(s) : 500;
	s = env_get("IVF_ACCESS");
	if (s && !strcmp(s, "pio"))
		access_mode = IVF_ACCESS_PIO;
	where[0] = bdf_a;
	where[1] = bdf_b;

	ktap_header("migrate: live migration of a userspace-driven VF, PF A <-> PF B, under traffic");
	ret = peer_open(&peer, env_need("IVF_PEER_NS"), env_need("IVF_PEER_IF"),
			FRAME_ETHERTYPE);
	if (!ktap_check(!ret, "peer socket on %s", getenv("IVF_PEER_IF")))
		ktap_finish();
	if (ivf_parse_mac(env_need("IVF_VF0_MAC"), vf_mac))
		ktap_skip_all("bad IVF_VF0_MAC");

	ret = guest_open(0);
	if (!ktap_check(!ret, "open %s", bdf_a))
		ktap_finish();
	ret = mig_flags(&dev[0], &flags);
	ktap_check(!ret && (flags & VFIO_MIGRATION_STOP_COPY) &&
		   (flags & VFIO_MIGRATION_P2P) &&
		   (flags & VFIO_MIGRATION_PRE_COPY),
		   "VFIO_DEVICE_FEATURE_MIGRATION: flags 0x%llx (STOP_COPY|P2P|PRE_COPY) %s",
		   (unsigned long long)flags, ret ? strerror(-ret) : "");
	ret = mig_get_state(&dev[0], &state);
	if (!ktap_check(!ret && state == VFIO_DEVICE_STATE_RUNNING,
			"device state after open: %s", mig_state_name(state)))
		ktap_finish();

	/* the guest: handshake, LPE, rings, MSI-X, traffic */
	ret = ivf_reset(&vm[0]);
	ktap_check(!ret && vm[0].cts && !memcmp(vm[0].mac, vf_mac, 6),
		   "guest VF reset handshake on the source");
	ret = ret ? ret : ivf_set_lpe(&vm[0], 1522);
	ret = ret ? ret : ivf_rings_setup(&vm[0], &ring_cfg);
	ret = ret ? ret : ivf_irq_enable(&vm[0]);
	if (!ktap_check(!ret, "guest LPE, rings and MSI-X up on the source"))
		ktap_finish();
	if (dtraffic_paced_init(&g, &peer, vf_mac, rate, 1u << 19))
		ktap_finish();
	g.other = other_cb;
	dtraffic_start(&g);
	dtraffic_guest(&g, &vm[0], 300);

	test_one(&g, rate);
	test_hops(&g, nhops);
	test_cancel(&g, bdf_b2);
	dtraffic_stop(&g);
	dtraffic_drain(&g, &vm[cur], 300);
	check_tally(&g, "1+2+3 (whole run)");
	dtraffic_free(&g);
	/* not under traffic: a fork+exec stalls the guest for seconds */
	ret = ip_vf_line(pfb_if, 0, line, sizeof(line));
	ivf_format_mac(vf_mac, m);
	ktap_check(!ret && strstr(line, m), "ip link show %s: %s", pfb_if,
		   ret ? "no vf 0" : line);
	guest_close();

	test_idle(rate);
	test_damaged();

	peer_close(&peer);
	ktap_finish();
}
