/// <reference types="node" preserve="true" />
/**
 * Exporter: the kernel's exporter/importer protocol in userspace (design: docs/exporter.md).
 *
 * - Attach first, allocate late: `attach()` records who will use the buffer and what they need; the
 *   first `map()` allocates backing from the first provider that satisfies every attachment.
 * - Mappings are kept: `unmap()` only drops a use; the next `map()` hands out the same Mapping (CPU) or
 *   the same GemHandle (DRM), with no syscall. Attachments on one DRM file share one handle.
 * - A late attacher the backing cannot serve moves the buffer (reallocate, copy) while nothing is
 *   mapped; every attachment's next map reports `moved: true`. While something is mapped: EBUSY.
 */
import { EventEmitter } from 'node:events';
import { DmaBuf, Mapping } from './dmabuf';
import { Device, GemHandle } from './drm';
import { Display } from './display';
import { formats, type PixelFormatInfo } from './formats';
import { Frame, type FrameDescription } from './frame';
import type { Framebuffer } from './framebuffer';
import { VideoQueue } from './v4l2';
import { quietly } from './lifecycle';
import {
  closedError, dmabufError, invalidArgType, invalidArgValue, outOfRange, validateBoolean, validateInt, validateObject,
  stateError, validateString, type CodedError,
} from './errors';
import {
  ATTACHING_VB2, parseProviders, sameDrmDevice, sysName, v4l2SysName, type Allocation, type FrameNeed, type Layout, type Need, type Provider, type Refusal,
} from './exporter/providers';

export type { Layout, Refusal, RefusalKind, ProviderSpec } from './exporter/providers';

/**
 * Who uses the buffer: the CPU, a DRM device (a real kernel importer: its map is a PRIME import), a
 * Display (a frame exporter's frames on its planes: its map is a framebuffer, ADDFB2), or a V4L2
 * queue that imports dma-bufs (its map is the frame prepared on its index, PREPARE_BUF).
 */
export type Importer = 'cpu' | Device | Display | VideoQueue;

/** What an importer needs from the backing. */
export interface Constraints {
  /** Physically contiguous memory (CMA heaps provide it, and a 'v4l2:' provider whose driver uses vb2-dma-contig). */
  contiguous?: boolean;
  /** The largest backing, in bytes, the importer accepts. */
  maxSize?: number;
  /** A dumb-buffer layout a display can scan out: only a 'drm:' provider on a card node gives one. */
  layout?: Layout;
}

export interface ExporterOptions {
  /** Bytes of the buffer (or give `frame`). */
  size?: number;
  /**
   * Share an image instead of bytes: the backing is a Frame of this width, height and format (one
   * buffer, planes at offsets; the pitch is the provider's), and every map() gives it as `frame`.
   * Coded formats are not images: give `size` for a bitstream.
   */
  frame?: Omit<FrameDescription, 'size'>;
  /**
   * Where backing may come from, in order of preference: 'heap:<name>' (e.g. 'heap:system'),
   * 'heap:contiguous' (any CMA heap), 'udmabuf', 'drm:<path>' or a drm Device (a dumb buffer exported
   * with PRIME), 'v4l2:<path>' (frames only: the V4L2 device's own buffers, REQBUFS(MMAP) + EXPBUF;
   * contiguous where its driver uses vb2-dma-contig). Default: ['heap:system', 'udmabuf'].
   */
  providers?: (string | Device)[];
  /** DMA_BUF_SET_NAME on every backing (at most 31 bytes). */
  name?: string;
  /** Bytes of kept mappings and handles not in use before the least recently used are dropped. Default: no limit. */
  budget?: number;
}

/** What `Attachment.map()` returns for a CPU attachment. */
export interface CpuMap {
  kind: 'cpu';
  /** The same Mapping object on every map until it is evicted or the buffer moves. */
  mapping: Mapping;
  /** A frame exporter's frame (the same object until the buffer moves); null for a byte exporter. */
  frame: Frame | null;
  /** The buffer moved since this attachment last mapped it: drop anything derived from the old mapping. */
  moved: boolean;
}

/** What `Attachment.map()` returns for a DRM attachment. */
export interface DeviceMap {
  kind: 'device';
  /** The GEM handle in the device's file: shared by every attachment on that Device. */
  handle: GemHandle;
  /** A frame exporter's frame; null for a byte exporter. */
  frame: Frame | null;
  /** The buffer moved since this attachment last mapped it: the handle is new. */
  moved: boolean;
}

/** What `Attachment.map()` returns for a Display: the frame's framebuffer, made once (ADDFB2). */
export interface FramebufferMap {
  kind: 'framebuffer';
  /** The same Framebuffer on every map until it is evicted or the buffer moves: show, flip or commit it. */
  fb: Framebuffer;
  frame: Frame;
  /** The buffer moved since this attachment last mapped it: the framebuffer is new. */
  moved: boolean;
}

/**
 * What `Attachment.map()` returns for a V4L2 queue: the frame, prepared on its index (PREPARE_BUF:
 * the device attached and mapped its memory). queue.queue(frame) then uses that index.
 */
export interface QueueMap {
  kind: 'v4l2';
  queue: VideoQueue;
  /** The frame's buffer index on the queue: the same on every map until the buffer moves. */
  index: number;
  frame: Frame;
  /** The buffer moved since this attachment last mapped it: a new frame, prepared on a new index. */
  moved: boolean;
}

/** `map()`'s result for an importer type. */
export type MapResult<I extends Importer> = I extends 'cpu' ? CpuMap : I extends Display ? FramebufferMap
  : I extends VideoQueue ? QueueMap : DeviceMap;

/** Any map() result. */
export type AnyMap = CpuMap | DeviceMap | FramebufferMap | QueueMap;

/** The current backing and how it was chosen. */
export interface BackingInfo {
  /** The provider's label, e.g. 'heap:system'. */
  provider: string;
  /** Why this provider: the first in order that satisfied every attachment (and providers skipped before it). */
  reason: string;
  /** Providers tried before it, and why each could not serve. */
  skipped: Refusal[];
  size: number;
  /** The dma-buf's inode (matches `ino` in /sys/kernel/debug/dma_buf/bufinfo). */
  inode: bigint;
  contiguous: boolean;
  /** The dumb-buffer layout, for a 'drm:' backing of a byte exporter. */
  layout?: Layout & { pitch: number };
  /** A frame exporter's frame: format and each plane's offset and pitch in the backing. */
  frame?: { width: number; height: number; format: string; planes: { offset: number; pitch: number; size: number }[] };
  allocatedAt: Date;
  /**
   * Kernel names of the DRM devices that hold an import of this buffer which is a kernel
   * dma_buf_attachment (imports into the exporting device itself are not), and of the V4L2 queues
   * holding it prepared whose videobuf2 memory ops attach (dma-contig, dma-sg; vmalloc does not):
   * what bufinfo lists under "Attached Devices".
   */
  kernelAttachments: string[];
}

export interface ExporterStats {
  /** Backings allocated (the first one and every move). */
  allocations: number;
  /** The current provider and why, or null before the first map. */
  provider: string | null;
  reason: string | null;
  /** Providers skipped for the current backing, and why. */
  skipped: Refusal[];
  moves: number;
  /** map() calls served from a kept mapping or handle. */
  hits: number;
  /** map() calls that had to mmap or import. */
  misses: number;
  /**
   * Syscalls issued to make and drop importers' mappings and handles: mmap, munmap,
   * PRIME_FD_TO_HANDLE, GEM_CLOSE (the library's fstat fd-identity checks around them are not
   * counted). Allocation and moves are counted in `allocations` and `moves`.
   */
  syscalls: number;
  /** Syscalls hits avoided: a CPU mmap+munmap is 2, a PRIME import+GEM_CLOSE is 2. */
  syscallsSaved: number;
  /** Kept mappings and handles dropped to stay within the budget. */
  evictions: number;
  /** Bytes of kept mappings and handles not in use. */
  bytesKept: number;
  /** Bytes of mappings and handles in use. */
  bytesMapped: number;
}

/** The `'move'` event: the buffer moved to new backing for a late attacher (see `Exporter.attach`). */
export interface MoveEvent {
  from: { provider: string; inode: bigint; size: number };
  to: { provider: string; inode: bigint; size: number };
  /** Which attachment needed what the old backing could not give. */
  reason: string;
}

/** The `'evict'` event: a kept mapping or handle was dropped to stay within the budget. */
export interface EvictEvent {
  /** 'cpu', or the DRM device's path (a Display's: its device's). */
  importer: string;
  bytes: number;
  reason: 'budget';
}

/** The events an Exporter emits, and their listeners' arguments. */
export interface ExporterEvents {
  attach: [attachment: Attachment];
  allocate: [backing: BackingInfo];
  move: [event: MoveEvent];
  evict: [event: EvictEvent];
  detach: [attachment: Attachment];
  close: [];
}

/** A listener of Exporter event K. */
export type ExporterListener<K extends keyof ExporterEvents> = (...args: ExporterEvents[K]) => void;

type Key = 'cpu' | Device | Display | VideoQueue;

interface Entry {
  key: Key;
  mapping?: Mapping;
  handle?: GemHandle;
  fb?: Framebuffer;
  /** A V4L2 queue's index for the frame (prepared on it), and the frame. */
  index?: number;
  frame?: Frame;
  /**
   * How many attachments have it mapped now (each one's `_entry` is this entry). A count, not a Set:
   * adding and deleting the same member of a Set on every map/unmap costs ten times the rest of a hit.
   */
  users: number;
  lastUsed: number;
  /** The map() result of a kept CPU mapping (frozen, handed out again while nothing moved). */
  cpuResult?: Readonly<CpuMap>;
  /** Set by #drop: an attachment's `_entry` pointing here is out of date. */
  dropped?: true;
}

interface Backing {
  alloc: Allocation;
  provider: Provider;
  reason: string;
  skipped: Refusal[];
  allocatedAt: Date;
}

const CPU_MAP = 1;
const CPU_UNMAP = 1;
const IMPORT = 1;
/** A framebuffer: PRIME import + ADDFB2 (RMFB + GEM_CLOSE to drop). */
const FRAMEBUFFER = 2;
/** A V4L2 queue: PREPARE_BUF (the device attaches and maps the dma-buf). */
const PREPARE = 1;

/**
 * Refusals devices gave, kept for the process: key `device|provider|image` → the refusal. The next
 * exporter of the same image does not offer that provider's memory to that device again.
 */
const learnedRefusals = new Map<string, Omit<Refusal, 'provider'> & { provider: string; image: string; deviceKey: string }>();

/** What identifies an importing device across opens: driver and bus (V4L2, with the queue), or the DRM device's kernel name. */
function deviceKey(importer: Exclude<Importer, 'cpu'>): string {
  if (importer instanceof VideoQueue) return `v4l2:${importer.device.driver}:${importer.device.bus}:${importer.type}`;
  const dev = importer instanceof Display ? importer.device : importer;
  return `drm:${sysName(dev) ?? dev.driver}${importer instanceof Display ? ':display' : ''}`;
}

/** A refusal the library can learn from: the kernel said it (an errno), not the caller's mistake. */
function kernelRefusal(e: unknown): boolean {
  return typeof (e as { errno?: unknown }).errno === 'number';
}

/** ERR_DMABUF_CONSTRAINTS: no provider can satisfy every attachment; `conflicts` says why each could not. */
export interface ConstraintsError extends CodedError {
  conflicts: Refusal[];
}

function constraintsError(conflicts: Refusal[], size: number): ConstraintsError {
  const lines = conflicts.map((c) => `${c.provider}: ${c.constraint}${c.attachment !== undefined ? ` (attachment ${c.attachment})` : ''}: ${c.reason}`);
  return dmabufError('ERR_DMABUF_CONSTRAINTS', `no provider can back ${size} bytes for every attachment: ${lines.join('; ')}`,
    { conflicts });
}

function validateConstraints(value: unknown): Constraints {
  const c = validateObject<Constraints>(value, 'constraints', true) ?? {};
  for (const k of Object.keys(c)) {
    if (k !== 'contiguous' && k !== 'maxSize' && k !== 'layout') throw invalidArgValue(`constraints.${k}`, (c as Record<string, unknown>)[k], 'is not a known constraint (contiguous, maxSize, layout)');
  }
  const out: Constraints = {};
  if (c.contiguous !== undefined) out.contiguous = validateBoolean(c.contiguous, 'constraints.contiguous');
  if (c.maxSize !== undefined) out.maxSize = validateInt(c.maxSize, 'constraints.maxSize', 1);
  if (c.layout !== undefined) {
    const l = validateObject<Layout>(c.layout, 'constraints.layout')!;
    out.layout = Object.freeze({
      width: validateInt(l.width, 'constraints.layout.width', 1, 0xffffffff),
      height: validateInt(l.height, 'constraints.layout.height', 1, 0xffffffff),
      bpp: validateInt(l.bpp, 'constraints.layout.bpp', 1, 0xffffffff),
    });
  }
  return Object.freeze(out);
}

/** Internal operations an Attachment asks of its Exporter. */
interface ExporterOps {
  map(att: Attachment): AnyMap;
  unmap(att: Attachment): void;
  detach(att: Attachment): void;
}

let nextId = 1;

/** One importer's attachment to an Exporter's buffer. */
export class Attachment<I extends Importer = Importer> {
  /** Unique per process. */
  readonly id = nextId++;
  readonly importer: I;
  /** 'cpu', 'drm' for a DRM device, 'display' for a Display, 'v4l2' for a V4L2 queue. */
  readonly kind: 'cpu' | 'drm' | 'display' | 'v4l2';
  /** For a DRM importer or a Display: the node, driver and kernel device name (as bufinfo prints it). */
  readonly device: { path: string; driver: string; sysName?: string } | undefined;
  readonly constraints: Readonly<Constraints>;
  readonly attachedAt = new Date();
  readonly #ops: ExporterOps;
  #current: AnyMap | undefined;
  /** Date.now() of the current map(), or 0 (a Date is made only when asked for). */
  #mappedAt = 0;
  /** @internal */ _moved = false;
  /** @internal */ _detached = false;
  /** @internal the exporter's entry this attachment last mapped (a hit goes straight to it) */
  _entry: unknown = undefined;

  /** @internal use exporter.attach() */
  constructor(importer: I, constraints: Constraints, ops: ExporterOps) {
    this.importer = importer;
    this.kind = importer === 'cpu' ? 'cpu' : importer instanceof Display ? 'display' : importer instanceof VideoQueue ? 'v4l2' : 'drm';
    this.constraints = constraints;
    this.#ops = ops;
    if (importer instanceof VideoQueue) {
      const s = v4l2SysName(importer.device);
      this.device = { path: importer.device.path, driver: importer.device.driver, ...(s === undefined ? {} : { sysName: s }) };
    } else {
      const dev = deviceOf(importer);
      if (dev !== undefined) {
        const s = sysName(dev);
        this.device = { path: dev.path, driver: dev.driver, ...(s === undefined ? {} : { sysName: s }) };
      }
    }
  }

  /** Mapped now (between map() and unmap()). */
  get mapped(): boolean {
    return this.#current !== undefined;
  }

  /** When the current map() happened, or null. */
  get mappedSince(): Date | null {
    return this.#current ? new Date(this.#mappedAt) : null;
  }

  get detached(): boolean {
    return this._detached;
  }

  /**
   * Map the buffer for this importer: the CPU gets `{ kind: 'cpu', mapping, frame }`, a DRM device
   * `{ kind: 'device', handle, frame }` (a PRIME import), a Display `{ kind: 'framebuffer', fb, frame }`
   * (ADDFB2 of the frame). The first map of the exporter allocates the backing.
   * Kept mappings are handed out again (no syscall). `moved` is true once after the buffer moved.
   * Mapping an attachment that is mapped returns the current result.
   * @throws ERR_DMABUF_CONSTRAINTS when no provider satisfies every attachment; ERR_DMABUF_CLOSED
   *   after detach or close.
   */
  map(): MapResult<I> {
    if (this.#current) return this.#current as MapResult<I>;
    const r = this.#ops.map(this);
    this.#current = r;
    this.#mappedAt = Date.now();
    return r as MapResult<I>;
  }

  /**
   * End this importer's use. The mapping or handle is kept for the next map() (unless the budget
   * evicts it). `mapped`, if given, must be what map() returned. Idempotent.
   */
  unmap(mapped?: AnyMap): void {
    if (!this.#current) return;
    if (mapped !== undefined && mapped !== this.#current) {
      throw invalidArgValue('mapped', typeof mapped, "must be this attachment's current map() result");
    }
    this.#current = undefined;
    this.#ops.unmap(this);
  }

  /** Detach from the exporter (unmapping first). Same as exporter.detach(this). */
  detach(): void {
    this.#ops.detach(this);
  }

  /** @internal forget the current map (detach/close) */
  _forget(): void {
    this.#current = undefined;
  }

  toJSON(): object {
    return {
      id: this.id, kind: this.kind, device: this.device, constraints: this.constraints,
      attachedAt: this.attachedAt, mapped: this.mapped, mappedSince: this.mappedSince,
    };
  }
}

/**
 * A buffer with deferred, constraint-aware allocation, kept mappings and attachment tracking.
 *
 * Events (ExporterEvents): 'attach' (Attachment), 'allocate' (BackingInfo), 'move' (MoveEvent),
 * 'evict' (EvictEvent), 'detach' (Attachment), 'close'.
 */
export class Exporter extends EventEmitter implements Disposable {
  /** Bytes: as given, or a frame's in its tightest layout (`backing.size` is what was allocated). */
  readonly size: number;
  /** A frame exporter's image, or null for a byte exporter. */
  readonly frame: Readonly<{ width: number; height: number; format: string }> | null;
  readonly #frameNeed: FrameNeed | undefined;
  readonly name: string | undefined;
  readonly budget: number;
  readonly #providers: Provider[];
  readonly #attachments = new Set<Attachment>();
  readonly #entries = new Map<Key, Entry>();
  readonly #ops: ExporterOps;
  #backing: Backing | undefined;
  #clock = 0;
  #closed = false;
  readonly #stats = { allocations: 0, moves: 0, hits: 0, misses: 0, syscalls: 0, syscallsSaved: 0, evictions: 0 };

  constructor(options: ExporterOptions) {
    super();
    const o = validateObject<ExporterOptions>(options, 'options')!;
    if ((o.size === undefined) === (o.frame === undefined)) {
      throw invalidArgValue('options', o.size === undefined ? 'neither' : 'both', 'must give one of size (bytes) and frame ({ width, height, format })');
    }
    if (o.frame !== undefined) {
      const f = validateObject<Omit<FrameDescription, 'size'>>(o.frame, 'options.frame')!;
      const width = validateInt(f.width, 'options.frame.width', 1, 65535);
      const height = validateInt(f.height, 'options.frame.height', 1, 65535);
      if (typeof f.format !== 'string' && typeof f.format !== 'number') {
        throw invalidArgType('options.frame.format', 'a format name, a 4-character code or a fourcc number', f.format);
      }
      const format: PixelFormatInfo = formats.get(f.format);
      if (format.compressed) {
        throw invalidArgValue('options.frame.format', format.name, 'is a coded format, not an image: share its bitstream with { size }');
      }
      this.#frameNeed = { width, height, format };
      this.frame = Object.freeze({ width, height, format: format.name });
      this.size = format.layout(width, height).sizes.reduce((a, b) => a + b, 0);
    } else {
      this.size = validateInt(o.size, 'options.size', 1);
      this.#frameNeed = undefined;
      this.frame = null;
    }
    if (o.name !== undefined) {
      validateString(o.name, 'options.name');
      const bytes = Buffer.byteLength(o.name, 'utf8');
      if (bytes > 31) throw outOfRange('options.name', 'at most 31 bytes of UTF-8', `${bytes} bytes`);
    }
    this.name = o.name;
    if (o.budget === undefined || o.budget === Infinity) this.budget = Infinity;
    else this.budget = validateInt(o.budget, 'options.budget', 0);
    this.#providers = parseProviders(o.providers ?? ['heap:system', 'udmabuf']);
    this.#ops = {
      map: (att) => this.#map(att),
      unmap: (att) => this.#unmap(att),
      detach: (att) => this.detach(att),
    };
  }

  get closed(): boolean {
    return this.#closed;
  }

  // Typed events: an unknown event name or a listener of the wrong shape does not compile.
  override on<K extends keyof ExporterEvents>(event: K, listener: ExporterListener<K>): this {
    return super.on(event, listener as (...args: unknown[]) => void);
  }

  override once<K extends keyof ExporterEvents>(event: K, listener: ExporterListener<K>): this {
    return super.once(event, listener as (...args: unknown[]) => void);
  }

  override off<K extends keyof ExporterEvents>(event: K, listener: ExporterListener<K>): this {
    return super.off(event, listener as (...args: unknown[]) => void);
  }

  override addListener<K extends keyof ExporterEvents>(event: K, listener: ExporterListener<K>): this {
    return super.addListener(event, listener as (...args: unknown[]) => void);
  }

  override removeListener<K extends keyof ExporterEvents>(event: K, listener: ExporterListener<K>): this {
    return super.removeListener(event, listener as (...args: unknown[]) => void);
  }

  override prependListener<K extends keyof ExporterEvents>(event: K, listener: ExporterListener<K>): this {
    return super.prependListener(event, listener as (...args: unknown[]) => void);
  }

  override prependOnceListener<K extends keyof ExporterEvents>(event: K, listener: ExporterListener<K>): this {
    return super.prependOnceListener(event, listener as (...args: unknown[]) => void);
  }

  override emit<K extends keyof ExporterEvents>(event: K, ...args: ExporterEvents[K]): boolean {
    return super.emit(event, ...args);
  }

  #check(): void {
    if (this.#closed) throw closedError('Exporter');
  }

  /**
   * Attach an importer ('cpu' or a drm Device) with its constraints. Before the first map this only
   * records it. After, when the backing cannot serve it (e.g. it needs contiguous memory, or the device
   * cannot import it), the buffer moves to backing that serves everyone — only while nothing is mapped.
   * @throws ERR_DMABUF_BUSY when the buffer would have to move while mapped; ERR_DMABUF_CONSTRAINTS when no
   *   provider can serve every attachment (the attachment is then not made).
   */
  attach<I extends Importer>(importer: I, constraints: Constraints = {}): Attachment<I> {
    if (importer !== 'cpu' && !(importer instanceof Device) && !(importer instanceof Display) && !(importer instanceof VideoQueue)) {
      if (typeof importer === 'string') throw invalidArgValue('importer', importer, "must be 'cpu', a drm Device, a Display or a VideoQueue");
      throw invalidArgType('importer', "'cpu' or an instance of Device, Display or VideoQueue", importer);
    }
    const c = validateConstraints(constraints);
    if ((importer instanceof Display || importer instanceof VideoQueue) && this.frame === null) {
      throw invalidArgValue('importer', importer instanceof Display ? 'a Display' : 'a VideoQueue',
        'needs a frame exporter (new Exporter({ frame: { width, height, format } })): it takes images, not bytes');
    }
    if (importer instanceof VideoQueue && importer.memory !== 'dmabuf') {
      throw Object.assign(stateError(`the ${importer.direction} queue of ${importer.device.path} does not import dma-bufs (memory: ${importer.memory ?? 'none'})`),
        { hint: 'call queue.importBuffers(count) before attaching it' });
    }
    if (c.layout !== undefined && this.frame !== null) {
      throw invalidArgValue('constraints.layout', c.layout, "is for byte exporters: a frame exporter's layout is its frame's");
    }
    this.#check();
    closedImporter(importer);
    const att = new Attachment(importer, c, this.#ops);
    if (this.#backing) {
      const refusal = this.#serves(this.#backing, att);
      if (refusal) {
        // a frame a V4L2 queue holds (queued, not dequeued yet) is in the device's use as much as a mapping
        const busy = [...this.#attachments].filter((a) => a.mapped || this.#queuedOn(a));
        if (busy.length > 0) {
          throw dmabufError('ERR_DMABUF_BUSY',
            `the buffer must move (${refusal.constraint}: ${refusal.reason}) but attachments ${busy.map((a) => a.id).join(', ')} have it mapped` +
            ' (or queued on their device)');
        }
        this.#move(att, `attachment ${att.id} (${att.device?.path ?? 'cpu'}): ${refusal.constraint}: ${refusal.reason}`);
      }
    }
    this.#attachments.add(att);
    this.emit('attach', att);
    return att;
  }

  /** Unmap (if mapped) and remove an attachment; kept mappings nobody else can use are dropped. Idempotent. */
  detach(att: Attachment): void {
    if (!(att instanceof Attachment)) throw invalidArgType('attachment', 'an instance of Attachment', att);
    if (!this.#attachments.has(att)) return;
    if (att.mapped) att.unmap();
    this.#attachments.delete(att);
    att._detached = true;
    const key = att.importer;
    if (![...this.#attachments].some((a) => a.importer === key)) {
      const e = this.#entries.get(key);
      if (e) this.#drop(e);
    }
    this.emit('detach', att);
  }

  /** Is this V4L2 attachment's frame queued on its queue (the device holds it)? */
  #queuedOn(a: Attachment): boolean {
    const f = this.#backing?.alloc.frame;
    return a.importer instanceof VideoQueue && f !== undefined && !a.importer.device.closed && a.importer._holds(f);
  }

  /** Every attachment: importer, device, constraints, mapped or not and since when. */
  get attachments(): Attachment[] {
    return [...this.#attachments];
  }

  /** The current backing, or null before the first map. */
  get backing(): BackingInfo | null {
    const b = this.#backing;
    if (!b) return null;
    const kernel = new Set<string>();
    for (const e of this.#entries.values()) {
      const dev = deviceOf(e.key);
      if ((e.handle || e.fb) && dev && !(b.provider.device && sameDrmDevice(b.provider.device, dev))) {
        kernel.add(sysName(dev) ?? dev.driver);
      }
      // a V4L2 queue whose videobuf2 memory ops attach (dma-contig, dma-sg; not vmalloc)
      if (e.key instanceof VideoQueue && e.index !== undefined && ATTACHING_VB2.has(e.key.allocator ?? '')) {
        kernel.add(v4l2SysName(e.key.device) ?? e.key.device.driver);
      }
    }
    const d = this.frame === null ? b.alloc.dumb : undefined;
    const f = b.alloc.frame;
    return {
      provider: b.provider.label,
      reason: b.reason,
      skipped: b.skipped,
      size: b.alloc.buf.size,
      inode: b.alloc.buf.inode,
      contiguous: b.alloc.contiguous,
      ...(d ? { layout: { width: d.width, height: d.height, bpp: d.bpp, pitch: d.pitch } } : {}),
      ...(f ? { frame: { width: f.width, height: f.height, format: f.format.name, planes: f.planes.map((p) => ({ offset: p.offset, pitch: p.pitch, size: p.size })) } } : {}),
      allocatedAt: b.allocatedAt,
      kernelAttachments: [...kernel].sort(),
    };
  }

  /** Counters: allocations, provider and why, moves, hits, misses, syscalls (saved), evictions, bytes. */
  stats(): ExporterStats {
    let kept = 0;
    let mapped = 0;
    const size = this.#backing?.alloc.buf.size ?? 0;
    for (const e of this.#entries.values()) {
      if (e.users === 0) kept += size;
      else mapped += size;
    }
    return {
      ...this.#stats,
      provider: this.#backing?.provider.label ?? null,
      reason: this.#backing?.reason ?? null,
      skipped: this.#backing?.skipped ?? [],
      bytesKept: kept,
      bytesMapped: mapped,
    };
  }

  // ---- mapping -------------------------------------------------------------------------------------

  #map(att: Attachment): AnyMap {
    this.#check();
    if (att._detached) throw closedError(`Attachment ${att.id} (detached)`);
    const last = att._entry as Entry | undefined;
    if (last !== undefined && last.cpuResult !== undefined && last.dropped === undefined && !att._moved) {
      // a kept CPU mapping handed out again, the common case: no lookup, nothing allocated
      this.#stats.hits++;
      this.#stats.syscallsSaved += CPU_MAP + CPU_UNMAP;
      last.users++;
      last.lastUsed = ++this.#clock;
      return last.cpuResult;
    }
    const key = att.importer;
    closedImporter(key);
    if (!this.#backing) this.#backing = this.#allocate([...this.#attachments], 'first map');
    let e = this.#entries.get(key);
    if (e && key instanceof VideoQueue && key.indexOf(this.#backing.alloc.frame!) !== e.index) {
      // the queue gave the frame's index to another frame since: prepare it again (a miss)
      this.#stats.misses++;
      this.#stats.syscalls += PREPARE;
      e.index = key.prepare(this.#backing.alloc.frame!);
    } else if (e) {
      this.#stats.hits++;
      this.#stats.syscallsSaved += key === 'cpu' ? CPU_MAP + CPU_UNMAP : key instanceof Display ? 2 * FRAMEBUFFER
        : key instanceof VideoQueue ? PREPARE : 2 * IMPORT;
    } else {
      this.#stats.misses++;
      e = this.#newEntry(key, this.#backing.alloc);
    }
    e.users++;
    e.lastUsed = ++this.#clock;
    att._entry = e;
    const moved = att._moved;
    att._moved = false;
    const frame = this.#backing.alloc.frame ?? null;
    if (e.mapping) {
      if (moved) return { kind: 'cpu', mapping: e.mapping, frame, moved };
      return e.cpuResult ??= Object.freeze({ kind: 'cpu', mapping: e.mapping, frame, moved: false });
    }
    if (e.fb) return { kind: 'framebuffer', fb: e.fb, frame: frame!, moved };
    if (e.index !== undefined) return { kind: 'v4l2', queue: key as VideoQueue, index: e.index, frame: frame!, moved };
    return { kind: 'device', handle: e.handle!, frame, moved };
  }

  #unmap(att: Attachment): void {
    // mapped through #map, which set _entry; a dropped entry forgot its users (#drop)
    const e = att._entry as Entry | undefined;
    if (e === undefined || e.dropped !== undefined) return;
    e.users--;
    e.lastUsed = ++this.#clock;
    this.#enforceBudget();
  }

  #newEntry(key: Key, alloc: Allocation): Entry {
    const e: Entry = { key, users: 0, lastUsed: ++this.#clock };
    const buf = alloc.buf;
    if (key === 'cpu') {
      this.#stats.syscalls += CPU_MAP;
      e.mapping = buf.map('readwrite');
    } else if (key instanceof Display) {
      this.#stats.syscalls += FRAMEBUFFER;
      e.fb = key.device.addFramebuffer(alloc.frame!);
    } else if (key instanceof VideoQueue) {
      this.#stats.syscalls += PREPARE;
      e.index = key.prepare(alloc.frame!);
      e.frame = alloc.frame!;
    } else {
      this.#stats.syscalls += IMPORT;
      e.handle = key.import(buf);
    }
    this.#entries.set(key, e);
    return e;
  }

  /** Unmap or release a kept entry (counting its syscalls) and forget it. */
  #drop(e: Entry): void {
    e.dropped = true;
    if (this.#entries.get(e.key) === e) this.#entries.delete(e.key);
    for (const a of this.#attachments) {
      if (a._entry !== e) continue;
      a._forget();
      a._entry = undefined;
    }
    if (e.mapping) {
      if (e.mapping.mapped) this.#stats.syscalls += CPU_UNMAP;
      e.mapping.unmap();
    }
    if (e.handle && !e.handle.released) {
      if (e.handle.device.handles.get(e.handle.handle) === 1) this.#stats.syscalls += IMPORT; // GEM_CLOSE
      e.handle.release();
    }
    if (e.fb && !e.fb.released) {
      this.#stats.syscalls += FRAMEBUFFER; // RMFB, GEM_CLOSE
      e.fb.release();
    }
    // the queue may give the frame's index to another frame (unless vb2 holds it prepared: see VideoQueue)
    if (e.frame && e.key instanceof VideoQueue && !e.key.device.closed) e.key._forget(e.frame);
  }

  #enforceBudget(): void {
    const size = this.#backing?.alloc.buf.size ?? 0;
    // the common cases, without allocating: everything kept fits the budget, or what is idle does
    if (this.#entries.size * size <= this.budget) return;
    let idleCount = 0;
    for (const e of this.#entries.values()) if (e.users === 0) idleCount++;
    if (idleCount * size <= this.budget) return;
    const idle = [...this.#entries.values()].filter((e) => e.users === 0).sort((a, b) => a.lastUsed - b.lastUsed);
    let kept = idle.length * size;
    for (const e of idle) {
      if (kept <= this.budget) break;
      this.#drop(e);
      kept -= size;
      this.#stats.evictions++;
      this.emit('evict', { importer: e.key === 'cpu' ? 'cpu' : e.key instanceof VideoQueue ? e.key.device.path : deviceOf(e.key)!.path, bytes: size, reason: 'budget' });
    }
  }

  // ---- allocation ----------------------------------------------------------------------------------

  #need(atts: Attachment[]): Need {
    return {
      size: this.size,
      ...(this.#frameNeed ? { frame: this.#frameNeed } : {}),
      contiguous: atts.filter((a) => a.constraints.contiguous).map((a) => a.id),
      layouts: atts.filter((a) => a.constraints.layout).map((a) => ({ layout: a.constraints.layout!, by: a.id })),
    };
  }

  /** Providers in order; the first whose backing satisfies every attachment (imports included) wins. */
  #allocate(atts: Attachment[], why: string): Backing {
    const need = this.#need(atts);
    const skipped: Refusal[] = [];
    for (const p of this.#providers) {
      const r = p.refuse(need) ?? this.#learned(p, atts);
      if (r) {
        skipped.push({ provider: p.label, ...r });
        continue;
      }
      let alloc: Allocation;
      try {
        alloc = p.allocate(need);
        if (this.name !== undefined) alloc.buf.setName(this.name);
      } catch (e) {
        skipped.push({ provider: p.label, constraint: 'allocation', reason: (e as Error).message, ...codeOf(e) });
        continue;
      }
      const backing: Backing = { alloc, provider: p, reason: '', skipped, allocatedAt: new Date() };
      const refusal = this.#checkAll(backing, atts);
      if (refusal) {
        skipped.push({ provider: p.label, ...refusal });
        for (const e of [...this.#entries.values()]) {
          if (e.handle?.inode === alloc.buf.inode || (e.fb !== undefined && e.fb.frame === alloc.frame)
            || (e.frame !== undefined && e.frame === alloc.frame)) this.#drop(e);
        }
        alloc.release();
        continue;
      }
      backing.reason = `${why}: first provider satisfying ${atts.length} attachment(s)` +
        (skipped.length ? ` (skipped ${skipped.map((s) => `${s.provider}: ${s.constraint}`).join(', ')})` : '');
      this.#stats.allocations++;
      this.#backing = backing;
      this.emit('allocate', this.backing!);
      return backing;
    }
    throw constraintsError(skipped, this.size);
  }

  /** A refusal an attached device gave this provider for this image before (this process). */
  #learned(p: Provider, atts: Attachment[]): Omit<Refusal, 'provider'> | undefined {
    for (const a of atts) {
      if (a.importer === 'cpu') continue;
      const l = learnedRefusals.get(`${deviceKey(a.importer)}|${p.label}|${this.#image()}`);
      if (l) {
        const { provider: _p, image: _i, deviceKey: _k, ...r } = l;
        return { ...r, attachment: a.id, learned: true, reason: `refused before in this process: ${l.reason}` };
      }
    }
    return undefined;
  }

  /** What the learned refusals are keyed by besides device and provider. */
  #image(): string {
    const f = this.frame;
    return f === null ? `${this.size} bytes` : `${f.width}x${f.height} ${f.format}`;
  }

  /**
   * Refusals devices gave exporters of this process (newest last): which device refused which
   * provider's memory for which image, with the kernel's errno. Exporters consult them before
   * allocating, so a device is not asked again.
   */
  static learned(): { device: string; provider: string; image: string; code?: string; reason: string }[] {
    return [...learnedRefusals.values()].map((l) => ({
      device: l.deviceKey, provider: l.provider, image: l.image, ...(l.code === undefined ? {} : { code: l.code }), reason: l.reason,
    }));
  }

  /** Forget the learned refusals (a device was reconfigured, a driver reloaded). */
  static forget(): void {
    learnedRefusals.clear();
  }

  /** Check the allocated backing against every attachment; imports made for the check are kept. */
  #checkAll(b: Backing, atts: Attachment[]): Omit<Refusal, 'provider'> | undefined {
    for (const a of atts) {
      const r = this.#serves(b, a);
      if (r) return r;
    }
    return undefined;
  }

  /**
   * Can backing b serve attachment a? Size limit, contiguity and layout are checked by property; a DRM
   * importer by actually importing (the handle is kept for its first map).
   */
  #serves(b: Backing, a: Attachment): Omit<Refusal, 'provider'> | undefined {
    const buf = b.alloc.buf;
    const c = a.constraints;
    if (c.maxSize !== undefined && buf.size > c.maxSize) {
      return { constraint: 'maxSize', attachment: a.id, reason: `backing of ${buf.size} bytes exceeds maxSize ${c.maxSize}` };
    }
    if (c.contiguous && !b.alloc.contiguous) {
      return { constraint: 'contiguous', attachment: a.id, reason: `${b.provider.label} is not physically contiguous` };
    }
    const l = c.layout;
    const d = b.alloc.dumb;
    if (l && !(d && d.width === l.width && d.height === l.height && d.bpp === l.bpp)) {
      return { constraint: 'layout', attachment: a.id, reason: `${b.provider.label} has no ${l.width}x${l.height}x${l.bpp} dumb-buffer layout` };
    }
    const imp = a.importer;
    if (imp !== 'cpu' && !this.#entries.has(imp)) {
      const dev = imp instanceof VideoQueue ? imp.device : deviceOf(imp)!;
      try {
        this.#newEntry(imp, b.alloc);
      } catch (e) {
        const what = imp instanceof Display ? 'cannot make a framebuffer of it (ADDFB2)'
          : imp instanceof VideoQueue ? `cannot use it on its ${imp.direction} queue (PREPARE_BUF)` : 'cannot import it';
        const refusal = { constraint: 'import' as const, attachment: a.id, device: dev.path, reason: `${dev.driver} (${dev.path}) ${what}: ${(e as Error).message}`, ...codeOf(e) };
        if (kernelRefusal(e)) {
          learnedRefusals.set(`${deviceKey(imp)}|${b.provider.label}|${this.#image()}`,
            { ...refusal, provider: b.provider.label, image: this.#image(), deviceKey: deviceKey(imp) });
        }
        return refusal;
      }
    }
    return undefined;
  }

  /** Reallocate for every attachment plus `att`, copy the contents, drop what was kept. Nothing is mapped. */
  #move(att: Attachment, reason: string): void {
    const old = this.#backing!;
    const oldEntries = [...this.#entries.values()];
    this.#entries.clear();
    // the old frames' V4L2 indices go to the new frames (unless still prepared): each frame keeps
    // the index of the one it replaces, instead of taking another exporter's
    for (const en of oldEntries) if (en.frame && en.key instanceof VideoQueue && !en.key.device.closed) en.key._forget(en.frame);
    let next: Backing;
    try {
      // the late attacher first: its refusal is the likely one, and it comes before any other
      // device has prepared or imported the memory it refuses
      next = this.#allocate([att, ...this.#attachments], 'move');
    } catch (e) {
      for (const en of this.#entries.values()) this.#drop(en);
      for (const en of oldEntries) this.#entries.set(en.key, en);
      this.#backing = old;
      throw e;
    }
    if (old.alloc.frame && next.alloc.frame) copyFrame(old.alloc.frame, next.alloc.frame);
    else copy(old.alloc.buf, next.alloc.buf, this.size);
    for (const en of oldEntries) this.#drop(en);
    old.alloc.release();
    for (const a of this.#attachments) a._moved = true;
    this.#stats.moves++;
    this.emit('move', { from: describe(old), to: describe(next), reason });
  }

  /** Unmap every mapping, release every handle, free the backing, close owned devices. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      for (const a of this.#attachments) {
        a._forget();
        a._detached = true;
      }
      this.#attachments.clear();
      for (const e of [...this.#entries.values()]) {
        try {
          this.#drop(e);
        } catch {
          /* a closed device already released its handles */
        }
      }
      this.#backing?.alloc.release();
      this.#backing = undefined;
    } finally {
      for (const p of this.#providers) p.close();
    }
    this.emit('close');
  }

  [Symbol.dispose](): void {
    quietly(() => this.close());
  }
}

/** The DRM device an importer uses: a Device itself, a Display's; none for the CPU or a V4L2 queue. */
function deviceOf(importer: Importer): Device | undefined {
  if (importer === 'cpu' || importer instanceof VideoQueue) return undefined;
  return importer instanceof Display ? importer.device : importer;
}

function closedImporter(importer: Importer): void {
  if (importer instanceof VideoQueue) importer.device.checkOpen();
  if (importer instanceof Device && importer.closed) throw closedError(`DRM device ${importer.path}`);
  if (importer instanceof Display && importer.closed) throw closedError(`Display on ${importer.device.path}`);
}

function codeOf(e: unknown): { code?: string } {
  const code = (e as { code?: unknown }).code;
  return typeof code === 'string' ? { code } : {};
}

function describe(b: Backing): { provider: string; inode: bigint; size: number } {
  return { provider: b.provider.label, inode: b.alloc.buf.inode, size: b.alloc.buf.size };
}

/**
 * Copy a frame into another of the same image whose pitches may differ (a move between providers),
 * row by row, CPU access bracketed on both buffers.
 */
function copyFrame(from: Frame, to: Frame): void {
  const src = from.buffers[0]!;
  const dst = to.buffers[0]!;
  src.access('read', (s) => dst.access('write', (d) => {
    from.planes.forEach((p, i) => {
      const q = to.planes[i]!;
      if (p.pitch === q.pitch) {
        d.set(s.subarray(p.offset, p.offset + p.size), q.offset);
        return;
      }
      const row = Math.min(p.pitch, q.pitch);
      const rows = p.size / p.pitch;
      for (let y = 0; y < rows; y++) d.set(s.subarray(p.offset + y * p.pitch, p.offset + y * p.pitch + row), q.offset + y * q.pitch);
    });
  }));
}

/** Copy `size` bytes between backings, CPU access bracketed (SYNC_START/END) on both. */
function copy(from: DmaBuf, to: DmaBuf, size: number): void {
  from.access('read', (src) => to.access('write', (dst) => dst.set(src.subarray(0, size))));
}
