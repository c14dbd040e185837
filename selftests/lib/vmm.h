/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The VMM's side of a live migration of the userspace-driven VF (ivf.h):
 * what QEMU does with a VFIO migration v2 device, in the same order, timed
 * arc by arc.
 *
 *   destination: open (FLR), reset it as QEMU's machine reset does
 *                (COMMAND.MEM and bus master cleared, VFIO_DEVICE_RESET;
 *                they stay clear until the guest's config space arrives),
 *                map the "guest RAM" (the rings and buffers) at the same
 *                IOVAs, RUNNING -> RESUMING
 *   source:      RUNNING -> PRE_COPY, read the initial data (the guest keeps
 *                running: a callback), write it to the destination;
 *                PRE_COPY -> PRE_COPY_P2P -> STOP_COPY, read to EOF,
 *                STOP_COPY -> STOP
 *                (or without pre-copy: RUNNING -> STOP -> STOP_COPY)
 *   destination: write the final data, RESUMING -> STOP, restore the
 *                config space (MEM/BM, MSI-X: ivf_adopt), STOP ->
 *                RUNNING_P2P -> RUNNING
 *   source:      close (the guest now runs on the destination)
 *
 * The "stop window" is from the source's quiesce (PRE_COPY_P2P or STOP)
 * to the end of the destination's RUNNING arc: the guest does not run and
 * frames arriving for it may be dropped.
 */
#ifndef IVF_VMM_H
#define IVF_VMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ivf.h"
#include "vfio.h"

enum vmm_arc {
	VMM_DST_OPEN,		/* open the destination (core FLR) */
	VMM_DST_RESET,		/* QEMU's reset: COMMAND cleared, FLR */
	VMM_DST_MAP,		/* map guest RAM into its container */
	VMM_DST_RESUMING,	/* RUNNING -> RESUMING */
	VMM_PRE_COPY,		/* source RUNNING -> PRE_COPY */
	VMM_PRE_READ,		/* read the PRE_COPY data (to ENOMSG) */
	VMM_PRE_WRITE,		/* write it to the destination */
	VMM_PRE_P2P,		/* PRE_COPY -> PRE_COPY_P2P (quiesce) */
	VMM_STOP,		/* RUNNING -> STOP (no pre-copy) */
	VMM_STOP_COPY,		/* PRE_COPY_P2P or STOP -> STOP_COPY */
	VMM_FINAL_READ,		/* read the STOP_COPY data to EOF */
	VMM_SRC_STOP,		/* STOP_COPY -> STOP */
	VMM_DST_WRITE,		/* write the final data */
	VMM_DST_STOP,		/* RESUMING -> STOP (replay) */
	VMM_ADOPT,		/* config space, mmap, MSI-X on the dst */
	VMM_DST_P2P,		/* STOP -> RUNNING_P2P */
	VMM_DST_RUNNING,	/* RUNNING_P2P -> RUNNING */
	VMM_SRC_CLOSE,		/* detach and close the source */
	VMM_NARCS,
};

struct vmm_hop {
	/* in */
	bool precopy;
	enum ivf_access access;
	/* how the destination is opened; NULL: the group and container */
	const struct vfio_backend *backend;
	/* the guest while the source is in PRE_COPY (may be NULL) */
	void (*guest)(void *arg);
	void *guest_arg;

	/* out */
	uint64_t t_arc[VMM_NARCS];	/* ns, 0 = arc not taken */
	uint64_t t_at[VMM_NARCS];	/* now_ns() when the arc began */
	uint64_t stop_begin, stop_end;	/* now_ns() of the stop window */
	uint64_t data_size;		/* MIG_DATA_SIZE before STOP_COPY */
	uint64_t precopy_initial;	/* PRECOPY_INFO initial_bytes */
	uint8_t *pre, *final;		/* the data read (caller frees) */
	size_t pre_len, final_len;
	const char *failed;		/* the step that failed, or NULL */
	int err;			/* its -errno */
};

const char *vmm_arc_name(enum vmm_arc a);
/*
 * Move the guest from (@src, @sd) to (@dst, @dd), the destination opened
 * at @dst_bdf (through h->backend). On success @src is detached, @sd closed, @dst/@dd run the
 * guest; returns 0. On failure returns -errno with h->failed set; the
 * guest stays on the source (put back to RUNNING if possible) and the
 * destination is closed.
 */
int vmm_migrate(struct ivf *src, struct vfio_dev *sd, struct ivf *dst,
		struct vfio_dev *dd, const char *dst_bdf, struct vmm_hop *h);
void vmm_hop_free(struct vmm_hop *h);
/*
 * QEMU's machine reset of a destination VF before an incoming migration:
 * I/O, memory and bus master off, then VFIO_DEVICE_RESET. 0 or -errno.
 */
int vmm_qemu_reset(struct vfio_dev *d);

/*
 * Find record @type in the last packet of kind @kind in a stream (@buf,
 * @len, as read from a data fd): its payload and length, or NULL if the
 * stream does not parse or has no such record.
 */
const void *vmm_find_record(const uint8_t *buf, size_t len, uint16_t kind,
			    uint16_t type, uint32_t *plen);
/* number of packets in a stream, -1 if it does not parse */
int vmm_count_packets(const uint8_t *buf, size_t len);

#endif /* IVF_VMM_H */
