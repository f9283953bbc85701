/**
 * The picture the mock vivid puts into a capture buffer: a test pattern generator written for the
 * mock from two sources only, frames captured from vivid on Linux 6.12 and 7.2 with v4l2-ctl
 * (640x360 on the webcam input, sRGB, the controls' defaults, OSD text None) and standard colour
 * science (the BT.601 / BT.709 / BT.2020 / SMPTE 240M luma coefficients, 75% and 100% colour bars).
 * The memory layouts are those of the V4L2 UAPI documentation.
 *
 * Patterns (the Test Pattern control's menu, TPG_PATTERN_NAMES):
 * - 75% Colorbar, 100% Colorbar: eight vertical bars, white, yellow, cyan, green, magenta, red,
 *   blue, black; the lit components 191 (75%) or 255 (100%), black 0. Pixel x is in bar
 *   floor(8 * x / width): 80 pixels a bar at 640, as captured. For widths that 8 does not divide this
 *   is an assumption (the bars then differ by one pixel in width; no capture decides it).
 * - Horizontal 100% Colorbar: the same eight colours as horizontal bands, row y in band
 *   floor(8 * y / height) (45 rows a band at 360, as captured; other heights as for the widths).
 * - 100% Black, White, Red, Green, Blue: the whole picture one colour (components 0 or 255).
 * - Every other pattern (CSC Colorbar, 100% Color Squares, the checkers, the alternating lines, the
 *   crosses, Gray Ramp, Noise) is NOT modelled: the mock draws the 75% colour bars instead.
 *
 * Formats (tpgDraws): for any other format renderFrame returns null and the buffer keeps its bytes.
 * - R'G'B', full range, the bytes or bits in the UAPI order: XR24 AR24 XB24 AB24 BX24 BA24 RX24 RA24
 *   RGB4 BGR4 (8 bits a component), RGB3 BGR3, RGBP RGBR (5-6-5, a component's top bits: 191 is
 *   23 / 47), XR15 AR15 (1-5-5-5). Exact: byte for byte the captures, with either kernel.
 *   X bytes and bits are 0. Alpha bytes carry the Alpha Component control (0 by default, as captured);
 *   AR15's alpha bit is its top bit (an assumption: the captures have only 0). RGB4 and BGR4, whose
 *   fourth byte UAPI leaves as alpha or padding, get 0 (as captured; not known to follow the control).
 * - Y'CbCr, BT.601 limited range by default: YUYV UYVY YVYU VYUY, NV12 NV21 NV16 NV61 NV24 NV42, YU12
 *   YV12 422P, and with one buffer a plane NM12 NM21 NM16 NM61 YM12 (all captured: exact, byte for
 *   byte, with the arithmetic below), YM21 YM16 YM61 YM24 YM42 (not captured: the values of the
 *   captured formats in the UAPI's plane order).
 * - GREY: the luma, full range: exact on every captured frame.
 *
 * Arithmetic (found from the captures; only the default BT.601 limited range is verified for Y'CbCr,
 * and full range with BT.709 weights for GREY). With R', G', B' the 8-bit components and Kr, Kb the
 * encoding's coefficients (Kg = 1 - Kr - Kb), E'y = Kr R' + Kg G' + Kb B', the generator behaves as if
 * full scale were 256 rather than 255, and truncates toward minus infinity:
 *   Y' = 16 + floor(219 E'y / 256), Cb = 128 + floor(224 (B' - E'y) / (2 (1 - Kb)) / 256), Cr the same
 *   with R' and Kr. So 100% white is Y' 234 (not 235), 100% red Y' 81 Cb 90 Cr 239, 75% white Y' 179.
 *   Full range (unverified but for GREY's Y'): 255 in place of 219 and 224, no 16 offset.
 *   GREY: Y' = floor(255 E'y / 256) with the BT.709 weights (Kr 0.2126, Kb 0.0722) whatever the
 *   Y'CbCr encoding (the captures have only the default one): 100% white is 254, red 54, green 181.
 * The arithmetic is exact rational arithmetic on the coefficients as the standards give them (0.299 /
 * 0.114, 0.2126 / 0.0722, 0.2627 / 0.0593, 0.2122 / 0.0865); a kernel with other fixed-point
 * constants could differ by one where a value falls within rounding of an integer (none does in
 * the captures).
 * Encoding: the Y'CbCr Encoding control or S_FMT's, else V4L2_MAP_YCBCR_ENC_DEFAULT of the colorspace
 * (601 for sRGB, 709 for Rec. 709 and DCI-P3, BT.2020, SMPTE 240M); XV601/XV709/sYCC as 601/709/601,
 * BT.2020 constant luminance as BT.2020 (not modelled). Quantization: the control or S_FMT's, else
 * V4L2_MAP_QUANTIZATION_DEFAULT (limited for Y'CbCr unless the colorspace is JPEG); GREY full range
 * unless limited is asked for (captured: full).
 * Subsampled chroma: a 4:2:0 chroma sample is the mean of the two rows' samples, rounded down: the
 *   captures show it where Horizontal 100% Colorbar changes band between the two rows of a chroma row
 *   (rows 44/45, 134/135, 224/225, 314/315 at 360 rows: white over yellow gives Cb 72, cyan over green
 *   Cb 109, only the rounding down matches the frames' sha1). Horizontally (4:2:2 and 4:2:0: a pixel
 *   pair) the mean of the pair, rounded down, is an assumption: the captured bars change colour on even
 *   pixels, so a pair is never mixed there. With both, the two pixels are averaged first, then the rows.
 * Layout: each line at bytesperline (a padding beyond the pixels is written as zeros: the captures
 * have none); a buffer's bytes from its data offset (the bytes before it are left as they are);
 * one-buffer planar formats put the chroma planes after the luma plane, their lines
 * bytesperline * (bits of the plane / bits of luma) long and height / vertical subsampling (truncated)
 * high.
 *
 * Not modelled (the defaults are drawn whatever the controls say): Brightness, Contrast, Saturation,
 * Hue, Apply Alpha To Red Only, Limited RGB Range (16-235) and quantization of R'G'B' formats (always
 * full range), the colorspace's primaries and transfer function (the same R'G'B' values for every
 * colorspace), scaling (a source size other than the buffer's: the pattern is drawn at the buffer's
 * size), fields (an interlaced frame is drawn as a progressive one), movement, the OSD text, border,
 * square and noise. Horizontal and Vertical Flip (and the sensor flips, which vivid.ts folds in) mirror
 * the picture before it is encoded (not captured).
 */

/** enum v4l2_colorspace (videodev2.h) */
export const CS = {
  DEFAULT: 0, SMPTE170M: 1, SMPTE240M: 2, REC709: 3, BT878: 4, SYSM: 5, SYSBG: 6, JPEG: 7, SRGB: 8, OPRGB: 9,
  BT2020: 10, RAW: 11, DCI_P3: 12,
} as const;
/** enum v4l2_xfer_func */
export const XFER = { DEFAULT: 0, REC709: 1, SRGB: 2, OPRGB: 3, SMPTE240M: 4, NONE: 5, DCI_P3: 6, SMPTE2084: 7 } as const;
/** enum v4l2_ycbcr_encoding */
export const YCBCR = { DEFAULT: 0, E601: 1, E709: 2, XV601: 3, XV709: 4, SYCC: 5, BT2020: 6, BT2020_CONST_LUM: 7,
  SMPTE240M: 8 } as const;
/** enum v4l2_quantization */
export const QUANT = { DEFAULT: 0, FULL: 1, LIMITED: 2 } as const;

/** V4L2_MAP_XFER_FUNC_DEFAULT */
export function mapXferFuncDefault(cs: number): number {
  if (cs === CS.OPRGB) return XFER.OPRGB;
  if (cs === CS.SMPTE240M) return XFER.SMPTE240M;
  if (cs === CS.DCI_P3) return XFER.DCI_P3;
  if (cs === CS.RAW) return XFER.NONE;
  return cs === CS.SRGB || cs === CS.JPEG ? XFER.SRGB : XFER.REC709;
}

/** V4L2_MAP_YCBCR_ENC_DEFAULT */
export function mapYcbcrEncDefault(cs: number): number {
  if (cs === CS.REC709 || cs === CS.DCI_P3) return YCBCR.E709;
  if (cs === CS.BT2020) return YCBCR.BT2020;
  return cs === CS.SMPTE240M ? YCBCR.SMPTE240M : YCBCR.E601;
}

/** V4L2_MAP_QUANTIZATION_DEFAULT */
export function mapQuantizationDefault(isRgbOrHsv: boolean, cs: number): number {
  return isRgbOrHsv || cs === CS.JPEG ? QUANT.FULL : QUANT.LIMITED;
}

/** v4l2_fourcc */
export const FOURCC = (s: string): number =>
  (s.charCodeAt(0) | (s.charCodeAt(1) << 8) | (s.charCodeAt(2) << 16) | (s.charCodeAt(3) << 24)) >>> 0;
/** v4l2_fourcc_be: the big-endian variant (bit 31 set) */
export const FOURCC_BE = (s: string): number => (FOURCC(s) | 0x80000000) >>> 0;

/** The Test Pattern control's menu, in vivid's order. */
export const TPG_PATTERN_NAMES = [
  '75% Colorbar', '100% Colorbar', 'CSC Colorbar', 'Horizontal 100% Colorbar', '100% Color Squares',
  '100% Black', '100% White', '100% Red', '100% Green', '100% Blue', '16x16 Checkers', '2x2 Checkers',
  '1x1 Checkers', '2x2 Red/Green Checkers', '1x1 Red/Green Checkers', 'Alternating Hor Lines',
  'Alternating Vert Lines', 'One Pixel Wide Cross', 'Two Pixels Wide Cross', 'Ten Pixels Wide Cross',
  'Gray Ramp', 'Noise',
];

/** What the generator is told: the pattern, the format with its layout, the colorimetry and the controls. */
export interface TpgState {
  /** index into TPG_PATTERN_NAMES */
  pattern: number;
  fourcc: number;
  /** the source's size (not modelled when it differs from width x height) */
  srcWidth: number;
  srcHeight: number;
  width: number;
  height: number;
  /** one per buffer plane */
  bytesperline: number[];
  /** one per buffer plane: where the picture starts in it */
  dataOffset: number[];
  colorspace: number;
  xferFunc: number;
  ycbcrEnc: number;
  quantization: number;
  brightness: number;
  contrast: number;
  saturation: number;
  hue: number;
  alphaComponent: number;
  alphaRedOnly: boolean;
  hflip: boolean;
  vflip: boolean;
  realRgbRange: number;
  rgbRange: number;
}

// ---- formats ------------------------------------------------------------------------------------------

/** A packed R'G'B' pixel: its bytes from the 8-bit components and the alpha byte. */
type PutRgb = (o: Uint8Array, i: number, r: number, g: number, b: number, a: number) => void;

type Layout =
  | { kind: 'rgb'; bytes: number; put: PutRgb }
  | { kind: 'grey' }
  /** 4:2:2 packed: the byte positions of Y0, Cb, Y1, Cr in a pixel pair */
  | { kind: 'packed'; y0: number; cb: number; y1: number; cr: number }
  /** planar or semi-planar: chroma subsampling, CbCr interleaved in one plane, Cr first, buffers */
  | { kind: 'planar'; hsub: number; vsub: number; interleaved: boolean; crFirst: boolean; buffers: number };

/** 8 bits a component in the byte order given (X: 0, A: alpha) */
function bytes8(order: string): Layout {
  const at = (c: string): number => order.indexOf(c);
  const [r, g, b, x, a] = [at('R'), at('G'), at('B'), at('X'), at('A')];
  return {
    kind: 'rgb', bytes: order.length,
    put: (o, i, R, G, B, A) => {
      o[i + r] = R;
      o[i + g] = G;
      o[i + b] = B;
      if (x >= 0) o[i + x] = 0;
      if (a >= 0) o[i + a] = A;
    },
  };
}

/** a 16-bit word, little- or big-endian */
function word16(pack: (r: number, g: number, b: number, a: number) => number, bigEndian: boolean): Layout {
  return {
    kind: 'rgb', bytes: 2,
    put: (o, i, r, g, b, a) => {
      const v = pack(r, g, b, a);
      o[i + (bigEndian ? 1 : 0)] = v & 0xff;
      o[i + (bigEndian ? 0 : 1)] = v >> 8;
    },
  };
}

const rgb565 = (r: number, g: number, b: number): number => ((r >> 3) << 11) | ((g >> 2) << 5) | (b >> 3);
const planar = (hsub: number, vsub: number, interleaved: boolean, crFirst: boolean, buffers: number): Layout =>
  ({ kind: 'planar', hsub, vsub, interleaved, crFirst, buffers });

const LAYOUTS = new Map<number, Layout>([
  ['XR24', bytes8('BGRX')], ['AR24', bytes8('BGRA')], ['XB24', bytes8('RGBX')], ['AB24', bytes8('RGBA')],
  ['BX24', bytes8('XRGB')], ['BA24', bytes8('ARGB')], ['RX24', bytes8('XBGR')], ['RA24', bytes8('ABGR')],
  ['RGB4', bytes8('XRGB')], ['BGR4', bytes8('BGRX')], ['RGB3', bytes8('RGB')], ['BGR3', bytes8('BGR')],
  ['RGBP', word16(rgb565, false)], ['RGBR', word16(rgb565, true)],
  ['XR15', word16((r, g, b) => ((r >> 3) << 10) | ((g >> 3) << 5) | (b >> 3), false)],
  ['AR15', word16((r, g, b, a) => ((a >> 7) << 15) | ((r >> 3) << 10) | ((g >> 3) << 5) | (b >> 3), false)],
  ['GREY', { kind: 'grey' }],
  ['YUYV', { kind: 'packed', y0: 0, cb: 1, y1: 2, cr: 3 }], ['UYVY', { kind: 'packed', cb: 0, y0: 1, cr: 2, y1: 3 }],
  ['YVYU', { kind: 'packed', y0: 0, cr: 1, y1: 2, cb: 3 }], ['VYUY', { kind: 'packed', cr: 0, y0: 1, cb: 2, y1: 3 }],
  ['NV12', planar(2, 2, true, false, 1)], ['NV21', planar(2, 2, true, true, 1)],
  ['NV16', planar(2, 1, true, false, 1)], ['NV61', planar(2, 1, true, true, 1)],
  ['NV24', planar(1, 1, true, false, 1)], ['NV42', planar(1, 1, true, true, 1)],
  ['YU12', planar(2, 2, false, false, 1)], ['YV12', planar(2, 2, false, true, 1)],
  ['422P', planar(2, 1, false, false, 1)],
  ['NM12', planar(2, 2, true, false, 2)], ['NM21', planar(2, 2, true, true, 2)],
  ['NM16', planar(2, 1, true, false, 2)], ['NM61', planar(2, 1, true, true, 2)],
  ['YM12', planar(2, 2, false, false, 3)], ['YM21', planar(2, 2, false, true, 3)],
  ['YM16', planar(2, 1, false, false, 3)], ['YM61', planar(2, 1, false, true, 3)],
  ['YM24', planar(1, 1, false, false, 3)], ['YM42', planar(1, 1, false, true, 3)],
].map(([fc, l]) => [FOURCC(fc as string), l as Layout]));

/** Whether the generator draws this format (renderFrame returns null for the others). */
export const tpgDraws = (fourcc: number): boolean => LAYOUTS.has(fourcc);

// ---- the picture ----------------------------------------------------------------------------------------

/** The eight bars' colours as R, G, B lit or not: white, yellow, cyan, green, magenta, red, blue, black. */
const BAR_COLOURS: readonly (readonly [number, number, number])[] = [
  [1, 1, 1], [1, 1, 0], [0, 1, 1], [0, 1, 0], [1, 0, 1], [1, 0, 0], [0, 0, 1], [0, 0, 0],
];
const SOLID: Record<number, readonly [number, number, number]> = {
  5: [0, 0, 0], 6: [1, 1, 1], 7: [1, 0, 0], 8: [0, 1, 0], 9: [0, 0, 1],
};

/** The R'G'B' picture: a row class for every row and the R'G'B' bytes (3 a pixel) of a class. */
interface Picture {
  classOf(y: number): number;
  row(cls: number): Uint8Array;
}

function picture(s: TpgState): Picture {
  const { width: w, height: h } = s;
  const fill = (rgb: readonly number[], level: number): Uint8Array => {
    const out = new Uint8Array(w * 3);
    for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) out[x * 3 + c] = rgb[c]! * level;
    return out;
  };
  const flipY = (y: number): number => (s.vflip ? h - 1 - y : y);
  const solid = SOLID[s.pattern];
  if (solid !== undefined) return { classOf: () => 0, row: () => fill(solid, 255) };
  if (s.pattern === 3) { // Horizontal 100% Colorbar
    return { classOf: (y) => Math.floor((8 * flipY(y)) / h), row: (band) => fill(BAR_COLOURS[band]!, 255) };
  }
  const level = s.pattern === 1 ? 255 : 191; // 100% Colorbar; 75% Colorbar and the patterns not modelled
  return {
    classOf: () => 0,
    row: () => {
      const out = new Uint8Array(w * 3);
      for (let x = 0; x < w; x++) {
        const bar = BAR_COLOURS[Math.floor((8 * (s.hflip ? w - 1 - x : x)) / w)]!;
        for (let c = 0; c < 3; c++) out[x * 3 + c] = bar[c]! * level;
      }
      return out;
    },
  };
}

// ---- colour arithmetic -------------------------------------------------------------------------------

/** floor(a / b) for integers, b > 0, exact */
function floorDiv(a: number, b: number): number {
  let q = Math.floor(a / b);
  if (q * b > a) q--;
  else if ((q + 1) * b <= a) q++;
  return q;
}

const clamp8 = (v: number): number => (v < 0 ? 0 : v > 255 ? 255 : v);

/** Kr and Kb in units of 1/10000 */
interface Coeffs { kr: number; kb: number }
const BT601: Coeffs = { kr: 2990, kb: 1140 };
const BT709: Coeffs = { kr: 2126, kb: 722 };
const BT2020: Coeffs = { kr: 2627, kb: 593 };
const SMPTE240M: Coeffs = { kr: 2122, kb: 865 };

function coeffsOf(s: TpgState): Coeffs {
  const enc = s.ycbcrEnc === YCBCR.DEFAULT ? mapYcbcrEncDefault(s.colorspace) : s.ycbcrEnc;
  switch (enc) {
    case YCBCR.E709: case YCBCR.XV709: return BT709;
    case YCBCR.BT2020: case YCBCR.BT2020_CONST_LUM: return BT2020;
    case YCBCR.SMPTE240M: return SMPTE240M;
    default: return BT601;
  }
}

/** 10000 E'y */
const luma = (k: Coeffs, r: number, g: number, b: number): number => k.kr * r + (10000 - k.kr - k.kb) * g + k.kb * b;

function yOf(k: Coeffs, full: boolean, r: number, g: number, b: number): number {
  return clamp8((full ? 0 : 16) + floorDiv((full ? 255 : 219) * luma(k, r, g, b), 256 * 10000));
}

/** Cb (of B') or Cr (of R') */
function cOf(k: Coeffs, full: boolean, e: number, kc: number, r: number, g: number, b: number): number {
  return clamp8(128 + floorDiv((full ? 255 : 224) * (e * 10000 - luma(k, r, g, b)), 256 * 2 * (10000 - kc)));
}

/** Y', Cb and Cr of every pixel of an R'G'B' row */
function yccRow(rgb: Uint8Array, k: Coeffs, full: boolean): { y: Uint8Array; cb: Uint8Array; cr: Uint8Array } {
  const n = rgb.length / 3;
  const y = new Uint8Array(n);
  const cb = new Uint8Array(n);
  const cr = new Uint8Array(n);
  for (let x = 0; x < n; x++) {
    const [r, g, b] = [rgb[x * 3]!, rgb[x * 3 + 1]!, rgb[x * 3 + 2]!];
    y[x] = yOf(k, full, r, g, b);
    cb[x] = cOf(k, full, b, k.kb, r, g, b);
    cr[x] = cOf(k, full, r, k.kr, r, g, b);
  }
  return { y, cb, cr };
}

/**
 * Chroma subsampled: the mean of hsub neighbouring pixels of each row, then the mean of the rows,
 * each mean rounded down (the rows' step is what the captures show; the pixels' is an assumption).
 */
function subsample(rows: Uint8Array[], hsub: number, n: number): Uint8Array {
  const w = rows[0]!.length;
  const across = rows.map((row) => {
    const out = new Uint16Array(n);
    for (let i = 0; i < n; i++) {
      let sum = 0;
      for (let d = 0; d < hsub; d++) sum += row[Math.min(i * hsub + d, w - 1)]!;
      out[i] = Math.floor(sum / hsub);
    }
    return out;
  });
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    let sum = 0;
    for (const a of across) sum += a[i]!;
    out[i] = Math.floor(sum / across.length);
  }
  return out;
}

// ---- rendering ------------------------------------------------------------------------------------------

/** make(key) once per key (the lines and rows of a frame by the row classes they come from). */
function memo<K, V>(make: (key: K) => V): (key: K) => V {
  const m = new Map<string, V>();
  return (key) => {
    const id = String(key);
    let v = m.get(id);
    if (v === undefined) {
      v = make(key);
      m.set(id, v);
    }
    return v;
  };
}

/** A new plane of `rows` lines, each at `pitch` bytes (a longer line cut, a shorter one padded with zeros). */
function plane(rows: number, pitch: number, line: (row: number) => Uint8Array): Uint8Array {
  const out = new Uint8Array(rows * pitch);
  for (let r = 0; r < rows; r++) {
    const l = line(r);
    out.set(l.length > pitch ? l.subarray(0, pitch) : l, r * pitch);
  }
  return out;
}

/**
 * One frame: for every buffer plane its bytes from its data offset on (the file v4l2-ctl writes is
 * these concatenated), at most payload (bytesused, data offset included) less the data offset; null
 * when the format is not drawn or the state does not fit it.
 */
export function renderFrame(state: TpgState, payload: number[]): Uint8Array[] | null {
  const layout = LAYOUTS.get(state.fourcc);
  if (layout === undefined) return null;
  const { width: w, height: h } = state;
  const buffers = layout.kind === 'planar' ? layout.buffers : 1;
  if (w <= 0 || h <= 0 || state.bytesperline.length < buffers || payload.length < buffers) return null;
  const pic = picture(state);
  const rgbRow = memo((cls: number) => pic.row(cls));
  const k = layout.kind === 'grey' ? BT709 : coeffsOf(state);
  const q = state.quantization === QUANT.DEFAULT ? mapQuantizationDefault(layout.kind === 'grey', state.colorspace)
    : state.quantization;
  const full = q === QUANT.FULL;
  const ycc = memo((cls: number) => yccRow(rgbRow(cls), k, full));
  const bpl = state.bytesperline;
  let planes: Uint8Array[];

  switch (layout.kind) {
    case 'rgb': {
      const a = state.alphaComponent & 0xff;
      const line = memo((cls: number) => {
        const rgb = rgbRow(cls);
        const out = new Uint8Array(w * layout.bytes);
        for (let x = 0; x < w; x++) layout.put(out, x * layout.bytes, rgb[x * 3]!, rgb[x * 3 + 1]!, rgb[x * 3 + 2]!, a);
        return out;
      });
      planes = [plane(h, bpl[0]!, (y) => line(pic.classOf(y)))];
      break;
    }
    case 'grey':
      planes = [plane(h, bpl[0]!, (y) => ycc(pic.classOf(y)).y)];
      break;
    case 'packed': {
      const line = memo((cls: number) => {
        const { y, cb, cr } = ycc(cls);
        const pairs = w >> 1;
        const cbs = subsample([cb], 2, pairs);
        const crs = subsample([cr], 2, pairs);
        const out = new Uint8Array(pairs * 4);
        for (let i = 0; i < pairs; i++) {
          out[i * 4 + layout.y0] = y[2 * i]!;
          out[i * 4 + layout.y1] = y[2 * i + 1]!;
          out[i * 4 + layout.cb] = cbs[i]!;
          out[i * 4 + layout.cr] = crs[i]!;
        }
        return out;
      });
      planes = [plane(h, bpl[0]!, (y) => line(pic.classOf(y)))];
      break;
    }
    case 'planar': {
      const { hsub, vsub, interleaved, crFirst } = layout;
      const cw = Math.floor(w / hsub);
      const ch = Math.trunc(h / vsub);
      /** the classes of the source rows a chroma row covers */
      const covered = (r: number): number[] =>
        Array.from({ length: vsub }, (_, d) => pic.classOf(Math.min(r * vsub + d, h - 1)));
      const chroma = memo((classes: number[]) => {
        const rows = classes.map((c) => ycc(c));
        return { cb: subsample(rows.map((r) => r.cb), hsub, cw), cr: subsample(rows.map((r) => r.cr), hsub, cw) };
      });
      const first = (c: { cb: Uint8Array; cr: Uint8Array }): Uint8Array => (crFirst ? c.cr : c.cb);
      const second = (c: { cb: Uint8Array; cr: Uint8Array }): Uint8Array => (crFirst ? c.cb : c.cr);
      const yPlane = plane(h, bpl[0]!, (y) => ycc(pic.classOf(y)).y);
      // a one-buffer format's chroma lines: bytesperline scaled by the plane's bits per pixel over luma's
      const cpitch = (p: number): number => (layout.buffers > 1 ? bpl[p]! : interleaved ? (bpl[0]! * 2) / hsub : bpl[0]! / hsub);
      let chromaPlanes: Uint8Array[];
      if (interleaved) {
        const line = memo((classes: number[]) => {
          const c = chroma(classes);
          const out = new Uint8Array(cw * 2);
          for (let i = 0; i < cw; i++) {
            out[2 * i] = first(c)[i]!;
            out[2 * i + 1] = second(c)[i]!;
          }
          return out;
        });
        chromaPlanes = [plane(ch, cpitch(1), (r) => line(covered(r)))];
      } else {
        chromaPlanes = [plane(ch, cpitch(1), (r) => first(chroma(covered(r)))),
          plane(ch, cpitch(2), (r) => second(chroma(covered(r))))];
      }
      if (layout.buffers > 1) {
        planes = [yPlane, ...chromaPlanes];
      } else {
        const all = new Uint8Array(yPlane.length + chromaPlanes.reduce((n, p) => n + p.length, 0));
        let at = 0;
        for (const p of [yPlane, ...chromaPlanes]) {
          all.set(p, at);
          at += p.length;
        }
        planes = [all];
      }
      break;
    }
  }
  return planes.map((p, i) => {
    const room = Math.max(0, payload[i]! - (state.dataOffset[i] ?? 0));
    return p.length > room ? p.subarray(0, room) : p;
  });
}
