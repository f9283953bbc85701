/// <reference types="node" preserve="true" />
/**
 * The core of the mock kernel: the fd table over open file descriptions (dup shares one; numbers
 * count up from 1000), the kernel objects the interfaces share (buffer objects, DRM devices, heaps,
 * tmpfs inodes), a small file system (device nodes the drivers register, /proc/self/{fd,fdinfo}/N,
 * /dev/shm, text files) and inode numbers. The interfaces (fd.ts, memfd.ts, udmabuf.ts, heap.ts, ...)
 * operate on one Machine; `reboot()` gives a freshly booted one with the same options.
 */
import * as path from 'path';
import { O_ACCMODE, O_APPEND, O_CLOEXEC, O_LARGEFILE, O_NONBLOCK, O_RDONLY, O_RDWR, O_WRONLY } from '../../constants';
import { systemError, unsupportedError } from '../../errors';
import type { Fd } from '../types';
import type { DriverModel } from './drm';
import { type Fence, FenceHub, Resv, type SyncPayload, type Timeline } from './fences';
import type { KmsModel } from './kms';
import type { MockMapping } from './mapping';
import type { Extents, Store } from './pages';
import type { VideoFh, VividModel } from './vivid';
import type { MockDrmDriver, ResolvedMockOptions } from './index';

// ---- kernel objects ----------------------------------------------------------------------------------

export interface DrmDevice {
  driver: MockDrmDriver;
  model: DriverModel;
  importForeign: boolean;
  /** MAP_DUMB fake offsets (in pages) → object; device-wide like drm_vma_offset_manager. */
  offsets: Map<number, Bo>;
  nextPgoff: number;
}

export interface HeapState {
  name: string;
  size: number;
  used: number;
  contiguous: boolean;
}

/** A tmpfs inode: a memfd or a /dev/shm file. */
export interface ShmInode {
  ino: bigint;
  mem: Extents;
  /** Live writable MAP_SHARED mappings (F_SEAL_WRITE is refused while there are any). */
  writableMaps: number;
  seals: number;
  name: string;
  memfd: boolean;
}

/** A buffer object: the pages and fences shared by a dma-buf and the GEM handles that refer to it. */
export class Bo {
  readonly resv = new Resv();
  /** udmabuf: SYNC END before any START is EINVAL. */
  cpuAccessBegun = false;
  /** Its live dma-buf: the PRIME export cache; the only dma-buf of a udmabuf or heap buffer. */
  dmabuf: DmabufFile | null = null;
  mmapPgoff: number | null = null;
  handles = 0;
  /**
   * Physically contiguous pages (a CMA heap's buffer, a vb2-dma-contig plane): what vb2-dma-contig
   * asks of an imported dma-buf (mock/vivid.ts). Every other buffer is scattered pages.
   */
  contiguous = false;

  constructor(readonly pages: Store, readonly exporter: string, readonly kind: 'udmabuf' | 'heap' | 'gem' | 'vb2',
    readonly dev: DrmDevice | null) {}
}

// ---- open file descriptions ------------------------------------------------------------------------------

export interface FileBase {
  ino: bigint;
  /** f_flags as F_GETFL reports them (O_CLOEXEC is the fd's, not the file's: see Machine.install). */
  flags: number;
  pos: number;
  path: string;
  /** References: fd table entries, mappings, kernel-internal ones (PRIME tables, async waits). */
  refs: number;
  /** f_op->release: runs when the last reference goes. */
  release?: () => void;
}
export interface DeviceFile extends FileBase { kind: 'udmabuf-dev' }
export interface HeapFile extends FileBase { kind: 'heap'; heap: HeapState }
export interface DrmFile extends FileBase {
  kind: 'drm';
  dev: DrmDevice;
  render: boolean;
  /** DRM_IOCTL_SET_CLIENT_CAP values this file set. */
  clientCaps: Map<number, number>;
  clientId: number;
  handles: Map<number, Bo>;
  /** drm_prime_file_private: object → its handle and dma-buf in this file (holds a dma-buf ref). */
  prime: Map<Bo, { handle: number; dmabuf: DmabufFile }>;
  fences: Map<number, Fence>;
  nextFence: number;
}
export interface DmabufFile extends FileBase { kind: 'dmabuf'; bo: Bo; name: string | null }
export interface MemfdFile extends FileBase { kind: 'memfd'; node: ShmInode }
export interface SyncFile extends FileBase { kind: 'syncfile'; sync: SyncPayload }
export interface SwSyncFile extends FileBase { kind: 'sw_sync'; timeline: Timeline }
export interface TextFile extends FileBase { kind: 'file'; text: string }
export interface DirFile extends FileBase { kind: 'dir' }
/** An open V4L2 video node (mock/vivid.ts): its v4l2_fh. */
export interface VideoFile extends FileBase { kind: 'video'; fh: VideoFh }
export type OpenFile = DeviceFile | HeapFile | DrmFile | DmabufFile | MemfdFile | SyncFile | SwSyncFile | TextFile | DirFile
  | VideoFile;
export type Kind = OpenFile['kind'];
export type FileOf<K extends Kind> = Extract<OpenFile, { kind: K }>;

/** A file-system entry. `open` makes the open file description (refs 0). */
export interface VNode {
  type: 'chr' | 'reg' | 'dir' | 'lnk';
  ino: bigint;
  rdev: bigint;
  perm: number;
  size: number;
  open?: (flags: number) => OpenFile;
}

/** dma_buf_export + its file: the buffer's dma-buf, with the access mode the exporter chose. */
export function newDmabuf(m: Machine, bo: Bo, accmode: number, onRelease?: () => void): DmabufFile {
  const f: DmabufFile = { kind: 'dmabuf', bo, name: null, ino: m.ino(), flags: accmode, pos: 0,
    path: 'anon_inode:dmabuf', refs: 0 };
  f.release = () => { // dma_buf_release
    if (bo.dmabuf === f) bo.dmabuf = null;
    onRelease?.();
  };
  bo.dmabuf = f;
  return f;
}

/** What registers a driver's device nodes and files at boot. */
export type Driver = (m: Machine) => void;

export const makedev = (major: number, minor: number): bigint => BigInt((major << 8) | minor);
export const uid = (): number => process.getuid?.() ?? 0;
export const gid = (): number => process.getgid?.() ?? 0;
export const readable = (f: FileBase): boolean => (f.flags & O_ACCMODE) === O_RDONLY || (f.flags & O_ACCMODE) === O_RDWR;
export const writable = (f: FileBase): boolean => (f.flags & O_ACCMODE) === O_WRONLY || (f.flags & O_ACCMODE) === O_RDWR;
/** A JS integer as the kernel sees it in a __u32 field. */
export const u32 = (v: number): number => v >>> 0;
/** /proc/self/fd/N → N */
export const procFd = (p: string): number => Number(p.slice('/proc/self/fd/'.length));

/**
 * What a file answers for an ioctl of an interface it does not have: a dma-heap dispatches by ioctl
 * number alone (EINVAL for the numbers it has no ioctl for: every one but 0, see heap.ts for number
 * 0), the other files ENOTTY.
 */
export function foreignIoctl(f: OpenFile, syscall: string): Error {
  return systemError(f.kind === 'heap' ? 'EINVAL' : 'ENOTTY', syscall);
}

/** The refusal of a call that would wait for something only JavaScript can do. */
export function wouldBlock(what: string): Error {
  return unsupportedError(`${what} would block forever in the mock backend (nothing can signal a fence while ` +
    'the JavaScript thread waits); use the async variant');
}

// ---- the machine ---------------------------------------------------------------------------------------

const FIRST_FD = 1000;
const DIRS = ['/', '/dev', '/dev/shm', '/proc', '/proc/self', '/proc/self/fd', '/proc/self/fdinfo', '/proc/sys',
  '/proc/sys/kernel', '/sys'];

/** st_dev of a file, per kind (the file systems and anon inodes the kernel would report). */
export function devOf(f: OpenFile): bigint {
  switch (f.kind) {
    case 'dmabuf': return 14n;
    case 'memfd': return 1n;
    case 'syncfile': return 13n;
    case 'file': return 20n;
    case 'sw_sync': return 7n;
    default: return 5n; // dir, device nodes
  }
}

/** A file's identity as the backends hand it to JS: st_dev, st_ino's high and low 32 bits. */
export function idWords(f: OpenFile): [number, number, number] {
  return [Number(devOf(f)), Number(f.ino >> 32n), Number(f.ino & 0xffffffffn)];
}

export class Machine {
  readonly pageSize: number;
  /** Backend.lastId: the identity words of the last fd installed. */
  readonly lastId = new Uint32Array(3);
  fds!: Map<Fd, OpenFile>;
  /** fds installed without close-on-exec (every other fd has it). */
  noCloexec!: Set<Fd>;
  hub!: FenceHub;
  maps!: Set<MockMapping>;
  shm!: Map<string, ShmInode>;
  nodes!: Map<string, VNode>;
  dirs!: Set<string>;
  devices!: DrmDevice[];
  heaps!: HeapState[];
  timers!: Set<NodeJS.Timeout>;
  /** KMS of the modesetting devices (mock/kms.ts, modelled on vkms; set up by its driver) */
  kms!: KmsModel;
  /** The video devices (mock/vivid.ts; set up by its driver) */
  video!: VividModel;
  /** The one anon inode that every sync_file shares. */
  anonIno!: bigint;
  nextClient!: number;
  #nextFd!: number;
  #nextIno!: bigint;
  /** Open file descriptions an fd has named, and how many of them are alive (for options.fileMax). */
  #counted!: WeakSet<OpenFile>;
  #liveFiles!: number;

  constructor(readonly o: ResolvedMockOptions, private readonly drivers: readonly Driver[]) {
    this.pageSize = o.pageSize;
    this.reboot();
  }

  /** A freshly booted kernel: no fd, file, buffer or fence survives (timers are cancelled). */
  reboot(): void {
    for (const t of this.timers ?? []) clearTimeout(t); // clears intervals too
    this.fds = new Map();
    this.noCloexec = new Set();
    this.hub = new FenceHub();
    this.maps = new Set();
    this.shm = new Map();
    this.nodes = new Map();
    this.dirs = new Set(DIRS);
    this.devices = [];
    this.heaps = [];
    this.timers = new Set();
    this.nextClient = 1;
    this.#nextFd = FIRST_FD;
    this.#counted = new WeakSet();
    this.#liveFiles = 0;
    this.#nextIno = 0x2000n;
    this.anonIno = this.ino();
    for (const d of this.drivers) d(this);
  }

  ino(): bigint {
    return this.#nextIno++;
  }

  pageAlign(n: number): number {
    return Math.ceil(n / this.pageSize) * this.pageSize;
  }

  node(p: string, type: VNode['type'], rdev: bigint, perm: number, open: (flags: number) => OpenFile, size = 0): void {
    this.nodes.set(p, { type, ino: this.ino(), rdev, perm, size, open });
    for (let d = path.posix.dirname(p); !this.dirs.has(d); d = path.posix.dirname(d)) this.dirs.add(d);
  }

  /** A read-only text file whose content is made at open. */
  text(p: string, text: () => string): void {
    this.node(p, 'reg', 0n, 0o444, (flags) => {
      if ((flags & O_ACCMODE) !== O_RDONLY) throw systemError('EACCES', 'open', p);
      return this.file(p, flags, { kind: 'file', text: text() });
    }, 4096);
  }

  /** A new open file description (refs 0) with f_flags as open(2) leaves them. */
  file<T extends Omit<OpenFile, keyof FileBase>>(p: string, flags: number, body: T, ino?: bigint): T & FileBase {
    const node = this.nodes.get(p);
    const fFlags = (flags & (O_ACCMODE | O_NONBLOCK | O_APPEND)) | O_LARGEFILE;
    return { ...body, ino: ino ?? node?.ino ?? this.ino(), flags: fFlags, pos: 0, path: p, refs: 0 };
  }

  /**
   * fd_install of f, close-on-exec unless said otherwise. The kernel takes the lowest free number; the
   * model counts up, so that a closed number is never reused.
   */
  /**
   * Give f an fd. Past options.nofile open fds this is EMFILE from SYSCALL; a new open file past
   * options.fileMax live ones is ENFILE (the kernel refuses it when it allocates the file, before the
   * fd; the outcome is the same). Either way f is released (the kernel frees what it made when no fd
   * can be had: a heap's buffer, a udmabuf, a sync file). A dup names a file already counted.
   * `noFile` is what the caller reports for a full file table: sync files say ENOMEM
   * (sync_file_alloc returns NULL whatever failed, and its callers make that ENOMEM), videobuf2's
   * EXPBUF EINVAL (it makes any failure to export the dma-buf EINVAL).
   */
  install(f: OpenFile, cloexec = true, syscall = 'open', noFile: 'ENFILE' | 'ENOMEM' | 'EINVAL' = 'ENFILE'): Fd {
    const fd = this.#install(f, cloexec, syscall, noFile);
    const [dev, hi, lo] = idWords(f);
    this.lastId[0] = dev;
    this.lastId[1] = hi;
    this.lastId[2] = lo;
    return fd;
  }

  #install(f: OpenFile, cloexec: boolean, syscall: string, noFile: 'ENFILE' | 'ENOMEM' | 'EINVAL'): Fd {
    // a file no fd has named yet is a new open file description: the system-wide table counts it
    const fresh = !this.#counted.has(f);
    const full = this.fds.size >= this.o.nofile ? 'EMFILE' : fresh && this.#liveFiles >= this.o.fileMax ? noFile : null;
    if (full !== null) {
      f.refs++;
      this.unref(f);
      throw systemError(full, syscall);
    }
    if (fresh) {
      this.#counted.add(f);
      this.#liveFiles++;
    }
    const fd = this.#nextFd++;
    this.fds.set(fd, f);
    if (!cloexec) this.noCloexec.add(fd);
    f.refs++;
    return fd;
  }

  /** Open file descriptions alive now (fs.file-nr's first figure). */
  get liveFiles(): number {
    return this.#liveFiles;
  }

  get(fd: Fd, syscall: string): OpenFile {
    const f = this.fds.get(fd);
    if (f === undefined) throw systemError('EBADF', syscall);
    return f;
  }

  /** close(2): the fd goes, and the file when it was the last reference. */
  close(fd: Fd): void {
    const f = this.get(fd, 'close');
    this.fds.delete(fd);
    this.noCloexec.delete(fd);
    this.unref(f);
  }

  /**
   * The file an ioctl is meant for; a file of another kind answers like the kernel's fallbacks
   * (foreignIoctl).
   */
  ioctl<K extends Kind>(fd: Fd, syscall: string, kind: K): FileOf<K> {
    const f = this.get(fd, syscall);
    if (f.kind !== kind) throw foreignIoctl(f, syscall);
    return f as FileOf<K>;
  }

  unref(f: OpenFile): void {
    if (--f.refs > 0) return;
    if (this.#counted.delete(f)) this.#liveFiles--;
    f.release?.();
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
        open: (flags) => this.file(p, flags, { kind: 'file', text: this.fdinfo(fd, f) }) };
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

  /** /proc/self/fdinfo/N: `flags` is f_flags plus O_CLOEXEC when the fd has close-on-exec. */
  fdinfo(fd: Fd, f: OpenFile): string {
    const flags = f.flags | (this.noCloexec.has(fd) ? 0 : O_CLOEXEC);
    let s = `pos:\t${f.pos}\nflags:\t0${flags.toString(8)}\nmnt_id:\t15\nino:\t${f.ino}\n`;
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

/** procfs text files: the kernel release, /proc/version, and the memory the allocation guard reads. */
export const procfs: Driver = (m) => {
  const o = m.o;
  m.text('/proc/sys/kernel/osrelease', () => `${o.kernel}\n`);
  // allocated, free (always 0 since 2.6), max: the live open files of the model and options.fileMax
  m.text('/proc/sys/fs/file-nr', () => `${m.liveFiles}\t0\t${o.fileMax}\n`);
  m.text('/proc/version', () => `Linux version ${o.kernel} (dmabuf mock) #1 SMP PREEMPT_DYNAMIC\n`);
  // `memory` less what the heaps hold; CMA per heap
  m.text('/proc/meminfo', () => {
    const kb = (n: number) => `${Math.floor(n / 1024)} kB`;
    const used = m.heaps.reduce((a, h) => a + h.used, 0);
    const cma = m.heaps.filter((h) => h.contiguous);
    return [`MemTotal:       ${kb(o.memory)}`, `MemFree:        ${kb(o.memory - used)}`,
      `MemAvailable:   ${kb(o.memory - used)}`,
      `CmaTotal:       ${kb(cma.reduce((a, h) => a + h.size, 0))}`,
      `CmaFree:        ${kb(cma.reduce((a, h) => a + h.size - h.used, 0))}`, ''].join('\n');
  });
};

/** The mock kernel's version (the `kernel` option, e.g. '7.2.13-mock') is at least major.minor. */
export function kernelAtLeast(kernel: string, major: number, minor: number): boolean {
  const v = /^(\d+)\.(\d+)/.exec(kernel);
  return v !== null && Number(v[1]) * 1000 + Number(v[2]) >= major * 1000 + minor;
}
