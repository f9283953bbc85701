/**
 * The mock backend: a TypeScript model of the parts of the Linux kernel this library uses, with the
 * same Backend API and the same errno results (notes/uapi.md §1–3, notes/conformance.md A, C, D, G, H).
 *
 * Modelled: an fd table over open file descriptions (dup shares one; numbers count up from 1000),
 * a small file system (/dev/udmabuf, /dev/dma_heap/*, /dev/dri/{cardN,renderD128+N}, /dev/shm/*,
 * sw_sync in debugfs, udmabuf's module parameters, /proc/self/{fd,fdinfo}/N, /proc/sys/kernel/osrelease),
 * memfd with seals, udmabuf, dma-heaps with a CMA budget, dma-buf files (lseek/fstat/fdinfo/readlink,
 * SYNC, SET_NAME, sync-file export/import, poll), sync_file and sw_sync fences, DRM (vgem, vkms,
 * virtio_gpu: version, caps, dumb buffers, PRIME with the kernel's caching rules, vgem fences), KMS
 * modelled on vkms (mock/kms.ts: resources, connector, CRTC, framebuffers, SETCRTC, PAGE_FLIP events), and
 * mmap with zero-copy views.
 *
 * Limits (documented behaviour of the model, not of the kernel):
 * - Memory (mock/pages.ts): a dma-buf's bytes are one ArrayBuffer; every mapping that asks for an
 *   ArrayBuffer gets that same one (true aliasing). So mapBuffer() works for a mapping of a whole
 *   buffer from offset 0 (of a memfd: of a range that is one store) and is ERR_DMABUF_UNSUPPORTED
 *   otherwise (mapRead() works for any mapping). munmap detaches the views of the buffer when no
 *   other live mapping of it has handed out its ArrayBuffer; while one has, earlier views stay usable.
 * - udmabuf re-points the memfd's range at the dma-buf's bytes, so they are shared both ways; a memfd
 *   range used by two udmabufs that are not the same range is shared with the newer one only, and a
 *   view of a memfd mapping made before the udmabuf keeps the old bytes.
 *   MAP_PRIVATE mappings are snapshots. hugetlb memfds are not modelled.
 * - Blocking: JavaScript cannot block waiting for an event that only JavaScript can cause. So
 *   dmabufSync(START) on a buffer with unsignalled fences, and poll() with timeout -1 that is not ready,
 *   throw ERR_DMABUF_UNSUPPORTED; poll() with a finite timeout that is not ready returns 0 at once.
 *   dmabufSyncAsync()/pollAsync() really wait (fences signal through swSyncInc, vgemFenceSignal or
 *   vgem's 10 s expiry).
 * - No sockets: sendFds/recvFds throw ERR_DMABUF_UNSUPPORTED. access() ignores permissions.
 * - A non-DRM ioctl on a DRM fd gives ENOTTY (the kernel would reinterpret it by number).
 */
import * as path from 'path';
import {
  DMA_BUF_SYNC_END, DMA_BUF_SYNC_READ, DMA_BUF_SYNC_RW, DMA_BUF_SYNC_WRITE, DMA_BUF_NAME_LEN, DRM_CLOEXEC, DRM_RDWR,
  F_SEAL_FUTURE_WRITE, F_SEAL_GROW, F_SEAL_SEAL, F_SEAL_SHRINK, F_SEAL_WRITE, MAP_PRIVATE, MAP_SHARED,
  MFD_ALLOW_SEALING, MFD_CLOEXEC, MFD_HUGETLB, O_ACCMODE, O_CLOEXEC, O_NONBLOCK, O_RDONLY, O_RDWR, O_WRONLY,
  POLLIN, POLLNVAL, POLLOUT, PROT_READ, PROT_WRITE, SEEK_CUR, SEEK_DATA, SEEK_END, SEEK_HOLE, SEEK_SET,
  VGEM_FENCE_WRITE,
} from '../constants';
import {
  invalidArgType, MAX_SAFE, outOfRange, stateError, systemError, unsupportedError, validateInt, validateString,
} from '../errors';
import type {
  Backend, DrmEvent, DrmVersion, DumbBuffer, Fd, KmsConnector, KmsCrtc, KmsModeInfo, KmsResources, MapHandle, StatInfo,
  SyncFileInfo, UdmabufItem,
} from './types';
import { Fence, FenceHub, Resv, SyncPayload, Timeline } from './mock/fences';
import { Extents, Store, type Memory } from './mock/pages';
import { KmsModel } from './mock/kms';

// ---- options ---------------------------------------------------------------------------------------

export type MockDrmDriver = 'vgem' | 'vkms' | 'virtio_gpu';

export interface MockHeapOptions {
  name: string;
  /** Physically contiguous (CMA): allocations beyond `size` in total fail ENOMEM. */
  contiguous?: boolean;
  /** Bytes this heap can hand out (CMA reserve; default: `memory` for other heaps). */
  size?: number;
}

export interface MockDrmOptions {
  driver: MockDrmDriver;
  /** PRIME import of another device's dma-buf (default: true, but false for virtio_gpu → ENODEV). */
  importForeign?: boolean;
}

export interface MockOptions {
  /** Default 4096. */
  pageSize?: number;
  /** Default: system, and linux,cma with 64 MiB. */
  heaps?: MockHeapOptions[];
  /** /dev/udmabuf: present (default) with its module parameters, or absent. */
  udmabuf?: boolean | { sizeLimitMb?: number; listLimit?: number };
  /** DRM devices; index N is /dev/dri/cardN (and renderD(128+N) when the driver has render nodes). */
  drm?: (MockDrmDriver | MockDrmOptions)[];
  /** /sys/kernel/debug/sync/sw_sync (default true). */
  swSync?: boolean;
  /** uname -r (default '6.12.0-mock'). */
  kernel?: string;
  /** RAM for the system heap (default 8 GiB; pages are only allocated when touched). */
  memory?: number;
}

export interface ResolvedMockOptions {
  pageSize: number;
  heaps: Required<MockHeapOptions>[];
  udmabuf: { sizeLimitMb: number; listLimit: number } | null;
  drm: Required<MockDrmOptions>[];
  swSync: boolean;
  kernel: string;
  memory: number;
}

/** Test hooks beside the Backend API. */
export interface MockControl {
  readonly options: ResolvedMockOptions;
  /** fds open in the model, ascending (leak tests). */
  openFds(): number[];
  /** Mappings not yet unmapped. */
  liveMappings(): number;
  /** Forget every fd, buffer, fence and mapping: a freshly booted machine with the same options. */
  reset(): void;
}

function resolve(o: MockOptions): ResolvedMockOptions {
  const memory = o.memory ?? 8 * 2 ** 30;
  const heaps = (o.heaps ?? [{ name: 'system' }, { name: 'linux,cma', contiguous: true, size: 64 * 2 ** 20 }])
    .map((h) => ({ name: h.name, contiguous: h.contiguous ?? false, size: h.size ?? memory }));
  const u = o.udmabuf ?? true;
  return {
    pageSize: validateInt(o.pageSize ?? 4096, 'options.pageSize', 1),
    heaps,
    udmabuf: u === false ? null : { sizeLimitMb: (u === true ? undefined : u.sizeLimitMb) ?? 64,
      listLimit: (u === true ? undefined : u.listLimit) ?? 1024 },
    drm: (o.drm ?? ['vgem', 'vkms']).map((d) => {
      const x = typeof d === 'string' ? { driver: d } : d;
      return { driver: x.driver, importForeign: x.importForeign ?? x.driver !== 'virtio_gpu' };
    }),
    swSync: o.swSync ?? true,
    kernel: o.kernel ?? '6.12.0-mock',
    memory,
  };
}

// ---- kernel constants the model needs ----------------------------------------------------------------

const EPERM = 1, ENOENT = 2, ENXIO = 6, EBADF = 9, EAGAIN = 11, ENOMEM = 12, EACCES = 13, EBUSY = 16,
  EEXIST = 17, ENODEV = 19, ENOTDIR = 20, EISDIR = 21, EINVAL = 22, ENOTTY = 25, ESPIPE = 29, EBADFD = 77,
  EOPNOTSUPP = 95, ETIMEDOUT = 110;
const O_CREAT = 0o100, O_EXCL = 0o200, O_TRUNC = 0o1000, O_LARGEFILE = 0o100000, O_DIRECTORY = 0o200000;
const S_IFREG = 0o100000, S_IFDIR = 0o040000, S_IFCHR = 0o020000;
const F_SEAL_EXEC = 0x20, F_ALL_SEALS = 0x3f, MFD_NOEXEC_SEAL = 0x8, MFD_EXEC = 0x10, MFD_NAME_MAX = 249;
const POLL_DEFAULT = POLLIN | POLLOUT | 0x40 | 0x100; // DEFAULT_POLLMASK: + POLLRDNORM | POLLWRNORM
const U32_MAX = 0xffffffff;
const DRM_FILE_PAGE_OFFSET_START = 0x100000; // in pages
const VGEM_FENCE_TIMEOUT_MS = 10_000;

interface DriverModel {
  version: [number, number, number];
  date: string;
  desc: string;
  render: boolean;
  modeset: boolean;
  exporter: string;
  bpp32Only: boolean;
}

const DRIVERS: Record<MockDrmDriver, DriverModel> = {
  vgem: { version: [1, 0, 0], date: '20120112', desc: 'Virtual GEM provider', render: true, modeset: false,
    exporter: 'drm', bpp32Only: false },
  vkms: { version: [1, 0, 0], date: '20180514', desc: 'Virtual Kernel Mode Setting', render: false, modeset: true,
    exporter: 'drm', bpp32Only: false },
  virtio_gpu: { version: [0, 1, 0], date: '0', desc: 'virtio GPU', render: true, modeset: true,
    exporter: 'virtio_gpu', bpp32Only: true },
};

// ---- kernel objects ----------------------------------------------------------------------------------

interface DrmDevice {
  driver: MockDrmDriver;
  model: DriverModel;
  importForeign: boolean;
  /** MAP_DUMB fake offsets (in pages) → object; device-wide like drm_vma_offset_manager. */
  offsets: Map<number, Bo>;
  nextPgoff: number;
}

interface HeapState {
  name: string;
  size: number;
  used: number;
  contiguous: boolean;
}

/** A tmpfs inode: a memfd or a /dev/shm file. */
interface ShmInode {
  ino: bigint;
  mem: Extents;
  /** Live writable MAP_SHARED mappings (F_SEAL_WRITE is refused while there are any). */
  writableMaps: number;
  seals: number;
  name: string;
  memfd: boolean;
}

/** A buffer object: the pages and fences shared by a dma-buf and the GEM handles that refer to it. */
class Bo {
  readonly resv = new Resv();
  /** udmabuf: SYNC END before any START is EINVAL. */
  cpuAccessBegun = false;
  /** Its live dma-buf: the PRIME export cache; the only dma-buf of a udmabuf or heap buffer. */
  dmabuf: DmabufFile | null = null;
  mmapPgoff: number | null = null;
  handles = 0;

  constructor(readonly pages: Store, readonly exporter: string, readonly kind: 'udmabuf' | 'heap' | 'gem',
    readonly dev: DrmDevice | null) {}
}

interface FileBase {
  ino: bigint;
  /** f_flags as F_GETFL reports them (never O_CLOEXEC: every fd is close-on-exec). */
  flags: number;
  pos: number;
  path: string;
  /** References: fd table entries, mappings, kernel-internal ones (PRIME tables, async waits). */
  refs: number;
}
interface DeviceFile extends FileBase { kind: 'udmabuf-dev' }
interface HeapFile extends FileBase { kind: 'heap'; heap: HeapState }
interface DrmFile extends FileBase {
  kind: 'drm';
  dev: DrmDevice;
  render: boolean;
  clientId: number;
  handles: Map<number, Bo>;
  /** drm_prime_file_private: object → its handle and dma-buf in this file (holds a dma-buf ref). */
  prime: Map<Bo, { handle: number; dmabuf: DmabufFile }>;
  fences: Map<number, Fence>;
  nextFence: number;
}
interface DmabufFile extends FileBase { kind: 'dmabuf'; bo: Bo; name: string | null; onRelease?: () => void }
interface MemfdFile extends FileBase { kind: 'memfd'; node: ShmInode }
interface SyncFile extends FileBase { kind: 'syncfile'; sync: SyncPayload }
interface SwSyncFile extends FileBase { kind: 'sw_sync'; timeline: Timeline }
interface TextFile extends FileBase { kind: 'file'; text: string }
interface DirFile extends FileBase { kind: 'dir' }
type OpenFile = DeviceFile | HeapFile | DrmFile | DmabufFile | MemfdFile | SyncFile | SwSyncFile | TextFile | DirFile;
type Kind = OpenFile['kind'];
type FileOf<K extends Kind> = Extract<OpenFile, { kind: K }>;

/** A file-system entry. `open` makes the open file description (refs 0). */
interface VNode {
  type: 'chr' | 'reg' | 'dir' | 'lnk';
  ino: bigint;
  rdev: bigint;
  perm: number;
  size: number;
  open?: (flags: number) => OpenFile;
}

class MockMapping implements MapHandle {
  live = true;
  ab: ArrayBuffer | null = null;

  /** The store whose ArrayBuffer this mapping handed out. */
  store: Store | null = null;

  constructor(readonly length: number, readonly prot: number, readonly mem: Memory, readonly offset: number,
    readonly file: OpenFile, readonly node: ShmInode | null) {}
}

const makedev = (major: number, minor: number): bigint => BigInt((major << 8) | minor);
const uid = (): number => process.getuid?.() ?? 0;
const gid = (): number => process.getgid?.() ?? 0;
const readable = (f: FileBase): boolean => (f.flags & O_ACCMODE) === O_RDONLY || (f.flags & O_ACCMODE) === O_RDWR;
const writable = (f: FileBase): boolean => (f.flags & O_ACCMODE) === O_WRONLY || (f.flags & O_ACCMODE) === O_RDWR;
/** A JS integer as the kernel sees it in a __u32 field. */
const u32 = (v: number): number => Number(BigInt.asUintN(32, BigInt(v)));

// ---- the machine ---------------------------------------------------------------------------------------

class Kernel {
  readonly fds = new Map<number, OpenFile>();
  readonly hub = new FenceHub();
  readonly maps = new Set<MockMapping>();
  readonly shm = new Map<string, ShmInode>();
  readonly nodes = new Map<string, VNode>();
  readonly dirs = new Set<string>(['/', '/dev', '/dev/shm', '/proc', '/proc/self', '/proc/self/fd',
    '/proc/self/fdinfo', '/proc/sys', '/proc/sys/kernel', '/sys']);
  readonly devices: DrmDevice[] = [];
  readonly timers = new Set<NodeJS.Timeout>();
  /** KMS of the modesetting devices (mock/kms.ts, modelled on vkms) */
  readonly kms = new KmsModel(this);
  #nextFd = 1000;
  #nextIno = 0x2000n;
  #nextClient = 1;
  /** The one anon inode that every sync_file shares. */
  readonly anonIno = this.ino();

  constructor(readonly o: ResolvedMockOptions) {
    if (o.udmabuf) {
      const u = o.udmabuf;
      this.#node('/dev/udmabuf', 'chr', makedev(10, 125), 0o660, (flags) => this.file('/dev/udmabuf', flags, { kind: 'udmabuf-dev' }));
      this.#text('/sys/module/udmabuf/parameters/size_limit_mb', () => `${u.sizeLimitMb}\n`);
      this.#text('/sys/module/udmabuf/parameters/list_limit', () => `${u.listLimit}\n`);
    }
    const heapStates: HeapState[] = [];
    o.heaps.forEach((h, i) => {
      const heap: HeapState = { name: h.name, size: h.size, used: 0, contiguous: h.contiguous };
      heapStates.push(heap);
      const p = `/dev/dma_heap/${h.name}`;
      this.#node(p, 'chr', makedev(251, i), 0o666, (flags) => this.file(p, flags, { kind: 'heap', heap }));
    });
    o.drm.forEach((d, i) => {
      const dev: DrmDevice = { driver: d.driver, model: DRIVERS[d.driver], importForeign: d.importForeign,
        offsets: new Map(), nextPgoff: DRM_FILE_PAGE_OFFSET_START };
      this.devices.push(dev);
      this.kms.addDevice(dev, dev.model.modeset);
      const nodes: [string, number, boolean][] = [[`/dev/dri/card${i}`, i, false]];
      if (dev.model.render) nodes.push([`/dev/dri/renderD${128 + i}`, 128 + i, true]);
      for (const [p, minor, render] of nodes) {
        this.#node(p, 'chr', makedev(226, minor), render ? 0o666 : 0o660, (flags) => {
          const f = this.file(p, flags, {
            kind: 'drm' as const, dev, render, clientId: this.#nextClient++, handles: new Map<number, Bo>(),
            prime: new Map<Bo, { handle: number; dmabuf: DmabufFile }>(), fences: new Map<number, Fence>(), nextFence: 1,
          });
          this.kms.opened(dev, f);
          return f;
        });
      }
    });
    if (o.swSync) {
      const p = '/sys/kernel/debug/sync/sw_sync';
      this.#node(p, 'reg', 0n, 0o600, (flags) => this.file(p, flags, { kind: 'sw_sync', timeline: new Timeline(this.hub, 'node') }));
    }
    this.#text('/proc/sys/kernel/osrelease', () => `${o.kernel}\n`);
    this.#text('/proc/version', () => `Linux version ${o.kernel} (dmabuf mock) #1 SMP PREEMPT_DYNAMIC\n`);
    // what the library's allocation guard reads: `memory` less what the heaps hold; CMA per heap
    this.#text('/proc/meminfo', () => {
      const kb = (n: number) => `${Math.floor(n / 1024)} kB`;
      const used = heapStates.reduce((a, h) => a + h.used, 0);
      const cma = heapStates.filter((h) => h.contiguous);
      return [`MemTotal:       ${kb(o.memory)}`, `MemFree:        ${kb(o.memory - used)}`,
        `MemAvailable:   ${kb(o.memory - used)}`,
        `CmaTotal:       ${kb(cma.reduce((a, h) => a + h.size, 0))}`,
        `CmaFree:        ${kb(cma.reduce((a, h) => a + h.size - h.used, 0))}`, ''].join('\n');
    });
  }

  ino(): bigint {
    return this.#nextIno++;
  }

  #node(p: string, type: VNode['type'], rdev: bigint, perm: number, open: (flags: number) => OpenFile, size = 0): void {
    this.nodes.set(p, { type, ino: this.ino(), rdev, perm, size, open });
    for (let d = path.posix.dirname(p); !this.dirs.has(d); d = path.posix.dirname(d)) this.dirs.add(d);
  }

  #text(p: string, text: () => string): void {
    this.#node(p, 'reg', 0n, 0o444, (flags) => {
      if ((flags & O_ACCMODE) !== O_RDONLY) throw systemError(EACCES, 'open', p);
      return this.file(p, flags, { kind: 'file', text: text() });
    }, 4096);
  }

  /** A new open file description (refs 0) with f_flags as open(2) leaves them. */
  file<T extends Omit<OpenFile, keyof FileBase>>(p: string, flags: number, body: T, ino?: bigint): T & FileBase {
    const node = this.nodes.get(p);
    const f_flags = (flags & (O_ACCMODE | O_NONBLOCK | 0o2000 /* O_APPEND */)) | O_LARGEFILE;
    return { ...body, ino: ino ?? node?.ino ?? this.ino(), flags: f_flags, pos: 0, path: p, refs: 0 };
  }

  install(f: OpenFile): Fd {
    const fd = this.#nextFd++;
    this.fds.set(fd, f);
    f.refs++;
    return fd;
  }

  get(fd: Fd, syscall: string): OpenFile {
    const f = this.fds.get(fd);
    if (f === undefined) throw systemError(EBADF, syscall);
    return f;
  }

  /** The file an ioctl is meant for; a file of another kind answers like the kernel's fallbacks. */
  ioctl<K extends Kind>(fd: Fd, syscall: string, kind: K): FileOf<K> {
    const f = this.get(fd, syscall);
    if (f.kind !== kind) throw systemError(f.kind === 'heap' ? EINVAL : ENOTTY, syscall);
    return f as FileOf<K>;
  }

  newDmabuf(bo: Bo, accmode: number, onRelease?: () => void): DmabufFile {
    const f: DmabufFile = { kind: 'dmabuf', bo, name: null, onRelease, ino: this.ino(), flags: accmode, pos: 0,
      path: 'anon_inode:dmabuf', refs: 0 };
    bo.dmabuf = f;
    return f;
  }

  newSyncFile(sync: SyncPayload): SyncFile {
    return { kind: 'syncfile', sync, ino: this.anonIno, flags: O_RDONLY, pos: 0, path: 'anon_inode:sync_file', refs: 0 };
  }

  unref(f: OpenFile): void {
    if (--f.refs > 0) return;
    switch (f.kind) {
      case 'dmabuf':
        if (f.bo.dmabuf === f) f.bo.dmabuf = null;
        f.onRelease?.();
        break;
      case 'drm':
        this.kms.released(f.dev, f);
        for (const h of [...f.handles.keys()]) this.closeHandle(f, h);
        break;
      case 'sw_sync':
        f.timeline.release();
        break;
      default:
        break;
    }
  }

  addHandle(f: DrmFile, bo: Bo): number {
    let h = 1;
    while (f.handles.has(h)) h++; // idr_alloc: lowest free from 1
    f.handles.set(h, bo);
    bo.handles++;
    return h;
  }

  closeHandle(f: DrmFile, h: number, syscall = 'ioctl(DRM_IOCTL_GEM_CLOSE)'): void {
    const bo = f.handles.get(h);
    if (bo === undefined) throw systemError(EINVAL, syscall);
    f.handles.delete(h);
    const e = f.prime.get(bo);
    if (e !== undefined && e.handle === h) {
      f.prime.delete(bo);
      this.unref(e.dmabuf);
    }
    if (--bo.handles === 0 && bo.dev !== null && bo.mmapPgoff !== null) bo.dev.offsets.delete(bo.mmapPgoff);
  }

  /** Where a path leads, including the generated /proc/self and /dev/shm entries. */
  lookup(p: string): VNode | undefined {
    const fixed = this.nodes.get(p);
    if (fixed !== undefined) return fixed;
    if (this.dirs.has(p)) return { type: 'dir', ino: 2n, rdev: 0n, perm: 0o755, size: 0 };
    const m = /^\/proc\/self\/(fd|fdinfo)\/(\d+)$/.exec(p);
    if (m !== null) {
      const fd = Number(m[2]);
      const f = this.fds.get(fd);
      if (f === undefined) return undefined;
      if (m[1] === 'fd') return { type: 'lnk', ino: 0n, rdev: 0n, perm: 0o700, size: 64 };
      return { type: 'reg', ino: 0n, rdev: 0n, perm: 0o444, size: 0,
        open: (flags) => this.file(p, flags, { kind: 'file', text: this.fdinfo(f) }) };
    }
    const shm = this.shm.get(p);
    if (shm !== undefined) {
      return { type: 'reg', ino: shm.ino, rdev: 0n, perm: 0o644, size: shm.mem.size,
        open: (flags) => this.file(p, flags, { kind: 'memfd', node: shm }, shm.ino) };
    }
    return undefined;
  }

  readdir(p: string): string[] {
    const names = new Set<string>();
    const prefix = p === '/' ? '/' : `${p}/`;
    for (const q of [...this.nodes.keys(), ...this.dirs, ...this.shm.keys()]) {
      if (q.startsWith(prefix) && q.length > prefix.length) names.add(q.slice(prefix.length).split('/')[0]);
    }
    if (p === '/proc/self/fd' || p === '/proc/self/fdinfo') for (const fd of this.fds.keys()) names.add(String(fd));
    return [...names].sort();
  }

  fdinfo(f: OpenFile): string {
    let s = `pos:\t${f.pos}\nflags:\t0${(f.flags | O_CLOEXEC).toString(8)}\nmnt_id:\t15\nino:\t${f.ino}\n`;
    if (f.kind === 'dmabuf') {
      s += `size:\t${f.bo.pages.size}\ncount:\t${f.refs}\nexp_name:\t${f.bo.exporter}\n`;
      if (f.name !== null) s += `name:\t${f.name}\n`;
    } else if (f.kind === 'drm') {
      s += `drm-driver:\t${f.dev.driver}\ndrm-client-id:\t${f.clientId}\n`;
    }
    return s;
  }

  linkTarget(f: OpenFile): string {
    switch (f.kind) {
      case 'dmabuf': return `/dmabuf:${f.name ?? ''}`;
      case 'memfd': return f.node.memfd ? `/memfd:${f.node.name} (deleted)` : f.path;
      default: return f.path;
    }
  }
}

// ---- the backend ------------------------------------------------------------------------------------------

const fdArg = (v: unknown, name = 'fd'): number => validateInt(v, name, 0, 0x7fffffff);
const sizeArg = (v: unknown, name: string): number => validateInt(v, name);
const u32Arg = (v: unknown, name: string): number => validateInt(v, name, 0, U32_MAX);
const intArg = (v: unknown, name: string): number => validateInt(v, name, -MAX_SAFE, MAX_SAFE);

function bytesArg(v: unknown, name: string): Uint8Array {
  if (!(v instanceof Uint8Array)) throw invalidArgType(name, 'an instance of Uint8Array', v);
  return v;
}

function u32List(v: unknown, name: string, max: number): number[] {
  if (!Array.isArray(v)) throw invalidArgType(name, 'an instance of Array', v);
  if (v.length > max) throw outOfRange(`${name}.length`, `<= ${max}`, v.length);
  return v.map((x, i) => u32Arg(x, `${name}[${i}]`));
}

function modeArg(v: unknown, name: string): KmsModeInfo {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw invalidArgType(name, 'of type object or null', v);
  const m = v as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k of ['clock', 'vrefresh', 'flags', 'type']) out[k] = u32Arg(m[k], `${name}.${k}`);
  for (const k of ['hdisplay', 'hsyncStart', 'hsyncEnd', 'htotal', 'hskew', 'vdisplay', 'vsyncStart', 'vsyncEnd', 'vtotal', 'vscan']) {
    out[k] = validateInt(m[k], `${name}.${k}`, 0, 0xffff);
  }
  out.name = validateString(m.name, `${name}.name`);
  return out as unknown as KmsModeInfo;
}

function mappingArg(m: unknown): MockMapping {
  if (!(m instanceof MockMapping)) throw invalidArgType('mapping', 'a mapping made by this backend', m);
  return m;
}

function wouldBlock(what: string): Error {
  return unsupportedError(`${what} would block forever in the mock backend (nothing can signal a fence while ` +
    'the JavaScript thread waits); use the async variant');
}

class MockBackend implements Backend, MockControl {
  readonly name = 'mock' as const;
  readonly options: ResolvedMockOptions;
  readonly pageSize: number;
  #k: Kernel;

  constructor(options: MockOptions) {
    this.options = resolve(options);
    this.pageSize = this.options.pageSize;
    this.#k = new Kernel(this.options);
  }

  // ---- MockControl ----------------------------------------------------------------------------------

  openFds(): number[] {
    return [...this.#k.fds.keys()].sort((a, b) => a - b);
  }

  liveMappings(): number {
    return this.#k.maps.size;
  }

  reset(): void {
    for (const m of [...this.#k.maps]) this.munmap(m);
    for (const t of this.#k.timers) clearTimeout(t);
    this.#k = new Kernel(this.options);
  }

  #pageAlign(n: number): number {
    return Math.ceil(n / this.pageSize) * this.pageSize;
  }

  // ---- files ----------------------------------------------------------------------------------------

  #path(p: unknown, name = 'path'): string {
    const s = validateString(p, name);
    if (!s.startsWith('/')) return s; // relative paths lead nowhere in the model
    const n = path.posix.normalize(s);
    return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
  }

  #openFile(p: string, flags: number): OpenFile {
    const k = this.#k;
    let node = k.lookup(p);
    if (node === undefined && (flags & O_CREAT) && path.posix.dirname(p) === '/dev/shm') {
      const shm: ShmInode = { ino: k.ino(), mem: new Extents(), writableMaps: 0, seals: F_SEAL_SEAL, name: path.posix.basename(p), memfd: false };
      k.shm.set(p, shm);
      node = k.lookup(p);
    } else if (node !== undefined && (flags & O_CREAT) && (flags & O_EXCL)) {
      throw systemError(EEXIST, 'open', p);
    }
    if (node === undefined) throw systemError(ENOENT, 'open', p);
    if (node.type === 'dir') {
      if ((flags & O_ACCMODE) !== O_RDONLY) throw systemError(EISDIR, 'open', p);
      return k.file(p, flags, { kind: 'dir' });
    }
    if (flags & O_DIRECTORY) throw systemError(ENOTDIR, 'open', p);
    if (node.type === 'lnk') {
      const target = k.fds.get(Number(p.slice('/proc/self/fd/'.length)));
      if (target?.kind !== 'memfd') throw systemError(ENXIO, 'open', p);
      return k.file(p, flags, { kind: 'memfd', node: target.node }, target.node.ino);
    }
    const f = node.open!(flags);
    if (f.kind === 'memfd' && (flags & O_TRUNC) && writable(f)) f.node.mem.resize(0);
    return f;
  }

  open(p: string, flags: number): Fd {
    const s = this.#path(p);
    return this.#k.install(this.#openFile(s, intArg(flags, 'flags')));
  }

  close(fd: Fd): void {
    const f = this.#k.get(fdArg(fd), 'close');
    this.#k.fds.delete(fd);
    this.#k.unref(f);
  }

  dup(fd: Fd): Fd {
    return this.#k.install(this.#k.get(fdArg(fd), 'dup'));
  }

  #stat(f: OpenFile): StatInfo {
    const node = this.#k.nodes.get(f.path);
    const base = { ino: f.ino, dev: 13n, rdev: 0n, size: 0, uid: uid(), gid: gid() };
    switch (f.kind) {
      case 'dmabuf': return { ...base, dev: 14n, mode: 0o600, size: f.bo.pages.size }; // anon inode, i_size = size
      case 'memfd': return { ...base, dev: 1n, mode: S_IFREG | (f.node.memfd ? 0o777 : 0o644), size: f.node.mem.size };
      case 'syncfile': return { ...base, mode: 0o600 };
      case 'dir': return { ...base, dev: 5n, mode: S_IFDIR | 0o755, uid: 0, gid: 0 };
      case 'file': return { ...base, dev: 20n, mode: S_IFREG | 0o444, size: 4096, uid: 0, gid: 0 };
      case 'sw_sync': return { ...base, dev: 7n, mode: S_IFREG | 0o600, uid: 0, gid: 0 };
      default: return { ...base, dev: 5n, rdev: node?.rdev ?? 0n, mode: S_IFCHR | (node?.perm ?? 0o600), uid: 0, gid: 0 };
    }
  }

  fstat(fd: Fd): StatInfo {
    return this.#stat(this.#k.get(fdArg(fd), 'fstat'));
  }

  stat(p: string): StatInfo {
    const s = this.#path(p);
    const node = this.#k.lookup(s);
    if (node === undefined) throw systemError(ENOENT, 'stat', s);
    if (node.type === 'lnk') return this.#stat(this.#k.fds.get(Number(s.slice('/proc/self/fd/'.length)))!);
    const type = { chr: S_IFCHR, reg: S_IFREG, dir: S_IFDIR, lnk: S_IFREG }[node.type];
    const shm = this.#k.shm.get(s);
    return { ino: node.ino, dev: shm ? 1n : 5n, rdev: node.rdev, mode: type | node.perm, size: shm ? shm.mem.size : node.size,
      uid: shm ? uid() : 0, gid: shm ? gid() : 0 };
  }

  lseek(fd: Fd, offset: number, whence: number): number {
    intArg(offset, 'offset');
    intArg(whence, 'whence');
    const f = this.#k.get(fdArg(fd), 'lseek');
    const bad = (e = EINVAL): Error => systemError(e, 'lseek');
    if (f.kind === 'dmabuf') { // dma_buf_llseek
      if (offset !== 0) throw bad();
      if (whence === SEEK_END) return f.bo.pages.size;
      if (whence === SEEK_SET) return 0;
      throw bad();
    }
    if (f.kind === 'drm') return f.pos; // noop_llseek
    if (f.kind !== 'memfd' && f.kind !== 'file' && f.kind !== 'dir') throw bad(ESPIPE);
    const size = f.kind === 'memfd' ? f.node.mem.size : f.kind === 'file' ? Buffer.byteLength(f.text) : 0;
    let pos: number;
    switch (whence) {
      case SEEK_SET: pos = offset; break;
      case SEEK_CUR: pos = f.pos + offset; break;
      case SEEK_END: pos = size + offset; break;
      case SEEK_DATA: case SEEK_HOLE:
        if (offset < 0 || offset >= size) throw bad(ENXIO);
        pos = whence === SEEK_DATA ? offset : size;
        break;
      default: throw bad();
    }
    if (pos < 0) throw bad();
    f.pos = pos;
    return pos;
  }

  getFlags(fd: Fd): number {
    return this.#k.get(fdArg(fd), 'fcntl(F_GETFL)').flags;
  }

  /** read(2)/pread(2) of one open file; position null = at and advancing f.pos. */
  #read(f: OpenFile, length: number, position: number | null, syscall: string, p?: string): Uint8Array {
    if (!readable(f)) throw systemError(EBADF, syscall, p);
    const from = position ?? f.pos;
    let out: Uint8Array;
    switch (f.kind) {
      case 'memfd':
        out = new Uint8Array(Math.max(0, Math.min(length, f.node.mem.size - from)));
        f.node.mem.read(from, out);
        break;
      case 'file':
        out = Buffer.from(f.text).subarray(from, from + length);
        break;
      case 'dir': throw systemError(EISDIR, syscall, p);
      case 'drm': throw (f.flags & O_NONBLOCK) ? systemError(EAGAIN, syscall, p) : wouldBlock('read() of a DRM event queue');
      default: throw systemError(EINVAL, syscall, p); // no read op: dma-buf, sync_file, device nodes
    }
    if (position === null) f.pos += out.length;
    return new Uint8Array(out);
  }

  read(fd: Fd, length: number): Uint8Array {
    sizeArg(length, 'length');
    return this.#read(this.#k.get(fdArg(fd), 'read'), length, null, 'read');
  }

  pread(fd: Fd, length: number, position: number): Uint8Array {
    sizeArg(length, 'length');
    sizeArg(position, 'position');
    return this.#read(this.#k.get(fdArg(fd), 'pread'), length, position, 'pread');
  }

  write(fd: Fd, data: Uint8Array, position?: number): number {
    bytesArg(data, 'data');
    if (position !== undefined) sizeArg(position, 'position');
    const f = this.#k.get(fdArg(fd), 'write');
    if (!writable(f)) throw systemError(EBADF, 'write');
    if (f.kind !== 'memfd') throw systemError(f.kind === 'dir' ? EISDIR : EINVAL, 'write');
    const node = f.node;
    if (node.seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)) throw systemError(EPERM, 'write');
    const at = position ?? f.pos;
    const end = at + data.length;
    if (end > node.mem.size) {
      if (node.seals & F_SEAL_GROW) throw systemError(EPERM, 'write');
      node.mem.resize(end);
    }
    node.mem.write(at, data);
    if (position === undefined) f.pos = end;
    return data.length;
  }

  readTextFile(p: string): string {
    const s = this.#path(p);
    const f = this.#openFile(s, O_RDONLY);
    f.refs++;
    try {
      return Buffer.from(this.#read(f, 1 << 20, 0, 'read', s)).toString('utf8');
    } finally {
      this.#k.unref(f);
    }
  }

  readdir(p: string): string[] {
    const s = this.#path(p);
    const node = this.#k.lookup(s);
    if (node === undefined) throw systemError(ENOENT, 'opendir', s);
    if (node.type !== 'dir') throw systemError(ENOTDIR, 'opendir', s);
    return this.#k.readdir(s);
  }

  readlink(p: string): string {
    const s = this.#path(p);
    const node = this.#k.lookup(s);
    if (node === undefined) throw systemError(ENOENT, 'readlink', s);
    if (node.type !== 'lnk') throw systemError(EINVAL, 'readlink', s);
    return this.#k.linkTarget(this.#k.fds.get(Number(s.slice('/proc/self/fd/'.length)))!);
  }

  access(p: string, mode: number): boolean {
    intArg(mode, 'mode');
    return this.#k.lookup(this.#path(p)) !== undefined;
  }

  // ---- memfd ----------------------------------------------------------------------------------------

  memfdCreate(name: string, flags: number): Fd {
    validateString(name, 'name');
    const fl = u32(intArg(flags, 'flags'));
    const syscall = 'memfd_create';
    if (fl & ~(MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_HUGETLB | MFD_NOEXEC_SEAL | MFD_EXEC | (0x3f << 26))) {
      throw systemError(EINVAL, syscall);
    }
    if (!(fl & MFD_HUGETLB) && (fl & (0x3f << 26))) throw systemError(EINVAL, syscall);
    if ((fl & MFD_EXEC) && (fl & MFD_NOEXEC_SEAL)) throw systemError(EINVAL, syscall);
    if (Buffer.byteLength(name) > MFD_NAME_MAX) throw systemError(EINVAL, syscall);
    if (fl & MFD_HUGETLB) throw unsupportedError('hugetlb memfds are not modelled by the mock backend');
    let seals = (fl & (MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL)) ? 0 : F_SEAL_SEAL;
    if (fl & MFD_NOEXEC_SEAL) seals |= F_SEAL_EXEC;
    const node: ShmInode = { ino: this.#k.ino(), mem: new Extents(), writableMaps: 0, seals, name, memfd: true };
    const f = this.#k.file(`/memfd:${name}`, O_RDWR, { kind: 'memfd', node }, node.ino);
    return this.#k.install(f);
  }

  ftruncate(fd: Fd, size: number): void {
    sizeArg(size, 'size');
    const f = this.#k.get(fdArg(fd), 'ftruncate');
    if (f.kind !== 'memfd' || !writable(f)) throw systemError(EINVAL, 'ftruncate');
    const node = f.node;
    if ((size < node.mem.size && (node.seals & F_SEAL_SHRINK)) || (size > node.mem.size && (node.seals & F_SEAL_GROW))) {
      throw systemError(EPERM, 'ftruncate');
    }
    node.mem.resize(size);
  }

  addSeals(fd: Fd, seals: number): void {
    const syscall = 'fcntl(F_ADD_SEALS)';
    let add = u32(intArg(seals, 'seals'));
    const f = this.#k.get(fdArg(fd), syscall);
    if (f.kind !== 'memfd') throw systemError(EINVAL, syscall);
    if (!writable(f)) throw systemError(EPERM, syscall);
    if (add & ~F_ALL_SEALS) throw systemError(EINVAL, syscall);
    const node = f.node;
    if (node.seals & F_SEAL_SEAL) throw systemError(EPERM, syscall);
    if ((add & F_SEAL_WRITE) && !(node.seals & F_SEAL_WRITE) && node.writableMaps > 0) {
      throw systemError(EBUSY, syscall); // mapping_deny_writable()
    }
    if (add & F_SEAL_EXEC) add |= F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_FUTURE_WRITE;
    node.seals |= add;
  }

  getSeals(fd: Fd): number {
    const syscall = 'fcntl(F_GET_SEALS)';
    const f = this.#k.get(fdArg(fd), syscall);
    if (f.kind !== 'memfd') throw systemError(EINVAL, syscall);
    return f.node.seals;
  }

  // ---- udmabuf ----------------------------------------------------------------------------------------

  #udmabuf(dev: Fd, items: readonly UdmabufItem[], syscall: string, list: boolean): Fd {
    const k = this.#k;
    k.ioctl(dev, syscall, 'udmabuf-dev');
    const lim = this.options.udmabuf!;
    const ps = this.pageSize;
    const fail = (e = EINVAL): Error => systemError(e, syscall);
    if (list && items.length > lim.listLimit) throw fail();
    const pglimit = Math.floor(lim.sizeLimitMb * 2 ** 20 / ps);
    let pgcnt = 0;
    for (const it of items) {
      if (it.offset % ps !== 0 || it.size % ps !== 0) throw fail();
      pgcnt += it.size / ps;
      if (pgcnt > pglimit) throw fail();
    }
    if (pgcnt === 0) throw fail();
    const nodes = items.map((it) => {
      const f = k.fds.get(it.memfd);
      if (f === undefined || f.kind !== 'memfd') throw fail(EBADFD);
      const seals = f.node.seals;
      if (!(seals & F_SEAL_SHRINK) || (seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE))) throw fail();
      if (it.size === 0 || it.offset + it.size > f.node.mem.size) throw fail();
      return f.node;
    });
    // The dma-buf's bytes: the memfd range's own store when it is exactly one, else a new store that
    // takes over the ranges (their bytes copied in), so memfds and dma-buf share them both ways.
    let pages = items.length === 1 ? nodes[0].mem.whole(items[0].offset, items[0].size) : null;
    if (pages === null) {
      const store = new Store(pgcnt * ps);
      let at = 0;
      items.forEach((it, i) => {
        if (nodes[i].mem.touched(it.offset, it.size)) {
          const chunk = new Uint8Array(it.size);
          nodes[i].mem.read(it.offset, chunk);
          store.write(at, chunk);
        }
        at += it.size;
      });
      at = 0;
      items.forEach((it, i) => {
        nodes[i].mem.remap(it.offset, it.size, store, at);
        at += it.size;
      });
      pages = store;
    }
    pages.pinned = true;
    return k.install(k.newDmabuf(new Bo(pages, 'udmabuf', 'udmabuf', null), O_RDWR));
  }

  #item(it: unknown, name: string): UdmabufItem {
    if (it === null || typeof it !== 'object') throw invalidArgType(name, 'of type object', it);
    const x = it as Partial<UdmabufItem>;
    return { memfd: fdArg(x.memfd, `${name}.memfd`), offset: sizeArg(x.offset, `${name}.offset`), size: sizeArg(x.size, `${name}.size`) };
  }

  udmabufCreate(dev: Fd, memfd: Fd, offset: number, size: number, flags: number): Fd {
    fdArg(dev, 'dev');
    const item = this.#item({ memfd, offset, size }, 'item');
    intArg(flags, 'flags'); // unknown flag bits are ignored by mainline
    return this.#udmabuf(dev, [item], 'ioctl(UDMABUF_CREATE)', false);
  }

  udmabufCreateList(dev: Fd, flags: number, items: readonly UdmabufItem[]): Fd {
    fdArg(dev, 'dev');
    intArg(flags, 'flags');
    if (!Array.isArray(items)) throw invalidArgType('items', 'an instance of Array', items);
    const checked = items.map((it, i) => this.#item(it, `items[${i}]`));
    return this.#udmabuf(dev, checked, 'ioctl(UDMABUF_CREATE_LIST)', true);
  }

  // ---- dma-heap ---------------------------------------------------------------------------------------

  heapAlloc(heap: Fd, len: number, fdFlags: number, heapFlags: number): Fd {
    const syscall = 'ioctl(DMA_HEAP_IOCTL_ALLOC)';
    fdArg(heap, 'heap');
    sizeArg(len, 'len');
    const fl = u32(intArg(fdFlags, 'fdFlags'));
    intArg(heapFlags, 'heapFlags');
    const h = this.#k.ioctl(heap, syscall, 'heap').heap;
    if (fl & ~(O_CLOEXEC | O_ACCMODE)) throw systemError(EINVAL, syscall);
    if (heapFlags !== 0) throw systemError(EINVAL, syscall);
    const size = this.#pageAlign(len);
    if (size === 0) throw systemError(EINVAL, syscall);
    if (h.used + size > h.size) throw systemError(ENOMEM, syscall);
    h.used += size;
    const bo = new Bo(new Store(size), h.name, 'heap', null);
    return this.#k.install(this.#k.newDmabuf(bo, fl & O_ACCMODE, () => { h.used -= size; }));
  }

  // ---- dma-buf ----------------------------------------------------------------------------------------

  /** Checks of DMA_BUF_IOCTL_SYNC up to the wait; returns the file and whether START writes. */
  #syncArgs(fd: Fd, flags: number): DmabufFile {
    const syscall = 'ioctl(DMA_BUF_IOCTL_SYNC)';
    const f = this.#k.ioctl(fd, syscall, 'dmabuf');
    if (flags < 0 || flags > (DMA_BUF_SYNC_RW | DMA_BUF_SYNC_END)) throw systemError(EINVAL, syscall); // u64 bits outside 7
    if ((flags & DMA_BUF_SYNC_RW) === 0) throw systemError(EINVAL, syscall);
    return f;
  }

  /** begin/end_cpu_access once nothing is left to wait for. */
  #syncDone(f: DmabufFile, flags: number): void {
    if (flags & DMA_BUF_SYNC_END) {
      if (f.bo.kind === 'udmabuf' && !f.bo.cpuAccessBegun) throw systemError(EINVAL, 'ioctl(DMA_BUF_IOCTL_SYNC)');
    } else {
      f.bo.cpuAccessBegun = true;
    }
  }

  dmabufSync(fd: Fd, flags: number): void {
    fdArg(fd);
    intArg(flags, 'flags');
    const f = this.#syncArgs(fd, flags);
    if (!(flags & DMA_BUF_SYNC_END) && f.bo.resv.pending((flags & DMA_BUF_SYNC_WRITE) !== 0).length > 0) {
      throw wouldBlock('DMA_BUF_IOCTL_SYNC START on a buffer with unsignalled fences');
    }
    this.#syncDone(f, flags);
  }

  dmabufSyncAsync(fd: Fd, flags: number): Promise<void> {
    fdArg(fd);
    intArg(flags, 'flags');
    let f: DmabufFile;
    try {
      f = this.#syncArgs(fd, flags);
    } catch (e) {
      return Promise.reject(e);
    }
    f.refs++; // the async twin works on its own reference, like a dup
    const write = (flags & DMA_BUF_SYNC_WRITE) !== 0;
    const ready = (): boolean => (flags & DMA_BUF_SYNC_END) !== 0 || f.bo.resv.pending(write).length === 0;
    const k = this.#k;
    return this.#k.hub.waitUntil(ready, -1).then(() => this.#syncDone(f, flags)).finally(() => k.unref(f));
  }

  dmabufSetName(fd: Fd, name: string): void {
    const syscall = 'ioctl(DMA_BUF_SET_NAME_B)';
    fdArg(fd);
    validateString(name, 'name');
    const f = this.#k.ioctl(fd, syscall, 'dmabuf');
    const nul = name.indexOf('\0');
    const s = nul < 0 ? name : name.slice(0, nul);
    if (Buffer.byteLength(s) >= DMA_BUF_NAME_LEN) throw systemError(EINVAL, syscall); // strndup_user(buf, 32)
    f.name = s;
  }

  #syncFileFlags(fl: number, syscall: string): void {
    if ((fl & ~DMA_BUF_SYNC_RW) || !(fl & DMA_BUF_SYNC_RW)) throw systemError(EINVAL, syscall);
  }

  dmabufExportSyncFile(fd: Fd, flags: number): Fd {
    const syscall = 'ioctl(DMA_BUF_IOCTL_EXPORT_SYNC_FILE)';
    const fl = u32(intArg(flags, 'flags'));
    const f = this.#k.ioctl(fdArg(fd), syscall, 'dmabuf');
    this.#syncFileFlags(fl, syscall);
    const fences = f.bo.resv.pending((fl & DMA_BUF_SYNC_WRITE) !== 0);
    const payload = new SyncPayload(this.#k.hub, fences.length ? fences : [this.#k.hub.stub]);
    return this.#k.install(this.#k.newSyncFile(payload));
  }

  dmabufImportSyncFile(fd: Fd, flags: number, syncFile: Fd): void {
    const syscall = 'ioctl(DMA_BUF_IOCTL_IMPORT_SYNC_FILE)';
    const fl = u32(intArg(flags, 'flags'));
    fdArg(syncFile, 'syncFile');
    const f = this.#k.ioctl(fdArg(fd), syscall, 'dmabuf');
    this.#syncFileFlags(fl, syscall);
    const s = this.#k.fds.get(syncFile);
    if (s?.kind !== 'syncfile') throw systemError(EINVAL, syscall);
    for (const fence of s.sync.fences) f.bo.resv.add(fence, (fl & DMA_BUF_SYNC_WRITE) !== 0);
  }

  // ---- sync_file ----------------------------------------------------------------------------------------

  syncFileInfo(fd: Fd): SyncFileInfo {
    return this.#k.ioctl(fdArg(fd), 'ioctl(SYNC_IOC_FILE_INFO)', 'syncfile').sync.info();
  }

  syncFileMerge(name: string, fd1: Fd, fd2: Fd): Fd {
    const syscall = 'ioctl(SYNC_IOC_MERGE)';
    validateString(name, 'name');
    fdArg(fd2, 'fd2');
    const a = this.#k.ioctl(fdArg(fd1, 'fd1'), syscall, 'syncfile');
    const b = this.#k.fds.get(fd2);
    if (b?.kind !== 'syncfile') throw systemError(ENOENT, syscall);
    const n = Buffer.from(name.split('\0')[0]).subarray(0, 31).toString(); // strscpy into char[32]
    return this.#k.install(this.#k.newSyncFile(SyncPayload.merge(this.#k.hub, n, a.sync, b.sync)));
  }

  // ---- poll ----------------------------------------------------------------------------------------------

  #revents(f: OpenFile | undefined, events: number): number {
    if (f === undefined) return POLLNVAL;
    switch (f.kind) {
      case 'dmabuf': { // dma_buf_poll
        let r = 0;
        if ((events & POLLIN) && f.bo.resv.pending(false).length === 0) r |= POLLIN;
        if ((events & POLLOUT) && f.bo.resv.pending(true).length === 0) r |= POLLOUT;
        return r;
      }
      case 'syncfile': return f.sync.signaled ? events & POLLIN : 0;
      case 'drm': return this.#k.kms.hasEvents(f) ? events & POLLIN : 0; // the event queue (flip-complete events)
      default: return POLL_DEFAULT & events;
    }
  }

  poll(fd: Fd, events: number, timeoutMs: number): number {
    fdArg(fd);
    intArg(events, 'events');
    validateInt(timeoutMs, 'timeoutMs', -1, 0x7fffffff);
    const r = this.#revents(this.#k.fds.get(fd), events);
    if (r !== 0 || timeoutMs >= 0) return r; // a finite wait returns 0 at once: nothing can signal meanwhile
    throw wouldBlock('poll() with no timeout on an fd that is not ready');
  }

  pollAsync(fd: Fd, events: number, timeoutMs: number): Promise<number> {
    fdArg(fd);
    intArg(events, 'events');
    validateInt(timeoutMs, 'timeoutMs', -1, 0x7fffffff);
    const f = this.#k.fds.get(fd);
    if (f === undefined) return Promise.resolve(POLLNVAL);
    f.refs++;
    const k = this.#k;
    const revents = (): number => this.#revents(f, events);
    return k.hub.waitUntil(() => revents() !== 0, timeoutMs).then(revents).finally(() => k.unref(f));
  }

  // ---- memory --------------------------------------------------------------------------------------------

  mmap(fd: Fd, length: number, prot: number, flags: number, offset: number): MapHandle {
    fdArg(fd);
    sizeArg(length, 'length');
    intArg(prot, 'prot');
    intArg(flags, 'flags');
    sizeArg(offset, 'offset');
    const ps = this.pageSize;
    const fail = (e: number): Error => systemError(e, 'mmap');
    if (offset % ps !== 0) throw fail(EINVAL);
    const f = this.#k.get(fd, 'mmap');
    if (length === 0) throw fail(EINVAL);
    const type = flags & 0xf;
    const shared = type === MAP_SHARED || type === 3 /* MAP_SHARED_VALIDATE */;
    if (!shared && type !== MAP_PRIVATE) throw fail(EINVAL);
    const wantsWrite = shared && (prot & PROT_WRITE) !== 0;
    if (wantsWrite && !writable(f)) throw fail(EACCES);
    if (!readable(f)) throw fail(EACCES);
    const pages = Math.ceil(length / ps);
    let mem: Memory;
    let node: ShmInode | null = null;
    let at = offset;
    switch (f.kind) {
      case 'dmabuf':
        if (offset / ps + pages > f.bo.pages.size / ps) throw fail(EINVAL);
        if (f.bo.kind === 'udmabuf' && !shared) throw fail(EINVAL);
        mem = f.bo.pages;
        break;
      case 'memfd':
        if (wantsWrite && (f.node.seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE))) throw fail(EPERM);
        mem = f.node.mem;
        if (wantsWrite) node = f.node;
        break;
      case 'drm': { // drm_gem_mmap: the object whose fake offset range holds the mapping
        const pgoff = offset / ps;
        const hit = [...f.dev.offsets].find(([start, b]) => start <= pgoff && pgoff + pages <= start + b.pages.size / ps);
        if (hit === undefined) throw fail(EINVAL);
        const [start, bo] = hit;
        if (![...f.handles.values()].includes(bo)) throw fail(EACCES); // drm_vma_node_is_allowed
        if (!shared) throw fail(EINVAL); // shmem helpers refuse COW mappings
        mem = bo.pages;
        at = (pgoff - start) * ps;
        break;
      }
      default: throw fail(ENODEV);
    }
    if (!shared) {
      mem = Store.copyOf(mem, at, length); // a private mapping: a snapshot in the model
      at = 0;
    }
    const m = new MockMapping(length, prot, mem, at, f, node);
    if (node !== null) node.writableMaps++;
    f.refs++;
    this.#k.maps.add(m);
    return m;
  }

  mapBuffer(handle: MapHandle): ArrayBuffer {
    const m = mappingArg(handle);
    if (!m.live) throw stateError('the mapping is unmapped');
    if (!(m.prot & PROT_WRITE)) throw stateError('a read-only mapping has no ArrayBuffer (read it with mapRead)');
    if (m.ab !== null) return m.ab;
    const store = m.mem.whole(m.offset, m.length);
    if (store === null) {
      throw unsupportedError('the mock backend gives an ArrayBuffer only for a mapping of a whole buffer from offset 0');
    }
    try {
      m.ab = store.arrayBuffer();
    } catch {
      throw systemError(ENOMEM, 'mmap');
    }
    m.store = store;
    store.views++;
    store.pinned = true;
    return m.ab;
  }

  mapRead(handle: MapHandle, offset: number, target: Uint8Array): void {
    const m = mappingArg(handle);
    sizeArg(offset, 'offset');
    bytesArg(target, 'target');
    if (!m.live) throw stateError('the mapping is unmapped');
    if (!(m.prot & PROT_READ)) throw stateError('the mapping is not readable');
    if (offset + target.length > m.length) throw outOfRange('offset', `>= 0 && <= ${m.length - target.length}`, offset);
    m.mem.read(m.offset + offset, target);
  }

  munmap(handle: MapHandle): void {
    const m = mappingArg(handle);
    if (!m.live) return;
    m.live = false;
    m.ab = null;
    if (m.node !== null) m.node.writableMaps--;
    if (m.store !== null && --m.store.views === 0) m.store.detach(); // no other view-holding mapping
    m.store = null;
    this.#k.maps.delete(m);
    this.#k.unref(m.file);
  }

  isMapped(handle: MapHandle): boolean {
    return mappingArg(handle).live;
  }

  // ---- DRM ---------------------------------------------------------------------------------------------------

  /** The DRM file an ioctl goes to; primaryOnly for ioctls without DRM_RENDER_ALLOW. */
  #drm(fd: Fd, syscall: string, primaryOnly = false): DrmFile {
    const f = this.#k.ioctl(fdArg(fd), syscall, 'drm');
    if (primaryOnly && f.render) throw systemError(EACCES, syscall);
    return f;
  }

  drmVersion(fd: Fd): DrmVersion {
    const f = this.#drm(fd, 'ioctl(DRM_IOCTL_VERSION)');
    const m = f.dev.model;
    return { major: m.version[0], minor: m.version[1], patchlevel: m.version[2], name: f.dev.driver, date: m.date, desc: m.desc };
  }

  drmGetCap(fd: Fd, capability: number): number {
    const syscall = 'ioctl(DRM_IOCTL_GET_CAP)';
    intArg(capability, 'capability');
    const f = this.#drm(fd, syscall);
    const m = f.dev.model;
    switch (capability) { // drm_getcap: caps for every driver first
      case 0x6: return 1; // DRM_CAP_TIMESTAMP_MONOTONIC
      case 0x5: return 3; // DRM_CAP_PRIME: IMPORT | EXPORT
      case 0x13: case 0x14: return f.dev.driver === 'virtio_gpu' ? 1 : 0; // SYNCOBJ, SYNCOBJ_TIMELINE
      default: break;
    }
    if (!m.modeset) throw systemError(EOPNOTSUPP, syscall); // vgem: even DRM_CAP_DUMB_BUFFER
    const kms: Record<number, number> = { 0x1: 1, 0x2: 1, 0x3: 24, 0x4: 0, 0x7: 0, 0x8: 64, 0x9: 64, 0x10: 1, 0x11: 0, 0x12: 1, 0x15: 0 };
    const v = kms[capability];
    if (v === undefined) throw systemError(EINVAL, syscall);
    return v;
  }

  drmSetClientCap(fd: Fd, capability: number, value: number): void {
    const syscall = 'ioctl(DRM_IOCTL_SET_CLIENT_CAP)';
    intArg(capability, 'capability');
    intArg(value, 'value');
    const f = this.#drm(fd, syscall, true);
    const max: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 1, 5: 1 }; // STEREO_3D, UNIVERSAL_PLANES, ATOMIC, ASPECT_RATIO, WRITEBACK
    if (max[capability] === undefined) throw systemError(EINVAL, syscall);
    if (capability !== 4 && !f.dev.model.modeset) throw systemError(EOPNOTSUPP, syscall);
    if (value < 0 || value > max[capability]) throw systemError(EINVAL, syscall);
  }

  drmCreateDumb(fd: Fd, width: number, height: number, bpp: number, flags: number): DumbBuffer {
    const syscall = 'ioctl(DRM_IOCTL_MODE_CREATE_DUMB)';
    u32Arg(width, 'width');
    u32Arg(height, 'height');
    u32Arg(bpp, 'bpp');
    intArg(flags, 'flags'); // "must be zero" in the header, but no kernel checks it
    const f = this.#drm(fd, syscall, true);
    const fail = (): Error => systemError(EINVAL, syscall);
    // drm_mode_create_dumb(): 32-bit overflow checks
    if (width === 0 || height === 0 || bpp === 0) throw fail();
    if (bpp > U32_MAX - 8) throw fail();
    const cpp = Math.ceil(bpp / 8);
    if (cpp > Math.floor(U32_MAX / width)) throw fail();
    const stride = cpp * width;
    if (height > Math.floor(U32_MAX / stride)) throw fail();
    if (this.#pageAlign(height * stride) > U32_MAX) throw fail(); // PAGE_ALIGN wraps to 0
    const m = f.dev.model;
    if (m.bpp32Only && bpp !== 32) throw fail(); // virtio_gpu_mode_dumb_create
    const pitch = m.bpp32Only ? width * 4 : Math.ceil((width * bpp) / 8); // drm_gem_shmem_dumb_create
    const size = this.#pageAlign(pitch * height);
    const bo = new Bo(new Store(size), m.exporter, 'gem', f.dev);
    return { handle: this.#k.addHandle(f, bo), pitch, size };
  }

  drmMapDumb(fd: Fd, handle: number): number {
    const syscall = 'ioctl(DRM_IOCTL_MODE_MAP_DUMB)';
    u32Arg(handle, 'handle');
    const f = this.#drm(fd, syscall, true);
    const bo = f.handles.get(handle);
    if (bo === undefined) throw systemError(ENOENT, syscall);
    if (bo.dev !== f.dev) throw systemError(EINVAL, syscall); // imported objects cannot be mapped here
    if (bo.mmapPgoff === null) {
      bo.mmapPgoff = f.dev.nextPgoff;
      f.dev.nextPgoff += Math.max(1, bo.pages.size / this.pageSize);
      f.dev.offsets.set(bo.mmapPgoff, bo);
    }
    return bo.mmapPgoff * this.pageSize;
  }

  #gemClose(fd: Fd, handle: number, syscall: string, primaryOnly: boolean): void {
    u32Arg(handle, 'handle');
    this.#k.closeHandle(this.#drm(fd, syscall, primaryOnly), handle, syscall);
  }

  drmDestroyDumb(fd: Fd, handle: number): void {
    this.#gemClose(fd, handle, 'ioctl(DRM_IOCTL_MODE_DESTROY_DUMB)', true);
  }

  drmGemClose(fd: Fd, handle: number): void {
    this.#gemClose(fd, handle, 'ioctl(DRM_IOCTL_GEM_CLOSE)', false);
  }

  drmPrimeHandleToFd(fd: Fd, handle: number, flags: number): Fd {
    const syscall = 'ioctl(DRM_IOCTL_PRIME_HANDLE_TO_FD)';
    const fl = u32(intArg(flags, 'flags'));
    u32Arg(handle, 'handle');
    const f = this.#drm(fd, syscall);
    if (fl & ~(DRM_CLOEXEC | DRM_RDWR)) throw systemError(EINVAL, syscall);
    const bo = f.handles.get(handle);
    if (bo === undefined) throw systemError(ENOENT, syscall);
    let e = f.prime.get(bo);
    if (e === undefined) {
      // The object's cached dma-buf, whatever access mode its first export chose; else a new one.
      const dmabuf = bo.dmabuf ?? this.#k.newDmabuf(bo, (fl & DRM_RDWR) ? O_RDWR : O_RDONLY);
      dmabuf.refs++;
      e = { handle, dmabuf };
      f.prime.set(bo, e);
    }
    return this.#k.install(e.dmabuf);
  }

  drmPrimeFdToHandle(fd: Fd, dmabuf: Fd): number {
    const syscall = 'ioctl(DRM_IOCTL_PRIME_FD_TO_HANDLE)';
    fdArg(dmabuf, 'dmabuf');
    const f = this.#drm(fd, syscall);
    const d = this.#k.get(dmabuf, syscall);
    if (d.kind !== 'dmabuf') throw systemError(EINVAL, syscall);
    const bo = d.bo;
    const e = f.prime.get(bo);
    if (e !== undefined) return e.handle;
    if (bo.dev !== f.dev && !f.dev.importForeign) throw systemError(ENODEV, syscall);
    const handle = this.#k.addHandle(f, bo);
    d.refs++;
    f.prime.set(bo, { handle, dmabuf: d });
    return handle;
  }

  #vgem(fd: Fd, syscall: string): DrmFile {
    const f = this.#drm(fd, syscall);
    if (f.dev.driver !== 'vgem') throw systemError(EINVAL, syscall); // beyond the driver's ioctl table
    return f;
  }

  vgemFenceAttach(fd: Fd, handle: number, flags: number): number {
    const syscall = 'ioctl(DRM_IOCTL_VGEM_FENCE_ATTACH)';
    const fl = u32(intArg(flags, 'flags'));
    u32Arg(handle, 'handle');
    const f = this.#vgem(fd, syscall);
    if (fl & ~VGEM_FENCE_WRITE) throw systemError(EINVAL, syscall);
    const bo = f.handles.get(handle);
    if (bo === undefined) throw systemError(ENOENT, syscall);
    const write = (fl & VGEM_FENCE_WRITE) !== 0;
    if (bo.resv.pending(write).length > 0) throw systemError(EBUSY, syscall); // a conflicting fence
    const k = this.#k;
    const fence = new Fence('vgem', 'file', k.hub.context(), 1);
    bo.resv.add(fence, write);
    const id = f.nextFence++;
    f.fences.set(id, fence);
    const timer = setTimeout(() => {
      k.timers.delete(timer);
      k.hub.signal(fence);
    }, VGEM_FENCE_TIMEOUT_MS);
    timer.unref();
    k.timers.add(timer);
    return id;
  }

  vgemFenceSignal(fd: Fd, fence: number): void {
    const syscall = 'ioctl(DRM_IOCTL_VGEM_FENCE_SIGNAL)';
    u32Arg(fence, 'fence');
    const f = this.#vgem(fd, syscall);
    const fe = f.fences.get(fence);
    if (fe === undefined) throw systemError(ENOENT, syscall);
    f.fences.delete(fence);
    if (fe.signaled) throw systemError(ETIMEDOUT, syscall); // it expired already
    this.#k.hub.signal(fe);
  }

  // ---- KMS (mock/kms.ts) --------------------------------------------------------------------------------------

  kmsGetResources(fd: Fd): KmsResources {
    const f = this.#drm(fd, 'ioctl(DRM_IOCTL_MODE_GETRESOURCES)');
    return this.#k.kms.getResources(f.dev, f);
  }

  kmsGetConnector(fd: Fd, connectorId: number): KmsConnector {
    u32Arg(connectorId, 'connectorId');
    const f = this.#drm(fd, 'ioctl(DRM_IOCTL_MODE_GETCONNECTOR)');
    return this.#k.kms.getConnector(f.dev, f, connectorId);
  }

  kmsGetCrtc(fd: Fd, crtcId: number): KmsCrtc {
    u32Arg(crtcId, 'crtcId');
    const f = this.#drm(fd, 'ioctl(DRM_IOCTL_MODE_GETCRTC)');
    return this.#k.kms.getCrtc(f.dev, f, crtcId);
  }

  kmsSetCrtc(fd: Fd, crtcId: number, fbId: number, x: number, y: number, connectorIds: readonly number[],
    mode: KmsModeInfo | null): void {
    u32Arg(crtcId, 'crtcId');
    u32Arg(fbId, 'fbId');
    u32Arg(x, 'x');
    u32Arg(y, 'y');
    const ids = u32List(connectorIds, 'connectorIds', 0xffff);
    const m = mode === null ? null : modeArg(mode, 'mode');
    const f = this.#drm(fd, 'ioctl(DRM_IOCTL_MODE_SETCRTC)');
    this.#k.kms.setCrtc(f.dev, f, crtcId, fbId, x, y, ids, m);
  }

  kmsAddFb2(fd: Fd, width: number, height: number, format: number, handles: readonly number[],
    pitches: readonly number[], offsets: readonly number[], flags: number): number {
    u32Arg(width, 'width');
    u32Arg(height, 'height');
    u32Arg(format, 'format');
    const h = u32List(handles, 'handles', 4);
    const p = u32List(pitches, 'pitches', 4);
    const o = u32List(offsets, 'offsets', 4);
    u32Arg(flags, 'flags');
    const f = this.#drm(fd, 'ioctl(DRM_IOCTL_MODE_ADDFB2)');
    return this.#k.kms.addFb2(f.dev, f, width, height, format, h, p, o, flags);
  }

  kmsRmFb(fd: Fd, fbId: number): void {
    u32Arg(fbId, 'fbId');
    const f = this.#drm(fd, 'ioctl(DRM_IOCTL_MODE_RMFB)');
    this.#k.kms.rmFb(f.dev, f, fbId);
  }

  kmsPageFlip(fd: Fd, crtcId: number, fbId: number, flags: number, userData: number): void {
    u32Arg(crtcId, 'crtcId');
    u32Arg(fbId, 'fbId');
    u32Arg(flags, 'flags');
    sizeArg(userData, 'userData');
    const f = this.#drm(fd, 'ioctl(DRM_IOCTL_MODE_PAGE_FLIP)');
    this.#k.kms.pageFlip(f.dev, f, crtcId, fbId, flags, userData);
  }

  drmReadEvents(fd: Fd): DrmEvent[] {
    const f = this.#k.get(fdArg(fd), 'read');
    if (f.kind !== 'drm') throw systemError(EINVAL, 'read'); // no read op, or not an event queue
    return this.#k.kms.readEvents(f);
  }

  // ---- sw_sync ----------------------------------------------------------------------------------------------

  swSyncCreateFence(timeline: Fd, value: number, name: string): Fd {
    u32Arg(value, 'value');
    validateString(name, 'name'); // copied by the kernel, never shown
    const t = this.#k.ioctl(fdArg(timeline, 'timeline'), 'ioctl(SW_SYNC_IOC_CREATE_FENCE)', 'sw_sync');
    const payload = new SyncPayload(this.#k.hub, [t.timeline.createFence(value)]);
    return this.#k.install(this.#k.newSyncFile(payload));
  }

  swSyncInc(timeline: Fd, count: number): void {
    u32Arg(count, 'count');
    this.#k.ioctl(fdArg(timeline, 'timeline'), 'ioctl(SW_SYNC_IOC_INC)', 'sw_sync').timeline.inc(count);
  }

  // ---- fd passing ---------------------------------------------------------------------------------------------

  sendFds(): number {
    throw unsupportedError('the mock backend has no sockets: passing fds (SCM_RIGHTS) needs the native backend');
  }

  recvFds(): { data: Uint8Array; fds: Fd[] } {
    throw unsupportedError('the mock backend has no sockets: passing fds (SCM_RIGHTS) needs the native backend');
  }
}

/** A new, independent mock machine. */
export function createMockBackend(options: MockOptions = {}): Backend & MockControl {
  return new MockBackend(options);
}
