/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Sequenced traffic both ways between a kernel peer (peer.h) and the
 * userspace-driven VF (ivf.h), made to follow the VF across migrations.
 *
 * The peer sends at a fixed rate from its own thread, whatever the VF is
 * doing: like the outside world, it does not stop while the guest is paused.
 * The VF side ("the guest") only runs inside tgen_guest(), which polls RX,
 * sends its own stream at the same rate and drains the peer's socket.
 *
 * Every frame's send is timestamped (before and after the send call), so
 * a frame that never arrived can be put inside or outside a "stop window"
 * (tgen_window(): the time the device was quiesced for a migration).
 * Each frame is also checked for corruption, duplication and reordering.
 */
#ifndef IVF_TGEN_H
#define IVF_TGEN_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ivf.h"
#include "peer.h"

#define TGEN_STREAM_TO_VF	21
#define TGEN_STREAM_TO_PEER	22
#define TGEN_MAX_WINDOWS	128

struct tgen_dir {
	const char *name;
	uint16_t stream;
	uint32_t cap;		/* sequence numbers that fit below */
	volatile uint32_t sent;	/* frames sent: seq 0..sent-1 */
	uint64_t *t0, *t1;	/* send call entry/exit, now_ns() */
	uint8_t *seen;		/* receptions per seq (saturating) */
	uint32_t rcvd, ok, dup, bad, ooo;
	uint32_t next;		/* highest seq received + 1 */
	uint32_t send_err;
	int reported;
};

/* called for frames of other streams the VF receives */
typedef void (*tgen_other_cb)(void *arg, const uint8_t *data, uint32_t len,
			      uint32_t status);

struct tgen {
	struct peer *p;
	uint8_t vf_mac[6];
	unsigned int rate;	/* frames/s each way */
	size_t len;		/* frame length, 0 = cycle 60..1514 */
	struct tgen_dir to_vf, to_peer;
	bool vf_tx;		/* the guest sends its stream */
	uint64_t vf_t_start;	/* pacing of the guest's stream */
	uint32_t vf_due_base;
	tgen_other_cb other;
	void *other_arg;
	uint32_t foreign;	/* frames of nobody's stream at the VF */

	pthread_t th;
	volatile int run;
	bool thread;

	uint64_t win_b[TGEN_MAX_WINDOWS], win_e[TGEN_MAX_WINDOWS];
	unsigned int nwin;
};

struct tgen_tally {
	uint32_t sent, ok, lost, lost_in_window, lost_outside, dup, bad, ooo;
};

/* @cap sequence numbers per direction; 0 or -errno */
int tgen_init(struct tgen *g, struct peer *p, const uint8_t vf_mac[6],
	      unsigned int rate, size_t len, uint32_t cap);
void tgen_free(struct tgen *g);
/* start/stop the peer's sending thread and the guest's stream */
int tgen_start(struct tgen *g);
void tgen_stop(struct tgen *g);
/*
 * The guest runs for @ms milliseconds (at least one pass): VF RX, VF TX of
 * its stream if started, TX completions, peer RX. Returns frames handled.
 */
unsigned int tgen_guest(struct tgen *g, struct ivf *v, int ms);
/* after tgen_stop: run the guest until nothing arrives for @quiet_ms */
void tgen_drain(struct tgen *g, struct ivf *v, int quiet_ms);
/* a stop window [b, e] in now_ns() time */
void tgen_window(struct tgen *g, uint64_t b, uint64_t e);
/* losses of @d: lost frames sent overlapping a window +- @slack_ns */
void tgen_tally(const struct tgen *g, const struct tgen_dir *d,
		uint64_t slack_ns, struct tgen_tally *t);
/*
 * print (ktap_info) up to @max runs of lost frames of @d: first seq, count,
 * send time relative to the nearest stop window; with @outside_only only
 * runs that start outside every window (+- @slack_ns)
 */
void tgen_print_lost(const struct tgen *g, const struct tgen_dir *d,
		     unsigned int max, uint64_t slack_ns, bool outside_only);
/* frames of @d whose send overlapped [b, e] */
uint32_t tgen_sent_between(const struct tgen_dir *d, uint64_t b, uint64_t e);
/* frames of @d lost whose send overlapped [b, e] */
uint32_t tgen_lost_between(const struct tgen_dir *d, uint64_t b, uint64_t e);

#endif /* IVF_TGEN_H */
