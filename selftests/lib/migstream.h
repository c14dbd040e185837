/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The igbvf-vfio-pci migration stream (include/ivf_migration.h) seen from
 * userspace: a reference parser that applies the ABI's rules and errnos,
 * and a builder for hand-made packets.
 */
#ifndef IVF_MIGSTREAM_H
#define IVF_MIGSTREAM_H

#include <stddef.h>
#include <stdint.h>

#include "ivf_migration.h"

#define MS_HDR_LEN	((uint32_t)sizeof(struct ivf_mig_hdr))
#define MS_REC_LEN	((uint32_t)sizeof(struct ivf_mig_rec))
#define MS_MAX_PKT	16
#define MS_MAX_REC	64

struct ms_rec {
	size_t off;		/* of the record header, in the stream */
	uint16_t type, flags;
	uint32_t len;		/* payload bytes */
};

struct ms_pkt {
	size_t off;		/* of the header, in the stream */
	uint32_t len;
	uint16_t kind, major, minor;
	uint32_t crc;
	unsigned int first_rec, nrec;
};

struct ms_stream {
	const uint8_t *buf;
	size_t len;
	unsigned int npkt, nrec;
	struct ms_pkt pkt[MS_MAX_PKT];
	struct ms_rec rec[MS_MAX_REC];
	size_t err_off;		/* where parsing stopped on an error */
	char why[160];		/* the error, in words */
};

/*
 * Parse a whole stream. Returns 0, or the errno the ABI gives for the first
 * problem (negative), ENODATA for a stream that ends early (no FINAL
 * packet, or a partial packet). s->why says what.
 */
int ms_parse(struct ms_stream *s, const uint8_t *buf, size_t len);
/* the first record of @type in packet @pkt, or NULL */
const struct ms_rec *ms_find(const struct ms_stream *s, unsigned int pkt,
			     uint16_t type);
/* payload of a record */
static inline const void *ms_payload(const struct ms_stream *s,
				     const struct ms_rec *r)
{
	return s->buf + r->off + MS_REC_LEN;
}
/* index of the FINAL packet or -1 */
int ms_final(const struct ms_stream *s);

/* builder: packets appended to a caller's buffer */
struct ms_build {
	uint8_t *buf;
	size_t cap, len;
	size_t pkt;		/* start of the open packet */
	int overflow;
};

void mb_init(struct ms_build *b, uint8_t *buf, size_t cap);
/* header with magic, version, 8086:10ca and @kind; length/crc at the end */
void mb_pkt_begin(struct ms_build *b, uint16_t kind);
/* a record padded with zeros to 8 bytes */
void mb_rec(struct ms_build *b, uint16_t type, uint16_t flags,
	    const void *data, uint32_t len);
/* raw bytes */
void mb_raw(struct ms_build *b, const void *data, size_t len);
/* set length and CRC of the open packet; returns its offset */
size_t mb_pkt_end(struct ms_build *b);

#endif /* IVF_MIGSTREAM_H */
