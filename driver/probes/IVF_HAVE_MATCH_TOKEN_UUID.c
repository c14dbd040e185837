// SPDX-License-Identifier: GPL-2.0-only
/* 6.18+: the VF token check is an op the core calls unconditionally. */
#include <linux/vfio_pci_core.h>

typedef int (*ivf_match_token_fn)(struct vfio_device *, const uuid_t *);

static_assert(__same_type(((struct vfio_device_ops *)NULL)->match_token_uuid,
			  ivf_match_token_fn));
static_assert(__same_type(&vfio_pci_core_match_token_uuid, ivf_match_token_fn));
