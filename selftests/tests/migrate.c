// SPDX-License-Identifier: GPL-2.0
/*
 * migrate: live migration of a userspace-driven VF, from PF A ("source
 * host", IVF_VF0) to PF B ("destination host", IVF_DST, admin MAC = the
 * migrating MAC) and back, under traffic with the e1000e peer on the same
 * wire (QEMU hub). The VMM side is lib/vmm.c (QEMU's order of arcs), the
 * guest is lib/ivf.c, the traffic lib/dtraffic.c.
 *
 * Two fixtures, each with the backends as variants (lib/backends.h:
 * container, cdev_log; one the kernel cannot do skips):
 *
 * migrate: the guest on the source, handshake, LPE, rings, MSI-X, under
 * paced traffic (IVF_MIG_RATE frames/s each way); every case ends with
 * the traffic's tally: peer->vf frames intact, in order, none duplicated,
 * lost only inside stop windows; vf->peer frames all delivered.
 *   precopy_stream_holds_config_and_guest_rings
 *             a pre-copy hop: the device receives in PRE_COPY; one CONFIG
 *             packet or more, one FINAL packet < 4 KiB whose QUEUES record
 *             is the guest's rings, RDT its last write, TDH == TDT, RDH
 *             past written-back descriptors only
 *   traffic_and_statistics_go_on_after_hop
 *             statistics on PF B >= the source's last, RX continues, TX
 *             completes, the statistics count on
 *   pf_filters_and_mailbox_move_with_the_guest
 *             multicast and VLAN filters work on PF B, pf_config equals the
 *             source's, a new SET_MULTICAST is acked and works
 *   hops_back_and_forth_keep_traffic_flowing
 *             IVF_MIG_HOPS (20) hops in a row, alternately with and without
 *             pre-copy; traffic after each, statistics never go back
 *   cancelled_pre_copy_leaves_source_running
 *   cancelled_stop_copy_resumes_source
 *   stop_then_running_keeps_traffic
 *   other_mac_destination_refuses_config_write_source_runs
 *   other_mac_destination_refuses_resume_source_runs
 *             PF B's VF with another admin MAC (IVF_DST2; SKIP without):
 *             with pre-copy the CONFIG write fails before the source
 *             stops, without it RESUMING -> STOP fails; EADDRNOTAVAIL
 *
 * migrate_idle: no guest set up; the peer only.
 *   untouched_vf_migrates_then_handshakes
 *   vf_without_rings_gets_catch_up_interrupt
 *   unfinished_handshake_completes_on_destination
 *   ctrl_rst_only_vf_completes_reset_on_destination
 *   damaged_streams_refused_with_abi_errno
 *             bad CRC, magic, major version, device id
 *   pfb_lists_vf0_with_the_migrating_mac
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
#include "fixture.h"
#include "frame.h"
#include "ivf.h"
#include "ivf_migration.h"
#include "mig.h"
#include "peer.h"
#include "util.h"
#include "vmm.h"

#include "kselftest_harness.h"
#include "backends.h"

/* a case is 5-30 s on TCG, the sanitizer kernel several times that */
#define CASE_TIMEOUT	400
#define HOPS_TIMEOUT	900

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
/* the variant's way to the devices */
static const struct vfio_backend *backend;

/* the guest and the two places it can run */
static struct ivf vm[2];
static struct vfio_dev dev[2];
static const char *where[2];
static int cur;
static bool guest_is_open;

/* ---- helpers -------------------------------------------------------- */

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
	ksft_print_msg("%s arcs:%s\n", prefix, line);
}

/* move the guest to the other side; 0 or -errno */
static int hop(struct vmm_hop *h, struct dtraffic *g)
{
	int to = !cur, ret;

	h->access = access_mode;
	h->backend = backend;
	ret = vmm_migrate(&vm[cur], &dev[cur], &vm[to], &dev[to], where[to], h);
	if (h->stop_begin && g)
		dtraffic_window(g, h->stop_begin, h->stop_end);
	if (ret) {
		ksft_print_msg("migration %s -> %s failed in %s: %s\n",
			       where[cur], where[to],
			       h->failed ? h->failed : "?", strerror(-ret));
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
	if (!guest_is_open)
		return;
	ivf_close(&vm[cur]);
	vfio_dev_close(&dev[cur]);
	guest_is_open = false;
}

/* open the guest on side @side (cur), ivf_open only */
static int guest_open(int side)
{
	int ret;

	cur = side;
	ret = vfio_dev_open_backend(&dev[cur], where[cur], backend);
	if (ret)
		return ret;
	ret = ivf_open(&vm[cur], &dev[cur], access_mode);
	if (ret)
		vfio_dev_close(&dev[cur]);
	guest_is_open = !ret;
	return ret;
}

static void check_tally(struct __test_metadata *_metadata, struct dtraffic *g,
			const char *what)
{
	struct dtraffic_tally a, b;

	dtraffic_tally(g, DT_TO_VF, SLACK_NS, &a);
	dtraffic_tally(g, DT_TO_PEER, SLACK_NS, &b);
	TH_LOG("%s: peer->vf sent %u ok %u lost %u (in stop windows %u, outside %u) dup %u bad %u reordered %u",
	       what, a.sent, a.ok, a.lost, a.lost_in_window, a.lost_outside,
	       a.dup, a.bad, a.ooo);
	TH_LOG("%s: vf->peer sent %u ok %u lost %u (in stop windows %u, outside %u) dup %u bad %u reordered %u",
	       what, b.sent, b.ok, b.lost, b.lost_in_window, b.lost_outside,
	       b.dup, b.bad, b.ooo);
	if (a.lost_outside)
		dtraffic_print_lost(g, DT_TO_VF, 8, SLACK_NS, true);
	if (b.lost)
		dtraffic_print_lost(g, DT_TO_PEER, 8, SLACK_NS, false);
	EXPECT_TRUE(a.sent > 0 && a.lost_outside == 0 && !a.dup && !a.bad &&
		    !a.ooo)
		TH_LOG("%s: peer->vf frames must be intact, in order, without duplicates, lost only in stop windows (%u there)",
		       what, a.lost_in_window);
	EXPECT_TRUE(b.sent > 0 && b.lost == 0 && !b.dup && !b.bad && !b.ooo)
		TH_LOG("%s: vf->peer frames must all be delivered intact and in order (%u sent)",
		       what, b.sent);
}

/* frames both ways work on the current side (fresh traffic) */
static void check_traffic_now(struct __test_metadata *_metadata,
			      const char *what, int rate)
{
	struct dtraffic g;

	ASSERT_EQ(0, dtraffic_paced_init(&g, &peer, vf_mac, rate, 1 << 16))
		TH_LOG("%s: traffic generator", what);
	dtraffic_start(&g);
	dtraffic_guest(&g, &vm[cur], 500);
	dtraffic_stop(&g);
	dtraffic_drain(&g, &vm[cur], 200);
	check_tally(_metadata, &g, what);
	dtraffic_free(&g);
}

static void check_final(struct __test_metadata *_metadata,
			const struct vmm_hop *h, const struct ivf *v)
{
	const struct ivf_mig_queues *q;
	unsigned int i, rdh, n, notdone = 0;
	uint32_t len;

	EXPECT_TRUE(vmm_count_packets(h->pre, h->pre_len) >= 1 &&
		    vmm_find_record(h->pre, h->pre_len, IVF_MIG_PKT_CONFIG,
				    IVF_MIG_REC_PF_CONFIG, &len))
		TH_LOG("PRE_COPY data: %zu bytes, %d CONFIG packet(s) with the PF config (PRECOPY_INFO initial %llu)",
		       h->pre_len, vmm_count_packets(h->pre, h->pre_len),
		       (unsigned long long)h->precopy_initial);
	EXPECT_TRUE(vmm_count_packets(h->final, h->final_len) == 1 &&
		    h->final_len < 4096)
		TH_LOG("STOP_COPY data: one FINAL packet of %zu bytes (< 4 KiB; MIG_DATA_SIZE said %llu)",
		       h->final_len, (unsigned long long)h->data_size);
	q = vmm_find_record(h->final, h->final_len, IVF_MIG_PKT_FINAL,
			    IVF_MIG_REC_QUEUES, &len);
	ASSERT_TRUE(q && len >= sizeof(*q)) TH_LOG("FINAL has a QUEUES record");
	TH_LOG("queue 0 saved: rdh %u rdt %u rxdctl 0x%08x tdh %u tdt %u txdctl 0x%08x; guest rx_next %u tx_next %u",
	       q->q[0].rdh, q->q[0].rdt, q->q[0].rxdctl, q->q[0].tdh,
	       q->q[0].tdt, q->q[0].txdctl, v->rx_next, v->tx_next);
	EXPECT_TRUE(q->q[0].rdbal == (uint32_t)v->rx_ring_dma.iova &&
		    q->q[0].tdbal == (uint32_t)v->tx_ring_dma.iova &&
		    q->q[0].rdlen == v->rx_count * 16 &&
		    q->q[0].tdlen == v->tx_count * 16)
		TH_LOG("saved ring bases and lengths must be the guest's");
	EXPECT_TRUE(q->q[0].tdh == v->tx_next && q->q[0].tdt == v->tx_next)
		TH_LOG("saved TDH (%u) == TDT (%u) == the guest's next TX slot (%u): nothing left to send",
		       q->q[0].tdh, q->q[0].tdt, v->tx_next);
	EXPECT_EQ((v->rx_next + v->rx_count - 1) % v->rx_count, q->q[0].rdt)
		TH_LOG("saved RDT (%u) is the guest's last RDT write", q->q[0].rdt);
	rdh = q->q[0].rdh;
	n = (rdh + v->rx_count - v->rx_next) % v->rx_count;
	for (i = 0; i < n; i++)
		if (!(v->rx_ring[(v->rx_next + i) % v->rx_count].wb.status_error &
		      IVF_RXD_STAT_DD))
			notdone++;
	EXPECT_TRUE(rdh < v->rx_count && !notdone)
		TH_LOG("saved RDH %u: the %u descriptors from the guest's next (%u) to it must have been written back by the source (%u not)",
		       rdh, n, v->rx_next, notdone);
}

static bool stats_ge(const struct ivf_stats *a, const struct ivf_stats *b)
{
	return a->gprc >= b->gprc && a->gptc >= b->gptc &&
	       a->gorc >= b->gorc && a->gotc >= b->gotc && a->mprc >= b->mprc;
}

/* ---- the fixtures --------------------------------------------------- */

static int env_int(const char *name, int def)
{
	const char *s = env_get(name);

	return s ? atoi(s) : def;
}

/* what both fixtures need: names, the variant, the peer; a SKIP reason */
static const char *common_setup(const struct vfio_backend *b)
{
	const char *ns, *ifname, *s;

	s = vf_peer_unusable(&bdf_a, &ns, &ifname, NULL, NULL);
	if (s)
		return s;
	bdf_b = env_get("IVF_DST");
	pfb_if = env_get("IVF_PFB_IF");
	bdf_b2 = env_get("IVF_DST2");
	if (!bdf_b || !pfb_if || !env_get("IVF_VF0_MAC"))
		return "IVF_VF0_MAC, IVF_DST and IVF_PFB_IF are needed";
	if (ivf_parse_mac(env_get("IVF_VF0_MAC"), vf_mac))
		return "bad IVF_VF0_MAC";
	s = env_get("IVF_ACCESS");
	if (s && !strcmp(s, "pio"))
		access_mode = IVF_ACCESS_PIO;
	where[0] = bdf_a;
	where[1] = bdf_b;
	backend = b;
	return vfio_backend_missing(bdf_a, b);
}

/* the peer's socket, which both fixtures need */
static void open_peer(struct __test_metadata *_metadata, bool *is_open)
{
	int ret = peer_open(&peer, env_get("IVF_PEER_NS"),
			    env_get("IVF_PEER_IF"), FRAME_ETHERTYPE);

	ASSERT_EQ(0, ret) TH_LOG("peer socket on %s (%s)",
				 env_get("IVF_PEER_IF"), err_str(ret));
	*is_open = true;
}

FIXTURE(migrate) {
	struct dtraffic g;
	bool g_init, peer_open;
	int rate;
};

/*
 * container: both VFs through their groups, type1 containers
 * cdev_log: both through their cdevs on iommufd
 */
IVF_BACKENDS(migrate);

static void migrate_free(FIXTURE_DATA(migrate) *self)
{
	if (self->g_init) {
		dtraffic_stop(&self->g);
		dtraffic_free(&self->g);
	}
	self->g_init = false;
	guest_close();
	if (self->peer_open)
		peer_close(&peer);
	self->peer_open = false;
}

FIXTURE_SETUP(migrate)
{
	const char *miss = common_setup(&variant->backend);
	uint64_t flags = 0;
	uint32_t state = 0;
	int ret;

	if (miss)
		SKIP(return, "%s", miss);
	self->rate = env_int("IVF_MIG_RATE", 500);
	open_peer(_metadata, &self->peer_open);

	ret = guest_open(0);
	if (ret)
		migrate_free(self);
	ASSERT_EQ(0, ret) TH_LOG("open %s (%s)", bdf_a, err_str(ret));
	ret = mig_flags(&dev[0], &flags);
	EXPECT_TRUE(!ret && (flags & VFIO_MIGRATION_STOP_COPY) &&
		    (flags & VFIO_MIGRATION_P2P) &&
		    (flags & VFIO_MIGRATION_PRE_COPY))
		TH_LOG("VFIO_DEVICE_FEATURE_MIGRATION: flags 0x%llx (STOP_COPY|P2P|PRE_COPY) %s",
		       (unsigned long long)flags, err_str(ret));
	ret = mig_get_state(&dev[0], &state);
	if (ret || state != VFIO_DEVICE_STATE_RUNNING)
		migrate_free(self);
	ASSERT_TRUE(!ret && state == VFIO_DEVICE_STATE_RUNNING)
		TH_LOG("device state after open: %s", mig_state_name(state));

	/* the guest: handshake, LPE, rings, MSI-X, traffic */
	ret = ivf_reset(&vm[0]);
	EXPECT_TRUE(!ret && vm[0].cts && !memcmp(vm[0].mac, vf_mac, 6))
		TH_LOG("guest VF reset handshake on the source (%s)",
		       err_str(ret));
	ret = ret ? ret : ivf_set_lpe(&vm[0], 1522);
	ret = ret ? ret : ivf_rings_setup(&vm[0], &ring_cfg);
	ret = ret ? ret : ivf_irq_enable(&vm[0]);
	if (ret)
		migrate_free(self);
	ASSERT_EQ(0, ret) TH_LOG("guest LPE, rings and MSI-X up on the source (%s)",
				 err_str(ret));
	ret = dtraffic_paced_init(&self->g, &peer, vf_mac, self->rate,
				  1u << 19);
	if (ret)
		migrate_free(self);
	ASSERT_EQ(0, ret) TH_LOG("traffic generator (%s)", err_str(ret));
	self->g_init = true;
	memset(&pr, 0, sizeof(pr));
	self->g.other = other_cb;
	dtraffic_start(&self->g);
	dtraffic_guest(&self->g, &vm[0], 300);
}

FIXTURE_TEARDOWN(migrate)
{
	migrate_free(self);
}

/* the case's traffic stops; its tally */
static void traffic_end(struct __test_metadata *_metadata,
			FIXTURE_DATA(migrate) *self, const char *what)
{
	dtraffic_stop(&self->g);
	dtraffic_drain(&self->g, &vm[cur], 300);
	check_tally(_metadata, &self->g, what);
}

FIXTURE(migrate_idle) {
	bool peer_open;
	int rate;
};

IVF_BACKENDS(migrate_idle);

FIXTURE_SETUP(migrate_idle)
{
	const char *miss = common_setup(&variant->backend);

	if (miss)
		SKIP(return, "%s", miss);
	self->rate = env_int("IVF_MIG_RATE", 500);
	open_peer(_metadata, &self->peer_open);
}

FIXTURE_TEARDOWN(migrate_idle)
{
	guest_close();
	if (self->peer_open)
		peer_close(&peer);
	self->peer_open = false;
}

/* ---- one live migration --------------------------------------------- */

struct one {
	struct precopy_guest pg;
	struct vmm_hop h;
	uint16_t hashes[2];
	uint32_t mc_ctrl, vlan_ctrl, ok_before;
	char cfg_src[1024];
};

/*
 * One pre-copy hop to PF B under traffic; with @filters the guest first
 * joins a multicast group and VLAN TEST_VID and the source is checked to
 * pass them (and to filter them before).
 */
static void one_hop(struct __test_metadata *_metadata,
		    FIXTURE_DATA(migrate) *self, struct one *o, bool filters)
{
	struct dtraffic *g = &self->g;
	struct ivf *v = &vm[cur];
	uint32_t got;
	int ret;

	o->pg.g = g;
	o->pg.ms = 300;
	o->h.precopy = true;
	o->h.guest = precopy_guest;
	o->h.guest_arg = &o->pg;
	o->hashes[0] = mc_hash(mc1);
	o->hashes[1] = mc_hash(mc2);
	TH_LOG("one live migration %s -> %s under traffic (%d frames/s each way)",
	       where[0], where[1], self->rate);
	if (filters) {
		/* controls: filtered before the guest asks for them? */
		o->mc_ctrl = probe_mc(g, mc1, 0, NPROBE);
		o->vlan_ctrl = probe_vlan(g, TEST_VID, NPROBE);
		TH_LOG("before SET_MULTICAST/SET_VLAN: %u/%d multicast, %u/%d VLAN %d frames got through",
		       o->mc_ctrl, NPROBE, o->vlan_ctrl, NPROBE, TEST_VID);
		ret = ivf_set_multicast(v, o->hashes, 1);
		EXPECT_EQ(0, ret) TH_LOG("SET_MULTICAST {0x%03x} acked on the source",
					 o->hashes[0]);
		ret = ivf_set_vlan(v, TEST_VID, true);
		EXPECT_EQ(0, ret) TH_LOG("SET_VLAN add %d acked on the source",
					 TEST_VID);
		got = probe_mc(g, mc1, 0, NPROBE);
		EXPECT_EQ(NPROBE, got)
			TH_LOG("source: %u/%d frames to the multicast address received",
			       got, NPROBE);
		got = probe_vlan(g, TEST_VID, NPROBE);
		EXPECT_EQ(NPROBE, got)
			TH_LOG("source: %u/%d frames of VLAN %d received", got,
			       NPROBE, TEST_VID);
		ret = ivf_pf_config_lines(where[cur], o->cfg_src,
					  sizeof(o->cfg_src), "\n");
		EXPECT_EQ(0, ret) TH_LOG("source pf_config readable");
	}
	dtraffic_guest(g, v, 300);
	o->ok_before = g->vf_ok;
	ret = hop(&o->h, g);
	ASSERT_EQ(0, ret)
		TH_LOG("migrated %s -> %s (pre-copy): failed in %s (%s)",
		       where[cur], where[!cur],
		       o->h.failed ? o->h.failed : "?", err_str(ret));
	TH_LOG("migrated %s -> %s (pre-copy): stop window %.1f ms",
	       where[!cur], where[cur],
	       (o->h.stop_end - o->h.stop_begin) / 1e6);
	print_arcs(&o->h, "hop 1");
}

TEST_F_TIMEOUT(migrate, precopy_stream_holds_config_and_guest_rings,
	       CASE_TIMEOUT)
{
	struct one o = { 0 };

	one_hop(_metadata, self, &o, false);
	EXPECT_GT(o.pg.rx_after, o.pg.rx_before)
		TH_LOG("the device must keep receiving in PRE_COPY (%llu frames)",
		       (unsigned long long)(o.pg.rx_after - o.pg.rx_before));
	check_final(_metadata, &o.h, &vm[cur]);
	vmm_hop_free(&o.h);
	traffic_end(_metadata, self, "one hop");
}

TEST_F_TIMEOUT(migrate, traffic_and_statistics_go_on_after_hop, CASE_TIMEOUT)
{
	struct dtraffic *g = &self->g;
	struct ivf_stats st_dst, st_later;
	uint32_t peer_ok_before;
	uint64_t tx_before;
	struct one o = { 0 };
	struct ivf *v;
	int ret;

	one_hop(_metadata, self, &o, false);
	v = &vm[cur];
	/* before the guest runs again */
	ret = ivf_read_stats(v, &st_dst);
	EXPECT_TRUE(!o.pg.stats_ret && !ret && stats_ge(&st_dst, &o.pg.last))
		TH_LOG("destination statistics >= the last the source showed (gprc %u >= %u, gptc %u >= %u, gorc %u >= %u, gotc %u >= %u, mprc %u >= %u)",
		       st_dst.gprc, o.pg.last.gprc, st_dst.gptc, o.pg.last.gptc,
		       st_dst.gorc, o.pg.last.gorc, st_dst.gotc, o.pg.last.gotc,
		       st_dst.mprc, o.pg.last.mprc);

	peer_ok_before = g->peer_ok;
	tx_before = v->tx_frames;
	dtraffic_guest(g, v, 500);
	ivf_tx_clean(v);
	EXPECT_GT(g->vf_ok, o.ok_before)
		TH_LOG("RX must continue on the destination (%u frames since the hop)",
		       (uint32_t)(g->vf_ok - o.ok_before));
	EXPECT_TRUE(v->tx_frames > tx_before && g->peer_ok > peer_ok_before &&
		    ivf_tx_pending(v) == 0)
		TH_LOG("TX must complete on the destination (%llu sent, %u reached the peer, %u pending)",
		       (unsigned long long)(v->tx_frames - tx_before),
		       (uint32_t)(g->peer_ok - peer_ok_before),
		       ivf_tx_pending(v));
	ret = ivf_read_stats(v, &st_later);
	EXPECT_TRUE(!ret && st_later.gprc > st_dst.gprc &&
		    st_later.gptc > st_dst.gptc)
		TH_LOG("destination statistics must count on (gprc %u -> %u, gptc %u -> %u)",
		       st_dst.gprc, st_later.gprc, st_dst.gptc, st_later.gptc);
	TH_LOG("hop: %u peer->vf frames lost in the %.1f ms stop window",
	       dtraffic_lost_between(g, DT_TO_VF, o.h.stop_begin - SLACK_NS,
				     o.h.stop_end + SLACK_NS),
	       (o.h.stop_end - o.h.stop_begin) / 1e6);
	vmm_hop_free(&o.h);
	traffic_end(_metadata, self, "one hop");
}

TEST_F_TIMEOUT(migrate, pf_filters_and_mailbox_move_with_the_guest,
	       CASE_TIMEOUT)
{
	struct dtraffic *g = &self->g;
	char cfg_dst[1024], line[512];
	struct one o = { 0 };
	struct ivf *v;
	uint32_t got;
	int ret;

	one_hop(_metadata, self, &o, true);
	v = &vm[cur];
	got = probe_mc(g, mc1, 0, NPROBE);
	EXPECT_EQ(NPROBE, got)
		TH_LOG("destination: %u/%d multicast frames received (%s)", got,
		       NPROBE, o.mc_ctrl ? "not filtered before: weak check" :
		       "filtered without the replayed hash");
	got = probe_vlan(g, TEST_VID, NPROBE);
	EXPECT_EQ(NPROBE, got)
		TH_LOG("destination: %u/%d VLAN %d frames received (%s)", got,
		       NPROBE, TEST_VID, o.vlan_ctrl ?
		       "not filtered before: weak check" :
		       "filtered without the replayed VLAN");
	ret = ivf_pf_config_lines(where[cur], cfg_dst, sizeof(cfg_dst), "\n");
	oneline(o.cfg_src);
	oneline(cfg_dst);
	EXPECT_TRUE(!ret && !strcmp(o.cfg_src, cfg_dst))
		TH_LOG("destination pf_config %s must equal the source's %s",
		       cfg_dst, o.cfg_src);

	/* the guest's mailbox goes on */
	ret = ivf_set_multicast(v, o.hashes, 2);
	EXPECT_TRUE(!ret && v->cts)
		TH_LOG("SET_MULTICAST {0x%03x, 0x%03x} after migration: acked with CTS (%s)",
		       o.hashes[0], o.hashes[1], err_str(ret));
	got = probe_mc(g, mc2, 1, NPROBE);
	EXPECT_EQ(NPROBE, got)
		TH_LOG("destination: %u/%d frames to the newly added multicast address received",
		       got, NPROBE);
	got = probe_mc(g, mc1, 0, NPROBE);
	EXPECT_EQ(NPROBE, got)
		TH_LOG("destination: %u/%d frames to the first multicast address still received",
		       got, NPROBE);
	ret = ivf_pf_config_lines(where[cur], cfg_dst, sizeof(cfg_dst), "\n");
	snprintf(line, sizeof(line), "mc 2 0x%03x 0x%03x", o.hashes[0],
		 o.hashes[1]);
	EXPECT_TRUE(!ret && strstr(cfg_dst, line))
		TH_LOG("destination pf_config must have \"%s\"", line);
	vmm_hop_free(&o.h);
	traffic_end(_metadata, self, "one hop with filters");
}

/* ---- back and forth ------------------------------------------------- */

TEST_F_TIMEOUT(migrate, hops_back_and_forth_keep_traffic_flowing,
	       HOPS_TIMEOUT)
{
	struct dtraffic *g = &self->g;
	int nhops = env_int("IVF_MIG_HOPS", 20);
	uint64_t b[256], e[256];
	double win[256];
	int i, done = 0, nb = nhops < 256 ? nhops : 256;
	struct ivf_stats prev, now;
	bool mono = true;

	TH_LOG("%d migrations back and forth under traffic", nhops);
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
			TH_LOG("hop %d: no frame received after it", i + 1);
			break;
		}
		if (i < 3 || i == nb - 1)
			print_arcs(&h, h.precopy ? "pre-copy hop" : "stop-copy hop");
		vmm_hop_free(&h);
		done++;
	}
	EXPECT_EQ(nhops, done)
		TH_LOG("%d/%d migrations in a row, traffic flowing after each",
		       done, nhops);
	EXPECT_TRUE(mono) TH_LOG("statistics must never go back across the hops");
	dtraffic_stop(g);
	dtraffic_drain(g, &vm[cur], 300);
	for (i = 0; i < done; i++)
		TH_LOG("hop %d (%s): stop window %.1f ms, %u peer->vf frames lost in it",
		       i + 1, i & 1 ? "stop-copy" : "pre-copy", win[i],
		       dtraffic_lost_between(g, DT_TO_VF, b[i] - SLACK_NS,
					     e[i] + SLACK_NS));
	if (done)
		TH_LOG("stop window median %.1f ms (min %.1f, max %.1f)",
		       stats_median(win, done), stats_min(win, done),
		       stats_max(win, done));
	check_tally(_metadata, g, "all hops");
}

/* ---- cancelled migrations ------------------------------------------- */

/* PRE_COPY -> RUNNING: the device never stopped */
TEST_F_TIMEOUT(migrate, cancelled_pre_copy_leaves_source_running,
	       CASE_TIMEOUT)
{
	struct dtraffic *g = &self->g;
	struct vfio_dev *d = &dev[cur];
	uint8_t *buf = NULL;
	size_t len = 0;
	int fd = -1, ret;
	uint32_t ok0;
	bool enodev;

	dtraffic_guest(g, &vm[cur], 200);
	ok0 = g->vf_ok;
	ret = mig_set_state(d, VFIO_DEVICE_STATE_PRE_COPY, &fd);
	if (!ret)
		ret = mig_read_all(fd, &buf, &len) < 0;
	dtraffic_guest(g, &vm[cur], 100);
	ret = ret ? ret : mig_set_state(d, VFIO_DEVICE_STATE_RUNNING, NULL);
	enodev = fd >= 0 && read(fd, &(uint8_t){ 0 }, 1) < 0 && errno == ENODEV;
	EXPECT_TRUE(!ret && len > 0 && enodev)
		TH_LOG("PRE_COPY (%zu bytes read) -> RUNNING (%s); the data fd must then fail with ENODEV",
		       len, err_str(ret));
	if (fd >= 0)
		close(fd);
	free(buf);
	dtraffic_guest(g, &vm[cur], 200);
	EXPECT_GT(g->vf_ok, ok0)
		TH_LOG("traffic must go on after the cancelled pre-copy");
	traffic_end(_metadata, self, "cancelled pre-copy");
}

/* after STOP_COPY: the device was quiesced and saved, then resumes */
TEST_F_TIMEOUT(migrate, cancelled_stop_copy_resumes_source, CASE_TIMEOUT)
{
	struct dtraffic *g = &self->g;
	struct vfio_dev *d = &dev[cur];
	uint8_t *buf = NULL;
	size_t len = 0;
	uint32_t ok0, st = 0;
	int fd = -1, ret;
	uint64_t b, e;

	dtraffic_guest(g, &vm[cur], 200);
	ok0 = g->vf_ok;
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
	free(buf);
	EXPECT_TRUE(!ret && !mig_get_state(d, &st) &&
		    st == VFIO_DEVICE_STATE_RUNNING)
		TH_LOG("PRE_COPY -> PRE_COPY_P2P -> STOP_COPY (%zu bytes) -> STOP -> RUNNING on the source (%d)",
		       len, ret);
	dtraffic_guest(g, &vm[cur], 300);
	EXPECT_GT(g->vf_ok, ok0)
		TH_LOG("traffic must go on after the cancelled stop-copy (%u frames lost in its %.1f ms)",
		       dtraffic_lost_between(g, DT_TO_VF, b - SLACK_NS,
					     e + SLACK_NS), (e - b) / 1e6);
	traffic_end(_metadata, self, "cancelled stop-copy");
}

/* RUNNING -> STOP -> RUNNING */
TEST_F_TIMEOUT(migrate, stop_then_running_keeps_traffic, CASE_TIMEOUT)
{
	struct dtraffic *g = &self->g;
	struct vfio_dev *d = &dev[cur];
	uint64_t b, e;
	uint32_t ok0;
	int ret;

	dtraffic_guest(g, &vm[cur], 200);
	ok0 = g->vf_ok;
	b = now_ns();
	ret = mig_set_state(d, VFIO_DEVICE_STATE_STOP, NULL);
	if (!ret)
		ret = mig_set_state(d, VFIO_DEVICE_STATE_RUNNING, NULL);
	e = now_ns();
	dtraffic_window(g, b, e);
	dtraffic_guest(g, &vm[cur], 300);
	EXPECT_TRUE(!ret && g->vf_ok > ok0)
		TH_LOG("RUNNING -> STOP -> RUNNING (%s), traffic must go on (%.1f ms stopped)",
		       err_str(ret), (e - b) / 1e6);
	traffic_end(_metadata, self, "STOP and RUNNING again");
}

/*
 * A destination that can't take the MAC: with pre-copy the CONFIG
 * packet's write fails before the source stops; without, the
 * RESUMING -> STOP arc fails and the source resumes.
 */
static void refused_hop(struct __test_metadata *_metadata,
			FIXTURE_DATA(migrate) *self, bool precopy)
{
	enum vmm_arc want = precopy ? VMM_PRE_WRITE : VMM_DST_STOP;
	struct dtraffic *g = &self->g;
	struct vmm_hop h = { .precopy = precopy };
	int to = !cur, ret;
	const char *saved = where[to];
	uint32_t ok0, st = 0;

	if (!bdf_b2)
		SKIP(return, "no PF B VF with another admin MAC (IVF_DST2)");
	dtraffic_guest(g, &vm[cur], 200);
	ok0 = g->vf_ok;
	where[to] = bdf_b2;
	ret = hop(&h, g);
	EXPECT_TRUE(ret == -EADDRNOTAVAIL && h.failed &&
		    !strcmp(h.failed, vmm_arc_name(want)) &&
		    (!precopy || !h.stop_begin))
		TH_LOG("to %s (another admin MAC, %s): must be refused in %s with EADDRNOTAVAIL%s; was in %s (%s)",
		       bdf_b2, precopy ? "pre-copy" : "no pre-copy",
		       vmm_arc_name(want),
		       precopy ? ", before the source stopped" : "",
		       h.failed ? h.failed : "-",
		       ret ? strerror(-ret) : "migrated");
	if (!ret) {	/* it did move: come back */
		vmm_hop_free(&h);
		h.precopy = false;
		hop(&h, g);
	}
	where[to] = saved;
	dtraffic_guest(g, &vm[cur], 300);
	EXPECT_TRUE(!mig_get_state(&dev[cur], &st) &&
		    st == VFIO_DEVICE_STATE_RUNNING && g->vf_ok > ok0)
		TH_LOG("the source must run on after the refused migration (%s)",
		       mig_state_name(st));
	vmm_hop_free(&h);
	traffic_end(_metadata, self, "refused migration");
}

TEST_F_TIMEOUT(migrate, other_mac_destination_refuses_config_write_source_runs,
	       CASE_TIMEOUT)
{
	refused_hop(_metadata, self, true);
}

TEST_F_TIMEOUT(migrate, other_mac_destination_refuses_resume_source_runs,
	       CASE_TIMEOUT)
{
	refused_hop(_metadata, self, false);
}

/* ---- idle and half-initialised VFs ---------------------------------- */

/* move the guest to the other side, checking it went; no traffic */
static void idle_hop(struct __test_metadata *_metadata, bool precopy,
		     const char *what, struct vmm_hop *h)
{
	int ret;

	memset(h, 0, sizeof(*h));
	h->precopy = precopy;
	ret = hop(h, NULL);
	ASSERT_EQ(0, ret)
		TH_LOG("%s: migration to %s (%s) failed in %s (%s)", what,
		       where[!cur], precopy ? "pre-copy" : "no pre-copy",
		       h->failed ? h->failed : "?", err_str(ret));
	TH_LOG("%s: migrated to %s (%s), stop-copy data %zu bytes", what,
	       where[cur], precopy ? "pre-copy" : "no pre-copy", h->final_len);
}

/* (a) never touched by the guest */
TEST_F_TIMEOUT(migrate_idle, untouched_vf_migrates_then_handshakes,
	       CASE_TIMEOUT)
{
	struct vmm_hop h = { 0 };
	struct ivf *v;
	char m[18];
	int ret;

	ret = guest_open(0);
	ASSERT_EQ(0, ret) TH_LOG("open %s (%s)", bdf_a, err_str(ret));
	idle_hop(_metadata, true, "idle VF (no handshake, no rings)", &h);
	v = &vm[cur];
	ret = ivf_reset(v);
	ivf_format_mac(v->mac, m);
	EXPECT_TRUE(!ret && v->cts && !memcmp(v->mac, vf_mac, 6))
		TH_LOG("idle VF: the guest's first VF_RESET on the destination must get CTS and the MAC (%s, %s)",
		       m, err_str(ret));
	ret = ivf_rings_setup(v, NULL);
	EXPECT_EQ(0, ret) TH_LOG("idle VF: rings set up on the destination");
	if (!ret)
		check_traffic_now(_metadata, "idle VF after migration",
				  self->rate);
	vmm_hop_free(&h);
}

/* (b) handshake and multicast done, interrupts on, no rings */
TEST_F_TIMEOUT(migrate_idle, vf_without_rings_gets_catch_up_interrupt,
	       CASE_TIMEOUT)
{
	uint16_t hash = mc_hash(mc2);
	struct vmm_hop h = { 0 };
	char cfg[1024], want[32];
	int ret, i, fired;
	struct ivf *v;

	ret = guest_open(0);
	ASSERT_EQ(0, ret) TH_LOG("open %s (%s)", bdf_a, err_str(ret));
	v = &vm[cur];
	ret = ivf_reset(v);
	if (!ret)
		ret = ivf_set_multicast(v, &hash, 1);
	if (!ret)
		ret = ivf_irq_enable(v);
	ASSERT_EQ(0, ret) TH_LOG("handshake, SET_MULTICAST, MSI-X on the source (%s)",
				 err_str(ret));
	idle_hop(_metadata, false, "VF without rings", &h);
	v = &vm[cur];
	for (fired = 0, i = 0; i < IVF_MSIX_VECTORS; i++)
		if (vfio_irq_wait(v->dev, i, i ? 0 : 500) == 1)
			fired |= 1 << i;
	EXPECT_NE(0, fired)
		TH_LOG("VF without rings: a catch-up interrupt on resume (vectors 0x%x)",
		       fired);
	ret = ivf_pf_config_lines(where[cur], cfg, sizeof(cfg), "\n");
	snprintf(want, sizeof(want), "mc 1 0x%03x", hash);
	EXPECT_TRUE(!ret && strstr(cfg, want) && strstr(cfg, "cts 1"))
		TH_LOG("VF without rings: destination pf_config must have cts 1 and \"%s\"",
		       want);
	ret = ivf_set_vlan(v, TEST_VID, true);
	EXPECT_TRUE(!ret && v->cts)
		TH_LOG("VF without rings: the guest's SET_VLAN on the destination must be acked with CTS (%s)",
		       err_str(ret));
	ret = ivf_rings_setup(v, NULL);
	EXPECT_EQ(0, ret) TH_LOG("VF without rings: rings set up on the destination");
	if (!ret)
		check_traffic_now(_metadata, "VF without rings after migration",
				  self->rate);
	vmm_hop_free(&h);
}

/* (c) VF_RESET sent, the PF's reply never read */
TEST_F_TIMEOUT(migrate_idle, unfinished_handshake_completes_on_destination,
	       CASE_TIMEOUT)
{
	uint32_t msg[IVF_VMBMEM_WORDS];
	uint16_t hash = mc_hash(mc2);
	struct vmm_hop h = { 0 };
	struct ivf *v;
	int ret, i;

	ret = guest_open(0);
	ASSERT_EQ(0, ret) TH_LOG("open %s (%s)", bdf_a, err_str(ret));
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
	ASSERT_EQ(0, ret)
		TH_LOG("unfinished handshake: VF_RESET sent and acked, reply not read (%s)",
		       err_str(ret));
	idle_hop(_metadata, true, "unfinished handshake", &h);
	v = &vm[cur];
	memset(msg, 0, sizeof(msg));
	ret = ivf_mbx_recv(v, msg, IVF_VF_RESET_REPLY_WORDS);
	EXPECT_TRUE(!ret && msg[0] == (IVF_MSG_VF_RESET | IVF_MSG_ACK) &&
		    msg[1] == (uint32_t)(vf_mac[0] | vf_mac[1] << 8 |
					 vf_mac[2] << 16 |
					 (uint32_t)vf_mac[3] << 24) &&
		    msg[2] == (uint32_t)(vf_mac[4] | vf_mac[5] << 8))
		TH_LOG("unfinished handshake: the guest must read the VF_RESET reply on the destination (0x%08x 0x%08x 0x%08x, %s)",
		       msg[0], msg[1], msg[2], err_str(ret));
	v->cts = true;
	memcpy(v->mac, vf_mac, 6);
	v->mac_valid = true;
	ret = ivf_set_multicast(v, &hash, 1);
	EXPECT_EQ(0, ret)
		TH_LOG("unfinished handshake: SET_MULTICAST then acked on the destination (%s)",
		       err_str(ret));
	vmm_hop_free(&h);
}

/* (d) only CTRL.RST written, RSTD never read */
TEST_F_TIMEOUT(migrate_idle, ctrl_rst_only_vf_completes_reset_on_destination,
	       CASE_TIMEOUT)
{
	struct vmm_hop h = { 0 };
	struct ivf *v;
	int ret;

	ret = guest_open(0);
	ASSERT_EQ(0, ret) TH_LOG("open %s (%s)", bdf_a, err_str(ret));
	ivf_wr(&vm[cur], IVF_CTRL, IVF_CTRL_RST);
	idle_hop(_metadata, false, "CTRL.RST only", &h);
	v = &vm[cur];
	ret = ivf_reset(v);
	EXPECT_TRUE(!ret && v->cts && !memcmp(v->mac, vf_mac, 6))
		TH_LOG("CTRL.RST only: the guest's reset handshake must complete on the destination (%s)",
		       err_str(ret));
	vmm_hop_free(&h);
}

/* ---- damaged streams ------------------------------------------------ */

TEST_F_TIMEOUT(migrate_idle, damaged_streams_refused_with_abi_errno,
	       CASE_TIMEOUT)
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

	/* a good stream from an idle VF */
	ret = guest_open(0);
	ASSERT_EQ(0, ret) TH_LOG("open %s (%s)", bdf_a, err_str(ret));
	idle_hop(_metadata, false, "source of the streams", &h);
	guest_close();
	s = malloc(h.final_len);
	ASSERT_NE(NULL, s);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct vfio_dev d;
		int fd = -1, werr;

		memcpy(s, h.final, h.final_len);
		s[cases[i].off] ^= cases[i].xor;
		if (cases[i].fix_crc)
			mig_packet_fix_crc(s);
		ret = vfio_dev_open_backend(&d, where[1], backend);
		EXPECT_EQ(0, ret) TH_LOG("open %s: %s", where[1], err_str(ret));
		if (ret)
			continue;
		ret = mig_set_state(&d, VFIO_DEVICE_STATE_RESUMING, &fd);
		werr = ret ? ret : mig_write_all(fd, s, h.final_len, 0);
		ret = ret ? ret : mig_set_state(&d, VFIO_DEVICE_STATE_STOP, NULL);
		EXPECT_TRUE(werr == -cases[i].err && ret)
			TH_LOG("%s: write must fail with %s (%s), RESUMING -> STOP fail (%s)",
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

/* not under traffic: a fork+exec stalls the guest for seconds */
TEST_F_TIMEOUT(migrate_idle, pfb_lists_vf0_with_the_migrating_mac,
	       CASE_TIMEOUT)
{
	char line[512], m[18];
	int ret;

	ret = ip_vf_line(pfb_if, 0, line, sizeof(line));
	ivf_format_mac(vf_mac, m);
	EXPECT_TRUE(!ret && strstr(line, m))
		TH_LOG("ip link show %s: %s (must have %s)", pfb_if,
		       ret ? "no vf 0" : line, m);
}

TEST_HARNESS_MAIN
