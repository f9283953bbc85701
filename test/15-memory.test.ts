/**
 * Allocations the machine cannot back are refused with ENOMEM before the kernel is asked (the
 * kernel would hand out pages until the OOM killer strikes): system heap and udmabuf against
 * MemAvailable less a reserve, CMA heaps against CmaFree; `allowOvercommit` goes ahead; small
 * allocations do not read /proc/meminfo each time. Both backends, and the kernel in the VM.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { Exporter, FramePool, getBackend, heaps, udmabuf, setBackend } from '../src/index';
import type { Backend } from '../src/index';
import { forgetMemoryReading, memoryReserve } from '../src/memory';
import { drmDevices, inVm, isMock, isNative, MiB, needsHeap, needsUdmabuf, openFdCount, PAGE, throwsCode, throwsErrno } from './support/index';
import { runChild } from './support/child';

function meminfo(): { total: number; available: number; cmaFree?: number; cmaTotal?: number } {
  const t = getBackend().readTextFile('/proc/meminfo');
  const kb = (n: string) => {
    const m = new RegExp(`^${n}:\\s+(\\d+) kB$`, 'm').exec(t);
    return m ? Number(m[1]) * 1024 : undefined;
  };
  return { total: kb('MemTotal')!, available: kb('MemAvailable')!, cmaFree: kb('CmaFree'), cmaTotal: kb('CmaTotal') };
}

describe('memory guard: more than the machine can back is ENOMEM before the kernel', function () {
  beforeEach(function () {
    forgetMemoryReading(getBackend());
  });

  it('the system heap refuses twice MemTotal, and 2^31 and 2^32+4096 where they exceed MemAvailable', function () {
    needsHeap(this, 'system');
    const fds = isNative() ? openFdCount() : 0;
    using h = heaps.open('system');
    const m = meminfo();
    const sizes = [2 * m.total, 2 ** 31, 2 ** 32 + 4096].filter((s) => s > m.available - memoryReserve(m.total));
    assert.ok(sizes.includes(2 * m.total));
    for (const size of sizes) {
      const e = throwsErrno(() => h.allocate(size), 'ENOMEM', { syscall: 'ioctl(DMA_HEAP_IOCTL_ALLOC)', path: '/dev/dma_heap/system' });
      assert.match((e as { hint?: string }).hint ?? '', /refused before asking the kernel: \d+ bytes is more than this machine can back \(MemAvailable \d+ bytes/);
      assert.match(e.message, /allowOvercommit/);
    }
    if (isNative()) assert.equal(openFdCount(), fds + 1, 'no fd left behind but the heap\'s');
    // and the machine is still usable
    using b = h.allocate(MiB);
    assert.equal(b.size, MiB);
  });

  it('udmabuf.create(size) refuses more than MemAvailable; over size_limit_mb the kernel answers EINVAL', function () {
    needsUdmabuf(this);
    const m = meminfo();
    const limit = udmabuf.limits().sizeLimit;
    const huge = 2 * m.total;
    // below the module's limit nothing can be refused here: the limit (64 MiB) is far below memory
    if (limit !== undefined && huge > limit) {
      throwsErrno(() => udmabuf.create(huge), 'EINVAL', { syscall: 'ioctl(UDMABUF_CREATE)', path: '/dev/udmabuf' });
    }
    const param = '/sys/module/udmabuf/parameters/size_limit_mb';
    if (!isNative() || !inVm) {
      this.test!.title += ' (raising size_limit_mb: only in the VM, as root)';
      return;
    }
    const old = fs.readFileSync(param, 'utf8').trim();
    fs.writeFileSync(param, String(Math.ceil((4 * m.total) / MiB)));
    try {
      const e = throwsErrno(() => udmabuf.create(huge), 'ENOMEM', { syscall: 'ioctl(UDMABUF_CREATE)', path: '/dev/udmabuf' });
      assert.match((e as { hint?: string }).hint ?? '', /more than this machine can back/);
      using b = udmabuf.create(4 * MiB);
      assert.equal(b.size, 4 * MiB);
    } finally {
      fs.writeFileSync(param, old);
    }
  });

  it('a CMA heap refuses more than CmaFree; allowOvercommit asks the kernel, which refuses too', function () {
    const cma = heaps.list().find((h) => h.contiguous);
    if (!cma) {
      if (inVm && process.env.DMABUF_VM_CMA !== '0') assert.fail('a CMA heap is expected on this kernel');
      this.test!.title += ` (skipped: no CMA heap on the ${getBackend().name} backend)`;
      this.skip();
    }
    using h = heaps.open(cma.name);
    const { cmaFree, cmaTotal } = meminfo();
    assert.ok(cmaFree !== undefined && cmaTotal !== undefined, 'CmaFree and CmaTotal in /proc/meminfo');
    // twice the whole area: CmaFree can under-count for a moment (pages freed to per-CPU lists are
    // not counted as free; the guard allows a sixteenth of CmaTotal for that), so only a size beyond
    // CmaTotal is sure to be refused by the kernel too
    const size = 2 * cmaTotal;
    const e = throwsErrno(() => h.allocate(size), 'ENOMEM', { syscall: 'ioctl(DMA_HEAP_IOCTL_ALLOC)', path: cma.path });
    assert.match((e as { hint?: string }).hint ?? '', /more than the CMA area has free \(CmaFree \d+ bytes/);
    const k = throwsErrno(() => h.allocate(size, { allowOvercommit: true }), 'ENOMEM', { syscall: 'ioctl(DMA_HEAP_IOCTL_ALLOC)' });
    assert.doesNotMatch((k as { hint?: string }).hint ?? '', /refused before asking the kernel/, 'this one is the kernel\'s');
  });

  it('CMA exhaustion under a FramePool: ENOMEM with the CMA hint, nothing kept; an Exporter falls back to the system heap', function () {
    const cma = heaps.list().find((h) => h.contiguous);
    if (!cma) {
      if (inVm && process.env.DMABUF_VM_CMA !== '0') assert.fail('a CMA heap is expected on this kernel');
      this.test!.title += ` (skipped: no CMA heap on the ${getBackend().name} backend)`;
      this.skip();
    }
    needsHeap(this, 'system');
    const { cmaTotal } = meminfo();
    // frames of 4 MiB (1024x1024 XRGB8888), more than the whole area holds
    const frame = 4 * MiB;
    const count = Math.ceil(cmaTotal! / frame) + 2;
    const fds = isNative() ? openFdCount() : 0;
    const before = meminfo().cmaFree!;
    const e = throwsErrno(() => new FramePool({ width: 1024, height: 1024, format: 'XRGB8888', count, provider: `heap:${cma.name}` }),
      'ENOMEM', { syscall: 'ioctl(DMA_HEAP_IOCTL_ALLOC)', path: cma.path });
    assert.match((e as { hint?: string }).hint ?? '', /CMA area/);
    if (isNative()) assert.equal(openFdCount(), fds, 'the frames made before the refusal were freed');
    // What the pool took before it was refused is back. CmaFree lags: pages freed to the per-CPU
    // lists count again only once drained, which the next contiguous allocation does (seen in the VM:
    // 35 of 64 MiB free right after, and still 2.5 s later, until an allocation).
    const h = heaps.open(cma.name);
    h.allocate(frame).close();
    h.close();
    assert.ok(meminfo().cmaFree! >= before - cmaTotal! / 16, `CmaFree ${meminfo().cmaFree} after, ${before} before`);
    // the same memory through an Exporter that may also use the system heap: it falls back and says why
    using exp = new Exporter({ size: count * frame, providers: [`heap:${cma.name}`, 'heap:system'] });
    const m = exp.attach('cpu').map();
    assert.equal(m.mapping.bytes.byteLength, count * frame);
    const b = exp.backing!;
    assert.equal(b.provider, 'heap:system', `${b.provider}: ${b.reason}`);
    assert.deepEqual(b.skipped.map((r) => [r.provider, r.code]), [[`heap:${cma.name}`, 'ENOMEM']], JSON.stringify(b.skipped));
    this.test!.title += ` (${count} frames of 4 MiB > CmaTotal ${cmaTotal! >> 20} MiB)`;
  });

  it('small allocations read /proc/meminfo once, not each time', function () {
    needsHeap(this, 'system');
    const real = getBackend();
    let reads = 0;
    const counting = new Proxy(real, {
      get(t, p, r) {
        const v = Reflect.get(t, p, r);
        if (p === 'readTextFile') return (f: string) => { if (f === '/proc/meminfo') reads++; return (v as Backend['readTextFile']).call(t, f); };
        return typeof v === 'function' ? v.bind(t) : v;
      },
    }) as Backend;
    setBackend(counting);
    try {
      using h = heaps.open('system');
      for (let i = 0; i < 200; i++) h.allocate(PAGE()).close();
      assert.equal(reads, 1, `meminfo read ${reads} times for 200 small allocations`);
    } finally {
      setBackend(real);
    }
  });

  it('an Exporter bigger than the machine: every provider refuses with ENOMEM (dumb buffers too), the map is a coded error', function () {
    const m = meminfo();
    const size = 2 * Math.ceil(m.total / PAGE()) * PAGE();
    const vgem = drmDevices().find((d) => d.driver === 'vgem' && d.kind === 'card');
    const providers = [...(vgem ? [`drm:${vgem.path}`] : []), 'heap:system', 'udmabuf'];
    const fds = isNative() ? openFdCount() : 0;
    using exp = new Exporter({ size, providers });
    const cpu = exp.attach('cpu');
    const e = throwsCode(() => cpu.map(), 'ERR_DMABUF_CONSTRAINTS') as Error & { conflicts: { provider: string; code?: string; reason: string }[] };
    const byProvider = new Map(e.conflicts.map((c) => [c.provider, c]));
    if (vgem) assert.equal(byProvider.get(`drm:${vgem.path}`)?.code, 'ENOMEM', JSON.stringify(e.conflicts));
    if (heaps.list().some((h) => h.name === 'system')) assert.equal(byProvider.get('heap:system')?.code, 'ENOMEM', JSON.stringify(e.conflicts));
    const u = byProvider.get('udmabuf') as { code?: string; constraint?: string } | undefined;
    // udmabuf: over size_limit_mb it is ruled out before allocating; otherwise the guard refuses
    if (udmabuf.available()) assert.ok(u?.constraint === 'size' || u?.code === 'ENOMEM', JSON.stringify(e.conflicts));
    if (inVm) assert.ok(vgem, 'vgem in the VM');
    exp.close();
    if (isNative()) assert.equal(openFdCount(), fds, 'nothing left open');
  });

  it('allocating 64 MiB system-heap buffers until refused: ENOMEM from the guard, never the OOM killer; closing gives it back', async function () {
    needsHeap(this, 'system');
    if (isNative() && !inVm) {
      this.test!.title += ' (skipped: fills this machine\'s memory; runs in the VM and on the mock)';
      this.skip();
    }
    this.timeout(300_000);
    // In a child, so that if the guard failed, the OOM killer's SIGKILL shows as the child's signal.
    const script = `
      const d = require(${JSON.stringify(require.resolve('../src/index'))});
      const h = d.heaps.open('system');
      const held = [];
      let err;
      for (let i = 0; i < 4096; i++) {
        try { const b = h.allocate(64 * 1024 * 1024); held.push(b); } catch (e) { err = e; break; }
      }
      const out = { held: held.length, code: err && err.code, syscall: err && err.syscall, hint: err && err.hint };
      for (const b of held) b.close();
      try { h.allocate(64 * 1024 * 1024).close(); out.again = true; } catch (e) { out.again = e.code; }
      h.close();
      console.log(JSON.stringify(out));`;
    const r = await runChild(process.execPath, ['-e', script], { timeout: 280_000 });
    assert.equal(r.signal, null, `the child died by ${r.signal}: ${r.stderr}`);
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { held: number; code?: string; syscall?: string; hint?: string; again: boolean | string };
    assert.equal(out.code, 'ENOMEM', JSON.stringify(out));
    assert.equal(out.syscall, 'ioctl(DMA_HEAP_IOCTL_ALLOC)');
    assert.match(out.hint ?? '', /refused before asking the kernel/);
    assert.ok(out.held > 0, 'some buffers fit');
    assert.equal(out.again, true, 'after closing, the memory is back');
  });

  it('allowOvercommit must be a boolean', function () {
    needsHeap(this, 'system');
    using h = heaps.open('system');
    throwsCode(() => h.allocate(PAGE(), { allowOvercommit: 1 as unknown as boolean }), 'ERR_INVALID_ARG_TYPE', TypeError);
    throwsCode(() => udmabuf.create(PAGE(), { allowOvercommit: 'yes' as unknown as boolean }), 'ERR_INVALID_ARG_TYPE', TypeError);
  });
});

describe('mock: memory per udmabuf create/map/close cycle', function () {
  // The soak tool saw the mock's RSS grow by about 3 KiB per udmabuf cycle over 20,000 cycles. That
  // growth is a plateau reached in the first ~10,000 cycles (the allocator and V8 keep the pages of
  // the freed 4 KiB backing stores), not memory the mock keeps: after GC the JS heap and external
  // memory stay where they were. This pins the part that would be a leak.
  it('retains no JS or external memory per cycle (heapUsed + external after GC, 20,000 cycles)', async function () {
    this.timeout(120_000);
    if (!isMock()) {
      this.test!.title += ' (skipped: the mock\'s own memory, checked in the mock pass)';
      this.skip();
    }
    const script = `
      const d = require(${JSON.stringify(require.resolve('../src/index'))});
      const tick = () => new Promise((r) => setImmediate(r));
      const settle = async () => { for (let i = 0; i < 3; i++) { global.gc(); await tick(); } };
      const run = async (n) => { for (let i = 0; i < n; i++) {
        const b = d.udmabuf.create(4096); b.map('readwrite'); b.access('write', (x) => { x[0] = 1; }); b.close();
        if (i % 100 === 99) await tick(); } };
      (async () => {
        await run(2000); await settle();
        const m0 = process.memoryUsage();
        await run(20000); await settle();
        const m1 = process.memoryUsage();
        console.log(JSON.stringify({ heap: m1.heapUsed - m0.heapUsed, external: m1.external - m0.external }));
      })();`;
    const r = await runChild(process.execPath, ['--expose-gc', '-e', script],
      { env: { ...process.env, DMABUF_BACKEND: 'mock' }, timeout: 100_000 });
    assert.equal(r.status, 0, r.stderr);
    const grew = JSON.parse(r.stdout.trim()) as { heap: number; external: number };
    assert.ok(grew.heap < 256 * 1024, `JS heap grew ${grew.heap} bytes over 20,000 cycles`);
    assert.ok(grew.external < 64 * 1024, `external memory grew ${grew.external} bytes over 20,000 cycles`);
  });
});
