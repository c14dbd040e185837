// SPDX-License-Identifier: GPL-2.0
/*
 * bar_access: BAR0 access rules of igbvf-vfio-pci.
 *  - mmap touching page 0 is refused with EINVAL, pages 1-3 are accepted;
 *  - trapped page 0: STATUS reads like under vfio-pci, VMBMEM round-trips,
 *    V2PMAILBOX reads;
 *  - only aligned 4-byte accesses inside the 16 KiB BAR are accepted;
 *  - a register read through the mapping equals its pread.
 *
 * The fixture opens IVF_VF0 (skips unless it is bound to the variant
 * driver) and enables memory and bus master. Cases:
 *   mmap_touching_page_0_or_past_bar_refused   EINVAL for 0+4K, 0+16K,
 *                                              0+8K and 12K+8K
 *   mmap_of_pages_1_to_3_accepted              each page, and all three
 *   status_reads_as_under_vfio_pci             STATUS says link up, and is
 *                                              what stock vfio-pci reads
 *                                              on IVF_VF2 (if set)
 *   vmbmem_round_trips                         VMBMEM[15] reads, takes two
 *                                              random values back
 *   v2pmailbox_reads                           V2PMAILBOX reads, no stray
 *                                              bits
 *   refused_access_explained_in_kernel_log     the kernel log says why
 *   only_aligned_32bit_accesses_inside_bar     1, 2, 8 bytes and unaligned
 *                                              4 on page 0 and page 1, and
 *                                              past the BAR: EINVAL
 *   device_usable_after_reset_after_refusals   VFIO_DEVICE_RESET after the
 *                                              refused accesses, STATUS
 *                                              reads as before
 *   mapping_and_pread_agree                    pages 1-3: a write through
 *                                              the mapping reads back
 *                                              through pread and the other
 *                                              way round
 *
 * Env: IVF_VF0 (bound to the variant), IVF_VF2 (temporarily rebound to
 *      vfio-pci for the STATUS reference, then back), IVF_DRIVER.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fixture.h"
#include "ivf_regs.h"
#include "util.h"
#include "vfio.h"

#include "kselftest_harness.h"

#define BAR0 VFIO_PCI_BAR0_REGION_INDEX
/* a rebind and a few accesses: seconds even on a sanitizer kernel */
#define CASE_TIMEOUT 120

static void check_mmap(struct __test_metadata *_metadata, struct vfio_dev *d,
		       uint64_t off, size_t len, bool expect_ok)
{
	void *p;
	int err;

	errno = 0;
	p = vfio_region_mmap(d, BAR0, off, len);
	err = errno;
	if (expect_ok) {
		EXPECT_NE(MAP_FAILED, p)
			TH_LOG("mmap BAR0 0x%llx+0x%zx accepted%s%s",
			       (unsigned long long)off, len,
			       p == MAP_FAILED ? ": " : "",
			       p == MAP_FAILED ? strerror(err) : "");
	} else {
		EXPECT_TRUE(p == MAP_FAILED && err == EINVAL)
			TH_LOG("mmap BAR0 0x%llx+0x%zx refused with EINVAL (%s)",
			       (unsigned long long)off, len,
			       p == MAP_FAILED ? strerror(err) : "mapped");
	}
	if (p != MAP_FAILED)
		munmap(p, len);
}

/* expect pread/pwrite of @len at @off to fail with EINVAL */
static void check_bad_rw(struct __test_metadata *_metadata,
			 struct vfio_dev *d, uint64_t off, size_t len,
			 bool write)
{
	uint8_t buf[8] = { 0 };
	int ret;

	if (write)
		ret = vfio_region_pwrite(d, BAR0, off, buf, len);
	else
		ret = vfio_region_pread(d, BAR0, off, buf, len);
	EXPECT_EQ(-EINVAL, ret)
		TH_LOG("%s of %zu byte(s) at 0x%llx fails with EINVAL (got %s)",
		       write ? "pwrite" : "pread", len,
		       (unsigned long long)off, ret ? strerror(-ret) : "success");
}

/* whether a kernel log record after the mark of @kmsg contains @what */
static bool kmsg_has(int kmsg, const char *what)
{
	char rec[1024];
	bool found = false;
	ssize_t n;

	if (kmsg < 0)
		return false;
	while ((n = read(kmsg, rec, sizeof(rec) - 1)) > 0 ||
	       (n < 0 && errno == EPIPE)) {
		if (n <= 0)
			continue;
		rec[n] = '\0';
		if (strstr(rec, what))
			found = true;
	}
	return found;
}

static int stock_status(const char *bdf, const char *drv, uint32_t *status)
{
	struct vfio_dev d;
	int ret, ret2;

	ret = sysfs_pci_bind(bdf, "vfio-pci");
	if (ret) {
		ksft_print_msg("bind %s to vfio-pci: %s\n", bdf,
			       strerror(-ret));
		return ret;
	}
	ret = vfio_dev_open(&d, bdf);
	if (!ret) {
		vfio_enable_mem_bm(&d);
		ret = vfio_bar_read32(&d, 0, IVF_STATUS, status);
		vfio_dev_close(&d);
	}
	ret2 = sysfs_pci_bind(bdf, drv);
	if (ret2)
		ksft_print_msg("rebind %s to %s: %s\n", bdf, drv,
			       strerror(-ret2));
	return ret ? ret : ret2;
}

FIXTURE(bar_access) {
	const char *bdf, *drv;
	struct vfio_dev d;
	bool dev_open;
};

FIXTURE_SETUP(bar_access)
{
	const char *why;
	int ret;

	self->bdf = env_get("IVF_VF0");
	self->drv = ivf_driver_name();
	why = vf_unusable(self->bdf, "IVF_VF0 is needed", self->drv, NULL);
	if (why)
		SKIP(return, "%s", why);
	ret = vfio_dev_open(&self->d, self->bdf);
	ASSERT_EQ(0, ret) TH_LOG("open %s: %s", self->bdf, strerror(-ret));
	self->dev_open = true;
	ASSERT_EQ(0, vfio_enable_mem_bm(&self->d))
		TH_LOG("enable MEM + bus master");
}

FIXTURE_TEARDOWN(bar_access)
{
	if (self->dev_open)
		vfio_dev_close(&self->d);
}

/* every access the driver must refuse, page 0, page 1 and past the BAR */
static void refused_accesses(struct __test_metadata *_metadata,
			     struct vfio_dev *d)
{
	check_bad_rw(_metadata, d, IVF_STATUS, 1, false);
	check_bad_rw(_metadata, d, IVF_STATUS, 2, false);
	check_bad_rw(_metadata, d, IVF_STATUS, 8, false);
	check_bad_rw(_metadata, d, IVF_STATUS + 2, 4, false);
	check_bad_rw(_metadata, d, IVF_VMBMEM(14), 1, true);
	check_bad_rw(_metadata, d, IVF_VMBMEM(14), 2, true);
	check_bad_rw(_metadata, d, IVF_VMBMEM(14), 8, true);
	check_bad_rw(_metadata, d, IVF_VMBMEM(14) + 2, 4, true);
	check_bad_rw(_metadata, d, IVF_BAR0_SIZE, 4, false);
	check_bad_rw(_metadata, d, IVF_BAR0_SIZE, 4, true);
	check_bad_rw(_metadata, d, IVF_BAR0_SIZE - 4, 8, false);
	check_bad_rw(_metadata, d, IVF_BAR0_SIZE + 0x1000, 4, false);
	/* the same rule on the mappable pages: the device is 32-bit only */
	check_bad_rw(_metadata, d, IVF_EITR(0), 1, false);
	check_bad_rw(_metadata, d, IVF_EITR(0), 2, false);
	check_bad_rw(_metadata, d, IVF_EITR(0), 8, false);
	check_bad_rw(_metadata, d, IVF_EITR(0) + 2, 4, false);
}

TEST_F_TIMEOUT(bar_access, mmap_touching_page_0_or_past_bar_refused,
	       CASE_TIMEOUT)
{
	check_mmap(_metadata, &self->d, 0, 0x1000, false);
	check_mmap(_metadata, &self->d, 0, 0x4000, false);
	check_mmap(_metadata, &self->d, 0, 0x2000, false);
	check_mmap(_metadata, &self->d, 0x3000, 0x2000, false);
}

TEST_F_TIMEOUT(bar_access, mmap_of_pages_1_to_3_accepted, CASE_TIMEOUT)
{
	check_mmap(_metadata, &self->d, 0x1000, 0x1000, true);
	check_mmap(_metadata, &self->d, 0x2000, 0x1000, true);
	check_mmap(_metadata, &self->d, 0x3000, 0x1000, true);
	check_mmap(_metadata, &self->d, 0x1000, 0x3000, true);
}

/* the reference: stock vfio-pci on another VF of the PF */
TEST_F_TIMEOUT(bar_access, status_reads_as_under_vfio_pci, CASE_TIMEOUT)
{
	const char *ref = env_get("IVF_VF2");
	uint32_t status = 0, ref_status = 0;
	int ret;

	if (ref) {
		ret = stock_status(ref, self->drv, &ref_status);
		EXPECT_EQ(0, ret)
			TH_LOG("STATUS of %s through vfio-pci: 0x%08x", ref,
			       ref_status);
	}
	ret = vfio_bar_read32(&self->d, 0, IVF_STATUS, &status);
	EXPECT_TRUE(!ret && (status & IVF_STATUS_LU) && status != 0xffffffff)
		TH_LOG("pread STATUS = 0x%08x (link up)", status);
	if (ref) {
		EXPECT_EQ(ref_status, status)
			TH_LOG("STATUS equals the value read through vfio-pci");
	} else {
		TH_LOG("no IVF_VF2: STATUS 0x%08x not compared with vfio-pci",
		       status);
	}
}

TEST_F_TIMEOUT(bar_access, vmbmem_round_trips, CASE_TIMEOUT)
{
	uint32_t v = 0, w, orig = 0;
	unsigned int i;
	int ret;

	ret = vfio_bar_read32(&self->d, 0, IVF_VMBMEM(15), &orig);
	EXPECT_EQ(0, ret) TH_LOG("pread VMBMEM[15] = 0x%08x", orig);
	srand(getpid());
	for (i = 0; i < 2; i++) {
		w = 0x5a000000u | (rand() & 0xffffff);
		ret = vfio_bar_write32(&self->d, 0, IVF_VMBMEM(15), w);
		if (!ret)
			ret = vfio_bar_read32(&self->d, 0, IVF_VMBMEM(15), &v);
		EXPECT_TRUE(!ret && v == w)
			TH_LOG("VMBMEM[15] round-trip #%u: wrote 0x%08x read 0x%08x",
			       i, w, v);
	}
	vfio_bar_write32(&self->d, 0, IVF_VMBMEM(15), orig);
}

TEST_F_TIMEOUT(bar_access, v2pmailbox_reads, CASE_TIMEOUT)
{
	uint32_t v = 0;
	int ret;

	ret = vfio_bar_read32(&self->d, 0, IVF_V2PMAILBOX, &v);
	EXPECT_TRUE(!ret && !(v & ~0xffu))
		TH_LOG("pread V2PMAILBOX = 0x%08x", v);
}

/*
 * The driver's message is rate limited (the kernel's default: 10 in 5 s);
 * refusals just before this case may have used the burst up: then once
 * more after the interval.
 */
TEST_F_TIMEOUT(bar_access, refused_access_explained_in_kernel_log,
	       CASE_TIMEOUT)
{
	bool found = false;
	int kmsg, i;

	kmsg = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
	for (i = 0; i < 2 && !found; i++) {
		if (i) {
			TH_LOG("nothing logged: the rate limit's burst may be used up, again in 6 s");
			sleep(6);
		}
		if (kmsg >= 0)
			lseek(kmsg, 0, SEEK_END);
		check_bad_rw(_metadata, &self->d, IVF_STATUS, 1, false);
		found = kmsg_has(kmsg, "refused: only aligned 32-bit accesses");
	}
	EXPECT_TRUE(found) TH_LOG("kernel log says why an access was refused");
	if (kmsg >= 0)
		close(kmsg);
}

TEST_F_TIMEOUT(bar_access, only_aligned_32bit_accesses_inside_bar,
	       CASE_TIMEOUT)
{
	refused_accesses(_metadata, &self->d);
}

TEST_F_TIMEOUT(bar_access, device_usable_after_reset_after_refusals,
	       CASE_TIMEOUT)
{
	uint32_t status = 0, v = 0;
	int ret;

	ret = vfio_bar_read32(&self->d, 0, IVF_STATUS, &status);
	ASSERT_EQ(0, ret) TH_LOG("pread STATUS: %s", strerror(-ret));
	refused_accesses(_metadata, &self->d);
	ret = vfio_dev_reset(&self->d);
	EXPECT_EQ(0, ret)
		TH_LOG("VFIO_DEVICE_RESET after bad accesses%s%s",
		       ret ? ": " : "", ret ? strerror(-ret) : "");
	ret = vfio_bar_read32(&self->d, 0, IVF_STATUS, &v);
	EXPECT_TRUE(!ret && v == status)
		TH_LOG("STATUS after reset 0x%08x == 0x%08x", v, status);
}

/* pages 1-3 */
TEST_F_TIMEOUT(bar_access, mapping_and_pread_agree, CASE_TIMEOUT)
{
	static const struct {
		uint32_t off, val;
	} regs[] = {
		{ IVF_EITR(0), 0x00000208 },
		{ IVF_EITR(2), 0x00000300 },
		{ IVF_IVAR0, 0x00008180 },
		{ IVF_RDBAL(0), 0x12345680 },
		{ IVF_RDLEN(0), 0x00001000 },
		{ IVF_TDBAL(0), 0x0badc0c0 },
		{ IVF_TDLEN(0), 0x00002000 },
	};
	volatile uint32_t *map;
	unsigned int i;
	int ret;

	map = vfio_region_mmap(&self->d, BAR0, 0x1000, 0x3000);
	ASSERT_NE(MAP_FAILED, map) TH_LOG("map pages 1-3");
	for (i = 0; i < sizeof(regs) / sizeof(regs[0]); i++) {
		uint32_t off = regs[i].off, pr = 0, mr;

		/* write through the mapping, read both ways */
		map[(off - 0x1000) / 4] = regs[i].val;
		mr = map[(off - 0x1000) / 4];
		ret = vfio_bar_read32(&self->d, 0, off, &pr);
		EXPECT_TRUE(!ret && mr == pr && mr == regs[i].val)
			TH_LOG("0x%04x: mmap read 0x%08x == pread 0x%08x == written 0x%08x",
			       off, mr, pr, regs[i].val);
		/* and the other way round */
		ret = vfio_bar_write32(&self->d, 0, off, 0);
		mr = map[(off - 0x1000) / 4];
		EXPECT_TRUE(!ret && mr == 0)
			TH_LOG("0x%04x: pwrite 0 visible through the mapping (0x%08x)",
			       off, mr);
	}
	munmap((void *)map, 0x3000);
}

TEST_HARNESS_MAIN
