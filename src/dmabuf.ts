/// <reference types="node" preserve="true" />
/**
 * DmaBuf: one owned dma-buf fd. Size, inode, fdinfo, name, zero-copy CPU mappings, CPU access
 * bracketing (DMA_BUF_IOCTL_SYNC), implicit-fence sync files, readiness, dup, close.
 */
import type { Backend, Fd, MapHandle } from './backend/types';
import { getBackend } from './backend/index';
import {
  DMA_BUF_NAME_LEN, DMA_BUF_SYNC_END, DMA_BUF_SYNC_READ, DMA_BUF_SYNC_RW, DMA_BUF_SYNC_START, DMA_BUF_SYNC_WRITE,
  MAP_SHARED, O_ACCMODE, O_RDONLY, POLLIN, POLLOUT, PROT_READ, PROT_WRITE, SEEK_END,
} from './constants';
import {
  dmabufError, I32_MAX, invalidArgType, invalidArgValue, outOfRange, stateError, systemError,
  validateFunction, validateInt, validateObject, validateOneOf, validateString, withPath,
} from './errors';
import { fileTableHint } from './hints';
import { inodeOf, OwnedFd, quietly, staleFdError, type FdIdentity } from './lifecycle';
import { SyncFile } from './syncfile';
import { validateWaitOptions, waitReadable, type WaitOptions } from './wait';

/** How the CPU uses a buffer: the DMA_BUF_SYNC_READ / _WRITE / _RW flags. */
export type Access = 'read' | 'write' | 'readwrite';
export const ACCESS_MODES: readonly Access[] = ['read', 'write', 'readwrite'];

const SYNC_FLAG: Record<Access, number> = {
  read: DMA_BUF_SYNC_READ,
  write: DMA_BUF_SYNC_WRITE,
  readwrite: DMA_BUF_SYNC_RW,
};

/** The SYNC flag of an access mode; the validator's error for anything else. */
function syncFlag(access: Access): number {
  switch (access) {
    case 'readwrite': return DMA_BUF_SYNC_RW;
    case 'read': return DMA_BUF_SYNC_READ;
    case 'write': return DMA_BUF_SYNC_WRITE;
    default: validateOneOf(access, 'access', ACCESS_MODES); return 0; // throws
  }
}

/** DMA_BUF_IOCTL_SYNC with its flags bound, indexed by the flags (START or END | READ, WRITE, RW). */
type Syncers = readonly ((fd: Fd) => void)[];

/**
 * The syncers of the backend in use (a process rarely has two), made on first use: beginAccess and
 * endAccess pass one argument per call instead of two.
 */
let syncBackend: Backend | undefined;
let syncers: Syncers = [];

function syncersOf(backend: Backend): Syncers {
  if (backend !== syncBackend) {
    const u = backend.unchecked;
    syncers = Array.from({ length: (DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW) + 1 }, (_, flags) => u.dmabufSyncer(flags));
    syncBackend = backend;
  }
  return syncers;
}

/** What /proc/self/fdinfo says about a dma-buf. */
export interface DmaBufInfo {
  /** Bytes. */
  size: number;
  /** The exporter's name: 'udmabuf', 'system', a CMA heap's name, 'drm', 'virtio_gpu', ... */
  exporter: string;
  /** The name set with setName(), or null if none was ever set. */
  name: string | null;
  /** The kernel's file reference count minus one: grows with each dup'ed fd and each mapping. */
  count: number;
  /** open flags (O_RDWR, O_CLOEXEC, ...) of this fd. */
  flags: number;
  /** Unique per dma-buf (equal for dup'ed fds and for re-exports of the same GEM object). */
  inode: bigint;
  /** Opened O_RDONLY: writable mappings fail with EACCES. */
  readOnly: boolean;
}

/** A dma-buf fd's link target: '/dmabuf:<name>' (5.3+) or 'anon_inode:dmabuf' (older kernels). */
export function isDmabufLink(target: string): boolean {
  return target.startsWith('/dmabuf:') || target === 'anon_inode:dmabuf';
}

/** A value of fdinfo text: after the colon (and its tab) up to the end of the line, trailing blanks cut. */
function fdinfoValue(text: string, colon: number, end: number): string {
  const from = text.charCodeAt(colon + 1) === 9 /* \t */ ? colon + 2 : colon + 1;
  return text.slice(from, end).trimEnd();
}

/** Parse fdinfo text (`key:\tvalue` lines). */
export function parseFdinfo(text: string): Map<string, string> {
  validateString(text, 'text');
  const out = new Map<string, string>();
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const i = text.indexOf(':', start);
    if (i > start && i < end) out.set(text.slice(start, i), fdinfoValue(text, i, end));
    start = end + 1;
  }
  return out;
}

/**
 * info() from a dma-buf's fdinfo text: parseFdinfo's reading of the lines (a repeated key: the last
 * one counts), in one pass that only looks at the five keys info() reports and builds no Map.
 */
function infoOf(text: string, size: number, id: FdIdentity): DmaBufInfo {
  let exporter = '', name: string | null = null, count = 0, flags = 0;
  const n = text.length;
  let start = 0;
  while (start < n) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = n;
    const colon = text.indexOf(':', start);
    if (colon > start && colon < end) {
      switch (colon - start) {
        case 4:
          if (text.startsWith('size', start)) size = Number(fdinfoValue(text, colon, end));
          else if (text.startsWith('name', start)) name = fdinfoValue(text, colon, end);
          break;
        case 5:
          if (text.startsWith('flags', start)) flags = parseInt(fdinfoValue(text, colon, end), 8);
          else if (text.startsWith('count', start)) count = Number(fdinfoValue(text, colon, end));
          break;
        case 8:
          if (text.startsWith('exp_name', start)) exporter = fdinfoValue(text, colon, end);
          break;
      }
    }
    start = end + 1;
  }
  return { size, exporter, name, count, flags, inode: inodeOf(id), readOnly: (flags & O_ACCMODE) === O_RDONLY };
}

export interface MapOptions {
  /** Page-aligned byte offset into the buffer (default 0). */
  offset?: number;
  /** Bytes to map (default: to the end of the buffer). */
  length?: number;
}

/**
 * A CPU mapping of (part of) a dma-buf. `bytes` is a view over the real pages (no copy); a read-only
 * mapping has no view (a write through one would crash the process) and is read with read().
 * unmap() (and closing the DmaBuf) detaches the view: old Uint8Arrays then have length 0.
 */
export class Mapping implements Disposable {
  /** Mappings carry their kind: this is a CPU mapping. */
  readonly kind = 'cpu' as const;
  readonly access: 'read' | 'readwrite';
  readonly offset: number;
  readonly length: number;
  readonly #handle: MapHandle;
  readonly #backend: Backend;
  #view: Uint8Array | undefined;
  #onUnmap: ((m: Mapping) => void) | undefined;
  /** @internal its index in the buffer's list of live mappings */
  _slot = -1;
  /** Only unmap() unmaps a handle this object holds (or the process's exit), so the flag is exact. */
  #mapped = true;

  /** @internal */
  constructor(backend: Backend, handle: MapHandle, access: 'read' | 'readwrite', offset: number,
    onUnmap?: (m: Mapping) => void, length = handle.length - offset) {
    this.#backend = backend;
    this.#handle = handle;
    this.access = access;
    // The region is mapped from the start of the buffer; this mapping is its window [offset, offset + length).
    this.offset = offset;
    this.length = length;
    this.#onUnmap = onUnmap;
  }

  get mapped(): boolean {
    return this.#mapped;
  }

  /**
   * The ArrayBuffer over the mapped pages (writable mappings only). It starts at the beginning of the
   * dma-buf: for a mapping with an offset, `bytes` is the window at `offset` inside it.
   */
  get buffer(): ArrayBuffer {
    if (!this.#mapped) throw stateError('the mapping was unmapped');
    if (this.access === 'read') {
      throw stateError('a read-only mapping has no ArrayBuffer (a write through it would crash); use read()');
    }
    return this.#backend.unchecked.mapBuffer(this.#handle);
  }

  /** A Uint8Array over the mapped pages, no copy (writable mappings only). */
  get bytes(): Uint8Array {
    if (this.#view && this.#mapped && this.#view.byteLength === this.length) return this.#view;
    this.#view = new Uint8Array(this.buffer, this.offset, this.length);
    return this.#view;
  }

  /** Copy bytes out of the mapping (works for read-only mappings too). */
  read(offset = 0, length?: number): Buffer {
    validateInt(offset, 'offset', 0, this.length);
    const len = length === undefined ? this.length - offset : validateInt(length, 'length', 0, this.length - offset);
    if (!this.#mapped) throw stateError('the mapping was unmapped');
    const out = Buffer.allocUnsafe(len);
    if (len > 0) this.#backend.unchecked.mapRead(this.#handle, this.offset + offset, out);
    return out;
  }

  /** Detach the view, then munmap. Idempotent. */
  unmap(): void {
    if (!this.#mapped) return;
    this.#view = undefined;
    this.#backend.unchecked.munmap(this.#handle);
    this.#mapped = false;
    const cb = this.#onUnmap;
    this.#onUnmap = undefined;
    cb?.(this);
  }

  [Symbol.dispose](): void {
    quietly(() => this.unmap());
  }
}

/** What an allocator already knows, so the constructor does not ask the kernel again. */
interface DmaBufState {
  path?: string;
  size?: number;
  /**
   * (st_dev, st_ino) of the dma-buf: from the buffer a dup was made of, or 'last' when fd is the one
   * the backend handed out last (its identity is in Backend.lastId).
   */
  id?: FdIdentity | 'last';
  readOnly?: boolean;
}

export class DmaBuf extends OwnedFd {
  readonly #size: number;
  readonly #path: string | undefined;
  readonly #readOnly: boolean;
  /** Made at the first map(): most buffers of a pipeline are never mapped by this object. */
  /**
   * The live mappings, each at its `_slot` (removal swaps the last one in). An array, not a Set: a
   * Set that gains and loses a member on every map()/unmap() keeps rehashing.
   */
  #mappings: Mapping[] | undefined;
  #onUnmap: ((m: Mapping) => void) | undefined;
  /** Open CPU accesses (beginAccess without endAccess yet), per mode: read, write, readwrite. */
  #reads = 0;
  #writes = 0;
  #readwrites = 0;
  #cpu: Mapping | undefined;
  readonly #syncers: Syncers;

  /** @internal Takes ownership of fd, which must be a dma-buf. Use the allocators or DmaBuf.fromFd(). */
  constructor(fd: Fd, backend: Backend = getBackend(), state: DmaBufState = {}) {
    // with the identity, so the finalizer never closes a number reused by another file
    super(backend, fd, 'DmaBuf', state.id);
    this.#path = state.path;
    this.#syncers = syncersOf(backend);
    try {
      this.#size = state.size ?? backend.lseek(fd, 0, SEEK_END);
      this.#readOnly = state.readOnly ?? (backend.getFlags(fd) & O_ACCMODE) === O_RDONLY;
    } catch (e) {
      this.close();
      throw e;
    }
  }

  /**
   * Adopt an existing dma-buf fd (from another process, a V4L2 export, ...). It is verified to be a
   * dma-buf. With dup (the default) the library owns a duplicate and the caller keeps its fd.
   */
  static fromFd(fd: number, options: { dup?: boolean } = {}): DmaBuf {
    validateInt(fd, 'fd', 0, I32_MAX);
    const o = validateObject<{ dup?: boolean }>(options, 'options', true) ?? {};
    if (o.dup !== undefined && typeof o.dup !== 'boolean') throw invalidArgType('options.dup', 'of type boolean', o.dup);
    const backend = getBackend();
    const own = o.dup === false ? fd : backend.dup(fd);
    try {
      // The fd's link says it (readlink opens no file, so this works with no fd or file left to
      // open); fdinfo's exp_name is the fallback for a kernel whose link says neither.
      let link = '';
      try {
        link = backend.readlink(`/proc/self/fd/${own}`);
      } catch {
        /* no procfs link: ask fdinfo */
      }
      if (!isDmabufLink(link)) {
        const info = parseFdinfo(backend.readTextFile(`/proc/self/fdinfo/${own}`));
        if (!info.has('exp_name')) {
          throw invalidArgValue('fd', fd, 'is not a dma-buf (its fdinfo has no exp_name)');
        }
      }
    } catch (e) {
      if (own !== fd) backend.close(own);
      throw e;
    }
    return new DmaBuf(own, backend);
  }

  get size(): number {
    return this.#size;
  }

  get inode(): bigint {
    return inodeOf(this.identity);
  }

  /** The dma-buf was opened read-only (e.g. a PRIME export without DRM_RDWR). */
  get readOnly(): boolean {
    return this.#readOnly;
  }

  /** Where the buffer came from (an allocator's device path), if known. */
  get path(): string | undefined {
    return this.#path;
  }

  protected override onStale(): void {
    // Mappings stay valid memory after the fd is gone; unmap them so no view outlives the object.
    this.#unmapAll();
    this.#clearAccesses();
  }

  /** Only open CPU accesses need the fd at close (their SYNC END); mappings go without it. */
  protected override closeNeedsFd(): boolean {
    return this.#reads + this.#writes + this.#readwrites > 0;
  }

  /** End open CPU accesses (when the fd is still ours), unmap every mapping (views detach). */
  protected override onClose(ours: boolean): void {
    if (ours) this.#endAllAccess();
    this.#clearAccesses();
    this.#unmapAll();
  }

  /** Size, exporter, name, reference count and flags, from /proc/self/fdinfo. */
  info(): DmaBufInfo {
    this.checkOpen();
    // the identity check and the read: one call, one fstat; null: the fd is not ours any more
    const id = this.identity;
    const text = this.backend.unchecked.fdinfoChecked(this.rawFd, id.dev, id.inoHi, id.inoLo);
    if (text === null) this.#stale();
    return infoOf(text, this.#size, id);
  }

  /** The exporter's name (fdinfo exp_name). */
  get exporter(): string {
    return this.info().exporter;
  }

  /** DMA_BUF_SET_NAME: at most 31 bytes of UTF-8, no NUL. Shows in fdinfo and /proc/<pid>/maps. */
  setName(name: string): void {
    validateString(name, 'name');
    if (name.includes('\0')) throw invalidArgValue('name', name, 'must not contain NUL bytes');
    const bytes = Buffer.byteLength(name, 'utf8');
    if (bytes > DMA_BUF_NAME_LEN - 1) throw outOfRange('name', `at most ${DMA_BUF_NAME_LEN - 1} bytes of UTF-8`, `${bytes} bytes`);
    this.checkOpen();
    const id = this.identity;
    // the identity check and the ioctl: one call, one fstat
    if (this.backend.unchecked.dmabufSetNameChecked(this.rawFd, id.dev, id.inoHi, id.inoLo, name) !== 0) this.#stale();
  }

  /** After a checked call found the fd not ours: verifiedFd() makes the object closed and throws. */
  #stale(): never {
    this.verifiedFd(); // throws ERR_DMABUF_STALE_FD
    throw staleFdError(this.label, this.rawFd);
  }

  /**
   * Map the buffer into this process. 'read' gives a mapping without a writable view (read it with
   * mapping.read()); 'write' and 'readwrite' give `mapping.bytes`, a Uint8Array over the pages.
   * Bracket CPU access with access()/beginAccess() around reads and writes.
   */
  map(access: Access = 'readwrite', options: MapOptions = {}): Mapping {
    validateOneOf(access, 'access', ACCESS_MODES);
    const o = validateObject<MapOptions>(options, 'options', true) ?? {};
    const page = this.backend.pageSize;
    const offset = o.offset === undefined ? 0 : validateInt(o.offset, 'options.offset', 0, this.#size);
    if (offset % page !== 0) throw outOfRange('options.offset', `a multiple of the page size (${page})`, offset);
    const maxLen = this.#size - offset;
    const length = o.length === undefined ? maxLen : validateInt(o.length, 'options.length', 1, maxLen);
    if (length === 0) throw outOfRange('options.offset', `less than the buffer size (${this.#size})`, offset);
    this.checkOpen();
    const mode = access === 'read' ? 'read' : 'readwrite';
    const prot = mode === 'read' ? PROT_READ : PROT_READ | PROT_WRITE;
    // Always the whole buffer, from offset 0, and the Mapping exposes the window: GEM shmem exporters
    // (vgem, vkms, ...) ignore the mmap offset of a dma-buf (drm_gem_shmem_fault computes the page
    // from the address, not vm_pgoff), so a window mapped at an offset would silently show the
    // buffer's first pages; and the mock can alias only whole buffers. It costs address space only.
    // The identity check and the mmap are one call (one fstat); null: the fd is not ours any more.
    const id = this.identity;
    let handle = this.#mmap(() => this.backend.unchecked.mmapChecked(this.rawFd, id.dev, id.inoHi, id.inoLo,
      this.#size, prot, MAP_SHARED, 0));
    if (handle === null) {
      const fd = this.verifiedFd(); // throws ERR_DMABUF_STALE_FD
      handle = this.#mmap(() => this.backend.mmap(fd, this.#size, prot, MAP_SHARED, 0))!;
    }
    const m = new Mapping(this.backend, handle, mode, offset, this.#onUnmap ??= (x) => this.#forget(x), length);
    const all = this.#mappings ??= [];
    m._slot = all.length;
    all.push(m);
    return m;
  }

  /** A mapping of this buffer was unmapped: take it out of #mappings. */
  #forget(m: Mapping): void {
    const all = this.#mappings;
    const i = m._slot;
    if (all === undefined || all[i] !== m) return;
    const last = all.pop()!;
    if (last !== m) {
      all[i] = last;
      last._slot = i;
    }
  }

  /** An mmap call, its error with the buffer's path (and a hint for a read-only buffer). */
  #mmap(call: () => MapHandle | null): MapHandle | null {
    try {
      return call();
    } catch (e) {
      throw withPath(e, this.#path, (e as { code?: string }).code === 'EACCES' && this.#readOnly
        ? 'the dma-buf is read-only: map it with \'read\'' : undefined);
    }
  }

  /** The mapping access() hands out: kept while the buffer is open. */
  #cpuMapping(): Mapping {
    if (!this.#cpu || !this.#cpu.mapped) this.#cpu = this.map(this.#readOnly ? 'read' : 'readwrite');
    return this.#cpu;
  }

  /** DMA_BUF_IOCTL_SYNC START: begin CPU access. May block while fences are pending (see beginAccessAsync). */
  beginAccess(access: Access): void {
    const flag = syncFlag(access);
    this.checkOpen();
    // DMA_BUF_IOCTL_SYNC on the hot path: no identity check before the ioctl (it would double the
    // syscalls of a START/END pair). If the number was closed and reused behind our back, the ioctl
    // fails on anything but another dma-buf, and the check after the failure reports the reuse; on
    // another dma-buf it only does cache maintenance there, which changes no data.
    // START and END are called from two call sites, not one shared helper: each site then sees one
    // target and V8 calls it directly (measured: a shared site costs about 12% of the pair in the VM).
    try {
      this.#syncers[DMA_BUF_SYNC_START | flag]!(this.rawFd);
    } catch (e) {
      this.verifiedFd();
      throw e;
    }
    this.#count(flag, 1);
  }

  /** DMA_BUF_IOCTL_SYNC END: end CPU access begun with the same mode. */
  endAccess(access: Access): void {
    const flag = syncFlag(access);
    this.checkOpen();
    if (this.#openOf(flag) === 0) throw stateError(`endAccess('${access}') without a matching beginAccess('${access}')`);
    this.#count(flag, -1);
    try {
      this.#syncers[DMA_BUF_SYNC_END | flag]!(this.rawFd); // see beginAccess
    } catch (e) {
      this.verifiedFd();
      throw e;
    }
  }

  /** Open accesses of one mode, by its SYNC flag (READ, WRITE or RW). */
  #openOf(flag: number): number {
    return flag === DMA_BUF_SYNC_READ ? this.#reads : flag === DMA_BUF_SYNC_WRITE ? this.#writes : this.#readwrites;
  }

  #count(flag: number, by: 1 | -1): void {
    if (flag === DMA_BUF_SYNC_READ) this.#reads += by;
    else if (flag === DMA_BUF_SYNC_WRITE) this.#writes += by;
    else this.#readwrites += by;
  }

  #clearAccesses(): void {
    this.#reads = 0;
    this.#writes = 0;
    this.#readwrites = 0;
  }

  /**
   * Begin CPU access without blocking the event loop: waits for the buffer's fences off the JS thread
   * (in slices, so it can time out or be aborted), then issues SYNC START on the thread pool.
   * Rejects with ERR_DMABUF_TIMEOUT when `timeout` ms pass first.
   */
  async beginAccessAsync(access: Access, options: WaitOptions = {}): Promise<void> {
    validateOneOf(access, 'access', ACCESS_MODES);
    const o = validateWaitOptions(options);
    this.checkOpen();
    const ready = await waitReadable(this.backend, () => this.verifiedFd(), access === 'read' ? POLLIN : POLLOUT, o);
    if (!ready) throw dmabufError('ERR_DMABUF_TIMEOUT', `the buffer's fences did not signal within ${o.timeout} ms`, { path: this.#path, timeout: o.timeout });
    await this.backend.dmabufSyncAsync(this.verifiedFd(), DMA_BUF_SYNC_START | SYNC_FLAG[access]);
    this.#count(SYNC_FLAG[access], 1);
  }

  /**
   * Run fn between SYNC START and SYNC END; END always happens, also when fn throws or its promise
   * rejects. fn gets the bytes: a zero-copy view, or for a read-only buffer a copy.
   */
  access<T>(access: Access, fn: (bytes: Uint8Array) => T): T {
    validateOneOf(access, 'access', ACCESS_MODES);
    validateFunction(fn, 'fn');
    const bytes = this.#bytesFor(access);
    this.beginAccess(access);
    return this.#runThenEnd(access, fn, bytes);
  }

  /** access() whose START does not block the event loop (see beginAccessAsync). */
  async accessAsync<T>(access: Access, fn: (bytes: Uint8Array) => T | Promise<T>, options: WaitOptions = {}): Promise<T> {
    validateOneOf(access, 'access', ACCESS_MODES);
    validateFunction(fn, 'fn');
    const bytes = this.#bytesFor(access);
    await this.beginAccessAsync(access, options);
    return await this.#runThenEnd(access, fn, bytes);
  }

  #bytesFor(access: Access): Uint8Array {
    const m = this.#cpuMapping();
    if (m.access === 'read') {
      if (access !== 'read') {
        throw withPath(systemError('EACCES', 'mmap'), this.#path, 'the dma-buf is read-only: only \'read\' access is possible');
      }
      return m.read();
    }
    return m.bytes;
  }

  #runThenEnd<T>(access: Access, fn: (bytes: Uint8Array) => T, bytes: Uint8Array): T {
    let result: T;
    try {
      result = fn(bytes);
    } catch (e) {
      this.#endQuietly(access);
      throw e;
    }
    if (result instanceof Promise) {
      return result.then(
        (v) => {
          this.endAccess(access);
          return v;
        },
        (e) => {
          this.#endQuietly(access);
          throw e;
        },
      ) as T;
    }
    this.endAccess(access);
    return result;
  }

  #endQuietly(access: Access): void {
    try {
      if (!this.closed) this.endAccess(access);
    } catch {
      /* the caller's error wins */
    }
  }

  /** CPU accesses begun and not yet ended, per mode. */
  get openAccesses(): ReadonlyMap<Access, number> {
    const out = new Map<Access, number>();
    for (const a of ACCESS_MODES) if (this.#openOf(SYNC_FLAG[a]) > 0) out.set(a, this.#openOf(SYNC_FLAG[a]));
    return out;
  }

  /**
   * DMA_BUF_IOCTL_EXPORT_SYNC_FILE: a sync file with the buffer's current fences — for 'read', what a
   * reader must wait for (writers); for 'write'/'readwrite', every fence. Linux 6.0+.
   */
  exportSyncFile(access: Access): SyncFile {
    validateOneOf(access, 'access', ACCESS_MODES);
    let fd: Fd;
    try {
      fd = this.backend.dmabufExportSyncFile(this.verifiedFd(), SYNC_FLAG[access]);
    } catch (e) {
      throw withPath(e, undefined, fileTableHint(this.backend, (e as { code?: string }).code));
    }
    return new SyncFile(fd, this.backend, true);
  }

  /** DMA_BUF_IOCTL_IMPORT_SYNC_FILE: add the sync file's fences as read or write fences. Linux 6.0+. */
  importSyncFile(syncFile: SyncFile, access: Access): void {
    if (!(syncFile instanceof SyncFile)) throw invalidArgType('syncFile', 'an instance of SyncFile', syncFile);
    validateOneOf(access, 'access', ACCESS_MODES);
    this.backend.dmabufImportSyncFile(this.verifiedFd(), SYNC_FLAG[access], syncFile.fd);
  }

  /** True when CPU access of this kind would not wait (poll with timeout 0). */
  isIdle(access: Access = 'readwrite'): boolean {
    validateOneOf(access, 'access', ACCESS_MODES);
    const ev = access === 'read' ? POLLIN : POLLOUT;
    return (this.backend.poll(this.verifiedFd(), ev, 0) & ev) !== 0;
  }

  /**
   * Resolves true once CPU access of this kind would not wait (for 'read': no pending writers; for
   * 'write'/'readwrite': no pending fences at all), false when `timeout` ms pass first. Off the JS thread.
   */
  idle(access: Access = 'readwrite', options: WaitOptions = {}): Promise<boolean> {
    try {
      validateOneOf(access, 'access', ACCESS_MODES);
      this.checkOpen();
    } catch (e) {
      return Promise.reject(e);
    }
    return waitReadable(this.backend, () => this.verifiedFd(), access === 'read' ? POLLIN : POLLOUT, options);
  }

  /** A second, independently owned DmaBuf for the same buffer (same inode). */
  dup(): DmaBuf {
    const fd = this.backend.dup(this.verifiedFd());
    return new DmaBuf(fd, this.backend, { path: this.#path, size: this.#size, id: this.identity, readOnly: this.#readOnly });
  }

  /**
   * Give up ownership of the fd and return it (the caller must close it). Mappings are unmapped first.
   */
  release(): Fd {
    this.verifiedFd();
    this.#endAllAccess();
    this.#unmapAll();
    return this.detach();
  }

  #endAllAccess(): void {
    for (const access of ACCESS_MODES) {
      const n = this.#openOf(SYNC_FLAG[access]);
      for (let i = 0; i < n; i++) {
        try {
          this.backend.dmabufSync(this.rawFd, DMA_BUF_SYNC_END | SYNC_FLAG[access]);
        } catch {
          /* closing anyway */
        }
      }
    }
    this.#clearAccesses();
  }

  #unmapAll(): void {
    const all = this.#mappings;
    this.#mappings = undefined;
    this.#cpu = undefined;
    if (all) for (const m of all) m.unmap();
  }
}
