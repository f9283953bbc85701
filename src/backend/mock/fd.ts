/**
 * Plain file syscalls, poll and fd passing of the mock kernel (native/fd.cc): open/close/dup/stat/
 * lseek/read/write/readdir/readlink/access over the Machine's file system, poll(2) readiness per kind
 * of file, and no sockets. Arguments were checked by the spec (../args.ts) before these run.
 */
import * as path from 'path';
import {
  DEFAULT_POLLMASK, F_SEAL_FUTURE_WRITE, F_SEAL_GROW, F_SEAL_SEAL, F_SEAL_WRITE, O_ACCMODE, O_CREAT, O_DIRECTORY,
  O_EXCL, O_NONBLOCK, O_RDONLY, O_TRUNC, POLLIN, POLLNVAL, POLLOUT, S_IFCHR, S_IFDIR, S_IFREG, SEEK_CUR, SEEK_DATA,
  SEEK_END, SEEK_HOLE, SEEK_SET,
} from '../../constants';
import type { ErrnoName } from '../../errno';
import { systemError, unsupportedError } from '../../errors';
import type { Fd, FdPassingOps, FileOps, PollOps, StatInfo } from '../types';
import { ERRNO } from '../../errno';
import { devOf, gid, idWords, type Machine, type OpenFile, procFd, readable, type ShmInode, uid, wouldBlock, writable } from './kernel';
import { Extents } from './pages';
import { videoRevents } from './v4l2';

const EBADF = ERRNO.EBADF[0];

/** A path as the model looks it up: normalized, without a trailing slash. */
function normal(p: string): string {
  if (!p.startsWith('/')) return p; // relative paths lead nowhere in the model
  const n = path.posix.normalize(p);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

/** open(2) of a path: the open file description (refs 0). */
function openFile(m: Machine, p: string, flags: number): OpenFile {
  let node = m.lookup(p);
  if (node === undefined && (flags & O_CREAT) && path.posix.dirname(p) === '/dev/shm') {
    const shm: ShmInode = { ino: m.ino(), mem: new Extents(), writableMaps: 0, seals: F_SEAL_SEAL,
      name: path.posix.basename(p), memfd: false };
    m.shm.set(p, shm);
    node = m.lookup(p);
  } else if (node !== undefined && (flags & O_CREAT) && (flags & O_EXCL)) {
    throw systemError('EEXIST', 'open', p);
  }
  if (node === undefined) throw systemError('ENOENT', 'open', p);
  if (node.type === 'dir') {
    if ((flags & O_ACCMODE) !== O_RDONLY) throw systemError('EISDIR', 'open', p);
    return m.file(p, flags, { kind: 'dir' });
  }
  if (flags & O_DIRECTORY) throw systemError('ENOTDIR', 'open', p);
  if (node.type === 'lnk') {
    const target = m.fds.get(procFd(p));
    if (target?.kind !== 'memfd') throw systemError('ENXIO', 'open', p);
    return m.file(p, flags, { kind: 'memfd', node: target.node }, target.node.ino);
  }
  const f = node.open!(flags);
  if (f.kind === 'memfd' && (flags & O_TRUNC) && writable(f)) f.node.mem.resize(0);
  return f;
}

function statOf(m: Machine, f: OpenFile): StatInfo {
  const node = m.nodes.get(f.path);
  const base = { ino: f.ino, dev: devOf(f), rdev: 0n, size: 0, uid: uid(), gid: gid() };
  switch (f.kind) {
    case 'dmabuf': return { ...base, mode: 0o600, size: f.bo.pages.size }; // anon inode, i_size = size
    case 'memfd': return { ...base, mode: S_IFREG | (f.node.memfd ? 0o777 : 0o644), size: f.node.mem.size };
    case 'syncfile': return { ...base, mode: 0o600 };
    case 'dir': return { ...base, mode: S_IFDIR | 0o755, uid: 0, gid: 0 };
    case 'file': return { ...base, mode: S_IFREG | 0o444, size: 4096, uid: 0, gid: 0 };
    case 'sw_sync': return { ...base, mode: S_IFREG | 0o600, uid: 0, gid: 0 };
    default: return { ...base, rdev: node?.rdev ?? 0n, mode: S_IFCHR | (node?.perm ?? 0o600), uid: 0, gid: 0 };
  }
}

/** fdCheck's answer for fd against identity words: 0 the same file, -1 another, EBADF's errno when free. */
export function checkId(m: Machine, fd: Fd, dev: number, inoHi: number, inoLo: number): number {
  const f = m.fds.get(fd);
  if (f === undefined) return EBADF;
  const [d, hi, lo] = idWords(f);
  return d === dev && hi === inoHi && lo === inoLo ? 0 : -1;
}

/** read(2)/pread(2) of one open file; position null = at and advancing f.pos. */
function readFile(f: OpenFile, length: number, position: number | null, syscall: string, p?: string): Uint8Array {
  if (!readable(f)) throw systemError('EBADF', syscall, p);
  const from = position ?? f.pos;
  let out: Uint8Array;
  switch (f.kind) {
    case 'memfd':
      out = new Uint8Array(Math.max(0, Math.min(length, f.node.mem.size - from)));
      f.node.mem.read(from, out);
      break;
    case 'file':
      out = Buffer.from(f.text).subarray(from, from + length);
      break;
    case 'dir': throw systemError('EISDIR', syscall, p);
    case 'drm': throw (f.flags & O_NONBLOCK) ? systemError('EAGAIN', syscall, p) : wouldBlock('read() of a DRM event queue');
    default: throw systemError('EINVAL', syscall, p); // no read op: dma-buf, sync_file, device nodes
  }
  if (position === null) f.pos += out.length;
  return new Uint8Array(out);
}

/** A whole small text file, as readTextFile() reads it. */
function readText(m: Machine, p: string): string {
  const s = normal(p);
  const f = openFile(m, s, O_RDONLY);
  f.refs++;
  try {
    return Buffer.from(readFile(f, 1 << 20, 0, 'read', s)).toString('utf8');
  } finally {
    m.unref(f);
  }
}

export function fileOps(m: Machine): FileOps {
  return {
    open: (p, flags) => m.install(openFile(m, normal(p), flags), true, 'open'),

    close: (fd) => m.close(fd),

    dup: (fd) => m.install(m.get(fd, 'dup'), true, 'dup'),

    fstat: (fd) => statOf(m, m.get(fd, 'fstat')),
    fdCheck: (fd, dev, inoHi, inoLo) => checkId(m, fd, dev, inoHi, inoLo),
    closeChecked(fd, dev, inoHi, inoLo) {
      const r = checkId(m, fd, dev, inoHi, inoLo);
      if (r === 0) m.close(fd);
      return r;
    },
    fdinfoChecked: (fd, dev, inoHi, inoLo) =>
      (checkId(m, fd, dev, inoHi, inoLo) === 0 ? readText(m, `/proc/self/fdinfo/${fd}`) : null),

    stat(p) {
      const s = normal(p);
      const node = m.lookup(s);
      if (node === undefined) throw systemError('ENOENT', 'stat', s);
      if (node.type === 'lnk') return statOf(m, m.fds.get(procFd(s))!);
      const type = { chr: S_IFCHR, reg: S_IFREG, dir: S_IFDIR, lnk: S_IFREG }[node.type];
      const shm = m.shm.get(s);
      return { ino: node.ino, dev: shm ? 1n : 5n, rdev: node.rdev, mode: type | node.perm,
        size: shm ? shm.mem.size : node.size, uid: shm ? uid() : 0, gid: shm ? gid() : 0 };
    },

    lseek(fd, offset, whence) {
      const f = m.get(fd, 'lseek');
      const bad = (e: ErrnoName = 'EINVAL'): Error => systemError(e, 'lseek');
      if (f.kind === 'dmabuf') { // dma_buf_llseek
        if (offset !== 0) throw bad();
        if (whence === SEEK_END) return f.bo.pages.size;
        if (whence === SEEK_SET) return 0;
        throw bad();
      }
      if (f.kind === 'drm') return f.pos; // noop_llseek
      if (f.kind !== 'memfd' && f.kind !== 'file' && f.kind !== 'dir') throw bad('ESPIPE');
      const size = f.kind === 'memfd' ? f.node.mem.size : f.kind === 'file' ? Buffer.byteLength(f.text) : 0;
      let pos: number;
      switch (whence) {
        case SEEK_SET: pos = offset; break;
        case SEEK_CUR: pos = f.pos + offset; break;
        case SEEK_END: pos = size + offset; break;
        case SEEK_DATA: case SEEK_HOLE:
          if (offset < 0 || offset >= size) throw bad('ENXIO');
          pos = whence === SEEK_DATA ? offset : size;
          break;
        default: throw bad();
      }
      if (pos < 0) throw bad();
      f.pos = pos;
      return pos;
    },

    getFlags: (fd) => m.get(fd, 'fcntl(F_GETFL)').flags,

    read: (fd, length) => readFile(m.get(fd, 'read'), length, null, 'read'),

    pread: (fd, length, position) => readFile(m.get(fd, 'pread'), length, position, 'pread'),

    write(fd, data, position) {
      const f = m.get(fd, 'write');
      if (!writable(f)) throw systemError('EBADF', 'write');
      if (f.kind !== 'memfd') throw systemError(f.kind === 'dir' ? 'EISDIR' : 'EINVAL', 'write');
      const node = f.node;
      if (node.seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)) throw systemError('EPERM', 'write');
      const at = position ?? f.pos;
      const end = at + data.length;
      if (end > node.mem.size) {
        if (node.seals & F_SEAL_GROW) throw systemError('EPERM', 'write');
        node.mem.resize(end);
      }
      node.mem.write(at, data);
      if (position === undefined) f.pos = end;
      return data.length;
    },

    readTextFile: (p) => readText(m, p),

    readdir(p) {
      const s = normal(p);
      const node = m.lookup(s);
      if (node === undefined) throw systemError('ENOENT', 'opendir', s);
      if (node.type !== 'dir') throw systemError('ENOTDIR', 'opendir', s);
      return m.readdir(s);
    },

    readlink(p) {
      const s = normal(p);
      const node = m.lookup(s);
      if (node === undefined) throw systemError('ENOENT', 'readlink', s);
      if (node.type !== 'lnk') throw systemError('EINVAL', 'readlink', s);
      return m.linkTarget(m.fds.get(procFd(s))!);
    },

    access: (p) => m.lookup(normal(p)) !== undefined, // permissions are not modelled
  };
}

// ---- poll ----------------------------------------------------------------------------------------------

/** f_op->poll of each kind of file; POLLNVAL for an fd that is not open. */
function revents(m: Machine, f: OpenFile | undefined, events: number): number {
  if (f === undefined) return POLLNVAL;
  switch (f.kind) {
    case 'dmabuf': { // dma_buf_poll
      let r = 0;
      if ((events & POLLIN) && f.bo.resv.pending(false).length === 0) r |= POLLIN;
      if ((events & POLLOUT) && f.bo.resv.pending(true).length === 0) r |= POLLOUT;
      return r;
    }
    case 'syncfile': return f.sync.signaled ? events & POLLIN : 0;
    case 'drm': return m.kms.hasEvents(f) ? events & POLLIN : 0; // the event queue (flip-complete events)
    case 'video': return videoRevents(f, events); // vb2_fop_poll and the v4l2_fh's events
    default: return DEFAULT_POLLMASK & events;
  }
}

export function pollOps(m: Machine): PollOps {
  return {
    poll(fd, events, timeoutMs) {
      const r = revents(m, m.fds.get(fd), events);
      if (r !== 0 || timeoutMs >= 0) return r; // a finite wait returns 0 at once: nothing can signal meanwhile
      throw wouldBlock('poll() with no timeout on an fd that is not ready');
    },

    pollAsync(fd, events, timeoutMs) {
      const f = m.fds.get(fd);
      if (f === undefined) return Promise.resolve(POLLNVAL);
      f.refs++; // the async twin works on its own reference, like a dup
      const ready = (): number => revents(m, f, events);
      return m.hub.waitUntil(() => ready() !== 0, timeoutMs < 0 ? -1 : timeoutMs).then(ready).finally(() => m.unref(f));
    },
  };
}

// ---- fd passing -----------------------------------------------------------------------------------------

const noSockets = (): never => {
  throw unsupportedError('the mock backend has no sockets: passing fds (SCM_RIGHTS) needs the native backend');
};

export function fdPassingOps(): FdPassingOps {
  return { sendFds: noSockets, recvFds: noSockets };
}
