/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * igbvf-vfio-pci dirty tracking: the model of the VF's rings
 * (dirty_model.c). dirty->lock held for all of it.
 */
#ifndef IVF_DIRTY_MODEL_H
#define IVF_DIRTY_MODEL_H

#include <linux/types.h>

struct ivf_device;

#define IVF_MAX_PIN		512	/* VFIO_PIN_PAGES_MAX_ENTRIES */

/* A range of IOVA pages the device may write. */
struct ivf_span {
	u64 iova;
	u32 npages;			/* 0: nothing */
};

struct ivf_rxq_trk {
	/* Last value seen in the shadow, RDBAL(q)..RDBAL(q) + 0xfc. */
	u32 seen[0x100 / 4];
	u64 base;			/* ring, as forwarded */
	u32 ndesc;
	u32 srrctl;
	/*
	 * Postings counted without wrapping: [head_seq, tail_seq) are posted
	 * and armed, the device consumed those before head_seq. seq[slot]
	 * is the posting armed in a slot, so a slot re-armed for a later
	 * posting is never retired for an earlier one.
	 */
	u64 head_seq, tail_seq;
	u64 *seq;
	struct ivf_span ring;
	struct ivf_span *bufs;		/* 2 per descriptor: packet, header */
};

struct ivf_txq_trk {
	u32 tdbal, tdbah, tdlen, tdwbal, tdwbah;
	u32 tdh;			/* the head last seen */
	struct ivf_span ring, wb;
};

static inline u64 ivf_ring_base(u32 lo, u32 hi)
{
	return ((u64)hi << 32) | (lo & ~0x7fU);
}

void ivf_span_drop(struct ivf_device *ivf, struct ivf_span *s);
void ivf_rxq_restart(struct ivf_device *ivf, struct ivf_rxq_trk *t,
		     u32 idx);
void ivf_rxq_retire(struct ivf_device *ivf, struct ivf_rxq_trk *t,
		    u32 idx);
int ivf_rxq_arm_to(struct ivf_device *ivf, struct ivf_rxq_trk *t,
		   u32 rdt);
int ivf_rxq_layout(struct ivf_device *ivf, struct ivf_rxq_trk *t,
		   u32 rdbal, u32 rdbah, u32 rdlen, u32 srrctl);
int ivf_rxq_tail(struct ivf_device *ivf, struct ivf_rxq_trk *t, u32 v);
void ivf_txq_update(struct ivf_device *ivf, unsigned int q,
		    const u32 r[6]);
void ivf_dirty_drop_all(struct ivf_device *ivf);

#endif /* IVF_DIRTY_MODEL_H */
