// SPDX-License-Identifier: GPL-2.0
/*
 * vf_driver: the userspace VF driver as a driver plugin (lib/vf_driver.h),
 * held to the promises the kernel's VFIO selftests hold their device
 * plugins to (vfio_pci_driver_test: init_remove, memcpy_success,
 * memcpy_from_unmapped_iova, memcpy_to_unmapped_iova, send_msi,
 * mix_and_match, memcpy_storm), one case each, on IVF_VF0. For a VF a
 * memcpy is a frame to itself through the PF's switch (vf_driver.h).
 *
 * The fixture: the VF through the variant's backend, the plugin probed
 * and initialized (its rings in an IOVA window at 256 MiB), a memcpy area
 * mapped at 1 GiB (src, then dst right after it, max_memcpy_size each) and
 * an IOVA nothing is mapped at (8 GiB). Variants (backends.h):
 *   container  the group in a type1 container
 *   cdev_log   the device's cdev on iommufd (skips without IOMMUFD)
 *
 * Cases:
 *   init_remove_cycles_leave_the_vf_copying
 *             ten remove + init cycles succeed, and a memcpy after them
 *             arrives byte-exact
 *   memcpy_arrives_byte_exact_without_msi
 *             max_memcpy_size bytes arrive at dst as they are at src; the
 *             copy raises no MSI
 *   memcpy_from_unmapped_iova_fails_writes_nothing_and_raises_no_msi
 *             a copy whose src is not mapped reports an error, leaves dst
 *             as it was, raises no MSI
 *   memcpy_to_unmapped_iova_raises_no_msi_and_next_memcpy_arrives
 *             a copy whose dst is not mapped raises no MSI (its result is
 *             the device's to report or not), and the next copy arrives
 *   send_msi_signals_the_eventfd_once
 *             send_msi() makes the vector's eventfd count exactly 1
 *   memcpys_faults_and_msis_interleaved_keep_working
 *             ten rounds of a good copy (byte-exact), a copy from an
 *             unmapped IOVA, and send_msi (the eventfd counts 1)
 *   memcpy_storm_arrives_byte_exact_without_msi
 *             IVF_STORM_ROUNDS (default 9) rounds of max_memcpy_count
 *             copies of max_memcpy_size bytes: each round completes, dst
 *             ends byte-exact, no MSI; the median bytes/s is logged
 *
 * Env: IVF_VF0, IVF_STORM_ROUNDS.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"
#include "vf_driver.h"

#include "kselftest_harness.h"
#include "backends.h"

#define CASE_TIMEOUT	300
#define REGION_IOVA	0x10000000ull	/* the plugin's rings */
#define REGION_SIZE	(64ull << 20)
#define MEM_IOVA	0x40000000ull	/* src, dst */
#define UNMAPPED_IOVA	(8ull << 30)

FIXTURE(vf_driver) {
	struct vfio_backend backend;
	struct vfio_dev d;
	bool dev_open;
	struct vf_driver drv;
	struct vfio_dma mem;
	uint64_t size;
	uint8_t *src, *dst;
	uint64_t src_iova, dst_iova;
	int msi_fd;
};

IVF_BACKENDS(vf_driver);

FIXTURE_SETUP(vf_driver)
{
	const char *bdf = env_get("IVF_VF0");
	const char *why;
	int ret;

	self->backend = variant->backend;
	if (!bdf)
		SKIP(return, "IVF_VF0 is needed");
	why = vfio_backend_missing(bdf, &self->backend);
	if (why)
		SKIP(return, "%s", why);
	ret = vfio_dev_open_backend(&self->d, bdf, &self->backend);
	ASSERT_EQ(0, ret) TH_LOG("open %s: %s", bdf, strerror(-ret));
	self->dev_open = true;

	self->drv.region.iova = REGION_IOVA;
	self->drv.region.size = REGION_SIZE;
	ret = vf_driver_probe(&self->drv, &self->d);
	ASSERT_EQ(0, ret) TH_LOG("a plugin drives %s: %s", bdf,
				 strerror(-ret));
	ret = vf_driver_init(&self->drv);
	ASSERT_EQ(0, ret) TH_LOG("%s: init: %s", self->drv.ops->name,
				 strerror(-ret));
	TH_LOG("%s: region iova 0x%llx size 0x%llx, max_memcpy_size 0x%llx, max_memcpy_count 0x%llx, msi %d",
	       self->drv.ops->name,
	       (unsigned long long)self->drv.region.iova,
	       (unsigned long long)self->drv.region.size,
	       (unsigned long long)self->drv.max_memcpy_size,
	       (unsigned long long)self->drv.max_memcpy_count, self->drv.msi);
	self->msi_fd = self->d.irq_fds[self->drv.msi];

	self->size = self->drv.max_memcpy_size;
	ret = vfio_dma_alloc(&self->d, &self->mem, 2 * self->size, MEM_IOVA);
	ASSERT_EQ(0, ret) TH_LOG("memcpy area: %s", strerror(-ret));
	self->src = self->mem.vaddr;
	self->dst = self->src + self->size;
	self->src_iova = self->mem.iova;
	self->dst_iova = self->mem.iova + self->size;
}

FIXTURE_TEARDOWN(vf_driver)
{
	if (self->drv.memcpy_in_progress)
		vf_driver_memcpy_wait(&self->drv);
	if (self->drv.initialized)
		vf_driver_remove(&self->drv);
	if (self->mem.vaddr)
		vfio_dma_free(&self->d, &self->mem);
	if (self->dev_open)
		vfio_dev_close(&self->d);
}

/* the eventfd's count, waiting up to @ms for it: 0 if it never fired */
static uint64_t msi_count(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint64_t n;

	if (poll(&p, 1, ms) != 1 || read(fd, &n, sizeof(n)) != sizeof(n))
		return 0;
	return n;
}

/* src 'x' (with the round in it), dst 'y' */
static void fill(FIXTURE_DATA(vf_driver) *self, unsigned int round)
{
	memset(self->src, 'x', self->size);
	memcpy(self->src, &round, sizeof(round));
	memset(self->dst, 'y', self->size);
}

static bool dst_untouched(FIXTURE_DATA(vf_driver) *self)
{
	uint64_t i;

	for (i = 0; i < self->size; i++)
		if (self->dst[i] != 'y')
			return false;
	return true;
}

TEST_F_TIMEOUT(vf_driver, init_remove_cycles_leave_the_vf_copying,
	       CASE_TIMEOUT)
{
	int i;

	for (i = 0; i < 10; i++) {
		ASSERT_EQ(0, vf_driver_remove(&self->drv))
			TH_LOG("remove %d", i);
		ASSERT_EQ(0, vf_driver_init(&self->drv)) TH_LOG("init %d", i);
	}
	self->msi_fd = self->d.irq_fds[self->drv.msi];
	fill(self, 0);
	EXPECT_EQ(0, vf_driver_memcpy(&self->drv, self->src_iova,
				      self->dst_iova, self->size));
	EXPECT_EQ(0, memcmp(self->src, self->dst, self->size))
		TH_LOG("dst is src after the cycles");
}

TEST_F_TIMEOUT(vf_driver, memcpy_arrives_byte_exact_without_msi, CASE_TIMEOUT)
{
	fill(self, 1);
	ASSERT_EQ(0, vf_driver_memcpy(&self->drv, self->src_iova,
				      self->dst_iova, self->size));
	EXPECT_EQ(0, memcmp(self->src, self->dst, self->size))
		TH_LOG("%llu bytes arrived as sent",
		       (unsigned long long)self->size);
	EXPECT_EQ(0, msi_count(self->msi_fd, 0)) TH_LOG("no MSI");
}

TEST_F_TIMEOUT(vf_driver,
	       memcpy_from_unmapped_iova_fails_writes_nothing_and_raises_no_msi,
	       CASE_TIMEOUT)
{
	int ret;

	fill(self, 2);
	ret = vf_driver_memcpy(&self->drv, UNMAPPED_IOVA, self->dst_iova,
			       self->size);
	EXPECT_NE(0, ret) TH_LOG("the failed read is reported");
	TH_LOG("memcpy from unmapped 0x%llx: %s",
	       (unsigned long long)UNMAPPED_IOVA, err_str(ret));
	EXPECT_TRUE(dst_untouched(self)) TH_LOG("dst as it was");
	EXPECT_EQ(0, msi_count(self->msi_fd, 0)) TH_LOG("no MSI");
}

TEST_F_TIMEOUT(vf_driver,
	       memcpy_to_unmapped_iova_raises_no_msi_and_next_memcpy_arrives,
	       CASE_TIMEOUT)
{
	int ret;

	fill(self, 3);
	/* the device may not see a failed write: its result is not checked */
	ret = vf_driver_memcpy(&self->drv, self->src_iova, UNMAPPED_IOVA,
			       self->size);
	TH_LOG("memcpy to unmapped 0x%llx: %s",
	       (unsigned long long)UNMAPPED_IOVA, err_str(ret));
	EXPECT_EQ(0, msi_count(self->msi_fd, 0)) TH_LOG("no MSI");
	fill(self, 4);
	EXPECT_EQ(0, vf_driver_memcpy(&self->drv, self->src_iova,
				      self->dst_iova, self->size));
	EXPECT_EQ(0, memcmp(self->src, self->dst, self->size))
		TH_LOG("the next memcpy arrives");
}

TEST_F_TIMEOUT(vf_driver, send_msi_signals_the_eventfd_once, CASE_TIMEOUT)
{
	ASSERT_EQ(0, vf_driver_send_msi(&self->drv));
	EXPECT_EQ(1, msi_count(self->msi_fd, 2000))
		TH_LOG("vector %d's eventfd counts 1", self->drv.msi);
}

TEST_F_TIMEOUT(vf_driver, memcpys_faults_and_msis_interleaved_keep_working,
	       CASE_TIMEOUT)
{
	unsigned int i;

	for (i = 0; i < 10; i++) {
		fill(self, 10 + i);
		ASSERT_EQ(0, vf_driver_memcpy(&self->drv, self->src_iova,
					      self->dst_iova, self->size))
			TH_LOG("round %u: memcpy", i);
		ASSERT_EQ(0, memcmp(self->src, self->dst, self->size))
			TH_LOG("round %u: byte-exact", i);
		vf_driver_memcpy(&self->drv, UNMAPPED_IOVA, self->dst_iova,
				 self->size);
		ASSERT_EQ(0, vf_driver_send_msi(&self->drv));
		ASSERT_EQ(1, msi_count(self->msi_fd, 2000))
			TH_LOG("round %u: the eventfd counts 1", i);
	}
}

TEST_F_TIMEOUT(vf_driver, memcpy_storm_arrives_byte_exact_without_msi,
	       CASE_TIMEOUT)
{
	const char *env = env_get("IVF_STORM_ROUNDS");
	unsigned int rounds = env ? strtoul(env, NULL, 0) : 9;
	uint64_t count = self->drv.max_memcpy_count;
	struct ivf_stats st0, st1;
	unsigned int i, ok = 0;
	double bps[64];
	uint64_t t0;

	if (!rounds || rounds > 64)
		rounds = 9;
	TH_LOG("%u rounds of %llu memcpys of 0x%llx bytes", rounds,
	       (unsigned long long)count, (unsigned long long)self->size);
	ivf_read_stats(&self->drv.v, &st0);
	for (i = 0; i < rounds; i++) {
		fill(self, 100 + i);
		t0 = now_ns();
		ASSERT_EQ(0, vf_driver_memcpy_start(&self->drv, self->src_iova,
						    self->dst_iova, self->size,
						    count))
			TH_LOG("round %u: start", i);
		ASSERT_EQ(0, vf_driver_memcpy_wait(&self->drv))
			TH_LOG("round %u: every copy done and checked", i);
		bps[i] = count * self->size * 1e9 / (now_ns() - t0);
		ok += !memcmp(self->src, self->dst, self->size);
	}
	ivf_read_stats(&self->drv.v, &st1);
	TH_LOG("VF counters: %u frames sent, %u received, %u of them looped back (VFGPTLBC %u)",
	       st1.gptc - st0.gptc, st1.gprc - st0.gprc,
	       st1.gprlbc - st0.gprlbc, st1.gptlbc - st0.gptlbc);
	EXPECT_EQ(rounds, ok) TH_LOG("dst byte-exact after every round");
	EXPECT_EQ(0, msi_count(self->msi_fd, 0)) TH_LOG("no MSI");
	TH_LOG("memcpy bytes/s=%.0f median of %u rounds (min %.0f, max %.0f)",
	       stats_median(bps, rounds), rounds, stats_min(bps, rounds),
	       stats_max(bps, rounds));
}

TEST_HARNESS_MAIN
