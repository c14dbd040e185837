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
 * The RX buffer pool is mapped as two halves. Traffic runs from the pool;
 * two threads, released together by a barrier, each unmap one half, then
 * each map it again, for IVF_UNMAP_ROUNDS rounds (default 60). Pass: every
 * unmap and map returns (a watchdog fails the test after 60 s), in bounded
 * time; frames flow again after the last round; the device is quiesced
 * and its state saved (STOP_COPY) afterwards.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dirty.h"
#include "dtraffic.h"
#include "frame.h"
#include "ktap.h"
#include "mig.h"
#include "util.h"
#include "vfio.h"

KTAP_DEFINE_STATE();

static struct peer peer;

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
		"not ok - unmap_race: an unmap or map did not return in 60 s (the kernel is stuck)\n";

	(void)sig;
	if (write(1, msg, sizeof(msg) - 1) < 0)
		_exit(1);
	_exit(1);
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

int main(void)
{
	const char *bdf = env_need("IVF_VF0");
	const char *ns = env_need("IVF_PEER_NS");
	const char *ifname = env_need("IVF_PEER_IF");
	const char *renv = env_get("IVF_UNMAP_ROUNDS");
	unsigned int rounds = renv ? strtoul(renv, NULL, 0) : 60;
	struct dsess_cfg sc = { 0 };
	uint64_t rcvd0, deferred, pulses;
	struct half h[2];
	pthread_barrier_t bar;
	pthread_t th[2];
	struct dtraffic t;
	struct dsess s;
	size_t half;
	int ret, i;

	ktap_header("unmap_race: two threads unmap tracked memory at once (claim 8)");
	ret = peer_open(&peer, ns, ifname, FRAME_ETHERTYPE);
	if (!ktap_check(!ret, "peer socket"))
		ktap_finish();
	peer_set_mtu(ns, ifname, 1500);

	if (dsess_open(&s, bdf, &sc)) {
		ktap_check(false, "session set up");
		dsess_close(&s);
		ktap_finish();
	}
	/* the pool as two mappings, so that each thread has its own */
	half = s.pool.size / 2;
	ret = vfio_dma_unmap(&s.d, s.pool.iova, s.pool.size) ?:
	      vfio_dma_map(&s.d, s.pool.vaddr, half, s.pool.iova) ?:
	      vfio_dma_map(&s.d, (char *)s.pool.vaddr + half, half,
			   s.pool.iova + half);
	if (!ktap_check(!ret, "the RX pool mapped as two halves of %zu KiB (%s)",
			half >> 10, strerror(-ret)))
		goto out;

	dtraffic_init(&t, &dtraffic_mixed, &s.v, &s.rx, &peer);
	t.c.rx_target = 0;
	ret = dsess_engage(&s) ?: dtraffic_start(&t);
	if (!ktap_check(!ret, "tracking engaged (PRE_COPY), traffic runs (%s)",
			strerror(-ret)))
		goto out;
	ktap_check(dsess_dbg(&s, "pulsing") == 1,
		   "debugfs says pulsing (%lld)",
		   (long long)dsess_dbg(&s, "pulsing"));
	usleep(300000);

	pthread_barrier_init(&bar, NULL, 2);
	for (i = 0; i < 2; i++) {
		h[i] = (struct half) {
			.s = &s, .bar = &bar, .rounds = rounds,
			.iova = s.pool.iova + i * half,
			.vaddr = (char *)s.pool.vaddr + i * half,
			.size = half,
		};
	}
	signal(SIGALRM, on_alarm);
	alarm(60);
	for (i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, half_thread, &h[i]);
	for (i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	alarm(0);
	pthread_barrier_destroy(&bar);
	ktap_check(!h[0].err && !h[1].err,
		   "%u rounds: both threads unmapped and mapped their half each time (%s, %s)",
		   rounds, strerror(-h[0].err), strerror(-h[1].err));
	ktap_info("unmap: mean %.2f ms, longest %.2f / %.2f ms; map: longest %.2f / %.2f ms",
		  (h[0].sum_unmap_ns + h[1].sum_unmap_ns) / 2e6 / (rounds ?: 1),
		  h[0].max_unmap_ns / 1e6, h[1].max_unmap_ns / 1e6,
		  h[0].max_map_ns / 1e6, h[1].max_map_ns / 1e6);
	/* the callback waits at most 100 ms per call for a pulse to end */
	ktap_check(h[0].max_unmap_ns < 2000000000ull &&
		   h[1].max_unmap_ns < 2000000000ull,
		   "no unmap took 2 s or more");
	deferred = dsess_dbg(&s, "pulse_deferred");
	pulses = dsess_dbg(&s, "pulses");
	ktap_info("debugfs: pulses %lld, pulse_deferred %lld, pulse_unmapped %lld",
		  (long long)pulses, (long long)deferred,
		  (long long)dsess_dbg(&s, "pulse_unmapped"));

	/* the halves are mapped again: frames must come in */
	rcvd0 = t.vf_rcvd;
	usleep(1000000);
	ktap_check(t.vf_rcvd > rcvd0 + 50,
		   "frames flow after the last round (%llu in 1 s)",
		   (unsigned long long)(t.vf_rcvd - rcvd0));
	dtraffic_stop(&t);
	dtraffic_print(&t, "");
	ret = dsess_state(&s, VFIO_DEVICE_STATE_PRE_COPY_P2P) ?:
	      dsess_state(&s, VFIO_DEVICE_STATE_STOP_COPY);
	ktap_check(!ret, "device quiesced and STOP_COPY reached (%s)",
		   strerror(-ret));
	dtraffic_free(&t);
out:
	dsess_close(&s);
	ktap_finish();
}
