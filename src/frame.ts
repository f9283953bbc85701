/**
 * Frames: images in dma-bufs. A Frame is a width, a height, a pixel format, a modifier (linear) and
 * one plane per format plane, each a DmaBuf with an offset, a pitch and a size; the planes share one
 * buffer or have one each. FramePool keeps a fixed set of frames of one description and hands them
 * out again and again (nothing is reallocated), the way GStreamer's buffer pools and libcamera's
 * frame allocators do.
 *
 * Allocation: heaps and udmabuf get the byte sizes of formats.layout(); a DRM device gets dumb
 * buffers sized the way GStreamer's DRM dumb allocator sizes them for multi-planar formats: one dumb
 * buffer of the first plane's bytes per pixel, as many rows as all planes need at the pitch the
 * kernel chose (the pitch the layout then uses), or one dumb buffer per plane.
 *
 * A frame of a coded format (formats' `compressed`: FWHT, H264, ...) is a bitstream buffer: one
 * plane at offset 0 with pitch 0, of the description's `size` bytes (V4L2's sizeimage). Heaps and
 * udmabuf allocate it; DRM dumb buffers are images (width × height × bpp) and refuse it.
 */
import { ACCESS_MODES, DmaBuf, type Access, type Mapping } from './dmabuf';
import { Device, drm } from './drm';
import {
  dmabufError, I32_MAX, invalidArgType, invalidArgValue, outOfRange, stateError, validateFunction,
  validateInt, validateObject, validateOneOf, validateString,
} from './errors';
import { formats, type FrameLayout, type PixelFormatInfo } from './formats';
import { Heap, heaps } from './heap';
import { Closeable, quietly } from './lifecycle';
import { udmabuf } from './udmabuf';
import { admitAllocation } from './memory';
import { validateWaitOptions, type WaitOptions } from './wait';

/** DRM_FORMAT_MOD_LINEAR */
export const DRM_FORMAT_MOD_LINEAR = 0n;

export interface FrameDescription {
  width: number;
  height: number;
  /** A format name ('NV12'), 4-character code or fourcc number (see formats.get). */
  format: string | number;
  /**
   * Bytes of the buffer of a coded format ('FWHT', 'H264', ...: V4L2's sizeimage); required to
   * allocate one. Image formats take none: their size follows from the layout.
   */
  size?: number;
}

/** Where a frame's memory comes from: 'udmabuf', 'heap:<name>', 'drm:<path>', a Heap or a drm Device. */
export type FrameProvider = string | Heap | Device;

export interface FrameAllocateOptions {
  /** Default 'heap:system' when there is a system heap, else 'udmabuf'. */
  provider?: FrameProvider;
  /** 'one' buffer with plane offsets (default), or one buffer 'per-plane'. */
  buffers?: 'one' | 'per-plane';
  /** Round the first plane's pitch up to a multiple of this (heaps and udmabuf; DRM uses the kernel's pitch). */
  pitchAlign?: number;
  /** DMA_BUF_SET_NAME on every buffer (at most 31 bytes). */
  name?: string;
}

export interface FramePlane {
  readonly buffer: DmaBuf;
  readonly offset: number;
  /** Bytes per row; 0 for a coded format (a bitstream has no rows). */
  readonly pitch: number;
  readonly size: number;
}

export interface FramePlaneInput {
  buffer: DmaBuf;
  offset?: number;
  /** Bytes per row: required for an image format; 0 or left out for a coded one. */
  pitch?: number;
  /**
   * A coded format's plane: its bytes (default: the description's size, else the buffer from
   * offset to its end). Image formats take none (pitch × rows).
   */
  size?: number;
}

export interface FrameFromOptions extends FrameDescription {
  planes: FramePlaneInput[];
  modifier?: bigint;
  /** Own duplicates of the buffers (default), or take the given DmaBufs over. */
  dup?: boolean;
}

function resolveFormat(format: unknown): PixelFormatInfo {
  if (typeof format !== 'string' && typeof format !== 'number') {
    throw invalidArgType('format', 'a format name, a 4-character code or a fourcc number', format);
  }
  return formats.get(format);
}

const U32_MAX = 0xffffffff;

interface Description {
  width: number;
  height: number;
  format: PixelFormatInfo;
  /** A coded format's bytes; undefined for an image format (and for Frame.from without one). */
  size: number | undefined;
}

/** A description; `sizeRequired`: a coded format must say its size (allocation). */
function validateDescription(desc: unknown, sizeRequired = true): Description {
  const d = validateObject<FrameDescription>(desc, 'desc')!;
  const width = validateInt(d.width, 'desc.width', 1, 65535);
  const height = validateInt(d.height, 'desc.height', 1, 65535);
  const format = resolveFormat(d.format);
  let size: number | undefined;
  if (format.compressed) {
    if (d.size === undefined && sizeRequired) {
      throw invalidArgValue('desc.size', d.size, `must be given for a coded format (${format.name}): the bytes of its ` +
        'buffer (V4L2\'s sizeimage), as it has no rows to count');
    }
    if (d.size !== undefined) size = validateInt(d.size, 'desc.size', 1, U32_MAX);
  } else if (d.size !== undefined) {
    throw invalidArgValue('desc.size', d.size, `is for coded formats only: ${format.name}'s size follows from its layout`);
  }
  return { width, height, format, size };
}

/** ERR_DMABUF_UNSUPPORTED for a coded frame where an image is needed (a dumb buffer, a framebuffer, ...). */
export function codedFrameError(format: PixelFormatInfo, what: string, hint: string): Error {
  return dmabufError('ERR_DMABUF_UNSUPPORTED', `${format.name} is a coded format: its frames are bitstreams, not ` +
    `images, so ${what}; ${hint}`, { hint });
}

const DUMB_HINT = 'allocate coded frames from a heap or udmabuf (provider \'heap:system\' or \'udmabuf\')';

/** One frame's memory, as a provider made it: the buffers and the layout over them. */
interface Made {
  buffers: DmaBuf[];
  layout: FrameLayout;
  release(): void;
}

function defaultProvider(): FrameProvider {
  return heaps.list().some((h) => h.name === 'system') ? 'heap:system' : 'udmabuf';
}

function allocateBytes(alloc: (size: number) => DmaBuf, layout: FrameLayout): Made {
  const buffers: DmaBuf[] = [];
  try {
    for (const size of layout.sizes) buffers.push(alloc(size));
  } catch (e) {
    for (const b of buffers) b.close();
    throw e;
  }
  return { buffers, layout, release: () => { for (const b of buffers) b.close(); } };
}

function allocateDumb(device: Device, fmt: PixelFormatInfo, width: number, height: number, buffers: 'one' | 'per-plane'): Made {
  const made: { close(): void }[] = [];
  const release = (): void => { for (const m of made.reverse()) quietly(() => m.close()); };
  try {
    // The frame will be filled by the CPU or a device: no more than the machine can back (a bare
    // Device.createDumb takes any size the driver accepts).
    admitAllocation(device.backend, fmt.layout(width, height).sizes[0]!, 'system', 'ioctl(DRM_IOCTL_MODE_CREATE_DUMB)', device.path);
    if (buffers === 'one') {
      const first = fmt.planes[0]!;
      // rows of the first plane's pitch that every plane needs (chroma pitches follow the first)
      const probe = fmt.layout(width, height);
      const rows = Math.ceil(probe.sizes[0]! / probe.planes[0]!.pitch);
      const dumb = device.createDumb({ width, height: rows, bpp: first.cpp * 8 });
      made.push({ close: () => dumb.destroy() });
      const layout = fmt.layout(width, height, { pitch: dumb.pitch });
      if (layout.sizes[0]! > dumb.size) {
        throw dmabufError('ERR_DMABUF_UNSUPPORTED', `the dumb buffer has ${dumb.size} bytes, fewer than the ${layout.sizes[0]} the frame needs at pitch ${dumb.pitch}`);
      }
      const buf = dumb.export();
      made.push(buf);
      return { buffers: [buf], layout, release };
    }
    const planes = fmt.layout(width, height, { buffers: 'per-plane' }).planes.map((p, i) => {
      const dumb = device.createDumb({ width: p.width, height: p.height, bpp: fmt.planes[i]!.cpp * 8 });
      made.push({ close: () => dumb.destroy() });
      const buf = dumb.export();
      made.push(buf);
      return { buf, plane: { offset: 0, pitch: dumb.pitch, size: dumb.pitch * p.height, width: p.width, height: p.height } };
    });
    return {
      buffers: planes.map((p) => p.buf),
      layout: { width, height, buffers, planes: planes.map((p) => p.plane), sizes: planes.map((p) => p.buf.size) },
      release,
    };
  } catch (e) {
    release();
    throw e;
  }
}

function allocate(d: Description, o: FrameAllocateOptions): Made {
  const { format: fmt, width, height } = d;
  const buffers = o.buffers ?? 'one';
  validateOneOf(buffers, 'options.buffers', ['one', 'per-plane'] as const);
  const layoutOpts = { buffers, ...(o.pitchAlign === undefined ? {} : { pitchAlign: o.pitchAlign }),
    ...(d.size === undefined ? {} : { size: d.size }) };
  const provider = o.provider ?? defaultProvider();
  const dumb = provider instanceof Device || (typeof provider === 'string' && provider.startsWith('drm:') && provider.length > 4);
  if (dumb && fmt.compressed) throw codedFrameError(fmt, 'a DRM dumb buffer (rows of pixels) cannot hold one', DUMB_HINT);
  if (provider instanceof Heap) return allocateBytes((n) => provider.allocate(n), fmt.layout(width, height, layoutOpts));
  if (provider instanceof Device) return allocateDumb(provider, fmt, width, height, buffers);
  if (typeof provider !== 'string') throw invalidArgType('options.provider', "'udmabuf', 'heap:<name>', 'drm:<path>', a Heap or a Device", provider);
  if (provider === 'udmabuf') return allocateBytes((n) => udmabuf.create(n), fmt.layout(width, height, layoutOpts));
  if (provider.startsWith('heap:') && provider.length > 5) {
    const heap = heaps.open(provider.slice(5));
    try {
      return allocateBytes((n) => heap.allocate(n), fmt.layout(width, height, layoutOpts));
    } finally {
      heap.close();
    }
  }
  if (provider.startsWith('drm:') && provider.length > 4) {
    const device = drm.open(provider.slice(4));
    try {
      return allocateDumb(device, fmt, width, height, buffers);
    } finally {
      // exported dma-bufs and their mappings outlive the file; the dumb handles go with it
      device.close();
    }
  }
  throw invalidArgValue('options.provider', provider, "must be 'udmabuf', 'heap:<name>', 'drm:<path>', a Heap or a Device");
}

/** What a FramePool hands a frame: how to give it back. */
interface PoolLink {
  release(frame: Frame): void;
}

export class Frame extends Closeable {
  readonly width: number;
  readonly height: number;
  readonly format: PixelFormatInfo;
  /** DRM_FORMAT_MOD_LINEAR unless the allocator said otherwise. */
  readonly modifier: bigint;
  readonly planes: readonly FramePlane[];
  /** The distinct buffers behind the planes, in plane order. */
  readonly buffers: readonly DmaBuf[];
  #release: () => void;
  #closed = false;
  #pool: PoolLink | undefined;
  #out = false;

  /** @internal use Frame.allocate, Frame.from or a FramePool */
  constructor(width: number, height: number, format: PixelFormatInfo, modifier: bigint, planes: FramePlane[],
    release: () => void, pool?: PoolLink) {
    super();
    this.width = width;
    this.height = height;
    this.format = format;
    this.modifier = modifier;
    this.planes = Object.freeze(planes.map((p) => Object.freeze({ ...p })));
    this.buffers = Object.freeze([...new Set(planes.map((p) => p.buffer))]);
    this.#release = release;
    this.#pool = pool;
  }

  /**
   * A new frame from a provider: one buffer with the planes at offsets (default), or one per plane.
   * Pitches: width × bytes per pixel, rounded up to pitchAlign, for heaps and udmabuf; the kernel's
   * for DRM dumb buffers. A coded format: one buffer of desc.size bytes (heaps and udmabuf only).
   */
  static allocate(desc: FrameDescription, options: FrameAllocateOptions = {}): Frame {
    const d = validateDescription(desc);
    const { width, height, format } = d;
    const o = validateObject<FrameAllocateOptions>(options, 'options', true) ?? {};
    if (o.name !== undefined) validateString(o.name, 'options.name');
    const made = allocate(d, o);
    try {
      if (o.name !== undefined) for (const b of made.buffers) b.setName(o.name);
      const planes = made.layout.planes.map((p, i) => ({
        buffer: made.buffers[made.layout.buffers === 'one' ? 0 : i]!, offset: p.offset, pitch: p.pitch, size: p.size,
      }));
      return new Frame(width, height, format, DRM_FORMAT_MOD_LINEAR, planes, made.release);
    } catch (e) {
      made.release();
      throw e;
    }
  }

  /**
   * A frame over buffers you already have (an import, a V4L2 export). Each plane must fit its buffer
   * (offset + pitch × rows ≤ size) and its pitch must hold a row. With dup (the default) the frame
   * owns duplicates and your DmaBufs stay yours; with dup: false it takes them over. A coded format:
   * one plane { buffer, offset?, size? } (pitch 0 or left out) with offset + size ≤ the buffer's size.
   */
  static from(options: FrameFromOptions): Frame {
    const o = validateObject<FrameFromOptions>(options, 'options')!;
    const desc = validateDescription(o, false);
    const { width, height, format } = desc;
    const modifier = o.modifier ?? DRM_FORMAT_MOD_LINEAR;
    if (typeof modifier !== 'bigint') throw invalidArgType('options.modifier', 'of type bigint', modifier);
    if (o.dup !== undefined && typeof o.dup !== 'boolean') throw invalidArgType('options.dup', 'of type boolean', o.dup);
    if (!Array.isArray(o.planes)) throw invalidArgType('options.planes', 'an instance of Array', o.planes);
    if (o.planes.length !== format.planes.length) {
      throw invalidArgValue('options.planes', o.planes.length, `must have ${format.planes.length} plane(s) for ${format.name}`);
    }
    const rows = format.compressed ? [] : format.layout(width, height).planes;
    const checked = o.planes.map((p, i) => {
      const at = `options.planes[${i}]`;
      validateObject(p, at);
      if (!(p.buffer instanceof DmaBuf)) throw invalidArgType(`${at}.buffer`, 'an instance of DmaBuf', p.buffer);
      if (p.buffer.closed) throw stateError(`${at}.buffer is closed`);
      const offset = p.offset === undefined ? 0 : validateInt(p.offset, `${at}.offset`, 0, p.buffer.size);
      if (format.compressed) return codedPlane(format, p, at, offset, desc.size);
      if (p.size !== undefined) {
        throw invalidArgValue(`${at}.size`, p.size, `is for coded formats only: a ${format.name} plane has pitch × rows bytes`);
      }
      const min = rows[i]!.width * format.planes[i]!.cpp;
      const pitch = validateInt(p.pitch, `${at}.pitch`, min, I32_MAX);
      const size = pitch * rows[i]!.height;
      if (offset + size > p.buffer.size) {
        throw outOfRange(`${at}.offset`, `such that offset + pitch × rows (${size}) ≤ the buffer's ${p.buffer.size} bytes`, offset);
      }
      return { buffer: p.buffer, offset, pitch, size };
    });
    // one owned DmaBuf per distinct input buffer
    const owned = new Map<DmaBuf, DmaBuf>();
    try {
      for (const p of checked) if (!owned.has(p.buffer)) owned.set(p.buffer, o.dup === false ? p.buffer : p.buffer.dup());
    } catch (e) {
      if (o.dup !== false) for (const b of owned.values()) b.close();
      throw e;
    }
    const planes = checked.map((p) => ({ ...p, buffer: owned.get(p.buffer)! }));
    return new Frame(width, height, format, modifier, planes, () => { for (const b of owned.values()) b.close(); });
  }

  get closed(): boolean {
    return this.#closed;
  }

  #check(): void {
    if (this.#closed) throw dmabufError('ERR_DMABUF_CLOSED', 'Frame is closed');
    if (this.#pool !== undefined && !this.#out) throw stateError('this frame was released to its pool');
  }

  /**
   * Run fn between SYNC START and SYNC END on every buffer of the frame (END always, also when fn
   * throws or its promise rejects). fn gets one Uint8Array per plane: zero-copy views, or for a
   * read-only buffer read with 'read', copies.
   */
  access<T>(access: Access, fn: (planes: Uint8Array[]) => T): T {
    validateOneOf(access, 'access', ACCESS_MODES);
    validateFunction(fn, 'fn');
    this.#check();
    const begun: DmaBuf[] = [];
    const end = (): void => {
      for (const b of begun.reverse()) quietly(() => b.endAccess(access));
    };
    let result: T;
    try {
      for (const b of this.buffers) {
        b.beginAccess(access);
        begun.push(b);
      }
      result = fn(this.#views(access));
    } catch (e) {
      end();
      throw e;
    }
    if (result instanceof Promise) return result.finally(end) as T;
    // every buffer gets its END; the first END that fails is reported (the caller's own error wins above)
    let failed: unknown;
    for (const b of begun.reverse()) {
      try {
        b.endAccess(access);
      } catch (e) {
        failed ??= e;
      }
    }
    if (failed !== undefined) throw failed;
    return result;
  }

  /** access() whose START waits for fences off the JS thread (see DmaBuf.beginAccessAsync). */
  async accessAsync<T>(access: Access, fn: (planes: Uint8Array[]) => T | Promise<T>, options: WaitOptions = {}): Promise<T> {
    validateOneOf(access, 'access', ACCESS_MODES);
    validateFunction(fn, 'fn');
    validateWaitOptions(options);
    this.#check();
    const begun: DmaBuf[] = [];
    try {
      for (const b of this.buffers) {
        await b.beginAccessAsync(access, options);
        begun.push(b);
      }
      return await fn(this.#views(access));
    } finally {
      for (const b of begun.reverse()) quietly(() => b.endAccess(access));
    }
  }

  #views(access: Access): Uint8Array[] {
    return this.planes.map((p) => {
      const m = cpuMapping(p.buffer);
      if (m.access === 'read') {
        if (access !== 'read') throw stateError('a read-only buffer can only be read');
        return m.read(p.offset, p.size);
      }
      return m.bytes.subarray(p.offset, p.offset + p.size);
    });
  }

  /** Give a pool's frame back (it stays allocated); for a frame of no pool, the same as close(). */
  release(): void {
    if (this.#closed) return;
    if (this.#pool === undefined) {
      this.close();
      return;
    }
    if (!this.#out) return;
    this.#out = false;
    this.#pool.release(this);
  }

  /** Close every buffer the frame owns (a pool's frame goes back to its pool instead). Idempotent. */
  close(): void {
    if (this.#closed) return;
    if (this.#pool !== undefined) {
      this.release();
      return;
    }
    this.#closed = true;
    this.#release(); // closing a buffer unmaps its mappings (and detaches their views)
  }

  /** @internal FramePool: hand the frame out, or free it for good. */
  static poolOps = {
    acquire(f: Frame): void {
      f.#out = true;
    },
    destroy(f: Frame): void {
      f.#pool = undefined;
      f.close();
    },
    isOut(f: Frame): boolean {
      return f.#out;
    },
  };

  /** @internal */
  static fromPool(made: Frame, pool: PoolLink): Frame {
    made.#pool = pool;
    return made;
  }
}

/** Frame.from's plane of a coded format: bytes from offset, pitch 0. */
function codedPlane(format: PixelFormatInfo, p: FramePlaneInput, at: string, offset: number,
  descSize: number | undefined): { buffer: DmaBuf; offset: number; pitch: number; size: number } {
  if (p.pitch !== undefined && p.pitch !== 0) {
    throw invalidArgValue(`${at}.pitch`, p.pitch, `must be 0 or left out for a coded format (${format.name}): it has no rows`);
  }
  const size = p.size === undefined ? descSize ?? p.buffer.size - offset : validateInt(p.size, `${at}.size`, 1, U32_MAX);
  if (p.size !== undefined && descSize !== undefined && p.size !== descSize) {
    throw invalidArgValue(`${at}.size`, p.size, `differs from options.size (${descSize}): give one of them`);
  }
  if (size < 1) throw outOfRange(`${at}.offset`, `below the buffer's ${p.buffer.size} bytes (a coded plane holds a byte at least)`, offset);
  if (offset + size > p.buffer.size) {
    throw outOfRange(`${at}.offset`, `such that offset + size (${size}) ≤ the buffer's ${p.buffer.size} bytes`, offset);
  }
  return { buffer: p.buffer, offset, pitch: 0, size };
}

// The mapping each buffer's CPU access uses (read-only buffers: a read-only one), kept while the
// buffer is open; closing the buffer unmaps it.
const maps = new WeakMap<DmaBuf, Mapping>();
function cpuMapping(buf: DmaBuf): Mapping {
  let m = maps.get(buf);
  if (m === undefined || !m.mapped) {
    m = buf.map(buf.readOnly ? 'read' : 'readwrite');
    maps.set(buf, m);
  }
  return m;
}

export interface FramePoolOptions extends FrameDescription, FrameAllocateOptions {
  /** How many frames the pool allocates, once. */
  count: number;
}

export interface FramePoolStats {
  count: number;
  free: number;
  out: number;
  /** acquire() calls that got a frame. */
  acquired: number;
  /** acquireAsync() calls that had to wait for a release. */
  waited: number;
}

/**
 * A fixed set of frames of one description: allocated once, recycled, never reallocated.
 * acquire() takes a free frame (ERR_DMABUF_BUSY when all are out); acquireAsync() waits for one.
 */
export class FramePool extends Closeable {
  readonly width: number;
  readonly height: number;
  readonly format: PixelFormatInfo;
  /** A coded format's bytes per frame; undefined for an image format. */
  readonly size: number | undefined;
  readonly count: number;
  readonly #frames: Frame[] = [];
  readonly #free: Frame[] = [];
  readonly #waiters: { resolve: (f: Frame) => void; reject: (e: unknown) => void; cleanup: () => void }[] = [];
  #closed = false;
  #acquired = 0;
  #waited = 0;

  constructor(options: FramePoolOptions) {
    super();
    const o = validateObject<FramePoolOptions>(options, 'options')!;
    const { width, height, format, size } = validateDescription(o);
    this.width = width;
    this.height = height;
    this.format = format;
    this.size = size;
    this.count = validateInt(o.count, 'options.count', 1, 1024);
    const link: PoolLink = { release: (f) => this.#give(f) };
    const desc: FrameDescription = { width, height, format: format.name, ...(size === undefined ? {} : { size }) };
    try {
      for (let i = 0; i < this.count; i++) {
        const f = Frame.fromPool(Frame.allocate(desc, o), link);
        this.#frames.push(f);
        this.#free.push(f);
      }
    } catch (e) {
      for (const f of this.#frames) Frame.poolOps.destroy(f);
      throw e;
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Every frame of the pool, out or free. */
  get frames(): readonly Frame[] {
    return [...this.#frames];
  }

  stats(): FramePoolStats {
    return { count: this.count, free: this.#free.length, out: this.count - this.#free.length, acquired: this.#acquired, waited: this.#waited };
  }

  /** A free frame, now out of the pool until release(). ERR_DMABUF_BUSY when every frame is out. */
  acquire(): Frame {
    if (this.#closed) throw dmabufError('ERR_DMABUF_CLOSED', 'FramePool is closed');
    const f = this.#free.shift();
    if (f === undefined) throw dmabufError('ERR_DMABUF_BUSY', `all ${this.count} frames of the pool are out; release one, or use acquireAsync()`);
    Frame.poolOps.acquire(f);
    this.#acquired++;
    return f;
  }

  /** A free frame, waiting for a release while all are out (timeout: ERR_DMABUF_TIMEOUT; signal: AbortError). */
  acquireAsync(options: WaitOptions = {}): Promise<Frame> {
    let o: WaitOptions;
    try {
      o = validateWaitOptions(options);
      if (this.#closed) throw dmabufError('ERR_DMABUF_CLOSED', 'FramePool is closed');
      if (this.#free.length > 0) return Promise.resolve(this.acquire());
      o.signal?.throwIfAborted();
    } catch (e) {
      return Promise.reject(e);
    }
    this.#waited++;
    return new Promise<Frame>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const onAbort = (): void => {
        w.cleanup();
        reject(o.signal!.reason);
      };
      const w = {
        resolve, reject,
        cleanup: () => {
          if (timer) clearTimeout(timer);
          o.signal?.removeEventListener('abort', onAbort);
          const i = this.#waiters.indexOf(w);
          if (i >= 0) this.#waiters.splice(i, 1);
        },
      };
      this.#waiters.push(w);
      o.signal?.addEventListener('abort', onAbort, { once: true });
      if (o.timeout !== undefined && o.timeout !== Infinity) {
        timer = setTimeout(() => {
          w.cleanup();
          reject(dmabufError('ERR_DMABUF_TIMEOUT', `no frame of the pool came back within ${o.timeout} ms`, { timeout: o.timeout }));
        }, o.timeout);
      }
    });
  }

  #give(f: Frame): void {
    if (this.#closed) {
      Frame.poolOps.destroy(f);
      return;
    }
    const w = this.#waiters[0];
    if (w !== undefined) {
      w.cleanup();
      Frame.poolOps.acquire(f);
      this.#acquired++;
      w.resolve(f);
      return;
    }
    this.#free.push(f);
  }

  /** Free the frames that are in the pool; frames still out are freed when released. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const w of [...this.#waiters]) {
      w.cleanup();
      w.reject(dmabufError('ERR_DMABUF_CLOSED', 'FramePool is closed'));
    }
    for (const f of this.#free.splice(0)) Frame.poolOps.destroy(f);
  }
}
