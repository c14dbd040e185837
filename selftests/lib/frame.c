// SPDX-License-Identifier: GPL-2.0
/*
 * Test frames (see frame.h).
 */
#include <string.h>

#include "frame.h"

size_t frame_len_for(uint32_t seq)
{
	/* a stride coprime to the range walks every size */
	return FRAME_MIN + (size_t)(seq * 367u) % (FRAME_MAX - FRAME_MIN + 1);
}

static uint8_t payload_byte(uint16_t stream, uint32_t seq, size_t i)
{
	uint32_t x = seq * 2654435761u + (uint32_t)i * 40503u + stream * 97u;

	return (uint8_t)(x >> 13);
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
}

size_t frame_build(uint8_t *buf, const uint8_t dst[6], const uint8_t src[6],
		   uint16_t stream, uint32_t seq, size_t len)
{
	size_t i;

	if (!len)
		len = frame_len_for(seq);
	memcpy(buf, dst, 6);
	memcpy(buf + 6, src, 6);
	buf[12] = FRAME_ETHERTYPE >> 8;
	buf[13] = FRAME_ETHERTYPE & 0xff;
	put32(buf + 14, FRAME_MAGIC);
	buf[18] = stream >> 8;
	buf[19] = stream;
	put32(buf + 20, seq);
	for (i = FRAME_HDR; i < len; i++)
		buf[i] = payload_byte(stream, seq, i);
	return len;
}

enum frame_verdict frame_check(const uint8_t *buf, size_t len,
			       const uint8_t dst[6], const uint8_t src[6],
			       uint16_t stream, size_t fixed_len,
			       uint32_t *seq)
{
	size_t i, want;

	if (len < FRAME_HDR ||
	    buf[12] != (FRAME_ETHERTYPE >> 8) ||
	    buf[13] != (FRAME_ETHERTYPE & 0xff) ||
	    get32(buf + 14) != FRAME_MAGIC ||
	    ((uint16_t)buf[18] << 8 | buf[19]) != stream)
		return FRAME_FOREIGN;
	*seq = get32(buf + 20);
	if (memcmp(buf, dst, 6) || memcmp(buf + 6, src, 6))
		return FRAME_BAD_ADDR;
	want = fixed_len ? fixed_len : frame_len_for(*seq);
	if (len != want)
		return FRAME_BAD_LEN;
	for (i = FRAME_HDR; i < len; i++)
		if (buf[i] != payload_byte(stream, *seq, i))
			return FRAME_BAD_DATA;
	return FRAME_OK;
}

const char *frame_verdict_str(enum frame_verdict v)
{
	switch (v) {
	case FRAME_OK:
		return "ok";
	case FRAME_FOREIGN:
		return "foreign";
	case FRAME_BAD_ADDR:
		return "bad address";
	case FRAME_BAD_LEN:
		return "bad length";
	case FRAME_BAD_DATA:
		return "bad payload";
	}
	return "?";
}
