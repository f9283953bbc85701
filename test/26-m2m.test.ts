/**
 * Memory-to-memory V4L2 devices through the library: vim2m, the kernel's virtual converter. Our
 * dma-bufs go in on its output queue (what the device reads) and come out on its capture queue (what
 * it writes); the result is compared with the conversion computed here from the formats' definitions.
 *
 * The mock models no M2M device: on it these tests say so and skip.
 */
import assert from 'node:assert/strict';
import { Frame, v4l2, type FrameDescription, type VideoDevice, type VideoDeviceInfo } from '../src/index';
import { isMock, needsUdmabuf, skip } from './support/index';

function node(ctx: Mocha.Context, driver: string): VideoDeviceInfo {
  if (isMock()) {
    ctx.test!.title += ' (skipped: the mock models no memory-to-memory device)';
    ctx.skip();
  }
  const d = v4l2.list().find((x) => x.driver === driver && x.m2m && x.error === undefined);
  if (!d) skip(ctx, `no ${driver} node (modprobe ${driver})`);
  return d;
}

const W = 320;
const H = 240;

/** The source picture: R, G, B of pixel (x, y); pixel pairs are equal, so 4:2:2 chroma is exact. */
function rgbAt(x: number, y: number): [number, number, number] {
  const u = x >> 1;
  return [(u * 7 + y * 3) & 0xff, (u * 5 + y * 11 + 64) & 0xff, (u * 13 + y * 2 + 128) & 0xff];
}

/** ITU-R BT.601, limited range (Y' 16-235, Cb/Cr 16-240), from 8-bit R'G'B'. */
function bt601(r: number, g: number, b: number): [number, number, number] {
  const y = 0.299 * r + 0.587 * g + 0.114 * b;
  return [16 + (219 * y) / 255, 128 + (224 * (b - y)) / (1.772 * 255), 128 + (224 * (r - y)) / (1.402 * 255)];
}

interface Target {
  /** The library's name for the capture format (its V4L2 code in parentheses in the title). */
  format: string;
  v4l2: string;
  /** Expected bytes of pixel x of row y (2 pixels for the 4:2:2 packed format: one macropixel). */
  expect: (x: number, y: number) => number[];
  bytesPerPixel: number;
  /** Largest difference allowed per byte, and why. */
  tolerance: number;
}

const TARGETS: Target[] = [
  { format: 'RGB888', v4l2: 'BGR3', bytesPerPixel: 3, tolerance: 0, expect: (x, y) => { const [r, g, b] = rgbAt(x, y); return [b, g, r]; } },
  { format: 'BGR888', v4l2: 'RGB3', bytesPerPixel: 3, tolerance: 0, expect: (x, y) => rgbAt(x, y) },
  {
    format: 'RGB565', v4l2: 'RGBP', bytesPerPixel: 2, tolerance: 0,
    expect: (x, y) => { const [r, g, b] = rgbAt(x, y); const v = ((r >> 3) << 11) | ((g >> 2) << 5) | (b >> 3); return [v & 0xff, v >> 8]; },
  },
  {
    // Y', Cb, Y', Cr: one macropixel per two pixels, against the exact BT.601 limited-range values
    // rounded to nearest. A driver computes them in fixed point and may round the other way: 1
    // allows that. A different matrix or range would be off by 10 and more on saturated colours.
    // Seen: at most 1 (6.12, 7.2).
    format: 'YUYV', v4l2: 'YUYV', bytesPerPixel: 2, tolerance: 1,
    expect: (x, y) => {
      if (x & 1) return [];
      const [yy, cb, cr] = bt601(...rgbAt(x, y));
      return [yy, cb, yy, cr].map((v) => Math.min(255, Math.max(0, Math.round(v))));
    },
  },
];

function fill(frame: Frame, desc: FrameDescription): void {
  frame.access('write', ([p]) => {
    const pitch = frame.planes[0]!.pitch;
    for (let y = 0; y < desc.height; y++) {
      for (let x = 0; x < desc.width; x++) {
        const [r, g, b] = rgbAt(x, y);
        // RGB3 (the library's BGR888): R, G, B in memory
        p!.set([r, g, b], y * pitch + x * 3);
      }
    }
  });
}

describe('v4l2 memory-to-memory: vim2m', function () {
  this.timeout(180_000);

  it('converts our RGB3 dma-buf into our dma-bufs of BGR3, RGB3, RGBP and YUYV: every byte as computed from the formats', async function () {
    const info = node(this, 'vim2m');
    needsUdmabuf(this);
    using dev: VideoDevice = v4l2.open(info.path);
    const out = dev.output!;
    const cap = dev.capture!;
    const offered = new Set(cap.formats().map((f) => f.fourcc));
    const results: string[] = [];
    for (const t of TARGETS) {
      if (!offered.has(t.v4l2)) {
        results.push(`${t.v4l2}: not offered`);
        continue;
      }
      out.setFormat({ width: W, height: H, format: 'RGB3' });
      const cf = cap.setFormat({ width: W, height: H, format: t.v4l2 });
      assert.equal(cf.fourcc, t.v4l2);
      assert.deepEqual([cf.width, cf.height], [W, H]);
      const srcDesc = out.frameDescription();
      using src = Frame.allocate(srcDesc, { provider: 'udmabuf' });
      using dst = Frame.allocate(cap.frameDescription(), { provider: 'udmabuf' });
      fill(src, srcDesc);
      dst.access('write', ([p]) => p!.fill(0xa5));
      out.importBuffers(1);
      cap.importBuffers(1);
      try {
        out.queue(src);
        cap.queue(dst);
        out.start();
        cap.start();
        const d = await cap.dequeue({ timeout: 60_000 });
        const o = await out.dequeue({ timeout: 60_000 });
        assert.equal(d.frame, dst);
        assert.equal(o.frame, src);
        assert.equal(d.error, false);
        assert.equal(d.bytesUsed[0], dst.planes[0]!.size);
        let worst = 0;
        let where = '';
        dst.access('read', ([p]) => {
          const pitch = dst.planes[0]!.pitch;
          for (let y = 0; y < H; y++) {
            for (let x = 0; x < W; x++) {
              const want = t.expect(x, y);
              for (let k = 0; k < want.length; k++) {
                const got = p![y * pitch + x * t.bytesPerPixel + k]!;
                const diff = Math.abs(got - want[k]!);
                if (diff > worst) {
                  worst = diff;
                  where = `pixel (${x}, ${y}) byte ${k}: ${got}, expected ${want[k]}`;
                }
              }
            }
          }
        });
        assert.ok(worst <= t.tolerance, `${t.v4l2}: off by ${worst} at ${where}`);
        results.push(`${t.v4l2}: max diff ${worst}`);
      } finally {
        out.release();
        cap.release();
      }
    }
    assert.ok(results.some((r) => r.includes('max diff')), `vim2m offered none of ${TARGETS.map((t) => t.v4l2).join(', ')}`);
    this.test!.title += ` (${results.join('; ')})`;
  });
});
