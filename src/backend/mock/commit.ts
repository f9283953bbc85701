/**
 * One atomic commit of the mock's vkms, from the request to its vblank: what drm_atomic_check_only
 * checks (with vkms's hooks, in the kernel's order: the list is atomic.ts's header), then the swap
 * of the device's state and the commit's "hardware" part (fences waited for, the vblank, the event,
 * the out-fences, the writeback job). atomic.ts builds requests from ATOMIC's properties, kms.ts from
 * SETCRTC, PAGE_FLIP and RMFB.
 */
import { DRM_EVENT_FLIP_COMPLETE } from '../../constants';
import type { ErrnoName } from '../../errno';
import { I32_MAX, systemError } from '../../errors';
import { compose, type ComposePlane, writeback } from './compose';
import type { Fence } from './fences';
import type { Machine } from './kernel';
import type { KmsFile, Pipe } from './kms';
import {
  type ConnectorObj, copyState, type Fb, getBlob, type KmsState, LUT_SIZE, modeRect, type PlaneState, putBlob, type Rect,
  sameMode,
} from './props';

/** DRM_PLANE_NO_SCALING */
const NO_SCALING = 1 << 16;

/** The fences, event and writeback job of a commit: what happens at its vblank. */
export interface Commit {
  state: KmsState;
  /** It touches the CRTC (a later NONBLOCK commit is EBUSY until its vblank). */
  crtc: boolean;
  waits: Fence[];
  events: { file: KmsFile; userData: number }[];
  outFence: Fence | null;
  wb: { fb: Fb; fence: Fence | null } | null;
  done: boolean;
  timer: NodeJS.Timeout | null;
  waiting: boolean;
}

/** A request being built: the new state and what the kernel's drm_atomic_state would know of it. */
export interface Request {
  old: KmsState;
  next: KmsState;
  planes: Set<number>;
  conns: Set<number>;
  crtc: boolean;
  allowModeset: boolean;
  /** The addon's slot of the CRTC's OUT_FENCE_PTR, of the writeback connector's. */
  crtcFenceSlot: number | null;
  wbFenceSlot: number | null;
  /** WRITEBACK_FB_ID set in this request (drm_writeback_set_fb made a job), with its fb. */
  wbJob: { conn: ConnectorObj; fb: Fb | null; fence: Fence | null } | null;
  inFences: Map<number, Fence[]>;
  colorMgmtChanged: boolean;
  /** prepare_signaling: the CRTC's event (legacy flip or PAGE_FLIP_EVENT / OUT_FENCE_PTR). */
  event: { file: KmsFile | null; userData: number } | null;
  outFence: Fence | null;
  /** Set by the check: the CRTC needs a modeset. */
  modeset: boolean;
  affectedConns: Set<number>;
}

export function newRequest(p: Pipe, allowModeset: boolean): Request {
  return { old: p.state, next: copyState(p.state), planes: new Set(), conns: new Set(), crtc: false, allowModeset,
    crtcFenceSlot: null, wbFenceSlot: null, wbJob: null, inFences: new Map(), colorMgmtChanged: false, event: null,
    outFence: null, modeset: false, affectedConns: new Set() };
}

/** drm_atomic_get_plane_state: the plane joins the request, and its current CRTC with it. */
export function touchPlane(r: Request, id: number): PlaneState {
  r.planes.add(id);
  if (r.old.planes.get(id)!.crtc !== 0) r.crtc = true;
  return r.next.planes.get(id)!;
}

export function touchConn(r: Request, id: number): void {
  r.conns.add(id);
  if (r.old.conns.get(id)!.crtc !== 0) r.crtc = true;
}

// ---- check ------------------------------------------------------------------------------------------------

/** A refusal of the check, made a systemError of the caller's syscall. */
export class CheckError extends Error {
  constructor(readonly errno: ErrnoName) {
    super(errno);
  }
}
export const fail = (e: ErrnoName = 'EINVAL'): never => { throw new CheckError(e); };

/** drm_calc_scale through drm_rect_calc_hscale's bounds: -1 out of bounds, else the scale. */
function scale(src: number, dst: number): number {
  if (src < 0 || dst < 0) return -1;
  if (dst === 0) return 0;
  const s = src > dst * 65536 ? Math.ceil(src / dst) : Math.floor(src / dst);
  return s < NO_SCALING || s > NO_SCALING ? -1 : s;
}

/** clip_scaled: the source length left when `clip` of dst's length is cut (rounded toward 1:1). */
function clipScaled(src: number, dst: number, clip: number): [number, number] {
  if (dst === 0) return [0, clip];
  const c = Math.min(clip, dst);
  const tmp = BigInt(src) * BigInt(dst - c);
  const d = BigInt(dst);
  const v = src < dst * 65536 ? (tmp + d - 1n) / d : tmp / d;
  return [Number(v), c];
}

/** drm_rect_rotate (inverse: drm_rect_rotate_inv) of r in a w×h space. */
function rotateRect(r: Rect, w: number, h: number, rotation: number, inverse: boolean): Rect {
  const reflect = (t: Rect): Rect => {
    let o = { ...t };
    if (rotation & 0x10) o = { ...o, x1: w - t.x2, x2: w - t.x1 };
    if (rotation & 0x20) o = { ...o, y1: h - t.y2, y2: h - t.y1 };
    return o;
  };
  const rot = (t: Rect): Rect => {
    switch (rotation & 0xf) {
      case 2: return inverse ? { x1: w - t.y2, x2: w - t.y1, y1: t.x1, y2: t.x2 } : { x1: t.y1, x2: t.y2, y1: w - t.x2, y2: w - t.x1 };
      case 4: return { x1: w - t.x2, x2: w - t.x1, y1: h - t.y2, y2: h - t.y1 };
      case 8: return inverse ? { x1: t.y1, x2: t.y2, y1: h - t.x2, y2: h - t.x1 } : { x1: h - t.y2, x2: h - t.y1, y1: t.x1, y2: t.x2 };
      default: return t;
    }
  };
  return inverse ? reflect(rot(r)) : rot(reflect(r));
}

/** drm_atomic_helper_check_plane_state with vkms's arguments (no scaling, can position, can update disabled). */
function checkPlaneState(st: PlaneState, r: Request): void {
  const fb = st.fb!;
  let src: Rect = { x1: st.srcX, y1: st.srcY, x2: st.srcX + st.srcW, y2: st.srcY + st.srcH };
  const dst: Rect = { x1: st.crtcX, y1: st.crtcY, x2: st.crtcX + st.crtcW, y2: st.crtcY + st.crtcH };
  const fw = fb.width * 65536, fh = fb.height * 65536;
  src = rotateRect(src, fw, fh, st.rotation, false);
  if (scale(src.x2 - src.x1, dst.x2 - dst.x1) < 0 || scale(src.y2 - src.y1, dst.y2 - dst.y1) < 0) fail('ERANGE');
  const clip = r.next.crtc.enable ? modeRect(r.next.crtc.mode) : { x1: 0, y1: 0, x2: 0, y2: 0 };
  // drm_rect_clip_scaled
  let diff = clip.x1 - dst.x1;
  if (diff > 0) {
    const [w, c] = clipScaled(src.x2 - src.x1, dst.x2 - dst.x1, diff);
    src.x1 = src.x2 - w;
    dst.x1 += c;
  }
  diff = clip.y1 - dst.y1;
  if (diff > 0) {
    const [h, c] = clipScaled(src.y2 - src.y1, dst.y2 - dst.y1, diff);
    src.y1 = src.y2 - h;
    dst.y1 += c;
  }
  diff = dst.x2 - clip.x2;
  if (diff > 0) {
    const [w, c] = clipScaled(src.x2 - src.x1, dst.x2 - dst.x1, diff);
    src.x2 = src.x1 + w;
    dst.x2 -= c;
  }
  diff = dst.y2 - clip.y2;
  if (diff > 0) {
    const [h, c] = clipScaled(src.y2 - src.y1, dst.y2 - dst.y1, diff);
    src.y2 = src.y1 + h;
    dst.y2 -= c;
  }
  st.visible = dst.x2 > dst.x1 && dst.y2 > dst.y1;
  st.src = rotateRect(src, fw, fh, st.rotation, true);
  st.dst = dst;
}

/** drm_atomic_check_only, with vkms's hooks, in the kernel's order (the file header lists the checks). */
export function check(p: Pipe, r: Request): void {
  const o = p.o;
  const crtcId = o.crtc.id;
  const { old, next } = r;
  // drm_atomic_plane_check
  for (const plane of o.planes) {
    if (!r.planes.has(plane.id)) continue;
    const st = next.planes.get(plane.id)!;
    if (st.crtc !== 0 && st.fb === null) fail();
    if (st.fb !== null && st.crtc === 0) fail();
    if (st.crtc === 0) continue;
    if (!p.formats.includes(st.fb!.format) || st.fb!.modifier !== 0n) fail();
    if (st.crtcW > I32_MAX || st.crtcX > I32_MAX - st.crtcW || st.crtcH > I32_MAX || st.crtcY > I32_MAX - st.crtcH) fail('ERANGE');
    const fw = (st.fb!.width * 65536) >>> 0, fh = (st.fb!.height * 65536) >>> 0;
    if (st.srcW > fw || st.srcX > fw - st.srcW || st.srcH > fh || st.srcY > fh - st.srcH) fail('ENOSPC');
  }
  // drm_atomic_crtc_check
  if (r.crtc) {
    if (next.crtc.active && !next.crtc.enable) fail();
    if (r.event !== null && !next.crtc.active && !old.crtc.active) fail();
  }
  // drm_atomic_connector_check
  if (r.wbJob !== null) {
    const wbState = next.conns.get(r.wbJob.conn.id)!;
    if (r.wbJob.fb !== null && wbState.crtc === 0) fail();
    if (r.wbJob.fb !== null && !next.crtc.active) fail();
    if (r.wbJob.fb === null) {
      if (r.wbJob.fence !== null) fail();
      r.wbJob = null;
    }
  }
  // vkms_atomic_check
  if (r.crtc && next.crtc.gammaLut !== null && r.colorMgmtChanged && next.crtc.gammaLut.data.length / 8 > LUT_SIZE) fail();
  // drm_atomic_helper_check_modeset
  let modeset = false;
  if (r.crtc) {
    const c = next.crtc, oc = old.crtc;
    const enableChanged = c.enable !== oc.enable;
    const modeChanged = !sameMode(oc.mode, c.mode) || enableChanged;
    let connectorsChanged = enableChanged;
    const hasConnectors = [...next.conns.values()].some((s) => s.crtc === crtcId);
    if (c.enable !== hasConnectors) fail();
    for (const conn of o.connectors) {
      if (!r.conns.has(conn.id)) continue;
      // update_connector_routing
      const s = next.conns.get(conn.id)!;
      const before = old.conns.get(conn.id)!;
      if (before.crtc !== s.crtc) connectorsChanged = true;
      const encoder = s.crtc === 0 ? 0 : conn.encoder.id;
      if (encoder !== s.encoder) {
        if (s.crtc !== 0) connectorsChanged = true;
        s.encoder = encoder;
      }
      writebackCheck(conn, r);
    }
    modeset = modeChanged || connectorsChanged || c.active !== oc.active;
    if (modeset) {
      // drm_atomic_add_affected_connectors / _planes, then drm_atomic_check_valid_clones
      for (const conn of o.connectors) {
        if (old.conns.get(conn.id)!.crtc === crtcId || next.conns.get(conn.id)!.crtc === crtcId) r.affectedConns.add(conn.id);
      }
      for (const plane of o.planes) if (old.planes.get(plane.id)!.crtc === crtcId) r.planes.add(plane.id);
      let mask = 0;
      for (const conn of o.connectors) if (next.conns.get(conn.id)!.crtc === crtcId) mask |= 1 << conn.encoder.index;
      for (const e of o.encoders) {
        if (!(mask & (1 << e.index)) || e.possibleClones === 0) continue;
        if ((mask & e.possibleClones) !== mask) fail();
      }
    }
  } else {
    for (const conn of o.connectors) if (r.conns.has(conn.id)) writebackCheck(conn, r);
  }
  r.modeset = modeset;
  // drm_atomic_helper_check_planes: vkms_plane_atomic_check, then vkms_crtc_atomic_check (nothing to refuse)
  for (const plane of o.planes) {
    if (!r.planes.has(plane.id)) continue;
    const st = next.planes.get(plane.id)!;
    if (st.fb === null) {
      st.visible = false;
      continue;
    }
    r.crtc = true; // drm_atomic_get_crtc_state of the plane's CRTC
    checkPlaneState(st, r);
  }
  if (modeset && !r.allowModeset) fail();
}

/** vkms_wb_atomic_check: a writeback framebuffer of the mode's size, in a writeback format. */
function writebackCheck(conn: ConnectorObj, r: Request): void {
  if (conn.wb === null || r.wbJob === null || r.wbJob.conn !== conn || r.wbJob.fb === null) return;
  if (r.next.conns.get(conn.id)!.crtc === 0) return;
  const m = r.next.crtc.mode;
  const fb = r.wbJob.fb;
  if (m === null || fb.width !== m.hdisplay || fb.height !== m.vdisplay) fail();
  if (!conn.wb.formats.includes(fb.format)) fail();
}

// ---- commit ---------------------------------------------------------------------------------------------

/** The frame time of a mode (drm_calc_timestamping_constants' framedur), in ms; 60 Hz without one. */
function frameMs(p: Pipe): number {
  const m = p.state.crtc.mode;
  if (m === null || m.clock === 0) return 1000 / 60;
  return (m.htotal * m.vtotal) / m.clock;
}

/** drm_atomic_helper_swap_state and what follows it: the state is the request's, its vblank is queued. */
export function apply(m: Machine, p: Pipe, r: Request, blocking: boolean): void {
  const o = p.o;
  const { old, next } = r;
  // the state's references to blobs
  if (next.crtc.modeBlob !== old.crtc.modeBlob) {
    getBlob(next.crtc.modeBlob);
    putBlob(o, old.crtc.modeBlob);
  }
  if (next.crtc.gammaLut !== old.crtc.gammaLut) {
    getBlob(next.crtc.gammaLut);
    putBlob(o, old.crtc.gammaLut);
  }
  p.state = next;
  // drm_atomic_helper_update_legacy_modeset_state: DPMS of the connectors a modeset touched
  for (const conn of o.connectors) {
    if (!r.conns.has(conn.id) && !r.affectedConns.has(conn.id)) continue;
    const crtc = next.conns.get(conn.id)!.crtc;
    if ((crtc === 0 && old.conns.get(conn.id)!.crtc !== 0) || (crtc !== 0 && r.modeset)) {
      conn.dpms = crtc !== 0 && next.crtc.active ? 0 : 3;
    }
  }
  // drm_atomic_helper_prepare_planes: the fences a commit waits for, explicit and implicit
  const waits: Fence[] = [];
  for (const id of r.planes) {
    const st = next.planes.get(id)!;
    waits.push(...(r.inFences.get(id) ?? []));
    if (st.fb !== null && !r.inFences.has(id)) for (const pl of st.fb.planes) waits.push(...pl.mem.resv.pending(false));
  }
  const c: Commit = {
    state: copyState(next), crtc: r.crtc, waits, done: false, timer: null, waiting: false,
    events: r.event?.file ? [{ file: r.event.file, userData: r.event.userData }] : [], outFence: r.outFence,
    wb: r.wbJob?.fb ? { fb: r.wbJob.fb, fence: r.wbJob.fence } : null,
  };
  p.queue.push(c);
  if (blocking && p.queue.every((q) => q.done || q.waits.every((f) => f.signaled))) {
    for (const q of [...p.queue]) vblank(m, p, q);
  }
  pump(m, p);
}

/** The oldest pending commit: wait for its fences, then for a vblank. */
function pump(m: Machine, p: Pipe): void {
  while (p.queue.length > 0 && p.queue[0]!.done) p.queue.shift();
  const c = p.queue[0];
  if (c === undefined || c.timer !== null || c.waiting) return;
  const hub = m.hub;
  const ready = (): boolean => c.waits.every((f) => f.signaled);
  const schedule = (): void => {
    if (c.done || hub !== m.hub) return; // flushed by a blocking commit, or the machine rebooted
    const t = setTimeout(() => {
      m.timers.delete(t);
      c.timer = null;
      if (!c.done) vblank(m, p, c);
      pump(m, p);
    }, frameMs(p));
    c.timer = t;
    m.timers.add(t);
  };
  if (ready()) {
    schedule();
    return;
  }
  c.waiting = true;
  void hub.waitUntil(ready, -1).then(() => {
    c.waiting = false;
    schedule();
  });
}

/** The commit's vblank: the count moves on, its event is queued, its fences signal, writeback follows. */
function vblank(m: Machine, p: Pipe, c: Commit): void {
  if (c.done) return;
  c.done = true;
  if (c.timer !== null) {
    clearTimeout(c.timer);
    m.timers.delete(c.timer);
    c.timer = null;
  }
  if (c.crtc) p.sequence += 1;
  const now = process.hrtime.bigint();
  for (const e of c.events) {
    m.kms.queueEvent(e.file, {
      type: DRM_EVENT_FLIP_COMPLETE, length: 32, userData: e.userData, sec: Number(now / 1_000_000_000n),
      usec: Number((now % 1_000_000_000n) / 1000n), sequence: p.sequence, crtcId: p.o.crtc.id,
    });
  }
  if (c.outFence !== null) m.hub.signal(c.outFence);
  if (c.events.length > 0) m.hub.wake();
  const wb = c.wb;
  if (wb === null) return;
  // vkms's composer runs off the vblank: the picture lands on a later turn of the event loop
  const hub = m.hub;
  const t = setTimeout(() => {
    m.timers.delete(t);
    if (hub !== m.hub) return;
    const mode = c.state.crtc.mode!;
    writeback(compose(composeInput(p, c.state)), mode.hdisplay, mode.vdisplay, wb.fb);
    if (wb.fence !== null) m.hub.signal(wb.fence);
  }, 0);
  m.timers.add(t);
}

/** What the composer reads of a state: the mode, the CRTC's visible planes in plane order, colours. */
export function composeInput(p: Pipe, s: KmsState): Parameters<typeof compose>[0] {
  const mode = s.crtc.mode!;
  const planes: ComposePlane[] = [];
  for (const plane of p.o.planes) {
    const st = s.planes.get(plane.id)!;
    if (st.crtc !== p.o.crtc.id || !st.visible || st.fb === null) continue;
    // 6.12's vkms shows ROTATE_270 | REFLECT_X as ROTATE_270 alone (seen in the VM; 7.2 reflects)
    const rotation = !p.o.v7 && (st.rotation & 0xf) === 8 ? st.rotation & ~0x10 : st.rotation;
    planes.push({ fb: st.fb, src: st.src, dst: st.dst, rotation });
  }
  return { width: mode.hdisplay, height: mode.vdisplay, planes, background: p.o.v7 ? s.crtc.background : 0xffffn << 48n,
    gamma: s.crtc.gammaLut?.data ?? null };
}

/** stall_checks for a NONBLOCK commit: the CRTC's previous commit has not reached its vblank. */
export function busy(p: Pipe): boolean {
  return p.queue.some((c) => !c.done && c.crtc);
}

/** Runs check (its refusals as systemErrors of `syscall`), then applies unless testOnly. */
export function commit(m: Machine, p: Pipe, r: Request, syscall: string, o: { testOnly?: boolean; nonblock?: boolean } = {}): void {
  try {
    check(p, r);
    if (o.testOnly) return;
    if (o.nonblock && r.crtc && busy(p)) throw new CheckError('EBUSY');
  } catch (e) {
    if (e instanceof CheckError) throw systemError(e.errno, syscall);
    throw e;
  }
  apply(m, p, r, !o.nonblock);
}
