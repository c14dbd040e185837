# SPDX-License-Identifier: GPL-2.0-only
#
#   make                build the module for the running kernel (or KDIR=...)
#   make C=2 W=1        same, with sparse and extra warnings
#   make demo           the main job on the emulated lab (see README)
#   make check          the whole test suite (same as .ci/run)
#   make bench          the benchmarks, in a lab boot of their own
KDIR ?= $(firstword $(wildcard /lib/modules/$(shell uname -r)/build) \
	$(lastword $(sort $(wildcard /usr/src/linux-headers-*-amd64))))

all: modules

modules:
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

clean:
	$(MAKE) -C $(KDIR) M=$(CURDIR) clean
	$(MAKE) -C selftests clean

demo:
	selftests/demo.sh

check:
	selftests/run.sh

bench:
	selftests/bench.sh

.PHONY: all modules clean demo check bench
