/**
 * udmabuf contract tests (docs/conformance.md section A, plus the library's own behaviour).
 * Run on the mock (host) and on the kernel (VM): same results, same errno.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { spawn } from 'node:child_process';
import { udmabuf, heaps, constants as C } from '../src/index';
import { backend, isNative, kernelVersion, MiB, needsUdmabuf, PAGE, throwsCode, throwsErrno } from './support/index';

describe('udmabuf', function () {
  beforeEach(function () {
    needsUdmabuf(this);
  });

  describe('argument validation by the kernel (conformance A)', function () {
    it('A1: offset not page aligned → EINVAL', function () {
      using m = udmabuf.memfd(2 * PAGE());
      throwsErrno(() => udmabuf.create({ memfd: m, offset: PAGE() / 2, size: PAGE() }), 'EINVAL',
        { syscall: 'ioctl(UDMABUF_CREATE)', path: '/dev/udmabuf' });
    });

    it('A2: size not page aligned → EINVAL', function () {
      using m = udmabuf.memfd(PAGE());
      throwsErrno(() => udmabuf.create({ memfd: m, offset: 0, size: PAGE() / 2 }), 'EINVAL');
    });

    it('A3: a memfd argument that is not a memfd, or is closed → EBADFD (77)', function () {
      const h = heaps.list().length > 0 ? heaps.open(heaps.list()[0]!.name) : undefined;
      const dev = backend().open('/dev/udmabuf', C.O_RDONLY);
      try {
        // another kind of file (the udmabuf device itself)
        const e = throwsErrno(() => udmabuf.create({ memfd: dev, offset: 0, size: PAGE() }), 'EBADFD');
        assert.equal((e as { errno?: number }).errno, 77);
      } finally {
        backend().close(dev);
        h?.close();
      }
      const m = udmabuf.memfd(PAGE());
      const stale = m.fd;
      m.close();
      throwsErrno(() => udmabuf.create({ memfd: stale, offset: 0, size: PAGE() }), 'EBADFD');
    });

    it('A3 (real fds): fd 0, a pipe, a regular file and a socket → EBADFD', async function () {
      if (!isNative()) this.skip(); // the mock has no pipes, sockets or host files
      const child = spawn('sleep', ['30'], { stdio: ['ignore', 'pipe', 'ignore'] });
      const server = net.createServer();
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const file = fs.openSync('/proc/self/status', 'r');
      try {
        const pipeFd = (child.stdout as unknown as { _handle: { fd: number } })._handle.fd;
        const sockFd = (server as unknown as { _handle: { fd: number } })._handle.fd;
        for (const fd of [0, pipeFd, file, sockFd]) {
          assert.ok(fd >= 0);
          throwsErrno(() => udmabuf.create({ memfd: fd, offset: 0, size: PAGE() }), 'EBADFD');
        }
      } finally {
        fs.closeSync(file);
        child.kill();
        server.close();
      }
    });

    it('A4: a memfd created without MFD_ALLOW_SEALING → EINVAL', function () {
      using m = udmabuf.memfd(PAGE(), { sealing: false });
      throwsErrno(() => udmabuf.create({ memfd: m, offset: 0, size: PAGE() }), 'EINVAL');
    });

    it('A5: a sealable memfd without F_SEAL_SHRINK → EINVAL', function () {
      using m = udmabuf.memfd(PAGE(), { seals: 0 });
      throwsErrno(() => udmabuf.create({ memfd: m, offset: 0, size: PAGE() }), 'EINVAL');
    });

    it('A6: F_SEAL_SHRINK|F_SEAL_WRITE → EINVAL', function () {
      using m = udmabuf.memfd(PAGE(), { seals: C.F_SEAL_SHRINK | C.F_SEAL_WRITE });
      throwsErrno(() => udmabuf.create({ memfd: m, offset: 0, size: PAGE() }), 'EINVAL');
    });

    it('A7: F_SEAL_SHRINK|F_SEAL_FUTURE_WRITE → EINVAL on fixed kernels, success before', function () {
      using m = udmabuf.memfd(PAGE(), { seals: C.F_SEAL_SHRINK | C.F_SEAL_FUTURE_WRITE });
      let result: string;
      try {
        udmabuf.create({ memfd: m, offset: 0, size: PAGE() }).close();
        result = 'ok';
      } catch (e) {
        result = (e as { code?: string }).code ?? String(e);
      }
      assert.ok(result === 'ok' || result === 'EINVAL', `got ${result}`);
    });

    it('A8: F_SEAL_SHRINK|F_SEAL_GROW succeeds', function () {
      using m = udmabuf.memfd(PAGE(), { seals: C.F_SEAL_SHRINK | C.F_SEAL_GROW });
      using b = udmabuf.create({ memfd: m, offset: 0, size: PAGE() });
      assert.equal(b.size, PAGE());
    });

    it('A9: size 0 and an empty list → EINVAL', function () {
      using m = udmabuf.memfd(PAGE());
      throwsErrno(() => udmabuf.create({ memfd: m, offset: 0, size: 0 }), 'EINVAL');
      throwsErrno(() => udmabuf.create(0), 'EINVAL');
      throwsErrno(() => udmabuf.createList([]), 'EINVAL', { syscall: 'ioctl(UDMABUF_CREATE_LIST)' });
    });

    it('A10: offset+size beyond the memfd → EINVAL', function () {
      using m = udmabuf.memfd(2 * PAGE());
      throwsErrno(() => udmabuf.create({ memfd: m, offset: PAGE(), size: 2 * PAGE() }), 'EINVAL');
      throwsErrno(() => udmabuf.create({ memfd: m, offset: 0, size: 4 * PAGE() }), 'EINVAL');
    });

    it('A11: more than size_limit_mb → EINVAL, and the error names the limit', function () {
      const limit = udmabuf.limits().sizeLimit;
      assert.ok(limit !== undefined && limit > 0, 'size_limit_mb is readable');
      const e = throwsErrno(() => udmabuf.create(limit + PAGE()), 'EINVAL') as Error & { hint?: string };
      assert.match(e.hint ?? '', /size_limit_mb/);
    });

    it('A12: more than list_limit entries → EINVAL, and the error names the limit', function () {
      const max = udmabuf.limits().listLimit;
      assert.ok(max !== undefined && max > 0, 'list_limit is readable');
      using m = udmabuf.memfd((max + 1) * PAGE());
      const items = Array.from({ length: max + 1 }, (_, i) => ({ memfd: m, offset: i * PAGE(), size: PAGE() }));
      const e = throwsErrno(() => udmabuf.createList(items), 'EINVAL') as Error & { hint?: string };
      assert.match(e.hint ?? '', /list_limit/);
      // exactly the limit is fine
      using ok = udmabuf.createList(items.slice(0, max));
      assert.equal(ok.size, max * PAGE());
    });

    it('A13: a tmpfs file that is not a memfd → EINVAL', function () {
      if (!isNative()) this.skip(); // needs a real tmpfs
      const dir = tmpfsDir();
      if (!dir) this.skip();
      const file = `${dir}/dmabuf-udmabuf-test-${process.pid}`;
      const fd = fs.openSync(file, 'w+');
      try {
        fs.ftruncateSync(fd, PAGE());
        let code: string | undefined;
        try {
          udmabuf.create({ memfd: fd, offset: 0, size: PAGE() }).close();
        } catch (e) {
          code = (e as { code?: string }).code;
        }
        assert.equal(code, 'EINVAL');
      } finally {
        fs.closeSync(fd);
        fs.unlinkSync(file);
      }
    });

    it('A14: an ioctl /dev/udmabuf does not know → ENOTTY', function () {
      const dev = backend().open('/dev/udmabuf', C.O_RDONLY);
      try {
        throwsErrno(() => backend().heapAlloc(dev, PAGE(), C.O_RDWR | C.O_CLOEXEC, 0), 'ENOTTY');
      } finally {
        backend().close(dev);
      }
    });

    it('A15: unknown flag bits are ignored by mainline (or EINVAL where a kernel checks them)', function () {
      let result: string;
      try {
        udmabuf.create(PAGE(), { flags: 0x2 }).close();
        result = 'ok';
      } catch (e) {
        result = (e as { code?: string }).code ?? String(e);
      }
      assert.ok(result === 'ok' || result === 'EINVAL', `got ${result}`);
    });

    it('A16: /dev/udmabuf opened read-only is enough', function () {
      const dev = backend().open('/dev/udmabuf', C.O_RDONLY);
      using m = udmabuf.memfd(PAGE());
      try {
        const fd = backend().udmabufCreate(dev, m.fd, 0, PAGE(), C.UDMABUF_FLAGS_CLOEXEC);
        assert.ok(fd >= 0);
        backend().close(fd);
      } finally {
        backend().close(dev);
      }
    });
  });

  describe('the library', function () {
    it('rounds create(size) up to whole pages and reports the exporter', function () {
      using b = udmabuf.create(1000);
      assert.equal(b.size, PAGE());
      const info = b.info();
      assert.equal(info.exporter, 'udmabuf');
      assert.equal(info.size, PAGE());
      assert.equal(info.name, null);
      assert.equal(info.readOnly, false);
      assert.ok((info.flags & C.O_CLOEXEC) !== 0, 'CLOEXEC');
    });

    it('names the buffer when asked', function () {
      using b = udmabuf.create(PAGE(), { name: 'frame' });
      assert.equal(b.info().name, 'frame');
    });

    it('shares pages with the memfd both ways', function () {
      using m = udmabuf.memfd(2 * PAGE());
      using b = udmabuf.create({ memfd: m, offset: PAGE(), size: PAGE() });
      m.write(Buffer.from('from memfd'), PAGE());
      using map = b.map();
      b.access('readwrite', (bytes) => {
        assert.equal(Buffer.from(bytes.subarray(0, 10)).toString(), 'from memfd');
        bytes.set(Buffer.from('from dmabuf'), 100);
      });
      assert.equal(Buffer.from(m.read(PAGE() + 100, 11)).toString(), 'from dmabuf');
      assert.equal(map.bytes[0], 'f'.charCodeAt(0));
    });

    it('keeps the pages after the memfd is closed', function () {
      const m = udmabuf.memfd(PAGE());
      m.write(Buffer.from('persist'), 0);
      using b = udmabuf.create({ memfd: m, offset: 0, size: PAGE() });
      m.close();
      assert.equal(b.map('read').read(0, 7).toString(), 'persist');
    });

    it('createList joins ranges of several memfds in order', function () {
      using a = udmabuf.memfd(PAGE());
      using c = udmabuf.memfd(2 * PAGE());
      a.write(Buffer.from('AAAA'), 0);
      c.write(Buffer.from('CCCC'), PAGE());
      using b = udmabuf.createList([{ memfd: a, offset: 0, size: PAGE() }, { memfd: c, offset: PAGE(), size: PAGE() }], { name: 'list' });
      assert.equal(b.size, 2 * PAGE());
      const r = b.map('read');
      assert.equal(r.read(0, 4).toString(), 'AAAA');
      assert.equal(r.read(PAGE(), 4).toString(), 'CCCC');
      assert.equal(b.info().name, 'list');
    });

    it('creates a 16 MiB buffer and writes every page', function () {
      using b = udmabuf.create(16 * MiB);
      b.access('write', (bytes) => {
        for (let i = 0; i < bytes.length; i += PAGE()) bytes[i] = (i / PAGE()) & 0xff;
      });
      const r = b.map('read');
      assert.equal(r.read(5 * PAGE(), 1)[0], 5);
      assert.equal(r.read(300 * PAGE(), 1)[0], 300 & 0xff);
    });

    it('rejects bad arguments before any syscall', function () {
      throwsCode(() => udmabuf.create(-1), 'ERR_OUT_OF_RANGE', RangeError);
      throwsCode(() => udmabuf.create(1.5), 'ERR_OUT_OF_RANGE', RangeError);
      throwsCode(() => udmabuf.create(NaN), 'ERR_OUT_OF_RANGE', RangeError);
      throwsCode(() => udmabuf.create('4096' as unknown as number), 'ERR_INVALID_ARG_TYPE', TypeError);
      throwsCode(() => udmabuf.create(PAGE(), { name: 7 as unknown as string }), 'ERR_INVALID_ARG_TYPE', TypeError);
      throwsCode(() => udmabuf.createList('x' as unknown as []), 'ERR_INVALID_ARG_TYPE', TypeError);
      throwsCode(() => udmabuf.createList([{ memfd: -1, offset: 0, size: PAGE() }]), 'ERR_OUT_OF_RANGE', RangeError);
      throwsCode(() => udmabuf.create({ memfd: 3, offset: 0, size: 2 ** 53 }), 'ERR_OUT_OF_RANGE', RangeError);
      throwsCode(() => udmabuf.create(PAGE(), { name: 'x'.repeat(32) }), 'ERR_OUT_OF_RANGE', RangeError);
    });

    it('reports its limits (64 MiB and 1024 entries by default)', function () {
      const l = udmabuf.limits();
      assert.equal(typeof l.sizeLimit, 'number');
      assert.equal(typeof l.listLimit, 'number');
      if (kernelVersion() > 0) assert.ok(l.sizeLimit! >= MiB);
    });
  });
});

function tmpfsDir(): string | undefined {
  try {
    const mounts = fs.readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' '));
    for (const dir of ['/dev/shm', '/tmp']) {
      const m = mounts.find((x) => x[1] === dir);
      if (m && m[2] === 'tmpfs') {
        fs.accessSync(dir, fs.constants.W_OK);
        return dir;
      }
    }
  } catch {
    /* none */
  }
  return undefined;
}
