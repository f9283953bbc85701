/// <reference types="node" preserve="true" />
/**
 * Display: KMS modesetting on a DRM card node with the legacy ioctls (GETRESOURCES, GETCONNECTOR,
 * ADDFB2, SETCRTC, PAGE_FLIP), enough to put dumb buffers on a screen, e.g. vkms's virtual one in CI.
 *
 * Policy lives here (which connector, which mode, which CRTC, waiting for flips); the backend calls
 * are syscall-shaped. Modesetting needs the DRM master: the first file that opened the card, when no
 * display server holds it (the kernel answers EACCES otherwise).
 */
import type { Backend, DrmEvent, KmsConnector, KmsModeInfo } from './backend/types';
import {
  DRM_EVENT_FLIP_COMPLETE, DRM_FORMAT_ARGB8888, DRM_FORMAT_XRGB8888, DRM_MODE_CONNECTED, DRM_MODE_PAGE_FLIP_EVENT,
  DRM_MODE_TYPE_PREFERRED, POLLIN,
} from './constants';
import { Device } from './drm';
import { formats } from './formats';
import { dumbFramebuffer, Framebuffer } from './framebuffer';
import { quietly } from './lifecycle';
import {
  closedError, dmabufError, invalidArgType, invalidArgValue, stateError, validateInt, validateObject, withPath,
} from './errors';
import { waitReadable } from './wait';

export { DRM_FORMAT_ARGB8888, DRM_FORMAT_XRGB8888, Framebuffer };

/** The formats createFramebuffer() makes dumb-buffer framebuffers in. */
export type PixelFormat = 'XRGB8888' | 'ARGB8888';
const FORMATS: Readonly<Record<PixelFormat, number>> = { XRGB8888: DRM_FORMAT_XRGB8888, ARGB8888: DRM_FORMAT_ARGB8888 };

/** include/uapi/drm/drm_mode.h DRM_MODE_CONNECTOR_* names, as the kernel prints them ("Virtual-1"). */
const CONNECTOR_TYPES = ['Unknown', 'VGA', 'DVI-I', 'DVI-D', 'DVI-A', 'Composite', 'SVIDEO', 'LVDS', 'Component',
  'DIN', 'DP', 'HDMI-A', 'HDMI-B', 'TV', 'eDP', 'Virtual', 'DSI', 'DPI', 'Writeback', 'SPI', 'USB'];

const DEFAULT_FLIP_TIMEOUT_MS = 5000;

export interface DisplayMode {
  width: number;
  height: number;
  /** Hz, from the pixel clock and totals (2 decimals): 60 for 1024x768@60.004. */
  refresh: number;
  /** The kernel's name, e.g. '1024x768'. */
  name: string;
  preferred: boolean;
  /** The kernel's drm_mode_modeinfo, as SETCRTC takes it. */
  info: KmsModeInfo;
}

export interface ConnectorInfo {
  id: number;
  /** 'Virtual-1', 'HDMI-A-1', ... */
  name: string;
  connected: boolean;
  mmWidth: number;
  mmHeight: number;
  modes: DisplayMode[];
}

export interface DisplayOptions {
  /** Connector id or name ('Virtual-1'); default: the first connected one. */
  connector?: number | string;
  /** Mode name ('1024x768') or size; default: the connector's preferred mode (else its first). */
  mode?: string | { width: number; height: number; refresh?: number };
  /** CRTC id; default: the card's first CRTC. */
  crtc?: number;
}

export interface FramebufferOptions {
  /** Default: the mode's size. */
  width?: number;
  height?: number;
  /** Default 'XRGB8888'. */
  format?: PixelFormat;
}

export interface FlipOptions {
  /** Milliseconds to wait for the flip-complete event (default 5000). */
  timeout?: number;
}

export interface FlipResult {
  /** The CRTC's vblank counter at the flip. */
  sequence: number;
  /** When the flip completed: CLOCK_MONOTONIC in milliseconds (microsecond precision). */
  timestamp: number;
  crtcId: number;
}

function connectorName(c: KmsConnector): string {
  return `${CONNECTOR_TYPES[c.type] ?? `Type${c.type}`}-${c.typeId}`;
}

function refreshOf(m: KmsModeInfo): number {
  if (m.clock === 0 || m.htotal === 0 || m.vtotal === 0) return m.vrefresh;
  let hz = (m.clock * 1000) / (m.htotal * m.vtotal);
  if (m.flags & 0x10) hz *= 2; // DRM_MODE_FLAG_INTERLACE
  if (m.flags & 0x20) hz /= 2; // DRM_MODE_FLAG_DBLSCAN
  if (m.vscan > 1) hz /= m.vscan;
  return Math.round(hz * 100) / 100;
}

function toMode(info: KmsModeInfo): DisplayMode {
  return {
    width: info.hdisplay, height: info.vdisplay, refresh: refreshOf(info), name: info.name,
    preferred: (info.type & DRM_MODE_TYPE_PREFERRED) !== 0, info: { ...info },
  };
}

function toConnector(c: KmsConnector): ConnectorInfo {
  return {
    id: c.id, name: connectorName(c), connected: c.connection === DRM_MODE_CONNECTED, mmWidth: c.mmWidth,
    mmHeight: c.mmHeight, modes: c.modes.map(toMode),
  };
}

interface FlipWaiter {
  resolve: (e: DrmEvent) => void;
  reject: (e: unknown) => void;
  deadline: number;
  timeoutMs: number;
}

/**
 * The event queue of one DRM file: one reader per Device, so that several Displays (CRTCs) on the
 * same file each get their own flip events. It runs only while flips are pending.
 */
class EventPump {
  readonly #device: Device;
  readonly #waiters = new Map<number, FlipWaiter>();
  #nextUserData = 1;
  #running = false;

  constructor(device: Device) {
    this.#device = device;
  }

  nextUserData(): number {
    const u = this.#nextUserData;
    this.#nextUserData = u >= 0x7fffffff ? 1 : u + 1;
    return u;
  }

  expect(userData: number, timeoutMs: number): Promise<DrmEvent> {
    return new Promise<DrmEvent>((resolve, reject) => {
      this.#waiters.set(userData, { resolve, reject, deadline: Date.now() + timeoutMs, timeoutMs });
      if (!this.#running) void this.#run();
    });
  }

  async #run(): Promise<void> {
    this.#running = true;
    const backend = this.#device.backend;
    try {
      while (this.#waiters.size > 0) {
        const soonest = Math.min(...[...this.#waiters.values()].map((w) => w.deadline));
        const ready = await waitReadable(backend, () => this.#device.fd, POLLIN,
          { timeout: Math.max(0, Math.min(250, soonest - Date.now())) });
        if (ready) {
          let events: DrmEvent[];
          try {
            events = backend.drmReadEvents(this.#device.fd);
          } catch (e) {
            throw withPath(e, this.#device.path);
          }
          for (const e of events) {
            const w = e.type === DRM_EVENT_FLIP_COMPLETE ? this.#waiters.get(e.userData ?? -1) : undefined;
            if (w === undefined) continue; // not ours (another user of this file)
            this.#waiters.delete(e.userData!);
            w.resolve(e);
          }
        }
        const now = Date.now();
        for (const [u, w] of this.#waiters) {
          if (now < w.deadline) continue;
          this.#waiters.delete(u);
          w.reject(dmabufError('ERR_DMABUF_TIMEOUT', `no flip-complete event within ${w.timeoutMs} ms`,
            { path: this.#device.path, timeout: w.timeoutMs }));
        }
      }
    } catch (e) {
      const err = this.#device.closed ? closedError(`DRM device ${this.#device.path}`) : e;
      for (const w of this.#waiters.values()) w.reject(err);
      this.#waiters.clear();
    } finally {
      this.#running = false;
    }
  }
}

const pumps = new WeakMap<Device, EventPump>();
function pumpOf(device: Device): EventPump {
  let p = pumps.get(device);
  if (p === undefined) {
    p = new EventPump(device);
    pumps.set(device, p);
  }
  return p;
}

function kmsHint(device: Device, code: string | undefined): string | undefined {
  if (code === 'EACCES') {
    return device.kind === 'render' ? 'modesetting needs a card node, not a render node'
      : 'not the DRM master: another open file of this card (a display server?) holds it';
  }
  if (code === 'EOPNOTSUPP' || code === 'EINVAL') return `${device.driver} has no modesetting (KMS): no display to drive`;
  return undefined;
}

function pickMode(connector: ConnectorInfo, want: DisplayOptions['mode']): DisplayMode {
  const list = connector.modes;
  const names = (): string => [...new Set(list.map((m) => `${m.name}@${m.refresh}`))].join(', ');
  if (want === undefined) return list.find((m) => m.preferred) ?? list[0];
  if (typeof want === 'string') {
    const m = list.find((x) => x.name === want);
    if (m === undefined) throw invalidArgValue('options.mode', want, `is not a mode of ${connector.name} (${names()})`);
    return m;
  }
  const w = validateObject<{ width: number; height: number; refresh?: number }>(want, 'options.mode')!;
  validateInt(w.width, 'options.mode.width', 1, 0xffff);
  validateInt(w.height, 'options.mode.height', 1, 0xffff);
  if (w.refresh !== undefined && (typeof w.refresh !== 'number' || !(w.refresh > 0))) {
    throw invalidArgType('options.mode.refresh', 'a positive number', w.refresh);
  }
  const same = list.filter((m) => m.width === w.width && m.height === w.height);
  const m = w.refresh === undefined ? (same.find((x) => x.preferred) ?? same[0])
    : same.sort((a, b) => Math.abs(a.refresh - w.refresh!) - Math.abs(b.refresh - w.refresh!))[0];
  if (m === undefined) throw invalidArgValue('options.mode', want, `is not a mode of ${connector.name} (${names()})`);
  return m;
}

/** One connector driven by one CRTC of a card, with its framebuffers. */
export class Display implements Disposable {
  readonly device: Device;
  readonly connector: ConnectorInfo;
  readonly crtcId: number;
  readonly mode: DisplayMode;
  readonly #backend: Backend;
  readonly #framebuffers = new Set<Framebuffer>();
  #current: Framebuffer | null = null;
  #flipping = false;
  #closed = false;

  /** @internal use Display.open() */
  constructor(device: Device, connector: ConnectorInfo, crtcId: number, mode: DisplayMode) {
    this.device = device;
    this.connector = connector;
    this.crtcId = crtcId;
    this.mode = mode;
    this.#backend = device.backend;
  }

  /**
   * The connector's pipeline on an open card: GETRESOURCES, GETCONNECTOR of each connector (which
   * probes it), then the chosen connector, mode and CRTC. Nothing is shown until show().
   */
  static open(device: Device, options: DisplayOptions = {}): Display {
    if (!(device instanceof Device)) throw invalidArgType('device', 'an instance of Device', device);
    const o = validateObject<DisplayOptions>(options, 'options', true) ?? {};
    if (o.connector !== undefined && typeof o.connector !== 'string') validateInt(o.connector, 'options.connector', 1, 0xffffffff);
    if (o.crtc !== undefined) validateInt(o.crtc, 'options.crtc', 1, 0xffffffff);
    if (o.mode !== undefined && typeof o.mode !== 'string') validateObject(o.mode, 'options.mode');
    const backend = device.backend;
    const fd = device.fd;
    const call = <T>(fn: () => T): T => {
      try {
        return fn();
      } catch (e) {
        throw withPath(e, device.path, kmsHint(device, (e as { code?: string }).code));
      }
    };
    const res = call(() => backend.kmsGetResources(fd));
    let connector: ConnectorInfo | undefined;
    if (typeof o.connector === 'number') {
      const id = o.connector;
      connector = toConnector(call(() => backend.kmsGetConnector(fd, id)));
    } else {
      const all = res.connectors.map((id) => toConnector(call(() => backend.kmsGetConnector(fd, id))));
      connector = typeof o.connector === 'string' ? all.find((c) => c.name === o.connector)
        : all.find((c) => c.connected && c.modes.length > 0);
      if (connector === undefined) {
        const seen = all.map((c) => `${c.name} ${c.connected ? 'connected' : 'disconnected'}`).join(', ') || 'none';
        if (typeof o.connector === 'string') {
          throw dmabufError('ERR_DMABUF_NOT_FOUND', `${device.path} has no connector named ${o.connector} (connectors: ${seen})`,
            { path: device.path });
        }
        throw dmabufError('ERR_DMABUF_NO_DEVICE',
          `no connected connector with modes on ${device.path} (${device.driver}; connectors: ${seen})`, { path: device.path });
      }
    }
    if (connector.modes.length === 0) {
      throw dmabufError('ERR_DMABUF_NO_DEVICE', `connector ${connector.name} of ${device.path} has no modes`, { path: device.path });
    }
    const mode = pickMode(connector, o.mode);
    const crtcId = o.crtc ?? res.crtcs[0];
    if (crtcId === undefined) throw dmabufError('ERR_DMABUF_NO_DEVICE', `${device.path} (${device.driver}) has no CRTC`, { path: device.path });
    if (!res.crtcs.includes(crtcId)) {
      throw invalidArgValue('options.crtc', crtcId, `is not a CRTC of ${device.path} (${res.crtcs.join(', ')})`);
    }
    return new Display(device, connector, crtcId, mode);
  }

  get closed(): boolean {
    return this.#closed || this.device.closed;
  }

  /** The framebuffer on screen through show()/flip(), or null (RMFB of the shown one blanks the CRTC). */
  get current(): Framebuffer | null {
    return this.#current?.released === false ? this.#current : null;
  }

  /** Live framebuffers made by createFramebuffer() (the device's addFramebuffer ones are the caller's). */
  get framebuffers(): readonly Framebuffer[] {
    return [...this.#framebuffers];
  }

  #check(): void {
    if (this.closed) throw closedError('Display');
  }

  #call<T>(fn: () => T, hint?: (code: string | undefined) => string | undefined): T {
    try {
      return fn();
    } catch (e) {
      const code = (e as { code?: string }).code;
      throw withPath(e, this.device.path, hint?.(code) ?? (code === 'EACCES' ? kmsHint(this.device, code) : undefined));
    }
  }

  /** A dumb buffer (default: the mode's size, XRGB8888) registered as a framebuffer (ADDFB2). */
  createFramebuffer(options: FramebufferOptions = {}): Framebuffer {
    this.#check();
    const o = validateObject<FramebufferOptions>(options, 'options', true) ?? {};
    const width = o.width === undefined ? this.mode.width : validateInt(o.width, 'options.width', 1, 0xffff);
    const height = o.height === undefined ? this.mode.height : validateInt(o.height, 'options.height', 1, 0xffff);
    const formatName = o.format ?? 'XRGB8888';
    if (!Object.hasOwn(FORMATS, formatName)) {
      throw invalidArgValue('options.format', formatName, `must be one of ${Object.keys(FORMATS).map((f) => `'${f}'`).join(', ')}`);
    }
    const bo = this.device.createDumb({ width, height, bpp: 32 });
    const fb = dumbFramebuffer(this.device, bo, formats.get(formatName), (x) => this.#framebuffers.delete(x));
    this.#framebuffers.add(fb);
    return fb;
  }

  #own(fb: unknown, name: string): Framebuffer {
    if (!(fb instanceof Framebuffer)) throw invalidArgType(name, 'an instance of Framebuffer', fb);
    if (fb.device !== this.device) throw invalidArgValue(name, fb.id, `belongs to another device (${fb.device.path})`);
    if (fb.released) throw closedError('Framebuffer');
    return fb;
  }

  /**
   * SETCRTC: the mode on the connector, scanning out fb: one of createFramebuffer() or any
   * framebuffer of this device (device.addFramebuffer(frame)).
   */
  show(fb: Framebuffer): void {
    this.#check();
    const f = this.#own(fb, 'fb');
    this.#call(() => this.#backend.kmsSetCrtc(this.device.fd, this.crtcId, f.id, 0, 0, [this.connector.id], this.mode.info),
      (code) => code === 'ENOSPC' ? `framebuffer ${f.width}x${f.height} is smaller than the mode ${this.mode.name}`
        : code === 'EINVAL' ? `the CRTC's primary plane refused the framebuffer (${f.format}, ${f.width}x${f.height})`
          : undefined);
    this.#current = f;
  }

  /**
   * PAGE_FLIP to fb at the next vblank; resolves when the kernel reports the flip complete (the
   * event is waited for off the JS thread). One flip at a time per display (the kernel: EBUSY).
   */
  async flip(fb: Framebuffer, options: FlipOptions = {}): Promise<FlipResult> {
    this.#check();
    const f = this.#own(fb, 'fb');
    const o = validateObject<FlipOptions>(options, 'options', true) ?? {};
    const timeout = o.timeout === undefined ? DEFAULT_FLIP_TIMEOUT_MS : validateInt(o.timeout, 'options.timeout', 1, 2 ** 31 - 1);
    if (this.#flipping) throw stateError('a flip is already pending on this display; await it first');
    const pump = pumpOf(this.device);
    const userData = pump.nextUserData();
    const shown = this.current;
    this.#call(() => this.#backend.kmsPageFlip(this.device.fd, this.crtcId, f.id, DRM_MODE_PAGE_FLIP_EVENT, userData),
      (code) => (code === 'EBUSY' || code === 'EINVAL') && shown === null
        ? 'nothing is shown on this CRTC yet: show() a framebuffer first'
        : code === 'EINVAL' && shown !== null && shown.format !== f.format
          ? `a page flip cannot change the format (${shown.format} is shown, this one is ${f.format}): show() it instead`
          : undefined);
    this.#flipping = true;
    try {
      const e = await pump.expect(userData, timeout);
      if (!f.released) this.#current = f;
      return { sequence: e.sequence ?? 0, timestamp: (e.sec ?? 0) * 1000 + (e.usec ?? 0) / 1000, crtcId: e.crtcId ?? this.crtcId };
    } finally {
      this.#flipping = false;
    }
  }

  /** GETCRTC: what the CRTC scans out now (fbId 0 when off), as the kernel says. */
  state(): { fbId: number; mode: string | null; x: number; y: number } {
    this.#check();
    const c = this.#call(() => this.#backend.kmsGetCrtc(this.device.fd, this.crtcId));
    return { fbId: c.fbId, mode: c.mode?.name ?? null, x: c.x, y: c.y };
  }

  /** Release every framebuffer (which blanks the CRTC if one was shown). Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    let first: unknown;
    for (const fb of [...this.#framebuffers]) {
      try {
        fb.release();
      } catch (e) {
        first ??= e;
      }
    }
    this.#current = null;
    if (first !== undefined) throw first;
  }

  [Symbol.dispose](): void {
    quietly(() => this.close());
  }
}
