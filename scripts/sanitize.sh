#!/bin/bash
# Build the native addon with AddressSanitizer + UndefinedBehaviorSanitizer in a SEPARATE tree (the
# team's build/Release is never touched) and run the test suite with it, in the VM on real kernels by
# default. Fails on any sanitizer report, or if the suite fails.
#
#   scripts/sanitize.sh                      # whole suite, VM, both kernels
#   scripts/sanitize.sh --kernel sid         # one kernel
#   scripts/sanitize.sh --host               # on this machine (no devices: files, memfd, args only)
#   scripts/sanitize.sh -- dist/test/60-fuzz.test.js   # only these test files
#
# Needs a built dist/ (npm run build:ts) and gcc's libasan/libubsan. The tree goes to
# $DMABUF_SANITIZE_DIR (default /var/tmp/dmabuf-sanitize: on the host's root, so the VM sees it);
# the log to $DMABUF_SANITIZE_DIR/sanitize.log.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${DMABUF_SANITIZE_DIR:-/var/tmp/dmabuf-sanitize}
KERNEL=all
HOST=0
while [ $# -gt 0 ]; do
	case $1 in
	--kernel) KERNEL=${2:?}; shift 2 ;;
	--host) HOST=1; shift ;;
	--) shift; break ;;
	*) break ;;
	esac
done
TESTS=("$@")
[ ${#TESTS[@]} -gt 0 ] || TESTS=(dist/test/*.test.js)

[ -d "$ROOT/dist/test" ] || { echo "sanitize: no dist/ — run npm run build:ts first" >&2; exit 2; }
ASAN=$(gcc -print-file-name=libasan.so)
[ -f "$ASAN" ] || { echo "sanitize: gcc has no libasan.so (apt-get install libasan8 or gcc)" >&2; exit 2; }

NODE_GYP=${npm_config_node_gyp:-}
if [ -z "$NODE_GYP" ] || [ ! -f "$NODE_GYP" ]; then
	NODE_GYP=$(dirname "$(command -v node)")/../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js
fi
[ -f "$NODE_GYP" ] || { echo "sanitize: node-gyp not found (set npm_config_node_gyp)" >&2; exit 2; }

start=$(date +%s)
echo "sanitize: building the ASan+UBSan addon in $OUT" >&2
rm -rf "$OUT"
mkdir -p "$OUT"
cp -a "$ROOT/package.json" "$ROOT/binding.gyp" "$ROOT/native" "$ROOT/dist" "$ROOT/bin" "$ROOT/scripts" "$OUT/"
[ -f "$ROOT/.mocharc.json" ] && cp "$ROOT/.mocharc.json" "$OUT/"
# sources the tests build or read at run time (test/fixtures/*.c)
mkdir -p "$OUT/test"
cp -a "$ROOT/test/fixtures" "$OUT/test/"
ln -s "$ROOT/node_modules" "$OUT/node_modules"
# native.ts loads build/Release first, then build/Debug: this tree has only the Debug (sanitized) one.
# Use the node headers the normal build used (offline machines have no node-gyp download).
NODEDIR=$(sed -n 's/.*"nodedir": "\(.*\)".*/\1/p' "$ROOT/build/config.gypi" 2>/dev/null | head -1)
GYPARGS=(rebuild --debug --jobs 2)
[ -n "$NODEDIR" ] && GYPARGS+=("--nodedir=$NODEDIR")
(cd "$OUT" && node "$NODE_GYP" "${GYPARGS[@]}" -- -Dsanitize=1 > "$OUT/build.log" 2>&1) ||
	{ tail -30 "$OUT/build.log" >&2; echo "sanitize: build failed (log: $OUT/build.log)" >&2; exit 1; }
[ -f "$OUT/build/Debug/dmabuf.node" ] && [ ! -e "$OUT/build/Release" ] || { echo "sanitize: no build/Debug/dmabuf.node" >&2; exit 1; }
ldd "$OUT/build/Debug/dmabuf.node" | grep libasan > /dev/null || { echo "sanitize: the addon is not linked with libasan" >&2; exit 1; }
built=$(date +%s)
echo "sanitize: built in $((built - start)) s" >&2

ENVV=(
	"LD_PRELOAD=$ASAN"
	"ASAN_OPTIONS=detect_leaks=0:halt_on_error=1:abort_on_error=0:exitcode=86:print_summary=1:allocator_may_return_null=1"
	"UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=87"
	"DMABUF_BACKEND=native"
)
# Proof that the sanitized addon is the one loaded, then the suite.
CMD=(env "${ENVV[@]}" bash -c 'cd "$0" && node -e "
  const r = require(\"./dist/src/backend/native.js\").loadNative();
  if (!r.backend) { console.error(r.error && r.error.message); process.exit(1); }
  console.log(\"sanitize: loaded \" + r.tried[r.tried.length - 1]);
" && node node_modules/mocha/bin/mocha.js --no-config --timeout 300000 --reporter dot "${@}"' "$OUT" "${TESTS[@]}")

LOG=$OUT/sanitize.log
set +e
if [ "$HOST" = 1 ]; then
	(cd "$OUT" && "${CMD[@]}") 2>&1 | tee "$LOG"
else
	(cd "$OUT" && bash "$ROOT/scripts/vm.sh" --kernel "$KERNEL" -- "${CMD[@]}") 2>&1 | tee "$LOG"
fi
status=${PIPESTATUS[0]}
set -e
end=$(date +%s)
reports=$(grep -cE 'ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer|SUMMARY: (Address|UndefinedBehavior)Sanitizer' "$LOG" || true)
echo "sanitize: build $((built - start)) s, run $((end - built)) s, exit status $status, sanitizer reports: $reports (log: $LOG)" >&2
if [ "$reports" != 0 ]; then
	grep -nE -A20 'ERROR: AddressSanitizer|runtime error:' "$LOG" | head -80 >&2
	exit 1
fi
exit "$status"
