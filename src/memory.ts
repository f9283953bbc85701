/**
 * Refusing allocations the machine cannot back, before the kernel is asked.
 *
 * A dma-heap allocation is not charged to the allocating process or its cgroup, and a udmabuf pins
 * the shmem pages of its memfd when it is created. A request for more than the machine has does not
 * fail in the kernel: pages are handed out until the OOM killer ends a process, not necessarily the
 * caller (seen: `heaps.open('system').allocate(2 ** 31)` in a 2 GiB guest killed node). So a request
 * is compared with /proc/meminfo first, and refused with ENOMEM (the syscall and path it would have
 * made, and a hint with the figures) when it is larger than
 * - for system memory (the system heap, udmabuf's memfd): MemAvailable less a reserve
 *   (memoryReserve(): an eighth of MemTotal, at most 256 MiB) that keeps the rest of the machine alive;
 * - for a CMA heap: CmaFree, plus a sixteenth of CmaTotal (CmaFree under-counts for a moment after
 *   frees: pages on the per-CPU free lists are not counted; a CMA request that fails does not wake
 *   the OOM killer, so near the limit the kernel decides).
 * The figures are read again only after the requests since the last reading add up to an eighth of
 * what was available then, so small allocations cost nothing (no syscall) until memory runs low, and
 * every request is checked once it does. This is a guard, not a reservation: other processes allocate
 * too. `{ allowOvercommit: true }` skips it for a caller who knows better.
 */
import type { Backend } from './backend/types';
import { systemError } from './errors';

export type MemoryPool = 'system' | 'cma';

interface Reading {
  total: number;
  available: number;
  cmaFree: number | undefined;
  cmaTotal: number | undefined;
  /** bytes requested since this reading, per pool */
  since: { system: number; cma: number };
}

const readings = new WeakMap<Backend, Reading | null>();

/** The reserve of system memory a request may not eat into. */
export function memoryReserve(total: number): number {
  return Math.min(256 * 2 ** 20, Math.floor(total / 8));
}

function read(backend: Backend): Reading | null {
  let text: string;
  try {
    text = backend.readTextFile('/proc/meminfo');
  } catch {
    return null; // no meminfo: nothing to compare with, the kernel decides
  }
  const kb = (name: string): number | undefined => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(text);
    return m ? Number(m[1]) * 1024 : undefined;
  };
  const total = kb('MemTotal');
  const available = kb('MemAvailable') ?? kb('MemFree');
  if (total === undefined || available === undefined) return null;
  return { total, available, cmaFree: kb('CmaFree'), cmaTotal: kb('CmaTotal'), since: { system: 0, cma: 0 } };
}

/** Forget the last reading (tests; and after a refusal, so the next request looks again). */
export function forgetMemoryReading(backend: Backend): void {
  readings.delete(backend);
}

/**
 * Throw ENOMEM (as if from SYSCALL on PATH) when BYTES from POOL are more than the machine can
 * back; otherwise count them and return.
 */
export function admitAllocation(backend: Backend, bytes: number, pool: MemoryPool, syscall: string, path: string): void {
  let r = readings.get(backend);
  const limit = (x: Reading): number => (pool === 'cma' ? x.cmaFree ?? Infinity : x.available);
  if (r === undefined || (r !== null && r.since[pool] + bytes > limit(r) / 8)) {
    r = read(backend);
    readings.set(backend, r);
  }
  if (r === null) return;
  if (pool === 'cma' && r.cmaFree !== undefined && bytes > r.cmaFree + (r.cmaTotal ?? 0) / 16) {
    readings.delete(backend);
    throw systemError('ENOMEM', syscall, path,
      `refused before asking the kernel: ${bytes} bytes is more than the CMA area has free ` +
      `(CmaFree ${r.cmaFree} bytes in /proc/meminfo); pass { allowOvercommit: true } to ask the kernel anyway`);
  }
  const reserve = memoryReserve(r.total);
  if (bytes > r.available - reserve) {
    readings.delete(backend);
    throw systemError('ENOMEM', syscall, path,
      `refused before asking the kernel: ${bytes} bytes is more than this machine can back ` +
      `(MemAvailable ${r.available} bytes in /proc/meminfo, less a reserve of ${reserve} bytes); ` +
      'pass { allowOvercommit: true } to ask the kernel anyway');
  }
  r.since.system += bytes;
  if (pool === 'cma') r.since.cma += bytes;
}
