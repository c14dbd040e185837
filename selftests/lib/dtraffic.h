/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Traffic for the dirty tracking tests.
 *
 * rxpool: an RX refill path for the userspace VF driver that posts a
 * different buffer on every refill, taken in turn from a pool (as a guest
 * driver that allocates buffers does), so buffers are armed, written and
 * retired all over guest memory instead of sitting at fixed addresses. The
 * rings come from ivf_rings_setup(); the buffers it posted first are used
 * for the first lap. All data is reached through a struct dmem (IOVA ->
 * vaddr), so the memory can be swapped under it (migration).
 *
 * dtraffic: a sequenced stream from the kernel peer to the VF (window
 * based: never more than @window frames in flight, so nothing is lost for
 * lack of descriptors), optionally a stream back, run inline or in a thread;
 * or paced (dtraffic_paced_init(), below): both ways at a fixed rate,
 * whatever the VF does, with every frame logged for the losses around
 * migrations (dtraffic_log.c).
 */
#ifndef IVF_DTRAFFIC_H
#define IVF_DTRAFFIC_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dirty.h"
#include "ivf.h"
#include "peer.h"

struct rxpool {
	struct ivf *v;
	const struct dmem *mem;
	uint64_t pkt_iova;	/* pool of nbuf buffers of v->buf_size */
	uint64_t hdr_iova;	/* pool of nbuf header buffers (split) */
	unsigned int nbuf;	/* 0: repost the same buffer (no pool) */
	unsigned int next;	/* next pool buffer to hand out */
	uint64_t *pkt, *hdr;	/* per descriptor: the buffers posted */
	uint8_t *tmp;		/* reassembly for header split */
	uint32_t *buf_desc;	/* per pool buffer: descriptor it went to */
	uint64_t *buf_serial;	/* ... and its hand-out number (next) */
	uint64_t frames, errors;
	bool defer_doorbell;	/* rxpool_poll() leaves RDT to rxpool_doorbell() */
	int pending_rdt;	/* -1: nothing to ring */
};

/*
 * Take over RX refills of @v (rings set up): record the buffers
 * ivf_rings_setup() posted. 0 or -errno
 */
int rxpool_init(struct rxpool *p, struct ivf *v, const struct dmem *mem,
		uint64_t pkt_iova, uint64_t hdr_iova, unsigned int nbuf);
void rxpool_free(struct rxpool *p);
/* like ivf_rx_poll(), refilling from the pool */
int rxpool_poll(struct rxpool *p, ivf_rx_cb cb, void *arg, int budget);
/* write the RDT that rxpool_poll() held back (defer_doorbell); 1 if any */
int rxpool_doorbell(struct rxpool *p);
/* pages of the buffers currently posted in the ring, ORed into @bm */
void rxpool_mark_posted(const struct rxpool *p, uint64_t *bm);
/* fresh pool buffers in every descriptor from 0 on, rx_next 0 */
void rxpool_post_all(struct rxpool *p);
/* rewrite the ring's descriptors i with pkt[i]/hdr[i] (after a move) */
void rxpool_repost_all(struct rxpool *p);

#define DT_STREAM_TO_VF		2
#define DT_STREAM_TO_PEER	1

struct dtraffic_cfg {
	size_t min_len, max_len;	/* peer -> VF frame sizes, cycling */
	unsigned int window;		/* frames in flight each way */
	unsigned int tx_every;		/* VF sends 1 frame per N received; 0 none */
	size_t tx_len;			/* VF -> peer length (0: 60) */
	uint64_t rx_target;		/* stop after N frames sent & received (0: never) */
	bool drain;			/* on stop: wait for frames in flight */
	unsigned int stall_ms;		/* no progress this long: count as lost */
};

struct dt_pace;

struct dtraffic {
	struct dtraffic_cfg c;
	struct ivf *v;
	struct rxpool *rx;
	struct peer *p;
	pthread_t th;
	bool running;
	volatile int stop;
	volatile int done;		/* dtraffic_run() returned */
	volatile int pause;		/* set: the thread stops touching the VF */
	volatile unsigned int pause_gen, pause_ack;	/* ... and says so */

	/* peer -> VF */
	volatile uint64_t peer_sent, vf_rcvd, vf_ok, vf_bad, vf_lost, vf_dup;
	uint64_t vf_foreign, send_err, stalls;
	uint32_t expect;
	/* VF -> peer */
	volatile uint64_t vf_sent, peer_rcvd, peer_ok, peer_bad, peer_lost;
	uint32_t peer_expect;
	uint64_t t_ns;			/* time spent running */
	int reported;
	uint8_t *buf;

	/* streams (DT_STREAM_* unless paced) */
	uint16_t stream_to_vf, stream_to_peer;
	/* if set, the VF's frames of no stream of ours go to it */
	ivf_rx_cb other;
	void *other_arg;
	struct dt_pace *pace;		/* paced traffic, below; else NULL */
};

/* 60..1514 B frames, 32 in flight, 1 sent back per 4, drained, 300 ms stall */
extern const struct dtraffic_cfg dtraffic_mixed;

int dtraffic_init(struct dtraffic *t, const struct dtraffic_cfg *c,
		  struct ivf *v, struct rxpool *rx, struct peer *p);
void dtraffic_free(struct dtraffic *t);
/* run in the calling thread until stop, or rx_target; 0 or -errno */
int dtraffic_run(struct dtraffic *t);
int dtraffic_start(struct dtraffic *t);
void dtraffic_stop(struct dtraffic *t);
/* hold the traffic thread still (and wait until it is) / let it go */
void dtraffic_pause(struct dtraffic *t);
void dtraffic_resume(struct dtraffic *t);
/*
 * Descriptors the device owns, as the (paused) driver sees them: from the
 * first one at or after rx_next without DD up to the tail it wrote. Their
 * buffer pages are ORed into @bm; returns how many descriptors.
 */
unsigned int rxpool_mark_owned(const struct rxpool *p, uint64_t *bm);
/* frames received by the VF so far (for pacing from another thread) */
static inline uint64_t dtraffic_rcvd(const struct dtraffic *t)
{
	return __atomic_load_n(&t->vf_rcvd, __ATOMIC_RELAXED);
}
/* length of peer -> VF frame @seq */
size_t dtraffic_len(const struct dtraffic *t, uint32_t seq);
/* one "#" line of counters */
void dtraffic_print(const struct dtraffic *t, const char *prefix);
/* no loss, no corruption, no duplicate, everything sent arrived */
bool dtraffic_clean(const struct dtraffic *t);

/*
 * The peer sends @n minimal frames of @stream to the VF, numbered from
 * *@seq on, pausing 3 ms after every @pace frames (0: no pause); it stops
 * at the first one it can't send (said in a "#" line). How many went.
 */
int peer_frames_to_vf(struct peer *p, const struct ivf *v, uint16_t stream,
		      int n, int pace, uint32_t *seq);

/*
 * The peer sends @n minimal frames (stream 7, numbered from *@seq on) to
 * the VF after what was pending is dropped; how many the VF receives
 * within @ms.
 */
int vf_rx_burst(struct ivf *v, struct peer *p, int n, int ms, uint32_t *seq);

/*
 * A guest's driver after VFIO_DEVICE_RESET: the reset, the PF handshake,
 * its rings programmed again, 100 ms for the link. 0 or -errno.
 */
int vf_reset_and_ready(struct vfio_dev *d, struct ivf *v);

/*
 * Before a test quiesces the device with the traffic stopped: the peer sends
 * @n frames (stream 7) that nobody takes, and the device writes them back
 * into the RX ring after the driver's last postings. The driver's postings
 * are CPU writes to the ring page, which a VMM learns of from its own dirty
 * log, not from the device's: through type1 the tracker reports the
 * ring page when the device writes it back, so without this the checker
 * (lib/dcheck.h) could find the ring page changed last by the CPU and never
 * reported, and count it as a miss. Covers a ring of one page (256
 * descriptors or fewer). Returns how many descriptors the device took
 * within 500 ms.
 */
int dtraffic_flush(struct dtraffic *t, unsigned int n);

/* ip -n NS link set IF mtu N; 0 or -1 */
int peer_set_mtu(const char *ns, const char *ifname, unsigned int mtu);

/*
 * Paced traffic, for a guest that migrates: the peer sends at a fixed rate
 * from its own thread (dtraffic_start()) whatever the VF does, as the
 * outside world does not stop while a guest is paused, and the VF ("the
 * guest") only runs inside dtraffic_guest(), which may be given another
 * struct ivf each time (the guest moved): it polls RX through the ivf's
 * own buffers (no rxpool), sends the guest's stream at the same rate and
 * drains the peer's socket. dtraffic_stop() stops both streams,
 * dtraffic_free() frees it all.
 *
 * Every frame's send is timestamped (before and after the send call) and
 * every reception logged by sequence number, so a frame that never arrived
 * can be put inside or outside a "stop window" (dtraffic_window(): the
 * time the device was quiesced for a migration). Frame lengths cycle
 * through 60..1514 (frame_len_for()); the counters above count as usual
 * (peer_sent, vf_ok, vf_bad, vf_sent, peer_ok, peer_bad, ...). The streams
 * have numbers of their own, which stay: frames of the peer's stream sit
 * in the RX rings of the device states stream_xkernel saves, and a later
 * build resumes them.
 */
#define DT_STREAM_PACED_TO_VF	21
#define DT_STREAM_PACED_TO_PEER	22
#define DT_MAX_WINDOWS		128

enum dt_dir { DT_TO_VF, DT_TO_PEER };

/* one direction of paced traffic, by sequence number */
struct dt_seqlog {
	const char *name;
	uint32_t cap;		/* sequence numbers that fit */
	uint64_t *t0, *t1;	/* send call entry/exit, now_ns() */
	uint8_t *seen;		/* receptions (saturating) */
	uint32_t next;		/* highest seq received + 1 */
	uint32_t dup, ooo;	/* received again, after a later one */
};

struct dt_pace {
	unsigned int rate;	/* frames/s each way */
	uint8_t vf_mac[6];
	struct dt_seqlog log[2];	/* by enum dt_dir */
	bool vf_tx;		/* the guest sends its stream */
	uint64_t vf_t_start, vf_due_base;	/* its pacing */
	uint64_t win_b[DT_MAX_WINDOWS], win_e[DT_MAX_WINDOWS];
	unsigned int nwin;
};

struct dtraffic_tally {
	uint32_t sent, ok, lost, lost_in_window, lost_outside, dup, bad, ooo;
};

/* @rate frames/s each way, @cap sequence numbers each way; 0 or -errno */
int dtraffic_paced_init(struct dtraffic *t, struct peer *p,
			const uint8_t vf_mac[6], unsigned int rate,
			uint32_t cap);
/*
 * The guest runs on @v for @ms milliseconds (at least one pass): VF RX,
 * VF TX of its stream if started, TX completions, peer RX. Returns the
 * passes that handled frames.
 */
unsigned int dtraffic_guest(struct dtraffic *t, struct ivf *v, int ms);
/* after dtraffic_stop(): run the guest until nothing arrives for @quiet_ms */
void dtraffic_drain(struct dtraffic *t, struct ivf *v, int quiet_ms);

/* (dtraffic_log.c) a stop window [b, e] in now_ns() time */
void dtraffic_window(struct dtraffic *t, uint64_t b, uint64_t e);
/* the frames of @d; lost ones sent overlapping a window +- @slack_ns */
void dtraffic_tally(const struct dtraffic *t, enum dt_dir d,
		    uint64_t slack_ns, struct dtraffic_tally *out);
/*
 * print (ktap_info) up to @max runs of lost frames of @d: first seq, count,
 * send time relative to the nearest stop window; with @outside_only only
 * runs that start outside every window (+- @slack_ns)
 */
void dtraffic_print_lost(const struct dtraffic *t, enum dt_dir d,
			 unsigned int max, uint64_t slack_ns,
			 bool outside_only);
/* frames of @d whose send overlapped [b, e] */
uint32_t dtraffic_sent_between(const struct dtraffic *t, enum dt_dir d,
			       uint64_t b, uint64_t e);
/* frames of @d lost whose send overlapped [b, e] */
uint32_t dtraffic_lost_between(const struct dtraffic *t, enum dt_dir d,
			       uint64_t b, uint64_t e);


/*
 * A test session on one VF: device open, userspace driver reset, rings,
 * an RX buffer pool and an idle region, all in one struct dmem:
 *   rx ring, tx ring, rx buffers (first lap), [rx headers] : DMEM_DEV
 *   tx buffers                                              : DMEM_CPU
 *   pool, [header pool]                                     : DMEM_DEV
 *   idle                                                    : DMEM_IDLE
 *   spare (1 MiB, for rings or buffers a test moves)        : DMEM_DEV
 */
struct dsess_cfg {
	unsigned int rx_count, tx_count;	/* default 128 */
	unsigned int buf_size;			/* default 2048 */
	bool hdr_split;
	unsigned int hdr_size;			/* default 256 */
	unsigned int nbuf;			/* pool buffers, default 4 x rx_count */
	size_t idle;				/* idle region bytes, default 4 MiB */
	uint32_t max_frame;			/* SET_LPE, default 1522 */
	uint64_t iova_base;			/* default 0x10000000 */
	bool snapshots;				/* dmem snapshots */
	struct vfio_backend backend;		/* zero: from the environment */
};

struct dsess {
	struct dsess_cfg c;
	struct vfio_dev d;
	struct ivf v;
	struct vfio_dma pool, hpool, idle;
	struct dmem m;
	struct rxpool rx;
	int data_fd;
	bool dev_open, ivf_open;
	/* region indexes in m */
	int r_rx_ring, r_tx_ring, r_rx_buf, r_tx_buf, r_hdr, r_pool, r_hpool,
	    r_idle, r_spare;
	struct vfio_dma spare;	/* 1 MiB a test may put new rings/buffers in */
};

/* open and set up everything; 0 or -errno (what failed is printed) */
int dsess_open(struct dsess *s, const char *bdf, const struct dsess_cfg *c);
/* rings stopped, memory unmapped and freed, device closed */
void dsess_close(struct dsess *s);
/*
 * The device fd goes first, as when a VMM dies: BAR map and fd closed, the
 * container or IOAS kept. dsess_close() then frees the rest without
 * touching the device.
 */
void dsess_drop_fd(struct dsess *s);
/* container START, then RUNNING -> PRE_COPY (data fd kept); 0 or -errno */
int dsess_engage(struct dsess *s);
/* set the migration state (data fd replaced if a new one comes) */
int dsess_state(struct dsess *s, uint32_t state);
/* canary in the buffers, pools and idle region (not the rings) */
void dsess_canary(struct dsess *s, uint32_t seed);
/*
 * Program the rings again on the device as they are in memory (after a
 * reset): TX from the start, RX with every descriptor posted anew from the
 * pool, RDT = count - 1. The software ring state restarts at 0.
 */
void dsess_reprogram(struct dsess *s);
/*
 * Take every RX descriptor the device has without giving any back (frames
 * from @p, stream 5; until one gets no frame in 60 ms): the tail is held
 * back in rx.pending_rdt for rxpool_doorbell(). false if it never ran out.
 */
bool dsess_starve(struct dsess *s, struct peer *p);

/*
 * Doorbell lag: dsess_starve(), then ring the held-back tail and time
 * the first frame that gets in, probing every @probe_us. Milliseconds, or
 * -1. Frames sent while the device has no descriptor are dropped by it.
 */
double dsess_doorbell_lag(struct dsess *s, struct peer *p,
			  unsigned int probe_us);
/* debugfs "dirty" key of this device, or UINT64_MAX */
uint64_t dsess_dbg(struct dsess *s, const char *key);

#endif /* IVF_DTRAFFIC_H */
