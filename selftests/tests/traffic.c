// SPDX-License-Identifier: GPL-2.0
/*
 * traffic: frames both ways between the userspace-driven VF (IVF_VF0,
 * through VFIO and lib/ivf.c) and a kernel igbvf netdev (IVF_PEER_IF in
 * netns IVF_PEER_NS, through an AF_PACKET socket).  Every frame carries a
 * stream id, a sequence number and a payload derived from them, and sizes
 * cycle through 60..1514 bytes.  Each side keeps at most a window of frames
 * in flight, so any missing frame is a loss, not an overflow.  Zero loss,
 * zero corruption, in-order delivery required.
 *
 * The fixture opens the peer's socket and the VF, brings the userspace
 * driver up and does the VF reset handshake with the PF (CTS); each case
 * starts from there. Cases:
 *   reset_handshake_reports_admin_mac  the PF's reset reply carries the
 *                                      admin MAC (IVF_VF0_MAC; skips
 *                                      without it)
 *   rx_frame_fires_msix_vector         a frame from the peer signals the RX
 *                                      vector's eventfd and is received
 *                                      (skips with IVF_IRQ=0)
 *   frames_both_ways_intact_in_order   the frames both ways: none lost,
 *                                      corrupted or reordered, no
 *                                      descriptor or register access
 *                                      errors, VFGPTC/VFGPRC count them
 * The last two bring the VF up first: SET_LPE 1522 acked, rings, MSI-X.
 *
 * Usage: traffic [frames-each-way [window]] [harness options: -l, -r ...]
 * Env: IVF_VF0, IVF_VF0_MAC (optional check), IVF_PEER_NS, IVF_PEER_IF,
 *      IVF_ACCESS=mmap|pio (pages 1-3 access, default mmap),
 *      IVF_IRQ=0 to poll instead of waiting on the MSI-X eventfd,
 *      IVF_HDR_SPLIT=1 for header-split RX descriptors (128-byte headers).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "frame.h"
#include "ivf.h"
#include "peer.h"
#include "util.h"

/* the demo (vm/demo-guest.sh) reads the measured values from stdout */
#define TH_LOG_STREAM stdout
#include "kselftest_harness.h"

#define STREAM_VF_TO_PEER	1
#define STREAM_PEER_TO_VF	2
#define STALL_NS		(5ull * 1000000000ull)
/* 10000 frames each way take about a minute on TCG; sanitizers: 5 times */
#define CASE_TIMEOUT		600

/* the command line's frames each way and window (before any option) */
static uint32_t nframes = 10000, window = 32;

struct rx_side {
	const char *name;
	const uint8_t *dst, *src;
	uint16_t stream;
	uint32_t expect;	/* next expected sequence number */
	uint32_t rcvd;		/* our frames seen (good or bad) */
	uint32_t ok;
	uint32_t lost;		/* gaps in the sequence */
	uint32_t dup;		/* old sequence numbers seen again */
	uint32_t bad;		/* corrupted */
	uint32_t foreign;
	int reported;
};

static void rx_frame(struct rx_side *s, const uint8_t *buf, size_t len)
{
	enum frame_verdict v;
	uint32_t seq = 0;

	v = frame_check(buf, len, s->dst, s->src, s->stream, 0, &seq);
	if (v == FRAME_FOREIGN) {
		s->foreign++;
		return;
	}
	s->rcvd++;
	if (v != FRAME_OK) {
		s->bad++;
		if (s->reported++ < 5)
			ksft_print_msg("%s: frame seq %u len %zu: %s\n", s->name,
				       seq, len, frame_verdict_str(v));
		if (v == FRAME_BAD_ADDR)
			return;	/* the sequence number is still usable */
	}
	if (seq == s->expect) {
		s->expect++;
	} else if (seq < s->expect) {
		s->dup++;
	} else {
		if (s->reported++ < 5)
			ksft_print_msg("%s: expected seq %u, got %u\n", s->name,
				       s->expect, seq);
		s->lost += seq - s->expect;
		s->expect = seq + 1;
	}
	if (v == FRAME_OK)
		s->ok++;
}

static void vf_rx_cb(void *arg, const uint8_t *data, uint32_t len,
		     uint32_t status)
{
	struct rx_side *s = arg;

	if (status & IVF_RXD_ERR_FRAME_MASK) {
		s->bad++;
		if (s->reported++ < 5)
			ksft_print_msg("%s: descriptor error status 0x%08x\n",
				       s->name, status);
	}
	rx_frame(s, data, len);
}

FIXTURE(traffic) {
	const char *bdf, *acc, *irq;
	struct peer p;
	struct vfio_dev d;
	struct ivf v;
	bool peer_open, dev_open, ivf_open;
	char mac[18];
};

FIXTURE_SETUP(traffic)
{
	const char *ns, *ifname, *why;
	int ret;

	why = vf_peer_unusable(&self->bdf, &ns, &ifname, NULL, NULL);
	if (why)
		SKIP(return, "%s", why);
	self->acc = env_get("IVF_ACCESS");
	self->irq = env_get("IVF_IRQ");
	if (!nframes || !window)
		SKIP(return, "bad arguments: %u frames, window %u", nframes,
		     window);

	ret = peer_open(&self->p, ns, ifname, FRAME_ETHERTYPE);
	ASSERT_EQ(0, ret)
		TH_LOG("AF_PACKET socket on %s in netns %s: %s", ifname, ns,
		       strerror(-ret));
	self->peer_open = true;
	ret = vfio_dev_open(&self->d, self->bdf);
	ASSERT_EQ(0, ret) TH_LOG("open %s: %s", self->bdf, strerror(-ret));
	self->dev_open = true;
	ret = ivf_open(&self->v, &self->d,
		       self->acc && !strcmp(self->acc, "pio") ?
		       IVF_ACCESS_PIO : IVF_ACCESS_MMAP);
	ASSERT_EQ(0, ret)
		TH_LOG("userspace VF driver up (%s access to pages 1-3): %s",
		       self->acc ? self->acc : "mmap", strerror(-ret));
	self->ivf_open = true;
	ret = ivf_reset(&self->v);
	ASSERT_TRUE(!ret && self->v.cts)
		TH_LOG("VF reset handshake with the PF (CTS): %s",
		       ret ? strerror(-ret) : "no CTS");
	ivf_format_mac(self->v.mac, self->mac);
}

FIXTURE_TEARDOWN(traffic)
{
	if (self->ivf_open)
		ivf_close(&self->v);
	if (self->dev_open)
		vfio_dev_close(&self->d);
	if (self->peer_open)
		peer_close(&self->p);
}

static bool irq_wanted(FIXTURE_DATA(traffic) *self)
{
	return !self->irq || strcmp(self->irq, "0");
}

/* what the frames need: large frames, rings, the interrupt if wanted */
static void bring_up(struct __test_metadata *_metadata,
		     FIXTURE_DATA(traffic) *self)
{
	const char *split = env_get("IVF_HDR_SPLIT");
	struct ivf_ring_cfg cfg = {
		.rx_count = 256, .tx_count = 256, .buf_size = 2048,
		.hdr_split = split && strcmp(split, "0"), .hdr_size = 128,
		.iova_base = 0x10000000,
	};
	int ret;

	ret = ivf_set_lpe(&self->v, 1522);
	EXPECT_EQ(0, ret) TH_LOG("SET_LPE 1522 acked: %s", strerror(-ret));
	ret = ivf_rings_setup(&self->v, &cfg);
	ASSERT_EQ(0, ret)
		TH_LOG("RX/TX rings set up (%s): %s",
		       cfg.hdr_split ? "header split" : "one buffer",
		       strerror(-ret));
	if (irq_wanted(self)) {
		ret = ivf_irq_enable(&self->v);
		ASSERT_EQ(0, ret) TH_LOG("MSI-X enabled: %s", strerror(-ret));
	}
}

TEST_F_TIMEOUT(traffic, reset_handshake_reports_admin_mac, CASE_TIMEOUT)
{
	const char *want_mac = env_get("IVF_VF0_MAC");
	uint8_t mac[6];

	if (!want_mac || ivf_parse_mac(want_mac, mac))
		SKIP(return, "no admin MAC to compare (IVF_VF0_MAC)");
	EXPECT_TRUE(self->v.mac_valid && !memcmp(mac, self->v.mac, 6))
		TH_LOG("PF reported the admin MAC %s (got %s)", want_mac,
		       self->mac);
}

TEST_F_TIMEOUT(traffic, rx_frame_fires_msix_vector, CASE_TIMEOUT)
{
	struct ivf *v = &self->v;
	uint8_t buf[FRAME_MIN];
	int ret, i;

	if (!irq_wanted(self))
		SKIP(return, "IVF_IRQ=0: polling, no interrupt");
	bring_up(_metadata, self);
	vfio_irq_wait(v->dev, IVF_VEC_RX, 0);	/* drop stale events */
	frame_build(buf, v->mac, self->p.mac, 3, 0, FRAME_MIN);
	ret = peer_send(&self->p, buf, FRAME_MIN);
	ASSERT_EQ(0, ret)
		TH_LOG("peer sends an interrupt probe frame: %s",
		       strerror(-ret));
	ret = vfio_irq_wait(v->dev, IVF_VEC_RX, 2000);
	EXPECT_EQ(1, ret)
		TH_LOG("RX MSI-X vector %d fired (eventfd) for it", IVF_VEC_RX);
	for (i = 0; i < 1000 && !ivf_rx_ready(v); i++)
		ivf_rx_wait(v, 1);
	ret = ivf_rx_poll(v, NULL, NULL, 16);
	EXPECT_LE(1, ret) TH_LOG("interrupt probe frame received");
	ivf_wr(v, IVF_EIMS, 1u << IVF_VEC_RX);
}

TEST_F_TIMEOUT(traffic, frames_both_ways_intact_in_order, CASE_TIMEOUT)
{
	struct rx_side at_peer = { .name = "peer rx",
				   .stream = STREAM_VF_TO_PEER };
	struct rx_side at_vf = { .name = "vf rx", .stream = STREAM_PEER_TO_VF };
	uint32_t vf_sent = 0, peer_sent = 0, peer_send_err = 0;
	struct ivf *v = &self->v;
	struct peer *p = &self->p;
	uint64_t t0, t1, last_progress;
	struct ivf_stats st0, st1;
	uint8_t buf[2048];
	char m2[18];
	double secs;
	int ret;

	bring_up(_metadata, self);
	ivf_format_mac(p->mac, m2);
	TH_LOG("vf %s mac %s, peer mac %s, %u frames each way, window %u",
	       self->bdf, self->mac, m2, nframes, window);

	at_peer.dst = p->mac;
	at_peer.src = v->mac;
	at_vf.dst = v->mac;
	at_vf.src = p->mac;
	ivf_read_stats(v, &st0);

	t0 = last_progress = now_ns();
	for (;;) {
		bool progress = false;
		ssize_t n;
		int posted = 0;

		/* VF -> peer */
		while (vf_sent < nframes && vf_sent - at_peer.rcvd < window) {
			size_t len = frame_build(buf, p->mac, v->mac,
						 STREAM_VF_TO_PEER, vf_sent, 0);

			if (ivf_tx_post(v, buf, len))
				break;
			vf_sent++;
			posted++;
		}
		if (posted) {
			ivf_tx_kick(v);
			progress = true;
		}
		ivf_tx_clean(v);

		/* peer -> VF */
		while (peer_sent < nframes && peer_sent - at_vf.rcvd < window) {
			size_t len = frame_build(buf, v->mac, p->mac,
						 STREAM_PEER_TO_VF, peer_sent, 0);

			ret = peer_send(p, buf, len);
			if (ret) {
				if (peer_send_err++ < 3)
					ksft_print_msg("peer send: %s\n",
						       strerror(-ret));
				break;
			}
			peer_sent++;
			progress = true;
		}

		/* receive both sides */
		if (ivf_rx_poll(v, vf_rx_cb, &at_vf, 64) > 0)
			progress = true;
		while ((n = peer_recv(p, buf, sizeof(buf), 0)) > 0) {
			rx_frame(&at_peer, buf, n);
			progress = true;
		}

		if (vf_sent == nframes && peer_sent == nframes &&
		    at_peer.rcvd >= nframes && at_vf.rcvd >= nframes)
			break;
		if (progress) {
			last_progress = now_ns();
			continue;
		}
		if (now_ns() - last_progress > STALL_NS) {
			ksft_print_msg("no progress for %llu s: stopping\n",
				       STALL_NS / 1000000000ull);
			break;
		}
		/* idle: wait a little (VF eventfd), then poll both again */
		ivf_rx_wait(v, 1);
	}
	t1 = now_ns();
	ivf_tx_clean(v);
	ivf_read_stats(v, &st1);

	secs = (t1 - t0) / 1e9;
	TH_LOG("vf->peer: sent %u rcvd %u ok %u lost %u dup %u bad %u foreign %u",
	       vf_sent, at_peer.rcvd, at_peer.ok,
	       at_peer.lost + (vf_sent - at_peer.expect), at_peer.dup,
	       at_peer.bad, at_peer.foreign);
	TH_LOG("peer->vf: sent %u rcvd %u ok %u lost %u dup %u bad %u foreign %u",
	       peer_sent, at_vf.rcvd, at_vf.ok,
	       at_vf.lost + (peer_sent - at_vf.expect), at_vf.dup, at_vf.bad,
	       at_vf.foreign);
	EXPECT_TRUE(vf_sent == nframes && at_peer.ok == nframes &&
		    at_peer.lost == 0 && at_peer.dup == 0 && at_peer.bad == 0)
		TH_LOG("vf -> peer: %u/%u frames intact and in order",
		       at_peer.ok, nframes);
	EXPECT_TRUE(peer_sent == nframes && at_vf.ok == nframes &&
		    at_vf.lost == 0 && at_vf.dup == 0 && at_vf.bad == 0)
		TH_LOG("peer -> vf: %u/%u frames intact and in order",
		       at_vf.ok, nframes);
	EXPECT_TRUE(v->rx_errors == 0 && v->io_errors == 0)
		TH_LOG("no descriptor errors (%llu) and no register access errors (%lu)",
		       (unsigned long long)v->rx_errors, v->io_errors);
	EXPECT_EQ(vf_sent, (uint32_t)(st1.gptc - st0.gptc))
		TH_LOG("VFGPTC advanced by the frames sent");
	EXPECT_GE((uint32_t)(st1.gprc - st0.gprc), at_vf.rcvd)
		TH_LOG("VFGPRC advanced by at least the frames received (%u >= %u)",
		       st1.gprc - st0.gprc, at_vf.rcvd);
	TH_LOG("frames/s=%.0f (%u frames both ways in %.2f s, %s access)",
	       (vf_sent + peer_sent) / secs, vf_sent + peer_sent, secs,
	       self->acc ? self->acc : "mmap");
}

/*
 * The frame count and window stay positional, as callers give them
 * (traffic [frames-each-way [window]]); the harness's options follow.
 */
int main(int argc, char **argv)
{
	int n = 1;

	/* line by line: a case killed by its timeout keeps its diagnostics */
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (n < argc && argv[n][0] != '-')
		nframes = strtoul(argv[n++], NULL, 0);
	if (n < argc && argv[n][0] != '-')
		window = strtoul(argv[n++], NULL, 0);
	argv[n - 1] = argv[0];
	return test_harness_run(argc - n + 1, argv + n - 1);
}
