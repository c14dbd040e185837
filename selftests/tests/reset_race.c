// SPDX-License-Identifier: GPL-2.0
/*
 * reset_race: a reset through sysfs (/sys/bus/pci/devices/BDF/reset, root
 * only) reaches the driver's reset_done without the vfio-pci core's
 * memory_lock, and writes the tracker's shadow page. Meanwhile the VMM
 * starts tracking (the shadow is allocated), cancels, and closes the
 * device (the shadow is freed). For IVF_RACE_SECS (default 10) the case
 * cycles open, rings up, RUNNING -> PRE_COPY (tracking), -> RUNNING,
 * close; a thread resets the VF through sysfs once in each cycle, at a
 * random point from tracking on to 2 ms after the close. The kernel log must
 * stay clean (lab.sh fails the run on a splat; the sanitizer kernel's
 * KASAN sees a write to a freed shadow), and the VF must work after.
 *
 * The fixture: the peer, the backend (whether this kernel has it). The
 * variants are the backends the race runs on:
 *   container  group + type1 container, VFIO_IOMMU_DIRTY_PAGES
 *   cdev_log   the device's cdev bound to iommufd, DMA logging
 * A variant the running kernel cannot do skips, saying why.
 *
 * Case:
 *   sysfs_resets_racing_tracking_and_close_leave_vf_working
 *             the race ran (tracking started, sysfs resets went through),
 *             and a fresh open of the VF receives 8 frames after it.
 *
 * Env: IVF_VF0, IVF_PEER_NS, IVF_PEER_IF, IVF_RACE_SECS (keep it below
 * CASE_TIMEOUT - 120).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dirty.h"
#include "dtraffic.h"
#include "fixture.h"
#include "frame.h"
#include "mig_states.h"
#include "peer.h"
#include "util.h"

#include "kselftest_harness.h"
#include "backends.h"

/* 10 s of race and a reopen; a sanitizer kernel's resets are slow */
#define CASE_TIMEOUT 300

static const char *bdf;
static volatile int stop, armed;
static unsigned long resets, reset_errs;

/*
 * One reset per tracked session, at a random point of its last 4 ms:
 * around the cancel and the close that frees the shadow.
 */
static void *resetter(void *arg)
{
	char path[128];

	(void)arg;
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/reset", bdf);
	while (!stop) {
		if (!armed) {
			usleep(200);
			continue;
		}
		usleep(rand() % 4000);
		if (write_str_file(path, "1"))
			reset_errs++;
		else
			resets++;
		while (armed && !stop)
			usleep(200);
	}
	return NULL;
}

FIXTURE(reset_race) {
	struct vfio_backend backend;
	struct peer peer;
	bool peer_open;
	pthread_t th;
	bool th_started;
};

/*
 * container: type1 group/container, its dirty pages
 * cdev_log: the device's cdev on iommufd, DMA logging
 */
IVF_BACKENDS(reset_race);

FIXTURE_SETUP(reset_race)
{
	const char *ns, *ifname, *why;
	struct vfio_dev d;
	int ret;

	self->backend = variant->backend;
	why = vf_peer_unusable(&bdf, &ns, &ifname, NULL, &self->backend);
	if (why)
		SKIP(return, "%s", why);
	if (self->backend.dirty == VFIO_DIRTY_LOG) {
		ret = vfio_dev_open_backend(&d, bdf, &self->backend);
		ASSERT_EQ(0, ret) TH_LOG("open %s: %s", bdf, strerror(-ret));
		ret = dirty_log_probe(&d);
		vfio_dev_close(&d);
		if (ret)
			SKIP(return, "no DMA logging on this kernel (%s)",
			     strerror(-ret));
	}
	ret = peer_open(&self->peer, ns, ifname, FRAME_ETHERTYPE);
	ASSERT_EQ(0, ret) TH_LOG("peer socket: %s", strerror(-ret));
	self->peer_open = true;
}

FIXTURE_TEARDOWN(reset_race)
{
	if (self->th_started) {
		stop = 1;
		pthread_join(self->th, NULL);
	}
	if (self->peer_open)
		peer_close(&self->peer);
}

TEST_F_TIMEOUT(reset_race, sysfs_resets_racing_tracking_and_close_leave_vf_working,
	       CASE_TIMEOUT)
{
	const char *secs_env = getenv("IVF_RACE_SECS");
	unsigned int secs = secs_env ? strtoul(secs_env, NULL, 0) : 10;
	unsigned long cycles = 0, tracked = 0, open_errs = 0;
	struct dsess_cfg sc = { .snapshots = false,
				.backend = self->backend };
	struct dsess s;
	uint32_t seq = 0;
	uint64_t end;
	int ret, got;

	srand(0x14e5e7);
	ASSERT_EQ(0, pthread_create(&self->th, NULL, resetter, NULL))
		TH_LOG("resetter thread");
	self->th_started = true;
	end = now_ns() + (uint64_t)secs * 1000000000ull;
	while (now_ns() < end) {
		if (dsess_open(&s, bdf, &sc)) {
			/* EAGAIN while a reset holds the device */
			open_errs++;
			dsess_close(&s);
			usleep(10000);
			continue;
		}
		if (!dsess_engage(&s))
			tracked++;
		armed = 1;
		usleep(rand() % 2000);
		dsess_state(&s, S_RUNNING);
		usleep(rand() % 2000);
		dsess_close(&s);
		usleep(2000);
		armed = 0;
		cycles++;
	}
	stop = 1;
	pthread_join(self->th, NULL);
	self->th_started = false;
	TH_LOG("%lu cycles (%lu tracked, %lu opens failed), %lu sysfs resets (%lu refused) in %u s",
	       cycles, tracked, open_errs, resets, reset_errs, secs);
	EXPECT_TRUE(tracked > 0 && resets > 0)
		TH_LOG("tracking must start while sysfs resets go through (tracked %lu, resets %lu)",
		       tracked, resets);

	/* the VF after: a fresh open, frames flow */
	ret = dsess_open(&s, bdf, &sc);
	got = ret ? 0 : vf_rx_burst(&s.v, &self->peer, 8, 2000, &seq);
	EXPECT_TRUE(!ret && got == 8)
		TH_LOG("the VF must open and receive after the race (%s, %d of 8 frames)",
		       strerror(-ret), got);
	dsess_close(&s);
}

TEST_HARNESS_MAIN
