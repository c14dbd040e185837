// SPDX-License-Identifier: GPL-2.0
/*
 * dirty_exact: the container's dirty bitmap (type1 VFIO_IOMMU_DIRTY_PAGES
 * in pinned-page scope, fed by the driver's tracker) never misses a page
 * the VF wrote, checked against the memory itself.
 *
 * The userspace VF driver (lib/ivf.c) receives a sequenced stream from the
 * kernel peer and sends one back. Its RX refills hand out a new buffer
 * every time from a pool (lib/dtraffic.c), so buffers are armed, written
 * and retired all over memory. Buffers, pools and an idle region are filled
 * with a canary, tracking is engaged (container START, RUNNING ->
 * PRE_COPY), and then, while traffic runs in another thread, round k does
 *
 *     B_k = GET_BITMAP (reports and clears)     then
 *     S_k = snapshot,  D_k = pages that differ from S_{k-1}
 *
 * A device write that D_k shows happened after S_{k-1} began, so after
 * B_{k-1}, and before S_k ended, so before B_{k+1}: it must be in B_k or
 * B_{k+1}, and the check is D_k within B_k | B_{k+1} for every page the
 * device may write. Traffic is then stopped and the device quiesced
 * (PRE_COPY_P2P) before the last two rounds, so no DMA is in flight when
 * the last pair is compared, and the very last diff must be empty.
 * Pages only the CPU writes (TX buffers) are not the device's and are left
 * out; ring pages must be in every report (pinned while tracking).
 *
 * So the test cannot pass by accident:
 * - the idle region (mapped, never used) must never be reported once
 *   tracking is engaged: reporting everything fails;
 * - a control run without engagement must see every mapped page reported
 *   in every round (plain type1 behaviour), nothing outside them;
 * - the checker is run once with one reported page removed from a round's
 *   reports and must then find that miss;
 * - the traffic must actually have written most of the pool.
 *
 * Runs: 60 B frames; 60..1514 B with header split; jumbo 60..9000 B (LPE,
 * 9 KiB buffers across page boundaries) with and without header split.
 *
 * Usage: dirty_exact [frames-per-run [round-ms [runs]]]
 *   defaults 26000, 20, all runs; runs is a bit mask of the runs above
 * Env: IVF_VF0, IVF_PEER_NS, IVF_PEER_IF.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dirty.h"
#include "dtraffic.h"
#include "frame.h"
#include "ktap.h"
#include "mig.h"
#include "util.h"

KTAP_DEFINE_STATE();

static bool mark;

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

struct checker {
	struct dsess *s;
	size_t words, npages;
	uint64_t *dev, *idle, *rings, *cpu;
	uint64_t *b_prev, *b, *d_prev, *d, *changed_all, *tmp1, *tmp2;
	uint64_t rounds, misses, reported, changed, over, ring_missing;
	uint64_t idle_reported, idle_changed, cpu_reported;
	bool mutated, mutation_caught;
	int shown, rest_shown;
	uint64_t rest_rounds, rest_unpinned;
};

static uint64_t *bm_alloc(size_t words)
{
	uint64_t *p = calloc(words ? words : 1, 8);

	if (!p) {
		ktap_info("out of memory");
		exit(KTAP_FAIL);
	}
	return p;
}

static void ck_init(struct checker *ck, struct dsess *s)
{
	memset(ck, 0, sizeof(*ck));
	ck->s = s;
	ck->words = dmem_words(&s->m);
	ck->npages = s->m.npages;
	ck->dev = bm_alloc(ck->words);
	ck->idle = bm_alloc(ck->words);
	ck->rings = bm_alloc(ck->words);
	ck->cpu = bm_alloc(ck->words);
	ck->b_prev = bm_alloc(ck->words);
	ck->b = bm_alloc(ck->words);
	ck->d_prev = bm_alloc(ck->words);
	ck->d = bm_alloc(ck->words);
	ck->changed_all = bm_alloc(ck->words);
	ck->tmp1 = bm_alloc(ck->words);
	ck->tmp2 = bm_alloc(ck->words);
	dmem_mark_kind(&s->m, DMEM_DEV, ck->dev);
	dmem_mark_kind(&s->m, DMEM_IDLE, ck->idle);
	dmem_mark_kind(&s->m, DMEM_CPU, ck->cpu);
	dmem_mark_range(&s->m, s->v.rx_ring_dma.iova, s->v.rx_ring_dma.size,
			ck->rings);
	dmem_mark_range(&s->m, s->v.tx_ring_dma.iova, s->v.tx_ring_dma.size,
			ck->rings);
}

static void ck_free(struct checker *ck)
{
	free(ck->dev);
	free(ck->idle);
	free(ck->rings);
	free(ck->cpu);
	free(ck->b_prev);
	free(ck->b);
	free(ck->d_prev);
	free(ck->d);
	free(ck->changed_all);
	free(ck->tmp1);
	free(ck->tmp2);
}

/* which pool buffers live on a missed page, and where they were posted */
static void miss_detail(struct checker *ck, uint64_t iova)
{
	struct rxpool *rx = &ck->s->rx;
	unsigned int bs = ck->s->v.buf_size, b;
	uint64_t first, last;

	if (!rx->nbuf || iova < rx->pkt_iova ||
	    iova >= rx->pkt_iova + (uint64_t)rx->nbuf * bs)
		return;
	first = (iova - rx->pkt_iova) / bs;
	last = (iova + DIRTY_PGSIZE - 1 - rx->pkt_iova) / bs;
	for (b = first; b <= last && b < rx->nbuf; b++)
		ktap_info("      pool buffer %u (iova 0x%llx): last posted as #%llu in descriptor %u; %llu handed out so far, %llu frames received",
			  b, (unsigned long long)(rx->pkt_iova + (uint64_t)b * bs),
			  (unsigned long long)rx->buf_serial[b], rx->buf_desc[b],
			  (unsigned long long)rx->next,
			  (unsigned long long)rx->frames);
}

/* device-writable pages of @d in neither @b1 nor @b2 */
static uint64_t misses_of(struct checker *ck, const uint64_t *d,
			  const uint64_t *b1, const uint64_t *b2, bool show,
			  uint64_t round)
{
	uint64_t n = 0;
	size_t w, i;

	for (w = 0; w < ck->words; w++) {
		uint64_t miss = d[w] & ck->dev[w] & ~(b1[w] | b2[w]);

		while (miss) {
			i = w * 64 + __builtin_ctzll(miss);
			miss &= miss - 1;
			n++;
			if (show && ck->shown++ < 10) {
				const struct dmem_region *r =
					dmem_region_of(&ck->s->m, i);
				uint64_t iova = ck->s->m.lo + (i << DIRTY_PGSHIFT);

				ktap_info("MISS round %llu: page iova 0x%llx (%s +0x%llx) changed, not reported",
					  (unsigned long long)round,
					  (unsigned long long)iova,
					  r ? r->name : "?",
					  (unsigned long long)(r ? iova - r->iova : 0));
				miss_detail(ck, iova);
			}
		}
	}
	return n;
}

/*
 * Run the checker on the pair once more with one page it found covered
 * taken out of both reports: it must then call it a miss.
 */
static void mutation(struct checker *ck, const uint64_t *d, const uint64_t *b1,
		     const uint64_t *b2)
{
	uint64_t real;
	size_t w, i;

	for (w = 0; w < ck->words; w++) {
		uint64_t cand = d[w] & ck->dev[w] & ~ck->rings[w] &
				(b1[w] | b2[w]);

		if (!cand)
			continue;
		i = w * 64 + __builtin_ctzll(cand);
		real = misses_of(ck, d, b1, b2, false, 0);
		memcpy(ck->tmp1, b1, ck->words * 8);
		memcpy(ck->tmp2, b2, ck->words * 8);
		bm_clear(ck->tmp1, i);
		bm_clear(ck->tmp2, i);
		ck->mutated = true;
		ck->mutation_caught =
			misses_of(ck, d, ck->tmp1, ck->tmp2, false, 0) == real + 1;
		return;
	}
}

static int ck_round(struct checker *ck)
{
	struct dsess *s = ck->s;
	uint64_t *t;
	size_t w;
	int ret;

	/* a marker for a QEMU trace of igb_irq_write_eimc (IVF_MARK=1) */
	if (mark)
		ivf_wr(&s->v, IVF_EIMC, 0x10000 | (uint32_t)(ck->rounds & 0xffff));
	ret = dirty_get_dmem(&s->d, &s->m, ck->b);
	if (mark)
		ivf_wr(&s->v, IVF_EIMC, 0x20000 | (uint32_t)(ck->rounds & 0xffff));
	if (ret)
		return ret;
	dmem_snap_diff(&s->m, ck->d);
	ck->reported += bm_count(ck->b, ck->npages);
	for (w = 0; w < ck->words; w++) {
		uint64_t dev_changed = ck->d[w] & ck->dev[w];

		ck->changed += __builtin_popcountll(dev_changed);
		ck->changed_all[w] |= dev_changed;
		ck->over += __builtin_popcountll(ck->b[w] &
						 ~(ck->d[w] | ck->d_prev[w]));
		ck->ring_missing += __builtin_popcountll(ck->rings[w] & ~ck->b[w]);
		ck->idle_reported += __builtin_popcountll(ck->idle[w] & ck->b[w]);
		ck->idle_changed += __builtin_popcountll(ck->idle[w] & ck->d[w]);
		ck->cpu_reported += __builtin_popcountll(ck->cpu[w] & ck->b[w]);
	}
	if (ck->rounds) {
		ck->misses += misses_of(ck, ck->d_prev, ck->b_prev, ck->b, true,
					ck->rounds);
		if (!ck->mutated)
			mutation(ck, ck->d_prev, ck->b_prev, ck->b);
	}
	t = ck->b_prev;
	ck->b_prev = ck->b;
	ck->b = t;
	t = ck->d_prev;
	ck->d_prev = ck->d;
	ck->d = t;
	ck->rounds++;
	return 0;
}

/*
 * A round with the traffic held still: once the poller has run a few
 * times, every buffer the device owns must be pinned, so in the report.
 */
static int rest_round(struct checker *ck, struct dtraffic *t)
{
	struct dsess *s = ck->s;
	uint64_t p0 = dsess_dbg(s, "polls"), p;
	unsigned int owned, shown = 0;
	int ret, i;
	size_t w;

	dtraffic_pause(t);
	for (i = 0; i < 2000; i++) {
		p = dsess_dbg(s, "polls");
		if (p == UINT64_MAX || p >= p0 + 3)
			break;
		usleep(500);
	}
	memset(ck->tmp1, 0, ck->words * 8);
	owned = rxpool_mark_owned(&s->rx, ck->tmp1);
	ret = ck_round(ck);
	dtraffic_resume(t);
	if (ret)
		return ret;
	ck->rest_rounds++;
	/* ck_round swapped: this round's report is b_prev now */
	for (w = 0; w < ck->words; w++) {
		uint64_t lack = ck->tmp1[w] & ~ck->b_prev[w];

		while (lack) {
			size_t pg = w * 64 + __builtin_ctzll(lack);
			uint64_t iova = s->m.lo + ((uint64_t)pg << DIRTY_PGSHIFT);

			lack &= lack - 1;
			ck->rest_unpinned++;
			if (shown++ < 4 && ck->rest_shown++ < 12) {
				ktap_info("AT REST round %llu: page 0x%llx of a buffer the device owns is not reported (%u descriptors owned, rx_next %u)",
					  (unsigned long long)ck->rounds,
					  (unsigned long long)iova, owned,
					  s->v.rx_next);
				miss_detail(ck, iova);
			}
		}
	}
	if (ck->rest_unpinned && env_get("IVF_STOP_ON_REST")) {
		char dbg[1024];

		/* what is reported instead: pages of no buffer the device owns */
		for (w = 0; w < ck->words; w++) {
			uint64_t extra = ck->b_prev[w] & ~ck->tmp1[w] & ~ck->rings[w];

			while (extra) {
				size_t pg = w * 64 + __builtin_ctzll(extra);
				uint64_t iova = s->m.lo + ((uint64_t)pg << DIRTY_PGSHIFT);
				const struct dmem_region *r = dmem_region_of(&s->m, pg);

				extra &= extra - 1;
				ktap_info("  reported but not owned: 0x%llx (%s)",
					  (unsigned long long)iova, r ? r->name : "?");
				miss_detail(ck, iova);
			}
		}
		for (i = 0; i < (int)s->v.rx_count; i++)
			if (i < 4 || (i >= 26 && i < 38) || i >= 124)
				ktap_info("  desc %d: posted pkt 0x%llx, ring has 0x%llx 0x%llx",
					  i, (unsigned long long)s->rx.pkt[i],
					  (unsigned long long)s->v.rx_ring[i].read.pkt_addr,
					  (unsigned long long)s->v.rx_ring[i].read.hdr_addr);
		ivf_dbg_read(s->d.bdf, "dirty", dbg, sizeof(dbg));
		ktap_info("stopping at the first failed rest check: RDT %u, debugfs: %s",
			  ivf_rd(&s->v, IVF_RDT(0)), dbg);
		exit(3);
	}
	return 0;
}

static int peer_mtu(const char *ns, const char *ifname, size_t max_len)
{
	unsigned int mtu = max_len > 1514 ? (unsigned int)max_len - 14 : 1500;

	return peer_set_mtu(ns, ifname, mtu);
}

/*
 * Control: no PRE_COPY, so the driver does not track and type1 reports
 * every mapped page in every round, and nothing else.
 */
static void control(const char *bdf, struct peer *p, const char *ns,
		    const char *ifname)
{
	struct dsess_cfg sc = { .snapshots = false };
	struct dtraffic_cfg tc = {
		.min_len = 60, .max_len = 1514, .window = 32, .tx_every = 4,
		.rx_target = 2000, .drain = true,
	};
	uint64_t *b, *mapped, dbg;
	struct dtraffic t;
	struct dsess s;
	size_t words;
	int ret, i, bad = 0;

	peer_mtu(ns, ifname, 1514);
	if (dsess_open(&s, bdf, &sc)) {
		ktap_check(false, "control: session set up");
		dsess_close(&s);
		return;
	}
	words = dmem_words(&s.m);
	b = bm_alloc(words);
	mapped = s.m.mapped;
	ret = dirty_start(&s.d);
	ktap_check(!ret, "control: container dirty tracking START (%s)",
		   ret ? strerror(-ret) : "ok");
	ret = dirty_get(&s.d, s.m.lo, s.m.hi - s.m.lo, b);
	ktap_check(!ret, "control: GET_BITMAP over 0x%llx..0x%llx (%zu pages, %zu mapped)",
		   (unsigned long long)s.m.lo, (unsigned long long)s.m.hi,
		   s.m.npages, bm_count(mapped, s.m.npages));
	dtraffic_init(&t, &tc, &s.v, &s.rx, p);
	dtraffic_run(&t);
	dtraffic_print(&t, "control: ");
	ktap_check(dtraffic_clean(&t), "control: traffic without engagement is clean");
	for (i = 0; i < 2; i++) {
		ret = dirty_get_dmem(&s.d, &s.m, b);
		if (ret || memcmp(b, mapped, words * 8))
			bad++;
		ktap_info("control: round %d: %zu pages reported, %zu mapped, %zu reported outside mappings",
			  i, bm_count(b, s.m.npages), bm_count(mapped, s.m.npages),
			  bm_count_andnot(b, mapped, s.m.npages));
	}
	ktap_check(!bad, "control: without PRE_COPY every mapped page is reported in every round, nothing else");
	/* the same over one range spanning all mappings (type1 quirk, dirty.h) */
	ret = dirty_get(&s.d, s.m.lo, s.m.hi - s.m.lo, b);
	ktap_check(!ret && !bm_count_andnot(mapped, b, s.m.npages),
		   "control: one GET_BITMAP over the whole span reports every mapped page too (%zu reported outside mappings)",
		   ret ? 0 : bm_count_andnot(b, mapped, s.m.npages));
	dbg = dsess_dbg(&s, "tracking");
	ktap_check(dbg == 0 || dbg == UINT64_MAX,
		   "control: the driver is not tracking (debugfs tracking %lld)",
		   (long long)dbg);
	dtraffic_free(&t);
	free(b);
	dsess_close(&s);
}

static void one_run(const char *bdf, const struct run_cfg *rc, struct peer *p,
		    const char *ns, const char *ifname, uint64_t frames,
		    unsigned int round_ms, uint64_t *total_frames)
{
	struct dsess_cfg sc = {
		.buf_size = rc->buf_size, .hdr_split = rc->split,
		.hdr_size = 256, .snapshots = true,
		.max_frame = rc->max_len + 8 > 1522 ? rc->max_len + 8 : 1522,
	};
	struct dtraffic_cfg tc = {
		.min_len = rc->min_len, .max_len = rc->max_len, .window = 32,
		.tx_every = 4, .rx_target = frames, .drain = true,
	};
	uint64_t *posted, *first_lap, quiet, t0, polls, fwd;
	uint64_t pool_pages, pool_written, first_lap_left;
	struct checker ck;
	struct dtraffic t;
	struct dsess s;
	int ret;

	ktap_info("--- %s: %llu frames", rc->name, (unsigned long long)frames);
	if (peer_mtu(ns, ifname, rc->max_len))
		ktap_info("could not set the peer's MTU");
	if (dsess_open(&s, bdf, &sc)) {
		ktap_check(false, "%s: session set up", rc->name);
		dsess_close(&s);
		return;
	}
	dsess_canary(&s, 0x5a5a0000u ^ (uint32_t)rc->buf_size);
	dmem_snap(&s.m);
	ck_init(&ck, &s);
	ret = dsess_engage(&s);
	if (!ktap_check(!ret, "%s: tracking engaged (START, RUNNING -> PRE_COPY)",
			rc->name))
		goto out;
	ktap_check(dsess_dbg(&s, "tracking") == 1,
		   "%s: debugfs says tracking 1 (%lld)", rc->name,
		   (long long)dsess_dbg(&s, "tracking"));
	/* B_0 clears what engagement and setup left; S_0 */
	ret = ck_round(&ck);
	if (!ktap_check(!ret, "%s: first GET_BITMAP (%s)", rc->name,
			ret ? strerror(-ret) : "ok"))
		goto out;
	ck.rounds = 0;	/* nothing to check against B_0: S_0 came after it */
	ck.reported = ck.changed = ck.over = ck.ring_missing = 0;
	ck.idle_reported = ck.idle_changed = ck.cpu_reported = 0;
	ck.rest_rounds = ck.rest_unpinned = 0;
	memset(ck.changed_all, 0, ck.words * 8);
	memset(ck.d_prev, 0, ck.words * 8);

	dtraffic_init(&t, &tc, &s.v, &s.rx, p);
	t0 = now_ns();
	ret = dtraffic_start(&t);
	if (!ktap_check(!ret, "%s: traffic thread", rc->name))
		goto out_t;
	while (!__atomic_load_n(&t.done, __ATOMIC_ACQUIRE) && !ret) {
		usleep(round_ms * 1000);
		if (ck.rounds % 8 == 7) {
			ret = rest_round(&ck, &t);
			continue;
		}
		ret = ck_round(&ck);
	}
	dtraffic_stop(&t);
	/* no DMA after this: the last rounds compare a still device */
	if (!ret)
		ret = dsess_state(&s, VFIO_DEVICE_STATE_PRE_COPY_P2P);
	ktap_check(!ret, "%s: traffic stopped, device quiesced (PRE_COPY_P2P) (%s)",
		   rc->name, ret ? strerror(-ret) : "ok");
	if (!ret)
		ret = ck_round(&ck);
	if (!ret)
		ret = ck_round(&ck);
	ktap_check(!ret, "%s: %llu rounds of GET_BITMAP + snapshot (%s)",
		   rc->name, (unsigned long long)ck.rounds,
		   ret ? strerror(-ret) : "ok");
	/* after the last round d_prev is the diff taken after quiescing */
	quiet = bm_count(ck.d_prev, ck.npages);
	dtraffic_print(&t, "");
	*total_frames += t.vf_rcvd;

	ktap_check(dtraffic_clean(&t) && t.vf_rcvd >= frames,
		   "%s: %llu frames in, %llu out, none lost, corrupted or out of order",
		   rc->name, (unsigned long long)t.vf_rcvd,
		   (unsigned long long)t.peer_rcvd);
	ktap_check(ck.misses == 0,
		   "%s: no page the device wrote missing from the reports (%llu misses over %llu page changes)",
		   rc->name, (unsigned long long)ck.misses,
		   (unsigned long long)ck.changed);
	ktap_check(ck.rest_rounds && !ck.rest_unpinned,
		   "%s: with traffic held still, every buffer the device owns is reported (%llu rounds, %llu pages missing)",
		   rc->name, (unsigned long long)ck.rest_rounds,
		   (unsigned long long)ck.rest_unpinned);
	ktap_check(ck.mutated && ck.mutation_caught,
		   "%s: checker finds a miss when one reported page is taken out of a report",
		   rc->name);
	ktap_check(!quiet, "%s: nothing changed after quiescing (%llu pages)",
		   rc->name, (unsigned long long)quiet);
	ktap_check(!ck.idle_reported && !ck.idle_changed,
		   "%s: idle region (%zu pages) never reported (%llu) nor written (%llu)",
		   rc->name, (size_t)(s.m.r[s.r_idle].size / DIRTY_PGSIZE),
		   (unsigned long long)ck.idle_reported,
		   (unsigned long long)ck.idle_changed);
	ktap_check(!ck.ring_missing,
		   "%s: ring pages in every report (%llu absences)", rc->name,
		   (unsigned long long)ck.ring_missing);
	pool_pages = s.m.r[s.r_pool].size / DIRTY_PGSIZE;
	memset(ck.tmp1, 0, ck.words * 8);
	dmem_mark_range(&s.m, s.pool.iova, s.pool.size, ck.tmp1);
	pool_written = 0;
	{
		size_t w;

		for (w = 0; w < ck.words; w++)
			pool_written += __builtin_popcountll(ck.tmp1[w] &
							     ck.changed_all[w]);
	}
	ktap_check(pool_written * 2 >= pool_pages,
		   "%s: the traffic wrote %llu of %llu pool pages",
		   rc->name, (unsigned long long)pool_written,
		   (unsigned long long)pool_pages);

	/* the first lap's buffers were retired long ago: no longer pinned */
	first_lap = bm_alloc(ck.words);
	dmem_mark_range(&s.m, s.v.rx_buf_dma.iova, s.v.rx_buf_dma.size,
			first_lap);
	if (rc->split)
		dmem_mark_range(&s.m, s.v.rx_hdr_dma.iova,
				s.v.rx_hdr_dma.size, first_lap);
	first_lap_left = 0;
	{
		size_t w;

		for (w = 0; w < ck.words; w++)
			first_lap_left += __builtin_popcountll(first_lap[w] &
							       ck.b_prev[w]);
	}
	ktap_check(!first_lap_left || t.vf_rcvd < 2 * s.v.rx_count,
		   "%s: buffers of the first lap no longer reported (%llu pages)",
		   rc->name, (unsigned long long)first_lap_left);
	posted = bm_alloc(ck.words);
	rxpool_mark_posted(&s.rx, posted);
	{
		size_t w;
		uint64_t extra = 0;

		for (w = 0; w < ck.words; w++)
			extra += __builtin_popcountll(ck.b_prev[w] &
						      ~(posted[w] | ck.rings[w]));
		ktap_info("%s: after quiescing %zu pages reported (debugfs pinned %lld armed %lld), %llu of them neither ring nor a posted buffer",
			  rc->name, bm_count(ck.b_prev, ck.npages),
			  (long long)dsess_dbg(&s, "pinned"),
			  (long long)dsess_dbg(&s, "armed"),
			  (unsigned long long)extra);
	}
	{
		char dbg[1024], *q;

		if (!ivf_dbg_read(s.d.bdf, "dirty", dbg, sizeof(dbg))) {
			for (q = dbg; *q; q++)
				if (*q == '\n')
					*q = ' ';
			ktap_info("%s: debugfs dirty: %s", rc->name, dbg);
		}
	}
	polls = dsess_dbg(&s, "polls");
	fwd = dsess_dbg(&s, "forwarded_tails");
	ktap_check(polls && polls != UINT64_MAX && fwd && fwd != UINT64_MAX,
		   "%s: the doorbell shadow was in the path (debugfs polls %lld, forwarded_tails %lld)",
		   rc->name, (long long)polls, (long long)fwd);
	ktap_info("%s: %llu rounds in %.1f s; per round %.1f pages reported, %.1f device pages changed; over-reported %llu of %llu (%.1f%%); tx buffer pages reported %llu; mapped %zu pages",
		  rc->name, (unsigned long long)ck.rounds, (now_ns() - t0) / 1e9,
		  ck.rounds ? (double)ck.reported / ck.rounds : 0,
		  ck.rounds ? (double)ck.changed / ck.rounds : 0,
		  (unsigned long long)ck.over, (unsigned long long)ck.reported,
		  ck.reported ? 100.0 * ck.over / ck.reported : 0,
		  (unsigned long long)ck.cpu_reported,
		  bm_count(s.m.mapped, s.m.npages));
	free(posted);
	free(first_lap);
out_t:
	dtraffic_free(&t);
out:
	ck_free(&ck);
	dsess_close(&s);
}

int main(int argc, char **argv)
{
	const char *bdf = env_need("IVF_VF0");
	const char *ns = env_need("IVF_PEER_NS");
	const char *ifname = env_need("IVF_PEER_IF");
	uint64_t frames = argc > 1 ? strtoull(argv[1], NULL, 0) : 26000;
	unsigned int round_ms = argc > 2 ? strtoul(argv[2], NULL, 0) : 20;
	unsigned long mask = argc > 3 ? strtoul(argv[3], NULL, 0) : ~0ul;
	uint64_t total = 0, t0 = now_ns();
	struct vfio_dev d;
	uint64_t flags = 0, pgsizes = 0, maxbm = 0;
	struct peer p;
	size_t i;
	int ret;

	ktap_header("dirty_exact: every page the VF writes is reported");
	mark = env_get("IVF_MARK") != NULL;
	ret = vfio_dev_open(&d, bdf);
	if (!ktap_check(!ret, "open %s", bdf))
		ktap_finish();
	ret = dirty_caps(&d, &pgsizes, &maxbm);
	ktap_check(!ret && (pgsizes & DIRTY_PGSIZE),
		   "container offers dirty tracking with 4 KiB pages (pgsizes 0x%llx, max bitmap %llu bytes)",
		   (unsigned long long)pgsizes, (unsigned long long)maxbm);
	ret = mig_flags(&d, &flags);
	vfio_dev_close(&d);
	if (ret || !(flags & VFIO_MIGRATION_PRE_COPY))
		ktap_skip_all("no PRE_COPY on %s (%s, flags 0x%llx)", bdf,
			      ret ? strerror(-ret) : "ok",
			      (unsigned long long)flags);

	ret = peer_open(&p, ns, ifname, FRAME_ETHERTYPE);
	if (!ktap_check(!ret, "peer socket on %s in %s", ifname, ns))
		ktap_finish();
	control(bdf, &p, ns, ifname);
	for (i = 0; i < sizeof(runs) / sizeof(runs[0]); i++)
		if (mask & (1ul << i))
			one_run(bdf, &runs[i], &p, ns, ifname, frames, round_ms, &total);
	peer_mtu(ns, ifname, 1514);
	ktap_info("%llu frames received by the VF while tracking, in %.1f s",
		  (unsigned long long)total, (now_ns() - t0) / 1e9);
	peer_close(&p);
	ktap_finish();
}
