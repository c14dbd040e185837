// SPDX-License-Identifier: GPL-2.0
/*
 * The dirty page checker (see dcheck.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dcheck.h"
#include "ktap.h"
#include "util.h"

static uint64_t *bm_alloc(size_t words)
{
	return calloc(words ? words : 1, 8);
}

int dcheck_init(struct dcheck *ck, struct dsess *s, const char *name)
{
	memset(ck, 0, sizeof(*ck));
	ck->s = s;
	ck->name = name;
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
	ck->owned = bm_alloc(ck->words);
	ck->mut1 = bm_alloc(ck->words);
	ck->mut2 = bm_alloc(ck->words);
	ck->tmp1 = bm_alloc(ck->words);
	ck->late = bm_alloc(ck->words);
	if (!ck->dev || !ck->idle || !ck->rings || !ck->cpu || !ck->b_prev ||
	    !ck->b || !ck->d_prev || !ck->d || !ck->changed_all ||
	    !ck->owned || !ck->mut1 || !ck->mut2 || !ck->tmp1 || !ck->late) {
		dcheck_free(ck);
		return -ENOMEM;
	}
	dmem_mark_kind(&s->m, DMEM_DEV, ck->dev);
	dmem_mark_kind(&s->m, DMEM_IDLE, ck->idle);
	dmem_mark_kind(&s->m, DMEM_CPU, ck->cpu);
	dcheck_rings_from_ivf(ck);
	ck->mark = env_get("IVF_MARK") != NULL;
	return 0;
}

void dcheck_rings_from_ivf(struct dcheck *ck)
{
	struct dsess *s = ck->s;

	memset(ck->rings, 0, ck->words * 8);
	dmem_mark_range(&s->m, s->v.rx_ring_dma.iova, s->v.rx_ring_dma.size,
			ck->rings);
	dmem_mark_range(&s->m, s->v.tx_ring_dma.iova, s->v.tx_ring_dma.size,
			ck->rings);
}

void dcheck_free(struct dcheck *ck)
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
	free(ck->owned);
	free(ck->mut1);
	free(ck->mut2);
	free(ck->tmp1);
	free(ck->late);
	memset(ck, 0, sizeof(*ck));
}

/* which pool buffers live on a page, and where they were posted */
static void detail(struct dcheck *ck, uint64_t iova)
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
		ktap_info("%s:     pool buffer %u (iova 0x%llx): last posted as #%llu in descriptor %u; %llu handed out so far",
			  ck->name, b,
			  (unsigned long long)(rx->pkt_iova + (uint64_t)b * bs),
			  (unsigned long long)rx->buf_serial[b], rx->buf_desc[b],
			  (unsigned long long)rx->next);
}

static void show_page(struct dcheck *ck, const char *what, size_t pg)
{
	const struct dmem_region *r = dmem_region_of(&ck->s->m, pg);
	uint64_t iova = ck->s->m.lo + ((uint64_t)pg << DIRTY_PGSHIFT);

	ktap_info("%s: %s round %llu: page 0x%llx (%s +0x%llx)", ck->name, what,
		  (unsigned long long)ck->rounds, (unsigned long long)iova,
		  r ? r->name : "?",
		  (unsigned long long)(r ? iova - r->iova : 0));
	detail(ck, iova);
}

/*
 * device-writable pages of @d in neither @b1 nor @b2; @late: added there
 * instead of shown (pulsing)
 */
static uint64_t misses_of_late(struct dcheck *ck, const uint64_t *d,
			       const uint64_t *b1, const uint64_t *b2,
			       bool show, uint64_t *late)
{
	uint64_t n = 0;
	size_t w, i;

	for (w = 0; w < ck->words; w++) {
		uint64_t miss = d[w] & ck->dev[w] & ~(b1[w] | b2[w]);

		if (late) {
			late[w] |= miss;
			n += __builtin_popcountll(miss);
			continue;
		}

		while (miss) {
			i = w * 64 + __builtin_ctzll(miss);
			miss &= miss - 1;
			n++;
			if (show && ck->shown++ < 10)
				show_page(ck, "MISS (changed, not reported)", i);
		}
	}
	return n;
}

static uint64_t misses_of(struct dcheck *ck, const uint64_t *d,
			  const uint64_t *b1, const uint64_t *b2, bool show)
{
	return misses_of_late(ck, d, b1, b2, show, NULL);
}

/*
 * Run the checker on the pair once more with one page it found covered
 * taken out of both reports: it must then find exactly one more miss.
 */
static void mutation(struct dcheck *ck, const uint64_t *d, const uint64_t *b1,
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
		real = misses_of(ck, d, b1, b2, false);
		memcpy(ck->mut1, b1, ck->words * 8);
		memcpy(ck->mut2, b2, ck->words * 8);
		bm_clear(ck->mut1, i);
		bm_clear(ck->mut2, i);
		ck->mutated = true;
		ck->mutation_caught =
			misses_of(ck, d, ck->mut1, ck->mut2, false) == real + 1;
		return;
	}
}

static int get(struct dcheck *ck, uint64_t *bm)
{
	struct dsess *s = ck->s;
	int ret;

	/* a marker for a QEMU trace of igb_irq_write_eimc */
	if (ck->mark)
		ivf_wr(&s->v, IVF_EIMC, (uint32_t)(ck->rounds & 0x7));
	ret = dirty_get_dmem(&s->d, &s->m, bm);
	return ret;
}

int dcheck_round(struct dcheck *ck)
{
	uint64_t *t;
	size_t w;
	int ret;

	ret = get(ck, ck->b);
	if (ret)
		return ret;
	dmem_snap_diff(&ck->s->m, ck->d);
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
	if (ck->pulse) {
		for (w = 0; w < ck->words; w++) {
			ck->late_resolved +=
				__builtin_popcountll(ck->late[w] & ck->b[w]);
			ck->late[w] &= ~ck->b[w];
		}
	}
	if (ck->rounds && ck->pulse) {
		ck->late_n += misses_of_late(ck, ck->d_prev, ck->b_prev, ck->b,
					     false, ck->late);
		if (!ck->mutated)
			mutation(ck, ck->d_prev, ck->b_prev, ck->b);
	} else if (ck->rounds) {
		ck->misses += misses_of(ck, ck->d_prev, ck->b_prev, ck->b, true);
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

int dcheck_begin(struct dcheck *ck)
{
	int ret = get(ck, ck->b_prev);

	if (ret)
		return ret;
	dmem_snap(&ck->s->m);
	ck->rounds = ck->misses = ck->reported = ck->changed = ck->over = 0;
	ck->ring_missing = ck->idle_reported = ck->idle_changed = 0;
	ck->cpu_reported = ck->rest_rounds = ck->rest_unreported = 0;
	ck->shown = ck->rest_shown = 0;
	ck->rest_mutated = ck->rest_mutation_caught = false;
	ck->pulse = dsess_dbg(ck->s, "pulsing") == 1;
	ck->late_n = ck->late_resolved = 0;
	memset(ck->late, 0, ck->words * 8);
	memset(ck->changed_all, 0, ck->words * 8);
	memset(ck->d_prev, 0, ck->words * 8);
	return 0;
}

int dcheck_traffic(struct dcheck *ck, struct dtraffic *t, uint64_t frames)
{
	int ret;

	t->c.rx_target = t->vf_rcvd + t->vf_lost + frames;
	ret = dtraffic_start(t);
	if (ret) {
		dtraffic_stop(t);
		return ret;
	}
	return dcheck_follow(ck, t, 20);
}

int dcheck_follow(struct dcheck *ck, struct dtraffic *t, unsigned int ms)
{
	int ret = 0;

	while (!ret && !__atomic_load_n(&t->done, __ATOMIC_ACQUIRE)) {
		usleep(ms * 1000);
		if (ck->rounds % 8 == 7)
			ret = dcheck_rest_round(ck, t);
		else
			ret = dcheck_round(ck);
	}
	dtraffic_stop(t);
	/* the device writes the ring last: see dtraffic_flush() */
	if (!ret)
		dtraffic_flush(t, 4);
	return ret;
}

void dcase_free(struct dcase *c)
{
	if (c->t_init)
		dtraffic_free(&c->t);
	c->t_init = false;
	if (c->ck_init)
		dcheck_free(&c->ck);
	c->ck_init = false;
	if (c->sess_open)
		dsess_close(&c->s);
	c->sess_open = false;
	if (c->peer_open)
		peer_close(&c->peer);
	c->peer_open = false;
}

bool dsess_wait_polls(struct dsess *s, unsigned int n)
{
	uint64_t p0 = dsess_dbg(s, "polls"), p;
	int i;

	for (i = 0; i < 4000; i++) {
		p = dsess_dbg(s, "polls");
		if (p == UINT64_MAX)
			return false;
		if (p >= p0 + n)
			return true;
		usleep(250);
	}
	return false;
}

/* pages of @owned missing from @report; shown when @show */
static uint64_t unreported(struct dcheck *ck, const uint64_t *owned,
			   const uint64_t *report, unsigned int nowned,
			   bool show)
{
	struct dsess *s = ck->s;
	uint64_t n = 0;
	unsigned int shown = 0;
	size_t w;

	for (w = 0; w < ck->words; w++) {
		uint64_t lack = owned[w] & ~report[w];

		while (lack) {
			size_t pg = w * 64 + __builtin_ctzll(lack);

			lack &= lack - 1;
			n++;
			if (show && shown++ < 4 && ck->rest_shown++ < 12) {
				ktap_info("%s: at rest, %u descriptors owned by the device, rx_next %u; debugfs armed %lld",
					  ck->name, nowned, s->v.rx_next,
					  (long long)dsess_dbg(s, "armed"));
				show_page(ck, "NOT REPORTED (buffer the device owns)", pg);
			}
		}
	}
	return n;
}

/*
 * Once after each dcheck_begin(): again with one owned page taken out of
 * the report; the check must then find exactly one more page missing.
 */
static void rest_mutation(struct dcheck *ck, const uint64_t *report,
			  uint64_t real)
{
	size_t w;

	for (w = 0; w < ck->words; w++) {
		uint64_t cand = ck->owned[w] & report[w];

		if (!cand)
			continue;
		memcpy(ck->mut1, report, ck->words * 8);
		bm_clear(ck->mut1, w * 64 + __builtin_ctzll(cand));
		ck->rest_mutated = true;
		ck->rest_mutation_caught =
			unreported(ck, ck->owned, ck->mut1, 0, false) == real + 1;
		return;
	}
}

/*
 * The owned buffers get their own bitmap: dcheck_round() runs the
 * checker's self-check, which once overwrote a shared scratch bitmap
 * here and turned the previous report into "owned" pages.
 */
int dcheck_rest_round(struct dcheck *ck, struct dtraffic *t)
{
	struct dsess *s = ck->s;
	unsigned int owned;
	uint64_t lack;
	int ret;

	dtraffic_pause(t);
	dsess_wait_polls(s, 3);
	memset(ck->owned, 0, ck->words * 8);
	owned = rxpool_mark_owned(&s->rx, ck->owned);
	ret = dcheck_round(ck);
	/*
	 * type1 (pulsing): what the device owns is reported once it is
	 * written. DMA logging reports it while the device owns it.
	 */
	if (!ret && !ck->pulse) {
		ck->rest_rounds++;
		/* dcheck_round swapped: this round's report is b_prev now */
		lack = unreported(ck, ck->owned, ck->b_prev, owned, true);
		ck->rest_unreported += lack;
		if (!ck->rest_mutated)
			rest_mutation(ck, ck->b_prev, lack);
	}
	dtraffic_resume(t);
	return ret;
}

int dcheck_end(struct dcheck *ck, uint64_t *quiet)
{
	int ret = dcheck_round(ck);
	size_t w, i;

	if (!ret)
		ret = dcheck_round(ck);
	/* pulsing: what is still late after the device stopped is missed */
	for (w = 0; !ret && ck->pulse && w < ck->words; w++) {
		uint64_t miss = ck->late[w];

		while (miss) {
			i = w * 64 + __builtin_ctzll(miss);
			miss &= miss - 1;
			ck->misses++;
			if (ck->shown++ < 10)
				show_page(ck, "MISS (changed, never reported)", i);
		}
	}
	/* after the last round d_prev is the diff taken after quiescing */
	*quiet = ret ? 0 : bm_count(ck->d_prev, ck->npages);
	return ret;
}

uint64_t dcheck_region_written(struct dcheck *ck, int r)
{
	const struct dmem_region *reg = &ck->s->m.r[r];
	uint64_t n = 0;
	size_t w;

	memset(ck->tmp1, 0, ck->words * 8);
	dmem_mark_range(&ck->s->m, reg->iova, reg->size, ck->tmp1);
	for (w = 0; w < ck->words; w++)
		n += __builtin_popcountll(ck->tmp1[w] & ck->changed_all[w]);
	return n;
}

void dcheck_print(const struct dcheck *ck)
{
	ktap_info("%s: %llu rounds; per round %.1f pages reported, %.1f device pages changed; over-reported %llu of %llu (%.1f%%); tx buffer pages reported %llu; %llu misses",
		  ck->name, (unsigned long long)ck->rounds,
		  ck->rounds ? (double)ck->reported / ck->rounds : 0,
		  ck->rounds ? (double)ck->changed / ck->rounds : 0,
		  (unsigned long long)ck->over, (unsigned long long)ck->reported,
		  ck->reported ? 100.0 * ck->over / ck->reported : 0,
		  (unsigned long long)ck->cpu_reported,
		  (unsigned long long)ck->misses);
	if (ck->pulse)
		ktap_info("%s: pulsing: %llu page changes reported after the two-report window (%llu resolved later)",
			  ck->name, (unsigned long long)ck->late_n,
			  (unsigned long long)ck->late_resolved);
}
