// SPDX-License-Identifier: GPL-2.0
/*
 * seqflow: sequence-numbered Ethernet traffic with loss/dup/reorder accounting.
 *
 * Used by the QEMU-based tests (nested guests, migration) to tell whether a
 * link carried traffic without loss across an event.  Both ends run it: "tx"
 * specs send one frame per interval per flow on an AF_PACKET socket, "rx"
 * specs count what arrives, per flow, and report:
 *
 *   rx     distinct sequence numbers received
 *   lost   (highest seq seen + 1) - rx, i.e. numbers still missing below the
 *          highest one seen (a late arrival lowers it again)
 *   dup    frames whose seq had already been received
 *   reord  frames that arrived after a higher seq (late, not lost)
 *   old    frames older than the 64Ki-seq window (dup or late, can't tell)
 *   first/last  seq of the first / most recent frame received (-1: none)
 *   gap_ms longest time between two consecutive frames of the flow, gap_at
 *          the seq of the frame that ended it, sgap_ms the time between the
 *          same two frames by the sender's clock (as long as gap_ms: the
 *          sender sent nothing meanwhile; short: the frames were held up on
 *          the way); max the highest seq seen
 *
 * Frame: dst, src, ethertype 0x88B5, "SQFL", be32 flow, be64 seq,
 * be64 sender CLOCK_MONOTONIC ns, zero padded to 60 bytes.
 *
 * Interfaces may be missing or down: opening is retried every second, and a
 * send that fails counts as txerr while the sequence number still advances.
 * Statically linked, it runs in a busybox initramfs; it sleeps in ppoll()
 * between ticks so that it costs nothing in an emulated guest.
 *
 * SIGUSR1 starts the gap measurement over (gap_ms, gap_at), e.g. before a
 * migration, so that gap_ms is the longest silence since then.
 * SIGTERM/SIGINT or the end of -d: print the final status line, exit 0.
 * Exit 2 on a bad command line, 1 on a fatal error (e.g. not root).
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <linux/if_packet.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SQ_ETHERTYPE	0x88B5
#define SQ_MAGIC	"SQFL"
#define SQ_HDR_LEN	14
#define SQ_PAYLOAD_LEN	24		/* magic, flow, seq, timestamp */
#define SQ_FRAME_LEN	60

#define MAX_SPECS	8
#define MAX_MCAST	4
#define WIN_BITS	(1u << 16)	/* dup/late window, in sequence numbers */
#define LONG_BITS	(8 * sizeof(unsigned long))

#define NSEC_PER_MSEC	((uint64_t)1000000)
#define NSEC_PER_SEC	((uint64_t)1000000000)

struct iface {
	char name[IFNAMSIZ];
	int fd;			/* -1 while not open */
	int ifindex;
	uint8_t mac[ETH_ALEN];
	bool rx;		/* an rx spec uses it: bind to our ethertype */
	int last_errno;		/* last reported open failure, to log once */
};

struct rxstat {
	bool have;		/* a frame was received */
	uint64_t hi;		/* highest seq seen */
	uint64_t first, last;
	uint64_t rx, dup, reord, old;
	uint64_t last_ns;	/* receipt time of the previous frame */
	uint64_t last_ts;	/* sender's time stamp of the previous frame */
	uint64_t gap_ns, gap_at;
	uint64_t sgap_ns;	/* the sender's time across that gap */
	bool have_gap;
	unsigned long bm[WIN_BITS / LONG_BITS];
};

struct spec {
	bool tx;
	struct iface *ifc;
	uint32_t flow;
	uint8_t dst[ETH_ALEN];	/* tx */
	uint64_t seq, sent, txerr;
	struct rxstat rs;	/* rx */
};

static struct iface ifaces[MAX_SPECS];
static int nifaces;
static struct spec specs[MAX_SPECS];
static int nspecs;
static uint8_t mcast[MAX_MCAST][ETH_ALEN];
static int nmcast;

static uint64_t start_ns;

static void msg(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("seqflow: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void __attribute__((noreturn)) vexit(int code, const char *fmt,
					     va_list ap)
{
	fputs("seqflow: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	exit(code);
}

static void __attribute__((noreturn)) die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vexit(1, fmt, ap);
}

/* A bad command line: exit 2, like usage(). */
static void __attribute__((noreturn)) bad_arg(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vexit(2, fmt, ap);
}

static void __attribute__((noreturn)) usage(void)
{
	fprintf(stderr,
		"usage: seqflow [-i INTERVAL_MS] [-s STATUSFILE|-] [-p PERIOD_MS] [-d DURATION_S]\n"
		"               [-m MCASTMAC]... SPEC...\n"
		"  SPEC = tx:IFACE:DSTMAC:FLOW  send FLOW to DSTMAC out of IFACE every INTERVAL_MS (500)\n"
		"       | rx:IFACE:FLOW         count FLOW received on IFACE (any destination MAC)\n"
		"  -s FILE  write the status line to FILE (atomically) every PERIOD_MS (1000);\n"
		"           \"-\": print it to stdout every period instead\n"
		"  -d N     exit after N seconds (default: until SIGTERM/SIGINT)\n"
		"  -m MAC   join multicast MAC on every rx interface (NIC filter), up to %d\n"
		"At exit the final status line is printed to stdout.  At most %d specs.\n",
		MAX_MCAST, MAX_SPECS);
	exit(2);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
}

static bool parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (!*s || *s == '-')
		return false;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end || v > max)
		return false;
	*out = v;
	return true;
}

static bool parse_mac(const char *s, uint8_t mac[ETH_ALEN])
{
	unsigned int b[ETH_ALEN];
	int n = -1, i;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%n",
		   &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &n) != ETH_ALEN ||
	    n < 0 || s[n])
		return false;
	for (i = 0; i < ETH_ALEN; i++)
		mac[i] = b[i];
	return true;
}

static struct iface *get_iface(const char *name, size_t len)
{
	struct iface *ifc;
	int i;

	if (!len || len >= IFNAMSIZ)
		return NULL;
	for (i = 0; i < nifaces; i++)
		if (strlen(ifaces[i].name) == len && !memcmp(ifaces[i].name, name, len))
			return &ifaces[i];
	ifc = &ifaces[nifaces++];
	memcpy(ifc->name, name, len);
	ifc->name[len] = '\0';
	ifc->fd = -1;
	ifc->ifindex = -1;
	return ifc;
}

/* tx:IFACE:DSTMAC:FLOW or rx:IFACE:FLOW */
static void parse_spec(const char *arg)
{
	struct spec *sp = &specs[nspecs];
	const char *name, *colon, *last;
	uint64_t flow;
	char mac[32];

	if (nspecs >= MAX_SPECS)
		bad_arg("too many specs (max %d)", MAX_SPECS);
	if (!strncmp(arg, "tx:", 3))
		sp->tx = true;
	else if (strncmp(arg, "rx:", 3))
		bad_arg("bad spec '%s': must start with tx: or rx:", arg);
	name = arg + 3;
	colon = strchr(name, ':');
	last = strrchr(name, ':');
	if (!colon)
		bad_arg("bad spec '%s'", arg);
	if (!parse_u64(last + 1, UINT32_MAX, &flow))
		bad_arg("bad flow in spec '%s'", arg);
	sp->flow = flow;
	if (sp->tx) {
		size_t len = last - (colon + 1);

		if (last == colon || len >= sizeof(mac))
			bad_arg("bad spec '%s': tx:IFACE:DSTMAC:FLOW", arg);
		memcpy(mac, colon + 1, len);
		mac[len] = '\0';
		if (!parse_mac(mac, sp->dst))
			bad_arg("bad MAC '%s' in spec '%s'", mac, arg);
	} else if (last != colon) {
		bad_arg("bad spec '%s': rx:IFACE:FLOW", arg);
	}
	sp->ifc = get_iface(name, colon - name);
	if (!sp->ifc)
		bad_arg("bad interface name in spec '%s'", arg);
	if (!sp->tx)
		sp->ifc->rx = true;
	nspecs++;
}

static void iface_close(struct iface *ifc)
{
	if (ifc->fd >= 0)
		close(ifc->fd);
	ifc->fd = -1;
	ifc->ifindex = -1;
}

static void iface_fail(struct iface *ifc, const char *what, int err)
{
	if (ifc->last_errno != err)
		msg("%s: waiting: %s: %s", ifc->name, what, strerror(err));
	ifc->last_errno = err;
	iface_close(ifc);
}

/*
 * Open and bind the interface's socket.  A tx-only interface is bound with
 * protocol 0 so that nothing queues up on a socket nobody reads.  Binding to
 * an interface that is down is fine: the packet socket starts receiving when
 * it comes up.
 */
static void iface_open(struct iface *ifc)
{
	uint16_t proto = ifc->rx ? htons(SQ_ETHERTYPE) : 0;
	struct sockaddr_ll sll;
	struct ifreq ifr;
	int fd, i;

	fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
	if (fd < 0) {
		if (errno == EPERM || errno == EACCES || errno == EAFNOSUPPORT)
			die("socket(AF_PACKET): %s", strerror(errno));
		iface_fail(ifc, "socket", errno);
		return;
	}
	ifc->fd = fd;

	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, ifc->name, IFNAMSIZ);
	if (ioctl(fd, SIOCGIFINDEX, &ifr) < 0) {
		iface_fail(ifc, "SIOCGIFINDEX", errno);
		return;
	}
	ifc->ifindex = ifr.ifr_ifindex;
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) {
		iface_fail(ifc, "SIOCGIFHWADDR", errno);
		return;
	}
	memcpy(ifc->mac, ifr.ifr_hwaddr.sa_data, ETH_ALEN);

	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = proto;
	sll.sll_ifindex = ifc->ifindex;
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		iface_fail(ifc, "bind", errno);
		return;
	}

	for (i = 0; ifc->rx && i < nmcast; i++) {
		struct packet_mreq mr;

		memset(&mr, 0, sizeof(mr));
		mr.mr_ifindex = ifc->ifindex;
		mr.mr_type = PACKET_MR_MULTICAST;
		mr.mr_alen = ETH_ALEN;
		memcpy(mr.mr_address, mcast[i], ETH_ALEN);
		if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)) < 0) {
			iface_fail(ifc, "PACKET_ADD_MEMBERSHIP", errno);
			return;
		}
	}

	ifc->last_errno = 0;
	msg("%s: open (ifindex %d, mac %02x:%02x:%02x:%02x:%02x:%02x)", ifc->name,
	    ifc->ifindex, ifc->mac[0], ifc->mac[1], ifc->mac[2], ifc->mac[3],
	    ifc->mac[4], ifc->mac[5]);
}

/*
 * Once a second: open what is not open; for what is, check that the name
 * still maps to the ifindex we are bound to (a driver reprobe or a deleted
 * and recreated interface gets a new one, and the old binding then receives
 * nothing) and refresh the MAC (a VF may get a new one).
 */
static void iface_check(struct iface *ifc)
{
	struct ifreq ifr;

	if (ifc->fd < 0) {
		iface_open(ifc);
		return;
	}
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, ifc->name, IFNAMSIZ);
	if (ioctl(ifc->fd, SIOCGIFINDEX, &ifr) < 0 || ifr.ifr_ifindex != ifc->ifindex) {
		msg("%s: ifindex %d gone, reopening", ifc->name, ifc->ifindex);
		iface_close(ifc);
		ifc->last_errno = 0;
		iface_open(ifc);
		return;
	}
	if (ioctl(ifc->fd, SIOCGIFHWADDR, &ifr) == 0 &&
	    memcmp(ifc->mac, ifr.ifr_hwaddr.sa_data, ETH_ALEN)) {
		memcpy(ifc->mac, ifr.ifr_hwaddr.sa_data, ETH_ALEN);
		msg("%s: mac changed to %02x:%02x:%02x:%02x:%02x:%02x", ifc->name,
		    ifc->mac[0], ifc->mac[1], ifc->mac[2], ifc->mac[3], ifc->mac[4],
		    ifc->mac[5]);
	}
}

static void tx_one(struct spec *sp, uint64_t now)
{
	struct iface *ifc = sp->ifc;
	uint8_t frame[SQ_FRAME_LEN];
	struct sockaddr_ll sll;
	uint16_t type = htons(SQ_ETHERTYPE);
	uint32_t flow = htonl(sp->flow);
	uint64_t seq = htobe64(sp->seq);
	uint64_t ts = htobe64(now);
	uint8_t *p = frame + SQ_HDR_LEN;
	ssize_t n;

	sp->seq++;
	if (ifc->fd < 0) {
		sp->txerr++;
		return;
	}

	memset(frame, 0, sizeof(frame));
	memcpy(frame, sp->dst, ETH_ALEN);
	memcpy(frame + ETH_ALEN, ifc->mac, ETH_ALEN);
	memcpy(frame + 2 * ETH_ALEN, &type, 2);
	memcpy(p, SQ_MAGIC, 4);
	memcpy(p + 4, &flow, 4);
	memcpy(p + 8, &seq, 8);
	memcpy(p + 16, &ts, 8);

	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(SQ_ETHERTYPE);
	sll.sll_ifindex = ifc->ifindex;
	sll.sll_halen = ETH_ALEN;
	memcpy(sll.sll_addr, sp->dst, ETH_ALEN);
	do {
		n = sendto(ifc->fd, frame, sizeof(frame), 0, (struct sockaddr *)&sll, sizeof(sll));
	} while (n < 0 && errno == EINTR);
	if (n == (ssize_t)sizeof(frame))
		sp->sent++;
	else
		sp->txerr++;
}

static bool bm_test(struct rxstat *rs, uint64_t seq)
{
	unsigned int b = seq & (WIN_BITS - 1);

	return rs->bm[b / LONG_BITS] & (1UL << (b % LONG_BITS));
}

static void bm_set(struct rxstat *rs, uint64_t seq)
{
	unsigned int b = seq & (WIN_BITS - 1);

	rs->bm[b / LONG_BITS] |= 1UL << (b % LONG_BITS);
}

static void bm_clear(struct rxstat *rs, uint64_t seq)
{
	unsigned int b = seq & (WIN_BITS - 1);

	rs->bm[b / LONG_BITS] &= ~(1UL << (b % LONG_BITS));
}

/*
 * The bitmap holds the seqs in (hi - WIN_BITS, hi]: moving hi forward clears
 * the slots of the seqs that leave the window.
 */
static void rx_account(struct rxstat *rs, uint64_t seq, uint64_t now,
		       uint64_t ts)
{
	if (rs->have) {
		uint64_t gap = now - rs->last_ns;

		if (!rs->have_gap || gap > rs->gap_ns) {
			rs->gap_ns = gap;
			rs->gap_at = seq;
			rs->sgap_ns = ts > rs->last_ts ? ts - rs->last_ts : 0;
			rs->have_gap = true;
		}
	} else {
		rs->first = seq;
	}
	rs->last_ns = now;
	rs->last_ts = ts;
	rs->last = seq;

	if (!rs->have) {
		rs->have = true;
		rs->hi = seq;
		bm_set(rs, seq);
		rs->rx++;
		return;
	}
	if (seq > rs->hi) {
		uint64_t q;

		if (seq - rs->hi >= WIN_BITS)
			memset(rs->bm, 0, sizeof(rs->bm));
		else
			for (q = rs->hi + 1; q <= seq; q++)
				bm_clear(rs, q);
		rs->hi = seq;
		bm_set(rs, seq);
		rs->rx++;
	} else if (rs->hi - seq >= WIN_BITS) {
		rs->old++;
	} else if (bm_test(rs, seq)) {
		rs->dup++;
	} else {
		bm_set(rs, seq);
		rs->rx++;
		rs->reord++;
	}
}

static void rx_drain(struct iface *ifc)
{
	uint8_t buf[2048];
	struct sockaddr_ll from;
	uint64_t seq, now, ts;
	uint32_t flow;
	socklen_t alen;
	int i, errs = 0;
	ssize_t n;

	for (;;) {
		alen = sizeof(from);
		n = recvfrom(ifc->fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &alen);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			/* a pending ENETDOWN is reported once, then cleared */
			if (++errs > 4)
				return;
			continue;
		}
		if (from.sll_pkttype == PACKET_OUTGOING)
			continue;
		if (n < SQ_HDR_LEN + SQ_PAYLOAD_LEN ||
		    buf[12] != (SQ_ETHERTYPE >> 8) || buf[13] != (SQ_ETHERTYPE & 0xff) ||
		    memcmp(buf + SQ_HDR_LEN, SQ_MAGIC, 4))
			continue;
		now = mono_ns();
		memcpy(&flow, buf + SQ_HDR_LEN + 4, 4);
		memcpy(&seq, buf + SQ_HDR_LEN + 8, 8);
		memcpy(&ts, buf + SQ_HDR_LEN + 16, 8);
		flow = ntohl(flow);
		seq = be64toh(seq);
		ts = be64toh(ts);
		for (i = 0; i < nspecs; i++)
			if (!specs[i].tx && specs[i].ifc == ifc && specs[i].flow == flow)
				rx_account(&specs[i].rs, seq, now, ts);
	}
}

static size_t status_line(char *buf, size_t size, uint64_t now)
{
	size_t len;
	int i;

	len = snprintf(buf, size, "t=%" PRIu64, (now - start_ns) / NSEC_PER_MSEC);
	for (i = 0; i < nspecs && len < size; i++) {
		struct spec *sp = &specs[i];
		struct rxstat *rs = &sp->rs;

		if (sp->tx) {
			len += snprintf(buf + len, size - len,
					"%s tx flow=%" PRIu32 " if=%s sent=%" PRIu64
					" txerr=%" PRIu64, i ? " |" : "", sp->flow,
					sp->ifc->name, sp->sent, sp->txerr);
			continue;
		}
		len += snprintf(buf + len, size - len,
				"%s rx flow=%" PRIu32 " if=%s rx=%" PRIu64 " lost=%" PRIu64
				" dup=%" PRIu64 " reord=%" PRIu64 " old=%" PRIu64,
				i ? " |" : "", sp->flow, sp->ifc->name, rs->rx,
				rs->have ? rs->hi + 1 - rs->rx : 0, rs->dup, rs->reord, rs->old);
		if (len >= size)
			break;
		if (rs->have)
			len += snprintf(buf + len, size - len,
					" first=%" PRIu64 " last=%" PRIu64, rs->first, rs->last);
		else
			len += snprintf(buf + len, size - len, " first=-1 last=-1");
		if (len >= size)
			break;
		if (rs->have_gap)
			len += snprintf(buf + len, size - len,
					" gap_ms=%" PRIu64 " gap_at=%" PRIu64
					" sgap_ms=%" PRIu64,
					rs->gap_ns / NSEC_PER_MSEC, rs->gap_at,
					rs->sgap_ns / NSEC_PER_MSEC);
		else
			len += snprintf(buf + len, size - len,
					" gap_ms=0 gap_at=-1 sgap_ms=0");
		if (len >= size)
			break;
		if (rs->have)
			len += snprintf(buf + len, size - len, " max=%" PRIu64, rs->hi);
		else
			len += snprintf(buf + len, size - len, " max=-1");
	}
	if (len >= size - 1)
		len = size - 2;
	buf[len++] = '\n';
	buf[len] = '\0';
	return len;
}

static void write_status_file(const char *path, const char *line, size_t len)
{
	char tmp[PATH_MAX];
	ssize_t n;
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);	/* length checked in main() */
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		msg("%s: %s", tmp, strerror(errno));
		return;
	}
	do {
		n = write(fd, line, len);
	} while (n < 0 && errno == EINTR);
	if (n != (ssize_t)len)
		msg("%s: short write", tmp);
	close(fd);
	if (rename(tmp, path) < 0)
		msg("rename %s: %s", path, strerror(errno));
}

static void emit_status(const char *status, bool to_stdout, uint64_t now)
{
	char line[MAX_SPECS * 256 + 64];
	size_t len;

	len = status_line(line, sizeof(line), now);
	if (status && strcmp(status, "-"))
		write_status_file(status, line, len);
	if (to_stdout) {
		fputs(line, stdout);
		fflush(stdout);
	}
}

/* Move a periodic deadline on; if we fell behind, skip rather than burst. */
static void advance(uint64_t *deadline, uint64_t period, uint64_t now)
{
	*deadline += period;
	if (*deadline <= now)
		*deadline = now + period;
}

/* A signal arrived: true if it was SIGUSR1 (gaps start over), handled. */
static bool gap_reset(int sfd)
{
	struct signalfd_siginfo si;
	int i;

	if (read(sfd, &si, sizeof(si)) != sizeof(si) || si.ssi_signo != SIGUSR1)
		return false;
	for (i = 0; i < nspecs; i++) {
		specs[i].rs.have_gap = false;
		specs[i].rs.gap_ns = 0;
	}
	return true;
}

int main(int argc, char **argv)
{
	uint64_t interval = 500 * NSEC_PER_MSEC, period = NSEC_PER_SEC, duration = 0;
	uint64_t now, next_tx, next_status, next_check, end, deadline, v;
	struct pollfd pfd[MAX_SPECS + 1];
	struct iface *pifc[MAX_SPECS + 1];
	const char *status = NULL;
	bool have_tx = false;
	struct timespec ts;
	sigset_t sigs;
	int opt, sfd, i, n;
	char *end_p;
	double d;

	while ((opt = getopt(argc, argv, "+i:s:p:d:m:h")) != -1) {
		switch (opt) {
		case 'i':
			if (!parse_u64(optarg, 3600000, &v) || !v)
				bad_arg("bad interval '%s'", optarg);
			interval = v * NSEC_PER_MSEC;
			break;
		case 'p':
			if (!parse_u64(optarg, 3600000, &v) || !v)
				bad_arg("bad period '%s'", optarg);
			period = v * NSEC_PER_MSEC;
			break;
		case 'd':
			errno = 0;
			d = strtod(optarg, &end_p);
			if (errno || end_p == optarg || *end_p || !(d > 0) || d > 1e7)
				bad_arg("bad duration '%s'", optarg);
			duration = d * NSEC_PER_SEC;
			break;
		case 's':
			status = optarg;
			break;
		case 'm':
			if (nmcast >= MAX_MCAST || !parse_mac(optarg, mcast[nmcast]) ||
			    !(mcast[nmcast][0] & 1))
				bad_arg("bad or too many multicast MACs at '%s'", optarg);
			nmcast++;
			break;
		default:
			usage();
		}
	}
	if (optind >= argc)
		usage();
	if (status && strlen(status) + sizeof(".tmp") > PATH_MAX)
		bad_arg("status file name too long");
	for (i = optind; i < argc; i++)
		parse_spec(argv[i]);
	for (i = 0; i < nspecs; i++)
		have_tx |= specs[i].tx;

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &sigs, NULL) < 0)
		die("sigprocmask: %s", strerror(errno));
	sfd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sfd < 0)
		die("signalfd: %s", strerror(errno));

	start_ns = mono_ns();
	for (i = 0; i < nifaces; i++)
		iface_open(&ifaces[i]);

	now = mono_ns();
	next_tx = now;
	next_status = now + period;
	next_check = now + NSEC_PER_SEC;
	end = duration ? start_ns + duration : 0;

	for (;;) {
		now = mono_ns();
		if (end && now >= end)
			break;
		if (now >= next_check) {
			for (i = 0; i < nifaces; i++)
				iface_check(&ifaces[i]);
			advance(&next_check, NSEC_PER_SEC, now);
		}
		if (have_tx && now >= next_tx) {
			for (i = 0; i < nspecs; i++)
				if (specs[i].tx)
					tx_one(&specs[i], now);
			advance(&next_tx, interval, now);
		}
		if (status && now >= next_status) {
			emit_status(status, !strcmp(status, "-"), now);
			advance(&next_status, period, now);
		}

		deadline = next_check;
		if (have_tx && next_tx < deadline)
			deadline = next_tx;
		if (status && next_status < deadline)
			deadline = next_status;
		if (end && end < deadline)
			deadline = end;
		now = mono_ns();
		v = deadline > now ? deadline - now : 0;
		ts.tv_sec = v / NSEC_PER_SEC;
		ts.tv_nsec = v % NSEC_PER_SEC;

		pfd[0].fd = sfd;
		pfd[0].events = POLLIN;
		pifc[0] = NULL;
		n = 1;
		for (i = 0; i < nifaces; i++) {
			if (ifaces[i].fd < 0 || !ifaces[i].rx)
				continue;
			pfd[n].fd = ifaces[i].fd;
			pfd[n].events = POLLIN;
			pifc[n++] = &ifaces[i];
		}
		if (ppoll(pfd, n, &ts, NULL) < 0) {
			if (errno == EINTR)
				continue;
			die("ppoll: %s", strerror(errno));
		}
		if ((pfd[0].revents & POLLIN) && !gap_reset(sfd))
			break;		/* SIGTERM or SIGINT */
		for (i = 1; i < n; i++)
			if (pfd[i].revents)
				rx_drain(pifc[i]);
	}

	emit_status(status, true, mono_ns());
	return 0;
}
