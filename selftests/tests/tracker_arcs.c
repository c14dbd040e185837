// SPDX-License-Identifier: GPL-2.0
/*
 * tracker_arcs: the dirty tracker's view of the RX queues agrees with the
 * device across every migration arc that starts, reloads or resets it, and
 * a queue disable the guest writes always reaches the device (else the
 * device keeps writing into buffers the guest has freed: memory corruption
 * without any migration).
 *
 * Each case opens VF0 afresh (the fixture: the peer; a tracker lives until
 * close, which the teardown does, with the device back in RUNNING), sets
 * its rings up, moves frames from the peer, then takes one arc. The
 * variants are the backends every case runs on:
 *   container  group + type1 container; PRE_COPY starts the tracker
 *   cdev_log   the device's cdev bound to iommufd; DMA logging (LOG_START)
 *              starts it
 * A variant (or case) the running kernel cannot do skips, saying why.
 *
 *   p2p_start_on_quiesced_device_follows_queue
 *            RUNNING -> RUNNING_P2P -> PRE_COPY_P2P (tracking starts on a
 *            quiesced device; through iommufd, by a LOG_START in
 *            RUNNING_P2P) -> PRE_COPY
 *   log_start_in_stop_follows_queue
 *            (DMA logging kernels) RUNNING -> STOP, LOG_START, -> RUNNING
 *   restore_into_same_vf_follows_queue
 *            tracked (PRE_COPY, or LOG_START through iommufd); STOP_COPY
 *            saved, RESUMING restored into the same VF (the tracker
 *            reloads) -> RUNNING
 *   reset_in_stop_polls_again
 *            tracked; RUNNING -> STOP, VFIO_DEVICE_RESET: the guest sets
 *            the VF up again and its frames must arrive (the poller must
 *            not stay paused)
 *   low_power_engages_no_tracker
 *            VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY, then RUNNING -> PRE_COPY
 *            and LOG_START: the tracker does not read a device in low
 *            power (refused with a log line, nothing engaged); after
 *            LOW_POWER_EXIT and a reset the VF works
 * After each arc (not low power): the guest's RXDCTL (the shadow) and the
 * device's agree, the guest's disable reaches the device within 500 ms and
 * stops reception, and its enable brings reception back.
 *
 * And the rule that the device is never given a descriptor whose buffers
 * are not armed:
 *   srrctl_change_keeps_owned_buffers_armed
 *            SRRCTL changed on the running queue: every descriptor the
 *            device owns is armed for the new sizes
 *   tail_past_ring_held_from_device
 *            RDT past the ring is held from the device
 *   unreadable_ring_gives_device_nothing
 *            the ring moved to an unmapped IOVA: no descriptor can be
 *            read, the device gets none
 *   half_mapped_buffer_pulses_mapped_page_only
 *            (type1) a buffer whose second page is not mapped goes to the
 *            device; once written, its mapped page is pulsed alone (the
 *            other counted as not mapped)
 *
 * And, whatever the tracker:
 *   poll_us_refuses_out_of_range
 *            dirty_poll_us refuses 4294967295 and 0
 *   new_user_gets_no_old_queue_registers
 *            what one user left in queue 1's registers, the next one does
 *            not read
 *
 * Usage: the kselftest harness's: -l lists, -v VARIANT, -t CASE filter.
 * Env: IVF_VF0, IVF_PEER_NS, IVF_PEER_IF.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>

#include "dirty.h"
#include "dtraffic.h"
#include "fixture.h"
#include "frame.h"
#include "ivf.h"
#include "kmsg.h"
#include "mig.h"
#include "mig_states.h"
#include "peer.h"
#include "util.h"

#include "kselftest_harness.h"
#include "backends.h"

/* a case runs a few seconds on TCG; a sanitizer kernel up to 20 times that */
#define CASE_TIMEOUT	240

/* the case's device, guest and peer (each case runs in its own process) */
static const char *bdf;
static struct vfio_backend backend;
static struct peer peer;
static struct vfio_dev d;
static struct ivf v;
static uint32_t seq;

/* one line of the driver's debugfs "dirty" file about RX queue 0 */
static int dbg_rx0(const char *reg, uint32_t *shadow, uint32_t *dev)
{
	char path[160], line[256], want[32];
	FILE *f;
	int ret = -ENOENT;

	snprintf(path, sizeof(path), "/sys/kernel/debug/igbvf-vfio-pci/%s/dirty",
		 bdf);
	snprintf(want, sizeof(want), "rx0 %s shadow", reg);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned int a, b, c;

		if (strncmp(line, want, strlen(want)))
			continue;
		if (sscanf(line + strlen(want), " 0x%x seen 0x%x device 0x%x",
			   &a, &b, &c) == 3) {
			*shadow = a;
			*dev = c;
			ret = 0;
		}
		break;
	}
	fclose(f);
	return ret;
}

/* a number of the debugfs "dirty" file ("tracking 1"): it, or -errno */
static int dbg_flag(const char *name)
{
	uint64_t val;
	int ret = ivf_dbg_u64(bdf, "dirty", name, &val);

	return ret ? ret : (int)val;
}

/* peer sends @n frames to the VF; how many the VF receives in @ms */
static int rx_frames(int n, int ms)
{
	return vf_rx_burst(&v, &peer, n, ms, &seq);
}

FIXTURE(tracker_arcs) {
	bool peer_open;
	bool dev_open, ivf_open;
	int fd;			/* a migration data fd a case holds */
	struct vfio_dma one;	/* half-mapped: the one page mapped */
	uint8_t *buf;		/* restore: the saved stream */
};

/*
 * container: type1 group/container: PRE_COPY starts the tracker
 * cdev_log: the device's cdev on iommufd: DMA logging starts the tracker
 */
IVF_BACKENDS(tracker_arcs);

FIXTURE_SETUP(tracker_arcs)
{
	const char *ns, *ifname, *why;
	int ret;

	self->fd = -1;
	backend = variant->backend;
	why = vf_peer_unusable(&bdf, &ns, &ifname, NULL, &backend);
	if (why)
		SKIP(return, "%s", why);
	ret = peer_open(&peer, ns, ifname, FRAME_ETHERTYPE);
	ASSERT_EQ(0, ret)
		TH_LOG("peer on %s in netns %s: %s", ifname, ns, err_str(ret));
	self->peer_open = true;
}

static void down(FIXTURE_DATA(tracker_arcs) *self)
{
	if (self->ivf_open)
		ivf_close(&v);
	if (self->dev_open)
		vfio_dev_close(&d);
	self->ivf_open = self->dev_open = false;
}

FIXTURE_TEARDOWN(tracker_arcs)
{
	if (self->fd >= 0)
		close(self->fd);
	self->fd = -1;
	if (self->dev_open) {
		vfio_dma_free(&d, &self->one);
		mig_set_state(&d, S_RUNNING, NULL);
	}
	down(self);
	free(self->buf);
	if (self->peer_open)
		peer_close(&peer);
}

/* open the VF and its userspace driver (no reset, no rings); 0 or -errno */
static int open_dev(FIXTURE_DATA(tracker_arcs) *self)
{
	int ret;

	ret = vfio_dev_open_backend(&d, bdf, &backend);
	if (ret)
		return ret;
	self->dev_open = true;
	ret = ivf_open(&v, &d, IVF_ACCESS_MMAP);
	if (ret)
		return ret;
	self->ivf_open = true;
	return 0;
}

/* the VF open afresh, reset, rings up, 8 frames in */
static void up(struct __test_metadata *_metadata,
	       FIXTURE_DATA(tracker_arcs) *self, const char *w)
{
	int ret, got = -1;

	ret = open_dev(self);
	if (!ret)
		ret = ivf_reset(&v);
	if (!ret)
		ret = ivf_rings_setup(&v, NULL);
	if (!ret) {
		got = rx_frames(8, 2000);
		if (got < 8)
			ret = -EIO;
	}
	ASSERT_EQ(0, ret)
		TH_LOG("%s: VF up, frames flow (%d of 8): %s", w, got,
		       err_str(ret));
}

/*
 * Wait until the device's queue 0 is enabled (@on) or not, as the guest
 * asked through the shadow: the poller forwards it within a poll. 0, or
 * -ETIMEDOUT after 500 ms.
 */
static int device_follows(bool on, uint32_t *dev)
{
	uint64_t end = now_ns() + 500000000ull;
	uint32_t sh;
	int ret;

	for (;;) {
		ret = dbg_rx0("rxdctl", &sh, dev);
		if (ret)
			return ret;
		if (!!(*dev & IVF_XDCTL_ENABLE) == on)
			return 0;
		if (now_ns() > end)
			return -ETIMEDOUT;
		usleep(2000);
	}
}

/*
 * The guest disables queue 0 (@on false) or enables it again (writes back
 * @rxdctl, its enabled RXDCTL): the device follows; none of 4 frames
 * arrive into the disabled queue, all of 8 into the enabled one.
 */
static void guest_sets_queue(struct __test_metadata *_metadata,
			     uint32_t rxdctl, bool on, const char *when)
{
	uint32_t dev = 0;
	int ret, got;

	ivf_wr(&v, IVF_RXDCTL(0), on ? rxdctl : rxdctl & ~IVF_XDCTL_ENABLE);
	ret = device_follows(on, &dev);
	EXPECT_EQ(0, ret)
		TH_LOG("%s: the guest's %s must reach the device (device RXDCTL 0x%08x)",
		       when, on ? "enable" : "queue disable", dev);
	got = on ? rx_frames(8, 2000) : rx_frames(4, 300);
	EXPECT_EQ(on ? 8 : 0, got)
		TH_LOG("%s: %s", when,
		       on ? "enabled again, 8 of 8 frames received" :
		       "nothing may be received into the disabled queue");
}

/*
 * The device runs: the guest's RXDCTL (read through its mapping) and the
 * device's agree on ENABLE. Then the guest disables queue 0: the device
 * follows and receives nothing; the guest enables it: frames arrive.
 */
static void check_queue(struct __test_metadata *_metadata, const char *when)
{
	uint32_t guest, sh = 0, dev = 0;
	int ret, got;

	guest = ivf_rd(&v, IVF_RXDCTL(0));
	ret = dbg_rx0("rxdctl", &sh, &dev);
	TH_LOG("%s: RXDCTL guest 0x%08x shadow 0x%08x device 0x%08x", when,
	       guest, sh, dev);
	EXPECT_TRUE(!ret && (guest & IVF_XDCTL_ENABLE) &&
		    (dev & IVF_XDCTL_ENABLE) && sh == guest)
		TH_LOG("%s: they must agree (enabled)", when);
	got = rx_frames(8, 2000);
	EXPECT_EQ(8, got) TH_LOG("%s: 8 of 8 frames received", when);

	guest_sets_queue(_metadata, guest, false, when);
	/* Frames that arrive before the enable reaches the device drop. */
	guest_sets_queue(_metadata, guest, true, when);
}

/* a migration state the arc needs: the case ends if it is refused */
static void set(struct __test_metadata *_metadata, uint32_t st, int *fd,
		const char *when)
{
	int ret = mig_set_state(&d, st, fd);

	ASSERT_EQ(0, ret) TH_LOG("%s: -> %s: %s", when, mig_state_name(st),
				 err_str(ret));
}

/*
 * Through iommufd (DMA logging) PRE_COPY starts nothing: DMA logging
 * runs the tracker. Start it here in that mode; a no-op otherwise.
 */
static void log_start(struct __test_metadata *_metadata, const char *when)
{
	struct vfio_device_feature_dma_logging_range r;
	uint64_t pgsz = 4096;
	int ret;

	if (!d.dirty_log)
		return;
	dirty_log_span(&d, &r);
	ret = dirty_log_start(&d, &r, 1, &pgsz);
	ASSERT_EQ(0, ret) TH_LOG("%s: LOG_START: %s", when, err_str(ret));
}

static void tracking(struct __test_metadata *_metadata, const char *when)
{
	int t = dbg_flag("tracking");

	EXPECT_EQ(1, t) TH_LOG("%s: tracking (%d)", when, t);
}

/*
 * The VF up, then a migration started and cancelled: DMA logging started
 * (where the variant logs), RUNNING -> PRE_COPY, the data fd closed,
 * PRE_COPY -> RUNNING. The tracker is left on.
 */
static void up_after_cancelled_migration(struct __test_metadata *_metadata,
					 FIXTURE_DATA(tracker_arcs) *self,
					 const char *w)
{
	up(_metadata, self, w);
	log_start(_metadata, w);
	set(_metadata, S_PRE_COPY, &self->fd, w);
	close(self->fd);
	self->fd = -1;
	set(_metadata, S_RUNNING, NULL, w);
}

/* ---------------------------------------------------------------- arcs */

TEST_F_TIMEOUT(tracker_arcs, p2p_start_on_quiesced_device_follows_queue,
	       CASE_TIMEOUT)
{
	const char *w = "p2p";
	int ret;

	up(_metadata, self, w);
	set(_metadata, S_P2P, NULL, w);
	log_start(_metadata, w);
	set(_metadata, S_PRE_COPY_P2P, &self->fd, w);
	set(_metadata, S_PRE_COPY, NULL, w);
	tracking(_metadata, w);
	check_queue(_metadata, w);
	close(self->fd);
	self->fd = -1;
	ret = mig_set_state(&d, S_RUNNING, NULL);
	EXPECT_EQ(0, ret)
		TH_LOG("%s: -> RUNNING: %s", w, err_str(ret));
}

TEST_F_TIMEOUT(tracker_arcs, log_start_in_stop_follows_queue, CASE_TIMEOUT)
{
	struct vfio_device_feature_dma_logging_range r;
	const char *w = "log";
	uint64_t pgsz = 4096;
	int ret;

	up(_metadata, self, w);
	ret = dirty_log_probe(&d);
	if (ret)
		SKIP(return, "no DMA logging on this kernel (%s)",
		     err_str(ret));
	set(_metadata, S_STOP, NULL, w);
	dirty_log_span(&d, &r);
	ret = dirty_log_start(&d, &r, 1, &pgsz);
	EXPECT_EQ(0, ret)
		TH_LOG("%s: LOG_START while STOP: %s", w, err_str(ret));
	set(_metadata, S_RUNNING, NULL, w);
	check_queue(_metadata, w);
	dirty_log_stop(&d);
}

TEST_F_TIMEOUT(tracker_arcs, restore_into_same_vf_follows_queue, CASE_TIMEOUT)
{
	const char *w = "restore";
	size_t len = 0;
	int ret;

	up_after_cancelled_migration(_metadata, self, w);
	set(_metadata, S_STOP_COPY, &self->fd, w);
	ret = mig_read_all(self->fd, &self->buf, &len) < 0 ? -EIO : 0;
	close(self->fd);
	self->fd = -1;
	ASSERT_EQ(0, ret) TH_LOG("%s: %zu-byte stream saved", w, len);
	TH_LOG("%s: %zu-byte stream saved", w, len);
	set(_metadata, S_STOP, NULL, w);
	set(_metadata, S_RESUMING, &self->fd, w);
	ret = mig_write_all(self->fd, self->buf, len, 0);
	close(self->fd);
	self->fd = -1;
	ASSERT_EQ(0, ret)
		TH_LOG("%s: stream written back: %s", w, err_str(ret));
	set(_metadata, S_STOP, NULL, w);
	set(_metadata, S_RUNNING, NULL, w);
	tracking(_metadata, w);
	check_queue(_metadata, w);
}

TEST_F_TIMEOUT(tracker_arcs, reset_in_stop_polls_again, CASE_TIMEOUT)
{
	const char *w = "reset";
	uint32_t dev = 0;
	int ret, got, paused;

	up_after_cancelled_migration(_metadata, self, w);
	set(_metadata, S_STOP, NULL, w);
	ret = vfio_dev_reset(&d);
	ASSERT_EQ(0, ret)
		TH_LOG("%s: VFIO_DEVICE_RESET in STOP: %s", w, err_str(ret));
	paused = dbg_flag("paused");
	EXPECT_EQ(0, paused)
		TH_LOG("%s: the tracker must poll again (paused %d)", w,
		       paused);
	ret = ivf_reset(&v);
	ASSERT_TRUE(!ret && v.cts)
		TH_LOG("%s: guest handshake again: %s", w, err_str(ret));
	ivf_rings_program(&v, NULL, NULL);
	ret = device_follows(true, &dev);
	got = rx_frames(8, 2000);
	TH_LOG("%s: rings set up again: device RXDCTL 0x%08x, %d of 8 frames received",
	       w, dev, got);
	EXPECT_TRUE(!ret && got == 8)
		TH_LOG("%s: the device must have the rings and frames arrive",
		       w);
	check_queue(_metadata, w);
}

static int low_power(bool enter)
{
	struct vfio_device_feature f = {
		.argsz = sizeof(f),
		.flags = VFIO_DEVICE_FEATURE_SET |
			 (enter ? VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY :
				  VFIO_DEVICE_FEATURE_LOW_POWER_EXIT),
	};

	return ioctl(d.fd, VFIO_DEVICE_FEATURE, &f) ? -errno : 0;
}

TEST_F_TIMEOUT(tracker_arcs, low_power_engages_no_tracker, CASE_TIMEOUT)
{
	struct vfio_device_feature_dma_logging_range r;
	const char *w = "lowpower";
	char log[1024];
	uint64_t pgsz = 4096;
	struct kmsg k;
	int ret, t;

	up(_metadata, self, w);
	ret = low_power(true);
	if (ret)
		SKIP(return, "LOW_POWER_ENTRY: %s", err_str(ret));
	kmsg_open(&k);
	if (!dirty_log_probe(&d)) {
		dirty_log_span(&d, &r);
		ret = dirty_log_start(&d, &r, 1, &pgsz);
		EXPECT_EQ(-EIO, ret)
			TH_LOG("%s: LOG_START in low power must be refused with EIO (%s)",
			       w, err_str(ret));
		if (!ret)
			dirty_log_stop(&d);
	}
	ret = mig_set_state(&d, S_PRE_COPY, &self->fd);
	EXPECT_EQ(0, ret)
		TH_LOG("%s: -> PRE_COPY in low power: %s", w, err_str(ret));
	if (!ret) {
		t = dbg_flag("tracking");
		EXPECT_EQ(0, t)
			TH_LOG("%s: no tracker may read the device in low power (tracking %d)",
			       w, t);
		ret = kmsg_read(&k, "not accessible", log, sizeof(log));
		EXPECT_LT(0, ret)
			TH_LOG("%s: the kernel log must say why", w);
		close(self->fd);
		self->fd = -1;
	}
	kmsg_close(&k);
	mig_set_state(&d, S_RUNNING, NULL);
	ret = low_power(false);
	EXPECT_EQ(0, ret)
		TH_LOG("%s: LOW_POWER_EXIT: %s", w, err_str(ret));
	ret = vf_reset_and_ready(&d, &v);
	if (!ret)
		ret = rx_frames(8, 2000) == 8 ? 0 : -EIO;
	EXPECT_EQ(0, ret)
		TH_LOG("%s: after a reset the VF must work: %s", w,
		       err_str(ret));
}

/* -------------------------------------------------------- armed or held */

/* "posted" of RX queue 0 in the debugfs file, or -1 */
static long long dbg_posted(void)
{
	char path[160], line[256];
	long long posted = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/kernel/debug/igbvf-vfio-pci/%s/dirty",
		 bdf);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char *p = strstr(line, " posted ");

		if (!strncmp(line, "rx0 ring ", 9) && p) {
			posted = atoll(p + 8);
			break;
		}
	}
	fclose(f);
	return posted;
}

/* tracked up and running: PRE_COPY (type1) or LOG_START (iommufd) */
static void up_tracked(struct __test_metadata *_metadata,
		       FIXTURE_DATA(tracker_arcs) *self, const char *w)
{
	int t;

	up(_metadata, self, w);
	log_start(_metadata, w);
	if (!d.dirty_log)
		set(_metadata, S_PRE_COPY, &self->fd, w);
	t = dbg_flag("tracking");
	ASSERT_EQ(1, t) TH_LOG("%s: tracking (%d)", w, t);
}

/* wait for the device's RX queue 0 tail to become @want; its value */
static uint32_t device_rdt(uint32_t want)
{
	uint64_t end = now_ns() + 300000000ull;
	uint32_t sh, dev = UINT32_MAX;

	while (!dbg_rx0("rdt", &sh, &dev) && dev != want && now_ns() < end)
		usleep(2000);
	return dev;
}

/*
 * The guest changes SRRCTL on an enabled queue: the buffers the device
 * owns stay armed (for the new sizes), and frames still flow.
 */
TEST_F_TIMEOUT(tracker_arcs, srrctl_change_keeps_owned_buffers_armed,
	       CASE_TIMEOUT)
{
	const char *w = "srrctl";
	uint32_t srr, rdh, rdt;
	long long posted, owned;
	int got;

	up_tracked(_metadata, self, w);
	srr = ivf_rd(&v, IVF_SRRCTL(0));
	ivf_wr(&v, IVF_SRRCTL(0), (srr & ~IVF_SRRCTL_BSIZEPKT_MASK) | 1);
	usleep(50000);
	/* the head as the poller last read it from the device, the tail */
	rdh = ivf_rd(&v, IVF_RDH(0));
	rdt = ivf_rd(&v, IVF_RDT(0));
	posted = dbg_posted();
	owned = (rdt + v.rx_count - rdh) % v.rx_count;
	TH_LOG("%s: after an SRRCTL change on the running queue the device owns %lld descriptors, %lld armed",
	       w, owned, posted);
	EXPECT_TRUE(posted >= 0 && posted == owned && owned > 0)
		TH_LOG("%s: all the descriptors the device owns must be armed",
		       w);
	got = rx_frames(8, 2000);
	EXPECT_EQ(8, got) TH_LOG("%s: 8 of 8 frames received", w);
}

/* A tail (or head) past the ring never reaches the device. */
TEST_F_TIMEOUT(tracker_arcs, tail_past_ring_held_from_device, CASE_TIMEOUT)
{
	const char *w = "past-ring";
	uint32_t rdt, dev;
	int got, held;

	up_tracked(_metadata, self, w);
	rdt = ivf_rd(&v, IVF_RDT(0));
	ivf_wr(&v, IVF_RDT(0), v.rx_count + 3);
	usleep(50000);
	dev = device_rdt(v.rx_count + 3);
	EXPECT_LT(dev, v.rx_count)
		TH_LOG("%s: RDT %u (ring of %u) must be held from the device (device RDT %u)",
		       w, v.rx_count + 3, v.rx_count, dev);
	held = dbg_flag("held_tails");
	EXPECT_LT(0, held) TH_LOG("%s: counted as held (%d)", w, held);
	ivf_wr(&v, IVF_RDT(0), rdt);
	dev = device_rdt(rdt);
	got = rx_frames(8, 2000);
	TH_LOG("%s: the tail back in the ring: device RDT %u (%u), %d of 8 frames received",
	       w, dev, rdt, got);
	EXPECT_TRUE(dev == rdt && got == 8)
		TH_LOG("%s: a tail in the ring again must reach the device and frames flow",
		       w);
}

/*
 * The guest moves its ring to an IOVA that is not mapped: no descriptor
 * can be read, so none is armed and the device gets none of them (its
 * tail stays at its head); the ring moved back, frames flow again.
 */
TEST_F_TIMEOUT(tracker_arcs, unreadable_ring_gives_device_nothing,
	       CASE_TIMEOUT)
{
	const char *w = "unreadable";
	uint32_t sh, bal, rdh, rdt, grdh, grdt;
	uint64_t fails0 = 0, fails = 0;
	int got, held;

	up_tracked(_metadata, self, w);
	ivf_dbg_u64(bdf, "dirty", "pin_failures", &fails0);
	held = dbg_flag("held_tails");
	bal = ivf_rd(&v, IVF_RDBAL(0));
	ivf_wr(&v, IVF_RDBAL(0), 0x7e000000);
	usleep(100000);
	grdh = ivf_rd(&v, IVF_RDH(0));
	grdt = ivf_rd(&v, IVF_RDT(0));
	dbg_rx0("rdh", &sh, &rdh);
	dbg_rx0("rdt", &sh, &rdt);
	ivf_dbg_u64(bdf, "dirty", "pin_failures", &fails);
	TH_LOG("%s: ring at unmapped IOVA 0x7e000000, %u descriptors posted: device RDH %u RDT %u, %llu descriptor reads failed",
	       w, (grdt + v.rx_count - grdh) % v.rx_count, rdh, rdt,
	       (unsigned long long)(fails - fails0));
	EXPECT_TRUE(rdt == rdh && grdt != grdh && fails > fails0 &&
		    dbg_flag("held_tails") > held)
		TH_LOG("%s: the device must own none of them, the reads fail, the tail held",
		       w);
	ivf_wr(&v, IVF_RDBAL(0), bal);
	device_rdt(ivf_rd(&v, IVF_RDT(0)));
	got = rx_frames(8, 2000);
	EXPECT_EQ(8, got)
		TH_LOG("%s: the ring back, 8 of 8 frames received", w);
}

/*
 * type1: a buffer that is only half mapped (its second page is not). The
 * tracker pins nothing ahead: the device gets the buffer, and once written
 * its mapped page is pinned for an instant alone (the other one counted
 * as not mapped).
 */
TEST_F_TIMEOUT(tracker_arcs, half_mapped_buffer_pulses_mapped_page_only,
	       CASE_TIMEOUT)
{
	const char *w = "half-mapped";
	uint64_t un0 = 0, un1 = 0;
	uint8_t buf[FRAME_MAX];
	uint32_t rdt, slot, dev, sh, dh = 0, k;
	size_t len;
	int ret;

	up_tracked(_metadata, self, w);
	if (d.dirty_log)
		SKIP(return, "DMA logging pins nothing");
	ret = vfio_dma_alloc(&d, &self->one, 4096, 0x70000000);
	ASSERT_EQ(0, ret)
		TH_LOG("%s: one page mapped at 0x70000000, the next not: %s",
		       w, err_str(ret));
	/* Let the device fill 8 buffers; the guest doesn't take them yet. */
	ivf_rx_poll(&v, NULL, NULL, 256);
	for (k = 0; k < 8; k++) {
		len = frame_build(buf, v.mac, peer.mac, 7, seq++, FRAME_MIN);
		peer_send(&peer, buf, len);
	}
	usleep(300000);
	rdt = ivf_rd(&v, IVF_RDT(0));
	slot = rdt;
	v.rx_ring[slot].read.pkt_addr = 0x70000000 + 3072;
	__sync_synchronize();
	ivf_wr(&v, IVF_RDT(0), (rdt + 1) % v.rx_count);
	usleep(50000);
	dev = device_rdt((rdt + 1) % v.rx_count);
	EXPECT_EQ((rdt + 1) % v.rx_count, dev)
		TH_LOG("%s: the tail must go through (device RDT %u, guest %u)",
		       w, dev, (rdt + 1) % v.rx_count);
	ivf_dbg_u64(bdf, "dirty", "pulse_unmapped", &un0);
	/* frames up to and into that descriptor */
	dbg_rx0("rdh", &sh, &dh);
	for (k = (slot + v.rx_count - dh) % v.rx_count + 1; k; k--) {
		len = frame_build(buf, v.mac, peer.mac, 7, seq++, FRAME_MIN);
		peer_send(&peer, buf, len);
	}
	usleep(300000);
	ivf_dbg_u64(bdf, "dirty", "pulse_unmapped", &un1);
	TH_LOG("%s: written: pulse_unmapped %llu -> %llu", w,
	       (unsigned long long)un0, (unsigned long long)un1);
	EXPECT_LT(un0, un1)
		TH_LOG("%s: its unmapped page must be left out of the pulse",
		       w);
}

/* ------------------------------------------------------ any tracker */

/*
 * dirty_poll_us is bounded: near UINT_MAX the poller slept 71 minutes and
 * closing the device waited for it.
 */
TEST_F_TIMEOUT(tracker_arcs, poll_us_refuses_out_of_range, CASE_TIMEOUT)
{
	const char *p = "/sys/module/igbvf_vfio_pci/parameters/dirty_poll_us";
	char before[32] = "", after[32] = "";
	int bad_big, bad_zero;

	if (read_str_file(p, before, sizeof(before)))
		SKIP(return, "no %s", p);
	bad_big = write_str_file(p, "4294967295");
	bad_zero = write_str_file(p, "0");
	read_str_file(p, after, sizeof(after));
	TH_LOG("dirty_poll_us: 4294967295 (%s), 0 (%s): %s before, %s after",
	       err_str(bad_big), err_str(bad_zero), before, after);
	EXPECT_TRUE(bad_big && bad_zero && !strcmp(before, after))
		TH_LOG("dirty_poll_us must refuse both and stay as it was");
}

/*
 * A new user gets a VF with nothing of the last user's rings: one user
 * leaves queue 1 programmed (addresses, length, indices), the next reads
 * it back after open. (FLR resets them on the 82576; QEMU's model keeps
 * them, so the driver clears them at open.)
 */
TEST_F_TIMEOUT(tracker_arcs, new_user_gets_no_old_queue_registers,
	       CASE_TIMEOUT)
{
	static const uint32_t regs[] = {
		IVF_RDBAL(1), IVF_RDLEN(1), IVF_RDH(1), IVF_RDT(1),
		IVF_TDBAL(1), IVF_TDLEN(1), IVF_TDH(1), IVF_TDT(1),
		IVF_TDWBAL(1),
	};
	const char *w = "fresh";
	unsigned int i, left = 0;
	int ret;

	ret = open_dev(self);
	ASSERT_EQ(0, ret) TH_LOG("%s: open: %s", w, err_str(ret));
	for (i = 0; i < sizeof(regs) / sizeof(regs[0]); i++)
		ivf_wr(&v, regs[i], 0x1280 + 8 * i);
	down(self);
	ret = open_dev(self);
	ASSERT_EQ(0, ret) TH_LOG("%s: reopen: %s", w, err_str(ret));
	for (i = 0; i < sizeof(regs) / sizeof(regs[0]); i++)
		if (ivf_rd(&v, regs[i]))
			left++;
	TH_LOG("%s: %u of %zu of the last user's queue registers left", w,
	       left, sizeof(regs) / sizeof(regs[0]));
	EXPECT_EQ(0u, left)
		TH_LOG("%s: the next user must read none of them", w);
}

TEST_HARNESS_MAIN
