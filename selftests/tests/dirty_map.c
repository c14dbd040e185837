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
 * read/write of page 2 through the device fd go where the mapping goes.
 * Each case on a fresh open of IVF_VF0 (the fixture: a session with rings
 * and pools, through the group and its type1 container, plus the peer; the
 * module's dirty_poll_us is put back after each):
 *
 *   untracked_page_is_the_device
 *       fresh open, no tracking: the spare offset is not kept, RDH is the
 *       device's at once, a tail rung through the mapping lets frames in
 *       within 100 ms (median of [trials])
 *   tracked_page_is_the_shadow
 *       RUNNING -> PRE_COPY: tracking; the spare offset is RAM, RDT reads
 *       the same through the mapping and read(), RDH follows the device's
 *       head within 3 polls
 *   tracked_tail_goes_through_the_poller
 *       tracking, a 200 ms poller: the first poll that starts after the
 *       doorbell forwards the tail, which takes more than 20 ms (it is not
 *       the device's); with the default poller the tail gets there too
 *   cancelled_migration_keeps_the_shadow
 *       PRE_COPY -> RUNNING: still tracking, the spare offset still RAM,
 *       frames flow and RDH follows
 *   guest_vf_reset_rx_disabled_then_receives
 *       tracking, migration cancelled (as above): after the guest's
 *       CTRL.RST, RXDCTL through the mapping shows the queue disabled; a
 *       guest that enables RX again without disabling it first receives
 *   reopened_after_tracking_is_the_device
 *       tracked, closed and opened again: not tracking, the spare offset is
 *       not kept, RDH is the device's, tails reach the device within 100 ms
 *
 * Usage: dirty_map [harness options] [trials]   (trials default 4)
 * Env: IVF_VF0, IVF_PEER_NS, IVF_PEER_IF.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dcheck.h"
#include "dirty.h"
#include "dtraffic.h"
#include "fixture.h"
#include "frame.h"
#include "mig.h"
#include "util.h"

#include "kselftest_harness.h"

#define SPARE_OFF	0x2f00
#define PROBE_STREAM	5
/* a case runs 5-40 s on TCG; a sanitizer kernel takes up to 4 times that */
#define CASE_TIMEOUT	300

/* doorbell lags per measurement (the command line's last argument) */
static unsigned int n_trials = 4;
/* the case's peer and probe sequence (each case runs in its own process) */
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
		ksft_print_msg("the poller did not forward the tail in 10 s (%llu polls)\n",
			       (unsigned long long)*idle);
		return false;
	}
	for (t0 = now_ns(); now_ns() - t0 < 10000000000ull;) {
		send_probe(s);
		if (rx_for(s, 2))
			return true;
	}
	ksft_print_msg("the tail was forwarded after %.1f ms, but no frame got in\n",
		       *ms);
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
		ksft_print_msg("only %u of 8 frames came in (rx_next %u, RDH %u RDT %u as the VF sees them)\n",
			       got, s->v.rx_next, ivf_rd(&s->v, IVF_RDH(0)),
			       ivf_rd(&s->v, IVF_RDT(0)));
		if (!ivf_dbg_read(s->v.dev->bdf, "dirty", dbg, sizeof(dbg))) {
			for (p = dbg; *p; p++)
				if (*p == '\n')
					*p = ' ';
			ksft_print_msg("debugfs dirty: %s\n", dbg);
		}
		return false;
	}
	if (polls)
		dsess_wait_polls(s, polls);
	return *map_reg(s, IVF_RDH(0)) == s->v.rx_next &&
	       pio_rd(s, IVF_RDH(0)) == s->v.rx_next;
}

FIXTURE(dirty_map) {
	const char *bdf;
	struct vfio_backend backend;
	bool peer_open;
	struct dsess s;
	bool sess_open;
	uint64_t poll_us;
	bool poll_us_saved;
};

static int sess_open(FIXTURE_DATA(dirty_map) *self)
{
	struct dsess_cfg sc = { .snapshots = false, .backend = self->backend };
	int ret;

	ret = dsess_open(&self->s, self->bdf, &sc);
	if (ret) {
		dsess_close(&self->s);
		return ret;
	}
	self->sess_open = true;
	return 0;
}

static void sess_close(FIXTURE_DATA(dirty_map) *self)
{
	if (self->sess_open)
		dsess_close(&self->s);
	self->sess_open = false;
}

FIXTURE_SETUP(dirty_map)
{
	const char *ns, *ifname, *why;
	int ret;

	self->backend = (struct vfio_backend){ .open = VFIO_OPEN_GROUP,
					       .dirty = VFIO_DIRTY_CONTAINER };
	why = vf_peer_unusable(&self->bdf, &ns, &ifname, NULL, &self->backend);
	if (why)
		SKIP(return, "%s", why);
	ret = peer_open(&peer, ns, ifname, FRAME_ETHERTYPE);
	ASSERT_EQ(0, ret) TH_LOG("peer socket: %s", strerror(-ret));
	self->peer_open = true;
	self->poll_us = 50;
	ivf_param_get("dirty_poll_us", &self->poll_us);
	self->poll_us_saved = true;
	ret = sess_open(self);
	ASSERT_EQ(0, ret) TH_LOG("open, rings up: %s", strerror(-ret));
}

FIXTURE_TEARDOWN(dirty_map)
{
	sess_close(self);
	if (self->poll_us_saved)
		ivf_param_set("dirty_poll_us", self->poll_us);
	if (self->peer_open)
		peer_close(&peer);
}

/* the spare offset: written through the mapping, read both ways */
static void spare(struct __test_metadata *_metadata, struct dsess *s,
		  const char *when, bool want_ram)
{
	uint32_t pat = 0xa5c3e1f0, m, p;

	*map_reg(s, SPARE_OFF) = pat;
	m = *map_reg(s, SPARE_OFF);
	p = pio_rd(s, SPARE_OFF);
	TH_LOG("%s: spare offset 0x%x written 0x%08x through the mapping reads 0x%08x (mapping), 0x%08x (read): must be %s",
	       when, SPARE_OFF, pat, m, p,
	       want_ram ? "RAM, the shadow" : "not kept, the device");
	EXPECT_TRUE(want_ram ? (m == pat && p == pat) : (m != pat && p != pat));
}

/* the device's: a tail rung through the mapping lets frames in quickly */
static void device_lags(struct __test_metadata *_metadata, struct dsess *s,
			const char *when)
{
	double lo, med, hi;

	lags(s, n_trials, &lo, &med, &hi);
	TH_LOG("%s: a tail rung through the mapping lets frames in after %.1f ms (median; %.1f..%.1f; probes every 2 ms), must be < 100",
	       when, med, lo, hi);
	EXPECT_TRUE(med >= 0 && med < 100);
}

/* RUNNING -> PRE_COPY: tracking on; the case ends if not */
static void engaged(struct __test_metadata *_metadata, struct dsess *s)
{
	int ret = dsess_engage(s);

	if (!ret && dsess_dbg(s, "tracking") != 1)
		ret = -ENOTRECOVERABLE;
	ASSERT_EQ(0, ret) TH_LOG("RUNNING -> PRE_COPY, tracking: %s",
				 strerror(-ret));
}

TEST_F_TIMEOUT(dirty_map, untracked_page_is_the_device, CASE_TIMEOUT)
{
	struct dsess *s = &self->s;

	EXPECT_EQ(0ull, dsess_dbg(s, "tracking"))
		TH_LOG("not tracking after open");
	spare(_metadata, s, "outside tracking", false);
	EXPECT_TRUE(rdh_follows(s, 0))
		TH_LOG("outside tracking: RDH through the mapping must be the device's head at once (%u)",
		       s->v.rx_next);
	device_lags(_metadata, s, "outside tracking");
}

TEST_F_TIMEOUT(dirty_map, tracked_page_is_the_shadow, CASE_TIMEOUT)
{
	struct dsess *s = &self->s;
	uint32_t v, p;
	int ret;

	ret = dsess_engage(s);
	EXPECT_TRUE(!ret && dsess_dbg(s, "tracking") == 1)
		TH_LOG("RUNNING -> PRE_COPY: tracking (%s)", strerror(-ret));
	spare(_metadata, s, "tracking", true);
	v = *map_reg(s, IVF_RDT(0));
	p = pio_rd(s, IVF_RDT(0));
	TH_LOG("tracking: RDT reads %u through the mapping, %u through read()",
	       v, p);
	EXPECT_EQ(v, p);
	EXPECT_TRUE(rdh_follows(s, 3))
		TH_LOG("tracking: RDH through the mapping must follow the device's head within 3 polls (%u)",
		       s->v.rx_next);
}

TEST_F_TIMEOUT(dirty_map, tracked_tail_goes_through_the_poller, CASE_TIMEOUT)
{
	struct dsess *s = &self->s;
	double lo, med, hi, lo_t, hi_t;
	uint64_t idle;
	bool fwd;

	engaged(_metadata, s);
	ivf_param_set("dirty_poll_us", 200000);
	usleep(250000);
	fwd = forward_lags(s, n_trials, &lo_t, &hi_t, &idle);
	ivf_param_set("dirty_poll_us", self->poll_us);
	usleep(250000);
	TH_LOG("tracking, 200 ms poller: the tail forwarded after %.1f..%.1f ms, at most %llu poll finished without it",
	       lo_t, hi_t, (unsigned long long)idle);
	EXPECT_TRUE(fwd && idle <= 1)
		TH_LOG("the first poll that starts after the doorbell must forward the tail");
	EXPECT_TRUE(hi_t > 20)
		TH_LOG("the tail must go through the poller, not straight to the device (max %.1f ms > 20)",
		       hi_t);
	lags(s, n_trials, &lo, &med, &hi);
	TH_LOG("tracking, default poller (%llu us): the tail reaches the device after %.1f ms (median; %.1f..%.1f)",
	       (unsigned long long)self->poll_us, med, lo, hi);
	EXPECT_TRUE(med >= 0);
}

TEST_F_TIMEOUT(dirty_map, cancelled_migration_keeps_the_shadow, CASE_TIMEOUT)
{
	struct dsess *s = &self->s;
	int ret;

	engaged(_metadata, s);
	ret = dsess_state(s, VFIO_DEVICE_STATE_RUNNING);
	EXPECT_TRUE(!ret && dsess_dbg(s, "tracking") == 1)
		TH_LOG("PRE_COPY -> RUNNING (cancelled): still tracking (%s)",
		       strerror(-ret));
	spare(_metadata, s, "cancelled", true);
	EXPECT_TRUE(rdh_follows(s, 3))
		TH_LOG("cancelled: frames must flow, RDH follow");
}

TEST_F_TIMEOUT(dirty_map, guest_vf_reset_rx_disabled_then_receives,
	       CASE_TIMEOUT)
{
	struct dsess *s = &self->s;
	uint32_t v, rxdctl;
	int ret, i;

	/* as a cancelled migration leaves it: RUNNING, tracking on */
	engaged(_metadata, s);
	ret = dsess_state(s, VFIO_DEVICE_STATE_RUNNING);
	ASSERT_EQ(0, ret)
		TH_LOG("PRE_COPY -> RUNNING, tracking: %s", strerror(-ret));
	/* a VF reset by the guest: the device drops RXDCTL.ENABLE */
	rxdctl = *map_reg(s, IVF_RXDCTL(0));
	ret = vfio_bar_write32(&s->d, 0, IVF_CTRL, IVF_CTRL_RST);
	usleep(2000);
	dsess_wait_polls(s, 3);
	v = *map_reg(s, IVF_RXDCTL(0));
	TH_LOG("tracking: after the guest's CTRL.RST, RXDCTL through the mapping 0x%x -> 0x%x (%s)",
	       rxdctl, v, strerror(-ret));
	EXPECT_TRUE(!ret && (rxdctl & IVF_XDCTL_ENABLE) &&
		    !(v & IVF_XDCTL_ENABLE))
		TH_LOG("the mapping must show the queue disabled");
	/*
	 * The guest sets RX up again the short way: same ring, head and tail
	 * to 0, descriptors posted, enable written straight away.
	 */
	ret = ivf_reset(&s->v) ?: ivf_set_lpe(&s->v, 1522);
	ivf_wr(&s->v, IVF_RDH(0), 0);
	ivf_wr(&s->v, IVF_RDT(0), 0);
	rxpool_repost_all(&s->rx);
	for (i = 0; i < (int)s->v.rx_count; i++)
		s->v.rx_ring[i].read.pkt_addr = s->rx.pkt[i];
	s->v.rx_next = 0;
	ivf_wr(&s->v, IVF_RXDCTL(0), rxdctl | IVF_XDCTL_ENABLE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	ivf_wr(&s->v, IVF_RDT(0), s->v.rx_count - 1);
	dsess_wait_polls(s, 3);
	EXPECT_TRUE(!ret && rdh_follows(s, 3))
		TH_LOG("after the VF reset, a guest that enables RX without disabling it first must receive again (rx_next %u, RDH %u; %s)",
		       s->v.rx_next, *map_reg(s, IVF_RDH(0)), strerror(-ret));
}

TEST_F_TIMEOUT(dirty_map, reopened_after_tracking_is_the_device, CASE_TIMEOUT)
{
	struct dsess *s = &self->s;
	int ret;

	engaged(_metadata, s);
	sess_close(self);
	ret = sess_open(self);
	ASSERT_EQ(0, ret) TH_LOG("reopen, rings up: %s", strerror(-ret));
	EXPECT_EQ(0ull, dsess_dbg(s, "tracking"))
		TH_LOG("reopened: not tracking");
	spare(_metadata, s, "reopened", false);
	EXPECT_TRUE(rdh_follows(s, 0))
		TH_LOG("reopened: RDH must be the device's at once");
	device_lags(_metadata, s, "reopened");
}

/*
 * The harness's options, then [trials]: the number of doorbell lags each
 * measurement takes (default 4).
 * harness_own_args() finds it anywhere among the options.
 */
int main(int argc, char **argv)
{
	char **args;

	if (harness_own_args(argc, argv, &args) > 0)
		n_trials = strtoul(args[0], NULL, 0);
	if (!n_trials)
		n_trials = 1;
	return test_harness_run(argc, argv);
}
