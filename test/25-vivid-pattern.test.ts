/**
 * The mock vivid's test pattern generator (src/backend/mock/tpg.ts) against frames captured from the
 * kernel's vivid on Linux 6.12 and 7.2 with v4l2-ctl (640x360 on the webcam input, sRGB, OSD text
 * None, every other control at its default; test/fixtures/vivid-rows.json, built from the captures by
 * test/tools/vivid-fixture.js): a few rows of each frame byte for byte and the whole frame's sha1,
 * first from renderFrame alone, then through the mock's video nodes and the library's V4L2 API.
 * Then what the generator does beyond the captures, as its header states it: flips, the patterns it
 * does not model, formats it does not draw, padding.
 *
 * Everything here runs on the mock's code; the pure generator cases on every backend, the video node
 * case on the mock backend only (on the native backend /dev/video* is the kernel's vivid).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { v4l2 } from '../src/index';
import { CS, FOURCC, renderFrame, TPG_PATTERN_NAMES, tpgDraws, type TpgState } from '../src/backend/mock/tpg';
import { isMock } from './support/index';

interface FixtureFrame {
  /** when they differ from the fixture's */
  kernels?: string[];
  node: string;
  fmt: string;
  pattern: number;
  /** the file v4l2-ctl wrote: its length, its sha1, the length of the lines its rows are cut into */
  bytes: number;
  sha1: string;
  rowBytes: number;
  /** per buffer plane */
  bytesperline: number[];
  sizeimage: number[];
  /** row → index into rows */
  rows: Record<string, number>;
}
interface Fixture {
  /** the kernels every frame was captured on (when all were the same on each) */
  kernels?: string[];
  /** a row as runs [count, b0, b1, ...]: the bytes b0... repeated count times */
  rows: number[][][];
  frames: FixtureFrame[];
}

const fixture = JSON.parse(fs.readFileSync(path.resolve(__dirname, '..', '..', 'test', 'fixtures', 'vivid-rows.json'),
  'utf8')) as Fixture;

/** Formats whose planes vivid starts at a data offset (bytes per plane), in its multi-planar mode. */
const DATA_OFFSETS: Record<string, number[]> = { NM16: [128, 0], NM61: [0, 128] };

function expand(runs: number[][]): Uint8Array {
  const out: number[] = [];
  for (const [count, ...unit] of runs) for (let k = 0; k < count!; k++) out.push(...unit);
  return Uint8Array.from(out);
}

const sha1 = (b: Uint8Array): string => createHash('sha1').update(b).digest('hex');

function state(over: Partial<TpgState>): TpgState {
  return {
    pattern: 0, fourcc: FOURCC('XR24'), srcWidth: 640, srcHeight: 360, width: 640, height: 360, bytesperline: [2560],
    dataOffset: [0], colorspace: CS.SRGB, xferFunc: 0, ycbcrEnc: 0, quantization: 0, brightness: 128, contrast: 128,
    saturation: 128, hue: 0, alphaComponent: 0, alphaRedOnly: false, hflip: false, vflip: false, realRgbRange: 2,
    rgbRange: 0, ...over,
  };
}

/** The frame as v4l2-ctl writes it: each buffer plane from its data offset, one after the other. */
function render(f: FixtureFrame): Uint8Array {
  const multi = f.node === '/dev/video2';
  const dataOffset = DATA_OFFSETS[f.fmt] && multi ? DATA_OFFSETS[f.fmt]! : f.bytesperline.map(() => 0);
  const payload = multi ? f.sizeimage : [f.bytes];
  const planes = renderFrame(state({ pattern: f.pattern, fourcc: FOURCC(f.fmt), bytesperline: f.bytesperline, dataOffset }),
    payload);
  assert.ok(planes !== null, `${f.fmt}: drawn`);
  return Buffer.concat(planes.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength)));
}

/** Where two rows differ first, for the message. */
function firstDiff(a: Uint8Array, b: Uint8Array): string {
  for (let i = 0; i < Math.max(a.length, b.length); i++) if (a[i] !== b[i]) return `byte ${i}: ${a[i]} for ${b[i]}`;
  return 'none';
}

const kernelsOf = (f: FixtureFrame): string[] => f.kernels ?? fixture.kernels ?? [];
const label = (f: FixtureFrame): string => `${f.node} ${f.fmt} pattern ${f.pattern} (${TPG_PATTERN_NAMES[f.pattern]})`;

describe('mock vivid: the test pattern generator against vivid\'s captures', function () {
  it('every captured frame: the captured rows byte for byte and the whole frame\'s sha1', function () {
    const formats = new Set<string>();
    const kernels = new Set<string>();
    for (const f of fixture.frames) {
      const frame = render(f);
      assert.equal(frame.length, f.bytes, `${label(f)}: the frame's length`);
      for (const [row, idx] of Object.entries(f.rows)) {
        const want = expand(fixture.rows[idx]!);
        const got = frame.subarray(+row * f.rowBytes, (+row + 1) * f.rowBytes);
        assert.ok(Buffer.compare(Buffer.from(got), Buffer.from(want)) === 0,
          `${label(f)} row ${row}: ${firstDiff(got, want)} (${kernelsOf(f).join(', ')})`);
      }
      assert.equal(sha1(frame), f.sha1, `${label(f)}: the whole frame (${kernelsOf(f).join(', ')})`);
      formats.add(`${f.node === '/dev/video2' ? 1 : 0}:${f.fmt}`);
      for (const k of kernelsOf(f)) kernels.add(k);
    }
    this.test!.title += ` (${fixture.frames.length} frames, ${formats.size} node:format pairs, kernels ${[...kernels].join(' and ')})`;
  });

  it('through the mock\'s video nodes and the library: the captured frame\'s sha1, data offsets included', async function () {
    if (!isMock()) {
      this.test!.title += ' (skipped: mock-only: on this backend the video nodes are the kernel\'s)';
      this.skip();
    }
    const cases: [0 | 1, string, number][] = [[0, 'XR24', 0], [0, 'RGB3', 1], [0, 'YUYV', 0], [0, 'NV12', 3], [0, 'YU12', 3],
      [0, '422P', 7], [0, 'NV24', 1], [0, 'GREY', 1], [1, 'XR24', 7], [1, 'NM12', 0], [1, 'NM16', 0], [1, 'NM61', 7],
      [1, 'YM12', 7]];
    for (const [inst, format, pattern] of cases) {
      const node = inst === 0 ? '/dev/video0' : '/dev/video2';
      const want = fixture.frames.find((f) => f.node === node && f.fmt === format && f.pattern === pattern);
      assert.ok(want, `${node} ${format} ${pattern} is in the fixture`);
      const info = v4l2.list().find((d) => d.driver === 'vivid' && d.bus === `platform:vivid-00${inst}` && d.capture !== null);
      assert.ok(info, `the mock's vivid-00${inst}`);
      using dev = v4l2.open(info.path);
      const q = dev.capture!;
      // put the node back as found, for the files after this one
      const before = { format: q.getFormat(), pattern: dev.getControl('test_pattern'), osd: dev.getControl('osd_text_mode') };
      let frames: { close(): void }[] = [];
      try {
        dev.setControl('test_pattern', pattern);
        dev.setControl('osd_text_mode', 'None');
        const fmt = q.setFormat({ width: 640, height: 360, format });
        assert.deepEqual([fmt.width, fmt.height, fmt.fourcc], [640, 360, format]);
        frames = q.exportBuffers(2);
        q.start();
        const d = await q.dequeue({ timeout: 10_000 });
        const bytes = d.frame.access('read', () => Buffer.concat(d.frame.buffers.map((b, k) => {
          const m = b.map('read');
          try {
            return Buffer.from(m.read(d.dataOffsets[k]!, d.bytesUsed[k]! - d.dataOffsets[k]!));
          } finally {
            m.unmap();
          }
        })));
        assert.equal(bytes.length, want.bytes, `${node} ${format}: the payload's length`);
        assert.equal(sha1(bytes), want.sha1, `${node} ${format} pattern ${pattern}: the captured frame`);
        q.stop();
      } finally {
        q.release();
        for (const f of frames) f.close();
        q.setFormat({ width: before.format.width, height: before.format.height, format: before.format.fourcc });
        dev.setControl('test_pattern', before.pattern);
        dev.setControl('osd_text_mode', before.osd);
      }
    }
  });

  it('beyond the captures: flips, patterns not modelled (the 75% bars), bar edges, padding, alpha, the formats not captured, formats not drawn', function () {
    const xr24 = (over: Partial<TpgState>): Uint8Array => renderFrame(state(over), [1 << 24])![0]!;
    const px = (b: Uint8Array, x: number, y: number, pitch = 2560): number[] => [...b.subarray(y * pitch + x * 4, y * pitch + x * 4 + 4)];
    const bars = xr24({ pattern: 0 });
    const mirrored = xr24({ pattern: 0, hflip: true });
    for (let x = 0; x < 640; x += 37) assert.deepEqual(px(mirrored, x, 10), px(bars, 639 - x, 10), `hflip: x ${x}`);
    const bands = xr24({ pattern: 3 });
    const upside = xr24({ pattern: 3, vflip: true });
    for (let y = 0; y < 360; y += 23) assert.deepEqual(px(upside, 5, y), px(bands, 5, 359 - y), `vflip: row ${y}`);
    // the menu's other patterns: the 75% colour bars
    for (const p of [2, 4, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21]) {
      assert.ok(Buffer.compare(Buffer.from(xr24({ pattern: p })), Buffer.from(bars)) === 0, `${TPG_PATTERN_NAMES[p]}: the 75% bars`);
    }
    // a width 8 does not divide: bar floor(8 x / width); 100 pixels: bars of 12 or 13
    const narrow = renderFrame(state({ pattern: 1, width: 100, height: 4, bytesperline: [400] }), [1600])![0]!;
    const edges: number[] = [];
    for (let x = 1; x < 100; x++) if (px(narrow, x, 0, 400).join() !== px(narrow, x - 1, 0, 400).join()) edges.push(x);
    assert.deepEqual(edges, [13, 25, 38, 50, 63, 75, 88]);
    // padding: lines at bytesperline, the bytes past the pixels zero; the payload bounds the plane
    const padded = renderFrame(state({ pattern: 6, width: 16, height: 2, bytesperline: [80] }), [1000])![0]!;
    assert.equal(padded.length, 160);
    assert.deepEqual([...padded.subarray(64, 80)], new Array(16).fill(0));
    assert.deepEqual(px(padded, 0, 1, 80), [255, 255, 255, 0]);
    assert.equal(renderFrame(state({ pattern: 6, width: 16, height: 2, bytesperline: [80] }), [100])![0]!.length, 100);
    // the alpha byte carries Alpha Component; X bytes stay 0
    const ar24 = renderFrame(state({ pattern: 7, fourcc: FOURCC('AR24'), alphaComponent: 200 }), [1 << 24])![0]!;
    assert.deepEqual(px(ar24, 3, 3), [0, 0, 255, 200]);
    assert.deepEqual(px(xr24({ pattern: 7, alphaComponent: 200 }), 3, 3), [0, 0, 255, 0]);
    // the three-buffer formats not captured: the captured formats' bytes in their own planes
    const one = (fc: string, bpl: number): Uint8Array =>
      renderFrame(state({ pattern: 0, fourcc: FOURCC(fc), bytesperline: [bpl] }), [1 << 24])![0]!;
    const three = (fc: string, bpl: number[]): Uint8Array[] =>
      renderFrame(state({ pattern: 0, fourcc: FOURCC(fc), bytesperline: bpl, dataOffset: [0, 0, 0] }), [1 << 24, 1 << 24, 1 << 24])!;
    const nv24 = one('NV24', 640);
    const [y24, cb24, cr24] = three('YM24', [640, 640, 640]);
    const [, cr42, cb42] = three('YM42', [640, 640, 640]);
    assert.deepEqual([y24, cb24, cr24].map((p) => p!.length), [230400, 230400, 230400]);
    assert.ok(Buffer.compare(Buffer.from(y24!), Buffer.from(nv24.subarray(0, 230400))) === 0, 'YM24: NV24\'s Y');
    for (let i = 0; i < 230400; i += 997) {
      assert.deepEqual([cb24![i], cr24![i], cb42![i], cr42![i]], [nv24[230400 + 2 * i], nv24[230401 + 2 * i], nv24[230400 + 2 * i],
        nv24[230401 + 2 * i]], `YM24 and YM42: NV24's Cb and Cr (sample ${i})`);
    }
    const p422 = one('422P', 640);
    const ym16 = Buffer.concat(three('YM16', [640, 320, 320]).map((p) => Buffer.from(p)));
    const ym61 = three('YM61', [640, 320, 320]);
    assert.ok(Buffer.compare(ym16, Buffer.from(p422)) === 0, 'YM16: 422P in three buffers');
    assert.ok(Buffer.compare(Buffer.concat([ym61[0]!, ym61[2]!, ym61[1]!].map((p) => Buffer.from(p))), Buffer.from(p422)) === 0,
      'YM61: Cr before Cb');
    const yu12 = one('YU12', 640);
    const yv12 = one('YV12', 640);
    const ym21 = Buffer.concat(three('YM21', [640, 320, 320]).map((p) => Buffer.from(p)));
    assert.ok(Buffer.compare(ym21, Buffer.from(yv12)) === 0, 'YM21: YV12 in three buffers');
    assert.ok(Buffer.compare(Buffer.from(yv12.subarray(288000)), Buffer.from(yu12.subarray(230400, 288000))) === 0,
      'YV12: YU12\'s Cb last');
    // formats not drawn: null, the buffer keeps its bytes
    for (const fc of ['YUVP', 'Y10 ', 'BA81', 'HSV3']) {
      assert.equal(tpgDraws(FOURCC(fc)), false, `${fc} is not drawn`);
      assert.equal(renderFrame(state({ fourcc: FOURCC(fc) }), [1 << 24]), null);
    }
  });
});
