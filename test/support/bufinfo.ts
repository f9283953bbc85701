/**
 * The kernel's list of live dma-bufs (debugfs /sys/kernel/debug/dma_buf/bufinfo), parsed: for each
 * buffer its size, file reference count, exporter, inode, name and the devices attached to it.
 *
 * Each buffer is one line `size flags mode count exp_name ino name` (tab-separated), then lines of
 * its reservation object's fences, then `\tAttached Devices:`, one `\t<device>` line per
 * dma_buf_attachment, and `Total N devices attached`.
 */
import * as fs from 'node:fs';
import { isMock, skip } from './index';

export const BUFINFO = '/sys/kernel/debug/dma_buf/bufinfo';

export interface BufinfoEntry {
  size: number;
  /** The dma-buf file's reference count (every fd, mapping and kernel reference holding it). */
  count: number;
  exporter: string;
  inode: bigint;
  name: string;
  /** One device name per attachment (a device attached twice appears twice). */
  attached: string[];
}

export function readBufinfo(): Map<bigint, BufinfoEntry> {
  const out = new Map<bigint, BufinfoEntry>();
  let cur: BufinfoEntry | undefined;
  let inAttached = false;
  for (const line of fs.readFileSync(BUFINFO, 'utf8').split('\n')) {
    const m = /^(\d+)\t\S+\t\S+\t(\d+)\t(\S+)\t(\d+)\t?(.*)$/.exec(line);
    if (m) {
      cur = { size: Number(m[1]), count: Number(m[2]), exporter: m[3]!, inode: BigInt(m[4]!), name: m[5] ?? '', attached: [] };
      out.set(cur.inode, cur);
      inAttached = false;
    } else if (cur && /^\tAttached Devices:/.test(line)) {
      inAttached = true;
    } else if (cur && inAttached && line.startsWith('\t')) {
      cur.attached.push(line.trim());
    } else {
      inAttached = false;
    }
  }
  return out;
}

/** Skip on the mock (no debugfs); in the VM a missing bufinfo fails the test. */
export function needsBufinfo(ctx: Mocha.Context): void {
  if (isMock()) {
    if (ctx.test) ctx.test.title += ' (skipped: the mock has no debugfs bufinfo)';
    ctx.skip();
  }
  if (!fs.existsSync(BUFINFO)) skip(ctx, `no ${BUFINFO} (needs debugfs and root)`);
}
