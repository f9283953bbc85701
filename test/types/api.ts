/**
 * Type tests of the shipped declarations, compiled as a consumer project compiles them (by
 * scripts/check-types.js, with TypeScript 5 and 7, `types: []`): what must compile does, and what
 * must not is marked @ts-expect-error (an unused one is an error too).
 */
import { expectTypeOf } from 'expect-type';
import {
  probe, backendChoice, udmabuf, drm, Exporter, Attachment, SyncFile, Device, DmaBuf, Framebuffer, VideoDevice,
  type ProbeResult, type BackendChoice, type SyncFileInfo, type SyncFenceInfo, type DrmVersion, type MoveEvent,
  type EvictEvent, type BackingInfo, type ExporterEvents, type FramebufferPlane, type Backend, type StatInfo,
  type DmabufSystemError, type PixelFormat, type Display, type VideoQueue, type CpuMap, type DeviceMap,
  type FramebufferMap, type QueueMap,
} from 'dmabuf';
import { main, run } from 'dmabuf/cli';
import type * as pkg from 'dmabuf/package.json';

declare const exp: Exporter;
declare const buf: DmaBuf;
declare const sf: SyncFile;
declare const dev: Device;
declare const fb: Framebuffer;
declare const video: VideoDevice;
declare const display: Display;
declare const queue: VideoQueue;

// each importer's map() result is its own kind
expectTypeOf(exp.attach('cpu').map()).toEqualTypeOf<CpuMap>();
expectTypeOf(exp.attach(dev).map()).toEqualTypeOf<DeviceMap>();
expectTypeOf(exp.attach(display).map()).toEqualTypeOf<FramebufferMap>();
expectTypeOf(exp.attach(queue).map()).toEqualTypeOf<QueueMap>();
expectTypeOf(exp.attach(display).map().fb).toEqualTypeOf<Framebuffer>();
expectTypeOf(exp.attach(queue).map().index).toBeNumber();
// @ts-expect-error a CPU map has no framebuffer
void exp.attach('cpu').map().fb;

// Exporter events are typed: known names, their listeners' arguments, and nothing else
exp.on('move', (e) => expectTypeOf(e).toEqualTypeOf<MoveEvent>());
exp.once('evict', (e) => expectTypeOf(e).toEqualTypeOf<EvictEvent>());
exp.on('allocate', (b) => expectTypeOf(b).toEqualTypeOf<BackingInfo>());
exp.on('attach', (a) => expectTypeOf(a).toEqualTypeOf<Attachment>());
exp.off('close', () => undefined);
expectTypeOf(exp.on('detach', () => undefined)).toEqualTypeOf<Exporter>();
expectTypeOf<ExporterEvents['move']>().toEqualTypeOf<[event: MoveEvent]>();
// @ts-expect-error an event the Exporter does not emit
exp.on('mvoe', () => undefined);
// @ts-expect-error a listener of the wrong shape
exp.on('move', (e: number) => e);
// @ts-expect-error close has no argument
exp.on('close', (x: string) => x);
video.on('source-change', (e) => expectTypeOf(e.changes).toBeNumber());
// @ts-expect-error video devices have no 'move' event
video.on('move', () => undefined);

// every type a public function returns is exported
expectTypeOf(probe).returns.toEqualTypeOf<ProbeResult>();
expectTypeOf<ProbeResult['backend']>().toEqualTypeOf<'native' | 'mock' | 'none'>();
expectTypeOf(backendChoice).returns.toEqualTypeOf<BackendChoice>();
expectTypeOf<BackendChoice['usable']>().toBeBoolean();
expectTypeOf(sf.info()).toEqualTypeOf<SyncFileInfo>();
expectTypeOf<SyncFileInfo['fences'][number]>().toEqualTypeOf<SyncFenceInfo>();
expectTypeOf(dev.version).toEqualTypeOf<DrmVersion>();
expectTypeOf(fb.planes).toEqualTypeOf<readonly FramebufferPlane[]>();
expectTypeOf<ReturnType<Backend['fstat']>>().toEqualTypeOf<StatInfo>();
expectTypeOf(udmabuf.create).returns.toEqualTypeOf<DmaBuf>();
expectTypeOf(drm.open).returns.toEqualTypeOf<Device>();
expectTypeOf<PixelFormat>().toEqualTypeOf<'XRGB8888' | 'ARGB8888'>();
expectTypeOf<DmabufSystemError['hint']>().toEqualTypeOf<string | undefined>();

// Node's types come with the declarations (no --types node): Buffer, AbortSignal, Disposable
expectTypeOf(buf[Symbol.dispose]).toBeFunction();
void buf.idle('read', { signal: new AbortController().signal });

// the CLI's subpath and package.json are exported
expectTypeOf(main).parameter(0).toEqualTypeOf<readonly string[]>();
expectTypeOf(main).returns.toBeNumber();
expectTypeOf(run).toBeFunction();
expectTypeOf<typeof pkg.name>().toBeString();

// @internal members are stripped
// @ts-expect-error the backend an object lives in is internal
void buf.backend;
// @ts-expect-error Device's mapHandle is internal
void dev.mapHandle;
