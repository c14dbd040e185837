// SPDX-License-Identifier: GPL-2.0
/*
 * Steps the harness tests' fixtures share (fixture.h).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fixture.h"
#include "mig.h"
#include "mig_states.h"
#include "migstream.h"
#include "util.h"

const char *vf_unusable(const char *bdf, const char *need, const char *drv,
			const struct vfio_backend *b)
{
	static char why[160];
	char cur[64] = "";
	int ret;

	if (!bdf)
		return need;
	if (drv) {
		ret = sysfs_pci_driver(bdf, cur, sizeof(cur));
		if (ret || strcmp(cur, drv)) {
			snprintf(why, sizeof(why),
				 "%s is bound to '%s', not %s", bdf, cur, drv);
			return why;
		}
	}
	return b ? vfio_backend_missing(bdf, b) : NULL;
}

const char *vf_peer_unusable(const char **bdf, const char **ns,
			     const char **ifname, const char *drv,
			     const struct vfio_backend *b)
{
	*bdf = env_get("IVF_VF0");
	*ns = env_get("IVF_PEER_NS");
	*ifname = env_get("IVF_PEER_IF");
	return vf_unusable(*ns && *ifname ? *bdf : NULL,
			   "IVF_VF0, IVF_PEER_NS and IVF_PEER_IF are needed",
			   drv, b);
}

int vf_index_on_pf(const char *pf, const char *vf)
{
	char path[PATH_MAX], link[PATH_MAX];
	const char *base;
	ssize_t n;
	int i;

	for (i = 0; i < 64; i++) {
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/virtfn%d",
			 pf, i);
		n = readlink(path, link, sizeof(link) - 1);
		if (n < 0)
			return -1;
		link[n] = 0;
		base = strrchr(link, '/');
		if (!strcmp(base ? base + 1 : link, vf))
			return i;
	}
	return -1;
}

int vf_set_admin_mac(const char *pf_if, int vfn, const char *mac)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "ip link set %s vf %d mac %s", pf_if, vfn,
		 mac);
	return system(cmd) == 0 ? 0 : -EIO;
}

int vf_open_running(struct vfio_dev *d, struct ivf *v, const char *bdf,
		    const struct vfio_backend *b)
{
	uint32_t s = 0;
	int ret;

	ret = vfio_dev_open_backend(d, bdf, b);
	if (ret)
		return ret;
	ret = mig_get_state(d, &s);
	if (!ret && s != S_RUNNING)
		ret = -EPROTO;
	if (!ret)
		ret = ivf_open(v, d, IVF_ACCESS_MMAP);
	if (ret)
		vfio_dev_close(d);
	return ret;
}

int vf_works(struct vfio_dev *d, struct ivf *v, char *why, size_t len)
{
	uint8_t *buf = NULL;
	struct ms_stream s;
	size_t n = 0;
	int ret, fd = -1;
	ssize_t r;

	ret = ivf_reset(v);
	if (ret || !v->cts) {
		snprintf(why, len, "handshake: %s",
			 err_str(ret ? ret : -EPROTO));
		return -EPROTO;
	}
	ret = mig_set_state(d, S_STOP_COPY, &fd);
	if (ret || fd < 0) {
		snprintf(why, len, "RUNNING -> STOP_COPY: %s", err_str(ret));
		return -EPROTO;
	}
	r = mig_read_all(fd, &buf, &n);
	close(fd);
	ret = r < 0 ? (int)r : ms_parse(&s, buf, n);
	free(buf);
	if (ret) {
		snprintf(why, len, "saving %zu bytes: %s", n, err_str(ret));
		return ret;
	}
	ret = mig_set_state(d, S_RUNNING, NULL);
	if (ret) {
		snprintf(why, len, "STOP_COPY -> RUNNING: %s", err_str(ret));
		return ret;
	}
	snprintf(why, len, "handshake, %zu-byte stream saved", n);
	return 0;
}

int harness_own_args(int argc, char **argv, char ***args)
{
	int opterr_was = opterr, first;

	/* the kselftest harness's options, as its test_harness_run() takes */
	opterr = 0;
	while (getopt(argc, argv, "hlF:f:V:v:t:T:r:") != -1)
		;
	first = optind;
	opterr = opterr_was;
	optind = 1;
	*args = argv + first;
	return argc - first;
}
