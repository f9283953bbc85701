/**
 * NODE_DEBUG=dmabuf (util.debuglog): the backend choice, the addon files tried and loaded, and every
 * failed system call. Callers test `debugEnabled` before building a message, so that with debugging
 * off the cost is one boolean check.
 */
import { debuglog } from 'node:util';

const log = debuglog('dmabuf');

/** True when NODE_DEBUG names dmabuf (read once, when the library loads). */
export const debugEnabled: boolean = log.enabled;

/** util.format-style message on stderr, prefixed `DMABUF <pid>:` (only when debugEnabled). */
export function debug(format: string, ...args: unknown[]): void {
  log(format, ...args);
}
