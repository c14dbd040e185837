/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Small helpers shared by tests and benchmarks.
 */
#ifndef IVF_UTIL_H
#define IVF_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* value of environment variable @name or NULL if unset/empty */
const char *env_get(const char *name);
/* like env_get, but prints "# SKIP" and exits 4 when missing */
const char *env_need(const char *name);
/* name of the variant driver (IVF_DRIVER, default igbvf-vfio-pci) */
const char *ivf_driver_name(void);

uint64_t now_ns(void);
/* strerror(-@ret), or "ok" for 0 */
const char *err_str(int ret);

/* sorts @v in place; returns the median (mean of the two middle values) */
double stats_median(double *v, size_t n);
double stats_min(const double *v, size_t n);
double stats_max(const double *v, size_t n);
int cmp_u64(const void *a, const void *b);

/* read an unsigned decimal number from a file; 0 or -errno */
/* read a small file, NUL-terminated, trailing newline/spaces stripped */
int read_str_file(const char *path, char *buf, size_t len);
int read_u64_file(const char *path, uint64_t *val);
/* write a string to a file; 0 or -errno */
int write_str_file(const char *path, const char *s);
/*
 * "@opt=y" in the running kernel's config ($IVF_KROOT/boot/config-*):
 * 1, 0, or -1 (unknown)
 */
int kernel_config_y(const char *opt);
/* bytes of the objects in use in slab cache @cache (/proc/slabinfo), or -1 */
long long slab_cache_bytes(const char *cache);

#endif /* IVF_UTIL_H */
