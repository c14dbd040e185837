// SPDX-License-Identifier: GPL-2.0-only
/*
 * igbvf-vfio-pci: BAR0 of the 82576 VF.
 *
 * Region info advertises a sparse-mmap capability covering pages 1-3 only.
 * Page 0 can never be mapped; every access to BAR0 through read/write is
 * served here, one aligned 32-bit register at a time. Mappings of pages 1-3
 * are populated from our own fault handler, so every invalidation of the
 * vfio-pci core (which zaps by file offset on the device inode) drops them,
 * and the driver can zap any sub-range itself with ivf_bar0_zap().
 *
 * The MSI-X BAR (BAR3) is offered for read/write only, never for mmap: see
 * ivf_region_info().
 */
#include <linux/io.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vfio.h>

#include "ivf.h"

#define IVF_BAR0_OFFSET	VFIO_PCI_INDEX_TO_OFFSET(VFIO_PCI_BAR0_REGION_INDEX)
#define IVF_PGOFF_MASK	((1UL << (VFIO_PCI_OFFSET_SHIFT - PAGE_SHIFT)) - 1)

int ivf_bar0_enable(struct ivf_device *ivf)
{
	/* BAR0 requested and mapped for the trapped accesses. */
	void __iomem *io = ivf_core_iomap(&ivf->core,
					  VFIO_PCI_BAR0_REGION_INDEX);

	return PTR_ERR_OR_ZERO(io);
}

/*
 * Whether BAR0 accesses may reach the device. Unlike the vfio-pci core,
 * which treats a VF's memory space as always enabled (VFs do not implement
 * COMMAND.MEM), honour the virtual COMMAND.MEM bit the user controls, so a
 * VF behaves like any PCI function: decode off, no access. The core
 * updates vconfig under memory_lock.
 */
static bool ivf_bar0_decodes(struct vfio_pci_core_device *vdev)
{
	u16 cmd;

	lockdep_assert_held(&vdev->memory_lock);
	cmd = le16_to_cpu(*(__le16 *)&vdev->vconfig[PCI_COMMAND]);
	if (vdev->pm_runtime_engaged ||
	    (__force int)vdev->pdev->current_state >= (__force int)PCI_D3hot)
		return false;
	return cmd & PCI_COMMAND_MEMORY;
}

/*
 * Whether region @index is the MSI-X BAR (BAR3 on the 82576 VF). It holds
 * the MSI-X table and the PBA and nothing else, and a VMM emulates both.
 */
bool ivf_is_msix_bar(struct ivf_device *ivf, u32 index)
{
	return index <= VFIO_PCI_BAR5_REGION_INDEX &&
	       index != VFIO_PCI_BAR0_REGION_INDEX &&
	       index == ivf->core.msix_bar;
}

/* The regions the driver answers GET_REGION_INFO for itself. */
bool ivf_region_is_ours(struct ivf_device *ivf, u32 index)
{
	return index == VFIO_PCI_BAR0_REGION_INDEX ||
	       ivf_is_msix_bar(ivf, index);
}

/* BAR0 may be mapped from page 1 on; page 0 is trapped. */
static int ivf_bar0_sparse_cap(struct vfio_info_cap *caps, u64 size)
{
	struct vfio_region_info_cap_sparse_mmap *sparse;
	size_t sz = struct_size(sparse, areas, 1);
	int ret;

	sparse = kzalloc(sz, GFP_KERNEL);
	if (!sparse)
		return -ENOMEM;
	sparse->header.id = VFIO_REGION_INFO_CAP_SPARSE_MMAP;
	sparse->header.version = 1;
	sparse->nr_areas = 1;
	sparse->areas[0].offset = IVF_BAR0_MAP_START;
	sparse->areas[0].size = size - IVF_BAR0_MAP_START;
	ret = vfio_info_add_capability(caps, &sparse->header, sz);
	kfree(sparse);
	return ret;
}

/*
 * Region info of BAR0 and of the MSI-X BAR (ivf_region_is_ours()) into
 * @info and @caps, as .get_region_info_caps answers: the caller copies
 * @info in and out and sets VFIO_REGION_INFO_FLAG_CAPS when @caps has any.
 *
 * BAR0: read/write, and mmap of pages 1-3 only (a sparse-mmap capability),
 * where the core would let it be mapped at all.
 *
 * The MSI-X BAR: read/write, never mmap. The core offers it for mmap with
 * the MSIX_MAPPABLE capability; QEMU then maps it whole and lays its
 * emulated MSI-X table over the first 0x30 bytes, which leaves a RAM-device
 * section starting mid-page. During migration QEMU asks type1 for that
 * section's dirty bitmap with an unaligned size, type1 answers EINVAL, and
 * the migration fails at its first RAM pass. Nothing in this BAR is worth
 * mapping: QEMU traps it whole this way, and no section is left unaligned.
 */
int ivf_region_info(struct ivf_device *ivf, struct vfio_region_info *info,
		    struct vfio_info_cap *caps)
{
	struct vfio_pci_core_device *vdev = &ivf->core;
	u32 index = info->index;
	int ret;

	info->offset = VFIO_PCI_INDEX_TO_OFFSET(index);
	info->size = pci_resource_len(vdev->pdev, index);
	info->flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
	if (index != VFIO_PCI_BAR0_REGION_INDEX ||
	    !vdev->bar_mmap_supported[VFIO_PCI_BAR0_REGION_INDEX])
		return 0;

	ret = ivf_bar0_sparse_cap(caps, info->size);
	if (ret)
		return ret;
	info->flags |= VFIO_REGION_INFO_FLAG_MMAP;
	return 0;
}

/*
 * VFIO_DEVICE_GET_REGION_INFO for one of our regions, on kernels where it
 * reaches .ioctl (no .get_region_info_caps): copy in, answer as
 * ivf_region_info() does, copy out with the capability chain.
 */
long ivf_region_info_ioctl(struct ivf_device *ivf, u32 index,
			   struct vfio_region_info __user *arg)
{
	unsigned long minsz = offsetofend(struct vfio_region_info, offset);
	struct vfio_info_cap caps = { .buf = NULL, .size = 0 };
	struct vfio_region_info info;
	long ret;

	if (copy_from_user(&info, arg, minsz))
		return -EFAULT;
	if (info.argsz < minsz)
		return -EINVAL;
	/* The caller saw @index; answer for it whatever a re-read says. */
	info.index = index;
	ret = ivf_region_info(ivf, &info, &caps);
	if (ret)
		goto out;

	info.cap_offset = 0;
	if (caps.size) {
		info.flags |= VFIO_REGION_INFO_FLAG_CAPS;
		if (info.argsz < sizeof(info) + caps.size) {
			info.argsz = sizeof(info) + caps.size;
		} else {
			vfio_info_cap_shift(&caps, sizeof(info));
			if (copy_to_user(arg + 1, caps.buf, caps.size)) {
				ret = -EFAULT;
				goto out;
			}
			info.cap_offset = sizeof(info);
		}
	}
	if (copy_to_user(arg, &info, minsz))
		ret = -EFAULT;
out:
	kfree(caps.buf);
	return ret;
}

ssize_t ivf_bar0_rw(struct ivf_device *ivf, char __user *buf, size_t count,
		    loff_t *ppos, bool iswrite)
{
	struct vfio_pci_core_device *vdev = &ivf->core;
	u64 off = *ppos & VFIO_PCI_OFFSET_MASK;
	void __iomem *io = vdev->barmap[VFIO_PCI_BAR0_REGION_INDEX];
	__le32 data;
	int ret = 0;

	if (count != sizeof(u32) || (off & (sizeof(u32) - 1)) ||
	    off >= pci_resource_len(vdev->pdev, VFIO_PCI_BAR0_REGION_INDEX)) {
		pci_info_ratelimited(vdev->pdev,
				     "BAR0 %s of %zu bytes at 0x%llx refused: only aligned 32-bit accesses inside the BAR\n",
				     iswrite ? "write" : "read", count, off);
		return -EINVAL;
	}
	if (!io)
		return -ENODEV;
	if (iswrite && copy_from_user(&data, buf, sizeof(data)))
		return -EFAULT;

	down_read(&vdev->memory_lock);
	if (!ivf_bar0_decodes(vdev))
		ret = -EIO;
	else if (off < IVF_BAR0_MAP_START)
		/* page 0: control, mailbox, statistics are mediated */
		data = cpu_to_le32(ivf_mbx_access(ivf, io, off,
						  le32_to_cpu(data), iswrite));
	else if ((off >> PAGE_SHIFT) == IVF_SHADOW_PAGE &&
		 ivf_dirty_shadow_rw(ivf, off, &data, iswrite))
		; /* RX registers while tracking: the shadow, as for mmap */
	else if (iswrite)
		iowrite32(le32_to_cpu(data), io + off);
	else
		data = cpu_to_le32(ioread32(io + off));
	up_read(&vdev->memory_lock);
	if (ret)
		return ret;

	if (!iswrite && copy_to_user(buf, &data, sizeof(data)))
		return -EFAULT;
	*ppos += sizeof(u32);
	return sizeof(u32);
}

static vm_fault_t ivf_bar0_fault(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct vfio_pci_core_device *vdev = vma->vm_private_data;
	struct ivf_device *ivf = container_of(vdev, struct ivf_device, core);
	unsigned long page = (vma->vm_pgoff & IVF_PGOFF_MASK) +
			     ((vmf->address - vma->vm_start) >> PAGE_SHIFT);
	unsigned long pfn;
	vm_fault_t ret = VM_FAULT_SIGBUS;

	if (page < IVF_BAR0_MAP_START >> PAGE_SHIFT ||
	    page >= IVF_BAR0_SIZE >> PAGE_SHIFT)
		return VM_FAULT_SIGBUS;
	pfn = (pci_resource_start(vdev->pdev, VFIO_PCI_BAR0_REGION_INDEX) >>
	       PAGE_SHIFT) + page;

	down_read(&vdev->memory_lock);
	if (!ivf_bar0_decodes(vdev))
		ret = VM_FAULT_SIGBUS;
	else if (page == IVF_SHADOW_PAGE && ivf_dirty_shadow(ivf, &pfn))
		/* RAM: its own (cacheable) protection, not the MMIO one. */
		ret = vmf_insert_pfn_prot(vma, vmf->address, pfn,
					  vm_get_page_prot(vma->vm_flags));
	else
		ret = vmf_insert_pfn(vma, vmf->address, pfn);
	up_read(&vdev->memory_lock);

	if (!(ret & VM_FAULT_ERROR))
		atomic64_inc(&ivf->bar0_faults);
	return ret;
}

static const struct vm_operations_struct ivf_bar0_vm_ops = {
	.fault = ivf_bar0_fault,
};

int ivf_bar0_mmap(struct ivf_device *ivf, struct vm_area_struct *vma)
{
	struct vfio_pci_core_device *vdev = &ivf->core;
	u64 start = (u64)(vma->vm_pgoff & IVF_PGOFF_MASK) << PAGE_SHIFT;
	u64 len = vma->vm_end - vma->vm_start;
	int ret;

	if (start < IVF_BAR0_MAP_START) {
		pci_info_ratelimited(vdev->pdev,
				     "mmap of BAR0 0x%llx+0x%llx refused: page 0 is trapped\n",
				     start, len);
		return -EINVAL;
	}
	/*
	 * The core validates the rest (size, VM_SHARED), requests the BAR and
	 * sets the flags and page protection of a BAR mapping. We then take
	 * over the faults; vm_pgoff stays the file offset, which is what the
	 * core's offset-based zap needs.
	 */
	ret = vfio_pci_core_mmap(&vdev->vdev, vma);
	if (ret)
		return ret;
	vma->vm_ops = &ivf_bar0_vm_ops;
	return 0;
}

int ivf_msix_mmap(struct ivf_device *ivf, u32 index)
{
	pci_info_ratelimited(ivf->core.pdev,
			     "mmap of BAR%u refused: it holds only the MSI-X table and PBA, accessed through read/write\n",
			     index);
	return -EINVAL;
}

/*
 * Drop every user mapping of BAR0 [offset, offset + len); the next access
 * faults again. Serialised with the fault handler by memory_lock, so a fault
 * can't insert a PTE on a decision made before the zap.
 */
void ivf_bar0_zap(struct ivf_device *ivf, u64 offset, u64 len)
{
	struct vfio_pci_core_device *vdev = &ivf->core;

	down_write(&vdev->memory_lock);
	unmap_mapping_range(vdev->vdev.inode->i_mapping, IVF_BAR0_OFFSET + offset,
			    len, true);
	up_write(&vdev->memory_lock);
}
