/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * igbvf-vfio-pci dirty tracking: the doorbell shadow and the VF resets
 * that reload it (dirty_shadow.c).
 */
#ifndef IVF_DIRTY_SHADOW_H
#define IVF_DIRTY_SHADOW_H

#include <linux/compiler.h>
#include <linux/types.h>

#include "dirty.h"

struct ivf_device;

#define IVF_PAGE2		0x2000
#define IVF_SH(reg)		(((reg) - IVF_PAGE2) / 4)
/* The two RX queue register blocks, 0x2800-0x29ff, are shadowed. */
#define IVF_RXQ_FIRST		IVF_RDBAL(0)
#define IVF_RXQ_WORDS		(2 * 0x100 / 4)

static inline u32 *ivf_sh(struct ivf_dirty *d, u32 reg)
{
	return &d->shadow_va[IVF_SH(reg)];
}

int ivf_dirty_switch(struct ivf_device *ivf, bool on);
void ivf_dirty_free_shadow(struct ivf_device *ivf);
void ivf_dirty_resync(struct ivf_device *ivf);
bool ivf_dirty_guest_resync(struct ivf_device *ivf);

#endif /* IVF_DIRTY_SHADOW_H */
