/**
 * Put frames on a (virtual) screen (`node dist/examples/display.js`): open vkms's card, pick its first
 * connected connector and preferred mode, draw a gradient into two dumb-buffer framebuffers (CPU access
 * bracketed through their dma-bufs) and page-flip between them a few times, waiting for each vblank.
 * Needs the native backend and a vkms card (e.g. in the project's VM, as root); otherwise it prints
 * "skipped: <reason>" and exits 0.
 */
import { drm, getBackend, Display, type Framebuffer } from '../src/index';

const FRAMES = 8;

function line(s = ''): void {
  process.stdout.write(`${s}\n`);
}

/** XRGB8888 gradient: red grows left to right, green top to bottom, blue with the frame number. */
function drawGradient(fb: Framebuffer, frame: number): void {
  const blue = (frame * 32) & 0xff;
  fb.draw((bytes) => {
    const px = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >>> 2);
    const stride = fb.pitch >>> 2;
    for (let y = 0; y < fb.height; y++) {
      const g = Math.floor((y * 255) / (fb.height - 1)) << 8;
      const row = y * stride;
      for (let x = 0; x < fb.width; x++) px[row + x] = (Math.floor((x * 255) / (fb.width - 1)) << 16) | g | blue;
    }
  });
}

async function main(): Promise<void> {
  const backend = getBackend();
  if (backend.name === 'mock') {
    line('skipped: the mock backend has no screen (run it with the native backend on a kernel with vkms)');
    return;
  }
  const card = drm.list().find((d) => d.driver === 'vkms' && d.kind === 'card' && d.error === undefined);
  if (card === undefined) {
    line('skipped: no vkms card (modprobe vkms, as root; or run it in the project VM: npm run vm -- node dist/examples/display.js)');
    return;
  }
  using dev = drm.open(card.path);
  using display = Display.open(dev);
  const { mode, connector } = display;
  line(`${dev.path} (${dev.driver}): connector ${connector.name}, mode ${mode.name}@${mode.refresh} Hz, CRTC ${display.crtcId}`);
  const fbs = [display.createFramebuffer(), display.createFramebuffer()];
  drawGradient(fbs[0], 0);
  try {
    display.show(fbs[0]);
  } catch (e) {
    if ((e as { code?: string }).code === 'EACCES') {
      line(`skipped: ${(e as Error).message}`);
      return;
    }
    throw e;
  }
  line(`shown: framebuffer ${fbs[0].id} (${fbs[0].width}x${fbs[0].height}, pitch ${fbs[0].pitch}); CRTC scans out fb ${display.state().fbId}`);
  let first = 0;
  let last = 0;
  for (let frame = 1; frame <= FRAMES; frame++) {
    const back = fbs[frame % 2];
    drawGradient(back, frame);
    const r = await display.flip(back);
    if (frame === 1) first = r.timestamp;
    line(`flip ${frame}: fb ${back.id}, vblank ${r.sequence}, +${last ? (r.timestamp - last).toFixed(1) : '0.0'} ms`);
    last = r.timestamp;
  }
  const fps = ((FRAMES - 1) * 1000) / (last - first);
  line(`${FRAMES} flips, ${fps.toFixed(1)} flips/s; the CRTC now shows fb ${display.state().fbId}`);
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
