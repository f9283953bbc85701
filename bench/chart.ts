/**
 * Chart and tables from benchmark results: a hand-written SVG of the ratios (no plotting
 * dependencies), a combined JSON and markdown tables.
 *
 *   node dist/bench/chart.js [--svg FILE] [--json FILE] [--md FILE] INPUT...
 *
 * INPUT: a result JSON written by run.ts, a combined JSON written by this script, or a log of a run
 * (e.g. the stdout of `npm run vm -- npm run bench`) holding the JSON between the marker lines.
 * Several inputs (one per kernel) are drawn side by side.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Ratio } from './harness';
import { markdownTables, meetsTarget, SECTIONS, targetSummary, type BenchResult, type Row, type SectionId } from './report';

const JSON_BEGIN = '----- DMABUF-BENCH-JSON BEGIN -----';
const JSON_END = '----- DMABUF-BENCH-JSON END -----';

export interface Combined {
  schema: 'dmabuf-bench-report/1';
  generated: string;
  runs: BenchResult[];
}

/** Results from a file: a run's JSON, a combined JSON, or a log with the JSON between the markers. */
export function readRuns(file: string): BenchResult[] {
  const text = fs.readFileSync(file, 'utf8');
  const runs: BenchResult[] = [];
  let at = 0;
  for (;;) {
    const b = text.indexOf(JSON_BEGIN, at);
    if (b < 0) break;
    const e = text.indexOf(JSON_END, b);
    if (e < 0) throw new Error(`${file}: ${JSON_BEGIN} without ${JSON_END}`);
    runs.push(JSON.parse(text.slice(b + JSON_BEGIN.length, e).trim()) as BenchResult);
    at = e + JSON_END.length;
  }
  if (runs.length) return runs;
  const j = JSON.parse(text) as BenchResult | Combined;
  if (j.schema === 'dmabuf-bench-report/1') return (j as Combined).runs;
  if (j.schema === 'dmabuf-bench/1') return [j as BenchResult];
  throw new Error(`${file}: not a dmabuf bench result`);
}

// ---- SVG -------------------------------------------------------------------------------------------

const W = 1000;
const LABEL_W = 390;
const PLOT_X = LABEL_W + 10;
const PLOT_W = 470;
const ROW_H = 14;
const BAR_H = 10;
const COLORS = ['#4477aa', '#ee6677', '#228833', '#ccbb44'];

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function fmt(x: number): string {
  if (!Number.isFinite(x)) return '—';
  if (x >= 100) return x.toFixed(0);
  if (x >= 10) return x.toFixed(1);
  return x.toFixed(2);
}

interface Scale {
  x(v: number): number;
  ticks: number[];
  origin: number;
}

function scaleFor(sec: SectionId, values: number[]): Scale {
  const info = SECTIONS[sec];
  const t = info.target?.value;
  const finite = values.filter((v) => Number.isFinite(v) && v > 0);
  if (sec === 'bandwidth') {
    const max = Math.max(1.1, ...finite.map((v) => Math.min(v, 3)), (t ?? 0) * 1.1);
    return { x: (v) => PLOT_X + (Math.max(0, Math.min(v, max)) / max) * PLOT_W, ticks: [0, 0.25, 0.5, 0.75, 0.9, 1].filter((k) => k <= max), origin: 0 };
  }
  // log scale around parity (1)
  let lo = Math.min(0.5, ...finite, t ?? 1);
  let hi = Math.max(2, ...finite, t ?? 1);
  lo = Math.pow(10, Math.floor(Math.log10(lo) * 2) / 2);
  hi = Math.pow(10, Math.ceil(Math.log10(hi) * 2) / 2);
  const L0 = Math.log10(lo);
  const L1 = Math.log10(hi);
  const x = (v: number): number => PLOT_X + ((Math.log10(Math.max(lo, Math.min(hi, v))) - L0) / (L1 - L0)) * PLOT_W;
  const ticks: number[] = [];
  for (let e = Math.floor(L0); e <= Math.ceil(L1); e++) {
    for (const m of [1, 3]) {
      const v = m * Math.pow(10, e);
      if (v >= lo * 0.999 && v <= hi * 1.001) ticks.push(v);
    }
  }
  if (t !== undefined && !ticks.includes(t)) ticks.push(t);
  return { x, ticks: ticks.sort((a, b) => a - b), origin: 1 };
}

export function renderSvg(runs: readonly BenchResult[]): string {
  const parts: string[] = [];
  let y = 20;
  const line = (s: string): void => {
    parts.push(s);
  };
  const title = 'dmabuf benchmark ratios';
  line(`<text x="10" y="${y}" font-size="16" font-weight="bold">${esc(title)}</text>`);
  y += 18;
  const emulated = runs.some((r) => r.emulated);
  line(`<text x="10" y="${y}" font-size="11">${esc(runs.map((r) => r.kernel).join(' · '))}${emulated ? ' — qemu TCG software emulation: ratios matter, absolute times do not' : ''}</text>`);
  y += 16;
  runs.forEach((r, i) => {
    line(`<rect x="${10 + i * 260}" y="${y - 9}" width="10" height="10" fill="${COLORS[i % COLORS.length]}"/>`);
    line(`<text x="${24 + i * 260}" y="${y}" font-size="11">${esc(r.kernel)}${r.vmKernel ? ` (${esc(r.vmKernel)})` : ''}</text>`);
  });
  line(`<text x="${10 + runs.length * 260}" y="${y}" font-size="11">whiskers: p10/p90 range · red dashed: target</text>`);
  y += 14;

  const order: SectionId[] = ['ops', 'reuse', 'bandwidth', 'scale', 'growth', 'x11dri'];
  for (const sec of order) {
    const ids: string[] = [];
    const labels = new Map<string, string>();
    const statusOf = new Map<string, string>();
    for (const r of runs) {
      for (const row of r.rows) {
        if (row.section !== sec) continue;
        if (!ids.includes(row.id)) ids.push(row.id);
        labels.set(row.id, row.label);
        if (row.status) statusOf.set(row.id, row.status);
      }
    }
    if (ids.length === 0) continue;
    const info = SECTIONS[sec];
    const values: number[] = [];
    for (const r of runs) for (const row of r.rows) if (row.section === sec && row.ratio) values.push(row.ratio.median, row.ratio.lo, row.ratio.hi);
    const sc = scaleFor(sec, values);
    y += 16;
    line(`<text x="10" y="${y}" font-size="13" font-weight="bold">${esc(info.title)}</text>`);
    y += 14;
    line(`<text x="10" y="${y}" font-size="11" fill="#444">ratio = ${esc(info.ratio)}${info.target ? ` · target: ${esc(info.target.text)}` : ''}${sc.origin === 1 ? ' · log scale, bars from 1' : ''}</text>`);
    y += 8;
    const top = y;
    const rowsH = ids.length * (runs.length * ROW_H + 4);
    // grid and ticks
    for (const t of sc.ticks) {
      const x = sc.x(t).toFixed(1);
      line(`<line x1="${x}" y1="${top}" x2="${x}" y2="${top + rowsH}" stroke="#ddd"/>`);
      line(`<text x="${x}" y="${top + rowsH + 11}" font-size="9" text-anchor="middle" fill="#666">${fmt(t)}</text>`);
    }
    const ox = sc.x(sc.origin).toFixed(1);
    line(`<line x1="${ox}" y1="${top}" x2="${ox}" y2="${top + rowsH}" stroke="#888"/>`);
    if (info.target) {
      const tx = sc.x(info.target.value).toFixed(1);
      line(`<line x1="${tx}" y1="${top}" x2="${tx}" y2="${top + rowsH}" stroke="#cc3311" stroke-dasharray="4 3"/>`);
    }
    for (const id of ids) {
      const label = labels.get(id) ?? id;
      const blockH = runs.length * ROW_H;
      line(`<text x="${LABEL_W}" y="${y + blockH / 2 + 4}" font-size="10.5" text-anchor="end">${esc(label.length > 70 ? label.slice(0, 69) + '…' : label)}</text>`);
      runs.forEach((r, i) => {
        const row: Row | undefined = r.rows.find((x) => x.id === id);
        const by = y + i * ROW_H + 2;
        const color = COLORS[i % COLORS.length];
        const ratio: Ratio | null | undefined = row?.ratio;
        if (!row || row.status || !ratio || !Number.isFinite(ratio.median)) {
          const why = row?.status ?? (row ? 'not measured' : 'not in this run');
          line(`<text x="${PLOT_X + 4}" y="${by + BAR_H - 1}" font-size="9.5" fill="#999">${esc(why.length > 90 ? why.slice(0, 89) + '…' : why)}</text>`);
          return;
        }
        const x0 = sc.x(sc.origin);
        const x1 = sc.x(ratio.median);
        line(`<rect x="${Math.min(x0, x1).toFixed(1)}" y="${by}" width="${Math.max(1, Math.abs(x1 - x0)).toFixed(1)}" height="${BAR_H}" fill="${color}" opacity="0.85"><title>${esc(`${r.kernel}: ${label}: ${fmt(ratio.median)} (${fmt(ratio.lo)}–${fmt(ratio.hi)})`)}</title></rect>`);
        const wl = sc.x(ratio.lo).toFixed(1);
        const wh = sc.x(ratio.hi).toFixed(1);
        const wy = (by + BAR_H / 2).toFixed(1);
        line(`<line x1="${wl}" y1="${wy}" x2="${wh}" y2="${wy}" stroke="#222" stroke-width="1"/>`);
        line(`<line x1="${wl}" y1="${by + 2}" x2="${wl}" y2="${by + BAR_H - 2}" stroke="#222"/><line x1="${wh}" y1="${by + 2}" x2="${wh}" y2="${by + BAR_H - 2}" stroke="#222"/>`);
        const ok = row ? meetsTarget(row) : undefined;
        line(`<text x="${PLOT_X + PLOT_W + 8}" y="${by + BAR_H - 1}" font-size="10" fill="${ok === false ? '#cc3311' : '#222'}">${fmt(ratio.median)}${ok === undefined ? '' : ok ? ' ✓' : ' ✗'}</text>`);
      });
      y += blockH + 4;
      void statusOf;
    }
    y += 14;
  }
  y += 6;
  const h = y;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${h}" viewBox="0 0 ${W} ${h}" font-family="Helvetica, Arial, sans-serif">\n`
    + `<rect width="${W}" height="${h}" fill="white"/>\n${parts.join('\n')}\n</svg>\n`;
}

function main(): void {
  const args = process.argv.slice(2);
  let svg: string | undefined;
  let json: string | undefined;
  let md: string | undefined;
  const inputs: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--svg') svg = args[++i];
    else if (a === '--json') json = args[++i];
    else if (a === '--md') md = args[++i];
    else inputs.push(a);
  }
  if (inputs.length === 0) {
    console.error('usage: node dist/bench/chart.js [--svg FILE] [--json FILE] [--md FILE] INPUT...');
    process.exit(2);
  }
  const runs = inputs.flatMap(readRuns);
  const write = (file: string, text: string): void => {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, text);
    console.error(`chart: wrote ${file}`);
  };
  if (json) write(json, JSON.stringify({ schema: 'dmabuf-bench-report/1', generated: new Date().toISOString(), runs } satisfies Combined, null, 1) + '\n');
  if (svg) write(svg, renderSvg(runs));
  const tables = `${targetSummary(runs)}\n${markdownTables(runs)}`;
  if (md) write(md, tables);
  else if (!svg && !json) console.log(tables);
}

if (require.main === module) main();
