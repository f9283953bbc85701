/**
 * Exporter tests: deferred constraint-aware allocation, provider fallback, kept mappings and shared
 * handles (with syscall counts: a Proxy around the backend on both backends, strace in the VM),
 * budget eviction, moves for late attachers, and agreement with the kernel's bufinfo.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { drm, heaps, udmabuf, getBackend, setBackend, Exporter, Device, DmaBuf } from '../src/index';
import type { Backend, ConstraintsError, Refusal } from '../src/index';
import { createMockBackend } from '../src/backend/mock';
import { runChild } from './support/child';
import { needsBufinfo, readBufinfo } from './support/bufinfo';
import {
  drmDevices, inVm, isMock, isNative, MiB, needsDriver, needsHeap, needsUdmabuf, PAGE, throwsCode, throwsErrno,
} from './support/index';

/** Backend calls by method name, through a Proxy installed as the active backend. */
class Counter {
  readonly calls = new Map<string, number>();
  counting = true;
  /** Calls that are syscalls (isMapped, mapBuffer and mapRead only look at or copy memory). */
  total(names?: string[]): number {
    let n = 0;
    for (const [k, v] of this.calls) if (names ? names.includes(k) : !NOT_SYSCALLS.includes(k)) n += v;
    return n;
  }
  reset(): void {
    this.calls.clear();
  }
  /** b with every call counted, also those the library makes through b.unchecked (its hot paths). */
  wrap<T extends object>(b: T): T {
    return new Proxy(b, {
      get: (t, p) => {
        const v = Reflect.get(t, p, t) as unknown;
        if (p === 'unchecked' && typeof v === 'object' && v !== null) return this.wrap(v);
        if (typeof v !== 'function') return v;
        return (...args: unknown[]) => {
          if (this.counting) this.calls.set(String(p), (this.calls.get(String(p)) ?? 0) + 1);
          return (v as (...a: unknown[]) => unknown).apply(t, args);
        };
      },
    });
  }
}

const NOT_SYSCALLS = ['isMapped', 'mapBuffer', 'mapRead'];
/** The backend calls that make and drop importers' mappings and handles (what stats().syscalls counts). */
const MAPPING_CALLS = ['mmap', 'mmapChecked', 'munmap', 'drmPrimeFdToHandle', 'drmGemClose'];

const counter = new Counter();
let saved: Backend;

describe('Exporter (on a backend that counts the calls; the mock with vgem, virtio_gpu and vkms)', function () {
  before(function () {
    saved = getBackend();
    // The mock with every DRM driver the VM has (virtio_gpu refuses foreign buffers with ENODEV).
    const base = saved.name === 'mock' ? createMockBackend({ drm: ['vgem', 'virtio_gpu', 'vkms'] }) : saved;
    setBackend(counter.wrap(base));
  });
  // each test asks the devices afresh (what an earlier test's exporters learned is not its business;
  // learning itself: test/42)
  beforeEach(function () {
    Exporter.forget();
  });
  after(function () {
    setBackend(saved);
  });

  function card(ctx: Mocha.Context, driver: string): Device {
    needsDriver(ctx, driver);
    return drm.open({ driver });
  }

  function cardPath(driver: string): string | undefined {
    return drmDevices().find((d) => d.driver === driver && d.kind === 'card')?.path;
  }

  function needsCma(ctx: Mocha.Context): void {
    if (heaps.list().some((h) => h.contiguous)) return;
    if (inVm && process.env.DMABUF_VM_CMA !== '0') assert.fail('no CMA heap in the VM');
    ctx.test && (ctx.test.title += ` (skipped: no CMA heap on ${process.env.DMABUF_VM_KERNEL ?? getBackend().name})`);
    ctx.skip();
  }

  function fill(bytes: Uint8Array): void {
    for (let i = 0; i < bytes.length; i += 4096) bytes[i] = (i / 4096) & 0xff;
  }
  function check(bytes: Uint8Array, size: number): void {
    for (let i = 0; i < size; i += 4096) assert.equal(bytes[i], (i / 4096) & 0xff, `byte ${i}`);
  }

  describe('Exporter: arguments and lifecycle', function () {
    it('bad arguments throw TypeError/RangeError with ERR_* codes before any syscall', function () {
      counter.reset();
      const E = (o: unknown) => () => new Exporter(o as never);
      throwsCode(E(undefined), 'ERR_INVALID_ARG_TYPE', TypeError);
      throwsCode(E({ size: '1' }), 'ERR_INVALID_ARG_TYPE', TypeError);
      throwsCode(E({ size: 0 }), 'ERR_OUT_OF_RANGE', RangeError);
      throwsCode(E({ size: 1.5 }), 'ERR_OUT_OF_RANGE', RangeError);
      throwsCode(E({ size: 4096, providers: 'heap:system' }), 'ERR_INVALID_ARG_TYPE', TypeError);
      throwsCode(E({ size: 4096, providers: [] }), 'ERR_INVALID_ARG_VALUE', TypeError);
      throwsCode(E({ size: 4096, providers: ['heap:'] }), 'ERR_INVALID_ARG_VALUE', TypeError);
      throwsCode(E({ size: 4096, providers: ['gpu'] }), 'ERR_INVALID_ARG_VALUE', TypeError);
      throwsCode(E({ size: 4096, providers: [42] }), 'ERR_INVALID_ARG_TYPE', TypeError);
      throwsCode(E({ size: 4096, name: 'x'.repeat(32) }), 'ERR_OUT_OF_RANGE', RangeError);
      throwsCode(E({ size: 4096, budget: -1 }), 'ERR_OUT_OF_RANGE', RangeError);
      using exp = new Exporter({ size: 4096 });
      throwsCode(() => exp.attach(5 as never), 'ERR_INVALID_ARG_TYPE', TypeError);
      throwsCode(() => exp.attach('gpu' as never), 'ERR_INVALID_ARG_VALUE', TypeError);
      throwsCode(() => exp.attach('cpu', { contiguous: 'yes' } as never), 'ERR_INVALID_ARG_TYPE', TypeError);
      throwsCode(() => exp.attach('cpu', { maxSize: 0 }), 'ERR_OUT_OF_RANGE', RangeError);
      throwsCode(() => exp.attach('cpu', { layout: { width: 0, height: 1, bpp: 32 } }), 'ERR_OUT_OF_RANGE', RangeError);
      throwsCode(() => exp.attach('cpu', { contigous: true } as never), 'ERR_INVALID_ARG_VALUE', TypeError);
      throwsCode(() => exp.detach({} as never), 'ERR_INVALID_ARG_TYPE', TypeError);
      assert.equal(counter.total(), 0, 'no backend call for bad arguments');
    });

    it('attach allocates nothing; close is idempotent; use after close → ERR_DMABUF_CLOSED', function () {
      needsHeap(this, 'system');
      counter.reset();
      const exp = new Exporter({ size: MiB, providers: ['heap:system'] });
      const cpu = exp.attach('cpu');
      assert.equal(counter.total(), 0, 'attach makes no syscall');
      assert.equal(exp.backing, null);
      assert.equal(exp.stats().allocations, 0);
      const m = cpu.map().mapping;
      exp.close();
      exp.close();
      assert.equal(m.mapped, false, 'close unmaps kept mappings');
      assert.equal(cpu.detached, true);
      throwsCode(() => exp.attach('cpu'), 'ERR_DMABUF_CLOSED');
      throwsCode(() => cpu.map(), 'ERR_DMABUF_CLOSED');
      exp[Symbol.dispose]();
    });
  });

  describe('Exporter: deferred allocation and provider choice', function () {
    it('the first map allocates from the first provider; "allocate" says which and why', function () {
      needsHeap(this, 'system');
      using exp = new Exporter({ size: 3 * PAGE(), providers: ['heap:system', 'udmabuf'], name: 'exp-first' });
      const events: unknown[] = [];
      exp.on('allocate', (b) => events.push(b));
      const cpu = exp.attach('cpu');
      const { mapping, moved } = cpu.map();
      assert.equal(moved, false);
      assert.equal(events.length, 1);
      const b = exp.backing!;
      assert.equal(b.provider, 'heap:system');
      assert.ok(b.size >= 3 * PAGE());
      assert.equal(exp.stats().allocations, 1);
      assert.equal(exp.stats().provider, 'heap:system');
      assert.match(exp.stats().reason!, /first map/);
      mapping.bytes[0] = 7;
      assert.equal(mapping.bytes.length, b.size);
    });

    it('a provider that is missing or whose allocation fails is skipped, and why is recorded', function () {
      needsUdmabuf(this);
      using exp = new Exporter({ size: MiB, providers: ['heap:no-such-heap', 'udmabuf'] });
      exp.attach('cpu').map();
      const s = exp.stats();
      assert.equal(s.provider, 'udmabuf');
      assert.deepEqual(s.skipped.map((r) => [r.provider, r.constraint, r.code]), [['heap:no-such-heap', 'available', 'ENOENT']]);
    });

    it('udmabuf beyond size_limit_mb is skipped for the next provider', function () {
      needsUdmabuf(this);
      needsHeap(this, 'system');
      const limit = udmabuf.limits().sizeLimit;
      if (limit === undefined) this.skip();
      using exp = new Exporter({ size: limit + PAGE(), providers: ['udmabuf', 'heap:system'] });
      exp.attach('cpu');
      exp.attachments[0]!.map();
      assert.equal(exp.stats().provider, 'heap:system');
      assert.equal(exp.stats().skipped[0]!.constraint, 'size');
    });

    it('contiguous: only a CMA heap satisfies it, even after a non-contiguous provider', function () {
      needsHeap(this, 'system');
      needsCma(this);
      using exp = new Exporter({ size: MiB, providers: ['heap:system', 'udmabuf', 'heap:contiguous'] });
      exp.attach('cpu');
      const dma = exp.attach('cpu', { contiguous: true });
      dma.map();
      const b = exp.backing!;
      assert.equal(b.provider, 'heap:contiguous');
      assert.equal(b.contiguous, true);
      const skipped = b.skipped.filter((r) => r.constraint === 'contiguous');
      assert.ok(skipped.some((r) => r.provider === 'heap:system' && r.attachment === dma.id));
    });

    it('an exhausted CMA heap (ENOMEM) falls back; with contiguous required the error names ENOMEM', function () {
      needsHeap(this, 'system');
      needsCma(this);
      const hogs: DmaBuf[] = [];
      using cma = heaps.find({ contiguous: true })!;
      try {
        for (let i = 0; i < 256; i++) hogs.push(cma.allocate(4 * MiB));
      } catch (e) {
        assert.equal((e as { code?: string }).code, 'ENOMEM');
      }
      try {
        // contiguous not required: fall back to the system heap, recording the ENOMEM
        using a = new Exporter({ size: 8 * MiB, providers: ['heap:contiguous', 'heap:system'] });
        a.attach('cpu').map();
        assert.equal(a.stats().provider, 'heap:system');
        assert.deepEqual(a.stats().skipped.map((r) => [r.provider, r.constraint, r.code]), [['heap:contiguous', 'allocation', 'ENOMEM']]);
        // contiguous required: nothing can serve it
        using b = new Exporter({ size: 8 * MiB, providers: ['heap:contiguous', 'heap:system'] });
        const att = b.attach('cpu', { contiguous: true });
        const e = throwsCode(() => att.map(), 'ERR_DMABUF_CONSTRAINTS') as ConstraintsError;
        assert.deepEqual(e.conflicts.map((r) => [r.provider, r.constraint, r.code]), [
          ['heap:contiguous', 'allocation', 'ENOMEM'], ['heap:system', 'contiguous', undefined]]);
        assert.equal(b.backing, null);
      } finally {
        for (const h of hogs) h.close();
      }
    });

    it('a device that cannot import (virtio_gpu: ENODEV) makes the exporter try the next provider', function () {
      using gpu = card(this, 'virtio_gpu');
      needsHeap(this, 'system');
      using exp = new Exporter({ size: MiB, providers: ['heap:system', 'udmabuf', `drm:${gpu.path}`] });
      const att = exp.attach(gpu);
      const { handle } = att.map();
      assert.equal(exp.stats().provider, `drm:${gpu.path}`);
      const imports = exp.stats().skipped.filter((r) => r.constraint === 'import');
      assert.ok(imports.some((r) => r.provider === 'heap:system' && r.code === 'ENODEV' && r.device === gpu.path));
      assert.equal(handle.device, gpu);
      assert.deepEqual(exp.backing!.kernelAttachments, [], 'a self-import is no kernel attachment');
    });

    it('no provider satisfies → ERR_DMABUF_CONSTRAINTS naming each conflict', function () {
      using gpu = card(this, 'virtio_gpu');
      needsHeap(this, 'system');
      using exp = new Exporter({ size: MiB, providers: ['heap:system', 'udmabuf'] });
      const cpu = exp.attach('cpu', { maxSize: PAGE() });
      const g = exp.attach(gpu);
      const e = throwsCode(() => cpu.map(), 'ERR_DMABUF_CONSTRAINTS') as ConstraintsError;
      assert.equal(e.conflicts.length, 2);
      for (const c of e.conflicts) assert.equal(c.constraint, 'maxSize');
      exp.detach(cpu);
      const e2 = throwsCode(() => g.map(), 'ERR_DMABUF_CONSTRAINTS') as ConstraintsError;
      assert.ok(e2.conflicts.some((c: Refusal) => c.constraint === 'import' && c.code === 'ENODEV' && c.attachment === g.id));
      assert.deepEqual(gpu.handles, new Map(), 'failed attempts leave no handle behind');
    });

    it('a display layout needs a dumb buffer from a drm: provider that can hold the size', function () {
      using vkms = card(this, 'vkms');
      needsHeap(this, 'system');
      using exp = new Exporter({ size: 256 * 1024, providers: ['heap:system', `drm:${vkms.path}`] });
      const disp = exp.attach(vkms, { layout: { width: 256, height: 256, bpp: 32 } });
      disp.map();
      const b = exp.backing!;
      assert.equal(b.provider, `drm:${vkms.path}`);
      assert.deepEqual({ ...b.layout, pitch: 0 }, { width: 256, height: 256, bpp: 32, pitch: 0 });
      assert.equal(b.skipped[0]!.constraint, 'layout');
      using small = new Exporter({ size: MiB, providers: [`drm:${vkms.path}`] });
      const s = small.attach('cpu', { layout: { width: 64, height: 64, bpp: 32 } });
      const e = throwsCode(() => s.map(), 'ERR_DMABUF_CONSTRAINTS') as ConstraintsError;
      assert.equal(e.conflicts[0]!.constraint, 'layout');
    });
  });

  describe('Exporter: kept mappings and shared handles', function () {
    it('CPU: the same Mapping and ArrayBuffer again; 200 map/unmap cycles make no backend call', function () {
      needsHeap(this, 'system');
      using exp = new Exporter({ size: MiB, providers: ['heap:system'] });
      const a = exp.attach('cpu');
      const b = exp.attach('cpu');
      const first = a.map();
      const buffer = first.mapping.buffer;
      a.unmap(first);
      counter.reset();
      for (let i = 0; i < 200; i++) {
        const m = a.map();
        assert.equal(m.mapping, first.mapping);
        a.unmap(m);
      }
      assert.equal(b.map().mapping, first.mapping, 'CPU attachments share one mmap');
      assert.equal(b.map().mapping.buffer, buffer, 'the same ArrayBuffer');
      b.unmap();
      assert.equal(counter.total(), 0, `syscalls during the cycles: ${JSON.stringify([...counter.calls])}`);
      const s = exp.stats();
      assert.equal(s.misses, 1);
      assert.equal(s.hits, 201);
      assert.equal(s.syscalls, 1, 'one mmap');
      assert.equal(s.syscallsSaved, 201 * 2);
      assert.equal(s.bytesKept, exp.backing!.size);
    });

    it('CPU attachments mapped together: the mapping is in use until the last unmaps, and stays after a detach', function () {
      needsHeap(this, 'system');
      using exp = new Exporter({ size: MiB, providers: ['heap:system'], budget: 0 });
      const a = exp.attach('cpu');
      const b = exp.attach('cpu');
      const ma = a.map();
      assert.equal(b.map().mapping, ma.mapping);
      const size = exp.backing!.size;
      assert.equal(exp.stats().bytesMapped, size);
      a.unmap();
      assert.equal(exp.stats().bytesMapped, size, 'b still maps it');
      assert.equal(exp.stats().evictions, 0, 'budget 0 evicts only what nobody maps');
      assert.equal(a.map().mapping, ma.mapping, 'a hit while b maps it');
      b.detach();
      assert.equal(a.mapped, true);
      assert.equal(ma.mapping.mapped, true, "b's detach leaves a's mapping");
      a.unmap();
      assert.equal(exp.stats().evictions, 1, 'the last unmap makes it idle: budget 0 evicts it');
      assert.equal(ma.mapping.mapped, false);
      assert.equal(exp.stats().bytesMapped + exp.stats().bytesKept, 0);
      assert.notEqual(a.map().mapping, ma.mapping, 'a miss maps again');
      assert.equal(exp.stats().misses, 2);
      a.unmap();
    });

    it('DRM: attachments on one Device share one GemHandle; map/unmap cycles make no ioctl', function () {
      using vgem = card(this, 'vgem');
      using other = drm.open(vgem.path);
      needsHeap(this, 'system');
      using exp = new Exporter({ size: MiB, providers: ['heap:system'] });
      const a = exp.attach(vgem);
      const b = exp.attach(vgem);
      const c = exp.attach(other);
      const ha = a.map().handle;
      assert.equal(b.map().handle, ha, 'same GemHandle object');
      const hc = c.map().handle;
      assert.notEqual(hc, ha, 'another file has its own handle');
      assert.equal(vgem.handles.get(ha.handle), 1, 'one reference held in the device table');
      a.unmap(); b.unmap(); c.unmap();
      counter.reset();
      for (let i = 0; i < 100; i++) {
        const m = a.map();
        assert.equal(m.handle, ha);
        a.unmap(m);
      }
      assert.equal(counter.total(), 0, `backend calls: ${JSON.stringify([...counter.calls])}`);
      assert.equal(exp.stats().syscallsSaved, 103 * 2, 'the imports made at allocation served the first maps too');
      exp.detach(a);
      assert.equal(vgem.handles.get(ha.handle), 1, 'b still uses it');
      exp.detach(b);
      assert.equal(vgem.handles.has(ha.handle), false, 'GEM_CLOSE when the last attachment on the file goes');
    });

    it('stats().syscalls agrees with the backend calls actually made (mapping, eviction, detach)', function () {
      using vgem = card(this, 'vgem');
      needsHeap(this, 'system');
      using exp = new Exporter({ size: MiB, providers: ['heap:system'], budget: MiB });
      const cpu = exp.attach('cpu');
      const dev = exp.attach(vgem);
      cpu.map();
      const before = exp.stats().syscalls;
      counter.reset();
      cpu.unmap(); // budget: one idle entry; the handle imported at allocation (LRU) goes
      dev.map(); dev.unmap(); // miss (import), then the CPU mapping goes
      cpu.map(); cpu.unmap(); // miss (mmap), then the handle goes
      exp.detach(cpu);
      assert.equal(exp.stats().syscalls - before, counter.total(MAPPING_CALLS), JSON.stringify([...counter.calls]));
      assert.equal(exp.stats().evictions, 3);
    });

    it('budget: least recently used unused mappings are evicted ("evict")', function () {
      using vgem = card(this, 'vgem');
      needsHeap(this, 'system');
      using exp = new Exporter({ size: MiB, providers: ['heap:system'], budget: MiB });
      const evicted: { importer: string }[] = [];
      exp.on('evict', (e) => evicted.push(e));
      const cpu = exp.attach('cpu');
      const dev = exp.attach(vgem);
      const m1 = cpu.map().mapping;
      dev.map();
      cpu.unmap();
      dev.unmap();
      assert.deepEqual(evicted.map((e) => e.importer), ['cpu'], 'the older one goes');
      assert.equal(m1.mapped, false);
      assert.equal(exp.stats().bytesKept, exp.backing!.size);
      const m2 = cpu.map().mapping;
      assert.notEqual(m2, m1, 'a new mapping after eviction');
      using none = new Exporter({ size: MiB, providers: ['heap:system'], budget: 0 });
      const x = none.attach('cpu');
      x.map(); x.unmap(); x.map(); x.unmap();
      assert.equal(none.stats().evictions, 2);
      assert.equal(none.stats().hits, 0);
    });

    it('exp.attachments: importer, device, constraints, mapped and since when; detach emits', function () {
      using vgem = card(this, 'vgem');
      needsHeap(this, 'system');
      using exp = new Exporter({ size: MiB, providers: ['heap:system'] });
      const detached: number[] = [];
      exp.on('detach', (a) => detached.push(a.id));
      const cpu = exp.attach('cpu', { maxSize: 4 * MiB });
      const dev = exp.attach(vgem);
      dev.map();
      const [ca, da] = exp.attachments;
      assert.equal(ca, cpu);
      assert.equal(ca!.kind, 'cpu');
      assert.deepEqual(ca!.constraints, { maxSize: 4 * MiB });
      assert.equal(ca!.mapped, false);
      assert.equal(ca!.mappedSince, null);
      assert.equal(da!.kind, 'drm');
      assert.equal(da!.device!.path, vgem.path);
      assert.equal(da!.device!.driver, 'vgem');
      assert.equal(da!.mapped, true);
      assert.ok(da!.mappedSince instanceof Date && da!.attachedAt <= da!.mappedSince);
      assert.doesNotThrow(() => JSON.stringify(exp.attachments));
      exp.detach(dev); // mapped: unmapped first
      exp.detach(dev); // idempotent
      assert.deepEqual(detached, [dev.id]);
      assert.deepEqual(exp.attachments, [cpu]);
      throwsCode(() => dev.map(), 'ERR_DMABUF_CLOSED');
    });
  });

  describe('Exporter: late attach moves the buffer', function () {
    it('a late attacher the backing cannot serve: move, contents copied, moved: true once for each', function () {
      using vkms = card(this, 'vkms');
      needsHeap(this, 'system');
      const size = 256 * 1024;
      using exp = new Exporter({ size, providers: ['heap:system', `drm:${vkms.path}`] });
      const moves: { from: { provider: string }; to: { provider: string }; reason: string }[] = [];
      exp.on('move', (m) => moves.push(m));
      const cpu = exp.attach('cpu');
      const old = cpu.map().mapping;
      fill(old.bytes);
      const oldView = old.bytes;
      // busy while mapped
      throwsCode(() => exp.attach(vkms, { layout: { width: 256, height: 256, bpp: 32 } }), 'ERR_DMABUF_BUSY');
      assert.equal(exp.attachments.length, 1, 'refused attachment is not made');
      cpu.unmap();
      const disp = exp.attach(vkms, { layout: { width: 256, height: 256, bpp: 32 } });
      assert.equal(moves.length, 1);
      assert.equal(moves[0]!.from.provider, 'heap:system');
      assert.equal(moves[0]!.to.provider, `drm:${vkms.path}`);
      assert.match(moves[0]!.reason, /layout/);
      assert.equal(old.mapped, false, 'cached mappings are dropped');
      assert.equal(oldView.length, 0, 'old views are detached');
      const m = cpu.map();
      assert.equal(m.moved, true);
      assert.notEqual(m.mapping, old);
      check(m.mapping.bytes, size);
      cpu.unmap();
      assert.equal(cpu.map().moved, false, 'moved is reported once');
      assert.equal(disp.map().moved, false, 'the new attacher saw no move');
      assert.equal(exp.stats().moves, 1);
      assert.equal(exp.stats().allocations, 2);
    });

    it('a late DRM importer that cannot import the backing moves it to one it can', function () {
      using gpu = card(this, 'virtio_gpu');
      needsHeap(this, 'system');
      using exp = new Exporter({ size: MiB, providers: ['heap:system', `drm:${gpu.path}`] });
      const cpu = exp.attach('cpu');
      fill(cpu.map().mapping.bytes);
      cpu.unmap();
      const g = exp.attach(gpu);
      assert.equal(exp.backing!.provider, `drm:${gpu.path}`);
      assert.equal(g.map().moved, false);
      const m = cpu.map();
      assert.equal(m.moved, true);
      check(m.mapping.bytes, MiB);
    });

    it('a late attacher nobody can serve: ERR_DMABUF_CONSTRAINTS, old backing kept', function () {
      needsHeap(this, 'system');
      using exp = new Exporter({ size: MiB, providers: ['heap:system'] });
      const cpu = exp.attach('cpu');
      fill(cpu.map().mapping.bytes);
      cpu.unmap();
      const inode = exp.backing!.inode;
      throwsCode(() => exp.attach('cpu', { maxSize: PAGE() }), 'ERR_DMABUF_CONSTRAINTS');
      assert.equal(exp.backing!.inode, inode);
      const m = cpu.map();
      assert.equal(m.moved, false);
      check(m.mapping.bytes, MiB);
    });
  });

  describe('Exporter: attachments agree with the kernel (bufinfo)', function () {
    function agree(exp: Exporter, label: string): string[] {
      const b = exp.backing!;
      const kernel = (readBufinfo().get(b.inode)?.attached ?? []).slice().sort();
      assert.deepEqual(b.kernelAttachments, kernel, `${label}: exporter ${JSON.stringify(b.kernelAttachments)} vs bufinfo ${JSON.stringify(kernel)}`);
      return kernel;
    }

    it('heap backing imported by vgem and vkms; detach and eviction update both', function () {
      needsBufinfo(this);
      using vgem = card(this, 'vgem');
      using vkms = card(this, 'vkms');
      using exp = new Exporter({ size: MiB, providers: ['heap:system'], name: 'exp-bufinfo' });
      const c = exp.attach('cpu');
      const g = exp.attach(vgem);
      const k = exp.attach(vkms);
      c.map();
      assert.equal(agree(exp, 'after the first map').length, 2);
      g.map(); k.map(); g.unmap(); k.unmap();
      agree(exp, 'kept after unmap');
      exp.detach(k);
      assert.equal(agree(exp, 'after detach').length, 1);
      using tight = new Exporter({ size: MiB, providers: ['heap:system'], budget: 0 });
      const t = tight.attach(vgem);
      t.map();
      assert.equal(agree(tight, 'mapped').length, 1);
      t.unmap();
      assert.equal(agree(tight, 'evicted').length, 0);
    });

    it('drm backing on vgem: vgem itself is no attachment (self-import), vkms is', function () {
      needsBufinfo(this);
      using vgem = card(this, 'vgem');
      using vkms = card(this, 'vkms');
      using exp = new Exporter({ size: MiB, providers: [vgem] });
      exp.attach(vgem).map();
      exp.attach(vkms).map();
      assert.deepEqual(agree(exp, 'dumb on vgem'), [exp.attachments[1]!.device!.sysName]);
    });
  });

  describe('Exporter: syscalls seen by strace (VM)', function () {
    it('map/unmap cycles after the first make no mmap, munmap or ioctl', async function () {
      if (!isNative()) {
        this.test && (this.test.title += ' (skipped: strace counts real syscalls; native backend only)');
        this.skip();
      }
      const which = await runChild('strace', ['-V']).catch(() => ({ status: -1 }));
      if (which.status !== 0) {
        if (inVm) assert.fail('strace is missing in the VM');
        this.skip();
      }
      needsDriver(this, 'vgem');
      needsHeap(this, 'system');
      const size = 5 * PAGE() + 3 * PAGE(); // a length no allocator of node's uses
      const script = `
        const d = require(${JSON.stringify(path.resolve(__dirname, '../src/index.js'))});
        const fs = require('fs');
        const dev = d.drm.open({ driver: 'vgem' });
        const exp = new d.Exporter({ size: ${size}, providers: ['heap:system'] });
        const c = exp.attach('cpu'), g = exp.attach(dev);
        fs.writeSync(1, 'EXPMARK-0\\n');
        c.map(); g.map(); c.unmap(); g.unmap();
        fs.writeSync(1, 'EXPMARK-A\\n');
        for (let i = 0; i < 500; i++) { const m = c.map(); const h = g.map(); m.mapping.bytes[i] = 1; c.unmap(m); g.unmap(h); }
        fs.writeSync(1, 'EXPMARK-B\\n');
        fs.writeSync(1, JSON.stringify(exp.stats()) + '\\n');
        exp.close(); dev.close();`;
      const out = path.join(os.tmpdir(), `exp-strace-${process.pid}.txt`);
      const r = await runChild('strace', ['-f', '-o', out, '-e', 'trace=ioctl,mmap,munmap,write', process.execPath, '-e', script],
        { env: { ...process.env, DMABUF_BACKEND: 'native' }, timeout: 300_000 });
      assert.equal(r.status, 0, r.stderr);
      const lines = fs.readFileSync(out, 'utf8').split('\n');
      fs.rmSync(out, { force: true });
      const at = (mark: string) => lines.findIndex((l) => l.includes(`"${mark}\\n"`));
      const count = (from: number, to: number) => {
        const seg = lines.slice(from, to);
        return {
          ioctl: seg.filter((l) => /\bioctl\(/.test(l)).length,
          mmap: seg.filter((l) => /\bmmap\(/.test(l) && /MAP_SHARED/.test(l)).length,
          munmap: seg.filter((l) => new RegExp(`\\bmunmap\\(0x[0-9a-f]+, ${size}\\)`).test(l)).length,
        };
      };
      const first = count(at('EXPMARK-0'), at('EXPMARK-A'));
      const cycles = count(at('EXPMARK-A'), at('EXPMARK-B'));
      const stats = JSON.parse(r.stdout.trim().split('\n').pop()!);
      console.log(`      strace: first map+unmap ${JSON.stringify(first)}; 500 cycles ${JSON.stringify(cycles)}; ` +
        `stats syscalls=${stats.syscalls} saved=${stats.syscallsSaved} hits=${stats.hits}`);
      assert.ok(first.ioctl >= 2 && first.mmap === 1, 'the first map allocates (ioctl), imports (ioctl) and mmaps');
      assert.deepEqual(cycles, { ioctl: 0, mmap: 0, munmap: 0 });
      assert.equal(stats.hits, 1001, 'the import made at allocation served the first device map');
      assert.equal(stats.syscallsSaved, 500 * 2 + 501 * 2);
    });
  });
});
