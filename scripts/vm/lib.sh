# shellcheck shell=bash
# Shared helpers for scripts/vm.sh and scripts/vm/*.sh (sourced, not run).
#
# Kernels and the tools to build out-of-tree modules for them come from Debian's archive through a
# PRIVATE apt configuration (own sources list, lists, cache) under the cache directory. The host's
# apt setup is never touched and nothing is installed: packages are only downloaded and unpacked.

VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VM_CACHE=${DMABUF_VM_CACHE:-${HOME:-/root}/.cache/dmabuf-vm}
VM_LISTS_MAX_AGE=${DMABUF_VM_LISTS_MAX_AGE:-86400}   # seconds between apt list refreshes

vm_log() { printf 'vm: %s\n' "$*" >&2; }
vm_die() { printf 'vm: ERROR: %s\n' "$*" >&2; exit 125; }

# The archive URI is taken from the system's own apt sources at run time (never written down).
vm_mirror() {
	local m=${DMABUF_VM_MIRROR:-}
	if [ -z "$m" ] && [ -r /etc/apt/sources.list.d/debian.sources ]; then
		m=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources)
	fi
	if [ -z "$m" ] && [ -r /etc/apt/sources.list ]; then
		m=$(awk '$1 == "deb" && $2 !~ /^\[/ { print $2; exit } $1 == "deb" { print $3; exit }' /etc/apt/sources.list)
	fi
	[ -n "$m" ] || vm_die "cannot find a Debian mirror in /etc/apt/sources.list.d/debian.sources (set DMABUF_VM_MIRROR)"
	printf '%s\n' "$m"
}

# apt options for the private configuration of one suite
vm_apt_opts() {
	local d=$VM_CACHE/apt/$1
	APT_OPTS=(-q -o "Dir::Etc::SourceList=$d/sources.list" -o Dir::Etc::SourceParts=/dev/null
		-o "Dir::State::Lists=$d/lists" -o "Dir::Cache=$d/cache" -o Dir::State::status=/dev/null
		-o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts=/dev/null
		-o Acquire::Languages=none -o APT::Sandbox::User=root)
}

# vm_apt_update SUITE [force]: refresh the private lists at most once a day (or when forced)
vm_apt_update() {
	local suite=$1 force=${2:-} d=$VM_CACHE/apt/$1 age
	mkdir -p "$d/lists/partial" "$d/cache/archives/partial"
	printf 'deb %s %s main\n' "$(vm_mirror)" "$suite" > "$d/sources.list.new"
	if ! cmp -s "$d/sources.list.new" "$d/sources.list"; then
		mv "$d/sources.list.new" "$d/sources.list"; force=1
	else
		rm -f "$d/sources.list.new"
	fi
	if [ -z "$force" ] && [ -f "$d/lists/.stamp" ]; then
		age=$(( $(date +%s) - $(stat -c %Y "$d/lists/.stamp") ))
		[ "$age" -lt "$VM_LISTS_MAX_AGE" ] && return 0
	fi
	vm_apt_opts "$suite"
	vm_log "refreshing the package lists of $suite"
	if apt-get "${APT_OPTS[@]}" update > "$d/update.log" 2>&1; then
		touch "$d/lists/.stamp"
	else
		if ls "$d"/lists/*_Packages* > /dev/null 2>&1; then
			vm_log "warning: apt-get update for $suite failed (see $d/update.log); using the old lists"
		else
			cat "$d/update.log" >&2
			vm_die "apt-get update for $suite failed"
		fi
	fi
}

# vm_apt_field SUITE PKG[=VER] FIELD: one field of the candidate (or given) version
vm_apt_field() {
	vm_apt_opts "$1"
	apt-cache "${APT_OPTS[@]}" show --no-all-versions "$2" 2> /dev/null |
		awk -v f="$3" 'BEGIN { f = f ":" } index($0, f) == 1 { sub(f " *", ""); print; exit }'
}

# vm_apt_deps SUITE PKG=VER REGEX: "name=version" of the dependencies whose name matches REGEX
vm_apt_deps() {
	vm_apt_field "$1" "$2" Depends | tr ',|' '\n\n' |
		sed -nE 's/^ *([^ ]+) *\(= *([^)]+)\).*$/\1=\2/p; t; s/^ *([^ (]+) *$/\1/p' |
		grep -E "^($3)(=|$)" || true
}

# vm_resolve SUITE: sets KVER (e.g. 6.12.117+deb13-amd64), PKGVER (6.12.117-1) and the package
# lists IMAGE_PKGS, BUILD_PKGS ("name=version") from linux-image-amd64 of that suite.
vm_resolve() {
	local suite=$1 meta series kre
	meta=$(vm_apt_deps "$suite" linux-image-amd64 'linux-image-[0-9][^ ]*' | head -n1)
	[ -n "$meta" ] || return 1
	KVER=${meta%%=*}; KVER=${KVER#linux-image-}; PKGVER=${meta#*=}
	[ "$PKGVER" != "$meta" ] || PKGVER=$(vm_apt_field "$suite" "linux-image-$KVER" Version)
	# the image may be split (sid: linux-binary-*, linux-modules-*): follow the dependencies
	kre=$(printf '%s\n' "$KVER" | sed 's/[.+]/\\&/g')
	IMAGE_PKGS=("linux-image-$KVER=$PKGVER")
	mapfile -t -O 1 IMAGE_PKGS < <(vm_apt_deps "$suite" "linux-image-$KVER=$PKGVER" "linux-(binary|modules)-$kre")
	# headers (+ their common part and kbuild) and the matching source for out-of-tree modules
	series=$(printf '%s\n' "$KVER" | sed -E 's/^([0-9]+\.[0-9]+).*/\1/')
	BUILD_PKGS=("linux-headers-$KVER=$PKGVER" "linux-source-$series=$PKGVER")
	mapfile -t -O 2 BUILD_PKGS < <(vm_apt_deps "$suite" "linux-headers-$KVER=$PKGVER" 'linux-headers-[^ ]*-common|linux-kbuild-[^ ]*')
	# unversioned dependencies (linux-kbuild-*) come from the same source package: pin them too
	local i
	for i in "${!BUILD_PKGS[@]}"; do
		case ${BUILD_PKGS[$i]} in *=*) ;; *) BUILD_PKGS[$i]+="=$PKGVER" ;; esac
	done
}

# vm_download SUITE DESTDIR NAME=VER...: download the packages not already in DESTDIR
vm_download() {
	local suite=$1 dest=$2 p name ver size todo=()
	shift 2
	mkdir -p "$dest"
	for p in "$@"; do
		name=${p%%=*}; ver=${p#*=}
		compgen -G "$dest/${name}_${ver//:/%3a}_*.deb" > /dev/null && continue
		size=$(vm_apt_field "$suite" "$p" Size)
		vm_log "fetching $name $ver ($(( (${size:-0} + 524288) / 1048576 )) MB)"
		todo+=("$p")
	done
	[ ${#todo[@]} -gt 0 ] || return 0
	vm_apt_opts "$suite"
	local tmp
	tmp=$(mktemp -d "$dest/.download.XXXXXX")
	if (cd "$tmp" && apt-get "${APT_OPTS[@]}" download "${todo[@]}") > "$dest/download.log" 2>&1; then
		mv "$tmp"/*.deb "$dest/"
		rm -rf "$tmp"
	else
		rm -rf "$tmp"
		cat "$dest/download.log" >&2
		return 1
	fi
}

# vm_hash FILES...: short hash of the recipe files (their contents and names)
vm_hash() {
	local f
	for f in "$@"; do printf '%s\n' "${f##*/}"; cat "$f"; done | sha256sum | cut -c1-12
}

vm_host_suite() { . /etc/os-release && printf '%s\n' "${VERSION_CODENAME:-bookworm}"; }

# Build-step logging for build.sh and build-kernel.sh: set BUILD_NAME and BUILD_LOG first.
BUILD_T0=$(date +%s)
build_step() {
	printf 'vm: [%s %4ds] %s\n' "$BUILD_NAME" $(( $(date +%s) - BUILD_T0 )) "$*" >&2
	printf '\n=== %s\n' "$*" >> "$BUILD_LOG"
}
build_fail() {
	printf 'vm: ERROR: building %s failed: %s (log: %s)\n' "$BUILD_NAME" "$*" "$BUILD_LOG" >&2
	tail -n 25 "$BUILD_LOG" | sed 's/^/vm:   | /' >&2
	exit 1
}
build_run() { "$@" >> "$BUILD_LOG" 2>&1 || build_fail "$*"; }

# vm_features: the lines of vm/features without comments, as "feature option module recipe"
vm_features() { sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$VM_DIR/features"; }
