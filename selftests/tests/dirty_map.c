// SPDX-License-Identifier: GPL-2.0
/*
 * dirty_map: what the guest's mapping of BAR0 page 2 (RX queue registers)
 * is, outside and during dirty tracking, told apart by behaviour:
 *
 * - a spare offset of page 2 (0x2f00, no register there) keeps what is
 *   written to it only if it is RAM: the device does not keep it;
 * - a tail write reaches the device at once when the page is the device,
 *   and only with the poller when it is the shadow: with the device out of
 *   RX descriptors, the time from ringing RDT to the first frame that gets
 *   in measures it (dirty_poll_us made 200 ms to see it);
 * - device-updated fields (RDH, RXDCTL after a VF reset) read through the
 *   shadow follow the device within a few polls.
 *
 * Outside tracking (fresh open), during tracking (after RUNNING -> PRE_COPY,
 * and still after the migration is cancelled, PRE_COPY -> RUNNING), and
 * after close and reopen. read/write of page 2 through the device fd go
 * where the mapping goes.
 *
 * Usage: dirty_map [trials]   (default 4)
 * Env: IVF_VF0, IVF_PEER_NS, IVF_PEER_IF.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dcheck.h"
#include "dirty.h"
#include "dtraffic.h"
#include "frame.h"
#include "ktap.h"
#include "mig.h"
#include "util.h"

KTAP_DEFINE_STATE();

#define SPARE_OFF	0x2f00
#define PROBE_STREAM	5

static const char *bdf;
static struct peer peer;
static uint32_t seq;

static volatile uint32_t *map_reg(struct dsess *s, uint32_t off)
{
	return (volatile uint32_t *)(s->v.map + off - IVF_BAR_PAGE_SIZE);
}

static uint32_t pio_rd(struct dsess *s, uint32_t off)
{
	uint32_t v = 0xdeadbeef;

	vfio_bar_read32(&s->d, 0, off, &v);
	return v;
}

static void count_cb(void *arg, const uint8_t *d, uint32_t len, uint32_t st)
{
	(void)d;
	(void)len;
	(void)st;
	(*(unsigned int *)arg)++;
}

static bool send_probe(struct dsess *s)
{
	uint8_t buf[FRAME_MIN];

	frame_build(buf, s->v.mac, peer.mac, PROBE_STREAM, seq++, FRAME_MIN);
	return !peer_send(&peer, buf, FRAME_MIN);
}

/* poll for frames for up to @ms; frames received */
static unsigned int rx_for(struct dsess *s, unsigned int ms)
{
	unsigned int got = 0;
	uint64_t t0 = now_ns();

	do {
		if (rxpool_poll(&s->rx, count_cb, &got, 64) > 0)
			break;
		usleep(200);
	} while (now_ns() - t0 < ms * 1000000ull);
	return got;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/*
 * @trials doorbell lags (time to the first frame, peer's path included):
 * min, median, max in ms; *med -1 if one failed
 */
static void lags(struct dsess *s, unsigned int trials, double *min,
		 double *med, double *max)
{
	double l[64];
	unsigned int i, n = trials < 64 ? trials : 64;

	*min = *med = *max = -1;
	for (i = 0; i < n; i++) {
		l[i] = dsess_doorbell_lag(s, &peer, 2000);
		if (l[i] < 0)
			return;
	}
	qsort(l, n, sizeof(l[0]), cmp_double);
	*min = l[0];
	*max = l[n - 1];
	*med = n % 2 ? l[n / 2] : (l[n / 2 - 1] + l[n / 2]) / 2;
}

/*
 * With the device out of descriptors, ring the tail through the mapping and
 * watch the poller's counters: @ms until its forwarded_tails count moves,
 * and @idle, how many polls it finished meanwhile without forwarding (polls
 * read before forwarded_tails: a count read while the tail was still not
 * forwarded). Only a poll that was under way at the doorbell may miss it,
 * so @idle is 0 or 1 whatever the host's timing. Then frames must get in.
 * false if something did not happen in 10 s.
 */
static bool forward_lag(struct dsess *s, double *ms, uint64_t *idle)
{
	uint64_t f0, p0, p, f, last, t0;

	if (!dsess_starve(s, &peer))
		return false;
	f0 = dsess_dbg(s, "forwarded_tails");
	t0 = now_ns();
	rxpool_doorbell(&s->rx);
	p0 = dsess_dbg(s, "polls");
	last = p0;
	*ms = -1;
	while (f0 != UINT64_MAX && p0 != UINT64_MAX &&
	       now_ns() - t0 < 10000000000ull) {
		p = dsess_dbg(s, "polls");
		f = dsess_dbg(s, "forwarded_tails");
		if (p == UINT64_MAX || f == UINT64_MAX)
			break;
		if (f != f0) {
			*ms = (now_ns() - t0) / 1e6;
			break;
		}
		last = p;
		usleep(5000);
	}
	*idle = last - p0;
	if (*ms < 0) {
		ktap_info("the poller did not forward the tail in 10 s (%llu polls)",
			  (unsigned long long)*idle);
		return false;
	}
	for (t0 = now_ns(); now_ns() - t0 < 10000000000ull;) {
		send_probe(s);
		if (rx_for(s, 2))
			return true;
	}
	ktap_info("the tail was forwarded after %.1f ms, but no frame got in", *ms);
	return false;
}

/* @trials forward_lag()s: ms min and max, most idle polls; false on failure */
static bool forward_lags(struct dsess *s, unsigned int trials, double *min,
			 double *max, uint64_t *idle_max)
{
	unsigned int i;
	uint64_t idle;
	double l;

	*min = 1e9;
	*max = -1;
	*idle_max = 0;
	for (i = 0; i < trials; i++) {
		if (!forward_lag(s, &l, &idle))
			return false;
		if (l < *min)
			*min = l;
		if (l > *max)
			*max = l;
		if (idle > *idle_max)
			*idle_max = idle;
	}
	return true;
}

/*
 * 8 frames in (all of them, or false), then RDH through the mapping and
 * read() equals the guest's next descriptor, after @polls polls
 */
static bool rdh_follows(struct dsess *s, unsigned int polls)
{
	unsigned int i, got = 0, want = (s->v.rx_next + 8) % s->v.rx_count;
	uint64_t t0;
	char dbg[1024], *p;

	/*
	 * Tracking: the tails the guest rang last reach the device first (a
	 * burst into a ring the poller has not refilled yet is dropped by the
	 * device, as on any NIC: README, "Traffic while tracking").
	 */
	if (polls)
		dsess_wait_polls(s, 2);
	t0 = now_ns();
	for (i = 0; i < 8; i++)
		send_probe(s);
	while (got < 8 && now_ns() - t0 < 2000000000ull)
		got += rx_for(s, 20);
	if (got != 8 || s->v.rx_next != want) {
		ktap_info("only %u of 8 frames came in (rx_next %u, RDH %u RDT %u as the VF sees them)",
			  got, s->v.rx_next, ivf_rd(&s->v, IVF_RDH(0)),
			  ivf_rd(&s->v, IVF_RDT(0)));
		if (!ivf_dbg_read(s->v.dev->bdf, "dirty", dbg, sizeof(dbg))) {
			for (p = dbg; *p; p++)
				if (*p == '\n')
					*p = ' ';
			ktap_info("debugfs dirty: %s", dbg);
		}
		return false;
	}
	if (polls)
		dsess_wait_polls(s, polls);
	return *map_reg(s, IVF_RDH(0)) == s->v.rx_next &&
	       pio_rd(s, IVF_RDH(0)) == s->v.rx_next;
}

static bool open_sess(struct dsess *s)
{
	struct dsess_cfg sc = { .snapshots = false };

	if (dsess_open(s, bdf, &sc)) {
		dsess_close(s);
		return false;
	}
	return true;
}

/* the spare offset: written through the mapping, read both ways */
static void spare(struct dsess *s, const char *when, bool want_ram)
{
	uint32_t pat = 0xa5c3e1f0, m, p;

	*map_reg(s, SPARE_OFF) = pat;
	m = *map_reg(s, SPARE_OFF);
	p = pio_rd(s, SPARE_OFF);
	ktap_check(want_ram ? (m == pat && p == pat) : (m != pat && p != pat),
		   "%s: spare offset 0x%x written 0x%08x through the mapping reads 0x%08x (mapping), 0x%08x (read): %s",
		   when, SPARE_OFF, pat, m, p,
		   want_ram ? "RAM, the shadow" : "not kept, the device");
}

int main(int argc, char **argv)
{
	unsigned int trials = argc > 1 ? strtoul(argv[1], NULL, 0) : 4;
	uint64_t poll_us = 50;
	double lo, med, hi, lo_t, hi_t;
	uint64_t idle;
	struct dsess s;
	bool fwd;
	uint32_t v, rxdctl;
	int ret, i;

	bdf = env_need("IVF_VF0");
	ktap_header("dirty_map: BAR0 page 2, device or shadow");
	ret = peer_open(&peer, env_need("IVF_PEER_NS"), env_need("IVF_PEER_IF"),
			FRAME_ETHERTYPE);
	if (!ktap_check(!ret, "peer socket"))
		ktap_finish();
	ivf_param_get("dirty_poll_us", &poll_us);

	/* ---- outside tracking */
	if (!ktap_check(open_sess(&s), "open, rings up"))
		ktap_finish();
	ktap_check(dsess_dbg(&s, "tracking") == 0, "not tracking after open");
	spare(&s, "outside tracking", false);
	ktap_check(rdh_follows(&s, 0),
		   "outside tracking: RDH through the mapping is the device's head at once (%u)",
		   s.v.rx_next);
	lags(&s, trials, &lo, &med, &hi);
	ktap_check(med >= 0 && med < 100,
		   "outside tracking: a tail rung through the mapping lets frames in after %.1f ms (median; %.1f..%.1f; probes every 2 ms)",
		   med, lo, hi);

	/* ---- tracking */
	ret = dsess_engage(&s);
	ktap_check(!ret && dsess_dbg(&s, "tracking") == 1,
		   "RUNNING -> PRE_COPY: tracking (%s)", strerror(-ret));
	spare(&s, "tracking", true);
	v = *map_reg(&s, IVF_RDT(0));
	ktap_check(v == pio_rd(&s, IVF_RDT(0)),
		   "tracking: RDT reads the same through the mapping and read() (%u)", v);
	ktap_check(rdh_follows(&s, 3),
		   "tracking: RDH through the mapping follows the device's head within 3 polls (%u)",
		   s.v.rx_next);
	ivf_param_set("dirty_poll_us", 200000);
	usleep(250000);
	fwd = forward_lags(&s, trials, &lo_t, &hi_t, &idle);
	ivf_param_set("dirty_poll_us", poll_us);
	usleep(250000);
	ktap_check(fwd && idle <= 1,
		   "tracking, 200 ms poller: the first poll that starts after the doorbell forwards the tail (at most %llu poll finished without it; %.1f..%.1f ms)",
		   (unsigned long long)idle, lo_t, hi_t);
	ktap_check(hi_t > 20,
		   "tracking, 200 ms poller: the tail goes through the poller, not straight to the device (max %.1f ms > 20)",
		   hi_t);
	lags(&s, trials, &lo, &med, &hi);
	ktap_check(med >= 0,
		   "tracking, default poller (%llu us): the tail reaches the device after %.1f ms (median; %.1f..%.1f)",
		   (unsigned long long)poll_us, med, lo, hi);

	/* a cancelled migration leaves tracking on */
	ret = dsess_state(&s, VFIO_DEVICE_STATE_RUNNING);
	ktap_check(!ret && dsess_dbg(&s, "tracking") == 1,
		   "PRE_COPY -> RUNNING (cancelled): still tracking (%s)",
		   strerror(-ret));
	spare(&s, "cancelled", true);
	ktap_check(rdh_follows(&s, 3), "cancelled: frames flow, RDH follows");

	/* a VF reset by the guest: the device drops RXDCTL.ENABLE */
	rxdctl = *map_reg(&s, IVF_RXDCTL(0));
	ret = vfio_bar_write32(&s.d, 0, IVF_CTRL, IVF_CTRL_RST);
	usleep(2000);
	dsess_wait_polls(&s, 3);
	v = *map_reg(&s, IVF_RXDCTL(0));
	ktap_check(!ret && (rxdctl & IVF_XDCTL_ENABLE) && !(v & IVF_XDCTL_ENABLE),
		   "tracking: after the guest's CTRL.RST, RXDCTL through the mapping shows the queue disabled (0x%x -> 0x%x)",
		   rxdctl, v);
	/*
	 * The guest sets RX up again the short way: same ring, head and tail
	 * to 0, descriptors posted, enable written straight away.
	 */
	ret = ivf_reset(&s.v) ?: ivf_set_lpe(&s.v, 1522);
	ivf_wr(&s.v, IVF_RDH(0), 0);
	ivf_wr(&s.v, IVF_RDT(0), 0);
	rxpool_repost_all(&s.rx);
	for (i = 0; i < (int)s.v.rx_count; i++)
		s.v.rx_ring[i].read.pkt_addr = s.rx.pkt[i];
	s.v.rx_next = 0;
	ivf_wr(&s.v, IVF_RXDCTL(0), rxdctl | IVF_XDCTL_ENABLE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	ivf_wr(&s.v, IVF_RDT(0), s.v.rx_count - 1);
	dsess_wait_polls(&s, 3);
	ktap_check(!ret && rdh_follows(&s, 3),
		   "tracking: after the VF reset, a guest that enables RX without disabling it first receives again (rx_next %u, RDH %u)",
		   s.v.rx_next, *map_reg(&s, IVF_RDH(0)));
	dsess_close(&s);

	/* ---- reopened: the device again */
	if (!ktap_check(open_sess(&s), "reopen, rings up"))
		ktap_finish();
	ktap_check(dsess_dbg(&s, "tracking") == 0, "reopened: not tracking");
	spare(&s, "reopened", false);
	ktap_check(rdh_follows(&s, 0), "reopened: RDH is the device's at once");
	lags(&s, trials, &lo, &med, &hi);
	ktap_check(med >= 0 && med < 100,
		   "reopened: a tail rung through the mapping lets frames in after %.1f ms (median; %.1f..%.1f)",
		   med, lo, hi);
	dsess_close(&s);
	peer_close(&peer);
	ktap_finish();
}
