/**
 * Atomic display on vkms: the planes of the CRTC, commits of a primary plane, an overlay at an offset
 * and the cursor, proven pixel by pixel through the writeback connector; an unsignalled sw_sync
 * in-fence holding a commit until it signals; TEST_ONLY refusing what vkms cannot do with the
 * screen unchanged; EACCES for a file that is not the DRM master. In the VM the same commits also
 * run on the mock of the same kernel, and its writeback must equal the kernel's byte for byte.
 */
import assert from 'node:assert/strict';
import * as os from 'node:os';
import { Display, Frame, drm, getBackend, setBackend, type Backend, type Device, type Framebuffer } from '../src/index';
import { createMockBackend } from '../src/backend/mock';
import { Timeline } from './support/fences';
import { isMock, needsDriver, needsSwSync, rejectsErrno, throwsCode } from './support/index';

const W = 1024;
const H = 768;

interface Scene extends Disposable {
  dev: Device;
  display: Display;
  frames: Frame[];
  fbs: Framebuffer[];
}

/** A Display that can write back: on Virtual-1 where the writeback can share the CRTC, else on the writeback connector. */
function openScene(dev: Device): Display {
  const d = Display.open(dev, { atomic: true, writeback: true });
  const wb = d.writebackConnector;
  assert.ok(wb !== null, 'vkms has a writeback connector for the CRTC');
  if (wb.clones) return d;
  d.close();
  return Display.open(dev, { atomic: true, writeback: true, connector: wb.name, mode: { width: W, height: H } });
}

/** Fill a frame's single plane: fn(x, y) gives the 32-bit pixel (little-endian B, G, R, A/X). */
function paint(frame: Frame, fn: (x: number, y: number) => number): void {
  frame.access('write', ([bytes]) => {
    const p = frame.planes[0]!;
    const dv = new DataView(bytes!.buffer, bytes!.byteOffset, bytes!.byteLength);
    for (let y = 0; y < frame.height; y++) {
      for (let x = 0; x < frame.width; x++) dv.setUint32(y * p.pitch + x * 4, fn(x, y) >>> 0, true);
    }
  });
}

/** A frame's pixels as 32-bit values, row by row without padding. */
function pixels(frame: Frame): Uint32Array {
  const out = new Uint32Array(frame.width * frame.height);
  frame.access('read', ([bytes]) => {
    const p = frame.planes[0]!;
    const dv = new DataView(bytes!.buffer, bytes!.byteOffset, bytes!.byteLength);
    for (let y = 0; y < frame.height; y++) {
      for (let x = 0; x < frame.width; x++) out[y * frame.width + x] = dv.getUint32(y * p.pitch + x * 4, true);
    }
  });
  return out;
}

const background = (x: number, y: number): number => 0xff000000 | ((x & 0xff) << 16) | ((y & 0xff) << 8) | ((x ^ y) & 0xff);
const overlayPixel = (x: number, y: number): number => 0xff000000 | ((200 - x) & 0xff) << 16 | ((y * 3) & 0xff) << 8 | 0x40;
/** The cursor: opaque where x + y is even in its left half, premultiplied transparent (all 0) elsewhere; its last row half-transparent. */
const cursorPixel = (x: number, y: number): number => {
  if (y === 63) return 0x80404000 + (x & 0x3f); // alpha 0x80, premultiplied colours below it
  if (x < 32 && (x + y) % 2 === 0) return 0xff00ff00 | (y << 16) | x;
  return 0;
};
const OVERLAY = { x: 100, y: 50, w: 160, h: 120 };
const CURSOR = { x: 300, y: 200, w: 64, h: 64 };

/** What vkms composes for opaque and fully transparent pixels (RGB only; semi-transparent ones: null). */
function expected(x: number, y: number): number | null {
  let px = background(x, y);
  if (x >= OVERLAY.x && x < OVERLAY.x + OVERLAY.w && y >= OVERLAY.y && y < OVERLAY.y + OVERLAY.h) {
    px = overlayPixel(x - OVERLAY.x, y - OVERLAY.y);
  }
  if (x >= CURSOR.x && x < CURSOR.x + CURSOR.w && y >= CURSOR.y && y < CURSOR.y + CURSOR.h) {
    const c = cursorPixel(x - CURSOR.x, y - CURSOR.y);
    if (c >>> 24 === 0xff) px = c;
    else if (c >>> 24 !== 0) return null;
  }
  return px & 0xffffff;
}

function scene(): Scene {
  const dev = drm.open({ driver: 'vkms' });
  const made: Disposable[] = [];
  let display: Display | undefined;
  const dispose = (): void => {
    display?.[Symbol.dispose]();
    for (const m of made.reverse()) m[Symbol.dispose]();
    dev.close();
  };
  try {
    display = openScene(dev);
    const primary = Frame.allocate({ width: W, height: H, format: 'XRGB8888' }, { provider: dev });
    const overlay = Frame.allocate({ width: OVERLAY.w, height: OVERLAY.h, format: 'XRGB8888' }, { provider: dev });
    const cursor = Frame.allocate({ width: CURSOR.w, height: CURSOR.h, format: 'ARGB8888' }, { provider: dev });
    const wb = Frame.allocate({ width: W, height: H, format: 'XRGB8888' }, { provider: dev });
    made.push(primary, overlay, cursor, wb);
    paint(primary, background);
    paint(overlay, overlayPixel);
    paint(cursor, cursorPixel);
    paint(wb, () => 0x12345678);
    const fbs = [primary, overlay, cursor].map((f) => dev.addFramebuffer(f));
    made.push(...fbs);
    return { dev, display, frames: [primary, overlay, cursor, wb], fbs, [Symbol.dispose]: dispose };
  } catch (e) {
    dispose();
    throw e;
  }
}

function assignments(s: Scene): Parameters<Display['commit']>[0] {
  const d = s.display;
  return [
    { plane: d.primary!, fb: s.fbs[0]! },
    { plane: d.overlays[0]!, fb: s.fbs[1]!, x: OVERLAY.x, y: OVERLAY.y },
    { plane: d.cursor!, fb: s.fbs[2]!, x: CURSOR.x, y: CURSOR.y },
  ];
}

/** The composed picture of the scene's commit, written back. */
async function composeAndWriteBack(s: Scene): Promise<Uint32Array> {
  const r = await s.display.commit(assignments(s), { writeback: s.frames[3]! });
  assert.ok(r.outFence !== null, 'an out-fence');
  assert.equal(r.outFence.info().status, 1, 'the out-fence has signalled once the commit is on screen');
  r.outFence.close();
  await r.writeback;
  return pixels(s.frames[3]!);
}

function compare(got: Uint32Array): { checked: number; skipped: number } {
  let checked = 0;
  let skipped = 0;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const want = expected(x, y);
      if (want === null) { skipped++; continue; }
      const have = got[y * W + x]! & 0xffffff;
      if (have !== want) {
        assert.fail(`pixel (${x}, ${y}): ${have.toString(16).padStart(6, '0')}, expected ${want.toString(16).padStart(6, '0')}`);
      }
      checked++;
    }
  }
  return { checked, skipped };
}

describe('atomic display (vkms): planes, commits, fences, writeback', function () {
  this.timeout(240_000);

  beforeEach(function () {
    needsDriver(this, 'vkms');
  });

  it('lists the CRTC\'s planes with types, formats, modifiers and properties; picks the CRTC through its encoder', function () {
    using dev = drm.open({ driver: 'vkms' });
    using d = Display.open(dev, { atomic: true });
    assert.equal(d.atomic, true);
    const types = d.planes.map((p) => p.type);
    assert.equal(types.filter((t) => t === 'primary').length, 1, 'one primary plane');
    assert.equal(types.filter((t) => t === 'cursor').length, 1, 'one cursor plane');
    assert.ok(d.overlays.length >= 1, 'overlay planes');
    for (const p of d.planes) {
      assert.ok(p.formats.includes('XRGB8888') && p.formats.includes('ARGB8888'), `plane ${p.id} takes XRGB8888 and ARGB8888`);
      assert.deepEqual(p.modifiers.get('XRGB8888'), [0n], 'IN_FORMATS: XRGB8888 linear only');
      for (const name of ['FB_ID', 'CRTC_ID', 'SRC_X', 'SRC_W', 'CRTC_X', 'CRTC_W', 'IN_FENCE_FD', 'type']) {
        assert.ok(p.properties[name], `plane ${p.id} has ${name}`);
      }
      assert.equal(p.properties.FB_ID!.type, 'object');
      assert.equal(p.properties.CRTC_X!.type, 'signed-range');
      assert.equal(p.properties.type!.immutable, true);
      assert.equal(p.zpos, p.properties.zpos ? Number(p.properties.zpos.value) : null);
    }
    for (const name of ['ACTIVE', 'MODE_ID', 'OUT_FENCE_PTR']) assert.ok(d.crtcProperties[name], `CRTC has ${name}`);
    const b = getBackend();
    const res = b.kmsGetResources(dev.fd);
    const enc = b.kmsGetEncoder(dev.fd, d.encoderId);
    assert.ok((enc.possibleCrtcs >>> res.crtcs.indexOf(d.crtcId)) & 1, 'the encoder can drive the chosen CRTC');
    assert.ok(b.kmsGetConnector(dev.fd, d.connector.id).encoders.includes(enc.id), 'the encoder is the connector\'s');
    assert.equal(d.writebackConnector, null, 'no writeback connector without { writeback: true }');
  });

  it('composes a primary plane, an overlay at an offset and the cursor into exactly the picture expected (writeback)', async function () {
    using s = scene();
    const got = await composeAndWriteBack(s);
    const { checked, skipped } = compare(got);
    assert.equal(checked + skipped, W * H);
    assert.equal(skipped, CURSOR.w, 'only the cursor\'s half-transparent pixels (its last row) are not checked here');
    // the overlay and cursor really are on screen: their pixels differ from the background's there
    assert.notEqual(got[OVERLAY.y * W + OVERLAY.x]! & 0xffffff, background(OVERLAY.x, OVERLAY.y) & 0xffffff);
    assert.equal(s.display.current, s.fbs[0], 'the primary plane\'s framebuffer is current');
  });

  it('on a kernel whose writeback cannot share the CRTC, writeback on the main connector says so before the kernel', async function () {
    using dev = drm.open({ driver: 'vkms' });
    using d = Display.open(dev, { atomic: true, writeback: true });
    const wb = d.writebackConnector!;
    if (wb.clones) {
      this.test!.title += ` (here ${wb.name} can share it: the clone path ran in the test above)`;
      return;
    }
    using f = Frame.allocate({ width: W, height: H, format: 'XRGB8888' }, { provider: dev });
    await assert.rejects(d.writeback(f), (e: { code?: string; hint?: string }) => {
      assert.equal(e.code, 'ERR_DMABUF_UNSUPPORTED');
      assert.match(e.hint ?? '', /connector: 'Writeback-1'/);
      return true;
    });
  });

  it('an unsignalled sw_sync in-fence holds the commit: its out-fence and the writeback wait until it signals', async function () {
    needsSwSync(this);
    using s = scene();
    await composeAndWriteBack(s); // the first picture on screen
    using tl = new Timeline();
    using fence = tl.fence();
    // the second picture: a plain colour on the primary plane, behind the in-fence
    using second = Frame.allocate({ width: W, height: H, format: 'XRGB8888' }, { provider: s.dev });
    paint(second, () => 0xff3366cc);
    using fb2 = s.dev.addFramebuffer(second);
    paint(s.frames[3]!, () => 0);
    const r = await s.display.commit([{ plane: s.display.primary!, fb: fb2, inFence: fence }],
      { nonblock: true, writeback: s.frames[3]! });
    assert.ok(r.outFence !== null);
    let completed = false;
    void r.completed.then(() => { completed = true; });
    await new Promise((ok) => setTimeout(ok, 500));
    assert.equal(r.outFence.info().status, 0, 'the out-fence is still pending while the in-fence is');
    assert.equal(completed, false, 'no flip-complete event yet');
    assert.equal(pixels(s.frames[3]!)[0], 0, 'the writeback has not run');
    // a blocking commit waits for the pending one; an in-fence closed meanwhile (its fd number free for
    // reuse) is not sent: the commit is refused and changes nothing
    const later = tl.fence();
    const queued = s.display.commit([{ plane: s.display.primary!, fb: s.fbs[0]!, inFence: later }]);
    later.close();
    tl.advance();
    assert.ok(await r.completed, 'the commit completes once the fence signals');
    await assert.rejects(queued, { code: 'ERR_DMABUF_CLOSED' });
    assert.equal(getBackend().kmsGetPlane(s.dev.fd, s.display.primary!.id).fbId, fb2.id, 'the primary still shows the held commit\'s fb');
    assert.equal(await r.outFence.wait({ timeout: 5000 }), true);
    await r.writeback;
    const got = pixels(s.frames[3]!);
    // the new primary, under the overlay and cursor that stayed
    assert.equal(got[0]! & 0xffffff, 0x3366cc);
    assert.equal(got[(H - 1) * W + (W - 1)]! & 0xffffff, 0x3366cc);
    assert.equal(got[OVERLAY.y * W + OVERLAY.x]! & 0xffffff, overlayPixel(0, 0) & 0xffffff);
    r.outFence.close();
  });

  it('TEST_ONLY: a scaled overlay is refused with the kernel\'s ERANGE, a valid one passes, and the screen is unchanged', async function () {
    using s = scene();
    const before = await composeAndWriteBack(s);
    const d = s.display;
    const e = await rejectsErrno(d.commit([{ plane: d.overlays[0]!, fb: s.fbs[1]!, x: 0, y: 0, width: OVERLAY.w * 2, height: OVERLAY.h * 2 }],
      { testOnly: true }), 'ERANGE', { syscall: 'ioctl(DRM_IOCTL_MODE_ATOMIC)' });
    assert.match((e as { hint?: string }).hint ?? '', /scale/);
    const ok = await d.commit([{ plane: d.overlays[0]!, fb: s.fbs[1]!, x: 500, y: 500 }], { testOnly: true });
    assert.equal(ok.outFence, null);
    assert.equal(await ok.completed, null);
    const r = await d.commit([], { writeback: s.frames[3]!, outFence: false });
    await r.writeback;
    assert.deepEqual(pixels(s.frames[3]!), before, 'the picture is the one before the tests');
    // a source rectangle past the framebuffer: ENOSPC
    await rejectsErrno(d.commit([{ plane: d.overlays[0]!, fb: s.fbs[1]!, src: { x: 100, width: 100 } }], { testOnly: true }), 'ENOSPC');
  });

  it('a file that is not the DRM master gets EACCES with a hint', async function () {
    using master = drm.open({ driver: 'vkms' });
    using other = drm.open({ driver: 'vkms' });
    assert.notEqual(master.fd, other.fd);
    using d = Display.open(other, { atomic: true });
    using f = Frame.allocate({ width: W, height: H, format: 'XRGB8888' }, { provider: other });
    using fb = other.addFramebuffer(f);
    const e = await rejectsErrno(d.commit([{ plane: d.primary!, fb }]), 'EACCES', { syscall: 'ioctl(DRM_IOCTL_MODE_ATOMIC)' });
    assert.match((e as { hint?: string }).hint ?? '', /master/);
  });

  it('bad arguments and states are coded errors before the kernel', async function () {
    using dev = drm.open({ driver: 'vkms' });
    using legacy = Display.open(dev);
    await assert.rejects(legacy.commit([]), { code: 'ERR_INVALID_STATE' });
    using d = Display.open(dev, { atomic: true });
    using f = Frame.allocate({ width: 64, height: 64, format: 'XRGB8888' }, { provider: dev });
    using fb = dev.addFramebuffer(f);
    const primary = d.primary!;
    await assert.rejects(d.commit('x' as never), { code: 'ERR_INVALID_ARG_TYPE' });
    await assert.rejects(d.commit([{ plane: 99999, fb }]), { code: 'ERR_INVALID_ARG_VALUE', message: /is not a plane of CRTC/ });
    await assert.rejects(d.commit([{ plane: primary, fb, properties: { nope: 1 } }]), { code: 'ERR_INVALID_ARG_VALUE', message: /is not a property/ });
    await assert.rejects(d.commit([{ plane: primary, fb, properties: { type: 'Overlay' } }]), { code: 'ERR_INVALID_ARG_VALUE', message: /immutable/ });
    await assert.rejects(d.commit([{ plane: primary, fb, properties: { rotation: 'spin' } }]), { code: 'ERR_INVALID_ARG_VALUE', message: /rotate-0/ });
    await assert.rejects(d.commit([{ plane: primary, fb, src: { x: 64 } }]), { code: 'ERR_OUT_OF_RANGE' });
    await assert.rejects(d.commit([{ plane: primary, fb, inFence: 3 as never }]), { code: 'ERR_INVALID_ARG_TYPE' });
    await assert.rejects(d.commit([], { testOnly: 1 as never }), { code: 'ERR_INVALID_ARG_TYPE' });
    await assert.rejects(d.writeback(f), { code: 'ERR_DMABUF_UNSUPPORTED' }, 'no writeback without { writeback: true }');
    throwsCode(() => Display.open(dev, { writeback: true }), 'ERR_INVALID_ARG_VALUE');
    using w = openScene(dev);
    await assert.rejects(w.writeback(f), { code: 'ERR_INVALID_ARG_VALUE', message: /mode's size/ });
  });

  it('the mock of this kernel writes back the same bytes as the kernel for the same commits', async function () {
    if (isMock()) {
      this.test!.title += ' (skipped: compares the mock with a real vkms, in the VM)';
      this.skip();
    }
    const native = getBackend();
    const run = async (): Promise<Uint32Array> => {
      using s = scene();
      return await composeAndWriteBack(s);
    };
    const kernel = await run();
    let mock: Uint32Array;
    setBackend(createMockBackend({ kernel: os.release() }));
    try {
      mock = await run();
    } finally {
      setBackend(native as Backend);
    }
    for (let i = 0; i < kernel.length; i++) {
      if (kernel[i] !== mock[i]) {
        assert.fail(`pixel (${i % W}, ${Math.floor(i / W)}): kernel ${kernel[i]!.toString(16)}, mock ${mock[i]!.toString(16)}`);
      }
    }
  });
});

