/**
 * CPU access bracketing: every CPU access the library makes, or hands out, to memory a device shares
 * (DmaBuf.access/accessAsync, Frame.access, the exporter's copy when it moves a buffer) happens
 * between DMA_BUF_IOCTL_SYNC START and END of the same mode, on every buffer touched, also when the
 * callback throws. On arm64 this is what keeps the CPU's caches and the device's view coherent (the
 * kernel does the cache maintenance in those two ioctls), so the test runs there too
 * (npm run test:vm -- --arch arm64).
 *
 * Two independent counts in a child process: a backend proxy records each sync call (fd, flags) and
 * each CPU touch in the order they happen, and strace counts the DMA_BUF_IOCTL_SYNC system calls
 * that reached the kernel between markers. They must agree, operation by operation.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runChild } from './support/child';
import { inVm, isNative, needsDriver, needsHeap, needsUdmabuf } from './support/index';

// DMA_BUF_IOCTL_SYNC = _IOW('b', 0, struct dma_buf_sync): strace names it, or prints the number
const SYNC_IOCTL = /\bioctl\(\d+, (DMA_BUF_IOCTL_SYNC|0x40086200)\b/;
const START = 0, END = 4, RW = 3;

/** The child: each operation between markers, its sync calls and CPU touches recorded in order. */
function childScript(index: string): string {
  return `
    const d = require(${JSON.stringify(index)});
    const fs = require('fs');
    const ev = [];
    const real = d.getBackend();
    const rec = (t, v) => (fd, flags) => { ev.push({ k: 'sync', fd, flags }); return v.call(t, fd, flags); };
    const bind = (t, p) => { const v = Reflect.get(t, p, t); return typeof v === 'function' ? v.bind(t) : v; };
    const recSyncer = (t) => (flags) => { const sync = t.dmabufSyncer(flags); return (fd) => { ev.push({ k: 'sync', fd, flags }); return sync(fd); }; };
    const unchecked = new Proxy(real.unchecked, { get: (t, p) => p === 'dmabufSync' ? rec(t, t.dmabufSync)
      : p === 'dmabufSyncer' ? recSyncer(t) : bind(t, p) });
    d.setBackend(new Proxy(real, { get: (t, p) => p === 'unchecked' ? unchecked
      : p === 'dmabufSync' || p === 'dmabufSyncAsync' ? rec(t, t[p]) : bind(t, p) }));
    const touch = (bytes) => { ev.push({ k: 'cpu' }); return bytes; };
    const ops = [];
    async function op(name, fn) {
      fs.writeSync(1, 'SYNCMARK-' + name + '-B\\n');
      const from = ev.length;
      await fn();
      ops.push({ name, events: ev.slice(from) });
      fs.writeSync(1, 'SYNCMARK-' + name + '-E\\n');
    }
    (async () => {
      const SIZE = 64 * 1024;
      const u = d.udmabuf.create(SIZE);
      const h = d.heaps.open('system').allocate(SIZE);
      const dev = d.drm.open({ driver: 'vgem' });
      const vkms = d.drm.open({ driver: 'vkms' });
      await op('udmabuf-write', () => u.access('write', (b) => touch(b).fill(7)));
      await op('udmabuf-read', () => u.access('read', (b) => { if (touch(b)[100] !== 7) throw new Error('read back'); }));
      await op('udmabuf-throws', () => { try { u.access('readwrite', (b) => { touch(b); throw new Error('boom'); }); } catch {} });
      await op('heap-async', () => h.accessAsync('readwrite', async (b) => {
        touch(b)[0] = 1; await new Promise((r) => setTimeout(r, 5)); touch(b)[1] = 2; }));
      await op('heap-begin-end', () => { h.beginAccess('write'); h.map('readwrite'); ev.push({ k: 'cpu' }); h.endAccess('write'); });
      const planar = d.Frame.allocate({ width: 64, height: 48, format: 'NV12' }, { provider: 'udmabuf', buffers: 'per-plane' });
      await op('frame-per-plane', () => planar.access('write', (p) => { touch(p[0]).fill(16); touch(p[1]).fill(128); }));
      const dumb = d.Frame.allocate({ width: 64, height: 64, format: 'XRGB8888' }, { provider: dev });
      await op('frame-vgem-dumb', () => dumb.access('readwrite', (p) => { touch(p[0])[0] ^= 1; }));
      const exp = new d.Exporter({ size: 256 * 1024, providers: ['heap:system', 'drm:' + vkms.path] });
      const cpu = exp.attach('cpu');
      cpu.map().mapping.bytes.fill(5);
      cpu.unmap();
      await op('exporter-move', () => { exp.attach(vkms, { layout: { width: 256, height: 256, bpp: 32 } }); });
      if (exp.stats().moves !== 1) throw new Error('the exporter did not move its buffer');
      exp.close(); planar.close(); dumb.close(); u.close(); h.close(); dev.close(); vkms.close();
      fs.writeSync(1, JSON.stringify({ arch: process.arch, ops }) + '\\n');
    })().catch((e) => { console.error(e); process.exit(1); });`;
}

interface Ev { k: 'sync' | 'cpu'; fd?: number; flags?: number }

/**
 * Checks one operation's events: every START is ended by an END of the same fd and mode, nothing is
 * left open, and every CPU touch happens while at least `depth` buffers are begun. Returns the number
 * of sync calls.
 */
function checkBracketing(name: string, events: Ev[], depth: number): number {
  const open: { fd: number; mode: number }[] = [];
  let syncs = 0, touches = 0;
  for (const e of events) {
    if (e.k === 'cpu') {
      touches++;
      assert.ok(open.length >= depth, `${name}: a CPU access with ${open.length} of ${depth} buffers begun (SYNC_START missing)`);
      continue;
    }
    syncs++;
    const mode = e.flags! & RW;
    assert.ok(mode !== 0, `${name}: a sync without READ or WRITE (flags ${e.flags})`);
    if ((e.flags! & END) === START) {
      open.push({ fd: e.fd!, mode });
    } else {
      const i = open.findIndex((o) => o.fd === e.fd && o.mode === mode);
      assert.ok(i >= 0, `${name}: SYNC_END on fd ${e.fd} (mode ${mode}) without its SYNC_START`);
      open.splice(i, 1);
    }
  }
  assert.ok(touches > 0, `${name}: the operation touched no memory (the test is broken)`);
  assert.deepEqual(open, [], `${name}: SYNC_START left without SYNC_END`);
  return syncs;
}

describe('CPU access is bracketed with DMA_BUF_IOCTL_SYNC START/END (strace, VM)', function () {
  it('every CPU access of the library is between SYNC_START and SYNC_END, and each reached the kernel', async function () {
    if (!isNative()) {
      this.test && (this.test.title += ' (skipped: strace counts real system calls; native backend only)');
      this.skip();
    }
    const which = await runChild('strace', ['-V']).catch(() => ({ status: -1 }));
    if (which.status !== 0) {
      if (inVm) assert.fail('strace is missing in the VM');
      this.test && (this.test.title += ' (skipped: no strace on this machine)');
      this.skip();
    }
    needsUdmabuf(this);
    needsHeap(this, 'system');
    needsDriver(this, 'vgem');
    needsDriver(this, 'vkms');
    const out = path.join(os.tmpdir(), `cpu-sync-strace-${process.pid}.txt`);
    const index = path.resolve(__dirname, '../src/index.js');
    const r = await runChild('strace', ['-f', '-o', out, '-e', 'trace=ioctl,write', process.execPath, '-e', childScript(index)],
      { env: { ...process.env, DMABUF_BACKEND: 'native' }, timeout: 300_000 });
    const trace = fs.existsSync(out) ? fs.readFileSync(out, 'utf8').split('\n') : [];
    fs.rmSync(out, { force: true });
    assert.equal(r.status, 0, r.stderr);
    const result = JSON.parse(r.stdout.trim().split('\n').pop()!) as { arch: string; ops: { name: string; events: Ev[] }[] };
    if (process.env.DMABUF_VM_ARCH === 'arm64') assert.equal(result.arch, 'arm64', 'the arm64 VM runs an arm64 node');
    // buffers each operation must have begun while the CPU touches them, and the sync calls it makes
    const want: Record<string, { depth: number; syncs: number }> = {
      'udmabuf-write': { depth: 1, syncs: 2 },
      'udmabuf-read': { depth: 1, syncs: 2 },
      'udmabuf-throws': { depth: 1, syncs: 2 },
      'heap-async': { depth: 1, syncs: 2 },
      'heap-begin-end': { depth: 1, syncs: 2 },
      'frame-per-plane': { depth: 2, syncs: 4 },
      'frame-vgem-dumb': { depth: 1, syncs: 2 },
      'exporter-move': { depth: 2, syncs: 4 },
    };
    assert.deepEqual(result.ops.map((o) => o.name), Object.keys(want));
    const seen: string[] = [];
    for (const o of result.ops) {
      // the exporter's copy runs inside the library: its touches are not visible, its syncs are
      const events = o.name === 'exporter-move' ? [...o.events, { k: 'cpu' as const }] : o.events;
      const syncs = checkBracketing(o.name, o.name === 'exporter-move' ? reorderCopy(events) : events, want[o.name]!.depth);
      assert.equal(syncs, want[o.name]!.syncs, `${o.name}: sync calls`);
      const from = trace.findIndex((l) => l.includes(`"SYNCMARK-${o.name}-B\\n"`));
      const to = trace.findIndex((l) => l.includes(`"SYNCMARK-${o.name}-E\\n"`));
      assert.ok(from >= 0 && to > from, `${o.name}: markers in the strace output`);
      const inKernel = trace.slice(from, to).filter((l) => SYNC_IOCTL.test(l) && !/ = -1 /.test(l)).length;
      assert.equal(inKernel, syncs, `${o.name}: DMA_BUF_IOCTL_SYNC calls that succeeded in the kernel (strace)`);
      seen.push(`${o.name} ${syncs}`);
    }
    console.log(`      ${result.arch}: ${seen.join(', ')}`);
  });
});

/**
 * The exporter's move copies with src.access('read', ... dst.access('write', copy)): START(src),
 * START(dst), END(dst), END(src). The CPU touch (appended by the caller) belongs after the two
 * STARTs: put it there, after checking that the four calls come in that order.
 */
function reorderCopy(events: Ev[]): Ev[] {
  const s = events.filter((e) => e.k === 'sync');
  assert.equal(s.length, 4, `exporter-move: 4 sync calls, not ${s.length}`);
  const [a, b, c, e] = s as [Ev, Ev, Ev, Ev];
  assert.ok((a.flags! & END) === START && (b.flags! & END) === START && (c.flags! & END) === END && (e.flags! & END) === END,
    'exporter-move: START, START, END, END');
  assert.ok(c.fd === b.fd && e.fd === a.fd && a.fd !== b.fd, 'exporter-move: the inner access ends first, on two buffers');
  assert.equal(a.flags! & RW, 1, 'exporter-move: the source is begun for reading');
  assert.equal(b.flags! & RW, 2, 'exporter-move: the destination is begun for writing');
  return [a, b, { k: 'cpu' }, c, e];
}
