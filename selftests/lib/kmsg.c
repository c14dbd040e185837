// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/kmsg reader for the selftests.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "kmsg.h"

int kmsg_open(struct kmsg *k)
{
	k->fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (k->fd < 0)
		return -errno;
	kmsg_mark(k);
	return 0;
}

void kmsg_close(struct kmsg *k)
{
	if (k->fd >= 0)
		close(k->fd);
	k->fd = -1;
}

void kmsg_mark(struct kmsg *k)
{
	if (k->fd >= 0)
		lseek(k->fd, 0, SEEK_END);
}

int kmsg_read(struct kmsg *k, const char *filter, char *buf, size_t len)
{
	char rec[2048];
	size_t used = 0;
	int found = 0;
	ssize_t n;

	if (len)
		buf[0] = '\0';
	if (k->fd < 0)
		return 0;
	for (;;) {
		char *text, *end;

		n = read(k->fd, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE)	/* overwritten records */
			continue;
		if (n <= 0)
			break;
		rec[n] = '\0';
		/* "prio,seq,usec,flags;text\n" then " KEY=value" lines */
		text = strchr(rec, ';');
		text = text ? text + 1 : rec;
		end = strchr(text, '\n');
		if (end)
			*end = '\0';
		if (filter && !strstr(text, filter))
			continue;
		found++;
		if (used + 1 < len) {
			int w = snprintf(buf + used, len - used, "%s%s",
					 used ? "\n" : "", text);

			if (w > 0)
				used += (size_t)w < len - used ? (size_t)w :
								 len - used - 1;
		}
	}
	return found;
}

bool str_has(const char *text, const char *word)
{
	return strcasestr(text, word) != NULL;
}
