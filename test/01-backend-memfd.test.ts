/**
 * Backend contract, memfd and seals: memfd_create, ftruncate, F_ADD_SEALS/F_GET_SEALS and what each
 * seal refuses, and the seals of a tmpfs file that is not a memfd (what udmabuf's A4 and A13 rest on).
 * Direct Backend calls on the backend the runner chose (test/support/backend.ts); all of it runs on
 * the host on both backends (the tmpfs file is /dev/shm, modelled by the mock).
 */
import assert from 'node:assert/strict';
import {
  F_SEAL_GROW, F_SEAL_SEAL, F_SEAL_SHRINK, F_SEAL_WRITE, MAP_SHARED, MFD_ALLOW_SEALING, O_RDWR, PROT_READ, PROT_WRITE,
} from '../src/constants';
import { MiB, throwsErrno } from './support/index';
import { needsShmTmpfs, removeAfter, useBackend } from './support/backend';

const O_CREAT = 0o100;
const RW = PROT_READ | PROT_WRITE;

describe('backend: memfd and seals', function () {
  const t = useBackend();

  it('memfd_create is close-on-exec; ftruncate; F_SEAL_SHRINK and F_SEAL_GROW refuse resizing (EPERM)', function () {
    const { b } = t;
    const fd = t.keep(b.memfdCreate('dmabuf-test', MFD_ALLOW_SEALING));
    assert.ok(t.isCloexec(fd));
    b.ftruncate(fd, 2 * MiB);
    assert.equal(b.fstat(fd).size, 2 * MiB);
    assert.equal(b.getSeals(fd), 0);
    b.addSeals(fd, F_SEAL_SHRINK);
    assert.equal(b.getSeals(fd), F_SEAL_SHRINK);
    throwsErrno(() => b.ftruncate(fd, MiB), 'EPERM', { syscall: 'ftruncate' });
    b.ftruncate(fd, 3 * MiB);
    b.addSeals(fd, F_SEAL_GROW);
    throwsErrno(() => b.ftruncate(fd, 4 * MiB), 'EPERM', { syscall: 'ftruncate' });
  });

  it('without MFD_ALLOW_SEALING the seals read F_SEAL_SEAL and no seal can be added; bad flags → EINVAL', function () {
    const { b } = t;
    const fd = t.keep(b.memfdCreate('dmabuf-test', 0));
    assert.equal(b.getSeals(fd), F_SEAL_SEAL);
    throwsErrno(() => b.addSeals(fd, F_SEAL_SHRINK), 'EPERM', { syscall: 'fcntl(F_ADD_SEALS)' });
    throwsErrno(() => b.getSeals(99999), 'EBADF', { syscall: 'fcntl(F_GET_SEALS)' });
    throwsErrno(() => b.memfdCreate('x', 0xffff0000), 'EINVAL', { syscall: 'memfd_create' });
  });

  it('F_SEAL_GROW refuses a write past the end, F_SEAL_WRITE every write, F_SEAL_SEAL more seals', function () {
    const { b } = t;
    const P = t.page;
    const fd = t.memfd(2 * P, { seals: F_SEAL_SHRINK | F_SEAL_GROW });
    throwsErrno(() => b.ftruncate(fd, P), 'EPERM', { syscall: 'ftruncate' });
    throwsErrno(() => b.ftruncate(fd, 3 * P), 'EPERM', { syscall: 'ftruncate' });
    assert.equal(b.write(fd, new Uint8Array([1, 2, 3]), 10), 3);
    assert.deepEqual([...b.pread(fd, 3, 10)], [1, 2, 3]);
    throwsErrno(() => b.write(fd, new Uint8Array(1), 2 * P), 'EPERM', { syscall: 'write' });
    b.addSeals(fd, F_SEAL_WRITE | F_SEAL_SEAL);
    throwsErrno(() => b.write(fd, new Uint8Array(1), 0), 'EPERM', { syscall: 'write' });
    throwsErrno(() => b.addSeals(fd, F_SEAL_GROW), 'EPERM', { syscall: 'fcntl(F_ADD_SEALS)' });
  });

  it('F_SEAL_WRITE is EBUSY while a writable shared mapping exists', function () {
    const { b } = t;
    const P = t.page;
    const fd = t.memfd(P);
    const m = b.mmap(fd, P, RW, MAP_SHARED, 0);
    try {
      throwsErrno(() => b.addSeals(fd, F_SEAL_WRITE), 'EBUSY', { syscall: 'fcntl(F_ADD_SEALS)' });
    } finally {
      b.munmap(m);
    }
    b.addSeals(fd, F_SEAL_WRITE);
    assert.equal(b.getSeals(fd), F_SEAL_WRITE);
  });

  it('a tmpfs file that is not a memfd (/dev/shm) has the seals F_SEAL_SEAL', function () {
    needsShmTmpfs(this);
    const { b } = t;
    const file = `/dev/shm/dmabuf-test-${process.pid}`;
    removeAfter(t, file);
    const fd = t.open(file, O_RDWR | O_CREAT);
    b.ftruncate(fd, t.page);
    assert.equal(b.getSeals(fd), F_SEAL_SEAL);
    throwsErrno(() => b.addSeals(fd, F_SEAL_SHRINK), 'EPERM', { syscall: 'fcntl(F_ADD_SEALS)' });
  });
});
