/// <reference types="node" preserve="true" />
/**
 * KMS for the mock kernel, modelled on vkms (drivers/gpu/drm/vkms) as Debian's 6.12 and 7.2 kernels
 * answer: one CRTC (gamma 256), an always-connected Virtual connector with DMT modes (1024x768
 * preferred, listed first like drm_mode_sort does), vkms's writeback connector (listed to clients with
 * DRM_CLIENT_CAP_WRITEBACK_CONNECTORS only), two encoders, framebuffers owned by the file that added
 * them, and the kernel's errno for each refusal (checked in the VM): unknown object ENOENT, no DRM
 * master EACCES, flip on an off CRTC or while a commit is pending EBUSY, framebuffer smaller than the
 * mode ENOSPC, a driver without modesetting (vgem) EOPNOTSUPP, render nodes EACCES.
 *
 * vkms is an atomic driver, and so is this model: one atomic state per device (props.ts), which the
 * atomic ioctls (atomic.ts) and the legacy ones here read and change alike. SETCRTC is a blocking
 * commit of the primary plane, the mode and the connectors (drm_atomic_helper_set_config), PAGE_FLIP
 * a non-blocking commit of the primary plane with a flip-complete event one vblank (~16.7 ms) later
 * (drm_atomic_helper_page_flip), RMFB takes the framebuffer off every plane showing it
 * (atomic_remove_fb: the CRTC stays enabled, GETCRTC reports fb 0 and the mode), and GETCRTC,
 * GETPLANE, GETCONNECTOR and GETENCODER report the state, whichever call made it.
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
 * Devices of other modesetting drivers (virtio_gpu) get the same objects without the writeback
 * connector. Not modelled: CRC, vblank events and WAIT_VBLANK, hotplug, leases, the 29 modes of the
 * Virtual connector's 34 that are left out, fbdev restoring its mode when the last master closes;
 * formats outside the library's table and the 16-bit ones below are unknown to the model's ADDFB2
 * (EINVAL).
 */
import {
  DRM_CLIENT_CAP_UNIVERSAL_PLANES, DRM_CLIENT_CAP_WRITEBACK_CONNECTORS, DRM_MODE_CONNECTED,
  DRM_MODE_CONNECTOR_WRITEBACK, DRM_MODE_FB_INTERLACED, DRM_MODE_FB_MODIFIERS, DRM_MODE_FLAG_NHSYNC, DRM_MODE_FLAG_NVSYNC,
  DRM_MODE_FLAG_PHSYNC, DRM_MODE_FLAG_PVSYNC, DRM_MODE_PAGE_FLIP_EVENT, DRM_MODE_PAGE_FLIP_FLAGS, DRM_MODE_SUBPIXEL_UNKNOWN,
  DRM_MODE_TYPE_DRIVER, DRM_MODE_TYPE_PREFERRED,
} from '../../constants';
import type { ErrnoName } from '../../errno';
import { systemError } from '../../errors';
import { formats, fourccValue, type PlaneFormat } from '../../formats';
import type { DrmEvent, KmsConnector, KmsCrtc, KmsModeInfo, KmsOps, KmsPlane, KmsResources } from '../types';
import type { AtomicOps } from './atomic';
import { apply, type Commit, commit, newRequest, touchConn, touchPlane } from './commit';
import { drmFile } from './drm';
import { type Driver, kernelAtLeast, type Machine } from './kernel';
import {
  type Fb, type FbPlane, initialState, type KmsState, LUT_SIZE, modeToBytes, modeValid, newBlob, type Objects, putBlob,
  vkmsObjects,
} from './props';

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
const U32_MAX = 0xffffffff;
const DRM_FORMAT_MOD_LINEAR = 0n;
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
  ['1920x1080', 148500, 1920, 2008, 2052, 2200, 1080, 1084, 1089, 1125, N_SYNC], // negative syncs, as vkms lists it
  ['1280x1024', 108000, 1280, 1328, 1440, 1688, 1024, 1025, 1028, 1066, P_SYNC],
  ['800x600', 40000, 800, 840, 968, 1056, 600, 601, 605, 628, P_SYNC],
  ['640x480', 25175, 640, 656, 752, 800, 480, 490, 492, 525, N_SYNC],
];

function modeInfo(m: (typeof MODES)[number], preferred: boolean): KmsModeInfo {
  const [name, clock, hdisplay, hsyncStart, hsyncEnd, htotal, vdisplay, vsyncStart, vsyncEnd, vtotal, flags] = m;
  return {
    clock, hdisplay, hsyncStart, hsyncEnd, htotal, hskew: 0, vdisplay, vsyncStart, vsyncEnd, vtotal, vscan: 0,
    vrefresh: Math.round((clock * 1000) / (htotal * vtotal)), flags,
    type: DRM_MODE_TYPE_DRIVER | (preferred ? DRM_MODE_TYPE_PREFERRED : 0), name,
  };
}

/** The parts of a DRM file the model reads: its GEM handles (objects), node kind, client caps. */
export interface KmsFile {
  readonly render: boolean;
  readonly handles: ReadonlyMap<number, FbPlane['mem']>;
  readonly clientCaps: ReadonlyMap<number, number>;
}

/** One device: its objects, their atomic state, the framebuffers and the commits not yet at their vblank. */
export interface Pipe {
  modeset: boolean;
  /** The driver's name, which its fences carry. */
  driver: string;
  master: KmsFile | null;
  fbs: Map<number, Fb>;
  o: Objects;
  state: KmsState;
  formats: number[];
  /** The CRTC's vblank count (what flip events report). */
  sequence: number;
  queue: Commit[];
}

/** drm_file's event_space: 4 KiB of events may wait to be read. */
const EVENT_SPACE = 4096;
const EVENT_SIZE = 32;

/** drm_mode_vrefresh */
function vrefresh(m: KmsModeInfo): number {
  let num = m.clock * 1000, den = m.htotal * m.vtotal;
  if (m.flags & 0x10) num *= 2; // DRM_MODE_FLAG_INTERLACE
  if (m.flags & 0x20) den *= 2; // DRM_MODE_FLAG_DBLSCAN
  if (m.vscan > 1) den *= m.vscan;
  return den === 0 ? 0 : Math.floor((num + Math.floor(den / 2)) / den);
}

/** The mode the kernel keeps of one from userspace (drm_mode_convert_umode), as it reports it back. */
function kernelMode(m: KmsModeInfo): KmsModeInfo {
  return {
    clock: m.clock, hdisplay: m.hdisplay, hsyncStart: m.hsyncStart, hsyncEnd: m.hsyncEnd, htotal: m.htotal,
    hskew: m.hskew, vdisplay: m.vdisplay, vsyncStart: m.vsyncStart, vsyncEnd: m.vsyncEnd, vtotal: m.vtotal,
    vscan: m.vscan, vrefresh: vrefresh(m), flags: m.flags, type: m.type & 0x68, name: m.name.slice(0, 31),
  };
}

export class KmsModel {
  readonly #host: Machine;
  readonly #pipes = new WeakMap<object, Pipe>();
  readonly #events = new WeakMap<KmsFile, DrmEvent[]>();
  readonly #space = new WeakMap<KmsFile, number>();
  #virtualConnectors = 0;

  constructor(host: Machine) {
    this.#host = host;
  }

  /** A device of the machine, in creation order (connector type ids are numbered across devices). */
  addDevice(dev: object, modeset: boolean, driver: string): void {
    const v7 = kernelAtLeast(this.#host.o.kernel, 6, 13);
    const formats = (v7 ? VKMS_FORMATS_7_2 : VKMS_FORMATS_6_12).map(fourccValue);
    const typeId = modeset ? ++this.#virtualConnectors : 0;
    const o = vkmsObjects(v7, driver === 'vkms', formats, typeId, () => this.#host.hub.context());
    this.#pipes.set(dev, { modeset, driver, master: null, fbs: new Map(), o, state: initialState(o), formats, sequence: 0,
      queue: [] });
  }

  /** drm_master_open: the first file opened on a card node with no master becomes the master. */
  opened(dev: object, f: KmsFile): void {
    const p = this.#pipe(dev);
    if (!f.render && p.master === null) p.master = f;
  }

  /**
   * drm_release: the file's framebuffers go (off every plane showing them), its blobs lose their
   * file's reference, its events are dropped and mastership goes.
   */
  released(dev: object, f: KmsFile): void {
    const p = this.#pipe(dev);
    for (const fb of [...p.fbs.values()]) if (fb.owner === f) this.#removeFb(p, fb);
    for (const b of [...p.o.blobs.values()]) {
      if (b.owner !== f) continue;
      b.owner = null;
      putBlob(p.o, b);
    }
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
  enter(dev: object, f: KmsFile, syscall: string, master = false): Pipe {
    const p = this.#pipe(dev);
    if (f.render) throw systemError('EACCES', syscall); // no DRM_RENDER_ALLOW
    if (master && p.master !== f) throw systemError('EACCES', syscall);
    if (!p.modeset) throw systemError('EOPNOTSUPP', syscall);
    return p;
  }

  /** drm_event_reserve_init: room for one event in the file's queue, else ENOMEM. */
  reserveEvent(f: KmsFile, syscall: string): void {
    const left = this.#space.get(f) ?? EVENT_SPACE;
    if (left < EVENT_SIZE) throw systemError('ENOMEM', syscall);
    this.#space.set(f, left - EVENT_SIZE);
  }

  unreserveEvent(f: KmsFile): void {
    this.#space.set(f, (this.#space.get(f) ?? EVENT_SPACE) + EVENT_SIZE);
  }

  queueEvent(f: KmsFile, e: DrmEvent): void {
    const q = this.#events.get(f) ?? [];
    q.push(e);
    this.#events.set(f, q);
  }

  /** atomic_remove_fb: the framebuffer off every plane that shows it, then gone. */
  #removeFb(p: Pipe, fb: Fb): void {
    const r = newRequest(p, false);
    for (const [id, st] of p.state.planes) {
      if (st.fb !== fb) continue;
      const n = touchPlane(r, id);
      n.fb = null;
      n.crtc = 0;
    }
    if (r.planes.size > 0) {
      try {
        commit(this.#host, p, r, 'ioctl(DRM_IOCTL_MODE_RMFB)');
      } catch {
        // the kernel retries disabling the CRTCs, which vkms always takes
        r.next.crtc = { ...r.next.crtc, active: false, enable: false, mode: null, modeBlob: null };
        for (const c of r.next.conns.values()) {
          c.crtc = 0;
          c.encoder = 0;
        }
        apply(this.#host, p, r, true);
      }
    }
    p.fbs.delete(fb.id);
  }

  #modes(): KmsModeInfo[] {
    return MODES.map((m, i) => modeInfo(m, i === 0));
  }

  getResources(dev: object, f: KmsFile): KmsResources {
    const p = this.enter(dev, f, 'ioctl(DRM_IOCTL_MODE_GETRESOURCES)');
    const wb = (f.clientCaps.get(DRM_CLIENT_CAP_WRITEBACK_CONNECTORS) ?? 0) > 0;
    return {
      fbs: [...p.fbs.values()].filter((fb) => fb.owner === f).map((fb) => fb.id).reverse(), // the file's list, newest first
      crtcs: [p.o.crtc.id],
      connectors: p.o.connectors.filter((c) => wb || c.type !== DRM_MODE_CONNECTOR_WRITEBACK).map((c) => c.id),
      encoders: p.o.encoders.map((e) => e.id),
      minWidth: MIN_SIZE, maxWidth: MAX_SIZE, minHeight: MIN_SIZE, maxHeight: MAX_SIZE,
    };
  }

  getConnector(dev: object, f: KmsFile, id: number): KmsConnector {
    const p = this.enter(dev, f, 'ioctl(DRM_IOCTL_MODE_GETCONNECTOR)');
    const c = p.o.connectors.find((x) => x.id === id);
    if (c === undefined) throw systemError('ENOENT', 'ioctl(DRM_IOCTL_MODE_GETCONNECTOR)');
    return {
      id, type: c.type, typeId: c.typeId, connection: DRM_MODE_CONNECTED, mmWidth: 0, mmHeight: 0,
      subpixel: DRM_MODE_SUBPIXEL_UNKNOWN, encoderId: p.state.conns.get(id)!.encoder, encoders: [c.encoder.id],
      modes: this.#modes(),
    };
  }

  getCrtc(dev: object, f: KmsFile, id: number): KmsCrtc {
    const p = this.enter(dev, f, 'ioctl(DRM_IOCTL_MODE_GETCRTC)');
    if (id !== p.o.crtc.id) throw systemError('ENOENT', 'ioctl(DRM_IOCTL_MODE_GETCRTC)');
    const primary = p.state.planes.get(p.o.planes[0]!.id)!;
    const on = primary.crtc === id;
    const c = p.state.crtc;
    return {
      id, fbId: on && primary.fb ? primary.fb.id : 0, x: on ? Math.floor(primary.srcX / 65536) : 0,
      y: on ? Math.floor(primary.srcY / 65536) : 0, gammaSize: LUT_SIZE, mode: c.enable && c.mode ? kernelMode(c.mode) : null,
    };
  }

  getPlaneResources(dev: object, f: KmsFile): number[] {
    const p = this.enter(dev, f, 'ioctl(DRM_IOCTL_MODE_GETPLANERESOURCES)');
    const universal = (f.clientCaps.get(DRM_CLIENT_CAP_UNIVERSAL_PLANES) ?? 0) !== 0;
    return p.o.planes.filter((x) => universal || x.type === 'overlay').map((x) => x.id);
  }

  getPlane(dev: object, f: KmsFile, id: number): KmsPlane {
    const p = this.enter(dev, f, 'ioctl(DRM_IOCTL_MODE_GETPLANE)');
    const st = p.state.planes.get(id);
    if (st === undefined) throw systemError('ENOENT', 'ioctl(DRM_IOCTL_MODE_GETPLANE)');
    return { id, crtcId: st.crtc, fbId: st.fb?.id ?? 0, possibleCrtcs: 1, gammaSize: 0, formats: [...p.formats] };
  }

  addFb2(dev: object, f: KmsFile, width: number, height: number, format: number, handles: readonly number[],
    pitches: readonly number[], offsets: readonly number[], modifiers: readonly bigint[], flags: number): number {
    const syscall = 'ioctl(DRM_IOCTL_MODE_ADDFB2)';
    const p = this.enter(dev, f, syscall);
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
    const fbPlanes: FbPlane[] = [];
    for (let i = 0; i < planes.length; i++) {
      const bo = f.handles.get(at(handles, i, 0));
      if (bo === undefined) throw fail('ENOENT');
      // the helper's plane size rounds down where framebuffer_check rounds up
      const w = Math.floor(width / planes[i]!.hsub), h = Math.floor(height / planes[i]!.vsub);
      const minSize = (h - 1) * at(pitches, i, 0) + w * planes[i]!.cpp + at(offsets, i, 0);
      if (bo.pages.size < minSize) throw fail();
      fbPlanes.push({ mem: bo, pitch: at(pitches, i, 0), offset: at(offsets, i, 0) });
    }
    const id = p.o.nextId++;
    p.fbs.set(id, { id, owner: f, width, height, format, modifier: DRM_FORMAT_MOD_LINEAR, planes: fbPlanes });
    return id;
  }

  rmFb(dev: object, f: KmsFile, id: number): void {
    const p = this.enter(dev, f, 'ioctl(DRM_IOCTL_MODE_RMFB)');
    const fb = p.fbs.get(id);
    if (fb === undefined || fb.owner !== f) throw systemError('ENOENT', 'ioctl(DRM_IOCTL_MODE_RMFB)');
    this.#removeFb(p, fb);
  }

  /** drm_mode_setcrtc through drm_atomic_helper_set_config: one blocking commit. */
  setCrtc(dev: object, f: KmsFile, crtcId: number, fbId: number, x: number, y: number,
    connectorIds: readonly number[], mode: KmsModeInfo | null): void {
    const syscall = 'ioctl(DRM_IOCTL_MODE_SETCRTC)';
    const p = this.enter(dev, f, syscall, true);
    const fail = (e: ErrnoName): Error => systemError(e, syscall);
    if ((x | y) & 0xffff0000 || x > 0xffff || y > 0xffff) throw fail('ERANGE');
    if (crtcId !== p.o.crtc.id) throw fail('ENOENT');
    const primary = p.o.planes[0]!;
    let fb: Fb | undefined;
    if (mode !== null) {
      if (fbId === FB_KEEP) {
        const cur = p.state.planes.get(primary.id)!;
        fb = cur.crtc === crtcId && cur.fb !== null ? cur.fb : undefined;
        if (fb === undefined) throw fail('EINVAL');
      } else {
        fb = p.fbs.get(fbId);
        if (fb === undefined) throw fail('ENOENT');
      }
      if (!modeValid(mode)) throw fail('EINVAL');
      if (mode.hdisplay > fb.width || mode.vdisplay > fb.height || x > fb.width - mode.hdisplay || y > fb.height - mode.vdisplay) {
        throw fail('ENOSPC'); // drm_crtc_check_viewport
      }
    }
    if (connectorIds.length === 0 && mode !== null) throw fail('EINVAL');
    if (connectorIds.length > 0 && (mode === null || fb === undefined)) throw fail('EINVAL');
    if (connectorIds.some((c) => !p.o.connectors.some((k) => k.id === c))) throw fail('ENOENT');
    const r = newRequest(p, true);
    r.crtc = true;
    const c = r.next.crtc;
    const st = touchPlane(r, primary.id);
    if (mode === null) {
      Object.assign(c, { mode: null, modeBlob: null, enable: false, active: false });
      st.crtc = 0;
      st.fb = null;
    } else {
      const km = kernelMode(mode);
      // drm_atomic_set_mode_for_crtc: a new blob of the mode unless it is the one set
      if (c.mode === null || JSON.stringify(kernelMode(c.mode)) !== JSON.stringify(km)) {
        const blob = newBlob(p.o, modeToBytes(km), null);
        blob.refs = 0; // the state's reference only (taken when the commit applies)
        Object.assign(c, { mode: km, modeBlob: blob });
      }
      c.enable = true;
      c.active = true;
      const rot90 = (st.rotation & 0xa) !== 0;
      Object.assign(st, { crtc: crtcId, fb, crtcX: 0, crtcY: 0, crtcW: mode.hdisplay, crtcH: mode.vdisplay,
        srcX: x * 65536, srcY: y * 65536, srcW: (rot90 ? mode.vdisplay : mode.hdisplay) * 65536,
        srcH: (rot90 ? mode.hdisplay : mode.vdisplay) * 65536 });
    }
    // update_output_state: the listed connectors on the CRTC, every other one off it
    for (const conn of p.o.connectors) {
      const s = r.next.conns.get(conn.id)!;
      const listed = connectorIds.includes(conn.id);
      if (s.crtc !== crtcId && !listed) continue;
      touchConn(r, conn.id);
      s.crtc = listed ? crtcId : 0;
    }
    try {
      commit(this.#host, p, r, syscall);
    } finally {
      const b = r.next.crtc.modeBlob;
      if (b !== null && b.refs <= 0) p.o.blobs.delete(b.id); // a refused commit's blob goes with it
    }
  }

  /** drm_mode_page_flip_ioctl through drm_atomic_helper_page_flip: a non-blocking commit with an event. */
  pageFlip(dev: object, f: KmsFile, crtcId: number, fbId: number, flags: number, userData: number): void {
    const syscall = 'ioctl(DRM_IOCTL_MODE_PAGE_FLIP)';
    const p = this.enter(dev, f, syscall, true);
    const fail = (e: ErrnoName): Error => systemError(e, syscall);
    if (flags & ~DRM_MODE_PAGE_FLIP_FLAGS) throw fail('EINVAL');
    if (flags & ~DRM_MODE_PAGE_FLIP_EVENT) throw fail('EINVAL'); // vkms: no async flips, no flip targets
    if (crtcId !== p.o.crtc.id) throw fail('ENOENT');
    const primary = p.o.planes[0]!;
    const cur = p.state.planes.get(primary.id)!;
    if (cur.fb === null) throw fail('EBUSY'); // nothing scanned out: "presumably due to a hotplug"
    const fb = p.fbs.get(fbId);
    if (fb === undefined) throw fail('ENOENT');
    const fw = fb.width * 65536, fh = fb.height * 65536; // drm_framebuffer_check_src_coords
    if (cur.srcW > fw || cur.srcX > fw - cur.srcW || cur.srcH > fh || cur.srcY > fh - cur.srcH) throw fail('ENOSPC');
    if (fb.format !== cur.fb.format) throw fail('EINVAL');
    const event = (flags & DRM_MODE_PAGE_FLIP_EVENT) !== 0;
    if (event) this.reserveEvent(f, syscall);
    try {
      const r = newRequest(p, false);
      r.crtc = true;
      if (event) r.event = { file: f, userData };
      const st = touchPlane(r, primary.id);
      st.crtc = crtcId;
      st.fb = fb;
      if (!r.next.crtc.active) throw fail('EINVAL');
      commit(this.#host, p, r, syscall, { nonblock: true });
    } catch (e) {
      if (event) this.unreserveEvent(f);
      throw e;
    }
  }

  readEvents(f: KmsFile): DrmEvent[] {
    const q = this.#events.get(f) ?? [];
    this.#events.set(f, []);
    this.#space.set(f, (this.#space.get(f) ?? EVENT_SPACE) + EVENT_SIZE * q.length);
    return q;
  }
}

/** The KMS model; before drmDriver, which adds the devices to it. */
export const kmsDriver: Driver = (m) => {
  m.kms = new KmsModel(m);
};

/** The KMS ioctls and the event queue of the DRM files (native/kms.cc), answered by the Machine's model. */
export function kmsOps(m: Machine): Omit<KmsOps, keyof AtomicOps> {
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
