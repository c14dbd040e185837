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
 * The fixture opens the VF (skips unless it is bound to the variant
 * driver), enables memory and bus master, maps pages 1-3 and writes a
 * known value to a register of each; a case that needs the pages mapped
 * in touches them first. The teardown sets COMMAND.MEM again if a case
 * cleared it. Cases:
 *   first_touch_faults_once_per_page   +1 fault per page, then none; the
 *                                      value written
 *   mem_off_access_raises_sigbus       COMMAND.MEM cleared: SIGBUS through
 *                                      the mapping, EIO through pread
 *   mem_on_again_faults_device_value   MEM set again: each page faults
 *                                      once, reads what pread reads
 *   reset_drops_mapping                after VFIO_DEVICE_RESET each page
 *                                      faults once again, reads the device
 *   zap_of_page_2_drops_page_2_only    bar0_zap "0x2000 0x1000"
 *   zap_of_all_pages_drops_all         bar0_zap "0x1000 0x3000"
 *
 * Usage: invalidate [BDF] [harness options]  (default IVF_VF0, bound to
 *        the variant)
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <linux/pci_regs.h>

#include "fixture.h"
#include "ivf_regs.h"
#include "util.h"
#include "vfio.h"

#include "kselftest_harness.h"

#define DEBUGFS "/sys/kernel/debug/igbvf-vfio-pci"
/* a reset and a few dozen accesses: seconds even on a sanitizer kernel */
#define CASE_TIMEOUT 120

static const uint32_t page_reg[4] = {
	0, IVF_EITR(0), IVF_RDLEN(0), IVF_TDLEN(0)
};

static const uint32_t page_val[4] = { 0, 0x208, 0x1000, 0x2000 };
static const char *arg_bdf;

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

FIXTURE(invalidate) {
	const char *bdf;
	char faults_path[256], zap_path[256];
	struct vfio_dev d;
	bool dev_open;
	volatile uint32_t *map;	/* BAR0 0x1000..0x4000 */
	uint16_t cmd;		/* COMMAND as the fixture left it */
	bool mem_off;		/* a case cleared COMMAND.MEM */
};

static uint64_t faults(FIXTURE_DATA(invalidate) *self)
{
	uint64_t v = 0;

	if (read_u64_file(self->faults_path, &v))
		return ~0ull;
	return v;
}

static volatile uint32_t *reg(FIXTURE_DATA(invalidate) *self, uint32_t off)
{
	return self->map + (off - 0x1000) / 4;
}

/* touch one register, return the fault counter delta (~0 on SIGBUS) */
static uint64_t touch(FIXTURE_DATA(invalidate) *self, uint32_t off,
		      uint32_t *val)
{
	uint64_t before = faults(self);

	if (probe_read(reg(self, off), val))
		return ~0ull;
	return faults(self) - before;
}

FIXTURE_SETUP(invalidate)
{
	struct sigaction sa = { .sa_handler = on_sigbus };
	const char *why;
	int i, ret;

	self->map = MAP_FAILED;
	self->bdf = arg_bdf ? arg_bdf : env_get("IVF_VF0");
	why = vf_unusable(self->bdf, "IVF_VF0 (or a BDF argument) is needed",
			  ivf_driver_name(), NULL);
	if (why)
		SKIP(return, "%s", why);
	snprintf(self->faults_path, sizeof(self->faults_path),
		 DEBUGFS "/%s/bar0_faults", self->bdf);
	snprintf(self->zap_path, sizeof(self->zap_path),
		 DEBUGFS "/%s/bar0_zap", self->bdf);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);

	ret = vfio_dev_open(&self->d, self->bdf);
	ASSERT_EQ(0, ret) TH_LOG("open %s: %s", self->bdf, strerror(-ret));
	self->dev_open = true;
	ASSERT_EQ(0, vfio_enable_mem_bm(&self->d))
		TH_LOG("enable MEM + bus master");
	ASSERT_NE(~0ull, faults(self))
		TH_LOG("debugfs %s readable", self->faults_path);
	self->map = vfio_region_mmap(&self->d, VFIO_PCI_BAR0_REGION_INDEX,
				     0x1000, 0x3000);
	ASSERT_NE(MAP_FAILED, self->map) TH_LOG("map BAR0 pages 1-3");
	for (i = 1; i < 4; i++)
		vfio_bar_write32(&self->d, 0, page_reg[i], page_val[i]);
}

FIXTURE_TEARDOWN(invalidate)
{
	int ret;

	if (self->mem_off) {
		ret = vfio_cfg_write16(&self->d, PCI_COMMAND, self->cmd);
		EXPECT_EQ(0, ret)
			TH_LOG("COMMAND 0x%04x restored: %s", self->cmd,
			       strerror(-ret));
	}
	if (self->map != MAP_FAILED)
		munmap((void *)self->map, 0x3000);
	if (self->dev_open)
		vfio_dev_close(&self->d);
}

/* every page mapped in: the state the invalidations act on */
static void map_in(struct __test_metadata *_metadata,
		   FIXTURE_DATA(invalidate) *self)
{
	uint32_t val;
	int i;

	for (i = 1; i < 4; i++)
		ASSERT_NE(~0ull, touch(self, page_reg[i], &val))
			TH_LOG("page %d mapped in", i);
}

static void mem_off(struct __test_metadata *_metadata,
		    FIXTURE_DATA(invalidate) *self)
{
	uint16_t cmd = 0;
	int ret;

	ret = vfio_cfg_read16(&self->d, PCI_COMMAND, &cmd);
	ret = ret ? ret : vfio_cfg_write16(&self->d, PCI_COMMAND,
					   cmd & ~PCI_COMMAND_MEMORY);
	if (!ret) {
		self->cmd = cmd;
		self->mem_off = true;
	}
	ASSERT_EQ(0, ret)
		TH_LOG("clear COMMAND.MEM (0x%04x -> 0x%04x)", cmd,
		       cmd & ~PCI_COMMAND_MEMORY);
}

TEST_F_TIMEOUT(invalidate, first_touch_faults_once_per_page, CASE_TIMEOUT)
{
	uint32_t val = 0;
	uint64_t dlt;
	int i;

	for (i = 1; i < 4; i++) {
		dlt = touch(self, page_reg[i], &val);
		EXPECT_TRUE(dlt == 1 && val == page_val[i])
			TH_LOG("first touch of page %d: value 0x%x (want 0x%x), faults +%lld",
			       i, val, page_val[i], (long long)dlt);
	}
	for (i = 1; i < 4; i++) {
		dlt = touch(self, page_reg[i], &val);
		EXPECT_TRUE(dlt == 0 && val == page_val[i])
			TH_LOG("second touch of page %d: no fault (+%lld)", i,
			       (long long)dlt);
	}
}

/* memory decode off */
TEST_F_TIMEOUT(invalidate, mem_off_access_raises_sigbus, CASE_TIMEOUT)
{
	uint32_t val, status;
	int i, ret;

	map_in(_metadata, self);
	mem_off(_metadata, self);
	for (i = 1; i < 4; i++) {
		int before = sigbus_count;

		ret = probe_read(reg(self, page_reg[i]), &val);
		EXPECT_TRUE(ret == -EFAULT && sigbus_count == before + 1)
			TH_LOG("page %d access with MEM off raises SIGBUS%s",
			       i, ret ? "" : " (it read a value)");
	}
	/* The driver documents EIO for read/write with decode off. */
	ret = vfio_bar_read32(&self->d, 0, IVF_STATUS, &status);
	EXPECT_EQ(-EIO, ret)
		TH_LOG("pread STATUS with MEM off fails with EIO (%s)",
		       ret ? strerror(-ret) : "it succeeded");
	ret = vfio_bar_read32(&self->d, 0, page_reg[2], &status);
	EXPECT_EQ(-EIO, ret)
		TH_LOG("pread of page 2 with MEM off fails with EIO (%s)",
		       ret ? strerror(-ret) : "it succeeded");
}

TEST_F_TIMEOUT(invalidate, mem_on_again_faults_device_value, CASE_TIMEOUT)
{
	uint32_t val = 0, pv = 0;
	uint64_t dlt;
	int i, ret;

	map_in(_metadata, self);
	mem_off(_metadata, self);
	ret = vfio_cfg_write16(&self->d, PCI_COMMAND,
			       self->cmd | PCI_COMMAND_MEMORY);
	EXPECT_EQ(0, ret) TH_LOG("set COMMAND.MEM again");
	for (i = 1; i < 4; i++) {
		dlt = touch(self, page_reg[i], &val);
		ret = vfio_bar_read32(&self->d, 0, page_reg[i], &pv);
		EXPECT_TRUE(dlt == 1 && !ret && val == pv &&
			    val == page_val[i])
			TH_LOG("page %d after MEM on: 0x%x == pread 0x%x, faults +%lld",
			       i, val, pv, (long long)dlt);
	}
}

TEST_F_TIMEOUT(invalidate, reset_drops_mapping, CASE_TIMEOUT)
{
	uint32_t val = 0, pv = 0;
	uint64_t dlt;
	int i, ret;

	map_in(_metadata, self);
	ret = vfio_dev_reset(&self->d);
	EXPECT_EQ(0, ret)
		TH_LOG("VFIO_DEVICE_RESET%s%s", ret ? ": " : "",
		       ret ? strerror(-ret) : "");
	vfio_enable_mem_bm(&self->d);
	for (i = 1; i < 4; i++) {
		dlt = touch(self, page_reg[i], &val);
		ret = vfio_bar_read32(&self->d, 0, page_reg[i], &pv);
		EXPECT_TRUE(dlt == 1 && !ret && val == pv)
			TH_LOG("page %d after reset re-faults (+%lld), reads device value 0x%x (pread 0x%x)",
			       i, (long long)dlt, val, pv);
	}
	for (i = 1; i < 4; i++) {
		dlt = touch(self, page_reg[i], &val);
		EXPECT_EQ(0, dlt)
			TH_LOG("page %d touched again: no fault", i);
	}
}

TEST_F_TIMEOUT(invalidate, zap_of_page_2_drops_page_2_only, CASE_TIMEOUT)
{
	uint32_t val = 0, pv = 0;
	uint64_t dlt;
	int ret;

	map_in(_metadata, self);
	ret = write_str_file(self->zap_path, "0x2000 0x1000");
	EXPECT_EQ(0, ret)
		TH_LOG("write \"0x2000 0x1000\" to bar0_zap%s%s",
		       ret ? ": " : "", ret ? strerror(-ret) : "");
	dlt = touch(self, page_reg[1], &val);
	EXPECT_EQ(0, dlt)
		TH_LOG("after zap of page 2: page 1 does not fault");
	dlt = touch(self, page_reg[3], &val);
	EXPECT_EQ(0, dlt)
		TH_LOG("after zap of page 2: page 3 does not fault");
	dlt = touch(self, page_reg[2], &val);
	ret = vfio_bar_read32(&self->d, 0, page_reg[2], &pv);
	EXPECT_TRUE(dlt == 1 && val == pv)
		TH_LOG("after zap of page 2: page 2 faults again (+%lld), value 0x%x == pread 0x%x",
		       (long long)dlt, val, pv);
	dlt = touch(self, page_reg[2], &val);
	EXPECT_EQ(0, dlt) TH_LOG("page 2 touched again: no fault");
}

TEST_F_TIMEOUT(invalidate, zap_of_all_pages_drops_all, CASE_TIMEOUT)
{
	uint32_t val;
	uint64_t dlt;
	int i, ret;

	map_in(_metadata, self);
	ret = write_str_file(self->zap_path, "0x1000 0x3000");
	EXPECT_EQ(0, ret) TH_LOG("write \"0x1000 0x3000\" to bar0_zap");
	for (i = 1; i < 4; i++) {
		dlt = touch(self, page_reg[i], &val);
		EXPECT_EQ(1, dlt)
			TH_LOG("after full zap: page %d faults", i);
	}
}

/* the BDF is the one argument besides the harness's options */
int main(int argc, char **argv)
{
	char **args;

	if (harness_own_args(argc, argv, &args) > 0)
		arg_bdf = args[0];
	return test_harness_run(argc, argv);
}
