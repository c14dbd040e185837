// SPDX-License-Identifier: GPL-2.0
/*
 * migration_fsm: the VFIO migration v2 state machine of igbvf-vfio-pci,
 * checked against the uAPI (include/uapi/linux/vfio.h and the core's
 * vfio_mig_get_next_state(), Linux 6.12), not against the driver.
 *
 * The fixture: IVF_VF0 open through the variant's backend, a guest's
 * configuration on it (handshake, multicast, LPE, rings) so the stream has
 * something to carry, and a first stream saved (for the RESUMING arcs).
 * The variants are the ways to the device:
 *   container  group + type1 container
 *   cdev_log   the device's cdev bound to iommufd (DMA logging for dirty
 *              pages, unused here)
 * A variant the running kernel cannot do skips, saying why.
 *
 * Cases, one promise each:
 *   flags_are_stop_copy_p2p_pre_copy
 *             VFIO_DEVICE_FEATURE_MIGRATION: STOP_COPY | P2P | PRE_COPY
 *   device_opens_running
 *             GET after open: RUNNING
 *   stop_copy_from_stop_gives_final_then_eof
 *             MIG_DATA_SIZE (0 < size < 4096); STOP -> STOP_COPY: PRECOPY_INFO
 *             EINVAL, just the FINAL packet (within MIG_DATA_SIZE) then
 *             EOF; after STOP the old fd gives -ENODEV (read, PRECOPY_INFO)
 *   pre_copy_fd_gives_config_then_final
 *             PRE_COPY: PRECOPY_INFO initial_bytes is one CONFIG packet and
 *             falls as it is read, then ENOMSG; pread/pwrite ESPIPE; a
 *             guest PF configuration change adds a CONFIG packet
 *             (dirty_bytes); the same fd through PRE_COPY_P2P (ENOMSG) into
 *             STOP_COPY (PRECOPY_INFO EINVAL) gives the FINAL packet, EOF,
 *             EOF again: a CONFIG + FINAL stream
 *   precopy_info_flags_echoed_then_zero_after_v2
 *             PRECOPY_INFO's flags come back as given without the
 *             PRECOPY_INFOv2 opt-in, 0 after it (where the kernel has it)
 *   resuming_fd_takes_stream_and_dies_with_stop
 *             the resuming fd: PRECOPY_INFO EINVAL, ESPIPE, the saved stream
 *             in 13-byte pieces, -ENODEV after STOP (write, PRECOPY_INFO)
 *   reset_kills_pre_copy_session
 *   reset_kills_stop_copy_session
 *   reset_kills_resuming_session
 *             VFIO_DEVICE_RESET mid-session: RUNNING, the data fd -ENODEV
 *   every_set_from_every_state_follows_uapi
 *             every SET from every reachable state to every state (and to
 *             ERROR and out-of-range states): errno, GET after SET, which
 *             arcs return a data fd, which old data fds stay valid (a
 *             continuing saving fd still reads) or turn -ENODEV
 *   resuming_without_data_refuses_stop_error_refuses_all
 *             leaving RESUMING with nothing written fails ENODATA; in ERROR
 *             every SET is refused with EINVAL until a reset, which takes it
 *             back to RUNNING
 *   random_walk_matches_model_device_works_after
 *             a seeded random walk over the FSM that reads and writes the
 *             data fds as a VMM would, with no mismatch; then the device
 *             goes back to RUNNING, resets, does the PF mailbox handshake
 *             and passes a frame each way (without IVF_PEER_NS/IF the
 *             frames are left out), with no register access error
 *   stop_copy_refuses_pre_copy_arcs
 *             STOP_COPY -> PRE_COPY[_P2P]: refused (EINVAL), the saving fd
 *             still reads. Last: Debian's 6.12.95 core spins for ever
 *             (soft lockup) on those arcs unless the driver refuses them
 *             itself (see hangs_core()); the other cases leave them out.
 *             IVF_FSM_SAFE=1 skips it.
 *
 * Usage: the kselftest harness's: -l lists, -v VARIANT, -t CASE filter.
 * Env: IVF_VF0 (bound to igbvf-vfio-pci), IVF_PEER_NS/IVF_PEER_IF (the
 *      frame check; left out without them), IVF_WALK_STEPS (default 1000),
 *      IVF_SEED, IVF_WALK_SECS (time cap of the walk, default 150),
 *      IVF_VERBOSE=1 (say what is about to happen), IVF_FSM_SAFE=1.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fixture.h"
#include "frame.h"
#include "ivf.h"
#include "mig.h"
#include "migstream.h"
#include "peer.h"
#include "util.h"

#include "kselftest_harness.h"
#include "backends.h"

/* most cases take 1-10 s on TCG; the sanitizer kernel up to 10 times that */
#define CASE_TIMEOUT	300
/* the walk stops at IVF_WALK_SECS (150 s), then the frame check */
#define WALK_TIMEOUT	500

enum {
	S_ERROR = VFIO_DEVICE_STATE_ERROR,
	S_STOP = VFIO_DEVICE_STATE_STOP,
	S_RUNNING = VFIO_DEVICE_STATE_RUNNING,
	S_STOP_COPY = VFIO_DEVICE_STATE_STOP_COPY,
	S_RESUMING = VFIO_DEVICE_STATE_RESUMING,
	S_RUNNING_P2P = VFIO_DEVICE_STATE_RUNNING_P2P,
	S_PRE_COPY = VFIO_DEVICE_STATE_PRE_COPY,
	S_PRE_COPY_P2P = VFIO_DEVICE_STATE_PRE_COPY_P2P,
	S_NUM,
};

/*
 * Next step from [cur] towards [target], as vfio_from_fsm_table in
 * drivers/vfio/vfio_main.c (6.12) and the path rules of the uAPI: shortest
 * path, saving states never interior, STOP_COPY -> PRE_COPY[_P2P] refused.
 */
static const uint8_t fsm_next[S_NUM][S_NUM] = {
	[S_STOP] = {
		[S_STOP] = S_STOP, [S_RUNNING] = S_RUNNING_P2P,
		[S_PRE_COPY] = S_RUNNING_P2P, [S_PRE_COPY_P2P] = S_RUNNING_P2P,
		[S_STOP_COPY] = S_STOP_COPY, [S_RESUMING] = S_RESUMING,
		[S_RUNNING_P2P] = S_RUNNING_P2P, [S_ERROR] = S_ERROR,
	},
	[S_RUNNING] = {
		[S_STOP] = S_RUNNING_P2P, [S_RUNNING] = S_RUNNING,
		[S_PRE_COPY] = S_PRE_COPY, [S_PRE_COPY_P2P] = S_RUNNING_P2P,
		[S_STOP_COPY] = S_RUNNING_P2P, [S_RESUMING] = S_RUNNING_P2P,
		[S_RUNNING_P2P] = S_RUNNING_P2P, [S_ERROR] = S_ERROR,
	},
	[S_PRE_COPY] = {
		[S_STOP] = S_RUNNING, [S_RUNNING] = S_RUNNING,
		[S_PRE_COPY] = S_PRE_COPY, [S_PRE_COPY_P2P] = S_PRE_COPY_P2P,
		[S_STOP_COPY] = S_PRE_COPY_P2P, [S_RESUMING] = S_RUNNING,
		[S_RUNNING_P2P] = S_RUNNING, [S_ERROR] = S_ERROR,
	},
	[S_PRE_COPY_P2P] = {
		[S_STOP] = S_RUNNING_P2P, [S_RUNNING] = S_RUNNING_P2P,
		[S_PRE_COPY] = S_PRE_COPY, [S_PRE_COPY_P2P] = S_PRE_COPY_P2P,
		[S_STOP_COPY] = S_STOP_COPY, [S_RESUMING] = S_RUNNING_P2P,
		[S_RUNNING_P2P] = S_RUNNING_P2P, [S_ERROR] = S_ERROR,
	},
	[S_STOP_COPY] = {
		[S_STOP] = S_STOP, [S_RUNNING] = S_STOP,
		[S_PRE_COPY] = S_ERROR, [S_PRE_COPY_P2P] = S_ERROR,
		[S_STOP_COPY] = S_STOP_COPY, [S_RESUMING] = S_STOP,
		[S_RUNNING_P2P] = S_STOP, [S_ERROR] = S_ERROR,
	},
	[S_RESUMING] = {
		[S_STOP] = S_STOP, [S_RUNNING] = S_STOP,
		[S_PRE_COPY] = S_STOP, [S_PRE_COPY_P2P] = S_STOP,
		[S_STOP_COPY] = S_STOP, [S_RESUMING] = S_RESUMING,
		[S_RUNNING_P2P] = S_STOP, [S_ERROR] = S_ERROR,
	},
	[S_RUNNING_P2P] = {
		[S_STOP] = S_STOP, [S_RUNNING] = S_RUNNING,
		[S_PRE_COPY] = S_RUNNING, [S_PRE_COPY_P2P] = S_PRE_COPY_P2P,
		[S_STOP_COPY] = S_STOP, [S_RESUMING] = S_STOP,
		[S_RUNNING_P2P] = S_RUNNING_P2P, [S_ERROR] = S_ERROR,
	},
	[S_ERROR] = {
		[S_STOP] = S_ERROR, [S_RUNNING] = S_ERROR,
		[S_PRE_COPY] = S_ERROR, [S_PRE_COPY_P2P] = S_ERROR,
		[S_STOP_COPY] = S_ERROR, [S_RESUMING] = S_ERROR,
		[S_RUNNING_P2P] = S_ERROR, [S_ERROR] = S_ERROR,
	},
};

/* migration_flags a state needs (state_flags_table of the core) */
static const uint32_t state_needs[S_NUM] = {
	[S_STOP] = VFIO_MIGRATION_STOP_COPY,
	[S_RUNNING] = VFIO_MIGRATION_STOP_COPY,
	[S_PRE_COPY] = VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_PRE_COPY,
	[S_PRE_COPY_P2P] = VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P |
			   VFIO_MIGRATION_PRE_COPY,
	[S_STOP_COPY] = VFIO_MIGRATION_STOP_COPY,
	[S_RESUMING] = VFIO_MIGRATION_STOP_COPY,
	[S_RUNNING_P2P] = VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P,
	[S_ERROR] = ~0u,
};

static uint64_t mig_flags_dev;
static bool verbose;
/*
 * Debian's 6.12.95 vfio_mig_get_next_state() spins forever (soft lockup)
 * on the arcs its table marks ERROR, STOP_COPY -> PRE_COPY[_P2P], unless
 * the driver refuses them before asking the core. The matrix and the walk
 * leave them out; they are tried once, at the very end, after a warning
 * (IVF_FSM_SAFE=1: not at all); in the lab the kernel is told to panic on
 * a soft lockup first, so that a hang ends the run at once.
 */
static bool safe_mode;

static bool hangs_core(uint32_t cur, uint32_t target)
{
	return cur == S_STOP_COPY &&
	       (target == S_PRE_COPY || target == S_PRE_COPY_P2P);
}

static bool state_ok(uint32_t s)
{
	return s < S_NUM && (state_needs[s] & mig_flags_dev) == state_needs[s];
}

/* the states a SET walks through (not including cur); -EINVAL if refused */
static int fsm_path(uint32_t cur, uint32_t target, uint32_t *path)
{
	int n = 0;

	if (!state_ok(cur) || !state_ok(target))
		return -EINVAL;
	while (cur != target) {
		uint32_t next = fsm_next[cur][target];

		while (next != S_ERROR && !state_ok(next))
			next = fsm_next[next][target];
		if (next == S_ERROR || n >= S_NUM)
			return -EINVAL;
		path[n++] = next;
		cur = next;
	}
	return n;
}

/* arcs that open a data transfer session (a new fd) */
static bool arc_opens_fd(uint32_t from, uint32_t to)
{
	return (from == S_RUNNING && to == S_PRE_COPY) ||
	       (from == S_RUNNING_P2P && to == S_PRE_COPY_P2P) ||
	       (from == S_STOP && to == S_STOP_COPY) ||
	       (from == S_STOP && to == S_RESUMING);
}

enum { G_NONE, G_SAVE, G_RESUME };

static int group_of(uint32_t s)
{
	if (s == S_PRE_COPY || s == S_PRE_COPY_P2P || s == S_STOP_COPY)
		return G_SAVE;
	if (s == S_RESUMING)
		return G_RESUME;
	return G_NONE;
}

struct mdev {
	struct vfio_dev d;
	struct ivf v;
	uint32_t state;		/* what the model says */
	int fd;			/* data fd of the current session, or -1 */
	int fd_group;
	bool fed;		/* something was written to the resuming fd */
	bool resume_ok;		/* a complete stream was written to fd */
	uint8_t *sess;		/* bytes read from the saving fd */
	size_t sess_len;
	bool sess_eof;
	uint8_t *good;		/* the latest complete saved stream */
	size_t good_len;
};

static const char *sname(uint32_t s)
{
	static char buf[4][16];
	static int k;

	if (s < S_NUM)
		return mig_state_name(s);
	k = (k + 1) % 4;
	snprintf(buf[k], sizeof(buf[k]), "#%u", s);
	return buf[k];
}

/* I/O on a data fd that should be stale: its errno (0 if it worked) */
static int stale_io(int fd, int group)
{
	uint8_t buf[8] = { 0 };
	ssize_t n;

	if (group == G_RESUME)
		n = write(fd, buf, sizeof(buf));
	else
		n = read(fd, buf, sizeof(buf));
	return n < 0 ? -errno : 0;
}

static void close_session(struct mdev *m)
{
	if (m->fd >= 0)
		close(m->fd);
	m->fd = -1;
	m->fd_group = G_NONE;
	m->fed = false;
	m->resume_ok = false;
	free(m->sess);
	m->sess = NULL;
	m->sess_len = 0;
	m->sess_eof = false;
}

static void keep_stream(struct mdev *m, const uint8_t *buf, size_t len)
{
	uint8_t *copy = malloc(len);

	if (!copy)
		return;
	memcpy(copy, buf, len);
	free(m->good);
	m->good = copy;
	m->good_len = len;
}

/*
 * Read the saving fd as far as it goes (ENOMSG in PRE_COPY, EOF in
 * STOP_COPY). 0 or -errno; on EOF the session is a complete stream.
 */
static int drain(struct mdev *m, char *why, size_t wlen)
{
	struct ms_stream s;
	ssize_t n;
	int ret;

	n = mig_read_all(m->fd, &m->sess, &m->sess_len);
	if (n < 0) {
		snprintf(why, wlen, "read of the saving fd: %s", strerror(-n));
		return n;
	}
	if (m->state != S_STOP_COPY)
		return 0;
	m->sess_eof = true;
	ret = ms_parse(&s, m->sess, m->sess_len);
	if (ret) {
		snprintf(why, wlen, "saved stream of %zu bytes does not parse: %s (%s)",
			 m->sess_len, s.why, strerror(-ret));
		return ret;
	}
	keep_stream(m, m->sess, m->sess_len);
	return 0;
}

/*
 * One SET of the device state checked against the model. Returns true if
 * everything matched; @why gets the first mismatch. The model follows the
 * device afterwards (GET), whatever happened.
 */
static bool do_set(struct mdev *m, uint32_t target, char *why, size_t wlen,
		   bool *got_fd)
{
	uint32_t path[S_NUM], got = S_NUM;
	int n, exp_err, ret, gret, fd = -1, i;
	bool exp_fd = false, keep = false, ok = true;
	int old_group = m->fd_group;

	why[0] = '\0';
	n = fsm_path(m->state, target, path);
	exp_err = n < 0 ? -EINVAL : 0;
	for (i = 0; i < n; i++)
		if (arc_opens_fd(i ? path[i - 1] : m->state, path[i]))
			exp_fd = true;
	if (n >= 0 && m->fd >= 0) {
		keep = true;
		for (i = 0; i < n; i++)
			if (group_of(path[i]) != m->fd_group)
				keep = false;
	}
	/* leaving RESUMING without a complete stream: the driver refuses */
	if (n > 0 && m->state == S_RESUMING && !m->resume_ok)
		exp_err = -ENODATA;

	ret = mig_set_state(&m->d, target, &fd);
	if (got_fd)
		*got_fd = fd >= 0;
	gret = mig_get_state(&m->d, &got);

	if (ret != exp_err) {
		snprintf(why, wlen, "SET %s -> %s returned %s, expected %s",
			 sname(m->state), sname(target), err_str(ret),
			 err_str(exp_err));
		ok = false;
	} else if (gret) {
		snprintf(why, wlen, "GET failed: %s", strerror(-gret));
		ok = false;
	} else if (!ret && got != target) {
		snprintf(why, wlen, "SET %s -> %s succeeded but GET says %s",
			 sname(m->state), sname(target), sname(got));
		ok = false;
	} else if (ret == -EINVAL && got != m->state) {
		snprintf(why, wlen, "refused SET %s -> %s moved the device to %s",
			 sname(m->state), sname(target), sname(got));
		ok = false;
	} else if (ret && got != m->state && got != S_ERROR) {
		snprintf(why, wlen, "failed SET %s -> %s left the device in %s",
			 sname(m->state), sname(target), sname(got));
		ok = false;
	} else if (!ret && (fd >= 0) != exp_fd) {
		snprintf(why, wlen, "SET %s -> %s %s a data fd",
			 sname(m->state), sname(target),
			 fd >= 0 ? "returned" : "did not return");
		ok = false;
	}
	if (ret && fd >= 0) {
		if (ok)
			snprintf(why, wlen, "failed SET returned a data fd");
		ok = false;
		close(fd);
		fd = -1;
	}

	/* the old session: still valid, or -ENODEV now */
	if (m->fd >= 0 && !ret && !keep) {
		int e = stale_io(m->fd, old_group);

		if (e != -ENODEV && ok) {
			snprintf(why, wlen, "after SET %s -> %s the old %s fd gives %s, not ENODEV",
				 sname(m->state), sname(target),
				 old_group == G_SAVE ? "saving" : "resuming",
				 err_str(e));
			ok = false;
		}
		close_session(m);
	}
	if (fd >= 0) {
		if (m->fd >= 0) {
			if (ok)
				snprintf(why, wlen, "SET %s -> %s returned a new fd while the old session continues",
					 sname(m->state), sname(target));
			ok = false;
			close_session(m);
		}
		m->fd = fd;
		m->fd_group = group_of(target);
	}
	m->state = gret ? S_ERROR : got;
	if (m->fd >= 0 && group_of(m->state) != m->fd_group)
		close_session(m);
	return ok;
}

/* back to RUNNING with no session: VFIO_DEVICE_RESET */
static int dev_reset(struct mdev *m)
{
	int ret = vfio_dev_reset(&m->d);
	uint32_t s = S_NUM;

	close_session(m);
	if (!ret)
		ret = mig_get_state(&m->d, &s);
	m->state = s;
	if (!ret && s != S_RUNNING)
		ret = -EPROTO;
	return ret;
}

/* write the saved stream to the resuming fd */
static int feed(struct mdev *m, size_t len, size_t chunk)
{
	int ret = len ? mig_write_all(m->fd, m->good, len, chunk) : 0;

	m->fed = true;
	m->resume_ok = !ret && len == m->good_len;
	return ret;
}

/* get to @s with a fresh session where @s has one; RUNNING first */
static int enter(struct mdev *m, uint32_t s, char *why, size_t wlen)
{
	if (m->state != S_RUNNING || m->fd >= 0) {
		int ret = dev_reset(m);

		if (ret) {
			snprintf(why, wlen, "VFIO_DEVICE_RESET: %s", strerror(-ret));
			return ret;
		}
	}
	if (s == S_RUNNING)
		return 0;
	return do_set(m, s, why, wlen, NULL) ? 0 : -EPROTO;
}


/* ---- the state matrix ------------------------------------------------ */

static void matrix_cell(struct __test_metadata *_metadata, struct mdev *m,
			uint32_t from, uint32_t to)
{
	char why[256] = "";
	bool fd_back = false, had_fd, ok;
	uint32_t path[S_NUM];
	int n, ret;

	if (verbose)
		ksft_print_msg("cell %s -> %s\n", sname(from), sname(to));
	if (hangs_core(from, to)) {
		ksft_print_msg("%s -> %s: tried last (see hangs_core())\n",
			       sname(from), sname(to));
		return;
	}
	ret = enter(m, from, why, sizeof(why));
	EXPECT_EQ(0, ret) TH_LOG("%s -> %s: could not reach %s: %s",
				 sname(from), sname(to), sname(from), why);
	if (ret)
		return;
	if (from == S_RESUMING && to != S_RESUMING) {
		ret = feed(m, m->good_len, 0);
		EXPECT_EQ(0, ret)
			TH_LOG("%s -> %s: writing the saved stream failed",
			       sname(from), sname(to));
		if (ret)
			return;
	}
	n = fsm_path(from, to, path);
	had_fd = m->fd >= 0;
	ok = do_set(m, to, why, sizeof(why), &fd_back);
	EXPECT_TRUE(ok) TH_LOG("%s -> %s: %s", sname(from), sname(to), why);
	if (!ok)
		return;
	/* a saving session that continues must still read */
	if (had_fd && !fd_back && m->fd >= 0 && m->fd_group == G_SAVE) {
		uint8_t buf[IVF_MIG_MAX_PACKET];
		ssize_t r = read(m->fd, buf, sizeof(buf));
		int e = r < 0 ? errno : 0;

		EXPECT_TRUE(r >= 0 || e == ENOMSG)
			TH_LOG("%s -> %s: the continuing saving fd reads %s",
			       sname(from), sname(to), strerror(e));
		if (r < 0 && e != ENOMSG)
			return;
	}
	ksft_print_msg("%s -> %s: %s%s\n", sname(from), sname(to),
		       n < 0 ? "EINVAL" : "ok",
		       fd_back ? ", new data fd" :
		       m->fd >= 0 ? ", session continues" : "");
}

/* ---- data fds ---------------------------------------------------------- */

static void check_espipe(struct __test_metadata *_metadata, int fd,
			 const char *what)
{
	uint8_t buf[8] = { 0 };
	ssize_t r, w;
	int er, ew;

	r = pread(fd, buf, sizeof(buf), 0);
	er = errno;
	w = pwrite(fd, buf, sizeof(buf), 0);
	ew = errno;
	EXPECT_TRUE(r < 0 && er == ESPIPE && w < 0 && ew == ESPIPE)
		TH_LOG("%s fd: pread %s, pwrite %s (ESPIPE)", what,
		       r < 0 ? strerror(er) : "worked",
		       w < 0 ? strerror(ew) : "worked");
}

static void check_precopy_einval(struct __test_metadata *_metadata, int fd,
				 const char *what)
{
	uint64_t init = 0, dirty = 0;
	int ret = mig_precopy_info(fd, &init, &dirty);

	EXPECT_EQ(-EINVAL, ret) TH_LOG("PRECOPY_INFO on the %s fd: %s (EINVAL)",
				       what, err_str(ret));
}

/* VFIO_DEVICE_RESET kills every session: -ENODEV afterwards */
static void test_reset_kills(struct __test_metadata *_metadata,
			     struct mdev *m, uint32_t s)
{
	uint64_t a, b;
	char why[256] = "";
	int ret, fd, group, io, ioc;

	ret = enter(m, s, why, sizeof(why));
	ASSERT_TRUE(!ret && m->fd >= 0)
		TH_LOG("reach %s with a data fd: %s", sname(s), why);
	group = m->fd_group;
	if (s == S_RESUMING)
		feed(m, m->good_len / 2, 0);
	else
		mig_read_all(m->fd, &m->sess, &m->sess_len);
	fd = dup(m->fd);
	ret = dev_reset(m);
	io = stale_io(fd, group);
	ioc = mig_precopy_info(fd, &a, &b);
	EXPECT_TRUE(!ret && io == -ENODEV && ioc == -ENODEV)
		TH_LOG("VFIO_DEVICE_RESET in %s: RUNNING (%s), then %s %s, PRECOPY_INFO %s (ENODEV)",
		       sname(s), err_str(ret),
		       group == G_RESUME ? "write" : "read", err_str(io),
		       err_str(ioc));
	close(fd);
}

/* ---- random walk ------------------------------------------------------- */

static uint64_t rng;

static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)((rng >> 11) % n);
}

static void test_walk(struct __test_metadata *_metadata, struct mdev *m,
		      unsigned int steps, uint64_t seed, double cap_s)
{
	unsigned int i, bad = 0, sets = 0, resets = 0, saved = 0, resumed = 0;
	unsigned int visits[S_NUM] = { 0 };
	static unsigned int arc_bad[S_NUM + 1][S_NUM + 4];
	uint64_t t0 = now_ns();
	unsigned int a, b;
	char why[256];

	rng = seed ? seed : 1;
	ksft_print_msg("random walk: %u steps, seed %llu\n", steps,
		       (unsigned long long)seed);
	dev_reset(m);
	for (i = 0; i < steps; i++) {
		uint32_t target, before = m->state;
		uint32_t r = rnd(100);

		if ((now_ns() - t0) / 1e9 > cap_s) {
			ksft_print_msg("walk stopped by the time cap (%.0f s) after %u steps\n",
				       cap_s, i);
			break;
		}
		/* what a VMM does in the current state */
		if (m->fd >= 0 && m->fd_group == G_SAVE && rnd(4)) {
			if (drain(m, why, sizeof(why))) {
				if (bad++ < 10)
					ksft_print_msg("step %u (%s): %s\n", i,
						       sname(m->state), why);
			} else if (m->state == S_STOP_COPY) {
				saved++;
			}
		}
		if (m->fd >= 0 && m->fd_group == G_RESUME && !m->fed) {
			size_t len = m->good_len;

			if (!rnd(10))	/* now and then an incomplete stream */
				len = rnd(len);
			if (feed(m, len, rnd(2) ? 0 : 1 + rnd(300)) &&
			    bad++ < 10)
				ksft_print_msg("step %u: writing %zu bytes of the stream failed\n",
					       i, len);
		}

		if (r < 3) {
			int ret = dev_reset(m);

			resets++;
			if (ret && bad++ < 10)
				ksft_print_msg("step %u: VFIO_DEVICE_RESET: %s\n",
					       i, strerror(-ret));
			continue;
		}
		if (r < 6)	/* ERROR or out of range: always refused */
			target = rnd(2) ? S_ERROR : S_NUM + rnd(4);
		else
			target = 1 + rnd(S_NUM - 1);
		if (hangs_core(m->state, target))
			target = S_STOP;
		if (m->state == S_RESUMING && target != S_RESUMING &&
		    m->resume_ok)
			resumed++;
		sets++;
		if (verbose)
			ksft_print_msg("step %u: %s -> %s\n", i, sname(m->state),
				       sname(target));
		if (!do_set(m, target, why, sizeof(why), NULL)) {
			if (bad++ < 10)
				ksft_print_msg("step %u: %s\n", i, why);
			arc_bad[before < S_NUM ? before : S_NUM]
			       [target < S_NUM + 4 ? target : S_NUM + 3]++;
		}
		if (m->state < S_NUM)
			visits[m->state]++;
		/* a failed resume, or a mismatch that lost us: start over */
		if (m->state == S_ERROR || m->state >= S_NUM ||
		    (before == S_RESUMING && m->state == S_RESUMING &&
		     target != S_RESUMING && target < S_NUM &&
		     target != S_ERROR)) {
			dev_reset(m);
			resets++;
		}
	}
	ksft_print_msg("walk: %u SETs, %u resets, %u streams saved, %u resumed, %.1f s\n",
		       sets, resets, saved, resumed, (now_ns() - t0) / 1e9);
	ksft_print_msg("visits: RUNNING %u STOP %u RUNNING_P2P %u PRE_COPY %u PRE_COPY_P2P %u STOP_COPY %u RESUMING %u\n",
		       visits[S_RUNNING], visits[S_STOP],
		       visits[S_RUNNING_P2P], visits[S_PRE_COPY],
		       visits[S_PRE_COPY_P2P], visits[S_STOP_COPY],
		       visits[S_RESUMING]);
	for (a = 0; a <= S_NUM; a++)
		for (b = 0; b < S_NUM + 4; b++)
			if (arc_bad[a][b])
				ksft_print_msg("mismatches on SET %s -> %s: %u\n",
					       sname(a), sname(b), arc_bad[a][b]);
	TH_LOG("random walk (seed %llu, %u steps): %u mismatches",
	       (unsigned long long)seed, i, bad);
	EXPECT_EQ(0, bad) TH_LOG("the walk must match the model");
}

/* ---- the device afterwards --------------------------------------------- */

struct rx_ctx {
	const uint8_t *dst, *src;
	int ok;
};

static void rx_cb(void *arg, const uint8_t *data, uint32_t len,
		  uint32_t status)
{
	struct rx_ctx *c = arg;
	uint32_t seq;

	if (!(status & IVF_RXD_ERR_FRAME_MASK) &&
	    frame_check(data, len, c->dst, c->src, 2, FRAME_MIN, &seq) == FRAME_OK)
		c->ok = 1;
}

static void check_usable(struct __test_metadata *_metadata, struct mdev *m,
			 const char *ns, const char *ifname)
{
	struct rx_ctx rx = { 0 };
	uint8_t buf[2048];
	unsigned int sent;
	struct peer p;
	uint64_t t0;
	char why[256];
	int ret, got = 0;
	ssize_t n;

	if (m->state == S_RESUMING && !m->resume_ok)
		feed(m, m->good_len, 0);
	ret = do_set(m, S_RUNNING, why, sizeof(why), NULL) ? 0 : -EPROTO;
	EXPECT_EQ(0, ret) TH_LOG("back to RUNNING: %s", why);
	ret = dev_reset(m);
	EXPECT_EQ(0, ret) TH_LOG("VFIO_DEVICE_RESET: RUNNING (%s)",
				 err_str(ret));
	ret = ivf_reset(&m->v);
	EXPECT_TRUE(!ret && m->v.cts)
		TH_LOG("VF reset handshake with the PF (%s)", err_str(ret));
	if (!ns || !ifname) {
		ksft_print_msg("no IVF_PEER_NS/IVF_PEER_IF: frame check skipped\n");
		return;
	}
	ret = ivf_rings_setup(&m->v, NULL);
	ASSERT_EQ(0, ret) TH_LOG("rings set up again (%s)", err_str(ret));
	ret = peer_open(&p, ns, ifname, FRAME_ETHERTYPE);
	ASSERT_EQ(0, ret) TH_LOG("peer socket on %s (%s)", ifname,
				 err_str(ret));
	/*
	 * A frame every 500 ms for up to 10 s each way: on a host whose
	 * cores are stolen (CI saw 50-60 % steal) one frame and 3 s were
	 * not always enough; any one getting through is the proof.
	 */
	for (t0 = now_ns(), sent = 0; !got && now_ns() - t0 < 10000000000ull;) {
		if (now_ns() - t0 >= sent * 500000000ull) {
			n = frame_build(buf, p.mac, m->v.mac, 1, sent, FRAME_MIN);
			ret = ivf_tx(&m->v, buf, n);
			if (ret)
				break;
			sent++;
		}
		n = peer_recv(&p, buf, sizeof(buf), 100);
		if (n > 0 && frame_check(buf, n, p.mac, m->v.mac, 1, FRAME_MIN,
					 &(uint32_t){ 0 }) == FRAME_OK)
			got = 1;
	}
	EXPECT_TRUE(got) TH_LOG("a frame from the VF must reach the peer (%u sent)",
				sent);
	rx.dst = m->v.mac;
	rx.src = p.mac;
	for (t0 = now_ns(), sent = 0; !rx.ok && now_ns() - t0 < 10000000000ull;) {
		if (now_ns() - t0 >= sent * 500000000ull) {
			n = frame_build(buf, m->v.mac, p.mac, 2, sent, FRAME_MIN);
			if (peer_send(&p, buf, n))
				break;
			sent++;
		}
		if (!ivf_rx_ready(&m->v))
			usleep(1000);
		else
			ivf_rx_poll(&m->v, rx_cb, &rx, 16);
	}
	got = rx.ok;
	EXPECT_TRUE(got) TH_LOG("a frame from the peer must reach the VF (%u sent)",
				sent);
	peer_close(&p);
}

/* ---- the fixture -------------------------------------------------------- */

FIXTURE(migration_fsm) {
	const char *bdf;
	struct vfio_backend backend;
	struct mdev m;
	bool dev_open, ivf_open;
	/* what the fixture measured, for the cases that check it */
	int flags_ret, state_ret;
	uint64_t flags;
	uint32_t state;
};

/*
 * container: type1 group/container
 * cdev_log: the device's cdev on iommufd
 */
IVF_BACKENDS(migration_fsm);

static void fsm_free(FIXTURE_DATA(migration_fsm) *self)
{
	close_session(&self->m);
	if (self->ivf_open)
		ivf_close(&self->m.v);
	if (self->dev_open)
		vfio_dev_close(&self->m.d);
	self->ivf_open = self->dev_open = false;
	free(self->m.good);
	self->m.good = NULL;
}

FIXTURE_SETUP(migration_fsm)
{
	static const uint16_t hashes[2] = { 0x0123, 0x0abc };
	struct mdev *m = &self->m;
	char why[256] = "";
	const char *miss;
	int ret;

	m->fd = -1;
	self->bdf = env_get("IVF_VF0");
	self->backend = variant->backend;
	verbose = env_get("IVF_VERBOSE") != NULL;
	safe_mode = env_get("IVF_FSM_SAFE") != NULL;
	miss = vf_unusable(self->bdf, "IVF_VF0 is needed", NULL,
			   &self->backend);
	if (miss)
		SKIP(return, "%s", miss);
	ret = vfio_dev_open_backend(&m->d, self->bdf, &self->backend);
	ASSERT_EQ(0, ret) TH_LOG("open %s (%s)", self->bdf, err_str(ret));
	self->dev_open = true;
	self->flags_ret = mig_flags(&m->d, &self->flags);
	if (self->flags_ret == -ENOTTY) {
		fsm_free(self);
		SKIP(return, "no VFIO_DEVICE_FEATURE_MIGRATION (ENOTTY)");
	}
	mig_flags_dev = self->flags;
	self->state = S_NUM;
	self->state_ret = mig_get_state(&m->d, &self->state);
	m->state = self->state;

	/* a guest's configuration, so the stream has something to carry */
	ret = ivf_open(&m->v, &m->d, IVF_ACCESS_MMAP);
	self->ivf_open = !ret;
	if (!ret)
		ret = ivf_reset(&m->v);
	if (!ret)
		ret = ivf_set_multicast(&m->v, hashes, 2);
	if (!ret)
		ret = ivf_set_lpe(&m->v, 1522);
	if (!ret)
		ret = ivf_rings_setup(&m->v, NULL);
	if (ret)
		fsm_free(self);
	ASSERT_EQ(0, ret)
		TH_LOG("VF configured: handshake, multicast, LPE, rings (%s)",
		       err_str(ret));

	/* a saved stream of this VF, for the RESUMING arcs */
	ret = enter(m, S_STOP_COPY, why, sizeof(why));
	if (!ret)
		ret = drain(m, why, sizeof(why));
	if (ret || !m->good)
		fsm_free(self);
	ASSERT_TRUE(!ret && m->good)
		TH_LOG("a first stream saved (%zu bytes): %s", m->good_len, why);
}

FIXTURE_TEARDOWN(migration_fsm)
{
	fsm_free(self);
}

TEST_F_TIMEOUT(migration_fsm, flags_are_stop_copy_p2p_pre_copy, CASE_TIMEOUT)
{
	TH_LOG("migration flags 0x%llx (%s)",
	       (unsigned long long)self->flags, err_str(self->flags_ret));
	EXPECT_TRUE(!self->flags_ret &&
		    self->flags == (VFIO_MIGRATION_STOP_COPY |
				    VFIO_MIGRATION_P2P |
				    VFIO_MIGRATION_PRE_COPY))
		TH_LOG("must be STOP_COPY | P2P | PRE_COPY");
}

TEST_F_TIMEOUT(migration_fsm, device_opens_running, CASE_TIMEOUT)
{
	EXPECT_TRUE(!self->state_ret && self->state == S_RUNNING)
		TH_LOG("state after open: %s (RUNNING)",
		       self->state_ret ? strerror(-self->state_ret) :
		       sname(self->state));
}

/* STOP -> STOP_COPY: FINAL then EOF; the fd dies with STOP */
TEST_F_TIMEOUT(migration_fsm, stop_copy_from_stop_gives_final_then_eof,
	       CASE_TIMEOUT)
{
	struct mdev *m = &self->m;
	uint64_t size = 0;
	struct ms_stream s;
	char why[256] = "";
	int ret, fd;

	ret = mig_data_size(&m->d, &size);
	EXPECT_TRUE(!ret && size > 0 && size < 4096)
		TH_LOG("MIG_DATA_SIZE %llu (0 < size < 4096) (%s)",
		       (unsigned long long)size, err_str(ret));
	ASSERT_TRUE(!enter(m, S_STOP, why, sizeof(why)) &&
		    do_set(m, S_STOP_COPY, why, sizeof(why), NULL) &&
		    m->fd >= 0)
		TH_LOG("RUNNING -> STOP -> STOP_COPY: %s", why);
	check_precopy_einval(_metadata, m->fd, "STOP_COPY saving");
	ret = drain(m, why, sizeof(why));
	EXPECT_EQ(0, ret) TH_LOG("STOP_COPY: %zu bytes then EOF, a valid stream (%s)",
				 m->sess_len, ret ? why : "ok");
	ret = ms_parse(&s, m->sess, m->sess_len);
	EXPECT_TRUE(!ret && s.npkt == 1 && s.pkt[0].kind == IVF_MIG_PKT_FINAL)
		TH_LOG("STOP -> STOP_COPY must give just the FINAL packet (%u packets)",
		       s.npkt);
	EXPECT_LE(m->sess_len, size)
		TH_LOG("FINAL packet (%zu bytes) within MIG_DATA_SIZE (%llu)",
		       m->sess_len, (unsigned long long)size);
	fd = dup(m->fd);
	if (!do_set(m, S_STOP, why, sizeof(why), NULL)) {
		EXPECT_TRUE(false) TH_LOG("STOP_COPY -> STOP: %s", why);
	} else {
		uint64_t a, b;
		char c;

		ret = read(fd, &c, 1) < 0 ? -errno : 0;
		EXPECT_EQ(-ENODEV, ret)
			TH_LOG("STOP: read on the old saving fd: %s (ENODEV)",
			       err_str(ret));
		ret = mig_precopy_info(fd, &a, &b);
		EXPECT_EQ(-ENODEV, ret)
			TH_LOG("STOP: PRECOPY_INFO on the old saving fd: %s (ENODEV)",
			       err_str(ret));
	}
	close(fd);
}

/*
 * PRE_COPY: initial_bytes is the CONFIG packet and falls as it is read;
 * then ENOMSG. The same fd carries on through PRE_COPY_P2P into STOP_COPY
 * and gives the FINAL packet, then EOF.
 */
TEST_F_TIMEOUT(migration_fsm, pre_copy_fd_gives_config_then_final,
	       CASE_TIMEOUT)
{
	struct mdev *m = &self->m;
	uint64_t init0 = 0, dirty0 = 0, init, dirty, size = 0;
	uint8_t buf[4096];
	size_t total = 0, final_len;
	struct ms_stream s;
	char why[256] = "";
	bool fd_back, mono = true;
	ssize_t n;
	int ret, reads = 0, e;

	ASSERT_TRUE(!enter(m, S_PRE_COPY, why, sizeof(why)) && m->fd >= 0)
		TH_LOG("RUNNING -> PRE_COPY with a data fd: %s", why);
	ret = mig_precopy_info(m->fd, &init0, &dirty0);
	EXPECT_TRUE(!ret && init0 > 0 && init0 <= IVF_MIG_MAX_PACKET &&
		    dirty0 == 0)
		TH_LOG("PRE_COPY: PRECOPY_INFO initial_bytes %llu dirty_bytes %llu (%s)",
		       (unsigned long long)init0, (unsigned long long)dirty0,
		       err_str(ret));
	check_espipe(_metadata, m->fd, "saving");

	/* read in small pieces; initial_bytes must fall by what was read */
	init = init0;
	for (;;) {
		uint64_t i2 = 0, d2 = 0;

		n = read(m->fd, buf + total, 40);
		if (n <= 0)
			break;
		total += n;
		reads++;
		ret = mig_precopy_info(m->fd, &i2, &d2);
		if (ret || i2 + n != init)
			mono = false;
		init = i2;
		if (total + 40 > sizeof(buf))
			break;
	}
	e = n < 0 ? errno : 0;
	EXPECT_TRUE(n < 0 && e == ENOMSG)
		TH_LOG("PRE_COPY: read() after %zu bytes (%d reads) gives %s (ENOMSG)",
		       total, reads, n < 0 ? strerror(e) : n ? "data" : "EOF");
	EXPECT_TRUE(mono && total == init0)
		TH_LOG("PRE_COPY: initial_bytes must fall by the bytes read, %llu in all, read %zu",
		       (unsigned long long)init0, total);
	ret = mig_precopy_info(m->fd, &init, &dirty);
	EXPECT_TRUE(!ret && init == 0 && dirty == 0)
		TH_LOG("PRE_COPY: PRECOPY_INFO %llu/%llu once read (%s)",
		       (unsigned long long)init, (unsigned long long)dirty,
		       err_str(ret));
	ret = ms_parse(&s, buf, total);
	EXPECT_TRUE(ret == -ENODATA && s.npkt == 1 &&
		    s.pkt[0].kind == IVF_MIG_PKT_CONFIG &&
		    s.pkt[0].len == total &&
		    ms_find(&s, 0, IVF_MIG_REC_PF_CONFIG))
		TH_LOG("PRE_COPY data must be one CONFIG packet with PF_CONFIG (%s)",
		       s.why);

	/*
	 * The ABI: a guest PF configuration change in PRE_COPY adds another
	 * CONFIG packet (dirty_bytes). Whole packets are dropped here, which
	 * keeps the saved stream valid.
	 */
	if (m->v.cts && !ivf_set_vlan(&m->v, 42, true)) {
		uint8_t *extra = NULL;
		size_t elen = 0;
		struct ms_stream es;
		const struct ms_rec *r;
		const struct ivf_mig_pf_config *c = NULL;

		ret = mig_precopy_info(m->fd, &init, &dirty);
		EXPECT_TRUE(!ret && init == 0 && dirty > 0)
			TH_LOG("PRE_COPY: after SET_VLAN by the guest, PRECOPY_INFO initial %llu dirty %llu (%s)",
			       (unsigned long long)init,
			       (unsigned long long)dirty, err_str(ret));
		n = mig_read_all(m->fd, &extra, &elen);
		ms_parse(&es, extra, elen);
		r = ms_find(&es, 0, IVF_MIG_REC_PF_CONFIG);
		if (r)
			c = ms_payload(&es, r);
		EXPECT_TRUE(n >= 0 && elen == dirty && es.npkt == 1 &&
			    es.pkt[0].kind == IVF_MIG_PKT_CONFIG && c &&
			    (le64toh(c->vlans[0]) >> 42 & 1))
			TH_LOG("PRE_COPY: then a CONFIG packet of %zu bytes with VLAN 42 (%s)",
			       elen, n < 0 ? strerror(-n) :
			       es.why[0] ? es.why : "ok");
		free(extra);
		ivf_set_vlan(&m->v, 42, false);
		extra = NULL;
		elen = 0;
		mig_read_all(m->fd, &extra, &elen);
		free(extra);
	}

	/* PRE_COPY_P2P: same fd, still a PRE_COPY state */
	ASSERT_TRUE(do_set(m, S_PRE_COPY_P2P, why, sizeof(why), &fd_back))
		TH_LOG("PRE_COPY -> PRE_COPY_P2P: %s", why);
	ret = mig_precopy_info(m->fd, &init, &dirty);
	EXPECT_TRUE(!ret && !fd_back)
		TH_LOG("PRE_COPY_P2P: no new fd, PRECOPY_INFO on the old one %s (%llu/%llu)",
		       err_str(ret), (unsigned long long)init,
		       (unsigned long long)dirty);
	n = read(m->fd, buf, 16);
	e = n < 0 ? errno : 0;
	EXPECT_TRUE(n < 0 && e == ENOMSG)
		TH_LOG("PRE_COPY_P2P: read gives %s (ENOMSG)",
		       n < 0 ? strerror(e) : "data");

	if (mig_data_size(&m->d, &size))
		size = 0;
	ASSERT_TRUE(do_set(m, S_STOP_COPY, why, sizeof(why), &fd_back))
		TH_LOG("PRE_COPY_P2P -> STOP_COPY: %s", why);
	EXPECT_FALSE(fd_back)
		TH_LOG("PRE_COPY_P2P -> STOP_COPY: no new fd, the session continues");
	check_precopy_einval(_metadata, m->fd, "STOP_COPY saving");
	final_len = total;
	for (;;) {
		n = read(m->fd, buf + total, sizeof(buf) - total);
		if (n <= 0)
			break;
		total += n;
	}
	e = n < 0 ? errno : 0;
	EXPECT_EQ(0, n) TH_LOG("STOP_COPY: read until EOF (%s)",
			       n < 0 ? strerror(e) : "EOF");
	n = read(m->fd, buf, 16);
	EXPECT_EQ(0, n) TH_LOG("STOP_COPY: read after EOF gives EOF again (%zd)",
			       n);
	final_len = total - final_len;
	ret = ms_parse(&s, buf, total);
	EXPECT_TRUE(!ret && s.npkt == 2 && s.pkt[1].kind == IVF_MIG_PKT_FINAL)
		TH_LOG("CONFIG + FINAL stream of %zu bytes parses (%s)", total,
		       ret ? s.why : "ok");
	TH_LOG("MIG_DATA_SIZE in PRE_COPY_P2P %llu, FINAL packet %zu bytes",
	       (unsigned long long)size, final_len);
	if (!ret)
		keep_stream(m, buf, total);

	EXPECT_TRUE(do_set(m, S_STOP, why, sizeof(why), NULL))
		TH_LOG("STOP_COPY -> STOP: %s", why);
}

/*
 * PRECOPY_INFO's flags: without the PRECOPY_INFOv2 opt-in they come back as
 * the user passed them (the v1 behaviour every driver had); after it they
 * are an output, 0 from us (we never start new initial data, so never
 * VFIO_PRECOPY_INFO_REINIT). The opt-in is ENOTTY before 7.x, and lasts
 * until the device is closed (the fixture's open, this case only).
 */
TEST_F_TIMEOUT(migration_fsm, precopy_info_flags_echoed_then_zero_after_v2,
	       CASE_TIMEOUT)
{
	struct mdev *m = &self->m;
	const uint32_t junk = 0x5a5a0000;
	uint32_t flags = junk;
	uint64_t init, dirty;
	char why[256] = "";
	int ret;

	ASSERT_TRUE(!enter(m, S_PRE_COPY, why, sizeof(why)) && m->fd >= 0)
		TH_LOG("RUNNING -> PRE_COPY with a data fd: %s", why);
	ret = mig_precopy_info_flags(m->fd, &flags, &init, &dirty);
	TH_LOG("PRECOPY_INFO flags without the v2 opt-in: 0x%x (%s)", flags,
	       err_str(ret));
	EXPECT_TRUE(!ret && flags == junk)
		TH_LOG("PRE_COPY: PRECOPY_INFO flags 0x%x must come back as given (0x%x) without the v2 opt-in (%s)",
		       flags, junk, err_str(ret));
	ret = mig_precopy_info_v2(&m->d);
	if (ret == -ENOTTY) {
		TH_LOG("no VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2 on this kernel");
		return;
	}
	EXPECT_EQ(0, ret) TH_LOG("VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2 SET: %s",
				 err_str(ret));
	flags = junk;
	ret = mig_precopy_info_flags(m->fd, &flags, &init, &dirty);
	TH_LOG("PRECOPY_INFO flags after the v2 opt-in: 0x%x (%s)", flags,
	       err_str(ret));
	EXPECT_TRUE(!ret && flags == 0)
		TH_LOG("PRE_COPY: PRECOPY_INFO flags 0x%x after the v2 opt-in (0: no REINIT) (%s)",
		       flags, err_str(ret));
}

/* the resuming fd: EINVAL for PRECOPY_INFO, ESPIPE, ENODEV after STOP */
TEST_F_TIMEOUT(migration_fsm, resuming_fd_takes_stream_and_dies_with_stop,
	       CASE_TIMEOUT)
{
	struct mdev *m = &self->m;
	char why[256] = "";
	int ret, fd;

	ASSERT_TRUE(!enter(m, S_RESUMING, why, sizeof(why)) && m->fd >= 0)
		TH_LOG("RUNNING -> RESUMING with a data fd: %s", why);
	check_precopy_einval(_metadata, m->fd, "resuming");
	check_espipe(_metadata, m->fd, "resuming");
	ret = feed(m, m->good_len, 13);
	EXPECT_EQ(0, ret)
		TH_LOG("RESUMING: the saved stream written in 13-byte pieces (%s)",
		       err_str(ret));
	fd = dup(m->fd);
	if (!do_set(m, S_STOP, why, sizeof(why), NULL)) {
		EXPECT_TRUE(false) TH_LOG("RESUMING -> STOP: %s", why);
	} else {
		uint64_t a, b;
		uint8_t z[8] = { 0 };

		ret = write(fd, z, sizeof(z)) < 0 ? -errno : 0;
		EXPECT_EQ(-ENODEV, ret)
			TH_LOG("STOP: write on the old resuming fd: %s (ENODEV)",
			       err_str(ret));
		ret = mig_precopy_info(fd, &a, &b);
		EXPECT_EQ(-ENODEV, ret)
			TH_LOG("STOP: PRECOPY_INFO on the old resuming fd: %s (ENODEV)",
			       err_str(ret));
	}
	close(fd);
}

TEST_F_TIMEOUT(migration_fsm, reset_kills_pre_copy_session, CASE_TIMEOUT)
{
	test_reset_kills(_metadata, &self->m, S_PRE_COPY);
}

TEST_F_TIMEOUT(migration_fsm, reset_kills_stop_copy_session, CASE_TIMEOUT)
{
	test_reset_kills(_metadata, &self->m, S_STOP_COPY);
}

TEST_F_TIMEOUT(migration_fsm, reset_kills_resuming_session, CASE_TIMEOUT)
{
	test_reset_kills(_metadata, &self->m, S_RESUMING);
}

TEST_F_TIMEOUT(migration_fsm, every_set_from_every_state_follows_uapi,
	       CASE_TIMEOUT)
{
	static const uint32_t from[] = {
		S_RUNNING, S_STOP, S_RUNNING_P2P, S_PRE_COPY, S_PRE_COPY_P2P,
		S_STOP_COPY, S_RESUMING,
	};
	unsigned int i;
	uint32_t to;

	for (i = 0; i < sizeof(from) / sizeof(from[0]); i++) {
		for (to = 0; to < S_NUM; to++)
			matrix_cell(_metadata, &self->m, from[i], to);
		matrix_cell(_metadata, &self->m, from[i], S_NUM);
		matrix_cell(_metadata, &self->m, from[i], 0x7fffffff);
	}
}

/*
 * Leaving RESUMING with nothing written must fail (ENODATA); the device then
 * stays in RESUMING or goes to ERROR. If it is in ERROR, every SET must be
 * refused until a reset.
 */
TEST_F_TIMEOUT(migration_fsm,
	       resuming_without_data_refuses_stop_error_refuses_all,
	       CASE_TIMEOUT)
{
	struct mdev *m = &self->m;
	char why[256] = "";
	uint32_t s = S_NUM, to;
	int ret, bad = 0;

	ret = enter(m, S_RESUMING, why, sizeof(why));
	ASSERT_EQ(0, ret) TH_LOG("reach RESUMING: %s", why);
	ret = mig_set_state(&m->d, S_STOP, NULL);
	mig_get_state(&m->d, &s);
	EXPECT_TRUE(ret == -ENODATA && (s == S_RESUMING || s == S_ERROR))
		TH_LOG("RESUMING -> STOP with no data: %s (expected ENODATA), now %s",
		       err_str(ret), sname(s));
	if (s != S_ERROR) {
		TH_LOG("the device did not go to ERROR: ERROR row not reachable");
		dev_reset(m);
		return;
	}
	for (to = 0; to <= S_NUM; to++) {
		ret = mig_set_state(&m->d, to, NULL);
		mig_get_state(&m->d, &s);
		if (ret != -EINVAL || s != S_ERROR) {
			bad++;
			TH_LOG("ERROR -> %s: %s, now %s", sname(to),
			       err_str(ret), sname(s));
		}
	}
	EXPECT_EQ(0, bad) TH_LOG("ERROR: every SET must be refused with EINVAL, state kept");
	ret = dev_reset(m);
	EXPECT_EQ(0, ret) TH_LOG("VFIO_DEVICE_RESET takes ERROR back to RUNNING (%s)",
				 err_str(ret));
}

TEST_F_TIMEOUT(migration_fsm, random_walk_matches_model_device_works_after,
	       WALK_TIMEOUT)
{
	const char *e_steps = env_get("IVF_WALK_STEPS");
	const char *e_seed = env_get("IVF_SEED");
	const char *e_secs = env_get("IVF_WALK_SECS");
	unsigned int steps = e_steps ? strtoul(e_steps, NULL, 0) : 1000;
	uint64_t seed = e_seed ? strtoull(e_seed, NULL, 0) :
			(now_ns() ^ (uint64_t)getpid() << 32);
	double cap = e_secs ? atof(e_secs) : 150;

	test_walk(_metadata, &self->m, steps, seed, cap);
	check_usable(_metadata, &self->m, env_get("IVF_PEER_NS"),
		     env_get("IVF_PEER_IF"));
	EXPECT_EQ(0, self->m.v.io_errors)
		TH_LOG("no register access errors (%lu)", self->m.v.io_errors);
}

/*
 * STOP_COPY -> PRE_COPY and -> PRE_COPY_P2P: refused by the uAPI (EINVAL),
 * the session goes on. Last, because a driver that hands them to this
 * kernel's vfio core hangs the machine.
 */
TEST_F_TIMEOUT(migration_fsm, stop_copy_refuses_pre_copy_arcs, CASE_TIMEOUT)
{
	static const char lockup[] = "/proc/sys/kernel/softlockup_panic";
	static const uint32_t targets[] = { S_PRE_COPY, S_PRE_COPY_P2P };
	struct mdev *m = &self->m;
	char why[256] = "", msg[160], old[16] = "";
	uint8_t buf[64];
	unsigned int i;
	ssize_t n;
	int ret;
	bool ok;

	if (safe_mode)
		SKIP(return, "IVF_FSM_SAFE: STOP_COPY -> PRE_COPY[_P2P] not tried");
	/*
	 * In the lab guest (IVF_OUT set), a hang should end the run in
	 * seconds, not at the lab's timeout: panic on a soft lockup (the
	 * guest powers off on panic).
	 */
	if (env_get("IVF_OUT") && !read_str_file(lockup, old, sizeof(old)))
		write_str_file(lockup, "1");
	for (i = 0; i < 2; i++) {
		ret = enter(m, S_STOP_COPY, why, sizeof(why));
		EXPECT_EQ(0, ret) TH_LOG("reach STOP_COPY: %s", why);
		if (ret)
			continue;
		/* in the kernel log too: a hang starves the console's tee */
		snprintf(msg, sizeof(msg),
			 "<3>migration_fsm: STOP_COPY -> %s next (a soft lockup here: see hangs_core() in the test)\n",
			 sname(targets[i]));
		write_str_file("/dev/kmsg", msg);
		ksft_print_msg("%.*s\n", (int)strlen(msg) - 4, msg + 3);
		ok = do_set(m, targets[i], why, sizeof(why), NULL);
		EXPECT_TRUE(ok) TH_LOG("STOP_COPY -> %s: %s",
				       sname(targets[i]), why);
		if (!ok)
			continue;
		n = m->fd >= 0 ? read(m->fd, buf, sizeof(buf)) : -1;
		EXPECT_LT(0, n)
			TH_LOG("STOP_COPY -> %s refused (EINVAL), the saving fd must still read (%zd)",
			       sname(targets[i]), n);
	}
	if (old[0])
		write_str_file(lockup, old);
	dev_reset(m);
}

TEST_HARNESS_MAIN
