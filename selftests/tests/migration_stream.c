// SPDX-License-Identifier: GPL-2.0
/*
 * migration_stream: the stream a destination accepts and refuses.
 *
 * The source, IVF_VF0, is set up as a guest would (PF handshake, three
 * multicast hashes, VLANs 7 and 100, LPE, rings) and saved twice: a
 * STOP_COPY stream (one FINAL packet) and a PRE_COPY stream (CONFIG +
 * FINAL). That is done once per variant, by the first case that needs it,
 * into a mapping the cases' processes share; the cases read the saved
 * streams from there. The fixture is the destination, IVF_VF2, opened
 * through the variant's backend with the source's ring IOVAs mapped, reset
 * and handshaken. Each case feeds it one stream in RESUMING and asks for
 * STOP; a stream it must refuse:
 *  - write() returns the errno of the ABI table, or (writes accepted)
 *    RESUMING -> STOP fails (ENODATA if the stream just stops early);
 *  - the kernel log says why;
 *  - nothing reaches VF2's ring registers (only a valid CONFIG packet may:
 *    it is checked against the PF at once, which resets the VF and replays
 *    its configuration);
 *  - after VFIO_DEVICE_RESET the VF does the PF mailbox handshake.
 * A good stream needs VF2's admin MAC to be VF0's: the cases that need it
 * set it with ip(8) (once: it stays until a case needs VF2's own) and the
 * last case, or the end of the run, puts VF2's own back. With VF2's own
 * admin MAC the replay must fail with EADDRNOTAVAIL: in RESUMING -> STOP
 * for a FINAL-only stream, in the write() of the CONFIG packet for a
 * PRE_COPY stream.
 *
 * Variants (lib/backends.h): container (group + type1), cdev_log (the
 * devices' cdevs on iommufd); one the kernel cannot do skips.
 *
 * Cases, in the order they run (the two with VF2's own MAC first, as VF2
 * starts that way; the driver's refusals are ratelimited, and the
 * truncations use the budget up, so they wait it out before the next):
 *   final_stream_to_other_admin_mac_refused_at_stop
 *   config_packet_to_other_admin_mac_refused_in_write
 *   final_stream_is_one_abi_packet     parses, one FINAL, header, records
 *                                      8-byte aligned, the four records
 *   final_stream_carries_source_state  PF_CONFIG (CTS, MAC, hashes, VLANs,
 *                                      max_frame), QUEUES as programmed
 *   pre_copy_stream_is_config_then_final
 *   good_stream_programs_rings_queues_stay_disabled
 *   good_stream_replays_pf_config      mc, vlans, max_frame in pf_config
 *   good_stream_runs_with_rx_enabled   STOP -> RUNNING, RX queue enabled
 *   good_stream_taken_in_1_byte_writes, ..._in_7_byte_writes
 *   config_final_stream_taken_in_5_byte_writes, ..._in_one_write
 *   newer_minor_version_accepted, unknown_optional_record_skipped,
 *   longer_pf_config_accepted
 *   wrong_magic_refused_einval ... second_final_packet_refused_einval
 *                                      one case per edited field (below)
 *   truncated_final_stream_refused_at_stop_enodata
 *   final_stream_cut_before_last_byte_refused_at_stop
 *   config_packet_alone_refused_at_stop,
 *   config_and_half_final_header_refused_at_stop
 *   single_bit_flips_refused_with_abi_errno
 *   own_admin_mac_restored_vf2_handshakes   and no register access errors
 *
 * Env: IVF_VF0, IVF_VF2, IVF_PF, IVF_PF_IF, IVF_VF0_MAC, IVF_VF2_MAC;
 *      IVF_FLIPS=all to flip every bit of the stream (slow), or a number of
 *      payload bits to sample besides every header bit (default 48);
 *      IVF_SEED for the sample.
 */
#include <endian.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fixture.h"
#include "ivf.h"
#include "kmsg.h"
#include "mig.h"
#include "mig_states.h"
#include "migstream.h"
#include "util.h"

#include "kselftest_harness.h"
#include "backends.h"

/* a case is a few seconds on TCG, the sanitizer kernel up to 10 times that */
#define CASE_TIMEOUT	300
/* the flips: about 240 streams */
#define FLIPS_TIMEOUT	500

static const uint16_t src_hashes[3] = { 0x0123, 0x0456, 0x0789 };
#define SRC_MAX_FRAME	9018
#define RING_COPY_MAX	65536

/*
 * What the cases share: the source's streams and what the checks need of
 * the source, saved once per variant (the first case's process fills it;
 * a shared mapping made before the harness forks), and VF2's admin MAC.
 */
struct shared {
	int filled;			/* 0 not yet, 1 yes, -errno failed */
	struct vfio_backend backend;	/* whose streams these are */
	char why[256];
	uint8_t stream[IVF_MIG_MAX_PACKET];
	size_t slen;
	uint8_t pstream[2 * IVF_MIG_MAX_PACKET];
	size_t plen;
	int pret;			/* the PRE_COPY save */
	uint8_t mac[6];			/* the source's, from its handshake */
	uint32_t rx_count, tx_count;
	struct { uint64_t iova; size_t size; } dma[4];
	uint8_t ring[2][RING_COPY_MAX];	/* RX and TX rings as left */
	unsigned long src_io_errors, dst_io_errors;
	/* VF2's admin MAC is VF0's (set by a case, undone at the end) */
	bool mac_is_src;
	pid_t top;			/* the harness's own process */
	const char *pf_if;
	int vf2_index;
	char vf2_mac[18];
};

static struct shared *sh;

/* ring registers of both queues: what "the device was touched" means */
static const struct {
	uint32_t off;
	const char *name;
} regs[] = {
	{ IVF_RDBAL(0), "RDBAL0" }, { IVF_RDBAH(0), "RDBAH0" },
	{ IVF_RDLEN(0), "RDLEN0" }, { IVF_SRRCTL(0), "SRRCTL0" },
	{ IVF_RXDCTL(0), "RXDCTL0" }, { IVF_RDT(0), "RDT0" },
	{ IVF_TDBAL(0), "TDBAL0" }, { IVF_TDBAH(0), "TDBAH0" },
	{ IVF_TDLEN(0), "TDLEN0" }, { IVF_TXDCTL(0), "TXDCTL0" },
	{ IVF_TDWBAL(0), "TDWBAL0" },
	{ IVF_RDBAL(1), "RDBAL1" }, { IVF_TDBAL(1), "TDBAL1" },
	{ IVF_IVAR0, "IVAR0" }, { IVF_EITR(0), "EITR0" },
};
#define NREGS (sizeof(regs) / sizeof(regs[0]))

struct dst {
	const char *bdf;
	struct vfio_dev d;
	struct ivf v;
	struct kmsg k;
	int fd;
	struct vfio_dma dma[4];	/* VF0's guest RAM: rings, buffers */
	int ndma;
};

/* what a case did */
struct result {
	int werr;		/* first failing write, 0 if all accepted */
	size_t written;		/* bytes accepted */
	int serr;		/* RESUMING -> STOP */
	uint32_t state;		/* GET afterwards */
	bool regs_after_write;	/* unchanged by the writes */
	bool regs_after_stop;	/* unchanged after the STOP attempt */
	char reg_diff[160];
	int nlog;
	char log[512];
	uint32_t after[NREGS];
};

static const char *ename(int e)
{
	switch (-e) {
	case 0: return "ok";
	case EINVAL: return "EINVAL";
	case EPROTONOSUPPORT: return "EPROTONOSUPPORT";
	case EXDEV: return "EXDEV";
	case EMSGSIZE: return "EMSGSIZE";
	case EBADMSG: return "EBADMSG";
	case EPROTO: return "EPROTO";
	case ENODATA: return "ENODATA";
	case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
	case ENODEV: return "ENODEV";
	}
	return strerror(-e);
}

static void snap(struct vfio_dev *d, uint32_t *v)
{
	unsigned int i;

	for (i = 0; i < NREGS; i++)
		if (vfio_bar_read32(d, 0, regs[i].off, &v[i]))
			v[i] = 0xdeadbeef;
}

static bool same(const uint32_t *a, const uint32_t *b, char *diff, size_t len)
{
	unsigned int i;

	for (i = 0; i < NREGS; i++) {
		if (a[i] != b[i]) {
			snprintf(diff, len, "%s 0x%08x -> 0x%08x", regs[i].name,
				 a[i], b[i]);
			return false;
		}
	}
	return true;
}

/* fresh destination in RUNNING, sentinels in the ring registers */
static int dst_reset(struct dst *t)
{
	uint32_t s = 0;
	int ret;

	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
	ret = vfio_dev_reset(&t->d);
	if (!ret)
		ret = mig_get_state(&t->d, &s);
	if (!ret && s != S_RUNNING)
		ret = -EPROTO;
	if (ret)
		return ret;
	vfio_bar_write32(&t->d, 0, IVF_RDBAL(0), 0x0badc000);
	vfio_bar_write32(&t->d, 0, IVF_TDBAL(0), 0x0bade000);
	vfio_bar_write32(&t->d, 0, IVF_RDLEN(0), 0x1000);
	vfio_bar_write32(&t->d, 0, IVF_TDLEN(0), 0x2000);
	return 0;
}

/*
 * Feed @buf to a fresh RESUMING session of the destination in writes of
 * @chunk bytes (0: one write), then try RESUMING -> STOP.
 */
static int run_case(struct dst *t, const uint8_t *buf, size_t len,
		    size_t chunk, struct result *r)
{
	uint32_t before[NREGS], mid[NREGS];
	int ret;

	memset(r, 0, sizeof(*r));
	ret = dst_reset(t);
	if (!ret)
		ret = mig_set_state(&t->d, S_RESUMING, &t->fd);
	if (!ret && t->fd < 0)
		ret = -EBADF;
	if (ret)
		return ret;
	snap(&t->d, before);
	kmsg_mark(&t->k);

	if (!chunk)
		chunk = len ? len : 1;
	while (r->written < len) {
		size_t n = len - r->written < chunk ? len - r->written : chunk;
		ssize_t w = write(t->fd, buf + r->written, n);

		if (w < 0) {
			r->werr = -errno;
			break;
		}
		if (w == 0) {
			r->werr = -EIO;
			break;
		}
		r->written += w;
	}
	snap(&t->d, mid);
	r->regs_after_write = same(before, mid, r->reg_diff,
				   sizeof(r->reg_diff));
	r->serr = mig_set_state(&t->d, S_STOP, NULL);
	r->state = 0;
	mig_get_state(&t->d, &r->state);
	snap(&t->d, r->after);
	r->regs_after_stop = same(before, r->after, r->reg_diff,
				  sizeof(r->reg_diff));
	r->nlog = kmsg_read(&t->k, t->bdf, r->log, sizeof(r->log));
	return 0;
}

static int handshake(struct dst *t)
{
	int ret = dst_reset(t);

	if (!ret)
		ret = ivf_reset(&t->v);
	if (!ret && !t->v.cts)
		ret = -EPROTO;
	return ret;
}

#define R_LOG	1	/* the kernel log must say why */
#define R_TOUCH	2	/* a valid CONFIG packet may reset the VF */

/*
 * A stream the destination must refuse: in write() with @werr, or (writes
 * accepted) in RESUMING -> STOP with @serr. Nothing may reach the device
 * (unless R_TOUCH: a valid CONFIG packet is checked against the PF at
 * once), the log must say why (R_LOG), and the VF must work after a reset.
 */
static void expect_refused(struct __test_metadata *_metadata, struct dst *t,
			   const char *name, const uint8_t *buf, size_t len,
			   size_t chunk, int werr, int serr, unsigned int flags)
{
	struct result r;
	int ret = run_case(t, buf, len, chunk, &r);

	ASSERT_EQ(0, ret) TH_LOG("%s: could not start RESUMING: %s", name,
				 strerror(-ret));
	if (werr) {
		EXPECT_TRUE(r.werr == werr && r.serr != 0)
			TH_LOG("%s: write() %s after %zu of %zu bytes (%s), then STOP %s",
			       name, ename(r.werr), r.written, len, ename(werr),
			       ename(r.serr));
	} else {
		EXPECT_TRUE(r.werr == 0 && r.serr == serr)
			TH_LOG("%s: %zu bytes accepted (%s), RESUMING -> STOP %s (%s), state %s",
			       name, r.written, ename(r.werr), ename(r.serr),
			       ename(serr), mig_state_name(r.state));
	}
	if (!(flags & R_TOUCH)) {
		EXPECT_TRUE(r.regs_after_write && r.regs_after_stop)
			TH_LOG("%s: ring registers touched: %s", name,
			       r.reg_diff);
	}
	if (flags & R_LOG) {
		EXPECT_GT(r.nlog, 0)
			TH_LOG("%s: the kernel log must say why (nothing about the device)",
			       name);
	}
	if (r.nlog)
		TH_LOG("%s: kernel log: %s", name, r.log);
	ret = handshake(t);
	EXPECT_EQ(0, ret)
		TH_LOG("%s: after VFIO_DEVICE_RESET the VF does the handshake (%s)",
		       name, err_str(ret));
}

/* a stream the destination must take; false (after a failed check) if not */
static bool expect_accepted(struct __test_metadata *_metadata, struct dst *t,
			    const char *name, const uint8_t *buf, size_t len,
			    size_t chunk, struct result *r)
{
	int ret = run_case(t, buf, len, chunk, r);
	bool ok;

	EXPECT_EQ(0, ret) TH_LOG("%s: could not start RESUMING: %s", name,
				 strerror(-ret));
	if (ret)
		return false;
	if (r->nlog)
		TH_LOG("%s: kernel log: %s", name, r->log);
	ok = !r->werr && !r->serr && r->state == S_STOP;
	EXPECT_TRUE(ok)
		TH_LOG("%s: %zu bytes in %s, write %s, RESUMING -> STOP %s, state %s",
		       name, r->written, chunk ? "pieces" : "one write",
		       ename(r->werr), ename(r->serr),
		       mig_state_name(r->state));
	return ok;
}

/* ---- VF2's admin MAC ---------------------------------------------------- */

static int set_admin_mac(const char *mac)
{
	return vf_set_admin_mac(sh->pf_if, sh->vf2_index, mac);
}

/* VF2's own admin MAC back, if a case gave it VF0's */
static int restore_admin_mac(void)
{
	int ret;

	if (!sh || !sh->mac_is_src || sh->vf2_index < 0 || !sh->vf2_mac[0])
		return 0;
	ret = set_admin_mac(sh->vf2_mac);
	if (!ret)
		sh->mac_is_src = false;
	return ret;
}

/* the run ends (the harness's process only: the cases' leave by _exit) */
static void __attribute__((destructor)) restore_at_exit(void)
{
	if (sh && getpid() == sh->top)
		restore_admin_mac();
}

static void on_signal(int sig)
{
	if (sh && getpid() == sh->top)
		restore_admin_mac();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void __attribute__((constructor)) shared_map(void)
{
	void *p = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return;
	sh = p;
	sh->top = getpid();
	sh->vf2_index = -1;
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
}

/* ---- the source ------------------------------------------------------ */

static int save_stream(struct vfio_dev *d, bool precopy, uint8_t **buf,
		       size_t *len)
{
	ssize_t n;
	int fd = -1, ret;

	*buf = NULL;
	*len = 0;
	if (precopy) {
		ret = mig_set_state(d, S_PRE_COPY, &fd);
		if (ret)
			return ret;
		n = mig_read_all(fd, buf, len);
		if (n >= 0)
			ret = mig_set_state(d, S_PRE_COPY_P2P, NULL);
		if (n >= 0 && !ret)
			ret = mig_set_state(d, S_STOP_COPY, NULL);
	} else {
		ret = mig_set_state(d, S_STOP, NULL);
		if (!ret)
			ret = mig_set_state(d, S_STOP_COPY, &fd);
		n = 0;
	}
	if (!ret && n >= 0 && fd >= 0)
		n = mig_read_all(fd, buf, len);
	if (!ret && n < 0)
		ret = n;
	if (!ret && fd < 0)
		ret = -EBADF;
	if (fd >= 0)
		close(fd);
	if (!ret)
		ret = mig_set_state(d, S_STOP, NULL);
	return ret;
}

/*
 * The source, once per variant: set up as a guest would, saved without
 * and with pre-copy, then closed. 1, or -errno with sh->why.
 */
static int save_source(const char *bdf, const struct vfio_backend *b)
{
	struct vfio_dma *m[4];
	struct vfio_dev sd;
	struct ivf sv;
	uint8_t *buf = NULL;
	size_t len = 0;
	uint64_t flags = 0;
	unsigned int i;
	int ret;

	memset(&sv, 0, sizeof(sv));
	ret = vfio_dev_open_backend(&sd, bdf, b);
	if (ret) {
		snprintf(sh->why, sizeof(sh->why), "open source %s (%s)", bdf,
			 err_str(ret));
		return ret;
	}
	ret = mig_flags(&sd, &flags);
	if (ret == -ENOTTY) {
		snprintf(sh->why, sizeof(sh->why),
			 "no VFIO_DEVICE_FEATURE_MIGRATION (ENOTTY)");
		goto out;
	}
	ret = ivf_open(&sv, &sd, IVF_ACCESS_MMAP);
	if (!ret)
		ret = ivf_reset(&sv);
	if (!ret)
		ret = ivf_set_multicast(&sv, src_hashes, 3);
	if (!ret)
		ret = ivf_set_vlan(&sv, 100, true);
	if (!ret)
		ret = ivf_set_vlan(&sv, 7, true);
	if (!ret)
		ret = ivf_set_lpe(&sv, SRC_MAX_FRAME);
	if (!ret)
		ret = ivf_rings_setup(&sv, NULL);
	if (ret) {
		snprintf(sh->why, sizeof(sh->why),
			 "source: handshake, 3 multicast hashes, VLANs 7 and 100, LPE %u, rings (%s)",
			 SRC_MAX_FRAME, err_str(ret));
		goto out;
	}
	ret = save_stream(&sd, false, &buf, &len);
	if (!ret && (!len || len > sizeof(sh->stream)))
		ret = -EMSGSIZE;
	if (ret) {
		snprintf(sh->why, sizeof(sh->why),
			 "source: RUNNING -> STOP -> STOP_COPY, %zu bytes to EOF, -> STOP (%s)",
			 len, err_str(ret));
		goto out;
	}
	memcpy(sh->stream, buf, len);
	sh->slen = len;
	free(buf);
	buf = NULL;
	len = 0;

	/* what the cases check the stream against, and the guest's RAM */
	memcpy(sh->mac, sv.mac, 6);
	sh->rx_count = sv.rx_count;
	sh->tx_count = sv.tx_count;
	m[0] = &sv.rx_ring_dma;
	m[1] = &sv.tx_ring_dma;
	m[2] = &sv.rx_buf_dma;
	m[3] = &sv.tx_buf_dma;
	for (i = 0; i < 4; i++) {
		sh->dma[i].iova = m[i]->iova;
		sh->dma[i].size = m[i]->size;
	}
	for (i = 0; i < 2; i++)
		memcpy(sh->ring[i], m[i]->vaddr, m[i]->size < RING_COPY_MAX ?
		       m[i]->size : RING_COPY_MAX);

	sh->pret = mig_set_state(&sd, S_RUNNING, NULL);
	if (!sh->pret)
		sh->pret = save_stream(&sd, true, &buf, &len);
	if (!sh->pret && len > sizeof(sh->pstream))
		sh->pret = -EMSGSIZE;
	if (!sh->pret) {
		memcpy(sh->pstream, buf, len);
		sh->plen = len;
	}
	sh->src_io_errors = sv.io_errors;
	ret = 1;
	snprintf(sh->why, sizeof(sh->why), "saved: %zu and %zu bytes",
		 sh->slen, sh->plen);
out:
	mig_set_state(&sd, S_RUNNING, NULL);
	if (sv.dev)
		ivf_close(&sv);
	vfio_dev_close(&sd);
	free(buf);
	return ret;
}

/* ---- stream surgery ---------------------------------------------------- */

static uint8_t work[2 * IVF_MIG_MAX_PACKET + 64];

static size_t copy_stream(const uint8_t *buf, size_t len)
{
	memcpy(work, buf, len);
	return len;
}

static void set16(size_t off, uint16_t v)
{
	v = htole16(v);
	memcpy(work + off, &v, 2);
}

static void set32(size_t off, uint32_t v)
{
	v = htole32(v);
	memcpy(work + off, &v, 4);
}

/*
 * Rebuild the FINAL packet @s (of a FINAL-only stream) into work[]:
 * record @drop left out, record @shrink cut to @shrink_len bytes, record
 * @grow given @grow_by zero bytes more, and an extra record appended if
 * @extra_type. Returns the length.
 */
static size_t rebuild(const struct ms_stream *s, int drop, int shrink,
		      uint32_t shrink_len, int grow, uint32_t grow_by,
		      uint16_t extra_type, uint16_t extra_flags)
{
	static uint8_t tmp[IVF_MIG_MAX_PACKET * 2];
	struct ms_build b;
	unsigned int i;

	mb_init(&b, work, sizeof(work));
	mb_pkt_begin(&b, IVF_MIG_PKT_FINAL);
	for (i = 0; i < s->nrec; i++) {
		const struct ms_rec *r = &s->rec[i];
		uint32_t l = r->len;

		if ((int)r->type == drop)
			continue;
		memset(tmp, 0, sizeof(tmp));
		memcpy(tmp, ms_payload(s, r), l);
		if ((int)r->type == shrink)
			l = shrink_len;
		if ((int)r->type == grow)
			l += grow_by;
		mb_rec(&b, r->type, r->flags, tmp, l);
	}
	if (extra_type) {
		memset(tmp, 0x5c, 16);
		mb_rec(&b, extra_type, extra_flags, tmp, 16);
	}
	mb_pkt_end(&b);
	return b.overflow ? 0 : b.len;
}

/* ---- destination setup ------------------------------------------------- */

/* the line @key of the driver's debugfs pf_config of @bdf */
static void pf_config_line(const char *bdf, const char *key, char *out,
			   size_t len)
{
	char path[256], buf[2048];
	const char *p;
	size_t klen = strlen(key);

	snprintf(out, len, "?");
	snprintf(path, sizeof(path),
		 "/sys/kernel/debug/igbvf-vfio-pci/%s/pf_config", bdf);
	if (read_str_file(path, buf, sizeof(buf)))
		return;
	for (p = buf; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (!strncmp(p, key, klen) && p[klen] == ' ') {
			snprintf(out, len, "%.*s", (int)strcspn(p + klen + 1, "\n"),
				 p + klen + 1);
			return;
		}
	}
}

/* the errnos a one-bit flip at @byte of a FINAL-only stream may give */
static bool flip_ok(size_t byte, int bit, size_t len, const struct result *r)
{
	uint32_t l;

	if (!r->werr)
		/* a length that grew: the packet is not complete yet */
		return byte >= 16 && byte < 20 && r->serr == -ENODATA &&
		       (l = len ^ (1u << ((byte - 16) * 8 + bit))) > len &&
		       l <= IVF_MIG_MAX_PACKET;
	if (r->serr == 0)
		return false;	/* refused in write(), applied anyway */
	if (r->werr == -EBADMSG)
		return true;	/* the CRC, whatever the field */
	if (byte < 4 || (byte >= 12 && byte < 16))
		return r->werr == -EINVAL;		/* magic, kind, reserved */
	if (byte < 6)
		return r->werr == -EPROTONOSUPPORT;	/* major */
	if (byte >= 8 && byte < 12)
		return r->werr == -EXDEV;		/* vendor, device */
	if (byte >= 16 && byte < 20)
		return r->werr == -EMSGSIZE;		/* length */
	return false;
}

/* ---- the fixture: the destination ------------------------------------ */

FIXTURE(migration_stream) {
	struct dst t;
	bool k_open, dev_open, ivf_open;
	const char *src_mac;
};

/*
 * container: both VFs through their groups, type1 containers
 * cdev_log: both through their cdevs on iommufd
 */
IVF_BACKENDS(migration_stream);

static void dst_free(FIXTURE_DATA(migration_stream) *self)
{
	struct dst *t = &self->t;
	int i;

	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
	for (i = 0; i < t->ndma; i++)
		vfio_dma_free(&t->d, &t->dma[i]);
	t->ndma = 0;
	if (self->ivf_open) {
		sh->dst_io_errors += t->v.io_errors;
		ivf_close(&t->v);
	}
	if (self->dev_open)
		vfio_dev_close(&t->d);
	if (self->k_open)
		kmsg_close(&t->k);
	self->ivf_open = self->dev_open = self->k_open = false;
}

/*
 * The source's guest RAM at its IOVAs in VF2's IOMMU, the first @n areas:
 * the two rings (a replay programs them), and the buffers for a case that
 * lets VF2 run.
 */
static int map_guest_ram(struct dst *t, int n)
{
	int ret = 0;

	while (!ret && t->ndma < n) {
		ret = vfio_dma_alloc(&t->d, &t->dma[t->ndma],
				     sh->dma[t->ndma].size,
				     sh->dma[t->ndma].iova);
		t->ndma += !ret;
	}
	return ret;
}

FIXTURE_SETUP(migration_stream)
{
	const char *src = env_get("IVF_VF0"), *pf = env_get("IVF_PF");
	const char *own = env_get("IVF_VF2_MAC"), *miss;
	struct dst *t = &self->t;
	int ret;

	t->fd = -1;
	t->bdf = env_get("IVF_VF2");
	self->src_mac = env_get("IVF_VF0_MAC");
	if (!src || !t->bdf || !pf || !env_get("IVF_PF_IF") ||
	    !self->src_mac || !own)
		SKIP(return, "IVF_VF0, IVF_VF2, IVF_PF, IVF_PF_IF, IVF_VF0_MAC and IVF_VF2_MAC are needed");
	ASSERT_NE(NULL, sh) TH_LOG("no shared mapping for the saved streams");
	miss = vfio_backend_missing(src, &variant->backend);
	if (miss)
		SKIP(return, "%s", miss);
	if (sh->vf2_index < 0) {
		sh->pf_if = env_get("IVF_PF_IF");
		sh->vf2_index = vf_index_on_pf(pf, t->bdf);
		snprintf(sh->vf2_mac, sizeof(sh->vf2_mac), "%s", own);
	}

	/* the source's streams: saved by the first case of the variant */
	if (!sh->filled || memcmp(&sh->backend, &variant->backend,
				  sizeof(sh->backend))) {
		sh->backend = variant->backend;
		sh->filled = save_source(src, &variant->backend);
	}
	if (sh->filled == -ENOTTY)
		SKIP(return, "%s", sh->why);
	ASSERT_EQ(1, sh->filled) TH_LOG("the source, saved once: %s", sh->why);

	/* the destination, the source's ring IOVAs mapped */
	self->k_open = !kmsg_open(&t->k);
	ret = vfio_dev_open_backend(&t->d, t->bdf, &variant->backend);
	self->dev_open = !ret;
	if (!ret)
		ret = ivf_open(&t->v, &t->d, IVF_ACCESS_MMAP);
	self->ivf_open = self->dev_open && !ret;
	if (!ret)
		ret = map_guest_ram(t, 2);
	if (ret || sh->vf2_index < 0)
		dst_free(self);
	ASSERT_TRUE(!ret && sh->vf2_index >= 0)
		TH_LOG("destination %s (VF %d) open, the source's ring IOVAs mapped (%s)",
		       t->bdf, sh->vf2_index, err_str(ret));
	/* the open reset it (the core's FLR): the handshake */
	ret = ivf_reset(&t->v);
	if (!ret && !t->v.cts)
		ret = -EPROTO;
	if (ret)
		dst_free(self);
	ASSERT_EQ(0, ret)
		TH_LOG("destination: handshake after the open's reset, before anything (%s)",
		       err_str(ret));
}

FIXTURE_TEARDOWN(migration_stream)
{
	dst_free(self);
}

/* VF2 with VF0's admin MAC (set once, kept for the cases after) */
static void need_src_mac(struct __test_metadata *_metadata,
			 FIXTURE_DATA(migration_stream) *self)
{
	int ret = 0;

	if (!sh->mac_is_src) {
		sh->mac_is_src = true;
		ret = set_admin_mac(self->src_mac);
		ASSERT_EQ(0, ret) TH_LOG("VF2's admin MAC set to VF0's %s",
					 self->src_mac);
		ret = handshake(&self->t);
	}
	ASSERT_TRUE(!ret && !memcmp(self->t.v.mac, sh->mac, 6))
		TH_LOG("VF2 handshake gives VF0's MAC (%s)", err_str(ret));
}

/* VF2 with its own admin MAC */
static void need_own_mac(struct __test_metadata *_metadata,
			 FIXTURE_DATA(migration_stream) *self)
{
	int ret = 0;

	if (sh->mac_is_src) {
		ret = restore_admin_mac();
		if (!ret)
			ret = handshake(&self->t);
	}
	ASSERT_EQ(0, ret) TH_LOG("VF2's own admin MAC %s back (%s)",
				 sh->vf2_mac, err_str(ret));
}

static void need_pstream(struct __test_metadata *_metadata)
{
	ASSERT_EQ(0, sh->pret)
		TH_LOG("no PRE_COPY stream from the source (%s)",
		       err_str(sh->pret));
}

/* ---- VF2 keeps its own admin MAC: the replay must be refused -------- */

/* a replay refused for the MAC: the log names it, the VF works after */
static void mac_refusal_told(struct __test_metadata *_metadata, struct dst *t,
			     const struct result *r, const char *what)
{
	int ret;

	EXPECT_TRUE(r->nlog && str_has(r->log, "mac"))
		TH_LOG("%s: the kernel log must name the MAC: %s", what,
		       r->nlog ? r->log : "(nothing)");
	ret = handshake(t);
	EXPECT_EQ(0, ret) TH_LOG("%s: reset and handshake after (%s)", what,
				 err_str(ret));
}

TEST_F_TIMEOUT(migration_stream, final_stream_to_other_admin_mac_refused_at_stop,
	       CASE_TIMEOUT)
{
	struct dst *t = &self->t;
	struct result r;
	char m[18];
	int ret;

	need_own_mac(_metadata, self);
	ivf_format_mac(t->v.mac, m);
	ret = run_case(t, sh->stream, sh->slen, 0, &r);
	EXPECT_TRUE(!ret && !r.werr && r.serr == -EADDRNOTAVAIL)
		TH_LOG("VF2 with admin MAC %s, stream MAC %s: write %s, RESUMING -> STOP %s (EADDRNOTAVAIL), state %s",
		       m, self->src_mac, ename(r.werr), ename(r.serr),
		       mig_state_name(r.state));
	mac_refusal_told(_metadata, t, &r, "refused replay");
}

/* with a CONFIG packet first, the refusal comes from its write() */
TEST_F_TIMEOUT(migration_stream, config_packet_to_other_admin_mac_refused_in_write,
	       CASE_TIMEOUT)
{
	struct dst *t = &self->t;
	struct ms_stream ps;
	struct result r;
	int ret;

	need_own_mac(_metadata, self);
	need_pstream(_metadata);
	ms_parse(&ps, sh->pstream, sh->plen);
	/* the first write() is the whole CONFIG packet */
	ret = run_case(t, sh->pstream, sh->plen, ps.pkt[0].len, &r);
	EXPECT_TRUE(!ret && r.werr == -EADDRNOTAVAIL && r.written == 0 &&
		    r.serr)
		TH_LOG("CONFIG + FINAL on VF2 with its own admin MAC: write of the CONFIG packet %s (EADDRNOTAVAIL), RESUMING -> STOP %s",
		       ename(r.werr), ename(r.serr));
	mac_refusal_told(_metadata, t, &r, "CONFIG refused");
}

/* ---- the saved streams ---------------------------------------------- */

static bool vlan_set(const struct ivf_mig_pf_config *c, unsigned int v)
{
	return le64toh(c->vlans[v / 64]) >> (v % 64) & 1;
}

TEST_F_TIMEOUT(migration_stream, final_stream_is_one_abi_packet, CASE_TIMEOUT)
{
	const uint8_t *buf = sh->stream;
	const struct ivf_mig_hdr *h = (const void *)buf;
	size_t len = sh->slen;
	unsigned int i, aligned = 1;
	struct ms_stream s;
	int ret;

	ret = ms_parse(&s, buf, len);
	ASSERT_EQ(0, ret) TH_LOG("saved stream parses per the ABI (%s)",
				 s.why);
	EXPECT_TRUE(s.npkt == 1 && s.pkt[0].kind == IVF_MIG_PKT_FINAL &&
		    s.pkt[0].len == len)
		TH_LOG("STOP_COPY stream: one FINAL packet of %zu bytes (%u packets)",
		       len, s.npkt);
	EXPECT_TRUE(le32toh(h->magic) == IVF_MIG_MAGIC &&
		    le16toh(h->major) == IVF_MIG_MAJOR &&
		    le16toh(h->minor) == IVF_MIG_MINOR &&
		    le16toh(h->vendor) == IVF_PCI_VENDOR_ID &&
		    le16toh(h->device) == IVF_PCI_DEVICE_ID && h->reserved == 0)
		TH_LOG("header: magic 0x%08x v%u.%u %04x:%04x reserved %u",
		       le32toh(h->magic), le16toh(h->major), le16toh(h->minor),
		       le16toh(h->vendor), le16toh(h->device),
		       le16toh(h->reserved));
	TH_LOG("CRC32C 0x%08x (verified), %zu bytes", s.pkt[0].crc, len);
	for (i = 0; i < s.nrec; i++) {
		TH_LOG("record type %u flags 0x%x length %u at +%zu",
		       s.rec[i].type, s.rec[i].flags, s.rec[i].len,
		       s.rec[i].off - s.pkt[0].off);
		if ((s.rec[i].off - s.pkt[0].off) % 8)
			aligned = 0;
	}
	EXPECT_TRUE(aligned) TH_LOG("records 8-byte aligned, filling the packet");
	EXPECT_TRUE(ms_find(&s, 0, IVF_MIG_REC_PF_CONFIG) &&
		    ms_find(&s, 0, IVF_MIG_REC_QUEUES) &&
		    ms_find(&s, 0, IVF_MIG_REC_IRQ) &&
		    ms_find(&s, 0, IVF_MIG_REC_MAILBOX))
		TH_LOG("FINAL must hold PF_CONFIG, QUEUES, IRQ and MAILBOX");
}

TEST_F_TIMEOUT(migration_stream, final_stream_carries_source_state,
	       CASE_TIMEOUT)
{
	const struct ivf_mig_pf_config *c;
	const struct ivf_mig_queues *q;
	const struct ms_rec *rc, *rq;
	unsigned int i, nvlan = 0;
	struct ms_stream s;
	char m1[18], m2[18];

	ASSERT_EQ(0, ms_parse(&s, sh->stream, sh->slen))
		TH_LOG("saved stream parses (%s)", s.why);
	rc = ms_find(&s, 0, IVF_MIG_REC_PF_CONFIG);
	rq = ms_find(&s, 0, IVF_MIG_REC_QUEUES);
	ASSERT_TRUE(rc && rq) TH_LOG("PF_CONFIG and QUEUES records");
	c = ms_payload(&s, rc);
	ivf_format_mac(c->mac, m1);
	ivf_format_mac(sh->mac, m2);
	EXPECT_TRUE((le32toh(c->flags) & (IVF_MIG_CFG_CTS | IVF_MIG_CFG_MAC)) ==
		    (IVF_MIG_CFG_CTS | IVF_MIG_CFG_MAC) &&
		    !memcmp(c->mac, sh->mac, 6))
		TH_LOG("PF_CONFIG: CTS, MAC %s (the VF's %s)", m1, m2);
	EXPECT_TRUE(c->n_mc == 3 && le16toh(c->mc[0]) == src_hashes[0] &&
		    le16toh(c->mc[1]) == src_hashes[1] &&
		    le16toh(c->mc[2]) == src_hashes[2])
		TH_LOG("PF_CONFIG: 3 multicast hashes (%u: 0x%x 0x%x 0x%x)",
		       c->n_mc, le16toh(c->mc[0]), le16toh(c->mc[1]),
		       le16toh(c->mc[2]));
	for (i = 0; i < 4096; i++)
		nvlan += vlan_set(c, i);
	EXPECT_TRUE(nvlan == 2 && vlan_set(c, 7) && vlan_set(c, 100))
		TH_LOG("PF_CONFIG: VLANs 7 and 100 (%u set)", nvlan);
	EXPECT_EQ(SRC_MAX_FRAME, le32toh(c->max_frame))
		TH_LOG("PF_CONFIG: max_frame %u", le32toh(c->max_frame));

	q = ms_payload(&s, rq);
	EXPECT_TRUE(le32toh(q->q[0].rdbal) == (uint32_t)sh->dma[0].iova &&
		    le32toh(q->q[0].rdlen) == sh->rx_count * 16 &&
		    le32toh(q->q[0].tdbal) == (uint32_t)sh->dma[1].iova &&
		    le32toh(q->q[0].tdlen) == sh->tx_count * 16 &&
		    (le32toh(q->q[0].rxdctl) & IVF_XDCTL_ENABLE) &&
		    (le32toh(q->q[0].txdctl) & IVF_XDCTL_ENABLE))
		TH_LOG("QUEUES: queue 0 as programmed (rdbal 0x%x rdlen %u tdbal 0x%x tdlen %u, enabled)",
		       le32toh(q->q[0].rdbal), le32toh(q->q[0].rdlen),
		       le32toh(q->q[0].tdbal), le32toh(q->q[0].tdlen));
}

TEST_F_TIMEOUT(migration_stream, pre_copy_stream_is_config_then_final,
	       CASE_TIMEOUT)
{
	struct ms_stream s;
	int ret;

	EXPECT_EQ(0, sh->pret)
		TH_LOG("source: PRE_COPY -> PRE_COPY_P2P -> STOP_COPY stream, %zu bytes (%s)",
		       sh->plen, err_str(sh->pret));
	if (sh->pret)
		return;
	ret = ms_parse(&s, sh->pstream, sh->plen);
	EXPECT_TRUE(!ret && s.npkt == 2 && s.pkt[0].kind == IVF_MIG_PKT_CONFIG)
		TH_LOG("PRE_COPY stream: CONFIG + FINAL, %zu bytes (%s)",
		       sh->plen, ret ? s.why : "ok");
}

/* ---- streams the destination takes ---------------------------------- */

/* the good stream, accepted: what VF2 looks like in STOP */
static void good_stream(struct __test_metadata *_metadata,
			FIXTURE_DATA(migration_stream) *self, struct result *r,
			const struct ivf_mig_queues **q)
{
	struct ms_stream s;

	need_src_mac(_metadata, self);
	ASSERT_EQ(0, ms_parse(&s, sh->stream, sh->slen))
		TH_LOG("saved stream parses (%s)", s.why);
	*q = ms_payload(&s, ms_find(&s, 0, IVF_MIG_REC_QUEUES));
	ASSERT_TRUE(expect_accepted(_metadata, &self->t, "good stream",
				    sh->stream, sh->slen, 0, r));
}

/* after a case that took a stream: reset and handshake */
static void handshake_after(struct __test_metadata *_metadata,
			    struct dst *t, const char *what)
{
	int ret = handshake(t);

	EXPECT_EQ(0, ret)
		TH_LOG("%s: VFIO_DEVICE_RESET and handshake after (%s)", what,
		       err_str(ret));
}

TEST_F_TIMEOUT(migration_stream, good_stream_programs_rings_queues_stay_disabled,
	       CASE_TIMEOUT)
{
	const struct ivf_mig_queues *q;
	struct result r;

	good_stream(_metadata, self, &r, &q);
	EXPECT_TRUE(r.after[0] == le32toh(q->q[0].rdbal) &&
		    r.after[2] == le32toh(q->q[0].rdlen) &&
		    r.after[6] == le32toh(q->q[0].tdbal) &&
		    r.after[8] == le32toh(q->q[0].tdlen))
		TH_LOG("STOP: VF2 rings programmed from the stream (RDBAL0 0x%x RDLEN0 %u TDBAL0 0x%x TDLEN0 %u)",
		       r.after[0], r.after[2], r.after[6], r.after[8]);
	EXPECT_TRUE(!(r.after[4] & IVF_XDCTL_ENABLE) &&
		    !(r.after[9] & IVF_XDCTL_ENABLE))
		TH_LOG("STOP: queues must stay disabled (RXDCTL0 0x%08x TXDCTL0 0x%08x)",
		       r.after[4], r.after[9]);
	handshake_after(_metadata, &self->t, "good stream");
}

TEST_F_TIMEOUT(migration_stream, good_stream_replays_pf_config, CASE_TIMEOUT)
{
	const struct ivf_mig_queues *q;
	struct result r;
	char line[256];

	good_stream(_metadata, self, &r, &q);
	pf_config_line(self->t.bdf, "mc", line, sizeof(line));
	EXPECT_STREQ("3 0x123 0x456 0x789", line)
		TH_LOG("VF2 pf_config mc after replay");
	pf_config_line(self->t.bdf, "vlans", line, sizeof(line));
	EXPECT_STREQ("2 7 100", line)
		TH_LOG("VF2 pf_config vlans after replay");
	pf_config_line(self->t.bdf, "max_frame", line, sizeof(line));
	EXPECT_STREQ("9018", line)
		TH_LOG("VF2 pf_config max_frame after replay");
	handshake_after(_metadata, &self->t, "good stream");
}

TEST_F_TIMEOUT(migration_stream, good_stream_runs_with_rx_enabled, CASE_TIMEOUT)
{
	const struct ivf_mig_queues *q;
	struct dst *t = &self->t;
	uint32_t v = 0, s2 = 0;
	struct result r;
	int ret, i;

	good_stream(_metadata, self, &r, &q);
	ret = map_guest_ram(t, 4);
	ASSERT_EQ(0, ret) TH_LOG("the source's buffers mapped in VF2's IOMMU (%s)",
				 err_str(ret));
	/* guest memory as the source left it, then RUNNING */
	for (i = 0; i < 2; i++)
		memcpy(t->dma[i].vaddr, sh->ring[i],
		       t->dma[i].size < RING_COPY_MAX ? t->dma[i].size :
		       RING_COPY_MAX);
	ret = mig_set_state(&t->d, S_RUNNING, NULL);
	mig_get_state(&t->d, &s2);
	vfio_bar_read32(&t->d, 0, IVF_RXDCTL(0), &v);
	EXPECT_TRUE(!ret && s2 == S_RUNNING && (v & IVF_XDCTL_ENABLE))
		TH_LOG("STOP -> RUNNING: %s, state %s, RX queue enabled (RXDCTL0 0x%08x)",
		       err_str(ret), mig_state_name(s2), v);
	handshake_after(_metadata, t, "good stream");
}

static void accepted(struct __test_metadata *_metadata,
		     FIXTURE_DATA(migration_stream) *self, const char *name,
		     bool pre, size_t chunk)
{
	struct result r;

	need_src_mac(_metadata, self);
	if (pre)
		need_pstream(_metadata);
	expect_accepted(_metadata, &self->t, name,
			pre ? sh->pstream : sh->stream,
			pre ? sh->plen : sh->slen, chunk, &r);
	handshake_after(_metadata, &self->t, "accepted stream");
}

TEST_F_TIMEOUT(migration_stream, good_stream_taken_in_1_byte_writes,
	       CASE_TIMEOUT)
{
	accepted(_metadata, self, "good stream, 1-byte writes", false, 1);
}

TEST_F_TIMEOUT(migration_stream, good_stream_taken_in_7_byte_writes,
	       CASE_TIMEOUT)
{
	accepted(_metadata, self, "good stream, 7-byte writes", false, 7);
}

TEST_F_TIMEOUT(migration_stream, config_final_stream_taken_in_5_byte_writes,
	       CASE_TIMEOUT)
{
	accepted(_metadata, self, "CONFIG + FINAL stream, 5-byte writes", true,
		 5);
}

TEST_F_TIMEOUT(migration_stream, config_final_stream_taken_in_one_write,
	       CASE_TIMEOUT)
{
	accepted(_metadata, self, "CONFIG + FINAL stream, one write", true, 0);
}

/* ---- edited streams (the CRC recomputed unless the case is about it) -- */

/* the saved FINAL stream, parsed, copied into work[]; its length */
static size_t edit_begin(struct __test_metadata *_metadata,
			 FIXTURE_DATA(migration_stream) *self,
			 struct ms_stream *s)
{
	need_src_mac(_metadata, self);
	ms_parse(s, sh->stream, sh->slen);
	return copy_stream(sh->stream, sh->slen);
}

TEST_F_TIMEOUT(migration_stream, newer_minor_version_accepted, CASE_TIMEOUT)
{
	struct ms_stream s;
	struct result r;
	size_t l = edit_begin(_metadata, self, &s);

	set16(offsetof(struct ivf_mig_hdr, minor), IVF_MIG_MINOR + 1);
	mig_packet_fix_crc(work);
	expect_accepted(_metadata, &self->t, "newer minor version", work, l, 0,
			&r);
	handshake_after(_metadata, &self->t, "newer minor version");

	/* the ABI names no errno for a reserved field: what happens, told */
	l = copy_stream(sh->stream, sh->slen);
	set16(offsetof(struct ivf_mig_hdr, reserved), 1);
	mig_packet_fix_crc(work);
	if (!run_case(&self->t, work, l, 0, &r))
		TH_LOG("reserved header field 1 (CRC fixed): write %s, STOP %s",
		       ename(r.werr), ename(r.serr));
	handshake(&self->t);
}

TEST_F_TIMEOUT(migration_stream, unknown_optional_record_skipped, CASE_TIMEOUT)
{
	struct ms_stream s;
	struct result r;
	size_t l;

	edit_begin(_metadata, self, &s);
	l = rebuild(&s, -1, -1, 0, -1, 0, 0x7ff0, 0);
	expect_accepted(_metadata, &self->t, "unknown optional record (skipped)",
			work, l, 0, &r);
	handshake_after(_metadata, &self->t, "unknown optional record");
}

TEST_F_TIMEOUT(migration_stream, longer_pf_config_accepted, CASE_TIMEOUT)
{
	struct ms_stream s;
	struct result r;
	size_t l;

	edit_begin(_metadata, self, &s);
	l = rebuild(&s, -1, -1, 0, IVF_MIG_REC_PF_CONFIG, 8, 0, 0);
	expect_accepted(_metadata, &self->t,
			"PF_CONFIG 8 bytes longer (newer fields ignored)", work,
			l, 0, &r);
	handshake_after(_metadata, &self->t, "longer PF_CONFIG");
}

/* one header field set to @v (16 or 32 bits), CRC fixed, refused in write */
static void header_edit(struct __test_metadata *_metadata,
			FIXTURE_DATA(migration_stream) *self, const char *name,
			size_t off, int bits, uint32_t v, bool fix_crc,
			int werr)
{
	struct ms_stream s;
	size_t l = edit_begin(_metadata, self, &s);

	if (bits == 16)
		set16(off, v);
	else
		set32(off, v);
	if (fix_crc)
		mig_packet_fix_crc(work);
	expect_refused(_metadata, &self->t, name, work, l, 0, werr, 0, R_LOG);
}

/* the FINAL stream's CRC, as saved */
static uint32_t saved_crc(void)
{
	struct ms_stream s;

	ms_parse(&s, sh->stream, sh->slen);
	return s.pkt[0].crc;
}

/* a case: header @field of the FINAL stream set to @v, refused in write() */
#define HEADER_EDIT(test, what, field, bits, v, fix_crc, werr)		\
	TEST_F_TIMEOUT(migration_stream, test, CASE_TIMEOUT)		\
	{								\
		header_edit(_metadata, self, what,			\
			    offsetof(struct ivf_mig_hdr, field), bits,	\
			    v, fix_crc, werr);				\
	}

HEADER_EDIT(wrong_magic_refused_einval, "wrong magic", magic, 32, 0x4d465648,
	    true, -EINVAL)
HEADER_EDIT(newer_major_version_refused_eprotonosupport, "newer major version",
	    major, 16, IVF_MIG_MAJOR + 1, true, -EPROTONOSUPPORT)
HEADER_EDIT(other_device_id_refused_exdev, "other device id 8086:10cb", device,
	    16, 0x10cb, true, -EXDEV)
HEADER_EDIT(other_vendor_id_refused_exdev, "other vendor id 8087:10ca", vendor,
	    16, 0x8087, true, -EXDEV)
HEADER_EDIT(unknown_packet_kind_refused_einval, "unknown packet kind 3", kind,
	    16, 3, true, -EINVAL)
HEADER_EDIT(crc_off_by_one_bit_refused_ebadmsg, "CRC off by one bit", crc32c,
	    32, saved_crc() ^ 0x80, false, -EBADMSG)
/* lengths (the CRC cannot cover a length it disagrees with) */
HEADER_EDIT(packet_length_above_max_refused_emsgsize,
	    "packet length above IVF_MIG_MAX_PACKET", length, 32,
	    IVF_MIG_MAX_PACKET + 8, false, -EMSGSIZE)
HEADER_EDIT(packet_length_huge_refused_emsgsize, "packet length 0xfffffff8",
	    length, 32, 0xfffffff8, false, -EMSGSIZE)
HEADER_EDIT(packet_length_below_header_refused_emsgsize,
	    "packet length 16 (< header)", length, 32, 16, false, -EMSGSIZE)

/* records */
TEST_F_TIMEOUT(migration_stream, record_overrunning_packet_refused_emsgsize,
	       CASE_TIMEOUT)
{
	const struct ms_rec *last;
	struct ms_stream s;
	size_t l = edit_begin(_metadata, self, &s);

	last = &s.rec[s.nrec - 1];
	set32(last->off + 4, last->len + 64);
	mig_packet_fix_crc(work);
	expect_refused(_metadata, &self->t, "last record overruns the packet",
		       work, l, 0, -EMSGSIZE, 0, R_LOG);
}

TEST_F_TIMEOUT(migration_stream, record_length_huge_refused_emsgsize,
	       CASE_TIMEOUT)
{
	struct ms_stream s;
	size_t l = edit_begin(_metadata, self, &s);

	set32(s.rec[0].off + 4, 0xfffffff8);
	mig_packet_fix_crc(work);
	expect_refused(_metadata, &self->t, "record length 0xfffffff8", work, l,
		       0, -EMSGSIZE, 0, R_LOG);
}

TEST_F_TIMEOUT(migration_stream, short_pf_config_refused_ebadmsg, CASE_TIMEOUT)
{
	struct ms_stream s;
	size_t l;

	edit_begin(_metadata, self, &s);
	l = rebuild(&s, -1, IVF_MIG_REC_PF_CONFIG, 8, -1, 0, 0, 0);
	expect_refused(_metadata, &self->t, "PF_CONFIG shorter than its struct",
		       work, l, 0, -EBADMSG, 0, R_LOG);
}

/* PF_CONFIG's count at @field (n_mc or n_uc) set to @n */
static void count_edit(struct __test_metadata *_metadata,
		       FIXTURE_DATA(migration_stream) *self, const char *name,
		       size_t field, uint8_t n)
{
	struct ms_stream s;
	size_t l = edit_begin(_metadata, self, &s);
	size_t cfg = ms_find(&s, 0, IVF_MIG_REC_PF_CONFIG)->off + MS_REC_LEN;

	work[cfg + field] = n;
	mig_packet_fix_crc(work);
	expect_refused(_metadata, &self->t, name, work, l, 0, -EBADMSG, 0,
		       R_LOG);
}

TEST_F_TIMEOUT(migration_stream, too_many_multicast_hashes_refused_ebadmsg,
	       CASE_TIMEOUT)
{
	count_edit(_metadata, self, "PF_CONFIG with 31 multicast hashes",
		   offsetof(struct ivf_mig_pf_config, n_mc), IVF_MIG_MAX_MC + 1);
}

TEST_F_TIMEOUT(migration_stream, too_many_unicast_filters_refused_ebadmsg,
	       CASE_TIMEOUT)
{
	count_edit(_metadata, self, "PF_CONFIG with 4 unicast filters",
		   offsetof(struct ivf_mig_pf_config, n_uc), IVF_MIG_MAX_UC + 1);
}

/* the FINAL packet rebuilt without record @drop, or with @extra added */
static void record_edit(struct __test_metadata *_metadata,
			FIXTURE_DATA(migration_stream) *self, const char *name,
			int drop, uint16_t extra, int werr)
{
	struct ms_stream s;
	size_t l;

	edit_begin(_metadata, self, &s);
	l = rebuild(&s, drop, -1, 0, -1, 0, extra,
		    extra ? IVF_MIG_REC_MANDATORY : 0);
	expect_refused(_metadata, &self->t, name, work, l, 0, werr, 0, R_LOG);
}

TEST_F_TIMEOUT(migration_stream, unknown_mandatory_record_refused_eproto,
	       CASE_TIMEOUT)
{
	record_edit(_metadata, self, "unknown mandatory record", -1, 0x7ff1,
		    -EPROTO);
}

TEST_F_TIMEOUT(migration_stream, final_without_mailbox_refused_eproto,
	       CASE_TIMEOUT)
{
	record_edit(_metadata, self, "FINAL without the MAILBOX record",
		    IVF_MIG_REC_MAILBOX, 0, -EPROTO);
}

TEST_F_TIMEOUT(migration_stream, final_without_queues_refused_eproto,
	       CASE_TIMEOUT)
{
	record_edit(_metadata, self, "FINAL without the QUEUES record",
		    IVF_MIG_REC_QUEUES, 0, -EPROTO);
}

TEST_F_TIMEOUT(migration_stream, stray_bytes_after_last_record_refused_emsgsize,
	       CASE_TIMEOUT)
{
	/* 4 bytes of nothing after the last record, inside the packet */
	struct ms_stream s;
	struct ms_build b;
	size_t l = edit_begin(_metadata, self, &s);

	mb_init(&b, work, sizeof(work));
	b.len = l;
	b.pkt = 0;
	mb_raw(&b, NULL, 4);
	mb_pkt_end(&b);
	expect_refused(_metadata, &self->t, "4 stray bytes after the last record",
		       work, b.len, 0, -EMSGSIZE, 0, R_LOG);
}

/* after the FINAL packet */
TEST_F_TIMEOUT(migration_stream, garbage_after_final_refused_einval,
	       CASE_TIMEOUT)
{
	struct ms_stream s;
	size_t l = edit_begin(_metadata, self, &s);

	memset(work + l, 0xaa, 8);
	expect_refused(_metadata, &self->t, "8 bytes of garbage after FINAL",
		       work, l + 8, 0, -EINVAL, 0, R_LOG);
}

TEST_F_TIMEOUT(migration_stream, second_final_packet_refused_einval,
	       CASE_TIMEOUT)
{
	size_t len = sh->slen;
	uint8_t *two;

	need_src_mac(_metadata, self);
	two = malloc(2 * len);
	ASSERT_NE(NULL, two);
	memcpy(two, sh->stream, len);
	memcpy(two + len, sh->stream, len);
	expect_refused(_metadata, &self->t, "a second FINAL packet", two,
		       2 * len, len, -EINVAL, 0, R_LOG);
	free(two);
}

/* ---- streams cut short ---------------------------------------------- */

TEST_F_TIMEOUT(migration_stream, truncated_final_stream_refused_at_stop_enodata,
	       CASE_TIMEOUT)
{
	const uint8_t *buf = sh->stream;
	size_t len = sh->slen, cuts[MS_MAX_REC * 2 + 16];
	unsigned int n = 0, i, bad = 0, logged = 0;
	struct ms_stream s;

	need_src_mac(_metadata, self);
	ms_parse(&s, buf, len);
	cuts[n++] = 0;
	cuts[n++] = 1;
	cuts[n++] = 12;
	cuts[n++] = MS_HDR_LEN - 1;
	cuts[n++] = MS_HDR_LEN;
	for (i = 0; i < s.nrec; i++) {
		cuts[n++] = s.rec[i].off;
		cuts[n++] = s.rec[i].off + 3;
		cuts[n++] = s.rec[i].off + MS_REC_LEN + s.rec[i].len / 2;
	}
	cuts[n++] = len - 8;
	cuts[n++] = len - 1;

	for (i = 0; i < n; i++) {
		struct result r;
		int ret = run_case(&self->t, buf, cuts[i], 0, &r);

		if (ret || r.werr || r.serr != -ENODATA || !r.regs_after_stop) {
			bad++;
			TH_LOG("truncated at %zu of %zu: %s, write %s, STOP %s (ENODATA)%s%s",
			       cuts[i], len, err_str(ret), ename(r.werr),
			       ename(r.serr),
			       r.regs_after_stop ? "" : ", registers changed: ",
			       r.reg_diff);
		}
		logged += r.nlog > 0;
	}
	EXPECT_EQ(0, bad)
		TH_LOG("%u truncations of the FINAL stream: writes accepted, STOP ENODATA, device untouched (%u bad)",
		       n, bad);
	TH_LOG("truncations: %u of %u logged a line", logged, n);
	/*
	 * The driver's refusals are ratelimited (10 lines per 5 s per call
	 * site): the truncations used them up. Let the interval pass, so
	 * the cases after this one, which check their line, get one.
	 */
	sleep(6);
}

TEST_F_TIMEOUT(migration_stream, final_stream_cut_before_last_byte_refused_at_stop,
	       CASE_TIMEOUT)
{
	need_src_mac(_metadata, self);
	expect_refused(_metadata, &self->t, "truncated before the last byte",
		       sh->stream, sh->slen - 1, 0, 0, -ENODATA, R_LOG);
}

/* CONFIG complete, FINAL missing or partial */
TEST_F_TIMEOUT(migration_stream, config_packet_alone_refused_at_stop,
	       CASE_TIMEOUT)
{
	struct ms_stream s;

	need_src_mac(_metadata, self);
	need_pstream(_metadata);
	ms_parse(&s, sh->pstream, sh->plen);
	expect_refused(_metadata, &self->t, "CONFIG packet only", sh->pstream,
		       s.pkt[1].off, 0, 0, -ENODATA, R_LOG | R_TOUCH);
}

TEST_F_TIMEOUT(migration_stream, config_and_half_final_header_refused_at_stop,
	       CASE_TIMEOUT)
{
	struct ms_stream s;

	need_src_mac(_metadata, self);
	need_pstream(_metadata);
	ms_parse(&s, sh->pstream, sh->plen);
	expect_refused(_metadata, &self->t, "CONFIG + half a FINAL header",
		       sh->pstream, s.pkt[1].off + 12, 0, 0, -ENODATA, R_TOUCH);
}

/* ---- single-bit flips ----------------------------------------------- */

TEST_F_TIMEOUT(migration_stream, single_bit_flips_refused_with_abi_errno,
	       FLIPS_TIMEOUT)
{
	const char *flips = env_get("IVF_FLIPS"), *e_seed = env_get("IVF_SEED");
	bool all = flips && !strcmp(flips, "all");
	unsigned int sample = flips && !all ? strtoul(flips, NULL, 0) : 48;
	uint64_t seed = e_seed ? strtoull(e_seed, NULL, 0) : now_ns();
	const uint8_t *buf = sh->stream;
	size_t len = sh->slen;
	unsigned int hist[8] = { 0 }, n = 0, bad = 0, logged = 0, i, npos = 0;
	uint64_t t0 = now_ns(), rng = seed | 1;
	size_t *pos;

	need_src_mac(_metadata, self);
	/* every header bit, then every other bit or a sample of them */
	pos = calloc(len * 8 + sample, sizeof(*pos));
	ASSERT_NE(NULL, pos);
	for (i = 0; i < MS_HDR_LEN * 8; i++)
		pos[npos++] = i;
	if (all) {
		for (i = MS_HDR_LEN * 8; i < len * 8; i++)
			pos[npos++] = i;
	} else {
		for (i = 0; i < sample && MS_HDR_LEN < len; i++) {
			rng ^= rng << 13;
			rng ^= rng >> 7;
			rng ^= rng << 17;
			pos[npos++] = MS_HDR_LEN * 8 +
				      rng % ((len - MS_HDR_LEN) * 8);
		}
	}

	for (i = 0; i < npos; i++) {
		size_t byte = pos[i] / 8;
		int bit = pos[i] % 8, ret;
		struct result r;

		copy_stream(buf, len);
		work[byte] ^= 1u << bit;
		ret = run_case(&self->t, work, len, 0, &r);
		n++;
		if (ret || !flip_ok(byte, bit, len, &r) || !r.regs_after_stop) {
			if (bad++ < 10)
				TH_LOG("flip of bit %d of byte %zu: %s, write %s after %zu bytes, STOP %s%s%s",
				       bit, byte, err_str(ret), ename(r.werr),
				       r.written, ename(r.serr),
				       r.regs_after_stop ? "" : ", registers changed: ",
				       r.reg_diff);
		}
		logged += r.nlog > 0;
		switch (-(r.werr ? r.werr : r.serr)) {
		case EINVAL: hist[0]++; break;
		case EPROTONOSUPPORT: hist[1]++; break;
		case EXDEV: hist[2]++; break;
		case EMSGSIZE: hist[3]++; break;
		case EBADMSG: hist[4]++; break;
		case EPROTO: hist[5]++; break;
		case ENODATA: hist[6]++; break;
		default: hist[7]++; break;
		}
	}
	free(pos);
	TH_LOG("flips: EINVAL %u EPROTONOSUPPORT %u EXDEV %u EMSGSIZE %u EBADMSG %u EPROTO %u ENODATA(at STOP) %u other %u; %u logged",
	       hist[0], hist[1], hist[2], hist[3], hist[4], hist[5], hist[6],
	       hist[7], logged);
	TH_LOG("%u single-bit flips (%s, seed %llu) in %.1f s", n,
	       all ? "every bit" : "every header bit + a sample",
	       (unsigned long long)seed, (now_ns() - t0) / 1e9);
	EXPECT_EQ(0, bad)
		TH_LOG("every flip must be refused with an ABI errno, the device untouched (%u of %u bad)",
		       bad, n);
}

/* ---- the end -------------------------------------------------------- */

TEST_F_TIMEOUT(migration_stream, own_admin_mac_restored_vf2_handshakes,
	       CASE_TIMEOUT)
{
	struct dst *t = &self->t;
	int ret;

	ret = restore_admin_mac();
	if (!ret)
		ret = handshake(t);
	EXPECT_TRUE(!ret && t->v.mac_valid)
		TH_LOG("admin MAC restored, VF2 handshake after all cases (%s)",
		       err_str(ret));
	EXPECT_TRUE(t->v.io_errors == 0 && sh->dst_io_errors == 0 &&
		    sh->src_io_errors == 0)
		TH_LOG("no register access errors (VF2 %lu now, %lu before; VF0 %lu)",
		       t->v.io_errors, sh->dst_io_errors, sh->src_io_errors);
}

TEST_HARNESS_MAIN
