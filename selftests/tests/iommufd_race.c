// SPDX-License-Identifier: GPL-2.0
/*
 * iommufd_race: through iommufd the tracker reads RX descriptors through
 * the device's IOMMU domain, which belongs to the user. While DMA logging
 * runs and the guest rewinds its RX tail and puts it back again and again
 * (each time the tracker reads the whole ring), one thread unmaps and maps back the RX ring and buffers
 * (IOMMU_IOAS_UNMAP frees the pages' pins and the page-table pages), and
 * another moves the device to a new hwpt, back to the IOAS, and destroys
 * the hwpt. The tracker must read only pages the domain maps, with a
 * reference, from a domain that stays attached: no splat (the lab's
 * lockdep kernel; KASAN on a sanitizer kernel), reports keep working, and
 * afterwards, with everything mapped back, the VF receives again.
 *
 * Needs the device's cdev and iommufd (IVF_VFIO=cdev); skipped otherwise.
 * Env: IVF_VF0, IVF_PEER_NS, IVF_PEER_IF, IVF_RACE_SECS (default 20).
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
#include "frame.h"
#include "ivf.h"
#include "ktap.h"
#include "peer.h"
#include "util.h"

KTAP_DEFINE_STATE();

static struct vfio_dev d;
static struct ivf v;
static struct peer peer;
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

/* peer sends @n frames; how many the VF receives within @ms */
static int frames(int n, int ms, uint32_t *seq)
{
	uint8_t buf[FRAME_MAX];
	uint64_t end;
	int got = 0, i, r;

	for (i = 0; i < n; i++) {
		size_t len = frame_build(buf, v.mac, peer.mac, 9, (*seq)++,
					 FRAME_MIN);

		peer_send(&peer, buf, len);
	}
	end = now_ns() + (uint64_t)ms * 1000000;
	while (got < n && now_ns() < end) {
		r = ivf_rx_poll(&v, NULL, NULL, 64);
		if (r > 0)
			got += r;
		else
			usleep(500);
	}
	return got;
}

int main(void)
{
	const char *bdf = env_need("IVF_VF0");
	const char *ns = env_need("IVF_PEER_NS");
	const char *ifname = env_need("IVF_PEER_IF");
	const char *secs_env = env_get("IVF_RACE_SECS");
	struct vfio_device_feature_dma_logging_range r;
	unsigned long reports = 0, report_errs = 0, rx = 0, rewinds = 0;
	uint64_t pgsz = 4096, end, *bm;
	pthread_t tu, th;
	uint32_t seq = 0;
	int secs = secs_env ? atoi(secs_env) : 20, ret, got;

	ktap_header("iommufd_race: tracker reads against IOAS unmaps and hwpt replaces");
	ret = vfio_dev_open(&d, bdf);
	if (!ktap_check(!ret, "open %s", bdf))
		ktap_finish();
	if (d.iommufd < 0) {
		vfio_dev_close(&d);
		ktap_skip_all("not bound through iommufd (IVF_VFIO=cdev)");
	}
	ret = peer_open(&peer, ns, ifname, FRAME_ETHERTYPE);
	if (!ret)
		ret = ivf_open(&v, &d, IVF_ACCESS_MMAP);
	if (!ret)
		ret = ivf_reset(&v);
	if (!ret)
		ret = ivf_rings_setup(&v, NULL);
	if (!ktap_check(!ret, "VF up: %s", ret ? strerror(-ret) : "ok"))
		goto out;
	dirty_log_span(&d, &r);
	ret = dirty_log_start(&d, &r, 1, &pgsz);
	if (!ktap_check(!ret, "LOG_START: %s", ret ? strerror(-ret) : "ok"))
		goto out;
	bm = calloc(r.length / 4096 / 64 + 1, 8);

	pthread_create(&tu, NULL, unmapper, NULL);
	pthread_create(&th, NULL, replacer, NULL);
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
		rx += frames(4, 5, &seq);
		if (dirty_log_report(&d, r.iova, r.length, 4096, bm))
			report_errs++;
		reports++;
	}
	stop = 1;
	pthread_join(tu, NULL);
	pthread_join(th, NULL);
	ktap_info("%d s: %lu unmap/map cycles (%lu errors), %lu hwpt replace/destroy cycles (%lu errors), %lu tail rewinds, %lu reports (%lu errors), %lu frames received",
		  secs, unmaps, unmap_errs, replaces, replace_errs, rewinds,
		  reports, report_errs, rx);
	ktap_check(unmaps > 10 && replaces > 10,
		   "the races ran: %lu unmaps, %lu replaces", unmaps, replaces);
	ktap_check(!unmap_errs && !replace_errs,
		   "every unmap, map, attach and destroy succeeded");
	ktap_check(!report_errs, "every report succeeded (%lu)", reports);
	free(bm);
	dirty_log_stop(&d);

	/* Everything mapped back: a reset guest receives again. */
	ret = vfio_dev_reset(&d);
	if (!ret)
		ret = ivf_reset(&v);
	if (!ret) {
		ivf_rings_program(&v, NULL, NULL);
		usleep(100000);
		got = frames(8, 2000, &seq);
		ret = got == 8 ? 0 : -EIO;
	}
	ktap_check(!ret, "after a reset the VF receives 8 of 8 frames: %s",
		   ret ? strerror(-ret) : "ok");
out:
	ivf_close(&v);
	vfio_dev_close(&d);
	peer_close(&peer);
	ktap_finish();
}
