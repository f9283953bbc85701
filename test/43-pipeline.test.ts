/**
 * A pipeline of frame Exporters: N frames, each attached to the CPU, vivid's vmalloc capture queue
 * (vivid-000) and a vkms Display; cycles of capture → show → CPU read. After the first cycle every
 * frame keeps its V4L2 index, its framebuffer and its mapping: the exporters make no syscall for
 * their importers (their statistics; strace in the VM: no PRIME import, no ADDFB2, no PREPARE_BUF, no
 * mmap). Then the dma-contig instance's capture queue (vivid-001) attaches late: refused while a frame
 * is mapped or queued (ERR_DMABUF_BUSY), then every exporter moves off the system heap to a CMA heap
 * or, where there is none (stock trixie), to vivid-001's own buffers ('v4l2:<its output node>');
 * 'move' is emitted, every importer's next map says moved, the image survives, and the cycles go on
 * through both queues. The devices each exporter reports as kernel attachments are bufinfo's (VM).
 * And VideoQueue's indices prepared for frames that are gone: given back by STREAMOFF only.
 * On both backends (the mock models both vivid instances and vkms) and in the VM.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  Display, Exporter, Frame, drm, heaps, v4l2, type Attachment, type Device, type MoveEvent, type VideoDevice, type VideoDeviceInfo,
  type VideoQueue,
} from '../src/index';
import { BUFINFO, readBufinfo } from './support/bufinfo';
import { runChild } from './support/child';
import { inVm, isNative, needsDriver, skip, throwsCode } from './support/index';
import { openWriteback, pixels } from './support/writeback';

const W = 640, H = 480, FORMAT = 'XRGB8888', N = 3;

function vivid(ctx: Mocha.Context, instance: 0 | 1, output = false): VideoDeviceInfo {
  const bus = `platform:vivid-00${instance}`;
  const d = v4l2.list().find((x) => x.driver === 'vivid' && x.bus === bus && x.error === undefined
    && (output ? x.output !== null && x.capture === null : x.capture !== null));
  if (!d) skip(ctx, `no vivid ${output ? 'output' : 'capture'} node on ${bus} (modprobe vivid n_devs=2 node_types=0x101,0x101 allocators=0,1)`);
  return d;
}

const hasCma = (): boolean => heaps.list().some((h) => h.contiguous);

/** The RGB of a frame's pixels (X dropped), rows without padding: what two frames of one image have in common. */
function rows(frame: Frame): Buffer {
  return Buffer.from(pixels(frame).map((v) => v & 0xffffff).buffer);
}

/**
 * vivid's 75% colour bars on the bottom row (the OSD text is at the top): white, yellow, cyan,
 * green, magenta, red, blue, black. Returns why not, or null.
 */
function notBars(frame: Frame): string | null {
  const px = pixels(frame);
  const bar = (k: number): [number, number, number] => {
    const v = px[(H - 1) * W + Math.floor(((k + 0.5) * W) / 8)]!;
    return [(v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff];
  };
  const [white, yellow, cyan, , , , blue, black] = [0, 1, 2, 3, 4, 5, 6, 7].map(bar) as [number, number, number][];
  if (!(white![0] > 0x80 && white![0] === white![1] && white![1] === white![2])) return `bar 0 is not grey: ${white}`;
  if (!(yellow![0] > 0x80 && yellow![1] > 0x80 && yellow![2] < 0x40)) return `bar 1 is not yellow: ${yellow}`;
  if (!(cyan![0] < 0x40 && cyan![1] > 0x80 && cyan![2] > 0x80)) return `bar 2 is not cyan: ${cyan}`;
  if (!(blue![0] < 0x40 && blue![1] < 0x40 && blue![2] > 0x80)) return `bar 6 is not blue: ${blue}`;
  if (!(Math.max(...black!) < 0x40)) return `bar 7 is not black: ${black}`;
  return null;
}

interface Stage {
  exp: Exporter;
  cpu: Attachment<'cpu'>;
  cap0: Attachment<VideoQueue>;
  screen: Attachment<Display>;
  cap1?: Attachment<VideoQueue>;
  moves: MoveEvent[];
}

interface Pipeline extends Disposable {
  dev: Device;
  display: Display;
  cam0: VideoDevice;
  cam1: VideoDevice;
  out1: string;
  stages: Stage[];
  /** the writeback target */
  shot: Frame;
}

/** The queue at W x H XRGB8888 importing `count` dma-bufs; put back as found at dispose. */
function importing(q: VideoQueue, count: number): () => void {
  const saved = q.getFormat();
  const f = q.setFormat({ width: W, height: H, format: FORMAT });
  assert.deepEqual([f.width, f.height, f.fourcc], [W, H, 'XR24'], `${q.device.path} takes ${W}x${H} XR24`);
  q.importBuffers(count);
  return () => {
    q.release();
    q.setFormat({ width: saved.width, height: saved.height, format: saved.fourcc });
  };
}

function pipeline(ctx: Mocha.Context): Pipeline {
  needsDriver(ctx, 'vkms');
  const info0 = vivid(ctx, 0);
  const info1 = vivid(ctx, 1);
  const out1 = vivid(ctx, 1, true).path;
  const undo: (() => void)[] = [];
  const dispose = (): void => {
    for (const u of undo.reverse()) u();
  };
  try {
    const dev = drm.open({ driver: 'vkms' });
    undo.push(() => dev.close());
    const display = openWriteback(dev, W, H);
    undo.push(() => display.close());
    const shot = Frame.allocate({ width: W, height: H, format: FORMAT }, { provider: dev });
    undo.push(() => shot.close());
    const cam0 = v4l2.open(info0.path);
    undo.push(() => cam0.close());
    undo.push(importing(cam0.capture!, N));
    const cam1 = v4l2.open(info1.path);
    undo.push(() => cam1.close());
    undo.push(importing(cam1.capture!, N));
    const stages: Stage[] = [];
    undo.push(() => { for (const s of stages) s.exp.close(); });
    for (let i = 0; i < N; i++) {
      const exp = new Exporter({ frame: { width: W, height: H, format: FORMAT }, providers: ['heap:system', 'heap:contiguous', `v4l2:${out1}`], name: `pipe-${i}` });
      const moves: MoveEvent[] = [];
      exp.on('move', (ev) => moves.push(ev));
      stages.push({ exp, cpu: exp.attach('cpu'), cap0: exp.attach(cam0.capture!), screen: exp.attach(display), moves });
    }
    return { dev, display, cam0, cam1, out1, stages, shot, [Symbol.dispose]: dispose };
  } catch (e) {
    dispose();
    throw e;
  }
}

interface CycleReport {
  /** per stage: the V4L2 index its frame was captured on */
  indices: number[];
  /** per stage: the framebuffer id it was shown with */
  fbs: number[];
}

/**
 * One cycle: every stage's frame queued on `capture` (its map gives the index), then each dequeued,
 * shown on the primary plane, read by the CPU (vivid's bars). With `writeback`, the last shown
 * frame's picture is read back from the screen and compared with the frame.
 */
async function cycle(p: Pipeline, capture: 'cap0' | 'cap1', writeback = false): Promise<CycleReport> {
  const q = capture === 'cap0' ? p.cam0.capture! : p.cam1.capture!;
  const maps = p.stages.map((s) => s[capture]!.map());
  for (const m of maps) {
    assert.equal(m.queue, q);
    q.queue(m.frame);
    assert.equal(q.indexOf(m.frame), m.index, 'queued on the index the map gave');
  }
  q.start();
  const report: CycleReport = { indices: [], fbs: [] };
  for (const [i, s] of p.stages.entries()) {
    const got = await q.dequeue({ timeout: 20_000 });
    assert.equal(got.frame, maps[i]!.frame, `stage ${i}: its frame comes back (FIFO)`);
    assert.equal(got.index, maps[i]!.index);
    assert.equal(got.error, false);
    s[capture]!.unmap();
    report.indices.push(got.index);
    const shown = s.screen.map();
    assert.equal(shown.frame, got.frame, 'the Display maps the same frame');
    const last = writeback && i === p.stages.length - 1;
    const r = await p.display.commit([{ plane: p.display.primary!, fb: shown.fb }], { outFence: false, ...(last ? { writeback: p.shot } : {}) });
    await r.completed;
    if (last) await r.writeback;
    report.fbs.push(shown.fb.id);
    s.screen.unmap();
    const c = s.cpu.map();
    assert.equal(c.frame, got.frame);
    assert.equal(notBars(c.frame!), null, `stage ${i}: the CPU sees vivid's colour bars`);
    if (last) assert.ok(rows(p.shot).equals(rows(c.frame!)), 'the screen, written back, is the captured frame pixel for pixel');
    s.cpu.unmap();
  }
  return report;
}

function agree(exp: Exporter, label: string): string[] {
  const b = exp.backing!;
  const kernel = (readBufinfo().get(b.inode)?.attached ?? []).slice().sort();
  assert.deepEqual(b.kernelAttachments, kernel, `${label}: exporter ${JSON.stringify(b.kernelAttachments)} vs bufinfo ${JSON.stringify(kernel)}`);
  return kernel;
}

/**
 * Late-attach vivid-001's capture queue to every stage, checking the refusals while busy first;
 * `before` runs just before the attachments (the busy checks capture into the first frame).
 */
async function lateAttach(p: Pipeline, before?: () => void): Promise<void> {
  const q1 = p.cam1.capture!;
  const [first] = p.stages;
  // mapped: the move cannot happen
  const m = first!.cpu.map();
  const busy = throwsCode(() => first!.exp.attach(q1), 'ERR_DMABUF_BUSY');
  assert.match(busy.message, new RegExp(`attachments ${first!.cpu.id} have it mapped`));
  first!.cpu.unmap(m);
  // queued on vivid-000 (the device writes into it): no move either
  const q0 = p.cam0.capture!;
  const c = first!.cap0.map();
  first!.cap0.unmap();
  q0.queue(c.frame);
  throwsCode(() => first!.exp.attach(q1), 'ERR_DMABUF_BUSY');
  assert.equal((await q0.dequeue({ timeout: 20_000 })).frame, c.frame);
  assert.equal(first!.exp.attachments.length, 3, 'the refused attachments were not made');
  assert.equal(first!.exp.stats().moves, 0);
  before?.();
  for (const s of p.stages) s.cap1 = s.exp.attach(q1);
}

describe('Pipeline: frame exporters through vivid and vkms, and a late dma-contig attacher', function () {
  beforeEach(function () {
    Exporter.forget();
  });
  after(function () {
    Exporter.forget();
  });

  it('steady cycles: each frame keeps its V4L2 index, framebuffer and mapping; no importer syscall after the first cycle', async function () {
    using p = pipeline(this);
    const first = await cycle(p, 'cap0', true);
    assert.equal(new Set(first.indices).size, N, 'N frames on N indices');
    for (const s of p.stages) {
      assert.equal(s.exp.backing!.provider, 'heap:system');
      assert.deepEqual(s.exp.backing!.skipped, []);
    }
    const before = p.stages.map((s) => s.exp.stats());
    const calls = { prepare: 0 };
    const q0 = p.cam0.capture!;
    const prepare = q0.prepare.bind(q0);
    q0.prepare = (f, o) => { calls.prepare++; return prepare(f, o); };
    try {
      for (let k = 0; k < 4; k++) {
        const r = await cycle(p, 'cap0', k === 3);
        assert.deepEqual(r, first, `cycle ${k + 2}: the same indices and framebuffers`);
      }
    } finally {
      delete (q0 as { prepare?: unknown }).prepare;
    }
    assert.equal(calls.prepare, 0, 'no frame was prepared again');
    p.stages.forEach((s, i) => {
      const st = s.exp.stats();
      assert.equal(st.syscalls, before[i]!.syscalls, `stage ${i}: no syscall for importers after the first cycle`);
      assert.equal(st.misses, before[i]!.misses);
      assert.equal(st.hits - before[i]!.hits, 4 * 3, 'every map of 4 cycles × 3 importers was a hit');
      assert.equal(st.allocations, 1);
    });
    q0.stop();
  });

  it('late attach of the dma-contig queue: ERR_DMABUF_BUSY while mapped or queued; then every frame moves, every importer sees moved, the image is kept, cycles go on through both queues', async function () {
    using p = pipeline(this);
    await cycle(p, 'cap0');
    const old = p.stages.map((s) => ({ inode: s.exp.backing!.inode, frame: s.cap0.map().frame }));
    for (const s of p.stages) s.cap0.unmap();
    let pictures: Buffer[] = [];
    await lateAttach(p, () => {
      pictures = p.stages.map((s) => rows(s.cpu.map().frame!));
      for (const s of p.stages) s.cpu.unmap();
    });
    const target = hasCma() ? 'heap:contiguous' : `v4l2:${p.out1}`;
    if (!hasCma() && inVm && process.env.DMABUF_VM_CMA !== '0') assert.fail('no CMA heap in the VM');
    p.stages.forEach((s, i) => {
      assert.equal(s.moves.length, 1, `stage ${i}: one move`);
      assert.deepEqual([s.moves[0]!.from.provider, s.moves[0]!.to.provider], ['heap:system', target]);
      assert.equal(s.moves[0]!.from.inode, old[i]!.inode);
      assert.match(s.moves[0]!.reason, new RegExp(`attachment ${s.cap1!.id} \\(${p.cam1.path}\\): import: .*EFAULT|refused before`));
      assert.equal(s.exp.backing!.provider, target);
      assert.equal(s.exp.backing!.contiguous, true);
      assert.equal(old[i]!.frame.closed, true, 'the old frame is released');
      // every importer that existed before the move learns it once
      const maps = [s.cpu.map(), s.cap0.map(), s.screen.map()];
      assert.deepEqual(maps.map((m) => m.moved), [true, true, true], `stage ${i}: every importer's next map says moved`);
      assert.equal(s.cap1!.map().moved, false, 'the late attacher saw no move');
      const cpu = maps[0]!;
      assert.ok(cpu.kind === 'cpu' && cpu.frame !== null && cpu.frame.buffers[0]!.inode === s.exp.backing!.inode);
      assert.ok(rows(cpu.frame).equals(pictures[i]!), `stage ${i}: the picture moved with the frame`);
      for (const a of [s.cpu, s.cap0, s.screen, s.cap1!]) a.unmap();
      assert.deepEqual([s.cpu.map().moved, s.cap0.map().moved], [false, false], 'once');
      s.cpu.unmap();
      s.cap0.unmap();
    });
    // vivid-001 refused system-heap memory (EFAULT) at attach; the move did not offer it again
    for (const s of p.stages) {
      assert.ok(s.exp.backing!.skipped.some((x) => x.provider === 'heap:system' && x.code === 'EFAULT' && x.learned === true),
        JSON.stringify(s.exp.backing!.skipped));
    }
    // the pipeline goes on through both queues: no index ran out, each frame keeps its indices
    const a = await cycle(p, 'cap1', true);
    const b = await cycle(p, 'cap0', true);
    assert.equal(new Set(a.indices).size, N);
    assert.equal(new Set(b.indices).size, N);
    const hits = p.stages.map((s) => s.exp.stats().syscalls);
    assert.deepEqual(await cycle(p, 'cap1'), a, 'vivid-001: the same indices and framebuffers');
    assert.deepEqual(await cycle(p, 'cap0'), b, 'vivid-000: the same indices and framebuffers');
    assert.deepEqual(p.stages.map((s) => s.exp.stats().syscalls), hits, 'no importer syscall in steady cycles after the move');
    p.cam0.capture!.stop();
    p.cam1.capture!.stop();
  });

  it('kernel attachments: vkms and the dma-contig queue are attached, the vmalloc queue is not; the exporter\'s report equals bufinfo, stable over cycles', async function () {
    using p = pipeline(this);
    assert.equal(p.cam0.capture!.allocator, 'videobuf2_vmalloc', 'vivid-000 uses vb2-vmalloc (its own buffers say so)');
    assert.equal(p.cam1.capture!.allocator, 'videobuf2_dma_contig', 'vivid-001 uses vb2-dma-contig');
    await cycle(p, 'cap0');
    const vkms = p.stages[0]!.screen.device!.sysName ?? 'vkms';
    for (const s of p.stages) assert.deepEqual(s.exp.backing!.kernelAttachments, [vkms], 'vkms only: a vb2-vmalloc import is no dma_buf_attachment');
    const bufinfo = isNative() && fs.existsSync(BUFINFO);
    if (inVm && !bufinfo) assert.fail(`no ${BUFINFO} in the VM`);
    if (!bufinfo && this.test) this.test.title += ` (bufinfo not compared: ${isNative() ? `no ${BUFINFO}` : 'the mock has no debugfs'})`;
    const seen: string[][] = [];
    if (bufinfo) for (const s of p.stages) seen.push(agree(s.exp, 'system heap, after a cycle'));
    await cycle(p, 'cap0');
    if (bufinfo) p.stages.forEach((s, i) => assert.deepEqual(agree(s.exp, 'the next cycle'), seen[i], 'attachments stable'));
    await lateAttach(p);
    const v1 = p.stages[0]!.cap1!.device!.sysName ?? 'vivid';
    for (const s of p.stages) assert.deepEqual(s.exp.backing!.kernelAttachments, [...new Set([vkms, v1])].sort(), 'vkms and vivid-001 (vb2-dma-contig attaches)');
    await cycle(p, 'cap1');
    await cycle(p, 'cap0');
    if (bufinfo) {
      const moved = p.stages.map((s) => agree(s.exp, 'after the move and a cycle on each queue'));
      await cycle(p, 'cap1');
      p.stages.forEach((s, i) => assert.deepEqual(agree(s.exp, 'one more cycle'), moved[i], 'attachments stable'));
      console.log(`      bufinfo: before the move ${JSON.stringify(seen[0])}, after ${JSON.stringify(moved[0])}`);
    }
    p.cam0.capture!.stop();
    p.cam1.capture!.stop();
  });

  it('strace (VM): after the first cycle no PRIME import, no ADDFB2, no PREPARE_BUF, no mmap; one QBUF and one commit per frame', async function () {
    if (!isNative()) {
      if (this.test) this.test.title += ' (skipped: strace counts real syscalls; native backend only)';
      this.skip();
    }
    const which = await runChild('strace', ['-V']).catch(() => ({ status: -1 }));
    if (which.status !== 0) skip(this, 'no strace');
    needsDriver(this, 'vkms');
    const cam = vivid(this, 0).path;
    const root = path.resolve(__dirname, '..');
    const CYCLES = 5;
    const script = `
      const d = require(${JSON.stringify(path.join(root, 'src/index.js'))});
      const { openWriteback } = require(${JSON.stringify(path.join(root, 'test/support/writeback.js'))});
      const fs = require('fs');
      (async () => {
        const dev = d.drm.open({ driver: 'vkms' });
        const display = openWriteback(dev, ${W}, ${H});
        const cam = d.v4l2.open(${JSON.stringify(cam)});
        const q = cam.capture;
        q.setFormat({ width: ${W}, height: ${H}, format: '${FORMAT}' });
        q.importBuffers(${N});
        const stages = [];
        for (let i = 0; i < ${N}; i++) {
          const exp = new d.Exporter({ frame: { width: ${W}, height: ${H}, format: '${FORMAT}' }, providers: ['heap:system'] });
          stages.push({ exp, cpu: exp.attach('cpu'), cap: exp.attach(q), screen: exp.attach(display) });
        }
        let sum = 0;
        const cycle = async () => {
          const maps = stages.map((s) => s.cap.map());
          for (const m of maps) q.queue(m.frame);
          q.start();
          for (const s of stages) {
            const got = await q.dequeue({ timeout: 20000 });
            s.cap.unmap();
            const r = await display.commit([{ plane: display.primary, fb: s.screen.map().fb }], { outFence: false });
            await r.completed;
            s.screen.unmap();
            sum += s.cpu.map().mapping.bytes[${(H - 1) * W * 4}];
            s.cpu.unmap();
          }
        };
        fs.writeSync(1, 'PIPEMARK-0\\n');
        await cycle();
        fs.writeSync(1, 'PIPEMARK-A\\n');
        for (let k = 0; k < ${CYCLES}; k++) await cycle();
        fs.writeSync(1, 'PIPEMARK-B\\n');
        fs.writeSync(1, JSON.stringify(stages.map((s) => s.exp.stats().syscalls)) + ' ' + sum + '\\n');
        q.stop();
        for (const s of stages) s.exp.close();
        q.release(); cam.close(); display.close(); dev.close();
      })().catch((e) => { console.error(e); process.exit(1); });`;
    const out = path.join(os.tmpdir(), `pipe-strace-${process.pid}.txt`);
    const r = await runChild('strace', ['-f', '-o', out, '-e', 'trace=ioctl,mmap,munmap,write', process.execPath, '-e', script],
      { env: { ...process.env, DMABUF_BACKEND: 'native' }, timeout: 300_000 });
    const lines = fs.existsSync(out) ? fs.readFileSync(out, 'utf8').split('\n') : [];
    fs.rmSync(out, { force: true });
    assert.equal(r.status, 0, r.stderr);
    const at = (mark: string): number => lines.findIndex((l) => l.includes(`"${mark}\\n"`));
    // the name strace prints, or the number on 64-bit (struct v4l2_buffer is 88 bytes)
    const IOCTLS: Record<string, RegExp> = {
      PRIME_FD_TO_HANDLE: /DRM_IOCTL_PRIME_FD_TO_HANDLE|0xc00c642e/,
      ADDFB2: /DRM_IOCTL_MODE_ADDFB2|0xc06864b8/,
      ATOMIC: /DRM_IOCTL_MODE_ATOMIC|0xc03864bc/,
      PREPARE_BUF: /VIDIOC_PREPARE_BUF|0xc058565d/,
      QBUF: /VIDIOC_QBUF|0xc058560f/,
      DQBUF: /VIDIOC_DQBUF|0xc0585611/,
      SYNC: /DMA_BUF_IOCTL_SYNC|0x40086200/,
    };
    const count = (from: number, to: number): Record<string, number> => {
      const seg = lines.slice(from, to);
      const c: Record<string, number> = {};
      for (const [k, re] of Object.entries(IOCTLS)) c[k] = seg.filter((l) => /\bioctl\(/.test(l) && re.test(l) && !/= -1 EAGAIN/.test(l)).length;
      c.mmap = seg.filter((l) => /\bmmap\(/.test(l) && /MAP_SHARED/.test(l)).length;
      c.munmap = seg.filter((l) => new RegExp(`\\bmunmap\\(0x[0-9a-f]+, ${W * H * 4}\\)`).test(l)).length;
      return c;
    };
    const [m0, a, b] = [at('PIPEMARK-0'), at('PIPEMARK-A'), at('PIPEMARK-B')];
    assert.ok(m0 >= 0 && a > m0 && b > a, 'markers in the strace output');
    const firstCycle = count(m0, a);
    const steady = count(a, b);
    console.log(`      strace: first cycle ${JSON.stringify(firstCycle)}; ${CYCLES} steady cycles ${JSON.stringify(steady)}`);
    // the first cycle allocates and makes every importer's mapping: a framebuffer, a prepared index, a CPU mapping per frame
    assert.equal(firstCycle.ADDFB2, N);
    assert.ok(firstCycle.PRIME_FD_TO_HANDLE >= N);
    assert.equal(firstCycle.PREPARE_BUF, N);
    assert.ok(firstCycle.mmap >= N);
    assert.equal(firstCycle.QBUF, N);
    assert.deepEqual([steady.PRIME_FD_TO_HANDLE, steady.ADDFB2, steady.PREPARE_BUF, steady.mmap], [0, 0, 0, 0]);
    assert.equal(steady.QBUF, N * CYCLES, 'one QBUF per frame and cycle');
    assert.ok(steady.DQBUF >= N * CYCLES, 'a DQBUF that returned a buffer per frame and cycle');
    assert.ok(steady.ATOMIC >= N * CYCLES, 'a commit per frame and cycle');
    assert.equal(steady.munmap, 0, 'no frame unmapped');
    const syscalls = JSON.parse(r.stdout.trim().split('\n').pop()!.split(' ')[0]!) as number[];
    assert.equal(new Set(syscalls).size, 1, `every exporter counted the same importer syscalls: ${syscalls}`);
  });

  describe('VideoQueue: an index prepared for a frame that is gone', function () {
    it('is not given to another frame; STREAMOFF gives it back: by itself when nothing is queued and the queue is not streaming, else stop()', async function () {
      using cam = v4l2.open(vivid(this, 0).path);
      const q = cam.capture!;
      const done = importing(q, 1);
      try {
        const count = q.buffers.count; // vivid makes at least 2
        const alloc = (): Frame => Frame.allocate({ width: W, height: H, format: FORMAT }, { provider: 'heap:system' });
        const gone = Array.from({ length: count }, alloc);
        using b = alloc();
        using c = alloc();
        assert.deepEqual(gone.map((f) => q.prepare(f)).sort(), gone.map((_f, i) => i));
        // vb2 still holds their memory on every index, prepared: a QBUF of one would capture into it
        for (const f of gone) f.close();
        // not streaming, nothing queued: the queue cancels the preparations (STREAMOFF), b gets an index
        const ib = q.prepare(b);
        assert.equal(q.indexOf(b), ib);
        // every other index prepared for frames gone, b's too once b is closed: while streaming, no index
        for (let i = 1; i < count; i++) gone[i] = alloc();
        for (const f of gone.slice(1)) q.prepare(f);
        q.start();
        for (const f of gone.slice(1)) f.close();
        b.close();
        const e = throwsCode(() => q.queue(c), 'ERR_DMABUF_BUSY');
        assert.match(e.message, new RegExp(`${count} prepared for frames that are gone`));
        assert.match((e as { hint?: string }).hint ?? '', /stop\(\)/);
        q.stop();
        q.queue(c);
        q.start();
        const got = await q.dequeue({ timeout: 20_000 });
        assert.equal(got.frame, c, 'c captured on the index b had');
        assert.equal(notBars(c), null, 'into c\'s memory');
        q.stop();
        // stop() cancels preparations when not streaming, too
        using d = Frame.allocate({ width: W, height: H, format: FORMAT }, { provider: 'heap:system' });
        const ic = q.prepare(c);
        q.stop();
        c.close();
        assert.equal(q.prepare(d), ic, 'c\'s index was free again (the frame gone longest)');
      } finally {
        done();
      }
    });

    it('an exporter that moves or closes gives its frame\'s index back: N exporters whose frames were prepared, never queued, move and still fit on N indices', async function () {
      using cam = v4l2.open(vivid(this, 0).path);
      const out1 = vivid(this, 1, true).path;
      using cam1 = v4l2.open(vivid(this, 1).path);
      const q = cam.capture!;
      const done = importing(q, N);
      const done1 = importing(cam1.capture!, N);
      const exps: Exporter[] = [];
      try {
        for (let i = 0; i < N; i++) {
          const exp = new Exporter({ frame: { width: W, height: H, format: FORMAT }, providers: ['heap:system', 'heap:contiguous', `v4l2:${out1}`] });
          exps.push(exp);
          exp.attach(q).map();
          exp.attachments[0]!.unmap();
        }
        const before = exps.map((e) => (e.attachments[0]!.map() as { index: number }).index);
        for (const e of exps) e.attachments[0]!.unmap();
        assert.equal(new Set(before).size, N);
        // prepared, never queued: a move must not leave the old frame's index stale (nothing can be
        // queued on all N indices otherwise); the dma-contig queue attached late moves each frame
        for (const e of exps) e.attach(cam1.capture!);
        assert.deepEqual(exps.map((e) => e.stats().moves), exps.map(() => 1));
        const maps = exps.map((e) => e.attachments[0]!.map() as { index: number; frame: Frame; moved: boolean });
        assert.deepEqual(maps.map((m) => m.moved), exps.map(() => true));
        assert.equal(new Set(maps.map((m) => m.index)).size, N, 'N indices for the new frames');
        for (const m of maps) q.queue(m.frame);
        q.start();
        const got = new Set<Frame>();
        for (let i = 0; i < N; i++) got.add((await q.dequeue({ timeout: 20_000 })).frame);
        assert.deepEqual(got, new Set(maps.map((m) => m.frame)), 'every moved frame captured');
        q.stop();
      } finally {
        for (const e of exps) e.close();
        done1();
        done();
      }
    });
  });
});
