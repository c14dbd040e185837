// SPDX-License-Identifier: GPL-2.0
/*
 * bench_migration: the cost of a live migration of a userspace-driven VF
 * between PF A (IVF_VF0) and PF B (IVF_DST), back and forth, under
 * traffic at a fixed offered load (lib/dtraffic.c: the peer sends at RATE
 * frames/s whatever happens, the guest sends its own stream at the same
 * rate while it runs). The VMM side is lib/vmm.c, in QEMU's order.
 *
 * Per migration, in two flows (with pre-copy: RUNNING -> PRE_COPY ->
 * PRE_COPY_P2P -> STOP_COPY; without: RUNNING -> STOP -> STOP_COPY):
 *   size of the stop-copy data (target < 4 KiB) and of the pre-copy data,
 *   time of each device arc: the quiesce (PRE_COPY->PRE_COPY_P2P or
 *   RUNNING->STOP), ->STOP_COPY, the STOP_COPY read, the RESUMING write,
 *   RESUMING->STOP (reset + PF config replay), STOP->RUNNING (both arcs),
 *   the stop window (quiesce .. destination RUNNING, including the VMM's
 *   config-space restore, and without it), the frames the peer sent inside
 *   it and those of them that were lost. With one guest vCPU the peer
 *   thread often can't run while the VMM is in the kernel, so fewer frames
 *   are offered in the window than rate * window.
 * Summary lines: "# mig METRIC median=M min=A max=B UNIT flow=F rate=R"
 * (median of the repeats, min..max).
 *
 * Usage: bench_migration [--rate N] [--demo] [repeats]
 *   repeats (default 5) migrations per flow, alternating direction.
 *   --demo: one migration with pre-copy, printed as a timeline.
 * Env: IVF_VF0, IVF_VF0_MAC, IVF_DST, IVF_PEER_NS, IVF_PEER_IF.
 * Exit: 0 ok; 1 a migration failed, a frame was lost outside a stop
 * window, corrupted, duplicated or reordered, or the stop-copy data was
 * 4 KiB or more; 4 skipped.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dtraffic.h"
#include "frame.h"
#include "ivf.h"
#include "ktap.h"
#include "mig.h"
#include "peer.h"
#include "util.h"
#include "vmm.h"

KTAP_DEFINE_STATE();

#define SLACK_NS	2000000ull
#define MAX_REPS	64
#define RX_RING		1024	/* ~1 s at 1000 frames/s while the VMM works */

static struct ivf vm[2];
static struct vfio_dev dev[2];
static const char *where[2];
static int cur;

struct precopy_guest {
	struct dtraffic *g;
	int ms;
};

static void precopy_guest(void *arg)
{
	struct precopy_guest *pg = arg;

	dtraffic_guest(pg->g, &vm[cur], pg->ms);
}

/* one metric over the repeats of one flow */
struct series {
	const char *name, *unit;
	double v[MAX_REPS];
	int n;
};

static void add(struct series *s, double v)
{
	if (s->n < MAX_REPS)
		s->v[s->n++] = v;
}

static void summary(struct series *s, const char *flow, unsigned int rate)
{
	double mn, mx, md;

	if (!s->n)
		return;
	mn = stats_min(s->v, s->n);
	mx = stats_max(s->v, s->n);
	md = stats_median(s->v, s->n);
	printf("# mig %s median=%.*f min=%.*f max=%.*f %s flow=%s rate=%u n=%d\n",
	       s->name, strcmp(s->unit, "ms") ? 0 : 2, md,
	       strcmp(s->unit, "ms") ? 0 : 2, mn,
	       strcmp(s->unit, "ms") ? 0 : 2, mx, s->unit, flow, rate, s->n);
}

enum { M_FINAL, M_PRE, M_QUIESCE, M_STOP_COPY, M_READ, M_WRITE, M_RESUME,
       M_RUN, M_ADOPT, M_WINDOW, M_DEVICE, M_OFFERED, M_LOST, M_N };

static const char *const m_name[M_N] = {
	"stop_copy_bytes", "pre_copy_bytes", "quiesce", "to_stop_copy",
	"stop_copy_read", "resuming_write", "resuming_to_stop",
	"stop_to_running", "vmm_config_restore", "stop_window",
	"stop_window_without_vmm", "frames_sent_in_window", "frames_lost",
};
static const char *const m_unit[M_N] = {
	"bytes", "bytes", "ms", "ms", "ms", "ms", "ms", "ms", "ms", "ms",
	"ms", "frames", "frames",
};

static double ms(uint64_t ns)
{
	return ns / 1e6;
}

static void print_timeline(const struct vmm_hop *h,
			   const struct dtraffic *g, unsigned int rate)
{
	static const struct {
		enum vmm_arc a;
		const char *what;
	} steps[] = {
		{ VMM_DST_OPEN, "destination VF opened (the core resets it)" },
		{ VMM_DST_RESET, "destination reset as QEMU does it (COMMAND.MEM, bus master off)" },
		{ VMM_DST_MAP, "guest RAM mapped at the same IOVAs on the destination" },
		{ VMM_DST_RESUMING, "destination RUNNING -> RESUMING" },
		{ VMM_PRE_COPY, "source RUNNING -> PRE_COPY (device still running)" },
		{ VMM_PRE_READ, "PRE_COPY data read" },
		{ VMM_PRE_WRITE, "PRE_COPY data written to the destination" },
		{ VMM_PRE_P2P, "source PRE_COPY -> PRE_COPY_P2P: queues off, interrupts masked" },
		{ VMM_STOP, "source RUNNING -> STOP: queues off, interrupts masked" },
		{ VMM_STOP_COPY, "source -> STOP_COPY" },
		{ VMM_FINAL_READ, "STOP_COPY data read (to EOF)" },
		{ VMM_SRC_STOP, "source STOP_COPY -> STOP" },
		{ VMM_DST_WRITE, "final data written to the destination" },
		{ VMM_DST_STOP, "destination RESUMING -> STOP: VF reset, PF config replayed, rings programmed" },
		{ VMM_ADOPT, "destination config space (MEM, bus master, MSI-X) restored" },
		{ VMM_DST_P2P, "destination STOP -> RUNNING_P2P" },
		{ VMM_DST_RUNNING, "destination RUNNING_P2P -> RUNNING: queues on, tails kicked, catch-up interrupt" },
		{ VMM_SRC_CLOSE, "source closed (the core resets it)" },
	};
	uint64_t t0 = h->t_at[VMM_DST_OPEN];
	unsigned int i;

	printf("  %9s %9s\n", "at ms", "took ms");
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		enum vmm_arc a = steps[i].a;
		char extra[96] = "";

		if (!h->t_arc[a])
			continue;
		if (a == VMM_PRE_READ)
			snprintf(extra, sizeof(extra), ": %zu bytes", h->pre_len);
		if (a == VMM_FINAL_READ)
			snprintf(extra, sizeof(extra), ": %zu bytes", h->final_len);
		if (a == VMM_PRE_P2P || a == VMM_STOP)
			snprintf(extra, sizeof(extra), "   <- stop window opens");
		if (a == VMM_DST_RUNNING)
			snprintf(extra, sizeof(extra), "   <- closes");
		printf("  %9.2f %9.2f  %s%s\n", ms(h->t_at[a] - t0),
		       ms(h->t_arc[a]), steps[i].what, extra);
		if (a == VMM_PRE_WRITE && h->t_at[VMM_PRE_P2P])
			printf("  %9.2f %9.2f  the guest runs on the source while the VMM copies\n",
			       ms(h->t_at[a] + h->t_arc[a] - t0),
			       ms(h->t_at[VMM_PRE_P2P] - h->t_at[a] -
				  h->t_arc[a]));
	}
	printf("  stop window %.2f ms (%.2f ms of it the VMM's config-space restore)\n",
	       ms(h->stop_end - h->stop_begin), ms(h->t_arc[VMM_ADOPT]));
	printf("  traffic at %u frames/s each way: the peer sent %u frames to the guest during the window, %u of them lost;\n",
	       rate,
	       dtraffic_sent_between(g, DT_TO_VF, h->stop_begin, h->stop_end),
	       dtraffic_lost_between(g, DT_TO_VF, h->stop_begin - SLACK_NS,
				     h->stop_end + SLACK_NS));
	printf("  in all, peer->guest %llu sent, %llu received intact and in order; guest->peer %llu sent, %llu received\n",
	       (unsigned long long)g->peer_sent,
	       (unsigned long long)g->vf_ok,
	       (unsigned long long)g->vf_sent,
	       (unsigned long long)g->peer_ok);
}

static void print_pf_config(const char *bdf)
{
	char path[256], buf[2048], *line, *save = NULL;

	snprintf(path, sizeof(path),
		 "/sys/kernel/debug/igbvf-vfio-pci/%s/pf_config", bdf);
	if (read_str_file(path, buf, sizeof(buf)))
		return;
	printf("  the PF configuration on %s (replayed from the guest's mailbox log):\n",
	       bdf);
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save))
		printf("    %s\n", line);
}

int main(int argc, char **argv)
{
	struct ivf_ring_cfg cfg = {
		.rx_count = RX_RING, .tx_count = 256, .buf_size = 2048,
		.iova_base = 0x10000000,
	};
	struct series s[2][M_N];
	uint64_t wb[2 * MAX_REPS], we[2 * MAX_REPS];
	int wflow[2 * MAX_REPS], nw = 0;
	unsigned int rate = 1000;
	int reps = 5, i, k, f, ret, failed = 0;
	bool demo = false;
	struct dtraffic_tally ta, tb;
	uint8_t vf_mac[6];
	struct peer peer;
	struct dtraffic g;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--rate") && i + 1 < argc)
			rate = strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--demo"))
			demo = true;
		else
			reps = atoi(argv[i]);
	}
	if (reps < 1 || reps > MAX_REPS || !rate)
		ktap_skip_all("bad arguments");
	where[0] = env_need("IVF_VF0");
	where[1] = env_need("IVF_DST");
	if (ivf_parse_mac(env_need("IVF_VF0_MAC"), vf_mac))
		ktap_skip_all("bad IVF_VF0_MAC");
	ret = peer_open(&peer, env_need("IVF_PEER_NS"), env_need("IVF_PEER_IF"),
			FRAME_ETHERTYPE);
	if (ret) {
		printf("# peer: %s\n", strerror(-ret));
		return 1;
	}
	memset(s, 0, sizeof(s));
	for (f = 0; f < 2; f++)
		for (k = 0; k < M_N; k++) {
			s[f][k].name = m_name[k];
			s[f][k].unit = m_unit[k];
		}

	ret = vfio_dev_open(&dev[0], where[0]);
	ret = ret ? ret : ivf_open(&vm[0], &dev[0], IVF_ACCESS_MMAP);
	ret = ret ? ret : ivf_reset(&vm[0]);
	ret = ret ? ret : ivf_set_lpe(&vm[0], 1522);
	ret = ret ? ret : ivf_rings_setup(&vm[0], &cfg);
	ret = ret ? ret : ivf_irq_enable(&vm[0]);
	if (!ret && demo) {
		/* something for the destination PF to learn */
		uint16_t hash = 0x654;	/* 01:00:5e:21:43:65 */

		ret = ivf_set_multicast(&vm[0], &hash, 1);
		ret = ret ? ret : ivf_set_vlan(&vm[0], 100, true);
	}
	if (ret) {
		printf("# guest setup on %s: %s\n", where[0], strerror(-ret));
		return 1;
	}
	if (dtraffic_paced_init(&g, &peer, vf_mac, rate, 1u << 19) ||
	    dtraffic_start(&g)) {
		printf("# traffic generator failed\n");
		return 1;
	}
	dtraffic_guest(&g, &vm[cur], 300);

	printf("# bench_migration %s <-> %s rate=%u frames/s each way repeats=%d%s\n",
	       where[0], where[1], rate, reps, demo ? " demo" : "");
	for (i = 0; i < (demo ? 1 : reps); i++) {
		for (f = 0; f < (demo ? 1 : 2); f++) {
			struct precopy_guest pg = { .g = &g, .ms = 50 };
			struct vmm_hop h = { .precopy = f == 0,
					     .access = IVF_ACCESS_MMAP,
					     .guest = precopy_guest,
					     .guest_arg = &pg };
			int to = !cur;

			ret = vmm_migrate(&vm[cur], &dev[cur], &vm[to], &dev[to],
					  where[to], &h);
			if (h.stop_begin) {
				dtraffic_window(&g, h.stop_begin, h.stop_end);
				if (nw < 2 * MAX_REPS) {
					wb[nw] = h.stop_begin;
					we[nw] = h.stop_end;
					wflow[nw++] = ret ? -1 : f;
				}
			}
			if (ret) {
				printf("# migration %s -> %s failed in %s: %s\n",
				       where[cur], where[to],
				       h.failed ? h.failed : "?", strerror(-ret));
				failed++;
				vmm_hop_free(&h);
				continue;
			}
			cur = to;
			add(&s[f][M_FINAL], h.final_len);
			add(&s[f][M_PRE], h.pre_len);
			add(&s[f][M_QUIESCE],
			    ms(h.t_arc[f ? VMM_STOP : VMM_PRE_P2P]));
			add(&s[f][M_STOP_COPY], ms(h.t_arc[VMM_STOP_COPY]));
			add(&s[f][M_READ], ms(h.t_arc[VMM_FINAL_READ]));
			add(&s[f][M_WRITE], ms(h.t_arc[VMM_DST_WRITE]));
			add(&s[f][M_RESUME], ms(h.t_arc[VMM_DST_STOP]));
			add(&s[f][M_RUN], ms(h.t_arc[VMM_DST_P2P] +
					     h.t_arc[VMM_DST_RUNNING]));
			add(&s[f][M_ADOPT], ms(h.t_arc[VMM_ADOPT]));
			add(&s[f][M_WINDOW], ms(h.stop_end - h.stop_begin));
			add(&s[f][M_DEVICE], ms(h.stop_end - h.stop_begin -
						h.t_arc[VMM_ADOPT]));
			printf("# repeat %d %s -> %s flow=%s: stop_copy=%zuB pre_copy=%zuB quiesce=%.2fms stop_copy_read=%.2fms resuming_write=%.2fms resuming_to_stop=%.2fms stop_to_running=%.2fms window=%.2fms\n",
			       i, where[!cur], where[cur],
			       f ? "stop-copy" : "pre-copy", h.final_len,
			       h.pre_len,
			       ms(h.t_arc[f ? VMM_STOP : VMM_PRE_P2P]),
			       ms(h.t_arc[VMM_FINAL_READ]),
			       ms(h.t_arc[VMM_DST_WRITE]),
			       ms(h.t_arc[VMM_DST_STOP]),
			       ms(h.t_arc[VMM_DST_P2P] + h.t_arc[VMM_DST_RUNNING]),
			       ms(h.stop_end - h.stop_begin));
			if (h.final_len >= 4096) {
				printf("# stop-copy data %zu bytes, not < 4 KiB\n",
				       h.final_len);
				failed++;
			}
			dtraffic_guest(&g, &vm[cur], 300);
			if (demo) {
				dtraffic_guest(&g, &vm[cur], 300);
				dtraffic_stop(&g);
				dtraffic_drain(&g, &vm[cur], 200);
				printf("live migration of %s to %s under traffic (pre-copy):\n",
				       where[!cur], where[cur]);
				print_timeline(&h, &g, rate);
				print_pf_config(where[cur]);
			}
			vmm_hop_free(&h);
		}
	}
	dtraffic_stop(&g);
	dtraffic_drain(&g, &vm[cur], 300);
	for (k = 0; k < nw; k++)
		if (wflow[k] >= 0) {
			add(&s[wflow[k]][M_OFFERED],
			    dtraffic_sent_between(&g, DT_TO_VF, wb[k], we[k]));
			add(&s[wflow[k]][M_LOST],
			    dtraffic_lost_between(&g, DT_TO_VF,
						  wb[k] - SLACK_NS,
						  we[k] + SLACK_NS));
		}
	dtraffic_tally(&g, DT_TO_VF, SLACK_NS, &ta);
	dtraffic_tally(&g, DT_TO_PEER, SLACK_NS, &tb);
	if (ta.lost)
		dtraffic_print_lost(&g, DT_TO_VF, 8, SLACK_NS,
				    ta.lost_outside > 0);
	printf("# peer->guest: sent %u ok %u lost %u (in stop windows %u, outside %u) dup %u bad %u reordered %u\n",
	       ta.sent, ta.ok, ta.lost, ta.lost_in_window, ta.lost_outside,
	       ta.dup, ta.bad, ta.ooo);
	printf("# guest->peer: sent %u ok %u lost %u dup %u bad %u reordered %u\n",
	       tb.sent, tb.ok, tb.lost, tb.dup, tb.bad, tb.ooo);
	if (ta.lost_outside || ta.dup || ta.bad || ta.ooo || tb.lost ||
	    tb.dup || tb.bad || tb.ooo)
		failed++;
	if (!demo)
		for (f = 0; f < 2; f++)
			for (k = 0; k < M_N; k++)
				summary(&s[f][k], f ? "stop-copy" : "pre-copy",
					rate);
	printf("# errors=%d\n", failed);
	dtraffic_free(&g);
	ivf_close(&vm[cur]);
	vfio_dev_close(&dev[cur]);
	peer_close(&peer);
	return failed ? 1 : 0;
}
