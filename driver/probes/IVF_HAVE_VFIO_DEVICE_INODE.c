// SPDX-License-Identifier: GPL-2.0-only
/* 6.10+: the core zaps BAR mappings by offset on the device's inode. */
#include <linux/vfio.h>

static_assert(__same_type(((struct vfio_device *)NULL)->inode, struct inode *));
