/**
 * Display (KMS) contract tests: modesetting on vkms (a real virtual display in the VM, the mock's
 * model of it elsewhere), the kernel's refusals (errno as vkms gives them on 6.12 and 7.2), and vgem,
 * which has no KMS at all.
 */
import assert from 'node:assert/strict';
import { drm, Device, Display, Framebuffer } from '../src/index';
import { waitReadable } from '../src/wait';
import { vkmsCrc } from './support/crc';
import { backend, failsWhilePending, isMock, needsDriver, throwsCode, throwsErrno, rejectsErrno } from './support/index';

const RED = 0x00ff0000;
const BLUE = 0x000000ff;

function vkms(ctx: Mocha.Context): Device {
  needsDriver(ctx, 'vkms');
  return drm.open({ driver: 'vkms' });
}

function paint(fb: Framebuffer, xrgb: number): void {
  fb.draw((bytes) => new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >>> 2).fill(xrgb));
}

/** Drain the flip event of a raw PAGE_FLIP made by a test. */
async function drainFlip(dev: Device, userData: number): Promise<void> {
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    await waitReadable(backend(), dev.fd, 1 /* POLLIN */, { timeout: 1000 });
    if (backend().drmReadEvents(dev.fd).some((e) => e.userData === userData)) return;
  }
  assert.fail('no flip event');
}

describe('Display (KMS)', function () {
  it('opens the first connected connector with its preferred mode (vkms: Virtual, 1024x768)', function () {
    using dev = vkms(this);
    using d = Display.open(dev);
    assert.match(d.connector.name, /^Virtual-\d+$/);
    assert.equal(d.connector.connected, true);
    assert.ok(d.connector.modes.length > 1);
    assert.deepEqual([d.mode.width, d.mode.height, d.mode.name, d.mode.preferred], [1024, 768, '1024x768', true]);
    assert.equal(d.mode.refresh, 60);
    assert.ok(d.crtcId > 0);
    // other modes by name or size
    using d2 = Display.open(dev, { mode: { width: 800, height: 600 } });
    assert.equal(d2.mode.name, '800x600');
    using d3 = Display.open(dev, { connector: d.connector.name, mode: '640x480' });
    assert.equal(d3.mode.height, 480);
    using d4 = Display.open(dev, { connector: d.connector.id, crtc: d.crtcId });
    assert.equal(d4.mode.name, '1024x768');
  });

  it('shows one framebuffer, flips to another 3 times: events in order, GETCRTC shows the expected fb', async function () {
    using dev = vkms(this);
    using d = Display.open(dev);
    const a = d.createFramebuffer();
    const b = d.createFramebuffer();
    assert.deepEqual([a.width, a.height, a.format], [1024, 768, 'XRGB8888']);
    assert.ok(a.pitch >= 1024 * 4);
    assert.notEqual(a.id, b.id);
    assert.ok(backend().kmsGetResources(dev.fd).fbs.includes(a.id));
    paint(a, RED);
    paint(b, BLUE);
    // the same pages through the dumb buffer's own mapping
    using ma = a.buffer!.map();
    assert.equal(new Uint32Array(ma.bytes.buffer, ma.bytes.byteOffset, 4)[3], RED);

    d.show(a);
    assert.equal(d.current, a);
    assert.deepEqual(d.state(), { fbId: a.id, mode: '1024x768', x: 0, y: 0 });
    const seq: number[] = [];
    const times: number[] = [];
    const order = [b, a, b];
    for (const fb of order) {
      const t0 = Date.now();
      const r = await d.flip(fb);
      assert.equal(r.crtcId, d.crtcId);
      assert.ok(Date.now() - t0 < 5000);
      seq.push(r.sequence);
      times.push(r.timestamp);
      assert.equal(d.current, fb);
      assert.equal(d.state().fbId, fb.id, 'the CRTC scans out the flipped-to framebuffer');
    }
    for (let i = 1; i < seq.length; i++) {
      assert.ok(seq[i] > seq[i - 1], `vblank sequence increases: ${seq}`);
      assert.ok(times[i] > times[i - 1], `timestamps increase: ${times}`);
    }
    this.test!.title += ` (sequences ${seq.join(',')}, ${(times[2] - times[0]).toFixed(1)} ms for 2 flips)`;
  });

  it('CRC (vkms debugfs): differently coloured framebuffers give different CRCs', async function () {
    using dev = vkms(this);
    const crc = vkmsCrc(this, dev);
    try {
      using d = Display.open(dev);
      const red = d.createFramebuffer();
      const blue = d.createFramebuffer();
      paint(red, RED);
      paint(blue, BLUE);
      const crcRed = await crc.show(d, red);
      const crcBlue = await crc.show(d, blue);
      const crcRedAgain = await crc.show(d, red);
      assert.notEqual(crcBlue, crcRed, 'blue and red frames have different CRCs');
      assert.equal(crcRedAgain, crcRed, 'red again: the same CRC');
      this.test!.title += ` (red 0x${crcRed}, blue 0x${crcBlue})`;
    } finally {
      crc.close();
    }
  });

  it('framebuffers: release is idempotent; releasing the shown one blanks the CRTC (fb 0, then flip EBUSY); a small fb → ENOSPC', async function () {
    using dev = vkms(this);
    using d = Display.open(dev);
    const a = d.createFramebuffer();
    d.show(a);
    a.release();
    a.release();
    assert.equal(a.released, true);
    assert.equal(d.current, null);
    // RMFB of the scanned-out fb takes it off the primary plane; the CRTC stays enabled (its mode is
    // still reported, 6.12 and 7.2 alike) but a flip has nothing to flip from
    assert.deepEqual(d.state(), { fbId: 0, mode: '1024x768', x: 0, y: 0 });
    const c = d.createFramebuffer();
    await rejectsErrno(d.flip(c), 'EBUSY', { syscall: 'ioctl(DRM_IOCTL_MODE_PAGE_FLIP)', path: dev.path });
    throwsCode(() => d.show(a), 'ERR_DMABUF_CLOSED');
    throwsCode(() => a.draw(() => 0), 'ERR_DMABUF_CLOSED');
    const small = d.createFramebuffer({ width: 64, height: 64 });
    assert.deepEqual([small.width, small.height], [64, 64]);
    const e = throwsErrno(() => d.show(small), 'ENOSPC', { syscall: 'ioctl(DRM_IOCTL_MODE_SETCRTC)', path: dev.path });
    assert.ok((e as { hint?: string }).hint);
  });

  it('close() releases every framebuffer (RMFB, dumb buffers), is idempotent; use after close → ERR_DMABUF_CLOSED', async function () {
    using dev = vkms(this);
    const d = Display.open(dev);
    const a = d.createFramebuffer();
    const b = d.createFramebuffer({ format: 'ARGB8888' });
    d.show(a);
    const ids = [a.id, b.id];
    d.close();
    d.close();
    assert.equal(d.closed, true);
    assert.equal(a.released && b.released, true);
    const left = backend().kmsGetResources(dev.fd).fbs;
    assert.ok(!ids.some((id) => left.includes(id)), `fbs removed: ${left}`);
    assert.equal(dev.handles.size, 0, 'dumb buffers destroyed');
    throwsCode(() => d.createFramebuffer(), 'ERR_DMABUF_CLOSED');
    throwsCode(() => d.show(a), 'ERR_DMABUF_CLOSED');
    await assert.rejects(d.flip(a), { code: 'ERR_DMABUF_CLOSED' });
  });

  it('arguments are checked before any ioctl', async function () {
    using dev = vkms(this);
    throwsCode(() => Display.open(5 as unknown as Device), 'ERR_INVALID_ARG_TYPE', TypeError);
    throwsCode(() => Display.open(dev, null as unknown as object), 'ERR_INVALID_ARG_TYPE', TypeError);
    throwsCode(() => Display.open(dev, { connector: -1 }), 'ERR_OUT_OF_RANGE', RangeError);
    throwsCode(() => Display.open(dev, { crtc: 1.5 }), 'ERR_OUT_OF_RANGE', RangeError);
    throwsCode(() => Display.open(dev, { mode: '13x13' }), 'ERR_INVALID_ARG_VALUE', TypeError);
    throwsCode(() => Display.open(dev, { mode: { width: '1024' as unknown as number, height: 768 } }), 'ERR_INVALID_ARG_TYPE', TypeError);
    throwsCode(() => Display.open(dev, { mode: { width: 1000, height: 700 } }), 'ERR_INVALID_ARG_VALUE', TypeError);
    throwsCode(() => Display.open(dev, { crtc: 0xfffff }), 'ERR_INVALID_ARG_VALUE', TypeError);
    const nf = throwsCode(() => Display.open(dev, { connector: 'HDMI-A-9' }), 'ERR_DMABUF_NOT_FOUND');
    assert.equal((nf as { path?: string }).path, dev.path);
    throwsErrno(() => Display.open(dev, { connector: 0xfffff }), 'ENOENT',
      { syscall: 'ioctl(DRM_IOCTL_MODE_GETCONNECTOR)', path: dev.path });
    using d = Display.open(dev);
    throwsCode(() => d.createFramebuffer({ width: 0 }), 'ERR_OUT_OF_RANGE', RangeError);
    throwsCode(() => d.createFramebuffer({ format: 'NV12' as 'XRGB8888' }), 'ERR_INVALID_ARG_VALUE', TypeError);
    throwsCode(() => d.show({} as Framebuffer), 'ERR_INVALID_ARG_TYPE', TypeError);
    const fb = d.createFramebuffer();
    await assert.rejects(d.flip(fb, { timeout: -1 }), { code: 'ERR_OUT_OF_RANGE' });
    // a framebuffer belongs to the file that added it: another file of the card is refused before SETCRTC
    using dev2 = drm.open(dev.path);
    using other = Display.open(dev2);
    throwsCode(() => other.show(fb), 'ERR_INVALID_ARG_VALUE', TypeError);
    // the raw backend refuses what would be unsafe
    throwsCode(() => backend().kmsAddFb2(dev.fd, 64, 64, 0x34325258, [1, 2, 3, 4, 5], [256], [0], [], 0), 'ERR_OUT_OF_RANGE', RangeError);
    throwsCode(() => backend().kmsSetCrtc(dev.fd, d.crtcId, fb.id, 0, 0, 'x' as unknown as number[], null), 'ERR_INVALID_ARG_TYPE', TypeError);
    throwsCode(() => backend().kmsSetCrtc(dev.fd, d.crtcId, fb.id, 0, 0, [d.connector.id], { ...d.mode.info, hdisplay: -1 }),
      'ERR_OUT_OF_RANGE', RangeError);
  });

  it('kernel refusals as vkms gives them: unknown ids ENOENT, flip on an off CRTC EBUSY, flip while pending EBUSY', async function () {
    using dev = vkms(this);
    using d = Display.open(dev);
    const b = backend();
    const fd = dev.fd;
    const a = d.createFramebuffer();
    const c = d.createFramebuffer();
    const conn = [d.connector.id];
    const mode = d.mode.info;
    const SET = { syscall: 'ioctl(DRM_IOCTL_MODE_SETCRTC)' };
    const FLIP = { syscall: 'ioctl(DRM_IOCTL_MODE_PAGE_FLIP)' };
    throwsErrno(() => b.kmsSetCrtc(fd, d.crtcId, 0xfffff, 0, 0, conn, mode), 'ENOENT', SET);
    throwsErrno(() => b.kmsSetCrtc(fd, 0xfffff, a.id, 0, 0, conn, mode), 'ENOENT', SET);
    throwsErrno(() => b.kmsSetCrtc(fd, d.crtcId, a.id, 0, 0, [0xfffff], mode), 'ENOENT', SET);
    throwsErrno(() => b.kmsSetCrtc(fd, d.crtcId, a.id, 0, 0, [], mode), 'EINVAL', SET);
    throwsErrno(() => b.kmsGetCrtc(fd, 0xfffff), 'ENOENT', { syscall: 'ioctl(DRM_IOCTL_MODE_GETCRTC)' });
    throwsErrno(() => b.kmsRmFb(fd, 0xfffff), 'ENOENT', { syscall: 'ioctl(DRM_IOCTL_MODE_RMFB)' });
    throwsErrno(() => b.kmsAddFb2(fd, 64, 64, 0x34325258, [0x7fff], [256], [0], [], 0), 'ENOENT', { syscall: 'ioctl(DRM_IOCTL_MODE_ADDFB2)' });
    throwsErrno(() => b.kmsAddFb2(fd, 64, 64, 0x12345678, [a.buffer!.handle], [256], [0], [], 0), 'EINVAL');
    throwsErrno(() => b.kmsAddFb2(fd, 64, 64, 0x34325258, [a.buffer!.handle], [16], [0], [], 0), 'EINVAL');

    // CRTC off (SETCRTC without mode or connectors), then a flip: EBUSY
    b.kmsSetCrtc(fd, d.crtcId, 0, 0, 0, [], null);
    assert.equal(d.state().fbId, 0);
    throwsErrno(() => b.kmsPageFlip(fd, d.crtcId, a.id, 1, 7), 'EBUSY', FLIP);
    const e = await rejectsErrno(d.flip(a), 'EBUSY', { ...FLIP, path: dev.path });
    assert.match((e as { hint?: string }).hint ?? '', /show\(\)/);

    d.show(a);
    throwsErrno(() => b.kmsPageFlip(fd, 0xfffff, c.id, 1, 7), 'ENOENT', FLIP);
    throwsErrno(() => b.kmsPageFlip(fd, d.crtcId, 0xfffff, 1, 7), 'ENOENT', FLIP);
    throwsErrno(() => b.kmsPageFlip(fd, d.crtcId, c.id, 0x80000000, 7), 'EINVAL', FLIP);
    await failsWhilePending(b, fd, () => b.kmsPageFlip(fd, d.crtcId, c.id, 1, 0x7777), () => b.kmsPageFlip(fd, d.crtcId, a.id, 1, 7),
      [0x7777, 7], 'EBUSY', FLIP);
    await drainFlip(dev, 0x7777);
    assert.deepEqual(b.drmReadEvents(fd), []);
    assert.equal(d.state().fbId, c.id);
  });

  it('modesetting needs the DRM master: a second file of the card gets EACCES', function () {
    using dev = vkms(this);
    using dev2 = drm.open(dev.path);
    using d2 = Display.open(dev2); // reading resources needs no master
    const fb = d2.createFramebuffer(); // nor does ADDFB2
    const e = throwsErrno(() => d2.show(fb), 'EACCES', { syscall: 'ioctl(DRM_IOCTL_MODE_SETCRTC)', path: dev.path });
    assert.match((e as { hint?: string }).hint ?? '', /master/);
    // framebuffers belong to the file that added them
    throwsErrno(() => backend().kmsRmFb(dev.fd, fb.id), 'ENOENT');
    using d = Display.open(dev);
    const mine = d.createFramebuffer();
    d.show(mine);
    assert.equal(d.state().fbId, mine.id);
  });

  it('vgem has no KMS: GETRESOURCES → EOPNOTSUPP; a render node → EACCES', function () {
    needsDriver(this, 'vgem');
    using dev = drm.open({ driver: 'vgem' });
    const e = throwsErrno(() => Display.open(dev), 'EOPNOTSUPP',
      { syscall: 'ioctl(DRM_IOCTL_MODE_GETRESOURCES)', path: dev.path });
    assert.match((e as { hint?: string }).hint ?? '', /no modesetting/);
    throwsErrno(() => backend().kmsPageFlip(dev.fd, 1, 1, 1, 1), 'EOPNOTSUPP');
    assert.deepEqual(backend().drmReadEvents(dev.fd), []);
    using render = drm.open({ driver: 'vgem', kind: 'render' });
    throwsErrno(() => Display.open(render), 'EACCES', { path: render.path });
  });
});
