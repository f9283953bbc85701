/**
 * probe(): what this machine offers, per interface, and when something is missing or not permitted,
 * why and how to fix it.
 */
import * as os from 'node:os';
import { backendChoice } from './backend/index';
import type { Backend } from './backend/types';
import { drm, type DrmDeviceInfo } from './drm';
import { heaps, HEAP_DIR, type HeapInfo } from './heap';
import { deviceHint } from './hints';
import { udmabuf, UDMABUF_PATH, type UdmabufLimits } from './udmabuf';
import { v4l2, type VideoDeviceInfo } from './v4l2';

export interface InterfaceStatus {
  available: boolean;
  /** Why not, when not available. */
  reason?: string;
  /** What to do about it. */
  hint?: string;
}

export interface ProbeResult {
  /**
   * The active backend; 'none' on Linux when the native addon did not load (and DMABUF_BACKEND is
   * not 'mock'): then every interface is unavailable, `nativeError` says what the loader tried, and
   * every device call throws ERR_DMABUF_NO_NATIVE.
   */
  backend: 'native' | 'mock' | 'none';
  /** Why this backend is active. */
  backendReason: string;
  /** Why the native addon is not in use, when it is not. */
  nativeError?: string;
  /** Kernel release (uname -r), when known. */
  kernel: string | null;
  /** sysconf(_SC_PAGESIZE); 0 when no backend is usable. */
  pageSize: number;
  udmabuf: InterfaceStatus & { limits: UdmabufLimits };
  heaps: InterfaceStatus & { list: HeapInfo[] };
  drm: InterfaceStatus & { devices: DrmDeviceInfo[] };
  /** V4L2 video nodes (/dev/videoN) with their queues and whether they take and give dma-bufs. */
  video: InterfaceStatus & { devices: VideoDeviceInfo[] };
  /** DMA_BUF_IOCTL_EXPORT/IMPORT_SYNC_FILE need Linux 6.0. */
  syncFile: InterfaceStatus;
}

function status(backend: Backend, path: string, iface: 'udmabuf' | 'heap' | 'drm'): InterfaceStatus {
  let exists = true;
  try {
    backend.stat(path);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'ENOENT') exists = false;
    else return { available: false, reason: `${path}: ${code}`, hint: deviceHint(iface, code) ?? '' };
  }
  if (!exists) return { available: false, reason: `${path} does not exist`, hint: deviceHint(iface, 'ENOENT') ?? '' };
  if (!backend.access(path, 4)) {
    return { available: false, reason: `${path}: permission denied`, hint: deviceHint(iface, 'EACCES') ?? '' };
  }
  return { available: true };
}

function kernelRelease(backend: Backend): string | null {
  try {
    return backend.readTextFile('/proc/sys/kernel/osrelease').trim();
  } catch {
    return null;
  }
}

/** Kernel major.minor as a number, e.g. 6.12 → 6012. */
function kernelCode(release: string | null): number {
  const m = release?.match(/^(\d+)\.(\d+)/);
  return m ? Number(m[1]) * 1000 + Number(m[2]) : 0;
}

/** What to do when the addon did not load, in a project that depends on the package. */
export const NO_NATIVE_HINT = 'npm rebuild dmabuf (it needs python3, make and a C++17 compiler), or ' +
  'DMABUF_BACKEND=mock to run on the software mock';

function noBackend(reason: string, nativeError: string): ProbeResult {
  const off = { available: false, reason: `no backend: ${reason}`, hint: NO_NATIVE_HINT };
  return {
    backend: 'none', backendReason: reason, nativeError, kernel: os.release(), pageSize: 0,
    udmabuf: { ...off, limits: {} }, heaps: { ...off, list: [] }, drm: { ...off, devices: [] },
    video: { ...off, devices: [] }, syncFile: { ...off },
  };
}

export function probe(): ProbeResult {
  const choice = backendChoice();
  if (!choice.usable) return noBackend(choice.reason, choice.nativeError?.message ?? choice.reason);
  const backend = choice.backend;
  const kernel = kernelRelease(backend);

  const u = status(backend, UDMABUF_PATH, 'udmabuf');
  const h = status(backend, HEAP_DIR, 'heap');
  let heapList: HeapInfo[] = [];
  if (h.available) {
    try {
      heapList = heaps.list();
    } catch (e) {
      Object.assign(h, { available: false, reason: (e as Error).message });
    }
    if (h.available && heapList.length === 0) Object.assign(h, { available: false, reason: `${HEAP_DIR} is empty` });
    // The directory is world-readable; the heap nodes are what needs permission.
    if (h.available && !heapList.some((x) => backend.access(x.path, 4))) {
      Object.assign(h, { available: false, reason: `${heapList[0]!.path}: permission denied`, hint: deviceHint('heap', 'EACCES') ?? '' });
    }
  }
  let devices: DrmDeviceInfo[] = [];
  const d = status(backend, drm.dir, 'drm');
  if (d.available) {
    devices = drm.list();
    if (devices.length === 0) Object.assign(d, { available: false, reason: `no card or render node in ${drm.dir}`, hint: deviceHint('drm', 'ENOENT') });
    else if (devices.every((x) => x.error)) Object.assign(d, { available: false, reason: devices[0]!.error, hint: deviceHint('drm', 'EACCES') });
  }
  let videoDevices: VideoDeviceInfo[] = [];
  let video: InterfaceStatus = { available: true };
  try {
    videoDevices = v4l2.list();
  } catch (e) {
    video = { available: false, reason: (e as Error).message };
  }
  if (video.available && videoDevices.length === 0) {
    video = { available: false, reason: 'no /dev/video* node', hint: 'load a V4L2 driver (e.g. sudo modprobe vivid for virtual ones)' };
  } else if (video.available && videoDevices.every((x) => x.error !== undefined)) {
    video = { available: false, reason: videoDevices[0]!.error, hint: 'video nodes belong to the video group: add yourself to it' };
  }
  const code = kernelCode(kernel);
  const syncFile: InterfaceStatus = code === 0 || code >= 6000 ? { available: true }
    : { available: false, reason: `kernel ${kernel} predates DMA_BUF_IOCTL_EXPORT_SYNC_FILE (6.0)`, hint: 'use Linux 6.0 or newer' };

  const out: ProbeResult = {
    backend: backend.name,
    backendReason: choice.reason,
    kernel,
    pageSize: backend.pageSize,
    udmabuf: { ...u, limits: u.available ? udmabuf.limits() : {} },
    heaps: { ...h, list: heapList },
    drm: { ...d, devices },
    video: { ...video, devices: videoDevices },
    syncFile,
  };
  if (choice.nativeError) out.nativeError = choice.nativeError.message;
  return out;
}
