/**
 * The native backend: loads the C++ addon lazily (only when asked, never on import) and exposes it as
 * a Backend. The addon is thin and syscall-shaped; this file only wires it up (error factory, page
 * size) and passes calls through, behind the argument specification both backends share (args.ts).
 */
import * as fs from 'fs';
import * as path from 'path';
import { debug, debugEnabled } from '../debug';
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
  /** The file that loaded. */
  file?: string;
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
  const impl = {
    name: 'native' as const,
    pageSize: a.pageSize,
    lastId: a.lastId,
    fdCheck: a.fdCheck, closeChecked: a.closeChecked, fdinfoChecked: a.fdinfoChecked,
    open: a.open, close: a.close, dup: a.dup, fstat: a.fstat, stat: a.stat, lseek: a.lseek,
    getFlags: a.getFlags, read: a.read, write: a.write, pread: a.pread, readTextFile: a.readTextFile,
    readdir: a.readdir, readlink: a.readlink, access: a.access,
    memfdCreate: a.memfdCreate, ftruncate: a.ftruncate, addSeals: a.addSeals, getSeals: a.getSeals,
    udmabufCreate: a.udmabufCreate, udmabufCreateList: a.udmabufCreateList, udmabufCreateSized: a.udmabufCreateSized,
    heapAlloc: a.heapAlloc, heapAllocChecked: a.heapAllocChecked,
    dmabufSync: a.dmabufSync, dmabufSyncer: a.dmabufSyncer, dmabufSyncAsync: a.dmabufSyncAsync, dmabufSetName: a.dmabufSetName,
    dmabufSetNameChecked: a.dmabufSetNameChecked,
    dmabufExportSyncFile: a.dmabufExportSyncFile, dmabufImportSyncFile: a.dmabufImportSyncFile,
    syncFileInfo: a.syncFileInfo, syncFileMerge: a.syncFileMerge,
    poll: a.poll, pollAsync: a.pollAsync,
    mmap: a.mmap, mmapChecked: a.mmapChecked,
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
  } satisfies Omit<NativeBackend, 'unchecked'>;
  // A MapHandle argument: the addon says whether it made the handle (its type tag), in the order of
  // the specification (the addon checks it again).
  return withArgChecks(impl, (v) => {
    if (!a.isMapHandle(v)) throw invalidArgType('mapping', 'a mapping made by this backend', v);
  });
}

/** What node-gyp-build exports beside its loader: the tag parsing and matching of prebuild file names. */
interface NodeGypBuild {
  path(dir: string): string;
  parseTuple(name: string): { name: string; platform: string; architectures: string[] } | undefined;
  matchTuple(platform: string, arch: string): (t: ReturnType<NodeGypBuild['parseTuple']>) => boolean;
  compareTuples(a: { architectures: string[] }, b: { architectures: string[] }): number;
  parseTags(file: string): { file: string } | undefined;
  matchTags(runtime: string, abi: string): (t: ReturnType<NodeGypBuild['parseTags']>) => boolean;
  compareTags(runtime: string): (a: { file: string }, b: { file: string }) => number;
}

function readdir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

/**
 * The prebuilt binary node-gyp-build picks for this machine: prebuilds/<platform>-<arch>/, the file
 * whose tags (libc, N-API) match, most specific first. `why` says why there is none.
 */
function prebuildFor(root: string, ngb: NodeGypBuild): { file?: string; why: string } {
  const dir = path.join(root, 'prebuilds');
  const tuple = readdir(dir).map((n) => ngb.parseTuple(n)).filter(ngb.matchTuple(process.platform, process.arch))
    .sort((a, b) => ngb.compareTuples(a!, b!))[0];
  if (!tuple) return { why: `no ${path.join(dir, `${process.platform}-${process.arch}`)}` };
  const sub = path.join(dir, tuple.name);
  const winner = readdir(sub).map((f) => ngb.parseTags(f)).filter(ngb.matchTags('node', process.versions.modules))
    .sort((a, b) => ngb.compareTags('node')(a!, b!))[0];
  return winner ? { file: path.join(sub, winner.file), why: '' } : { why: `nothing in ${sub} matches this machine (libc, N-API)` };
}

/**
 * The files to try, in order: DMABUF_ADDON alone when it is set; otherwise node-gyp-build's order,
 * a local build first (build/Release, build/Debug: what `npm run build:native` or `npm rebuild dmabuf`
 * just compiled), then the prebuilt binary for this machine.
 */
function candidates(root: string, failures: string[]): string[] {
  const forced = process.env.DMABUF_ADDON;
  if (forced) return [path.resolve(forced)];
  const out = ['Release', 'Debug'].map((b) => path.join(root, 'build', b, 'dmabuf.node'));
  let ngb: NodeGypBuild | undefined;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    ngb = require('node-gyp-build') as NodeGypBuild;
  } catch (e) {
    failures.push(`prebuilds: node-gyp-build did not load (${(e as Error).message.split('\n')[0]})`);
  }
  if (ngb) {
    const pre = prebuildFor(root, ngb);
    if (pre.file) out.push(pre.file);
    else failures.push(`prebuilds: ${pre.why}`);
    if (debugEnabled) debug('addon candidates: %s%s', out.join(', '), pre.file ? '' : ` (prebuilds: ${pre.why})`);
  }
  return out;
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
  for (const file of candidates(root, failures)) {
    tried.push(file);
    if (!fs.existsSync(file)) {
      if (debugEnabled) debug('addon %s: not found', file);
      failures.push(`${file}: not found`);
      continue;
    }
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const addon = require(file) as RawAddon;
      addon.setErrorFactory(systemError);
      if (debugEnabled) debug('addon %s: loaded', file);
      return { backend: wrap(addon), unchecked: addon, tried, file };
    } catch (e) {
      if (debugEnabled) debug('addon %s: %s', file, (e as Error).message.split('\n')[0]);
      failures.push(`${file}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  const error = dmabufError('ERR_DMABUF_NO_NATIVE',
    `the native dmabuf addon did not load on ${process.platform}-${process.arch} (tried ${failures.join('; ')}). ` +
      'In a project that depends on dmabuf, `npm rebuild dmabuf` builds it (it needs python3, make and a ' +
      'C++17 compiler); in this repository, `npm run build:native`. DMABUF_BACKEND=mock runs on the software ' +
      'mock instead.', { tried });
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
