/**
 * fd exhaustion: in a child whose RLIMIT_NOFILE is small, every path that makes an fd (memfd,
 * udmabuf, heap allocation, dup, PRIME export, sync-file export and merge, opening a device) is run
 * until the kernel says EMFILE. Each must fail with a coded system error (code, errno, syscall),
 * leave no fd behind (udmabuf.create makes a memfd before UDMABUF_CREATE: that one must be closed
 * when the second step fails), and the process must go on working once it closes what it made.
 *
 * ENFILE (the system-wide table) takes the same paths with another errno; it cannot be reached here
 * without lowering fs.file-max for the whole machine, and root is exempt from it anyway.
 *
 * On the mock, the child runs a model whose RLIMIT_NOFILE is the same number (option `nofile`), and
 * counts the model's fds.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { inVm, isMock } from './support/index';
import { runChild } from './support/child';

const INDEX_JS = path.resolve(__dirname, '..', 'src', 'index.js');
const MOCK_JS = path.resolve(__dirname, '..', 'src', 'backend', 'mock', 'index.js');
const LIMIT = 128;

// The child: for each fd-making path, make objects until one fails, then close them all.
const CHILD = `
const lib = require(${JSON.stringify(INDEX_JS)});
const fs = require('fs');
if (lib.getBackend().name === 'mock') {
  lib.setBackend(require(${JSON.stringify(MOCK_JS)}).createMockBackend({ nofile: ${LIMIT} }));
}
const b = lib.getBackend();
const fdCount = () => b.name === 'mock' ? b.openFds().length : fs.readdirSync('/proc/self/fd').length;
const out = {};
function exhaust(name, setup, make) {
  let ctx;
  try { ctx = setup(); } catch (e) { out[name] = { unavailable: String(e.code || e.message) }; return; }
  const base = fdCount();
  const made = [];
  let err;
  for (let i = 0; i < ${LIMIT * 4}; i++) {
    try { made.push(make(ctx)); } catch (e) { err = e; break; }
  }
  for (const m of made.reverse()) m.close();
  const r = { made: made.length, leaked: fdCount() - base };
  if (err) Object.assign(r, { code: err.code, errno: err.errno, syscall: err.syscall, cls: err.constructor.name, message: err.message });
  // and it works again
  try { const again = make(ctx); again.close(); r.again = true; } catch (e) { r.again = String(e.code); }
  if (ctx && ctx.close) ctx.close();
  out[name] = r;
}
const heap = () => lib.heaps.open('system');
const buf = () => { try { const h = heap(); const b = h.allocate(4096); h.close(); return b; } catch { return lib.udmabuf.create(4096); } };
const vgem = () => lib.drm.open({ driver: 'vgem' });
exhaust('memfd', () => null, () => lib.udmabuf.memfd(4096));
// the first create opens /dev/udmabuf, which the library keeps open for the process: not a leak
exhaust('udmabuf.create', () => { if (!lib.udmabuf.available()) throw new Error('no /dev/udmabuf'); lib.udmabuf.create(4096).close(); },
  () => lib.udmabuf.create(4096));
exhaust('heap.allocate', heap, (h) => h.allocate(4096));
exhaust('heaps.open', () => heap().close(), () => heap());
exhaust('DmaBuf.dup', buf, (b) => b.dup());
exhaust('DmaBuf.fromFd', buf, (b) => lib.DmaBuf.fromFd(b.fd));
exhaust('drm.open', () => vgem().close(), () => vgem());
exhaust('DumbBuffer.export', () => { const d = vgem(); const bo = d.createDumb({ width: 16, height: 16, bpp: 32 }); return { bo, close: () => d.close() }; }, (c) => c.bo.export());
exhaust('exportSyncFile', () => { const b = buf(); b.exportSyncFile('read').close(); return b; }, (b) => b.exportSyncFile('read'));
exhaust('SyncFile.merge', () => { const b = buf(); const s = b.exportSyncFile('read'); return { s, close: () => { s.close(); b.close(); } }; }, (c) => c.s.merge(c.s));
console.log(JSON.stringify(out));
`;

interface Outcome {
  unavailable?: string;
  made: number;
  leaked: number;
  code?: string;
  errno?: number;
  syscall?: string;
  cls?: string;
  message?: string;
  again?: boolean | string;
}

describe('fd exhaustion (RLIMIT_NOFILE): EMFILE is a coded error on every fd-making path, nothing leaks', function () {
  this.timeout(180_000);

  it(`in a child limited to ${LIMIT} fds`, async function () {
    const r = isMock() ? await runChild(process.execPath, ['-e', CHILD], { timeout: 150_000 })
      : await runChild('/bin/sh', ['-c', `ulimit -n ${LIMIT} && exec "$0" -e "$1"`, process.execPath, CHILD],
        { timeout: 150_000 });
    assert.equal(r.signal, null, r.stderr);
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, Outcome>;
    const ran: string[] = [];
    for (const [name, o] of Object.entries(out)) {
      if (o.unavailable !== undefined) continue;
      ran.push(name);
      assert.ok(o.made > 0, `${name}: made some before the limit`);
      assert.equal(o.code, 'EMFILE', `${name}: ${o.code} ${o.message}`);
      assert.equal(o.errno, 24, name);
      assert.equal(typeof o.syscall, 'string', `${name}: syscall`);
      assert.equal(o.cls, 'Error', name);
      assert.equal(o.leaked, 0, `${name}: ${o.leaked} fds left behind after closing everything`);
      assert.equal(o.again, true, `${name}: works again after closing (${o.again})`);
    }
    assert.ok(ran.includes('memfd'), 'memfd always runs');
    if (inVm || isMock()) {
      for (const name of ['udmabuf.create', 'heap.allocate', 'heaps.open', 'DmaBuf.dup', 'DmaBuf.fromFd', 'drm.open',
        'DumbBuffer.export', 'exportSyncFile', 'SyncFile.merge']) {
        assert.ok(ran.includes(name), `${name} ran (${out[name]?.unavailable ?? 'missing'})`);
      }
    } else {
      const skipped = Object.entries(out).filter(([, o]) => o.unavailable !== undefined).map(([n, o]) => `${n}: ${o.unavailable}`);
      if (skipped.length) this.test!.title += ` (not run here: ${skipped.join('; ')})`;
    }
  });
});
