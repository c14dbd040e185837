#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Test 1, binding: igbvf-vfio-pci binds VFs through driver_override only,
# and bind/unbind/open/close and module reload loops leak nothing.
# Runs in the lab guest (IVF_* from selftests/vm/guest.sh). Output as the
# kselftest harness's (selftests/tests/ktap.sh): one case per promise, in
# this order; -l lists them.
set -u
. selftests/tests/ktap.sh
ktap_plan bind \
	bind_without_override_is_refused \
	autoprobe_does_not_pick_this_driver \
	module_load_leaves_unbound_vf_alone \
	override_binds \
	open_close_through_container \
	slab_alloc_traces_available \
	every_loop_rebinds_and_reopens \
	no_allocation_leaks_per_loop \
	no_ioremap_left_behind \
	bar_regions_released_after_close \
	module_refcount_zero_when_closed \
	module_reloads_with_bound_vfs \
	debugfs_dirs_only_for_bound_devices \
	-- "$@"
DRV=igbvf-vfio-pci
SYS=/sys/bus/pci
vf=$IVF_VF2
drv_of() { basename "$(readlink $SYS/devices/$1/driver 2>/dev/null)" 2>/dev/null; }
unbind() { [ -e $SYS/devices/$1/driver ] && echo "$1" >$SYS/devices/$1/driver/unbind; true; }
override() { echo "$2" >$SYS/devices/$1/driver_override; }
bind_ours() { unbind "$1"; override "$1" $DRV; echo "$1" >$SYS/drivers_probe; }
group_of() { basename "$(readlink $SYS/devices/$1/iommu_group)"; }
slab_kb() { awk '/^Slab:/{print $2}' /proc/meminfo; }

# Open the VF through the legacy container/group uAPI and close it again:
# the core enables and resets the device, our open_device maps BAR0.
open_close() { selftests/build/vfio_open "$1" 1; }

# Every other device of ours (the migration destinations on PF B among
# them) is bound again at the end, so later tests find them bound. In
# between only VF0 is kept bound: each bind costs seconds in the lab.
others=$(ls $SYS/drivers/$DRV 2>/dev/null | grep -E "^[0-9a-f]{4}:" | grep -vx "$vf")
rebind_others() {
	local o
	for o in $others; do
		[ -n "$(drv_of "$o")" ] || bind_ours "$o"
	done
}

echo "# binding tests on $vf (others bound to $DRV: $(echo $others))"
unbind "$vf"
override "$vf" ""
echo "$vf" >$SYS/drivers/$DRV/bind 2>/dev/null
ktap_check bind_without_override_is_refused [ -z "$(drv_of "$vf")" ]

# With autoprobe on, a VF goes to the first matching driver (igbvf here).
echo 1 >$SYS/devices/$IVF_PF/sriov_drivers_autoprobe
echo "$vf" >$SYS/drivers_probe
echo 0 >$SYS/devices/$IVF_PF/sriov_drivers_autoprobe
d=$(drv_of "$vf")
echo "# probe with autoprobe on, no override: ${d:-no driver}"
ktap_check autoprobe_does_not_pick_this_driver [ "$d" != $DRV ]
unbind "$vf"

rmmod igbvf_vfio_pci
insmod "$IVF_MODULE"
ktap_check module_load_leaves_unbound_vf_alone [ -z "$(drv_of "$vf")" ]
[ -n "$(drv_of "$IVF_VF0")" ] || bind_ours "$IVF_VF0"

bind_ours "$vf"
ktap_check override_binds [ "$(drv_of "$vf")" = $DRV ]
ktap_check open_close_through_container open_close "$vf"

# Leak check. The lab boots with slub_debug=U, so every live slab object is
# counted per allocation stack in /sys/kernel/debug/slab/*/alloc_traces:
# exact counts, not the slab-granular /proc/slabinfo. A snapshot keeps the
# stacks that pass through our module or the vfio modules; an allocation
# leaked once per loop makes its stack grow by the number of loops in each
# of two windows. vmap_area objects are freed lazily by design (purged in
# batches), so they are left out here; the live ioremaps they describe (the
# BAR maps made on each open) are counted exactly in /proc/vmallocinfo.
snap() {
	echo "# slab snapshot at ${SECONDS}s" >&2
	sync
	echo 3 >/proc/sys/vm/drop_caches
	awk '
	function flush() { if (hit) cnt[key] += n; key = ""; hit = 0 }
	FNR == 1 { flush(); cache = FILENAME; sub("/alloc_traces$", "", cache); sub(".*/", "", cache) }
	cache == "vmap_area" { next }
	/^ *[0-9]+ / { flush(); n = $1; key = cache ":" $2; next }
	/^ +[^ ]/ { key = key " " $1; if ($0 ~ /\[(igbvf_vfio_pci|vfio[a-z_0-9]*)\]/) hit = 1; next }
	END { flush(); for (k in cnt) print k "|" cnt[k] }
	' /sys/kernel/debug/slab/*/alloc_traces | sort -t'|' -k1,1
}
stack_growth() { # before after loops: stacks that grew by >= loops
	join -t'|' -a2 -e0 -o '0,1.2,2.2' "$1" "$2" |
		awk -F'|' -v n="$3" '$3 - $2 >= n { print "+" $3 - $2 " " $1 }'
}
iomaps() { grep -c ioremap /proc/vmallocinfo; }
cycle() {
	local i
	for ((i = 0; i < $1; i++)); do
		unbind "$vf"
		[ -e /sys/kernel/debug/$DRV/$vf ] && bad=$((bad + 1))
		bind_ours "$vf"
		[ "$(drv_of "$vf")" = $DRV ] || bad=$((bad + 1))
		open_close "$vf" || bad=$((bad + 1))
		((i % 10 == 9)) && echo "# $((i + 1)) loops (${SECONDS}s into the test)"
	done
}
loops=${IVF_BIND_LOOPS:-20}
bad=0
tmp=$(mktemp -d)
if [ ! -d /sys/kernel/debug/slab ] ||
   ! grep -qs . /sys/kernel/debug/slab/kmalloc-64/alloc_traces; then
	ktap_fail slab_alloc_traces_available \
		"no slab alloc_traces: boot the guest with slub_debug=U"
else
	ktap_ok slab_alloc_traces_available
fi
cycle 3
before=$(slab_kb)
maps0=$(iomaps)
snap >"$tmp/0"
cycle "$loops"
snap >"$tmp/1"
cycle "$loops"
snap >"$tmp/2"
after=$(slab_kb)
maps1=$(iomaps)
stack_growth "$tmp/0" "$tmp/1" "$loops" | sed 's/^/# window 1: /'
stack_growth "$tmp/1" "$tmp/2" "$loops" | sed 's/^/# window 2: /'
leaks=$(join <(stack_growth "$tmp/0" "$tmp/1" "$loops" | cut -d' ' -f2- | sort) \
	<(stack_growth "$tmp/1" "$tmp/2" "$loops" | cut -d' ' -f2- | sort) | wc -l)
echo "# tracked stacks: $(wc -l <"$tmp/0") -> $(wc -l <"$tmp/2")"
rm -rf "$tmp"
echo "# 2x$loops unbind/bind/open/close loops: Slab ${before} kB -> ${after} kB"
echo "# loops that did not rebind or reopen: $bad; stacks through vfio or this module grown by every loop in both windows: $leaks; live ioremap areas: $maps0 -> $maps1"
ktap_check every_loop_rebinds_and_reopens [ $bad = 0 ]
ktap_check no_allocation_leaks_per_loop [ "$leaks" = 0 ]
ktap_check no_ioremap_left_behind [ "$maps0" = "$maps1" ]

grep -q "vfio" <(grep -A2 "$vf" /proc/iomem) && held=1 || held=0
ktap_check bar_regions_released_after_close [ $held = 0 ]

# Module reload with both VFs bound: unbinds cleanly, refcount back to 0.
refcnt=$(cat /sys/module/igbvf_vfio_pci/refcnt)
echo "# module refcount with no device open: $refcnt"
ktap_check module_refcount_zero_when_closed [ "$refcnt" = 0 ]
reload_bad=0
for ((i = 0; i < 5; i++)); do
	rmmod igbvf_vfio_pci || { reload_bad=1; break; }
	insmod "$IVF_MODULE" || { reload_bad=1; break; }
	bind_ours "$vf"; bind_ours "$IVF_VF0"
done
ktap_check module_reloads_with_bound_vfs [ $reload_bad = 0 ]
rebind_others
dirs=$(for d in /sys/kernel/debug/$DRV/*/; do basename "$d"; done | sort | tr '\n' ' ')
echo "# debugfs directories: $dirs"
ktap_check debugfs_dirs_only_for_bound_devices \
	[ "$dirs" = "$(printf '%s\n' $others "$vf" | sort | tr '\n' ' ')" ]
ktap_finish
