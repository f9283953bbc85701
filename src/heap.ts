/**
 * dma-heaps (Linux 5.6+, /dev/dma_heap/<name>): 'system', and CMA heaps for physically contiguous
 * memory under whatever name the kernel gives them.
 */
import type { Backend, Fd } from './backend/types';
import { getBackend } from './backend/index';
import { O_CLOEXEC, O_RDONLY, O_RDWR } from './constants';
import { DmaBuf } from './dmabuf';
import {
  invalidArgValue, validateBoolean, validateInt, validateObject, validateString, withPath,
} from './errors';
import { deviceHint } from './hints';
import { admitAllocation } from './memory';
import { OwnedFd, staleFdError } from './lifecycle';

export const HEAP_DIR = '/dev/dma_heap';

/** Names CMA heaps have had: the cma= region ('reserved', 'linux,cma'), device-tree pools, 6.x+'s default. */
export const CMA_HEAP_NAMES: readonly string[] = ['default_cma_region', 'reserved', 'linux,cma', 'default-pool'];

export interface HeapInfo {
  name: string;
  path: string;
  /** Physically contiguous memory (a CMA heap). */
  contiguous: boolean;
  /** CPU-cached mappings (every heap but the '-uncached' variants). */
  cached: boolean;
}

function describeHeap(name: string): HeapInfo {
  return {
    name,
    path: `${HEAP_DIR}/${name}`,
    contiguous: CMA_HEAP_NAMES.includes(name) || /cma/i.test(name),
    cached: !/uncached/i.test(name),
  };
}

export interface AllocateOptions {
  /** A read-only dma-buf (O_RDONLY): it can only be mapped for reading. */
  readOnly?: boolean;
  /** DMA_BUF_SET_NAME after allocation. */
  name?: string;
  /** Raw heap_flags (the kernel defines none: anything but 0 is EINVAL). */
  heapFlags?: number;
  /**
   * Ask the kernel even for more than the machine can back. By default a request larger than
   * MemAvailable (less a reserve), or than CmaFree for a CMA heap, is refused with ENOMEM before the
   * kernel is asked, because the kernel would rather hand out pages until the OOM killer strikes.
   */
  allowOvercommit?: boolean;
}

export class Heap extends OwnedFd {
  readonly name: string;
  readonly path: string;
  readonly contiguous: boolean;
  readonly cached: boolean;
  /** @internal use heaps.open() */
  constructor(backend: Backend, info: HeapInfo, fd: Fd) {
    super(backend, fd, `Heap '${info.name}'`);
    this.name = info.name;
    this.path = info.path;
    this.contiguous = info.contiguous;
    this.cached = info.cached;
  }

  /** Nothing to release through the fd first: close() checks and closes in one call. */
  protected override closeNeedsFd(): boolean {
    return false;
  }

  /** DMA_HEAP_IOCTL_ALLOC. The kernel rounds size up to whole pages; 0 is EINVAL. */
  allocate(size: number, options: AllocateOptions = {}): DmaBuf {
    validateInt(size, 'size');
    try {
      this.checkOpen();
    } catch (e) {
      throw withPath(e, this.path);
    }
    const o = validateObject<AllocateOptions>(options, 'options', true) ?? {};
    if (o.readOnly !== undefined) validateBoolean(o.readOnly, 'options.readOnly');
    if (o.name !== undefined) validateString(o.name, 'options.name');
    if (o.allowOvercommit !== undefined) validateBoolean(o.allowOvercommit, 'options.allowOvercommit');
    const heapFlags = o.heapFlags === undefined ? 0 : validateInt(o.heapFlags, 'options.heapFlags', 0, Number.MAX_SAFE_INTEGER);
    if (o.allowOvercommit !== true && size > 0) {
      admitAllocation(this.backend, size, this.contiguous ? 'cma' : 'system', 'ioctl(DMA_HEAP_IOCTL_ALLOC)', this.path);
    }
    let fd: Fd;
    try {
      // the check that the heap fd is still ours and the allocation: one call, one fstat
      const id = this.identity;
      fd = this.backend.unchecked.heapAllocChecked(this.rawFd, id.dev, id.inoHi, id.inoLo, size,
        O_CLOEXEC | (o.readOnly ? O_RDONLY : O_RDWR), heapFlags);
    } catch (e) {
      const code = (e as { code?: string }).code;
      throw withPath(e, this.path, code === 'ENOMEM' && this.contiguous
        ? `the CMA area is exhausted or too fragmented for ${size} bytes (see CmaFree in /proc/meminfo)` : undefined);
    }
    if (fd < 0) {
      try {
        this.verifiedFd(); // throws ERR_DMABUF_STALE_FD
      } catch (e) {
        throw withPath(e, this.path);
      }
      throw withPath(staleFdError(this.label, this.rawFd), this.path);
    }
    // the heap allocates whole pages (dma_heap_buffer_alloc: PAGE_ALIGN(len)); the identity is lastId's
    const page = this.backend.pageSize;
    const buf = new DmaBuf(fd, this.backend, {
      path: this.path, size: Math.ceil(size / page) * page, readOnly: o.readOnly === true, id: 'last',
    });
    if (o.name !== undefined) {
      try {
        buf.setName(o.name);
      } catch (e) {
        buf.close();
        throw e;
      }
    }
    return buf;
  }
}

export interface HeapQuery {
  contiguous?: boolean;
  cached?: boolean;
}

function list(): HeapInfo[] {
  const backend = getBackend();
  let names: string[];
  try {
    names = backend.readdir(HEAP_DIR);
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') return [];
    throw withPath(e, HEAP_DIR);
  }
  return names.map(describeHeap);
}

function open(name: string): Heap {
  validateString(name, 'name');
  if (name === '' || name.includes('/') || name === '.' || name === '..') {
    throw invalidArgValue('name', name, 'must be a heap name such as \'system\'');
  }
  const backend = getBackend();
  const info = describeHeap(name);
  let fd: Fd;
  try {
    fd = backend.open(info.path, O_RDONLY); // read-only is enough to allocate
  } catch (e) {
    const code = (e as { code?: string }).code;
    // ENOENT with heaps present is a wrong name, not a kernel without heaps
    const others = code === 'ENOENT' ? list().map((h) => h.name) : [];
    throw withPath(e, info.path, others.length > 0
      ? `this kernel has no heap named '${name}'; its heaps are: ${others.join(', ')}`
      : deviceHint('heap', code));
  }
  return new Heap(backend, info, fd);
}

/** The first heap matching the query (CMA heaps in the order of CMA_HEAP_NAMES), opened; or undefined. */
function find(query: HeapQuery = {}): Heap | undefined {
  const q = validateObject<HeapQuery>(query, 'query', true) ?? {};
  if (q.contiguous !== undefined) validateBoolean(q.contiguous, 'query.contiguous');
  if (q.cached !== undefined) validateBoolean(q.cached, 'query.cached');
  const rank = (h: HeapInfo): number => {
    const i = CMA_HEAP_NAMES.indexOf(h.name);
    return i < 0 ? CMA_HEAP_NAMES.length : i;
  };
  const match = list()
    .filter((h) => (q.contiguous === undefined || h.contiguous === q.contiguous) && (q.cached === undefined || h.cached === q.cached))
    .sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name));
  return match.length > 0 ? open(match[0]!.name) : undefined;
}

export const heaps = {
  dir: HEAP_DIR,
  /** Every heap in /dev/dma_heap with what is known of it; [] when the kernel has none. */
  list,
  /** Open a heap by name (read-only open is enough to allocate). */
  open,
  /** Find a heap by property, e.g. heaps.find({ contiguous: true }) for CMA. */
  find,
};
