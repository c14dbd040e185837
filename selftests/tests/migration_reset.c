// SPDX-License-Identifier: GPL-2.0
/*
 * migration_reset: a migration session cut short. Each case starts from
 * the fixture: IVF_VF2 open through the variant's backend, RUNNING, with
 * the userspace driver on top, a stream of it saved (for the RESUMING
 * sessions), and the VF working (PF mailbox handshake, a stream can be
 * saved). Its teardown closes the device and binds the VF to
 * igbvf-vfio-pci again if a case left it without. Every case: no hang (the
 * harness's timeout), and the VF works afterwards (handshake, a whole
 * stream saved). The lab fails the run on a kernel splat.
 *
 * The variants are the ways to the device:
 *   container  group + type1 container
 *   cdev_log   the device's cdev bound to iommufd (DMA logging for dirty
 *              pages, unused here)
 * A variant the running kernel cannot do skips, saying why.
 *
 * VFIO_DEVICE_RESET mid-session (STOP_COPY with part of the stream read,
 * a second thread reading the fd meanwhile, as in PRE_COPY; RESUMING with
 * half the stream written): the device is RUNNING, the fd gives -ENODEV:
 *   reset_in_pre_copy_ends_session
 *   reset_in_stop_copy_ends_session
 *   reset_in_resuming_ends_session
 * A thread using the saving fd while the device moves between PRE_COPY
 * and PRE_COPY_P2P and the guest changes its PF configuration, then
 * STOP_COPY and a reset: it sees only data, ENOMSG, EOF, EINVAL or ENODEV:
 *   saving_fd_racing_state_and_config_changes_sees_no_odd_error
 * The device fd closed while the data fd stays open: the data fd gives
 * -ENODEV, also once the device is opened again:
 *   device_fd_closed_first_in_stop_copy
 *   device_fd_closed_first_in_resuming
 *   device_fd_closed_first_in_pre_copy
 * The data fd closed first: the device stays in its state (RESUMING with
 * half a stream refuses STOP with ENODATA), then closes and reopens:
 *   data_fd_closed_first_in_stop_copy
 *   data_fd_closed_first_in_resuming
 * The device unbound from its driver (sysfs) with a migration fd open: the
 * unbind waits for the device fd (the data fd still reads meanwhile), then
 * completes with only the data fd left open, which gives -ENODEV; the VF
 * has no driver, and is bound again to igbvf-vfio-pci:
 *   unbind_in_stop_copy_waits_for_device_fd
 *   unbind_in_resuming_waits_for_device_fd
 *
 * Env: IVF_VF2 (bound to igbvf-vfio-pci; unbound and bound again), IVF_DRIVER.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fixture.h"
#include "ivf.h"
#include "mig.h"
#include "mig_states.h"
#include "util.h"

#include "kselftest_harness.h"
#include "backends.h"

/* a case takes 1-5 s on TCG; a sanitizer kernel's unbind is slow */
#define CASE_TIMEOUT 300

/*
 * A case that is one step on a session: @step (test_reset(), test_close(),
 * test_unbind()) with the session's state and the step's own arguments.
 */
#define SESSION_CASE(name, step, ...)					\
	TEST_F_TIMEOUT(migration_reset, name, CASE_TIMEOUT)		\
	{								\
		step(_metadata, self, __VA_ARGS__);			\
	}

FIXTURE(migration_reset) {
	const char *bdf, *drv;
	struct vfio_backend backend;
	struct vfio_dev d;
	struct ivf v;
	bool open;		/* d and v */
	uint8_t *stream;	/* a stream of the VF, for RESUMING */
	size_t stream_len;
	bool unbind_stuck;	/* a thread is stuck in the unbind */
};

/*
 * container: type1 group/container
 * cdev_log: the device's cdev on iommufd
 */
IVF_BACKENDS(migration_reset);

/* errno of one read (saving) or write (resuming) on a data fd */
static int fd_io(int fd, bool resuming)
{
	uint8_t buf[64] = { 0 };
	ssize_t n;

	n = resuming ? write(fd, buf, 8) : read(fd, buf, sizeof(buf));
	return n < 0 ? -errno : 0;
}

static int fd_ioctl(int fd)
{
	uint64_t a, b;

	return mig_precopy_info(fd, &a, &b);
}

/* the VF open in RUNNING, the userspace driver on top (vf_open_running()) */
static int dev_open(FIXTURE_DATA(migration_reset) *self)
{
	int ret;

	ret = vf_open_running(&self->d, &self->v, self->bdf, &self->backend);
	self->open = !ret;
	return ret;
}

static void dev_close(FIXTURE_DATA(migration_reset) *self)
{
	if (!self->open)
		return;
	ivf_close(&self->v);
	vfio_dev_close(&self->d);
	self->open = false;
}

FIXTURE_SETUP(migration_reset)
{
	uint64_t flags;
	const char *miss;
	char why[160];
	int ret, fd = -1;

	self->bdf = env_get("IVF_VF2");
	self->drv = ivf_driver_name();
	self->backend = variant->backend;
	miss = vf_unusable(self->bdf, "IVF_VF2 is needed", self->drv,
			   &self->backend);
	if (miss)
		SKIP(return, "%s", miss);

	ret = dev_open(self);
	ASSERT_EQ(0, ret) TH_LOG("open %s: RUNNING (%s)", self->bdf,
				 err_str(ret));
	ret = mig_flags(&self->d, &flags);
	if (ret == -ENOTTY) {
		dev_close(self);
		SKIP(return, "no VFIO_DEVICE_FEATURE_MIGRATION (ENOTTY)");
	}

	/* a stream of this VF, for the RESUMING sessions */
	ret = ivf_reset(&self->v);
	if (!ret)
		ret = mig_set_state(&self->d, S_STOP_COPY, &fd);
	if (!ret && mig_read_all(fd, &self->stream, &self->stream_len) < 0)
		ret = -EIO;
	if (fd >= 0)
		close(fd);
	if (!ret)
		ret = mig_set_state(&self->d, S_RUNNING, NULL);
	if (ret || self->stream_len <= 16)
		dev_close(self);
	ASSERT_TRUE(!ret && self->stream_len > 16)
		TH_LOG("a %zu-byte stream of the VF saved (%s)",
		       self->stream_len, err_str(ret));
	ret = vf_works(&self->d, &self->v, why, sizeof(why));
	if (ret)
		dev_close(self);
	ASSERT_EQ(0, ret) TH_LOG("the VF works to start with: %s", why);
}

FIXTURE_TEARDOWN(migration_reset)
{
	char cur[64] = "";
	int ret;

	dev_close(self);
	free(self->stream);
	/* a thread stuck in the unbind holds the device: leave it */
	if (self->unbind_stuck)
		return;
	sysfs_pci_driver(self->bdf, cur, sizeof(cur));
	if (!strcmp(cur, self->drv))
		return;
	ret = sysfs_pci_bind(self->bdf, self->drv);
	EXPECT_EQ(0, ret) TH_LOG("bind %s to %s again: %s", self->bdf,
				 self->drv, err_str(ret));
}

/*
 * Start a session: PRE_COPY or STOP_COPY (part of the stream read), or
 * RESUMING (half the stream written). Returns the data fd or -errno.
 */
static int start_session(FIXTURE_DATA(migration_reset) *self, uint32_t state)
{
	uint8_t buf[64];
	int ret, fd = -1;

	ret = mig_set_state(&self->d, state, &fd);
	if (ret)
		return ret;
	if (fd < 0)
		return -EBADF;
	if (state == S_RESUMING)
		ret = mig_write_all(fd, self->stream, self->stream_len / 2, 0);
	else
		ret = read(fd, buf, sizeof(buf)) == sizeof(buf) ? 0 : -EIO;
	if (ret) {
		close(fd);
		return ret;
	}
	return fd;
}

/* a session as start_session() starts it; the case ends without one */
static int session_started(struct __test_metadata *_metadata,
			   FIXTURE_DATA(migration_reset) *self, uint32_t state)
{
	int fd = start_session(self, state);

	ASSERT_LE(0, fd) TH_LOG("%s: session started (%s)",
				mig_state_name(state),
				err_str(fd < 0 ? fd : 0));
	return fd;
}

/* the VF works after the case's step (vf_works()); @fmt names the step */
static void __attribute__((format(printf, 3, 4)))
works_after(struct __test_metadata *_metadata,
	    FIXTURE_DATA(migration_reset) *self, const char *fmt, ...)
{
	char what[96], why[160];
	va_list ap;
	int ret;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	ret = vf_works(&self->d, &self->v, why, sizeof(why));
	EXPECT_EQ(0, ret) TH_LOG("%s: the VF works after: %s", what, why);
}

/* ---------------------------------------------------------------- reset */

/*
 * A thread that keeps using a saving fd until told to stop: hammer_fn()
 * counts the calls that gave ENODEV and keeps the last result, racer_fn()
 * counts the results outside those it may see.
 */
struct fd_user {
	pthread_t th;
	int fd;
	volatile int stop;
	unsigned long ops;
	unsigned long enodev;	/* hammer_fn() */
	int last;
	unsigned long odd;	/* racer_fn() */
	int odd_err;
};

static void *hammer_fn(void *arg)
{
	struct fd_user *h = arg;

	while (!h->stop) {
		h->last = (h->ops & 1) ? fd_ioctl(h->fd) : fd_io(h->fd, false);
		h->ops++;
		if (h->last == -ENODEV)
			h->enodev++;
	}
	return NULL;
}

static void test_reset(struct __test_metadata *_metadata,
		       FIXTURE_DATA(migration_reset) *self, uint32_t state)
{
	struct fd_user h = { .fd = -1 };
	bool resuming = state == S_RESUMING;
	const char *sn = mig_state_name(state);
	uint32_t s = 0;
	int fd, ret, io, ioc;

	fd = session_started(_metadata, self, state);
	if (!resuming) {
		h.fd = fd;
		if (pthread_create(&h.th, NULL, hammer_fn, &h))
			h.fd = -1;
		usleep(20000);
	}
	ret = vfio_dev_reset(&self->d);
	if (!ret)
		ret = mig_get_state(&self->d, &s);
	if (h.fd >= 0) {
		usleep(20000);
		h.stop = 1;
		pthread_join(h.th, NULL);
	}
	io = fd_io(fd, resuming);
	ioc = fd_ioctl(fd);
	TH_LOG("VFIO_DEVICE_RESET in %s: %s, state %s; %s %s, ioctl %s",
	       sn, err_str(ret), mig_state_name(s),
	       resuming ? "write" : "read", err_str(io), err_str(ioc));
	EXPECT_TRUE(!ret && s == S_RUNNING && io == -ENODEV && ioc == -ENODEV)
		TH_LOG("the reset must succeed, leave RUNNING, and the data fd give ENODEV");
	if (h.fd >= 0) {
		TH_LOG("%s: a thread using the fd during the reset: %lu calls, %lu ENODEV, last %s",
		       sn, h.ops, h.enodev, err_str(h.last));
		EXPECT_EQ(-ENODEV, h.last)
			TH_LOG("the thread's last call must give ENODEV");
	}
	close(fd);
	works_after(_metadata, self, "%s reset", sn);
}

SESSION_CASE(reset_in_pre_copy_ends_session, test_reset, S_PRE_COPY)
SESSION_CASE(reset_in_stop_copy_ends_session, test_reset, S_STOP_COPY)
SESSION_CASE(reset_in_resuming_ends_session, test_reset, S_RESUMING)

/* ----------------------------------------------------------------- race */

/*
 * The saving fd used by a second thread while the device moves between
 * PRE_COPY and PRE_COPY_P2P, the guest changes its PF configuration
 * (new CONFIG packets), then STOP_COPY and a reset. The thread may only
 * see data, ENOMSG, EOF, EINVAL (PRECOPY_INFO outside PRE_COPY) or ENODEV.
 */
static void *racer_fn(void *arg)
{
	struct fd_user *r = arg;
	uint8_t buf[256];

	while (!r->stop) {
		uint64_t a, b;
		ssize_t n = read(r->fd, buf, 1 + r->ops % sizeof(buf));
		int e = n < 0 ? errno : 0;
		int ret = mig_precopy_info(r->fd, &a, &b);

		r->ops++;
		if (e && e != ENOMSG && e != ENODEV) {
			r->odd++;
			r->odd_err = e;
		}
		if (ret && ret != -EINVAL && ret != -ENODEV) {
			r->odd++;
			r->odd_err = -ret;
		}
	}
	return NULL;
}

TEST_F_TIMEOUT(migration_reset,
	       saving_fd_racing_state_and_config_changes_sees_no_odd_error,
	       CASE_TIMEOUT)
{
	struct vfio_dev *d = &self->d;
	struct ivf *v = &self->v;
	struct fd_user r = { .fd = -1 };
	int ret = 0, i, bad = 0;

	ret = ivf_reset(v);
	if (!ret)
		ret = mig_set_state(d, S_PRE_COPY, &r.fd);
	ASSERT_TRUE(!ret && r.fd >= 0) TH_LOG("race: PRE_COPY session (%s)",
					      err_str(ret));
	if (pthread_create(&r.th, NULL, racer_fn, &r)) {
		close(r.fd);
		return;
	}
	for (i = 0; i < 60; i++) {
		ret = mig_set_state(d, VFIO_DEVICE_STATE_PRE_COPY_P2P, NULL);
		if (!ret)
			ret = mig_set_state(d, S_PRE_COPY, NULL);
		if (!ret)
			ret = ivf_set_vlan(v, 100 + (i / 2) % 8, i % 2 == 0);
		if (ret && bad++ < 3)
			TH_LOG("race: round %d: %s", i, err_str(ret));
	}
	ret = mig_set_state(d, S_STOP_COPY, NULL);
	usleep(50000);
	if (!ret)
		ret = vfio_dev_reset(d);
	usleep(50000);
	r.stop = 1;
	pthread_join(r.th, NULL);
	close(r.fd);
	TH_LOG("race: %d rounds failed; STOP_COPY and reset: %s; the thread on the fd: %lu calls, %lu odd, last odd %s",
	       bad, err_str(ret), r.ops, r.odd,
	       r.odd ? strerror(r.odd_err) : "none");
	EXPECT_TRUE(!bad && !ret && !r.odd)
		TH_LOG("60 rounds of PRE_COPY <-> PRE_COPY_P2P and guest config changes, STOP_COPY, reset: no error, nothing odd on the fd");
	works_after(_metadata, self, "race");
}

/* ---------------------------------------------------------------- close */

/*
 * The data fd of a session in state @sn outlived its device (@when): its
 * read (its write, @resuming) and its ioctl give ENODEV
 */
static void data_fd_gone(struct __test_metadata *_metadata, int fd,
			 bool resuming, const char *sn, const char *when)
{
	int io = fd_io(fd, resuming), ioc = fd_ioctl(fd);

	EXPECT_TRUE(io == -ENODEV && ioc == -ENODEV)
		TH_LOG("%s, %s: data fd %s %s, ioctl %s (ENODEV)", sn, when,
		       resuming ? "write" : "read", err_str(io),
		       err_str(ioc));
}

/* close the device fd first (@data_last) or the data fd first */
static void test_close(struct __test_metadata *_metadata,
		       FIXTURE_DATA(migration_reset) *self, uint32_t state,
		       bool data_last)
{
	bool resuming = state == S_RESUMING;
	const char *sn = mig_state_name(state);
	uint32_t s = 0;
	int fd, ret, io;

	fd = session_started(_metadata, self, state);
	if (data_last) {
		dev_close(self);
		data_fd_gone(_metadata, fd, resuming, sn,
			     "device fd closed first");
		ret = dev_open(self);
		EXPECT_EQ(0, ret)
			TH_LOG("%s: reopened while the old data fd is open: RUNNING (%s)",
			       sn, err_str(ret));
		io = fd_io(fd, resuming);
		EXPECT_EQ(-ENODEV, io)
			TH_LOG("%s: the old data fd still gives %s (ENODEV)",
			       sn, err_str(io));
		close(fd);
		if (ret)
			return;
	} else {
		close(fd);
		ret = mig_get_state(&self->d, &s);
		EXPECT_TRUE(!ret && s == state)
			TH_LOG("%s, data fd closed first: the device stays in %s (%s)",
			       sn, mig_state_name(s), err_str(ret));
		if (resuming) {
			ret = mig_set_state(&self->d, S_STOP, NULL);
			EXPECT_EQ(-ENODATA, ret)
				TH_LOG("RESUMING with half a stream, fd closed: -> STOP %s (ENODATA)",
				       err_str(ret));
		}
		dev_close(self);
		ret = dev_open(self);
		EXPECT_EQ(0, ret)
			TH_LOG("%s: device closed and reopened: RUNNING (%s)",
			       sn, err_str(ret));
		if (ret)
			return;
	}
	works_after(_metadata, self, "%s close (%s last)", sn,
		    data_last ? "data fd" : "device fd");
}

SESSION_CASE(device_fd_closed_first_in_stop_copy, test_close, S_STOP_COPY, true)
SESSION_CASE(device_fd_closed_first_in_resuming, test_close, S_RESUMING, true)
SESSION_CASE(device_fd_closed_first_in_pre_copy, test_close, S_PRE_COPY, true)
SESSION_CASE(data_fd_closed_first_in_stop_copy, test_close, S_STOP_COPY, false)
SESSION_CASE(data_fd_closed_first_in_resuming, test_close, S_RESUMING, false)

/* --------------------------------------------------------------- unbind */

struct unbinder {
	pthread_t th;
	const char *bdf;
	volatile int done;
	int ret;
};

static void *unbind_fn(void *arg)
{
	struct unbinder *u = arg;
	char path[256];

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver/unbind",
		 u->bdf);
	u->ret = write_str_file(path, u->bdf);
	u->done = 1;
	return NULL;
}

static bool wait_done(struct unbinder *u, int ms)
{
	while (!u->done && ms > 0) {
		usleep(10000);
		ms -= 10;
	}
	return u->done;
}

/*
 * A data fd used after its device was unbound and freed is only caught if
 * freed slab objects are poisoned (slub_debug=P): say whether they are.
 */
static void note_poisoning(void)
{
	char path[128], buf[16];
	int sizes[] = { 2048, 4096, 8192 }, on = 0, i;

	for (i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "/sys/kernel/slab/kmalloc-%dk/poison",
			 sizes[i] / 1024);
		if (!read_str_file(path, buf, sizeof(buf)) && buf[0] == '1')
			on++;
	}
	if (on < 3)
		ksft_print_msg("slab poisoning is off (kmalloc-2k/4k/8k): a use of the freed device after unbind would go unseen; boot with slub_debug=P to catch it\n");
}

static void test_unbind(struct __test_metadata *_metadata,
			FIXTURE_DATA(migration_reset) *self, uint32_t state)
{
	bool resuming = state == S_RESUMING;
	const char *sn = mig_state_name(state);
	struct unbinder u = { .bdf = self->bdf };
	char cur[64];
	int fd, ret, io;
	bool blocked, done;

	note_poisoning();
	fd = session_started(_metadata, self, state);
	ASSERT_EQ(0, pthread_create(&u.th, NULL, unbind_fn, &u))
		TH_LOG("%s: unbind thread", sn);
	blocked = !wait_done(&u, 500);
	EXPECT_TRUE(blocked)
		TH_LOG("%s: unbind must wait while the device fd is open", sn);
	/* the session still works while the unbind waits */
	if (blocked && !resuming) {
		io = fd_io(fd, false);
		EXPECT_TRUE(io == 0 || io == -ENOMSG)
			TH_LOG("%s: the data fd must still read while unbind waits (%s)",
			       sn, err_str(io));
	}
	dev_close(self);
	done = wait_done(&u, 15000);
	EXPECT_TRUE(done && !u.ret)
		TH_LOG("%s: unbind must complete once the device fd is closed, data fd still open (%s)",
		       sn, done ? err_str(u.ret) : "still blocked");
	data_fd_gone(_metadata, fd, resuming, sn, "after unbind");
	close(fd);
	if (!done)
		done = wait_done(&u, 15000);
	/* else the thread is stuck in the kernel */
	self->unbind_stuck = !done;
	ASSERT_TRUE(done) TH_LOG("%s: unbind never completed", sn);
	pthread_join(u.th, NULL);
	sysfs_pci_driver(self->bdf, cur, sizeof(cur));
	EXPECT_EQ(0, cur[0]) TH_LOG("%s: the VF has no driver now ('%s')", sn,
				    cur);

	ret = sysfs_pci_bind(self->bdf, self->drv);
	if (!ret)
		ret = dev_open(self);
	ASSERT_EQ(0, ret) TH_LOG("%s: bound again to %s and opened: RUNNING (%s)",
				 sn, self->drv, err_str(ret));
	works_after(_metadata, self, "%s unbind", sn);
}

SESSION_CASE(unbind_in_stop_copy_waits_for_device_fd, test_unbind, S_STOP_COPY)
SESSION_CASE(unbind_in_resuming_waits_for_device_fd, test_unbind, S_RESUMING)

TEST_HARNESS_MAIN
