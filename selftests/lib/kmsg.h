/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Kernel log records written after a mark, read from /dev/kmsg: lets a test
 * check that the driver logged why it refused something.
 */
#ifndef IVF_KMSG_H
#define IVF_KMSG_H

#include <stdbool.h>
#include <stddef.h>

struct kmsg {
	int fd;		/* -1 if /dev/kmsg could not be opened */
};

/* open /dev/kmsg positioned at its end (the mark); 0 or -errno */
int kmsg_open(struct kmsg *k);
void kmsg_close(struct kmsg *k);
/* move the mark to the end of the log, dropping unread records */
void kmsg_mark(struct kmsg *k);
/*
 * Read the records logged since the mark (and move the mark). The text of
 * those that contain @filter (all if NULL) goes to @buf, one per line,
 * truncated to @len. Returns the number of matching records.
 */
int kmsg_read(struct kmsg *k, const char *filter, char *buf, size_t len);
/* case-insensitive: does @text contain @word? */
bool str_has(const char *text, const char *word);

#endif /* IVF_KMSG_H */
