/**
 * Plain-text output for the CLI: aligned tables and human-readable sizes.
 */

export type Align = 'left' | 'right';

export interface Column {
  header: string;
  align?: Align;
}

/** Rows of cells under headers, each column as wide as its widest cell, two spaces apart. */
export function table(columns: readonly Column[], rows: readonly (readonly string[])[], indent = ''): string {
  const widths = columns.map((c, i) => Math.max(c.header.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string => {
    const parts = columns.map((c, i) => {
      const s = cells[i] ?? '';
      return c.align === 'right' ? s.padStart(widths[i]!) : s.padEnd(widths[i]!);
    });
    return `${indent}${parts.join('  ')}`.trimEnd();
  };
  return [line(columns.map((c) => c.header)), ...rows.map(line)].join('\n');
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** 4096 → '4 KiB', 1572864 → '1.5 MiB', 100 → '100 B'. */
export function formatBytes(bytes: number): string {
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  const shown = u === 0 || Number.isInteger(v) ? String(v) : v.toFixed(v < 10 ? 2 : 1).replace(/\.?0+$/, '');
  return `${shown} ${UNITS[u]}`;
}

/** plural(1, 'buffer') → '1 buffer'; plural(2, 'buffer') → '2 buffers'. */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** Aligned `key  value` lines. */
export function keyValues(rows: readonly (readonly [string, string])[], indent = ''): string {
  const w = Math.max(0, ...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${indent}${k.padEnd(w)}  ${v}`.trimEnd()).join('\n');
}
