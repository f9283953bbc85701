/**
 * Framebuffers of frames (device.addFramebuffer): ADDFB2 with per-plane handles from the device's
 * import table, shown on vkms from every provider and proven on screen by vkms's CRC against the same
 * picture drawn into vkms's own dumb buffer; the kernel's refusals (formats no plane takes, pitches,
 * offsets, modifiers, sizes) as vkms gives them on each kernel, and as the mock gives them.
 */
import assert from 'node:assert/strict';
import {
  Device, Display, Frame, drm, formats, getBackend, heaps, setBackend, type FrameProvider, type Framebuffer,
} from '../src/index';
import { createMockBackend } from '../src/backend/mock';
import { CMA_HEAP_NAMES } from '../src/heap';
import { DRM_CAP_ADDFB2_MODIFIERS, DRM_CLIENT_CAP_UNIVERSAL_PLANES, DRM_MODE_FB_MODIFIERS } from '../src/constants';
import type { Backend } from '../src/backend/types';
import { vkmsCrc, type CrcReader } from './support/crc';
import { onlyOnBackend } from './support/backend';
import { backend, needsDriver, needsUdmabuf, throwsCode, throwsErrno } from './support/index';
import { PROVIDERS } from './support/providers';
import { openWriteback, paint, pixels } from './support/writeback';

const XR24 = formats.get('XRGB8888').drm;
const NV12 = formats.get('NV12').drm;
const ADDFB2 = { syscall: 'ioctl(DRM_IOCTL_MODE_ADDFB2)' };
/** I915_FORMAT_MOD_X_TILED: a modifier vkms does not take. */
const X_TILED = 0x0100000000000001n;

function vkms(ctx: Mocha.Context): Device {
  needsDriver(ctx, 'vkms');
  return drm.open({ driver: 'vkms' });
}

/** The formats vkms's planes take, as GETPLANE says. */
function planeFormats(dev: Device): Set<number> {
  const b = backend();
  b.drmSetClientCap(dev.fd, DRM_CLIENT_CAP_UNIVERSAL_PLANES, 1);
  return new Set(b.kmsGetPlaneResources(dev.fd).flatMap((id) => b.kmsGetPlane(dev.fd, id).formats));
}

/** A picture that depends on x, y and the plane, so a wrong pitch or offset changes it. */
function picture(frame: Frame, planes: Uint8Array[], seed: number): void {
  frame.planes.forEach((p, i) => {
    const bytes = planes[i]!;
    const rows = p.size / p.pitch;
    const rowBytes = Math.ceil(frame.width / frame.format.planes[i]!.hsub) * frame.format.planes[i]!.cpp;
    for (let y = 0; y < rows; y++) {
      for (let x = 0; x < rowBytes; x++) bytes[y * p.pitch + x] = (x * 7 + y * 13 + i * 51 + seed) & 0xff;
    }
  });
}

interface References extends Disposable {
  /** The CRC of the picture of `seed`, and of another picture. */
  want: string;
  different: string;
  /** The other picture's framebuffer, to flip to between readings. */
  otherFb: Framebuffer;
  /** The reference frame's pitch (vkms's dumb buffer's). */
  pitch: number;
}

/**
 * The picture of `seed` and another one, each drawn into vkms's own dumb buffers (a frame of the
 * device) and shown once: the CRCs to compare with; that they differ shows the CRC sees the picture.
 */
async function references(dev: Device, d: Display, crc: CrcReader, format: string, seed: number): Promise<References> {
  const { width, height } = d.mode;
  const made: Disposable[] = [];
  const add = (s: number): Framebuffer => {
    const f = Frame.allocate({ width, height, format }, { provider: dev });
    made.push(f);
    f.access('write', (planes) => picture(f, planes, s));
    const fb = dev.addFramebuffer(f);
    made.push(fb);
    return fb;
  };
  const dispose = (): void => { for (const m of made.reverse()) m[Symbol.dispose](); };
  try {
    const refFb = add(seed);
    const otherFb = add(seed + 1);
    const want = await crc.show(d, refFb);
    const different = await crc.show(d, otherFb);
    assert.notEqual(different, want, 'another picture, another CRC (the CRC sees the picture)');
    return { want, different, otherFb, pitch: refFb.pitch, [Symbol.dispose]: dispose };
  } catch (e) {
    dispose();
    throw e;
  }
}

describe('Framebuffers of frames (ADDFB2)', function () {
  for (const c of PROVIDERS) {
    it(`from ${c.label}: one handle per buffer, the frame's pitches and offsets, nothing left after release`, function () {
      const provider = c.need(this);
      using dev = vkms(this);
      const before = new Map(dev.handles);
      for (const buffers of ['one', 'per-plane'] as const) {
        using f = Frame.allocate({ width: 64, height: 48, format: 'XRGB8888' }, { provider, buffers, pitchAlign: 512 });
        const fb = dev.addFramebuffer(f);
        assert.deepEqual([fb.width, fb.height, fb.format, fb.modifier, fb.frame], [64, 48, 'XRGB8888', 0n, f]);
        assert.deepEqual(fb.planes.map((p) => [p.pitch, p.offset]), f.planes.map((p) => [p.pitch, p.offset]));
        if (typeof provider !== 'string' || !provider.startsWith('drm:')) assert.equal(fb.pitch, 512, 'pitchAlign reached the kernel');
        assert.equal(dev.handles.size, before.size + 1, 'one import');
        assert.ok(backend().kmsGetResources(dev.fd).fbs.includes(fb.id), 'GETRESOURCES lists it');
        fb.release();
        fb.release();
        assert.ok(fb.released);
        assert.ok(!backend().kmsGetResources(dev.fd).fbs.includes(fb.id), 'RMFB');
        assert.deepEqual(dev.handles, before, 'the handle is closed');
      }
    });
  }

  it('multi-planar frames: planes in one buffer share one handle, per-plane buffers get one each', function () {
    needsUdmabuf(this);
    using dev = vkms(this);
    const takesNv12 = planeFormats(dev).has(NV12);
    for (const buffers of ['one', 'per-plane'] as const) {
      using f = Frame.allocate({ width: 64, height: 48, format: 'NV12' }, { provider: 'udmabuf', buffers });
      if (!takesNv12) {
        // 6.12's vkms takes RGB only: the kernel refuses, and the hint says why
        const e = throwsErrno(() => dev.addFramebuffer(f), 'EINVAL', { ...ADDFB2, path: dev.path });
        assert.match((e as { hint?: string }).hint ?? '', /no plane of vkms takes NV12 \(its planes take .*XRGB8888/);
        assert.equal(dev.handles.size, 0, 'the imports were released');
        continue;
      }
      using fb = dev.addFramebuffer(f);
      const handles = new Set(fb.planes.map((p) => p.handle));
      assert.equal(handles.size, buffers === 'one' ? 1 : 2);
      assert.equal(dev.handles.size, handles.size);
      if (buffers === 'one') assert.deepEqual(fb.planes.map((p) => p.offset), [0, 64 * 48]);
    }
    if (!takesNv12) this.test!.title += ' (this vkms takes no NV12: refused with EINVAL and the hint)';
  });

  it('a frame of the device\'s own dumb buffers comes back as its own handle (self-import)', function () {
    using dev = vkms(this);
    using f = Frame.allocate({ width: 32, height: 32, format: 'XRGB8888' }, { provider: dev });
    const own = new Map(dev.handles);
    assert.equal(own.size, 1);
    using fb = dev.addFramebuffer(f);
    assert.equal(fb.planes[0]!.handle, [...own.keys()][0]);
    assert.equal(dev.handles.get(fb.planes[0]!.handle), 2, 'two references to one handle');
    fb.release();
    assert.deepEqual(dev.handles, own);
  });

  for (const c of PROVIDERS) {
    it(`on screen from ${c.label}: vkms's CRC equals the same picture's in vkms's own dumb buffer`, async function () {
      const provider = c.need(this);
      using dev = vkms(this);
      const crc = vkmsCrc(this, dev);
      try {
        using d = Display.open(dev, { mode: '640x480' });
        const { width, height } = d.mode;
        using refs = await references(dev, d, crc, 'XRGB8888', 1);
        const { want, different, otherFb } = refs;
        // pitches other than the dumb buffer's, so that a pitch lost on the way would show
        using f = Frame.allocate({ width, height, format: 'XRGB8888' }, { provider, pitchAlign: 4096 });
        f.access('write', (planes) => picture(f, planes, 1));
        using fb = dev.addFramebuffer(f);
        assert.equal(await crc.show(d, fb), want, `the ${c.label} frame shows the reference picture`);
        // the frame may go while its framebuffer is shown: the kernel keeps the memory
        f.close();
        assert.equal(await crc.show(d, otherFb), different);
        assert.equal(await crc.show(d, fb), want, 'still the same picture after the frame was closed');
        this.test!.title += ` (crc 0x${want}, pitch ${fb.pitch} vs ${refs.pitch})`;
      } finally {
        crc.close();
      }
    });
  }

  for (const c of PROVIDERS) {
    it(`on screen from ${c.label}: the picture vkms writes back equals the frame's, pixel for pixel`, async function () {
      const provider = c.need(this);
      using dev = vkms(this);
      const W = 640, H = 480;
      using d = openWriteback(dev, W, H);
      // a pitch other than the writeback frame's, so that a pitch lost on the way would show
      using f = Frame.allocate({ width: W, height: H, format: 'XRGB8888' }, { provider, pitchAlign: 4096 });
      paint(f, (x, y) => 0xff000000 | (((x * 3 + y) & 0xff) << 16) | (((y * 5) & 0xff) << 8) | ((x ^ y) & 0xff));
      using fb = dev.addFramebuffer(f);
      using wb = Frame.allocate({ width: W, height: H, format: 'XRGB8888' }, { provider: dev });
      paint(wb, () => 0);
      const r = await d.commit([{ plane: d.primary!, fb }], { writeback: wb });
      r.outFence?.close();
      await r.writeback;
      const want = pixels(f);
      const got = pixels(wb);
      for (let i = 0; i < want.length; i++) {
        if ((got[i]! & 0xffffff) !== (want[i]! & 0xffffff)) {
          assert.fail(`pixel (${i % W}, ${Math.floor(i / W)}): ${(got[i]! & 0xffffff).toString(16)}, the frame has ${(want[i]! & 0xffffff).toString(16)}`);
        }
      }
      this.test!.title += ` (pitch ${f.planes[0]!.pitch}, written back at ${wb.planes[0]!.pitch})`;
    });
  }

  it('every format of the table that vkms\'s planes list is taken: a framebuffer and a TEST_ONLY commit on each plane that lists it', async function () {
    needsUdmabuf(this);
    using dev = vkms(this);
    using d = Display.open(dev, { atomic: true });
    // the primary plane covers the CRTC: a small frame goes on it alone with the mode's size
    using base = Frame.allocate({ width: d.mode.width, height: d.mode.height, format: 'XRGB8888' }, { provider: dev });
    using baseFb = dev.addFramebuffer(base);
    const primary = d.primary!;
    const tried: string[] = [];
    for (const fourcc of planeFormats(dev)) {
      const fmt = formats.list().find((x) => x.drm === fourcc);
      if (fmt === undefined) continue;
      using f = Frame.allocate({ width: 64, height: 48, format: fmt.name }, { provider: 'udmabuf' });
      using big = Frame.allocate({ width: d.mode.width, height: d.mode.height, format: fmt.name }, { provider: 'udmabuf' });
      using fb = dev.addFramebuffer(f);
      using bigFb = dev.addFramebuffer(big);
      for (const plane of d.planes.filter((p) => p.formats.includes(fmt.name))) {
        const assign = plane === primary ? [{ plane, fb: bigFb }] : [{ plane: primary, fb: baseFb }, { plane, fb, x: 8, y: 8 }];
        const r = await d.commit(assign, { testOnly: true }).catch((e: Error) => {
          throw new Error(`${fmt.name} on ${plane.type} plane ${plane.id}: ${e.message}`);
        });
        assert.equal(r.outFence, null);
      }
      tried.push(fmt.name);
    }
    assert.ok(tried.includes('XRGB8888') && tried.includes('ARGB8888') && tried.includes('RGB565'), tried.join(', '));
    this.test!.title += ` (${tried.length}: ${tried.join(', ')})`;
  });

  it('ADDFB2 states the linear modifier when the driver takes modifiers; without the cap it sends none and refuses others first', function () {
    needsUdmabuf(this);
    const real = getBackend();
    const calls: { modifiers: bigint[]; flags: number }[] = [];
    const view = (cap: number | null): Backend => new Proxy(real, {
      get(target, key, receiver) {
        if (key === 'kmsAddFb2') {
          return (...a: Parameters<Backend['kmsAddFb2']>) => {
            calls.push({ modifiers: [...a[7]], flags: a[8] });
            return target.kmsAddFb2(...a);
          };
        }
        if (key === 'drmGetCap' && cap !== null) {
          return (fd: number, c: number) => (c === DRM_CAP_ADDFB2_MODIFIERS ? cap : target.drmGetCap(fd, c));
        }
        return Reflect.get(target, key, receiver) as unknown;
      },
    });
    const withBackend = <T>(b: Backend, fn: () => T): T => {
      setBackend(b);
      try {
        return fn();
      } finally {
        setBackend(real);
      }
    };
    using f = Frame.allocate({ width: 64, height: 48, format: 'NV12' }, { provider: 'udmabuf', buffers: 'per-plane' });
    using x = Frame.allocate({ width: 64, height: 48, format: 'XRGB8888' }, { provider: 'udmabuf' });
    using tiled = Frame.from({ width: 64, height: 48, format: 'XRGB8888', modifier: X_TILED, planes: [{ buffer: x.buffers[0]!, pitch: 256 }] });
    withBackend(view(null), () => {
      using dev = vkms(this);
      assert.equal(real.drmGetCap(dev.fd, DRM_CAP_ADDFB2_MODIFIERS), 1, 'vkms takes modifiers');
      dev.addFramebuffer(x).release();
      assert.deepEqual(calls.pop(), { modifiers: [0n], flags: DRM_MODE_FB_MODIFIERS }, 'linear, stated');
      if (planeFormats(dev).has(NV12)) {
        dev.addFramebuffer(f).release();
        assert.deepEqual(calls.pop(), { modifiers: [0n, 0n], flags: DRM_MODE_FB_MODIFIERS }, 'one modifier per plane');
      }
    });
    withBackend(view(0), () => {
      using dev = vkms(this);
      dev.addFramebuffer(x).release();
      assert.deepEqual(calls.pop(), { modifiers: [], flags: 0 }, 'no modifiers without the cap');
      const e = throwsCode(() => dev.addFramebuffer(tiled), 'ERR_DMABUF_UNSUPPORTED');
      assert.match(e.message, /takes no format modifiers \(DRM_CAP_ADDFB2_MODIFIERS is 0\): a frame with modifier 0x100000000000001/);
      assert.equal(calls.length, 0, 'refused before the kernel');
      assert.equal(dev.handles.size, 0, 'nothing stays imported');
    });
  });

  it('on screen in NV12 where vkms takes it: heap, CMA and udmabuf frames in one buffer equal the reference; per plane as vkms reads it', async function () {
    needsUdmabuf(this);
    using dev = vkms(this);
    if (!planeFormats(dev).has(NV12)) {
      this.test!.title += ' (skipped: this kernel\'s vkms takes no NV12; the refusal is tested above)';
      this.skip();
    }
    const crc = vkmsCrc(this, dev);
    try {
      using d = Display.open(dev, { mode: '640x480' });
      const { width, height } = d.mode;
      using refs = await references(dev, d, crc, 'NV12', 3);
      const { want, different, otherFb } = refs;
      const cma = heaps.list().find((h) => CMA_HEAP_NAMES.includes(h.name));
      const providers: FrameProvider[] = ['udmabuf', 'heap:system', ...(cma ? [`heap:${cma.name}`] : [])];
      for (const provider of providers) {
        using f = Frame.allocate({ width, height, format: 'NV12' }, { provider, pitchAlign: 1024 });
        f.access('write', (planes) => picture(f, planes, 3));
        using fb = dev.addFramebuffer(f);
        assert.equal(await crc.show(d, fb), want, String(provider));
      }
      // One buffer per plane: ADDFB2 takes it, but vkms (up to 7.2 at least) reads every plane of a
      // framebuffer from its first object, at that plane's offset and pitch. What it shows is then the
      // picture of one buffer whose chroma plane is the luma plane's first rows.
      using split = Frame.allocate({ width, height, format: 'NV12' }, { provider: 'udmabuf', buffers: 'per-plane' });
      split.access('write', (planes) => picture(split, planes, 3));
      using splitFb = dev.addFramebuffer(split);
      assert.notEqual(splitFb.planes[0]!.handle, splitFb.planes[1]!.handle);
      const got = await crc.show(d, splitFb);
      if (got !== want) {
        const luma = split.planes[0]!;
        using asRead = Frame.from({ width, height, format: 'NV12', planes: [
          { buffer: luma.buffer, offset: 0, pitch: luma.pitch }, { buffer: luma.buffer, offset: 0, pitch: split.planes[1]!.pitch }] });
        using asReadFb = dev.addFramebuffer(asRead);
        assert.equal(await crc.show(d, otherFb), different);
        assert.equal(await crc.show(d, asReadFb), got, 'vkms read the chroma plane from the first buffer');
        this.test!.title += ` (crc 0x${want}; per plane: 0x${got}, vkms reads the first buffer only)`;
      } else {
        this.test!.title += ` (crc 0x${want}; per plane too)`;
      }
    } finally {
      crc.close();
    }
  });

  it('a flip cannot change the format (EINVAL with a hint); show() can', async function () {
    needsUdmabuf(this);
    using dev = vkms(this);
    using d = Display.open(dev, { mode: '640x480' });
    using a = Frame.allocate({ width: 640, height: 480, format: 'XRGB8888' }, { provider: 'udmabuf' });
    using b = Frame.allocate({ width: 640, height: 480, format: 'RGB565' }, { provider: 'udmabuf' });
    using fa = dev.addFramebuffer(a);
    using fbb = dev.addFramebuffer(b);
    d.show(fa);
    await assert.rejects(d.flip(fbb), (err: { code?: string; hint?: string }) => {
      assert.equal(err.code, 'EINVAL');
      assert.match(err.hint ?? '', /cannot change the format \(XRGB8888 is shown, this one is RGB565\)/);
      return true;
    });
    d.show(fbb);
    assert.equal(d.current, fbb);
    assert.equal(d.state().fbId, fbb.id);
  });

  it('the kernel\'s refusals: sizes, handles, pitches, offsets, modifiers (framebuffer_check and the GEM helper)', function () {
    needsUdmabuf(this);
    using dev = vkms(this);
    const b = backend();
    const fd = dev.fd;
    using f = Frame.allocate({ width: 64, height: 64, format: 'NV12' }, { provider: 'udmabuf' });
    using g = dev.import(f.buffers[0]!);
    const h = g.handle;
    const nv12 = (handles: number[], pitches: number[], offsets: number[], modifiers: bigint[] = [], flags = 0): number =>
      b.kmsAddFb2(fd, 64, 64, NV12, handles, pitches, offsets, modifiers, flags);
    // framebuffer_check, before any plane's format is looked at
    throwsErrno(() => nv12([h], [64], [0]), 'EINVAL', ADDFB2); // no handle for the chroma plane
    throwsErrno(() => nv12([h, h], [64, 63], [0, 4096]), 'EINVAL', ADDFB2); // chroma pitch below a row
    throwsErrno(() => nv12([h, h], [64, 64], [0, 2 ** 32 - 64 * 32]), 'ERANGE', ADDFB2); // offset + pitch × rows > 4 GiB
    throwsErrno(() => nv12([h, h], [64, 64], [0, 4096], [X_TILED, X_TILED]), 'EINVAL', ADDFB2); // a modifier without the flag
    throwsErrno(() => nv12([h, h], [64, 64], [0, 4096], [0n, X_TILED], DRM_MODE_FB_MODIFIERS), 'EINVAL', ADDFB2); // mixed
    throwsErrno(() => nv12([h, h, h], [64, 64, 64], [0, 4096, 0], [], DRM_MODE_FB_MODIFIERS), 'EINVAL', ADDFB2); // a third plane
    throwsErrno(() => nv12([h, h], [64, 64], [0, 4096], [], 0x80), 'EINVAL', ADDFB2); // unknown flag
    // sizes outside the device's limits (vkms: 10 to 8192)
    throwsErrno(() => b.kmsAddFb2(fd, 4, 4, XR24, [h], [16], [0], [], 0), 'EINVAL', ADDFB2);
    throwsErrno(() => b.kmsAddFb2(fd, 8193, 1, XR24, [h], [32772], [0], [], 0), 'EINVAL', ADDFB2);
    // drm_gem_fb_init_with_funcs: the rows must be inside the object; unknown handles
    throwsErrno(() => b.kmsAddFb2(fd, 64, 64, XR24, [h], [256], [0], [], 0), 'EINVAL', ADDFB2); // 16 KiB of rows, an 8 KiB object
    throwsErrno(() => b.kmsAddFb2(fd, 64, 64, XR24, [0x7fff], [256], [0], [], 0), 'ENOENT', ADDFB2);
    throwsErrno(() => b.kmsAddFb2(fd, 64, 64, XR24, [h], [256], [0], [X_TILED], DRM_MODE_FB_MODIFIERS), 'EINVAL', ADDFB2);
    // linear with the flag, and without: both fine
    b.kmsRmFb(fd, b.kmsAddFb2(fd, 32, 32, XR24, [h], [128], [0], [0n], DRM_MODE_FB_MODIFIERS));
    b.kmsRmFb(fd, b.kmsAddFb2(fd, 32, 32, XR24, [h], [128], [0], [], 0));
  });

  it('through addFramebuffer: a modifier vkms does not take, a frame below the minimum size: EINVAL with hints', function () {
    needsUdmabuf(this);
    using dev = vkms(this);
    using buf = Frame.allocate({ width: 64, height: 64, format: 'XRGB8888' }, { provider: 'udmabuf' });
    using tiled = Frame.from({ width: 64, height: 64, format: 'XRGB8888', modifier: X_TILED,
      planes: [{ buffer: buf.buffers[0]!, pitch: 256 }] });
    let e = throwsErrno(() => dev.addFramebuffer(tiled), 'EINVAL', { ...ADDFB2, path: dev.path });
    assert.match((e as { hint?: string }).hint ?? '', /refused the modifier 0x100000000000001 for XRGB8888/);
    using tiny = Frame.allocate({ width: 4, height: 4, format: 'XRGB8888' }, { provider: 'udmabuf' });
    e = throwsErrno(() => dev.addFramebuffer(tiny), 'EINVAL', { ...ADDFB2, path: dev.path });
    assert.match((e as { hint?: string }).hint ?? '', /outside the device's limits/);
    assert.equal(dev.handles.size, 0, 'nothing stays imported');
  });

  it('bad arguments and states are coded errors; vgem has no KMS (EOPNOTSUPP with a hint)', function () {
    needsUdmabuf(this);
    using dev = vkms(this);
    throwsCode(() => dev.addFramebuffer({} as Frame), 'ERR_INVALID_ARG_TYPE', TypeError);
    const f = Frame.allocate({ width: 16, height: 16, format: 'XRGB8888' }, { provider: 'udmabuf' });
    f.close();
    throwsCode(() => dev.addFramebuffer(f), 'ERR_DMABUF_CLOSED');
    using g = Frame.allocate({ width: 16, height: 16, format: 'XRGB8888' }, { provider: 'udmabuf' });
    const fb = dev.addFramebuffer(g);
    dev.close();
    assert.ok(fb.released, 'closing the device removes its framebuffers');
    fb.release();
    throwsCode(() => dev.addFramebuffer(g), 'ERR_DMABUF_CLOSED');
    needsDriver(this, 'vgem');
    using vgem = drm.open({ driver: 'vgem' });
    const e = throwsErrno(() => vgem.addFramebuffer(g), 'EOPNOTSUPP', { ...ADDFB2, path: vgem.path });
    assert.match((e as { hint?: string }).hint ?? '', /no modesetting/);
    assert.equal(vgem.handles.size, 0);
  });
});

describe('Framebuffers on the mock of a 7.2 kernel (vkms with YUV planes)', function () {
  let saved: ReturnType<typeof getBackend> | undefined;
  onlyOnBackend('mock');
  before(function () {
    saved = getBackend();
    setBackend(createMockBackend({ kernel: '7.2.13-mock', drm: ['vgem', 'vkms'] }));
  });
  after(function () {
    if (saved !== undefined) setBackend(saved);
  });

  it('NV12 is taken in one buffer and per plane; its layout errors are the kernel\'s', function () {
    using dev = drm.open({ driver: 'vkms' });
    assert.ok(planeFormats(dev).has(NV12), 'the 7.2 plane list has NV12');
    for (const buffers of ['one', 'per-plane'] as const) {
      using f = Frame.allocate({ width: 64, height: 48, format: 'NV12' }, { provider: 'udmabuf', buffers, pitchAlign: 128 });
      using fb = dev.addFramebuffer(f);
      assert.deepEqual(fb.planes.map((p) => p.pitch), [128, 128]);
      assert.equal(new Set(fb.planes.map((p) => p.handle)).size, buffers === 'one' ? 1 : 2);
      // the chroma plane's rows past the end of its buffer (an offset past every buffer this frame has)
      const h = fb.planes[1]!.handle;
      throwsErrno(() => backend().kmsAddFb2(dev.fd, 64, 48, NV12, [fb.planes[0]!.handle, h], [128, 128], [0, 16384], [], 0),
        'EINVAL', ADDFB2);
    }
  });
});
