/**
 * Camera to display without a CPU copy (`node dist/examples/camera-to-display.js`): vivid captures
 * into the frames of a FramePool (our dma-bufs, REQBUFS(DMABUF)), each captured frame is put on
 * vkms's primary plane by an atomic commit (the frame's framebuffer, made once per frame), and a
 * frame goes back to the camera once the commit that replaced it on screen has signalled its
 * out-fence. The CPU never touches a pixel on the way. At the end the writeback connector reads the
 * composed picture back and the example checks it equals the frame the camera captured, pixel by pixel.
 *
 * Runs in the project VM (`npm run vm -- node dist/examples/camera-to-display.js`) and on the mock,
 * which models vivid and vkms. Prints "skipped: <reason>" and exits 0 without vivid or vkms.
 */
import { drm, Frame, FramePool, heaps, udmabuf, v4l2, type Framebuffer } from '../src/index';
import { writebackDisplay } from './lib/display';

const FRAMES = 12;
const WIDTH = 640;
const HEIGHT = 480;

function line(s = ''): void {
  process.stdout.write(`${s}\n`);
}

/** The RGB of every pixel of an XRGB8888 frame (X dropped), rows without padding. */
function rgb(frame: Frame, width: number, height: number): Uint32Array {
  const out = new Uint32Array(width * height);
  frame.access('read', ([bytes]) => {
    const dv = new DataView(bytes!.buffer, bytes!.byteOffset, bytes!.byteLength);
    const pitch = frame.planes[0]!.pitch;
    for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) out[y * width + x] = dv.getUint32(y * pitch + 4 * x, true) & 0xffffff;
  });
  return out;
}

async function main(): Promise<void> {
  // vivid's first instance: vb2-vmalloc, which takes scattered memory (the second wants contiguous)
  const cams = v4l2.list().filter((d) => d.driver === 'vivid' && d.capture !== null && d.error === undefined && !d.m2m);
  const camInfo = cams.find((d) => d.bus.endsWith('vivid-000')) ?? cams[0];
  const card = drm.list().find((d) => d.driver === 'vkms' && d.kind === 'card' && d.error === undefined);
  if (camInfo === undefined || card === undefined) {
    line(`skipped: needs vivid and vkms (${camInfo === undefined ? 'no vivid capture node' : 'no vkms card'}; the project VM has both)`);
    return;
  }
  using cam = v4l2.open(camInfo.path);
  const capture = cam.capture!;
  const fmt = capture.setFormat({ width: WIDTH, height: HEIGHT, format: 'XRGB8888' });
  if (fmt.fourcc !== 'XR24' || fmt.width !== WIDTH || fmt.height !== HEIGHT) {
    line(`skipped: ${camInfo.path} gives ${fmt.width}x${fmt.height} ${fmt.fourcc}, not ${WIDTH}x${HEIGHT} XR24`);
    return;
  }
  using dev = drm.open(card.path);
  using display = writebackDisplay(dev);
  const provider = udmabuf.available() ? 'udmabuf' : heaps.list().some((h) => h.name === 'system') ? 'heap:system' : dev;
  using pool = new FramePool({ width: WIDTH, height: HEIGHT, format: 'XRGB8888', count: 4, provider });
  const fbs = new Map<Frame, Framebuffer>(pool.frames.map((f) => [f, dev.addFramebuffer(f)]));
  line(`${camInfo.path} (${cam.card}) → ${display.connector.name} ${display.mode.name} of ${dev.path}: ` +
    `${pool.count} frames from ${typeof provider === 'string' ? provider : 'vkms dumb buffers'}, each a framebuffer once`);

  capture.importBuffers(pool.count);
  for (let i = 0; i < pool.count; i++) capture.queue(pool.acquire());
  capture.start();
  let shown: Frame | null = null;
  for (let i = 0; i < FRAMES; i++) {
    const got = await capture.dequeue({ timeout: 10_000 });
    const final = i === FRAMES - 1;
    const shot = final ? Frame.allocate({ width: display.mode.width, height: display.mode.height, format: 'XRGB8888' }, { provider: dev }) : null;
    try {
      const r = await display.commit([{ plane: display.primary!, fb: fbs.get(got.frame)! }], shot ? { writeback: shot } : {});
      const done = await r.completed;
      await r.outFence!.wait({ timeout: 5000 });
      r.outFence!.close();
      line(`frame ${i}: V4L2 index ${got.index}, sequence ${got.sequence} → on screen at vblank ${done!.sequence}`);
      // the frame this one replaced is off screen: back to the camera
      if (shown !== null) capture.queue(shown);
      shown = got.frame;
      if (shot !== null) {
        await r.writeback;
        const want = rgb(got.frame, WIDTH, HEIGHT);
        const seen = rgb(shot, WIDTH, HEIGHT);
        const bad = want.findIndex((v, k) => seen[k] !== v);
        if (bad >= 0) {
          throw new Error(`writeback differs from the captured frame at (${bad % WIDTH}, ${Math.floor(bad / WIDTH)}): ` +
            `${seen[bad]!.toString(16)} vs ${want[bad]!.toString(16)}`);
        }
        const distinct = new Set(want).size;
        line(`writeback equals the captured frame in all ${WIDTH * HEIGHT} pixels (${distinct} distinct colours)`);
      }
    } finally {
      shot?.close();
    }
  }
  capture.stop();
  for (const fb of fbs.values()) fb.release();
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
