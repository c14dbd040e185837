#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Test 1, binding: igbvf-vfio-pci binds VFs through driver_override only,
# and bind/unbind/open/close and module reload loops leak nothing.
# Runs in the lab guest (IVF_* from selftests/vm/guest.sh). KTAP-style output.
set -u
DRV=igbvf-vfio-pci
SYS=/sys/bus/pci
vf=$IVF_VF2
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); failed=1; echo "not ok $n - $*"; }
check() { local d=$1; shift; if "$@"; then ok "$d"; else notok "$d"; fi; }
drv_of() { basename "$(readlink $SYS/devices/$1/driver 2>/dev/null)" 2>/dev/null; }
unbind() { [ -e $SYS/devices/$1/driver ] && echo "$1" >$SYS/devices/$1/driver/unbind; true; }
override() { echo "$2" >$SYS/devices/$1/driver_override; }
bind_ours() { unbind "$1"; override "$1" $DRV; echo "$1" >$SYS/drivers_probe; }
group_of() { basename "$(readlink $SYS/devices/$1/iommu_group)"; }
slab_kb() { awk '/^Slab:/{print $2}' /proc/meminfo; }

# Open the VF through the legacy container/group uAPI and close it again:
# the core enables the device, FLRs it, and our open_device maps BAR0.
open_close() {
	python3 - "$1" "$(group_of "$1")" <<'PY'
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
IO = lambda nr: (0x3b << 8) | nr
bdf, grp = sys.argv[1], sys.argv[2]
c = os.open("/dev/vfio/vfio", os.O_RDWR)
g = os.open("/dev/vfio/" + grp, os.O_RDWR)
fd = ctypes.c_int(c)
if libc.ioctl(g, IO(104), ctypes.byref(fd)) or libc.ioctl(c, IO(102), 3):
    sys.exit("container setup: errno %d" % ctypes.get_errno())
d = libc.ioctl(g, IO(106), ctypes.c_char_p(bdf.encode()))
if d < 0:
    sys.exit("GET_DEVICE_FD: errno %d" % ctypes.get_errno())
os.close(d); os.close(g); os.close(c)
PY
}

echo "# binding tests on $vf"
unbind "$vf"
override "$vf" ""
echo "$vf" >$SYS/drivers/$DRV/bind 2>/dev/null
check "explicit bind without driver_override is refused" [ -z "$(drv_of "$vf")" ]

echo "$vf" >$SYS/drivers_probe
d=$(drv_of "$vf")
check "probe without override does not pick $DRV (got '${d:-none}')" [ "$d" != $DRV ]
unbind "$vf"

rmmod igbvf_vfio_pci
insmod "$IVF_MODULE"
check "loading the module does not grab an unbound VF" [ -z "$(drv_of "$vf")" ]
[ -n "$(drv_of "$IVF_VF0")" ] || bind_ours "$IVF_VF0"

bind_ours "$vf"
check "driver_override=$DRV binds" [ "$(drv_of "$vf")" = $DRV ]
check "open/close through /dev/vfio works" open_close "$vf"

# Warm up (first-use allocations), then measure.
for i in 1 2 3; do unbind "$vf"; bind_ours "$vf"; open_close "$vf"; done
sync; echo 3 >/proc/sys/vm/drop_caches
before=$(slab_kb)
loops=${IVF_BIND_LOOPS:-40}
bad=0
for ((i = 0; i < loops; i++)); do
	unbind "$vf"
	[ -e /sys/kernel/debug/$DRV/$vf ] && bad=$((bad + 1))
	bind_ours "$vf"
	[ "$(drv_of "$vf")" = $DRV ] || bad=$((bad + 1))
	open_close "$vf" || bad=$((bad + 1))
done
sync; echo 3 >/proc/sys/vm/drop_caches
after=$(slab_kb)
delta=$((after - before))
echo "# $loops unbind/bind/open/close loops: slab ${before} kB -> ${after} kB (delta ${delta} kB)"
check "every loop rebound and reopened ($bad failures)" [ $bad = 0 ]
# A leak of one device structure per loop (a few kB each) would show as
# well over 100 kB over 40 loops; allocator noise stays far below.
check "no slab growth over $loops loops (${delta} kB)" [ $delta -lt 100 ]

grep -q "vfio" <(grep -A2 "$vf" /proc/iomem) && held=1 || held=0
check "BAR regions released after close" [ $held = 0 ]

# Module reload with both VFs bound: unbinds cleanly, refcount back to 0.
refcnt=$(cat /sys/module/igbvf_vfio_pci/refcnt)
check "module refcount is 0 with no device open ($refcnt)" [ "$refcnt" = 0 ]
for ((i = 0; i < 5; i++)); do
	rmmod igbvf_vfio_pci || { bad=1; break; }
	insmod "$IVF_MODULE" || { bad=1; break; }
	bind_ours "$vf"; bind_ours "$IVF_VF0"
done
check "rmmod/insmod with bound VFs, 5 times" [ $bad = 0 ]
check "no debugfs directory left for unbound devices" \
	[ "$(ls /sys/kernel/debug/$DRV | sort | tr '\n' ' ')" = "$(printf '%s\n' "$IVF_VF0" "$vf" | sort | tr '\n' ' ')" ]

echo "1..$n"
exit $failed
