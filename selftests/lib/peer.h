/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Kernel-side traffic peer: an AF_PACKET socket on an interface inside a
 * network namespace.  The socket is created by a short-lived thread that
 * setns()es into /run/netns/<ns>; the calling thread never changes its own
 * namespace, and the socket keeps working from any thread afterwards.
 */
#ifndef IVF_PEER_H
#define IVF_PEER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct peer {
	int fd;
	int ifindex;
	uint8_t mac[6];
	uint16_t ethertype;
};

/* @ns may be NULL for the current namespace; 0 or -errno */
int peer_open(struct peer *p, const char *ns, const char *ifname,
	      uint16_t ethertype);
void peer_close(struct peer *p);
/* send one complete frame (header included); 0 or -errno */
int peer_send(struct peer *p, const void *frame, size_t len);
/*
 * receive one frame; returns its length, 0 if none within @timeout_ms
 * (0 = don't wait), -errno on error
 */
ssize_t peer_recv(struct peer *p, void *buf, size_t cap, int timeout_ms);

#endif /* IVF_PEER_H */
