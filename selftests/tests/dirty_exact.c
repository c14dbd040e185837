// SPDX-License-Identifier: GPL-2.0
/*
 * dirty_exact: the dirty reports never miss a page the VF wrote, checked
 * against the memory itself (lib/dcheck.h). The variants are where the
 * reports come from:
 *   container  the container's dirty bitmap (type1 VFIO_IOMMU_DIRTY_PAGES
 *              in pinned-page scope, fed by the driver's tracker)
 *   cdev_log   the device's DMA logging (log_ops), through its cdev and
 *              iommufd
 *   group_log  the device's DMA logging, through the group and a container
 * A variant the running kernel cannot do skips, saying why.
 *
 * The userspace VF driver (lib/ivf.c) receives a sequenced stream from the
 * kernel peer and sends one back. Its RX refills hand out a new buffer
 * every time from a pool (lib/dtraffic.c), so buffers are armed, written
 * and retired all over memory. Buffers, pools and an idle region are filled
 * with a canary, tracking is engaged (START, RUNNING -> PRE_COPY), and
 * rounds of reports + snapshot run while the traffic runs in another
 * thread; every 8th round holds the traffic still and checks that every
 * buffer the device owns is in the report. Traffic is then stopped and the
 * device quiesced (PRE_COPY_P2P) before the last two rounds, so no DMA is
 * in flight when the last pair is compared.
 *
 * So the test cannot pass by accident:
 * - the idle region (mapped, never used) must never be reported once
 *   tracking is engaged: reporting everything fails;
 * - a control run without engagement must see every mapped page reported
 *   in every round (plain type1 behaviour), nothing outside them;
 * - the checker is run once with one reported page taken out of a round's
 *   reports and must then find that miss; the rest check likewise with
 *   one owned buffer page taken out of a report;
 * - the traffic must have written most of the pool.
 *
 * Each case on the fixture's peer and a session of its own; before it the
 * fixture checks that the backend offers dirty tracking in 4 KiB pages
 * (and skips without PRE_COPY):
 *   untracked_container_reports_every_mapped_page
 *       the control run (type1 only: with DMA logging nothing is reported
 *       before START at all, dirty_log checks that)
 *   every_write_reported_60b_frames
 *       60 B frames, one buffer
 *   every_write_reported_1514b_header_split
 *       60..1514 B frames, header split
 *   every_write_reported_jumbo
 *       jumbo 60..9000 B (LPE, 9 KiB buffers across page boundaries), one
 *       buffer
 *   every_write_reported_jumbo_header_split
 *       jumbo 60..9000 B, header split
 *
 * Usage: dirty_exact [harness options] [frames-per-run [round-ms [runs]]]
 * (frames-per-run also from IVF_EXACT_FRAMES; default 26000)
 *   defaults 26000, 20, all runs; runs is a bit mask of the every_write
 *   cases above (the others skip)
 * Env: IVF_VF0, IVF_PEER_NS, IVF_PEER_IF; IVF_MARK=1 writes EIMC before
 *   each report (a marker for a QEMU trace of igb_irq_write_eimc).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dcheck.h"
#include "dirty.h"
#include "dtraffic.h"
#include "fixture.h"
#include "frame.h"
#include "mig.h"
#include "util.h"

#include "kselftest_harness.h"
#include "backends.h"

/*
 * A run of 26000 frames takes 15-60 s on TCG; the sanitizer kernel runs
 * 4000 frames (IVF_EXACT_FRAMES) about twenty times slower.
 */
#define CASE_TIMEOUT	600

/* the command line's: frames per run, ms per round, runs to do */
static uint64_t frames = 26000;
static unsigned int round_ms = 20;
static unsigned long run_mask = ~0ul;

struct run_cfg {
	const char *name;
	size_t min_len, max_len;
	unsigned int buf_size;
	bool split;
};

static const struct run_cfg runs[] = {
	{ "60 B frames, one buffer",		60,   60, 2048, false },
	{ "60..1514 B frames, header split",	60, 1514, 2048, true },
	{ "jumbo 60..9000 B, one buffer",	60, 9000, 9216, false },
	{ "jumbo 60..9000 B, header split",	60, 9000, 9216, true },
};

static int peer_mtu(const char *ns, const char *ifname, size_t max_len)
{
	unsigned int mtu = max_len > 1514 ? (unsigned int)max_len - 14 : 1500;

	return peer_set_mtu(ns, ifname, mtu);
}

FIXTURE(dirty_exact) {
	const char *bdf, *ns, *ifname;
	struct vfio_backend backend;
	struct dcase dc;
	uint64_t *b;
};

/*
 * container: type1 group/container, its dirty pages
 * cdev_log: the device's cdev on iommufd, DMA logging
 * group_log: group/container, DMA logging
 */
IVF_BACKENDS_ALL(dirty_exact);

FIXTURE_SETUP(dirty_exact)
{
	uint64_t flags = 0, pgsizes = 0, maxbm = 0;
	struct vfio_dev d;
	const char *why;
	bool log;
	int ret;

	self->backend = variant->backend;
	why = vf_peer_unusable(&self->bdf, &self->ns, &self->ifname, NULL,
			       &self->backend);
	if (why)
		SKIP(return, "%s", why);
	ret = vfio_dev_open_backend(&d, self->bdf, &self->backend);
	ASSERT_EQ(0, ret) TH_LOG("open %s: %s", self->bdf, strerror(-ret));
	log = d.dirty_log;
	ret = log ? dirty_log_probe(&d) : 0;
	if (ret) {
		vfio_dev_close(&d);
		SKIP(return, "no DMA logging on this kernel (%s)",
		     strerror(-ret));
	}
	ret = dirty_caps(&d, &pgsizes, &maxbm);
	TH_LOG("%s offers dirty tracking: pgsizes 0x%llx, max bitmap %llu bytes (%s)",
	       log ? "the device's DMA logging" : "the container",
	       (unsigned long long)pgsizes, (unsigned long long)maxbm,
	       strerror(-ret));
	EXPECT_TRUE(!ret && (pgsizes & DIRTY_PGSIZE))
		TH_LOG("dirty tracking with 4 KiB pages must be offered");
	ret = mig_flags(&d, &flags);
	vfio_dev_close(&d);
	if (ret || !(flags & VFIO_MIGRATION_PRE_COPY))
		SKIP(return, "no PRE_COPY on %s (%s, flags 0x%llx)", self->bdf,
		     strerror(-ret), (unsigned long long)flags);
	ret = peer_open(&self->dc.peer, self->ns, self->ifname,
			FRAME_ETHERTYPE);
	ASSERT_EQ(0, ret)
		TH_LOG("peer socket on %s in %s: %s", self->ifname, self->ns,
		       strerror(-ret));
	self->dc.peer_open = true;
}

FIXTURE_TEARDOWN(dirty_exact)
{
	bool peer = self->dc.peer_open;

	dcase_free(&self->dc);
	free(self->b);
	if (peer)
		peer_mtu(self->ns, self->ifname, 1514);
}

/* the case's session; the teardown closes it */
static int sess_open(FIXTURE_DATA(dirty_exact) *self, struct dsess_cfg *sc)
{
	int ret;

	sc->backend = self->backend;
	ret = dsess_open(&self->dc.s, self->bdf, sc);
	self->dc.sess_open = true;
	return ret;
}

/*
 * Control: no PRE_COPY, so the driver does not track and type1 reports
 * every mapped page in every round, and nothing else.
 */
TEST_F_TIMEOUT(dirty_exact, untracked_container_reports_every_mapped_page,
	       CASE_TIMEOUT)
{
	struct dsess_cfg sc = { .snapshots = false };
	struct dtraffic_cfg tc = {
		.min_len = 60, .max_len = 1514, .window = 32, .tx_every = 4,
		.rx_target = 2000, .drain = true, .stall_ms = 300,
	};
	struct dtraffic *t = &self->dc.t;
	struct dsess *s = &self->dc.s;
	uint64_t *b, *mapped, dbg;
	size_t words;
	int ret, i, bad = 0;

	if (self->backend.dirty == VFIO_DIRTY_LOG)
		SKIP(return, "DMA logging: no control run (before START nothing is reported at all: dirty_log checks that)");
	peer_mtu(self->ns, self->ifname, 1514);
	ret = sess_open(self, &sc);
	ASSERT_EQ(0, ret)
		TH_LOG("control: session set up: %s", strerror(-ret));
	words = dmem_words(&s->m);
	b = self->b = calloc(words, 8);
	ASSERT_NE(NULL, b);
	mapped = s->m.mapped;
	ret = dirty_start(&s->d);
	EXPECT_EQ(0, ret)
		TH_LOG("control: container dirty tracking START: %s",
		       strerror(-ret));
	ret = dirty_get_dmem(&s->d, &s->m, b);
	TH_LOG("control: GET_BITMAP of %d mappings, 0x%llx..0x%llx (%zu mapped pages): %s",
	       s->m.n, (unsigned long long)s->m.lo,
	       (unsigned long long)s->m.hi, bm_count(mapped, s->m.npages),
	       strerror(-ret));
	EXPECT_EQ(0, ret);
	dtraffic_init(t, &tc, &s->v, &s->rx, &self->dc.peer);
	self->dc.t_init = true;
	dtraffic_run(t);
	dtraffic_print(t, "control: ");
	EXPECT_TRUE(dtraffic_clean(t))
		TH_LOG("control: traffic without engagement must be clean");
	for (i = 0; i < 2; i++) {
		ret = dirty_get_dmem(&s->d, &s->m, b);
		if (ret || memcmp(b, mapped, words * 8))
			bad++;
		TH_LOG("control: round %d: %zu pages reported, %zu mapped, %zu reported outside mappings",
		       i, bm_count(b, s->m.npages),
		       bm_count(mapped, s->m.npages),
		       bm_count_andnot(b, mapped, s->m.npages));
	}
	EXPECT_EQ(0, bad)
		TH_LOG("control: without PRE_COPY every mapped page must be reported in every round, nothing else");
	/* the same over one range spanning all mappings (type1 quirk, dirty.h) */
	ret = dirty_get(&s->d, s->m.lo, s->m.hi - s->m.lo, b);
	TH_LOG("control: one GET_BITMAP over the whole span: %zu reported outside mappings (%s)",
	       ret ? 0 : bm_count_andnot(b, mapped, s->m.npages),
	       strerror(-ret));
	EXPECT_TRUE(!ret && !bm_count_andnot(mapped, b, s->m.npages))
		TH_LOG("control: it must report every mapped page too");
	dbg = dsess_dbg(s, "tracking");
	EXPECT_EQ(0ull, dbg)
		TH_LOG("control: the driver must not track (debugfs tracking %lld)",
		       (long long)dbg);
}

static void one_run(struct __test_metadata *_metadata,
		    FIXTURE_DATA(dirty_exact) *self, unsigned int run)
{
	const struct run_cfg *rc = &runs[run];
	struct dsess_cfg sc = {
		.buf_size = rc->buf_size, .hdr_split = rc->split,
		.hdr_size = 256, .snapshots = true,
		.max_frame = rc->max_len + 8 > 1522 ? rc->max_len + 8 : 1522,
	};
	struct dtraffic_cfg tc = {
		.min_len = rc->min_len, .max_len = rc->max_len, .window = 32,
		.tx_every = 4, .rx_target = frames, .drain = true,
		.stall_ms = 300,
	};
	uint64_t *posted, quiet = 0, t0, polls, fwd, pool_pages, extra = 0;
	uint64_t first_lap_left, written, tracking;
	struct dcheck *ck = &self->dc.ck;
	struct dtraffic *t = &self->dc.t;
	struct dsess *s = &self->dc.s;
	char dbg[1024], *q;
	size_t w;
	int ret;

	if (!(run_mask & (1ul << run)))
		SKIP(return, "not in the runs mask 0x%lx", run_mask);
	TH_LOG("--- %s: %llu frames", rc->name, (unsigned long long)frames);
	if (peer_mtu(self->ns, self->ifname, rc->max_len))
		TH_LOG("could not set the peer's MTU");
	ret = sess_open(self, &sc);
	if (!ret) {
		ret = dcheck_init(ck, s, rc->name);
		self->dc.ck_init = !ret;
	}
	ASSERT_EQ(0, ret)
		TH_LOG("%s: session set up: %s", rc->name, strerror(-ret));
	dsess_canary(s, 0x5a5a0000u ^ (uint32_t)rc->buf_size);
	ret = dsess_engage(s);
	ASSERT_EQ(0, ret)
		TH_LOG("%s: tracking engaged (START, RUNNING -> PRE_COPY): %s",
		       rc->name, strerror(-ret));
	tracking = dsess_dbg(s, "tracking");
	EXPECT_EQ(1ull, tracking)
		TH_LOG("%s: debugfs must say tracking 1 (%lld)", rc->name,
		       (long long)tracking);
	ret = dcheck_begin(ck);
	ASSERT_EQ(0, ret)
		TH_LOG("%s: first report: %s", rc->name, strerror(-ret));

	dtraffic_init(t, &tc, &s->v, &s->rx, &self->dc.peer);
	self->dc.t_init = true;
	t0 = now_ns();
	ret = dtraffic_start(t);
	ASSERT_EQ(0, ret)
		TH_LOG("%s: traffic thread: %s", rc->name, strerror(-ret));
	ret = dcheck_follow(ck, t, round_ms);
	/* no DMA after this: the last rounds compare a still device */
	if (!ret)
		ret = dsess_state(s, VFIO_DEVICE_STATE_PRE_COPY_P2P);
	EXPECT_EQ(0, ret)
		TH_LOG("%s: traffic stopped, device quiesced (PRE_COPY_P2P): %s",
		       rc->name, strerror(-ret));
	if (!ret)
		ret = dcheck_end(ck, &quiet);
	TH_LOG("%s: %llu rounds of reports + snapshot in %.1f s (%s)",
	       rc->name, (unsigned long long)ck->rounds,
	       (now_ns() - t0) / 1e9, strerror(-ret));
	EXPECT_EQ(0, ret);
	dtraffic_print(t, "");

	TH_LOG("%s: %llu frames in, %llu out", rc->name,
	       (unsigned long long)t->vf_rcvd,
	       (unsigned long long)t->peer_rcvd);
	EXPECT_TRUE(!t->vf_bad && !t->vf_dup && !t->peer_bad &&
		    !t->rx->errors && t->vf_rcvd + t->vf_lost >= frames &&
		    t->peer_rcvd == t->vf_sent)
		TH_LOG("%s: all frames must pass, none corrupted or duplicated",
		       rc->name);
	if (t->vf_lost)
		TH_LOG("%s: %llu frames to the VF lost (%.2f%%): dropped by the device for lack of descriptors while the shadowed tail waited for the poller",
		       rc->name, (unsigned long long)t->vf_lost,
		       100.0 * t->vf_lost / (t->vf_lost + t->vf_rcvd));
	TH_LOG("%s: %llu misses over %llu page changes", rc->name,
	       (unsigned long long)ck->misses,
	       (unsigned long long)ck->changed);
	EXPECT_EQ(0ull, ck->misses)
		TH_LOG("%s: no page the device wrote may be missing from the reports",
		       rc->name);
	/*
	 * DMA logging reports what the device may write; type1 (debugfs
	 * pulsing 1) what it wrote, so owned buffers and rings are not in
	 * every report there.
	 */
	if (!ck->pulse) {
		TH_LOG("%s: with traffic held still %llu rounds, %llu owned buffer pages missing",
		       rc->name, (unsigned long long)ck->rest_rounds,
		       (unsigned long long)ck->rest_unreported);
		EXPECT_TRUE(ck->rest_rounds && !ck->rest_unreported)
			TH_LOG("%s: every buffer the device owns must be reported",
			       rc->name);
	}
	EXPECT_TRUE(ck->mutated && ck->mutation_caught)
		TH_LOG("%s: the checker must find a miss when one reported page is taken out of a report",
		       rc->name);
	if (!ck->pulse) {
		EXPECT_TRUE(ck->rest_mutated && ck->rest_mutation_caught)
			TH_LOG("%s: the rest check must find an owned buffer page taken out of a report",
			       rc->name);
	} else {
		TH_LOG("%s: pulsing: %lld pages pulsed", rc->name,
		       (long long)dsess_dbg(s, "pulses"));
		EXPECT_LT(0ull, dsess_dbg(s, "pulses"));
	}
	EXPECT_EQ(0ull, quiet)
		TH_LOG("%s: nothing may change after quiescing (%llu pages)",
		       rc->name, (unsigned long long)quiet);
	TH_LOG("%s: idle region (%zu pages): reported %llu, written %llu",
	       rc->name, (size_t)(s->idle.size / DIRTY_PGSIZE),
	       (unsigned long long)ck->idle_reported,
	       (unsigned long long)ck->idle_changed);
	EXPECT_TRUE(!ck->idle_reported && !ck->idle_changed)
		TH_LOG("%s: the idle region must never be reported nor written",
		       rc->name);
	if (!ck->pulse) {
		EXPECT_EQ(0ull, ck->ring_missing)
			TH_LOG("%s: ring pages must be in every report (%llu absences)",
			       rc->name, (unsigned long long)ck->ring_missing);
	}
	pool_pages = s->pool.size / DIRTY_PGSIZE;
	written = dcheck_region_written(ck, s->r_pool);
	TH_LOG("%s: the traffic wrote %llu of %llu pool pages", rc->name,
	       (unsigned long long)written, (unsigned long long)pool_pages);
	EXPECT_LE(pool_pages, written * 2)
		TH_LOG("%s: it must write at least half of them", rc->name);

	/* the first lap's buffers were retired long ago: no longer reported */
	memset(ck->tmp1, 0, ck->words * 8);
	dmem_mark_range(&s->m, s->v.rx_buf_dma.iova, s->v.rx_buf_dma.size,
			ck->tmp1);
	if (rc->split)
		dmem_mark_range(&s->m, s->v.rx_hdr_dma.iova,
				s->v.rx_hdr_dma.size, ck->tmp1);
	first_lap_left = 0;
	for (w = 0; w < ck->words; w++)
		first_lap_left += __builtin_popcountll(ck->tmp1[w] &
						       dcheck_last_report(ck)[w]);
	EXPECT_TRUE(!first_lap_left || t->vf_rcvd < 2 * s->v.rx_count)
		TH_LOG("%s: buffers of the first lap must no longer be reported (%llu pages)",
		       rc->name, (unsigned long long)first_lap_left);
	posted = calloc(ck->words, 8);
	ASSERT_NE(NULL, posted);
	rxpool_mark_posted(&s->rx, posted);
	for (w = 0; w < ck->words; w++)
		extra += __builtin_popcountll(dcheck_last_report(ck)[w] &
					      ~(posted[w] | ck->rings[w]));
	TH_LOG("%s: after quiescing %zu pages reported (debugfs armed %lld), %llu of them neither ring nor a posted buffer",
	       rc->name, bm_count(dcheck_last_report(ck), ck->npages),
	       (long long)dsess_dbg(s, "armed"), (unsigned long long)extra);
	free(posted);
	if (!ivf_dbg_read(s->d.bdf, "dirty", dbg, sizeof(dbg))) {
		for (q = dbg; *q; q++)
			if (*q == '\n')
				*q = ' ';
		TH_LOG("%s: debugfs dirty: %s", rc->name, dbg);
	}
	polls = dsess_dbg(s, "polls");
	fwd = dsess_dbg(s, "forwarded_tails");
	TH_LOG("%s: debugfs polls %lld, forwarded_tails %lld", rc->name,
	       (long long)polls, (long long)fwd);
	EXPECT_TRUE(polls && polls != UINT64_MAX && fwd && fwd != UINT64_MAX)
		TH_LOG("%s: the doorbell shadow must be in the path", rc->name);
	dcheck_print(ck);
	TH_LOG("%s: mapped %zu pages; %llu frames received by the VF while tracking (%llu lost)",
	       rc->name, bm_count(s->m.mapped, s->m.npages),
	       (unsigned long long)t->vf_rcvd, (unsigned long long)t->vf_lost);
}

TEST_F_TIMEOUT(dirty_exact, every_write_reported_60b_frames, CASE_TIMEOUT)
{
	one_run(_metadata, self, 0);
}

TEST_F_TIMEOUT(dirty_exact, every_write_reported_1514b_header_split,
	       CASE_TIMEOUT)
{
	one_run(_metadata, self, 1);
}

TEST_F_TIMEOUT(dirty_exact, every_write_reported_jumbo, CASE_TIMEOUT)
{
	one_run(_metadata, self, 2);
}

TEST_F_TIMEOUT(dirty_exact, every_write_reported_jumbo_header_split,
	       CASE_TIMEOUT)
{
	one_run(_metadata, self, 3);
}

/*
 * The harness's options, then [frames-per-run [round-ms [runs]]];
 * frames-per-run also from IVF_EXACT_FRAMES. harness_own_args()
 * finds them anywhere among the options.
 */
int main(int argc, char **argv)
{
	const char *fenv = env_get("IVF_EXACT_FRAMES");
	char **args;
	int n;

	if (fenv)
		frames = strtoull(fenv, NULL, 0);
	n = harness_own_args(argc, argv, &args);
	if (n > 0)
		frames = strtoull(args[0], NULL, 0);
	if (n > 1)
		round_ms = strtoul(args[1], NULL, 0);
	if (n > 2)
		run_mask = strtoul(args[2], NULL, 0);
	return test_harness_run(argc, argv);
}
