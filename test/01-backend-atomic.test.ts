/**
 * Backend contract, atomic KMS on vkms: the objects and property definitions each kernel version has,
 * the property ioctls' errno, every refusal test/tools/kms-dump.ts recorded in the VM (Debian's 6.12
 * and 7.2), a modeset with an out-fence and a flip event and the state it leaves, legacy and atomic
 * calls on one state, vkms's writeback of a composed primary + overlays + cursor picture compared
 * pixel by pixel with vkms's blending formula, and a sw_sync IN_FENCE_FD holding a non-blocking
 * commit. Raw Backend calls; on the mock once per modelled kernel (6.12 and 7.2, the `kernel`
 * option), on the native backend for the running kernel (in the VM: vkms and sw_sync).
 *
 * Each test starts from everything off (planes, connectors, CRTC, properties at their defaults) and
 * puts it back after, so the kernel's vkms is left as a fresh one for the files after this one.
 */
import assert from 'node:assert/strict';
import * as os from 'node:os';
import { getBackend, setBackend } from '../src/index';
import {
  DRM_CLIENT_CAP_ATOMIC, DRM_CLIENT_CAP_UNIVERSAL_PLANES, DRM_CLIENT_CAP_WRITEBACK_CONNECTORS, DRM_CLOEXEC,
  DRM_MODE_ATOMIC_ALLOW_MODESET, DRM_MODE_ATOMIC_NONBLOCK, DRM_MODE_ATOMIC_TEST_ONLY, DRM_MODE_OBJECT_ANY,
  DRM_MODE_OBJECT_CONNECTOR, DRM_MODE_OBJECT_CRTC, DRM_MODE_OBJECT_PLANE, DRM_MODE_PAGE_FLIP_EVENT, DRM_MODE_PROP_BLOB,
  MAP_SHARED, O_RDWR, POLLIN, PROT_READ, PROT_WRITE,
} from '../src/constants';
import { fourccValue } from '../src/formats';
import type { Backend, KmsModeInfo, KmsProperty } from '../src/backend/types';
import { createMockBackend } from '../src/backend/mock';
import { failsWhilePending, kernelVersion, needsDriver, throwsErrno } from './support/index';
import { useBackend, VM_DRIVERS, type BackendTest } from './support/backend';

const T = DRM_MODE_ATOMIC_TEST_ONLY;
const M = DRM_MODE_ATOMIC_ALLOW_MODESET;
const NB = DRM_MODE_ATOMIC_NONBLOCK;
const EV = DRM_MODE_PAGE_FLIP_EVENT;
const ATOMIC = { syscall: 'ioctl(DRM_IOCTL_MODE_ATOMIC)' };
const XR24 = fourccValue('XR24');
const AR24 = fourccValue('AR24');
const U64 = (1n << 64n) - 1n;
const WRITEBACK = 18;

// ---- what the VM's kernels report (test/tools/kms-dump.ts) -------------------------------------------------

const RANGE = 2, IMM = 4, ENUM = 8, BLOB = 16, BITMASK = 32, OBJECT = 64, SRANGE = 128, ATOM = 0x80000000;
/** name, flags, values, enum names (a bitmask's entries: bit numbers 0, 1, ...) */
type Def = [string, number, (number | bigint)[], string[]];
const OBJ_CRTC = 0xcccccccc, OBJ_FB = 0xfbfbfbfb;
const I32_MIN = -(2 ** 31), I32_MAX = 2 ** 31 - 1;
const CRTC_DEFS: Def[] = [
  ['ACTIVE', ATOM | RANGE, [0, 1], []], ['MODE_ID', ATOM | BLOB, [], []], ['OUT_FENCE_PTR', ATOM | RANGE, [0, U64], []],
  ['VRR_ENABLED', RANGE, [0, 1], []], ['GAMMA_LUT', BLOB, [], []], ['GAMMA_LUT_SIZE', IMM | RANGE, [0, 0xffffffff], []],
];
const BACKGROUND: Def = ['BACKGROUND_COLOR', RANGE, [0, U64], []];
const CONNECTOR_DEFS: Def[] = [
  ['DPMS', ENUM, [0, 1, 2, 3], ['On', 'Standby', 'Suspend', 'Off']], ['link-status', ENUM, [0, 1], ['Good', 'Bad']],
  ['non-desktop', IMM | RANGE, [0, 1], []], ['TILE', IMM | BLOB, [], []], ['CRTC_ID', ATOM | OBJECT, [OBJ_CRTC], []],
];
const WRITEBACK_DEFS: Def[] = [
  ['WRITEBACK_OUT_FENCE_PTR', ATOM | RANGE, [0, U64], []], ['WRITEBACK_FB_ID', ATOM | OBJECT, [OBJ_FB], []],
  ['WRITEBACK_PIXEL_FORMATS', ATOM | IMM | BLOB, [], []],
];
const PLANE_DEFS: Def[] = [
  ['type', IMM | ENUM, [0, 1, 2], ['Overlay', 'Primary', 'Cursor']], ['FB_ID', ATOM | OBJECT, [OBJ_FB], []],
  ['IN_FENCE_FD', ATOM | SRANGE, [-1, I32_MAX], []], ['CRTC_ID', ATOM | OBJECT, [OBJ_CRTC], []],
  ['CRTC_X', ATOM | SRANGE, [I32_MIN, I32_MAX], []], ['CRTC_Y', ATOM | SRANGE, [I32_MIN, I32_MAX], []],
  ['CRTC_W', ATOM | RANGE, [0, I32_MAX], []], ['CRTC_H', ATOM | RANGE, [0, I32_MAX], []],
  ['SRC_X', ATOM | RANGE, [0, 0xffffffff], []], ['SRC_Y', ATOM | RANGE, [0, 0xffffffff], []],
  ['SRC_W', ATOM | RANGE, [0, 0xffffffff], []], ['SRC_H', ATOM | RANGE, [0, 0xffffffff], []],
  ['IN_FORMATS', IMM | BLOB, [], []],
  ['rotation', BITMASK, [0, 1, 2, 3, 4, 5], ['rotate-0', 'rotate-90', 'rotate-180', 'rotate-270', 'reflect-x', 'reflect-y']],
];
const COLOR_DEFS: Def[] = [
  ['COLOR_ENCODING', ENUM, [0, 1, 2], ['ITU-R BT.601 YCbCr', 'ITU-R BT.709 YCbCr', 'ITU-R BT.2020 YCbCr']],
  ['COLOR_RANGE', ENUM, [0, 1], ['YCbCr limited range', 'YCbCr full range']],
];
/** Plane formats (GETPLANE and IN_FORMATS) and writeback formats. */
const FORMATS_6_12 = ['AR24', 'XR24', 'XR48', 'AR48', 'RG16'];
const FORMATS_7_2 = ['AR24', 'AB24', 'BA24', 'RA24', 'XR24', 'XB24', 'RG24', 'BG24', 'XR48', 'XB48', 'AR48', 'AB48', 'RG16',
  'BG16', 'NV12', 'NV16', 'NV24', 'NV21', 'NV61', 'NV42', 'YU12', 'YU16', 'YU24', 'YV12', 'YV16', 'YV24', 'P010', 'P012',
  'P016', 'R1  ', 'R2  ', 'R4  ', 'R8  '];
const WB_FORMATS_6_12 = ['AR24', 'XR24', 'XR48', 'AR48', 'RG16'];
const WB_FORMATS_7_2 = ['AR24', 'XR24', 'AB24', 'XR48', 'AR48', 'RG16'];
/** The refusals of kms-dump.ts (the same on both kernels but for the writeback connector's clones). */
const REFUSALS: Record<string, string> = {
  emptyTestOnly: 'ok', badFlags: 'EINVAL', testOnlyWithEvent: 'EINVAL', unknownObject: 'ENOENT', unknownProperty: 'ENOENT',
  propertyOfAnotherObject: 'ENOENT', immutable: 'EINVAL', rangeTooBig: 'EINVAL', modesetWithoutAllow: 'EINVAL',
  modesetTestOnly: 'ok', activeWithoutMode: 'EINVAL', planeCrtcOff: 'ok', scaling: 'ERANGE', srcPastFb: 'ENOSPC',
  fbWithoutCrtc: 'EINVAL', overlayOffScreen: 'ok', overlayNegative: 'ok', primarySmall: 'ok', badFb: 'EINVAL',
  badInFence: 'EINVAL', outFenceTestOnly: 'ok', badModeBlob: 'EINVAL', writebackWrongSize: 'EINVAL', writebackNoCrtc: 'EINVAL',
};

// ---- helpers ----------------------------------------------------------------------------------------------

/** One property to set: object, property id, value. */
type Set = [number, number, bigint];

const errnoOf = (fn: () => unknown): string => {
  try {
    fn();
    return 'ok';
  } catch (e) {
    return (e as { code?: string }).code ?? String(e);
  }
};

/** struct drm_mode_modeinfo, for a MODE_ID blob. */
function modeBytes(m: KmsModeInfo): Uint8Array {
  const out = Buffer.alloc(68);
  out.writeUInt32LE(m.clock, 0);
  [m.hdisplay, m.hsyncStart, m.hsyncEnd, m.htotal, m.hskew, m.vdisplay, m.vsyncStart, m.vsyncEnd, m.vtotal, m.vscan]
    .forEach((v, i) => out.writeUInt16LE(v, 4 + 2 * i));
  out.writeUInt32LE(m.vrefresh, 24);
  out.writeUInt32LE(m.flags, 28);
  out.writeUInt32LE(m.type, 32);
  out.write(m.name, 36, 'latin1');
  return out;
}

/**
 * A w×h source as a plane shows it with a rotation (DRM_MODE_ROTATE_* | DRM_MODE_REFLECT_*), placed
 * forward as drm_rect_rotate moves rectangles: reflections first, then the counter-clockwise turn.
 */
function rotated(w: number, h: number, rotation: number, px: (x: number, y: number) => number): { w: number; h: number; px: (x: number, y: number) => number } {
  const turn = rotation & 0xf;
  const W = turn === 2 || turn === 8 ? h : w, H = turn === 2 || turn === 8 ? w : h;
  const out = new Uint32Array(W * H);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const rx = rotation & 0x10 ? w - 1 - x : x, ry = rotation & 0x20 ? h - 1 - y : y;
      const [dx, dy] = turn === 2 ? [ry, w - 1 - rx] : turn === 4 ? [w - 1 - rx, h - 1 - ry] : turn === 8 ? [h - 1 - ry, rx] : [rx, ry];
      out[dy * W + dx] = px(x, y);
    }
  }
  return { w: W, h: H, px: (x, y) => out[y * W + x]! };
}

/** Bytes as hex, to compare whatever Uint8Array kind a backend returns. */
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

const fourccs = (bytes: Uint8Array, at: number, n: number): string[] =>
  Array.from({ length: n }, (_, i) => Buffer.from(bytes.subarray(at + 4 * i, at + 4 * i + 4)).toString('latin1'));

/** The device as an atomic client with writeback connectors sees it. */
class Vkms {
  readonly b: Backend;
  readonly crtc: number;
  readonly planes: number[];
  readonly virtual: number;
  readonly wb: number;
  readonly encoders: number[];
  readonly defs = new Map<number, KmsProperty>();

  constructor(readonly t: BackendTest, readonly fd: number) {
    this.b = t.b;
    this.b.drmSetClientCap(fd, DRM_CLIENT_CAP_UNIVERSAL_PLANES, 1);
    this.b.drmSetClientCap(fd, DRM_CLIENT_CAP_ATOMIC, 1);
    this.b.drmSetClientCap(fd, DRM_CLIENT_CAP_WRITEBACK_CONNECTORS, 1);
    const res = this.b.kmsGetResources(fd);
    this.crtc = res.crtcs[0]!;
    this.encoders = res.encoders;
    const types = res.connectors.map((id) => this.b.kmsGetConnector(fd, id).type);
    this.virtual = res.connectors[types.findIndex((x) => x !== WRITEBACK)]!;
    this.wb = res.connectors[types.indexOf(WRITEBACK)]!;
    this.planes = this.b.kmsGetPlaneResources(fd);
  }

  /** name → [id, value] of an object's properties. */
  props(obj: number, type = DRM_MODE_OBJECT_ANY): Map<string, [number, bigint]> {
    const p = this.b.kmsGetProperties(this.fd, obj, type);
    const out = new Map<string, [number, bigint]>();
    p.ids.forEach((id, i) => {
      if (!this.defs.has(id)) this.defs.set(id, this.b.kmsGetProperty(this.fd, id));
      out.set(this.defs.get(id)!.name, [id, p.values[i]!]);
    });
    return out;
  }

  id(obj: number, name: string): number {
    const p = this.props(obj).get(name);
    if (p === undefined) throw new Error(`no ${name} on ${obj}`);
    return p[0];
  }

  value(obj: number, name: string): bigint {
    return this.props(obj).get(name)![1];
  }

  /** One ATOMIC ioctl; `fences` are indexes into req of fence pointers. Returns the fence fds (kept). */
  commit(flags: number, req: Set[], fences: number[] = [], userData = 0): number[] {
    const objs: number[] = [], counts: number[] = [], ps: number[] = [], vs: bigint[] = [];
    for (const [o, p, v] of req) {
      if (objs[objs.length - 1] !== o) { objs.push(o); counts.push(0); }
      counts[counts.length - 1]!++;
      ps.push(p);
      vs.push(v);
    }
    return this.b.kmsAtomic(this.fd, flags, objs, counts, ps, vs, userData, fences).map((f) => (f >= 0 ? this.t.keep(f) : f));
  }

  /** A commit with OUT_FENCE_PTR (CRTC) and WRITEBACK_OUT_FENCE_PTR (when asked) appended. */
  fenced(flags: number, req: Set[], wbFence: boolean, userData = 0): { out: number; wb: number } {
    const all: Set[] = [...req, [this.crtc, this.id(this.crtc, 'OUT_FENCE_PTR'), 0n]];
    if (wbFence) all.push([this.wb, this.id(this.wb, 'WRITEBACK_OUT_FENCE_PTR'), 0n]);
    const f = this.commit(flags, all, all.map((_, i) => i).slice(req.length), userData);
    return { out: f[0]!, wb: wbFence ? f[1]! : -1 };
  }

  plane(p: number, fb: number, w: number, h: number, x = 0, y = 0, sw = w, sh = h): Set[] {
    const P = (n: string): number => this.id(p, n);
    return [[p, P('FB_ID'), BigInt(fb)], [p, P('CRTC_ID'), BigInt(this.crtc)], [p, P('SRC_X'), 0n], [p, P('SRC_Y'), 0n],
      [p, P('SRC_W'), BigInt(sw) << 16n], [p, P('SRC_H'), BigInt(sh) << 16n],
      [p, P('CRTC_X'), BigInt.asUintN(64, BigInt(x))], [p, P('CRTC_Y'), BigInt.asUintN(64, BigInt(y))],
      [p, P('CRTC_W'), BigInt(w)], [p, P('CRTC_H'), BigInt(h)]];
  }

  /** Everything off, every property this file sets back at its default: a fresh vkms's state. */
  reset(): void {
    const req: Set[] = [];
    for (const p of this.planes) {
      const P = (n: string): number => this.id(p, n);
      for (const n of ['FB_ID', 'CRTC_ID', 'CRTC_X', 'CRTC_Y', 'CRTC_W', 'CRTC_H', 'SRC_X', 'SRC_Y', 'SRC_W', 'SRC_H']) {
        req.push([p, P(n), 0n]);
      }
      req.push([p, P('rotation'), 1n]);
    }
    req.push([this.crtc, this.id(this.crtc, 'ACTIVE'), 0n], [this.crtc, this.id(this.crtc, 'MODE_ID'), 0n],
      [this.crtc, this.id(this.crtc, 'GAMMA_LUT'), 0n]);
    const bg = this.props(this.crtc).get('BACKGROUND_COLOR');
    if (bg !== undefined) req.push([this.crtc, bg[0], 0xffffn << 48n]); // opaque black
    for (const c of [this.virtual, this.wb]) req.push([c, this.id(c, 'CRTC_ID'), 0n]);
    this.commit(M, req.sort((a, z) => a[0] - z[0]));
  }

  mode(name = ''): KmsModeInfo {
    const modes = this.b.kmsGetConnector(this.fd, this.virtual).modes;
    return modes.find((m) => m.name === name) ?? modes.find((m) => (m.type & 8) !== 0) ?? modes[0]!;
  }

  /** The CRTC on `mode`, on the Virtual connector and/or the writeback one. */
  modeset(blob: number, virtual: boolean, wb: boolean): Set[] {
    const req: Set[] = [[this.crtc, this.id(this.crtc, 'MODE_ID'), BigInt(blob)], [this.crtc, this.id(this.crtc, 'ACTIVE'), 1n]];
    req.push([this.virtual, this.id(this.virtual, 'CRTC_ID'), virtual ? BigInt(this.crtc) : 0n]);
    req.push([this.wb, this.id(this.wb, 'CRTC_ID'), wb ? BigInt(this.crtc) : 0n]);
    return req;
  }

  blob(data: Uint8Array): number {
    const id = this.b.kmsCreateBlob(this.fd, data);
    this.t.defer(() => { try { this.b.kmsDestroyBlob(this.fd, id); } catch { /* gone with a state */ } });
    return id;
  }
}

/** A dumb buffer with a framebuffer on it, mapped read-write. */
interface Buf {
  fb: number;
  width: number;
  height: number;
  pitch: number;
  bytes: Uint8Array;
}

function dumbFb(v: Vkms, width: number, height: number, format: number): Buf {
  const { b, fd } = v;
  const d = b.drmCreateDumb(fd, width, height, 32, 0);
  const map = v.t.keepMap(b.mmap(fd, d.size, PROT_READ | PROT_WRITE, MAP_SHARED, b.drmMapDumb(fd, d.handle)));
  const fb = b.kmsAddFb2(fd, width, height, format, [d.handle], [d.pitch], [0], [], 0);
  v.t.defer(() => { try { b.kmsRmFb(fd, fb); } catch { /* removed by the test */ } });
  return { fb, width, height, pitch: d.pitch, bytes: new Uint8Array(b.mapBuffer(map)) };
}

function fill(buf: Buf, px: (x: number, y: number) => number): void {
  const v = new DataView(buf.bytes.buffer, buf.bytes.byteOffset, buf.bytes.byteLength);
  for (let y = 0; y < buf.height; y++) for (let x = 0; x < buf.width; x++) v.setUint32(y * buf.pitch + x * 4, px(x, y) >>> 0, true);
}

function pixelAt(buf: Buf, x: number, y: number): number {
  return new DataView(buf.bytes.buffer, buf.bytes.byteOffset).getUint32(y * buf.pitch + x * 4, true);
}

async function readable(b: Backend, fd: number, ms = 5000): Promise<boolean> {
  return ((await b.pollAsync(fd, POLLIN, ms)) & POLLIN) !== 0;
}

// ---- vkms's picture, computed independently: 16 bits per channel, premultiplied blending -------------------

/** One layer of the expected picture: ARGB8888 (or XRGB8888: alpha forced) pixels at a CRTC position. */
interface Layer { x: number; y: number; w: number; h: number; px: (x: number, y: number) => number; alpha: boolean }

/** The picture vkms composes of the layers, over a background of 16-bit channels (default black). */
function expectedPicture(W: number, H: number, layers: Layer[], bg: [number, number, number] = [0, 0, 0]): Uint32Array {
  const out = new Uint32Array(W * H);
  const r16 = new Uint16Array(W * H).fill(bg[0]), g16 = new Uint16Array(W * H).fill(bg[1]), b16 = new Uint16Array(W * H).fill(bg[2]);
  const blend = (s: number, d: number, a: number): number =>
    Math.floor((((s * 65535 + d * (65535 - a)) % 2 ** 32) + 32767) % 2 ** 32 / 65535) & 0xffff;
  for (const l of layers) {
    for (let y = Math.max(l.y, 0); y < Math.min(l.y + l.h, H); y++) {
      for (let x = Math.max(l.x, 0); x < Math.min(l.x + l.w, W); x++) {
        const p = l.px(x - l.x, y - l.y) >>> 0;
        const a = l.alpha ? (p >>> 24) * 257 : 0xffff;
        const k = y * W + x;
        r16[k] = blend(((p >>> 16) & 0xff) * 257, r16[k]!, a);
        g16[k] = blend(((p >>> 8) & 0xff) * 257, g16[k]!, a);
        b16[k] = blend((p & 0xff) * 257, b16[k]!, a);
      }
    }
  }
  const n8 = (v: number): number => Math.floor((v + 128) / 257);
  for (let k = 0; k < W * H; k++) out[k] = (0xff000000 | (n8(r16[k]!) << 16) | (n8(g16[k]!) << 8) | n8(b16[k]!)) >>> 0;
  return out;
}

function comparePicture(wb: Buf, want: Uint32Array, what: string): void {
  let bad = 0;
  let first = '';
  for (let y = 0; y < wb.height; y++) {
    for (let x = 0; x < wb.width; x++) {
      const got = pixelAt(wb, x, y), exp = want[y * wb.width + x]!;
      if (got !== exp) {
        if (bad === 0) first = `(${x}, ${y}): 0x${got.toString(16)} instead of 0x${exp.toString(16)}`;
        bad++;
      }
    }
  }
  assert.equal(bad, 0, `${what}: ${bad} pixels differ, the first at ${first}`);
}

// ---- the tests ------------------------------------------------------------------------------------------------

const onMock = getBackend().name === 'mock';
/** The kernels to run on: the mock models 6.12 and 7.2; the native backend is the running kernel. */
const KERNELS = onMock ? ['6.12.117-mock', '7.2.13-mock'] : [os.release()];

for (const kernel of KERNELS) {
  describe(`backend: atomic KMS on vkms (${onMock ? `mock of Linux ${kernel.replace('-mock', '')}` : `Linux ${kernel}`})`, function () {
    const t = useBackend();
    before(function () {
      if (t.isMock) setBackend(createMockBackend({ drm: [...VM_DRIVERS], kernel }));
    });
    /** 7.2's vkms (the mock's model of every kernel from 6.13) */
    const v7 = (): boolean => kernelVersion() >= 6013;

    /** The card as an atomic client (a file opened before, or a new one: the DRM master), all off. */
    function vkms(ctx: Mocha.Context, fd = t.open(needsDriver(ctx, 'vkms').path, O_RDWR)): Vkms {
      const v = new Vkms(t, fd);
      v.reset();
      t.defer(() => { try { v.reset(); } catch { /* the file may be closed */ } });
      return v;
    }

    it('objects: a writeback connector only with its cap (which needs ATOMIC), encoders and clones as the kernel has them', function () {
      const { b } = t;
      const fd = t.open(needsDriver(this, 'vkms').path, O_RDWR);
      const plain = b.kmsGetResources(fd);
      assert.equal(plain.crtcs.length, 1);
      assert.equal(plain.connectors.length, 1, 'no writeback connector without the cap');
      assert.equal(b.kmsGetConnector(fd, plain.connectors[0]!).type, 15);
      assert.equal(plain.encoders.length, 2, 'both encoders are listed');
      throwsErrno(() => b.drmSetClientCap(fd, DRM_CLIENT_CAP_WRITEBACK_CONNECTORS, 1), 'EINVAL');
      throwsErrno(() => b.kmsAtomic(fd, T, [], [], [], [], 0, []), 'EINVAL', ATOMIC); // atomicWithoutCap
      const v = vkms(this, fd);
      const res = b.kmsGetResources(v.fd);
      assert.deepEqual([res.minWidth, res.maxWidth, res.minHeight, res.maxHeight], [10, 8192, 10, 8192]);
      const conns = res.connectors.map((id) => b.kmsGetConnector(v.fd, id));
      // 6.12 creates the Virtual connector first, 7.2 the writeback one
      assert.deepEqual(conns.map((c) => c.type), v7() ? [WRITEBACK, 15] : [15, WRITEBACK]);
      const wb = conns.find((c) => c.type === WRITEBACK)!;
      assert.equal(wb.typeId, 1);
      assert.equal(wb.connection, 1);
      for (const c of conns) assert.equal(c.encoders.length, 1);
      const encs = res.encoders.map((id) => b.kmsGetEncoder(v.fd, id));
      assert.deepEqual(encs.map((e) => [e.type, e.possibleCrtcs, e.crtcId]), [[5, 1, 0], [5, 1, 0]]);
      assert.deepEqual(encs.map((e) => e.possibleClones), v7() ? [3, 3] : [1, 2]);
      assert.deepEqual(res.encoders, conns.map((c) => c.encoders[0]), 'encoders in the order of their connectors');
      throwsErrno(() => b.kmsGetEncoder(v.fd, 0xfffff), 'ENOENT', { syscall: 'ioctl(DRM_IOCTL_MODE_GETENCODER)' });
      assert.equal(v.planes.length, 10);
      assert.deepEqual(v.planes.map((p) => v.value(p, 'type')), [1n, ...Array(8).fill(0n), 2n], 'primary, 8 overlays, cursor');
      assert.deepEqual([...v.planes].sort((a, z) => a - z), v.planes);
    });

    it('property definitions and defaults of the CRTC, the connectors and the planes; IN_FORMATS and WRITEBACK_PIXEL_FORMATS', function () {
      const v = vkms(this);
      const { b } = t;
      const check = (obj: number, defs: Def[], what: string): Map<string, [number, bigint]> => {
        const props = v.props(obj);
        assert.deepEqual([...props.keys()], defs.map((d) => d[0]), `${what}: the properties, in order`);
        for (const [name, flags, values, enums] of defs) {
          const p = v.defs.get(props.get(name)![0])!;
          assert.equal(p.flags, flags >>> 0, `${what} ${name}: flags`);
          assert.deepEqual(p.values, values.map((x) => BigInt.asUintN(64, BigInt(x))), `${what} ${name}: values`);
          assert.deepEqual(p.enums.map((e) => e.name), enums, `${what} ${name}: enum entries`);
          assert.deepEqual(p.enums.map((e) => e.value), enums.map((_, i) => BigInt(i)), `${what} ${name}: enum values`);
        }
        return props;
      };
      const crtc = check(v.crtc, [...CRTC_DEFS, ...(v7() ? [BACKGROUND] : [])], 'CRTC');
      assert.deepEqual([...crtc.values()].map((x) => x[1]), [0n, 0n, 0n, 0n, 0n, 256n, ...(v7() ? [0xffffn << 48n] : [])]);
      const virt = check(v.virtual, CONNECTOR_DEFS, 'Virtual');
      assert.deepEqual(['link-status', 'non-desktop', 'TILE', 'CRTC_ID'].map((n) => virt.get(n)![1]), [0n, 0n, 0n, 0n]);
      const wb = check(v.wb, [...CONNECTOR_DEFS, ...WRITEBACK_DEFS], 'Writeback');
      assert.equal(wb.get('WRITEBACK_FB_ID')![1], 0n);
      const wbFormats = b.kmsGetBlob(v.fd, Number(wb.get('WRITEBACK_PIXEL_FORMATS')![1]));
      assert.deepEqual(fourccs(wbFormats, 0, wbFormats.length / 4), v7() ? WB_FORMATS_7_2 : WB_FORMATS_6_12);
      const formats = v7() ? FORMATS_7_2 : FORMATS_6_12;
      const inFormats = new Set<bigint>();
      for (const p of v.planes) {
        const props = check(p, [...PLANE_DEFS, ...(v7() ? COLOR_DEFS : [])], `plane ${p}`);
        const vals = Object.fromEntries([...props].map(([n, [, x]]) => [n, x]));
        for (const n of ['FB_ID', 'CRTC_ID', 'CRTC_X', 'CRTC_Y', 'CRTC_W', 'CRTC_H', 'SRC_X', 'SRC_Y', 'SRC_W', 'SRC_H']) {
          assert.equal(vals[n], 0n, `plane ${p} ${n}`);
        }
        assert.equal(vals.IN_FENCE_FD, U64, 'IN_FENCE_FD reads -1');
        assert.equal(vals.rotation, 1n, 'rotate-0');
        if (v7()) assert.deepEqual([vals.COLOR_ENCODING, vals.COLOR_RANGE], [0n, 1n], 'BT.601, full range');
        assert.deepEqual(b.kmsGetPlane(v.fd, p).formats, formats.map(fourccValue));
        // struct drm_format_modifier_blob: version 1, the formats, one modifier (linear) for all of them
        const blob = b.kmsGetBlob(v.fd, Number(vals.IN_FORMATS));
        inFormats.add(vals.IN_FORMATS!);
        const dv = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
        const [version, , count, fmtOffset, mods, modOffset] = [0, 4, 8, 12, 16, 20].map((o) => dv.getUint32(o, true));
        assert.deepEqual([version, count, fmtOffset, mods, modOffset], [1, formats.length, 24, 1, Math.ceil((24 + 4 * count!) / 8) * 8]);
        assert.deepEqual(fourccs(blob, 24, count!), formats);
        assert.equal(dv.getBigUint64(modOffset!, true), (1n << BigInt(count!)) - 1n, 'every format has the modifier');
        assert.deepEqual([dv.getUint32(modOffset! + 8, true), dv.getBigUint64(modOffset! + 16, true)], [0, 0n], 'offset 0, linear');
        assert.equal(blob.length, modOffset! + 24);
      }
      assert.equal(inFormats.size, 10, 'each plane has its own IN_FORMATS blob');
      // a client without ATOMIC sees the properties without DRM_MODE_PROP_ATOMIC only
      const plain = t.open(needsDriver(this, 'vkms').path, O_RDWR);
      const names = (obj: number): string[] => b.kmsGetProperties(plain, obj, DRM_MODE_OBJECT_ANY).ids
        .map((id) => b.kmsGetProperty(plain, id).name);
      assert.deepEqual(names(v.crtc), ['VRR_ENABLED', 'GAMMA_LUT', 'GAMMA_LUT_SIZE', ...(v7() ? ['BACKGROUND_COLOR'] : [])]);
      assert.deepEqual(names(v.virtual), ['DPMS', 'link-status', 'non-desktop', 'TILE']);
      assert.deepEqual(names(v.planes[0]!), ['type', 'IN_FORMATS', 'rotation', ...(v7() ? ['COLOR_ENCODING', 'COLOR_RANGE'] : [])]);
    });

    it('property ioctls: unknown or wrong-type ids ENOENT, objects without properties EINVAL, blobs owned by their file', function () {
      const v = vkms(this);
      const { b } = t;
      const fd = v.fd;
      const GETPROPS = { syscall: 'ioctl(DRM_IOCTL_MODE_OBJ_GETPROPERTIES)' };
      throwsErrno(() => b.kmsGetProperties(fd, 0xfffff, DRM_MODE_OBJECT_ANY), 'ENOENT', GETPROPS);
      throwsErrno(() => b.kmsGetProperties(fd, v.crtc, DRM_MODE_OBJECT_PLANE), 'ENOENT', GETPROPS);
      throwsErrno(() => b.kmsGetProperties(fd, v.planes[0]!, DRM_MODE_OBJECT_CONNECTOR), 'ENOENT', GETPROPS);
      assert.ok(b.kmsGetProperties(fd, v.crtc, DRM_MODE_OBJECT_CRTC).ids.length >= 6);
      throwsErrno(() => b.kmsGetProperties(fd, v.encoders[0]!, DRM_MODE_OBJECT_ANY), 'EINVAL', GETPROPS);
      throwsErrno(() => b.kmsGetProperty(fd, 0xfffff), 'ENOENT', { syscall: 'ioctl(DRM_IOCTL_MODE_GETPROPERTY)' });
      throwsErrno(() => b.kmsGetBlob(fd, 0xfffff), 'ENOENT', { syscall: 'ioctl(DRM_IOCTL_MODE_GETPROPBLOB)' });
      throwsErrno(() => b.kmsCreateBlob(fd, new Uint8Array(0)), 'EINVAL', { syscall: 'ioctl(DRM_IOCTL_MODE_CREATEPROPBLOB)' });
      const DESTROY = { syscall: 'ioctl(DRM_IOCTL_MODE_DESTROYPROPBLOB)' };
      throwsErrno(() => b.kmsDestroyBlob(fd, 0xfffff), 'ENOENT', DESTROY);
      throwsErrno(() => b.kmsDestroyBlob(fd, Number(v.value(v.planes[0]!, 'IN_FORMATS'))), 'EPERM', DESTROY); // the kernel's
      const data = Uint8Array.from([1, 2, 3, 4, 5]);
      const mine = b.kmsCreateBlob(fd, data);
      assert.equal(hex(b.kmsGetBlob(fd, mine)), hex(data));
      const other = t.open(needsDriver(this, 'vkms').path, O_RDWR);
      assert.equal(hex(b.kmsGetBlob(other, mine)), hex(data), 'any file reads a blob');
      throwsErrno(() => b.kmsDestroyBlob(other, mine), 'EPERM', DESTROY); // only its file destroys it
      b.kmsDestroyBlob(fd, mine);
      throwsErrno(() => b.kmsGetBlob(fd, mine), 'ENOENT');
      throwsErrno(() => b.kmsDestroyBlob(fd, mine), 'ENOENT', DESTROY);
      // a file's blobs go when it closes
      const theirs = b.kmsCreateBlob(other, data);
      t.close(other);
      throwsErrno(() => b.kmsGetBlob(fd, theirs), 'ENOENT');
    });

    it('every refusal of the dump gives the kernel\'s errno (test/tools/kms-dump.ts\'s requests)', function () {
      const v = vkms(this);
      const { b } = t;
      const { crtc } = v;
      const primary = v.planes[0]!, overlay = v.planes[1]!;
      const mode = v.mode();
      const W = mode.hdisplay, H = mode.vdisplay;
      const blob = v.blob(modeBytes(mode));
      const fb = dumbFb(v, W, H, XR24).fb;
      const small = dumbFb(v, 64, 64, XR24).fb;
      const C = (n: string): number => v.id(crtc, n);
      const N = (n: string, c = v.virtual): number => v.id(c, n);
      const P = (n: string, p = primary): number => v.id(p, n);
      const sorted = (r: Set[]): Set[] => [...r].sort((a, z) => a[0] - z[0]);
      const modeset: Set[] = [[crtc, C('MODE_ID'), BigInt(blob)], [crtc, C('ACTIVE'), 1n], [v.virtual, N('CRTC_ID'), BigInt(crtc)]];
      const full = sorted([...v.plane(primary, fb, W, H), ...modeset]);
      const got: Record<string, string> = {};
      const req = (flags: number, r: Set[]): string => errnoOf(() => v.commit(flags, r));
      got.emptyTestOnly = req(T, []);
      got.badFlags = req(T | 0x8000, []);
      got.testOnlyWithEvent = req(T | EV, []);
      got.unknownObject = req(T, [[999999, C('ACTIVE'), 1n]]);
      got.unknownProperty = req(T, [[crtc, 999999, 1n]]);
      got.propertyOfAnotherObject = req(T, [[crtc, P('FB_ID'), 0n]]);
      got.immutable = req(T, [[primary, P('type'), 1n]]);
      got.rangeTooBig = req(T, [[crtc, C('ACTIVE'), 2n]]);
      got.modesetWithoutAllow = req(T, full);
      got.modesetTestOnly = req(T | M, full);
      got.activeWithoutMode = req(T | M, [[crtc, C('ACTIVE'), 1n]]);
      got.planeCrtcOff = req(T | M, sorted(v.plane(primary, fb, W, H)));
      got.scaling = req(T | M, sorted([...full, ...v.plane(overlay, small, 128, 128, 10, 10, 64, 64)]));
      got.srcPastFb = req(T | M, sorted([...full, ...v.plane(overlay, small, 128, 128, 10, 10, 128, 128)]));
      got.fbWithoutCrtc = req(T | M, sorted([...modeset, [primary, P('FB_ID'), BigInt(fb)]]));
      got.overlayOffScreen = req(T | M, sorted([...full, ...v.plane(overlay, small, 64, 64, W + 10, 10)]));
      got.overlayNegative = req(T | M, sorted([...full, ...v.plane(overlay, small, 64, 64, -10, -10)]));
      got.primarySmall = req(T | M, sorted([...v.plane(primary, small, 64, 64, 10, 10), ...modeset]));
      got.badFb = req(T | M, sorted([...v.plane(primary, 999999, W, H), ...modeset]));
      got.badInFence = req(T | M, sorted([...full, [primary, P('IN_FENCE_FD'), 999n]]));
      got.outFenceTestOnly = req(T | M, sorted([...full, [crtc, C('OUT_FENCE_PTR'), 0n]]));
      got.badModeBlob = req(T | M, sorted([...v.plane(primary, fb, W, H), [crtc, C('MODE_ID'), 999999n], [crtc, C('ACTIVE'), 1n],
        [v.virtual, N('CRTC_ID'), BigInt(crtc)]]));
      const wbOn: Set[] = [[v.wb, N('CRTC_ID', v.wb), BigInt(crtc)]];
      got.writebackModeset = req(T | M, sorted([...full, ...wbOn, [v.wb, N('WRITEBACK_FB_ID', v.wb), BigInt(fb)]]));
      got.writebackWrongSize = req(T | M, sorted([...full, ...wbOn, [v.wb, N('WRITEBACK_FB_ID', v.wb), BigInt(small)]]));
      got.writebackNoCrtc = req(T | M, sorted([...full, [v.wb, N('WRITEBACK_FB_ID', v.wb), BigInt(fb)]]));
      got.writebackFenceWithoutFb = req(T | M, sorted([...full, ...wbOn, [v.wb, N('WRITEBACK_OUT_FENCE_PTR', v.wb), 0n]]));
      // on 6.12 the encoders are no clones: the writeback connector cannot share the CRTC with Virtual-1
      const want = { ...REFUSALS, writebackModeset: v7() ? 'ok' : 'EINVAL', writebackFenceWithoutFb: v7() ? 'ok' : 'EINVAL' };
      assert.deepEqual(got, want);
      // a few more the core gives: DPMS is not atomic, two IN_FENCE_FDs of -1, a rotation of two angles, an
      // unknown bitmask bit, a reflection without an angle, a turned plane (W×H shown H×W), a fence pointer the kernel cannot write, a blob of the wrong size for MODE_ID, a
      // non-blocking event without a CRTC, a writeback fence without framebuffer in a real commit
      const more = {
        dpms: req(T, [[v.virtual, N('DPMS'), 0n]]),
        twoInFences: req(T, [[primary, P('IN_FENCE_FD'), U64], [primary, P('IN_FENCE_FD'), U64]]),
        rotation: req(T | M, sorted([...full, [primary, P('rotation'), 3n]])),
        rotationBits: req(T | M, sorted([...full, [primary, P('rotation'), 0x41n]])),
        reflectionAlone: req(T | M, sorted([...full, [primary, P('rotation'), 0x10n]])),
        rotated: req(T | M, sorted([...v.plane(primary, fb, H, W, 0, 0, W, H), ...modeset, [primary, P('rotation'), 2n]])),
        badPointer: req(T | M, sorted([...full, [crtc, C('OUT_FENCE_PTR'), 8n]])),
        shortModeBlob: req(T | M, [[crtc, C('MODE_ID'), BigInt(v.blob(new Uint8Array(8)))]]),
        eventWithoutCrtc: req(EV | NB, []),
        wbFenceNoFb: (() => {
          const r = sorted([...full, ...wbOn, [v.wb, N('WRITEBACK_FB_ID', v.wb), 0n], [v.wb, N('WRITEBACK_OUT_FENCE_PTR', v.wb), 0n]]);
          return errnoOf(() => v.commit(M, r, [r.findIndex((x) => x[1] === N('WRITEBACK_OUT_FENCE_PTR', v.wb))]));
        })(),
      };
      assert.deepEqual(more, { dpms: 'EINVAL', twoInFences: 'ok', rotation: 'EINVAL', rotationBits: 'EINVAL', reflectionAlone: 'EINVAL',
        rotated: 'ok', badPointer: 'EFAULT',
        shortModeBlob: 'EINVAL', eventWithoutCrtc: 'EINVAL', wbFenceNoFb: 'EINVAL' });
      // TEST_ONLY changed nothing
      assert.equal(v.value(crtc, 'ACTIVE'), 0n);
      assert.equal(v.value(primary, 'FB_ID'), 0n);
      assert.equal(b.kmsGetCrtc(v.fd, crtc).mode, null);
    });

    it('a modeset with OUT_FENCE_PTR and a flip event: the fence signals, the event comes, every ioctl reads the new state', async function () {
      const v = vkms(this);
      const { b } = t;
      const { crtc } = v;
      const primary = v.planes[0]!;
      const mode = v.mode();
      const W = mode.hdisplay, H = mode.vdisplay;
      const blob = v.blob(modeBytes(mode));
      const a = dumbFb(v, W, H, XR24), c = dumbFb(v, W, H, XR24);
      const req = [...v.plane(primary, a.fb, W, H), ...v.modeset(blob, true, false)].sort((x, z) => x[0] - z[0]);
      // TEST_ONLY: no fence, no change
      assert.equal(v.fenced(T | M, req, false).out, -1);
      assert.equal(v.value(crtc, 'ACTIVE'), 0n);
      const { out } = v.fenced(M | EV, req, false, 77);
      assert.ok(out >= 0 && t.isCloexec(out), 'a close-on-exec sync file');
      const info = b.syncFileInfo(out);
      assert.equal(info.status, 1, 'signalled when the blocking commit returns');
      assert.equal(info.fences.length, 1);
      if (kernelVersion() >= 6017) {
        assert.equal(info.name, 'detached-driver-signaled-timeli');
        assert.deepEqual([info.fences[0]!.driverName, info.fences[0]!.objName], ['detached-driver', 'signaled-timeline']);
      } else {
        assert.match(info.name, new RegExp(`^vkms-CRTC:${crtc}-crtc-0\\d+-\\d+$`));
        assert.deepEqual([info.fences[0]!.driverName, info.fences[0]!.objName], ['vkms', `CRTC:${crtc}-crtc-0`]);
      }
      assert.ok(await readable(b, v.fd), 'the flip event');
      const [ev, ...rest] = b.drmReadEvents(v.fd);
      assert.deepEqual(rest, []);
      assert.deepEqual([ev!.type, ev!.length, ev!.userData, ev!.crtcId], [2, 32, 77, crtc]);
      // the state, through every ioctl that reads it
      const got = b.kmsGetCrtc(v.fd, crtc);
      assert.deepEqual([got.fbId, got.x, got.y, got.mode?.name, got.mode?.hdisplay], [a.fb, 0, 0, mode.name, W]);
      assert.deepEqual([b.kmsGetPlane(v.fd, primary).crtcId, b.kmsGetPlane(v.fd, primary).fbId], [crtc, a.fb]);
      const conn = b.kmsGetConnector(v.fd, v.virtual);
      assert.equal(conn.encoderId, conn.encoders[0]);
      assert.equal(b.kmsGetEncoder(v.fd, conn.encoderId).crtcId, crtc);
      const wbEncoder = b.kmsGetConnector(v.fd, v.wb).encoders[0]!;
      assert.equal(b.kmsGetEncoder(v.fd, wbEncoder).crtcId, 0);
      assert.deepEqual([v.value(crtc, 'ACTIVE'), v.value(crtc, 'MODE_ID')], [1n, BigInt(blob)], 'MODE_ID is the blob set');
      assert.equal(hex(b.kmsGetBlob(v.fd, blob)), hex(modeBytes(mode)));
      assert.deepEqual([v.value(v.virtual, 'CRTC_ID'), v.value(v.virtual, 'DPMS')], [BigInt(crtc), 0n], 'on, DPMS On');
      assert.deepEqual(['SRC_W', 'SRC_H', 'CRTC_W', 'CRTC_H'].map((n) => v.value(primary, n)),
        [BigInt(W) << 16n, BigInt(H) << 16n, BigInt(W), BigInt(H)]);
      // non-blocking flips: the state is the commit's at once; a second before the first's vblank is EBUSY
      const fbId = v.id(primary, 'FB_ID');
      await failsWhilePending(b, v.fd, () => v.commit(NB | EV, [[primary, fbId, BigInt(c.fb)]], [], 1),
        () => v.commit(NB | EV, [[primary, fbId, BigInt(a.fb)]], [], 2), [1, 2], 'EBUSY', ATOMIC);
      assert.equal(b.kmsGetPlane(v.fd, primary).fbId, c.fb);
      assert.equal(v.commit(T, [[primary, fbId, BigInt(a.fb)]]).length, 0, 'TEST_ONLY is not held back');
      assert.ok(await readable(b, v.fd));
      const [ev1] = b.drmReadEvents(v.fd);
      assert.deepEqual([ev1!.userData, ev1!.crtcId], [1, crtc]);
      assert.ok(ev1!.sequence! > ev!.sequence!, `the vblank count moves on (${ev!.sequence} → ${ev1!.sequence})`);
      v.commit(NB | EV, [[primary, fbId, BigInt(a.fb)]], [], 3);
      assert.ok(await readable(b, v.fd));
      assert.deepEqual(b.drmReadEvents(v.fd).map((e) => e.userData), [3]);
      // turning the CRTC off is a modeset
      throwsErrno(() => v.commit(0, [[crtc, v.id(crtc, 'ACTIVE'), 0n]]), 'EINVAL', ATOMIC);
      v.reset();
      assert.deepEqual([b.kmsGetCrtc(v.fd, crtc).mode, b.kmsGetCrtc(v.fd, crtc).fbId], [null, 0]);
      assert.equal(b.kmsGetEncoder(v.fd, conn.encoderId).crtcId, 0);
      assert.equal(b.kmsGetConnector(v.fd, v.virtual).encoderId, 0);
      assert.equal(v.value(v.virtual, 'DPMS'), 3n, 'DPMS Off');
    });

    it('legacy and atomic calls share one state: SETCRTC, PAGE_FLIP and RMFB are commits the properties see', async function () {
      const v = vkms(this);
      const { b } = t;
      const { crtc } = v;
      const primary = v.planes[0]!;
      const mode = v.mode('640x480');
      const a = dumbFb(v, 640, 480, XR24), c = dumbFb(v, 640, 480, XR24);
      b.kmsSetCrtc(v.fd, crtc, a.fb, 0, 0, [v.virtual], mode);
      assert.deepEqual([v.value(crtc, 'ACTIVE'), v.value(primary, 'FB_ID'), v.value(v.virtual, 'CRTC_ID')], [1n, BigInt(a.fb), BigInt(crtc)]);
      // SETCRTC's mode is a blob the kernel made
      const modeBlob = b.kmsGetBlob(v.fd, Number(v.value(crtc, 'MODE_ID')));
      assert.equal(modeBlob.length, 68);
      const dv = new DataView(modeBlob.buffer, modeBlob.byteOffset);
      assert.deepEqual([dv.getUint32(0, true), dv.getUint16(4, true), dv.getUint16(14, true)], [mode.clock, 640, 480]);
      throwsErrno(() => b.kmsDestroyBlob(v.fd, Number(v.value(crtc, 'MODE_ID'))), 'EPERM'); // no file's
      const fbId = v.id(primary, 'FB_ID');
      await failsWhilePending(b, v.fd, () => b.kmsPageFlip(v.fd, crtc, c.fb, DRM_MODE_PAGE_FLIP_EVENT, 9),
        () => v.commit(NB | EV, [[primary, fbId, BigInt(a.fb)]], [], 10), [9, 10], 'EBUSY', ATOMIC); // the flip is pending
      assert.equal(v.value(primary, 'FB_ID'), BigInt(c.fb));
      assert.ok(await readable(b, v.fd));
      assert.deepEqual(b.drmReadEvents(v.fd).map((e) => e.userData), [9]);
      // an atomic flip, then the legacy view of it
      v.commit(0, [[primary, v.id(primary, 'FB_ID'), BigInt(a.fb)]]);
      assert.equal(b.kmsGetCrtc(v.fd, crtc).fbId, a.fb);
      // RMFB of the shown framebuffer: off the plane, the CRTC stays on
      b.kmsRmFb(v.fd, a.fb);
      assert.deepEqual([v.value(primary, 'FB_ID'), v.value(primary, 'CRTC_ID'), v.value(crtc, 'ACTIVE')], [0n, 0n, 1n]);
      assert.equal(b.kmsGetCrtc(v.fd, crtc).mode?.name, '640x480');
      throwsErrno(() => b.kmsPageFlip(v.fd, crtc, c.fb, 0, 0), 'EBUSY');
      b.kmsSetCrtc(v.fd, crtc, 0, 0, 0, [], null);
      assert.deepEqual([v.value(crtc, 'ACTIVE'), v.value(crtc, 'MODE_ID'), v.value(v.virtual, 'CRTC_ID')], [0n, 0n, 0n]);
    });

    it('writeback: a primary, two overlays and a cursor composed as vkms does (premultiplied alpha, clipped), pixel by pixel', async function () {
      const v = vkms(this);
      const { b } = t;
      const mode = v.mode('640x480');
      assert.deepEqual([mode.hdisplay, mode.vdisplay], [640, 480]);
      const W = 640, H = 480;
      const blob = v.blob(modeBytes(mode));
      // the primary is XRGB8888: its X byte (0x5a) must not matter
      const prim = (x: number, y: number): number => 0x5a000000 | (((x * 3) & 0xff) << 16) | (((y * 5) & 0xff) << 8) | ((x + y) & 0xff);
      // overlay A, 64x48 at (600, 20), its right 24 columns off screen: opaque, fully transparent and two
      // semi-transparent premultiplied bands (no channel above its alpha), then opaque red that must not show
      const ovA = (x: number, y: number): number => {
        if (x < 10) return 0xff000000 | (y << 16) | (0x99 << 8) | 0x33;
        if (x < 20) return 0x00000000;
        if (x < 30) return (0x80 << 24) | (((y * 2) & 0x7f) << 16) | (0x40 << 8) | (x & 0x7f);
        if (x < 40) return (0x40 << 24) | (((x + y) & 0x3f) << 16) | (0x20 << 8) | 0x10;
        return 0xffff0000;
      };
      // overlay B, 48x40 at (-16, 450): clipped on the left and at the bottom
      const ovB = (x: number, y: number): number => (y < 20 ? (0xc0 << 24) | (0x60 << 16) | (((x * 4) & 0xbf) << 8) | 0xc0
        : 0xff00ff00 | (x << 16) | y);
      // the cursor, 32x32 at (610, 40): over overlay A, clipped on the right
      const cur = (x: number, y: number): number => {
        const d = (x - 16) ** 2 + (y - 16) ** 2;
        return d < 64 ? 0xffffffff : d < 196 ? 0x80808080 : 0;
      };
      const bufs = [dumbFb(v, W, H, XR24), dumbFb(v, 64, 48, AR24), dumbFb(v, 48, 40, AR24), dumbFb(v, 32, 32, AR24)];
      [prim, ovA, ovB, cur].forEach((px, i) => fill(bufs[i]!, px));
      const wb = dumbFb(v, W, H, XR24);
      fill(wb, () => 0x11111111);
      const [p0, p1, p2] = v.planes;
      const cursor = v.planes[v.planes.length - 1]!;
      // 6.12: the writeback connector alone on the CRTC (it is no clone of Virtual-1's encoder); 7.2: both
      const req = [...v.plane(p0!, bufs[0]!.fb, W, H), ...v.plane(p1!, bufs[1]!.fb, 64, 48, 600, 20),
        ...v.plane(p2!, bufs[2]!.fb, 48, 40, -16, 450), ...v.plane(cursor, bufs[3]!.fb, 32, 32, 610, 40),
        ...v.modeset(blob, v7(), true), [v.wb, v.id(v.wb, 'WRITEBACK_FB_ID'), BigInt(wb.fb)] as Set].sort((x, z) => x[0] - z[0]);
      const fences = v.fenced(M, req, true);
      assert.ok(fences.wb >= 0, 'a writeback fence');
      assert.ok(await readable(b, fences.wb), 'the writeback fence signals');
      assert.equal(b.syncFileInfo(fences.wb).status, 1);
      assert.equal(v.value(v.wb, 'WRITEBACK_FB_ID'), 0n, 'the job is one-shot');
      const want = expectedPicture(W, H, [
        { x: 0, y: 0, w: W, h: H, px: prim, alpha: false }, { x: 600, y: 20, w: 64, h: 48, px: ovA, alpha: true },
        { x: -16, y: 450, w: 48, h: 40, px: ovB, alpha: true }, { x: 610, y: 40, w: 32, h: 32, px: cur, alpha: true }]);
      // one semi-transparent pixel by hand: 0x80 0x00 0x40 0x14 over 0x44 0x64 0x80 (overlay A's (20, 0))
      assert.equal(want[20 * W + 620], 0xff227254);
      comparePicture(wb, want, 'the writeback picture');
      assert.equal(pixelAt(wb, 620, 20), 0xff227254);
      assert.equal(pixelAt(wb, 605, 25), (0xff000000 | (5 << 16) | (0x99 << 8) | 0x33) >>> 0, 'opaque overlay pixel');
      assert.equal(pixelAt(wb, 615, 25), (0xff000000 | prim(615, 25)) >>> 0, 'a transparent pixel shows the primary');
    });

    it('IN_FENCE_FD: a sw_sync fence holds a non-blocking commit (out-fence, event, writeback) until the timeline signals', async function () {
      const v = vkms(this);
      const { b } = t;
      const tl = t.timeline(this);
      const mode = v.mode('640x480');
      const W = 640, H = 480;
      const blob = v.blob(modeBytes(mode));
      const red = dumbFb(v, W, H, XR24), blue = dumbFb(v, W, H, XR24);
      fill(red, () => 0x00ff0000);
      fill(blue, (x) => 0x000000ff | ((x & 0xff) << 8));
      const wb = dumbFb(v, W, H, AR24);
      const primary = v.planes[0]!;
      const P = (n: string): number => v.id(primary, n);
      const WB = v.id(v.wb, 'WRITEBACK_FB_ID');
      const first = v.fenced(M, [...v.plane(primary, red.fb, W, H), ...v.modeset(blob, v7(), true), [v.wb, WB, BigInt(wb.fb)] as Set]
        .sort((x, z) => x[0] - z[0]), true);
      assert.ok(await readable(b, first.wb));
      assert.equal(pixelAt(wb, 100, 100), 0xffff0000, 'the red picture, alpha 0xff');
      const fence = t.keep(b.swSyncCreateFence(tl, 1, 'in'));
      t.defer(() => b.swSyncInc(tl, 10)); // whatever happens, nothing stays held (run before the cleanups above)
      const held = v.fenced(NB | EV, [[primary, P('FB_ID'), BigInt(blue.fb)], [primary, P('IN_FENCE_FD'), BigInt(fence)],
        [v.wb, WB, BigInt(wb.fb)]], true, 5);
      assert.equal(b.kmsGetPlane(v.fd, primary).fbId, blue.fb, 'the state is the commit\'s at once');
      await new Promise((r) => setTimeout(r, 150));
      assert.deepEqual([b.syncFileInfo(held.out).status, b.syncFileInfo(held.wb).status], [0, 0], 'held by the in-fence');
      assert.deepEqual(b.drmReadEvents(v.fd), [], 'no event yet');
      assert.equal(pixelAt(wb, 100, 100), 0xffff0000, 'the writeback buffer still has the red picture');
      throwsErrno(() => v.commit(NB, [[primary, P('FB_ID'), BigInt(red.fb)]]), 'EBUSY', ATOMIC);
      b.swSyncInc(tl, 1);
      assert.ok(await readable(b, held.out), 'the out-fence signals once the in-fence has');
      assert.equal(b.syncFileInfo(held.out).status, 1);
      assert.ok(await readable(b, v.fd));
      assert.deepEqual(b.drmReadEvents(v.fd).map((e) => e.userData), [5]);
      assert.ok(await readable(b, held.wb));
      for (const x of [0, 100, 255, 639]) assert.equal(pixelAt(wb, x, 300), (0xff0000ff | ((x & 0xff) << 8)) >>> 0, `x ${x}`);
    });

    it('writeback: the background where no plane is (black on 6.12, BACKGROUND_COLOR on 7.2 without its alpha)', async function () {
      const v = vkms(this);
      const { b } = t;
      const W = 640, H = 480;
      const blob = v.blob(modeBytes(v.mode('640x480')));
      const prim = dumbFb(v, 320, 240, XR24);
      const px = (x: number, y: number): number => ((x & 0xff) << 16) | ((y & 0xff) << 8) | 0x40;
      fill(prim, px);
      const wb = dumbFb(v, W, H, AR24);
      const req: Set[] = [...v.plane(v.planes[0]!, prim.fb, 320, 240, 100, 80), ...v.modeset(blob, v7(), true),
        [v.wb, v.id(v.wb, 'WRITEBACK_FB_ID'), BigInt(wb.fb)]];
      const bg: [number, number, number] = v7() ? [0x1234, 0x5678, 0x9abc] : [0, 0, 0];
      if (v7()) req.push([v.crtc, v.id(v.crtc, 'BACKGROUND_COLOR'), 0x8000_1234_5678_9abcn]);
      else assert.equal(v.props(v.crtc).has('BACKGROUND_COLOR'), false);
      const fences = v.fenced(M, req.sort((x, z) => x[0] - z[0]), true);
      assert.ok(await readable(b, fences.wb));
      assert.equal(pixelAt(wb, 5, 5), v7() ? 0xff12569a : 0xff000000, 'DIV_ROUND_CLOSEST(channel, 257), alpha 0xff');
      comparePicture(wb, expectedPicture(W, H, [{ x: 100, y: 80, w: 320, h: 240, px, alpha: false }], bg), 'the picture');
    });

    it('writeback: rotated, reflected and cropped overlays (rotation, SRC_X/SRC_Y), composed as vkms reads them', async function () {
      const v = vkms(this);
      const { b } = t;
      const W = 640, H = 480;
      const blob = v.blob(modeBytes(v.mode('640x480')));
      const prim = dumbFb(v, W, H, XR24);
      fill(prim, () => 0x00203040);
      // a source whose every pixel tells where it came from
      const src = (x: number, y: number): number => (0xff000000 | (x << 16) | (y << 8) | 0x80) >>> 0;
      const req: Set[] = [...v.plane(v.planes[0]!, prim.fb, W, H), ...v.modeset(blob, v7(), true)];
      const layers: Layer[] = [{ x: 0, y: 0, w: W, h: H, px: () => 0x00203040, alpha: false }];
      // ROTATE_90, ROTATE_180, ROTATE_270 | REFLECT_X, ROTATE_0 | REFLECT_Y (a reflection alone is no angle: EINVAL)
      const cases: [number, number, number][] = [[0x2, 40, 20], [0x4, 300, 20], [0x8 | 0x10, 40, 200], [0x1 | 0x20, 300, 200]];
      cases.forEach(([rotation, x, y], i) => {
        const plane = v.planes[1 + i]!;
        const buf = dumbFb(v, 48, 24, AR24);
        fill(buf, src);
        // 6.12's vkms shows ROTATE_270 | REFLECT_X as ROTATE_270 alone (seen in the VM); 7.2 reflects
        const r = rotated(48, 24, !v7() && (rotation & 0xf) === 8 ? rotation & ~0x10 : rotation, src);
        req.push(...v.plane(plane, buf.fb, r.w, r.h, x, y, 48, 24), [plane, v.id(plane, 'rotation'), BigInt(rotation)]);
        layers.push({ x, y, w: r.w, h: r.h, px: r.px, alpha: true });
      });
      // a crop: the 20x10 at (12, 6) of a 48x24 source
      const crop = v.planes[5]!;
      const cbuf = dumbFb(v, 48, 24, AR24);
      fill(cbuf, src);
      const C = (n: string): number => v.id(crop, n);
      req.push([crop, C('FB_ID'), BigInt(cbuf.fb)], [crop, C('CRTC_ID'), BigInt(v.crtc)], [crop, C('SRC_X'), 12n << 16n],
        [crop, C('SRC_Y'), 6n << 16n], [crop, C('SRC_W'), 20n << 16n], [crop, C('SRC_H'), 10n << 16n], [crop, C('CRTC_X'), 500n],
        [crop, C('CRTC_Y'), 400n], [crop, C('CRTC_W'), 20n], [crop, C('CRTC_H'), 10n]);
      layers.push({ x: 500, y: 400, w: 20, h: 10, px: (x, y) => src(x + 12, y + 6), alpha: true });
      const wb = dumbFb(v, W, H, XR24);
      req.push([v.wb, v.id(v.wb, 'WRITEBACK_FB_ID'), BigInt(wb.fb)]);
      const fences = v.fenced(M, req.sort((x, z) => x[0] - z[0]), true);
      assert.ok(await readable(b, fences.wb));
      comparePicture(wb, expectedPicture(W, H, layers), 'rotated planes');
      assert.equal(pixelAt(wb, 40, 20), src(47, 0), 'ROTATE_90 turns the top-right corner to the top-left');
    });
  });
}
