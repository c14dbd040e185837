// SPDX-License-Identifier: GPL-2.0-only
/*
 * igbvf-vfio-pci: vfio-pci variant driver for the Intel 82576 Virtual
 * Function (8086:10ca).
 *
 * PCI probe/remove, the vfio_device_ops and module glue. BAR0 is handled in
 * bar.c and mbx.c, migration in lm.c, mig_file.c, vf.c and stream.c;
 * everything else is the vfio-pci core's.
 */
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/uaccess.h>
#include <linux/vfio.h>

#include "ivf.h"

static int ivf_init_dev(struct vfio_device *core_vdev)
{
	struct ivf_device *ivf = ivf_from_vdev(core_vdev);
	int ret;

	ret = vfio_pci_core_init_dev(core_vdev);
	if (ret)
		return ret;
	init_rwsem(&ivf->dom_rwsem);
	ivf_mbx_init(ivf);
	ivf_lm_init(ivf);
	ivf_dirty_init(ivf);
	return 0;
}

static void ivf_release_dev(struct vfio_device *core_vdev)
{
	struct ivf_device *ivf = ivf_from_vdev(core_vdev);

	ivf_dirty_destroy(ivf);
	ivf_lm_destroy(ivf);
	ivf_mbx_destroy(ivf);
	vfio_pci_core_release_dev(core_vdev);
}

static int ivf_open_device(struct vfio_device *core_vdev)
{
	struct ivf_device *ivf = ivf_from_vdev(core_vdev);
	struct vfio_pci_core_device *vdev = &ivf->core;
	int ret;

	ret = vfio_pci_core_enable(vdev);
	if (ret)
		return ret;
	ret = ivf_bar0_enable(ivf);
	if (ret) {
		ivf_err_rl(vdev->pdev, "cannot map BAR0: %pe\n", ERR_PTR(ret));
		vfio_pci_core_disable(vdev);
		return ret;
	}
	/* The core reset the VF on enable, so the PF forgot it. */
	ivf_mbx_reset(ivf);
	ivf_vf_clear_queues(ivf);
	ivf_mbx_open(ivf);
	ivf_lm_open(ivf);
	vfio_pci_core_finish_enable(vdev);
	return 0;
}

static void ivf_close_device(struct vfio_device *core_vdev)
{
	struct ivf_device *ivf = ivf_from_vdev(core_vdev);

	/* Any migration fd ends here, before the core resets the VF. */
	ivf_lm_close(ivf);
	ivf_dirty_disengage(ivf);
	vfio_pci_core_close_device(core_vdev);
	ivf_mbx_reset(ivf);
}

static long ivf_ioctl(struct vfio_device *core_vdev, unsigned int cmd,
		      unsigned long arg)
{
	struct ivf_device *ivf = ivf_from_vdev(core_vdev);
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case VFIO_DEVICE_GET_REGION_INFO: {
		u32 index;

		if (get_user(index, (u32 __user *)(uarg +
				offsetof(struct vfio_region_info, index))))
			return -EFAULT;
		/* Only where the kernel has no .get_region_info_caps. */
		if (ivf_region_is_ours(ivf, index))
			return ivf_region_info_ioctl(ivf, index, uarg);
		break;
	}
	case VFIO_DEVICE_IOEVENTFD:
		/*
		 * An ioeventfd writes the BAR from the kernel without passing
		 * through read/write, which would bypass the page-0 trap. The
		 * user struct can't be checked without a double fetch, so the
		 * feature is off, as for other variants with trapped BARs.
		 */
		pci_info_ratelimited(ivf->core.pdev,
				     "VFIO_DEVICE_IOEVENTFD is not supported (BAR0 is mediated)\n");
		return -ENOTTY;
	}
	return vfio_pci_core_ioctl(core_vdev, cmd, arg);
}

/*
 * VFIO_DEVICE_GET_REGION_INFO where vfio asks an op for the answer: BAR0 and
 * the MSI-X BAR are ours (bar.c), the rest is the core's.
 */
static int __maybe_unused ivf_get_region_info_caps(struct vfio_device *core_vdev,
						   struct vfio_region_info *info,
						   struct vfio_info_cap *caps)
{
	struct ivf_device *ivf = ivf_from_vdev(core_vdev);

	if (ivf_region_is_ours(ivf, info->index))
		return ivf_region_info(ivf, info, caps);
	return ivf_core_region_info(core_vdev, info, caps);
}

static bool ivf_is_bar0(loff_t pos)
{
	return VFIO_PCI_OFFSET_TO_INDEX((u64)pos) == VFIO_PCI_BAR0_REGION_INDEX;
}

static ssize_t ivf_read(struct vfio_device *core_vdev, char __user *buf,
			size_t count, loff_t *ppos)
{
	if (ivf_is_bar0(*ppos))
		return ivf_bar0_rw(ivf_from_vdev(core_vdev), buf, count, ppos,
				   false);
	return vfio_pci_core_read(core_vdev, buf, count, ppos);
}

static ssize_t ivf_write(struct vfio_device *core_vdev, const char __user *buf,
			 size_t count, loff_t *ppos)
{
	if (ivf_is_bar0(*ppos))
		return ivf_bar0_rw(ivf_from_vdev(core_vdev), (char __user *)buf,
				   count, ppos, true);
	return vfio_pci_core_write(core_vdev, buf, count, ppos);
}

static int ivf_mmap(struct vfio_device *core_vdev, struct vm_area_struct *vma)
{
	u64 index = vma->vm_pgoff >> (VFIO_PCI_OFFSET_SHIFT - PAGE_SHIFT);

	if (index == VFIO_PCI_BAR0_REGION_INDEX)
		return ivf_bar0_mmap(ivf_from_vdev(core_vdev), vma);
	if (ivf_is_msix_bar(ivf_from_vdev(core_vdev), index))
		return ivf_msix_mmap(ivf_from_vdev(core_vdev), index);
	return vfio_pci_core_mmap(core_vdev, vma);
}

/* The user unmaps IOVA: the dirty tracker drops its pins there. */
static void ivf_dma_unmap(struct vfio_device *core_vdev, u64 iova, u64 length)
{
	ivf_dirty_dma_unmap(ivf_from_vdev(core_vdev), iova, length);
}

#if IS_ENABLED(CONFIG_IOMMUFD)
/*
 * Through iommufd, the tracker reads guest memory through the device's
 * IOMMU domain (dirty_model.c, ivf_guest_read()). The domain is the user's: an
 * attach to another hwpt, a detach or an unbind, then IOMMU_DESTROY, frees
 * it. dom_rwsem keeps the device attached to it while a read walks it.
 */
static int ivf_attach_ioas(struct vfio_device *core_vdev, u32 *pt_id)
{
	struct ivf_device *ivf = ivf_from_vdev(core_vdev);
	int ret;

	down_write(&ivf->dom_rwsem);
	ret = vfio_iommufd_physical_attach_ioas(core_vdev, pt_id);
	up_write(&ivf->dom_rwsem);
	return ret;
}

static void ivf_detach_ioas(struct vfio_device *core_vdev)
{
	struct ivf_device *ivf = ivf_from_vdev(core_vdev);

	down_write(&ivf->dom_rwsem);
	vfio_iommufd_physical_detach_ioas(core_vdev);
	up_write(&ivf->dom_rwsem);
}

static void ivf_unbind_iommufd(struct vfio_device *core_vdev)
{
	struct ivf_device *ivf = ivf_from_vdev(core_vdev);

	down_write(&ivf->dom_rwsem);
	vfio_iommufd_physical_unbind(core_vdev);
	up_write(&ivf->dom_rwsem);
}
#else
#define ivf_attach_ioas		vfio_iommufd_physical_attach_ioas
#define ivf_detach_ioas		vfio_iommufd_physical_detach_ioas
#define ivf_unbind_iommufd	vfio_iommufd_physical_unbind
#endif

static const struct vfio_device_ops ivf_vfio_ops = {
	.name		= IVF_DRV_NAME,
	.init		= ivf_init_dev,
	.release	= ivf_release_dev,
	.open_device	= ivf_open_device,
	.close_device	= ivf_close_device,
	.ioctl		= ivf_ioctl,
	IVF_COMPAT_REGION_INFO_OPS
	.device_feature	= vfio_pci_core_ioctl_feature,
	.read		= ivf_read,
	.write		= ivf_write,
	.mmap		= ivf_mmap,
	.dma_unmap	= ivf_dma_unmap,
	.request	= vfio_pci_core_request,
	.match		= vfio_pci_core_match,
	IVF_COMPAT_TOKEN_OPS
	.bind_iommufd	= vfio_iommufd_physical_bind,
	.unbind_iommufd	= ivf_unbind_iommufd,
	.attach_ioas	= ivf_attach_ioas,
	.detach_ioas	= ivf_detach_ioas,
};

static int ivf_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct ivf_device *ivf;
	int ret;

	if (PAGE_SIZE != IVF_BAR0_PAGE_SIZE) {
		pci_err(pdev, "needs 4 KiB pages to trap BAR0 page 0\n");
		return -EOPNOTSUPP;
	}
	if (pci_resource_len(pdev, VFIO_PCI_BAR0_REGION_INDEX) != IVF_BAR0_SIZE) {
		pci_err(pdev, "BAR0 is %llu bytes, expected %u: not an 82576 VF?\n",
			(u64)pci_resource_len(pdev, VFIO_PCI_BAR0_REGION_INDEX),
			IVF_BAR0_SIZE);
		return -ENODEV;
	}

	ivf = vfio_alloc_device(ivf_device, core.vdev, &pdev->dev,
				&ivf_vfio_ops);
	if (IS_ERR(ivf))
		return PTR_ERR(ivf);

	dev_set_drvdata(&pdev->dev, &ivf->core);
	ret = vfio_pci_core_register_device(&ivf->core);
	if (ret) {
		vfio_put_device(&ivf->core.vdev);
		return ret;
	}
	ivf_debugfs_add(ivf);
	return 0;
}

static void ivf_remove(struct pci_dev *pdev)
{
	struct vfio_pci_core_device *vdev = dev_get_drvdata(&pdev->dev);
	struct ivf_device *ivf = container_of(vdev, struct ivf_device, core);

	ivf_debugfs_remove(ivf);
	vfio_pci_core_unregister_device(vdev);
	vfio_put_device(&vdev->vdev);
}

/* Any reset of the VF (FLR from VFIO_DEVICE_RESET, hot reset) clears it PF-side. */
static void ivf_reset_done(struct pci_dev *pdev)
{
	struct vfio_pci_core_device *vdev = dev_get_drvdata(&pdev->dev);
	struct ivf_device *ivf;

	if (!vdev)
		return;
	ivf = container_of(vdev, struct ivf_device, core);
	ivf_mbx_reset(ivf);
	ivf_dirty_reset(ivf);
	ivf_lm_reset_done(ivf);
}

static const struct pci_error_handlers ivf_err_handlers = {
	.reset_done	= ivf_reset_done,
	.error_detected	= vfio_pci_core_aer_err_detected,
};

/* Bind only through driver_override: never take a VF by ourselves. */
static const struct pci_device_id ivf_pci_table[] = {
	{ PCI_DRIVER_OVERRIDE_DEVICE_VFIO(IVF_PCI_VENDOR_ID,
					  IVF_PCI_DEVICE_ID) },
	{}
};
MODULE_DEVICE_TABLE(pci, ivf_pci_table);

static struct pci_driver ivf_pci_driver = {
	.name			= IVF_DRV_NAME,
	.id_table		= ivf_pci_table,
	.probe			= ivf_probe,
	.remove			= ivf_remove,
	.err_handler		= &ivf_err_handlers,
	.driver_managed_dma	= true,
};

static int __init ivf_init(void)
{
	int ret;

	ivf_debugfs_init();
	ret = pci_register_driver(&ivf_pci_driver);
	if (ret)
		ivf_debugfs_exit();
	return ret;
}
module_init(ivf_init);

static void __exit ivf_exit(void)
{
	pci_unregister_driver(&ivf_pci_driver);
	ivf_debugfs_exit();
}
module_exit(ivf_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("VFIO PCI variant driver with live migration for the Intel 82576 VF");
