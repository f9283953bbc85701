/**
 * Backend contract, dma-heaps (docs/conformance.md section C, by direct ioctls): DMA_HEAP_IOCTL_ALLOC
 * on /dev/dma_heap/system, what it refuses, zero-filled buffers, read-only buffers. Direct Backend
 * calls on the backend the runner chose (test/support/backend.ts): always on the mock, on the native
 * backend where the system heap exists (in the VM always). The mock's CMA budget is in 01-backend-mock.
 */
import assert from 'node:assert/strict';
import {
  DMA_BUF_SYNC_END, DMA_BUF_SYNC_RW, DMA_BUF_SYNC_START, MAP_SHARED, O_CLOEXEC, O_RDONLY, O_RDWR, PROT_READ,
  PROT_WRITE,
} from '../src/constants';
import { MiB, throwsCode, throwsErrno } from './support/index';
import { useBackend } from './support/backend';

const RW = PROT_READ | PROT_WRITE;
const ALLOC = 'ioctl(DMA_HEAP_IOCTL_ALLOC)';
const O_CREAT = 0o100;

describe('backend: dma-heaps (conformance C)', function () {
  const t = useBackend();

  it('C28/C39/C40: ALLOC on the read-only heap node gives a mappable close-on-exec dma-buf named after the heap', function () {
    const { b } = t;
    const heap = t.heap(this); // C40: opened read-only
    const fd = t.keep(b.heapAlloc(heap, MiB, O_RDWR | O_CLOEXEC, 0));
    t.checkDmabuf(fd, MiB, 'system');
    t.writeAndReadBack(fd, MiB);
    const m = t.keepMap(b.mmap(fd, MiB, RW, MAP_SHARED, 0));
    b.dmabufSync(fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW);
    new Uint8Array(b.mapBuffer(m)).fill(0xff);
    b.dmabufSync(fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW);
    assert.equal(t.fdinfo(fd).get('exp_name'), 'system');
    assert.equal(t.fdinfo(fd).get('size'), String(MiB));
  });

  it('C30: new buffers are zero-filled, also after earlier ones were filled and freed', function () {
    const { b } = t;
    const P = t.page;
    const heap = t.heap(this);
    for (let i = 0; i < 4; i++) {
      const buf = b.heapAlloc(heap, P, O_RDWR | O_CLOEXEC, 0);
      const m = b.mmap(buf, P, RW, MAP_SHARED, 0);
      try {
        const v = new Uint8Array(b.mapBuffer(m));
        assert.ok(v.every((x) => x === 0), `buffer ${i} reads zero`);
        v.fill(0xff);
      } finally {
        b.munmap(m);
        b.close(buf);
      }
    }
  });

  it('C31–C33: heap_flags other than 0, fd_flags beyond O_CLOEXEC | O_ACCMODE, len 0 → EINVAL; len 1 is a page', function () {
    const { b } = t;
    const P = t.page;
    const heap = t.heap(this);
    throwsErrno(() => b.heapAlloc(heap, P, O_RDWR | O_CLOEXEC, 0x111111), 'EINVAL', { syscall: ALLOC });
    throwsErrno(() => b.heapAlloc(heap, MiB, O_RDWR | O_CLOEXEC, 1), 'EINVAL', { syscall: ALLOC });
    throwsErrno(() => b.heapAlloc(heap, P, O_RDWR | O_CREAT, 0), 'EINVAL', { syscall: ALLOC });
    throwsErrno(() => b.heapAlloc(heap, 0, O_RDWR | O_CLOEXEC, 0), 'EINVAL', { syscall: ALLOC });
    assert.equal(b.fstat(t.keep(b.heapAlloc(heap, 1, O_RDWR | O_CLOEXEC, 0))).size, P);
  });

  it('C38: an O_RDONLY buffer cannot be mapped writable (EACCES) but maps read-only; fdinfo flags say so', function () {
    const { b } = t;
    const P = t.page;
    const buf = t.heapBuffer(this, P, O_RDONLY | O_CLOEXEC);
    throwsErrno(() => b.mmap(buf, P, RW, MAP_SHARED, 0), 'EACCES', { syscall: 'mmap' });
    const m = t.keepMap(b.mmap(buf, P, PROT_READ, MAP_SHARED, 0));
    throwsCode(() => b.mapBuffer(m), 'ERR_INVALID_STATE');
    assert.equal(t.fdinfo(buf).get('flags'), '02000000');
    assert.equal(b.getFlags(buf) & 3, O_RDONLY);
  });
});
