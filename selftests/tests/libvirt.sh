#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The operators' tools: libvirt and driverctl bind the VF to igbvf-vfio-pci,
# and `virsh migrate --live` moves a Linux guest from one libvirt host to
# another through it.
#
# Runs in the lab guest (IVF_* from selftests/vm/guest.sh), with two vCPUs
# and the nested guest image (IVF_NESTED), in the stock-QEMU boot. Debian's
# libvirt 11 (bookworm-backports) and driverctl, installed on the host by
# setup.sh, run here from the 9p root; the daemons never run on the host.
# Two libvirtd stand for two hosts (selftests/libvirt/lib.sh): "lva" manages
# PF A's VFs, "lvb" PF B's. Output as the kselftest harness's
# (selftests/tests/ktap.sh; -l lists the cases): one case per promise,
# named PART_PROMISE, figures in "#" lines.
#
# The module is installed by `dkms install`, in a private mount namespace
# over the guest kernel's module tree (the 9p root is read-only and has no
# tree for the guest's kernel). DKMS built it on the host, from these
# sources, into a tree of its own (lab.sh, IVF_DKMS: compiling under TCG
# here would cost minutes); the test installs from a copy of that tree.
# libvirt finds the module through the modules.alias DKMS's depmod wrote,
# as on a real host. Run without IVF_DKMS (lab.sh by hand with another
# module, or no dkms), the build lab.sh made is copied to updates/dkms/
# and `depmod -a` runs instead, and the test says so.
#
#   IVF_LV_PARTS  parts to run (default "bind driverctl migrate")
set -u
# Everything below in a mount namespace of its own: the module tree, the
# daemons' directories and driverctl's /etc/driverctl.d go with it.
if [ -z "${IVF_LV_NS:-}" ]; then
	exec env IVF_LV_NS=1 unshare -m --propagation private bash "$0" "$@"
fi
. selftests/tests/ktap.sh

# The cases of each part, in the order they are reported.
part_cases() { # PART
	case $1 in
	bind)
		echo bind_model_refused_when_not_installed \
			bind_vf_stays_on_igbvf_when_not_installed \
			bind_plain_falls_back_to_vfio_pci_when_not_installed \
			bind_vf_back_to_igbvf_after_fallback \
			bind_driverctl_fails_when_not_installed \
			dkms_installs_the_module dkms_module_is_what_modinfo_finds \
			bind_modules_alias_has_override_alias \
			bind_install_does_not_load_the_module \
			bind_managed_hostdev_gets_igbvf_vfio_pci \
			bind_libvirt_loads_the_module \
			bind_plain_domain_stop_returns_vf_to_igbvf \
			bind_driver_override_cleared_after_stop \
			bind_driver_model_gets_igbvf_vfio_pci \
			bind_model_domain_stop_returns_vf_to_igbvf ;;
	driverctl)
		echo dkms_installs_the_module dkms_module_is_what_modinfo_finds \
			driverctl_set_override_binds \
			driverctl_override_saved_for_next_boot \
			driverctl_rebind_gives_igbvf_vfio_pci_again \
			driverctl_rmmod_leaves_vf_without_driver \
			driverctl_modprobe_takes_vf_back \
			driverctl_unset_override_returns_vf_to_igbvf \
			driverctl_unset_override_forgets_it ;;
	migrate)
		echo dkms_installs_the_module dkms_module_is_what_modinfo_finds \
			migrate_refused_without_enable_migration \
			migrate_refused_guest_stays_on_source \
			migrate_source_starts_guest_with_hostdev_interface \
			migrate_source_binds_vf_to_igbvf_vfio_pci \
			migrate_source_sets_admin_mac_from_interface \
			migrate_guest_boots_and_traffic_flows \
			migrate_other_admin_mac_refused \
			migrate_other_admin_mac_refusal_says_why \
			migrate_other_admin_mac_kernel_log_names_both_macs \
			migrate_other_admin_mac_source_keeps_running \
			migrate_other_admin_mac_destination_vf_back_to_igbvf \
			migrate_virsh_migrate_live_completes \
			migrate_destination_qemu_gets_enable_migration \
			migrate_guest_runs_on_destination \
			migrate_destination_binds_vf_to_igbvf_vfio_pci \
			migrate_destination_sets_migrating_mac \
			migrate_source_returns_vf_to_igbvf \
			migrate_traffic_goes_on_both_ways_on_destination \
			migrate_frames_lost_within_downtime_in_order \
			migrate_destination_stop_returns_vf_to_igbvf ;;
	*)	echo "part_${1//[^a-zA-Z0-9_]/_}_exists" ;;
	esac
}
PARTS=${IVF_LV_PARTS:-bind driverctl migrate}
plan=()
for p in $PARTS; do
	# shellcheck disable=SC2207
	plan+=($(part_cases "$p"))	# (ktap_plan keeps the first of a name)
done
ktap_plan libvirt "${plan[@]}" -- "$@"

. selftests/libvirt/lib.sh
QM=$LV/qm
. selftests/qemu/lib.sh
QM_PEER_STATUS=$LV/peer.status

not() { ! "$@"; }
info() { echo "# $*"; }
quote() { sed 's/^/#   /'; }

KVER=$(uname -r)
MODS=/lib/modules/$KVER
KTREE=$IVF_KROOT/lib/modules/$KVER
OUTD=$IVF_OUT/libvirt
mkdir -p "$OUTD" "$LV"
QM_LOG=$OUTD
MOD=igbvf_vfio_pci
VFS=("$IVF_VF0" "$IVF_VF2" "$IVF_DST" ${IVF_DST2:+"$IVF_DST2"})
T0=$SECONDS

info "libvirt: $(libvirtd --version), $(virsh --version) (virsh), $(qemu-system-x86_64 --version | head -n1)"

cleanup() {
	local d
	for d in "$LV"/*/pid; do
		[ -e "$d" ] || continue
		d=${d%/pid}
		vsh "${d##*/}" list --name 2>/dev/null | while read -r dom; do
			[ -z "$dom" ] || vsh "${d##*/}" destroy "$dom" >/dev/null 2>&1
		done
		lvd_stop "${d##*/}"
		cp -r "$d/log" "$OUTD/${d##*/}-log" 2>/dev/null
	done
	[ -z "${PEER_PID:-}" ] || kill "$PEER_PID" 2>/dev/null
	# The lab's state for whatever runs next: the module loaded, the VFs
	# guest.sh bound to it bound again, the admin MACs as guest.sh set them.
	grep -q "^$MOD " /proc/modules || insmod "$IVF_MODULE"
	for d in "$IVF_PF" "$IVF_PFB"; do
		echo 0 >"/sys/bus/pci/devices/$d/sriov_drivers_autoprobe"
	done
	for d in "${VFS[@]}"; do
		[ "$(drv_of "$d")" = igbvf-vfio-pci ] || vf_bind "$d" igbvf-vfio-pci
	done
	ip link set "$IVF_PFB_IF" vf 0 mac "$IVF_DST_MAC" 2>/dev/null
	ip link set "$IVF_PF_IF" vf 0 mac "$IVF_VF0_MAC" 2>/dev/null
	info "libvirt: $((SECONDS - T0)) s"
}
trap cleanup EXIT

# --- the module tree: the guest kernel's (the lab's 9p copy), writable.
mount -t tmpfs lvmods "$MODS" || ktap_abort "no writable $MODS (a tmpfs on it)"
ln -s "$KTREE/kernel" "$MODS/kernel"
cp "$KTREE"/modules.* "$MODS/"
mount -t tmpfs lvdrvctl /etc/driverctl.d
# The install: `dkms install`, whose depmod -a reads every module of the
# kernel and takes 2-3 min under TCG here (7 s on the host). So it runs
# from the start, while the checks without the module run, into a second
# copy of the tree that stands in for /lib/modules/KVER in a mount
# namespace of its own; "installing" then puts what DKMS installed there
# (updates/dkms and depmod's indexes) into /lib/modules/KVER.
STAGE=$LV/stage
SMODS=$STAGE/lib/modules/$KVER
mkdir -p "$SMODS"
ln -s "$KTREE/kernel" "$SMODS/kernel"
[ ! -d "/usr/src/linux-headers-$KVER" ] ||
	ln -s "/usr/src/linux-headers-$KVER" "$SMODS/build"
# modules.dep too: DKMS takes the compression of its module (.ko.xz) from it
cp "$KTREE"/modules.* "$SMODS/"
DKMS_PKG=$(sed -n 's/^PACKAGE_NAME="\(.*\)"/\1/p' dkms.conf)/$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' dkms.conf)
if [ -n "${IVF_DKMS:-}" ]; then
	# DKMS writes its state into the tree: a copy of the host's
	mkdir -p "$LV/dkms"
	cp -a "$IVF_DKMS/tree/." "$LV/dkms/"
	(t=$SECONDS
	 unshare -m sh -c 'mount --bind "$1" "/lib/modules/$2" &&
		exec dkms install "$3" -k "$2" --dkmstree "$4" --sourcetree "$5" --force' \
		sh "$SMODS" "$KVER" "$DKMS_PKG" "$LV/dkms" "$IVF_DKMS/src" \
		>"$OUTD/dkms-install.log" 2>&1
	 echo "$? $((SECONDS - t))" >"$LV/depmod.rc") &
else
	mkdir -p "$SMODS/updates/dkms"
	cp "$IVF_MODULE" "$SMODS/updates/dkms/"
	(t=$SECONDS; depmod -b "$STAGE" "$KVER"; echo "$? $((SECONDS - t))" >"$LV/depmod.rc") &
fi
DEPMOD_PID=$!
# The VFs are probed by drivers as on any host (guest.sh turned that off
# for its own binds: sriov_drivers_autoprobe 0, then driver_override);
# without it a VF libvirt or driverctl gives back finds no driver.
for d in "$IVF_PF" "$IVF_PFB"; do
	echo 1 >"/sys/bus/pci/devices/$d/sriov_drivers_autoprobe"
done

# A host without the module: not loaded, not installed, its VFs on igbvf.
rmmod $MOD || ktap_abort "rmmod $MOD failed"
for d in "${VFS[@]}"; do vf_bind "$d" ""; done
info "VFs before: $(for d in "${VFS[@]}"; do echo -n "$d=$(drv_of "$d") "; done)"

ip link set lo up

lvd_start lva 5a5a0000-0000-4000-8000-00000000000a ||
	ktap_abort "libvirtd (lva) did not start"
t=$SECONDS
vsh lva domcapabilities >/dev/null 2>&1
info "lva: libvirtd up, QEMU capabilities probed in $((SECONDS - t)) s"

# A domain that runs only firmware (SeaBIOS finds nothing to boot), with
# one VF as a managed hostdev; DRV: <driver model> ("" for none).
fw_xml() { # NAME VF DRV
	cat <<-EOT
	<domain type='qemu'>
	  <name>$1</name>
	  <memory unit='MiB'>128</memory>
	  <vcpu>1</vcpu>
	  <os><type arch='x86_64' machine='q35'>hvm</type></os>
	  <devices>
	    <emulator>/usr/bin/qemu-system-x86_64</emulator>
	    <controller type='usb' model='none'/>
	    <memballoon model='none'/>
	    <hostdev mode='subsystem' type='pci' managed='yes'>
	      ${3:+<driver model='$3'/>}
	      <source>$(pci_addr "$2")</source>
	    </hostdev>
	  </devices>
	</domain>
	EOT
}

# Start a firmware domain with VF on lva: sets STARTED (0/1), ERR (virsh's
# error), RUNDRV (the VF's driver while it runs).
fw_start() { # NAME VF DRV
	fw_xml "$@" >"$LV/$1.xml"
	RUNDRV=
	if ERR=$(vsh lva create "$LV/$1.xml" 2>&1); then
		STARTED=1
		RUNDRV=$(drv_of "$2")
	else
		STARTED=0
	fi
}
fw_stop() { # NAME VF
	vsh lva destroy "$1" >/dev/null 2>&1
	sleep 0.5
}

# Installed by `dkms install` (run from the start, see above). Without
# IVF_DKMS: the module copied to updates/dkms and depmod -a, as DKMS
# would do.
INSTALLED=0
install_module() {
	local t=$SECONDS r=1 f st
	[ $INSTALLED = 0 ] || return 0
	INSTALLED=1
	wait $DEPMOD_PID
	read -r r f <"$LV/depmod.rc"
	if [ -z "${IVF_DKMS:-}" ]; then
		info "installed by copying the module and depmod -a (exit $r, $f s; waited $((SECONDS - t)) s)"
		mkdir -p "$MODS/updates/dkms"
		cp "$IVF_MODULE" "$MODS/updates/dkms/"
		cp "$SMODS"/modules.* "$MODS/"
		ktap_skip dkms_installs_the_module "no DKMS tree from lab.sh (IVF_DKMS)"
		ktap_skip dkms_module_is_what_modinfo_finds "no DKMS tree from lab.sh (IVF_DKMS)"
		return
	fi
	grep -v 'readelf: Warning' "$OUTD/dkms-install.log" | quote
	# Not a bind mount over $MODS: each libvirtd has its own mount
	# namespace from before, and would not see it. The files go into the
	# tree they all share.
	cp -a "$SMODS/updates" "$MODS/"
	cp "$SMODS"/modules.* "$MODS/"
	st=$(dkms status "$DKMS_PKG" --dkmstree "$LV/dkms" 2>/dev/null)
	case $r:$st in *WARNING*) r=1 ;; 0:*": installed") r=0 ;; *) r=1 ;; esac
	info "dkms install $DKMS_PKG -k $KVER: in $f s (waited $((SECONDS - t)) s); dkms status: $st"
	ktap_check dkms_installs_the_module [ "$r" = 0 ]
	f=$(ls "$MODS/updates/dkms/")
	st=$(modinfo -k "$KVER" -F filename "$MOD" 2>/dev/null)
	info "DKMS put in place: $f; modinfo -k $KVER finds $st"
	ktap_check dkms_module_is_what_modinfo_finds [ "$st" = "$MODS/updates/dkms/$f" ]
}

part_bind() {
	local vf=$IVF_VF0 f
	# Not installed: libvirt has nothing but the generic vfio-pci.
	fw_start lv-model "$vf" igbvf-vfio-pci
	# <driver model='igbvf-vfio-pci'/> refuses to start
	ktap_check bind_model_refused_when_not_installed [ $STARTED = 0 ]
	echo "$ERR" | quote
	[ $STARTED = 0 ] || fw_stop lv-model
	ktap_check bind_vf_stays_on_igbvf_when_not_installed [ "$(drv_of "$vf")" = igbvf ]
	fw_start lv-plain "$vf" ""
	info "module not installed: managed='yes' without a model: started=$STARTED, the VF on $RUNDRV${ERR:+ ($ERR)}"
	ktap_check bind_plain_falls_back_to_vfio_pci_when_not_installed \
		[ $STARTED = 1 -a "$RUNDRV" = vfio-pci ]
	[ $STARTED = 0 ] || fw_stop lv-plain
	ktap_check bind_vf_back_to_igbvf_after_fallback [ "$(drv_of "$vf")" = igbvf ]
	# driverctl too needs it installed (it modprobes the driver first).
	f=$(driverctl set-override "$vf" igbvf-vfio-pci 2>&1)
	info "module not installed: driverctl set-override: $f"
	ktap_check bind_driverctl_fails_when_not_installed \
		[ "$(drv_of "$vf")" = igbvf ]
	driverctl unset-override "$vf" >/dev/null 2>&1

	install_module
	f=$(grep "vfio_pci:v00008086d000010CA" "$MODS/modules.alias")
	info "modules.alias: $f"
	ktap_check bind_modules_alias_has_override_alias [ -n "$f" ]
	ktap_check bind_install_does_not_load_the_module \
		not grep -q "^$MOD " /proc/modules

	# managed='yes': libvirt binds igbvf-vfio-pci by itself
	fw_start lv-plain "$vf" ""
	info "managed='yes' without a model: started=$STARTED, the VF on $RUNDRV${ERR:+, $ERR}"
	ktap_check bind_managed_hostdev_gets_igbvf_vfio_pci \
		[ $STARTED = 1 -a "$RUNDRV" = igbvf-vfio-pci ]
	ktap_check bind_libvirt_loads_the_module grep -q "^$MOD " /proc/modules
	[ $STARTED = 0 ] || fw_stop lv-plain
	ktap_check bind_plain_domain_stop_returns_vf_to_igbvf \
		[ "$(drv_of "$vf")" = igbvf ]
	f=$(cat "/sys/bus/pci/devices/$vf/driver_override")
	info "driver_override after: $f"
	ktap_check bind_driver_override_cleared_after_stop [ "$f" = "(null)" ]

	fw_start lv-model "$vf" igbvf-vfio-pci
	info "<driver model='igbvf-vfio-pci'/>: started=$STARTED, the VF on $RUNDRV${ERR:+, $ERR}"
	ktap_check bind_driver_model_gets_igbvf_vfio_pci \
		[ $STARTED = 1 -a "$RUNDRV" = igbvf-vfio-pci ]
	[ $STARTED = 0 ] || fw_stop lv-model
	ktap_check bind_model_domain_stop_returns_vf_to_igbvf \
		[ "$(drv_of "$vf")" = igbvf ]
}

part_driverctl() {
	local vf=$IVF_VF2 f
	install_module
	f=$(driverctl set-override "$vf" igbvf-vfio-pci 2>&1)
	[ -z "$f" ] || info "driverctl set-override: $f"
	ktap_check driverctl_set_override_binds \
		[ "$(drv_of "$vf")" = igbvf-vfio-pci ]
	f=$(cat "/etc/driverctl.d/pci-$vf" 2>/dev/null)
	info "/etc/driverctl.d/pci-$vf: $f"
	ktap_check driverctl_override_saved_for_next_boot [ "$f" = igbvf-vfio-pci ]
	echo "$vf" >"/sys/bus/pci/devices/$vf/driver/unbind"
	echo "$vf" >/sys/bus/pci/drivers_probe
	# a rebind (unbind, drivers_probe)
	ktap_check driverctl_rebind_gives_igbvf_vfio_pci_again \
		[ "$(drv_of "$vf")" = igbvf-vfio-pci ]
	rmmod $MOD
	# (igbvf does not take it)
	ktap_check driverctl_rmmod_leaves_vf_without_driver [ "$(drv_of "$vf")" = none ]
	modprobe $MOD
	ktap_check driverctl_modprobe_takes_vf_back [ "$(drv_of "$vf")" = igbvf-vfio-pci ]
	info "driverctl list-overrides:"
	driverctl list-overrides 2>&1 | quote
	f=$(driverctl unset-override "$vf" 2>&1)
	[ -z "$f" ] || info "driverctl unset-override: $f"
	ktap_check driverctl_unset_override_returns_vf_to_igbvf \
		[ "$(drv_of "$vf")" = igbvf ]
	ktap_check driverctl_unset_override_forgets_it [ ! -e "/etc/driverctl.d/pci-$vf" ]
}

# --- virsh migrate --live: lva (PF A's VFs) -> lvb (PF B's VFs).
NESTED_KVER=${IVF_NESTED:-}; NESTED_KVER=${NESTED_KVER##*/nested-}
NESTED_KVER=${NESTED_KVER%-*.cpio.gz}
NESTED_KERNEL=${IVF_NESTED:-.}; NESTED_KERNEL=${NESTED_KERNEL%/*}/kernel/$NESTED_KVER/boot/vmlinuz-$NESTED_KVER
SEQFLOW=$PWD/selftests/qemu/build/seqflow
PORT=49152

# The nested Linux guest (selftests/vm/nested.sh, as qemu_migrate boots
# it) under TCG with the VF as KIND: "iface" (<interface type='hostdev'>:
# libvirt sets the VF's admin MAC to MAC through the PF) or "hostdev". The
# one QEMU property a type1 kernel needs, enable-migration=on, comes from
# <qemu:override> on the device's alias. Its console (ttyS0, seqflow's
# status lines) goes to $QM_LOG/CONSOLE.log.
nested_xml() { # NAME CONSOLE VF KIND MAC SEQPEER
	local dev
	if [ "$4" = iface ]; then
		dev="<interface type='hostdev' managed='yes'>
	      <mac address='$5'/>
	      <source>$(pci_addr "$3" "type='pci'")</source>
	      <alias name='ua-vf'/>
	    </interface>"
	else
		dev="<hostdev mode='subsystem' type='pci' managed='yes'>
	      <source>$(pci_addr "$3")</source>
	      <alias name='ua-vf'/>
	    </hostdev>"
	fi
	cat <<-EOT
	<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
	  <name>$1</name>
	  <memory unit='MiB'>256</memory>
	  <vcpu>1</vcpu>
	  <os>
	    <type arch='x86_64' machine='q35'>hvm</type>
	    <kernel>$NESTED_KERNEL</kernel>
	    <initrd>$IVF_NESTED</initrd>
	    <cmdline>console=ttyS0 panic=-1 no_timer_check loglevel=5 seqpeer=$6 seqiv=500</cmdline>
	  </os>
	  <on_poweroff>destroy</on_poweroff>
	  <on_crash>destroy</on_crash>
	  <devices>
	    <emulator>/usr/bin/qemu-system-x86_64</emulator>
	    <controller type='usb' model='none'/>
	    <memballoon model='none'/>
	    <serial type='file'>
	      <source path='$QM_LOG/$2.log'/>
	      <target port='0'/>
	    </serial>
	    $dev
	  </devices>
	  <qemu:override>
	    <qemu:device alias='ua-vf'>
	      <qemu:frontend>
	        <qemu:property name='enable-migration' type='string' value='on'/>
	      </qemu:frontend>
	    </qemu:device>
	  </qemu:override>
	</domain>
	EOT
}

# The destination's XML (virsh migrate --xml): the source's migratable XML
# with the destination's VF and console file.
dst_xml() { # NAME SRCVF DSTVF SRCCONSOLE DSTCONSOLE
	local a b
	a=$(pci_addr "$2"); a=${a#<address }; a=${a%/>}
	b=$(pci_addr "$3"); b=${b#<address }; b=${b%/>}
	vsh lva dumpxml --migratable "$1" |
		sed -e "/<source>/,/<\\/source>/s|$a|$b|" \
		    -e "s|$QM_LOG/$4.log|$QM_LOG/$5.log|"
}

admin_mac() { # PFIF VFINDEX
	ip link show dev "$1" | awk -v k="$2" '$1 == "vf" && $2 == k { sub(",", "", $4); print $4 }'
}

# virsh migrate --live DOM from lva to lvb, the destination's XML
# $OUTD/DOM-dst.xml, QEMU's stream to PORT: sets MIG_OUT (what virsh said,
# quoted here), MIG_RC (its exit status) and MIG_MS (how long it took).
lv_migrate() { # DOM PORT WHAT
	local t=$EPOCHREALTIME
	MIG_OUT=$(vsh lva migrate --live "$1" "$(lv_uri lvb)" --xml "$OUTD/$1-dst.xml" \
		--migrateuri "tcp://127.0.0.1:$2" --listen-address 127.0.0.1 2>&1)
	MIG_RC=$?
	MIG_MS=$(awk -v a="$t" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", (b - a) * 1000 }')
	info "virsh migrate ($3): $MIG_MS ms, exit $MIG_RC:"
	echo "$MIG_OUT" | quote
}

booted() { # CONSOLE
	local t0=$SECONDS
	wait_for 600 "grep -aq '^t=' '$QM_LOG/$1.log'" || return 1
	info "$1: booted in $((SECONDS - t0)) s: $(grep -a '^nested:' "$QM_LOG/$1.log" | tail -n1)"
}

part_migrate() {
	local f t r a_mac b_mac
	local -A a b
	install_module
	lvd_start lvb 5a5a0000-0000-4000-8000-00000000000b ||
		{ ktap_fail migrate_refused_without_enable_migration "libvirtd (lvb) did not start"; return; }
	# Without enable-migration=on (a type1 kernel): refused at once. A
	# firmware-only guest is enough, the refusal is about the device.
	fw_start nm "$IVF_VF0" ""
	if [ $STARTED = 1 ]; then
		dst_xml nm "$IVF_VF0" "$IVF_DST" - - >"$OUTD/nm-dst.xml"
		lv_migrate nm $((PORT + 2)) "without enable-migration=on"
		ktap_check migrate_refused_without_enable_migration [ $MIG_RC != 0 ]
		ktap_check migrate_refused_guest_stays_on_source \
			[ "$(vsh lva domstate nm 2>&1)" = running ]
		fw_stop nm
	else
		ktap_fail migrate_refused_without_enable_migration \
			"a firmware guest with VF0 did not start ($ERR)"
	fi
	# Neither VF has the migrating MAC: libvirt must give it to each.
	ip link set "$IVF_PF_IF" vf 0 mac 02:00:00:00:01:ee
	ip link set "$IVF_PFB_IF" vf 0 mac 02:00:00:00:02:10
	ip netns exec "$IVF_PEER_NS" "$SEQFLOW" -i 500 -s "$LV/peer.status" -p 200 \
		tx:"$IVF_PEER_IF":"$IVF_VF0_MAC":2 rx:"$IVF_PEER_IF":1 \
		>"$OUTD/peer.out" 2>&1 &
	PEER_PID=$!
	# lm: the guest that migrates (PF A VF0 -> PF B VF0, by MAC through
	# <interface>); mm: one with a plain <hostdev> (PF A VF2 -> PF B VF1,
	# whose admin MAC is another), which the destination must refuse.
	# They boot side by side: the boot is the slow part.
	nested_xml lm lm-a "$IVF_VF0" iface "$IVF_VF0_MAC" "$IVF_PEER_MAC" >"$OUTD/lm-src.xml"
	nested_xml mm mm-a "$IVF_VF2" hostdev - 02:00:00:00:09:99 >"$OUTD/mm-src.xml"
	t=$SECONDS
	f=$(vsh lva create "$OUTD/lm-src.xml" 2>&1)
	[ -z "$f" ] || info "lva create lm: $f"
	# with <interface type='hostdev'> and <qemu:override>
	ktap_check migrate_source_starts_guest_with_hostdev_interface \
		[ "$(vsh lva domstate lm 2>&1)" = running ]
	[ -z "${IVF_DST2:-}" ] || vsh lva create "$OUTD/mm-src.xml" >/dev/null 2>&1 ||
		info "mm did not start"
	info "lva started them in $((SECONDS - t)) s; lm's QEMU: $(grep -ao 'enable-migration[^,}]*' "$LV/lva/log/qemu/lm.log" | head -n1)"
	a_mac=$(admin_mac "$IVF_PF_IF" 0)
	info "PF A's VF0 on $(drv_of "$IVF_VF0"), its admin MAC $a_mac"
	ktap_check migrate_source_binds_vf_to_igbvf_vfio_pci \
		[ "$(drv_of "$IVF_VF0")" = igbvf-vfio-pci ]
	# lva set VF0's admin MAC through PF A to the <mac>
	ktap_check migrate_source_sets_admin_mac_from_interface \
		[ "$a_mac" = "$IVF_VF0_MAC" ]
	if ! booted lm-a || ! flowing lm-a 120; then
		tail -n 20 "$QM_LOG/lm-a.log" | quote
		ktap_fail migrate_guest_boots_and_traffic_flows
		return
	fi
	ktap_ok migrate_guest_boots_and_traffic_flows

	# The refusal first (it leaves the source running): the destination
	# VF's admin MAC is not the guest's and libvirt is not told to set it.
	local mm
	for mm in refused refusal_says_why kernel_log_names_both_macs \
		  source_keeps_running destination_vf_back_to_igbvf; do
		[ -n "${IVF_DST2:-}" ] ||
			ktap_skip "migrate_other_admin_mac_$mm" "no second destination VF (IVF_DST2)"
	done
	if [ -n "${IVF_DST2:-}" ] && ! booted mm-a; then
		tail -n 20 "$QM_LOG/mm-a.log" | quote
		ktap_fail migrate_other_admin_mac_refused "the guest mm did not boot"
	elif [ -n "${IVF_DST2:-}" ]; then
		dst_xml mm "$IVF_VF2" "$IVF_DST2" mm-a mm-b >"$OUTD/mm-dst.xml"
		local dl
		dl=$(dmesg | wc -l)
		lv_migrate mm $((PORT + 1)) "another admin MAC on the destination VF"
		ktap_check migrate_other_admin_mac_refused [ $MIG_RC != 0 ]
		# EADDRNOTAVAIL
		ktap_check migrate_other_admin_mac_refusal_says_why \
			grep -q "Cannot assign requested address" <<<"$MIG_OUT"
		dmesg | tail -n +$((dl + 1)) | grep -a "igbvf-vfio-pci.*refused MAC" | quote
		ktap_check migrate_other_admin_mac_kernel_log_names_both_macs \
			grep -q "refused MAC 02:00:00:00:01:12: this VF's admin MAC there is 02:00:00:00:02:11" <(dmesg | tail -n +$((dl + 1)))
		ktap_check migrate_other_admin_mac_source_keeps_running \
			[ "$(vsh lva domstate mm)" = running ]
		ktap_check migrate_other_admin_mac_destination_vf_back_to_igbvf \
			[ "$(drv_of "$IVF_DST2")" = igbvf ]
		vsh lva destroy mm >/dev/null 2>&1
	fi

	dst_xml lm "$IVF_VF0" "$IVF_DST" lm-a lm-b >"$OUTD/lm-dst.xml"
	sleep 2
	snap lm-a a
	kill -USR1 "$PEER_PID"
	lv_migrate lm $PORT "lva -> lvb, the destination's VF in --xml"
	ktap_check migrate_virsh_migrate_live_completes [ $MIG_RC = 0 ]
	# (--keep-completed: a plain --completed read clears them)
	local job dt
	job=$(vsh lvb domjobinfo lm --completed --keep-completed 2>&1)
	info "lvb: domjobinfo --completed:"
	echo "$job" | quote
	dt=$(echo "$job" | awk '/^Total downtime:/ { print $3 }')
	info "figures: virsh migrate $MIG_MS ms; $(echo "$job" | awk -F': *' '
		{ sub(/ +$/, "", $2); gsub(/ +/, " ", $2); v[$1] = $2 }
		END { printf "QEMU: total %s, downtime %s, RAM %s, %s iterations", v["Time elapsed"], v["Total downtime"], v["Memory processed"], v["Iteration"] }')"
	# (from the XML too)
	ktap_check migrate_destination_qemu_gets_enable_migration \
		grep -aq '"host":"'"$IVF_DST"'".*"enable-migration":"on"' "$LV/lvb/log/qemu/lm.log"
	ktap_check migrate_guest_runs_on_destination \
		[ "$(vsh lvb domstate lm 2>&1)" = running ]
	b_mac=$(admin_mac "$IVF_PFB_IF" 0)
	info "PF B's VF0 on $(drv_of "$IVF_DST"), its admin MAC $b_mac; PF A's VF0 on $(drv_of "$IVF_VF0")"
	ktap_check migrate_destination_binds_vf_to_igbvf_vfio_pci \
		[ "$(drv_of "$IVF_DST")" = igbvf-vfio-pci ]
	# lvb gave PF B's VF0 the migrating MAC through PF B
	ktap_check migrate_destination_sets_migrating_mac \
		[ "$b_mac" = "$IVF_VF0_MAC" ]
	ktap_check migrate_source_returns_vf_to_igbvf \
		[ "$(drv_of "$IVF_VF0")" = igbvf ]
	a_mac=$(admin_mac "$IVF_PF_IF" 0)
	info "PF A's VF0 admin MAC after: $a_mac (before the domain: 02:00:00:00:01:ee)"
	if ! flowing lm-b 60; then
		tail -n 20 "$QM_LOG/lm-b.log" | quote
		ktap_fail migrate_traffic_goes_on_both_ways_on_destination
	else
		ktap_ok migrate_traffic_goes_on_both_ways_on_destination
		sleep 2.5
		snap lm-b b
		local li=$((b[lost2] - a[lost2])) lo=$((b[plost] - a[plost]))
		local dups=$((b[dup2] - a[dup2] + b[pdup] - a[pdup]))
		local reord=$((b[reord2] - a[reord2] + b[preord] - a[preord]))
		local bound=2
		[ -z "$dt" ] || ((dt / 500 + 1 <= bound)) || bound=$((dt / 500 + 1))
		info "frames: peer->guest lost $li, longest silence ${b[gap2]} ms; guest->peer lost $lo, longest silence ${b[pgap]} ms; duplicated $dups, reordered $reord"
		info "at most $bound frames may be lost each way (500 ms apart, downtime ${dt:-?} ms)"
		ktap_check migrate_frames_lost_within_downtime_in_order \
			[ $li -le $bound -a $lo -le $bound -a $dups = 0 -a $reord = 0 ]
	fi
	f=$(vsh lvb destroy lm 2>&1)
	sleep 0.5
	info "the domain stopped on lvb: PF B's VF0 on $(drv_of "$IVF_DST")"
	ktap_check migrate_destination_stop_returns_vf_to_igbvf \
		[ "$(drv_of "$IVF_DST")" = igbvf ]
	info "PF B's VF0 admin MAC after: $(admin_mac "$IVF_PFB_IF" 0) (before the domain: 02:00:00:00:02:10)"
}

for p in $PARTS; do
	t=$SECONDS
	case $p in
	bind | driverctl | migrate) "part_$p" ;;
	*) ktap_fail "part_${p//[^a-zA-Z0-9_]/_}_exists" "no part $p" ;;
	esac
	info "$p: $((SECONDS - t)) s"
done
ktap_finish
