// SPDX-License-Identifier: GPL-2.0
/*
 * log_bound: a hostile guest can't make DMA logging eat host memory, and
 * when the record is capped the report stays correct.
 *
 * The guest's storms: it posts every RX buffer at a chosen address, as
 * large as SRRCTL allows (127 KiB packet buffers, 4 KiB header buffers,
 * header split), and rewinds its tail by one again and again (each rewind
 * posts the whole ring anew, seen by the poller):
 *   outside  random addresses far outside the ranges the VMM gave at
 *            LOG_START, 32 rewinds
 *   inside   addresses inside the ranges, 128 KiB apart, over more distinct
 *            pages (32768) than the driver records (its cap, debugfs
 *            log_max), 4 rewinds
 * Kernel memory in xarray nodes (radix_tree_node slab) is measured from
 * before the first storm; its growth and the debugfs counts are
 * diagnostic lines.
 *
 * The fixture: the VF up with a 1024-descriptor ring, 128 MiB more mapped,
 * DMA logging started over all of it and reported once. One variant (the
 * test needs DMA logging, as log_bound_cdev did):
 *   cdev_log   the device's cdev bound to iommufd, DMA logging
 * It skips, saying why, on a kernel without IOMMUFD or DMA logging.
 *
 * Cases:
 *   storm_outside_ranges_records_nothing_in_bounded_memory
 *             outside: the xarray grows by less than 1 MiB, and the driver
 *             records at most the guest's own earlier pages, which the
 *             storm let go
 *   storm_past_cap_keeps_record_capped_in_bounded_memory
 *             outside, then inside: the record stays at or under its cap
 *             and counts the overflow, and the xarray has grown by less
 *             than 1 MiB over both storms
 *   report_after_overflow_is_whole_range_then_precise
 *             inside: the next report over the range has every page of it
 *             dirty (correct, imprecise), the report after that fewer
 *   log_stop_after_storm_leaves_nothing_recorded
 *             outside (which leaves the guest's own earlier pages
 *             recorded; an overflow would empty the record), then
 *             LOG_STOP: no entry is left
 *   reset_after_overflow_leaves_pf_handshake_working
 *             inside, LOG_STOP, VFIO_DEVICE_RESET: the VF does its PF
 *             handshake
 *
 * Env: IVF_VF0.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dirty.h"
#include "ivf.h"
#include "util.h"

#include "kselftest_harness.h"
#include "backends.h"

#define NDESC		1024
#define BIG_IOVA	0x80000000ull
#define BIG_SIZE	(128ull << 20)
#define MEM_BOUND	(1ull << 20)
/* two storms on TCG; a sanitizer kernel's take up to 20 times as long */
#define CASE_TIMEOUT	300

/* the case's device and guest (each case runs in its own process) */
static const char *bdf;
static struct vfio_dev d;
static struct ivf v;

/* a number from the driver's debugfs "dirty" file, or -1 */
static long long dbg(const char *name)
{
	uint64_t val;

	return ivf_dbg_u64(bdf, "dirty", name, &val) ? -1 : (long long)val;
}

static uint64_t rnd64(void)
{
	return ((uint64_t)random() << 33) ^ ((uint64_t)random() << 11) ^
	       (uint64_t)random();
}

/*
 * Post every descriptor with @addr(i) for its packet and header buffers,
 * the largest buffer sizes, then rewind the tail by one @n times, each
 * seen by the poller.
 */
static void storm(uint64_t (*addr)(unsigned int i, int hdr), int n)
{
	uint32_t rdt;
	unsigned int i;
	int k;

	ivf_wr(&v, IVF_SRRCTL(0), IVF_SRRCTL_DESCTYPE_SPLIT_ALWAYS |
	       IVF_SRRCTL_BSIZEPKT_MASK | IVF_SRRCTL_BSIZEHDR_MASK);
	for (i = 0; i < NDESC; i++) {
		v.rx_ring[i].read.pkt_addr = addr(i, 0);
		v.rx_ring[i].read.hdr_addr = addr(i, 1);
	}
	__sync_synchronize();
	rdt = ivf_rd(&v, IVF_RDT(0));
	for (k = 0; k < n; k++) {
		long long t0 = dbg("forwarded_tails");
		int w;

		rdt = (rdt + NDESC - 1) % NDESC;
		ivf_wr(&v, IVF_RDT(0), rdt);
		for (w = 0; w < 500 && dbg("forwarded_tails") == t0; w++)
			usleep(2000);
	}
}

static uint64_t addr_outside(unsigned int i, int hdr)
{
	(void)i;
	(void)hdr;
	/* 1 TiB of IOVA at 1 TiB: nowhere near what is mapped */
	return (1ull << 40) + ((rnd64() % (1ull << 28)) << 12);
}

static uint64_t addr_inside(unsigned int i, int hdr)
{
	/* 128 KiB apart: 32 pages each, 32768 distinct pages in all */
	return BIG_IOVA + (uint64_t)i * (128 << 10) + (hdr ? 0 : 4096);
}

FIXTURE(log_bound) {
	bool dev_open, ivf_open, logging;
	struct vfio_dma big;
	struct vfio_device_feature_dma_logging_range r;
	uint64_t *bm, pages;
	long long x0;		/* xarray bytes before any storm */
};

IVF_BACKEND_CDEV_LOG(log_bound);

FIXTURE_SETUP(log_bound)
{
	struct ivf_ring_cfg cfg = {
		.rx_count = NDESC, .tx_count = 64, .buf_size = 2048,
		.hdr_split = true, .hdr_size = 256, .iova_base = 0x10000000,
	};
	uint64_t pgsz = 4096;
	const char *why;
	int ret;

	bdf = env_get("IVF_VF0");
	if (!bdf)
		SKIP(return, "IVF_VF0 is needed");
	why = vfio_backend_missing(bdf, &variant->backend);
	if (why)
		SKIP(return, "%s", why);
	srandom(42);
	ret = vfio_dev_open_backend(&d, bdf, &variant->backend);
	ASSERT_EQ(0, ret) TH_LOG("open %s: %s", bdf, err_str(ret));
	self->dev_open = true;
	ret = dirty_log_probe(&d);
	if (ret)
		SKIP(return, "no DMA logging on this kernel (%s)",
		     err_str(ret));
	ret = ivf_open(&v, &d, IVF_ACCESS_MMAP);
	if (!ret) {
		self->ivf_open = true;
		ret = ivf_reset(&v) ?: ivf_rings_setup(&v, &cfg) ?:
		      vfio_dma_alloc(&d, &self->big, BIG_SIZE, BIG_IOVA);
	}
	ASSERT_EQ(0, ret)
		TH_LOG("VF up, %u-descriptor ring, 128 MiB more mapped: %s",
		       NDESC, err_str(ret));
	dirty_log_span(&d, &self->r);
	ret = dirty_log_start(&d, &self->r, 1, &pgsz);
	ASSERT_EQ(0, ret)
		TH_LOG("LOG_START over 0x%llx+0x%llx: %s",
		       (unsigned long long)self->r.iova,
		       (unsigned long long)self->r.length, err_str(ret));
	self->logging = true;
	self->pages = self->r.length / 4096;
	self->bm = calloc(self->pages / 64 + 1, 8);
	ASSERT_NE(NULL, self->bm);
	dirty_log_report(&d, self->r.iova, self->r.length, 4096, self->bm);
	self->x0 = slab_cache_bytes("radix_tree_node");
}

FIXTURE_TEARDOWN(log_bound)
{
	if (self->logging)
		dirty_log_stop(&d);
	free(self->bm);
	if (self->big.mapped)
		vfio_dma_free(&d, &self->big);
	if (self->ivf_open)
		ivf_close(&v);
	if (self->dev_open)
		vfio_dev_close(&d);
}

/* a report over the whole range into a cleared bitmap: its dirty pages */
static uint64_t report(FIXTURE_DATA(log_bound) *self, int *ret)
{
	uint64_t n = 0;
	size_t i;

	memset(self->bm, 0, (self->pages / 64 + 1) * 8);
	*ret = dirty_log_report(&d, self->r.iova, self->r.length, 4096,
				self->bm);
	for (i = 0; i < self->pages / 64; i++)
		n += __builtin_popcountll(self->bm[i]);
	return n;
}

/* the storm past the cap, on a record a report has just emptied */
static void storm_inside(struct __test_metadata *_metadata,
			 FIXTURE_DATA(log_bound) *self)
{
	int ret;

	report(self, &ret);
	storm(addr_inside, 4);
	TH_LOG("inside: 32768 distinct pages posted: log_entries %lld (cap %lld), overflows %lld, xarray nodes %+lld KiB",
	       dbg("log_entries"), dbg("log_max"), dbg("log_overflows"),
	       (slab_cache_bytes("radix_tree_node") - self->x0) / 1024);
}

TEST_F_TIMEOUT(log_bound, storm_outside_ranges_records_nothing_in_bounded_memory,
	       CASE_TIMEOUT)
{
	long long x1, ent, own;

	storm(addr_outside, 32);
	x1 = slab_cache_bytes("radix_tree_node");
	ent = dbg("log_entries");
	TH_LOG("outside: 32 rewinds of %u descriptors x 33 pages: xarray nodes %+lld KiB, log_entries %lld",
	       NDESC, (x1 - self->x0) / 1024, ent);
	EXPECT_TRUE(self->x0 >= 0 && x1 - self->x0 < (long long)MEM_BOUND)
		TH_LOG("outside: xarray memory must grow less than %llu KiB",
		       MEM_BOUND / 1024);
	/*
	 * What it may record: the pages of the guest's own earlier buffers
	 * and ring, dropped when the storm re-armed their slots.
	 */
	own = (NDESC * (2048 + 256 + 16)) / 4096 + 8;
	EXPECT_TRUE(ent >= 0 && ent <= own)
		TH_LOG("outside: nothing may be recorded outside the ranges (%lld pages, at most the guest's own %lld)",
		       ent, own);
}

TEST_F_TIMEOUT(log_bound, storm_past_cap_keeps_record_capped_in_bounded_memory,
	       CASE_TIMEOUT)
{
	long long x2, cap, ent, ovf;

	storm(addr_outside, 32);
	storm_inside(_metadata, self);
	x2 = slab_cache_bytes("radix_tree_node");
	cap = dbg("log_max");
	ent = dbg("log_entries");
	ovf = dbg("log_overflows");
	EXPECT_TRUE(cap > 0 && ent >= 0 && ent <= cap && ovf >= 1)
		TH_LOG("cap: the record must stay at or under its cap and count the overflow (%lld of %lld, overflowed %lld times)",
		       ent, cap, ovf);
	EXPECT_TRUE(self->x0 >= 0 && x2 - self->x0 < (long long)MEM_BOUND)
		TH_LOG("cap: xarray memory must grow less than %llu KiB over both storms (%+lld KiB)",
		       MEM_BOUND / 1024, (x2 - self->x0) / 1024);
}

TEST_F_TIMEOUT(log_bound, report_after_overflow_is_whole_range_then_precise,
	       CASE_TIMEOUT)
{
	uint64_t n1, n2;
	int ret;

	storm_inside(_metadata, self);
	ASSERT_LE(1, dbg("log_overflows"))
		TH_LOG("the storm must overflow the record");
	n1 = report(self, &ret);
	EXPECT_TRUE(!ret && n1 == self->pages)
		TH_LOG("the next report must have the whole range dirty (%llu of %llu pages; %s)",
		       (unsigned long long)n1,
		       (unsigned long long)self->pages, err_str(ret));
	n2 = report(self, &ret);
	EXPECT_TRUE(!ret && n2 < self->pages)
		TH_LOG("the report after it must be precise again (%llu pages; %s)",
		       (unsigned long long)n2, err_str(ret));
}

TEST_F_TIMEOUT(log_bound, log_stop_after_storm_leaves_nothing_recorded,
	       CASE_TIMEOUT)
{
	long long ent;
	int ret;

	/* an overflow empties the record: the outside storm leaves pages */
	storm(addr_outside, 32);
	ent = dbg("log_entries");
	TH_LOG("before LOG_STOP: log_entries %lld", ent);
	ASSERT_LT(0, ent) TH_LOG("the storm must leave pages recorded");
	ret = dirty_log_stop(&d);
	self->logging = false;
	EXPECT_TRUE(!ret && dbg("log_entries") == 0)
		TH_LOG("LOG_STOP must leave nothing recorded (%s, log_entries %lld)",
		       err_str(ret), dbg("log_entries"));
}

TEST_F_TIMEOUT(log_bound, reset_after_overflow_leaves_pf_handshake_working,
	       CASE_TIMEOUT)
{
	int ret;

	storm_inside(_metadata, self);
	dirty_log_stop(&d);
	self->logging = false;
	ret = vfio_dev_reset(&d) ?: ivf_reset(&v);
	EXPECT_TRUE(!ret && v.cts)
		TH_LOG("after VFIO_DEVICE_RESET the PF handshake must work: %s",
		       err_str(ret));
}

TEST_HARNESS_MAIN
