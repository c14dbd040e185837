// SPDX-License-Identifier: GPL-2.0
/*
 * bench_dirty: what dirty tracking costs and saves, tracked (RUNNING ->
 * PRE_COPY: the driver pins each page the device wrote for an instant,
 * type1 reports those)
 * against untracked (no PRE_COPY: plain vfio-pci behaviour, type1 reports
 * every mapped page), alternating repeat by repeat on the same VF so host
 * load drift hits both alike.
 *
 * Each repeat opens the VF with a guest memory of MiB (default 256) mapped:
 * rings, buffers, an RX buffer pool and the rest idle. RX traffic from the
 * kernel peer (60 B frames, window 32, one frame back per 4) runs for
 * @frames frames while a VMM-like loop takes a GET_BITMAP every 100 ms.
 * Per mode:
 *   dirty-pages   pages reported per precopy round (after the first)
 *   fps           frames per second (both directions)
 *   lost          frames dropped by the device for lack of descriptors
 *   get-bitmap-us one GET_BITMAP over the whole mapped range
 *   doorbell-lag  ms from ringing RDT with the device out of descriptors
 *                 to the first frame in (probes every 200 us): the extra
 *                 RX latency of the shadowed doorbell
 * and the ratios tracked/untracked. Median and min..max over the repeats.
 *
 * Usage: bench_dirty [BDF [frames [repeats [MiB]]]]
 *   defaults IVF_VF0, 4000, 5, 256
 * Env: IVF_PEER_NS, IVF_PEER_IF.
 * Exit: 0, 1 if a repeat could not run or the stream got corrupted, 4 skip.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dirty.h"
#include "dtraffic.h"
#include "frame.h"
#include "ktap.h"
#include "util.h"

KTAP_DEFINE_STATE();

#define M_UNTRACKED	0
#define M_TRACKED	1
#define ROUND_MS	100

struct sample {
	double pages, fps, lost, get_us, lag_ms;
};

static const char *mode_name[] = { "untracked", "tracked" };

static int one(const char *bdf, struct peer *p, bool tracked, uint64_t frames,
	       size_t mib, struct sample *out, size_t *mapped)
{
	struct dsess_cfg sc = { .idle = mib << 20, .snapshots = false };
	struct dtraffic_cfg tc = {
		.min_len = 60, .max_len = 60, .window = 32, .tx_every = 4,
		.rx_target = frames, .drain = true, .stall_ms = 200,
	};
	double rounds[256], gets[8];
	unsigned int nr = 0, ng = 0, i;
	struct dtraffic t;
	struct dsess s;
	uint64_t *bm, t0;
	size_t span;
	int ret;

	ret = dsess_open(&s, bdf, &sc);
	if (ret) {
		dsess_close(&s);
		return ret;
	}
	bm = calloc(dmem_words(&s.m), 8);
	*mapped = bm_count(s.m.mapped, s.m.npages);
	span = s.m.hi - s.m.lo;
	ret = tracked ? dsess_engage(&s) : dirty_start(&s.d);
	ret = ret ?: dirty_get_dmem(&s.d, &s.m, bm);
	if (ret)
		goto out;
	dtraffic_init(&t, &tc, &s.v, &s.rx, p);
	ret = dtraffic_start(&t);
	while (!ret && !__atomic_load_n(&t.done, __ATOMIC_ACQUIRE)) {
		usleep(ROUND_MS * 1000);
		ret = dirty_get_dmem(&s.d, &s.m, bm);
		if (!ret && nr < 256)
			rounds[nr++] = bm_count(bm, s.m.npages);
	}
	dtraffic_stop(&t);
	if (ret || t.vf_bad || t.vf_dup || t.peer_bad) {
		ret = ret ?: -EBADMSG;
		goto out_t;
	}
	out->pages = nr ? stats_median(rounds, nr) : 0;
	out->fps = t.t_ns ? (t.vf_rcvd + t.peer_rcvd) * 1e9 / t.t_ns : 0;
	out->lost = t.vf_lost;
	/* one GET over the whole range, as one ioctl */
	for (i = 0; i < 8; i++) {
		t0 = now_ns();
		ret = dirty_get(&s.d, s.m.lo, span, bm);
		gets[ng++] = (now_ns() - t0) / 1e3;
		if (ret)
			goto out_t;
	}
	out->get_us = stats_median(gets, ng);
	out->lag_ms = dsess_doorbell_lag(&s, p, 200);
	if (out->lag_ms < 0)
		ret = -ETIMEDOUT;
out_t:
	dtraffic_free(&t);
out:
	free(bm);
	dsess_close(&s);
	return ret;
}

static void line(const char *what, const char *unit, double *v, unsigned int n,
		 int mode, const char *extra)
{
	double lo = stats_min(v, n), hi = stats_max(v, n), med = stats_median(v, n);

	printf("# %s median=%.*f min=%.*f max=%.*f mode=%s%s%s\n", what,
	       med < 10 ? 2 : 0, med, lo < 10 ? 2 : 0, lo, hi < 10 ? 2 : 0, hi,
	       mode_name[mode], unit, extra);
}

int main(int argc, char **argv)
{
	const char *bdf = argc > 1 ? argv[1] : env_get("IVF_VF0");
	uint64_t frames = argc > 2 ? strtoull(argv[2], NULL, 0) : 4000;
	unsigned int reps = argc > 3 ? strtoul(argv[3], NULL, 0) : 5;
	size_t mib = argc > 4 ? strtoull(argv[4], NULL, 0) : 256;
	const char *ns = env_get("IVF_PEER_NS"), *ifname = env_get("IVF_PEER_IF");
	double v[2][5][64], ratio[64];
	struct sample smp[2][64];
	size_t mapped = 0;
	char extra[96];
	unsigned int r, m, n = 0;
	struct peer p;
	int ret, rc = KTAP_PASS;

	if (!bdf || !ns || !ifname || !frames || !reps || reps > 64 || !mib)
		ktap_skip_all("usage: bench_dirty [BDF [frames [repeats [MiB]]]] with IVF_PEER_NS/IF");
	ret = peer_open(&p, ns, ifname, FRAME_ETHERTYPE);
	if (ret)
		ktap_skip_all("no peer: %s", strerror(-ret));
	peer_set_mtu(ns, ifname, 1500);
	printf("# bench_dirty %s frames=%llu repeats=%u guest-memory=%zu MiB\n",
	       bdf, (unsigned long long)frames, reps, mib);
	for (r = 0; r < reps; r++) {
		for (m = 0; m < 2; m++) {
			/* alternate which mode goes first */
			int mode = (r + m) % 2;

			ret = one(bdf, &p, mode == M_TRACKED, frames, mib,
				  &smp[mode][n], &mapped);
			printf("# repeat %u %s: %s; pages/round %.0f, fps %.0f, lost %.0f, GET %.0f us, doorbell lag %.2f ms\n",
			       r, mode_name[mode], ret ? strerror(-ret) : "ok",
			       smp[mode][n].pages, smp[mode][n].fps,
			       smp[mode][n].lost, smp[mode][n].get_us,
			       smp[mode][n].lag_ms);
			if (ret)
				rc = KTAP_FAIL;
		}
		if (rc == KTAP_FAIL)
			break;
		n++;
	}
	if (!n) {
		peer_close(&p);
		return KTAP_FAIL;
	}
	for (m = 0; m < 2; m++) {
		for (r = 0; r < n; r++) {
			v[m][0][r] = smp[m][r].pages;
			v[m][1][r] = smp[m][r].fps;
			v[m][2][r] = smp[m][r].lost;
			v[m][3][r] = smp[m][r].get_us;
			v[m][4][r] = smp[m][r].lag_ms;
		}
		snprintf(extra, sizeof(extra), " mapped=%zu (%.0f MiB)", mapped,
			 mapped * 4096.0 / (1 << 20));
		line("dirty-pages", " unit=pages/round", v[m][0], n, m, extra);
		line("dirty-fps", " unit=frames/s", v[m][1], n, m, "");
		line("dirty-lost", " unit=frames", v[m][2], n, m, "");
		line("dirty-get-bitmap", " unit=us", v[m][3], n, m, extra);
		line("dirty-doorbell-lag", " unit=ms", v[m][4], n, m, "");
	}
	for (r = 0; r < n; r++)
		ratio[r] = smp[M_UNTRACKED][r].pages ?
			   smp[M_TRACKED][r].pages / smp[M_UNTRACKED][r].pages : 0;
	printf("# dirty-pages-ratio tracked/untracked median=%.4f min=%.4f max=%.4f\n",
	       stats_median(ratio, n), stats_min(ratio, n), stats_max(ratio, n));
	for (r = 0; r < n; r++)
		ratio[r] = smp[M_UNTRACKED][r].fps ?
			   smp[M_TRACKED][r].fps / smp[M_UNTRACKED][r].fps : 0;
	printf("# dirty-fps-ratio tracked/untracked median=%.3f min=%.3f max=%.3f\n",
	       stats_median(ratio, n), stats_min(ratio, n), stats_max(ratio, n));
	for (r = 0; r < n; r++)
		ratio[r] = smp[M_TRACKED][r].lag_ms - smp[M_UNTRACKED][r].lag_ms;
	printf("# dirty-doorbell-extra tracked-untracked median=%.2f min=%.2f max=%.2f unit=ms\n",
	       stats_median(ratio, n), stats_min(ratio, n), stats_max(ratio, n));
	peer_close(&p);
	return rc;
}
