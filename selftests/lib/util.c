// SPDX-License-Identifier: GPL-2.0
/*
 * Small helpers shared by tests and benchmarks.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/utsname.h>

#include "ktap.h"
#include "util.h"

const char *env_get(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

const char *env_need(const char *name)
{
	const char *v = env_get(name);

	if (!v)
		ktap_skip_all("environment variable %s not set", name);
	return v;
}

const char *ivf_driver_name(void)
{
	const char *v = env_get("IVF_DRIVER");

	return v ? v : "igbvf-vfio-pci";
}

const char *err_str(int ret)
{
	return ret ? strerror(-ret) : "ok";
}

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

double stats_median(double *v, size_t n)
{
	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	return n & 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double stats_min(const double *v, size_t n)
{
	double m = n ? v[0] : 0;
	size_t i;

	for (i = 1; i < n; i++)
		if (v[i] < m)
			m = v[i];
	return m;
}

double stats_max(const double *v, size_t n)
{
	double m = n ? v[0] : 0;
	size_t i;

	for (i = 1; i < n; i++)
		if (v[i] > m)
			m = v[i];
	return m;
}

int read_str_file(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd;

	if (!len)
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	if (n < 0) {
		n = -errno;
		close(fd);
		return n;
	}
	close(fd);
	buf[n] = 0;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = 0;
	return 0;
}

int read_u64_file(const char *path, uint64_t *val)
{
	char buf[64], *end;
	int ret;

	ret = read_str_file(path, buf, sizeof(buf));
	if (ret)
		return ret;
	errno = 0;
	*val = strtoull(buf, &end, 0);
	if (end == buf || errno)
		return -EINVAL;
	return 0;
}

int write_str_file(const char *path, const char *s)
{
	size_t len = strlen(s);
	ssize_t n;
	int fd;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, s, len);
	if (n < 0) {
		n = -errno;
		close(fd);
		return n;
	}
	close(fd);
	return (size_t)n == len ? 0 : -EIO;
}

int kernel_config_y(const char *opt)
{
	const char *root = getenv("IVF_KROOT");
	char path[512], line[256], want[128];
	struct utsname u;
	int ret = 0;
	FILE *f;

	if (!root || uname(&u))
		return -1;
	snprintf(path, sizeof(path), "%s/boot/config-%s", root, u.release);
	snprintf(want, sizeof(want), "%s=y\n", opt);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strcmp(line, want))
			ret = 1;
	fclose(f);
	return ret;
}

long long slab_cache_bytes(const char *cache)
{
	char line[512], want[80];
	long long n = -1;
	FILE *f = fopen("/proc/slabinfo", "r");

	if (!f)
		return -1;
	snprintf(want, sizeof(want), "%s ", cache);
	while (fgets(line, sizeof(line), f)) {
		unsigned long active, total, size;

		if (strncmp(line, want, strlen(want)))
			continue;
		if (sscanf(line + strlen(want), "%lu %lu %lu", &active, &total,
			   &size) == 3)
			n = (long long)active * size;
		break;
	}
	fclose(f);
	return n;
}
