#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# dkms add/build/install for the lab kernel, check the installed module,
# then remove it again so the machine is left as it was.
set -eo pipefail
cd "$(dirname "$0")/.."
. selftests/vm/common.sh
KVER=$(ivf_kver)
name=$(ivf_dkms_conf PACKAGE_NAME)
ver=$(ivf_dkms_conf PACKAGE_VERSION)
src=/usr/src/$name-$ver
cleanup() {
	as_root dkms remove "$name/$ver" --all >/dev/null 2>&1 || true
	as_root rm -rf "$src"
}
cleanup
trap cleanup EXIT
# Only what DKMS needs, not the build products or the selftests.
as_root mkdir -p "$src"
git ls-files -z dkms.conf Kbuild Makefile driver include |
	as_root rsync -a --from0 --files-from=- ./ "$src/"
as_root dkms add "$name/$ver"
as_root dkms build "$name/$ver" -k "$KVER"
as_root dkms install "$name/$ver" -k "$KVER" --force
ko=$(find "/lib/modules/$KVER/updates" -name "$name.ko*" | head -n1)
[ -n "$ko" ] || die "dkms install left no module"
modinfo "$ko" | grep "^vermagic: *$KVER " >/dev/null || die "wrong vermagic in $ko"
modinfo "$ko" | grep '^alias: *vfio_pci:v00008086d000010CA' >/dev/null || die "no override alias in $ko"
as_root dkms status "$name/$ver"
echo "dkms: installed $ko"
