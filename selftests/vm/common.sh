# SPDX-License-Identifier: GPL-2.0
# Shared settings of the lab scripts. Sourced, not run.

IVF_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
IVF_CACHE=${IVF_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/igbvf-vfio-pci}
IVF_SUITE=${IVF_SUITE:-bookworm-backports}

die() { echo "lab: $*" >&2; exit 1; }
log() { echo "lab: $*" >&2; }

as_root() {
	if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# The guest kernel version: whatever linux-headers-amd64 from backports
# depends on. Never hard-coded, the archive moves.
ivf_kver() {
	local dep
	dep=$(dpkg-query -W -f '${Depends}' linux-headers-amd64 2>/dev/null) || return 1
	dep=${dep%%,*}
	dep=${dep%% *}
	echo "${dep#linux-headers-}"
}

ivf_kdir() { echo "/usr/src/linux-headers-$1"; }
ivf_kroot() { echo "$IVF_CACHE/kernel/$1"; }
