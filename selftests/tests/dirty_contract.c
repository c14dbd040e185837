// SPDX-License-Identifier: GPL-2.0
/*
 * dirty_contract: the dirty tracker's contract, one scenario at a time,
 * each on a fresh open of IVF_VF0 with the checker of lib/dcheck.h
 * (reports against real memory changes) where traffic runs.
 *
 * arming      step by step (send k frames, receive, re-post new buffers,
 *             wait for the poller): every buffer the device owns is
 *             reported after every step; then the same with the traffic in
 *             a thread, held still only for the checks.
 * restart     container dirty tracking START, STOP, START: GET_BITMAP
 *             fails while stopped, nothing is missed before or after.
 *             (With DMA logging, IVF_DIRTY=log or IVF_VFIO=cdev, the same
 *             through the device's log_ops: every scenario runs on either.)
 * stopped     reports while the device is stopped (PRE_COPY_P2P, then
 *             STOP_COPY, STOP): stable, non-empty, rings included, memory
 *             still; back to RUNNING the tracker works on.
 * tx-move     the guest moves its TX ring and turns on head write-back,
 *             sends, and the VMM stops the device at once: the new pages
 *             the device wrote must be in the final report (a slow poller,
 *             dirty_poll_us = 100 ms, makes it deterministic).
 * rx-move     the guest disables RX, moves the ring, re-posts and enables
 *             it while tracked: the new ring and its buffers are reported
 *             when written, the old ring is let go.
 * rx-reorder  the guest, RX disabled, writes a new base and the tail first,
 *             then the head and the enable, each seen by its own poll: the
 *             device owns head to tail once enabled, all of it is armed.
 * unmap       VFIO_IOMMU_UNMAP_DMA of the buffer pool while traffic runs:
 *             returns, the pins there are dropped, the device stays usable.
 * reset       VFIO_DEVICE_RESET while tracked: tracking stays on, the guest
 *             sets the VF up again, nothing is missed afterwards.
 * guest-reset the guest writes CTRL.RST and sets its rings up again at once
 *             while the poller sleeps (1 s): its new registers survive the
 *             poller's look at the reset, and frames flow.
 * wild-head   the guest gave the device a head past its ring before the
 *             migration: QEMU's igb writes there once, then runs on from
 *             index 0, where the tracker must have armed the ring. The
 *             poller polls on (it used to spin for ever with its lock held:
 *             the head looked 2^64 postings ahead), and the VF works after
 *             a reset.
 * close       the device fd is closed with traffic and pins in place; the
 *             reopened device has no tracking and no pins.
 * leak        live allocations through the module (slab alloc_traces) do
 *             not grow with open/track/traffic/close cycles.
 *
 * Usage: dirty_contract [scenario...]   (default: all)
 * Env: IVF_VF0, IVF_PEER_NS, IVF_PEER_IF.
 */
#include <errno.h>
#include <signal.h>
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

#define TX_MOVE_STREAM	7

static const char *bdf;
static struct peer peer;

static bool open_sess(struct dsess *s, const char *name, bool snapshots)
{
	struct dsess_cfg sc = { .snapshots = snapshots };

	if (dsess_open(s, bdf, &sc)) {
		ktap_check(false, "%s: session set up", name);
		dsess_close(s);
		return false;
	}
	dsess_canary(s, 0x11223344);
	return true;
}

/* the checker's verdict on an interval that ended with a still device */
static void verdict(struct dcheck *ck, const char *what, uint64_t quiet)
{
	dcheck_print(ck);
	ktap_check(!ck->misses && !ck->rest_unreported && !quiet &&
		   !ck->idle_reported && ck->rounds > 2 &&
		   (!ck->rest_mutated || ck->rest_mutation_caught),
		   "%s: %llu rounds, %llu device page changes: %llu missed, %llu owned buffer pages unreported at rest%s, %llu idle pages reported, %llu pages changed while still",
		   what, (unsigned long long)ck->rounds,
		   (unsigned long long)ck->changed,
		   (unsigned long long)ck->misses,
		   (unsigned long long)ck->rest_unreported,
		   !ck->rest_mutated ? "" : ck->rest_mutation_caught ?
		   " (self-check ok)" : " (SELF-CHECK FAILED: a page taken out went unnoticed)",
		   (unsigned long long)ck->idle_reported,
		   (unsigned long long)quiet);
}

/* ------------------------------------------------------------- arming */

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
	while (got < k && now_ns() - t0 < 2000000000ull)
		if (rxpool_poll(&s->rx, rx_count_cb, &got, 64) <= 0)
			usleep(100);
	return got;
}

static void arming_steps(unsigned int steps)
{
	uint64_t *b, *owned;
	unsigned int i, bad = 0, lost = 0, unreported = 0;
	uint32_t seq = 0;
	bool pulse;
	struct dsess s;
	size_t words, w;

	if (!open_sess(&s, "arming", false))
		return;
	words = dmem_words(&s.m);
	b = calloc(words, 8);
	owned = calloc(words, 8);
	if (!ktap_check(!dsess_engage(&s), "arming: tracking engaged"))
		goto out;
	/*
	 * Pulsing (type1) reports a buffer once it is written, not while the
	 * device owns it (dirty_exact checks that contract): here only the
	 * frames, and how many owned pages a report left out.
	 */
	pulse = dsess_dbg(&s, "pulsing") == 1;
	srand(1);
	for (i = 0; i < steps && !bad; i++) {
		unsigned int k = 1 + rand() % 40;

		lost += k - step_frames(&s, k, &seq);
		if (!dsess_wait_polls(&s, 3) || dirty_get_dmem(&s.d, &s.m, b)) {
			bad++;
			break;
		}
		memset(owned, 0, words * 8);
		rxpool_mark_owned(&s.rx, owned);
		for (w = 0; w < words; w++)
			if (owned[w] & ~b[w])
				unreported++;
		if (unreported && !pulse)
			bad++;
		if (bad)
			ktap_info("arming: step %u (%u frames): buffers the device owns not reported; rx_next %u",
				  i, k, s.v.rx_next);
	}
	if (pulse)
		ktap_check(i == steps && !lost,
			   "arming: %u steps, no frame lost (%u); pulsing: reports left out owned, unwritten buffer pages %u times",
			   i, lost, unreported);
	else
		ktap_check(!bad && i == steps && !lost,
			   "arming: step by step, after each of %u steps every buffer the device owns is reported (%u lost frames)",
			   i, lost);
out:
	free(b);
	free(owned);
	dsess_close(&s);
}

static void arming_traffic(unsigned int checks)
{
	uint64_t *b, *owned;
	unsigned int i, bad = 0, first = 0;
	struct dtraffic t;
	bool pulse;
	struct dsess s;
	size_t words, w;
	int ret;

	if (!open_sess(&s, "arming under traffic", false))
		return;
	words = dmem_words(&s.m);
	b = calloc(words, 8);
	owned = calloc(words, 8);
	dtraffic_init(&t, &dtraffic_mixed, &s.v, &s.rx, &peer);
	ret = dsess_engage(&s);
	if (!ktap_check(!ret && !dtraffic_start(&t),
			"arming under traffic: engaged, traffic runs"))
		goto out;
	pulse = dsess_dbg(&s, "pulsing") == 1;
	for (i = 0; i < checks; i++) {
		/* reports race with the poller, as a VMM's do */
		usleep(10000);
		dirty_get_dmem(&s.d, &s.m, b);
		usleep(10000);
		dtraffic_pause(&t);
		dsess_wait_polls(&s, 3);
		memset(owned, 0, words * 8);
		rxpool_mark_owned(&s.rx, owned);
		ret = dirty_get_dmem(&s.d, &s.m, b);
		dtraffic_resume(&t);
		if (ret)
			break;
		for (w = 0; w < words; w++)
			if (owned[w] & ~b[w])
				break;
		if (w < words && !bad++ && !pulse) {
			first = i + 1;
			ktap_info("arming under traffic: check %u: buffers the device owns not reported; debugfs armed %lld",
				  i, (long long)dsess_dbg(&s, "armed"));
		}
	}
	dtraffic_stop(&t);
	dtraffic_print(&t, "arming under traffic: ");
	if (pulse)
		ktap_check(i == checks && t.vf_rcvd > 0,
			   "arming under traffic: %u checks with the traffic held still; pulsing: %u left out owned, unwritten buffers",
			   i, bad);
	else
		ktap_check(!bad && i == checks,
			   "arming under traffic: %u checks with the traffic held still, %u with owned buffers unreported (first at %d)",
			   i, bad, (int)first - 1);
out:
	dtraffic_free(&t);
	free(b);
	free(owned);
	dsess_close(&s);
}

/* ------------------------------------------------------------ restart */

static void restart(void)
{
	uint64_t quiet, *b;
	struct dcheck ck;
	struct dtraffic t;
	struct dsess s;
	int ret;

	if (!open_sess(&s, "restart", true))
		return;
	dcheck_init(&ck, &s, "restart");
	dtraffic_init(&t, &dtraffic_mixed, &s.v, &s.rx, &peer);
	b = calloc(ck.words, 8);
	ret = dsess_engage(&s);
	if (!ktap_check(!ret, "restart: START, PRE_COPY"))
		goto out;
	ret = dcheck_begin(&ck) ?: dcheck_traffic(&ck, &t, 2000) ?:
	      dcheck_end(&ck, &quiet);
	if (!ktap_check(!ret, "restart: first tracked interval ran"))
		goto out;
	verdict(&ck, "restart: before STOP", quiet);

	ret = dirty_stop(&s.d);
	ktap_check(!ret, "restart: container STOP (%s)", strerror(-ret));
	ret = dirty_get_dmem(&s.d, &s.m, b);
	ktap_check(ret == -EINVAL, "restart: GET_BITMAP refused while stopped (%s)",
		   strerror(-ret));
	if (!s.d.dirty_log)
		ktap_check(dsess_dbg(&s, "tracking") == 1,
			   "restart: the driver keeps tracking (it can't see the container STOP)");
	else
		/* type1 pins since PRE_COPY: those keep the tracker on */
		ktap_check(dsess_dbg(&s, "tracking") == (s.d.iommufd < 0),
			   "restart: after DMA logging STOP the driver tracks %lld (%s)",
			   (long long)dsess_dbg(&s, "tracking"),
			   s.d.iommufd < 0 ? "on: type1 pins since PRE_COPY" :
					     "off: iommufd, nothing else needs it");
	ret = dirty_start(&s.d);
	ktap_check(!ret, "restart: container START again (%s)", strerror(-ret));
	ret = dcheck_begin(&ck) ?: dcheck_traffic(&ck, &t, 2000);
	if (!ret)
		ret = dsess_state(&s, VFIO_DEVICE_STATE_PRE_COPY_P2P);
	if (!ret)
		ret = dcheck_end(&ck, &quiet);
	if (!ktap_check(!ret, "restart: second tracked interval ran"))
		goto out;
	verdict(&ck, "restart: after START again", quiet);
	dtraffic_print(&t, "restart: ");
	ktap_check(t.vf_rcvd + t.vf_lost >= 4000 && t.vf_rcvd > 3000 &&
		   !t.vf_bad && !t.vf_dup,
		   "restart: frames kept flowing (%llu in, %llu lost)",
		   (unsigned long long)t.vf_rcvd, (unsigned long long)t.vf_lost);
out:
	free(b);
	dtraffic_free(&t);
	dcheck_free(&ck);
	dsess_close(&s);
}

/* ------------------------------------------------------------ stopped */

static void stopped(void)
{
	uint64_t quiet, *b1, *b2, n1, n2;
	uint8_t *data = NULL;
	size_t len = 0;
	struct dcheck ck;
	struct dtraffic t;
	struct dsess s;
	bool same;
	int ret;

	if (!open_sess(&s, "stopped", true))
		return;
	dcheck_init(&ck, &s, "stopped");
	dtraffic_init(&t, &dtraffic_mixed, &s.v, &s.rx, &peer);
	b1 = calloc(ck.words, 8);
	b2 = calloc(ck.words, 8);
	ret = dsess_engage(&s) ?: dcheck_begin(&ck) ?:
	      dcheck_traffic(&ck, &t, 2000);
	if (!ret)
		ret = dsess_state(&s, VFIO_DEVICE_STATE_PRE_COPY_P2P);
	if (!ret)
		ret = dcheck_end(&ck, &quiet);
	if (!ktap_check(!ret, "stopped: traffic, then PRE_COPY_P2P (%s)",
			strerror(-ret)))
		goto out;
	verdict(&ck, "stopped: up to PRE_COPY_P2P", quiet);

	/* two more reports of a still device */
	ret = dirty_get_dmem(&s.d, &s.m, b1) ?: dirty_get_dmem(&s.d, &s.m, b2);
	n1 = bm_count(b1, ck.npages);
	n2 = bm_count(b2, ck.npages);
	if (ck.pulse)
		/* pulsing: what was written is reported once; nothing is */
		ktap_check(!ret && !n1 && !n2,
			   "stopped: in PRE_COPY_P2P two more reports are empty (%llu, %llu pages; pulsing)",
			   (unsigned long long)n1, (unsigned long long)n2);
	else
		/* DMA logging: what the device may write, each time */
		ktap_check(!ret && !memcmp(b1, b2, ck.words * 8) && n1 &&
			   !bm_count_andnot(ck.rings, b1, ck.npages),
			   "stopped: in PRE_COPY_P2P two reports are the same %llu pages, rings included",
			   (unsigned long long)n1);
	ktap_check(dsess_dbg(&s, "paused") == 1,
		   "stopped: debugfs says the poller is paused");

	ret = dsess_state(&s, VFIO_DEVICE_STATE_STOP_COPY);
	if (!ret && mig_read_all(s.data_fd, &data, &len) < 0)
		ret = -EIO;
	if (!ret)
		ret = dsess_state(&s, VFIO_DEVICE_STATE_STOP);
	ktap_check(!ret, "stopped: STOP_COPY (%zu bytes of device state), STOP (%s)",
		   len, strerror(-ret));
	ret = dirty_get_dmem(&s.d, &s.m, b1);
	same = !ret && !memcmp(b1, b2, ck.words * 8);
	ret = ret ?: dirty_get_dmem(&s.d, &s.m, b2);
	ktap_check(!ret && same && !memcmp(b1, b2, ck.words * 8) &&
		   !dmem_snap_diff(&s.m, NULL),
		   "stopped: in STOP the reports are still the same %llu pages and memory does not change (%zu)",
		   (unsigned long long)bm_count(b1, ck.npages), (size_t)n2);

	/* back to RUNNING: the tracker goes on */
	ret = dsess_state(&s, VFIO_DEVICE_STATE_RUNNING);
	ktap_check(!ret && dsess_dbg(&s, "tracking") == 1 &&
		   dsess_dbg(&s, "paused") == 0,
		   "stopped: STOP -> RUNNING, still tracking, poller running (%s)",
		   strerror(-ret));
	ret = dcheck_begin(&ck) ?: dcheck_traffic(&ck, &t, 2000);
	/* as QEMU goes: RUNNING -> PRE_COPY -> PRE_COPY_P2P */
	if (!ret)
		ret = dsess_state(&s, VFIO_DEVICE_STATE_PRE_COPY);
	if (!ret)
		ret = dsess_state(&s, VFIO_DEVICE_STATE_PRE_COPY_P2P);
	if (!ret)
		ret = dcheck_end(&ck, &quiet);
	if (ktap_check(!ret, "stopped: traffic after RUNNING again (%s)",
		       strerror(-ret)))
		verdict(&ck, "stopped: after RUNNING again", quiet);
	dtraffic_print(&t, "stopped: ");
out:
	free(data);
	free(b1);
	free(b2);
	dtraffic_free(&t);
	dcheck_free(&ck);
	dsess_close(&s);
}

/* ------------------------------------------------------------ tx-move */

static void tx_move(void)
{
	uint64_t quiet, poll_us = 50, ring_iova, wb_iova;
	volatile union ivf_tx_desc *old_ring;
	uint64_t old_iova;
	uint8_t frame[FRAME_MIN];
	struct dcheck ck;
	struct dsess s;
	size_t pg_ring, pg_wb;
	int ret, i;

	if (!open_sess(&s, "tx-move", true))
		return;
	dcheck_init(&ck, &s, "tx-move");
	ivf_param_get("dirty_poll_us", &poll_us);
	ret = dsess_engage(&s) ?: dcheck_begin(&ck);
	if (!ktap_check(!ret, "tx-move: engaged"))
		goto out;
	/* a slow poller: its TX check comes long after the move */
	ivf_param_set("dirty_poll_us", 100000);
	usleep(300000);

	ring_iova = s.spare.iova;
	wb_iova = s.spare.iova + 0x1000;
	pg_ring = dmem_pg(&s.m, ring_iova);
	pg_wb = dmem_pg(&s.m, wb_iova);
	old_ring = s.v.tx_ring;
	old_iova = s.v.tx_ring_dma.iova;
	ivf_wr(&s.v, IVF_TXDCTL(0), ivf_rd(&s.v, IVF_TXDCTL(0)) & ~IVF_XDCTL_ENABLE);
	memset(s.spare.vaddr, 0, 0x2000);
	s.v.tx_ring = (void *)s.spare.vaddr;
	ivf_wr(&s.v, IVF_TDBAL(0), (uint32_t)ring_iova);
	ivf_wr(&s.v, IVF_TDBAH(0), (uint32_t)(ring_iova >> 32));
	ivf_wr(&s.v, IVF_TDLEN(0), s.v.tx_count * sizeof(union ivf_tx_desc));
	ivf_wr(&s.v, IVF_TDH(0), 0);
	ivf_wr(&s.v, IVF_TDT(0), 0);
	ivf_wr(&s.v, IVF_TDWBAL(0), (uint32_t)wb_iova | IVF_TDWBAL_ENABLE);
	ivf_wr(&s.v, IVF_TDWBAH(0), (uint32_t)(wb_iova >> 32));
	s.v.tx_next = s.v.tx_clean = 0;
	ivf_wr(&s.v, IVF_TXDCTL(0), IVF_XDCTL_ENABLE);
	/* the guest's CPU writes the new ring: take that out of the diff */
	dmem_snap(&s.m);
	/* not dtraffic's stream: the next scenario's peer must not count them */
	frame_build(frame, peer.mac, s.v.mac, TX_MOVE_STREAM, 0, FRAME_MIN);
	for (i = 0; i < 4; i++)
		ivf_tx_post(&s.v, frame, FRAME_MIN);
	ivf_tx_kick(&s.v);
	/* the VMM stops the device right away */
	ret = dsess_state(&s, VFIO_DEVICE_STATE_PRE_COPY_P2P);
	ivf_param_set("dirty_poll_us", poll_us);
	if (!ret)
		ret = dcheck_end(&ck, &quiet);
	if (!ktap_check(!ret, "tx-move: ring moved, head write-back on, 4 frames sent, PRE_COPY_P2P at once"))
		goto restore;
	ktap_check(s.v.tx_ring[3].wb.status & IVF_TXD_STAT_DD ||
		   *(volatile uint32_t *)((uint8_t *)s.spare.vaddr + 0x1000) == 4,
		   "tx-move: the device wrote back (DD 0x%x, head %u)",
		   s.v.tx_ring[3].wb.status,
		   *(volatile uint32_t *)((uint8_t *)s.spare.vaddr + 0x1000));
	ktap_check(bm_test(ck.changed_all, pg_wb) || bm_test(ck.changed_all, pg_ring),
		   "tx-move: the checker saw the write-back page change");
	ktap_check(!ck.misses,
		   "tx-move: the pages the device wrote after the move are reported before the VMM's last report (%llu misses)",
		   (unsigned long long)ck.misses);
restore:
	s.v.tx_ring = old_ring;
	s.v.tx_ring_dma.iova = old_iova;
out:
	ivf_param_set("dirty_poll_us", poll_us);
	dcheck_free(&ck);
	dsess_close(&s);
}

/* ------------------------------------------------------------ rx-move */

#define RXDCTL_ON (IVF_XDCTL_ENABLE | IVF_XDCTL_PTHRESH(16) | \
		   IVF_XDCTL_HTHRESH(8) | IVF_XDCTL_WTHRESH(1))

/* the RX ring goes to @off in the spare region (base and length only) */
static void rx_ring_base(struct dsess *s, uint64_t off)
{
	uint64_t iova = s->spare.iova + off;

	s->v.rx_ring = (void *)((uint8_t *)s->spare.vaddr + off);
	s->v.rx_ring_dma.iova = iova;
	ivf_wr(&s->v, IVF_RDBAL(0), (uint32_t)iova);
	ivf_wr(&s->v, IVF_RDBAH(0), (uint32_t)(iova >> 32));
	ivf_wr(&s->v, IVF_RDLEN(0), s->v.rx_count * sizeof(union ivf_rx_desc));
}

/* checker and traffic on a fresh session, tracking engaged, @frames in */
static int rx_first_ring(struct dsess *s, struct dcheck *ck,
			 struct dtraffic *t, const char *name, uint64_t frames)
{
	dcheck_init(ck, s, name);
	dtraffic_init(t, &dtraffic_mixed, &s->v, &s->rx, &peer);
	return dsess_engage(s) ?: dcheck_begin(ck) ?:
	       dcheck_traffic(ck, t, frames);
}

/*
 * The guest set its RX ring up again: the checker follows the new ring,
 * @frames more come in, the VMM stops the device, last reports (*quiet as
 * dcheck_end()). 0 or -errno.
 */
static int rx_new_ring(struct dsess *s, struct dcheck *ck, struct dtraffic *t,
		       uint64_t frames, uint64_t *quiet)
{
	int ret;

	dcheck_rings_from_ivf(ck);
	ret = dcheck_round(ck) ?: dcheck_traffic(ck, t, frames);
	if (!ret)
		ret = dsess_state(s, VFIO_DEVICE_STATE_PRE_COPY_P2P);
	if (!ret)
		ret = dcheck_end(ck, quiet);
	return ret;
}

static void rx_move(void)
{
	uint64_t quiet, old_pg;
	volatile union ivf_rx_desc *old_ring;
	uint64_t old_iova;
	struct dcheck ck;
	struct dtraffic t;
	struct dsess s;
	int ret;

	if (!open_sess(&s, "rx-move", true))
		return;
	ret = rx_first_ring(&s, &ck, &t, "rx-move", 1500);
	if (!ktap_check(!ret, "rx-move: traffic on the first ring"))
		goto out;

	/* the guest moves its RX ring: disable, new base, re-post, enable */
	old_ring = s.v.rx_ring;
	old_iova = s.v.rx_ring_dma.iova;
	old_pg = dmem_pg(&s.m, old_iova);
	ivf_wr(&s.v, IVF_RXDCTL(0), ivf_rd(&s.v, IVF_RXDCTL(0)) & ~IVF_XDCTL_ENABLE);
	usleep(2000);
	rx_ring_base(&s, 0x2000);
	ivf_wr(&s.v, IVF_RDH(0), 0);
	ivf_wr(&s.v, IVF_RDT(0), 0);
	rxpool_post_all(&s.rx);
	ivf_wr(&s.v, IVF_RXDCTL(0), RXDCTL_ON);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	ivf_wr(&s.v, IVF_RDT(0), s.v.rx_count - 1);
	/* the poller must see the new ring before the device writes it */
	dsess_wait_polls(&s, 3);
	ret = rx_new_ring(&s, &ck, &t, 1500, &quiet);
	if (!ktap_check(!ret, "rx-move: traffic on the moved ring"))
		goto restore;
	verdict(&ck, "rx-move: first and moved ring", quiet);
	if (!ck.pulse)
		ktap_check(!ck.ring_missing,
			   "rx-move: the new ring is in every report after the move (%llu absences)",
			   (unsigned long long)ck.ring_missing);
	ktap_check(dcheck_region_written(&ck, s.r_spare) > 0,
		   "rx-move: the device wrote the new ring");
	ktap_check(!bm_test(dcheck_last_report(&ck), old_pg),
		   "rx-move: the old ring is no longer reported");
	dtraffic_print(&t, "rx-move: ");
	ktap_check(t.vf_rcvd + t.vf_lost >= 3000 && t.vf_rcvd > 2000 &&
		   !t.vf_bad && !t.vf_dup,
		   "rx-move: frames flowed on the moved ring (%llu in, %llu lost)",
		   (unsigned long long)t.vf_rcvd, (unsigned long long)t.vf_lost);
restore:
	s.v.rx_ring = old_ring;
	s.v.rx_ring_dma.iova = old_iova;
out:
	dtraffic_free(&t);
	dcheck_free(&ck);
	dsess_close(&s);
}

/* --------------------------------------------------------- rx-reorder */

/*
 * Let the poller see what was written, and nothing written after: wait for
 * two polls (the first may have read the shadow before the last write);
 * false if the poller did not run.
 */
static bool settle(struct dsess *s, const char *what)
{
	if (dsess_wait_polls(s, 2))
		return true;
	ktap_info("rx-reorder: no poll after %s", what);
	return false;
}

static void rx_reorder(void)
{
	volatile union ivf_rx_desc *old_ring;
	uint64_t quiet, poll_us = 50, armed_off, armed_on;
	uint64_t old_iova;
	struct dcheck ck;
	struct dtraffic t;
	struct dsess s;
	bool seen;
	int ret;

	if (!open_sess(&s, "rx-reorder", true))
		return;
	ret = rx_first_ring(&s, &ck, &t, "rx-reorder", 500);
	if (!ktap_check(!ret, "rx-reorder: traffic on the first ring"))
		goto out;

	/*
	 * The guest sets the ring up again in an order the 82576 allows for a
	 * disabled queue: new base and posted tail first, then the head, then
	 * the enable. A slow poller (100 ms) sees each step on its own.
	 */
	old_ring = s.v.rx_ring;
	old_iova = s.v.rx_ring_dma.iova;
	ivf_param_get("dirty_poll_us", &poll_us);
	ivf_param_set("dirty_poll_us", 100000);
	ivf_wr(&s.v, IVF_RXDCTL(0), ivf_rd(&s.v, IVF_RXDCTL(0)) & ~IVF_XDCTL_ENABLE);
	seen = settle(&s, "the disable");
	rx_ring_base(&s, 0x4000);
	rxpool_post_all(&s.rx);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	ivf_wr(&s.v, IVF_RDT(0), s.v.rx_count - 1);
	seen = seen && settle(&s, "the new base and tail");
	armed_off = dsess_dbg(&s, "armed");
	ivf_wr(&s.v, IVF_RDH(0), 0);
	ivf_wr(&s.v, IVF_RXDCTL(0), RXDCTL_ON);
	seen = seen && settle(&s, "the head and the enable");
	armed_on = dsess_dbg(&s, "armed");
	ivf_param_set("dirty_poll_us", poll_us);
	/*
	 * The poller takes the new period after the 100 ms sleep under way:
	 * traffic before that recycles the ring faster than the tails are
	 * forwarded, the device runs dry and QEMU drops what comes in.
	 */
	dsess_wait_polls(&s, 2);
	ktap_check(seen, "rx-reorder: the poller saw each step on its own");
	ktap_check(armed_on == s.v.rx_count - 1,
		   "rx-reorder: enabled with head 0 and tail %u: all %u postings armed (%llu; %llu before the enable)",
		   s.v.rx_count - 1, s.v.rx_count - 1,
		   (unsigned long long)armed_on,
		   (unsigned long long)armed_off);

	ret = rx_new_ring(&s, &ck, &t, 1000, &quiet);
	if (!ktap_check(!ret, "rx-reorder: traffic on the set-up ring"))
		goto restore;
	verdict(&ck, "rx-reorder: before and after", quiet);
	dtraffic_print(&t, "rx-reorder: ");
	ktap_check(t.vf_rcvd > 1000 && !t.vf_bad && !t.vf_dup,
		   "rx-reorder: frames flowed on the set-up ring (%llu in, %llu lost)",
		   (unsigned long long)t.vf_rcvd, (unsigned long long)t.vf_lost);
restore:
	s.v.rx_ring = old_ring;
	s.v.rx_ring_dma.iova = old_iova;
out:
	dtraffic_free(&t);
	dcheck_free(&ck);
	dsess_close(&s);
}

/* -------------------------------------------------------------- unmap */

static void on_alarm(int sig)
{
	(void)sig;
	/* async-signal-safe: the unmap hung */
	static const char msg[] = "not ok - unmap: VFIO_IOMMU_UNMAP_DMA hung for 20 s\n";

	if (write(1, msg, sizeof(msg) - 1) < 0)
		_exit(1);
	_exit(1);
}

static void unmap(void)
{
	uint64_t t0, dt, fails0, fails1;
	struct dtraffic t;
	struct dsess s;
	int ret;

	if (!open_sess(&s, "unmap", false))
		return;
	dtraffic_init(&t, &dtraffic_mixed, &s.v, &s.rx, &peer);
	t.c.rx_target = 0;
	ret = dsess_engage(&s) ?: dtraffic_start(&t);
	if (!ktap_check(!ret, "unmap: engaged, traffic runs"))
		goto out;
	usleep(500000);
	fails0 = dsess_dbg(&s, "pin_failures");
	signal(SIGALRM, on_alarm);
	alarm(20);
	t0 = now_ns();
	ret = dirty_unmap(&s.d, s.pool.iova, s.pool.size);
	dt = now_ns() - t0;
	alarm(0);
	if (!ret)
		s.pool.mapped = false;
	ktap_check(!ret, "unmap: the pool (%zu KiB) unmapped mid-traffic in %.1f ms (%s)",
		   s.pool.size >> 10, dt / 1e6, strerror(-ret));
	usleep(300000);
	dtraffic_stop(&t);
	dsess_wait_polls(&s, 3);
	fails1 = dsess_dbg(&s, "pin_failures");
	/* the tracker holds no pins: the unmap has none of ours to drop */
	ktap_check(dsess_dbg(&s, "tracking") == 1,
		   "unmap: still tracking after the unmap; pin_failures %lld -> %lld",
		   (long long)fails0, (long long)fails1);
	if (s.d.dirty_log) {
		uint64_t *b = calloc(dmem_words(&s.m), 8);

		ret = dirty_get_dmem(&s.d, &s.m, b);
		ktap_check(!ret, "unmap: DMA logging still reports (%zu pages) (%s)",
			   bm_count(b, s.m.npages), strerror(-ret));
		free(b);
	}
	ret = vfio_dev_reset(&s.d);
	ktap_check(!ret, "unmap: the device still resets (%s)", strerror(-ret));
out:
	dtraffic_free(&t);
	dsess_close(&s);
}

/* -------------------------------------------------------------- reset */

static void reset(void)
{
	uint64_t quiet;
	struct dcheck ck;
	struct dtraffic t;
	struct dsess s;
	int ret;

	if (!open_sess(&s, "reset", true))
		return;
	dcheck_init(&ck, &s, "reset");
	dtraffic_init(&t, &dtraffic_mixed, &s.v, &s.rx, &peer);
	ret = dsess_engage(&s) ?: dcheck_begin(&ck) ?:
	      dcheck_traffic(&ck, &t, 1000);
	if (!ktap_check(!ret, "reset: tracked traffic"))
		goto out;
	ret = vfio_dev_reset(&s.d);
	ktap_check(!ret, "reset: VFIO_DEVICE_RESET while tracked (%s)",
		   strerror(-ret));
	ktap_check(dsess_dbg(&s, "tracking") == 1,
		   "reset: still tracking after the reset");
	ret = ivf_reset(&s.v) ?: ivf_set_lpe(&s.v, 1522);
	if (!ktap_check(!ret, "reset: the guest sets the VF up again (%s)",
			strerror(-ret)))
		goto out;
	dsess_reprogram(&s);
	dmem_snap(&s.m);	/* the CPU rewrote the rings */
	ret = dcheck_round(&ck) ?: dcheck_traffic(&ck, &t, 2000);
	if (!ret)
		ret = dsess_state(&s, VFIO_DEVICE_STATE_PRE_COPY);
	if (!ret)
		ret = dsess_state(&s, VFIO_DEVICE_STATE_PRE_COPY_P2P);
	if (!ret)
		ret = dcheck_end(&ck, &quiet);
	if (!ktap_check(!ret, "reset: traffic after the reset, PRE_COPY, PRE_COPY_P2P (%s)",
			strerror(-ret)))
		goto out;
	verdict(&ck, "reset: before and after the reset", quiet);
	dtraffic_print(&t, "reset: ");
	ktap_check(t.vf_rcvd + t.vf_lost >= 3000 && t.vf_rcvd > 2000 &&
		   !t.vf_bad && !t.vf_dup,
		   "reset: frames flow after the reset (%llu in, %llu lost)",
		   (unsigned long long)t.vf_rcvd, (unsigned long long)t.vf_lost);
out:
	dtraffic_free(&t);
	dcheck_free(&ck);
	dsess_close(&s);
}

/* --------------------------------------------------------- guest-reset */

/*
 * The guest resets its VF (CTRL.RST) and sets the rings up again at once,
 * while the poller sleeps (dirty_poll_us = 1 s): the poller's late look at
 * the reset must not take the guest's new registers away (before the fix it
 * reloaded the shadow from the device then, and the queue stayed off).
 */
static void guest_reset(void)
{
	uint64_t poll_us = 50, rcvd;
	unsigned int i, kept = 0;
	uint32_t ctl, rdt;
	struct dtraffic t;
	struct dsess s;
	int ret;

	if (!open_sess(&s, "guest-reset", false))
		return;
	dtraffic_init(&t, &dtraffic_mixed, &s.v, &s.rx, &peer);
	ret = dsess_engage(&s);
	if (!ret) {
		t.c.rx_target = 500;
		ret = dtraffic_run(&t);
	}
	if (!ktap_check(!ret, "guest-reset: tracked traffic (%s)", err_str(ret)))
		goto out;
	ivf_param_get("dirty_poll_us", &poll_us);
	ivf_param_set("dirty_poll_us", 1000000);
	for (i = 0; i < 3; i++) {
		ret = ivf_reset(&s.v) ?: ivf_set_lpe(&s.v, 1522);
		if (ret)
			break;
		dsess_reprogram(&s);
		usleep(1300000);	/* the poller looked at least once */
		ctl = ivf_rd(&s.v, IVF_RXDCTL(0));
		rdt = ivf_rd(&s.v, IVF_RDT(0));
		if ((ctl & IVF_XDCTL_ENABLE) && rdt == s.v.rx_count - 1)
			kept++;
		else
			ktap_info("guest-reset: round %u: RXDCTL 0x%x RDT %u after the poller's look",
				  i, ctl, rdt);
	}
	ivf_param_set("dirty_poll_us", poll_us);
	/* the poller wakes from its 1 s sleep and polls at the usual rate */
	dsess_wait_polls(&s, 2);
	ktap_check(!ret && kept == 3,
		   "guest-reset: the rings the guest set up right after its CTRL.RST are still there after the poller's look (%u of 3; %s)",
		   kept, err_str(ret));
	rcvd = t.vf_rcvd;
	t.c.rx_target = t.vf_rcvd + t.vf_lost + 500;
	ret = ret ?: dtraffic_run(&t);
	ktap_check(!ret && t.vf_rcvd - rcvd >= 400,
		   "guest-reset: frames flow after the resets (%llu of 500)",
		   (unsigned long long)(t.vf_rcvd - rcvd));
out:
	dtraffic_free(&t);
	dsess_close(&s);
}

/* ---------------------------------------------------------- wild-head */

/*
 * A head past the ring when tracking starts. QEMU's igb writes one
 * descriptor back there (into whatever follows the ring), wraps its head
 * to 0 and goes on up to the tail. Before the fix the tracker armed
 * nothing then, and the poller's first retire with the head at 1 or more
 * counted 2^64 postings and spun with dirty->lock held: a soft lockup, the
 * VMM blocked on the lock (this boot panics then: lab.sh).
 */
static void wild_head(void)
{
	uint64_t polls0, polls1, armed;
	uint32_t seq = 0, h1, h2;
	struct dtraffic t;
	struct dsess s;
	bool polled;
	int sent;
	int ret;

	if (!open_sess(&s, "wild-head", false))
		return;
	dtraffic_init(&t, &dtraffic_mixed, &s.v, &s.rx, &peer);
	ivf_wr(&s.v, IVF_RDH(0), s.v.rx_count + 12);
	h1 = ivf_rd(&s.v, IVF_RDH(0));
	ret = dsess_engage(&s);
	if (!ktap_check(!ret, "wild-head: RUNNING -> PRE_COPY with the device's head at %u, past the %u-descriptor ring (%s)",
			h1, s.v.rx_count, err_str(ret)))
		goto out;
	armed = dsess_dbg(&s, "armed");
	ktap_check(armed == s.v.rx_count - 1,
		   "wild-head: the tracker armed the ring from index 0 to the tail (armed %llu)",
		   (unsigned long long)armed);
	polls0 = dsess_dbg(&s, "polls");
	sent = peer_frames_to_vf(&peer, &s.v, 9, s.v.rx_count / 2, 16, &seq);
	polled = dsess_wait_polls(&s, 20);
	polls1 = dsess_dbg(&s, "polls");
	h2 = ivf_rd(&s.v, IVF_RDH(0));
	ktap_check(polled && h2 < s.v.rx_count,
		   "wild-head: the poller polls on once the device's head wraps into the ring (polls %llu -> %llu; RDH %u -> %u after %d frames)",
		   (unsigned long long)polls0, (unsigned long long)polls1,
		   h1, h2, sent);
	ret = dsess_state(&s, VFIO_DEVICE_STATE_RUNNING) ?:
	      vfio_dev_reset(&s.d) ?: ivf_reset(&s.v) ?:
	      ivf_set_lpe(&s.v, 1522);
	if (!ktap_check(!ret, "wild-head: back to RUNNING, VFIO_DEVICE_RESET, the guest sets the VF up again (%s)",
			err_str(ret)))
		goto out;
	dsess_reprogram(&s);
	t.c.rx_target = 500;
	ret = dtraffic_run(&t);
	ktap_check(!ret && t.vf_rcvd >= 400 && !t.vf_bad && !t.vf_dup,
		   "wild-head: frames flow after the reset (%llu of 500, %s)",
		   (unsigned long long)t.vf_rcvd, err_str(ret));
out:
	dtraffic_free(&t);
	dsess_close(&s);
}

/* -------------------------------------------------------------- close */

static void close_tracked(void)
{
	uint64_t *b;
	struct dtraffic t;
	struct dsess s, s2;
	int ret;

	if (!open_sess(&s, "close", false))
		return;
	b = calloc(dmem_words(&s.m), 8);
	dtraffic_init(&t, &dtraffic_mixed, &s.v, &s.rx, &peer);
	t.c.rx_target = 0;
	ret = dsess_engage(&s) ?: dtraffic_start(&t);
	if (!ktap_check(!ret, "close: engaged, traffic runs"))
		goto out;
	usleep(300000);
	dtraffic_pause(&t);
	/* the device fd goes, tracker and all; the container stays */
	dsess_drop_fd(&s);
	ktap_info("close: closed the device while tracking");
	if (!s.d.dirty_log) {
		ret = dirty_get_dmem(&s.d, &s.m, b);
		ktap_check(!ret, "close: the container still reports after the device is gone (%zu pages) (%s)",
			   bm_count(b, dmem_words(&s.m) * 64), strerror(-ret));
	}
	dtraffic_stop(&t);
	dsess_close(&s);
	ret = vfio_dev_open(&s2.d, bdf);
	if (ktap_check(!ret, "close: reopen (%s)", strerror(-ret))) {
		ktap_check(dsess_dbg(&s2, "tracking") == 0,
			   "close: the reopened device has tracking %lld",
			   (long long)dsess_dbg(&s2, "tracking"));
		if (s2.d.dirty_log) {
			ret = dirty_log_report(&s2.d, s.c.iova_base, 1 << 20,
					       DIRTY_PGSIZE, b);
			ktap_check(ret == -EINVAL,
				   "close: DMA logging ended with the close: a report on the reopened device is refused (%s)",
				   strerror(-ret));
		}
		vfio_dev_close(&s2.d);
	}
	free(b);
	dtraffic_free(&t);
	return;
out:
	free(b);
	dtraffic_free(&t);
	dsess_close(&s);
}

/* --------------------------------------------------------------- leak */

static void leak(void)
{
	long before, after;
	int i, cycles = 3;

	before = ivf_slab_live();
	if (before == -EOPNOTSUPP) {
		ktap_info("leak: the sanitizer kernel's quarantine holds freed objects; kmemleak checks leaks at the end of the run");
		return;
	}
	if (before < 0) {
		ktap_info("leak: no slab alloc_traces (%s): boot with slub_debug=U",
			  strerror((int)-before));
		ktap_check(false, "leak: allocation tracking available");
		return;
	}
	for (i = 0; i < cycles; i++) {
		struct dtraffic t;
		struct dsess s;

		if (!open_sess(&s, "leak", false))
			return;
		dtraffic_init(&t, &dtraffic_mixed, &s.v, &s.rx, &peer);
		t.c.rx_target = 1000;
		if (!dsess_engage(&s))
			dtraffic_run(&t);
		dtraffic_free(&t);
		dsess_close(&s);
	}
	after = ivf_slab_live();
	ktap_check(after >= 0 && after - before < cycles,
		   "leak: live allocations through the module %ld -> %ld after %d open/track/traffic/close cycles",
		   before, after, cycles);
}

static const struct {
	const char *name;
	void (*fn)(void);
} scenarios[] = {
	{ "arming", NULL },
	{ "restart", restart },
	{ "stopped", stopped },
	{ "tx-move", tx_move },
	{ "rx-move", rx_move },
	{ "rx-reorder", rx_reorder },
	{ "unmap", unmap },
	{ "reset", reset },
	{ "guest-reset", guest_reset },
	{ "wild-head", wild_head },
	{ "close", close_tracked },
	{ "leak", leak },
};

int main(int argc, char **argv)
{
	const char *ns, *ifname;
	uint64_t t0;
	size_t i;
	int ret, a;

	bdf = env_need("IVF_VF0");
	ns = env_need("IVF_PEER_NS");
	ifname = env_need("IVF_PEER_IF");
	ktap_header("dirty_contract: the dirty tracker's contract");
	ret = peer_open(&peer, ns, ifname, FRAME_ETHERTYPE);
	if (!ktap_check(!ret, "peer socket"))
		ktap_finish();
	peer_set_mtu(ns, ifname, 1500);
	for (i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
		bool want = argc < 2;

		for (a = 1; a < argc; a++)
			if (!strcmp(argv[a], scenarios[i].name))
				want = true;
		if (!want)
			continue;
		t0 = now_ns();
		ktap_info("--- %s", scenarios[i].name);
		if (scenarios[i].fn) {
			scenarios[i].fn();
		} else {
			arming_steps(200);
			arming_traffic(60);
		}
		ktap_info("%s took %.1f s", scenarios[i].name,
			  (now_ns() - t0) / 1e9);
	}
	peer_close(&peer);
	ktap_finish();
}
