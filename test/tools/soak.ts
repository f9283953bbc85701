/**
 * Leak soak, run by hand, in the VM:
 *
 *   npm run vm -- --kernel all -- env DMABUF_BACKEND=native node --expose-gc dist/test/tools/soak.js [cycles]
 *
 * For every provider (udmabuf, system heap, CMA heap, vgem dumb + PRIME export): `cycles` (default
 * 100,000, or DMABUF_SOAK_CYCLES) allocate → map → SYNC write → SYNC read → unmap → close cycles. Prints
 * the fd count and RSS at the start (after a warm-up) and at the end, per provider, and fails (exit 1)
 * if the fd count grew or RSS grew by more than DMABUF_SOAK_RSS_MB (default 32 MiB).
 */
import * as fs from 'node:fs';
import { getBackend } from '../../src/index';
import { cycle, providers } from './providers';

const cycles = Number(process.argv[2] ?? process.env.DMABUF_SOAK_CYCLES ?? 100000);
const rssSlackMb = Number(process.env.DMABUF_SOAK_RSS_MB ?? 32);

function fdCount(): number {
  const b = getBackend() as unknown as { name: string; openFds?: () => number[] };
  if (b.name === 'mock' && b.openFds) return b.openFds().length;
  return fs.readdirSync('/proc/self/fd').length - 1; // minus readdir's own
}

function rssKb(): number {
  const m = fs.readFileSync('/proc/self/status', 'utf8').match(/^VmRSS:\s+(\d+) kB/m);
  return m ? Number(m[1]) : Math.round(process.memoryUsage().rss / 1024);
}

const tick = () => new Promise<void>((r) => setImmediate(r));

/** GC, then let the deferred finalizers (Node-API wraps, FinalizationRegistry) run. */
async function settle(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  for (let i = 0; i < 3; i++) {
    gc?.();
    await tick();
  }
}

async function main(): Promise<void> {

let failed = false;
const kernel = (() => { try { return fs.readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(); } catch { return '?'; } })();
console.log(`soak: backend=${getBackend().name} kernel=${kernel} cycles=${cycles} per provider${(globalThis as { gc?: unknown }).gc ? '' : ' (no --expose-gc: RSS is noisier)'}`);
for (const p of providers) {
  const ok = p.available();
  if (ok !== true) {
    console.log(`soak: ${p.name}: skipped (${ok})`);
    continue;
  }
  const ctx = {};
  try {
    for (let i = 0; i < 1000; i++) cycle(p, ctx, i);
    await settle();
    const fd0 = fdCount();
    const rss0 = rssKb();
    const t0 = Date.now();
    let rssMid = 0;
    for (let i = 0; i < cycles; i++) {
      cycle(p, ctx, i);
      // Like an application, return to the event loop now and then: Node-API finalizers (the
      // mappings' handles) and FinalizationRegistry callbacks only run there.
      if (i % 100 === 99) await tick();
      if (i === cycles >> 1) { await settle(); rssMid = rssKb(); }
    }
    await settle();
    const fd1 = fdCount();
    const rss1 = rssKb();
    const ms = Date.now() - t0;
    const grew = fd1 > fd0 || rss1 - rss0 > rssSlackMb * 1024;
    failed ||= grew;
    console.log(`soak: ${p.name}: ${cycles} cycles in ${(ms / 1000).toFixed(1)} s (${(ms * 1000 / cycles).toFixed(0)} us/cycle): ` +
      `fds ${fd0} → ${fd1}, RSS ${(rss0 / 1024).toFixed(1)} MiB → ${(rssMid / 1024).toFixed(1)} (half) → ${(rss1 / 1024).toFixed(1)} MiB` +
      `${grew ? '  GREW' : ''}`);
  } catch (e) {
    failed = true;
    console.log(`soak: ${p.name}: FAILED ${(e as Error).stack}`);
  } finally {
    p.done?.(ctx);
  }
}
console.log(`soak: ${failed ? 'FAILED' : 'ok'}`);
process.exitCode = failed ? 1 : 0;
}

void main();
