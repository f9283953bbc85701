/**
 * The mock backend: a TypeScript model of the parts of the Linux kernel this library uses, with the
 * same Backend API and the same errno results (docs/kernel.md says what the kernel does; the cases
 * that pin it down are listed in docs/conformance.md, groups A, C, D, G and H).
 *
 * One file per kernel interface, like native/: kernel.ts (fd table, open file descriptions, file
 * system, inode numbers), fd.ts (files, poll, fd passing), memfd.ts, mapping.ts, dmabuf.ts,
 * udmabuf.ts, heap.ts, drm.ts, kms.ts and atomic.ts, sync.ts (sync_file and sw_sync), v4l2.ts (with vivid.ts, the
 * video nodes, and tpg.ts, their test pattern), with fences.ts (dma_fence, dma_resv, sync_file
 * payloads) and pages.ts (memory). Each exports the Backend functions of its interface as
 * `xxxOps(machine)`; this file composes them into one Backend, behind the argument specification
 * both backends share (../args.ts).
 *
 * Modelled: an fd table over open file descriptions (dup shares one; numbers count up from 1000; the
 * close-on-exec flag per fd, shown in fdinfo), a small file system (/dev/udmabuf, /dev/dma_heap/*,
 * /dev/dri/{cardN,renderD128+N}, /dev/shm/*, sw_sync in debugfs, udmabuf's module parameters,
 * /proc/self/{fd,fdinfo}/N, /proc/sys/kernel/osrelease, /proc/meminfo, /dev/video0-3), memfd with seals, udmabuf,
 * dma-heaps with a CMA budget (and their dispatch by ioctl number), dma-buf files (lseek/fstat/fdinfo/
 * readlink, SYNC, SET_NAME, sync-file export/import, poll), sync_file and sw_sync fences, DRM (vgem,
 * vkms, virtio_gpu: version, caps, dumb buffers, PRIME with the kernel's caching rules, vgem fences),
 * KMS modelled on vkms (kms.ts: resources, connectors, CRTC, framebuffers, SETCRTC, PAGE_FLIP events;
 * atomic.ts, commit.ts, props.ts, compose.ts: properties, blobs, ATOMIC with fences and writeback),
 * mmap with zero-copy views, and V4L2 video nodes modelled on vivid (vivid.ts, tpg.ts, v4l2.ts:
 * formats, videobuf2 queues streaming on a timer, the test pattern generator, controls, events).
 *
 * Limits (documented behaviour of the model, not of the kernel):
 * - Memory (pages.ts): a dma-buf's bytes are one ArrayBuffer; every mapping that asks for an
 *   ArrayBuffer gets that same one (true aliasing). So mapBuffer() works for a mapping of a whole
 *   buffer from offset 0 (of a memfd: of a range that is one store) and is ERR_DMABUF_UNSUPPORTED
 *   otherwise (mapRead() works for any mapping). munmap detaches the views of the buffer when no
 *   other live mapping of it has handed out its ArrayBuffer; while one has, earlier views stay usable.
 * - udmabuf re-points the memfd's range at the dma-buf's bytes, so they are shared both ways; a memfd
 *   range used by two udmabufs that are not the same range is shared with the newer one only, and a
 *   view of a memfd mapping made before the udmabuf keeps the old bytes.
 *   MAP_PRIVATE mappings are snapshots. hugetlb memfds are not modelled.
 * - Blocking: JavaScript cannot block waiting for an event that only JavaScript can cause. So
 *   dmabufSync(START) on a buffer with unsignalled fences, and poll() with no timeout that is not
 *   ready, throw ERR_DMABUF_UNSUPPORTED; poll() with a finite timeout that is not ready returns 0 at
 *   once. dmabufSyncAsync()/pollAsync() really wait (fences signal through swSyncInc,
 *   vgemFenceSignal or vgem's 10 s expiry).
 * - No sockets: sendFds/recvFds throw ERR_DMABUF_UNSUPPORTED. access() ignores permissions.
 * - A non-DRM ioctl on a DRM fd gives ENOTTY (the kernel would reinterpret it by number).
 * - fd numbers are never reused (the kernel takes the lowest free one).
 */
import { validateInt } from '../../errors';
import { withArgChecks } from '../args';
import type { Backend } from '../types';
import { dmabufOps } from './dmabuf';
import { drmDriver, drmOps } from './drm';
import { fdPassingOps, fileOps, pollOps } from './fd';
import { heapDriver, heapOps } from './heap';
import { Machine, procfs } from './kernel';
import { kmsDriver, kmsOps } from './kms';
import { atomicOps } from './atomic';
import { checkMapping, mappingOps } from './mapping';
import { memfdOps } from './memfd';
import { swSyncDriver, swSyncOps, syncFileOps } from './sync';
import { udmabufDriver, udmabufOps } from './udmabuf';
import { v4l2Ops } from './v4l2';
import { type ResolvedVideoOptions, type VividInstanceOptions, vividDriver } from './vivid';

// ---- options ---------------------------------------------------------------------------------------

export type MockDrmDriver = 'vgem' | 'vkms' | 'virtio_gpu';

export interface MockHeapOptions {
  name: string;
  /** Physically contiguous (CMA): allocations beyond `size` in total fail ENOMEM. */
  contiguous?: boolean;
  /** Bytes this heap can hand out (CMA reserve; default: `memory` for other heaps). */
  size?: number;
}

export interface MockDrmOptions {
  driver: MockDrmDriver;
  /** PRIME import of another device's dma-buf (default: true, but false for virtio_gpu → ENODEV). */
  importForeign?: boolean;
}

export interface MockOptions {
  /** Default 4096. */
  pageSize?: number;
  /** Default: system, and linux,cma with 64 MiB. */
  heaps?: MockHeapOptions[];
  /** /dev/udmabuf: present (default) with its module parameters, or absent. */
  udmabuf?: boolean | { sizeLimitMb?: number; listLimit?: number };
  /** DRM devices; index N is /dev/dri/cardN (and renderD(128+N) when the driver has render nodes). */
  drm?: (MockDrmDriver | MockDrmOptions)[];
  /** /sys/kernel/debug/sync/sw_sync (default true). */
  swSync?: boolean;
  /** uname -r (default '6.12.0-mock'). */
  kernel?: string;
  /** RAM for the system heap (default 8 GiB; pages are only allocated when touched). */
  memory?: number;
  /**
   * RLIMIT_NOFILE: how many fds may be open at once; the one past it is EMFILE from the call that
   * would make it (default 1048576, the kernel's nr_open).
   */
  nofile?: number;
  /**
   * fs.file-max: how many open files may exist at once; creating one more is ENFILE (a dup is not a
   * new file). The kernel exempts CAP_SYS_ADMIN; the model has no capabilities (default 2^53 - 1).
   */
  fileMax?: number;
  /**
   * vivid, the virtual video driver (mock/vivid.ts): true (default) for the VM's two instances
   * (n_devs=2 node_types=0x101,0x101 allocators=0,1 multiplanar=1,2: /dev/video0-1 vmalloc and
   * single-planar, /dev/video2-3 dma-contig and multi-planar), false for none, or the instances and
   * the mock's frame period (default 10 ms; vivid's webcam runs at 5 frames per second).
   */
  video?: boolean | { instances?: Partial<VividInstanceOptions>[]; frameMs?: number };
}

export interface ResolvedMockOptions {
  pageSize: number;
  heaps: Required<MockHeapOptions>[];
  udmabuf: { sizeLimitMb: number; listLimit: number } | null;
  drm: Required<MockDrmOptions>[];
  swSync: boolean;
  kernel: string;
  memory: number;
  nofile: number;
  fileMax: number;
  video: ResolvedVideoOptions | null;
}

/** Test hooks beside the Backend API. */
export interface MockControl {
  readonly options: ResolvedMockOptions;
  /** fds open in the model, ascending (leak tests). */
  openFds(): number[];
  /** Mappings not yet unmapped. */
  liveMappings(): number;
  /** Forget every fd, buffer, fence and mapping: a freshly booted machine with the same options. */
  reset(): void;
}

function resolve(o: MockOptions): ResolvedMockOptions {
  const memory = o.memory ?? 8 * 2 ** 30;
  const heaps = (o.heaps ?? [{ name: 'system' }, { name: 'linux,cma', contiguous: true, size: 64 * 2 ** 20 }])
    .map((h) => ({ name: h.name, contiguous: h.contiguous ?? false, size: h.size ?? memory }));
  const u = o.udmabuf ?? true;
  return {
    pageSize: validateInt(o.pageSize ?? 4096, 'options.pageSize', 1),
    heaps,
    udmabuf: u === false ? null : { sizeLimitMb: (u === true ? undefined : u.sizeLimitMb) ?? 64,
      listLimit: (u === true ? undefined : u.listLimit) ?? 1024 },
    drm: (o.drm ?? ['vgem', 'vkms']).map((d) => {
      const x = typeof d === 'string' ? { driver: d } : d;
      return { driver: x.driver, importForeign: x.importForeign ?? x.driver !== 'virtio_gpu' };
    }),
    swSync: o.swSync ?? true,
    kernel: o.kernel ?? '6.12.0-mock',
    memory,
    nofile: validateInt(o.nofile ?? 1 << 20, 'options.nofile', 1),
    fileMax: validateInt(o.fileMax ?? Number.MAX_SAFE_INTEGER, 'options.fileMax', 1),
    video: resolveVideo(o.video ?? true),
  };
}

function resolveVideo(v: NonNullable<MockOptions['video']>): ResolvedVideoOptions | null {
  if (v === false) return null;
  const x = v === true ? {} : v;
  const instances = (x.instances ?? [{}, { multiplanar: true, allocator: 'dma-contig' as const }]).map((k, n) => ({
    multiplanar: k.multiplanar ?? n === 1, allocator: k.allocator ?? (n === 1 ? 'dma-contig' as const : 'vmalloc' as const),
  }));
  return { instances, frameMs: validateInt(x.frameMs ?? 10, 'options.video.frameMs', 1) };
}

// ---- composition -------------------------------------------------------------------------------------

/** What boots with the machine, in this order (inode numbers follow it). KMS before the DRM devices. */
const DRIVERS = [udmabufDriver, heapDriver, kmsDriver, drmDriver, swSyncDriver, procfs, vividDriver];

/** A new, independent mock machine. */
export function createMockBackend(options: MockOptions = {}): Backend & MockControl {
  const resolved = resolve(options);
  const m = new Machine(resolved, DRIVERS);
  const mapping = mappingOps(m);
  const impl = {
    name: 'mock' as const,
    pageSize: resolved.pageSize,
    lastId: m.lastId,
    ...fileOps(m), ...memfdOps(m), ...udmabufOps(m), ...heapOps(m), ...dmabufOps(m), ...syncFileOps(m),
    ...pollOps(m), ...mapping, ...drmOps(m), ...swSyncOps(m), ...fdPassingOps(), ...kmsOps(m), ...atomicOps(m), ...v4l2Ops(m),
  } satisfies Omit<Backend, 'unchecked'>;
  const control: MockControl = {
    options: resolved,
    openFds: () => [...m.fds.keys()].sort((a, b) => a - b),
    liveMappings: () => m.maps.size,
    reset() {
      for (const map of [...m.maps]) mapping.munmap(map);
      m.reboot();
    },
  };
  return { ...withArgChecks(impl, checkMapping), ...control };
}
