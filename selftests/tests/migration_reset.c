// SPDX-License-Identifier: GPL-2.0
/*
 * migration_reset: a migration session cut short.
 *  - VFIO_DEVICE_RESET in PRE_COPY, STOP_COPY (stream partly read, a
 *    second thread reading the fd meanwhile) and RESUMING (stream partly
 *    written): the device is RUNNING, the fd gives -ENODEV;
 *  - a thread using the saving fd while the device moves between PRE_COPY
 *    states and the guest changes its PF configuration;
 *  - the device fd closed while the data fd stays open (STOP_COPY,
 *    RESUMING), and the reverse order;
 *  - the device unbound from its driver (sysfs) with a migration fd open in
 *    STOP_COPY or RESUMING: the unbind waits for the device fd, then
 *    completes with only the data fd left open, which gives -ENODEV; the VF
 *    is bound again to igbvf-vfio-pci.
 * Every case: no hang (alarm), and the VF works afterwards (PF mailbox
 * handshake, a stream can be saved). The lab fails the run on a kernel
 * splat.
 *
 * Env: IVF_VF2 (bound to igbvf-vfio-pci; unbound and bound again), IVF_DRIVER.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ivf.h"
#include "ktap.h"
#include "mig.h"
#include "mig_states.h"
#include "migstream.h"
#include "util.h"

KTAP_DEFINE_STATE();

static const char *bdf;
static const char *drv;
static uint8_t *stream;
static size_t stream_len;

static void on_alarm(int sig)
{
	static const char msg[] = "not ok - migration_reset: timed out (hang?)\n";

	(void)sig;
	if (write(1, msg, sizeof(msg) - 1) < 0)
		_exit(3);
	_exit(1);
}

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

/* open the VF, RUNNING expected; with the userspace driver on top */
static int dev_open(struct vfio_dev *d, struct ivf *v)
{
	uint32_t s = 0;
	int ret;

	ret = vfio_dev_open(d, bdf);
	if (ret)
		return ret;
	ret = mig_get_state(d, &s);
	if (!ret && s != S_RUNNING)
		ret = -EPROTO;
	if (!ret)
		ret = ivf_open(v, d, IVF_ACCESS_MMAP);
	if (ret)
		vfio_dev_close(d);
	return ret;
}

static void dev_close(struct vfio_dev *d, struct ivf *v)
{
	ivf_close(v);
	vfio_dev_close(d);
}

/* the VF works: handshake, and a whole stream can be saved */
static int usable(struct vfio_dev *d, struct ivf *v, char *why, size_t len)
{
	uint8_t *buf = NULL;
	size_t n = 0;
	struct ms_stream s;
	int ret, fd = -1;
	ssize_t r;

	ret = ivf_reset(v);
	if (ret || !v->cts) {
		snprintf(why, len, "handshake: %s", err_str(ret ? ret : -EPROTO));
		return -EPROTO;
	}
	ret = mig_set_state(d, S_STOP_COPY, &fd);
	if (ret || fd < 0) {
		snprintf(why, len, "RUNNING -> STOP_COPY: %s", err_str(ret));
		return -EPROTO;
	}
	r = mig_read_all(fd, &buf, &n);
	close(fd);
	ret = r < 0 ? (int)r : ms_parse(&s, buf, n);
	free(buf);
	if (ret) {
		snprintf(why, len, "saving %zu bytes: %s", n, err_str(ret));
		return ret;
	}
	ret = mig_set_state(d, S_RUNNING, NULL);
	if (ret) {
		snprintf(why, len, "STOP_COPY -> RUNNING: %s", err_str(ret));
		return ret;
	}
	snprintf(why, len, "handshake, %zu-byte stream saved", n);
	return 0;
}

/*
 * Start a session: PRE_COPY or STOP_COPY (part of the stream read), or
 * RESUMING (half the stream written). Returns the data fd or -errno.
 */
static int start_session(struct vfio_dev *d, uint32_t state)
{
	uint8_t buf[64];
	int ret, fd = -1;

	ret = mig_set_state(d, state, &fd);
	if (ret)
		return ret;
	if (fd < 0)
		return -EBADF;
	if (state == S_RESUMING)
		ret = mig_write_all(fd, stream, stream_len / 2, 0);
	else
		ret = read(fd, buf, sizeof(buf)) == sizeof(buf) ? 0 : -EIO;
	if (ret) {
		close(fd);
		return ret;
	}
	return fd;
}

/* a thread that keeps using a saving fd */
struct hammer {
	pthread_t th;
	int fd;
	volatile int stop;
	unsigned long ops, enodev;
	int last;
};

static void *hammer_fn(void *arg)
{
	struct hammer *h = arg;

	while (!h->stop) {
		h->last = (h->ops & 1) ? fd_ioctl(h->fd) : fd_io(h->fd, false);
		h->ops++;
		if (h->last == -ENODEV)
			h->enodev++;
	}
	return NULL;
}

static void test_reset(struct vfio_dev *d, struct ivf *v, uint32_t state)
{
	struct hammer h = { .fd = -1 };
	bool resuming = state == S_RESUMING;
	char why[160];
	uint32_t s = 0;
	int fd, ret, io, ioc;

	fd = start_session(d, state);
	if (!ktap_check(fd >= 0, "%s: session started (%s)",
			mig_state_name(state), err_str(fd < 0 ? fd : 0)))
		return;
	if (!resuming) {
		h.fd = fd;
		if (pthread_create(&h.th, NULL, hammer_fn, &h))
			h.fd = -1;
		usleep(20000);
	}
	ret = vfio_dev_reset(d);
	if (!ret)
		ret = mig_get_state(d, &s);
	if (h.fd >= 0) {
		usleep(20000);
		h.stop = 1;
		pthread_join(h.th, NULL);
	}
	io = fd_io(fd, resuming);
	ioc = fd_ioctl(fd);
	ktap_check(!ret && s == S_RUNNING && io == -ENODEV && ioc == -ENODEV,
		   "VFIO_DEVICE_RESET in %s: %s, state %s; %s %s, ioctl %s (ENODEV)",
		   mig_state_name(state), err_str(ret), mig_state_name(s),
		   resuming ? "write" : "read", err_str(io), err_str(ioc));
	if (h.fd >= 0)
		ktap_check(h.last == -ENODEV,
			   "%s: a thread using the fd during the reset: %lu calls, %lu ENODEV, last %s",
			   mig_state_name(state), h.ops, h.enodev,
			   err_str(h.last));
	close(fd);
	ret = usable(d, v, why, sizeof(why));
	ktap_check(!ret, "%s reset: the VF works after: %s",
		   mig_state_name(state), why);
}

/* close the device fd first (@data_last) or the data fd first */
static void test_close(struct vfio_dev *d, struct ivf *v, uint32_t state,
		       bool data_last)
{
	bool resuming = state == S_RESUMING;
	const char *sn = mig_state_name(state);
	char why[160];
	uint32_t s = 0;
	int fd, ret, io, ioc;

	fd = start_session(d, state);
	if (!ktap_check(fd >= 0, "%s: session started (%s)", sn,
			err_str(fd < 0 ? fd : 0)))
		return;
	if (data_last) {
		dev_close(d, v);
		io = fd_io(fd, resuming);
		ioc = fd_ioctl(fd);
		ktap_check(io == -ENODEV && ioc == -ENODEV,
			   "%s, device fd closed first: data fd %s %s, ioctl %s (ENODEV)",
			   sn, resuming ? "write" : "read", err_str(io),
			   err_str(ioc));
		ret = dev_open(d, v);
		ktap_check(!ret, "%s: reopened while the old data fd is open: RUNNING (%s)",
			   sn, err_str(ret));
		io = fd_io(fd, resuming);
		ktap_check(io == -ENODEV, "%s: the old data fd still gives %s (ENODEV)",
			   sn, err_str(io));
		close(fd);
		if (ret)
			return;
	} else {
		close(fd);
		ret = mig_get_state(d, &s);
		ktap_check(!ret && s == state,
			   "%s, data fd closed first: the device stays in %s (%s)",
			   sn, mig_state_name(s), err_str(ret));
		if (resuming) {
			ret = mig_set_state(d, S_STOP, NULL);
			ktap_check(ret == -ENODATA,
				   "RESUMING with half a stream, fd closed: -> STOP %s (ENODATA)",
				   err_str(ret));
		}
		dev_close(d, v);
		ret = dev_open(d, v);
		ktap_check(!ret, "%s: device closed and reopened: RUNNING (%s)",
			   sn, err_str(ret));
		if (ret)
			return;
	}
	ret = usable(d, v, why, sizeof(why));
	ktap_check(!ret, "%s close (%s last): the VF works after: %s", sn,
		   data_last ? "data fd" : "device fd", why);
}

/*
 * The saving fd used by a second thread while the device moves between
 * PRE_COPY and PRE_COPY_P2P, the guest changes its PF configuration
 * (new CONFIG packets), then STOP_COPY and a reset. The thread may only
 * see data, ENOMSG, EOF, EINVAL (PRECOPY_INFO outside PRE_COPY) or ENODEV.
 */
struct racer {
	pthread_t th;
	int fd;
	volatile int stop;
	unsigned long ops, odd;
	int odd_err;
};

static void *racer_fn(void *arg)
{
	struct racer *r = arg;
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

static void test_race(struct vfio_dev *d, struct ivf *v)
{
	struct racer r = { .fd = -1 };
	int ret = 0, i, bad = 0;
	char why[160];

	ret = ivf_reset(v);
	if (!ret)
		ret = mig_set_state(d, S_PRE_COPY, &r.fd);
	if (!ktap_check(!ret && r.fd >= 0, "race: PRE_COPY session (%s)",
			err_str(ret)))
		return;
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
			ktap_info("race: round %d: %s", i, err_str(ret));
	}
	ret = mig_set_state(d, S_STOP_COPY, NULL);
	usleep(50000);
	if (!ret)
		ret = vfio_dev_reset(d);
	usleep(50000);
	r.stop = 1;
	pthread_join(r.th, NULL);
	close(r.fd);
	ktap_check(!bad && !ret && !r.odd,
		   "race: 60 rounds of PRE_COPY <-> PRE_COPY_P2P and guest config changes, STOP_COPY, reset, with a thread on the fd (%lu calls, %lu odd, last odd %s)",
		   r.ops, r.odd, r.odd ? strerror(r.odd_err) : "none");
	ret = usable(d, v, why, sizeof(why));
	ktap_check(!ret, "race: the VF works after: %s", why);
}

struct unbinder {
	pthread_t th;
	volatile int done;
	int ret;
};

static void *unbind_fn(void *arg)
{
	struct unbinder *u = arg;
	char path[256];

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver/unbind",
		 bdf);
	u->ret = write_str_file(path, bdf);
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

static void test_unbind(struct vfio_dev *d, struct ivf *v, uint32_t state)
{
	bool resuming = state == S_RESUMING;
	const char *sn = mig_state_name(state);
	struct unbinder u = { 0 };
	char cur[64], why[160];
	int fd, ret, io, ioc;
	bool blocked, done;

	fd = start_session(d, state);
	if (!ktap_check(fd >= 0, "%s: session started (%s)", sn,
			err_str(fd < 0 ? fd : 0)))
		return;
	if (pthread_create(&u.th, NULL, unbind_fn, &u)) {
		ktap_check(false, "%s: unbind thread", sn);
		close(fd);
		return;
	}
	blocked = !wait_done(&u, 500);
	ktap_check(blocked, "%s: unbind waits while the device fd is open", sn);
	/* the session still works while the unbind waits */
	if (blocked && !resuming) {
		io = fd_io(fd, false);
		ktap_check(io == 0 || io == -ENOMSG,
			   "%s: the data fd still reads while unbind waits (%s)",
			   sn, err_str(io));
	}
	dev_close(d, v);
	done = wait_done(&u, 15000);
	ktap_check(done && !u.ret,
		   "%s: unbind completes once the device fd is closed, data fd still open (%s)",
		   sn, done ? err_str(u.ret) : "still blocked");
	io = fd_io(fd, resuming);
	ioc = fd_ioctl(fd);
	ktap_check(io == -ENODEV && ioc == -ENODEV,
		   "%s: after unbind the data fd: %s %s, ioctl %s (ENODEV)", sn,
		   resuming ? "write" : "read", err_str(io), err_str(ioc));
	close(fd);
	if (!done)
		done = wait_done(&u, 15000);
	if (!done) {
		ktap_check(false, "%s: unbind never completed", sn);
		ktap_finish();	/* the thread is stuck in the kernel */
	}
	pthread_join(u.th, NULL);
	sysfs_pci_driver(bdf, cur, sizeof(cur));
	ktap_check(!cur[0], "%s: the VF has no driver now ('%s')", sn, cur);

	ret = sysfs_pci_bind(bdf, drv);
	if (!ret)
		ret = dev_open(d, v);
	if (!ktap_check(!ret, "%s: bound again to %s and opened: RUNNING (%s)",
			sn, drv, err_str(ret)))
		ktap_finish();
	ret = usable(d, v, why, sizeof(why));
	ktap_check(!ret, "%s unbind: the VF works after: %s", sn, why);
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
		ktap_info("slab poisoning is off (kmalloc-2k/4k/8k): a use of the freed device after unbind would go unseen; boot with slub_debug=P to catch it");
}

int main(void)
{
	struct vfio_dev d;
	struct ivf v;
	uint64_t flags, t0 = now_ns();
	char cur[64], why[160];
	int ret, fd = -1;

	bdf = env_need("IVF_VF2");
	drv = ivf_driver_name();
	ktap_header("migration_reset: reset, close and unbind mid-migration");
	signal(SIGALRM, on_alarm);
	alarm(300);
	ret = sysfs_pci_driver(bdf, cur, sizeof(cur));
	if (ret || strcmp(cur, drv))
		ktap_skip_all("%s is bound to '%s', not %s", bdf, cur, drv);

	ret = dev_open(&d, &v);
	if (!ktap_check(!ret, "open %s: RUNNING (%s)", bdf, err_str(ret)))
		ktap_finish();
	ret = mig_flags(&d, &flags);
	if (ret == -ENOTTY)
		ktap_skip_all("no VFIO_DEVICE_FEATURE_MIGRATION (ENOTTY)");

	/* a stream of this VF, for the RESUMING sessions */
	ret = ivf_reset(&v);
	if (!ret)
		ret = mig_set_state(&d, S_STOP_COPY, &fd);
	if (!ret && mig_read_all(fd, &stream, &stream_len) < 0)
		ret = -EIO;
	if (fd >= 0)
		close(fd);
	if (!ret)
		ret = mig_set_state(&d, S_RUNNING, NULL);
	if (!ktap_check(!ret && stream_len > 16, "a %zu-byte stream of the VF saved (%s)",
			stream_len, err_str(ret)))
		goto out;
	ret = usable(&d, &v, why, sizeof(why));
	ktap_check(!ret, "the VF works to start with: %s", why);

	test_reset(&d, &v, S_PRE_COPY);
	test_reset(&d, &v, S_STOP_COPY);
	test_reset(&d, &v, S_RESUMING);

	test_race(&d, &v);

	test_close(&d, &v, S_STOP_COPY, true);
	test_close(&d, &v, S_RESUMING, true);
	test_close(&d, &v, S_PRE_COPY, true);
	test_close(&d, &v, S_STOP_COPY, false);
	test_close(&d, &v, S_RESUMING, false);

	note_poisoning();
	test_unbind(&d, &v, S_STOP_COPY);
	test_unbind(&d, &v, S_RESUMING);
	ktap_info("%.1f s", (now_ns() - t0) / 1e9);
out:
	dev_close(&d, &v);
	free(stream);
	ktap_finish();
}
