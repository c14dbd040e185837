// SPDX-License-Identifier: GPL-2.0
/*
 * Dirty page tracking from the VMM's side (see dirty.h).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "dirty.h"
#include "util.h"

static int neg_errno(void)
{
	return errno ? -errno : -EIO;
}

/* ------------------------------------------------------------- container */

/* ----------------------------------------------------------- DMA logging */

/* VFIO_DEVICE_FEATURE @flags | @feature with @len bytes of @data in/out */
static int dev_feature(struct vfio_dev *d, uint32_t flags, void *data,
		       size_t len)
{
	uint64_t buf[(sizeof(struct vfio_device_feature) + 64 + 7) / 8];
	struct vfio_device_feature *f = (void *)buf;
	int ret = 0;

	if (len > 64)
		return -EINVAL;
	memset(buf, 0, sizeof(buf));
	f->argsz = sizeof(*f) + len;
	f->flags = flags;
	memcpy(f->data, data, len);
	if (ioctl(d->fd, VFIO_DEVICE_FEATURE, f))
		ret = neg_errno();
	memcpy(data, f->data, len);
	return ret;
}

int dirty_log_probe(struct vfio_dev *d)
{
	return dev_feature(d, VFIO_DEVICE_FEATURE_PROBE |
			   VFIO_DEVICE_FEATURE_SET |
			   VFIO_DEVICE_FEATURE_DMA_LOGGING_START, NULL, 0);
}

int dirty_log_start(struct vfio_dev *d,
		    const struct vfio_device_feature_dma_logging_range *r,
		    uint32_t n, uint64_t *page_size)
{
	struct vfio_device_feature_dma_logging_control c = {
		.page_size = *page_size, .num_ranges = n,
		.ranges = (uintptr_t)r,
	};
	int ret;

	ret = dev_feature(d, VFIO_DEVICE_FEATURE_SET |
			  VFIO_DEVICE_FEATURE_DMA_LOGGING_START, &c, sizeof(c));
	if (!ret)
		*page_size = c.page_size;
	return ret;
}

int dirty_log_stop(struct vfio_dev *d)
{
	return dev_feature(d, VFIO_DEVICE_FEATURE_SET |
			   VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP, NULL, 0);
}

int dirty_log_report(struct vfio_dev *d, uint64_t iova, uint64_t length,
		     uint64_t page_size, uint64_t *bm)
{
	struct vfio_device_feature_dma_logging_report r = {
		.iova = iova, .length = length, .page_size = page_size,
		.bitmap = (uintptr_t)bm,
	};

	return dev_feature(d, VFIO_DEVICE_FEATURE_GET |
			   VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT, &r, sizeof(r));
}

/*
 * What the library mapped, as one range from the lowest to the highest
 * mapped IOVA (as QEMU does below 4 GiB); 0 or -ENOENT if nothing is.
 */
int dirty_log_span(const struct vfio_dev *d,
		   struct vfio_device_feature_dma_logging_range *r)
{
	uint64_t lo = UINT64_MAX, hi = 0;
	int i;

	for (i = 0; i < d->nmaps; i++) {
		if (d->maps[i].iova < lo)
			lo = d->maps[i].iova;
		if (d->maps[i].iova + d->maps[i].size > hi)
			hi = d->maps[i].iova + d->maps[i].size;
	}
	if (hi <= lo)
		return -ENOENT;
	r->iova = lo;
	r->length = hi - lo;
	return 0;
}

/* ------------------------------------------------------------- container */

int dirty_caps(struct vfio_dev *d, uint64_t *pgsizes, uint64_t *max_bitmap)
{
	struct vfio_iommu_type1_info head = { 0 }, *info;
	struct vfio_info_cap_header *h;
	int guard = 0, ret;
	uint32_t off;

	if (d->dirty_log) {
		ret = dirty_log_probe(d);
		*pgsizes = ret ? 0 : DIRTY_PGSIZE;
		*max_bitmap = ret ? 0 : UINT64_MAX;
		return ret;
	}
	ret = vfio_ioctl_grow(d->container_fd, VFIO_IOMMU_GET_INFO, &head,
			      sizeof(head), (void **)&info);
	if (ret)
		return ret;
	ret = -ENOENT;
	if (info->flags & VFIO_IOMMU_INFO_CAPS) {
		for (off = info->cap_offset; off && guard < 32; guard++) {
			if (off + sizeof(*h) > info->argsz)
				break;
			h = (void *)((char *)info + off);
			if (h->id == VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION &&
			    off + sizeof(struct vfio_iommu_type1_info_cap_migration) <=
			    info->argsz) {
				struct vfio_iommu_type1_info_cap_migration *c =
					(void *)h;

				*pgsizes = c->pgsize_bitmap;
				*max_bitmap = c->max_dirty_bitmap_size;
				ret = 0;
				break;
			}
			off = h->next;
		}
	}
	free(info);
	return ret;
}

static int dirty_flag(struct vfio_dev *d, uint32_t flag)
{
	struct vfio_iommu_type1_dirty_bitmap db = {
		.argsz = sizeof(db), .flags = flag,
	};

	if (ioctl(d->container_fd, VFIO_IOMMU_DIRTY_PAGES, &db))
		return neg_errno();
	return 0;
}

int dirty_start(struct vfio_dev *d)
{
	struct vfio_device_feature_dma_logging_range r;
	uint64_t pgsize = DIRTY_PGSIZE;
	int ret;

	if (!d->dirty_log)
		return dirty_flag(d, VFIO_IOMMU_DIRTY_PAGES_FLAG_START);
	ret = dirty_log_span(d, &r);
	if (!ret)
		ret = dirty_log_start(d, &r, 1, &pgsize);
	if (!ret && pgsize != DIRTY_PGSIZE)
		ret = -EPROTO;	/* the driver promised 4 KiB */
	return ret;
}

int dirty_stop(struct vfio_dev *d)
{
	if (d->dirty_log)
		return dirty_log_stop(d);
	return dirty_flag(d, VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP);
}

int dirty_get(struct vfio_dev *d, uint64_t iova, uint64_t size, uint64_t *bm)
{
	uint64_t buf[(sizeof(struct vfio_iommu_type1_dirty_bitmap) +
		      sizeof(struct vfio_iommu_type1_dirty_bitmap_get) + 7) / 8];
	struct vfio_iommu_type1_dirty_bitmap *db = (void *)buf;
	struct vfio_iommu_type1_dirty_bitmap_get *range = (void *)db->data;
	size_t words = dirty_bm_words(size);

	memset(bm, 0, words * 8);
	if (d->dirty_log)
		return dirty_log_report(d, iova, size, DIRTY_PGSIZE, bm);
	memset(buf, 0, sizeof(buf));
	db->argsz = sizeof(*db) + sizeof(*range);
	db->flags = VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP;
	range->iova = iova;
	range->size = size;
	range->bitmap.pgsize = DIRTY_PGSIZE;
	range->bitmap.size = words * 8;
	range->bitmap.data = (void *)bm;
	if (ioctl(d->container_fd, VFIO_IOMMU_DIRTY_PAGES, db))
		return neg_errno();
	return 0;
}

int dirty_unmap(struct vfio_dev *d, uint64_t iova, uint64_t size)
{
	return vfio_dma_unmap(d, iova, size);
}

/* ---------------------------------------------------------------- bitmaps */

size_t bm_count(const uint64_t *bm, size_t nbits)
{
	size_t i, n = 0;

	for (i = 0; i < nbits / 64; i++)
		n += __builtin_popcountll(bm[i]);
	if (nbits % 64)
		n += __builtin_popcountll(bm[i] & ((1ull << (nbits % 64)) - 1));
	return n;
}

size_t bm_count_andnot(const uint64_t *a, const uint64_t *b, size_t nbits)
{
	size_t i, n = 0;

	for (i = 0; i < nbits / 64; i++)
		n += __builtin_popcountll(a[i] & ~b[i]);
	if (nbits % 64)
		n += __builtin_popcountll(a[i] & ~b[i] &
					  ((1ull << (nbits % 64)) - 1));
	return n;
}

/* ---------------------------------------------------------- guest memory */

int dmem_add(struct dmem *m, const char *name, void *vaddr, uint64_t iova,
	     size_t size, enum dmem_kind kind)
{
	struct dmem_region *r;

	if (m->n >= DMEM_MAX_REGIONS || !size || (size | iova) % DIRTY_PGSIZE ||
	    ((uintptr_t)vaddr % DIRTY_PGSIZE))
		return -EINVAL;
	r = &m->r[m->n++];
	memset(r, 0, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "%s", name);
	r->vaddr = vaddr;
	r->iova = iova;
	r->size = size;
	r->kind = kind;
	return 0;
}

size_t dmem_words(const struct dmem *m)
{
	return (m->npages + 63) / 64;
}

int dmem_finish(struct dmem *m, bool snapshots)
{
	int i;

	if (!m->n)
		return -EINVAL;
	m->lo = UINT64_MAX;
	m->hi = 0;
	for (i = 0; i < m->n; i++) {
		if (m->r[i].iova < m->lo)
			m->lo = m->r[i].iova;
		if (m->r[i].iova + m->r[i].size > m->hi)
			m->hi = m->r[i].iova + m->r[i].size;
	}
	m->npages = (m->hi - m->lo) >> DIRTY_PGSHIFT;
	m->mapped = calloc(dmem_words(m), 8);
	if (!m->mapped)
		return -ENOMEM;
	for (i = 0; i < m->n; i++) {
		dmem_mark_range(m, m->r[i].iova, m->r[i].size, m->mapped);
		if (!snapshots)
			continue;
		m->r[i].snap = malloc(m->r[i].size);
		if (!m->r[i].snap)
			return -ENOMEM;
		memcpy(m->r[i].snap, m->r[i].vaddr, m->r[i].size);
	}
	return 0;
}

void dmem_free(struct dmem *m)
{
	int i;

	for (i = 0; i < m->n; i++) {
		free(m->r[i].snap);
		m->r[i].snap = NULL;
	}
	free(m->mapped);
	memset(m, 0, sizeof(*m));
}

const struct dmem_region *dmem_find(const struct dmem *m, uint64_t iova,
				    size_t len)
{
	int i;

	for (i = 0; i < m->n; i++) {
		const struct dmem_region *r = &m->r[i];

		if (iova >= r->iova && len <= r->size &&
		    iova - r->iova <= r->size - len)
			return r;
	}
	return NULL;
}

const struct dmem_region *dmem_region_of(const struct dmem *m, size_t pg)
{
	return dmem_find(m, m->lo + ((uint64_t)pg << DIRTY_PGSHIFT), 1);
}

void *dmem_va(const struct dmem *m, uint64_t iova, size_t len)
{
	const struct dmem_region *r = dmem_find(m, iova, len);

	return r ? r->vaddr + (iova - r->iova) : NULL;
}

void dmem_mark_range(const struct dmem *m, uint64_t iova, size_t len,
		     uint64_t *bm)
{
	uint64_t a, end;

	if (!len || iova < m->lo || iova >= m->hi)
		return;
	end = iova + len > m->hi ? m->hi : iova + len;
	for (a = iova & ~(DIRTY_PGSIZE - 1); a < end; a += DIRTY_PGSIZE)
		bm_set(bm, dmem_pg(m, a));
}

void dmem_mark_kind(const struct dmem *m, enum dmem_kind kind, uint64_t *bm)
{
	int i;

	for (i = 0; i < m->n; i++)
		if (m->r[i].kind == kind)
			dmem_mark_range(m, m->r[i].iova, m->r[i].size, bm);
}

void dmem_fill(struct dmem_region *r, uint32_t seed)
{
	size_t off;

	for (off = 0; off < r->size; off += 4) {
		uint32_t x = (uint32_t)((r->iova + off) >> 2) * 2654435761u;

		x ^= seed;
		memcpy(r->vaddr + off, &x, 4);
	}
}

size_t dmem_snap_diff(struct dmem *m, uint64_t *changed)
{
	size_t n = 0, off;
	int i;

	if (changed)
		memset(changed, 0, dmem_words(m) * 8);
	for (i = 0; i < m->n; i++) {
		struct dmem_region *r = &m->r[i];

		if (!r->snap)
			continue;
		for (off = 0; off < r->size; off += DIRTY_PGSIZE) {
			if (!memcmp(r->snap + off, r->vaddr + off, DIRTY_PGSIZE))
				continue;
			/*
			 * The page may change again while it is copied: that
			 * write is then seen by the next diff, which is what
			 * the ordering in the tests relies on.
			 */
			memcpy(r->snap + off, r->vaddr + off, DIRTY_PGSIZE);
			if (changed)
				bm_set(changed, dmem_pg(m, r->iova + off));
			n++;
		}
	}
	return n;
}

void dmem_snap(struct dmem *m)
{
	int i;

	for (i = 0; i < m->n; i++)
		if (m->r[i].snap)
			memcpy(m->r[i].snap, m->r[i].vaddr, m->r[i].size);
}

int dirty_get_dmem(struct vfio_dev *d, const struct dmem *m, uint64_t *bm)
{
	static uint64_t *tmp;
	static size_t tmp_words;
	size_t words, i, base;
	int r, ret;

	memset(bm, 0, dmem_words(m) * 8);
	for (r = 0; r < m->n; r++) {
		const struct dmem_region *reg = &m->r[r];

		words = dirty_bm_words(reg->size);
		if (words > tmp_words) {
			free(tmp);
			tmp = calloc(words, 8);
			if (!tmp) {
				tmp_words = 0;
				return -ENOMEM;
			}
			tmp_words = words;
		}
		ret = dirty_get(d, reg->iova, reg->size, tmp);
		if (ret)
			return ret;
		base = dmem_pg(m, reg->iova);
		for (i = 0; i < words; i++) {
			uint64_t w = tmp[i];

			while (w) {
				size_t pg = i * 64 + __builtin_ctzll(w);

				w &= w - 1;
				if (pg < reg->size >> DIRTY_PGSHIFT)
					bm_set(bm, base + pg);
			}
		}
	}
	return 0;
}

/* ----------------------------------------------------- driver (debugfs) */

int ivf_dbg_read(const char *bdf, const char *file, char *buf, size_t len)
{
	char path[256];
	FILE *f;
	size_t n;

	buf[0] = 0;
	snprintf(path, sizeof(path), "/sys/kernel/debug/igbvf-vfio-pci/%s/%s",
		 bdf, file);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	n = fread(buf, 1, len - 1, f);
	buf[n] = 0;
	fclose(f);
	return 0;
}

int ivf_dbg_u64(const char *bdf, const char *file, const char *key,
		uint64_t *val)
{
	char buf[4096], *p, *end;
	size_t klen = strlen(key);
	int ret;

	ret = ivf_dbg_read(bdf, file, buf, sizeof(buf));
	if (ret)
		return ret;
	for (p = buf; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (strncmp(p, key, klen) || (p[klen] != ' ' && p[klen] != ':' &&
					      p[klen] != '\t' && p[klen] != '='))
			continue;
		p += klen;
		while (*p == ' ' || *p == ':' || *p == '\t' || *p == '=')
			p++;
		errno = 0;
		*val = strtoull(p, &end, 0);
		if (end == p || errno)
			return -EINVAL;
		return 0;
	}
	return -ENOENT;
}

/*
 * The PF configuration lines of @bdf's debugfs pf_config (cts, mac, uc, mc,
 * vlans, max_frame, promisc), each followed by @sep; not the per-device
 * mailbox state and statistics offsets after them. 0 or -errno.
 */
int ivf_pf_config_lines(const char *bdf, char *buf, size_t len,
			const char *sep)
{
	static const char *const keys[] = {
		"cts ", "mac ", "uc ", "mc ", "vlans ", "max_frame ", "promisc ",
	};
	char raw[2048], *line, *save = NULL;
	size_t o = 0, k;
	int ret;

	ret = ivf_dbg_read(bdf, "pf_config", raw, sizeof(raw));
	if (ret)
		return ret;
	buf[0] = '\0';
	for (line = strtok_r(raw, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save))
		for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
			if (!strncmp(line, keys[k], strlen(keys[k])) &&
			    o < len)
				o += snprintf(buf + o, len - o, "%s%s", line,
					      sep);
	return 0;
}

int ivf_param_get(const char *name, uint64_t *val)
{
	char path[256];

	snprintf(path, sizeof(path), "/sys/module/igbvf_vfio_pci/parameters/%s",
		 name);
	return read_u64_file(path, val);
}

int ivf_param_set(const char *name, uint64_t val)
{
	char path[256], buf[32];

	snprintf(path, sizeof(path), "/sys/module/igbvf_vfio_pci/parameters/%s",
		 name);
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)val);
	return write_str_file(path, buf);
}

long ivf_slab_live(void)
{
	const char *dir = "/sys/kernel/debug/slab";
	char path[512], line[512];
	struct dirent *e;
	long total = 0, n = 0;
	bool hit = false, any = false;
	DIR *dp;
	FILE *f;

	/*
	 * KASAN keeps freed objects in a quarantine, allocated as far as the
	 * slab is concerned: the count would include them. kmemleak, which
	 * that kernel has, checks leaks instead (lab.sh, at the end of a run).
	 */
	if (kernel_config_y("CONFIG_KASAN") == 1)
		return -EOPNOTSUPP;
	dp = opendir(dir);
	if (!dp)
		return -errno;
	while ((e = readdir(dp))) {
		if (e->d_name[0] == '.' || !strcmp(e->d_name, "vmap_area"))
			continue;
		snprintf(path, sizeof(path), "%s/%s/alloc_traces", dir,
			 e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		n = 0;
		hit = false;
		while (fgets(line, sizeof(line), f)) {
			char *p = line;
			long cnt;

			while (*p == ' ')
				p++;
			if (*p >= '0' && *p <= '9' &&
			    sscanf(p, "%ld", &cnt) == 1 && strchr(p, '+')) {
				if (hit)
					total += n;
				n = cnt;
				hit = false;
				any = true;
			}
			if (strstr(line, "[igbvf_vfio_pci]"))
				hit = true;
		}
		if (hit)
			total += n;
		fclose(f);
	}
	closedir(dp);
	return any ? total : -ENODATA;
}
