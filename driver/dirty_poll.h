/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * igbvf-vfio-pci dirty tracking: the poller (dirty_poll.c).
 */
#ifndef IVF_DIRTY_POLL_H
#define IVF_DIRTY_POLL_H

#include <linux/compiler.h>
#include <linux/types.h>

struct ivf_device;

unsigned int ivf_dirty_poll_us(void);
void __iomem *ivf_pass_io(struct ivf_device *ivf);
void ivf_txq_read(void __iomem *io, unsigned int q, u32 r[6]);
void ivf_dirty_poll(struct ivf_device *ivf, bool full);
int ivf_dirty_thread(void *data);
int ivf_dirty_start_rings(struct ivf_device *ivf);

#endif /* IVF_DIRTY_POLL_H */
