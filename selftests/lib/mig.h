/* SPDX-License-Identifier: GPL-2.0 */
/*
 * VFIO migration v2 uAPI helpers: feature queries, state arcs, data fd I/O
 * and a userspace CRC32C for building streams (include/ivf_migration.h).
 */
#ifndef IVF_MIG_H
#define IVF_MIG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/vfio.h>

#include "vfio.h"

/* uAPI of Debian's 7.2 and 7.3; the host's headers (6.12) lack it */
#ifndef VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2
#define VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2 12
#endif

/* VFIO_DEVICE_FEATURE_MIGRATION: the flags; 0 or -errno */
int mig_flags(struct vfio_dev *d, uint64_t *flags);
/*
 * VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE SET: 0 or -errno. *data_fd gets the
 * new data fd or -1 (data_fd may be NULL: a returned fd is then closed).
 */
int mig_set_state(struct vfio_dev *d, uint32_t state, int *data_fd);
/* GET of the same feature: 0 or -errno */
int mig_get_state(struct vfio_dev *d, uint32_t *state);
/* VFIO_DEVICE_FEATURE_MIG_DATA_SIZE: 0 or -errno */
int mig_data_size(struct vfio_dev *d, uint64_t *bytes);
/* VFIO_MIG_GET_PRECOPY_INFO on a data fd: 0 or -errno */
int mig_precopy_info(int data_fd, uint64_t *initial, uint64_t *dirty);
/* The same with *flags passed in, and set to the flags that came back */
int mig_precopy_info_flags(int data_fd, uint32_t *flags, uint64_t *initial,
			   uint64_t *dirty);
/*
 * VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2 SET (Debian's 7.2, 7.3): until the
 * device is closed, PRECOPY_INFO's flags are an output. 0 or -errno
 * (ENOTTY on kernels without it).
 */
int mig_precopy_info_v2(struct vfio_dev *d);
/*
 * Read a data fd until EOF (0) or ENOMSG, appending to *buf (realloc'ed,
 * *len updated). Returns bytes read this call or -errno of the failing
 * read; *len covers what was read before the error.
 */
ssize_t mig_read_all(int data_fd, uint8_t **buf, size_t *len);
/* Write all of buf, in chunks of @chunk bytes (0 = one write); -errno */
int mig_write_all(int data_fd, const void *buf, size_t len, size_t chunk);
/* Name of a device state ("RUNNING", ...) */
const char *mig_state_name(uint32_t state);
/* CRC32C as the kernel's crc32c(~0, ...) ^ ~0 */
uint32_t mig_crc32c(const void *buf, size_t len);
/* Recompute the crc32c of the packet at @pkt (header.length bytes) */
void mig_packet_fix_crc(uint8_t *pkt);

#endif /* IVF_MIG_H */
