// SPDX-License-Identifier: GPL-2.0
/*
 * bar_access: BAR0 access rules of igbvf-vfio-pci.
 *  - mmap touching page 0 is refused with EINVAL, pages 1-3 are accepted;
 *  - trapped page 0: STATUS reads like under vfio-pci, VMBMEM round-trips,
 *    V2PMAILBOX reads;
 *  - only aligned 4-byte accesses inside the 16 KiB BAR are accepted;
 *  - a register read through the mapping equals its pread.
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

#include "ivf_regs.h"
#include "ktap.h"
#include "util.h"
#include "vfio.h"

KTAP_DEFINE_STATE();

#define BAR0 VFIO_PCI_BAR0_REGION_INDEX

static void check_mmap(struct vfio_dev *d, uint64_t off, size_t len,
		       bool expect_ok)
{
	void *p;
	int err;

	errno = 0;
	p = vfio_region_mmap(d, BAR0, off, len);
	err = errno;
	if (expect_ok) {
		ktap_check(p != MAP_FAILED, "mmap BAR0 0x%llx+0x%zx accepted%s%s",
			   (unsigned long long)off, len,
			   p == MAP_FAILED ? ": " : "",
			   p == MAP_FAILED ? strerror(err) : "");
	} else {
		ktap_check(p == MAP_FAILED && err == EINVAL,
			   "mmap BAR0 0x%llx+0x%zx refused with EINVAL (%s)",
			   (unsigned long long)off, len,
			   p == MAP_FAILED ? strerror(err) : "mapped");
	}
	if (p != MAP_FAILED)
		munmap(p, len);
}

/* expect pread/pwrite of @len at @off to fail with EINVAL */
static void check_bad_rw(struct vfio_dev *d, uint64_t off, size_t len,
			 bool write)
{
	uint8_t buf[8] = { 0 };
	int ret;

	if (write)
		ret = vfio_region_pwrite(d, BAR0, off, buf, len);
	else
		ret = vfio_region_pread(d, BAR0, off, buf, len);
	ktap_check(ret == -EINVAL, "%s of %zu byte(s) at 0x%llx fails with EINVAL (got %s)",
		   write ? "pwrite" : "pread", len, (unsigned long long)off,
		   ret ? strerror(-ret) : "success");
}

/* whether a kernel log record after the mark of @kmsg contains @what */
static bool kmsg_has(int kmsg, const char *what)
{
	char rec[1024];
	bool found = false;
	ssize_t n;

	if (kmsg < 0)
		return false;
	while ((n = read(kmsg, rec, sizeof(rec) - 1)) > 0 || (n < 0 && errno == EPIPE)) {
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
		ktap_info("bind %s to vfio-pci: %s", bdf, strerror(-ret));
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
		ktap_info("rebind %s to %s: %s", bdf, drv, strerror(-ret2));
	return ret ? ret : ret2;
}

int main(void)
{
	const char *bdf = env_need("IVF_VF0");
	const char *ref = env_get("IVF_VF2");
	const char *drv = ivf_driver_name();
	uint32_t status = 0, ref_status = 0, v, w, orig;
	volatile uint32_t *map;
	struct vfio_dev d;
	char cur[64];
	unsigned int i;
	int ret, kmsg;

	ktap_header("bar_access: BAR0 mmap and read/write rules");
	ret = sysfs_pci_driver(bdf, cur, sizeof(cur));
	if (ret || strcmp(cur, drv))
		ktap_skip_all("%s is bound to '%s', not %s", bdf, cur, drv);

	/* reference STATUS through stock vfio-pci on another VF of the PF */
	if (ref) {
		ret = stock_status(ref, drv, &ref_status);
		ktap_check(!ret, "STATUS of %s through vfio-pci: 0x%08x", ref,
			   ref_status);
	}

	ret = vfio_dev_open(&d, bdf);
	if (!ktap_check(!ret, "open %s", bdf))
		ktap_finish();
	ktap_check(!vfio_enable_mem_bm(&d), "enable MEM + bus master");

	/* mmap rules */
	check_mmap(&d, 0, 0x1000, false);
	check_mmap(&d, 0, 0x4000, false);
	check_mmap(&d, 0, 0x2000, false);
	check_mmap(&d, 0x1000, 0x1000, true);
	check_mmap(&d, 0x2000, 0x1000, true);
	check_mmap(&d, 0x3000, 0x1000, true);
	check_mmap(&d, 0x1000, 0x3000, true);
	check_mmap(&d, 0x3000, 0x2000, false);	/* beyond the BAR */

	/* trapped page 0 */
	ret = vfio_bar_read32(&d, 0, IVF_STATUS, &status);
	ktap_check(!ret && (status & IVF_STATUS_LU) && status != 0xffffffff,
		   "pread STATUS = 0x%08x (link up)", status);
	if (ref)
		ktap_check(status == ref_status,
			   "STATUS equals the value read through vfio-pci (0x%08x vs 0x%08x)",
			   status, ref_status);

	ret = vfio_bar_read32(&d, 0, IVF_VMBMEM(15), &orig);
	ktap_check(!ret, "pread VMBMEM[15] = 0x%08x", orig);
	srand(getpid());
	for (i = 0; i < 2; i++) {
		w = 0x5a000000u | (rand() & 0xffffff);
		ret = vfio_bar_write32(&d, 0, IVF_VMBMEM(15), w);
		if (!ret)
			ret = vfio_bar_read32(&d, 0, IVF_VMBMEM(15), &v);
		ktap_check(!ret && v == w,
			   "VMBMEM[15] round-trip #%u: wrote 0x%08x read 0x%08x",
			   i, w, v);
	}
	vfio_bar_write32(&d, 0, IVF_VMBMEM(15), orig);

	ret = vfio_bar_read32(&d, 0, IVF_V2PMAILBOX, &v);
	ktap_check(!ret && !(v & ~0xffu), "pread V2PMAILBOX = 0x%08x", v);

	/* access rules */
	kmsg = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
	if (kmsg >= 0)
		lseek(kmsg, 0, SEEK_END);
	check_bad_rw(&d, IVF_STATUS, 1, false);
	check_bad_rw(&d, IVF_STATUS, 2, false);
	check_bad_rw(&d, IVF_STATUS, 8, false);
	check_bad_rw(&d, IVF_STATUS + 2, 4, false);
	check_bad_rw(&d, IVF_VMBMEM(14), 1, true);
	check_bad_rw(&d, IVF_VMBMEM(14), 2, true);
	check_bad_rw(&d, IVF_VMBMEM(14), 8, true);
	check_bad_rw(&d, IVF_VMBMEM(14) + 2, 4, true);
	check_bad_rw(&d, IVF_BAR0_SIZE, 4, false);
	check_bad_rw(&d, IVF_BAR0_SIZE, 4, true);
	check_bad_rw(&d, IVF_BAR0_SIZE - 4, 8, false);
	check_bad_rw(&d, IVF_BAR0_SIZE + 0x1000, 4, false);
	/* the same rule on the mappable pages: the device is 32-bit only */
	check_bad_rw(&d, IVF_EITR(0), 1, false);
	check_bad_rw(&d, IVF_EITR(0), 2, false);
	check_bad_rw(&d, IVF_EITR(0), 8, false);
	check_bad_rw(&d, IVF_EITR(0) + 2, 4, false);
	ktap_check(kmsg_has(kmsg, "refused: only aligned 32-bit accesses"),
		   "kernel log says why an access was refused");
	if (kmsg >= 0)
		close(kmsg);

	/* after all that, the device is usable after VFIO_DEVICE_RESET */
	ret = vfio_dev_reset(&d);
	ktap_check(!ret, "VFIO_DEVICE_RESET after bad accesses%s%s",
		   ret ? ": " : "", ret ? strerror(-ret) : "");
	ret = vfio_bar_read32(&d, 0, IVF_STATUS, &v);
	ktap_check(!ret && v == status, "STATUS after reset 0x%08x == 0x%08x",
		   v, status);

	/* mapped page 1-3 reads equal pread */
	map = vfio_region_mmap(&d, BAR0, 0x1000, 0x3000);
	if (!ktap_check(map != MAP_FAILED, "map pages 1-3"))
		goto out;
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

		for (i = 0; i < sizeof(regs) / sizeof(regs[0]); i++) {
			uint32_t off = regs[i].off, pr = 0, mr;

			/* write through the mapping, read both ways */
			map[(off - 0x1000) / 4] = regs[i].val;
			mr = map[(off - 0x1000) / 4];
			ret = vfio_bar_read32(&d, 0, off, &pr);
			ktap_check(!ret && mr == pr && mr == regs[i].val,
				   "0x%04x: mmap read 0x%08x == pread 0x%08x == written 0x%08x",
				   off, mr, pr, regs[i].val);
			/* and the other way round */
			ret = vfio_bar_write32(&d, 0, off, 0);
			mr = map[(off - 0x1000) / 4];
			ktap_check(!ret && mr == 0,
				   "0x%04x: pwrite 0 visible through the mapping (0x%08x)",
				   off, mr);
		}
	}
	munmap((void *)map, 0x3000);
out:
	vfio_dev_close(&d);
	ktap_finish();
}
