/**
 * `npm run bench:pipeline`: the README's pipelines (a) camera → display and (b) camera → FWHT encoder
 * → decoder → display, each three ways in one run, interleaved round by round:
 *
 * - **zero-copy**: the examples' way: our frames (FramePool) go from vivid to vicodec to vkms as
 *   dma-bufs, the CPU never touches a pixel;
 * - **CPU copies**: every device keeps its own buffers (V4L2 MMAP, vkms dumb buffers) and the CPU
 *   copies each frame from one stage's buffer into the next's through their mappings;
 * - **GStreamer**: `gst-launch-1.0` doing the same (v4l2src io-mode=dmabuf, the v4l2 FWHT elements,
 *   kmssink), when it is installed and its elements run here; else what does run, and why not.
 *
 *   node dist/bench/pipeline.js [--frames N] [--warmup N] [--rounds N] [--fps N] [--quick] [--only a,b]
 *                               [--no-gst] [--out DIR]
 *   node dist/bench/pipeline.js --md FILE [--json FILE] LOG...      (report from VM logs or run JSON)
 *
 * Each run captures `warmup` frames, then times `frames` frames (wall time, the process's user+sys
 * CPU time, and the whole machine's busy CPU time from /proc/stat, which includes the kernel threads
 * of vivid, vicodec and vkms), then shows one more frame that is checked: its picture read back
 * through vkms's writeback connector must equal the captured frame (a) or be within 35 dB PSNR of it
 * (b). A run that does not deliver every frame, or fails its check, reports no figures.
 * GStreamer's frames are counted at an `identity` before the sink; its CPU time is its process's
 * (/proc/<pid>/stat) over the same frames.
 *
 * vivid paces the camera (its frame interval is set once, to the fastest it offers at the size, with
 * v4l2-ctl, and GStreamer is given the same rate), so a pipeline that keeps up runs at the camera's
 * rate: what tells the ways apart is mostly the CPU time per frame.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { drm, Frame, FramePool, getBackend, heaps, probe, udmabuf, v4l2, type Device, type Framebuffer, type VideoDevice } from '../src/index';
import { writebackDisplay } from '../examples/lib/display';
import { psnr, rgb } from '../examples/lib/picture';
import { fmtNs, fmtRatio, ratio, stats, writableOutDir, type Ratio, type Stats } from './harness';

export const JSON_BEGIN = '----- DMABUF-PIPELINE-BENCH-JSON BEGIN -----';
export const JSON_END = '----- DMABUF-PIPELINE-BENCH-JSON END -----';

const W = 640;
const H = 480;
const MIN_PSNR = 35;
const CLK_TCK = 100; // USER_HZ of /proc/<pid>/stat and /proc/stat on Linux

// ---- options ---------------------------------------------------------------------------------------

interface Options {
  frames: number;
  warmup: number;
  rounds: number;
  fps: number | undefined;
  only: Set<string> | undefined;
  gst: boolean;
  out: string | undefined;
  md: string | undefined;
  json: string | undefined;
  logs: string[];
}

function parseArgs(argv: string[]): Options {
  const o: Options = { frames: 100, warmup: 10, rounds: 3, fps: undefined, only: undefined, gst: true, out: undefined, md: undefined, json: undefined, logs: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const val = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    const num = (): number => {
      const n = Number(val());
      if (!Number.isInteger(n) || n < 1) throw new Error(`${a} wants a whole number >= 1`);
      return n;
    };
    if (a === '--frames') o.frames = num();
    else if (a === '--warmup') o.warmup = num();
    else if (a === '--rounds') o.rounds = num();
    else if (a === '--fps') o.fps = num();
    else if (a === '--quick') Object.assign(o, { frames: 10, warmup: 3, rounds: 1 });
    else if (a === '--only') o.only = new Set(val().split(','));
    else if (a === '--no-gst') o.gst = false;
    else if (a === '--out') o.out = val();
    else if (a === '--md') o.md = val();
    else if (a === '--json') o.json = val();
    else if (a.startsWith('--')) throw new Error(`unknown option ${a}`);
    else o.logs.push(a);
  }
  return o;
}

const opts = parseArgs(process.argv.slice(2));

function log(msg: string): void {
  process.stderr.write(`pipeline: ${msg}\n`);
}

// ---- the result ------------------------------------------------------------------------------------

export type PipelineId = 'a' | 'b';
export type Way = 'zero-copy' | 'cpu-copy' | 'gstreamer';

/** One timed run of one pipeline. */
interface Run {
  /** Wall time per frame (ns). */
  wallNs: number;
  /** The process's user+sys CPU time per frame (ns). */
  cpuNs: number;
  /** The machine's busy CPU time per frame (ns), all CPUs, from /proc/stat. */
  sysNs: number;
  /** Camera frames that went by during the timed frames without being shown. */
  dropped: number;
}

export interface PipelineRow {
  pipeline: PipelineId;
  way: Way;
  label: string;
  /** What this way does, stage by stage. */
  how: string;
  runs: number;
  wall?: Stats;
  cpu?: Stats;
  sys?: Stats;
  dropped?: number;
  /** fps of this way / fps of zero-copy (> 1: faster). */
  fpsRatio?: Ratio;
  /** CPU time per frame of this way / of zero-copy (> 1: costs more). */
  cpuRatio?: Ratio;
  sysRatio?: Ratio;
  check?: string;
  /** Set when it could not be measured: what happened. */
  status?: string;
  notes: string[];
}

export interface PipelineResult {
  schema: 'dmabuf-pipeline-bench/1';
  kernel: string;
  vmKernel: string | null;
  emulated: boolean;
  node: string;
  cpus: number;
  date: string;
  durationMs: number;
  options: { frames: number; warmup: number; rounds: number; width: number; height: number; format: string };
  camera: { path: string | null; fps: number | null; parm: string | null };
  gstreamer: { version: string | null; elements: Record<string, string>; notes: string[] };
  notes: string[];
  rows: PipelineRow[];
}

// ---- measuring -------------------------------------------------------------------------------------

function procStatBusy(): number {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return (total - (f[3] ?? 0) - (f[4] ?? 0)) * (1e9 / CLK_TCK); // minus idle and iowait, in ns
}

function pidCpuNs(pid: number): number {
  const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' '); // f[0] is field 3 (state)
  return (Number(f[11]) + Number(f[12])) * (1e9 / CLK_TCK); // utime, stime
}

interface Mark {
  t: bigint;
  cpu: NodeJS.CpuUsage;
  sys: number;
  seq: number;
}

function mark(seq: number): Mark {
  return { t: process.hrtime.bigint(), cpu: process.cpuUsage(), sys: procStatBusy(), seq };
}

function runFrom(a: Mark, b: Mark, frames: number): Run {
  const cpu = (b.cpu.user - a.cpu.user + b.cpu.system - a.cpu.system) * 1000;
  return {
    wallNs: Number(b.t - a.t) / frames,
    cpuNs: cpu / frames,
    sysNs: (b.sys - a.sys) / frames,
    dropped: b.seq - a.seq - frames,
  };
}

// ---- devices ---------------------------------------------------------------------------------------

interface Devices {
  cam: string;
  card: string;
  encoder: string | undefined;
  decoder: string | undefined;
  provider: 'udmabuf' | 'heap:system';
}

function findDevices(): Devices | string {
  const cams = v4l2.list().filter((d) => d.driver === 'vivid' && d.capture !== null && d.error === undefined && !d.m2m);
  const cam = cams.find((d) => d.bus.endsWith('vivid-000')) ?? cams[0];
  const card = drm.list().find((d) => d.driver === 'vkms' && d.kind === 'card' && d.error === undefined);
  const provider = udmabuf.available() ? 'udmabuf' : heaps.list().some((h) => h.name === 'system') ? 'heap:system' : undefined;
  if (cam === undefined || card === undefined || provider === undefined) {
    return `needs vivid, vkms and udmabuf or the system heap (${cam === undefined ? 'no vivid capture node' : card === undefined ? 'no vkms card' : 'no provider'}; the project VM has them)`;
  }
  let encoder: string | undefined;
  let decoder: string | undefined;
  for (const n of v4l2.list().filter((x) => x.driver === 'vicodec' && x.m2m && x.error === undefined)) {
    using d = v4l2.open(n.path);
    if (d.capture?.formats().some((f) => f.fourcc === 'FWHT')) encoder ??= n.path;
    else if (d.output?.formats().some((f) => f.fourcc === 'FWHT')) decoder ??= n.path;
  }
  return { cam: cam.path, card: card.path, encoder, decoder, provider };
}

/** The CPU copy: src's pixels into dst through both mappings (one set() when the rows line up). */
function copyFrame(src: Frame, dst: Frame, bytes?: number): void {
  src.access('read', ([s]) => {
    dst.access('write', ([d]) => {
      const sp = src.planes[0]!.pitch;
      const dp = dst.planes[0]!.pitch;
      if (bytes !== undefined) d!.set(s!.subarray(0, bytes));
      else if (sp === dp) d!.set(s!.subarray(0, Math.min(s!.length, d!.length)));
      else for (let y = 0; y < H; y++) d!.set(s!.subarray(y * sp, y * sp + 4 * W), y * dp);
    });
  });
}

function once(dev: VideoDevice, event: 'source-change', ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no ${event} from the decoder within ${ms} ms`)), ms);
    dev.once(event, () => {
      clearTimeout(t);
      resolve();
    });
  });
}

interface Outcome {
  run: Run;
  check: string;
}

/** Show a frame on the primary plane; on the check frame also take the writeback picture. */
async function show(display: ReturnType<typeof writebackDisplay>, dev: Device, fb: Framebuffer, check: boolean,
  compare: (shot: Frame) => string): Promise<string> {
  const shot = check ? Frame.allocate({ width: display.mode.width, height: display.mode.height, format: 'XRGB8888' }, { provider: dev }) : null;
  try {
    const r = await display.commit([{ plane: display.primary!, fb }], shot ? { writeback: shot } : {});
    await r.outFence!.wait({ timeout: 5000 });
    r.outFence!.close();
    if (shot === null) return '';
    await r.writeback;
    return compare(shot);
  } finally {
    shot?.close();
  }
}

function exact(want: Uint8Array): (shot: Frame) => string {
  return (shot) => {
    const seen = rgb(shot, W, H);
    const bad = want.findIndex((v, k) => seen[k] !== v);
    if (bad >= 0) throw new Error(`writeback differs from the captured frame at byte ${bad}`);
    return `writeback = captured frame (${W * H} pixels)`;
  };
}

function close(want: Uint8Array): (shot: Frame) => string {
  return (shot) => {
    const db = psnr(want, rgb(shot, W, H));
    if (!(db >= MIN_PSNR)) throw new Error(`PSNR ${db.toFixed(1)} dB < ${MIN_PSNR} dB: the shown frame is not the captured one`);
    return `writeback vs captured frame: PSNR ${db === Infinity ? 'inf' : db.toFixed(1)} dB`;
  };
}

// ---- (a) camera → display --------------------------------------------------------------------------

async function cameraDisplay(d: Devices, copy: boolean, warmup: number, frames: number): Promise<Outcome> {
  using cam = v4l2.open(d.cam);
  const capture = cam.capture!;
  const fmt = capture.setFormat({ width: W, height: H, format: 'XRGB8888' });
  if (fmt.fourcc !== 'XR24' || fmt.width !== W || fmt.height !== H) throw new Error(`${d.cam} gives ${fmt.width}x${fmt.height} ${fmt.fourcc}`);
  using dev = drm.open(d.card);
  using display = writebackDisplay(dev);
  // zero-copy: the camera fills our frames, which are the framebuffers; copies: the camera's own
  // buffers (MMAP), copied by the CPU into vkms dumb buffers
  using pool = new FramePool({ width: W, height: H, format: 'XRGB8888', count: copy ? 3 : 4, provider: copy ? dev : d.provider });
  const fbs = new Map<Frame, Framebuffer>(pool.frames.map((f) => [f, dev.addFramebuffer(f)]));
  const camFrames = copy ? capture.exportBuffers(4) : [];
  const acquired = pool.frames.map(() => pool.acquire());
  if (!copy) {
    capture.importBuffers(pool.count);
    for (const f of acquired) capture.queue(f);
  }
  const free: Frame[] = copy ? [...acquired] : [];
  capture.start();
  let shown: Frame | null = null;
  let a: Mark | undefined;
  let b: Mark | undefined;
  let check = '';
  try {
    for (let i = 0; i <= warmup + frames; i++) {
      const got = await capture.dequeue({ timeout: 10_000 });
      if (i === warmup) a = mark(got.sequence);
      if (i === warmup + frames) b = mark(got.sequence);
      const last = i === warmup + frames;
      const want = last ? rgb(got.frame, W, H) : null;
      let onScreen = got.frame;
      if (copy) {
        onScreen = free.shift()!;
        copyFrame(got.frame, onScreen);
        capture.queue(got.frame);
      }
      check = await show(display, dev, fbs.get(onScreen)!, last, want ? exact(want) : () => '');
      if (shown !== null) {
        if (copy) free.push(shown);
        else capture.queue(shown);
      }
      shown = onScreen;
    }
  } finally {
    capture.stop();
    for (const fb of fbs.values()) fb.release();
    for (const f of camFrames) f.close();
    for (const f of acquired) f.release();
  }
  return { run: runFrom(a!, b!, frames), check };
}

// ---- (b) camera → encoder → decoder → display -------------------------------------------------------

async function cameraCodecDisplay(d: Devices, copy: boolean, warmup: number, frames: number): Promise<Outcome> {
  using cam = v4l2.open(d.cam);
  using enc = v4l2.open(d.encoder!);
  using dec = v4l2.open(d.decoder!);
  const capture = cam.capture!;
  const fmt = capture.setFormat({ width: W, height: H, format: 'XRGB8888' });
  const raw = enc.output!.setFormat({ width: W, height: H, format: 'XRGB8888' });
  if (fmt.fourcc !== 'XR24' || raw.fourcc !== 'XR24' || raw.planes[0]!.pitch !== fmt.planes[0]!.pitch) {
    throw new Error(`camera ${fmt.width}x${fmt.height} ${fmt.fourcc} and encoder ${raw.width}x${raw.height} ${raw.fourcc} do not agree on XR24`);
  }
  enc.capture!.setFormat({ width: W, height: H, format: 'FWHT' });
  dec.output!.setFormat({ width: W, height: H, format: 'FWHT' });
  using dev = drm.open(d.card);
  using display = writebackDisplay(dev);

  const owned: Frame[] = [];
  let camPool: FramePool | null = null;
  let decPool: FramePool | null = null;
  let fbs = new Map<Frame, Framebuffer>();
  // the copies: each device's own buffers, and free lists of those the CPU writes into
  const encIn: Frame[] = [];
  const decIn: Frame[] = [];
  const screen: Frame[] = [];
  const acquired: Frame[] = [];
  const take = (p: FramePool): Frame => {
    const f = p.acquire();
    acquired.push(f);
    return f;
  };
  if (copy) {
    owned.push(...capture.exportBuffers(3));
    encIn.push(...enc.output!.exportBuffers(2));
    owned.push(...encIn);
  } else {
    camPool = new FramePool({ width: W, height: H, format: 'XRGB8888', count: 3, provider: d.provider });
    capture.importBuffers(camPool.count);
    enc.output!.importBuffers(camPool.count);
  }
  const bitstreams = enc.capture!.exportBuffers(2);
  owned.push(...bitstreams);
  if (copy) {
    decIn.push(...dec.output!.exportBuffers(2));
    owned.push(...decIn);
  } else {
    dec.output!.importBuffers(bitstreams.length);
  }
  if (camPool) for (let i = 0; i < camPool.count; i++) capture.queue(take(camPool));
  capture.start(); // (copies: queues the camera's own buffers)
  enc.capture!.start(); // queues the bitstream buffers
  enc.output!.start();

  let shown: Frame | null = null;
  let a: Mark | undefined;
  let b: Mark | undefined;
  let check = '';
  const changed = once(dec, 'source-change', 30_000);
  changed.catch(() => undefined);
  let decStarted = false;
  try {
    for (let i = 0; i <= warmup + frames; i++) {
      const got = await capture.dequeue({ timeout: 10_000 });
      if (i === warmup) a = mark(got.sequence);
      if (i === warmup + frames) b = mark(got.sequence);
      const last = i === warmup + frames;
      const want = last ? rgb(got.frame, W, H) : null;
      let toEncoder = got.frame;
      if (copy) {
        toEncoder = encIn.shift()!;
        copyFrame(got.frame, toEncoder);
        capture.queue(got.frame);
      }
      enc.output!.queue(toEncoder);
      const coded = await enc.capture!.dequeue({ timeout: 30_000 });
      const read = (await enc.output!.dequeue({ timeout: 30_000 })).frame; // = toEncoder, read by the encoder
      if (copy) encIn.push(read);
      else capture.queue(read);
      let toDecoder = coded.frame;
      if (copy) {
        toDecoder = decIn.shift()!;
        copyFrame(coded.frame, toDecoder, coded.bytesUsed[0]);
        enc.capture!.queue(coded.frame);
      }
      dec.output!.queue(toDecoder, { bytesUsed: coded.bytesUsed[0] });
      if (!decStarted) {
        decStarted = true;
        dec.output!.start();
        await changed;
        const out = dec.capture!.setFormat({ width: W, height: H, format: 'XRGB8888' });
        if (out.fourcc !== 'XR24') throw new Error(`the decoder gives ${out.fourcc}, not XR24`);
        if (copy) {
          owned.push(...dec.capture!.exportBuffers(3));
          decPool = new FramePool({ width: W, height: H, format: 'XRGB8888', count: 3, provider: dev });
          screen.push(...decPool.frames.map(() => take(decPool!)));
          fbs = new Map(screen.map((f) => [f, dev.addFramebuffer(f)]));
        } else {
          decPool = new FramePool({ ...dec.capture!.frameDescription(), count: 3, provider: d.provider });
          fbs = new Map(decPool.frames.map((f) => [f, dev.addFramebuffer(f)]));
          dec.capture!.importBuffers(decPool.count);
          for (let k = 0; k < decPool.count; k++) dec.capture!.queue(take(decPool));
        }
        dec.capture!.start();
      }
      const decoded = await dec.capture!.dequeue({ timeout: 30_000 });
      const consumed = (await dec.output!.dequeue({ timeout: 30_000 })).frame;
      if (copy) decIn.push(consumed);
      else enc.capture!.queue(consumed); // the bitstream, back to the encoder
      let onScreen = decoded.frame;
      if (copy) {
        onScreen = screen.shift()!;
        copyFrame(decoded.frame, onScreen);
        dec.capture!.queue(decoded.frame);
      }
      check = await show(display, dev, fbs.get(onScreen)!, last, want ? close(want) : () => '');
      if (shown !== null) {
        if (copy) screen.push(shown);
        else dec.capture!.queue(shown); // off screen now: back to the decoder
      }
      shown = onScreen;
    }
  } finally {
    capture.stop();
    enc.output!.stop();
    enc.capture!.stop();
    dec.output!.stop();
    dec.capture!.stop();
    for (const fb of fbs.values()) fb.release();
    for (const f of acquired) f.release();
    decPool?.close();
    camPool?.close();
    for (const f of owned) f.close();
  }
  return { run: runFrom(a!, b!, frames), check };
}

// ---- GStreamer -------------------------------------------------------------------------------------

const GST_ENV = { ...process.env, GST_REGISTRY: process.env.GST_REGISTRY ?? path.join(os.tmpdir(), 'dmabuf-bench-gst-registry.bin') };

function gstVersion(): string | null {
  const r = spawnSync('gst-launch-1.0', ['--version'], { encoding: 'utf8', env: GST_ENV });
  if (r.error || r.status !== 0) return null;
  return r.stdout.split('\n')[0]?.trim() ?? null;
}

/** The v4l2 plugin registers one element per device; find those of vicodec's FWHT encoder and decoder. */
function gstElements(): Record<string, string> {
  const r = spawnSync('gst-inspect-1.0', ['video4linux2'], { encoding: 'utf8', env: GST_ENV, timeout: 300_000 });
  const out: Record<string, string> = {};
  for (const line of (r.stdout ?? '').split('\n')) {
    const m = line.match(/^\s*(v4l2\S*fwht(enc|dec))\s*:\s*(.*)$/);
    if (m) out[m[2] === 'enc' ? 'encoder' : 'decoder'] ??= m[1]!;
  }
  const k = spawnSync('gst-inspect-1.0', ['kmssink'], { encoding: 'utf8', env: GST_ENV });
  if (k.status === 0) out.sink = 'kmssink';
  return out;
}

interface GstVariant {
  /** How the row is labelled when this variant is the one that ran. */
  label: string;
  /** The elements after the caps filter and before the counting identity and the sink. */
  middle: string[];
  sink: 'kms' | 'fake';
}

function gstArgs(d: Devices, v: GstVariant, total: number, fps: number): string[] {
  const src = ['v4l2src', `device=${d.cam}`, 'io-mode=dmabuf', `num-buffers=${total}`, '!',
    `video/x-raw,format=BGRx,width=${W},height=${H},framerate=${fps}/1`, '!'];
  const sinkEl = v.sink === 'kms' ? ['kmssink', 'driver-name=vkms', 'force-modesetting=true', 'sync=false'] : ['fakesink', 'sync=false'];
  return ['-v', ...src, ...v.middle.flatMap((e) => [...e.split(' '), '!']), 'identity', 'name=count', 'silent=false', '!', ...sinkEl];
}

/** Run gst-launch; time `frames` buffers after `warmup` at the identity before the sink. */
function runGst(args: string[], warmup: number, frames: number, debug?: string[]): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    // the warm-up run logs what kmssink and the v4l2 elements do with the buffers (import or copy)
    const env = debug ? { ...GST_ENV, GST_DEBUG: 'kmssink:6,v4l2bufferpool:5', GST_DEBUG_NO_COLOR: '1' } : GST_ENV;
    const child = spawn('gst-launch-1.0', args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let seen = 0;
    let a: Mark | undefined;
    let b: Mark | undefined;
    let aCpu = 0;
    let bCpu = 0;
    let pending = '';
    let tail: string[] = [];
    const at = (): { m: Mark; cpu: number } => ({ m: mark(seen), cpu: pidCpuNs(child.pid!) });
    const onText = (chunk: string): void => {
      pending += chunk;
      let i;
      while ((i = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, i);
        pending = pending.slice(i + 1);
        if (/\/GstIdentity:count: last-message = chain/.test(line)) {
          seen++;
          try {
            if (seen === warmup + 1) ({ m: a, cpu: aCpu } = at());
            if (seen === warmup + frames + 1) ({ m: b, cpu: bCpu } = at());
          } catch {
            /* exited under us: counted as too few frames below */
          }
        } else if (debug && /\s(kmssink|v4l2bufferpool)\s/.test(line)) {
          if (/dmabuf|dma-buf|prime|import|copy|copied|dumb/i.test(line)) {
            const msg = line.replace(/^.*?\s(kmssink|v4l2bufferpool)\s+\S+:\d+:(\S+):<([^>]*)>\s*/, '$1 <$3> $2: ').replace(/0x[0-9a-f]+/g, '0x…').replace(/\d+/g, 'N');
            if (!debug.includes(msg) && debug.length < 12) debug.push(msg);
          }
        } else {
          tail.push(line);
          if (tail.length > 40) tail = tail.slice(-40);
        }
      }
    };
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', onText);
    child.stderr.on('data', onText);
    const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const errors = tail.filter((l) => /ERROR|WARNING|error|failed|Failed|reason/.test(l)).slice(0, 6).join(' | ');
      if (a === undefined || b === undefined || code !== 0) {
        reject(new Error(`gst-launch-1.0 ${signal ?? `exit ${code}`} after ${seen} frames: ${errors || tail.slice(-5).join(' | ')}`));
        return;
      }
      const run = runFrom(a, b, frames);
      run.cpuNs = (bCpu - aCpu) / frames;
      run.dropped = NaN; // not known from outside
      resolve({ run, check: `${seen} buffers reached the sink, exit 0` });
    });
  });
}

// ---- main ------------------------------------------------------------------------------------------

interface Slot {
  row: PipelineRow;
  runs: Run[];
  exec: (warmup: number, frames: number) => Promise<Outcome>;
}

function setCameraRate(d: Devices): { fps: number | null; parm: string | null; note?: string } {
  const fmtArgs = ['-d', d.cam, '-v', `width=${W},height=${H},pixelformat=XR24`];
  const list = spawnSync('v4l2-ctl', ['-d', d.cam, '--list-frameintervals', `width=${W},height=${H},pixelformat=XR24`], { encoding: 'utf8' });
  if (list.error) return { fps: null, parm: null, note: `v4l2-ctl not found: the camera runs at its default rate (${list.error.message})` };
  const rates = [...list.stdout.matchAll(/\(([\d.]+) fps\)/g)].map((m) => Number(m[1]));
  // the fastest rate up to vkms's 60 Hz refresh: faster, the camera's extra frames would only be dropped
  const upTo60 = rates.filter((r) => r <= 60);
  const fps = opts.fps ?? (upTo60.length ? Math.max(...upTo60) : rates.length ? Math.min(...rates) : 25);
  const set = spawnSync('v4l2-ctl', [...fmtArgs, `--set-parm=${fps}`], { encoding: 'utf8' });
  const get = spawnSync('v4l2-ctl', ['-d', d.cam, '--get-parm'], { encoding: 'utf8' });
  const parm = (get.stdout ?? '').split('\n').find((l) => /Frames per second/.test(l))?.trim() ?? null;
  const actual = Number(parm?.match(/([\d.]+)\s*\(/)?.[1] ?? NaN);
  return { fps: Number.isFinite(actual) ? Math.round(actual) : fps, parm, ...(set.status !== 0 ? { note: `--set-parm: ${set.stderr.trim()}` } : {}) };
}

async function main(): Promise<void> {
  const started = Date.now();
  const backend = getBackend();
  const p = probe();
  if (backend.name !== 'native' && process.env.DMABUF_BENCH_ALLOW_MOCK !== '1') {
    console.error(`pipeline: the ${backend.name} backend is active (${p.backendReason}); this bench needs the VM's devices (npm run vm -- npm run bench:pipeline)`);
    process.exit(1);
  }
  const d = findDevices();
  if (typeof d === 'string') {
    console.error(`pipeline: ${d}`);
    process.exit(1);
  }
  const notes: string[] = [];
  const rate = setCameraRate(d);
  if (rate.note) notes.push(rate.note);
  const fps = rate.fps ?? 25;
  log(`camera ${d.cam} at ${rate.parm ?? `${fps} fps (asked)`}, display ${d.card}, encoder ${d.encoder ?? '-'}, decoder ${d.decoder ?? '-'}`);

  const gst: PipelineResult['gstreamer'] = { version: null, elements: {}, notes: [] };
  if (opts.gst) {
    gst.version = gstVersion();
    if (gst.version === null) gst.notes.push('gst-launch-1.0 is not installed (bench/README.md lists the packages)');
    else {
      log(`${gst.version}: building the plugin registry (slow under emulation)`);
      gst.elements = gstElements();
      log(`GStreamer elements: ${JSON.stringify(gst.elements)}`);
    }
  }

  const wantP = (x: PipelineId): boolean => !opts.only || opts.only.has(x);
  const slots: Slot[] = [];
  const HOW: Record<PipelineId, Record<Way, string>> = {
    a: {
      'zero-copy': `vivid fills our frames (FramePool of ${d.provider}, REQBUFS(DMABUF)); each is a vkms framebuffer, shown by an atomic commit`,
      'cpu-copy': 'vivid fills its own buffers (MMAP); the CPU copies each frame into a vkms dumb buffer, shown by an atomic commit',
      gstreamer: 'v4l2src io-mode=dmabuf → kmssink',
    },
    b: {
      'zero-copy': 'our frames → vicodec encoder (DMABUF) → its bitstream buffers → decoder (DMABUF) → our frames → vkms',
      'cpu-copy': 'every device its own buffers (MMAP, dumb); the CPU copies camera→encoder, bitstream→decoder, decoded→dumb buffer',
      gstreamer: 'v4l2src io-mode=dmabuf → FWHT encoder → FWHT decoder → kmssink',
    },
  };
  const LABEL: Record<Way, string> = { 'zero-copy': 'zero-copy (dmabuf)', 'cpu-copy': 'CPU copies (dmabuf API, MMAP + dumb)', gstreamer: 'GStreamer' };
  const add = (pipeline: PipelineId, way: Way, exec: Slot['exec'] | string): void => {
    const row: PipelineRow = { pipeline, way, label: LABEL[way], how: HOW[pipeline][way], runs: 0, notes: [] };
    if (typeof exec === 'string') row.status = exec;
    slots.push({ row, runs: [], exec: typeof exec === 'string' ? () => Promise.reject(new Error(exec)) : exec });
  };
  /** GStreamer's way: the first variant that runs (each failure is recorded with its error text). */
  const gstFor = (pipeline: PipelineId, variants: GstVariant[]): Slot['exec'] | string => {
    if (!opts.gst) return 'not run (--no-gst)';
    if (gst.version === null) return 'not run: gst-launch-1.0 is not installed';
    let at = 0;
    let first = true;
    return async (warmup, frames) => {
      const row = slots.find((x) => x.row.pipeline === pipeline && x.row.way === 'gstreamer')!.row;
      for (;;) {
        const v = variants[at]!;
        const debug = first ? [] : undefined;
        try {
          const o = await runGst(gstArgs(d, v, warmup + frames + 2, fps), warmup, frames, debug);
          row.label = v.label;
          row.how = `gst-launch-1.0 ${gstArgs(d, v, warmup + frames + 2, fps).slice(1).join(' ').replace(/num-buffers=\d+/, 'num-buffers=…')}`;
          if (debug?.length) row.notes.push(`GST_DEBUG=kmssink:6,v4l2bufferpool:5 in the warm-up run, lines on buffers: ${debug.join('; ')}`);
          first = false;
          return o;
        } catch (e) {
          row.notes.push(`${v.label} failed: ${(e as Error).message}`);
          if (++at >= variants.length) throw e;
          first = true;
        }
      }
    };
  };
  if (wantP('a')) {
    add('a', 'zero-copy', (w, n) => cameraDisplay(d, false, w, n));
    add('a', 'cpu-copy', (w, n) => cameraDisplay(d, true, w, n));
    add('a', 'gstreamer', gstFor('a', [
      { label: 'GStreamer (v4l2src io-mode=dmabuf ! kmssink)', middle: [], sink: 'kms' },
      { label: 'GStreamer (v4l2src io-mode=dmabuf ! fakesink: no display)', middle: [], sink: 'fake' },
    ]));
  }
  if (wantP('b')) {
    const codec = d.encoder !== undefined && d.decoder !== undefined;
    const no = 'not run: no vicodec stateful encoder and decoder';
    add('b', 'zero-copy', codec ? (w, n) => cameraCodecDisplay(d, false, w, n) : no);
    add('b', 'cpu-copy', codec ? (w, n) => cameraCodecDisplay(d, true, w, n) : no);
    const e = gst.elements;
    const enc = e.encoder ?? 'v4l2fwhtenc';
    const dec = e.decoder ?? 'v4l2fwhtdec';
    add('b', 'gstreamer', !codec ? no : gst.version !== null && opts.gst && !(e.encoder && e.decoder)
      ? `not run: gst-inspect-1.0 video4linux2 lists no FWHT encoder and decoder for vicodec (${JSON.stringify(e)})`
      : gstFor('b', [
        { label: `GStreamer (${enc} output-io-mode=dmabuf-import ! ${dec} ! kmssink)`, middle: [`${enc} output-io-mode=dmabuf-import`, dec], sink: 'kms' },
        { label: `GStreamer (${enc} ! ${dec} ! kmssink, their default io-modes)`, middle: [enc, dec], sink: 'kms' },
        { label: `GStreamer (${enc} ! ${dec} ! fakesink: no display)`, middle: [enc, dec], sink: 'fake' },
        { label: `GStreamer (${enc} ! fakesink: the encoder only, no decoder, no display; not comparable)`, middle: [enc], sink: 'fake' },
      ]));
  }
  const out = (done: number, final: boolean): void => {
    const result = summarise(slots, done, { started, kernel: p.kernel ?? os.release(), d, rate, gst, notes });
    if (final) {
      console.log(markdown([result]));
      const outDir = writableOutDir(opts.out);
      if (outDir) {
        const file = path.join(outDir, `pipeline-${result.kernel}-${result.date.replace(/[:.]/g, '-')}.json`);
        fs.writeFileSync(file, JSON.stringify(result, null, 1) + '\n');
        console.log(`written ${file}`);
      }
    }
    console.log(JSON_BEGIN);
    console.log(JSON.stringify(result));
    console.log(JSON_END);
  };
  // warm-up round (not counted), then the rounds, each pipeline in turn
  for (let r = -1; r < opts.rounds; r++) {
    for (const s of slots) {
      if (s.row.status) continue;
      const [w, n] = r < 0 ? [2, 3] : [opts.warmup, opts.frames];
      log(`${r < 0 ? 'warm-up' : `round ${r + 1}/${opts.rounds}`}: (${s.row.pipeline}) ${s.row.label}`);
      try {
        const o = await s.exec(w, n);
        if (r >= 0) {
          s.runs.push(o.run);
          s.row.check = o.check;
        }
        log(`  ${fmtNs(o.run.wallNs)}/frame (${(1e9 / o.run.wallNs).toFixed(1)} fps), cpu ${fmtNs(o.run.cpuNs)}/frame, machine ${fmtNs(o.run.sysNs)}/frame, dropped ${o.run.dropped}; ${o.check}`);
      } catch (e) {
        s.row.status = `failed: ${(e as Error).message}`;
        if (s.runs.length) s.row.notes.push(`round ${r + 1} ${s.row.status}; the figures are those of the rounds before`);
        log(`  ${s.row.status}`);
      }
    }
    if (r >= 0 && r < opts.rounds - 1) out(r + 1, false);
  }

  out(opts.rounds, true);
}

/** The result of the rounds so far (printed after each round: a run cut short still reports them). */
function summarise(slots: Slot[], done: number, ctx: { started: number; kernel: string; d: Devices; rate: { fps: number | null; parm: string | null }; gst: PipelineResult['gstreamer']; notes: string[] }): PipelineResult {
  const { started, d, rate, gst, notes } = ctx;
  const rows = slots.map((s) => s.row);
  for (const s of slots) {
    if (s.runs.length === 0) continue;
    s.row.runs = s.runs.length;
    s.row.wall = stats(s.runs.map((x) => x.wallNs), opts.frames);
    s.row.cpu = stats(s.runs.map((x) => x.cpuNs), opts.frames);
    s.row.sys = stats(s.runs.map((x) => x.sysNs), opts.frames);
    const dropped = s.runs.reduce((a, x) => a + x.dropped, 0);
    if (Number.isFinite(dropped)) s.row.dropped = dropped;
  }
  for (const row of rows) {
    const zero = rows.find((x) => x.pipeline === row.pipeline && x.way === 'zero-copy');
    if (!zero?.wall || !row.wall) continue;
    row.fpsRatio = ratio(zero.wall, row.wall); // fps ratio = inverse of the time ratio
    row.cpuRatio = ratio(row.cpu!, zero.cpu!);
    row.sysRatio = ratio(row.sys!, zero.sys!);
  }

  const emulated = process.env.DMABUF_VM === '1' && process.env.DMABUF_VM_ACCEL !== 'kvm';
  if (emulated) notes.splice(0, notes[0]?.startsWith('qemu') ? 1 : 0, 'qemu TCG software emulation (no KVM): absolute times are inflated; compare the ratios, measured side by side in the same run.');
  const allNotes = [...notes, `each figure: median over ${done} of ${opts.rounds} interleaved rounds (p10–p90 over the rounds), each round ${opts.warmup} warm-up frames then ${opts.frames} timed frames and one checked frame, after one warm-up round.`];
  const result: PipelineResult = {
    schema: 'dmabuf-pipeline-bench/1',
    kernel: ctx.kernel,
    vmKernel: process.env.DMABUF_VM_KERNEL ?? null,
    emulated,
    node: process.version,
    cpus: os.cpus().length,
    date: new Date().toISOString(),
    durationMs: Date.now() - started,
    options: { frames: opts.frames, warmup: opts.warmup, rounds: done, width: W, height: H, format: 'XRGB8888' },
    camera: { path: d.cam, fps: rate.fps, parm: rate.parm },
    gstreamer: gst,
    notes: allNotes,
    rows,
  };
  return result;
}

// ---- report ----------------------------------------------------------------------------------------

const fps = (s: Stats | undefined): string => (s ? `${(1e9 / s.median).toFixed(1)}` : '—');
const ms = (s: Stats | undefined): string => (s ? `${(s.median / 1e6).toFixed(2)} ms` : '—');

/** One table per run (kernel): fps, CPU time per frame, ratios to zero-copy. */
export function markdown(runs: readonly PipelineResult[]): string {
  const out: string[] = [];
  const TITLE: Record<PipelineId, string> = { a: '(a) camera → display', b: '(b) camera → FWHT encoder → decoder → display' };
  for (const r of runs) {
    out.push(`**${r.kernel}**${r.vmKernel ? ` (${r.vmKernel})` : ''}, ${r.date.slice(0, 10)}, node ${r.node}, ${r.cpus} CPUs` +
      `${r.emulated ? ', qemu TCG' : ''}; ${r.options.width}x${r.options.height} ${r.options.format}, camera at ${r.camera.fps === null ? 'its default rate' : `${r.camera.fps} fps`}; ` +
      `${r.options.rounds} rounds × ${r.options.frames} frames; ${r.gstreamer.version ?? 'no GStreamer'}`);
    out.push('');
    out.push('| pipeline | way | fps | fps / zero-copy | process CPU per frame | CPU / zero-copy | machine CPU per frame | machine / zero-copy | dropped | check |');
    out.push('|---|---|---|---|---|---|---|---|---|---|');
    for (const row of r.rows) {
      if (row.status && !row.wall) {
        out.push(`| ${TITLE[row.pipeline]} | ${row.label} | ${row.status.replace(/\|/g, '\\|')} | | | | | | | |`);
        continue;
      }
      out.push(`| ${TITLE[row.pipeline]} | ${row.label} | ${fps(row.wall)} | ${fmtRatio(row.fpsRatio)} | ${ms(row.cpu)} | ${fmtRatio(row.cpuRatio)} | ` +
        `${ms(row.sys)} | ${fmtRatio(row.sysRatio)} | ${row.dropped ?? '—'} | ${row.check ?? ''} |`);
    }
    out.push('');
    const rowNotes = r.rows.flatMap((row) => row.notes.map((n) => `(${row.pipeline}) ${row.label}: ${n}`));
    for (const n of [...r.gstreamer.notes, ...rowNotes, ...r.notes]) out.push(`- ${n.replace(/\|/g, '\\|')}`);
    if (Object.keys(r.gstreamer.elements).length) out.push(`- GStreamer elements found: ${Object.entries(r.gstreamer.elements).map(([k, v]) => `${k} \`${v}\``).join(', ')}`);
    out.push('');
  }
  return out.join('\n');
}

function readRuns(file: string): PipelineResult[] {
  const text = fs.readFileSync(file, 'utf8');
  if (text.trimStart().startsWith('{')) return [JSON.parse(text) as PipelineResult];
  const runs: PipelineResult[] = [];
  for (let at = 0; ;) {
    const b = text.indexOf(JSON_BEGIN, at);
    if (b < 0) break;
    const e = text.indexOf(JSON_END, b);
    if (e < 0) throw new Error(`${file}: ${JSON_BEGIN} without ${JSON_END}`);
    runs.push(JSON.parse(text.slice(b + JSON_BEGIN.length, e).trim()) as PipelineResult);
    at = e;
  }
  return runs.slice(-1); // a run prints its result after every round: the last one has them all
}

if (opts.md || opts.json) {
  const runs = opts.logs.flatMap(readRuns);
  if (runs.length === 0) throw new Error('no pipeline bench results in the files given');
  if (opts.md) {
    const head = '# Pipelines: zero-copy vs CPU copies vs GStreamer\n\n`npm run bench:pipeline` (bench/pipeline.ts, bench/README.md); '
      + 'ratios are to the zero-copy pipeline of the same run, with a conservative range from the rounds\' p10/p90.\n\n';
    fs.writeFileSync(opts.md, head + markdown(runs));
  }
  if (opts.json) fs.writeFileSync(opts.json, JSON.stringify(runs, null, 1) + '\n');
} else {
  main().catch((e) => {
    process.stderr.write(`${(e as Error).stack ?? e}\n`);
    process.exit(1);
  });
}
