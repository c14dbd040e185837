// SPDX-License-Identifier: GPL-2.0
/*
 * dirty_vmm: a mini VMM migrates "guest memory" and the VF, and the copy
 * is proved right byte for byte.
 *
 * Source: IVF_VF0 with the userspace VF driver (lib/ivf.c + the pooled RX
 * refill of lib/dtraffic.c) receiving a sequenced stream from the kernel
 * peer and sending one back; its rings and buffers live in the source's
 * memory. Destination: IVF_DST if set (another PF), else IVF_VF2 given
 * IVF_VF0_MAC as admin MAC for the run; its container maps SEPARATE memory
 * at the same IOVAs.
 *
 * Precopy as QEMU does it: container dirty tracking START, RUNNING ->
 * PRE_COPY, a first GET_BITMAP (clears), a full copy of every region, then
 * rounds of GET_BITMAP and copying the reported pages while the traffic
 * runs. Stop: the guest's CPU is held (the traffic thread pauses),
 * PRE_COPY_P2P -> STOP_COPY, the device state is read, a last GET_BITMAP
 * and copy. The pages the guest's CPU writes (rings, TX buffers) are copied
 * whole at the stop, as a VMM's CPU dirty log would have them; the RX
 * buffers, which only the device writes, reach the destination only through
 * the dirty reports. Then the proof: destination memory == source memory,
 * byte for byte. Then RESUMING on the destination with the stream, STOP,
 * RUNNING; the userspace driver goes on with the destination device and
 * memory (frames the source received but the guest had not read yet must
 * be there) and the stream must go on in sequence, nothing lost.
 *
 * Usage: dirty_vmm [rounds [frames-after]]   (default 25, 3000)
 * Env: IVF_VF0, IVF_VF0_MAC, IVF_PEER_NS, IVF_PEER_IF, IVF_DST or
 *      IVF_VF2 + IVF_PF + IVF_PF_IF + IVF_VF2_MAC.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "dcheck.h"
#include "dirty.h"
#include "dtraffic.h"
#include "frame.h"
#include "ktap.h"
#include "mig.h"
#include "util.h"

KTAP_DEFINE_STATE();

struct dst_side {
	struct vfio_dev d;
	struct vfio_dma dma[DMEM_MAX_REGIONS];
	struct dmem m;
	bool open;
};

/* VF index of @vf on @pf, or -1 */
static int vf_index(const char *pf, const char *vf)
{
	char path[PATH_MAX], link[PATH_MAX];
	ssize_t n;
	int i;

	for (i = 0; i < 64; i++) {
		const char *b;

		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/virtfn%d",
			 pf, i);
		n = readlink(path, link, sizeof(link) - 1);
		if (n < 0)
			return -1;
		link[n] = 0;
		b = strrchr(link, '/');
		if (!strcmp(b ? b + 1 : link, vf))
			return i;
	}
	return -1;
}

static int set_admin_mac(const char *pf_if, int vfn, const char *mac)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "ip link set %s vf %d mac %s", pf_if, vfn,
		 mac);
	return system(cmd) == 0 ? 0 : -1;
}

/* the destination: its own memory at the source's IOVAs */
static int dst_setup(struct dst_side *dst, const char *bdf,
		     const struct dmem *src)
{
	int i, ret;

	memset(dst, 0, sizeof(*dst));
	ret = vfio_dev_open(&dst->d, bdf);
	if (ret)
		return ret;
	dst->open = true;
	for (i = 0; i < src->n; i++) {
		const struct dmem_region *r = &src->r[i];

		ret = vfio_dma_alloc(&dst->d, &dst->dma[i], r->size, r->iova);
		if (ret)
			return ret;
		ret = dmem_add(&dst->m, r->name, dst->dma[i].vaddr, r->iova,
			       r->size, r->kind);
		if (ret)
			return ret;
	}
	return dmem_finish(&dst->m, false);
}

static void dst_free(struct dst_side *dst)
{
	int i;

	if (!dst->open)
		return;
	for (i = 0; i < DMEM_MAX_REGIONS; i++)
		vfio_dma_free(&dst->d, &dst->dma[i]);
	vfio_dev_close(&dst->d);
	dmem_free(&dst->m);
	dst->open = false;
}

/* copy the pages set in @bm (NULL: all) from @src to @dst; pages copied */
static uint64_t copy_pages(const struct dmem *src, struct dmem *dst,
			   const uint64_t *bm)
{
	uint64_t n = 0;
	size_t off;
	int i;

	for (i = 0; i < src->n; i++) {
		const struct dmem_region *r = &src->r[i];

		for (off = 0; off < r->size; off += DIRTY_PGSIZE) {
			if (bm && !bm_test(bm, dmem_pg(src, r->iova + off)))
				continue;
			memcpy(dst->r[i].vaddr + off, r->vaddr + off, DIRTY_PGSIZE);
			n++;
		}
	}
	return n;
}

/* descriptors from rx_next on that the device wrote back */
static unsigned int ring_done(struct ivf *v)
{
	unsigned int n = 0;

	while (n < v->rx_count - 1 &&
	       (v->rx_ring[(v->rx_next + n) % v->rx_count].wb.status_error &
		IVF_RXD_STAT_DD))
		n++;
	return n;
}

/* device-only pages (not rings, not TX buffers) that differ */
static uint64_t count_diff(const struct dmem *src, const struct dmem *dst)
{
	uint64_t n = 0;
	size_t off;
	int i;

	for (i = 0; i < src->n; i++) {
		const struct dmem_region *r = &src->r[i];

		if (r->kind != DMEM_DEV || strstr(r->name, "ring"))
			continue;
		for (off = 0; off < r->size; off += DIRTY_PGSIZE)
			n += !!memcmp(dst->r[i].vaddr + off, r->vaddr + off,
				      DIRTY_PGSIZE);
	}
	return n;
}

/* pages that differ between the two sides; prints the first few */
static uint64_t compare(const struct dmem *src, const struct dmem *dst,
			const uint64_t *ever_reported)
{
	uint64_t n = 0;
	size_t off;
	int i;

	for (i = 0; i < src->n; i++) {
		const struct dmem_region *r = &src->r[i];

		for (off = 0; off < r->size; off += DIRTY_PGSIZE) {
			size_t pg = dmem_pg(src, r->iova + off);

			if (!memcmp(dst->r[i].vaddr + off, r->vaddr + off,
				    DIRTY_PGSIZE))
				continue;
			if (n++ < 10)
				ktap_info("DIFFERS: page 0x%llx (%s +0x%zx), %s reported during the migration",
					  (unsigned long long)(r->iova + off),
					  r->name, off,
					  bm_test(ever_reported, pg) ? "was" : "never");
		}
	}
	return n;
}

int main(int argc, char **argv)
{
	unsigned int rounds = argc > 1 ? strtoul(argv[1], NULL, 0) : 25;
	uint64_t after = argc > 2 ? strtoull(argv[2], NULL, 0) : 3000;
	const char *src_bdf = env_need("IVF_VF0");
	const char *ns = env_need("IVF_PEER_NS");
	const char *ifname = env_need("IVF_PEER_IF");
	const char *dst_bdf = env_get("IVF_DST");
	const char *pf = env_get("IVF_PF"), *pf_if = env_get("IVF_PF_IF");
	const char *src_mac = env_get("IVF_VF0_MAC");
	const char *dst_mac = env_get("IVF_VF2_MAC");
	/*
	 * A pool large enough that no buffer is used twice before the stop:
	 * a write the reports missed is then never covered by a later pin of
	 * the same page, and shows in the proof.
	 */
	struct dsess_cfg sc = { .snapshots = false, .nbuf = 32768 };
	struct dtraffic_cfg tc = {
		.min_len = 60, .max_len = 1514, .window = 32, .tx_every = 4,
		.stall_ms = 1000,
	};
	uint64_t *bm = NULL, *ever = NULL, copied, total_copied = 0, diff;
	uint64_t t_stop, t_run;
	uint64_t rcvd_at_stop, lost_at_stop, cpu_pages = 0;
	uint64_t outstanding, t_copied, t_resume, inflight = 0, unseen;
	unsigned int pending = 0, before;
	uint8_t *stream = NULL;
	size_t stream_len = 0, words;
	struct dst_side dst = { 0 };
	struct ivf dv, sv;
	struct dtraffic t;
	struct dsess s;
	struct peer p;
	int vfn = -1, ret, i;
	unsigned int k;
	void *map;

	ktap_header("dirty_vmm: precopy of memory and VF, proved byte for byte");
	if (!dst_bdf) {
		dst_bdf = env_need("IVF_VF2");
		if (!pf || !pf_if || !src_mac || !dst_mac)
			ktap_skip_all("IVF_PF, IVF_PF_IF, IVF_VF0_MAC, IVF_VF2_MAC needed");
		vfn = vf_index(pf, dst_bdf);
		if (vfn < 0)
			ktap_skip_all("no VF index for %s on %s", dst_bdf, pf);
		ret = set_admin_mac(pf_if, vfn, src_mac);
		if (!ktap_check(!ret, "destination %s (VF %d) gets the source's MAC %s as admin MAC",
				dst_bdf, vfn, src_mac))
			ktap_finish();
	}
	ret = peer_open(&p, ns, ifname, FRAME_ETHERTYPE);
	if (!ktap_check(!ret, "peer socket"))
		goto out_mac;
	peer_set_mtu(ns, ifname, 1500);

	/* ---- source: the guest, running */
	ret = dsess_open(&s, src_bdf, &sc);
	if (!ktap_check(!ret, "source %s: VF up, rings, pool", src_bdf))
		goto out_s;
	dsess_canary(&s, 0x600dcafe);
	words = dmem_words(&s.m);
	bm = calloc(words, 8);
	ever = calloc(words, 8);
	/* ---- destination: opened at start, its own memory */
	ret = dst_setup(&dst, dst_bdf, &s.m);
	if (!ktap_check(!ret, "destination %s: open, %d regions of its own memory mapped at the same IOVAs (%s)",
			dst_bdf, s.m.n, strerror(-ret)))
		goto out_d;
	dtraffic_init(&t, &tc, &s.v, &s.rx, &p);
	ret = dtraffic_start(&t);
	usleep(300000);

	/* ---- precopy */
	ret = ret ?: dsess_engage(&s);
	ret = ret ?: dirty_get_dmem(&s.d, &s.m, bm);
	if (!ktap_check(!ret, "tracking engaged while traffic runs, first report (%s)",
			strerror(-ret)))
		goto out_t;
	copied = copy_pages(&s.m, &dst.m, NULL);
	total_copied += copied;
	ktap_info("round 0: full copy of %llu pages",
		  (unsigned long long)copied);
	for (k = 1; k <= rounds; k++) {
		/*
		 * The pool must outlast the precopy: a fast host moved 33.6k
		 * frames in 25 rounds. Stop early with an eighth of it left
		 * for a round and the stop.
		 */
		if (s.rx.next >= s.rx.nbuf - s.rx.nbuf / 8) {
			ktap_info("pool at %llu of %u buffers: precopy ends after %u rounds",
				  (unsigned long long)s.rx.next, s.rx.nbuf, k - 1);
			break;
		}
		usleep(60000);
		ret = dirty_get_dmem(&s.d, &s.m, bm);
		if (ret)
			break;
		for (i = 0; i < (int)words; i++)
			ever[i] |= bm[i];
		copied = copy_pages(&s.m, &dst.m, bm);
		total_copied += copied;
		if (mig_read_all(s.data_fd, &stream, &stream_len) < 0)
			ret = -EIO;
		ktap_info("round %u: %llu pages reported and copied, %llu frames in so far",
			  k, (unsigned long long)copied,
			  (unsigned long long)dtraffic_rcvd(&t));
	}
	ktap_check(!ret && k > 1, "%u precopy rounds (%s)", k - 1, strerror(-ret));

	/* ---- stop and copy */
	t_stop = now_ns();
	dtraffic_pause(&t);		/* the guest's CPU stops */
	rcvd_at_stop = t.vf_rcvd;
	/*
	 * Frames the peer sent before the pause may still be on the wire:
	 * let them land (in the source's ring: nobody reads them now), and
	 * count the ones that never do as lost before the stop.
	 */
	outstanding = t.peer_sent - t.vf_rcvd - t.vf_lost;
	for (i = 0; i < 1000 && ring_done(&s.v) < outstanding; i++)
		usleep(1000);
	lost_at_stop = t.vf_lost + outstanding - ring_done(&s.v);
	/*
	 * Frames the device writes now land in the source's memory and are
	 * read by nobody before the switch: the destination must find them.
	 */
	for (k = 0; k < 5; k++) {
		uint8_t buf[2048];
		uint32_t seq = t.peer_sent;
		size_t len = frame_build(buf, s.v.mac, p.mac, DT_STREAM_TO_VF,
					 seq, dtraffic_len(&t, seq));

		if (peer_send(&p, buf, len))
			break;
		t.peer_sent++;
	}
	before = ring_done(&s.v);
	for (i = 0; i < 500 && ring_done(&s.v) < before + 5; i++)
		usleep(1000);
	pending = ring_done(&s.v);
	ktap_info("at the stop: %llu frames read by the guest, %u more written to the source's ring and not read (%llu of them from before the pause)",
		  (unsigned long long)rcvd_at_stop, pending,
		  (unsigned long long)outstanding);
	ret = dsess_state(&s, VFIO_DEVICE_STATE_PRE_COPY_P2P);
	ret = ret ?: dsess_state(&s, VFIO_DEVICE_STATE_STOP_COPY);
	if (!ret && mig_read_all(s.data_fd, &stream, &stream_len) < 0)
		ret = -EIO;
	ktap_check(!ret, "source: PRE_COPY_P2P, STOP_COPY, %zu bytes of device state (%s)",
		   stream_len, strerror(-ret));
	/* without the last report the copy would be wrong: the proof can fail */
	diff = count_diff(&s.m, &dst.m);
	ktap_check(diff > 0, "before the last report's copy, %llu pages differ (the pending frames' buffers among them)",
		   (unsigned long long)diff);
	ret = dirty_get_dmem(&s.d, &s.m, bm);
	for (i = 0; i < (int)words; i++)
		ever[i] |= bm[i];
	copied = ret ? 0 : copy_pages(&s.m, &dst.m, bm);
	total_copied += copied;
	/* what the guest's CPU wrote, as a VMM's CPU dirty log has it */
	memset(bm, 0, words * 8);
	dmem_mark_range(&s.m, s.v.rx_ring_dma.iova, s.v.rx_ring_dma.size, bm);
	dmem_mark_range(&s.m, s.v.tx_ring_dma.iova, s.v.tx_ring_dma.size, bm);
	dmem_mark_range(&s.m, s.v.tx_buf_dma.iova, s.v.tx_buf_dma.size, bm);
	cpu_pages = copy_pages(&s.m, &dst.m, bm);
	ktap_check(!ret, "final report: %llu pages; plus %llu pages the CPU wrote",
		   (unsigned long long)copied,
		   (unsigned long long)cpu_pages);
	ktap_check(s.rx.next < s.rx.nbuf,
		   "no pool buffer was used twice before the stop (%llu of %u)",
		   (unsigned long long)s.rx.next, s.rx.nbuf);
	ktap_info("copied %llu pages in %u rounds + stop, for %zu mapped pages",
		  (unsigned long long)total_copied + cpu_pages, rounds,
		  bm_count(s.m.mapped, s.m.npages));

	t_copied = now_ns();

	/* ---- the proof */
	diff = compare(&s.m, &dst.m, ever);
	ktap_check(!diff, "destination memory equals source memory byte for byte (%llu pages differ)",
		   (unsigned long long)diff);

	/* ---- destination: resume, run */
	t_resume = now_ns();
	ret = vfio_enable_mem_bm(&dst.d);
	ret = ret ?: mig_set_state(&dst.d, VFIO_DEVICE_STATE_RESUMING, &i);
	if (!ret) {
		ret = mig_write_all(i, stream, stream_len, 0);
		close(i);
	}
	ret = ret ?: mig_set_state(&dst.d, VFIO_DEVICE_STATE_STOP, NULL);
	ret = ret ?: mig_set_state(&dst.d, VFIO_DEVICE_STATE_RUNNING, NULL);
	t_run = now_ns();
	if (!ktap_check(!ret, "destination: RESUMING, %zu bytes written, STOP, RUNNING; downtime %.1f ms without the proof (%s)",
			stream_len, (t_copied - t_stop + t_run - t_resume) / 1e6,
			strerror(-ret)))
		goto out_t;

	/* the guest goes on: same software state, destination device and memory */
	map = vfio_region_mmap(&dst.d, VFIO_PCI_BAR0_REGION_INDEX,
			       IVF_BAR_PAGE_SIZE, IVF_BAR0_SIZE - IVF_BAR_PAGE_SIZE);
	if (!ktap_check(map != MAP_FAILED, "destination BAR0 pages 1-3 mapped"))
		goto out_t;
	sv = s.v;
	dv = s.v;
	dv.dev = &dst.d;
	dv.map = map;
	dv.io_errors = 0;
	dv.rx_ring = dmem_va(&dst.m, s.v.rx_ring_dma.iova, 16);
	dv.tx_ring = dmem_va(&dst.m, s.v.tx_ring_dma.iova, 16);
	dv.tx_buf_dma.vaddr = dmem_va(&dst.m, s.v.tx_buf_dma.iova, 1);
	dv.rx_buf_dma.vaddr = dmem_va(&dst.m, s.v.rx_buf_dma.iova, 1);
	dv.rx_ring_dma.mapped = dv.tx_ring_dma.mapped = false;
	dv.rx_buf_dma.mapped = dv.tx_buf_dma.mapped = false;
	dv.rx_hdr_dma.mapped = false;
	dv.rx_tmp = NULL;
	s.rx.v = &dv;
	s.rx.mem = &dst.m;
	t.v = &dv;
	dmem_snap(&s.m);	/* the source's memory must not change any more */
	ktap_check(pending >= 5 && ivf_rx_ready(&dv),
		   "the %u frames written before the stop and not read are in the destination's ring",
		   pending);
	/*
	 * Frames the peer sent before the switch and that are still neither
	 * received nor written off may have hit the stopped device: those are
	 * the stop window's losses. @after new frames must all arrive.
	 */
	inflight = t.peer_sent - t.vf_rcvd - t.vf_lost;
	t.c.rx_target = t.peer_sent + after;
	t.c.drain = true;
	dtraffic_resume(&t);
	while (!__atomic_load_n(&t.done, __ATOMIC_ACQUIRE))
		usleep(20000);
	dtraffic_stop(&t);
	dtraffic_print(&t, "");
	unseen = t.peer_sent - t.vf_rcvd - t.vf_lost;
	ktap_check(t.vf_rcvd >= rcvd_at_stop + after &&
		   t.vf_lost - lost_at_stop + unseen <= inflight &&
		   !t.vf_dup && !t.vf_bad && !s.rx.errors,
		   "frames go on in sequence on the destination: %llu after the switch, lost only among the %llu in flight at the switch (lost %llu, never seen %llu, dup %llu, bad %llu)",
		   (unsigned long long)(t.vf_rcvd - rcvd_at_stop),
		   (unsigned long long)inflight,
		   (unsigned long long)(t.vf_lost - lost_at_stop),
		   (unsigned long long)unseen,
		   (unsigned long long)t.vf_dup, (unsigned long long)t.vf_bad);
	if (lost_at_stop)
		ktap_info("before the stop %llu frames were lost (RX starvation while the tail waited for the poller)",
			  (unsigned long long)lost_at_stop);
	ktap_check(t.peer_rcvd == t.vf_sent && !t.peer_lost && !t.peer_bad,
		   "frames from the migrated VF reach the peer (%llu of %llu)",
		   (unsigned long long)t.peer_rcvd,
		   (unsigned long long)t.vf_sent);
	ktap_check(!dmem_snap_diff(&s.m, NULL) && dv.io_errors == 0,
		   "the source's memory stays still after the switch; no register errors on the destination");

	/* back to the source's objects for cleanup */
	ivf_wr(&dv, IVF_RXDCTL(0), 0);
	ivf_wr(&dv, IVF_TXDCTL(0), 0);
	munmap(map, IVF_BAR0_SIZE - IVF_BAR_PAGE_SIZE);
	s.rx.v = &s.v;
	s.rx.mem = &s.m;
	s.v = sv;
out_t:
	dtraffic_free(&t);
out_d:
	dst_free(&dst);
	free(bm);
	free(ever);
out_s:
	dsess_close(&s);
	peer_close(&p);
out_mac:
	if (vfn >= 0)
		set_admin_mac(pf_if, vfn, dst_mac);
	free(stream);
	ktap_finish();
}
