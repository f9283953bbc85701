/// <reference types="node" preserve="true" />
/**
 * Waiting for fd readiness off the JS thread, in bounded slices so that a wait can time out or be
 * aborted and never pins a thread-pool thread for longer than one slice.
 */
import type { Backend, Fd } from './backend/types';
import { POLLERR, POLLNVAL } from './constants';
import { I32_MAX, systemError, validateInt, validateObject } from './errors';

export interface WaitOptions {
  /** Milliseconds; default: wait forever. 0 = just check. */
  timeout?: number;
  /** Abort the wait (rejects with the signal's reason). */
  signal?: AbortSignal;
}

const SLICE_MS = 200;

export function validateWaitOptions(options: unknown): WaitOptions {
  const o = validateObject<WaitOptions>(options, 'options', true) ?? {};
  if (o.timeout !== undefined && o.timeout !== Infinity) validateInt(o.timeout, 'options.timeout', 0, I32_MAX);
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) {
    throw Object.assign(new TypeError('The "options.signal" property must be an instance of AbortSignal'),
      { code: 'ERR_INVALID_ARG_TYPE' });
  }
  return o;
}

/**
 * Resolve true once `events` are ready on fd, false when the timeout passes first.
 * `fd` may be a function so that a close() during the wait is noticed between slices.
 */
export async function waitReadable(backend: Backend, fd: Fd | (() => Fd), events: number, options: WaitOptions = {}): Promise<boolean> {
  const o = validateWaitOptions(options);
  const getFd = typeof fd === 'function' ? fd : () => fd;
  const deadline = o.timeout === undefined || o.timeout === Infinity ? Infinity : Date.now() + o.timeout;
  for (;;) {
    o.signal?.throwIfAborted();
    const remaining = deadline - Date.now();
    const slice = Math.max(0, Math.min(SLICE_MS, remaining));
    const revents = await backend.pollAsync(getFd(), events, slice);
    o.signal?.throwIfAborted();
    if (revents & POLLNVAL) throw systemError('EBADF', 'poll');
    if ((revents & events) !== 0) return true;
    if (revents & POLLERR) throw systemError('EIO', 'poll');
    if (Date.now() >= deadline) return false;
  }
}
