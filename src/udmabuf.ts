/**
 * udmabuf: dma-bufs over memfd pages (Linux 4.20+, CONFIG_UDMABUF, /dev/udmabuf).
 */
import type { Backend, Fd } from './backend/types';
import { getBackend } from './backend/index';
import {
  F_SEAL_SHRINK, MFD_ALLOW_SEALING, MFD_HUGETLB, O_RDONLY, UDMABUF_FLAGS_CLOEXEC,
} from './constants';
import { DmaBuf } from './dmabuf';
import {
  I32_MAX, invalidArgType, validateBoolean, validateInt, validateObject, validateString, withPath,
} from './errors';
import { admitAllocation } from './memory';
import { OwnedFd } from './lifecycle';
import { deviceHint } from './hints';

export const UDMABUF_PATH = '/dev/udmabuf';
const PARAMS = '/sys/module/udmabuf/parameters';

export interface UdmabufLimits {
  /** Largest buffer in bytes (size_limit_mb), if the kernel says. */
  sizeLimit?: number;
  /** Most list entries (list_limit), if the kernel says. */
  listLimit?: number;
}

export interface MemfdOptions {
  /** memfd name (shows in /proc/<pid>/fd); default 'dmabuf'. */
  name?: string;
  /** Create with MFD_ALLOW_SEALING (default true; udmabuf requires it). */
  sealing?: boolean;
  /** Seals to add after sizing (default F_SEAL_SHRINK, which udmabuf requires). 0 for none. */
  seals?: number;
  /** MFD_HUGETLB (needs reserved huge pages). */
  hugetlb?: boolean;
}

/** An owned memfd: the memory behind udmabuf buffers. */
export class Memfd extends OwnedFd {
  readonly size: number;

  /** @internal */
  constructor(backend: Backend, fd: Fd, size: number) {
    super(backend, fd, 'Memfd');
    this.size = size;
  }

  /** Nothing to release through the fd first: close() checks and closes in one call. */
  protected override closeNeedsFd(): boolean {
    return false;
  }

  /** F_GET_SEALS */
  get seals(): number {
    return this.backend.getSeals(this.fd);
  }

  /** F_ADD_SEALS */
  addSeals(seals: number): void {
    validateInt(seals, 'seals', 0, 0xffff);
    this.backend.addSeals(this.fd, seals);
  }

  /** pwrite into the memfd. */
  write(data: Uint8Array, position = 0): number {
    if (!(data instanceof Uint8Array)) throw invalidArgType('data', 'an instance of Uint8Array', data);
    validateInt(position, 'position');
    return this.backend.write(this.fd, data, position);
  }

  /** pread from the memfd. */
  read(position: number, length: number): Uint8Array {
    validateInt(position, 'position');
    validateInt(length, 'length', 0, 1 << 30);
    return this.backend.pread(this.fd, length, position);
  }
}

export interface UdmabufItem {
  /** A memfd (a Memfd or a raw fd number) sealed with F_SEAL_SHRINK and without F_SEAL_WRITE. */
  memfd: Memfd | number;
  /** Page-aligned offset into the memfd. */
  offset: number;
  /** Page-aligned size. */
  size: number;
}

export interface UdmabufOptions {
  /** DMA_BUF_SET_NAME after creation (at most 31 bytes). */
  name?: string;
  /** Raw UDMABUF flags; default UDMABUF_FLAGS_CLOEXEC (always added). */
  flags?: number;
  /** Back the buffer with huge pages (MFD_HUGETLB) when creating by size. */
  hugetlb?: boolean;
  /**
   * create(size) only: ask the kernel even for more than the machine can back. By default a size
   * larger than MemAvailable (less a reserve) is refused with ENOMEM first: UDMABUF_CREATE pins the
   * memfd's pages, and the kernel would rather hand them out until the OOM killer strikes.
   */
  allowOvercommit?: boolean;
}

const devices = new WeakMap<Backend, Fd>();

function device(backend: Backend): Fd {
  let fd = devices.get(backend);
  if (fd === undefined) {
    try {
      fd = backend.open(UDMABUF_PATH, O_RDONLY); // read-only is enough to create buffers
    } catch (e) {
      throw withPath(e, UDMABUF_PATH, deviceHint('udmabuf', (e as { code?: string }).code));
    }
    devices.set(backend, fd);
  }
  return fd;
}

function readLimit(backend: Backend, name: string): number | undefined {
  try {
    const v = Number(backend.readTextFile(`${PARAMS}/${name}`).trim());
    return Number.isFinite(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

function limitsOf(backend: Backend): UdmabufLimits {
  const mb = readLimit(backend, 'size_limit_mb');
  const list = readLimit(backend, 'list_limit');
  const out: UdmabufLimits = {};
  if (mb !== undefined) out.sizeLimit = mb * 1024 * 1024;
  if (list !== undefined) out.listLimit = list;
  return out;
}

function validateOptions(options: unknown): UdmabufOptions {
  const o = validateObject<UdmabufOptions>(options, 'options', true) ?? {};
  if (o.name !== undefined) validateString(o.name, 'options.name');
  if (o.flags !== undefined) validateInt(o.flags, 'options.flags', 0, 0xffffffff);
  if (o.hugetlb !== undefined) validateBoolean(o.hugetlb, 'options.hugetlb');
  if (o.allowOvercommit !== undefined) validateBoolean(o.allowOvercommit, 'options.allowOvercommit');
  return o;
}

function memfdFd(m: Memfd | number, name: string): Fd {
  if (m instanceof Memfd) return m.fd;
  return validateInt(m, name, 0, I32_MAX);
}

/** Explain an EINVAL from the kernel with the limit it most likely hit. */
function limitHint(backend: Backend, total: number, count: number): string | undefined {
  const l = limitsOf(backend);
  if (l.sizeLimit !== undefined && total > l.sizeLimit) {
    return `${total} bytes exceeds udmabuf size_limit_mb=${l.sizeLimit / 1048576} (${PARAMS}/size_limit_mb)`;
  }
  if (l.listLimit !== undefined && count > l.listLimit) {
    return `${count} entries exceeds udmabuf list_limit=${l.listLimit} (${PARAMS}/list_limit)`;
  }
  return undefined;
}

function finish(backend: Backend, fd: Fd, name: string | undefined, size: number): DmaBuf {
  // udmabufs are O_RDWR and exactly as large as asked (the kernel refuses anything unaligned)
  const buf = new DmaBuf(fd, backend, { path: UDMABUF_PATH, size, readOnly: false, id: 'last' });
  if (name !== undefined) {
    try {
      buf.setName(name);
    } catch (e) {
      buf.close();
      throw e;
    }
  }
  return buf;
}

/** A sealable memfd of `size` bytes (rounded up to pages), sealed with F_SEAL_SHRINK by default. */
function memfd(size: number, options: MemfdOptions = {}): Memfd {
  validateInt(size, 'size');
  const o = validateObject<MemfdOptions>(options, 'options', true) ?? {};
  if (o.name !== undefined) validateString(o.name, 'options.name');
  if (o.sealing !== undefined) validateBoolean(o.sealing, 'options.sealing');
  if (o.seals !== undefined) validateInt(o.seals, 'options.seals', 0, 0xffff);
  if (o.hugetlb !== undefined) validateBoolean(o.hugetlb, 'options.hugetlb');
  const backend = getBackend();
  const flags = (o.sealing === false ? 0 : MFD_ALLOW_SEALING) | (o.hugetlb ? MFD_HUGETLB : 0);
  const fd = backend.memfdCreate(o.name ?? 'dmabuf', flags);
  try {
    backend.ftruncate(fd, size);
    const seals = o.seals ?? (o.sealing === false ? 0 : F_SEAL_SHRINK);
    if (seals !== 0) backend.addSeals(fd, seals);
  } catch (e) {
    backend.close(fd);
    throw e;
  }
  return new Memfd(backend, fd, size);
}

/**
 * Create a udmabuf.
 * - `create(size)`: a new memfd of `size` bytes rounded up to whole pages, sealed F_SEAL_SHRINK,
 *   turned into a dma-buf with UDMABUF_CREATE; the memfd is closed afterwards (the pages live on).
 * - `create({ memfd, offset, size })`: over your own memfd, as given (the kernel wants page alignment).
 */
function create(spec: number | UdmabufItem, options: UdmabufOptions = {}): DmaBuf {
  const o = validateOptions(options);
  const backend = getBackend();
  const flags = (o.flags ?? 0) | UDMABUF_FLAGS_CLOEXEC;
  if (typeof spec === 'number') {
    validateInt(spec, 'size');
    const page = backend.pageSize;
    const size = Math.ceil(spec / page) * page;
    const dev = device(backend);
    if (o.allowOvercommit !== true && size > 0) {
      try {
        admitAllocation(backend, size, 'system', 'ioctl(UDMABUF_CREATE)', UDMABUF_PATH);
      } catch (e) {
        // over udmabuf's own size limit the kernel refuses (EINVAL) before it pins a page: let it say so
        const limit = limitsOf(backend).sizeLimit;
        if (limit === undefined || size <= limit) throw e;
      }
    }
    // memfd, size, seal, UDMABUF_CREATE and the memfd's close: one call
    let fd: Fd;
    try {
      fd = backend.unchecked.udmabufCreateSized(dev, size, flags, o.hugetlb ?? false, o.name ?? 'udmabuf');
    } catch (e) {
      if ((e as { syscall?: string }).syscall !== 'ioctl(UDMABUF_CREATE)') throw e;
      throw withPath(e, UDMABUF_PATH, limitHint(backend, size, 1));
    }
    return finish(backend, fd, o.name, size);
  }
  const item = validateObject<UdmabufItem>(spec, 'spec');
  if (!item) throw invalidArgType('spec', 'a size or an object', spec);
  const fdIn = memfdFd(item.memfd, 'spec.memfd');
  validateInt(item.offset, 'spec.offset');
  validateInt(item.size, 'spec.size');
  const dev = device(backend);
  let fd: Fd;
  try {
    fd = backend.udmabufCreate(dev, fdIn, item.offset, item.size, flags);
  } catch (e) {
    throw withPath(e, UDMABUF_PATH, limitHint(backend, item.size, 1));
  }
  return finish(backend, fd, o.name, item.size);
}

/** UDMABUF_CREATE_LIST: one dma-buf over several memfd ranges, in order. */
function createList(items: readonly UdmabufItem[], options: UdmabufOptions = {}): DmaBuf {
  if (!Array.isArray(items)) throw invalidArgType('items', 'an array', items);
  const o = validateOptions(options);
  const backend = getBackend();
  let total = 0;
  const raw = items.map((it, i) => {
    const item = validateObject<UdmabufItem>(it, `items[${i}]`);
    if (!item) throw invalidArgType(`items[${i}]`, 'an object', it);
    const r = {
      memfd: memfdFd(item.memfd, `items[${i}].memfd`),
      offset: validateInt(item.offset, `items[${i}].offset`),
      size: validateInt(item.size, `items[${i}].size`),
    };
    total += r.size;
    return r;
  });
  const dev = device(backend);
  let fd: Fd;
  try {
    fd = backend.udmabufCreateList(dev, (o.flags ?? 0) | UDMABUF_FLAGS_CLOEXEC, raw);
  } catch (e) {
    throw withPath(e, UDMABUF_PATH, limitHint(backend, total, raw.length));
  }
  return finish(backend, fd, o.name, total);
}

export const udmabuf = {
  path: UDMABUF_PATH,
  /** /dev/udmabuf exists and can be opened. */
  available(): boolean {
    const backend = getBackend();
    return backend.access(UDMABUF_PATH, 4 /* R_OK */);
  },
  /** The kernel's limits, from /sys/module/udmabuf/parameters. */
  limits(): UdmabufLimits {
    return limitsOf(getBackend());
  },
  create,
  createList,
  memfd,
};
