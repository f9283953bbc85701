/**
 * Camera → encoder → decoder → display, every frame a dma-buf (`node dist/examples/camera-codec-display.js`):
 * vivid captures 640x480 XRGB8888 into our frames; vicodec's stateful FWHT encoder reads those very
 * frames (REQBUFS(DMABUF)) into bitstream buffers it allocates and exports; its stateful decoder
 * reads those bitstream dma-bufs as they are and decodes into our second pool of frames, which go on
 * vkms's primary plane by atomic commits. No CPU copy on the way. For the last frame the writeback
 * connector reads the composed picture and the example prints its PSNR against the captured frame
 * (FWHT is lossy) and fails below 35 dB.
 *
 * Runs in the project VM (`npm run vm -- node dist/examples/camera-codec-display.js`). The mock
 * models no codec: there, and without vivid, vicodec or vkms, it prints "skipped: <reason>" and exits 0.
 */
import { drm, Frame, FramePool, heaps, udmabuf, v4l2, type Framebuffer, type VideoDevice } from '../src/index';
import { writebackDisplay } from './lib/display';
import { psnr, rgb } from './lib/picture';

const FRAMES = 6;
const W = 640;
const H = 480;
const MIN_PSNR = 35;

function line(s = ''): void {
  process.stdout.write(`${s}\n`);
}

/** vicodec's stateful encoder and decoder, told apart by where FWHT is (all its nodes say 'vicodec'). */
function codecs(): { encoder: string; decoder: string } | string {
  let encoder: string | undefined;
  let decoder: string | undefined;
  for (const n of v4l2.list().filter((x) => x.driver === 'vicodec' && x.m2m && x.error === undefined)) {
    using d = v4l2.open(n.path);
    if (d.capture?.formats().some((f) => f.fourcc === 'FWHT')) encoder ??= n.path;
    else if (d.output?.formats().some((f) => f.fourcc === 'FWHT')) decoder ??= n.path;
  }
  return encoder !== undefined && decoder !== undefined ? { encoder, decoder } : 'no vicodec stateful encoder and decoder';
}

function once(dev: VideoDevice, event: 'source-change', ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no ${event} from the decoder within ${ms} ms`)), ms);
    dev.once(event, () => { clearTimeout(t); resolve(); });
  });
}

async function main(): Promise<void> {
  const cams = v4l2.list().filter((d) => d.driver === 'vivid' && d.capture !== null && d.error === undefined && !d.m2m);
  const camInfo = cams.find((d) => d.bus.endsWith('vivid-000')) ?? cams[0];
  const card = drm.list().find((d) => d.driver === 'vkms' && d.kind === 'card' && d.error === undefined);
  const nodes = codecs();
  if (camInfo === undefined || card === undefined || typeof nodes === 'string') {
    line(`skipped: needs vivid, vicodec and vkms (${camInfo === undefined ? 'no vivid capture node' : card === undefined ? 'no vkms card' : nodes})`);
    return;
  }
  const provider = udmabuf.available() ? 'udmabuf' : heaps.list().some((h) => h.name === 'system') ? 'heap:system' : undefined;
  if (provider === undefined) {
    line('skipped: no udmabuf and no system heap for the frames');
    return;
  }
  using cam = v4l2.open(camInfo.path);
  using enc = v4l2.open(nodes.encoder);
  using dec = v4l2.open(nodes.decoder);
  const capture = cam.capture!;
  const fmt = capture.setFormat({ width: W, height: H, format: 'XRGB8888' });
  const raw = enc.output!.setFormat({ width: W, height: H, format: 'XRGB8888' });
  if (fmt.fourcc !== 'XR24' || raw.fourcc !== 'XR24' || raw.planes[0]!.pitch !== fmt.planes[0]!.pitch) {
    line(`skipped: camera ${fmt.width}x${fmt.height} ${fmt.fourcc} and encoder ${raw.width}x${raw.height} ${raw.fourcc} do not agree on XR24`);
    return;
  }
  enc.capture!.setFormat({ width: W, height: H, format: 'FWHT' });
  dec.output!.setFormat({ width: W, height: H, format: 'FWHT' });

  using dev = drm.open(card.path);
  using display = writebackDisplay(dev);

  // camera frames (ours), read by the encoder as they are
  using camPool = new FramePool({ width: W, height: H, format: 'XRGB8888', count: 3, provider });
  capture.importBuffers(camPool.count);
  enc.output!.importBuffers(camPool.count);
  // bitstream frames (the encoder's own), read by the decoder as they are
  const bitstreams = enc.capture!.exportBuffers(2);
  dec.output!.importBuffers(bitstreams.length);
  for (const f of bitstreams) enc.capture!.queue(f);
  for (let i = 0; i < camPool.count; i++) capture.queue(camPool.acquire());
  capture.start();
  enc.capture!.start();
  enc.output!.start();
  line(`${camInfo.path} vivid → ${nodes.encoder} FWHT encoder → ${nodes.decoder} decoder → ${display.connector.name} of ${dev.path}; ` +
    `frames from ${provider}, bitstreams the encoder's (${bitstreams[0]!.planes[0]!.size} bytes)`);

  let decPool: FramePool | null = null;
  let fbs = new Map<Frame, Framebuffer>();
  let shown: Frame | null = null;
  const changed = once(dec, 'source-change', 30_000);
  try {
    for (let i = 0; i < FRAMES; i++) {
      const got = await capture.dequeue({ timeout: 10_000 });
      enc.output!.queue(got.frame);
      const coded = await enc.capture!.dequeue({ timeout: 30_000 });
      const source = (await enc.output!.dequeue({ timeout: 30_000 })).frame; // = got.frame, read by the encoder
      dec.output!.queue(coded.frame, { bytesUsed: coded.bytesUsed[0] });
      if (decPool === null) {
        // the stateful decoder's start: it parses the first header, then says what it will give
        dec.output!.start();
        await changed;
        // it proposes one RGB layout (BGR4 here); the same components in the layout vkms scans out
        const out = dec.capture!.setFormat({ width: W, height: H, format: 'XRGB8888' });
        if (out.fourcc !== 'XR24') throw new Error(`the decoder gives ${out.fourcc}, not XR24`);
        decPool = new FramePool({ ...dec.capture!.frameDescription(), count: 3, provider });
        fbs = new Map(decPool.frames.map((f) => [f, dev.addFramebuffer(f)]));
        dec.capture!.importBuffers(decPool.count);
        for (let k = 0; k < decPool.count; k++) dec.capture!.queue(decPool.acquire());
        dec.capture!.start();
      }
      const decoded = await dec.capture!.dequeue({ timeout: 30_000 });
      enc.capture!.queue((await dec.output!.dequeue({ timeout: 30_000 })).frame); // the bitstream, back to the encoder
      const last = i === FRAMES - 1;
      const shot = last ? Frame.allocate({ width: display.mode.width, height: display.mode.height, format: 'XRGB8888' }, { provider: dev }) : null;
      try {
        const r = await display.commit([{ plane: display.primary!, fb: fbs.get(decoded.frame)! }], shot ? { writeback: shot } : {});
        await r.outFence!.wait({ timeout: 5000 });
        r.outFence!.close();
        if (shown !== null) dec.capture!.queue(shown); // off screen now: back to the decoder
        shown = decoded.frame;
        let note = '';
        if (shot !== null) {
          await r.writeback;
          const db = psnr(rgb(source, W, H), rgb(shot, W, H));
          if (!(db >= MIN_PSNR)) throw new Error(`PSNR ${db.toFixed(1)} dB < ${MIN_PSNR} dB: the shown frame is not the captured one`);
          note = `; writeback vs captured frame: PSNR ${db === Infinity ? 'inf' : db.toFixed(1)} dB`;
        }
        line(`frame ${i}: sequence ${got.sequence}, ${coded.bytesUsed[0]} bytes of FWHT, decoded into V4L2 index ${decoded.index}, on screen${note}`);
      } finally {
        shot?.close();
      }
      capture.queue(source);
    }
  } finally {
    capture.stop();
    enc.output!.stop();
    enc.capture!.stop();
    dec.output!.stop();
    dec.capture!.stop();
    for (const fb of fbs.values()) fb.release();
    decPool?.close();
    for (const f of bitstreams) f.close();
  }
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
