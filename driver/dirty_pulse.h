/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * igbvf-vfio-pci dirty tracking through type1: pulses, fences and retries
 * (dirty_pulse.c). dirty->lock held, unless a function says otherwise.
 */
#ifndef IVF_DIRTY_PULSE_H
#define IVF_DIRTY_PULSE_H

#include <linux/types.h>

struct ivf_device;

/*
 * An IOVA range the user is unmapping: not pinned again for a while.
 * [pend_lo, pend_hi) covers the pulses put off meanwhile.
 */
struct ivf_fence {
	u64 iova, len;
	unsigned long expires;
	u64 pend_lo, pend_hi;
};

#define IVF_RETRY_SLOTS	4

void ivf_pulse(struct ivf_device *ivf, u64 iova, u32 npages);
void ivf_pulse_ring(struct ivf_device *ivf, u64 base, u32 ndesc,
		    u64 from, u64 to);
void ivf_pulse_sweep(struct ivf_device *ivf, bool wait);
u64 ivf_pulse_retry(struct ivf_device *ivf, bool now);
void ivf_dirty_scope(struct ivf_device *ivf);

#endif /* IVF_DIRTY_PULSE_H */
