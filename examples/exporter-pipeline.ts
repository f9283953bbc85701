/**
 * A pipeline on Exporters (`node dist/examples/exporter-pipeline.js`): three frame exporters, each
 * attached to the CPU, vivid's first capture queue (vb2-vmalloc) and a vkms Display, run cycles of
 * capture → show → CPU read; after the first cycle the exporters hand out kept mappings, framebuffers
 * and V4L2 indices and make no syscall for their importers. Then vivid's second instance
 * (vb2-dma-contig, which refuses scattered memory) attaches late: every frame moves off the system
 * heap to a CMA heap or, where there is none, to buffers that vivid instance exports itself, and
 * the cycles go on through both cameras. At the end the writeback connector reads the screen back
 * and the example checks it equals the last frame shown.
 *
 * Runs in the project VM and on the mock (which models vivid's two instances and vkms). Prints
 * "skipped: <reason>" and exits 0 without them.
 */
import { drm, Exporter, Frame, v4l2, type Attachment, type Display, type VideoQueue } from '../src/index';
import { writebackDisplay } from './lib/display';

const W = 640, H = 480, FORMAT = 'XRGB8888', N = 3;

function line(s = ''): void {
  process.stdout.write(`${s}\n`);
}

/** The RGB of every pixel of an XRGB8888 frame (X dropped), rows without padding. */
function rgb(frame: Frame): Uint32Array {
  const out = new Uint32Array(W * H);
  frame.access('read', ([bytes]) => {
    const dv = new DataView(bytes!.buffer, bytes!.byteOffset, bytes!.byteLength);
    const pitch = frame.planes[0]!.pitch;
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) out[y * W + x] = dv.getUint32(y * pitch + 4 * x, true) & 0xffffff;
  });
  return out;
}

interface Stage {
  exp: Exporter;
  cpu: Attachment<'cpu'>;
  cams: Attachment<VideoQueue>[];
  screen: Attachment<Display>;
}

async function main(): Promise<void> {
  const list = v4l2.list().filter((d) => d.driver === 'vivid' && d.error === undefined && !d.m2m);
  const cam0 = list.find((d) => d.bus === 'platform:vivid-000' && d.capture !== null);
  const cam1 = list.find((d) => d.bus === 'platform:vivid-001' && d.capture !== null);
  const out1 = list.find((d) => d.bus === 'platform:vivid-001' && d.output !== null && d.capture === null);
  const card = drm.list().find((d) => d.driver === 'vkms' && d.kind === 'card' && d.error === undefined);
  if (!cam0 || !cam1 || !out1 || !card) {
    line(`skipped: needs vivid's two instances (capture and output nodes) and vkms (the project VM has them)`);
    return;
  }
  using dev = drm.open(card.path);
  using display = writebackDisplay(dev);
  using c0 = v4l2.open(cam0.path);
  using c1 = v4l2.open(cam1.path);
  const queues = [c0.capture!, c1.capture!];
  for (const q of queues) {
    const f = q.setFormat({ width: W, height: H, format: FORMAT });
    if (f.width !== W || f.height !== H || f.fourcc !== 'XR24') {
      line(`skipped: ${q.device.path} gives ${f.width}x${f.height} ${f.fourcc}, not ${W}x${H} XR24`);
      return;
    }
    q.importBuffers(N);
  }
  line(`${cam0.path} (${queues[0]!.allocator}) and ${cam1.path} (${queues[1]!.allocator}) → ${display.connector.name} of ${dev.path}`);

  const stages: Stage[] = [];
  using _close = { [Symbol.dispose]: () => { for (const s of stages) s.exp.close(); for (const q of queues) q.release(); } };
  for (let i = 0; i < N; i++) {
    const exp = new Exporter({ frame: { width: W, height: H, format: FORMAT }, providers: ['heap:system', 'heap:contiguous', `v4l2:${out1.path}`] });
    exp.on('move', (ev) => line(`frame ${i} moved: ${ev.from.provider} → ${ev.to.provider} (${ev.reason.replace(/:.*EFAULT.*/, ': EFAULT')})`));
    stages.push({ exp, cpu: exp.attach('cpu'), cams: [exp.attach(queues[0]!)], screen: exp.attach(display) });
  }

  let last: Frame | null = null;
  const cycle = async (cam: number): Promise<string> => {
    const q = queues[cam]!;
    const maps = stages.map((s) => s.cams[cam]!.map());
    for (const m of maps) q.queue(m.frame);
    q.start();
    const seen: string[] = [];
    for (const s of stages) {
      const got = await q.dequeue({ timeout: 20_000 });
      s.cams[cam]!.unmap();
      const { fb } = s.screen.map();
      const r = await display.commit([{ plane: display.primary!, fb }], { outFence: false });
      await r.completed;
      s.screen.unmap();
      const { frame } = s.cpu.map();
      last = frame;
      s.cpu.unmap();
      seen.push(`index ${got.index} fb ${fb.id}`);
    }
    return seen.join(', ');
  };
  const syscalls = (): number => stages.reduce((n, s) => n + s.exp.stats().syscalls, 0);

  line(`cycle 1 on camera 0: ${await cycle(0)} (from ${stages[0]!.exp.backing!.provider})`);
  const before = syscalls();
  for (let k = 2; k <= 4; k++) line(`cycle ${k} on camera 0: ${await cycle(0)}`);
  line(`importer syscalls in cycles 2-4: ${syscalls() - before}`);

  // the dma-contig camera attaches late: the system-heap frames cannot serve it, every frame moves
  for (const s of stages) s.cams.push(s.exp.attach(queues[1]!));
  line(`now from ${stages[0]!.exp.backing!.provider}; kernel attachments ${JSON.stringify(stages[0]!.exp.backing!.kernelAttachments)}`);
  line(`next maps say moved: ${stages.map((s) => [s.cpu.map().moved, s.screen.map().moved].join('/')).join(', ')}`);
  for (const s of stages) { s.cpu.unmap(); s.screen.unmap(); }
  for (let k = 5; k <= 8; k++) line(`cycle ${k} on camera ${k % 2}: ${await cycle(k % 2)}`);
  const after = syscalls();
  for (let k = 9; k <= 10; k++) line(`cycle ${k} on camera ${k % 2}: ${await cycle(k % 2)}`);
  line(`importer syscalls in cycles 9-10: ${syscalls() - after}`);
  for (const q of queues) q.stop();

  // the screen, read back, is the last frame shown
  using shot = Frame.allocate({ width: display.mode.width, height: display.mode.height, format: FORMAT }, { provider: dev });
  await display.writeback(shot);
  const want = rgb(last!);
  const seen = rgb(shot);
  const bad = want.findIndex((v, k) => seen[k] !== v);
  if (bad >= 0) throw new Error(`writeback differs from the last frame shown at (${bad % W}, ${Math.floor(bad / W)})`);
  line(`writeback equals the last frame shown in all ${W * H} pixels (${new Set(want).size} distinct colours)`);
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
