/**
 * Shared helpers for the contract suite: which backend runs, skip-with-a-reason guards, and errno
 * assertions that check code, errno and syscall (never message text).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { getBackend, errnoValue, udmabuf, heaps, drm } from '../../src/index';
import type { Backend, DrmDeviceInfo } from '../../src/index';

export const backend = () => getBackend();
export const isMock = () => getBackend().name === 'mock';
export const isNative = () => getBackend().name === 'native';
/** Inside the project's VM (scripts/vm.sh sets it): missing devices are failures, not skips. */
export const inVm = process.env.DMABUF_VM === '1';

export { skipBecause } from './skip';

export const PAGE = () => getBackend().pageSize;
export const MiB = 1 << 20;

/**
 * Skip the test saying why (in its title; from a beforeEach hook, the test's); in the VM, where every
 * device must exist, fail instead.
 */
export function skip(ctx: Mocha.Context, reason: string): never {
  if (inVm) throw new Error(`required in the VM but missing: ${reason}`);
  const test = (ctx.test as { type?: string } | undefined)?.type === 'hook' ? ctx.currentTest : ctx.test;
  if (test) test.title += ` (skipped: ${reason})`;
  ctx.skip();
}

export function needsUdmabuf(ctx: Mocha.Context): void {
  if (!udmabuf.available()) skip(ctx, `${udmabuf.path} is not available on the ${getBackend().name} backend`);
}

export function needsHeap(ctx: Mocha.Context, name = 'system'): void {
  if (!heaps.list().some((h) => h.name === name)) skip(ctx, `no dma-heap '${name}' on the ${getBackend().name} backend`);
}

let drmCache: { backend: unknown; list: DrmDeviceInfo[] } | undefined;
export function drmDevices(): DrmDeviceInfo[] {
  if (!drmCache || drmCache.backend !== getBackend()) drmCache = { backend: getBackend(), list: drm.list() };
  return drmCache.list;
}

export function needsDriver(ctx: Mocha.Context, driver: string, optional = false): DrmDeviceInfo {
  const d = drmDevices().find((x) => x.driver === driver && x.kind === 'card');
  if (!d) {
    if (optional && !inVm) { ctx.skip(); }
    skip(ctx, `no DRM card with driver ${driver} on the ${getBackend().name} backend`);
  }
  return d;
}

/** sw_sync (debugfs) for software fences: root and debugfs in the VM, modelled by the mock. */
export const SW_SYNC = '/sys/kernel/debug/sync/sw_sync';
export function needsSwSync(ctx: Mocha.Context): void {
  if (!getBackend().access(SW_SYNC, 6)) skip(ctx, `${SW_SYNC} is not available (needs CONFIG_SW_SYNC, debugfs, root)`);
}

export interface ErrnoExpectation {
  syscall?: string | RegExp;
  path?: string;
}

/** fn must throw a system error with this errno name (and the matching errno number). */
export function throwsErrno(fn: () => unknown, code: string, expect: ErrnoExpectation = {}): Error {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  return checkErrno(caught, code, expect);
}

export async function rejectsErrno(p: Promise<unknown> | (() => Promise<unknown>), code: string, expect: ErrnoExpectation = {}): Promise<Error> {
  let caught: unknown;
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    caught = e;
  }
  return checkErrno(caught, code, expect);
}

function checkErrno(caught: unknown, code: string, expect: ErrnoExpectation): Error {
  assert.ok(caught instanceof Error, `expected a ${code} error, but nothing was thrown`);
  const e = caught as Error & { code?: string; errno?: number; syscall?: string; path?: string };
  assert.equal(e.code, code, `expected code ${code}, got ${e.code} (${e.message})`);
  assert.equal(e.errno, errnoValue(code), `errno for ${code}`);
  assert.equal(typeof e.syscall, 'string', 'syscall is set');
  if (expect.syscall instanceof RegExp) assert.match(e.syscall!, expect.syscall);
  else if (expect.syscall !== undefined) assert.equal(e.syscall, expect.syscall);
  if (expect.path !== undefined) assert.equal(e.path, expect.path);
  return e;
}

/**
 * `first` queues a flip that waits for the next vblank; `second`, called at once, must then fail with
 * `code` (EBUSY). Under software emulation the guest can stall past a vblank (16.7 ms at 60 Hz) between
 * the two calls, and then the second rightly goes through. Such a try is repeated once the events of both
 * flips (user data `events[0]` and `events[1]`) have come; ten tries without the error fail. Returns the
 * error; the first flip of the last try is still pending.
 */
export async function failsWhilePending(b: Backend, fd: number, first: () => void, second: () => void, events: [number, number],
  code: string, expect: ErrnoExpectation = {}): Promise<Error> {
  for (let i = 1; ; i++) {
    first();
    let caught: unknown;
    try {
      second();
    } catch (e) {
      caught = e;
    }
    if (caught !== undefined || i === 10) return checkErrno(caught, code, expect);
    const seen = new Set<number>();
    while (!events.every((u) => seen.has(u))) {
      assert.ok((await b.pollAsync(fd, 1 /* POLLIN */, 5000)) & 1, `try ${i}: both flips went through, but not every event came`);
      for (const e of b.drmReadEvents(fd)) if (e.userData !== undefined) seen.add(e.userData);
    }
  }
}

/** fn must throw an argument/state error with this Node-style code (ERR_*). */
export function throwsCode(fn: () => unknown, code: string, type?: ErrorConstructor): Error {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof Error, `expected ${code}, but nothing was thrown`);
  assert.equal((caught as { code?: string }).code, code, `expected ${code}, got ${(caught as { code?: string }).code}: ${(caught as Error).message}`);
  if (type) assert.ok(caught instanceof type, `expected a ${type.name}`);
  return caught as Error;
}

/** Kernel release as a number (6.12 → 6012); mock: its modelled kernel. */
export function kernelVersion(): number {
  let rel = '';
  try {
    rel = getBackend().readTextFile('/proc/sys/kernel/osrelease');
  } catch {
    return 0;
  }
  const m = rel.match(/^(\d+)\.(\d+)/);
  return m ? Number(m[1]) * 1000 + Number(m[2]) : 0;
}

/** Open fds of this process (real ones), for leak checks on the native backend. */
export function openFdCount(): number {
  return fs.readdirSync('/proc/self/fd').length;
}
