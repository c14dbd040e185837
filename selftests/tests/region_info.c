// SPDX-License-Identifier: GPL-2.0
/*
 * region_info: compare VFIO region and irq info of the VF under stock
 * vfio-pci and under igbvf-vfio-pci (same device, same run).  BAR0 must
 * differ only by the sparse-mmap capability covering pages 1-3; BAR3 (the
 * MSI-X table and PBA) only by being read/write without mmap (QEMU then
 * leaves no RAM-device section in it whose dirty bitmap it can't get during
 * migration); everything else must be identical.
 *
 * The fixture binds the VF to vfio-pci, then to the variant driver, and
 * takes what each says; it leaves the VF on the variant driver. Cases:
 *   device_info_identical             flags, number of regions and irqs
 *   short_argsz_gets_full_argsz       BAR0 info with argsz = the struct:
 *                                     succeeds, raises argsz, no cap_offset
 *   argsz_below_minimum_fails         argsz 8: EINVAL
 *   bar0_sparse_mmap_covers_pages_1_to_3
 *   msix_bar_read_write_without_mmap  BAR3: no mmap, no capability, mmap()
 *                                     refused with EINVAL
 *   other_regions_identical
 *   irqs_identical
 *
 * Env: IVF_VF2 (BDF, rebound by this test, left on the variant driver),
 *      IVF_DRIVER (optional, default igbvf-vfio-pci).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "util.h"
#include "vfio.h"

#include "kselftest_harness.h"

#define MAX_REGIONS 16
#define MAX_IRQS 8
/* The 82576 VF's MSI-X BAR: table at 0, PBA at 0x2000. */
#define MSIX_BAR 3
/* two rebinds and a few ioctls; a sanitizer kernel's rebind is slow */
#define CASE_TIMEOUT 120

struct snapshot {
	const char *driver;
	int bind_err, open_err, info_err;
	struct vfio_device_info dev;
	struct vfio_region_info *reg[MAX_REGIONS];
	int reg_err[MAX_REGIONS];
	struct vfio_irq_info irq[MAX_IRQS];
	int irq_err[MAX_IRQS];
	int msix_mmap_err;	/* errno of mmap() of the MSI-X BAR, or 0 */
	/* BAR0 info asked with argsz = sizeof(struct vfio_region_info) */
	bool small_asked;
	int small_ret;
	struct vfio_region_info small;
	/* ... and with argsz = 8 */
	int tiny_ret, tiny_errno;
};

static void take_snapshot(const char *bdf, const char *driver,
			  struct snapshot *s)
{
	struct vfio_region_info tiny = {
		.argsz = 8, .index = VFIO_PCI_BAR0_REGION_INDEX,
	};
	struct vfio_dev d;
	unsigned int i;

	memset(s, 0, sizeof(*s));
	s->driver = driver;
	s->bind_err = sysfs_pci_bind(bdf, driver);
	if (s->bind_err)
		return;
	s->open_err = vfio_dev_open(&d, bdf);
	if (s->open_err)
		return;
	s->dev.argsz = sizeof(s->dev);
	s->info_err = ioctl(d.fd, VFIO_DEVICE_GET_INFO, &s->dev) ? -errno : 0;
	ksft_print_msg("%s: device flags=0x%x num_regions=%u num_irqs=%u\n",
		       driver, s->dev.flags, s->dev.num_regions,
		       s->dev.num_irqs);

	for (i = 0; i < s->dev.num_regions && i < MAX_REGIONS; i++) {
		s->reg_err[i] = vfio_region_info(&d, i, &s->reg[i]);
		if (s->reg_err[i]) {
			ksft_print_msg("%s: region %u: error %s\n", driver, i,
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
		ksft_print_msg("%s: mmap of BAR%u: %s\n", driver, MSIX_BAR,
			       s->msix_mmap_err ?
			       strerror(s->msix_mmap_err) : "mapped");
	}
	for (i = 0; i < s->dev.num_irqs && i < MAX_IRQS; i++) {
		s->irq_err[i] = vfio_irq_info(&d, i, &s->irq[i]);
		if (s->irq_err[i])
			ksft_print_msg("%s: irq %u: error %s\n", driver, i,
				       strerror(-s->irq_err[i]));
		else
			ksft_print_msg("%s: irq %u: flags=0x%x count=%u\n",
				       driver, i, s->irq[i].flags,
				       s->irq[i].count);
	}

	if (s->dev.num_regions > VFIO_PCI_BAR0_REGION_INDEX) {
		s->small_asked = true;
		s->small.argsz = sizeof(s->small);
		s->small.index = VFIO_PCI_BAR0_REGION_INDEX;
		s->small_ret = ioctl(d.fd, VFIO_DEVICE_GET_REGION_INFO,
				     &s->small);
	}
	s->tiny_ret = ioctl(d.fd, VFIO_DEVICE_GET_REGION_INFO, &tiny);
	s->tiny_errno = s->tiny_ret ? errno : 0;
	vfio_dev_close(&d);
}

static void free_snapshot(struct snapshot *s)
{
	unsigned int i;

	for (i = 0; i < MAX_REGIONS; i++)
		free(s->reg[i]);
}

FIXTURE(region_info) {
	const char *bdf, *drv;
	struct snapshot stock, var;
};

FIXTURE_SETUP(region_info)
{
	struct snapshot *s[] = { &self->stock, &self->var };
	unsigned int i;

	self->bdf = env_get("IVF_VF2");
	self->drv = ivf_driver_name();
	if (!self->bdf)
		SKIP(return, "IVF_VF2 is needed");
	take_snapshot(self->bdf, "vfio-pci", &self->stock);
	if (!self->stock.bind_err && !self->stock.open_err)
		take_snapshot(self->bdf, self->drv, &self->var);
	else
		self->var.bind_err = -ECANCELED;
	for (i = 0; i < 2; i++) {
		if (!s[i]->bind_err && !s[i]->open_err)
			continue;
		/* no case runs, the teardown neither: leave the VF as it was */
		sysfs_pci_bind(self->bdf, self->drv);
		ASSERT_EQ(0, s[i]->bind_err)
			TH_LOG("bind %s to %s: %s", self->bdf, s[i]->driver,
			       strerror(-s[i]->bind_err));
		ASSERT_EQ(0, s[i]->open_err)
			TH_LOG("open %s under %s: %s", self->bdf,
			       s[i]->driver, strerror(-s[i]->open_err));
	}
}

FIXTURE_TEARDOWN(region_info)
{
	int ret;

	/* leave the VF on the variant driver */
	ret = sysfs_pci_bind(self->bdf, self->drv);
	EXPECT_EQ(0, ret)
		TH_LOG("final rebind of %s to %s: %s", self->bdf, self->drv,
		       strerror(-ret));
	free_snapshot(&self->stock);
	free_snapshot(&self->var);
}

TEST_F_TIMEOUT(region_info, device_info_identical, CASE_TIMEOUT)
{
	struct snapshot *a = &self->stock, *b = &self->var;

	EXPECT_EQ(0, a->info_err) TH_LOG("vfio-pci: VFIO_DEVICE_GET_INFO");
	EXPECT_EQ(0, b->info_err) TH_LOG("%s: VFIO_DEVICE_GET_INFO", b->driver);
	EXPECT_TRUE(a->dev.num_regions == b->dev.num_regions &&
		    a->dev.num_irqs == b->dev.num_irqs &&
		    a->dev.flags == b->dev.flags)
		TH_LOG("device info must be identical (flags, num_regions, num_irqs)");
}

/* argsz too small: must succeed, raise argsz, no cap_offset */
TEST_F_TIMEOUT(region_info, short_argsz_gets_full_argsz, CASE_TIMEOUT)
{
	struct snapshot *snaps[] = { &self->stock, &self->var };
	unsigned int i;

	for (i = 0; i < 2; i++) {
		const struct snapshot *s = snaps[i];
		const struct vfio_region_info *small = &s->small;

		if (!s->small_asked)
			continue;
		TH_LOG("%s: BAR0 info with argsz=%zu: ret=%d argsz=%u (full %u) cap_offset=%u flags=0x%x",
		       s->driver, sizeof(*small), s->small_ret, small->argsz,
		       s->reg[0] ? s->reg[0]->argsz : 0, small->cap_offset,
		       small->flags);
		if (s->reg[0] && (s->reg[0]->flags & VFIO_REGION_INFO_FLAG_CAPS)) {
			EXPECT_TRUE(!s->small_ret &&
				    small->argsz == s->reg[0]->argsz &&
				    small->argsz > sizeof(*small) &&
				    small->cap_offset == 0 &&
				    (small->flags & VFIO_REGION_INFO_FLAG_CAPS));
		} else {
			EXPECT_TRUE(!s->small_ret &&
				    small->argsz == sizeof(*small));
		}
	}
}

/* argsz below the minimum must fail */
TEST_F_TIMEOUT(region_info, argsz_below_minimum_fails, CASE_TIMEOUT)
{
	struct snapshot *snaps[] = { &self->stock, &self->var };
	unsigned int i;

	for (i = 0; i < 2; i++) {
		EXPECT_TRUE(snaps[i]->tiny_ret && snaps[i]->tiny_errno == EINVAL)
			TH_LOG("%s: region info with argsz=8 must fail with EINVAL (ret %d, %s)",
			       snaps[i]->driver, snaps[i]->tiny_ret,
			       strerror(snaps[i]->tiny_errno));
	}
}

TEST_F_TIMEOUT(region_info, bar0_sparse_mmap_covers_pages_1_to_3,
	       CASE_TIMEOUT)
{
	const struct vfio_region_info *stock, *var;
	const uint32_t want = VFIO_REGION_INFO_FLAG_READ |
			      VFIO_REGION_INFO_FLAG_WRITE |
			      VFIO_REGION_INFO_FLAG_MMAP |
			      VFIO_REGION_INFO_FLAG_CAPS;
	const struct vfio_region_info_cap_sparse_mmap *sp;
	const struct vfio_info_cap_header *h;
	uint64_t covered = 0x1000;
	unsigned int i;
	bool ok = true;

	stock = self->stock.reg[VFIO_PCI_BAR0_REGION_INDEX];
	var = self->var.reg[VFIO_PCI_BAR0_REGION_INDEX];
	ASSERT_TRUE(stock && var)
		TH_LOG("BAR0 region info must be available under both");
	EXPECT_EQ(want, var->flags)
		TH_LOG("BAR0 flags must be READ|WRITE|MMAP|CAPS");
	TH_LOG("BAR0 0x%llx@0x%llx, vfio-pci 0x%llx@0x%llx",
	       (unsigned long long)var->size,
	       (unsigned long long)var->offset,
	       (unsigned long long)stock->size,
	       (unsigned long long)stock->offset);
	EXPECT_TRUE(var->size == stock->size && var->offset == stock->offset);

	h = vfio_region_cap_find(var, VFIO_REGION_INFO_CAP_SPARSE_MMAP);
	ASSERT_NE(NULL, h)
		TH_LOG("BAR0 must have VFIO_REGION_INFO_CAP_SPARSE_MMAP");
	EXPECT_EQ(1, h->version) TH_LOG("sparse mmap cap version");
	sp = (const void *)h;
	ASSERT_LE((const char *)&sp->areas[sp->nr_areas],
		  (const char *)var + var->argsz)
		TH_LOG("sparse mmap areas must fit inside argsz");
	/* areas must tile 0x1000..0x4000 exactly (in order, no overlap) */
	for (i = 0; i < sp->nr_areas; i++) {
		if (sp->areas[i].offset != covered || !sp->areas[i].size)
			ok = false;
		covered = sp->areas[i].offset + sp->areas[i].size;
	}
	TH_LOG("%u sparse areas, tiled up to 0x%llx", sp->nr_areas,
	       (unsigned long long)covered);
	EXPECT_TRUE(ok && sp->nr_areas && covered == 0x4000)
		TH_LOG("sparse areas must cover exactly 0x1000..0x4000");
}

TEST_F_TIMEOUT(region_info, msix_bar_read_write_without_mmap, CASE_TIMEOUT)
{
	const struct vfio_region_info *a = self->stock.reg[MSIX_BAR];
	const struct vfio_region_info *b = self->var.reg[MSIX_BAR];
	const uint32_t want = VFIO_REGION_INFO_FLAG_READ |
			      VFIO_REGION_INFO_FLAG_WRITE;

	/* a region error is other_regions_identical's to judge */
	ASSERT_TRUE(a && b) TH_LOG("BAR%u region info under both", MSIX_BAR);
	ksft_print_msg("vfio-pci: BAR%u flags 0x%x, MSIX_MAPPABLE %s\n",
		       MSIX_BAR, a->flags,
		       vfio_region_cap_find(a, VFIO_REGION_INFO_CAP_MSIX_MAPPABLE) ?
		       "yes" : "no");
	TH_LOG("BAR%u: flags 0x%x cap_offset %u argsz %u", MSIX_BAR, b->flags,
	       b->cap_offset, b->argsz);
	EXPECT_TRUE(b->flags == want && b->cap_offset == 0 &&
		    b->argsz == sizeof(*b))
		TH_LOG("BAR%u (MSI-X) must be READ|WRITE only, no mmap, no capability",
		       MSIX_BAR);
	EXPECT_TRUE(a->size == b->size && a->offset == b->offset)
		TH_LOG("BAR%u size/offset must match vfio-pci (0x%llx@0x%llx)",
		       MSIX_BAR, (unsigned long long)b->size,
		       (unsigned long long)b->offset);
	TH_LOG("mmap of BAR%u: %s; vfio-pci: %s", MSIX_BAR,
	       strerror(self->var.msix_mmap_err),
	       self->stock.msix_mmap_err ?
	       strerror(self->stock.msix_mmap_err) : "mapped");
	EXPECT_EQ(EINVAL, self->var.msix_mmap_err);
}

/* BAR0 and the MSI-X BAR have cases of their own */
TEST_F_TIMEOUT(region_info, other_regions_identical, CASE_TIMEOUT)
{
	struct snapshot *stock = &self->stock, *var = &self->var;
	unsigned int i, n;

	n = stock->dev.num_regions < MAX_REGIONS ? stock->dev.num_regions :
		MAX_REGIONS;
	for (i = 1; i < n; i++) {
		const struct vfio_region_info *a = stock->reg[i], *b = var->reg[i];

		if (stock->reg_err[i] || var->reg_err[i]) {
			EXPECT_EQ(stock->reg_err[i], var->reg_err[i])
				TH_LOG("region %u: same error", i);
			continue;
		}
		if (i == MSIX_BAR)
			continue;
		EXPECT_TRUE(a->argsz == b->argsz && !memcmp(a, b, a->argsz))
			TH_LOG("region %u info must be identical (flags 0x%x/0x%x size 0x%llx/0x%llx argsz %u/%u)",
			       i, a->flags, b->flags,
			       (unsigned long long)a->size,
			       (unsigned long long)b->size, a->argsz,
			       b->argsz);
	}
}

TEST_F_TIMEOUT(region_info, irqs_identical, CASE_TIMEOUT)
{
	struct snapshot *stock = &self->stock, *var = &self->var;
	unsigned int i, n;

	n = stock->dev.num_irqs < MAX_IRQS ? stock->dev.num_irqs : MAX_IRQS;
	for (i = 0; i < n; i++) {
		EXPECT_TRUE(stock->irq_err[i] == var->irq_err[i] &&
			    !memcmp(&stock->irq[i], &var->irq[i],
				    sizeof(stock->irq[i])))
			TH_LOG("irq %u info must be identical (flags 0x%x/0x%x count %u/%u)",
			       i, stock->irq[i].flags, var->irq[i].flags,
			       stock->irq[i].count, var->irq[i].count);
	}
}

TEST_HARNESS_MAIN
