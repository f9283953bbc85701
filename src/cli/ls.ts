/**
 * `dmabuf ls`: every dma-buf held by the processes the user can see, with per-process and
 * per-exporter totals (the scan is in scan.ts).
 */
import { getBackend } from '../index';
import { scan, type HeldBuffer, type Scan } from './scan';
import { formatBytes, plural, table } from './table';

/** `dmabuf ls --json`, version 1 (documented in the README's CLI section). */
export interface LsReport {
  version: 1;
  backend: 'native' | 'mock';
  scope: 'all' | 'self';
  /** false on the mock, which models no /proc/<pid>/maps: every maps count is then 0. */
  mapsScanned: boolean;
  scanned: number;
  unreadable: number;
  buffers: Array<{
    inode: number;
    size: number;
    exporter: string | null;
    name: string | null;
    processes: number;
    fds: number;
    maps: number;
    holders: Array<{ pid: number; comm: string; fds: number[]; maps: number }>;
  }>;
  processes: Array<{ pid: number; comm: string; buffers: number; fds: number; maps: number; size: number; pss: number }>;
  exporters: Array<{ exporter: string | null; buffers: number; size: number }>;
  total: { buffers: number; size: number; fds: number; maps: number; shared: number };
}

export function lsReport(s: Scan = scan()): LsReport {
  const procs = new Map<number, LsReport['processes'][number]>();
  const exporters = new Map<string | null, LsReport['exporters'][number]>();
  const total = { buffers: 0, size: 0, fds: 0, maps: 0, shared: 0 };
  const buffers = s.buffers.map((b: HeldBuffer) => {
    const fds = b.holders.reduce((n, h) => n + h.fds.length, 0);
    const maps = b.holders.reduce((n, h) => n + h.maps, 0);
    for (const h of b.holders) {
      let p = procs.get(h.pid);
      if (p === undefined) {
        p = { pid: h.pid, comm: h.comm, buffers: 0, fds: 0, maps: 0, size: 0, pss: 0 };
        procs.set(h.pid, p);
      }
      p.buffers++;
      p.fds += h.fds.length;
      p.maps += h.maps;
      p.size += b.size;
      p.pss += b.size / b.holders.length;
    }
    let e = exporters.get(b.exporter);
    if (e === undefined) {
      e = { exporter: b.exporter, buffers: 0, size: 0 };
      exporters.set(b.exporter, e);
    }
    e.buffers++;
    e.size += b.size;
    total.buffers++;
    total.size += b.size;
    total.fds += fds;
    total.maps += maps;
    if (b.holders.length > 1) total.shared++;
    return {
      inode: b.inode, size: b.size, exporter: b.exporter, name: b.name,
      processes: b.holders.length, fds, maps,
      holders: b.holders.map((h) => ({ pid: h.pid, comm: h.comm, fds: h.fds, maps: h.maps })),
    };
  });
  const processes = [...procs.values()].map((p) => ({ ...p, pss: Math.round(p.pss) })).sort((a, b) => a.pid - b.pid);
  return {
    version: 1,
    backend: getBackend().name,
    scope: s.scope,
    mapsScanned: s.mapsScanned,
    scanned: s.scanned,
    unreadable: s.unreadable,
    buffers,
    processes,
    exporters: [...exporters.values()].sort((a, b) => b.size - a.size || String(a.exporter).localeCompare(String(b.exporter))),
    total,
  };
}

export function renderLs(r: LsReport): string {
  const out: string[] = [];
  const scope = r.scope === 'self'
    ? `this process only: the ${r.backend} backend models /proc/self and no other process${r.mapsScanned ? '' : ', and no maps'}`
    : `${plural(r.scanned, 'process', 'processes')} scanned`;
  out.push(`dma-bufs (${scope}${r.unreadable > 0 ? `; ${plural(r.unreadable, 'process', 'processes')} not readable` : ''})`);
  if (r.unreadable > 0 && r.scope === 'all') {
    out.push(process.getuid?.() === 0 ? '  (not readable even as root: a security module, hidepid or another PID namespace)'
      : '  (run as root to see every process)');
  }
  out.push('');
  if (r.buffers.length === 0) {
    out.push('No dma-buf is held by any process visible here.');
    return `${out.join('\n')}\n`;
  }
  const rows: string[][] = [];
  for (const b of r.buffers) {
    b.holders.forEach((h, i) => {
      const head = i === 0
        ? [String(b.inode), formatBytes(b.size), b.exporter ?? '-', b.name ?? '-', String(b.processes)]
        : ['', '', '', '', ''];
      rows.push([...head, String(h.pid), h.comm, h.fds.length > 0 ? h.fds.join(',') : '-', String(h.maps)]);
    });
  }
  out.push(table([
    { header: 'INODE', align: 'right' }, { header: 'SIZE', align: 'right' }, { header: 'EXPORTER' }, { header: 'NAME' },
    { header: 'PROCS', align: 'right' }, { header: 'PID', align: 'right' }, { header: 'COMMAND' }, { header: 'FDS' },
    { header: 'MAPS', align: 'right' },
  ], rows));
  out.push('', 'Per process (SIZE counts each buffer in full; PSS divides shared buffers among their holders):');
  out.push(table([
    { header: 'PID', align: 'right' }, { header: 'COMMAND' }, { header: 'BUFFERS', align: 'right' },
    { header: 'FDS', align: 'right' }, { header: 'MAPS', align: 'right' }, { header: 'SIZE', align: 'right' },
    { header: 'PSS', align: 'right' },
  ], r.processes.map((p) => [String(p.pid), p.comm, String(p.buffers), String(p.fds), String(p.maps), formatBytes(p.size),
    formatBytes(p.pss)]), '  '));
  out.push('', 'Per exporter:');
  out.push(table([{ header: 'EXPORTER' }, { header: 'BUFFERS', align: 'right' }, { header: 'SIZE', align: 'right' }],
    r.exporters.map((e) => [e.exporter ?? '(mapped only)', String(e.buffers), formatBytes(e.size)]), '  '));
  const t = r.total;
  out.push('', `Total: ${plural(t.buffers, 'buffer')}, ${formatBytes(t.size)}, ${plural(t.fds, 'fd')}, ${plural(t.maps, 'mapping')}`
    + `${t.shared > 0 ? `; ${t.shared} shared by several processes` : ''}`);
  return `${out.join('\n')}\n`;
}
