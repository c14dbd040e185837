/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The dirty page checker of the dirty tracking tests: reports
 * (GET_BITMAP) against what really changed in memory (snapshots).
 *
 * Round k takes B_k = GET_BITMAP (report and clear), then S_k = snapshot and
 * D_k = pages that differ from S_{k-1}. A device write seen in D_k happened
 * after S_{k-1} began, so after B_{k-1}, and before S_k ended, so before
 * B_{k+1}: it must be in B_k | B_{k+1}. dcheck_round() checks D_{k-1}
 * against B_{k-1} | B_k for every page the device may write (DMEM_DEV).
 * Pages only the CPU writes (DMEM_CPU) are not the device's. Before the last
 * two rounds the caller must stop DMA (quiesce the device), so that the last
 * pair is compared with nothing in flight, and the last diff must be empty.
 */
#ifndef IVF_DCHECK_H
#define IVF_DCHECK_H

#include <stdbool.h>
#include <stdint.h>

#include "dirty.h"
#include "dtraffic.h"

struct dcheck {
	struct dsess *s;
	size_t words, npages;
	uint64_t *dev, *idle, *cpu;
	uint64_t *rings;	/* pages that must be in every report */
	uint64_t *b_prev, *b, *d_prev, *d, *changed_all;
	uint64_t *owned;	/* dcheck_rest_round(): the device's buffers */
	uint64_t *mut1, *mut2;	/* the checker's own self-checks */
	uint64_t *tmp1;		/* scratch for callers between rounds */
	/*
	 * The driver pulses pages for a type1 container (debugfs pulsing 1
	 * at dcheck_begin()): a page is reported once the poller has seen the
	 * device's write, which may be more than the two-report window after
	 * it. Such a page is "late" until a report has it; one still late
	 * after the device is quiesced and reported twice is a miss.
	 * Buffers the device owns and rings are not reported until written.
	 * Without it (DMA logging through iommufd) what the device owns is
	 * reported while it owns it, and dcheck_rest_round() checks that.
	 */
	bool pulse;
	uint64_t *late;
	uint64_t late_n, late_resolved;
	bool mark;		/* EIMC markers for a QEMU trace */
	const char *name;	/* prefix of the lines it prints */
	/* counters since dcheck_begin() */
	uint64_t rounds, misses, reported, changed, over, ring_missing;
	uint64_t idle_reported, idle_changed, cpu_reported;
	uint64_t rest_rounds, rest_unreported;
	bool mutated, mutation_caught;
	bool rest_mutated, rest_mutation_caught;
	int shown, rest_shown;
};

int dcheck_init(struct dcheck *ck, struct dsess *s, const char *name);
void dcheck_free(struct dcheck *ck);
/* rings of s->v as the pages that must be in every report */
void dcheck_rings_from_ivf(struct dcheck *ck);
/* a first GET (clears) and snapshot; counters to zero */
int dcheck_begin(struct dcheck *ck);
/* one round: GET, diff, check the previous pair */
int dcheck_round(struct dcheck *ck);
/*
 * A round with the traffic held still (after a few polls); unless pulsing,
 * every buffer the device owns must be in this round's report. The first one after
 * dcheck_begin() also checks itself: one owned page taken out of the
 * report must be found.
 */
int dcheck_rest_round(struct dcheck *ck, struct dtraffic *t);
/*
 * Traffic @t for @frames more frames in its thread, checker rounds every
 * 20 ms meanwhile (every 8th with the traffic held still), then
 * dtraffic_flush(); 0 or -errno
 */
int dcheck_traffic(struct dcheck *ck, struct dtraffic *t, uint64_t frames);
/*
 * Traffic @t, started, followed to its end: checker rounds every @ms
 * (every 8th with the traffic held still), then dtraffic_flush(); 0 or
 * -errno
 */
int dcheck_follow(struct dcheck *ck, struct dtraffic *t, unsigned int ms);
/* the device is quiesced: two last rounds; number of pages changed after */
int dcheck_end(struct dcheck *ck, uint64_t *quiet);
/* the report of the last round */
static inline const uint64_t *dcheck_last_report(const struct dcheck *ck)
{
	return ck->b_prev;
}
/* device pages of region @r changed since dcheck_begin() */
uint64_t dcheck_region_written(struct dcheck *ck, int r);
/* one "#" line of totals */
void dcheck_print(const struct dcheck *ck);

/*
 * What a case of checked traffic holds: the peer, the session, the traffic
 * on it and the checker, each with whether it is set up. The fixtures of
 * dirty_contract, dirty_exact, alloc_fail and dirty_log (which sets up
 * only the first two) hold one.
 */
struct dcase {
	struct peer peer;
	bool peer_open;
	struct dsess s;
	bool sess_open;
	struct dtraffic t;
	bool t_init;
	struct dcheck ck;
	bool ck_init;
};

/* put down what of @c is set up: traffic, checker, session, peer */
void dcase_free(struct dcase *c);

/* wait until the poller ran @n more times (debugfs polls); false on timeout */
bool dsess_wait_polls(struct dsess *s, unsigned int n);

#endif /* IVF_DCHECK_H */
