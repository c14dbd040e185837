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
 * Usage: bench_latency [--compare] [BDF [iterations [repeats]]]
 *   BDF defaults to IVF_VF0.  --compare rebinds the VF and alternates stock
 *   vfio-pci and the variant (IVF_DRIVER) repeat by repeat; the VF is left
 *   on the variant.
 * Output per repeat: "# repeat R op=OP median=.. min=.. max=.. mean=.. ns"
 * Summary per op and driver: "# latency op=OP median=M min=A max=B ns driver=D"
 *   (median/min/max of the per-repeat medians); with --compare, per op,
 *   "# latency-ratio op=OP variant/vfio-pci median=R min=A max=B" over the
 *   repeats' pairs (each vfio-pci repeat and the variant's after it)
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

/* one repeat under the current driver: per-op median into med[op][r] */
static int measure(const char *bdf, unsigned int iters, double *samples,
		   double **med, unsigned int r, bool *have_map0)
{
	const char *drv_name;
	char drv[64] = "";
	int op, ret;
	unsigned int i;
	void *p;

	sysfs_pci_driver(bdf, drv, sizeof(drv));
	drv_name = drv;
	ret = vfio_dev_open(&dev, bdf);
	if (ret) {
		printf("# open %s: %s\n", bdf, strerror(-ret));
		return ret;
	}
	vfio_enable_mem_bm(&dev);
	p = vfio_region_mmap(&dev, VFIO_PCI_BAR0_REGION_INDEX, 0x1000, 0x1000);
	if (p == MAP_FAILED) {
		ret = -errno;
		printf("# mmap of page 1 failed: %s\n", strerror(errno));
		vfio_dev_close(&dev);
		return ret;
	}
	map1 = p;
	p = vfio_region_mmap(&dev, VFIO_PCI_BAR0_REGION_INDEX, 0, 0x1000);
	map0 = p == MAP_FAILED ? NULL : p;
	*have_map0 = map0 != NULL;
	if (!r)
		printf("# %s: mmap of page 0: %s\n", drv_name,
		       map0 ? "allowed" : strerror(errno));

	/* warm up: fault the mappings in, touch the code paths */
	for (op = 0; op < OP_N; op++)
		if (op != OP_MMAP0 || map0)
			for (i = 0; i < 100; i++)
				do_op(op);

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
		printf("# repeat %u op=%s median=%.0f min=%.0f max=%.0f mean=%.0f ns driver=%s\n",
		       r, op_name[op], med[op][r], samples[0],
		       samples[iters - 1], sum / iters, drv_name);
	}
	munmap((void *)map1, 0x1000);
	if (map0)
		munmap((void *)map0, 0x1000);
	map0 = NULL;
	vfio_dev_close(&dev);
	return 0;
}

static void summary(double **med, unsigned int reps, const char *drv,
		    bool have_map0)
{
	int op;

	for (op = 0; op < OP_N; op++) {
		if (op == OP_MMAP0 && !have_map0)
			continue;
		printf("# latency op=%s median=%.0f min=%.0f max=%.0f ns driver=%s\n",
		       op_name[op], stats_median(med[op], reps),
		       stats_min(med[op], reps), stats_max(med[op], reps), drv);
	}
}

/*
 * Per op, the variant's per-repeat median over vfio-pci's, pair by pair:
 * their median, min and max in rs[op]. Before summary(), which sorts med[].
 */
static int pair_ratios(double **med, double **med2, unsigned int reps,
		       double rs[OP_N][3])
{
	double *r = calloc(reps, sizeof(*r));
	unsigned int i;
	int op;

	if (!r)
		return -1;
	for (op = 0; op < OP_N; op++) {
		for (i = 0; i < reps; i++)
			r[i] = med[op][i] > 0 ? med2[op][i] / med[op][i] : 0;
		rs[op][1] = stats_min(r, reps);
		rs[op][2] = stats_max(r, reps);
		rs[op][0] = stats_median(r, reps);
	}
	free(r);
	return 0;
}

int main(int argc, char **argv)
{
	const char *variant = ivf_driver_name();
	const char *bdf = env_get("IVF_VF0");
	unsigned int iters = 20000, reps = 5, r;
	double *samples, *med[OP_N], *med2[OP_N], rs[OP_N][3];
	bool compare = false, map0a = false, map0b = false;
	char drv[64] = "";
	int op, pos = 0, i, rc = KTAP_PASS;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--compare"))
			compare = true;
		else if (pos == 0 && ++pos)
			bdf = argv[i];
		else if (pos == 1 && ++pos)
			iters = strtoul(argv[i], NULL, 0);
		else if (pos == 2 && ++pos)
			reps = strtoul(argv[i], NULL, 0);
	}
	if (!bdf || !iters || !reps) {
		fprintf(stderr, "usage: bench_latency [--compare] [BDF [iterations [repeats]]]\n");
		return KTAP_SKIP;
	}
	sysfs_pci_driver(bdf, drv, sizeof(drv));
	printf("# bench_latency %s driver=%s iterations=%u repeats=%u\n", bdf,
	       compare ? "vfio-pci+variant" : drv, iters, reps);
	samples = calloc(iters, sizeof(*samples));
	if (!samples)
		return KTAP_FAIL;
	for (op = 0; op < OP_N; op++) {
		med[op] = calloc(reps, sizeof(double));
		med2[op] = calloc(reps, sizeof(double));
		if (!med[op] || !med2[op])
			return KTAP_FAIL;
	}

	for (r = 0; r < reps; r++) {
		if (compare && sysfs_pci_bind(bdf, "vfio-pci")) {
			rc = KTAP_FAIL;
			break;
		}
		if (measure(bdf, iters, samples, med, r, &map0a)) {
			rc = KTAP_FAIL;
			break;
		}
		if (!compare)
			continue;
		if (sysfs_pci_bind(bdf, variant) ||
		    measure(bdf, iters, samples, med2, r, &map0b)) {
			rc = KTAP_FAIL;
			break;
		}
	}
	if (compare)
		sysfs_pci_bind(bdf, variant);
	if (rc == KTAP_PASS && compare && pair_ratios(med, med2, reps, rs))
		rc = KTAP_FAIL;
	if (rc == KTAP_PASS) {
		summary(med, reps, compare ? "vfio-pci" : drv, map0a);
		if (compare)
			summary(med2, reps, variant, map0b);
		for (op = 0; compare && op < OP_N; op++) {
			if (op == OP_CLOCK || (op == OP_MMAP0 && !(map0a && map0b)))
				continue;
			printf("# latency-ratio op=%s variant/vfio-pci median=%.3f min=%.3f max=%.3f\n",
			       op_name[op], rs[op][0], rs[op][1], rs[op][2]);
		}
	}
	printf("# errors=%lu\n", errors);
	for (op = 0; op < OP_N; op++) {
		free(med[op]);
		free(med2[op]);
	}
	free(samples);
	return errors || rc ? KTAP_FAIL : KTAP_PASS;
}
