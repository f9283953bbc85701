/**
 * Backend contract, udmabuf (docs/conformance.md section A, by direct ioctls): UDMABUF_CREATE and
 * UDMABUF_CREATE_LIST, what they refuse, the module parameters, and the pages the buffer shares with
 * its memfd. Direct Backend calls on the backend the runner chose (test/support/backend.ts): always on
 * the mock, on the native backend where /dev/udmabuf exists (in the VM always).
 */
import assert from 'node:assert/strict';
import {
  DMA_BUF_SYNC_END, DMA_BUF_SYNC_RW, DMA_BUF_SYNC_START, DMA_BUF_SYNC_WRITE, F_SEAL_FUTURE_WRITE, F_SEAL_GROW,
  F_SEAL_SEAL, F_SEAL_SHRINK, F_SEAL_WRITE, MAP_PRIVATE, MAP_SHARED, O_RDONLY, O_RDWR, POLLIN, POLLOUT, PROT_READ,
  PROT_WRITE, SEEK_END, UDMABUF_FLAGS_CLOEXEC,
} from '../src/constants';
import type { Fd } from '../src/backend/types';
import { MiB, throwsErrno } from './support/index';
import { needsShmTmpfs, removeAfter, useBackend } from './support/backend';

const RW = PROT_READ | PROT_WRITE;
const O_CREAT = 0o100;
const CREATE = 'ioctl(UDMABUF_CREATE)';
const CREATE_LIST = 'ioctl(UDMABUF_CREATE_LIST)';
const PARAMS = '/sys/module/udmabuf/parameters';

describe('backend: udmabuf (conformance A)', function () {
  const t = useBackend();
  let dev: Fd;
  beforeEach(function () {
    dev = t.udmabufDev(this); // A16: read-only is enough
  });
  /** UDMABUF_CREATE, close-on-exec unless other flags are given; the new fd is kept. */
  const create = (memfd: Fd, offset: number, size: number, flags = UDMABUF_FLAGS_CLOEXEC): Fd =>
    t.keep(t.b.udmabufCreate(dev, memfd, offset, size, flags));

  it('A16: /dev/udmabuf is readable, and its module parameters are numbers', function () {
    assert.equal(t.b.access('/dev/udmabuf', 4), true);
    assert.match(t.b.readTextFile(`${PARAMS}/size_limit_mb`), /^\d+\n$/);
    assert.match(t.b.readTextFile(`${PARAMS}/list_limit`), /^\d+\n$/);
  });

  it('UDMABUF_CREATE over a sealed memfd shares its pages', function () {
    const mfd = t.sealedMemfd(MiB);
    const fd = create(mfd, 0, MiB);
    t.checkDmabuf(fd, MiB, 'udmabuf');
    t.writeAndReadBack(fd, MiB);
    assert.deepEqual([...t.b.pread(mfd, 1, MiB - 1)], [0xa5], 'the memfd sees the write');
  });

  it('udmabufCreateSized: memfd, seal, UDMABUF_CREATE and the memfd\'s close in one call; each step\'s error', function () {
    const fdsBefore = t.b.readdir('/proc/self/fd').length;
    const fd = t.keep(t.b.udmabufCreateSized(dev, MiB, 0, false, 'sized'));
    t.checkDmabuf(fd, MiB, 'udmabuf');
    assert.ok(t.isCloexec(fd), 'close-on-exec whatever the flags');
    t.writeAndReadBack(fd, MiB);
    const st = t.b.fstat(fd);
    assert.deepEqual([...t.b.lastId], [Number(st.dev & 0xffffffffn), Number(st.ino >> 32n), Number(st.ino & 0xffffffffn)]);
    assert.equal(t.b.readdir('/proc/self/fd').length, fdsBefore + 1, 'only the dma-buf is left open, not the memfd');
    throwsErrno(() => t.b.udmabufCreateSized(dev, 4097, 0, false, 'x'), 'EINVAL', { syscall: CREATE }); // unaligned
    throwsErrno(() => t.b.udmabufCreateSized(dev, 0, 0, false, 'x'), 'EINVAL', { syscall: CREATE });
    throwsErrno(() => t.b.udmabufCreateSized(dev, MiB, 0, false, 'x'.repeat(250)), 'EINVAL', { syscall: 'memfd_create' });
    assert.equal(t.b.readdir('/proc/self/fd').length, fdsBefore + 1, 'a failed call leaves no memfd behind');
  });

  it('A1/A2: unaligned offset or size → EINVAL', function () {
    const P = t.page;
    const fd = t.sealedMemfd(4 * P);
    throwsErrno(() => create(fd, P / 2, P), 'EINVAL', { syscall: CREATE });
    throwsErrno(() => create(fd, 0, P / 2), 'EINVAL', { syscall: CREATE });
  });

  it('A3: not a memfd (fd 0, a procfs file, the device itself), or a closed fd → EBADFD (77)', function () {
    const { b } = t;
    const P = t.page;
    const file = t.open('/proc/version', O_RDONLY);
    const fds = [0, file, dev];
    if (t.isNative) fds.push(t.open('/dev/null', O_RDWR)); // another device (the mock has no /dev/null)
    const closed = b.memfdCreate('dmabuf-test', 0);
    b.close(closed);
    fds.push(closed);
    for (const fd of fds) {
      const e = throwsErrno(() => create(fd, 0, P), 'EBADFD', { syscall: CREATE }) as Error & { errno?: number };
      assert.equal(e.errno, 77);
    }
  });

  it('A4–A8: the seals a memfd needs and may not have', function () {
    const { b } = t;
    const P = t.page;
    // A4: created without MFD_ALLOW_SEALING (its seals read F_SEAL_SEAL)
    throwsErrno(() => create(t.memfd(P, { flags: 0 }), 0, P), 'EINVAL', { syscall: CREATE });
    // A5: sealable, but without F_SEAL_SHRINK
    throwsErrno(() => create(t.memfd(P), 0, P), 'EINVAL', { syscall: CREATE });
    // A6: F_SEAL_WRITE
    throwsErrno(() => create(t.sealedMemfd(P, F_SEAL_SHRINK | F_SEAL_WRITE), 0, P), 'EINVAL', { syscall: CREATE });
    // A7: F_SEAL_FUTURE_WRITE: refused by fixed kernels (≈6.13 and stable) and the mock, accepted before
    const future = t.sealedMemfd(P, F_SEAL_SHRINK | F_SEAL_FUTURE_WRITE);
    if (t.isMock) {
      throwsErrno(() => create(future, 0, P), 'EINVAL', { syscall: CREATE });
    } else {
      try {
        create(future, 0, P);
      } catch (e) {
        assert.equal((e as { code?: string }).code, 'EINVAL', `A7: success or EINVAL, got ${(e as Error).message}`);
      }
    }
    // A8: F_SEAL_GROW beside F_SEAL_SHRINK is fine
    assert.equal(b.fstat(create(t.sealedMemfd(P, F_SEAL_SHRINK | F_SEAL_GROW), 0, P)).size, P);
  });

  it('A13: a tmpfs file that is not a memfd (seals F_SEAL_SEAL) → EINVAL', function () {
    needsShmTmpfs(this);
    const { b } = t;
    const file = `/dev/shm/dmabuf-udmabuf-test-${process.pid}`;
    removeAfter(t, file);
    const shm = t.open(file, O_RDWR | O_CREAT);
    b.ftruncate(shm, t.page);
    assert.equal(b.getSeals(shm), F_SEAL_SEAL);
    throwsErrno(() => create(shm, 0, t.page), 'EINVAL', { syscall: CREATE });
  });

  it('A9/A10: size 0, an empty list, a range beyond the memfd → EINVAL', function () {
    const P = t.page;
    throwsErrno(() => create(t.sealedMemfd(P), 0, 0), 'EINVAL', { syscall: CREATE });
    throwsErrno(() => t.b.udmabufCreateList(dev, UDMABUF_FLAGS_CLOEXEC, []), 'EINVAL', { syscall: CREATE_LIST });
    throwsErrno(() => create(t.sealedMemfd(P), 0, 2 * P), 'EINVAL', { syscall: CREATE });
  });

  it('A11/A12: more than size_limit_mb, or more than list_limit entries → EINVAL; exactly the limits work', function () {
    const { b } = t;
    const P = t.page;
    const sizeLimit = Number(b.readTextFile(`${PARAMS}/size_limit_mb`)) * MiB;
    const listLimit = Number(b.readTextFile(`${PARAMS}/list_limit`));
    const big = t.sealedMemfd(sizeLimit + P);
    throwsErrno(() => create(big, 0, sizeLimit + P), 'EINVAL', { syscall: CREATE });
    t.close(create(big, 0, sizeLimit));
    const small = t.sealedMemfd((listLimit + 1) * P);
    const items = Array.from({ length: listLimit + 1 }, (_, i) => ({ memfd: small, offset: i * P, size: P }));
    throwsErrno(() => b.udmabufCreateList(dev, UDMABUF_FLAGS_CLOEXEC, items), 'EINVAL', { syscall: CREATE_LIST });
    const ok = t.keep(b.udmabufCreateList(dev, UDMABUF_FLAGS_CLOEXEC, items.slice(0, listLimit)));
    assert.equal(b.fstat(ok).size, listLimit * P);
  });

  it('A14/A15: another ioctl → ENOTTY; unknown flag bits are ignored (mainline)', function () {
    throwsErrno(() => t.b.heapAlloc(dev, t.page, O_RDWR, 0), 'ENOTTY', { syscall: 'ioctl(DMA_HEAP_IOCTL_ALLOC)' });
    throwsErrno(() => t.b.dmabufSync(dev, DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW), 'ENOTTY', { syscall: 'ioctl(DMA_BUF_IOCTL_SYNC)' });
    const mfd = t.sealedMemfd(t.page);
    if (t.isMock) {
      create(mfd, 0, t.page, 0x3);
    } else {
      // kernel-dependent: a kernel that checks the flags answers EINVAL
      try {
        create(mfd, 0, t.page, 0x3);
      } catch (e) {
        assert.equal((e as { code?: string }).code, 'EINVAL', `A15: success or EINVAL, got ${(e as Error).message}`);
      }
    }
  });

  it('shares pages with the memfd, which may be closed afterwards', function () {
    const { b } = t;
    const P = t.page;
    const fd = t.sealedMemfd(2 * P);
    const buf = create(fd, 0, 2 * P);
    b.write(fd, new Uint8Array([7, 8, 9]), P);
    const m = t.keepMap(b.mmap(buf, 2 * P, RW, MAP_SHARED, 0));
    const view = new Uint8Array(b.mapBuffer(m));
    assert.deepEqual([...view.subarray(P, P + 3)], [7, 8, 9]);
    view[0] = 42;
    assert.equal(b.pread(fd, 1, 0)[0], 42);
    t.close(fd);
    view[1] = 43;
    const got = new Uint8Array(2);
    b.mapRead(m, 0, got);
    assert.deepEqual([...got], [42, 43]);
  });

  it('UDMABUF_CREATE_LIST joins several memfd ranges', function () {
    const { b } = t;
    const P = t.page;
    const a = t.sealedMemfd(4 * P);
    const c = t.sealedMemfd(4 * P);
    b.write(c, new Uint8Array([42]), P);
    const fd = t.keep(b.udmabufCreateList(dev, UDMABUF_FLAGS_CLOEXEC, [
      { memfd: a, offset: 0, size: 2 * P },
      { memfd: c, offset: P, size: P },
    ]));
    t.checkDmabuf(fd, 3 * P, 'udmabuf');
    const m = t.keepMap(b.mmap(fd, 3 * P, PROT_READ, MAP_SHARED, 0));
    const got = new Uint8Array(1);
    b.mapRead(m, 2 * P, got);
    assert.equal(got[0], 42);
  });

  it('shares a part of a memfd, and the parts of a list, both ways; growing the memfd keeps them', function () {
    const { b } = t;
    const P = t.page;
    const a = t.sealedMemfd(2 * P);
    const c = t.sealedMemfd(2 * P);
    b.write(a, new Uint8Array([1]), P);
    const part = create(a, P, P);
    const pv = new Uint8Array(b.mapBuffer(t.keepMap(b.mmap(part, P, RW, MAP_SHARED, 0))));
    assert.equal(pv[0], 1);
    pv[1] = 11;
    assert.equal(b.pread(a, 1, P + 1)[0], 11);
    b.write(c, new Uint8Array([2]), P);
    const buf = t.keep(b.udmabufCreateList(dev, UDMABUF_FLAGS_CLOEXEC, [
      { memfd: a, offset: 0, size: P }, { memfd: c, offset: P, size: P }]));
    assert.equal(b.lseek(buf, 0, SEEK_END), 2 * P);
    const v = new Uint8Array(b.mapBuffer(t.keepMap(b.mmap(buf, 2 * P, RW, MAP_SHARED, 0))));
    assert.equal(v[P], 2);
    v[P + 1] = 22;
    assert.equal(b.pread(c, 1, P + 1)[0], 22);
    b.write(a, new Uint8Array([3]), 5);
    assert.equal(v[5], 3);
    b.ftruncate(a, 4 * P); // growing keeps the shared range
    b.write(a, new Uint8Array([4]), 6);
    assert.equal(v[6], 4);
  });

  it('exp_name udmabuf; SYNC END before the first START and MAP_PRIVATE → EINVAL', function () {
    const { b } = t;
    const P = t.page;
    const buf = create(t.sealedMemfd(P), 0, P);
    assert.equal(t.fdinfo(buf).get('exp_name'), 'udmabuf');
    throwsErrno(() => b.dmabufSync(buf, DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW), 'EINVAL', { syscall: 'ioctl(DMA_BUF_IOCTL_SYNC)' });
    b.dmabufSync(buf, DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW);
    b.dmabufSync(buf, DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW);
    throwsErrno(() => b.mmap(buf, P, PROT_READ, MAP_PRIVATE, 0), 'EINVAL', { syscall: 'mmap' });
  });

  it('SYNC (sync and async), SET_NAME in fdinfo and the link, idle poll, an idle buffer\'s sync file is signalled', async function () {
    const { b } = t;
    const fd = create(t.sealedMemfd(MiB), 0, MiB);
    throwsErrno(() => b.dmabufSync(fd, 0xff), 'EINVAL', { syscall: 'ioctl(DMA_BUF_IOCTL_SYNC)' });
    await b.dmabufSyncAsync(fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW);
    await b.dmabufSyncAsync(fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW);
    b.dmabufSetName(fd, 'frame0');
    assert.equal(t.fdinfo(fd).get('name'), 'frame0');
    assert.equal(b.readlink(`/proc/self/fd/${fd}`), '/dmabuf:frame0');
    b.dmabufSetName(fd, 'x'.repeat(31));
    throwsErrno(() => b.dmabufSetName(fd, 'x'.repeat(32)), 'EINVAL', { syscall: 'ioctl(DMA_BUF_SET_NAME_B)' });
    assert.equal(b.poll(fd, POLLIN | POLLOUT, 0), POLLIN | POLLOUT, 'no fences: readable and writable');
    assert.equal(await b.pollAsync(fd, POLLIN | POLLOUT, 1000), POLLIN | POLLOUT);
    let sf: Fd;
    try {
      sf = t.keep(b.dmabufExportSyncFile(fd, DMA_BUF_SYNC_RW));
    } catch (e) {
      if ((e as { code?: string }).code === 'ENOTTY') return; // before 6.0
      throw e;
    }
    assert.ok(t.isCloexec(sf));
    const info = b.syncFileInfo(sf);
    assert.equal(info.status, 1, 'signalled');
    assert.ok(Array.isArray(info.fences));
    for (const f of info.fences) assert.equal(typeof f.timestampNs, 'bigint');
    b.dmabufImportSyncFile(fd, DMA_BUF_SYNC_WRITE, sf);
    const merged = t.keep(b.syncFileMerge('merged', sf, sf));
    assert.equal(b.syncFileInfo(merged).status, 1);
  });
});
