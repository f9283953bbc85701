/**
 * Lifecycle: use after close for every class, finalizers, worker threads (exit with open
 * buffers, an fd passed between workers), process exit with open mappings, fd reuse, vgem fences and
 * the async API, permissions (uid 65534 in the VM), and a small fd-leak soak over every provider.
 *
 * The long measurement (100,000 cycles, fd count and RSS) is test/tools/soak.ts, run by hand.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import {
  DmaBuf, Device, Mapping, SyncFile, drm, heaps, udmabuf, getBackend, constants as C,
} from '../src/index';
import type { DrmDeviceInfo } from '../src/index';
import {
  backend, drmDevices, inVm, isMock, isNative, needsUdmabuf, PAGE, throwsCode, throwsErrno,
} from './support/index';
import { cycle, providers, type SoakProvider } from './tools/providers';

const INDEX_JS = path.resolve(__dirname, '..', 'src', 'index.js');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Any dma-buf this machine can make (system heap, else udmabuf); skips when there is none. */
function anyBuffer(ctx: Mocha.Context, size = PAGE()): DmaBuf {
  if (heaps.list().some((h) => h.name === 'system')) {
    using h = heaps.open('system');
    return h.allocate(size);
  }
  needsUdmabuf(ctx);
  return udmabuf.create(size);
}

function vgem(ctx: Mocha.Context): DrmDeviceInfo {
  const d = drmDevices().find((x) => x.driver === 'vgem' && x.kind === 'card');
  if (!d) {
    if (inVm) throw new Error('no vgem card in the VM');
    ctx.skip();
  }
  return d;
}

/** fd numbers → what they point to (native), for leak checks by name. */
function fdLinks(): string[] {
  const out: string[] = [];
  for (const n of fs.readdirSync('/proc/self/fd')) {
    try {
      out.push(fs.readlinkSync(`/proc/self/fd/${n}`));
    } catch { /* the readdir's own fd */ }
  }
  return out;
}

function fdCount(): number {
  if (isMock()) return (backend() as unknown as { openFds(): number[] }).openFds().length;
  return fs.readdirSync('/proc/self/fd').length;
}

function node(args: string[], env: NodeJS.ProcessEnv = {}, cmd: string[] = []): Promise<{ code: number | null; signal: string | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const argv = [...cmd, process.execPath, ...args];
    const child = spawn(argv[0]!, argv.slice(1), { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, out, err }));
  });
}

function runWorker(source: string, workerData: unknown = {}): { worker: Worker; done: Promise<unknown[]> } {
  const worker = new Worker(source, { eval: true, workerData, env: process.env });
  const messages: unknown[] = [];
  const done = new Promise<unknown[]>((resolve, reject) => {
    worker.on('message', (m) => messages.push(m));
    worker.on('error', reject);
    worker.on('exit', (code) => (code === 0 ? resolve(messages) : reject(new Error(`worker exited with ${code}`))));
  });
  return { worker, done };
}

describe('lifecycle: use after close, for every class', function () {
  it('Mapping: unmap detaches views, is idempotent; later use is a coded error', function () {
    using b = anyBuffer(this);
    const m = b.map();
    const view = m.bytes;
    const ab = m.buffer;
    view[0] = 1;
    m.unmap();
    assert.equal(view.length, 0, 'the view detached');
    assert.equal(ab.byteLength, 0, 'the ArrayBuffer detached');
    assert.equal(m.mapped, false);
    m.unmap();
    m[Symbol.dispose]();
    throwsCode(() => m.bytes, 'ERR_INVALID_STATE');
    throwsCode(() => m.buffer, 'ERR_INVALID_STATE');
    throwsCode(() => m.read(), 'ERR_INVALID_STATE');
    // the buffer itself is still usable
    using again = b.map();
    assert.equal(again.bytes[0], 1);
  });

  it('DmaBuf: views of a closed buffer detach; dup and release of a closed buffer are coded errors', function () {
    const b = anyBuffer(this);
    const d = b.dup();
    const views = [b.map().bytes, b.map('write').bytes, d.map().bytes];
    b.close();
    // The mock shares one ArrayBuffer among a buffer's mappings (see src/backend/mock/index.ts, Limits): there, views
    // detach when the last mapping goes. On the kernel every mapping has its own.
    if (isNative()) assert.deepEqual(views.map((v) => v.length), [0, 0, PAGE()], 'only the closed buffer\'s views detach');
    b.close();
    for (const f of [() => b.dup(), () => b.release(), () => b.exportSyncFile('read'), () => b.isIdle(), () => b.beginAccess('read'),
      () => b.endAccess('read'), () => b.access('read', () => 0), () => b.exporter]) {
      throwsCode(f, 'ERR_DMABUF_CLOSED');
    }
    d.close();
    assert.deepEqual(views.map((v) => v.length), [0, 0, 0], 'every view detached once both are closed');
  });

  it('Heap: allocate after close is a coded error; close twice is harmless; its buffers live on', function () {
    if (!heaps.list().some((h) => h.name === 'system')) {
      if (inVm) assert.fail('no system heap in the VM');
      this.skip();
    }
    const h = heaps.open('system');
    const b = h.allocate(PAGE());
    h.close();
    h.close();
    h[Symbol.dispose]();
    assert.equal(h.closed, true);
    throwsCode(() => h.allocate(PAGE()), 'ERR_DMABUF_CLOSED');
    using m = b.map();
    m.bytes[0] = 7;
    assert.equal(m.bytes[0], 7);
    b.close();
  });

  it('Memfd: every method after close is a coded error; close twice is harmless', function () {
    const m = udmabuf.memfd(PAGE());
    m.write(new Uint8Array([9]), 0);
    m.close();
    m.close();
    m[Symbol.dispose]();
    for (const f of [() => m.fd, () => m.seals, () => m.addSeals(0), () => m.write(new Uint8Array(1)), () => m.read(0, 1)]) {
      throwsCode(f, 'ERR_DMABUF_CLOSED');
    }
  });

  it('SyncFile: every method after close is a coded error (wait rejects); close twice is harmless', async function () {
    using b = anyBuffer(this);
    let s: SyncFile;
    try {
      s = b.exportSyncFile('read');
    } catch (e) {
      if ((e as { code?: string }).code === 'ENOTTY') this.skip(); // kernel < 6.0
      throw e;
    }
    using other = b.exportSyncFile('write');
    s.close();
    s.close();
    s[Symbol.dispose]();
    for (const f of [() => s.fd, () => s.info(), () => s.signaled, () => s.merge(other), () => other.merge(s),
      () => b.importSyncFile(s, 'read')]) {
      throwsCode(f, 'ERR_DMABUF_CLOSED');
    }
    let p: Promise<boolean> | undefined;
    assert.doesNotThrow(() => { p = s.wait(); }, 'wait() reports by rejecting, like DmaBuf.idle()');
    await assert.rejects(p!, { code: 'ERR_DMABUF_CLOSED' });
    throwsCode(() => other.merge({} as SyncFile), 'ERR_INVALID_ARG_TYPE', TypeError);
  });

  it('Device, DumbBuffer, GemHandle: closed/destroyed/released objects throw coded errors; mappings detach', function () {
    vgem(this);
    const dev = drm.open({ driver: 'vgem' });
    const bo = dev.createDumb({ width: 64, height: 64, bpp: 32 });
    const m = bo.map();
    const view = m.bytes;
    const exported = bo.export();
    const gem = dev.import(exported);
    const bo2 = dev.createDumb({ width: 64, height: 64, bpp: 32 });
    bo2.destroy();
    bo2.destroy();
    throwsCode(() => bo2.map(), 'ERR_DMABUF_CLOSED');
    throwsCode(() => bo2.export(), 'ERR_DMABUF_CLOSED');
    gem.release();
    gem.release();
    assert.equal(gem.released, true);
    dev.close();
    dev.close();
    dev[Symbol.dispose]();
    assert.equal(view.length, 0, 'closing the device detached the dumb mapping\'s view');
    assert.equal(m.mapped, false);
    assert.equal(bo.destroyed, true);
    for (const f of [() => dev.fd, () => dev.getCap(C.DRM_CAP_PRIME), () => dev.info(), () => dev.createDumb({ width: 1, height: 1, bpp: 32 }),
      () => dev.import(exported), () => bo.map(), () => bo.export()]) {
      throwsCode(f, 'ERR_DMABUF_CLOSED');
    }
    bo.destroy();
    // the exported dma-buf outlives the device
    using em = exported.map();
    em.bytes[0] = 3;
    assert.equal(em.bytes[0], 3);
    exported.close();
  });
});

describe('lifecycle: fd reuse (an fd closed behind the library\'s back)', function () {
  // DmaBuf: test/12-dmabuf.test.ts (inode check). Here: the other owners of fds.
  it('Memfd and SyncFile: a number closed and reused by another file is never used or closed by the old owner', function () {
    const m = udmabuf.memfd(PAGE());
    backend().close(m.fd);
    using other = udmabuf.memfd(2 * PAGE()); // takes the lowest free number: most likely the same
    throwsCode(() => m.seals, 'ERR_DMABUF_STALE_FD');
    m.close(); // must not close `other`
    assert.equal(backend().fstat(other.fd).size, 2 * PAGE());

    using b = anyBuffer(this);
    let s: SyncFile;
    try {
      s = b.exportSyncFile('read');
    } catch (e) {
      if ((e as { code?: string }).code === 'ENOTTY') this.skip();
      throw e;
    }
    backend().close(s.fd);
    using other2 = udmabuf.memfd(3 * PAGE());
    throwsCode(() => s.info(), 'ERR_DMABUF_STALE_FD');
    s.close();
    assert.equal(backend().fstat(other2.fd).size, 3 * PAGE());
  });

  it('Device: a number closed and reused by another file is never closed by the old owner', function () {
    // Every use checks the number's identity first, as for every other owned fd: no ioctl reaches the
    // other file, and the device counts as closed from then on.
    vgem(this);
    const dev = drm.open({ driver: 'vgem' });
    backend().close(dev.fd);
    using other = udmabuf.memfd(2 * PAGE());
    throwsCode(() => dev.getCap(C.DRM_CAP_PRIME), 'ERR_DMABUF_STALE_FD');
    assert.equal(dev.closed, true);
    dev.close();
    assert.equal(backend().fstat(other.fd).size, 2 * PAGE());
  });
});

describe('lifecycle: finalizers, workers, exit (child processes and worker threads)', function () {
  this.timeout(120000);

  it('a dropped DmaBuf whose number was reused by another file: the finalizer leaves that file alone', async function () {
    if (!udmabuf.available() && !heaps.list().some((h) => h.name === 'system')) {
      if (inVm) assert.fail('the VM has no udmabuf or system heap');
      this.test!.title += ` (skipped: no udmabuf or system heap on the ${backend().name} backend)`;
      this.skip();
    }
    const script = `
      const lib = require(${JSON.stringify(INDEX_JS)});
      const b = lib.getBackend();
      let other, num;
      (function () {
        let buf;
        try { const h = lib.heaps.open('system'); buf = h.allocate(4096); h.close(); } catch {}
        if (!buf) buf = lib.udmabuf.create(4096);
        num = buf.fd;
        b.close(num);                                   // behind the library's back
        other = lib.udmabuf.memfd(8192);                // likely takes the same number on Linux
      })();
      const warnings = [];
      process.on('warning', (w) => warnings.push(w.code));
      (async () => {
        for (let i = 0; i < 10 && warnings.length === 0; i++) { global.gc(); await new Promise((r) => setTimeout(r, 50)); }
        console.log(JSON.stringify({ reused: other.fd === num, size: b.fstat(other.fd).size, warnings }));
      })();
    `;
    const r = await node(['--expose-gc', '-e', script]);
    assert.equal(r.signal, null, r.err);
    assert.equal(r.code, 0, r.err);
    const res = JSON.parse(r.out.trim().split('\n').pop()!) as { reused: boolean; size: number; warnings: string[] };
    assert.equal(res.size, 8192, 'the other file is still open');
    assert.deepEqual(res.warnings, ['DMABUF_UNCLOSED'], 'the finalizer ran');
  });

  it('objects dropped without close() are closed by finalizers, with a DMABUF_UNCLOSED warning', async function () {
    const script = `
      const lib = require(${JSON.stringify(INDEX_JS)});
      const fs = require('fs');
      const b = lib.getBackend();
      // still open = the number still refers to what it did (readdir's own fd may take a freed number)
      const link = (fd) => { try { return fs.readlinkSync('/proc/self/fd/' + fd); } catch { return null; } };
      const links = new Map();
      const isOpen = (fd) => b.name === 'mock' ? b.openFds().includes(fd) : link(fd) !== null && link(fd) === links.get(fd);
      const warnings = [];
      process.on('warning', (w) => warnings.push(w.code));
      const made = [];
      (function () {
        made.push(lib.udmabuf.memfd(4096).fd);
        let buf;
        try { buf = lib.heaps.open('system'); } catch { buf = undefined; }
        if (buf) { const d = buf.allocate(4096); d.map().bytes[0] = 1; made.push(d.fd); buf.close(); }
        else { try { const d = lib.udmabuf.create(4096); d.map().bytes[0] = 1; made.push(d.fd); } catch {} }
      })();
      for (const fd of made) links.set(fd, link(fd));
      const before = made.filter(isOpen).length;
      (async () => {
        for (let i = 0; i < 10 && warnings.length < made.length; i++) { global.gc(); await new Promise((r) => setTimeout(r, 50)); }
        const after = made.filter(isOpen).length;
        console.log(JSON.stringify({ made: made.length, before, after, warnings }));
      })();
    `;
    const r = await node(['--expose-gc', '-e', script]);
    assert.equal(r.signal, null, r.err);
    assert.equal(r.code, 0, r.err);
    const res = JSON.parse(r.out.trim().split('\n').pop()!) as { made: number; before: number; after: number; warnings: string[] };
    if (inVm) assert.equal(res.made, 2, 'a memfd and a dma-buf were dropped');
    assert.equal(res.before, res.made, 'open before gc');
    assert.equal(res.after, 0, 'closed by the finalizer');
    assert.deepEqual(res.warnings, Array(res.made).fill('DMABUF_UNCLOSED'));
  });

  it('process exit with open buffers, mappings, views and a pending async wait is clean (exit 0, no signal)', async function () {
    const script = `
      const lib = require(${JSON.stringify(INDEX_JS)});
      const keep = [];
      for (let i = 0; i < 8; i++) {
        const m = lib.udmabuf.memfd(65536); keep.push(m);
        let buf;
        try { const h = lib.heaps.open('system'); buf = h.allocate(65536); keep.push(h); } catch {}
        if (!buf) { try { buf = lib.udmabuf.create(65536); } catch {} }
        if (buf) {
          const map = buf.map(); map.bytes.fill(i); keep.push(buf, map, map.bytes);
          buf.beginAccess('write');
          buf.idle('read', { timeout: 60000 }).then(() => {});
        }
      }
      setTimeout(() => process.exit(Number(process.env.EXIT_CODE)), 20);
    `;
    for (const code of ['0', '3']) {
      const r = await node(['-e', script], { EXIT_CODE: code });
      assert.equal(r.signal, null, r.err);
      assert.equal(String(r.code), code, r.err);
    }
    // and a natural exit (the event loop empties) with everything still open
    const r = await node(['-e', script.replace(/setTimeout\(.*\n/, '')]);
    assert.equal(r.signal, null, r.err);
    assert.equal(r.code, 0, r.err);
  });

  it('a worker that exits (or is terminated) with buffers and mappings open releases them', async function () {
    if (!isNative()) this.skip(); // the mock lives in the worker's heap: nothing outlives it
    const before = fdLinks().length;
    const src = `
      const { parentPort, workerData } = require('node:worker_threads');
      const lib = require(workerData.index);
      const keep = [];
      for (let i = 0; i < 4; i++) {
        const m = lib.udmabuf.memfd(65536, { name: 'dmabuf-lifecycle-worker' });
        keep.push(m);
        let buf;
        try { const h = lib.heaps.open('system'); buf = h.allocate(65536); keep.push(h); } catch {}
        if (!buf) { try { buf = lib.udmabuf.create(65536, { name: 'dmabuf-lifecycle-worker' }); } catch {} }
        if (buf) { const map = buf.map(); map.bytes.fill(i); keep.push(buf, map, map.bytes); buf.beginAccess('read'); }
      }
      parentPort.postMessage(keep.length);
      if (workerData.spin) for (;;) {}
    `;
    const a = runWorker(src, { index: INDEX_JS });
    assert.ok(((await a.done)[0] as number) >= 4);
    const b = runWorker(src, { index: INDEX_JS, spin: true });
    await new Promise<void>((r) => b.worker.once('message', () => r()));
    await b.worker.terminate();
    await sleep(100);
    assert.ok(!fdLinks().some((l) => l.includes('dmabuf-lifecycle-worker')), 'no memfd of the workers is left open');
    assert.ok(!fs.readFileSync('/proc/self/maps', 'utf8').includes('dmabuf-lifecycle-worker'), 'no mapping is left');
    assert.ok(fdLinks().length <= before, `fd count did not grow (${before} → ${fdLinks().length})`);
  });

  it('loads in 4 workers at once, each allocating through the public API', async function () {
    const src = `
      const { parentPort, workerData } = require('node:worker_threads');
      const lib = require(workerData.index);
      const m = lib.udmabuf.memfd(4096);
      m.write(new Uint8Array([workerData.i]), 0);
      let exporter = null;
      try { const h = lib.heaps.open('system'); const b = h.allocate(4096); exporter = b.exporter; b.close(); h.close(); } catch {}
      parentPort.postMessage({ back: m.read(0, 1)[0], exporter, backend: lib.getBackend().name });
      m.close();
    `;
    const results = await Promise.all([1, 2, 3, 4].map((i) => runWorker(src, { index: INDEX_JS, i }).done));
    results.forEach((msgs, i) => {
      const r = msgs[0] as { back: number; exporter: string | null; backend: string };
      assert.equal(r.back, i + 1);
      assert.equal(r.backend, getBackend().name);
      if (inVm) assert.equal(r.exporter, 'system');
    });
  });

  it('a dma-buf fd made in worker A is imported in worker B (fd number passed, fromFd dups it)', async function () {
    if (!isNative()) this.skip(); // each worker has its own mock: fd numbers mean nothing across them
    const probeBuf = (() => { try { return anyBuffer(this); } catch (e) { throw e; } })();
    probeBuf.close();
    const A = runWorker(`
      const { parentPort, workerData } = require('node:worker_threads');
      const lib = require(workerData.index);
      let buf;
      try { const h = lib.heaps.open('system'); buf = h.allocate(65536); h.close(); } catch { buf = lib.udmabuf.create(65536); }
      buf.access('write', (bytes) => { for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7) & 255; });
      parentPort.postMessage({ fd: buf.fd, inode: String(buf.inode) });
      parentPort.once('message', () => { buf.close(); parentPort.close(); });
    `, { index: INDEX_JS });
    const [made] = await new Promise<unknown[]>((r) => A.worker.once('message', (m) => r([m]))) as [{ fd: number; inode: string }];
    const B = runWorker(`
      const { parentPort, workerData } = require('node:worker_threads');
      const lib = require(workerData.index);
      const buf = lib.DmaBuf.fromFd(workerData.fd);
      const ok = buf.access('read', (bytes) => bytes.every((v, i) => v === ((i * 7) & 255)));
      parentPort.postMessage({ ok, inode: String(buf.inode), own: buf.fd !== workerData.fd, size: buf.size });
      buf.close();
    `, { index: INDEX_JS, fd: made.fd });
    const [got] = await B.done as [{ ok: boolean; inode: string; own: boolean; size: number }];
    A.worker.postMessage('close');
    await A.done;
    assert.deepEqual(got, { ok: true, inode: made.inode, own: true, size: 65536 });
  });
});

describe('lifecycle: vgem fences and the async API', function () {
  it('SYNC_START behind a pending vgem fence: accessAsync/idle do not block the event loop', async function () {
    vgem(this);
    using dev = drm.open({ driver: 'vgem' });
    using bo = dev.createDumb({ width: 64, height: 64, bpp: 32 });
    using buf = bo.export();
    const fence = backend().vgemFenceAttach(dev.fd, bo.handle, C.VGEM_FENCE_WRITE);
    assert.equal(buf.isIdle('read'), false);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    let accessed = false;
    const viaApi = buf.accessAsync('read', (bytes) => { accessed = true; return bytes.length; });
    const idle = buf.idle('write');
    await sleep(300);
    assert.equal(accessed, false, 'the access waits for the fence');
    assert.ok(ticks >= 5, `the event loop kept running (${ticks} ticks)`);
    await assert.rejects(buf.beginAccessAsync('write', { timeout: 50 }), { code: 'ERR_DMABUF_TIMEOUT' });
    backend().vgemFenceSignal(dev.fd, fence);
    assert.equal(await viaApi, 64 * 64 * 4);
    assert.equal(await idle, true);
    clearInterval(timer);
    assert.equal(buf.openAccesses.size, 0);
  });
});

describe('lifecycle: permissions (uid 65534 in the VM)', function () {
  it('an unprivileged user gets EACCES with the path and a hint; probe() says why', async function () {
    if (!inVm || !isNative() || process.getuid?.() !== 0) this.skip();
    const script = `
      const lib = require(${JSON.stringify(INDEX_JS)});
      const out = { uid: process.getuid() };
      const grab = (f) => { try { f(); return { ok: true }; } catch (e) { return { code: e.code, errno: e.errno, syscall: e.syscall, path: e.path, hint: e.hint, message: e.message }; } };
      out.udmabuf = grab(() => lib.udmabuf.create(4096));
      out.heap = grab(() => lib.heaps.open('system'));
      out.drm = grab(() => lib.drm.open('/dev/dri/card0'));
      out.drmQuery = grab(() => lib.drm.open({ driver: 'vgem' }));
      const p = lib.probe();
      out.probe = { udmabuf: p.udmabuf, heaps: { available: p.heaps.available, reason: p.heaps.reason, hint: p.heaps.hint }, drm: { available: p.drm.available, reason: p.drm.reason, hint: p.drm.hint } };
      console.log(JSON.stringify(out));
    `;
    const r = await node(['-e', script], {}, ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups']);
    assert.equal(r.code, 0, r.err);
    const o = JSON.parse(r.out.trim().split('\n').pop()!);
    console.log(`      as uid ${o.uid}: ${JSON.stringify(o)}`);
    assert.equal(o.uid, 65534);
    for (const [k, p] of [['udmabuf', '/dev/udmabuf'], ['heap', '/dev/dma_heap/system'], ['drm', '/dev/dri/card0']] as const) {
      assert.equal(o[k].code, 'EACCES', `${k}: ${JSON.stringify(o[k])}`);
      assert.equal(o[k].errno, 13);
      assert.equal(o[k].syscall, 'open');
      assert.equal(o[k].path, p);
      assert.equal(typeof o[k].hint, 'string');
      assert.ok(o[k].hint.length > 10, `${k} has a hint`);
    }
    assert.equal(o.drmQuery.code, 'ERR_DMABUF_NO_DEVICE', 'no node it may open: ERR_DMABUF_NO_DEVICE with a hint');
    assert.match(o.drmQuery.message, /permission denied on \/dev\/dri\/card/);
    assert.equal(o.drmQuery.hint, o.drm.hint, 'the permission hint, as for opening the node itself');
    for (const k of ['udmabuf', 'heaps', 'drm']) {
      assert.equal(o.probe[k].available, false, `probe ${k}`);
      assert.ok(o.probe[k].reason, `probe ${k} has a reason`);
      assert.ok(o.probe[k].hint, `probe ${k} has a hint`);
    }
  });
});

describe('lifecycle: no fd growth over allocate/map/sync/close cycles (every provider)', function () {
  const cycles = Number(process.env.DMABUF_SOAK_CYCLES ?? 500);
  for (const p of providers) {
    it(`${p.name}: ${cycles} cycles leave the fd count flat`, function () {
      const ok = p.available();
      if (ok !== true) {
        if (inVm && !p.optional) assert.fail(`${p.name} is missing in the VM: ${ok}`);
        this.skip();
      }
      const ctx: SoakProvider['ctx'] = {};
      try {
        for (let i = 0; i < 20; i++) cycle(p, ctx, i); // warm-up: lazily opened device fds
        const start = fdCount();
        for (let i = 0; i < cycles; i++) cycle(p, ctx, i);
        const end = fdCount();
        assert.equal(end, start, `fd count ${start} → ${end}`);
      } finally {
        p.done?.(ctx);
      }
    });
  }
});

// keep the imports used on every platform
void Device; void Mapping; void spawnSync;
