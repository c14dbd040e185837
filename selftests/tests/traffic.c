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
 * Usage: traffic [frames-each-way [window]]
 * Env: IVF_VF0, IVF_VF0_MAC (optional check), IVF_PEER_NS, IVF_PEER_IF,
 *      IVF_ACCESS=mmap|pio (pages 1-3 access, default mmap),
 *      IVF_IRQ=0 to poll instead of waiting on the MSI-X eventfd,
 *      IVF_HDR_SPLIT=1 for header-split RX descriptors (128-byte headers).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "ivf.h"
#include "ktap.h"
#include "peer.h"
#include "util.h"

KTAP_DEFINE_STATE();

#define STREAM_VF_TO_PEER	1
#define STREAM_PEER_TO_VF	2
#define STALL_NS		(5ull * 1000000000ull)

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
			ktap_info("%s: frame seq %u len %zu: %s", s->name, seq,
				  len, frame_verdict_str(v));
		if (v == FRAME_BAD_ADDR)
			return;	/* the sequence number is still usable */
	}
	if (seq == s->expect) {
		s->expect++;
	} else if (seq < s->expect) {
		s->dup++;
	} else {
		if (s->reported++ < 5)
			ktap_info("%s: expected seq %u, got %u", s->name,
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
			ktap_info("%s: descriptor error status 0x%08x",
				  s->name, status);
	}
	rx_frame(s, data, len);
}

/* one frame from the peer must signal the RX vector's eventfd */
static void check_rx_irq(struct ivf *v, struct peer *p)
{
	uint8_t buf[FRAME_MIN];
	int ret, i;

	vfio_irq_wait(v->dev, IVF_VEC_RX, 0);	/* drop stale events */
	frame_build(buf, v->mac, p->mac, 3, 0, FRAME_MIN);
	ret = peer_send(p, buf, FRAME_MIN);
	if (!ktap_check(!ret, "peer sends an interrupt probe frame"))
		return;
	ret = vfio_irq_wait(v->dev, IVF_VEC_RX, 2000);
	ktap_check(ret == 1, "RX MSI-X vector %d fired (eventfd) for it",
		   IVF_VEC_RX);
	for (i = 0; i < 1000 && !ivf_rx_ready(v); i++)
		ivf_rx_wait(v, 1);
	ktap_check(ivf_rx_poll(v, NULL, NULL, 16) >= 1,
		   "interrupt probe frame received");
	ivf_wr(v, IVF_EIMS, 1u << IVF_VEC_RX);
}

int main(int argc, char **argv)
{
	const char *bdf = env_need("IVF_VF0");
	const char *ns = env_need("IVF_PEER_NS");
	const char *ifname = env_need("IVF_PEER_IF");
	const char *acc = env_get("IVF_ACCESS");
	const char *irq = env_get("IVF_IRQ");
	const char *want_mac = env_get("IVF_VF0_MAC");
	const char *split = env_get("IVF_HDR_SPLIT");
	struct ivf_ring_cfg cfg = {
		.rx_count = 256, .tx_count = 256, .buf_size = 2048,
		.hdr_split = split && strcmp(split, "0"), .hdr_size = 128,
		.iova_base = 0x10000000,
	};
	uint32_t nframes = argc > 1 ? strtoul(argv[1], NULL, 0) : 10000;
	uint32_t window = argc > 2 ? strtoul(argv[2], NULL, 0) : 32;
	struct rx_side at_peer = { .name = "peer rx", .stream = STREAM_VF_TO_PEER };
	struct rx_side at_vf = { .name = "vf rx", .stream = STREAM_PEER_TO_VF };
	uint32_t vf_sent = 0, peer_sent = 0, peer_send_err = 0;
	uint64_t t0, t1, last_progress;
	struct ivf_stats st0, st1;
	uint8_t mac[6], buf[2048];
	char m1[18], m2[18];
	struct vfio_dev d;
	struct peer p;
	struct ivf v;
	double secs;
	int ret;

	ktap_header("traffic: userspace VF <-> kernel igbvf peer");
	if (!nframes || !window)
		ktap_skip_all("bad arguments");

	ret = peer_open(&p, ns, ifname, FRAME_ETHERTYPE);
	if (!ktap_check(!ret, "AF_PACKET socket on %s in netns %s", ifname, ns)) {
		ktap_info("peer: %s", strerror(-ret));
		ktap_finish();
	}
	ret = vfio_dev_open(&d, bdf);
	if (!ktap_check(!ret, "open %s", bdf))
		ktap_finish();
	ret = ivf_open(&v, &d, acc && !strcmp(acc, "pio") ? IVF_ACCESS_PIO :
							     IVF_ACCESS_MMAP);
	if (!ktap_check(!ret, "userspace VF driver up (%s access to pages 1-3)",
			acc ? acc : "mmap"))
		goto out;
	ret = ivf_reset(&v);
	if (!ktap_check(!ret && v.cts, "VF reset handshake with the PF (CTS)")) {
		ktap_info("reset: %s", strerror(-ret));
		goto out;
	}
	ivf_format_mac(v.mac, m1);
	if (want_mac && !ivf_parse_mac(want_mac, mac))
		ktap_check(v.mac_valid && !memcmp(mac, v.mac, 6),
			   "PF reported the admin MAC %s (got %s)", want_mac, m1);
	ret = ivf_set_lpe(&v, 1522);
	ktap_check(!ret, "SET_LPE 1522 acked");
	ret = ivf_rings_setup(&v, &cfg);
	if (!ktap_check(!ret, "RX/TX rings set up (%s)",
			cfg.hdr_split ? "header split" : "one buffer"))
		goto out;
	if (!irq || strcmp(irq, "0")) {
		ret = ivf_irq_enable(&v);
		if (ktap_check(!ret, "MSI-X enabled"))
			check_rx_irq(&v, &p);
	}
	ivf_format_mac(p.mac, m2);
	ktap_info("vf %s mac %s, peer %s mac %s, %u frames each way, window %u",
		  bdf, m1, ifname, m2, nframes, window);

	at_peer.dst = p.mac;
	at_peer.src = v.mac;
	at_vf.dst = v.mac;
	at_vf.src = p.mac;
	ivf_read_stats(&v, &st0);

	t0 = last_progress = now_ns();
	for (;;) {
		bool progress = false;
		ssize_t n;
		int posted = 0;

		/* VF -> peer */
		while (vf_sent < nframes && vf_sent - at_peer.rcvd < window) {
			size_t len = frame_build(buf, p.mac, v.mac,
						 STREAM_VF_TO_PEER, vf_sent, 0);

			if (ivf_tx_post(&v, buf, len))
				break;
			vf_sent++;
			posted++;
		}
		if (posted) {
			ivf_tx_kick(&v);
			progress = true;
		}
		ivf_tx_clean(&v);

		/* peer -> VF */
		while (peer_sent < nframes && peer_sent - at_vf.rcvd < window) {
			size_t len = frame_build(buf, v.mac, p.mac,
						 STREAM_PEER_TO_VF, peer_sent, 0);

			ret = peer_send(&p, buf, len);
			if (ret) {
				if (peer_send_err++ < 3)
					ktap_info("peer send: %s", strerror(-ret));
				break;
			}
			peer_sent++;
			progress = true;
		}

		/* receive both sides */
		if (ivf_rx_poll(&v, vf_rx_cb, &at_vf, 64) > 0)
			progress = true;
		while ((n = peer_recv(&p, buf, sizeof(buf), 0)) > 0) {
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
			ktap_info("no progress for %llu s: stopping",
				  STALL_NS / 1000000000ull);
			break;
		}
		/* idle: wait a little (VF eventfd), then poll both again */
		ivf_rx_wait(&v, 1);
	}
	t1 = now_ns();
	ivf_tx_clean(&v);
	ivf_read_stats(&v, &st1);

	secs = (t1 - t0) / 1e9;
	ktap_info("vf->peer: sent %u rcvd %u ok %u lost %u dup %u bad %u foreign %u",
		  vf_sent, at_peer.rcvd, at_peer.ok, at_peer.lost + (vf_sent - at_peer.expect),
		  at_peer.dup, at_peer.bad, at_peer.foreign);
	ktap_info("peer->vf: sent %u rcvd %u ok %u lost %u dup %u bad %u foreign %u",
		  peer_sent, at_vf.rcvd, at_vf.ok, at_vf.lost + (peer_sent - at_vf.expect),
		  at_vf.dup, at_vf.bad, at_vf.foreign);
	ktap_check(vf_sent == nframes && at_peer.ok == nframes &&
		   at_peer.lost == 0 && at_peer.dup == 0 && at_peer.bad == 0,
		   "vf -> peer: %u/%u frames intact and in order", at_peer.ok,
		   nframes);
	ktap_check(peer_sent == nframes && at_vf.ok == nframes &&
		   at_vf.lost == 0 && at_vf.dup == 0 && at_vf.bad == 0,
		   "peer -> vf: %u/%u frames intact and in order", at_vf.ok,
		   nframes);
	ktap_check(v.rx_errors == 0 && v.io_errors == 0,
		   "no descriptor errors (%llu) and no register access errors (%lu)",
		   (unsigned long long)v.rx_errors, v.io_errors);
	ktap_check((uint32_t)(st1.gptc - st0.gptc) == vf_sent,
		   "VFGPTC advanced by the frames sent (%u == %u)",
		   st1.gptc - st0.gptc, vf_sent);
	ktap_check((uint32_t)(st1.gprc - st0.gprc) >= at_vf.rcvd,
		   "VFGPRC advanced by at least the frames received (%u >= %u)",
		   st1.gprc - st0.gprc, at_vf.rcvd);
	ktap_info("frames/s=%.0f (%u frames both ways in %.2f s, %s access)",
		  (vf_sent + peer_sent) / secs, vf_sent + peer_sent, secs,
		  acc ? acc : "mmap");
out:
	ivf_close(&v);
	vfio_dev_close(&d);
	peer_close(&p);
	ktap_finish();
}
