/**
 * dma-buf file contract tests (docs/conformance.md section D, plus the library's own behaviour), for
 * every provider: udmabuf, the system heap, and a vgem dumb buffer exported with PRIME.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { DmaBuf, drm, heaps, parseFdinfo, udmabuf, SyncFile, constants as C } from '../src/index';
import {
  backend, drmDevices, inVm, isNative, MiB, needsHeap, needsUdmabuf, PAGE, rejectsErrno, throwsCode, throwsErrno,
} from './support/index';
import { runChild } from './support/child';
import type { Fd } from '../src/backend/types';

interface Provider {
  name: string;
  exporter: RegExp;
  needs(ctx: Mocha.Context): void;
  make(size: number): DmaBuf;
}

const providers: Provider[] = [
  { name: 'udmabuf', exporter: /^udmabuf$/, needs: needsUdmabuf, make: (size) => udmabuf.create(size) },
  {
    name: 'heap:system',
    exporter: /^system$/,
    needs: (ctx) => needsHeap(ctx, 'system'),
    make: (size) => {
      using h = heaps.open('system');
      return h.allocate(size);
    },
  },
  {
    name: 'drm:vgem',
    exporter: /^drm$/,
    needs: (ctx) => {
      if (!drmDevices().some((d) => d.driver === 'vgem' && d.kind === 'card')) {
        if (inVm) throw new Error('no vgem card in the VM');
        ctx.skip();
      }
    },
    make: (size) => {
      using dev = drm.open({ driver: 'vgem' });
      using bo = dev.createDumb({ width: 1024, height: size / 4096, bpp: 32 });
      return bo.export();
    },
  },
];

for (const p of providers) {
  describe(`dma-buf file (${p.name})`, function () {
    beforeEach(function () {
      p.needs(this);
    });

    it('D43: lseek gives the size at SEEK_END and refuses everything but (0, SET|END)', function () {
      using b = p.make(4 * PAGE());
      const be = backend();
      assert.equal(be.lseek(b.fd, 0, C.SEEK_END), 4 * PAGE());
      assert.equal(be.lseek(b.fd, 0, C.SEEK_SET), 0);
      for (const [off, whence] of [[1, C.SEEK_SET], [-1, C.SEEK_END], [4 * PAGE(), C.SEEK_SET], [4 * PAGE() + 1, C.SEEK_SET],
        [4 * PAGE() - 1, C.SEEK_SET], [0, C.SEEK_CUR], [1, C.SEEK_CUR]] as const) {
        throwsErrno(() => be.lseek(b.fd, off, whence), 'EINVAL', { syscall: 'lseek' });
      }
    });

    it('D44: fstat size is the buffer size; dup shares the inode', function () {
      using b = p.make(2 * PAGE());
      const st = backend().fstat(b.fd);
      assert.equal(st.size, 2 * PAGE());
      using d = b.dup();
      assert.equal(backend().fstat(d.fd).ino, st.ino);
      assert.equal(d.inode, b.inode);
      assert.notEqual(d.fd, b.fd);
      assert.equal(b.info().exporter.match(p.exporter) !== null, true, b.info().exporter);
    });

    it('D45: mmap beyond the buffer → EINVAL; of a closed fd → EBADF', function () {
      using b = p.make(2 * PAGE());
      const be = backend();
      throwsErrno(() => be.mmap(b.fd, 4 * PAGE(), C.PROT_READ, C.MAP_SHARED, 0), 'EINVAL', { syscall: 'mmap' });
      throwsErrno(() => be.mmap(b.fd, 2 * PAGE(), C.PROT_READ, C.MAP_SHARED, PAGE()), 'EINVAL');
      const d = be.dup(b.fd);
      be.close(d);
      throwsErrno(() => be.mmap(d, PAGE(), C.PROT_READ, C.MAP_SHARED, 0), 'EBADF');
    });

    it('D46: map → unmap → map shows the same data; a mapping survives close(fd)', function () {
      using b = p.make(PAGE());
      const m1 = b.map();
      m1.bytes.set([1, 2, 3, 4]);
      const old = m1.bytes;
      m1.unmap();
      assert.equal(old.length, 0, 'the old view is detached');
      const m2 = b.map('read');
      assert.deepEqual([...m2.read(0, 4)], [1, 2, 3, 4]);
      // backend level: a mapping outlives its fd
      const be = backend();
      const fd = be.dup(b.fd);
      const h = be.mmap(fd, PAGE(), C.PROT_READ | C.PROT_WRITE, C.MAP_SHARED, 0);
      be.close(fd);
      const view = new Uint8Array(be.mapBuffer(h));
      assert.equal(view[2], 3);
      view[2] = 9;
      assert.equal(m2.read(2, 1)[0], 9);
      be.munmap(h);
      assert.equal(view.length, 0);
    });

    it('D46: a child process can map the inherited fd', async function () {
      if (!isNative()) this.skip(); // mock fds are not real fds
      using b = p.make(PAGE());
      b.access('write', (bytes) => bytes.set(Buffer.from('hello child')));
      const script = `const { DmaBuf } = require(${JSON.stringify(require.resolve('../src/index'))});
        const b = DmaBuf.fromFd(3); process.stdout.write(b.map('read').read(0, 11).toString()); b.close();`;
      const r = await runChild(process.execPath, ['-e', script], { fds: [b.fd], inheritStderr: true });
      assert.equal(r.status, 0);
      assert.equal(r.stdout, 'hello child');
    });

    it('D47: DMA_BUF_IOCTL_SYNC with invalid flags → EINVAL', function () {
      using b = p.make(PAGE());
      for (const flags of [0, 4, 8, 0xffffffff]) {
        throwsErrno(() => backend().dmabufSync(b.fd, flags), 'EINVAL', { syscall: 'ioctl(DMA_BUF_IOCTL_SYNC)' });
        // the same with the flags bound (what beginAccess/endAccess call), checked and raw
        for (const be of [backend(), backend().unchecked]) {
          throwsErrno(() => be.dmabufSyncer(flags)(b.fd), 'EINVAL', { syscall: 'ioctl(DMA_BUF_IOCTL_SYNC)' });
        }
      }
      // a bound syncer checks its fd as dmabufSync does, and does the ioctl on the fd it is given
      for (const be of [backend(), backend().unchecked]) {
        const start = be.dmabufSyncer(C.DMA_BUF_SYNC_START | C.DMA_BUF_SYNC_RW);
        const end = be.dmabufSyncer(C.DMA_BUF_SYNC_END | C.DMA_BUF_SYNC_RW);
        throwsCode(() => start(1.5 as Fd), 'ERR_OUT_OF_RANGE');
        throwsCode(() => start('3' as unknown as Fd), 'ERR_INVALID_ARG_TYPE');
        throwsCode(() => (start as unknown as () => void)(), 'ERR_INVALID_ARG_TYPE');
        throwsErrno(() => start(0x7ffffff0), 'EBADF', { syscall: 'ioctl(DMA_BUF_IOCTL_SYNC)' });
        start(b.fd);
        end(b.fd);
      }
      if (p.name === 'udmabuf') {
        using fresh = p.make(PAGE());
        throwsErrno(() => backend().dmabufSyncer(C.DMA_BUF_SYNC_END | C.DMA_BUF_SYNC_READ)(fresh.fd), 'EINVAL');
      }
    });

    it('D48: SYNC START/END pairs for read, write and readwrite succeed', function () {
      using b = p.make(PAGE());
      for (const mode of ['read', 'write', 'readwrite'] as const) {
        b.beginAccess(mode);
        assert.equal(b.openAccesses.get(mode), 1);
        b.endAccess(mode);
        assert.equal(b.openAccesses.size, 0);
      }
      // the library refuses END without START for every exporter (udmabuf's kernel would say EINVAL)
      throwsCode(() => b.endAccess('read'), 'ERR_INVALID_STATE');
      if (p.name === 'udmabuf') {
        using fresh = p.make(PAGE());
        throwsErrno(() => backend().dmabufSync(fresh.fd, C.DMA_BUF_SYNC_END | C.DMA_BUF_SYNC_READ), 'EINVAL');
      }
    });

    it('D49: an idle buffer is ready for reading and writing', async function () {
      using b = p.make(PAGE());
      assert.equal(backend().poll(b.fd, C.POLLIN | C.POLLOUT, 0), C.POLLIN | C.POLLOUT);
      assert.equal(b.isIdle('read'), true);
      assert.equal(b.isIdle('write'), true);
      assert.equal(await b.idle('readwrite'), true);
      assert.equal(await b.idle('read', { timeout: 0 }), true);
    });

    it('D51: read() and write() → EINVAL; an unknown ioctl → ENOTTY', function () {
      using b = p.make(PAGE());
      throwsErrno(() => backend().read(b.fd, 16), 'EINVAL', { syscall: 'read' });
      throwsErrno(() => backend().write(b.fd, new Uint8Array(16)), 'EINVAL', { syscall: 'write' });
      throwsErrno(() => backend().heapAlloc(b.fd, PAGE(), C.O_RDWR | C.O_CLOEXEC, 0), 'ENOTTY');
    });

    it('names: set, rename, empty, too long (EINVAL from the kernel, RangeError from the API)', function () {
      using b = p.make(PAGE());
      assert.equal(b.info().name, null);
      b.setName('frame0');
      assert.equal(b.info().name, 'frame0');
      b.setName('x'.repeat(31));
      assert.equal(b.info().name, 'x'.repeat(31));
      b.setName('');
      assert.equal(b.info().name, '');
      throwsErrno(() => backend().dmabufSetName(b.fd, 'y'.repeat(32)), 'EINVAL', { syscall: 'ioctl(DMA_BUF_SET_NAME_B)' });
      throwsCode(() => b.setName('y'.repeat(32)), 'ERR_OUT_OF_RANGE', RangeError);
      throwsCode(() => b.setName('a\0b'), 'ERR_INVALID_ARG_VALUE', TypeError);
      if (isNative()) assert.equal(fs.readlinkSync(`/proc/self/fd/${b.fd}`), '/dmabuf:');
    });

    it('info() reports what parseFdinfo reads from the same fdinfo (a name, a dup)', function () {
      using b = p.make(2 * PAGE());
      b.setName('cam 0');
      using d = b.dup();
      for (const x of [b, d]) {
        const f = parseFdinfo(backend().readTextFile(`/proc/self/fdinfo/${x.fd}`));
        const flags = parseInt(f.get('flags')!, 8);
        const st = backend().fstat(x.fd);
        assert.deepEqual(x.info(), {
          size: Number(f.get('size')), exporter: f.get('exp_name'), name: f.get('name'), count: Number(f.get('count')),
          flags, inode: st.ino, readOnly: (flags & C.O_ACCMODE) === C.O_RDONLY,
        });
      }
      assert.equal(b.info().size, 2 * PAGE());
      assert.equal(d.info().name, 'cam 0');
      assert.equal(b.info().readOnly, false);
    });

    it('close() unmaps every mapping still live, whatever order the others were unmapped in', function () {
      const b = p.make(PAGE());
      const ms = [b.map(), b.map('read'), b.map(), b.map('read'), b.map()];
      const views = [ms[0]!.bytes, ms[2]!.bytes, ms[4]!.bytes];
      ms[1]!.unmap();
      ms[4]!.unmap();
      ms[0]!.unmap();
      ms[0]!.unmap();
      const left = [ms[2]!, ms[3]!];
      assert.deepEqual(left.map((m) => m.mapped), [true, true]);
      b.close();
      assert.deepEqual(ms.map((m) => m.mapped), [false, false, false, false, false]);
      assert.deepEqual(views.map((v) => v.length), [0, 0, 0], 'every view detached');
    });

    it('fdinfo count grows with dup and with mappings', function () {
      using b = p.make(PAGE());
      const c0 = b.info().count;
      using d = b.dup();
      assert.equal(b.info().count, c0 + 1);
      const m = b.map('read');
      assert.equal(b.info().count, c0 + 2);
      m.unmap();
      d.close();
      assert.equal(b.info().count, c0);
    });

    it('map() gives a zero-copy view: two mappings see each other', function () {
      using b = p.make(2 * PAGE());
      using a = b.map();
      using c = b.map('readwrite', { offset: PAGE(), length: PAGE() });
      a.bytes[PAGE() + 7] = 0xab;
      assert.equal(c.bytes[7], 0xab);
      assert.equal(c.offset, PAGE());
      assert.equal(c.length, PAGE());
      // a window shorter than the rest of the buffer, at an offset and at 0
      using w = b.map('readwrite', { offset: PAGE(), length: PAGE() / 2 });
      assert.equal(w.bytes.length, PAGE() / 2);
      assert.equal(w.bytes[7], 0xab);
      assert.equal(w.read(7, 1)[0], 0xab);
      using head = b.map('readwrite', { length: PAGE() });
      head.bytes[3] = 0xcd;
      assert.equal(a.bytes[3], 0xcd);
      throwsCode(() => w.read(0, PAGE()), 'ERR_OUT_OF_RANGE', RangeError);
      throwsCode(() => b.map('readwrite', { offset: 1 }), 'ERR_OUT_OF_RANGE', RangeError);
      throwsCode(() => b.map('readwrite', { length: 3 * PAGE() }), 'ERR_OUT_OF_RANGE', RangeError);
      throwsCode(() => b.map('rw' as 'read'), 'ERR_INVALID_ARG_VALUE', TypeError);
    });

    it('access(): END always happens — after fn returns, throws, or its promise settles', async function () {
      using b = p.make(PAGE());
      const r = b.access('write', (bytes) => {
        bytes[0] = 42;
        return 'done';
      });
      assert.equal(r, 'done');
      assert.throws(() => b.access('read', () => {
        throw new Error('boom');
      }), /boom/);
      assert.equal(b.openAccesses.size, 0);
      const v = await b.access('read', async (bytes) => {
        await new Promise((res) => setTimeout(res, 5));
        return bytes[0];
      });
      assert.equal(v, 42);
      await assert.rejects(b.access('read', async () => {
        throw new Error('late');
      }), /late/);
      assert.equal(b.openAccesses.size, 0);
      const w = await b.accessAsync('readwrite', (bytes) => bytes[0]);
      assert.equal(w, 42);
      assert.equal(b.openAccesses.size, 0);
    });

    it('sync files: an idle buffer exports a signalled sync file; importing one works', async function () {
      using b = p.make(PAGE());
      let sf: SyncFile;
      try {
        sf = b.exportSyncFile('read');
      } catch (e) {
        if ((e as { code?: string }).code === 'ENOTTY') this.skip(); // kernel < 6.0
        throw e;
      }
      using s = sf;
      assert.equal(s.signaled, true);
      assert.equal(s.info().status, 1);
      assert.equal(await s.wait({ timeout: 1000 }), true);
      b.importSyncFile(s, 'write');
      assert.equal(b.isIdle('write'), true);
      using w = b.exportSyncFile('readwrite');
      using merged = s.merge(w);
      assert.equal(merged.info().status, 1);
      throwsCode(() => b.importSyncFile(3 as unknown as SyncFile, 'read'), 'ERR_INVALID_ARG_TYPE', TypeError);
    });

    it('close(): ends open accesses, detaches views, is idempotent; later use is a coded error', async function () {
      const b = p.make(PAGE());
      const m = b.map();
      const view = m.bytes;
      b.beginAccess('read');
      b.close();
      assert.equal(view.length, 0, 'views detach on close');
      assert.equal(m.mapped, false);
      b.close();
      b[Symbol.dispose]();
      throwsCode(() => b.fd, 'ERR_DMABUF_CLOSED');
      throwsCode(() => b.map(), 'ERR_DMABUF_CLOSED');
      throwsCode(() => b.info(), 'ERR_DMABUF_CLOSED');
      throwsCode(() => b.setName('x'), 'ERR_DMABUF_CLOSED');
      await assert.rejects(b.idle(), { code: 'ERR_DMABUF_CLOSED' });
      throwsCode(() => m.bytes, 'ERR_INVALID_STATE');
    });

    it('fromFd adopts a dma-buf (dup by default) and refuses other fds', function () {
      using b = p.make(PAGE());
      using a = DmaBuf.fromFd(b.fd);
      assert.notEqual(a.fd, b.fd);
      assert.equal(a.inode, b.inode);
      assert.equal(a.size, PAGE());
      using m = udmabuf.memfd(PAGE());
      throwsCode(() => DmaBuf.fromFd(m.fd), 'ERR_INVALID_ARG_VALUE', TypeError);
      throwsCode(() => DmaBuf.fromFd(-1), 'ERR_OUT_OF_RANGE', RangeError);
      throwsErrno(() => DmaBuf.fromFd(0x7ffffff0), 'EBADF');
      const own = backend().dup(b.fd);
      using taken = DmaBuf.fromFd(own, { dup: false });
      assert.equal(taken.fd, own);
    });

    it('notices an fd closed behind its back and reused by another file (inode check)', function () {
      const b = p.make(PAGE());
      const fd = b.fd;
      backend().close(fd);
      // something else takes the number (the lowest free fd on Linux; any fd in the mock)
      using other = udmabuf.memfd(PAGE());
      const reused = other.fd === fd;
      throwsCode(() => b.info(), 'ERR_DMABUF_STALE_FD');
      assert.equal(b.closed, true);
      b.close(); // must not close the other file's fd
      if (reused) assert.equal(backend().fstat(other.fd).size, PAGE());
    });

    it('map() and setName() never touch a reused number: the check and the mmap are one call', function () {
      for (const op of ['map', 'setName'] as const) {
        const b = p.make(PAGE());
        backend().close(b.fd);
        using other = udmabuf.memfd(PAGE());
        throwsCode(() => (op === 'map' ? b.map() : b.setName('x')), 'ERR_DMABUF_STALE_FD');
        assert.equal(b.closed, true, op);
        assert.equal(backend().fstat(other.fd).size, PAGE(), `${op}: the other file is untouched and open`);
      }
    });

    it('setName() through a number now held by another dma-buf renames nothing (the check is in the same call)', function () {
      const b = p.make(PAGE());
      const fd = b.fd;
      backend().close(fd);
      using other = p.make(PAGE()); // a dma-buf, where the ioctl itself would succeed
      throwsCode(() => b.setName('not-mine'), 'ERR_DMABUF_STALE_FD');
      assert.equal(b.closed, true);
      if (other.fd === fd) assert.equal(other.info().name, null, 'the other buffer keeps no name');
      assert.equal(other.info().size, PAGE());
    });

    it('notices the reuse on the SYNC hot path too (the check runs when the ioctl fails)', function () {
      const b = p.make(PAGE());
      backend().close(b.fd);
      using other = udmabuf.memfd(PAGE());
      throwsCode(() => b.beginAccess('read'), 'ERR_DMABUF_STALE_FD');
      assert.equal(b.closed, true);
      assert.equal(b.openAccesses.size, 0);
      assert.equal(backend().fstat(other.fd).size, PAGE());
    });

    it('rejects bad arguments before any syscall', async function () {
      using b = p.make(PAGE());
      throwsCode(() => b.beginAccess('both' as 'read'), 'ERR_INVALID_ARG_VALUE', TypeError);
      throwsCode(() => b.beginAccess(1 as unknown as 'read'), 'ERR_INVALID_ARG_TYPE', TypeError);
      throwsCode(() => b.access('read', 'fn' as unknown as () => void), 'ERR_INVALID_ARG_TYPE', TypeError);
      throwsCode(() => b.setName(Symbol('x') as unknown as string), 'ERR_INVALID_ARG_TYPE', TypeError);
      await assert.rejects(b.idle('read', { timeout: -5 }), { code: 'ERR_OUT_OF_RANGE' });
      await assert.rejects(b.idle('nope' as 'read'), { code: 'ERR_INVALID_ARG_VALUE' });
      throwsCode(() => b.map('readwrite', 'x' as unknown as object), 'ERR_INVALID_ARG_TYPE', TypeError);
    });
  });
}

describe('dma-buf: a 64 MiB heap buffer written and read through one view', function () {
  it('round-trips a pattern', function () {
    needsHeap(this, 'system');
    using h = heaps.open('system');
    using b = h.allocate(64 * MiB);
    b.access('write', (bytes) => {
      const u32 = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
      for (let i = 0; i < u32.length; i += 1024) u32[i] = i;
    });
    b.access('read', (bytes) => {
      const u32 = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
      assert.equal(u32[1024 * 100], 1024 * 100);
    });
  });
});

void rejectsErrno;
