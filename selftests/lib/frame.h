/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Test frames: Ethernet header, private ethertype, a small header with a
 * stream id and sequence number, and a payload derived from both.
 */
#ifndef IVF_FRAME_H
#define IVF_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define FRAME_ETHERTYPE	0x88B5	/* IEEE local experimental */
#define FRAME_MIN	60
#define FRAME_MAX	1514
#define FRAME_HDR	24	/* ethernet 14 + magic 4 + stream 2 + seq 4 */
#define FRAME_MAGIC	0x49564654u	/* "IVFT" */

/* frame length for @seq: cycles through 60..1514 */
size_t frame_len_for(uint32_t seq);
/* fixed @len if nonzero, else frame_len_for(seq) */
size_t frame_build(uint8_t *buf, const uint8_t dst[6], const uint8_t src[6],
		   uint16_t stream, uint32_t seq, size_t len);

enum frame_verdict {
	FRAME_OK,
	FRAME_FOREIGN,		/* not one of ours (other ethertype/magic) */
	FRAME_BAD_ADDR,
	FRAME_BAD_LEN,
	FRAME_BAD_DATA,
};

/*
 * check a received frame of @stream; on FRAME_OK or a data error *seq is
 * the sequence number it carries. @fixed_len as passed to frame_build.
 */
enum frame_verdict frame_check(const uint8_t *buf, size_t len,
			       const uint8_t dst[6], const uint8_t src[6],
			       uint16_t stream, size_t fixed_len,
			       uint32_t *seq);
const char *frame_verdict_str(enum frame_verdict v);

#endif /* IVF_FRAME_H */
