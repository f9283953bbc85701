#!/bin/bash
# `npx dmabuf vm` as a user runs it: pack this package, install the tarball and mocha into a new
# project, and run that project's own mocha test on a real kernel through the installed package's
# runner. The test allocates a udmabuf, writes it through one mapping and reads it through another,
# and checks fdinfo's exporter: it passes only on the native backend in the guest.
#
#   bash scripts/test-vm-consumer.sh [--arch x86_64|arm64] [--kernel trixie|sid|trixie-cma]
#
# With --arch arm64 the guest is Debian's arm64 kernel with the runner's private arm64 userland, which
# has node but no npm: the project's test runs as node_modules/.bin/mocha, and what loads is the
# package's prebuilt linux-arm64 binary.
# Needs a built package (npm run build, npm run prebuilds) and the npm registry for mocha (npm's cache
# serves it offline).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KERNEL=trixie
ARCH=x86_64
while [ $# -gt 0 ]; do
	case $1 in
	--kernel) KERNEL=${2:?--kernel needs a value}; shift 2 ;;
	--arch) ARCH=${2:?--arch needs a value}; shift 2 ;;
	*) echo "test-vm-consumer: unknown argument $1" >&2; exit 2 ;;
	esac
done
case $ARCH in
x86_64) MOCHA=(npx mocha) ;;
arm64) MOCHA=(node_modules/.bin/mocha) ;;
*) echo "test-vm-consumer: unknown architecture '$ARCH' (x86_64 or arm64)" >&2; exit 2 ;;
esac

# the guest sees the host's / read-only, so the project lives on it (not in a tmpfs)
WORK=$(mktemp -d /var/tmp/dmabuf-consumer.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
fail() { echo "test-vm-consumer: FAIL: $*" >&2; exit 1; }

(cd "$ROOT" && npm pack --silent --pack-destination "$WORK" > /dev/null)
TARBALL=$(compgen -G "$WORK/dmabuf-*.tgz" | head -n1)
[ -n "$TARBALL" ] || fail "npm pack made no tarball"
mkdir -p "$WORK/app/test"
cd "$WORK/app"
cat > package.json << 'EOF'
{ "name": "consumer", "version": "1.0.0", "private": true, "scripts": { "test": "mocha" } }
EOF
cat > test/buffer.test.js << 'EOF'
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { probe, udmabuf } = require('dmabuf');

describe('dmabuf in a project of its own', function () {
  it('runs on the native backend with udmabuf', function () {
    const p = probe();
    assert.equal(p.backend, 'native', JSON.stringify(p.backend));
    assert.equal(p.udmabuf.available, true, p.udmabuf.reason);
  });

  it('writes a udmabuf through one mapping and reads it through another', function () {
    const buf = udmabuf.create(64 * 1024, { name: 'consumer' });
    try {
      const w = buf.map('readwrite');
      const r = buf.map('read');
      buf.access('write', () => w.bytes.fill(0x5a));
      const got = buf.access('read', () => r.read()); // a read-only mapping is read by copy
      assert.equal(got.length, 64 * 1024);
      assert.equal(got.every((x) => x === 0x5a), true);
      const info = fs.readFileSync(`/proc/self/fdinfo/${buf.fd}`, 'utf8');
      assert.match(info, /^exp_name:\s+udmabuf$/m);
      assert.match(info, /^name:\s+consumer$/m);
    } finally {
      buf.close();
    }
  });
});
EOF
echo "test-vm-consumer: installing $(basename "$TARBALL") and mocha into $WORK/app" >&2
npm install --no-audit --no-fund --no-package-lock --prefer-offline "$TARBALL" mocha > install.log 2>&1 ||
	{ cat install.log >&2; fail "npm install"; }
[ -x node_modules/.bin/dmabuf ] || fail "the package installed no dmabuf command"

set +e
npx dmabuf vm --arch "$ARCH" --kernel "$KERNEL" -- "${MOCHA[@]}" 2>&1 | tee run.log
rc=${PIPESTATUS[0]}
set -e
[ "$rc" = 0 ] || fail "npx dmabuf vm exited with $rc"
grep -q '^  2 passing' run.log || fail "mocha did not report 2 passing tests"
grep -q "^vm: $KERNEL (.*): command exited with status 0" run.log || fail "the runner did not report the command's status"
grep -qE '^vm: (using KVM|.*using software emulation|arm64: software emulation)' run.log || fail "the runner did not say which accelerator it used"
if [ "$ARCH" = arm64 ]; then
	grep -q "^vm: booting $KERNEL's kernel .*-arm64" run.log || fail "the runner did not boot an arm64 kernel"
fi
echo "test-vm-consumer: OK: the project's own test passed on $KERNEL ($ARCH) through npx dmabuf vm" >&2
