// SPDX-License-Identifier: GPL-2.0
/*
 * reset_race: a reset through sysfs (/sys/bus/pci/devices/BDF/reset, root
 * only) reaches the driver's reset_done without the vfio-pci core's
 * memory_lock, and writes the tracker's shadow page. Meanwhile the VMM
 * starts tracking (the shadow is allocated), cancels, and closes the
 * device (the shadow is freed). For IVF_RACE_SECS (default 10) the main
 * thread cycles open, rings up, RUNNING -> PRE_COPY (tracking), -> RUNNING,
 * close; another resets the VF through sysfs once in each cycle, at a
 * random point from tracking on to 2 ms after the close. The kernel log must
 * stay clean (lab.sh fails the run on a splat; the sanitizer kernel's
 * KASAN sees a write to a freed shadow), and the VF must work after.
 *
 * Env: IVF_VF0, IVF_PEER_NS, IVF_PEER_IF, IVF_RACE_SECS.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dtraffic.h"
#include "frame.h"
#include "ktap.h"
#include "mig_states.h"
#include "peer.h"
#include "util.h"

KTAP_DEFINE_STATE();

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

int main(void)
{
	const char *secs_env = getenv("IVF_RACE_SECS");
	unsigned int secs = secs_env ? strtoul(secs_env, NULL, 0) : 10;
	unsigned long cycles = 0, tracked = 0, open_errs = 0;
	struct dsess_cfg sc = { .snapshots = false };
	struct peer peer;
	struct dsess s;
	uint32_t seq = 0;
	pthread_t th;
	uint64_t end;
	int ret, got;

	bdf = env_need("IVF_VF0");
	ktap_header("reset_race: sysfs resets while tracking starts and the device closes");
	ret = peer_open(&peer, env_need("IVF_PEER_NS"), env_need("IVF_PEER_IF"),
			FRAME_ETHERTYPE);
	if (!ktap_check(!ret, "peer socket"))
		ktap_finish();
	srand(0x14e5e7);
	alarm(secs + 120);
	if (!ktap_check(!pthread_create(&th, NULL, resetter, NULL),
			"resetter thread"))
		ktap_finish();
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
	pthread_join(th, NULL);
	ktap_info("%lu cycles (%lu tracked, %lu opens failed), %lu sysfs resets (%lu refused) in %u s",
		  cycles, tracked, open_errs, resets, reset_errs, secs);
	ktap_check(tracked > 0 && resets > 0,
		   "tracking started %lu times while %lu sysfs resets went through",
		   tracked, resets);

	/* the VF after: a fresh open, frames flow */
	ret = dsess_open(&s, bdf, &sc);
	got = ret ? 0 : vf_rx_burst(&s.v, &peer, 8, 2000, &seq);
	ktap_check(!ret && got == 8,
		   "the VF opens and receives after the race (%s, %d of 8 frames)",
		   strerror(-ret), got);
	dsess_close(&s);
	peer_close(&peer);
	ktap_finish();
}
