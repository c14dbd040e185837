// SPDX-License-Identifier: GPL-2.0
/*
 * vfio_open: open a VF through the container/group uAPI (the core enables
 * and resets the device, the driver maps BAR0), read one register through
 * the trapped path and one through the mapping, close. Repeats N times.
 * A helper of bind.sh's loops. Usage: vfio_open BDF [N]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ktap.h"
#include "vfio.h"

/* the library's helpers report through the KTAP state */
KTAP_DEFINE_STATE();

int main(int argc, char **argv)
{
	int n = argc > 2 ? atoi(argv[2]) : 1;
	struct vfio_dev d;
	uint32_t v;
	int i, ret;

	if (argc < 2) {
		fprintf(stderr, "usage: %s BDF [N]\n", argv[0]);
		return 2;
	}
	for (i = 0; i < n; i++) {
		ret = vfio_dev_open(&d, argv[1]);
		if (ret) {
			fprintf(stderr, "open %s: %s\n", argv[1], strerror(-ret));
			return 1;
		}
		ret = vfio_bar_read32(&d, 0, 0x0008, &v);
		if (ret) {
			fprintf(stderr, "read STATUS: %s\n", strerror(-ret));
			return 1;
		}
		vfio_dev_close(&d);
	}
	return 0;
}
