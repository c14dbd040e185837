// SPDX-License-Identifier: GPL-2.0
/*
 * dirty_contract: the dirty tracker's contract, one scenario at a time.
 *
 * arming   step by step (send k frames, receive them, re-post with new
 *          buffers, wait for the poller): after every step each buffer the
 *          device owns must be in the report, and no buffer it does not own
 *          any more may stay pinned for long (it would mean the tracker
 *          pins what it read from a stale ring).
 *
 * Usage: dirty_contract [steps]
 * Env: IVF_VF0, IVF_PEER_NS, IVF_PEER_IF.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dirty.h"
#include "dtraffic.h"
#include "frame.h"
#include "ktap.h"
#include "mig.h"
#include "util.h"

KTAP_DEFINE_STATE();

static const char *bdf, *ns, *ifname;
static struct peer peer;

/* wait until the poller ran @n more times; false on timeout */
static bool wait_polls(struct dsess *s, unsigned int n)
{
	uint64_t p0 = dsess_dbg(s, "polls"), p;
	int i;

	for (i = 0; i < 4000; i++) {
		p = dsess_dbg(s, "polls");
		if (p == UINT64_MAX)
			return false;
		if (p >= p0 + n)
			return true;
		usleep(250);
	}
	return false;
}

static void rx_count_cb(void *arg, const uint8_t *data, uint32_t len,
			uint32_t status)
{
	(void)data;
	(void)len;
	(void)status;
	(*(unsigned int *)arg)++;
}

/* send @k frames from the peer, receive them all; frames received */
static unsigned int step_frames(struct dsess *s, unsigned int k, uint32_t *seq)
{
	uint8_t buf[2048];
	unsigned int got = 0, i;
	uint64_t t0;

	for (i = 0; i < k; i++) {
		size_t len = frame_build(buf, s->v.mac, peer.mac,
					 DT_STREAM_TO_VF, (*seq)++, FRAME_MIN);

		if (peer_send(&peer, buf, len))
			break;
	}
	t0 = now_ns();
	while (got < k && now_ns() - t0 < 2000000000ull) {
		if (rxpool_poll(&s->rx, rx_count_cb, &got, 64) <= 0)
			usleep(100);
	}
	return got;
}

static void test_arming(unsigned int steps)
{
	struct dsess_cfg sc = { .snapshots = false };
	uint64_t *b, *owned, *pool_bm;
	unsigned int i, bad_owned = 0, fail_at = 0, lost = 0;
	uint32_t seq = 0, hist_k[8] = { 0 }, hist_rdt[8] = { 0 };
	uint64_t stale_max = 0;
	struct dsess s;
	size_t words, w;
	int ret;

	if (dsess_open(&s, bdf, &sc)) {
		ktap_check(false, "arming: session");
		dsess_close(&s);
		return;
	}
	words = dmem_words(&s.m);
	b = calloc(words, 8);
	owned = calloc(words, 8);
	pool_bm = calloc(words, 8);
	dmem_mark_range(&s.m, s.pool.iova, s.pool.size, pool_bm);
	ret = dsess_engage(&s);
	if (!ktap_check(!ret, "arming: tracking engaged"))
		goto out;
	srand(1);
	for (i = 0; i < steps; i++) {
		unsigned int k = 1 + rand() % 40, got;
		uint64_t stale = 0;

		got = step_frames(&s, k, &seq);
		lost += k - got;
		hist_k[i % 8] = k;
		hist_rdt[i % 8] = ivf_rd(&s.v, IVF_RDT(0));
		if (!wait_polls(&s, 3)) {
			ktap_info("arming: the poller does not run");
			bad_owned++;
			break;
		}
		ret = dirty_get_dmem(&s.d, &s.m, b);
		if (ret)
			break;
		memset(owned, 0, words * 8);
		rxpool_mark_owned(&s.rx, owned);
		for (w = 0; w < words; w++) {
			uint64_t lack = owned[w] & ~b[w];

			stale += __builtin_popcountll(b[w] & pool_bm[w] & ~owned[w]);
			if (lack && !fail_at) {
				size_t pg = w * 64 + __builtin_ctzll(lack);

				ktap_info("arming: step %u: page 0x%llx of an owned buffer not reported",
					  i, (unsigned long long)(s.m.lo + (pg << DIRTY_PGSHIFT)));
			}
			if (lack)
				bad_owned++;
		}
		if (stale > stale_max)
			stale_max = stale;
		if (bad_owned && !fail_at) {
			unsigned int j;

			fail_at = i + 1;
			for (j = 0; j < 8 && j <= i; j++)
				ktap_info("arming:   step %u: %u frames, RDT %u",
					  i - j, hist_k[(i - j) % 8],
					  hist_rdt[(i - j) % 8]);
			ktap_info("arming:   rx_next %u, %llu pool pages reported but not owned",
				  s.v.rx_next, (unsigned long long)stale);
		}
	}
	ktap_info("arming: %u steps, %u frames lost, at most %llu pool pages of retired buffers still reported after a step",
		  i, lost, (unsigned long long)stale_max);
	ktap_check(!bad_owned && i == steps,
		   "arming: after each of %u steps every buffer the device owns is reported (first failure at step %u)",
		   steps, fail_at ? fail_at - 1 : 0);
	ktap_check(!lost, "arming: no frame lost (%u)", lost);
out:
	free(b);
	free(owned);
	free(pool_bm);
	dsess_close(&s);
}

/*
 * The same check with traffic running in a thread, held still only for the
 * check: @gets_between extra GET_BITMAPs while traffic runs, to see
 * whether reports racing with the poller matter.
 */
static void test_arming_traffic(unsigned int checks, unsigned int gets_between)
{
	struct dsess_cfg sc = { .snapshots = false };
	struct dtraffic_cfg tc = {
		.min_len = 60, .max_len = 60, .window = 32, .tx_every = 0,
		.drain = true,
	};
	uint64_t *b, *owned;
	unsigned int i, j, bad = 0, first = 0, nowned = 0;
	struct dtraffic t;
	struct dsess s;
	size_t words, w;
	int ret;

	if (dsess_open(&s, bdf, &sc)) {
		ktap_check(false, "arming under traffic: session");
		dsess_close(&s);
		return;
	}
	words = dmem_words(&s.m);
	b = calloc(words, 8);
	owned = calloc(words, 8);
	ret = dsess_engage(&s);
	dtraffic_init(&t, &tc, &s.v, &s.rx, &peer);
	if (!ktap_check(!ret && !dtraffic_start(&t),
			"arming under traffic (%u GETs between checks): engaged, traffic runs",
			gets_between))
		goto out;
	for (i = 0; i < checks; i++) {
		for (j = 0; j < gets_between; j++) {
			usleep(5000);
			dirty_get_dmem(&s.d, &s.m, b);
		}
		usleep(20000);
		dtraffic_pause(&t);
		wait_polls(&s, 3);
		memset(owned, 0, words * 8);
		nowned = rxpool_mark_owned(&s.rx, owned);
		ret = dirty_get_dmem(&s.d, &s.m, b);
		dtraffic_resume(&t);
		if (ret)
			break;
		for (w = 0; w < words; w++) {
			if (owned[w] & ~b[w]) {
				if (!bad++)
					first = i + 1;
				break;
			}
		}
		if (bad == 1 && first == i + 1)
			ktap_info("arming under traffic: check %u: %u owned descriptors, buffers not all reported; debugfs armed %lld pinned %lld",
				  i, nowned, (long long)dsess_dbg(&s, "armed"),
				  (long long)dsess_dbg(&s, "pinned"));
	}
	dtraffic_stop(&t);
	dtraffic_print(&t, "arming under traffic: ");
	ktap_check(!bad, "arming under traffic (%u GETs between): %u checks, %u with owned buffers unreported (first %u)",
		   gets_between, checks, bad, first ? first - 1 : 0);
out:
	dtraffic_free(&t);
	free(b);
	free(owned);
	dsess_close(&s);
}

int main(int argc, char **argv)
{
	unsigned int steps = argc > 1 ? strtoul(argv[1], NULL, 0) : 300;
	int ret;

	bdf = env_need("IVF_VF0");
	ns = env_need("IVF_PEER_NS");
	ifname = env_need("IVF_PEER_IF");
	ktap_header("dirty_contract: the dirty tracker's contract");
	ret = peer_open(&peer, ns, ifname, FRAME_ETHERTYPE);
	if (!ktap_check(!ret, "peer socket"))
		ktap_finish();
	test_arming(steps);
	test_arming_traffic(100, 0);
	test_arming_traffic(100, 4);
	peer_close(&peer);
	ktap_finish();
}
