/**
 * A small benchmark harness: warm-up, calibration (iterations per sample so a sample lasts about
 * `targetMs`), N samples of K iterations, and robust statistics (median, p10–p90, MAD).
 *
 * The C program (bench/c/dmabuf_bench.c) uses the same procedure and reports raw per-operation sample
 * times, which are summarised here with the same functions, so both sides are treated alike.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface MeasureOptions {
  /** Samples to take. */
  samples: number;
  /** Each sample runs enough iterations to last about this long (ms). */
  targetMs: number;
  /** Warm-up time before sampling (ms); at least 2 iterations. */
  warmupMs: number;
  /** Fixed iterations per sample (skips calibration). */
  iters?: number;
  /** Upper bound on iterations per sample (e.g. to bound memory that only a GC gives back). */
  maxIters?: number;
  /** Runs after each sample, outside the timed region (e.g. a GC). */
  afterSample?: () => void;
}

/** Per-operation times of each sample, in nanoseconds, and the iterations per sample. */
export interface Samples {
  samplesNs: number[];
  iters: number;
}

/** Summary of per-operation times in ns. */
export interface Stats {
  median: number;
  p10: number;
  p90: number;
  /** Median absolute deviation from the median. */
  mad: number;
  min: number;
  n: number;
  iters: number;
}

/** A ratio a/b with a conservative range from the spreads (low: a.p10/b.p90, high: a.p90/b.p10). */
export interface Ratio {
  median: number;
  lo: number;
  hi: number;
}

const now = (): bigint => process.hrtime.bigint();

export function measure(fn: () => void, o: MeasureOptions): Samples {
  const t0 = now();
  const warm = BigInt(Math.round(o.warmupMs * 1e6));
  let k = 0;
  do {
    fn();
    k++;
  } while (now() - t0 < warm || k < 2);
  let iters = o.iters ?? 0;
  if (iters <= 0) {
    const per = Number(now() - t0) / k;
    iters = Math.max(1, Math.floor((o.targetMs * 1e6) / per));
  }
  if (o.maxIters !== undefined) iters = Math.max(1, Math.min(iters, o.maxIters));
  o.afterSample?.();
  const samplesNs: number[] = [];
  for (let s = 0; s < o.samples; s++) {
    const a = now();
    for (let i = 0; i < iters; i++) fn();
    samplesNs.push(Number(now() - a) / iters);
    o.afterSample?.();
  }
  return { samplesNs, iters };
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

export function stats(samplesNs: readonly number[], iters: number): Stats {
  const s = [...samplesNs].sort((a, b) => a - b);
  const median = quantile(s, 0.5);
  const dev = s.map((x) => Math.abs(x - median)).sort((a, b) => a - b);
  return {
    median,
    p10: quantile(s, 0.1),
    p90: quantile(s, 0.9),
    mad: quantile(dev, 0.5),
    min: s[0] ?? NaN,
    n: s.length,
    iters,
  };
}

/** Pool samples from several rounds (interleaved with the other side to share the same noise). */
export function pool(parts: readonly Samples[]): Stats {
  const all = parts.flatMap((p) => p.samplesNs);
  const iters = parts.length === 0 ? 0 : Math.round(parts.reduce((a, p) => a + p.iters, 0) / parts.length);
  return stats(all, iters);
}

/** a / b, e.g. JS time over C time. */
export function ratio(a: Stats, b: Stats): Ratio {
  return { median: a.median / b.median, lo: a.p10 / b.p90, hi: a.p90 / b.p10 };
}

/** Human-readable duration from ns. */
export function fmtNs(ns: number): string {
  if (!Number.isFinite(ns)) return '—';
  if (ns < 1e3) return `${ns.toFixed(0)} ns`;
  if (ns < 1e6) return `${(ns / 1e3).toFixed(ns < 1e4 ? 2 : 1)} µs`;
  if (ns < 1e9) return `${(ns / 1e6).toFixed(ns < 1e7 ? 2 : 1)} ms`;
  return `${(ns / 1e9).toFixed(2)} s`;
}

export function fmtStats(s: Stats | undefined | null): string {
  if (!s) return '—';
  return `${fmtNs(s.median)} (${fmtNs(s.p10)}–${fmtNs(s.p90)})`;
}

export function fmtRatio(r: Ratio | undefined | null, digits = 2): string {
  if (!r || !Number.isFinite(r.median)) return '—';
  // small ratios (a cost as a fraction of another) keep two significant digits instead of rounding to 0.00
  const f = (x: number): string => (x !== 0 && Math.abs(x) < 0.1 ? x.toPrecision(2) : x.toFixed(digits));
  return `${f(r.median)} (${f(r.lo)}–${f(r.hi)})`;
}

/**
 * Where a run writes its JSON: `out` when given, else bench/results of the checkout, else a directory
 * under the temporary one (the VM's root is read-only). The first that can really be written to
 * (a file is made and removed there), or undefined.
 */
export function writableOutDir(out?: string): string | undefined {
  const root = path.resolve(__dirname, '..', '..');
  for (const dir of out ? [out] : [path.join(root, 'bench', 'results'), path.join(os.tmpdir(), 'dmabuf-bench')]) {
    try {
      fs.mkdirSync(dir, { recursive: true });
      fs.accessSync(dir, fs.constants.W_OK);
      const probeFile = path.join(dir, `.w${process.pid}`);
      fs.writeFileSync(probeFile, '');
      fs.unlinkSync(probeFile);
      return dir;
    } catch {
      /* read-only (the VM's root): next */
    }
  }
  return undefined;
}
