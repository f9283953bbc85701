/**
 * DRM contract tests (docs/conformance.md sections G and H, plus handle deduplication and
 * cross-device sharing), for each driver present: vgem, vkms, virtio_gpu.
 */
import assert from 'node:assert/strict';
import { drm, heaps, udmabuf, Device, constants as C } from '../src/index';
import { backend, drmDevices, inVm, MiB, PAGE, throwsCode, throwsErrno } from './support/index';

const DRIVERS = ['vgem', 'vkms', 'virtio_gpu'];

function card(ctx: Mocha.Context, driver: string): Device {
  if (!drmDevices().some((d) => d.driver === driver && d.kind === 'card')) {
    if (inVm) throw new Error(`no ${driver} card in the VM`);
    ctx.skip();
  }
  return drm.open({ driver });
}

describe('drm.list()', function () {
  it('enumerates nodes with driver, version and what works', function () {
    const list = drm.list();
    if (list.length === 0) {
      if (inVm) assert.fail('no DRM nodes in the VM');
      this.skip();
    }
    for (const d of list) {
      assert.match(d.path, /^\/dev\/dri\/(card|renderD)\d+$/);
      assert.ok(d.driver.length > 0, `${d.path} has a driver name`);
      assert.equal(typeof d.version.major, 'number');
    }
    const vgem = list.find((d) => d.driver === 'vgem' && d.kind === 'card');
    if (vgem) {
      // vgem answers the cap with EOPNOTSUPP but dumb buffers work: report what works
      assert.equal(vgem.dumbBufferCap, 'EOPNOTSUPP');
      assert.equal(vgem.dumbBuffers, true);
      assert.equal(vgem.primeExport && vgem.primeImport, true);
    }
    const render = list.filter((d) => d.kind === 'render');
    for (const r of render) assert.equal(r.dumbBuffers, false, `${r.path}: no dumb buffers on render nodes`);
    if (inVm) for (const want of DRIVERS) assert.ok(list.some((d) => d.driver === want), `${want} present`);
  });

  it('drm.open({ driver }) for an absent driver → ERR_DMABUF_NO_DEVICE with a hint', function () {
    const e = throwsCode(() => drm.open({ driver: 'no-such-driver' }), 'ERR_DMABUF_NO_DEVICE');
    assert.equal((e as { path?: string }).path, '/dev/dri');
    assert.match(e.message, /no-such-driver/);
    assert.equal(typeof (e as { hint?: string }).hint, 'string');
    throwsCode(() => drm.open(5 as unknown as string), 'ERR_INVALID_ARG_TYPE', TypeError);
    throwsErrno(() => drm.open('/dev/dri/card99'), 'ENOENT', { path: '/dev/dri/card99' });
  });
});

for (const driver of DRIVERS) {
  describe(`DRM ${driver}`, function () {
    it('G66: zero width, height or bpp → EINVAL', function () {
      using dev = card(this, driver);
      for (const o of [{ width: 4032, height: 2016, bpp: 0 }, { width: 0, height: 2016, bpp: 32 }, { width: 4032, height: 0, bpp: 32 }]) {
        throwsErrno(() => dev.createDumb(o), 'EINVAL', { syscall: 'ioctl(DRM_IOCTL_MODE_CREATE_DUMB)', path: dev.path });
      }
    });

    it('G67: 4032×2016×32 gives handle, pitch, page-aligned size; destroy', function () {
      using dev = card(this, driver);
      const bo = dev.createDumb({ width: 4032, height: 2016, bpp: 32 });
      assert.ok(bo.handle > 0);
      assert.ok(bo.pitch >= 4032 * 4);
      assert.ok(bo.size >= bo.pitch * 2016);
      assert.equal(bo.size % PAGE(), 0);
      assert.equal(dev.handles.get(bo.handle), 1);
      bo.destroy();
      bo.destroy(); // idempotent
      assert.equal(dev.handles.has(bo.handle), false);
    });

    it('G68/G70: map works and reads zero; mmap(size + 1) → EINVAL', function () {
      using dev = card(this, driver);
      using bo = dev.createDumb({ width: 256, height: 256, bpp: 32 });
      using m = bo.map();
      for (let i = 0; i < bo.size; i += PAGE()) assert.equal(m.bytes[i], 0);
      m.bytes.fill(0x7f);
      const off = backend().drmMapDumb(dev.fd, bo.handle);
      throwsErrno(() => backend().mmap(dev.fd, bo.size + PAGE(), C.PROT_READ, C.MAP_SHARED, off), 'EINVAL', { syscall: 'mmap' });
    });

    it('G69: destroy while mapped keeps the mapping valid', function () {
      using dev = card(this, driver);
      const bo = dev.createDumb({ width: 64, height: 64, bpp: 32 });
      using m = bo.map();
      bo.destroy();
      m.bytes[5] = 5;
      assert.equal(m.bytes[5], 5);
    });

    it('G73: overflowing sizes → EINVAL', function () {
      using dev = card(this, driver);
      throwsErrno(() => dev.createDumb({ width: 64, height: 64, bpp: 0xffffffff }), 'EINVAL');
      throwsErrno(() => dev.createDumb({ width: 65536, height: 65536, bpp: 32 }), 'EINVAL');
    });

    it('G74: map/destroy/close of an unknown handle → ENOENT / EINVAL / EINVAL', function () {
      using dev = card(this, driver);
      throwsErrno(() => backend().drmMapDumb(dev.fd, 0x7fff), 'ENOENT', { syscall: 'ioctl(DRM_IOCTL_MODE_MAP_DUMB)' });
      throwsErrno(() => backend().drmDestroyDumb(dev.fd, 0x7fff), 'EINVAL');
      throwsErrno(() => backend().drmGemClose(dev.fd, 0x7fff), 'EINVAL');
    });

    it('G77: a MAP_DUMB offset mapped through another DRM file → EACCES', function () {
      using dev = card(this, driver);
      using dev2 = drm.open(dev.path);
      using bo = dev.createDumb({ width: 64, height: 64, bpp: 32 });
      const off = backend().drmMapDumb(dev.fd, bo.handle);
      throwsErrno(() => backend().mmap(dev2.fd, bo.size, C.PROT_READ, C.MAP_SHARED, off), 'EACCES');
    });

    it('H78: PRIME export flags other than CLOEXEC|RDWR → EINVAL', function () {
      using dev = card(this, driver);
      using bo = dev.createDumb({ width: 64, height: 64, bpp: 32 });
      for (const flags of [0x1, 0x7ffff, 0x80001, 0x3]) {
        throwsErrno(() => backend().drmPrimeHandleToFd(dev.fd, bo.handle, flags), 'EINVAL', { syscall: 'ioctl(DRM_IOCTL_PRIME_HANDLE_TO_FD)' });
      }
    });

    it('H79: export of an unknown handle → ENOENT', function () {
      using dev = card(this, driver);
      throwsErrno(() => backend().drmPrimeHandleToFd(dev.fd, 0x7fff, C.DRM_CLOEXEC), 'ENOENT');
    });

    it('H80: without DRM_RDWR the dma-buf is read-only; with it, writes show in the dumb mapping', function () {
      using dev = card(this, driver);
      using bo = dev.createDumb({ width: 64, height: 64, bpp: 32 });
      using rw = bo.export();
      assert.equal(rw.readOnly, false);
      using m = rw.map();
      rw.access('write', () => m.bytes.set([1, 2, 3]));
      using dm = bo.map();
      assert.deepEqual([...dm.bytes.subarray(0, 3)], [1, 2, 3]);
      // a second handle exported read-only first stays read-only
      using bo2 = dev.createDumb({ width: 64, height: 64, bpp: 32 });
      using ro = bo2.export({ readOnly: true });
      assert.equal(ro.readOnly, true);
      throwsErrno(() => ro.map('readwrite'), 'EACCES', { syscall: 'mmap' });
      assert.equal(ro.map('read').read(0, 4).length, 4);
      // PR-4: re-export gives the same dma-buf with the first export's access mode
      using again = bo2.export();
      assert.equal(again.inode, ro.inode);
    });

    it('H82: import of a non-dma-buf fd → EINVAL; of a closed fd → EBADF', function () {
      using dev = card(this, driver);
      using m = udmabuf.memfd(PAGE());
      throwsErrno(() => backend().drmPrimeFdToHandle(dev.fd, m.fd), 'EINVAL', { syscall: 'ioctl(DRM_IOCTL_PRIME_FD_TO_HANDLE)' });
      const d = backend().dup(m.fd);
      backend().close(d);
      throwsErrno(() => backend().drmPrimeFdToHandle(dev.fd, d), 'EBADF');
    });

    it('import: the same dma-buf twice gives the same handle; GEM_CLOSE once, with the last reference', function () {
      using dev = card(this, driver);
      using bo = dev.createDumb({ width: 64, height: 64, bpp: 32 });
      using buf = bo.export();
      // self-import: the exporter's own handle, now with two references
      const self = dev.import(buf);
      assert.equal(self.handle, bo.handle);
      assert.equal(dev.handles.get(bo.handle), 2);
      const again = dev.import(buf);
      assert.equal(again.handle, bo.handle);
      assert.equal(dev.handles.get(bo.handle), 3);
      self.release();
      again.release();
      again.release(); // idempotent
      assert.equal(dev.handles.get(bo.handle), 1);
      using m = bo.map(); // the dumb handle is still alive
      assert.equal(m.length, bo.size);
    });

    it('H87: closing the device does not invalidate an exported dma-buf or its mapping', function () {
      const dev = card(this, driver);
      const bo = dev.createDumb({ width: 64, height: 64, bpp: 32 });
      using buf = bo.export();
      using m = buf.map();
      dev.close();
      dev.close();
      assert.equal(bo.destroyed, true);
      throwsCode(() => bo.map(), 'ERR_DMABUF_CLOSED');
      buf.access('write', () => m.bytes.fill(3));
      assert.equal(m.bytes[100], 3);
    });
  });
}

describe('DRM driver specifics', function () {
  it('G71: vgem sizes: 1×1×8 → one page; 1024×1024×8 → 1 MiB', function () {
    using dev = card(this, 'vgem');
    using a = dev.createDumb({ width: 1, height: 1, bpp: 8 });
    assert.equal(a.size, PAGE());
    using b = dev.createDumb({ width: 1024, height: 1024, bpp: 8 });
    assert.equal(b.size, MiB);
  });

  it('G72: virtio-gpu accepts bpp 32 only', function () {
    using dev = card(this, 'virtio_gpu');
    const e = throwsErrno(() => dev.createDumb({ width: 64, height: 64, bpp: 16 }), 'EINVAL');
    assert.match((e as { hint?: string }).hint ?? '', /bpp 32/);
  });

  it('G75: dumb ioctls on a render node → EACCES', function () {
    const r = drmDevices().find((d) => d.kind === 'render' && (d.driver === 'vgem' || d.driver === 'virtio_gpu'));
    if (!r) {
      if (inVm) assert.fail('no render node in the VM');
      this.skip();
    }
    using dev = drm.open(r.path);
    const e = throwsErrno(() => dev.createDumb({ width: 64, height: 64, bpp: 32 }), 'EACCES');
    assert.match((e as { hint?: string }).hint ?? '', /render node/);
  });

  it('H86: a vgem export names exporter drm', function () {
    using dev = card(this, 'vgem');
    using bo = dev.createDumb({ width: 64, height: 64, bpp: 32 });
    using buf = bo.export();
    assert.equal(buf.info().exporter, 'drm');
  });
});

describe('cross-device sharing', function () {
  for (const importer of ['vgem', 'vkms']) {
    it(`udmabuf and system-heap buffers import into ${importer}`, function () {
      using dev = card(this, importer);
      const sources: Array<() => import('../src/index').DmaBuf> = [];
      if (udmabuf.available()) sources.push(() => udmabuf.create(MiB));
      if (heaps.list().some((h) => h.name === 'system')) sources.push(() => { using h = heaps.open('system'); return h.allocate(MiB); });
      if (sources.length === 0) this.skip();
      for (const make of sources) {
        using buf = make();
        using g = dev.import(buf);
        assert.ok(g.handle > 0);
        using g2 = dev.import(buf);
        assert.equal(g2.handle, g.handle);
      }
    });
  }

  for (const importer of ['vkms', 'virtio_gpu']) {
    it(`a vgem dumb buffer exported and imported into ${importer} (or a clear refusal)`, function () {
      using src = card(this, 'vgem');
      using dst = card(this, importer);
      using bo = src.createDumb({ width: 64, height: 64, bpp: 32 });
      using buf = bo.export();
      let outcome: string;
      try {
        using g = dst.import(buf);
        assert.ok(g.handle > 0);
        outcome = 'imported';
      } catch (e) {
        const err = e as { code?: string; hint?: string };
        // virtio-gpu refuses foreign buffers on many kernels/hosts: ENODEV with the reason
        assert.equal(importer, 'virtio_gpu', `unexpected refusal by ${importer}: ${err.code}`);
        assert.ok(['ENODEV', 'EINVAL', 'EOPNOTSUPP'].includes(err.code ?? ''), String(err.code));
        outcome = `refused ${err.code}`;
      }
      this.test!.title += ` [${outcome}]`;
    });
  }
});
