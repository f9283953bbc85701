/**
 * dma-heap contract tests (docs/conformance.md section C, plus the library's own behaviour).
 */
import assert from 'node:assert/strict';
import { heaps, udmabuf, constants as C, CMA_HEAP_NAMES } from '../src/index';
import { backend, inVm, MiB, needsHeap, PAGE, throwsCode, throwsErrno } from './support/index';

describe('dma-heaps', function () {
  it('C27: lists /dev/dma_heap with system among them', function () {
    const list = heaps.list();
    if (list.length === 0) {
      if (inVm) assert.fail('no dma-heaps in the VM');
      this.skip();
    }
    const sys = list.find((h) => h.name === 'system');
    assert.ok(sys, `system heap in ${list.map((h) => h.name)}`);
    assert.equal(sys.path, '/dev/dma_heap/system');
    assert.equal(sys.contiguous, false);
    assert.equal(sys.cached, true);
  });

  describe('system heap', function () {
    beforeEach(function () {
      needsHeap(this, 'system');
    });

    it('C28: allocates 1 MiB, maps it, brackets a memset with SYNC', function () {
      using h = heaps.open('system');
      using b = h.allocate(MiB);
      assert.equal(b.size, MiB);
      b.access('readwrite', (bytes) => bytes.fill(0x5a));
      b.access('read', (bytes) => assert.equal(bytes[MiB - 1], 0x5a));
    });

    it('C29: 4 KiB, 64 KiB, 1 MiB, 2 MiB allocate; 1024 alloc/close cycles do not fail', function () {
      using h = heaps.open('system');
      for (const size of [4096, 65536, MiB, 2 * MiB]) {
        using b = h.allocate(size);
        assert.equal(b.size, size);
      }
      for (let i = 0; i < 1024; i++) h.allocate(PAGE()).close();
    });

    it('C30: new buffers are zero-filled, also after others were filled with 0xff', function () {
      using h = heaps.open('system');
      for (const size of [4096, MiB]) {
        const bufs = Array.from({ length: 32 }, () => h.allocate(size));
        for (const b of bufs) b.access('write', (bytes) => bytes.fill(0xff));
        for (const b of bufs) b.close();
        const again = Array.from({ length: 32 }, () => h.allocate(size));
        for (const b of again) {
          b.access('read', (bytes) => assert.ok(bytes.every((x) => x === 0), 'zero-filled'));
          b.close();
        }
      }
    });

    it('C31: heap_flags != 0 → EINVAL', function () {
      using h = heaps.open('system');
      throwsErrno(() => h.allocate(PAGE(), { heapFlags: 0x111111 }), 'EINVAL',
        { syscall: 'ioctl(DMA_HEAP_IOCTL_ALLOC)', path: '/dev/dma_heap/system' });
    });

    it('C32: fd_flags outside O_CLOEXEC|O_ACCMODE → EINVAL', function () {
      const fd = backend().open('/dev/dma_heap/system', C.O_RDONLY);
      try {
        throwsErrno(() => backend().heapAlloc(fd, PAGE(), C.O_RDWR | C.O_CLOEXEC | C.O_NONBLOCK, 0), 'EINVAL');
      } finally {
        backend().close(fd);
      }
    });

    it('C33: len 0 → EINVAL; len 1 → one page', function () {
      using h = heaps.open('system');
      throwsErrno(() => h.allocate(0), 'EINVAL');
      using b = h.allocate(1);
      assert.equal(b.size, PAGE());
    });

    it('C35: the ALLOC ioctl on a non-heap fd fails (ENOTTY)', function () {
      using m = udmabuf.memfd(PAGE());
      throwsErrno(() => backend().heapAlloc(m.fd, PAGE(), C.O_RDWR | C.O_CLOEXEC, 0), 'ENOTTY');
    });

    it('C38: a read-only buffer cannot be mapped writable (EACCES) but can be read', function () {
      using h = heaps.open('system');
      using b = h.allocate(PAGE(), { readOnly: true });
      assert.equal(b.readOnly, true);
      assert.equal(b.info().readOnly, true);
      throwsErrno(() => b.map('readwrite'), 'EACCES', { syscall: 'mmap' });
      const m = b.map('read');
      throwsCode(() => m.bytes, 'ERR_INVALID_STATE');
      assert.equal(m.read(0, 16).length, 16);
      b.access('read', (bytes) => assert.equal(bytes.length, PAGE())); // a copy
      throwsErrno(() => b.access('write', () => undefined), 'EACCES');
    });

    it('C39: fdinfo exp_name is the heap name', function () {
      using h = heaps.open('system');
      using b = h.allocate(PAGE());
      assert.equal(b.info().exporter, 'system');
    });

    it('C40: the heap node opened read-only is enough to allocate', function () {
      const fd = backend().open('/dev/dma_heap/system', C.O_RDONLY);
      try {
        const buf = backend().heapAlloc(fd, PAGE(), C.O_RDWR | C.O_CLOEXEC, 0);
        backend().close(buf);
      } finally {
        backend().close(fd);
      }
    });

    it('allocate() through a heap fd closed and reused behind its back: ERR_DMABUF_STALE_FD, no ioctl on the other file', function () {
      const h = heaps.open('system');
      const fd = h.fd;
      backend().close(fd);
      // the lowest free number on Linux (any in the mock): most likely fd's
      using other = udmabuf.memfd(PAGE());
      const tracked = backend().name === 'native' ? (backend() as unknown as { trackedFds(): number[] }).trackedFds().length : 0;
      throwsCode(() => h.allocate(PAGE()), 'ERR_DMABUF_STALE_FD');
      assert.equal(h.closed, true);
      throwsCode(() => h.allocate(PAGE()), 'ERR_DMABUF_CLOSED');
      if (backend().name === 'native') {
        assert.equal((backend() as unknown as { trackedFds(): number[] }).trackedFds().length, tracked, 'no buffer was made');
      }
      assert.equal(backend().fstat(other.fd).size, PAGE(), 'the other file is untouched and open');
      h.close(); // must not close the other file's fd
      assert.equal(backend().fstat(other.fd).size, PAGE());
    });

    it('rejects bad arguments before any syscall', function () {
      using h = heaps.open('system');
      throwsCode(() => h.allocate(-1), 'ERR_OUT_OF_RANGE', RangeError);
      throwsCode(() => h.allocate('1' as unknown as number), 'ERR_INVALID_ARG_TYPE', TypeError);
      throwsCode(() => h.allocate(PAGE(), { readOnly: 1 as unknown as boolean }), 'ERR_INVALID_ARG_TYPE', TypeError);
      throwsCode(() => heaps.open('../udmabuf'), 'ERR_INVALID_ARG_VALUE', TypeError);
      throwsCode(() => heaps.open(3 as unknown as string), 'ERR_INVALID_ARG_TYPE', TypeError);
      h.close();
      throwsCode(() => h.allocate(PAGE()), 'ERR_DMABUF_CLOSED');
      h.close(); // idempotent
    });
  });

  it('an unknown heap → ENOENT with the path and a hint naming the heaps there are', function () {
    const present = heaps.list().map((h) => h.name);
    if (present.length === 0 && !inVm) this.skip();
    const e = throwsErrno(() => heaps.open('no-such-heap'), 'ENOENT', { syscall: 'open', path: '/dev/dma_heap/no-such-heap' });
    const hint = (e as { hint?: string }).hint ?? '';
    assert.match(hint, /no heap named 'no-such-heap'/);
    for (const name of present) assert.ok(hint.includes(name), `the hint names ${name}: ${hint}`);
  });

  describe('CMA heap', function () {
    it('heaps.find({ contiguous: true }) finds it under its kernel name', function () {
      const cma = heaps.list().filter((h) => h.contiguous);
      if (cma.length === 0) {
        if (inVm && process.env.DMABUF_VM_CMA !== '0') assert.fail('no CMA heap in the VM');
        this.skip();
      }
      using h = heaps.find({ contiguous: true });
      assert.ok(h);
      assert.ok(CMA_HEAP_NAMES.includes(h.name) || /cma/i.test(h.name), h.name);
      using b = h.allocate(MiB);
      assert.equal(b.info().exporter, h.name);
      b.access('write', (bytes) => bytes.fill(1));
    });

    it('allocations succeed up to the reserved size and fail with ENOMEM beyond it', function () {
      const cma = heaps.list().filter((h) => h.contiguous);
      if (cma.length === 0) {
        if (inVm && process.env.DMABUF_VM_CMA !== '0') assert.fail('no CMA heap in the VM');
        this.skip();
      }
      using h = heaps.find({ contiguous: true })!;
      const held = [];
      try {
        // 4 MiB chunks until the area is exhausted (64 MiB reserved in the VM and the mock)
        let ok = 0;
        let err: (Error & { code?: string; hint?: string }) | undefined;
        for (let i = 0; i < 64; i++) {
          try {
            held.push(h.allocate(4 * MiB));
            ok++;
          } catch (e) {
            err = e as Error & { code?: string };
            break;
          }
        }
        assert.ok(ok >= 4, `at least 16 MiB allocated (got ${ok} × 4 MiB)`);
        assert.ok(err, 'the area ran out before 256 MiB');
        assert.equal(err.code, 'ENOMEM');
        assert.match(err.hint ?? '', /CMA/);
      } finally {
        for (const b of held) b.close();
      }
      // and it is usable again afterwards
      h.allocate(4 * MiB).close();
    });
  });
});
