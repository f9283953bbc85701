/**
 * The ioctls of dma-buf files in the mock kernel (native/dmabuf.cc; drivers/dma-buf/dma-buf.c): CPU
 * access bracketing (SYNC), SET_NAME and the implicit-fence sync files. The file itself, which every
 * exporter hands out for a buffer object, is kernel.ts's newDmabuf.
 */
import {
  DMA_BUF_NAME_LEN, DMA_BUF_SYNC_END, DMA_BUF_SYNC_RW, DMA_BUF_SYNC_VALID_FLAGS_MASK, DMA_BUF_SYNC_WRITE,
} from '../../constants';
import { I32_MAX, systemError, validateInt } from '../../errors';
import type { DmabufOps, Fd } from '../types';
import { SyncPayload } from './fences';
import { type DmabufFile, type Machine, wouldBlock } from './kernel';
import { checkId } from './fd';
import { heapIoctlNr0 } from './heap';
import { newSyncFile } from './sync';

const SYNC = 'ioctl(DMA_BUF_IOCTL_SYNC)';

/**
 * Checks of DMA_BUF_IOCTL_SYNC up to the wait; null when the fd is a dma-heap, which took the command
 * for its ALLOC (number 0, heap.ts): it allocated a buffer of `flags` bytes and reported nothing.
 */
function syncTarget(m: Machine, fd: Fd, flags: number): DmabufFile | null {
  const f = m.get(fd, SYNC);
  if (f.kind === 'heap') {
    const arg = new Uint8Array(8); // struct dma_buf_sync { __u64 flags; }
    new DataView(arg.buffer).setBigUint64(0, BigInt(flags), true);
    heapIoctlNr0(m, f, SYNC, arg, false); // _IOW: nothing is copied back
    return null;
  }
  if (f.kind !== 'dmabuf') throw systemError('ENOTTY', SYNC);
  if (flags > DMA_BUF_SYNC_VALID_FLAGS_MASK) throw systemError('EINVAL', SYNC); // u64 bits outside the mask
  if ((flags & DMA_BUF_SYNC_RW) === 0) throw systemError('EINVAL', SYNC);
  return f;
}

/** begin/end_cpu_access once nothing is left to wait for. */
function syncDone(f: DmabufFile, flags: number): void {
  if (flags & DMA_BUF_SYNC_END) {
    if (f.bo.kind === 'udmabuf' && !f.bo.cpuAccessBegun) throw systemError('EINVAL', SYNC);
  } else {
    f.bo.cpuAccessBegun = true;
  }
}

/** EXPORT/IMPORT_SYNC_FILE: a non-empty subset of RW. */
function checkSyncFileFlags(flags: number, syscall: string): void {
  if ((flags & ~DMA_BUF_SYNC_RW) || !(flags & DMA_BUF_SYNC_RW)) throw systemError('EINVAL', syscall);
}

export function dmabufOps(m: Machine): DmabufOps {
  const setName = (fd: Fd, name: string): void => {
    const syscall = 'ioctl(DMA_BUF_SET_NAME_B)';
    const f = m.ioctl(fd, syscall, 'dmabuf');
    if (Buffer.byteLength(name) >= DMA_BUF_NAME_LEN) throw systemError('EINVAL', syscall); // strndup_user(buf, 32)
    f.name = name;
  };
  const sync = (fd: Fd, flags: number): void => {
    const f = syncTarget(m, fd, flags);
    if (f === null) return;
    if (!(flags & DMA_BUF_SYNC_END) && f.bo.resv.pending((flags & DMA_BUF_SYNC_WRITE) !== 0).length > 0) {
      throw wouldBlock('DMA_BUF_IOCTL_SYNC START on a buffer with unsignalled fences');
    }
    syncDone(f, flags);
  };
  return {
    dmabufSync: sync,

    dmabufSyncer(flags) {
      // the bound function is the same for the checked and the raw backend, and checks its fd as the
      // addon's does: no argument specification stands in front of it
      return (fd) => sync(validateInt(fd, 'fd', 0, I32_MAX) as Fd, flags);
    },

    dmabufSyncAsync(fd, flags) {
      let t: DmabufFile | null;
      try {
        t = syncTarget(m, fd, flags);
      } catch (e) {
        return Promise.reject(e);
      }
      if (t === null) return Promise.resolve();
      const f = t;
      f.refs++; // the async twin works on its own reference, like a dup
      const write = (flags & DMA_BUF_SYNC_WRITE) !== 0;
      const ready = (): boolean => (flags & DMA_BUF_SYNC_END) !== 0 || f.bo.resv.pending(write).length === 0;
      return m.hub.waitUntil(ready, -1).then(() => syncDone(f, flags)).finally(() => m.unref(f));
    },

    dmabufSetName: setName,

    dmabufSetNameChecked(fd, dev, inoHi, inoLo, name) {
      if (checkId(m, fd, dev, inoHi, inoLo) !== 0) return -1;
      setName(fd, name);
      return 0;
    },

    dmabufExportSyncFile(fd, flags) {
      const syscall = 'ioctl(DMA_BUF_IOCTL_EXPORT_SYNC_FILE)';
      const f = m.ioctl(fd, syscall, 'dmabuf');
      checkSyncFileFlags(flags, syscall);
      const fences = f.bo.resv.pending((flags & DMA_BUF_SYNC_WRITE) !== 0);
      return m.install(newSyncFile(m, new SyncPayload(m.hub, fences.length ? fences : [m.hub.stub])), true, syscall, 'ENOMEM');
    },

    dmabufImportSyncFile(fd, flags, syncFile) {
      const syscall = 'ioctl(DMA_BUF_IOCTL_IMPORT_SYNC_FILE)';
      const f = m.ioctl(fd, syscall, 'dmabuf');
      checkSyncFileFlags(flags, syscall);
      const s = m.fds.get(syncFile);
      if (s?.kind !== 'syncfile') throw systemError('EINVAL', syscall);
      for (const fence of s.sync.fences) f.bo.resv.add(fence, (flags & DMA_BUF_SYNC_WRITE) !== 0);
    },
  };
}
