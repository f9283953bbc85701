/// <reference types="node" preserve="true" />
/**
 * Display: KMS modesetting on a DRM card node. The legacy ioctls (SETCRTC, PAGE_FLIP) put one
 * full-screen framebuffer on a CRTC; with `{ atomic: true }` the Display is an atomic client: every
 * plane of its CRTC (primary, overlays, cursor) with its formats, modifiers and properties, commits
 * tested before they are made (TEST_ONLY), explicit fences in (IN_FENCE_FD) and out (OUT_FENCE_PTR),
 * and the writeback connector, which writes the composed picture into a frame.
 *
 * Policy lives here (which connector, mode, encoder and CRTC, when to wait); the backend calls are
 * syscall-shaped. Modesetting needs the DRM master: the first file that opened the card, when no
 * display server holds it (the kernel answers EACCES otherwise).
 */
import type { Backend, DrmEvent, KmsConnector, KmsEncoder, KmsModeInfo, KmsObjectProperties, KmsResources } from './backend/types';
import {
  DRM_CLIENT_CAP_ATOMIC, DRM_CLIENT_CAP_UNIVERSAL_PLANES, DRM_CLIENT_CAP_WRITEBACK_CONNECTORS, DRM_EVENT_FLIP_COMPLETE,
  DRM_FORMAT_ARGB8888, DRM_FORMAT_XRGB8888, DRM_MODE_ATOMIC_ALLOW_MODESET, DRM_MODE_ATOMIC_NONBLOCK,
  DRM_MODE_ATOMIC_TEST_ONLY, DRM_MODE_CONNECTED, DRM_MODE_CONNECTOR_WRITEBACK, DRM_MODE_OBJECT_CONNECTOR,
  DRM_MODE_OBJECT_CRTC, DRM_MODE_OBJECT_PLANE, DRM_MODE_PAGE_FLIP_EVENT, DRM_MODE_TYPE_PREFERRED, POLLIN,
} from './constants';
import { Device } from './drm';
import { formats, fourccString } from './formats';
import { Frame } from './frame';
import { dumbFramebuffer, Framebuffer } from './framebuffer';
import {
  decodeInFormats, encodeValue, modeBlob, readProperties, type PropertyInfo, type PropertyTable, type PropertyValue,
} from './kmsprops';
import { quietly } from './lifecycle';
import {
  closedError, dmabufError, I32_MAX, I32_MIN, invalidArgType, invalidArgValue, stateError, validateBoolean,
  validateInt, validateObject, withPath,
} from './errors';
import { SyncFile } from './syncfile';
import { waitReadable } from './wait';

export type { PropertyInfo, PropertyTable, PropertyType, PropertyValue } from './kmsprops';

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
  /**
   * Connector id or name ('Virtual-1', 'Writeback-1'); default: the first connected one that is not
   * a writeback connector.
   */
  connector?: number | string;
  /** Mode name ('1024x768') or size; default: the connector's preferred mode (else its first). */
  mode?: string | { width: number; height: number; refresh?: number };
  /**
   * CRTC id; default: the one the connector's encoder drives now, else the first CRTC one of its
   * encoders can drive (GETENCODER's possible_crtcs) that no other encoder uses.
   */
  crtc?: number;
  /**
   * Atomic modesetting: sets DRM_CLIENT_CAP_UNIVERSAL_PLANES and DRM_CLIENT_CAP_ATOMIC on the device's
   * file (for every user of that file), reads the planes and properties; commit() then works.
   */
  atomic?: boolean;
  /** With atomic: also DRM_CLIENT_CAP_WRITEBACK_CONNECTORS, for writeback(). */
  writeback?: boolean;
}

export type PlaneType = 'primary' | 'overlay' | 'cursor';

/** One plane that can go on the Display's CRTC, as read at open(). */
export interface Plane {
  id: number;
  type: PlaneType;
  /** The formats it takes (GETPLANE), by the library's names where it knows them ('XRGB8888'), else 4-char codes. */
  formats: readonly string[];
  /** The same as DRM fourccs. */
  fourccs: readonly number[];
  /** Format name → the modifiers it takes with it (IN_FORMATS); empty without IN_FORMATS. */
  modifiers: ReadonlyMap<string, readonly bigint[]>;
  /** The zpos property's value, or null when the driver has none (then planes stack by type and id). */
  zpos: number | null;
  /** Every property, by name, with its value at open(). */
  properties: PropertyTable;
}

/** A rectangle in pixels. */
export interface Rect {
  x?: number;
  y?: number;
  width?: number;
  height?: number;
}

/** One plane's part of a commit. */
export interface PlaneAssignment {
  /** A plane of display.planes, or its id. */
  plane: Plane | number;
  /** What the plane shows; null turns it off. */
  fb: Framebuffer | null;
  /** Where on the CRTC (may be partly or wholly off screen; negative allowed). Default 0, 0. */
  x?: number;
  y?: number;
  /** Size on the CRTC; default the source's size (drivers that cannot scale refuse others: ERANGE). */
  width?: number;
  height?: number;
  /** The part of the framebuffer shown, in whole pixels; default all of it. */
  src?: Rect;
  /** The plane waits for this fence before it shows fb (IN_FENCE_FD); default options.inFence. */
  inFence?: SyncFile;
  /**
   * More properties of the plane by name ('rotation': 'rotate-0', 'zpos': 3, ...). With a
   * framebuffer, `rotation`, `alpha` and `pixel blend mode` (where the plane has them) are the
   * kernel's reset values unless set here ('rotate-0', 0xffff, 'Pre-multiplied'), not what an
   * earlier commit or client left.
   */
  properties?: Readonly<Record<string, PropertyValue>>;
}

export interface CommitOptions {
  /** Only check the configuration (DRM_MODE_ATOMIC_TEST_ONLY); nothing changes, no fences. */
  testOnly?: boolean;
  /**
   * Resolve as soon as the kernel has taken the commit (DRM_MODE_ATOMIC_NONBLOCK): `completed` says
   * when it is on screen. A second non-blocking commit before then is the kernel's EBUSY. Without it,
   * commit() resolves once the commit is on screen (its event is awaited off the JS thread; the
   * ioctl itself is always non-blocking, so a fence never blocks the JS thread).
   */
  nonblock?: boolean;
  /** Allow a full modeset (DRM_MODE_ATOMIC_ALLOW_MODESET). The first commit of a Display always does. */
  allowModeset?: boolean;
  /** IN_FENCE_FD of every plane given a framebuffer in this commit (unless its assignment has one). */
  inFence?: SyncFile;
  /** Ask for the CRTC's OUT_FENCE_PTR (default true): signalled when the commit is on screen. */
  outFence?: boolean;
  /** Properties of the CRTC by name ('BACKGROUND_COLOR', 'GAMMA_LUT', ...). */
  crtc?: Readonly<Record<string, PropertyValue>>;
  /** The composed picture of this commit is written into this frame (writeback connector). */
  writeback?: Frame;
  /** Milliseconds to wait for the commit's event and the writeback (default 5000). */
  timeout?: number;
}

export interface CommitResult {
  /** The CRTC's out-fence (a SyncFile the caller owns), or null (testOnly, outFence: false). */
  outFence: SyncFile | null;
  /** The flip-complete event of the commit; null for testOnly. */
  completed: Promise<FlipResult | null>;
  /** The writeback frame, resolved when its fence has signalled; null without options.writeback. */
  writeback: Promise<Frame> | null;
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

/** The atomic client's view of its CRTC: property tables of the objects it sets. */
interface AtomicState {
  crtc: PropertyTable;
  connector: PropertyTable;
  planes: Plane[];
  /** The writeback connector that can take this CRTC's picture (GETRESOURCES with the cap), if any. */
  writeback: { id: number; name: string; props: PropertyTable; formats: string[]; clones: boolean } | null;
}

/**
 * Plane properties an assignment resets unless it sets them: the values of the kernel's plane state
 * reset (__drm_atomic_helper_plane_state_reset): not turned, opaque, premultiplied alpha.
 */
const PLANE_DEFAULTS: readonly (readonly [string, PropertyValue])[] = [
  ['rotation', 'rotate-0'], ['alpha', 0xffff], ['pixel blend mode', 'Pre-multiplied'],
];

function pickCrtc(backend: Backend, fd: number, res: KmsResources, connector: KmsConnector, want: number | undefined,
  call: <T>(fn: () => T) => T): { crtcId: number; encoder: KmsEncoder } {
  const encoders = res.encoders.map((id) => call(() => backend.kmsGetEncoder(fd, id)));
  const mine = encoders.filter((e) => connector.encoders.includes(e.id));
  const used = new Set(encoders.filter((e) => !connector.encoders.includes(e.id) && e.crtcId !== 0).map((e) => e.crtcId));
  const possible = (e: KmsEncoder): number[] => res.crtcs.filter((_c, i) => (e.possibleCrtcs >>> i) & 1);
  const name = connectorName(connector);
  if (want !== undefined) {
    if (!res.crtcs.includes(want)) throw invalidArgValue('options.crtc', want, `is not a CRTC of the card (${res.crtcs.join(', ')})`);
    const e = mine.find((x) => possible(x).includes(want));
    if (e === undefined) {
      throw invalidArgValue('options.crtc', want,
        `cannot drive ${name}: its encoders can use CRTCs ${[...new Set(mine.flatMap(possible))].join(', ') || 'none'}`);
    }
    return { crtcId: want, encoder: e };
  }
  const current = mine.find((e) => e.id === connector.encoderId && e.crtcId !== 0);
  if (current !== undefined) return { crtcId: current.crtcId, encoder: current };
  for (const free of [true, false]) {
    for (const e of mine) {
      const c = possible(e).find((x) => !free || !used.has(x));
      if (c !== undefined) return { crtcId: c, encoder: e };
    }
  }
  throw dmabufError('ERR_DMABUF_NO_DEVICE', `no CRTC can drive ${name} (encoders: ${mine.map((e) => e.id).join(', ') || 'none'})`);
}

const PLANE_TYPES: Record<string, PlaneType> = { Primary: 'primary', Overlay: 'overlay', Cursor: 'cursor' };

function formatName(fourcc: number): string {
  return formats.find(fourcc)?.name ?? fourccString(fourcc);
}

function setCap(device: Device, cap: number, what: string): void {
  try {
    device.backend.drmSetClientCap(device.fd, cap, 1);
  } catch (e) {
    throw withPath(e, device.path, `${device.driver} has no ${what}`);
  }
}

/** UNIVERSAL_PLANES and ATOMIC on the file, then the tables of the CRTC, connector, planes and writeback. */
function atomicState(device: Device, res: KmsResources, connector: KmsConnector, crtcId: number, encoder: KmsEncoder,
  writeback: boolean, call: <T>(fn: () => T) => T): AtomicState {
  const backend = device.backend;
  const fd = device.fd;
  setCap(device, DRM_CLIENT_CAP_UNIVERSAL_PLANES, 'universal planes');
  setCap(device, DRM_CLIENT_CAP_ATOMIC, 'atomic modesetting (DRM_CLIENT_CAP_ATOMIC)');
  const crtcIndex = res.crtcs.indexOf(crtcId);
  const planes: Plane[] = [];
  for (const id of call(() => backend.kmsGetPlaneResources(fd))) {
    const p = call(() => backend.kmsGetPlane(fd, id));
    if (!((p.possibleCrtcs >>> crtcIndex) & 1)) continue;
    const props = call(() => readProperties(backend, fd, id, DRM_MODE_OBJECT_PLANE));
    const typeName = Object.entries(props.type?.enums ?? {}).find(([, v]) => v === props.type?.value)?.[0] ?? 'Overlay';
    const mods = props.IN_FORMATS && props.IN_FORMATS.value !== 0n
      ? decodeInFormats(call(() => backend.kmsGetBlob(fd, Number(props.IN_FORMATS!.value))))
      : new Map<number, bigint[]>();
    const modifiers = new Map<string, readonly bigint[]>();
    for (const [fourcc, list] of mods) modifiers.set(formatName(fourcc), Object.freeze(list));
    planes.push(Object.freeze({
      id, type: PLANE_TYPES[typeName] ?? 'overlay', formats: Object.freeze(p.formats.map(formatName)),
      fourccs: Object.freeze([...p.formats]), modifiers, zpos: props.zpos ? Number(props.zpos.value) : null,
      properties: props,
    }));
  }
  let wb: AtomicState['writeback'] = null;
  if (writeback) {
    const all = res;
    for (const id of all.connectors) {
      const c = id === connector.id ? connector : call(() => backend.kmsGetConnector(fd, id));
      if (c.type !== DRM_MODE_CONNECTOR_WRITEBACK) continue;
      const encs = c.encoders.map((e) => call(() => backend.kmsGetEncoder(fd, e)));
      const e = encs.find((x) => (x.possibleCrtcs >>> crtcIndex) & 1);
      if (e === undefined) continue;
      const props = call(() => readProperties(backend, fd, id, DRM_MODE_OBJECT_CONNECTOR));
      const fmts = props.WRITEBACK_PIXEL_FORMATS && props.WRITEBACK_PIXEL_FORMATS.value !== 0n
        ? fourccList(call(() => backend.kmsGetBlob(fd, Number(props.WRITEBACK_PIXEL_FORMATS!.value)))) : [];
      const encIndex = (x: KmsEncoder): number => all.encoders.indexOf(x.id);
      // the writeback encoder and the display's must be able to share the CRTC (possible_clones)
      const clones = c.id === connector.id
        || (((e.possibleClones >>> encIndex(encoder)) & 1) !== 0 && ((encoder.possibleClones >>> encIndex(e)) & 1) !== 0);
      wb = { id, name: connectorName(c), props, formats: fmts, clones };
      break;
    }
  }
  return {
    crtc: call(() => readProperties(backend, fd, crtcId, DRM_MODE_OBJECT_CRTC)),
    connector: call(() => readProperties(backend, fd, connector.id, DRM_MODE_OBJECT_CONNECTOR)),
    planes, writeback: wb,
  };
}

function fourccList(blob: Uint8Array): string[] {
  const dv = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  const out: string[] = [];
  for (let at = 0; at + 4 <= blob.byteLength; at += 4) out.push(formatName(dv.getUint32(at, true)));
  return out;
}

/** One connector driven by one CRTC of a card, with its framebuffers. */
export class Display implements Disposable {
  readonly device: Device;
  readonly connector: ConnectorInfo;
  readonly crtcId: number;
  readonly mode: DisplayMode;
  /** The encoder between the CRTC and the connector (GETENCODER). */
  readonly encoderId: number;
  readonly #backend: Backend;
  readonly #framebuffers = new Set<Framebuffer>();
  readonly #atomic: AtomicState | null;
  /** Framebuffers writeback() made for frames, released at close(). */
  readonly #writebackFbs = new Map<Frame, Framebuffer>();
  #modeBlob = 0;
  /** A commit of this display has set the mode (MODE_ID, ACTIVE, the connector's CRTC_ID). */
  #modeSet = false;
  #writebackAttached = false;
  /** The last commit's completion: blocking commits wait for it. */
  #lastCommit: Promise<unknown> = Promise.resolve();
  #current: Framebuffer | null = null;
  #flipping = false;
  #closed = false;

  /** @internal use Display.open() */
  constructor(device: Device, connector: ConnectorInfo, crtcId: number, mode: DisplayMode, encoderId: number,
    atomic: AtomicState | null) {
    this.device = device;
    this.connector = connector;
    this.crtcId = crtcId;
    this.mode = mode;
    this.encoderId = encoderId;
    this.#backend = device.backend;
    this.#atomic = atomic;
  }

  /**
   * The connector's pipeline on an open card: GETRESOURCES, GETCONNECTOR of each connector (which
   * probes it), GETENCODER of each encoder, then the chosen connector, mode, encoder and CRTC; with
   * `atomic`, the client caps and every plane's and object's properties. Nothing is shown until
   * show() or commit().
   */
  static open(device: Device, options: DisplayOptions = {}): Display {
    if (!(device instanceof Device)) throw invalidArgType('device', 'an instance of Device', device);
    const o = validateObject<DisplayOptions>(options, 'options', true) ?? {};
    if (o.connector !== undefined && typeof o.connector !== 'string') validateInt(o.connector, 'options.connector', 1, 0xffffffff);
    if (o.crtc !== undefined) validateInt(o.crtc, 'options.crtc', 1, 0xffffffff);
    if (o.mode !== undefined && typeof o.mode !== 'string') validateObject(o.mode, 'options.mode');
    const atomic = o.atomic === undefined ? false : validateBoolean(o.atomic, 'options.atomic');
    const writeback = o.writeback === undefined ? false : validateBoolean(o.writeback, 'options.writeback');
    if (writeback && !atomic) throw invalidArgValue('options.writeback', true, 'needs options.atomic: writeback connectors are atomic-only');
    const backend = device.backend;
    const fd = device.fd;
    const call = <T>(fn: () => T): T => {
      try {
        return fn();
      } catch (e) {
        throw withPath(e, device.path, kmsHint(device, (e as { code?: string }).code));
      }
    };
    if (writeback) {
      // writeback connectors are listed only to atomic files with the cap
      setCap(device, DRM_CLIENT_CAP_UNIVERSAL_PLANES, 'universal planes');
      setCap(device, DRM_CLIENT_CAP_ATOMIC, 'atomic modesetting (DRM_CLIENT_CAP_ATOMIC)');
      setCap(device, DRM_CLIENT_CAP_WRITEBACK_CONNECTORS, 'writeback connectors');
    }
    const res = call(() => backend.kmsGetResources(fd));
    let raw: KmsConnector | undefined;
    if (typeof o.connector === 'number') {
      const id = o.connector;
      raw = call(() => backend.kmsGetConnector(fd, id));
    } else {
      const all = res.connectors.map((id) => call(() => backend.kmsGetConnector(fd, id)));
      raw = typeof o.connector === 'string' ? all.find((c) => connectorName(c) === o.connector)
        : all.find((c) => c.connection === DRM_MODE_CONNECTED && c.modes.length > 0 && c.type !== DRM_MODE_CONNECTOR_WRITEBACK);
      if (raw === undefined) {
        const seen = all.map((c) => `${connectorName(c)} ${c.connection === DRM_MODE_CONNECTED ? 'connected' : 'disconnected'}`)
          .join(', ') || 'none';
        if (typeof o.connector === 'string') {
          throw dmabufError('ERR_DMABUF_NOT_FOUND', `${device.path} has no connector named ${o.connector} (connectors: ${seen})`,
            { path: device.path });
        }
        throw dmabufError('ERR_DMABUF_NO_DEVICE',
          `no connected connector with modes on ${device.path} (${device.driver}; connectors: ${seen})`, { path: device.path });
      }
    }
    const connector = toConnector(raw);
    if (connector.modes.length === 0) {
      throw dmabufError('ERR_DMABUF_NO_DEVICE', `connector ${connector.name} of ${device.path} has no modes`, { path: device.path });
    }
    const mode = pickMode(connector, o.mode);
    if (res.crtcs.length === 0) throw dmabufError('ERR_DMABUF_NO_DEVICE', `${device.path} (${device.driver}) has no CRTC`, { path: device.path });
    const { crtcId, encoder } = pickCrtc(backend, fd, res, raw, o.crtc, call);
    const state = atomic ? atomicState(device, res, raw, crtcId, encoder, writeback, call) : null;
    return new Display(device, connector, crtcId, mode, encoder.id, state);
  }

  /** True for a Display opened with { atomic: true }. */
  get atomic(): boolean {
    return this.#atomic !== null;
  }

  /** The planes that can go on this CRTC (atomic; [] otherwise), as read at open(). */
  get planes(): readonly Plane[] {
    return this.#atomic?.planes ?? [];
  }

  /** The CRTC's primary plane (atomic), else null. */
  get primary(): Plane | null {
    return this.planes.find((p) => p.type === 'primary') ?? null;
  }

  get overlays(): readonly Plane[] {
    return this.planes.filter((p) => p.type === 'overlay');
  }

  get cursor(): Plane | null {
    return this.planes.find((p) => p.type === 'cursor') ?? null;
  }

  /** The CRTC's properties by name (atomic), as read at open(). */
  get crtcProperties(): PropertyTable {
    return this.#atomic?.crtc ?? {};
  }

  /**
   * The writeback connector that can take this CRTC's picture (atomic, writeback), with the formats
   * it writes and whether it can run beside this Display's connector (possible_clones; vkms before
   * 6.13 says no: open a Display on the writeback connector itself then). null when there is none.
   */
  get writebackConnector(): { id: number; name: string; formats: readonly string[]; clones: boolean } | null {
    const w = this.#atomic?.writeback;
    return w ? { id: w.id, name: w.name, formats: w.formats, clones: w.clones } : null;
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
    const timeout = o.timeout === undefined ? DEFAULT_FLIP_TIMEOUT_MS : validateInt(o.timeout, 'options.timeout', 1, I32_MAX);
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

  #needAtomic(what: string): AtomicState {
    this.#check();
    if (this.#atomic === null) throw stateError(`${what} needs an atomic Display: Display.open(device, { atomic: true })`);
    return this.#atomic;
  }

  #plane(p: unknown, name: string): Plane {
    const id = typeof p === 'object' && p !== null ? (p as Plane).id : p;
    const plane = this.planes.find((x) => x.id === id);
    if (plane === undefined) {
      throw invalidArgValue(name, typeof p === 'object' ? id : p,
        `is not a plane of CRTC ${this.crtcId} (planes: ${this.planes.map((x) => `${x.id} ${x.type}`).join(', ')})`);
    }
    return plane;
  }

  /**
   * One atomic commit: each assignment puts a framebuffer (or nothing) on a plane of this CRTC with
   * its source and CRTC rectangles; planes not named keep what they show. Properties are looked up
   * by name and everything goes in one ATOMIC ioctl. The first commit of a Display also sets its mode
   * (MODE_ID, ACTIVE, the connector's CRTC_ID), so allows a modeset, and takes the CRTC over: other
   * connectors on it are detached and planes on it that the commit does not assign are turned off. Resolves when the commit is on
   * screen (or, with nonblock, once the kernel took it), with the out-fence; a refusal is the kernel's
   * error (EINVAL, ERANGE, ENOSPC, ...) with a hint, and nothing changed.
   */
  async commit(assignments: readonly PlaneAssignment[], options: CommitOptions = {}): Promise<CommitResult> {
    const st = this.#needAtomic('commit()');
    if (!Array.isArray(assignments)) throw invalidArgType('assignments', 'an instance of Array', assignments);
    const o = validateObject<CommitOptions>(options, 'options', true) ?? {};
    const flag = (k: 'testOnly' | 'nonblock' | 'allowModeset' | 'outFence', dflt: boolean): boolean =>
      o[k] === undefined ? dflt : validateBoolean(o[k], `options.${k}`);
    const testOnly = flag('testOnly', false);
    const nonblock = flag('nonblock', false);
    const wantOutFence = flag('outFence', true) && !testOnly;
    let allowModeset = flag('allowModeset', false);
    const timeout = o.timeout === undefined ? DEFAULT_FLIP_TIMEOUT_MS : validateInt(o.timeout, 'options.timeout', 1, I32_MAX);
    if (o.inFence !== undefined && !(o.inFence instanceof SyncFile)) throw invalidArgType('options.inFence', 'an instance of SyncFile', o.inFence);
    if (o.writeback !== undefined && !(o.writeback instanceof Frame)) throw invalidArgType('options.writeback', 'an instance of Frame', o.writeback);

    // object id -> (property id -> value), in the order they were set
    const req = new Map<number, Map<number, bigint>>();
    const set = (obj: number, table: PropertyTable, prop: string, value: PropertyValue, name: string): void => {
      const p = table[prop];
      if (p === undefined) throw invalidArgValue(name, prop, `is not a property of object ${obj} (${Object.keys(table).join(', ')})`);
      let m = req.get(obj);
      if (m === undefined) req.set(obj, m = new Map());
      m.set(p.id, encodeValue(p, value, name));
    };
    const fencePtrs: { obj: number; prop: number; what: 'crtc' | 'writeback' }[] = [];
    const fencePtr = (obj: number, p: PropertyInfo | undefined, what: 'crtc' | 'writeback'): void => {
      if (p === undefined) throw dmabufError('ERR_DMABUF_UNSUPPORTED', `${this.device.driver} has no ${what === 'crtc' ? 'OUT_FENCE_PTR' : 'WRITEBACK_OUT_FENCE_PTR'}`);
      let m = req.get(obj);
      if (m === undefined) req.set(obj, m = new Map());
      m.set(p.id, 0n);
      fencePtrs.push({ obj, prop: p.id, what });
    };

    const fbs: { fb: Framebuffer; name: string }[] = [];
    // read again after waiting for the previous commit: the caller may close a fence meanwhile
    const inFences: { plane: number; table: PropertyTable; fence: SyncFile; name: string }[] = [];
    assignments.forEach((a, i) => {
      const at = `assignments[${i}]`;
      validateObject(a, at);
      const plane = this.#plane(a.plane, `${at}.plane`);
      const t = plane.properties;
      if (a.fb === null) {
        set(plane.id, t, 'FB_ID', 0, `${at}.fb`);
        set(plane.id, t, 'CRTC_ID', 0, `${at}.fb`);
      } else {
        const fb = this.#own(a.fb, `${at}.fb`);
        fbs.push({ fb, name: `${at}.fb` });
        const src = validateObject<Rect>(a.src, `${at}.src`, true) ?? {};
        const sx = src.x === undefined ? 0 : validateInt(src.x, `${at}.src.x`, 0, fb.width - 1);
        const sy = src.y === undefined ? 0 : validateInt(src.y, `${at}.src.y`, 0, fb.height - 1);
        const sw = src.width === undefined ? fb.width - sx : validateInt(src.width, `${at}.src.width`, 1, 0xffff);
        const sh = src.height === undefined ? fb.height - sy : validateInt(src.height, `${at}.src.height`, 1, 0xffff);
        const x = a.x === undefined ? 0 : validateInt(a.x, `${at}.x`, I32_MIN, I32_MAX);
        const y = a.y === undefined ? 0 : validateInt(a.y, `${at}.y`, I32_MIN, I32_MAX);
        const w = a.width === undefined ? sw : validateInt(a.width, `${at}.width`, 1, I32_MAX);
        const h = a.height === undefined ? sh : validateInt(a.height, `${at}.height`, 1, I32_MAX);
        set(plane.id, t, 'FB_ID', fb.id, `${at}.fb`);
        set(plane.id, t, 'CRTC_ID', this.crtcId, `${at}.plane`);
        set(plane.id, t, 'SRC_X', BigInt(sx) << 16n, `${at}.src.x`);
        set(plane.id, t, 'SRC_Y', BigInt(sy) << 16n, `${at}.src.y`);
        set(plane.id, t, 'SRC_W', BigInt(sw) << 16n, `${at}.src.width`);
        set(plane.id, t, 'SRC_H', BigInt(sh) << 16n, `${at}.src.height`);
        set(plane.id, t, 'CRTC_X', x, `${at}.x`);
        set(plane.id, t, 'CRTC_Y', y, `${at}.y`);
        set(plane.id, t, 'CRTC_W', w, `${at}.width`);
        set(plane.id, t, 'CRTC_H', h, `${at}.height`);
        const fence = a.inFence ?? o.inFence;
        if (fence !== undefined) {
          if (!(fence instanceof SyncFile)) throw invalidArgType(`${at}.inFence`, 'an instance of SyncFile', fence);
          set(plane.id, t, 'IN_FENCE_FD', fence.fd, `${at}.inFence`);
          inFences.push({ plane: plane.id, table: t, fence, name: `${at}.inFence` });
        }
        // an assignment says how the plane shows its framebuffer: what it does not say is the
        // kernel's reset state, not what an earlier client left (a rotation, an alpha)
        for (const [k, v] of PLANE_DEFAULTS) {
          const p = t[k];
          if (p !== undefined && (typeof v !== 'string' || p.enums?.[v] !== undefined)) set(plane.id, t, k, v, `${at}.properties.${k}`);
        }
      }
      const props = validateObject<Record<string, PropertyValue>>(a.properties, `${at}.properties`, true) ?? {};
      for (const [k, v] of Object.entries(props)) set(plane.id, t, k, v, `${at}.properties.${k}`);
    });
    const crtcProps = validateObject<Record<string, PropertyValue>>(o.crtc, 'options.crtc', true) ?? {};
    for (const [k, v] of Object.entries(crtcProps)) set(this.crtcId, st.crtc, k, v, `options.crtc.${k}`);

    if (!this.#modeSet) {
      if (this.#modeBlob === 0) {
        this.#modeBlob = this.#call(() => this.#backend.kmsCreateBlob(this.device.fd, modeBlob(this.mode.info)));
      }
      set(this.crtcId, st.crtc, 'MODE_ID', this.#modeBlob, 'mode');
      set(this.crtcId, st.crtc, 'ACTIVE', 1, 'mode');
      set(this.connector.id, st.connector, 'CRTC_ID', this.crtcId, 'connector');
      allowModeset = true;
      this.#takeOver(req, st, o.writeback !== undefined);
    }
    let wbFrame: Frame | null = null;
    if (o.writeback !== undefined) {
      const w = st.writeback;
      if (w === null) {
        throw dmabufError('ERR_DMABUF_UNSUPPORTED', `no writeback connector can take CRTC ${this.crtcId} of ${this.device.path}`,
          { path: this.device.path, hint: 'open the Display with { atomic: true, writeback: true } on a driver with one (vkms)' });
      }
      if (!w.clones) {
        throw dmabufError('ERR_DMABUF_UNSUPPORTED',
          `${w.name} cannot share CRTC ${this.crtcId} with ${this.connector.name} on this kernel (their encoders' possible_clones)`,
          { path: this.device.path, hint: `open a Display on the writeback connector itself: Display.open(device, { atomic: true, writeback: true, connector: '${w.name}' })` });
      }
      wbFrame = o.writeback;
      const fb = this.#writebackFb(wbFrame, w.formats);
      if (w.id !== this.connector.id && !this.#writebackAttached) {
        set(w.id, w.props, 'CRTC_ID', this.crtcId, 'writeback');
        allowModeset = true;
      }
      set(w.id, w.props, 'WRITEBACK_FB_ID', fb.id, 'options.writeback');
      if (!testOnly) fencePtr(w.id, w.props.WRITEBACK_OUT_FENCE_PTR, 'writeback');
      this.#checkWritebackRows(req, st);
    }
    if (wantOutFence) fencePtr(this.crtcId, st.crtc.OUT_FENCE_PTR, 'crtc');

    if (!nonblock) {
      await this.#lastCommit.catch(() => undefined);
      // what the caller released or closed while this commit waited is not sent (its number may be reused)
      this.#check();
      for (const { fb, name } of fbs) this.#own(fb, name);
      for (const f of inFences) set(f.plane, f.table, 'IN_FENCE_FD', f.fence.fd, f.name);
    }
    this.#check();
    const objects: number[] = [];
    const counts: number[] = [];
    const props: number[] = [];
    const values: bigint[] = [];
    const fenceIndex: number[] = [];
    for (const [obj, m] of req) {
      objects.push(obj);
      counts.push(m.size);
      for (const [p, v] of m) {
        const f = fencePtrs.findIndex((x) => x.obj === obj && x.prop === p);
        if (f >= 0) fenceIndex[f] = props.length;
        props.push(p);
        values.push(v);
      }
    }
    const pump = pumpOf(this.device);
    const userData = testOnly ? 0 : pump.nextUserData();
    const flags = (testOnly ? DRM_MODE_ATOMIC_TEST_ONLY : DRM_MODE_ATOMIC_NONBLOCK | DRM_MODE_PAGE_FLIP_EVENT)
      | (allowModeset ? DRM_MODE_ATOMIC_ALLOW_MODESET : 0);
    const fds = this.#call(() => this.#backend.kmsAtomic(this.device.fd, flags, objects, counts, props, values, userData, fenceIndex),
      (code) => this.#commitHint(code, allowModeset, fbs.map((f) => f.fb)));
    const fences = fds.map((fd) => (fd >= 0 ? new SyncFile(fd, this.#backend) : null));
    const outFence = fences[fencePtrs.findIndex((x) => x.what === 'crtc')] ?? null;
    const wbFence = fences[fencePtrs.findIndex((x) => x.what === 'writeback')] ?? null;
    if (testOnly) return { outFence: null, completed: Promise.resolve(null), writeback: null };

    this.#modeSet = true;
    if (st.writeback !== null && wbFrame !== null) this.#writebackAttached = true;
    const primary = this.primary;
    const onPrimary = primary === null ? undefined : assignments.find((a) => this.#plane(a.plane, 'plane').id === primary.id);
    const completed = pump.expect(userData, timeout).then((e) => {
      if (onPrimary !== undefined) this.#current = onPrimary.fb && !onPrimary.fb.released ? onPrimary.fb : null;
      return { sequence: e.sequence ?? 0, timestamp: (e.sec ?? 0) * 1000 + (e.usec ?? 0) / 1000, crtcId: e.crtcId ?? this.crtcId };
    });
    let writeback: Promise<Frame> | null = null;
    if (wbFrame !== null) {
      const frame = wbFrame;
      writeback = (async () => {
        try {
          if (wbFence === null) throw dmabufError('ERR_DMABUF_UNSUPPORTED', 'the kernel gave no writeback fence');
          const done = await wbFence.wait({ timeout });
          if (!done) {
            throw dmabufError('ERR_DMABUF_TIMEOUT', `the writeback into the frame did not finish within ${timeout} ms`,
              { path: this.device.path, timeout });
          }
          return frame;
        } finally {
          wbFence?.close();
        }
      })();
      writeback.catch(() => undefined); // the caller's to await; never an unhandled rejection
    }
    this.#lastCommit = completed;
    completed.catch(() => undefined);
    if (!nonblock) await completed;
    return { outFence, completed, writeback };
  }

  /**
   * The first commit defines the whole picture: what another client left on this CRTC goes (the
   * kernel's fbdev console, for one, puts its framebuffer and connector back whenever the last DRM
   * file closes): other connectors driven by the CRTC are detached (unless they are the writeback
   * connector this commit uses) and planes on it that the commit does not assign are turned off.
   */
  #takeOver(req: Map<number, Map<number, bigint>>, st: AtomicState, keepWriteback: boolean): void {
    const fd = this.device.fd;
    const crtc = BigInt(this.crtcId);
    const put = (obj: number, prop: number, v: bigint): void => {
      let m = req.get(obj);
      if (m === undefined) req.set(obj, m = new Map());
      if (!m.has(prop)) m.set(prop, v);
    };
    const live = (obj: number, type: number): PropertyTable => this.#call(() => readProperties(this.#backend, fd, obj, type));
    for (const id of this.#call(() => this.#backend.kmsGetResources(fd)).connectors) {
      if (id === this.connector.id || (keepWriteback && id === st.writeback?.id)) continue;
      const p = live(id, DRM_MODE_OBJECT_CONNECTOR).CRTC_ID;
      if (p !== undefined && p.value === crtc) put(id, p.id, 0n);
    }
    for (const plane of st.planes) {
      if (req.get(plane.id)?.has(plane.properties.FB_ID!.id)) continue;
      const p = live(plane.id, DRM_MODE_OBJECT_PLANE);
      if (p.CRTC_ID?.value === crtc) {
        put(plane.id, p.FB_ID!.id, 0n);
        put(plane.id, p.CRTC_ID.id, 0n);
      }
    }
  }

  /**
   * vkms before its line-per-line composition (Linux 6.12) writes each composed row to the writeback
   * frame at the row it read from the topmost active plane, not at the CRTC's row (blend() passes
   * the plane's y_pos to vkms_writeback_row). That is the same row only when the plane is not turned
   * or reflected vertically; otherwise the rows land elsewhere, before the frame or past its end,
   * and the kernel writes outside the buffer (an oops, seen in the VM). The same rework brought YUV
   * formats to vkms's planes, so a vkms whose planes take no NV12 has the old composer: such a
   * commit is refused before the kernel sees it.
   */
  #checkWritebackRows(req: Map<number, Map<number, bigint>>, st: AtomicState): void {
    if (this.device.driver !== 'vkms' || st.planes.some((p) => p.formats.includes('NV12'))) return;
    const fd = this.device.fd;
    const crtc = BigInt(this.crtcId);
    let top: { plane: Plane; rotation: bigint } | null = null;
    for (const plane of [...st.planes].sort((x, y) => x.id - y.id)) {
      const t = plane.properties;
      const want = req.get(plane.id);
      let live: KmsObjectProperties | undefined;
      const value = (name: string): bigint | undefined => {
        const p = t[name];
        if (p === undefined) return undefined;
        const v = want?.get(p.id);
        if (v !== undefined) return v;
        live ??= this.#call(() => this.#backend.kmsGetProperties(fd, plane.id, DRM_MODE_OBJECT_PLANE));
        return live.values[live.ids.indexOf(p.id)];
      };
      if (value('CRTC_ID') === crtc && (value('FB_ID') ?? 0n) !== 0n) top = { plane, rotation: value('rotation') ?? 1n };
    }
    if (top === null) return;
    // as vkms simplifies it: ROTATE_180 becomes both reflections at ROTATE_0
    let r = top.rotation;
    if (r & 4n) r = ((r ^ 0x30n) & 0x30n) | 1n;
    if ((r & 1n) !== 0n && (r & 0x20n) === 0n) return;
    const rot = top.plane.properties.rotation;
    const rv = top.rotation;
    const name = Object.entries(rot?.enums ?? {}).filter(([, bit]) => (rv & bit) !== 0n).map(([n]) => n).join('|') || `rotation ${rv}`;
    throw dmabufError('ERR_DMABUF_UNSUPPORTED',
      `vkms on this kernel cannot write back a picture whose topmost plane (${top.plane.type} ${top.plane.id}) is ${name}: ` +
      'it would write the rows outside the writeback frame', {
        path: this.device.path,
        hint: 'put an unrotated plane above it (the cursor plane is on top), turn it with reflect-x or rotate-0 only, or use a kernel whose vkms composes line by line (7.2 does)',
      });
  }

  /**
   * The composed picture of the CRTC written into frame (the writeback connector: WRITEBACK_FB_ID and
   * WRITEBACK_OUT_FENCE_PTR in a commit that changes nothing else); resolves with frame once the
   * writeback fence has signalled. frame must be the mode's size, in a format the connector writes.
   */
  async writeback(frame: Frame, options: { timeout?: number } = {}): Promise<Frame> {
    const o = validateObject<{ timeout?: number }>(options, 'options', true) ?? {};
    const r = await this.commit([], { writeback: frame, outFence: false, timeout: o.timeout });
    return r.writeback!;
  }

  #writebackFb(frame: Frame, allowed: readonly string[]): Framebuffer {
    if (frame.closed) throw closedError('Frame');
    const have = this.#writebackFbs.get(frame);
    if (have !== undefined && !have.released) return have;
    if (frame.width !== this.mode.width || frame.height !== this.mode.height) {
      throw invalidArgValue('options.writeback', `${frame.width}x${frame.height}`,
        `must be the mode's size (${this.mode.width}x${this.mode.height}): writeback writes the whole CRTC`);
    }
    if (allowed.length > 0 && !allowed.includes(frame.format.name)) {
      throw invalidArgValue('options.writeback', frame.format.name, `is not a format the writeback connector writes (${allowed.join(', ')})`);
    }
    const fb = this.device.addFramebuffer(frame);
    this.#writebackFbs.set(frame, fb);
    return fb;
  }

  #commitHint(code: string | undefined, allowModeset: boolean, fbs: readonly Framebuffer[]): string | undefined {
    switch (code) {
      case 'EACCES': return kmsHint(this.device, code);
      case 'EBUSY': return 'a non-blocking commit is still pending on this CRTC: await its completed first';
      case 'ERANGE': return `a plane would scale (its CRTC size differs from its source size) and ${this.device.driver} cannot`;
      case 'ENOSPC': return 'a source rectangle reaches past its framebuffer';
      case 'EINVAL': return allowModeset
        ? `the driver refused the configuration (a format a plane does not take (${fbs.map((f) => f.format).join(', ') || 'none'}), a plane off its CRTC, a fence that is not a sync file...)`
        : 'the driver refused the configuration; if it needs a modeset, pass { allowModeset: true }';
      default: return undefined;
    }
  }

  /** GETCRTC: what the CRTC scans out now (fbId 0 when off), as the kernel says. */
  state(): { fbId: number; mode: string | null; x: number; y: number } {
    this.#check();
    const c = this.#call(() => this.#backend.kmsGetCrtc(this.device.fd, this.crtcId));
    return { fbId: c.fbId, mode: c.mode?.name ?? null, x: c.x, y: c.y };
  }

  /**
   * Release every framebuffer this Display made (which blanks the CRTC if one was shown) and the
   * mode blob of its atomic commits. Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    let first: unknown;
    const attempt = (fn: () => void): void => {
      try {
        fn();
      } catch (e) {
        first ??= e;
      }
    };
    if (!this.device.closed) attempt(() => this.#detachWriteback());
    for (const fb of [...this.#framebuffers, ...this.#writebackFbs.values()]) attempt(() => fb.release());
    this.#writebackFbs.clear();
    if (this.#modeBlob !== 0 && !this.device.closed) {
      const blob = this.#modeBlob;
      attempt(() => this.#backend.kmsDestroyBlob(this.device.fd, blob));
    }
    this.#modeBlob = 0;
    this.#current = null;
    if (first !== undefined) throw first;
  }

  [Symbol.dispose](): void {
    quietly(() => this.close());
  }

  /**
   * A writeback connector this Display put on its CRTC is taken off again (one blocking commit):
   * left there, it keeps the CRTC from the next client, whose file does not see writeback
   * connectors (no client cap) and so cannot detach it, and a kernel whose writeback cannot run
   * beside Virtual-1 refuses that client's commits. A Display opened on the writeback connector
   * itself also turns its CRTC and planes off.
   */
  #detachWriteback(): void {
    const st = this.#atomic;
    const w = st?.writeback;
    if (st == null || w == null) return;
    const own = w.id === this.connector.id;
    if (!(own ? this.#modeSet : this.#writebackAttached)) return;
    const req: [number, number, bigint][] = [[w.id, w.props.CRTC_ID!.id, 0n]];
    if (own) {
      const crtc = BigInt(this.crtcId);
      for (const plane of st.planes) {
        const live = this.#call(() => this.#backend.kmsGetProperties(this.device.fd, plane.id, DRM_MODE_OBJECT_PLANE));
        if (live.values[live.ids.indexOf(plane.properties.CRTC_ID!.id)] !== crtc) continue;
        req.push([plane.id, plane.properties.FB_ID!.id, 0n], [plane.id, plane.properties.CRTC_ID!.id, 0n]);
      }
      req.push([this.crtcId, st.crtc.ACTIVE!.id, 0n], [this.crtcId, st.crtc.MODE_ID!.id, 0n]);
    }
    const objects: number[] = [];
    const counts: number[] = [];
    for (const [obj] of req) {
      if (objects[objects.length - 1] === obj) counts[counts.length - 1]!++;
      else { objects.push(obj); counts.push(1); }
    }
    this.#writebackAttached = false;
    this.#modeSet = false;
    this.#call(() => this.#backend.kmsAtomic(this.device.fd, DRM_MODE_ATOMIC_ALLOW_MODESET, objects, counts,
      req.map((r) => r[1]), req.map((r) => r[2]), 0, []));
  }
}
