#!/bin/bash
# Run the kernel test suite (npm run test:kernel) on every kernel of the matrix, each in a VM
# (scripts/vm.sh), and summarize:
#   vm kernel=<uname -r> drivers=<DRM drivers> heaps=<dma heaps> udmabuf=<yes|no> video=<V4L2 drivers>: N passed, M failed, K skipped
#   total: N passed, M failed, K skipped
# Fails if a kernel did not boot, ran no test, had a failing test or is missing a device.
#   npm run test:vm [-- --kernel trixie|sid|trixie-cma|all] [-- any vm.sh option, e.g. --mem 3072]
#   npm run test:vm -- --arch arm64 [--kernel trixie|sid|all]   (Debian's arm64 kernels; the summary
#     lines say arch=arm64 and unavailable=<what the kernel cannot have>, each also named with its reason)
#   npm run test:vm -- [options] -- MOCHA_ARGS...   (passed to the suite's mocha, e.g. --ignore PATTERN)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

KERNEL=all
ARCH=x86_64
VMOPTS=()
SUITE_ARGS=()
while [ $# -gt 0 ]; do
	case $1 in
	--) shift; SUITE_ARGS=("$@"); break ;;
	--arch) ARCH=${2:?--arch needs a value}; shift 2 ;;
	--arch=*) ARCH=${1#*=}; shift ;;
	--kernel) KERNEL=${2:?--kernel needs a value}; shift 2 ;;
	--kernel=*) KERNEL=${1#*=}; shift ;;
	--mem | --timeout | --idle-timeout | --dmesg) VMOPTS+=("$1" "${2:?$1 needs a value}"); shift 2 ;;
	*) VMOPTS+=("$1"); shift ;;
	esac
done
case $ARCH in
x86_64 | x64 | amd64) ARCH=x86_64 ;;
arm64 | aarch64) ARCH=arm64 ;;
*) echo "test-vm: unknown architecture '$ARCH' (x86_64 or arm64)" >&2; exit 2 ;;
esac
if [ "$ARCH" = arm64 ]; then
	case $KERNEL in
	all) SUITES=(trixie sid) ;;
	trixie | sid) SUITES=("$KERNEL") ;;
	*) echo "test-vm: unknown arm64 kernel '$KERNEL' (trixie, sid or all)" >&2; exit 2 ;;
	esac
	VMOPTS=(--arch arm64 "${VMOPTS[@]}")
else
	case $KERNEL in
	all) SUITES=(trixie sid trixie-cma) ;;
	trixie | sid | trixie-cma) SUITES=("$KERNEL") ;;
	*) echo "test-vm: unknown kernel '$KERNEL'" >&2; exit 2 ;;
	esac
fi

# DMABUF_TEST_VM_COMMAND replaces the suite (only to test this script itself)
CMD=(npm run test:kernel -- "${SUITE_ARGS[@]}")
# the arm64 userland has node but not npm: what npm run test:kernel runs
[ "$ARCH" != arm64 ] || CMD=(node scripts/run-tests.js --kernel "${SUITE_ARGS[@]}")
[ -z "${DMABUF_TEST_VM_COMMAND:-}" ] || CMD=(bash -c "$DMABUF_TEST_VM_COMMAND")
if [ -z "${DMABUF_TEST_VM_COMMAND:-}" ] && { [ ! -f build/Release/dmabuf.node ] || [ ! -d dist ]; }; then
	echo "test-vm: the project is not built; running npm run build"
	npm run build
fi
# the arm64 guest loads the prebuilt binary (its build/ is hidden, as on an arm64 user's machine)
if [ -z "${DMABUF_TEST_VM_COMMAND:-}" ] && [ "$ARCH" = arm64 ] && ! compgen -G 'prebuilds/linux-arm64/*.node' > /dev/null; then
	echo "test-vm: no prebuilds/linux-arm64; running node scripts/prebuild.js --arch arm64"
	node scripts/prebuild.js --arch arm64
fi

LOGDIR=$(mktemp -d "${TMPDIR:-/tmp}/dmabuf-test-vm.XXXXXX")
trap 'rm -rf "$LOGDIR"' EXIT
SUMMARY=()
PROBLEMS=()
TP=0 TF=0 TS=0
fail=0
for s in "${SUITES[@]}"; do
	log=$LOGDIR/$s.log
	echo "test-vm: ===== $s ====="
	t0=$(date +%s)
	set +e
	bash scripts/vm.sh --kernel "$s" "${VMOPTS[@]}" -- "${CMD[@]}" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	set -e
	secs=$(( $(date +%s) - t0 ))
	sed -i 's/\x1b\[[0-9;?]*[A-Za-z]//g' "$log"   # no colors for parsing
	info=$(grep -m1 '^vm: guest kernel=' "$log" || true)
	field() { printf '%s\n' "$info" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
	kernel=$(field kernel)
	[ -n "$kernel" ] || kernel=$(sed -n "s/^vm: booting $s's kernel \([^ ]*\).*/\1/p" "$log" | head -n1)
	[ -n "$kernel" ] || kernel="$s(unknown)"
	drivers=$(field drivers) heaps=$(field heaps) udmabuf=$(field udmabuf) video=$(field video)
	sum() { awk -v w="$1" '$2 == w && $1 ~ /^[0-9]+$/ { n += $1 } END { print n + 0 }' "$log"; }
	passed=$(sum passing) failed=$(sum failing) skipped=$(sum pending)
	bad=()
	[ -n "$info" ] || bad+=("the VM did not boot")
	[ "$rc" = 0 ] || bad+=("exit status $rc")
	[ "$failed" = 0 ] || bad+=("$failed failing")
	[ -z "$info" ] || [ $((passed + failed)) -gt 0 ] || bad+=("no test ran")
	while IFS= read -r m; do bad+=("${m#vm: }"); done < <(grep '^vm: MISSING ' "$log" || true)
	archf= unav=
	if [ "$ARCH" = arm64 ]; then
		# what this kernel cannot have: named in the summary, with its reason among the problems
		unav=$(sed -n 's/^vm: UNAVAILABLE \([^ ]*\) on .*/\1/p' "$log" | sort -u | paste -sd, -)
		archf=" arch=arm64"
		while IFS= read -r m; do PROBLEMS+=("test-vm: $s ($kernel): ${m#vm: } (not a failure)"); done < <(grep '^vm: UNAVAILABLE ' "$log" || true)
		unav=" unavailable=${unav:-none}"
	fi
	if [ ${#bad[@]} -gt 0 ]; then
		fail=1
		for b in "${bad[@]}"; do PROBLEMS+=("test-vm: $s ($kernel): $b"); done
	fi
	SUMMARY+=("vm kernel=$kernel$archf drivers=${drivers:-none} heaps=${heaps:-none} udmabuf=${udmabuf:-no} video=${video:-none}$unav: $passed passed, $failed failed, $skipped skipped")
	echo "test-vm: $s done in ${secs}s"
	TP=$((TP + passed)) TF=$((TF + failed)) TS=$((TS + skipped))
done

echo
for p in "${PROBLEMS[@]}"; do echo "$p"; done
for l in "${SUMMARY[@]}"; do echo "$l"; done
echo "total: $TP passed, $TF failed, $TS skipped"
exit "$fail"
