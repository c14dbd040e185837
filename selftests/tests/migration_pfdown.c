// SPDX-License-Identifier: GPL-2.0
/*
 * migration_pfdown: a destination whose PF is down refuses the
 * RESUMING -> STOP arc with a clear errno and a kernel log line, touches
 * nothing the guest would see, and takes the same stream once the PF is up
 * again (the resuming fd stays usable: a refusal is not an error state).
 *
 * Source IVF_VF0 (PF A), destination IVF_DST on PF B (IVF_PFB_IF), which
 * has the source's MAC as its admin MAC.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ivf.h"
#include "kmsg.h"
#include "ktap.h"
#include "mig.h"
#include "util.h"

KTAP_DEFINE_STATE();

static const char *pfb_if;

static int pf_link(bool up)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "ip link set %s %s", pfb_if,
		 up ? "up" : "down");
	return system(cmd);
}

static void restore(void)
{
	if (pfb_if)
		pf_link(true);
}

int main(void)
{
	const char *src = env_need("IVF_VF0"), *dst = env_get("IVF_DST");
	struct vfio_dev ds, dd;
	struct ivf vs, vd;
	struct kmsg k;
	uint8_t *buf = NULL;
	size_t len = 0;
	char log[4096];
	uint32_t st = 0;
	int fd, ret, i;

	ktap_header("migration_pfdown: destination PF down refuses the resume, then takes it");
	pfb_if = env_get("IVF_PFB_IF");
	if (!dst || !pfb_if)
		ktap_skip_all("no destination PF in this lab (IVF_DST, IVF_PFB_IF)");
	atexit(restore);
	kmsg_open(&k);

	/* A configured source, saved. */
	ret = vfio_dev_open(&ds, src);
	if (!ktap_check(!ret, "open source %s", src))
		ktap_finish();
	ret = ivf_open(&vs, &ds, IVF_ACCESS_MMAP);
	ret = ret ? ret : ivf_reset(&vs);
	ret = ret ? ret : ivf_set_vlan(&vs, 42, true);
	ktap_check(!ret, "source handshake and VLAN 42 (%s)", strerror(-ret));
	ret = mig_set_state(&ds, VFIO_DEVICE_STATE_STOP_COPY, &fd);
	if (!ktap_check(!ret && fd >= 0, "source -> STOP_COPY (%s)", strerror(-ret)))
		ktap_finish();
	ret = mig_read_all(fd, &buf, &len) < 0;
	close(fd);
	ktap_check(!ret && len > 0, "stream of %zu bytes", len);

	/* The destination's PF goes down. */
	ret = vfio_dev_open(&dd, dst);
	if (!ktap_check(!ret, "open destination %s", dst))
		ktap_finish();
	ret = ivf_open(&vd, &dd, IVF_ACCESS_MMAP);
	ktap_check(!ret, "destination mapped");
	ktap_check(pf_link(false) == 0, "ip link set %s down", pfb_if);

	ret = mig_set_state(&dd, VFIO_DEVICE_STATE_RESUMING, &fd);
	if (!ktap_check(!ret && fd >= 0, "destination -> RESUMING"))
		ktap_finish();
	ktap_check(mig_write_all(fd, buf, len, 0) == 0, "stream written");
	kmsg_mark(&k);
	ret = mig_set_state(&dd, VFIO_DEVICE_STATE_STOP, NULL);
	ktap_check(ret == -EAGAIN || ret == -ETIMEDOUT,
		   "RESUMING -> STOP with the PF down fails with EAGAIN or ETIMEDOUT (%s)",
		   strerror(-ret));
	mig_get_state(&dd, &st);
	ktap_check(st == VFIO_DEVICE_STATE_RESUMING, "state stays RESUMING (%s)",
		   mig_state_name(st));
	ret = kmsg_read(&k, "igbvf-vfio-pci", log, sizeof(log));
	ktap_check(ret > 0 && (strstr(log, "resetting or down") ||
			       strstr(log, "did not answer")),
		   "kernel log says why: %.200s", ret > 0 ? log : "(nothing)");

	/* PF up again: the same stream goes in. */
	ktap_check(pf_link(true) == 0, "ip link set %s up", pfb_if);
	for (i = 0; i < 20; i++) {
		sleep(1);
		ret = mig_set_state(&dd, VFIO_DEVICE_STATE_STOP, NULL);
		if (!ret)
			break;
	}
	ktap_check(!ret, "RESUMING -> STOP succeeds once the PF is up (after %d s)",
		   i + 1);
	close(fd);
	ret = mig_set_state(&dd, VFIO_DEVICE_STATE_RUNNING, NULL);
	ktap_check(!ret, "destination -> RUNNING");
	ret = ivf_set_vlan(&vd, 43, true);
	ktap_check(!ret, "the guest's mailbox works on the destination (SET_VLAN 43: %s)",
		   strerror(-ret));

	/* Both usable after a reset. */
	ktap_check(vfio_dev_reset(&dd) == 0 && ivf_reset(&vd) == 0,
		   "destination: VFIO_DEVICE_RESET and handshake");
	mig_set_state(&ds, VFIO_DEVICE_STATE_RUNNING, NULL);
	ktap_check(vfio_dev_reset(&ds) == 0 && ivf_reset(&vs) == 0,
		   "source: VFIO_DEVICE_RESET and handshake");
	ivf_close(&vd);
	vfio_dev_close(&dd);
	ivf_close(&vs);
	vfio_dev_close(&ds);
	free(buf);
	kmsg_close(&k);
	ktap_finish();
}
