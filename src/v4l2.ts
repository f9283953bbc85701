/// <reference types="node" preserve="true" />
/**
 * V4L2: video capture, output and memory-to-memory devices (cameras, encoders, decoders; vivid,
 * vim2m and vicodec in the VM) exchanging frames as dma-bufs.
 *
 * A VideoDevice is one /dev/videoN, opened O_RDWR | O_NONBLOCK | O_CLOEXEC. Its queues (`capture`:
 * what the device produces, `output`: what it consumes; a memory-to-memory device has both) hide
 * whether the device speaks the single- or the multi-planar API: formats are asked for by their DRM
 * names ('NV12') or V4L2 codes ('NM12'), and buffers come and go as Frames.
 *
 * - exportBuffers(n): the device allocates (REQBUFS(MMAP)) and each plane is exported (EXPBUF) as a
 *   DmaBuf; the Frames own them and outlive the device (videobuf2 keeps orphaned buffers alive).
 * - importBuffers(n): the queue takes our Frames (REQBUFS(DMABUF)). Each Frame is always queued on
 *   the same V4L2 index while that index is free (libcamera's V4L2BufferCache): videobuf2 maps an
 *   imported dma-buf at QBUF and keeps the mapping while the same fds come back on that index.
 * - queue(), start(), dequeue() (poll off the JS thread, then a DQBUF that never blocks), stream(),
 *   stop() (STREAMOFF: every buffer comes back), release().
 * - Codecs: a queue whose format is coded (FWHT, H264, ...: formats' `compressed`) carries Frames of
 *   one plane of bytes, as big as the format's sizeimage; bytesUsed says how much of it is payload.
 *   encoderCommand() / decoderCommand() drain ('stop') and restart ('start'); the buffer that ends
 *   a drain comes back with `last` set, and DQBUF after it is EPIPE until the capture queue restarts.
 *
 * Policy lives here; the backend calls are one ioctl each (native/v4l2.cc).
 */
import { EventEmitter } from 'node:events';
import type { Backend, Fd, V4l2Buffer, V4l2Capability, V4l2CodecCommand, V4l2PixFormat, V4l2QueryExtCtrl } from './backend/types';
import { getBackend } from './backend/index';
import {
  O_CLOEXEC, O_NONBLOCK, O_RDWR, POLLIN, POLLOUT, POLLPRI, V4L2_BUF_CAP_SUPPORTS_DMABUF, V4L2_BUF_CAP_SUPPORTS_MMAP,
  V4L2_BUF_FLAG_ERROR, V4L2_BUF_FLAG_LAST, V4L2_BUF_TYPE_VIDEO_CAPTURE, V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE, V4L2_BUF_TYPE_VIDEO_OUTPUT,
  V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE, V4L2_CAP_DEVICE_CAPS, V4L2_CAP_STREAMING, V4L2_CAP_VIDEO_CAPTURE,
  V4L2_CAP_VIDEO_CAPTURE_MPLANE, V4L2_CAP_VIDEO_M2M, V4L2_CAP_VIDEO_M2M_MPLANE, V4L2_CAP_VIDEO_OUTPUT,
  V4L2_CAP_VIDEO_OUTPUT_MPLANE, V4L2_CTRL_FLAG_NEXT_CTRL, V4L2_CTRL_TYPE_BITMASK, V4L2_CTRL_TYPE_BOOLEAN, V4L2_CTRL_TYPE_BUTTON,
  V4L2_CTRL_TYPE_CTRL_CLASS, V4L2_CTRL_TYPE_INTEGER, V4L2_CTRL_TYPE_INTEGER64, V4L2_CTRL_TYPE_INTEGER_MENU,
  V4L2_CTRL_TYPE_MENU, V4L2_CTRL_TYPE_STRING, V4L2_CTRL_WHICH_CUR_VAL, V4L2_EVENT_SOURCE_CHANGE, V4L2_FIELD_ANY,
  V4L2_MEMORY_DMABUF, V4L2_MEMORY_MMAP, V4L2_DEC_CMD_FLUSH, V4L2_DEC_CMD_PAUSE, V4L2_DEC_CMD_RESUME,
  V4L2_DEC_CMD_START, V4L2_DEC_CMD_STOP, V4L2_ENC_CMD_PAUSE, V4L2_ENC_CMD_RESUME, V4L2_ENC_CMD_START, V4L2_ENC_CMD_STOP,
} from './constants';
import { DmaBuf } from './dmabuf';
import {
  closedError, dmabufError, invalidArgType, invalidArgValue, outOfRange, stateError, validateInt, validateObject,
  validateString, withPath,
} from './errors';
import { formats, fourccString, fourccValue, type PixelFormatInfo } from './formats';
import { Frame, type FrameDescription } from './frame';
import { OwnedFd, quietly } from './lifecycle';
import { validateWaitOptions, waitReadable, type WaitOptions } from './wait';

export const VIDEO_DIR = '/dev';
const MAX_BUFFERS = 64;

export type QueueDirection = 'capture' | 'output';

export interface QueueInfo {
  /** The buffer type the library uses for this queue (V4L2_BUF_TYPE_VIDEO_*). */
  type: number;
  multiplanar: boolean;
  /** REQBUFS(0)'s V4L2_BUF_CAP_SUPPORTS_DMABUF / _MMAP; null when the queue could not be asked (busy). */
  dmabuf: boolean | null;
  mmap: boolean | null;
}

export interface VideoDeviceInfo {
  path: string;
  driver: string;
  card: string;
  /** bus_info, e.g. 'platform:vivid-000' */
  bus: string;
  /** The driver's version, 'major.minor.patch'. */
  version: string;
  /** The node's V4L2_CAP_* (device_caps). */
  capabilities: number;
  capture: QueueInfo | null;
  output: QueueInfo | null;
  /** A memory-to-memory device: output frames go in, capture frames come out. */
  m2m: boolean;
  /** Why it could not be opened or asked, if so. */
  error?: string;
}

export interface OpenQuery {
  /** QUERYCAP's driver: 'vivid', 'vim2m', 'vicodec', 'uvcvideo', ... */
  driver: string;
  /** bus_info, e.g. 'platform:vivid-001' */
  bus?: string;
  /** Needs a capture queue (default: any). */
  capture?: boolean;
  output?: boolean;
  m2m?: boolean;
}

/** A format a queue offers (ENUM_FMT). */
export interface QueueFormatDesc {
  /** The V4L2 code, e.g. 'NM12'. */
  fourcc: string;
  pixelformat: number;
  description: string;
  flags: number;
  /** The library's format with the same bytes, if it has one (NM12 → NV12). */
  format: PixelFormatInfo | undefined;
}

export interface QueueFormat {
  width: number;
  height: number;
  /** The V4L2 code the device chose, e.g. 'NM12'. */
  fourcc: string;
  /** The library's format, if it knows the code. */
  format: PixelFormatInfo | undefined;
  /** The device's planes: one buffer each (multi-planar API) or one for all. */
  planes: { pitch: number; size: number }[];
  field: number;
  colorspace: number;
  /** The raw S_FMT answer. */
  raw: V4l2PixFormat;
}

export interface SetFormatOptions {
  /** TRY_FMT: what the device would choose, without changing anything. */
  try?: boolean;
}

export interface QueueOptions {
  /**
   * Bytes of payload per plane (output queues; default: each plane's size). A coded frame (a
   * bitstream to decode) should say how many of its bytes are the stream: the default, the whole
   * plane, hands the decoder whatever follows the payload too. 1 at least for a coded output queue.
   */
  bytesUsed?: number | number[];
}

export interface Dequeued {
  frame: Frame;
  index: number;
  sequence: number;
  /** The buffer's timestamp in milliseconds (CLOCK_MONOTONIC for most drivers). */
  timestamp: number;
  /** Payload bytes per device plane (data_offset included, as V4L2 counts it). */
  bytesUsed: number[];
  /**
   * Where the driver put each device plane's data (data_offset; multi-planar API only, else 0).
   * Most drivers use 0; vivid starts one plane of NM16 and NM61 128 bytes in. The frame's plane
   * offsets are those of the layout, so with a non-zero data offset read the plane from there.
   */
  dataOffsets: number[];
  /** V4L2_BUF_FLAG_*; `error` is V4L2_BUF_FLAG_ERROR, `last` V4L2_BUF_FLAG_LAST. */
  flags: number;
  error: boolean;
  /**
   * The codec's last buffer (V4L2_BUF_FLAG_LAST): a drain ('stop' command) ended here, or a decoder
   * stops before a resolution change. Its bytesUsed may be 0. The next dequeue() of this capture
   * queue is EPIPE until the queue is stopped and started again.
   */
  last: boolean;
}

/** An input of a capture device (ENUMINPUT): a camera sensor, a tuner, a connector. */
export interface VideoInputInfo {
  index: number;
  name: string;
  /** 'tuner' (V4L2_INPUT_TYPE_TUNER), 'camera' (V4L2_INPUT_TYPE_CAMERA: cameras and connectors), 'touch' */
  type: 'tuner' | 'camera' | 'touch' | number;
  /** V4L2_IN_ST_* (0: no problem seen) */
  status: number;
  /** V4L2_IN_CAP_* */
  capabilities: number;
}

/** An output of an output device (ENUMOUTPUT). */
export interface VideoOutputInfo {
  index: number;
  name: string;
  /** 'modulator' (V4L2_OUTPUT_TYPE_MODULATOR), 'analog' (V4L2_OUTPUT_TYPE_ANALOG: connectors), 'analog-overlay' */
  type: 'modulator' | 'analog' | 'analog-overlay' | number;
  /** V4L2_OUT_CAP_* */
  capabilities: number;
}

const INPUT_TYPES: Record<number, VideoInputInfo['type']> = { 1: 'tuner', 2: 'camera', 3: 'touch' };
const OUTPUT_TYPES: Record<number, VideoOutputInfo['type']> = { 1: 'modulator', 2: 'analog', 3: 'analog-overlay' };

/** An encoder command (VIDIOC_ENCODER_CMD): 'stop' drains, 'start' goes on after one. */
export type EncoderCommand = 'start' | 'stop' | 'pause' | 'resume';
/** A decoder command (VIDIOC_DECODER_CMD). */
export type DecoderCommand = 'start' | 'stop' | 'pause' | 'resume' | 'flush';

export interface CodecCommandOptions {
  /** V4L2_ENC_CMD_STOP_AT_GOP_END, V4L2_DEC_CMD_STOP_IMMEDIATELY, ... (default 0). */
  flags?: number;
  /** TRY_ENCODER_CMD / TRY_DECODER_CMD: would the driver take it? Nothing happens. */
  try?: boolean;
}

const ENCODER_COMMANDS: Record<EncoderCommand, number> = {
  start: V4L2_ENC_CMD_START, stop: V4L2_ENC_CMD_STOP, pause: V4L2_ENC_CMD_PAUSE, resume: V4L2_ENC_CMD_RESUME,
};
const DECODER_COMMANDS: Record<DecoderCommand, number> = {
  start: V4L2_DEC_CMD_START, stop: V4L2_DEC_CMD_STOP, pause: V4L2_DEC_CMD_PAUSE, resume: V4L2_DEC_CMD_RESUME,
  flush: V4L2_DEC_CMD_FLUSH,
};

/** DQBUF's EPIPE: the capture queue handed out its last buffer. */
const EPIPE_HINT = 'the device has signalled its last buffer (V4L2_BUF_FLAG_LAST: a drain ended, or a decoder ' +
  'reached a resolution change): stop() and start() the capture queue to go on (after a source change, ' +
  'release() it and set it up for the new format)';

export interface ControlInfo {
  id: number;
  /** The driver's name, 'Test Pattern'. */
  name: string;
  /** The name as v4l2-ctl spells it, 'test_pattern'. */
  key: string;
  type: number;
  minimum: number | bigint;
  maximum: number | bigint;
  step: number | bigint;
  defaultValue: number | bigint;
  flags: number;
  /** Menu items (MENU: names, INTEGER_MENU: values), by index. */
  menu?: { index: number; name?: string; value?: number | bigint }[];
}

function kernelVersion(v: number): string {
  return `${(v >>> 16) & 0xff}.${(v >>> 8) & 0xff}.${v & 0xff}`;
}

/** v4l2-ctl's name for a control: lower case, runs of other characters as one '_'. */
export function controlKey(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_+|_+$/g, '');
}

/** bigint → number where it is exact. */
function num(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

function errCode(e: unknown): string | undefined {
  return (e as { code?: string }).code;
}

function nodeCaps(c: V4l2Capability): number {
  return (c.capabilities & V4L2_CAP_DEVICE_CAPS) !== 0 ? c.deviceCaps : c.capabilities;
}

/** The queues a node has, by its capabilities: [capture type, output type], each or null. */
function queueTypes(caps: number): { capture: number | null; output: number | null; m2m: boolean } {
  if (caps & V4L2_CAP_VIDEO_M2M_MPLANE) return { capture: V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE, output: V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE, m2m: true };
  if (caps & V4L2_CAP_VIDEO_M2M) return { capture: V4L2_BUF_TYPE_VIDEO_CAPTURE, output: V4L2_BUF_TYPE_VIDEO_OUTPUT, m2m: true };
  const capture = caps & V4L2_CAP_VIDEO_CAPTURE_MPLANE ? V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE
    : caps & V4L2_CAP_VIDEO_CAPTURE ? V4L2_BUF_TYPE_VIDEO_CAPTURE : null;
  const output = caps & V4L2_CAP_VIDEO_OUTPUT_MPLANE ? V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE
    : caps & V4L2_CAP_VIDEO_OUTPUT ? V4L2_BUF_TYPE_VIDEO_OUTPUT : null;
  return { capture, output, m2m: false };
}

const isMplane = (type: number): boolean => type === V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE || type === V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE;

function queueInfo(backend: Backend, fd: Fd, type: number): QueueInfo {
  let dmabuf: boolean | null = null;
  let mmap: boolean | null = null;
  try {
    // count 0 frees nothing on an idle queue and reports what the queue supports
    const r = backend.v4l2ReqBufs(fd, type, V4L2_MEMORY_MMAP, 0);
    dmabuf = (r.capabilities & V4L2_BUF_CAP_SUPPORTS_DMABUF) !== 0;
    mmap = (r.capabilities & V4L2_BUF_CAP_SUPPORTS_MMAP) !== 0;
  } catch {
    /* EBUSY: another file streams on it */
  }
  return { type, multiplanar: isMplane(type), dmabuf, mmap };
}

function nodes(backend: Backend): string[] {
  let names: string[];
  try {
    names = backend.readdir(VIDEO_DIR);
  } catch (e) {
    if (errCode(e) === 'ENOENT') return [];
    throw withPath(e, VIDEO_DIR);
  }
  return names.filter((n) => /^video\d+$/.test(n)).sort((a, b) => Number(a.slice(5)) - Number(b.slice(5)))
    .map((n) => `${VIDEO_DIR}/${n}`);
}

function describe(backend: Backend, fd: Fd, path: string): VideoDeviceInfo {
  const c = backend.v4l2QueryCap(fd);
  const caps = nodeCaps(c);
  const t = queueTypes(caps);
  return {
    path, driver: c.driver, card: c.card, bus: c.busInfo, version: kernelVersion(c.version), capabilities: caps,
    capture: t.capture === null ? null : queueInfo(backend, fd, t.capture),
    output: t.output === null ? null : queueInfo(backend, fd, t.output), m2m: t.m2m,
  };
}

const OPEN_FLAGS = O_RDWR | O_NONBLOCK | O_CLOEXEC;

/** Every /dev/videoN with its driver, capabilities and what its queues support. */
function list(): VideoDeviceInfo[] {
  const backend = getBackend();
  return nodes(backend).map((path) => {
    let fd: Fd;
    try {
      fd = backend.open(path, OPEN_FLAGS);
    } catch (e) {
      return { path, driver: '', card: '', bus: '', version: '', capabilities: 0, capture: null, output: null, m2m: false,
        error: `${errCode(e) ?? ''} ${(e as Error).message}`.trim() };
    }
    try {
      return describe(backend, fd, path);
    } catch (e) {
      return { path, driver: '', card: '', bus: '', version: '', capabilities: 0, capture: null, output: null, m2m: false,
        error: `${errCode(e) ?? ''} ${(e as Error).message}`.trim() };
    } finally {
      backend.close(fd);
    }
  });
}

function matches(info: VideoDeviceInfo, q: OpenQuery): boolean {
  if (info.driver !== q.driver) return false;
  if (q.bus !== undefined && info.bus !== q.bus) return false;
  if (q.capture === true && info.capture === null) return false;
  if (q.output === true && info.output === null) return false;
  if (q.m2m !== undefined && info.m2m !== q.m2m) return false;
  return true;
}

/** Open a video node by path, or the first node that matches a query. */
function open(target: string | OpenQuery): VideoDevice {
  const backend = getBackend();
  if (typeof target === 'string') {
    if (target === '') throw invalidArgValue('path', target, 'must be a video node path such as /dev/video0');
    let fd: Fd;
    try {
      fd = backend.open(target, OPEN_FLAGS);
    } catch (e) {
      throw withPath(e, target);
    }
    return new VideoDevice(backend, fd, target);
  }
  const q = validateObject<OpenQuery>(target, 'target');
  if (!q) throw invalidArgType('target', 'a path or { driver }', target);
  validateString(q.driver, 'target.driver');
  if (q.bus !== undefined) validateString(q.bus, 'target.bus');
  for (const k of ['capture', 'output', 'm2m'] as const) {
    if (q[k] !== undefined && typeof q[k] !== 'boolean') throw invalidArgType(`target.${k}`, 'of type boolean', q[k]);
  }
  const seen: string[] = [];
  for (const info of list()) {
    seen.push(info.error ? `${info.path}: ${info.error}` : `${info.path} ${info.driver} ${info.bus}`);
    if (info.error === undefined && matches(info, q)) return open(info.path);
  }
  throw dmabufError('ERR_DMABUF_NO_DEVICE', `no video node with driver '${q.driver}'${q.bus ? ` on ${q.bus}` : ''} ` +
    `and the queues asked for (seen: ${seen.join('; ') || 'none'})`, { path: VIDEO_DIR });
}

/** Each device's (driver, bus, buffer type) videobuf2 exporter name, as its own buffers say (VideoQueue.allocator). */
const allocators = new Map<string, string | null>();

interface Slot {
  index: number;
  /** The frame this index holds (export) or last held (import: the cache's affinity). */
  frame: Frame | null;
  queued: boolean;
  /** Dequeued and not queued again: the application has it (start() leaves it alone). */
  held: boolean;
  /**
   * PREPARE_BUF'd and not queued since: the kernel holds this frame's memory on the index and its next
   * QBUF uses it whatever fd it names, so the index is the frame's alone until QBUF, DQBUF or STREAMOFF.
   */
  prepared: boolean;
}

/** One queue of a video device. */
export class VideoQueue {
  readonly device: VideoDevice;
  readonly direction: QueueDirection;
  /** V4L2_BUF_TYPE_VIDEO_* */
  readonly type: number;
  readonly multiplanar: boolean;
  #memory: number | null = null;
  #slots: Slot[] = [];
  #byFrame = new Map<Frame, Slot>();
  #format: QueueFormat | null = null;
  #streaming = false;

  /** @internal use device.capture / device.output */
  constructor(device: VideoDevice, direction: QueueDirection, type: number) {
    this.device = device;
    this.direction = direction;
    this.type = type;
    this.multiplanar = isMplane(type);
  }

  get streaming(): boolean {
    return this.#streaming && !this.device.closed;
  }

  /** 'mmap' after exportBuffers, 'dmabuf' after importBuffers, else null. */
  get memory(): 'mmap' | 'dmabuf' | null {
    return this.#memory === V4L2_MEMORY_MMAP ? 'mmap' : this.#memory === V4L2_MEMORY_DMABUF ? 'dmabuf' : null;
  }

  /** Buffers the queue has (REQBUFS' count), and how many of them the device holds now. */
  get buffers(): { count: number; queued: number } {
    return { count: this.#slots.length, queued: this.#slots.filter((s) => s.queued).length };
  }

  #call<T>(fn: (b: Backend, fd: Fd) => T, hint?: (code: string | undefined) => string | undefined): T {
    const d = this.device;
    const fd = d.fd;
    try {
      return fn(d.backend, fd);
    } catch (e) {
      throw withPath(e, d.path, hint?.(errCode(e)));
    }
  }

  /** VIDIOC_ENUM_FMT until EINVAL. */
  formats(): QueueFormatDesc[] {
    const out: QueueFormatDesc[] = [];
    for (let i = 0; i < 1024; i++) {
      let d;
      try {
        d = this.#call((b, fd) => b.v4l2EnumFmt(fd, this.type, i));
      } catch (e) {
        if (errCode(e) === 'EINVAL') break;
        throw e;
      }
      out.push({ fourcc: fourccString(d.pixelformat), pixelformat: d.pixelformat, description: d.description,
        flags: d.flags, format: formats.fromV4l2(d.pixelformat) });
    }
    return out;
  }

  /** VIDIOC_ENUM_FRAMESIZES of a format (its V4L2 code or the library's name). */
  frameSizes(format: string | number): ({ width: number; height: number } | { minWidth: number; maxWidth: number;
    stepWidth: number; minHeight: number; maxHeight: number; stepHeight: number })[] {
    const code = this.#code(format);
    const out = [];
    for (let i = 0; i < 4096; i++) {
      let s;
      try {
        s = this.#call((b, fd) => b.v4l2EnumFrameSizes(fd, code, i));
      } catch (e) {
        if (errCode(e) === 'EINVAL') break;
        throw e;
      }
      if (s.discrete) out.push({ ...s.discrete });
      else if (s.stepwise) {
        out.push({ ...s.stepwise });
        break;
      }
    }
    return out;
  }

  /**
   * The V4L2 code for a format: a V4L2 code as given; a library name by the API this queue speaks
   * (one buffer per plane, 'NM12', on a multi-planar queue that lists it; else the one-buffer code).
   */
  #code(format: string | number): number {
    if (typeof format === 'number') return validateInt(format, 'format', 0, 0xffffffff);
    if (typeof format !== 'string') throw invalidArgType('format', 'a format name or a V4L2 code', format);
    // a 4-character code is V4L2's here ('NM12', 'RG16' = Bayer), unless it is a library name ('NV12')
    const byName = formats.list({ compressed: true }).find((f) => f.name === format);
    if (byName === undefined) {
      if (format.length === 4 && /^[\x20-\x7e]{4}$/.test(format)) return fourccValue(format);
      throw invalidArgValue('format', format, 'is not a format this library knows nor a 4-character V4L2 code');
    }
    const info = byName;
    if (info.v4l2.length === 0) throw invalidArgValue('format', format, 'has no V4L2 pixel format');
    const exact = info.v4l2.find((v) => v.fourcc === format);
    if (exact) return exact.value;
    const listed = new Set(this.formats().map((f) => f.pixelformat));
    const want = this.multiplanar ? ['per-plane', 'one'] : ['one'];
    for (const b of want) {
      const v = info.v4l2.find((x) => x.buffers === b && listed.has(x.value));
      if (v) return v.value;
    }
    return info.v4l2.find((x) => x.buffers === 'one')?.value ?? info.v4l2[0]!.value;
  }

  #toFormat(raw: V4l2PixFormat): QueueFormat {
    return {
      width: raw.width, height: raw.height, fourcc: fourccString(raw.pixelformat), format: formats.fromV4l2(raw.pixelformat),
      planes: raw.planes.map((p) => ({ pitch: p.bytesperline, size: p.sizeimage })), field: raw.field,
      colorspace: raw.colorspace, raw,
    };
  }

  /**
   * VIDIOC_G_FMT. The answer becomes the queue's format for Frames (frameDescription(), export,
   * import): a decoder changes its capture format itself (after a source change), so read it here.
   */
  getFormat(): QueueFormat {
    const f = this.#toFormat(this.#call((b, fd) => b.v4l2GetFmt(fd, this.type)));
    this.#format = f;
    return f;
  }

  /**
   * VIDIOC_S_FMT (TRY_FMT with { try: true }): the device's answer is the negotiated format, with the
   * pitch and size of each of its planes; `format.description` is the Frame description it gives.
   */
  setFormat(desc: { width: number; height: number; format: string | number }, options: SetFormatOptions = {}): QueueFormat {
    const d = validateObject<{ width: number; height: number; format: string | number }>(desc, 'desc')!;
    const width = validateInt(d.width, 'desc.width', 1, 65535);
    const height = validateInt(d.height, 'desc.height', 1, 65535);
    const o = validateObject<SetFormatOptions>(options, 'options', true) ?? {};
    if (o.try !== undefined && typeof o.try !== 'boolean') throw invalidArgType('options.try', 'of type boolean', o.try);
    const code = this.#code(d.format);
    if (!o.try && this.#slots.length > 0) throw stateError('the queue has buffers: release() them before changing the format');
    const info = formats.fromV4l2(code);
    const nplanes = this.multiplanar && info ? (info.v4l2.find((v) => v.value === code)?.buffers === 'per-plane' ? info.planes.length : 1) : 1;
    const raw: V4l2PixFormat = {
      type: this.type, width, height, pixelformat: code, field: V4L2_FIELD_ANY, colorspace: 0, ycbcrEnc: 0,
      quantization: 0, xferFunc: 0, flags: 0, planes: Array.from({ length: nplanes }, () => ({ bytesperline: 0, sizeimage: 0 })),
    };
    const got = this.#toFormat(this.#call((b, fd) => b.v4l2SetFmt(fd, raw, o.try === true),
      (c) => (c === 'EBUSY' ? 'the queue has buffers or streams (here or in another file)' : undefined)));
    if (!o.try) this.#format = got;
    return got;
  }

  /**
   * The Frame layout of the current format over the device's planes. A coded format: one plane of
   * sizeimage bytes (`size`), pitch 0.
   */
  #frameLayout(f: QueueFormat): { fmt: PixelFormatInfo; planes: { plane: number; offset: number; pitch: number }[];
    size?: number } {
    const fmt = f.format;
    if (fmt === undefined) {
      throw dmabufError('ERR_DMABUF_UNSUPPORTED', `the device's format ${f.fourcc} is not in the library's format table: ` +
        'its buffers cannot be Frames');
    }
    if (fmt.compressed) {
      const size = f.planes[0]?.size ?? 0;
      if (f.planes.length !== 1 || size === 0) {
        throw dmabufError('ERR_DMABUF_UNSUPPORTED', `the device's coded format ${f.fourcc} has ${f.planes.length} plane(s) ` +
          `of sizeimage ${f.planes.map((p) => p.size).join(', ')}: the library takes one plane of a known size`);
      }
      return { fmt, planes: [{ plane: 0, offset: 0, pitch: 0 }], size };
    }
    if (f.planes.length === fmt.planes.length) {
      return { fmt, planes: f.planes.map((p, i) => ({ plane: i, offset: 0, pitch: p.pitch })) };
    }
    // every image plane in the one device plane, at the offsets the pitch gives
    const l = fmt.layout(f.width, f.height, { pitch: f.planes[0]!.pitch });
    return { fmt, planes: l.planes.map((p) => ({ plane: 0, offset: p.offset, pitch: p.pitch })) };
  }

  #currentFormat(): QueueFormat {
    this.#format ??= this.getFormat();
    return this.#format;
  }

  /**
   * The Frame description of the current format; a coded format's has `size`, its sizeimage:
   * Frame.allocate(queue.frameDescription()) makes a frame the queue takes.
   */
  frameDescription(): FrameDescription {
    const f = this.#currentFormat();
    const { fmt, size } = this.#frameLayout(f);
    return { width: f.width, height: f.height, format: fmt.name, ...(size === undefined ? {} : { size }) };
  }

  #requireNoBuffers(): void {
    if (this.#streaming) throw stateError('the queue is streaming: stop() it first');
    if (this.#slots.length > 0) throw stateError('the queue has buffers: release() them first');
  }

  /**
   * REQBUFS(MMAP, count) + QUERYBUF + EXPBUF of every plane: Frames over the device's own buffers.
   * The Frames own their dma-bufs (close them when done; they outlive the device).
   */
  exportBuffers(count: number): Frame[] {
    this.device.checkOpen();
    validateInt(count, 'count', 1, MAX_BUFFERS);
    this.#requireNoBuffers();
    const f = this.#currentFormat();
    const layout = this.#frameLayout(f);
    const r = this.#call((b, fd) => b.v4l2ReqBufs(fd, this.type, V4L2_MEMORY_MMAP, count),
      (c) => (c === 'EINVAL' ? 'this queue cannot allocate buffers itself (no MMAP)' : undefined));
    this.#memory = V4L2_MEMORY_MMAP;
    const frames: Frame[] = [];
    try {
      for (let i = 0; i < r.count; i++) {
        const q = this.#call((b, fd) => b.v4l2QueryBuf(fd, this.type, V4L2_MEMORY_MMAP, i));
        const bufs = q.planes.map((_p, plane) => {
          const fd = this.#call((b, vfd) => b.v4l2ExpBuf(vfd, this.type, i, plane, O_RDWR | O_CLOEXEC),
            (c) => (c === 'ENOTTY' || c === 'EINVAL' ? 'this driver cannot export its buffers (EXPBUF)' : undefined));
          return new DmaBuf(fd, this.device.backend, { path: this.device.path, id: 'last' });
        });
        const frame = Frame.from({ width: f.width, height: f.height, format: layout.fmt.name, dup: false,
          ...(layout.size === undefined ? {} : { size: layout.size }),
          planes: layout.planes.map((p) => ({ buffer: bufs[p.plane]!, offset: p.offset, pitch: p.pitch })) });
        // planes that were not used by the layout are not kept by the frame
        for (const b of bufs) if (!frame.buffers.includes(b)) b.close();
        frames.push(frame);
        if (i === 0 && !allocators.has(this.#allocatorKey())) allocators.set(this.#allocatorKey(), frame.buffers[0]!.info().exporter || null);
        const slot: Slot = { index: i, frame, queued: false, held: false, prepared: false };
        this.#slots.push(slot);
        this.#byFrame.set(frame, slot);
      }
    } catch (e) {
      for (const fr of frames) quietly(() => fr.close());
      this.#reset();
      throw e;
    }
    return frames;
  }

  /** REQBUFS(DMABUF, count): the queue takes Frames (queue(frame)) from now on. Returns the count given. */
  importBuffers(count: number): number {
    this.device.checkOpen();
    validateInt(count, 'count', 1, MAX_BUFFERS);
    this.#requireNoBuffers();
    this.#probeAllocator();
    const r = this.#call((b, fd) => b.v4l2ReqBufs(fd, this.type, V4L2_MEMORY_DMABUF, count),
      (c) => (c === 'EINVAL' ? 'this queue does not import dma-bufs (no V4L2_MEMORY_DMABUF)' : undefined));
    this.#memory = V4L2_MEMORY_DMABUF;
    this.#slots = Array.from({ length: r.count }, (_, index) => ({ index, frame: null, queued: false, held: false, prepared: false }));
    return r.count;
  }

  /**
   * The dma-buf exporter name of this queue's own buffers ('videobuf2_vmalloc', 'videobuf2_dma_contig',
   * 'videobuf2_dma_sg'): which videobuf2 memory ops the driver gave the queue, and so what an import
   * does in the kernel (dma-contig and dma-sg make a dma_buf_attachment of the device, vmalloc only
   * vmaps the buffer). Known once this queue or one of the same device (driver, bus, buffer type)
   * exported buffers or imported them (importBuffers() asks first, with one buffer it frees again);
   * null before, on memory-to-memory devices (not asked: their queues' REQBUFS has side effects) and
   * when the queue cannot export.
   */
  get allocator(): string | null {
    return allocators.get(this.#allocatorKey()) ?? null;
  }

  #allocatorKey(): string {
    return `${this.device.driver}|${this.device.bus}|${this.type}`;
  }

  /** REQBUFS(MMAP, 1), EXPBUF, fdinfo's exp_name, REQBUFS(0): once per device and buffer type. Never throws. */
  #probeAllocator(): void {
    const key = this.#allocatorKey();
    if (allocators.has(key) || this.device.m2m) return;
    const be = this.device.backend;
    const fd = this.device.fd;
    let name: string | null = null;
    let r: { count: number };
    try {
      r = be.v4l2ReqBufs(fd, this.type, V4L2_MEMORY_MMAP, 1);
    } catch (e) {
      // EINVAL: the queue has no MMAP buffers (known: it cannot say). Anything else (EBUSY: another
      // file owns the queue) says nothing about the device: ask again next time.
      if (errCode(e) === 'EINVAL') allocators.set(key, null);
      return;
    }
    try {
      try {
        if (r.count > 0) {
          const buf = new DmaBuf(be.v4l2ExpBuf(fd, this.type, 0, 0, O_RDWR | O_CLOEXEC), be, { path: this.device.path, id: 'last' });
          try {
            name = buf.info().exporter || null;
          } finally {
            buf.close();
          }
        }
      } finally {
        be.v4l2ReqBufs(fd, this.type, V4L2_MEMORY_MMAP, 0);
      }
    } catch {
      name = null; // no MMAP buffers or no EXPBUF: not known
    }
    allocators.set(key, name);
  }

  /** The slot for a frame to queue: its own in export mode; in import mode the one it had, else a free one. */
  #slotFor(frame: Frame): Slot {
    const own = this.#byFrame.get(frame);
    if (this.#memory === V4L2_MEMORY_MMAP) {
      if (own === undefined) throw invalidArgValue('frame', '[Frame]', 'is not one of this queue\'s exported buffers');
      return own;
    }
    if (own !== undefined) {
      if (own.queued) throw stateError('this frame is already queued');
      return own;
    }
    // a free index: one never used, else the one whose frame is gone longest (least recently held);
    // never one prepared for another frame (its next QBUF would queue that frame's memory)
    let slot = this.#freeSlot();
    if (slot === undefined) {
      const stale = this.#slots.filter((s) => this.#stale(s)).length;
      if (stale > 0 && !this.#streaming && !this.#slots.some((s) => s.queued)) {
        // indices prepared for frames that are gone: only STREAMOFF gives them back (vb2 keeps a
        // prepared buffer's memory and QBUF does not prepare it again). Nothing is queued and the queue
        // is not streaming, so the cancel touches nothing but preparations; live frames are prepared
        // again by their next QBUF.
        this.#cancel();
        slot = this.#freeSlot();
      }
      if (slot === undefined) {
        throw Object.assign(dmabufError('ERR_DMABUF_BUSY', `every one of the ${this.#slots.length} buffers is queued or prepared for another frame` +
          (stale > 0 ? ` (${stale} prepared for frames that are gone)` : '') + ': dequeue one first'),
        stale > 0 ? { hint: 'stop() the queue (STREAMOFF cancels prepared buffers) to get the indices of frames that are gone back' } : {});
      }
    }
    if (slot.frame !== null) this.#byFrame.delete(slot.frame);
    slot.frame = frame;
    this.#byFrame.set(frame, slot);
    return slot;
  }

  #freeSlot(): Slot | undefined {
    const free = this.#slots.filter((s) => !s.queued && !s.prepared);
    return free.find((s) => s.frame === null) ?? free.find((s) => s.frame!.closed) ?? free[0];
  }

  /** Prepared for a frame that is gone (closed, or forgotten by its exporter): unusable until STREAMOFF. */
  #stale(s: Slot): boolean {
    return s.prepared && !s.queued && (s.frame === null || s.frame.closed || this.#byFrame.get(s.frame) !== s);
  }

  /**
   * @internal An exporter dropped this frame (a move, detach, close): its index is free for another
   * frame at once, unless it is prepared (vb2 holds the frame's memory there until STREAMOFF) or
   * queued (it comes back at dequeue).
   */
  _forget(frame: Frame): void {
    const s = this.#byFrame.get(frame);
    if (s === undefined || s.queued || this.#memory !== V4L2_MEMORY_DMABUF) return;
    this.#byFrame.delete(frame);
    if (!s.prepared) s.frame = null;
  }

  /** @internal The device holds this frame now (queued and not dequeued). */
  _holds(frame: Frame): boolean {
    return this.#byFrame.get(frame)?.queued === true;
  }

  #checkFrame(frame: Frame): { plane: number; offset: number; pitch: number }[] {
    const f = this.#currentFormat();
    const layout = this.#frameLayout(f);
    if (layout.size !== undefined) {
      // a bitstream buffer: the coded format and room for sizeimage bytes (its width and height are
      // the stream's business: any frame of the format will do, the encoder's own capture buffers too)
      if (frame.format !== layout.fmt) {
        throw invalidArgValue('frame', `${frame.width}x${frame.height} ${frame.format.name}`,
          `does not match the queue's coded format ${layout.fmt.name}`);
      }
      if (frame.planes[0]!.size < layout.size) {
        throw invalidArgValue('frame', `${frame.format.name} of ${frame.planes[0]!.size} bytes`,
          `is smaller than the queue's sizeimage (${layout.size} bytes)`);
      }
      return layout.planes;
    }
    if (frame.width !== f.width || frame.height !== f.height || frame.format !== layout.fmt) {
      throw invalidArgValue('frame', `${frame.width}x${frame.height} ${frame.format.name}`,
        `does not match the queue's format ${f.width}x${f.height} ${layout.fmt.name}`);
    }
    return layout.planes;
  }

  /**
   * VIDIOC_QBUF: give a frame to the device (capture: to fill; output: to read). Exported frames go
   * back on their own index; imported ones keep the index they had.
   */
  queue(frame: Frame, options: QueueOptions = {}): void {
    this.#submit(frame, options, 'queue');
  }

  /**
   * VIDIOC_PREPARE_BUF: hand an imported frame's memory to the device on its index without queueing
   * it: the device attaches and maps it now (vb2-dma-contig refuses memory that is not contiguous
   * with EFAULT here), and the frame's next queue() skips that work. The index is kept for this frame
   * until it is queued (and, once dequeued, as the frame's usual index). A prepared frame: no ioctl.
   * @returns the frame's index on this queue.
   */
  prepare(frame: Frame, options: QueueOptions = {}): number {
    const own = frame instanceof Frame ? this.#byFrame.get(frame) : undefined;
    if (own?.prepared && !frame.closed) return own.index;
    return this.#submit(frame, options, 'prepare');
  }

  /** The frame's index on this queue, or null if it has none (never queued or prepared here, or taken over). */
  indexOf(frame: Frame): number | null {
    return this.#byFrame.get(frame)?.index ?? null;
  }

  #submit(frame: Frame, options: QueueOptions, op: 'queue' | 'prepare'): number {
    this.device.checkOpen();
    if (!(frame instanceof Frame)) throw invalidArgType('frame', 'an instance of Frame', frame);
    if (frame.closed) throw closedError('Frame');
    const o = validateObject<QueueOptions>(options, 'options', true) ?? {};
    if (this.#memory === null) throw stateError('the queue has no buffers: exportBuffers() or importBuffers() first');
    if (op === 'prepare' && this.#memory !== V4L2_MEMORY_DMABUF) {
      throw stateError('prepare() is for imported frames: importBuffers() first (exported buffers are the device\'s own)');
    }
    const layout = this.#checkFrame(frame);
    const f = this.#currentFormat();
    const devPlanes = f.planes.length;
    const used = o.bytesUsed === undefined ? undefined : Array.isArray(o.bytesUsed) ? o.bytesUsed : [o.bytesUsed];
    const coded = frame.format.compressed;
    if (coded) {
      const fp = frame.planes[0]!;
      // a bitstream is read from the start of its plane: from data_offset on the multi-planar API, from
      // the start of the buffer on the single-planar one (which has no data_offset)
      if (fp.offset !== 0 && !this.multiplanar) {
        throw invalidArgValue('frame', `${frame.format.name} at offset ${fp.offset}`,
          'must start at offset 0 of its buffer on a single-planar queue (struct v4l2_buffer has no data_offset)');
      }
      if (used !== undefined && this.direction === 'output') {
        if (used.length !== 1) throw invalidArgValue('options.bytesUsed', used, 'must be one number for a coded frame (one plane)');
        validateInt(used[0], 'options.bytesUsed[0]', 1, 0xffffffff);
        if (used[0]! > fp.size) throw outOfRange('options.bytesUsed[0]', `<= the frame's ${fp.size} bytes`, used[0]);
      }
    }
    used?.forEach((u, i) => validateInt(u, `options.bytesUsed[${i}]`, 0, 0xffffffff));
    const slot = this.#slotFor(frame);
    try {
      const planes = Array.from({ length: devPlanes }, (_, p) => {
        const first = layout.findIndex((l) => l.plane === p);
        const fp = frame.planes[first]!;
        const length = this.#memory === V4L2_MEMORY_DMABUF ? fp.buffer.size : f.planes[p]!.size;
        // a coded frame's default payload is its whole plane; V4L2 counts data_offset in bytesused
        const defaultUsed = coded ? fp.size + fp.offset : f.planes[p]!.size + fp.offset;
        const bytesused = coded && used !== undefined && this.direction === 'output' ? used[0]! + fp.offset
          : used?.[p] ?? (this.direction === 'output' ? defaultUsed : 0);
        return this.#memory === V4L2_MEMORY_DMABUF
          ? { bytesused, length, dataOffset: this.multiplanar ? fp.offset : 0, fd: fp.buffer.fd }
          : { bytesused, length };
      });
      const buffer = { type: this.type, memory: this.#memory!, index: slot.index, planes };
      this.#call((b, fd) => (op === 'queue' ? b.v4l2QBuf(fd, buffer) : b.v4l2PrepareBuf(fd, buffer)),
        (c) => c === 'EFAULT' ? 'the device cannot use this memory: it needs physically contiguous buffers ' +
          '(allocate frames from a CMA heap, provider \'heap:<cma heap>\', or use the device\'s own: exportBuffers())'
          : c === 'EINVAL' ? 'the buffer does not fit the queue\'s format (sizes, planes) or the queue is not set up for it'
            : undefined);
      if (op === 'queue') {
        slot.queued = true;
        slot.held = false;
        slot.prepared = false;
      } else {
        slot.prepared = true;
      }
      return slot.index;
    } catch (e) {
      if (this.#memory === V4L2_MEMORY_DMABUF && !slot.queued && !slot.prepared) {
        // a refused frame does not keep the index
        this.#byFrame.delete(frame);
        slot.frame = null;
      }
      throw e;
    }
  }

  /**
   * STREAMON. A capture queue of exported buffers first queues every buffer that neither the device
   * nor the application holds (a frame dequeued and not queued back stays the application's).
   */
  start(): void {
    this.device.checkOpen();
    if (this.#memory === null) throw stateError('the queue has no buffers: exportBuffers() or importBuffers() first');
    if (this.#streaming) return;
    if (this.direction === 'capture' && this.#memory === V4L2_MEMORY_MMAP) {
      for (const s of this.#slots) if (!s.queued && !s.held && s.frame !== null) this.queue(s.frame);
    }
    this.#call((b, fd) => b.v4l2StreamOn(fd, this.type));
    this.#streaming = true;
  }

  /**
   * Wait (off the JS thread) for a buffer the device is done with, then DQBUF: the frame with its
   * sequence, timestamp and payload. ERR_DMABUF_TIMEOUT when `timeout` ms pass first.
   */
  async dequeue(options: WaitOptions = {}): Promise<Dequeued> {
    const o = validateWaitOptions(options);
    this.device.checkOpen();
    if (!this.#streaming) throw stateError('the queue is not streaming: start() it first');
    const events = this.direction === 'capture' ? POLLIN : POLLOUT;
    const deadline = o.timeout === undefined || o.timeout === Infinity ? Infinity : Date.now() + o.timeout;
    for (;;) {
      const b = this.#call((be, fd) => be.v4l2DqBuf(fd, this.type, this.#memory!),
        (c) => (c === 'EPIPE' ? EPIPE_HINT : undefined));
      if (b !== null) return this.#dequeued(b);
      const left = deadline - Date.now();
      if (left <= 0) {
        throw dmabufError('ERR_DMABUF_TIMEOUT', `no buffer from ${this.device.path} within ${o.timeout} ms`,
          { path: this.device.path, timeout: o.timeout });
      }
      const wait: WaitOptions = { ...(o.signal ? { signal: o.signal } : {}), ...(left === Infinity ? {} : { timeout: left }) };
      try {
        await waitReadable(this.device.backend, () => this.device.fd, events, wait);
      } catch (e) {
        if (this.device.closed) throw closedError(`video device ${this.device.path}`);
        if (!this.#streaming) throw stateError('the queue was stopped while waiting');
        throw e;
      }
    }
  }

  #dequeued(b: V4l2Buffer): Dequeued {
    const slot = this.#slots[b.index];
    if (slot === undefined || slot.frame === null) throw stateError(`the device returned buffer ${b.index}, which the library never queued`);
    slot.queued = false;
    slot.held = true;
    return {
      frame: slot.frame, index: b.index, sequence: b.sequence, timestamp: b.timestamp.sec * 1000 + b.timestamp.usec / 1000,
      bytesUsed: b.planes.map((p) => p.bytesused), dataOffsets: b.planes.map((p) => p.dataOffset), flags: b.flags,
      error: (b.flags & V4L2_BUF_FLAG_ERROR) !== 0, last: (b.flags & V4L2_BUF_FLAG_LAST) !== 0,
    };
  }

  /** dequeue() forever, as an async iterator (queue each frame back when done with it). Ends at stop(). */
  async *stream(options: WaitOptions = {}): AsyncGenerator<Dequeued, void, undefined> {
    while (this.#streaming && !this.device.closed) {
      try {
        yield await this.dequeue(options);
      } catch (e) {
        if (!this.#streaming || this.device.closed) return;
        throw e;
      }
    }
  }

  /** STREAMOFF: every buffer comes back from the device (not dequeued: simply no longer queued). */
  stop(): void {
    // STREAMOFF also when not streaming if buffers are queued or prepared: vb2 cancels them all the same
    if (!this.#streaming && !this.#slots.some((s) => s.queued || s.prepared)) return;
    this.#cancel();
  }

  #cancel(): void {
    this.#streaming = false;
    for (const s of this.#slots) {
      s.queued = false;
      s.prepared = false; // the kernel cancels every buffer, prepared ones too
    }
    if (!this.device.closed) this.#call((b, fd) => b.v4l2StreamOff(fd, this.type));
  }

  /** stop(), then REQBUFS(0): the queue lets go of its buffers (exported Frames stay valid). */
  release(): void {
    this.stop();
    if (this.#memory !== null && !this.device.closed) {
      const memory = this.#memory;
      this.#call((b, fd) => b.v4l2ReqBufs(fd, this.type, memory, 0));
    }
    this.#reset();
  }

  #reset(): void {
    this.#memory = null;
    this.#slots = [];
    this.#byFrame.clear();
  }

  /** @internal the input or output changed: the format is read again when next needed */
  formatChanged(): void {
    this.#format = null;
  }

  /** @internal the device is closing: the kernel stops and frees everything with the file */
  closing(): void {
    this.#streaming = false;
    this.#reset();
  }
}

/** Events a video device emits (VIDIOC_DQEVENT): 'source-change' and 'event' (every event, raw). */
export interface VideoDeviceEvents {
  'source-change': [{ changes: number; sequence: number }];
  event: [{ type: number; id: number; sequence: number; data: Uint8Array }];
  error: [Error];
}

/** One /dev/videoN. */
export class VideoDevice extends OwnedFd {
  readonly path: string;
  readonly driver: string;
  readonly card: string;
  readonly bus: string;
  readonly capabilities: number;
  readonly m2m: boolean;
  /** What the device produces, or null. */
  readonly capture: VideoQueue | null;
  /** What the device consumes, or null. */
  readonly output: VideoQueue | null;
  readonly #events = new EventEmitter();
  #subscribed = false;
  #pumping = false;

  /** @internal use v4l2.open() */
  constructor(backend: Backend, fd: Fd, path: string) {
    try {
      super(backend, fd, 'video device');
    } catch (e) {
      throw withPath(e, path);
    }
    this.path = path;
    let c: V4l2Capability;
    try {
      c = backend.v4l2QueryCap(fd);
    } catch (e) {
      this.close();
      throw withPath(e, path, errCode(e) === 'ENOTTY' ? 'not a V4L2 device' : undefined);
    }
    this.driver = c.driver;
    this.card = c.card;
    this.bus = c.busInfo;
    this.capabilities = nodeCaps(c);
    const t = queueTypes(this.capabilities);
    this.m2m = t.m2m;
    if ((this.capabilities & V4L2_CAP_STREAMING) === 0 || (t.capture === null && t.output === null)) {
      this.close();
      throw dmabufError('ERR_DMABUF_UNSUPPORTED', `${path} (${c.driver}) has no streaming video queue`, { path });
    }
    this.capture = t.capture === null ? null : new VideoQueue(this, 'capture', t.capture);
    this.output = t.output === null ? null : new VideoQueue(this, 'output', t.output);
  }

  protected override get label(): string {
    return `video device ${this.path}`;
  }

  /** @internal ERR_DMABUF_CLOSED after close() */
  override checkOpen(): void {
    super.checkOpen();
  }

  // ---- inputs and outputs ----------------------------------------------------------------------------

  /** ENUMINPUT until EINVAL: the inputs of the capture side (empty for a device without any). */
  inputs(): VideoInputInfo[] {
    this.checkOpen();
    return this.#enumerate((i) => this.backend.v4l2EnumInput(this.fd, i)).map((x) =>
      ({ index: x.index, name: x.name, type: INPUT_TYPES[x.type] ?? x.type, status: x.status, capabilities: x.capabilities }));
  }

  /** ENUMOUTPUT until EINVAL: the outputs of the output side. */
  outputs(): VideoOutputInfo[] {
    this.checkOpen();
    return this.#enumerate((i) => this.backend.v4l2EnumOutput(this.fd, i)).map((x) =>
      ({ index: x.index, name: x.name, type: OUTPUT_TYPES[x.type] ?? x.type, capabilities: x.capabilities }));
  }

  /** G_INPUT: the input capture reads from. */
  currentInput(): VideoInputInfo {
    this.checkOpen();
    const i = this.#call('G_INPUT', () => this.backend.v4l2GetInput(this.fd));
    return this.inputs().find((x) => x.index === i) ?? { index: i, name: '', type: 0, status: 0, capabilities: 0 };
  }

  /** G_OUTPUT: the output the output queue feeds. */
  currentOutput(): VideoOutputInfo {
    this.checkOpen();
    const i = this.#call('G_OUTPUT', () => this.backend.v4l2GetOutput(this.fd));
    return this.outputs().find((x) => x.index === i) ?? { index: i, name: '', type: 0, capabilities: 0 };
  }

  /**
   * S_INPUT, by index or name. The capture format may change with the input (a webcam, a TV input
   * and HDMI have different sizes): read it again with getFormat(). EBUSY while buffers exist.
   */
  selectInput(indexOrName: number | string): VideoInputInfo {
    this.checkOpen();
    const target = this.#pick(this.inputs(), indexOrName, 'input');
    this.#call('S_INPUT', () => this.backend.v4l2SetInput(this.fd, target.index));
    this.capture?.formatChanged();
    return target;
  }

  /** S_OUTPUT, by index or name; as selectInput() for the output queue's format. */
  selectOutput(indexOrName: number | string): VideoOutputInfo {
    this.checkOpen();
    const target = this.#pick(this.outputs(), indexOrName, 'output');
    this.#call('S_OUTPUT', () => this.backend.v4l2SetOutput(this.fd, target.index));
    this.output?.formatChanged();
    return target;
  }

  #enumerate<T>(get: (i: number) => T): T[] {
    const out: T[] = [];
    // until the driver's EINVAL; a driver that never says it stops at 256 (V4L2 has no limit, no
    // device has that many)
    for (let i = 0; i < 256; i++) {
      try {
        out.push(get(i));
      } catch (e) {
        const c = errCode(e);
        if (c === 'EINVAL' || c === 'ENOTTY') return out;
        throw withPath(e, this.path);
      }
    }
    return out;
  }

  #pick<T extends { index: number; name: string }>(list: T[], indexOrName: number | string, what: string): T {
    if (typeof indexOrName === 'string') {
      const t = list.find((x) => x.name === indexOrName);
      if (t === undefined) {
        throw dmabufError('ERR_DMABUF_NOT_FOUND', `${this.path} has no ${what} named '${indexOrName}' (it has: ${list.map((x) => `'${x.name}'`).join(', ') || 'none'})`,
          { path: this.path });
      }
      return t;
    }
    validateInt(indexOrName, what, 0, 0xffffffff);
    const t = list.find((x) => x.index === indexOrName);
    if (t === undefined) throw outOfRange(what, `one of ${list.map((x) => x.index).join(', ') || '(none)'}`, indexOrName);
    return t;
  }

  #call<T>(name: string, fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      throw withPath(e, this.path, errCode(e) === 'EBUSY' ? `the ${name === 'S_INPUT' ? 'capture' : 'output'} queue has buffers: release() them first` : undefined);
    }
  }

  // ---- controls ------------------------------------------------------------------------------------

  /**
   * Every control (QUERY_EXT_CTRL with NEXT_CTRL), with menus, as the driver describes them now
   * (ranges can change with the input: asked again on each call).
   */
  controls(): ControlInfo[] {
    this.checkOpen();
    const out: ControlInfo[] = [];
    let id = 0;
    for (let n = 0; n < 4096; n++) {
      let q: V4l2QueryExtCtrl;
      try {
        q = this.backend.v4l2QueryExtCtrl(this.fd, (id | V4L2_CTRL_FLAG_NEXT_CTRL) >>> 0);
      } catch (e) {
        if (errCode(e) === 'EINVAL') break;
        throw withPath(e, this.path);
      }
      id = q.id;
      if (q.type === V4L2_CTRL_TYPE_CTRL_CLASS) continue;
      const c: ControlInfo = { id: q.id, name: q.name, key: controlKey(q.name), type: q.type, minimum: num(q.minimum),
        maximum: num(q.maximum), step: num(q.step), defaultValue: num(q.defaultValue), flags: q.flags };
      if (q.type === V4L2_CTRL_TYPE_MENU || q.type === V4L2_CTRL_TYPE_INTEGER_MENU) {
        c.menu = [];
        for (let i = Number(q.minimum); i <= Number(q.maximum) && i < 1024; i++) {
          try {
            const m = this.backend.v4l2QueryMenu(this.fd, q.id, i);
            c.menu.push(q.type === V4L2_CTRL_TYPE_MENU ? { index: i, name: m.name } : { index: i, value: num(m.value) });
          } catch {
            /* a hole in the menu */
          }
        }
      }
      out.push(c);
    }
    return out;
  }

  #control(nameOrId: string | number): ControlInfo {
    if (typeof nameOrId !== 'string' && typeof nameOrId !== 'number') {
      throw invalidArgType('nameOrId', 'a control name (string) or id (number)', nameOrId);
    }
    const all = this.controls();
    const c = typeof nameOrId === 'number' ? all.find((x) => x.id === nameOrId)
      : all.find((x) => x.key === nameOrId || x.name === nameOrId);
    if (c === undefined) {
      throw dmabufError('ERR_DMABUF_NOT_FOUND', `${this.path} (${this.driver}) has no control ${JSON.stringify(nameOrId)}`,
        { path: this.path });
    }
    return c;
  }

  static #kind(c: ControlInfo): 'i32' | 'i64' | 'string' {
    if (c.type === V4L2_CTRL_TYPE_INTEGER64) return 'i64';
    if (c.type === V4L2_CTRL_TYPE_STRING) return 'string';
    if ([V4L2_CTRL_TYPE_INTEGER, V4L2_CTRL_TYPE_BOOLEAN, V4L2_CTRL_TYPE_MENU, V4L2_CTRL_TYPE_BUTTON, V4L2_CTRL_TYPE_INTEGER_MENU,
      V4L2_CTRL_TYPE_BITMASK].includes(c.type)) return 'i32';
    throw dmabufError('ERR_DMABUF_UNSUPPORTED', `control '${c.name}' is of a compound type (${c.type})`);
  }

  /** G_EXT_CTRLS of one control, by its v4l2-ctl name ('test_pattern'), its driver name or its id. */
  getControl(nameOrId: string | number): number | bigint | string {
    this.checkOpen();
    const c = this.#control(nameOrId);
    const kind = VideoDevice.#kind(c);
    const size = kind === 'string' ? Number(c.maximum) + 1 : undefined;
    let v: number | bigint | string;
    try {
      v = this.backend.v4l2GetExtCtrls(this.fd, V4L2_CTRL_WHICH_CUR_VAL, [{ id: c.id, kind, ...(size ? { size } : {}) }])[0]!;
    } catch (e) {
      throw withPath(e, this.path);
    }
    // a bitmask is a __u32 carried in the s32 value
    return c.type === V4L2_CTRL_TYPE_BITMASK && typeof v === 'number' ? v >>> 0 : v;
  }

  /** S_EXT_CTRLS of one control; a menu control also takes an item's name. Returns what the driver kept. */
  setControl(nameOrId: string | number, value: number | bigint | string | boolean): number | bigint | string {
    this.checkOpen();
    const c = this.#control(nameOrId);
    const kind = VideoDevice.#kind(c);
    let v: number | bigint | string;
    if (typeof value === 'boolean') v = value ? 1 : 0;
    else if (typeof value === 'string' && kind !== 'string') {
      const item = c.menu?.find((m) => m.name === value || (m.name !== undefined && controlKey(m.name) === value));
      if (item === undefined) throw invalidArgValue('value', value, `is not an item of the menu '${c.name}'`);
      v = item.index;
    } else v = value;
    if (kind === 'i32' && typeof v !== 'number') throw invalidArgType('value', 'of type number', v);
    if (c.type === V4L2_CTRL_TYPE_BITMASK && typeof v === 'number' && v >= 0 && v <= 0xffffffff && Number.isInteger(v)) v |= 0;
    if (kind === 'i64' && typeof v === 'string') throw invalidArgType('value', 'of type number or bigint', v);
    if (kind === 'string' && typeof v !== 'string') throw invalidArgType('value', 'of type string', v);
    const ctrl = { id: c.id, kind, value: kind === 'i64' ? BigInt(v as number | bigint) : v,
      ...(kind === 'string' ? { size: Number(c.maximum) + 1 } : {}) };
    try {
      const kept = this.backend.v4l2SetExtCtrls(this.fd, V4L2_CTRL_WHICH_CUR_VAL, [ctrl], false)[0]!;
      return c.type === V4L2_CTRL_TYPE_BITMASK && typeof kept === 'number' ? kept >>> 0 : kept;
    } catch (e) {
      throw withPath(e, this.path, errCode(e) === 'ERANGE' ? `'${c.name}' takes ${String(c.minimum)} to ${String(c.maximum)}`
        : errCode(e) === 'EACCES' ? `'${c.name}' is read-only` : undefined);
    }
  }

  // ---- codec commands -----------------------------------------------------------------------------

  /**
   * VIDIOC_ENCODER_CMD (TRY_ENCODER_CMD with { try: true }): 'stop' drains (the encoder finishes
   * the frames queued, and the capture buffer after the last is dequeued with `last`), 'start'
   * goes on after a drain, 'pause', 'resume'. Returns cmd and flags as the driver left them.
   * ENOTTY (with a hint) on a device that is no encoder.
   */
  encoderCommand(cmd: EncoderCommand | number, options: CodecCommandOptions = {}): V4l2CodecCommand {
    return this.#command('encoder', cmd, ENCODER_COMMANDS, options);
  }

  /** VIDIOC_DECODER_CMD (TRY_DECODER_CMD with { try: true }): as encoderCommand(), and 'flush'. */
  decoderCommand(cmd: DecoderCommand | number, options: CodecCommandOptions = {}): V4l2CodecCommand {
    return this.#command('decoder', cmd, DECODER_COMMANDS, options);
  }

  #command(kind: 'encoder' | 'decoder', cmd: string | number, table: Record<string, number>,
    options: CodecCommandOptions): V4l2CodecCommand {
    this.checkOpen();
    let code: number;
    if (typeof cmd === 'string') {
      if (!Object.hasOwn(table, cmd)) {
        throw invalidArgValue('cmd', cmd, `must be one of ${Object.keys(table).map((k) => `'${k}'`).join(', ')} or a number`);
      }
      code = table[cmd]!;
    } else {
      code = validateInt(cmd, 'cmd', 0, 0xffffffff);
    }
    const o = validateObject<CodecCommandOptions>(options, 'options', true) ?? {};
    const flags = o.flags === undefined ? 0 : validateInt(o.flags, 'options.flags', 0, 0xffffffff);
    if (o.try !== undefined && typeof o.try !== 'boolean') throw invalidArgType('options.try', 'of type boolean', o.try);
    const name = kind === 'encoder' ? 'ENCODER_CMD' : 'DECODER_CMD';
    try {
      return kind === 'encoder' ? this.backend.v4l2EncoderCmd(this.fd, code, flags, o.try === true)
        : this.backend.v4l2DecoderCmd(this.fd, code, flags, o.try === true);
    } catch (e) {
      const c = errCode(e);
      throw withPath(e, this.path, c === 'ENOTTY' ? `${this.driver} is no ${kind} (no VIDIOC_${name})`
        : c === 'EBUSY' ? 'a drain is under way: dequeue capture buffers until the one flagged last'
          : c === 'EINVAL' ? `${this.driver} does not take this ${kind} command or its flags` : undefined);
    }
  }

  // ---- events ---------------------------------------------------------------------------------------

  /**
   * Listen for 'source-change' (V4L2_EVENT_SOURCE_CHANGE, subscribed here before on() returns: an
   * event the device sends after this call is not missed) or 'event' (every event of the
   * subscriptions, raw; subscribe() for more types). A source change makes the capture queue read
   * its format again (getFormat()) when next needed.
   */
  on<K extends keyof VideoDeviceEvents>(event: K, listener: (...args: VideoDeviceEvents[K]) => void): this {
    this.#events.on(event, listener as (...a: unknown[]) => void);
    if (event === 'source-change' || event === 'event') this.#startEvents();
    return this;
  }

  once<K extends keyof VideoDeviceEvents>(event: K, listener: (...args: VideoDeviceEvents[K]) => void): this {
    this.#events.once(event, listener as (...a: unknown[]) => void);
    if (event === 'source-change' || event === 'event') this.#startEvents();
    return this;
  }

  off<K extends keyof VideoDeviceEvents>(event: K, listener: (...args: VideoDeviceEvents[K]) => void): this {
    this.#events.off(event, listener as (...a: unknown[]) => void);
    return this;
  }

  #wanted(): boolean {
    return this.#events.listenerCount('source-change') + this.#events.listenerCount('event') > 0;
  }

  #startEvents(): void {
    if (this.closed || !this.#wanted()) return;
    if (!this.#subscribed) {
      try {
        // SOURCE_CHANGE's id is the input it is about: the current one (0 on a node without inputs)
        let input = 0;
        try {
          input = this.backend.v4l2GetInput(this.fd);
        } catch {
          /* an output or M2M node */
        }
        this.backend.v4l2SubscribeEvent(this.fd, V4L2_EVENT_SOURCE_CHANGE, input, 0);
        this.#subscribed = true;
      } catch (e) {
        // a device without source changes: only other subscriptions' events would come
        if (errCode(e) !== 'EINVAL' && errCode(e) !== 'ENOTTY') {
          this.#events.emit('error', withPath(e, this.path));
          return;
        }
      }
    }
    if (!this.#pumping) void this.#pump();
  }

  /** Subscribe to one more event type (VIDIOC_SUBSCRIBE_EVENT), e.g. V4L2_EVENT_CTRL for a control's id. */
  subscribe(type: number, id = 0, flags = 0): void {
    this.checkOpen();
    validateInt(type, 'type', 0, 0xffffffff);
    validateInt(id, 'id', 0, 0xffffffff);
    validateInt(flags, 'flags', 0, 0xffffffff);
    try {
      this.backend.v4l2SubscribeEvent(this.fd, type, id, flags);
    } catch (e) {
      throw withPath(e, this.path);
    }
    if (this.#wanted() && !this.#pumping) void this.#pump();
  }

  /** Reads events (POLLPRI, off the JS thread) while someone listens. */
  async #pump(): Promise<void> {
    this.#pumping = true;
    try {
      while (!this.closed && this.#wanted()) {
        const ready = await waitReadable(this.backend, () => this.fd, POLLPRI, { timeout: 250 });
        if (!ready) continue;
        for (;;) {
          const e = this.backend.v4l2DqEvent(this.fd);
          if (e === null) break;
          const ev = { type: e.type, id: e.id, sequence: e.sequence, data: e.data };
          // the capture format a listener reads now is the new one
          if (e.type === V4L2_EVENT_SOURCE_CHANGE) this.capture?.formatChanged();
          this.#events.emit('event', ev);
          if (e.type === V4L2_EVENT_SOURCE_CHANGE) {
            this.#events.emit('source-change', { changes: new DataView(e.data.buffer, e.data.byteOffset).getUint32(0, true), sequence: e.sequence });
          }
        }
      }
    } catch (e) {
      if (!this.closed) this.#events.emit('error', withPath(e, this.path));
    } finally {
      this.#pumping = false;
    }
  }

  /**
   * Closing the file stops both queues and frees their buffers (the kernel's vb2_queue_release);
   * exported Frames stay valid. Idempotent.
   */
  protected override onClose(): void {
    for (const q of [this.capture, this.output]) q?.closing();
  }
}

export const v4l2 = {
  dir: VIDEO_DIR,
  list,
  open,
};
