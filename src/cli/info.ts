/// <reference types="node" preserve="true" />
/**
 * `dmabuf info <pid>:<fd>`: one buffer in detail: its fdinfo, and who else holds it (by inode).
 */
import { getBackend } from '../index';
import { backendReader, readFdRef, scan, type FdRef, type HeldBuffer } from './scan';
import { formatBytes, keyValues, plural, table } from './table';
import { UsageError } from './usage';

/** `dmabuf info --json`, version 1. */
export interface InfoReport extends FdRef {
  version: 1;
  /** 'self' on the mock: only this process is visible. */
  scope: 'all' | 'self';
  /** Every process holding the buffer (fds and mappings), this one included. */
  holders: HeldBuffer['holders'];
}

export function parseTarget(arg: string): { pid: number; fd: number } {
  const m = /^(\d+):(\d+)$/.exec(arg);
  if (m === null) throw new UsageError(`'${arg}' is not <pid>:<fd> (e.g. 1234:5)`);
  return { pid: Number(m[1]), fd: Number(m[2]) };
}

export function infoReport(pid: number, fd: number): InfoReport {
  const backend = getBackend();
  const reader = backendReader(backend);
  // The mock models /proc/self only.
  const procPid = backend.name === 'mock' && pid === process.pid ? 'self' : String(pid);
  let ref;
  try {
    ref = readFdRef(reader, procPid, pid, fd);
  } catch (e) {
    const err = e as Error & { code?: string; hint?: string };
    if (err.code === 'ENOENT') err.hint ??= `process ${pid} has no fd ${fd} (or no longer exists); \`dmabuf ls\` lists the dma-buf fds`;
    if (err.code === 'EACCES' || err.code === 'EPERM') {
      err.hint ??= process.getuid?.() === 0
        ? `even root may not read process ${pid}'s fds here (a security module, /proc mounted with hidepid, or another PID namespace)`
        : `process ${pid} belongs to another user: run as root`;
    }
    throw err;
  }
  if (ref === null) {
    throw Object.assign(new TypeError(`fd ${fd} of process ${pid} is not a dma-buf (its fdinfo has no exp_name)`),
      { code: 'ERR_INVALID_ARG_VALUE' });
  }
  const s = scan(reader, backend);
  const holders = s.buffers.find((b) => b.inode === ref.inode)?.holders ?? [];
  return {
    version: 1, pid, fd, inode: ref.inode, size: ref.size, exporter: ref.exporter, name: ref.name, fdinfo: ref.fdinfo,
    scope: s.scope, holders,
  };
}

export function renderInfo(r: InfoReport): string {
  const out = [
    `dma-buf inode ${r.inode} (pid ${r.pid}, fd ${r.fd})`,
    keyValues([
      ['size', `${formatBytes(r.size)} (${r.size} bytes)`],
      ['exporter', r.exporter],
      ['name', r.name ?? '(none)'],
      ['inode', String(r.inode)],
    ], '  '),
    '',
    `fdinfo (/proc/${r.pid}/fdinfo/${r.fd}):`,
    keyValues(Object.entries(r.fdinfo).map(([k, v]) => [`${k}:`, v] as const), '  '),
    '',
    `Held by ${plural(r.holders.length, 'process', 'processes')}${r.scope === 'self' ? ' (this backend shows only its own process)' : ''}:`,
    table([{ header: 'PID', align: 'right' }, { header: 'COMMAND' }, { header: 'FDS' }, { header: 'MAPS', align: 'right' }],
      r.holders.map((h) => [String(h.pid), h.comm, h.fds.length > 0 ? h.fds.join(',') : '-', String(h.maps)]), '  '),
  ];
  return `${out.join('\n')}\n`;
}
