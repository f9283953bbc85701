/**
 * dma-heaps of the mock kernel (native/heap.cc; drivers/dma-buf/dma-heap.c): one node per heap in
 * /dev/dma_heap, DMA_HEAP_IOCTL_ALLOC with the kernel's checks, a byte budget per heap (a CMA area's
 * size: ENOMEM beyond it), and the heap's name as the buffers' exporter.
 *
 * dma_heap_ioctl() picks its ioctl by _IOC_NR alone: a number of 1 or more is EINVAL (Machine.ioctl),
 * and a command of any interface whose number is 0 is run as ALLOC over the bytes it carries
 * (heapIoctlNr0 below). Of the Backend's ioctls those are DMA_BUF_IOCTL_SYNC (_IOW('b', 0, u64)),
 * SW_SYNC_IOC_CREATE_FENCE (_IOWR('W', 0, 40 bytes)), DRM_IOCTL_VERSION (_IOWR('d', 0), whose
 * first call is all zeros) and VIDIOC_QUERYCAP (_IOR('V', 0): nothing is copied in); the last two
 * allocate len 0, EINVAL, which Machine.ioctl (foreignIoctl) answers too.
 */
import { DMA_HEAP_VALID_FD_FLAGS, O_ACCMODE, O_CLOEXEC } from '../../constants';
import { systemError } from '../../errors';
import type { Fd, HeapOps } from '../types';
import { Bo, type Driver, type HeapFile, type HeapState, type Machine, makedev, newDmabuf } from './kernel';
import { checkId } from './fd';
import { Store } from './pages';

const HEAP_MAJOR = 251; // dma_heap's dynamic char major

/** A node per configured heap. */
export const heapDriver: Driver = (m) => {
  m.o.heaps.forEach((h, i) => {
    const heap: HeapState = { name: h.name, size: h.size, used: 0, contiguous: h.contiguous };
    m.heaps.push(heap);
    const p = `/dev/dma_heap/${h.name}`;
    m.node(p, 'chr', makedev(HEAP_MAJOR, i), 0o666, (flags) => m.file(p, flags, { kind: 'heap', heap }));
  });
};

/** struct dma_heap_allocation_data */
interface AllocationData {
  len: bigint;
  fd: number;
  fdFlags: number;
  heapFlags: bigint;
}
const ALLOCATION_DATA_SIZE = 24;

/** dma_heap_ioctl_allocate(): the kernel's checks, the buffer, and its fd (close-on-exec per fd_flags). */
function allocate(m: Machine, h: HeapState, d: AllocationData, syscall: string): Fd {
  if (d.fd !== 0) throw systemError('EINVAL', syscall);
  if (d.fdFlags & ~DMA_HEAP_VALID_FD_FLAGS) throw systemError('EINVAL', syscall);
  if (d.heapFlags !== 0n) throw systemError('EINVAL', syscall);
  const ps = BigInt(m.pageSize);
  const size = BigInt.asUintN(64, ((d.len + ps - 1n) / ps) * ps); // PAGE_ALIGN
  if (size === 0n) throw systemError('EINVAL', syscall);
  if (size > BigInt(h.size - h.used)) throw systemError('ENOMEM', syscall);
  const bytes = Number(size);
  h.used += bytes;
  const bo = new Bo(new Store(bytes), h.name, 'heap', null);
  bo.contiguous = h.contiguous;
  const f = newDmabuf(m, bo, d.fdFlags & O_ACCMODE, () => { h.used -= bytes; });
  return m.install(f, (d.fdFlags & O_CLOEXEC) !== 0, syscall);
}

/**
 * A command of another interface with ioctl number 0 sent to a heap: the kernel copies in the bytes
 * the command carries (`arg`, when it is _IOC_WRITE), zero-fills the rest of the allocation struct,
 * allocates, and copies back as many bytes as the command reads (`out`, when it is _IOC_READ), the new
 * fd in the struct's fd field. Returns those bytes (empty when nothing is copied back): whatever the
 * caller then reads there, the new fd is not where it looks.
 */
export function heapIoctlNr0(m: Machine, f: HeapFile, syscall: string, arg: Uint8Array, out: boolean): Uint8Array {
  const kdata = new Uint8Array(Math.max(arg.length, ALLOCATION_DATA_SIZE));
  kdata.set(arg);
  const v = new DataView(kdata.buffer);
  const fd = allocate(m, f.heap, { len: v.getBigUint64(0, true), fd: v.getUint32(8, true),
    fdFlags: v.getUint32(12, true), heapFlags: v.getBigUint64(16, true) }, syscall);
  v.setUint32(8, fd, true);
  return out ? kdata.subarray(0, arg.length) : new Uint8Array(0);
}

export function heapOps(m: Machine): HeapOps {
  const heapAlloc = (heap: number, len: number, fdFlags: number, heapFlags: number): number => {
    const syscall = 'ioctl(DMA_HEAP_IOCTL_ALLOC)';
    // the addon's struct: fd 0, close-on-exec whatever the caller passes
    const d = { len: BigInt(len), fd: 0, fdFlags: fdFlags | O_CLOEXEC, heapFlags: BigInt(heapFlags) };
    return allocate(m, m.ioctl(heap, syscall, 'heap').heap, d, syscall);
  };
  return {
    heapAlloc,
    heapAllocChecked: (heap, dev, inoHi, inoLo, len, fdFlags, heapFlags) =>
      (checkId(m, heap, dev, inoHi, inoLo) === 0 ? heapAlloc(heap, len, fdFlags, heapFlags) : -1),
  };
}
