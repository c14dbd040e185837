// SPDX-License-Identifier: GPL-2.0
/*
 * tracker_arcs: the dirty tracker's view of the RX queues agrees with the
 * device across every migration arc that starts, reloads or resets it, and
 * a queue disable the guest writes always reaches the device (else the
 * device keeps writing into buffers the guest has freed: memory corruption
 * without any migration).
 *
 * Each case opens VF0 afresh (a tracker lives until close), sets its rings
 * up, moves frames from the peer, then:
 *   p2p      RUNNING -> RUNNING_P2P -> PRE_COPY_P2P (tracking starts on a
 *            quiesced device; through iommufd, by a LOG_START in
 *            RUNNING_P2P) -> PRE_COPY
 *   log      (DMA logging kernels) RUNNING -> STOP, LOG_START, -> RUNNING
 *   restore  tracked (PRE_COPY, or LOG_START through iommufd); STOP_COPY saved, RESUMING restored into the same VF
 *            (the tracker reloads) -> RUNNING
 *   reset    tracked; RUNNING -> STOP, VFIO_DEVICE_RESET: the guest sets
 *            the VF up again and its frames must arrive (the poller must
 *            not stay paused)
 *   lowpower VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY, then RUNNING -> PRE_COPY
 *            and LOG_START: the tracker does not read a device in low
 *            power (refused with a log line, nothing engaged)
 * After each: the guest's RXDCTL (the shadow) and the device's agree, the
 * guest's disable reaches the device within 500 ms and stops reception,
 * and its enable brings reception back.
 *
 * And the rule that the device is never given a descriptor whose buffers
 * are not armed:
 *   srrctl    SRRCTL changed on the running queue: every descriptor the
 *             device owns is armed for the new sizes
 *   past-ring RDT past the ring is held from the device
 *   unreadable the ring moved to an unmapped IOVA: no descriptor can be
 *             read, the device gets none
 *   half-mapped (type1) a buffer whose second page is not mapped goes
 *             to the device; once written, its mapped page is pulsed
 *             alone (the other counted as not mapped)
 *
 * Env: IVF_VF0, IVF_PEER_NS, IVF_PEER_IF, IVF_VFIO, IVF_DIRTY.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>

#include "dirty.h"
#include "dtraffic.h"
#include "frame.h"
#include "ivf.h"
#include "kmsg.h"
#include "ktap.h"
#include "mig.h"
#include "mig_states.h"
#include "peer.h"
#include "util.h"

KTAP_DEFINE_STATE();

static const char *bdf;
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

static int up(void)
{
	int ret, got;

	ret = vfio_dev_open(&d, bdf);
	if (ret)
		return ret;
	ret = ivf_open(&v, &d, IVF_ACCESS_MMAP);
	if (ret) {
		vfio_dev_close(&d);
		return ret;
	}
	ret = ivf_reset(&v);
	if (!ret)
		ret = ivf_rings_setup(&v, NULL);
	if (!ret) {
		got = rx_frames(8, 2000);
		if (got < 8)
			ret = -EIO;
	}
	if (ret) {
		ivf_close(&v);
		vfio_dev_close(&d);
	}
	return ret;
}

static void down(void)
{
	ivf_close(&v);
	vfio_dev_close(&d);
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
 * The device runs: the guest's RXDCTL (read through its mapping) and the
 * device's agree on ENABLE. Then the guest disables queue 0: the device
 * follows and receives nothing; the guest enables it: frames arrive.
 */
static void check_queue(const char *when)
{
	uint32_t guest, sh = 0, dev = 0, rxdctl;
	int ret, got;

	guest = ivf_rd(&v, IVF_RXDCTL(0));
	ret = dbg_rx0("rxdctl", &sh, &dev);
	ktap_check(!ret && (guest & IVF_XDCTL_ENABLE) &&
		   (dev & IVF_XDCTL_ENABLE) && sh == guest,
		   "%s: RXDCTL guest 0x%08x shadow 0x%08x device 0x%08x agree (enabled)",
		   when, guest, sh, dev);
	got = rx_frames(8, 2000);
	ktap_check(got == 8, "%s: 8 of 8 frames received (%d)", when, got);

	rxdctl = guest;
	ivf_wr(&v, IVF_RXDCTL(0), rxdctl & ~IVF_XDCTL_ENABLE);
	ret = device_follows(false, &dev);
	ktap_check(!ret,
		   "%s: the guest's queue disable reached the device (device RXDCTL 0x%08x)",
		   when, dev);
	got = rx_frames(4, 300);
	ktap_check(got == 0,
		   "%s: nothing received into the disabled queue (%d frames)",
		   when, got);

	/* Frames that arrive before the enable reaches the device drop. */
	ivf_wr(&v, IVF_RXDCTL(0), rxdctl);
	ret = device_follows(true, &dev);
	ktap_check(!ret,
		   "%s: the guest's enable reached the device (device RXDCTL 0x%08x)",
		   when, dev);
	got = rx_frames(8, 2000);
	ktap_check(got == 8, "%s: enabled again, 8 of 8 frames received (%d)",
		   when, got);
}

static bool set(uint32_t st, int *fd, const char *when)
{
	int ret = mig_set_state(&d, st, fd);

	return ktap_check(!ret, "%s: -> %s: %s", when, mig_state_name(st),
			  err_str(ret));
}

/*
 * Through iommufd (IVF_DIRTY=log) PRE_COPY starts nothing: DMA logging
 * runs the tracker. Start it here in that mode; a no-op otherwise.
 */
static bool log_start(const char *when)
{
	struct vfio_device_feature_dma_logging_range r;
	uint64_t pgsz = 4096;
	int ret;

	if (!d.dirty_log)
		return true;
	dirty_log_span(&d, &r);
	ret = dirty_log_start(&d, &r, 1, &pgsz);
	return ktap_check(!ret, "%s: LOG_START: %s", when, err_str(ret));
}

static void case_p2p(void)
{
	const char *w = "p2p";
	int fd = -1;

	if (!ktap_check(!up(), "%s: VF up, frames flow", w))
		return;
	if (set(S_P2P, NULL, w) && log_start(w) &&
	    set(S_PRE_COPY_P2P, &fd, w) && set(S_PRE_COPY, NULL, w)) {
		ktap_check(dbg_flag("tracking") == 1, "%s: tracking", w);
		check_queue(w);
	}
	if (fd >= 0)
		close(fd);
	set(S_RUNNING, NULL, w);
	down();
}

static void case_log(void)
{
	struct vfio_device_feature_dma_logging_range r;
	const char *w = "log";
	uint64_t pgsz = 4096;
	int ret;

	if (!ktap_check(!up(), "%s: VF up, frames flow", w))
		return;
	ret = dirty_log_probe(&d);
	if (ret) {
		ktap_info("%s: no DMA logging on this kernel (%s): case left out",
			  w, err_str(ret));
		down();
		return;
	}
	if (set(S_STOP, NULL, w)) {
		dirty_log_span(&d, &r);
		ret = dirty_log_start(&d, &r, 1, &pgsz);
		ktap_check(!ret, "%s: LOG_START while STOP: %s", w,
			   err_str(ret));
		if (set(S_RUNNING, NULL, w))
			check_queue(w);
		dirty_log_stop(&d);
	}
	down();
}

static void case_restore(void)
{
	const char *w = "restore";
	uint8_t *buf = NULL;
	size_t len = 0;
	int fd = -1, ret;

	if (!ktap_check(!up(), "%s: VF up, frames flow", w))
		return;
	if (!log_start(w) || !set(S_PRE_COPY, &fd, w))
		goto out;
	close(fd);
	fd = -1;
	if (!set(S_RUNNING, NULL, w) || !set(S_STOP_COPY, &fd, w))
		goto out;
	ret = mig_read_all(fd, &buf, &len) < 0 ? -EIO : 0;
	close(fd);
	fd = -1;
	if (!ktap_check(!ret, "%s: %zu-byte stream saved", w, len) ||
	    !set(S_STOP, NULL, w) || !set(S_RESUMING, &fd, w))
		goto out;
	ret = mig_write_all(fd, buf, len, 0);
	close(fd);
	fd = -1;
	if (ktap_check(!ret, "%s: stream written back: %s", w, err_str(ret)) &&
	    set(S_STOP, NULL, w) && set(S_RUNNING, NULL, w)) {
		ktap_check(dbg_flag("tracking") == 1, "%s: tracking", w);
		check_queue(w);
	}
out:
	free(buf);
	mig_set_state(&d, S_RUNNING, NULL);
	down();
}

static void case_reset(void)
{
	const char *w = "reset";
	int fd = -1, ret, got;

	if (!ktap_check(!up(), "%s: VF up, frames flow", w))
		return;
	if (!log_start(w) || !set(S_PRE_COPY, &fd, w))
		goto out;
	close(fd);
	if (!set(S_RUNNING, NULL, w) || !set(S_STOP, NULL, w))
		goto out;
	ret = vfio_dev_reset(&d);
	if (!ktap_check(!ret, "%s: VFIO_DEVICE_RESET in STOP: %s", w,
			err_str(ret)))
		goto out;
	ktap_check(dbg_flag("paused") == 0,
		   "%s: the tracker polls again (paused %d)", w,
		   dbg_flag("paused"));
	ret = ivf_reset(&v);
	if (ktap_check(!ret && v.cts, "%s: guest handshake again: %s", w,
		       err_str(ret))) {
		uint32_t dev = 0;

		ivf_rings_program(&v, NULL, NULL);
		ret = device_follows(true, &dev);
		got = rx_frames(8, 2000);
		ktap_check(!ret && got == 8,
			   "%s: rings set up again: the device has them (RXDCTL 0x%08x), 8 of 8 frames received (%d)",
			   w, dev, got);
		check_queue(w);
	}
out:
	down();
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

static void case_lowpower(void)
{
	struct vfio_device_feature_dma_logging_range r;
	const char *w = "lowpower";
	char log[1024];
	uint64_t pgsz = 4096;
	struct kmsg k;
	int fd = -1, ret;

	if (!ktap_check(!up(), "%s: VF up, frames flow", w))
		return;
	ret = low_power(true);
	if (ret) {
		ktap_info("%s: LOW_POWER_ENTRY: %s: case left out", w,
			  err_str(ret));
		goto out;
	}
	kmsg_open(&k);
	if (!dirty_log_probe(&d)) {
		dirty_log_span(&d, &r);
		ret = dirty_log_start(&d, &r, 1, &pgsz);
		ktap_check(ret == -EIO,
			   "%s: LOG_START in low power: EIO (%s)", w,
			   err_str(ret));
		if (!ret)
			dirty_log_stop(&d);
	}
	if (set(S_PRE_COPY, &fd, w)) {
		ktap_check(dbg_flag("tracking") == 0,
			   "%s: RUNNING -> PRE_COPY in low power: no tracker reading the device (tracking %d)",
			   w, dbg_flag("tracking"));
		ret = kmsg_read(&k, "not accessible", log, sizeof(log));
		ktap_check(ret > 0, "%s: the kernel log says why", w);
		close(fd);
	}
	kmsg_close(&k);
	mig_set_state(&d, S_RUNNING, NULL);
	ret = low_power(false);
	ktap_check(!ret, "%s: LOW_POWER_EXIT: %s", w, err_str(ret));
	ret = vfio_dev_reset(&d);
	if (!ret)
		ret = ivf_reset(&v);
	if (!ret) {
		ivf_rings_program(&v, NULL, NULL);
		usleep(100000);
		ret = rx_frames(8, 2000) == 8 ? 0 : -EIO;
	}
	ktap_check(!ret, "%s: after a reset the VF works: %s", w,
		   err_str(ret));
out:
	down();
}

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
static bool up_tracked(const char *w, int *fd)
{
	*fd = -1;
	if (!ktap_check(!up(), "%s: VF up, frames flow", w))
		return false;
	if (!log_start(w))
		return false;
	if (!d.dirty_log && !set(S_PRE_COPY, fd, w))
		return false;
	return ktap_check(dbg_flag("tracking") == 1, "%s: tracking", w);
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
static void case_srrctl(void)
{
	const char *w = "srrctl";
	uint32_t srr, rdh, rdt;
	long long posted, owned;
	int fd, got;

	if (!up_tracked(w, &fd))
		goto out;
	srr = ivf_rd(&v, IVF_SRRCTL(0));
	ivf_wr(&v, IVF_SRRCTL(0), (srr & ~IVF_SRRCTL_BSIZEPKT_MASK) | 1);
	usleep(50000);
	/* the head as the poller last read it from the device, the tail */
	rdh = ivf_rd(&v, IVF_RDH(0));
	rdt = ivf_rd(&v, IVF_RDT(0));
	posted = dbg_posted();
	owned = (rdt + v.rx_count - rdh) % v.rx_count;
	ktap_check(posted >= 0 && posted == owned && owned > 0,
		   "%s: after an SRRCTL change on the running queue, all %lld descriptors the device owns are armed (%lld)",
		   w, owned, posted);
	got = rx_frames(8, 2000);
	ktap_check(got == 8, "%s: 8 of 8 frames received (%d)", w, got);
out:
	if (fd >= 0)
		close(fd);
	mig_set_state(&d, S_RUNNING, NULL);
	down();
}

/* A tail (or head) past the ring never reaches the device. */
static void case_past_ring(void)
{
	const char *w = "past-ring";
	uint32_t rdt, dev;
	int fd, got;

	if (!up_tracked(w, &fd))
		goto out;
	rdt = ivf_rd(&v, IVF_RDT(0));
	ivf_wr(&v, IVF_RDT(0), v.rx_count + 3);
	usleep(50000);
	dev = device_rdt(v.rx_count + 3);
	ktap_check(dev < v.rx_count,
		   "%s: RDT %u (ring of %u) held from the device (device RDT %u)",
		   w, v.rx_count + 3, v.rx_count, dev);
	ktap_check(dbg_flag("held_tails") > 0, "%s: counted as held (%d)", w,
		   dbg_flag("held_tails"));
	ivf_wr(&v, IVF_RDT(0), rdt);
	dev = device_rdt(rdt);
	got = rx_frames(8, 2000);
	ktap_check(dev == rdt && got == 8,
		   "%s: a tail in the ring again reaches it (%u), 8 of 8 frames received (%d)",
		   w, dev, got);
out:
	if (fd >= 0)
		close(fd);
	mig_set_state(&d, S_RUNNING, NULL);
	down();
}

/*
 * type1: a buffer that is only half mapped (its second page is not). The
 * tracker pins nothing ahead: the device gets the buffer, and once written
 * its mapped page is pinned for an instant alone (the other one counted
 * as not mapped).
 */
static void case_half_mapped(void)
{
	const char *w = "half-mapped";
	struct vfio_dma one = { 0 };
	uint64_t un0 = 0, un1 = 0;
	uint8_t buf[FRAME_MAX];
	uint32_t rdt, slot, dev, sh, dh = 0, k;
	size_t len;
	int fd, ret;

	if (!up_tracked(w, &fd))
		goto out;
	if (d.dirty_log) {
		ktap_info("%s: DMA logging pins nothing: case left out", w);
		goto out;
	}
	ret = vfio_dma_alloc(&d, &one, 4096, 0x70000000);
	if (!ktap_check(!ret, "%s: one page mapped at 0x70000000, the next not",
			w))
		goto out;
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
	ktap_check(dev == (rdt + 1) % v.rx_count,
		   "%s: the tail goes through (device RDT %u, guest %u)",
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
	ktap_check(un1 > un0,
		   "%s: written, its unmapped page was left out of the pulse (pulse_unmapped %llu -> %llu)",
		   w, (unsigned long long)un0, (unsigned long long)un1);
	vfio_dma_free(&d, &one);
out:
	if (fd >= 0)
		close(fd);
	mig_set_state(&d, S_RUNNING, NULL);
	down();
}

/*
 * The guest moves its ring to an IOVA that is not mapped: no descriptor
 * can be read, so none is armed and the device gets none of them (its
 * tail stays at its head); the ring moved back, frames flow again.
 */
static void case_unreadable(void)
{
	const char *w = "unreadable";
	uint32_t sh, bal, rdh, rdt, grdh, grdt;
	uint64_t fails0 = 0, fails = 0;
	int fd, got, held;

	if (!up_tracked(w, &fd))
		goto out;
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
	ktap_check(rdt == rdh && grdt != grdh && fails > fails0 &&
		   dbg_flag("held_tails") > held,
		   "%s: ring at unmapped IOVA 0x7e000000: the device owns none of the %u descriptors posted (RDH %u RDT %u), %llu descriptor reads failed",
		   w, (grdt + v.rx_count - grdh) % v.rx_count, rdh, rdt,
		   (unsigned long long)(fails - fails0));
	ivf_wr(&v, IVF_RDBAL(0), bal);
	device_rdt(ivf_rd(&v, IVF_RDT(0)));
	got = rx_frames(8, 2000);
	ktap_check(got == 8, "%s: the ring back, 8 of 8 frames received (%d)",
		   w, got);
out:
	if (fd >= 0)
		close(fd);
	mig_set_state(&d, S_RUNNING, NULL);
	down();
}

/*
 * dirty_poll_us is bounded: near UINT_MAX the poller slept 71 minutes and
 * closing the device waited for it.
 */
static void check_poll_param(void)
{
	const char *p = "/sys/module/igbvf_vfio_pci/parameters/dirty_poll_us";
	char before[32] = "", after[32] = "";
	int bad_big, bad_zero;

	if (read_str_file(p, before, sizeof(before))) {
		ktap_info("no %s: check left out", p);
		return;
	}
	bad_big = write_str_file(p, "4294967295");
	bad_zero = write_str_file(p, "0");
	read_str_file(p, after, sizeof(after));
	ktap_check(bad_big && bad_zero && !strcmp(before, after),
		   "dirty_poll_us refuses 4294967295 (%s) and 0 (%s), stays %s",
		   err_str(bad_big), err_str(bad_zero), after);
}

/*
 * A new user gets a VF with nothing of the last user's rings: one user
 * leaves queue 1 programmed (addresses, length, indices), the next reads
 * it back after open. (FLR resets them on the 82576; QEMU's model keeps
 * them, so the driver clears them at open.)
 */
static void case_fresh(void)
{
	static const uint32_t regs[] = {
		IVF_RDBAL(1), IVF_RDLEN(1), IVF_RDH(1), IVF_RDT(1),
		IVF_TDBAL(1), IVF_TDLEN(1), IVF_TDH(1), IVF_TDT(1),
		IVF_TDWBAL(1),
	};
	const char *w = "fresh";
	unsigned int i, left = 0;

	if (vfio_dev_open(&d, bdf) || ivf_open(&v, &d, IVF_ACCESS_MMAP)) {
		ktap_check(false, "%s: open", w);
		return;
	}
	for (i = 0; i < sizeof(regs) / sizeof(regs[0]); i++)
		ivf_wr(&v, regs[i], 0x1280 + 8 * i);
	down();
	if (vfio_dev_open(&d, bdf) || ivf_open(&v, &d, IVF_ACCESS_MMAP)) {
		ktap_check(false, "%s: reopen", w);
		return;
	}
	for (i = 0; i < sizeof(regs) / sizeof(regs[0]); i++)
		if (ivf_rd(&v, regs[i]))
			left++;
	ktap_check(!left,
		   "%s: the next user reads none of the last user's queue registers (%u of %zu left)",
		   w, left, sizeof(regs) / sizeof(regs[0]));
	down();
}

int main(void)
{
	const char *ns = env_need("IVF_PEER_NS");
	const char *ifname = env_need("IVF_PEER_IF");
	int ret;

	bdf = env_need("IVF_VF0");
	ktap_header("tracker_arcs: the tracker's RX queue view across migration arcs");
	ret = peer_open(&peer, ns, ifname, FRAME_ETHERTYPE);
	if (!ktap_check(!ret, "peer on %s in netns %s", ifname, ns))
		ktap_finish();
	check_poll_param();
	case_fresh();
	case_p2p();
	case_log();
	case_restore();
	case_reset();
	case_lowpower();
	case_srrctl();
	case_past_ring();
	case_unreadable();
	case_half_mapped();
	peer_close(&peer);
	ktap_finish();
}
