/**
 * fd exhaustion: in a child whose RLIMIT_NOFILE is small, every path that makes an fd (memfd,
 * udmabuf, heap allocation, dup, PRIME export, V4L2 EXPBUF, sync-file export and merge, opening a
 * device) is run
 * until the kernel says EMFILE. Each must fail with a coded system error (code, errno, syscall),
 * leave no fd behind (udmabuf.create makes a memfd before UDMABUF_CREATE: that one must be closed
 * when the second step fails), and the process must go on working once it closes what it made.
 *
 * ENFILE (the system-wide table, fs.file-max) takes the same paths: in the VM a child without
 * CAP_SYS_ADMIN (which the kernel exempts from the limit; setpriv drops it from the bounding set)
 * lowers fs.file-max to what is open plus a margin, and every path that makes a new open file gets
 * ENFILE, while the paths that only dup one (DmaBuf.dup and fromFd, a dumb buffer's re-export, which
 * the kernel hands out from its PRIME cache) reach the fd limit instead, and the kernel reports a
 * sync file it could not make as ENOMEM. The parent puts file-max back.
 *
 * On the mock, the child runs a model with the same limits (options `nofile`, `fileMax`), and counts
 * the model's fds.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { inVm, isMock } from './support/index';
import { runChild } from './support/child';

const INDEX_JS = path.resolve(__dirname, '..', 'src', 'index.js');
const MOCK_JS = path.resolve(__dirname, '..', 'src', 'backend', 'mock', 'index.js');
const LIMIT = 128;
/** ENFILE runs: the fd limit, above the files the margin allows, so that dup paths end at EMFILE. */
const ENFILE_NOFILE = 512;
const FILE_MAX = '/proc/sys/fs/file-max';

// The child: for each fd-making path, make objects until one fails, then close them all.
// DMABUF_EXHAUST says which limit: EMFILE (RLIMIT_NOFILE = LIMIT) or ENFILE (LIMIT more files).
const CHILD = `
const lib = require(${JSON.stringify(INDEX_JS)});
const fs = require('fs');
const ENFILE = process.env.DMABUF_EXHAUST === 'ENFILE';
if (lib.getBackend().name === 'mock') {
  lib.setBackend(require(${JSON.stringify(MOCK_JS)}).createMockBackend(ENFILE
    ? { nofile: ${ENFILE_NOFILE}, fileMax: ${LIMIT} } : { nofile: ${LIMIT} }));
} else if (ENFILE) {
  const open = Number(fs.readFileSync('/proc/sys/fs/file-nr', 'utf8').split(/\\s+/)[0]);
  fs.writeFileSync('${FILE_MAX}', String(open + ${LIMIT}));
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
  for (let i = 0; i < ${ENFILE_NOFILE * 4}; i++) {
    try { made.push(make(ctx)); } catch (e) { err = e; break; }
  }
  for (const m of made.reverse()) m.close();
  const r = { made: made.length, leaked: fdCount() - base };
  if (err) Object.assign(r, { code: err.code, errno: err.errno, syscall: err.syscall, cls: err.constructor.name, message: err.message, hint: err.hint });
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
// V4L2 EXPBUF: videobuf2 makes a new dma-buf (a new file) for each export of the same buffer
exhaust('v4l2 EXPBUF', () => {
  const d = lib.v4l2.open({ driver: 'vivid', capture: true });
  const before = d.capture.getFormat();
  // put vivid back as found: the files after this one (the V4L2 differential) compare its state
  const close = () => {
    try { d.capture.release(); d.capture.setFormat({ width: before.width, height: before.height, format: before.fourcc }); } catch {}
    d.close();
  };
  try {
    d.capture.setFormat({ width: 64, height: 48, format: 'XRGB8888' });
    d.capture.exportBuffers(1).forEach((f) => f.close());
  } catch (e) { close(); throw e; }
  return { d, close };
}, (c) => lib.DmaBuf.fromFd(b.v4l2ExpBuf(c.d.fd, c.d.capture.type, 0, 0, 2), { dup: false }));
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
  hint?: string;
  again?: boolean | string;
}

const ALL_PATHS = ['udmabuf.create', 'heap.allocate', 'heaps.open', 'DmaBuf.dup', 'DmaBuf.fromFd', 'drm.open',
  'DumbBuffer.export', 'exportSyncFile', 'SyncFile.merge'];
/** Paths that name a file the process already has: no new open file, so the fd limit ends them. */
const DUP_PATHS = new Set(['DmaBuf.dup', 'DmaBuf.fromFd', 'DumbBuffer.export']);
/**
 * Sync files: sync_file_alloc returns NULL whatever failed (the file table included), and the
 * ioctls that make one (EXPORT_SYNC_FILE, SYNC_IOC_MERGE) report that as ENOMEM.
 */
const SYNC_FILE_PATHS = new Set(['exportSyncFile', 'SyncFile.merge']);
/** videobuf2's EXPBUF turns any failure to make the dma-buf (its file included) into EINVAL. */
const EINVAL_PATHS = new Set(['v4l2 EXPBUF']);

type Errno = 'EMFILE' | 'ENFILE' | 'ENOMEM' | 'EINVAL';

function check(ctx: Mocha.Context, out: Record<string, Outcome>, expect: (name: string) => Errno): void {
  const errnos = { EMFILE: 24, ENFILE: 23, ENOMEM: 12, EINVAL: 22 };
  const ran: string[] = [];
  for (const [name, o] of Object.entries(out)) {
    if (o.unavailable !== undefined) continue;
    ran.push(name);
    const want = expect(name);
    assert.ok(o.made > 0, `${name}: made some before the limit`);
    assert.equal(o.code, want, `${name}: ${o.code} ${o.message}`);
    assert.equal(o.errno, errnos[want], name);
    assert.equal(typeof o.syscall, 'string', `${name}: syscall`);
    assert.equal(o.cls, 'Error', name);
    assert.equal(o.leaked, 0, `${name}: ${o.leaked} fds left behind after closing everything`);
    assert.equal(o.again, true, `${name}: works again after closing (${o.again})`);
    if (want === 'ENOMEM') assert.match(o.hint ?? '', /open-file table is full/, `${name}: the hint says why ENOMEM`);
  }
  assert.ok(ran.includes('memfd'), 'memfd always runs');
  if (inVm || isMock()) {
    for (const name of ALL_PATHS) assert.ok(ran.includes(name), `${name} ran (${out[name]?.unavailable ?? 'missing'})`);
    // the mock's vivid and the VM's
    assert.ok(ran.includes('v4l2 EXPBUF'), `v4l2 EXPBUF ran (${out['v4l2 EXPBUF']?.unavailable ?? 'missing'})`);
  } else {
    const skipped = Object.entries(out).filter(([, o]) => o.unavailable !== undefined).map(([n, o]) => `${n}: ${o.unavailable}`);
    if (skipped.length) ctx.test!.title += ` (not run here: ${skipped.join('; ')})`;
  }
}

function parse(r: { stdout: string }): Record<string, Outcome> {
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, Outcome>;
}

describe('fd exhaustion: EMFILE and ENFILE are coded errors on every fd-making path, nothing leaks', function () {
  this.timeout(180_000);

  it(`EMFILE in a child limited to ${LIMIT} fds`, async function () {
    const env = { ...process.env, DMABUF_EXHAUST: 'EMFILE' };
    const r = isMock() ? await runChild(process.execPath, ['-e', CHILD], { timeout: 150_000, env })
      : await runChild('/bin/sh', ['-c', `ulimit -n ${LIMIT} && exec "$0" -e "$1"`, process.execPath, CHILD],
        { timeout: 150_000, env });
    assert.equal(r.signal, null, r.stderr);
    assert.equal(r.status, 0, r.stderr);
    check(this, parse(r), () => 'EMFILE');
  });

  it(`ENFILE in a child without CAP_SYS_ADMIN, fs.file-max ${LIMIT} above what is open`, async function () {
    const env = { ...process.env, DMABUF_EXHAUST: 'ENFILE' };
    let r;
    if (isMock()) {
      r = await runChild(process.execPath, ['-e', CHILD], { timeout: 150_000, env });
    } else {
      if (!inVm) {
        this.test!.title += ' (skipped: lowers fs.file-max for the whole machine: the VM only)';
        this.skip();
      }
      const saved = fs.readFileSync(FILE_MAX, 'utf8').trim();
      try {
        r = await runChild('/bin/sh', ['-c', `ulimit -n ${ENFILE_NOFILE} && exec setpriv --bounding-set=-sys_admin ` +
          '--inh-caps=-sys_admin "$0" -e "$1"', process.execPath, CHILD], { timeout: 150_000, env });
      } finally {
        fs.writeFileSync(FILE_MAX, saved);
      }
      assert.equal(fs.readFileSync(FILE_MAX, 'utf8').trim(), saved, 'file-max is back');
    }
    assert.equal(r.signal, null, r.stderr);
    assert.equal(r.status, 0, r.stderr);
    check(this, parse(r), (name) => (DUP_PATHS.has(name) ? 'EMFILE' : SYNC_FILE_PATHS.has(name) ? 'ENOMEM'
      : EINVAL_PATHS.has(name) ? 'EINVAL' : 'ENFILE'));
  });
});
