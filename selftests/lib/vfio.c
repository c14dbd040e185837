// SPDX-License-Identifier: GPL-2.0
/*
 * Minimal userspace VFIO library: legacy container + group (type1v2), or
 * the device cdev bound to iommufd.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/iommufd.h>
#include <linux/pci_regs.h>

#include "vfio.h"

static int neg_errno(void)
{
	return errno ? -errno : -EIO;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static int open_group(struct vfio_dev *d)
{
	struct vfio_group_status gs = { .argsz = sizeof(gs) };
	char path[64];

	d->group_no = sysfs_pci_iommu_group(d->bdf);
	if (d->group_no < 0)
		return d->group_no;

	d->container_fd = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	if (d->container_fd < 0)
		return neg_errno();
	if (ioctl(d->container_fd, VFIO_GET_API_VERSION) != VFIO_API_VERSION)
		return -EINVAL;
	if (ioctl(d->container_fd, VFIO_CHECK_EXTENSION,
		  VFIO_TYPE1v2_IOMMU) <= 0)
		return -EOPNOTSUPP;

	snprintf(path, sizeof(path), "/dev/vfio/%d", d->group_no);
	d->group_fd = open(path, O_RDWR | O_CLOEXEC);
	if (d->group_fd < 0)
		return neg_errno();
	if (ioctl(d->group_fd, VFIO_GROUP_GET_STATUS, &gs))
		return neg_errno();
	if (!(gs.flags & VFIO_GROUP_FLAGS_VIABLE))
		return -EBUSY;
	if (ioctl(d->group_fd, VFIO_GROUP_SET_CONTAINER, &d->container_fd))
		return neg_errno();
	if (ioctl(d->container_fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU))
		return neg_errno();

	d->fd = ioctl(d->group_fd, VFIO_GROUP_GET_DEVICE_FD, d->bdf);
	if (d->fd < 0)
		return neg_errno();
	return 0;
}

/* /sys/bus/pci/devices/BDF/vfio-dev/vfioN -> /dev/vfio/devices/vfioN */
static int open_cdev(struct vfio_dev *d)
{
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	struct vfio_device_attach_iommufd_pt at = { .argsz = sizeof(at) };
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	char path[128], name[64] = "";
	struct dirent *e;
	DIR *dir;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vfio-dev", d->bdf);
	dir = opendir(path);
	if (!dir)
		return -ENODEV;	/* no CONFIG_VFIO_DEVICE_CDEV, or not vfio */
	while ((e = readdir(dir)))
		if (!strncmp(e->d_name, "vfio", 4))
			snprintf(name, sizeof(name), "%.60s", e->d_name);
	closedir(dir);
	if (!name[0])
		return -ENODEV;
	snprintf(path, sizeof(path), "/dev/vfio/devices/%s", name);
	d->fd = open(path, O_RDWR | O_CLOEXEC);
	if (d->fd < 0)
		return neg_errno();
	d->iommufd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	if (d->iommufd < 0)
		return neg_errno();
	bind.iommufd = d->iommufd;
	if (ioctl(d->fd, VFIO_DEVICE_BIND_IOMMUFD, &bind))
		return neg_errno();
	d->dev_id = bind.out_devid;
	if (ioctl(d->iommufd, IOMMU_IOAS_ALLOC, &alloc))
		return neg_errno();
	d->ioas_id = alloc.out_ioas_id;
	at.pt_id = d->ioas_id;
	if (ioctl(d->fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at))
		return neg_errno();
	return 0;
}

int vfio_dev_open_backend(struct vfio_dev *d, const char *bdf,
			  const struct vfio_backend *b)
{
	enum vfio_open_mode mode = b->open;
	int ret, i;

	memset(d, 0, sizeof(*d));
	d->container_fd = d->group_fd = d->iommufd = d->fd = -1;
	d->group_no = -1;
	for (i = 0; i < (int)(sizeof(d->irq_fds) / sizeof(d->irq_fds[0])); i++)
		d->irq_fds[i] = -1;
	snprintf(d->bdf, sizeof(d->bdf), "%s", bdf);
	if (mode == VFIO_OPEN_DEFAULT)
		mode = VFIO_OPEN_GROUP;
	if (b->dirty == VFIO_DIRTY_DEFAULT)
		d->dirty_log = mode == VFIO_OPEN_CDEV;
	else
		d->dirty_log = b->dirty == VFIO_DIRTY_LOG;

	ret = mode == VFIO_OPEN_CDEV ? open_cdev(d) : open_group(d);
	if (ret) {
		vfio_dev_close(d);
		return ret;
	}
	for (i = 0; i < VFIO_PCI_NUM_REGIONS; i++) {
		struct vfio_region_info ri = {
			.argsz = sizeof(ri), .index = i,
		};

		if (ioctl(d->fd, VFIO_DEVICE_GET_REGION_INFO, &ri))
			continue;
		d->region_off[i] = ri.offset;
		d->region_size[i] = ri.size;
		d->region_flags[i] = ri.flags;
	}
	return 0;
}

int vfio_dev_open_mode(struct vfio_dev *d, const char *bdf,
		       enum vfio_open_mode mode)
{
	struct vfio_backend b = { .open = mode, .dirty = VFIO_DIRTY_DEFAULT };

	return vfio_dev_open_backend(d, bdf, &b);
}

const char *vfio_backend_missing(const char *bdf, const struct vfio_backend *b)
{
	char path[128];

	if (b->open != VFIO_OPEN_CDEV)
		return NULL;
	if (access("/dev/iommu", F_OK))
		return "no /dev/iommu: this kernel has no IOMMUFD";
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vfio-dev", bdf);
	if (access(path, F_OK))
		return "no vfio device cdev (CONFIG_VFIO_DEVICE_CDEV)";
	return NULL;
}

int vfio_dev_open(struct vfio_dev *d, const char *bdf)
{
	return vfio_dev_open_mode(d, bdf, VFIO_OPEN_DEFAULT);
}

void vfio_dev_close(struct vfio_dev *d)
{
	if (d->nirq_fds && d->fd >= 0)
		vfio_msix_disable(d);
	close_fd(&d->fd);
	if (d->group_fd >= 0)
		ioctl(d->group_fd, VFIO_GROUP_UNSET_CONTAINER);
	close_fd(&d->group_fd);
	close_fd(&d->container_fd);
	close_fd(&d->iommufd);
	d->nmaps = 0;
}

int vfio_ioctl_grow(int fd, unsigned long req, const void *head,
		    size_t head_len, void **out)
{
	uint32_t argsz = head_len;
	uint32_t *buf;

	*out = NULL;
	for (;;) {
		buf = calloc(1, argsz);
		if (!buf)
			return -ENOMEM;
		memcpy(buf, head, head_len);
		buf[0] = argsz;
		if (ioctl(fd, req, buf)) {
			int ret = neg_errno();

			free(buf);
			return ret;
		}
		if (buf[0] <= argsz)
			break;
		argsz = buf[0];
		free(buf);
	}
	*out = buf;
	return 0;
}

int vfio_region_info(struct vfio_dev *d, uint32_t index,
		     struct vfio_region_info **out)
{
	struct vfio_region_info head = { .index = index };

	return vfio_ioctl_grow(d->fd, VFIO_DEVICE_GET_REGION_INFO, &head,
			       sizeof(head), (void **)out);
}

const struct vfio_info_cap_header *
vfio_region_cap_find(const struct vfio_region_info *info, uint16_t id)
{
	const struct vfio_info_cap_header *h;
	uint32_t off;
	int guard = 0;

	if (!(info->flags & VFIO_REGION_INFO_FLAG_CAPS))
		return NULL;
	for (off = info->cap_offset; off && guard < 64; guard++) {
		if (off + sizeof(*h) > info->argsz)
			return NULL;
		h = (const void *)((const char *)info + off);
		if (h->id == id)
			return h;
		off = h->next;
	}
	return NULL;
}

void vfio_region_info_dump(const struct vfio_region_info *info,
			   const char *prefix)
{
	const unsigned char *p = (const void *)info;
	uint32_t off;
	int guard = 0;

	printf("# %sregion %u: argsz=%u flags=0x%x cap_offset=%u size=0x%llx offset=0x%llx\n",
	       prefix, info->index, info->argsz, info->flags, info->cap_offset,
	       (unsigned long long)info->size,
	       (unsigned long long)info->offset);
	if (!(info->flags & VFIO_REGION_INFO_FLAG_CAPS))
		return;
	for (off = info->cap_offset; off && guard < 64; guard++) {
		const struct vfio_info_cap_header *h = (const void *)(p + off);
		uint32_t end = h->next ? h->next : info->argsz;
		uint32_t i;

		if (off + sizeof(*h) > info->argsz || end > info->argsz ||
		    end <= off) {
			printf("# %s  cap at %u: malformed chain\n", prefix, off);
			return;
		}
		printf("# %s  cap@%u id=%u version=%u next=%u bytes:", prefix,
		       off, h->id, h->version, h->next);
		for (i = off; i < end; i++)
			printf(" %02x", p[i]);
		printf("\n");
		if (h->id == VFIO_REGION_INFO_CAP_SPARSE_MMAP) {
			const struct vfio_region_info_cap_sparse_mmap *s =
				(const void *)h;

			for (i = 0; i < s->nr_areas; i++)
				printf("# %s    sparse area %u: offset=0x%llx size=0x%llx\n",
				       prefix, i,
				       (unsigned long long)s->areas[i].offset,
				       (unsigned long long)s->areas[i].size);
		}
		off = h->next;
	}
}

int vfio_irq_info(struct vfio_dev *d, uint32_t index,
		  struct vfio_irq_info *out)
{
	memset(out, 0, sizeof(*out));
	out->argsz = sizeof(*out);
	out->index = index;
	if (ioctl(d->fd, VFIO_DEVICE_GET_IRQ_INFO, out))
		return neg_errno();
	return 0;
}

static void maps_add(struct vfio_dev *d, uint64_t iova, uint64_t size)
{
	if (d->nmaps < VFIO_DEV_MAX_MAPS) {
		d->maps[d->nmaps].iova = iova;
		d->maps[d->nmaps].size = size;
		d->nmaps++;
	}
}

static void maps_del(struct vfio_dev *d, uint64_t iova, uint64_t size)
{
	int i;

	for (i = 0; i < d->nmaps; i++) {
		if (d->maps[i].iova != iova || d->maps[i].size != size)
			continue;
		d->maps[i] = d->maps[--d->nmaps];
		return;
	}
}

int vfio_dma_map(struct vfio_dev *d, void *vaddr, size_t size, uint64_t iova)
{
	if (d->iommufd >= 0) {
		struct iommu_ioas_map map = {
			.size = sizeof(map),
			.flags = IOMMU_IOAS_MAP_FIXED_IOVA |
				 IOMMU_IOAS_MAP_READABLE |
				 IOMMU_IOAS_MAP_WRITEABLE,
			.ioas_id = d->ioas_id,
			.user_va = (uintptr_t)vaddr,
			.length = size,
			.iova = iova,
		};

		if (ioctl(d->iommufd, IOMMU_IOAS_MAP, &map))
			return neg_errno();
	} else {
		struct vfio_iommu_type1_dma_map map = {
			.argsz = sizeof(map),
			.flags = VFIO_DMA_MAP_FLAG_READ |
				 VFIO_DMA_MAP_FLAG_WRITE,
			.vaddr = (uintptr_t)vaddr,
			.iova = iova,
			.size = size,
		};

		if (ioctl(d->container_fd, VFIO_IOMMU_MAP_DMA, &map))
			return neg_errno();
	}
	maps_add(d, iova, size);
	return 0;
}

int vfio_dma_unmap(struct vfio_dev *d, uint64_t iova, size_t size)
{
	uint64_t done;

	if (d->iommufd >= 0) {
		struct iommu_ioas_unmap unmap = {
			.size = sizeof(unmap), .ioas_id = d->ioas_id,
			.iova = iova, .length = size,
		};

		if (ioctl(d->iommufd, IOMMU_IOAS_UNMAP, &unmap))
			return neg_errno();
		done = unmap.length;
	} else {
		struct vfio_iommu_type1_dma_unmap unmap = {
			.argsz = sizeof(unmap), .iova = iova, .size = size,
		};

		if (ioctl(d->container_fd, VFIO_IOMMU_UNMAP_DMA, &unmap))
			return neg_errno();
		done = unmap.size;
	}
	maps_del(d, iova, size);
	return done == size ? 0 : -EIO;
}

int vfio_dma_alloc(struct vfio_dev *d, struct vfio_dma *m, size_t size,
		   uint64_t iova)
{
	long pg = sysconf(_SC_PAGESIZE);
	int ret;

	memset(m, 0, sizeof(*m));
	size = (size + pg - 1) & ~(size_t)(pg - 1);
	m->vaddr = mmap(NULL, size, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m->vaddr == MAP_FAILED) {
		m->vaddr = NULL;
		return neg_errno();
	}
	m->size = size;
	m->iova = iova;
	/* a forked child must never get (a COW copy of) DMA memory */
	madvise(m->vaddr, size, MADV_DONTFORK);

	ret = vfio_dma_map(d, m->vaddr, size, iova);
	if (ret) {
		munmap(m->vaddr, size);
		m->vaddr = NULL;
		return ret;
	}
	m->mapped = true;
	return 0;
}

void vfio_dma_free(struct vfio_dev *d, struct vfio_dma *m)
{
	if (m->mapped && vfio_dev_has_iommu(d))
		vfio_dma_unmap(d, m->iova, m->size);
	if (m->vaddr)
		munmap(m->vaddr, m->size);
	memset(m, 0, sizeof(*m));
}

int vfio_region_pread(struct vfio_dev *d, uint32_t index, uint64_t off,
		      void *buf, size_t len)
{
	ssize_t r;

	if (index >= VFIO_PCI_NUM_REGIONS)
		return -EINVAL;
	r = pread(d->fd, buf, len, d->region_off[index] + off);
	if (r < 0)
		return neg_errno();
	return (size_t)r == len ? 0 : -EIO;
}

int vfio_region_pwrite(struct vfio_dev *d, uint32_t index, uint64_t off,
		       const void *buf, size_t len)
{
	ssize_t r;

	if (index >= VFIO_PCI_NUM_REGIONS)
		return -EINVAL;
	r = pwrite(d->fd, buf, len, d->region_off[index] + off);
	if (r < 0)
		return neg_errno();
	return (size_t)r == len ? 0 : -EIO;
}

int vfio_bar_read32(struct vfio_dev *d, int bar, uint64_t off, uint32_t *v)
{
	return vfio_region_pread(d, VFIO_PCI_BAR0_REGION_INDEX + bar, off, v,
				 sizeof(*v));
}

int vfio_bar_write32(struct vfio_dev *d, int bar, uint64_t off, uint32_t v)
{
	return vfio_region_pwrite(d, VFIO_PCI_BAR0_REGION_INDEX + bar, off, &v,
				  sizeof(v));
}

void *vfio_region_mmap(struct vfio_dev *d, uint32_t index, uint64_t off,
		       size_t len)
{
	if (index >= VFIO_PCI_NUM_REGIONS) {
		errno = EINVAL;
		return MAP_FAILED;
	}
	return mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, d->fd,
		    d->region_off[index] + off);
}

int vfio_cfg_read(struct vfio_dev *d, uint32_t off, void *buf, size_t len)
{
	return vfio_region_pread(d, VFIO_PCI_CONFIG_REGION_INDEX, off, buf, len);
}

int vfio_cfg_write(struct vfio_dev *d, uint32_t off, const void *buf,
		   size_t len)
{
	return vfio_region_pwrite(d, VFIO_PCI_CONFIG_REGION_INDEX, off, buf,
				  len);
}

int vfio_cfg_read16(struct vfio_dev *d, uint32_t off, uint16_t *v)
{
	return vfio_cfg_read(d, off, v, sizeof(*v));
}

int vfio_cfg_write16(struct vfio_dev *d, uint32_t off, uint16_t v)
{
	return vfio_cfg_write(d, off, &v, sizeof(v));
}

int vfio_enable_mem_bm(struct vfio_dev *d)
{
	uint16_t cmd;
	int ret;

	ret = vfio_cfg_read16(d, PCI_COMMAND, &cmd);
	if (ret)
		return ret;
	cmd |= PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	return vfio_cfg_write16(d, PCI_COMMAND, cmd);
}

static int msix_set(struct vfio_dev *d, int n, const int *fds)
{
	size_t sz = sizeof(struct vfio_irq_set) + sizeof(int32_t) * n;
	struct vfio_irq_set *set = calloc(1, sz);
	int ret = 0;

	if (!set)
		return -ENOMEM;
	set->argsz = sz;
	set->index = VFIO_PCI_MSIX_IRQ_INDEX;
	set->start = 0;
	set->count = n;
	if (n) {
		set->flags = VFIO_IRQ_SET_DATA_EVENTFD |
			     VFIO_IRQ_SET_ACTION_TRIGGER;
		memcpy(set->data, fds, sizeof(int32_t) * n);
	} else {
		set->flags = VFIO_IRQ_SET_DATA_NONE |
			     VFIO_IRQ_SET_ACTION_TRIGGER;
	}
	if (ioctl(d->fd, VFIO_DEVICE_SET_IRQS, set))
		ret = neg_errno();
	free(set);
	return ret;
}

int vfio_msix_enable(struct vfio_dev *d, int n)
{
	int i, ret;

	if (n <= 0 || n > (int)(sizeof(d->irq_fds) / sizeof(d->irq_fds[0])))
		return -EINVAL;
	if (d->nirq_fds)
		vfio_msix_disable(d);
	for (i = 0; i < n; i++) {
		d->irq_fds[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (d->irq_fds[i] < 0) {
			ret = neg_errno();
			goto fail;
		}
	}
	ret = msix_set(d, n, d->irq_fds);
	if (ret)
		goto fail;
	d->nirq_fds = n;
	return 0;
fail:
	for (i = 0; i < n; i++)
		close_fd(&d->irq_fds[i]);
	return ret;
}

int vfio_msix_disable(struct vfio_dev *d)
{
	int i, ret;

	ret = msix_set(d, 0, NULL);
	for (i = 0; i < d->nirq_fds; i++)
		close_fd(&d->irq_fds[i]);
	d->nirq_fds = 0;
	return ret;
}

int vfio_irq_wait(struct vfio_dev *d, int vec, int timeout_ms)
{
	struct pollfd pfd;
	uint64_t cnt;
	int r;

	if (vec < 0 || vec >= d->nirq_fds)
		return -EINVAL;
	pfd.fd = d->irq_fds[vec];
	pfd.events = POLLIN;
	r = poll(&pfd, 1, timeout_ms);
	if (r < 0)
		return neg_errno();
	if (r == 0)
		return 0;
	if (read(pfd.fd, &cnt, sizeof(cnt)) != sizeof(cnt))
		return errno == EAGAIN ? 0 : neg_errno();
	return 1;
}

int vfio_dev_reset(struct vfio_dev *d)
{
	if (ioctl(d->fd, VFIO_DEVICE_RESET))
		return neg_errno();
	return 0;
}
