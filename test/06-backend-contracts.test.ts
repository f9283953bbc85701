/**
 * Backend contracts that both implementations must keep in the same way:
 * (a) the argument specification (src/backend/args.ts): for every Backend method, generated bad
 *     arguments give the same error class, code and message on the mock, on the native backend and on
 *     the raw addon's own checks (all three called here, directly: no device is needed);
 * (b) close-on-exec is set on the fds of heapAlloc, udmabufCreate, udmabufCreateList and
 *     drmPrimeHandleToFd even when the flags passed lack it (active backend);
 * (c) a dma-heap dispatches by ioctl number: DMA_BUF_IOCTL_SYNC (number 0) on a heap fd allocates a
 *     buffer whose fd is never reported, numbers 1 and up are EINVAL (active backend).
 */
import assert from 'node:assert/strict';
import { ARG_SPEC, BACKEND_METHODS, type ArgKind, type ArgSpec } from '../src/backend/args';
import { createMockBackend } from '../src/backend/mock';
import { loadNative, type NativeBackend } from '../src/backend/native';
import type { Backend, BackendMethod, Fd, MapHandle } from '../src/backend/types';
import {
  DMA_BUF_SYNC_RW, DRM_RDWR, F_SEAL_SHRINK, MAP_FIXED, MAP_FIXED_NOREPLACE, MAP_SHARED, MFD_ALLOW_SEALING,
  O_ACCMODE, O_CLOEXEC, O_RDONLY, O_RDWR, PROT_READ, PROT_WRITE, V4L2_BUF_TYPE_VIDEO_CAPTURE,
  V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE, V4L2_MEMORY_DMABUF, V4L2_MEMORY_MMAP, V4L2_MEMORY_OVERLAY, V4L2_MEMORY_USERPTR,
} from '../src/constants';
import { backend, inVm, needsDriver, needsHeap, needsUdmabuf, PAGE, throwsCode, throwsErrno } from './support/index';

// ---- (a) the argument specification ----------------------------------------------------------------

/** A number no fd ever has: a valid fd argument that leads nowhere. */
const NOWHERE = 0x7ffffff0;

const MODE = {
  clock: 65000, hdisplay: 1024, hsyncStart: 1048, hsyncEnd: 1184, htotal: 1344, hskew: 0, vdisplay: 768,
  vsyncStart: 771, vsyncEnd: 777, vtotal: 806, vscan: 0, vrefresh: 60, flags: 0, type: 0, name: '1024x768',
};

/** A valid single-planar V4L2 format, and a multi-planar one. */
const FMT = {
  type: V4L2_BUF_TYPE_VIDEO_CAPTURE, width: 320, height: 240, pixelformat: 0x34325258, field: 1, colorspace: 0,
  ycbcrEnc: 0, quantization: 0, xferFunc: 0, flags: 0, planes: [{ bytesperline: 0, sizeimage: 0 }],
};
const FMT_MP = { ...FMT, type: V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE };
const PLANE_FMT = { bytesperline: 0, sizeimage: 0 };
/** A valid MMAP buffer to queue, single-planar, a multi-planar one and a DMABUF one. */
const PLANE = { bytesused: 0, length: 0 };
const BUF = { type: V4L2_BUF_TYPE_VIDEO_CAPTURE, memory: V4L2_MEMORY_MMAP, index: 0, planes: [PLANE] };
const BUF_MP = { ...BUF, type: V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE };
const BUF_DMABUF = { ...BUF, memory: V4L2_MEMORY_DMABUF, planes: [{ ...PLANE, fd: 3 }] };
/** Bad control lists for G_EXT_CTRLS (and, with a value, for S_EXT_CTRLS). */
const BAD_CONTROLS: unknown[] = ['x', null, {}, [null], [5], [[]], [{}], [{ id: -1, kind: 'i32' }], [{ id: 1 }],
  [{ id: 1, kind: 5 }], [{ id: 1, kind: 'u8' }], [{ id: 1, kind: 'string', size: 65537 }],
  [{ id: 1, kind: 'string', size: 1.5 }], [{ id: 1, kind: 'i32', size: -1 }], new Array(1025).fill({ id: 1, kind: 'i32' })];
const CTRL = { id: 1, kind: 'i32', value: 0 };

/** Values of every type that is not a number. */
const NOT_NUMBERS: unknown[] = ['x', '', null, true, 3n, Symbol('s'), {}, [], function f() { /* a function */ }];
const NOT_INTEGERS: unknown[] = [1.5, -0.5, NaN, Infinity, -Infinity];

/** Bad values of each kind (undefined is added for the arguments that may not be left out). */
const BAD: Record<ArgKind, unknown[]> = {
  fd: [...NOT_NUMBERS, ...NOT_INTEGERS, -1, 2 ** 31, 2 ** 53],
  u32: [...NOT_NUMBERS, ...NOT_INTEGERS, -1, 2 ** 32],
  i32: [...NOT_NUMBERS, ...NOT_INTEGERS, -(2 ** 31) - 1, 2 ** 31],
  size: [...NOT_NUMBERS, ...NOT_INTEGERS, -1, 2 ** 53],
  int64: [...NOT_NUMBERS, ...NOT_INTEGERS, 2 ** 53, -(2 ** 53)],
  maxFds: [...NOT_NUMBERS, 1.5, -1, 65537],
  mapFlags: [...NOT_NUMBERS, 1.5, 2 ** 31, MAP_SHARED | MAP_FIXED, MAP_SHARED | MAP_FIXED_NOREPLACE, -1],
  string: [5, null, {}, Symbol('t'), 'a\0b', '\0', `${'x'.repeat(40)}\0`],
  bytes: ['x', null, [1], new Uint16Array(1), new Uint8ClampedArray(1), new ArrayBuffer(1), new DataView(new ArrayBuffer(1))],
  'fd[]': ['x', null, {}, new Uint8Array(1), [1.5], [-1], [0, 'x'], [2 ** 31]],
  'u32[4]': ['x', null, {}, [-1], [1.5], ['1'], [2 ** 32], [0, 0, 0, 0, 0]],
  'u32[65536]': ['x', null, {}, [-1], [1.5], [2 ** 32], new Array(65537).fill(0)],
  'u64[4]': ['x', null, {}, [0], [1.5], ['1'], [-1n], [2n ** 64n], [0n, 0n, 0n, 0n, 0n], [0n, 1]],
  'u64[65536]': ['x', null, {}, [0], [1.5], ['1'], [-1n], [2n ** 64n], [0n, 1], new Array(65537).fill(0n)],
  udmabufItems: ['x', null, {}, [null], [1], ['x'], [{}], [[]], [function g() { /* a function */ }],
    [{ memfd: -1, offset: 0, size: 0 }], [{ memfd: 0, offset: 1.5, size: 0 }], [{ memfd: 0, offset: 0, size: -1 }],
    [{ memfd: 0, offset: 0, size: 0 }, 5]],
  'mode|null': ['x', 5, [], {}, { ...MODE, hdisplay: 65536 }, { ...MODE, clock: -1 }, { ...MODE, type: 2 ** 32 },
    { ...MODE, vscan: 1.5 }, { ...MODE, name: 5 }, { ...MODE, name: undefined }],
  mapping: [{}, null, 1, 'x', { length: 1, prot: PROT_READ | PROT_WRITE }],
  boolean: [0, 1, 'true', null, {}, 0n],
  v4l2BufType: [...NOT_NUMBERS, ...NOT_INTEGERS, -1, 2 ** 32, 0, 3, 8, 11, 0x80],
  v4l2Format: ['x', 5, null, [], {}, { ...FMT, type: 3 }, { ...FMT, type: 1.5 }, { ...FMT, type: undefined },
    { ...FMT, width: -1 }, { ...FMT, colorspace: 'x' }, { ...FMT, flags: 2 ** 32 }, { ...FMT_MP, flags: 256 },
    { ...FMT_MP, ycbcrEnc: 256 }, { ...FMT, xferFunc: undefined }, { ...FMT, planes: 'x' }, { ...FMT, planes: [] },
    { ...FMT, planes: [PLANE_FMT, PLANE_FMT] }, { ...FMT_MP, planes: [] }, { ...FMT_MP, planes: new Array(9).fill(PLANE_FMT) },
    { ...FMT, planes: [null] }, { ...FMT, planes: [[]] }, { ...FMT_MP, planes: [PLANE_FMT, { bytesperline: 0 }] },
    { ...FMT, planes: [{ bytesperline: -1, sizeimage: 0 }] }],
  v4l2Buffer: ['x', 5, null, [], {}, { ...BUF, type: -1 }, { ...BUF, memory: V4L2_MEMORY_USERPTR },
    { ...BUF, memory: V4L2_MEMORY_OVERLAY }, { ...BUF, memory: 0 }, { ...BUF, memory: 1.5 }, { ...BUF, index: undefined },
    { ...BUF, flags: 'x' }, { ...BUF, field: -1 }, { ...BUF, timestamp: 5 }, { ...BUF, timestamp: null },
    { ...BUF, timestamp: { sec: 1.5, usec: 0 } }, { ...BUF, timestamp: { sec: 0 } }, { ...BUF, planes: undefined },
    { ...BUF, planes: [] }, { ...BUF, planes: [PLANE, PLANE] }, { ...BUF_MP, planes: [] },
    { ...BUF_MP, planes: new Array(9).fill(PLANE) }, { ...BUF, planes: [null] }, { ...BUF, planes: [{ length: 0 }] },
    { ...BUF, planes: [{ ...PLANE, dataOffset: 4 }] }, { ...BUF_MP, planes: [{ ...PLANE, dataOffset: -1 }] },
    { ...BUF, planes: [{ ...PLANE, fd: 3 }] }, { ...BUF, planes: [{ ...PLANE, fd: 'x' }] },
    { ...BUF_DMABUF, planes: [PLANE] }, { ...BUF_DMABUF, planes: [{ ...PLANE, fd: -1 }] }],
  v4l2Controls: BAD_CONTROLS,
  v4l2ControlValues: [...BAD_CONTROLS.filter((c) => !Array.isArray(c) || c.length < 1025),
    [{ id: 1, kind: 'i32' }], [{ id: 1, kind: 'i32', value: 2 ** 31 }], [{ id: 1, kind: 'i32', value: 0n }],
    [{ id: 1, kind: 'i64', value: 1 }], [{ id: 1, kind: 'i64', value: 2n ** 63n }], [{ id: 1, kind: 'i64', value: -(2n ** 63n) - 1n }],
    [{ id: 1, kind: 'string', value: 5 }], [{ id: 1, kind: 'string', value: 'a\0b' }],
    [{ id: 1, kind: 'string', value: 'x'.repeat(65536) }], [CTRL, { ...CTRL, value: 1.5 }],
    new Array(1025).fill(CTRL)],
};

/** A valid value of each kind, for the arguments not under test; a mapping is the backend's own. */
function good(kind: ArgKind, mapping: MapHandle): unknown {
  switch (kind) {
    case 'fd': return NOWHERE;
    case 'string': return '/nonexistent-dmabuf-contract';
    case 'bytes': return new Uint8Array(1);
    case 'mapFlags': return MAP_SHARED;
    case 'fd[]': case 'u32[4]': case 'u32[65536]': case 'u64[4]': case 'udmabufItems': return [];
    case 'mode|null': return null;
    case 'mapping': return mapping;
    case 'boolean': return false;
    case 'v4l2BufType': return V4L2_BUF_TYPE_VIDEO_CAPTURE;
    case 'v4l2Format': return FMT;
    case 'v4l2Buffer': return BUF;
    case 'v4l2Controls': case 'v4l2ControlValues': return [];
    default: return 0;
  }
}

interface Outcome {
  error?: { class: string; code: unknown; message: string };
  /** Set when the call did not throw synchronously. */
  returned?: true;
}

function call(b: object, method: BackendMethod, args: unknown[]): Outcome {
  try {
    const r = (b as Record<string, (...a: unknown[]) => unknown>)[method](...args);
    if (r instanceof Promise) r.catch(() => undefined);
    return { returned: true };
  } catch (e) {
    const err = e as Error & { code?: unknown };
    return { error: { class: Object.getPrototypeOf(err)?.constructor?.name, code: err.code, message: err.message } };
  }
}

const show = (v: unknown): string => {
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'symbol' || typeof v === 'function') return String(v);
  if (Array.isArray(v) && v.length > 8) return `[${v.length} items]`;
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
};

/** Every argument list of method with exactly one bad argument. */
function cases(spec: readonly ArgSpec[], mapping: MapHandle): { label: string; args: unknown[] }[] {
  const out: { label: string; args: unknown[] }[] = [];
  spec.forEach((a, i) => {
    const bad = a.optional ? BAD[a.kind] : [undefined, ...BAD[a.kind]];
    for (const v of bad) {
      const args = spec.map((x) => good(x.kind, mapping));
      args[i] = v;
      out.push({ label: `${a.name} = ${show(v)}`, args });
    }
  });
  return out;
}

describe('backend contract: one argument specification, the same errors on both backends', function () {
  const mock = createMockBackend();
  const loaded = loadNative();
  const native = loaded.backend;
  const unchecked = loaded.unchecked;
  const maps: { b: Backend; map: MapHandle; fd: Fd }[] = [];

  /** A one-page memfd mapping of b: the valid MapHandle of that backend. */
  function mappingOf(b: Backend): MapHandle {
    const fd = b.memfdCreate('contract', 0);
    b.ftruncate(fd, b.pageSize);
    const map = b.mmap(fd, b.pageSize, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
    maps.push({ b, map, fd });
    return map;
  }

  let mockMap: MapHandle;
  let nativeMap: MapHandle | undefined;
  before(() => {
    mockMap = mappingOf(mock);
    if (native) nativeMap = mappingOf(native);
  });
  after(() => {
    for (const { b, map, fd } of maps) {
      b.munmap(map);
      b.close(fd);
    }
  });

  it('covers every Backend method, both backends have them all, and nothing more', function () {
    const methods = (b: object) => Object.keys(b).filter((k) => typeof (b as Record<string, unknown>)[k] === 'function');
    const control = ['openFds', 'liveMappings', 'reset'];
    assert.deepEqual(methods(mock).filter((k) => !control.includes(k)).sort(), [...BACKEND_METHODS].sort());
    if (native) {
      assert.deepEqual(methods(native).filter((k) => k !== 'fdRelease' && k !== 'trackedFds').sort(),
        [...BACKEND_METHODS].sort());
    }
  });

  // The addon's fast paths read integers from a double's bits (native/fast.h): the edges of that
  // decoding (signed zero, the last fractional bit, subnormals, the ends of each range) must give what
  // the specification gives, on the checked and the raw functions alike.
  it('integer edges: the addon\'s fast argument checks agree with the specification', function () {
    if (!native || !unchecked) {
      if (inVm || process.env.DMABUF_BACKEND === 'native') assert.fail(`the native addon did not load: ${loaded.error?.message}`);
      this.skip(); // the native addon did not load (the mock has no fast path)
    }
    const EDGES = [-0, 0, 1, 0.5, 1 - 2 ** -53, 1 + 2 ** -52, 5e-324, -5e-324, 2 ** 51 + 0.5, 2 ** 52 + 1,
      2 ** 53 - 1, 2 ** 53, 2 ** 31 - 1, 2 ** 31 - 0.5, 2 ** 31, 2 ** 32 - 1, 2 ** 32 - 0.5, 2 ** 32, -1, -(2 ** 31),
      -(2 ** 31) - 1, Number.MAX_VALUE, Number.MIN_VALUE];
    const probes: { method: BackendMethod; args: (v: number) => unknown[] }[] = [
      { method: 'fdCheck', args: (v) => [v, 0, 0, 0] }, // fd
      { method: 'fdCheck', args: (v) => [NOWHERE, v, 0, 0] }, // u32
      { method: 'dmabufSync', args: (v) => [NOWHERE, v] }, // size
      { method: 'dmabufSyncer', args: (v) => [v] }, // size
      { method: 'mmapChecked', args: (v) => [NOWHERE, 0, 0, 0, 4096, v, MAP_SHARED, 0] }, // i32
    ];
    let accepted = 0;
    for (const { method, args } of probes) {
      for (const v of EDGES) {
        const label = `${method}(${args(v).map((a) => Object.is(a, -0) ? '-0' : show(a)).join(', ')})`;
        const spec = call(mock, method, args(v));
        const checked = call(native, method, args(v));
        const raw = call(unchecked, method, args(v));
        // where the specification accepts the value, the kernel answers (EBADF for NOWHERE on both)
        assert.deepEqual(checked, spec, `${label}: native backend vs mock`);
        assert.deepEqual(raw, spec, `${label}: the addon's own check vs the specification`);
        if (!spec.error || !/^ERR_/.test(String(spec.error.code))) accepted++;
      }
    }
    assert.ok(accepted >= 20, `the edges include accepted values (${accepted})`);
  });

  for (const method of BACKEND_METHODS) {
    const spec = ARG_SPEC[method];
    if (spec.length === 0) continue;
    it(`${method}(${spec.map((a) => `${a.name}${a.optional ? '?' : ''}: ${a.kind}`).join(', ')})`, function () {
      if (!native || !unchecked) {
        if (inVm || process.env.DMABUF_BACKEND === 'native') assert.fail(`the native addon did not load: ${loaded.error?.message}`);
        this.test!.title += ` (native half skipped: the native addon did not load: ${loaded.error?.message ?? 'unknown'})`;
      }
      const mockCases = cases(spec, mockMap);
      const nativeCases = nativeMap ? cases(spec, nativeMap) : [];
      mockCases.forEach((c, k) => {
        const m = call(mock, method, c.args);
        assert.ok(m.error, `${method}: ${c.label}: the mock accepted it`);
        assert.ok(m.error.class === 'TypeError' || m.error.class === 'RangeError',
          `${method}: ${c.label}: the mock threw ${m.error.class} ${String(m.error.code)}: ${m.error.message}`);
        assert.match(String(m.error.code), /^ERR_(INVALID_ARG_TYPE|INVALID_ARG_VALUE|OUT_OF_RANGE)$/, `${method}: ${c.label}`);
        if (!native || !unchecked) return;
        const n = call(native, method, nativeCases[k].args);
        assert.deepEqual(n, m, `${method}: ${c.label}: native backend vs mock`);
        const raw = call(unchecked, method, nativeCases[k].args);
        assert.deepEqual(raw, m, `${method}: ${c.label}: the addon's own check vs the specification`);
      });
    });
  }
});

// ---- (b) close-on-exec --------------------------------------------------------------------------------

/** fdinfo `flags:` (octal) of fd on the active backend. */
function fdinfoFlags(fd: Fd): number {
  const m = /^flags:\s*([0-7]+)$/m.exec(backend().readTextFile(`/proc/self/fdinfo/${fd}`));
  assert.ok(m, `fdinfo of ${fd} has a flags line`);
  return parseInt(m[1], 8);
}

function assertCloexec(fd: Fd, what: string): void {
  assert.equal(fdinfoFlags(fd) & O_CLOEXEC, O_CLOEXEC, `${what}: fdinfo flags show O_CLOEXEC`);
}

/** A sealed memfd of one page, ready for udmabuf. */
function sealedMemfd(b: Backend): Fd {
  const fd = b.memfdCreate('contract', MFD_ALLOW_SEALING);
  b.ftruncate(fd, b.pageSize);
  b.addSeals(fd, F_SEAL_SHRINK);
  return fd;
}

describe('backend contract: close-on-exec whatever flags the caller passes', function () {
  const opened: Fd[] = [];
  const keep = (fd: Fd): Fd => { opened.push(fd); return fd; };
  afterEach(() => {
    for (const fd of opened.splice(0).reverse()) backend().close(fd);
  });

  it('heapAlloc with fdFlags O_RDWR', function () {
    needsHeap(this);
    const b = backend();
    const heap = keep(b.open('/dev/dma_heap/system', O_RDONLY));
    assertCloexec(keep(b.heapAlloc(heap, PAGE(), O_RDWR, 0)), 'heapAlloc');
  });

  it('udmabufCreate and udmabufCreateList with flags 0', function () {
    needsUdmabuf(this);
    const b = backend();
    const dev = keep(b.open('/dev/udmabuf', O_RDONLY));
    const memfd = keep(sealedMemfd(b));
    assertCloexec(keep(b.udmabufCreate(dev, memfd, 0, PAGE(), 0)), 'udmabufCreate');
    assertCloexec(keep(b.udmabufCreateList(dev, 0, [{ memfd, offset: 0, size: PAGE() }])), 'udmabufCreateList');
  });

  it('drmPrimeHandleToFd with flags DRM_RDWR', function () {
    const card = needsDriver(this, 'vgem');
    const b = backend();
    const fd = keep(b.open(card.path, O_RDWR));
    const dumb = b.drmCreateDumb(fd, 16, 16, 32, 0);
    try {
      assertCloexec(keep(b.drmPrimeHandleToFd(fd, dumb.handle, DRM_RDWR)), 'drmPrimeHandleToFd');
    } finally {
      b.drmDestroyDumb(fd, dumb.handle);
    }
  });
});

// ---- (c) a dma-heap dispatches by ioctl number --------------------------------------------------------

/** The dma-buf fds of the system heap open on the active backend, with their fdinfo. */
function systemHeapBuffers(): Map<Fd, string> {
  const b = backend();
  const out = new Map<Fd, string>();
  for (const name of b.readdir('/proc/self/fd')) {
    let info: string;
    try {
      info = b.readTextFile(`/proc/self/fdinfo/${name}`);
    } catch {
      continue; // the directory's own fd, closed by now
    }
    if (/^exp_name:\s*system$/m.test(info)) out.set(Number(name), info);
  }
  return out;
}

describe('backend contract: a dma-heap takes any ioctl number 0 for ALLOC (dma_heap_ioctl)', function () {
  let heap: Fd;
  beforeEach(function () {
    needsHeap(this);
    heap = backend().open('/dev/dma_heap/system', O_RDONLY);
  });
  afterEach(() => {
    if (heap !== undefined) backend().close(heap);
  });

  it('DMA_BUF_IOCTL_SYNC (_IOW(\'b\', 0, u64)) allocates flags bytes, returns 0 and reports no fd', async function () {
    const b = backend();
    const before = systemHeapBuffers();
    b.dmabufSync(heap, DMA_BUF_SYNC_RW); // len 3: one page
    const fresh = [...systemHeapBuffers()].filter(([fd]) => !before.has(fd));
    assert.equal(fresh.length, 1, 'one new system-heap dma-buf fd');
    const [fd, info] = fresh[0];
    try {
      assert.match(info, new RegExp(`^size:\\s*${PAGE()}$`, 'm'), 'rounded up to a page');
      const flags = parseInt(/^flags:\s*([0-7]+)$/m.exec(info)![1], 8);
      assert.equal(flags & O_CLOEXEC, 0, 'installed without O_CLOEXEC (fd_flags 0)');
      assert.equal(flags & O_ACCMODE, O_RDONLY, 'read-only (fd_flags 0)');
    } finally {
      b.close(fd);
    }
    const again = new Map(systemHeapBuffers());
    await b.dmabufSyncAsync(heap, DMA_BUF_SYNC_RW); // the async twin, on its own dup of the heap fd
    const freshAsync = [...systemHeapBuffers()].filter(([x]) => !again.has(x));
    assert.equal(freshAsync.length, 1, 'dmabufSyncAsync allocates one too');
    b.close(freshAsync[0][0]);
    throwsErrno(() => b.dmabufSync(heap, 0), 'EINVAL', { syscall: 'ioctl(DMA_BUF_IOCTL_SYNC)' }); // len 0
  });

  it('numbers 1 and up are EINVAL; SW_SYNC_IOC_CREATE_FENCE (number 0) with a 5-byte name is EINVAL', function () {
    const b = backend();
    throwsErrno(() => b.dmabufSetName(heap, 'x'), 'EINVAL', { syscall: 'ioctl(DMA_BUF_SET_NAME_B)' });
    throwsErrno(() => b.dmabufExportSyncFile(heap, DMA_BUF_SYNC_RW), 'EINVAL', { syscall: 'ioctl(DMA_BUF_IOCTL_EXPORT_SYNC_FILE)' });
    throwsErrno(() => b.syncFileInfo(heap), 'EINVAL', { syscall: 'ioctl(SYNC_IOC_FILE_INFO)' });
    throwsErrno(() => b.swSyncInc(heap, 1), 'EINVAL', { syscall: 'ioctl(SW_SYNC_IOC_INC)' });
    throwsErrno(() => b.drmGetCap(heap, 1), 'EINVAL', { syscall: 'ioctl(DRM_IOCTL_GET_CAP)' });
    // the name's bytes 4..7 are the allocation's fd field, which must be 0
    throwsErrno(() => b.swSyncCreateFence(heap, PAGE(), 'abcde'), 'EINVAL', { syscall: 'ioctl(SW_SYNC_IOC_CREATE_FENCE)' });
    // a shorter name: the kernel allocates and succeeds, the fence field stays -1; neither backend
    // hands out (or tracks) -1, and the buffer the kernel made is left as the kernel leaves it
    const before = systemHeapBuffers();
    throwsCode(() => b.swSyncCreateFence(heap, PAGE(), ''), 'ERR_INVALID_ARG_VALUE', TypeError);
    const fresh = [...systemHeapBuffers()].filter(([fd]) => !before.has(fd));
    assert.equal(fresh.length, 1, 'the kernel allocated one buffer');
    b.close(fresh[0][0]);
    if (b.name === 'native') assert.ok(!(b as NativeBackend).trackedFds().includes(-1), '-1 is not tracked');
  });
});
