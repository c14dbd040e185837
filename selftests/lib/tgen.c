// SPDX-License-Identifier: GPL-2.0
/*
 * Sequenced traffic that follows a migrating VF (see tgen.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "frame.h"
#include "ktap.h"
#include "tgen.h"
#include "util.h"

#define NS	1000000000ull

static int dir_init(struct tgen_dir *d, const char *name, uint16_t stream,
		    uint32_t cap)
{
	memset(d, 0, sizeof(*d));
	d->name = name;
	d->stream = stream;
	d->cap = cap;
	d->t0 = calloc(cap, sizeof(*d->t0));
	d->t1 = calloc(cap, sizeof(*d->t1));
	d->seen = calloc(cap, 1);
	return d->t0 && d->t1 && d->seen ? 0 : -ENOMEM;
}

static void dir_free(struct tgen_dir *d)
{
	free(d->t0);
	free(d->t1);
	free(d->seen);
	d->t0 = d->t1 = NULL;
	d->seen = NULL;
}

int tgen_init(struct tgen *g, struct peer *p, const uint8_t vf_mac[6],
	      unsigned int rate, size_t len, uint32_t cap)
{
	memset(g, 0, sizeof(*g));
	g->p = p;
	memcpy(g->vf_mac, vf_mac, 6);
	g->rate = rate ? rate : 1;
	g->len = len;
	if (dir_init(&g->to_vf, "peer->vf", TGEN_STREAM_TO_VF, cap) ||
	    dir_init(&g->to_peer, "vf->peer", TGEN_STREAM_TO_PEER, cap)) {
		tgen_free(g);
		return -ENOMEM;
	}
	return 0;
}

void tgen_free(struct tgen *g)
{
	if (g->thread)
		tgen_stop(g);
	dir_free(&g->to_vf);
	dir_free(&g->to_peer);
}

static void sleep_until(uint64_t t)
{
	struct timespec ts = {
		.tv_sec = t / NS, .tv_nsec = t % NS,
	};

	clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

/* the peer: one frame every 1/rate s, seq numbers without gaps */
static void *peer_thread(void *arg)
{
	struct tgen *g = arg;
	struct tgen_dir *d = &g->to_vf;
	uint64_t period = NS / g->rate, start = now_ns(), now;
	uint32_t i = d->sent, base = i;
	uint8_t buf[FRAME_MAX];

	while (g->run && i < d->cap) {
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
		len = frame_build(buf, g->vf_mac, g->p->mac, d->stream, i,
				  g->len);
		d->t0[i] = now_ns();
		if (peer_send(g->p, buf, len)) {
			d->send_err++;
			sleep_until(now_ns() + NS / 1000);
			continue;
		}
		d->t1[i] = now_ns();
		i++;
		__atomic_store_n(&d->sent, i, __ATOMIC_RELEASE);
	}
	return NULL;
}

int tgen_start(struct tgen *g)
{
	int ret;

	if (g->thread)
		return 0;
	g->run = 1;
	ret = pthread_create(&g->th, NULL, peer_thread, g);
	if (ret)
		return -ret;
	g->thread = true;
	g->vf_tx = true;
	g->vf_t_start = now_ns();
	g->vf_due_base = g->to_peer.sent;
	return 0;
}

void tgen_stop(struct tgen *g)
{
	g->vf_tx = false;
	if (!g->thread)
		return;
	g->run = 0;
	pthread_join(g->th, NULL);
	g->thread = false;
}

static void rx_one(struct tgen_dir *d, const uint8_t *buf, size_t len,
		   const uint8_t *dst, const uint8_t *src, size_t fixed)
{
	enum frame_verdict v;
	uint32_t seq = 0;

	v = frame_check(buf, len, dst, src, d->stream, fixed, &seq);
	if (v == FRAME_FOREIGN)
		return;
	d->rcvd++;
	if (v != FRAME_OK) {
		d->bad++;
		if (d->reported++ < 5)
			ktap_info("%s: frame seq %u len %zu: %s", d->name, seq,
				  len, frame_verdict_str(v));
		if (v == FRAME_BAD_ADDR || seq >= d->cap)
			return;
	}
	if (seq >= d->cap) {
		d->bad++;
		return;
	}
	if (d->seen[seq]) {
		d->dup++;
		if (d->reported++ < 5)
			ktap_info("%s: seq %u received again", d->name, seq);
	} else if (seq + 1 < d->next) {
		d->ooo++;
		if (d->reported++ < 5)
			ktap_info("%s: seq %u after seq %u", d->name, seq,
				  d->next - 1);
	}
	if (d->seen[seq] < 255)
		d->seen[seq]++;
	if (seq + 1 > d->next)
		d->next = seq + 1;
	if (v == FRAME_OK)
		d->ok++;
}

static void vf_rx_cb(void *arg, const uint8_t *data, uint32_t len,
		     uint32_t status)
{
	struct tgen *g = arg;
	uint16_t stream;

	if (len < FRAME_HDR || data[12] != (FRAME_ETHERTYPE >> 8) ||
	    data[13] != (FRAME_ETHERTYPE & 0xff)) {
		if (g->other)
			g->other(g->other_arg, data, len, status);
		else
			g->foreign++;
		return;
	}
	stream = (uint16_t)data[18] << 8 | data[19];
	if (stream != g->to_vf.stream) {
		if (g->other)
			g->other(g->other_arg, data, len, status);
		else
			g->foreign++;
		return;
	}
	if (status & IVF_RXD_ERR_FRAME_MASK) {
		g->to_vf.bad++;
		if (g->to_vf.reported++ < 5)
			ktap_info("%s: descriptor error 0x%08x", g->to_vf.name,
				  status);
	}
	rx_one(&g->to_vf, data, len, g->vf_mac, g->p->mac, g->len);
}

static unsigned int vf_tx(struct tgen *g, struct ivf *v)
{
	struct tgen_dir *d = &g->to_peer;
	uint64_t el = now_ns() - g->vf_t_start;
	uint32_t due = g->vf_due_base + (uint32_t)(el * g->rate / NS) + 1;
	uint8_t buf[FRAME_MAX];
	unsigned int n = 0;

	/* after a pause (migration), no burst: start the pacing again */
	if (due > d->sent + 64) {
		g->vf_t_start = now_ns();
		g->vf_due_base = d->sent;
		due = d->sent + 1;
	}
	while (d->sent < due && d->sent < d->cap) {
		size_t len = frame_build(buf, g->p->mac, g->vf_mac, d->stream,
					 d->sent, g->len);

		d->t0[d->sent] = now_ns();
		if (ivf_tx_post(v, buf, len))
			break;
		ivf_tx_kick(v);
		d->t1[d->sent] = now_ns();
		d->sent++;
		n++;
	}
	ivf_tx_clean(v);
	return n;
}

static unsigned int peer_rx(struct tgen *g)
{
	uint8_t buf[2048];
	unsigned int n = 0;
	ssize_t len;

	while ((len = peer_recv(g->p, buf, sizeof(buf), 0)) > 0) {
		rx_one(&g->to_peer, buf, len, g->p->mac, g->vf_mac, g->len);
		n++;
	}
	return n;
}

unsigned int tgen_guest(struct tgen *g, struct ivf *v, int ms)
{
	uint64_t end = now_ns() + (uint64_t)ms * 1000000ull;
	unsigned int n = 0, k;
	int r;

	do {
		k = 0;
		if (v && v->rings_up) {
			r = ivf_rx_poll(v, vf_rx_cb, g, 64);
			if (r > 0)
				k += r;
			if (g->vf_tx)
				k += vf_tx(g, v);
			else
				ivf_tx_clean(v);
		}
		k += peer_rx(g);
		n += k;
		if (!k) {
			struct timespec ts = { 0, 200000 };

			nanosleep(&ts, NULL);
		}
	} while (now_ns() < end);
	return n;
}

void tgen_drain(struct tgen *g, struct ivf *v, int quiet_ms)
{
	uint64_t last = now_ns();
	int guard = 0;

	while (now_ns() - last < (uint64_t)quiet_ms * 1000000ull &&
	       guard++ < 10000) {
		if (tgen_guest(g, v, 10))
			last = now_ns();
	}
}

void tgen_window(struct tgen *g, uint64_t b, uint64_t e)
{
	if (g->nwin < TGEN_MAX_WINDOWS) {
		g->win_b[g->nwin] = b;
		g->win_e[g->nwin] = e;
		g->nwin++;
	}
}

uint32_t tgen_sent_between(const struct tgen_dir *d, uint64_t b, uint64_t e)
{
	uint32_t i, n = 0, sent = d->sent;

	for (i = 0; i < sent; i++)
		if (d->t1[i] >= b && d->t0[i] <= e)
			n++;
	return n;
}

uint32_t tgen_lost_between(const struct tgen_dir *d, uint64_t b, uint64_t e)
{
	uint32_t i, n = 0, sent = d->sent;

	for (i = 0; i < sent; i++)
		if (!d->seen[i] && d->t1[i] >= b && d->t0[i] <= e)
			n++;
	return n;
}

static bool in_window(const struct tgen *g, const struct tgen_dir *d,
		      uint32_t i, uint64_t slack_ns)
{
	unsigned int w;

	for (w = 0; w < g->nwin; w++)
		if (d->t1[i] + slack_ns >= g->win_b[w] &&
		    d->t0[i] <= g->win_e[w] + slack_ns)
			return true;
	return false;
}

void tgen_tally(const struct tgen *g, const struct tgen_dir *d,
		uint64_t slack_ns, struct tgen_tally *t)
{
	uint32_t i, sent = d->sent;

	memset(t, 0, sizeof(*t));
	t->sent = sent;
	t->ok = d->ok;
	t->dup = d->dup;
	t->bad = d->bad;
	t->ooo = d->ooo;
	for (i = 0; i < sent; i++) {
		if (d->seen[i])
			continue;
		t->lost++;
		if (in_window(g, d, i, slack_ns))
			t->lost_in_window++;
		else
			t->lost_outside++;
	}
}

void tgen_print_lost(const struct tgen *g, const struct tgen_dir *d,
		     unsigned int max, uint64_t slack_ns, bool outside_only)
{
	uint32_t i = 0, j, sent = d->sent;
	unsigned int runs = 0, w, bw;

	while (i < sent && runs < max) {
		double best = 1e18, rel = 0;

		if (d->seen[i]) {
			i++;
			continue;
		}
		for (j = i; j < sent && !d->seen[j]; j++)
			;
		if (outside_only && in_window(g, d, i, slack_ns)) {
			i = j;
			continue;
		}
		for (bw = 0, w = 0; w < g->nwin; w++) {
			double r = ((double)d->t0[i] - (double)g->win_b[w]) / 1e6;
			double a = r < 0 ? -r : r;

			if (a < best) {
				best = a;
				rel = r;
				bw = w;
			}
		}
		if (g->nwin)
			ktap_info("%s: lost seq %u..%u (%u), sent %+.1f ms from the start of stop window %u",
				  d->name, i, j - 1, j - i, rel, bw);
		else
			ktap_info("%s: lost seq %u..%u (%u)", d->name, i, j - 1,
				  j - i);
		runs++;
		i = j;
	}
}
