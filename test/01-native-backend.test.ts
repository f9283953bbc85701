/**
 * The native backend (the C++ addon) tested directly, syscall by syscall.
 *
 * Host-testable parts (files, memfd, mmap, errors, argument checks, poll, fd tracking, workers) run on
 * any Linux with the addon built. Device parts (udmabuf, dma-heap, DRM, sync files) run where the
 * devices exist and otherwise skip saying why. `describe('vm smoke')` runs only with DMABUF_VM=1 (the
 * project's VM), where a missing device is a failure.
 *
 * The file is skipped off Linux, or when the addon does not load — unless DMABUF_BACKEND=native, where
 * a load failure fails.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { loadNative, type NativeBackend } from '../src/backend/native';
import type { MapHandle } from '../src/backend/types';
import { errnoValue } from '../src/errors';
import {
  DMA_BUF_SYNC_END, DMA_BUF_SYNC_READ, DMA_BUF_SYNC_RW, DMA_BUF_SYNC_START, DMA_BUF_SYNC_WRITE, DRM_CAP_PRIME,
  DRM_CLOEXEC, DRM_RDWR, F_SEAL_GROW, F_SEAL_SHRINK, MAP_PRIVATE, MAP_SHARED, MFD_ALLOW_SEALING, O_CLOEXEC, O_NONBLOCK,
  O_RDONLY, O_RDWR, POLLIN, POLLNVAL, POLLOUT, PROT_READ, PROT_WRITE, SEEK_END, SEEK_SET, UDMABUF_FLAGS_CLOEXEC,
} from '../src/constants';

const MiB = 1 << 20;
const MAP_FIXED = 0x10;
const inVm = process.env.DMABUF_VM === '1';
const NATIVE_JS = path.resolve(__dirname, '..', 'src', 'backend', 'native.js');

type SysErr = Error & { code?: string; errno?: number; syscall?: string; path?: string };

function catchErr(fn: () => unknown): SysErr {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof Error, 'an Error was thrown');
    return e as SysErr;
  }
  assert.fail('expected an error, nothing was thrown');
}

async function catchReject(p: Promise<unknown>): Promise<SysErr> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof Error, 'the promise rejected with an Error');
    return e as SysErr;
  }
  assert.fail('expected a rejection, the promise resolved');
}

function assertErrno(e: SysErr, code: string, syscall: string, p?: string): void {
  assert.equal(e.code, code, `code (${e.message})`);
  assert.equal(e.errno, errnoValue(code), 'errno');
  assert.equal(e.syscall, syscall, 'syscall');
  if (p !== undefined) assert.equal(e.path, p, 'path');
}

function assertCode(e: SysErr, code: string, type?: ErrorConstructor): void {
  assert.equal(e.code, code, `code (${e.message})`);
  if (type) assert.ok(e instanceof type, `a ${type.name}`);
}

/** Skip the current test saying why; in the VM a missing device is a failure instead. */
function skipBecause(ctx: Mocha.Context, reason: string): never {
  if (inVm) throw new Error(`required in the VM but missing: ${reason}`);
  console.log(`      (skipped: ${reason})`);
  ctx.skip();
}

function fdinfo(b: NativeBackend, fd: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of b.readTextFile(`/proc/self/fdinfo/${fd}`).split('\n')) {
    const m = line.match(/^([^:]+):\s*(.*)$/);
    if (m) out[m[1]] = m[2];
  }
  return out;
}

function isCloexec(b: NativeBackend, fd: number): boolean {
  return (parseInt(fdinfo(b, fd).flags, 8) & O_CLOEXEC) !== 0;
}

function runWorker(source: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const w = new Worker(source, { eval: true, workerData: { nativeJs: NATIVE_JS } });
    let result: unknown;
    w.on('message', (m) => { result = m; });
    w.on('error', reject);
    w.on('exit', (code) => (code === 0 ? resolve(result) : reject(new Error(`worker exited with ${code}`))));
  });
}

function fdLinks(): string[] {
  const out: string[] = [];
  for (const n of fs.readdirSync('/proc/self/fd')) {
    try {
      out.push(fs.readlinkSync(`/proc/self/fd/${n}`));
    } catch { /* closed meanwhile (the readdir fd itself) */ }
  }
  return out;
}

describe('native backend (addon, direct)', function () {
  let b: NativeBackend;
  const toClose: number[] = [];
  const toUnmap: MapHandle[] = [];

  before(function () {
    if (process.platform !== 'linux') {
      console.log(`    (skipped: the native addon is Linux-only; this is ${process.platform})`);
      this.skip();
    }
    const loaded = loadNative();
    if (!loaded.backend) {
      if (process.env.DMABUF_BACKEND === 'native') {
        throw new Error(`DMABUF_BACKEND=native but the addon did not load: ${loaded.error?.message}`);
      }
      console.log(`    (skipped: the native addon did not load: ${loaded.error?.message})`);
      this.skip();
    }
    b = loaded.backend;
  });

  afterEach(function () {
    if (!b) return;
    for (const m of toUnmap.splice(0)) b.munmap(m);
    for (const fd of toClose.splice(0)) {
      try { b.close(fd); } catch { /* the test closed it */ }
    }
  });

  const keep = (fd: number): number => { toClose.push(fd); return fd; };
  const keepMap = (m: MapHandle): MapHandle => { toUnmap.push(m); return m; };

  function memfd(size: number, seals = 0): number {
    const fd = keep(b.memfdCreate('dmabuf-test', MFD_ALLOW_SEALING));
    b.ftruncate(fd, size);
    if (seals) b.addSeals(fd, seals);
    return fd;
  }

  describe('loading', function () {
    it('is the native backend with the system page size', function () {
      assert.equal(b.name, 'native');
      assert.ok(b.pageSize >= 4096 && (b.pageSize & (b.pageSize - 1)) === 0);
      assert.strictEqual(loadNative().backend, b, 'loaded once per thread');
    });
  });

  describe('files', function () {
    it('open/close; a second close is EBADF; open adds O_CLOEXEC', function () {
      const fd = b.open('/dev/null', O_RDWR);
      assert.ok(Number.isInteger(fd) && fd >= 0);
      assert.ok(isCloexec(b, fd), 'O_CLOEXEC');
      assert.equal(b.getFlags(fd) & 3, O_RDWR);
      b.close(fd);
      assertErrno(catchErr(() => b.close(fd)), 'EBADF', 'close');
    });

    it('open of a missing path is ENOENT with the path', function () {
      const p = '/nonexistent/dmabuf-test';
      assertErrno(catchErr(() => b.open(p, O_RDONLY)), 'ENOENT', 'open', p);
      assertErrno(catchErr(() => b.stat(p)), 'ENOENT', 'stat', p);
      assertErrno(catchErr(() => b.readdir(p)), 'ENOENT', 'opendir', p);
      assertErrno(catchErr(() => b.readlink(p)), 'ENOENT', 'readlink', p);
      assertErrno(catchErr(() => b.readTextFile(p)), 'ENOENT', 'open', p);
      assert.equal(b.access(p, 0), false);
    });

    it('dup gives a new close-on-exec fd for the same file', function () {
      const fd = memfd(4096);
      const d = keep(b.dup(fd));
      assert.notEqual(d, fd);
      assert.equal(b.fstat(d).ino, b.fstat(fd).ino);
      assert.ok(isCloexec(b, d));
      assertErrno(catchErr(() => b.dup(99999)), 'EBADF', 'dup');
    });

    it('fstat/stat return the contract fields (ino/dev/rdev as bigint)', function () {
      const st = b.stat('/dev/null');
      assert.equal(typeof st.ino, 'bigint');
      assert.equal(typeof st.dev, 'bigint');
      assert.equal(typeof st.rdev, 'bigint');
      assert.equal(st.rdev, BigInt(fs.statSync('/dev/null').rdev));
      assert.equal(st.mode & 0o170000, 0o020000, 'character device');
      const fd = memfd(12345);
      const f = b.fstat(fd);
      assert.equal(f.size, 12345);
      assert.equal(f.uid, process.getuid!());
      assert.equal(typeof f.gid, 'number');
      assertErrno(catchErr(() => b.fstat(99999)), 'EBADF', 'fstat');
    });

    it('read/write/pread/lseek', function () {
      const fd = memfd(0);
      assert.equal(b.write(fd, new Uint8Array([1, 2, 3, 4])), 4);
      assert.equal(b.write(fd, new Uint8Array([9]), 10), 1);
      assert.equal(b.lseek(fd, 0, SEEK_END), 11);
      assert.equal(b.lseek(fd, 0, SEEK_SET), 0);
      assert.deepEqual([...b.read(fd, 3)], [1, 2, 3]);
      assert.deepEqual([...b.pread(fd, 100, 8)], [0, 0, 9], 'short read at EOF');
      assert.equal(b.read(fd, 0).length, 0);
      assertErrno(catchErr(() => b.lseek(fd, -1, SEEK_SET)), 'EINVAL', 'lseek');
      assertErrno(catchErr(() => b.read(99999, 1)), 'EBADF', 'read');
      assertErrno(catchErr(() => b.write(99999, new Uint8Array(1))), 'EBADF', 'write');
      assertErrno(catchErr(() => b.pread(99999, 1, 0)), 'EBADF', 'pread');
      assertErrno(catchErr(() => b.getFlags(99999)), 'EBADF', 'fcntl(F_GETFL)');
    });

    it('readTextFile reads procfs files (size 0) to the end', function () {
      const fd = memfd(4096);
      const text = b.readTextFile(`/proc/self/fdinfo/${fd}`);
      assert.match(text, /^pos:\s+0$/m);
      assert.match(text, /^flags:\s+[0-7]+$/m);
      const status = b.readTextFile('/proc/self/status');
      assert.match(status, /^Pid:\s+\d+$/m);
      assert.ok(status.endsWith('\n'), 'read to EOF');
    });

    it('readdir is sorted, without . and ..; readlink; access', function () {
      const list = b.readdir('/proc/self/fd');
      assert.ok(!list.includes('.') && !list.includes('..'));
      assert.deepEqual(list, [...list].sort());
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dmabuf-test-'));
      try {
        for (const n of ['b', 'a', 'c']) fs.writeFileSync(path.join(dir, n), '');
        assert.deepEqual(b.readdir(dir), ['a', 'b', 'c']);
        assertErrno(catchErr(() => b.readdir(path.join(dir, 'a'))), 'ENOTDIR', 'opendir', path.join(dir, 'a'));
      } finally {
        fs.rmSync(dir, { recursive: true });
      }
      const fd = memfd(4096);
      assert.equal(b.readlink(`/proc/self/fd/${fd}`), '/memfd:dmabuf-test (deleted)');
      assert.equal(b.access('/dev/null', 6), true);
    });
  });

  describe('memfd', function () {
    it('memfd_create is close-on-exec; ftruncate; seals', function () {
      const fd = keep(b.memfdCreate('dmabuf-test', MFD_ALLOW_SEALING));
      assert.ok(isCloexec(b, fd));
      b.ftruncate(fd, 2 * MiB);
      assert.equal(b.fstat(fd).size, 2 * MiB);
      assert.equal(b.getSeals(fd), 0);
      b.addSeals(fd, F_SEAL_SHRINK);
      assert.equal(b.getSeals(fd), F_SEAL_SHRINK);
      assertErrno(catchErr(() => b.ftruncate(fd, MiB)), 'EPERM', 'ftruncate');
      b.ftruncate(fd, 3 * MiB);
      b.addSeals(fd, F_SEAL_GROW);
      assertErrno(catchErr(() => b.ftruncate(fd, 4 * MiB)), 'EPERM', 'ftruncate');
    });

    it('seals need MFD_ALLOW_SEALING', function () {
      const fd = keep(b.memfdCreate('dmabuf-test', 0));
      assertErrno(catchErr(() => b.addSeals(fd, F_SEAL_SHRINK)), 'EPERM', 'fcntl(F_ADD_SEALS)');
      assertErrno(catchErr(() => b.getSeals(99999)), 'EBADF', 'fcntl(F_GET_SEALS)');
      assertErrno(catchErr(() => b.memfdCreate('x', 0xffff0000)), 'EINVAL', 'memfd_create');
    });
  });

  describe('mappings', function () {
    it('mmap + mapBuffer is zero-copy both ways', function () {
      const size = 4 * b.pageSize;
      const fd = memfd(size);
      const m = keepMap(b.mmap(fd, size, PROT_READ | PROT_WRITE, MAP_SHARED, 0));
      assert.equal(m.length, size);
      assert.equal(m.prot, PROT_READ | PROT_WRITE);
      assert.equal(b.isMapped(m), true);
      const ab = b.mapBuffer(m);
      assert.equal(ab.byteLength, size);
      assert.strictEqual(b.mapBuffer(m), ab, 'the same ArrayBuffer every time');
      const view = new Uint8Array(ab);
      view[0] = 0xab;
      view[size - 1] = 0xcd;
      assert.deepEqual([...b.pread(fd, 1, 0)], [0xab], 'a write through the view is in the file');
      assert.deepEqual([...b.pread(fd, 1, size - 1)], [0xcd]);
      b.write(fd, new Uint8Array([7, 8]), 100);
      assert.deepEqual([...view.subarray(100, 102)], [7, 8], 'a write to the file is in the view');
    });

    it('munmap detaches the ArrayBuffer first (views read length 0) and is idempotent', function () {
      const fd = memfd(b.pageSize);
      const m = b.mmap(fd, b.pageSize, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
      const ab = b.mapBuffer(m);
      const view = new Uint8Array(ab);
      const sub = new Uint32Array(ab, 8, 4);
      b.munmap(m);
      assert.equal(view.length, 0);
      assert.equal(sub.length, 0);
      assert.equal(ab.byteLength, 0);
      assert.equal(view[0], undefined, 'reads nothing, does not crash');
      view[0] = 1; // a no-op on a detached buffer, not a crash
      assert.equal(b.isMapped(m), false);
      b.munmap(m);
      assertCode(catchErr(() => b.mapBuffer(m)), 'ERR_INVALID_STATE');
      assertCode(catchErr(() => b.mapRead(m, 0, new Uint8Array(1))), 'ERR_INVALID_STATE');
    });

    it('a PROT_READ mapping gets no ArrayBuffer, but mapRead copies from it', function () {
      const size = 2 * b.pageSize;
      const fd = memfd(size);
      b.write(fd, new Uint8Array([1, 2, 3]), b.pageSize - 1);
      const m = keepMap(b.mmap(fd, size, PROT_READ, MAP_SHARED, 0));
      assertCode(catchErr(() => b.mapBuffer(m)), 'ERR_INVALID_STATE');
      const t = new Uint8Array(3);
      b.mapRead(m, b.pageSize - 1, t);
      assert.deepEqual([...t], [1, 2, 3]);
      b.mapRead(m, size, new Uint8Array(0));
      b.mapRead(m, size - 3, t);
      assertCode(catchErr(() => b.mapRead(m, size - 2, t)), 'ERR_OUT_OF_RANGE', RangeError);
      assertCode(catchErr(() => b.mapRead(m, size + 1, new Uint8Array(0))), 'ERR_OUT_OF_RANGE', RangeError);
      assertCode(catchErr(() => b.mapRead(m, -1, t)), 'ERR_OUT_OF_RANGE', RangeError);
    });

    it('mmap errors come from the kernel; unsafe requests are refused before it', function () {
      const fd = memfd(b.pageSize);
      assertErrno(catchErr(() => b.mmap(fd, b.pageSize - 1, PROT_READ, MAP_SHARED, 1)), 'EINVAL', 'mmap');
      assertErrno(catchErr(() => b.mmap(fd, 0, PROT_READ, MAP_SHARED, 0)), 'EINVAL', 'mmap');
      assertErrno(catchErr(() => b.mmap(99999, b.pageSize, PROT_READ, MAP_SHARED, 0)), 'EBADF', 'mmap');
      const ro = keep(b.open(`/proc/self/fd/${fd}`, O_RDONLY));
      assertErrno(catchErr(() => b.mmap(ro, b.pageSize, PROT_READ | PROT_WRITE, MAP_SHARED, 0)), 'EACCES', 'mmap');
      // MAP_FIXED could replace any mapping of the process; a mapping past EOF would SIGBUS on access.
      assertCode(catchErr(() => b.mmap(fd, b.pageSize, PROT_READ, MAP_SHARED | MAP_FIXED, 0)), 'ERR_INVALID_ARG_VALUE', TypeError);
      assertCode(catchErr(() => b.mmap(fd, 2 * b.pageSize, PROT_READ, MAP_SHARED, 0)), 'ERR_OUT_OF_RANGE', RangeError);
      assertCode(catchErr(() => b.mapBuffer({ length: 1, prot: 3 })), 'ERR_INVALID_ARG_TYPE', TypeError);
      assertCode(catchErr(() => b.munmap({} as MapHandle)), 'ERR_INVALID_ARG_TYPE', TypeError);
    });

    it('MAP_PRIVATE mappings are copy-on-write', function () {
      const fd = memfd(b.pageSize);
      const m = keepMap(b.mmap(fd, b.pageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE, 0));
      new Uint8Array(b.mapBuffer(m))[0] = 5;
      assert.deepEqual([...b.pread(fd, 1, 0)], [0]);
    });

    it('a mapping dropped without munmap is unmapped by the garbage collector', async function () {
      const gc = (globalThis as { gc?: () => void }).gc;
      if (!gc) {
        console.log('      (skipped: needs node --expose-gc)');
        this.skip();
      }
      const fd = keep(b.memfdCreate('dmabuf-gc-test', 0));
      b.ftruncate(fd, b.pageSize);
      (() => {
        const m = b.mmap(fd, b.pageSize, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
        new Uint8Array(b.mapBuffer(m))[0] = 1;
      })();
      const mapped = () => fs.readFileSync('/proc/self/maps', 'utf8').includes('memfd:dmabuf-gc-test');
      assert.ok(mapped());
      for (let i = 0; i < 20 && mapped(); i++) {
        gc!();
        await new Promise((r) => setImmediate(r));
      }
      assert.ok(!mapped(), 'unmapped after GC');
    });
  });

  describe('errors and argument checks', function () {
    it('a kernel error is an Error with code, errno and syscall', function () {
      const e = catchErr(() => b.close(9999));
      assert.ok(e instanceof Error);
      assertErrno(e, 'EBADF', 'close');
      assert.equal(e.errno, 9);
      assert.equal(e.path, undefined);
    });

    it('fds must be integers in [0, 2^31-1]', function () {
      const bad = b as unknown as { close(fd: unknown): void };
      assertCode(catchErr(() => bad.close(-1)), 'ERR_OUT_OF_RANGE', RangeError);
      assertCode(catchErr(() => bad.close(1.5)), 'ERR_OUT_OF_RANGE', RangeError);
      assertCode(catchErr(() => bad.close(NaN)), 'ERR_OUT_OF_RANGE', RangeError);
      assertCode(catchErr(() => bad.close(2 ** 31)), 'ERR_OUT_OF_RANGE', RangeError);
      assertCode(catchErr(() => bad.close('x')), 'ERR_INVALID_ARG_TYPE', TypeError);
      assertCode(catchErr(() => bad.close(undefined)), 'ERR_INVALID_ARG_TYPE', TypeError);
      assertCode(catchErr(() => bad.close(3n)), 'ERR_INVALID_ARG_TYPE', TypeError);
    });

    it('lengths are non-negative safe integers; strings are strings without NUL; bytes are Uint8Array', function () {
      const any = b as unknown as Record<string, (...a: unknown[]) => unknown>;
      assertCode(catchErr(() => any.ftruncate(0, -1)), 'ERR_OUT_OF_RANGE', RangeError);
      assertCode(catchErr(() => any.ftruncate(0, 2 ** 53)), 'ERR_OUT_OF_RANGE', RangeError);
      assertCode(catchErr(() => any.read(0, Infinity)), 'ERR_OUT_OF_RANGE', RangeError);
      assertCode(catchErr(() => any.open(42, 0)), 'ERR_INVALID_ARG_TYPE', TypeError);
      assertCode(catchErr(() => any.open('/dev/null\0/etc/passwd', 0)), 'ERR_INVALID_ARG_VALUE', TypeError);
      assertCode(catchErr(() => any.write(1, [1, 2])), 'ERR_INVALID_ARG_TYPE', TypeError);
      assertCode(catchErr(() => any.write(1, new Uint16Array(1))), 'ERR_INVALID_ARG_TYPE', TypeError);
      assertCode(catchErr(() => any.udmabufCreateList(0, 0, [{ memfd: -1, offset: 0, size: 0 }])), 'ERR_OUT_OF_RANGE', RangeError);
      assertCode(catchErr(() => any.udmabufCreateList(0, 0, 'x')), 'ERR_INVALID_ARG_TYPE', TypeError);
      assertCode(catchErr(() => any.sendFds(0, new Uint8Array(1), [1.5])), 'ERR_OUT_OF_RANGE', RangeError);
    });

    it('ioctls on a non-device are refused by the kernel, not crashed on', function () {
      const fd = memfd(4096);
      assertErrno(catchErr(() => b.dmabufSync(fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW)), 'ENOTTY', 'ioctl(DMA_BUF_IOCTL_SYNC)');
      assertErrno(catchErr(() => b.dmabufSetName(fd, 'x')), 'ENOTTY', 'ioctl(DMA_BUF_SET_NAME_B)');
      assertErrno(catchErr(() => b.dmabufExportSyncFile(fd, DMA_BUF_SYNC_READ)), 'ENOTTY', 'ioctl(DMA_BUF_IOCTL_EXPORT_SYNC_FILE)');
      assertErrno(catchErr(() => b.syncFileInfo(fd)), 'ENOTTY', 'ioctl(SYNC_IOC_FILE_INFO)');
      assertErrno(catchErr(() => b.syncFileMerge('m', fd, fd)), 'ENOTTY', 'ioctl(SYNC_IOC_MERGE)');
      assertErrno(catchErr(() => b.heapAlloc(fd, 4096, O_RDWR | O_CLOEXEC, 0)), 'ENOTTY', 'ioctl(DMA_HEAP_IOCTL_ALLOC)');
      assertErrno(catchErr(() => b.udmabufCreate(fd, fd, 0, 4096, UDMABUF_FLAGS_CLOEXEC)), 'ENOTTY', 'ioctl(UDMABUF_CREATE)');
      assertErrno(catchErr(() => b.drmVersion(fd)), 'ENOTTY', 'ioctl(DRM_IOCTL_VERSION)');
      assertErrno(catchErr(() => b.drmPrimeHandleToFd(fd, 1, DRM_CLOEXEC)), 'ENOTTY', 'ioctl(DRM_IOCTL_PRIME_HANDLE_TO_FD)');
      assertErrno(catchErr(() => b.swSyncInc(fd, 1)), 'ENOTTY', 'ioctl(SW_SYNC_IOC_INC)');
    });

    it('an async rejection is a system error and keeps the caller\'s stack', async function () {
      const fd = memfd(4096);
      const e = await catchReject(b.dmabufSyncAsync(fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW));
      assertErrno(e, 'ENOTTY', 'ioctl(DMA_BUF_IOCTL_SYNC)');
      assert.match(e.stack ?? '', /01-native-backend\.test\.js/);
      assertErrno(await catchReject(b.dmabufSyncAsync(99999, DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW)), 'EBADF', 'ioctl(DMA_BUF_IOCTL_SYNC)');
    });
  });

  describe('poll', function () {
    let dir: string;
    let fifo: string;
    before(function () {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dmabuf-poll-'));
      fifo = path.join(dir, 'fifo');
      execFileSync('mkfifo', [fifo]);
    });
    after(function () {
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    it('poll on a pipe: timeout gives 0, data gives POLLIN', function () {
      const fd = keep(b.open(fifo, O_RDWR | O_NONBLOCK));
      assert.equal(b.poll(fd, POLLIN, 10), 0);
      b.write(fd, new Uint8Array([1]));
      assert.equal(b.poll(fd, POLLIN, 10) & POLLIN, POLLIN);
      assert.equal(b.poll(99999, POLLIN, 0), POLLNVAL);
    });

    it('pollAsync resolves off the JS thread when the pipe becomes readable', async function () {
      const fd = keep(b.open(fifo, O_RDWR | O_NONBLOCK));
      const t0 = Date.now();
      assert.equal(await b.pollAsync(fd, POLLIN, 50), 0, 'timeout');
      assert.ok(Date.now() - t0 >= 40);
      const p = b.pollAsync(fd, POLLIN, 10000);
      setTimeout(() => b.write(fd, new Uint8Array([1])), 30);
      assert.equal((await p) & POLLIN, POLLIN);
      assert.equal(await b.pollAsync(99999, POLLIN, 0), POLLNVAL);
    });

    it('pollAsync works on its own dup: closing the fd meanwhile does not redirect it', async function () {
      const fd = b.open(fifo, O_RDWR | O_NONBLOCK);
      const writer = keep(b.open(fifo, O_RDWR | O_NONBLOCK));
      const p = b.pollAsync(fd, POLLIN, 10000);
      b.close(fd);
      const other = keep(b.memfdCreate('reuse', 0)); // likely takes fd's number
      void other;
      setTimeout(() => b.write(writer, new Uint8Array([1])), 30);
      assert.equal((await p) & POLLIN, POLLIN);
    });
  });

  describe('fd passing', function () {
    it('sendFds/recvFds pass fds with SCM_RIGHTS; received fds are close-on-exec and tracked', async function () {
      const sock = path.join(os.tmpdir(), `dmabuf-test-${process.pid}.sock`);
      fs.rmSync(sock, { force: true });
      const server = net.createServer({ pauseOnConnect: true }); // libuv must not read what we recvmsg
      await new Promise<void>((r) => server.listen(sock, r));
      const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
      const client = net.connect(sock);
      await new Promise<void>((r) => client.once('connect', () => r()));
      const peer = await accepted;
      try {
        const sfd = (client as unknown as { _handle: { fd: number } })._handle.fd;
        const rfd = (peer as unknown as { _handle: { fd: number } })._handle.fd;
        const fd = memfd(4096);
        assert.equal(b.sendFds(sfd, new Uint8Array([1, 2, 3]), [fd, fd]), 3);
        const got = b.recvFds(rfd, 16, 4);
        assert.deepEqual([...got.data], [1, 2, 3]);
        assert.equal(got.fds.length, 2);
        for (const f of got.fds) {
          keep(f);
          assert.equal(b.fstat(f).ino, b.fstat(fd).ino);
          assert.ok(isCloexec(b, f));
          assert.ok(b.trackedFds().includes(f));
        }
        assertErrno(catchErr(() => b.recvFds(rfd, 16, 4)), 'EAGAIN', 'recvmsg');
        assertErrno(catchErr(() => b.sendFds(fd, new Uint8Array(1), [])), 'ENOTSOCK', 'sendmsg');
      } finally {
        client.destroy();
        peer.destroy();
        server.close();
        fs.rmSync(sock, { force: true });
      }
    });
  });

  describe('fd tracking and workers', function () {
    it('tracks every fd it hands out until close() or fdRelease()', function () {
      const fd = b.memfdCreate('dmabuf-test', 0);
      const d = b.dup(fd);
      assert.ok(b.trackedFds().includes(fd) && b.trackedFds().includes(d));
      b.close(fd);
      assert.ok(!b.trackedFds().includes(fd));
      assert.equal(b.fdRelease(d), true);
      assert.equal(b.fdRelease(d), false);
      assert.ok(!b.trackedFds().includes(d));
      fs.closeSync(d);
    });

    it('a worker that exits without closing leaks no fd and no mapping', async function () {
      const before = fs.readdirSync('/proc/self/fd').length;
      const result = await runWorker(`
        const { parentPort, workerData } = require('node:worker_threads');
        const b = require(workerData.nativeJs).loadNative().backend;
        const fds = [];
        for (let i = 0; i < 8; i++) {
          const fd = b.memfdCreate('dmabuf-worker-leak', 0);
          b.ftruncate(fd, 65536);
          fds.push(fd, b.dup(fd));
          const m = b.mmap(fd, 65536, 3, 1, 0);
          new Uint8Array(b.mapBuffer(m))[0] = i;
        }
        parentPort.postMessage(b.trackedFds().length);
      `);
      assert.equal(result, 16);
      await new Promise((r) => setTimeout(r, 50));
      assert.ok(!fdLinks().some((l) => l.includes('dmabuf-worker-leak')), 'no fd of the worker is left open');
      assert.ok(!fs.readFileSync('/proc/self/maps', 'utf8').includes('dmabuf-worker-leak'), 'no mapping is left');
      assert.ok(fs.readdirSync('/proc/self/fd').length <= before, 'fd count did not grow');
    });

    it('the cleanup hook does not close an fd number that JS closed and reused behind its back', async function () {
      const result = await runWorker(`
        const { parentPort, workerData } = require('node:worker_threads');
        const fs = require('node:fs');
        const b = require(workerData.nativeJs).loadNative().backend;
        process.removeAllListeners('warning'); // fs.closeSync of a non-fs fd warns in workers
        const fd = b.memfdCreate('dmabuf-worker-stale', 0);
        fs.closeSync(fd);                        // closed without telling the addon
        const reused = b.open('/dev/null', 0);   // most likely the same number
        b.fdRelease(reused);                     // not tracked: outlives the worker
        parentPort.postMessage({ fd, reused });
      `) as { fd: number; reused: number };
      try {
        assert.ok(fs.fstatSync(result.reused).isCharacterDevice(), 'the reused fd survived the cleanup hook');
      } finally {
        fs.closeSync(result.reused);
      }
    });

    it('loads in 4 workers at once', async function () {
      const results = await Promise.all([0, 1, 2, 3].map((i) => runWorker(`
        const { parentPort, workerData } = require('node:worker_threads');
        const loaded = require(workerData.nativeJs).loadNative();
        const b = loaded.backend;
        const fd = b.memfdCreate('dmabuf-worker-${i}', 0);
        b.ftruncate(fd, 65536);
        const m = b.mmap(fd, 65536, 3, 1, 0);
        new Uint8Array(b.mapBuffer(m)).fill(${i + 1});
        const back = b.pread(fd, 1, 65535)[0];
        let code;
        try { b.close(99999); } catch (e) { code = e.code + ':' + e.syscall; }
        b.munmap(m);
        b.close(fd);
        parentPort.postMessage({ back, code, tracked: b.trackedFds().length });
      `)));
      results.forEach((r, i) => assert.deepEqual(r, { back: i + 1, code: 'EBADF:close', tracked: 0 }));
    });
  });

  // ---- devices -----------------------------------------------------------------------------------

  function openDev(ctx: Mocha.Context, p: string, flags = O_RDWR): number {
    if (!fs.existsSync(p)) skipBecause(ctx, `${p} does not exist on this kernel`);
    try {
      return keep(b.open(p, flags));
    } catch (e) {
      skipBecause(ctx, `${p} cannot be opened: ${(e as SysErr).code}`);
    }
  }

  function checkDmabuf(fd: number, size: number, exporter: string): void {
    assert.ok(isCloexec(b, fd), 'the dma-buf fd is close-on-exec');
    assert.equal(b.fstat(fd).size, size);
    assert.equal(b.lseek(fd, 0, SEEK_END), size);
    const info = fdinfo(b, fd);
    assert.equal(Number(info.size), size);
    assert.equal(info.exp_name, exporter);
  }

  function writeAndReadBack(fd: number, size: number): void {
    const m = keepMap(b.mmap(fd, size, PROT_READ | PROT_WRITE, MAP_SHARED, 0));
    b.dmabufSync(fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_WRITE);
    const v = new Uint8Array(b.mapBuffer(m));
    v[0] = 0x5a;
    v[size - 1] = 0xa5;
    b.dmabufSync(fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_WRITE);
    const t = new Uint8Array(1);
    b.dmabufSync(fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ);
    b.mapRead(m, size - 1, t);
    b.dmabufSync(fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ);
    assert.equal(t[0], 0xa5);
    assert.equal(v[0], 0x5a);
  }

  describe('udmabuf (/dev/udmabuf)', function () {
    it('UDMABUF_CREATE over a sealed memfd shares its pages', function () {
      const dev = openDev(this, '/dev/udmabuf');
      const mfd = memfd(MiB, F_SEAL_SHRINK);
      const fd = keep(b.udmabufCreate(dev, mfd, 0, MiB, UDMABUF_FLAGS_CLOEXEC));
      checkDmabuf(fd, MiB, 'udmabuf');
      writeAndReadBack(fd, MiB);
      assert.deepEqual([...b.pread(mfd, 1, MiB - 1)], [0xa5], 'the memfd sees the write');
    });

    it('UDMABUF_CREATE refuses an unsealed memfd and a non-memfd', function () {
      const dev = openDev(this, '/dev/udmabuf');
      const mfd = memfd(MiB);
      assertErrno(catchErr(() => b.udmabufCreate(dev, mfd, 0, MiB, UDMABUF_FLAGS_CLOEXEC)), 'EINVAL', 'ioctl(UDMABUF_CREATE)');
      const nul = keep(b.open('/dev/null', O_RDWR));
      const e = catchErr(() => b.udmabufCreate(dev, nul, 0, MiB, UDMABUF_FLAGS_CLOEXEC));
      assert.equal(e.syscall, 'ioctl(UDMABUF_CREATE)');
      assert.ok(e.code === 'EBADFD' || e.code === 'EINVAL', `EBADFD or EINVAL, got ${e.code}`);
      assert.equal(e.errno, errnoValue(e.code!));
    });

    it('UDMABUF_CREATE_LIST joins several memfd ranges', function () {
      const dev = openDev(this, '/dev/udmabuf');
      const page = b.pageSize;
      const a = memfd(4 * page, F_SEAL_SHRINK);
      const c = memfd(4 * page, F_SEAL_SHRINK);
      b.write(c, new Uint8Array([42]), page);
      const fd = keep(b.udmabufCreateList(dev, UDMABUF_FLAGS_CLOEXEC, [
        { memfd: a, offset: 0, size: 2 * page },
        { memfd: c, offset: page, size: page },
      ]));
      checkDmabuf(fd, 3 * page, 'udmabuf');
      const m = keepMap(b.mmap(fd, 3 * page, PROT_READ, MAP_SHARED, 0));
      const t = new Uint8Array(1);
      b.mapRead(m, 2 * page, t);
      assert.equal(t[0], 42);
    });

    it('DMA_BUF_IOCTL_SYNC (sync and async), SET_NAME visible in fdinfo, idle sync file is signalled', async function () {
      const dev = openDev(this, '/dev/udmabuf');
      const mfd = memfd(MiB, F_SEAL_SHRINK);
      const fd = keep(b.udmabufCreate(dev, mfd, 0, MiB, UDMABUF_FLAGS_CLOEXEC));
      assertErrno(catchErr(() => b.dmabufSync(fd, 0xff)), 'EINVAL', 'ioctl(DMA_BUF_IOCTL_SYNC)');
      await b.dmabufSyncAsync(fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW);
      await b.dmabufSyncAsync(fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW);
      b.dmabufSetName(fd, 'frame0');
      assert.equal(fdinfo(b, fd).name, 'frame0');
      assert.equal(b.readlink(`/proc/self/fd/${fd}`), '/dmabuf:frame0');
      b.dmabufSetName(fd, 'x'.repeat(31));
      assertErrno(catchErr(() => b.dmabufSetName(fd, 'x'.repeat(32))), 'EINVAL', 'ioctl(DMA_BUF_SET_NAME_B)');
      assert.equal(b.poll(fd, POLLIN | POLLOUT, 0), POLLIN | POLLOUT, 'no fences: readable and writable');
      assert.equal(await b.pollAsync(fd, POLLIN | POLLOUT, 1000), POLLIN | POLLOUT);
      let sf: number;
      try {
        sf = keep(b.dmabufExportSyncFile(fd, DMA_BUF_SYNC_RW));
      } catch (e) {
        if ((e as SysErr).code === 'ENOTTY') return; // before 6.0
        throw e;
      }
      assert.ok(isCloexec(b, sf));
      const info = b.syncFileInfo(sf);
      assert.equal(info.status, 1, 'signalled');
      assert.ok(Array.isArray(info.fences));
      for (const f of info.fences) assert.equal(typeof f.timestampNs, 'bigint');
      b.dmabufImportSyncFile(fd, DMA_BUF_SYNC_WRITE, sf);
      const merged = keep(b.syncFileMerge('merged', sf, sf));
      assert.equal(b.syncFileInfo(merged).status, 1);
    });
  });

  describe('dma-heap (/dev/dma_heap/system)', function () {
    it('DMA_HEAP_IOCTL_ALLOC gives a mappable close-on-exec dma-buf', function () {
      const heap = openDev(this, '/dev/dma_heap/system', O_RDONLY);
      const fd = keep(b.heapAlloc(heap, MiB, O_RDWR | O_CLOEXEC, 0));
      checkDmabuf(fd, MiB, 'system');
      writeAndReadBack(fd, MiB);
      assertErrno(catchErr(() => b.heapAlloc(heap, 0, O_RDWR | O_CLOEXEC, 0)), 'EINVAL', 'ioctl(DMA_HEAP_IOCTL_ALLOC)');
      assertErrno(catchErr(() => b.heapAlloc(heap, MiB, O_RDWR | O_CLOEXEC, 1)), 'EINVAL', 'ioctl(DMA_HEAP_IOCTL_ALLOC)');
    });
  });

  describe('DRM', function () {
    const cards = (): string[] => {
      try {
        return fs.readdirSync('/dev/dri').filter((n) => /^card\d+$/.test(n)).map((n) => `/dev/dri/${n}`);
      } catch {
        return [];
      }
    };

    it('DRM_IOCTL_VERSION names the driver of every card', function () {
      if (cards().length === 0) skipBecause(this, 'no /dev/dri/card* on this machine');
      for (const card of cards()) {
        const fd = keep(b.open(card, O_RDWR));
        const v = b.drmVersion(fd);
        assert.match(v.name, /^[a-z0-9_]+$/, `${card} driver name`);
        assert.equal(typeof v.major, 'number');
        assert.equal(typeof v.desc, 'string');
        assert.equal(typeof v.date, 'string');
        assert.equal(b.drmGetCap(fd, DRM_CAP_PRIME) & 3, 3, `${card} (${v.name}) can import and export`);
      }
    });

    it('dumb buffers: create, map, PRIME export and self-import, destroy', function () {
      if (cards().length === 0) skipBecause(this, 'no /dev/dri/card* on this machine');
      for (const card of cards()) {
        const fd = keep(b.open(card, O_RDWR));
        const name = b.drmVersion(fd).name;
        const dumb = b.drmCreateDumb(fd, 64, 64, 32, 0);
        assert.ok(dumb.handle > 0, `${name} handle`);
        assert.ok(dumb.pitch >= 256, `${name} pitch`);
        assert.ok(dumb.size >= 64 * 256, `${name} size`);
        const off = b.drmMapDumb(fd, dumb.handle);
        const m = keepMap(b.mmap(fd, dumb.size, PROT_READ | PROT_WRITE, MAP_SHARED, off));
        new Uint8Array(b.mapBuffer(m))[0] = 0x77;
        const buf = keep(b.drmPrimeHandleToFd(fd, dumb.handle, DRM_CLOEXEC | DRM_RDWR));
        assert.ok(isCloexec(b, buf), `${name} exported fd is close-on-exec`);
        assert.equal(b.fstat(buf).size, dumb.size);
        const again = keep(b.drmPrimeHandleToFd(fd, dumb.handle, DRM_CLOEXEC | DRM_RDWR));
        assert.equal(b.fstat(again).ino, b.fstat(buf).ino, `${name} re-export is the same dma-buf`);
        assert.equal(b.drmPrimeFdToHandle(fd, buf), dumb.handle, `${name} self-import gives the exporting handle`);
        const bm = keepMap(b.mmap(buf, dumb.size, PROT_READ, MAP_SHARED, 0));
        const t = new Uint8Array(1);
        b.mapRead(bm, 0, t);
        assert.equal(t[0], 0x77, `${name} dma-buf mapping sees the dumb mapping's write`);
        assertErrno(catchErr(() => b.drmPrimeHandleToFd(fd, 0xfffff, DRM_CLOEXEC)), 'ENOENT', 'ioctl(DRM_IOCTL_PRIME_HANDLE_TO_FD)');
        const nul = keep(b.open('/dev/null', O_RDWR));
        assertErrno(catchErr(() => b.drmPrimeFdToHandle(fd, nul)), 'EINVAL', 'ioctl(DRM_IOCTL_PRIME_FD_TO_HANDLE)');
        b.drmDestroyDumb(fd, dumb.handle);
        assertErrno(catchErr(() => b.drmGemClose(fd, dumb.handle)), 'EINVAL', 'ioctl(DRM_IOCTL_GEM_CLOSE)');
      }
    });

    it('vgem fences block SYNC START and poll until signalled', async function () {
      const card = cards().find((c) => {
        const fd = b.open(c, O_RDWR);
        try { return b.drmVersion(fd).name === 'vgem'; } finally { b.close(fd); }
      });
      if (!card) skipBecause(this, 'no vgem card (modprobe vgem)');
      const fd = keep(b.open(card, O_RDWR));
      const dumb = b.drmCreateDumb(fd, 64, 64, 32, 0);
      const buf = keep(b.drmPrimeHandleToFd(fd, dumb.handle, DRM_CLOEXEC | DRM_RDWR));
      const fence = b.vgemFenceAttach(fd, dumb.handle, 1 /* VGEM_FENCE_WRITE */);
      assert.equal(b.poll(buf, POLLIN, 0), 0, 'a pending write fence: not readable');
      let done = false;
      const p = b.dmabufSyncAsync(buf, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ).then(() => { done = true; });
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(done, false, 'SYNC START waits for the fence');
      b.vgemFenceSignal(fd, fence);
      await p;
      b.dmabufSync(buf, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ);
      assert.equal(b.poll(buf, POLLIN, 0) & POLLIN, POLLIN);
      assertErrno(catchErr(() => b.vgemFenceSignal(fd, fence)), 'ENOENT', 'ioctl(DRM_IOCTL_VGEM_FENCE_SIGNAL)');
      b.drmGemClose(fd, dumb.handle);
    });
  });

  describe('sw_sync (/sys/kernel/debug/sync/sw_sync)', function () {
    it('fences advance with the timeline', function () {
      const p = '/sys/kernel/debug/sync/sw_sync';
      if (!b.access(p, 6)) {
        console.log(`      (skipped: ${p} is not available: needs CONFIG_SW_SYNC, debugfs and root)`);
        this.skip();
      }
      const tl = keep(b.open(p, O_RDWR));
      const f1 = keep(b.swSyncCreateFence(tl, 1, 'one'));
      const f2 = keep(b.swSyncCreateFence(tl, 2, 'a-name-longer-than-thirty-two-bytes-is-cut'));
      assert.equal(b.syncFileInfo(f1).status, 0);
      const merged = keep(b.syncFileMerge('both', f1, f2));
      const info = b.syncFileInfo(merged);
      assert.equal(info.name, 'both');
      // Fences of one timeline (one fence context) merge into the later one.
      assert.equal(info.fences.length, 1);
      assert.equal(info.fences[0].driverName, 'sw_sync');
      assert.equal(info.fences[0].status, 0);
      b.swSyncInc(tl, 1);
      assert.equal(b.syncFileInfo(f1).status, 1);
      assert.equal(b.syncFileInfo(merged).status, 0);
      b.swSyncInc(tl, 1);
      assert.equal(b.syncFileInfo(merged).status, 1);
    });
  });

  // ---- the VM's smoke test: devices must be there ---------------------------------------------------

  (inVm ? describe : describe.skip)('vm smoke', function () {
    it('DRM_IOCTL_VERSION over /dev/dri/card* names vgem, virtio_gpu and vkms', function () {
      const names = fs.readdirSync('/dev/dri').filter((n) => /^card\d+$/.test(n)).map((n) => {
        const fd = keep(b.open(`/dev/dri/${n}`, O_RDWR));
        return b.drmVersion(fd).name;
      });
      for (const want of ['vgem', 'virtio_gpu', 'vkms']) assert.ok(names.includes(want), `${want} in ${names.join(', ')}`);
    });

    it('1 MiB from /dev/dma_heap/system maps and writes', function () {
      const heap = keep(b.open('/dev/dma_heap/system', O_RDONLY));
      const fd = keep(b.heapAlloc(heap, MiB, O_RDWR | O_CLOEXEC, 0));
      writeAndReadBack(fd, MiB);
    });

    it('1 MiB udmabuf (memfd + F_SEAL_SHRINK + UDMABUF_CREATE) maps and writes', function () {
      const dev = keep(b.open('/dev/udmabuf', O_RDWR));
      const mfd = memfd(MiB, F_SEAL_SHRINK);
      const fd = keep(b.udmabufCreate(dev, mfd, 0, MiB, UDMABUF_FLAGS_CLOEXEC));
      writeAndReadBack(fd, MiB);
    });
  });
});
