// SPDX-License-Identifier: GPL-2.0-only
/* 6.19+: VFIO_DEVICE_GET_REGION_INFO goes to its own op, not to .ioctl. */
#include <linux/vfio_pci_core.h>

typedef int (*ivf_region_info_fn)(struct vfio_device *,
				  struct vfio_region_info *,
				  struct vfio_info_cap *);

static_assert(__same_type(((struct vfio_device_ops *)NULL)->get_region_info_caps,
			  ivf_region_info_fn));
static_assert(__same_type(&vfio_pci_ioctl_get_region_info, ivf_region_info_fn));
