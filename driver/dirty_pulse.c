// SPDX-License-Identifier: GPL-2.0-only
/*
 * igbvf-vfio-pci dirty tracking through a type1 container: pulses.
 *
 * type1 marks a page dirty when it is pinned while the container tracks:
 * a page the device wrote is pinned for an instant and let go (a pulse).
 * A range the user is unmapping is fenced: pulses over it are put off
 * until type1 is done. A pulse type1 could not pin (no memory, the VMM's
 * memory gone) is kept for a retry; one still failing once the device is
 * quiesced is lost, and STOP_COPY is refused. See dirty.c for the whole.
 */
#include <linux/jiffies.h>
#include <linux/minmax.h>
#include <linux/mm.h>
#include <linux/sched.h>
#include <linux/string.h>
#include <linux/vfio.h>
#include <linux/wait.h>

#include "ivf.h"
#include "dirty_pulse.h"

/*
 * The pulses a fence put off, and each range of failed pulses kept for a
 * retry, span at most this: they are pulsed again in IVF_MAX_PIN chunks
 * with dirty->lock held, and a chunk type1 refuses (no longer mapped, no
 * memory) costs a pin per page. Unbounded, a guest's buffers scattered over
 * a large guest (or a VMM's unmap of all of it) made that pass hold the
 * lock for minutes. Four chunks: at most about 2000 pins per range.
 */
#define IVF_PEND_SPAN		(4ULL * IVF_MAX_PIN * PAGE_SIZE)

/* How long a fence keeps pulses off an IOVA range being unmapped. */
#define IVF_FENCE_MS		1000
/* A pulse type1 could not pin is tried again after this long. */
#define IVF_RETRY_MS		10
/* type1's unmap callback waits at most this long for a pulse to end. */
#define IVF_UNMAP_WAIT_MS	100

/*
 * The fence over [iova, end), if any; fence_lock held. A fence is kept
 * past its expiry until ivf_pulse_sweep() has done the pulses it put off.
 */
static struct ivf_fence *ivf_fence_hit(struct ivf_dirty *d, u64 iova, u64 end)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(d->fence); i++) {
		struct ivf_fence *f = &d->fence[i];

		if (!f->len)
			continue;
		if (iova < f->iova + f->len && f->iova < end)
			return f;
	}
	return NULL;
}

static bool ivf_fenced(struct ivf_dirty *d, u64 iova, u32 npages)
{
	bool hit;

	spin_lock(&d->fence_lock);
	hit = ivf_fence_hit(d, iova, iova + ((u64)npages << PAGE_SHIFT));
	spin_unlock(&d->fence_lock);
	return hit;
}

/*
 * Pages the device wrote that type1 will not be asked about: too far from
 * the others put off to be kept (see IVF_PEND_SPAN). The migration under
 * way can't be completed (ivf_dirty_check_lost()). dirty->lock held.
 */
static void ivf_pulse_lost(struct ivf_device *ivf, u64 iova, u64 end)
{
	struct ivf_dirty *d = &ivf->dirty;

	if (!d->lost)
		ivf_err_rl(ivf->core.pdev,
			   "dirty tracking: pulses put off at IOVAs too far apart to keep (0x%llx+%llu pages): STOP_COPY is refused until a new migration starts\n",
			   iova, (end - iova) >> PAGE_SHIFT);
	d->lost = true;
	d->lost_pages += (end - iova) >> PAGE_SHIFT;
}

/*
 * Put the pulse of [iova, end) off until fence @f is lifted: the fence
 * keeps one range of them, at most IVF_PEND_SPAN long. fence_lock and
 * dirty->lock held.
 */
static void ivf_fence_defer(struct ivf_device *ivf, struct ivf_fence *f,
			    u64 iova, u64 end)
{
	u64 lo = f->pend_hi ? min(f->pend_lo, iova) : iova;
	u64 hi = max(f->pend_hi, end);

	ivf->dirty.st.pulse_deferred++;
	if (hi - lo > IVF_PEND_SPAN) {
		ivf_pulse_lost(ivf, iova, end);
		return;
	}
	f->pend_lo = lo;
	f->pend_hi = hi;
}

/* 0, or vfio_pin_pages()'s error (-EINVAL: not mapped) */
static int ivf_pin_one(struct ivf_device *ivf, u64 iova, u32 npages)
{
	struct ivf_dirty *d = &ivf->dirty;
	int ret;

	ret = vfio_pin_pages(&ivf->core.vdev, iova, npages,
			     IOMMU_READ | IOMMU_WRITE, d->pages);
	if (ret != npages)
		return ret < 0 ? ret : -EFAULT;
	vfio_unpin_pages(&ivf->core.vdev, iova, npages);
	d->st.pulses += npages;
	d->scoped = true;
	return 0;
}

/*
 * type1 could not pin a page of [iova, end) that is mapped for the
 * device's writes (-ENOMEM, or -EFAULT when the VMM's memory behind it is
 * gone): it is not marked dirty. Keep it for a retry, in one of
 * IVF_RETRY_SLOTS ranges (the one that grows least takes it when all are
 * used: a retry of a page not written costs only an over-report), none
 * longer than IVF_PEND_SPAN: what fits in none is lost. dirty->lock held.
 */
static void ivf_pulse_failed(struct ivf_device *ivf, u64 iova, u64 end,
			     int err)
{
	struct ivf_dirty *d = &ivf->dirty;
	u64 grow, best = U64_MAX;
	unsigned int i, pick = 0;

	d->st.pulse_failed += (end - iova) >> PAGE_SHIFT;
	d->st.pulse_err = err;
	for (i = 0; i < IVF_RETRY_SLOTS; i++) {
		if (!d->retry[i].hi) {
			/* a neighbour's slot wins a tie */
			grow = end - iova + 1;
		} else {
			grow = max(end, d->retry[i].hi) -
			       min(iova, d->retry[i].lo) -
			       (d->retry[i].hi - d->retry[i].lo);
		}
		if (grow < best) {
			best = grow;
			pick = i;
		}
	}
	if (d->retry[pick].hi) {
		if (max(end, d->retry[pick].hi) -
		    min(iova, d->retry[pick].lo) > IVF_PEND_SPAN) {
			ivf_pulse_lost(ivf, iova, end);
			return;
		}
		iova = min(iova, d->retry[pick].lo);
		end = max(end, d->retry[pick].hi);
	}
	d->retry[pick].lo = iova;
	d->retry[pick].hi = end;
}

/*
 * The device wrote [iova, iova + npages pages), or may have:
 * pin it and let it go at once. type1 marks a page dirty when it is pinned
 * while dirty tracking is on, so the next sync reports it. A range being
 * unmapped is not pinned (type1 would find our pin and call us again; it
 * gives up after ten tries): the pulse waits for the fence to be lifted.
 * dirty->lock held; no other lock.
 */
void ivf_pulse(struct ivf_device *ivf, u64 iova, u32 npages)
{
	struct ivf_dirty *d = &ivf->dirty;
	u64 end = iova + ((u64)npages << PAGE_SHIFT);
	struct ivf_fence *f;
	int ret, err;
	u64 a;

	if (!npages)
		return;
	spin_lock(&d->fence_lock);
	f = ivf_fence_hit(d, iova, end);
	if (f) {
		ivf_fence_defer(ivf, f, iova, end);
		spin_unlock(&d->fence_lock);
		return;
	}
	d->pulse_iova = iova;
	d->pulse_end = end;
	spin_unlock(&d->fence_lock);

	/*
	 * type1 pins all of a range or none of it: one page not mapped for
	 * the device's writes, and the others go one by one (the device could
	 * not have written that one).
	 */
	ret = ivf_pin_one(ivf, iova, npages);
	for (a = iova; ret && a < end; a += PAGE_SIZE) {
		err = npages > 1 ? ivf_pin_one(ivf, a, 1) : ret;
		if (!err)
			continue;
		spin_lock(&d->fence_lock);
		f = ivf_fence_hit(d, a, end);
		if (f)
			ivf_fence_defer(ivf, f, a, end);
		spin_unlock(&d->fence_lock);
		if (f)
			break;
		/* not mapped, or mapped read-only: the device can't write it */
		if (err == -EINVAL || err == -EPERM)
			d->st.pulse_unmapped++;
		else
			ivf_pulse_failed(ivf, a, a + PAGE_SIZE, err);
	}
	spin_lock(&d->fence_lock);
	d->pulse_iova = 0;
	d->pulse_end = 0;
	spin_unlock(&d->fence_lock);
	wake_up_all(&d->pulse_wq);
}

/* Pulse descriptors @first..@last (ring indices, first <= last) of a ring. */
static void ivf_pulse_descs(struct ivf_device *ivf, u64 base, u64 first,
			    u64 last)
{
	u64 a = base + first * IVF_DESC_SIZE;
	u64 b = base + last * IVF_DESC_SIZE + IVF_DESC_SIZE - 1;

	/* a ring a guest put across the top of the IOVA space: no DMA there */
	if (b < a || a < base)
		return;
	a &= PAGE_MASK;
	b &= PAGE_MASK;
	ivf_pulse(ivf, a, min_t(u64, ((b - a) >> PAGE_SHIFT) + 1, IVF_MAX_PIN));
}

/* Pulse ring entries [from, to) (postings, unwrapped) of a ring. */
void ivf_pulse_ring(struct ivf_device *ivf, u64 base, u32 ndesc,
		    u64 from, u64 to)
{
	u64 first, last;

	if (!ndesc || to <= from)
		return;
	if (to - from >= ndesc) {
		from = 0;
		to = ndesc;
	}
	first = from % ndesc;
	last = (to - 1) % ndesc;
	if (last < first) {
		/* wrapped: the ring's end, then its start */
		ivf_pulse_descs(ivf, base, first, ndesc - 1);
		ivf_pulse_descs(ivf, base, 0, last);
	} else {
		ivf_pulse_descs(ivf, base, first, last);
	}
}

/*
 * Lift the fences type1 is done with (IVF_FENCE_MS after the unmap; @wait:
 * wait for those that put pulses off, the device is quiesced and its last
 * writes must be reported) and do the pulses they put off, in IVF_MAX_PIN
 * chunks; a chunk no longer mapped costs a page-by-page try. dirty->lock
 * held.
 */
void ivf_pulse_sweep(struct ivf_device *ivf, bool wait)
{
	struct ivf_dirty *d = &ivf->dirty;
	unsigned long expires;
	unsigned int i;
	u64 lo, hi, n;

	for (i = 0; i < ARRAY_SIZE(d->fence); i++) {
		struct ivf_fence *f = &d->fence[i];

		spin_lock(&d->fence_lock);
		expires = f->expires;
		/* only a fence with pulses put off is worth waiting for */
		if (!f->len || (time_before(jiffies, expires) &&
				(!wait || !f->pend_hi))) {
			spin_unlock(&d->fence_lock);
			continue;
		}
		spin_unlock(&d->fence_lock);
		if (time_before(jiffies, expires))
			schedule_timeout_uninterruptible(expires - jiffies);
		spin_lock(&d->fence_lock);
		if (time_before(jiffies, f->expires)) {
			/* fenced again meanwhile: the next sweep */
			spin_unlock(&d->fence_lock);
			continue;
		}
		lo = f->pend_lo;
		hi = f->pend_hi;
		f->len = 0;
		f->pend_lo = 0;
		f->pend_hi = 0;
		spin_unlock(&d->fence_lock);
		for (; lo < hi; lo += n << PAGE_SHIFT) {
			n = min_t(u64, (hi - lo) >> PAGE_SHIFT, IVF_MAX_PIN);
			ivf_pulse(ivf, lo, n);
		}
	}
}

/*
 * Pulse again what type1 could not pin (ivf_pulse_failed()); @now: don't
 * wait for the next retry time (the device is quiesced). Returns the pages
 * still waiting. dirty->lock held.
 */
u64 ivf_pulse_retry(struct ivf_device *ivf, bool now)
{
	struct ivf_dirty *d = &ivf->dirty;
	typeof(d->retry) r;
	u64 lo, hi, n, left = 0;
	unsigned int i;

	if (!now && time_before(jiffies, d->retry_at))
		goto count;
	d->retry_at = jiffies + msecs_to_jiffies(IVF_RETRY_MS);
	/* what fails again goes back in d->retry */
	memcpy(r, d->retry, sizeof(r));
	memset(d->retry, 0, sizeof(d->retry));
	for (i = 0; i < IVF_RETRY_SLOTS; i++) {
		lo = r[i].lo;
		hi = r[i].hi;
		for (; lo < hi; lo += n << PAGE_SHIFT) {
			n = min_t(u64, (hi - lo) >> PAGE_SHIFT, IVF_MAX_PIN);
			ivf_pulse(ivf, lo, n);
		}
	}
count:
	for (i = 0; i < IVF_RETRY_SLOTS; i++)
		left += (d->retry[i].hi - d->retry[i].lo) >> PAGE_SHIFT;
	return left;
}

/* Is a pulse over [iova, end) under way? */
static bool ivf_pulse_busy(struct ivf_dirty *d, u64 iova, u64 end)
{
	bool busy;

	spin_lock(&d->fence_lock);
	busy = d->pulse_end > iova && d->pulse_iova < end;
	spin_unlock(&d->fence_lock);
	return busy;
}

/*
 * type1 unmaps [iova, iova + len): it calls us holding its
 * device_list_lock, and a second unmapping thread may hold its iommu->lock
 * waiting for that one. Take no lock a pulse holds: fence the range, then
 * wait, a bounded time, for a pulse over it to unpin (it needs iommu->lock;
 * if the other thread holds it, we return and type1 tries again).
 */
static void ivf_pulse_unmap(struct ivf_dirty *d, u64 iova, u64 len)
{
	u64 end = iova + len, lo = iova, hi = end;
	struct ivf_fence *f = NULL;
	unsigned int i;

	spin_lock(&d->fence_lock);
	for (i = 0; i < ARRAY_SIZE(d->fence) && !f; i++)
		if (!d->fence[i].len)
			f = &d->fence[i];
	if (!f) {
		/* all in use: one widens to cover this range too */
		f = &d->fence[d->next_fence++ % ARRAY_SIZE(d->fence)];
		lo = min(lo, f->iova);
		hi = max(hi, f->iova + f->len);
	} else {
		f->pend_lo = 0;
		f->pend_hi = 0;
	}
	f->iova = lo;
	f->len = hi - lo;
	f->expires = jiffies + msecs_to_jiffies(IVF_FENCE_MS);
	spin_unlock(&d->fence_lock);
	wait_event_timeout(d->pulse_wq, !ivf_pulse_busy(d, iova, end),
			   msecs_to_jiffies(IVF_UNMAP_WAIT_MS));
}

/*
 * type1 reports every mapped page as dirty for a group until the group has
 * pinned a page, and from then on only pinned pages (and pages pinned since
 * the last report). The tracker pins only once the device has written, and a
 * VF whose guest has set nothing up yet (firmware still running, no VF
 * driver loaded) writes nothing: a migration would then copy all of memory
 * on every pass and never converge. So pin one page and let it go at once:
 * the first page of a ring the guest has set up, else guest memory at IOVA
 * 0, where QEMU maps the start of RAM. type1 reports that page once. If
 * none can be pinned, try again every second until a page has been.
 * dirty->lock held.
 */
void ivf_dirty_scope(struct ivf_device *ivf)
{
	struct ivf_dirty *d = &ivf->dirty;
	u64 try[2 * IVF_NUM_QUEUES + 1];
	unsigned int q, i, n = 0;

	if (d->scoped || !d->pin_mode || time_before(jiffies, d->scope_retry))
		return;
	d->scope_retry = jiffies + HZ;
	for (q = 0; q < IVF_NUM_QUEUES; q++) {
		if (d->rx[q].ring.npages)
			try[n++] = d->rx[q].ring.iova;
		if (d->tx[q].ring.npages)
			try[n++] = d->tx[q].ring.iova;
	}
	try[n++] = 0;
	for (i = 0; i < n && !d->scoped; i++) {
		if (ivf_fenced(d, try[i], 1) ||
		    vfio_pin_pages(&ivf->core.vdev, try[i], 1, IOMMU_READ,
				   d->pages) != 1)
			continue;
		vfio_unpin_pages(&ivf->core.vdev, try[i], 1);
		d->scoped = true;
	}
}

/*
 * The user unmaps [iova, iova + length): no pulse there until type1 is done
 * (see ivf_pulse_unmap()). Not under dirty->lock: type1 calls us with its
 * own locks held.
 */
void ivf_dirty_dma_unmap(struct ivf_device *ivf, u64 iova, u64 length)
{
	if (READ_ONCE(ivf->dirty.pin_mode))
		ivf_pulse_unmap(&ivf->dirty, iova, length);
}
