// SPDX-License-Identifier: GPL-2.0
/*
 * invalidate: BAR0 mmap invalidation of igbvf-vfio-pci.
 *  - COMMAND.MEM cleared through VFIO: a mapped page-1..3 access raises
 *    SIGBUS; MEM set again: the access returns the device value;
 *  - VFIO_DEVICE_RESET drops the mapping: the next touch faults again
 *    (debugfs bar0_faults +1), while touching an already faulted page
 *    does not fault;
 *  - the driver's sub-range zap (debugfs bar0_zap "0x2000 0x1000") drops
 *    page 2 only.
 *
 * Usage: invalidate [BDF]   (default IVF_VF0, bound to the variant)
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <linux/pci_regs.h>

#include "ivf_regs.h"
#include "ktap.h"
#include "util.h"
#include "vfio.h"

KTAP_DEFINE_STATE();

#define DEBUGFS "/sys/kernel/debug/igbvf-vfio-pci"

static sigjmp_buf probe_env;
static volatile sig_atomic_t probing;
static volatile sig_atomic_t sigbus_count;

static void on_sigbus(int sig)
{
	if (probing) {
		sigbus_count++;
		siglongjmp(probe_env, 1);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

/* read a mapped register; -EFAULT if it raised SIGBUS */
static int probe_read(volatile uint32_t *p, uint32_t *val)
{
	if (sigsetjmp(probe_env, 1)) {
		probing = 0;
		return -EFAULT;
	}
	probing = 1;
	*val = *p;
	probing = 0;
	return 0;
}

static char faults_path[256], zap_path[256];
static volatile uint32_t *map;	/* BAR0 0x1000..0x4000 */

static uint64_t faults(void)
{
	uint64_t v = 0;

	if (read_u64_file(faults_path, &v))
		return ~0ull;
	return v;
}

static volatile uint32_t *reg(uint32_t off)
{
	return map + (off - 0x1000) / 4;
}

/* touch one register, return the fault counter delta (~0 on SIGBUS) */
static uint64_t touch(uint32_t off, uint32_t *val)
{
	uint64_t before = faults();

	if (probe_read(reg(off), val))
		return ~0ull;
	return faults() - before;
}

int main(int argc, char **argv)
{
	const char *bdf = argc > 1 ? argv[1] : env_need("IVF_VF0");
	static const uint32_t page_reg[4] = {
		0, IVF_EITR(0), IVF_RDLEN(0), IVF_TDLEN(0)
	};
	static const uint32_t page_val[4] = { 0, 0x208, 0x1000, 0x2000 };
	struct sigaction sa = { .sa_handler = on_sigbus };
	uint32_t val, pv, status;
	struct vfio_dev d;
	uint16_t cmd;
	uint64_t dlt;
	int i, ret;

	ktap_header("invalidate: BAR0 mapping vs MEM enable, reset, zap");
	if (sysfs_pci_driver(bdf, faults_path, sizeof(faults_path)) ||
	    strcmp(faults_path, ivf_driver_name()))
		ktap_skip_all("%s is bound to '%s', not %s", bdf, faults_path,
			      ivf_driver_name());
	snprintf(faults_path, sizeof(faults_path), DEBUGFS "/%s/bar0_faults",
		 bdf);
	snprintf(zap_path, sizeof(zap_path), DEBUGFS "/%s/bar0_zap", bdf);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);

	ret = vfio_dev_open(&d, bdf);
	if (!ktap_check(!ret, "open %s", bdf))
		ktap_finish();
	ktap_check(!vfio_enable_mem_bm(&d), "enable MEM + bus master");
	ktap_check(faults() != ~0ull, "debugfs %s readable", faults_path);

	map = vfio_region_mmap(&d, VFIO_PCI_BAR0_REGION_INDEX, 0x1000, 0x3000);
	if (!ktap_check(map != MAP_FAILED, "map BAR0 pages 1-3"))
		goto out;
	for (i = 1; i < 4; i++)
		vfio_bar_write32(&d, 0, page_reg[i], page_val[i]);

	/* first touch of each page faults once, later touches don't */
	for (i = 1; i < 4; i++) {
		dlt = touch(page_reg[i], &val);
		ktap_check(dlt == 1 && val == page_val[i],
			   "first touch of page %d: value 0x%x (want 0x%x), faults +%lld",
			   i, val, page_val[i], (long long)dlt);
	}
	for (i = 1; i < 4; i++) {
		dlt = touch(page_reg[i], &val);
		ktap_check(dlt == 0 && val == page_val[i],
			   "second touch of page %d: no fault (+%lld)", i,
			   (long long)dlt);
	}

	/* memory decode off: SIGBUS */
	ret = vfio_cfg_read16(&d, PCI_COMMAND, &cmd);
	ret = ret ? ret : vfio_cfg_write16(&d, PCI_COMMAND,
					   cmd & ~PCI_COMMAND_MEMORY);
	ktap_check(!ret, "clear COMMAND.MEM (0x%04x -> 0x%04x)", cmd,
		   cmd & ~PCI_COMMAND_MEMORY);
	for (i = 1; i < 4; i++) {
		int before = sigbus_count;

		ret = probe_read(reg(page_reg[i]), &val);
		ktap_check(ret == -EFAULT && sigbus_count == before + 1,
			   "page %d access with MEM off raises SIGBUS%s", i,
			   ret ? "" : " (it read a value)");
	}
	/* The driver documents EIO for read/write with decode off. */
	ret = vfio_bar_read32(&d, 0, IVF_STATUS, &status);
	ktap_check(ret == -EIO, "pread STATUS with MEM off fails with EIO (%s)",
		   ret ? strerror(-ret) : "it succeeded");
	ret = vfio_bar_read32(&d, 0, page_reg[2], &status);
	ktap_check(ret == -EIO, "pread of page 2 with MEM off fails with EIO (%s)",
		   ret ? strerror(-ret) : "it succeeded");
	ret = vfio_cfg_write16(&d, PCI_COMMAND, cmd | PCI_COMMAND_MEMORY);
	ktap_check(!ret, "set COMMAND.MEM again");
	for (i = 1; i < 4; i++) {
		dlt = touch(page_reg[i], &val);
		ret = vfio_bar_read32(&d, 0, page_reg[i], &pv);
		ktap_check(dlt == 1 && !ret && val == pv && val == page_val[i],
			   "page %d after MEM on: 0x%x == pread 0x%x, faults +%lld",
			   i, val, pv, (long long)dlt);
	}

	/* reset drops the mapping */
	ret = vfio_dev_reset(&d);
	ktap_check(!ret, "VFIO_DEVICE_RESET%s%s", ret ? ": " : "",
		   ret ? strerror(-ret) : "");
	vfio_enable_mem_bm(&d);
	for (i = 1; i < 4; i++) {
		dlt = touch(page_reg[i], &val);
		ret = vfio_bar_read32(&d, 0, page_reg[i], &pv);
		ktap_check(dlt == 1 && !ret && val == pv,
			   "page %d after reset re-faults (+%lld), reads device value 0x%x (pread 0x%x)",
			   i, (long long)dlt, val, pv);
	}
	for (i = 1; i < 4; i++) {
		dlt = touch(page_reg[i], &val);
		ktap_check(dlt == 0, "page %d touched again: no fault (+%lld)",
			   i, (long long)dlt);
	}

	/* sub-range zap of page 2 */
	ret = write_str_file(zap_path, "0x2000 0x1000");
	ktap_check(!ret, "write \"0x2000 0x1000\" to bar0_zap%s%s",
		   ret ? ": " : "", ret ? strerror(-ret) : "");
	dlt = touch(page_reg[1], &val);
	ktap_check(dlt == 0, "after zap of page 2: page 1 does not fault (+%lld)",
		   (long long)dlt);
	dlt = touch(page_reg[3], &val);
	ktap_check(dlt == 0, "after zap of page 2: page 3 does not fault (+%lld)",
		   (long long)dlt);
	dlt = touch(page_reg[2], &val);
	ret = vfio_bar_read32(&d, 0, page_reg[2], &pv);
	ktap_check(dlt == 1 && val == pv,
		   "after zap of page 2: page 2 faults again (+%lld), value 0x%x == pread 0x%x",
		   (long long)dlt, val, pv);
	dlt = touch(page_reg[2], &val);
	ktap_check(dlt == 0, "page 2 touched again: no fault (+%lld)",
		   (long long)dlt);

	/* zap of the whole mapped range */
	ret = write_str_file(zap_path, "0x1000 0x3000");
	ktap_check(!ret, "write \"0x1000 0x3000\" to bar0_zap");
	for (i = 1; i < 4; i++) {
		dlt = touch(page_reg[i], &val);
		ktap_check(dlt == 1, "after full zap: page %d faults (+%lld)", i,
			   (long long)dlt);
	}

	munmap((void *)map, 0x3000);
out:
	vfio_dev_close(&d);
	ktap_finish();
}
