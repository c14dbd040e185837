// SPDX-License-Identifier: GPL-2.0
/*
 * Userspace 82576 VF driver used by the selftests (see ivf.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "ivf.h"

#define MAP_START	IVF_BAR_PAGE_SIZE
#define MAP_LEN		(IVF_BAR0_SIZE - IVF_BAR_PAGE_SIZE)

static inline void mb_full(void)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

static inline void mb_acquire(void)
{
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
}

int ivf_open(struct ivf *v, struct vfio_dev *d, enum ivf_access access)
{
	int ret;

	memset(v, 0, sizeof(*v));
	v->dev = d;
	ret = vfio_enable_mem_bm(d);
	if (ret)
		return ret;
	return ivf_set_access(v, access);
}

int ivf_set_access(struct ivf *v, enum ivf_access access)
{
	void *p;

	if (access == IVF_ACCESS_MMAP && !v->map) {
		p = vfio_region_mmap(v->dev, VFIO_PCI_BAR0_REGION_INDEX,
				     MAP_START, MAP_LEN);
		if (p == MAP_FAILED)
			return -errno;
		v->map = p;
	}
	v->access = access;
	return 0;
}

void ivf_close(struct ivf *v)
{
	if (!v->dev)
		return;
	if (v->irq_on && v->dev->fd >= 0)
		ivf_irq_disable(v);
	ivf_rings_stop(v);
	if (v->map)
		munmap((void *)v->map, MAP_LEN);
	v->map = NULL;
	v->dev = NULL;
}

static void io_error(struct ivf *v, const char *what, uint32_t off, int err)
{
	if (v->io_errors++ < 5)
		fprintf(stderr, "ivf: %s 0x%04x failed: %s\n", what, off,
			strerror(-err));
}

uint32_t ivf_rd(struct ivf *v, uint32_t off)
{
	uint32_t val;
	int ret;

	if (off >= MAP_START && off < IVF_BAR0_SIZE &&
	    v->access == IVF_ACCESS_MMAP && v->map)
		return *(volatile uint32_t *)(v->map + off - MAP_START);
	ret = vfio_bar_read32(v->dev, 0, off, &val);
	if (ret) {
		io_error(v, "read", off, ret);
		return 0xffffffff;
	}
	return val;
}

void ivf_wr(struct ivf *v, uint32_t off, uint32_t val)
{
	int ret;

	if (off >= MAP_START && off < IVF_BAR0_SIZE &&
	    v->access == IVF_ACCESS_MMAP && v->map) {
		*(volatile uint32_t *)(v->map + off - MAP_START) = val;
		return;
	}
	ret = vfio_bar_write32(v->dev, 0, off, val);
	if (ret)
		io_error(v, "write", off, ret);
}

/* ---------------------------------------------------------------- mailbox */

/* read V2PMAILBOX, remembering read-to-clear bits until consumed */
static uint32_t mbx_reg(struct ivf *v)
{
	uint32_t val = ivf_rd(v, IVF_V2PMAILBOX);

	if (val == 0xffffffff)
		return 0;
	v->mbx_r2c |= val & IVF_MBX_R2C_BITS;
	return val | v->mbx_r2c;
}

/* true (and consume the shadowed bits) if any of @mask is set */
static bool mbx_take(struct ivf *v, uint32_t mask)
{
	if (mbx_reg(v) & mask) {
		v->mbx_r2c &= ~mask;
		return true;
	}
	return false;
}

static int mbx_lock(struct ivf *v)
{
	int i;

	for (i = 0; i < 11; i++) {
		ivf_wr(v, IVF_V2PMAILBOX, IVF_MBX_VFU);
		if (mbx_reg(v) & IVF_MBX_VFU)
			return 0;
		usleep(1000);
	}
	return -EBUSY;
}

static int mbx_poll(struct ivf *v, uint32_t bit)
{
	int i;

	for (i = 0; i < IVF_MBX_POLL_COUNT; i++) {
		if (mbx_take(v, bit))
			return 0;
		usleep(IVF_MBX_POLL_US);
	}
	return -ETIMEDOUT;
}

int ivf_mbx_send(struct ivf *v, const uint32_t *msg, unsigned int n)
{
	unsigned int i;
	int ret;

	if (n > IVF_VMBMEM_WORDS)
		return -EINVAL;
	ret = mbx_lock(v);
	if (ret)
		return ret;
	/* the buffer is overwritten: drop stale message/ack indications */
	mbx_take(v, IVF_MBX_PFSTS);
	mbx_take(v, IVF_MBX_PFACK);
	for (i = 0; i < n; i++)
		ivf_wr(v, IVF_VMBMEM(i), msg[i]);
	ivf_wr(v, IVF_V2PMAILBOX, IVF_MBX_REQ);
	return mbx_poll(v, IVF_MBX_PFACK);
}

int ivf_mbx_recv(struct ivf *v, uint32_t *msg, unsigned int n)
{
	unsigned int i;
	int ret;

	if (n > IVF_VMBMEM_WORDS)
		return -EINVAL;
	ret = mbx_poll(v, IVF_MBX_PFSTS);
	if (ret)
		return ret;
	ret = mbx_lock(v);
	if (ret)
		return ret;
	for (i = 0; i < n; i++)
		msg[i] = ivf_rd(v, IVF_VMBMEM(i));
	ivf_wr(v, IVF_V2PMAILBOX, IVF_MBX_ACK);
	return 0;
}

int ivf_mbx_xfer(struct ivf *v, const uint32_t *msg, unsigned int n,
		 uint32_t *reply, unsigned int rn)
{
	uint32_t type = msg[0] & IVF_MSG_TYPE_MASK;
	uint32_t buf[IVF_VMBMEM_WORDS];
	int ret, tries;

	if (rn > IVF_VMBMEM_WORDS || rn < 1)
		return -EINVAL;
	ret = ivf_mbx_send(v, msg, n);
	if (ret)
		return ret;
	for (tries = 0; tries < 4; tries++) {
		ret = ivf_mbx_recv(v, buf, rn);
		if (ret)
			return ret;
		/* a PF ping may overtake the reply; skip it */
		if ((buf[0] & IVF_MSG_TYPE_MASK) == type)
			break;
		if ((buf[0] & IVF_MSG_TYPE_MASK) != IVF_MSG_PF_CONTROL)
			return -EPROTO;
	}
	if (tries == 4)
		return -EPROTO;
	if (reply)
		memcpy(reply, buf, rn * sizeof(*buf));
	if (buf[0] & IVF_MSG_CTS)
		v->cts = true;
	if (buf[0] & IVF_MSG_ACK)
		return 0;
	if (buf[0] & IVF_MSG_NACK)
		return -EPERM;
	return -EPROTO;
}

int ivf_reset(struct ivf *v)
{
	uint32_t msg[IVF_VF_RESET_REPLY_WORDS];
	int i, ret;

	v->cts = false;
	v->mac_valid = false;
	ivf_wr(v, IVF_CTRL, IVF_CTRL_RST);
	usleep(1000);
	/* consume RSTD, wait for RSTI to clear */
	for (i = 0; i < 1000; i++) {
		if (!mbx_take(v, IVF_MBX_RSTI | IVF_MBX_RSTD))
			break;
		usleep(100);
	}
	if (i == 1000)
		return -EAGAIN;

	msg[0] = IVF_MSG_VF_RESET;
	ret = ivf_mbx_send(v, msg, 1);
	if (ret)
		return ret;
	usleep(10000);
	ret = ivf_mbx_recv(v, msg, IVF_VF_RESET_REPLY_WORDS);
	if (ret)
		return ret;
	if (msg[0] == (IVF_MSG_VF_RESET | IVF_MSG_ACK)) {
		v->mac[0] = msg[1];
		v->mac[1] = msg[1] >> 8;
		v->mac[2] = msg[1] >> 16;
		v->mac[3] = msg[1] >> 24;
		v->mac[4] = msg[2];
		v->mac[5] = msg[2] >> 8;
		v->mac_valid = true;
	} else if (msg[0] == (IVF_MSG_VF_RESET | IVF_MSG_NACK)) {
		memset(v->mac, 0, sizeof(v->mac));
	} else {
		return -EPROTO;
	}
	v->cts = true;
	return 0;
}

static void mac_to_words(const uint8_t mac[6], uint32_t *w)
{
	w[0] = mac[0] | mac[1] << 8 | mac[2] << 16 | (uint32_t)mac[3] << 24;
	w[1] = mac[4] | mac[5] << 8;
}

int ivf_set_mac(struct ivf *v, const uint8_t mac[6])
{
	uint32_t msg[3] = { IVF_MSG_SET_MAC_ADDR };
	int ret;

	mac_to_words(mac, &msg[1]);
	ret = ivf_mbx_xfer(v, msg, 3, msg, 1);
	if (!ret) {
		memcpy(v->mac, mac, 6);
		v->mac_valid = true;
	}
	return ret;
}

int ivf_set_multicast(struct ivf *v, const uint16_t *hashes, unsigned int n)
{
	uint32_t msg[IVF_VMBMEM_WORDS] = { 0 };
	unsigned int i;

	if (n > IVF_MAX_MC_HASHES)
		n = IVF_MAX_MC_HASHES;
	msg[0] = IVF_MSG_SET_MULTICAST | n << IVF_MSG_INFO_SHIFT;
	/* u16 hashes packed little-endian from byte 4 on */
	for (i = 0; i < n; i++)
		msg[1 + i / 2] |= (uint32_t)hashes[i] << (16 * (i & 1));
	return ivf_mbx_xfer(v, msg, IVF_VMBMEM_WORDS, msg, 1);
}

int ivf_set_vlan(struct ivf *v, uint16_t vid, bool add)
{
	uint32_t msg[2];

	msg[0] = IVF_MSG_SET_VLAN | (add ? 1u : 0u) << IVF_MSG_INFO_SHIFT;
	msg[1] = vid & 0xfff;
	return ivf_mbx_xfer(v, msg, 2, msg, 1);
}

int ivf_set_lpe(struct ivf *v, uint32_t max_frame)
{
	uint32_t msg[2] = { IVF_MSG_SET_LPE, max_frame };

	return ivf_mbx_xfer(v, msg, 2, msg, 1);
}

/* ------------------------------------------------------------------ rings */

static const struct ivf_ring_cfg default_cfg = {
	.rx_count = 256,
	.tx_count = 256,
	.buf_size = 2048,
	.hdr_split = false,
	.hdr_size = 256,
	.iova_base = 0x10000000,
};

static uint64_t align_up(uint64_t x, uint64_t a)
{
	return (x + a - 1) & ~(a - 1);
}

static void rx_post(struct ivf *v, unsigned int i)
{
	v->rx_ring[i].read.pkt_addr = v->rx_buf_dma.iova +
				      (uint64_t)i * v->buf_size;
	v->rx_ring[i].read.hdr_addr = v->hdr_split ?
		v->rx_hdr_dma.iova + (uint64_t)i * v->hdr_size : 0;
}

void ivf_rings_stop(struct ivf *v)
{
	if (!v->rings_up)
		return;
	/* A device whose fd is gone (dsess_drop_fd()) is not touched. */
	if (v->dev->fd >= 0) {
		ivf_wr(v, IVF_RXDCTL(0),
		       ivf_rd(v, IVF_RXDCTL(0)) & ~IVF_XDCTL_ENABLE);
		ivf_wr(v, IVF_TXDCTL(0),
		       ivf_rd(v, IVF_TXDCTL(0)) & ~IVF_XDCTL_ENABLE);
	}
	vfio_dma_free(v->dev, &v->rx_ring_dma);
	vfio_dma_free(v->dev, &v->tx_ring_dma);
	vfio_dma_free(v->dev, &v->rx_buf_dma);
	vfio_dma_free(v->dev, &v->tx_buf_dma);
	vfio_dma_free(v->dev, &v->rx_hdr_dma);
	free(v->rx_tmp);
	v->rx_tmp = NULL;
	v->rings_up = false;
}

/*
 * Program ring 0 of both directions on the device (queues disabled while
 * they change), post every RX descriptor through @post (the driver's own
 * buffers if NULL) and enable.
 */
void ivf_rings_program(struct ivf *v, void (*post)(void *arg, unsigned int i),
		       void *arg)
{
	uint32_t srrctl;
	unsigned int i;

	/* TX: disable, program, enable */
	ivf_wr(v, IVF_TXDCTL(0), ivf_rd(v, IVF_TXDCTL(0)) & ~IVF_XDCTL_ENABLE);
	ivf_wr(v, IVF_TDBAL(0), (uint32_t)v->tx_ring_dma.iova);
	ivf_wr(v, IVF_TDBAH(0), (uint32_t)(v->tx_ring_dma.iova >> 32));
	ivf_wr(v, IVF_TDLEN(0), v->tx_count * sizeof(union ivf_tx_desc));
	ivf_wr(v, IVF_TDH(0), 0);
	ivf_wr(v, IVF_TDT(0), 0);
	ivf_wr(v, IVF_TDWBAL(0), 0);
	ivf_wr(v, IVF_TDWBAH(0), 0);
	ivf_wr(v, IVF_TXCTL(0), ivf_rd(v, IVF_TXCTL(0)) & ~IVF_TXCTL_WB_RO_EN);
	v->tx_next = v->tx_clean = 0;
	ivf_wr(v, IVF_TXDCTL(0), IVF_XDCTL_ENABLE);

	/* RX */
	ivf_wr(v, IVF_RXDCTL(0), ivf_rd(v, IVF_RXDCTL(0)) & ~IVF_XDCTL_ENABLE);
	ivf_wr(v, IVF_RDBAL(0), (uint32_t)v->rx_ring_dma.iova);
	ivf_wr(v, IVF_RDBAH(0), (uint32_t)(v->rx_ring_dma.iova >> 32));
	ivf_wr(v, IVF_RDLEN(0), v->rx_count * sizeof(union ivf_rx_desc));
	ivf_wr(v, IVF_RDH(0), 0);
	ivf_wr(v, IVF_RDT(0), 0);
	srrctl = IVF_SRRCTL_DROP_EN |
		 ((v->buf_size >> IVF_SRRCTL_BSIZEPKT_SHIFT) &
		  IVF_SRRCTL_BSIZEPKT_MASK);
	if (v->hdr_split)
		srrctl |= IVF_SRRCTL_DESCTYPE_SPLIT_ALWAYS |
			  ((v->hdr_size << IVF_SRRCTL_BSIZEHDR_SHIFT) &
			   IVF_SRRCTL_BSIZEHDR_MASK);
	else
		srrctl |= IVF_SRRCTL_DESCTYPE_ONEBUF;
	ivf_wr(v, IVF_SRRCTL(0), srrctl);
	for (i = 0; i < v->rx_count; i++)
		if (post)
			post(arg, i);
		else
			rx_post(v, i);
	v->rx_next = 0;
	ivf_wr(v, IVF_RXDCTL(0), IVF_XDCTL_ENABLE | IVF_XDCTL_PTHRESH(16) |
	       IVF_XDCTL_HTHRESH(8) | IVF_XDCTL_WTHRESH(1));
	mb_full();
	/* hardware owns [RDH, RDT): keep one slot free */
	ivf_wr(v, IVF_RDT(0), v->rx_count - 1);
}

int ivf_rings_setup(struct ivf *v, const struct ivf_ring_cfg *cfg)
{
	uint64_t iova;
	int ret;

	if (!cfg)
		cfg = &default_cfg;
	if (!cfg->rx_count || cfg->rx_count % IVF_RING_ALIGN_DESC ||
	    !cfg->tx_count || cfg->tx_count % IVF_RING_ALIGN_DESC ||
	    !cfg->buf_size || cfg->buf_size % 1024 ||
	    (cfg->hdr_split && (!cfg->hdr_size || cfg->hdr_size % 64)))
		return -EINVAL;
	ivf_rings_stop(v);

	v->rx_count = cfg->rx_count;
	v->tx_count = cfg->tx_count;
	v->buf_size = cfg->buf_size;
	v->hdr_split = cfg->hdr_split;
	v->hdr_size = cfg->hdr_split ? cfg->hdr_size : 0;

	iova = cfg->iova_base;
	ret = vfio_dma_alloc(v->dev, &v->rx_ring_dma,
			     v->rx_count * sizeof(union ivf_rx_desc), iova);
	if (ret)
		goto fail;
	iova = align_up(iova + v->rx_ring_dma.size, 0x10000);
	ret = vfio_dma_alloc(v->dev, &v->tx_ring_dma,
			     v->tx_count * sizeof(union ivf_tx_desc), iova);
	if (ret)
		goto fail;
	iova = align_up(iova + v->tx_ring_dma.size, 0x10000);
	ret = vfio_dma_alloc(v->dev, &v->rx_buf_dma,
			     (size_t)v->rx_count * v->buf_size, iova);
	if (ret)
		goto fail;
	iova = align_up(iova + v->rx_buf_dma.size, 0x10000);
	ret = vfio_dma_alloc(v->dev, &v->tx_buf_dma,
			     (size_t)v->tx_count * v->buf_size, iova);
	if (ret)
		goto fail;
	iova = align_up(iova + v->tx_buf_dma.size, 0x10000);
	if (v->hdr_split) {
		ret = vfio_dma_alloc(v->dev, &v->rx_hdr_dma,
				     (size_t)v->rx_count * v->hdr_size, iova);
		if (ret)
			goto fail;
		v->rx_tmp = malloc(v->buf_size + v->hdr_size);
		if (!v->rx_tmp) {
			ret = -ENOMEM;
			goto fail;
		}
	}
	v->rings_up = true;
	v->rx_ring = v->rx_ring_dma.vaddr;
	v->tx_ring = v->tx_ring_dma.vaddr;

	ivf_rings_program(v, NULL, NULL);
	return 0;

fail:
	v->rings_up = true;
	ivf_rings_stop(v);
	return ret;
}

unsigned int ivf_tx_pending(const struct ivf *v)
{
	return (v->tx_next + v->tx_count - v->tx_clean) % v->tx_count;
}

unsigned int ivf_tx_clean(struct ivf *v)
{
	unsigned int n = 0;

	while (v->tx_clean != v->tx_next) {
		volatile union ivf_tx_desc *d = &v->tx_ring[v->tx_clean];

		if (!(d->wb.status & IVF_TXD_STAT_DD))
			break;
		v->tx_clean = (v->tx_clean + 1) % v->tx_count;
		n++;
	}
	return n;
}

int ivf_tx_post(struct ivf *v, const void *frame, size_t len)
{
	volatile union ivf_tx_desc *d;
	unsigned int i = v->tx_next;

	if (!v->rings_up || !len || len > v->buf_size || len > 0xffff)
		return -EINVAL;
	if ((i + 1) % v->tx_count == v->tx_clean) {
		ivf_tx_clean(v);
		if ((i + 1) % v->tx_count == v->tx_clean)
			return -EAGAIN;
	}
	memcpy((uint8_t *)v->tx_buf_dma.vaddr + (size_t)i * v->buf_size,
	       frame, len);
	d = &v->tx_ring[i];
	d->read.buffer_addr = v->tx_buf_dma.iova + (uint64_t)i * v->buf_size;
	d->read.cmd_type_len = IVF_TXD_DTYP_DATA | IVF_TXD_CMD_DEXT |
			       IVF_TXD_CMD_EOP | IVF_TXD_CMD_IFCS |
			       IVF_TXD_CMD_RS | (uint32_t)len;
	d->read.olinfo_status = (uint32_t)len << IVF_TXD_PAYLEN_SHIFT;
	v->tx_next = (i + 1) % v->tx_count;
	v->tx_frames++;
	return 0;
}

void ivf_tx_kick(struct ivf *v)
{
	mb_full();
	ivf_wr(v, IVF_TDT(0), v->tx_next);
}

int ivf_tx(struct ivf *v, const void *frame, size_t len)
{
	int ret = ivf_tx_post(v, frame, len);

	if (!ret)
		ivf_tx_kick(v);
	return ret;
}

bool ivf_rx_ready(struct ivf *v)
{
	return v->rings_up &&
	       (v->rx_ring[v->rx_next].wb.status_error & IVF_RXD_STAT_DD);
}

int ivf_rx_poll(struct ivf *v, ivf_rx_cb cb, void *arg, int budget)
{
	unsigned int last = v->rx_next;
	int n = 0;

	if (!v->rings_up)
		return -EINVAL;
	while (n < budget) {
		unsigned int i = v->rx_next;
		volatile union ivf_rx_desc *d = &v->rx_ring[i];
		uint32_t st = d->wb.status_error;
		const uint8_t *data;
		uint32_t len, hlen;

		if (!(st & IVF_RXD_STAT_DD))
			break;
		mb_acquire();
		st = d->wb.status_error;
		len = d->wb.length;
		data = (const uint8_t *)v->rx_buf_dma.vaddr +
		       (size_t)i * v->buf_size;
		if (v->hdr_split) {
			uint16_t hi = d->wb.hdr_info;

			hlen = (hi & IVF_RXD_HDRLEN_MASK) >> IVF_RXD_HDRLEN_SHIFT;
			if (hlen > v->hdr_size)
				hlen = v->hdr_size;
			if ((hi & IVF_RXD_SPH) || hlen) {
				memcpy(v->rx_tmp, (const uint8_t *)v->rx_hdr_dma.vaddr +
				       (size_t)i * v->hdr_size, hlen);
				memcpy(v->rx_tmp + hlen, data,
				       len > v->buf_size ? v->buf_size : len);
				len += hlen;
				data = v->rx_tmp;
			}
		}
		if (len > v->buf_size + v->hdr_size)
			len = v->buf_size + v->hdr_size;
		if ((st & IVF_RXD_ERR_FRAME_MASK) || !(st & IVF_RXD_STAT_EOP))
			v->rx_errors++;
		v->rx_frames++;
		if (cb)
			cb(arg, data, len, st);

		/* give the previous slot (consumed earlier) back */
		rx_post(v, i);
		last = i;
		v->rx_next = (i + 1) % v->rx_count;
		n++;
	}
	if (n) {
		/*
		 * Descriptor 'last' is re-armed but stays the free slot:
		 * RDT = last leaves hardware [RDH, last).
		 */
		mb_full();
		ivf_wr(v, IVF_RDT(0), last);
	}
	return n;
}

/* ------------------------------------------------------------- interrupts */

int ivf_irq_enable(struct ivf *v)
{
	int ret;

	ret = vfio_msix_enable(v->dev, IVF_MSIX_VECTORS);
	if (ret)
		return ret;
	ivf_wr(v, IVF_IVAR0,
	       (IVF_IVAR_VALID | IVF_VEC_RX) << IVF_IVAR0_RX0_SHIFT |
	       (IVF_IVAR_VALID | IVF_VEC_TX) << IVF_IVAR0_TX0_SHIFT);
	ivf_wr(v, IVF_IVAR_MISC, IVF_IVAR_VALID | IVF_VEC_MISC);
	ivf_wr(v, IVF_EITR(IVF_VEC_RX), 0);
	ivf_wr(v, IVF_EITR(IVF_VEC_TX), 0);
	ivf_wr(v, IVF_EIAC, 0x7);
	ivf_wr(v, IVF_EIMS, 0x7);
	v->irq_on = true;
	return 0;
}

void ivf_irq_disable(struct ivf *v)
{
	ivf_wr(v, IVF_EIMC, 0x7);
	vfio_msix_disable(v->dev);
	v->irq_on = false;
}

int ivf_rx_wait(struct ivf *v, int timeout_ms)
{
	int ret;

	if (ivf_rx_ready(v))
		return 1;
	if (!v->irq_on) {
		struct timespec ts = { 0, 100000 };
		int i, loops = timeout_ms * 10;

		for (i = 0; i < loops; i++) {
			if (ivf_rx_ready(v))
				return 1;
			nanosleep(&ts, NULL);
		}
		return 0;
	}
	ret = vfio_irq_wait(v->dev, IVF_VEC_RX, timeout_ms);
	/* re-arm the vector and re-check: frames may predate the wait */
	ivf_wr(v, IVF_EIMS, 1u << IVF_VEC_RX);
	if (ret < 0)
		return ret;
	return ivf_rx_ready(v) ? 1 : 0;
}

int ivf_read_stats(struct ivf *v, struct ivf_stats *s)
{
	static const uint32_t regs[] = {
		IVF_VFGPRC, IVF_VFGPTC, IVF_VFGORC, IVF_VFGOTC, IVF_VFMPRC,
		IVF_VFGPRLBC, IVF_VFGPTLBC, IVF_VFGORLBC, IVF_VFGOTLBC,
	};
	uint32_t vals[9];
	unsigned int i;
	int ret;

	for (i = 0; i < 9; i++) {
		ret = vfio_bar_read32(v->dev, 0, regs[i], &vals[i]);
		if (ret)
			return ret;
	}
	s->gprc = vals[0];
	s->gptc = vals[1];
	s->gorc = vals[2];
	s->gotc = vals[3];
	s->mprc = vals[4];
	s->gprlbc = vals[5];
	s->gptlbc = vals[6];
	s->gorlbc = vals[7];
	s->gotlbc = vals[8];
	return 0;
}

/* -------------------------------------------------------------- migration */

static struct vfio_dma *dma_areas(struct ivf *v, unsigned int i)
{
	struct vfio_dma *a[] = {
		&v->rx_ring_dma, &v->tx_ring_dma, &v->rx_buf_dma,
		&v->tx_buf_dma, &v->rx_hdr_dma,
	};

	return i < sizeof(a) / sizeof(a[0]) ? a[i] : NULL;
}

void ivf_mig_unmap(const struct ivf *src, struct vfio_dev *d)
{
	struct vfio_dma *m;
	unsigned int i;

	for (i = 0; (m = dma_areas((struct ivf *)src, i)); i++)
		if (m->mapped)
			vfio_dma_unmap(d, m->iova, m->size);
}

int ivf_mig_map(const struct ivf *src, struct vfio_dev *d)
{
	struct vfio_dma *m;
	unsigned int i, j;
	int ret;

	for (i = 0; (m = dma_areas((struct ivf *)src, i)); i++) {
		if (!m->mapped)
			continue;
		ret = vfio_dma_map(d, m->vaddr, m->size, m->iova);
		if (ret) {
			for (j = 0; j < i; j++) {
				m = dma_areas((struct ivf *)src, j);
				if (m->mapped)
					vfio_dma_unmap(d, m->iova, m->size);
			}
			return ret;
		}
	}
	return 0;
}

int ivf_adopt(struct ivf *dst, struct vfio_dev *d, const struct ivf *src,
	      enum ivf_access access)
{
	int ret;

	*dst = *src;
	dst->dev = d;
	dst->map = NULL;
	dst->io_errors = 0;
	dst->irq_on = false;
	ret = vfio_enable_mem_bm(d);
	if (!ret)
		ret = ivf_set_access(dst, access);
	if (!ret && src->irq_on) {
		/* IVAR/EITR/EIAC/EIMS come from the stream: eventfds only */
		ret = vfio_msix_enable(d, IVF_MSIX_VECTORS);
		dst->irq_on = !ret;
	}
	if (ret) {
		if (dst->map)
			munmap((void *)dst->map, MAP_LEN);
		memset(dst, 0, sizeof(*dst));
	}
	return ret;
}

void ivf_detach(struct ivf *v)
{
	struct vfio_dma *m;
	unsigned int i;

	if (!v->dev)
		return;
	if (v->irq_on)
		vfio_msix_disable(v->dev);
	if (v->map)
		munmap((void *)v->map, MAP_LEN);
	for (i = 0; (m = dma_areas(v, i)); i++) {
		if (m->mapped && vfio_dev_has_iommu(v->dev))
			vfio_dma_unmap(v->dev, m->iova, m->size);
		memset(m, 0, sizeof(*m));
	}
	v->rx_tmp = NULL;
	v->rx_ring = NULL;
	v->tx_ring = NULL;
	v->rings_up = false;
	v->irq_on = false;
	v->map = NULL;
	v->dev = NULL;
}

/* ---------------------------------------------------------------- helpers */

int ivf_parse_mac(const char *s, uint8_t mac[6])
{
	unsigned int b[6];
	int i;

	if (!s || sscanf(s, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3],
			 &b[4], &b[5]) != 6)
		return -EINVAL;
	for (i = 0; i < 6; i++) {
		if (b[i] > 0xff)
			return -EINVAL;
		mac[i] = b[i];
	}
	return 0;
}

void ivf_format_mac(const uint8_t mac[6], char *buf)
{
	snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1],
		 mac[2], mac[3], mac[4], mac[5]);
}
