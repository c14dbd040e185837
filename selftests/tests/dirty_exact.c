// SPDX-License-Identifier: GPL-2.0
/*
 * dirty_exact: the container's dirty bitmap (type1 VFIO_IOMMU_DIRTY_PAGES
 * in pinned-page scope, fed by the driver's tracker) never misses a page
 * the VF wrote, checked against the memory itself (lib/dcheck.h). With
 * IVF_DIRTY=log or IVF_VFIO=cdev, the same through the device's DMA
 * logging (log_ops), over a container or iommufd.
 *
 * The userspace VF driver (lib/ivf.c) receives a sequenced stream from the
 * kernel peer and sends one back. Its RX refills hand out a new buffer
 * every time from a pool (lib/dtraffic.c), so buffers are armed, written
 * and retired all over memory. Buffers, pools and an idle region are filled
 * with a canary, tracking is engaged (container START, RUNNING ->
 * PRE_COPY), and rounds of GET_BITMAP + snapshot run while the traffic runs
 * in another thread; every 8th round holds the traffic still and checks
 * that every buffer the device owns is in the report. Traffic is then
 * stopped and the device quiesced (PRE_COPY_P2P) before the last two
 * rounds, so no DMA is in flight when the last pair is compared.
 *
 * So the test cannot pass by accident:
 * - the idle region (mapped, never used) must never be reported once
 *   tracking is engaged: reporting everything fails;
 * - a control run without engagement must see every mapped page reported
 *   in every round (plain type1 behaviour), nothing outside them;
 * - the checker is run once with one reported page taken out of a round's
 *   reports and must then find that miss; the rest check likewise with
 *   one owned buffer page taken out of a report;
 * - the traffic must have written most of the pool.
 *
 * Runs: 60 B frames; 60..1514 B with header split; jumbo 60..9000 B (LPE,
 * 9 KiB buffers across page boundaries) with and without header split.
 *
 * Usage: dirty_exact [frames-per-run [round-ms [runs]]]
 * (frames-per-run also from IVF_EXACT_FRAMES; default 26000)
 *   defaults 26000, 20, all runs; runs is a bit mask of the runs above
 * Env: IVF_VF0, IVF_PEER_NS, IVF_PEER_IF; IVF_MARK=1 writes EIMC before
 *   each GET_BITMAP (a marker for a QEMU trace of igb_irq_write_eimc).
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

struct run_cfg {
	const char *name;
	size_t min_len, max_len;
	unsigned int buf_size;
	bool split;
};

static const struct run_cfg runs[] = {
	{ "60 B frames, one buffer",		60,   60, 2048, false },
	{ "60..1514 B frames, header split",	60, 1514, 2048, true },
	{ "jumbo 60..9000 B, one buffer",	60, 9000, 9216, false },
	{ "jumbo 60..9000 B, header split",	60, 9000, 9216, true },
};

static int peer_mtu(const char *ns, const char *ifname, size_t max_len)
{
	unsigned int mtu = max_len > 1514 ? (unsigned int)max_len - 14 : 1500;

	return peer_set_mtu(ns, ifname, mtu);
}

/*
 * Control: no PRE_COPY, so the driver does not track and type1 reports
 * every mapped page in every round, and nothing else.
 */
static void control(const char *bdf, struct peer *p, const char *ns,
		    const char *ifname)
{
	struct dsess_cfg sc = { .snapshots = false };
	struct dtraffic_cfg tc = {
		.min_len = 60, .max_len = 1514, .window = 32, .tx_every = 4,
		.rx_target = 2000, .drain = true, .stall_ms = 300,
	};
	uint64_t *b, *mapped, dbg;
	struct dtraffic t;
	struct dsess s;
	size_t words;
	int ret, i, bad = 0;

	peer_mtu(ns, ifname, 1514);
	if (dsess_open(&s, bdf, &sc)) {
		ktap_check(false, "control: session set up");
		dsess_close(&s);
		return;
	}
	words = dmem_words(&s.m);
	b = calloc(words, 8);
	mapped = s.m.mapped;
	ret = dirty_start(&s.d);
	ktap_check(!ret, "control: container dirty tracking START (%s)",
		   ret ? strerror(-ret) : "ok");
	ret = dirty_get_dmem(&s.d, &s.m, b);
	ktap_check(!ret, "control: GET_BITMAP of %d mappings, 0x%llx..0x%llx (%zu mapped pages)",
		   s.m.n, (unsigned long long)s.m.lo,
		   (unsigned long long)s.m.hi, bm_count(mapped, s.m.npages));
	dtraffic_init(&t, &tc, &s.v, &s.rx, p);
	dtraffic_run(&t);
	dtraffic_print(&t, "control: ");
	ktap_check(dtraffic_clean(&t), "control: traffic without engagement is clean");
	for (i = 0; i < 2; i++) {
		ret = dirty_get_dmem(&s.d, &s.m, b);
		if (ret || memcmp(b, mapped, words * 8))
			bad++;
		ktap_info("control: round %d: %zu pages reported, %zu mapped, %zu reported outside mappings",
			  i, bm_count(b, s.m.npages), bm_count(mapped, s.m.npages),
			  bm_count_andnot(b, mapped, s.m.npages));
	}
	ktap_check(!bad, "control: without PRE_COPY every mapped page is reported in every round, nothing else");
	/* the same over one range spanning all mappings (type1 quirk, dirty.h) */
	ret = dirty_get(&s.d, s.m.lo, s.m.hi - s.m.lo, b);
	ktap_check(!ret && !bm_count_andnot(mapped, b, s.m.npages),
		   "control: one GET_BITMAP over the whole span reports every mapped page too (%zu reported outside mappings)",
		   ret ? 0 : bm_count_andnot(b, mapped, s.m.npages));
	dbg = dsess_dbg(&s, "tracking");
	ktap_check(dbg == 0, "control: the driver is not tracking (debugfs tracking %lld)",
		   (long long)dbg);
	dtraffic_free(&t);
	free(b);
	dsess_close(&s);
}

static void one_run(const char *bdf, const struct run_cfg *rc, struct peer *p,
		    const char *ns, const char *ifname, uint64_t frames,
		    unsigned int round_ms, uint64_t *total_frames,
		    uint64_t *total_lost)
{
	struct dsess_cfg sc = {
		.buf_size = rc->buf_size, .hdr_split = rc->split,
		.hdr_size = 256, .snapshots = true,
		.max_frame = rc->max_len + 8 > 1522 ? rc->max_len + 8 : 1522,
	};
	struct dtraffic_cfg tc = {
		.min_len = rc->min_len, .max_len = rc->max_len, .window = 32,
		.tx_every = 4, .rx_target = frames, .drain = true,
		.stall_ms = 300,
	};
	uint64_t *posted, quiet = 0, t0, polls, fwd, pool_pages, extra = 0;
	uint64_t first_lap_left;
	char dbg[1024], *q;
	struct dcheck ck;
	struct dtraffic t;
	struct dsess s;
	size_t w;
	int ret;

	ktap_info("--- %s: %llu frames", rc->name, (unsigned long long)frames);
	if (peer_mtu(ns, ifname, rc->max_len))
		ktap_info("could not set the peer's MTU");
	if (dsess_open(&s, bdf, &sc) || dcheck_init(&ck, &s, rc->name)) {
		ktap_check(false, "%s: session set up", rc->name);
		dsess_close(&s);
		return;
	}
	dsess_canary(&s, 0x5a5a0000u ^ (uint32_t)rc->buf_size);
	ret = dsess_engage(&s);
	if (!ktap_check(!ret, "%s: tracking engaged (START, RUNNING -> PRE_COPY)",
			rc->name))
		goto out;
	ktap_check(dsess_dbg(&s, "tracking") == 1,
		   "%s: debugfs says tracking 1 (%lld)", rc->name,
		   (long long)dsess_dbg(&s, "tracking"));
	ret = dcheck_begin(&ck);
	if (!ktap_check(!ret, "%s: first GET_BITMAP (%s)", rc->name,
			ret ? strerror(-ret) : "ok"))
		goto out;

	dtraffic_init(&t, &tc, &s.v, &s.rx, p);
	t0 = now_ns();
	ret = dtraffic_start(&t);
	if (!ktap_check(!ret, "%s: traffic thread", rc->name))
		goto out_t;
	while (!__atomic_load_n(&t.done, __ATOMIC_ACQUIRE) && !ret) {
		usleep(round_ms * 1000);
		if (ck.rounds % 8 == 7)
			ret = dcheck_rest_round(&ck, &t);
		else
			ret = dcheck_round(&ck);
	}
	dtraffic_stop(&t);
	/* the device writes the ring last (dtraffic_flush()) */
	if (!ret)
		dtraffic_flush(&t, 4);
	/* no DMA after this: the last rounds compare a still device */
	if (!ret)
		ret = dsess_state(&s, VFIO_DEVICE_STATE_PRE_COPY_P2P);
	ktap_check(!ret, "%s: traffic stopped, device quiesced (PRE_COPY_P2P) (%s)",
		   rc->name, ret ? strerror(-ret) : "ok");
	if (!ret)
		ret = dcheck_end(&ck, &quiet);
	ktap_check(!ret, "%s: %llu rounds of GET_BITMAP + snapshot in %.1f s (%s)",
		   rc->name, (unsigned long long)ck.rounds,
		   (now_ns() - t0) / 1e9, ret ? strerror(-ret) : "ok");
	dtraffic_print(&t, "");
	*total_frames += t.vf_rcvd;
	*total_lost += t.vf_lost;

	ktap_check(!t.vf_bad && !t.vf_dup && !t.peer_bad && !t.rx->errors &&
		   t.vf_rcvd + t.vf_lost >= frames && t.peer_rcvd == t.vf_sent,
		   "%s: %llu frames in, %llu out, none corrupted or duplicated",
		   rc->name, (unsigned long long)t.vf_rcvd,
		   (unsigned long long)t.peer_rcvd);
	if (t.vf_lost)
		ktap_info("%s: %llu frames to the VF lost (%.2f%%): dropped by the device for lack of descriptors while the shadowed tail waited for the poller",
			  rc->name, (unsigned long long)t.vf_lost,
			  100.0 * t.vf_lost / (t.vf_lost + t.vf_rcvd));
	ktap_check(ck.misses == 0,
		   "%s: no page the device wrote missing from the reports (%llu misses over %llu page changes)",
		   rc->name, (unsigned long long)ck.misses,
		   (unsigned long long)ck.changed);
	/*
	 * DMA logging reports what the device may write; type1 (debugfs
	 * pulsing 1) what it wrote, so owned buffers and rings are not in
	 * every report there.
	 */
	if (!ck.pulse)
		ktap_check(ck.rest_rounds && !ck.rest_unreported,
			   "%s: with traffic held still, every buffer the device owns is reported (%llu rounds, %llu pages missing)",
			   rc->name, (unsigned long long)ck.rest_rounds,
			   (unsigned long long)ck.rest_unreported);
	ktap_check(ck.mutated && ck.mutation_caught,
		   "%s: checker finds a miss when one reported page is taken out of a report",
		   rc->name);
	if (!ck.pulse)
		ktap_check(ck.rest_mutated && ck.rest_mutation_caught,
			   "%s: rest check finds an owned buffer page taken out of a report",
			   rc->name);
	else
		ktap_check(dsess_dbg(&s, "pulses") > 0,
			   "%s: pulsing: %lld pages pulsed",
			   rc->name, (long long)dsess_dbg(&s, "pulses"));
	ktap_check(!quiet, "%s: nothing changed after quiescing (%llu pages)",
		   rc->name, (unsigned long long)quiet);
	ktap_check(!ck.idle_reported && !ck.idle_changed,
		   "%s: idle region (%zu pages) never reported (%llu) nor written (%llu)",
		   rc->name, (size_t)(s.idle.size / DIRTY_PGSIZE),
		   (unsigned long long)ck.idle_reported,
		   (unsigned long long)ck.idle_changed);
	if (!ck.pulse)
		ktap_check(!ck.ring_missing,
			   "%s: ring pages in every report (%llu absences)",
			   rc->name, (unsigned long long)ck.ring_missing);
	pool_pages = s.pool.size / DIRTY_PGSIZE;
	ktap_check(dcheck_region_written(&ck, s.r_pool) * 2 >= pool_pages,
		   "%s: the traffic wrote %llu of %llu pool pages", rc->name,
		   (unsigned long long)dcheck_region_written(&ck, s.r_pool),
		   (unsigned long long)pool_pages);

	/* the first lap's buffers were retired long ago: no longer reported */
	memset(ck.tmp1, 0, ck.words * 8);
	dmem_mark_range(&s.m, s.v.rx_buf_dma.iova, s.v.rx_buf_dma.size, ck.tmp1);
	if (rc->split)
		dmem_mark_range(&s.m, s.v.rx_hdr_dma.iova, s.v.rx_hdr_dma.size,
				ck.tmp1);
	first_lap_left = 0;
	for (w = 0; w < ck.words; w++)
		first_lap_left += __builtin_popcountll(ck.tmp1[w] &
						       dcheck_last_report(&ck)[w]);
	ktap_check(!first_lap_left || t.vf_rcvd < 2 * s.v.rx_count,
		   "%s: buffers of the first lap no longer reported (%llu pages)",
		   rc->name, (unsigned long long)first_lap_left);
	posted = calloc(ck.words, 8);
	rxpool_mark_posted(&s.rx, posted);
	for (w = 0; w < ck.words; w++)
		extra += __builtin_popcountll(dcheck_last_report(&ck)[w] &
					      ~(posted[w] | ck.rings[w]));
	ktap_info("%s: after quiescing %zu pages reported (debugfs armed %lld), %llu of them neither ring nor a posted buffer",
		  rc->name, bm_count(dcheck_last_report(&ck), ck.npages),
		  (long long)dsess_dbg(&s, "armed"),
		  (unsigned long long)extra);
	free(posted);
	if (!ivf_dbg_read(s.d.bdf, "dirty", dbg, sizeof(dbg))) {
		for (q = dbg; *q; q++)
			if (*q == '\n')
				*q = ' ';
		ktap_info("%s: debugfs dirty: %s", rc->name, dbg);
	}
	polls = dsess_dbg(&s, "polls");
	fwd = dsess_dbg(&s, "forwarded_tails");
	ktap_check(polls && polls != UINT64_MAX && fwd && fwd != UINT64_MAX,
		   "%s: the doorbell shadow was in the path (debugfs polls %lld, forwarded_tails %lld)",
		   rc->name, (long long)polls, (long long)fwd);
	dcheck_print(&ck);
	ktap_info("%s: mapped %zu pages", rc->name,
		  bm_count(s.m.mapped, s.m.npages));
out_t:
	dtraffic_free(&t);
out:
	dcheck_free(&ck);
	dsess_close(&s);
}

int main(int argc, char **argv)
{
	const char *bdf = env_need("IVF_VF0");
	const char *ns = env_need("IVF_PEER_NS");
	const char *ifname = env_need("IVF_PEER_IF");
	const char *fenv = env_get("IVF_EXACT_FRAMES");
	uint64_t frames = argc > 1 ? strtoull(argv[1], NULL, 0) :
			  fenv ? strtoull(fenv, NULL, 0) : 26000;
	unsigned int round_ms = argc > 2 ? strtoul(argv[2], NULL, 0) : 20;
	unsigned long mask = argc > 3 ? strtoul(argv[3], NULL, 0) : ~0ul;
	uint64_t total = 0, lost = 0, t0 = now_ns();
	uint64_t flags = 0, pgsizes = 0, maxbm = 0;
	struct vfio_dev d;
	struct peer p;
	size_t i;
	int ret;

	ktap_header("dirty_exact: every page the VF writes is reported");
	ret = vfio_dev_open(&d, bdf);
	if (!ktap_check(!ret, "open %s", bdf))
		ktap_finish();
	ret = dirty_caps(&d, &pgsizes, &maxbm);
	ktap_check(!ret && (pgsizes & DIRTY_PGSIZE),
		   "%s offers dirty tracking with 4 KiB pages (pgsizes 0x%llx, max bitmap %llu bytes)",
		   d.dirty_log ? "the device's DMA logging" : "the container",
		   (unsigned long long)pgsizes, (unsigned long long)maxbm);
	ret = mig_flags(&d, &flags);
	vfio_dev_close(&d);
	if (ret || !(flags & VFIO_MIGRATION_PRE_COPY))
		ktap_skip_all("no PRE_COPY on %s (%s, flags 0x%llx)", bdf,
			      ret ? strerror(-ret) : "ok",
			      (unsigned long long)flags);

	ret = peer_open(&p, ns, ifname, FRAME_ETHERTYPE);
	if (!ktap_check(!ret, "peer socket on %s in %s", ifname, ns))
		ktap_finish();
	if (!d.dirty_log)
		control(bdf, &p, ns, ifname);
	else
		ktap_info("DMA logging: no control run (before START nothing is reported at all: dirty_log checks that)");
	for (i = 0; i < sizeof(runs) / sizeof(runs[0]); i++)
		if (mask & (1ul << i))
			one_run(bdf, &runs[i], &p, ns, ifname, frames, round_ms,
				&total, &lost);
	peer_mtu(ns, ifname, 1514);
	ktap_info("%llu frames received by the VF while tracking (%llu lost), in %.1f s",
		  (unsigned long long)total, (unsigned long long)lost,
		  (now_ns() - t0) / 1e9);
	peer_close(&p);
	ktap_finish();
}
