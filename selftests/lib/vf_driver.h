/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vf_driver: the userspace 82576 VF driver (ivf.c) as a driver plugin of
 * the shape the kernel's VFIO selftests give their devices (ioat, dsa, igb:
 * tools/testing/selftests/vfio/lib, struct vfio_pci_driver_ops): a table
 * of operations - probe, init, remove, memcpy_start, memcpy_wait,
 * send_msi - and the fields a test reads (region, max_memcpy_size,
 * max_memcpy_count, msi), so a test of ours and theirs read alike.
 *
 * Differences from upstream's: the operations return 0 or -errno instead
 * of asserting (this is a library; the test asserts), and the driver is
 * given the vfio_dev it drives.
 *
 * What a memcpy is for a VF: a VF moves memory only as frames. One copy is
 * one frame the VF sends to its own MAC: a 64-byte header from the
 * driver's memory and [src, src + size) as the rest, one TX descriptor
 * for the header and one for each page of src (QEMU drops a frame whose
 * TX buffer crosses a page of the vIOMMU).
 * The PF's internal switch (VMDq loopback, DTXSWC) hands it to the VF's
 * own RX queue, whose descriptor ("split always", a 64-byte header buffer)
 * puts the header in the driver's memory and the rest at dst. The device
 * reads src and writes dst by DMA; the driver checks each header (which
 * copy, how long) when the copies are done. Everything needs the PF's
 * loopback to deliver a frame to the pool that sent it: QEMU's igb does;
 * a real 82576 does it only for pools whose DTXSWC.LLE bit the PF sets
 * (Linux's igb sets none).
 */
#ifndef IVF_VF_DRIVER_H
#define IVF_VF_DRIVER_H

#include <stdbool.h>
#include <stdint.h>

#include "ivf.h"
#include "vfio.h"

struct vf_driver;

struct vf_driver_ops {
	const char *name;
	/* 0 if this plugin drives the device, else -ENODEV */
	int (*probe)(struct vf_driver *drv);
	/* bring the device up inside drv->region; fills the max_* and msi */
	int (*init)(struct vf_driver *drv);
	/* undo init: rings and interrupts off, DMA memory unmapped */
	void (*remove)(struct vf_driver *drv);
	/*
	 * queue @count copies of [@src, @src + @size) to [@dst, @dst + @size)
	 * (IOVAs) and return without waiting; the copies raise no interrupt
	 */
	int (*memcpy_start)(struct vf_driver *drv, uint64_t src, uint64_t dst,
			    uint64_t size, uint64_t count);
	/*
	 * wait until every copy of the last memcpy_start is done: 0, or
	 * -ETIMEDOUT (the device is made usable again), -EIO (a copy arrived
	 * wrong: not ours, cut short, an error bit)
	 */
	int (*memcpy_wait)(struct vf_driver *drv);
	/* make the device signal MSI-X vector drv->msi once */
	int (*send_msi)(struct vf_driver *drv);
};

struct vf_driver {
	const struct vf_driver_ops *ops;
	struct vfio_dev *dev;
	bool initialized;
	bool memcpy_in_progress;

	/*
	 * The IOVA window the driver puts its rings and buffers in, set by
	 * the caller before init (iova, size); lib/ivf.c allocates and maps
	 * the memory itself, so vaddr stays NULL here.
	 */
	struct vfio_dma region;
	/* the most memcpy_start() takes: bytes a copy, copies a call */
	uint64_t max_memcpy_size;
	uint64_t max_memcpy_count;
	/* the MSI-X vector send_msi() signals (an index of dev->irq_fds) */
	int msi;

	/* the plugin's state */
	struct ivf v;
	bool ivf_open;
	unsigned int rx_tail;		/* next RX descriptor to hand out */
	unsigned int batch_first;	/* first RX descriptor of the batch */
	unsigned int batch_count;
	uint64_t batch_size;
	uint32_t seq;			/* copies sent since init */
	uint32_t batch_seq;		/* seq of the batch's first copy */
	uint64_t copies, bytes;		/* done and checked since init */
	unsigned long recoveries;	/* rings re-programmed after a fault */
};

/* the plugin for the 82576 VF, on lib/ivf.c */
extern const struct vf_driver_ops ivf_vf_driver_ops;

/*
 * Which plugin drives @dev: drv->ops and drv->dev set, 0; -ENODEV if
 * none does. Clears everything else in @drv but region.
 */
int vf_driver_probe(struct vf_driver *drv, struct vfio_dev *dev);
/*
 * The operations, each checked against the driver's state as upstream's
 * wrappers assert it: -EINVAL if not probed, not initialized (init: if
 * initialized), a memcpy in progress (memcpy_wait: if none), or a size or
 * count above the maximum.
 */
int vf_driver_init(struct vf_driver *drv);
int vf_driver_remove(struct vf_driver *drv);
int vf_driver_memcpy_start(struct vf_driver *drv, uint64_t src, uint64_t dst,
			   uint64_t size, uint64_t count);
int vf_driver_memcpy_wait(struct vf_driver *drv);
/* one copy, waited for */
int vf_driver_memcpy(struct vf_driver *drv, uint64_t src, uint64_t dst,
		     uint64_t size);
int vf_driver_send_msi(struct vf_driver *drv);

#endif /* IVF_VF_DRIVER_H */
