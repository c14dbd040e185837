// SPDX-License-Identifier: GPL-2.0
/*
 * alloc_fail (issue 14, claim 5): the dirty tracker runs out of memory.
 *
 * The kernel's fault injection (failslab and fail_page_alloc, filtered to
 * the tasks whose make-it-fail is set) fails every allocation of the
 * tracker's poller thread (ivf-dirty/...), and in the lost cases also of
 * the thread that quiesces the device. It needs CONFIG_FAILSLAB,
 * CONFIG_FAIL_PAGE_ALLOC and CONFIG_FAULT_INJECTION_DEBUG_FS (the lab's
 * sanitizer kernel, selftests/vm/kernel-iommufd.sh); it skips without.
 *
 * The fixture: fault injection set up (nothing marked yet), the peer, the
 * kernel log; each case opens its own session (lib/dtraffic.h), with the
 * checker of dirty_exact (lib/dcheck.h) on guest memory throughout where
 * it says so. One variant (the pins are type1's; through iommufd nothing
 * is pinned):
 *   container  group + type1 container: the tracker pulsing
 *
 * Cases:
 *   failed_pins_are_retried_and_no_page_goes_missing
 *           Traffic while the poller cannot allocate: type1 cannot pin
 *           (vfio_pin_pages() fails with ENOMEM), so the pages the device
 *           writes are not marked dirty then; frames keep flowing. The
 *           driver keeps them and tries again; with memory back, every
 *           page written is reported before the last report, none missed,
 *           none lost, no frame corrupted.
 *   ring_layout_without_memory_keeps_queue_disabled_until_memory_back
 *           The guest resizes its RX ring while the poller cannot allocate
 *           the new ring's bookkeeping: the queue stays disabled (no frame
 *           lands, nothing is written), the driver says so in the log;
 *           with memory back the queue comes up and frames flow on the new
 *           ring, none missed.
 *   failed_pulse_far_from_others_is_lost_at_once_and_refuses_stop_copy
 *           The guest's buffers lie far apart (12 MiB) while the poller
 *           cannot pin: the pulses kept for a retry would have to cover
 *           everything in between, a chunk at a time with the tracker's
 *           lock held (minutes for buffers spread over a large guest). A
 *           failed pulse too far from the others is lost at once instead,
 *           with a log line; the poller keeps polling; STOP_COPY is
 *           refused; the VF works after a reset.
 *   pages_lost_at_quiesce_refuse_stop_copy
 *           Pins still fail once the device is quiesced (the quiescing
 *           thread cannot allocate either): pages were written that type1
 *           will never report, the driver knows it and logs it. STOP_COPY
 *           is refused with EIO and a log line (a VMM would otherwise
 *           complete a migration that lost them); the device stays in
 *           PRE_COPY_P2P.
 *   cancelled_migration_after_lost_pages_restarts_clean
 *           The same, then the VMM cancels (-> RUNNING): a new migration
 *           (RUNNING -> PRE_COPY) starts with nothing lost and saves the
 *           device in STOP_COPY, and the VF works after VFIO_DEVICE_RESET.
 *
 * Before the fix a failed pulse was counted as "not mapped" and dropped:
 * the first case then finds the pages written during the injection
 * missing, and STOP_COPY is not refused in the lost cases.
 *
 * Env: IVF_VF0, IVF_PEER_NS, IVF_PEER_IF.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "dcheck.h"
#include "dirty.h"
#include "dtraffic.h"
#include "fixture.h"
#include "frame.h"
#include "kmsg.h"
#include "mig.h"
#include "util.h"

#include "kselftest_harness.h"
#include "backends.h"

#define DBGFS "/sys/kernel/debug"
/* a case runs 10-60 s on the sanitizer kernel (the only one it runs on) */
#define CASE_TIMEOUT	300

/* ------------------------------------------------------ fault injection */

/*
 * Both injectors fail every allocation (sleeping ones and order 0 too) of
 * a task whose make-it-fail is 1, and nothing else; quietly (verbose 0:
 * the log is checked for the driver's own lines). 0 or -errno.
 */
static int fi_setup(void)
{
	static const char *const attrs[] = { "failslab", "fail_page_alloc" };
	static const char *const common[][2] = {
		{ "probability", "100" }, { "interval", "1" },
		{ "times", "-1" }, { "space", "0" }, { "verbose", "0" },
		{ "task-filter", "Y" }, { "ignore-gfp-wait", "N" },
	};
	char path[128];
	unsigned int a, i;
	int ret;

	for (a = 0; a < 2; a++)
		for (i = 0; i < sizeof(common) / sizeof(common[0]); i++) {
			snprintf(path, sizeof(path), DBGFS "/%s/%s", attrs[a],
				 common[i][0]);
			ret = write_str_file(path, common[i][1]);
			if (ret)
				return ret;
		}
	return write_str_file(DBGFS "/fail_page_alloc/min-order", "0") ?:
	       write_str_file(DBGFS "/fail_page_alloc/ignore-gfp-highmem", "N") ?:
	       write_str_file(DBGFS "/failslab/cache-filter", "N");
}

static void fi_teardown(void)
{
	write_str_file(DBGFS "/failslab/probability", "0");
	write_str_file(DBGFS "/fail_page_alloc/probability", "0");
}

/* make-it-fail of every ivf-dirty poller thread; how many were found */
static int fi_pollers(bool on)
{
	char path[300], comm[64];
	struct dirent *e;
	int n = 0, fd;
	ssize_t r;
	DIR *dir;

	dir = opendir("/proc");
	if (!dir)
		return 0;
	while ((e = readdir(dir))) {
		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/comm", e->d_name);
		fd = open(path, O_RDONLY);
		if (fd < 0)
			continue;
		r = read(fd, comm, sizeof(comm) - 1);
		close(fd);
		if (r <= 0)
			continue;
		comm[r] = 0;
		if (strncmp(comm, "ivf-dirty/", 10))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/make-it-fail",
			 e->d_name);
		if (!write_str_file(path, on ? "1" : "0"))
			n++;
	}
	closedir(dir);
	return n;
}

/* ---------------------------------------------------------------- fixture */

FIXTURE(alloc_fail) {
	const char *bdf;
	bool fi_set;
	struct dcase dc;	/* peer, session, checker, traffic */
	struct kmsg km;
	bool km_open;
	/* the RX ring a case moved, put back before the close */
	volatile union ivf_rx_desc *rx_ring;
	uint64_t rx_iova;
	unsigned int rx_count;
	bool rx_moved;
};

IVF_BACKEND_CONTAINER(alloc_fail);

FIXTURE_SETUP(alloc_fail)
{
	const char *ns, *ifname, *why;
	int ret;

	why = vf_peer_unusable(&self->bdf, &ns, &ifname, NULL,
			       &variant->backend);
	if (why)
		SKIP(return, "%s", why);
	if (access(DBGFS "/failslab/task-filter", W_OK) ||
	    access(DBGFS "/fail_page_alloc/task-filter", W_OK))
		SKIP(return, "no failslab/fail_page_alloc in debugfs (CONFIG_FAILSLAB, CONFIG_FAIL_PAGE_ALLOC, CONFIG_FAULT_INJECTION_DEBUG_FS)");
	ret = peer_open(&self->dc.peer, ns, ifname, FRAME_ETHERTYPE);
	ASSERT_EQ(0, ret)
		TH_LOG("peer socket on %s in %s: %s", ifname, ns, err_str(ret));
	self->dc.peer_open = true;
	if (kmsg_open(&self->km))
		TH_LOG("no /dev/kmsg: log checks will fail");
	else
		self->km_open = true;
	/* last: a setup that fails runs no teardown */
	ret = fi_setup();
	if (ret)
		fi_teardown();
	ASSERT_EQ(0, ret)
		TH_LOG("fault injection set up: every allocation of a marked task fails (%s)",
		       err_str(ret));
	self->fi_set = true;
}

FIXTURE_TEARDOWN(alloc_fail)
{
	fi_pollers(false);
	if (self->rx_moved) {
		self->dc.s.v.rx_ring = self->rx_ring;
		self->dc.s.v.rx_ring_dma.iova = self->rx_iova;
		self->dc.s.v.rx_count = self->rx_count;
	}
	dcase_free(&self->dc);
	if (self->km_open)
		kmsg_close(&self->km);
	if (self->fi_set)
		fi_teardown();
}

/* ---------------------------------------------------------------- helpers */

/*
 * The case's session, the checker on it if @name (with a canary in guest
 * memory), traffic from the peer
 */
static void sess_up(struct __test_metadata *_metadata,
		    FIXTURE_DATA(alloc_fail) *self,
		    const FIXTURE_VARIANT(alloc_fail) *variant,
		    struct dsess_cfg sc, const char *name)
{
	int ret;

	sc.backend = variant->backend;
	sc.snapshots = !!name;
	self->dc.sess_open = true;
	ret = dsess_open(&self->dc.s, self->bdf, &sc);
	if (!ret && name) {
		self->dc.ck_init = true;
		ret = dcheck_init(&self->dc.ck, &self->dc.s, name);
	}
	ASSERT_EQ(0, ret) TH_LOG("session set up: %s", err_str(ret));
	if (name)
		dsess_canary(&self->dc.s, 0x0a110cf0);
	dtraffic_init(&self->dc.t, &dtraffic_mixed, &self->dc.s.v, &self->dc.s.rx,
		      &self->dc.peer);
	self->dc.t_init = true;
}

/*
 * Tracking engaged (PRE_COPY); with the checker, @frames frames in under
 * it, and the tracker pulsing if @pulse
 */
static void engage(struct __test_metadata *_metadata,
		   FIXTURE_DATA(alloc_fail) *self, uint64_t frames, bool pulse)
{
	int ret = dsess_engage(&self->dc.s);

	if (!ret && self->dc.ck_init)
		ret = dcheck_begin(&self->dc.ck) ?:
		      dcheck_traffic(&self->dc.ck, &self->dc.t, frames);
	ASSERT_TRUE(!ret && (!pulse || self->dc.ck.pulse))
		TH_LOG("tracking engaged%s, %llu frames in (%s)",
		       pulse ? ", pulsing" : "", (unsigned long long)frames,
		       err_str(ret));
}

/* the poller's allocations fail from now on */
static void fail_poller(struct __test_metadata *_metadata)
{
	int n = fi_pollers(true);

	ASSERT_LT(0, n) TH_LOG("the poller's allocations must fail (%d threads)",
			       n);
}

static long long dbg(FIXTURE_DATA(alloc_fail) *self, const char *key)
{
	return (long long)dsess_dbg(&self->dc.s, key);
}

/* wait up to @ms for debugfs @key to exceed @than */
static bool wait_dbg(FIXTURE_DATA(alloc_fail) *self, const char *key,
		     long long than, int ms)
{
	for (; ms > 0; ms -= 10) {
		if (dbg(self, key) > than)
			return true;
		usleep(10000);
	}
	return dbg(self, key) > than;
}

static bool logged(FIXTURE_DATA(alloc_fail) *self, const char *what)
{
	char buf[512];

	return self->km_open &&
	       kmsg_read(&self->km, what, buf, sizeof(buf)) > 0;
}

static void checker_verdict(struct __test_metadata *_metadata,
			    FIXTURE_DATA(alloc_fail) *self, uint64_t quiet)
{
	struct dcheck *ck = &self->dc.ck;

	dcheck_print(ck);
	EXPECT_TRUE(!ck->misses && !quiet)
		TH_LOG("no page the device wrote may be missing from the reports (%llu misses over %llu page changes, %llu changed after quiescing)",
		       (unsigned long long)ck->misses,
		       (unsigned long long)ck->changed,
		       (unsigned long long)quiet);
}

/*
 * The VMM gives up on the migration and resets the VF; the guest sets it
 * up again and 500 frames are sent: at least 400 must come in.
 */
static void reset_receives(struct __test_metadata *_metadata,
			   FIXTURE_DATA(alloc_fail) *self)
{
	struct dtraffic *t = &self->dc.t;
	struct dsess *s = &self->dc.s;
	uint64_t rcvd = t->vf_rcvd;
	int ret;

	ret = dsess_state(s, VFIO_DEVICE_STATE_RUNNING) ?:
	      vfio_dev_reset(&s->d) ?: ivf_reset(&s->v) ?:
	      ivf_set_lpe(&s->v, 1522);
	if (!ret) {
		dsess_reprogram(s);
		t->c.rx_target = t->vf_rcvd + t->vf_lost + 500;
		ret = dtraffic_start(t);
		while (!ret && !__atomic_load_n(&t->done, __ATOMIC_ACQUIRE))
			usleep(20000);
		dtraffic_stop(t);
	}
	dtraffic_print(t, "after the reset: ");
	EXPECT_TRUE(!ret && t->vf_rcvd - rcvd >= 400)
		TH_LOG("after VFIO_DEVICE_RESET the VF must receive again (%llu of 500; %s)",
		       (unsigned long long)(t->vf_rcvd - rcvd), err_str(ret));
}

/* ------------------------------------------------------------------ pulse */

TEST_F_TIMEOUT(alloc_fail, failed_pins_are_retried_and_no_page_goes_missing,
	       CASE_TIMEOUT)
{
	struct dtraffic *t = &self->dc.t;
	long long failed0, failed;
	uint64_t quiet = 0, rcvd;
	int ret;

	sess_up(_metadata, self, variant, (struct dsess_cfg){ 0 }, "pulse");
	engage(_metadata, self, 1000, true);
	failed0 = dbg(self, "pulse_failed");
	fail_poller(_metadata);
	rcvd = t->vf_rcvd;
	ret = dcheck_traffic(&self->dc.ck, t, 2000);
	failed = dbg(self, "pulse_failed") - failed0;
	fi_pollers(false);
	TH_LOG("pins failing: %llu frames in, %lld page pins failed (debugfs pulse_failed, last error %lld)",
	       (unsigned long long)(t->vf_rcvd - rcvd), failed,
	       dbg(self, "pulse_err"));
	EXPECT_TRUE(!ret && t->vf_rcvd - rcvd > 1000)
		TH_LOG("frames must keep flowing meanwhile (%s)", err_str(ret));
	EXPECT_LT(0, failed) TH_LOG("type1 must fail to pin");
	ret = dcheck_traffic(&self->dc.ck, t, 1000) ?:
	      dsess_state(&self->dc.s, VFIO_DEVICE_STATE_PRE_COPY_P2P) ?:
	      dcheck_end(&self->dc.ck, &quiet);
	ASSERT_EQ(0, ret)
		TH_LOG("memory back, 1000 frames more, device quiesced, last reports: %s",
		       err_str(ret));
	checker_verdict(_metadata, self, quiet);
	EXPECT_LT(0ull, self->dc.ck.late_resolved)
		TH_LOG("pages the failed pins left out must be reported later (%llu)",
		       (unsigned long long)self->dc.ck.late_resolved);
	EXPECT_EQ(0, dbg(self, "lost"))
		TH_LOG("nothing may be lost (debugfs lost %lld)",
		       dbg(self, "lost"));
	dtraffic_print(t, "pulse: ");
	EXPECT_TRUE(!t->vf_bad && !t->vf_dup && !t->peer_bad)
		TH_LOG("no frame may be corrupted or duplicated");
}

/* ----------------------------------------------------------------- layout */

#define RXDCTL_ON (IVF_XDCTL_ENABLE | IVF_XDCTL_PTHRESH(16) | \
		   IVF_XDCTL_HTHRESH(8) | IVF_XDCTL_WTHRESH(1))

TEST_F_TIMEOUT(alloc_fail,
	       ring_layout_without_memory_keeps_queue_disabled_until_memory_back,
	       CASE_TIMEOUT)
{
	struct dtraffic *t = &self->dc.t;
	struct dsess *s = &self->dc.s;
	unsigned int i, dd = 0;
	uint64_t quiet = 0, iova;
	long long nomem;
	uint32_t seq = 0;
	int ret, got;

	sess_up(_metadata, self, variant, (struct dsess_cfg){ 0 }, "layout");
	self->rx_ring = s->v.rx_ring;
	self->rx_iova = s->v.rx_ring_dma.iova;
	self->rx_count = s->v.rx_count;
	engage(_metadata, self, 1000, false);
	fail_poller(_metadata);
	if (self->km_open)
		kmsg_mark(&self->km);

	/* the guest resizes its RX ring to half, in the spare region */
	self->rx_moved = true;
	ivf_wr(&s->v, IVF_RXDCTL(0),
	       ivf_rd(&s->v, IVF_RXDCTL(0)) & ~IVF_XDCTL_ENABLE);
	usleep(2000);
	iova = s->spare.iova + 0x2000;
	s->v.rx_count = self->rx_count / 2;
	s->v.rx_ring = (void *)((uint8_t *)s->spare.vaddr + 0x2000);
	s->v.rx_ring_dma.iova = iova;
	ivf_wr(&s->v, IVF_RDBAL(0), (uint32_t)iova);
	ivf_wr(&s->v, IVF_RDBAH(0), (uint32_t)(iova >> 32));
	ivf_wr(&s->v, IVF_RDLEN(0), s->v.rx_count * sizeof(union ivf_rx_desc));
	ivf_wr(&s->v, IVF_RDH(0), 0);
	ivf_wr(&s->v, IVF_RDT(0), 0);
	rxpool_post_all(&s->rx);
	dcheck_rings_from_ivf(&self->dc.ck);
	ivf_wr(&s->v, IVF_RXDCTL(0), RXDCTL_ON);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	ivf_wr(&s->v, IVF_RDT(0), s->v.rx_count - 1);
	dsess_wait_polls(s, 5);

	nomem = dbg(self, "layout_nomem");
	EXPECT_LT(0, nomem)
		TH_LOG("the new ring's bookkeeping must fail to allocate (debugfs layout_nomem %lld)",
		       nomem);
	EXPECT_TRUE(logged(self, "no memory to lay out RX queue"))
		TH_LOG("the driver must log that the queue stays disabled");
	got = vf_rx_burst(&s->v, &self->dc.peer, 16, 300, &seq);
	for (i = 0; i < s->v.rx_count; i++)
		dd += !!(s->v.rx_ring[i].wb.status_error & IVF_RXD_STAT_DD);
	EXPECT_TRUE(got == 0 && dd == 0)
		TH_LOG("the queue must be held disabled: of 16 frames sent none may land (%d received, %u descriptors written)",
		       got, dd);
	ret = dcheck_round(&self->dc.ck);
	fi_pollers(false);

	/* memory back: the queue comes up */
	dsess_wait_polls(s, 5);
	TH_LOG("memory back after %lld failed layouts",
	       dbg(self, "layout_nomem"));
	ret = ret ?: dcheck_round(&self->dc.ck) ?:
	      dcheck_traffic(&self->dc.ck, t, 1500) ?:
	      dsess_state(s, VFIO_DEVICE_STATE_PRE_COPY_P2P) ?:
	      dcheck_end(&self->dc.ck, &quiet);
	ASSERT_EQ(0, ret)
		TH_LOG("memory back, frames on the resized ring, device quiesced, last reports: %s",
		       err_str(ret));
	dtraffic_print(t, "layout: ");
	EXPECT_TRUE(t->vf_rcvd > 2000 && !t->vf_bad && !t->vf_dup)
		TH_LOG("frames must flow on the resized ring (%llu in all, %llu lost)",
		       (unsigned long long)t->vf_rcvd,
		       (unsigned long long)t->vf_lost);
	EXPECT_LT(0ull, dcheck_region_written(&self->dc.ck, s->r_spare))
		TH_LOG("the device must write the new ring");
	checker_verdict(_metadata, self, quiet);
}

/* ----------------------------------------------------------------- spread */

#define SPREAD_BUFS	6
#define SPREAD_STEP	(12ull << 20)

TEST_F_TIMEOUT(alloc_fail,
	       failed_pulse_far_from_others_is_lost_at_once_and_refuses_stop_copy,
	       CASE_TIMEOUT)
{
	struct dsess *s = &self->dc.s;
	long long lost, polls0, polls1;
	uint32_t seq = 0;
	int ret, n, sent;
	unsigned int i;

	sess_up(_metadata, self, variant,
		(struct dsess_cfg){ .idle = 64 << 20 }, NULL);
	engage(_metadata, self, 0, false);
	/* the guest posts SPREAD_BUFS buffers 12 MiB apart, from index 0 */
	ivf_wr(&s->v, IVF_RXDCTL(0),
	       ivf_rd(&s->v, IVF_RXDCTL(0)) & ~IVF_XDCTL_ENABLE);
	dsess_wait_polls(s, 3);
	for (i = 0; i < SPREAD_BUFS; i++) {
		s->v.rx_ring[i].read.pkt_addr = s->idle.iova + i * SPREAD_STEP;
		s->v.rx_ring[i].read.hdr_addr = 0;
	}
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	ivf_wr(&s->v, IVF_RDH(0), 0);
	ivf_wr(&s->v, IVF_RDT(0), 0);
	ivf_wr(&s->v, IVF_RXDCTL(0), RXDCTL_ON);
	dsess_wait_polls(s, 3);
	ivf_wr(&s->v, IVF_RDT(0), SPREAD_BUFS);
	dsess_wait_polls(s, 3);
	n = fi_pollers(true);
	if (self->km_open)
		kmsg_mark(&self->km);
	sent = peer_frames_to_vf(&self->dc.peer, &s->v, 9, SPREAD_BUFS, 0, &seq);
	polls0 = dbg(self, "polls");
	ret = wait_dbg(self, "lost", 0, 3000);
	TH_LOG("%d frames into buffers 12 MiB apart, the poller's pins failing (%d threads): debugfs lost %lld, pulse_failed %lld",
	       sent, n, dbg(self, "lost"), dbg(self, "pulse_failed"));
	EXPECT_TRUE(n > 0 && ret)
		TH_LOG("pulses too far from the others must be lost at once");
	EXPECT_TRUE(logged(self, "too far apart"))
		TH_LOG("and the kernel log must say so");
	dsess_wait_polls(s, 20);
	polls1 = dbg(self, "polls");
	fi_pollers(false);
	EXPECT_LE(polls0 + 20, polls1)
		TH_LOG("the poller must poll on (polls %lld -> %lld)",
		       polls0, polls1);
	lost = dbg(self, "lost");
	ret = dsess_state(s, VFIO_DEVICE_STATE_PRE_COPY_P2P) ?:
	      mig_set_state(&s->d, VFIO_DEVICE_STATE_STOP_COPY, NULL);
	EXPECT_EQ(-EIO, ret)
		TH_LOG("memory back, PRE_COPY_P2P -> STOP_COPY must be refused with EIO (%s; %lld pages lost)",
		       err_str(ret), lost);
	reset_receives(_metadata, self);
}

/* ------------------------------------------------------------------- lost */

struct quiesce {
	struct dsess *s;
	int ret, fi_ret;
};

/* PRE_COPY -> PRE_COPY_P2P from a thread whose allocations fail too */
static void *quiesce_failing(void *arg)
{
	struct quiesce *q = arg;
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%ld/make-it-fail",
		 (long)syscall(SYS_gettid));
	fd = open(path, O_WRONLY);
	if (fd < 0) {
		q->fi_ret = -errno;
		return NULL;
	}
	q->fi_ret = write(fd, "1", 1) == 1 ? 0 : -errno;
	q->ret = mig_set_state(&q->s->d, VFIO_DEVICE_STATE_PRE_COPY_P2P, NULL);
	if (write(fd, "0", 1) != 1)
		q->fi_ret = -errno;
	close(fd);
	return NULL;
}

/*
 * Both lost cases start here: tracked with the checker, 500 frames in, then
 * under traffic the poller's pins fail, and the device is quiesced by a
 * thread whose allocations fail too (the kernel log marked before it).
 */
static void lose_pages(struct __test_metadata *_metadata,
		       FIXTURE_DATA(alloc_fail) *self,
		       const FIXTURE_VARIANT(alloc_fail) *variant)
{
	struct dtraffic *t = &self->dc.t;
	struct quiesce q = { .s = &self->dc.s };
	pthread_t th;
	int ret, n;

	sess_up(_metadata, self, variant, (struct dsess_cfg){ 0 }, "lost");
	engage(_metadata, self, 500, false);
	n = fi_pollers(true);
	t->c.rx_target = 0;
	ret = dtraffic_start(t);
	EXPECT_TRUE(n > 0 && !ret && wait_dbg(self, "pulse_failed", 0, 3000))
		TH_LOG("under traffic, the poller's pins must fail (%d threads, debugfs pulse_failed %lld; %s)",
		       n, dbg(self, "pulse_failed"), err_str(ret));
	dtraffic_stop(t);
	if (self->km_open)
		kmsg_mark(&self->km);
	ASSERT_EQ(0, pthread_create(&th, NULL, quiesce_failing, &q))
		TH_LOG("quiescing thread");
	pthread_join(th, NULL);
	fi_pollers(false);
	EXPECT_TRUE(!q.fi_ret && !q.ret)
		TH_LOG("PRE_COPY -> PRE_COPY_P2P with the quiescing thread's allocations failing too (%s; make-it-fail %s)",
		       err_str(q.ret), err_str(q.fi_ret));
}

TEST_F_TIMEOUT(alloc_fail, pages_lost_at_quiesce_refuse_stop_copy,
	       CASE_TIMEOUT)
{
	struct dcheck *ck = &self->dc.ck;
	uint64_t quiet = 0;
	uint32_t state = 0;
	int ret;

	lose_pages(_metadata, self, variant);
	EXPECT_LT(0, dbg(self, "lost"))
		TH_LOG("the driver must know %lld pages the device wrote are not marked dirty",
		       dbg(self, "lost"));
	EXPECT_TRUE(logged(self, "could not be marked dirty"))
		TH_LOG("and say so in the kernel log");
	/* what a VMM's last reports would miss, found by the checker */
	ret = dcheck_end(ck, &quiet);
	dcheck_print(ck);
	EXPECT_TRUE(!ret && (!ck->misses || dbg(self, "lost") > 0))
		TH_LOG("each page written and never reported must be known to the driver (checker: %llu pages missing from the last reports; driver: %lld lost)",
		       (unsigned long long)ck->misses, dbg(self, "lost"));
	if (self->km_open)
		kmsg_mark(&self->km);
	ret = mig_set_state(&self->dc.s.d, VFIO_DEVICE_STATE_STOP_COPY, NULL);
	EXPECT_EQ(-EIO, ret)
		TH_LOG("PRE_COPY_P2P -> STOP_COPY must be refused with EIO (%s)",
		       err_str(ret));
	EXPECT_TRUE(logged(self, "STOP_COPY refused"))
		TH_LOG("the refusal must be in the kernel log");
	ret = mig_get_state(&self->dc.s.d, &state);
	EXPECT_TRUE(!ret && state == VFIO_DEVICE_STATE_PRE_COPY_P2P)
		TH_LOG("the device must stay in PRE_COPY_P2P (state %u)", state);
}

TEST_F_TIMEOUT(alloc_fail, cancelled_migration_after_lost_pages_restarts_clean,
	       CASE_TIMEOUT)
{
	struct dsess *s = &self->dc.s;
	uint8_t *buf = NULL;
	uint64_t quiet = 0;
	size_t len = 0;
	ssize_t r;
	int ret;

	lose_pages(_metadata, self, variant);
	dcheck_end(&self->dc.ck, &quiet);
	ret = mig_set_state(&s->d, VFIO_DEVICE_STATE_STOP_COPY, NULL);
	ASSERT_EQ(-EIO, ret)
		TH_LOG("STOP_COPY must be refused first (%s)", err_str(ret));

	/* the VMM cancels, then migrates again */
	ret = dsess_state(s, VFIO_DEVICE_STATE_RUNNING) ?:
	      dsess_state(s, VFIO_DEVICE_STATE_PRE_COPY);
	EXPECT_TRUE(!ret && dbg(self, "lost") == 0)
		TH_LOG("cancelled, a new migration must start clean (%s, debugfs lost %lld)",
		       err_str(ret), dbg(self, "lost"));
	ret = ret ?: dcheck_traffic(&self->dc.ck, &self->dc.t, 500) ?:
	      dsess_state(s, VFIO_DEVICE_STATE_PRE_COPY_P2P) ?:
	      dsess_state(s, VFIO_DEVICE_STATE_STOP_COPY);
	/* the pre-copy fd carries on into STOP_COPY */
	r = ret || s->data_fd < 0 ? -1 : mig_read_all(s->data_fd, &buf, &len);
	free(buf);
	TH_LOG("the new migration saved %zu bytes", len);
	EXPECT_TRUE(!ret && r >= 0 && len > 0)
		TH_LOG("the new migration must reach STOP_COPY and save the device (%s)",
		       err_str(ret));
	reset_receives(_metadata, self);
}

TEST_HARNESS_MAIN
