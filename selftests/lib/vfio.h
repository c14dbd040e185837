/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Minimal userspace VFIO library for the igbvf-vfio-pci selftests:
 * type1v2 container + group, or the device's cdev bound to iommufd (an
 * IOAS), device fd, regions, DMA, config space, MSI-X with eventfds, reset.
 *
 * Which: vfio_dev_open() opens the group in a type1 container; a test
 * with variants (backends.h) names its backend with vfio_dev_open_backend().
 */
#ifndef IVF_VFIO_H
#define IVF_VFIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/vfio.h>

#define VFIO_DEV_MAX_MAPS 32

struct vfio_dev {
	char bdf[32];
	int group_no;
	int container_fd;	/* group mode, else -1 */
	int group_fd;		/* group mode, else -1 */
	int iommufd;		/* cdev mode: /dev/iommu, else -1 */
	uint32_t ioas_id;	/* cdev mode: the IOAS the device is attached to */
	uint32_t dev_id;	/* cdev mode: the device's iommufd object */
	int fd;
	/*
	 * Dirty reports through the device's DMA logging (log_ops) instead of
	 * the type1 container: the backend's choice, default in cdev mode
	 */
	bool dirty_log;
	/* what this library mapped, for DMA logging's ranges */
	int nmaps;
	struct { uint64_t iova, size; } maps[VFIO_DEV_MAX_MAPS];
	/* cached offsets of the PCI regions inside the device fd */
	uint64_t region_off[VFIO_PCI_NUM_REGIONS];
	uint64_t region_size[VFIO_PCI_NUM_REGIONS];
	uint32_t region_flags[VFIO_PCI_NUM_REGIONS];
	/* MSI-X eventfds, -1 if unused */
	int nirq_fds;
	int irq_fds[8];
};

struct vfio_dma {
	void *vaddr;
	uint64_t iova;
	size_t size;
	bool mapped;
};

enum vfio_open_mode { VFIO_OPEN_DEFAULT, VFIO_OPEN_GROUP, VFIO_OPEN_CDEV };

/*
 * Where dirty pages come from: _DEFAULT (DMA logging with the cdev, the
 * container with the group), the type1 container, or the device's DMA
 * logging.
 */
enum vfio_dirty_mode { VFIO_DIRTY_DEFAULT, VFIO_DIRTY_CONTAINER, VFIO_DIRTY_LOG };

/* how a test reaches the device; all zero: the group, the container */
struct vfio_backend {
	enum vfio_open_mode open;
	enum vfio_dirty_mode dirty;
};

/* open/close; bdf like "0000:00:12.0"; through the group and container */
int vfio_dev_open(struct vfio_dev *d, const char *bdf);
int vfio_dev_open_mode(struct vfio_dev *d, const char *bdf,
		       enum vfio_open_mode mode);
int vfio_dev_open_backend(struct vfio_dev *d, const char *bdf,
			  const struct vfio_backend *b);
/*
 * NULL if this kernel can open @bdf through @b's path (before any open),
 * else why not, in one line
 */
const char *vfio_backend_missing(const char *bdf, const struct vfio_backend *b);
/* an IOMMU (container or IOAS) is there to map into */
static inline bool vfio_dev_has_iommu(const struct vfio_dev *d)
{
	return d->container_fd >= 0 || d->iommufd >= 0;
}
void vfio_dev_close(struct vfio_dev *d);

/*
 * An info ioctl whose struct starts with __u32 argsz and may grow (a
 * capability chain): called with @head (argsz set here), then again with
 * the size the kernel asked for. *out is malloc()ed; free() it. 0 or -errno.
 */
int vfio_ioctl_grow(int fd, unsigned long req, const void *head,
		    size_t head_len, void **out);

/*
 * Region info with the full capability chain.  *out is malloc()ed and
 * holds info->argsz bytes; free() it.  Returns 0 or -errno.
 */
int vfio_region_info(struct vfio_dev *d, uint32_t index,
		     struct vfio_region_info **out);
/* walk the chain: returns the header of capability @id or NULL */
const struct vfio_info_cap_header *
vfio_region_cap_find(const struct vfio_region_info *info, uint16_t id);
/* print every field and the raw capability bytes as '#' lines */
void vfio_region_info_dump(const struct vfio_region_info *info,
			   const char *prefix);

int vfio_irq_info(struct vfio_dev *d, uint32_t index,
		  struct vfio_irq_info *out);

/* DMA: anonymous memory mapped at @iova (page aligned) */
int vfio_dma_alloc(struct vfio_dev *d, struct vfio_dma *m, size_t size,
		   uint64_t iova);
void vfio_dma_free(struct vfio_dev *d, struct vfio_dma *m);
/*
 * Map memory someone else owns (e.g. already mapped in another device's
 * container, as a VMM maps guest RAM into the destination's container) at
 * @iova in @d's container; 0 or -errno. Unmap with vfio_dma_unmap().
 */
int vfio_dma_map(struct vfio_dev *d, void *vaddr, size_t size, uint64_t iova);
int vfio_dma_unmap(struct vfio_dev *d, uint64_t iova, size_t size);

/* region access through read/write on the device fd; returns 0 or -errno */
int vfio_region_pread(struct vfio_dev *d, uint32_t index, uint64_t off,
		      void *buf, size_t len);
int vfio_region_pwrite(struct vfio_dev *d, uint32_t index, uint64_t off,
		       const void *buf, size_t len);
int vfio_bar_read32(struct vfio_dev *d, int bar, uint64_t off, uint32_t *v);
int vfio_bar_write32(struct vfio_dev *d, int bar, uint64_t off, uint32_t v);

/* mmap of a sub-range of a region; returns MAP_FAILED with errno set */
void *vfio_region_mmap(struct vfio_dev *d, uint32_t index, uint64_t off,
		       size_t len);

/* config space */
int vfio_cfg_read(struct vfio_dev *d, uint32_t off, void *buf, size_t len);
int vfio_cfg_write(struct vfio_dev *d, uint32_t off, const void *buf,
		   size_t len);
int vfio_cfg_read16(struct vfio_dev *d, uint32_t off, uint16_t *v);
int vfio_cfg_write16(struct vfio_dev *d, uint32_t off, uint16_t v);
/* set COMMAND.MEM and BUS_MASTER */
int vfio_enable_mem_bm(struct vfio_dev *d);

/* MSI-X: create @n eventfds (d->irq_fds) and route vectors 0..n-1 */
int vfio_msix_enable(struct vfio_dev *d, int n);
int vfio_msix_disable(struct vfio_dev *d);
/* wait on vector @vec: 1 if fired (counter consumed), 0 timeout, -errno */
int vfio_irq_wait(struct vfio_dev *d, int vec, int timeout_ms);

int vfio_dev_reset(struct vfio_dev *d);

/* --- sysfs helpers (sysfs.c) --- */
/* current driver name into @buf ("" if none); 0 or -errno */
int sysfs_pci_driver(const char *bdf, char *buf, size_t len);
/* unbind, set driver_override, probe, verify; 0 or -errno */
int sysfs_pci_bind(const char *bdf, const char *driver);
/* IOMMU group number or -errno */
int sysfs_pci_iommu_group(const char *bdf);
/* read a sysfs attribute of the device as text into @buf */
int sysfs_pci_attr(const char *bdf, const char *attr, char *buf, size_t len);

#endif /* IVF_VFIO_H */
