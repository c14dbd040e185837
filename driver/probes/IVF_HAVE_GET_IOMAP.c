// SPDX-License-Identifier: GPL-2.0-only
/* 7.2+: the core maps every BAR at enable; drivers ask for the mapping. */
#include <linux/vfio_pci_core.h>

static_assert(__same_type(&vfio_pci_core_get_iomap,
			  void __iomem *(*)(struct vfio_pci_core_device *,
					    unsigned int)));
