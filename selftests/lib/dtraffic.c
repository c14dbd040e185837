// SPDX-License-Identifier: GPL-2.0
/*
 * Traffic for the dirty tracking tests (see dtraffic.h).
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>

#include "dtraffic.h"
#include "frame.h"
#include "ktap.h"
#include "mig.h"
#include "util.h"

/* ---------------------------------------------------------------- rxpool */

int rxpool_init(struct rxpool *p, struct ivf *v, const struct dmem *mem,
		uint64_t pkt_iova, uint64_t hdr_iova, unsigned int nbuf)
{
	unsigned int i;

	memset(p, 0, sizeof(*p));
	if (!v->rings_up || (nbuf && nbuf <= v->rx_count))
		return -EINVAL;
	p->v = v;
	p->mem = mem;
	p->pending_rdt = -1;
	p->pkt_iova = pkt_iova;
	p->hdr_iova = hdr_iova;
	p->nbuf = nbuf;
	p->pkt = calloc(v->rx_count, sizeof(*p->pkt));
	p->hdr = calloc(v->rx_count, sizeof(*p->hdr));
	p->tmp = malloc(v->buf_size + v->hdr_size + 64);
	p->buf_desc = calloc(nbuf ? nbuf : 1, sizeof(*p->buf_desc));
	p->buf_serial = calloc(nbuf ? nbuf : 1, sizeof(*p->buf_serial));
	if (!p->pkt || !p->hdr || !p->tmp || !p->buf_desc || !p->buf_serial) {
		rxpool_free(p);
		return -ENOMEM;
	}
	/* what ivf_rings_setup() posted */
	for (i = 0; i < v->rx_count; i++) {
		p->pkt[i] = v->rx_buf_dma.iova + (uint64_t)i * v->buf_size;
		p->hdr[i] = v->hdr_split ?
			v->rx_hdr_dma.iova + (uint64_t)i * v->hdr_size : 0;
	}
	return 0;
}

void rxpool_free(struct rxpool *p)
{
	free(p->pkt);
	free(p->hdr);
	free(p->tmp);
	free(p->buf_desc);
	free(p->buf_serial);
	p->pkt = p->hdr = NULL;
	p->tmp = NULL;
	p->buf_desc = NULL;
	p->buf_serial = NULL;
}

static void post(struct rxpool *p, unsigned int i)
{
	struct ivf *v = p->v;

	if (p->nbuf) {
		unsigned int b = p->next % p->nbuf;

		p->buf_desc[b] = i;
		p->buf_serial[b] = p->next++;

		p->pkt[i] = p->pkt_iova + (uint64_t)b * v->buf_size;
		if (v->hdr_split)
			p->hdr[i] = p->hdr_iova + (uint64_t)b * v->hdr_size;
	}
	v->rx_ring[i].read.pkt_addr = p->pkt[i];
	v->rx_ring[i].read.hdr_addr = v->hdr_split ? p->hdr[i] : 0;
}

void rxpool_post_all(struct rxpool *p)
{
	unsigned int i;

	for (i = 0; i < p->v->rx_count; i++)
		post(p, i);
	p->v->rx_next = 0;
}

void rxpool_repost_all(struct rxpool *p)
{
	unsigned int i;

	for (i = 0; i < p->v->rx_count; i++) {
		p->v->rx_ring[i].read.pkt_addr = p->pkt[i];
		p->v->rx_ring[i].read.hdr_addr = p->v->hdr_split ? p->hdr[i] : 0;
	}
}

void rxpool_mark_posted(const struct rxpool *p, uint64_t *bm)
{
	unsigned int i;

	for (i = 0; i < p->v->rx_count; i++) {
		dmem_mark_range(p->mem, p->pkt[i], p->v->buf_size, bm);
		if (p->v->hdr_split)
			dmem_mark_range(p->mem, p->hdr[i], p->v->hdr_size, bm);
	}
}

int rxpool_poll(struct rxpool *p, ivf_rx_cb cb, void *arg, int budget)
{
	struct ivf *v = p->v;
	unsigned int last = v->rx_next;
	int n = 0;

	while (n < budget) {
		unsigned int i = v->rx_next;
		volatile union ivf_rx_desc *d = &v->rx_ring[i];
		uint32_t st = d->wb.status_error, len, hlen = 0;
		const uint8_t *data, *hdr;

		if (!(st & IVF_RXD_STAT_DD))
			break;
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		st = d->wb.status_error;
		len = d->wb.length;
		if (len > v->buf_size)
			len = v->buf_size;
		data = dmem_va(p->mem, p->pkt[i], v->buf_size);
		if (v->hdr_split) {
			uint16_t hi = d->wb.hdr_info;

			hlen = (hi & IVF_RXD_HDRLEN_MASK) >> IVF_RXD_HDRLEN_SHIFT;
			if (hlen > v->hdr_size)
				hlen = v->hdr_size;
			if (!(hi & IVF_RXD_SPH) && !hlen)
				hlen = 0;
		}
		if (!data) {
			p->errors++;
			len = 0;
		} else if (hlen) {
			hdr = dmem_va(p->mem, p->hdr[i], v->hdr_size);
			if (!hdr) {
				p->errors++;
				len = 0;
			} else {
				memcpy(p->tmp, hdr, hlen);
				memcpy(p->tmp + hlen, data, len);
				len += hlen;
				data = p->tmp;
			}
		}
		if ((st & IVF_RXD_ERR_FRAME_MASK) || !(st & IVF_RXD_STAT_EOP))
			p->errors++;
		p->frames++;
		if (cb && data)
			cb(arg, data, len, st);
		post(p, i);
		last = i;
		v->rx_next = (i + 1) % v->rx_count;
		n++;
	}
	if (n && p->defer_doorbell) {
		p->pending_rdt = last;
	} else if (n) {
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		ivf_wr(v, IVF_RDT(0), last);
	}
	return n;
}

int rxpool_doorbell(struct rxpool *p)
{
	if (p->pending_rdt < 0)
		return 0;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	ivf_wr(p->v, IVF_RDT(0), p->pending_rdt);
	p->pending_rdt = -1;
	return 1;
}

/* -------------------------------------------------------------- dtraffic */

#define NS	1000000000ull

const struct dtraffic_cfg dtraffic_mixed = {
	.min_len = 60, .max_len = 1514, .window = 32, .tx_every = 4,
	.drain = true, .stall_ms = 300,
};

int dtraffic_init(struct dtraffic *t, const struct dtraffic_cfg *c,
		  struct ivf *v, struct rxpool *rx, struct peer *p)
{
	memset(t, 0, sizeof(*t));
	t->c = *c;
	if (!t->c.window)
		t->c.window = 32;
	if (!t->c.min_len)
		t->c.min_len = FRAME_MIN;
	if (t->c.max_len < t->c.min_len)
		t->c.max_len = t->c.min_len;
	if (!t->c.tx_len)
		t->c.tx_len = FRAME_MIN;
	if (!t->c.stall_ms)
		t->c.stall_ms = 1000;
	t->v = v;
	t->rx = rx;
	t->p = p;
	t->stream_to_vf = DT_STREAM_TO_VF;
	t->stream_to_peer = DT_STREAM_TO_PEER;
	t->buf = malloc(16384);
	return t->buf ? 0 : -ENOMEM;
}

static int seqlog_init(struct dt_seqlog *l, const char *name, uint32_t cap)
{
	l->name = name;
	l->cap = cap;
	l->t0 = calloc(cap, sizeof(*l->t0));
	l->t1 = calloc(cap, sizeof(*l->t1));
	l->seen = calloc(cap, 1);
	return l->t0 && l->t1 && l->seen ? 0 : -ENOMEM;
}

static void seqlog_free(struct dt_seqlog *l)
{
	free(l->t0);
	free(l->t1);
	free(l->seen);
	l->t0 = l->t1 = NULL;
	l->seen = NULL;
}

int dtraffic_paced_init(struct dtraffic *t, struct peer *p,
			const uint8_t vf_mac[6], unsigned int rate,
			uint32_t cap)
{
	static const struct dtraffic_cfg c;
	struct dt_pace *pc;

	if (dtraffic_init(t, &c, NULL, NULL, p))
		return -ENOMEM;
	t->c.tx_len = 0;	/* both ways: frame_len_for() */
	t->stream_to_vf = DT_STREAM_PACED_TO_VF;
	t->stream_to_peer = DT_STREAM_PACED_TO_PEER;
	pc = calloc(1, sizeof(*pc));
	t->pace = pc;
	if (!pc) {
		dtraffic_free(t);
		return -ENOMEM;
	}
	pc->rate = rate ? rate : 1;
	memcpy(pc->vf_mac, vf_mac, 6);
	if (seqlog_init(&pc->log[DT_TO_VF], "peer->vf", cap) ||
	    seqlog_init(&pc->log[DT_TO_PEER], "vf->peer", cap)) {
		dtraffic_free(t);
		return -ENOMEM;
	}
	return 0;
}

void dtraffic_free(struct dtraffic *t)
{
	if (t->running)
		dtraffic_stop(t);
	free(t->buf);
	t->buf = NULL;
	if (t->pace) {
		seqlog_free(&t->pace->log[DT_TO_VF]);
		seqlog_free(&t->pace->log[DT_TO_PEER]);
		free(t->pace);
		t->pace = NULL;
	}
}

size_t dtraffic_len(const struct dtraffic *t, uint32_t seq)
{
	size_t span = t->c.max_len - t->c.min_len + 1;

	if (t->pace)
		return frame_len_for(seq);
	return t->c.min_len + (size_t)(seq * 7919u) % span;
}

/* the VF's MAC: a paced guest moves between devices */
static const uint8_t *vf_mac(const struct dtraffic *t)
{
	return t->pace ? t->pace->vf_mac : t->v->mac;
}

/* paced: a reception of @seq in the log of @d */
static void seqlog_rx(struct dtraffic *t, enum dt_dir d, uint32_t seq)
{
	struct dt_seqlog *l = &t->pace->log[d];

	if (seq >= l->cap)
		return;
	if (l->seen[seq]) {
		l->dup++;
		if (t->reported++ < 5)
			ktap_info("%s: seq %u received again", l->name, seq);
	} else if (seq + 1 < l->next) {
		l->ooo++;
		if (t->reported++ < 5)
			ktap_info("%s: seq %u after seq %u", l->name, seq,
				  l->next - 1);
	}
	if (l->seen[seq] < 255)
		l->seen[seq]++;
	if (seq + 1 > l->next)
		l->next = seq + 1;
}

static void vf_rx_cb(void *arg, const uint8_t *data, uint32_t len,
		     uint32_t status)
{
	struct dtraffic *t = arg;
	enum frame_verdict vd;
	uint32_t seq = 0;

	vd = frame_check(data, len, vf_mac(t), t->p->mac, t->stream_to_vf, len,
			 &seq);
	if (vd == FRAME_FOREIGN) {
		if (t->other)
			t->other(t->other_arg, data, len, status);
		else
			t->vf_foreign++;
		return;
	}
	if (vd == FRAME_OK && len != dtraffic_len(t, seq))
		vd = FRAME_BAD_LEN;
	if (status & IVF_RXD_ERR_FRAME_MASK)
		vd = FRAME_BAD_DATA;
	if (vd != FRAME_OK) {
		t->vf_bad++;
		if (t->reported++ < 5)
			ktap_info("vf rx: seq %u len %u: %s (status 0x%x)", seq,
				  len, frame_verdict_str(vd), status);
	}
	if (t->pace && vd != FRAME_BAD_ADDR)
		seqlog_rx(t, DT_TO_VF, seq);
	if (seq == t->expect) {
		t->expect++;
	} else if (seq < t->expect) {
		t->vf_dup++;
		return;
	} else {
		/* paced: losses are told by dtraffic_print_lost() */
		if (!t->pace && t->reported++ < 5)
			ktap_info("vf rx: expected seq %u, got %u", t->expect, seq);
		t->vf_lost += seq - t->expect;
		t->expect = seq + 1;
	}
	if (vd == FRAME_OK)
		t->vf_ok++;
	__atomic_store_n(&t->vf_rcvd, t->vf_rcvd + 1, __ATOMIC_RELAXED);
}

static void peer_rx(struct dtraffic *t, const uint8_t *buf, size_t len)
{
	enum frame_verdict vd;
	uint32_t seq = 0;

	vd = frame_check(buf, len, t->p->mac, vf_mac(t), t->stream_to_peer,
			 t->c.tx_len, &seq);
	if (vd == FRAME_FOREIGN)
		return;
	if (vd != FRAME_OK) {
		t->peer_bad++;
		if (t->reported++ < 5)
			ktap_info("peer rx: seq %u len %zu: %s", seq, len,
				  frame_verdict_str(vd));
	}
	if (t->pace && vd != FRAME_BAD_ADDR)
		seqlog_rx(t, DT_TO_PEER, seq);
	if (seq >= t->peer_expect) {
		t->peer_lost += seq - t->peer_expect;
		t->peer_expect = seq + 1;
	}
	if (vd == FRAME_OK)
		t->peer_ok++;
	t->peer_rcvd++;
}

/* frames sent to the VF not yet received or written off */
static uint64_t rx_outstanding(const struct dtraffic *t)
{
	return t->peer_sent - t->vf_rcvd - t->vf_lost;
}

/* the peer's socket, drained; whether anything came */
static bool peer_rx_all(struct dtraffic *t)
{
	bool got = false;
	ssize_t n;

	while ((n = peer_recv(t->p, t->buf, 16384, 0)) > 0) {
		peer_rx(t, t->buf, n);
		got = true;
	}
	return got;
}

static bool step(struct dtraffic *t, bool sending)
{
	struct ivf *v = t->v;
	bool progress = false;
	int posted = 0, ret;

	while (sending && rx_outstanding(t) < t->c.window &&
	       !(t->c.rx_target && t->peer_sent >= t->c.rx_target)) {
		uint32_t seq = t->peer_sent;
		size_t len = frame_build(t->buf, v->mac, t->p->mac,
					 t->stream_to_vf, seq,
					 dtraffic_len(t, seq));

		ret = peer_send(t->p, t->buf, len);
		if (ret) {
			if (t->send_err++ < 3)
				ktap_info("peer send seq %u len %zu: %s", seq,
					  len, strerror(-ret));
			break;
		}
		t->peer_sent++;
		progress = true;
	}
	if (rxpool_poll(t->rx, vf_rx_cb, t, 64) > 0)
		progress = true;
	while (sending && t->c.tx_every &&
	       t->vf_sent < t->vf_rcvd / t->c.tx_every &&
	       t->vf_sent - t->peer_rcvd - t->peer_lost < t->c.window) {
		size_t len = frame_build(t->buf, t->p->mac, v->mac,
					 t->stream_to_peer, t->vf_sent,
					 t->c.tx_len);

		if (ivf_tx_post(v, t->buf, len))
			break;
		t->vf_sent++;
		posted++;
	}
	if (posted) {
		ivf_tx_kick(v);
		progress = true;
	}
	ivf_tx_clean(v);
	if (peer_rx_all(t))
		progress = true;
	return progress;
}

static void idle(unsigned int *idle_loops)
{
	struct timespec ts = { 0, 20000 };

	if (++*idle_loops < 32) {
		sched_yield();
		return;
	}
	nanosleep(&ts, NULL);
}

/* what the ring looks like when the stream stalls */
static void dtraffic_diag(struct dtraffic *t)
{
	struct ivf *v = t->v;
	char dbg[1024], *p;
	unsigned int i, n = v->rx_next, dd = 0;

	for (i = 0; i < v->rx_count; i++)
		if (v->rx_ring[i].wb.status_error & IVF_RXD_STAT_DD)
			dd++;
	ktap_info("stall: rx_next %u, RDH %u RDT %u RXDCTL 0x%x (as the VF sees them), %u descriptors with DD, desc[rx_next] 0x%llx 0x%llx",
		  n, ivf_rd(v, IVF_RDH(0)), ivf_rd(v, IVF_RDT(0)),
		  ivf_rd(v, IVF_RXDCTL(0)), dd,
		  (unsigned long long)v->rx_ring[n].read.pkt_addr,
		  (unsigned long long)v->rx_ring[n].read.hdr_addr);
	if (!ivf_dbg_read(v->dev->bdf, "dirty", dbg, sizeof(dbg))) {
		for (p = dbg; *p; p++)
			if (*p == '\n')
				*p = ' ';
		ktap_info("stall: debugfs dirty: %s", dbg);
	}
}

int dtraffic_run(struct dtraffic *t)
{
	uint64_t t0 = now_ns(), last = t0, stall = t->c.stall_ms * 1000000ull;
	unsigned int idle_loops = 0;

	for (;;) {
		bool fin = t->c.rx_target && t->vf_rcvd + t->vf_lost >= t->c.rx_target &&
			    t->peer_rcvd + t->peer_lost >= t->vf_sent;

		if (__atomic_load_n(&t->stop, __ATOMIC_RELAXED) || fin)
			break;
		if (__atomic_load_n(&t->pause, __ATOMIC_ACQUIRE)) {
			struct timespec ts = { 0, 200000 };

			uint64_t p0 = now_ns();

			__atomic_store_n(&t->pause_ack,
					 __atomic_load_n(&t->pause_gen, __ATOMIC_ACQUIRE),
					 __ATOMIC_RELEASE);
			nanosleep(&ts, NULL);
			last += now_ns() - p0;	/* a pause is no stall */
			continue;
		}
		if (step(t, true)) {
			last = now_ns();
			idle_loops = 0;
			continue;
		}
		if (now_ns() - last > stall) {
			/* write off what is in flight and go on */
			t->stalls++;
			if (t->reported++ < 5)
				ktap_info("traffic stalled %u ms: %llu to the VF and %llu to the peer in flight written off",
					  t->c.stall_ms,
					  (unsigned long long)rx_outstanding(t),
					  (unsigned long long)(t->vf_sent - t->peer_rcvd - t->peer_lost));
			dtraffic_diag(t);
			t->vf_lost += rx_outstanding(t);
			t->expect = t->peer_sent;
			t->peer_lost = t->vf_sent - t->peer_rcvd;
			t->peer_expect = t->vf_sent;
			last = now_ns();
		}
		idle(&idle_loops);
	}
	if (t->c.drain) {
		last = now_ns();
		while (now_ns() - last < stall &&
		       (rx_outstanding(t) ||
			t->vf_sent != t->peer_rcvd + t->peer_lost)) {
			if (step(t, false)) {
				idle_loops = 0;
				continue;
			}
			idle(&idle_loops);
		}
	}
	t->t_ns += now_ns() - t0;
	__atomic_store_n(&t->done, 1, __ATOMIC_RELEASE);
	return 0;
}

void dtraffic_pause(struct dtraffic *t)
{
	struct timespec ts = { 0, 200000 };

	unsigned int gen = __atomic_add_fetch(&t->pause_gen, 1, __ATOMIC_ACQ_REL);

	__atomic_store_n(&t->pause, 1, __ATOMIC_RELEASE);
	while (t->running && !__atomic_load_n(&t->done, __ATOMIC_ACQUIRE) &&
	       __atomic_load_n(&t->pause_ack, __ATOMIC_ACQUIRE) != gen)
		nanosleep(&ts, NULL);
}

void dtraffic_resume(struct dtraffic *t)
{
	__atomic_store_n(&t->pause, 0, __ATOMIC_RELEASE);
}

unsigned int rxpool_mark_owned(const struct rxpool *p, uint64_t *bm)
{
	struct ivf *v = p->v;
	unsigned int i = v->rx_next, n = 0, tail;

	tail = ivf_rd(v, IVF_RDT(0)) % v->rx_count;
	while (i != tail && (v->rx_ring[i].wb.status_error & IVF_RXD_STAT_DD))
		i = (i + 1) % v->rx_count;
	for (; i != tail; i = (i + 1) % v->rx_count, n++) {
		dmem_mark_range(p->mem, p->pkt[i], v->buf_size, bm);
		if (v->hdr_split)
			dmem_mark_range(p->mem, p->hdr[i], v->hdr_size, bm);
	}
	return n;
}

static void *dtraffic_thread(void *arg)
{
	dtraffic_run(arg);
	return NULL;
}

static int pace_start(struct dtraffic *t);

int dtraffic_start(struct dtraffic *t)
{
	int ret;

	if (t->pace)
		return pace_start(t);
	t->stop = 0;
	t->done = 0;
	ret = pthread_create(&t->th, NULL, dtraffic_thread, t);
	if (ret)
		return -ret;
	t->running = true;
	return 0;
}

void dtraffic_stop(struct dtraffic *t)
{
	if (t->pace)
		t->pace->vf_tx = false;
	if (!t->running)
		return;
	__atomic_store_n(&t->stop, 1, __ATOMIC_RELAXED);
	pthread_join(t->th, NULL);
	t->running = false;
}

/* ----------------------------------------------------------- paced mode */

static void sleep_until(uint64_t t)
{
	struct timespec ts = {
		.tv_sec = t / NS, .tv_nsec = t % NS,
	};

	clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

/* the peer: one frame every 1/rate s, seq numbers without gaps */
static void *pace_peer_thread(void *arg)
{
	struct dtraffic *t = arg;
	struct dt_pace *pc = t->pace;
	struct dt_seqlog *l = &pc->log[DT_TO_VF];
	uint64_t period = NS / pc->rate, start = now_ns(), now;
	uint32_t i = t->peer_sent, base = i;
	uint8_t buf[FRAME_MAX];

	while (!__atomic_load_n(&t->stop, __ATOMIC_RELAXED) && i < l->cap) {
		uint64_t due = start + (uint64_t)(i - base) * period;
		size_t len;

		now = now_ns();
		if (now < due) {
			sleep_until(due < now + NS / 100 ? due : now + NS / 100);
			continue;
		}
		/* far behind (preempted): restart the schedule, no burst */
		if (now - due > 50 * period) {
			start = now;
			base = i;
		}
		len = frame_build(buf, pc->vf_mac, t->p->mac, t->stream_to_vf,
				  i, 0);
		l->t0[i] = now_ns();
		if (peer_send(t->p, buf, len)) {
			t->send_err++;
			sleep_until(now_ns() + NS / 1000);
			continue;
		}
		l->t1[i] = now_ns();
		i++;
		__atomic_store_n(&t->peer_sent, i, __ATOMIC_RELEASE);
	}
	return NULL;
}

static int pace_start(struct dtraffic *t)
{
	struct dt_pace *pc = t->pace;
	int ret;

	if (t->running)
		return 0;
	t->stop = 0;
	ret = pthread_create(&t->th, NULL, pace_peer_thread, t);
	if (ret)
		return -ret;
	t->running = true;
	pc->vf_tx = true;
	pc->vf_t_start = now_ns();
	pc->vf_due_base = t->vf_sent;
	return 0;
}

/* the guest's stream, at the rate; frames sent */
static unsigned int pace_vf_tx(struct dtraffic *t)
{
	struct dt_pace *pc = t->pace;
	struct dt_seqlog *l = &pc->log[DT_TO_PEER];
	uint64_t el = now_ns() - pc->vf_t_start;
	uint64_t due = pc->vf_due_base + el * pc->rate / NS + 1;
	unsigned int n = 0;

	/* after a pause (migration), no burst: start the pacing again */
	if (due > t->vf_sent + 64) {
		pc->vf_t_start = now_ns();
		pc->vf_due_base = t->vf_sent;
		due = t->vf_sent + 1;
	}
	while (t->vf_sent < due && t->vf_sent < l->cap) {
		uint32_t seq = t->vf_sent;
		size_t len = frame_build(t->buf, t->p->mac, pc->vf_mac,
					 t->stream_to_peer, seq, 0);

		l->t0[seq] = now_ns();
		if (ivf_tx_post(t->v, t->buf, len))
			break;
		ivf_tx_kick(t->v);
		l->t1[seq] = now_ns();
		t->vf_sent++;
		n++;
	}
	return n;
}

/* one pass of the guest, if its rings are up, and of the peer's socket */
static bool pace_step(struct dtraffic *t)
{
	struct ivf *v = t->v;
	bool progress = false;

	if (v && v->rings_up) {
		if (ivf_rx_poll(v, vf_rx_cb, t, 64) > 0)
			progress = true;
		if (t->pace->vf_tx && pace_vf_tx(t))
			progress = true;
		ivf_tx_clean(v);
	}
	if (peer_rx_all(t))
		progress = true;
	return progress;
}

unsigned int dtraffic_guest(struct dtraffic *t, struct ivf *v, int ms)
{
	uint64_t end = now_ns() + (uint64_t)ms * 1000000ull;
	unsigned int n = 0;

	t->v = v;
	do {
		if (pace_step(t)) {
			n++;
		} else {
			struct timespec ts = { 0, 200000 };

			nanosleep(&ts, NULL);
		}
	} while (now_ns() < end);
	return n;
}

void dtraffic_drain(struct dtraffic *t, struct ivf *v, int quiet_ms)
{
	uint64_t last = now_ns();
	int guard = 0;

	while (now_ns() - last < (uint64_t)quiet_ms * 1000000ull &&
	       guard++ < 10000) {
		if (dtraffic_guest(t, v, 10))
			last = now_ns();
	}
}

void dtraffic_print(const struct dtraffic *t, const char *prefix)
{
	ktap_info("%speer->vf sent %llu rcvd %llu ok %llu bad %llu lost %llu dup %llu stalls %llu; vf->peer sent %llu rcvd %llu ok %llu bad %llu lost %llu; %.0f frames/s",
		  prefix, (unsigned long long)t->peer_sent,
		  (unsigned long long)t->vf_rcvd, (unsigned long long)t->vf_ok,
		  (unsigned long long)t->vf_bad, (unsigned long long)t->vf_lost,
		  (unsigned long long)t->vf_dup, (unsigned long long)t->stalls,
		  (unsigned long long)t->vf_sent,
		  (unsigned long long)t->peer_rcvd,
		  (unsigned long long)t->peer_ok,
		  (unsigned long long)t->peer_bad,
		  (unsigned long long)t->peer_lost,
		  t->t_ns ? (t->vf_rcvd + t->peer_rcvd) * 1e9 / t->t_ns : 0.0);
}

bool dtraffic_clean(const struct dtraffic *t)
{
	return t->vf_rcvd == t->peer_sent && t->vf_ok == t->vf_rcvd &&
	       !t->vf_bad && !t->vf_lost && !t->vf_dup && !t->send_err &&
	       t->peer_rcvd == t->vf_sent && t->peer_ok == t->peer_rcvd &&
	       !t->peer_lost && !t->rx->errors;
}

/* "ip -o link show" of the peer's interface in @out; 0 or -1 */
static int peer_link(const char *ns, const char *ifname, char *out, size_t n)
{
	char cmd[256];
	FILE *f;
	int ok;

	snprintf(cmd, sizeof(cmd), "ip -n %s -o link show dev %s 2>/dev/null",
		 ns, ifname);
	f = popen(cmd, "r");
	if (!f)
		return -1;
	ok = !!fgets(out, n, f);
	return pclose(f) == 0 && ok ? 0 : -1;
}

/* carrier (LOWER_UP, current) and operstate UP (set by linkwatch) */
static bool peer_up(const char *line)
{
	return strstr(line, "LOWER_UP") && strstr(line, " state UP ");
}

/*
 * A new MTU resets the peer's NIC: the driver drops its carrier at once,
 * and a frame sent before the link is up again is dropped without an
 * error (the lab's dirty_exact lost its first 32 jumbo frames that way).
 * So wait for the carrier and for operstate UP (linkwatch sets it just
 * before it gives the device its qdisc back; carrier-off alone may not
 * have reached it yet), up to 10 s. An unchanged MTU costs nothing.
 */
int peer_set_mtu(const char *ns, const char *ifname, unsigned int mtu)
{
	char cmd[256], line[1024], want[32];
	int i;

	snprintf(want, sizeof(want), " mtu %u ", mtu);
	if (!peer_link(ns, ifname, line, sizeof(line)) && strstr(line, want) &&
	    peer_up(line))
		return 0;
	snprintf(cmd, sizeof(cmd), "ip -n %s link set %s mtu %u", ns, ifname,
		 mtu);
	if (system(cmd) != 0)
		return -1;
	for (i = 0; i < 500; i++) {
		if (!peer_link(ns, ifname, line, sizeof(line)) && peer_up(line))
			return 0;
		usleep(20000);
	}
	ktap_info("peer %s: link not up 10 s after setting MTU %u", ifname,
		  mtu);
	return -1;
}

/* ---------------------------------------------------------------- dsess */

static int sess_fail(const char *what, int ret)
{
	ktap_info("session: %s: %s", what, strerror(-ret));
	return ret;
}

int dsess_open(struct dsess *s, const char *bdf, const struct dsess_cfg *c)
{
	struct ivf_ring_cfg rc;
	uint64_t iova;
	int ret;

	memset(s, 0, sizeof(*s));
	s->data_fd = -1;
	s->r_hdr = s->r_hpool = s->r_idle = s->r_spare = -1;
	s->c = *c;
	if (!s->c.rx_count)
		s->c.rx_count = 128;
	if (!s->c.tx_count)
		s->c.tx_count = 128;
	if (!s->c.buf_size)
		s->c.buf_size = 2048;
	if (!s->c.hdr_size)
		s->c.hdr_size = 256;
	if (!s->c.nbuf)
		s->c.nbuf = 4 * s->c.rx_count;
	if (!s->c.idle)
		s->c.idle = 4 << 20;
	if (!s->c.max_frame)
		s->c.max_frame = 1522;
	if (!s->c.iova_base)
		s->c.iova_base = 0x10000000;
	c = &s->c;

	ret = vfio_dev_open_backend(&s->d, bdf, &c->backend);
	if (ret)
		return sess_fail("open", ret);
	s->dev_open = true;
	ret = ivf_open(&s->v, &s->d, IVF_ACCESS_MMAP);
	if (ret)
		return sess_fail("ivf_open", ret);
	s->ivf_open = true;
	ret = ivf_reset(&s->v);
	if (ret)
		return sess_fail("VF reset", ret);
	ret = ivf_set_lpe(&s->v, c->max_frame);
	if (ret)
		return sess_fail("SET_LPE", ret);
	rc = (struct ivf_ring_cfg) {
		.rx_count = c->rx_count, .tx_count = c->tx_count,
		.buf_size = c->buf_size, .hdr_split = c->hdr_split,
		.hdr_size = c->hdr_size, .iova_base = c->iova_base,
	};
	ret = ivf_rings_setup(&s->v, &rc);
	if (ret)
		return sess_fail("rings", ret);

	iova = c->iova_base + 0x01000000;
	ret = vfio_dma_alloc(&s->d, &s->pool, (size_t)c->nbuf * c->buf_size,
			     iova);
	if (ret)
		return sess_fail("pool", ret);
	iova = (iova + s->pool.size + 0xffff) & ~0xffffull;
	if (c->hdr_split) {
		ret = vfio_dma_alloc(&s->d, &s->hpool,
				     (size_t)c->nbuf * c->hdr_size, iova);
		if (ret)
			return sess_fail("header pool", ret);
		iova = (iova + s->hpool.size + 0xffff) & ~0xffffull;
	}
	ret = vfio_dma_alloc(&s->d, &s->idle, c->idle, iova);
	if (ret)
		return sess_fail("idle region", ret);
	iova = (iova + s->idle.size + 0xffff) & ~0xffffull;
	ret = vfio_dma_alloc(&s->d, &s->spare, 1 << 20, iova);
	if (ret)
		return sess_fail("spare region", ret);

#define ADD(idx, name, dma, kind)						\
	do {								\
		idx = s->m.n;						\
		ret = dmem_add(&s->m, name, (dma).vaddr, (dma).iova,	\
			       (dma).size, kind);			\
		if (ret)						\
			return sess_fail("dmem " name, ret);		\
	} while (0)
	ADD(s->r_rx_ring, "rx ring", s->v.rx_ring_dma, DMEM_DEV);
	ADD(s->r_tx_ring, "tx ring", s->v.tx_ring_dma, DMEM_DEV);
	ADD(s->r_rx_buf, "rx bufs", s->v.rx_buf_dma, DMEM_DEV);
	ADD(s->r_tx_buf, "tx bufs", s->v.tx_buf_dma, DMEM_CPU);
	if (c->hdr_split)
		ADD(s->r_hdr, "rx hdrs", s->v.rx_hdr_dma, DMEM_DEV);
	ADD(s->r_pool, "pool", s->pool, DMEM_DEV);
	if (c->hdr_split)
		ADD(s->r_hpool, "hdr pool", s->hpool, DMEM_DEV);
	ADD(s->r_idle, "idle", s->idle, DMEM_IDLE);
	ADD(s->r_spare, "spare", s->spare, DMEM_DEV);
#undef ADD
	ret = dmem_finish(&s->m, c->snapshots);
	if (ret)
		return sess_fail("dmem", ret);
	ret = rxpool_init(&s->rx, &s->v, &s->m, s->pool.iova,
			  c->hdr_split ? s->hpool.iova : 0, c->nbuf);
	if (ret)
		return sess_fail("rxpool", ret);
	return 0;
}

void dsess_canary(struct dsess *s, uint32_t seed)
{
	int i;

	for (i = 0; i < s->m.n; i++)
		if (i != s->r_rx_ring && i != s->r_tx_ring)
			dmem_fill(&s->m.r[i], seed);
}

void dsess_drop_fd(struct dsess *s)
{
	if (s->v.map)
		munmap((void *)s->v.map, IVF_BAR0_SIZE - IVF_BAR_PAGE_SIZE);
	s->v.map = NULL;
	if (s->d.fd >= 0)
		close(s->d.fd);
	s->d.fd = -1;
}

void dsess_close(struct dsess *s)
{
	if (s->data_fd >= 0)
		close(s->data_fd);
	s->data_fd = -1;
	rxpool_free(&s->rx);
	if (s->ivf_open)
		ivf_close(&s->v);
	s->ivf_open = false;
	if (s->dev_open) {
		vfio_dma_free(&s->d, &s->pool);
		vfio_dma_free(&s->d, &s->hpool);
		vfio_dma_free(&s->d, &s->idle);
		vfio_dma_free(&s->d, &s->spare);
		vfio_dev_close(&s->d);
	}
	s->dev_open = false;
	dmem_free(&s->m);
}

int dsess_state(struct dsess *s, uint32_t state)
{
	int fd = -1, ret;

	ret = mig_set_state(&s->d, state, &fd);
	if (!ret && fd >= 0) {
		if (s->data_fd >= 0)
			close(s->data_fd);
		s->data_fd = fd;
	}
	return ret;
}

int dsess_engage(struct dsess *s)
{
	int ret = dirty_start(&s->d);

	if (ret)
		return sess_fail("container dirty tracking START", ret);
	ret = dsess_state(s, VFIO_DEVICE_STATE_PRE_COPY);
	if (ret)
		return sess_fail("RUNNING -> PRE_COPY", ret);
	return 0;
}

static void post_cb(void *arg, unsigned int i)
{
	post(arg, i);
}

/* The rings again from scratch, RX buffers from the pool. */
void dsess_reprogram(struct dsess *s)
{
	struct ivf *v = &s->v;

	ivf_wr(v, IVF_TXDCTL(0), ivf_rd(v, IVF_TXDCTL(0)) & ~IVF_XDCTL_ENABLE);
	memset((void *)v->tx_ring, 0, v->tx_ring_dma.size);
	ivf_rings_program(v, post_cb, &s->rx);
}

static void lag_cb(void *arg, const uint8_t *d, uint32_t len, uint32_t st)
{
	(void)d;
	(void)len;
	(void)st;
	(*(unsigned int *)arg)++;
}

static bool lag_probe(struct dsess *s, struct peer *p)
{
	static uint32_t seq;
	uint8_t buf[FRAME_MIN];

	frame_build(buf, s->v.mac, p->mac, 5, seq++, FRAME_MIN);
	return !peer_send(p, buf, FRAME_MIN);
}

/* poll for frames for up to @us; frames received */
static unsigned int lag_rx(struct dsess *s, unsigned int us)
{
	unsigned int got = 0;
	uint64_t t0 = now_ns();

	do {
		if (rxpool_poll(&s->rx, lag_cb, &got, 64) > 0)
			break;
		/* leave the CPU to the poller (one vCPU in the lab) */
		usleep(20);
	} while (now_ns() - t0 < us * 1000ull);
	return got;
}

bool dsess_starve(struct dsess *s, struct peer *p)
{
	unsigned int i;

	s->rx.defer_doorbell = true;
	for (i = 0; i < 4 * s->v.rx_count; i++) {
		if (!lag_probe(s, p))
			break;
		if (!lag_rx(s, 60000))
			break;		/* the device is out of descriptors */
	}
	s->rx.defer_doorbell = false;
	return i < 4 * s->v.rx_count;
}

double dsess_doorbell_lag(struct dsess *s, struct peer *p,
			  unsigned int probe_us)
{
	uint64_t t0;

	if (!dsess_starve(s, p))
		return -1;
	t0 = now_ns();
	rxpool_doorbell(&s->rx);
	while (now_ns() - t0 < 3000000000ull) {
		lag_probe(s, p);
		if (lag_rx(s, probe_us))
			return (now_ns() - t0) / 1e6;
	}
	return -1;
}

uint64_t dsess_dbg(struct dsess *s, const char *key)
{
	uint64_t v;

	return ivf_dbg_u64(s->d.bdf, "dirty", key, &v) ? UINT64_MAX : v;
}

int peer_frames_to_vf(struct peer *p, const struct ivf *v, uint16_t stream,
		      int n, int pace, uint32_t *seq)
{
	uint8_t buf[FRAME_MAX];
	int i;

	for (i = 0; i < n; i++) {
		size_t len = frame_build(buf, v->mac, p->mac, stream, (*seq)++,
					 FRAME_MIN);

		if (peer_send(p, buf, len)) {
			ktap_info("peer: frame %d of %d not sent: %s", i, n,
				  strerror(errno));
			break;
		}
		if (pace && i % pace == pace - 1)
			usleep(3000);
	}
	return i;
}

int dtraffic_flush(struct dtraffic *t, unsigned int n)
{
	struct ivf *v = t->v;
	uint32_t h0 = ivf_rd(v, IVF_RDH(0)) & 0xffff, seq = 0;
	unsigned int i, moved = 0;
	uint64_t end;

	if (!v->rx_count)
		return 0;
	i = peer_frames_to_vf(t->p, v, 7, n, 0, &seq);
	end = now_ns() + 500000000ull;
	for (;;) {
		uint32_t h = ivf_rd(v, IVF_RDH(0)) & 0xffff;

		moved = (h + v->rx_count - h0) % v->rx_count;
		if (moved >= i || now_ns() >= end)
			break;
		usleep(1000);
	}
	return moved;
}

int vf_reset_and_ready(struct vfio_dev *d, struct ivf *v)
{
	int ret = vfio_dev_reset(d) ?: ivf_reset(v);

	if (ret)
		return ret;
	ivf_rings_program(v, NULL, NULL);
	usleep(100000);
	return 0;
}

int vf_rx_burst(struct ivf *v, struct peer *p, int n, int ms, uint32_t *seq)
{
	uint64_t end;
	int got = 0;

	ivf_rx_poll(v, NULL, NULL, 256);	/* drop what is pending */
	peer_frames_to_vf(p, v, 7, n, 0, seq);
	end = now_ns() + (uint64_t)ms * 1000000;
	while (now_ns() < end && got < n) {
		int r = ivf_rx_poll(v, NULL, NULL, 64);

		if (r > 0)
			got += r;
		else
			usleep(1000);
	}
	return got;
}
