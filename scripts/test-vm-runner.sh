#!/bin/bash
# Self-test of the VM runner (scripts/vm.sh) on one kernel: the exit status and output of a command
# come through, and the watchdog turns a guest that goes silent into a report of what is stuck and
# exit status 124, well before the overall timeout. The silent guest command is
# test/fixtures/vfork-block.c: a process left in uninterruptible sleep (D) on purpose.
#   bash scripts/test-vm-runner.sh [--kernel trixie|sid|trixie-cma]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KERNEL=trixie
while [ $# -gt 0 ]; do
	case $1 in
	--kernel) KERNEL=${2:?--kernel needs a value}; shift 2 ;;
	--kernel=*) KERNEL=${1#*=}; shift ;;
	*) echo "test-vm-runner: unknown argument $1" >&2; exit 2 ;;
	esac
done
W=$(mktemp -d "${TMPDIR:-/tmp}/dmabuf-vm-runner.XXXXXX")
trap 'rm -rf "$W"' EXIT
passed=0 failed=0
check() {  # description, then a command that succeeds when the check holds
	local what=$1
	shift
	if "$@"; then
		echo "  ok: $what"
		passed=$((passed + 1))
	else
		echo "  FAILED: $what"
		failed=$((failed + 1))
	fi
}

# the first run on a machine downloads and builds the kernel: do that first, with its progress shown
echo "test-vm-runner: 0. preparing the $KERNEL kernel (once per machine and recipe)"
bash "$ROOT/scripts/vm.sh" --kernel "$KERNEL" -- true

echo "test-vm-runner: 1. a command's status and output come through ($KERNEL)"
set +e
bash "$ROOT/scripts/vm.sh" --kernel "$KERNEL" -- bash -c 'echo "out: $1"; exit 7' _ 'a b$c' > "$W/1.out" 2> "$W/1.err"
rc=$?
set -e
check "exit status 7 (got $rc)" test "$rc" = 7
check "the argument arrived intact" grep -qxF 'out: a b$c' "$W/1.out"

echo "test-vm-runner: 2. a guest that goes silent is reported and stopped (--idle-timeout 20)"
gcc -O2 -o "$W/vfork-block" "$ROOT/test/fixtures/vfork-block.c"
t0=$(date +%s)
set +e
bash "$ROOT/scripts/vm.sh" --kernel "$KERNEL" --idle-timeout 20 --timeout 600 -- "$W/vfork-block" > "$W/2.out" 2> "$W/2.err"
rc=$?
set -e
secs=$(( $(date +%s) - t0 ))
sed 's/^/    | /' "$W/2.err" | grep -E 'watchdog: (the|\| task|\|   \[<|\|   .*vfork)|ERROR' | head -n 20 || true
check "exit status 124 (got $rc)" test "$rc" = 124
check "stopped long before --timeout (after ${secs}s)" test "$secs" -lt 300
check "the command's output before the silence was shown" grep -q 'vfork-block: parent [0-9]* blocks' "$W/2.out"
check "one clear line says why" grep -q "ERROR: $KERNEL (.*): the guest printed nothing for 20s (--idle-timeout)" "$W/2.err"
check "the blocked task is listed in state D" grep -Eq 'watchdog: \| task [0-9]+ \(pid [0-9]+\) vfork-block state D' "$W/2.err"
check "with its kernel stack (in vfork)" grep -q 'watchdog: |.*vfork' "$W/2.err"
check "sysrq-w reached the report" grep -q 'watchdog: |.*show_state\|watchdog: |.*Show Blocked State\|watchdog: |.*task:vfork-block' "$W/2.err"
check "the last lines printed were shown" grep -q 'watchdog: > vfork-block: parent' "$W/2.err"

echo "test-vm-runner: 3. a guest that dies before the command starts is booted again"
set +e
DMABUF_VM_TEST_FAIL_BOOT=1 bash "$ROOT/scripts/vm.sh" --kernel "$KERNEL" -- bash -c 'echo ran-once' > "$W/3.out" 2> "$W/3.err"
rc=$?
set -e
check "exit status 0 (got $rc)" test "$rc" = 0
check "the first boot failed on purpose and was reported" grep -q 'FATAL on .*failing this boot on purpose' "$W/3.err"
check "booted again, saying so" grep -q "booting $KERNEL's kernel .*, try 2 of 3" "$W/3.err"
check "the command ran exactly once" test "$(grep -c '^ran-once$' "$W/3.out")" = 1

echo "test-vm-runner: $passed passed, $failed failed"
[ "$failed" = 0 ]
