// SPDX-License-Identifier: GPL-2.0
/*
 * hostile_guest: a bounded soak of one VF driven by a hostile "guest"
 * while the VMM side works the migration and reset interfaces, and a
 * well-behaved VF on the same PF moves traffic the whole time (issue 14).
 *
 * Hostile guest (IVF_VF0, this process), a random mix per iteration:
 *  p123    random 32-bit values at random 4-byte-aligned offsets of BAR0
 *          pages 1-3, through the mmap (ivf_wr) and through pwrite
 *  p0      random values at random 4-byte-aligned offsets of page 0
 *  mbx     random VMBMEM words, then V2PMAILBOX.REQ (a random message)
 *  rst     CTRL.RST storms (back-to-back resets)
 *  desc    SRRCTL at the largest sizes with header split, every RX
 *          descriptor with random 64-bit addresses (anywhere, inside what
 *          is mapped, near the top of the IOVA space), random tail
 *  tail    RDT rewinds by one and jumps
 *  ring    RDBAL/RDBAH/RDLEN/RXDCTL changes (rings moved, resized, into
 *          mapped memory or anywhere), TDBAL/TDLEN/TDT too
 *  txdesc  TX descriptors with random addresses, the largest lengths and
 *          random command bits (or random bytes), TDT jumps
 * Meanwhile the peer sends a frame to VF0's MAC about every millisecond,
 * so the device really writes the buffers the hostile guest names.
 * VMM side (same process, between bursts):
 *  precopy RUNNING -> PRE_COPY, read the data fd a little, -> RUNNING
 *  stopcopy RUNNING -> STOP_COPY, read it all, -> STOP -> RUNNING
 *  cancel  PRE_COPY or STOP_COPY, a read or none, straight back to RUNNING
 *  resume  STOP -> RESUMING, garbage written, -> STOP (refused), then
 *          VFIO_DEVICE_RESET
 *  log     DMA logging START / REPORT / STOP (cdev_log only)
 *  reset   VFIO_DEVICE_RESET
 *  reopen  close the device (the driver must drop everything: tracking 0,
 *          armed 0) and open it again
 * Any ioctl may fail (counted); a hang may not (alarm() watchdog).
 *
 * Well-behaved VF (IVF_VF2, a forked child): the userspace driver
 * exchanges frames both ways with the peer (IVF_PEER_NS/IVF_PEER_IF) the
 * whole time.
 *
 * Host memory: /proc/meminfo SUnreclaim, /proc/slabinfo radix_tree_node
 * (xarray nodes) and the driver's debugfs dirty file (armed, log_entries,
 * tracking) before, at most during (sampled every iteration) and after
 * everything is closed. After the soak VF0 is reopened, reset, does its PF
 * handshake and receives frames from the peer.
 *
 * The soak runs once per variant: the fixture's setup runs it in the
 * variant's first case, and each case judges one promise on its results
 * (the harness forks every case: they are kept in shared memory). Cases:
 *   no_hang_under_hostile_guest_and_vmm   every iteration ends within the
 *                                         watchdog's minute
 *   close_leaves_nothing_tracked          after each close: tracking 0,
 *                                         armed 0, log_entries 0
 *   neighbour_vf_loses_at_most_1_percent  VF2's frames, both ways
 *   neighbour_vf_keeps_mac_and_pf_config  its admin MAC (VF_RESET reply
 *                                         before and after), debugfs
 *                                         pf_config unchanged
 *   hostile_vf_works_after_reset          VF0 reopened, reset, handshake,
 *                                         admin MAC, receives frames
 *   slab_bounded_during_soak              SUnreclaim < 16 MiB, xarray
 *                                         nodes < 4 MiB more than before
 *   slab_returned_after_close             SUnreclaim within 2 MiB, xarray
 *                                         nodes 1 MiB, no object through
 *                                         the driver left
 *   tracker_bounded_during_soak           armed, log_entries under caps
 * Variants (lib/backends.h): container (VF0 and VF2 through their groups
 * and a type1 container, no DMA logging in the mix) and cdev_log (both
 * through their cdevs and iommufd, DMA logging in the mix).
 *
 * Usage: the kselftest harness's (-l lists, -v VARIANT, -t CASE).
 * Env: IVF_VF0, IVF_VF0_MAC, IVF_VF2, IVF_VF2_MAC, IVF_PEER_NS, IVF_PEER_IF,
 *      IVF_HOSTILE_SECS (default 60; a case may take it plus about two
 *      minutes: CASE_TIMEOUT), IVF_HOSTILE_SEED (default fixed, printed:
 *      replays a run).
 */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "dirty.h"
#include "fixture.h"
#include "frame.h"
#include "ivf.h"
#include "mig.h"
#include "mig_states.h"
#include "peer.h"
#include "util.h"

#include "kselftest_harness.h"
#include "backends.h"

#define DEFAULT_SEED	0x14c0ffeeu
#define NDESC		1024
#define RING_IOVA	0x10000000ull
#define BIG_IOVA	0x80000000ull
#define BIG_SIZE	(32ull << 20)
/*
 * One iteration (a burst and a VMM action) finishes within seconds even
 * on the lab's TCG guest; STOP_COPY of this VF is a few KiB. A minute
 * without progress is a hang.
 */
#define WATCHDOG_S	60
/*
 * The case that runs the soak: IVF_HOSTILE_SECS, VF2's start and drain,
 * VF0's check and the slab shrinks (seconds each on the sanitizer kernel)
 */
#define CASE_TIMEOUT	600

/*
 * Bounds. Measured on the lab guest (TCG, 6.12): SUnreclaim moves by a
 * few hundred KiB between samples when nothing runs, the VF's migration
 * state and its tracker are tens of KiB, a STOP_COPY buffer a few KiB.
 *  - SUnreclaim growth during the soak < 16 MiB: everything the driver
 *    legitimately allocates for one VF (tracker spans for at most 2 rings
 *    of 64K descriptors, the dirty log capped at 16384 entries, migration
 *    buffers) is a small fraction of that; unbounded growth (a leak per
 *    iteration, per descriptor or per reopen) crosses it within a minute.
 *  - after close within 2 MiB of before: per-cpu caches and unrelated
 *    kernel activity (AF_PACKET, the netns peer) move it by less.
 *  - radix_tree_node growth < 4 MiB during and 1 MiB after close: the
 *    dirty log's xarray holds at most log_max (16384) pages, ~300 nodes of
 *    576 bytes; log_bound checks 1 MiB for one storm.
 *  - armed (descriptors whose buffers the tracker follows) during: at most
 *    two RX rings at their largest, 2 x 65535 descriptors. The tracker
 *    holds no pins (type1 pages are pinned only for an instant).
 *  - after close: tracking 0, armed 0, log_entries 0.
 */
#define SLAB_DURING_BOUND	(16ll << 20)
#define SLAB_AFTER_BOUND	(2ll << 20)
#define XA_DURING_BOUND		(4ll << 20)
#define XA_AFTER_BOUND		(1ll << 20)
#define ARMED_BOUND		(2ll * 65535)

#define STREAM_VF2_TO_PEER	21
#define STREAM_PEER_TO_VF2	22
#define STREAM_PEER_TO_VF0	23
#define STREAM_PEER_TO_VF0_LOAD	24
#define LOAD_NS			1000000ull

static const char *bdf0, *bdf2;
static struct vfio_backend backend;	/* VF0's and VF2's: the variant's */
static struct vfio_dev d;
static struct ivf v;
static struct vfio_dma big;
static bool dev_open, log_avail, log_on;
static uint64_t seed_state;

/* ------------------------------------------------------------ random */

static uint64_t rnd(void)
{
	/* splitmix64: the same sequence for the same seed everywhere */
	uint64_t z = (seed_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint32_t rnd32(void)
{
	return (uint32_t)rnd();
}

static uint32_t rnd_below(uint32_t n)
{
	return (uint32_t)(rnd() % n);
}

/* ---------------------------------------------------------- measuring */

static long long meminfo_kb(const char *key)
{
	char line[256];
	size_t n = strlen(key);
	long long val = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, n) && line[n] == ':') {
			val = atoll(line + n + 1);
			break;
		}
	fclose(f);
	return val;
}

/* a number from the driver's debugfs "dirty" file of VF0, or -1 */
static long long dbg(const char *name)
{
	uint64_t val;

	if (ivf_dbg_u64(bdf0, "dirty", name, &val))
		return -1;
	return (long long)val;
}

/*
 * kmem_cache_shrink() every cache: frees empty slabs and, on the KASAN
 * kernel, the objects its quarantine holds back after kfree() (they stay
 * counted in SUnreclaim until then). Makes "before" and "after"
 * comparable; the samples during the soak are taken without it.
 */
static void shrink_slabs(void)
{
	char path[300];
	struct dirent *e;
	DIR *dp = opendir("/sys/kernel/slab");

	if (!dp)
		return;
	while ((e = readdir(dp))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/kernel/slab/%s/shrink",
			 e->d_name);
		write_str_file(path, "1");
	}
	closedir(dp);
}

struct mem {
	long long slab;		/* SUnreclaim, bytes */
	long long xa;		/* radix_tree_node, bytes */
	long long armed, log_entries, tracking;
};

static void mem_sample(struct mem *m)
{
	long long kb = meminfo_kb("SUnreclaim");

	m->slab = kb < 0 ? -1 : kb * 1024;
	m->xa = slab_cache_bytes("radix_tree_node");
	m->armed = dbg("armed");
	m->log_entries = dbg("log_entries");
	m->tracking = dbg("tracking");
}

static void mem_max(struct mem *mx, const struct mem *m)
{
	if (m->slab > mx->slab)
		mx->slab = m->slab;
	if (m->xa > mx->xa)
		mx->xa = m->xa;
	if (m->armed > mx->armed)
		mx->armed = m->armed;
	if (m->log_entries > mx->log_entries)
		mx->log_entries = m->log_entries;
	if (m->tracking > mx->tracking)
		mx->tracking = m->tracking;
}

static void mem_print(const char *when, const struct mem *m)
{
	ksft_print_msg("memory %-6s: SUnreclaim %lld KiB, radix_tree_node %lld KiB, armed %lld, log_entries %lld, tracking %lld\n",
		       when, m->slab / 1024, m->xa / 1024, m->armed,
		       m->log_entries, m->tracking);
}

/* ---------------------------------------------------------- watchdog */

static volatile const char *cur_action = "setup";
static volatile unsigned long cur_iter;
static sigjmp_buf bus_jmp;
static volatile sig_atomic_t bus_armed;
static unsigned long sigbus_count;

static void on_alarm(int sig)
{
	char buf[160];
	int n;

	(void)sig;
	/* the case fails by the exit status */
	n = snprintf(buf, sizeof(buf),
		     "# WATCHDOG: no progress for %d s in iteration %lu, action %s: hang\n",
		     WATCHDOG_S, cur_iter, cur_action);
	if (write(1, buf, n) < 0)
		_exit(KSFT_FAIL);
	_exit(KSFT_FAIL);
}

static void on_sigbus(int sig)
{
	(void)sig;
	if (bus_armed)
		siglongjmp(bus_jmp, 1);
	_exit(5);
}

/* ----------------------------------------------------- the good VF */

struct rx_count {
	const uint8_t *dst, *src;
	uint16_t stream;
	uint64_t rcvd, ok, bad;
};

#define GOOD_WINDOW	16
#define GOOD_STALL_NS	(500ull * 1000000ull)

/*
 * One stream of numbered frames, at most GOOD_WINDOW of them in flight:
 * sent, counted where they land, and written off (lost) after a stall.
 */
struct flow {
	struct rx_count rx;
	uint64_t sent, off;
};

typedef int (*send_fn)(void *dev, const void *frame, size_t len);

static int send_vf(void *dev, const void *frame, size_t len)
{
	return ivf_tx_post(dev, frame, len);
}

static int send_peer(void *dev, const void *frame, size_t len)
{
	return peer_send(dev, frame, len);
}

/* frames of @f sent through @dev while its window has room, up to @limit */
static unsigned int flow_fill(struct flow *f, uint64_t limit, send_fn send,
			      void *dev)
{
	uint8_t buf[2048];
	unsigned int n = 0;

	while (f->sent < limit && f->sent - f->rx.rcvd - f->off < GOOD_WINDOW) {
		size_t len = frame_build(buf, f->rx.dst, f->rx.src,
					 f->rx.stream, f->sent, 0);

		if (send(dev, buf, len))
			break;
		f->sent++;
		n++;
	}
	return n;
}

/* every frame of @f arrived or was written off */
static bool flow_settled(const struct flow *f)
{
	return f->rx.rcvd + f->off >= f->sent;
}

struct good {
	volatile int ready, stop, done;
	int setup_err;
	uint8_t mac_before[6], mac_after[6];
	int mac_before_ok, mac_after_ok;
	struct flow out, in;			/* VF2 -> peer, peer -> VF2 */
	uint64_t stalls;
	uint8_t vf0_mac[6];
	int vf0_mac_ok;
	uint64_t vf0_load;				/* peer -> VF0 */
	unsigned long io_errors;
	char err[160];
};

static void count_frame(struct rx_count *c, const uint8_t *buf, size_t len)
{
	enum frame_verdict fv;
	uint32_t seq;

	fv = frame_check(buf, len, c->dst, c->src, c->stream, 0, &seq);
	if (fv == FRAME_FOREIGN)
		return;
	c->rcvd++;
	if (fv == FRAME_OK)
		c->ok++;
	else
		c->bad++;
}

static void vf_rx_cb(void *arg, const uint8_t *data, uint32_t len,
		     uint32_t status)
{
	(void)status;
	count_frame(arg, data, len);
}

/*
 * The well-behaved VF: traffic both ways in a window; a frame missing for
 * GOOD_STALL_NS is written off (counted lost by the totals) so one loss
 * doesn't stall the window.
 */
static void good_vf(struct good *g, const char *ns, const char *ifname)
{
	struct ivf_ring_cfg cfg = {
		.rx_count = 256, .tx_count = 256, .buf_size = 2048,
		.iova_base = RING_IOVA,
	};
	struct flow *out = &g->out, *in = &g->in;
	uint64_t last, t_end = 0, t_load = 0;
	struct vfio_dev gd;
	struct ivf gv = { 0 };
	struct peer p;
	uint8_t buf[2048];
	int ret;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	ret = peer_open(&p, ns, ifname, FRAME_ETHERTYPE);
	if (ret) {
		snprintf(g->err, sizeof(g->err), "peer_open: %s", strerror(-ret));
		goto fail;
	}
	ret = vfio_dev_open_backend(&gd, bdf2, &backend);
	if (ret) {
		snprintf(g->err, sizeof(g->err), "open %s: %s", bdf2, strerror(-ret));
		goto fail;
	}
	ret = ivf_open(&gv, &gd, IVF_ACCESS_MMAP);
	if (!ret)
		ret = ivf_reset(&gv);
	if (!ret) {
		memcpy(g->mac_before, gv.mac, 6);
		g->mac_before_ok = gv.mac_valid;
		ret = ivf_rings_setup(&gv, &cfg);
	}
	if (ret) {
		snprintf(g->err, sizeof(g->err), "VF2 up: %s", strerror(-ret));
		goto fail;
	}
	out->rx = (struct rx_count){ .dst = p.mac, .src = gv.mac,
				     .stream = STREAM_VF2_TO_PEER };
	in->rx = (struct rx_count){ .dst = gv.mac, .src = p.mac,
				    .stream = STREAM_PEER_TO_VF2 };
	g->ready = 1;

	last = now_ns();
	for (;;) {
		bool progress = false;
		bool draining = g->stop;
		ssize_t n;

		if (draining && !t_end)
			t_end = now_ns() + 2000000000ull;
		if (!draining && flow_fill(out, UINT64_MAX, send_vf, &gv)) {
			ivf_tx_kick(&gv);
			progress = true;
		}
		ivf_tx_clean(&gv);
		if (!draining && flow_fill(in, UINT64_MAX, send_peer, &p))
			progress = true;
		/* RX load on the hostile VF, outside the window */
		if (!draining && g->vf0_mac_ok && now_ns() > t_load) {
			size_t len = frame_build(buf, g->vf0_mac, p.mac,
						 STREAM_PEER_TO_VF0_LOAD,
						 g->vf0_load, 0);

			if (!peer_send(&p, buf, len))
				g->vf0_load++;
			t_load = now_ns() + LOAD_NS;
		}
		if (ivf_rx_poll(&gv, vf_rx_cb, &in->rx, 64) > 0)
			progress = true;
		while ((n = peer_recv(&p, buf, sizeof(buf), 0)) > 0) {
			count_frame(&out->rx, buf, n);
			progress = true;
		}
		if (draining) {
			if ((flow_settled(out) && flow_settled(in)) ||
			    now_ns() > t_end)
				break;
			usleep(1000);
			continue;
		}
		if (progress) {
			last = now_ns();
			continue;
		}
		if (now_ns() - last > GOOD_STALL_NS) {
			/* what is in flight now is lost: free the window */
			out->off = out->sent - out->rx.rcvd;
			in->off = in->sent - in->rx.rcvd;
			g->stalls++;
			last = now_ns();
		}
		usleep(200);
	}
	g->io_errors = gv.io_errors;
	ivf_rings_stop(&gv);
	/* the PF still gives VF2 its admin MAC */
	ret = ivf_reset(&gv);
	if (!ret) {
		memcpy(g->mac_after, gv.mac, 6);
		g->mac_after_ok = gv.mac_valid;
	}
	ivf_close(&gv);
	vfio_dev_close(&gd);
	peer_close(&p);
	g->done = 1;
	_exit(0);
fail:
	g->setup_err = 1;
	g->done = 1;
	_exit(1);
}

/* ------------------------------------------------------ hostile guest */

enum act {
	A_P123, A_P0, A_MBX, A_RST, A_DESC, A_TAIL, A_RING, A_TXDESC,
	M_PRECOPY, M_STOPCOPY, M_CANCEL, M_RESUME, M_LOG, M_RESET, M_REOPEN,
	NR_ACT
};

static const char *const act_name[NR_ACT] = {
	"p123", "p0", "mbx", "rst", "desc", "tail", "ring", "txdesc",
	"precopy", "stopcopy", "cancel", "resume", "log", "reset", "reopen",
};

/* relative weights: guest bursts every iteration, VMM actions between */
static const unsigned int vmm_weight[NR_ACT] = {
	[M_PRECOPY] = 6, [M_STOPCOPY] = 4, [M_CANCEL] = 4, [M_RESUME] = 3,
	[M_LOG] = 4, [M_RESET] = 3, [M_REOPEN] = 1,
};

static unsigned long act_count[NR_ACT];
static unsigned long ioctl_fail, ioctl_ok, reopen_leftover;
static unsigned long long reg_writes;
/* SUnreclaim (KiB) after each close of a reopen: a leak shows as a trend */
#define NTREND 16
static long long reopen_slab[NTREND];
/* live slab objects allocated through the driver (slub_debug=U only) */
static long reopen_live[NTREND];
static int n_reopen_slab;

static void count_ret(int ret)
{
	if (ret)
		ioctl_fail++;
	else
		ioctl_ok++;
}

/* a random 32-bit value, biased towards values that mean something */
static uint32_t rnd_val(void)
{
	switch (rnd_below(6)) {
	case 0: return 0;
	case 1: return 0xffffffff;
	case 2: return 1u << rnd_below(32);
	case 3: return rnd_below(0x10000);
	default: return rnd32();
	}
}

static uint64_t rnd_addr(void)
{
	switch (rnd_below(5)) {
	case 0: return rnd();					/* anywhere */
	case 1: return BIG_IOVA + (rnd() % BIG_SIZE);		/* mapped */
	case 2: return RING_IOVA + (rnd() % (8u << 20));	/* rings */
	case 3: return ~0ull - (rnd() % (1u << 20));		/* the top */
	default: return (rnd() % (1ull << 40)) & ~0xfffull;
	}
}

static void bar_wr(uint32_t off, uint32_t val)
{
	reg_writes++;
	if (off >= 0x1000 && (rnd() & 1))
		ivf_wr(&v, off, val);			/* the mmap */
	else
		count_ret(vfio_bar_write32(&d, 0, off, val)); /* pwrite */
}

static void act_p123(void)
{
	int i, n = 16 + rnd_below(64);

	for (i = 0; i < n; i++)
		bar_wr(0x1000 + (rnd_below(0x3000) & ~3u), rnd_val());
}

static void act_p0(void)
{
	int i, n = 8 + rnd_below(32);

	for (i = 0; i < n; i++)
		bar_wr(rnd_below(0x1000) & ~3u, rnd_val());
}

static void act_mbx(void)
{
	int i, k, n = 1 + rnd_below(8);
	uint32_t dummy;

	for (k = 0; k < n; k++) {
		for (i = 0; i < IVF_VMBMEM_WORDS; i++)
			if (rnd() & 1)
				bar_wr(IVF_VMBMEM(i), i ? rnd_val() :
				       (rnd32() & 0xff0000ff));
		bar_wr(IVF_V2PMAILBOX, (rnd() & 3) ? IVF_MBX_REQ : rnd_val());
		vfio_bar_read32(&d, 0, IVF_V2PMAILBOX, &dummy);
	}
}

static void act_rst(void)
{
	int i, n = 1 + rnd_below(32);

	for (i = 0; i < n; i++)
		bar_wr(IVF_CTRL, (rnd() & 3) ? IVF_CTRL_RST :
		       rnd_val() | IVF_CTRL_RST);
}

static void act_desc(void)
{
	unsigned int i;

	bar_wr(IVF_SRRCTL(0), IVF_SRRCTL_DESCTYPE_SPLIT_ALWAYS |
	       IVF_SRRCTL_BSIZEPKT_MASK | IVF_SRRCTL_BSIZEHDR_MASK |
	       ((rnd() & 1) ? IVF_SRRCTL_DROP_EN : 0));
	if (v.rx_ring)
		for (i = 0; i < NDESC; i++) {
			v.rx_ring[i].read.pkt_addr = rnd_addr();
			v.rx_ring[i].read.hdr_addr = rnd_addr();
		}
	__sync_synchronize();
	bar_wr(IVF_RDT(0), rnd_below(NDESC));
}

static void act_tail(void)
{
	uint32_t rdt = ivf_rd(&v, IVF_RDT(0));
	int i, n = 1 + rnd_below(32);

	for (i = 0; i < n; i++) {
		switch (rnd_below(3)) {
		case 0: rdt = (rdt + NDESC - 1) % NDESC; break;	/* rewind */
		case 1: rdt = rnd_below(NDESC); break;			/* jump */
		default: rdt = rnd32() & 0xffff; break;		/* past the end */
		}
		bar_wr(IVF_RDT(rnd_below(4) ? 0 : 1), rdt);
		if (rnd() & 1)
			usleep(rnd_below(200));
	}
}

static void act_ring(void)
{
	int q = rnd_below(4) ? 0 : 1;
	uint64_t base = (rnd() & 1) ? BIG_IOVA + (rnd() % BIG_SIZE) : rnd_addr();

	if (rnd() & 1)
		bar_wr(IVF_RXDCTL(q), 0);
	bar_wr(IVF_RDBAL(q), (uint32_t)base & ~0x7fu);
	bar_wr(IVF_RDBAH(q), (uint32_t)(base >> 32));
	bar_wr(IVF_RDLEN(q), (rnd() & 1) ? IVF_RING_LEN_MASK :
	       rnd32() & IVF_RING_LEN_MASK);
	if (rnd() & 1)
		bar_wr(IVF_RDH(q), rnd32() & 0xffff);
	bar_wr(IVF_RXDCTL(q), (rnd() & 3) ? IVF_XDCTL_ENABLE : rnd_val());
	bar_wr(IVF_RDT(q), rnd32() & 0xffff);
	if (rnd() & 1) {
		base = rnd_addr();
		bar_wr(IVF_TDBAL(q), (uint32_t)base & ~0x7fu);
		bar_wr(IVF_TDBAH(q), (uint32_t)(base >> 32));
		bar_wr(IVF_TDLEN(q), rnd32() & IVF_RING_LEN_MASK);
		bar_wr(IVF_TXDCTL(q), IVF_XDCTL_ENABLE);
		bar_wr(IVF_TDT(q), rnd32() & 0xffff);
	}
}

static void act_txdesc(void)
{
	unsigned int i;

	if (v.tx_ring)
		for (i = 0; i < v.tx_count; i++) {
			volatile union ivf_tx_desc *t = &v.tx_ring[i];

			t->read.buffer_addr = rnd_addr();
			if (rnd_below(4)) {
				t->read.cmd_type_len = IVF_TXD_DTYP_DATA |
					IVF_TXD_CMD_DEXT | IVF_TXD_CMD_IFCS |
					IVF_TXD_CMD_RS |
					((rnd() & 1) ? IVF_TXD_CMD_EOP : 0) |
					((rnd() & 1) ? IVF_TXD_LEN_MASK :
					 rnd_below(0x10000));
				t->read.olinfo_status = rnd32() &
					~((1u << IVF_TXD_PAYLEN_SHIFT) - 1);
			} else {
				t->read.cmd_type_len = rnd32();
				t->read.olinfo_status = rnd32();
			}
		}
	__sync_synchronize();
	bar_wr(IVF_TDT(0), (rnd() & 3) ? rnd_below(v.tx_count ? v.tx_count : 64) :
	       rnd32() & 0xffff);
}

/* ---------------------------------------------------------- VMM side */

static int dev_up(void)
{
	struct ivf_ring_cfg cfg = {
		.rx_count = NDESC, .tx_count = 64, .buf_size = 2048,
		.hdr_split = true, .hdr_size = 256, .iova_base = RING_IOVA,
	};
	int ret;

	memset(&v, 0, sizeof(v));
	memset(&big, 0, sizeof(big));
	ret = vfio_dev_open_backend(&d, bdf0, &backend);
	if (ret)
		return ret;
	dev_open = true;
	ret = ivf_open(&v, &d, IVF_ACCESS_MMAP);
	if (!ret)
		ret = ivf_rings_setup(&v, &cfg);
	if (!ret)
		ret = vfio_dma_alloc(&d, &big, BIG_SIZE, BIG_IOVA);
	return ret;
}

static void dev_down(void)
{
	if (!dev_open)
		return;
	if (big.mapped)
		vfio_dma_free(&d, &big);
	/* ring teardown through pwrite: no SIGBUS outside a burst */
	if (v.dev)
		ivf_set_access(&v, IVF_ACCESS_PIO);
	ivf_close(&v);
	vfio_dev_close(&d);
	dev_open = false;
	log_on = false;
}

/* back to RUNNING, by VFIO_DEVICE_RESET if the arcs refuse */
static void back_to_running(void)
{
	uint32_t st = ~0u;

	if (!mig_get_state(&d, &st) && st == S_RUNNING)
		return;
	if (mig_set_state(&d, S_RUNNING, NULL)) {
		ioctl_fail++;
		count_ret(vfio_dev_reset(&d));
	}
}

static void read_some(int fd, size_t max)
{
	uint8_t buf[4096];
	size_t got = 0;

	while (got < max) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n <= 0) {
			if (n < 0)
				ioctl_fail++;
			break;
		}
		got += n;
	}
}

static void vmm_precopy(void)
{
	int fd = -1, ret;

	ret = mig_set_state(&d, S_PRE_COPY, &fd);
	count_ret(ret);
	if (!ret && fd >= 0) {
		uint64_t init, dirty;

		count_ret(mig_precopy_info(fd, &init, &dirty));
		read_some(fd, rnd_below(3) * 4096 + 1);
		if (rnd() & 1)
			usleep(rnd_below(20000));	/* let the guest run */
	}
	count_ret(mig_set_state(&d, S_RUNNING, NULL));
	if (fd >= 0)
		close(fd);
	back_to_running();
}

static void vmm_stopcopy(void)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int fd = -1, fd2 = -1, ret;

	if (rnd() & 1) {	/* through PRE_COPY, as a VMM does */
		ret = mig_set_state(&d, S_PRE_COPY, &fd);
		count_ret(ret);
		if (!ret && fd >= 0)
			mig_read_all(fd, &buf, &len);
	}
	ret = mig_set_state(&d, S_STOP_COPY, &fd2);
	count_ret(ret);
	if (!ret && fd2 >= 0)
		count_ret(mig_read_all(fd2, &buf, &len) < 0);
	else if (!ret && fd >= 0)
		count_ret(mig_read_all(fd, &buf, &len) < 0);
	count_ret(mig_set_state(&d, S_STOP, NULL));
	count_ret(mig_set_state(&d, S_RUNNING, NULL));
	if (fd >= 0)
		close(fd);
	if (fd2 >= 0)
		close(fd2);
	free(buf);
	back_to_running();
}

static void vmm_cancel(void)
{
	uint32_t st = (rnd() & 1) ? S_PRE_COPY : S_STOP_COPY;
	int fd = -1, ret;

	ret = mig_set_state(&d, st, &fd);
	count_ret(ret);
	if (!ret && fd >= 0 && (rnd() & 1))
		read_some(fd, 1 + rnd_below(4096));
	/* cancel: straight back, the fd left open a while */
	count_ret(mig_set_state(&d, S_RUNNING, NULL));
	if (fd >= 0) {
		uint8_t b[64];

		/* a read on the ended session must not act */
		if (read(fd, b, sizeof(b)) < 0)
			ioctl_fail++;
		close(fd);
	}
	back_to_running();
}

static void vmm_resume(void)
{
	uint8_t junk[8192];
	size_t i, n = 1 + rnd_below(sizeof(junk));
	int fd = -1, ret;

	for (i = 0; i < n; i++)
		junk[i] = rnd();
	count_ret(mig_set_state(&d, S_STOP, NULL));
	ret = mig_set_state(&d, S_RESUMING, &fd);
	count_ret(ret);
	if (!ret && fd >= 0) {
		if (write(fd, junk, n) < 0)
			ioctl_fail++;
		/* an incomplete or corrupt stream: STOP should refuse */
		count_ret(mig_set_state(&d, S_STOP, NULL));
		close(fd);
	}
	count_ret(vfio_dev_reset(&d));
	back_to_running();
}

static void vmm_log(void)
{
	struct vfio_device_feature_dma_logging_range r;
	uint64_t pgsz = 4096, *bm;

	if (!log_avail)
		return;
	if (dirty_log_span(&d, &r)) {
		ioctl_fail++;
		return;
	}
	if (!log_on) {
		int ret = dirty_log_start(&d, &r, 1, &pgsz);

		count_ret(ret);
		log_on = !ret;
		if (!log_on)
			return;
	}
	bm = calloc(r.length / 4096 / 64 + 1, 8);
	if (bm) {
		count_ret(dirty_log_report(&d, r.iova, r.length, 4096, bm));
		free(bm);
	}
	/* stop now or leave it on for a while (close must end it) */
	if (rnd() & 1) {
		count_ret(dirty_log_stop(&d));
		log_on = false;
	}
}

static void vmm_reopen(struct mem *mx)
{
	struct mem m;
	int ret;

	dev_down();
	mem_sample(&m);
	mem_max(mx, &m);
	if (n_reopen_slab < NTREND) {
		reopen_live[n_reopen_slab] = ivf_slab_live();
		reopen_slab[n_reopen_slab++] = m.slab / 1024;
	}
	if (m.tracking != 0 || m.armed != 0 || m.log_entries > 0) {
		if (reopen_leftover++ < 5)
			ksft_print_msg("iteration %lu: after close tracking %lld armed %lld log_entries %lld\n",
				       cur_iter, m.tracking, m.armed,
				       m.log_entries);
	}
	ret = dev_up();
	if (ret) {
		ksft_print_msg("iteration %lu: reopen: %s\n", cur_iter,
			       strerror(-ret));
		ioctl_fail++;
	}
}

static enum act pick_vmm(void)
{
	unsigned int total = 0, r;
	int a;

	for (a = 0; a < NR_ACT; a++)
		total += vmm_weight[a];
	r = rnd_below(total);
	for (a = 0; a < NR_ACT; a++) {
		if (r < vmm_weight[a])
			return a;
		r -= vmm_weight[a];
	}
	return M_RESET;
}

static void do_act(enum act a, struct mem *mx)
{
	cur_action = act_name[a];
	act_count[a]++;
	switch (a) {
	case A_P123: act_p123(); break;
	case A_P0: act_p0(); break;
	case A_MBX: act_mbx(); break;
	case A_RST: act_rst(); break;
	case A_DESC: act_desc(); break;
	case A_TAIL: act_tail(); break;
	case A_RING: act_ring(); break;
	case A_TXDESC: act_txdesc(); break;
	case M_PRECOPY: vmm_precopy(); break;
	case M_STOPCOPY: vmm_stopcopy(); break;
	case M_CANCEL: vmm_cancel(); break;
	case M_RESUME: vmm_resume(); break;
	case M_LOG: vmm_log(); break;
	case M_RESET: count_ret(vfio_dev_reset(&d)); break;
	case M_REOPEN: vmm_reopen(mx); break;
	default: break;
	}
}

/* ------------------------------------------------------------ the soak */

/* VF0 after the soak: what each step gave */
struct vf0_after {
	int open_err, reset_err, up_err, rings_err, peer_err;
	bool cts, mac_valid;
	uint8_t mac[6];
	struct flow in;				/* peer -> VF0 */
};

/* one variant's soak, in memory its cases share */
struct soak {
	const void *variant;			/* whose soak this is */
	enum { SOAK_NONE, SOAK_RUNNING, SOAK_DONE } state;
	char why[160];				/* why it could not start */
	struct good g;				/* VF2's child writes here */
	int vf2_status;
	int vf0_err;				/* VF0 up before the soak */
	unsigned long iters, reopen_leftover;
	struct mem m0, mx, closed, m1;	/* before, max, after close, end */
	long live0, live1;
	char cfg2_before[2048], cfg2_after[2048];
	struct vf0_after vf0;
};

static struct soak *soak_mem;

/* before main(): every case's process inherits it */
static void __attribute__((constructor)) soak_mem_map(void)
{
	void *p = mmap(NULL, sizeof(*soak_mem), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	soak_mem = p == MAP_FAILED ? NULL : p;
}

static void vf0_check(struct vf0_after *a, const char *ns, const char *ifname)
{
	struct ivf_ring_cfg cfg = {
		.rx_count = 256, .tx_count = 64, .buf_size = 2048,
		.iova_base = RING_IOVA,
	};
	struct flow *in = &a->in;
	uint64_t last;
	struct peer p;
	int ret;

	cur_action = "vf0 usable";
	alarm(WATCHDOG_S);
	memset(&v, 0, sizeof(v));
	a->reset_err = a->up_err = a->rings_err = a->peer_err = -ECANCELED;
	a->open_err = vfio_dev_open_backend(&d, bdf0, &backend);
	if (a->open_err)
		goto out;
	dev_open = true;
	a->reset_err = vfio_dev_reset(&d);
	ret = ivf_open(&v, &d, IVF_ACCESS_MMAP);
	a->up_err = ret ?: ivf_reset(&v);
	a->cts = v.cts;
	a->mac_valid = v.mac_valid;
	memcpy(a->mac, v.mac, 6);
	if (a->up_err || !a->cts)
		goto out;
	a->rings_err = ivf_rings_setup(&v, &cfg);
	if (a->rings_err)
		goto out;
	a->peer_err = peer_open(&p, ns, ifname, FRAME_ETHERTYPE);
	if (a->peer_err)
		goto out;
	in->rx = (struct rx_count){ .dst = v.mac, .src = p.mac,
				    .stream = STREAM_PEER_TO_VF0 };
	last = now_ns();
	while (in->rx.rcvd < 200 && now_ns() - last < 2000000000ull) {
		flow_fill(in, 200, send_peer, &p);
		if (ivf_rx_poll(&v, vf_rx_cb, &in->rx, 64) > 0)
			last = now_ns();
		else
			usleep(200);
	}
	peer_close(&p);
out:
	dev_down();
	alarm(0);
}

static void pf_config(const char *bdf, char *buf, size_t len)
{
	if (ivf_dbg_read(bdf, "pf_config", buf, len))
		buf[0] = 0;
}

/* a block of lines as diagnostic lines */
static void print_lines(const char *what, const char *text)
{
	const char *nl;

	ksft_print_msg("%s:\n", what);
	for (; *text; text = nl + 1) {
		nl = strchrnul(text, '\n');
		ksft_print_msg("  %.*s\n", (int)(nl - text), text);
		if (!*nl)
			break;
	}
}

/* the hostile guest and the VMM on VF0 until @t_end; the max into @mx */
static unsigned long hammer(uint64_t t_end, struct mem *mx)
{
	volatile unsigned long iters = 0;
	uint64_t t0 = now_ns();
	struct mem m, mh = { -1, -1, -1, -1, -1 };
	int a;

	while (now_ns() < t_end) {
		volatile int bursts = 1 + rnd_below(4);

		cur_iter = iters;
		alarm(WATCHDOG_S);
		if (!dev_open) {
			cur_action = "reopen after failure";
			if (dev_up()) {
				dev_down();
				usleep(100000);
				iters++;
				continue;
			}
		}
		if (sigsetjmp(bus_jmp, 1)) {
			/* a BAR mapping went away under us (reset, zap) */
			bus_armed = 0;
			sigbus_count++;
		}
		bus_armed = 1;
		for (; bursts > 0; bursts--)
			do_act(rnd_below(A_TXDESC + 1), mx);
		bus_armed = 0;
		do_act(pick_vmm(), mx);
		mem_sample(&m);
		mem_max(mx, &m);
		if (now_ns() - t0 < (t_end - t0) / 2)
			mh = *mx;	/* the max over the first half */
		iters++;
	}
	alarm(0);
	ksft_print_msg("run %.1f s, %lu iterations, %llu register writes, %lu ioctl/region calls ok, %lu failed (fine), %lu SIGBUS on the BAR mmap\n",
		       (now_ns() - t0) / 1e9, iters, reg_writes, ioctl_ok,
		       ioctl_fail, sigbus_count);
	for (a = 0; a < NR_ACT; a++)
		ksft_print_msg("  action %-8s %lu\n", act_name[a], act_count[a]);
	ksft_print_msg("trend: SUnreclaim max %lld KiB over the first half, %lld KiB over the whole run\n",
		       mh.slab / 1024, mx->slab / 1024);
	{
		char line[NTREND * 24] = "", *p = line;
		int i;

		for (i = 0; i < n_reopen_slab; i++)
			p += sprintf(p, " %lld", reopen_slab[i]);
		ksft_print_msg("trend: SUnreclaim KiB after each close/reopen:%s\n",
			       line);
		p = line;
		*p = 0;
		for (i = 0; i < n_reopen_slab; i++)
			p += sprintf(p, " %ld", reopen_live[i]);
		ksft_print_msg("trend: live slab objects allocated through the driver after each close/reopen:%s\n",
			       line);
	}
	return iters;
}

/*
 * The soak, measured into @r: VF2 up, VF0 up, the hostile guest and the
 * VMM for @secs, VF0 closed, VF2 drained, VF0 checked, memory after.
 * Nothing is judged here: the cases do that.
 */
static void soak_run(struct soak *r, uint64_t seed, unsigned int secs,
		     const char *ns, const char *ifname)
{
	struct good *g = &r->g;
	const char *s;
	struct mem m;
	pid_t pid;

	r->state = SOAK_RUNNING;
	seed_state = seed;
	ksft_print_msg("the soak of this variant: seed 0x%llx (IVF_HOSTILE_SEED replays), %u s (IVF_HOSTILE_SECS)\n",
		       (unsigned long long)seed, secs);
	signal(SIGALRM, on_alarm);
	signal(SIGBUS, on_sigbus);
	signal(SIGPIPE, SIG_IGN);

	shrink_slabs();
	mem_sample(&r->m0);
	r->live0 = ivf_slab_live();
	mem_print("before", &r->m0);
	s = env_get("IVF_VF0_MAC");
	g->vf0_mac_ok = s && !ivf_parse_mac(s, g->vf0_mac);
	if (!g->vf0_mac_ok)
		ksft_print_msg("no IVF_VF0_MAC: no RX load on the hostile VF\n");
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		snprintf(r->why, sizeof(r->why), "fork: %s", strerror(errno));
		r->state = SOAK_DONE;
		return;
	}
	if (!pid)
		good_vf(g, ns, ifname);

	alarm(WATCHDOG_S);
	while (!g->ready && !g->done)
		usleep(10000);
	alarm(0);
	if (!g->ready) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		r->state = SOAK_DONE;
		return;
	}
	pf_config(bdf2, r->cfg2_before, sizeof(r->cfg2_before));

	alarm(WATCHDOG_S);
	r->vf0_err = dev_up();
	if (r->vf0_err) {
		dev_down();
		g->stop = 1;
		waitpid(pid, NULL, 0);
		r->state = SOAK_DONE;
		return;
	}
	log_avail = backend.dirty == VFIO_DIRTY_LOG && !dirty_log_probe(&d);
	ksft_print_msg("DMA logging %s\n", log_avail ?
		       "available: START/REPORT/STOP in the mix" :
		       "not in the mix (this variant or this kernel has none): the log action does nothing");
	r->mx = r->m0;
	mem_sample(&m);
	mem_max(&r->mx, &m);

	r->iters = hammer(now_ns() + (uint64_t)secs * 1000000000ull, &r->mx);

	/* close; nothing may be left */
	cur_action = "final close";
	alarm(WATCHDOG_S);
	dev_down();
	alarm(0);
	mem_sample(&r->closed);
	mem_max(&r->mx, &r->closed);
	r->reopen_leftover = reopen_leftover;

	/* the well-behaved VF: its configuration, then stop its traffic */
	pf_config(bdf2, r->cfg2_after, sizeof(r->cfg2_after));
	g->stop = 1;
	cur_action = "VF2 drain";
	alarm(WATCHDOG_S);
	waitpid(pid, &r->vf2_status, 0);
	alarm(0);
	ksft_print_msg("VF2 -> peer: sent %llu received %llu intact %llu; peer -> VF2: sent %llu received %llu intact %llu; bad %llu, stalls %llu, register errors %lu\n",
		       (unsigned long long)g->out.sent,
		       (unsigned long long)g->out.rx.rcvd,
		       (unsigned long long)g->out.rx.ok,
		       (unsigned long long)g->in.sent,
		       (unsigned long long)g->in.rx.rcvd,
		       (unsigned long long)g->in.rx.ok,
		       (unsigned long long)(g->out.rx.bad + g->in.rx.bad),
		       (unsigned long long)g->stalls, g->io_errors);
	ksft_print_msg("peer -> hostile VF0 (RX load): %llu frames\n",
		       (unsigned long long)g->vf0_load);

	vf0_check(&r->vf0, ns, ifname);
	ksft_print_msg("after the soak: peer -> VF0 sent %llu received %llu intact %llu\n",
		       (unsigned long long)r->vf0.in.sent,
		       (unsigned long long)r->vf0.in.rx.rcvd,
		       (unsigned long long)r->vf0.in.rx.ok);

	shrink_slabs();
	mem_sample(&r->m1);
	r->live1 = ivf_slab_live();
	mem_print("before", &r->m0);
	mem_print("max", &r->mx);
	mem_print("after", &r->m1);
	r->state = SOAK_DONE;
}

/* ------------------------------------------------------------- cases */

FIXTURE(hostile_guest) {
	struct soak *r;
};

/*
 * container: VF0 and VF2 through their groups and a type1 container
 * cdev_log: both through their cdevs and iommufd, DMA logging in the mix
 */
IVF_BACKENDS(hostile_guest);

/* this variant's soak: run by the first of its cases, read by the rest */
FIXTURE_SETUP(hostile_guest)
{
	unsigned int secs = 60;
	uint64_t seed = DEFAULT_SEED;
	struct soak *r = soak_mem;
	const char *ns, *ifname, *why, *e;

	bdf2 = env_get("IVF_VF2");
	backend = variant->backend;
	why = vf_peer_unusable(&bdf0, &ns, &ifname, NULL, &backend) ?:
	      vf_unusable(bdf2, "IVF_VF2 is needed", NULL, &backend);
	if (why)
		SKIP(return, "%s", why);
	ASSERT_NE(NULL, r) TH_LOG("shared memory for the soak's results");
	e = env_get("IVF_HOSTILE_SECS");
	if (e)
		secs = strtoul(e, NULL, 0);
	e = env_get("IVF_HOSTILE_SEED");
	if (e)
		seed = strtoull(e, NULL, 0);
	if (r->variant != variant) {
		memset(r, 0, sizeof(*r));
		r->variant = variant;
		soak_run(r, seed, secs, ns, ifname);
	}
	self->r = r;
	ASSERT_EQ(SOAK_DONE, r->state)
		TH_LOG("the soak must end: it hung or died in this variant's first case");
	ASSERT_EQ(0, r->why[0]) TH_LOG("the soak starts: %s", r->why);
	ASSERT_TRUE(r->g.ready)
		TH_LOG("the well-behaved VF2 %s comes up and moves traffic: %s",
		       bdf2, r->g.err);
	ASSERT_EQ(0, r->vf0_err)
		TH_LOG("the hostile VF0 %s opens with a %u-descriptor header-split ring and 32 MiB more mapped: %s",
		       bdf0, NDESC, strerror(-r->vf0_err));
}

FIXTURE_TEARDOWN(hostile_guest)
{
}

TEST_F_TIMEOUT(hostile_guest, no_hang_under_hostile_guest_and_vmm,
	       CASE_TIMEOUT)
{
	/* a hang ended the soak's case by the watchdog, and the setup above */
	TH_LOG("%lu iterations, none stuck for %d s", self->r->iters,
	       WATCHDOG_S);
	EXPECT_LT(0ul, self->r->iters)
		TH_LOG("the hostile guest and the VMM must get through iterations");
}

static void log_mem(struct __test_metadata *_metadata, const char *when,
		    const struct mem *m)
{
	TH_LOG("%s: tracking %lld, armed %lld, log_entries %lld", when,
	       m->tracking, m->armed, m->log_entries);
}

TEST_F_TIMEOUT(hostile_guest, close_leaves_nothing_tracked, CASE_TIMEOUT)
{
	const struct soak *r = self->r;

	log_mem(_metadata, "after the last close", &r->closed);
	EXPECT_TRUE(r->closed.tracking == 0 && r->closed.armed == 0 &&
		    r->closed.log_entries <= 0)
		TH_LOG("after the close nothing is tracked, armed or logged");
	TH_LOG("closes in the soak with something left: %lu",
	       r->reopen_leftover);
	EXPECT_EQ(0ul, r->reopen_leftover)
		TH_LOG("after every close/reopen in the soak nothing is tracked or armed");
	log_mem(_metadata, "at the end", &r->m1);
	EXPECT_TRUE(r->m1.tracking == 0 && r->m1.armed == 0 &&
		    r->m1.log_entries <= 0)
		TH_LOG("at the end (VF0 checked and closed again) nothing is tracked, armed or logged");
}

TEST_F_TIMEOUT(hostile_guest, neighbour_vf_loses_at_most_1_percent,
	       CASE_TIMEOUT)
{
	const struct good *g = &self->r->g;
	uint64_t lost_out = g->out.sent - g->out.rx.ok;
	uint64_t lost_in = g->in.sent - g->in.rx.ok;
	int st = self->r->vf2_status;

	EXPECT_TRUE(WIFEXITED(st) && !WEXITSTATUS(st) && g->done)
		TH_LOG("VF2's child finishes cleanly (status 0x%x)", st);
	TH_LOG("VF2 -> peer: %llu of %llu lost or damaged",
	       (unsigned long long)lost_out, (unsigned long long)g->out.sent);
	EXPECT_TRUE(g->out.sent > 0 && lost_out * 100 <= g->out.sent)
		TH_LOG("VF2 sends, and loses at most 1%% of its frames to the peer");
	TH_LOG("peer -> VF2: %llu of %llu lost or damaged",
	       (unsigned long long)lost_in, (unsigned long long)g->in.sent);
	EXPECT_TRUE(g->in.sent > 0 && lost_in * 100 <= g->in.sent)
		TH_LOG("VF2 receives, and loses at most 1%% of the peer's frames");
}

TEST_F_TIMEOUT(hostile_guest, neighbour_vf_keeps_mac_and_pf_config,
	       CASE_TIMEOUT)
{
	const struct soak *r = self->r;
	const struct good *g = &r->g;
	const char *want = env_get("IVF_VF2_MAC");
	char mb[18], ma[18];
	uint8_t mac[6];

	ivf_format_mac(g->mac_before, mb);
	ivf_format_mac(g->mac_after, ma);
	TH_LOG("VF2's VF_RESET replies: MAC %s before the soak, %s after",
	       mb, ma);
	if (want && !ivf_parse_mac(want, mac))
		EXPECT_TRUE(g->mac_before_ok && !memcmp(g->mac_before, mac, 6))
			TH_LOG("VF2's VF_RESET gives its admin MAC %s", want);
	EXPECT_TRUE(g->mac_after_ok && !memcmp(g->mac_before, g->mac_after, 6))
		TH_LOG("VF2's VF_RESET gives the same MAC after the soak");
	EXPECT_TRUE(r->cfg2_before[0] && !strcmp(r->cfg2_before, r->cfg2_after))
		TH_LOG("the driver's view of VF2's PF configuration (debugfs pf_config) does not change");
	if (strcmp(r->cfg2_before, r->cfg2_after)) {
		print_lines("VF2 pf_config before", r->cfg2_before);
		print_lines("VF2 pf_config after", r->cfg2_after);
	}
}

TEST_F_TIMEOUT(hostile_guest, hostile_vf_works_after_reset, CASE_TIMEOUT)
{
	const struct vf0_after *a = &self->r->vf0;
	const char *want = env_get("IVF_VF0_MAC");
	uint8_t mac[6];
	char m[18];

	ASSERT_EQ(0, a->open_err)
		TH_LOG("VF0 %s reopens: %s", bdf0, strerror(-a->open_err));
	EXPECT_EQ(0, a->reset_err)
		TH_LOG("VF0 takes VFIO_DEVICE_RESET: %s",
		       strerror(-a->reset_err));
	ivf_format_mac(a->mac, m);
	ASSERT_TRUE(!a->up_err && a->cts)
		TH_LOG("VF0's PF handshake gives clear-to-send (MAC %s): %s",
		       m, err_str(a->up_err));
	if (want && !ivf_parse_mac(want, mac))
		EXPECT_TRUE(a->mac_valid && !memcmp(mac, a->mac, 6))
			TH_LOG("VF0 has its admin MAC %s (got %s)", want, m);
	ASSERT_EQ(0, a->rings_err)
		TH_LOG("VF0's rings come up: %s", strerror(-a->rings_err));
	ASSERT_EQ(0, a->peer_err)
		TH_LOG("peer socket for the VF0 check: %s",
		       strerror(-a->peer_err));
	TH_LOG("peer -> VF0: %llu of 200 sent, %llu intact, %llu damaged",
	       (unsigned long long)a->in.sent,
	       (unsigned long long)a->in.rx.ok,
	       (unsigned long long)a->in.rx.bad);
	EXPECT_TRUE(a->in.sent == 200 && a->in.rx.ok >= 198 &&
		    a->in.rx.bad == 0)
		TH_LOG("VF0 receives the peer's frames: 198 of 200 intact, none damaged");
}

/*
 * SUnreclaim and radix_tree_node at @m (@when) over what they were before
 * the soak: each under its bound, where it can be read
 */
static void slab_growth(struct __test_metadata *_metadata,
			const struct soak *r, const struct mem *m,
			const char *when, long long slab_bound,
			long long xa_bound)
{
	const struct {
		const char *name;
		long long before, at, bound;
	} g[] = {
		{ "SUnreclaim", r->m0.slab, m->slab, slab_bound },
		{ "radix_tree_node", r->m0.xa, m->xa, xa_bound },
	};
	unsigned int i;

	for (i = 0; i < 2; i++) {
		if (g[i].before < 0)
			continue;
		TH_LOG("%s %s: %+lld KiB", g[i].name, when,
		       (g[i].at - g[i].before) / 1024);
		EXPECT_GT(g[i].bound, g[i].at - g[i].before)
			TH_LOG("%s %s stays under %lld KiB", g[i].name, when,
			       g[i].bound / 1024);
	}
}

TEST_F_TIMEOUT(hostile_guest, slab_bounded_during_soak, CASE_TIMEOUT)
{
	const struct soak *r = self->r;

	if (r->m0.slab < 0 && r->m0.xa < 0)
		SKIP(return, "no /proc/slabinfo or SUnreclaim");
	slab_growth(_metadata, r, &r->mx, "at most during the soak",
		    SLAB_DURING_BOUND, XA_DURING_BOUND);
}

TEST_F_TIMEOUT(hostile_guest, slab_returned_after_close, CASE_TIMEOUT)
{
	const struct soak *r = self->r;

	if (r->m0.slab < 0 && r->m0.xa < 0 && (r->live0 < 0 || r->live1 < 0))
		SKIP(return, "no /proc/slabinfo, SUnreclaim or alloc_traces");
	slab_growth(_metadata, r, &r->m1, "after close, from before",
		    SLAB_AFTER_BOUND, XA_AFTER_BOUND);
	if (r->live0 >= 0 && r->live1 >= 0) {
		TH_LOG("live slab objects allocated through the driver: %ld before, %ld after",
		       r->live0, r->live1);
		EXPECT_LE(r->live1, r->live0)
			TH_LOG("after close no slab object allocated through the driver is left");
	} else {
		TH_LOG("no slub_debug=U alloc_traces: driver-attributed slab objects not counted");
	}
}

TEST_F_TIMEOUT(hostile_guest, tracker_bounded_during_soak, CASE_TIMEOUT)
{
	const struct soak *r = self->r;

	TH_LOG("at most %lld descriptors armed and %lld log entries during",
	       r->mx.armed, r->mx.log_entries);
	EXPECT_GE(ARMED_BOUND, r->mx.armed)
		TH_LOG("the tracker arms at most two RX rings at their largest (%lld descriptors)",
		       ARMED_BOUND);
	EXPECT_GE(16384, r->mx.log_entries)
		TH_LOG("the DMA log holds at most its cap of 16384 entries");
}

TEST_HARNESS_MAIN
