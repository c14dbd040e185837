// SPDX-License-Identifier: GPL-2.0
/*
 * Paced traffic's log (see dtraffic.h): stop windows, and the frames sent,
 * received and lost in and around them.
 */
#include <string.h>

#include "dtraffic.h"
#include "ktap.h"

void dtraffic_window(struct dtraffic *t, uint64_t b, uint64_t e)
{
	struct dt_pace *pc = t->pace;

	if (pc->nwin < DT_MAX_WINDOWS) {
		pc->win_b[pc->nwin] = b;
		pc->win_e[pc->nwin] = e;
		pc->nwin++;
	}
}

/* frames of @d sent so far: their log entries are complete */
static uint32_t sent_of(const struct dtraffic *t, enum dt_dir d)
{
	return __atomic_load_n(d == DT_TO_VF ? &t->peer_sent : &t->vf_sent,
			       __ATOMIC_ACQUIRE);
}

uint32_t dtraffic_sent_between(const struct dtraffic *t, enum dt_dir d,
			       uint64_t b, uint64_t e)
{
	const struct dt_seqlog *l = &t->pace->log[d];
	uint32_t i, n = 0, sent = sent_of(t, d);

	for (i = 0; i < sent; i++)
		if (l->t1[i] >= b && l->t0[i] <= e)
			n++;
	return n;
}

uint32_t dtraffic_lost_between(const struct dtraffic *t, enum dt_dir d,
			       uint64_t b, uint64_t e)
{
	const struct dt_seqlog *l = &t->pace->log[d];
	uint32_t i, n = 0, sent = sent_of(t, d);

	for (i = 0; i < sent; i++)
		if (!l->seen[i] && l->t1[i] >= b && l->t0[i] <= e)
			n++;
	return n;
}

static bool in_window(const struct dt_pace *pc, const struct dt_seqlog *l,
		      uint32_t i, uint64_t slack_ns)
{
	unsigned int w;

	for (w = 0; w < pc->nwin; w++)
		if (l->t1[i] + slack_ns >= pc->win_b[w] &&
		    l->t0[i] <= pc->win_e[w] + slack_ns)
			return true;
	return false;
}

void dtraffic_tally(const struct dtraffic *t, enum dt_dir d,
		    uint64_t slack_ns, struct dtraffic_tally *out)
{
	const struct dt_seqlog *l = &t->pace->log[d];
	uint32_t i, sent = sent_of(t, d);

	memset(out, 0, sizeof(*out));
	out->sent = sent;
	out->ok = d == DT_TO_VF ? t->vf_ok : t->peer_ok;
	out->bad = d == DT_TO_VF ? t->vf_bad : t->peer_bad;
	out->dup = l->dup;
	out->ooo = l->ooo;
	for (i = 0; i < sent; i++) {
		if (l->seen[i])
			continue;
		out->lost++;
		if (in_window(t->pace, l, i, slack_ns))
			out->lost_in_window++;
		else
			out->lost_outside++;
	}
}

void dtraffic_print_lost(const struct dtraffic *t, enum dt_dir d,
			 unsigned int max, uint64_t slack_ns,
			 bool outside_only)
{
	const struct dt_pace *pc = t->pace;
	const struct dt_seqlog *l = &pc->log[d];
	uint32_t i = 0, j, sent = sent_of(t, d);
	unsigned int runs = 0, w, bw;

	while (i < sent && runs < max) {
		double best = 1e18, rel = 0;

		if (l->seen[i]) {
			i++;
			continue;
		}
		for (j = i; j < sent && !l->seen[j]; j++)
			;
		if (outside_only && in_window(pc, l, i, slack_ns)) {
			i = j;
			continue;
		}
		for (bw = 0, w = 0; w < pc->nwin; w++) {
			double r = ((double)l->t0[i] - (double)pc->win_b[w]) / 1e6;
			double a = r < 0 ? -r : r;

			if (a < best) {
				best = a;
				rel = r;
				bw = w;
			}
		}
		if (pc->nwin)
			ktap_info("%s: lost seq %u..%u (%u), sent %+.1f ms from the start of stop window %u",
				  l->name, i, j - 1, j - i, rel, bw);
		else
			ktap_info("%s: lost seq %u..%u (%u)", l->name, i, j - 1,
				  j - i);
		runs++;
		i = j;
	}
}
