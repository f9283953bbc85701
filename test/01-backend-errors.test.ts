/**
 * Backend contract, errors and argument checks: the shape of a kernel error (code, errno, syscall),
 * the arguments a backend refuses before any syscall because they would be unsafe (TypeError or
 * RangeError with an ERR_* code), ioctls sent to a file that is not their device, and async rejections.
 * Direct Backend calls on the backend the runner chose (test/support/backend.ts); all of it runs on
 * the host on both backends.
 */
import assert from 'node:assert/strict';
import type { MapHandle } from '../src/backend/types';
import {
  DMA_BUF_SYNC_READ, DMA_BUF_SYNC_RW, DMA_BUF_SYNC_START, DRM_CLOEXEC, O_CLOEXEC, O_RDWR, POLLIN, POLLNVAL,
  UDMABUF_FLAGS_CLOEXEC,
} from '../src/constants';
import { rejectsErrno, throwsCode, throwsErrno } from './support/index';
import { useBackend } from './support/backend';

describe('backend: errors and argument checks', function () {
  const t = useBackend();

  it('a kernel error is an Error with code, errno and syscall, and no path where none was given', function () {
    const e = throwsErrno(() => t.b.close(9999), 'EBADF', { syscall: 'close' }) as Error & { errno?: number; path?: string };
    assert.ok(e instanceof Error);
    assert.equal(e.errno, 9);
    assert.equal(e.path, undefined);
  });

  it('fds must be integers in [0, 2^31-1]', function () {
    const bad = t.b as unknown as { close(fd: unknown): void };
    throwsCode(() => bad.close(-1), 'ERR_OUT_OF_RANGE', RangeError);
    throwsCode(() => bad.close(1.5), 'ERR_OUT_OF_RANGE', RangeError);
    throwsCode(() => bad.close(NaN), 'ERR_OUT_OF_RANGE', RangeError);
    throwsCode(() => bad.close(2 ** 31), 'ERR_OUT_OF_RANGE', RangeError);
    throwsCode(() => bad.close('x'), 'ERR_INVALID_ARG_TYPE', TypeError);
    throwsCode(() => bad.close('3'), 'ERR_INVALID_ARG_TYPE', TypeError);
    throwsCode(() => bad.close(undefined), 'ERR_INVALID_ARG_TYPE', TypeError);
    throwsCode(() => bad.close(3n), 'ERR_INVALID_ARG_TYPE', TypeError);
  });

  it('lengths are non-negative safe integers; strings are strings without NUL; bytes are Uint8Array', function () {
    const any = t.b as unknown as Record<string, (...a: unknown[]) => unknown>;
    throwsCode(() => any.ftruncate(0, -1), 'ERR_OUT_OF_RANGE', RangeError);
    throwsCode(() => any.ftruncate(0, 2 ** 53), 'ERR_OUT_OF_RANGE', RangeError);
    throwsCode(() => any.read(0, Infinity), 'ERR_OUT_OF_RANGE', RangeError);
    throwsCode(() => any.read(1000, -1), 'ERR_OUT_OF_RANGE', RangeError);
    throwsCode(() => any.open(42, 0), 'ERR_INVALID_ARG_TYPE', TypeError);
    throwsCode(() => any.write(1, [1, 2]), 'ERR_INVALID_ARG_TYPE', TypeError);
    throwsCode(() => any.write(1, new Uint16Array(1)), 'ERR_INVALID_ARG_TYPE', TypeError);
    throwsCode(() => any.udmabufCreateList(0, 0, [{ memfd: -1, offset: 0, size: 0 }]), 'ERR_OUT_OF_RANGE', RangeError);
    throwsCode(() => any.udmabufCreateList(0, 0, 'x'), 'ERR_INVALID_ARG_TYPE', TypeError);
    throwsCode(() => any.mapBuffer({ length: 1, prot: 3 }), 'ERR_INVALID_ARG_TYPE', TypeError);
    throwsCode(() => any.munmap({} as MapHandle), 'ERR_INVALID_ARG_TYPE', TypeError);
    if (t.isNative) {
      // The mock does not look for NUL bytes: it answers ENOENT for the longer name.
      throwsCode(() => any.open('/dev/null\0/etc/passwd', 0), 'ERR_INVALID_ARG_VALUE', TypeError);
      // The mock has no sockets: its sendFds refuses every call (ERR_DMABUF_UNSUPPORTED, 01-backend-mock).
      throwsCode(() => any.sendFds(0, new Uint8Array(1), [1.5]), 'ERR_OUT_OF_RANGE', RangeError);
    }
  });

  it('ioctls on a file that is not their device are refused with ENOTTY, not crashed on', function () {
    const { b } = t;
    const fd = t.memfd(4096);
    throwsErrno(() => b.dmabufSync(fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW), 'ENOTTY', { syscall: 'ioctl(DMA_BUF_IOCTL_SYNC)' });
    throwsErrno(() => b.dmabufSetName(fd, 'x'), 'ENOTTY', { syscall: 'ioctl(DMA_BUF_SET_NAME_B)' });
    throwsErrno(() => b.dmabufExportSyncFile(fd, DMA_BUF_SYNC_READ), 'ENOTTY', { syscall: 'ioctl(DMA_BUF_IOCTL_EXPORT_SYNC_FILE)' });
    throwsErrno(() => b.syncFileInfo(fd), 'ENOTTY', { syscall: 'ioctl(SYNC_IOC_FILE_INFO)' });
    throwsErrno(() => b.syncFileMerge('m', fd, fd), 'ENOTTY', { syscall: 'ioctl(SYNC_IOC_MERGE)' });
    throwsErrno(() => b.heapAlloc(fd, 4096, O_RDWR | O_CLOEXEC, 0), 'ENOTTY', { syscall: 'ioctl(DMA_HEAP_IOCTL_ALLOC)' });
    throwsErrno(() => b.udmabufCreate(fd, fd, 0, 4096, UDMABUF_FLAGS_CLOEXEC), 'ENOTTY', { syscall: 'ioctl(UDMABUF_CREATE)' });
    throwsErrno(() => b.drmVersion(fd), 'ENOTTY', { syscall: 'ioctl(DRM_IOCTL_VERSION)' });
    throwsErrno(() => b.drmPrimeHandleToFd(fd, 1, DRM_CLOEXEC), 'ENOTTY', { syscall: 'ioctl(DRM_IOCTL_PRIME_HANDLE_TO_FD)' });
    throwsErrno(() => b.swSyncInc(fd, 1), 'ENOTTY', { syscall: 'ioctl(SW_SYNC_IOC_INC)' });
  });

  it('an async rejection is a system error and keeps the caller\'s stack', async function () {
    const { b } = t;
    const fd = t.memfd(4096);
    const e = await rejectsErrno(b.dmabufSyncAsync(fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW), 'ENOTTY',
      { syscall: 'ioctl(DMA_BUF_IOCTL_SYNC)' });
    assert.match(e.stack ?? '', /01-backend-errors\.test\.js/);
    await rejectsErrno(b.dmabufSyncAsync(99999, DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW), 'EBADF',
      { syscall: 'ioctl(DMA_BUF_IOCTL_SYNC)' });
  });

  it('poll and pollAsync of an fd that is not open answer POLLNVAL', async function () {
    assert.equal(t.b.poll(99999, POLLIN, 0), POLLNVAL);
    assert.equal(await t.b.pollAsync(99999, POLLIN, 0), POLLNVAL);
  });
});
