// SPDX-License-Identifier: GPL-2.0
/*
 * migration_pfdown: a destination whose PF is down refuses the
 * RESUMING -> STOP arc with a clear errno and a kernel log line, touches
 * nothing the guest would see, and takes the same stream once the PF is up
 * again (the resuming fd stays usable: a refusal is not an error state).
 *
 * Source IVF_VF0 (PF A), destination IVF_DST on PF B (IVF_PFB_IF), which
 * has the source's MAC as its admin MAC. The fixture: the source set up
 * (handshake, VLAN 42) and saved (STOP_COPY, its stream read), the
 * destination opened and mapped; its teardown always puts PF B's link up
 * again. Each case takes the PF down, writes the stream into a RESUMING
 * destination and asks for STOP; then:
 *   resume_refused_while_pf_down     EAGAIN or ETIMEDOUT, the state stays
 *                                    RESUMING, the kernel log says why
 *   same_stream_resumes_once_pf_up   PF up: the same fd's RESUMING -> STOP
 *                                    succeeds (within 20 s), RUNNING, the
 *                                    guest's mailbox works (SET_VLAN 43)
 *   both_ends_reset_after_resume     the same, then VFIO_DEVICE_RESET and
 *                                    the handshake work on the destination
 *                                    and on the source
 *
 * Env: IVF_VF0, IVF_DST, IVF_PFB_IF (SKIP without the last two).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ivf.h"
#include "kmsg.h"
#include "mig.h"
#include "util.h"

#include "kselftest_harness.h"

/* a few seconds on TCG; the PF's link may take 20 s to come back */
#define CASE_TIMEOUT 180

FIXTURE(migration_pfdown) {
	const char *src, *dst, *pfb_if;
	struct kmsg k;
	bool k_open;
	struct vfio_dev ds, dd;
	bool ds_open, dd_open;
	struct ivf vs, vd;
	bool vs_open, vd_open;
	uint8_t *buf;
	size_t len;
	int fd;		/* the destination's resuming fd, or -1 */
	bool pf_down;
};

static int pf_link(const char *ifname, bool up)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "ip link set %s %s", ifname,
		 up ? "up" : "down");
	return system(cmd);
}

static void fd_close(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void pfdown_free(FIXTURE_DATA(migration_pfdown) *self)
{
	if (self->pf_down)
		pf_link(self->pfb_if, true);
	self->pf_down = false;
	fd_close(&self->fd);
	if (self->vd_open)
		ivf_close(&self->vd);
	if (self->dd_open)
		vfio_dev_close(&self->dd);
	if (self->vs_open)
		ivf_close(&self->vs);
	if (self->ds_open)
		vfio_dev_close(&self->ds);
	self->vd_open = self->dd_open = self->vs_open = self->ds_open = false;
	free(self->buf);
	self->buf = NULL;
	if (self->k_open)
		kmsg_close(&self->k);
	self->k_open = false;
}

FIXTURE_SETUP(migration_pfdown)
{
	int ret, fd = -1;

	self->fd = -1;
	self->src = env_get("IVF_VF0");
	self->dst = env_get("IVF_DST");
	self->pfb_if = env_get("IVF_PFB_IF");
	if (!self->dst || !self->pfb_if)
		SKIP(return, "no destination PF in this lab (IVF_DST, IVF_PFB_IF)");
	if (!self->src)
		SKIP(return, "IVF_VF0 is needed");
	self->k_open = !kmsg_open(&self->k);

	/* A configured source, saved. */
	ret = vfio_dev_open(&self->ds, self->src);
	if (ret)
		pfdown_free(self);
	ASSERT_EQ(0, ret) TH_LOG("open source %s: %s", self->src,
				 strerror(-ret));
	self->ds_open = true;
	ret = ivf_open(&self->vs, &self->ds, IVF_ACCESS_MMAP);
	self->vs_open = !ret;
	ret = ret ? ret : ivf_reset(&self->vs);
	ret = ret ? ret : ivf_set_vlan(&self->vs, 42, true);
	EXPECT_EQ(0, ret) TH_LOG("source handshake and VLAN 42: %s",
				 strerror(-ret));
	ret = mig_set_state(&self->ds, VFIO_DEVICE_STATE_STOP_COPY, &fd);
	if (ret || fd < 0)
		pfdown_free(self);
	ASSERT_TRUE(!ret && fd >= 0) TH_LOG("source -> STOP_COPY: %s",
					    strerror(-ret));
	ret = mig_read_all(fd, &self->buf, &self->len) < 0;
	close(fd);
	EXPECT_TRUE(!ret && self->len > 0)
		TH_LOG("stream of %zu bytes", self->len);

	/* The destination, mapped. */
	ret = vfio_dev_open(&self->dd, self->dst);
	if (ret)
		pfdown_free(self);
	ASSERT_EQ(0, ret) TH_LOG("open destination %s: %s", self->dst,
				 strerror(-ret));
	self->dd_open = true;
	ret = ivf_open(&self->vd, &self->dd, IVF_ACCESS_MMAP);
	self->vd_open = !ret;
	EXPECT_EQ(0, ret) TH_LOG("destination mapped: %s", strerror(-ret));
}

FIXTURE_TEARDOWN(migration_pfdown)
{
	pfdown_free(self);
}

/*
 * PF B down, the stream into a RESUMING destination, RESUMING -> STOP
 * refused: the state stays, the kernel log says why. Leaves the PF down
 * and the resuming fd open.
 */
static void resume_with_pf_down(struct __test_metadata *_metadata,
				FIXTURE_DATA(migration_pfdown) *self)
{
	uint32_t st = 0;
	char log[4096];
	int ret;

	/* The destination's PF goes down. */
	self->pf_down = true;
	EXPECT_EQ(0, pf_link(self->pfb_if, false))
		TH_LOG("ip link set %s down", self->pfb_if);
	ret = mig_set_state(&self->dd, VFIO_DEVICE_STATE_RESUMING, &self->fd);
	ASSERT_TRUE(!ret && self->fd >= 0)
		TH_LOG("destination -> RESUMING: %s", strerror(-ret));
	EXPECT_EQ(0, mig_write_all(self->fd, self->buf, self->len, 0))
		TH_LOG("stream written");
	kmsg_mark(&self->k);
	ret = mig_set_state(&self->dd, VFIO_DEVICE_STATE_STOP, NULL);
	TH_LOG("RESUMING -> STOP with the PF down: %s", strerror(-ret));
	EXPECT_TRUE(ret == -EAGAIN || ret == -ETIMEDOUT)
		TH_LOG("must fail with EAGAIN or ETIMEDOUT");
	mig_get_state(&self->dd, &st);
	EXPECT_EQ(VFIO_DEVICE_STATE_RESUMING, st)
		TH_LOG("state must stay RESUMING (%s)", mig_state_name(st));
	ret = self->k_open ? kmsg_read(&self->k, "igbvf-vfio-pci", log,
				       sizeof(log)) : -EBADF;
	TH_LOG("kernel log: %.200s", ret > 0 ? log : "(nothing)");
	EXPECT_TRUE(ret > 0 && (strstr(log, "resetting or down") ||
				strstr(log, "did not answer")))
		TH_LOG("the kernel log must say why");
}

/* PF up again: the same stream goes in, the guest's mailbox works */
static void resume_with_pf_up(struct __test_metadata *_metadata,
			      FIXTURE_DATA(migration_pfdown) *self)
{
	int ret = -EINVAL, i;

	EXPECT_EQ(0, pf_link(self->pfb_if, true))
		TH_LOG("ip link set %s up", self->pfb_if);
	self->pf_down = false;
	for (i = 0; i < 20; i++) {
		sleep(1);
		ret = mig_set_state(&self->dd, VFIO_DEVICE_STATE_STOP, NULL);
		if (!ret)
			break;
	}
	TH_LOG("RESUMING -> STOP after the PF is up: %s after %d s",
	       strerror(-ret), i + 1);
	EXPECT_EQ(0, ret) TH_LOG("RESUMING -> STOP must succeed once the PF is up");
	fd_close(&self->fd);
	ret = mig_set_state(&self->dd, VFIO_DEVICE_STATE_RUNNING, NULL);
	EXPECT_EQ(0, ret) TH_LOG("destination -> RUNNING: %s", strerror(-ret));
	ASSERT_TRUE(self->vd_open) TH_LOG("the destination is not mapped");
	ret = ivf_set_vlan(&self->vd, 43, true);
	EXPECT_EQ(0, ret)
		TH_LOG("the guest's mailbox must work on the destination (SET_VLAN 43: %s)",
		       strerror(-ret));
}

TEST_F_TIMEOUT(migration_pfdown, resume_refused_while_pf_down, CASE_TIMEOUT)
{
	resume_with_pf_down(_metadata, self);
}

TEST_F_TIMEOUT(migration_pfdown, same_stream_resumes_once_pf_up,
	       CASE_TIMEOUT)
{
	resume_with_pf_down(_metadata, self);
	resume_with_pf_up(_metadata, self);
}

TEST_F_TIMEOUT(migration_pfdown, both_ends_reset_after_resume, CASE_TIMEOUT)
{
	resume_with_pf_down(_metadata, self);
	resume_with_pf_up(_metadata, self);
	ASSERT_TRUE(self->vs_open) TH_LOG("the source is not mapped");
	EXPECT_TRUE(vfio_dev_reset(&self->dd) == 0 && ivf_reset(&self->vd) == 0)
		TH_LOG("destination: VFIO_DEVICE_RESET and handshake");
	mig_set_state(&self->ds, VFIO_DEVICE_STATE_RUNNING, NULL);
	EXPECT_TRUE(vfio_dev_reset(&self->ds) == 0 && ivf_reset(&self->vs) == 0)
		TH_LOG("source: VFIO_DEVICE_RESET and handshake");
}

TEST_HARNESS_MAIN
