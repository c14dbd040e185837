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
 *  log     DMA logging START / REPORT / STOP (when the device has it)
 *  reset   VFIO_DEVICE_RESET
 *  reopen  close the device (the driver must drop everything: tracking 0,
 *          armed 0) and open it again
 * Any ioctl may fail (counted); a hang may not (alarm() watchdog).
 *
 * Well-behaved VF (IVF_VF2, a forked child): the userspace driver
 * exchanges frames both ways with the peer (IVF_PEER_NS/IVF_PEER_IF) the
 * whole time. It must lose at most 1% of them, keep its admin MAC
 * (IVF_VF2_MAC, VF_RESET reply before and after) and the driver's view of
 * its PF configuration (debugfs pf_config) must not change.
 *
 * Host memory: /proc/meminfo SUnreclaim, /proc/slabinfo radix_tree_node
 * (xarray nodes) and the driver's debugfs dirty file (armed, log_entries,
 * tracking) before, at most during (sampled every iteration) and after
 * everything is closed; bounds below. After the soak VF0 is reopened,
 * reset, does its PF handshake and receives frames from the peer.
 *
 * Env: IVF_VF0, IVF_VF0_MAC, IVF_VF2, IVF_VF2_MAC, IVF_PEER_NS, IVF_PEER_IF,
 *      IVF_HOSTILE_SECS (default 60), IVF_HOSTILE_SEED (default fixed,
 *      printed: replays a run), IVF_VFIO/IVF_DIRTY (vfio.h, dirty.h).
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
#include "frame.h"
#include "ivf.h"
#include "ktap.h"
#include "mig.h"
#include "mig_states.h"
#include "peer.h"
#include "util.h"

KTAP_DEFINE_STATE();

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
	ktap_info("memory %-6s: SUnreclaim %lld KiB, radix_tree_node %lld KiB, armed %lld, log_entries %lld, tracking %lld",
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
	n = snprintf(buf, sizeof(buf),
		     "# WATCHDOG: no progress for %d s in iteration %lu, action %s: hang\nnot ok - hang\n",
		     WATCHDOG_S, cur_iter, cur_action);
	if (write(1, buf, n) < 0)
		_exit(3);
	_exit(KTAP_FAIL);
}

static void on_sigbus(int sig)
{
	(void)sig;
	if (bus_armed)
		siglongjmp(bus_jmp, 1);
	_exit(5);
}

/* ----------------------------------------------------- the good VF */

struct good {
	volatile int ready, stop, done;
	int setup_err;
	uint8_t mac_before[6], mac_after[6];
	int mac_before_ok, mac_after_ok;
	uint64_t vf_sent, peer_rcvd, peer_ok;		/* VF2 -> peer */
	uint64_t peer_sent, vf_rcvd, vf_ok;		/* peer -> VF2 */
	uint64_t bad, written_off, stalls;
	uint8_t vf0_mac[6];
	int vf0_mac_ok;
	uint64_t vf0_load;				/* peer -> VF0 */
	unsigned long io_errors;
	char err[160];
};

struct rx_count {
	const uint8_t *dst, *src;
	uint16_t stream;
	uint64_t rcvd, ok, bad;
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

#define GOOD_WINDOW	16
#define GOOD_STALL_NS	(500ull * 1000000ull)

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
	struct rx_count at_peer = { .stream = STREAM_VF2_TO_PEER };
	struct rx_count at_vf = { .stream = STREAM_PEER_TO_VF2 };
	uint64_t vf_off = 0, peer_off = 0, last, t_end = 0, t_load = 0;
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
	ret = vfio_dev_open(&gd, bdf2);
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
	at_peer.dst = p.mac;
	at_peer.src = gv.mac;
	at_vf.dst = gv.mac;
	at_vf.src = p.mac;
	g->ready = 1;

	last = now_ns();
	for (;;) {
		bool progress = false;
		bool draining = g->stop;
		int posted = 0;
		ssize_t n;

		if (draining && !t_end)
			t_end = now_ns() + 2000000000ull;
		while (!draining &&
		       g->vf_sent - at_peer.rcvd - vf_off < GOOD_WINDOW) {
			size_t len = frame_build(buf, p.mac, gv.mac,
						 STREAM_VF2_TO_PEER,
						 g->vf_sent, 0);

			if (ivf_tx_post(&gv, buf, len))
				break;
			g->vf_sent++;
			posted++;
		}
		if (posted) {
			ivf_tx_kick(&gv);
			progress = true;
		}
		ivf_tx_clean(&gv);
		while (!draining &&
		       g->peer_sent - at_vf.rcvd - peer_off < GOOD_WINDOW) {
			size_t len = frame_build(buf, gv.mac, p.mac,
						 STREAM_PEER_TO_VF2,
						 g->peer_sent, 0);

			if (peer_send(&p, buf, len))
				break;
			g->peer_sent++;
			progress = true;
		}
		/* RX load on the hostile VF, outside the window */
		if (!draining && g->vf0_mac_ok && now_ns() > t_load) {
			size_t len = frame_build(buf, g->vf0_mac, p.mac,
						 STREAM_PEER_TO_VF0_LOAD,
						 g->vf0_load, 0);

			if (!peer_send(&p, buf, len))
				g->vf0_load++;
			t_load = now_ns() + LOAD_NS;
		}
		if (ivf_rx_poll(&gv, vf_rx_cb, &at_vf, 64) > 0)
			progress = true;
		while ((n = peer_recv(&p, buf, sizeof(buf), 0)) > 0) {
			count_frame(&at_peer, buf, n);
			progress = true;
		}
		g->peer_rcvd = at_peer.rcvd;
		g->peer_ok = at_peer.ok;
		g->vf_rcvd = at_vf.rcvd;
		g->vf_ok = at_vf.ok;
		g->bad = at_peer.bad + at_vf.bad;
		if (draining) {
			if ((at_peer.rcvd + vf_off >= g->vf_sent &&
			     at_vf.rcvd + peer_off >= g->peer_sent) ||
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
			vf_off = g->vf_sent - at_peer.rcvd;
			peer_off = g->peer_sent - at_vf.rcvd;
			g->stalls++;
			last = now_ns();
		}
		usleep(200);
	}
	g->written_off = vf_off + peer_off;
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
	ret = vfio_dev_open(&d, bdf0);
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
			ktap_info("iteration %lu: after close tracking %lld armed %lld log_entries %lld",
				  cur_iter, m.tracking, m.armed, m.log_entries);
	}
	ret = dev_up();
	if (ret) {
		ktap_info("iteration %lu: reopen: %s", cur_iter, strerror(-ret));
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

/* --------------------------------------------------- VF0 works again */

static void vf0_usable(const char *ns, const char *ifname)
{
	struct ivf_ring_cfg cfg = {
		.rx_count = 256, .tx_count = 64, .buf_size = 2048,
		.iova_base = RING_IOVA,
	};
	struct rx_count at_vf = { .stream = STREAM_PEER_TO_VF0 };
	const char *want = env_get("IVF_VF0_MAC");
	uint8_t buf[2048], mac[6];
	uint64_t sent = 0, last;
	char m[18];
	struct peer p;
	int ret;

	cur_action = "vf0 usable";
	alarm(WATCHDOG_S);
	memset(&v, 0, sizeof(v));
	ret = vfio_dev_open(&d, bdf0);
	if (!ktap_check(!ret, "after the soak: reopen %s", bdf0))
		return;
	dev_open = true;
	ret = vfio_dev_reset(&d);
	ktap_check(!ret, "after the soak: VFIO_DEVICE_RESET: %s",
		   ret ? strerror(-ret) : "ok");
	ret = ivf_open(&v, &d, IVF_ACCESS_MMAP);
	if (!ret)
		ret = ivf_reset(&v);
	ivf_format_mac(v.mac, m);
	if (!ktap_check(!ret && v.cts, "after the soak: VF0 PF handshake (CTS), MAC %s: %s",
			m, ret ? strerror(-ret) : "ok"))
		goto out;
	if (want && !ivf_parse_mac(want, mac))
		ktap_check(v.mac_valid && !memcmp(mac, v.mac, 6),
			   "after the soak: VF0 has its admin MAC %s (got %s)",
			   want, m);
	ret = ivf_rings_setup(&v, &cfg);
	if (!ktap_check(!ret, "after the soak: VF0 rings up"))
		goto out;
	ret = peer_open(&p, ns, ifname, FRAME_ETHERTYPE);
	if (!ktap_check(!ret, "peer socket for the VF0 check"))
		goto out;
	at_vf.dst = v.mac;
	at_vf.src = p.mac;
	last = now_ns();
	while (at_vf.rcvd < 200 && now_ns() - last < 2000000000ull) {
		while (sent < 200 && sent - at_vf.rcvd < GOOD_WINDOW) {
			size_t len = frame_build(buf, v.mac, p.mac,
						 STREAM_PEER_TO_VF0, sent, 0);

			if (peer_send(&p, buf, len))
				break;
			sent++;
		}
		if (ivf_rx_poll(&v, vf_rx_cb, &at_vf, 64) > 0)
			last = now_ns();
		else
			usleep(200);
	}
	ktap_info("after the soak: peer -> VF0 sent %llu received %llu intact %llu",
		  (unsigned long long)sent, (unsigned long long)at_vf.rcvd,
		  (unsigned long long)at_vf.ok);
	ktap_check(sent == 200 && at_vf.ok >= 198 && at_vf.bad == 0,
		   "after the soak: VF0 receives the peer's frames (%llu of 200 intact)",
		   (unsigned long long)at_vf.ok);
	peer_close(&p);
out:
	dev_down();
	alarm(0);
}

/* ---------------------------------------------------------------- main */

static void pf_config(const char *bdf, char *buf, size_t len)
{
	if (ivf_dbg_read(bdf, "pf_config", buf, len))
		buf[0] = 0;
}

int main(void)
{
	const char *ns, *ifname, *s, *want2;
	struct mem m0, m, mx, m1, mh = { -1, -1, -1, -1, -1 };
	char cfg2_before[2048], cfg2_after[2048], ma[18], mb[18];
	volatile unsigned long iters = 0;
	long live0, live1;
	unsigned int secs = 60;
	uint64_t seed = DEFAULT_SEED, t0, t_end;
	struct good *g;
	uint8_t mac2[6];
	pid_t pid;
	int status, ret, a;

	bdf0 = env_need("IVF_VF0");
	bdf2 = env_need("IVF_VF2");
	ns = env_need("IVF_PEER_NS");
	ifname = env_need("IVF_PEER_IF");
	want2 = env_get("IVF_VF2_MAC");
	s = env_get("IVF_HOSTILE_SECS");
	if (s)
		secs = strtoul(s, NULL, 0);
	s = env_get("IVF_HOSTILE_SEED");
	if (s)
		seed = strtoull(s, NULL, 0);
	seed_state = seed;

	ktap_header("hostile_guest: hostile VF0, VMM cycling migration and reset, well-behaved VF2");
	ktap_info("seed 0x%llx (IVF_HOSTILE_SEED replays), %u s (IVF_HOSTILE_SECS)",
		  (unsigned long long)seed, secs);
	signal(SIGALRM, on_alarm);
	signal(SIGBUS, on_sigbus);
	signal(SIGPIPE, SIG_IGN);

	shrink_slabs();
	mem_sample(&m0);
	live0 = ivf_slab_live();
	mem_print("before", &m0);
	if (m0.slab < 0 || m0.xa < 0)
		ktap_info("no /proc/slabinfo or SUnreclaim: slab bounds not checked");

	g = mmap(NULL, sizeof(*g), PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (g == MAP_FAILED)
		ktap_skip_all("mmap: %s", strerror(errno));
	memset(g, 0, sizeof(*g));
	s = env_get("IVF_VF0_MAC");
	g->vf0_mac_ok = s && !ivf_parse_mac(s, g->vf0_mac);
	if (!g->vf0_mac_ok)
		ktap_info("no IVF_VF0_MAC: no RX load on the hostile VF");
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		ktap_skip_all("fork: %s", strerror(errno));
	if (!pid)
		good_vf(g, ns, ifname);

	alarm(WATCHDOG_S);
	while (!g->ready && !g->done)
		usleep(10000);
	alarm(0);
	if (!ktap_check(g->ready, "well-behaved VF2 %s up and moving traffic%s%s",
			bdf2, g->err[0] ? ": " : "", g->err)) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		ktap_finish();
	}
	ivf_format_mac(g->mac_before, mb);
	if (want2 && !ivf_parse_mac(want2, mac2))
		ktap_check(g->mac_before_ok && !memcmp(g->mac_before, mac2, 6),
			   "VF2 VF_RESET gives its admin MAC %s (got %s)", want2, mb);
	pf_config(bdf2, cfg2_before, sizeof(cfg2_before));

	alarm(WATCHDOG_S);
	ret = dev_up();
	if (!ktap_check(!ret, "hostile VF0 %s open, %u-descriptor header-split ring, 32 MiB more mapped: %s",
			bdf0, NDESC, ret ? strerror(-ret) : "ok")) {
		g->stop = 1;
		waitpid(pid, NULL, 0);
		ktap_finish();
	}
	log_avail = !dirty_log_probe(&d);
	ktap_info("DMA logging %s", log_avail ? "available: START/REPORT/STOP in the mix" :
		  "not available on this kernel/mode: the log action does nothing");
	mx = m0;
	mem_sample(&m);
	mem_max(&mx, &m);

	t0 = now_ns();
	t_end = t0 + (uint64_t)secs * 1000000000ull;
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
			do_act(rnd_below(A_TXDESC + 1), &mx);
		bus_armed = 0;
		do_act(pick_vmm(), &mx);
		mem_sample(&m);
		mem_max(&mx, &m);
		if (now_ns() - t0 < (t_end - t0) / 2)
			mh = mx;	/* the max over the first half */
		iters++;
	}
	alarm(0);
	ktap_info("run %.1f s, %lu iterations, %llu register writes, %lu ioctl/region calls ok, %lu failed (fine), %lu SIGBUS on the BAR mmap",
		  (now_ns() - t0) / 1e9, iters, reg_writes, ioctl_ok, ioctl_fail,
		  sigbus_count);
	for (a = 0; a < NR_ACT; a++)
		ktap_info("  action %-8s %lu", act_name[a], act_count[a]);
	ktap_info("trend: SUnreclaim max %lld KiB over the first half, %lld KiB over the whole run",
		  mh.slab / 1024, mx.slab / 1024);
	{
		char line[NTREND * 12] = "", *p = line;
		int i;

		for (i = 0; i < n_reopen_slab; i++)
			p += sprintf(p, " %lld", reopen_slab[i]);
		ktap_info("trend: SUnreclaim KiB after each close/reopen:%s", line);
		p = line;
		*p = 0;
		for (i = 0; i < n_reopen_slab; i++)
			p += sprintf(p, " %ld", reopen_live[i]);
		ktap_info("trend: live slab objects allocated through the driver after each close/reopen:%s",
			  line);
	}

	/* close; nothing may be left */
	cur_action = "final close";
	alarm(WATCHDOG_S);
	dev_down();
	alarm(0);
	mem_sample(&m);
	mem_max(&mx, &m);
	ktap_check(m.tracking == 0 && m.armed == 0 && m.log_entries <= 0,
		   "after close: tracking %lld, armed %lld, log_entries %lld",
		   m.tracking, m.armed, m.log_entries);
	ktap_check(reopen_leftover == 0,
		   "after every close/reopen in the soak: nothing tracked or armed (%lu times something was)",
		   reopen_leftover);

	/* the well-behaved VF: its configuration, then stop its traffic */
	pf_config(bdf2, cfg2_after, sizeof(cfg2_after));
	g->stop = 1;
	cur_action = "VF2 drain";
	alarm(WATCHDOG_S);
	waitpid(pid, &status, 0);
	alarm(0);
	ktap_check(WIFEXITED(status) && !WEXITSTATUS(status) && g->done,
		   "VF2 child finished cleanly (status 0x%x)", status);
	{
		uint64_t lost1 = g->vf_sent - g->peer_ok;
		uint64_t lost2 = g->peer_sent - g->vf_ok;

		ktap_info("VF2 -> peer: sent %llu received %llu intact %llu; peer -> VF2: sent %llu received %llu intact %llu; bad %llu, stalls %llu, register errors %lu",
			  (unsigned long long)g->vf_sent,
			  (unsigned long long)g->peer_rcvd,
			  (unsigned long long)g->peer_ok,
			  (unsigned long long)g->peer_sent,
			  (unsigned long long)g->vf_rcvd,
			  (unsigned long long)g->vf_ok,
			  (unsigned long long)g->bad,
			  (unsigned long long)g->stalls, g->io_errors);
		ktap_info("peer -> hostile VF0 (RX load): %llu frames",
			  (unsigned long long)g->vf0_load);
		ktap_check(g->vf_sent > 0 && lost1 * 100 <= g->vf_sent,
			   "VF2 -> peer: %llu of %llu lost or damaged (at most 1%%)",
			   (unsigned long long)lost1,
			   (unsigned long long)g->vf_sent);
		ktap_check(g->peer_sent > 0 && lost2 * 100 <= g->peer_sent,
			   "peer -> VF2: %llu of %llu lost or damaged (at most 1%%)",
			   (unsigned long long)lost2,
			   (unsigned long long)g->peer_sent);
	}
	ivf_format_mac(g->mac_after, ma);
	ktap_check(g->mac_after_ok && !memcmp(g->mac_before, g->mac_after, 6),
		   "VF2 VF_RESET MAC unchanged (%s before, %s after)", mb, ma);
	if (!ktap_check(cfg2_before[0] && !strcmp(cfg2_before, cfg2_after),
			"VF2 pf_config unchanged through the soak")) {
		ktap_info("VF2 pf_config before:\n%s", cfg2_before);
		ktap_info("VF2 pf_config after:\n%s", cfg2_after);
	}

	/* VF0 works after the soak */
	vf0_usable(ns, ifname);

	shrink_slabs();
	mem_sample(&m1);
	live1 = ivf_slab_live();
	mem_print("before", &m0);
	mem_print("max", &mx);
	mem_print("after", &m1);
	if (m0.slab >= 0) {
		ktap_check(mx.slab - m0.slab < SLAB_DURING_BOUND,
			   "SUnreclaim grew at most %lld KiB during (bound %lld KiB)",
			   (mx.slab - m0.slab) / 1024, SLAB_DURING_BOUND / 1024);
		ktap_check(m1.slab - m0.slab < SLAB_AFTER_BOUND,
			   "SUnreclaim after close %+lld KiB from before (bound %lld KiB)",
			   (m1.slab - m0.slab) / 1024, SLAB_AFTER_BOUND / 1024);
	}
	if (m0.xa >= 0) {
		ktap_check(mx.xa - m0.xa < XA_DURING_BOUND,
			   "radix_tree_node grew at most %lld KiB during (bound %lld KiB)",
			   (mx.xa - m0.xa) / 1024, XA_DURING_BOUND / 1024);
		ktap_check(m1.xa - m0.xa < XA_AFTER_BOUND,
			   "radix_tree_node after close %+lld KiB from before (bound %lld KiB)",
			   (m1.xa - m0.xa) / 1024, XA_AFTER_BOUND / 1024);
	}
	if (live0 >= 0 && live1 >= 0) {
		ktap_info("live slab objects allocated through the driver: %ld before, %ld after",
			  live0, live1);
		ktap_check(live1 <= live0,
			   "after close: no slab object allocated through the driver left (%ld before, %ld after)",
			   live0, live1);
	} else {
		ktap_info("no slub_debug=U alloc_traces: driver-attributed slab objects not counted");
	}
	ktap_check(mx.armed <= ARMED_BOUND,
		   "armed at most %lld descriptors during (bound %lld)",
		   mx.armed, ARMED_BOUND);
	ktap_check(mx.log_entries <= 16384,
		   "log_entries at most %lld during (cap 16384)", mx.log_entries);
	ktap_check(m1.tracking == 0 && m1.armed == 0 && m1.log_entries <= 0,
		   "at the end: tracking %lld, armed %lld, log_entries %lld",
		   m1.tracking, m1.armed, m1.log_entries);
	ktap_finish();
}
