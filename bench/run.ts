/**
 * `npm run bench`: dmabuf's public API against a C program doing the same syscalls, on the running
 * kernel, in the same run (interleaved rounds, so both sides see the same machine noise).
 *
 *   node dist/bench/run.js [--out DIR] [--quick] [--only ops,guard,guardcost,reuse,bandwidth,scale,growth,v4l2,x11dri]
 *                          [--cbin PATH] [--x11dri PATH] [--allow-mock] [--no-reexec]
 *
 * Prints a table, writes DIR/bench-<kernel>-<time>.json (DIR: --out, else bench/results if writable,
 * else /tmp/dmabuf-bench) and prints the same JSON between the marker lines below, so a run inside
 * the read-only VM can be picked up from its stdout (bench/chart.ts does that).
 *
 * Meant for real kernels: `npm run vm -- npm run bench` (qemu, software-emulated: compare ratios).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { DmaBuf, drm, getBackend, heaps, probe, udmabuf, v4l2, type Device, type Heap } from '../src/index';
import {
  DMA_BUF_SYNC_END, DMA_BUF_SYNC_RW, DMA_BUF_SYNC_START, DRM_CLOEXEC, DRM_RDWR, F_SEAL_SHRINK, MAP_SHARED,
  MFD_ALLOW_SEALING, O_CLOEXEC, O_RDWR, PROT_READ, PROT_WRITE, UDMABUF_FLAGS_CLOEXEC, V4L2_MEMORY_DMABUF,
} from '../src/constants';
import type { Backend } from '../src/backend/types';
import { admitAllocation, forgetMemoryReading } from '../src/memory';
import { fmtNs, measure, pool, ratio, stats, writableOutDir, type MeasureOptions, type Samples, type Stats } from './harness';
import { textTable, type BenchResult, type Row, type Target } from './report';

export const JSON_BEGIN = '----- DMABUF-BENCH-JSON BEGIN -----';
export const JSON_END = '----- DMABUF-BENCH-JSON END -----';

const ROOT = path.resolve(__dirname, '..', '..');
const KiB = 1024;
const MiB = 1024 * 1024;
const SCALE_COUNTS = [10, 1000, 10000];
const NOFILE_WANTED = 16384;

/** The targets the project set for single rows (the README's performance table lists them). */
const TARGETS = {
  create4k: { value: 1.5, better: 'lower', text: '≤ 1.5× C' },
  twoC: { value: 2, better: 'lower', text: '≤ 2× C' },
  v4l2Cycle: { value: 1.3, better: 'lower', text: '≤ 1.3× C' },
  x11Create: { value: 1 / 3, better: 'lower', text: '≥ 3× faster than x11-dri (≤ 0.33)' },
  x11Sync: { value: 1, better: 'lower', text: 'no slower than x11-dri (≤ 1.0)' },
  hit: { value: 20, better: 'higher', text: '≥ 20× cheaper than C mmap+munmap' },
} satisfies Record<string, Target>;

// ---- options ---------------------------------------------------------------------------------------

interface Options {
  out: string | undefined;
  quick: boolean;
  only: Set<string> | undefined;
  cbin: string | undefined;
  x11dri: string;
  allowMock: boolean;
  reexec: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    out: undefined, quick: false, only: undefined, cbin: process.env.DMABUF_BENCH_C,
    x11dri: process.env.DMABUF_BENCH_X11DRI ?? '/tmp/x11dri/node_modules/x11-dri', allowMock: false, reexec: true,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const val = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--out') o.out = val();
    else if (a === '--quick') o.quick = true;
    else if (a === '--only') o.only = new Set(val().split(','));
    else if (a === '--cbin') o.cbin = val();
    else if (a === '--x11dri') o.x11dri = val();
    else if (a === '--allow-mock') o.allowMock = true;
    else if (a === '--no-reexec') o.reexec = false;
    else throw new Error(`unknown option ${a}`);
  }
  return o;
}

const opts = parseArgs(process.argv.slice(2));
const want = (section: string): boolean => !opts.only || opts.only.has(section);

/** Samples per side per round, rounds; iterations calibrated to targetMs per sample. */
const ROUNDS = opts.quick ? 1 : 5;
const SAMPLES = opts.quick ? 3 : 5;
const TARGET_MS = opts.quick ? 5 : 20;
const WARMUP_MS = opts.quick ? 5 : 100; // JIT warm-up is slow under TCG

// ---- RLIMIT_NOFILE ---------------------------------------------------------------------------------

function nofile(): { soft: number; hard: number } {
  const line = fs.readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
  const m = line?.match(/Max open files\s+(\S+)\s+(\S+)/);
  const num = (s: string | undefined): number => (s === undefined || s === 'unlimited' ? Infinity : Number(s));
  return { soft: num(m?.[1]), hard: num(m?.[2]) };
}

/**
 * Node raises its soft RLIMIT_NOFILE to the hard limit at startup but cannot raise the hard limit.
 * 10,000 live buffers need more than the VM's 4096: re-run under `ulimit -n` (works as root, which the
 * VM is), else at the hard limit; the limit that applied is reported either way.
 */
function maybeReexec(): void {
  if (!opts.reexec || process.env.DMABUF_BENCH_REEXEC || !want('scale') || os.platform() !== 'linux') return;
  const lim = nofile();
  if (lim.soft >= NOFILE_WANTED) return;
  const script = `ulimit -n ${NOFILE_WANTED} 2>/dev/null || ulimit -n "$(ulimit -H -n)"; exec "$@"`;
  const r = spawnSync('/bin/sh', ['-c', script, 'sh', process.execPath, ...process.execArgv, __filename, ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, DMABUF_BENCH_REEXEC: '1', DMABUF_BENCH_NOFILE_BEFORE: `${lim.soft}/${lim.hard}` },
  });
  process.exit(r.status ?? 1);
}

// ---- GC (x11-dri's mappings are only unmapped when their ArrayBuffer is collected) ----------------

function getGc(): (() => void) | undefined {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) return g;
  try {
    v8.setFlagsFromString('--expose-gc');
    return vm.runInNewContext('gc') as () => void;
  } catch {
    return undefined;
  }
}

// ---- the C program -------------------------------------------------------------------------------

interface CResult {
  samples?: Samples;
  closeSamples?: Samples;
  json?: Record<string, unknown>;
  error?: string;
}

function buildC(outDir: string): { bin?: string; status: string } {
  const src = path.join(ROOT, 'bench', 'c', 'dmabuf_bench.c');
  const candidates = [opts.cbin, path.join(ROOT, 'bench', 'results', 'dmabuf_bench'), path.join(outDir, 'dmabuf_bench')];
  for (const c of candidates) {
    if (!c) continue;
    try {
      if (fs.statSync(c).mtimeMs >= fs.statSync(src).mtimeMs || c === opts.cbin) return { bin: c, status: `using ${c}` };
    } catch {
      /* not there */
    }
  }
  const bin = path.join(outDir, 'dmabuf_bench');
  try {
    execFileSync('gcc', ['-O2', '-Wall', '-Wextra', '-o', bin, src], { stdio: ['ignore', 'ignore', 'pipe'] });
    return { bin, status: `built ${bin} with gcc -O2` };
  } catch (e) {
    return { status: `could not build the C program: ${(e as Error).message.split('\n')[0]}` };
  }
}

let CBIN: string | undefined;

function runC(op: string, args: Record<string, string | number>): CResult {
  if (!CBIN) return { error: 'no C program' };
  const argv = [op, ...Object.entries(args).flatMap(([k, v]) => [`--${k}`, String(v)])];
  const r = spawnSync(CBIN, argv, { encoding: 'utf8', maxBuffer: 16 * MiB });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return { error: `C program: no result (status ${r.status}, ${r.stderr.trim() || r.error?.message || ''})` };
  }
  if (typeof json.error === 'string') return { json, error: json.error };
  const iters = Number(json.iters);
  const out: CResult = { json, samples: { samplesNs: json.samples_ns as number[], iters } };
  if (Array.isArray(json.close_samples_ns)) out.closeSamples = { samplesNs: json.close_samples_ns as number[], iters };
  return out;
}

/**
 * How many times N calls of FN read /proc/meminfo (the memory guard's only syscall: the proof that a
 * small checked allocation makes none of its own). Run apart from the timed loops.
 */
function meminfoReads(backend: Backend, n: number, fn: () => void): number {
  const orig = backend.readTextFile;
  let reads = 0;
  backend.readTextFile = (p: string, ...rest: unknown[]): string => {
    if (p === '/proc/meminfo') reads++;
    return (orig as (...a: unknown[]) => string).call(backend, p, ...rest);
  };
  try {
    for (let i = 0; i < n; i++) fn();
  } finally {
    backend.readTextFile = orig;
  }
  return reads;
}

// ---- pairing: JS API, raw backend and C, interleaved in rounds ---------------------------------------

interface PairSpec {
  js?: () => void;
  raw?: () => void;
  c?: { op: string; args?: Record<string, string | number> };
  /** Per-side overrides of the sampling. */
  samples?: number;
  rounds?: number;
  targetMs?: number;
  warmupMs?: number;
  iters?: number;
  maxIters?: number;
  afterSample?: () => void;
}

interface PairResult {
  js: Stats | null;
  raw: Stats | null;
  c: Stats | null;
  cError?: string;
  jsError?: string;
}

function pair(spec: PairSpec): PairResult {
  const rounds = spec.rounds ?? ROUNDS;
  const mo: MeasureOptions = {
    samples: spec.samples ?? SAMPLES,
    targetMs: spec.targetMs ?? TARGET_MS,
    warmupMs: spec.warmupMs ?? WARMUP_MS,
  };
  if (spec.iters !== undefined) mo.iters = spec.iters;
  if (spec.maxIters !== undefined) mo.maxIters = spec.maxIters;
  if (spec.afterSample) mo.afterSample = spec.afterSample;
  const js: Samples[] = [];
  const raw: Samples[] = [];
  const c: Samples[] = [];
  const res: PairResult = { js: null, raw: null, c: null };
  for (let r = 0; r < rounds; r++) {
    if (spec.c && !res.cError) {
      const args: Record<string, string | number> = {
        samples: mo.samples, 'target-ms': mo.targetMs, warmup: mo.warmupMs, ...spec.c.args,
      };
      if (mo.iters !== undefined) args.iters = mo.iters;
      const cr = runC(spec.c.op, args);
      if (cr.samples) c.push(cr.samples);
      else res.cError = cr.error ?? 'failed';
    }
    try {
      if (spec.js && !res.jsError) js.push(measure(spec.js, mo));
      if (spec.raw && !res.jsError) raw.push(measure(spec.raw, mo));
    } catch (e) {
      res.jsError = `${(e as { code?: string }).code ?? ''} ${(e as Error).message}`.trim();
    }
  }
  if (js.length) res.js = pool(js);
  if (raw.length) res.raw = pool(raw);
  if (c.length) res.c = pool(c);
  return res;
}

function opRow(id: string, label: string, p: PairResult, extra: Partial<Row> = {}): Row {
  const row: Row = { id, section: 'ops', label, js: p.js, c: p.c, raw: p.raw, ...extra };
  if (p.js && p.c) row.ratio = ratio(p.js, p.c);
  if (p.raw && p.c) row.rawRatio = ratio(p.raw, p.c);
  const errs = [p.jsError && `JS: ${p.jsError}`, p.cError && `C: ${p.cError}`].filter(Boolean).join('; ');
  if (errs) row.note = (row.note ? row.note + '; ' : '') + errs;
  if (!p.js && !p.c) row.status = `not measured: ${errs || 'not available'}`;
  return row;
}

function sizeLabel(n: number): string {
  return n >= MiB ? `${n / MiB} MiB` : `${n / KiB} KiB`;
}

function log(msg: string): void {
  process.stderr.write(`bench: ${msg}\n`);
}

/**
 * The API side of the V4L2 cycle: open the node, 320x180 XRGB8888, exportBuffers(4), start(), then
 * `samples` samples of `cycles` dequeue()+queue(frame), each the process's CPU time per cycle.
 */
async function v4l2Cycle(node: string, cycles: number, samples: number): Promise<{ cpu: Samples; wallNs: number[] }> {
  using dev = v4l2.open(node);
  const q = dev.capture!;
  const before = q.getFormat();
  q.setFormat({ width: 320, height: 180, format: 'XRGB8888' });
  // 60 fps, as the C side sets it (VIDIOC_S_PARM: the library has no call for it; v4l2-ctl does it)
  const parm = spawnSync('v4l2-ctl', ['-d', node, '--set-parm=60'], { encoding: 'utf8' });
  if (parm.status !== 0) throw new Error(`v4l2-ctl --set-parm=60: ${parm.error?.message ?? parm.stderr.trim()}`);
  const frames = q.exportBuffers(4);
  try {
    q.start();
    const cycle = async (): Promise<void> => {
      const d = await q.dequeue({ timeout: 5000 });
      q.queue(d.frame);
    };
    for (let i = 0; i < 10; i++) await cycle(); // warm-up: the device reaches its frame rate
    const samplesNs: number[] = [];
    const wallNs: number[] = [];
    for (let s = 0; s < samples; s++) {
      const c0 = process.cpuUsage();
      const w0 = process.hrtime.bigint();
      for (let i = 0; i < cycles; i++) await cycle();
      const d = process.cpuUsage(c0);
      wallNs.push(Number(process.hrtime.bigint() - w0) / cycles);
      samplesNs.push(((d.user + d.system) * 1000) / cycles);
    }
    return { cpu: { samplesNs, iters: cycles }, wallNs };
  } finally {
    q.release();
    for (const f of frames) f.close();
    q.setFormat({ width: before.width, height: before.height, format: before.fourcc });
  }
}

// ---- main ------------------------------------------------------------------------------------------

function outDirFor(): string {
  const dir = writableOutDir(opts.out);
  if (dir === undefined) throw new Error(`no writable output directory (${opts.out ?? 'bench/results or the temporary directory'})`);
  return dir;
}

async function main(): Promise<void> {
  maybeReexec();
  const started = Date.now();
  const outDir = outDirFor();
  const backend = getBackend();
  const p = probe();
  if (backend.name !== 'native' && !opts.allowMock) {
    console.error(`bench: the ${backend.name} backend is active (${p.backendReason}); the benchmark measures real kernels.`);
    console.error('bench: run it in the VM: npm run vm -- npm run bench   (or pass --allow-mock to try the harness)');
    process.exit(1);
  }
  const isNative = backend.name === 'native';
  const c = isNative ? buildC(outDir) : { status: 'skipped on the mock' };
  CBIN = c.bin;
  log(c.status);
  const kernel = p.kernel ?? os.release();
  const rows: Row[] = [];
  const notes: string[] = [];
  const gc = getGc();
  const lim = nofile();
  const cLimits = runC('limits', {}).json ?? {};
  const limits: Record<string, unknown> = {
    nofileAtStart: process.env.DMABUF_BENCH_NOFILE_BEFORE ?? `${lim.soft}/${lim.hard}`,
    nofile: `${lim.soft}/${lim.hard}`,
    ...udmabuf.limits(),
    c: cLimits,
  };

  // devices
  const hasUdmabuf = p.udmabuf.available;
  let heap: Heap | undefined;
  try {
    heap = heaps.open('system');
  } catch (e) {
    notes.push(`system heap not available: ${(e as Error).message}`);
  }
  let dev: Device | undefined;
  const vgem = drm.list().find((d) => d.driver === 'vgem' && d.kind === 'card');
  if (vgem) dev = drm.open(vgem.path);
  else notes.push('no vgem card node: dumb/PRIME rows not measured');
  const devices = { udmabuf: hasUdmabuf, heap: heap?.path ?? null, drm: vgem?.path ?? null };
  log(`kernel ${kernel}, backend ${backend.name}, udmabuf=${hasUdmabuf} heap=${heap?.path ?? '-'} drm=${vgem?.path ?? '-'}`);

  const page = backend.pageSize;
  const SIZES = [4 * KiB, MiB, 16 * MiB];
  const GROWTH = opts.quick ? [4 * KiB, MiB, 16 * MiB, 64 * MiB] : [4 * KiB, 64 * KiB, MiB, 4 * MiB, 16 * MiB, 64 * MiB];
  const heavy = (size: number): Partial<PairSpec> => (size >= 16 * MiB ? { samples: opts.quick ? 2 : 3, warmupMs: 0 } : {});

  // raw backend equivalents of the API calls
  const udev = hasUdmabuf ? backend.open('/dev/udmabuf', 0) : -1;
  const rawUdmabuf = (size: number): number => {
    const m = backend.memfdCreate('udmabuf', MFD_ALLOW_SEALING);
    backend.ftruncate(m, size);
    backend.addSeals(m, F_SEAL_SHRINK);
    const fd = backend.udmabufCreate(udev, m, 0, size, UDMABUF_FLAGS_CLOEXEC);
    backend.close(m);
    return fd;
  };
  const heapFd = heap ? backend.open(heap.path, 0) : -1;
  const rawHeap = (size: number): number => backend.heapAlloc(heapFd, size, O_CLOEXEC | O_RDWR, 0);

  // ---- 1. per-operation cost (and 4. growth, which shares the create+close measurements) ----------
  const growth = new Map<string, PairResult>();
  if (want('ops') || want('growth')) {
    const sizes = want('growth') ? GROWTH : SIZES;
    for (const size of sizes) {
      if (hasUdmabuf) {
        log(`udmabuf create+close ${sizeLabel(size)}`);
        growth.set(`udmabuf:${size}`, pair({
          js: () => udmabuf.create(size).close(),
          raw: () => backend.close(rawUdmabuf(size)),
          c: { op: 'udmabuf', args: { size } },
          ...heavy(size),
        }));
      }
      if (heap) {
        const h = heap;
        log(`heap allocate+close ${sizeLabel(size)}`);
        growth.set(`heap:${size}`, pair({
          js: () => h.allocate(size).close(),
          raw: () => backend.close(rawHeap(size)),
          c: { op: 'heap', args: { size } },
          ...heavy(size),
        }));
      }
    }
  }
  if (want('ops')) {
    // Calibration: one raw addon call against the same syscall from C. Needs no device, so it also runs
    // on the host (real CPU), which shows how much of a JS/C ratio the emulation itself adds.
    const memfd = backend.memfdCreate('calib', 0);
    log('calibration');
    const f = pair({ js: () => backend.fstat(memfd), c: { op: 'calib-fstat' } });
    rows.push(opRow('calib-fstat', 'calibration: backend.fstat() vs fstat()', f, { note: 'raw addon call (no API layer): the N-API crossing + building the result object with 3 BigInts' }));
    const mf = pair({ js: () => backend.close(backend.memfdCreate('calib', MFD_ALLOW_SEALING)), c: { op: 'calib-memfd' } });
    rows.push(opRow('calib-memfd', 'calibration: backend memfdCreate+close vs C', mf, { note: 'raw addon calls; the addon also fstat()s every fd it hands out (fd tracking)' }));
    backend.close(memfd);
  }
  if (want('ops')) {
    for (const kind of ['udmabuf', 'heap'] as const) {
      for (const size of SIZES) {
        const g = growth.get(`${kind}:${size}`);
        if (!g) continue;
        rows.push(opRow(`${kind}-create-${size}`, `${kind === 'udmabuf' ? 'udmabuf.create' : 'heap.allocate'}+close ${sizeLabel(size)}`, g, {
          syscalls: kind === 'udmabuf' ? 'C: memfd_create, ftruncate, F_ADD_SEALS, UDMABUF_CREATE, close×2 (6); JS: + fstat (addon fd tracking: the identity), fstat (close: identity check) = 8, 2 addon calls'
            : 'C: DMA_HEAP_IOCTL_ALLOC, close (2); JS: + fstat (heap identity check, in the same call as the ioctl), fstat (addon fd tracking: the identity), fstat (close: identity check) = 5, 2 addon calls',
          ...(size === 4 * KiB ? { target: TARGETS.create4k } : {}),
        }));
      }
    }
    if (dev) {
      const d = dev;
      log('dumb create+export+destroy');
      rows.push(opRow('dumb-export', 'dumb create+export+close+destroy (256×256×32)', pair({
        js: () => {
          const bo = d.createDumb({ width: 256, height: 256, bpp: 32 });
          bo.export().close();
          bo.destroy();
        },
        raw: () => {
          const bo = backend.drmCreateDumb(d.fd, 256, 256, 32, 0);
          backend.close(backend.drmPrimeHandleToFd(d.fd, bo.handle, DRM_CLOEXEC | DRM_RDWR));
          backend.drmDestroyDumb(d.fd, bo.handle);
        },
        c: { op: 'dumb', args: { card: vgem!.path } },
      }), { syscalls: 'C: CREATE_DUMB, PRIME_HANDLE_TO_FD, close, DESTROY_DUMB (4); JS: + fstat (fd tracking: the identity), F_GETFL (a re-export keeps the first export\'s mode), fstat (close: identity check), and an fstat per call for the device\'s identity check' }));
    }
    if (hasUdmabuf) {
      const SZ = MiB;
      using buf = udmabuf.create(SZ);
      const fd = buf.fd;
      if (dev) {
        const d = dev;
        log('PRIME import+release');
        rows.push(opRow('prime-import', 'PRIME import+release (udmabuf 1 MiB into vgem)', pair({
          js: () => d.import(buf).release(),
          raw: () => backend.drmGemClose(d.fd, backend.drmPrimeFdToHandle(d.fd, fd)),
          c: { op: 'import', args: { card: vgem!.path, size: SZ } },
        }), { syscalls: 'same 2 ioctls: PRIME_FD_TO_HANDLE, GEM_CLOSE' }));
      }
      log('SYNC start+end');
      rows.push(opRow('sync', 'SYNC start+end (beginAccess/endAccess rw)', pair({
        js: () => {
          buf.beginAccess('readwrite');
          buf.endAccess('readwrite');
        },
        raw: () => {
          backend.dmabufSync(fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW);
          backend.dmabufSync(fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW);
        },
        c: { op: 'sync', args: { size: SZ } },
      }), { syscalls: 'C: SYNC×2; JS: SYNC×2 (the identity check runs only when an ioctl fails) (2)', target: TARGETS.twoC }));
      log('map+unmap');
      rows.push(opRow('map', 'map+unmap 1 MiB (fresh mmap+munmap)', pair({
        js: () => buf.map().unmap(),
        raw: () => backend.munmap(backend.mmap(fd, SZ, PROT_READ | PROT_WRITE, MAP_SHARED, 0)),
        c: { op: 'map', args: { size: SZ } },
      }), { syscalls: 'C: mmap, munmap; JS: + fstat (the identity check and the addon\'s size check share it) (3), 2 addon calls', target: TARGETS.twoC }));
      log('setName');
      rows.push(opRow('setname', 'setName', pair({
        js: () => buf.setName('bench'),
        raw: () => backend.dmabufSetName(fd, 'bench'),
        c: { op: 'setname', args: { size: SZ } },
      }), { syscalls: 'C: SET_NAME_B; JS: + fstat (identity check, in the same call: renaming a reused number\'s buffer would be visible) (2), 1 addon call', target: TARGETS.twoC }));
      log('info');
      rows.push(opRow('info', 'info() (fdinfo)', pair({
        js: () => buf.info(),
        raw: () => backend.readTextFile(`/proc/self/fdinfo/${fd}`),
        c: { op: 'info', args: { size: SZ } },
      }), { syscalls: 'C: open, read, close of /proc/self/fdinfo/N; JS: + fstat (identity check, in the same call), + parsing into an object', target: TARGETS.twoC }));
    }
  }

  // ---- 1b. the memory guard: the same allocation with and without the check, interleaved -----------
  if (want('guard')) {
    for (const size of [4 * KiB, MiB]) {
      const cases: [string, string, () => void, () => void][] = [];
      if (hasUdmabuf) {
        cases.push(['udmabuf', 'udmabuf create+close', () => udmabuf.create(size).close(),
          () => udmabuf.create(size, { allowOvercommit: true }).close()]);
      }
      if (heap) {
        const h = heap;
        cases.push(['heap', 'heap allocate+close', () => h.allocate(size).close(),
          () => h.allocate(size, { allowOvercommit: true }).close()]);
      }
      for (const [kind, label, checked, unchecked] of cases) {
        log(`memory guard: ${label} ${sizeLabel(size)}`);
        const g = pair({ js: checked, raw: unchecked, ...heavy(size) });
        const N = 1000;
        const row: Row = {
          id: `guard-${kind}-${size}`, section: 'guard', label: `${label} ${sizeLabel(size)}`, js: g.js, other: g.raw,
          extra: {
            [`meminfo reads in ${N} checked calls`]: meminfoReads(backend, N, checked),
            [`meminfo reads in ${N} unchecked calls`]: meminfoReads(backend, N, unchecked),
          },
        };
        if (g.js && g.raw) row.ratio = ratio(g.js, g.raw);
        else row.status = `not measured: ${g.jsError ?? 'failed'}`;
        rows.push(row);
        // The check alone, as the allocation runs it (steady state: a WeakMap lookup, a comparison and a
        // sum; /proc/meminfo is read again only once the requests add up to an eighth of what was
        // available), against the allocation it guards. Side by side, so TCG's noise hits both.
        const pool = kind === 'heap' && heap?.contiguous ? 'cma' : 'system';
        const c = pair({
          js: () => admitAllocation(backend, size, pool, 'bench', 'bench'), raw: unchecked,
          ...heavy(size),
        });
        forgetMemoryReading(backend);
        const crow: Row = { id: `guardcost-${kind}-${size}`, section: 'guardcost', label: `${label} ${sizeLabel(size)}`, js: c.js, other: c.raw };
        if (c.js && c.raw) crow.ratio = ratio(c.js, c.raw);
        else crow.status = `not measured: ${c.jsError ?? 'failed'}`;
        rows.push(crow);
      }
    }
  }

  // ---- 2. mapping reuse ---------------------------------------------------------------------------
  let exporterStatus = 'not measured';
  if (want('reuse') && hasUdmabuf) {
    const SZ = MiB;
    using buf = udmabuf.create(SZ);
    log('map reuse');
    const fresh = pair({ js: () => buf.map().unmap(), c: { op: 'map', args: { size: SZ } } });
    const exporterPath = path.join(ROOT, 'dist', 'src', 'exporter.js');
    const srcPath = path.join(ROOT, 'src', 'exporter.ts');
    if (!fs.existsSync(exporterPath)) {
      exporterStatus = `exporter not available in this build (${fs.existsSync(srcPath) ? 'src/exporter.ts exists but is not built' : 'no src/exporter.ts'})`;
      rows.push({ id: 'reuse-exporter', section: 'reuse', label: 'Exporter cpu.map()/unmap() cycle (cache hit), 1 MiB', status: exporterStatus });
    } else {
      try {
        // The API as DESIGN.md gives it: new Exporter({ size, providers }), attach('cpu'), map(), unmap(view).
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const mod = require(exporterPath) as { Exporter: new (o: unknown) => ExporterLike };
        const exp = new mod.Exporter({ size: SZ, providers: ['udmabuf'] });
        const cpu = exp.attach('cpu');
        cpu.unmap(cpu.map()); // the first map allocates and maps
        const cached = pair({ js: () => cpu.unmap(cpu.map()) });
        exporterStatus = 'measured';
        if (cached.js && fresh.js) {
          rows.push({
            id: 'reuse-exporter', section: 'reuse', label: 'Exporter cpu.map()/unmap() (cache hit) vs DmaBuf map()+unmap(), 1 MiB',
            js: cached.js, other: fresh.js, ratio: ratio(fresh.js, cached.js),
          });
        }
        if (cached.js && fresh.c) {
          rows.push({
            id: 'reuse-exporter-c', section: 'reuse', label: 'Exporter cpu.map()/unmap() (cache hit) vs C mmap+munmap, 1 MiB',
            js: cached.js, other: fresh.c, ratio: ratio(fresh.c, cached.js), target: TARGETS.hit,
          });
        }
        try {
          const st = (exp as { stats?: () => unknown }).stats?.();
          if (st !== undefined) notes.push(`exporter stats after the reuse run: ${JSON.stringify(st, (_k, v) => (typeof v === 'bigint' ? String(v) : v))}`);
        } catch {
          /* optional */
        }
        (exp as { close?: () => void }).close?.();
      } catch (e) {
        exporterStatus = `exporter present but could not be driven with the DESIGN.md API: ${(e as Error).message}`;
        rows.push({ id: 'reuse-exporter', section: 'reuse', label: 'Exporter cpu.map()/unmap() cycle (cache hit), 1 MiB', status: exporterStatus });
      }
    }
  }

  // ---- 3. bandwidth ---------------------------------------------------------------------------------
  if (want('bandwidth') && hasUdmabuf) {
    const SZ = opts.quick ? 16 * MiB : 64 * MiB;
    using buf = udmabuf.create(SZ);
    using m = buf.map('readwrite');
    const view = m.bytes;
    const u32 = new Uint32Array(m.buffer, 0, SZ / 4);
    const src = Buffer.alloc(SZ, 0x5a);
    const dst = Buffer.alloc(SZ);
    view.fill(0);
    let v = 1;
    let sink = 0;
    const bw = (label: string, id: string, cOp: string, fn: () => void, mode: 'read' | 'write'): void => {
      log(`bandwidth ${label}`);
      const r = pair({
        js: () => {
          buf.beginAccess(mode);
          fn();
          buf.endAccess(mode);
        },
        c: { op: cOp, args: { size: SZ } },
        iters: 1, warmupMs: 0, samples: opts.quick ? 2 : 4,
      });
      const row: Row = { id, section: 'bandwidth', label: `${label}, ${sizeLabel(SZ)}`, js: r.js, c: r.c };
      if (r.js && r.c) {
        row.ratio = ratio(r.c, r.js); // JS bandwidth / C bandwidth = C time / JS time
        row.extra = {
          jsMiBps: Math.round((SZ / MiB) / (r.js.median / 1e9)),
          cMiBps: Math.round((SZ / MiB) / (r.c.median / 1e9)),
        };
      }
      if (r.cError || r.jsError) row.note = [r.jsError, r.cError].filter(Boolean).join('; ');
      rows.push(row);
    };
    bw('fill: Uint8Array.fill vs memset', 'bw-fill', 'bw-fill', () => view.fill(v++ & 0xff), 'write');
    bw('read: sum of Uint32Array vs C loop', 'bw-read', 'bw-read', () => {
      sink ^= sumU32(u32);
    }, 'read');
    bw('copy in: Buffer.copy vs memcpy', 'bw-copy-in', 'bw-copy-in', () => {
      src.copy(view);
    }, 'write');
    bw('copy in: Uint8Array.set vs memcpy', 'bw-set-in', 'bw-copy-in', () => view.set(src), 'write');
    bw('copy out: Uint8Array.set vs memcpy', 'bw-set-out', 'bw-copy-out', () => dst.set(view), 'read');
    if (sink === 0.5) console.log(sink); // keep the sum alive
  }

  // ---- 4. scale -------------------------------------------------------------------------------------
  if (want('scale')) {
    const SZ = 4 * KiB;
    const kinds: Array<{ kind: 'udmabuf' | 'heap'; make: () => DmaBuf }> = [];
    if (hasUdmabuf) kinds.push({ kind: 'udmabuf', make: () => udmabuf.create(SZ) });
    if (heap) {
      const h = heap;
      kinds.push({ kind: 'heap', make: () => h.allocate(SZ) });
    }
    for (const { kind, make } of kinds) {
      for (const count of SCALE_COUNTS) {
        log(`scale ${kind} ${count} live`);
        const samples = opts.quick ? 1 : count <= 10 ? 15 : count <= 1000 ? 5 : 3;
        const rounds = opts.quick ? 1 : count <= 10 ? 3 : 1;
        const jsCreate: number[] = [];
        const jsClose: number[] = [];
        const cCreate: Samples[] = [];
        const cClose: Samples[] = [];
        let hit: string | undefined;
        let cHit: string | undefined;
        for (let r = 0; r < rounds; r++) {
          if (!cHit) {
            const cr = runC(`scale-${kind}`, { size: SZ, count, samples });
            if (cr.samples) {
              cCreate.push(cr.samples);
              if (cr.closeSamples) cClose.push(cr.closeSamples);
            } else cHit = `${cr.error}${cr.json?.reached !== undefined ? ` after ${cr.json.reached} live buffers` : ''}`;
          }
          for (let s = 0; s < samples && !hit; s++) {
            const live: DmaBuf[] = [];
            const a = process.hrtime.bigint();
            try {
              for (let i = 0; i < count; i++) live.push(make());
            } catch (e) {
              hit = `${(e as { code?: string }).code ?? 'error'} after ${live.length} live buffers: ${(e as Error).message}`;
            }
            const b = process.hrtime.bigint();
            for (const x of live) x.close();
            const cc = process.hrtime.bigint();
            if (!hit) {
              jsCreate.push(Number(b - a) / count);
              jsClose.push(Number(cc - b) / count);
            }
          }
        }
        const js = jsCreate.length ? stats(jsCreate, count) : null;
        const cs = cCreate.length ? pool(cCreate) : null;
        const row: Row = { id: `scale-${kind}-${count}`, section: 'scale', label: `${kind} 4 KiB, ${count.toLocaleString('en')} live`, js, c: cs };
        if (js && cs) row.ratio = ratio(js, cs);
        row.extra = {};
        if (jsClose.length) row.extra.jsCloseNs = Math.round(stats(jsClose, count).median);
        if (cClose.length) row.extra.cCloseNs = Math.round(pool(cClose).median);
        const hits = [hit && `JS: ${hit}`, cHit && `C: ${cHit}`].filter(Boolean).join('; ');
        if (hits) row.note = `stopped — ${hits}`;
        if (!js && !cs) row.status = `not measured: ${hits}`;
        rows.push(row);
      }
    }
    // The limit as it would be without raising it: the C program at the VM's default soft limit.
    const before = String(limits.nofileAtStart).split('/')[0];
    if (hasUdmabuf && before && Number(before) < 10000) {
      const cr = runC('scale-udmabuf', { size: SZ, count: 10000, samples: 1, nofile: Number(before) });
      notes.push(`RLIMIT_NOFILE: the shell's soft limit was ${limits.nofileAtStart} (soft/hard); node raises its soft limit to the hard one,`
        + ` the bench re-ran itself under \`ulimit -n ${NOFILE_WANTED}\` (root in the VM) and ran with ${limits.nofile}.`
        + ` At the original soft limit ${before}, 10,000 live udmabufs from C: ${cr.error ? `${cr.error} after ${String(cr.json?.reached)} live buffers` : 'no limit hit'}.`);
    }
    const ul = udmabuf.limits();
    if (hasUdmabuf && ul.sizeLimit) {
      let over = 'accepted';
      try {
        udmabuf.create(ul.sizeLimit + page).close();
      } catch (e) {
        over = `${(e as { code?: string }).code}: ${(e as Error).message}`;
      }
      notes.push(`udmabuf limits: size_limit_mb=${ul.sizeLimit / MiB} (a buffer of exactly ${ul.sizeLimit / MiB} MiB works; one page more: ${over}), list_limit=${ul.listLimit} (UDMABUF_CREATE_LIST entries; not used here).`);
    }
  }

  // growth rows
  if (want('growth')) {
    for (const kind of ['udmabuf', 'heap'] as const) {
      for (const size of GROWTH) {
        const g = growth.get(`${kind}:${size}`);
        if (!g) continue;
        const row: Row = { id: `growth-${kind}-${size}`, section: 'growth', label: `${kind} ${sizeLabel(size)}`, js: g.js, c: g.c };
        if (g.js && g.c) row.ratio = ratio(g.js, g.c);
        row.extra = {};
        if (g.js) row.extra.jsNsPerMiB = Math.round(g.js.median / (size / MiB));
        if (g.c) row.extra.cNsPerMiB = Math.round(g.c.median / (size / MiB));
        if (g.jsError || g.cError) row.note = [g.jsError, g.cError].filter(Boolean).join('; ');
        rows.push(row);
      }
    }
  }

  // ---- 4b. V4L2: what keeping a frame on its index saves ---------------------------------------------
  // videobuf2 attaches (dma-contig) or vmaps (vmalloc) an imported dma-buf at QBUF and keeps that
  // while the same dma-buf comes back on the same index; a new dma-buf on an index drops the old one
  // and sets up the new. Both sides make the same ioctls (4 QBUF + STREAMOFF, which returns every
  // buffer without capturing, so vivid's frame rate does not pace the loop); only the index differs.
  if (want('v4l2') && isNative) {
    for (const inst of [0, 1] as const) {
      const info = v4l2.list().find((d) => d.driver === 'vivid' && d.bus === `platform:vivid-00${inst}` && d.capture);
      if (!info) {
        rows.push({ id: `v4l2-affinity-${inst}`, section: 'v4l2', label: `vivid-00${inst} capture`, status: 'not measured: no vivid node' });
        continue;
      }
      log(`v4l2 affinity: ${info.path}`);
      using vdev = v4l2.open(info.path);
      const q = vdev.capture!;
      const before = q.getFormat();
      q.setFormat({ width: 320, height: 180, format: 'XRGB8888' });
      // the device's own buffers (contiguous on dma-contig), exported, then imported back
      const frames = q.exportBuffers(4);
      q.release();
      const type = q.type;
      const planes = frames.map((f) => [{ bytesused: 0, length: f.planes[0]!.buffer.size, dataOffset: 0, fd: f.planes[0]!.buffer.fd }]);
      let round = 0;
      const cycle = (rotate: boolean) => (): void => {
        round++;
        for (let i = 0; i < 4; i++) {
          backend.v4l2QBuf(vdev.fd, { type, memory: V4L2_MEMORY_DMABUF, index: rotate ? (i + round) % 4 : i, planes: planes[i]! });
        }
        backend.v4l2StreamOff(vdev.fd, type);
      };
      try {
        backend.v4l2ReqBufs(vdev.fd, type, V4L2_MEMORY_DMABUF, 4);
        const g = pair({ js: cycle(true), raw: cycle(false) });
        const row: Row = { id: `v4l2-affinity-${inst}`, section: 'v4l2', label: `vivid-00${inst} capture (${inst === 0 ? 'vmalloc' : 'dma-contig'}), 320x180 XR24`, js: g.js, other: g.raw };
        if (g.js && g.raw) row.ratio = ratio(g.js, g.raw);
        else row.status = `not measured: ${g.jsError ?? 'failed'}`;
        rows.push(row);
      } finally {
        backend.v4l2ReqBufs(vdev.fd, type, V4L2_MEMORY_DMABUF, 0);
        for (const f of frames) f.close();
        q.setFormat({ width: before.width, height: before.height, format: before.fourcc });
      }
    }
  }

  // A capture queue's dequeue() + queue(frame) cycle against C doing the same ioctls (DQBUF, poll when
  // it says EAGAIN, DQBUF, QBUF). vivid's frame rate paces both loops, so what is compared is the CPU
  // time a cycle costs the process (getrusage in C, process.cpuUsage() here: every thread of the
  // process, the thread pool's poll included), not the wall time.
  if (want('v4l2') && isNative) {
    const info = v4l2.list().find((d) => d.driver === 'vivid' && d.bus === 'platform:vivid-000' && d.capture);
    if (!info) {
      rows.push({ id: 'v4l2-cycle', section: 'ops', label: 'V4L2 dequeue()+queue() cycle, CPU time', status: 'not measured: no vivid-000 capture node' });
    } else {
      log(`v4l2 cycle: ${info.path}`);
      const cycles = opts.quick ? 20 : 60;
      const js: Samples[] = [];
      const c: Samples[] = [];
      const wall: number[] = [];
      let error: string | undefined;
      for (let r = 0; r < (opts.quick ? 1 : 3) && error === undefined; r++) {
        const cr = runC('v4l2-cycle', { video: info.path, width: 320, height: 180, samples: SAMPLES, iters: cycles });
        if (cr.samples) c.push(cr.samples);
        else error = `C: ${cr.error ?? 'failed'}`;
        try {
          const j = await v4l2Cycle(info.path, cycles, SAMPLES);
          js.push(j.cpu);
          wall.push(...j.wallNs);
        } catch (e) {
          error = `${(e as { code?: string }).code ?? ''} ${(e as Error).message}`.trim();
        }
      }
      const label = 'V4L2 capture dequeue()+queue(frame), CPU time per cycle (vivid-000 at 60 fps, 4 MMAP buffers, 320x180 XR24)';
      if (error !== undefined || js.length === 0 || c.length === 0) {
        rows.push({ id: 'v4l2-cycle', section: 'ops', label, status: `not measured: ${error ?? 'no samples'}` });
      } else {
        const jsS = pool(js);
        const cS = pool(c);
        rows.push({
          id: 'v4l2-cycle', section: 'ops', label, js: jsS, c: cS, ratio: ratio(jsS, cS), target: TARGETS.v4l2Cycle,
          extra: { wallPerCycle: fmtNs(stats(wall, cycles).median) },
          syscalls: 'both: DQBUF (EAGAIN), poll, DQBUF, QBUF; JS waits in the event loop (epoll; the loop stays free), C in poll(2)',
        });
      }
    }
  }

  // ---- 5. x11-dri ---------------------------------------------------------------------------------
  let x11: BenchResult['x11dri'] = { status: 'not measured' };
  if (want('x11dri')) {
    x11 = runX11dri(rows, hasUdmabuf, gc);
  }

  heap?.close();
  dev?.close();
  if (udev >= 0) backend.close(udev);
  if (heapFd >= 0) backend.close(heapFd);

  const emulated = process.env.DMABUF_VM === '1' && process.env.DMABUF_VM_ACCEL !== 'kvm';
  if (emulated) notes.unshift('qemu TCG software emulation (no KVM): absolute times are inflated and not meaningful; compare the ratios, which were measured side by side in the same run.');
  notes.push(`each figure: median over ${ROUNDS} interleaved rounds × ${SAMPLES} samples (C, then JS API, then raw backend per round), each sample calibrated to ~${TARGET_MS} ms; spread p10–p90.`);
  const result: BenchResult = {
    schema: 'dmabuf-bench/1',
    kernel,
    vmKernel: process.env.DMABUF_VM_KERNEL ?? null,
    emulated,
    node: process.version,
    cpus: os.cpus().length,
    date: new Date().toISOString(),
    durationMs: Date.now() - started,
    options: { quick: opts.quick, rounds: ROUNDS, samples: SAMPLES, targetMs: TARGET_MS, cProgram: c.status },
    limits,
    devices,
    x11dri: x11,
    exporter: { status: exporterStatus },
    notes,
    rows,
  };
  console.log(textTable(result));
  const file = path.join(outDir, `bench-${kernel}-${result.date.replace(/[:.]/g, '-')}.json`);
  const text = JSON.stringify(result, null, 1);
  fs.writeFileSync(file, text + '\n');
  console.log(`\nwritten ${file} (${fmtNs(result.durationMs * 1e6)})`);
  console.log(JSON_BEGIN);
  console.log(JSON.stringify(result));
  console.log(JSON_END);
}

interface ExporterLike {
  attach(kind: 'cpu', opts?: unknown): { map(): unknown; unmap(v: unknown): void };
}

function sumU32(a: Uint32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s = (s + a[i]!) | 0;
  return s >>> 0;
}

interface X11Dri {
  createUdmabuf(size: number): { fd: number; buffer: ArrayBuffer; close(): void };
  dmabufSync(fd: number, flags: number): void;
  DMABUF_SYNC: Record<string, number>;
}

function runX11dri(rows: Row[], hasUdmabuf: boolean, gc: (() => void) | undefined): BenchResult['x11dri'] {
  const dir = opts.x11dri;
  if (!fs.existsSync(dir)) {
    const status = `not installed at ${dir} (install: mkdir -p /tmp/x11dri && cd /tmp/x11dri && npm install x11-dri)`;
    rows.push({ id: 'x11dri', section: 'x11dri', label: 'x11-dri', status });
    return { status, path: dir };
  }
  let x: X11Dri;
  let version = '?';
  try {
    version = (JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { version: string }).version;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    x = require(dir) as X11Dri;
  } catch (e) {
    const status = `x11-dri ${version} does not load: ${(e as Error).message}`;
    rows.push({ id: 'x11dri', section: 'x11dri', label: 'x11-dri', status });
    return { status, version, path: dir };
  }
  if (!hasUdmabuf) {
    const status = 'loaded, but no /dev/udmabuf here';
    rows.push({ id: 'x11dri', section: 'x11dri', label: 'x11-dri', status });
    return { status, version, path: dir };
  }
  const note = 'x11-dri createUdmabuf = memfd_create, ftruncate, F_ADD_SEALS, open(/dev/udmabuf), UDMABUF_CREATE, close, mmap(memfd) + an external ArrayBuffer; close() = close×2;'
    + ' its mapping is only unmapped by GC (the bench caps iterations per sample and collects between samples, outside the timing)';
  for (const size of [4 * KiB, MiB, 16 * MiB]) {
    log(`x11-dri createUdmabuf ${sizeLabel(size)}`);
    const cap = Math.max(1, Math.floor((256 * MiB) / size));
    const spec = { maxIters: cap, ...(gc ? { afterSample: gc } : {}), ...(size >= 16 * MiB ? { samples: 3, warmupMs: 0 } : {}) };
    // ours and theirs interleaved, round by round (pair's js and raw sides), so they share the noise
    const both = pair({ js: () => udmabuf.create(size).close(), raw: () => x.createUdmabuf(size).close(), ...spec });
    const mapped = pair({ js: () => {
      const b = udmabuf.create(size);
      b.map();
      b.close();
    }, raw: () => x.createUdmabuf(size).close(), ...spec });
    if (both.js && both.raw) {
      rows.push({
        id: `x11dri-create-${size}`, section: 'x11dri', label: `udmabuf create+close ${sizeLabel(size)}`,
        js: both.js, other: both.raw, ratio: ratio(both.js, both.raw), note,
        ...(size === 4 * KiB ? { target: TARGETS.x11Create } : {}),
      });
    }
    if (mapped.js && mapped.raw) {
      rows.push({
        id: `x11dri-create-map-${size}`, section: 'x11dri', label: `udmabuf create+map+close ${sizeLabel(size)} (x11-dri always maps)`,
        js: mapped.js, other: mapped.raw, ratio: ratio(mapped.js, mapped.raw),
      });
    }
    if (both.jsError || mapped.jsError) {
      rows.push({ id: `x11dri-create-${size}-error`, section: 'x11dri', label: `udmabuf create ${sizeLabel(size)}`, status: [both.jsError, mapped.jsError].filter(Boolean).join('; ') });
    }
  }
  log('x11-dri dmabufSync');
  using buf = udmabuf.create(MiB);
  const fd = buf.fd;
  const S = x.DMABUF_SYNC;
  const start = (S.START ?? 0) | (S.RW ?? 3);
  const end = (S.END ?? 4) | (S.RW ?? 3);
  const sync = pair({
    js: () => {
      buf.beginAccess('readwrite');
      buf.endAccess('readwrite');
    },
    raw: () => {
      x.dmabufSync(fd, start);
      x.dmabufSync(fd, end);
    },
  });
  if (sync.js && sync.raw) {
    rows.push({
      id: 'x11dri-sync', section: 'x11dri', label: 'SYNC start+end (beginAccess/endAccess vs dmabufSync×2)',
      js: sync.js, other: sync.raw, ratio: ratio(sync.js, sync.raw), target: TARGETS.x11Sync,
      note: 'same two ioctls; dmabuf validates the mode and keeps the open-access bookkeeping; x11-dri passes raw flags to one ioctl',
    });
  }
  return { status: 'loaded and measured', version, path: dir };
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
