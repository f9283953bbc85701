/**
 * V4L2 queues as Exporter importers, with constraints learned from the device: the exporter offers a
 * frame to the queue the way the device will use it (PREPARE_BUF of a dma-buf on the frame's index).
 * vivid's dma-contig instance refuses scattered memory (EFAULT from vb2-dma-contig); that refusal
 * rules the provider out, is kept for the process, and the next exporter of the same image does not
 * offer that memory again. The vmalloc instance takes anything. Then a real capture into the
 * exporter's frame. On both backends (the mock models both vivid instances) and in the VM.
 */
import assert from 'node:assert/strict';
import { Exporter, Frame, heaps, v4l2, type ConstraintsError, type VideoDeviceInfo, type VideoQueue } from '../src/index';
import { inVm, isMock, needsUdmabuf, skip, throwsCode } from './support/index';

/** vivid's output node of an instance: another device with the instance's allocator. */
function vividOutput(ctx: Mocha.Context, instance: 0 | 1): VideoDeviceInfo {
  const bus = `platform:vivid-00${instance}`;
  const d = v4l2.list().find((x) => x.driver === 'vivid' && x.bus === bus && x.output !== null && x.capture === null && x.error === undefined);
  if (!d) skip(ctx, `no vivid output node on ${bus} (modprobe vivid n_devs=2 node_types=0x101,0x101 allocators=0,1)`);
  return d;
}

function vivid(ctx: Mocha.Context, instance: 0 | 1): VideoDeviceInfo {
  const bus = `platform:vivid-00${instance}`;
  const d = v4l2.list().find((x) => x.driver === 'vivid' && x.bus === bus && x.capture !== null && x.error === undefined);
  if (!d) skip(ctx, `no vivid capture node on ${bus} (modprobe vivid n_devs=2 node_types=0x101,0x101 allocators=0,1)`);
  return d;
}

const hasCma = (): boolean => heaps.list().some((h) => h.contiguous);
const W = 320, H = 180, FORMAT = 'XRGB8888';

/** The queue at W x H XRGB8888 with `count` dma-buf slots; put back as found (format, no buffers) after. */
function importing(q: VideoQueue, count: number): Disposable {
  const saved = q.getFormat();
  q.setFormat({ width: W, height: H, format: FORMAT });
  q.importBuffers(count);
  return {
    [Symbol.dispose](): void {
      q.release();
      q.setFormat({ width: saved.width, height: saved.height, format: saved.fourcc });
    },
  };
}

describe('Exporter with V4L2 queues: constraints learned from the device', function () {
  beforeEach(function () {
    Exporter.forget();
  });
  after(function () {
    Exporter.forget();
  });

  it('VideoQueue.prepare: PREPARE_BUF once; the prepared index is never given to another frame', async function () {
    needsUdmabuf(this);
    using cam = v4l2.open(vivid(this, 0).path);
    const q = cam.capture!;
    const saved = q.getFormat();
    q.setFormat({ width: W, height: H, format: FORMAT });
    using _restore = { [Symbol.dispose]: () => { q.release(); q.setFormat({ width: saved.width, height: saved.height, format: saved.fourcc }); } };
    assert.equal(q.importBuffers(2), 2);
    const alloc = (): Frame => Frame.allocate({ width: W, height: H, format: FORMAT }, { provider: 'udmabuf' });
    using a = alloc();
    using b = alloc();
    using c = alloc();
    assert.equal(q.indexOf(a), null);
    const ia = q.prepare(a);
    assert.equal(q.prepare(a), ia, 'prepared already: no second PREPARE_BUF (the kernel would say EINVAL)');
    q.queue(b);
    assert.equal(q.indexOf(b), 1 - ia, 'the other index');
    // the only index not queued is a's prepared one; QBUF of it would queue a's memory whatever fd it named
    const busy = throwsCode(() => q.queue(c), 'ERR_DMABUF_BUSY');
    assert.match(busy.message, /prepared for another frame/);
    q.queue(a);
    assert.equal(q.indexOf(a), ia);
    q.start();
    const got = [await q.dequeue({ timeout: 10_000 }), await q.dequeue({ timeout: 10_000 })].map((d) => d.frame);
    assert.deepEqual(new Set(got), new Set([a, b]), 'both came back, a from its prepared index');
    q.stop();
    q.queue(c); // nothing prepared now: c takes the index least recently held
    assert.notEqual(q.indexOf(c), null);
  });

  it('a frame whose index the queue gave to another frame is prepared again at its next map', async function () {
    needsUdmabuf(this);
    using cam = v4l2.open(vivid(this, 0).path);
    const q = cam.capture!;
    using _q = importing(q, 2);
    using exp = new Exporter({ frame: { width: W, height: H, format: FORMAT }, providers: ['udmabuf'] });
    const att = exp.attach(q);
    const { frame, index } = att.map();
    att.unmap();
    q.queue(frame);
    q.start();
    assert.equal((await q.dequeue({ timeout: 10_000 })).frame, frame);
    q.stop();
    using x = Frame.allocate({ width: W, height: H, format: FORMAT }, { provider: 'udmabuf' });
    using y = Frame.allocate({ width: W, height: H, format: FORMAT }, { provider: 'udmabuf' });
    q.queue(x); // the index never used
    q.queue(y); // the only one left: the exporter's frame's
    assert.deepEqual([q.indexOf(y), q.indexOf(frame)], [index, null]);
    q.start();
    q.stop(); // STREAMOFF: x and y back from the device, neither queued
    const misses = exp.stats().misses;
    const again = att.map();
    assert.equal(again.frame, frame);
    assert.equal(again.index, q.indexOf(frame), 'the index the queue now has for it');
    assert.notEqual(again.index, null);
    assert.equal(exp.stats().misses, misses + 1, 'a miss: prepared again');
  });

  it('attach: only frame exporters, only queues that import dma-bufs', function () {
    using cam = v4l2.open(vivid(this, 0).path);
    const q = cam.capture!;
    using bytes = new Exporter({ size: 4096 });
    throwsCode(() => bytes.attach(q), 'ERR_INVALID_ARG_VALUE', TypeError);
    using frames = new Exporter({ frame: { width: W, height: H, format: FORMAT } });
    const e = throwsCode(() => frames.attach(q), 'ERR_INVALID_STATE');
    assert.match((e as { hint?: string }).hint ?? '', /importBuffers/);
  });

  it('the vmalloc queue takes a udmabuf frame: map prepares it on an index once; a capture fills it', async function () {
    needsUdmabuf(this);
    using cam = v4l2.open(vivid(this, 0).path);
    const q = cam.capture!;
    using _q = importing(q, 2);
    using exp = new Exporter({ frame: { width: W, height: H, format: FORMAT }, providers: ['udmabuf'] });
    const dev = exp.attach(q);
    const cpu = exp.attach('cpu');
    assert.equal(dev.kind, 'v4l2');
    const m = dev.map();
    assert.equal(m.kind, 'v4l2');
    assert.equal(m.queue, q);
    assert.equal(q.indexOf(m.frame), m.index);
    assert.deepEqual([exp.backing!.provider, exp.backing!.skipped], ['udmabuf', []]);
    dev.unmap();
    const syscalls = exp.stats().syscalls;
    assert.equal(dev.map().index, m.index, 'the same index');
    assert.equal(exp.stats().syscalls, syscalls, 'a hit makes no ioctl');
    // the prepared frame is captured into on its index
    const c = cpu.map();
    c.mapping.bytes.fill(0);
    q.queue(m.frame);
    q.start();
    const got = await q.dequeue({ timeout: 10_000 });
    q.stop();
    assert.equal(got.frame, m.frame);
    assert.equal(got.index, m.index);
    assert.ok(c.mapping.bytes.some((x) => x !== 0), 'vivid drew into the exporter\'s frame');
  });

  it('the dma-contig queue refuses scattered memory (EFAULT): the provider is ruled out, and the refusal is kept for the next exporter', function () {
    needsUdmabuf(this);
    using cam = v4l2.open(vivid(this, 1).path);
    const q = cam.capture!;
    using _q = importing(q, 2);
    const providers = hasCma() ? ['udmabuf', 'heap:contiguous'] : ['udmabuf', 'heap:system'];
    using first = new Exporter({ frame: { width: W, height: H, format: FORMAT }, providers });
    const a = first.attach(q);
    if (!hasCma()) {
      if (inVm && process.env.DMABUF_VM_CMA !== '0') assert.fail('no CMA heap in the VM');
      // stock trixie: no memory this device can use but its own
      const e = throwsCode(() => a.map(), 'ERR_DMABUF_CONSTRAINTS') as ConstraintsError;
      assert.deepEqual(e.conflicts.map((c) => [c.provider, c.constraint, c.code, c.device]),
        [['udmabuf', 'import', 'EFAULT', q.device.path], ['heap:system', 'import', 'EFAULT', q.device.path]]);
    } else {
      const m = a.map();
      assert.equal(first.backing!.provider, 'heap:contiguous');
      assert.equal(first.backing!.contiguous, true);
      const [skipped] = first.backing!.skipped;
      assert.deepEqual([skipped?.provider, skipped?.constraint, skipped?.code, skipped?.device, skipped?.learned],
        ['udmabuf', 'import', 'EFAULT', q.device.path, undefined]);
      assert.match(skipped!.reason, /PREPARE_BUF/);
      assert.equal(q.indexOf(m.frame), m.index);
    }
    const learned = Exporter.learned();
    assert.ok(learned.some((l) => l.provider === 'udmabuf' && l.code === 'EFAULT' && l.image === `${W}x${H} ${FORMAT}`), JSON.stringify(learned));
    // the next exporter of this image does not offer udmabuf memory to the device again
    using second = new Exporter({ frame: { width: W, height: H, format: FORMAT }, providers: ['udmabuf', ...(hasCma() ? ['heap:contiguous'] : [])] });
    const b = second.attach(q);
    if (hasCma()) {
      b.map();
      const [s] = second.backing!.skipped;
      assert.deepEqual([s?.provider, s?.learned, s?.code], ['udmabuf', true, 'EFAULT']);
      assert.match(s!.reason, /^refused before in this process: /);
    } else {
      const e = throwsCode(() => b.map(), 'ERR_DMABUF_CONSTRAINTS') as ConstraintsError;
      assert.equal(e.conflicts[0]!.learned, true);
    }
    // the vmalloc instance is another device: nothing learned applies to it
    using cam0 = v4l2.open(vivid(this, 0).path);
    using _q0 = importing(cam0.capture!, 1);
    using third = new Exporter({ frame: { width: W, height: H, format: FORMAT }, providers: ['udmabuf'] });
    third.attach(cam0.capture!).map();
    assert.deepEqual(third.backing!.skipped, []);
  });

  it('a \'v4l2:\' provider: the dma-contig output node\'s own buffers serve the dma-contig capture queue, no CMA heap needed; a capture fills them', async function () {
    needsUdmabuf(this);
    using cam = v4l2.open(vivid(this, 1).path);
    const q = cam.capture!;
    using _q = importing(q, 2);
    const out = vividOutput(this, 1).path;
    using exp = new Exporter({ frame: { width: W, height: H, format: FORMAT }, providers: ['udmabuf', `v4l2:${out}`] });
    const dev = exp.attach(q);
    const cpu = exp.attach('cpu');
    const m = dev.map();
    assert.equal(exp.backing!.provider, `v4l2:${out}`);
    assert.equal(exp.backing!.contiguous, true, 'vb2-dma-contig memory');
    assert.deepEqual(exp.backing!.skipped.map((x) => [x.provider, x.constraint, x.code]), [['udmabuf', 'import', 'EFAULT']]);
    assert.equal(m.frame.buffers[0]!.exporter, 'videobuf2_dma_contig');
    assert.equal(m.frame.width, W);
    const c = cpu.map();
    c.mapping.bytes.fill(0);
    q.queue(m.frame);
    q.start();
    const got = await q.dequeue({ timeout: 10_000 });
    q.stop();
    assert.equal(got.frame, m.frame);
    assert.ok(c.mapping.bytes.some((x) => x !== 0), 'vivid drew into the output node\'s buffer');
    // the output node is free again (its queue let go of the buffer, which the frame keeps): another
    // file can allocate there (a queue another file holds buffers on says EBUSY)
    using o = v4l2.open(out);
    for (const f of o.output!.exportBuffers(1)) f.close();
    o.output!.release();
  });

  it('a \'v4l2:\' provider of the vmalloc instance is not contiguous: a contiguous constraint rules it out; byte exporters are refused', function () {
    using exp = new Exporter({ frame: { width: W, height: H, format: FORMAT }, providers: [`v4l2:${vividOutput(this, 0).path}`] });
    const m = exp.attach('cpu').map();
    assert.equal(exp.backing!.contiguous, false);
    assert.equal(m.frame!.buffers[0]!.exporter, 'videobuf2_vmalloc');
    using strict = new Exporter({ frame: { width: W, height: H, format: FORMAT }, providers: [`v4l2:${vividOutput(this, 0).path}`] });
    const e = throwsCode(() => strict.attach('cpu', { contiguous: true }).map(), 'ERR_DMABUF_CONSTRAINTS') as ConstraintsError;
    assert.match(e.conflicts[0]!.reason, /not contiguous \(exporter videobuf2_vmalloc\)/);
    using bytes = new Exporter({ size: 4096, providers: [`v4l2:${vividOutput(this, 0).path}`] });
    const b = throwsCode(() => bytes.attach('cpu').map(), 'ERR_DMABUF_CONSTRAINTS') as ConstraintsError;
    assert.match(b.conflicts[0]!.reason, /give the Exporter a frame/);
    throwsCode(() => new Exporter({ size: 4096, providers: ['v4l2:relative'] }), 'ERR_INVALID_ARG_VALUE');
  });

  it('an M2M device\'s queues as importers: vim2m reads one exporter\'s frame on its output (source) queue and writes into another\'s on its capture queue', async function () {
    if (isMock()) {
      this.test!.title += ' (skipped: the mock models no memory-to-memory device)';
      this.skip();
    }
    needsUdmabuf(this);
    const info = v4l2.list().find((x) => x.driver === 'vim2m' && x.m2m && x.error === undefined);
    if (!info) skip(this, 'no vim2m node (modprobe vim2m)');
    const w = 320, h = 240;
    using m2m = v4l2.open(info.path);
    const out = m2m.output!;
    const cap = m2m.capture!;
    // RGB3 in (the library's BGR888: R, G, B in memory), BGR3 out (RGB888: B, G, R): vim2m swaps
    assert.equal(out.setFormat({ width: w, height: h, format: 'RGB3' }).fourcc, 'RGB3');
    assert.equal(cap.setFormat({ width: w, height: h, format: 'BGR3' }).fourcc, 'BGR3');
    out.importBuffers(1);
    cap.importBuffers(1);
    using _release = { [Symbol.dispose]: () => { out.release(); cap.release(); } };
    using src = new Exporter({ frame: { width: w, height: h, format: 'BGR888' }, providers: ['udmabuf'] });
    using dst = new Exporter({ frame: { width: w, height: h, format: 'RGB888' }, providers: ['udmabuf'] });
    const reads = src.attach(out);
    const writes = dst.attach(cap);
    const at = (x: number, y: number): [number, number, number] => [(x * 7 + y) & 0xff, (x + y * 5) & 0xff, (x * 3 + y * 11) & 0xff];
    const srcCpu = src.attach('cpu').map();
    srcCpu.frame!.access('write', ([p]) => {
      const pitch = srcCpu.frame!.planes[0]!.pitch;
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) p!.set(at(x, y), y * pitch + 3 * x);
    });
    const dstCpu = dst.attach('cpu').map();
    dstCpu.frame!.access('write', ([p]) => p!.fill(0xa5));
    const r = reads.map();
    const wr = writes.map();
    assert.deepEqual([r.kind, r.queue, wr.kind, wr.queue], ['v4l2', out, 'v4l2', cap]);
    out.queue(r.frame);
    cap.queue(wr.frame);
    out.start();
    cap.start();
    const d = await cap.dequeue({ timeout: 60_000 });
    const o = await out.dequeue({ timeout: 60_000 });
    out.stop();
    cap.stop();
    assert.deepEqual([o.frame, o.index, d.frame, d.index, d.error], [r.frame, r.index, wr.frame, wr.index, false]);
    reads.unmap();
    writes.unmap();
    let bad = '';
    dstCpu.frame!.access('read', ([p]) => {
      const pitch = dstCpu.frame!.planes[0]!.pitch;
      for (let y = 0; y < h && !bad; y++) {
        for (let x = 0; x < w && !bad; x++) {
          const [rr, g, b] = at(x, y);
          const got = [...p!.subarray(y * pitch + 3 * x, y * pitch + 3 * x + 3)];
          if (got[0] !== b || got[1] !== g || got[2] !== rr) bad = `pixel (${x}, ${y}): ${got}, expected ${[b, g, rr]}`;
        }
      }
    });
    assert.equal(bad, '', 'the capture frame is the output frame with R and B swapped');
    // the next cycle reuses both indices: no PREPARE_BUF
    const calls = src.stats().syscalls + dst.stats().syscalls;
    assert.equal(reads.map().index, r.index);
    assert.equal(writes.map().index, wr.index);
    assert.equal(src.stats().syscalls + dst.stats().syscalls, calls);
  });
});
