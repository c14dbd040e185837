// SPDX-License-Identifier: GPL-2.0
/*
 * log_flood: a VMM repeating what the driver logs can't flood the kernel
 * log. Each kind of line must stay within the kernel's ratelimit (10 per
 * call site per 5 s, plus the interval under way) and be there at least
 * once (a user still learns why). The measured counts are diagnostics.
 *
 * The fixture: /dev/kmsg and a buffer for what it gives. One variant:
 *   container  group + type1 container: RUNNING -> PRE_COPY starts the
 *              tracker (the "engaged" line)
 *
 * Cases:
 *   repeated_refused_streams_log_within_ratelimit
 *             100 times: a refused stream (bad magic), the refused
 *             RESUMING -> STOP after it, VFIO_DEVICE_RESET; each is
 *             refused, and its two lines ("bad magic", "RESUMING -> STOP
 *             refused") stay within the ratelimit
 *   repeated_tracking_starts_log_within_ratelimit
 *             100 times: open, RUNNING -> PRE_COPY, close; each engages the
 *             tracker, and its "engaged" line stays within the ratelimit
 *
 * Env: IVF_VF0.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kmsg.h"
#include "mig.h"
#include "util.h"
#include "vfio.h"

#include "kselftest_harness.h"
#include "backends.h"

#define ROUNDS		100
#define LOG_BUF		(256 << 10)
/* 100 opens or resets on TCG; a sanitizer kernel's are slower */
#define CASE_TIMEOUT	300

FIXTURE(log_flood) {
	const char *bdf;
	struct kmsg k;
	bool k_open;
	char *log;
	struct vfio_dev d;
	bool d_open;
};

IVF_BACKEND_CONTAINER(log_flood);

FIXTURE_SETUP(log_flood)
{
	const char *why;

	self->bdf = env_get("IVF_VF0");
	if (!self->bdf)
		SKIP(return, "IVF_VF0 is needed");
	why = vfio_backend_missing(self->bdf, &variant->backend);
	if (why)
		SKIP(return, "%s", why);
	if (kmsg_open(&self->k))
		SKIP(return, "no /dev/kmsg");
	self->k_open = true;
	self->log = malloc(LOG_BUF);
	ASSERT_NE(NULL, self->log);
}

FIXTURE_TEARDOWN(log_flood)
{
	if (self->d_open)
		vfio_dev_close(&self->d);
	if (self->k_open)
		kmsg_close(&self->k);
	free(self->log);
}

/* lines of @log (one record per line) that contain @what */
static int count(const char *log, const char *what)
{
	const char *p = log;
	int n = 0;

	while ((p = strstr(p, what))) {
		n++;
		p += strlen(what);
	}
	return n;
}

/* at most 10 lines per 5 s per call site, plus the interval under way */
static void lines_ratelimited(struct __test_metadata *_metadata,
			      const char *log, const char *what, double secs)
{
	double bound = 10 * (secs / 5 + 1);
	int n = count(log, what);

	TH_LOG("\"%s\": %d lines for %d events in %.1f s (ratelimit bound %.0f)",
	       what, n, ROUNDS, secs, bound);
	EXPECT_TRUE(n >= 1 && n <= bound)
		TH_LOG("\"%s\" must be logged at least once and at most %.0f times",
		       what, bound);
}

TEST_F_TIMEOUT(log_flood, repeated_refused_streams_log_within_ratelimit,
	       CASE_TIMEOUT)
{
	int i, fd, ret, refused = 0, bad = 0;
	uint8_t junk[64];
	uint64_t t0;
	double secs;

	memset(junk, 0xa5, sizeof(junk));
	ret = vfio_dev_open_backend(&self->d, self->bdf, &variant->backend);
	ASSERT_EQ(0, ret) TH_LOG("open %s: %s", self->bdf, err_str(ret));
	self->d_open = true;
	kmsg_mark(&self->k);
	t0 = now_ns();
	for (i = 0; i < ROUNDS; i++) {
		fd = -1;
		if (mig_set_state(&self->d, VFIO_DEVICE_STATE_STOP, NULL) ||
		    mig_set_state(&self->d, VFIO_DEVICE_STATE_RESUMING, &fd)) {
			bad++;
			break;
		}
		if (write(fd, junk, sizeof(junk)) >= 0)
			bad++;
		close(fd);
		if (!mig_set_state(&self->d, VFIO_DEVICE_STATE_STOP, NULL))
			bad++;
		else
			refused++;
		if (vfio_dev_reset(&self->d)) {
			bad++;
			break;
		}
	}
	secs = (now_ns() - t0) / 1e9;
	vfio_dev_close(&self->d);
	self->d_open = false;
	EXPECT_TRUE(!bad && refused == ROUNDS)
		TH_LOG("each bad stream and the RESUMING -> STOP after it must be refused, the reset go back to RUNNING (%d of %d refused, %d went wrong)",
		       refused, ROUNDS, bad);
	kmsg_read(&self->k, self->bdf, self->log, LOG_BUF);
	lines_ratelimited(_metadata, self->log, "bad magic", secs);
	lines_ratelimited(_metadata, self->log, "RESUMING -> STOP refused",
			  secs);
}

TEST_F_TIMEOUT(log_flood, repeated_tracking_starts_log_within_ratelimit,
	       CASE_TIMEOUT)
{
	int i, fd, engaged = 0;
	uint64_t t0;
	double secs;

	kmsg_mark(&self->k);
	t0 = now_ns();
	for (i = 0; i < ROUNDS; i++) {
		if (vfio_dev_open_backend(&self->d, self->bdf,
					  &variant->backend))
			break;
		self->d_open = true;
		fd = -1;
		if (!mig_set_state(&self->d, VFIO_DEVICE_STATE_PRE_COPY, &fd))
			engaged++;
		if (fd >= 0)
			close(fd);
		vfio_dev_close(&self->d);
		self->d_open = false;
	}
	secs = (now_ns() - t0) / 1e9;
	EXPECT_EQ(ROUNDS, engaged)
		TH_LOG("each open must go RUNNING -> PRE_COPY (%d of %d)",
		       engaged, ROUNDS);
	kmsg_read(&self->k, self->bdf, self->log, LOG_BUF);
	lines_ratelimited(_metadata, self->log, "dirty tracking engaged",
			  secs);
}

TEST_HARNESS_MAIN
