// SPDX-License-Identifier: GPL-2.0-only
/* Up to 7.1: BARs are requested and mapped on demand. */
#include <linux/vfio_pci_core.h>

static_assert(__same_type(&vfio_pci_core_setup_barmap,
			  int (*)(struct vfio_pci_core_device *, int)));
