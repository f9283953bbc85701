/**
 * Backend contract, files and fds: open, close, dup, fstat, stat, lseek, read, write, pread, procfs
 * text, readdir, readlink, access. Direct Backend calls on the backend the runner chose
 * (test/support/backend.ts); nothing here needs a device but the DRM node numbers, so it all runs on
 * the host on both backends.
 */
import assert from 'node:assert/strict';
import { O_RDONLY, O_RDWR, SEEK_END, SEEK_SET } from '../src/constants';
import { drmDevices, needsDriver, throwsErrno } from './support/index';
import { useBackend } from './support/backend';

const MISSING = '/nonexistent/dmabuf-test';
const S_IFMT = 0o170000, S_IFCHR = 0o020000, S_IFREG = 0o100000;

describe('backend: files and fds', function () {
  const t = useBackend();

  it('open/close; a second close is EBADF, as are fstat and dup of the closed fd; open adds O_CLOEXEC', function () {
    const { b } = t;
    const mfd = t.memfd(4096);
    // the memfd reopened through /proc: a read-write file both backends have
    const fd = b.open(`/proc/self/fd/${mfd}`, O_RDWR);
    assert.ok(Number.isInteger(fd) && fd >= 0);
    assert.ok(t.isCloexec(fd), 'O_CLOEXEC');
    assert.equal(b.getFlags(fd) & 3, O_RDWR);
    b.close(fd);
    throwsErrno(() => b.close(fd), 'EBADF', { syscall: 'close' });
    throwsErrno(() => b.fstat(fd), 'EBADF', { syscall: 'fstat' });
    throwsErrno(() => b.dup(fd), 'EBADF', { syscall: 'dup' });
  });

  it('lastId holds the identity of the fd handed out last; fdCheck and closeChecked compare it', function () {
    const { b } = t;
    const a = t.memfd(4096);
    const idA = [...b.lastId];
    const st = b.fstat(a);
    // the words are st_dev (32 bits on Linux) and st_ino's halves, as fstat gives them
    assert.deepEqual(idA, [Number(st.dev & 0xffffffffn), Number(st.ino >> 32n), Number(st.ino & 0xffffffffn)]);
    const c = t.memfd(4096);
    const idC = [...b.lastId];
    assert.notDeepEqual(idC, idA, 'another memfd, another inode');
    const [dev, hi, lo] = idA as [number, number, number];
    assert.equal(b.fdCheck(a, dev, hi, lo), 0, 'the same file');
    assert.equal(b.fdCheck(c, dev, hi, lo), -1, 'another file');
    assert.equal(b.closeChecked(c, dev, hi, lo), -1, 'another file is not closed');
    assert.equal(b.fdCheck(c, idC[0]!, idC[1]!, idC[2]!), 0, 'and is still open');
    // a dup names the same file
    const d = t.keep(b.dup(a));
    assert.deepEqual([...b.lastId], idA);
    assert.equal(b.closeChecked(d, dev, hi, lo), 0, 'closed');
    assert.equal(b.fdCheck(d, dev, hi, lo), 9, 'EBADF: the number is free');
    assert.equal(b.closeChecked(d, dev, hi, lo), 9, 'nothing to close');
    throwsErrno(() => b.fstat(d), 'EBADF', { syscall: 'fstat' });
  });

  it('a missing path is ENOENT with the path, from every call that takes one', function () {
    const { b } = t;
    throwsErrno(() => b.open(MISSING, O_RDONLY), 'ENOENT', { syscall: 'open', path: MISSING });
    throwsErrno(() => b.stat(MISSING), 'ENOENT', { syscall: 'stat', path: MISSING });
    throwsErrno(() => b.readdir(MISSING), 'ENOENT', { syscall: 'opendir', path: MISSING });
    throwsErrno(() => b.readlink(MISSING), 'ENOENT', { syscall: 'readlink', path: MISSING });
    throwsErrno(() => b.readTextFile(MISSING), 'ENOENT', { syscall: 'open', path: MISSING });
    assert.equal(b.access(MISSING, 0), false);
  });

  it('dup gives a new close-on-exec fd for the same file (same st_ino)', function () {
    const { b } = t;
    const fd = t.memfd(4096);
    const d = t.keep(b.dup(fd));
    assert.notEqual(d, fd);
    assert.equal(b.fstat(d).ino, b.fstat(fd).ino);
    assert.ok(t.isCloexec(d));
    throwsErrno(() => b.dup(99999), 'EBADF', { syscall: 'dup' });
  });

  it('fstat/stat return the contract fields (ino/dev/rdev as bigint)', function () {
    const { b } = t;
    const st = b.stat('/proc/version');
    assert.equal(typeof st.ino, 'bigint');
    assert.equal(typeof st.dev, 'bigint');
    assert.equal(typeof st.rdev, 'bigint');
    assert.equal(st.mode & S_IFMT, S_IFREG, 'a regular file');
    const fd = t.memfd(12345);
    const f = b.fstat(fd);
    assert.equal(f.size, 12345);
    assert.equal(typeof f.uid, 'number');
    assert.equal(typeof f.gid, 'number');
    throwsErrno(() => b.fstat(99999), 'EBADF', { syscall: 'fstat' });
  });

  it('DRM nodes are character devices with major 226: cardN is minor N, renderDN minor N', function () {
    needsDriver(this, 'vgem');
    for (const d of drmDevices()) {
      const st = t.b.stat(d.path);
      const minor = Number(d.path.replace(/^\/dev\/dri\/(card|renderD)/, ''));
      assert.equal(st.mode & S_IFMT, S_IFCHR, `${d.path} is a character device`);
      // glibc's makedev(226, minor) for minors below 256
      assert.equal(st.rdev, BigInt((226 << 8) | minor), `${d.path} is 226:${minor}`);
    }
  });

  it('read/write/pread/lseek', function () {
    const { b } = t;
    const fd = t.memfd(0);
    assert.equal(b.write(fd, new Uint8Array([1, 2, 3, 4])), 4);
    assert.equal(b.write(fd, new Uint8Array([9]), 10), 1);
    assert.equal(b.lseek(fd, 0, SEEK_END), 11);
    assert.equal(b.lseek(fd, 0, SEEK_SET), 0);
    assert.deepEqual([...b.read(fd, 3)], [1, 2, 3]);
    assert.deepEqual([...b.pread(fd, 100, 8)], [0, 0, 9], 'short read at EOF');
    assert.equal(b.read(fd, 0).length, 0);
    throwsErrno(() => b.lseek(fd, -1, SEEK_SET), 'EINVAL', { syscall: 'lseek' });
    throwsErrno(() => b.read(99999, 1), 'EBADF', { syscall: 'read' });
    throwsErrno(() => b.write(99999, new Uint8Array(1)), 'EBADF', { syscall: 'write' });
    throwsErrno(() => b.pread(99999, 1, 0), 'EBADF', { syscall: 'pread' });
    throwsErrno(() => b.getFlags(99999), 'EBADF', { syscall: 'fcntl(F_GETFL)' });
  });

  it('readTextFile reads procfs files (size 0) to the end', function () {
    const { b } = t;
    const fd = t.memfd(4096);
    const text = b.readTextFile(`/proc/self/fdinfo/${fd}`);
    assert.match(text, /^pos:\s+0$/m);
    assert.match(text, /^flags:\s+[0-7]+$/m);
    const rel = b.readTextFile('/proc/sys/kernel/osrelease');
    assert.match(rel, /^\d+\.\d+\S*\n$/, 'the release, read to EOF');
  });

  it('readdir is sorted, without . and .., and lists the open fds; ENOTDIR; readlink; access', function () {
    const { b } = t;
    const fd = t.memfd(4096);
    t.memfd(4096);
    t.memfd(4096);
    const list = b.readdir('/proc/self/fd');
    assert.ok(!list.includes('.') && !list.includes('..'));
    assert.deepEqual(list, [...list].sort());
    assert.ok(list.includes(String(fd)), 'the memfd is listed');
    assert.ok(b.readdir('/proc/self/fdinfo').includes(String(fd)));
    throwsErrno(() => b.readdir('/proc/version'), 'ENOTDIR', { syscall: 'opendir', path: '/proc/version' });
    assert.equal(b.readlink(`/proc/self/fd/${fd}`), '/memfd:dmabuf-test (deleted)');
    assert.equal(b.access('/proc/version', 4), true);
  });
});
