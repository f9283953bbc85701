#!/bin/bash
# Prepare one stock Debian kernel for the test VM (called by scripts/vm.sh, cached by it):
#   build.sh KVER DEBS_DIR HOSTDEBS_DIR OUT_DIR
# DEBS_DIR holds the kernel's .debs (image or binary+modules, headers, headers-common, kbuild,
# source); HOSTDEBS_DIR the host-side build dependencies (libelf-dev). Produces in OUT_DIR:
#   vmlinuz         the stock kernel
#   mods/*.ko       uncompressed modules to load in the guest (stock ones + out-of-tree ones)
#   plan            one line per guest feature: "<feature> <module>..." in load order,
#                   "<feature> -" if built in, "<feature> MISSING <reason>" if it should be there
#                   but is not, "<feature> UNAVAILABLE <reason>" if the stock kernel cannot have it
#   build.log       full log of the build
# The features come from vm/features. Modules missing from the stock kernel (vkms, the CMA heap,
# sw_sync, vim2m and vicodec with v4l2-mem2mem) are built out of tree from the matching
# linux-source with the host's gcc, against a private, adapted copy of the headers package.
set -euo pipefail
KVER=$1 DEBS=$2 HOSTDEBS=$3 OUT=$4
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
JOBS=${DMABUF_VM_JOBS:-2}
W=$OUT/work
LOG=$OUT/build.log
# shellcheck source=lib.sh
. "$HERE/lib.sh"
BUILD_NAME=$KVER BUILD_LOG=$LOG
step() { build_step "$@"; }
fail() { build_fail "$@"; }
run() { build_run "$@"; }
shopt -s nullglob

rm -rf "$W" "$OUT/mods" "$OUT/plan" "$OUT/vmlinuz"
mkdir -p "$W"/{kroot,root,src,sysroot,ko} "$OUT/mods"
: > "$LOG"

# --- 1. the kernel image and its modules -----------------------------------------------------
step "unpacking the kernel image and modules"
imgdebs=("$DEBS"/linux-image-*.deb "$DEBS"/linux-binary-*.deb "$DEBS"/linux-modules-*.deb)
[ ${#imgdebs[@]} -gt 0 ] || fail "no kernel image package in $DEBS"
for d in "${imgdebs[@]}"; do run dpkg-deb -x "$d" "$W/kroot"; done
vmlinuz=
for f in "$W/kroot/boot/vmlinuz-$KVER" "$W/kroot/usr/lib/modules/$KVER/vmlinuz" "$W/kroot/lib/modules/$KVER/vmlinuz"; do
	[ -f "$f" ] && { vmlinuz=$f; break; }
done
[ -n "$vmlinuz" ] || fail "no vmlinuz for $KVER in the image packages"
MODDIR=
for d in "$W/kroot/usr/lib/modules/$KVER" "$W/kroot/lib/modules/$KVER"; do
	[ -d "$d/kernel" ] && { MODDIR=$d; break; }
done
[ -n "$MODDIR" ] || fail "no modules for $KVER in the image packages"

# module name -> file (names use _ for -, as modinfo's depends does)
declare -A MODFILE
while IFS= read -r f; do
	n=${f##*/}; n=${n%%.ko*}; MODFILE[${n//-/_}]=$f
done < <(find "$MODDIR/kernel" -name '*.ko' -o -name '*.ko.*')

# --- 2. headers: the kernel's .config decides what is built in, a module, or missing ----------
step "unpacking headers and kbuild"
for d in "$DEBS"/linux-headers-*.deb "$DEBS"/linux-kbuild-*.deb; do run dpkg-deb -x "$d" "$W/root"; done
H=$W/root/usr/src/linux-headers-$KVER
[ -f "$H/.config" ] || fail "no .config in linux-headers-$KVER"
config() { sed -n "s/^CONFIG_$1=//p" "$H/.config"; }

# feature -> "CONFIG symbol:module name:out-of-tree recipe (if any)", from vm/features
FEATURES=()
while read -r feat sym mod recipe; do
	[ "$recipe" != - ] || recipe=
	FEATURES+=("$feat:$sym:$mod:$recipe")
done < <(vm_features)
# what an out-of-tree recipe needs from the kernel; without it the feature is UNAVAILABLE on that
# kernel (reported, but not a failure: the stock kernel cannot have it)
declare -A UNAVAILABLE
[ "$(config DMA_CMA)" = y ] && [ "$(config DMABUF_HEAPS)" = y ] ||
	UNAVAILABLE[cma_heap]="the stock kernel has no CMA (CONFIG_CMA/CONFIG_DMA_CMA off), a CMA heap cannot be added as a module"
[ "$(config SYNC_FILE)" = y ] ||
	UNAVAILABLE[sw_sync]="the stock kernel has CONFIG_SYNC_FILE off"
OOT=()
for f in "${FEATURES[@]}"; do
	IFS=: read -r feat sym mod recipe <<< "$f"
	v=$(config "$sym")
	if [ "$v" != y ] && [ -z "${MODFILE[$mod]:-}" ] && [ -n "$recipe" ] && [ -z "${UNAVAILABLE[$recipe]:-}" ]; then
		case " ${OOT[*]} " in *" $recipe "*) ;; *) OOT+=("$recipe") ;; esac
	fi
done
printf 'config: %s\n' "$(grep -E '^CONFIG_(VIRTIO_PCI|NET_9P_VIRTIO|9P_FS|UDMABUF|DMABUF_HEAPS_SYSTEM|DMABUF_HEAPS_CMA|DMA_CMA|DRM_VGEM|DRM_VIRTIO_GPU|DRM_VKMS|SW_SYNC|SYNC_FILE|DEBUG_FS|VIDEO_DEV|MEDIA_CONTROLLER|VIDEO_VIVID|VIDEO_VIM2M|VIDEO_VICODEC|V4L2_MEM2MEM_DEV)=' "$H/.config" | tr '\n' ' ')" >> "$LOG"

# --- 3. out-of-tree modules ------------------------------------------------------------------
declare -A OOTFILE
if [ ${#OOT[@]} -gt 0 ]; then
	KFLAV=${KVER%-*}
	KB=
	for d in "$W"/root/usr/lib/linux-kbuild-*; do KB=$d; done
	[ -n "$KB" ] || fail "no linux-kbuild in $DEBS"
	# the headers' Makefiles name /usr/src/... by absolute path: point them at the private copy
	for mk in "$H/Makefile" "$W"/root/usr/src/linux-headers-"$KFLAV"-common/Makefile; do
		[ -f "$mk" ] && run sed -i "s#/usr/src/#$W/root/usr/src/#g" "$mk"
	done

	step "unpacking the parts of linux-source needed (${OOT[*]})"
	srcdeb=("$DEBS"/linux-source-*.deb)
	[ ${#srcdeb[@]} -eq 1 ] || fail "expected one linux-source package in $DEBS"
	tarname=$(dpkg-deb -c "${srcdeb[0]}" | awk '$6 ~ /\/usr\/src\/linux-source-.*\.tar\.xz$/ { print $6 }')
	[ -n "$tarname" ] || fail "no source tarball in ${srcdeb[0]}"
	top=${tarname##*/}; top=${top%.tar.xz}
	dpkg-deb --fsys-tarfile "${srcdeb[0]}" | tar -xO "$tarname" |
		tar -C "$W/src" -xJ "$top/tools" "$top/scripts" "$top/include" \
			"$top/drivers/gpu/drm/vkms" "$top/drivers/dma-buf" \
			"$top/drivers/media/test-drivers/vim2m.c" "$top/drivers/media/test-drivers/vicodec" \
			"$top/drivers/media/v4l2-core/v4l2-mem2mem.c" >> "$LOG" 2>&1 ||
		fail "unpacking $tarname"
	S=$W/src/$top

	for d in "$HOSTDEBS"/*.deb; do run dpkg-deb -x "$d" "$W/sysroot"; done
	[ -f "$W/sysroot/usr/include/libelf.h" ] || [ -f /usr/include/libelf.h ] || fail "no libelf.h (libelf-dev)"
	libelf=$(find /usr/lib /lib -name 'libelf.so.1' 2> /dev/null | head -n1)
	[ -n "$libelf" ] || fail "the host has no libelf.so.1 (apt-get install libelf1)"

	step "adapting the headers to the host compiler ($(gcc -dumpfullversion))"
	# Debian builds its kernels with a newer gcc. The module ABI does not depend on the options
	# below, but the flags and attributes they enable do not exist in the host's gcc:
	#  CC_HAS_MIN_FUNCTION_ALIGNMENT   -fmin-function-alignment (gcc >= 14): hard error
	#  CC_HAS_SANE_FUNCTION_ALIGNMENT  gcc < 14 ignores -falign-functions for __cold
	#  CC_HAS_ASM_GOTO_(TIED_)OUTPUT   gcc 12 has the asm-goto-output bug (GCC PR113921)
	#  CC_HAS_ASSUME                   __attribute__((assume)) is gcc >= 13
	#  CC_HAS_COUNTED_BY(_PTR)         __counted_by is gcc >= 15
	#  CC_HAS_MULTIDIMENSIONAL_NONSTRING, CC_OPT_INLINE_MEMSET, CC_HAS_KASAN_SW_TAGS: gcc >= 15
	# Never touch options that change structure layouts (RUST, BTF, SCHED_CLASS_EXT, ...):
	# a module built with a different struct module fails to load.
	AH=$H/include/generated/autoconf.h AC=$H/include/config/auto.conf
	for s in CC_HAS_MIN_FUNCTION_ALIGNMENT CC_HAS_SANE_FUNCTION_ALIGNMENT CC_HAS_ASM_GOTO_OUTPUT \
		CC_HAS_ASM_GOTO_TIED_OUTPUT CC_HAS_ASSUME CC_HAS_COUNTED_BY CC_HAS_COUNTED_BY_PTR \
		CC_HAS_MULTIDIMENSIONAL_NONSTRING CC_HAS_KASAN_SW_TAGS CC_OPT_INLINE_MEMSET; do
		sed -i "/^#define CONFIG_$s /d" "$AH"
		sed -i "/^CONFIG_$s=/d" "$AC"
	done
	grep -q GCC_ASM_GOTO_OUTPUT_BROKEN "$AH" || echo '#define CONFIG_GCC_ASM_GOTO_OUTPUT_BROKEN 1' >> "$AH"
	grep -q GCC_ASM_GOTO_OUTPUT_BROKEN "$AC" || echo 'CONFIG_GCC_ASM_GOTO_OUTPUT_BROKEN=y' >> "$AC"
	gccv=$(gcc -dumpfullversion | awk -F. '{ printf "%d%02d%02d", $1, $2, $3 }')
	sed -i "s/^#define CONFIG_GCC_VERSION .*/#define CONFIG_GCC_VERSION $gccv/" "$AH"
	sed -i "s/^CONFIG_GCC_VERSION=.*/CONFIG_GCC_VERSION=$gccv/" "$AC"
	# no pahole here: no .BTF for the modules. Only at make level (auto.conf); autoconf.h keeps
	# it because it changes struct module.
	sed -i '/^CONFIG_DEBUG_INFO_BTF_MODULES=y$/d' "$AC"

	# the kbuild package's objtool and modpost need a newer glibc than the host's: rebuild them
	step "building objtool"
	run make -s -C "$S/tools/objtool" -j"$JOBS" \
		LIBELF_FLAGS="-I$W/sysroot/usr/include" LIBELF_LIBS="$libelf"
	run install -m755 "$S/tools/objtool/objtool" "$KB/tools/objtool/objtool.real-x86"

	step "building modpost"
	MP=$S/scripts/mod   # built in place: modpost.h includes ../../include/linux/*.h
	mkdir -p "$MP/dt"
	cp "$MP/devicetable-offsets.c" "$MP/dt/"
	echo '# only for devicetable-offsets.s' > "$MP/dt/Kbuild"
	run make -C "$H" M="$MP/dt" CC=gcc devicetable-offsets.s
	{
		echo "#ifndef __DEVICETABLE_OFFSETS_H__"; echo "#define __DEVICETABLE_OFFSETS_H__"
		sed -ne 's:^[[:space:]]*\.ascii[[:space:]]*"\(.*\)".*:\1:; /^->/{s:->#\(.*\):/* \1 */:; s:^->\([^ ]*\) [\$#]*\([^ ]*\) \(.*\):#define \1 \2 /* \3 */:; s:->::; p;}' \
			< "$MP/dt/devicetable-offsets.s"
		echo "#endif"
	} > "$MP/devicetable-offsets.h"
	(
		cd "$MP"
		gcc -c empty.c -o empty.o
		gcc -O2 -o mk_elfconfig mk_elfconfig.c
		./mk_elfconfig < empty.o > elfconfig.h
		srcs=(modpost.c file2alias.c sumversion.c)
		[ -f symsearch.c ] && srcs+=(symsearch.c)
		gcc -O2 -I. -I"$S/scripts/include" -o modpost "${srcs[@]}"
	) >> "$LOG" 2>&1 || fail "building modpost"
	run install -m755 "$MP/modpost" "$KB/scripts/mod/modpost.real-lsb-64"

	for r in "${OOT[@]}"; do
		step "building $r.ko"
		d=$W/oot/$r
		mkdir -p "$d"
		case $r in
		vkms)
			cp -r "$S/drivers/gpu/drm/vkms/." "$d/"
			run make -C "$H" M="$d" CC=gcc CONFIG_DRM_VKMS=m -j"$JOBS" modules
			;;
		cma_heap)
			cp "$S/drivers/dma-buf/heaps/cma_heap.c" "$d/"
			cp "$HERE/oot/cma_heap/Kbuild" "$d/"
			run make -C "$H" M="$d" CC=gcc -j"$JOBS" modules
			;;
		sw_sync)
			# SW_SYNC is a bool: wrap sw_sync.c + sync_debug.c into one module (sw_sync.ko)
			cp "$S"/drivers/dma-buf/{sw_sync.c,sync_debug.c,sync_debug.h,sync_trace.h} "$d/"
			sed -i 's|^#define TRACE_INCLUDE_PATH .*|#define TRACE_INCLUDE_PATH .|' "$d/sync_trace.h"
			cp "$HERE"/oot/sw_sync/* "$d/"
			compat=
			grep -qw sync_file_get_name "$H/Module.symvers" || compat=y
			run make -C "$H" M="$d" CC=gcc SW_SYNC_COMPAT_NAME=$compat -j"$JOBS" modules
			;;
		media_m2m)
			# vim2m and vicodec with the mem2mem framework they need (off in the amd64 kernels),
			# in one directory so that modpost resolves the v4l2_m2m_* symbols among them
			cp "$S/drivers/media/v4l2-core/v4l2-mem2mem.c" "$S/drivers/media/test-drivers/vim2m.c" "$d/"
			cp "$S"/drivers/media/test-drivers/vicodec/*.[ch] "$d/"
			cp "$HERE/oot/media_m2m/Kbuild" "$d/"
			run make -C "$H" M="$d" CC=gcc -j"$JOBS" modules
			;;
		esac
		kos=("$d"/*.ko)
		[ ${#kos[@]} -gt 0 ] || fail "no .ko built for $r"
		for ko in "${kos[@]}"; do
			n=${ko##*/}; n=${n%.ko}; n=${n//-/_}
			[ "$r" != sw_sync ] || n=sw_sync   # the module is sw_sync_oot.ko; the feature's name is sw_sync
			run strip --strip-debug -o "$W/ko/$n.ko" "$ko"
			grep -q "vermagic=$KVER " <(modinfo "$W/ko/$n.ko" | sed -n 's/^vermagic: *\(.*\)/vermagic=\1/p') ||
				fail "$n.ko has the wrong vermagic: $(modinfo -F vermagic "$W/ko/$n.ko")"
			OOTFILE[$n]=$W/ko/$n.ko
		done
	done
fi

# --- 4. load plan: each feature's modules with their dependencies, in load order --------------
step "resolving module dependencies"
declare -A PLACED
copy_module() {  # name -> $OUT/mods/name.ko (uncompressed), echoes nothing; fails loudly
	local n=$1 f=${OOTFILE[$1]:-${MODFILE[$1]:-}}
	[ -n "${PLACED[$n]:-}" ] && return 0
	case $f in
	*.ko) cp "$f" "$OUT/mods/$n.ko" ;;
	*.ko.xz) xz -dc "$f" > "$OUT/mods/$n.ko" ;;
	*.ko.zst) zstd -qdc "$f" > "$OUT/mods/$n.ko" ;;
	*.ko.gz) gzip -dc "$f" > "$OUT/mods/$n.ko" ;;
	*) return 1 ;;
	esac
	PLACED[$n]=1
}
ORDER=()
declare -A SEEN
visit() {  # depth-first: dependencies before the module
	local n=$1 d
	[ -n "${SEEN[$n]:-}" ] && return 0
	SEEN[$n]=1
	copy_module "$n" || { echo "module $n not found" >> "$LOG"; return 1; }
	for d in $(modinfo -F depends "$OUT/mods/$n.ko" | tr ',' ' '); do visit "${d//-/_}" || return 1; done
	ORDER+=("$n")
}
declare -A PLAN
FEATS=()
for f in "${FEATURES[@]}"; do
	IFS=: read -r feat sym mod recipe <<< "$f"
	[ -n "${PLAN[$feat]+x}" ] || FEATS+=("$feat")
	case ${PLAN[$feat]:-} in MISSING* | UNAVAILABLE*) continue ;; esac
	v=$(config "$sym")
	if [ -n "${UNAVAILABLE[$feat]:-}" ]; then
		PLAN[$feat]="UNAVAILABLE ${UNAVAILABLE[$feat]}"
	elif [ "$v" = y ]; then
		PLAN[$feat]=${PLAN[$feat]:-}
	elif [ -n "${MODFILE[$mod]:-}${OOTFILE[$mod]:-}" ]; then
		ORDER=(); SEEN=()
		if visit "$mod"; then PLAN[$feat]="${PLAN[$feat]:-} ${ORDER[*]}"; else PLAN[$feat]="MISSING a dependency of $mod is not in the kernel packages"; fi
	else
		PLAN[$feat]="MISSING not in this kernel (CONFIG_$sym is ${v:-not set}) and no out-of-tree recipe"
	fi
done
{
	for feat in "${FEATS[@]}"; do
		case ${PLAN[$feat]} in
		MISSING* | UNAVAILABLE*) p=${PLAN[$feat]} ;;
		*) p=$(printf '%s\n' ${PLAN[$feat]} | awk 'NF && !seen[$0]++' | tr '\n' ' ') ;;  # first of duplicates
		esac
		printf '%s %s\n' "$feat" "${p:--}"
	done
} > "$OUT/plan.new"
sed -i 's/ *$//' "$OUT/plan.new"
cp "$vmlinuz" "$OUT/vmlinuz"
mv "$OUT/plan.new" "$OUT/plan"
cat "$OUT/plan" >> "$LOG"
rm -rf "$W"
step "kernel ready: $(sed 's/ .*//' "$OUT/plan" | tr '\n' ' ')"
