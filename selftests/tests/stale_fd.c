// SPDX-License-Identifier: GPL-2.0
/*
 * stale_fd: a migration data fd must not act on the device once its session
 * ended, and a write() on it must neither block others nor resist a kill.
 *
 * The fixture starts user B (a child process, idle until asked), opens the
 * VF as user A (RUNNING, the userspace driver on top) and saves a stream of
 * it for its CONFIG packet. Its teardown checks that the VF works after
 * the case (VFIO_DEVICE_RESET, handshake, a stream saved), reopening it
 * first if the case closed it. The variants are the ways to the device
 * (nothing is dirty-tracked here, so there is no group_log):
 *   container  group + type1 container
 *   cdev_log   the device's cdev bound to iommufd
 * A variant the running kernel cannot do skips, saying why. Without
 * userfaultfd in the kernel (ENOSYS) the cases of a stalled copy skip.
 * Cases:
 *   stale_write_leaves_next_user_alone
 *       user A writes two CONFIG packets to its RESUMING fd, the second on
 *       a userfaultfd page, so write() stalls in the copy from user space.
 *       Meanwhile A closes the VF and user B opens it, does the PF
 *       handshake, sets up rings, exchanges frames with the peer and
 *       records its ring registers and the driver's view of its mailbox
 *       (debugfs pf_config: CTS, MAC, multicast list, max frame). Then the
 *       fault is resolved: the write must give ENODEV (or a short count,
 *       then ENODEV), B's registers and mailbox view must be as they were,
 *       and B must still move frames both ways.
 *   stalled_write_does_not_block_fsm
 *       a write stalled on a userfaultfd page: RESUMING -> STOP completes
 *       (ENODATA) while it waits.
 *   saving_read_loses_nothing_blocks_nothing
 *       a read() whose copy out faults half-way loses no bytes; a read()
 *       stalled copying out to a userfaultfd page does not block
 *       PRE_COPY -> STOP_COPY, and the stream read through both is whole.
 *   stalled_writer_dies_at_sigkill
 *       a child stalled in write() on a userfaultfd page dies at SIGKILL (a
 *       guard: the old driver passed it too, userfaultfd gives up the wait
 *       at a fatal signal).
 *   config_flood_write_returns_and_dies_at_sigkill
 *       a child writing 64 MiB of valid CONFIG packets again and again
 *       (each one resets the VF and talks to the PF): one write() call
 *       returns within a bound, and the child dies promptly at SIGKILL.
 * Each case but the first ends with a VFIO_DEVICE_RESET that must succeed.
 * No hang (the harness's timeout); the lab fails the run on a kernel splat.
 *
 * Usage: the kselftest harness's (-l lists, -v VARIANT, -t CASE).
 * Env: IVF_VF0, IVF_PEER_NS, IVF_PEER_IF, IVF_DRIVER.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/userfaultfd.h>

#include "fixture.h"
#include "frame.h"
#include "ivf.h"
#include "mig.h"
#include "mig_states.h"
#include "migstream.h"
#include "peer.h"
#include "util.h"

#include "kselftest_harness.h"
#include "backends.h"

#define NFRAMES		16		/* each way, per exchange */
#define FLOOD_BYTES	(64u << 20)	/* the CONFIG packet flood */
#define CALL_MAX_MS	5000		/* one write() of the flood */
#define KILL_MAX_MS	2000		/* SIGKILL to the writer reaped */
#define UNKILLED_MS	240000		/* an unkillable writer ends its write */
/*
 * the whole test took 5 s on TCG, one case with its fixture a few; a
 * sanitizer kernel takes many times that
 */
#define CASE_TIMEOUT	300
/* the one case without userfaultfd */
#define FLOOD_CASE	"config_flood_write_returns_and_dies_at_sigkill"

/* the case's, set by the fixture (each case is a process of its own) */
static const char *bdf, *ns, *ifname;
static struct vfio_backend backend;
static uint8_t *stream;
static size_t stream_len;
static const uint8_t *cfg_pkt;		/* a valid CONFIG packet of the VF */
static size_t cfg_len;
static size_t page;

static double ms_since(uint64_t t0)
{
	return (now_ns() - t0) / 1e6;
}

/* the VF open in RUNNING, the userspace driver on top (vf_open_running()) */
static int dev_open(struct vfio_dev *d, struct ivf *v)
{
	return vf_open_running(d, v, bdf, &backend);
}

static void dev_close(struct vfio_dev *d, struct ivf *v)
{
	ivf_close(v);
	vfio_dev_close(d);
}

/* RUNNING -> STOP -> RESUMING: the data fd or -errno */
static int resuming_fd(struct vfio_dev *d)
{
	int ret, fd = -1;

	ret = mig_set_state(d, S_STOP, NULL);
	if (!ret)
		ret = mig_set_state(d, S_RESUMING, &fd);
	if (!ret && fd < 0)
		ret = -EBADF;
	return ret ? ret : fd;
}

/* ------------------------------------------------------ userfaultfd */

/*
 * Two pages: the first is ordinary memory, the second is registered with a
 * userfaultfd (missing mode) and stays unpopulated until resolved.
 */
struct stall {
	int uffd;
	uint8_t *area;
	uint8_t *content;	/* what the second page gets */
};

static int stall_init(struct stall *s)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { 0 };

	s->uffd = -1;
	s->content = calloc(1, page);
	s->area = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (s->area == MAP_FAILED || !s->content)
		return -ENOMEM;
	memset(s->area, 0, page);	/* populate the first page only */
	s->uffd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (s->uffd < 0)
		return -errno;
	if (ioctl(s->uffd, UFFDIO_API, &api))
		return -errno;
	reg.range.start = (unsigned long)(s->area + page);
	reg.range.len = page;
	reg.mode = UFFDIO_REGISTER_MODE_MISSING;
	if (ioctl(s->uffd, UFFDIO_REGISTER, &reg))
		return -errno;
	return 0;
}

static void stall_fini(struct stall *s)
{
	if (s->uffd >= 0)
		close(s->uffd);
	if (s->area && s->area != MAP_FAILED)
		munmap(s->area, 2 * page);
	free(s->content);
}

/* wait for a fault on the second page: 0, -ETIMEDOUT or -errno */
static int stall_wait(struct stall *s, int ms)
{
	struct pollfd pfd = { .fd = s->uffd, .events = POLLIN };
	struct uffd_msg msg;
	int ret;

	ret = poll(&pfd, 1, ms);
	if (ret < 0)
		return -errno;
	if (!ret)
		return -ETIMEDOUT;
	if (read(s->uffd, &msg, sizeof(msg)) != sizeof(msg))
		return -errno;
	return msg.event == UFFD_EVENT_PAGEFAULT ? 0 : -EPROTO;
}

/* give the second page its content: the stalled copy goes on */
static int stall_resolve(struct stall *s)
{
	struct uffdio_copy c = {
		.dst = (unsigned long)(s->area + page),
		.src = (unsigned long)s->content,
		.len = page,
	};

	return ioctl(s->uffd, UFFDIO_COPY, &c) ? -errno : 0;
}

/* userfaultfd is there (CONFIG_USERFAULTFD); its other errors fail later */
static bool uffd_probe(void)
{
	int fd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);

	if (fd >= 0)
		close(fd);
	return fd >= 0 || errno != ENOSYS;
}

/* a read() (@reads) or a write() on a data fd, in a thread */
struct fd_call {
	pthread_t th;
	int fd;
	bool reads;
	void *buf;
	size_t len;
	volatile int done;
	ssize_t n;
	int err;
};

static void *fd_call_fn(void *arg)
{
	struct fd_call *c = arg;

	c->n = c->reads ? read(c->fd, c->buf, c->len) :
			  write(c->fd, c->buf, c->len);
	c->err = c->n < 0 ? errno : 0;
	c->done = 1;
	return NULL;
}

static bool wait_flag(volatile int *flag, int ms)
{
	while (!*flag && ms > 0) {
		usleep(5000);
		ms -= 5;
	}
	return *flag;
}

/* ------------------------------------------------------ user B */

struct bstate {
	int ret;			/* 0, or -errno of the step in why */
	char why[96];
	uint32_t rxdctl, txdctl, rdbal, tdbal;
	unsigned int to_peer, to_vf;	/* frames that arrived intact */
	/* the driver's view of the PF mailbox: CTS, MAC, filters, LPE */
	char pf_config[1024];
};

struct user_b {
	struct vfio_dev d;
	struct ivf v;
	struct peer p;
	bool open;
};

static void debugfs_pf_config(char *buf, size_t len)
{
	char path[160];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path),
		 "/sys/kernel/debug/igbvf-vfio-pci/%s/pf_config", bdf);
	buf[0] = '\0';
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return;
	n = read(fd, buf, len - 1);
	buf[n > 0 ? n : 0] = '\0';
	close(fd);
}

static bool peer_got(struct peer *p, const uint8_t *dst, const uint8_t *src,
		     uint32_t seq)
{
	uint8_t buf[2048];
	uint64_t t0 = now_ns();
	uint32_t got;
	ssize_t n;

	while (ms_since(t0) < 1000) {
		n = peer_recv(p, buf, sizeof(buf), 100);
		if (n <= 0)
			continue;
		if (frame_check(buf, n, dst, src, 1, 0, &got) == FRAME_OK &&
		    got == seq)
			return true;
	}
	return false;
}

struct vf_rx {
	const uint8_t *dst, *src;
	uint32_t seq;
	bool ok;
};

static void vf_rx_cb(void *arg, const uint8_t *data, uint32_t len,
		     uint32_t status)
{
	struct vf_rx *r = arg;
	uint32_t got;

	(void)status;
	if (frame_check(data, len, r->dst, r->src, 2, 0, &got) == FRAME_OK &&
	    got == r->seq)
		r->ok = true;
}

/* NFRAMES frames each way, one at a time */
static void exchange(struct user_b *b, struct bstate *st)
{
	struct ivf *v = &b->v;
	struct peer *p = &b->p;
	uint8_t buf[2048];
	uint32_t i;

	for (i = 0; i < NFRAMES; i++) {
		size_t len = frame_build(buf, p->mac, v->mac, 1, i, 0);
		struct vf_rx r = { .dst = v->mac, .src = p->mac, .seq = i };
		uint64_t t0;

		ivf_tx_clean(v);
		if (!ivf_tx(v, buf, len) && peer_got(p, p->mac, v->mac, i))
			st->to_peer++;
		len = frame_build(buf, v->mac, p->mac, 2, i, 0);
		if (peer_send(p, buf, len))
			continue;
		t0 = now_ns();
		while (!r.ok && ms_since(t0) < 1000) {
			if (ivf_rx_poll(v, vf_rx_cb, &r, 16) <= 0)
				usleep(1000);
		}
		if (r.ok)
			st->to_vf++;
	}
}

static void b_record(struct user_b *b, struct bstate *st)
{
	st->rxdctl = ivf_rd(&b->v, IVF_RXDCTL(0));
	st->txdctl = ivf_rd(&b->v, IVF_TXDCTL(0));
	st->rdbal = ivf_rd(&b->v, IVF_RDBAL(0));
	st->tdbal = ivf_rd(&b->v, IVF_TDBAL(0));
	debugfs_pf_config(st->pf_config, sizeof(st->pf_config));
}

/* B opens the VF and uses it; its state before any traffic is recorded */
static void b_open(struct user_b *b, struct bstate *st)
{
	static const uint16_t mc[] = { 0x123, 0x456 };
	int ret;

	ret = peer_open(&b->p, ns, ifname, FRAME_ETHERTYPE);
	if (ret) {
		snprintf(st->why, sizeof(st->why), "peer_open");
		goto out;
	}
	ret = dev_open(&b->d, &b->v);
	if (ret) {
		snprintf(st->why, sizeof(st->why), "open");
		peer_close(&b->p);
		goto out;
	}
	b->open = true;
	ret = ivf_reset(&b->v);
	if (!ret && !b->v.cts)
		ret = -EPROTO;
	if (ret) {
		snprintf(st->why, sizeof(st->why), "handshake");
		goto out;
	}
	/* something of B's own in the PF configuration */
	ret = ivf_set_multicast(&b->v, mc, 2);
	if (!ret)
		ret = ivf_set_lpe(&b->v, 1522);
	if (ret) {
		snprintf(st->why, sizeof(st->why), "multicast, LPE");
		goto out;
	}
	ret = ivf_rings_setup(&b->v, NULL);
	if (ret) {
		snprintf(st->why, sizeof(st->why), "rings");
		goto out;
	}
	exchange(b, st);
	snprintf(st->why, sizeof(st->why), "set up");
out:
	st->ret = ret;
	if (b->open)
		b_record(b, st);
}

static void b_check(struct user_b *b, struct bstate *st)
{
	if (!b->open) {
		st->ret = -EBADF;
		return;
	}
	b_record(b, st);	/* before the traffic */
	exchange(b, st);
	st->ret = 0;
}

/* user B: commands 'o'pen, 'c'heck, 'q'uit on @cmd; a bstate back on @res */
static void __attribute__((noreturn)) user_b_main(int cmd, int res)
{
	struct user_b b = { 0 };
	char c;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	alarm(280);
	while (read(cmd, &c, 1) == 1 && c != 'q') {
		struct bstate st = { 0 };

		if (c == 'o')
			b_open(&b, &st);
		else
			b_check(&b, &st);
		if (write(res, &st, sizeof(st)) != sizeof(st))
			break;
	}
	if (b.open) {
		dev_close(&b.d, &b.v);
		peer_close(&b.p);
	}
	_exit(0);
}

struct b_proc {
	pid_t pid;
	int cmd, res;
};

static int b_start(struct b_proc *bp)
{
	int c[2], r[2];

	if (pipe(c) || pipe(r))
		return -errno;
	bp->pid = fork();
	if (bp->pid < 0)
		return -errno;
	if (!bp->pid) {
		close(c[1]);
		close(r[0]);
		user_b_main(c[0], r[1]);
	}
	close(c[0]);
	close(r[1]);
	bp->cmd = c[1];
	bp->res = r[0];
	return 0;
}

static int b_cmd(struct b_proc *bp, char c, struct bstate *st)
{
	size_t got = 0;
	ssize_t n;

	if (write(bp->cmd, &c, 1) != 1)
		return -EPIPE;
	if (c == 'q')
		return waitpid(bp->pid, NULL, 0) < 0 ? -errno : 0;
	while (got < sizeof(*st)) {
		n = read(bp->res, (char *)st + got, sizeof(*st) - got);
		if (n <= 0)
			return -EPIPE;
		got += n;
	}
	return 0;
}

/* the lines of two pf_config texts that differ, in @out */
static void config_diff(const char *a, const char *b, char *out, size_t len)
{
	char *ca = strdup(a), *cb = strdup(b), *sa, *sb, *la, *lb;
	size_t used = 0;

	out[0] = '\0';
	la = strtok_r(ca, "\n", &sa);
	lb = strtok_r(cb, "\n", &sb);
	while ((la || lb) && used + 1 < len) {
		if (!la || !lb || strcmp(la, lb))
			used += snprintf(out + used, len - used, "[%s -> %s] ",
					 la ? la : "-", lb ? lb : "-");
		la = la ? strtok_r(NULL, "\n", &sa) : NULL;
		lb = lb ? strtok_r(NULL, "\n", &sb) : NULL;
	}
	free(ca);
	free(cb);
}

/* a change of migration state in a thread */
struct fsm_req {
	pthread_t th;
	struct vfio_dev *d;
	uint32_t state;
	volatile int done;
	int ret;
	uint64_t t0;	/* when it started */
	bool in_time;	/* done within 3 s */
	double ms;	/* how long it had taken then */
};

static void *fsm_fn(void *arg)
{
	struct fsm_req *f = arg;

	f->ret = mig_set_state(f->d, f->state, NULL);
	f->done = 1;
	return NULL;
}

/*
 * A state change while a data fd call is stalled: the case's call @c is
 * started in a thread, where it must stall on the userfaultfd page @s;
 * then @f's state change runs in another thread, given 3 s (f->in_time,
 * f->ms, f->ret); then the page is resolved and both threads joined. 0, or
 * -EAGAIN if a thread could not be started (nothing left running).
 */
static int state_change_while_stalled(struct __test_metadata *_metadata,
				      struct stall *s, struct fd_call *c,
				      struct fsm_req *f, const char *what)
{
	int ret;

	if (pthread_create(&c->th, NULL, fd_call_fn, c))
		return -EAGAIN;
	ret = stall_wait(s, 10000);
	EXPECT_EQ(0, ret)
		TH_LOG("%s stalls on the userfaultfd page (%s)", what,
		       err_str(ret));
	f->t0 = now_ns();
	if (pthread_create(&f->th, NULL, fsm_fn, f)) {
		stall_resolve(s);
		pthread_join(c->th, NULL);
		return -EAGAIN;
	}
	f->in_time = wait_flag(&f->done, 3000);
	f->ms = ms_since(f->t0);
	stall_resolve(s);
	pthread_join(f->th, NULL);
	pthread_join(c->th, NULL);
	return 0;
}

/* reap @pid within @ms: its wait status, or -ETIMEDOUT */
static int reap(pid_t pid, int ms)
{
	int status;

	while (ms > 0) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			return status;
		if (r < 0)
			return -errno;
		usleep(5000);
		ms -= 5;
	}
	return -ETIMEDOUT;
}

struct call {
	ssize_t n;
	int err;
	uint64_t ns;
};

/* the VF works after a case: VFIO_DEVICE_RESET, then vf_works() */
static int usable(struct vfio_dev *d, struct ivf *v, char *why, size_t len)
{
	int ret;

	ret = vfio_dev_reset(d);
	if (ret) {
		snprintf(why, len, "VFIO_DEVICE_RESET: %s", err_str(ret));
		return ret;
	}
	return vf_works(d, v, why, len);
}

/* a PRE_COPY + STOP_COPY stream of the VF; its CONFIG packet in cfg_pkt */
static int save_stream(struct vfio_dev *d, struct ivf *v)
{
	static struct ms_stream s;
	int ret, fd = -1;

	ret = ivf_reset(v);
	if (!ret)
		ret = mig_set_state(d, S_PRE_COPY, &fd);
	if (!ret && fd < 0)
		ret = -EBADF;
	if (!ret && mig_read_all(fd, &stream, &stream_len) < 0)
		ret = -EIO;
	if (!ret)
		ret = mig_set_state(d, S_STOP_COPY, NULL);
	if (!ret && mig_read_all(fd, &stream, &stream_len) < 0)
		ret = -EIO;
	if (fd >= 0)
		close(fd);
	if (!ret)
		ret = mig_set_state(d, S_RUNNING, NULL);
	if (!ret)
		ret = ms_parse(&s, stream, stream_len);
	if (ret)
		return ret;
	if (s.pkt[0].kind != IVF_MIG_PKT_CONFIG)
		return -EPROTO;
	cfg_pkt = stream + s.pkt[0].off;
	cfg_len = s.pkt[0].len;
	return cfg_len < page ? 0 : -EMSGSIZE;
}

FIXTURE(stale_fd) {
	struct b_proc bp;
	bool b_started;
	struct vfio_dev d;
	struct ivf v;
	bool dev_open;
};

/*
 * container: group + type1 container: the main boot's
 * cdev_log: the device's cdev on iommufd: the IOMMUFD boot's
 */
IVF_BACKENDS(stale_fd);

FIXTURE_SETUP(stale_fd)
{
	const char *why;
	int ret;

	backend = variant->backend;
	page = sysconf(_SC_PAGESIZE);
	why = vf_peer_unusable(&bdf, &ns, &ifname, ivf_driver_name(), &backend);
	if (why)
		SKIP(return, "%s", why);
	/*
	 * every case but the flood stalls a copy on a userfaultfd page: skip
	 * those here, before the fixture's work (seconds on a sanitizer
	 * kernel)
	 */
	if (!uffd_probe() && strcmp(_metadata->name, FLOOD_CASE))
		SKIP(return, "no userfaultfd in this kernel");

	/* user B, forked before this process has threads or devices */
	ret = b_start(&self->bp);
	ASSERT_EQ(0, ret) TH_LOG("user B started (%s)", err_str(ret));
	self->b_started = true;
	ret = dev_open(&self->d, &self->v);
	ASSERT_EQ(0, ret) TH_LOG("open %s: RUNNING (%s)", bdf, err_str(ret));
	self->dev_open = true;
	ret = save_stream(&self->d, &self->v);
	ASSERT_EQ(0, ret)
		TH_LOG("a %zu-byte stream of the VF saved, CONFIG packet %zu bytes (%s)",
		       stream_len, cfg_len, err_str(ret));
}

FIXTURE_TEARDOWN(stale_fd)
{
	char why[160];
	int ret;

	if (self->b_started)
		b_cmd(&self->bp, 'q', NULL);
	if (!self->dev_open) {
		ret = dev_open(&self->d, &self->v);
		EXPECT_EQ(0, ret)
			TH_LOG("reopened %s after B: RUNNING (%s)", bdf,
			       err_str(ret));
		self->dev_open = !ret;
	}
	if (self->dev_open) {
		ret = usable(&self->d, &self->v, why, sizeof(why));
		EXPECT_EQ(0, ret) TH_LOG("the VF works after: %s", why);
		dev_close(&self->d, &self->v);
	}
	free(stream);
	stream = NULL;
}

/*
 * Child @pid dies promptly at SIGKILL: killed at *t0, reaped within
 * KILL_MAX_MS, ended by the signal. Its wait status, or -ETIMEDOUT.
 */
static int dies_at_sigkill(struct __test_metadata *_metadata, pid_t pid,
			   const char *what, uint64_t *t0)
{
	int st;

	*t0 = now_ns();
	kill(pid, SIGKILL);
	st = reap(pid, KILL_MAX_MS);
	TH_LOG("%s %s after %.0f ms at SIGKILL", what,
	       st >= 0 ? "reaped" : "still alive", ms_since(*t0));
	EXPECT_TRUE(st >= 0 && WIFSIGNALED(st))
		TH_LOG("%s dies at SIGKILL: %s after %.0f ms (within %d)",
		       what, st >= 0 ? "reaped" : "still alive",
		       ms_since(*t0), KILL_MAX_MS);
	return st;
}

/* the case ends with a VFIO_DEVICE_RESET that must succeed (all but one) */
static void device_resets_after(struct __test_metadata *_metadata,
				struct vfio_dev *d, const char *what)
{
	int ret = vfio_dev_reset(d);

	EXPECT_EQ(0, ret)
		TH_LOG("%s: VFIO_DEVICE_RESET after (%s)", what, err_str(ret));
}

/*
 * A's write stalls on its second CONFIG packet; A closes the VF, B opens
 * and uses it; the write goes on: it must not touch B's VF.
 */
TEST_F_TIMEOUT(stale_fd, stale_write_leaves_next_user_alone, CASE_TIMEOUT)
{
	struct bstate b0 = { 0 }, b1 = { 0 };
	struct fd_call w = { 0 };
	struct stall s = { 0 };
	char diff[512];
	uint64_t t0;
	int ret, fd, again;
	bool ok;

	fd = resuming_fd(&self->d);
	ASSERT_LE(0, fd)
		TH_LOG("A: RUNNING -> STOP -> RESUMING (%s)",
		       err_str(fd < 0 ? fd : 0));
	ret = stall_init(&s);
	if (ret)
		close(fd);
	ASSERT_EQ(0, ret)
		TH_LOG("userfaultfd page set up (%s)", err_str(ret));
	/* packet 1 ends the ordinary page, packet 2 starts the stalling one */
	memcpy(s.area + page - cfg_len, cfg_pkt, cfg_len);
	memcpy(s.content, cfg_pkt, cfg_len);
	w.fd = fd;
	w.buf = s.area + page - cfg_len;
	w.len = 2 * cfg_len;
	ret = pthread_create(&w.th, NULL, fd_call_fn, &w);
	if (ret) {
		close(fd);
		stall_fini(&s);
	}
	ASSERT_EQ(0, ret) TH_LOG("writer thread");
	ret = stall_wait(&s, 10000);
	EXPECT_EQ(0, ret)
		TH_LOG("A: write() of 2 CONFIG packets stalls on the userfaultfd page (%s)",
		       err_str(ret));

	t0 = now_ns();
	dev_close(&self->d, &self->v);
	self->dev_open = false;
	TH_LOG("A closed the VF while its write is stalled (%.0f ms)",
	       ms_since(t0));

	ret = b_cmd(&self->bp, 'o', &b0);
	ok = !ret && !b0.ret && b0.to_peer == NFRAMES && b0.to_vf == NFRAMES;
	TH_LOG("B: %s; frames to peer %u/%u, to VF %u/%u", b0.why, b0.to_peer,
	       NFRAMES, b0.to_vf, NFRAMES);
	EXPECT_TRUE(ok)
		TH_LOG("B: opened %s, handshake, multicast, LPE, rings: %s %s; frames to peer %u/%u, to VF %u/%u",
		       bdf, b0.why, err_str(ret ? ret : b0.ret), b0.to_peer,
		       NFRAMES, b0.to_vf, NFRAMES);
	TH_LOG("B: RXDCTL0 0x%08x TXDCTL0 0x%08x RDBAL0 0x%08x TDBAL0 0x%08x",
	       b0.rxdctl, b0.txdctl, b0.rdbal, b0.tdbal);

	ret = stall_resolve(&s);
	EXPECT_EQ(0, ret) TH_LOG("userfaultfd page resolved (%s)", err_str(ret));
	ASSERT_TRUE(wait_flag(&w.done, 10000))
		TH_LOG("A: the stalled write never returned");
	pthread_join(w.th, NULL);
	again = write(fd, cfg_pkt, cfg_len) < 0 ? -errno : 0;
	EXPECT_TRUE((w.n < 0 && w.err == ENODEV) ||
		    (w.n >= 0 && (size_t)w.n <= cfg_len && again == -ENODEV))
		TH_LOG("A: the stalled write gives %zd (%s), the next %s (ENODEV, or a short count then ENODEV)",
		       w.n, w.n < 0 ? strerror(w.err) : "bytes",
		       err_str(again));
	close(fd);
	stall_fini(&s);

	ret = b_cmd(&self->bp, 'c', &b1);
	ASSERT_TRUE(!ret && !b1.ret)
		TH_LOG("B: still there (%s)", err_str(ret ? ret : b1.ret));
	EXPECT_TRUE(b1.rxdctl == b0.rxdctl && b1.txdctl == b0.txdctl &&
		    b1.rdbal == b0.rdbal && b1.tdbal == b0.tdbal)
		TH_LOG("B: ring registers unchanged: RXDCTL0 0x%08x -> 0x%08x, TXDCTL0 0x%08x -> 0x%08x, RDBAL0 0x%08x -> 0x%08x, TDBAL0 0x%08x -> 0x%08x",
		       b0.rxdctl, b1.rxdctl, b0.txdctl, b1.txdctl, b0.rdbal,
		       b1.rdbal, b0.tdbal, b1.tdbal);
	config_diff(b0.pf_config, b1.pf_config, diff, sizeof(diff));
	EXPECT_TRUE(b0.pf_config[0] && !diff[0])
		TH_LOG("B: the driver's mailbox view (debugfs pf_config) unchanged%s%s",
		       diff[0] ? ": " : "", b0.pf_config[0] ? diff : "(none)");
	EXPECT_TRUE(b1.to_peer == NFRAMES && b1.to_vf == NFRAMES)
		TH_LOG("B: frames still move both ways: to peer %u/%u, to VF %u/%u",
		       b1.to_peer, NFRAMES, b1.to_vf, NFRAMES);
}

/* a write stalled on a userfaultfd page must not hold up RESUMING -> STOP */
TEST_F_TIMEOUT(stale_fd, stalled_write_does_not_block_fsm, CASE_TIMEOUT)
{
	struct fsm_req f = { .d = &self->d, .state = S_STOP };
	struct fd_call w = { 0 };
	struct stall s = { 0 };
	int ret, fd;

	fd = resuming_fd(&self->d);
	ASSERT_LE(0, fd)
		TH_LOG("fsm: RESUMING (%s)", err_str(fd < 0 ? fd : 0));
	ret = stall_init(&s);
	if (ret) {
		EXPECT_EQ(0, ret)
			TH_LOG("fsm: userfaultfd page (%s)", err_str(ret));
		goto out;
	}
	memcpy(s.content, cfg_pkt, cfg_len);
	w.fd = fd;
	w.buf = s.area + page;
	w.len = cfg_len;
	if (state_change_while_stalled(_metadata, &s, &w, &f, "fsm: write()"))
		goto out;
	TH_LOG("fsm: RESUMING -> STOP with the write stalled: %s after %.0f ms",
	       f.in_time ? err_str(f.ret) : "still blocked", f.ms);
	EXPECT_TRUE(f.in_time && f.ret == -ENODATA)
		TH_LOG("fsm: RESUMING -> STOP while the write is stalled: %s after %.0f ms (ENODATA within 3000 ms)",
		       f.in_time ? err_str(f.ret) : "still blocked", f.ms);
	TH_LOG("fsm: the write then gave %zd (%s); RESUMING -> STOP %s after %.0f ms",
	       w.n, w.n < 0 ? strerror(w.err) : "bytes", err_str(f.ret),
	       ms_since(f.t0));
out:
	stall_fini(&s);
	close(fd);
	device_resets_after(_metadata, &self->d, "fsm");
}

/*
 * The saving side: a read() whose copy out faults half-way gives a short
 * count and loses nothing (a guard: the old driver gave EFAULT and lost
 * nothing either); a read() stalled copying out to a userfaultfd page must
 * not hold up PRE_COPY -> STOP_COPY; the stream read through both is whole.
 */
TEST_F_TIMEOUT(stale_fd, saving_read_loses_nothing_blocks_nothing,
	       CASE_TIMEOUT)
{
	struct fsm_req f = { .d = &self->d, .state = S_STOP_COPY };
	struct fd_call r = { .reads = true };
	struct stall s = { 0 };
	struct ms_stream ms = { 0 };
	uint8_t *all = NULL, *guard;
	size_t len = 0;
	ssize_t n;
	int ret, fd = -1;

	ret = mig_set_state(&self->d, S_PRE_COPY, &fd);
	ASSERT_TRUE(!ret && fd >= 0)
		TH_LOG("read: PRE_COPY (%s)", err_str(ret));
	/* 16 bytes of ordinary memory, then a page with no access */
	guard = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (guard == MAP_FAILED || mprotect(guard + page, page, PROT_NONE))
		goto out;
	n = read(fd, guard + page - 16, 64);
	EXPECT_TRUE(n == -1 ? errno == EFAULT : n >= 0 && n <= 16)
		TH_LOG("read: a read() whose copy faults after 16 bytes gives %zd (%s)",
		       n, n < 0 ? strerror(errno) : "bytes");
	all = malloc(n > 0 ? n : 1);
	if (n > 0) {
		memcpy(all, guard + page - 16, n);
		len = n;
	}
	munmap(guard, 2 * page);

	ret = stall_init(&s);
	if (ret) {
		EXPECT_EQ(0, ret)
			TH_LOG("read: userfaultfd page (%s)", err_str(ret));
		goto out;
	}
	r.fd = fd;
	r.buf = s.area + page;
	r.len = page;
	if (state_change_while_stalled(_metadata, &s, &r, &f,
				       "read: read() copying out"))
		goto out;
	TH_LOG("read: PRE_COPY -> STOP_COPY with the read stalled: %s after %.0f ms",
	       f.in_time ? err_str(f.ret) : "still blocked", f.ms);
	EXPECT_TRUE(f.in_time && !f.ret)
		TH_LOG("read: PRE_COPY -> STOP_COPY while the read is stalled: %s after %.0f ms (within 3000)",
		       f.in_time ? err_str(f.ret) : "still blocked", f.ms);
	if (r.n > 0) {
		all = realloc(all, len + r.n);
		memcpy(all + len, s.area + page, r.n);
		len += r.n;
	}
	n = mig_read_all(fd, &all, &len);
	ret = n < 0 ? (int)n : ms_parse(&ms, all, len);
	TH_LOG("read: the stalled read gave %zd, the stream %zu bytes, %u packets",
	       r.n, len, ms.npkt);
	EXPECT_TRUE(r.n > 0 && !ret && ms.npkt == 2)
		TH_LOG("read: the stalled read gave %zd (%s); the stream read through a fault and a stall is whole: %zu bytes, %u packets (%s)",
		       r.n, r.n < 0 ? strerror(r.err) : "bytes", len, ms.npkt,
		       ret ? ms.why : "ok");
out:
	stall_fini(&s);
	free(all);
	if (fd >= 0)
		close(fd);
	device_resets_after(_metadata, &self->d, "read");
}

/* a child stalled in write() on a userfaultfd page dies at SIGKILL */
TEST_F_TIMEOUT(stale_fd, stalled_writer_dies_at_sigkill, CASE_TIMEOUT)
{
	int ret, fd, p[2], st;
	struct stall s = { 0 };
	uint64_t t0;
	pid_t pid;
	char c;

	fd = resuming_fd(&self->d);
	ASSERT_LE(0, fd)
		TH_LOG("kill: RESUMING (%s)", err_str(fd < 0 ? fd : 0));
	if (pipe(p))
		goto out;
	pid = fork();
	if (!pid) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (stall_init(&s))
			_exit(2);
		/* nobody serves the fault: only a signal ends the copy */
		if (write(p[1], "w", 1) != 1)
			_exit(2);
		if (write(fd, s.area + page, cfg_len) < 0)
			_exit(3);
		_exit(4);
	}
	close(p[1]);
	ret = read(p[0], &c, 1) == 1 ? 0 : -EPIPE;
	close(p[0]);
	usleep(300000);
	st = reap(pid, 0);
	EXPECT_TRUE(!ret && st == -ETIMEDOUT)
		TH_LOG("kill: a child's write() stalls on an unserved userfaultfd page (%s)",
		       st == -ETIMEDOUT ? "stalled" : "it exited");
	st = dies_at_sigkill(_metadata, pid, "kill: the stalled writer", &t0);
	if (st < 0)
		waitpid(pid, NULL, 0);
out:
	close(fd);
	device_resets_after(_metadata, &self->d, "kill");
}

/*
 * A child writes 64 MiB of valid CONFIG packets (each resets the VF and
 * talks to the PF), again and again: a write() call returns within
 * CALL_MAX_MS, and the child dies promptly at SIGKILL.
 */
TEST_F_TIMEOUT(stale_fd, config_flood_write_returns_and_dies_at_sigkill,
	       CASE_TIMEOUT)
{
	size_t n = FLOOD_BYTES / cfg_len, i;
	struct pollfd pfd;
	struct call c = { 0 };
	int ret, fd, p[2], st;
	uint8_t *buf;
	uint64_t t0;
	pid_t pid;

	buf = malloc(n * cfg_len);
	ASSERT_NE(NULL, buf) TH_LOG("%zu bytes of CONFIG packets", n * cfg_len);
	for (i = 0; i < n; i++)
		memcpy(buf + i * cfg_len, cfg_pkt, cfg_len);
	fd = resuming_fd(&self->d);
	if (fd < 0)
		free(buf);
	ASSERT_LE(0, fd)
		TH_LOG("flood: RESUMING (%s)", err_str(fd < 0 ? fd : 0));
	if (pipe(p)) {
		close(fd);
		free(buf);
		return;
	}
	t0 = now_ns();
	pid = fork();
	if (!pid) {
		size_t off = 0, calls = 0;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (;;) {
			uint64_t t = now_ns();

			c.n = write(fd, buf + off, n * cfg_len - off);
			c.err = c.n < 0 ? errno : 0;
			c.ns = now_ns() - t;
			/* the first call's figures go to the parent */
			if (!calls++ &&
			    write(p[1], &c, sizeof(c)) != sizeof(c))
				_exit(2);
			if (c.n <= 0)
				_exit(3);
			off = (off + c.n) % (n * cfg_len);
		}
	}
	close(p[1]);
	pfd.fd = p[0];
	pfd.events = POLLIN;
	ret = poll(&pfd, 1, CALL_MAX_MS);
	if (ret == 1 && read(p[0], &c, sizeof(c)) == sizeof(c)) {
		TH_LOG("flood: one write() of %zu CONFIG packets (%zu bytes each): %zd in %.0f ms",
		       n, cfg_len, c.n, c.ns / 1e6);
		EXPECT_TRUE(c.ns / 1000000 < CALL_MAX_MS && c.n > 0)
			TH_LOG("flood: one write() of %zu CONFIG packets (%zu bytes each) returns in %.0f ms (within %d): %zd (%s)",
			       n, cfg_len, c.ns / 1e6, CALL_MAX_MS, c.n,
			       c.n < 0 ? strerror(c.err) : "bytes");
	} else {
		EXPECT_TRUE(false)
			TH_LOG("flood: one write() of %zu CONFIG packets (%zu bytes each) still running after %d ms",
			       n, cfg_len, CALL_MAX_MS);
	}
	/* give it a second (or what is left of it) of writing */
	if (ms_since(t0) < 1000)
		usleep((1000 - ms_since(t0)) * 1000);
	st = dies_at_sigkill(_metadata, pid, "flood: the writer", &t0);
	if (st < 0) {
		/* an unkillable writer ends with its write */
		st = reap(pid, UNKILLED_MS);
		TH_LOG("flood: the writer was %s after %.0f ms",
		       st >= 0 ? "reaped" : "still alive", ms_since(t0));
	}
	close(p[0]);
	close(fd);
	free(buf);
	device_resets_after(_metadata, &self->d, "flood");
}

TEST_HARNESS_MAIN
