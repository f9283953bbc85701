/// <reference types="node" preserve="true" />
/**
 * Framebuffers: an image the display hardware can scan out, registered with the kernel by ADDFB2
 * (drm_mode_fb_cmd2: one GEM handle, pitch and offset per plane, and a format modifier per plane when
 * the driver takes modifiers).
 *
 * `device.addFramebuffer(frame)` makes one from a Frame of any provider: each distinct buffer of the
 * frame is PRIME-imported into the device once (planes that share a buffer share its handle, and the
 * device's handle table counts the references, so a buffer this device exported comes back as its own
 * handle), and the framebuffer holds those references until it is released. The kernel's framebuffer
 * holds the GEM objects itself, so closing the frame while its framebuffer is shown is safe: the
 * memory stays until RMFB.
 *
 * Display.createFramebuffer() makes the other kind: a dumb buffer of the device, drawn with draw().
 */
import type { Backend } from './backend/types';
import {
  DRM_CAP_ADDFB2_MODIFIERS, DRM_CLIENT_CAP_UNIVERSAL_PLANES, DRM_MODE_FB_MODIFIERS,
} from './constants';
import type { DmaBuf } from './dmabuf';
import type { Device, DumbBuffer, GemHandle } from './drm';
import { closedError, dmabufError, invalidArgType, stateError, withPath } from './errors';
import { formats, fourccString, type PixelFormatInfo } from './formats';
import { codedFrameError, DRM_FORMAT_MOD_LINEAR, Frame } from './frame';
import { quietly } from './lifecycle';

/** One plane of a framebuffer as ADDFB2 got it. */
export interface FramebufferPlane {
  /** The GEM handle in the device's file. */
  readonly handle: number;
  readonly pitch: number;
  readonly offset: number;
}

/** What a framebuffer was made from, and how to let go of it after RMFB. */
interface Source {
  frame: Frame | null;
  buffer: DumbBuffer | null;
  release(): void;
}

function errCode(e: unknown): string | undefined {
  return (e as { code?: string }).code;
}

/** The formats of every plane of the device (primary and cursor included), or null if it cannot say. */
function planeFormats(device: Device): Set<number> | null {
  const b = device.backend;
  try {
    // Without this client cap GETPLANERESOURCES lists overlay planes only; it changes nothing else
    // for a legacy (non-atomic) client.
    b.drmSetClientCap(device.fd, DRM_CLIENT_CAP_UNIVERSAL_PLANES, 1);
    const out = new Set<number>();
    for (const id of b.kmsGetPlaneResources(device.fd)) for (const f of b.kmsGetPlane(device.fd, id).formats) out.add(f);
    return out;
  } catch {
    return null;
  }
}

function formatNames(fourccs: Iterable<number>): string {
  return [...fourccs].map((f) => formats.find(f)?.name ?? fourccString(f)).join(', ');
}

/** Why ADDFB2 said EINVAL, as far as the device lets us tell. */
function addFbHint(device: Device, format: PixelFormatInfo, frame: Frame | null, modifiers: boolean): string {
  const supported = planeFormats(device);
  if (supported !== null && !supported.has(format.drm)) {
    return `no plane of ${device.driver} takes ${format.name} (its planes take ${formatNames(supported)})`;
  }
  if (frame !== null && frame.modifier !== DRM_FORMAT_MOD_LINEAR && modifiers) {
    return `${device.driver} refused the modifier 0x${frame.modifier.toString(16)} for ${format.name}`;
  }
  const layout = frame === null ? '' : ` (pitches ${frame.planes.map((p) => p.pitch).join(', ')}; offsets ${
    frame.planes.map((p) => p.offset).join(', ')})`;
  return `${device.driver} refused the ${format.name} layout${layout}: a pitch below the row's bytes, a plane ` +
    'past the end of its buffer, or a size outside the device\'s limits';
}

/** A framebuffer: RMFB and the handle references it holds go on release. */
export class Framebuffer implements Disposable {
  readonly device: Device;
  /** The kernel's framebuffer id. */
  readonly id: number;
  readonly width: number;
  readonly height: number;
  /** The format, as formats.get() gives it. */
  readonly pixelFormat: PixelFormatInfo;
  /** DRM_FORMAT_MOD_LINEAR unless the frame said otherwise. */
  readonly modifier: bigint;
  readonly planes: readonly FramebufferPlane[];
  /** The frame it was made from (addFramebuffer), else null. */
  readonly frame: Frame | null;
  /** The dumb buffer Display.createFramebuffer() made for it, else null. */
  readonly buffer: DumbBuffer | null;
  #source: Source;
  #dmabuf: DmaBuf | null = null;
  #released = false;
  readonly #onRelease: ((fb: Framebuffer) => void) | undefined;

  /** @internal use device.addFramebuffer() or Display.createFramebuffer() */
  constructor(device: Device, id: number, width: number, height: number, format: PixelFormatInfo, modifier: bigint,
    planes: FramebufferPlane[], source: Source, onRelease?: (fb: Framebuffer) => void) {
    this.device = device;
    this.id = id;
    this.width = width;
    this.height = height;
    this.pixelFormat = format;
    this.modifier = modifier;
    this.planes = Object.freeze(planes.map((p) => Object.freeze({ ...p })));
    this.frame = source.frame;
    this.buffer = source.buffer;
    this.#source = source;
    this.#onRelease = onRelease;
  }

  /** The DRM format name, e.g. 'XRGB8888'. */
  get format(): string {
    return this.pixelFormat.name;
  }

  /** Bytes per row of the first plane. */
  get pitch(): number {
    return this.planes[0]!.pitch;
  }

  /** Released, or its device closed (which removes the file's framebuffers). */
  get released(): boolean {
    return this.#released || this.device.closed;
  }

  /**
   * Write the pixels with CPU access bracketed (SYNC START … END, END even if fn throws): a dumb
   * buffer is exported once and mapped; a frame's first plane is handed over (multi-planar frames:
   * use frame.access, which hands every plane).
   */
  draw<T>(fn: (bytes: Uint8Array) => T): T {
    if (this.released) throw closedError('Framebuffer');
    if (this.frame !== null) {
      if (this.frame.planes.length > 1) {
        throw stateError(`${this.format} has ${this.frame.planes.length} planes: use fb.frame.access() to write them`);
      }
      return this.frame.access('write', (planes) => fn(planes[0]!));
    }
    this.#dmabuf ??= this.buffer!.export();
    return this.#dmabuf.access('write', fn);
  }

  /** RMFB (a CRTC showing it goes blank), then the handles or the dumb buffer. Idempotent. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#onRelease?.(this);
    const device = this.device;
    try {
      this.#dmabuf?.close();
      this.#dmabuf = null;
      if (!device.closed) {
        try {
          device.backend.kmsRmFb(device.fd, this.id);
        } catch (e) {
          throw withPath(e, device.path);
        }
      }
    } finally {
      this.#source.release();
    }
  }

  [Symbol.dispose](): void {
    quietly(() => this.release());
  }
}

/**
 * ADDFB2 of handles the caller holds; on failure the caller still holds them. Modifiers are stated
 * (DRM_MODE_FB_MODIFIERS) when the driver takes them; a driver that does not can only take linear
 * (or implicit) layouts.
 */
function addFb2(device: Device, width: number, height: number, format: PixelFormatInfo, modifier: bigint,
  planes: FramebufferPlane[], frame: Frame | null): number {
  const b: Backend = device.backend;
  let takesModifiers = false;
  try {
    takesModifiers = b.drmGetCap(device.fd, DRM_CAP_ADDFB2_MODIFIERS) === 1;
  } catch {
    /* an old kernel without the cap: no modifiers */
  }
  if (!takesModifiers && modifier !== DRM_FORMAT_MOD_LINEAR) {
    throw dmabufError('ERR_DMABUF_UNSUPPORTED', `${device.driver} takes no format modifiers (DRM_CAP_ADDFB2_MODIFIERS ` +
      `is 0): a frame with modifier 0x${modifier.toString(16)} cannot be a framebuffer there`, { path: device.path });
  }
  try {
    return b.kmsAddFb2(device.fd, width, height, format.drm, planes.map((p) => p.handle), planes.map((p) => p.pitch),
      planes.map((p) => p.offset), takesModifiers ? planes.map(() => modifier) : [],
      takesModifiers ? DRM_MODE_FB_MODIFIERS : 0);
  } catch (e) {
    const code = errCode(e);
    let hint: string | undefined;
    if (code === 'EINVAL') hint = addFbHint(device, format, frame, takesModifiers);
    else if (code === 'ERANGE') hint = 'a plane ends beyond 4 GiB (offset + pitch × rows)';
    else if (code === 'EOPNOTSUPP') hint = `${device.driver} has no modesetting (KMS): no display to drive`;
    else if (code === 'EACCES' && device.kind === 'render') hint = 'framebuffers need a card node, not a render node';
    throw withPath(e, device.path, hint);
  }
}

/** device.addFramebuffer(frame): see Device.addFramebuffer. */
export function addFramebuffer(device: Device, frame: Frame): Framebuffer {
  if (!(frame instanceof Frame)) throw invalidArgType('frame', 'an instance of Frame', frame);
  if (frame.closed) throw closedError('Frame');
  if (device.closed) throw closedError(`DRM device ${device.path}`);
  if (frame.format.compressed) {
    throw codedFrameError(frame.format, 'it cannot be a framebuffer (DRM has no fourcc for it)',
      'decode it first (a V4L2 decoder\'s capture queue gives image frames)');
  }
  const imported = new Map<DmaBuf, GemHandle>();
  const release = (): void => {
    for (const g of imported.values()) quietly(() => g.release());
    imported.clear();
  };
  try {
    const planes = frame.planes.map((p) => {
      let g = imported.get(p.buffer);
      if (g === undefined) {
        g = device.import(p.buffer);
        imported.set(p.buffer, g);
      }
      return { handle: g.handle, pitch: p.pitch, offset: p.offset };
    });
    const id = addFb2(device, frame.width, frame.height, frame.format, frame.modifier, planes, frame);
    return new Framebuffer(device, id, frame.width, frame.height, frame.format, frame.modifier, planes,
      { frame, buffer: null, release });
  } catch (e) {
    release();
    throw e;
  }
}

/** @internal Display.createFramebuffer: ADDFB2 of a dumb buffer the framebuffer then owns. */
export function dumbFramebuffer(device: Device, buffer: DumbBuffer, format: PixelFormatInfo,
  onRelease: (fb: Framebuffer) => void): Framebuffer {
  const planes = [{ handle: buffer.handle, pitch: buffer.pitch, offset: 0 }];
  let id: number;
  try {
    id = addFb2(device, buffer.width, buffer.height, format, DRM_FORMAT_MOD_LINEAR, planes, null);
  } catch (e) {
    buffer.destroy();
    throw e;
  }
  return new Framebuffer(device, id, buffer.width, buffer.height, format, DRM_FORMAT_MOD_LINEAR, planes,
    { frame: null, buffer, release: () => buffer.destroy() }, onRelease);
}
