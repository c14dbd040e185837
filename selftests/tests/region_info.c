// SPDX-License-Identifier: GPL-2.0
/*
 * region_info: compare VFIO region and irq info of the VF under stock
 * vfio-pci and under igbvf-vfio-pci (same device, same run).  BAR0 must
 * differ only by the sparse-mmap capability covering pages 1-3; BAR3 (the
 * MSI-X table and PBA) only by being read/write without mmap (QEMU then
 * leaves no RAM-device section in it whose dirty bitmap it can't get during
 * migration); everything else must be identical.
 *
 * Env: IVF_VF2 (BDF, rebound by this test, left on the variant driver),
 *      IVF_DRIVER (optional, default igbvf-vfio-pci).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "ktap.h"
#include "util.h"
#include "vfio.h"

KTAP_DEFINE_STATE();

#define MAX_REGIONS 16
#define MAX_IRQS 8
/* The 82576 VF's MSI-X BAR: table at 0, PBA at 0x2000. */
#define MSIX_BAR 3

struct snapshot {
	struct vfio_device_info dev;
	struct vfio_region_info *reg[MAX_REGIONS];
	int reg_err[MAX_REGIONS];
	struct vfio_irq_info irq[MAX_IRQS];
	int irq_err[MAX_IRQS];
	int msix_mmap_err;	/* errno of mmap() of the MSI-X BAR, or 0 */
};

static int take_snapshot(const char *bdf, const char *driver,
			 struct snapshot *s)
{
	struct vfio_dev d;
	unsigned int i;
	int ret;

	memset(s, 0, sizeof(*s));
	ret = sysfs_pci_bind(bdf, driver);
	if (!ktap_check(!ret, "bind %s to %s", bdf, driver)) {
		ktap_info("bind: %s", strerror(-ret));
		return ret;
	}
	ret = vfio_dev_open(&d, bdf);
	if (!ktap_check(!ret, "open %s under %s", bdf, driver)) {
		ktap_info("open: %s", strerror(-ret));
		return ret;
	}
	s->dev.argsz = sizeof(s->dev);
	ret = ioctl(d.fd, VFIO_DEVICE_GET_INFO, &s->dev) ? -errno : 0;
	ktap_check(!ret, "%s: VFIO_DEVICE_GET_INFO", driver);
	ktap_info("%s: device flags=0x%x num_regions=%u num_irqs=%u", driver,
		  s->dev.flags, s->dev.num_regions, s->dev.num_irqs);

	for (i = 0; i < s->dev.num_regions && i < MAX_REGIONS; i++) {
		s->reg_err[i] = vfio_region_info(&d, i, &s->reg[i]);
		if (s->reg_err[i]) {
			ktap_info("%s: region %u: error %s", driver, i,
				  strerror(-s->reg_err[i]));
			continue;
		}
		vfio_region_info_dump(s->reg[i], driver[0] == 'v' ?
				      "vfio-pci: " : "variant: ");
	}
	if (s->reg[MSIX_BAR] && s->reg[MSIX_BAR]->size) {
		void *p = mmap(NULL, s->reg[MSIX_BAR]->size, PROT_READ,
			       MAP_SHARED, d.fd, s->reg[MSIX_BAR]->offset);

		s->msix_mmap_err = p == MAP_FAILED ? errno : 0;
		if (p != MAP_FAILED)
			munmap(p, s->reg[MSIX_BAR]->size);
		ktap_info("%s: mmap of BAR%u: %s", driver, MSIX_BAR,
			  s->msix_mmap_err ? strerror(s->msix_mmap_err) : "mapped");
	}
	for (i = 0; i < s->dev.num_irqs && i < MAX_IRQS; i++) {
		s->irq_err[i] = vfio_irq_info(&d, i, &s->irq[i]);
		if (s->irq_err[i])
			ktap_info("%s: irq %u: error %s", driver, i,
				  strerror(-s->irq_err[i]));
		else
			ktap_info("%s: irq %u: flags=0x%x count=%u", driver, i,
				  s->irq[i].flags, s->irq[i].count);
	}

	/* argsz too small: must succeed, raise argsz, no cap_offset */
	if (s->dev.num_regions > VFIO_PCI_BAR0_REGION_INDEX) {
		struct vfio_region_info small = {
			.argsz = sizeof(small),
			.index = VFIO_PCI_BAR0_REGION_INDEX,
		};

		ret = ioctl(d.fd, VFIO_DEVICE_GET_REGION_INFO, &small);
		if (s->reg[0] && (s->reg[0]->flags & VFIO_REGION_INFO_FLAG_CAPS)) {
			ktap_check(!ret && small.argsz == s->reg[0]->argsz &&
				   small.argsz > sizeof(small) &&
				   small.cap_offset == 0 &&
				   (small.flags & VFIO_REGION_INFO_FLAG_CAPS),
				   "%s: BAR0 info with argsz=%zu: ret=%d argsz=%u (full %u) cap_offset=%u flags=0x%x",
				   driver, sizeof(small), ret, small.argsz,
				   s->reg[0]->argsz, small.cap_offset,
				   small.flags);
		} else {
			ktap_check(!ret && small.argsz == sizeof(small),
				   "%s: BAR0 info without caps: ret=%d argsz=%u",
				   driver, ret, small.argsz);
		}
	}
	/* argsz below the minimum must fail */
	{
		struct vfio_region_info tiny = {
			.argsz = 8, .index = VFIO_PCI_BAR0_REGION_INDEX,
		};

		ret = ioctl(d.fd, VFIO_DEVICE_GET_REGION_INFO, &tiny);
		ktap_check(ret && errno == EINVAL,
			   "%s: region info with argsz=8 fails with EINVAL",
			   driver);
	}
	vfio_dev_close(&d);
	return 0;
}

static void check_bar0(const struct vfio_region_info *stock,
		       const struct vfio_region_info *var)
{
	const uint32_t want = VFIO_REGION_INFO_FLAG_READ |
			      VFIO_REGION_INFO_FLAG_WRITE |
			      VFIO_REGION_INFO_FLAG_MMAP |
			      VFIO_REGION_INFO_FLAG_CAPS;
	const struct vfio_region_info_cap_sparse_mmap *sp;
	const struct vfio_info_cap_header *h;
	uint64_t covered = 0x1000;
	unsigned int i;
	bool ok = true;

	ktap_check(var->flags == want, "BAR0 flags 0x%x == READ|WRITE|MMAP|CAPS (0x%x)",
		   var->flags, want);
	ktap_check(var->size == stock->size && var->offset == stock->offset,
		   "BAR0 size/offset match vfio-pci (0x%llx@0x%llx vs 0x%llx@0x%llx)",
		   (unsigned long long)var->size,
		   (unsigned long long)var->offset,
		   (unsigned long long)stock->size,
		   (unsigned long long)stock->offset);

	h = vfio_region_cap_find(var, VFIO_REGION_INFO_CAP_SPARSE_MMAP);
	if (!ktap_check(h != NULL, "BAR0 has VFIO_REGION_INFO_CAP_SPARSE_MMAP"))
		return;
	ktap_check(h->version == 1, "sparse mmap cap version %u == 1",
		   h->version);
	sp = (const void *)h;
	if ((const char *)&sp->areas[sp->nr_areas] >
	    (const char *)var + var->argsz) {
		ktap_check(false, "sparse mmap areas fit inside argsz");
		return;
	}
	/* areas must tile 0x1000..0x4000 exactly (in order, no overlap) */
	for (i = 0; i < sp->nr_areas; i++) {
		if (sp->areas[i].offset != covered || !sp->areas[i].size)
			ok = false;
		covered = sp->areas[i].offset + sp->areas[i].size;
	}
	ktap_check(ok && sp->nr_areas && covered == 0x4000,
		   "sparse areas (%u) cover exactly 0x1000..0x4000",
		   sp->nr_areas);
}

static void check_msix_bar(const struct snapshot *stock,
			   const struct snapshot *var)
{
	const struct vfio_region_info *a = stock->reg[MSIX_BAR];
	const struct vfio_region_info *b = var->reg[MSIX_BAR];
	const uint32_t want = VFIO_REGION_INFO_FLAG_READ |
			      VFIO_REGION_INFO_FLAG_WRITE;

	ktap_info("vfio-pci: BAR%u flags 0x%x, MSIX_MAPPABLE %s", MSIX_BAR,
		  a->flags,
		  vfio_region_cap_find(a, VFIO_REGION_INFO_CAP_MSIX_MAPPABLE) ?
		  "yes" : "no");
	ktap_check(b->flags == want && b->cap_offset == 0 &&
		   b->argsz == sizeof(*b),
		   "BAR%u (MSI-X) is READ|WRITE only, no mmap, no capability (flags 0x%x cap_offset %u argsz %u)",
		   MSIX_BAR, b->flags, b->cap_offset, b->argsz);
	ktap_check(a->size == b->size && a->offset == b->offset,
		   "BAR%u size/offset match vfio-pci (0x%llx@0x%llx)", MSIX_BAR,
		   (unsigned long long)b->size, (unsigned long long)b->offset);
	ktap_check(var->msix_mmap_err == EINVAL,
		   "mmap of BAR%u refused with EINVAL (%s; vfio-pci: %s)",
		   MSIX_BAR, strerror(var->msix_mmap_err),
		   stock->msix_mmap_err ? strerror(stock->msix_mmap_err) :
		   "mapped");
}

int main(void)
{
	const char *bdf = env_need("IVF_VF2");
	const char *drv = ivf_driver_name();
	struct snapshot *stock, *var;
	unsigned int i, n;

	ktap_header("region_info: vfio-pci vs variant region/irq info");
	stock = calloc(1, sizeof(*stock));
	var = calloc(1, sizeof(*var));
	if (!stock || !var)
		return KTAP_FAIL;

	if (take_snapshot(bdf, "vfio-pci", stock))
		goto out;
	if (take_snapshot(bdf, drv, var))
		goto out;

	ktap_check(stock->dev.num_regions == var->dev.num_regions &&
		   stock->dev.num_irqs == var->dev.num_irqs &&
		   stock->dev.flags == var->dev.flags,
		   "device info identical (flags, num_regions, num_irqs)");

	if (stock->reg[VFIO_PCI_BAR0_REGION_INDEX] &&
	    var->reg[VFIO_PCI_BAR0_REGION_INDEX])
		check_bar0(stock->reg[VFIO_PCI_BAR0_REGION_INDEX],
			   var->reg[VFIO_PCI_BAR0_REGION_INDEX]);
	else
		ktap_check(false, "BAR0 region info available under both");

	n = stock->dev.num_regions < MAX_REGIONS ? stock->dev.num_regions :
		MAX_REGIONS;
	for (i = 1; i < n; i++) {
		const struct vfio_region_info *a = stock->reg[i], *b = var->reg[i];
		bool same;

		if (stock->reg_err[i] || var->reg_err[i]) {
			ktap_check(stock->reg_err[i] == var->reg_err[i],
				   "region %u: same error (%d vs %d)", i,
				   stock->reg_err[i], var->reg_err[i]);
			continue;
		}
		if (i == MSIX_BAR) {
			check_msix_bar(stock, var);
			continue;
		}
		same = a->argsz == b->argsz && !memcmp(a, b, a->argsz);
		ktap_check(same, "region %u info identical (flags 0x%x/0x%x size 0x%llx/0x%llx argsz %u/%u)",
			   i, a->flags, b->flags, (unsigned long long)a->size,
			   (unsigned long long)b->size, a->argsz, b->argsz);
	}
	n = stock->dev.num_irqs < MAX_IRQS ? stock->dev.num_irqs : MAX_IRQS;
	for (i = 0; i < n; i++)
		ktap_check(stock->irq_err[i] == var->irq_err[i] &&
			   !memcmp(&stock->irq[i], &var->irq[i],
				   sizeof(stock->irq[i])),
			   "irq %u info identical (flags 0x%x/0x%x count %u/%u)",
			   i, stock->irq[i].flags, var->irq[i].flags,
			   stock->irq[i].count, var->irq[i].count);
out:
	/* leave the VF on the variant driver */
	if (sysfs_pci_bind(bdf, drv))
		ktap_check(false, "final rebind of %s to %s", bdf, drv);
	for (i = 0; i < MAX_REGIONS; i++) {
		free(stock->reg[i]);
		free(var->reg[i]);
	}
	free(stock);
	free(var);
	ktap_finish();
}
