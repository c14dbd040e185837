/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * igbvf-vfio-pci dirty tracking: DMA logging (dirty_log.c). Kbuild builds
 * dirty_log.c and defines IVF_HAVE_DMA_LOGGING only for a kernel with
 * CONFIG_IOMMUFD_DRIVER (iova_bitmap); elsewhere no log_ops are registered,
 * logging never starts and these do nothing.
 */
#ifndef IVF_DIRTY_LOG_H
#define IVF_DIRTY_LOG_H

#include <linux/types.h>

struct ivf_device;
struct ivf_dirty;
struct ivf_span;

/* DMA logging: pages recorded between two reports (64 MiB of IOVA). */
#define IVF_LOG_MAX_PAGES	16384

/* A range given at DMA logging start; all: report it whole next time. */
struct ivf_log_range {
	u64 first, last;
	bool all;
};

#ifdef IVF_HAVE_DMA_LOGGING
void ivf_dirty_log_init(struct ivf_device *ivf);
void ivf_log_clear(struct ivf_dirty *d);
void ivf_log_mark(struct ivf_dirty *d, const struct ivf_span *s);
#else
static inline void ivf_dirty_log_init(struct ivf_device *ivf)
{
}

static inline void ivf_log_clear(struct ivf_dirty *d)
{
}

static inline void ivf_log_mark(struct ivf_dirty *d, const struct ivf_span *s)
{
}
#endif

#endif /* IVF_DIRTY_LOG_H */
