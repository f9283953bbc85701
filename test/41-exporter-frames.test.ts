/**
 * The Exporter sharing frames: `new Exporter({ frame })` backs an image (one buffer, planes at
 * offsets) from the first provider that serves every attachment; the CPU, DRM devices and Displays
 * map it. A Display's map is the frame's framebuffer (ADDFB2), made once and handed out again; a
 * device that refuses the frame (ADDFB2's EINVAL for a format no plane takes) rules the provider out
 * with the kernel's errno; a move copies the image row by row between providers. On both backends;
 * the vkms cases in the VM.
 */
import assert from 'node:assert/strict';
import { Display, Exporter, drm, heaps, type ConstraintsError } from '../src/index';
import { inVm, needsDriver, needsUdmabuf, throwsCode } from './support/index';

function needsCma(ctx: Mocha.Context): void {
  if (heaps.list().some((h) => h.contiguous)) return;
  if (inVm && process.env.DMABUF_VM_CMA !== '0') assert.fail('no CMA heap in the VM');
  if (ctx.test) ctx.test.title += ` (skipped: no CMA heap on ${process.env.DMABUF_VM_KERNEL ?? 'this machine'})`;
  ctx.skip();
}

/** A byte per pixel row position: row y of plane i holds (y * 7 + i * 31 + x) & 0xff in its first `row` bytes. */
function paint(bytes: Uint8Array, planes: readonly { offset: number; pitch: number; size: number }[], row: (i: number) => number): void {
  planes.forEach((p, i) => {
    for (let y = 0; y < p.size / p.pitch; y++) {
      for (let x = 0; x < row(i); x++) bytes[p.offset + y * p.pitch + x] = (y * 7 + i * 31 + x) & 0xff;
    }
  });
}

function unpainted(bytes: Uint8Array, planes: readonly { offset: number; pitch: number; size: number }[], row: (i: number) => number): string | null {
  for (let i = 0; i < planes.length; i++) {
    const p = planes[i]!;
    for (let y = 0; y < p.size / p.pitch; y++) {
      for (let x = 0; x < row(i); x++) {
        if (bytes[p.offset + y * p.pitch + x] !== ((y * 7 + i * 31 + x) & 0xff)) return `plane ${i} row ${y} byte ${x}`;
      }
    }
  }
  return null;
}

describe('Exporter of frames', function () {
  beforeEach(function () {
    Exporter.forget(); // refusals learned by earlier files' exporters
  });

  it('arguments: one of size and frame; an image format; Displays and layouts where they fit', function () {
    const E = (o: unknown) => () => new Exporter(o as never);
    throwsCode(E({}), 'ERR_INVALID_ARG_VALUE', TypeError);
    throwsCode(E({ size: 4096, frame: { width: 64, height: 64, format: 'NV12' } }), 'ERR_INVALID_ARG_VALUE', TypeError);
    throwsCode(E({ frame: { width: 0, height: 64, format: 'NV12' } }), 'ERR_OUT_OF_RANGE', RangeError);
    throwsCode(E({ frame: { width: 64, height: 64, format: 7 as never } }), 'ERR_INVALID_ARG_VALUE');
    throwsCode(E({ frame: { width: 64, height: 64, format: {} } }), 'ERR_INVALID_ARG_TYPE', TypeError);
    throwsCode(E({ frame: { width: 64, height: 64, format: 'FWHT' } }), 'ERR_INVALID_ARG_VALUE', TypeError);
    using exp = new Exporter({ frame: { width: 64, height: 48, format: 'NV12' } });
    assert.deepEqual(exp.frame, { width: 64, height: 48, format: 'NV12' });
    assert.equal(exp.size, 64 * 48 * 3 / 2, 'the tightest layout: Y then interleaved CbCr');
    throwsCode(() => exp.attach('cpu', { layout: { width: 64, height: 48, bpp: 32 } }), 'ERR_INVALID_ARG_VALUE', TypeError);
    using bytes = new Exporter({ size: 4096 });
    assert.equal(bytes.frame, null);
  });

  it('every map gives the same Frame over the backing, and the CPU mapping covers its planes', function () {
    needsUdmabuf(this);
    using exp = new Exporter({ frame: { width: 320, height: 240, format: 'NV12' }, providers: ['udmabuf'] });
    const cpu = exp.attach('cpu');
    const m = cpu.map();
    assert.ok(m.frame !== null);
    const f = m.frame;
    assert.deepEqual([f.width, f.height, f.format.name, f.planes.length, f.buffers.length], [320, 240, 'NV12', 2, 1]);
    assert.equal(f.buffers[0]!.inode, exp.backing!.inode, 'the frame is over the backing');
    assert.deepEqual(exp.backing!.frame, { width: 320, height: 240, format: 'NV12', planes: f.planes.map((p) => ({ offset: p.offset, pitch: p.pitch, size: p.size })) });
    assert.ok(m.mapping.bytes.length >= f.planes[1]!.offset + f.planes[1]!.size, 'the mapping covers both planes');
    cpu.unmap();
    const again = cpu.map();
    assert.equal(again.frame, f, 'the same Frame');
    assert.equal(again.mapping, m.mapping, 'the same Mapping');
    assert.deepEqual([exp.stats().hits, exp.stats().misses, exp.stats().allocations], [1, 1, 1]);
  });

  it('a DRM device maps the frame as a GEM handle of its backing (vgem)', function () {
    needsDriver(this, 'vgem');
    using dev = drm.open({ driver: 'vgem' });
    using exp = new Exporter({ frame: { width: 64, height: 32, format: 'XRGB8888' }, providers: ['heap:system', 'udmabuf'] });
    const gpu = exp.attach(dev);
    const m = gpu.map();
    assert.equal(m.kind, 'device');
    assert.ok(m.frame !== null);
    assert.equal(m.handle.inode, m.frame.buffers[0]!.inode);
    assert.deepEqual(exp.backing!.kernelAttachments, ['vgem'], 'vgem holds a kernel attachment of the backing');
  });

  it('a Display gets the frame\'s framebuffer, made once, and shows it (vkms)', function () {
    needsDriver(this, 'vkms');
    using dev = drm.open({ driver: 'vkms' });
    using display = Display.open(dev);
    const { width, height } = display.mode;
    using exp = new Exporter({ frame: { width, height, format: 'XRGB8888' } });
    const screen = exp.attach(display);
    const cpu = exp.attach('cpu');
    assert.equal(screen.kind, 'display');
    assert.equal(screen.device?.path, dev.path);
    const c = cpu.map();
    c.mapping.bytes.fill(0x40);
    cpu.unmap();
    const s = screen.map();
    assert.equal(s.kind, 'framebuffer');
    assert.equal(s.fb.frame, s.frame, 'the framebuffer is of the exporter\'s frame');
    assert.deepEqual([s.fb.width, s.fb.height, s.fb.format], [width, height, 'XRGB8888']);
    display.show(s.fb);
    assert.equal(display.state().fbId, s.fb.id);
    screen.unmap();
    const syscalls = exp.stats().syscalls;
    const again = screen.map();
    assert.equal(again.fb, s.fb, 'the same framebuffer: no second ADDFB2');
    assert.equal(exp.stats().syscalls, syscalls, 'a hit makes no syscall');
    screen.unmap();
    exp.detach(screen);
    assert.equal(s.fb.released, true, 'detaching the only Display attachment releases its framebuffer');
  });

  it('a format no plane of the device takes: each provider is ruled out with ADDFB2\'s EINVAL', function () {
    needsDriver(this, 'vkms');
    needsUdmabuf(this);
    using dev = drm.open({ driver: 'vkms' });
    using display = Display.open(dev);
    using exp = new Exporter({ frame: { width: 64, height: 64, format: 'YUYV' }, providers: ['udmabuf', 'heap:system'] });
    const screen = exp.attach(display);
    const e = throwsCode(() => screen.map(), 'ERR_DMABUF_CONSTRAINTS') as ConstraintsError;
    const imports = e.conflicts.filter((c) => c.constraint === 'import');
    assert.ok(imports.length >= 1, JSON.stringify(e.conflicts));
    for (const c of imports) {
      assert.deepEqual([c.code, c.device, c.attachment], ['EINVAL', dev.path, screen.id]);
      assert.match(c.reason, /cannot make a framebuffer of it \(ADDFB2\)/);
    }
    assert.equal(exp.backing, null, 'nothing is kept');
  });

  it('a late contiguous attacher moves the frame to a CMA heap; the image is copied row by row', function () {
    needsUdmabuf(this);
    needsCma(this);
    using exp = new Exporter({ frame: { width: 334, height: 101, format: 'NV12' }, providers: ['udmabuf', 'heap:contiguous'] });
    const cpu = exp.attach('cpu');
    const row = (): number => 334; // Y: a byte per pixel; CbCr: 167 pairs
    const m = cpu.map();
    const from = exp.backing!;
    assert.equal(from.provider, 'udmabuf');
    m.frame!.buffers[0]!.access('write', (bytes) => paint(bytes, m.frame!.planes, row));
    cpu.unmap();
    const moves: string[] = [];
    exp.on('move', (ev) => moves.push(`${ev.from.provider} -> ${ev.to.provider}`));
    exp.attach('cpu', { contiguous: true });
    assert.deepEqual(moves, ['udmabuf -> heap:contiguous']);
    const after = cpu.map();
    assert.equal(after.moved, true);
    assert.notEqual(after.frame, m.frame, 'a new Frame over the new backing');
    assert.equal(after.frame!.buffers[0]!.inode, exp.backing!.inode);
    assert.equal(after.frame!.buffers[0]!.access('read', (bytes) => unpainted(bytes, after.frame!.planes, row)), null);
  });
});
