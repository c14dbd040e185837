/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Dirty page tracking from the VMM's side, for the dirty tracking tests:
 *
 * - the type1 container's VFIO_IOMMU_DIRTY_PAGES (START, STOP, GET_BITMAP),
 *   always with 4 KiB pages; or, when the device was opened with
 *   d->dirty_log (its backend's choice: backends.h), the same calls through
 *   the device's DMA logging (VFIO_DEVICE_FEATURE_DMA_LOGGING_*) over the
 *   span of what the library mapped;
 * - page bitmaps over one IOVA span;
 * - "guest memory" (struct dmem): the DMA regions of a test, with snapshots
 *   and a page-by-page diff against the previous snapshot;
 * - the driver's dirty tracker state from debugfs and its module parameters.
 */
#ifndef IVF_DIRTY_H
#define IVF_DIRTY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vfio.h"

#define DIRTY_PGSIZE	4096ull
#define DIRTY_PGSHIFT	12

/* ----------------------------------------------------------- DMA logging */

/* VFIO_DEVICE_FEATURE_DMA_LOGGING_* ioctls as they are; 0 or -errno */
int dirty_log_probe(struct vfio_dev *d);
/* @page_size in: asked, out: what the driver took */
int dirty_log_start(struct vfio_dev *d,
		    const struct vfio_device_feature_dma_logging_range *r,
		    uint32_t n, uint64_t *page_size);
int dirty_log_stop(struct vfio_dev *d);
/* @bm: length / page_size bits, not zeroed here */
int dirty_log_report(struct vfio_dev *d, uint64_t iova, uint64_t length,
		     uint64_t page_size, uint64_t *bm);
/* lowest to highest IOVA the library mapped for @d; 0 or -ENOENT */
int dirty_log_span(const struct vfio_dev *d,
		   struct vfio_device_feature_dma_logging_range *r);

/* ------------------------------------------ container (or DMA logging) */

/*
 * VFIO_IOMMU_GET_INFO migration capability: page sizes the dirty bitmap
 * supports and its largest size in bytes; 0, -ENOENT without the
 * capability, or -errno
 */
int dirty_caps(struct vfio_dev *d, uint64_t *pgsizes, uint64_t *max_bitmap);
int dirty_start(struct vfio_dev *d);
int dirty_stop(struct vfio_dev *d);
/*
 * GET_BITMAP of [iova, iova + size) with 4 KiB pages into @bm (zeroed here
 * first, as type1 wants: it ORs into a partial first word). @bm holds
 * dirty_bm_words(size) words. The range must not bisect a mapping.
 */
int dirty_get(struct vfio_dev *d, uint64_t iova, uint64_t size, uint64_t *bm);
/* unmap exactly [iova, iova + size) (container or IOAS); 0 or -errno */
int dirty_unmap(struct vfio_dev *d, uint64_t iova, uint64_t size);

/* ---------------------------------------------------------------- bitmaps */

static inline size_t dirty_bm_words(uint64_t size)
{
	uint64_t pages = size >> DIRTY_PGSHIFT;

	return (pages + 63) / 64;
}

static inline bool bm_test(const uint64_t *bm, size_t i)
{
	return bm[i / 64] >> (i % 64) & 1;
}

static inline void bm_set(uint64_t *bm, size_t i)
{
	bm[i / 64] |= 1ull << (i % 64);
}

static inline void bm_clear(uint64_t *bm, size_t i)
{
	bm[i / 64] &= ~(1ull << (i % 64));
}

size_t bm_count(const uint64_t *bm, size_t nbits);
/* pages set in @a and not in @b */
size_t bm_count_andnot(const uint64_t *a, const uint64_t *b, size_t nbits);

/* ---------------------------------------------------------- guest memory */

enum dmem_kind {
	DMEM_DEV,	/* the device may write it: every change must be reported */
	DMEM_CPU,	/* only the CPU writes it (TX buffers): not the device's */
	DMEM_IDLE,	/* nobody writes it: must neither change nor be reported */
};

#define DMEM_MAX_REGIONS 16

struct dmem_region {
	char name[24];
	uint8_t *vaddr;		/* where the memory is now */
	uint64_t iova;
	size_t size;		/* multiple of 4 KiB */
	enum dmem_kind kind;
	uint8_t *snap;		/* last snapshot, or NULL */
};

struct dmem {
	struct dmem_region r[DMEM_MAX_REGIONS];
	int n;
	uint64_t lo, hi;	/* IOVA span of all regions */
	size_t npages;		/* (hi - lo) / 4 KiB */
	uint64_t *mapped;	/* pages of the span inside a region */
};

/* add a region (page aligned); 0 or -errno */
int dmem_add(struct dmem *m, const char *name, void *vaddr, uint64_t iova,
	     size_t size, enum dmem_kind kind);
/* after the last dmem_add: span, mapped bitmap, snapshot buffers */
int dmem_finish(struct dmem *m, bool snapshots);
void dmem_free(struct dmem *m);
size_t dmem_words(const struct dmem *m);
/* the region holding page @pg of the span (index from m->lo), or NULL */
const struct dmem_region *dmem_region_of(const struct dmem *m, size_t pg);
/* the region holding [iova, iova + len), or NULL */
const struct dmem_region *dmem_find(const struct dmem *m, uint64_t iova,
				    size_t len);
/* vaddr of [iova, iova + len) or NULL if not inside one region */
void *dmem_va(const struct dmem *m, uint64_t iova, size_t len);
/* span page of an IOVA */
static inline size_t dmem_pg(const struct dmem *m, uint64_t iova)
{
	return (iova - m->lo) >> DIRTY_PGSHIFT;
}
/* pages of the span with the regions of @kind set in @bm (ORed in) */
void dmem_mark_kind(const struct dmem *m, enum dmem_kind kind, uint64_t *bm);
/* pages of [iova, iova + len) set in @bm */
void dmem_mark_range(const struct dmem *m, uint64_t iova, size_t len,
		     uint64_t *bm);
/* fill a region with a canary that depends on the address and @seed */
void dmem_fill(struct dmem_region *r, uint32_t seed);
/*
 * Compare memory with the last snapshot page by page: set each changed
 * page in @changed (zeroed here; may be NULL), copy it into the snapshot.
 * Returns the number of changed pages.
 */
size_t dmem_snap_diff(struct dmem *m, uint64_t *changed);
/* take a snapshot without comparing */
void dmem_snap(struct dmem *m);
/*
 * GET_BITMAP of every region on its own (as QEMU asks per memory section),
 * assembled into @bm over the span (zeroed here). One GET over several
 * mappings that are not 64-page aligned to the range's start makes 6.12's
 * type1 shift stale bits past a mapping's end into the next report: they
 * show up as pages outside any mapping.
 */
int dirty_get_dmem(struct vfio_dev *d, const struct dmem *m, uint64_t *bm);

/* ----------------------------------------------------- driver (debugfs) */

/*
 * Value of "KEY N" in /sys/kernel/debug/igbvf-vfio-pci/BDF/FILE; 0,
 * -ENOENT if the file or the key is missing, or -errno
 */
int ivf_dbg_u64(const char *bdf, const char *file, const char *key,
		uint64_t *val);
/* the whole file into @buf ("" on error); 0 or -errno */
int ivf_dbg_read(const char *bdf, const char *file, char *buf, size_t len);
/* debugfs pf_config's PF configuration lines, each followed by @sep */
int ivf_pf_config_lines(const char *bdf, char *buf, size_t len,
			const char *sep);
/* /sys/module/igbvf_vfio_pci/parameters/NAME; 0 or -errno */
int ivf_param_get(const char *name, uint64_t *val);
int ivf_param_set(const char *name, uint64_t val);

/* count of allocations live in slab caches whose stack passes through
 * [igbvf_vfio_pci] (needs slub_debug=U); -errno if unavailable,
 * -EOPNOTSUPP on a KASAN kernel (its quarantine holds freed objects) */
long ivf_slab_live(void);

#endif /* IVF_DIRTY_H */
