// SPDX-License-Identifier: GPL-2.0
/*
 * bench_fps: frames per second through one VF's data path, driven from
 * userspace through VFIO (RDT/TDT doorbells through the BAR0 mmap of pages
 * 1-3, or through pwrite with --pio).
 *
 * Default mode is self-loopback: the VF sends to its own MAC and QEMU's igb
 * VMDq switch delivers the frame back to the same pool.  If that does not
 * work (checked with a probe frame first), and IVF_PEER_NS/IVF_PEER_IF are
 * set, a kernel peer echoes the frames back instead (--peer forces it).
 *
 * By default it uses whatever driver the VF is bound to: run it once under
 * vfio-pci and once under igbvf-vfio-pci and compare the "# fps" lines.
 * With --compare it rebinds the VF itself and alternates stock vfio-pci and
 * the variant (IVF_DRIVER, default igbvf-vfio-pci) repeat by repeat, so a
 * drifting host load hits both alike; the VF is left on the variant.
 *
 * Usage: bench_fps [options] BDF [frames [repeats]]
 *   --pio        pages 1-3 through pread/pwrite instead of mmap
 *   --len N      frame length (60..1514, default 60)
 *   --window N   frames in flight (default 64)
 *   --peer       echo through the kernel peer instead of loopback
 *   --compare    A/B against stock vfio-pci (see above)
 * Output: "# repeat i: fps=..." lines and per driver
 *   "# fps median=M min=A max=B driver=D access=X mode=Y len=L frames=N"
 *   with --compare also "# fps-ratio variant/vfio-pci median=R min=A max=B",
 *   over the repeats' pairs (each vfio-pci repeat and the variant's after it)
 * Exit: 0 ok, 1 lost/corrupted frames or setup failure, 4 skipped.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "ivf.h"
#include "ktap.h"
#include "peer.h"
#include "util.h"

KTAP_DEFINE_STATE();

#define STREAM	7
#define STALL_NS (3ull * 1000000000ull)

struct rx_ctx {
	const uint8_t *dst, *src;
	size_t len;
	uint32_t expect, rcvd, bad;
};

static void rx_cb(void *arg, const uint8_t *data, uint32_t len,
		  uint32_t status)
{
	struct rx_ctx *c = arg;
	uint32_t seq = 0;

	(void)status;
	if (frame_check(data, len, c->dst, c->src, STREAM, c->len, &seq) ==
	    FRAME_FOREIGN)
		return;
	c->rcvd++;
	if (seq != c->expect ||
	    frame_check(data, len, c->dst, c->src, STREAM, c->len, &seq) !=
	    FRAME_OK)
		c->bad++;
	c->expect = seq + 1;
}

/* ---- echo peer (fallback) ---- */
struct echo {
	struct peer p;
	uint8_t vf_mac[6];
	volatile int stop;
	uint64_t echoed;
};

static void *echo_thread(void *arg)
{
	struct echo *e = arg;
	uint8_t buf[2048];
	ssize_t n;

	while (!e->stop) {
		n = peer_recv(&e->p, buf, sizeof(buf), 100);
		if (n <= 0)
			continue;
		/* back to the VF, with the peer as source */
		memcpy(buf, e->vf_mac, 6);
		memcpy(buf + 6, e->p.mac, 6);
		if (!peer_send(&e->p, buf, n))
			e->echoed++;
	}
	return NULL;
}

static int run_once(struct ivf *v, const uint8_t *dst, const uint8_t *src,
		    struct rx_ctx *c, uint32_t n, uint32_t window,
		    size_t len, double *fps)
{
	uint8_t buf[2048];
	uint32_t sent = 0;
	uint64_t t0, last;

	c->expect = c->rcvd = c->bad = 0;
	t0 = last = now_ns();
	while (c->rcvd < n) {
		int posted = 0, got;

		while (sent < n && sent - c->rcvd < window) {
			frame_build(buf, dst, src, STREAM, sent, len);
			if (ivf_tx_post(v, buf, len))
				break;
			sent++;
			posted++;
		}
		if (posted)
			ivf_tx_kick(v);
		ivf_tx_clean(v);
		got = ivf_rx_poll(v, rx_cb, c, 64);
		if (got > 0 || posted) {
			last = now_ns();
		} else if (now_ns() - last > STALL_NS) {
			printf("# stalled: sent %u received %u\n", sent, c->rcvd);
			break;
		}
	}
	*fps = c->rcvd / ((now_ns() - t0) / 1e9);
	return c->rcvd == n && !c->bad ? 0 : -EIO;
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_fps [--pio] [--len N] [--window N] [--peer] [--compare] BDF [frames [repeats]]\n");
	exit(KTAP_SKIP);
}

struct opts {
	const char *bdf;
	enum ivf_access acc;
	uint32_t frames, window;
	size_t len;
	bool force_peer;
};

/*
 * One bring-up of the VF under its current driver, then @nrep timed
 * repeats into @fps.  Returns 0 if every frame came back intact.
 */
static int session(const struct opts *o, double *fps, unsigned int nrep,
		   const char **mode)
{
	struct echo echo = { .p.fd = -1 };
	bool echo_running = false, use_peer = false;
	struct rx_ctx c = { 0 };
	pthread_t echo_th;
	struct vfio_dev d;
	struct ivf v;
	unsigned int i;
	int ret, rc = 0;

	ret = vfio_dev_open(&d, o->bdf);
	if (ret) {
		printf("# open %s: %s\n", o->bdf, strerror(-ret));
		return -1;
	}
	ret = ivf_open(&v, &d, o->acc);
	if (!ret)
		ret = ivf_reset(&v);
	if (!ret)
		ret = ivf_set_lpe(&v, 1522);
	if (!ret)
		ret = ivf_rings_setup(&v, NULL);
	if (ret) {
		printf("# VF bring-up failed: %s\n", strerror(-ret));
		rc = -1;
		goto out;
	}

	/* probe self-loopback with a few frames */
	c.dst = c.src = v.mac;
	c.len = o->len;
	if (!o->force_peer) {
		double f;

		ret = run_once(&v, v.mac, v.mac, &c, 4, 4, o->len, &f);
		use_peer = ret != 0;
		if (ret)
			printf("# self-loopback probe FAILED (%u/4 frames back)\n",
			       c.rcvd);
	}
	if (o->force_peer || use_peer) {
		const char *ns = env_get("IVF_PEER_NS");
		const char *pif = env_get("IVF_PEER_IF");

		use_peer = true;
		if (!ns || !pif) {
			printf("# no loopback and no IVF_PEER_NS/IVF_PEER_IF\n");
			rc = -1;
			goto out;
		}
		ret = peer_open(&echo.p, ns, pif, FRAME_ETHERTYPE);
		if (ret) {
			printf("# peer: %s\n", strerror(-ret));
			rc = -1;
			goto out;
		}
		memcpy(echo.vf_mac, v.mac, 6);
		if (pthread_create(&echo_th, NULL, echo_thread, &echo)) {
			rc = -1;
			goto out;
		}
		echo_running = true;
		c.src = echo.p.mac;
		/* drain anything left from the probe */
		ivf_rx_poll(&v, NULL, NULL, 1 << 20);
	}
	*mode = use_peer ? "peer-echo" : "loopback";

	for (i = 0; i < nrep; i++) {
		ret = run_once(&v, use_peer ? echo.p.mac : v.mac, v.mac, &c,
			       o->frames, o->window, o->len, &fps[i]);
		printf("# repeat: fps=%.0f received=%u bad=%u\n", fps[i],
		       c.rcvd, c.bad);
		if (ret)
			rc = -1;
	}
	if (v.io_errors)
		rc = -1;
out:
	if (echo_running) {
		echo.stop = 1;
		pthread_join(echo_th, NULL);
	}
	peer_close(&echo.p);
	ivf_close(&v);
	vfio_dev_close(&d);
	return rc;
}

static void summary(const struct opts *o, double *fps, unsigned int n,
		    const char *drv, const char *mode, double *median)
{
	double lo = stats_min(fps, n), hi = stats_max(fps, n);

	*median = stats_median(fps, n);
	printf("# fps median=%.0f min=%.0f max=%.0f driver=%s access=%s mode=%s len=%zu frames=%u\n",
	       *median, lo, hi, drv, o->acc == IVF_ACCESS_MMAP ? "mmap" : "pio",
	       mode, o->len, o->frames);
}

int main(int argc, char **argv)
{
	struct opts o = {
		.acc = IVF_ACCESS_MMAP, .frames = 5000, .window = 64, .len = 60,
	};
	const char *mode = "?", *variant = ivf_driver_name();
	uint32_t repeats = 5;
	bool compare = false;
	double *fps, *fps2, *ratio, m1, m2;
	char drv[64] = "";
	int i, pos = 0, rc = KTAP_PASS;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--pio"))
			o.acc = IVF_ACCESS_PIO;
		else if (!strcmp(argv[i], "--peer"))
			o.force_peer = true;
		else if (!strcmp(argv[i], "--compare"))
			compare = true;
		else if (!strcmp(argv[i], "--len") && i + 1 < argc)
			o.len = strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--window") && i + 1 < argc)
			o.window = strtoul(argv[++i], NULL, 0);
		else if (argv[i][0] == '-')
			usage();
		else if (pos == 0 && ++pos)
			o.bdf = argv[i];
		else if (pos == 1 && ++pos)
			o.frames = strtoul(argv[i], NULL, 0);
		else if (pos == 2 && ++pos)
			repeats = strtoul(argv[i], NULL, 0);
		else
			usage();
	}
	if (!o.bdf)
		o.bdf = env_get("IVF_VF0");
	if (!o.bdf || !o.frames || !repeats || !o.window ||
	    o.len < FRAME_MIN || o.len > FRAME_MAX)
		usage();
	fps = calloc(repeats, sizeof(*fps));
	fps2 = calloc(repeats, sizeof(*fps2));
	ratio = calloc(repeats, sizeof(*ratio));
	if (!fps || !fps2 || !ratio)
		return KTAP_FAIL;

	sysfs_pci_driver(o.bdf, drv, sizeof(drv));
	printf("# bench_fps %s driver=%s access=%s len=%zu frames=%u repeats=%u window=%u%s\n",
	       o.bdf, compare ? "vfio-pci+variant" : drv,
	       o.acc == IVF_ACCESS_MMAP ? "mmap" : "pio", o.len, o.frames,
	       repeats, o.window, compare ? " compare" : "");
	if (!compare) {
		if (session(&o, fps, repeats, &mode))
			rc = KTAP_FAIL;
		summary(&o, fps, repeats, drv, mode, &m1);
		goto out;
	}

	for (i = 0; i < (int)repeats; i++) {
		int ret = sysfs_pci_bind(o.bdf, "vfio-pci");

		if (ret || session(&o, &fps[i], 1, &mode)) {
			printf("# vfio-pci round %d failed (%s)\n", i,
			       ret ? strerror(-ret) : "session");
			rc = KTAP_FAIL;
			break;
		}
		ret = sysfs_pci_bind(o.bdf, variant);
		if (ret || session(&o, &fps2[i], 1, &mode)) {
			printf("# %s round %d failed (%s)\n", variant, i,
			       ret ? strerror(-ret) : "session");
			rc = KTAP_FAIL;
			break;
		}
	}
	sysfs_pci_bind(o.bdf, variant);
	if (rc == KTAP_PASS) {
		/* by pair, before summary() sorts fps[] and fps2[] */
		for (i = 0; i < (int)repeats; i++)
			ratio[i] = fps[i] > 0 ? fps2[i] / fps[i] : 0;
		summary(&o, fps, repeats, "vfio-pci", mode, &m1);
		summary(&o, fps2, repeats, variant, mode, &m2);
		printf("# fps-ratio variant/vfio-pci median=%.3f min=%.3f max=%.3f\n",
		       stats_median(ratio, repeats), stats_min(ratio, repeats),
		       stats_max(ratio, repeats));
	}
out:
	free(fps);
	free(fps2);
	free(ratio);
	printf("# result: %s\n", rc ? "FAIL" : "ok");
	return rc;
}
