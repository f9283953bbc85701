/**
 * Unit tests of the mock backend: the kernel model answers the conformance cases (notes/conformance.md
 * A, C, D, G, H) like the kernel does, as direct backend calls. Assert codes, errno and syscall only.
 */
import assert from 'node:assert/strict';
import { createMockBackend, type MockControl } from '../src/backend/mock';
import type { Backend, Fd } from '../src/backend/types';
import { errnoValue } from '../src/errors';
import {
  DMA_BUF_SYNC_END, DMA_BUF_SYNC_READ, DMA_BUF_SYNC_RW, DMA_BUF_SYNC_WRITE, DRM_CAP_DUMB_BUFFER, DRM_CAP_PRIME,
  DRM_CLOEXEC, DRM_RDWR, F_SEAL_FUTURE_WRITE, F_SEAL_GROW, F_SEAL_SEAL, F_SEAL_SHRINK, F_SEAL_WRITE, MAP_PRIVATE,
  MAP_SHARED, MFD_ALLOW_SEALING, O_CLOEXEC, O_RDONLY, O_RDWR, POLLIN, POLLNVAL, POLLOUT, PROT_READ, PROT_WRITE,
  SEEK_CUR, SEEK_END, SEEK_SET, VGEM_FENCE_WRITE,
} from '../src/constants';

type Mock = Backend & MockControl;
const P = 4096;
const MiB = 2 ** 20;
const RW = PROT_READ | PROT_WRITE;

function sysErr(fn: () => unknown, code: string, syscall: string): void {
  assert.throws(fn, (e: { code?: string; errno?: number; syscall?: string }) => {
    assert.equal(e.code, code);
    assert.equal(e.errno, errnoValue(code));
    assert.equal(e.syscall, syscall);
    return true;
  });
}

function coded(fn: () => unknown, code: string): void {
  assert.throws(fn, (e: { code?: string }) => e.code === code);
}

async function rejects(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: { code?: string }) => e.code === code);
}

/** A sealed memfd of `size` bytes, ready for udmabuf. */
function memfd(b: Backend, size: number, seals = F_SEAL_SHRINK, flags = MFD_ALLOW_SEALING): Fd {
  const fd = b.memfdCreate('t', flags);
  b.ftruncate(fd, size);
  if (seals) b.addSeals(fd, seals);
  return fd;
}

function fdinfo(b: Backend, fd: Fd): Map<string, string> {
  const text = b.readTextFile(`/proc/self/fdinfo/${fd}`);
  return new Map(text.split('\n').filter((l) => l !== '').map((l) => l.split(':\t') as [string, string]));
}

describe('mock backend', () => {
  let b: Mock;
  beforeEach(() => {
    b = createMockBackend({ drm: ['vgem', 'vkms', 'virtio_gpu'] });
  });
  afterEach(() => {
    b.reset();
  });

  describe('files and fds', () => {
    it('is named mock and has the page size', () => {
      assert.equal(b.name, 'mock');
      assert.equal(b.pageSize, P);
    });

    it('lists the modelled devices and fails ENOENT on missing paths', () => {
      assert.deepEqual(b.readdir('/dev/dri'), ['card0', 'card1', 'card2', 'renderD128', 'renderD130']);
      assert.deepEqual(b.readdir('/dev/dma_heap'), ['linux,cma', 'system']);
      sysErr(() => b.readdir('/dev/nothing'), 'ENOENT', 'opendir');
      sysErr(() => b.open('/dev/nothing', O_RDWR), 'ENOENT', 'open');
      assert.throws(() => b.open('/dev/nothing', O_RDWR), (e: { path?: string }) => e.path === '/dev/nothing');
      assert.equal(b.access('/dev/udmabuf', 4), true);
      assert.equal(b.access('/dev/nothing', 4), false);
      assert.equal(b.stat('/dev/dri/renderD128').rdev, BigInt((226 << 8) | 128));
    });

    it('reads module parameters and the kernel release', () => {
      assert.equal(b.readTextFile('/sys/module/udmabuf/parameters/size_limit_mb'), '64\n');
      assert.equal(b.readTextFile('/sys/module/udmabuf/parameters/list_limit'), '1024\n');
      assert.equal(b.readTextFile('/proc/sys/kernel/osrelease'), '6.12.0-mock\n');
    });

    it('numbers fds from 1000, shares descriptions on dup and reports leaks', () => {
      const fd = b.open('/dev/udmabuf', O_RDONLY);
      assert.ok(fd >= 1000);
      const d = b.dup(fd);
      assert.notEqual(d, fd);
      assert.equal(b.fstat(d).ino, b.fstat(fd).ino);
      assert.deepEqual(b.openFds(), [fd, d]);
      b.close(fd);
      b.close(d);
      assert.deepEqual(b.openFds(), []);
      sysErr(() => b.close(fd), 'EBADF', 'close');
      sysErr(() => b.fstat(fd), 'EBADF', 'fstat');
      sysErr(() => b.dup(fd), 'EBADF', 'dup');
    });

    it('validates arguments before any syscall', () => {
      coded(() => b.close(-1), 'ERR_OUT_OF_RANGE');
      coded(() => b.close(1.5), 'ERR_OUT_OF_RANGE');
      coded(() => b.close('3' as unknown as number), 'ERR_INVALID_ARG_TYPE');
      coded(() => b.read(1000, -1), 'ERR_OUT_OF_RANGE');
      coded(() => b.sendFds(0, new Uint8Array(1), []), 'ERR_DMABUF_UNSUPPORTED');
    });
  });

  describe('memfd', () => {
    it('reports F_SEAL_SEAL without MFD_ALLOW_SEALING and refuses new seals', () => {
      const fd = b.memfdCreate('x', 0);
      assert.equal(b.getSeals(fd), F_SEAL_SEAL);
      sysErr(() => b.addSeals(fd, F_SEAL_SHRINK), 'EPERM', 'fcntl(F_ADD_SEALS)');
    });

    it('enforces shrink/grow seals and writes', () => {
      const fd = memfd(b, 2 * P, F_SEAL_SHRINK | F_SEAL_GROW);
      sysErr(() => b.ftruncate(fd, P), 'EPERM', 'ftruncate');
      sysErr(() => b.ftruncate(fd, 3 * P), 'EPERM', 'ftruncate');
      assert.equal(b.write(fd, new Uint8Array([1, 2, 3]), 10), 3);
      assert.deepEqual([...b.pread(fd, 3, 10)], [1, 2, 3]);
      sysErr(() => b.write(fd, new Uint8Array(1), 2 * P), 'EPERM', 'write');
      b.addSeals(fd, F_SEAL_WRITE | F_SEAL_SEAL);
      sysErr(() => b.write(fd, new Uint8Array(1), 0), 'EPERM', 'write');
      sysErr(() => b.addSeals(fd, F_SEAL_GROW), 'EPERM', 'fcntl(F_ADD_SEALS)');
    });

    it('refuses F_SEAL_WRITE while a writable shared mapping exists', () => {
      const fd = memfd(b, P, 0);
      const m = b.mmap(fd, P, RW, MAP_SHARED, 0);
      sysErr(() => b.addSeals(fd, F_SEAL_WRITE), 'EBUSY', 'fcntl(F_ADD_SEALS)');
      b.munmap(m);
      b.addSeals(fd, F_SEAL_WRITE);
    });
  });

  describe('udmabuf (conformance A)', () => {
    let dev: Fd;
    beforeEach(() => {
      dev = b.open('/dev/udmabuf', O_RDONLY); // A16: read-only is enough
    });
    const create = (fd: Fd, offset: number, size: number, flags = 0): Fd => b.udmabufCreate(dev, fd, offset, size, flags);
    const C1 = 'ioctl(UDMABUF_CREATE)';
    const CL = 'ioctl(UDMABUF_CREATE_LIST)';

    it('A1/A2: unaligned offset or size → EINVAL', () => {
      const fd = memfd(b, 4 * P);
      sysErr(() => create(fd, P / 2, P), 'EINVAL', C1);
      sysErr(() => create(fd, 0, P / 2), 'EINVAL', C1);
    });

    it('A3: not a memfd, or a closed fd → EBADFD (77)', () => {
      const file = b.open('/proc/version', O_RDONLY);
      const closed = memfd(b, P);
      b.close(closed);
      for (const fd of [0, file, closed, dev]) sysErr(() => create(fd, 0, P), 'EBADFD', C1);
    });

    it('A4–A7, A13: seals and tmpfs files', () => {
      sysErr(() => create(memfd(b, P, 0, 0), 0, P), 'EINVAL', C1);
      sysErr(() => create(memfd(b, P, 0), 0, P), 'EINVAL', C1);
      sysErr(() => create(memfd(b, P, F_SEAL_SHRINK | F_SEAL_WRITE), 0, P), 'EINVAL', C1);
      sysErr(() => create(memfd(b, P, F_SEAL_SHRINK | F_SEAL_FUTURE_WRITE), 0, P), 'EINVAL', C1);
      create(memfd(b, P, F_SEAL_SHRINK | F_SEAL_GROW), 0, P);
      const shm = b.open('/dev/shm/x', O_RDWR | 0o100);
      b.ftruncate(shm, P);
      assert.equal(b.getSeals(shm), F_SEAL_SEAL);
      sysErr(() => create(shm, 0, P), 'EINVAL', C1);
    });

    it('A9–A12: size 0, empty list, beyond the memfd, size and list limits', () => {
      const fd = memfd(b, 65 * MiB);
      sysErr(() => create(fd, 0, 0), 'EINVAL', C1);
      sysErr(() => b.udmabufCreateList(dev, 0, []), 'EINVAL', CL);
      sysErr(() => create(memfd(b, P), 0, 2 * P), 'EINVAL', C1);
      sysErr(() => create(fd, 0, 65 * MiB), 'EINVAL', C1);
      create(fd, 0, 64 * MiB);
      const small = memfd(b, P);
      const items = Array.from({ length: 1025 }, () => ({ memfd: small, offset: 0, size: P }));
      sysErr(() => b.udmabufCreateList(dev, 0, items), 'EINVAL', CL);
      b.close(b.udmabufCreateList(dev, 0, items.slice(0, 1024)));
    });

    it('A14/A15: another ioctl → ENOTTY; unknown flag bits are ignored', () => {
      sysErr(() => b.heapAlloc(dev, P, O_RDWR, 0), 'ENOTTY', 'ioctl(DMA_HEAP_IOCTL_ALLOC)');
      create(memfd(b, P), 0, P, 0x3);
    });

    it('shares pages with the memfd, which may be closed afterwards', () => {
      const fd = memfd(b, 2 * P);
      const buf = create(fd, 0, 2 * P);
      b.write(fd, new Uint8Array([7, 8, 9]), P);
      const m = b.mmap(buf, 2 * P, RW, MAP_SHARED, 0);
      const view = new Uint8Array(b.mapBuffer(m));
      assert.deepEqual([...view.subarray(P, P + 3)], [7, 8, 9]);
      view[0] = 42;
      assert.equal(b.pread(fd, 1, 0)[0], 42);
      b.close(fd);
      view[1] = 43;
      const t = new Uint8Array(2);
      b.mapRead(m, 0, t);
      assert.deepEqual([...t], [42, 43]);
    });

    it('shares a part of a memfd, and the parts of a list, both ways', () => {
      const a = memfd(b, 2 * P);
      const c = memfd(b, 2 * P);
      b.write(a, new Uint8Array([1]), P);
      const part = create(a, P, P);
      const pm = b.mmap(part, P, RW, MAP_SHARED, 0);
      const pv = new Uint8Array(b.mapBuffer(pm));
      assert.equal(pv[0], 1);
      pv[1] = 11;
      assert.equal(b.pread(a, 1, P + 1)[0], 11);
      b.write(c, new Uint8Array([2]), P);
      const buf = b.udmabufCreateList(dev, 0, [{ memfd: a, offset: 0, size: P }, { memfd: c, offset: P, size: P }]);
      assert.equal(b.lseek(buf, 0, SEEK_END), 2 * P);
      const v = new Uint8Array(b.mapBuffer(b.mmap(buf, 2 * P, RW, MAP_SHARED, 0)));
      assert.equal(v[P], 2);
      v[P + 1] = 22;
      assert.equal(b.pread(c, 1, P + 1)[0], 22);
      b.write(a, new Uint8Array([3]), 5);
      assert.equal(v[5], 3);
      b.ftruncate(a, 4 * P); // growing keeps the shared range
      b.write(a, new Uint8Array([4]), 6);
      assert.equal(v[6], 4);
    });

    it('exp_name udmabuf; SYNC END before START and MAP_PRIVATE → EINVAL', () => {
      const buf = create(memfd(b, P), 0, P);
      assert.equal(fdinfo(b, buf).get('exp_name'), 'udmabuf');
      sysErr(() => b.dmabufSync(buf, DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW), 'EINVAL', 'ioctl(DMA_BUF_IOCTL_SYNC)');
      b.dmabufSync(buf, DMA_BUF_SYNC_RW);
      b.dmabufSync(buf, DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW);
      sysErr(() => b.mmap(buf, P, PROT_READ, MAP_PRIVATE, 0), 'EINVAL', 'mmap');
    });
  });

  describe('dma-heaps (conformance C)', () => {
    let sys: Fd;
    const A = 'ioctl(DMA_HEAP_IOCTL_ALLOC)';
    beforeEach(() => {
      sys = b.open('/dev/dma_heap/system', O_RDONLY); // C40
    });

    it('C28/C39: alloc, map, sync, exp_name', () => {
      const buf = b.heapAlloc(sys, MiB, O_RDWR | O_CLOEXEC, 0);
      const m = b.mmap(buf, MiB, RW, MAP_SHARED, 0);
      b.dmabufSync(buf, DMA_BUF_SYNC_RW);
      new Uint8Array(b.mapBuffer(m)).fill(0xff);
      b.dmabufSync(buf, DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW);
      assert.equal(fdinfo(b, buf).get('exp_name'), 'system');
      assert.equal(fdinfo(b, buf).get('size'), String(MiB));
    });

    it('C30: new buffers are zero-filled', () => {
      for (let i = 0; i < 4; i++) {
        const buf = b.heapAlloc(sys, P, O_RDWR, 0);
        const m = b.mmap(buf, P, RW, MAP_SHARED, 0);
        const v = new Uint8Array(b.mapBuffer(m));
        assert.ok(v.every((x) => x === 0));
        v.fill(0xff);
        b.munmap(m);
        b.close(buf);
      }
    });

    it('C31–C33: flags and len', () => {
      sysErr(() => b.heapAlloc(sys, P, O_RDWR, 0x111111), 'EINVAL', A);
      sysErr(() => b.heapAlloc(sys, P, O_RDWR | 0o100, 0), 'EINVAL', A);
      sysErr(() => b.heapAlloc(sys, 0, O_RDWR, 0), 'EINVAL', A);
      assert.equal(b.fstat(b.heapAlloc(sys, 1, O_RDWR, 0)).size, P);
    });

    it('C38: an O_RDONLY buffer maps read-only', () => {
      const buf = b.heapAlloc(sys, P, O_RDONLY | O_CLOEXEC, 0);
      sysErr(() => b.mmap(buf, P, RW, MAP_SHARED, 0), 'EACCES', 'mmap');
      const m = b.mmap(buf, P, PROT_READ, MAP_SHARED, 0);
      coded(() => b.mapBuffer(m), 'ERR_INVALID_STATE');
      assert.equal(fdinfo(b, buf).get('flags'), '02000000');
    });

    it('CMA: ENOMEM beyond the reserve, given back on close', () => {
      const cma = b.open('/dev/dma_heap/linux,cma', O_RDONLY);
      const big = b.heapAlloc(cma, 48 * MiB, O_RDWR, 0);
      sysErr(() => b.heapAlloc(cma, 32 * MiB, O_RDWR, 0), 'ENOMEM', A);
      const m = b.mmap(big, P, PROT_READ, MAP_SHARED, 0);
      b.close(big);
      sysErr(() => b.heapAlloc(cma, 32 * MiB, O_RDWR, 0), 'ENOMEM', A); // the mapping keeps it
      b.munmap(m);
      b.close(b.heapAlloc(cma, 32 * MiB, O_RDWR, 0));
    });
  });

  describe('dma-buf files (conformance D)', () => {
    let buf: Fd;
    const S = 'ioctl(DMA_BUF_IOCTL_SYNC)';
    beforeEach(() => {
      buf = b.heapAlloc(b.open('/dev/dma_heap/system', O_RDONLY), 4 * P, O_RDWR | O_CLOEXEC, 0);
    });

    it('D43: lseek only (0, SEEK_END) and (0, SEEK_SET)', () => {
      assert.equal(b.lseek(buf, 0, SEEK_END), 4 * P);
      assert.equal(b.lseek(buf, 0, SEEK_SET), 0);
      for (const [o, w] of [[1, SEEK_SET], [-1, SEEK_END], [4 * P, SEEK_SET], [0, SEEK_CUR]]) {
        sysErr(() => b.lseek(buf, o, w), 'EINVAL', 'lseek');
      }
    });

    it('D44: fstat size and inode', () => {
      assert.equal(b.fstat(buf).size, 4 * P);
      assert.equal(b.fstat(b.dup(buf)).ino, b.fstat(buf).ino);
      assert.equal(b.getFlags(buf), O_RDWR);
    });

    it('D45: mmap bounds and closed fds', () => {
      sysErr(() => b.mmap(buf, 8 * P, RW, MAP_SHARED, 0), 'EINVAL', 'mmap');
      sysErr(() => b.mmap(buf, 4 * P, RW, MAP_SHARED, 2 * P), 'EINVAL', 'mmap');
      sysErr(() => b.mmap(buf, 0, RW, MAP_SHARED, 0), 'EINVAL', 'mmap');
      b.close(buf);
      sysErr(() => b.mmap(buf, P, RW, MAP_SHARED, 0), 'EBADF', 'mmap');
    });

    it('D46: data survives unmap and close; the last munmap detaches views', () => {
      const m1 = b.mmap(buf, 4 * P, RW, MAP_SHARED, 0);
      const v1 = new Uint8Array(b.mapBuffer(m1));
      assert.equal(b.mapBuffer(m1), b.mapBuffer(m1));
      v1[5] = 9;
      b.close(buf);
      const info = b.isMapped(m1);
      assert.equal(info, true);
      b.munmap(m1);
      b.munmap(m1); // idempotent
      assert.equal(v1.length, 0);
      coded(() => b.mapBuffer(m1), 'ERR_INVALID_STATE');
      coded(() => b.mapRead(m1, 0, new Uint8Array(1)), 'ERR_INVALID_STATE');
    });

    it('D46: munmap detaches its views while a read-only mapping stays', () => {
      const ro = b.mmap(buf, P, PROT_READ, MAP_SHARED, 0);
      const rw = b.mmap(buf, 4 * P, RW, MAP_SHARED, 0);
      const v = new Uint8Array(b.mapBuffer(rw));
      v[2] = 9;
      const t = new Uint8Array(1);
      b.mapRead(ro, 2, t);
      assert.equal(t[0], 9);
      b.munmap(rw);
      assert.equal(v.length, 0);
      b.mapRead(ro, 2, t);
      assert.equal(t[0], 9);
      coded(() => b.mapBuffer(b.mmap(buf, P, RW, MAP_SHARED, P)), 'ERR_DMABUF_UNSUPPORTED'); // not the whole buffer
    });

    it('D46: map → unmap → map shows the same data; mapRead bounds', () => {
      const m1 = b.mmap(buf, 4 * P, RW, MAP_SHARED, 0);
      new Uint8Array(b.mapBuffer(m1))[100] = 77;
      b.munmap(m1);
      const m2 = b.mmap(buf, 4 * P, PROT_READ, MAP_SHARED, 0);
      const t = new Uint8Array(1);
      b.mapRead(m2, 100, t);
      assert.equal(t[0], 77);
      coded(() => b.mapRead(m2, 4 * P, t), 'ERR_OUT_OF_RANGE');
      assert.equal(b.liveMappings(), 1);
    });

    it('D47/D48: SYNC flags', () => {
      for (const f of [0, 4, 8, -1]) sysErr(() => b.dmabufSync(buf, f), 'EINVAL', S);
      for (const f of [DMA_BUF_SYNC_READ, DMA_BUF_SYNC_WRITE, DMA_BUF_SYNC_RW]) {
        b.dmabufSync(buf, f);
        b.dmabufSync(buf, f | DMA_BUF_SYNC_END);
      }
      sysErr(() => b.dmabufSync(b.open('/dev/udmabuf', O_RDONLY), DMA_BUF_SYNC_RW), 'ENOTTY', S);
    });

    it('D49/D51: poll of an idle buffer; read/write refused', () => {
      assert.equal(b.poll(buf, POLLIN | POLLOUT, 0), POLLIN | POLLOUT);
      assert.equal(b.poll(999_999, POLLIN, 0), POLLNVAL);
      sysErr(() => b.read(buf, 1), 'EINVAL', 'read');
      sysErr(() => b.write(buf, new Uint8Array(1)), 'EINVAL', 'write');
    });

    it('names, fdinfo and readlink', () => {
      let info = fdinfo(b, buf);
      assert.equal(info.has('name'), false);
      assert.equal(info.get('flags'), '02000002');
      assert.equal(info.get('ino'), String(b.fstat(buf).ino));
      assert.equal(info.get('count'), '1');
      assert.equal(b.readlink(`/proc/self/fd/${buf}`), '/dmabuf:');
      b.dmabufSetName(buf, 'frame0');
      b.dmabufSetName(buf, 'x'.repeat(31));
      sysErr(() => b.dmabufSetName(buf, 'x'.repeat(32)), 'EINVAL', 'ioctl(DMA_BUF_SET_NAME_B)');
      sysErr(() => b.dmabufSetName(buf, 'é'.repeat(16)), 'EINVAL', 'ioctl(DMA_BUF_SET_NAME_B)');
      b.dmabufSetName(buf, '');
      assert.equal(fdinfo(b, buf).get('name'), '');
      b.dmabufSetName(buf, 'cam');
      b.dup(buf);
      b.mmap(buf, P, PROT_READ, MAP_SHARED, 0);
      info = fdinfo(b, buf);
      assert.equal(info.get('count'), '3');
      assert.equal(info.get('name'), 'cam');
      assert.equal(b.readlink(`/proc/self/fd/${buf}`), '/dmabuf:cam');
    });
  });

  describe('fences: sw_sync, sync files, implicit sync', () => {
    let tl: Fd;
    let buf: Fd;
    beforeEach(() => {
      tl = b.open('/sys/kernel/debug/sync/sw_sync', O_RDWR);
      buf = b.heapAlloc(b.open('/dev/dma_heap/system', O_RDONLY), P, O_RDWR, 0);
    });

    it('sw_sync fences signal when the timeline reaches them; merge', () => {
      const f1 = b.swSyncCreateFence(tl, 1, 'a');
      const f2 = b.swSyncCreateFence(tl, 2, 'b');
      assert.equal(b.syncFileInfo(f1).status, 0);
      assert.equal(b.poll(f1, POLLIN, 0), 0);
      const merged = b.syncFileMerge('both', f1, f2);
      assert.equal(b.syncFileInfo(merged).name, 'both');
      assert.equal(b.syncFileInfo(merged).fences.length, 1); // same timeline: the later one
      b.swSyncInc(tl, 1);
      assert.equal(b.syncFileInfo(f1).status, 1);
      assert.equal(b.syncFileInfo(f1).fences[0].driverName, 'sw_sync');
      assert.equal(b.poll(f1, POLLIN, 0), POLLIN);
      assert.equal(b.syncFileInfo(merged).status, 0);
      b.swSyncInc(tl, 1);
      assert.equal(b.syncFileInfo(merged).status, 1);
      sysErr(() => b.syncFileMerge('x', f1, buf), 'ENOENT', 'ioctl(SYNC_IOC_MERGE)');
      sysErr(() => b.syncFileInfo(buf), 'ENOTTY', 'ioctl(SYNC_IOC_FILE_INFO)');
    });

    it('exports the buffer state and imports fences that make it busy', async () => {
      const idle = b.dmabufExportSyncFile(buf, DMA_BUF_SYNC_RW);
      assert.equal(b.syncFileInfo(idle).status, 1);
      sysErr(() => b.dmabufExportSyncFile(buf, 0), 'EINVAL', 'ioctl(DMA_BUF_IOCTL_EXPORT_SYNC_FILE)');
      sysErr(() => b.dmabufImportSyncFile(buf, DMA_BUF_SYNC_WRITE, buf), 'EINVAL', 'ioctl(DMA_BUF_IOCTL_IMPORT_SYNC_FILE)');
      b.dmabufImportSyncFile(buf, DMA_BUF_SYNC_READ, b.swSyncCreateFence(tl, 1, 'r'));
      assert.equal(b.poll(buf, POLLIN | POLLOUT, 0), POLLIN); // a reader blocks writers only
      b.dmabufImportSyncFile(buf, DMA_BUF_SYNC_WRITE, b.swSyncCreateFence(tl, 2, 'w'));
      assert.equal(b.poll(buf, POLLIN | POLLOUT, 10), 0);
      assert.equal(b.syncFileInfo(b.dmabufExportSyncFile(buf, DMA_BUF_SYNC_WRITE)).fences.length, 2);
      coded(() => b.dmabufSync(buf, DMA_BUF_SYNC_READ), 'ERR_DMABUF_UNSUPPORTED');
      coded(() => b.poll(buf, POLLIN, -1), 'ERR_DMABUF_UNSUPPORTED');
      b.dmabufSync(buf, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ); // END never waits
      assert.equal(await b.pollAsync(buf, POLLIN, 5), 0);
      const polled = b.pollAsync(buf, POLLIN, -1);
      const synced = b.dmabufSyncAsync(buf, DMA_BUF_SYNC_RW);
      b.close(buf); // the async twins hold their own reference
      setTimeout(() => b.swSyncInc(tl, 2), 5);
      assert.equal(await polled, POLLIN);
      await synced;
      await rejects(b.dmabufSyncAsync(buf, DMA_BUF_SYNC_RW), 'EBADF');
    });

    it('closing the timeline signals its fences with an error', () => {
      const f = b.swSyncCreateFence(tl, 5, 'x');
      b.close(tl);
      assert.equal(b.syncFileInfo(f).status, -2);
    });
  });

  describe('DRM dumb buffers (conformance G)', () => {
    let card: Fd;
    const CD = 'ioctl(DRM_IOCTL_MODE_CREATE_DUMB)';
    beforeEach(() => {
      card = b.open('/dev/dri/card0', O_RDWR);
    });

    it('drivers, versions and caps', () => {
      assert.equal(b.drmVersion(card).name, 'vgem');
      assert.equal(b.drmVersion(b.open('/dev/dri/card1', O_RDWR)).name, 'vkms');
      assert.deepEqual(b.drmVersion(b.open('/dev/dri/card2', O_RDWR)).major, 0);
      sysErr(() => b.drmGetCap(card, DRM_CAP_DUMB_BUFFER), 'EOPNOTSUPP', 'ioctl(DRM_IOCTL_GET_CAP)'); // G76
      assert.equal(b.drmGetCap(card, DRM_CAP_PRIME), 3);
      assert.equal(b.drmGetCap(b.open('/dev/dri/card1', O_RDWR), DRM_CAP_DUMB_BUFFER), 1);
      sysErr(() => b.open('/dev/dri/renderD129', O_RDWR), 'ENOENT', 'open'); // vkms: no render node
    });

    it('G66/G73: zero and overflowing sizes → EINVAL', () => {
      for (const [w, h, bpp] of [[4032, 2016, 0], [0, 2016, 32], [4032, 0, 32], [1, 1, 0xffffffff], [65536, 65536, 32]]) {
        sysErr(() => b.drmCreateDumb(card, w, h, bpp, 0), 'EINVAL', CD);
      }
    });

    it('G67/G71/G72: pitch and size', () => {
      const d = b.drmCreateDumb(card, 4032, 2016, 32, 0);
      assert.ok(d.pitch >= 4032 * 4 && d.size >= d.pitch * 2016 && d.size % P === 0);
      b.drmDestroyDumb(card, d.handle);
      assert.equal(b.drmCreateDumb(card, 1, 1, 1, 0).size, P);
      assert.equal(b.drmCreateDumb(card, 1024, 1024, 8, 0).size, MiB);
      assert.equal(b.drmCreateDumb(card, 32768, 32768, 16, 0).size, 2 * 2 ** 30);
      const virtio = b.open('/dev/dri/card2', O_RDWR);
      sysErr(() => b.drmCreateDumb(virtio, 64, 64, 24, 0), 'EINVAL', CD);
      assert.equal(b.drmCreateDumb(virtio, 64, 64, 32, 0).pitch, 256);
    });

    it('G68/G69/G77: map, mmap bounds, destroy while mapped, other fds', () => {
      const d = b.drmCreateDumb(card, 64, 64, 32, 0);
      const off = b.drmMapDumb(card, d.handle);
      sysErr(() => b.mmap(card, d.size + 1, RW, MAP_SHARED, off), 'EINVAL', 'mmap');
      const m = b.mmap(card, d.size, RW, MAP_SHARED, off);
      const v = new Uint8Array(b.mapBuffer(m));
      assert.ok(v.every((x) => x === 0));
      const other = b.open('/dev/dri/card0', O_RDWR);
      sysErr(() => b.mmap(other, d.size, RW, MAP_SHARED, off), 'EACCES', 'mmap');
      b.drmDestroyDumb(card, d.handle);
      v[0] = 1;
      assert.equal(v[0], 1);
      sysErr(() => b.mmap(card, d.size, RW, MAP_SHARED, off), 'EINVAL', 'mmap');
    });

    it('G74/G75: unknown handles and render nodes', () => {
      sysErr(() => b.drmMapDumb(card, 99), 'ENOENT', 'ioctl(DRM_IOCTL_MODE_MAP_DUMB)');
      sysErr(() => b.drmDestroyDumb(card, 99), 'EINVAL', 'ioctl(DRM_IOCTL_MODE_DESTROY_DUMB)');
      sysErr(() => b.drmGemClose(card, 99), 'EINVAL', 'ioctl(DRM_IOCTL_GEM_CLOSE)');
      const render = b.open('/dev/dri/renderD128', O_RDWR);
      sysErr(() => b.drmCreateDumb(render, 64, 64, 32, 0), 'EACCES', CD);
      sysErr(() => b.drmMapDumb(render, 1), 'EACCES', 'ioctl(DRM_IOCTL_MODE_MAP_DUMB)');
      assert.equal(b.drmVersion(render).name, 'vgem');
    });
  });

  describe('PRIME (conformance H)', () => {
    let card: Fd;
    const H2F = 'ioctl(DRM_IOCTL_PRIME_HANDLE_TO_FD)';
    const F2H = 'ioctl(DRM_IOCTL_PRIME_FD_TO_HANDLE)';
    beforeEach(() => {
      card = b.open('/dev/dri/card0', O_RDWR);
    });

    it('H78/H79: flags and unknown handles', () => {
      const d = b.drmCreateDumb(card, 64, 64, 32, 0);
      for (const f of [0x1, 0x7ffff, 0x80001, 0x3]) sysErr(() => b.drmPrimeHandleToFd(card, d.handle, f), 'EINVAL', H2F);
      sysErr(() => b.drmPrimeHandleToFd(card, 99, DRM_CLOEXEC), 'ENOENT', H2F);
      b.close(b.drmPrimeHandleToFd(card, d.handle, DRM_CLOEXEC));
    });

    it('H80/PR-4: read-only without DRM_RDWR, re-export gives the same dma-buf', () => {
      const d = b.drmCreateDumb(card, 64, 64, 32, 0);
      const ro = b.drmPrimeHandleToFd(card, d.handle, DRM_CLOEXEC);
      sysErr(() => b.mmap(ro, d.size, RW, MAP_SHARED, 0), 'EACCES', 'mmap');
      const again = b.drmPrimeHandleToFd(card, d.handle, DRM_CLOEXEC | DRM_RDWR);
      assert.equal(b.fstat(again).ino, b.fstat(ro).ino);
      sysErr(() => b.mmap(again, d.size, RW, MAP_SHARED, 0), 'EACCES', 'mmap');
      assert.equal(fdinfo(b, ro).get('exp_name'), 'drm'); // H86
    });

    it('H80: writes through the dma-buf show in the dumb mapping', () => {
      const d = b.drmCreateDumb(card, 64, 64, 32, 0);
      const fd = b.drmPrimeHandleToFd(card, d.handle, DRM_CLOEXEC | DRM_RDWR);
      const a = new Uint8Array(b.mapBuffer(b.mmap(fd, d.size, RW, MAP_SHARED, 0)));
      const dumb = new Uint8Array(b.mapBuffer(b.mmap(card, d.size, RW, MAP_SHARED, b.drmMapDumb(card, d.handle))));
      a[10] = 5;
      assert.equal(dumb[10], 5);
    });

    it('H82/PR-7/PR-8: imports', () => {
      sysErr(() => b.drmPrimeFdToHandle(card, b.memfdCreate('m', 0)), 'EINVAL', F2H);
      sysErr(() => b.drmPrimeFdToHandle(card, 999_999), 'EBADF', F2H);
      const d = b.drmCreateDumb(card, 64, 64, 32, 0);
      const fd = b.drmPrimeHandleToFd(card, d.handle, DRM_CLOEXEC | DRM_RDWR);
      assert.equal(b.drmPrimeFdToHandle(card, fd), d.handle);
      const heapBuf = b.heapAlloc(b.open('/dev/dma_heap/system', O_RDONLY), P, O_RDWR, 0);
      const h = b.drmPrimeFdToHandle(card, heapBuf); // C42
      assert.equal(b.drmPrimeFdToHandle(card, heapBuf), h);
      sysErr(() => b.drmMapDumb(card, h), 'EINVAL', 'ioctl(DRM_IOCTL_MODE_MAP_DUMB)'); // PR-10
      b.drmGemClose(card, h);
      const virtio = b.open('/dev/dri/card2', O_RDWR);
      sysErr(() => b.drmPrimeFdToHandle(virtio, heapBuf), 'ENODEV', F2H); // H88
    });

    it('H87/PR-11: the dma-buf outlives its handle and the DRM fd', () => {
      const d = b.drmCreateDumb(card, 64, 64, 32, 0);
      const fd = b.drmPrimeHandleToFd(card, d.handle, DRM_CLOEXEC | DRM_RDWR);
      b.drmGemClose(card, d.handle);
      b.close(card);
      const m = b.mmap(fd, d.size, RW, MAP_SHARED, 0);
      new Uint8Array(b.mapBuffer(m))[0] = 1;
      b.close(fd);
      assert.deepEqual(b.openFds().filter((x) => x === fd || x === card), []);
    });

    it('vgem fences make the buffer busy until signalled', async () => {
      const d = b.drmCreateDumb(card, 64, 64, 32, 0);
      const fd = b.drmPrimeHandleToFd(card, d.handle, DRM_CLOEXEC | DRM_RDWR);
      const render = b.open('/dev/dri/renderD128', O_RDWR);
      const h = b.drmPrimeFdToHandle(render, fd);
      const fence = b.vgemFenceAttach(render, h, VGEM_FENCE_WRITE);
      sysErr(() => b.vgemFenceAttach(render, h, 0), 'EBUSY', 'ioctl(DRM_IOCTL_VGEM_FENCE_ATTACH)');
      sysErr(() => b.vgemFenceAttach(render, h, 2), 'EINVAL', 'ioctl(DRM_IOCTL_VGEM_FENCE_ATTACH)');
      assert.equal(b.poll(fd, POLLIN | POLLOUT, 0), 0);
      const waiting = b.dmabufSyncAsync(fd, DMA_BUF_SYNC_READ);
      b.vgemFenceSignal(render, fence);
      await waiting;
      assert.equal(b.poll(fd, POLLIN | POLLOUT, 0), POLLIN | POLLOUT);
      sysErr(() => b.vgemFenceSignal(render, fence), 'ENOENT', 'ioctl(DRM_IOCTL_VGEM_FENCE_SIGNAL)');
      sysErr(() => b.vgemFenceSignal(b.open('/dev/dri/card1', O_RDWR), 1), 'EINVAL', 'ioctl(DRM_IOCTL_VGEM_FENCE_SIGNAL)');
    });
  });

  it('reset() closes everything', () => {
    b.open('/dev/udmabuf', O_RDONLY);
    const buf = b.heapAlloc(b.open('/dev/dma_heap/system', O_RDONLY), P, O_RDWR, 0);
    const m = b.mmap(buf, P, RW, MAP_SHARED, 0);
    b.reset();
    assert.deepEqual(b.openFds(), []);
    assert.equal(b.isMapped(m), false);
    assert.equal(b.liveMappings(), 0);
  });
});
