#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build the module against Debian kernels the host cannot build for: each
# suite's headers need that suite's compiler (trixie's and its backports'
# need gcc-14, sid's gcc-16; the host is bookworm, gcc-12). A build root is
# a minimal Debian of that suite made with mmdebstrap from Debian's
# registry, with the compiler, make, sparse and the headers of the suite's
# current kernels (see suite_conf). It is cached in
# $IVF_CACHE/buildroot-SUITE-HASH, HASH covering the sources and the
# package list: a changed list (Debian uploaded a new kernel) makes a new
# root, and the old ones of that suite are removed. If the registry can't
# be reached, the newest cached root of the suite is used.
#
#   buildroot.sh path SUITE                 make the root if needed, print it
#   buildroot.sh kernels SUITE              the kernel versions it holds
#   buildroot.sh build SUITE KVER [ARGS]    build the module for KVER (e.g.
#                                           7.3.4 or 7.3.4+deb13-amd64)
#   buildroot.sh check SUITE KVER           build with W=1 and sparse (C=2),
#                                           fail on any warning
#   buildroot.sh dkms SUITE KVER            dkms add/build/install in the
#                                           root (never the host), check
#                                           the installed module, print
#                                           dkms status, dkms remove
#   buildroot.sh download SUITE DIR PKG...  download packages of the suite
#                                           into DIR (the lab's guest
#                                           kernels: kernel-debian.sh)
#
# IVF_MIRROR picks the mirror (default deb.debian.org, which is what the
# host's own sources use). Needs root (chroot, mount namespace).
set -eo pipefail
. "$(dirname "$0")/common.sh"

MIRROR=${IVF_MIRROR:-http://deb.debian.org/debian}

KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

# Per suite: the apt sources, the compiler and tools. The kernels are the
# headers every linux-headers-amd64 in those sources depends on (the
# newest of each suite: trixie's and trixie-backports', sid's), so a new
# Debian upload makes a new root; IVF_BR_KERNELS="7.3.4+deb13-amd64 ..."
# names them instead.
suite_conf() {
	local o="[signed-by=$KEYRING]"
	# The mirror's sid Release file is a snapshot whose Valid-Until has
	# passed; its signature is still checked.
	local sid="[signed-by=$KEYRING check-valid-until=no]"

	case $1 in
	trixie)
		# trixie's sparse (0.6.4) can't parse __typeof_unqual__,
		# which 7.x's headers use (and checker-valid.sh tests): sparse
		# is built from sid's source package (0.6.5~rc1) instead.
		SOURCES=("deb $o $MIRROR trixie main"
			 "deb $o $MIRROR trixie-backports main"
			 "deb-src $sid $MIRROR sid main")
		PKGS="gcc-14 make libc6-dev dpkg-dev dkms"
		SPARSE_SRC=sid
		;;
	sid)
		SOURCES=("deb $sid $MIRROR sid main")
		PKGS="gcc-16 make sparse libc6-dev dkms"
		SPARSE_SRC=
		;;
	bookworm)
		# 6.1: a kernel the driver refuses.
		SOURCES=("deb $o $MIRROR bookworm main")
		PKGS="gcc-12 make libc6-dev"
		SPARSE_SRC=
		;;
	*)
		die "buildroot: unknown suite '$1' (trixie, sid, bookworm)"
		;;
	esac
	PKGS=$(echo $PKGS)
}

# A private apt state for suite $1 (the host's is untouched), its options
# in the array opts; updated from the registry with $2 = update.
private_apt() {
	local d=$IVF_CACHE/buildroot-apt/$1

	mkdir -p "$d/lists/partial" "$d/parts" "$d/cache/archives/partial"
	: >"$d/status"
	printf '%s\n' "${SOURCES[@]}" | grep '^deb ' >"$d/sources.list"
	opts=(-o Dir::Etc::SourceList="$d/sources.list"
	      -o Dir::Etc::SourceParts="$d/parts"
	      -o Dir::Etc::Preferences=/dev/null
	      -o Dir::Etc::PreferencesParts="$d/parts"
	      -o Dir::State::Lists="$d/lists" -o Dir::State::Status="$d/status"
	      -o Dir::Cache="$d/cache" -o APT::Architecture=amd64
	      -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
	[ "${2:-}" != update ] ||
		apt-get "${opts[@]}" -qq --error-on=any update >&2
}

# The kernel releases of the suite's linux-headers-amd64 packages, asked of
# the registry with apt, in the private apt state.
resolve_kernels() {
	local v opts

	if [ -n "$IVF_BR_KERNELS" ]; then
		echo $IVF_BR_KERNELS
		return
	fi
	private_apt "$1" update || return 1
	for v in $(apt-cache "${opts[@]}" madison linux-headers-amd64 |
		   awk -F'|' '{ gsub(/ /, "", $2); print $2 }'); do
		apt-cache "${opts[@]}" show "linux-headers-amd64=$v" |
			sed -n 's/^Depends: //p' | tr ',' '\n' |
			sed -n 's/^ *linux-headers-\([0-9][^ ]*\).*/\1/p' |
			head -n1
	done | sort -uV
}

root_path() {
	local hash

	hash=$( { printf '%s\n' "${SOURCES[@]}" "$PKGS" "$SPARSE_SRC"; } |
		sha256sum | cut -c1-12)
	echo "$IVF_CACHE/buildroot-$1-$hash"
}

# 7.x's Makefile runs scripts/checker-valid.sh before it lets sparse run
# (C=1/C=2), and Debian's headers packages do not ship that script: sparse
# is then silently off, with a line that does not say "warning". Take the
# script from the kernel's linux-source package into the headers (of this
# private root) that call it and lack it.
add_checker() {
	local root=$1 common mm src

	for common in "$root"/usr/src/linux-headers-*-common; do
		[ -e "$common/scripts/checker-valid.sh" ] && continue
		grep -q checker-valid "$common/Makefile" || continue
		mm=$(echo "${common##*/linux-headers-}" |
		     sed -E 's/^([0-9]+\.[0-9]+).*/\1/')
		src=$root/usr/src/linux-source-$mm.tar.xz
		[ -f "$src" ] ||
			chroot "$root" apt-get install -y -q \
				--no-install-recommends "linux-source-$mm" >&2 ||
			return 1
		tar -xJf "$src" -O --wildcards '*/scripts/checker-valid.sh' \
			>"$common/scripts/checker-valid.sh" &&
			chmod 755 "$common/scripts/checker-valid.sh" || return 1
	done
}

# sparse from the source package of suite $2, built with the root's
# compiler, in /usr/local/bin (ahead of /usr/bin in PATH).
add_sparse() {
	local root=$1 cc

	cc=$(cd "$root/usr/bin" && ls gcc-[0-9]* | sort -V | tail -n1)
	chroot "$root" sh -ec "
		cd /tmp
		apt-get source -q sparse/$2 >/dev/null
		cd sparse-*/
		make -s CC=$cc sparse
		install -m 755 sparse /usr/local/bin/sparse
		cd /tmp
		rm -rf sparse*" >&2
}

# Make the root, or find it; then hold it (fd 9) shared, so no other run
# removes it while we build in it. Making and removing are exclusive.
make_root() {
	local suite=$1 root tmp old hooks ks k

	flock -x 9
	if ! ks=$(resolve_kernels "$suite") || [ -z "$ks" ]; then
		# The registry can't be asked: the newest root made will do.
		root=$(ls -dt "$IVF_CACHE/buildroot-$suite"-*/.ivf-complete \
		       2>/dev/null | head -n1)
		[ -n "$root" ] ||
			die "buildroot: can't find $suite's kernels, and no root is cached"
		root=${root%/.ivf-complete}
		log "buildroot: registry not reachable, using $root"
		flock -s 9
		echo "$root"
		return
	fi
	for k in $ks; do
		PKGS="$PKGS linux-headers-$k"
	done
	root=$(root_path "$suite")
	if [ -f "$root/.ivf-complete" ]; then
		flock -s 9
		echo "$root"
		return
	fi
	command -v mmdebstrap >/dev/null ||
		as_root apt-get install -y mmdebstrap >&2 ||
		die "buildroot: mmdebstrap is not installable"
	log "buildroot: making $root ($PKGS)"
	hooks=()
	[ -z "$SPARSE_SRC" ] || hooks+=(--customize-hook="$(declare -f add_sparse); add_sparse \"\$1\" $SPARSE_SRC")
	tmp=$root.tmp
	rm -rf "$tmp"
	mkdir -p "$IVF_CACHE"
	mmdebstrap --mode=root --variant=apt \
		--include="${PKGS// /,}" \
		--customize-hook='chroot "$1" apt-get clean' \
		--customize-hook="$(declare -f add_checker); add_checker \"\$1\"" \
		"${hooks[@]}" \
		"$suite" "$tmp" "${SOURCES[@]}" >&2 ||
		{ rm -rf "$tmp"; die "buildroot: mmdebstrap $suite failed"; }
	touch "$tmp/.ivf-complete"
	mv "$tmp" "$root"
	# An older root of the same suite was made from another list.
	for old in "$IVF_CACHE/buildroot-$suite"-*; do
		case $old in
		"$root"|*.tmp) ;;
		*) [ -d "$old" ] && log "buildroot: removing $old" &&
			rm -rf "$old" ;;
		esac
	done
	flock -s 9
	echo "$root"
}

kernels() {
	local d

	for d in "$1"/usr/src/linux-headers-*; do
		[ -f "$d/Makefile" ] && [ -e "$d/Module.symvers" ] &&
			echo "${d##*/linux-headers-}"
	done
	return 0
}

# The full kernel release for a version like 7.3.4 (or the release itself).
kver_of() {
	local root=$1 want=$2 k

	for k in $(kernels "$root"); do
		if [ "$k" = "$want" ] || [[ $k == "$want"+*-amd64 ]]; then
			echo "$k"
			return
		fi
	done
	die "buildroot: no headers for '$want' in $root (has: $(kernels "$root" | tr '\n' ' '))"
}

# Run CMD... in ROOT, with /proc and /dev of its own mount namespace, so
# nothing stays mounted when it ends.
in_root() {
	local root=$1

	shift
	unshare --mount --propagation private -- /bin/sh -c '
		r=$1; shift
		mount -t proc proc "$r/proc" &&
		mount --rbind /dev "$r/dev" &&
		exec chroot "$r" "$@"' sh "$root" "$@"
}

# Build a copy of the tree (the working tree, uncommitted changes too) for
# release KVER in ROOT; the objects stay in the copy, not in the tree.
build() {
	local root=$1 kver=$2 dir rc

	shift 2
	dir=$(mktemp -d "$root/tmp/ivf-build.XXXXXX")
	cp -r "$IVF_REPO/Kbuild" "$IVF_REPO/driver" "$IVF_REPO/include" "$dir/"
	rc=0
	in_root "$root" make -C "/usr/src/linux-headers-$kver" \
		M="/tmp/${dir##*/}" "$@" modules || rc=$?
	if [ $rc = 0 ] && [ -n "$IVF_BR_OUT" ]; then
		mkdir -p "$IVF_BR_OUT"
		cp "$dir/igbvf-vfio-pci.ko" "$IVF_BR_OUT/"
	fi
	rm -rf "$dir"
	return $rc
}

# DKMS as a user of the suite would run it, inside ROOT: the sources in
# the root's /usr/src, the module in the root's /lib/modules/KVER; the
# host's DKMS tree and modules are not touched. Prints dkms status while
# installed; removes it again (also on failure).
dkms_check() {
	local root=$1 kver=$2 name ver src rc=0 ko

	name=$(ivf_dkms_conf PACKAGE_NAME)
	ver=$(ivf_dkms_conf PACKAGE_VERSION)
	[ -x "$root/usr/sbin/dkms" ] ||
		die "buildroot: no dkms in $root (an old root? remove it)"
	# one DKMS tree per root: two runs at once must take turns
	exec 8>"$IVF_CACHE/buildroot-$suite.dkms.lock"
	flock -x 8
	src=/usr/src/$name-$ver
	in_root "$root" dkms remove "$name/$ver" --all >/dev/null 2>&1 || true
	rm -rf "${root:?}$src"
	mkdir -p "$root$src"
	# what DKMS needs, from the working tree (uncommitted changes too)
	cp -r "$IVF_REPO/dkms.conf" "$IVF_REPO/Kbuild" "$IVF_REPO/Makefile" \
		"$IVF_REPO/driver" "$IVF_REPO/include" "$root$src/"
	in_root "$root" dkms add "$name/$ver" &&
	in_root "$root" dkms build "$name/$ver" -k "$kver" &&
	in_root "$root" dkms install "$name/$ver" -k "$kver" --force || rc=1
	if [ $rc = 0 ]; then
		ko=$(cd "$root" && find "lib/modules/$kver/updates" \
			-name "$name.ko*" 2>/dev/null | head -n1)
		if [ -z "$ko" ]; then
			log "dkms install left no module in $root/lib/modules/$kver"
			rc=1
		elif ! in_root "$root" modinfo "/$ko" |
			grep -q "^vermagic: *$kver "; then
			log "wrong vermagic in $root/$ko"
			rc=1
		else
			echo "installed /$ko"
		fi
	fi
	in_root "$root" dkms status "$name/$ver" -k "$kver" | sed 's/^/dkms status: /'
	in_root "$root" dkms remove "$name/$ver" --all >/dev/null || rc=1
	rm -rf "${root:?}$src"
	[ -z "$(cd "$root" && find "lib/modules/$kver/updates" \
		-name "$name.ko*" 2>/dev/null)" ] ||
		{ log "dkms remove left the module in $root"; rc=1; }
	# and the host never saw it
	if [ -e "/var/lib/dkms/$name/$ver/$kver" ] ||
	   [ -n "$(find "/lib/modules/$kver/updates" -name "$name.ko*" \
		   2>/dev/null)" ]; then
		log "dkms in $root reached the host's DKMS tree or modules"
		rc=1
	fi
	return $rc
}

[ "$(id -u)" = 0 ] || die "buildroot: needs root (chroot)"
cmd=$1 suite=$2
[ -n "$suite" ] || die "usage: $0 path|kernels|build|check|dkms|download SUITE [KVER [MAKE ARGS]]"
suite_conf "$suite"
mkdir -p "$IVF_CACHE"
exec 9>"$IVF_CACHE/buildroot-$suite.lock"
case $cmd in
path)
	make_root "$suite"
	;;
kernels)
	kernels "$(make_root "$suite")"
	;;
build|check|dkms)
	[ -n "$3" ] || die "usage: $0 $cmd SUITE KVER"
	root=$(make_root "$suite")
	kver=$(kver_of "$root" "$3")
	shift 3
	if [ "$cmd" = dkms ]; then
		dkms_check "$root" "$kver"
		exit
	fi
	if [ "$cmd" = build ]; then
		build "$root" "$kver" "$@"
		exit
	fi
	# Silent (-s), a clean build prints nothing: anything printed is a
	# warning, including "sparse is not available" from the kernel's
	# Makefile, which does not say "warning".
	out=$(build "$root" "$kver" -s W=1 C=2 2>&1) || { echo "$out"; exit 1; }
	[ -z "$out" ] || { echo "$out"; exit 1; }
	;;
download)
	# The lists resolve_kernels keeps: fresh when a root was made or
	# checked since the last upload, which kernel-debian.sh does first.
	[ -n "$4" ] || die "usage: $0 download SUITE DIR PKG..."
	dir=$3
	shift 3
	private_apt "$suite"
	(cd "$dir" && apt-get "${opts[@]}" -q download "$@" >&2)
	;;
*)
	die "usage: $0 path|kernels|build|check|dkms|download SUITE [KVER [MAKE ARGS]]"
	;;
esac
