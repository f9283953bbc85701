/// <reference types="node" preserve="true" />
/**
 * Backing providers for the Exporter: where its memory can come from, in order of preference, and
 * why a provider cannot serve a given set of constraints. Allocation itself is the allocators' job
 * (heaps, udmabuf, DRM dumb buffers + PRIME export); this file only chooses and explains.
 */
import { DmaBuf } from '../dmabuf';
import { Device, DumbBuffer, drm } from '../drm';
import { Frame } from '../frame';
import type { PixelFormatInfo } from '../formats';
import { Heap, heaps } from '../heap';
import { udmabuf } from '../udmabuf';
import { v4l2 } from '../v4l2';
import { quietly } from '../lifecycle';
import { invalidArgType, invalidArgValue } from '../errors';
import { admitAllocation } from '../memory';

/** A dumb-buffer layout a display can scan out. */
export interface Layout {
  width: number;
  height: number;
  /** Bits per pixel. */
  bpp: number;
}

/** A provider as given to `new Exporter({ providers })`. */
export type ProviderSpec = string | Device;

/** Which constraint (or provider property) ruled a provider out. */
export type RefusalKind = 'available' | 'size' | 'contiguous' | 'layout' | 'maxSize' | 'import' | 'allocation';

/** Why a provider was skipped: the constraint it could not meet, who asked for it, what it said. */
export interface Refusal {
  /** The provider's label, e.g. 'heap:system', 'udmabuf', 'drm:/dev/dri/card0'. */
  provider: string;
  constraint: RefusalKind;
  /** Human-readable explanation. */
  reason: string;
  /** The kernel's errno name, when a kernel call failed (ENOMEM, ENODEV, ...). */
  code?: string;
  /** The attachment whose constraint this was (its id), when one attachment asked for it. */
  attachment?: number;
  /** The device node that refused an import (DRM or V4L2). */
  device?: string;
  /** Not asked this time: the device refused this provider for this image before, in this process. */
  learned?: true;
}

/** A frame exporter's image: one buffer with its planes at offsets. */
export interface FrameNeed {
  width: number;
  height: number;
  format: PixelFormatInfo;
}

/** What every current attachment needs, merged. */
export interface Need {
  /** Bytes; for a frame, those of its tightest layout (a provider's pitch may make it larger). */
  size: number;
  /** A frame exporter's image (its backing is a Frame from the provider). */
  frame?: FrameNeed;
  /** Attachment ids that need physically contiguous memory. */
  contiguous: number[];
  /** Distinct layouts asked for, with the attachment that asked. */
  layouts: { layout: Layout; by: number }[];
}

/** Backing made by a provider; release() frees what the provider made (the DmaBuf included). */
export interface Allocation {
  buf: DmaBuf;
  contiguous: boolean;
  /** The dumb buffer behind a 'drm:' backing (its layout, its device). */
  dumb?: DumbBuffer;
  /** A frame exporter's backing: the frame over `buf`. */
  frame?: Frame;
  release(): void;
}

/** One source of backing memory. */
export interface Provider {
  readonly label: string;
  /** Why this provider cannot serve `need` without trying, or undefined if it may. */
  refuse(need: Need): Omit<Refusal, 'provider'> | undefined;
  /** Allocate; throws what the kernel said. */
  allocate(need: Need): Allocation;
  /** The DRM device whose dumb buffers this provider exports (for self-import detection). */
  readonly device?: Device | undefined;
  close(): void;
}

const DUMB_PITCH = 4096;

function layoutRefusal(need: Need, what: string): Omit<Refusal, 'provider'> | undefined {
  const l = need.layouts[0];
  if (!l) return undefined;
  return { constraint: 'layout', attachment: l.by, reason: `a scanout layout needs a DRM dumb buffer; ${what} has none` };
}

function contiguousRefusal(need: Need, what: string): Omit<Refusal, 'provider'> | undefined {
  const by = need.contiguous[0];
  if (by === undefined) return undefined;
  return { constraint: 'contiguous', attachment: by, reason: `${what} is not physically contiguous (only CMA heaps are)` };
}

/** A frame from a provider's source, in one buffer: the Allocation over it. */
function frameAllocation(need: FrameNeed, provider: Heap | Device | 'udmabuf', contiguous: boolean): Allocation {
  const frame = Frame.allocate({ width: need.width, height: need.height, format: need.format.name }, { provider, buffers: 'one' });
  return { buf: frame.buffers[0]!, contiguous, frame, release: () => frame.close() };
}

function bytesOf(l: Layout): number {
  return Math.ceil((l.width * l.bpp) / 8) * l.height;
}

class HeapProvider implements Provider {
  readonly label: string;
  readonly #name: string | undefined;
  #heap: Heap | undefined;

  /** name undefined: any contiguous (CMA) heap. */
  constructor(name: string | undefined) {
    this.#name = name;
    this.label = name === undefined ? 'heap:contiguous' : `heap:${name}`;
  }

  #info(): { name: string; contiguous: boolean } | undefined {
    const list = heaps.list();
    return this.#name === undefined ? list.find((h) => h.contiguous) : list.find((h) => h.name === this.#name);
  }

  refuse(need: Need): Omit<Refusal, 'provider'> | undefined {
    const info = this.#info();
    if (!info) {
      return { constraint: 'available', code: 'ENOENT', reason: this.#name === undefined ? 'no contiguous (CMA) dma-heap' : `no dma-heap '${this.#name}'` };
    }
    return layoutRefusal(need, `heap '${info.name}'`) ?? (info.contiguous ? undefined : contiguousRefusal(need, `heap '${info.name}'`));
  }

  allocate(need: Need): Allocation {
    this.#heap ??= this.#name === undefined ? heaps.find({ contiguous: true }) : heaps.open(this.#name);
    if (!this.#heap) throw new Error('no contiguous dma-heap');
    if (need.frame) return frameAllocation(need.frame, this.#heap, this.#heap.contiguous);
    const buf = this.#heap.allocate(need.size);
    return { buf, contiguous: this.#heap.contiguous, release: () => buf.close() };
  }

  close(): void {
    this.#heap?.close();
    this.#heap = undefined;
  }
}

class UdmabufProvider implements Provider {
  readonly label = 'udmabuf';

  refuse(need: Need): Omit<Refusal, 'provider'> | undefined {
    if (!udmabuf.available()) return { constraint: 'available', code: 'ENOENT', reason: `${udmabuf.path} is not available` };
    const limit = udmabuf.limits().sizeLimit;
    if (limit !== undefined && need.size > limit) {
      return { constraint: 'size', reason: `${need.size} bytes exceeds udmabuf size_limit_mb=${limit / 1048576}` };
    }
    return layoutRefusal(need, 'udmabuf') ?? contiguousRefusal(need, 'udmabuf');
  }

  allocate(need: Need): Allocation {
    if (need.frame) return frameAllocation(need.frame, 'udmabuf', false);
    const buf = udmabuf.create(need.size);
    return { buf, contiguous: false, release: () => buf.close() };
  }

  close(): void {}
}

class DrmProvider implements Provider {
  readonly label: string;
  readonly #path: string;
  readonly #owned: boolean;
  #device: Device | undefined;

  constructor(target: string | Device) {
    this.#owned = typeof target === 'string';
    this.#path = typeof target === 'string' ? target : target.path;
    this.#device = typeof target === 'string' ? undefined : target;
    this.label = `drm:${this.#path}`;
  }

  get device(): Device | undefined {
    return this.#device;
  }

  refuse(need: Need): Omit<Refusal, 'provider'> | undefined {
    const c = contiguousRefusal(need, 'a DRM dumb buffer');
    if (c) return c;
    if (this.#path.includes('/renderD')) return { constraint: 'available', reason: 'dumb buffers need a card node, not a render node' };
    const [first, ...rest] = need.layouts;
    const other = rest.find((l) => l.layout.width !== first!.layout.width || l.layout.height !== first!.layout.height || l.layout.bpp !== first!.layout.bpp);
    if (other) return { constraint: 'layout', attachment: other.by, reason: `attachments ${first!.by} and ${other.by} ask for different layouts` };
    if (first && bytesOf(first.layout) < need.size) {
      return { constraint: 'layout', attachment: first.by, reason: `a ${first.layout.width}x${first.layout.height}x${first.layout.bpp} buffer cannot hold ${need.size} bytes` };
    }
    return undefined;
  }

  allocate(need: Need): Allocation {
    this.#device ??= drm.open(this.#path);
    if (need.frame) return frameAllocation(need.frame, this.#device, false);
    const layout = need.layouts[0]?.layout ?? { width: DUMB_PITCH / 4, height: Math.ceil(need.size / DUMB_PITCH), bpp: 32 };
    // Dumb buffers of vgem, vkms and virtio-gpu are shmem: system memory, allocated when touched. A
    // drm.Device hands out any size the driver accepts (a 2 GiB vgem buffer is legal), but an exporter
    // fills and copies its backing, so it asks for no more than the machine can back.
    admitAllocation(this.#device.backend, need.size, 'system', 'ioctl(DRM_IOCTL_MODE_CREATE_DUMB)', this.#path);
    const dumb = this.#device.createDumb(layout);
    let buf: DmaBuf;
    try {
      if (dumb.size < need.size) throw Object.assign(new Error(`the dumb buffer has ${dumb.size} bytes, fewer than ${need.size}`), { code: 'ERR_OUT_OF_RANGE' });
      buf = dumb.export();
    } catch (e) {
      dumb.destroy();
      throw e;
    }
    return {
      buf, contiguous: false, dumb, release: () => {
        buf.close();
        dumb.destroy();
      },
    };
  }

  close(): void {
    if (this.#owned) {
      this.#device?.close();
      this.#device = undefined;
    }
  }
}

/**
 * videobuf2's allocators (their exporter names) whose import of a dma-buf is a kernel
 * dma_buf_attachment of the device (vb2_dc_attach_dmabuf, vb2_dma_sg_attach_dmabuf call
 * dma_buf_attach); vb2-vmalloc's only keeps the dma-buf and vmaps it.
 */
export const ATTACHING_VB2 = new Set(['videobuf2_dma_contig', 'videobuf2_dma_sg']);

/** The kernel's name of a V4L2 device's parent (what vb2 attaches as, and bufinfo prints), or undefined. */
export function v4l2SysName(dev: { path: string; backend: { readlink(p: string): string } }): string | undefined {
  let n = v4l2SysNames.get(dev.path);
  if (n === undefined) {
    const node = dev.path.slice(dev.path.lastIndexOf('/') + 1);
    try {
      const link = dev.backend.readlink(`/sys/class/video4linux/${node}/device`);
      n = link.slice(link.lastIndexOf('/') + 1);
    } catch {
      n = null;
    }
    v4l2SysNames.set(dev.path, n);
  }
  return n ?? undefined;
}
const v4l2SysNames = new Map<string, string | null>();

/** The dma-buf exporters of videobuf2's allocators whose memory is DMA-contiguous. */
const CONTIGUOUS_VB2 = new Set(['videobuf2_dma_contig']);

/**
 * A V4L2 device's own buffers (REQBUFS(MMAP) + EXPBUF on the node's queue, then REQBUFS(0): the
 * exported dma-buf keeps the memory). Only frames: the device lays the image out itself (its
 * pitch, its planes). Its memory is whatever the driver's videobuf2 allocator gives: contiguous
 * for vb2-dma-contig, which is how a device that needs contiguous memory gets it on a kernel with
 * no CMA heap. The node's queue must be free (not streaming, no buffers) while the frame is made.
 */
class V4l2Provider implements Provider {
  readonly label: string;
  readonly #path: string;

  constructor(path: string) {
    this.#path = path;
    this.label = `v4l2:${path}`;
  }

  refuse(need: Need): Omit<Refusal, 'provider'> | undefined {
    if (!need.frame) return { constraint: 'available', reason: 'a V4L2 device allocates images: give the Exporter a frame' };
    return layoutRefusal(need, 'a V4L2 device');
  }

  allocate(need: Need): Allocation {
    const want = need.frame!;
    using dev = v4l2.open(this.#path);
    const q = dev.capture ?? dev.output;
    if (q === null) throw new Error(`${this.#path} has no video queue`);
    const saved = q.getFormat();
    let frame: Frame;
    try {
      const got = q.setFormat({ width: want.width, height: want.height, format: want.format.name });
      if (got.format?.name !== want.format.name || got.width !== want.width || got.height !== want.height) {
        throw Object.assign(new Error(`${this.#path} cannot allocate ${want.width}x${want.height} ${want.format.name} ` +
          `(its ${q.direction} queue offers ${got.width}x${got.height} ${got.fourcc})`), { code: 'ERR_DMABUF_UNSUPPORTED' });
      }
      // the driver may make more than asked (vivid: at least 2): keep the first, close the others
      const frames = q.exportBuffers(1);
      frame = frames[0]!;
      for (const f of frames.slice(1)) f.close();
      q.release();
    } finally {
      quietly(() => q.setFormat({ width: saved.width, height: saved.height, format: saved.fourcc }));
    }
    const contiguous = frame.buffers.every((b) => CONTIGUOUS_VB2.has(b.info().exporter));
    if (!contiguous && need.contiguous.length > 0) {
      const exporter = frame.buffers[0]!.info().exporter;
      frame.close();
      throw Object.assign(new Error(`${this.#path}'s buffers are not contiguous (exporter ${exporter})`), { code: 'ERR_DMABUF_CONSTRAINTS' });
    }
    return { buf: frame.buffers[0]!, contiguous, frame, release: () => frame.close() };
  }

  close(): void {}
}

/** Parse and validate `options.providers` (throws before anything is opened). */
export function parseProviders(specs: unknown): Provider[] {
  if (!Array.isArray(specs)) throw invalidArgType('options.providers', 'an array', specs);
  if (specs.length === 0) throw invalidArgValue('options.providers', specs, 'must name at least one provider');
  return specs.map((s: unknown, i) => {
    const name = `options.providers[${i}]`;
    if (s instanceof Device) return new DrmProvider(s);
    if (typeof s !== 'string') throw invalidArgType(name, "a provider string or a drm Device", s);
    if (s === 'udmabuf') return new UdmabufProvider();
    if (s === 'heap:contiguous') return new HeapProvider(undefined);
    const heap = /^heap:([^/]+)$/.exec(s);
    if (heap && heap[1] !== '.' && heap[1] !== '..') return new HeapProvider(heap[1]);
    if (/^drm:\/\S+$/.test(s)) return new DrmProvider(s.slice(4));
    if (/^v4l2:\/\S+$/.test(s)) return new V4l2Provider(s.slice(5));
    throw invalidArgValue(name, s, "must be 'heap:<name>', 'heap:contiguous', 'udmabuf', 'drm:<path>', 'v4l2:<path>' or a drm Device");
  });
}

/**
 * The kernel's name for a DRM device (what /sys/kernel/debug/dma_buf/bufinfo prints under
 * "Attached Devices"): the basename of /sys/class/drm/<node>/device, e.g. 'vgem', '0000:00:04.0'.
 */
const sysNames = new WeakMap<Device, string | null>();
export function sysName(dev: Device): string | undefined {
  let n = sysNames.get(dev);
  if (n === undefined) {
    const node = dev.path.slice(dev.path.lastIndexOf('/') + 1);
    try {
      const link = dev.backend.readlink(`/sys/class/drm/${node}/device`);
      n = link.slice(link.lastIndexOf('/') + 1);
    } catch {
      n = null;
    }
    sysNames.set(dev, n);
  }
  return n ?? undefined;
}

/** Two handles on one DRM device (card and render node, or two opens): imports between them are self-imports. */
export function sameDrmDevice(a: Device, b: Device): boolean {
  if (a === b) return true;
  const na = sysName(a);
  const nb = sysName(b);
  return na !== undefined && nb !== undefined ? na === nb : a.driver === b.driver;
}
