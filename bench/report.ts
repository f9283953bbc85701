/**
 * The benchmark's result format (what run.ts writes and chart.ts reads) and its text/markdown table.
 */
import { fmtNs, fmtRatio, fmtStats, type Ratio, type Stats } from './harness';

export type SectionId = 'ops' | 'guard' | 'guardcost' | 'reuse' | 'bandwidth' | 'scale' | 'growth' | 'v4l2' | 'x11dri';

/** A target for a ratio: at most (lower) or at least (higher) value. */
export interface Target {
  value: number;
  better: 'lower' | 'higher';
  text: string;
}

export interface SectionInfo {
  title: string;
  /** What the ratio is. */
  ratio: string;
  /** The project's target for the ratio, if it sets one (a row's own target overrides it). */
  target?: Target;
  /** Plot the ratio on a log scale. */
  log?: boolean;
}

export const SECTIONS: Record<SectionId, SectionInfo> = {
  ops: {
    title: 'Per-operation cost, JS API vs C (same syscalls, same VM, same run)',
    ratio: 'JS time / C time; targets per row (the Targets table)',
  },
  guard: {
    title: 'Memory guard: allocate+close with the /proc/meminfo check vs with { allowOvercommit: true } (no check)',
    ratio: 'checked time / unchecked time',
    target: { value: 1.05, better: 'lower', text: 'the check costs nothing measurable (≤ 1.05)' },
  },
  guardcost: {
    title: 'Memory guard, the check alone (admitAllocation) vs the allocate+close it guards; /proc/meminfo reads counted',
    ratio: 'check time / allocate+close time',
    target: { value: 0.01, better: 'lower', text: 'the check is under 1% of the allocation it guards' },
  },
  reuse: {
    title: 'Mapping reuse: Exporter map/unmap cycle (cache hit) vs a fresh mmap+munmap',
    ratio: 'fresh time / cached time (speed-up)',
    target: { value: 20, better: 'higher', text: 'a cached map ≥ 20× cheaper than mmap+munmap' },
    log: true,
  },
  bandwidth: {
    title: 'Bandwidth through a zero-copy view of a mapped udmabuf vs C on the same kind of mapping',
    ratio: 'JS bandwidth / C bandwidth',
    target: { value: 0.9, better: 'higher', text: 'view bandwidth ≥ 0.9 of C' },
  },
  scale: {
    title: 'Scale: cost per buffer with N live buffers (create N, then close N)',
    ratio: 'JS time / C time (create)',
  },
  growth: {
    title: 'Allocation cost vs size (create+close)',
    ratio: 'JS time / C time',
  },
  v4l2: {
    title: 'V4L2 index affinity: QBUF of 4 imported dma-bufs + STREAMOFF, each frame on its own index vs on another index every cycle',
    ratio: 'rotated time / same-index time (> 1: affinity saves that much)',
  },
  x11dri: {
    title: 'Side by side with x11-dri (operations it has)',
    ratio: 'dmabuf time / x11-dri time (< 1: dmabuf is faster)',
  },
};

export interface Row {
  id: string;
  section: SectionId;
  label: string;
  /** Per-operation time of the JS public API (ns). */
  js?: Stats | null;
  /** The same syscalls from C (ns). */
  c?: Stats | null;
  /** The raw Backend calls from JS (the addon without the API's checks), ns. */
  raw?: Stats | null;
  /** The other side of a comparison that is not C (x11-dri; the fresh map in `reuse`). */
  other?: Stats | null;
  /** The section's ratio (see SECTIONS[section].ratio). */
  ratio?: Ratio | null;
  /** raw Backend / C. */
  rawRatio?: Ratio | null;
  /** Extra figures (bandwidth in MiB/s, close cost, limits reached, ...). */
  extra?: Record<string, number | string>;
  /** Syscalls per operation, JS API vs C, when they differ. */
  syscalls?: string;
  note?: string;
  /** Set when the row could not be measured: why (never a made-up number). */
  status?: string;
  /** This row's own target (instead of the section's). */
  target?: Target;
}

export interface BenchResult {
  schema: 'dmabuf-bench/1';
  kernel: string;
  /** 'trixie' | 'sid' when run by scripts/vm.sh. */
  vmKernel: string | null;
  /** qemu TCG (software emulation): absolute times are not meaningful, ratios are. */
  emulated: boolean;
  node: string;
  cpus: number;
  date: string;
  durationMs: number;
  options: Record<string, unknown>;
  limits: Record<string, unknown>;
  devices: Record<string, unknown>;
  x11dri: { status: string; version?: string; path?: string };
  exporter: { status: string };
  notes: string[];
  rows: Row[];
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

const ORDER: SectionId[] = ['ops', 'guard', 'guardcost', 'reuse', 'bandwidth', 'scale', 'growth', 'v4l2', 'x11dri'];

/** A plain-text table for the terminal. */
export function textTable(r: BenchResult): string {
  const out: string[] = [];
  out.push(`dmabuf bench — kernel ${r.kernel}${r.vmKernel ? ` (${r.vmKernel})` : ''}, node ${r.node}, ${r.cpus} CPUs` +
    `${r.emulated ? ', qemu TCG software emulation: compare ratios, not absolute times' : ''}`);
  out.push('times: median (p10–p90) per operation; ratios: median (conservative p10/p90 range)');
  for (const sec of ORDER) {
    const rows = r.rows.filter((x) => x.section === sec);
    if (rows.length === 0) continue;
    const info = SECTIONS[sec];
    out.push('');
    out.push(`## ${info.title}`);
    out.push(`   ratio = ${info.ratio}${info.target ? `; target: ${info.target.text}` : ''}`);
    for (const row of rows) {
      if (row.status) {
        out.push(`  ${pad(row.label, 44)} ${row.status}`);
        continue;
      }
      const cols = [
        pad(row.label, 44),
        `js ${pad(fmtStats(row.js), 30)}`,
        row.c !== undefined ? `c ${pad(fmtStats(row.c), 30)}` : '',
        row.other !== undefined ? `vs ${pad(fmtStats(row.other), 30)}` : '',
        `ratio ${pad(fmtRatio(row.ratio) + targetMark(row), 20)}`,
        row.raw ? `raw ${fmtStats(row.raw)} raw/C ${fmtRatio(row.rawRatio)}` : '',
        row.extra ? Object.entries(row.extra).map(([k, v]) => `${k}=${v}`).join(' ') : '',
      ];
      out.push('  ' + cols.filter((c) => c !== '').join(' '));
      if (row.note) out.push(`      ${row.note}`);
    }
  }
  if (r.notes.length) {
    out.push('');
    for (const n of r.notes) out.push(`* ${n}`);
  }
  return out.join('\n');
}

/** Whether a row meets its target (its own, else its section's); undefined when it has none or no ratio. */
export function meetsTarget(row: Row): boolean | undefined {
  const t = row.target ?? SECTIONS[row.section].target;
  const r = row.ratio;
  if (!t || !r || !Number.isFinite(r.median)) return undefined;
  return t.better === 'lower' ? r.median <= t.value : r.median >= t.value;
}

function targetMark(row: Row): string {
  const ok = meetsTarget(row);
  if (ok === undefined) return '';
  return `${ok ? ' ✓' : ' ✗'}${row.target ? ` (target ${row.target.text})` : ''}`;
}

/**
 * The rows with a target of their own, one line each: met or not, with the ratio, per kernel. What the
 * README's performance summary is made of.
 */
export function targetSummary(runs: readonly BenchResult[]): string {
  const out: string[] = ['**Targets** (each row\'s median ratio, per kernel)', ''];
  out.push(`| operation | target | ${runs.map((r) => r.kernel).join(' | ')} |`);
  out.push(`|---|---|${runs.map(() => '---').join('|')}|`);
  const ids: string[] = [];
  for (const r of runs) for (const row of r.rows) if (row.target && !ids.includes(row.id)) ids.push(row.id);
  for (const id of ids) {
    let label = id;
    let target = '';
    const cells = runs.map((r) => {
      const row = r.rows.find((x) => x.id === id);
      if (!row) return '—';
      label = row.section === 'x11dri' ? `${row.label} (vs x11-dri)` : row.label;
      target = row.target?.text ?? target;
      const ok = meetsTarget(row);
      if (ok === undefined) return row.status ?? '—';
      return `${row.ratio!.median.toFixed(2)} ${ok ? '✓ met' : '✗ not met'}`;
    });
    out.push(`| ${label} | ${target} | ${cells.join(' | ')} |`);
  }
  out.push('');
  return out.join('\n');
}

/** Markdown tables, one per section, with one ratio column per run (kernel). */
export function markdownTables(runs: readonly BenchResult[]): string {
  const out: string[] = [];
  const kernels = runs.map((r) => r.kernel);
  for (const sec of ORDER) {
    const ids: string[] = [];
    for (const r of runs) for (const row of r.rows) if (row.section === sec && !ids.includes(row.id)) ids.push(row.id);
    if (ids.length === 0) continue;
    const info = SECTIONS[sec];
    out.push(`**${info.title}** — ratio = ${info.ratio}${info.target ? `; target: ${info.target.text}` : ''}`);
    out.push('');
    const head = ['operation'];
    for (const k of kernels) head.push(`${k}: JS`, sec === 'x11dri' ? `${k}: x11-dri` : sec === 'reuse' ? `${k}: fresh` : `${k}: C`, `${k}: ratio`);
    out.push(`| ${head.join(' | ')} |`);
    out.push(`|${head.map(() => '---').join('|')}|`);
    for (const id of ids) {
      let label = id;
      const cells: string[] = [];
      for (const r of runs) {
        const row = r.rows.find((x) => x.id === id);
        if (!row) {
          cells.push('—', '—', '—');
          continue;
        }
        label = row.label;
        if (row.status) {
          cells.push(row.status, '', '');
          continue;
        }
        const other = sec === 'x11dri' || sec === 'reuse' ? row.other : row.c;
        let ratio = fmtRatio(row.ratio) + targetMark(row);
        if (row.rawRatio) ratio += ` (raw backend ${row.rawRatio.median.toFixed(2)})`;
        cells.push(fmtNs(row.js?.median ?? NaN), fmtNs(other?.median ?? NaN), ratio);
      }
      out.push(`| ${label} | ${cells.join(' | ')} |`);
    }
    out.push('');
  }
  return out.join('\n');
}
