// SPDX-License-Identifier: GPL-2.0
/*
 * unmap_race (issue 14, claim 8): two VMM threads unmap DMA-mapped memory
 * the tracker is using, at the same moment, while the device is in
 * PRE_COPY through a type1 container and frames arrive.
 *
 * type1 calls the driver's .dma_unmap holding its device_list_lock, with
 * its iommu->lock dropped; a second unmapping thread that finds pages of
 * ours pinned in its range takes device_list_lock while it holds
 * iommu->lock. A driver that unpinned inside the callback (which needs
 * iommu->lock) would have both threads wait for ever, and neither could
 * be killed (the tracker's hold mode did, until session 11 removed it).
 * The tracker holds no pins between polls and takes no lock in the
 * callback.
 *
 * The fixture: a session (lib/dtraffic.h) whose RX buffer pool is mapped
 * as two halves, tracked (PRE_COPY, the tracker pulsing), with traffic
 * running from the pool. The race: two threads, released together by a
 * barrier, each unmap one half, then each map it again, for
 * IVF_UNMAP_ROUNDS rounds (default 60); a watchdog fails the case if they
 * have not all returned after 60 s. Their times are diagnostic lines. One
 * variant (the race is type1's):
 *   container  group + type1 container
 *
 * Cases:
 *   concurrent_unmaps_of_tracked_memory_return_promptly
 *             every unmap and map returns and succeeds, none of the unmaps
 *             takes 2 s (the callback waits at most 100 ms per call for a
 *             pulse to end)
 *   device_receives_and_saves_after_concurrent_unmaps
 *             after the last round frames flow again, and the device is
 *             quiesced and its state saved (STOP_COPY)
 *
 * Env: IVF_VF0, IVF_PEER_NS, IVF_PEER_IF, IVF_UNMAP_ROUNDS.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dcheck.h"
#include "dirty.h"
#include "dtraffic.h"
#include "fixture.h"
#include "frame.h"
#include "mig.h"
#include "util.h"
#include "vfio.h"

#include "kselftest_harness.h"
#include "backends.h"

/* the race's own watchdog (WATCHDOG_S) and the session around it */
#define WATCHDOG_S	60
#define CASE_TIMEOUT	300

struct half {
	struct dsess *s;
	pthread_barrier_t *bar;
	unsigned int rounds;
	uint64_t iova;
	void *vaddr;
	size_t size;
	int err;			/* first failure, -errno */
	uint64_t max_unmap_ns, max_map_ns, sum_unmap_ns;
};

static void on_alarm(int sig)
{
	static const char msg[] =
		"# unmap_race: an unmap or map did not return in 60 s (the kernel is stuck)\n";

	(void)sig;
	if (write(2, msg, sizeof(msg) - 1) < 0)
		_exit(KSFT_FAIL);
	_exit(KSFT_FAIL);
}

static void *half_thread(void *arg)
{
	struct half *h = arg;
	uint64_t t0, dt;
	unsigned int i;
	int ret;

	for (i = 0; i < h->rounds; i++) {
		pthread_barrier_wait(h->bar);
		t0 = now_ns();
		ret = vfio_dma_unmap(&h->s->d, h->iova, h->size);
		dt = now_ns() - t0;
		if (ret && !h->err)
			h->err = ret;
		h->sum_unmap_ns += dt;
		if (dt > h->max_unmap_ns)
			h->max_unmap_ns = dt;
		/* both halves are unmapped before either comes back */
		pthread_barrier_wait(h->bar);
		t0 = now_ns();
		ret = vfio_dma_map(&h->s->d, h->vaddr, h->size, h->iova);
		dt = now_ns() - t0;
		if (ret && !h->err)
			h->err = ret;
		if (dt > h->max_map_ns)
			h->max_map_ns = dt;
		/* a few polls of traffic into the mapped halves */
		usleep(2000 + (i % 7) * 1000);
	}
	return NULL;
}

FIXTURE(unmap_race) {
	struct dcase c;	/* peer, session and traffic; no checker */
	unsigned int rounds;
	struct half h[2];
};

IVF_BACKEND_CONTAINER(unmap_race);

FIXTURE_SETUP(unmap_race)
{
	const char *renv = env_get("IVF_UNMAP_ROUNDS");
	const char *bdf, *ns, *ifname, *why;
	struct dsess_cfg sc = { .backend = variant->backend };
	struct dsess *s = &self->c.s;
	long long pulsing;
	size_t half;
	int ret, i;

	why = vf_peer_unusable(&bdf, &ns, &ifname, NULL, NULL);
	if (why)
		SKIP(return, "%s", why);
	ret = peer_open(&self->c.peer, ns, ifname, FRAME_ETHERTYPE);
	ASSERT_EQ(0, ret) TH_LOG("peer socket: %s", err_str(ret));
	self->c.peer_open = true;
	peer_set_mtu(ns, ifname, 1500);
	self->c.sess_open = true;
	ret = dsess_open(s, bdf, &sc);
	ASSERT_EQ(0, ret) TH_LOG("session set up: %s", err_str(ret));

	/* the pool as two mappings, so that each thread has its own */
	half = s->pool.size / 2;
	ret = vfio_dma_unmap(&s->d, s->pool.iova, s->pool.size) ?:
	      vfio_dma_map(&s->d, s->pool.vaddr, half, s->pool.iova) ?:
	      vfio_dma_map(&s->d, (char *)s->pool.vaddr + half, half,
			   s->pool.iova + half);
	ASSERT_EQ(0, ret)
		TH_LOG("the RX pool mapped as two halves of %zu KiB: %s",
		       half >> 10, err_str(ret));

	dtraffic_init(&self->c.t, &dtraffic_mixed, &s->v, &s->rx,
		      &self->c.peer);
	self->c.t_init = true;
	self->c.t.c.rx_target = 0;
	ret = dsess_engage(s) ?: dtraffic_start(&self->c.t);
	ASSERT_EQ(0, ret)
		TH_LOG("tracking engaged (PRE_COPY), traffic runs: %s",
		       err_str(ret));
	pulsing = (long long)dsess_dbg(s, "pulsing");
	ASSERT_EQ(1, pulsing) TH_LOG("debugfs must say pulsing (%lld)", pulsing);
	usleep(300000);

	self->rounds = renv ? strtoul(renv, NULL, 0) : 60;
	for (i = 0; i < 2; i++) {
		self->h[i] = (struct half) {
			.s = s, .rounds = self->rounds,
			.iova = s->pool.iova + i * half,
			.vaddr = (char *)s->pool.vaddr + i * half,
			.size = half,
		};
	}
}

FIXTURE_TEARDOWN(unmap_race)
{
	alarm(0);
	dcase_free(&self->c);
}

/*
 * The race: both threads, released together each round; the watchdog ends
 * the case if it does not return in WATCHDOG_S.
 */
static void race(struct __test_metadata *_metadata,
		 FIXTURE_DATA(unmap_race) *self)
{
	struct half *h = self->h;
	pthread_barrier_t bar;
	pthread_t th[2];
	int i;

	pthread_barrier_init(&bar, NULL, 2);
	for (i = 0; i < 2; i++)
		h[i].bar = &bar;
	signal(SIGALRM, on_alarm);
	alarm(WATCHDOG_S);
	for (i = 0; i < 2; i++)
		ASSERT_EQ(0, pthread_create(&th[i], NULL, half_thread, &h[i]));
	for (i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	alarm(0);
	pthread_barrier_destroy(&bar);
	TH_LOG("%u rounds: unmap: mean %.2f ms, longest %.2f / %.2f ms; map: longest %.2f / %.2f ms (%s, %s)",
	       self->rounds,
	       (h[0].sum_unmap_ns + h[1].sum_unmap_ns) / 2e6 /
	       (self->rounds ?: 1),
	       h[0].max_unmap_ns / 1e6, h[1].max_unmap_ns / 1e6,
	       h[0].max_map_ns / 1e6, h[1].max_map_ns / 1e6,
	       err_str(h[0].err), err_str(h[1].err));
	TH_LOG("debugfs: pulses %lld, pulse_deferred %lld, pulse_unmapped %lld",
	       (long long)dsess_dbg(&self->c.s, "pulses"),
	       (long long)dsess_dbg(&self->c.s, "pulse_deferred"),
	       (long long)dsess_dbg(&self->c.s, "pulse_unmapped"));
}

TEST_F_TIMEOUT(unmap_race, concurrent_unmaps_of_tracked_memory_return_promptly,
	       CASE_TIMEOUT)
{
	race(_metadata, self);
	EXPECT_TRUE(!self->h[0].err && !self->h[1].err)
		TH_LOG("both threads must unmap and map their half each time");
	/* the callback waits at most 100 ms per call for a pulse to end */
	EXPECT_TRUE(self->h[0].max_unmap_ns < 2000000000ull &&
		    self->h[1].max_unmap_ns < 2000000000ull)
		TH_LOG("no unmap may take 2 s or more");
}

TEST_F_TIMEOUT(unmap_race, device_receives_and_saves_after_concurrent_unmaps,
	       CASE_TIMEOUT)
{
	struct dtraffic *t = &self->c.t;
	uint64_t rcvd0;
	int ret;

	race(_metadata, self);
	/* the halves are mapped again: frames must come in */
	rcvd0 = t->vf_rcvd;
	usleep(1000000);
	TH_LOG("%llu frames in 1 s after the last round",
	       (unsigned long long)(t->vf_rcvd - rcvd0));
	EXPECT_LT(rcvd0 + 50, t->vf_rcvd)
		TH_LOG("frames must flow after the last round");
	dtraffic_stop(t);
	dtraffic_print(t, "");
	ret = dsess_state(&self->c.s, VFIO_DEVICE_STATE_PRE_COPY_P2P) ?:
	      dsess_state(&self->c.s, VFIO_DEVICE_STATE_STOP_COPY);
	EXPECT_EQ(0, ret)
		TH_LOG("the device must quiesce and reach STOP_COPY: %s",
		       err_str(ret));
}

TEST_HARNESS_MAIN
