/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Userspace driver for the 82576 VF on top of vfio.h: reset, PF mailbox,
 * RX/TX ring 0 with advanced descriptors, MSI-X, statistics.
 *
 * Register access: page 0 (control/mailbox/stats) always through pread/
 * pwrite on the device fd (it is trapped by igbvf-vfio-pci and not
 * mmappable).  Pages 1-3 through an mmap of BAR0 0x1000..0x4000
 * (IVF_ACCESS_MMAP) or through pread/pwrite too (IVF_ACCESS_PIO).
 */
#ifndef IVF_IVF_H
#define IVF_IVF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vfio.h"
#include "ivf_regs.h"

enum ivf_access {
	IVF_ACCESS_MMAP,
	IVF_ACCESS_PIO,
};

struct ivf_ring_cfg {
	unsigned int rx_count;	/* descriptors, multiple of 8 */
	unsigned int tx_count;
	unsigned int buf_size;	/* RX/TX buffer bytes, multiple of 1024 */
	bool hdr_split;		/* SRRCTL header split always */
	unsigned int hdr_size;	/* header buffer bytes, multiple of 64 */
	uint64_t iova_base;	/* first IOVA used for rings and buffers */
};

struct ivf_stats {
	uint32_t gprc, gptc, gorc, gotc, mprc;
	uint32_t gprlbc, gptlbc, gorlbc, gotlbc;
};

struct ivf {
	struct vfio_dev *dev;
	enum ivf_access access;
	volatile uint8_t *map;		/* BAR0 pages 1-3, or NULL */
	unsigned long io_errors;	/* failed register accesses */

	uint32_t mbx_r2c;		/* shadow of read-to-clear bits */
	uint8_t mac[6];			/* from the VF_RESET reply */
	bool mac_valid;
	bool cts;

	/* rings */
	bool rings_up;
	struct vfio_dma rx_ring_dma, tx_ring_dma;
	struct vfio_dma rx_buf_dma, tx_buf_dma, rx_hdr_dma;
	volatile union ivf_rx_desc *rx_ring;
	volatile union ivf_tx_desc *tx_ring;
	unsigned int rx_count, tx_count, buf_size, hdr_size;
	bool hdr_split;
	unsigned int rx_next;		/* next RX descriptor to check */
	unsigned int tx_next;		/* next TX descriptor to fill */
	unsigned int tx_clean;		/* oldest TX descriptor not done */
	uint8_t *rx_tmp;		/* reassembly buffer for header split */

	/* interrupts */
	bool irq_on;

	/* counters kept by the driver */
	uint64_t rx_frames, tx_frames, rx_errors;
};

/* MSI-X vector assignment used by ivf_irq_enable() */
#define IVF_VEC_RX	0
#define IVF_VEC_TX	1
#define IVF_VEC_MISC	2

/* enable MEM+BM, map pages 1-3 if @access is MMAP */
int ivf_open(struct ivf *v, struct vfio_dev *d, enum ivf_access access);
void ivf_close(struct ivf *v);
/* change the access method of pages 1-3 at run time */
int ivf_set_access(struct ivf *v, enum ivf_access access);

uint32_t ivf_rd(struct ivf *v, uint32_t off);
void ivf_wr(struct ivf *v, uint32_t off, uint32_t val);

/* CTRL.RST, wait for the PF, VF_RESET message: MAC + CTS */
int ivf_reset(struct ivf *v);

/* mailbox; returns 0, -ETIMEDOUT, -EBUSY */
int ivf_mbx_send(struct ivf *v, const uint32_t *msg, unsigned int n);
int ivf_mbx_recv(struct ivf *v, uint32_t *msg, unsigned int n);
/*
 * send @msg, wait for the reply to it (skipping PF control messages),
 * 0 on ACK, -EPERM on NACK, other -errno on failures
 */
int ivf_mbx_xfer(struct ivf *v, const uint32_t *msg, unsigned int n,
		 uint32_t *reply, unsigned int rn);

int ivf_set_mac(struct ivf *v, const uint8_t mac[6]);
int ivf_set_multicast(struct ivf *v, const uint16_t *hashes, unsigned int n);
int ivf_set_vlan(struct ivf *v, uint16_t vid, bool add);
int ivf_set_lpe(struct ivf *v, uint32_t max_frame);

/* rings; default configuration if @cfg is NULL */
int ivf_rings_setup(struct ivf *v, const struct ivf_ring_cfg *cfg);
void ivf_rings_stop(struct ivf *v);
/* (re)program ring registers and post RX buffers: @post(arg, i) or ours */
void ivf_rings_program(struct ivf *v, void (*post)(void *arg, unsigned int i),
		       void *arg);

/* queue a frame (no doorbell); -EAGAIN if the ring is full */
int ivf_tx_post(struct ivf *v, const void *frame, size_t len);
/* TDT doorbell for everything posted */
void ivf_tx_kick(struct ivf *v);
/* post + kick */
int ivf_tx(struct ivf *v, const void *frame, size_t len);
/* reap completed TX descriptors; returns the number reaped */
unsigned int ivf_tx_clean(struct ivf *v);
unsigned int ivf_tx_pending(const struct ivf *v);

typedef void (*ivf_rx_cb)(void *arg, const uint8_t *data, uint32_t len,
			  uint32_t status);
/* hand up to @budget received frames to @cb, re-post, one RDT write */
int ivf_rx_poll(struct ivf *v, ivf_rx_cb cb, void *arg, int budget);
/* true if the next RX descriptor is done */
bool ivf_rx_ready(struct ivf *v);

/* MSI-X: 3 eventfds, IVAR, EITR=0, EIAC, EIMS */
int ivf_irq_enable(struct ivf *v);
void ivf_irq_disable(struct ivf *v);
/* wait for an RX frame: 1 ready, 0 timeout, -errno (uses the eventfd) */
int ivf_rx_wait(struct ivf *v, int timeout_ms);

int ivf_read_stats(struct ivf *v, struct ivf_stats *s);

/*
 * Live migration of the userspace-driven VF, as a VMM moves a guest: the
 * ring and buffer memory of @src (the "guest RAM") is mapped into the
 * destination device's container at the same IOVAs, the device state
 * travels in the migration stream, and the software state (ring indices,
 * mailbox shadow, MAC, counters) moves with the guest.
 *
 * ivf_mig_map: map @src's DMA memory into @d's container (before the
 * destination leaves RESUMING, outside the downtime); 0 or -errno, nothing
 * left mapped on failure. ivf_mig_unmap undoes it (aborted migration).
 */
int ivf_mig_map(const struct ivf *src, struct vfio_dev *d);
void ivf_mig_unmap(const struct ivf *src, struct vfio_dev *d);
/*
 * Take over @src's software state on the destination device @d (which
 * ivf_mig_map prepared): COMMAND.MEM|BUS_MASTER, pages 1-3 with @access,
 * MSI-X eventfds if @src had interrupts, as a VMM restores the config
 * space. No device register is written: the driver restores them from
 * the stream. @dst then owns the DMA memory; finish with ivf_detach(@src).
 */
int ivf_adopt(struct ivf *dst, struct vfio_dev *d, const struct ivf *src,
	      enum ivf_access access);
/*
 * The source side after its state moved: drop the BAR mapping, MSI-X and
 * the DMA mappings in its own container, without touching device
 * registers or freeing the memory (the destination owns it now).
 */
void ivf_detach(struct ivf *v);

/* helpers */
int ivf_parse_mac(const char *s, uint8_t mac[6]);
void ivf_format_mac(const uint8_t mac[6], char *buf);	/* 18 bytes */

#endif /* IVF_IVF_H */
