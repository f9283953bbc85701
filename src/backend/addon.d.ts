/**
 * Private typing of the raw native addon (build/Release/dmabuf.node), node-pty style: what the C++
 * exports, nothing more. Only src/backend/native.ts uses it; the public types come from types.ts.
 *
 * Every function throws the Error built by the registered error factory when its syscall fails, and a
 * TypeError/RangeError with code ERR_INVALID_ARG_TYPE / ERR_INVALID_ARG_VALUE / ERR_OUT_OF_RANGE for
 * an unsafe argument (non-integer fd, negative length, ...).
 */
import type { Backend, Fd, MapHandle } from './types';

export type ErrorFactory = (errno: number, syscall: string, path?: string) => Error;

/** The syscall-shaped functions: the same names and signatures as the Backend contract. */
export type AddonSyscalls = Omit<Backend, 'name' | 'pageSize' | 'lastId' | 'unchecked'>;

export interface RawAddon extends AddonSyscalls {
  /** sysconf(_SC_PAGESIZE) */
  readonly pageSize: number;
  /** The identity words of the last fd handed out (native/hot.cc). */
  readonly lastId: Uint32Array;
  /** Registers the factory for syscall errors (per environment: main thread or worker). */
  setErrorFactory(factory: ErrorFactory): void;
  /** Stops tracking fd (ownership handed elsewhere, e.g. a child process); true if it was tracked. */
  fdRelease(fd: Fd): boolean;
  /** The fds this environment's addon instance handed out and still tracks, ascending. */
  trackedFds(): Fd[];
  mmap(fd: Fd, length: number, prot: number, flags: number, offset: number): MapHandle;
  mmapChecked(fd: Fd, dev: number, inoHi: number, inoLo: number, length: number, prot: number, flags: number,
    offset: number): MapHandle | null;
  /** Whether v is a mapping handle this addon made (never throws). */
  isMapHandle(v: unknown): boolean;
}
