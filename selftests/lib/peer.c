// SPDX-License-Identifier: GPL-2.0
/*
 * Kernel-side traffic peer (see peer.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/if_packet.h>

#include "peer.h"

struct peer_job {
	struct peer *p;
	const char *ns;
	const char *ifname;
	int err;
};

static void *peer_thread(void *arg)
{
	struct peer_job *job = arg;
	struct peer *p = job->p;
	struct sockaddr_ll sll = { 0 };
	struct ifreq ifr = { 0 };
	char path[PATH_MAX];
	int nsfd, fd, sz = 4 << 20;

	if (job->ns) {
		snprintf(path, sizeof(path), "/run/netns/%s", job->ns);
		nsfd = open(path, O_RDONLY | O_CLOEXEC);
		if (nsfd < 0) {
			job->err = -errno;
			return NULL;
		}
		/* only this thread moves; it exits right after */
		if (setns(nsfd, CLONE_NEWNET)) {
			job->err = -errno;
			close(nsfd);
			return NULL;
		}
		close(nsfd);
	}
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(p->ethertype));
	if (fd < 0) {
		job->err = -errno;
		return NULL;
	}
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", job->ifname);
	if (ioctl(fd, SIOCGIFINDEX, &ifr))
		goto fail;
	p->ifindex = ifr.ifr_ifindex;
	if (ioctl(fd, SIOCGIFHWADDR, &ifr))
		goto fail;
	memcpy(p->mac, ifr.ifr_hwaddr.sa_data, 6);
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(p->ethertype);
	sll.sll_ifindex = p->ifindex;
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)))
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	p->fd = fd;
	return NULL;
fail:
	job->err = -errno;
	close(fd);
	return NULL;
}

int peer_open(struct peer *p, const char *ns, const char *ifname,
	      uint16_t ethertype)
{
	struct peer_job job = { .p = p, .ns = ns, .ifname = ifname };
	pthread_t th;
	int ret;

	memset(p, 0, sizeof(*p));
	p->fd = -1;
	p->ethertype = ethertype;
	ret = pthread_create(&th, NULL, peer_thread, &job);
	if (ret)
		return -ret;
	pthread_join(th, NULL);
	return job.err;
}

void peer_close(struct peer *p)
{
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
}

int peer_send(struct peer *p, const void *frame, size_t len)
{
	struct sockaddr_ll sll = { 0 };
	ssize_t n;

	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(p->ethertype);
	sll.sll_ifindex = p->ifindex;
	sll.sll_halen = 6;
	memcpy(sll.sll_addr, frame, 6);
	n = sendto(p->fd, frame, len, 0, (struct sockaddr *)&sll, sizeof(sll));
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

ssize_t peer_recv(struct peer *p, void *buf, size_t cap, int timeout_ms)
{
	ssize_t n;

	for (;;) {
		struct sockaddr_ll from;
		socklen_t fl = sizeof(from);

		n = recvfrom(p->fd, buf, cap, MSG_DONTWAIT,
			     (struct sockaddr *)&from, &fl);
		if (n >= 0) {
			/* our own transmissions are looped to the socket too */
			if (from.sll_pkttype == PACKET_OUTGOING)
				continue;
			return n;
		}
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		if (timeout_ms <= 0)
			return 0;
		{
			struct pollfd pfd = { .fd = p->fd, .events = POLLIN };
			int r = poll(&pfd, 1, timeout_ms);

			if (r < 0)
				return -errno;
			if (r == 0)
				return 0;
			timeout_ms = 0;	/* one wait only */
		}
	}
}
