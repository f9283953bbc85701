#!/bin/bash
# Build a project kernel for the test VM (called by scripts/vm.sh, cached by it):
#   build-kernel.sh NAME SOURCE_DEB FRAGMENT HOSTDEBS_DIR OUT_DIR
# NAME is the kernel's name in the matrix (e.g. trixie-cma), SOURCE_DEB Debian's linux-source-X.Y
# package, FRAGMENT a config fragment (scripts/vm/kernel/NAME.config) merged over x86_64_defconfig
# + kvm_guest.config, HOSTDEBS_DIR the host-side build tools downloaded by vm.sh (flex, bison, m4,
# libelf-dev: only unpacked, never installed). Produces in OUT_DIR:
#   vmlinuz         arch/x86/boot/bzImage
#   config          the kernel's final .config
#   kernelrelease   what uname -r says in the guest
#   mods/           empty: everything is built in
#   plan            one line per guest feature, as scripts/vm/build.sh writes it: "<feature> -"
#                   (built in) or "<feature> MISSING <reason>"
#   build.log       full log of the build
# The build runs with nice -n 19 and DMABUF_VM_JOBS (default 2) jobs; the source tree is removed
# afterwards.
set -euo pipefail
NAME=$1 SRCDEB=$2 FRAGMENT=$3 HOSTDEBS=$4 OUT=$5
JOBS=${DMABUF_VM_JOBS:-2}
W=$OUT/work
LOG=$OUT/build.log
# shellcheck source=lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
BUILD_NAME="the $NAME kernel" BUILD_LOG=$LOG
step() { build_step "$@"; }
fail() { build_fail "$@"; }
run() { build_run "$@"; }
shopt -s nullglob

rm -rf "$W" "$OUT/mods" "$OUT/plan" "$OUT/vmlinuz" "$OUT/config" "$OUT/kernelrelease"
mkdir -p "$W/src" "$W/hosttools" "$OUT/mods"
: > "$LOG"

# --- 1. source and host tools --------------------------------------------------------------------
step "unpacking ${SRCDEB##*/}"
tarname=$(dpkg-deb -c "$SRCDEB" | awk '$6 ~ /\/usr\/src\/linux-source-.*\.tar\.xz$/ { print $6 }')
[ -n "$tarname" ] || fail "no source tarball in $SRCDEB"
dpkg-deb --fsys-tarfile "$SRCDEB" | tar -xO "$tarname" | tar -C "$W/src" -xJ >> "$LOG" 2>&1 ||
	fail "unpacking $tarname"
S=("$W"/src/linux-source-*)
[ ${#S[@]} -eq 1 ] && [ -f "${S[0]}/Makefile" ] || fail "unexpected layout of $tarname"
S=${S[0]}

for d in "$HOSTDEBS"/flex_*.deb "$HOSTDEBS"/bison_*.deb "$HOSTDEBS"/m4_*.deb "$HOSTDEBS"/libelf-dev_*.deb; do
	run dpkg-deb -x "$d" "$W/hosttools"
done
HT=$W/hosttools
for t in flex bison m4; do
	command -v "$t" > /dev/null || [ -x "$HT/usr/bin/$t" ] || fail "no $t (neither on the host nor in $HOSTDEBS)"
done
export PATH=$HT/usr/bin:$PATH
[ ! -x "$HT/usr/bin/m4" ] || export M4=$HT/usr/bin/m4
[ ! -d "$HT/usr/share/bison" ] || export BISON_PKGDATADIR=$HT/usr/share/bison
[ -f "$HT/usr/include/libelf.h" ] || [ -f /usr/include/libelf.h ] || fail "no libelf.h (libelf-dev)"
libelf=$(find /usr/lib /lib -name 'libelf.so.1' 2> /dev/null | head -n1)
[ -n "$libelf" ] || fail "the host has no libelf.so.1 (apt-get install libelf1)"
command -v bc > /dev/null || fail "no bc on the host (apt-get install bc)"
# objtool links libelf: the headers from the unpacked libelf-dev, the host's own library
MAKEVARS=(ARCH=x86_64 CC=gcc HOSTCC=gcc "LIBELF_FLAGS=-I$HT/usr/include" "LIBELF_LIBS=$libelf"
	KBUILD_BUILD_USER=dmabuf KBUILD_BUILD_HOST=vm "KBUILD_BUILD_TIMESTAMP=$(date -u -d @0)")
mk() { make -C "$S" "${MAKEVARS[@]}" "$@"; }

# --- 2. configuration ------------------------------------------------------------------------
step "configuring: x86_64_defconfig + kvm_guest.config + ${FRAGMENT##*/}"
run mk x86_64_defconfig
run mk kvm_guest.config
(cd "$S" && ./scripts/kconfig/merge_config.sh -m .config "$FRAGMENT") >> "$LOG" 2>&1 || fail "merging $FRAGMENT"
run mk olddefconfig
# every "=y" (and string) setting of the fragment must have survived Kconfig's dependencies
lost=()
while IFS= read -r l; do
	grep -qxF "$l" "$S/.config" || lost+=("$l (got: $(grep -E "^(# )?${l%%=*}[= ]" "$S/.config" || echo 'absent'))")
done < <(grep -E '^CONFIG_[A-Za-z0-9_]+=' "$FRAGMENT")
[ ${#lost[@]} -eq 0 ] || fail "Kconfig did not keep: ${lost[*]}"
while IFS= read -r l; do
	s=${l#\# }; s=${s%% *}
	! grep -q "^$s=" "$S/.config" || echo "note: $s is still on (selected by another option): $(grep "^$s=" "$S/.config")" >> "$LOG"
done < <(grep -E '^# CONFIG_[A-Za-z0-9_]+ is not set' "$FRAGMENT")
grep -q '^CONFIG_MODULES=y' "$S/.config" && fail "CONFIG_MODULES is on; the VM has no modules for this kernel"
cp "$S/.config" "$OUT/config"
KVERSION=$(mk -s kernelversion 2>> "$LOG") || fail "make kernelversion"
LOCALV=$(sed -n 's/^CONFIG_LOCALVERSION="\(.*\)"$/\1/p' "$S/.config")

# --- 3. build --------------------------------------------------------------------------------
step "building $KVERSION$LOCALV with $JOBS jobs at low priority (nice 19); log: $LOG"
nice -n 19 make -C "$S" "${MAKEVARS[@]}" -j"$JOBS" bzImage >> "$LOG" 2>&1 &
pid=$!
trap 'kill "$pid" 2> /dev/null || true' EXIT
last=$(date +%s)
while kill -0 "$pid" 2> /dev/null; do
	sleep 5
	if [ $(( $(date +%s) - last )) -ge 120 ]; then
		last=$(date +%s)
		step "still building: $(grep -cE '^ +(CC|AS|LD|AR)' "$LOG" || true) files compiled so far"
	fi
done
if wait "$pid"; then :; else fail "make bzImage"; fi
trap - EXIT
[ -f "$S/arch/x86/boot/bzImage" ] || fail "no arch/x86/boot/bzImage"
KREL=$(cat "$S/include/config/kernel.release") || fail "no include/config/kernel.release"

# --- 4. plan: everything is built in; check the features (vm/features) against the final .config --
config() { sed -n "s/^CONFIG_$1=//p" "$OUT/config"; }
declare -A PLAN
FEATS=()
while read -r feat sym _; do
	[ -n "${PLAN[$feat]+x}" ] || { FEATS+=("$feat"); PLAN[$feat]=-; }
	v=$(config "$sym")
	[ "$v" = y ] || [ "${PLAN[$feat]}" != - ] || PLAN[$feat]="MISSING CONFIG_$sym is ${v:-not set} in the project's kernel"
done < <(vm_features)
for feat in "${FEATS[@]}"; do printf '%s %s\n' "$feat" "${PLAN[$feat]}"; done > "$OUT/plan"
cat "$OUT/plan" >> "$LOG"
cp "$S/arch/x86/boot/bzImage" "$OUT/vmlinuz"
echo "$KREL" > "$OUT/kernelrelease"
rm -rf "$W"
step "kernel $KREL ready in $(( $(date +%s) - BUILD_T0 ))s"
