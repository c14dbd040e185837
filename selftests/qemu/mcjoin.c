// SPDX-License-Identifier: GPL-2.0
/*
 * mcjoin IFACE MAC: add a link-layer multicast address to IFACE's filter
 * list (SIOCADDMULTI), as joining a group does. It stays until removed or
 * the interface goes away, so the nested guest's driver (igbvf) sends the
 * PF the new multicast list through its mailbox.
 */
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct ifreq ifr;
	unsigned int m[6];
	int fd, i;

	if (argc != 3 || sscanf(argv[2], "%x:%x:%x:%x:%x:%x", &m[0], &m[1],
				&m[2], &m[3], &m[4], &m[5]) != 6) {
		fprintf(stderr, "usage: mcjoin IFACE MAC\n");
		return 2;
	}
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", argv[1]);
	ifr.ifr_hwaddr.sa_family = AF_UNSPEC;
	for (i = 0; i < 6; i++)
		ifr.ifr_hwaddr.sa_data[i] = (char)m[i];
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0 || ioctl(fd, SIOCADDMULTI, &ifr) < 0) {
		perror("mcjoin");
		return 1;
	}
	close(fd);
	return 0;
}
