/**
 * Atomic display on vkms: the planes of the CRTC, commits of a primary plane, an overlay at an offset
 * and the cursor, proven pixel by pixel through the writeback connector; an unsignalled sw_sync
 * in-fence holding a commit until it signals; TEST_ONLY refusing what vkms cannot do with the
 * screen unchanged; EACCES for a file that is not the DRM master. In the VM the same commits also
 * run on the mock of the same kernel, and its writeback must equal the kernel's byte for byte.
 */
import assert from 'node:assert/strict';
import * as os from 'node:os';
import { DRM_MODE_CONNECTOR_WRITEBACK, DRM_MODE_OBJECT_PLANE } from '../src/constants';
import { Display, Frame, drm, getBackend, setBackend, type Backend, type Device, type Framebuffer } from '../src/index';
import { createMockBackend } from '../src/backend/mock';
import { Timeline } from './support/fences';
import { openWriteback, paint, pixels } from './support/writeback';
import { isMock, needsDriver, needsSwSync, rejectsErrno, throwsCode } from './support/index';

const W = 1024;
const H = 768;

interface Scene extends Disposable {
  dev: Device;
  display: Display;
  frames: Frame[];
  fbs: Framebuffer[];
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
function expected(x: number, y: number, primary = background): number | null {
  let px = primary(x, y);
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
    display = openWriteback(dev, W, H);
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

/** Every pixel of a written-back picture against the scene composed over `primary` (default: the background). */
/** A plane property's current value, read from the kernel (GETPROPERTIES), by name. */
function planeProperty(s: Scene, planeId: number, name: string): bigint | undefined {
  const plane = s.display.planes.find((p) => p.id === planeId)!;
  const got = getBackend().kmsGetProperties(s.dev.fd, planeId, DRM_MODE_OBJECT_PLANE);
  return got.values[got.ids.indexOf(plane.properties[name]!.id)];
}

function compare(got: Uint32Array, primary = background): { checked: number; skipped: number } {
  let checked = 0;
  let skipped = 0;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const want = expected(x, y, primary);
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
    // the client cap is set only when asked: this file's GETRESOURCES hides the writeback connector
    const connectorTypes = (f: number): number[] => b.kmsGetResources(f).connectors.map((id) => b.kmsGetConnector(f, id).type);
    assert.equal(connectorTypes(dev.fd).includes(DRM_MODE_CONNECTOR_WRITEBACK), false, 'no writeback connector listed without the cap');
    using dev2 = drm.open({ driver: 'vkms' });
    using d2 = Display.open(dev2, { atomic: true, writeback: true });
    assert.ok(d2.writebackConnector !== null);
    assert.equal(connectorTypes(dev2.fd).includes(DRM_MODE_CONNECTOR_WRITEBACK), true, 'listed once { writeback: true } set the cap');
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

  it('picks the CRTC through GETENCODER: the encoder\'s possible CRTCs, free ones first, options.crtc checked', function () {
    // vkms has one CRTC. A backend in front of the real one adds a CRTC (FAKE) before it, so that the
    // first CRTC of GETRESOURCES is never the right answer, and optionally another encoder using FAKE.
    const real = getBackend();
    const FAKE = 0x7ff0, FAKE_ENC = 0x7ff1;
    const view = (mineCanUseFake: boolean, fakeUsed: boolean): Backend => new Proxy(real, {
      get(target, key, receiver) {
        if (key === 'kmsGetResources') {
          return (fd: number) => {
            const r = target.kmsGetResources(fd);
            return { ...r, crtcs: [FAKE, ...r.crtcs], encoders: fakeUsed ? [...r.encoders, FAKE_ENC] : r.encoders };
          };
        }
        if (key === 'kmsGetEncoder') {
          return (fd: number, id: number) => {
            if (id === FAKE_ENC) return { id, type: 5, crtcId: FAKE, possibleCrtcs: 0b1, possibleClones: 0 };
            const e = target.kmsGetEncoder(fd, id);
            // the CRTC indexes move by one; crtcId 0: no current CRTC, so the choice is made
            return { ...e, crtcId: 0, possibleCrtcs: (e.possibleCrtcs << 1) | (mineCanUseFake ? 1 : 0) };
          };
        }
        if (key === 'kmsGetPlane') {
          return (fd: number, id: number) => {
            const pl = target.kmsGetPlane(fd, id);
            return { ...pl, possibleCrtcs: pl.possibleCrtcs << 1 };
          };
        }
        return Reflect.get(target, key, receiver) as unknown;
      },
    });
    const open = (b: Backend, options: Parameters<typeof Display.open>[1] = {}): number => {
      setBackend(b);
      try {
        using dev = drm.open({ driver: 'vkms' });
        using d = Display.open(dev, options);
        return d.crtcId;
      } finally {
        setBackend(real);
      }
    };
    const truth = open(real);
    assert.equal(open(view(false, false)), truth, 'the only CRTC the encoder can drive, not the first listed');
    assert.equal(open(view(false, false), { atomic: true }), truth, 'atomic too (its planes follow the CRTC index)');
    assert.equal(open(view(true, true)), truth, 'a CRTC another encoder uses is passed over for a free one');
    assert.match(throwsCode(() => open(view(false, false), { crtc: FAKE }), 'ERR_INVALID_ARG_VALUE').message,
      new RegExp(`cannot drive .*: its encoders can use CRTCs ${truth}\\. Received`));
    assert.match(throwsCode(() => open(view(false, false), { crtc: 0x7ffe }), 'ERR_INVALID_ARG_VALUE').message, /is not a CRTC of the card/);
    assert.equal(open(real, { crtc: truth }), truth, 'options.crtc names a CRTC the encoder can drive');
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
    // the commit-wide in-fence (options.inFence) applies to every plane assigned
    const r = await s.display.commit([{ plane: s.display.primary!, fb: fb2 }],
      { nonblock: true, writeback: s.frames[3]!, inFence: fence });
    assert.ok(r.outFence !== null);
    let completed = false;
    void r.completed.then(() => { completed = true; });
    await new Promise((ok) => setTimeout(ok, 500));
    assert.equal(r.outFence.info().status, 0, 'the out-fence is still pending while the in-fence is');
    assert.equal(completed, false, 'no flip-complete event yet');
    assert.equal(pixels(s.frames[3]!).findIndex((v) => v !== 0), -1, 'the writeback has not written a single pixel');
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
    // the whole picture: the new primary, under the overlay and cursor that stayed
    const { checked } = compare(pixels(s.frames[3]!), () => 0xff3366cc);
    assert.equal(checked, W * H - CURSOR.w);
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
    // a source rectangle past the framebuffer: ENOSPC
    await rejectsErrno(d.commit([{ plane: d.overlays[0]!, fb: s.fbs[1]!, src: { x: 100, width: 100 } }], { testOnly: true }), 'ENOSPC');
    const b = getBackend();
    const overlay = b.kmsGetPlane(s.dev.fd, d.overlays[0]!.id);
    assert.equal(overlay.fbId, s.fbs[1]!.id, 'the overlay still shows its framebuffer');
    assert.equal(planeProperty(s, d.overlays[0]!.id, 'CRTC_X'), BigInt(OVERLAY.x), 'at its place');
    // written back again into a cleared frame: the same picture, pixel for pixel
    paint(s.frames[3]!, () => 0);
    const r = await d.commit([], { writeback: s.frames[3]!, outFence: false });
    await r.writeback;
    assert.deepEqual(pixels(s.frames[3]!), before, 'the picture is the one before the tests');
  });

  it('sets plane properties by name (rotation); a vkms without line-per-line composition refuses a turned top plane with writeback', async function () {
    using s = scene();
    const d = s.display;
    const [primary, overlay, cursor] = assignments(s) as [Parameters<Display['commit']>[0][0], Parameters<Display['commit']>[0][0], Parameters<Display['commit']>[0][0]];
    const writeBack = async (assign: Parameters<Display['commit']>[0]): Promise<(x: number, y: number) => number> => {
      paint(s.frames[3]!, () => 0);
      const r = await d.commit(assign, { writeback: s.frames[3]! });
      r.outFence?.close();
      await r.writeback;
      const got = pixels(s.frames[3]!);
      return (x, y) => got[y * W + x]! & 0xffffff;
    };
    const corners = [[0, 0], [159, 119], [37, 90], [100, 5]] as const;
    // turned 180 degrees under the cursor (the top plane)
    let at = await writeBack([primary, { ...overlay, properties: { rotation: 'rotate-180' } }, cursor]);
    for (const [x, y] of corners) {
      assert.equal(at(OVERLAY.x + x, OVERLAY.y + y), overlayPixel(OVERLAY.w - 1 - x, OVERLAY.h - 1 - y) & 0xffffff, `rotate-180 overlay at (${x}, ${y})`);
    }
    assert.equal(at(CURSOR.x, CURSOR.y), cursorPixel(0, 0) & 0xffffff, 'the cursor on top');
    assert.equal(planeProperty(s, d.overlays[0]!.id, 'rotation'), 4n, 'DRM_MODE_ROTATE_180 is set');
    // on top (the cursor off): rotate-180|reflect-y is reflect-x, which every vkms writes back in place
    at = await writeBack([primary, { ...overlay, properties: { rotation: 'rotate-180|reflect-y' } }, { plane: d.cursor!, fb: null }]);
    for (const [x, y] of corners) {
      assert.equal(at(OVERLAY.x + x, OVERLAY.y + y), overlayPixel(OVERLAY.w - 1 - x, y) & 0xffffff, `mirrored overlay at (${x}, ${y})`);
    }
    assert.equal(at(CURSOR.x, CURSOR.y), background(CURSOR.x, CURSOR.y) & 0xffffff, 'the cursor is off (fb: null)');
    // on top and turned: 6.12's vkms would write the rows outside the frame
    const legacy = !d.planes.some((p) => p.formats.includes('NV12'));
    const turned = (): Parameters<Display['commit']>[0] => [{ ...overlay, properties: { rotation: 'rotate-180' } }];
    if (legacy) {
      await assert.rejects(writeBack(turned()), (e: { code?: string; message?: string; hint?: string }) => {
        assert.equal(e.code, 'ERR_DMABUF_UNSUPPORTED');
        assert.match(e.message ?? '', /topmost plane \(overlay \d+\) is rotate-180/);
        assert.match(e.hint ?? '', /unrotated plane above it/);
        return true;
      });
      assert.equal(planeProperty(s, d.overlays[0]!.id, 'rotation'), 0x24n, 'nothing was sent: still rotate-180|reflect-y');
      await assert.rejects(d.commit([{ ...overlay, properties: { rotation: 'rotate-90' } }], { writeback: s.frames[3]!, testOnly: true }),
        { code: 'ERR_DMABUF_UNSUPPORTED' }, 'TEST_ONLY says the same');
      // without writeback nothing is written back: the same commit is taken
      const r = await d.commit(turned());
      r.outFence?.close();
      assert.equal(planeProperty(s, d.overlays[0]!.id, 'rotation'), 4n);
      this.test!.title += ' (this vkms: refused)';
    } else {
      at = await writeBack(turned());
      for (const [x, y] of corners) {
        assert.equal(at(OVERLAY.x + x, OVERLAY.y + y), overlayPixel(OVERLAY.w - 1 - x, OVERLAY.h - 1 - y) & 0xffffff, `rotate-180 top overlay at (${x}, ${y})`);
      }
      assert.equal(at(0, H - 1), background(0, H - 1) & 0xffffff, 'the rows outside the plane are in place');
      this.test!.title += ' (this vkms: written back in place)';
    }
  });

  it('show() and flip() work on an atomic Display, and a commit after them', async function () {
    using dev = drm.open({ driver: 'vkms' });
    using d = Display.open(dev, { atomic: true });
    const frames = [0xff102030, 0xff405060].map((c) => {
      const f = Frame.allocate({ width: d.mode.width, height: d.mode.height, format: 'XRGB8888' }, { provider: dev });
      paint(f, () => c);
      return f;
    });
    try {
      using a = dev.addFramebuffer(frames[0]!);
      using b = dev.addFramebuffer(frames[1]!);
      const shown = (): number => getBackend().kmsGetPlane(dev.fd, d.primary!.id).fbId;
      d.show(a);
      assert.equal(shown(), a.id, 'show(): SETCRTC put the fb on the primary plane');
      assert.equal(d.current, a);
      await d.flip(b);
      assert.equal(shown(), b.id, 'flip(): the page flip completed');
      const r = await d.commit([{ plane: d.primary!, fb: a }]);
      r.outFence?.close();
      assert.equal(shown(), a.id, 'an atomic commit after the legacy calls');
    } finally {
      for (const f of frames) f.close();
    }
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
    using w = openWriteback(dev, W, H);
    await assert.rejects(w.writeback(f), { code: 'ERR_INVALID_ARG_VALUE', message: /mode's size/ });
  });

  it('the mock of this kernel writes back the same bytes as the kernel for the same commits', async function () {
    if (isMock()) {
      this.test!.title += ' (skipped: compares the mock with a real vkms, in the VM)';
      this.skip();
    }
    needsSwSync(this);
    const native = getBackend();
    /** One sequence of commits; what it saw: every picture written back, and the errors and fence states on the way. */
    const run = async (): Promise<{ pictures: Uint32Array[]; trace: string[] }> => {
      using s = scene();
      const d = s.display;
      const wb = s.frames[3]!;
      const pictures = [await composeAndWriteBack(s)];
      const trace: string[] = [];
      const writeBack = async (assign: Parameters<Display['commit']>[0], options: Parameters<Display['commit']>[1] = {}): Promise<void> => {
        paint(wb, () => 0);
        const r = await d.commit(assign, { ...options, writeback: wb });
        trace.push(`out-fence ${r.outFence?.info().status ?? 'none'}`);
        r.outFence?.close();
        await r.writeback;
        pictures.push(pixels(wb));
      };
      // the overlay turned by name, the cursor partly off the top-left corner
      await writeBack([{ ...assignments(s)[1]!, properties: { rotation: 'rotate-180' } },
        { plane: d.cursor!, fb: s.fbs[2]!, x: -20, y: -30 }]);
      // a refused TEST_ONLY, then the unchanged picture
      try {
        await d.commit([{ plane: d.overlays[0]!, fb: s.fbs[1]!, width: OVERLAY.w * 2, height: OVERLAY.h * 2 }], { testOnly: true });
        trace.push('scaled overlay: taken');
      } catch (e) {
        trace.push(`scaled overlay: ${(e as { code?: string }).code}`);
      }
      await writeBack([]);
      // a commit held by an unsignalled fence, then signalled
      using tl = new Timeline();
      using fence = tl.fence();
      using second = Frame.allocate({ width: W, height: H, format: 'XRGB8888' }, { provider: s.dev });
      paint(second, (x, y) => 0xff000000 | ((y & 0xff) << 16) | (x & 0xff));
      using fb2 = s.dev.addFramebuffer(second);
      paint(wb, () => 0);
      const r = await d.commit([{ plane: d.primary!, fb: fb2 }], { nonblock: true, inFence: fence, writeback: wb });
      await new Promise((ok) => setTimeout(ok, 200));
      trace.push(`held: out-fence ${r.outFence!.info().status}, written ${pixels(wb).some((v) => v !== 0)}`);
      tl.advance();
      await r.completed;
      trace.push(`signalled: out-fence ${await r.outFence!.wait({ timeout: 5000 })}`);
      r.outFence!.close();
      await r.writeback;
      pictures.push(pixels(wb));
      return { pictures, trace };
    };
    const kernel = await run();
    let mock: Awaited<ReturnType<typeof run>>;
    setBackend(createMockBackend({ kernel: os.release() }));
    try {
      mock = await run();
    } finally {
      setBackend(native as Backend);
    }
    assert.deepEqual(mock.trace, kernel.trace, 'the same errors and fence states');
    assert.deepEqual(kernel.trace, ['out-fence 1', 'scaled overlay: ERANGE', 'out-fence 1', 'held: out-fence 0, written false', 'signalled: out-fence true']);
    assert.equal(mock.pictures.length, 4);
    kernel.pictures.forEach((k, n) => {
      const m = mock.pictures[n]!;
      for (let i = 0; i < k.length; i++) {
        if (k[i] !== m[i]) {
          assert.fail(`picture ${n}, pixel (${i % W}, ${Math.floor(i / W)}): kernel ${k[i]!.toString(16)}, mock ${m[i]!.toString(16)}`);
        }
      }
    });
    assert.notDeepEqual(kernel.pictures[1], kernel.pictures[0], 'the rotated overlay changed the picture');
    assert.deepEqual(kernel.pictures[2], kernel.pictures[1], 'the refused TEST_ONLY changed nothing');
  });
});

