// SPDX-License-Identifier: GPL-2.0
/*
 * iommufd_race: through iommufd the tracker reads RX descriptors through
 * the device's IOMMU domain, which belongs to the user. While DMA logging
 * runs and the guest rewinds its RX tail and puts it back again and again
 * (each time the tracker reads the whole ring), one thread unmaps and maps
 * back the RX ring and buffers (IOMMU_IOAS_UNMAP frees the pages' pins and
 * the page-table pages), and another moves the device to a new hwpt, back
 * to the IOAS, and destroys the hwpt. The tracker must read only pages the
 * domain maps, with a reference, from a domain that stays attached: no
 * splat (the lab's lockdep kernel; KASAN on a sanitizer kernel: suite.sh
 * and lab.sh fail the run on one), reports keep working, and afterwards,
 * with everything mapped back, the VF receives again.
 *
 * The fixture: the peer, the VF up with its rings, DMA logging started
 * over what is mapped. One variant, since the race is iommufd's own:
 *   cdev_log   the device's cdev bound to iommufd, DMA logging
 * It skips, saying why, on a kernel without IOMMUFD.
 *
 * Case:
 *   tracker_reads_racing_unmaps_and_hwpt_swaps_keep_reports_and_vf_working
 *             the race ran (both loops, more than 10 rounds each), every
 *             unmap, map, attach and destroy and every report succeeded,
 *             and after a reset the VF receives 8 of 8 frames. The rounds,
 *             rewinds, reports and frames are diagnostic lines.
 *
 * Env: IVF_VF0, IVF_PEER_NS, IVF_PEER_IF, IVF_RACE_SECS (default 20; keep
 * it below CASE_TIMEOUT - 120).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <linux/iommufd.h>

#include "dirty.h"
#include "dtraffic.h"
#include "fixture.h"
#include "frame.h"
#include "ivf.h"
#include "peer.h"
#include "util.h"

#include "kselftest_harness.h"
#include "backends.h"

/* 20 s of race; a sanitizer kernel's setup and reset are slow */
#define CASE_TIMEOUT	300

/* the case's device and guest, shared with the racing threads */
static struct vfio_dev d;
static struct ivf v;
static volatile int stop;
static unsigned long unmaps, unmap_errs, replaces, replace_errs;

static void *unmapper(void *arg)
{
	(void)arg;
	while (!stop) {
		if (vfio_dma_unmap(&d, v.rx_ring_dma.iova, v.rx_ring_dma.size) ||
		    vfio_dma_unmap(&d, v.rx_buf_dma.iova, v.rx_buf_dma.size))
			unmap_errs++;
		usleep(200);
		if (vfio_dma_map(&d, v.rx_ring_dma.vaddr, v.rx_ring_dma.size,
				 v.rx_ring_dma.iova) ||
		    vfio_dma_map(&d, v.rx_buf_dma.vaddr, v.rx_buf_dma.size,
				 v.rx_buf_dma.iova))
			unmap_errs++;
		unmaps++;
		usleep(500);
	}
	return NULL;
}

static int attach(uint32_t pt)
{
	struct vfio_device_attach_iommufd_pt at = {
		.argsz = sizeof(at), .pt_id = pt,
	};

	return ioctl(d.fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at) ? -errno : 0;
}

static void *replacer(void *arg)
{
	(void)arg;
	while (!stop) {
		struct iommu_hwpt_alloc a = {
			.size = sizeof(a), .dev_id = d.dev_id,
			.pt_id = d.ioas_id,
		};
		struct iommu_destroy del = { .size = sizeof(del) };

		if (ioctl(d.iommufd, IOMMU_HWPT_ALLOC, &a)) {
			replace_errs++;
			usleep(1000);
			continue;
		}
		if (attach(a.out_hwpt_id))
			replace_errs++;
		usleep(300);
		if (attach(d.ioas_id))
			replace_errs++;
		del.id = a.out_hwpt_id;
		if (ioctl(d.iommufd, IOMMU_DESTROY, &del))
			replace_errs++;
		replaces++;
		usleep(700);
	}
	return NULL;
}

FIXTURE(iommufd_race) {
	struct peer peer;
	bool peer_open, dev_open, ivf_open, logging;
	struct vfio_device_feature_dma_logging_range r;
	pthread_t tu, th;
	bool tu_started, th_started;
	uint64_t *bm;
};

IVF_BACKEND_CDEV_LOG(iommufd_race);

FIXTURE_SETUP(iommufd_race)
{
	const char *bdf, *ns, *ifname, *why;
	uint64_t pgsz = 4096;
	int ret;

	why = vf_peer_unusable(&bdf, &ns, &ifname, NULL, &variant->backend);
	if (why)
		SKIP(return, "%s", why);
	ret = vfio_dev_open_backend(&d, bdf, &variant->backend);
	ASSERT_EQ(0, ret) TH_LOG("open %s: %s", bdf, err_str(ret));
	self->dev_open = true;
	if (d.iommufd < 0)
		SKIP(return, "%s is not bound through iommufd", bdf);
	ret = peer_open(&self->peer, ns, ifname, FRAME_ETHERTYPE);
	if (!ret) {
		self->peer_open = true;
		ret = ivf_open(&v, &d, IVF_ACCESS_MMAP);
	}
	if (!ret) {
		self->ivf_open = true;
		ret = ivf_reset(&v) ?: ivf_rings_setup(&v, NULL);
	}
	ASSERT_EQ(0, ret) TH_LOG("peer socket, VF up: %s", err_str(ret));
	dirty_log_span(&d, &self->r);
	ret = dirty_log_start(&d, &self->r, 1, &pgsz);
	ASSERT_EQ(0, ret) TH_LOG("LOG_START: %s", err_str(ret));
	self->logging = true;
	self->bm = calloc(self->r.length / 4096 / 64 + 1, 8);
	ASSERT_NE(NULL, self->bm);
}

FIXTURE_TEARDOWN(iommufd_race)
{
	stop = 1;
	if (self->tu_started)
		pthread_join(self->tu, NULL);
	if (self->th_started)
		pthread_join(self->th, NULL);
	free(self->bm);
	if (self->logging)
		dirty_log_stop(&d);
	if (self->ivf_open)
		ivf_close(&v);
	if (self->dev_open)
		vfio_dev_close(&d);
	if (self->peer_open)
		peer_close(&self->peer);
}

TEST_F_TIMEOUT(iommufd_race,
	       tracker_reads_racing_unmaps_and_hwpt_swaps_keep_reports_and_vf_working,
	       CASE_TIMEOUT)
{
	const char *secs_env = env_get("IVF_RACE_SECS");
	unsigned long reports = 0, report_errs = 0, rx = 0, rewinds = 0;
	int secs = secs_env ? atoi(secs_env) : 20, ret, got = 0;
	uint32_t seq = 0;
	uint64_t end;

	ASSERT_EQ(0, pthread_create(&self->tu, NULL, unmapper, NULL))
		TH_LOG("unmapping thread");
	self->tu_started = true;
	ASSERT_EQ(0, pthread_create(&self->th, NULL, replacer, NULL))
		TH_LOG("hwpt replacing thread");
	self->th_started = true;
	end = now_ns() + (uint64_t)secs * 1000000000ull;
	while (now_ns() < end) {
		uint32_t rdt = ivf_rd(&v, IVF_RDT(0));

		/*
		 * Rewind the tail by one and put it back: the tracker reads
		 * the whole ring again through the domain each time.
		 */
		ivf_wr(&v, IVF_RDT(0), (rdt + v.rx_count - 1) % v.rx_count);
		usleep(300);
		ivf_wr(&v, IVF_RDT(0), rdt);
		rewinds++;
		rx += vf_rx_burst(&v, &self->peer, 4, 5, &seq);
		if (dirty_log_report(&d, self->r.iova, self->r.length, 4096,
				     self->bm))
			report_errs++;
		reports++;
	}
	stop = 1;
	pthread_join(self->tu, NULL);
	self->tu_started = false;
	pthread_join(self->th, NULL);
	self->th_started = false;
	TH_LOG("%d s: %lu unmap/map cycles (%lu errors), %lu hwpt replace/destroy cycles (%lu errors), %lu tail rewinds, %lu reports (%lu errors), %lu frames received",
	       secs, unmaps, unmap_errs, replaces, replace_errs, rewinds,
	       reports, report_errs, rx);
	EXPECT_TRUE(unmaps > 10 && replaces > 10)
		TH_LOG("the races must run: more than 10 unmaps and replaces each");
	EXPECT_TRUE(!unmap_errs && !replace_errs)
		TH_LOG("every unmap, map, attach and destroy must succeed");
	EXPECT_EQ(0, report_errs)
		TH_LOG("every report must succeed (%lu)", reports);
	dirty_log_stop(&d);
	self->logging = false;

	/* Everything mapped back: a reset guest receives again. */
	ret = vf_reset_and_ready(&d, &v);
	if (!ret)
		got = vf_rx_burst(&v, &self->peer, 8, 2000, &seq);
	EXPECT_TRUE(!ret && got == 8)
		TH_LOG("after a reset the VF must receive 8 of 8 frames (%d; %s)",
		       got, err_str(ret));
}

TEST_HARNESS_MAIN
