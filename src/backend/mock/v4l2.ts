/**
 * V4L2 in the mock kernel (native/v4l2.cc): the ioctls of the video nodes that mock/vivid.ts models
 * (what is modelled of vivid, videobuf2 and the control and event cores, and what is not, is said
 * there; the picture is mock/tpg.ts). As in the kernel, the V4L2 core answers first (ENOTTY for an
 * ioctl the node does not have: the other direction's inputs or outputs, ENUM_FRAMESIZES on an
 * output; EINVAL for a buffer type of the other direction), then videobuf2 or the driver.
 *
 * On a file that is not a video node every V4L2 ioctl answers what Linux answers for it
 * (foreignIoctl: ENOTTY, or EINVAL on a dma-heap, which dispatches by number), and EBADF on an fd
 * that is not open. G/S/TRY_EXT_CTRLS errors carry `index` as the addon's do: error_idx as the
 * kernel leaves it (controls.length when no control was looked at).
 *
 * DQBUF answers null where the kernel says EAGAIN and DQEVENT null for ENOENT, like the addon; EXPBUF
 * adds O_CLOEXEC to the flags, like the addon. vivid is no codec: (TRY_)ENCODER_CMD and
 * (TRY_)DECODER_CMD are ENOTTY on its nodes, as the V4L2 core answers for an ioctl a driver lacks.
 */
import { O_CLOEXEC, POLLERR, POLLIN, POLLOUT, POLLPRI, POLLRDNORM, POLLWRNORM, V4L2_CTRL_FLAG_NEXT_COMPOUND,
  V4L2_CTRL_FLAG_NEXT_CTRL, V4L2_CTRL_WHICH_CUR_VAL, V4L2_CTRL_WHICH_DEF_VAL } from '../../constants';
import type { ErrnoName } from '../../errno';
import { systemError } from '../../errors';
import type {
  Fd, V4l2Buffer, V4l2Control, V4l2ControlsError, V4l2ControlValue, V4l2Ops, V4l2PixFormat, V4l2QueueBuffer,
} from '../types';
import { foreignIoctl, kernelAtLeast, type Machine, type OpenFile, type VideoFile } from './kernel';
import { type Memory } from './pages';
import {
  BUF_FLAG, BUF_TYPE, CTRL_FLAG, CTRL_TYPE, type Ctrl, ctrlChanged, ctrlEvent, ctrlEventData, EVENT, EXPBUF_FLAGS,
  exportPlane, FIELD, frameTick, freeBuffers, INPUT_NAMES, INPUTS, limits, MEMORY, minBpl, mmapPlane, nearestWebcamSize,
  OUTPUTS, planeSizes, type QueueFormat, stopStreaming, type Subscription, tryPlanes, type Vb2Buffer, type Vb2Queue,
  type VideoFh, type VividFormat, type VividNode, webcamSizes,
} from './vivid';

const V4L2_PIX_FMT_FLAG_SET_CSC = 0x2;
const V4L2_CTRL_WHICH_REQUEST_VAL = 0x0f010000;
const V4L2_CID_PRIVATE_BASE = 0x08000000;
const V4L2_IN_CAP_DV_TIMINGS = 0x2;
const V4L2_IN_CAP_STD = 0x4;
const V4L2_INPUT_TYPE_TUNER = 1;
const V4L2_INPUT_TYPE_CAMERA = 2;
const V4L2_OUTPUT_TYPE_ANALOG = 2;
const V4L2_OUT_CAP_DV_TIMINGS = 0x2;
const V4L2_OUT_CAP_STD = 0x4;
const HSV_ENC_180 = 128;

const sc = (ioctl: string): string => `ioctl(${ioctl})`;
const err = (e: ErrnoName, ioctl: string): Error => systemError(e, sc(ioctl));
const isVideoType = (t: number): boolean => t === BUF_TYPE.CAPTURE || t === BUF_TYPE.OUTPUT || t === BUF_TYPE.CAPTURE_MPLANE
  || t === BUF_TYPE.OUTPUT_MPLANE;
const isOutputType = (t: number): boolean => t === BUF_TYPE.OUTPUT || t === BUF_TYPE.OUTPUT_MPLANE;
const isMplaneType = (t: number): boolean => t === BUF_TYPE.CAPTURE_MPLANE || t === BUF_TYPE.OUTPUT_MPLANE;

/** The video node an ioctl goes to; another file answers as the kernel's fallbacks do. */
function video(m: Machine, fd: Fd, ioctl: string): VideoFh {
  const f = m.get(fd, sc(ioctl));
  if (f.kind !== 'video') throw foreignIoctl(f, sc(ioctl));
  return f.fh;
}

/** The same for G/S/TRY_EXT_CTRLS, with error_idx as `index`. */
function controlsError(e: unknown, index: number): never {
  throw Object.assign(e as V4l2ControlsError, { index });
}

/** check_fmt of v4l2-ioctl.c: a video type of the node's direction (EINVAL otherwise) */
function checkType(node: VividNode, type: number, ioctl: string): void {
  if (!isVideoType(type) || isOutputType(type) !== (node.dir === 'output')) throw err('EINVAL', ioctl);
}

/** The queue of a queue ioctl: the node's, for its own type only (vb2: EINVAL) */
function queueOf(node: VividNode, type: number, ioctl: string): Vb2Queue {
  if (type !== node.queue.type) throw err('EINVAL', ioctl);
  return node.queue;
}

/** vb2_queue_is_busy: another file owns the queue */
function checkOwner(fh: VideoFh, q: Vb2Queue, ioctl: string): void {
  if (q.owner !== null && q.owner !== fh) throw err('EBUSY', ioctl);
}

// ---- formats ------------------------------------------------------------------------------------------------

function fieldCap(node: VividNode, field: number): number {
  const t = node.inst.inputType;
  if (t === 'tv' || t === 'svid') {
    return [FIELD.INTERLACED_TB, FIELD.INTERLACED_BT, FIELD.SEQ_TB, FIELD.SEQ_BT, FIELD.TOP, FIELD.BOTTOM, FIELD.ALTERNATE]
      .includes(field as never) ? field : FIELD.INTERLACED;
  }
  return FIELD.NONE;
}

function fieldOut(node: VividNode, field: number): number {
  if (OUTPUTS[node.inst.output_] === 'svid') {
    return [FIELD.INTERLACED_TB, FIELD.INTERLACED_BT, FIELD.SEQ_TB, FIELD.SEQ_BT, FIELD.TOP, FIELD.BOTTOM, FIELD.ALTERNATE]
      .includes(field as never) ? field : FIELD.INTERLACED;
  }
  return FIELD.NONE;
}

const hasTorB = (field: number): boolean => field === FIELD.TOP || field === FIELD.BOTTOM || field === FIELD.ALTERNATE;

/** vivid's try_fmt for either direction: the format, its size, planes and colorimetry. */
function tryFormat(node: VividNode, f: V4l2PixFormat): { q: QueueFormat; out: V4l2PixFormat; webcamIdx: number } {
  const inst = node.inst;
  const fmt = inst.format(f.pixelformat) ?? inst.format(inst.formats[0].code)!;
  const capture = node.dir === 'capture';
  const field = capture ? fieldCap(node, f.field) : fieldOut(node, f.field);
  let w: number;
  let h: number;
  let webcamIdx = -1;
  if (capture && inst.inputType === 'webcam') {
    const sizes = webcamSizes(inst.m);
    webcamIdx = nearestWebcamSize(sizes, f.width, f.height);
    [w, h] = sizes[webcamIdx]!;
  } else if (capture) {
    [w, h] = [inst.srcWidth, inst.srcHeight];
  } else {
    [w, h] = OUTPUTS[inst.output_] === 'svid' ? [720, 576] : [1280, 720];
  }
  const factor = hasTorB(field) ? 2 : 1;
  let width: number;
  let height: number;
  const ccs = [31, 32, 33].map((k) => (node.ctrl(0x00f0f000 + k + (capture ? 0 : 3))?.num ?? 1) !== 0);
  if ((capture && inst.inputType === 'webcam') || !ccs.some(Boolean)) {
    width = w;
    height = Math.trunc(h / factor);
  } else { // crop, compose and scaler all enabled (the controls' defaults): any size within vivid's limits
    width = Math.min(Math.max(f.width, limits.MIN_WIDTH), limits.MAX_WIDTH * limits.MAX_ZOOM);
    height = Math.trunc(Math.min(Math.max(f.height * factor, limits.MIN_HEIGHT), limits.MAX_HEIGHT * limits.MAX_ZOOM) / factor);
  }
  // 6.12, interlaced capture (TV, S-Video): a format with vertically subsampled planes (4:2:0) gets a
  // whole number of chroma rows (seen: 17x2305 NM12 → 17x2304); 7.2 keeps 17x2305, and so does
  // the output (9000x99 NM12 stays)
  if (capture && field !== FIELD.NONE && !kernelAtLeast(inst.m.o.kernel, 6, 13)) height -= height % Math.max(...fmt.vdown);
  const user = f.planes.map((p) => p.bytesperline);
  const { bpl, size } = tryPlanes(fmt, width, height, isMplaneType(f.type) ? user : [user[0]]);
  const setCsc = (f.flags & V4L2_PIX_FMT_FLAG_SET_CSC) !== 0;
  let colorimetry: { colorspace: number; xfer: number; ycbcr: number; quant: number };
  if (capture) {
    const c = inst.csc;
    const valid = (v: number, max: number): boolean => setCsc && v > 0 && v <= max;
    colorimetry = {
      colorspace: valid(f.colorspace, 12) ? f.colorspace : c.colorspace,
      xfer: valid(f.xferFunc, 7) ? f.xferFunc : c.xfer,
      ycbcr: fmt.enc === 'hsv' ? (setCsc && (f.ycbcrEnc === 128 || f.ycbcrEnc === 129) ? f.ycbcrEnc
        : (node.ctrl(0x00f0f02b)?.num ? 129 : HSV_ENC_180)) : fmt.enc === 'yuv' && valid(f.ycbcrEnc, 9) ? f.ycbcrEnc : c.ycbcr,
      quant: (fmt.enc === 'yuv' || fmt.enc === 'rgb') && valid(f.quantization, 2) ? f.quantization : c.quant,
    };
  } else {
    colorimetry = { colorspace: OUTPUTS[inst.output_] === 'svid' ? 1 : 3, xfer: f.xferFunc, ycbcr: f.ycbcrEnc,
      quant: f.quantization };
  }
  const out: V4l2PixFormat = {
    type: f.type, width, height, pixelformat: fmt.code, field, colorspace: colorimetry.colorspace,
    ycbcrEnc: colorimetry.ycbcr, quantization: colorimetry.quant, xferFunc: colorimetry.xfer, flags: f.flags,
    planes: bpl.map((b, p) => ({ bytesperline: b, sizeimage: size[p] })),
  };
  if (!isMplaneType(f.type)) out.planes = [out.planes[0]];
  return { q: { fmt, width, height, field, bpl }, out, webcamIdx };
}

/** vivid_g_fmt_vid_cap / _out */
function currentFormat(node: VividNode, type: number): V4l2PixFormat {
  const inst = node.inst;
  const capture = node.dir === 'capture';
  const q = capture ? inst.capFmt : inst.outFmt;
  const c = capture ? inst.csc : inst.cscOut;
  const sizes = capture ? planeSizes(q) : tryPlanes(q.fmt, q.width, q.height, q.bpl).size;
  const planes = q.bpl.map((b, p) => ({ bytesperline: b, sizeimage: sizes[p] }));
  const hsv = q.fmt.enc === 'hsv';
  return {
    type, width: q.width, height: q.height, pixelformat: q.fmt.code, field: q.field, colorspace: c.colorspace,
    ycbcrEnc: hsv ? (node.inst.ctrls.get(0x00f0f02b)?.num ? 129 : HSV_ENC_180) : c.ycbcr, quantization: c.quant,
    xferFunc: c.xfer, flags: 0, planes: isMplaneType(type) ? planes : [planes[0]],
  };
}

/** G/S/TRY_FMT: the type must be the node's API (the other API's type is the driver's ENOTTY) */
function formatNode(m: Machine, fd: Fd, type: number, ioctl: string): VividNode {
  const node = video(m, fd, ioctl).node;
  checkType(node, type, ioctl);
  if (isMplaneType(type) !== node.inst.multiplanar) throw err('ENOTTY', ioctl);
  return node;
}

// ---- inputs and outputs ---------------------------------------------------------------------------------------

/** The node of G/S/ENUM_INPUT (capture) or _OUTPUT (output): the other direction's are ENOTTY (V4L2 core). */
function portNode(m: Machine, fd: Fd, ioctl: string, dir: 'capture' | 'output'): VividNode {
  const node = video(m, fd, ioctl).node;
  if (node.dir !== dir) throw err('ENOTTY', ioctl);
  return node;
}

/** vivid names a port by its instance and its number among the ports of its kind: 'HDMI 000-0' */
function portName(node: VividNode, nth: number): string {
  return `${String(node.inst.index).padStart(3, '0')}-${nth}`;
}

/** vidioc_s_input / _output: whether to switch (EINVAL past the last, EBUSY with buffers) */
function setPort(node: VividNode, index: number, count: number, current: number, ioctl: string): boolean {
  if (index >= count) throw err('EINVAL', ioctl);
  if (index === current) return false;
  if (node.queue.buffers.length > 0) throw err('EBUSY', ioctl);
  return true;
}

// ---- buffers --------------------------------------------------------------------------------------------------

/** __fill_v4l2_buffer */
function bufferInfo(q: Vb2Queue, b: Vb2Buffer): V4l2Buffer {
  let flags = BUF_FLAG.TIMESTAMP_MONOTONIC;
  if (b.state === 'queued' || b.state === 'active') flags |= BUF_FLAG.QUEUED;
  else if (b.state === 'error') flags |= BUF_FLAG.ERROR | BUF_FLAG.DONE;
  else if (b.state === 'done') flags |= BUF_FLAG.DONE;
  if (b.state === 'dequeued' && b.prepared) flags |= BUF_FLAG.PREPARED;
  if (q.memory === MEMORY.MMAP && b.planes.some((p) => p.bo?.dmabuf != null)) flags |= BUF_FLAG.MAPPED;
  const planes = b.planes.map((p) => ({
    bytesused: p.bytesused, length: p.length, dataOffset: q.mplane ? p.dataOffset : 0,
    memOffset: q.memory === MEMORY.MMAP ? p.memOffset : -1, fd: q.memory === MEMORY.DMABUF ? p.fd : -1,
  }));
  return {
    index: b.index, type: q.type, memory: q.memory, bytesused: q.mplane ? 0 : planes[0].bytesused, flags, field: b.field,
    timestamp: { sec: Number(b.timestampNs / 1_000_000_000n), usec: Number((b.timestampNs % 1_000_000_000n) / 1000n) },
    sequence: b.sequence, length: q.mplane ? planes.length : planes[0].length, planes,
  };
}

/** queue_setup's sizes and plane count for the current format */
function setupSizes(node: VividNode): number[] {
  const inst = node.inst;
  return node.dir === 'capture' ? planeSizes(inst.capFmt) : tryPlanes(inst.outFmt.fmt, inst.outFmt.width,
    inst.outFmt.height, inst.outFmt.bpl).size;
}

function allocate(m: Machine, q: Vb2Queue, count: number, sizes: number[]): number {
  const first = q.buffers.length;
  for (let k = 0; k < count; k++) {
    const index = first + k;
    q.buffers.push({
      index, state: 'dequeued', prepared: false, sequence: 0, timestampNs: 0n, field: FIELD.NONE,
      planes: sizes.map((len, p) => (q.memory === MEMORY.MMAP ? mmapPlane(m, q, index, p, len)
        : { length: len, bytesused: 0, dataOffset: 0, memOffset: 0, bo: null, dmabuf: null, fd: -1 })),
    });
  }
  return count;
}

function checkMemory(q: Vb2Queue, memory: number, ioctl: string): void {
  const ok = memory === MEMORY.MMAP || memory === MEMORY.DMABUF || (memory === MEMORY.USERPTR && !q.node.inst.contig);
  if (!ok) throw err('EINVAL', ioctl);
}

/** QBUF and PREPARE_BUF up to the state change: vb2_queue_or_prepare_buf, __buf_prepare, vivid's buf_prepare. */
function prepare(m: Machine, fh: VideoFh, buf: V4l2QueueBuffer, ioctl: string, queue: boolean): { q: Vb2Queue; b: Vb2Buffer } {
  const node = fh.node;
  if (buf.type !== node.queue.type) throw err('EINVAL', ioctl);
  const q = node.queue;
  checkOwner(fh, q, ioctl);
  const b = q.buffers[buf.index];
  if (b === undefined) throw err('EINVAL', ioctl);
  if (buf.memory !== q.memory) throw err('EINVAL', ioctl);
  if (q.mplane && buf.planes.length < b.planes.length) throw err('EINVAL', ioctl);
  if (b.state !== 'dequeued') throw err('EINVAL', ioctl);
  if (!queue && b.prepared) throw err('EINVAL', ioctl);
  if (b.prepared) return { q, b };
  const planes = buf.planes.slice(0, b.planes.length);
  // __verify_length (output)
  if (q.isOutput) {
    planes.forEach((p, k) => {
      const length = q.memory === MEMORY.DMABUF ? p.length : b.planes[k].length;
      const used = p.bytesused || length;
      if (p.bytesused > length) throw err('EINVAL', ioctl);
      if (q.mplane && (p.dataOffset ?? 0) > 0 && (p.dataOffset ?? 0) >= used) throw err('EINVAL', ioctl);
    });
  }
  const sizes = setupSizes(node);
  if (q.memory === MEMORY.DMABUF) {
    const got = planes.map((p, k) => {
      const f = m.fds.get(p.fd!);
      if (f === undefined || f.kind !== 'dmabuf') throw err('EINVAL', ioctl);
      const length = p.length === 0 ? f.bo.pages.size : p.length;
      if (length < sizes[k]) throw err('EINVAL', ioctl);
      if (f.bo.pages.size < length) throw err('EFAULT', ioctl); // attach: the dma-buf is smaller than asked for
      if (node.inst.contig && !f.bo.contiguous && f.bo.pages.size > m.pageSize) throw err('EFAULT', ioctl); // vb2_dc_map_dmabuf
      return { f, length, fd: p.fd! };
    });
    got.forEach(({ f, length, fd }, k) => {
      const pl = b.planes[k];
      if (pl.dmabuf !== f) {
        if (pl.dmabuf !== null) m.unref(pl.dmabuf);
        f.refs++;
        pl.dmabuf = f;
      }
      pl.length = length;
      pl.fd = fd;
    });
  }
  // vivid's buf_prepare: the planes hold the format's sizes
  b.planes.forEach((pl, k) => {
    if (pl.length < sizes[k]) throw err('EINVAL', ioctl);
  });
  b.planes.forEach((pl, k) => {
    if (q.isOutput) {
      pl.bytesused = planes[k].bytesused || pl.length;
      pl.dataOffset = q.mplane ? planes[k].dataOffset ?? 0 : 0;
    } else {
      const fmt = node.inst.capFmt.fmt;
      pl.bytesused = sizes[k];
      pl.dataOffset = fmt.dataOffset[k];
    }
  });
  if (q.isOutput) b.field = node.inst.outFmt.field;
  b.prepared = true;
  return { q, b };
}

function startStreaming(m: Machine, q: Vb2Queue, frameMs: number): void {
  q.seq = 0;
  q.active = q.buffers.filter((b) => b.state === 'queued');
  for (const b of q.active) b.state = 'active';
  const t = setInterval(() => frameTick(m, q), frameMs);
  t.unref();
  q.timer = t;
  m.timers.add(t);
}

// ---- controls -------------------------------------------------------------------------------------------------

const CLASS_OF = (id: number): number => (id & 0x0fff0000) >>> 0;

/** find_ref for QUERY_EXT_CTRL with NEXT_CTRL / NEXT_COMPOUND */
function queryCtrl(node: VividNode, rawId: number): Ctrl {
  const flags = rawId & (V4L2_CTRL_FLAG_NEXT_CTRL | V4L2_CTRL_FLAG_NEXT_COMPOUND);
  const id = (rawId & ~(V4L2_CTRL_FLAG_NEXT_CTRL | V4L2_CTRL_FLAG_NEXT_COMPOUND)) >>> 0;
  if (flags === 0) {
    const c = node.ctrl(id);
    if (c === undefined) throw err('EINVAL', 'VIDIOC_QUERY_EXT_CTRL');
    return c;
  }
  const wantPlain = (flags & V4L2_CTRL_FLAG_NEXT_CTRL) !== 0;
  const wantCompound = (flags & V4L2_CTRL_FLAG_NEXT_COMPOUND) !== 0;
  const c = node.ctrls.find((x) => x.d.id > id && (x.isCompound ? wantCompound : wantPlain));
  if (c === undefined) throw err('EINVAL', 'VIDIOC_QUERY_EXT_CTRL');
  return c;
}

/** The raw 32-byte union of struct v4l2_querymenu: the name, or the value (little-endian) */
function menuUnion(c: Ctrl, index: number): Uint8Array {
  const u = new Uint8Array(32);
  if (c.d.type === CTRL_TYPE.MENU) u.set(Buffer.from(c.d.menu![index], 'utf8').subarray(0, 31));
  else new DataView(u.buffer).setBigInt64(0, c.d.intMenu![index], true);
  return u;
}

/** std_validate / ROUND_TO_RANGE of a new value; the value as the control keeps it */
function validate(c: Ctrl, v: bigint | string, ioctl: string): bigint | string {
  const d = c.d;
  switch (d.type) {
    case CTRL_TYPE.INTEGER: case CTRL_TYPE.INTEGER64: {
      let x = v as bigint;
      const half = d.step / 2n;
      if (d.max >= 0n && x >= d.max - half) x = d.max;
      else x += half;
      if (x < d.min) x = d.min;
      if (x > d.max) x = d.max;
      return d.min + d.step * ((x - d.min) / d.step);
    }
    case CTRL_TYPE.BOOLEAN: return (v as bigint) !== 0n ? 1n : 0n;
    case CTRL_TYPE.MENU: case CTRL_TYPE.INTEGER_MENU: {
      const x = v as bigint;
      if (x < d.min || x > d.max) throw err('ERANGE', ioctl);
      if ((d.skipMask ?? 0n) & (1n << x)) throw err('EINVAL', ioctl);
      if (d.type === CTRL_TYPE.MENU && d.menu![Number(x)] === '') throw err('EINVAL', ioctl);
      return x;
    }
    case CTRL_TYPE.BITMASK: return BigInt.asUintN(32, v as bigint) & d.max;
    case CTRL_TYPE.BUTTON: case CTRL_TYPE.CTRL_CLASS: return 0n;
    case CTRL_TYPE.STRING: {
      const len = Buffer.byteLength(v as string);
      if (len < Number(d.min) || (len - Number(d.min)) % Number(d.step)) throw err('ERANGE', ioctl);
      return v;
    }
    default: return v;
  }
}

/** user_to_new: the value the kernel reads from a struct v4l2_ext_control of the addon's */
function userValue(c: Ctrl, x: V4l2Control, ioctl: string): bigint | string {
  if (c.d.type === CTRL_TYPE.STRING) {
    if (x.kind !== 'string') throw err('ERANGE', ioctl); // size 0
    const text = String(x.value ?? '');
    const size = x.size ?? Buffer.byteLength(text) + 1;
    if (size === 0) throw err('ERANGE', ioctl);
    const max = Number(c.d.max);
    const bytes = Buffer.alloc(Math.min(size, max + 1));
    Buffer.from(text, 'utf8').copy(bytes, 0, 0, bytes.length);
    const last = bytes[bytes.length - 1];
    bytes[bytes.length - 1] = 0;
    const nul = bytes.indexOf(0);
    const s = bytes.subarray(0, nul < 0 ? bytes.length : nul).toString('utf8');
    if (Buffer.byteLength(s) === max && last !== 0) throw err('ERANGE', ioctl);
    return s;
  }
  if (x.kind === 'string') return 0n; // the union holds a pointer the mock cannot read
  const raw = x.kind === 'i64' ? BigInt(x.value as bigint) : BigInt((x.value as number) >>> 0); // value: low 32 bits only
  return c.d.type === CTRL_TYPE.INTEGER64 ? BigInt.asIntN(64, raw) : BigInt(Number(BigInt.asIntN(32, raw)));
}

/** ptr_to_user / the union as the addon reads it back */
function userResult(c: Ctrl, x: V4l2Control, v: bigint | string, ioctl: string): V4l2ControlValue {
  if (c.d.type === CTRL_TYPE.STRING) {
    if (x.kind !== 'string') throw err('ENOSPC', ioctl);
    // the addon's buffer: `size` bytes, or the value and its NUL when setting
    const size = x.size ?? (typeof x.value === 'string' ? Buffer.byteLength(x.value) + 1 : 0);
    if (size < Buffer.byteLength(v as string) + 1) throw err('ENOSPC', ioctl);
    return v as string;
  }
  if (c.isPtr) {
    if (x.kind !== 'string' || (x.size ?? 0) < c.elemSize * c.elems) throw err('ENOSPC', ioctl);
    return '';
  }
  if (x.kind === 'string') return '';
  const n = v as bigint;
  if (x.kind === 'i32') return Number(BigInt.asIntN(32, n));
  return c.d.type === CTRL_TYPE.INTEGER64 ? n : BigInt.asUintN(32, n) | (BigInt.asUintN(64, BigInt(x.value as bigint ?? 0n)) & ~0xffffffffn);
}

/** prepare_ext_ctrls: each id a control of the handler (and of the class asked for) */
function prepareCtrls(node: VividNode, which: number, controls: readonly V4l2Control[], ioctl: string): Ctrl[] {
  return controls.map((x, k) => {
    try {
      if (which !== V4L2_CTRL_WHICH_CUR_VAL && which !== V4L2_CTRL_WHICH_DEF_VAL && which !== V4L2_CTRL_WHICH_REQUEST_VAL
        && CLASS_OF(x.id) !== which) throw err('EINVAL', ioctl);
      if (x.id >= V4L2_CID_PRIVATE_BASE && x.id < 0x08010000) throw err('EINVAL', ioctl);
      const c = node.ctrl(x.id);
      if (c === undefined || (c.flags & CTRL_FLAG.DISABLED)) throw err('EINVAL', ioctl);
      if (c.isPtr && c.d.type !== CTRL_TYPE.STRING && x.kind === 'string' && (x.size ?? 0) < c.elemSize * c.elems
        && ioctl !== 'VIDIOC_G_EXT_CTRLS') throw err('EFAULT', ioctl);
      return c;
    } catch (e) {
      return controlsError(e, k);
    }
  });
}

function classCheck(node: VividNode, which: number, ioctl: string): void {
  if (which === V4L2_CTRL_WHICH_CUR_VAL || which === V4L2_CTRL_WHICH_DEF_VAL || which === V4L2_CTRL_WHICH_REQUEST_VAL) return;
  if (node.ctrl((which | 1) >>> 0) === undefined) throw err('EINVAL', ioctl);
}

/**
 * The file of G/S/TRY_EXT_CTRLS, its errors carrying error_idx (count: before any control); null for
 * an empty list the class check let through.
 */
function ctrlsFile(m: Machine, fd: Fd, ioctl: string, which: number, controls: readonly V4l2Control[],
  refuse: ErrnoName | null): VideoFh | null {
  try {
    const fh = video(m, fd, ioctl);
    if (refuse !== null) throw err(refuse, ioctl);
    if (controls.length > 0) return fh;
    classCheck(fh.node, which, ioctl);
    return null;
  } catch (e) {
    return controlsError(e, controls.length);
  }
}

// ---- events ---------------------------------------------------------------------------------------------------

function findSub(fh: VideoFh, type: number, id: number): Subscription | undefined {
  return fh.subs.find((s) => s.type === type && s.id === id);
}

function dropSub(fh: VideoFh, s: Subscription): void {
  fh.subs.splice(fh.subs.indexOf(s), 1);
  if (s.queued !== null) fh.available.splice(fh.available.indexOf(s.queued), 1);
  s.queued = null;
  s.ctrl?.subs.delete(s);
}

// ---- poll -------------------------------------------------------------------------------------------------------

/** vb2_fop_poll with the v4l2_fh's events (v4l2_event_pending → EPOLLPRI) */
export function videoRevents(f: VideoFile, events: number): number {
  const fh = f.fh;
  let r = fh.available.length > 0 ? POLLPRI : 0;
  const q = fh.node.queue;
  const wanted = q.isOutput ? events & (POLLOUT | POLLWRNORM) : events & (POLLIN | POLLRDNORM);
  if (wanted) {
    if (!q.streaming) r |= POLLERR;
    else if (q.done.length > 0) r |= q.isOutput ? POLLOUT | POLLWRNORM : POLLIN | POLLRDNORM;
  }
  return r & (events | POLLERR);
}

/** vb2_mmap: an MMAP plane of the video fd, by its offset */
export function videoMmap(f: OpenFile & { kind: 'video' }, offset: number, length: number, shared: boolean, prot: number,
  pageSize: number): { mem: Memory; at: number } {
  const q = f.fh.node.queue;
  const fail = (): Error => systemError('EINVAL', 'mmap');
  if (q.memory !== MEMORY.MMAP || !shared) throw fail();
  if (q.isOutput ? !(prot & 2) : !(prot & 1)) throw fail();
  for (const b of q.buffers) {
    for (const p of b.planes) {
      if (p.memOffset === offset && p.bo !== null) {
        if (Math.ceil(length / pageSize) * pageSize > p.bo.pages.size) throw fail();
        return { mem: p.bo.pages, at: 0 };
      }
    }
  }
  throw fail();
}

// ---- the ioctls -------------------------------------------------------------------------------------------------

export function v4l2Ops(m: Machine): V4l2Ops {
  const frameMs = (): number => m.o.video?.frameMs ?? 10;
  const kernelVersion = (): number => {
    const v = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(m.o.kernel);
    return v === null ? 0 : (Number(v[1]) << 16) | (Number(v[2]) << 8) | Math.min(Number(v[3] ?? 0), 255);
  };

  return {
    v4l2QueryCap(fd) {
      const node = video(m, fd, 'VIDIOC_QUERYCAP').node;
      const inst = node.inst;
      return {
        driver: 'vivid', card: 'vivid', busInfo: inst.busName, version: kernelVersion(),
        capabilities: (inst.capture.deviceCaps | inst.output.deviceCaps | 0x80000000) >>> 0, deviceCaps: node.deviceCaps,
      };
    },

    v4l2EnumFmt(fd, type, index) {
      const ioctl = 'VIDIOC_ENUM_FMT';
      const node = video(m, fd, ioctl).node;
      checkType(node, type, ioctl);
      // the other API's type of the same direction lists nothing (seen on 6.12 and 7.2)
      if (isMplaneType(type) !== node.inst.multiplanar) throw err('EINVAL', ioctl);
      const f = node.inst.enumerable[index];
      if (f === undefined) throw err('EINVAL', ioctl);
      let flags = 0;
      if (!isOutputType(type)) {
        flags = 0x20 | 0x40;
        if (f.enc === 'yuv') flags |= 0x80 | 0x100;
        else if (f.enc === 'hsv') flags |= 0x80;
        else if (f.enc === 'rgb') flags |= 0x100;
      }
      return { index, type, flags, description: f.description, pixelformat: f.code, mbusCode: 0 };
    },

    v4l2EnumFrameSizes(fd, pixelformat, index) {
      const ioctl = 'VIDIOC_ENUM_FRAMESIZES';
      const node = video(m, fd, ioctl).node;
      if (node.dir === 'output') throw err('ENOTTY', ioctl);
      const inst = node.inst;
      const webcam = inst.inputType === 'webcam';
      if (!webcam && !(node.ctrl(0x00f0f021)?.num ?? 0)) throw err('EINVAL', ioctl);
      if (inst.format(pixelformat) === undefined) throw err('EINVAL', ioctl);
      if (webcam) {
        const s = webcamSizes(m)[index];
        if (s === undefined) throw err('EINVAL', ioctl);
        return { index, pixelformat, type: 1, discrete: { width: s[0], height: s[1] } };
      }
      if (index !== 0) throw err('EINVAL', ioctl);
      return { index, pixelformat, type: 3, stepwise: { minWidth: limits.MIN_WIDTH, maxWidth: limits.MAX_WIDTH * limits.MAX_ZOOM,
        stepWidth: 2, minHeight: limits.MIN_HEIGHT, maxHeight: limits.MAX_HEIGHT * limits.MAX_ZOOM, stepHeight: 2 } };
    },

    v4l2GetFmt(fd, type) {
      const node = formatNode(m, fd, type, 'VIDIOC_G_FMT');
      return currentFormat(node, type);
    },

    v4l2SetFmt(fd, format, tryOnly) {
      const ioctl = tryOnly ? 'VIDIOC_TRY_FMT' : 'VIDIOC_S_FMT';
      const node = formatNode(m, fd, format.type, ioctl);
      const t = tryFormat(node, format);
      if (tryOnly) return t.out;
      if (node.queue.buffers.length > 0) throw err('EBUSY', ioctl); // vb2_is_busy
      const inst = node.inst;
      if (node.dir === 'capture') {
        if (t.webcamIdx >= 0) {
          inst.webcamSizeIdx = t.webcamIdx;
          inst.updateFormatCap();
        }
        inst.capFmt = t.q;
        inst.csc = { colorspace: t.out.colorspace, xfer: t.out.xferFunc, ycbcr: t.out.ycbcrEnc, quant: t.out.quantization };
      } else {
        inst.outFmt = t.q;
        inst.cscOut = { colorspace: t.out.colorspace, xfer: t.out.xferFunc, ycbcr: t.out.ycbcrEnc, quant: t.out.quantization };
      }
      return t.out;
    },

    v4l2ReqBufs(fd, type, memory, count) {
      const ioctl = 'VIDIOC_REQBUFS';
      const fh = video(m, fd, ioctl);
      const q = queueOf(fh.node, type, ioctl);
      checkMemory(q, memory, ioctl);
      checkOwner(fh, q, ioctl);
      if (q.streaming) throw err('EBUSY', ioctl);
      const caps = q.caps;
      if (memory === MEMORY.USERPTR) throw err('EINVAL', ioctl); // the mock has no user pointers
      freeBuffers(m, q);
      if (count === 0) {
        q.owner = null;
        return { count: 0, capabilities: caps, flags: 0 };
      }
      q.memory = memory;
      const n = Math.min(Math.max(count, 2), q.maxBuffers);
      allocate(m, q, n, setupSizes(fh.node));
      q.owner = fh;
      return { count: n, capabilities: caps, flags: 0 };
    },

    v4l2CreateBufs(fd, memory, count, format) {
      const ioctl = 'VIDIOC_CREATE_BUFS';
      const fh = video(m, fd, ioctl);
      const q = queueOf(fh.node, format.type, ioctl);
      checkMemory(q, memory, ioctl);
      checkOwner(fh, q, ioctl);
      if (memory === MEMORY.USERPTR) throw err('EINVAL', ioctl);
      const index = q.buffers.length;
      if (count === 0) return { index, count: 0, capabilities: q.caps };
      if (q.buffers.length > 0 && q.memory !== memory) throw err('EINVAL', ioctl);
      if (q.buffers.length >= q.maxBuffers) throw systemError('ENOBUFS', sc(ioctl));
      const sizes = isMplaneType(format.type) ? format.planes.map((p) => p.sizeimage) : [format.planes[0].sizeimage];
      if (sizes.some((s) => s === 0)) throw err('EINVAL', ioctl);
      // vivid's queue_setup with the planes given: the format's plane count, each big enough
      const need = setupSizes(fh.node);
      if (sizes.length !== need.length || sizes.some((s, p) => s < need[p])) throw err('EINVAL', ioctl);
      let n = count;
      if (q.buffers.length + n < 2) n = 2 - q.buffers.length;
      n = Math.min(n, q.maxBuffers - q.buffers.length);
      q.memory = memory;
      allocate(m, q, n, sizes);
      q.owner = fh;
      return { index, count: n, capabilities: q.caps };
    },

    v4l2QueryBuf(fd, type, memory, index) {
      const ioctl = 'VIDIOC_QUERYBUF';
      const fh = video(m, fd, ioctl);
      const q = queueOf(fh.node, type, ioctl);
      const b = q.buffers[index];
      if (b === undefined) throw err('EINVAL', ioctl);
      void memory;
      return bufferInfo(q, b);
    },

    v4l2QBuf(fd, buffer) {
      const ioctl = 'VIDIOC_QBUF';
      const fh = video(m, fd, ioctl);
      const { q, b } = prepare(m, fh, buffer, ioctl, true);
      if (q.streaming) {
        b.state = 'active';
        q.active.push(b);
      } else {
        b.state = 'queued';
      }
      return bufferInfo(q, b);
    },

    v4l2PrepareBuf(fd, buffer) {
      const ioctl = 'VIDIOC_PREPARE_BUF';
      const fh = video(m, fd, ioctl);
      const { q, b } = prepare(m, fh, buffer, ioctl, false);
      return bufferInfo(q, b);
    },

    v4l2DqBuf(fd, type, memory) {
      const ioctl = 'VIDIOC_DQBUF';
      const fh = video(m, fd, ioctl);
      const q = queueOf(fh.node, type, ioctl);
      checkOwner(fh, q, ioctl);
      void memory;
      if (!q.streaming) throw err('EINVAL', ioctl);
      const b = q.done.shift();
      if (b === undefined) return null; // EAGAIN on the non-blocking fd
      b.state = 'dequeued';
      b.prepared = false;
      return bufferInfo(q, b);
    },

    v4l2ExpBuf(fd, type, index, plane, flags) {
      const ioctl = 'VIDIOC_EXPBUF';
      const fh = video(m, fd, ioctl);
      const q = fh.node.queue;
      const fl = flags | O_CLOEXEC;
      if (q.memory !== MEMORY.MMAP) throw err('EINVAL', ioctl);
      if (fl & ~EXPBUF_FLAGS) throw err('EINVAL', ioctl);
      if (type !== q.type) throw err('EINVAL', ioctl);
      const b = q.buffers[index];
      if (b === undefined || plane >= b.planes.length) throw err('EINVAL', ioctl);
      // a full file table: videobuf2 makes the failed export EINVAL (a full fd table stays EMFILE)
      return m.install(exportPlane(m, b.planes[plane], fl), true, sc(ioctl), 'EINVAL');
    },

    v4l2StreamOn(fd, type) {
      const ioctl = 'VIDIOC_STREAMON';
      const fh = video(m, fd, ioctl);
      const q = queueOf(fh.node, type, ioctl);
      checkOwner(fh, q, ioctl);
      if (q.streaming) return;
      if (q.buffers.length === 0) throw err('EINVAL', ioctl);
      q.streaming = true;
      startStreaming(m, q, frameMs()); // min_queued_buffers 0: start_streaming now
    },

    v4l2StreamOff(fd, type) {
      const ioctl = 'VIDIOC_STREAMOFF';
      const fh = video(m, fd, ioctl);
      const q = queueOf(fh.node, type, ioctl);
      checkOwner(fh, q, ioctl);
      stopStreaming(m, q);
    },

    v4l2GetInput: (fd) => portNode(m, fd, 'VIDIOC_G_INPUT', 'capture').inst.input,

    v4l2SetInput(fd, index) {
      const node = portNode(m, fd, 'VIDIOC_S_INPUT', 'capture');
      if (setPort(node, index, INPUTS.length, node.inst.input, 'VIDIOC_S_INPUT')) node.inst.setInput(index);
    },

    v4l2GetOutput: (fd) => portNode(m, fd, 'VIDIOC_G_OUTPUT', 'output').inst.output_,

    v4l2SetOutput(fd, index) {
      const node = portNode(m, fd, 'VIDIOC_S_OUTPUT', 'output');
      if (setPort(node, index, OUTPUTS.length, node.inst.output_, 'VIDIOC_S_OUTPUT')) {
        node.inst.output_ = index;
        node.inst.updateFormatOut();
      }
    },

    v4l2EnumInput(fd, index) {
      const ioctl = 'VIDIOC_ENUMINPUT';
      const node = portNode(m, fd, ioctl, 'capture');
      const t = INPUTS[index];
      if (t === undefined) throw err('EINVAL', ioctl);
      const nth = INPUTS.slice(0, index).filter((x) => x === t).length;
      return {
        index, name: `${INPUT_NAMES[t]} ${portName(node, nth)}`, type: t === 'tv' ? V4L2_INPUT_TYPE_TUNER : V4L2_INPUT_TYPE_CAMERA, status: 0,
        capabilities: t === 'tv' || t === 'svid' ? V4L2_IN_CAP_STD : t === 'hdmi' ? V4L2_IN_CAP_DV_TIMINGS : 0,
      };
    },

    v4l2EnumOutput(fd, index) {
      const ioctl = 'VIDIOC_ENUMOUTPUT';
      const node = portNode(m, fd, ioctl, 'output');
      const t = OUTPUTS[index];
      if (t === undefined) throw err('EINVAL', ioctl);
      const nth = OUTPUTS.slice(0, index).filter((x) => x === t).length;
      return { index, name: `${t === 'svid' ? 'S-Video' : 'HDMI'} ${portName(node, nth)}`, type: V4L2_OUTPUT_TYPE_ANALOG,
        capabilities: t === 'svid' ? V4L2_OUT_CAP_STD : V4L2_OUT_CAP_DV_TIMINGS };
    },

    v4l2QueryExtCtrl(fd, id) {
      const node = video(m, fd, 'VIDIOC_QUERY_EXT_CTRL').node;
      const c = queryCtrl(node, id);
      const d = c.d;
      const dims = [...(d.dims ?? [])];
      return {
        id: d.id, type: d.type, name: d.name, minimum: d.min, maximum: d.max, step: d.step,
        defaultValue: d.type === CTRL_TYPE.STRING || d.type >= CTRL_TYPE.COMPOUND_TYPES && d.type !== CTRL_TYPE.U8
          && d.type !== CTRL_TYPE.U16 && d.type !== CTRL_TYPE.U32 ? 0n : d.def,
        flags: c.userFlags, elemSize: c.elemSize, elems: c.elems, nrOfDims: dims.length, dims,
      };
    },

    v4l2QueryMenu(fd, id, index) {
      const ioctl = 'VIDIOC_QUERYMENU';
      const node = video(m, fd, ioctl).node;
      const c = node.ctrl(id);
      if (c === undefined || (c.d.type !== CTRL_TYPE.MENU && c.d.type !== CTRL_TYPE.INTEGER_MENU)) throw err('EINVAL', ioctl);
      if (index < c.d.min || index > c.d.max) throw err('EINVAL', ioctl);
      if ((c.d.skipMask ?? 0n) & (1n << BigInt(index))) throw err('EINVAL', ioctl);
      if (c.d.type === CTRL_TYPE.MENU && c.d.menu![index] === '') throw err('EINVAL', ioctl);
      const u = menuUnion(c, index);
      const nul = u.indexOf(0);
      return { id, index, name: Buffer.from(u.subarray(0, nul < 0 ? 32 : nul)).toString('utf8'),
        value: new DataView(u.buffer).getBigInt64(0, true) };
    },

    v4l2GetExtCtrls(fd, which, controls) {
      const ioctl = 'VIDIOC_G_EXT_CTRLS';
      const fh = ctrlsFile(m, fd, ioctl, which, controls, null);
      if (fh === null) return [];
      const node = fh.node;
      if (which === V4L2_CTRL_WHICH_REQUEST_VAL) return controlsError(err('EACCES', ioctl), controls.length);
      const ctrls = prepareCtrls(node, which, controls, ioctl);
      return ctrls.map((c, k) => {
        try {
          if (c.flags & CTRL_FLAG.WRITE_ONLY) throw err('EACCES', ioctl);
          const v = which === V4L2_CTRL_WHICH_DEF_VAL ? (c.d.type === CTRL_TYPE.STRING ? ' '.repeat(Number(c.d.min)) : c.d.def)
            : c.cur;
          return userResult(c, controls[k], v, ioctl);
        } catch (e) {
          return controlsError(e, k);
        }
      });
    },

    v4l2SetExtCtrls(fd, which, controls, tryOnly) {
      const ioctl = tryOnly ? 'VIDIOC_TRY_EXT_CTRLS' : 'VIDIOC_S_EXT_CTRLS';
      // the default values cannot be set, nor (without a request fd) a request's
      const refuse = which === V4L2_CTRL_WHICH_DEF_VAL ? 'EINVAL' : which === V4L2_CTRL_WHICH_REQUEST_VAL ? 'EACCES' : null;
      const fh = ctrlsFile(m, fd, ioctl, which, controls, refuse);
      if (fh === null) return [];
      const node = fh.node;
      const ctrls = prepareCtrls(node, which, controls, ioctl);
      // validate_ctrls: every value first; S reports error_idx = count (nothing was changed)
      const values = ctrls.map((c, k) => {
        try {
          if (c.flags & CTRL_FLAG.READ_ONLY) throw err('EACCES', ioctl);
          return c.isPtr && c.d.type !== CTRL_TYPE.STRING ? c.cur : validate(c, userValue(c, controls[k], ioctl), ioctl);
        } catch (e) {
          return controlsError(e, tryOnly ? k : controls.length);
        }
      });
      if (!tryOnly) {
        ctrls.forEach((c, k) => {
          const changed = c.cur !== values[k] || c.d.type === CTRL_TYPE.BUTTON;
          c.cur = values[k];
          if (changed) {
            ctrlChanged(node.inst, c);
            ctrlEvent(m, c, fh, EVENT.CTRL_CH_VALUE);
          }
        });
      }
      return ctrls.map((c, k) => userResult(c, controls[k], values[k], ioctl));
    },

    v4l2SubscribeEvent(fd, type, id, flags) {
      const ioctl = 'VIDIOC_SUBSCRIBE_EVENT';
      const fh = video(m, fd, ioctl);
      const node = fh.node;
      let ctrl: Ctrl | null = null;
      if (type === EVENT.SOURCE_CHANGE) {
        if (node.dir !== 'capture') throw err('EINVAL', ioctl);
      } else if (type === EVENT.CTRL) {
        const c = node.ctrl(id);
        if (c === undefined) throw err('EINVAL', ioctl);
        ctrl = c;
      } else {
        throw err('EINVAL', ioctl);
      }
      if (findSub(fh, type, id) !== undefined) return;
      const sub: Subscription = { fh, type, id, flags, queued: null, ctrl };
      fh.subs.push(sub);
      if (ctrl !== null) {
        ctrl.subs.add(sub);
        if (flags & EVENT.SUB_FL_SEND_INITIAL) {
          const changes = EVENT.CTRL_CH_FLAGS | (ctrl.flags & CTRL_FLAG.WRITE_ONLY ? 0 : EVENT.CTRL_CH_VALUE);
          ctrlEventToSub(m, sub, ctrlEventData(ctrl, changes));
        }
      }
    },

    v4l2UnsubscribeEvent(fd, type, id) {
      const fh = video(m, fd, 'VIDIOC_UNSUBSCRIBE_EVENT');
      if (type === EVENT.ALL) {
        for (const s of [...fh.subs]) dropSub(fh, s);
        return;
      }
      const s = findSub(fh, type, id);
      if (s !== undefined) dropSub(fh, s);
    },

    v4l2DqEvent(fd) {
      const fh = video(m, fd, 'VIDIOC_DQEVENT');
      const ev = fh.available.shift();
      if (ev === undefined) return null; // ENOENT on the non-blocking fd
      ev.sub.queued = null;
      return {
        type: ev.type, sequence: ev.sequence, pending: fh.available.length, id: ev.id,
        timestamp: { sec: Number(ev.ts / 1_000_000_000n), nsec: Number(ev.ts % 1_000_000_000n) }, data: ev.data,
      };
    },

    v4l2EncoderCmd(fd, _cmd, _flags, tryOnly) {
      const ioctl = tryOnly ? 'VIDIOC_TRY_ENCODER_CMD' : 'VIDIOC_ENCODER_CMD';
      video(m, fd, ioctl);
      throw err('ENOTTY', ioctl);
    },

    v4l2DecoderCmd(fd, _cmd, _flags, tryOnly) {
      const ioctl = tryOnly ? 'VIDIOC_TRY_DECODER_CMD' : 'VIDIOC_DECODER_CMD';
      video(m, fd, ioctl);
      throw err('ENOTTY', ioctl);
    },
  };
}

/** The initial event of a subscription (SEND_INITIAL) to that subscription alone */
function ctrlEventToSub(m: Machine, sub: Subscription, data: Uint8Array): void {
  const fh = sub.fh;
  fh.sequence++;
  const ev = { type: EVENT.CTRL, id: sub.id, data, ts: process.hrtime.bigint(), sequence: fh.sequence, sub };
  sub.queued = ev;
  fh.available.push(ev);
  m.hub.wake();
}

export type { VividFormat };
export { minBpl };
