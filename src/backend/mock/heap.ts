/**
 * dma-heaps of the mock kernel (native/heap.cc; drivers/dma-buf/dma-heap.c): one node per heap in
 * /dev/dma_heap, DMA_HEAP_IOCTL_ALLOC with the kernel's checks, a byte budget per heap (a CMA area's
 * size: ENOMEM beyond it), and the heap's name as the buffers' exporter.
 */
import { DMA_HEAP_VALID_FD_FLAGS, O_ACCMODE, O_CLOEXEC } from '../../constants';
import { systemError } from '../../errors';
import type { Fd, HeapOps } from '../types';
import { newDmabuf } from './dmabuf';
import { Bo, type Driver, type HeapState, type Machine, makedev } from './kernel';
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

/** dma_heap_ioctl_allocate(): the kernel's checks, the buffer, and its fd (close-on-exec per fd_flags). */
function allocate(m: Machine, h: HeapState, len: number, fdFlags: number, heapFlags: number, syscall: string): Fd {
  if (fdFlags & ~DMA_HEAP_VALID_FD_FLAGS) throw systemError('EINVAL', syscall);
  if (heapFlags !== 0) throw systemError('EINVAL', syscall);
  const size = m.pageAlign(len);
  if (size === 0) throw systemError('EINVAL', syscall);
  if (h.used + size > h.size) throw systemError('ENOMEM', syscall);
  h.used += size;
  const bo = new Bo(new Store(size), h.name, 'heap', null);
  const f = newDmabuf(m, bo, fdFlags & O_ACCMODE, () => { h.used -= size; });
  return m.install(f, (fdFlags & O_CLOEXEC) !== 0);
}

export function heapOps(m: Machine): HeapOps {
  return {
    heapAlloc(heap, len, fdFlags, heapFlags) {
      const syscall = 'ioctl(DMA_HEAP_IOCTL_ALLOC)';
      // close-on-exec whatever the caller passes, like the addon
      return allocate(m, m.ioctl(heap, syscall, 'heap').heap, len, fdFlags | O_CLOEXEC, heapFlags, syscall);
    },
  };
}
