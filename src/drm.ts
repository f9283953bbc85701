/// <reference types="node" preserve="true" />
/**
 * DRM devices: dumb buffers, PRIME export (handle → dma-buf) and import (dma-buf → GEM handle).
 *
 * The kernel gives the same GEM handle each time one DRM file imports the same dma-buf (and the
 * exporter's own handle on self-import), but does not count references: a GEM_CLOSE closes it for
 * everyone. So every Device keeps a handle table with reference counts (dumb buffers included), and
 * the handle is closed exactly once, when its last reference goes.
 */
import type { Backend, DrmVersion, Fd, MapHandle } from './backend/types';
import { getBackend } from './backend/index';
import {
  DRM_CAP_DUMB_BUFFER, DRM_CAP_PRIME, DRM_CLOEXEC, DRM_PRIME_CAP_EXPORT, DRM_PRIME_CAP_IMPORT, DRM_RDWR,
  MAP_SHARED, O_RDWR, PROT_READ, PROT_WRITE,
} from './constants';
import { DmaBuf, Mapping } from './dmabuf';
import {
  closedError, dmabufError, invalidArgType, invalidArgValue, validateBoolean, validateInt, validateObject, validateString,
  withPath,
} from './errors';
import type { Frame } from './frame';
import { addFramebuffer, type Framebuffer } from './framebuffer';
import { deviceHint } from './hints';
import { OwnedFd, quietly } from './lifecycle';

export const DRI_DIR = '/dev/dri';

export type NodeKind = 'card' | 'render';

export interface DrmDeviceInfo {
  path: string;
  kind: NodeKind;
  /** Driver name from DRM_IOCTL_VERSION: 'vgem', 'vkms', 'virtio_gpu', 'i915', ... */
  driver: string;
  version: { major: number; minor: number; patchlevel: number };
  date: string;
  desc: string;
  /** What works, probed (vgem answers DRM_CAP_DUMB_BUFFER with EOPNOTSUPP yet has dumb buffers). */
  dumbBuffers: boolean;
  /** DRM_CAP_DUMB_BUFFER as the kernel answered it: a number, or the errno name. */
  dumbBufferCap: number | string;
  primeImport: boolean;
  primeExport: boolean;
  /** Why the node could not be opened, if it could not (the rest is then unknown). */
  error?: string;
}

function kindOf(path: string): NodeKind | undefined {
  const base = path.slice(path.lastIndexOf('/') + 1);
  if (/^card\d+$/.test(base)) return 'card';
  if (/^renderD\d+$/.test(base)) return 'render';
  return undefined;
}

function nodeOrder(a: string, b: string): number {
  const ka = kindOf(a) === 'card' ? 0 : 1;
  const kb = kindOf(b) === 'card' ? 0 : 1;
  const na = Number(a.replace(/\D+/g, ''));
  const nb = Number(b.replace(/\D+/g, ''));
  return ka - kb || na - nb;
}

function tryCap(backend: Backend, fd: Fd, cap: number): number | string {
  try {
    return backend.drmGetCap(fd, cap);
  } catch (e) {
    return (e as { code?: string }).code ?? 'error';
  }
}

function describeOpen(backend: Backend, fd: Fd, path: string): DrmDeviceInfo {
  const kind = kindOf(path) ?? 'card';
  const v: DrmVersion = backend.drmVersion(fd);
  const dumbCap = tryCap(backend, fd, DRM_CAP_DUMB_BUFFER);
  const prime = tryCap(backend, fd, DRM_CAP_PRIME);
  let dumb = false;
  if (kind === 'card') {
    // Try what the cap cannot tell reliably: a 1x1 buffer (bpp 32 suits every driver).
    try {
      const bo = backend.drmCreateDumb(fd, 1, 1, 32, 0);
      backend.drmDestroyDumb(fd, bo.handle);
      dumb = true;
    } catch {
      dumb = false;
    }
  }
  return {
    path,
    kind,
    driver: v.name,
    version: { major: v.major, minor: v.minor, patchlevel: v.patchlevel },
    date: v.date,
    desc: v.desc,
    dumbBuffers: dumb,
    dumbBufferCap: dumbCap,
    primeImport: typeof prime === 'number' && (prime & DRM_PRIME_CAP_IMPORT) !== 0,
    primeExport: typeof prime === 'number' && (prime & DRM_PRIME_CAP_EXPORT) !== 0,
  };
}

function nodes(backend: Backend): string[] {
  let names: string[];
  try {
    names = backend.readdir(DRI_DIR);
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') return [];
    throw withPath(e, DRI_DIR);
  }
  return names.filter((n) => kindOf(n) !== undefined).sort(nodeOrder).map((n) => `${DRI_DIR}/${n}`);
}

/** Every card and render node with its driver and what it can do. */
function list(): DrmDeviceInfo[] {
  const backend = getBackend();
  return nodes(backend).map((path) => {
    let fd: Fd;
    try {
      fd = backend.open(path, O_RDWR);
    } catch (e) {
      const err = e as { code?: string; message?: string };
      return {
        path, kind: kindOf(path) ?? 'card', driver: '', version: { major: 0, minor: 0, patchlevel: 0 }, date: '', desc: '',
        dumbBuffers: false, dumbBufferCap: err.code ?? 'error', primeImport: false, primeExport: false,
        error: `${err.code ?? ''} ${deviceHint('drm', err.code) ?? err.message ?? ''}`.trim(),
      };
    }
    try {
      return describeOpen(backend, fd, path);
    } finally {
      backend.close(fd);
    }
  });
}

export interface OpenQuery {
  /** Driver name as DRM_IOCTL_VERSION gives it: 'vgem', 'vkms', 'virtio_gpu', ... */
  driver: string;
  /** 'card' (default: dumb buffers and modesetting need it) or 'render'. */
  kind?: NodeKind;
}

/** Open a DRM node by path, or the first node of a driver. */
function open(target: string | OpenQuery): Device {
  const backend = getBackend();
  if (typeof target === 'string') {
    if (target === '') throw invalidArgValue('path', target, 'must be a DRM node path such as /dev/dri/card0');
    let fd: Fd;
    try {
      fd = backend.open(target, O_RDWR);
    } catch (e) {
      throw withPath(e, target, deviceHint('drm', (e as { code?: string }).code));
    }
    return new Device(backend, fd, target);
  }
  const q = validateObject<OpenQuery>(target, 'target');
  if (!q) throw invalidArgType('target', 'a path or { driver }', target);
  validateString(q.driver, 'target.driver');
  const kind = q.kind ?? 'card';
  if (kind !== 'card' && kind !== 'render') throw invalidArgValue('target.kind', kind, "must be 'card' or 'render'");
  const refused: string[] = [];
  for (const path of nodes(backend)) {
    if (kindOf(path) !== kind) continue;
    let fd: Fd;
    try {
      fd = backend.open(path, O_RDWR);
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === 'EACCES' || code === 'EPERM') refused.push(path);
      // a node that is gone or not ours is skipped; running out of fds or memory is the caller's news
      else if (code === 'EMFILE' || code === 'ENFILE' || code === 'ENOMEM') throw withPath(e, path);
      continue;
    }
    let name: string;
    try {
      name = backend.drmVersion(fd).name;
    } catch {
      backend.close(fd);
      continue;
    }
    if (name === q.driver) return new Device(backend, fd, path);
    backend.close(fd);
  }
  // Nodes this process may not open may be the one asked for: then the permission is the hint.
  const hint = deviceHint('drm', refused.length > 0 ? 'EACCES' : 'ENODEV');
  const denied = refused.length > 0 ? ` (permission denied on ${refused.join(', ')})` : '';
  throw dmabufError('ERR_DMABUF_NO_DEVICE', `no ${kind} node with driver '${q.driver}' in ${DRI_DIR}${denied}; ${hint}`,
    { path: DRI_DIR, hint });
}

interface HandleEntry {
  refs: number;
  /** created by CREATE_DUMB (closed with DESTROY_DUMB) or imported (GEM_CLOSE) */
  origin: 'dumb' | 'import';
}

export interface DumbOptions {
  width: number;
  height: number;
  /** Bits per pixel (virtio-gpu accepts 32 only). */
  bpp: number;
  /** Must be 0 (the kernel defines none). */
  flags?: number;
}

export class Device extends OwnedFd {
  readonly path: string;
  readonly kind: NodeKind;
  readonly driver: string;
  readonly version: DrmVersion;
  readonly #handles = new Map<number, HandleEntry>();
  readonly #mappings = new Set<Mapping>();
  readonly #dumbs = new Set<DumbBuffer>();
  readonly #imports = new Set<GemHandle>();

  /** @internal use drm.open() */
  constructor(backend: Backend, fd: Fd, path: string) {
    try {
      super(backend, fd, 'drm.Device');
    } catch (e) {
      throw withPath(e, path);
    }
    this.path = path;
    this.kind = kindOf(path) ?? 'card';
    try {
      this.version = backend.drmVersion(fd);
    } catch (e) {
      this.close();
      throw withPath(e, path);
    }
    this.driver = this.version.name;
  }

  protected override get label(): string {
    return `DRM device ${this.path}`;
  }

  /** DRM_IOCTL_GET_CAP */
  getCap(capability: number): number {
    validateInt(capability, 'capability', 0, 0xffffffff);
    return this.backend.drmGetCap(this.fd, capability);
  }

  /** Capabilities and what works, as drm.list() reports them for this node. */
  info(): DrmDeviceInfo {
    return describeOpen(this.backend, this.fd, this.path);
  }

  /** Live GEM handles this file holds through the library, with their reference counts. */
  get handles(): ReadonlyMap<number, number> {
    return new Map([...this.#handles].map(([h, e]) => [h, e.refs]));
  }

  /** DRM_IOCTL_MODE_CREATE_DUMB (card nodes only: EACCES on render nodes). */
  createDumb(options: DumbOptions): DumbBuffer {
    const o = validateObject<DumbOptions>(options, 'options');
    if (!o) throw invalidArgType('options', 'an object', options);
    const width = validateInt(o.width, 'options.width', 0, 0xffffffff);
    const height = validateInt(o.height, 'options.height', 0, 0xffffffff);
    const bpp = validateInt(o.bpp, 'options.bpp', 0, 0xffffffff);
    const flags = o.flags === undefined ? 0 : validateInt(o.flags, 'options.flags', 0, 0xffffffff);
    let bo;
    try {
      bo = this.backend.drmCreateDumb(this.fd, width, height, bpp, flags);
    } catch (e) {
      const code = (e as { code?: string }).code;
      let hint: string | undefined;
      if (code === 'EACCES' && this.kind === 'render') hint = 'dumb buffers need a card node, not a render node';
      else if (code === 'EINVAL' && this.driver === 'virtio_gpu' && bpp !== 32) hint = 'virtio-gpu accepts bpp 32 only';
      throw withPath(e, this.path, hint);
    }
    this.#ref(bo.handle, 'dumb');
    const d = new DumbBuffer(this, bo.handle, width, height, bpp, bo.pitch, bo.size);
    this.#dumbs.add(d);
    return d;
  }

  /**
   * DRM_IOCTL_PRIME_FD_TO_HANDLE. The same dma-buf imported twice gives the same handle (and a
   * self-import gives the exporter's handle); each GemHandle must be released, and the handle is
   * closed when the last one is.
   */
  import(buf: DmaBuf): GemHandle {
    if (!(buf instanceof DmaBuf)) throw invalidArgType('buf', 'an instance of DmaBuf', buf);
    let handle: number;
    try {
      handle = this.backend.drmPrimeFdToHandle(this.fd, buf.fd);
    } catch (e) {
      throw withPath(e, this.path, (e as { code?: string }).code === 'ENODEV'
        ? `${this.driver} cannot import this buffer (exporter '${safeExporter(buf)}')` : undefined);
    }
    this.#ref(handle, 'import');
    const g = new GemHandle(this, handle, buf.inode);
    this.#imports.add(g);
    return g;
  }

  /**
   * A framebuffer of the frame (ADDFB2), from any provider, without a copy: each distinct buffer of
   * the frame is imported once (planes sharing a buffer share its handle), with the frame's pitches,
   * offsets and, when the driver takes modifiers (DRM_CAP_ADDFB2_MODIFIERS), its modifier. The
   * driver's refusals keep their errno (EINVAL: a format no plane takes, a bad pitch) with a hint.
   * Display.show() and flip() take it; release() removes it.
   */
  addFramebuffer(frame: Frame): Framebuffer {
    return addFramebuffer(this, frame);
  }

  #ref(handle: number, origin: HandleEntry['origin']): void {
    const e = this.#handles.get(handle);
    if (e) e.refs++;
    else this.#handles.set(handle, { refs: 1, origin });
  }

  /** @internal drop one reference; close the handle with the last one */
  unref(handle: number, from: DumbBuffer | GemHandle): void {
    if (from instanceof DumbBuffer) this.#dumbs.delete(from);
    else this.#imports.delete(from);
    const e = this.#handles.get(handle);
    if (!e) return;
    if (--e.refs > 0) return;
    this.#handles.delete(handle);
    if (this.closed) return; // the file is closing: that releases the handle
    if (e.origin === 'dumb') this.backend.drmDestroyDumb(this.fd, handle);
    else this.backend.drmGemClose(this.fd, handle);
  }

  /** @internal */
  mapHandle(handle: number, size: number): Mapping {
    const offset = this.backend.drmMapDumb(this.fd, handle);
    let m: MapHandle;
    try {
      m = this.backend.mmap(this.rawFd, size, PROT_READ | PROT_WRITE, MAP_SHARED, offset);
    } catch (e) {
      throw withPath(e, this.path);
    }
    const mapping = new Mapping(this.backend, m, 'readwrite', 0, (x) => this.#mappings.delete(x));
    this.#mappings.add(mapping);
    return mapping;
  }

  /** Unmap every mapping and release every handle (closing the file releases them too). */
  protected override onClose(): void {
    for (const m of [...this.#mappings]) m.unmap();
    for (const ref of [...this.#dumbs, ...this.#imports]) {
      try {
        if (ref instanceof DumbBuffer) ref.destroy();
        else ref.release();
      } catch {
        /* closing the file releases every handle anyway */
      }
    }
  }
}

function safeExporter(buf: DmaBuf): string {
  try {
    return buf.info().exporter;
  } catch {
    return '?';
  }
}

/** A dumb buffer: a linear, CPU-mappable buffer a display can scan out. */
export class DumbBuffer implements Disposable {
  readonly device: Device;
  readonly handle: number;
  readonly width: number;
  readonly height: number;
  readonly bpp: number;
  /** Bytes per row. */
  readonly pitch: number;
  /** Bytes, page aligned. */
  readonly size: number;
  #destroyed = false;

  /** @internal */
  constructor(device: Device, handle: number, width: number, height: number, bpp: number, pitch: number, size: number) {
    this.device = device;
    this.handle = handle;
    this.width = width;
    this.height = height;
    this.bpp = bpp;
    this.pitch = pitch;
    this.size = size;
  }

  get destroyed(): boolean {
    return this.#destroyed || this.device.closed;
  }

  #check(): void {
    if (this.destroyed) throw closedError('DumbBuffer');
  }

  /** MODE_MAP_DUMB + mmap on the device: a zero-copy view (mapping.bytes). */
  map(): Mapping {
    this.#check();
    return this.device.mapHandle(this.handle, this.size);
  }

  /** PRIME_HANDLE_TO_FD: a dma-buf for this buffer (O_RDWR unless readOnly; always CLOEXEC). */
  export(options: { readOnly?: boolean } = {}): DmaBuf {
    this.#check();
    const o = validateObject<{ readOnly?: boolean }>(options, 'options', true) ?? {};
    if (o.readOnly !== undefined) validateBoolean(o.readOnly, 'options.readOnly');
    const backend = this.device.backend;
    let fd: Fd;
    try {
      fd = backend.drmPrimeHandleToFd(this.device.fd, this.handle, DRM_CLOEXEC | (o.readOnly ? 0 : DRM_RDWR));
    } catch (e) {
      throw withPath(e, this.device.path);
    }
    // PR-4: a re-export keeps the first export's access mode, so ask the kernel for it
    return new DmaBuf(fd, backend, { path: this.device.path, size: this.size, id: 'last' });
  }

  /**
   * Drop this buffer's handle reference (DESTROY_DUMB once nothing else in this file uses the handle).
   * Mappings and exported dma-bufs stay valid: the kernel keeps the memory while they exist. Idempotent.
   */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.device.unref(this.handle, this);
  }

  [Symbol.dispose](): void {
    quietly(() => this.destroy());
  }
}

/** One reference to an imported GEM handle in a device file. */
export class GemHandle implements Disposable {
  readonly device: Device;
  readonly handle: number;
  /** Inode of the dma-buf it was imported from. */
  readonly inode: bigint;
  #released = false;

  /** @internal */
  constructor(device: Device, handle: number, inode: bigint) {
    this.device = device;
    this.handle = handle;
    this.inode = inode;
  }

  get released(): boolean {
    return this.#released || this.device.closed;
  }

  /** Drop this reference; GEM_CLOSE when it was the last one. Idempotent. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.device.unref(this.handle, this);
  }

  [Symbol.dispose](): void {
    quietly(() => this.release());
  }
}

export const drm = {
  dir: DRI_DIR,
  list,
  open,
};
