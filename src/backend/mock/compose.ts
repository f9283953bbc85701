/**
 * vkms's composer for the mock: the picture a CRTC shows, made as vkms_composer.c and vkms_formats.c
 * make it (read in the kernels of 6.12 and of 7.x; the arithmetic is the same in both), for the
 * writeback connector to store.
 *
 * Row by row over the mode: the row starts as the background (opaque black; on 7.x the CRTC's
 * BACKGROUND_COLOR, its alpha ignored), then each visible plane of the CRTC in plane order (primary,
 * overlays by id, cursor: vkms has no zpos) is blended over the part of the row its clipped CRTC
 * rectangle covers. A plane's pixels are read from its framebuffer at the integer part of its
 * clipped source rectangle (16.16), through the inverse of its rotation/reflection, and widened to
 * 16 bits per channel: 8-bit channels × 257, RGB565 by drm_fixed's 32.32 arithmetic (×65535/31 or
 * /63, rounded), X formats with alpha 0xffff. Blending treats every pixel as premultiplied alpha:
 *
 *   out.c = DIV_ROUND_CLOSEST(src.c × 0xffff + out.c × (0xffff − src.a), 0xffff) in u32 arithmetic,
 *   out.a = 0xffff
 *
 * (the kernel's u32 wraps for a non-premultiplied pixel, src.c > src.a; so does this). Then the
 * CRTC's GAMMA_LUT, if set (linear interpolation between entries in 32.32 fixed point). The writeback
 * fb receives the rows in its format: 8-bit channels DIV_ROUND_CLOSEST(c, 257), RGB565 by truncated
 * fixed-point division, 16-bit channels as they are, X formats with alpha all ones.
 *
 * Formats read: every RGB format of the plane lists (ARGB/XRGB/ABGR/XBGR/RGBA/BGRA8888, RGB888,
 * BGR888, the 16161616 ones, RGB565, BGR565) and R8. Not composed: the YUV formats and R1/R2/R4 of
 * 7.2 (their planes are left out of the picture, as if transparent) — the mock's ADDFB2 cannot make
 * the R formats anyway.
 */
import { fourccValue } from '../../formats';
import type { Fb, Rect } from './props';

// ---- drm_fixed.h: signed 32.32 fixed point, in BigInt ---------------------------------------------------

const ONE = 1n << 32n;
const int2fixp = (a: number): bigint => BigInt(a) << 32n;
const fixp2int = (a: bigint): number => Number(a >> 32n);
const fixp2intRound = (a: bigint): number => fixp2int(a + ONE / 2n);
const fixp2intCeil = (a: bigint): number => fixp2int(a >= 0n ? a + ONE - 1n : a - (ONE - 1n));
const s64 = (a: bigint): bigint => BigInt.asIntN(64, a);

function msbset(a: bigint): number {
  const sign = a < 0n ? 1n : 0n;
  for (let shift = 62; shift > 0; shift--) if (((a >> BigInt(shift)) & 1n) !== sign) return shift;
  return 0;
}

function fixpMul(a: bigint, b: bigint): bigint {
  let shift = msbset(a) + msbset(b);
  if (shift > 61) {
    shift -= 61;
    a >>= BigInt((shift >> 1) + (shift & 1));
    b >>= BigInt(shift >> 1);
  } else {
    shift = 0;
  }
  const r = s64(a * b);
  if (shift > 32) return s64(r << BigInt(shift - 32));
  if (shift < 32) return r >> BigInt(32 - shift);
  return r;
}

function fixpDiv(a: bigint, b: bigint): bigint {
  const shift = 62 - msbset(a);
  a = s64(a << BigInt(shift));
  if (shift < 32) b >>= BigInt(32 - shift);
  const r = a / b; // div64_s64 truncates toward zero, as BigInt division does
  if (shift > 32) return r >> BigInt(shift - 32);
  return r;
}

const RB_RATIO = fixpDiv(int2fixp(65535), int2fixp(31));
const G_RATIO = fixpDiv(int2fixp(65535), int2fixp(63));
/** argb_u16_from_RGB565's channel widening, for 5 and 6 bits. */
const R5 = Array.from({ length: 32 }, (_, v) => fixp2intRound(fixpMul(int2fixp(v), RB_RATIO)));
const G6 = Array.from({ length: 64 }, (_, v) => fixp2intRound(fixpMul(int2fixp(v), G_RATIO)));
let narrow: { rb: Uint8Array; g: Uint8Array } | null = null;
/** argb_u16_to_RGB565's narrowing of a 16-bit channel (made on first use: 2 × 65536 divisions). */
function rgb565Narrow(): { rb: Uint8Array; g: Uint8Array } {
  if (narrow === null) {
    const rb = new Uint8Array(65536);
    const g = new Uint8Array(65536);
    for (let v = 0; v < 65536; v++) {
      rb[v] = fixp2int(fixpDiv(int2fixp(v), RB_RATIO));
      g[v] = fixp2int(fixpDiv(int2fixp(v), G_RATIO));
    }
    narrow = { rb, g };
  }
  return narrow;
}

// ---- pixel formats ------------------------------------------------------------------------------------

/** Reads the pixel at byte offset i into out[k..k+3] as a, r, g, b (16 bits each). */
type Reader = (m: Uint8Array, i: number, out: Uint16Array, k: number) => void;
/** Writes the pixel in[k..k+3] (a, r, g, b) at byte offset i. */
type Writer = (m: Uint8Array, i: number, px: Uint16Array, k: number) => void;

const W8 = 257;
const set = (out: Uint16Array, k: number, a: number, r: number, g: number, b: number): void => {
  out[k] = a; out[k + 1] = r; out[k + 2] = g; out[k + 3] = b;
};
const le16 = (m: Uint8Array, i: number): number => m[i]! | (m[i + 1]! << 8);
/** The four bytes of an 8888 pixel in memory order, as (a, r, g, b) indexes (-1: alpha 0xff). */
const reader8888 = (a: number, r: number, g: number, b: number, cpp = 4): [Reader, number] => [(m, i, out, k) =>
  set(out, k, a < 0 ? 0xffff : m[i + a]! * W8, m[i + r]! * W8, m[i + g]! * W8, m[i + b]! * W8), cpp];
const reader16 = (a: number, r: number, g: number, b: number): [Reader, number] => [(m, i, out, k) =>
  set(out, k, a < 0 ? 0xffff : le16(m, i + a), le16(m, i + r), le16(m, i + g), le16(m, i + b)), 8];
const read565 = (swap: boolean): [Reader, number] => [(m, i, out, k) => {
  const p = le16(m, i);
  const r = R5[(p >> 11) & 0x1f]!, g = G6[(p >> 5) & 0x3f]!, b = R5[p & 0x1f]!;
  set(out, k, 0xffff, swap ? b : r, g, swap ? r : b);
}, 2];

/** The readers, with each format's bytes per pixel. */
const READERS = new Map<number, [Reader, number]>([
  ['AR24', reader8888(3, 2, 1, 0)], ['XR24', reader8888(-1, 2, 1, 0)], ['AB24', reader8888(3, 0, 1, 2)],
  ['XB24', reader8888(-1, 0, 1, 2)], ['RA24', reader8888(0, 3, 2, 1)], ['BA24', reader8888(0, 1, 2, 3)],
  ['RG24', reader8888(-1, 2, 1, 0, 3)], ['BG24', reader8888(-1, 0, 1, 2, 3)],
  ['AR48', reader16(6, 4, 2, 0)], ['XR48', reader16(-1, 4, 2, 0)], ['AB48', reader16(6, 0, 2, 4)],
  ['XB48', reader16(-1, 0, 2, 4)], ['RG16', read565(false)], ['BG16', read565(true)],
  ['R8  ', [(m: Uint8Array, i: number, out: Uint16Array, k: number) => set(out, k, 0xffff, m[i]! * W8, m[i]! * W8, m[i]! * W8), 1]],
].map(([c, r]) => [fourccValue(c as string), r as [Reader, number]]));

const n8 = (v: number): number => Math.floor((v + 128) / 257); // DIV_ROUND_CLOSEST(v, 257)
const put16 = (m: Uint8Array, i: number, v: number): void => { m[i] = v & 0xff; m[i + 1] = v >> 8; };
const WRITERS = new Map<number, [Writer, number]>([
  ['AR24', (m: Uint8Array, i: number, p: Uint16Array, k: number) => {
    m[i] = n8(p[k + 3]!); m[i + 1] = n8(p[k + 2]!); m[i + 2] = n8(p[k + 1]!); m[i + 3] = n8(p[k]!);
  }, 4],
  ['XR24', (m: Uint8Array, i: number, p: Uint16Array, k: number) => {
    m[i] = n8(p[k + 3]!); m[i + 1] = n8(p[k + 2]!); m[i + 2] = n8(p[k + 1]!); m[i + 3] = 0xff;
  }, 4],
  ['AB24', (m: Uint8Array, i: number, p: Uint16Array, k: number) => {
    m[i] = n8(p[k + 1]!); m[i + 1] = n8(p[k + 2]!); m[i + 2] = n8(p[k + 3]!); m[i + 3] = n8(p[k]!);
  }, 4],
  ['AR48', (m: Uint8Array, i: number, p: Uint16Array, k: number) => {
    put16(m, i, p[k + 3]!); put16(m, i + 2, p[k + 2]!); put16(m, i + 4, p[k + 1]!); put16(m, i + 6, p[k]!);
  }, 8],
  ['XR48', (m: Uint8Array, i: number, p: Uint16Array, k: number) => {
    put16(m, i, p[k + 3]!); put16(m, i + 2, p[k + 2]!); put16(m, i + 4, p[k + 1]!); put16(m, i + 6, 0xffff);
  }, 8],
  ['RG16', (m: Uint8Array, i: number, p: Uint16Array, k: number) => {
    const t = rgb565Narrow();
    put16(m, i, (t.rb[p[k + 1]!]! << 11) | (t.g[p[k + 2]!]! << 5) | t.rb[p[k + 3]!]!);
  }, 2],
].map(([c, w, cpp]) => [fourccValue(c as string), [w as Writer, cpp as number]]));

/** The formats the composer can read (a plane of another format is left out of the picture). */
export const composable = (format: number): boolean => READERS.has(format);

// ---- the picture ----------------------------------------------------------------------------------------

/** One plane as the composer sees it: its framebuffer, clipped rectangles and rotation. */
export interface ComposePlane {
  fb: Fb;
  /** 16.16, in the framebuffer */
  src: Rect;
  /** CRTC pixels, inside the mode */
  dst: Rect;
  rotation: number;
}

export interface ComposeInput {
  width: number;
  height: number;
  /** In z order: primary first. */
  planes: ComposePlane[];
  /** DRM_ARGB64 (16 bits per channel); its alpha is not used. */
  background: bigint;
  /** GAMMA_LUT's bytes (struct drm_color_lut[]), or null. */
  gamma: Uint8Array | null;
}

/**
 * drm_rect_rotate_inv of the one-pixel rectangle at (u, v) of a w×h source: where the pixel that shows
 * at (u, v) of the plane's destination comes from, relative to the source's top-left.
 */
function rotateInv(u: number, v: number, w: number, h: number, rotation: number): [number, number] {
  let x = u, y = v;
  switch (rotation & 0xf) {
    case 2: [x, y] = [w - (v + 1), u]; break; // ROTATE_90
    case 4: [x, y] = [w - (u + 1), h - (v + 1)]; break; // ROTATE_180
    case 8: [x, y] = [v, h - (u + 1)]; break; // ROTATE_270
    default: break;
  }
  if (rotation & 0x10) x = w - (x + 1); // REFLECT_X
  if (rotation & 0x20) y = h - (y + 1); // REFLECT_Y
  return [x, y];
}

/** The CRTC's picture, 4 u16 per pixel (a, r, g, b), row after row. */
export function compose(input: ComposeInput): Uint16Array {
  const { width: W, height: H } = input;
  const out = new Uint16Array(W * H * 4);
  const bg = input.background;
  const br = Number((bg >> 32n) & 0xffffn), bgG = Number((bg >> 16n) & 0xffffn), bb = Number(bg & 0xffffn);
  for (let i = 0; i < W * H; i++) set(out, i * 4, 0xffff, br, bgG, bb);
  const px = new Uint16Array(4);
  for (const p of input.planes) {
    const rd = READERS.get(p.fb.format);
    if (rd === undefined) continue;
    const [read, cpp] = rd;
    const plane = p.fb.planes[0]!;
    const mem = new Uint8Array(plane.mem.pages.arrayBuffer());
    const sx0 = p.src.x1 >> 16, sy0 = p.src.y1 >> 16;
    const sw = (p.src.x2 - p.src.x1) >> 16, sh = (p.src.y2 - p.src.y1) >> 16;
    const x1 = Math.max(p.dst.x1, 0), x2 = Math.min(p.dst.x2, W);
    for (let y = Math.max(p.dst.y1, 0); y < Math.min(p.dst.y2, H); y++) {
      for (let x = x1; x < x2; x++) {
        const [su, sv] = rotateInv(x - p.dst.x1, y - p.dst.y1, sw, sh, p.rotation);
        const sx = sx0 + su, sy = sy0 + sv;
        if (sx < 0 || sy < 0 || sx >= p.fb.width || sy >= p.fb.height) continue; // vkms's clamp: never read outside
        read(mem, plane.offset + sy * plane.pitch + sx * cpp, px, 0);
        const k = (y * W + x) * 4;
        const a = px[0]!;
        for (let c = 1; c < 4; c++) {
          const sum = (px[c]! * 0xffff + out[k + c]! * (0xffff - a)) % 4294967296;
          out[k + c] = Math.floor(((sum + 0x7fff) % 4294967296) / 0xffff) & 0xffff;
        }
        out[k] = 0xffff;
      }
    }
  }
  if (input.gamma !== null && input.gamma.length >= 8) applyGamma(out, input.gamma);
  return out;
}

/** apply_lut: each channel through the LUT, interpolated between its two nearest entries. */
function applyGamma(out: Uint16Array, lut: Uint8Array): void {
  const n = Math.floor(lut.length / 8);
  const v = new DataView(lut.buffer, lut.byteOffset, lut.byteLength);
  const ratio = fixpDiv(int2fixp(n - 1), int2fixp(0xffff));
  const tables = [0, 1, 2].map((ch) => {
    const t = new Uint16Array(65536);
    for (let c = 0; c < 65536; c++) {
      const index = fixpMul(int2fixp(c), ratio);
      const lo = fixp2int(index);
      const hi = lo === n - 1 ? lo : fixp2intCeil(index);
      const a = v.getUint16(lo * 8 + ch * 2, true), b = v.getUint16(hi * 8 + ch * 2, true);
      const aFp = int2fixp(a);
      t[c] = fixp2intRound(aFp + fixpMul(int2fixp(b) - aFp, index & (ONE - 1n)));
    }
    return t;
  });
  for (let k = 0; k < out.length; k += 4) {
    out[k + 1] = tables[0]![out[k + 1]!]!;
    out[k + 2] = tables[1]![out[k + 2]!]!;
    out[k + 3] = tables[2]![out[k + 3]!]!;
  }
}

/** vkms_writeback_row for every row: the picture into the writeback framebuffer, in its format. */
export function writeback(picture: Uint16Array, width: number, height: number, fb: Fb): void {
  const wr = WRITERS.get(fb.format);
  if (wr === undefined) return; // the check let through only the writeback formats
  const [write, cpp] = wr;
  const plane = fb.planes[0]!;
  const mem = new Uint8Array(plane.mem.pages.arrayBuffer());
  const w = Math.min(width, fb.width);
  for (let y = 0; y < Math.min(height, fb.height); y++) {
    for (let x = 0; x < w; x++) write(mem, plane.offset + y * plane.pitch + x * cpp, picture, (y * width + x) * 4);
  }
}
