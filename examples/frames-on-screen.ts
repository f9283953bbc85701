/**
 * Frames from a pool on a (virtual) screen, without a copy (`node dist/examples/frames-on-screen.js`):
 * a FramePool of three XRGB8888 frames from the default provider (the system heap, else udmabuf),
 * each registered once as a framebuffer of vkms (device.addFramebuffer: PRIME import + ADDFB2), a
 * bar drawn into the frame the screen is not showing, and a page flip to it, for a number of vblanks.
 * Where vkms takes NV12 (Linux 6.13 and later) an NV12 frame from the same provider is shown too.
 * Needs the native backend and a vkms card (e.g. in the project's VM, as root); otherwise it prints
 * "skipped: <reason>" and exits 0.
 */
import { drm, getBackend, Display, Frame, FramePool, type Framebuffer } from '../src/index';

const FLIPS = 12;

function line(s = ''): void {
  process.stdout.write(`${s}\n`);
}

/** A grey background with a white vertical bar at x = bar (XRGB8888, one plane). */
function drawBar(frame: Frame, bar: number): void {
  frame.access('write', ([bytes]) => {
    const { pitch } = frame.planes[0]!;
    const px = new Uint32Array(bytes!.buffer, bytes!.byteOffset, bytes!.byteLength >>> 2);
    for (let y = 0; y < frame.height; y++) {
      const row = y * (pitch >>> 2);
      px.fill(0x00404040, row, row + frame.width);
      px.fill(0x00ffffff, row + bar, row + Math.min(frame.width, bar + 32));
    }
  });
}

async function main(): Promise<void> {
  if (getBackend().name === 'mock') {
    line('skipped: the mock backend has no screen (run it with the native backend on a kernel with vkms)');
    return;
  }
  const card = drm.list().find((d) => d.driver === 'vkms' && d.kind === 'card' && d.error === undefined);
  if (card === undefined) {
    line('skipped: no vkms card (modprobe vkms, as root; or run it in the project VM: npm run vm -- node dist/examples/frames-on-screen.js)');
    return;
  }
  using dev = drm.open(card.path);
  using display = Display.open(dev, { mode: '640x480' });
  const { width, height } = display.mode;
  using pool = new FramePool({ width, height, format: 'XRGB8888', count: 3 });
  // one framebuffer per frame, made once: the pool recycles the frames, the framebuffers stay
  const frames = pool.frames;
  const fbs = new Map<Frame, Framebuffer>(frames.map((f) => [f, dev.addFramebuffer(f)]));
  const provider = frames[0]!.buffers[0]!.info().exporter;
  line(`${dev.path}: ${frames.length} frames of ${width}x${height} XRGB8888 from ${provider}, pitch ${frames[0]!.planes[0]!.pitch}; ` +
    `framebuffers ${[...fbs.values()].map((fb) => fb.id).join(', ')}`);
  let shown = pool.acquire();
  drawBar(shown, 0);
  try {
    display.show(fbs.get(shown)!);
  } catch (e) {
    if ((e as { code?: string }).code === 'EACCES') {
      line(`skipped: ${(e as Error).message}`);
      return;
    }
    throw e;
  }
  for (let i = 1; i <= FLIPS; i++) {
    const next = pool.acquire();
    drawBar(next, (i * 48) % (width - 32));
    const r = await display.flip(fbs.get(next)!);
    shown.release(); // off screen now: back to the pool
    shown = next;
    line(`flip ${i}: frame ${frames.indexOf(next)} (fb ${fbs.get(next)!.id}) at vblank ${r.sequence}; pool ${JSON.stringify(pool.stats())}`);
  }
  line(`the CRTC shows fb ${display.state().fbId}`);

  try {
    using nv12 = Frame.allocate({ width, height, format: 'NV12' });
    nv12.access('write', ([y, uv]) => { y!.fill(200); uv!.fill(128); });
    using fb = dev.addFramebuffer(nv12);
    display.show(fb);
    line(`NV12: shown as fb ${fb.id} (planes at offsets ${fb.planes.map((p) => p.offset).join(', ')}, one handle ${fb.planes[0]!.handle})`);
  } catch (e) {
    const err = e as { code?: string; hint?: string };
    if (err.code !== 'EINVAL') throw e;
    line(`NV12: refused by this kernel's vkms (${err.code}: ${err.hint})`);
  }
  shown.release();
  for (const fb of fbs.values()) fb.release();
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
