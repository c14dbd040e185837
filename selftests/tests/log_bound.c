// SPDX-License-Identifier: GPL-2.0
/*
 * log_bound: a hostile guest can't make DMA logging eat host memory, and
 * when the record is capped the report stays correct.
 *
 *  outside  the guest posts RX buffers at random addresses far outside the
 *           ranges the VMM gave at LOG_START, as large as SRRCTL allows
 *           (127 KiB packet buffers, 4 KiB header buffers, header split),
 *           and rewinds its tail by one again and again (each rewind
 *           posts the whole ring anew). Kernel memory in xarray nodes
 *           (radix_tree_node slab) must stay under 1 MiB of growth, the
 *           driver records nothing.
 *  cap      the same inside the ranges, over more distinct pages than the
 *           driver records (its cap, debugfs log_max): the record stays at
 *           or under the cap, and the next report over the range has every
 *           page of it dirty (correct, imprecise); the report after that
 *           is precise again.
 *  usable   LOG_STOP, VFIO_DEVICE_RESET: the VF does its PF handshake.
 *
 * Needs DMA logging (the lab's IOMMUFD kernel); skipped without it.
 * Env: IVF_VF0, IVF_VFIO, IVF_DIRTY.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dirty.h"
#include "ivf.h"
#include "ktap.h"
#include "util.h"

KTAP_DEFINE_STATE();

#define NDESC		1024
#define BIG_IOVA	0x80000000ull
#define BIG_SIZE	(128ull << 20)
#define MEM_BOUND	(1ull << 20)

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

static uint64_t popcount_bm(const uint64_t *bm, size_t bits)
{
	uint64_t n = 0;
	size_t i;

	for (i = 0; i < bits / 64; i++)
		n += __builtin_popcountll(bm[i]);
	return n;
}

int main(void)
{
	struct ivf_ring_cfg cfg = {
		.rx_count = NDESC, .tx_count = 64, .buf_size = 2048,
		.hdr_split = true, .hdr_size = 256, .iova_base = 0x10000000,
	};
	struct vfio_device_feature_dma_logging_range r;
	struct vfio_dma big = { 0 };
	long long x0, x1, x2, cap, ent, ovf, own;
	uint64_t pgsz = 4096, *bm = NULL, pages, n1, n2;
	int ret;

	bdf = env_need("IVF_VF0");
	ktap_header("log_bound: DMA logging memory under a hostile guest");
	srandom(42);
	ret = vfio_dev_open(&d, bdf);
	if (!ktap_check(!ret, "open %s", bdf))
		ktap_finish();
	if (dirty_log_probe(&d)) {
		vfio_dev_close(&d);
		ktap_skip_all("no DMA logging on this kernel");
	}
	ret = ivf_open(&v, &d, IVF_ACCESS_MMAP);
	if (!ret)
		ret = ivf_reset(&v);
	if (!ret)
		ret = ivf_rings_setup(&v, &cfg);
	if (!ret)
		ret = vfio_dma_alloc(&d, &big, BIG_SIZE, BIG_IOVA);
	if (!ktap_check(!ret, "VF up, %u-descriptor ring, 128 MiB more mapped: %s",
			NDESC, ret ? strerror(-ret) : "ok"))
		goto out;
	dirty_log_span(&d, &r);
	ret = dirty_log_start(&d, &r, 1, &pgsz);
	if (!ktap_check(!ret, "LOG_START over 0x%llx+0x%llx",
			(unsigned long long)r.iova,
			(unsigned long long)r.length))
		goto out;
	pages = r.length / 4096;
	bm = calloc(pages / 64 + 1, 8);
	dirty_log_report(&d, r.iova, r.length, 4096, bm);

	x0 = slab_cache_bytes("radix_tree_node");
	storm(addr_outside, 32);
	x1 = slab_cache_bytes("radix_tree_node");
	ent = dbg("log_entries");
	ktap_info("outside: 32 rewinds of %u descriptors x 33 pages: xarray nodes %+lld KiB, log_entries %lld",
		  NDESC, (x1 - x0) / 1024, ent);
	ktap_check(x0 >= 0 && x1 - x0 < (long long)MEM_BOUND,
		   "outside: xarray memory grew %lld KiB (bound %llu KiB)",
		   (x1 - x0) / 1024, MEM_BOUND / 1024);
	/*
	 * What it may record: the pages of the guest's own earlier buffers
	 * and ring, dropped when the storm re-armed their slots.
	 */
	own = (NDESC * (2048 + 256 + 16)) / 4096 + 8;
	ktap_check(ent >= 0 && ent <= own,
		   "outside: nothing recorded outside the ranges (%lld pages, at most the guest's own %lld)",
		   ent, own);

	memset(bm, 0, (pages / 64 + 1) * 8);
	dirty_log_report(&d, r.iova, r.length, 4096, bm);
	storm(addr_inside, 4);
	x2 = slab_cache_bytes("radix_tree_node");
	cap = dbg("log_max");
	ent = dbg("log_entries");
	ovf = dbg("log_overflows");
	ktap_info("cap: 32768 distinct pages posted: log_entries %lld (cap %lld), overflows %lld, xarray nodes %+lld KiB",
		  ent, cap, ovf, (x2 - x0) / 1024);
	ktap_check(cap > 0 && ent >= 0 && ent <= cap && ovf >= 1,
		   "cap: the record stays at or under its cap (%lld of %lld), overflowed %lld times",
		   ent, cap, ovf);
	ktap_check(x2 - x0 < (long long)MEM_BOUND,
		   "cap: xarray memory grew %lld KiB (bound %llu KiB)",
		   (x2 - x0) / 1024, MEM_BOUND / 1024);
	memset(bm, 0, (pages / 64 + 1) * 8);
	ret = dirty_log_report(&d, r.iova, r.length, 4096, bm);
	n1 = popcount_bm(bm, pages);
	ktap_check(!ret && n1 == pages,
		   "cap: the next report has the whole range dirty (%llu of %llu pages)",
		   (unsigned long long)n1, (unsigned long long)pages);
	memset(bm, 0, (pages / 64 + 1) * 8);
	ret = dirty_log_report(&d, r.iova, r.length, 4096, bm);
	n2 = popcount_bm(bm, pages);
	ktap_check(!ret && n2 < pages,
		   "cap: the report after it is precise again (%llu pages)",
		   (unsigned long long)n2);

	ret = dirty_log_stop(&d);
	ktap_check(!ret && dbg("log_entries") <= 0,
		   "LOG_STOP: nothing left recorded");
	ret = vfio_dev_reset(&d);
	if (!ret)
		ret = ivf_reset(&v);
	ktap_check(!ret && v.cts, "usable: after VFIO_DEVICE_RESET the PF handshake works: %s",
		   ret ? strerror(-ret) : "ok");
out:
	free(bm);
	if (big.mapped)
		vfio_dma_free(&d, &big);
	ivf_close(&v);
	vfio_dev_close(&d);
	ktap_finish();
}
