/**
 * Native backend only (the C++ addon): what the mock has no counterpart for. Loading, host files
 * (/dev/null, a real directory, /proc/self/status), unmapping by the garbage collector, poll on real
 * pipes, fd passing over a Unix socket, the addon's fd tracking and its cleanup hook, worker threads,
 * and the VM smoke test. Runs when the runner chose the native backend; the kernel contract the two
 * backends share is in the other 01-backend-* files.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { loadNative, type NativeBackend } from '../src/backend/native';
import {
  F_SEAL_SHRINK, MAP_SHARED, O_CLOEXEC, O_NONBLOCK, O_RDONLY, O_RDWR, POLLIN, POLLNVAL, POLLOUT, PROT_READ, PROT_WRITE,
  UDMABUF_FLAGS_CLOEXEC,
} from '../src/constants';
import { inVm, MiB, throwsErrno } from './support/index';
import { onlyOnBackend, useBackend } from './support/backend';

const NATIVE_JS = path.resolve(__dirname, '..', 'src', 'backend', 'native.js');
const RW = PROT_READ | PROT_WRITE;

function runWorker(source: string, data: Record<string, unknown> = {}): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const w = new Worker(source, { eval: true, workerData: { nativeJs: NATIVE_JS, ...data } });
    let result: unknown;
    w.on('message', (m) => { result = m; });
    w.on('error', reject);
    w.on('exit', (code) => (code === 0 ? resolve(result) : reject(new Error(`worker exited with ${code}`))));
  });
}

/** Where this process's fds point (/proc/self/fd). */
function fdLinks(): string[] {
  const out: string[] = [];
  for (const n of fs.readdirSync('/proc/self/fd')) {
    try {
      out.push(fs.readlinkSync(`/proc/self/fd/${n}`));
    } catch { /* closed meanwhile (the readdir fd itself) */ }
  }
  return out;
}

describe('backend: native only (addon)', function () {
  onlyOnBackend('native');
  const t = useBackend();
  const nb = (): NativeBackend => t.b as NativeBackend;

  describe('loading', function () {
    it('is the native backend with the system page size, loaded once per thread', function () {
      const native = loadNative().backend!;
      assert.equal(native.name, 'native');
      assert.equal(t.b.name, 'native');
      assert.ok(native.pageSize >= 4096 && (native.pageSize & (native.pageSize - 1)) === 0);
      assert.equal(t.b.pageSize, native.pageSize);
      assert.strictEqual(loadNative().backend, native, 'loaded once per thread');
    });
  });

  describe('host files', function () {
    it('/dev/null: open read-write adds O_CLOEXEC; stat agrees with Node (a character device); access', function () {
      const { b } = t;
      const fd = t.open('/dev/null', O_RDWR);
      assert.ok(t.isCloexec(fd), 'O_CLOEXEC');
      assert.equal(b.getFlags(fd) & 3, O_RDWR);
      const st = b.stat('/dev/null');
      assert.equal(st.rdev, BigInt(fs.statSync('/dev/null').rdev));
      assert.equal(st.mode & 0o170000, 0o020000, 'character device');
      assert.equal(b.access('/dev/null', 6), true);
    });

    it('a memfd belongs to this process\'s uid', function () {
      assert.equal(t.b.fstat(t.memfd(4096)).uid, process.getuid!());
    });

    it('readdir of a directory is sorted; readdir of a file in it → ENOTDIR with the path', function () {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dmabuf-test-'));
      try {
        for (const n of ['b', 'a', 'c']) fs.writeFileSync(path.join(dir, n), '');
        assert.deepEqual(t.b.readdir(dir), ['a', 'b', 'c']);
        throwsErrno(() => t.b.readdir(path.join(dir, 'a')), 'ENOTDIR', { syscall: 'opendir', path: path.join(dir, 'a') });
      } finally {
        fs.rmSync(dir, { recursive: true });
      }
    });

    it('readTextFile reads /proc/self/status to the end', function () {
      const status = t.b.readTextFile('/proc/self/status');
      assert.match(status, /^Pid:\s+\d+$/m);
      assert.ok(status.endsWith('\n'), 'read to EOF');
    });

    it('a mapping dropped without munmap is unmapped by the garbage collector', async function () {
      const gc = (globalThis as { gc?: () => void }).gc;
      if (!gc) {
        this.test!.title += ' (skipped: needs node --expose-gc)';
        this.skip();
      }
      const { b } = t;
      const fd = t.keep(b.memfdCreate('dmabuf-gc-test', 0));
      b.ftruncate(fd, b.pageSize);
      (() => {
        const m = b.mmap(fd, b.pageSize, RW, MAP_SHARED, 0);
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

  describe('poll on a pipe', function () {
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

    it('poll: timeout gives 0, data gives POLLIN', function () {
      const { b } = t;
      const fd = t.open(fifo, O_RDWR | O_NONBLOCK);
      assert.equal(b.poll(fd, POLLIN, 10), 0);
      b.write(fd, new Uint8Array([1]));
      assert.equal(b.poll(fd, POLLIN, 10) & POLLIN, POLLIN);
      assert.equal(b.poll(99999, POLLIN, 0), POLLNVAL);
    });

    it('pollAsync resolves off the JS thread when the pipe becomes readable', async function () {
      const { b } = t;
      const fd = t.open(fifo, O_RDWR | O_NONBLOCK);
      const t0 = Date.now();
      assert.equal(await b.pollAsync(fd, POLLIN, 50), 0, 'timeout');
      assert.ok(Date.now() - t0 >= 40);
      const p = b.pollAsync(fd, POLLIN, 10000);
      setTimeout(() => b.write(fd, new Uint8Array([1])), 30);
      assert.equal((await p) & POLLIN, POLLIN);
    });

    it('pollAsync works on its own dup: closing the fd meanwhile does not redirect it', async function () {
      const { b } = t;
      const fd = b.open(fifo, O_RDWR | O_NONBLOCK);
      const writer = t.open(fifo, O_RDWR | O_NONBLOCK);
      const p = b.pollAsync(fd, POLLIN, 10000);
      b.close(fd);
      t.keep(b.memfdCreate('reuse', 0)); // likely takes fd's number
      setTimeout(() => b.write(writer, new Uint8Array([1])), 30);
      assert.equal((await p) & POLLIN, POLLIN);
    });
    it('pollAsync waits on the event loop: it answers while every thread-pool thread is blocked', async function () {
      const { b } = t;
      // fill the pool: each open of a FIFO without a writer blocks its pool thread until one comes
      const stuck = path.join(dir, 'stuck');
      execFileSync('mkfifo', [stuck]);
      const poolSize = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
      const blocked = Array.from({ length: poolSize }, () => fs.promises.open(stuck, 'r'));
      let released = false;
      try {
        await new Promise((r) => setTimeout(r, 50)); // the opens reach their threads
        const fd = t.open(fifo, O_RDWR | O_NONBLOCK);
        const writer = t.open(fifo, O_RDWR | O_NONBLOCK);
        while (b.poll(fd, POLLIN, 0) & POLLIN) b.read(fd, 4096); // drained by earlier tests' data
        setTimeout(() => b.write(writer, new Uint8Array([7])), 30);
        const r = await Promise.race([b.pollAsync(fd, POLLIN, 20000),
          new Promise<string>((res) => setTimeout(() => res('no answer within 5 s'), 5000))]);
        assert.equal(typeof r === 'number' ? r & POLLIN : r, POLLIN);
        assert.equal(b.read(fd, 1)[0], 7);
      } finally {
        const w = fs.openSync(stuck, fs.constants.O_RDWR); // a writer: the blocked opens return
        released = true;
        for (const h of await Promise.all(blocked)) await h.close();
        fs.closeSync(w);
      }
      assert.ok(released);
    });

    it('pollAsync: its timeout counts from the call, also after the event loop was busy', async function () {
      const { b } = t;
      const fd = t.open(fifo, O_RDWR | O_NONBLOCK);
      while (b.poll(fd, POLLIN, 0) & POLLIN) b.read(fd, 4096);
      const spin = Date.now() + 100;
      while (Date.now() < spin) { /* the loop's cached time goes stale */ }
      const t0 = Date.now();
      assert.equal(await b.pollAsync(fd, POLLIN, 120), 0);
      assert.ok(Date.now() - t0 >= 110, `waited ${Date.now() - t0} ms of 120`);
    });

    it('pollAsync with timeout 0 reports what is ready now, and leaves no fd open once settled', async function () {
      const { b } = t;
      const fd = t.open(fifo, O_RDWR | O_NONBLOCK);
      while (b.poll(fd, POLLIN, 0) & POLLIN) b.read(fd, 4096);
      const before = fs.readdirSync('/proc/self/fd').length;
      assert.equal(await b.pollAsync(fd, POLLIN, 0), 0);
      assert.equal(fs.readdirSync('/proc/self/fd').length, before, 'the wait\'s dup is closed when it settles');
      b.write(fd, new Uint8Array([1]));
      assert.equal((await b.pollAsync(fd, POLLIN, 0)) & POLLIN, POLLIN);
      assert.equal((await b.pollAsync(fd, POLLIN, 1000)) & POLLIN, POLLIN);
      assert.equal(fs.readdirSync('/proc/self/fd').length, before);
      b.read(fd, 1);
    });

    it('pollAsync leaves a blocking fd blocking (O_NONBLOCK belongs to the file the caller shares)', async function () {
      const { b } = t;
      const fd = t.open(fifo, O_RDWR);
      assert.equal(b.getFlags(fd) & O_NONBLOCK, 0);
      assert.equal(await b.pollAsync(fd, POLLIN, 20), 0);
      assert.equal(b.getFlags(fd) & O_NONBLOCK, 0, 'still blocking after the wait');
      const nb = t.open(fifo, O_RDWR | O_NONBLOCK);
      await b.pollAsync(nb, POLLIN, 20);
      assert.equal(b.getFlags(nb) & O_NONBLOCK, O_NONBLOCK, 'a non-blocking one stays non-blocking');
    });

    it('pollAsync of a file epoll cannot watch (a memfd, /dev/null) answers as poll(2) does', async function () {
      const { b } = t;
      const m = t.keep(b.memfdCreate('dmabuf-poll', 0));
      assert.equal(await b.pollAsync(m, POLLIN | POLLOUT, 1000), b.poll(m, POLLIN | POLLOUT, 0));
      const n = t.open('/dev/null', O_RDWR);
      assert.equal(await b.pollAsync(n, POLLIN, 1000), b.poll(n, POLLIN, 0));
      assert.equal(await b.pollAsync(0x7ffffff0, POLLIN, 10), POLLNVAL);
    });

    it('a worker that exits with a pollAsync pending on its event loop exits cleanly and leaks no fd', async function () {
      const wfifo = path.join(dir, 'worker-fifo');
      execFileSync('mkfifo', [wfifo]);
      const result = await runWorker(`
        const { parentPort, workerData } = require('node:worker_threads');
        const b = require(workerData.nativeJs).loadNative().backend;
        const fd = b.open(workerData.fifo, ${O_RDWR | O_NONBLOCK});
        b.pollAsync(fd, ${POLLIN}, -1).then(() => parentPort.postMessage('settled'));
        parentPort.postMessage(b.trackedFds().length);
        setTimeout(() => process.exit(0), 50); // the pending wait would keep the worker alive
      `, { fifo: wfifo });
      assert.equal(result, 1);
      await new Promise((r) => setTimeout(r, 50));
      assert.ok(!fdLinks().some((l) => l === wfifo), 'neither the fd nor the wait\'s dup of it is left open');
    });
  });

  describe('fd passing', function () {
    it('sendFds/recvFds pass fds with SCM_RIGHTS; received fds are close-on-exec and tracked', async function () {
      const { b } = t;
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
        const fd = t.memfd(4096);
        assert.equal(b.sendFds(sfd, new Uint8Array([1, 2, 3]), [fd, fd]), 3);
        const got = b.recvFds(rfd, 16, 4);
        assert.deepEqual([...got.data], [1, 2, 3]);
        assert.equal(got.fds.length, 2);
        for (const f of got.fds) {
          t.keep(f);
          assert.equal(b.fstat(f).ino, b.fstat(fd).ino);
          assert.ok(t.isCloexec(f));
          assert.ok(nb().trackedFds().includes(f));
        }
        throwsErrno(() => b.recvFds(rfd, 16, 4), 'EAGAIN', { syscall: 'recvmsg' });
        throwsErrno(() => b.sendFds(fd, new Uint8Array(1), []), 'ENOTSOCK', { syscall: 'sendmsg' });
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
      const b = nb();
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

  // ---- the VM's smoke test: the devices must be there, by path -------------------------------------

  (inVm ? describe : describe.skip)('vm smoke', function () {
    it('DRM_IOCTL_VERSION over /dev/dri/card* names vgem, virtio_gpu and vkms', function () {
      const names = fs.readdirSync('/dev/dri').filter((n) => /^card\d+$/.test(n))
        .map((n) => t.b.drmVersion(t.open(`/dev/dri/${n}`, O_RDWR)).name);
      for (const want of ['vgem', 'virtio_gpu', 'vkms']) assert.ok(names.includes(want), `${want} in ${names.join(', ')}`);
    });

    it('1 MiB from /dev/dma_heap/system maps and writes', function () {
      const heap = t.open('/dev/dma_heap/system', O_RDONLY);
      t.writeAndReadBack(t.keep(t.b.heapAlloc(heap, MiB, O_RDWR | O_CLOEXEC, 0)), MiB);
    });

    it('1 MiB udmabuf (memfd + F_SEAL_SHRINK + UDMABUF_CREATE) maps and writes', function () {
      const dev = t.open('/dev/udmabuf', O_RDWR);
      const mfd = t.sealedMemfd(MiB, F_SEAL_SHRINK);
      t.writeAndReadBack(t.keep(t.b.udmabufCreate(dev, mfd, 0, MiB, UDMABUF_FLAGS_CLOEXEC)), MiB);
    });
  });
});
