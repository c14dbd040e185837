/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * igbvf-vfio-pci dirty tracking: the tracker's state, and what its parts
 * (dirty_model.c, dirty_pulse.c, dirty_shadow.c, dirty_poll.c, dirty_log.c)
 * call of its lifecycle (dirty.c). The driver's entry points are in ivf.h.
 */
#ifndef IVF_DIRTY_H
#define IVF_DIRTY_H

#include <linux/atomic.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/wait.h>
#include <linux/xarray.h>

#include "ivf_regs.h"
#include "dirty_log.h"
#include "dirty_model.h"
#include "dirty_pulse.h"

struct ivf_device;

/* The tracker's counters (debugfs); zeroed when tracking starts. */
struct ivf_dirty_stats {
	u64 polls, tails, pin_failures;
	u64 held_tails;			/* polls that held a tail back */
	u64 rx_starved;			/* polls that found a ring starved by us */
	u64 pulses, pulse_deferred, pulse_unmapped;
	u64 pulse_failed;		/* failed pins, counted per page */
	int pulse_err;			/* the last failure's errno */
	u64 layout_nomem;		/* ring layouts put off: no memory */
	u64 drain_us;			/* the last stop's final look */
};

/* The dirty tracker (dirty*.c). */
struct ivf_dirty {
	struct mutex lock;		/* all but shadow_on and resync */
	bool engaged;
	bool paused;			/* device quiesced: no polling (ONCE) */
	bool shadow_on;			/* page 2 faults onto the shadow; memory_lock */
	spinlock_t shadow_lock;		/* shadow, shadow_va: freeing vs a reset */
	struct page *shadow;
	u32 *shadow_va;
	struct task_struct *thread;
	struct page **pages;		/* scratch for vfio_pin_pages() */
	struct ivf_rxq_trk rx[IVF_NUM_QUEUES];
	struct ivf_txq_trk tx[IVF_NUM_QUEUES];
	atomic_t resync;		/* the VF was reset: reload seen[] */
	u32 reset_seen[IVF_NUM_QUEUES][0x100 / 4];
	spinlock_t fence_lock;		/* fence[], next_fence, pulse_iova/end */
	struct ivf_fence fence[8];
	unsigned int next_fence;
	/*
	 * type1: pin each page the device wrote for an instant once the
	 * poller has seen the write, and hold no pins otherwise (ONCE).
	 * [pulse_iova, pulse_end): the pulse under way (fence_lock).
	 */
	bool pin_mode;
	u64 pulse_iova, pulse_end;
	wait_queue_head_t pulse_wq;	/* a pulse ended */
	/*
	 * Pulses that failed on a mapped page (no memory, say): tried again
	 * at each pass. One still failing once the device is quiesced is a
	 * page type1 will never report: lost, and STOP_COPY is refused until
	 * the next migration starts (RUNNING -> PRE_COPY).
	 */
	struct { u64 lo, hi; } retry[IVF_RETRY_SLOTS];
	unsigned long retry_at;		/* jiffies of the next retry */
	bool lost;
	u64 lost_pages;
	/*
	 * type1 has pinned a page of ours since pin mode began, so it reports
	 * only pinned pages for this group (ivf_dirty_scope()).
	 */
	bool scoped;
	unsigned long scope_retry;	/* jiffies of the next scope attempt */
	bool logging;			/* DMA logging: record it in log */
	struct xarray log;		/* IOVA pfns armed since the last report */
	unsigned long log_entries;	/* in log, at most IVF_LOG_MAX_PAGES */
	struct ivf_log_range *log_ranges; /* of log_start, in IOVA order */
	u32 log_nranges;
	u64 log_overflows;		/* times the cap or memory ran out */
	struct ivf_dirty_stats st;
	atomic_t guest_reset;		/* the guest wrote CTRL.RST */
};

int ivf_dirty_start(struct ivf_device *ivf);
void ivf_dirty_stop(struct ivf_device *ivf);

#endif /* IVF_DIRTY_H */
