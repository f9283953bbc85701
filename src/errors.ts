/**
 * Errors shaped like Node's fs errors, and argument validation with Node's ERR_* codes.
 *
 * One errno table serves both backends: the native addon builds every kernel error through
 * `systemError()` (registered with the addon at load time), and the mock calls it directly, so the two
 * cannot disagree on names or messages. The table itself is src/errno.ts.
 */
import { debug, debugEnabled } from './debug';
import { ERRNO, errnoNameOf, isErrnoName, type ErrnoName } from './errno';

/** The kernel's name for an errno value ('EBADFD' for 77, which Node cannot name). */
export function errnoName(errno: number): string {
  validateInt(errno, 'errno', 0, I32_MAX);
  return errnoNameOf(errno) ?? `E${errno}`;
}

/** The errno value for a kernel name, e.g. errnoValue('EINVAL') === 22. */
export function errnoValue(code: string): number {
  validateString(code, 'code');
  if (!isErrnoName(code)) throw invalidArgValue('code', code, 'is not a known errno name');
  return ERRNO[code][0];
}

function describeErrno(errno: number): string {
  const name = errnoNameOf(errno);
  return name === undefined ? `unknown error ${errno}` : ERRNO[name][1];
}

export interface DmabufSystemError extends Error {
  /** Kernel errno name, e.g. 'EINVAL'. */
  code: string;
  /** Positive errno value, e.g. 22. */
  errno: number;
  /** The failing call, e.g. 'ioctl(UDMABUF_CREATE)'. */
  syscall: string;
  /** The file involved, where there is one. */
  path?: string;
  /** Extra context the library adds (e.g. the kernel's limit that was exceeded). */
  hint?: string;
}

/**
 * Set `hint` on an error whose message already ends with it: as a non-enumerable property, so that
 * util.inspect (what Node prints for an uncaught error) does not print the hint a second time after
 * the message. `err.hint` reads as before.
 */
function setHint(err: object, hint: string): void {
  Object.defineProperty(err, 'hint', { value: hint, writable: true, configurable: true, enumerable: false });
}

/**
 * A Node-style system error: `EINVAL: invalid argument, ioctl(UDMABUF_CREATE) '/dev/udmabuf'`.
 */
export function systemError(errno: number | ErrnoName, syscall: string, path?: string, hint?: string): DmabufSystemError {
  if (typeof errno === 'string') errno = errnoValue(errno);
  validateInt(errno, 'errno', 0, I32_MAX);
  validateString(syscall, 'syscall');
  if (path !== undefined) validateString(path, 'path');
  if (hint !== undefined) validateString(hint, 'hint');
  const code = errnoName(errno);
  const desc = describeErrno(errno);
  let message = `${code}: ${desc}, ${syscall}`;
  if (path !== undefined) message += ` '${path}'`;
  if (hint !== undefined) message += ` (${hint})`;
  const err = new Error(message) as DmabufSystemError;
  err.errno = errno;
  err.code = code;
  err.syscall = syscall;
  if (path !== undefined) err.path = path;
  if (hint !== undefined) setHint(err, hint);
  if (debugEnabled) debug('%s failed: %s', syscall, message);
  return err;
}

/** True for an error made by systemError() (either backend). */
export function isSystemError(e: unknown): e is DmabufSystemError {
  return e instanceof Error && typeof (e as DmabufSystemError).errno === 'number' &&
    typeof (e as DmabufSystemError).syscall === 'string';
}

/**
 * Add a path (and optionally a hint) to a system error thrown by a backend call that only saw an fd.
 * Rebuilds the message so it reads like Node's. Non-system errors pass through unchanged.
 */
export function withPath<E>(e: E, path: string | undefined, hint?: string): E {
  if (!isSystemError(e)) return e;
  if (path !== undefined && e.path === undefined) e.path = path;
  if (hint !== undefined && e.hint === undefined) setHint(e, hint);
  const desc = describeErrno(e.errno);
  let message = `${e.code}: ${desc}, ${e.syscall}`;
  if (e.path !== undefined) message += ` '${e.path}'`;
  if (e.hint !== undefined) message += ` (${e.hint})`;
  e.message = message;
  return e;
}

/** Run fn; decorate a system error it throws with path/hint. */
export function atPath<T>(path: string | undefined, fn: () => T, hint?: string): T {
  try {
    return fn();
  } catch (e) {
    throw withPath(e, path, hint);
  }
}

// ---- library errors (not from the kernel) -----------------------------------------------------------

export interface CodedError extends Error {
  code: string;
}

/**
 * The codes of errors the library makes up (no syscall failed): one list, documented in the README.
 * - ERR_DMABUF_CLOSED: a method of a closed buffer, device, heap, sync file, mapping or exporter.
 * - ERR_DMABUF_UNSUPPORTED: this backend or kernel cannot do it.
 * - ERR_DMABUF_NO_NATIVE: the native addon did not load (on Linux, or DMABUF_BACKEND=native).
 * - ERR_DMABUF_STALE_FD: an fd the library owns was closed outside it (and maybe reused by another file).
 * - ERR_DMABUF_TIMEOUT: a wait the caller bounded with `timeout` ran out.
 * - ERR_DMABUF_NO_DEVICE: no device (or CRTC, or connector with modes) fits the request.
 * - ERR_DMABUF_NOT_FOUND: a thing asked for by name or id is not there.
 * - ERR_DMABUF_BUSY: the object is in a state that forbids the operation until something is released.
 * - ERR_DMABUF_CONSTRAINTS: no provider satisfies every attachment of an Exporter.
 */
export type DmabufErrorCode =
  | 'ERR_DMABUF_CLOSED' | 'ERR_DMABUF_UNSUPPORTED' | 'ERR_DMABUF_NO_NATIVE' | 'ERR_DMABUF_STALE_FD'
  | 'ERR_DMABUF_TIMEOUT' | 'ERR_DMABUF_NO_DEVICE' | 'ERR_DMABUF_NOT_FOUND' | 'ERR_DMABUF_BUSY'
  | 'ERR_DMABUF_CONSTRAINTS';

export interface DmabufError extends CodedError {
  code: DmabufErrorCode;
  /** The file involved, where there is one. */
  path?: string;
  /** What the library knows about the cause and the way out, where it knows something. */
  hint?: string;
}

function coded<E extends Error>(err: E, code: string): E & CodedError {
  const e = err as E & CodedError;
  e.code = code;
  return e;
}

/**
 * An error the library makes up: `code` from DmabufErrorCode, the message, and extra properties
 * (`path`, `cause`, ...). It has no `errno` or `syscall`: no system call failed.
 */
export function dmabufError<X extends object = object>(code: DmabufErrorCode, message: string, extra?: X): DmabufError & X {
  const { cause, hint, ...rest } = (extra ?? {}) as { cause?: unknown; hint?: unknown };
  const e = (cause === undefined ? new Error(message) : new Error(message, { cause })) as DmabufError & X;
  e.code = code;
  Object.assign(e, rest);
  if (typeof hint === 'string') {
    // printed once: with the message when it carries the hint, else as a property
    if (message.includes(hint)) setHint(e, hint);
    else e.hint = hint;
  }
  return e;
}

/** Use of a closed DmaBuf, device, sync file, mapping or exporter. */
export function closedError(what: string): DmabufError {
  return dmabufError('ERR_DMABUF_CLOSED', `${what} is closed`);
}

/** An operation the object's state does not allow (e.g. a writable view of a read-only buffer). */
export function stateError(message: string): CodedError {
  return coded(new Error(message), 'ERR_INVALID_STATE');
}

/** A feature this backend or kernel does not offer. */
export function unsupportedError(message: string): DmabufError {
  return dmabufError('ERR_DMABUF_UNSUPPORTED', message);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'function') return `function ${(value as { name?: string }).name || '<anonymous>'}`;
  if (typeof value === 'object') {
    const ctor = (value as object).constructor?.name;
    return ctor ? `an instance of ${ctor}` : 'an object';
  }
  if (typeof value === 'bigint') return `type bigint (${value}n)`;
  if (typeof value === 'symbol') return `type symbol (${String(value)})`;
  let shown = String(value);
  if (typeof value === 'string') {
    if (shown.length > 28) shown = `${shown.slice(0, 25)}...`;
    shown = `'${shown}'`;
  }
  return `type ${typeof value} (${shown})`;
}

/** TypeError [ERR_INVALID_ARG_TYPE], worded like Node's. */
export function invalidArgType(name: string, expected: string, actual: unknown): TypeError & CodedError {
  return coded(new TypeError(`The "${name}" argument must be ${expected}. Received ${describe(actual)}`),
    'ERR_INVALID_ARG_TYPE');
}

/** RangeError [ERR_OUT_OF_RANGE], worded like Node's. */
export function outOfRange(name: string, range: string, actual: unknown): RangeError & CodedError {
  const shown = typeof actual === 'bigint' ? `${actual}n` : typeof actual === 'string' ? `'${actual}'` : String(actual);
  return coded(new RangeError(`The value of "${name}" is out of range. It must be ${range}. Received ${shown}`),
    'ERR_OUT_OF_RANGE');
}

/** TypeError [ERR_INVALID_ARG_VALUE], worded like Node's. */
export function invalidArgValue(name: string, actual: unknown, reason: string): TypeError & CodedError {
  let shown: string;
  try {
    shown = typeof actual === 'string' ? `'${actual}'` : JSON.stringify(actual) ?? String(actual);
  } catch {
    shown = String(actual);
  }
  return coded(new TypeError(`The argument '${name}' ${reason}. Received ${shown}`), 'ERR_INVALID_ARG_VALUE');
}

// ---- validators ---------------------------------------------------------------------------------------

export const MAX_SAFE = Number.MAX_SAFE_INTEGER;
/** The range of a C int (fds, timeouts in ms, errno values, KMS coordinates). */
export const I32_MIN = -(2 ** 31);
export const I32_MAX = 2 ** 31 - 1;

/** An integer number in [min, max]; precise messages; throws before any syscall. */
export function validateInt(value: unknown, name: string, min = 0, max = MAX_SAFE): number {
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value);
  if (!Number.isInteger(value)) throw outOfRange(name, 'an integer', value);
  if (value < min || value > max) throw outOfRange(name, `>= ${min} && <= ${max}`, value);
  return value;
}

export function validateString(value: unknown, name: string): string {
  if (typeof value !== 'string') throw invalidArgType(name, 'of type string', value);
  return value;
}

export function validateFunction(value: unknown, name: string): (...args: never[]) => unknown {
  if (typeof value !== 'function') throw invalidArgType(name, 'of type function', value);
  return value as (...args: never[]) => unknown;
}

export function validateObject<T extends object>(value: unknown, name: string, optional = false): T | undefined {
  if (value === undefined && optional) return undefined;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw invalidArgType(name, 'of type object', value);
  }
  return value as T;
}

export function validateBoolean(value: unknown, name: string): boolean {
  if (typeof value !== 'boolean') throw invalidArgType(name, 'of type boolean', value);
  return value;
}

export function validateOneOf<T extends string>(value: unknown, name: string, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    if (typeof value !== 'string') throw invalidArgType(name, `one of ${allowed.map((a) => `'${a}'`).join(', ')}`, value);
    throw invalidArgValue(name, value, `must be one of ${allowed.map((a) => `'${a}'`).join(', ')}`);
  }
  return value as T;
}
