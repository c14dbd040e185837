// SPDX-License-Identifier: GPL-2.0
/*
 * VFIO migration v2 uAPI helpers.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>

#include "mig.h"
#include "ivf_migration.h"

static int mig_feature(struct vfio_dev *d, uint32_t flags, void *data,
		       size_t size)
{
	uint64_t buf[(sizeof(struct vfio_device_feature) + 64) / 8] = { 0 };
	struct vfio_device_feature *f = (void *)buf;
	int ret;

	if (size > 64)
		return -EINVAL;
	f->argsz = sizeof(*f) + size;
	f->flags = flags;
	if (size)
		memcpy(f->data, data, size);
	ret = ioctl(d->fd, VFIO_DEVICE_FEATURE, f);
	if (ret < 0)
		return -errno;
	if (size)
		memcpy(data, f->data, size);
	return ret;
}

int mig_flags(struct vfio_dev *d, uint64_t *flags)
{
	struct vfio_device_feature_migration m = { 0 };
	int ret;

	ret = mig_feature(d, VFIO_DEVICE_FEATURE_GET |
			  VFIO_DEVICE_FEATURE_MIGRATION, &m, sizeof(m));
	if (!ret)
		*flags = m.flags;
	return ret;
}

int mig_set_state(struct vfio_dev *d, uint32_t state, int *data_fd)
{
	struct vfio_device_feature_mig_state s = {
		.device_state = state, .data_fd = -1,
	};
	int ret;

	ret = mig_feature(d, VFIO_DEVICE_FEATURE_SET |
			  VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, &s, sizeof(s));
	if (data_fd)
		*data_fd = ret ? -1 : s.data_fd;
	else if (!ret && s.data_fd >= 0)
		close(s.data_fd);
	return ret;
}

int mig_get_state(struct vfio_dev *d, uint32_t *state)
{
	struct vfio_device_feature_mig_state s = { 0 };
	int ret;

	ret = mig_feature(d, VFIO_DEVICE_FEATURE_GET |
			  VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, &s, sizeof(s));
	if (!ret)
		*state = s.device_state;
	return ret;
}

int mig_data_size(struct vfio_dev *d, uint64_t *bytes)
{
	struct vfio_device_feature_mig_data_size s = { 0 };
	int ret;

	ret = mig_feature(d, VFIO_DEVICE_FEATURE_GET |
			  VFIO_DEVICE_FEATURE_MIG_DATA_SIZE, &s, sizeof(s));
	if (!ret)
		*bytes = s.stop_copy_length;
	return ret;
}

int mig_precopy_info_flags(int data_fd, uint32_t *flags, uint64_t *initial,
			   uint64_t *dirty)
{
	struct vfio_precopy_info info = {
		.argsz = sizeof(info),
		.flags = *flags,
	};

	if (ioctl(data_fd, VFIO_MIG_GET_PRECOPY_INFO, &info) < 0)
		return -errno;
	*flags = info.flags;
	*initial = info.initial_bytes;
	*dirty = info.dirty_bytes;
	return 0;
}

int mig_precopy_info(int data_fd, uint64_t *initial, uint64_t *dirty)
{
	uint32_t flags = 0;

	return mig_precopy_info_flags(data_fd, &flags, initial, dirty);
}

int mig_precopy_info_v2(struct vfio_dev *d)
{
	int ret = mig_feature(d, VFIO_DEVICE_FEATURE_SET |
			      VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2, NULL, 0);

	return ret < 0 ? ret : 0;
}

ssize_t mig_read_all(int data_fd, uint8_t **buf, size_t *len)
{
	size_t start = *len;
	uint8_t chunk[4096];
	ssize_t n;
	uint8_t *nb;

	for (;;) {
		n = read(data_fd, chunk, sizeof(chunk));
		if (n < 0) {
			if (errno == ENOMSG)
				break;
			return -errno;
		}
		if (n == 0)
			break;
		nb = realloc(*buf, *len + n);
		if (!nb)
			return -ENOMEM;
		memcpy(nb + *len, chunk, n);
		*buf = nb;
		*len += n;
	}
	return *len - start;
}

int mig_write_all(int data_fd, const void *buf, size_t len, size_t chunk)
{
	const uint8_t *p = buf;
	ssize_t n;

	if (!chunk)
		chunk = len;
	while (len) {
		n = write(data_fd, p, len < chunk ? len : chunk);
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		p += n;
		len -= n;
	}
	return 0;
}

const char *mig_state_name(uint32_t state)
{
	static const char *const names[] = IVF_MIG_STATE_NAMES;

	if (state < sizeof(names) / sizeof(names[0]) && names[state])
		return names[state];
	return "?";
}

uint32_t mig_crc32c(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint32_t crc = ~0u;
	int k;

	while (len--) {
		crc ^= *p++;
		for (k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82F63B78u & -(crc & 1));
	}
	return ~crc;
}

void mig_packet_fix_crc(uint8_t *pkt)
{
	struct ivf_mig_hdr *h = (void *)pkt;

	h->crc32c = 0;
	h->crc32c = mig_crc32c(pkt, h->length);
}
