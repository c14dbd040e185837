// SPDX-License-Identifier: GPL-2.0-only
/*
 * igbvf-vfio-pci: debugfs, for tests and for an operator who wants to see
 * what the driver does. One directory per bound VF:
 *
 *   /sys/kernel/debug/igbvf-vfio-pci/<BDF>/bar0_faults  BAR0 mmap faults served
 *   /sys/kernel/debug/igbvf-vfio-pci/<BDF>/bar0_zap     write "OFFSET LENGTH":
 *                       drop user mappings of that BAR0 range (they refault)
 *   /sys/kernel/debug/igbvf-vfio-pci/<BDF>/pf_config    the PF configuration
 *                       learnt from the guest's mailbox, the mailbox bits
 *                       kept for the guest and the statistics offsets (mbx.c)
 *   /sys/kernel/debug/igbvf-vfio-pci/<BDF>/migration    migration state (lm.c)
 *   /sys/kernel/debug/igbvf-vfio-pci/<BDF>/dirty        dirty tracker (dirty*.c)
 */
#include <linux/debugfs.h>
#include <linux/kstrtox.h>
#include <linux/seq_file.h>
#include <linux/uaccess.h>

#include "ivf.h"

static struct dentry *ivf_debugfs_root;

static int ivf_faults_get(void *data, u64 *val)
{
	struct ivf_device *ivf = data;

	*val = atomic64_read(&ivf->bar0_faults);
	return 0;
}
DEFINE_DEBUGFS_ATTRIBUTE(ivf_faults_fops, ivf_faults_get, NULL, "%llu\n");

static ssize_t ivf_zap_write(struct file *file, const char __user *ubuf,
			     size_t count, loff_t *ppos)
{
	struct ivf_device *ivf = file->private_data;
	unsigned long long off, len;
	char buf[64];

	if (count >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, count))
		return -EFAULT;
	buf[count] = '\0';
	if (sscanf(buf, "%llx %llx", &off, &len) != 2 || !len ||
	    off >= IVF_BAR0_SIZE || len > IVF_BAR0_SIZE - off)
		return -EINVAL;
	ivf_bar0_zap(ivf, off, len);
	return count;
}

static const struct file_operations ivf_zap_fops = {
	.owner	= THIS_MODULE,
	.open	= simple_open,
	.write	= ivf_zap_write,
	.llseek	= default_llseek,
};

static int ivf_pf_config_show(struct seq_file *m, void *unused)
{
	ivf_mbx_show(m->private, m);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(ivf_pf_config);

static int ivf_migration_show(struct seq_file *m, void *unused)
{
	ivf_lm_show(m->private, m);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(ivf_migration);

static int ivf_dirty_dbg_show(struct seq_file *m, void *unused)
{
	ivf_dirty_show(m->private, m);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(ivf_dirty_dbg);

void ivf_debugfs_init(void)
{
	ivf_debugfs_root = debugfs_create_dir(IVF_DRV_NAME, NULL);
}

void ivf_debugfs_exit(void)
{
	debugfs_remove_recursive(ivf_debugfs_root);
	ivf_debugfs_root = NULL;
}

void ivf_debugfs_add(struct ivf_device *ivf)
{
	struct dentry *dir;

	dir = debugfs_create_dir(pci_name(ivf->core.pdev), ivf_debugfs_root);
	debugfs_create_file_unsafe("bar0_faults", 0400, dir, ivf,
				   &ivf_faults_fops);
	debugfs_create_file("bar0_zap", 0200, dir, ivf, &ivf_zap_fops);
	debugfs_create_file("pf_config", 0400, dir, ivf, &ivf_pf_config_fops);
	debugfs_create_file("migration", 0400, dir, ivf, &ivf_migration_fops);
	debugfs_create_file("dirty", 0400, dir, ivf, &ivf_dirty_dbg_fops);
	ivf->debugfs = dir;
}

void ivf_debugfs_remove(struct ivf_device *ivf)
{
	debugfs_remove_recursive(ivf->debugfs);
	ivf->debugfs = NULL;
}
