// SPDX-License-Identifier: GPL-2.0-only
/*
 * igbvf-vfio-pci dirty tracking: the model of the VF's rings.
 *
 * What the tracker knows of the RX and TX rings the device may write:
 * spans of IOVA pages (ring, buffers, head write-back), RX postings counted
 * without wrapping, arming (descriptors read from guest memory before the
 * device is given them) and retiring (what the device's head has passed).
 * No register access here: the poller (dirty_poll.c) reads the registers
 * and hands the values in. Everything here runs with dirty->lock held and
 * no memory_lock (vfio_dma_rw() and the pulses take type1's locks).
 */
#include <linux/highmem.h>
#include <linux/iommu.h>
#include <linux/minmax.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/vfio.h>

#include "ivf.h"
#include "dirty_model.h"

/*
 * Read guest memory at @iova: through the VFIO container (type1), or, for a
 * device bound through iommufd (no container), through the device's IOMMU
 * translation. Never written.
 *
 * The iommufd way: the domain stays the device's while dom_rwsem is held
 * (an attach elsewhere, a detach or an unbind wait for it), and each page
 * is read with a reference taken while the domain still maps it there, so
 * an IOAS unmap can't free it under the copy nor hand us a page reused by
 * someone else (iommufd unmaps from the domain before it unpins).
 */
static int ivf_guest_read(struct ivf_device *ivf, u64 iova, void *buf,
			  size_t len)
{
	struct iommu_domain *dom;
	struct page *page;
	phys_addr_t pa;
	size_t n;
	int ret;

	ret = vfio_dma_rw(&ivf->core.vdev, iova, buf, len, false);
	if (ret != -EINVAL)
		return ret;
	down_read(&ivf->dom_rwsem);
	dom = iommu_get_domain_for_dev(&ivf->core.pdev->dev);
	if (!dom || !(dom->type & __IOMMU_DOMAIN_PAGING)) {
		ret = -EINVAL;
		goto out;
	}
	while (len) {
		n = min_t(size_t, len, PAGE_SIZE - offset_in_page(iova));
		pa = iommu_iova_to_phys(dom, iova);
		ret = -EFAULT;
		if (!pa || !pfn_valid(PHYS_PFN(pa)))
			goto out;
		page = pfn_to_page(PHYS_PFN(pa));
		if (!get_page_unless_zero(page))
			goto out;
		if (iommu_iova_to_phys(dom, iova) != pa) {
			put_page(page);
			goto out;
		}
		memcpy_from_page(buf, page, offset_in_page(pa), n);
		put_page(page);
		buf += n;
		iova += n;
		len -= n;
	}
	ret = 0;
out:
	up_read(&ivf->dom_rwsem);
	return ret;
}

/*
 * The device may write span @s from now on: DMA logging records it (type1
 * learns of it when it is pulsed, once the device is done with it).
 */
static void ivf_span_arm(struct ivf_device *ivf, struct ivf_span *s)
{
	if (s->npages)
		ivf_log_mark(&ivf->dirty, s);
}

static void ivf_span_set(struct ivf_device *ivf, struct ivf_span *s,
			 u64 addr, u64 len)
{
	u64 first, last;

	s->npages = 0;
	if (!len || addr + len < addr)
		return;
	first = addr & PAGE_MASK;
	last = (addr + len - 1) & PAGE_MASK;
	s->iova = first;
	s->npages = min_t(u64, ((last - first) >> PAGE_SHIFT) + 1, IVF_MAX_PIN);
	ivf_span_arm(ivf, s);
}

void ivf_span_drop(struct ivf_device *ivf, struct ivf_span *s)
{
	struct ivf_dirty *d = &ivf->dirty;

	/*
	 * Logging: the device may have written it since the last report
	 * (type1 does the same for an unpinned page): in the next one too.
	 */
	if (s->npages)
		ivf_log_mark(d, s);
	/* type1: the device may have written it since the last poll. */
	if (s->npages && d->pin_mode)
		ivf_pulse(ivf, s->iova, s->npages);
	s->npages = 0;
}

/*
 * The buffers a retire lets go, as one range while they are
 * next to each other (a guest's buffers often are), so that one pin and
 * unpin covers many.
 */
struct ivf_run {
	u64 start, end;
};

static void ivf_run_flush(struct ivf_device *ivf, struct ivf_run *r)
{
	if (r->end > r->start)
		ivf_pulse(ivf, r->start, (r->end - r->start) >> PAGE_SHIFT);
	r->start = 0;
	r->end = 0;
}

/* Let a consumed buffer go: pulsed with its neighbours (type1). */
static void ivf_span_retire(struct ivf_device *ivf, struct ivf_run *r,
			    struct ivf_span *s)
{
	struct ivf_dirty *d = &ivf->dirty;
	u64 a = s->iova, b = s->iova + ((u64)s->npages << PAGE_SHIFT);

	if (!s->npages || !d->pin_mode || b < a) {
		ivf_span_drop(ivf, s);
		return;
	}
	ivf_log_mark(d, s);
	s->npages = 0;
	if (r->end > r->start && a <= r->end && b >= r->start &&
	    max(b, r->end) - min(a, r->start) <= (u64)IVF_MAX_PIN << PAGE_SHIFT) {
		r->start = min(a, r->start);
		r->end = max(b, r->end);
		return;
	}
	ivf_run_flush(ivf, r);
	r->start = a;
	r->end = b;
}

static void ivf_rxq_drop_bufs(struct ivf_device *ivf, struct ivf_rxq_trk *t)
{
	u32 i;

	for (i = 0; i < 2 * t->ndesc; i++)
		ivf_span_drop(ivf, &t->bufs[i]);
	for (i = 0; i < t->ndesc; i++)
		t->seq[i] = U64_MAX;
}

/* Nothing posted: head and tail at the ring index @idx. */
void ivf_rxq_restart(struct ivf_device *ivf, struct ivf_rxq_trk *t,
		     u32 idx)
{
	struct ivf_dirty *d = &ivf->dirty;

	/*
	 * type1: the device may have written back descriptors it was given
	 * since the last poll (the buffers are pulsed as they drop).
	 */
	if (d->pin_mode && t->tail_seq != t->head_seq)
		ivf_pulse_ring(ivf, t->base, t->ndesc, t->head_seq,
			       t->tail_seq);
	ivf_rxq_drop_bufs(ivf, t);
	t->head_seq = idx;
	t->tail_seq = idx;
}

/* Move an unwrapped count forward to ring index @idx. */
static u64 ivf_seq_to(u64 seq, u32 idx, u32 n)
{
	return seq + (idx + n - (u32)(seq % n)) % n;
}

/* Buffer sizes from SRRCTL; unknown (0) means "as large as possible". */
static u64 ivf_pkt_size(u32 srrctl)
{
	u32 kb = srrctl & IVF_SRRCTL_BSIZEPKT_MASK;

	return kb ? (u64)kb << 10 : SZ_16K;
}

static u64 ivf_hdr_size(u32 srrctl)
{
	u32 n = (srrctl & IVF_SRRCTL_BSIZEHDR_MASK) >> 8;

	return n ? (u64)n << 6 : PAGE_SIZE;
}

/*
 * Arm postings [from, to) of ring @t: read their descriptors from guest
 * memory and record what they point to. Returns the posting it stopped at:
 * @to, or the first one whose descriptor could not be read. Nothing from
 * there on may go to the device.
 */
static u64 ivf_rxq_arm(struct ivf_device *ivf, struct ivf_rxq_trk *t,
		       u64 from, u64 to)
{
	struct ivf_dirty *d = &ivf->dirty;
	bool split = (t->srrctl & IVF_SRRCTL_DESCTYPE_MASK) !=
		     IVF_SRRCTL_DESCTYPE_ONEBUF;
	__le64 desc[2 * 16];
	u32 slot, n, k;
	u64 p = from;

	while (t->ndesc && p < to) {
		slot = p % t->ndesc;
		n = min_t(u64, to - p, t->ndesc - slot);
		n = min_t(u32, n, ARRAY_SIZE(desc) / 2);
		if (ivf_guest_read(ivf, t->base + (u64)slot * IVF_DESC_SIZE,
				   desc, n * IVF_DESC_SIZE)) {
			d->st.pin_failures++;
			return p;
		}
		for (k = 0; k < n; k++, p++, slot++) {
			struct ivf_span *pkt = &t->bufs[2 * slot];
			struct ivf_span *hdr = &t->bufs[2 * slot + 1];

			ivf_span_drop(ivf, pkt);
			ivf_span_drop(ivf, hdr);
			t->seq[slot] = p;
			ivf_span_set(ivf, pkt, le64_to_cpu(desc[2 * k]) & ~1ULL,
				     ivf_pkt_size(t->srrctl));
			if (split)
				ivf_span_set(ivf, hdr,
					     le64_to_cpu(desc[2 * k + 1]) & ~1ULL,
					     ivf_hdr_size(t->srrctl));
		}
	}
	return to;
}

/*
 * The device's head is at ring index @idx: let go the postings it consumed,
 * and only those (a slot armed again since holds a later posting).
 */
void ivf_rxq_retire(struct ivf_device *ivf, struct ivf_rxq_trk *t,
		    u32 idx)
{
	struct ivf_run run = { };
	u64 head, back, p;
	u32 slot;

	if (!t->ndesc || idx >= t->ndesc)
		return;
	/*
	 * The device owns at most ndesc - 1 postings up to the tail it was
	 * given (tail_seq): its head is the last posting at or before
	 * tail_seq with index @idx, @back postings behind it. Not counted
	 * from head_seq: a guest that reposts what it sees written back (DD)
	 * moves the tail on before we retire, so tail_seq - head_seq can
	 * exceed the ring, and the head counted from head_seq then came out a
	 * lap short (buffers the device wrote were never retired: "posted
	 * 255" in debugfs).
	 */
	back = (t->tail_seq % t->ndesc + t->ndesc - idx) % t->ndesc;
	if (back > t->tail_seq - t->head_seq) {
		/*
		 * Not in what we armed: the ring was reset behind us, or the
		 * device runs on a tail it had before tracking started that
		 * could not be armed (an index past the ring, a descriptor we
		 * could not read). Compared before subtracting: in the first
		 * lap tail_seq - back wrapped below zero, and the loop below
		 * then ran for 2^64 postings with dirty->lock held (a soft
		 * lockup; QEMU blocked on the lock).
		 */
		ivf_rxq_restart(ivf, t, idx);
		return;
	}
	head = t->tail_seq - back;
	/* type1: the descriptors it wrote back, then their buffers. */
	if (ivf->dirty.pin_mode)
		ivf_pulse_ring(ivf, t->base, t->ndesc, t->head_seq, head);
	/* Each slot holds one posting at most: one of the last ndesc. */
	p = head - min_t(u64, head - t->head_seq, t->ndesc);
	for (; p < head; p++) {
		slot = p % t->ndesc;
		if (t->seq[slot] != p)
			continue;
		ivf_span_retire(ivf, &run, &t->bufs[2 * slot]);
		ivf_span_retire(ivf, &run, &t->bufs[2 * slot + 1]);
		t->seq[slot] = U64_MAX;
	}
	ivf_run_flush(ivf, &run);
	t->head_seq = head;
}

/*
 * Arm up to the tail index @rdt: the postings the device owns once its queue
 * is enabled with that tail. Returns the tail the device may be given: @rdt,
 * or the ring index where arming stopped (the rest is held back until it
 * can be armed); -1 if @rdt is not an index of the ring (held: the device
 * would run past its ring).
 */
int ivf_rxq_arm_to(struct ivf_device *ivf, struct ivf_rxq_trk *t,
		   u32 rdt)
{
	u64 tail;

	rdt &= IVF_RING_IDX_MASK;
	if (rdt >= t->ndesc)
		return rdt || t->ndesc ? -1 : 0;
	tail = ivf_seq_to(t->tail_seq, rdt, t->ndesc);
	t->tail_seq = ivf_rxq_arm(ivf, t, t->tail_seq, tail);
	return t->tail_seq % t->ndesc;
}

/* The ring's geometry changed (or tracking starts): lay out the new ring. */
int ivf_rxq_layout(struct ivf_device *ivf, struct ivf_rxq_trk *t,
		   u32 rdbal, u32 rdbah, u32 rdlen, u32 srrctl)
{
	u32 ndesc = (rdlen & IVF_RING_LEN_MASK) / IVF_DESC_SIZE;
	struct ivf_span *bufs = NULL;
	u64 *seq = NULL;

	ivf_rxq_drop_bufs(ivf, t);
	if (ndesc != t->ndesc) {
		if (ndesc) {
			bufs = kvcalloc(2 * ndesc, sizeof(*bufs), GFP_KERNEL);
			seq = kvcalloc(ndesc, sizeof(*seq), GFP_KERNEL);
			if (!bufs || !seq) {
				kvfree(bufs);
				kvfree(seq);
				return -ENOMEM;
			}
		}
		kvfree(t->bufs);
		kvfree(t->seq);
		t->bufs = bufs;
		t->seq = seq;
		t->ndesc = ndesc;
		ivf_rxq_drop_bufs(ivf, t);
	}
	t->base = ivf_ring_base(rdbal, rdbah);
	t->srrctl = srrctl;
	ivf_span_drop(ivf, &t->ring);
	ivf_span_set(ivf, &t->ring, t->base, (u64)ndesc * 16);
	return 0;
}

/*
 * Give the device tail @v of ring @t (memory_lock not held): arm what it
 * posts first. The device is never given a descriptor whose buffers are not
 * armed: a tail that can't be armed all the way (a descriptor unreadable,
 * an index past the ring) is held, and the device gets
 * the tail up to what is armed; the rest follows once it can be armed (the
 * shadow still differs from what the device has, so every poll tries
 * again). Returns the tail for the device, or -1 to leave the device's as
 * it is.
 */
int ivf_rxq_tail(struct ivf_device *ivf, struct ivf_rxq_trk *t, u32 v)
{
	struct ivf_dirty *d = &ivf->dirty;
	int fwd = ivf_rxq_arm_to(ivf, t, v);

	if (fwd != (int)(v & IVF_RING_IDX_MASK) || (v & ~IVF_RING_IDX_MASK))
		d->st.held_tails++;
	return fwd;
}

/*
 * TX rings and head write-back: found in registers, recorded as they are.
 * type1: the descriptors the device has written back since the last look
 * (up to its head) are pulsed, and the head write-back word with them.
 */
void ivf_txq_update(struct ivf_device *ivf, unsigned int q,
		    const u32 r[6])
{
	struct ivf_dirty *d = &ivf->dirty;
	struct ivf_txq_trk *t = &d->tx[q];
	u32 bal = r[0], bah = r[1], len = r[2], wbl = r[3], wbh = r[4];
	u32 ndesc = t->tdlen / IVF_DESC_SIZE;

	if (d->pin_mode && r[5] != t->tdh &&
	    bal == t->tdbal && bah == t->tdbah && len == t->tdlen) {
		if (ndesc && r[5] < ndesc && t->tdh < ndesc)
			ivf_pulse_ring(ivf, ivf_ring_base(bal, bah), ndesc,
				       t->tdh, t->tdh < r[5] ? r[5] :
				       (u64)r[5] + ndesc);
		else
			ivf_pulse(ivf, t->ring.iova, t->ring.npages);
		ivf_pulse(ivf, t->wb.iova, t->wb.npages);
	}
	t->tdh = r[5];
	if (bal != t->tdbal || bah != t->tdbah || len != t->tdlen) {
		ivf_span_drop(ivf, &t->ring);
		ivf_span_set(ivf, &t->ring, ivf_ring_base(bal, bah), len);
		/*
		 * type1: the guest set this ring up before we looked, and the
		 * device may have written back into it since.
		 */
		if (d->pin_mode)
			ivf_pulse(ivf, t->ring.iova, t->ring.npages);
		t->tdbal = bal;
		t->tdbah = bah;
		t->tdlen = len;
	} else {
		ivf_span_arm(ivf, &t->ring);
	}
	if (wbl != t->tdwbal || wbh != t->tdwbah) {
		ivf_span_drop(ivf, &t->wb);
		if (wbl & IVF_TDWBAL_ENABLE)
			ivf_span_set(ivf, &t->wb,
				     ((u64)wbh << 32) | (wbl & ~3U), 4);
		if (d->pin_mode)
			ivf_pulse(ivf, t->wb.iova, t->wb.npages);
		t->tdwbal = wbl;
		t->tdwbah = wbh;
	} else {
		ivf_span_arm(ivf, &t->wb);
	}
}

void ivf_dirty_drop_all(struct ivf_device *ivf)
{
	struct ivf_dirty *d = &ivf->dirty;
	unsigned int q;

	for (q = 0; q < IVF_NUM_QUEUES; q++) {
		ivf_rxq_drop_bufs(ivf, &d->rx[q]);
		ivf_span_drop(ivf, &d->rx[q].ring);
		kvfree(d->rx[q].bufs);
		kvfree(d->rx[q].seq);
		d->rx[q].bufs = NULL;
		d->rx[q].seq = NULL;
		d->rx[q].ndesc = 0;
		ivf_span_drop(ivf, &d->tx[q].ring);
		ivf_span_drop(ivf, &d->tx[q].wb);
	}
}
