/**
 * DRM devices of the mock kernel (native/drm.cc; drivers/gpu/drm/{drm_ioctl,drm_gem,drm_prime,
 * drm_dumb_buffers}.c, vgem, vkms, virtio-gpu): card and render nodes, version, caps, dumb buffers
 * with the kernel's size arithmetic, GEM handles, PRIME with the export cache, and vgem fences.
 * KMS is mock/kms.ts.
 */
import {
  DRM_CAP_ADDFB2_MODIFIERS, DRM_CAP_ASYNC_PAGE_FLIP, DRM_CAP_ATOMIC_ASYNC_PAGE_FLIP, DRM_CAP_CRTC_IN_VBLANK_EVENT,
  DRM_CAP_CURSOR_HEIGHT, DRM_CAP_CURSOR_WIDTH, DRM_CAP_DUMB_BUFFER, DRM_CAP_DUMB_PREFER_SHADOW,
  DRM_CAP_DUMB_PREFERRED_DEPTH, DRM_CAP_PAGE_FLIP_TARGET, DRM_CAP_PRIME, DRM_CAP_SYNCOBJ, DRM_CAP_SYNCOBJ_TIMELINE,
  DRM_CAP_TIMESTAMP_MONOTONIC, DRM_CAP_VBLANK_HIGH_CRTC, DRM_CLIENT_CAP_ASPECT_RATIO, DRM_CLIENT_CAP_ATOMIC,
  DRM_CLIENT_CAP_STEREO_3D, DRM_CLIENT_CAP_UNIVERSAL_PLANES, DRM_CLIENT_CAP_WRITEBACK_CONNECTORS, DRM_CLOEXEC,
  DRM_FILE_PAGE_OFFSET_START, DRM_MAJOR, DRM_PRIME_CAP_EXPORT, DRM_PRIME_CAP_IMPORT, DRM_RDWR, O_RDONLY, O_RDWR,
  VGEM_FENCE_WRITE,
} from '../../constants';
import { systemError } from '../../errors';
import type { DrmOps, Fd } from '../types';
import { Fence } from './fences';
import {
  Bo, type DmabufFile, type Driver, type DrmDevice, type DrmFile, type Machine, makedev, newDmabuf,
} from './kernel';
import type { MockDrmDriver } from './index';
import { Store } from './pages';

export interface DriverModel {
  version: [number, number, number];
  date: string;
  desc: string;
  render: boolean;
  modeset: boolean;
  exporter: string;
  bpp32Only: boolean;
}

const DRIVERS: Record<MockDrmDriver, DriverModel> = {
  vgem: { version: [1, 0, 0], date: '20120112', desc: 'Virtual GEM provider', render: true, modeset: false,
    exporter: 'drm', bpp32Only: false },
  vkms: { version: [1, 0, 0], date: '20180514', desc: 'Virtual Kernel Mode Setting', render: false, modeset: true,
    exporter: 'drm', bpp32Only: false },
  virtio_gpu: { version: [0, 1, 0], date: '0', desc: 'virtio GPU', render: true, modeset: true,
    exporter: 'virtio_gpu', bpp32Only: true },
};

/** drivers/gpu/drm/vgem/vgem_fence.c: an unsignalled fence expires after 10 s. */
const VGEM_FENCE_TIMEOUT_MS = 10_000;
const U32_MAX = 0xffffffff;
const RENDER_MINOR_BASE = 128;

/** drm_getcap() answers of a modesetting driver (vkms, virtio_gpu). */
const KMS_CAPS: Record<number, number> = {
  [DRM_CAP_DUMB_BUFFER]: 1, [DRM_CAP_VBLANK_HIGH_CRTC]: 1, [DRM_CAP_DUMB_PREFERRED_DEPTH]: 24,
  [DRM_CAP_DUMB_PREFER_SHADOW]: 0, [DRM_CAP_ASYNC_PAGE_FLIP]: 0, [DRM_CAP_CURSOR_WIDTH]: 64,
  [DRM_CAP_CURSOR_HEIGHT]: 64, [DRM_CAP_ADDFB2_MODIFIERS]: 1, [DRM_CAP_PAGE_FLIP_TARGET]: 0,
  [DRM_CAP_CRTC_IN_VBLANK_EVENT]: 1, [DRM_CAP_ATOMIC_ASYNC_PAGE_FLIP]: 0,
};
/** drm_setclientcap(): the highest value of each client cap. */
const CLIENT_CAP_MAX: Record<number, number> = {
  [DRM_CLIENT_CAP_STEREO_3D]: 1, [DRM_CLIENT_CAP_UNIVERSAL_PLANES]: 1, [DRM_CLIENT_CAP_ATOMIC]: 2,
  [DRM_CLIENT_CAP_ASPECT_RATIO]: 1, [DRM_CLIENT_CAP_WRITEBACK_CONNECTORS]: 1,
};

/** /dev/dri/cardN for every configured device, and renderD(128+N) when its driver has render nodes. */
export const drmDriver: Driver = (m) => {
  m.o.drm.forEach((d, i) => {
    const dev: DrmDevice = { driver: d.driver, model: DRIVERS[d.driver], importForeign: d.importForeign,
      offsets: new Map(), nextPgoff: DRM_FILE_PAGE_OFFSET_START };
    m.devices.push(dev);
    m.kms.addDevice(dev, dev.model.modeset, d.driver);
    const nodes: [string, number, boolean][] = [[`/dev/dri/card${i}`, i, false]];
    if (dev.model.render) nodes.push([`/dev/dri/renderD${RENDER_MINOR_BASE + i}`, RENDER_MINOR_BASE + i, true]);
    for (const [p, minor, render] of nodes) {
      m.node(p, 'chr', makedev(DRM_MAJOR, minor), render ? 0o666 : 0o660, (flags) => {
        const f = m.file(p, flags, {
          kind: 'drm' as const, dev, render, clientCaps: new Map<number, number>(), clientId: m.nextClient++, handles: new Map<number, Bo>(),
          prime: new Map<Bo, { handle: number; dmabuf: DmabufFile }>(), fences: new Map<number, Fence>(), nextFence: 1,
        });
        f.release = () => { // drm_release
          m.kms.released(dev, f);
          for (const h of [...f.handles.keys()]) closeHandle(m, f, h);
        };
        m.kms.opened(dev, f);
        return f;
      });
    }
  });
};

function addHandle(f: DrmFile, bo: Bo): number {
  let h = 1;
  while (f.handles.has(h)) h++; // idr_alloc: lowest free from 1
  f.handles.set(h, bo);
  bo.handles++;
  return h;
}

function closeHandle(m: Machine, f: DrmFile, h: number, syscall = 'ioctl(DRM_IOCTL_GEM_CLOSE)'): void {
  const bo = f.handles.get(h);
  if (bo === undefined) throw systemError('EINVAL', syscall);
  f.handles.delete(h);
  const e = f.prime.get(bo);
  if (e !== undefined && e.handle === h) {
    f.prime.delete(bo);
    m.unref(e.dmabuf);
  }
  if (--bo.handles === 0 && bo.dev !== null && bo.mmapPgoff !== null) bo.dev.offsets.delete(bo.mmapPgoff);
}

/** The DRM file an ioctl goes to; primaryOnly for ioctls without DRM_RENDER_ALLOW. */
export function drmFile(m: Machine, fd: Fd, syscall: string, primaryOnly = false): DrmFile {
  const f = m.ioctl(fd, syscall, 'drm');
  if (primaryOnly && f.render) throw systemError('EACCES', syscall);
  return f;
}

/** A vgem ioctl: beyond the driver's ioctl table (EINVAL) on other drivers. */
function vgemFile(m: Machine, fd: Fd, syscall: string): DrmFile {
  const f = drmFile(m, fd, syscall);
  if (f.dev.driver !== 'vgem') throw systemError('EINVAL', syscall);
  return f;
}

export function drmOps(m: Machine): DrmOps {
  const gemClose = (fd: Fd, handle: number, syscall: string, primaryOnly: boolean): void =>
    closeHandle(m, drmFile(m, fd, syscall, primaryOnly), handle, syscall);

  return {
    drmVersion(fd) {
      const f = drmFile(m, fd, 'ioctl(DRM_IOCTL_VERSION)');
      const d = f.dev.model;
      return { major: d.version[0], minor: d.version[1], patchlevel: d.version[2], name: f.dev.driver, date: d.date,
        desc: d.desc };
    },

    drmGetCap(fd, capability) {
      const syscall = 'ioctl(DRM_IOCTL_GET_CAP)';
      const f = drmFile(m, fd, syscall);
      switch (capability) { // drm_getcap: caps for every driver first
        case DRM_CAP_TIMESTAMP_MONOTONIC: return 1;
        case DRM_CAP_PRIME: return DRM_PRIME_CAP_IMPORT | DRM_PRIME_CAP_EXPORT;
        case DRM_CAP_SYNCOBJ: case DRM_CAP_SYNCOBJ_TIMELINE: return f.dev.driver === 'virtio_gpu' ? 1 : 0;
        default: break;
      }
      if (!f.dev.model.modeset) throw systemError('EOPNOTSUPP', syscall); // vgem: even DRM_CAP_DUMB_BUFFER
      const v = KMS_CAPS[capability];
      if (v === undefined) throw systemError('EINVAL', syscall);
      return v;
    },

    drmSetClientCap(fd, capability, value) {
      const syscall = 'ioctl(DRM_IOCTL_SET_CLIENT_CAP)';
      const f = drmFile(m, fd, syscall, true);
      const max = CLIENT_CAP_MAX[capability];
      if (max === undefined) throw systemError('EINVAL', syscall);
      if (capability !== DRM_CLIENT_CAP_ASPECT_RATIO && !f.dev.model.modeset) throw systemError('EOPNOTSUPP', syscall);
      // writeback connectors are for atomic clients only
      if (capability === DRM_CLIENT_CAP_WRITEBACK_CONNECTORS && !(f.clientCaps.get(DRM_CLIENT_CAP_ATOMIC) ?? 0)) {
        throw systemError('EINVAL', syscall);
      }
      if (value > max) throw systemError('EINVAL', syscall);
      f.clientCaps.set(capability, value);
      // drm_setclientcap: ATOMIC sets UNIVERSAL_PLANES (and ASPECT_RATIO) to its value
      if (capability === DRM_CLIENT_CAP_ATOMIC) {
        f.clientCaps.set(DRM_CLIENT_CAP_UNIVERSAL_PLANES, value);
        f.clientCaps.set(DRM_CLIENT_CAP_ASPECT_RATIO, value);
      }
    },

    drmCreateDumb(fd, width, height, bpp) { // flags "must be zero" in the header, but no kernel checks it
      const syscall = 'ioctl(DRM_IOCTL_MODE_CREATE_DUMB)';
      const f = drmFile(m, fd, syscall, true);
      const fail = (): Error => systemError('EINVAL', syscall);
      // drm_mode_create_dumb(): 32-bit overflow checks
      if (width === 0 || height === 0 || bpp === 0) throw fail();
      if (bpp > U32_MAX - 8) throw fail();
      const cpp = Math.ceil(bpp / 8);
      if (cpp > Math.floor(U32_MAX / width)) throw fail();
      const stride = cpp * width;
      if (height > Math.floor(U32_MAX / stride)) throw fail();
      if (m.pageAlign(height * stride) > U32_MAX) throw fail(); // PAGE_ALIGN wraps to 0
      const d = f.dev.model;
      if (d.bpp32Only && bpp !== 32) throw fail(); // virtio_gpu_mode_dumb_create
      const pitch = d.bpp32Only ? width * 4 : Math.ceil((width * bpp) / 8); // drm_gem_shmem_dumb_create
      const size = m.pageAlign(pitch * height);
      const bo = new Bo(new Store(size), d.exporter, 'gem', f.dev);
      return { handle: addHandle(f, bo), pitch, size };
    },

    drmMapDumb(fd, handle) {
      const syscall = 'ioctl(DRM_IOCTL_MODE_MAP_DUMB)';
      const f = drmFile(m, fd, syscall, true);
      const bo = f.handles.get(handle);
      if (bo === undefined) throw systemError('ENOENT', syscall);
      if (bo.dev !== f.dev) throw systemError('EINVAL', syscall); // imported objects cannot be mapped here
      if (bo.mmapPgoff === null) {
        bo.mmapPgoff = f.dev.nextPgoff;
        f.dev.nextPgoff += Math.max(1, bo.pages.size / m.pageSize);
        f.dev.offsets.set(bo.mmapPgoff, bo);
      }
      return bo.mmapPgoff * m.pageSize;
    },

    drmDestroyDumb: (fd, handle) => gemClose(fd, handle, 'ioctl(DRM_IOCTL_MODE_DESTROY_DUMB)', true),

    drmGemClose: (fd, handle) => gemClose(fd, handle, 'ioctl(DRM_IOCTL_GEM_CLOSE)', false),

    drmPrimeHandleToFd(fd, handle, flags) {
      const syscall = 'ioctl(DRM_IOCTL_PRIME_HANDLE_TO_FD)';
      const f = drmFile(m, fd, syscall);
      const fl = flags | DRM_CLOEXEC; // close-on-exec whatever the caller passes, like the addon
      if (fl & ~(DRM_CLOEXEC | DRM_RDWR)) throw systemError('EINVAL', syscall);
      const bo = f.handles.get(handle);
      if (bo === undefined) throw systemError('ENOENT', syscall);
      let e = f.prime.get(bo);
      if (e === undefined) {
        // The object's cached dma-buf, whatever access mode its first export chose; else a new one.
        const dmabuf = bo.dmabuf ?? newDmabuf(m, bo, (fl & DRM_RDWR) ? O_RDWR : O_RDONLY);
        dmabuf.refs++;
        e = { handle, dmabuf };
        f.prime.set(bo, e);
      }
      return m.install(e.dmabuf, (fl & DRM_CLOEXEC) !== 0, syscall);
    },

    drmPrimeFdToHandle(fd, dmabuf) {
      const syscall = 'ioctl(DRM_IOCTL_PRIME_FD_TO_HANDLE)';
      const f = drmFile(m, fd, syscall);
      const d = m.get(dmabuf, syscall);
      if (d.kind !== 'dmabuf') throw systemError('EINVAL', syscall);
      const bo = d.bo;
      const e = f.prime.get(bo);
      if (e !== undefined) return e.handle;
      if (bo.dev !== f.dev && !f.dev.importForeign) throw systemError('ENODEV', syscall);
      const handle = addHandle(f, bo);
      d.refs++;
      f.prime.set(bo, { handle, dmabuf: d });
      return handle;
    },

    vgemFenceAttach(fd, handle, flags) {
      const syscall = 'ioctl(DRM_IOCTL_VGEM_FENCE_ATTACH)';
      const f = vgemFile(m, fd, syscall);
      if (flags & ~VGEM_FENCE_WRITE) throw systemError('EINVAL', syscall);
      const bo = f.handles.get(handle);
      if (bo === undefined) throw systemError('ENOENT', syscall);
      const write = (flags & VGEM_FENCE_WRITE) !== 0;
      if (bo.resv.pending(write).length > 0) throw systemError('EBUSY', syscall); // a conflicting fence
      const fence = new Fence('vgem', 'file', m.hub.context(), 1);
      bo.resv.add(fence, write);
      const id = f.nextFence++;
      f.fences.set(id, fence);
      const hub = m.hub;
      const timer = setTimeout(() => {
        m.timers.delete(timer);
        hub.signal(fence);
      }, VGEM_FENCE_TIMEOUT_MS);
      timer.unref();
      m.timers.add(timer);
      return id;
    },

    vgemFenceSignal(fd, fence) {
      const syscall = 'ioctl(DRM_IOCTL_VGEM_FENCE_SIGNAL)';
      const f = vgemFile(m, fd, syscall);
      const fe = f.fences.get(fence);
      if (fe === undefined) throw systemError('ENOENT', syscall);
      f.fences.delete(fence);
      if (fe.signaled) throw systemError('ETIMEDOUT', syscall); // it expired already
      m.hub.signal(fe);
    },
  };
}
