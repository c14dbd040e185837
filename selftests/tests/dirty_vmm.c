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
 * Precopy as QEMU does it: dirty tracking START, RUNNING -> PRE_COPY, a
 * first report (clears), a full copy of every region, then rounds of
 * reports and copying the reported pages while the traffic runs. Stop: the
 * guest's CPU is held (the traffic thread pauses), PRE_COPY_P2P ->
 * STOP_COPY, the device state is read, a last report and copy. The pages
 * the guest's CPU writes (rings, TX buffers) are copied whole at the stop,
 * as a VMM's CPU dirty log would have them; the RX buffers, which only the
 * device writes, reach the destination only through the dirty reports.
 *
 * The fixture: peer, source session, destination with its own memory (and
 * the admin MAC put back after the case). The variants are the backends,
 * source and destination alike:
 *   container  group + type1 container, VFIO_IOMMU_DIRTY_PAGES
 *   cdev_log   the device's cdev bound to iommufd, DMA logging (log_ops)
 * A variant the running kernel cannot do skips, saying why. Each case
 * migrates once:
 *
 *   copy_through_reports_is_byte_exact
 *       precopy rounds while frames come in, the device stopped and its
 *       state read; before the last report's copy the destination still
 *       lacks pages (the check can fail), after it destination memory
 *       equals source memory byte for byte (no pool buffer used twice, so
 *       a missed write is never covered by a later one)
 *   destination_goes_on_with_the_stream
 *       the same migration, then RESUMING on the destination with the
 *       stream, STOP, RUNNING; the userspace driver goes on with the
 *       destination device and memory: the frames the source received but
 *       the guest had not read yet are in the destination's ring, the
 *       stream goes on in sequence (lost only among the frames in flight
 *       at the switch), frames reach the peer, the source's memory stays
 *       still
 *
 * Usage: dirty_vmm [harness options] [rounds [frames-after]]
 *        (default 25, 3000)
 * Env: IVF_VF0, IVF_VF0_MAC, IVF_PEER_NS, IVF_PEER_IF, IVF_DST or
 *      IVF_VF2 + IVF_PF + IVF_PF_IF + IVF_VF2_MAC.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "dcheck.h"
#include "dirty.h"
#include "dtraffic.h"
#include "fixture.h"
#include "frame.h"
#include "mig.h"
#include "util.h"

#include "kselftest_harness.h"
#include "backends.h"

/* a migration takes 10 s on TCG; a sanitizer kernel up to 20 times that */
#define CASE_TIMEOUT	400

/* precopy rounds and frames after the switch (the command line's) */
static unsigned int rounds = 25;
static uint64_t after = 3000;

struct dst_side {
	struct vfio_dev d;
	struct vfio_dma dma[DMEM_MAX_REGIONS];
	struct dmem m;
	bool open;
};

/* the destination: its own memory at the source's IOVAs */
static int dst_setup(struct dst_side *dst, const char *bdf,
		     const struct vfio_backend *b, const struct dmem *src)
{
	int i, ret;

	memset(dst, 0, sizeof(*dst));
	ret = vfio_dev_open_backend(&dst->d, bdf, b);
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

/*
 * Every page of @m: @i the region's index, @r the region, @off the page's
 * offset in it (the sides' memories have the same regions)
 */
#define for_each_dmem_page(m, i, r, off)				\
	for ((i) = 0; (i) < (m)->n; (i)++)				\
		for ((r) = &(m)->r[i], (off) = 0; (off) < (r)->size;	\
		     (off) += DIRTY_PGSIZE)

/* copy the pages set in @bm (NULL: all) from @src to @dst; pages copied */
static uint64_t copy_pages(const struct dmem *src, struct dmem *dst,
			   const uint64_t *bm)
{
	const struct dmem_region *r;
	uint64_t n = 0;
	size_t off;
	int i;

	for_each_dmem_page(src, i, r, off) {
		if (bm && !bm_test(bm, dmem_pg(src, r->iova + off)))
			continue;
		memcpy(dst->r[i].vaddr + off, r->vaddr + off, DIRTY_PGSIZE);
		n++;
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

/*
 * Pages that differ between the two sides: all of them, or with
 * @dev_only only the device's (not rings, not TX buffers). With
 * @ever_reported the first few are printed, and whether they were reported.
 */
static uint64_t pages_differ(const struct dmem *src, const struct dmem *dst,
			     bool dev_only, const uint64_t *ever_reported)
{
	const struct dmem_region *r;
	uint64_t n = 0;
	size_t off;
	int i;

	for_each_dmem_page(src, i, r, off) {
		size_t pg = dmem_pg(src, r->iova + off);

		if (dev_only &&
		    (r->kind != DMEM_DEV || strstr(r->name, "ring")))
			continue;
		if (!memcmp(dst->r[i].vaddr + off, r->vaddr + off,
			    DIRTY_PGSIZE))
			continue;
		if (n++ < 10 && ever_reported)
			ksft_print_msg("DIFFERS: page 0x%llx (%s +0x%zx), %s reported during the migration\n",
				       (unsigned long long)(r->iova + off),
				       r->name, off,
				       bm_test(ever_reported, pg) ?
				       "was" : "never");
	}
	return n;
}

FIXTURE(dirty_vmm) {
	struct vfio_backend backend;
	const char *dst_bdf, *pf_if, *dst_mac;
	int vfn;
	struct peer p;
	bool peer_open;
	struct dsess s;
	bool sess_open;
	struct dst_side dst;
	struct dtraffic t;
	bool t_init;
	uint64_t *bm, *ever;
	size_t words;
	uint8_t *stream;
	size_t stream_len;
	/* the migration's account, for the case after it */
	uint64_t t_stop, t_copied, rcvd_at_stop, lost_at_stop;
	unsigned int pending;
	/* the guest on the destination: put back before the close */
	struct ivf dv, sv;
	void *map;
	bool switched;
};

/*
 * container: type1 group/container, its dirty pages
 * cdev_log: the device's cdev on iommufd, DMA logging
 */
IVF_BACKENDS(dirty_vmm);

/*
 * Everything the setup and the case took, put back (the admin MAC above
 * all): by the teardown, and by the setup itself when it fails half-way
 * (the harness runs no teardown then). Idempotent.
 */
static void vmm_undo(FIXTURE_DATA(dirty_vmm) *self)
{
	struct dsess *s = &self->s;

	if (self->switched) {
		/* back to the source's objects for cleanup */
		ivf_wr(&self->dv, IVF_RXDCTL(0), 0);
		ivf_wr(&self->dv, IVF_TXDCTL(0), 0);
		s->rx.v = &s->v;
		s->rx.mem = &s->m;
		s->v = self->sv;
		self->switched = false;
	}
	if (self->map && self->map != MAP_FAILED)
		munmap(self->map, IVF_BAR0_SIZE - IVF_BAR_PAGE_SIZE);
	self->map = NULL;
	if (self->t_init)
		dtraffic_free(&self->t);
	self->t_init = false;
	dst_free(&self->dst);
	free(self->bm);
	free(self->ever);
	self->bm = self->ever = NULL;
	if (self->sess_open)
		dsess_close(s);
	self->sess_open = false;
	if (self->peer_open)
		peer_close(&self->p);
	self->peer_open = false;
	if (self->vfn >= 0)
		vf_set_admin_mac(self->pf_if, self->vfn, self->dst_mac);
	self->vfn = -1;
	free(self->stream);
	self->stream = NULL;
}

FIXTURE_SETUP(dirty_vmm)
{
	const char *src_bdf, *ns, *ifname;
	const char *pf = env_get("IVF_PF");
	const char *src_mac = env_get("IVF_VF0_MAC");
	/*
	 * A pool large enough that no buffer is used twice before the stop:
	 * a write the reports missed is then never covered by a later pin of
	 * the same page, and shows in the proof.
	 */
	struct dsess_cfg sc = { .snapshots = false, .nbuf = 32768,
				.backend = variant->backend };
	const char *why;
	int ret;

	self->vfn = -1;
	self->backend = variant->backend;
	self->dst_bdf = env_get("IVF_DST");
	self->pf_if = env_get("IVF_PF_IF");
	self->dst_mac = env_get("IVF_VF2_MAC");
	why = vf_peer_unusable(&src_bdf, &ns, &ifname, NULL, &self->backend);
	if (why)
		SKIP(return, "%s", why);
	if (!self->dst_bdf) {
		self->dst_bdf = env_get("IVF_VF2");
		if (!self->dst_bdf || !pf || !self->pf_if || !src_mac ||
		    !self->dst_mac)
			SKIP(return, "IVF_DST, or IVF_VF2, IVF_PF, IVF_PF_IF, IVF_VF0_MAC and IVF_VF2_MAC are needed");
	}
	why = vfio_backend_missing(self->dst_bdf, &self->backend);
	if (why)
		SKIP(return, "%s", why);
	if (!env_get("IVF_DST")) {
		self->vfn = vf_index_on_pf(pf, self->dst_bdf);
		if (self->vfn < 0)
			SKIP(return, "no VF index for %s on %s", self->dst_bdf,
			     pf);
		ret = vf_set_admin_mac(self->pf_if, self->vfn, src_mac);
		if (ret)
			vmm_undo(self);
		ASSERT_EQ(0, ret)
			TH_LOG("destination %s (VF %d) gets the source's MAC %s as admin MAC",
			       self->dst_bdf, self->vfn, src_mac);
	}
	ret = peer_open(&self->p, ns, ifname, FRAME_ETHERTYPE);
	self->peer_open = !ret;
	if (ret)
		vmm_undo(self);
	ASSERT_EQ(0, ret) TH_LOG("peer socket: %s", strerror(-ret));
	peer_set_mtu(ns, ifname, 1500);

	/* ---- source: the guest, running */
	ret = dsess_open(&self->s, src_bdf, &sc);
	self->sess_open = true;
	if (ret)
		vmm_undo(self);
	ASSERT_EQ(0, ret)
		TH_LOG("source %s: VF up, rings, pool: %s", src_bdf,
		       strerror(-ret));
	if (self->backend.dirty == VFIO_DIRTY_LOG) {
		ret = dirty_log_probe(&self->s.d);
		if (ret)
			vmm_undo(self);
		if (ret)
			SKIP(return, "no DMA logging on this kernel (%s)",
			     strerror(-ret));
	}
	dsess_canary(&self->s, 0x600dcafe);
	self->words = dmem_words(&self->s.m);
	self->bm = calloc(self->words, 8);
	self->ever = calloc(self->words, 8);
	if (!self->bm || !self->ever)
		vmm_undo(self);
	ASSERT_TRUE(self->bm && self->ever);
	/* ---- destination: opened at start, its own memory */
	ret = dst_setup(&self->dst, self->dst_bdf, &self->backend,
			&self->s.m);
	if (ret)
		vmm_undo(self);
	ASSERT_EQ(0, ret)
		TH_LOG("destination %s: open, %d regions of its own memory mapped at the same IOVAs: %s",
		       self->dst_bdf, self->s.m.n, strerror(-ret));
}

FIXTURE_TEARDOWN(dirty_vmm)
{
	vmm_undo(self);
}

/*
 * The migration up to the proof: precopy while frames come in, the stop
 * and the last copy, then destination memory against the source's.
 */
static void migrate(struct __test_metadata *_metadata,
		    FIXTURE_DATA(dirty_vmm) *self)
{
	struct dtraffic_cfg tc = {
		.min_len = 60, .max_len = 1514, .window = 32, .tx_every = 4,
		.stall_ms = 1000,
	};
	uint64_t copied, total_copied = 0, diff, cpu_pages, outstanding;
	struct dtraffic *t = &self->t;
	struct dst_side *dst = &self->dst;
	struct dsess *s = &self->s;
	uint64_t *bm = self->bm;
	unsigned int before, k;
	int ret, i;

	dtraffic_init(t, &tc, &s->v, &s->rx, &self->p);
	self->t_init = true;
	ret = dtraffic_start(t);
	usleep(300000);

	/* ---- precopy */
	ret = ret ?: dsess_engage(s);
	ret = ret ?: dirty_get_dmem(&s->d, &s->m, bm);
	ASSERT_EQ(0, ret)
		TH_LOG("tracking engaged while traffic runs, first report: %s",
		       strerror(-ret));
	copied = copy_pages(&s->m, &dst->m, NULL);
	total_copied += copied;
	TH_LOG("round 0: full copy of %llu pages",
	       (unsigned long long)copied);
	for (k = 1; k <= rounds; k++) {
		/*
		 * The pool must outlast the precopy: a fast host moved 33.6k
		 * frames in 25 rounds. Stop early with an eighth of it left
		 * for a round and the stop.
		 */
		if (s->rx.next >= s->rx.nbuf - s->rx.nbuf / 8) {
			TH_LOG("pool at %llu of %u buffers: precopy ends after %u rounds",
			       (unsigned long long)s->rx.next, s->rx.nbuf,
			       k - 1);
			break;
		}
		usleep(60000);
		ret = dirty_get_dmem(&s->d, &s->m, bm);
		if (ret)
			break;
		for (i = 0; i < (int)self->words; i++)
			self->ever[i] |= bm[i];
		copied = copy_pages(&s->m, &dst->m, bm);
		total_copied += copied;
		if (mig_read_all(s->data_fd, &self->stream,
				 &self->stream_len) < 0)
			ret = -EIO;
		TH_LOG("round %u: %llu pages reported and copied, %llu frames in so far",
		       k, (unsigned long long)copied,
		       (unsigned long long)dtraffic_rcvd(t));
	}
	EXPECT_TRUE(!ret && k > 1)
		TH_LOG("%u precopy rounds (%s)", k - 1, strerror(-ret));

	/* ---- stop and copy */
	self->t_stop = now_ns();
	dtraffic_pause(t);		/* the guest's CPU stops */
	self->rcvd_at_stop = t->vf_rcvd;
	/*
	 * Frames the peer sent before the pause may still be on the wire:
	 * let them land (in the source's ring: nobody reads them now), and
	 * count the ones that never do as lost before the stop.
	 */
	outstanding = t->peer_sent - t->vf_rcvd - t->vf_lost;
	for (i = 0; i < 1000 && ring_done(&s->v) < outstanding; i++)
		usleep(1000);
	self->lost_at_stop = t->vf_lost + outstanding - ring_done(&s->v);
	/*
	 * Frames the device writes now land in the source's memory and are
	 * read by nobody before the switch: the destination must find them.
	 */
	for (k = 0; k < 5; k++) {
		uint8_t buf[2048];
		uint32_t seq = t->peer_sent;
		size_t len = frame_build(buf, s->v.mac, self->p.mac,
					 DT_STREAM_TO_VF, seq,
					 dtraffic_len(t, seq));

		if (peer_send(&self->p, buf, len))
			break;
		t->peer_sent++;
	}
	before = ring_done(&s->v);
	for (i = 0; i < 500 && ring_done(&s->v) < before + 5; i++)
		usleep(1000);
	self->pending = ring_done(&s->v);
	TH_LOG("at the stop: %llu frames read by the guest, %u more written to the source's ring and not read (%llu of them from before the pause)",
	       (unsigned long long)self->rcvd_at_stop, self->pending,
	       (unsigned long long)outstanding);
	ret = dsess_state(s, VFIO_DEVICE_STATE_PRE_COPY_P2P);
	ret = ret ?: dsess_state(s, VFIO_DEVICE_STATE_STOP_COPY);
	if (!ret && mig_read_all(s->data_fd, &self->stream,
				 &self->stream_len) < 0)
		ret = -EIO;
	TH_LOG("source: PRE_COPY_P2P, STOP_COPY, %zu bytes of device state (%s)",
	       self->stream_len, strerror(-ret));
	EXPECT_EQ(0, ret);
	/* without the last report the copy would be wrong: the proof can fail */
	diff = pages_differ(&s->m, &dst->m, true, NULL);
	TH_LOG("before the last report's copy, %llu pages differ (the pending frames' buffers among them)",
	       (unsigned long long)diff);
	EXPECT_LT(0ull, diff);
	ret = dirty_get_dmem(&s->d, &s->m, bm);
	for (i = 0; i < (int)self->words; i++)
		self->ever[i] |= bm[i];
	copied = ret ? 0 : copy_pages(&s->m, &dst->m, bm);
	total_copied += copied;
	/* what the guest's CPU wrote, as a VMM's CPU dirty log has it */
	memset(bm, 0, self->words * 8);
	dmem_mark_range(&s->m, s->v.rx_ring_dma.iova, s->v.rx_ring_dma.size,
			bm);
	dmem_mark_range(&s->m, s->v.tx_ring_dma.iova, s->v.tx_ring_dma.size,
			bm);
	dmem_mark_range(&s->m, s->v.tx_buf_dma.iova, s->v.tx_buf_dma.size, bm);
	cpu_pages = copy_pages(&s->m, &dst->m, bm);
	TH_LOG("final report: %llu pages; plus %llu pages the CPU wrote (%s)",
	       (unsigned long long)copied, (unsigned long long)cpu_pages,
	       strerror(-ret));
	EXPECT_EQ(0, ret);
	TH_LOG("pool buffers used before the stop: %llu of %u",
	       (unsigned long long)s->rx.next, s->rx.nbuf);
	EXPECT_LT(s->rx.next, (uint64_t)s->rx.nbuf)
		TH_LOG("no pool buffer may be used twice before the stop");
	TH_LOG("copied %llu pages in %u rounds + stop, for %zu mapped pages",
	       (unsigned long long)total_copied + cpu_pages, rounds,
	       bm_count(s->m.mapped, s->m.npages));

	self->t_copied = now_ns();

	/* ---- the proof */
	diff = pages_differ(&s->m, &dst->m, false, self->ever);
	TH_LOG("destination memory against source memory: %llu pages differ",
	       (unsigned long long)diff);
	EXPECT_EQ(0ull, diff)
		TH_LOG("destination memory must equal source memory byte for byte");
}

TEST_F_TIMEOUT(dirty_vmm, copy_through_reports_is_byte_exact, CASE_TIMEOUT)
{
	migrate(_metadata, self);
}

TEST_F_TIMEOUT(dirty_vmm, destination_goes_on_with_the_stream, CASE_TIMEOUT)
{
	struct dtraffic *t = &self->t;
	struct dst_side *dst = &self->dst;
	struct dsess *s = &self->s;
	struct ivf *dv = &self->dv;
	uint64_t t_resume, t_run, inflight, unseen;
	int ret, fd;

	migrate(_metadata, self);

	/* ---- destination: resume, run */
	t_resume = now_ns();
	ret = vfio_enable_mem_bm(&dst->d);
	ret = ret ?: mig_set_state(&dst->d, VFIO_DEVICE_STATE_RESUMING, &fd);
	if (!ret) {
		ret = mig_write_all(fd, self->stream, self->stream_len, 0);
		close(fd);
	}
	ret = ret ?: mig_set_state(&dst->d, VFIO_DEVICE_STATE_STOP, NULL);
	ret = ret ?: mig_set_state(&dst->d, VFIO_DEVICE_STATE_RUNNING, NULL);
	t_run = now_ns();
	TH_LOG("destination: RESUMING, %zu bytes written, STOP, RUNNING; downtime %.1f ms without the proof (%s)",
	       self->stream_len,
	       (self->t_copied - self->t_stop + t_run - t_resume) / 1e6,
	       strerror(-ret));
	ASSERT_EQ(0, ret);

	/* the guest goes on: same software state, destination device and memory */
	self->map = vfio_region_mmap(&dst->d, VFIO_PCI_BAR0_REGION_INDEX,
				     IVF_BAR_PAGE_SIZE,
				     IVF_BAR0_SIZE - IVF_BAR_PAGE_SIZE);
	ASSERT_TRUE(self->map != MAP_FAILED)
		TH_LOG("destination BAR0 pages 1-3 mapped");
	self->sv = s->v;
	*dv = s->v;
	dv->dev = &dst->d;
	dv->map = self->map;
	dv->io_errors = 0;
	dv->rx_ring = dmem_va(&dst->m, s->v.rx_ring_dma.iova, 16);
	dv->tx_ring = dmem_va(&dst->m, s->v.tx_ring_dma.iova, 16);
	dv->tx_buf_dma.vaddr = dmem_va(&dst->m, s->v.tx_buf_dma.iova, 1);
	dv->rx_buf_dma.vaddr = dmem_va(&dst->m, s->v.rx_buf_dma.iova, 1);
	dv->rx_ring_dma.mapped = dv->tx_ring_dma.mapped = false;
	dv->rx_buf_dma.mapped = dv->tx_buf_dma.mapped = false;
	dv->rx_hdr_dma.mapped = false;
	dv->rx_tmp = NULL;
	s->rx.v = dv;
	s->rx.mem = &dst->m;
	t->v = dv;
	self->switched = true;
	dmem_snap(&s->m);	/* the source's memory must not change any more */
	EXPECT_TRUE(self->pending >= 5 && ivf_rx_ready(dv))
		TH_LOG("the %u frames written before the stop and not read must be in the destination's ring",
		       self->pending);
	/*
	 * Frames the peer sent before the switch and that are still neither
	 * received nor written off may have hit the stopped device: those are
	 * the stop window's losses. @after new frames must all arrive.
	 */
	inflight = t->peer_sent - t->vf_rcvd - t->vf_lost;
	t->c.rx_target = t->peer_sent + after;
	t->c.drain = true;
	dtraffic_resume(t);
	while (!__atomic_load_n(&t->done, __ATOMIC_ACQUIRE))
		usleep(20000);
	dtraffic_stop(t);
	dtraffic_print(t, "");
	unseen = t->peer_sent - t->vf_rcvd - t->vf_lost;
	TH_LOG("frames on the destination: %llu after the switch, %llu in flight at the switch (lost %llu, never seen %llu, dup %llu, bad %llu)",
	       (unsigned long long)(t->vf_rcvd - self->rcvd_at_stop),
	       (unsigned long long)inflight,
	       (unsigned long long)(t->vf_lost - self->lost_at_stop),
	       (unsigned long long)unseen,
	       (unsigned long long)t->vf_dup, (unsigned long long)t->vf_bad);
	EXPECT_TRUE(t->vf_rcvd >= self->rcvd_at_stop + after &&
		    t->vf_lost - self->lost_at_stop + unseen <= inflight &&
		    !t->vf_dup && !t->vf_bad && !s->rx.errors)
		TH_LOG("frames must go on in sequence, lost only among those in flight at the switch");
	if (self->lost_at_stop)
		TH_LOG("before the stop %llu frames were lost (RX starvation while the tail waited for the poller)",
		       (unsigned long long)self->lost_at_stop);
	TH_LOG("frames from the migrated VF reach the peer: %llu of %llu",
	       (unsigned long long)t->peer_rcvd,
	       (unsigned long long)t->vf_sent);
	EXPECT_TRUE(t->peer_rcvd == t->vf_sent && !t->peer_lost &&
		    !t->peer_bad);
	EXPECT_TRUE(!dmem_snap_diff(&s->m, NULL) && dv->io_errors == 0)
		TH_LOG("the source's memory must stay still after the switch; no register errors on the destination");
}

/*
 * The harness's options, then [rounds [frames-after]]: precopy rounds and
 * frames after the switch (default 25, 3000). harness_own_args()
 * finds them anywhere among the options.
 */
int main(int argc, char **argv)
{
	char **args;
	int n;

	n = harness_own_args(argc, argv, &args);
	if (n > 0)
		rounds = strtoul(args[0], NULL, 0);
	if (n > 1)
		after = strtoull(args[1], NULL, 0);
	return test_harness_run(argc, argv);
}
