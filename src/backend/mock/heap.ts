/**
 * dma-heaps of the mock kernel (native/heap.cc; drivers/dma-buf/dma-heap.c): one node per heap in
 * /dev/dma_heap, DMA_HEAP_IOCTL_ALLOC with the kernel's checks, a byte budget per heap (a CMA area's
 * size: ENOMEM beyond it), and the heap's name as the buffers' exporter.
 */
import { DMA_HEAP_VALID_FD_FLAGS, O_ACCMODE } from '../../constants';
import { systemError } from '../../errors';
import type { HeapOps } from '../types';
import { newDmabuf } from './dmabuf';
import { Bo, type Driver, type HeapState, makedev } from './kernel';
import type { Machine } from './kernel';
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

export function heapOps(m: Machine): HeapOps {
  return {
    heapAlloc(heap, len, fdFlags, heapFlags) {
      const syscall = 'ioctl(DMA_HEAP_IOCTL_ALLOC)';
      const h = m.ioctl(heap, syscall, 'heap').heap;
      if (fdFlags & ~DMA_HEAP_VALID_FD_FLAGS) throw systemError('EINVAL', syscall);
      if (heapFlags !== 0) throw systemError('EINVAL', syscall);
      const size = m.pageAlign(len);
      if (size === 0) throw systemError('EINVAL', syscall);
      if (h.used + size > h.size) throw systemError('ENOMEM', syscall);
      h.used += size;
      const bo = new Bo(new Store(size), h.name, 'heap', null);
      return m.install(newDmabuf(m, bo, fdFlags & O_ACCMODE, () => { h.used -= size; }));
    },
  };
}
