// SPDX-License-Identifier: GPL-2.0-only
/* Debian 7.2, 7.3: flags of VFIO_MIG_GET_PRECOPY_INFO may be an output. */
#include <linux/vfio.h>

static_assert(__same_type(((struct vfio_device *)NULL)->precopy_info_v2, u8));
