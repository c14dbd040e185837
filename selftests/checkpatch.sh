#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Kernel coding style: the kernel's checkpatch.pl (Debian linux-source) on
# our driver and shared headers. Non-zero on any error or warning.
set -eo pipefail
cd "$(dirname "$0")/.."
. selftests/vm/common.sh
CP=$IVF_CACHE/checkpatch
if [ ! -x "$CP/scripts/checkpatch.pl" ]; then
	src=$(ls /usr/src/linux-source-*.tar.* | sort -V | tail -n1)
	[ -n "$src" ] || die "no linux-source tarball"
	mkdir -p "$CP"
	tar -xf "$src" -C "$CP" --strip-components=1 --wildcards \
		'*/scripts/checkpatch.pl' '*/scripts/spelling.txt' \
		'*/scripts/const_structs.checkpatch'
fi
files=$(ls driver/*.[ch] driver/probes/*.c include/*.h 2>/dev/null)
"$CP/scripts/checkpatch.pl" --no-tree --quiet --show-types --strict \
	--ignore FILE_PATH_CHANGES,SPDX_LICENSE_TAG -f $files
