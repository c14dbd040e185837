// SPDX-License-Identifier: GPL-2.0-only
/*
 * igbvf-vfio-pci dirty tracking: DMA logging (VFIO_DEVICE_FEATURE_DMA_LOGGING_*,
 * log_ops). Built only when the kernel has CONFIG_IOMMUFD_DRIVER, which
 * provides iova_bitmap (Kbuild; dirty_log.h has the stubs otherwise).
 */
#include <linux/interval_tree.h>
#include <linux/iova_bitmap.h>
#include <linux/minmax.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/vfio.h>
#include <linux/xarray.h>

#include "ivf.h"
#include "dirty_log.h"

/* iova_bitmap_set() is exported in the IOMMUFD symbol namespace */
MODULE_IMPORT_NS(IVF_NS_IOMMUFD);

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
void ivf_log_clear(struct ivf_dirty *d)
{
	xa_destroy(&d->log);
	d->log_entries = 0;
	kvfree(d->log_ranges);
	d->log_ranges = NULL;
	d->log_nranges = 0;
}

void ivf_log_mark(struct ivf_dirty *d, const struct ivf_span *s)
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
 * DMA logging (VFIO_DEVICE_FEATURE_DMA_LOGGING_*): the same tracker, with
 * the pages it arms recorded until the next report instead of pulsed. The
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

/* Register log_ops for the device (ivf_dirty_init()). */
void ivf_dirty_log_init(struct ivf_device *ivf)
{
	ivf->core.vdev.log_ops = &ivf_log_ops;
}
