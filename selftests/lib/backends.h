/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The VFIO backends a harness test runs on, as its fixture's variants: one
 * place for their names and for what each opens. Include after
 * kselftest_harness.h; a case reads variant->backend.
 *
 *   container  the group in a type1 container; dirty pages, where a test
 *              asks, from type1's bitmap (the tracker's pinned-page scope)
 *   cdev_log   the device's cdev on iommufd; dirty pages by DMA logging
 *   group_log  the group in a type1 container; dirty pages by DMA logging
 *
 * IVF_BACKENDS(f) gives fixture f the first two, IVF_BACKENDS_ALL(f) all
 * three, IVF_BACKENDS_LOG(f) the two with DMA logging; a test that means
 * one backend only takes IVF_BACKEND_CONTAINER(f) or IVF_BACKEND_CDEV_LOG(f).
 * A variant the running kernel can't do is the test's to skip
 * (vfio_backend_missing()).
 */
#ifndef IVF_BACKENDS_H
#define IVF_BACKENDS_H

#include "vfio.h"

#define IVF_BACKEND_VARIANT(f, name, o, d) \
	FIXTURE_VARIANT_ADD(f, name) { .backend = { .open = o, .dirty = d } }

#define IVF_BACKEND_CONTAINER(f) \
	FIXTURE_VARIANT(f) { struct vfio_backend backend; }; \
	IVF_BACKEND_VARIANT(f, container, VFIO_OPEN_GROUP, \
			    VFIO_DIRTY_CONTAINER)

#define IVF_BACKEND_CDEV_LOG(f) \
	FIXTURE_VARIANT(f) { struct vfio_backend backend; }; \
	IVF_BACKEND_VARIANT(f, cdev_log, VFIO_OPEN_CDEV, VFIO_DIRTY_LOG)

#define IVF_BACKENDS(f) \
	IVF_BACKEND_CONTAINER(f); \
	IVF_BACKEND_VARIANT(f, cdev_log, VFIO_OPEN_CDEV, VFIO_DIRTY_LOG)

#define IVF_BACKENDS_LOG(f) \
	IVF_BACKEND_CDEV_LOG(f); \
	IVF_BACKEND_VARIANT(f, group_log, VFIO_OPEN_GROUP, VFIO_DIRTY_LOG)

#define IVF_BACKENDS_ALL(f) \
	IVF_BACKENDS(f); \
	IVF_BACKEND_VARIANT(f, group_log, VFIO_OPEN_GROUP, VFIO_DIRTY_LOG)

#endif
