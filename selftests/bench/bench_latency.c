// SPDX-License-Identifier: GPL-2.0
/*
 * bench_latency: cost of one 32-bit register read on the VF, by path:
 *   pread_page0   pread of STATUS (0x0008): trapped by igbvf-vfio-pci
 *   mmap_page1    load of EITR0 (0x1680) through the BAR0 mmap
 *   pread_page1   pread of EITR0
 *   mmap_page0    load of STATUS through an mmap of page 0 (only where the
 *                 driver allows it, i.e. stock vfio-pci)
 * Each read is timed with CLOCK_MONOTONIC; the clock's own cost is
 * measured and printed (op=clock) but not subtracted.
 *
 * Usage: bench_latency [BDF [iterations [repeats]]]  (default IVF_VF0)
 * Output per repeat: "# repeat R op=OP median=.. min=.. max=.. mean=.. ns"
 * Summary per op:    "# latency op=OP median=M min=A max=B ns driver=D"
 *   (median/min/max of the per-repeat medians)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "ivf_regs.h"
#include "ktap.h"
#include "util.h"
#include "vfio.h"

KTAP_DEFINE_STATE();

enum op { OP_CLOCK, OP_PREAD0, OP_MMAP1, OP_PREAD1, OP_MMAP0, OP_N };
static const char *const op_name[OP_N] = {
	"clock", "pread_page0", "mmap_page1", "pread_page1", "mmap_page0",
};

static struct vfio_dev dev;
static volatile uint32_t *map1;	/* page 1 */
static volatile uint32_t *map0;	/* page 0, or NULL */
static unsigned long errors;

static inline void do_op(enum op op)
{
	uint32_t v;

	switch (op) {
	case OP_CLOCK:
		break;
	case OP_PREAD0:
		if (vfio_bar_read32(&dev, 0, IVF_STATUS, &v))
			errors++;
		break;
	case OP_MMAP1:
		v = map1[(IVF_EITR(0) - 0x1000) / 4];
		(void)v;
		break;
	case OP_PREAD1:
		if (vfio_bar_read32(&dev, 0, IVF_EITR(0), &v))
			errors++;
		break;
	case OP_MMAP0:
		v = map0[IVF_STATUS / 4];
		(void)v;
		break;
	default:
		break;
	}
}

int main(int argc, char **argv)
{
	const char *bdf = argc > 1 ? argv[1] : env_get("IVF_VF0");
	unsigned int iters = argc > 2 ? strtoul(argv[2], NULL, 0) : 20000;
	unsigned int reps = argc > 3 ? strtoul(argv[3], NULL, 0) : 5;
	double *samples, *med[OP_N];
	char drv[64] = "";
	unsigned int r, i;
	void *p;
	int op, ret;

	if (!bdf || !iters || !reps) {
		fprintf(stderr, "usage: bench_latency [BDF [iterations [repeats]]]\n");
		return KTAP_SKIP;
	}
	sysfs_pci_driver(bdf, drv, sizeof(drv));
	printf("# bench_latency %s driver=%s iterations=%u repeats=%u\n", bdf,
	       drv, iters, reps);
	ret = vfio_dev_open(&dev, bdf);
	if (ret) {
		printf("# open %s: %s\n", bdf, strerror(-ret));
		return KTAP_FAIL;
	}
	vfio_enable_mem_bm(&dev);
	p = vfio_region_mmap(&dev, VFIO_PCI_BAR0_REGION_INDEX, 0x1000, 0x1000);
	if (p == MAP_FAILED) {
		printf("# mmap of page 1 failed: %s\n", strerror(errno));
		return KTAP_FAIL;
	}
	map1 = p;
	p = vfio_region_mmap(&dev, VFIO_PCI_BAR0_REGION_INDEX, 0, 0x1000);
	map0 = p == MAP_FAILED ? NULL : p;
	printf("# mmap of page 0: %s\n", map0 ? "allowed" : strerror(errno));

	samples = calloc(iters, sizeof(*samples));
	for (op = 0; op < OP_N; op++)
		med[op] = calloc(reps, sizeof(double));
	if (!samples)
		return KTAP_FAIL;

	/* warm up: fault the mappings in, touch the code paths */
	for (op = 0; op < OP_N; op++)
		if (op != OP_MMAP0 || map0)
			for (i = 0; i < 100; i++)
				do_op(op);

	for (r = 0; r < reps; r++) {
		for (op = 0; op < OP_N; op++) {
			double sum = 0;

			if (op == OP_MMAP0 && !map0)
				continue;
			for (i = 0; i < iters; i++) {
				uint64_t t0 = now_ns();

				do_op(op);
				samples[i] = now_ns() - t0;
				sum += samples[i];
			}
			med[op][r] = stats_median(samples, iters);
			printf("# repeat %u op=%s median=%.0f min=%.0f max=%.0f mean=%.0f ns\n",
			       r, op_name[op], med[op][r], samples[0],
			       samples[iters - 1], sum / iters);
		}
	}
	for (op = 0; op < OP_N; op++) {
		double lo, hi;

		if (op == OP_MMAP0 && !map0)
			continue;
		lo = stats_min(med[op], reps);
		hi = stats_max(med[op], reps);
		printf("# latency op=%s median=%.0f min=%.0f max=%.0f ns driver=%s\n",
		       op_name[op], stats_median(med[op], reps), lo, hi, drv);
	}
	printf("# errors=%lu\n", errors);
	munmap((void *)map1, 0x1000);
	if (map0)
		munmap((void *)map0, 0x1000);
	vfio_dev_close(&dev);
	for (op = 0; op < OP_N; op++)
		free(med[op]);
	free(samples);
	return errors ? KTAP_FAIL : KTAP_PASS;
}
