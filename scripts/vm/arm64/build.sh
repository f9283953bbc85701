#!/bin/bash
# Prepare one stock Debian arm64 kernel for the arm64 test VM (called by scripts/vm.sh --arch arm64
# through arm64/lib.sh, cached by it):
#   arm64/build.sh KVER DEBS_DIR OUT_DIR
# Like scripts/vm/build.sh (same outputs: vmlinuz, mods/*.ko, plan, build.log), for arm64: the
# features come from arm64/features, and the modules the kernel lacks are cross-compiled
# (aarch64-linux-gnu-gcc, ARCH=arm64) against a private copy of the arm64 headers package whose
# kbuild tools are those of the amd64 linux-kbuild package of the same version (the arm64 package's
# are arm64 programs), with modpost rebuilt for the host.
set -euo pipefail
KVER=$1 DEBS=$2 OUT=$3
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VM=$(cd "$HERE/.." && pwd)
JOBS=${DMABUF_VM_JOBS:-2}
W=$OUT/work
LOG=$OUT/build.log
# shellcheck source=../lib.sh
. "$VM/lib.sh"
BUILD_NAME=$KVER BUILD_LOG=$LOG
step() { build_step "$@"; }
fail() { build_fail "$@"; }
run() { build_run "$@"; }
shopt -s nullglob
# CC: the headers name the gcc Debian built with (aarch64-linux-gnu-gcc-14 or newer); the host has its own
CROSS=(ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu- CC=aarch64-linux-gnu-gcc)
XSTRIP=aarch64-linux-gnu-strip
command -v aarch64-linux-gnu-gcc > /dev/null || fail "no aarch64-linux-gnu-gcc (apt-get install gcc-aarch64-linux-gnu)"

rm -rf "$W" "$OUT/mods" "$OUT/plan" "$OUT/vmlinuz"
mkdir -p "$W"/{kroot,root,src,ko} "$OUT/mods"
: > "$LOG"

# --- 1. the kernel image and its modules -----------------------------------------------------
step "unpacking the arm64 kernel image and modules"
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
declare -A MODFILE
while IFS= read -r f; do
	n=${f##*/}; n=${n%%.ko*}; MODFILE[${n//-/_}]=$f
done < <(find "$MODDIR/kernel" -name '*.ko' -o -name '*.ko.*')

# --- 2. headers (arm64) with the amd64 kbuild tools -------------------------------------------
step "unpacking headers and kbuild"
for d in "$DEBS"/linux-headers-*.deb "$DEBS"/linux-kbuild-*_amd64.deb; do run dpkg-deb -x "$d" "$W/root"; done
H=$W/root/usr/src/linux-headers-$KVER
[ -f "$H/.config" ] || fail "no .config in linux-headers-$KVER"
config() { sed -n "s/^CONFIG_$1=//p" "$H/.config"; }
exported() { grep -qP "^\S+\t$1\t" "$H/Module.symvers"; }

FEATURES=()
while read -r feat sym mod recipe; do
	[ "$recipe" != - ] || recipe=
	FEATURES+=("$feat:$sym:$mod:$recipe")
done < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$HERE/features")
declare -A UNAVAILABLE
# The CMA heap is built when the kernel has CMA (with the heap core, recipe dma_heap); whether the
# kernel exports what it calls is then modpost's verdict (below)
[ "$(config DMA_CMA)" = y ] || UNAVAILABLE[cma_heap]="the stock kernel has no CMA (CONFIG_DMA_CMA off)"
[ "$(config SYNC_FILE)" = y ] || UNAVAILABLE[sw_sync]="the stock kernel has CONFIG_SYNC_FILE off"
OOT=()
for f in "${FEATURES[@]}"; do
	IFS=: read -r feat sym mod recipe <<< "$f"
	v=$(config "$sym")
	if [ "$v" != y ] && [ -z "${MODFILE[$mod]:-}" ] && [ -n "$recipe" ] && [ -z "${UNAVAILABLE[$feat]:-}" ]; then
		case " ${OOT[*]} " in *" $recipe "*) ;; *) OOT+=("$recipe") ;; esac
	fi
done
printf 'config: %s\n' "$(grep -E '^CONFIG_(VIRTIO_PCI|VIRTIO_CONSOLE|NET_9P_VIRTIO|9P_FS|UDMABUF|DMABUF_HEAPS|DMABUF_HEAPS_SYSTEM|DMABUF_HEAPS_CMA|DMA_CMA|DRM_VGEM|DRM_VIRTIO_GPU|DRM_VKMS|SW_SYNC|SYNC_FILE|DEBUG_FS|VIDEO_DEV|MEDIA_CONTROLLER|VIDEO_VIVID|VIDEO_VIM2M|VIDEO_VICODEC|V4L2_MEM2MEM_DEV)=' "$H/.config" | tr '\n' ' ')" >> "$LOG"

# --- 3. out-of-tree modules, cross-compiled ---------------------------------------------------
declare -A OOTFILE
if [ ${#OOT[@]} -gt 0 ]; then
	KFLAV=${KVER%-*}
	KB=
	for d in "$W"/root/usr/lib/linux-kbuild-*; do KB=$d; done
	[ -n "$KB" ] || fail "no linux-kbuild (amd64) in $DEBS"
	[ "$(file -b "$KB/scripts/basic/fixdep" 2> /dev/null | grep -c x86-64)" = 1 ] ||
		fail "the kbuild tools are not x86-64 programs: $(file -b "$KB/scripts/basic/fixdep" 2>&1)"
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
		tar -C "$W/src" -xJ "$top/scripts" "$top/include" \
			"$top/drivers/gpu/drm/vkms" "$top/drivers/dma-buf" \
			"$top/drivers/media/test-drivers/vim2m.c" "$top/drivers/media/test-drivers/vicodec" >> "$LOG" 2>&1 ||
		fail "unpacking $tarname"
	S=$W/src/$top

	XGCC=aarch64-linux-gnu-gcc
	step "adapting the headers to the host's cross compiler ($($XGCC -dumpfullversion))"
	# As in scripts/vm/build.sh: Debian builds with a newer gcc; these options only enable flags
	# and attributes the older compiler lacks, and change no structure layout.
	AH=$H/include/generated/autoconf.h AC=$H/include/config/auto.conf
	for s in CC_HAS_MIN_FUNCTION_ALIGNMENT CC_HAS_SANE_FUNCTION_ALIGNMENT CC_HAS_ASM_GOTO_OUTPUT \
		CC_HAS_ASM_GOTO_TIED_OUTPUT CC_HAS_ASSUME CC_HAS_COUNTED_BY CC_HAS_COUNTED_BY_PTR \
		CC_HAS_MULTIDIMENSIONAL_NONSTRING CC_HAS_KASAN_SW_TAGS CC_OPT_INLINE_MEMSET; do
		sed -i "/^#define CONFIG_$s /d" "$AH"
		sed -i "/^CONFIG_$s=/d" "$AC"
	done
	grep -q GCC_ASM_GOTO_OUTPUT_BROKEN "$AH" || echo '#define CONFIG_GCC_ASM_GOTO_OUTPUT_BROKEN 1' >> "$AH"
	grep -q GCC_ASM_GOTO_OUTPUT_BROKEN "$AC" || echo 'CONFIG_GCC_ASM_GOTO_OUTPUT_BROKEN=y' >> "$AC"
	gccv=$($XGCC -dumpfullversion | awk -F. '{ printf "%d%02d%02d", $1, $2, $3 }')
	sed -i "s/^#define CONFIG_GCC_VERSION .*/#define CONFIG_GCC_VERSION $gccv/" "$AH"
	sed -i "s/^CONFIG_GCC_VERSION=.*/CONFIG_GCC_VERSION=$gccv/" "$AC"
	sed -i '/^CONFIG_DEBUG_INFO_BTF_MODULES=y$/d' "$AC"

	# modpost of the amd64 kbuild package may need a newer glibc than the host's: rebuild it (an
	# x86-64 program reading arm64 objects: both are 64-bit little-endian ELF)
	step "building modpost"
	MP=$S/scripts/mod
	mkdir -p "$MP/dt"
	cp "$MP/devicetable-offsets.c" "$MP/dt/"
	echo '# only for devicetable-offsets.s' > "$MP/dt/Kbuild"
	run make -C "$H" "${CROSS[@]}" M="$MP/dt" devicetable-offsets.s
	{
		echo "#ifndef __DEVICETABLE_OFFSETS_H__"; echo "#define __DEVICETABLE_OFFSETS_H__"
		sed -ne 's:^[[:space:]]*\.ascii[[:space:]]*"\(.*\)".*:\1:; /^->/{s:->#\(.*\):/* \1 */:; s:^->\([^ ]*\) [\$#]*\([^ ]*\) \(.*\):#define \1 \2 /* \3 */:; s:->::; p;}' \
			< "$MP/dt/devicetable-offsets.s"
		echo "#endif"
	} > "$MP/devicetable-offsets.h"
	(
		cd "$MP"
		$XGCC -c empty.c -o empty.o
		gcc -O2 -o mk_elfconfig mk_elfconfig.c
		./mk_elfconfig < empty.o > elfconfig.h
		srcs=(modpost.c file2alias.c sumversion.c)
		[ -f symsearch.c ] && srcs+=(symsearch.c)
		gcc -O2 -I. -I"$S/scripts/include" -o modpost "${srcs[@]}"
	) >> "$LOG" 2>&1 || fail "building modpost"
	for f in "$KB"/scripts/mod/modpost*; do [ -L "$f" ] || run install -m755 "$MP/modpost" "$f"; done

	# the dma-buf symbol namespace: a bare identifier before 6.13, a string since
	if grep -q '__stringify(ns)' "$S/include/linux/module.h"; then NS='MODULE_IMPORT_NS(DMA_BUF);'; else NS='MODULE_IMPORT_NS("DMA_BUF");'; fi
	ns_import() { echo "$NS"; }

	for r in "${OOT[@]}"; do
		step "building $r.ko (cross)"
		d=$W/oot/$r
		mkdir -p "$d"
		case $r in
		vkms)
			cp -r "$S/drivers/gpu/drm/vkms/." "$d/"
			run make -C "$H" "${CROSS[@]}" M="$d" CONFIG_DRM_VKMS=m -j"$JOBS" modules
			;;
		dma_heap)
			cp "$S/drivers/dma-buf/dma-heap.c" "$d/"
			cp "$S/drivers/dma-buf/heaps/system_heap.c" "$d/system_heap_main.c"
			cp "$HERE/oot/dma_heap/Kbuild" "$d/"
			{
				echo '// generated by scripts/vm/arm64/build.sh: dma-heap.c as a module'
				echo '#include <linux/module.h>'
				echo '#include <linux/dma-heap.h>'
				grep -q MODULE_LICENSE "$d/dma-heap.c" || echo 'MODULE_LICENSE("GPL");'
				grep -q MODULE_IMPORT_NS "$d/dma-heap.c" || ns_import
				echo 'MODULE_DESCRIPTION("dma-heap core, built out of tree for testing");'
				for s in dma_heap_add dma_heap_get_drvdata dma_heap_get_name dma_heap_get_dev; do
					grep -q "^[a-z].*[ *]$s(" "$d/dma-heap.c" || continue
					grep -q "EXPORT_SYMBOL[A-Z_]*($s" "$d/dma-heap.c" || echo "EXPORT_SYMBOL_GPL($s);"
				done
			} > "$d/dma_heap_mod.c"
			{
				echo '// generated by scripts/vm/arm64/build.sh: system_heap.c as a module'
				echo '#include <linux/module.h>'
				grep -q MODULE_LICENSE "$d/system_heap_main.c" || echo 'MODULE_LICENSE("GPL");'
				grep -q MODULE_IMPORT_NS "$d/system_heap_main.c" || ns_import
			} > "$d/system_heap_mod.c"
			run make -C "$H" "${CROSS[@]}" M="$d" -j"$JOBS" modules
			# the CMA heap, against the core's symbols. It calls cma_alloc, cma_release and
			# cma_get_name and finds the default area through dma_contiguous_default_area: a stock
			# kernel that does not export one of them to modules cannot have a CMA heap module, and
			# modpost says which ("undefined!"); that is UNAVAILABLE, any other failure a failure.
			if [ -z "${UNAVAILABLE[cma_heap]:-}" ]; then
				c=$W/oot/cma_heap
				mkdir -p "$c"
				cp "$S/drivers/dma-buf/heaps/cma_heap.c" "$c/cma_heap_main.c"
				cp "$HERE/oot/cma_heap/Kbuild" "$c/"
				{
					echo '// generated by scripts/vm/arm64/build.sh: cma_heap.c as a module'
					echo '#include <linux/module.h>'
					grep -q MODULE_LICENSE "$c/cma_heap_main.c" || echo 'MODULE_LICENSE("GPL");'
					grep -q MODULE_IMPORT_NS "$c/cma_heap_main.c" || ns_import
				} > "$c/cma_heap_mod.c"
				printf '\n=== cma_heap.ko\n' >> "$LOG"
				if make -C "$H" "${CROSS[@]}" M="$c" KBUILD_EXTRA_SYMBOLS="$d/Module.symvers" -j"$JOBS" modules > "$c/make.log" 2>&1; then
					cat "$c/make.log" >> "$LOG"
					cp "$c/cma_heap.ko" "$d/"
				else
					cat "$c/make.log" >> "$LOG"
					und=$(sed -n 's/.*ERROR: modpost: "\([^"]*\)" .*undefined!.*/\1/p' "$c/make.log" | sort -u | paste -sd' ' -)
					[ -n "$und" ] || fail "building cma_heap.ko"
					UNAVAILABLE[cma_heap]="the stock kernel does not export $und to modules, which a CMA heap module needs (modpost)"
					step "cma_heap: unavailable (${UNAVAILABLE[cma_heap]})"
				fi
			fi
			;;
		sw_sync)
			cp "$S"/drivers/dma-buf/{sw_sync.c,sync_debug.c,sync_debug.h,sync_trace.h} "$d/"
			sed -i 's|^#define TRACE_INCLUDE_PATH .*|#define TRACE_INCLUDE_PATH .|' "$d/sync_trace.h"
			cp "$VM"/oot/sw_sync/* "$d/"
			compat=
			exported sync_file_get_name || compat=y
			run make -C "$H" "${CROSS[@]}" M="$d" SW_SYNC_COMPAT_NAME=$compat -j"$JOBS" modules
			;;
		media_m2m)
			cp "$S/drivers/media/test-drivers/vim2m.c" "$d/"
			cp "$S"/drivers/media/test-drivers/vicodec/*.[ch] "$d/"
			cp "$HERE/oot/media_m2m/Kbuild" "$d/"
			run make -C "$H" "${CROSS[@]}" M="$d" -j"$JOBS" modules
			;;
		esac
		kos=("$d"/*.ko)
		[ ${#kos[@]} -gt 0 ] || fail "no .ko built for $r"
		for ko in "${kos[@]}"; do
			n=${ko##*/}; n=${n%.ko}; n=${n//-/_}
			[ "$r" != sw_sync ] || n=sw_sync
			run "$XSTRIP" --strip-debug -o "$W/ko/$n.ko" "$ko"
			grep -q "vermagic=$KVER " <(modinfo "$W/ko/$n.ko" | sed -n 's/^vermagic: *\(.*\)/vermagic=\1/p') ||
				fail "$n.ko has the wrong vermagic: $(modinfo -F vermagic "$W/ko/$n.ko")"
			OOTFILE[$n]=$W/ko/$n.ko
		done
	done
fi

# --- 4. load plan (as in scripts/vm/build.sh) ---------------------------------------------------
step "resolving module dependencies"
declare -A PLACED
copy_module() {
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
visit() {
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
		*) p=$(printf '%s\n' ${PLAN[$feat]} | awk 'NF && !seen[$0]++' | tr '\n' ' ') ;;
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
