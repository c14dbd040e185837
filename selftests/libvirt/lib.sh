# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
# libvirt daemons inside the lab guest (sourced by selftests/tests/libvirt.sh).
#
# The lab guest runs chrooted in the host's root, read-only over 9p, with
# tmpfs on /tmp and /run. Each daemon stands for one host: lvd_start NAME
# starts Debian's libvirtd in a mount and UTS namespace of its own, with
# tmpfs-backed /etc/libvirt, /var/lib/libvirt, /var/log/libvirt,
# /var/cache/libvirt and /run/libvirt (all under $LV/NAME), its own host
# name (NAME) and host UUID, and its sockets in $LV/NAME/sock. It inherits
# the caller's mount namespace, so the /lib/modules the test set up.
LV=${LV:-/tmp/lv}

lv_uri() { echo "qemu+unix:///system?socket=$LV/$1/sock/libvirt-sock"; }
vsh() { # NAME virsh-args...
	local n=$1
	shift
	virsh -q -c "$(lv_uri "$n")" "$@"
}

lvd_start() { # NAME UUID
	local n=$1 d=$LV/$1 i
	mkdir -p "$d"/{etc/qemu,lib,log/qemu,cache,run,sock}
	cat >"$d/etc/libvirtd.conf" <<-EOT
	unix_sock_dir = "$d/sock"
	unix_sock_rw_perms = "0700"
	auth_unix_rw = "none"
	auth_unix_ro = "none"
	host_uuid = "$2"
	log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
	EOT
	# QEMU as root, no cgroups, no private /dev, no security driver, no
	# virtlogd: the lab guest has no systemd, cgroup tree or users of its
	# own. Only the QEMU driver's defaults that need those are changed.
	cat >"$d/etc/qemu.conf" <<-EOT
	user = "root"
	group = "root"
	dynamic_ownership = 0
	remember_owner = 0
	security_driver = "none"
	cgroup_controllers = [ ]
	namespaces = [ ]
	stdio_handler = "file"
	EOT
	mkdir -p /run/libvirt
	unshare -m -u --propagation private /bin/bash -c '
		d=$1
		mount --bind "$d/etc" /etc/libvirt &&
		mount --bind "$d/lib" /var/lib/libvirt &&
		mount --bind "$d/log" /var/log/libvirt &&
		mount --bind "$d/cache" /var/cache/libvirt &&
		mount --bind "$d/run" /run/libvirt &&
		hostname "$2" || exit 1
		exec libvirtd --pid-file "$d/libvirtd.pid"
	' lvd "$d" "$n" >"$d/libvirtd.out" 2>&1 &
	echo $! >"$d/pid"
	for ((i = 0; i < 600; i++)); do
		[ -S "$d/sock/libvirt-sock" ] && vsh "$n" version >/dev/null 2>&1 && return 0
		kill -0 "$(cat "$d/pid")" 2>/dev/null || break
		sleep 0.2
	done
	echo "# $n: libvirtd did not start:"
	sed 's/^/#   /' "$d/libvirtd.out" "$d/log/libvirtd.log" 2>/dev/null | tail -n 8
	return 1
}

lvd_stop() { # NAME
	local d=$LV/$1 pid
	pid=$(cat "$d/pid" 2>/dev/null) || return 0
	kill "$pid" 2>/dev/null
	pid_reap "$pid"	# selftests/qemu/lib.sh
	rm -f "$d/pid"
}

# A PCI address element for BDF (dddd:bb:ss.f), with EXTRA attributes.
pci_addr() { # BDF [EXTRA]
	local b=$1
	printf "<address %sdomain='0x%s' bus='0x%s' slot='0x%s' function='0x%s'/>" \
		"${2:+$2 }" "${b:0:4}" "${b:5:2}" "${b:8:2}" "${b:11:1}"
}

# The driver a PCI device is bound to ("none" when unbound).
drv_of() {
	local l
	l=$(readlink "/sys/bus/pci/devices/$1/driver" 2>/dev/null) || { echo none; return; }
	echo "${l##*/}"
}

# Give a VF to DRIVER ("" = no override: whatever matches, igbvf here).
vf_bind() { # BDF DRIVER
	local d=/sys/bus/pci/devices/$1
	[ -e "$d/driver" ] && echo "$1" >"$d/driver/unbind"
	echo "$2" >"$d/driver_override"
	echo "$1" >/sys/bus/pci/drivers_probe 2>/dev/null
	return 0
}
