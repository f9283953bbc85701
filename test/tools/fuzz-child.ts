/**
 * The fuzz run itself, meant to run in a CHILD process (test/60-fuzz.test.ts spawns it), so that a
 * crash (SIGSEGV, SIGBUS, abort) shows as a signal exit instead of taking the test runner down.
 *
 * A seeded fast-check property: random sequences of calls to every public function and method, with
 * random arguments (wrong types, negative, NaN, huge, 2^53, strings, symbols, objects, live and closed
 * library objects) and random "user mistakes" (an fd closed behind the library's back). Exporters
 * get sizes up to and beyond what the machine has (twice MemTotal, 2^40): their first map must be
 * refused with a coded error, never end in the OOM killer; so do frames and frame pools (up to
 * 65535x65535 and thousands of frames; coded frames of any size), framebuffers are made of any frame on any device, and video
 * devices (vivid) get formats, buffers, queues and controls in any order. Checked:
 * - every thrown error is coded: `code` is a string; an errno name (E...) also has a numeric `errno`
 *   and a string `syscall`; anything else is ERR_* (or ABORT_ERR for an aborted wait);
 * - every view of a mapping that is no longer mapped is detached (length 0), and closing a buffer or
 *   a device unmaps its mappings;
 * - promises settle (no hang on idle buffers);
 * - after each sequence, once everything is closed, the process has exactly the fds it had before
 *   (native: /proc/self/fd; mock: the model's openFds()).
 *
 * Environment: DMABUF_BACKEND (mock|native), DMABUF_FUZZ_SEED (default 0x5eed), DMABUF_FUZZ_RUNS
 * (sequences, default 500), DMABUF_FUZZ_LEN (max calls per sequence, default 40).
 * Output: one line `FUZZ-RESULT {json}` on stdout; exit 0 when the property held, 1 otherwise.
 */
import * as fs from 'node:fs';
import fc from 'fast-check';
import * as lib from '../../src/index';
import {
  Attachment, DmaBuf, Device, DumbBuffer, Exporter, Frame, FramePool, Framebuffer, GemHandle, Heap, Mapping, Memfd,
  SyncFile, VideoDevice, Display, drm, heaps, udmabuf, v4l2, type VideoQueue,
} from '../../src/index';

const seed = Number(process.env.DMABUF_FUZZ_SEED ?? 0x5eed);
const runs = Number(process.env.DMABUF_FUZZ_RUNS ?? 500);
const maxLen = Number(process.env.DMABUF_FUZZ_LEN ?? 40);
const backend = lib.getBackend();

let calls = 0;
let threw = 0;
let succeeded = 0;
const codes = new Map<string, number>();

// ---- the pool of live and closed library objects ---------------------------------------------------

type Kind = 'buf' | 'map' | 'heap' | 'memfd' | 'dev' | 'dumb' | 'gem' | 'sync' | 'exp' | 'att' | 'frame' | 'pool' | 'fb'
  | 'vdev' | 'disp';
const KINDS: Kind[] = ['buf', 'map', 'heap', 'memfd', 'dev', 'dumb', 'gem', 'sync', 'exp', 'att', 'frame', 'pool', 'fb', 'vdev',
  'disp'];

interface Pool {
  buf: DmaBuf[];
  map: Mapping[];
  heap: Heap[];
  memfd: Memfd[];
  dev: Device[];
  dumb: DumbBuffer[];
  gem: GemHandle[];
  sync: SyncFile[];
  exp: Exporter[];
  att: Attachment[];
  frame: Frame[];
  pool: FramePool[];
  fb: Framebuffer[];
  vdev: VideoDevice[];
  disp: Display[];
  raw: number[]; // fds handed back by DmaBuf.release(): the caller (we) must close them
  views: { view: Uint8Array; mapping: Mapping }[];
  owners: Map<Mapping, DmaBuf | Device>;
}

function newPool(): Pool {
  return {
    buf: [], map: [], heap: [], memfd: [], dev: [], dumb: [], gem: [], sync: [], exp: [], att: [], frame: [], pool: [],
    fb: [], vdev: [], disp: [], raw: [], views: [],
    owners: new Map(),
  };
}

function adopt(pool: Pool, v: unknown, owner?: DmaBuf | Device): void {
  if (v instanceof DmaBuf) pool.buf.push(v);
  else if (v instanceof Mapping) {
    pool.map.push(v);
    if (owner) pool.owners.set(v, owner);
  } else if (v instanceof Heap) pool.heap.push(v);
  else if (v instanceof Memfd) pool.memfd.push(v);
  else if (v instanceof Device) pool.dev.push(v);
  else if (v instanceof DumbBuffer) pool.dumb.push(v);
  else if (v instanceof GemHandle) pool.gem.push(v);
  else if (v instanceof SyncFile) pool.sync.push(v);
  else if (v instanceof Exporter) pool.exp.push(v);
  else if (v instanceof Attachment) pool.att.push(v);
  else if (v instanceof Frame) pool.frame.push(v);
  else if (v instanceof FramePool) pool.pool.push(v);
  else if (v instanceof Framebuffer) pool.fb.push(v);
  else if (v instanceof VideoDevice) pool.vdev.push(v);
  else if (v instanceof Display) pool.disp.push(v);
  else if (v !== null && typeof v === 'object' && 'kind' in v && (v as { mapping?: unknown }).mapping instanceof Mapping) {
    pool.map.push((v as unknown as { mapping: Mapping }).mapping); // an attachment's CPU map
  }
  else if (v instanceof Uint8Array) {
    /* copies (Buffer from read()) are not views */
  }
}

// ---- argument descriptors (printable, so a failure's counterexample can be read and replayed) -------

type Arg =
  | { k: 'v'; v: unknown }
  | { k: 'sym' | 'obj' | 'arr' | 'fn' | 'asyncFn' | 'throwFn' | 'u8' | 'bigU8' | 'getterThrows' | 'aborted' | 'date' }
  | { k: 'ref'; kind: Kind; i: number }
  | { k: 'fd'; kind: Kind; i: number }
  | { k: 'rec'; fields: Record<string, Arg> };

// Numbers chosen so that nothing the fuzz can allocate is large (a 2 GiB buffer read in full would
// exhaust the VM's memory, which proves nothing about the library): sizes and dimensions that pass
// validation stay small; the huge ones (2^32, 2^53, ...) are refused by validation or by the kernel.
const NUMBERS = [
  0, -0, 1, -1, 2, 3, 7, 63, 64, 255, 640, 1024, 4095, 4096, 4097, 8192, 65536, 1 << 20, 2 ** 32, 2 ** 40, 2 ** 53,
  2 ** 53 + 2, -(2 ** 53), 0.5, -0.5, NaN, Infinity, -Infinity, Number.MAX_VALUE, Number.MIN_VALUE, 0x7fffffff + 1,
];
const STRINGS = [
  '', 'read', 'write', 'readwrite', 'both', 'system', 'linux,cma', 'default_cma_region', 'reserved', '.', '..',
  'a/b', '/dev/udmabuf', '/dev/dri/card0', '/dev/dri/card1', '/dev/dri/renderD128', '/dev/null', '/nonexistent',
  'vgem', 'vkms', 'virtio_gpu', 'card', 'render', 'x'.repeat(31), 'x'.repeat(32), 'é'.repeat(16), 'a\0b', '64',
  'EINVAL', 'EBADFD', 'ENOPE', 'size:\t4096\nexp_name:\tx\n', '/dev/video0', 'vivid', 'test_pattern', 'NV12', 'NM12',
];
const KEYS = [
  'name', 'offset', 'length', 'dup', 'readOnly', 'heapFlags', 'flags', 'hugetlb', 'sealing', 'seals', 'timeout',
  'signal', 'width', 'height', 'bpp', 'driver', 'kind', 'contiguous', 'cached', 'memfd', 'size',
];

const leafArb: fc.Arbitrary<Arg> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...NUMBERS).map((v): Arg => ({ k: 'v', v })) },
  { weight: 3, arbitrary: fc.integer({ min: -2, max: 70000 }).map((v): Arg => ({ k: 'v', v })) },
  { weight: 4, arbitrary: fc.constantFrom(...STRINGS).map((v): Arg => ({ k: 'v', v })) },
  { weight: 1, arbitrary: fc.string({ maxLength: 40 }).map((v): Arg => ({ k: 'v', v })) },
  { weight: 2, arbitrary: fc.constantFrom(undefined, null, true, false, 1n, 2n ** 64n).map((v): Arg => ({ k: 'v', v })) },
  {
    weight: 3,
    arbitrary: fc.constantFrom('sym', 'obj', 'arr', 'fn', 'asyncFn', 'throwFn', 'u8', 'bigU8', 'getterThrows', 'aborted', 'date')
      .map((k) => ({ k }) as Arg),
  },
  { weight: 5, arbitrary: fc.record({ kind: fc.constantFrom(...KINDS), i: fc.nat(30) }).map((r): Arg => ({ k: 'ref', ...r })) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constantFrom(...KINDS), i: fc.nat(30) }).map((r): Arg => ({ k: 'fd', ...r })) },
);
const recArb: fc.Arbitrary<Arg> = fc.dictionary(fc.constantFrom(...KEYS), leafArb, { maxKeys: 4 })
  .map((fields): Arg => ({ k: 'rec', fields }));
const argArb: fc.Arbitrary<Arg> = fc.oneof({ weight: 4, arbitrary: leafArb }, { weight: 2, arbitrary: recArb });

class UserError extends Error {
  code = 'USER_THROW';
}

function pick<T>(list: T[], i: number): T | undefined {
  return list.length === 0 ? undefined : list[i % list.length];
}

function resolve(pool: Pool, a: Arg): unknown {
  switch (a.k) {
    case 'v': return a.v;
    case 'sym': return Symbol('fuzz');
    case 'obj': return {};
    case 'arr': return [1, 2, 3];
    case 'fn': return (bytes: unknown) => { if (bytes instanceof Uint8Array && bytes.length > 0) bytes[0] = 0x5a; return 7; };
    case 'asyncFn': return async (bytes: unknown) => { await new Promise((r) => setImmediate(r)); if (bytes instanceof Uint8Array && bytes.length > 0) bytes[bytes.length - 1] = 1; return 8; };
    case 'throwFn': return () => { throw new UserError('thrown by the caller'); };
    case 'u8': return new Uint8Array([1, 2, 3, 4]);
    case 'bigU8': return new Uint8Array(8192).fill(0xa5);
    case 'getterThrows': return Object.defineProperty({}, 'width', { get() { throw new UserError('getter'); }, enumerable: true });
    case 'aborted': return AbortSignal.abort();
    case 'date': return new Date(0);
    case 'ref': return pick(pool[a.kind] as unknown[], a.i) ?? pool.buf[0];
    case 'fd': {
      const o = pick(pool[a.kind] as unknown[], a.i) as { fd?: number } | undefined;
      try {
        return o?.fd ?? a.i;
      } catch {
        return a.i; // a closed object's fd getter throws: use a plain number instead
      }
    }
    case 'rec': {
      const out: Record<string, unknown> = {};
      for (const [key, v] of Object.entries(a.fields)) out[key] = resolve(pool, v);
      return out;
    }
  }
}

// ---- the operations ----------------------------------------------------------------------------------

type Fn = (pool: Pool, args: unknown[], target: number) => unknown;

function on<T>(kind: Kind, f: (o: T, a: unknown[]) => unknown): Fn {
  return (pool, a, t) => {
    const o = pick(pool[kind] as unknown[], t) as T | undefined;
    if (o === undefined) return SKIP;
    return f(o, a);
  };
}
const SKIP = Symbol('skip');
type AnyFn = (...a: unknown[]) => unknown;
const call = (f: unknown, a: unknown[]): unknown => (f as AnyFn)(...a);

// Sizes beyond what the machine has, for the Exporter (whose first map allocates).
function memTotal(): number {
  try {
    const m = /^MemTotal:\s+(\d+) kB$/m.exec(backend.readTextFile('/proc/meminfo'));
    if (m) return Number(m[1]) * 1024;
  } catch { /* no meminfo */ }
  return 2 ** 34;
}
const HUGE = [2 * Math.ceil(memTotal() / 4096) * 4096, 2 ** 31, 2 ** 32 + 4096, 2 ** 40, 2 ** 53 - 4096];
const PROVIDERS = ['heap:system', 'heap:contiguous', 'udmabuf', 'drm:/dev/dri/card0', 'drm:/dev/dri/card1', 'heap:nope'];
const FORMATS = ['XRGB8888', 'NV12', 'YUV420', 'RGB565', 'YUYV', 'NM12', 'nope'];
const DIMS = [1, 2, 15, 64, 65535, 0, 65536];

/**
 * Wait options that end: a wait with no timeout (or an infinite one) for something no one will do
 * (a pool's frame no one releases) never settles, which the run would take for a hang. Other values
 * (wrong types included) go through as they are.
 */
function bounded(o: unknown, ms: number): unknown {
  if (o === undefined) return { timeout: ms };
  if (typeof o === 'object' && o !== null && !Array.isArray(o)) {
    const t = (o as { timeout?: unknown }).timeout;
    if (t === undefined || t === Infinity) return { ...o, timeout: ms };
  }
  return o;
}

const OPS: Record<string, Fn> = {
  // module functions
  'probe': () => lib.probe(),
  'udmabuf.available': () => udmabuf.available(),
  'udmabuf.limits': () => udmabuf.limits(),
  'udmabuf.create': (_p, a) => call(udmabuf.create, a),
  'udmabuf.create(item)': (p, a) => call(udmabuf.create, [{ memfd: pick(p.memfd, 0) ?? a[0], offset: a[1], size: a[2] }]),
  'udmabuf.createList': (p, a) => call(udmabuf.createList, [[{ memfd: pick(p.memfd, 0) ?? a[0], offset: a[1], size: a[2] }, a[0]], a[1]]),
  'udmabuf.createList(raw)': (_p, a) => call(udmabuf.createList, a),
  'udmabuf.memfd': (_p, a) => call(udmabuf.memfd, a),
  'udmabuf.memfd(page)': (_p, a) => udmabuf.memfd(4096, a[0] as object),
  'udmabuf.create(page)': (_p, a) => udmabuf.create(4096 * (1 + (Number(a.length) % 3)), a[0] as object),
  'heaps.list': () => heaps.list(),
  'heaps.open': (_p, a) => call(heaps.open, a),
  'heaps.open(system)': () => heaps.open('system'),
  'heaps.find': (_p, a) => call(heaps.find, a),
  'drm.list': () => drm.list(),
  'drm.open': (_p, a) => call(drm.open, a),
  'drm.open(vgem)': () => drm.open({ driver: 'vgem' }),
  'DmaBuf.fromFd': (_p, a) => call(DmaBuf.fromFd, a),
  'SyncFile.fromFd': (_p, a) => call(SyncFile.fromFd, a),
  'parseFdinfo': (_p, a) => call(lib.parseFdinfo, a),
  'errnoName': (_p, a) => call(lib.errnoName, a),
  'errnoValue': (_p, a) => call(lib.errnoValue, a),
  'isSystemError': (_p, a) => call(lib.isSystemError, a),
  'systemError': (_p, a) => call(lib.systemError, a),
  // DmaBuf
  'buf.fd': on<DmaBuf>('buf', (b) => b.fd),
  'buf.props': on<DmaBuf>('buf', (b) => [b.size, b.inode, b.closed, b.readOnly, b.path, b.openAccesses]),
  'buf.info': on<DmaBuf>('buf', (b) => b.info()),
  'buf.exporter': on<DmaBuf>('buf', (b) => b.exporter),
  'buf.setName': on<DmaBuf>('buf', (b, a) => call(b.setName.bind(b), a)),
  'buf.map': on<DmaBuf>('buf', (b, a) => call(b.map.bind(b), a)),
  'buf.map()': on<DmaBuf>('buf', (b) => b.map()),
  'buf.beginAccess': on<DmaBuf>('buf', (b, a) => call(b.beginAccess.bind(b), a)),
  'buf.endAccess': on<DmaBuf>('buf', (b, a) => call(b.endAccess.bind(b), a)),
  'buf.beginAccessAsync': on<DmaBuf>('buf', (b, a) => call(b.beginAccessAsync.bind(b), a)),
  'buf.access': on<DmaBuf>('buf', (b, a) => call(b.access.bind(b), a)),
  'buf.accessAsync': on<DmaBuf>('buf', (b, a) => call(b.accessAsync.bind(b), a)),
  'buf.exportSyncFile': on<DmaBuf>('buf', (b, a) => call(b.exportSyncFile.bind(b), a)),
  'buf.importSyncFile': on<DmaBuf>('buf', (b, a) => call(b.importSyncFile.bind(b), a)),
  'buf.isIdle': on<DmaBuf>('buf', (b, a) => call(b.isIdle.bind(b), a)),
  'buf.idle': on<DmaBuf>('buf', (b, a) => call(b.idle.bind(b), a)),
  'buf.dup': on<DmaBuf>('buf', (b) => b.dup()),
  'buf.release': on<DmaBuf>('buf', (b) => b.release()),
  'buf.close': on<DmaBuf>('buf', (b) => b.close()),
  'buf.dispose': on<DmaBuf>('buf', (b) => b[Symbol.dispose]()),
  // Mapping
  'map.props': on<Mapping>('map', (m) => [m.mapped, m.access, m.offset, m.length, m.kind]),
  'map.buffer': on<Mapping>('map', (m) => m.buffer),
  'map.bytes': on<Mapping>('map', (m) => m.bytes),
  'map.read': on<Mapping>('map', (m, a) => call(m.read.bind(m), [a[0], a[1] === undefined && m.length > 1 << 24 ? 4096 : a[1]])),
  'map.unmap': on<Mapping>('map', (m) => m.unmap()),
  'map.dispose': on<Mapping>('map', (m) => m[Symbol.dispose]()),
  // Heap
  'heap.allocate': on<Heap>('heap', (h, a) => call(h.allocate.bind(h), a)),
  'heap.allocate(page)': on<Heap>('heap', (h, a) => h.allocate(4096, a[1] as object)),
  'heap.close': on<Heap>('heap', (h) => h.close()),
  'heap.dispose': on<Heap>('heap', (h) => h[Symbol.dispose]()),
  // Memfd
  'memfd.fd': on<Memfd>('memfd', (m) => m.fd),
  'memfd.seals': on<Memfd>('memfd', (m) => m.seals),
  'memfd.addSeals': on<Memfd>('memfd', (m, a) => call(m.addSeals.bind(m), a)),
  'memfd.write': on<Memfd>('memfd', (m, a) => call(m.write.bind(m), a)),
  'memfd.read': on<Memfd>('memfd', (m, a) => call(m.read.bind(m), a)),
  'memfd.close': on<Memfd>('memfd', (m) => m.close()),
  // Device
  'dev.fd': on<Device>('dev', (d) => d.fd),
  'dev.getCap': on<Device>('dev', (d, a) => call(d.getCap.bind(d), a)),
  'dev.info': on<Device>('dev', (d) => d.info()),
  'dev.handles': on<Device>('dev', (d) => d.handles),
  'dev.createDumb': on<Device>('dev', (d, a) => call(d.createDumb.bind(d), a)),
  'dev.createDumb(small)': on<Device>('dev', (d) => d.createDumb({ width: 64, height: 16, bpp: 32 })),
  'dev.import': on<Device>('dev', (d, a) => call(d.import.bind(d), a)),
  'dev.close': on<Device>('dev', (d) => d.close()),
  // DumbBuffer
  'dumb.map': on<DumbBuffer>('dumb', (d) => d.map()),
  'dumb.export': on<DumbBuffer>('dumb', (d, a) => call(d.export.bind(d), a)),
  'dumb.destroy': on<DumbBuffer>('dumb', (d) => d.destroy()),
  // GemHandle
  'gem.release': on<GemHandle>('gem', (g) => g.release()),
  // SyncFile
  'sync.fd': on<SyncFile>('sync', (s) => s.fd),
  'sync.info': on<SyncFile>('sync', (s) => s.info()),
  'sync.signaled': on<SyncFile>('sync', (s) => s.signaled),
  'sync.wait': on<SyncFile>('sync', (s, a) => call(s.wait.bind(s), a)),
  'sync.merge': on<SyncFile>('sync', (s, a) => call(s.merge.bind(s), a)),
  'sync.close': on<SyncFile>('sync', (s) => s.close()),
  // Exporter and Attachment
  'Exporter.new': (_p, a) => new Exporter(a[0] as never),
  'Exporter.new(small)': (_p, a, t) => new Exporter({ size: 4096 * (1 + (t % 4)), providers: [PROVIDERS[t % PROVIDERS.length]!, 'udmabuf', 'heap:system'], ...(a[0] as object) }),
  'Exporter.new(huge)': (_p, _a, t) => new Exporter({ size: HUGE[t % HUGE.length]!, providers: [PROVIDERS[t % PROVIDERS.length]!, PROVIDERS[(t + 1) % PROVIDERS.length]!] }),
  'exp.attach': on<Exporter>('exp', (e, a) => call(e.attach.bind(e), a)),
  'exp.attach(cpu)': on<Exporter>('exp', (e) => e.attach('cpu')),
  'exp.attach(dev)': (p, a, t) => {
    const e = pick(p.exp, t);
    const d = pick(p.dev, t + 1);
    if (!e || !d) return SKIP;
    return e.attach(d, a[0] as never);
  },
  'Exporter.new(frame)': (_p, a, t) => new Exporter({ frame: { width: DIMS[t % DIMS.length]!, height: 2 + (t % 7), format: FORMATS[t % FORMATS.length]! },
    providers: [PROVIDERS[t % PROVIDERS.length]!, 'udmabuf'], ...(a[0] as object) }),
  'exp.attach(display)': (p, a, t) => {
    const e = pick(p.exp, t);
    const d = pick(p.disp, t + 1);
    if (!e || !d) return SKIP;
    return e.attach(d, a[0] as never);
  },
  'exp.detach': on<Exporter>('exp', (e, a) => call(e.detach.bind(e), a)),
  'exp.props': on<Exporter>('exp', (e) => [e.closed, e.backing, e.attachments.length, e.stats()]),
  'exp.close': on<Exporter>('exp', (e) => e.close()),
  'exp.dispose': on<Exporter>('exp', (e) => e[Symbol.dispose]()),
  'att.map': on<Attachment>('att', (x) => x.map()),
  'att.unmap': on<Attachment>('att', (x, a) => call(x.unmap.bind(x), a)),
  'att.detach': on<Attachment>('att', (x) => x.detach()),
  'att.props': on<Attachment>('att', (x) => [x.mapped, x.mappedSince, x.detached, x.toJSON()]),
  // Frame, FramePool, Framebuffer
  'Frame.allocate': (_p, a) => call(Frame.allocate, a),
  'Frame.allocate(small)': (_p, a, t) => Frame.allocate({ width: 8 + t, height: 2 + (t % 5), format: FORMATS[t % FORMATS.length]! },
    { provider: PROVIDERS[t % PROVIDERS.length]!, buffers: t % 2 ? 'one' : 'per-plane', ...(a[0] as object) }),
  'Frame.allocate(huge)': (_p, _a, t) => Frame.allocate({ width: DIMS[t % DIMS.length]!, height: DIMS[(t + 4) % DIMS.length]!,
    format: FORMATS[t % FORMATS.length]! }, { provider: PROVIDERS[(t + 1) % PROVIDERS.length]! }),
  'Frame.allocate(coded)': (_p, a, t) => Frame.allocate({ width: DIMS[t % DIMS.length]!, height: 4, format: ['FWHT', 'H264', 'VP9'][t % 3]!,
    size: [1, 4096, 65537, 0, 2 ** 32, undefined][t % 6] }, { provider: PROVIDERS[t % PROVIDERS.length]!, ...(a[0] as object) }),
  'Frame.from': (p, a, t) => Frame.from({ width: 4 + (t % 8), height: 4, format: FORMATS[t % FORMATS.length]!,
    planes: [{ buffer: pick(p.buf, t) ?? a[0], pitch: a[1], offset: a[2] }], ...(a[0] as object) } as never),
  'frame.access': on<Frame>('frame', (f, a) => call(f.access.bind(f), a)),
  'frame.accessAsync': on<Frame>('frame', (f, a) => call(f.accessAsync.bind(f), a)),
  'frame.props': on<Frame>('frame', (f) => [f.width, f.height, f.format.name, f.modifier, f.planes.length, f.buffers.length, f.closed]),
  'frame.release': on<Frame>('frame', (f) => f.release()),
  'frame.close': on<Frame>('frame', (f) => f.close()),
  'FramePool.new': (_p, a) => new FramePool(a[0] as never),
  'FramePool.new(small)': (_p, a, t) => new FramePool({ width: 16, height: 8, format: FORMATS[t % 3]!, count: 1 + (t % 3),
    provider: PROVIDERS[t % PROVIDERS.length]!, ...(a[0] as object) }),
  'FramePool.new(huge)': (_p, _a, t) => new FramePool({ width: 65535, height: 65535, format: 'XRGB8888', count: [1, 3, 1000][t % 3]!,
    provider: PROVIDERS[t % PROVIDERS.length]! }),
  'pool.acquire': on<FramePool>('pool', (x) => x.acquire()),
  'pool.acquireAsync': on<FramePool>('pool', (x, a) => call(x.acquireAsync.bind(x), [bounded(a[0], 20)])),
  'pool.props': on<FramePool>('pool', (x) => [x.stats(), x.frames.length, x.closed]),
  'pool.close': on<FramePool>('pool', (x) => x.close()),
  'drm.open(vkms)': () => drm.open({ driver: 'vkms' }),
  'dev.addFramebuffer': (p, a, t) => {
    const d = pick(p.dev, t);
    if (!d) return SKIP;
    return call(d.addFramebuffer.bind(d), [pick(p.frame, t + 1) ?? a[0]]);
  },
  'fb.draw': on<Framebuffer>('fb', (f, a) => call(f.draw.bind(f), a)),
  'fb.props': on<Framebuffer>('fb', (f) => [f.id, f.format, f.planes.length, f.released]),
  'fb.release': on<Framebuffer>('fb', (f) => f.release()),
  // atomic display (vkms): commits of any framebuffer on any plane with any rectangles, writeback into any frame
  'Display.open(atomic)': (p, a, t) => {
    const d = pick(p.dev, t);
    if (!d) return SKIP;
    return Display.open(d, { atomic: true, writeback: t % 2 === 0, ...(a[0] as object) });
  },
  'disp.commit': on<Display>('disp', (d, a) => settleCommit(call(d.commit.bind(d), [a[0], bounded(a[1], 200)]))),
  'disp.commit(planes)': (p, a, t) => {
    const d = pick(p.disp, t);
    if (!d) return SKIP;
    const plane = d.planes[t % Math.max(1, d.planes.length)] ?? a[0];
    return settleCommit(d.commit([{ plane: plane as never, fb: (pick(p.fb, t + 1) ?? a[1]) as never, x: a[2] as never, y: (t * 37) % 900,
      src: t % 3 === 0 ? { width: a[0] as never } : undefined, properties: t % 5 === 0 ? (a[1] as never) : undefined }],
      { testOnly: t % 2 === 0, nonblock: t % 3 === 1, timeout: 200 }));
  },
  'disp.writeback': (p, a, t) => {
    const d = pick(p.disp, t);
    if (!d) return SKIP;
    return call(d.writeback.bind(d), [pick(p.frame, t + 1) ?? a[0], { timeout: 200 }]);
  },
  'disp.props': on<Display>('disp', (d) => [d.planes.length, d.crtcProperties, d.writebackConnector, d.current, d.closed]),
  'disp.close': on<Display>('disp', (d) => d.close()),
  // V4L2 (vivid in the VM; the mock's video devices where it has them)
  'v4l2.list': () => v4l2.list(),
  'v4l2.open': (_p, a) => call(v4l2.open, a),
  'v4l2.open(vivid)': (_p, _a, t) => v4l2.open({ driver: 'vivid', ...(t % 2 ? { capture: true } : { output: true }) }),
  'vq.setFormat': onQueue((q, a) => call(q.setFormat.bind(q), a)),
  'vq.setFormat(small)': onQueue((q, _a, t) => q.setFormat({ width: 64 + 16 * (t % 4), height: 48, format: FORMATS[t % FORMATS.length]! })),
  'vq.formats': onQueue((q) => q.formats()),
  'vq.exportBuffers': onQueue((q, a) => call(q.exportBuffers.bind(q), a)),
  'vq.exportBuffers(2)': onQueue((q) => q.exportBuffers(2)),
  'vq.importBuffers': onQueue((q, a) => call(q.importBuffers.bind(q), a)),
  'vq.queue': (p, a, t) => {
    const q = pickQueue(p, t);
    if (!q) return SKIP;
    return call(q.queue.bind(q), [pick(p.frame, t + 1) ?? a[0], a[1]]);
  },
  'vq.start': onQueue((q) => q.start()),
  'vq.dequeue': onQueue((q, a) => call(q.dequeue.bind(q), [bounded(a[0], 30)])),
  'vq.stop': onQueue((q) => q.stop()),
  'vq.release': onQueue((q) => q.release()),
  'vdev.controls': on<VideoDevice>('vdev', (d) => d.controls().length),
  'vdev.setControl': on<VideoDevice>('vdev', (d, a) => call(d.setControl.bind(d), a)),
  'vdev.getControl': on<VideoDevice>('vdev', (d, a) => call(d.getControl.bind(d), a)),
  'vdev.close': on<VideoDevice>('vdev', (d) => d.close()),
  // user mistakes: an fd closed behind the library's back (its number is then reused by later opens)
  'mistake.closeFd': (p, _a, t) => {
    const list = [...p.buf, ...p.sync, ...p.memfd, ...p.dev].filter((o) => !o.closed);
    const o = pick(list, t);
    if (!o) return SKIP;
    backend.close(o.fd);
    return undefined;
  },
};
const OP_NAMES = Object.keys(OPS);

function pickQueue(p: Pool, t: number): VideoQueue | undefined {
  const d = pick(p.vdev, t);
  return d === undefined ? undefined : (t % 3 === 0 ? d.output ?? d.capture : d.capture ?? d.output) ?? undefined;
}

/** A commit's out-fence is the caller's to close (the fd check would see it); its promises are awaited. */
function settleCommit(r: unknown): unknown {
  if (!(r instanceof Promise)) return r;
  return r.then(async (x: { outFence?: SyncFile | null; completed?: Promise<unknown>; writeback?: Promise<unknown> | null }) => {
    x.outFence?.close();
    await Promise.allSettled([x.completed, x.writeback]);
    return undefined;
  });
}

function onQueue(f: (q: VideoQueue, a: unknown[], t: number) => unknown): Fn {
  return (p, a, t) => {
    const q = pickQueue(p, t);
    return q === undefined ? SKIP : f(q, a, t);
  };
}

// Creation ops get more weight so that there is something to call methods on.
const CREATORS = ['udmabuf.create(page)', 'udmabuf.memfd(page)', 'udmabuf.create(item)', 'heaps.open(system)', 'heap.allocate(page)', 'drm.open(vgem)', 'dev.createDumb(small)',
  'dumb.export', 'buf.map()', 'udmabuf.memfd', 'buf.exportSyncFile', 'dev.import', 'buf.dup', 'Exporter.new(small)',
  'Exporter.new(huge)', 'Exporter.new(frame)', 'exp.attach(cpu)', 'exp.attach(dev)', 'exp.attach(display)', 'att.map', 'Frame.allocate(small)', 'Frame.allocate(huge)',
  'FramePool.new(small)', 'FramePool.new(huge)', 'pool.acquire', 'drm.open(vkms)', 'dev.addFramebuffer', 'Display.open(atomic)', 'v4l2.open(vivid)',
  'vq.setFormat(small)', 'vq.exportBuffers(2)'];

const stepArb = fc.record({
  op: fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...OP_NAMES) }, { weight: 2, arbitrary: fc.constantFrom(...CREATORS) }),
  t: fc.nat(30),
  args: fc.array(argArb, { maxLength: 3 }),
});
type Step = { op: string; t: number; args: Arg[] };

// ---- checks ------------------------------------------------------------------------------------------

function checkError(e: unknown, step: Step): void {
  threw++;
  if (e instanceof UserError) return; // the caller's own error, passed through
  const err = e as { code?: unknown; errno?: unknown; syscall?: unknown; message?: string };
  if (!(e instanceof Error) || typeof err.code !== 'string') {
    throw new Error(`${step.op}: uncoded error ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
  }
  codes.set(err.code, (codes.get(err.code) ?? 0) + 1);
  if (err.code.startsWith('ERR_') || err.code === 'ABORT_ERR') return;
  if (!/^E[A-Z0-9]+$/.test(err.code)) throw new Error(`${step.op}: unexpected code ${err.code} (${err.message})`);
  if (typeof err.errno !== 'number' || typeof err.syscall !== 'string') {
    throw new Error(`${step.op}: errno error ${err.code} without errno/syscall (${err.message})`);
  }
  if (lib.errnoValue(err.code) !== err.errno && !/^E\d+$/.test(err.code)) {
    throw new Error(`${step.op}: ${err.code} with errno ${err.errno}`);
  }
}

function checkViews(pool: Pool): void {
  for (const { view, mapping } of pool.views) {
    if (!mapping.mapped && view.length !== 0) throw new Error(`a view of an unmapped mapping has length ${view.length}`);
  }
  for (const [m, owner] of pool.owners) {
    if (owner.closed && m.mapped) throw new Error(`a mapping of a closed ${owner.constructor.name} is still mapped`);
  }
}

const TIMEOUT = Symbol('timeout');
async function settle(p: Promise<unknown>): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise((r) => { timer = setTimeout(() => r(TIMEOUT), 10000); });
  try {
    const v = await Promise.race([p, t]);
    if (v === TIMEOUT) throw new Error('a promise did not settle within 10 s on an idle buffer');
    return v;
  } finally {
    clearTimeout(timer);
  }
}

async function runStep(pool: Pool, step: Step): Promise<void> {
  const fn = OPS[step.op]!;
  const args = step.args.map((a) => resolve(pool, a));
  let owner: DmaBuf | Device | undefined;
  if (step.op === 'buf.map' || step.op === 'buf.map()') owner = pick(pool.buf, step.t);
  if (step.op === 'dumb.map') owner = pick(pool.dumb, step.t)?.device;
  let result: unknown;
  let counted = false;
  try {
    result = fn(pool, args, step.t);
    if (result === SKIP) return;
    calls++;
    counted = true;
    if (result instanceof Promise) result = await settle(result);
  } catch (e) {
    if (!counted) calls++;
    if (e instanceof Error && /did not settle/.test(e.message)) throw e;
    checkError(e, step);
    return;
  }
  succeeded++;
  if (step.op === 'buf.release' && typeof result === 'number') pool.raw.push(result);
  if (step.op === 'map.bytes' && result instanceof Uint8Array) pool.views.push({ view: result, mapping: pick(pool.map, step.t)! });
  if (Array.isArray(result)) {
    for (const x of result) if (x instanceof Frame) adopt(pool, x); // exportBuffers' frames
    return;
  }
  if (result !== null && typeof result === 'object' && (result as { frame?: unknown }).frame instanceof Frame) return; // dequeued
  adopt(pool, result, owner);
}

function closeAll(pool: Pool): void {
  const quietly = (f: () => void) => { try { f(); } catch { /* closed behind its back, or already gone */ } };
  for (const f of pool.fb) quietly(() => f.release());
  for (const d of pool.disp) quietly(() => d.close());
  for (const d of pool.vdev) quietly(() => d.close());
  for (const x of pool.pool) quietly(() => x.close());
  for (const f of pool.frame) quietly(() => f.close());
  for (const e of pool.exp) quietly(() => e.close());
  for (const m of pool.map) quietly(() => m.unmap());
  for (const g of pool.gem) quietly(() => g.release());
  for (const d of pool.dumb) quietly(() => d.destroy());
  for (const b of pool.buf) quietly(() => b.close());
  for (const s of pool.sync) quietly(() => s.close());
  for (const h of pool.heap) quietly(() => h.close());
  for (const m of pool.memfd) quietly(() => m.close());
  for (const d of pool.dev) quietly(() => d.close());
  for (const fd of pool.raw) quietly(() => backend.close(fd));
}

function openFds(): string[] {
  if (backend.name === 'mock') return (backend as unknown as { openFds(): number[] }).openFds().map(String);
  const out: string[] = [];
  for (const n of fs.readdirSync('/proc/self/fd')) {
    try {
      out.push(`${n}:${fs.readlinkSync(`/proc/self/fd/${n}`)}`);
    } catch { /* the readdir's own fd */ }
  }
  return out.sort();
}

async function main(): Promise<void> {
  // Warm up what the library keeps open for the process's lifetime (the /dev/udmabuf fd).
  try { udmabuf.create(4096).close(); } catch { /* no udmabuf here */ }
  const baseline = openFds();
  const started = Date.now();
  let sequences = 0;
  const details = await fc.check(
    fc.asyncProperty(fc.array(stepArb, { minLength: 1, maxLength: maxLen, size: 'max' }), async (steps) => {
      sequences++;
      const pool = newPool();
      try {
        for (const step of steps) {
          await runStep(pool, step);
          checkViews(pool);
        }
      } finally {
        closeAll(pool);
      }
      checkViews(pool);
      const now = openFds();
      const leaked = now.filter((x) => !baseline.includes(x));
      const lost = baseline.filter((x) => !now.includes(x));
      if (leaked.length > 0 || lost.length > 0) {
        throw new Error(`fds changed: leaked ${JSON.stringify(leaked)}, closed by mistake ${JSON.stringify(lost)}`);
      }
    }),
    { seed, numRuns: runs, endOnFailure: false, verbose: 0 },
  );
  const result = {
    backend: backend.name,
    seed,
    runs,
    sequences,
    calls,
    threw,
    succeeded,
    codes: Object.fromEntries([...codes].sort((a, b) => b[1] - a[1])),
    ms: Date.now() - started,
    failed: details.failed,
    counterexample: details.failed ? JSON.stringify(details.counterexample, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v)) : undefined,
    error: details.failed ? String((details.errorInstance as Error | undefined)?.stack ?? details.errorInstance) : undefined,
    fdsAtStart: baseline.length,
    fdsAtEnd: openFds().length,
  };
  process.stdout.write(`FUZZ-RESULT ${JSON.stringify(result)}\n`);
  process.exitCode = details.failed ? 1 : 0;
}

process.on('warning', () => { /* DMABUF_UNCLOSED warnings are expected: objects dropped by shrinking */ });
main().catch((e) => {
  process.stdout.write(`FUZZ-RESULT ${JSON.stringify({ failed: true, error: String((e as Error).stack ?? e) })}\n`);
  process.exitCode = 1;
});
