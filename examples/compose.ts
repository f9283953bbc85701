/**
 * A moving overlay over a background, composed by the display hardware (`node dist/examples/compose.js`):
 * an atomic Display on vkms, a full-screen XRGB8888 background on the primary plane, and a
 * half-transparent ARGB8888 square on an overlay plane that moves each frame. The overlay frames come
 * from a FramePool of three; each commit takes the frame's implicit write fence as its in-fence
 * (DMA_BUF_IOCTL_EXPORT_SYNC_FILE: what a decoder or GPU producer would hand over), and a frame goes
 * back to the pool only when the out-fence of the commit that replaced it has signalled, so the
 * CPU never draws into a frame on screen. At the end the writeback connector reads the composed
 * picture back and the example checks the square is where it was put.
 *
 * Runs on vkms (the project VM: `npm run vm -- node dist/examples/compose.js`) and on the mock, which
 * composes like vkms. Prints "skipped: <reason>" and exits 0 where there is no vkms.
 */
import { drm, Frame, FramePool, type Framebuffer } from '../src/index';
import { writebackDisplay } from './lib/display';

const STEPS = 10;
const SQUARE = 96;

function line(s = ''): void {
  process.stdout.write(`${s}\n`);
}

/** One 32-bit pixel per x, y into a single-plane frame. */
function paint(frame: Frame, px: (x: number, y: number) => number): void {
  frame.access('write', ([bytes]) => {
    const dv = new DataView(bytes!.buffer, bytes!.byteOffset, bytes!.byteLength);
    const pitch = frame.planes[0]!.pitch;
    for (let y = 0; y < frame.height; y++) for (let x = 0; x < frame.width; x++) dv.setUint32(y * pitch + 4 * x, px(x, y), true);
  });
}

async function main(): Promise<void> {
  const card = drm.list().find((d) => d.driver === 'vkms' && d.kind === 'card' && d.error === undefined);
  if (card === undefined) {
    line('skipped: no vkms card (modprobe vkms, as root; or run it in the project VM: npm run vm -- node dist/examples/compose.js)');
    return;
  }
  using dev = drm.open(card.path);
  using display = writebackDisplay(dev);
  const wb = display.writebackConnector;
  const { width, height } = display.mode;
  const overlay = display.overlays[0];
  if (overlay === undefined || !overlay.formats.includes('ARGB8888')) {
    line(`skipped: ${dev.path} has no overlay plane taking ARGB8888`);
    return;
  }
  line(`${dev.path}: ${display.connector.name} ${display.mode.name} on CRTC ${display.crtcId}; ` +
    `planes ${display.planes.map((p) => `${p.id} ${p.type}`).join(', ')}`);

  using background = Frame.allocate({ width, height, format: 'XRGB8888' }, { provider: dev });
  paint(background, (x, y) => 0xff000000 | ((x * 255 / width) << 16) | ((y * 255 / height) << 8) | 0x30);
  using bgFb = dev.addFramebuffer(background);
  using pool = new FramePool({ width: SQUARE, height: SQUARE, format: 'ARGB8888', count: 3, provider: dev });
  const fbs = new Map<Frame, Framebuffer>(pool.frames.map((f) => [f, dev.addFramebuffer(f)]));

  let onScreen: Frame | null = null;
  let at = { x: 0, y: 0 };
  for (let i = 0; i < STEPS; i++) {
    const frame = await pool.acquireAsync({ timeout: 5000 });
    // premultiplied alpha: a white square at 75% over the background, a solid border
    const a = 0xc0;
    paint(frame, (x, y) => (x < 4 || y < 4 || x >= SQUARE - 4 || y >= SQUARE - 4 ? 0xffff4000 : (a << 24) | (a << 16) | (a << 8) | a));
    at = { x: 40 + i * 60, y: 40 + i * 40 };
    using inFence = frame.planes[0]!.buffer.exportSyncFile('write');
    const r = await display.commit([
      { plane: display.primary!, fb: bgFb },
      { plane: overlay, fb: fbs.get(frame)!, x: at.x, y: at.y, inFence },
    ]);
    const done = await r.completed;
    line(`step ${i}: overlay frame ${pool.frames.indexOf(frame)} at (${at.x}, ${at.y}), vblank ${done!.sequence}, ` +
      `out-fence ${r.outFence!.signaled ? 'signalled' : 'pending'}`);
    // the frame this commit replaced is off screen once the out-fence has signalled: back to the pool
    if (onScreen !== null) {
      await r.outFence!.wait({ timeout: 5000 });
      onScreen.release();
    }
    onScreen = frame;
    r.outFence!.close();
  }

  if (wb === null) {
    line('writeback: none on this device');
  } else {
    using shot = Frame.allocate({ width, height, format: 'XRGB8888' }, { provider: dev });
    await display.writeback(shot);
    const border = shot.access('read', ([bytes]) =>
      new DataView(bytes!.buffer, bytes!.byteOffset).getUint32(at.y * shot.planes[0]!.pitch + 4 * at.x, true) & 0xffffff);
    const outside = shot.access('read', ([bytes]) =>
      new DataView(bytes!.buffer, bytes!.byteOffset).getUint32((at.y - 1) * shot.planes[0]!.pitch + 4 * at.x, true) & 0xffffff);
    if (border !== 0xff4000 || outside === 0xff4000) throw new Error(`writeback: the square is not at (${at.x}, ${at.y}): ${border.toString(16)}`);
    line(`writeback: the square's border is at (${at.x}, ${at.y}) in the composed picture (0x${border.toString(16)})`);
  }
  onScreen?.release();
  for (const fb of fbs.values()) fb.release();
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
