#!/bin/bash
# Run a command as root on a Debian kernel (stock, or built by the project), in a qemu VM whose
# root file system is the host's own / (read-only). See scripts/README.md.
#
#   npm run vm -- [--arch x86_64|arm64] [--kernel trixie|sid|trixie-cma|all] [--mem MB] [--timeout S]
#                 [--idle-timeout S] [--dmesg PATH] [--] CMD...
#   npm run vm -- --prepare-only [--arch ...] [--kernel ...]   (download and build; no boot)
# --arch arm64: Debian's arm64 kernels (trixie, sid) under qemu-system-aarch64, with a private
# arm64 userland as root and the current directory shared at its own path (scripts/vm/arm64/).
# Exit status: the command's, or 125 if the VM could not be prepared, did not boot or never reported
# the command's status, 124 on timeout or when the guest printed nothing for --idle-timeout seconds
# (the watchdog then shows what is stuck). With --kernel all: non-zero if any kernel failed.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=vm/lib.sh
. "$HERE/vm/lib.sh"

usage() {
	sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

KERNEL=${DMABUF_VM_KERNEL_SUITE:-trixie}
MEM=${DMABUF_VM_MEM:-2048}
TIMEOUT=${DMABUF_VM_TIMEOUT:-2400}
IDLE_TIMEOUT=${DMABUF_VM_IDLE_TIMEOUT:-300}
BOOT_TRIES=${DMABUF_VM_BOOT_TRIES:-3}
DMESG=
PREPARE_ONLY=0
ARCH=${DMABUF_VM_ARCH:-x86_64}
while [ $# -gt 0 ]; do
	case $1 in
	--prepare-only) PREPARE_ONLY=1; shift ;;
	--arch) ARCH=${2:?--arch needs a value}; shift 2 ;;
	--arch=*) ARCH=${1#*=}; shift ;;
	--kernel) KERNEL=${2:?--kernel needs a value}; shift 2 ;;
	--kernel=*) KERNEL=${1#*=}; shift ;;
	--mem) MEM=${2:?--mem needs a value}; shift 2 ;;
	--mem=*) MEM=${1#*=}; shift ;;
	--timeout) TIMEOUT=${2:?--timeout needs a value}; shift 2 ;;
	--timeout=*) TIMEOUT=${1#*=}; shift ;;
	--idle-timeout) IDLE_TIMEOUT=${2:?--idle-timeout needs a value}; shift 2 ;;
	--idle-timeout=*) IDLE_TIMEOUT=${1#*=}; shift ;;
	--dmesg) DMESG=${2:?--dmesg needs a path}; shift 2 ;;
	--dmesg=*) DMESG=${1#*=}; shift ;;
	-h | --help) usage ;;
	--) shift; break ;;
	-*) echo "vm: unknown option $1" >&2; usage ;;
	*) break ;;
	esac
done
[ $# -gt 0 ] || [ "$PREPARE_ONLY" = 1 ] || { echo "vm: no command given" >&2; usage; }
case $ARCH in
x86_64 | x64 | amd64) ARCH=x86_64 ;;
arm64 | aarch64) ARCH=arm64 ;;
*) echo "vm: unknown architecture '$ARCH' (x86_64 or arm64)" >&2; exit 2 ;;
esac
if [ "$ARCH" = arm64 ]; then
	case $KERNEL in
	all) SUITES=(trixie sid) ;;
	trixie | sid) SUITES=("$KERNEL") ;;
	*) echo "vm: unknown arm64 kernel '$KERNEL' (trixie, sid or all)" >&2; exit 2 ;;
	esac
else
	case $KERNEL in
	all) SUITES=(trixie sid trixie-cma) ;;
	trixie | sid | trixie-cma) SUITES=("$KERNEL") ;;
	*) echo "vm: unknown kernel '$KERNEL' (trixie, sid, trixie-cma or all)" >&2; exit 2 ;;
	esac
fi
[[ $MEM =~ ^[0-9]+$ ]] || vm_die "--mem wants a number of MB"
[[ $TIMEOUT =~ ^[0-9]+$ ]] || vm_die "--timeout wants a number of seconds"
[[ $IDLE_TIMEOUT =~ ^[0-9]+$ ]] || vm_die "--idle-timeout wants a number of seconds (0: no watchdog)"
[[ $BOOT_TRIES =~ ^[1-9][0-9]*$ ]] || vm_die "DMABUF_VM_BOOT_TRIES wants a number >= 1"
if [ -n "$DMESG" ]; then
	case $DMESG in /*) ;; *) DMESG=$PWD/$DMESG ;; esac
fi

# --- host requirements -------------------------------------------------------------------------
check_host() {
	local missing=() t
	for t in qemu-system-x86_64:qemu-system-x86 busybox:busybox-static cpio:cpio modinfo:kmod \
		xz:xz-utils make:make gcc:gcc python3:python3 apt-get:apt dpkg-deb:dpkg flock:util-linux \
		strip:binutils; do
		command -v "${t%%:*}" > /dev/null || missing+=("${t#*:}")
	done
	if command -v busybox > /dev/null && ldd "$(command -v busybox)" > /dev/null 2>&1; then
		missing+=(busybox-static)
	fi
	[ ${#missing[@]} -eq 0 ] || vm_die "missing host tools; install them with: apt-get install ${missing[*]}"
}
if [ "$ARCH" = arm64 ]; then
	# shellcheck source=vm/arm64/lib.sh
	. "$HERE/vm/arm64/lib.sh"
	arm64_check_host
else
	check_host
fi

# --- kernel + initramfs (cached) ---------------------------------------------------------------
# Sets KVER and KDIR (holding vmlinuz, plan, mods/) and INITRD for suite $1: a stock Debian kernel
# (trixie, sid) or a kernel built by the project (NAME with a config fragment in vm/kernel/NAME.config).
prepare() {
	if [ -f "$HERE/vm/kernel/$1.config" ]; then prepare_project "$1"; else prepare_stock "$1"; fi
}

prepare_stock() {
	local suite=$1 bhash old hs v
	mkdir -p "$VM_CACHE"
	exec 9> "$VM_CACHE/.lock"
	flock 9
	vm_apt_update "$suite"
	if ! vm_resolve "$suite"; then
		vm_apt_update "$suite" force
		vm_resolve "$suite" || vm_die "cannot find linux-image-amd64 in $suite"
	fi
	bhash=$(vm_hash "$HERE/vm/build.sh" "$HERE/vm/lib.sh" "$HERE/vm/features" "$HERE"/vm/oot/*/*)
	KDIR=$VM_CACHE/$KVER/$bhash
	if [ ! -f "$KDIR/ready" ]; then
		vm_log "preparing $suite's kernel $KVER (first run for this kernel and recipe: download and build)"
		if ! vm_download "$suite" "$VM_CACHE/$KVER/debs" "${IMAGE_PKGS[@]}" "${BUILD_PKGS[@]}"; then
			vm_log "download failed; refreshing the package lists and trying again"
			vm_apt_update "$suite" force
			vm_resolve "$suite" || vm_die "cannot find linux-image-amd64 in $suite"
			KDIR=$VM_CACHE/$KVER/$bhash
			vm_download "$suite" "$VM_CACHE/$KVER/debs" "${IMAGE_PKGS[@]}" "${BUILD_PKGS[@]}" ||
				vm_die "cannot download the $suite kernel packages"
		fi
		# host-side build dependency (headers only, from the host's own release)
		hs=$(vm_host_suite)
		if ! compgen -G "$VM_CACHE/hostdebs/libelf-dev_*.deb" > /dev/null; then
			vm_apt_update "$hs"
			v=$(vm_apt_field "$hs" libelf-dev Version)
			[ -n "$v" ] || vm_die "no libelf-dev in $hs"
			vm_download "$hs" "$VM_CACHE/hostdebs" "libelf-dev=$v" || vm_die "cannot download libelf-dev"
		fi
		rm -rf "$KDIR.tmp"
		mkdir -p "$KDIR.tmp"
		bash "$HERE/vm/build.sh" "$KVER" "$VM_CACHE/$KVER/debs" "$VM_CACHE/hostdebs" "$KDIR.tmp" ||
			vm_die "could not prepare $suite's kernel $KVER (log: $KDIR.tmp/build.log)"
		rm -rf "$KDIR"
		mv "$KDIR.tmp" "$KDIR"
		date > "$KDIR/ready"
		# builds of older recipes for this kernel are no longer needed
		for old in "$VM_CACHE/$KVER"/*/; do
			old=${old%/}
			[ "$old" = "$KDIR" ] || [ "${old##*/}" = debs ] || rm -rf "$old"
		done
	fi
	# a previous kernel of this suite is no longer needed (unless another suite uses it)
	old=$(cat "$VM_CACHE/apt/$suite/kver" 2> /dev/null || true)
	if [ -n "$old" ] && [ "$old" != "$KVER" ] && [ -d "$VM_CACHE/$old" ] &&
		! find "$VM_CACHE/apt" -name kver ! -path "*/apt/$suite/kver" -exec cat {} + | grep -qxF "$old"; then
		vm_log "removing the cache of $suite's previous kernel $old"
		rm -rf "${VM_CACHE:?}/$old"
	fi
	echo "$KVER" > "$VM_CACHE/apt/$suite/kver"
	make_initrd
	flock -u 9
}

# resolve SUITE: vm_resolve with one forced refresh of the lists if needed
resolve() {
	vm_apt_update "$1"
	if ! vm_resolve "$1"; then
		vm_apt_update "$1" force
		vm_resolve "$1" || vm_die "cannot find linux-image-amd64 in $1"
	fi
}

# host-side build tools, downloaded from the host's own release and only unpacked (never installed)
host_debs() {
	local hs p v
	hs=$(vm_host_suite)
	for p in "$@"; do
		compgen -G "$VM_CACHE/hostdebs/${p}_*.deb" > /dev/null && continue
		vm_apt_update "$hs"
		v=$(vm_apt_field "$hs" "$p" Version)
		[ -n "$v" ] || vm_die "no $p in $hs"
		vm_download "$hs" "$VM_CACHE/hostdebs" "$p=$v" || vm_die "cannot download $p"
	done
}

# A kernel built by the project from Debian's linux-source of the suite before the dash
# (trixie-cma: trixie's linux-source-6.12, the version of trixie's stock kernel), configured by
# vm/kernel/NAME.config, everything built in. Cached by source version, fragment, recipe and gcc.
prepare_project() {
	local name=$1 base=${1%%-*} frag=$HERE/vm/kernel/$1.config series src srcdeb debs localv khash old
	command -v bc > /dev/null || vm_die "building the $name kernel needs bc: apt-get install bc"
	mkdir -p "$VM_CACHE"
	exec 9> "$VM_CACHE/.lock"
	flock 9
	resolve "$base"
	series=$(printf '%s\n' "$KVER" | sed -E 's/^([0-9]+\.[0-9]+).*/\1/')
	src=linux-source-$series
	debs=$VM_CACHE/$KVER/debs   # shared with the stock kernel of $base
	localv=$(sed -n 's/^CONFIG_LOCALVERSION="\(.*\)"$/\1/p' "$frag")
	khash=$({
		printf '%s=%s gcc-%s\n' "$src" "$PKGVER" "$(gcc -dumpfullversion)"
		vm_hash "$HERE/vm/build-kernel.sh" "$HERE/vm/lib.sh" "$HERE/vm/features" "$frag"
	} | sha256sum | cut -c1-12)
	KVER=${PKGVER%-*}$localv   # what uname -r says, e.g. 6.12.117-dmabuf-cma
	KDIR=$VM_CACHE/$KVER/$khash
	if [ ! -f "$KDIR/ready" ]; then
		vm_download "$base" "$debs" "$src=$PKGVER" || {
			vm_apt_update "$base" force
			vm_download "$base" "$debs" "$src=$PKGVER" || vm_die "cannot download $src $PKGVER"
		}
		host_debs libelf-dev flex bison m4
	fi
	srcdeb=$(compgen -G "$debs/${src}_${PKGVER//:/%3a}_*.deb" | head -n1)
	# the build takes long: let other kernels be prepared meanwhile (a lock of its own)
	flock -u 9
	exec 8> "$VM_CACHE/.lock-$name"
	flock 8
	if [ ! -f "$KDIR/ready" ]; then
		[ -n "$srcdeb" ] || vm_die "no $src $PKGVER in $debs"
		vm_log "building $name kernel $KVER from $src $PKGVER (about 15 minutes, once; log: $KDIR.tmp/build.log)"
		rm -rf "$KDIR.tmp"
		mkdir -p "$KDIR.tmp"
		bash "$HERE/vm/build-kernel.sh" "$name" "$srcdeb" "$frag" "$VM_CACHE/hostdebs" "$KDIR.tmp" ||
			vm_die "could not build the $name kernel $KVER (log: $KDIR.tmp/build.log)"
		[ "$(cat "$KDIR.tmp/kernelrelease")" = "$KVER" ] ||
			vm_log "warning: the $name kernel calls itself $(cat "$KDIR.tmp/kernelrelease"), not $KVER"
		rm -rf "$KDIR"
		mv "$KDIR.tmp" "$KDIR"
		date > "$KDIR/ready"
	fi
	# other recipes' builds and the remains of an interrupted build (no build runs: we hold the lock)
	for old in "$VM_CACHE/$KVER"/*/; do
		old=${old%/}
		[ "$old" = "$KDIR" ] || rm -rf "$old"
	done
	mkdir -p "$VM_CACHE/apt/$name"
	old=$(cat "$VM_CACHE/apt/$name/kver" 2> /dev/null || true)
	if [ -n "$old" ] && [ "$old" != "$KVER" ] && [ -d "$VM_CACHE/$old" ]; then
		vm_log "removing the cache of $name's previous kernel $old"
		rm -rf "${VM_CACHE:?}/$old"
	fi
	echo "$KVER" > "$VM_CACHE/apt/$name/kver"
	make_initrd
	flock -u 8
}

# initramfs: busybox + modules (none for a project kernel) + init (cheap; keyed by its own recipe)
make_initrd() {
	local ihash mods
	mods=("$KDIR"/mods/*.ko)
	[ -e "${mods[0]}" ] || mods=()
	ihash=$(vm_hash "$HERE/vm/init" "$KDIR/plan" "$(command -v busybox)" "${mods[@]}")
	INITRD=$KDIR/initrd-$ihash.cpio.gz
	if [ ! -f "$INITRD" ]; then
		local t
		t=$(mktemp -d)
		mkdir -p "$t"/{bin,dev,proc,sys,tmp,mnt,lib/vm}
		cp "$(command -v busybox)" "$t/bin/busybox"
		cp "$HERE/vm/init" "$t/init"
		chmod 755 "$t/init"
		cp -r "$KDIR/mods" "$t/lib/vm/mods"
		cp "$KDIR/plan" "$t/lib/vm/plan"
		rm -f "$KDIR"/initrd-*.cpio.gz
		(cd "$t" && find . | cpio -o -H newc --quiet | gzip -1 > "$INITRD.tmp")
		mv "$INITRD.tmp" "$INITRD"
		rm -rf "$t"
	fi
}

# --- tools for the guest: v4l-utils as new as the newest kernel ---------------------------------
# v4l2-compliance must be as new as the kernel it checks (an older one reports the newer kernel's
# changes as failures), so the guest gets sid's v4l-utils: downloaded with the libraries it needs
# (sid's glibc and libstdc++ among them), unpacked under the cache, and started through sid's own
# dynamic loader, so that nothing of it mixes with the host's libraries. Sets TOOLS_BIN.
TOOLS_SUITE=sid
prepare_tools() {
	local ver dir root p v todo seen pkgs=() deps d t ld
	mkdir -p "$VM_CACHE"
	exec 7> "$VM_CACHE/.lock-tools"
	flock 7
	vm_apt_update "$TOOLS_SUITE"
	ver=$(vm_apt_field "$TOOLS_SUITE" v4l-utils Version)
	[ -n "$ver" ] || vm_die "no v4l-utils in $TOOLS_SUITE"
	dir=$VM_CACHE/tools/v4l-utils-${ver//:/_}
	TOOLS_BIN=$dir/bin
	# ready, and its wrappers run (a cache copied from elsewhere had wrappers naming the old place)
	if [ ! -f "$dir/ready" ] || ! "$TOOLS_BIN/v4l2-ctl" --version > /dev/null 2>&1; then
		vm_log "preparing v4l-utils $ver from $TOOLS_SUITE for the guest (once)"
		# the package and its dependencies, recursively (first alternative of each)
		todo=(v4l-utils) seen=" "
		while [ ${#todo[@]} -gt 0 ]; do
			p=${todo[0]}; todo=("${todo[@]:1}")
			case $seen in *" $p "*) continue ;; esac
			seen+="$p "
			v=$(vm_apt_field "$TOOLS_SUITE" "$p" Version)
			[ -n "$v" ] || continue   # a virtual package: something else in the list provides it
			pkgs+=("$p=$v")
			deps=$( { vm_apt_field "$TOOLS_SUITE" "$p" Pre-Depends; vm_apt_field "$TOOLS_SUITE" "$p" Depends; } |
				tr ',' '\n' | sed -E 's/\|.*//; s/\(.*\)//; s/:any//; s/[[:space:]]//g' | grep -v '^$' || true)
			for d in $deps; do todo+=("$d"); done
		done
		vm_download "$TOOLS_SUITE" "$VM_CACHE/tools/debs" "${pkgs[@]}" || vm_die "cannot download v4l-utils and its libraries"
		rm -rf "$dir.tmp"
		mkdir -p "$dir.tmp/root" "$dir.tmp/bin"
		for p in "${pkgs[@]}"; do
			d=$(compgen -G "$VM_CACHE/tools/debs/${p%%=*}_$(printf '%s' "${p#*=}" | sed 's/:/%3a/')_*.deb" | head -n1)
			[ -n "$d" ] || vm_die "downloaded no ${p%%=*}"
			dpkg-deb -x "$d" "$dir.tmp/root"
		done
		ld=$(cd "$dir.tmp/root" && find . -name ld-linux-x86-64.so.2 | sort | head -n1)
		[ -n "$ld" ] || vm_die "no dynamic loader in $TOOLS_SUITE's libc6"
		ld=${ld#./}
		for t in v4l2-ctl v4l2-compliance; do
			[ -x "$dir.tmp/root/usr/bin/$t" ] || vm_die "no $t in v4l-utils $ver"
			cat > "$dir.tmp/bin/$t" <<-WRAP
			#!/bin/sh
			# $t from $TOOLS_SUITE's v4l-utils $ver, with $TOOLS_SUITE's own loader and libraries
			# (found next to this script, so the cache can move)
			root=\$(cd "\$(dirname "\$0")/../root" && pwd) || exit 127
			exec "\$root/$ld" --library-path "\$root/usr/lib/x86_64-linux-gnu:\$root/lib/x86_64-linux-gnu" --argv0 $t "\$root/usr/bin/$t" "\$@"
			WRAP
			chmod 755 "$dir.tmp/bin/$t"
		done
		rm -rf "$dir"
		mv "$dir.tmp" "$dir"
		"$TOOLS_BIN/v4l2-compliance" --version > /dev/null 2>&1 ||
			vm_die "the private v4l2-compliance does not run: $("$TOOLS_BIN/v4l2-compliance" --version 2>&1 | head -n 3)"
		date > "$dir/ready"
	fi
	flock -u 7
}

# --- one run -----------------------------------------------------------------------------------
RUNDIR=
# qemu runs under timeout, which puts itself in a process group of its own: a signal to this
# script's group does not reach it, so stop it here (its pidfile is in the run directory)
cleanup() {
	[ -n "$RUNDIR" ] || return 0
	local pid
	pid=$(cat "$RUNDIR/qemu.pid" 2> /dev/null || true)
	case $(cat "/proc/$pid/comm" 2> /dev/null) in qemu-system-*) kill "$pid" 2> /dev/null || true ;; esac
	rm -rf "$RUNDIR"
}
trap cleanup EXIT

q() { printf '%q' "$1"; }

# write the per-run share: run.sh (the command, its cwd and environment), nonce, want-dmesg
write_run() {
	local suite=$1 v name path
	shift
	# the host's PATH (the root is the host's), completed with the usual directories, no duplicates
	path=$(printf '%s' "${PATH:+$PATH:}/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" |
		tr ':' '\n' | awk 'NF && !seen[$0]++' | paste -sd: -)
	path=$TOOLS_BIN:$path
	# arm64: the root is the private userland, whose programs are in the usual places
	[ "$ARCH" != arm64 ] || path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
	{
		echo '#!/bin/bash'
		echo '# generated by scripts/vm.sh: runs inside the VM, chrooted into the host root'
		echo "export PATH=$(q "$path")"
		echo 'export HOME=/tmp/home USER=root LOGNAME=root SHELL=/bin/bash LANG=C.UTF-8'
		echo 'export npm_config_cache=/tmp/npm-cache npm_config_logs_dir=/tmp/npm-logs'
		echo 'export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false'
		echo "export DMABUF_VM=1 DMABUF_VM_KERNEL=$(q "$suite") DMABUF_VM_ARCH=$(q "$ARCH")"
		for name in CI TERM NO_COLOR FORCE_COLOR $(compgen -e | grep -E '^DMABUF_' || true); do
			case $name in DMABUF_VM | DMABUF_VM_KERNEL | DMABUF_VM_ARCH | DMABUF_VM_CMA | DMABUF_VM_UNAVAILABLE) continue ;; esac
			[ -n "${!name+x}" ] || continue
			v=${!name}
			echo "export $name=$(q "$v")"
		done
		# what the stock kernel cannot have (plan: "<feature> UNAVAILABLE <reason>"), for tests to skip
		local unavailable
		unavailable=$(awk '$2 == "UNAVAILABLE" { print $1 }' "$KDIR/plan" | paste -sd, -)
		echo "export DMABUF_VM_UNAVAILABLE=$(q "$unavailable")"
		case ,$unavailable, in *,cma_heap,*) echo 'export DMABUF_VM_CMA=0' ;; *) echo 'export DMABUF_VM_CMA=1' ;; esac
		echo 'mkdir -p "$HOME" /tmp/npm-cache /tmp/npm-logs'
		echo "cd -- $(q "$PWD") || { echo $(q "vm: cannot cd to $PWD in the VM") >&2; exit 125; }"
		local cmd="" a
		for a in "$@"; do cmd+=" $(q "$a")"; done
		if [ -t 1 ]; then
			echo "exec$cmd"
		else
			# not a terminal on the host: do not let the command see one either
			echo "$cmd 2>&1 | cat"
			echo 'exit "${PIPESTATUS[0]}"'
		fi
	} > "$RUNDIR/share/run.sh"
	od -An -N8 -tx1 /dev/urandom | tr -d ' \n' > "$RUNDIR/share/nonce"
	if [ -n "$DMESG" ]; then echo 1; else echo 0; fi > "$RUNDIR/share/want-dmesg"
}

# module parameters for the kernel command line, from vm/modparams ("vivid.n_devs=2 ...")
modparams_cmdline() {
	local mod params p
	while read -r mod params; do
		for p in $params; do printf ' %s.%s' "$mod" "$p"; done
	done < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$HERE/vm/modparams")
}

# --- accelerator: KVM when it works, else software emulation ---------------------------------------
# Sets ACCEL and CPU for the prepared kernel ($KVER, $KDIR). DMABUF_VM_ACCEL forces one (kvm, tcg,
# "tcg,thread=multi"). Otherwise, when /dev/kvm opens read-write, a probe boots the kernel under KVM
# without an initramfs: a kernel that gets as far as looking for its root file system ("VFS:") ran.
# An error from qemu (seen: "failed to set MSR 0x10a" on a host that exposes /dev/kvm but cannot run a
# guest) or silence for 30 s means it cannot. The verdict is cached per host kernel, qemu and guest
# kernel, and said once per run.
choose_accel() {
	local key file verdict out
	CPU=max
	if [ -n "${DMABUF_VM_ACCEL:-}" ]; then
		ACCEL=$DMABUF_VM_ACCEL
		case $ACCEL in kvm*) CPU=host ;; esac
		return
	fi
	ACCEL=tcg,thread=multi
	if [ ! -e /dev/kvm ]; then
		vm_log_once "no /dev/kvm: using software emulation (qemu TCG), many times slower than KVM"
		return
	fi
	if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
		vm_log_once "/dev/kvm is not readable and writable for $(id -un) (join its group, $(stat -c %G /dev/kvm)): using software emulation (qemu TCG), many times slower"
		return
	fi
	key=$(printf '%s\n' "$(uname -r)" "$(qemu-system-x86_64 --version | head -n1)" "$KVER" | sha256sum | cut -c1-16)
	file=$VM_CACHE/kvm/$key
	if [ ! -f "$file" ]; then
		mkdir -p "$VM_CACHE/kvm"
		out=$(timeout --kill-after=5 30 qemu-system-x86_64 -accel kvm -cpu host -smp 1 -m 256 \
			-nodefaults -no-user-config -display none -no-reboot -serial stdio \
			-kernel "$KDIR/vmlinuz" -append "console=ttyS0 panic=-1 loglevel=4" < /dev/null 2>&1 || true)
		if grep -q 'VFS:' <<< "$out"; then
			verdict=ok
		else
			verdict=$(grep -m1 -iE 'error|fail' <<< "$out" | sed 's/^qemu-system-x86_64: //' || true)
			verdict="no: ${verdict:-the kernel printed nothing in 30 s}"
		fi
		echo "$verdict" > "$file.tmp" && mv "$file.tmp" "$file"
	fi
	verdict=$(cat "$file")
	if [ "$verdict" = ok ]; then
		ACCEL=kvm CPU=host
		vm_log_once "using KVM"
	else
		vm_log_once "KVM cannot run $KVER here (${verdict#no: }; cached in $file): using software emulation (qemu TCG), many times slower"
	fi
}

# vm_log_once MESSAGE: vm_log, unless this run said it already
declare -A SAID=()
vm_log_once() {
	[ -z "${SAID[$1]:-}" ] || return 0
	SAID[$1]=1
	vm_log "$1"
}

# boot SUITE DMESG_FILE [EXTRA_CMDLINE]: one boot of the prepared kernel, running the command written
# by write_run. Sets QRC (qemu's status, 124 if killed by the timeout); the guest's reports are in
# $RUNDIR/state.
boot() {
	local suite=$1 dmesg_file=$2 extra=${3:-}
	local quiet="quiet loglevel=3"
	[ "${DMABUF_VM_VERBOSE:-}" != 1 ] || quiet="loglevel=7"
	rm -rf "$RUNDIR/state" "$RUNDIR/qemu.pid" "$RUNDIR/wd.sock"
	mkdir -p "$RUNDIR/state"
	set +e
	timeout --kill-after=10 "$TIMEOUT" qemu-system-x86_64 \
		-accel "$ACCEL" -cpu "$CPU" -smp 2 -m "$MEM" \
		-nodefaults -no-user-config -display none -no-reboot -pidfile "$RUNDIR/qemu.pid" \
		-serial stdio -serial "unix:$RUNDIR/wd.sock,server=on,wait=off" \
		-kernel "$KDIR/vmlinuz" -initrd "$INITRD" \
		-append "console=ttyS0 $quiet panic=-1 cma=64M mitigations=off$(modparams_cmdline)$extra" \
		-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
		-virtfs "local,path=$RUNDIR/share,mount_tag=vmrun,security_model=none,readonly=on,multidevs=remap" \
		-device virtio-gpu-pci \
		< /dev/null 2> "$RUNDIR/qemu.err" |
		python3 "$HERE/vm/console.py" "$(cat "$RUNDIR/share/nonce")" "$RUNDIR/state" "$dmesg_file" \
			"$IDLE_TIMEOUT" "$RUNDIR/wd.sock" "$RUNDIR/qemu.pid"
	local rcs=("${PIPESTATUS[@]}")
	set -e
	QRC=${rcs[0]}
}

# run_suite SUITE CMD...: returns the command's status (125 for an infrastructure failure)
run_suite() {
	local suite=$1 dmesg_file=
	shift
	if [ "$ARCH" = arm64 ]; then
		arm64_prepare "$suite"
		arm64_userland
		arm64_make_initrd
		arm64_accel
	else
		prepare "$suite"
		choose_accel
	fi
	RUNDIR=$(mktemp -d "${TMPDIR:-/tmp}/dmabuf-vm.XXXXXX")
	mkdir -p "$RUNDIR/share"
	write_run "$suite" "$@"
	if [ -n "$DMESG" ]; then
		dmesg_file=$DMESG
		[ ${#SUITES[@]} -eq 1 ] || dmesg_file=$DMESG.$suite
	fi
	local na
	na=$(awk '$2 == "UNAVAILABLE" { print $1 }' "$KDIR/plan" | paste -sd, -)
	local t0 try=1 rc
	t0=$(date +%s)
	while :; do
		local again=
		[ "$try" -eq 1 ] || again=", try $try of $BOOT_TRIES"
		vm_log "booting $suite's kernel $KVER${na:+ (unavailable on this kernel: $na)}$again"
		# DMABUF_VM_TEST_FAIL_BOOT=1 (the runner's self-test only): the first boot dies before the command
		local extra=
		[ "${DMABUF_VM_TEST_FAIL_BOOT:-}" != 1 ] || [ "$try" -ne 1 ] || extra=" dmabuf_vm.fail_boot"
		if [ "$ARCH" = arm64 ]; then arm64_boot "$suite" "$dmesg_file" "$extra"; else boot "$suite" "$dmesg_file" "$extra"; fi
		# a guest that died before the command started ran nothing: booting again is safe
		[ ! -f "$RUNDIR/state/started" ] && [ ! -f "$RUNDIR/state/idle" ] && [ "$QRC" != 124 ] &&
			[ "$try" -lt "$BOOT_TRIES" ] || break
		vm_log "the VM stopped before the command started (qemu exited with $QRC); last console lines:"
		grep -E 'BUG|Oops|RIP:|panic|FATAL|error' "$RUNDIR/state/tail" 2> /dev/null | tail -n 8 | sed 's/^/vm:   | /' >&2 || true
		try=$((try + 1))
	done
	local secs=$(( $(date +%s) - t0 ))
	if [ -f "$RUNDIR/state/rc" ]; then
		rc=$(cat "$RUNDIR/state/rc")
		vm_log "$suite ($KVER): command exited with status $rc after ${secs}s"
		[ -z "$dmesg_file" ] || vm_log "dmesg saved to $dmesg_file"
	elif [ -f "$RUNDIR/state/idle" ]; then
		vm_log "ERROR: $suite ($KVER): the guest printed nothing for ${IDLE_TIMEOUT}s (--idle-timeout); what was stuck is shown above; stopped after ${secs}s"
		rc=124
	elif [ "$QRC" = 124 ]; then
		vm_log "ERROR: $suite ($KVER): timed out after ${TIMEOUT}s (set --timeout or DMABUF_VM_TIMEOUT)"
		rc=124
	else
		if [ -f "$RUNDIR/state/info" ]; then
			vm_log "ERROR: $suite ($KVER): the VM booted but never reported the command's exit status; last console lines:"
			tail -n 30 "$RUNDIR/state/tail" 2> /dev/null | sed 's/^/vm:   | /' >&2 || true
		else
			vm_log "ERROR: $suite ($KVER): the VM did not boot (qemu exited with $QRC); last console lines:"
			sed 's/^/vm:   | /' "$RUNDIR/state/tail" 2> /dev/null | tail -n 30 >&2 || true
			vm_log "(DMABUF_VM_VERBOSE=1 shows the whole boot console)"
		fi
		[ ! -s "$RUNDIR/qemu.err" ] || sed 's/^/vm: qemu: /' "$RUNDIR/qemu.err" >&2
		rc=125
	fi
	rm -rf "$RUNDIR"
	RUNDIR=
	return "$rc"
}

if [ "$ARCH" = arm64 ]; then
	# the directory the command runs in is shared with the guest, at the same path
	ARM_PROJECT=${DMABUF_VM_ARM64_SHARE:-$PWD}
	[ "$ARM_PROJECT" != / ] || vm_die "--arch arm64 shares the current directory with the guest: run it from a project directory, not /"
	TOOLS_BIN=
	if [ "$PREPARE_ONLY" = 1 ]; then
		for s in "${SUITES[@]}"; do
			arm64_prepare "$s"
			vm_log "prepared $s's arm64 kernel $KVER"
		done
		arm64_userland
		exit 0
	fi
else
	prepare_tools
fi
if [ "$PREPARE_ONLY" = 1 ]; then
	for s in "${SUITES[@]}"; do
		prepare "$s"
		vm_log "prepared $s's kernel $KVER"
	done
	exit 0
fi
status=0
for s in "${SUITES[@]}"; do
	if run_suite "$s" "$@"; then :; else
		r=$?
		[ "$status" -ne 0 ] || status=$r
	fi
done
exit "$status"
