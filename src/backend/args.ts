/// <reference types="node" preserve="true" />
/**
 * The argument specification of the Backend: for every method, its arguments in order, each with a
 * kind. The kinds are the addon's argument checks (native/args.h: ArgFd, ArgU32, ArgI32, ArgSize,
 * ArgInt64, ArgString, ArgBytes, and the list and object readers of udmabuf.cc, kms.cc, fd.cc,
 * mapping.cc), so one table says what both backends accept.
 *
 * `withArgChecks(impl)` applies it: both backends are wrapped (native.ts and mock/index.ts), so a bad
 * argument throws the same TypeError / RangeError, with the same code and message, before either
 * backend runs. The addon keeps its own checks (they protect memory) with the same messages; the
 * contract test (test/06-backend-contracts.test.ts) compares all three.
 *
 * Kept cheap: the checks of each method are compiled once into an array of closures, and the wrapper
 * of an n-argument method takes n named parameters (no rest array, no allocation per call).
 */
import { types } from 'node:util';
import {
  MAP_FIXED, MAP_FIXED_NOREPLACE, V4L2_BUF_TYPE_VIDEO_CAPTURE, V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE,
  V4L2_BUF_TYPE_VIDEO_OUTPUT, V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE, V4L2_CID_MAX_CTRLS, V4L2_MEMORY_DMABUF,
  V4L2_MEMORY_MMAP, VIDEO_MAX_PLANES,
} from '../constants';
import { I32_MAX, I32_MIN, invalidArgType, invalidArgValue, MAX_SAFE, outOfRange, validateInt, validateOneOf } from '../errors';
import type { Backend, BackendMethod } from './types';

/**
 * What one argument must be.
 * - fd: an integer in [0, 2^31-1] (ArgFd); u32 [0, 2^32-1]; i32 [-2^31, 2^31-1]; size: a safe
 *   integer >= 0 (ArgSize, also the u64 fields); int64: any safe integer.
 * - string: a string without NUL (ArgString: a NUL would silently shorten a path or a name).
 * - bytes: a Uint8Array (a Buffer is one).
 * - mapFlags: an i32 without MAP_FIXED / MAP_FIXED_NOREPLACE (they would let JS replace any mapping).
 * - maxFds: recvFds' bound of its control buffer, [0, 65536].
 * - fd[]: an array of fds; u32[N]: an array of at most N u32 values; u64[N]: at most N bigints in
 *   [0, 2^64-1] (format modifiers use all 64 bits).
 * - udmabufItems: an array of objects { memfd: fd, offset: size, size: size }.
 * - mode|null: null, or a KMS mode object (u32 clock, vrefresh, flags, type; u16 timings; string name).
 * - mapping: a MapHandle; each backend checks that it made it ("a mapping made by this backend").
 * - boolean: true or false.
 * - v4l2BufType: a u32 that is a video buffer type a format is laid out for: V4L2_BUF_TYPE_VIDEO_CAPTURE
 *   (1), _OUTPUT (2), _CAPTURE_MPLANE (9) or _OUTPUT_MPLANE (10); any other is ERR_INVALID_ARG_VALUE
 *   (the addon knows no layout for it).
 * - v4l2Format: a V4l2PixFormat object: type a v4l2BufType, u32 width, height, pixelformat, field and
 *   colorspace, then ycbcrEnc, quantization, xferFunc and flags (u32, but [0, 255] for the
 *   multi-planar types: __u8 there), and planes: exactly 1 { bytesperline: u32, sizeimage: u32 } for
 *   a single-planar type, 1 to 8 (VIDEO_MAX_PLANES) for a multi-planar one.
 * - v4l2Buffer: a V4l2QueueBuffer object: u32 type, memory V4L2_MEMORY_MMAP (1) or _DMABUF (4) only
 *   (USERPTR would hand the kernel an address from JS: ERR_INVALID_ARG_VALUE), u32 index, optional u32
 *   flags and field, optional timestamp { sec, usec: int64 }, planes (counted as for v4l2Format, by
 *   V4L2_TYPE_IS_MULTIPLANAR: 9 and 10) of { bytesused, length: u32, dataOffset?: u32 (0 for a
 *   single-planar type), fd: an fd for DMABUF, left out for MMAP }.
 * - v4l2Controls: at most 1024 (V4L2_CID_MAX_CTRLS) objects { id: u32, kind: 'i32' | 'i64' | 'string',
 *   size?: [0, 65536] }; v4l2ControlValues: the same with a value of the kind (an i32, a bigint in
 *   [-2^63, 2^63-1], a string without NUL: of at most 65535 UTF-8 bytes when size is left out).
 */
export type ArgKind =
  | 'fd' | 'u32' | 'i32' | 'size' | 'int64' | 'string' | 'bytes' | 'mapFlags' | 'maxFds' | 'fd[]' | 'u32[4]'
  | 'u32[65536]' | 'u64[4]' | 'u64[65536]' | 'udmabufItems' | 'mode|null' | 'mapping' | 'boolean' | 'v4l2BufType' | 'v4l2Format'
  | 'v4l2Buffer' | 'v4l2Controls' | 'v4l2ControlValues';

/** `name:kind`, or `name?:kind` for an argument that may be left out (undefined). */
type ArgDecl = `${string}:${ArgKind}`;

/** One declaration list per Backend method, as long as its parameter list. */
type Declarations = { readonly [K in BackendMethod]: readonly ArgDecl[] & { length: Parameters<Backend[K]>['length'] } };

const DECLARATIONS = {
  // files (native/fd.cc)
  open: ['path:string', 'flags:i32'],
  close: ['fd:fd'],
  dup: ['fd:fd'],
  fstat: ['fd:fd'],
  stat: ['path:string'],
  lseek: ['fd:fd', 'offset:int64', 'whence:i32'],
  getFlags: ['fd:fd'],
  read: ['fd:fd', 'length:size'],
  write: ['fd:fd', 'data:bytes', 'position?:size'],
  pread: ['fd:fd', 'length:size', 'position:size'],
  readTextFile: ['path:string'],
  readdir: ['path:string'],
  readlink: ['path:string'],
  access: ['path:string', 'mode:i32'],
  fdCheck: ['fd:fd', 'dev:u32', 'inoHi:u32', 'inoLo:u32'],
  closeChecked: ['fd:fd', 'dev:u32', 'inoHi:u32', 'inoLo:u32'],
  fdinfoChecked: ['fd:fd', 'dev:u32', 'inoHi:u32', 'inoLo:u32'],
  // memfd (native/fd.cc)
  memfdCreate: ['name:string', 'flags:u32'],
  ftruncate: ['fd:fd', 'size:size'],
  addSeals: ['fd:fd', 'seals:i32'],
  getSeals: ['fd:fd'],
  // udmabuf (native/udmabuf.cc)
  udmabufCreate: ['dev:fd', 'memfd:fd', 'offset:size', 'size:size', 'flags:u32'],
  udmabufCreateList: ['dev:fd', 'flags:u32', 'items:udmabufItems'],
  udmabufCreateSized: ['dev:fd', 'size:size', 'flags:u32', 'hugetlb:boolean', 'name:string'],
  // dma-heap (native/heap.cc): heap_flags is a __u64
  heapAlloc: ['heap:fd', 'len:size', 'fdFlags:u32', 'heapFlags:size'],
  heapAllocChecked: ['heap:fd', 'dev:u32', 'inoHi:u32', 'inoLo:u32', 'len:size', 'fdFlags:u32', 'heapFlags:size'],
  // dma-buf (native/dmabuf.cc): the SYNC flags are a __u64
  dmabufSync: ['fd:fd', 'flags:size'],
  dmabufSyncer: ['flags:size'],
  dmabufSyncAsync: ['fd:fd', 'flags:size'],
  dmabufSetName: ['fd:fd', 'name:string'],
  dmabufSetNameChecked: ['fd:fd', 'dev:u32', 'inoHi:u32', 'inoLo:u32', 'name:string'],
  dmabufExportSyncFile: ['fd:fd', 'flags:u32'],
  dmabufImportSyncFile: ['fd:fd', 'flags:u32', 'syncFile:fd'],
  // sync_file (native/sync.cc)
  syncFileInfo: ['fd:fd'],
  syncFileMerge: ['name:string', 'fd1:fd', 'fd2:fd'],
  // poll (native/fd.cc)
  poll: ['fd:fd', 'events:i32', 'timeoutMs:i32'],
  pollAsync: ['fd:fd', 'events:i32', 'timeoutMs:i32'],
  // mappings (native/mapping.cc)
  mmap: ['fd:fd', 'length:size', 'prot:i32', 'flags:mapFlags', 'offset:size'],
  mmapChecked: ['fd:fd', 'dev:u32', 'inoHi:u32', 'inoLo:u32', 'length:size', 'prot:i32', 'flags:mapFlags', 'offset:size'],
  mapBuffer: ['mapping:mapping'],
  mapRead: ['mapping:mapping', 'offset:size', 'target:bytes'],
  munmap: ['mapping:mapping'],
  isMapped: ['mapping:mapping'],
  // DRM (native/drm.cc): capabilities and their values are __u64
  drmVersion: ['fd:fd'],
  drmGetCap: ['fd:fd', 'capability:size'],
  drmSetClientCap: ['fd:fd', 'capability:size', 'value:size'],
  drmCreateDumb: ['fd:fd', 'width:u32', 'height:u32', 'bpp:u32', 'flags:u32'],
  drmMapDumb: ['fd:fd', 'handle:u32'],
  drmDestroyDumb: ['fd:fd', 'handle:u32'],
  drmGemClose: ['fd:fd', 'handle:u32'],
  drmPrimeHandleToFd: ['fd:fd', 'handle:u32', 'flags:u32'],
  drmPrimeFdToHandle: ['fd:fd', 'dmabuf:fd'],
  vgemFenceAttach: ['fd:fd', 'handle:u32', 'flags:u32'],
  vgemFenceSignal: ['fd:fd', 'fence:u32'],
  // sw_sync (native/sync.cc)
  swSyncCreateFence: ['timeline:fd', 'value:u32', 'name:string'],
  swSyncInc: ['timeline:fd', 'count:u32'],
  // fd passing (native/fd.cc)
  sendFds: ['socket:fd', 'data:bytes', 'fds:fd[]'],
  recvFds: ['socket:fd', 'maxData:size', 'maxFds:maxFds'],
  // KMS (native/kms.cc): at most 2^16 connectors, 4 planes; user_data is a __u64
  kmsGetResources: ['fd:fd'],
  kmsGetConnector: ['fd:fd', 'connectorId:u32'],
  kmsGetCrtc: ['fd:fd', 'crtcId:u32'],
  kmsSetCrtc: ['fd:fd', 'crtcId:u32', 'fbId:u32', 'x:u32', 'y:u32', 'connectorIds:u32[65536]', 'mode:mode|null'],
  kmsGetPlaneResources: ['fd:fd'],
  kmsGetPlane: ['fd:fd', 'planeId:u32'],
  kmsAddFb2: ['fd:fd', 'width:u32', 'height:u32', 'format:u32', 'handles:u32[4]', 'pitches:u32[4]', 'offsets:u32[4]',
    'modifiers:u64[4]', 'flags:u32'],
  kmsRmFb: ['fd:fd', 'fbId:u32'],
  kmsPageFlip: ['fd:fd', 'crtcId:u32', 'fbId:u32', 'flags:u32', 'userData:size'],
  kmsGetEncoder: ['fd:fd', 'encoderId:u32'],
  kmsGetProperties: ['fd:fd', 'objectId:u32', 'objectType:u32'],
  kmsGetProperty: ['fd:fd', 'propertyId:u32'],
  kmsGetBlob: ['fd:fd', 'blobId:u32'],
  kmsCreateBlob: ['fd:fd', 'data:bytes'],
  kmsDestroyBlob: ['fd:fd', 'blobId:u32'],
  kmsAtomic: ['fd:fd', 'flags:u32', 'objects:u32[65536]', 'counts:u32[65536]', 'props:u32[65536]',
    'values:u64[65536]', 'userData:size', 'outFences:u32[65536]'],
  drmReadEvents: ['fd:fd'],
  // V4L2 (native/v4l2.cc): formats for the video buffer types only (v4l2BufType); the queue ioctls take
  // any u32 type (the layout follows V4L2_TYPE_IS_MULTIPLANAR); QBUF/PREPARE_BUF buffers are MMAP or
  // DMABUF, never USERPTR (v4l2Buffer); at most 1024 controls (V4L2_CID_MAX_CTRLS)
  v4l2QueryCap: ['fd:fd'],
  v4l2EnumFmt: ['fd:fd', 'type:u32', 'index:u32'],
  v4l2EnumFrameSizes: ['fd:fd', 'pixelformat:u32', 'index:u32'],
  v4l2GetFmt: ['fd:fd', 'type:v4l2BufType'],
  v4l2SetFmt: ['fd:fd', 'format:v4l2Format', 'tryOnly:boolean'],
  v4l2ReqBufs: ['fd:fd', 'type:u32', 'memory:u32', 'count:u32'],
  v4l2CreateBufs: ['fd:fd', 'memory:u32', 'count:u32', 'format:v4l2Format'],
  v4l2QueryBuf: ['fd:fd', 'type:u32', 'memory:u32', 'index:u32'],
  v4l2QBuf: ['fd:fd', 'buffer:v4l2Buffer'],
  v4l2PrepareBuf: ['fd:fd', 'buffer:v4l2Buffer'],
  v4l2DqBuf: ['fd:fd', 'type:u32', 'memory:u32'],
  v4l2ExpBuf: ['fd:fd', 'type:u32', 'index:u32', 'plane:u32', 'flags:u32'],
  v4l2StreamOn: ['fd:fd', 'type:u32'],
  v4l2StreamOff: ['fd:fd', 'type:u32'],
  v4l2GetInput: ['fd:fd'],
  v4l2SetInput: ['fd:fd', 'index:u32'],
  v4l2GetOutput: ['fd:fd'],
  v4l2SetOutput: ['fd:fd', 'index:u32'],
  v4l2EnumInput: ['fd:fd', 'index:u32'],
  v4l2EnumOutput: ['fd:fd', 'index:u32'],
  v4l2QueryExtCtrl: ['fd:fd', 'id:u32'],
  v4l2QueryMenu: ['fd:fd', 'id:u32', 'index:u32'],
  v4l2GetExtCtrls: ['fd:fd', 'which:u32', 'controls:v4l2Controls'],
  v4l2SetExtCtrls: ['fd:fd', 'which:u32', 'controls:v4l2ControlValues', 'tryOnly:boolean'],
  v4l2SubscribeEvent: ['fd:fd', 'type:u32', 'id:u32', 'flags:u32'],
  v4l2UnsubscribeEvent: ['fd:fd', 'type:u32', 'id:u32', 'flags:u32'],
  v4l2DqEvent: ['fd:fd'],
  v4l2EncoderCmd: ['fd:fd', 'cmd:u32', 'flags:u32', 'tryOnly:boolean'],
  v4l2DecoderCmd: ['fd:fd', 'cmd:u32', 'flags:u32', 'tryOnly:boolean'],
} as const satisfies Declarations;

export interface ArgSpec {
  readonly name: string;
  readonly kind: ArgKind;
  /** May be undefined (left out). */
  readonly optional: boolean;
}

function parse(decl: ArgDecl): ArgSpec {
  const at = decl.lastIndexOf(':');
  const name = decl.slice(0, at);
  const optional = name.endsWith('?');
  return { name: optional ? name.slice(0, -1) : name, kind: decl.slice(at + 1) as ArgKind, optional };
}

/** The specification: every Backend method's arguments, in order. */
export const ARG_SPEC: { readonly [K in BackendMethod]: readonly ArgSpec[] } = Object.fromEntries(
  Object.entries(DECLARATIONS).map(([method, decls]) => [method, (decls as readonly ArgDecl[]).map(parse)]),
) as unknown as { [K in BackendMethod]: readonly ArgSpec[] };

export const BACKEND_METHODS = Object.keys(DECLARATIONS) as BackendMethod[];

// ---- the checks ---------------------------------------------------------------------------------------

/** Throws the argument's TypeError / RangeError, or returns. */
export type Check = (value: unknown) => void;

const U32_MAX = 2 ** 32 - 1;
const U64_MAX = 2n ** 64n - 1n;
const MAX_FDS = 65536;
const MODE_U32 = new Set(['clock', 'vrefresh', 'flags', 'type']);
/** The fields of struct drm_mode_modeinfo in the order kms.cc reads them. */
const MODE_FIELDS = ['clock', 'hdisplay', 'hsyncStart', 'hsyncEnd', 'htotal', 'hskew', 'vdisplay', 'vsyncStart',
  'vsyncEnd', 'vtotal', 'vscan', 'vrefresh', 'flags', 'type'] as const;

const int = (name: string, min: number, max: number): Check => (v) => { validateInt(v, name, min, max); };
const fdCheck = (name: string): Check => int(name, 0, I32_MAX);
const u32Check = (name: string): Check => int(name, 0, U32_MAX);
const sizeCheck = (name: string): Check => int(name, 0, MAX_SAFE);

/** napi's IsObject(): an object or a function, not null. */
const isObject = (v: unknown): v is Record<string, unknown> =>
  (typeof v === 'object' && v !== null) || typeof v === 'function';

function arrayOf(name: string, v: unknown): readonly unknown[] {
  if (!Array.isArray(v)) throw invalidArgType(name, 'an instance of Array', v);
  return v;
}

function u32ListCheck(name: string, max: number): Check {
  return (v) => {
    const a = arrayOf(name, v);
    if (a.length > max) throw outOfRange(`${name}.length`, `<= ${max}`, a.length);
    for (let i = 0; i < a.length; i++) validateInt(a[i], `${name}[${i}]`, 0, U32_MAX);
  };
}

function u64ListCheck(name: string, max: number): Check {
  return (v) => {
    const a = arrayOf(name, v);
    if (a.length > max) throw outOfRange(`${name}.length`, `<= ${max}`, a.length);
    for (let i = 0; i < a.length; i++) {
      const x = a[i];
      if (typeof x !== 'bigint') throw invalidArgType(`${name}[${i}]`, 'of type bigint', x);
      if (x < 0n || x > U64_MAX) throw outOfRange(`${name}[${i}]`, `>= 0n && <= ${U64_MAX}n`, x);
    }
  };
}

// ---- V4L2 (native/v4l2.cc, whose messages these are word for word) -----------------------------------

const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;
/** The most bytes one control may carry (a string control's buffer, NUL included). */
const MAX_CONTROL_SIZE = 65536;
const CONTROL_KINDS = ['i32', 'i64', 'string'] as const;
const VIDEO_TYPE_REASON = 'must be a video buffer type: V4L2_BUF_TYPE_VIDEO_CAPTURE (1), _OUTPUT (2), ' +
  '_CAPTURE_MPLANE (9) or _OUTPUT_MPLANE (10)';
const MEMORY_REASON = 'must be V4L2_MEMORY_MMAP (1) or V4L2_MEMORY_DMABUF (4): a USERPTR buffer would hand the ' +
  'kernel an address from JavaScript';

/** V4L2_TYPE_IS_MULTIPLANAR */
const isMultiplanar = (type: number): boolean =>
  type === V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE || type === V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE;

/** An object that is not an array (napi: IsObject() && !IsArray()). */
function objectOf(name: string, v: unknown): Record<string, unknown> {
  if (!isObject(v) || Array.isArray(v)) throw invalidArgType(name, 'of type object', v);
  return v;
}

function u32Field(o: Record<string, unknown>, key: string, name: string, max = U32_MAX): number {
  return validateInt(o[key], `${name}.${key}`, 0, max);
}

function videoBufType(v: unknown, name: string): number {
  const type = validateInt(v, name, 0, U32_MAX);
  if (type !== V4L2_BUF_TYPE_VIDEO_CAPTURE && type !== V4L2_BUF_TYPE_VIDEO_OUTPUT && !isMultiplanar(type)) {
    throw invalidArgValue(name, v, VIDEO_TYPE_REASON);
  }
  return type;
}

/** The planes of a format or a buffer: exactly 1 for a single-planar type, 1 to 8 for a multi-planar one. */
function planesOf(o: Record<string, unknown>, name: string, mp: boolean): readonly unknown[] {
  const a = arrayOf(`${name}.planes`, o.planes);
  if (mp ? a.length < 1 || a.length > VIDEO_MAX_PLANES : a.length !== 1) {
    throw outOfRange(`${name}.planes.length`, mp ? `>= 1 && <= ${VIDEO_MAX_PLANES}` : '1 for a single-planar type',
      a.length);
  }
  return a;
}

function v4l2FormatCheck(name: string): Check {
  return (v) => {
    const o = objectOf(name, v);
    const mp = isMultiplanar(videoBufType(o.type, `${name}.type`));
    for (const k of ['width', 'height', 'pixelformat', 'field', 'colorspace']) u32Field(o, k, name);
    for (const k of ['ycbcrEnc', 'quantization', 'xferFunc', 'flags']) u32Field(o, k, name, mp ? 0xff : U32_MAX);
    planesOf(o, name, mp).forEach((p, i) => {
      const at = `${name}.planes[${i}]`;
      const plane = objectOf(at, p);
      u32Field(plane, 'bytesperline', at);
      u32Field(plane, 'sizeimage', at);
    });
  };
}

function v4l2BufferCheck(name: string): Check {
  return (v) => {
    const o = objectOf(name, v);
    const mp = isMultiplanar(u32Field(o, 'type', name));
    const memory = u32Field(o, 'memory', name);
    if (memory !== V4L2_MEMORY_MMAP && memory !== V4L2_MEMORY_DMABUF) throw invalidArgValue(`${name}.memory`, memory, MEMORY_REASON);
    u32Field(o, 'index', name);
    if (o.flags !== undefined) u32Field(o, 'flags', name);
    if (o.field !== undefined) u32Field(o, 'field', name);
    if (o.timestamp !== undefined) {
      const at = `${name}.timestamp`;
      const ts = objectOf(at, o.timestamp);
      validateInt(ts.sec, `${at}.sec`, -MAX_SAFE, MAX_SAFE);
      validateInt(ts.usec, `${at}.usec`, -MAX_SAFE, MAX_SAFE);
    }
    planesOf(o, name, mp).forEach((p, i) => {
      const at = `${name}.planes[${i}]`;
      const plane = objectOf(at, p);
      u32Field(plane, 'bytesused', at);
      u32Field(plane, 'length', at);
      if (plane.dataOffset !== undefined) {
        const offset = u32Field(plane, 'dataOffset', at);
        if (!mp && offset !== 0) {
          throw invalidArgValue(`${at}.dataOffset`, offset, 'must be 0 for a single-planar type (struct v4l2_buffer has no data_offset)');
        }
      }
      if (memory === V4L2_MEMORY_DMABUF) {
        validateInt(plane.fd, `${at}.fd`, 0, I32_MAX);
      } else if (plane.fd !== undefined) {
        throw invalidArgValue(`${at}.fd`, validateInt(plane.fd, `${at}.fd`, 0, I32_MAX), 'must be left out for V4L2_MEMORY_MMAP');
      }
    });
  };
}

function v4l2ControlsCheck(name: string, withValues: boolean): Check {
  return (v) => {
    const list = arrayOf(name, v);
    if (list.length > V4L2_CID_MAX_CTRLS) throw outOfRange(`${name}.length`, `<= ${V4L2_CID_MAX_CTRLS}`, list.length);
    list.forEach((c, i) => {
      const at = `${name}[${i}]`;
      const o = objectOf(at, c);
      u32Field(o, 'id', at);
      const kind = validateOneOf(o.kind, `${at}.kind`, CONTROL_KINDS);
      const value = withValues ? o.value : undefined;
      if (withValues) {
        const vat = `${at}.value`;
        if (kind === 'i32') validateInt(value, vat, I32_MIN, I32_MAX);
        else if (kind === 'i64') {
          if (typeof value !== 'bigint') throw invalidArgType(vat, 'of type bigint', value);
          if (value < I64_MIN || value > I64_MAX) throw outOfRange(vat, `>= ${I64_MIN}n && <= ${I64_MAX}n`, value);
        } else {
          if (typeof value !== 'string') throw invalidArgType(vat, 'of type string', value);
          if (value.includes('\0')) throw invalidArgValue(vat, value, 'must be a string without null bytes');
        }
      }
      if (o.size !== undefined) validateInt(o.size, `${at}.size`, 0, MAX_CONTROL_SIZE);
      else if (withValues && kind === 'string' && Buffer.byteLength(value as string) >= MAX_CONTROL_SIZE) {
        throw invalidArgValue(`${at}.value`, value, `must be at most ${MAX_CONTROL_SIZE - 1} bytes long`);
      }
    });
  };
}

function compile(a: ArgSpec, mapping: Check | undefined): Check {
  const { name } = a;
  switch (a.kind) {
    case 'fd': return fdCheck(name);
    case 'u32': return u32Check(name);
    case 'i32': return int(name, I32_MIN, I32_MAX);
    case 'size': return sizeCheck(name);
    case 'int64': return int(name, -MAX_SAFE, MAX_SAFE);
    case 'maxFds': return int(name, 0, MAX_FDS);
    case 'string': return (v) => {
      if (typeof v !== 'string') throw invalidArgType(name, 'of type string', v);
      if (v.includes('\0')) throw invalidArgValue(name, v, 'must be a string without null bytes');
    };
    case 'bytes': return (v) => {
      if (!types.isUint8Array(v)) throw invalidArgType(name, 'an instance of Uint8Array', v);
    };
    case 'mapFlags': return (v) => {
      validateInt(v, name, I32_MIN, I32_MAX);
      if ((v as number) & (MAP_FIXED | MAP_FIXED_NOREPLACE)) throw invalidArgValue(name, v, 'must not contain MAP_FIXED');
    };
    case 'fd[]': return (v) => {
      const list = arrayOf(name, v);
      for (let i = 0; i < list.length; i++) validateInt(list[i], `${name}[${i}]`, 0, I32_MAX);
    };
    case 'u32[4]': return u32ListCheck(name, 4);
    case 'u32[65536]': return u32ListCheck(name, 65536);
    case 'u64[4]': return u64ListCheck(name, 4);
    case 'u64[65536]': return u64ListCheck(name, 65536);
    case 'udmabufItems': return (v) => {
      const items = arrayOf(name, v);
      for (let i = 0; i < items.length; i++) {
        const it = items[i];
        const at = `${name}[${i}]`;
        if (!isObject(it)) throw invalidArgType(at, 'of type object', it);
        validateInt(it.memfd, `${at}.memfd`, 0, I32_MAX);
        validateInt(it.offset, `${at}.offset`, 0, MAX_SAFE);
        validateInt(it.size, `${at}.size`, 0, MAX_SAFE);
      }
    };
    case 'mode|null': return (v) => {
      if (v === null) return;
      if (!isObject(v) || Array.isArray(v)) throw invalidArgType(name, 'of type object or null', v);
      for (const k of MODE_FIELDS) validateInt(v[k], `${name}.${k}`, 0, MODE_U32.has(k) ? U32_MAX : 0xffff);
      if (typeof v.name !== 'string') throw invalidArgType(`${name}.name`, 'of type string', v.name);
    };
    case 'mapping': return mapping ?? (() => undefined);
    case 'boolean': return (v) => {
      if (typeof v !== 'boolean') throw invalidArgType(name, 'of type boolean', v);
    };
    case 'v4l2BufType': return (v) => { videoBufType(v, name); };
    case 'v4l2Format': return v4l2FormatCheck(name);
    case 'v4l2Buffer': return v4l2BufferCheck(name);
    case 'v4l2Controls': return v4l2ControlsCheck(name, false);
    case 'v4l2ControlValues': return v4l2ControlsCheck(name, true);
  }
}

type Fn = (...args: unknown[]) => unknown;

/** fn behind its checks, as a function of exactly as many parameters (no rest array per call). */
function guard(fn: Fn, checks: readonly Check[]): Fn {
  const [c0, c1, c2, c3, c4, c5, c6, c7, c8] = checks;
  switch (checks.length) {
    case 0: return fn;
    case 1: return (a) => { c0!(a); return fn(a); };
    case 2: return (a, b) => { c0!(a); c1!(b); return fn(a, b); };
    case 3: return (a, b, c) => { c0!(a); c1!(b); c2!(c); return fn(a, b, c); };
    case 4: return (a, b, c, d) => { c0!(a); c1!(b); c2!(c); c3!(d); return fn(a, b, c, d); };
    case 5: return (a, b, c, d, e) => { c0!(a); c1!(b); c2!(c); c3!(d); c4!(e); return fn(a, b, c, d, e); };
    case 7: return (a, b, c, d, e, f, g) => {
      c0!(a); c1!(b); c2!(c); c3!(d); c4!(e); c5!(f); c6!(g);
      return fn(a, b, c, d, e, f, g);
    };
    case 8: return (a, b, c, d, e, f, g, h) => {
      c0!(a); c1!(b); c2!(c); c3!(d); c4!(e); c5!(f); c6!(g); c7!(h);
      return fn(a, b, c, d, e, f, g, h);
    };
    case 9: return (a, b, c, d, e, f, g, h, i) => {
      c0!(a); c1!(b); c2!(c); c3!(d); c4!(e); c5!(f); c6!(g); c7!(h); c8!(i);
      return fn(a, b, c, d, e, f, g, h, i);
    };
    default: throw new Error(`withArgChecks: no guard for ${checks.length} arguments`);
  }
}

/** The checks of one argument list (optional arguments accept undefined). */
export function compileChecks(spec: readonly ArgSpec[], mapping?: Check): Check[] {
  return spec.map((a) => {
    const check = compile(a, mapping);
    return a.optional ? (v: unknown) => { if (v !== undefined) check(v); } : check;
  });
}

/**
 * A copy of impl (every own property kept: name, pageSize, test hooks) whose Backend methods check
 * their arguments against ARG_SPEC first. `mapping` is the backend's own check of a MapHandle.
 */
export function withArgChecks<T extends Omit<Backend, 'unchecked'>>(impl: T, mapping: Check): T & Pick<Backend, 'unchecked'> {
  const out = { ...impl, unchecked: impl } as Record<string, unknown>;
  for (const method of BACKEND_METHODS) {
    const fn = impl[method] as unknown as Fn;
    if (typeof fn !== 'function') throw new Error(`withArgChecks: the backend has no ${method}()`);
    out[method] = guard(fn, compileChecks(ARG_SPEC[method], mapping));
  }
  return out as T & Pick<Backend, 'unchecked'>;
}
