// SPDX-License-Identifier: GPL-2.0
/*
 * dirty_log: the driver's DMA logging backend (log_ops), as a VMM sees it
 * through VFIO_DEVICE_FEATURE_DMA_LOGGING_{START,STOP,REPORT}, over the
 * device's container (default) or its cdev bound to iommufd
 * (IVF_VFIO=cdev).
 *
 * On a kernel without CONFIG_IOMMUFD_DRIVER (Debian's) the core's
 * iova_bitmap is a stub: the driver must not offer logging at all, so a
 * VMM's probe fails and it falls back to the container's dirty tracking.
 * That is checked (probe gives ENOTTY, the container offers tracking), and
 * that is all on such a kernel.
 *
 * With it (the lab's IOMMUFD kernel):
 *   contract  report before start: EINVAL and a log line; no ranges:
 *             EINVAL; 257 ranges: E2BIG (the core's limit); 256 ranges
 *             with 64 KiB pages: started, page size given back as 4 KiB;
 *             a second start: EBUSY and a log line.
 *   traffic   every page the device changed during a burst of RX/TX is in
 *             the next report (4 KiB pages), then again in 8 KiB pages;
 *             the idle region never is; a report clears what the device is
 *             done with (a second report, device still, holds only rings
 *             and posted buffers).
 *   timing    how long one report over 256 MiB takes (median of 21).
 *   stop      stop, stop again: 0; report: EINVAL; the tracker is off;
 *             start again works.
 *   engage    PRE_COPY while logging: with a container the tracker pins
 *             (type1 reports pinned pages too) and stays on after a log
 *             stop; through iommufd nothing is pinned and PRE_COPY alone
 *             starts nothing.
 *   reset     VFIO_DEVICE_RESET while logging: logging goes on, the guest
 *             sets the VF up again, the next burst is fully reported.
 *   close     the device is closed while logging with traffic: reopened,
 *             a report is refused, the tracker is off, start works; no
 *             allocation through the module is left (slab traces).
 *
 * Usage: dirty_log
 * Env: IVF_VF0, IVF_PEER_NS, IVF_PEER_IF, IVF_KROOT (the guest kernel's
 *   /boot/config-*), IVF_VFIO, IVF_DIRTY.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/utsname.h>

#include "dcheck.h"
#include "dirty.h"
#include "dtraffic.h"
#include "frame.h"
#include "kmsg.h"
#include "ktap.h"
#include "mig.h"
#include "util.h"

KTAP_DEFINE_STATE();

static const char *bdf;
static struct peer peer;
static struct kmsg km;

/* CONFIG_IOMMUFD_DRIVER of the running kernel: 1, 0, or -1 (unknown) */
static int kernel_has_iova_bitmap(void)
{
	return kernel_config_y("CONFIG_IOMMUFD_DRIVER");
}

/* debugfs "dirty" key of IVF_VF0, or UINT64_MAX */
static uint64_t dbg(const char *key)
{
	uint64_t v;

	return ivf_dbg_u64(bdf, "dirty", key, &v) ? UINT64_MAX : v;
}

static bool log_said(const char *what)
{
	char buf[512];

	return kmsg_read(&km, what, buf, sizeof(buf)) > 0;
}

/* a burst of @frames each way-ish, inline; 0 or -errno */
static int burst(struct dsess *s, uint64_t frames, struct dtraffic *t)
{
	int ret;

	dtraffic_init(t, &dtraffic_mixed, &s->v, &s->rx, &peer);
	t->c.rx_target = frames;
	ret = dtraffic_run(t);
	dtraffic_print(t, "burst: ");
	/*
	 * Frames to the VF may be dropped by the device while the shadowed
	 * tail waits for the poller: lost, never corrupted or duplicated.
	 */
	if (!ret && (t->vf_bad || t->vf_dup || t->peer_bad || t->rx->errors ||
		     t->vf_rcvd + t->vf_lost < frames || t->vf_rcvd < frames / 2))
		ret = -EIO;
	return ret;
}

/*
 * Pages the device changed since the last snapshot (DMEM_DEV regions) that
 * @bm (pages of @pgsize over the span) lacks; *changed gets how many
 * changed.
 */
static size_t missing(struct dsess *s, const uint64_t *bm, uint64_t pgsize,
		      size_t *changed)
{
	uint64_t *ch = calloc(dmem_words(&s->m), 8);
	size_t pg, miss = 0, ratio = pgsize / DIRTY_PGSIZE;
	const struct dmem_region *r;

	*changed = dmem_snap_diff(&s->m, ch);
	for (pg = 0; pg < s->m.npages; pg++) {
		if (!bm_test(ch, pg))
			continue;
		r = dmem_region_of(&s->m, pg);
		if (r && r->kind == DMEM_CPU)
			continue;	/* TX buffers: the CPU's writes */
		if (bm_test(bm, pg / ratio))
			continue;
		if (miss++ < 8)
			ktap_info("missing: page 0x%llx (%s)",
				  (unsigned long long)(s->m.lo + pg * DIRTY_PGSIZE),
				  r ? r->name : "outside the regions");
	}
	free(ch);
	return miss;
}

static size_t idle_reported(struct dsess *s, const uint64_t *bm)
{
	size_t pg, n = 0;
	const struct dmem_region *r = &s->m.r[s->r_idle];

	for (pg = dmem_pg(&s->m, r->iova);
	     pg < dmem_pg(&s->m, r->iova + r->size); pg++)
		n += bm_test(bm, pg);
	return n;
}

static int report(struct dsess *s, uint64_t pgsize, uint64_t *bm)
{
	uint64_t len = s->m.hi - s->m.lo;

	memset(bm, 0, dmem_words(&s->m) * 8);
	return dirty_log_report(&s->d, s->m.lo, len, pgsize, bm);
}

static void contract(struct dsess *s, uint64_t *bm)
{
	struct vfio_device_feature_dma_logging_range *r;
	uint64_t pgsize = DIRTY_PGSIZE, span = s->m.hi - s->m.lo;
	int ret, i;

	kmsg_mark(&km);
	ret = report(s, DIRTY_PGSIZE, bm);
	ktap_check(ret == -EINVAL && log_said("report refused: logging is not started"),
		   "contract: report before start: EINVAL and a log line (%s)",
		   strerror(-ret));
	ret = dirty_log_start(&s->d, NULL, 0, &pgsize);
	ktap_check(ret == -EINVAL, "contract: start without ranges: EINVAL (%s)",
		   strerror(-ret));

	/* 257 ranges of 64 KiB pages over the span, 256 of them */
	r = calloc(257, sizeof(*r));
	for (i = 0; i < 257; i++) {
		r[i].iova = s->m.lo + (uint64_t)i * (span / 256 & ~0xffffull);
		r[i].length = 0x10000;
	}
	pgsize = 0x10000;
	ret = dirty_log_start(&s->d, r, 257, &pgsize);
	ktap_check(ret == -E2BIG, "contract: 257 ranges: E2BIG (%s)",
		   strerror(-ret));
	r[255].length = s->m.hi - r[255].iova;
	kmsg_mark(&km);
	ret = dirty_log_start(&s->d, r, 256, &pgsize);
	ktap_check(!ret && pgsize == DIRTY_PGSIZE &&
		   log_said("page size 65536 asked, 4096 used"),
		   "contract: 256 ranges with 64 KiB pages: started, page size given back as %llu, logged (%s)",
		   (unsigned long long)pgsize, strerror(-ret));
	ktap_check(dsess_dbg(s, "tracking") == 1,
		   "contract: the tracker runs (debugfs tracking %lld)",
		   (long long)dsess_dbg(s, "tracking"));
	kmsg_mark(&km);
	pgsize = DIRTY_PGSIZE;
	ret = dirty_log_start(&s->d, r, 1, &pgsize);
	ktap_check(ret == -EBUSY && log_said("start refused: already started"),
		   "contract: a second start: EBUSY and a log line (%s)",
		   strerror(-ret));
	free(r);
}

static void traffic(struct dsess *s, uint64_t *bm)
{
	size_t changed, miss, idle, n1;
	uint64_t *bm2;
	struct dtraffic t;
	int ret;

	ret = report(s, DIRTY_PGSIZE, bm);	/* start clean */
	dmem_snap(&s->m);
	ret = ret ?: burst(s, 1500, &t);
	dtraffic_free(&t);
	if (!ktap_check(!ret, "traffic: 1500 frames in, none corrupted or duplicated (%s)",
			strerror(-ret)))
		return;
	ret = report(s, DIRTY_PGSIZE, bm);
	miss = missing(s, bm, DIRTY_PGSIZE, &changed);
	idle = idle_reported(s, bm);
	n1 = bm_count(bm, s->m.npages);
	ktap_check(!ret && changed && !miss && !idle,
		   "traffic: 4 KiB report: %zu pages reported, %zu changed by the device, %zu missing, idle region %zu (%s)",
		   n1, changed, miss, idle, strerror(-ret));

	/* nothing moves now: the next report holds what the device owns */
	bm2 = calloc(dmem_words(&s->m), 8);
	ret = report(s, DIRTY_PGSIZE, bm2);
	ktap_check(!ret && bm_count(bm2, s->m.npages) < n1 &&
		   !bm_count_andnot(bm2, bm, s->m.npages),
		   "traffic: the report cleared what the device is done with (%zu pages now, were %zu)",
		   bm_count(bm2, s->m.npages), n1);
	memset(bm2, 0, dmem_words(&s->m) * 8);
	rxpool_mark_posted(&s->rx, bm2);
	ktap_check(!bm_count_andnot(bm2, bm, s->m.npages),
		   "traffic: every posted buffer is in the report (%zu pages)",
		   bm_count(bm2, s->m.npages));
	free(bm2);

	/* 8 KiB pages */
	ret = burst(s, 1000, &t);
	dtraffic_free(&t);
	ret = ret ?: report(s, 2 * DIRTY_PGSIZE, bm);
	miss = missing(s, bm, 2 * DIRTY_PGSIZE, &changed);
	ktap_check(!ret && changed && !miss,
		   "traffic: 8 KiB report: %zu pages reported, %zu 4 KiB pages changed, %zu missing (%s)",
		   bm_count(bm, s->m.npages / 2), changed, miss, strerror(-ret));
}

/*
 * Time of one report over 256 MiB of IOVA from the session's base (as a VMM
 * asks per memory section), 4 KiB pages: 8 KiB of bitmap.
 */
static void timing(struct dsess *s)
{
	const uint64_t len = 256ull << 20;
	double us[21];
	uint64_t *bm = calloc(len / DIRTY_PGSIZE / 64, 8), t0;
	int i, ret = 0;

	for (i = 0; i < 21 && !ret; i++) {
		t0 = now_ns();
		ret = dirty_log_report(&s->d, s->m.lo, len, DIRTY_PGSIZE, bm);
		us[i] = (now_ns() - t0) / 1e3;
	}
	if (ktap_check(!ret, "timing: 21 reports over 256 MiB (%s)",
		       strerror(-ret)))
		ktap_info("timing: one DMA logging report over 256 MiB: median %.1f us, min %.1f, max %.1f",
			  stats_median(us, 21), stats_min(us, 21),
			  stats_max(us, 21));
	free(bm);
}

static void stop(struct dsess *s, uint64_t *bm)
{
	uint64_t pgsize = DIRTY_PGSIZE;
	struct vfio_device_feature_dma_logging_range r;
	int ret, ret2;

	kmsg_mark(&km);
	ret = dirty_log_stop(&s->d);
	ret2 = dirty_log_stop(&s->d);
	ktap_check(!ret && !ret2 && log_said("DMA logging stopped"),
		   "stop: stop, stop again: %s, %s; logged", strerror(-ret),
		   strerror(-ret2));
	ret = report(s, DIRTY_PGSIZE, bm);
	ktap_check(ret == -EINVAL, "stop: report after stop: EINVAL (%s)",
		   strerror(-ret));
	ktap_check(dsess_dbg(s, "tracking") == 0 && dsess_dbg(s, "armed") == 0,
		   "stop: the tracker is off (tracking %lld, armed %lld)",
		   (long long)dsess_dbg(s, "tracking"),
		   (long long)dsess_dbg(s, "armed"));
	ret = dirty_log_span(&s->d, &r) ?: dirty_log_start(&s->d, &r, 1, &pgsize);
	ktap_check(!ret && dsess_dbg(s, "tracking") == 1,
		   "stop: start again over 0x%llx..0x%llx (%s)",
		   (unsigned long long)r.iova,
		   (unsigned long long)(r.iova + r.length), strerror(-ret));
}

static void engage(struct dsess *s, uint64_t *bm)
{
	bool cdev = s->d.iommufd >= 0;
	uint64_t pulsing;
	int ret;

	ret = dsess_state(s, VFIO_DEVICE_STATE_PRE_COPY);
	dsess_wait_polls(s, 3);
	pulsing = dsess_dbg(s, "pulsing");
	if (cdev)
		ktap_check(!ret && pulsing == 0,
			   "engage: PRE_COPY through iommufd pins nothing (pulsing %lld) (%s)",
			   (long long)pulsing, strerror(-ret));
	else
		/* a page is pinned only for an instant, once written */
		ktap_check(!ret && pulsing == 1 &&
			   dsess_dbg(s, "pinned_scope") == 1,
			   "engage: PRE_COPY with a container: type1 in pinned-page scope, pulsing (%lld) (%s)",
			   (long long)pulsing, strerror(-ret));
	ret = dirty_log_stop(&s->d);
	ktap_check(!ret && dsess_dbg(s, "tracking") == !cdev,
		   "engage: after a log stop the tracker is %s (tracking %lld)",
		   cdev ? "off: nothing else needs it" :
			  "on: type1 reports what it pins until close",
		   (long long)dsess_dbg(s, "tracking"));
	ret = dsess_state(s, VFIO_DEVICE_STATE_RUNNING);
	ktap_check(!ret, "engage: back to RUNNING (%s)", strerror(-ret));
	ret = dirty_start(&s->d);
	ret = ret ?: report(s, DIRTY_PGSIZE, bm);
	ktap_check(!ret, "engage: logging again (%s)", strerror(-ret));
}

static void reset(struct dsess *s, uint64_t *bm)
{
	size_t changed, miss;
	struct dtraffic t;
	int ret;

	ret = vfio_dev_reset(&s->d);
	ktap_check(!ret && dsess_dbg(s, "tracking") == 1,
		   "reset: VFIO_DEVICE_RESET while logging, the tracker goes on (%s)",
		   strerror(-ret));
	ret = report(s, DIRTY_PGSIZE, bm);
	ktap_check(!ret, "reset: report after the reset (%s)", strerror(-ret));
	ret = ivf_reset(&s->v) ?: ivf_set_lpe(&s->v, 1522);
	if (!ktap_check(!ret, "reset: the guest sets the VF up again (%s)",
			strerror(-ret)))
		return;
	dsess_reprogram(s);
	dsess_wait_polls(s, 3);
	report(s, DIRTY_PGSIZE, bm);
	dmem_snap(&s->m);
	ret = burst(s, 1000, &t);
	dtraffic_free(&t);
	ret = ret ?: report(s, DIRTY_PGSIZE, bm);
	miss = missing(s, bm, DIRTY_PGSIZE, &changed);
	ktap_check(!ret && changed && !miss,
		   "reset: after the reset %zu pages changed, %zu missing from the report (%s)",
		   changed, miss, strerror(-ret));
}

static void close_logging(struct dsess *s, uint64_t *bm, long slab0)
{
	struct dtraffic t;
	struct vfio_dev d2;
	uint64_t pgsize = DIRTY_PGSIZE;
	struct vfio_device_feature_dma_logging_range r = {
		.iova = s->m.lo, .length = s->m.hi - s->m.lo,
	};
	long slab1;
	int ret;

	dtraffic_init(&t, &dtraffic_mixed, &s->v, &s->rx, &peer);
	t.c.rx_target = 0;
	ret = dtraffic_start(&t);
	usleep(300000);
	dtraffic_pause(&t);
	ktap_check(!ret && dsess_dbg(s, "tracking") == 1,
		   "close: logging with traffic (%s)", strerror(-ret));
	dsess_drop_fd(s);
	dtraffic_stop(&t);
	dtraffic_free(&t);
	dsess_close(s);

	ret = vfio_dev_open(&d2, bdf);
	if (!ktap_check(!ret, "close: reopen (%s)", strerror(-ret)))
		return;
	memset(bm, 0, 8);
	ret = dirty_log_report(&d2, r.iova, 1 << 16, DIRTY_PGSIZE, bm);
	ktap_check(ret == -EINVAL, "close: logging ended with the close: report refused (%s)",
		   strerror(-ret));
	ktap_check(dbg("tracking") == 0 && dbg("armed") == 0,
		   "close: the tracker is off (tracking %lld, armed %lld)",
		   (long long)dbg("tracking"), (long long)dbg("armed"));
	ret = dirty_log_start(&d2, &r, 1, &pgsize) ?: dirty_log_stop(&d2);
	ktap_check(!ret, "close: start and stop on the reopened device (%s)",
		   strerror(-ret));
	vfio_dev_close(&d2);
	slab1 = ivf_slab_live();
	if (slab0 >= 0 && slab1 >= 0)
		ktap_check(slab1 <= slab0,
			   "close: allocations through the module back to %ld (were %ld before the session)",
			   slab1, slab0);
	else if (slab0 == -EOPNOTSUPP)
		ktap_info("close: the sanitizer kernel's quarantine holds freed objects; kmemleak checks leaks at the end of the run");
	else
		ktap_info("close: slab allocation traces not available");
}

int main(void)
{
	struct dsess_cfg sc = { .snapshots = true };
	int want = kernel_has_iova_bitmap();
	uint64_t pgs = 0, maxbm = 0, flags = 0, *bm;
	struct vfio_dev d;
	struct dsess s;
	long slab0;
	int ret;

	bdf = env_need("IVF_VF0");
	ktap_header("dirty_log: the DMA logging backend (log_ops)");
	ret = vfio_dev_open(&d, bdf);
	if (!ktap_check(!ret, "open %s through %s (%s)", bdf,
			d.iommufd >= 0 ? "its cdev and iommufd" : "its group",
			strerror(-ret)))
		ktap_finish();
	ret = dirty_log_probe(&d);
	ktap_info("kernel CONFIG_IOMMUFD_DRIVER: %s; DMA logging probe: %s",
		  want < 0 ? "unknown" : want ? "y" : "n", strerror(-ret));
	if (want == 0) {
		ktap_check(ret == -ENOTTY,
			   "without the kernel's iova_bitmap the driver offers no DMA logging (probe: %s)",
			   strerror(-ret));
		d.dirty_log = false;
		if (d.container_fd >= 0) {
			ret = dirty_caps(&d, &pgs, &maxbm);
			ktap_check(!ret && (pgs & DIRTY_PGSIZE),
				   "... so a VMM falls back to the container's dirty tracking (pgsizes 0x%llx)",
				   (unsigned long long)pgs);
		}
		vfio_dev_close(&d);
		ktap_info("the rest needs a kernel with CONFIG_IOMMUFD_DRIVER (the lab's IOMMUFD kernel: IVF_KERNEL=iommufd)");
		ktap_finish();
	}
	if (!ktap_check(!ret, "the driver offers DMA logging (probe: %s)",
			strerror(-ret)))
		ktap_finish();
	ret = mig_flags(&d, &flags);
	vfio_dev_close(&d);
	ktap_check(!ret && (flags & VFIO_MIGRATION_PRE_COPY),
		   "migration flags 0x%llx", (unsigned long long)flags);

	kmsg_open(&km);
	ret = peer_open(&peer, env_need("IVF_PEER_NS"), env_need("IVF_PEER_IF"),
			FRAME_ETHERTYPE);
	if (!ktap_check(!ret, "peer socket"))
		ktap_finish();
	slab0 = ivf_slab_live();
	if (dsess_open(&s, bdf, &sc)) {
		ktap_check(false, "session set up");
		ktap_finish();
	}
	/* the session's device: logging calls go there directly */
	s.d.dirty_log = true;
	bm = calloc(dmem_words(&s.m), 8);
	contract(&s, bm);
	traffic(&s, bm);
	timing(&s);
	stop(&s, bm);
	engage(&s, bm);
	reset(&s, bm);
	close_logging(&s, bm, slab0);
	free(bm);
	peer_close(&peer);
	kmsg_close(&km);
	ktap_finish();
}
