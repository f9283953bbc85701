/// <reference types="node" preserve="true" />
/**
 * Who holds which dma-buf: a scan of /proc/<pid>/fd + fdinfo (fds whose fdinfo has exp_name) and
 * /proc/<pid>/maps (mappings of `/dmabuf:` files), grouped by inode, like Android's dmabuf_dump.
 *
 * Reads go through the library's backend (readdir, readlink, readTextFile), so the scan also runs on
 * the mock, which models /proc/self only: there the scan covers this process alone (scope 'self').
 * /proc/<pid>/maps is read with fs on the native backend (it can exceed the backend's 1 MiB bound
 * for small text files).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isDmabufLink } from '../dmabuf';
import { getBackend, parseFdinfo } from '../index';
import type { Backend } from '../index';

/** One fd of a process that refers to a dma-buf. */
export interface FdRef {
  pid: number;
  fd: number;
  inode: number;
  size: number;
  exporter: string;
  name: string | null;
  /** Every field of /proc/<pid>/fdinfo/<fd>, as the kernel wrote it. */
  fdinfo: Record<string, string>;
}

/** One process's use of one buffer. */
export interface Holder {
  pid: number;
  comm: string;
  /** fd numbers referring to the buffer, ascending. */
  fds: number[];
  /** Number of mappings of the buffer in /proc/<pid>/maps. */
  maps: number;
}

export interface HeldBuffer {
  inode: number;
  /** Bytes (from fdinfo; for a buffer only mapped, the largest mapped extent). */
  size: number;
  /** null when the buffer is only mapped (no fd seen): maps do not name the exporter. */
  exporter: string | null;
  name: string | null;
  holders: Holder[];
}

export interface Scan {
  /** 'all': every process in /proc; 'self': this process only (the mock models no other). */
  scope: 'all' | 'self';
  /** /proc/<pid>/maps was read (the mock models no maps: map counts are then 0). */
  mapsScanned: boolean;
  /** Processes that vanished or denied access during the scan. */
  unreadable: number;
  /** Processes scanned. */
  scanned: number;
  buffers: HeldBuffer[];
}

/** The reads the scan needs (the active backend by default; tests can substitute). */
export interface ProcReader {
  readdir(path: string): string[];
  readlink(path: string): string;
  readText(path: string): string;
  /** /proc/<pid>/maps, or null where it is not modelled. */
  readMaps(pid: string): string | null;
  /** st_ino of what a path leads to (for kernels whose fdinfo has no ino: line). */
  inode(path: string): number;
}

export function backendReader(backend: Backend = getBackend()): ProcReader {
  return {
    readdir: (p) => backend.readdir(p),
    readlink: (p) => backend.readlink(p),
    readText: (p) => backend.readTextFile(p),
    readMaps: (pid) => (backend.name === 'native' ? fs.readFileSync(`/proc/${pid}/maps`, 'latin1') : null),
    inode: (p) => Number(backend.stat(p).ino),
  };
}

export { isDmabufLink };

/** One line of /proc/<pid>/maps that maps a dma-buf: its inode and extent. */
export interface DmabufMapping {
  inode: number;
  /** offset + length in bytes: a lower bound of the buffer's size. */
  extent: number;
  name: string | null;
}

/** The dma-buf mappings in the text of /proc/<pid>/maps. */
export function parseMaps(text: string): DmabufMapping[] {
  const out: DmabufMapping[] = [];
  for (const line of text.split('\n')) {
    // start-end perms offset dev inode path (the path may contain spaces)
    const m = /^([0-9a-f]+)-([0-9a-f]+)\s+\S+\s+([0-9a-f]+)\s+\S+\s+(\d+)\s+(.*)$/.exec(line);
    if (m === null) continue;
    const path = m[5]!;
    if (!isDmabufLink(path)) continue;
    const length = Number(BigInt(`0x${m[2]}`) - BigInt(`0x${m[1]}`));
    const offset = Number(BigInt(`0x${m[3]}`));
    const name = path.startsWith('/dmabuf:') && path.length > '/dmabuf:'.length ? path.slice('/dmabuf:'.length) : null;
    out.push({ inode: Number(m[4]), extent: offset + length, name });
  }
  return out;
}

/** The fdinfo of one fd if it is a dma-buf (has exp_name), else null. Throws what the reads throw. */
export function readFdRef(reader: ProcReader, procPid: string, pid: number, fd: number): FdRef | null {
  const info = parseFdinfo(reader.readText(`/proc/${procPid}/fdinfo/${fd}`));
  const exporter = info.get('exp_name');
  if (exporter === undefined) return null;
  return {
    pid,
    fd,
    inode: info.has('ino') ? Number(info.get('ino')) : reader.inode(`/proc/${procPid}/fd/${fd}`),
    size: Number(info.get('size') ?? 0),
    exporter,
    name: info.get('name') || null,
    fdinfo: Object.fromEntries(info),
  };
}

function errCode(e: unknown): string | undefined {
  return (e as { code?: string }).code;
}

/** /proc/<pid>/comm; the mock models no comm file for /proc/self, so there: node's own name. */
function readComm(reader: ProcReader, procPid: string): string {
  try {
    return reader.readText(`/proc/${procPid}/comm`).trim();
  } catch (e) {
    if (procPid === 'self' && errCode(e) === 'ENOENT') return path.basename(process.execPath);
    throw e;
  }
}

interface ProcResult {
  comm: string;
  fds: FdRef[];
  maps: DmabufMapping[];
}

function scanProcess(reader: ProcReader, procPid: string, pid: number): ProcResult | null {
  let comm = '';
  const fds: FdRef[] = [];
  let maps: DmabufMapping[] = [];
  try {
    comm = readComm(reader, procPid);
    for (const name of reader.readdir(`/proc/${procPid}/fd`)) {
      const fd = Number(name);
      try {
        if (!isDmabufLink(reader.readlink(`/proc/${procPid}/fd/${fd}`))) continue;
        const ref = readFdRef(reader, procPid, pid, fd);
        if (ref !== null) fds.push(ref);
      } catch (e) {
        // The fd was closed between readdir and now: not an error of the process.
        if (errCode(e) !== 'ENOENT') throw e;
      }
    }
    const text = reader.readMaps(procPid);
    if (text !== null) maps = parseMaps(text);
  } catch (e) {
    const code = errCode(e);
    if (code === 'ENOENT' || code === 'ESRCH' || code === 'EACCES' || code === 'EPERM') return null;
    throw e;
  }
  return { comm, fds, maps };
}

/** Processes to scan: every /proc/<pid> on the native backend; /proc/self on the mock. */
function processes(reader: ProcReader, backend: Backend): { scope: 'all' | 'self'; list: Array<[string, number]> } {
  if (backend.name === 'mock') return { scope: 'self', list: [['self', process.pid]] };
  const list = reader.readdir('/proc').filter((n) => /^\d+$/.test(n)).map((n): [string, number] => [n, Number(n)]);
  list.sort((a, b) => a[1] - b[1]);
  return { scope: 'all', list };
}

export function scan(reader: ProcReader = backendReader(), backend: Backend = getBackend()): Scan {
  const { scope, list } = processes(reader, backend);
  const byInode = new Map<number, HeldBuffer>();
  let unreadable = 0;
  let scanned = 0;

  const bufferOf = (inode: number): HeldBuffer => {
    let b = byInode.get(inode);
    if (b === undefined) {
      b = { inode, size: 0, exporter: null, name: null, holders: [] };
      byInode.set(inode, b);
    }
    return b;
  };
  const holderOf = (b: HeldBuffer, pid: number, comm: string): Holder => {
    let h = b.holders.find((x) => x.pid === pid);
    if (h === undefined) {
      h = { pid, comm, fds: [], maps: 0 };
      b.holders.push(h);
    }
    return h;
  };

  for (const [procPid, pid] of list) {
    const r = scanProcess(reader, procPid, pid);
    if (r === null) {
      unreadable++;
      continue;
    }
    scanned++;
    for (const ref of r.fds) {
      const b = bufferOf(ref.inode);
      b.size = ref.size;
      b.exporter = ref.exporter;
      b.name = ref.name;
      holderOf(b, pid, r.comm).fds.push(ref.fd);
    }
    for (const m of r.maps) {
      const b = bufferOf(m.inode);
      if (b.exporter === null) {
        b.size = Math.max(b.size, m.extent);
        b.name ??= m.name;
      }
      holderOf(b, pid, r.comm).maps++;
    }
  }
  // A buffer first seen through a mapping and then through an fd keeps the fd's facts (set above);
  // holders and fds in a stable order.
  const buffers = [...byInode.values()].sort((a, b) => a.inode - b.inode);
  for (const b of buffers) {
    b.holders.sort((x, y) => x.pid - y.pid);
    for (const h of b.holders) h.fds.sort((x, y) => x - y);
  }
  return { scope, mapsScanned: backend.name === 'native', unreadable, scanned, buffers };
}
