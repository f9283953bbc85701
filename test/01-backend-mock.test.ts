/**
 * Mock backend only: the model itself rather than the kernel contract. Its options
 * (createMockBackend({ udmabuf, heaps, drm, swSync, kernel, pageSize })), the machine it models by
 * default (device nodes, module parameters, release), fd numbering and MockControl (openFds,
 * liveMappings, reset), the CMA heap's budget, and its stated limits (no sockets). Each test has a
 * machine of its own. Runs when the runner chose the mock; the kernel contract the two backends share
 * is in the other 01-backend-* files, where the mock's documented limits are guarded case by case.
 */
import assert from 'node:assert/strict';
import { createMockBackend, type MockControl } from '../src/backend/mock';
import type { Backend } from '../src/backend/types';
import {
  F_SEAL_SHRINK, MAP_SHARED, MFD_ALLOW_SEALING, O_RDONLY, O_RDWR, PROT_READ, PROT_WRITE, UDMABUF_FLAGS_CLOEXEC,
} from '../src/constants';
import { MiB, throwsCode, throwsErrno } from './support/index';
import { onlyOnBackend, VM_DRIVERS } from './support/backend';

type Mock = Backend & MockControl;
const P = 4096;
const ALLOC = 'ioctl(DMA_HEAP_IOCTL_ALLOC)';

describe('backend: mock only (the model)', function () {
  onlyOnBackend('mock');
  let b: Mock;
  beforeEach(function () {
    b = createMockBackend({ drm: [...VM_DRIVERS] });
  });
  afterEach(function () {
    b.reset();
  });

  describe('the kernel version it models', function () {
    it('from Linux 6.17 a signalled fence is named signaled-timeline / detached-driver; before, by its driver', function () {
      for (const [kernel, names] of [['6.12.0-mock', ['t', 'sw_sync']], ['6.17.0-mock', ['signaled-timeline', 'detached-driver']]] as const) {
        const k = createMockBackend({ kernel });
        const tl = k.open('/sys/kernel/debug/sync/sw_sync', O_RDWR);
        const f = k.swSyncCreateFence(tl, 1, 'f');
        assert.equal(k.syncFileInfo(f).fences[0]!.driverName, 'sw_sync', 'unsignalled: the driver names it');
        k.swSyncInc(tl, 1);
        const info = k.syncFileInfo(f).fences[0]!;
        assert.equal(info.driverName, names[1], kernel);
        if (names[0] !== 't') assert.equal(info.objName, names[0], kernel);
        k.reset();
      }
    });

    it('RLIMIT_NOFILE (option nofile): the fd past it is EMFILE from the call that would make it, and nothing is kept', function () {
      const k = createMockBackend({ nofile: 3 });
      const fds = [k.memfdCreate('a', 0), k.memfdCreate('b', 0), k.memfdCreate('c', 0)];
      throwsErrno(() => k.memfdCreate('d', 0), 'EMFILE', { syscall: 'memfd_create' });
      throwsErrno(() => k.dup(fds[0]!), 'EMFILE', { syscall: 'dup' });
      k.close(fds[2]!);
      const heap = k.open('/dev/dma_heap/linux,cma', O_RDONLY);
      throwsErrno(() => k.heapAlloc(heap, MiB, O_RDWR, 0), 'EMFILE', { syscall: ALLOC });
      k.close(fds[1]!);
      // the CMA budget was given back by the refused allocation: all of it can still be had
      const all = k.heapAlloc(heap, k.options.heaps.find((h) => h.name === 'linux,cma')!.size, O_RDWR, 0);
      k.close(all);
      k.reset();
    });
  });

  describe('the machine it models', function () {
    it('is named mock and has 4 KiB pages', function () {
      assert.equal(b.name, 'mock');
      assert.equal(b.pageSize, P);
    });

    it('lists its device nodes: cardN per driver, render nodes for vgem and virtio_gpu, two heaps', function () {
      assert.deepEqual(b.readdir('/dev/dri'), ['card0', 'card1', 'card2', 'renderD128', 'renderD130']);
      assert.deepEqual(b.readdir('/dev/dma_heap'), ['linux,cma', 'system']);
      assert.equal(b.drmVersion(b.open('/dev/dri/card0', O_RDWR)).name, 'vgem');
      assert.equal(b.drmVersion(b.open('/dev/dri/card1', O_RDWR)).name, 'vkms');
      assert.equal(b.drmVersion(b.open('/dev/dri/card2', O_RDWR)).name, 'virtio_gpu');
      throwsErrno(() => b.open('/dev/dri/renderD129', O_RDWR), 'ENOENT', { syscall: 'open' }); // vkms: no render node
      assert.deepEqual(createMockBackend().readdir('/dev/dri'), ['card0', 'card1', 'renderD128'], 'default: vgem and vkms');
    });

    it('has the default module parameters and release', function () {
      assert.equal(b.readTextFile('/sys/module/udmabuf/parameters/size_limit_mb'), '64\n');
      assert.equal(b.readTextFile('/sys/module/udmabuf/parameters/list_limit'), '1024\n');
      assert.equal(b.readTextFile('/proc/sys/kernel/osrelease'), '6.12.0-mock\n');
    });

    it('numbers fds from 1000, shares descriptions on dup, and openFds() lists what is open', function () {
      const fd = b.open('/dev/udmabuf', O_RDONLY);
      assert.ok(fd >= 1000);
      const d = b.dup(fd);
      assert.deepEqual(b.openFds(), [fd, d]);
      b.close(fd);
      b.close(d);
      assert.deepEqual(b.openFds(), []);
    });

    it('has no sockets: sendFds and recvFds → ERR_DMABUF_UNSUPPORTED', function () {
      throwsCode(() => b.sendFds(0, new Uint8Array(1), []), 'ERR_DMABUF_UNSUPPORTED');
      throwsCode(() => b.recvFds(0, 1, 1), 'ERR_DMABUF_UNSUPPORTED');
    });

    it('reset() closes every fd and mapping', function () {
      b.open('/dev/udmabuf', O_RDONLY);
      const buf = b.heapAlloc(b.open('/dev/dma_heap/system', O_RDONLY), P, O_RDWR, 0);
      const m = b.mmap(buf, P, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
      assert.equal(b.liveMappings(), 1);
      b.reset();
      assert.deepEqual(b.openFds(), []);
      assert.equal(b.isMapped(m), false);
      assert.equal(b.liveMappings(), 0);
    });
  });

  describe('options', function () {
    it('udmabuf: { sizeLimitMb, listLimit } sets the module parameters the model enforces', function () {
      const m = createMockBackend({ udmabuf: { sizeLimitMb: 1, listLimit: 2 } });
      assert.equal(m.readTextFile('/sys/module/udmabuf/parameters/size_limit_mb'), '1\n');
      assert.equal(m.readTextFile('/sys/module/udmabuf/parameters/list_limit'), '2\n');
      const dev = m.open('/dev/udmabuf', O_RDONLY);
      const mfd = m.memfdCreate('t', MFD_ALLOW_SEALING);
      m.ftruncate(mfd, 2 * MiB);
      m.addSeals(mfd, F_SEAL_SHRINK);
      throwsErrno(() => m.udmabufCreate(dev, mfd, 0, MiB + P, UDMABUF_FLAGS_CLOEXEC), 'EINVAL', { syscall: 'ioctl(UDMABUF_CREATE)' });
      m.close(m.udmabufCreate(dev, mfd, 0, MiB, UDMABUF_FLAGS_CLOEXEC));
      const item = { memfd: mfd, offset: 0, size: P };
      throwsErrno(() => m.udmabufCreateList(dev, UDMABUF_FLAGS_CLOEXEC, [item, item, item]), 'EINVAL',
        { syscall: 'ioctl(UDMABUF_CREATE_LIST)' });
      m.close(m.udmabufCreateList(dev, UDMABUF_FLAGS_CLOEXEC, [item, item]));
    });

    it('udmabuf: false, swSync: false, heaps, kernel and pageSize shape the machine', function () {
      const m = createMockBackend({ udmabuf: false, swSync: false, heaps: [{ name: 'system' }], kernel: '6.1.0-test', pageSize: 16384 });
      throwsErrno(() => m.open('/dev/udmabuf', O_RDONLY), 'ENOENT', { syscall: 'open', path: '/dev/udmabuf' });
      assert.equal(m.access('/sys/kernel/debug/sync/sw_sync', 6), false);
      assert.deepEqual(m.readdir('/dev/dma_heap'), ['system']);
      assert.equal(m.readTextFile('/proc/sys/kernel/osrelease'), '6.1.0-test\n');
      assert.equal(m.pageSize, 16384);
      const heap = m.open('/dev/dma_heap/system', O_RDONLY);
      assert.equal(m.fstat(m.heapAlloc(heap, 1, O_RDWR, 0)).size, 16384, 'len is rounded to its pages');
    });
  });

  describe('CMA heap (linux,cma, 64 MiB by default)', function () {
    it('ENOMEM beyond the reserve, which comes back when the last fd and mapping are gone', function () {
      const cma = b.open('/dev/dma_heap/linux,cma', O_RDONLY);
      const big = b.heapAlloc(cma, 48 * MiB, O_RDWR, 0);
      throwsErrno(() => b.heapAlloc(cma, 32 * MiB, O_RDWR, 0), 'ENOMEM', { syscall: ALLOC });
      const m = b.mmap(big, P, PROT_READ, MAP_SHARED, 0);
      b.close(big);
      throwsErrno(() => b.heapAlloc(cma, 32 * MiB, O_RDWR, 0), 'ENOMEM', { syscall: ALLOC }); // the mapping keeps it
      b.munmap(m);
      b.close(b.heapAlloc(cma, 32 * MiB, O_RDWR, 0));
    });
  });
});
