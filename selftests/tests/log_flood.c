// SPDX-License-Identifier: GPL-2.0
/*
 * log_flood: a VMM repeating what the driver logs can't flood the kernel
 * log. 100 times each: a refused stream (bad magic) and the refused
 * RESUMING -> STOP after it, then VFIO_DEVICE_RESET; open, RUNNING ->
 * PRE_COPY (the tracker's "engaged" line), close. Each kind of line must
 * stay within the kernel's ratelimit (10 per call site per 5 s) and be
 * there at least once (a user still learns why).
 *
 * Env: IVF_VF0.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ivf.h"
#include "kmsg.h"
#include "ktap.h"
#include "mig.h"
#include "util.h"

KTAP_DEFINE_STATE();

#define ROUNDS		100
#define LOG_BUF		(256 << 10)

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
static void check_kind(const char *log, const char *what, double secs)
{
	double bound = 10 * (secs / 5 + 1);
	int n = count(log, what);

	ktap_check(n >= 1 && n <= bound,
		   "\"%s\": %d lines for %d events in %.1f s (ratelimit bound %.0f)",
		   what, n, ROUNDS, secs, bound);
}

int main(void)
{
	const char *bdf = env_need("IVF_VF0");
	uint8_t junk[64];
	struct vfio_dev d;
	struct kmsg k;
	uint64_t t0;
	char *log;
	int i, fd, ret, refused = 0, engaged = 0, bad = 0;
	double secs;

	ktap_header("log_flood: the driver's log lines are ratelimited");
	log = malloc(LOG_BUF);
	memset(junk, 0xa5, sizeof(junk));
	if (!log || kmsg_open(&k))
		ktap_skip_all("no /dev/kmsg");
	ret = vfio_dev_open(&d, bdf);
	if (!ktap_check(!ret, "open %s", bdf))
		ktap_finish();
	kmsg_mark(&k);
	t0 = now_ns();
	for (i = 0; i < ROUNDS; i++) {
		fd = -1;
		if (mig_set_state(&d, VFIO_DEVICE_STATE_STOP, NULL) ||
		    mig_set_state(&d, VFIO_DEVICE_STATE_RESUMING, &fd)) {
			bad++;
			break;
		}
		if (write(fd, junk, sizeof(junk)) >= 0)
			bad++;
		close(fd);
		if (!mig_set_state(&d, VFIO_DEVICE_STATE_STOP, NULL))
			bad++;
		else
			refused++;
		if (vfio_dev_reset(&d)) {
			bad++;
			break;
		}
	}
	secs = (now_ns() - t0) / 1e9;
	vfio_dev_close(&d);
	ktap_check(!bad && refused == ROUNDS,
		   "%d bad streams refused, each RESUMING -> STOP refused, reset back to RUNNING",
		   refused);
	kmsg_read(&k, bdf, log, LOG_BUF);
	check_kind(log, "bad magic", secs);
	check_kind(log, "RESUMING -> STOP refused", secs);

	kmsg_mark(&k);
	t0 = now_ns();
	for (i = 0; i < ROUNDS; i++) {
		if (vfio_dev_open(&d, bdf))
			break;
		fd = -1;
		if (!mig_set_state(&d, VFIO_DEVICE_STATE_PRE_COPY, &fd))
			engaged++;
		if (fd >= 0)
			close(fd);
		vfio_dev_close(&d);
	}
	secs = (now_ns() - t0) / 1e9;
	ktap_check(engaged == ROUNDS, "%d opens with RUNNING -> PRE_COPY",
		   engaged);
	kmsg_read(&k, bdf, log, LOG_BUF);
	check_kind(log, "dirty tracking engaged", secs);
	kmsg_close(&k);
	free(log);
	ktap_finish();
}
