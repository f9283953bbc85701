/// <reference types="node" preserve="true" />
/**
 * KMS for the mock kernel, modelled on vkms (drivers/gpu/drm/vkms) as Debian's 6.12 and 7.2 kernels
 * answer: one CRTC (gamma 256), one always-connected Virtual connector with DMT modes (1024x768
 * preferred, listed first like drm_mode_sort does), framebuffers owned by the file that added them,
 * SETCRTC, PAGE_FLIP with a flip-complete event one vblank (~16.7 ms) later, RMFB of the shown
 * framebuffer leaving the CRTC enabled with no fb (GETCRTC: fb 0, mode kept), and the kernel's errno
 * for each refusal (checked in the VM): unknown object ENOENT, no DRM master EACCES, flip on an off
 * CRTC or while a flip is pending EBUSY, framebuffer smaller than the mode ENOSPC, a driver without
 * modesetting (vgem) EOPNOTSUPP, render nodes EACCES.
 *
 * Planes (GETPLANERESOURCES, GETPLANE) are vkms's with enable_overlay and enable_cursor: a primary,
 * the overlays and a cursor, all taking the same formats, which depend on the kernel version (the
 * `kernel` option): 6.12 takes five RGB formats, 7.2 adds RGB/BGR orders, 4:2:0/4:2:2/4:4:4 YUV and
 * more (both lists as the VM's kernels report them; kernels between are given 7.2's list). Without
 * DRM_CLIENT_CAP_UNIVERSAL_PLANES only the overlays are listed. ADDFB2 checks what
 * drm_internal_framebuffer_create, framebuffer_check and drm_gem_fb_init_with_funcs check, plane by
 * plane: the format and modifier (linear only) against the planes, handles, pitches, offsets, and
 * each plane's rows inside its object; EINVAL, ENOENT and ERANGE as the kernel gives them.
 *
 * Not modelled: atomic ioctls, GETENCODER, properties, the writeback connector, CRC; formats outside
 * the library's table and the 16-bit ones below are unknown to the model's ADDFB2 (EINVAL).
 */
import {
  DRM_CLIENT_CAP_UNIVERSAL_PLANES, DRM_EVENT_FLIP_COMPLETE, DRM_MODE_CONNECTED,
  DRM_MODE_CONNECTOR_VIRTUAL, DRM_MODE_FB_INTERLACED, DRM_MODE_FB_MODIFIERS, DRM_MODE_FLAG_NHSYNC, DRM_MODE_FLAG_NVSYNC,
  DRM_MODE_FLAG_PHSYNC, DRM_MODE_FLAG_PVSYNC, DRM_MODE_PAGE_FLIP_EVENT, DRM_MODE_PAGE_FLIP_FLAGS, DRM_MODE_SUBPIXEL_UNKNOWN,
  DRM_MODE_TYPE_DRIVER, DRM_MODE_TYPE_PREFERRED,
} from '../../constants';
import type { ErrnoName } from '../../errno';
import { systemError } from '../../errors';
import { formats, fourccValue, type PlaneFormat } from '../../formats';
import type { DrmEvent, KmsConnector, KmsCrtc, KmsModeInfo, KmsOps, KmsPlane, KmsResources } from '../types';
import { drmFile } from './drm';
import { Fence, type FenceHub } from './fences';
import { type Driver, kernelAtLeast, type Machine } from './kernel';

/** The planes of a format as the DRM core describes it (drm_format_info), or undefined if unknown. */
function formatPlanes(fourcc: number): readonly PlaneFormat[] | undefined {
  return formats.find(fourcc)?.planes ?? EXTRA_FORMATS.get(fourcc);
}
const RGB64: readonly PlaneFormat[] = [{ cpp: 8, hsub: 1, vsub: 1 }];
const P01X: readonly PlaneFormat[] = [{ cpp: 2, hsub: 1, vsub: 1 }, { cpp: 4, hsub: 2, vsub: 2 }];
/** Formats vkms takes that the library's table does not describe. */
const EXTRA_FORMATS = new Map<number, readonly PlaneFormat[]>([
  ...['XR48', 'XB48', 'AR48', 'AB48'].map((c): [number, readonly PlaneFormat[]] => [fourccValue(c), RGB64]),
  ...['P010', 'P012', 'P016'].map((c): [number, readonly PlaneFormat[]] => [fourccValue(c), P01X]),
]);
/** vkms_formats[] as GETPLANE reports it on 6.12 and on 7.2. */
const VKMS_FORMATS_6_12 = ['AR24', 'XR24', 'XR48', 'AR48', 'RG16'];
const VKMS_FORMATS_7_2 = ['AR24', 'AB24', 'BA24', 'RA24', 'XR24', 'XB24', 'RG24', 'BG24', 'XR48', 'XB48', 'AR48', 'AB48',
  'RG16', 'BG16', 'NV12', 'NV16', 'NV24', 'NV21', 'NV61', 'NV42', 'YU12', 'YU16', 'YU24', 'YV12', 'YV16', 'YV24', 'P010',
  'P012', 'P016', 'R1  ', 'R2  ', 'R4  ', 'R8  '];
/** vkms_output_init with enable_overlay (NUM_OVERLAY_PLANES) and enable_cursor. */
const OVERLAY_PLANES = 8;
const U32_MAX = 0xffffffff;
const DRM_FORMAT_MOD_LINEAR = 0n;
/** One vblank of the 60 Hz virtual display. */
const VBLANK_NS = 16_666_667n;
/** vkms_drv.h: XRES_MIN/YRES_MIN, XRES_MAX/YRES_MAX */
const MAX_SIZE = 8192, MIN_SIZE = 10;
/** SETCRTC's fb_id -1: keep the current framebuffer. */
const FB_KEEP = 0xffffffff;
const P_SYNC = DRM_MODE_FLAG_PHSYNC | DRM_MODE_FLAG_PVSYNC;
const N_SYNC = DRM_MODE_FLAG_NHSYNC | DRM_MODE_FLAG_NVSYNC;

/** VESA DMT timings, as drm_add_modes_noedid() gives them (a subset of vkms's 34). */
const MODES: [string, number, number, number, number, number, number, number, number, number, number][] = [
  // name, clock, hdisplay, hsync_start, hsync_end, htotal, vdisplay, vsync_start, vsync_end, vtotal, flags
  ['1024x768', 65000, 1024, 1048, 1184, 1344, 768, 771, 777, 806, N_SYNC],
  ['1920x1080', 148500, 1920, 2008, 2052, 2200, 1080, 1084, 1089, 1125, P_SYNC],
  ['1280x1024', 108000, 1280, 1328, 1440, 1688, 1024, 1025, 1028, 1066, P_SYNC],
  ['800x600', 40000, 800, 840, 968, 1056, 600, 601, 605, 628, P_SYNC],
  ['640x480', 25175, 640, 656, 752, 800, 480, 490, 492, 525, N_SYNC],
];

/** What SETCRTC keeps of a mode: struct drm_mode_modeinfo's fields (the name cut to 31 characters). */
function copyMode(m: KmsModeInfo): KmsModeInfo {
  return {
    clock: m.clock, hdisplay: m.hdisplay, hsyncStart: m.hsyncStart, hsyncEnd: m.hsyncEnd, htotal: m.htotal,
    hskew: m.hskew, vdisplay: m.vdisplay, vsyncStart: m.vsyncStart, vsyncEnd: m.vsyncEnd, vtotal: m.vtotal,
    vscan: m.vscan, vrefresh: m.vrefresh, flags: m.flags, type: m.type, name: m.name.slice(0, 31),
  };
}

function modeInfo(m: (typeof MODES)[number], preferred: boolean): KmsModeInfo {
  const [name, clock, hdisplay, hsyncStart, hsyncEnd, htotal, vdisplay, vsyncStart, vsyncEnd, vtotal, flags] = m;
  return {
    clock, hdisplay, hsyncStart, hsyncEnd, htotal, hskew: 0, vdisplay, vsyncStart, vsyncEnd, vtotal, vscan: 0,
    vrefresh: Math.round((clock * 1000) / (htotal * vtotal)), flags,
    type: DRM_MODE_TYPE_DRIVER | (preferred ? DRM_MODE_TYPE_PREFERRED : 0), name,
  };
}

/** What the mock kernel lends the model. */
export interface KmsHost {
  readonly hub: FenceHub;
  readonly timers: Set<NodeJS.Timeout>;
}

/** The parts of a DRM file the model reads: its GEM handles (object sizes), node kind, client caps. */
export interface KmsFile {
  readonly render: boolean;
  readonly handles: Map<number, { pages: { size: number } }>;
  readonly clientCaps: ReadonlyMap<number, number>;
}

interface Fb {
  id: number;
  owner: KmsFile;
  width: number;
  height: number;
  format: number;
}

interface Plane {
  id: number;
  type: 'primary' | 'overlay' | 'cursor';
}

interface Pipe {
  modeset: boolean;
  master: KmsFile | null;
  fbs: Map<number, Fb>;
  nextId: number;
  crtcId: number;
  connectorId: number;
  encoderIds: number[];
  connectorTypeId: number;
  /** The CRTC: scanned-out framebuffer (0 = off), mode, connectors */
  fbId: number;
  mode: KmsModeInfo | null;
  sequence: number;
  flipPending: boolean;
  planes: Plane[];
  formats: number[];
}

export class KmsModel {
  readonly #host: KmsHost & { readonly o: { readonly kernel: string } };
  readonly #pipes = new WeakMap<object, Pipe>();
  readonly #events = new WeakMap<KmsFile, DrmEvent[]>();
  #virtualConnectors = 0;

  constructor(host: KmsHost & { readonly o: { readonly kernel: string } }) {
    this.#host = host;
  }

  /** A device of the machine, in creation order (connector type ids are numbered across devices). */
  addDevice(dev: object, modeset: boolean): void {
    const p: Pipe = {
      modeset, master: null, fbs: new Map(), nextId: 42, crtcId: 38, connectorId: 39, encoderIds: [40, 41],
      connectorTypeId: modeset ? ++this.#virtualConnectors : 0, fbId: 0, mode: null, sequence: 0, flipPending: false,
      // ids below the CRTC's: the planes are created first (vkms_output_init)
      planes: !modeset ? [] : [{ id: 20, type: 'primary' },
        ...Array.from({ length: OVERLAY_PLANES }, (_, i): Plane => ({ id: 21 + i, type: 'overlay' })),
        { id: 21 + OVERLAY_PLANES, type: 'cursor' }],
      formats: (kernelAtLeast(this.#host.o.kernel, 6, 13) ? VKMS_FORMATS_7_2 : VKMS_FORMATS_6_12).map(fourccValue),
    };
    this.#pipes.set(dev, p);
  }

  /** drm_master_open: the first file opened on a card node with no master becomes the master. */
  opened(dev: object, f: KmsFile): void {
    const p = this.#pipe(dev);
    if (!f.render && p.master === null) p.master = f;
  }

  /** drm_release: the file's framebuffers go (a shown one turns the CRTC off), mastership is dropped. */
  released(dev: object, f: KmsFile): void {
    const p = this.#pipe(dev);
    for (const fb of [...p.fbs.values()]) if (fb.owner === f) this.#removeFb(p, fb);
    if (p.master === f) p.master = null;
    this.#events.delete(f);
  }

  hasEvents(f: KmsFile): boolean {
    return (this.#events.get(f)?.length ?? 0) > 0;
  }

  #pipe(dev: object): Pipe {
    const p = this.#pipes.get(dev);
    if (p === undefined) throw new Error('mock kms: unknown device');
    return p;
  }

  /** drm_ioctl_permit + the DRIVER_MODESET check every KMS ioctl starts with. */
  #enter(dev: object, f: KmsFile, syscall: string, master = false): Pipe {
    const p = this.#pipe(dev);
    if (f.render) throw systemError('EACCES', syscall); // no DRM_RENDER_ALLOW
    if (master && p.master !== f) throw systemError('EACCES', syscall);
    if (!p.modeset) throw systemError('EOPNOTSUPP', syscall);
    return p;
  }

  #removeFb(p: Pipe, fb: Fb): void {
    p.fbs.delete(fb.id);
    // drm_framebuffer_remove → atomic_remove_fb: the primary plane loses its fb and the CRTC goes
    // inactive, but stays enabled: GETCRTC still reports the mode (fb 0)
    if (p.fbId === fb.id) p.fbId = 0;
  }

  #modes(): KmsModeInfo[] {
    return MODES.map((m, i) => modeInfo(m, i === 0));
  }

  getResources(dev: object, f: KmsFile): KmsResources {
    const p = this.#enter(dev, f, 'ioctl(DRM_IOCTL_MODE_GETRESOURCES)');
    return {
      fbs: [...p.fbs.values()].filter((fb) => fb.owner === f).map((fb) => fb.id).reverse(), // the file's list, newest first
      crtcs: [p.crtcId], connectors: [p.connectorId], encoders: [...p.encoderIds],
      minWidth: MIN_SIZE, maxWidth: MAX_SIZE, minHeight: MIN_SIZE, maxHeight: MAX_SIZE,
    };
  }

  getConnector(dev: object, f: KmsFile, id: number): KmsConnector {
    const p = this.#enter(dev, f, 'ioctl(DRM_IOCTL_MODE_GETCONNECTOR)');
    if (id !== p.connectorId) throw systemError('ENOENT', 'ioctl(DRM_IOCTL_MODE_GETCONNECTOR)');
    return {
      id, type: DRM_MODE_CONNECTOR_VIRTUAL, typeId: p.connectorTypeId, connection: DRM_MODE_CONNECTED, mmWidth: 0,
      mmHeight: 0, subpixel: DRM_MODE_SUBPIXEL_UNKNOWN,
      encoderId: p.mode !== null ? p.encoderIds[0] : 0, encoders: [p.encoderIds[0]], modes: this.#modes(),
    };
  }

  getCrtc(dev: object, f: KmsFile, id: number): KmsCrtc {
    const p = this.#enter(dev, f, 'ioctl(DRM_IOCTL_MODE_GETCRTC)');
    if (id !== p.crtcId) throw systemError('ENOENT', 'ioctl(DRM_IOCTL_MODE_GETCRTC)');
    return { id, fbId: p.fbId, x: 0, y: 0, gammaSize: 256, mode: p.mode === null ? null : { ...p.mode } };
  }

  getPlaneResources(dev: object, f: KmsFile): number[] {
    const p = this.#enter(dev, f, 'ioctl(DRM_IOCTL_MODE_GETPLANERESOURCES)');
    const universal = (f.clientCaps.get(DRM_CLIENT_CAP_UNIVERSAL_PLANES) ?? 0) !== 0;
    return p.planes.filter((x) => universal || x.type === 'overlay').map((x) => x.id);
  }

  getPlane(dev: object, f: KmsFile, id: number): KmsPlane {
    const p = this.#enter(dev, f, 'ioctl(DRM_IOCTL_MODE_GETPLANE)');
    const plane = p.planes.find((x) => x.id === id);
    if (plane === undefined) throw systemError('ENOENT', 'ioctl(DRM_IOCTL_MODE_GETPLANE)');
    const shown = plane.type === 'primary' && p.fbId !== 0;
    return {
      id, crtcId: shown ? p.crtcId : 0, fbId: shown ? p.fbId : 0, possibleCrtcs: 1, gammaSize: 0, formats: [...p.formats],
    };
  }

  addFb2(dev: object, f: KmsFile, width: number, height: number, format: number, handles: readonly number[],
    pitches: readonly number[], offsets: readonly number[], modifiers: readonly bigint[], flags: number): number {
    const syscall = 'ioctl(DRM_IOCTL_MODE_ADDFB2)';
    const p = this.#enter(dev, f, syscall);
    const fail = (e: ErrnoName = 'EINVAL'): Error => systemError(e, syscall);
    const at = <T>(list: readonly T[], i: number, zero: T): T => list[i] ?? zero;
    // drm_internal_framebuffer_create
    if (flags & ~(DRM_MODE_FB_INTERLACED | DRM_MODE_FB_MODIFIERS)) throw fail();
    if (width < MIN_SIZE || height < MIN_SIZE || width > MAX_SIZE || height > MAX_SIZE) throw fail();
    // framebuffer_check
    const planes = formatPlanes(format);
    if (planes === undefined) throw fail();
    const withModifiers = (flags & DRM_MODE_FB_MODIFIERS) !== 0;
    const rows = planes.map((pl) => ({ w: Math.ceil(width / pl.hsub), h: Math.ceil(height / pl.vsub) }));
    for (let i = 0; i < planes.length; i++) {
      const minPitch = rows[i]!.w * planes[i]!.cpp;
      const pitch = at(pitches, i, 0), modifier = at(modifiers, i, 0n);
      if (at(handles, i, 0) === 0) throw fail();
      if (minPitch > U32_MAX) throw fail('ERANGE');
      if (rows[i]!.h * pitch + at(offsets, i, 0) > U32_MAX) throw fail('ERANGE');
      if (pitch < minPitch) throw fail();
      if (modifier !== 0n && !withModifiers) throw fail();
      if (withModifiers && modifier !== at(modifiers, 0, 0n)) throw fail();
    }
    for (let i = planes.length; i < 4; i++) {
      if (at(modifiers, i, 0n) !== 0n) throw fail();
      if (!withModifiers) continue; // pre-modifier userspace did not clear the unused planes
      if (at(handles, i, 0) !== 0 || at(pitches, i, 0) !== 0 || at(offsets, i, 0) !== 0) throw fail();
    }
    // drm_gem_fb_init_with_funcs: some plane takes the format with that modifier (vkms: linear only)
    if (!p.formats.includes(format) || at(modifiers, 0, 0n) !== DRM_FORMAT_MOD_LINEAR) throw fail();
    for (let i = 0; i < planes.length; i++) {
      const bo = f.handles.get(at(handles, i, 0));
      if (bo === undefined) throw fail('ENOENT');
      // the helper's plane size rounds down where framebuffer_check rounds up
      const w = Math.floor(width / planes[i]!.hsub), h = Math.floor(height / planes[i]!.vsub);
      const minSize = (h - 1) * at(pitches, i, 0) + w * planes[i]!.cpp + at(offsets, i, 0);
      if (bo.pages.size < minSize) throw fail();
    }
    const id = p.nextId++;
    p.fbs.set(id, { id, owner: f, width, height, format });
    return id;
  }

  rmFb(dev: object, f: KmsFile, id: number): void {
    const p = this.#enter(dev, f, 'ioctl(DRM_IOCTL_MODE_RMFB)');
    const fb = p.fbs.get(id);
    if (fb === undefined || fb.owner !== f) throw systemError('ENOENT', 'ioctl(DRM_IOCTL_MODE_RMFB)');
    this.#removeFb(p, fb);
  }

  setCrtc(dev: object, f: KmsFile, crtcId: number, fbId: number, x: number, y: number,
    connectorIds: readonly number[], mode: KmsModeInfo | null): void {
    const syscall = 'ioctl(DRM_IOCTL_MODE_SETCRTC)';
    const p = this.#enter(dev, f, syscall, true);
    const fail = (e: ErrnoName): Error => systemError(e, syscall);
    if ((x | y) & 0xffff0000 || x > 0xffff || y > 0xffff) throw fail('ERANGE');
    if (crtcId !== p.crtcId) throw fail('ENOENT');
    let fb: Fb | undefined;
    if (mode !== null) {
      if (fbId === FB_KEEP) {
        fb = p.fbs.get(p.fbId);
        if (fb === undefined) throw fail('EINVAL');
      } else {
        fb = p.fbs.get(fbId);
        if (fb === undefined) throw fail('ENOENT');
      }
      const m = mode;
      if (m.clock === 0 || m.hdisplay === 0 || m.vdisplay === 0 || !(m.hdisplay <= m.hsyncStart && m.hsyncStart <= m.hsyncEnd &&
        m.hsyncEnd <= m.htotal && m.vdisplay <= m.vsyncStart && m.vsyncStart <= m.vsyncEnd && m.vsyncEnd <= m.vtotal)) {
        throw fail('EINVAL');
      }
      if (m.hdisplay > fb.width || m.vdisplay > fb.height || x > fb.width - m.hdisplay || y > fb.height - m.vdisplay) {
        throw fail('ENOSPC'); // drm_crtc_check_viewport
      }
    }
    if (connectorIds.length === 0 && mode !== null) throw fail('EINVAL');
    if (connectorIds.length > 0 && (mode === null || fb === undefined)) throw fail('EINVAL');
    if (connectorIds.some((c) => c !== p.connectorId)) throw fail('ENOENT');
    p.fbId = fb?.id ?? 0;
    p.mode = mode === null ? null : copyMode(mode);
  }

  pageFlip(dev: object, f: KmsFile, crtcId: number, fbId: number, flags: number, userData: number): void {
    const syscall = 'ioctl(DRM_IOCTL_MODE_PAGE_FLIP)';
    const p = this.#enter(dev, f, syscall, true);
    const fail = (e: ErrnoName): Error => systemError(e, syscall);
    if (flags & ~DRM_MODE_PAGE_FLIP_FLAGS) throw fail('EINVAL');
    if (flags & ~DRM_MODE_PAGE_FLIP_EVENT) throw fail('EINVAL'); // vkms: no async flips, no flip targets
    if (crtcId !== p.crtcId) throw fail('ENOENT');
    if (p.fbId === 0 || p.mode === null) throw fail('EBUSY'); // nothing scanned out: "presumably due to a hotplug"
    const fb = p.fbs.get(fbId);
    if (fb === undefined) throw fail('ENOENT');
    const cur = p.fbs.get(p.fbId)!;
    if (p.mode.hdisplay > fb.width || p.mode.vdisplay > fb.height) throw fail('ENOSPC');
    if (fb.format !== cur.format) throw fail('EINVAL');
    if (p.flipPending) throw fail('EBUSY');
    p.flipPending = true;
    const host = this.#host;
    const timer = setTimeout(() => {
      host.timers.delete(timer);
      p.flipPending = false;
      if (!p.fbs.has(fb.id)) return; // removed meanwhile: the commit is gone with it
      p.fbId = fb.id;
      p.sequence += 1;
      if (flags & DRM_MODE_PAGE_FLIP_EVENT) {
        const now = process.hrtime.bigint();
        const q = this.#events.get(f) ?? [];
        q.push({
          type: DRM_EVENT_FLIP_COMPLETE, length: 32, userData, sec: Number(now / 1_000_000_000n),
          usec: Number((now % 1_000_000_000n) / 1000n), sequence: p.sequence, crtcId: p.crtcId,
        });
        this.#events.set(f, q);
        host.hub.signal(new Fence('vkms', 'vblank', 0, p.sequence)); // wakes pollAsync waiters
      }
    }, Number(VBLANK_NS / 1_000_000n));
    host.timers.add(timer);
  }

  readEvents(f: KmsFile): DrmEvent[] {
    const q = this.#events.get(f) ?? [];
    this.#events.set(f, []);
    return q;
  }
}

/** The KMS model; before drmDriver, which adds the devices to it. */
export const kmsDriver: Driver = (m) => {
  m.kms = new KmsModel(m);
};

/** The KMS ioctls and the event queue of the DRM files (native/kms.cc), answered by the Machine's model. */
export function kmsOps(m: Machine): KmsOps {
  return {
    kmsGetResources(fd) {
      const f = drmFile(m, fd, 'ioctl(DRM_IOCTL_MODE_GETRESOURCES)');
      return m.kms.getResources(f.dev, f);
    },

    kmsGetConnector(fd, connectorId) {
      const f = drmFile(m, fd, 'ioctl(DRM_IOCTL_MODE_GETCONNECTOR)');
      return m.kms.getConnector(f.dev, f, connectorId);
    },

    kmsGetCrtc(fd, crtcId) {
      const f = drmFile(m, fd, 'ioctl(DRM_IOCTL_MODE_GETCRTC)');
      return m.kms.getCrtc(f.dev, f, crtcId);
    },

    kmsSetCrtc(fd, crtcId, fbId, x, y, connectorIds, mode) {
      const f = drmFile(m, fd, 'ioctl(DRM_IOCTL_MODE_SETCRTC)');
      m.kms.setCrtc(f.dev, f, crtcId, fbId, x, y, connectorIds, mode);
    },

    kmsGetPlaneResources(fd) {
      const f = drmFile(m, fd, 'ioctl(DRM_IOCTL_MODE_GETPLANERESOURCES)');
      return m.kms.getPlaneResources(f.dev, f);
    },

    kmsGetPlane(fd, planeId) {
      const f = drmFile(m, fd, 'ioctl(DRM_IOCTL_MODE_GETPLANE)');
      return m.kms.getPlane(f.dev, f, planeId);
    },

    kmsAddFb2(fd, width, height, format, handles, pitches, offsets, modifiers, flags) {
      const f = drmFile(m, fd, 'ioctl(DRM_IOCTL_MODE_ADDFB2)');
      return m.kms.addFb2(f.dev, f, width, height, format, handles, pitches, offsets, modifiers, flags);
    },

    kmsRmFb(fd, fbId) {
      const f = drmFile(m, fd, 'ioctl(DRM_IOCTL_MODE_RMFB)');
      m.kms.rmFb(f.dev, f, fbId);
    },

    kmsPageFlip(fd, crtcId, fbId, flags, userData) {
      const f = drmFile(m, fd, 'ioctl(DRM_IOCTL_MODE_PAGE_FLIP)');
      m.kms.pageFlip(f.dev, f, crtcId, fbId, flags, userData);
    },

    drmReadEvents(fd) {
      const f = m.get(fd, 'read');
      if (f.kind !== 'drm') throw systemError('EINVAL', 'read'); // no read op, or not an event queue
      return m.kms.readEvents(f);
    },
  };
}
