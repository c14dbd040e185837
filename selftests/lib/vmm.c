// SPDX-License-Identifier: GPL-2.0
/*
 * The VMM's side of a live migration (see vmm.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/pci_regs.h>

#include "ivf_migration.h"
#include "mig.h"
#include "util.h"
#include "vmm.h"

static const char *const arc_names[VMM_NARCS] = {
	[VMM_DST_OPEN] = "dst open",
	[VMM_DST_RESET] = "dst reset as QEMU",
	[VMM_DST_MAP] = "dst map RAM",
	[VMM_DST_RESUMING] = "dst RUNNING->RESUMING",
	[VMM_PRE_COPY] = "RUNNING->PRE_COPY",
	[VMM_PRE_READ] = "PRE_COPY read",
	[VMM_PRE_WRITE] = "PRE_COPY data write",
	[VMM_PRE_P2P] = "PRE_COPY->PRE_COPY_P2P",
	[VMM_STOP] = "RUNNING->STOP",
	[VMM_STOP_COPY] = "->STOP_COPY",
	[VMM_FINAL_READ] = "STOP_COPY read",
	[VMM_SRC_STOP] = "STOP_COPY->STOP",
	[VMM_DST_WRITE] = "RESUMING write",
	[VMM_DST_STOP] = "RESUMING->STOP",
	[VMM_ADOPT] = "dst config space",
	[VMM_DST_P2P] = "STOP->RUNNING_P2P",
	[VMM_DST_RUNNING] = "RUNNING_P2P->RUNNING",
	[VMM_SRC_CLOSE] = "src close",
};

const char *vmm_arc_name(enum vmm_arc a)
{
	return a < VMM_NARCS && arc_names[a] ? arc_names[a] : "?";
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

void vmm_hop_free(struct vmm_hop *h)
{
	free(h->pre);
	free(h->final);
	h->pre = h->final = NULL;
	h->pre_len = h->final_len = 0;
}

/* run one step, timed into h->t_arc[a]; on failure remember it */
#define STEP(a, expr)							\
	({								\
		uint64_t t_ = now_ns();					\
		int r_;							\
									\
		h->t_at[a] = t_;					\
		r_ = (expr);						\
		h->t_arc[a] = now_ns() - t_ + 1;			\
		if (r_ && !h->failed) {					\
			h->failed = vmm_arc_name(a);			\
			h->err = r_;					\
		}							\
		r_;							\
	})

static int read_step(int fd, uint8_t **buf, size_t *len)
{
	ssize_t n = mig_read_all(fd, buf, len);

	return n < 0 ? (int)n : 0;
}

/* undo ivf_adopt without freeing the memory the source still owns */
static void unadopt(struct ivf *dst)
{
	if (dst->map)
		munmap((void *)dst->map, IVF_BAR0_SIZE - IVF_BAR_PAGE_SIZE);
	memset(dst, 0, sizeof(*dst));
}

/*
 * What QEMU's machine reset does to a vfio-pci device before an incoming
 * migration (vfio_pci_pre_reset(), then VFIO_DEVICE_RESET): I/O, memory
 * and bus master off. They stay off until the guest's config space is
 * loaded, after the device state (ivf_adopt() here).
 */
int vmm_qemu_reset(struct vfio_dev *d)
{
	uint16_t cmd;
	int ret;

	ret = vfio_cfg_read16(d, PCI_COMMAND, &cmd);
	if (ret)
		return ret;
	cmd &= ~(PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	ret = vfio_cfg_write16(d, PCI_COMMAND, cmd);
	return ret ? ret : vfio_dev_reset(d);
}

int vmm_migrate(struct ivf *src, struct vfio_dev *sd, struct ivf *dst,
		struct vfio_dev *dd, const char *dst_bdf, struct vmm_hop *h)
{
	int sfd = -1, rfd = -1, fd2 = -1, ret;
	bool src_moved = false, adopted = false, mapped = false;
	size_t pre_written = 0;

	memset(h->t_arc, 0, sizeof(h->t_arc));
	memset(h->t_at, 0, sizeof(h->t_at));
	h->stop_begin = h->stop_end = 0;
	h->data_size = h->precopy_initial = 0;
	h->failed = NULL;
	h->err = 0;
	vmm_hop_free(h);

	/* the destination VMM starts: device, guest RAM, RESUMING */
	ret = STEP(VMM_DST_OPEN,
		   h->backend ? vfio_dev_open_backend(dd, dst_bdf, h->backend) :
				vfio_dev_open(dd, dst_bdf));
	if (ret)
		return ret;
	ret = STEP(VMM_DST_RESET, vmm_qemu_reset(dd));
	if (ret)
		goto fail;
	ret = STEP(VMM_DST_MAP, ivf_mig_map(src, dd));
	if (ret)
		goto fail;
	mapped = true;
	ret = STEP(VMM_DST_RESUMING,
		   mig_set_state(dd, VFIO_DEVICE_STATE_RESUMING, &rfd));
	if (!ret && rfd < 0)
		ret = STEP(VMM_DST_RESUMING, -EBADF);
	if (ret)
		goto fail;

	if (h->precopy) {
		src_moved = true;
		ret = STEP(VMM_PRE_COPY,
			   mig_set_state(sd, VFIO_DEVICE_STATE_PRE_COPY, &sfd));
		if (!ret && sfd < 0)
			ret = STEP(VMM_PRE_COPY, -EBADF);
		if (ret)
			goto fail;
		mig_precopy_info(sfd, &h->precopy_initial, &(uint64_t){ 0 });
		ret = STEP(VMM_PRE_READ, read_step(sfd, &h->pre, &h->pre_len));
		if (ret)
			goto fail;
		ret = STEP(VMM_PRE_WRITE,
			   mig_write_all(rfd, h->pre, h->pre_len, 0));
		if (ret)
			goto fail;
		pre_written = h->pre_len;
		/* the guest still runs while the VMM copies its RAM */
		if (h->guest)
			h->guest(h->guest_arg);
		/* anything new (the guest changed its PF config)? */
		ret = read_step(sfd, &h->pre, &h->pre_len);
		if (!ret && h->pre_len > pre_written)
			ret = mig_write_all(rfd, h->pre + pre_written,
					    h->pre_len - pre_written, 0);
		if (ret) {
			STEP(VMM_PRE_READ, ret);
			goto fail;
		}
		mig_data_size(sd, &h->data_size);
		h->stop_begin = now_ns();
		ret = STEP(VMM_PRE_P2P,
			   mig_set_state(sd, VFIO_DEVICE_STATE_PRE_COPY_P2P,
					 NULL));
		if (ret)
			goto fail;
		ret = STEP(VMM_STOP_COPY,
			   mig_set_state(sd, VFIO_DEVICE_STATE_STOP_COPY, &fd2));
		if (ret)
			goto fail;
		if (fd2 >= 0) {		/* the uAPI keeps the PRE_COPY fd */
			close_fd(&sfd);
			sfd = fd2;
		}
	} else {
		mig_data_size(sd, &h->data_size);
		src_moved = true;
		h->stop_begin = now_ns();
		ret = STEP(VMM_STOP,
			   mig_set_state(sd, VFIO_DEVICE_STATE_STOP, NULL));
		if (ret)
			goto fail;
		ret = STEP(VMM_STOP_COPY,
			   mig_set_state(sd, VFIO_DEVICE_STATE_STOP_COPY, &sfd));
		if (!ret && sfd < 0)
			ret = STEP(VMM_STOP_COPY, -EBADF);
		if (ret)
			goto fail;
	}
	ret = STEP(VMM_FINAL_READ, read_step(sfd, &h->final, &h->final_len));
	if (ret)
		goto fail;
	ret = STEP(VMM_SRC_STOP, mig_set_state(sd, VFIO_DEVICE_STATE_STOP,
					       NULL));
	close_fd(&sfd);
	if (ret)
		goto fail;

	ret = STEP(VMM_DST_WRITE,
		   mig_write_all(rfd, h->final, h->final_len, 0));
	if (ret)
		goto fail;
	ret = STEP(VMM_DST_STOP, mig_set_state(dd, VFIO_DEVICE_STATE_STOP,
					       NULL));
	close_fd(&rfd);
	if (ret)
		goto fail;
	ret = STEP(VMM_ADOPT, ivf_adopt(dst, dd, src, h->access));
	if (ret)
		goto fail;
	adopted = true;
	ret = STEP(VMM_DST_P2P, mig_set_state(dd, VFIO_DEVICE_STATE_RUNNING_P2P,
					      NULL));
	if (ret)
		goto fail;
	ret = STEP(VMM_DST_RUNNING, mig_set_state(dd, VFIO_DEVICE_STATE_RUNNING,
						  NULL));
	h->stop_end = now_ns();
	if (ret)
		goto fail;

	/* the source VMM goes away */
	STEP(VMM_SRC_CLOSE, (ivf_detach(src), vfio_dev_close(sd), 0));
	return 0;

fail:
	close_fd(&sfd);
	close_fd(&rfd);
	if (adopted)
		unadopt(dst);
	if (mapped)
		ivf_mig_unmap(src, dd);
	vfio_dev_close(dd);
	if (src_moved)
		mig_set_state(sd, VFIO_DEVICE_STATE_RUNNING, NULL);
	if (!h->stop_end && h->stop_begin)
		h->stop_end = now_ns();
	return ret;
}

/* the packet at @off, or NULL; *plen its length */
static const struct ivf_mig_hdr *packet_at(const uint8_t *buf, size_t len,
					   size_t off, uint32_t *plen)
{
	const struct ivf_mig_hdr *hd;

	if (len - off < sizeof(*hd))
		return NULL;
	hd = (const void *)(buf + off);
	if (hd->magic != IVF_MIG_MAGIC || hd->length < sizeof(*hd) ||
	    hd->length > len - off)
		return NULL;
	*plen = hd->length;
	return hd;
}

int vmm_count_packets(const uint8_t *buf, size_t len)
{
	size_t off = 0;
	uint32_t plen;
	int n = 0;

	while (off < len) {
		if (!packet_at(buf, len, off, &plen))
			return -1;
		off += plen;
		n++;
	}
	return n;
}

const void *vmm_find_record(const uint8_t *buf, size_t len, uint16_t kind,
			    uint16_t type, uint32_t *plen)
{
	const void *found = NULL;
	size_t off = 0;
	uint32_t pl;

	while (off < len) {
		const struct ivf_mig_hdr *hd = packet_at(buf, len, off, &pl);
		size_t r = sizeof(*hd);

		if (!hd)
			return NULL;
		while (hd->kind == kind && r + sizeof(struct ivf_mig_rec) <= pl) {
			const struct ivf_mig_rec *rec = (const void *)(buf + off + r);

			if (rec->length > pl - r - sizeof(*rec))
				break;
			if (rec->type == type) {
				found = rec + 1;
				*plen = rec->length;
			}
			r += (sizeof(*rec) + rec->length + 7) & ~(size_t)7;
		}
		off += pl;
	}
	return found;
}
