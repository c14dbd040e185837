// SPDX-License-Identifier: GPL-2.0
/*
 * alloc_fail (issue 14, claim 5): the dirty tracker runs out of memory.
 *
 * The kernel's fault injection (failslab and fail_page_alloc, filtered to
 * the tasks whose make-it-fail is set) fails every allocation of the
 * tracker's poller thread (ivf-dirty/...), and in the last part also of the
 * thread that quiesces the device. It needs CONFIG_FAILSLAB,
 * CONFIG_FAIL_PAGE_ALLOC and CONFIG_FAULT_INJECTION_DEBUG_FS (the lab's
 * sanitizer kernel, selftests/vm/kernel-iommufd.sh); it skips without.
 * A type1 container (the tracker pulsing), the checker
 * of dirty_exact (lib/dcheck.h) on guest memory throughout.
 *
 * pulse   Traffic while the poller cannot allocate: type1 cannot pin
 *         (vfio_pin_pages() fails with ENOMEM), so the pages the device
 *         writes are not marked dirty then. The driver keeps them and
 *         tries again; with memory back, every page written is reported
 *         before the last report, none missed.
 * layout  The guest resizes its RX ring while the poller cannot allocate
 *         the new ring's bookkeeping: the queue stays disabled (no frame
 *         lands, nothing is written), the driver says so in the log; with
 *         memory back the queue comes up and frames flow, none missed.
 * lost    Pins still fail once the device is quiesced (the quiescing
 *         thread cannot allocate either): pages were written that type1
 *         will never report. STOP_COPY is refused with EIO and a log line
 *         (a VMM would otherwise complete a migration that lost them); a
 *         new migration (RUNNING -> PRE_COPY) starts clean and completes,
 *         and the device works after VFIO_DEVICE_RESET.
 *
 * spread  The guest's buffers lie far apart (12 MiB) while the poller
 *         cannot pin: the pulses kept for a retry would have to cover
 *         everything in between, a chunk at a time with the tracker's lock
 *         held (minutes for buffers spread over a large guest). A failed
 *         pulse too far from the others is lost at once instead: STOP_COPY
 *         is refused; the poller keeps polling; the VF works after a reset.
 *
 * Before the fix a failed pulse was counted as "not mapped" and dropped:
 * the pulse part then finds the pages written during the injection
 * missing, and STOP_COPY is not refused in the lost part.
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
#include "frame.h"
#include "kmsg.h"
#include "ktap.h"
#include "mig.h"
#include "util.h"

KTAP_DEFINE_STATE();

#define DBGFS "/sys/kernel/debug"

static const char *bdf;
static struct peer peer;
static struct kmsg km;

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

/* ---------------------------------------------------------------- helpers */

static bool open_sess(struct dsess *s, struct dcheck *ck, struct dtraffic *t,
		      const char *name)
{
	struct dsess_cfg sc = { .snapshots = true };

	if (dsess_open(s, bdf, &sc) || dcheck_init(ck, s, name)) {
		ktap_check(false, "%s: session set up", name);
		return false;
	}
	dsess_canary(s, 0x0a110cf0);
	dtraffic_init(t, &dtraffic_mixed, &s->v, &s->rx, &peer);
	return true;
}

static void close_sess(struct dsess *s, struct dcheck *ck, struct dtraffic *t)
{
	fi_pollers(false);
	dtraffic_free(t);
	dcheck_free(ck);
	dsess_close(s);
}

static long long dbg(struct dsess *s, const char *key)
{
	return (long long)dsess_dbg(s, key);
}

/* wait up to @ms for debugfs @key to exceed @than */
static bool wait_dbg(struct dsess *s, const char *key, long long than, int ms)
{
	for (; ms > 0; ms -= 10) {
		if (dbg(s, key) > than)
			return true;
		usleep(10000);
	}
	return dbg(s, key) > than;
}

static bool logged(const char *what)
{
	char buf[512];

	return kmsg_read(&km, what, buf, sizeof(buf)) > 0;
}

static void checker_verdict(struct dcheck *ck, const char *name,
			    uint64_t quiet)
{
	dcheck_print(ck);
	ktap_check(!ck->misses && !quiet,
		   "%s: no page the device wrote is missing from the reports (%llu misses over %llu page changes, %llu changed after quiescing)",
		   name, (unsigned long long)ck->misses,
		   (unsigned long long)ck->changed,
		   (unsigned long long)quiet);
}

/* ------------------------------------------------------------------ pulse */

static void part_pulse(void)
{
	long long failed0, failed;
	uint64_t quiet = 0, rcvd;
	struct dcheck ck;
	struct dtraffic t;
	struct dsess s;
	int ret, n;

	if (!open_sess(&s, &ck, &t, "pulse"))
		goto out;
	ret = dsess_engage(&s) ?: dcheck_begin(&ck) ?:
	      dcheck_traffic(&ck, &t, 1000);
	if (!ktap_check(!ret && ck.pulse,
			"pulse: tracking engaged, pulsing, 1000 frames in (%s)",
			err_str(ret)))
		goto out;
	failed0 = dbg(&s, "pulse_failed");
	n = fi_pollers(true);
	if (!ktap_check(n > 0, "pulse: the poller's allocations fail (%d threads)", n))
		goto out;
	rcvd = t.vf_rcvd;
	ret = dcheck_traffic(&ck, &t, 2000);
	failed = dbg(&s, "pulse_failed") - failed0;
	fi_pollers(false);
	ktap_check(!ret && t.vf_rcvd - rcvd > 1000,
		   "pulse: frames kept flowing meanwhile (%llu in)",
		   (unsigned long long)(t.vf_rcvd - rcvd));
	ktap_check(failed > 0,
		   "pulse: type1 could not pin: %lld page pins failed (debugfs pulse_failed, last error %lld)",
		   failed, dbg(&s, "pulse_err"));
	ret = dcheck_traffic(&ck, &t, 1000) ?:
	      dsess_state(&s, VFIO_DEVICE_STATE_PRE_COPY_P2P) ?:
	      dcheck_end(&ck, &quiet);
	if (!ktap_check(!ret, "pulse: memory back, 1000 frames more, device quiesced, last reports (%s)",
			err_str(ret)))
		goto out;
	checker_verdict(&ck, "pulse", quiet);
	ktap_check(ck.late_resolved > 0,
		   "pulse: pages the failed pins left out were reported later (%llu)",
		   (unsigned long long)ck.late_resolved);
	ktap_check(dbg(&s, "lost") == 0,
		   "pulse: nothing lost (debugfs lost %lld)", dbg(&s, "lost"));
	dtraffic_print(&t, "pulse: ");
	ktap_check(!t.vf_bad && !t.vf_dup && !t.peer_bad,
		   "pulse: no frame corrupted or duplicated");
out:
	close_sess(&s, &ck, &t);
}

/* ----------------------------------------------------------------- layout */

#define RXDCTL_ON (IVF_XDCTL_ENABLE | IVF_XDCTL_PTHRESH(16) | \
		   IVF_XDCTL_HTHRESH(8) | IVF_XDCTL_WTHRESH(1))

static void part_layout(void)
{
	volatile union ivf_rx_desc *old_ring;
	unsigned int old_count, i, dd = 0;
	uint64_t quiet = 0, old_iova, iova;
	long long nomem;
	struct dcheck ck;
	struct dtraffic t;
	struct dsess s;
	uint32_t seq = 0;
	int ret, n, got;

	if (!open_sess(&s, &ck, &t, "layout"))
		goto out;
	old_ring = s.v.rx_ring;
	old_iova = s.v.rx_ring_dma.iova;
	old_count = s.v.rx_count;
	ret = dsess_engage(&s) ?: dcheck_begin(&ck) ?:
	      dcheck_traffic(&ck, &t, 1000);
	if (!ktap_check(!ret, "layout: tracking engaged, 1000 frames in (%s)",
			err_str(ret)))
		goto out;
	n = fi_pollers(true);
	if (!ktap_check(n > 0, "layout: the poller's allocations fail (%d threads)", n))
		goto out;
	kmsg_mark(&km);

	/* the guest resizes its RX ring to half, in the spare region */
	ivf_wr(&s.v, IVF_RXDCTL(0), ivf_rd(&s.v, IVF_RXDCTL(0)) & ~IVF_XDCTL_ENABLE);
	usleep(2000);
	iova = s.spare.iova + 0x2000;
	s.v.rx_count = old_count / 2;
	s.v.rx_ring = (void *)((uint8_t *)s.spare.vaddr + 0x2000);
	s.v.rx_ring_dma.iova = iova;
	ivf_wr(&s.v, IVF_RDBAL(0), (uint32_t)iova);
	ivf_wr(&s.v, IVF_RDBAH(0), (uint32_t)(iova >> 32));
	ivf_wr(&s.v, IVF_RDLEN(0), s.v.rx_count * sizeof(union ivf_rx_desc));
	ivf_wr(&s.v, IVF_RDH(0), 0);
	ivf_wr(&s.v, IVF_RDT(0), 0);
	rxpool_post_all(&s.rx);
	dcheck_rings_from_ivf(&ck);
	ivf_wr(&s.v, IVF_RXDCTL(0), RXDCTL_ON);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	ivf_wr(&s.v, IVF_RDT(0), s.v.rx_count - 1);
	dsess_wait_polls(&s, 5);

	nomem = dbg(&s, "layout_nomem");
	ktap_check(nomem > 0,
		   "layout: the new ring's bookkeeping could not be allocated (debugfs layout_nomem %lld)",
		   nomem);
	ktap_check(logged("no memory to lay out RX queue"),
		   "layout: the driver logs that the queue stays disabled");
	got = vf_rx_burst(&s.v, &peer, 16, 300, &seq);
	for (i = 0; i < s.v.rx_count; i++)
		dd += !!(s.v.rx_ring[i].wb.status_error & IVF_RXD_STAT_DD);
	ktap_check(got == 0 && dd == 0,
		   "layout: the queue is held disabled: of 16 frames sent none landed (%d received, %u descriptors written)",
		   got, dd);
	ret = dcheck_round(&ck);
	fi_pollers(false);

	/* memory back: the queue comes up */
	dsess_wait_polls(&s, 5);
	ktap_info("layout: memory back after %lld failed layouts",
		  dbg(&s, "layout_nomem"));
	ret = ret ?: dcheck_round(&ck) ?: dcheck_traffic(&ck, &t, 1500) ?:
	      dsess_state(&s, VFIO_DEVICE_STATE_PRE_COPY_P2P) ?:
	      dcheck_end(&ck, &quiet);
	if (!ktap_check(!ret, "layout: memory back, frames on the resized ring, device quiesced, last reports (%s)",
			err_str(ret)))
		goto restore;
	dtraffic_print(&t, "layout: ");
	ktap_check(t.vf_rcvd > 2000 && !t.vf_bad && !t.vf_dup,
		   "layout: frames flowed on the resized ring (%llu in all, %llu lost)",
		   (unsigned long long)t.vf_rcvd, (unsigned long long)t.vf_lost);
	ktap_check(dcheck_region_written(&ck, s.r_spare) > 0,
		   "layout: the device wrote the new ring");
	checker_verdict(&ck, "layout", quiet);
restore:
	s.v.rx_ring = old_ring;
	s.v.rx_ring_dma.iova = old_iova;
	s.v.rx_count = old_count;
out:
	close_sess(&s, &ck, &t);
}

/* ----------------------------------------------------------------- spread */

#define SPREAD_BUFS	6
#define SPREAD_STEP	(12ull << 20)

static void part_spread(void)
{
	struct dsess_cfg sc = { .idle = 64 << 20 };
	long long lost, polls0, polls1;
	uint32_t seq = 0;
	struct dtraffic t;
	struct dsess s;
	int ret, n, sent;
	unsigned int i;

	if (dsess_open(&s, bdf, &sc)) {
		ktap_check(false, "spread: session set up");
		dsess_close(&s);
		return;
	}
	dtraffic_init(&t, &dtraffic_mixed, &s.v, &s.rx, &peer);
	ret = dsess_engage(&s);
	if (!ktap_check(!ret, "spread: tracking engaged (%s)", err_str(ret)))
		goto out;
	/* the guest posts SPREAD_BUFS buffers 12 MiB apart, from index 0 */
	ivf_wr(&s.v, IVF_RXDCTL(0), ivf_rd(&s.v, IVF_RXDCTL(0)) & ~IVF_XDCTL_ENABLE);
	dsess_wait_polls(&s, 3);
	for (i = 0; i < SPREAD_BUFS; i++) {
		s.v.rx_ring[i].read.pkt_addr = s.idle.iova + i * SPREAD_STEP;
		s.v.rx_ring[i].read.hdr_addr = 0;
	}
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	ivf_wr(&s.v, IVF_RDH(0), 0);
	ivf_wr(&s.v, IVF_RDT(0), 0);
	ivf_wr(&s.v, IVF_RXDCTL(0), RXDCTL_ON);
	dsess_wait_polls(&s, 3);
	ivf_wr(&s.v, IVF_RDT(0), SPREAD_BUFS);
	dsess_wait_polls(&s, 3);
	n = fi_pollers(true);
	kmsg_mark(&km);
	sent = peer_frames_to_vf(&peer, &s.v, 9, SPREAD_BUFS, 0, &seq);
	polls0 = dbg(&s, "polls");
	ktap_check(n > 0 && wait_dbg(&s, "lost", 0, 3000),
		   "spread: %d frames into buffers 12 MiB apart, the poller's pins failing: pulses too far from the others are lost at once (debugfs lost %lld, pulse_failed %lld; %d threads)",
		   sent, dbg(&s, "lost"), dbg(&s, "pulse_failed"), n);
	ktap_check(logged("too far apart"), "spread: and the kernel log says so");
	dsess_wait_polls(&s, 20);
	polls1 = dbg(&s, "polls");
	fi_pollers(false);
	ktap_check(polls1 >= polls0 + 20,
		   "spread: the poller polls on (polls %lld -> %lld)",
		   polls0, polls1);
	lost = dbg(&s, "lost");
	ret = dsess_state(&s, VFIO_DEVICE_STATE_PRE_COPY_P2P);
	ret = ret ?: mig_set_state(&s.d, VFIO_DEVICE_STATE_STOP_COPY, NULL);
	ktap_check(ret == -EIO,
		   "spread: memory back, PRE_COPY_P2P -> STOP_COPY is refused with EIO (%s; %lld pages lost)",
		   err_str(ret), lost);
	ret = dsess_state(&s, VFIO_DEVICE_STATE_RUNNING) ?:
	      vfio_dev_reset(&s.d) ?: ivf_reset(&s.v) ?: ivf_set_lpe(&s.v, 1522);
	if (!ret) {
		dsess_reprogram(&s);
		t.c.rx_target = 500;
		ret = dtraffic_run(&t);
	}
	ktap_check(!ret && t.vf_rcvd >= 400,
		   "spread: after VFIO_DEVICE_RESET the VF receives again (%llu of 500; %s)",
		   (unsigned long long)t.vf_rcvd, err_str(ret));
out:
	fi_pollers(false);
	dtraffic_free(&t);
	dsess_close(&s);
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

static void part_lost(void)
{
	struct quiesce q = { 0 };
	uint32_t state = 0;
	uint64_t rcvd = 0, quiet = 0;
	struct dcheck ck;
	struct dtraffic t;
	struct dsess s;
	uint8_t *buf = NULL;
	size_t len = 0;
	pthread_t th;
	ssize_t r;
	int ret, n;

	if (!open_sess(&s, &ck, &t, "lost"))
		goto out;
	ret = dsess_engage(&s) ?: dcheck_begin(&ck) ?:
	      dcheck_traffic(&ck, &t, 500);
	if (!ktap_check(!ret, "lost: tracking engaged, 500 frames in (%s)",
			err_str(ret)))
		goto out;
	n = fi_pollers(true);
	t.c.rx_target = 0;
	ret = dtraffic_start(&t);
	ktap_check(n > 0 && !ret && wait_dbg(&s, "pulse_failed", 0, 3000),
		   "lost: under traffic, the poller's pins fail (%d threads, debugfs pulse_failed %lld)",
		   n, dbg(&s, "pulse_failed"));
	dtraffic_stop(&t);
	kmsg_mark(&km);
	q.s = &s;
	if (pthread_create(&th, NULL, quiesce_failing, &q)) {
		ktap_check(false, "lost: quiescing thread");
		goto out;
	}
	pthread_join(th, NULL);
	fi_pollers(false);
	ktap_check(!q.fi_ret && !q.ret,
		   "lost: PRE_COPY -> PRE_COPY_P2P with the quiescing thread's allocations failing too (%s; make-it-fail %s)",
		   err_str(q.ret), err_str(q.fi_ret));
	ktap_check(dbg(&s, "lost") > 0,
		   "lost: the driver knows %lld pages the device wrote are not marked dirty",
		   dbg(&s, "lost"));
	ktap_check(logged("could not be marked dirty"),
		   "lost: and says so in the kernel log");
	/* what a VMM's last reports would miss, found by the checker */
	ret = dcheck_end(&ck, &quiet);
	dcheck_print(&ck);
	ktap_check(!ret && (!ck.misses || dbg(&s, "lost") > 0),
		   "lost: each page written and never reported was known to the driver (checker: %llu pages missing from the last reports; driver: %lld lost)",
		   (unsigned long long)ck.misses, dbg(&s, "lost"));
	kmsg_mark(&km);
	ret = mig_set_state(&s.d, VFIO_DEVICE_STATE_STOP_COPY, NULL);
	ktap_check(ret == -EIO, "lost: PRE_COPY_P2P -> STOP_COPY is refused with EIO (%s)",
		   err_str(ret));
	ktap_check(logged("STOP_COPY refused"),
		   "lost: the refusal is in the kernel log");
	ret = mig_get_state(&s.d, &state);
	ktap_check(!ret && state == VFIO_DEVICE_STATE_PRE_COPY_P2P,
		   "lost: the device stays in PRE_COPY_P2P (state %u)", state);

	/* the VMM cancels, then migrates again */
	ret = dsess_state(&s, VFIO_DEVICE_STATE_RUNNING) ?:
	      dsess_state(&s, VFIO_DEVICE_STATE_PRE_COPY);
	ktap_check(!ret && dbg(&s, "lost") == 0,
		   "lost: cancelled, a new migration starts clean (%s, debugfs lost %lld)",
		   err_str(ret), dbg(&s, "lost"));
	ret = ret ?: dcheck_traffic(&ck, &t, 500) ?:
	      dsess_state(&s, VFIO_DEVICE_STATE_PRE_COPY_P2P) ?:
	      dsess_state(&s, VFIO_DEVICE_STATE_STOP_COPY);
	/* the pre-copy fd carries on into STOP_COPY */
	r = ret || s.data_fd < 0 ? -1 : mig_read_all(s.data_fd, &buf, &len);
	free(buf);
	ktap_check(!ret && r >= 0 && len > 0,
		   "lost: the new migration reaches STOP_COPY and saves the device (%zu bytes; %s)",
		   len, err_str(ret));
	ret = dsess_state(&s, VFIO_DEVICE_STATE_RUNNING) ?:
	      vfio_dev_reset(&s.d) ?: ivf_reset(&s.v) ?: ivf_set_lpe(&s.v, 1522);
	if (!ret) {
		dsess_reprogram(&s);
		rcvd = t.vf_rcvd;
		t.c.rx_target = t.vf_rcvd + t.vf_lost + 500;
		ret = dtraffic_start(&t);
		while (!ret && !__atomic_load_n(&t.done, __ATOMIC_ACQUIRE))
			usleep(20000);
		dtraffic_stop(&t);
	}
	dtraffic_print(&t, "lost: ");
	ktap_check(!ret && t.vf_rcvd - rcvd >= 400,
		   "lost: after VFIO_DEVICE_RESET the VF receives again (%llu of 500; %s)",
		   (unsigned long long)(t.vf_rcvd - rcvd), err_str(ret));
out:
	close_sess(&s, &ck, &t);
}

int main(void)
{
	const char *ns = env_need("IVF_PEER_NS");
	const char *ifname = env_need("IVF_PEER_IF");
	struct vfio_dev d;
	int ret;

	bdf = env_need("IVF_VF0");
	ktap_header("alloc_fail: the tracker out of memory loses no page");
	if (access(DBGFS "/failslab/task-filter", W_OK) ||
	    access(DBGFS "/fail_page_alloc/task-filter", W_OK))
		ktap_skip_all("no failslab/fail_page_alloc in debugfs (CONFIG_FAILSLAB, CONFIG_FAIL_PAGE_ALLOC, CONFIG_FAULT_INJECTION_DEBUG_FS)");
	ret = vfio_dev_open(&d, bdf);
	if (!ktap_check(!ret, "open %s", bdf))
		ktap_finish();
	if (d.dirty_log) {
		vfio_dev_close(&d);
		ktap_skip_all("%s is bound through iommufd: this test is for type1's pins",
			      bdf);
	}
	vfio_dev_close(&d);
	ret = fi_setup();
	if (!ktap_check(!ret, "fault injection set up: every allocation of a marked task fails (%s)",
			err_str(ret)))
		ktap_finish();
	ret = peer_open(&peer, ns, ifname, FRAME_ETHERTYPE);
	if (!ktap_check(!ret, "peer socket on %s in %s", ifname, ns))
		goto out;
	if (kmsg_open(&km))
		ktap_info("no /dev/kmsg: log checks will fail");
	part_pulse();
	part_layout();
	part_spread();
	part_lost();
	kmsg_close(&km);
	peer_close(&peer);
out:
	fi_teardown();
	ktap_finish();
}
