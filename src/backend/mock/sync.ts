/**
 * sync_file and sw_sync of the mock kernel (native/sync.cc; drivers/dma-buf/{sync_file,sw_sync}.c):
 * sync files over the fences of mock/fences.ts (FILE_INFO, MERGE), and the sw_sync timeline in
 * debugfs (each open a new timeline; CREATE_FENCE, INC).
 */
import { O_RDONLY } from '../../constants';
import { invalidArgValue, systemError } from '../../errors';
import type { Fd, SwSyncOps, SyncFileOps } from '../types';
import { SyncPayload, Timeline } from './fences';
import { heapIoctlNr0 } from './heap';
import { type Driver, type HeapFile, kernelAtLeast, type Machine, type SyncFile } from './kernel';

/** CopyName() of the addon: a name field of char[32], cut to 31 bytes. */
const nameField = (s: string): string => Buffer.from(s).subarray(0, 31).toString();

/** A sync_file; every one shares the kernel's single anonymous inode. */
export function newSyncFile(m: Machine, sync: SyncPayload): SyncFile {
  return { kind: 'syncfile', sync, ino: m.anonIno, flags: O_RDONLY, pos: 0, path: 'anon_inode:sync_file', refs: 0 };
}

/** /sys/kernel/debug/sync/sw_sync, when the options have it. */
export const swSyncDriver: Driver = (m) => {
  if (!m.o.swSync) return;
  const p = '/sys/kernel/debug/sync/sw_sync';
  m.node(p, 'reg', 0n, 0o600, (flags) => {
    const timeline = new Timeline(m.hub, 'node');
    const f = m.file(p, flags, { kind: 'sw_sync', timeline });
    f.release = () => timeline.release();
    return f;
  });
};

export function syncFileOps(m: Machine): SyncFileOps {
  return {
    syncFileInfo: (fd) => m.ioctl(fd, 'ioctl(SYNC_IOC_FILE_INFO)', 'syncfile').sync.info(detachedFenceNames(m)),

    syncFileMerge(name, fd1, fd2) {
      const syscall = 'ioctl(SYNC_IOC_MERGE)';
      const a = m.ioctl(fd1, syscall, 'syncfile');
      const b = m.fds.get(fd2);
      if (b?.kind !== 'syncfile') throw systemError('ENOENT', syscall);
      return m.install(newSyncFile(m, SyncPayload.merge(m.hub, nameField(name), a.sync, b.sync)), true, syscall, 'ENOMEM');
    },
  };
}

/**
 * SW_SYNC_IOC_CREATE_FENCE (_IOWR('W', 0, struct sw_sync_create_fence_data)) sent to a dma-heap runs
 * as its ALLOC (heap.ts) over the struct the addon fills (value, name[32], fence -1): the name's bytes
 * 4..19 are the fd and flag fields, so a name of 5 bytes or more is EINVAL, and a shorter one allocates
 * value + (name bytes 0..3 << 32) bytes. The new fd is written over the name; what the addon reads
 * back, the fence field, is still -1, which both backends refuse to hand out (ERR_INVALID_ARG_VALUE).
 */
function heapCreateFence(m: Machine, f: HeapFile, timelineFd: Fd, value: number, name: string): Fd {
  const arg = new Uint8Array(40);
  const v = new DataView(arg.buffer);
  v.setUint32(0, value, true);
  arg.set(Buffer.from(nameField(name)), 4);
  v.setInt32(36, -1, true);
  const back = heapIoctlNr0(m, f, 'ioctl(SW_SYNC_IOC_CREATE_FENCE)', arg, true);
  const fence = new DataView(back.buffer, back.byteOffset).getInt32(36, true);
  // as the addon: success without a fence is no fd to hand out
  if (fence < 0) throw invalidArgValue('timeline', timelineFd, 'is not a sw_sync timeline: the ioctl succeeded without a fence');
  return fence;
}

/** Linux 6.17 and later name signalled fences 'signaled-timeline' / 'detached-driver'. */
function detachedFenceNames(m: Machine): boolean {
  return kernelAtLeast(m.o.kernel, 6, 17);
}

export function swSyncOps(m: Machine): SwSyncOps {
  return {
    swSyncCreateFence(timeline, value, name) { // the name is copied by the kernel, never shown
      const syscall = 'ioctl(SW_SYNC_IOC_CREATE_FENCE)';
      const f = m.get(timeline, syscall);
      if (f.kind === 'heap') return heapCreateFence(m, f, timeline, value, name);
      const t = m.ioctl(timeline, syscall, 'sw_sync');
      return m.install(newSyncFile(m, new SyncPayload(m.hub, [t.timeline.createFence(value)])), true, syscall, 'ENOMEM');
    },

    swSyncInc: (timeline, count) => m.ioctl(timeline, 'ioctl(SW_SYNC_IOC_INC)', 'sw_sync').timeline.inc(count),
  };
}
