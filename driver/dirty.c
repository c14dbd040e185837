// SPDX-License-Identifier: GPL-2.0-only
/*
 * igbvf-vfio-pci: dirty tracking of the VF's DMA.
 *
 * The 82576 VF writes guest memory in three places only: RX buffers named by
 * RX descriptors, RX descriptor write-back (in the RX ring) and TX
 * completion write-back (the TX ring, or the head write-back word). The
 * rings and the head write-back word are found in registers at any time.
 * RX buffers are not: write-back overwrites the buffer address in the
 * descriptor, so a buffer must be seen before the device may use it.
 *
 * So while tracking, user mappings of BAR0 page 2 (RX queue registers) are
 * moved onto a shadow page of RAM. A poller thread picks up what the guest
 * wrote there: it forwards ring changes in a safe order (queue disable
 * first, then base, length, buffer sizes and head, then enable), reads the
 * descriptors between the last forwarded tail and the new one from guest
 * memory, "arms" their buffers, and only then forwards the tail to the
 * device. It copies the fields the device updates (RDH, the drop counter)
 * back into the shadow. A guest may set a disabled ring up in any order,
 * tail before head: the enable is what hands the device head to tail, so
 * the poller arms head to tail (again) before it forwards the enable.
 *
 * Reporting (type1 pinned-page scope): once a group has pinned a page,
 * type1's VFIO_IOMMU_DIRTY_PAGES reports only pages pinned now or pinned
 * since the last report, instead of all mapped memory; it marks a page
 * dirty when it is pinned.
 *
 * Pulse mode (the default) pins a page for an instant once the device has
 * written it: a buffer when the device's head has passed it (or when the
 * tracker lets it go without knowing: a ring laid out again, a reset), the
 * descriptors the device wrote back, a TX ring's written-back descriptors
 * and head write-back word when its head moves (and a new ring whole).
 * After the device is quiesced the tracker looks once more (no DMA after
 * that), so the report that follows has everything. No pin is held between
 * polls: type1's unmap callback takes no lock of ours and never waits for
 * an unpin that needs type1's own lock (two unmapping threads deadlocked
 * there), and a report holds what was written, not what might be.
 *
 * Hold mode (debugfs dirty_pulse N) pins armed buffers, both rings and the
 * head write-back page for as long as the device may write them, and
 * unpins a buffer when the device's head has passed it; type1 keeps its
 * dirty bit until the next report. A page pinned late (a ring the guest
 * moved, noticed at the next poll) is still reported in the next report;
 * only RX buffers need arming before the fact.
 *
 * The tracker is engaged the first time the device enters PRE_COPY and
 * stays on until the device is closed: the driver can't see the container's
 * dirty-tracking ioctls, and once engaged type1 would report nothing for
 * this group if we stopped pinning.
 *
 * Locking: dirty->lock serialises the poller, engagement, user unmaps and
 * teardown; it is taken before memory_lock. memory_lock is held (read) only
 * around register accesses, never across vfio_pin_pages(),
 * vfio_unpin_pages() or vfio_dma_rw() (see ivf_pass_io()). The core resets
 * the VF with memory_lock held for write and can't take dirty->lock:
 * ivf_dirty_reset() only touches the shadow and reset_seen[] (no register
 * section of a poll runs meanwhile) and leaves a note that ends the poll
 * under way and makes the next one start from the reset state.
 */
#include <linux/delay.h>
#include <linux/io.h>
#include <linux/highmem.h>
#include <linux/interval_tree.h>
#include <linux/iommu.h>
#include <linux/iova_bitmap.h>
#include <linux/kstrtox.h>
#include <linux/kthread.h>
#include <linux/ktime.h>
#include <linux/mm.h>
#include <linux/minmax.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/slab.h>
#include <linux/vfio.h>
#include <linux/xarray.h>

#include "ivf.h"

/* A module parameter that refuses values outside [min, max] (ERANGE). */
struct ivf_uint_param {
	unsigned int *val;
	unsigned int min, max;
};

static int ivf_uint_set(const char *val, const struct kernel_param *kp)
{
	const struct ivf_uint_param *p = kp->arg;
	unsigned int n;
	int ret;

	ret = kstrtouint(val, 0, &n);
	if (ret)
		return ret;
	if (n < p->min || n > p->max)
		return -ERANGE;
	WRITE_ONCE(*p->val, n);
	return 0;
}

static int ivf_uint_get(char *buf, const struct kernel_param *kp)
{
	const struct ivf_uint_param *p = kp->arg;

	return sysfs_emit(buf, "%u\n", READ_ONCE(*p->val));
}

static const struct kernel_param_ops ivf_uint_ops = {
	.set	= ivf_uint_set,
	.get	= ivf_uint_get,
};

/*
 * The poller's period. Bounded: a period near UINT_MAX would put the
 * poller to sleep for 71 minutes, and kthread_stop() (device close) would
 * wait for it.
 */
#define IVF_POLL_US_MIN		5
#define IVF_POLL_US_MAX		1000000
static unsigned int dirty_poll_us = 50;
static struct ivf_uint_param ivf_poll_us_param = {
	&dirty_poll_us, IVF_POLL_US_MIN, IVF_POLL_US_MAX
};
module_param_cb(dirty_poll_us, &ivf_uint_ops, &ivf_poll_us_param, 0644);
MODULE_PARM_DESC(dirty_poll_us,
		 "While tracking dirty pages: period of the RX doorbell poller in microseconds, 5-1000000 (default 50)");

/*
 * type1, hold mode: the pages the tracker keeps pinned for RX buffers. A guest posts
 * up to 2 x 65528 descriptors of up to 33 pages each; every page pinned
 * costs type1 a record. Past the cap a buffer is not armed and the tail
 * that posts it is held from the device until the device has consumed
 * (and the tracker unpinned) enough: a guest that posts too much receives
 * as into a shorter ring. Rings and TX rings are pinned whatever the cap
 * (at most 256 pages each). A Linux guest keeps about 1600 pages.
 */
static unsigned int dirty_pin_max = 32768;
static struct ivf_uint_param ivf_pin_max_param = {
	&dirty_pin_max, 64, BIT(22)
};
module_param_cb(dirty_pin_max, &ivf_uint_ops, &ivf_pin_max_param, 0644);
MODULE_PARM_DESC(dirty_pin_max,
		 "While tracking dirty pages through type1: pages pinned per VF past which RX buffers wait for the device to consume others, 64-4194304 (default 32768)");

/*
 * type1: pulse mode (the default) or hold mode (debugfs dirty_pulse N); see
 * the top of this file. Read when tracking starts. Hold mode keeps what the
 * device may write pinned; two VMM threads unmapping pinned ranges at once
 * deadlock in type1 then (README, claim 8). It stays as a fallback.
 */
bool ivf_dirty_pulse = true;

#define IVF_PAGE2		0x2000
#define IVF_SH(reg)		(((reg) - IVF_PAGE2) / 4)
/* The two RX queue register blocks, 0x2800-0x29ff, are shadowed. */
#define IVF_RXQ_FIRST		IVF_RDBAL(0)
#define IVF_RXQ_WORDS		(2 * 0x100 / 4)
#define IVF_MAX_PIN		512	/* VFIO_PIN_PAGES_MAX_ENTRIES */
#define IVF_TX_CHECK_POLLS	16
#define IVF_FENCE_MS		1000
/* A pulse type1 could not pin is tried again after this long. */
#define IVF_RETRY_MS		10

/* type1's unmap callback waits at most this long for a pulse to end. */
#define IVF_UNMAP_WAIT_MS	100
/* DMA logging: pages recorded between two reports (64 MiB of IOVA). */
#define IVF_LOG_MAX_PAGES	16384

static u64 ivf_ring_base(u32 lo, u32 hi)
{
	return ((u64)hi << 32) | (lo & ~0x7fU);
}

/*
 * The fence over [iova, end), if any; fence_lock held. Hold mode forgets a
 * fence when it expires; pulse mode keeps it until ivf_pulse_sweep() has
 * done the pulses it put off.
 */
static struct ivf_fence *ivf_fence_hit(struct ivf_dirty *d, u64 iova, u64 end)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(d->fence); i++) {
		struct ivf_fence *f = &d->fence[i];

		if (!f->len || (!d->pulse && time_after(jiffies, f->expires)))
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

/* Put the pulse of [iova, end) off until fence @f is lifted. */
static void ivf_fence_defer(struct ivf_dirty *d, struct ivf_fence *f,
			    u64 iova, u64 end)
{
	f->pend_lo = f->pend_hi ? min(f->pend_lo, iova) : iova;
	f->pend_hi = max(f->pend_hi, end);
	d->pulse_deferred++;
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
	d->pulses += npages;
	d->scoped = true;
	return 0;
}

/*
 * type1 could not pin a page of [iova, end) that is mapped for the
 * device's writes (-ENOMEM, or -EFAULT when the VMM's memory behind it is
 * gone): it is not marked dirty. Keep it for a retry, in one of
 * IVF_RETRY_SLOTS ranges (the one that grows least takes it when all are
 * used: a retry of a page not written costs only an over-report).
 * dirty->lock held.
 */
static void ivf_pulse_failed(struct ivf_dirty *d, u64 iova, u64 end, int err)
{
	u64 grow, best = U64_MAX;
	unsigned int i, pick = 0;

	d->pulse_failed += (end - iova) >> PAGE_SHIFT;
	d->pulse_err = err;
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
		iova = min(iova, d->retry[pick].lo);
		end = max(end, d->retry[pick].hi);
	}
	d->retry[pick].lo = iova;
	d->retry[pick].hi = end;
}

/*
 * Pulse mode: the device wrote [iova, iova + npages pages), or may have:
 * pin it and let it go at once. type1 marks a page dirty when it is pinned
 * while dirty tracking is on, so the next sync reports it. A range being
 * unmapped is not pinned (type1 would find our pin and call us again; it
 * gives up after ten tries): the pulse waits for the fence to be lifted.
 * dirty->lock held; no other lock.
 */
static void ivf_pulse(struct ivf_device *ivf, u64 iova, u32 npages)
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
		ivf_fence_defer(d, f, iova, end);
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
			ivf_fence_defer(d, f, a, end);
		spin_unlock(&d->fence_lock);
		if (f)
			break;
		/* not mapped, or mapped read-only: the device can't write it */
		if (err == -EINVAL || err == -EPERM)
			d->pulse_unmapped++;
		else
			ivf_pulse_failed(d, a, a + PAGE_SIZE, err);
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
static void ivf_pulse_ring(struct ivf_device *ivf, u64 base, u32 ndesc,
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
static void ivf_pulse_sweep(struct ivf_device *ivf, bool wait)
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
static u64 ivf_pulse_retry(struct ivf_device *ivf, bool now)
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
 * type1 unmaps [iova, iova + len) (pulse mode): it calls us holding its
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
	d->fenced = true;
	spin_unlock(&d->fence_lock);
	wait_event_timeout(d->pulse_wq, !ivf_pulse_busy(d, iova, end),
			   msecs_to_jiffies(IVF_UNMAP_WAIT_MS));
}

/*
 * DMA logging: a page the device may write from now on is reported at the
 * next read_and_clear, even if the device is done with it by then. Marked
 * when a span is armed and again when it is let go (the device may have
 * written it after the last report that saw it armed).
 *
 * Only pages inside the ranges given at log_start are recorded (the VMM
 * asks about nothing else), and at most IVF_LOG_MAX_PAGES of them: a guest
 * can post buffers anywhere, as large as it likes, as often as it likes.
 * Past the cap, or when memory runs out, the record is dropped and every
 * range is reported whole until a report has covered it (correct, only
 * imprecise).
 */
static void ivf_log_overflow(struct ivf_dirty *d)
{
	u32 i;

	for (i = 0; i < d->log_nranges; i++)
		d->log_ranges[i].all = true;
	xa_destroy(&d->log);
	d->log_entries = 0;
	d->log_overflows++;
}

/* The first range that ends at or after @iova (log_nranges if none). */
static u32 ivf_log_range_from(struct ivf_dirty *d, u64 iova)
{
	u32 lo = 0, hi = d->log_nranges;

	while (lo < hi) {
		u32 mid = lo + (hi - lo) / 2;

		if (d->log_ranges[mid].last < iova)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Forget what logging recorded and its ranges. dirty->lock held. */
static void ivf_log_clear(struct ivf_dirty *d)
{
	xa_destroy(&d->log);
	d->log_entries = 0;
	kvfree(d->log_ranges);
	d->log_ranges = NULL;
	d->log_nranges = 0;
}

static void ivf_log_mark(struct ivf_dirty *d, const struct ivf_span *s)
{
	u64 start = s->iova, end = s->iova + ((u64)s->npages << PAGE_SHIFT);
	u32 i;

	if (!d->logging)
		return;
	for (i = ivf_log_range_from(d, start);
	     i < d->log_nranges && d->log_ranges[i].first < end; i++) {
		struct ivf_log_range *r = &d->log_ranges[i];
		u64 a = max(start, r->first) >> PAGE_SHIFT;
		u64 b = min(end - 1, r->last) >> PAGE_SHIFT;
		void *old;

		for (; !r->all && a <= b; a++) {
			if (d->log_entries >= IVF_LOG_MAX_PAGES) {
				ivf_log_overflow(d);
				return;
			}
			old = xa_store(&d->log, a, xa_mk_value(1),
				       GFP_KERNEL_ACCOUNT);
			if (xa_is_err(old)) {
				ivf_log_overflow(d);
				return;
			}
			if (!old)
				d->log_entries++;
		}
	}
}

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
 * Pin a span if it is not pinned yet and not in a range being unmapped.
 * false: it could not be pinned (it is forgotten); the device must not be
 * given it. @capped: an RX buffer, which waits past dirty_pin_max.
 */
static bool ivf_span_try(struct ivf_device *ivf, struct ivf_span *s,
			 bool capped)
{
	struct ivf_dirty *d = &ivf->dirty;
	int ret;

	if (!s->npages || s->pinned)
		return true;
	ivf_log_mark(d, s);
	if (!d->pin_mode || d->pulse || ivf_fenced(d, s->iova, s->npages))
		return true;
	if (capped && d->pinned + s->npages > READ_ONCE(dirty_pin_max)) {
		d->pin_capped++;
		pci_info_ratelimited(ivf->core.pdev,
				     "dirty tracking: %llu pages pinned, the cap (dirty_pin_max %u): RX tail held until the device consumes buffers\n",
				     d->pinned, READ_ONCE(dirty_pin_max));
		s->npages = 0;
		return false;
	}
	ret = vfio_pin_pages(&ivf->core.vdev, s->iova, s->npages,
			     IOMMU_READ | IOMMU_WRITE, d->pages);
	if (ret == s->npages) {
		s->pinned = true;
		d->pinned += s->npages;
		d->scoped = true;
		return true;
	}
	/*
	 * type1 pins all of a span or none of it: a page of it is not
	 * mapped (or not writable) for the device. The device could still
	 * write the others, so whoever gave us the span must not hand it
	 * to the device (an RX tail is held before it).
	 */
	d->pin_failures++;
	pci_info_ratelimited(ivf->core.pdev,
			     "dirty tracking: IOVA 0x%llx+%u pages not pinnable (%d); held from the device\n",
			     s->iova, s->npages, ret);
	s->npages = 0;
	return false;
}

static bool ivf_span_set(struct ivf_device *ivf, struct ivf_span *s,
			 u64 addr, u64 len, bool capped)
{
	u64 first, last;

	s->npages = 0;
	s->pinned = false;
	if (!len || addr + len < addr)
		return true;
	first = addr & PAGE_MASK;
	last = (addr + len - 1) & PAGE_MASK;
	s->iova = first;
	s->npages = min_t(u64, ((last - first) >> PAGE_SHIFT) + 1, IVF_MAX_PIN);
	return ivf_span_try(ivf, s, capped);
}

static void ivf_span_drop(struct ivf_device *ivf, struct ivf_span *s)
{
	struct ivf_dirty *d = &ivf->dirty;

	/*
	 * Logging: the device may have written it since the last report
	 * (type1 does the same for an unpinned page): in the next one too.
	 */
	if (s->npages)
		ivf_log_mark(d, s);
	/* Pulse mode: the device may have written it since the last poll. */
	if (s->npages && d->pin_mode && d->pulse)
		ivf_pulse(ivf, s->iova, s->npages);
	if (s->pinned) {
		vfio_unpin_pages(&ivf->core.vdev, s->iova, s->npages);
		d->pinned -= s->npages;
	}
	s->pinned = false;
	s->npages = 0;
}

/*
 * Pulse mode: the buffers a retire lets go, as one range while they are
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

/* Let a consumed buffer go: pulsed with its neighbours in pulse mode. */
static void ivf_span_retire(struct ivf_device *ivf, struct ivf_run *r,
			    struct ivf_span *s)
{
	struct ivf_dirty *d = &ivf->dirty;
	u64 a = s->iova, b = s->iova + ((u64)s->npages << PAGE_SHIFT);

	if (!s->npages || !d->pin_mode || !d->pulse || s->pinned || b < a) {
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
static void ivf_rxq_restart(struct ivf_device *ivf, struct ivf_rxq_trk *t,
			    u32 idx)
{
	struct ivf_dirty *d = &ivf->dirty;

	/*
	 * Pulse mode: the device may have written back descriptors it was
	 * given since the last poll (the buffers are pulsed as they drop).
	 */
	if (d->pin_mode && d->pulse && t->tail_seq != t->head_seq)
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
 * memory and pin what they point to. Returns the posting it stopped at:
 * @to, or the first one that could not be armed (its descriptor could not
 * be read, or a buffer could not be pinned). Nothing from there on may go
 * to the device.
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
	bool ok;

	while (t->ndesc && p < to) {
		slot = p % t->ndesc;
		n = min_t(u64, to - p, t->ndesc - slot);
		n = min_t(u32, n, ARRAY_SIZE(desc) / 2);
		if (ivf_guest_read(ivf, t->base + (u64)slot * IVF_DESC_SIZE,
				   desc, n * IVF_DESC_SIZE)) {
			d->pin_failures++;
			return p;
		}
		for (k = 0; k < n; k++, p++, slot++) {
			struct ivf_span *pkt = &t->bufs[2 * slot];
			struct ivf_span *hdr = &t->bufs[2 * slot + 1];

			ivf_span_drop(ivf, pkt);
			ivf_span_drop(ivf, hdr);
			t->seq[slot] = p;
			ok = ivf_span_set(ivf, pkt,
					  le64_to_cpu(desc[2 * k]) & ~1ULL,
					  ivf_pkt_size(t->srrctl), true);
			if (ok && split)
				ok = ivf_span_set(ivf, hdr,
						  le64_to_cpu(desc[2 * k + 1]) &
						  ~1ULL, ivf_hdr_size(t->srrctl),
						  true);
			if (!ok) {
				ivf_span_drop(ivf, pkt);
				ivf_span_drop(ivf, hdr);
				t->seq[slot] = U64_MAX;
				return p;
			}
		}
	}
	return to;
}

/*
 * The device's head is at ring index @idx: unpin the postings it consumed,
 * and only those (a slot armed again since holds a later posting).
 */
static void ivf_rxq_retire(struct ivf_device *ivf, struct ivf_rxq_trk *t,
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
	/* Pulse mode: the descriptors it wrote back, then their buffers. */
	if (ivf->dirty.pin_mode && ivf->dirty.pulse)
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
static int ivf_rxq_arm_to(struct ivf_device *ivf, struct ivf_rxq_trk *t,
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

/* The ring's geometry changed (or tracking starts): pin the new ring. */
static int ivf_rxq_layout(struct ivf_device *ivf, struct ivf_rxq_trk *t,
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
	ivf_span_set(ivf, &t->ring, t->base, (u64)ndesc * 16, false);
	return 0;
}

static u32 *ivf_sh(struct ivf_dirty *d, u32 reg)
{
	return &d->shadow_va[IVF_SH(reg)];
}

static bool ivf_rxq_special(u32 reg, unsigned int q)
{
	return reg == IVF_RXDCTL(q) || reg == IVF_RDT(q) || reg == IVF_RDH(q) ||
	       reg == IVF_RQDPC(q);
}

/*
 * A pass holds memory_lock (read) only while it touches registers, never
 * across a call into the IOMMU backend: vfio_pin_pages(), vfio_unpin_pages()
 * and vfio_dma_rw() take the container's lock, under which type1 takes
 * mmap_lock, under which a BAR fault takes memory_lock (lockdep saw the
 * cycle). Between two register sections the core may reset the VF (resync
 * is set again) or make it inaccessible: the pass then ends where it is.
 * Each step records what the device has (seen[]) only once it is written,
 * and lays out or restarts a ring before the device gets it, so the next
 * pass carries on (after a reset, from the reset state).
 */
static void __iomem *ivf_pass_io(struct ivf_device *ivf)
{
	void __iomem *io = ivf_vf_io_try(ivf);

	if (io && (atomic_read(&ivf->dirty.resync) ||
		   atomic_read(&ivf->dirty.guest_reset))) {
		ivf_vf_io_unlock(ivf);
		io = NULL;
	}
	return io;
}

/*
 * Give the device tail @v of ring @t (memory_lock not held): arm what it
 * posts first. The device is never given a descriptor whose buffers are not
 * armed: a tail that can't be armed all the way (a descriptor unreadable, a
 * buffer not pinnable, an index past the ring) is held, and the device gets
 * the tail up to what is armed; the rest follows once it can be armed (the
 * shadow still differs from what the device has, so every poll tries
 * again). Returns the tail for the device, or -1 to leave the device's as
 * it is.
 */
static int ivf_rxq_tail(struct ivf_device *ivf, struct ivf_rxq_trk *t, u32 v)
{
	struct ivf_dirty *d = &ivf->dirty;
	int fwd = ivf_rxq_arm_to(ivf, t, v);

	if (fwd != (int)(v & IVF_RING_IDX_MASK) || (v & ~IVF_RING_IDX_MASK))
		d->held_tails++;
	return fwd;
}

#define SEEN(t, r, q)	((t)->seen[((r) - IVF_RDBAL(q)) / 4])

/* Step 1: a queue disable goes to the device first. */
static void ivf_rxq_disable(struct ivf_dirty *d, struct ivf_rxq_trk *t,
			    void __iomem *io, unsigned int q, u32 rxdctl)
{
	if (rxdctl != SEEN(t, IVF_RXDCTL(q), q) &&
	    !(rxdctl & IVF_XDCTL_ENABLE)) {
		iowrite32(rxdctl, io + IVF_RXDCTL(q));
		SEEN(t, IVF_RXDCTL(q), q) = rxdctl;
	}
}

/*
 * Step 2: ring base, length, buffer sizes, anything else; then the head.
 * A guest that changed its ring or buffer sizes between two polls never had
 * the device see the queue disabled: it is disabled here for the change
 * (the buffers armed for the old layout are dropped, and armed again for
 * the new one before the enable). A head past the ring is given to the
 * device modulo the ring. false: the pass ends; the new layout could not
 * be made (no memory) and the queue is held disabled until it can.
 */
static bool ivf_rxq_geometry(struct ivf_device *ivf, struct ivf_rxq_trk *t,
			     void __iomem **pio, unsigned int q, bool *held)
{
	struct ivf_dirty *d = &ivf->dirty;
	u32 bal, bah, len, srr, rdh, reg, w;
	void __iomem *io = *pio;
	bool relayout;

	bal = READ_ONCE(*ivf_sh(d, IVF_RDBAL(q)));
	bah = READ_ONCE(*ivf_sh(d, IVF_RDBAH(q)));
	len = READ_ONCE(*ivf_sh(d, IVF_RDLEN(q)));
	srr = READ_ONCE(*ivf_sh(d, IVF_SRRCTL(q)));
	rdh = READ_ONCE(*ivf_sh(d, IVF_RDH(q)));
	relayout = bal != SEEN(t, IVF_RDBAL(q), q) ||
		   bah != SEEN(t, IVF_RDBAH(q), q) ||
		   len != SEEN(t, IVF_RDLEN(q), q) ||
		   srr != SEEN(t, IVF_SRRCTL(q), q);
	if ((relayout || rdh != SEEN(t, IVF_RDH(q), q)) &&
	    (SEEN(t, IVF_RXDCTL(q), q) & IVF_XDCTL_ENABLE)) {
		iowrite32(SEEN(t, IVF_RXDCTL(q), q) & ~IVF_XDCTL_ENABLE,
			  io + IVF_RXDCTL(q));
		SEEN(t, IVF_RXDCTL(q), q) &= ~IVF_XDCTL_ENABLE;
	}
	if (relayout || rdh != SEEN(t, IVF_RDH(q), q)) {
		/* Lay out the new geometry before the device gets it. */
		ivf_vf_io_unlock(ivf);
		*pio = NULL;
		if (relayout && ivf_rxq_layout(ivf, t, bal, bah, len, srr)) {
			if (!d->layout_nomem++)
				ivf_warn_rl(ivf->core.pdev,
					    "dirty tracking: no memory to lay out RX queue %u's ring: the queue stays disabled until there is\n",
					    q);
			*held = true;
			return true;
		}
		/* A new head: nothing is posted until the tail moves again. */
		ivf_rxq_restart(ivf, t, t->ndesc ?
				(rdh & IVF_RING_IDX_MASK) % t->ndesc : 0);
		io = ivf_pass_io(ivf);
		if (!io)
			return false;
		*pio = io;
	}
	for (reg = IVF_RDBAL(q); reg < IVF_RDBAL(q) + 0x100; reg += 4) {
		if (ivf_rxq_special(reg, q))
			continue;
		if (reg == IVF_RDBAL(q))
			w = bal;
		else if (reg == IVF_RDBAH(q))
			w = bah;
		else if (reg == IVF_RDLEN(q))
			w = len;
		else if (reg == IVF_SRRCTL(q))
			w = srr;
		else
			w = READ_ONCE(*ivf_sh(d, reg));
		if (w == SEEN(t, reg, q))
			continue;
		iowrite32(w, io + reg);
		SEEN(t, reg, q) = w;
	}
	if (rdh != SEEN(t, IVF_RDH(q), q)) {
		iowrite32(t->head_seq % max(t->ndesc, 1U), io + IVF_RDH(q));
		SEEN(t, IVF_RDH(q), q) = rdh;
	}
	return true;
}

/*
 * Step 3: the enable. The device owns head to tail from here on: if the
 * head moved while the queue was off, under a tail written before it (step
 * 2 dropped what that tail armed), arm it again first, and give the device
 * only the tail that is armed.
 */
static bool ivf_rxq_enable(struct ivf_device *ivf, struct ivf_rxq_trk *t,
			   void __iomem **pio, unsigned int q, u32 rxdctl)
{
	void __iomem *io = *pio;
	int fwd;

	if (rxdctl == SEEN(t, IVF_RXDCTL(q), q))
		return true;
	if ((rxdctl & IVF_XDCTL_ENABLE) &&
	    !(SEEN(t, IVF_RXDCTL(q), q) & IVF_XDCTL_ENABLE)) {
		ivf_vf_io_unlock(ivf);
		*pio = NULL;
		fwd = ivf_rxq_tail(ivf, t, SEEN(t, IVF_RDT(q), q));
		io = ivf_pass_io(ivf);
		if (!io)
			return false;
		*pio = io;
		if (fwd < 0)
			fwd = t->ndesc ? t->tail_seq % t->ndesc : 0;
		if (fwd != SEEN(t, IVF_RDT(q), q)) {
			iowrite32(fwd, io + IVF_RDT(q));
			SEEN(t, IVF_RDT(q), q) = fwd;
		}
	}
	iowrite32(rxdctl, io + IVF_RXDCTL(q));
	SEEN(t, IVF_RXDCTL(q), q) = rxdctl;
	return true;
}

/*
 * Step 4, queue enabled: show the guest what the device changed (a VF reset
 * disables the queue behind its back; the head moves), and retire what the
 * device consumed, by posting number: a slot the guest posts again later
 * keeps its new buffer armed whatever the head does meanwhile.
 */
static bool ivf_rxq_consumed(struct ivf_device *ivf, struct ivf_rxq_trk *t,
			     void __iomem **pio, unsigned int q, bool full)
{
	struct ivf_dirty *d = &ivf->dirty;
	void __iomem *io = *pio;
	u32 v, head;

	v = ioread32(io + IVF_RXDCTL(q));
	if (v != SEEN(t, IVF_RXDCTL(q), q) &&
	    cmpxchg(ivf_sh(d, IVF_RXDCTL(q)), SEEN(t, IVF_RXDCTL(q), q), v) ==
	    SEEN(t, IVF_RXDCTL(q), q))
		SEEN(t, IVF_RXDCTL(q), q) = v;
	head = ioread32(io + IVF_RDH(q));
	/*
	 * The device has used every descriptor it was given while the guest
	 * has posted more that we have not forwarded yet: frames arriving now
	 * are dropped (QEMU's igb drops them without counting them anywhere
	 * the VF can see). Counted, so that a loss can be told from a bug.
	 */
	if ((head & IVF_RING_IDX_MASK) == SEEN(t, IVF_RDT(q), q) &&
	    READ_ONCE(*ivf_sh(d, IVF_RDT(q))) != SEEN(t, IVF_RDT(q), q))
		d->rx_starved++;
	if (full || !(d->polls % IVF_TX_CHECK_POLLS))
		WRITE_ONCE(*ivf_sh(d, IVF_RQDPC(q)),
			   ioread32(io + IVF_RQDPC(q)));
	ivf_vf_io_unlock(ivf);
	*pio = NULL;
	ivf_rxq_retire(ivf, t, head & IVF_RING_IDX_MASK);
	io = ivf_pass_io(ivf);
	if (!io)
		return false;
	*pio = io;
	if (cmpxchg(ivf_sh(d, IVF_RDH(q)), SEEN(t, IVF_RDH(q), q), head) ==
	    SEEN(t, IVF_RDH(q), q))
		SEEN(t, IVF_RDH(q), q) = head;
	return true;
}

/*
 * One RX queue: forward what the guest wrote to the shadow, in a safe
 * order, arming buffers before the device may use them. false: the pass
 * ends (the VF was reset or became inaccessible: see ivf_pass_io()).
 */
static bool ivf_rxq_poll(struct ivf_device *ivf, unsigned int q, bool full)
{
	struct ivf_dirty *d = &ivf->dirty;
	struct ivf_rxq_trk *t = &d->rx[q];
	void __iomem *io;
	bool held = false;
	u32 rxdctl, v;
	int fwd;

	io = ivf_pass_io(ivf);
	if (!io)
		return false;
	rxdctl = READ_ONCE(*ivf_sh(d, IVF_RXDCTL(q)));
	ivf_rxq_disable(d, t, io, q, rxdctl);
	if (!ivf_rxq_geometry(ivf, t, &io, q, &held))
		return false;
	if (held)
		return true;
	if (!ivf_rxq_enable(ivf, t, &io, q, rxdctl))
		return false;
	/*
	 * A disabled queue's head doesn't move and the device doesn't enable
	 * it by itself: no register reads for it (each one is a device
	 * access; an idle queue costs nothing).
	 */
	if ((SEEN(t, IVF_RXDCTL(q), q) & IVF_XDCTL_ENABLE) &&
	    !ivf_rxq_consumed(ivf, t, &io, q, full))
		return false;

	/*
	 * Step 5: the tail, once what it posts is armed (a disabled queue's
	 * too: if the head moves before the enable, step 2 drops these and
	 * step 3 arms again from the new head).
	 */
	v = READ_ONCE(*ivf_sh(d, IVF_RDT(q)));
	if (v != SEEN(t, IVF_RDT(q), q)) {
		ivf_vf_io_unlock(ivf);
		fwd = ivf_rxq_tail(ivf, t, v);
		io = ivf_pass_io(ivf);
		if (!io)
			return false;
		if (fwd >= 0 && fwd != SEEN(t, IVF_RDT(q), q)) {
			iowrite32(fwd, io + IVF_RDT(q));
			SEEN(t, IVF_RDT(q), q) = fwd;
			d->tails++;
		}
	}
	ivf_vf_io_unlock(ivf);
	return true;
}

#undef SEEN

/*
 * TX ring and head write-back registers of queue @q, and its head
 * (memory_lock held).
 */
static void ivf_txq_read(void __iomem *io, unsigned int q, u32 r[6])
{
	r[0] = ioread32(io + IVF_TDBAL(q));
	r[1] = ioread32(io + IVF_TDBAH(q));
	r[2] = ioread32(io + IVF_TDLEN(q)) & IVF_RING_LEN_MASK;
	r[3] = ioread32(io + IVF_TDWBAL(q));
	r[4] = ioread32(io + IVF_TDWBAH(q));
	r[5] = ioread32(io + IVF_TDH(q)) & IVF_RING_IDX_MASK;
}

/*
 * TX rings and head write-back: found in registers, pinned as they are.
 * Pulse mode: the descriptors the device has written back since the last
 * look (up to its head), and the head write-back word with them.
 */
static void ivf_txq_update(struct ivf_device *ivf, unsigned int q,
			   const u32 r[6])
{
	struct ivf_dirty *d = &ivf->dirty;
	struct ivf_txq_trk *t = &d->tx[q];
	u32 bal = r[0], bah = r[1], len = r[2], wbl = r[3], wbh = r[4];
	u32 ndesc = t->tdlen / IVF_DESC_SIZE;

	if (d->pin_mode && d->pulse && r[5] != t->tdh &&
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
		ivf_span_set(ivf, &t->ring, ivf_ring_base(bal, bah), len,
			     false);
		/*
		 * Pulse mode: the guest set this ring up before we looked, and
		 * the device may have written back into it since.
		 */
		if (d->pin_mode && d->pulse)
			ivf_pulse(ivf, t->ring.iova, t->ring.npages);
		t->tdbal = bal;
		t->tdbah = bah;
		t->tdlen = len;
	} else {
		ivf_span_try(ivf, &t->ring, false);
	}
	if (wbl != t->tdwbal || wbh != t->tdwbah) {
		ivf_span_drop(ivf, &t->wb);
		if (wbl & IVF_TDWBAL_ENABLE)
			ivf_span_set(ivf, &t->wb,
				     ((u64)wbh << 32) | (wbl & ~3U), 4, false);
		if (d->pin_mode && d->pulse)
			ivf_pulse(ivf, t->wb.iova, t->wb.npages);
		t->tdwbal = wbl;
		t->tdwbah = wbh;
	} else {
		ivf_span_try(ivf, &t->wb, false);
	}
}

/*
 * type1 reports every mapped page as dirty for a group until the group has
 * pinned a page, and from then on only pinned pages (and pages pinned since
 * the last report). Pulse mode pins only once the device has written, and a
 * VF whose guest has set nothing up yet (firmware still running, no VF
 * driver loaded) writes nothing: a migration would then copy all of memory
 * on every pass and never converge. So pin one page and let it go at once:
 * the first page of a ring the guest has set up, else guest memory at IOVA
 * 0, where QEMU maps the start of RAM. type1 reports that page once. If
 * none can be pinned, try again every second until a page has been.
 * dirty->lock held.
 */
static void ivf_dirty_scope(struct ivf_device *ivf)
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

/* Spans left unpinned by a fence: pin them once it is lifted. */
static void ivf_dirty_retry(struct ivf_device *ivf)
{
	struct ivf_dirty *d = &ivf->dirty;
	unsigned int q;
	u32 i;

	for (q = 0; q < IVF_NUM_QUEUES; q++) {
		struct ivf_rxq_trk *t = &d->rx[q];

		ivf_span_try(ivf, &t->ring, false);
		for (i = 0; i < 2 * t->ndesc; i++)
			/* the device may own it already: no cap */
			if (t->bufs[i].npages && !t->bufs[i].pinned)
				ivf_span_try(ivf, &t->bufs[i], false);
	}
}

/*
 * After a VF reset: the shadow holds what the device now has. The core
 * writes reset_seen[] with memory_lock held for write.
 */
static void ivf_dirty_resync(struct ivf_device *ivf)
{
	struct ivf_dirty *d = &ivf->dirty;
	u32 head[IVF_NUM_QUEUES];
	unsigned int q;

	down_read(&ivf->core.memory_lock);
	atomic_set(&d->resync, 0);
	for (q = 0; q < IVF_NUM_QUEUES; q++) {
		struct ivf_rxq_trk *t = &d->rx[q];

		memcpy(t->seen, d->reset_seen[q], sizeof(t->seen));
		head[q] = t->seen[(IVF_RDH(q) - IVF_RDBAL(q)) / 4] & 0xffff;
	}
	up_read(&ivf->core.memory_lock);
	for (q = 0; q < IVF_NUM_QUEUES; q++) {
		struct ivf_rxq_trk *t = &d->rx[q];

		ivf_rxq_restart(ivf, t, t->ndesc ? head[q] % t->ndesc : 0);
	}
}

/*
 * The device's RX queue registers into the shadow, after a reset (the
 * core's, @guest false: also into reset_seen[] for the poller; or the
 * guest's, @guest true: with every queue disabled). shadow_lock held.
 */
static void ivf_shadow_from_device(struct ivf_dirty *d, void __iomem *io,
				   bool guest)
{
	unsigned int q, i;

	lockdep_assert_held(&d->shadow_lock);
	for (q = 0; q < IVF_NUM_QUEUES; q++) {
		for (i = 0; i < IVF_RXQ_WORDS / 2; i++) {
			u32 reg = IVF_RDBAL(q) + 4 * i;
			u32 v = ioread32(io + reg);

			if (guest && reg == IVF_RXDCTL(q))
				v &= ~IVF_XDCTL_ENABLE;
			WRITE_ONCE(d->shadow_va[IVF_SH(reg)], v);
			if (!guest)
				d->reset_seen[q][i] = v;
		}
	}
}

/*
 * The guest wrote CTRL.RST (the page-0 trap, memory_lock held for read, the
 * write already on the device). On the 82576 a VF reset puts the VF's queue
 * registers back to their reset values (QEMU's model only clears the queue
 * enables): what the poller has seen is stale, and a guest that programs
 * the same ring again would not have it forwarded. The guest's next writes
 * to page 2 land in the shadow and must all reach the device, however late
 * the poller runs: so the shadow takes the device's registers here, before
 * the guest's write returns, with every queue disabled (a reset disables
 * them, even if the device does not show it yet); the next pass takes
 * seen[] from the device and restarts the rings. A pass that loaded the
 * shadow earlier may still forward one stale value after the reset: the
 * next pass compares with what the device then has and puts it right.
 */
void ivf_dirty_guest_reset(struct ivf_device *ivf, void __iomem *io)
{
	struct ivf_dirty *d = &ivf->dirty;

	spin_lock(&d->shadow_lock);
	if (READ_ONCE(d->shadow_on) && d->shadow_va) {
		ivf_shadow_from_device(d, io, true);
		atomic_set(&d->guest_reset, 1);
	}
	spin_unlock(&d->shadow_lock);
}

/*
 * The pass's part of a guest's CTRL.RST: what the device has now, in
 * seen[] (the shadow is the guest's since ivf_dirty_guest_reset()); false:
 * the pass ends.
 */
static bool ivf_dirty_guest_resync(struct ivf_device *ivf)
{
	struct ivf_dirty *d = &ivf->dirty;
	u32 head[IVF_NUM_QUEUES];
	void __iomem *io;
	unsigned int q, i;

	/* not ivf_pass_io(): it ends the pass while guest_reset is set */
	io = ivf_vf_io_try(ivf);
	if (!io)
		return false;
	if (atomic_read(&d->resync)) {
		ivf_vf_io_unlock(ivf);
		return false;
	}
	atomic_set(&d->guest_reset, 0);
	for (q = 0; q < IVF_NUM_QUEUES; q++) {
		for (i = 0; i < IVF_RXQ_WORDS / 2; i++)
			d->rx[q].seen[i] = ioread32(io + IVF_RDBAL(q) + 4 * i);
		head[q] = ioread32(io + IVF_RDH(q)) & IVF_RING_IDX_MASK;
	}
	ivf_vf_io_unlock(ivf);
	for (q = 0; q < IVF_NUM_QUEUES; q++) {
		struct ivf_rxq_trk *t = &d->rx[q];

		ivf_rxq_restart(ivf, t, t->ndesc ? head[q] % t->ndesc : 0);
	}
	return true;
}

/*
 * One pass; dirty->lock held. @full: also the TX rings and fenced spans,
 * which routine passes only look at every IVF_TX_CHECK_POLLS.
 */
static void ivf_dirty_poll(struct ivf_device *ivf, bool full)
{
	struct ivf_dirty *d = &ivf->dirty;
	u32 txr[IVF_NUM_QUEUES][6];
	void __iomem *io;
	unsigned int q;

	if (atomic_read(&d->resync))
		ivf_dirty_resync(ivf);
	if (atomic_read(&d->guest_reset) && !ivf_dirty_guest_resync(ivf))
		goto out;
	for (q = 0; q < IVF_NUM_QUEUES; q++)
		if (!ivf_rxq_poll(ivf, q, full))
			goto out;
	if (full || !(d->polls % IVF_TX_CHECK_POLLS)) {
		io = ivf_pass_io(ivf);
		if (!io)
			goto out;
		for (q = 0; q < IVF_NUM_QUEUES; q++)
			ivf_txq_read(io, q, txr[q]);
		ivf_vf_io_unlock(ivf);
		for (q = 0; q < IVF_NUM_QUEUES; q++)
			ivf_txq_update(ivf, q, txr[q]);
		if (d->pin_mode && d->pulse) {
			ivf_pulse_sweep(ivf, false);
			ivf_pulse_retry(ivf, false);
		} else if (d->fenced && d->pin_mode) {
			ivf_dirty_retry(ivf);
		}
		ivf_dirty_scope(ivf);
	}
out:
	d->polls++;
}

static int ivf_dirty_thread(void *data)
{
	struct ivf_device *ivf = data;
	struct ivf_dirty *d = &ivf->dirty;
	unsigned int us;

	/*
	 * An ordinary thread: a real-time poller starved everything else on
	 * a one-vCPU guest (the lab's suite ran five times slower).
	 */
	while (!kthread_should_stop()) {
		/* Never blocks on the lock: it may be held to stop us. */
		if (mutex_trylock(&d->lock)) {
			if (!READ_ONCE(d->paused))
				ivf_dirty_poll(ivf, false);
			mutex_unlock(&d->lock);
		}
		us = clamp(READ_ONCE(dirty_poll_us), IVF_POLL_US_MIN,
			   IVF_POLL_US_MAX);
		usleep_range(us, us + us / 4);
	}
	return 0;
}

/*
 * Fault on BAR0 page 2 while tracking: the shadow, with RAM's own
 * protection (the vma's is uncached, for MMIO). memory_lock held.
 */
bool ivf_dirty_shadow(struct ivf_device *ivf, unsigned long *pfn)
{
	struct ivf_dirty *d = &ivf->dirty;

	if (!d->shadow_on)
		return false;
	*pfn = page_to_pfn(d->shadow);
	return true;
}

/*
 * read/write of page 2 while tracking go to the shadow too, or a write of
 * the tail through the file would skip the arming. memory_lock held.
 */
bool ivf_dirty_shadow_rw(struct ivf_device *ivf, u64 off, __le32 *data,
			 bool iswrite)
{
	struct ivf_dirty *d = &ivf->dirty;
	u32 *w;

	if (!d->shadow_on)
		return false;
	w = &d->shadow_va[IVF_SH(off)];
	if (iswrite)
		WRITE_ONCE(*w, le32_to_cpu(*data));
	else
		*data = cpu_to_le32(READ_ONCE(*w));
	return true;
}

/*
 * What the guest last enabled on RX queue @q, as the device has or will
 * have it: a quiesced device (P2P and stopped states, or restored and not
 * running yet) has its queues disabled by us, and gets lm->rxdctl back on
 * the way to a running state. The shadow and the poller must hold that
 * value, or a queue the device runs would look disabled to both: the
 * poller would neither retire its buffers nor forward the guest's disable.
 * Caller holds state_mutex (or memory_lock for write, with no migration
 * arc under way) and has read @dev from the device.
 */
static u32 ivf_rxdctl_of(struct ivf_device *ivf, unsigned int q, u32 dev)
{
	return ivf->lm.quiesced ? ivf->lm.rxdctl[q] : dev;
}

/*
 * Put the shadow in place of page 2 (or take it away), under memory_lock.
 * Loading it reads the device: refused (-EIO) if the VF is in a low power
 * state or its BAR0 is not mapped. Caller holds state_mutex and dirty->lock.
 */
static int ivf_dirty_switch(struct ivf_device *ivf, bool on)
{
	struct vfio_pci_core_device *vdev = &ivf->core;
	struct ivf_dirty *d = &ivf->dirty;
	void __iomem *io = vdev->barmap[VFIO_PCI_BAR0_REGION_INDEX];
	unsigned int q, i;

	lockdep_assert_held(&d->lock);
	down_write(&vdev->memory_lock);
	if (on && (!io || vdev->pm_runtime_engaged ||
		   (__force int)vdev->pdev->current_state >=
		   (__force int)PCI_D3hot)) {
		up_write(&vdev->memory_lock);
		return -EIO;
	}
	unmap_mapping_range(vdev->vdev.inode->i_mapping,
			    VFIO_PCI_INDEX_TO_OFFSET(VFIO_PCI_BAR0_REGION_INDEX) +
			    IVF_PAGE2, PAGE_SIZE, true);
	if (on) {
		/* No user write can reach the device from here on. */
		for (q = 0; q < IVF_NUM_QUEUES; q++) {
			for (i = 0; i < IVF_RXQ_WORDS / 2; i++) {
				u32 reg = IVF_RDBAL(q) + 4 * i;
				u32 v = ioread32(io + reg);

				if (reg == IVF_RXDCTL(q))
					v = ivf_rxdctl_of(ivf, q, v);
				d->shadow_va[IVF_SH(reg)] = v;
				d->rx[q].seen[i] = v;
			}
		}
	}
	d->shadow_on = on;
	up_write(&vdev->memory_lock);
	return 0;
}

/*
 * The shadow was just loaded from the device: pin the rings and arm what is
 * posted already (hardware head to tail). dirty->lock held; memory_lock
 * only around the register reads (see ivf_pass_io()).
 */
static int ivf_dirty_start_rings(struct ivf_device *ivf)
{
	struct ivf_dirty *d = &ivf->dirty;
	u32 head[IVF_NUM_QUEUES], txr[IVF_NUM_QUEUES][6];
	bool armed[IVF_NUM_QUEUES] = { };
	void __iomem *io;
	unsigned int q;
	int ret = 0;

	io = ivf_pass_io(ivf);
	if (!io)
		goto no_io;
	for (q = 0; q < IVF_NUM_QUEUES; q++) {
		head[q] = ioread32(io + IVF_RDH(q)) & 0xffff;
		ivf_txq_read(io, q, txr[q]);
	}
	ivf_vf_io_unlock(ivf);
	for (q = 0; q < IVF_NUM_QUEUES; q++) {
		struct ivf_rxq_trk *t = &d->rx[q];
		u32 *s = t->seen, tail;

		ret = ivf_rxq_layout(ivf, t, s[0], s[1], s[2], s[3]);
		if (ret)
			return ret;
		tail = s[(IVF_RDT(q) - IVF_RDBAL(q)) / 4] & 0xffff;
		/*
		 * A head past the ring (the guest wrote it so before tracking
		 * started): the 82576 leaves that undefined; QEMU's igb writes
		 * back one descriptor there and goes on from index 0. Arm from
		 * there: the device may own all of it up to the tail.
		 */
		if (t->ndesc && tail < t->ndesc) {
			ivf_rxq_restart(ivf, t, head[q] < t->ndesc ? head[q] : 0);
			ivf_rxq_arm_to(ivf, t, tail);
			armed[q] = true;
		}
		ivf_txq_update(ivf, q, txr[q]);
	}
	/*
	 * The device kept receiving: what it consumed meanwhile may have been
	 * read as written-back descriptors. Those buffers were written before
	 * tracking started.
	 */
	io = ivf_pass_io(ivf);
	if (!io)
		goto no_io;
	for (q = 0; q < IVF_NUM_QUEUES; q++)
		head[q] = ioread32(io + IVF_RDH(q)) & 0xffff;
	ivf_vf_io_unlock(ivf);
	for (q = 0; q < IVF_NUM_QUEUES; q++)
		if (armed[q])
			ivf_rxq_retire(ivf, &d->rx[q], head[q]);
	return 0;

no_io:
	ivf_err_rl(ivf->core.pdev,
		   "dirty tracking: the VF is not accessible (low power state, BAR0 not mapped, or a reset)\n");
	return -EIO;
}

/*
 * The device's registers were set behind the shadow's back (a migration
 * restored into this VF while it is tracked): load them again.
 */
void ivf_dirty_reload(struct ivf_device *ivf)
{
	struct ivf_dirty *d = &ivf->dirty;

	mutex_lock(&d->lock);
	if (d->engaged &&
	    (ivf_dirty_switch(ivf, true) || ivf_dirty_start_rings(ivf)))
		ivf_warn_rl(ivf->core.pdev, "dirty tracking: could not reload the rings\n");
	mutex_unlock(&d->lock);
}

/*
 * A reset through sysfs (pci_reset_function()) reaches ivf_dirty_reset()
 * without memory_lock: shadow_lock keeps the shadow from being freed under
 * it.
 */
static void ivf_dirty_free_shadow(struct ivf_device *ivf)
{
	struct ivf_dirty *d = &ivf->dirty;
	struct page *page = d->shadow;

	spin_lock(&d->shadow_lock);
	d->shadow_va = NULL;
	d->shadow = NULL;
	spin_unlock(&d->shadow_lock);
	if (page)
		__free_page(page);
}

static void ivf_dirty_drop_all(struct ivf_device *ivf)
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

/* Shadow the doorbell and start the poller. dirty->lock held. */
static int ivf_dirty_start(struct ivf_device *ivf)
{
	struct ivf_dirty *d = &ivf->dirty;
	struct pci_dev *pdev = ivf->core.pdev;
	unsigned int q;
	int ret;

	d->shadow = alloc_page(GFP_KERNEL_ACCOUNT | __GFP_ZERO);
	d->pages = kvcalloc(IVF_MAX_PIN, sizeof(*d->pages), GFP_KERNEL);
	if (!d->shadow || !d->pages) {
		ret = -ENOMEM;
		goto fail;
	}
	spin_lock(&d->shadow_lock);
	d->shadow_va = page_address(d->shadow);
	spin_unlock(&d->shadow_lock);
	memset(d->rx, 0, sizeof(d->rx));
	memset(d->tx, 0, sizeof(d->tx));
	for (q = 0; q < IVF_NUM_QUEUES; q++)
		d->tx[q].tdlen = U32_MAX;	/* lay the TX rings out */
	spin_lock(&d->fence_lock);
	memset(d->fence, 0, sizeof(d->fence));
	d->pulse_iova = 0;
	d->pulse_end = 0;
	spin_unlock(&d->fence_lock);
	d->pulses = 0;
	d->pulse_deferred = 0;
	d->pulse_unmapped = 0;
	d->pulse_failed = 0;
	d->pulse_err = 0;
	d->layout_nomem = 0;
	d->drain_us = 0;
	d->pinned = 0;
	d->polls = 0;
	d->tails = 0;
	d->pin_failures = 0;
	d->held_tails = 0;
	d->rx_starved = 0;
	d->pin_capped = 0;
	d->fenced = false;
	atomic_set(&d->guest_reset, 0);
	atomic_set(&d->resync, 0);

	ret = ivf_dirty_switch(ivf, true);
	if (ret) {
		ivf_err_rl(pdev,
			   "dirty tracking: the VF is not accessible (low power state or BAR0 not mapped)\n");
		goto fail;
	}
	ret = ivf_dirty_start_rings(ivf);
	if (ret)
		goto fail_switch;

	WRITE_ONCE(d->paused, ivf->lm.quiesced);
	d->thread = kthread_run(ivf_dirty_thread, ivf, "ivf-dirty/%s",
				pci_name(pdev));
	if (IS_ERR(d->thread)) {
		ret = PTR_ERR(d->thread);
		d->thread = NULL;
		goto fail_switch;
	}
	d->engaged = true;
	return 0;

fail_switch:
	ivf_dirty_switch(ivf, false);
	ivf_dirty_drop_all(ivf);
fail:
	ivf_dirty_free_shadow(ivf);
	kvfree(d->pages);
	d->pages = NULL;
	return ret;
}

/* Stop the poller, hand the device its registers back. dirty->lock held. */
static void ivf_dirty_stop(struct ivf_device *ivf)
{
	struct ivf_dirty *d = &ivf->dirty;

	if (!d->engaged)
		return;
	/* The poller only ever trylocks, so it can't be waiting on us. */
	kthread_stop(d->thread);
	d->thread = NULL;
	/* The guest's last writes reach the device, then the real page. */
	ivf_dirty_poll(ivf, true);
	ivf_dirty_switch(ivf, false);
	ivf_dirty_drop_all(ivf);
	WARN_ON(d->pinned);
	ivf_dirty_free_shadow(ivf);
	kvfree(d->pages);
	d->pages = NULL;
	d->engaged = false;
}

/*
 * The device enters PRE_COPY (state_mutex held): a VMM migrates memory while
 * it runs. With a type1 container, pin what the device may write so type1
 * reports only that; from then on until close. Through iommufd there is no
 * container to pin in: DMA logging (log_ops) reports instead.
 */
int ivf_dirty_engage(struct ivf_device *ivf)
{
	struct ivf_dirty *d = &ivf->dirty;
	struct pci_dev *pdev = ivf->core.pdev;
	int ret = 0;

#if IS_ENABLED(CONFIG_IOMMUFD)
	if (ivf->core.vdev.iommufd_device)
		return 0;
#endif
	mutex_lock(&d->lock);
	/*
	 * A new migration: the VMM copies all of memory once more, pages
	 * that could not be marked dirty before included.
	 */
	memset(d->retry, 0, sizeof(d->retry));
	d->lost = false;
	d->lost_pages = 0;
	if (d->pin_mode)
		goto out;
	d->pin_mode = true;
	WRITE_ONCE(d->pulse, READ_ONCE(ivf_dirty_pulse));
	d->scoped = false;
	d->scope_retry = jiffies;
	if (d->engaged) {
		/* Logging already runs the tracker: pin what it armed. */
		ivf_dirty_retry(ivf);
	} else {
		ret = ivf_dirty_start(ivf);
	}
	if (ret) {
		d->pin_mode = false;
		ivf_warn_rl(pdev,
			    "dirty tracking not engaged (%d): the VMM sees every mapped page as dirty\n",
			    ret);
	} else {
		ivf_dirty_scope(ivf);
		pci_info_ratelimited(pdev, "dirty tracking engaged: RX doorbell shadowed, %s, %llu pages pinned%s\n",
				     d->pulse ? "pulse mode" : "hold mode",
				     d->pinned, d->scoped ? "" :
				     "; nothing pinnable yet, so type1 reports every mapped page until the guest sets up a ring");
	}
out:
	mutex_unlock(&d->lock);
	return ret;
}

/* The device is closed: tracking ends, page 2 maps the registers again. */
void ivf_dirty_disengage(struct ivf_device *ivf)
{
	struct ivf_dirty *d = &ivf->dirty;

	mutex_lock(&d->lock);
	/*
	 * No one will ask type1 about this device's writes any more: the
	 * last poll pins nothing (pins held are let go).
	 */
	WRITE_ONCE(d->pulse, false);
	d->pin_mode = false;
	ivf_dirty_stop(ivf);
	d->logging = false;
	ivf_log_clear(d);
	mutex_unlock(&d->lock);
}

#if IS_REACHABLE(CONFIG_IOMMUFD_DRIVER)
/* iova_bitmap_set() is exported in the IOMMUFD symbol namespace */
MODULE_IMPORT_NS(IVF_NS_IOMMUFD);

/*
 * DMA logging (VFIO_DEVICE_FEATURE_DMA_LOGGING_*): the same tracker, with
 * the pages it arms recorded until the next report instead of pinned. The
 * core keeps no state: a second start is refused, stop is idempotent, a
 * report needs a start. Whatever the ranges asked, we track every page the
 * device may write, in 4 KiB pages.
 */
/* The ranges of log_start, in IOVA order (the core refuses overlaps). */
static int ivf_log_set_ranges(struct ivf_dirty *d,
			      struct rb_root_cached *ranges, u32 nnodes)
{
	struct interval_tree_node *node;
	u32 n = 0;

	ivf_log_clear(d);
	d->log_ranges = kvcalloc(max(nnodes, 1U), sizeof(*d->log_ranges),
				 GFP_KERNEL_ACCOUNT);
	if (!d->log_ranges)
		return -ENOMEM;
	for (node = interval_tree_iter_first(ranges, 0, ULONG_MAX);
	     node && n < nnodes;
	     node = interval_tree_iter_next(node, 0, ULONG_MAX), n++) {
		d->log_ranges[n].first = node->start;
		d->log_ranges[n].last = node->last;
	}
	d->log_nranges = n;
	return 0;
}

static int ivf_log_start(struct vfio_device *vdev,
			 struct rb_root_cached *ranges, u32 nnodes,
			 u64 *page_size)
{
	struct ivf_device *ivf = ivf_from_vdev(vdev);
	struct ivf_dirty *d = &ivf->dirty;
	struct pci_dev *pdev = ivf->core.pdev;
	int ret = 0;

	/*
	 * state_mutex: the tracker loads the queues as the migration state
	 * has them (a quiesced device has them disabled by us).
	 */
	mutex_lock(&ivf->lm.state_mutex);
	mutex_lock(&d->lock);
	if (d->logging) {
		pci_notice_ratelimited(pdev, "DMA logging start refused: already started (stop it first)\n");
		ret = -EBUSY;
		goto out;
	}
	if (*page_size != PAGE_SIZE)
		pci_info_ratelimited(pdev, "DMA logging: page size %llu asked, %lu used\n",
				     *page_size, PAGE_SIZE);
	*page_size = PAGE_SIZE;
	ret = ivf_log_set_ranges(d, ranges, nnodes);
	if (ret)
		goto out;
	d->logging = true;
	if (!d->engaged)
		ret = ivf_dirty_start(ivf);
	else
		ivf_dirty_retry(ivf);
	if (ret) {
		d->logging = false;
		ivf_log_clear(d);
		ivf_warn_rl(pdev, "DMA logging not started: tracker failed (%d)\n",
			    ret);
	} else {
		pci_info_ratelimited(pdev, "DMA logging started (%u ranges)\n",
				     nnodes);
	}
out:
	mutex_unlock(&d->lock);
	ivf_lm_unlock(ivf);
	return ret;
}

static int ivf_log_stop(struct vfio_device *vdev)
{
	struct ivf_device *ivf = ivf_from_vdev(vdev);
	struct ivf_dirty *d = &ivf->dirty;

	mutex_lock(&d->lock);
	if (d->logging) {
		d->logging = false;
		ivf_log_clear(d);
		if (!d->pin_mode)
			ivf_dirty_stop(ivf);
		pci_info_ratelimited(ivf->core.pdev, "DMA logging stopped\n");
	}
	mutex_unlock(&d->lock);
	return 0;
}

static void ivf_log_span(struct iova_bitmap *dirty, const struct ivf_span *s,
			 u64 iova, u64 end)
{
	u64 a, b;

	if (!s->npages)
		return;
	a = max(s->iova, iova);
	b = min(s->iova + ((u64)s->npages << PAGE_SHIFT), end);
	if (a < b)
		iova_bitmap_set(dirty, a, b - a);
}

static int ivf_log_read_and_clear(struct vfio_device *vdev,
				  unsigned long iova, unsigned long length,
				  struct iova_bitmap *dirty)
{
	struct ivf_device *ivf = ivf_from_vdev(vdev);
	struct ivf_dirty *d = &ivf->dirty;
	u64 end = (u64)iova + length;
	unsigned long idx;
	unsigned int q;
	void *entry;
	u32 i;
	int ret = 0;

	mutex_lock(&d->lock);
	if (!d->logging) {
		pci_notice_ratelimited(ivf->core.pdev, "DMA logging report refused: logging is not started\n");
		ret = -EINVAL;
		goto out;
	}
	/*
	 * A range whose pages could not all be recorded is dirty as a whole
	 * until a report has covered all of it.
	 */
	for (i = ivf_log_range_from(d, iova);
	     i < d->log_nranges && d->log_ranges[i].first < end; i++) {
		struct ivf_log_range *r = &d->log_ranges[i];
		u64 a = max_t(u64, iova, r->first);
		u64 b = min(end - 1, r->last);

		if (!r->all)
			continue;
		iova_bitmap_set(dirty, a, b - a + 1);
		if (a == r->first && b == r->last)
			r->all = false;
	}
	xa_for_each_range(&d->log, idx, entry, iova >> PAGE_SHIFT,
			  (end - 1) >> PAGE_SHIFT) {
		iova_bitmap_set(dirty, (u64)idx << PAGE_SHIFT, PAGE_SIZE);
		xa_erase(&d->log, idx);
		d->log_entries--;
	}
	/* What the device may still write is dirty until it is done. */
	for (q = 0; q < IVF_NUM_QUEUES; q++) {
		struct ivf_rxq_trk *t = &d->rx[q];

		ivf_log_span(dirty, &t->ring, iova, end);
		ivf_log_span(dirty, &d->tx[q].ring, iova, end);
		ivf_log_span(dirty, &d->tx[q].wb, iova, end);
		for (i = 0; i < 2 * t->ndesc; i++)
			ivf_log_span(dirty, &t->bufs[i], iova, end);
	}
out:
	mutex_unlock(&d->lock);
	return ret;
}

static const struct vfio_log_ops ivf_log_ops = {
	.log_start		= ivf_log_start,
	.log_stop		= ivf_log_stop,
	.log_read_and_clear	= ivf_log_read_and_clear,
};
#endif

/*
 * Quiesce: forward what the guest wrote last (the saved state must have
 * its tail) and stop polling; unquiesce: poll again.
 */
void ivf_dirty_pause(struct ivf_device *ivf, bool pause)
{
	struct ivf_dirty *d = &ivf->dirty;

	mutex_lock(&d->lock);
	if (d->engaged && pause && !d->paused)
		ivf_dirty_poll(ivf, true);
	WRITE_ONCE(d->paused, pause);
	mutex_unlock(&d->lock);
}

/*
 * The device is quiesced and does no more DMA (state_mutex held). Pulse
 * mode: what it wrote since the last poll is reported at the next sync:
 * the RX postings it consumed and the descriptors it wrote back, the TX
 * descriptors and head write-back, and what unmaps put off (waiting for
 * their fences). Hold mode: those pages are still pinned.
 */
void ivf_dirty_drain(struct ivf_device *ivf)
{
	struct ivf_dirty *d = &ivf->dirty;
	u32 head[IVF_NUM_QUEUES], txr[IVF_NUM_QUEUES][6];
	ktime_t t0 = ktime_get();
	void __iomem *io;
	unsigned int q;
	u64 left;

	mutex_lock(&d->lock);
	if (!d->engaged || !d->pin_mode || !d->pulse)
		goto out;
	io = ivf_pass_io(ivf);
	if (!io) {
		/*
		 * A reset (the core's, under memory_lock, or the guest's)
		 * went first: it restarts the rings, which pulses everything
		 * armed.
		 */
		goto sweep;
	}
	for (q = 0; q < IVF_NUM_QUEUES; q++) {
		head[q] = ioread32(io + IVF_RDH(q)) & IVF_RING_IDX_MASK;
		ivf_txq_read(io, q, txr[q]);
	}
	ivf_vf_io_unlock(ivf);
	for (q = 0; q < IVF_NUM_QUEUES; q++) {
		ivf_rxq_retire(ivf, &d->rx[q], head[q]);
		ivf_txq_update(ivf, q, txr[q]);
	}
sweep:
	if (atomic_read(&d->resync))
		ivf_dirty_resync(ivf);
	if (atomic_read(&d->guest_reset))
		ivf_dirty_guest_resync(ivf);
	ivf_pulse_sweep(ivf, true);
	left = ivf_pulse_retry(ivf, true);
	if (left && !d->lost) {
		d->lost = true;
		d->lost_pages = left;
		ivf_err_rl(ivf->core.pdev,
			   "dirty tracking: %llu pages the device wrote could not be marked dirty (%pe): STOP_COPY is refused until a new migration starts\n",
			   left, ERR_PTR(d->pulse_err));
	}
	d->drain_us = ktime_us_delta(ktime_get(), t0);
	if (d->drain_us > 20000)
		pci_info_ratelimited(ivf->core.pdev,
				     "dirty tracking: the device's stop took %llu ms to report its last writes\n",
				     d->drain_us / 1000);
out:
	mutex_unlock(&d->lock);
}

/*
 * The device is about to hand over its state (-> STOP_COPY): refuse if a
 * page it wrote could not be marked dirty since this migration began
 * (ivf_dirty_drain()); the VMM's copy of guest memory would miss it.
 * state_mutex held.
 */
int ivf_dirty_check_lost(struct ivf_device *ivf)
{
	struct ivf_dirty *d = &ivf->dirty;
	u64 lost;

	mutex_lock(&d->lock);
	lost = d->lost ? d->lost_pages : 0;
	mutex_unlock(&d->lock);
	if (!lost)
		return 0;
	ivf_err_rl(ivf->core.pdev,
		   "migration: STOP_COPY refused: %llu pages the device wrote were never reported to the VMM; cancel, and migrate again\n",
		   lost);
	return -EIO;
}

/*
 * The migration state went back to RUNNING because the VF was reset or
 * the device closed (state_mutex held; maybe memory_lock for write, in a
 * reset, so no dirty->lock): the queues are the guest's again, and its
 * doorbells must reach the device. Without this a reset from STOP or ERROR
 * left the poller paused: RX tails never forwarded, TX rings never pinned.
 * Serialised with ivf_dirty_pause() by state_mutex.
 */
void ivf_dirty_unpause(struct ivf_device *ivf)
{
	WRITE_ONCE(ivf->dirty.paused, false);
}

/*
 * The VF was reset (memory_lock held for write by the core, so no poll is
 * in a register section): put the device's registers in the shadow and
 * tell the poller.
 */
void ivf_dirty_reset(struct ivf_device *ivf)
{
	struct vfio_pci_core_device *vdev = &ivf->core;
	struct ivf_dirty *d = &ivf->dirty;
	void __iomem *io = vdev->barmap[VFIO_PCI_BAR0_REGION_INDEX];

	spin_lock(&d->shadow_lock);
	if (READ_ONCE(d->shadow_on) && d->shadow_va && io) {
		ivf_shadow_from_device(d, io, false);
		atomic_set(&d->resync, 1);
	}
	spin_unlock(&d->shadow_lock);
}

static bool ivf_span_hit(const struct ivf_span *s, u64 iova, u64 end)
{
	return s->pinned && s->iova < end &&
	       iova < s->iova + ((u64)s->npages << PAGE_SHIFT);
}

/* The user unmaps [iova, iova + length): drop our pins there. */
void ivf_dirty_dma_unmap(struct ivf_device *ivf, u64 iova, u64 length)
{
	struct ivf_dirty *d = &ivf->dirty;
	struct ivf_fence *f;
	unsigned int q, i;
	u64 end = iova + length;

	if (READ_ONCE(d->pulse)) {
		ivf_pulse_unmap(d, iova, length);
		return;
	}
	mutex_lock(&d->lock);
	if (!d->engaged)
		goto out;
	/*
	 * Don't pin there again while type1 finishes the unmap (it would
	 * call us again, and gives up after ten tries). Spans hit keep their
	 * address and are pinned again once the fence is lifted, if the range
	 * is mapped again by then.
	 */
	spin_lock(&d->fence_lock);
	f = &d->fence[d->next_fence++ % ARRAY_SIZE(d->fence)];
	f->iova = iova;
	f->len = length;
	f->expires = jiffies + msecs_to_jiffies(IVF_FENCE_MS);
	d->fenced = true;
	spin_unlock(&d->fence_lock);

	for (q = 0; q < IVF_NUM_QUEUES; q++) {
		struct ivf_rxq_trk *t = &d->rx[q];
		struct ivf_span *spans[] = { &t->ring, &d->tx[q].ring,
					     &d->tx[q].wb };

		for (i = 0; i < ARRAY_SIZE(spans); i++) {
			if (ivf_span_hit(spans[i], iova, end)) {
				vfio_unpin_pages(&ivf->core.vdev, spans[i]->iova,
						 spans[i]->npages);
				d->pinned -= spans[i]->npages;
				spans[i]->pinned = false;
			}
		}
		for (i = 0; i < 2 * t->ndesc; i++) {
			struct ivf_span *s = &t->bufs[i];

			if (ivf_span_hit(s, iova, end)) {
				vfio_unpin_pages(&ivf->core.vdev, s->iova,
						 s->npages);
				d->pinned -= s->npages;
				s->pinned = false;
			}
		}
	}
out:
	mutex_unlock(&d->lock);
}

void ivf_dirty_show(struct ivf_device *ivf, struct seq_file *m)
{
	struct ivf_dirty *d = &ivf->dirty;
	unsigned int q, armed = 0;
	u32 i;

	mutex_lock(&d->lock);
	for (q = 0; q < IVF_NUM_QUEUES; q++)
		for (i = 0; i < d->rx[q].ndesc; i++)
			if (d->rx[q].bufs[2 * i].npages ||
			    d->rx[q].bufs[2 * i + 1].npages)
				armed++;
	seq_printf(m, "tracking %d\npaused %d\npinned %llu\narmed %u\npolls %llu\nforwarded_tails %llu\npin_failures %llu\npoll_us %u\npinned_scope %d\n",
		   d->engaged, d->paused, d->pinned, armed, d->polls, d->tails,
		   d->pin_failures, READ_ONCE(dirty_poll_us),
		   d->pin_mode && d->scoped);
	seq_printf(m, "held_tails %llu\nrx_starved %llu\npin_max %u\npin_capped %llu\n",
		   d->held_tails, d->rx_starved, READ_ONCE(dirty_pin_max),
		   d->pin_capped);
	seq_printf(m, "pulse_mode %d\npulses %llu\npulse_deferred %llu\npulse_unmapped %llu\ndrain_us %llu\n",
		   d->pin_mode && d->pulse, d->pulses, d->pulse_deferred,
		   d->pulse_unmapped, d->drain_us);
	seq_printf(m, "pulse_failed %llu\npulse_err %d\nlost %llu\nlayout_nomem %llu\n",
		   d->pulse_failed, d->pulse_err, d->lost ? d->lost_pages : 0,
		   d->layout_nomem);
	seq_printf(m, "logging %d\nlog_ranges %u\nlog_entries %lu\nlog_max %u\nlog_overflows %llu\n",
		   d->logging, d->log_nranges, d->log_entries,
		   IVF_LOG_MAX_PAGES, d->log_overflows);
	for (q = 0; q < IVF_NUM_QUEUES; q++) {
		struct ivf_rxq_trk *t = &d->rx[q];
		u64 pages = 0;

		for (i = 0; i < 2 * t->ndesc; i++)
			if (t->bufs[i].pinned)
				pages += t->bufs[i].npages;
		seq_printf(m, "rx%u ring 0x%llx ndesc %u srrctl 0x%08x posted %llu buffer_pages_pinned %llu\n",
			   q, t->base, t->ndesc, t->srrctl,
			   t->tail_seq - t->head_seq, pages);
	}
	/*
	 * RXDCTL, RDH and RDT as the guest sees them (the shadow), as the
	 * poller last forwarded them, and as the device has them.
	 */
	for (q = 0; d->engaged && q < IVF_NUM_QUEUES; q++) {
		static const u32 off[] = {
			IVF_RXDCTL(0) - IVF_RDBAL(0),
			IVF_RDH(0) - IVF_RDBAL(0),
			IVF_RDT(0) - IVF_RDBAL(0),
		};
		static const char * const name[] = { "rxdctl", "rdh", "rdt" };
		void __iomem *io;

		for (i = 0; i < ARRAY_SIZE(off); i++) {
			u32 reg = IVF_RDBAL(q) + off[i], dev = U32_MAX;

			io = ivf_vf_io_try(ivf);
			if (io) {
				dev = ioread32(io + reg);
				ivf_vf_io_unlock(ivf);
			}
			seq_printf(m, "rx%u %s shadow 0x%08x seen 0x%08x device 0x%08x\n",
				   q, name[i], READ_ONCE(*ivf_sh(d, reg)),
				   d->rx[q].seen[off[i] / 4], dev);
		}
	}
	mutex_unlock(&d->lock);
}

void ivf_dirty_init(struct ivf_device *ivf)
{
	mutex_init(&ivf->dirty.lock);
	spin_lock_init(&ivf->dirty.shadow_lock);
	spin_lock_init(&ivf->dirty.fence_lock);
	init_waitqueue_head(&ivf->dirty.pulse_wq);
	xa_init(&ivf->dirty.log);
#if IS_REACHABLE(CONFIG_IOMMUFD_DRIVER)
	ivf->core.vdev.log_ops = &ivf_log_ops;
#endif
}

void ivf_dirty_destroy(struct ivf_device *ivf)
{
	mutex_destroy(&ivf->dirty.lock);
}
