/**
 * Backend contract, DRM (docs/conformance.md sections G and H, by direct ioctls): versions and caps,
 * dumb buffers (create, map, destroy), PRIME export and import (PR-n facts of docs/kernel.md), render
 * nodes, vgem fences. Direct Backend calls on the backend the runner chose (test/support/backend.ts):
 * always on the mock (with vgem, vkms and virtio_gpu), on the native backend for the drivers present
 * (in the VM all three).
 */
import assert from 'node:assert/strict';
import {
  DMA_BUF_SYNC_END, DMA_BUF_SYNC_READ, DMA_BUF_SYNC_START, DRM_CAP_DUMB_BUFFER, DRM_CAP_PRIME, DRM_CLOEXEC, DRM_RDWR,
  MAP_SHARED, O_RDONLY, O_RDWR, POLLIN, POLLOUT, PROT_READ, PROT_WRITE, VGEM_FENCE_WRITE,
} from '../src/constants';
import { drmDevices, MiB, skip, throwsErrno } from './support/index';
import { useBackend } from './support/backend';

const RW = PROT_READ | PROT_WRITE;
const CREATE_DUMB = 'ioctl(DRM_IOCTL_MODE_CREATE_DUMB)';
const MAP_DUMB = 'ioctl(DRM_IOCTL_MODE_MAP_DUMB)';
const H2F = 'ioctl(DRM_IOCTL_PRIME_HANDLE_TO_FD)';
const F2H = 'ioctl(DRM_IOCTL_PRIME_FD_TO_HANDLE)';

describe('backend: DRM (conformance G, H)', function () {
  const t = useBackend();

  /** Every card node, or a skip (a failure in the VM) when there is none. */
  function cards(ctx: Mocha.Context): string[] {
    const list = drmDevices().filter((d) => d.kind === 'card').map((d) => d.path);
    if (list.length === 0) skip(ctx, `no /dev/dri/card* on the ${t.b.name} backend`);
    return list;
  }

  describe('versions and caps', function () {
    it('DRM_IOCTL_VERSION names the driver of every card; PRIME import and export (PR-14)', function () {
      const { b } = t;
      for (const card of cards(this)) {
        const fd = t.open(card, O_RDWR);
        const v = b.drmVersion(fd);
        assert.match(v.name, /^[a-z0-9_]+$/, `${card} driver name`);
        assert.equal(typeof v.major, 'number');
        assert.equal(typeof v.desc, 'string');
        assert.equal(typeof v.date, 'string');
        assert.equal(b.drmGetCap(fd, DRM_CAP_PRIME) & 3, 3, `${card} (${v.name}) can import and export`);
      }
    });

    it('G76: vgem answers DRM_CAP_DUMB_BUFFER with EOPNOTSUPP (it has no modesetting); vkms with 1', function () {
      const { b } = t;
      const vgem = t.card(this, 'vgem');
      throwsErrno(() => b.drmGetCap(vgem, DRM_CAP_DUMB_BUFFER), 'EOPNOTSUPP', { syscall: 'ioctl(DRM_IOCTL_GET_CAP)' });
      assert.equal(b.drmGetCap(vgem, DRM_CAP_PRIME), 3);
      assert.equal(b.drmGetCap(t.card(this, 'vkms'), DRM_CAP_DUMB_BUFFER), 1);
    });

    it('virtio_gpu is driver version 0.x; vkms has no render node', function () {
      assert.equal(t.b.drmVersion(t.card(this, 'virtio_gpu')).major, 0);
      t.card(this, 'vkms');
      assert.deepEqual(drmDevices().filter((d) => d.driver === 'vkms' && d.kind === 'render'), []);
    });
  });

  describe('dumb buffers (G)', function () {
    it('on every card: create, map, PRIME export and re-export, self-import, destroy', function () {
      const { b } = t;
      for (const card of cards(this)) {
        const fd = t.open(card, O_RDWR);
        const name = b.drmVersion(fd).name;
        const dumb = b.drmCreateDumb(fd, 64, 64, 32, 0);
        assert.ok(dumb.handle > 0, `${name} handle`);
        assert.ok(dumb.pitch >= 256, `${name} pitch`);
        assert.ok(dumb.size >= 64 * 256, `${name} size`);
        const off = b.drmMapDumb(fd, dumb.handle);
        const m = t.keepMap(b.mmap(fd, dumb.size, RW, MAP_SHARED, off));
        new Uint8Array(b.mapBuffer(m))[0] = 0x77;
        const buf = t.keep(b.drmPrimeHandleToFd(fd, dumb.handle, DRM_CLOEXEC | DRM_RDWR));
        assert.ok(t.isCloexec(buf), `${name} exported fd is close-on-exec`);
        assert.equal(b.fstat(buf).size, dumb.size);
        const again = t.keep(b.drmPrimeHandleToFd(fd, dumb.handle, DRM_CLOEXEC | DRM_RDWR));
        assert.equal(b.fstat(again).ino, b.fstat(buf).ino, `${name} re-export is the same dma-buf`);
        assert.equal(b.drmPrimeFdToHandle(fd, buf), dumb.handle, `${name} self-import gives the exporting handle`);
        const bm = t.keepMap(b.mmap(buf, dumb.size, PROT_READ, MAP_SHARED, 0));
        const got = new Uint8Array(1);
        b.mapRead(bm, 0, got);
        assert.equal(got[0], 0x77, `${name} dma-buf mapping sees the dumb mapping's write`);
        throwsErrno(() => b.drmPrimeHandleToFd(fd, 0xfffff, DRM_CLOEXEC), 'ENOENT', { syscall: H2F });
        const file = t.open('/proc/version', O_RDONLY);
        throwsErrno(() => b.drmPrimeFdToHandle(fd, file), 'EINVAL', { syscall: F2H }); // PR-6: a file
        b.drmDestroyDumb(fd, dumb.handle);
        throwsErrno(() => b.drmGemClose(fd, dumb.handle), 'EINVAL', { syscall: 'ioctl(DRM_IOCTL_GEM_CLOSE)' });
      }
    });

    it('G66/G73: width, height or bpp 0, and 32-bit overflows → EINVAL', function () {
      const card = t.card(this, 'vgem');
      for (const [w, h, bpp] of [[4032, 2016, 0], [0, 2016, 32], [4032, 0, 32], [1, 1, 0xffffffff], [65536, 65536, 32]]) {
        throwsErrno(() => t.b.drmCreateDumb(card, w, h, bpp, 0), 'EINVAL', { syscall: CREATE_DUMB });
      }
    });

    it('G67/G71: pitch and page-aligned size; vgem sizes', function () {
      const { b } = t;
      const P = t.page;
      const card = t.card(this, 'vgem');
      const d = b.drmCreateDumb(card, 4032, 2016, 32, 0);
      assert.ok(d.pitch >= 4032 * 4 && d.size >= d.pitch * 2016 && d.size % P === 0);
      b.drmDestroyDumb(card, d.handle);
      assert.equal(b.drmCreateDumb(card, 1, 1, 1, 0).size, P);
      assert.equal(b.drmCreateDumb(card, 1, 1, 8, 0).size, P);
      assert.equal(b.drmCreateDumb(card, 1024, 1024, 8, 0).size, MiB);
      // conformance G71: only the mock is asked for 2 GiB
      if (t.isMock) assert.equal(b.drmCreateDumb(card, 32768, 32768, 16, 0).size, 2 * 2 ** 30);
    });

    it('G72: virtio-gpu refuses bpp other than 32 (EINVAL); 64×64×32 has pitch 256', function () {
      const virtio = t.card(this, 'virtio_gpu');
      throwsErrno(() => t.b.drmCreateDumb(virtio, 64, 64, 24, 0), 'EINVAL', { syscall: CREATE_DUMB });
      assert.equal(t.b.drmCreateDumb(virtio, 64, 64, 32, 0).pitch, 256);
    });

    it('G68/G69/G70/G77: map, mmap bounds, zero pages, another DRM file (EACCES), destroy while mapped', function () {
      const { b } = t;
      const card = t.card(this, 'vgem');
      const d = b.drmCreateDumb(card, 64, 64, 32, 0);
      const off = b.drmMapDumb(card, d.handle);
      throwsErrno(() => b.mmap(card, d.size + 1, RW, MAP_SHARED, off), 'EINVAL', { syscall: 'mmap' });
      const m = b.mmap(card, d.size, RW, MAP_SHARED, off);
      try {
        const v = new Uint8Array(b.mapBuffer(m));
        assert.ok(v.every((x) => x === 0), 'G70: a new dumb buffer reads zero');
        const other = t.card(this, 'vgem'); // the same device, another file
        throwsErrno(() => b.mmap(other, d.size, RW, MAP_SHARED, off), 'EACCES', { syscall: 'mmap' });
        b.drmDestroyDumb(card, d.handle);
        v[0] = 1;
        assert.equal(v[0], 1, 'G69: the mapping outlives the handle');
        if (t.isNative) {
          // The live mapping keeps the object, and so its offset; this file lost the right to it with the
          // handle. (The mock answers EINVAL here, as if the object were gone.)
          throwsErrno(() => b.mmap(card, d.size, RW, MAP_SHARED, off), 'EACCES', { syscall: 'mmap' });
        }
      } finally {
        b.munmap(m);
      }
      // the last mapping gone, the object and its offset are gone too
      throwsErrno(() => b.mmap(card, d.size, RW, MAP_SHARED, off), 'EINVAL', { syscall: 'mmap' });
    });

    it('G74/G75/PR-13: unknown handles; dumb-buffer ioctls on a render node → EACCES, VERSION works there', function () {
      const { b } = t;
      const card = t.card(this, 'vgem');
      throwsErrno(() => b.drmMapDumb(card, 99), 'ENOENT', { syscall: MAP_DUMB });
      throwsErrno(() => b.drmDestroyDumb(card, 99), 'EINVAL', { syscall: 'ioctl(DRM_IOCTL_MODE_DESTROY_DUMB)' });
      throwsErrno(() => b.drmGemClose(card, 99), 'EINVAL', { syscall: 'ioctl(DRM_IOCTL_GEM_CLOSE)' });
      const render = t.render(this, 'vgem');
      throwsErrno(() => b.drmCreateDumb(render, 64, 64, 32, 0), 'EACCES', { syscall: CREATE_DUMB });
      throwsErrno(() => b.drmMapDumb(render, 1), 'EACCES', { syscall: MAP_DUMB });
      assert.equal(b.drmVersion(render).name, 'vgem');
    });
  });

  describe('PRIME (H)', function () {
    it('H78/H79: flags outside DRM_CLOEXEC | DRM_RDWR → EINVAL (PR-1); an unknown handle → ENOENT (PR-2)', function () {
      const { b } = t;
      const card = t.card(this, 'vgem');
      const d = b.drmCreateDumb(card, 64, 64, 32, 0);
      for (const f of [0x1, 0x7ffff, 0x80001, 0x3]) throwsErrno(() => b.drmPrimeHandleToFd(card, d.handle, f), 'EINVAL', { syscall: H2F });
      throwsErrno(() => b.drmPrimeHandleToFd(card, 99, DRM_CLOEXEC), 'ENOENT', { syscall: H2F });
      t.keep(b.drmPrimeHandleToFd(card, d.handle, DRM_CLOEXEC));
    });

    it('H80/H86/PR-3/PR-4: read-only without DRM_RDWR; a re-export is the same dma-buf with the first mode; exp_name drm', function () {
      const { b } = t;
      const card = t.card(this, 'vgem');
      const d = b.drmCreateDumb(card, 64, 64, 32, 0);
      const ro = t.keep(b.drmPrimeHandleToFd(card, d.handle, DRM_CLOEXEC));
      throwsErrno(() => b.mmap(ro, d.size, RW, MAP_SHARED, 0), 'EACCES', { syscall: 'mmap' });
      t.keepMap(b.mmap(ro, d.size, PROT_READ, MAP_SHARED, 0));
      const again = t.keep(b.drmPrimeHandleToFd(card, d.handle, DRM_CLOEXEC | DRM_RDWR));
      assert.equal(b.fstat(again).ino, b.fstat(ro).ino);
      throwsErrno(() => b.mmap(again, d.size, RW, MAP_SHARED, 0), 'EACCES', { syscall: 'mmap' });
      assert.equal(t.fdinfo(ro).get('exp_name'), 'drm');
    });

    it('H80: writes through the dma-buf show in the dumb mapping', function () {
      const { b } = t;
      const card = t.card(this, 'vgem');
      const d = b.drmCreateDumb(card, 64, 64, 32, 0);
      const fd = t.keep(b.drmPrimeHandleToFd(card, d.handle, DRM_CLOEXEC | DRM_RDWR));
      const a = new Uint8Array(b.mapBuffer(t.keepMap(b.mmap(fd, d.size, RW, MAP_SHARED, 0))));
      const dumb = new Uint8Array(b.mapBuffer(t.keepMap(b.mmap(card, d.size, RW, MAP_SHARED, b.drmMapDumb(card, d.handle)))));
      a[10] = 5;
      assert.equal(dumb[10], 5);
    });

    it('H82/C42/PR-5–PR-10/H88: imports of a memfd, a closed fd, a self-export and a heap buffer', function () {
      const { b } = t;
      const card = t.card(this, 'vgem');
      throwsErrno(() => b.drmPrimeFdToHandle(card, t.memfd(t.page)), 'EINVAL', { syscall: F2H });
      throwsErrno(() => b.drmPrimeFdToHandle(card, 999_999), 'EBADF', { syscall: F2H });
      const d = b.drmCreateDumb(card, 64, 64, 32, 0);
      const fd = t.keep(b.drmPrimeHandleToFd(card, d.handle, DRM_CLOEXEC | DRM_RDWR));
      assert.equal(b.drmPrimeFdToHandle(card, fd), d.handle, 'PR-8: a self-import is the exporting handle');
      const heapBuf = t.heapBuffer(this, t.page);
      const h = b.drmPrimeFdToHandle(card, heapBuf); // C42
      assert.equal(b.drmPrimeFdToHandle(card, heapBuf), h, 'PR-7: the same handle again');
      throwsErrno(() => b.drmMapDumb(card, h), 'EINVAL', { syscall: MAP_DUMB }); // PR-10
      b.drmGemClose(card, h);
      // H88 (kernel-dependent): virtio-gpu may refuse a foreign dma-buf; the mock refuses
      const virtio = t.card(this, 'virtio_gpu');
      if (t.isMock) {
        throwsErrno(() => b.drmPrimeFdToHandle(virtio, heapBuf), 'ENODEV', { syscall: F2H });
      } else {
        try {
          b.drmGemClose(virtio, b.drmPrimeFdToHandle(virtio, heapBuf));
        } catch (e) {
          assert.equal((e as { code?: string }).code, 'ENODEV', `H88: an import or ENODEV, got ${(e as Error).message}`);
        }
      }
    });

    it('H87/PR-11: the dma-buf outlives GEM_CLOSE of its handle and the DRM file', function () {
      const { b } = t;
      const card = t.card(this, 'vgem');
      const d = b.drmCreateDumb(card, 64, 64, 32, 0);
      const fd = t.keep(b.drmPrimeHandleToFd(card, d.handle, DRM_CLOEXEC | DRM_RDWR));
      b.drmGemClose(card, d.handle);
      t.close(card);
      const m = t.keepMap(b.mmap(fd, d.size, RW, MAP_SHARED, 0));
      new Uint8Array(b.mapBuffer(m))[0] = 1;
      const got = new Uint8Array(1);
      b.mapRead(m, 0, got);
      assert.equal(got[0], 1);
    });
  });

  describe('vgem fences', function () {
    it('a write fence blocks SYNC START (async) and POLLIN until signalled; a second signal → ENOENT', async function () {
      const { b } = t;
      const card = t.card(this, 'vgem');
      const dumb = b.drmCreateDumb(card, 64, 64, 32, 0);
      const buf = t.keep(b.drmPrimeHandleToFd(card, dumb.handle, DRM_CLOEXEC | DRM_RDWR));
      const fence = b.vgemFenceAttach(card, dumb.handle, VGEM_FENCE_WRITE);
      assert.equal(b.poll(buf, POLLIN, 0), 0, 'a pending write fence: not readable');
      let done = false;
      const p = b.dmabufSyncAsync(buf, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ).then(() => { done = true; });
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(done, false, 'SYNC START waits for the fence');
      b.vgemFenceSignal(card, fence);
      await p;
      b.dmabufSync(buf, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ);
      assert.equal(b.poll(buf, POLLIN, 0) & POLLIN, POLLIN);
      throwsErrno(() => b.vgemFenceSignal(card, fence), 'ENOENT', { syscall: 'ioctl(DRM_IOCTL_VGEM_FENCE_SIGNAL)' });
      b.drmGemClose(card, dumb.handle);
    });

    it('through a render-node import: a conflicting fence → EBUSY, bad flags → EINVAL; not vgem → EINVAL', async function () {
      const { b } = t;
      const card = t.card(this, 'vgem');
      const d = b.drmCreateDumb(card, 64, 64, 32, 0);
      const fd = t.keep(b.drmPrimeHandleToFd(card, d.handle, DRM_CLOEXEC | DRM_RDWR));
      const render = t.render(this, 'vgem');
      const h = b.drmPrimeFdToHandle(render, fd);
      const fence = b.vgemFenceAttach(render, h, VGEM_FENCE_WRITE);
      throwsErrno(() => b.vgemFenceAttach(render, h, 0), 'EBUSY', { syscall: 'ioctl(DRM_IOCTL_VGEM_FENCE_ATTACH)' });
      throwsErrno(() => b.vgemFenceAttach(render, h, 2), 'EINVAL', { syscall: 'ioctl(DRM_IOCTL_VGEM_FENCE_ATTACH)' });
      assert.equal(b.poll(fd, POLLIN | POLLOUT, 0), 0);
      const waiting = b.dmabufSyncAsync(fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ);
      b.vgemFenceSignal(render, fence);
      await waiting;
      assert.equal(b.poll(fd, POLLIN | POLLOUT, 0), POLLIN | POLLOUT);
      throwsErrno(() => b.vgemFenceSignal(render, fence), 'ENOENT', { syscall: 'ioctl(DRM_IOCTL_VGEM_FENCE_SIGNAL)' });
      // a driver ioctl beyond vkms's (empty) table
      throwsErrno(() => b.vgemFenceSignal(t.card(this, 'vkms'), 1), 'EINVAL', { syscall: 'ioctl(DRM_IOCTL_VGEM_FENCE_SIGNAL)' });
    });
  });
});
