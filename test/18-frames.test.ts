/**
 * Frames (images in dma-bufs) and frame pools, from every provider: udmabuf, the system heap, a CMA
 * heap where there is one, and vgem dumb buffers (whose pitch is the kernel's). Both backends, and
 * every kernel in the VM.
 */
import assert from 'node:assert/strict';
import {
  DmaBuf, Frame, FramePool, drm, formats, heaps, udmabuf,
} from '../src/index';
import { drmDevices, isNative, needsUdmabuf, openFdCount, throwsCode } from './support/index';
import { PROVIDERS } from './support/providers';

/** A pattern that differs per plane and per byte, so a wrong offset or pitch shows. */
function fill(planes: Uint8Array[], seed: number): void {
  planes.forEach((p, i) => { for (let j = 0; j < p.length; j++) p[j] = (j * 7 + i * 31 + seed) & 0xff; });
}
function check(planes: Uint8Array[], seed: number): void {
  planes.forEach((p, i) => {
    for (let j = 0; j < p.length; j += 97) assert.equal(p[j], (j * 7 + i * 31 + seed) & 0xff, `plane ${i} byte ${j}`);
  });
}

describe('Frame: images in dma-bufs', function () {
  for (const c of PROVIDERS) {
    it(`NV12 and XRGB8888 from ${c.label}, in one buffer and per plane: planes, pitches, contents`, function () {
      const provider = c.need(this);
      // the library keeps /dev/udmabuf open for the process once used: not a leak, so use it first
      Frame.allocate({ width: 8, height: 8, format: 'XRGB8888' }, { provider }).close();
      const fds = isNative() ? openFdCount() : 0;
      for (const buffers of ['one', 'per-plane'] as const) {
        using f = Frame.allocate({ width: 64, height: 48, format: 'NV12' }, { provider, buffers });
        assert.equal(f.format.name, 'NV12');
        assert.equal(f.modifier, 0n);
        assert.equal(f.planes.length, 2);
        assert.equal(f.buffers.length, buffers === 'one' ? 1 : 2);
        const [y, uv] = f.planes as [typeof f.planes[0], typeof f.planes[0]];
        assert.ok(y.pitch >= 64 && uv.pitch >= 64, `pitches ${y.pitch}, ${uv.pitch}`);
        assert.equal(y.size, y.pitch * 48);
        assert.equal(uv.size, uv.pitch * 24);
        if (buffers === 'one') {
          assert.equal(y.offset, 0);
          assert.equal(uv.offset, y.size, 'the chroma follows the luma');
          assert.equal(uv.pitch, y.pitch, 'NV12 chroma has the luma pitch');
          assert.ok(y.buffer.size >= y.size + uv.size);
        } else {
          assert.deepEqual(f.planes.map((p) => p.offset), [0, 0]);
          assert.notEqual(y.buffer, uv.buffer);
        }
        f.access('write', (planes) => {
          assert.deepEqual(planes.map((p) => p.length), [y.size, uv.size]);
          fill(planes, 5);
        });
        f.access('read', (planes) => check(planes, 5));
        for (const b of f.buffers) assert.equal(b.openAccesses.size, 0, 'every START has its END');
      }
      using x = Frame.allocate({ width: 33, height: 7, format: 'XRGB8888' }, { provider });
      assert.ok(x.planes[0]!.pitch >= 33 * 4);
      if (c.label === 'vgem dumb buffers') {
        // the kernel's pitch: what a dumb buffer of the same size gets
        using dev = drm.open((provider as string).slice(4));
        using d = dev.createDumb({ width: 33, height: 7, bpp: 32 });
        assert.equal(x.planes[0]!.pitch, d.pitch);
      } else {
        assert.equal(x.planes[0]!.pitch, 33 * 4, 'no padding without pitchAlign');
      }
      x.close();
      if (isNative()) assert.equal(openFdCount(), fds, 'closing the frames closed every fd');
    });
  }

  it('pitchAlign pads the first plane and the others follow; a name goes on every buffer', function () {
    needsUdmabuf(this);
    using f = Frame.allocate({ width: 100, height: 10, format: 'YUV420' }, { provider: 'udmabuf', pitchAlign: 64, name: 'frame-test' });
    assert.deepEqual(f.planes.map((p) => p.pitch), [128, 64, 64]);
    assert.deepEqual(f.planes.map((p) => p.offset), [0, 1280, 1280 + 320]);
    assert.equal(f.buffers[0]!.info().name, 'frame-test');
    const layout = formats.get('YUV420').layout(100, 10, { pitchAlign: 64 });
    assert.deepEqual(f.planes.map((p) => [p.offset, p.pitch, p.size]), layout.planes.map((p) => [p.offset, p.pitch, p.size]));
  });

  it('END always: when fn throws, and after an async fn settles', async function () {
    needsUdmabuf(this);
    using f = Frame.allocate({ width: 16, height: 16, format: 'NV12' }, { provider: 'udmabuf', buffers: 'per-plane' });
    assert.throws(() => f.access('write', () => { throw new Error('mine'); }), /mine/);
    for (const b of f.buffers) assert.equal(b.openAccesses.size, 0);
    const v = await f.access('write', async (planes) => { await new Promise((r) => setImmediate(r)); fill(planes, 9); return 42; });
    assert.equal(v, 42);
    for (const b of f.buffers) assert.equal(b.openAccesses.size, 0);
    assert.equal(await f.accessAsync('read', (planes) => { check(planes, 9); return 7; }), 7);
    for (const b of f.buffers) assert.equal(b.openAccesses.size, 0);
  });

  it('Frame.from wraps buffers you have: duplicates by default, takes them over with dup: false', function () {
    needsUdmabuf(this);
    const layout = formats.get('NV12').layout(32, 32);
    const buf = udmabuf.create(layout.sizes[0]!);
    const f = Frame.from({ width: 32, height: 32, format: 'NV12', planes: layout.planes.map((p) => ({ buffer: buf, offset: p.offset, pitch: p.pitch })) });
    assert.equal(f.buffers.length, 1);
    assert.notEqual(f.buffers[0], buf, 'a duplicate');
    assert.equal(f.buffers[0]!.inode, buf.inode, 'of the same buffer');
    f.access('write', (planes) => fill(planes, 3));
    f.close();
    assert.equal(buf.closed, false, 'yours stays open');
    buf.access('read', (bytes) => assert.equal(bytes[1], (7 + 3) & 0xff));
    const g = Frame.from({ width: 32, height: 32, format: 'NV12', dup: false, planes: layout.planes.map((p) => ({ buffer: buf, offset: p.offset, pitch: p.pitch })) });
    assert.equal(g.buffers[0], buf);
    g.close();
    assert.equal(buf.closed, true, 'taken over: closed with the frame');
  });

  it('Frame.from refuses planes that do not fit, and bad arguments, with coded errors', function () {
    needsUdmabuf(this);
    using buf = udmabuf.create(4096);
    throwsCode(() => Frame.from({ width: 64, height: 64, format: 'NV12', planes: [{ buffer: buf, pitch: 64 }] }), 'ERR_INVALID_ARG_VALUE', TypeError);
    throwsCode(() => Frame.from({ width: 64, height: 64, format: 'NV12', planes: [{ buffer: buf, pitch: 64 }, { buffer: buf, offset: 4096, pitch: 64 }] }),
      'ERR_OUT_OF_RANGE', RangeError);
    throwsCode(() => Frame.from({ width: 64, height: 8, format: 'XRGB8888', planes: [{ buffer: buf, pitch: 100 }] }), 'ERR_OUT_OF_RANGE', RangeError);
    throwsCode(() => Frame.from({ width: 64, height: 8, format: 'XRGB8888', planes: [{ buffer: {} as DmaBuf, pitch: 256 }] }), 'ERR_INVALID_ARG_TYPE', TypeError);
    throwsCode(() => Frame.from({ width: 64, height: 8, format: 'NOPE', planes: [] }), 'ERR_INVALID_ARG_VALUE', TypeError);
    throwsCode(() => Frame.allocate({ width: 0, height: 8, format: 'NV12' }), 'ERR_OUT_OF_RANGE', RangeError);
    throwsCode(() => Frame.allocate({ width: 8, height: 8, format: 'NV12' }, { provider: 'floppy' }), 'ERR_INVALID_ARG_VALUE', TypeError);
    throwsCode(() => Frame.allocate({ width: 8, height: 8, format: 'NV12' }, { buffers: 'two' as 'one' }), 'ERR_INVALID_ARG_VALUE', TypeError);
  });

  it('close() is idempotent; a closed frame refuses access and its views are detached', function () {
    needsUdmabuf(this);
    const f = Frame.allocate({ width: 16, height: 16, format: 'XRGB8888' }, { provider: 'udmabuf' });
    let kept: Uint8Array | undefined;
    f.access('write', (planes) => { kept = planes[0]; });
    f.close();
    f.close();
    assert.equal(f.closed, true);
    assert.equal(kept!.length, 0, 'the view detached with the mapping');
    throwsCode(() => f.access('read', () => undefined), 'ERR_DMABUF_CLOSED');
  });
});

describe('Frame in DRM dumb buffers: sized as GStreamer\'s DRM dumb allocator sizes them', function () {
  // GStreamer's dumb allocator asks for one dumb buffer of the first plane's bpp and of more rows,
  // so that every plane fits at the kernel's pitch: 3h/2 rows for 4:2:0, 2h for 4:2:2, 3h for 4:4:4.
  const ROWS: [string, (h: number) => number][] = [
    ['NV12', (h) => h * 3 / 2], ['NV21', (h) => h * 3 / 2], ['YUV420', (h) => h * 3 / 2], ['YVU420', (h) => h * 3 / 2],
    ['NV16', (h) => h * 2], ['NV61', (h) => h * 2], ['YUV422', (h) => h * 2],
    ['NV24', (h) => h * 3], ['NV42', (h) => h * 3], ['YUV444', (h) => h * 3],
  ];
  const vgem = (ctx: Mocha.Context): string => (PROVIDERS.find((c) => c.label === 'vgem dumb buffers')!.need(ctx) as string).slice(4);

  it('one buffer: a dumb buffer of the first plane\'s bpp and GStreamer\'s rows, planes at the kernel\'s pitch', function () {
    const path = vgem(this);
    using dev = drm.open(path);
    for (const [name, rows] of ROWS) {
      for (const [w, h] of [[64, 48], [100, 30]] as const) {
        using f = Frame.allocate({ width: w, height: h, format: name }, { provider: dev });
        using ref = dev.createDumb({ width: w, height: rows(h), bpp: 8 });
        const at = `${name} ${w}x${h}`;
        assert.equal(f.buffers.length, 1, at);
        assert.equal(f.buffers[0]!.size, ref.size, `${at}: the dumb buffer GStreamer would ask for`);
        assert.equal(f.planes[0]!.pitch, ref.pitch, `${at}: the kernel's pitch`);
        const want = formats.get(name).layout(w, h, { pitch: ref.pitch });
        assert.deepEqual(f.planes.map((p) => [p.offset, p.pitch, p.size]), want.planes.map((p) => [p.offset, p.pitch, p.size]), at);
        assert.ok(f.planes.every((p) => p.offset + p.size <= ref.size), `${at}: every plane fits`);
      }
    }
  });

  it('per plane: one dumb buffer per plane, each at its own kernel pitch', function () {
    const path = vgem(this);
    using dev = drm.open(path);
    for (const name of ['NV12', 'YUV420', 'NV16', 'YUV444']) {
      using f = Frame.allocate({ width: 64, height: 48, format: name }, { provider: dev, buffers: 'per-plane' });
      const fmt = formats.get(name);
      f.planes.forEach((p, i) => {
        const pw = Math.ceil(64 / fmt.planes[i]!.hsub), ph = Math.ceil(48 / fmt.planes[i]!.vsub);
        using ref = dev.createDumb({ width: pw, height: ph, bpp: fmt.planes[i]!.cpp * 8 });
        assert.deepEqual([p.offset, p.pitch, p.size, p.buffer.size], [0, ref.pitch, ref.pitch * ph, ref.size], `${name} plane ${i}`);
      });
    }
  });
});

describe('Frame of a coded format: a bitstream buffer', function () {
  for (const c of PROVIDERS.filter((p) => p.label !== 'vgem dumb buffers')) {
    it(`FWHT from ${c.label}: one plane at offset 0, pitch 0, of the size asked for; access as usual`, function () {
      const provider = c.need(this);
      Frame.allocate({ width: 8, height: 8, format: 'XRGB8888' }, { provider }).close();
      const fds = isNative() ? openFdCount() : 0;
      using f = Frame.allocate({ width: 640, height: 480, format: 'FWHT', size: 100_001 }, { provider, name: 'bitstream' });
      assert.equal(f.format.name, 'FWHT');
      assert.equal(f.format.compressed, true);
      assert.deepEqual([f.width, f.height], [640, 480]);
      assert.equal(f.planes.length, 1);
      const [p] = f.planes as [typeof f.planes[0]];
      assert.deepEqual([p.offset, p.pitch, p.size], [0, 0, 100_001]);
      assert.ok(p.buffer.size >= 100_001, `the buffer holds the size (${p.buffer.size})`);
      assert.equal(f.buffers.length, 1);
      assert.equal(p.buffer.info().name, 'bitstream');
      f.access('write', (planes) => {
        assert.deepEqual(planes.map((v) => v.length), [100_001]);
        fill(planes, 11);
      });
      f.access('read', (planes) => check(planes, 11));
      // 'per-plane' is the same one buffer
      using g = Frame.allocate({ width: 1, height: 1, format: 'H264', size: 4096 }, { provider, buffers: 'per-plane' });
      assert.deepEqual(g.planes.map((q) => [q.offset, q.pitch, q.size]), [[0, 0, 4096]]);
      f.close();
      g.close();
      if (isNative()) assert.equal(openFdCount(), fds, 'closing the frames closed every fd');
    });
  }

  it('Frame.from over a buffer you have: { buffer, offset?, size? }; the size defaults to the description\'s, then to the buffer\'s end', function () {
    needsUdmabuf(this);
    using buf = udmabuf.create(3 * 4096);
    using a = Frame.from({ width: 640, height: 480, format: 'FWHT', planes: [{ buffer: buf, offset: 4096, size: 5000 }] });
    assert.deepEqual(a.planes.map((p) => [p.offset, p.pitch, p.size]), [[4096, 0, 5000]]);
    using b = Frame.from({ width: 640, height: 480, format: 'FWHT', size: 6000, planes: [{ buffer: buf, pitch: 0 }] });
    assert.deepEqual(b.planes.map((p) => [p.offset, p.size]), [[0, 6000]]);
    using c = Frame.from({ width: 640, height: 480, format: 'VP9', planes: [{ buffer: buf, offset: 100 }] });
    assert.deepEqual(c.planes.map((p) => [p.offset, p.size]), [[100, 3 * 4096 - 100]]);
    a.access('write', ([p]) => p!.fill(0x5a));
    buf.access('read', (bytes) => assert.deepEqual([bytes[4095], bytes[4096], bytes[4096 + 4999], bytes[4096 + 5000]], [0, 0x5a, 0x5a, 0]));
    throwsCode(() => Frame.from({ width: 8, height: 8, format: 'FWHT', planes: [{ buffer: buf, pitch: 8 }] }), 'ERR_INVALID_ARG_VALUE', TypeError);
    throwsCode(() => Frame.from({ width: 8, height: 8, format: 'FWHT', planes: [{ buffer: buf, size: 3 * 4096 + 1 }] }), 'ERR_OUT_OF_RANGE', RangeError);
    throwsCode(() => Frame.from({ width: 8, height: 8, format: 'FWHT', planes: [{ buffer: buf, offset: 4096, size: 2 * 4096 + 1 }] }),
      'ERR_OUT_OF_RANGE', RangeError);
    throwsCode(() => Frame.from({ width: 8, height: 8, format: 'FWHT', planes: [{ buffer: buf, offset: 3 * 4096 }] }), 'ERR_OUT_OF_RANGE', RangeError);
    throwsCode(() => Frame.from({ width: 8, height: 8, format: 'FWHT', size: 10, planes: [{ buffer: buf, size: 11 }] }), 'ERR_INVALID_ARG_VALUE', TypeError);
    throwsCode(() => Frame.from({ width: 8, height: 8, format: 'FWHT', planes: [{ buffer: buf, size: 0 }] }), 'ERR_OUT_OF_RANGE', RangeError);
    throwsCode(() => Frame.from({ width: 8, height: 8, format: 'FWHT', planes: [{ buffer: buf }, { buffer: buf }] }), 'ERR_INVALID_ARG_VALUE', TypeError);
    // an image format takes no size
    throwsCode(() => Frame.from({ width: 8, height: 8, format: 'XRGB8888', planes: [{ buffer: buf, pitch: 32, size: 256 }] }),
      'ERR_INVALID_ARG_VALUE', TypeError);
  });

  it('FramePool of coded frames: each of the size asked for', function () {
    needsUdmabuf(this);
    using pool = new FramePool({ width: 640, height: 480, format: 'FWHT', size: 50_000, count: 2, provider: 'udmabuf' });
    assert.equal(pool.size, 50_000);
    assert.deepEqual(pool.frames.map((f) => f.planes[0]!.size), [50_000, 50_000]);
    using f = pool.acquire();
    assert.equal(f.format.compressed, true);
    throwsCode(() => new FramePool({ width: 640, height: 480, format: 'FWHT', count: 1 }), 'ERR_INVALID_ARG_VALUE', TypeError);
    using raw = new FramePool({ width: 8, height: 8, format: 'NV12', count: 1, provider: 'udmabuf' });
    assert.equal(raw.size, undefined);
  });

  it('bad arguments: no size, a size for an image format, DRM dumb buffers, a framebuffer of a coded frame: coded errors', function () {
    const noSize = throwsCode(() => Frame.allocate({ width: 640, height: 480, format: 'FWHT' }), 'ERR_INVALID_ARG_VALUE', TypeError);
    assert.match(noSize.message, /desc\.size.*must be given for a coded format \(FWHT\).*sizeimage/);
    throwsCode(() => Frame.allocate({ width: 640, height: 480, format: 'FWHT', size: 0 }), 'ERR_OUT_OF_RANGE', RangeError);
    throwsCode(() => Frame.allocate({ width: 640, height: 480, format: 'FWHT', size: 2 ** 32 }), 'ERR_OUT_OF_RANGE', RangeError);
    throwsCode(() => Frame.allocate({ width: 640, height: 480, format: 'FWHT', size: 'big' as unknown as number }), 'ERR_INVALID_ARG_TYPE', TypeError);
    const image = throwsCode(() => Frame.allocate({ width: 8, height: 8, format: 'NV12', size: 96 }), 'ERR_INVALID_ARG_VALUE', TypeError);
    assert.match(image.message, /desc\.size.*coded formats only: NV12/);
    // dumb buffers are rows of pixels: refused before the device is opened (any path)
    const dumb = throwsCode(() => Frame.allocate({ width: 640, height: 480, format: 'FWHT', size: 4096 }, { provider: 'drm:/dev/dri/nonexistent' }),
      'ERR_DMABUF_UNSUPPORTED');
    assert.match(dumb.message, /FWHT is a coded format.*dumb buffer/);
    assert.match((dumb as { hint?: string }).hint ?? '', /heap:system.*udmabuf/);
    const card = drmDevices().find((d) => d.kind === 'card' && d.dumbBuffers);
    if (card !== undefined) {
      using dev = drm.open(card.path);
      throwsCode(() => Frame.allocate({ width: 64, height: 64, format: 'MJPEG', size: 4096 }, { provider: dev }), 'ERR_DMABUF_UNSUPPORTED');
      if (udmabuf.available()) {
        using f = Frame.allocate({ width: 64, height: 64, format: 'FWHT', size: 4096 }, { provider: 'udmabuf' });
        const fb = throwsCode(() => dev.addFramebuffer(f), 'ERR_DMABUF_UNSUPPORTED');
        assert.match(fb.message, /FWHT is a coded format.*framebuffer/);
      }
    }
  });
});

describe('FramePool: a fixed set of frames, recycled', function () {
  it('acquire until empty (ERR_DMABUF_BUSY), release, and the same frames come back', async function () {
    needsUdmabuf(this);
    udmabuf.create(4096).close(); // opens /dev/udmabuf, which the library keeps: count after it
    const fds = isNative() ? openFdCount() : 0;
    const pool = new FramePool({ width: 32, height: 16, format: 'NV12', count: 2, provider: 'udmabuf' });
    const inodes = new Set(pool.frames.map((f) => f.buffers[0]!.inode));
    const a = pool.acquire();
    const b = pool.acquire();
    throwsCode(() => pool.acquire(), 'ERR_DMABUF_BUSY');
    assert.deepEqual(pool.stats(), { count: 2, free: 0, out: 2, acquired: 2, waited: 0 });
    a.access('write', (planes) => fill(planes, 1));
    a.release();
    throwsCode(() => a.access('read', () => undefined), 'ERR_INVALID_STATE');
    const again = pool.acquire();
    assert.equal(again, a, 'recycled, not reallocated');
    again.access('read', (planes) => check(planes, 1));
    // a waiter gets the next release
    const waiting = pool.acquireAsync({ timeout: 5000 });
    b.release();
    assert.equal(await waiting, b);
    await assert.rejects(pool.acquireAsync({ timeout: 30 }), { code: 'ERR_DMABUF_TIMEOUT' });
    const ac = new AbortController();
    const aborted = pool.acquireAsync({ signal: ac.signal });
    ac.abort();
    await assert.rejects(aborted, { name: 'AbortError' });
    assert.equal(pool.stats().waited, 3);
    for (const f of pool.frames) assert.ok(inodes.has(f.buffers[0]!.inode));
    again.close(); // a pool frame's close is a release
    assert.equal(pool.stats().free, 1);
    pool.close();
    pool.close();
    throwsCode(() => pool.acquire(), 'ERR_DMABUF_CLOSED');
    b.release(); // out when the pool closed: freed now
    if (isNative()) assert.equal(openFdCount(), fds, 'every frame freed');
  });

  it('acquireAsync: an already-aborted signal rejects at once; close() rejects the waiters with ERR_DMABUF_CLOSED', async function () {
    needsUdmabuf(this);
    const pool = new FramePool({ width: 8, height: 8, format: 'XRGB8888', count: 1, provider: 'udmabuf' });
    const f = pool.acquire();
    const ac = new AbortController();
    ac.abort(new Error('gone'));
    await assert.rejects(pool.acquireAsync({ signal: ac.signal, timeout: 5000 }), { message: 'gone' });
    assert.equal(pool.stats().waited, 0, 'an aborted signal does not wait');
    // the only frame is out: both wait, one of them without a timeout
    const w1 = pool.acquireAsync();
    const w2 = pool.acquireAsync({ timeout: 60_000 });
    assert.equal(pool.stats().waited, 2);
    pool.close();
    await assert.rejects(w1, { code: 'ERR_DMABUF_CLOSED' });
    await assert.rejects(w2, { code: 'ERR_DMABUF_CLOSED' });
    await assert.rejects(pool.acquireAsync(), { code: 'ERR_DMABUF_CLOSED' });
    f.release(); // freed, not pooled: the pool is closed
    assert.equal(pool.stats().free, 0);
  });

  it('using: a frame acquired with `using` goes back to the pool', function () {
    needsUdmabuf(this);
    using pool = new FramePool({ width: 8, height: 8, format: 'XRGB8888', count: 1, provider: 'udmabuf' });
    {
      using f = pool.acquire();
      assert.equal(pool.stats().free, 0);
      void f;
    }
    assert.equal(pool.stats().free, 1);
  });

  it('bad options are coded errors, and a pool that cannot be filled frees what it made', function () {
    throwsCode(() => new FramePool({ width: 8, height: 8, format: 'NV12', count: 0 }), 'ERR_OUT_OF_RANGE', RangeError);
    throwsCode(() => new FramePool(null as unknown as { width: 8; height: 8; format: 'NV12'; count: 1 }), 'ERR_INVALID_ARG_TYPE', TypeError);
    needsUdmabuf(this);
    udmabuf.create(4096).close();
    const fds = isNative() ? openFdCount() : 0;
    // more than udmabuf's size_limit_mb per frame: the first allocation already fails
    assert.throws(() => new FramePool({ width: 8192, height: 8192, format: 'XRGB8888', count: 2, provider: 'udmabuf' }),
      (e: { code?: string }) => e.code === 'EINVAL' || e.code === 'ENOMEM');
    if (isNative()) assert.equal(openFdCount(), fds);
  });
});
