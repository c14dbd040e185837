// SPDX-License-Identifier: GPL-2.0
/*
 * sysfs helpers: driver binding by driver_override, IOMMU group lookup.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"
#include "vfio.h"

#define PCI_DEV_DIR "/sys/bus/pci/devices"

static int link_basename(const char *path, char *buf, size_t len)
{
	char target[PATH_MAX];
	ssize_t n;
	char *slash;

	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = 0;
	slash = strrchr(target, '/');
	snprintf(buf, len, "%s", slash ? slash + 1 : target);
	return 0;
}

int sysfs_pci_driver(const char *bdf, char *buf, size_t len)
{
	char path[PATH_MAX];
	int ret;

	snprintf(path, sizeof(path), PCI_DEV_DIR "/%s/driver", bdf);
	ret = link_basename(path, buf, len);
	if (ret == -ENOENT) {
		if (len)
			buf[0] = 0;
		return 0;
	}
	return ret;
}

int sysfs_pci_iommu_group(const char *bdf)
{
	char path[PATH_MAX], name[64];
	char *end;
	long v;
	int ret;

	snprintf(path, sizeof(path), PCI_DEV_DIR "/%s/iommu_group", bdf);
	ret = link_basename(path, name, sizeof(name));
	if (ret)
		return ret;
	v = strtol(name, &end, 10);
	if (*end || v < 0)
		return -EINVAL;
	return (int)v;
}

int sysfs_pci_attr(const char *bdf, const char *attr, char *buf, size_t len)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), PCI_DEV_DIR "/%s/%s", bdf, attr);
	return read_str_file(path, buf, len);
}

int sysfs_pci_bind(const char *bdf, const char *driver)
{
	char path[PATH_MAX], cur[64];
	int ret, i;

	ret = sysfs_pci_driver(bdf, cur, sizeof(cur));
	if (ret)
		return ret;
	if (cur[0]) {
		if (!strcmp(cur, driver))
			return 0;
		snprintf(path, sizeof(path), PCI_DEV_DIR "/%s/driver/unbind",
			 bdf);
		ret = write_str_file(path, bdf);
		if (ret)
			return ret;
	}
	snprintf(path, sizeof(path), PCI_DEV_DIR "/%s/driver_override", bdf);
	ret = write_str_file(path, driver);
	if (ret)
		return ret;
	/* probe failure shows up as a missing/other driver link below */
	write_str_file("/sys/bus/pci/drivers_probe", bdf);

	for (i = 0; i < 100; i++) {
		ret = sysfs_pci_driver(bdf, cur, sizeof(cur));
		if (ret)
			return ret;
		if (!strcmp(cur, driver))
			break;
		usleep(10000);
	}
	if (strcmp(cur, driver))
		return -ENODEV;

	/* the vfio group char device appears asynchronously (udev-less) */
	ret = sysfs_pci_iommu_group(bdf);
	if (ret >= 0) {
		snprintf(path, sizeof(path), "/dev/vfio/%d", ret);
		for (i = 0; i < 100 && access(path, F_OK); i++)
			usleep(10000);
	}
	return 0;
}
