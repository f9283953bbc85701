# shellcheck shell=bash
# The arm64 guest of scripts/vm.sh (--arch arm64), sourced by it after scripts/vm/lib.sh.
#
# Debian's stock arm64 kernels boot under qemu-system-aarch64 (-M virt, TCG). The host's / cannot
# be the guest's root (its binaries are x86-64), so the root is a private arm64 userland unpacked
# from Debian .debs (scripts/vm/arm64/packages and their dependencies) under the cache, shared
# read-only over 9p; the project tree is shared on its own and mounted at the same path. Drivers the
# arm64 kernels lack are cross-compiled out of tree (scripts/vm/arm64/build.sh). Everything lives
# under $VM_CACHE/arm64, with its own private apt configuration (arm64 lists, plus amd64 for the
# host-side kbuild tools); nothing of the x86-64 caches is read or written.

ARM_DIR=$VM_DIR/arm64
VM_CACHE=$VM_CACHE/arm64
# the userland comes from this suite for every kernel (sid's kernel runs trixie's node and tools)
ARM_USERLAND_SUITE=${DMABUF_VM_ARM64_USERLAND:-trixie}
ARM_QEMU=qemu-system-aarch64

# the private apt configuration, for arm64 packages (and amd64 ones named pkg:amd64)
vm_apt_opts() {
	local d=$VM_CACHE/apt/$1
	APT_OPTS=(-q -o "Dir::Etc::SourceList=$d/sources.list" -o Dir::Etc::SourceParts=/dev/null
		-o "Dir::State::Lists=$d/lists" -o "Dir::Cache=$d/cache" -o Dir::State::status=/dev/null
		-o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts=/dev/null
		-o Acquire::Languages=none -o APT::Sandbox::User=root
		-o APT::Architecture=arm64 -o APT::Architectures::=arm64 -o APT::Architectures::=amd64)
}

arm64_check_host() {
	local missing=() t
	for t in qemu-system-aarch64:qemu-system-arm aarch64-linux-gnu-gcc:gcc-aarch64-linux-gnu \
		cpio:cpio modinfo:kmod xz:xz-utils make:make gcc:gcc python3:python3 apt-get:apt \
		dpkg-deb:dpkg flock:util-linux file:file; do
		command -v "${t%%:*}" > /dev/null || missing+=("${t#*:}")
	done
	[ ${#missing[@]} -eq 0 ] || vm_die "missing host tools for --arch arm64; install them with: apt-get install ${missing[*]}"
}

# arm64_resolve SUITE: sets KVER (6.12.117+deb13-arm64), PKGVER, IMAGE_PKGS and BUILD_PKGS from
# linux-image-arm64 of that suite. The headers are arm64's, but their kbuild tools (fixdep, modpost,
# ...) are arm64 programs: the amd64 build of the same linux-kbuild package is used instead.
arm64_resolve() {
	local suite=$1 meta series kre kb i
	meta=$(vm_apt_deps "$suite" linux-image-arm64 'linux-image-[0-9][^ ]*' | head -n1)
	[ -n "$meta" ] || return 1
	KVER=${meta%%=*}; KVER=${KVER#linux-image-}; PKGVER=${meta#*=}
	[ "$PKGVER" != "$meta" ] || PKGVER=$(vm_apt_field "$suite" "linux-image-$KVER" Version)
	kre=$(printf '%s\n' "$KVER" | sed 's/[.+]/\\&/g')
	IMAGE_PKGS=("linux-image-$KVER=$PKGVER")
	mapfile -t -O 1 IMAGE_PKGS < <(vm_apt_deps "$suite" "linux-image-$KVER=$PKGVER" "linux-(binary|modules)-$kre")
	series=$(printf '%s\n' "$KVER" | sed -E 's/^([0-9]+\.[0-9]+).*/\1/')
	BUILD_PKGS=("linux-headers-$KVER=$PKGVER" "linux-source-$series=$PKGVER")
	mapfile -t -O 2 BUILD_PKGS < <(vm_apt_deps "$suite" "linux-headers-$KVER=$PKGVER" 'linux-headers-[^ ]*-common')
	kb=$(vm_apt_deps "$suite" "linux-headers-$KVER=$PKGVER" 'linux-kbuild-[^ ]*' | head -n1)
	[ -n "$kb" ] || return 1
	BUILD_PKGS+=("${kb%%=*}:amd64=$PKGVER")
	for i in "${!BUILD_PKGS[@]}"; do
		case ${BUILD_PKGS[$i]} in *=*) ;; *) BUILD_PKGS[$i]+="=$PKGVER" ;; esac
	done
}

# arm64_download SUITE DESTDIR NAME[:ARCH]=VER...: the packages not in DESTDIR yet, in one apt-get
# call, with one line of log
arm64_download() {
	local suite=$1 dest=$2 p name ver todo=() tmp
	shift 2
	mkdir -p "$dest"
	for p in "$@"; do
		name=${p%%=*}; ver=${p#*=}; name=${name%%:*}
		compgen -G "$dest/${name}_${ver//:/%3a}_*.deb" > /dev/null || todo+=("$p")
	done
	[ ${#todo[@]} -gt 0 ] || return 0
	vm_log "fetching ${#todo[@]} arm64 package(s) from $suite${3:+ ($(printf '%s ' "${todo[@]:0:3}" | sed 's/=[^ ]*//g')...)}"
	vm_apt_opts "$suite"
	tmp=$(mktemp -d "$dest/.download.XXXXXX")
	if (cd "$tmp" && apt-get "${APT_OPTS[@]}" download "${todo[@]}") > "$dest/download.log" 2>&1; then
		mv "$tmp"/*.deb "$dest/"
		rm -rf "$tmp"
	else
		rm -rf "$tmp"
		tail -n 20 "$dest/download.log" >&2
		return 1
	fi
}

arm64_resolve_or_die() {
	vm_apt_update "$1"
	if ! arm64_resolve "$1"; then
		vm_apt_update "$1" force
		arm64_resolve "$1" || vm_die "cannot find linux-image-arm64 in $1"
	fi
}

# --- the userland ---------------------------------------------------------------------------------
# arm64_userland: sets USERLAND (a root directory) and holds a shared lock on it (fd 6) for the
# rest of the run, so that a later rebuild never deletes a root a running VM uses. Keyed by the
# resolved package versions and this recipe; the .debs are kept for rebuilds.
arm64_userland() {
	local suite=$ARM_USERLAND_SUITE base=$VM_CACHE/userland lists pkgs uhash dir p d old t0
	mkdir -p "$base"
	exec 5> "$base/.lock"
	flock 5
	vm_apt_update "$suite"
	lists=$(compgen -G "$VM_CACHE/apt/$suite/lists/*_binary-arm64_Packages*" | head -n1)
	[ -n "$lists" ] || vm_die "no arm64 package index for $suite"
	pkgs=$(/usr/lib/apt/apt-helper cat-file "$lists" |
		python3 "$ARM_DIR/closure.py" - $(sed -e 's/#.*//' "$ARM_DIR/packages")) ||
		vm_die "cannot resolve the arm64 userland's packages in $suite"
	# v4l2-compliance must be as new as the newest kernel (an older one reports the newer kernel's
	# changes as failures; docs/vm.md): sid's v4l-utils with sid's own libraries and loader, unpacked
	# apart under /opt/sid, as the x86-64 runner does on the host
	local tsuite=${TOOLS_SUITE:-sid} tlists tpkgs
	vm_apt_update "$tsuite"
	tlists=$(compgen -G "$VM_CACHE/apt/$tsuite/lists/*_binary-arm64_Packages*" | head -n1)
	[ -n "$tlists" ] || vm_die "no arm64 package index for $tsuite"
	tpkgs=$(/usr/lib/apt/apt-helper cat-file "$tlists" | python3 "$ARM_DIR/closure.py" - v4l-utils) ||
		vm_die "cannot resolve v4l-utils in $tsuite"
	uhash=$({ printf '%s\n' "$pkgs" "$tsuite:" "$tpkgs"; vm_hash "$ARM_DIR/lib.sh" "$ARM_DIR/packages"; } | sha256sum | cut -c1-12)
	dir=$base/$suite-$uhash
	if [ ! -f "$dir/ready" ]; then
		t0=$(date +%s)
		vm_log "assembling the arm64 userland from $suite ($(wc -l <<< "$pkgs") packages; once per package set)"
		# shellcheck disable=SC2086
		arm64_download "$suite" "$base/debs" $pkgs || {
			vm_apt_update "$suite" force
			vm_die "cannot download the arm64 userland's packages (the lists were refreshed: try again)"
		}
		# shellcheck disable=SC2086
		arm64_download "$tsuite" "$base/debs" $tpkgs || {
			vm_apt_update "$tsuite" force
			vm_die "cannot download $tsuite's v4l-utils (the lists were refreshed: try again)"
		}
		rm -rf "$dir.tmp"
		mkdir -p "$dir.tmp/root"
		(
			cd "$dir.tmp/root"
			mkdir -p usr/bin usr/sbin usr/lib etc tmp proc sys dev run root var/tmp
			ln -s usr/bin bin; ln -s usr/sbin sbin; ln -s usr/lib lib
			chmod 1777 tmp var/tmp
		)
		for p in $pkgs; do
			d=$(compgen -G "$base/debs/${p%%=*}_$(printf '%s' "${p#*=}" | sed 's/:/%3a/')_*.deb" | head -n1)
			[ -n "$d" ] || vm_die "downloaded no ${p%%=*}"
			dpkg-deb --fsys-tarfile "$d" | tar -x --keep-directory-symlink -C "$dir.tmp/root" ||
				vm_die "unpacking $d failed"
		done
		mkdir -p "$dir.tmp/root/opt/$tsuite/usr/bin" "$dir.tmp/root/opt/$tsuite/usr/lib" "$dir.tmp/root/usr/local/bin"
		ln -s usr/bin "$dir.tmp/root/opt/$tsuite/bin"; ln -s usr/lib "$dir.tmp/root/opt/$tsuite/lib"
		for p in $tpkgs; do
			d=$(compgen -G "$base/debs/${p%%=*}_$(printf '%s' "${p#*=}" | sed 's/:/%3a/')_*.deb" | head -n1)
			[ -n "$d" ] || vm_die "downloaded no ${p%%=*} from $tsuite"
			dpkg-deb --fsys-tarfile "$d" | tar -x --keep-directory-symlink -C "$dir.tmp/root/opt/$tsuite" ||
				vm_die "unpacking $d failed"
		done
		for t in v4l2-ctl v4l2-compliance; do
			[ -x "$dir.tmp/root/opt/$tsuite/usr/bin/$t" ] || vm_die "no $t in $tsuite's v4l-utils"
			printf '#!/bin/sh\n# %s from %s'"'"'s v4l-utils, with its own loader and libraries\nexec /opt/%s/usr/lib/ld-linux-aarch64.so.1 --library-path /opt/%s/usr/lib/aarch64-linux-gnu --argv0 %s /opt/%s/usr/bin/%s "$@"\n' \
				"$t" "$tsuite" "$tsuite" "$tsuite" "$t" "$tsuite" "$t" > "$dir.tmp/root/usr/local/bin/$t"
			chmod 755 "$dir.tmp/root/usr/local/bin/$t"
		done
		(
			cd "$dir.tmp/root"
			# what maintainer scripts and update-alternatives would have made
			[ -e usr/bin/sh ] || ln -s dash usr/bin/sh
			[ -e usr/bin/awk ] || ln -s gawk usr/bin/awk
			[ -e usr/bin/cc ] || ln -s gcc usr/bin/cc
			printf 'root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' > etc/passwd
			printf 'root:x:0:\nvideo:x:44:\nrender:x:105:\nnogroup:x:65534:\n' > etc/group
			printf '127.0.0.1 localhost\n' > etc/hosts
			[ -e usr/lib/ld-linux-aarch64.so.1 ] || vm_die "no arm64 dynamic loader in the userland"
			[ -x usr/bin/node ] || vm_die "no node in the userland"
			[ -x usr/bin/busybox ] || vm_die "no busybox in the userland"
		)
		printf '%s\n' "$pkgs" "# /opt/$tsuite" "$tpkgs" > "$dir.tmp/packages"
		rm -rf "$dir"
		mv "$dir.tmp" "$dir"
		date > "$dir/ready"
		vm_log "arm64 userland ready in $(( $(date +%s) - t0 ))s: $dir"
	fi
	# older userlands nobody uses any more (a VM holds a shared lock on its own)
	for old in "$base"/*/; do
		old=${old%/}
		case $old in "$dir" | */debs) continue ;; esac
		if flock -n -x "$old.lock" true; then rm -rf "$old" "$old.lock"; fi
	done
	exec 6> "$dir.lock"
	flock -s 6
	flock -u 5
	USERLAND=$dir/root
}

# --- the kernel -----------------------------------------------------------------------------------
# arm64_prepare SUITE: sets KVER, KDIR (vmlinuz, plan, mods/) and INITRD, like prepare_stock
arm64_prepare() {
	local suite=$1 bhash old
	mkdir -p "$VM_CACHE"
	exec 9> "$VM_CACHE/.lock"
	flock 9
	arm64_resolve_or_die "$suite"
	bhash=$(vm_hash "$ARM_DIR/build.sh" "$ARM_DIR/lib.sh" "$VM_DIR/lib.sh" "$ARM_DIR/features" \
		"$ARM_DIR"/oot/*/* "$VM_DIR"/oot/sw_sync/* "$VM_DIR"/oot/media_m2m/* "$(command -v aarch64-linux-gnu-gcc)")
	KDIR=$VM_CACHE/$KVER/$bhash
	if [ ! -f "$KDIR/ready" ]; then
		vm_log "preparing $suite's arm64 kernel $KVER (first run for this kernel and recipe: download and cross-build)"
		arm64_download "$suite" "$VM_CACHE/$KVER/debs" "${IMAGE_PKGS[@]}" "${BUILD_PKGS[@]}" || {
			vm_apt_update "$suite" force
			arm64_resolve "$suite" || vm_die "cannot find linux-image-arm64 in $suite"
			KDIR=$VM_CACHE/$KVER/$bhash
			arm64_download "$suite" "$VM_CACHE/$KVER/debs" "${IMAGE_PKGS[@]}" "${BUILD_PKGS[@]}" ||
				vm_die "cannot download the $suite arm64 kernel packages"
		}
		rm -rf "$KDIR.tmp"
		mkdir -p "$KDIR.tmp"
		bash "$ARM_DIR/build.sh" "$KVER" "$VM_CACHE/$KVER/debs" "$KDIR.tmp" ||
			vm_die "could not prepare $suite's arm64 kernel $KVER (log: $KDIR.tmp/build.log)"
		rm -rf "$KDIR"
		mv "$KDIR.tmp" "$KDIR"
		date > "$KDIR/ready"
		for old in "$VM_CACHE/$KVER"/*/; do
			old=${old%/}
			[ "$old" = "$KDIR" ] || [ "${old##*/}" = debs ] || rm -rf "$old"
		done
	fi
	old=$(cat "$VM_CACHE/apt/$suite/kver" 2> /dev/null || true)
	if [ -n "$old" ] && [ "$old" != "$KVER" ] && [ -d "$VM_CACHE/$old" ]; then
		vm_log "removing the cache of $suite's previous arm64 kernel $old"
		rm -rf "${VM_CACHE:?}/$old"
	fi
	echo "$KVER" > "$VM_CACHE/apt/$suite/kver"
	flock -u 9
}

# arm64_make_initrd: the initramfs of the prepared kernel, with the userland's static busybox
arm64_make_initrd() {
	local ihash mods bb=$USERLAND/usr/bin/busybox t
	mods=("$KDIR"/mods/*.ko)
	[ -e "${mods[0]}" ] || mods=()
	ihash=$(vm_hash "$VM_DIR/init" "$KDIR/plan" "$bb" "${mods[@]}")
	INITRD=$KDIR/initrd-$ihash.cpio.gz
	[ ! -f "$INITRD" ] || return 0
	t=$(mktemp -d)
	mkdir -p "$t"/{bin,dev,proc,sys,tmp,mnt,lib/vm}
	cp "$bb" "$t/bin/busybox"
	cp "$VM_DIR/init" "$t/init"
	chmod 755 "$t/init"
	cp -r "$KDIR/mods" "$t/lib/vm/mods"
	cp "$KDIR/plan" "$t/lib/vm/plan"
	(cd "$t" && find . | cpio -o -H newc --quiet | gzip -1 > "$INITRD.tmp")
	# other initramfs of this kernel: only when no VM could be reading them (they are read at start)
	find "$KDIR" -maxdepth 1 -name 'initrd-*.cpio.gz' ! -name "${INITRD##*/}" -mmin +60 -delete 2> /dev/null || true
	mv "$INITRD.tmp" "$INITRD"
	rm -rf "$t"
}

# --- one boot -------------------------------------------------------------------------------------
# arm64_boot SUITE DMESG_FILE [EXTRA_CMDLINE]: like boot in vm.sh. The virt board has one UART
# (ttyAMA0, the console); the watchdog's channel is a virtio console (hvc0). The guest's root is the
# userland (9p tag hostroot), the project tree is shared as "project".
arm64_boot() {
	local suite=$1 dmesg_file=$2 extra=${3:-}
	local quiet="quiet loglevel=3"
	[ "${DMABUF_VM_VERBOSE:-}" != 1 ] || quiet="loglevel=7"
	rm -rf "$RUNDIR/state" "$RUNDIR/qemu.pid" "$RUNDIR/wd.sock"
	mkdir -p "$RUNDIR/state"
	set +e
	timeout --kill-after=10 "$TIMEOUT" "$ARM_QEMU" \
		-M virt -accel "$ACCEL" -cpu "$CPU" -smp 2 -m "$MEM" \
		-nodefaults -no-user-config -display none -no-reboot -pidfile "$RUNDIR/qemu.pid" \
		-serial stdio \
		-device virtio-serial-pci -chardev "socket,id=wd,path=$RUNDIR/wd.sock,server=on,wait=off" \
		-device virtconsole,chardev=wd \
		-kernel "$KDIR/vmlinuz" -initrd "$INITRD" \
		-append "console=ttyAMA0 $quiet panic=-1 cma=64M dmabuf_vm.wd=hvc0 dmabuf_vm.project=$ARM_PROJECT$(modparams_cmdline)$extra" \
		-virtfs "local,path=$USERLAND,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap" \
		-virtfs "local,path=$ARM_PROJECT,mount_tag=project,security_model=none,readonly=on,multidevs=remap" \
		-virtfs "local,path=$RUNDIR/share,mount_tag=vmrun,security_model=none,readonly=on,multidevs=remap" \
		-device virtio-gpu-pci \
		< /dev/null 2> "$RUNDIR/qemu.err" |
		python3 "$VM_DIR/console.py" "$(cat "$RUNDIR/share/nonce")" "$RUNDIR/state" "$dmesg_file" \
			"$IDLE_TIMEOUT" "$RUNDIR/wd.sock" "$RUNDIR/qemu.pid"
	local rcs=("${PIPESTATUS[@]}")
	set -e
	QRC=${rcs[0]}
}

# the accelerator: software emulation (the host is x86-64). pauth-impdef: qemu's own pointer
# authentication algorithm instead of the architected QARMA, which is much slower to emulate.
# sve=off,sme=off: with SVE and SME emulated, node died at random (SIGSEGV, SIGILL) in every full
# run of the suite; without them the suite ran through (docs/vm.md, arm64)
arm64_accel() {
	ACCEL=${DMABUF_VM_ACCEL:-tcg,thread=multi}
	CPU=${DMABUF_VM_ARM64_CPU:-max,pauth-impdef=on,sve=off,sme=off}
	vm_log_once "arm64: software emulation (qemu TCG, -M virt -cpu $CPU)"
}
