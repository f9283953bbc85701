/**
 * Pixel formats under their DRM names (drm_fourcc.h without DRM_FORMAT_), with the V4L2 pixel
 * formats that describe the same bytes, their planes, and plane layouts.
 *
 * Each plane is described as drm_format_info describes it: the bytes one sample of the plane takes
 * (`cpp`, NV12's interleaved CbCr plane: 2) and its subsampling (`hsub`, `vsub`). Packed YUV 4:2:2
 * (YUYV, UYVY, ...) is one plane of 2 bytes per pixel.
 *
 * Layouts follow the rule V4L2 and DRM drivers share for these formats: the first plane's pitch is
 * width × cpp rounded up to `pitchAlign`; every other plane's pitch is derived from it (the same pitch
 * for NV12's interleaved chroma, half of it for YUV420's U and V), so one alignment serves every
 * plane; a plane's height is the image height divided by its vertical subsampling, rounded up. In one
 * buffer the planes follow each other; in separate buffers each starts at offset 0.
 *
 * Coded (compressed) formats: a few bitstream formats V4L2 codecs and GStreamer users meet (FWHT,
 * MJPEG, JPEG, H.264, HEVC, VP8, VP9, AV1, MPEG-2), under V4L2's names (its V4L2_PIX_FMT_ names
 * without the prefix). A buffer of one holds bytes, not rows of pixels: one plane (cpp 0), its pitch 0,
 * its size the caller's (V4L2's sizeimage), so layout() needs { size }. DRM has no code for them:
 * `drm` is 0 (DRM_FORMAT_INVALID) and `fourcc` is the V4L2 code. formats.list() leaves them out
 * (it lists the image formats, as before); formats.list({ compressed: true }) has them too.
 */
import { I32_MAX, invalidArgType, invalidArgValue, outOfRange, validateInt, validateObject } from './errors';

/** One plane of a format. */
export interface PlaneFormat {
  /** Bytes per pixel of this plane, counted after horizontal subsampling (NV12's CbCr plane: 2). */
  cpp: number;
  /** Horizontal subsampling: this plane has ceil(width / hsub) samples per row. */
  hsub: number;
  /** Vertical subsampling: this plane has ceil(height / vsub) rows. */
  vsub: number;
}

/** A V4L2 pixel format that carries the same bytes. */
export interface V4l2Format {
  /** The 4-character code, e.g. 'NV12' or 'NM12'. */
  fourcc: string;
  /** The code as V4L2 sees it (v4l2_fourcc). */
  value: number;
  /** 'one' when every plane is in one buffer (single-planar API), 'per-plane' for one buffer per plane (NM12, YM12). */
  buffers: 'one' | 'per-plane';
}

export interface PlaneLayout {
  /** Byte offset of the plane in its buffer. */
  offset: number;
  /** Bytes per row (0 for a coded format: it has no rows). */
  pitch: number;
  /** Bytes of the plane: pitch × rows (a coded format: the size asked for). */
  size: number;
  /** Samples per row and rows of this plane (a coded format: the image's width and height). */
  width: number;
  height: number;
}

export interface FrameLayout {
  width: number;
  height: number;
  /** One buffer for every plane, or one buffer per plane (each plane's offset is then 0). */
  buffers: 'one' | 'per-plane';
  planes: PlaneLayout[];
  /** Bytes of the one buffer, or of each plane's buffer in order. */
  sizes: number[];
}

export interface LayoutOptions {
  /** The first plane's pitch is rounded up to a multiple of this (default 1: no padding). */
  pitchAlign?: number;
  /**
   * The first plane's pitch, when someone else chose it (a DRM dumb buffer's, a V4L2 driver's
   * bytesperline): at least width × cpp; pitchAlign is then not applied.
   */
  pitch?: number;
  /** 'one' (default) or 'per-plane'. */
  buffers?: 'one' | 'per-plane';
  /**
   * A coded format's bytes (its one buffer, as V4L2's sizeimage): required for a coded format,
   * refused for an image format (whose size follows from its layout).
   */
  size?: number;
}

export interface PixelFormatInfo {
  /** The DRM name without DRM_FORMAT_, e.g. 'NV12' (a coded format: V4L2's, e.g. 'FWHT', 'H264'). */
  readonly name: string;
  /** The DRM fourcc as 4 characters, e.g. 'NV12', 'XR24' (a coded format: its V4L2 code, e.g. 'VP80'). */
  readonly fourcc: string;
  /** DRM_FORMAT_<name>, the value ADDFB2 takes; 0 (DRM_FORMAT_INVALID) for a coded format. */
  readonly drm: number;
  /** The V4L2 pixel formats for the same bytes, the one-buffer form first. */
  readonly v4l2: readonly V4l2Format[];
  /** One per plane; a coded format has one plane of bytes: { cpp: 0, hsub: 1, vsub: 1 }. */
  readonly planes: readonly PlaneFormat[];
  /** Is it a YUV format (else RGB or grey)? False for a coded format. */
  readonly yuv: boolean;
  /** A coded (compressed) format: a bitstream, not an image (V4L2_FMT_FLAG_COMPRESSED). */
  readonly compressed: boolean;
  /**
   * Each plane's pitch, offset and size for an image of this size. A coded format: one plane at
   * offset 0, pitch 0, of options.size bytes (required).
   */
  layout(width: number, height: number, options?: LayoutOptions): FrameLayout;
}

/** fourcc_code(a, b, c, d) of drm_fourcc.h and v4l2_fourcc() of videodev2.h: the same packing. */
export function fourccValue(code: string): number {
  if (typeof code !== 'string') throw invalidArgType('code', 'of type string', code);
  if (code.length !== 4 || !/^[\x20-\x7e]{4}$/.test(code)) throw invalidArgValue('code', code, 'must be 4 printable ASCII characters');
  return (code.charCodeAt(0) | (code.charCodeAt(1) << 8) | (code.charCodeAt(2) << 16) | (code.charCodeAt(3) << 24)) >>> 0;
}

/** The 4 characters of a fourcc value. */
export function fourccString(value: number): string {
  validateInt(value, 'value', 0, 0xffffffff);
  return String.fromCharCode(value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, (value >>> 24) & 0xff);
}

const P = (cpp: number, hsub = 1, vsub = 1): PlaneFormat => Object.freeze({ cpp, hsub, vsub });

// name, DRM fourcc, V4L2 one-buffer fourcc (or null), V4L2 per-plane fourcc (or null), planes, yuv.
// The V4L2 names follow the bytes, not the letters: DRM's XRGB8888 is little-endian (bytes B, G, R, X)
// and so is V4L2's XBGR32 ('XR24'); DRM's RGB888 (bytes B, G, R) is V4L2's BGR24 ('BGR3').
const TABLE: [string, string, string | null, string | null, PlaneFormat[], boolean][] = [
  ['XRGB8888', 'XR24', 'XR24', null, [P(4)], false],
  ['ARGB8888', 'AR24', 'AR24', null, [P(4)], false],
  ['XBGR8888', 'XB24', 'XB24', null, [P(4)], false],
  ['ABGR8888', 'AB24', 'AB24', null, [P(4)], false],
  ['RGBX8888', 'RX24', 'RX24', null, [P(4)], false],
  ['RGBA8888', 'RA24', 'RA24', null, [P(4)], false],
  ['BGRX8888', 'BX24', 'BX24', null, [P(4)], false],
  ['BGRA8888', 'BA24', 'BA24', null, [P(4)], false],
  ['RGB888', 'RG24', 'BGR3', null, [P(3)], false],
  ['BGR888', 'BG24', 'RGB3', null, [P(3)], false],
  ['RGB565', 'RG16', 'RGBP', null, [P(2)], false],
  ['R8', 'R8  ', 'GREY', null, [P(1)], false],
  ['YUYV', 'YUYV', 'YUYV', null, [P(2)], true],
  ['YVYU', 'YVYU', 'YVYU', null, [P(2)], true],
  ['UYVY', 'UYVY', 'UYVY', null, [P(2)], true],
  ['VYUY', 'VYUY', 'VYUY', null, [P(2)], true],
  ['NV12', 'NV12', 'NV12', 'NM12', [P(1), P(2, 2, 2)], true],
  ['NV21', 'NV21', 'NV21', 'NM21', [P(1), P(2, 2, 2)], true],
  ['NV16', 'NV16', 'NV16', 'NM16', [P(1), P(2, 2, 1)], true],
  ['NV61', 'NV61', 'NV61', 'NM61', [P(1), P(2, 2, 1)], true],
  ['NV24', 'NV24', 'NV24', null, [P(1), P(2)], true],
  ['NV42', 'NV42', 'NV42', null, [P(1), P(2)], true],
  ['YUV420', 'YU12', 'YU12', 'YM12', [P(1), P(1, 2, 2), P(1, 2, 2)], true],
  ['YVU420', 'YV12', 'YV12', 'YM21', [P(1), P(1, 2, 2), P(1, 2, 2)], true],
  ['YUV422', 'YU16', '422P', 'YM16', [P(1), P(1, 2, 1), P(1, 2, 1)], true],
  ['YVU422', 'YV16', null, 'YM61', [P(1), P(1, 2, 1), P(1, 2, 1)], true],
  ['YUV444', 'YU24', null, 'YM24', [P(1), P(1), P(1)], true],
  ['YVU444', 'YV24', null, 'YM42', [P(1), P(1), P(1)], true],
];

// Coded formats: name (V4L2's V4L2_PIX_FMT_ name without the prefix) and V4L2 code. Each is one buffer of
// bytes; DRM has no code for any of them.
const CODED: [string, string][] = [
  ['FWHT', 'FWHT'], // vicodec's Fast Walsh-Hadamard Transform, with its headers (stateful)
  ['FWHT_STATELESS', 'SFWH'], // the same without the headers: vicodec's stateless decoder
  ['MJPEG', 'MJPG'],
  ['JPEG', 'JPEG'],
  ['H264', 'H264'], // with start codes
  ['HEVC', 'HEVC'],
  ['VP8', 'VP80'],
  ['VP9', 'VP90'],
  ['AV1_FRAME', 'AV1F'], // one parsed AV1 frame (the stateless decoders' format)
  ['MPEG2', 'MPG2'], // an elementary stream
];

/** The one plane of a coded format: bytes, no pixels. */
const BYTES = P(0);

const BUFFER_KINDS = ['one', 'per-plane'] as const;
const U32_MAX = 0xffffffff;

class Format implements PixelFormatInfo {
  readonly drm: number;
  readonly v4l2: readonly V4l2Format[];
  readonly planes: readonly PlaneFormat[];

  constructor(readonly name: string, readonly fourcc: string, one: string | null, perPlane: string | null,
    planes: PlaneFormat[], readonly yuv: boolean, readonly compressed = false) {
    this.drm = compressed ? 0 : fourccValue(fourcc);
    const v: V4l2Format[] = [];
    if (one !== null) v.push(Object.freeze({ fourcc: one, value: fourccValue(one), buffers: 'one' }));
    if (perPlane !== null) v.push(Object.freeze({ fourcc: perPlane, value: fourccValue(perPlane), buffers: 'per-plane' }));
    this.v4l2 = Object.freeze(v);
    this.planes = Object.freeze(planes);
    Object.freeze(this);
  }

  layout(width: number, height: number, options: LayoutOptions = {}): FrameLayout {
    validateInt(width, 'width', 1, 65535);
    validateInt(height, 'height', 1, 65535);
    const o = validateObject<LayoutOptions>(options, 'options', true) ?? {};
    const align = o.pitchAlign === undefined ? 1 : validateInt(o.pitchAlign, 'options.pitchAlign', 1, 4096);
    if ((align & (align - 1)) !== 0) throw outOfRange('options.pitchAlign', 'a power of two', align);
    const buffers = o.buffers ?? 'one';
    if (!(BUFFER_KINDS as readonly string[]).includes(buffers)) {
      throw invalidArgValue('options.buffers', buffers, "must be 'one' or 'per-plane'");
    }
    if (this.compressed) return this.#codedLayout(width, height, o, buffers);
    if (o.size !== undefined) {
      throw invalidArgValue('options.size', o.size, `is for coded formats only: ${this.name}'s size follows from its layout`);
    }
    const first = this.planes[0]!;
    const min = width * first.cpp;
    const pitch0 = o.pitch === undefined ? Math.ceil(min / align) * align : validateInt(o.pitch, 'options.pitch', min, I32_MAX);
    let offset = 0;
    const planes: PlaneLayout[] = this.planes.map((p, i) => {
      // Chroma pitches follow the first plane's (its padding included), as V4L2's helpers and the
      // DRM drivers compute them: pitch0 × cpp_i / (cpp_0 × hsub_i).
      const pitch = i === 0 ? pitch0 : Math.ceil((pitch0 * p.cpp) / (first.cpp * p.hsub));
      const rows = Math.ceil(height / p.vsub);
      const plane = { offset: buffers === 'one' ? offset : 0, pitch, size: pitch * rows, width: Math.ceil(width / p.hsub), height: rows };
      offset += plane.size;
      return plane;
    });
    return { width, height, buffers, planes, sizes: buffers === 'one' ? [offset] : planes.map((p) => p.size) };
  }

  /** A coded format's one plane of bytes: offset 0, pitch 0, the size asked for. */
  #codedLayout(width: number, height: number, o: LayoutOptions, buffers: 'one' | 'per-plane'): FrameLayout {
    if (o.size === undefined) {
      throw invalidArgValue('options.size', o.size, `must be given for a coded format (${this.name}): the bytes of its ` +
        'buffer (V4L2\'s sizeimage), as it has no rows to count');
    }
    const size = validateInt(o.size, 'options.size', 1, U32_MAX);
    if (o.pitch !== undefined && o.pitch !== 0) {
      throw invalidArgValue('options.pitch', o.pitch, `must be 0 or left out for a coded format (${this.name}): it has no rows`);
    }
    return { width, height, buffers, planes: [{ offset: 0, pitch: 0, size, width, height }], sizes: [size] };
  }
}

const BY_NAME = new Map<string, Format>();
const BY_DRM = new Map<number, Format>();
const BY_V4L2 = new Map<number, Format>();
for (const [name, fourcc, one, perPlane, planes, yuv] of TABLE) {
  const f = new Format(name, fourcc, one, perPlane, planes, yuv);
  BY_NAME.set(name, f);
  BY_DRM.set(f.drm, f);
  for (const v of f.v4l2) BY_V4L2.set(v.value, f);
}
const IMAGES = [...BY_NAME.values()];
for (const [name, code] of CODED) {
  const f = new Format(name, code, code, null, [BYTES], false, true);
  BY_NAME.set(name, f);
  // no DRM code: found by name and by its V4L2 code only
  for (const v of f.v4l2) BY_V4L2.set(v.value, f);
}

function lookup(format: string | number): Format | undefined {
  if (typeof format === 'number') return BY_DRM.get(format) ?? BY_V4L2.get(format);
  const byName = BY_NAME.get(format);
  if (byName !== undefined) return byName;
  if (format.length === 4 || (format.length < 4 && format.length > 0)) {
    const code = fourccValue(format.padEnd(4, ' '));
    return BY_DRM.get(code) ?? BY_V4L2.get(code);
  }
  return undefined;
}

/** The format table. */
export const formats = {
  /**
   * A format by DRM name ('NV12', 'XRGB8888'), by 4-character code (the DRM fourcc 'XR24' or a V4L2
   * pixel format 'NM12', 'BGR3'), or by either code's number. A coded format by its name ('FWHT',
   * 'H264', 'VP8') or V4L2 code ('VP80'). ERR_INVALID_ARG_VALUE if unknown.
   */
  get(format: string | number): PixelFormatInfo {
    if (typeof format !== 'string' && typeof format !== 'number') throw invalidArgType('format', 'a name, a 4-character code or a fourcc number', format);
    if (typeof format === 'number') validateInt(format, 'format', 0, 0xffffffff);
    const f = typeof format === 'string' && !/^[\x20-\x7e]{1,16}$/.test(format) ? undefined : lookup(format);
    if (f === undefined) {
      throw invalidArgValue('format', format, `is not a format this library knows (${[...BY_NAME.keys()].join(', ')})`);
    }
    return f;
  },
  /** The format or undefined, never throwing for an unknown one. */
  find(format: string | number): PixelFormatInfo | undefined {
    try {
      return formats.get(format);
    } catch {
      return undefined;
    }
  },
  /**
   * The format a V4L2 pixel format code carries, by V4L2's code space only ('NM12', 'RGBP', or the
   * number). DRM and V4L2 codes may collide with different meanings (DRM's 'RG16' is RGB565, V4L2's
   * is 16-bit Bayer), so a code a V4L2 device reports is looked up here, not with get().
   */
  fromV4l2(code: string | number): PixelFormatInfo | undefined {
    if (typeof code === 'string') {
      if (code.length === 0 || code.length > 4) return undefined;
      return BY_V4L2.get(fourccValue(code.padEnd(4, ' ')));
    }
    return Number.isInteger(code) ? BY_V4L2.get(code) : undefined;
  },
  /**
   * Every image format, in table order; with { compressed: true } the coded formats too (after
   * them).
   */
  list(options: { compressed?: boolean } = {}): PixelFormatInfo[] {
    const o = validateObject<{ compressed?: boolean }>(options, 'options', true) ?? {};
    if (o.compressed !== undefined && typeof o.compressed !== 'boolean') {
      throw invalidArgType('options.compressed', 'of type boolean', o.compressed);
    }
    return o.compressed === true ? [...BY_NAME.values()] : [...IMAGES];
  },
};
