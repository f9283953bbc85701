/**
 * The native backend: loads the C++ addon lazily (only when asked, never on import) and exposes it as
 * a Backend. The addon is thin and syscall-shaped; this file only wires it up (error factory, page
 * size) and passes calls through, behind the argument specification both backends share (args.ts).
 */
import * as fs from 'fs';
import * as path from 'path';
import { dmabufError, invalidArgType, systemError } from '../errors';
import { withArgChecks } from './args';
import type { Backend, Fd, MapHandle } from './types';
import type { AddonSyscalls, RawAddon } from './addon';

/** The native Backend plus native-only helpers (fd tracking), used by tests and the lifecycle layer. */
export interface NativeBackend extends Backend {
  readonly name: 'native';
  /** Stop tracking fd (its ownership went elsewhere, e.g. to a child process): the addon's env cleanup
   * hook will not close it. True if it was tracked. */
  fdRelease(fd: Fd): boolean;
  /** The fds handed out by this thread's addon instance and not closed/released yet, ascending. */
  trackedFds(): Fd[];
}

export interface NativeLoadResult {
  backend?: NativeBackend;
  /**
   * The addon's functions as it exports them, without the argument specification in front: only for
   * tests that compare the addon's own argument checks with the specification.
   */
  unchecked?: AddonSyscalls;
  error?: Error;
  /** The addon files that were tried, in order. */
  tried: string[];
}

let cached: NativeLoadResult | undefined;

/** The directory holding this package's package.json (works from src/ under ts-node and from dist/). */
function packageRoot(): string {
  let dir = __dirname;
  for (;;) {
    const pj = path.join(dir, 'package.json');
    try {
      if (fs.existsSync(pj) && JSON.parse(fs.readFileSync(pj, 'utf8')).name === 'dmabuf') return dir;
    } catch { /* unreadable or not JSON: keep walking */ }
    const up = path.dirname(dir);
    if (up === dir) return path.resolve(__dirname, '..', '..', '..');
    dir = up;
  }
}

function wrap(addon: RawAddon): NativeBackend {
  const a = addon;
  // The handles this addon made: the backend's own check of a MapHandle argument, done in the order
  // of the specification (the addon checks its type tag again).
  const handles = new WeakSet<MapHandle>();
  const impl = {
    name: 'native' as const,
    pageSize: a.pageSize,
    open: a.open, close: a.close, dup: a.dup, fstat: a.fstat, stat: a.stat, lseek: a.lseek,
    getFlags: a.getFlags, read: a.read, write: a.write, pread: a.pread, readTextFile: a.readTextFile,
    readdir: a.readdir, readlink: a.readlink, access: a.access,
    memfdCreate: a.memfdCreate, ftruncate: a.ftruncate, addSeals: a.addSeals, getSeals: a.getSeals,
    udmabufCreate: a.udmabufCreate, udmabufCreateList: a.udmabufCreateList,
    heapAlloc: a.heapAlloc,
    dmabufSync: a.dmabufSync, dmabufSyncAsync: a.dmabufSyncAsync, dmabufSetName: a.dmabufSetName,
    dmabufExportSyncFile: a.dmabufExportSyncFile, dmabufImportSyncFile: a.dmabufImportSyncFile,
    syncFileInfo: a.syncFileInfo, syncFileMerge: a.syncFileMerge,
    poll: a.poll, pollAsync: a.pollAsync,
    mmap: (fd: Fd, length: number, prot: number, flags: number, offset: number): MapHandle => {
      const h = a.mmap(fd, length, prot, flags, offset);
      handles.add(h);
      return h;
    },
    mapBuffer: a.mapBuffer, mapRead: a.mapRead, munmap: a.munmap, isMapped: a.isMapped,
    drmVersion: a.drmVersion, drmGetCap: a.drmGetCap, drmSetClientCap: a.drmSetClientCap,
    drmCreateDumb: a.drmCreateDumb, drmMapDumb: a.drmMapDumb, drmDestroyDumb: a.drmDestroyDumb,
    drmGemClose: a.drmGemClose, drmPrimeHandleToFd: a.drmPrimeHandleToFd,
    drmPrimeFdToHandle: a.drmPrimeFdToHandle, vgemFenceAttach: a.vgemFenceAttach,
    vgemFenceSignal: a.vgemFenceSignal,
    swSyncCreateFence: a.swSyncCreateFence, swSyncInc: a.swSyncInc,
    sendFds: a.sendFds, recvFds: a.recvFds,
    kmsGetResources: a.kmsGetResources, kmsGetConnector: a.kmsGetConnector, kmsGetCrtc: a.kmsGetCrtc,
    kmsSetCrtc: a.kmsSetCrtc, kmsGetPlaneResources: a.kmsGetPlaneResources, kmsGetPlane: a.kmsGetPlane,
    kmsAddFb2: a.kmsAddFb2, kmsRmFb: a.kmsRmFb, kmsPageFlip: a.kmsPageFlip,
    kmsGetEncoder: a.kmsGetEncoder, kmsGetProperties: a.kmsGetProperties, kmsGetProperty: a.kmsGetProperty,
    kmsGetBlob: a.kmsGetBlob, kmsCreateBlob: a.kmsCreateBlob, kmsDestroyBlob: a.kmsDestroyBlob,
    kmsAtomic: a.kmsAtomic,
    drmReadEvents: a.drmReadEvents,
    v4l2QueryCap: a.v4l2QueryCap, v4l2EnumFmt: a.v4l2EnumFmt, v4l2EnumFrameSizes: a.v4l2EnumFrameSizes,
    v4l2GetFmt: a.v4l2GetFmt, v4l2SetFmt: a.v4l2SetFmt, v4l2ReqBufs: a.v4l2ReqBufs, v4l2CreateBufs: a.v4l2CreateBufs,
    v4l2QueryBuf: a.v4l2QueryBuf, v4l2QBuf: a.v4l2QBuf, v4l2PrepareBuf: a.v4l2PrepareBuf, v4l2DqBuf: a.v4l2DqBuf,
    v4l2ExpBuf: a.v4l2ExpBuf, v4l2StreamOn: a.v4l2StreamOn, v4l2StreamOff: a.v4l2StreamOff,
    v4l2GetInput: a.v4l2GetInput, v4l2SetInput: a.v4l2SetInput, v4l2GetOutput: a.v4l2GetOutput,
    v4l2SetOutput: a.v4l2SetOutput, v4l2EnumInput: a.v4l2EnumInput, v4l2EnumOutput: a.v4l2EnumOutput,
    v4l2QueryExtCtrl: a.v4l2QueryExtCtrl, v4l2QueryMenu: a.v4l2QueryMenu, v4l2GetExtCtrls: a.v4l2GetExtCtrls,
    v4l2SetExtCtrls: a.v4l2SetExtCtrls, v4l2SubscribeEvent: a.v4l2SubscribeEvent,
    v4l2UnsubscribeEvent: a.v4l2UnsubscribeEvent, v4l2DqEvent: a.v4l2DqEvent,
    v4l2EncoderCmd: a.v4l2EncoderCmd, v4l2DecoderCmd: a.v4l2DecoderCmd,
    fdRelease: a.fdRelease, trackedFds: a.trackedFds,
  } satisfies NativeBackend;
  return withArgChecks(impl, (v) => {
    if (!handles.has(v as MapHandle)) throw invalidArgType('mapping', 'a mapping made by this backend', v);
  });
}

function load(): NativeLoadResult {
  const tried: string[] = [];
  if (process.platform !== 'linux') {
    const error = dmabufError('ERR_DMABUF_UNSUPPORTED',
      `the native dmabuf addon is Linux-only (this is ${process.platform}); use the mock backend`);
    return { error, tried };
  }
  const root = packageRoot();
  const failures: string[] = [];
  for (const build of ['Release', 'Debug']) {
    const file = path.join(root, 'build', build, 'dmabuf.node');
    tried.push(file);
    if (!fs.existsSync(file)) {
      failures.push(`${file}: not found`);
      continue;
    }
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const addon = require(file) as RawAddon;
      addon.setErrorFactory(systemError);
      return { backend: wrap(addon), unchecked: addon, tried };
    } catch (e) {
      failures.push(`${file}: ${(e as Error).message}`);
    }
  }
  const error = dmabufError('ERR_DMABUF_NO_NATIVE',
    `could not load the native dmabuf addon (tried ${failures.join('; ')}). ` +
      'Build it with `npm run build:native` (needs python3, make and g++), or use the mock backend ' +
      '(DMABUF_BACKEND=mock).');
  return { error, tried };
}

/**
 * Load the native addon (once per thread; later calls return the same result). Never throws: on
 * failure `error` says what was tried and what to do.
 */
export function loadNative(): NativeLoadResult {
  if (!cached) cached = load();
  return cached;
}
