// SPDX-License-Identifier: GPL-2.0
/*
 * dirty_log: the driver's DMA logging backend (log_ops), as a VMM sees it
 * through VFIO_DEVICE_FEATURE_DMA_LOGGING_{START,STOP,REPORT}.
 *
 * Fixture dirty_log, one case per promise, each on a fresh session of
 * IVF_VF0 (rings, pools, an idle region, memory snapshots; logging not
 * started), with the peer. Its variants are the ways a VMM reaches the
 * logging (lib/backends.h):
 *   cdev_log   the device's cdev bound to iommufd
 *   group_log  the group in a type1 container
 * Both need a kernel with CONFIG_IOMMUFD_DRIVER (the lab's IOMMUFD kernel);
 * elsewhere they skip.
 *   offered_with_pre_copy               the probe succeeds, migration has
 *                                       PRE_COPY
 *   report_before_start_refused         EINVAL and a log line
 *   start_without_ranges_refused        EINVAL
 *   start_with_257_ranges_refused       E2BIG (the core's limit)
 *   start_takes_256_ranges_in_4k_pages  256 ranges with 64 KiB pages:
 *                                       started, 4 KiB given back, logged
 *   second_start_refused                EBUSY and a log line
 *   report_has_every_device_write       every page the device changed in a
 *                                       burst of RX/TX is in the next report
 *                                       (4 KiB pages), the idle region never
 *   report_clears_what_device_is_done_with
 *                                       a second report, device still, holds
 *                                       less: rings and posted buffers
 *   report_in_8k_pages_misses_nothing   the same in 8 KiB pages
 *   report_over_256_mib_succeeds        21 reports over 256 MiB (a VMM's
 *                                       memory section); their time is a
 *                                       diagnostic
 *   stop_is_idempotent                  stop, stop again: 0, logged
 *   stop_ends_reports_and_tracking      a report after stop: EINVAL; the
 *                                       tracker is off
 *   start_again_after_stop              start works after a stop
 *   pre_copy_pins_only_through_a_container
 *                                       PRE_COPY while logging: a container
 *                                       pulses (type1 reports pinned pages
 *                                       too), iommufd pins nothing
 *   log_stop_in_pre_copy_then_logging_again
 *                                       after a log stop the tracker is on
 *                                       through a container (type1 reports
 *                                       what it pins until close), off
 *                                       through iommufd; RUNNING, logging
 *                                       again
 *   device_reset_keeps_logging_misses_nothing
 *                                       VFIO_DEVICE_RESET while logging:
 *                                       logging goes on, the guest sets the
 *                                       VF up again, the next burst is
 *                                       fully reported
 *   close_ends_logging                  the device closed while logging with
 *                                       traffic: reopened, a report is
 *                                       refused, the tracker is off, start
 *                                       works; no allocation through the
 *                                       module is left (slab traces)
 *
 * Fixture dirty_log_absent, variant container (the group in a type1
 * container): on a kernel without CONFIG_IOMMUFD_DRIVER (Debian's) the
 * core's iova_bitmap is a stub, so the driver must not offer logging at
 * all and a VMM falls back to the container's dirty tracking. Elsewhere it
 * skips.
 *   not_offered_without_iova_bitmap     the probe gives ENOTTY
 *   container_tracks_dirty_pages_instead
 *                                       the container offers 4 KiB tracking
 *
 * Usage: the kselftest harness's (-l lists, -v VARIANT, -t CASE).
 * Env: IVF_VF0, IVF_PEER_NS, IVF_PEER_IF, IVF_KROOT (the guest kernel's
 *   /boot/config-*).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dcheck.h"
#include "dirty.h"
#include "dtraffic.h"
#include "fixture.h"
#include "frame.h"
#include "kmsg.h"
#include "mig.h"
#include "util.h"

#include "kselftest_harness.h"
#include "backends.h"

/* a case runs seconds on TCG; a sanitizer kernel takes many times that */
#define CASE_TIMEOUT	300

/* CONFIG_IOMMUFD_DRIVER of the running kernel: 1, 0, or -1 (unknown) */
static int kernel_has_iova_bitmap(void)
{
	return kernel_config_y("CONFIG_IOMMUFD_DRIVER");
}

FIXTURE(dirty_log) {
	const char *bdf;
	struct vfio_backend backend;
	struct dcase dc;	/* peer and session (no checker, no traffic) */
	struct kmsg km;
	bool km_open;
	long slab0;	/* live allocations through the module before */
	uint64_t *bm;	/* a report over the session's span */
};

/* cdev_log: the device's cdev on iommufd; group_log: a type1 container */
IVF_BACKENDS_LOG(dirty_log);

FIXTURE_SETUP(dirty_log)
{
	struct dsess_cfg sc = { .snapshots = true };
	const char *ns, *ifname, *why;
	int ret;

	self->backend = variant->backend;
	why = vf_peer_unusable(&self->bdf, &ns, &ifname, NULL,
			       &self->backend);
	if (why)
		SKIP(return, "%s", why);
	if (kernel_has_iova_bitmap() == 0)
		SKIP(return, "no CONFIG_IOMMUFD_DRIVER: no DMA logging on this kernel (dirty_log_absent checks that)");
	self->km_open = !kmsg_open(&self->km);
	ret = peer_open(&self->dc.peer, ns, ifname, FRAME_ETHERTYPE);
	ASSERT_EQ(0, ret) TH_LOG("peer socket: %s", strerror(-ret));
	self->dc.peer_open = true;
	self->slab0 = ivf_slab_live();
	sc.backend = self->backend;
	ret = dsess_open(&self->dc.s, self->bdf, &sc);
	if (ret)
		dsess_close(&self->dc.s);
	ASSERT_EQ(0, ret)
		TH_LOG("session on %s through %s: %s", self->bdf,
		       self->backend.open == VFIO_OPEN_CDEV ?
		       "its cdev and iommufd" : "its group",
		       strerror(-ret));
	self->dc.sess_open = true;
	self->bm = calloc(dmem_words(&self->dc.s.m), 8);
	ASSERT_NE(NULL, self->bm);
}

FIXTURE_TEARDOWN(dirty_log)
{
	dcase_free(&self->dc);
	free(self->bm);
	if (self->km_open)
		kmsg_close(&self->km);
}

/* ------------------------------------------------------------ helpers */

/* debugfs "dirty" key of IVF_VF0, or UINT64_MAX */
static uint64_t dbg(const char *bdf, const char *key)
{
	uint64_t v;

	return ivf_dbg_u64(bdf, "dirty", key, &v) ? UINT64_MAX : v;
}

/* the driver logged @what since the last kmsg_mark() */
static bool log_said(FIXTURE_DATA(dirty_log) *self, const char *what)
{
	char buf[512];

	return self->km_open &&
	       kmsg_read(&self->km, what, buf, sizeof(buf)) > 0;
}

static void log_mark(FIXTURE_DATA(dirty_log) *self)
{
	if (self->km_open)
		kmsg_mark(&self->km);
}

/* a burst of @frames each way-ish, inline; 0 or -errno */
static int burst(FIXTURE_DATA(dirty_log) *self, uint64_t frames)
{
	struct dsess *s = &self->dc.s;
	struct dtraffic t;
	int ret;

	dtraffic_init(&t, &dtraffic_mixed, &s->v, &s->rx, &self->dc.peer);
	t.c.rx_target = frames;
	ret = dtraffic_run(&t);
	dtraffic_print(&t, "burst: ");
	/*
	 * Frames to the VF may be dropped by the device while the shadowed
	 * tail waits for the poller: lost, never corrupted or duplicated.
	 */
	if (!ret && (t.vf_bad || t.vf_dup || t.peer_bad || t.rx->errors ||
		     t.vf_rcvd + t.vf_lost < frames || t.vf_rcvd < frames / 2))
		ret = -EIO;
	dtraffic_free(&t);
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
			ksft_print_msg("missing: page 0x%llx (%s)\n",
				       (unsigned long long)(s->m.lo +
							    pg * DIRTY_PGSIZE),
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

/* a report over the session's span into @bm (zeroed first) */
static int report(struct dsess *s, uint64_t pgsize, uint64_t *bm)
{
	uint64_t len = s->m.hi - s->m.lo;

	memset(bm, 0, dmem_words(&s->m) * 8);
	return dirty_log_report(&s->d, s->m.lo, len, pgsize, bm);
}

/*
 * 257 ranges of 64 KiB over the span, as a VMM's many memory sections;
 * range 255 reaches to the span's end, so the first 256 cover all of it.
 */
static struct vfio_device_feature_dma_logging_range *ranges(struct dsess *s)
{
	struct vfio_device_feature_dma_logging_range *r;
	uint64_t span = s->m.hi - s->m.lo;
	int i;

	r = calloc(257, sizeof(*r));
	for (i = 0; r && i < 257; i++) {
		r[i].iova = s->m.lo + (uint64_t)i * (span / 256 & ~0xffffull);
		r[i].length = 0x10000;
	}
	if (r)
		r[255].length = s->m.hi - r[255].iova;
	return r;
}

/* logging started with 256 ranges asking 64 KiB pages; *pgsize: given */
static int start_256(struct dsess *s, uint64_t *pgsize)
{
	struct vfio_device_feature_dma_logging_range *r = ranges(s);
	int ret;

	if (!r)
		return -ENOMEM;
	*pgsize = 0x10000;
	ret = dirty_log_start(&s->d, r, 256, pgsize);
	free(r);
	return ret;
}

/* logging started with one range over the span, 4 KiB pages; 0 or -errno */
static int start_span(struct dsess *s,
		      struct vfio_device_feature_dma_logging_range *r)
{
	uint64_t pgsize = DIRTY_PGSIZE;

	return dirty_log_span(&s->d, r) ?:
	       dirty_log_start(&s->d, r, 1, &pgsize);
}

/* logging started as a VMM that starts it for traffic does; 0 or -errno */
static int logging_on(struct dsess *s)
{
	uint64_t pgsize;
	int ret = start_256(s, &pgsize);

	return ret ?: pgsize == DIRTY_PGSIZE ? 0 : -EPROTO;
}

/* ------------------------------------------------------------- probe */

TEST_F_TIMEOUT(dirty_log, offered_with_pre_copy, CASE_TIMEOUT)
{
	uint64_t flags = 0;
	int ret;

	ret = dirty_log_probe(&self->dc.s.d);
	TH_LOG("kernel CONFIG_IOMMUFD_DRIVER: %s; DMA logging probe: %s",
	       kernel_has_iova_bitmap() < 0 ? "unknown" : "y", err_str(ret));
	EXPECT_EQ(0, ret)
		TH_LOG("with the kernel's iova_bitmap the driver offers DMA logging");
	ret = mig_flags(&self->dc.s.d, &flags);
	TH_LOG("migration flags 0x%llx (%s)", (unsigned long long)flags,
	       err_str(ret));
	EXPECT_TRUE(!ret && (flags & VFIO_MIGRATION_PRE_COPY))
		TH_LOG("migration offers PRE_COPY, where a VMM reads logging's reports");
}

/* ---------------------------------------------------------- contract */

TEST_F_TIMEOUT(dirty_log, report_before_start_refused, CASE_TIMEOUT)
{
	int ret;

	log_mark(self);
	ret = report(&self->dc.s, DIRTY_PGSIZE, self->bm);
	EXPECT_EQ(-EINVAL, ret)
		TH_LOG("a report before start is refused with EINVAL: %s",
		       err_str(ret));
	EXPECT_TRUE(log_said(self, "report refused: logging is not started"))
		TH_LOG("... and the kernel log says why");
}

TEST_F_TIMEOUT(dirty_log, start_without_ranges_refused, CASE_TIMEOUT)
{
	uint64_t pgsize = DIRTY_PGSIZE;
	int ret;

	ret = dirty_log_start(&self->dc.s.d, NULL, 0, &pgsize);
	EXPECT_EQ(-EINVAL, ret)
		TH_LOG("a start without ranges is refused with EINVAL: %s",
		       err_str(ret));
}

TEST_F_TIMEOUT(dirty_log, start_with_257_ranges_refused, CASE_TIMEOUT)
{
	struct vfio_device_feature_dma_logging_range *r = ranges(&self->dc.s);
	uint64_t pgsize = 0x10000;
	int ret;

	ASSERT_NE(NULL, r);
	ret = dirty_log_start(&self->dc.s.d, r, 257, &pgsize);
	free(r);
	EXPECT_EQ(-E2BIG, ret)
		TH_LOG("a start with 257 ranges is refused with E2BIG (the core's limit): %s",
		       err_str(ret));
}

TEST_F_TIMEOUT(dirty_log, start_takes_256_ranges_in_4k_pages, CASE_TIMEOUT)
{
	struct dsess *s = &self->dc.s;
	uint64_t pgsize;
	int ret;

	log_mark(self);
	ret = start_256(s, &pgsize);
	TH_LOG("256 ranges asking 64 KiB pages: %s, page size %llu given back",
	       err_str(ret), (unsigned long long)pgsize);
	EXPECT_TRUE(!ret && pgsize == DIRTY_PGSIZE)
		TH_LOG("a start with 256 ranges asking 64 KiB pages succeeds and gives back 4 KiB");
	EXPECT_TRUE(log_said(self, "page size 65536 asked, 4096 used"))
		TH_LOG("... and the kernel log says which page size it used");
	EXPECT_EQ(1ull, dsess_dbg(s, "tracking"))
		TH_LOG("the tracker runs once logging is started");
}

TEST_F_TIMEOUT(dirty_log, second_start_refused, CASE_TIMEOUT)
{
	struct vfio_device_feature_dma_logging_range r;
	int ret;

	ret = logging_on(&self->dc.s);
	ASSERT_EQ(0, ret) TH_LOG("logging started: %s", err_str(ret));
	log_mark(self);
	ret = start_span(&self->dc.s, &r);
	EXPECT_EQ(-EBUSY, ret)
		TH_LOG("a second start is refused with EBUSY: %s",
		       err_str(ret));
	EXPECT_TRUE(log_said(self, "start refused: already started"))
		TH_LOG("... and the kernel log says why");
}

/* ----------------------------------------------------------- reports */

/*
 * Logging on, a clean report, a snapshot, a burst of @frames, a report of
 * @pgsize pages into self->bm; *changed and *miss as missing() has them.
 */
static int burst_reported(FIXTURE_DATA(dirty_log) *self, uint64_t frames,
			  uint64_t pgsize, size_t *changed, size_t *miss)
{
	struct dsess *s = &self->dc.s;
	int ret;

	ret = logging_on(s) ?: report(s, DIRTY_PGSIZE, self->bm);
	if (ret)
		return ret;
	dmem_snap(&s->m);
	ret = burst(self, frames) ?: report(s, pgsize, self->bm);
	*miss = missing(s, self->bm, pgsize, changed);
	return ret;
}

TEST_F_TIMEOUT(dirty_log, report_has_every_device_write, CASE_TIMEOUT)
{
	struct dsess *s = &self->dc.s;
	size_t changed, miss, idle;
	int ret;

	ret = burst_reported(self, 1500, DIRTY_PGSIZE, &changed, &miss);
	ASSERT_EQ(0, ret)
		TH_LOG("logging, 1500 frames in, none corrupted or duplicated, a report: %s",
		       err_str(ret));
	idle = idle_reported(s, self->bm);
	TH_LOG("4 KiB report: %zu pages reported, %zu changed by the device, %zu missing, idle region %zu",
	       bm_count(self->bm, s->m.npages), changed, miss, idle);
	EXPECT_TRUE(changed && !miss)
		TH_LOG("every page the device changed is in the report");
	EXPECT_EQ(0, idle)
		TH_LOG("no page of the idle region is in the report");
}

TEST_F_TIMEOUT(dirty_log, report_clears_what_device_is_done_with,
	       CASE_TIMEOUT)
{
	struct dsess *s = &self->dc.s;
	size_t changed, miss, n1, n2;
	uint64_t *bm2;
	int ret;

	ret = burst_reported(self, 1500, DIRTY_PGSIZE, &changed, &miss);
	ASSERT_EQ(0, ret)
		TH_LOG("logging, 1500 frames in, none corrupted or duplicated, a report: %s",
		       err_str(ret));
	n1 = bm_count(self->bm, s->m.npages);

	/* nothing moves now: the next report holds what the device owns */
	bm2 = calloc(dmem_words(&s->m), 8);
	ASSERT_NE(NULL, bm2);
	ret = report(s, DIRTY_PGSIZE, bm2);
	n2 = bm_count(bm2, s->m.npages);
	TH_LOG("%zu pages in the report after the burst, %zu in the next (%s)",
	       n1, n2, err_str(ret));
	EXPECT_TRUE(!ret && n2 < n1 &&
		    !bm_count_andnot(bm2, self->bm, s->m.npages))
		TH_LOG("a report clears what the device is done with: the next one, device still, holds less, nothing new");
	memset(bm2, 0, dmem_words(&s->m) * 8);
	rxpool_mark_posted(&s->rx, bm2);
	TH_LOG("posted buffers: %zu pages", bm_count(bm2, s->m.npages));
	EXPECT_EQ(0, bm_count_andnot(bm2, self->bm, s->m.npages))
		TH_LOG("every posted buffer is in the report");
	free(bm2);
}

TEST_F_TIMEOUT(dirty_log, report_in_8k_pages_misses_nothing, CASE_TIMEOUT)
{
	struct dsess *s = &self->dc.s;
	size_t changed, miss;
	int ret;

	ret = burst_reported(self, 1000, 2 * DIRTY_PGSIZE, &changed, &miss);
	ASSERT_EQ(0, ret)
		TH_LOG("logging, 1000 frames in, none corrupted or duplicated, a report in 8 KiB pages: %s",
		       err_str(ret));
	TH_LOG("8 KiB report: %zu pages reported, %zu 4 KiB pages changed, %zu missing",
	       bm_count(self->bm, s->m.npages / 2), changed, miss);
	EXPECT_TRUE(changed && !miss)
		TH_LOG("every page the device changed is in the 8 KiB report");
}

/*
 * One report over 256 MiB of IOVA from the session's base (as a VMM asks
 * per memory section), 4 KiB pages: 8 KiB of bitmap. Its time is a
 * diagnostic.
 */
TEST_F_TIMEOUT(dirty_log, report_over_256_mib_succeeds, CASE_TIMEOUT)
{
	const uint64_t len = 256ull << 20;
	struct dsess *s = &self->dc.s;
	double us[21];
	uint64_t *bm, t0;
	int i, ret;

	bm = calloc(len / DIRTY_PGSIZE / 64, 8);
	ASSERT_NE(NULL, bm);
	ret = logging_on(s);
	ASSERT_EQ(0, ret) TH_LOG("logging started: %s", err_str(ret));
	for (i = 0; i < 21 && !ret; i++) {
		t0 = now_ns();
		ret = dirty_log_report(&s->d, s->m.lo, len, DIRTY_PGSIZE, bm);
		us[i] = (now_ns() - t0) / 1e3;
	}
	EXPECT_EQ(0, ret)
		TH_LOG("21 reports over 256 MiB succeed: %d done, the last: %s",
		       i, err_str(ret));
	if (!ret)
		TH_LOG("one DMA logging report over 256 MiB: median %.1f us, min %.1f, max %.1f",
		       stats_median(us, 21), stats_min(us, 21),
		       stats_max(us, 21));
	free(bm);
}

/* -------------------------------------------------------------- stop */

TEST_F_TIMEOUT(dirty_log, stop_is_idempotent, CASE_TIMEOUT)
{
	int ret, ret2;

	ret = logging_on(&self->dc.s);
	ASSERT_EQ(0, ret) TH_LOG("logging started: %s", err_str(ret));
	log_mark(self);
	ret = dirty_log_stop(&self->dc.s.d);
	ret2 = dirty_log_stop(&self->dc.s.d);
	EXPECT_TRUE(!ret && !ret2)
		TH_LOG("stop, and stop again, succeed: %s, %s", err_str(ret),
		       err_str(ret2));
	EXPECT_TRUE(log_said(self, "DMA logging stopped"))
		TH_LOG("... and the kernel log says logging stopped");
}

TEST_F_TIMEOUT(dirty_log, stop_ends_reports_and_tracking, CASE_TIMEOUT)
{
	struct dsess *s = &self->dc.s;
	int ret;

	ret = logging_on(s) ?: dirty_log_stop(&s->d);
	ASSERT_EQ(0, ret) TH_LOG("logging started and stopped: %s",
				 err_str(ret));
	ret = report(s, DIRTY_PGSIZE, self->bm);
	EXPECT_EQ(-EINVAL, ret)
		TH_LOG("a report after stop is refused with EINVAL: %s",
		       err_str(ret));
	TH_LOG("after stop: debugfs tracking %lld, armed %lld",
	       (long long)dsess_dbg(s, "tracking"),
	       (long long)dsess_dbg(s, "armed"));
	EXPECT_TRUE(dsess_dbg(s, "tracking") == 0 &&
		    dsess_dbg(s, "armed") == 0)
		TH_LOG("the tracker is off after stop");
}

TEST_F_TIMEOUT(dirty_log, start_again_after_stop, CASE_TIMEOUT)
{
	struct vfio_device_feature_dma_logging_range r;
	struct dsess *s = &self->dc.s;
	int ret;

	ret = logging_on(s) ?: dirty_log_stop(&s->d);
	ASSERT_EQ(0, ret) TH_LOG("logging started and stopped: %s",
				 err_str(ret));
	ret = start_span(s, &r);
	TH_LOG("start over 0x%llx..0x%llx: %s", (unsigned long long)r.iova,
	       (unsigned long long)(r.iova + r.length), err_str(ret));
	EXPECT_TRUE(!ret && dsess_dbg(s, "tracking") == 1)
		TH_LOG("logging starts again after a stop, and the tracker with it");
}

/* ------------------------------------------------------------ engage */

/* a container's type1 (not iommufd) pins what the tracker reports */
static bool through_container(FIXTURE_DATA(dirty_log) *self)
{
	return self->dc.s.d.iommufd < 0;
}

/* logging started, RUNNING -> PRE_COPY, and the poller ran a few times */
static void logging_in_pre_copy(struct __test_metadata *_metadata,
				struct dsess *s)
{
	int ret;

	ret = dirty_start(&s->d);
	ASSERT_EQ(0, ret) TH_LOG("logging started: %s", err_str(ret));
	ret = dsess_state(s, VFIO_DEVICE_STATE_PRE_COPY);
	ASSERT_EQ(0, ret) TH_LOG("RUNNING -> PRE_COPY: %s", err_str(ret));
	dsess_wait_polls(s, 3);
}

TEST_F_TIMEOUT(dirty_log, pre_copy_pins_only_through_a_container,
	       CASE_TIMEOUT)
{
	struct dsess *s = &self->dc.s;
	uint64_t pulsing, scope;

	logging_in_pre_copy(_metadata, s);
	pulsing = dsess_dbg(s, "pulsing");
	scope = dsess_dbg(s, "pinned_scope");
	TH_LOG("PRE_COPY while logging: debugfs pulsing %lld, pinned_scope %lld",
	       (long long)pulsing, (long long)scope);
	/* a page is pinned only for an instant, once written */
	if (through_container(self)) {
		EXPECT_TRUE(pulsing == 1 && scope == 1)
			TH_LOG("with a container PRE_COPY puts type1 in pinned-page scope and pulses");
	} else {
		EXPECT_EQ(0ull, pulsing)
			TH_LOG("through iommufd PRE_COPY pins nothing");
	}
}

TEST_F_TIMEOUT(dirty_log, log_stop_in_pre_copy_then_logging_again,
	       CASE_TIMEOUT)
{
	bool type1 = through_container(self);
	struct dsess *s = &self->dc.s;
	uint64_t tracking;
	int ret;

	logging_in_pre_copy(_metadata, s);
	ret = dirty_log_stop(&s->d);
	tracking = dsess_dbg(s, "tracking");
	TH_LOG("log stop in PRE_COPY: %s; debugfs tracking %lld",
	       err_str(ret), (long long)tracking);
	EXPECT_TRUE(!ret && tracking == type1)
		TH_LOG("after a log stop the tracker is %s",
		       type1 ? "on: type1 reports what it pins until close" :
			       "off: nothing else needs it");
	ret = dsess_state(s, VFIO_DEVICE_STATE_RUNNING);
	EXPECT_EQ(0, ret)
		TH_LOG("PRE_COPY -> RUNNING: %s", err_str(ret));
	ret = dirty_start(&s->d) ?: report(s, DIRTY_PGSIZE, self->bm);
	EXPECT_EQ(0, ret)
		TH_LOG("logging starts again and reports: %s", err_str(ret));
}

/* ------------------------------------------------------------- reset */

TEST_F_TIMEOUT(dirty_log, device_reset_keeps_logging_misses_nothing,
	       CASE_TIMEOUT)
{
	struct dsess *s = &self->dc.s;
	size_t changed, miss;
	int ret;

	ret = dirty_start(&s->d);
	ASSERT_EQ(0, ret) TH_LOG("logging started: %s", err_str(ret));
	ret = vfio_dev_reset(&s->d);
	EXPECT_TRUE(!ret && dsess_dbg(s, "tracking") == 1)
		TH_LOG("VFIO_DEVICE_RESET while logging, the tracker goes on: %s",
		       err_str(ret));
	ret = report(s, DIRTY_PGSIZE, self->bm);
	EXPECT_EQ(0, ret)
		TH_LOG("a report after the reset: %s", err_str(ret));
	ret = ivf_reset(&s->v) ?: ivf_set_lpe(&s->v, 1522);
	ASSERT_EQ(0, ret)
		TH_LOG("the guest sets the VF up again: %s", err_str(ret));
	dsess_reprogram(s);
	dsess_wait_polls(s, 3);
	report(s, DIRTY_PGSIZE, self->bm);
	dmem_snap(&s->m);
	ret = burst(self, 1000) ?: report(s, DIRTY_PGSIZE, self->bm);
	miss = missing(s, self->bm, DIRTY_PGSIZE, &changed);
	TH_LOG("after the reset %zu pages changed, %zu missing from the report (%s)",
	       changed, miss, err_str(ret));
	EXPECT_TRUE(!ret && changed && !miss)
		TH_LOG("after the reset every page the device changed is in the report");
}

/* ------------------------------------------------------------- close */

TEST_F_TIMEOUT(dirty_log, close_ends_logging, CASE_TIMEOUT)
{
	struct dsess *s = &self->dc.s;
	struct vfio_device_feature_dma_logging_range r = {
		.iova = s->m.lo, .length = s->m.hi - s->m.lo,
	};
	uint64_t pgsize = DIRTY_PGSIZE;
	struct dtraffic t;
	struct vfio_dev d2;
	long slab1;
	int ret;

	ret = dirty_start(&s->d);
	ASSERT_EQ(0, ret) TH_LOG("logging started: %s", err_str(ret));
	dtraffic_init(&t, &dtraffic_mixed, &s->v, &s->rx, &self->dc.peer);
	t.c.rx_target = 0;
	ret = dtraffic_start(&t);
	usleep(300000);
	dtraffic_pause(&t);
	EXPECT_TRUE(!ret && dsess_dbg(s, "tracking") == 1)
		TH_LOG("logging with traffic: %s", err_str(ret));
	dsess_drop_fd(s);
	dtraffic_stop(&t);
	dtraffic_free(&t);
	dsess_close(s);
	self->dc.sess_open = false;

	ret = vfio_dev_open_backend(&d2, self->bdf, &self->backend);
	ASSERT_EQ(0, ret) TH_LOG("reopen: %s", err_str(ret));
	memset(self->bm, 0, 8);
	ret = dirty_log_report(&d2, r.iova, 1 << 16, DIRTY_PGSIZE, self->bm);
	EXPECT_EQ(-EINVAL, ret)
		TH_LOG("logging ended with the close: a report on the reopened device is refused: %s",
		       err_str(ret));
	TH_LOG("reopened: debugfs tracking %lld, armed %lld",
	       (long long)dbg(self->bdf, "tracking"),
	       (long long)dbg(self->bdf, "armed"));
	EXPECT_TRUE(dbg(self->bdf, "tracking") == 0 &&
		    dbg(self->bdf, "armed") == 0)
		TH_LOG("the tracker is off after the close");
	ret = dirty_log_start(&d2, &r, 1, &pgsize) ?: dirty_log_stop(&d2);
	EXPECT_EQ(0, ret)
		TH_LOG("logging starts and stops on the reopened device: %s",
		       err_str(ret));
	vfio_dev_close(&d2);
	slab1 = ivf_slab_live();
	if (self->slab0 >= 0 && slab1 >= 0) {
		TH_LOG("allocations through the module: %ld, %ld before the session",
		       slab1, self->slab0);
		EXPECT_LE(slab1, self->slab0)
			TH_LOG("no allocation through the module is left after the close");
	} else if (self->slab0 == -EOPNOTSUPP) {
		TH_LOG("the sanitizer kernel's quarantine holds freed objects; kmemleak checks leaks at the end of the run");
	} else {
		TH_LOG("slab allocation traces not available");
	}
}

/* ----------------------------------------------- no iova_bitmap, no log */

FIXTURE(dirty_log_absent) {
	struct vfio_dev d;
	bool open;
};

/* container: the group in a type1 container, as a VMM falls back to */
IVF_BACKEND_CONTAINER(dirty_log_absent);

FIXTURE_SETUP(dirty_log_absent)
{
	const char *bdf = env_get("IVF_VF0");
	int want = kernel_has_iova_bitmap();
	int ret;

	if (!bdf)
		SKIP(return, "IVF_VF0 is needed");
	if (want != 0)
		SKIP(return, "this kernel has (or may have) CONFIG_IOMMUFD_DRIVER: dirty_log's cdev_log and group_log check its DMA logging");
	ret = vfio_dev_open_backend(&self->d, bdf, &variant->backend);
	ASSERT_EQ(0, ret) TH_LOG("open %s through its group: %s", bdf,
				 err_str(ret));
	self->open = true;
}

FIXTURE_TEARDOWN(dirty_log_absent)
{
	if (self->open)
		vfio_dev_close(&self->d);
}

TEST_F_TIMEOUT(dirty_log_absent, not_offered_without_iova_bitmap,
	       CASE_TIMEOUT)
{
	int ret = dirty_log_probe(&self->d);

	TH_LOG("kernel CONFIG_IOMMUFD_DRIVER: n; DMA logging probe: %s",
	       err_str(ret));
	EXPECT_EQ(-ENOTTY, ret)
		TH_LOG("without the kernel's iova_bitmap the driver offers no DMA logging");
}

TEST_F_TIMEOUT(dirty_log_absent, container_tracks_dirty_pages_instead,
	       CASE_TIMEOUT)
{
	uint64_t pgs = 0, maxbm = 0;
	int ret;

	ret = dirty_caps(&self->d, &pgs, &maxbm);
	TH_LOG("the container's dirty tracking: page sizes 0x%llx, bitmap up to %llu bytes (%s)",
	       (unsigned long long)pgs, (unsigned long long)maxbm,
	       err_str(ret));
	EXPECT_TRUE(!ret && (pgs & DIRTY_PGSIZE))
		TH_LOG("a VMM falls back to the container's dirty tracking, in 4 KiB pages");
}

TEST_HARNESS_MAIN
