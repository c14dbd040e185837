// SPDX-License-Identifier: GPL-2.0
/*
 * The 82576 VF as a driver plugin (vf_driver.h): memcpy by frames the VF
 * sends to itself, on lib/ivf.c.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util.h"
#include "vf_driver.h"

/*
 * Rings: one RX descriptor and up to four TX descriptors a copy. RX buffers of
 * 9 KiB (SRRCTL.BSIZEPKT) take a copy's payload whole; SET_LPE 9018 lets
 * a frame of 64 + 8192 bytes through the PF's per-pool size check.
 */
#define VFD_RX_COUNT	256
#define VFD_TX_COUNT	(4 * VFD_RX_COUNT)	/* header + 3 pages at most */
#define VFD_BUF_SIZE	9216
#define VFD_HDR		64	/* the frame's header, SRRCTL.BSIZEHEADER */
#define VFD_MAX_FRAME	9018
#define VFD_MAX_SIZE	8192
#define VFD_PAGE	4096
/*
 * The vector send_msi() raises, and no cause is routed to: the VF's misc
 * vector. QEMU's igb keeps a VF's RX and TX routes in the PF's IVAR table,
 * where a VF's IVAR0 write with the valid bit ORs the route in and nothing
 * (an IVAR0 write of 0, the VF's reset) takes it out (igb_set_vtivar(),
 * igb_core_vf_reset() in hw/net/igb_core.c): after a test that routed RX
 * to vector 0 (ivf_irq_enable()), every received copy would raise vector 0
 * here. The misc route (IVAR_MISC) is the VF's own register there, which
 * the write of 0 below clears. On a real 82576 IVAR0 is the VF's own and
 * its FLR clears it.
 */
#define VFD_MSI		IVF_VEC_MISC
#define VFD_ETHERTYPE	0x88B5	/* IEEE local experimental, as frame.h */
#define VFD_MAGIC	0x49564d43u	/* "IVMC" */
/* a copy is done long before this on QEMU (TX runs inside the TDT write) */
#define VFD_WAIT_MS	1000
#define VFD_WAIT_MS_PER_COPY 2

static uint64_t align64k(uint64_t x)
{
	return (x + 0xffff) & ~0xffffull;
}

/* what ivf_rings_setup() takes from drv->region, at the most */
static uint64_t rings_span(void)
{
	return align64k(VFD_RX_COUNT * sizeof(union ivf_rx_desc)) +
	       align64k(VFD_TX_COUNT * sizeof(union ivf_tx_desc)) +
	       align64k((uint64_t)VFD_RX_COUNT * VFD_BUF_SIZE) +
	       align64k((uint64_t)VFD_TX_COUNT * VFD_BUF_SIZE) +
	       align64k((uint64_t)VFD_RX_COUNT * VFD_HDR);
}

/* the header of copy @seq: to and from our own MAC, which copy, how long */
static void header_build(const struct vf_driver *drv, uint8_t *h,
			 uint32_t seq, uint64_t size)
{
	uint32_t w;

	memset(h, 0, VFD_HDR);
	memcpy(h, drv->v.mac, 6);
	memcpy(h + 6, drv->v.mac, 6);
	h[12] = VFD_ETHERTYPE >> 8;
	h[13] = VFD_ETHERTYPE & 0xff;
	w = VFD_MAGIC;
	memcpy(h + 14, &w, 4);
	memcpy(h + 18, &seq, 4);
	w = (uint32_t)size;
	memcpy(h + 22, &w, 4);
}

/* hardware owns no RX descriptor: nothing lands until memcpy_start */
static void rx_quiet(struct vf_driver *drv)
{
	uint32_t h = ivf_rd(&drv->v, IVF_RDH(0)) & IVF_RING_IDX_MASK;

	if (h >= VFD_RX_COUNT)
		h = 0;
	ivf_wr(&drv->v, IVF_RDT(0), h);
	drv->rx_tail = h;
}

/* after a copy went wrong: both rings from the start, as after init */
static void rings_recover(struct vf_driver *drv)
{
	ivf_rings_program(&drv->v, NULL, NULL);
	rx_quiet(drv);
	drv->recoveries++;
}

static int ivf_drv_probe(struct vf_driver *drv)
{
	uint32_t id;

	if (vfio_cfg_read(drv->dev, 0, &id, sizeof(id)))
		return -ENODEV;
	if (id != ((uint32_t)IVF_PCI_DEVICE_ID << 16 | IVF_PCI_VENDOR_ID))
		return -ENODEV;
	return 0;
}

static int ivf_drv_init(struct vf_driver *drv)
{
	struct ivf_ring_cfg cfg = {
		.rx_count = VFD_RX_COUNT, .tx_count = VFD_TX_COUNT,
		.buf_size = VFD_BUF_SIZE, .hdr_split = true,
		.hdr_size = VFD_HDR, .iova_base = drv->region.iova,
	};
	struct ivf *v = &drv->v;
	int ret;

	if (drv->region.size < rings_span())
		return -ENOSPC;
	ret = ivf_open(v, drv->dev, IVF_ACCESS_MMAP);
	if (ret)
		return ret;
	drv->ivf_open = true;
	/* the PF's reset reply: clear to send, and the MAC the copies use */
	ret = ivf_reset(v);
	if (!ret && !v->mac_valid)
		ret = -EADDRNOTAVAIL;
	if (!ret)
		ret = ivf_set_lpe(v, VFD_MAX_FRAME);
	if (!ret)
		ret = ivf_rings_setup(v, &cfg);
	if (!ret)
		ret = vfio_msix_enable(drv->dev, IVF_MSIX_VECTORS);
	if (ret) {
		ivf_close(v);
		drv->ivf_open = false;
		return ret;
	}
	/*
	 * No cause (RX, TX, mailbox) is routed to any vector: the copies
	 * raise nothing, and vector VFD_MSI fires only by EICS.
	 */
	v->irq_on = true;
	ivf_wr(v, IVF_IVAR0, 0);
	ivf_wr(v, IVF_IVAR_MISC, 0);
	ivf_wr(v, IVF_EITR(VFD_MSI), 0);
	ivf_wr(v, IVF_EIAC, 1u << VFD_MSI);
	ivf_wr(v, IVF_EIMS, 1u << VFD_MSI);
	rx_quiet(drv);

	drv->seq = 0;
	drv->copies = 0;
	drv->bytes = 0;
	drv->recoveries = 0;
	drv->max_memcpy_size = VFD_MAX_SIZE;
	drv->max_memcpy_count = VFD_RX_COUNT - 1;
	drv->msi = VFD_MSI;
	return 0;
}

static void ivf_drv_remove(struct vf_driver *drv)
{
	if (drv->ivf_open)
		ivf_close(&drv->v);	/* EIMC, MSI-X off, rings off, unmap */
	drv->ivf_open = false;
}

/* TX descriptors a copy takes: the header, and src page by page */
static unsigned int copy_descs(uint64_t src, uint64_t size)
{
	return 1 + (unsigned int)((src + size - 1) / VFD_PAGE - src / VFD_PAGE + 1);
}

static void tx_desc(struct ivf *v, uint64_t addr, uint32_t cmd_len,
		    uint32_t olinfo)
{
	unsigned int t = v->tx_next;

	v->tx_ring[t].read.buffer_addr = addr;
	v->tx_ring[t].read.cmd_type_len = IVF_TXD_DTYP_DATA |
		IVF_TXD_CMD_DEXT | IVF_TXD_CMD_IFCS | IVF_TXD_CMD_RS | cmd_len;
	v->tx_ring[t].read.olinfo_status = olinfo;
	v->tx_next = (t + 1) % v->tx_count;
}

static int ivf_drv_memcpy_start(struct vf_driver *drv, uint64_t src,
				uint64_t dst, uint64_t size, uint64_t count)
{
	struct ivf *v = &drv->v;
	unsigned long errs = v->io_errors;
	uint64_t off, len;
	unsigned int i, r;
	uint8_t *hdr;

	ivf_tx_clean(v);
	if (ivf_tx_pending(v) + count * copy_descs(src, size) >= v->tx_count)
		return -EBUSY;
	drv->batch_first = drv->rx_tail;
	drv->batch_count = count;
	drv->batch_size = size;
	drv->batch_seq = drv->seq;
	for (i = 0; i < count; i++) {
		r = drv->rx_tail;
		/* read format: DD (bit 0 of hdr_addr) reads 0 until done */
		v->rx_ring[r].read.pkt_addr = dst;
		v->rx_ring[r].read.hdr_addr = v->rx_hdr_dma.iova +
					      (uint64_t)r * VFD_HDR;
		drv->rx_tail = (r + 1) % v->rx_count;

		hdr = (uint8_t *)v->tx_buf_dma.vaddr +
		      (size_t)v->tx_next * v->buf_size;
		header_build(drv, hdr, drv->seq++, size);
		tx_desc(v, v->tx_buf_dma.iova + (uint64_t)v->tx_next * v->buf_size,
			VFD_HDR,
			(uint32_t)(VFD_HDR + size) << IVF_TXD_PAYLEN_SHIFT);
		/*
		 * A buffer a page at most: QEMU maps each TX buffer whole
		 * and drops the frame if the vIOMMU's page ends inside it.
		 */
		for (off = 0; off < size; off += len) {
			len = VFD_PAGE - ((src + off) & (VFD_PAGE - 1));
			if (len > size - off)
				len = size - off;
			tx_desc(v, src + off, (uint32_t)len |
				(off + len == size ? IVF_TXD_CMD_EOP : 0), 0);
		}
		v->tx_frames++;
	}
	/* the RX descriptors first: the frames loop back at once */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	ivf_wr(v, IVF_RDT(0), drv->rx_tail);
	ivf_tx_kick(v);
	return v->io_errors != errs ? -EIO : 0;
}

/* copy @i of the batch: ours, whole, no error bit; 0 or -EIO */
static int copy_check(struct vf_driver *drv, unsigned int i)
{
	struct ivf *v = &drv->v;
	unsigned int r = (drv->batch_first + i) % v->rx_count;
	volatile union ivf_rx_desc *d = &v->rx_ring[r];
	uint32_t st = d->wb.status_error;
	unsigned int hlen = (d->wb.hdr_info & IVF_RXD_HDRLEN_MASK) >>
			    IVF_RXD_HDRLEN_SHIFT;
	uint8_t want[VFD_HDR];

	header_build(drv, want, drv->batch_seq + i, drv->batch_size);
	if (!(st & IVF_RXD_STAT_DD) || !(st & IVF_RXD_STAT_EOP) ||
	    (st & IVF_RXD_ERR_FRAME_MASK) || hlen != VFD_HDR ||
	    d->wb.length != drv->batch_size ||
	    memcmp(want, (uint8_t *)v->rx_hdr_dma.vaddr +
		   (size_t)r * VFD_HDR, VFD_HDR)) {
		fprintf(stderr,
			"vf_driver: copy %u of %u: status 0x%08x header %u length %u (want %llu)%s\n",
			i, drv->batch_count, st, hlen, d->wb.length,
			(unsigned long long)drv->batch_size,
			(st & IVF_RXD_STAT_DD) ? ", header not ours" : "");
		return -EIO;
	}
	return 0;
}

/* where the rings stand, when a batch did not complete */
static void rings_dump(struct vf_driver *drv, unsigned int last)
{
	struct ivf *v = &drv->v;
	struct ivf_stats st;

	ivf_read_stats(v, &st);
	fprintf(stderr,
		"vf_driver: timed out: RDH %u RDT %u TDH %u TDT %u, RX %u status 0x%08x, %u TX pending; RXDCTL 0x%08x TXDCTL 0x%08x SRRCTL 0x%08x; VFGPTC %u VFGPRC %u VFGPTLBC %u VFGPRLBC %u\n",
		ivf_rd(v, IVF_RDH(0)), ivf_rd(v, IVF_RDT(0)),
		ivf_rd(v, IVF_TDH(0)), ivf_rd(v, IVF_TDT(0)), last,
		v->rx_ring[last].wb.status_error, ivf_tx_pending(v),
		ivf_rd(v, IVF_RXDCTL(0)), ivf_rd(v, IVF_TXDCTL(0)),
		ivf_rd(v, IVF_SRRCTL(0)), st.gptc, st.gprc, st.gptlbc,
		st.gprlbc);
}

static int ivf_drv_memcpy_wait(struct vf_driver *drv)
{
	struct ivf *v = &drv->v;
	unsigned int last = (drv->rx_tail + v->rx_count - 1) % v->rx_count;
	uint64_t end = now_ns() + 1000000ull *
		(VFD_WAIT_MS + VFD_WAIT_MS_PER_COPY * drv->batch_count);
	unsigned int i;
	int ret = 0;

	for (;;) {
		ivf_tx_clean(v);
		if ((v->rx_ring[last].wb.status_error & IVF_RXD_STAT_DD) &&
		    !ivf_tx_pending(v))
			break;
		if (now_ns() > end) {
			rings_dump(drv, last);
			ret = -ETIMEDOUT;
			break;
		}
		usleep(100);
	}
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	for (i = 0; !ret && i < drv->batch_count; i++)
		ret = copy_check(drv, i);
	if (ret) {
		rings_recover(drv);
		return ret;
	}
	drv->copies += drv->batch_count;
	drv->bytes += drv->batch_count * drv->batch_size;
	return 0;
}

static int ivf_drv_send_msi(struct vf_driver *drv)
{
	unsigned long errs = drv->v.io_errors;

	ivf_wr(&drv->v, IVF_EICS, 1u << drv->msi);
	return drv->v.io_errors != errs ? -EIO : 0;
}

const struct vf_driver_ops ivf_vf_driver_ops = {
	.name = "igbvf",
	.probe = ivf_drv_probe,
	.init = ivf_drv_init,
	.remove = ivf_drv_remove,
	.memcpy_start = ivf_drv_memcpy_start,
	.memcpy_wait = ivf_drv_memcpy_wait,
	.send_msi = ivf_drv_send_msi,
};

static const struct vf_driver_ops *const vf_drivers[] = {
	&ivf_vf_driver_ops,
};

int vf_driver_probe(struct vf_driver *drv, struct vfio_dev *dev)
{
	struct vfio_dma region = drv->region;
	unsigned int i;

	memset(drv, 0, sizeof(*drv));
	drv->region = region;
	drv->dev = dev;
	for (i = 0; i < sizeof(vf_drivers) / sizeof(vf_drivers[0]); i++) {
		drv->ops = vf_drivers[i];
		if (!drv->ops->probe(drv))
			return 0;
	}
	drv->ops = NULL;
	return -ENODEV;
}

/* the state an operation needs: probed, (not) initialized, (no) memcpy */
static int op_allowed(const struct vf_driver *drv, bool init, bool wait)
{
	if (!drv->ops || drv->initialized == init ||
	    drv->memcpy_in_progress != wait)
		return -EINVAL;
	return 0;
}

int vf_driver_init(struct vf_driver *drv)
{
	int ret = op_allowed(drv, true, false);

	if (!ret && !drv->region.size)
		ret = -EINVAL;
	if (!ret)
		ret = drv->ops->init(drv);
	if (!ret)
		drv->initialized = true;
	return ret;
}

int vf_driver_remove(struct vf_driver *drv)
{
	int ret = op_allowed(drv, false, false);

	if (ret)
		return ret;
	drv->ops->remove(drv);
	drv->initialized = false;
	return 0;
}

int vf_driver_memcpy_start(struct vf_driver *drv, uint64_t src, uint64_t dst,
			   uint64_t size, uint64_t count)
{
	int ret = op_allowed(drv, false, false);

	if (ret)
		return ret;
	if (!size || size > drv->max_memcpy_size || !count ||
	    count > drv->max_memcpy_count)
		return -EINVAL;
	ret = drv->ops->memcpy_start(drv, src, dst, size, count);
	if (!ret)
		drv->memcpy_in_progress = true;
	return ret;
}

int vf_driver_memcpy_wait(struct vf_driver *drv)
{
	int ret = op_allowed(drv, false, true);

	if (ret)
		return ret;
	ret = drv->ops->memcpy_wait(drv);
	drv->memcpy_in_progress = false;
	return ret;
}

int vf_driver_memcpy(struct vf_driver *drv, uint64_t src, uint64_t dst,
		     uint64_t size)
{
	return vf_driver_memcpy_start(drv, src, dst, size, 1) ?:
	       vf_driver_memcpy_wait(drv);
}

int vf_driver_send_msi(struct vf_driver *drv)
{
	int ret = op_allowed(drv, false, false);

	return ret ?: drv->ops->send_msi(drv);
}
