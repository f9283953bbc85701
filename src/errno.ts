/**
 * The errno table: every errno the library or the kernel model names, once, under its kernel name
 * (Linux x86-64 / asm-generic numbers, which arm64 shares). Code names errors by name
 * (`systemError('EBADF', ...)`), never by number; the native addon hands the kernel's number to
 * `systemError()`, which names it from this table.
 */

export const ERRNO = {
  EPERM: [1, 'operation not permitted'],
  ENOENT: [2, 'no such file or directory'],
  ESRCH: [3, 'no such process'],
  EINTR: [4, 'interrupted system call'],
  EIO: [5, 'i/o error'],
  ENXIO: [6, 'no such device or address'],
  E2BIG: [7, 'argument list too long'],
  EBADF: [9, 'bad file descriptor'],
  EAGAIN: [11, 'resource temporarily unavailable'],
  ENOMEM: [12, 'not enough memory'],
  EACCES: [13, 'permission denied'],
  EFAULT: [14, 'bad address in system call argument'],
  EBUSY: [16, 'resource busy or locked'],
  EEXIST: [17, 'file already exists'],
  ENODEV: [19, 'no such device'],
  ENOTDIR: [20, 'not a directory'],
  EISDIR: [21, 'illegal operation on a directory'],
  EINVAL: [22, 'invalid argument'],
  ENFILE: [23, 'file table overflow'],
  EMFILE: [24, 'too many open files'],
  ENOTTY: [25, 'inappropriate ioctl for device'],
  EFBIG: [27, 'file too large'],
  ENOSPC: [28, 'no space left on device'],
  ESPIPE: [29, 'invalid seek'],
  EROFS: [30, 'read-only file system'],
  EPIPE: [32, 'broken pipe'],
  ERANGE: [34, 'result too large'],
  ENAMETOOLONG: [36, 'name too long'],
  ENOSYS: [38, 'function not implemented'],
  ENODATA: [61, 'no data available'],
  ETIME: [62, 'timer expired'],
  EOVERFLOW: [75, 'value too large for defined data type'],
  EBADFD: [77, 'file descriptor in bad state'],
  ENOTSOCK: [88, 'socket operation on non-socket'],
  EOPNOTSUPP: [95, 'operation not supported on socket'],
  ECONNRESET: [104, 'connection reset by peer'],
  ENOBUFS: [105, 'no buffer space available'],
  ENOTCONN: [107, 'socket is not connected'],
  ETIMEDOUT: [110, 'connection timed out'],
  ECONNREFUSED: [111, 'connection refused'],
  ECANCELED: [125, 'operation canceled'],
} as const satisfies Record<string, readonly [number, string]>;

/** A kernel errno name this library knows, e.g. 'EINVAL'. */
export type ErrnoName = keyof typeof ERRNO;

const BY_NUMBER: ReadonlyMap<number, ErrnoName> = new Map(
  (Object.keys(ERRNO) as ErrnoName[]).map((name) => [ERRNO[name][0], name]),
);

/** The table's name for an errno number, or undefined. */
export function errnoNameOf(errno: number): ErrnoName | undefined {
  return BY_NUMBER.get(errno);
}

/** True when code is a name in the table. */
export function isErrnoName(code: string): code is ErrnoName {
  return Object.hasOwn(ERRNO, code);
}
