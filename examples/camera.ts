/**
 * Capture frames from a camera without a copy (`node dist/examples/camera.js [out.ppm]`): open the
 * first video capture node (vivid's in the project's VM), ask for 640x480 XRGB8888, let the device
 * allocate four buffers and export them as dma-bufs (Frames), stream eight frames printing each
 * one's sequence number and timestamp, and save the last one as a PPM picture (CPU access bracketed
 * with DMA_BUF_IOCTL_SYNC). Needs the native backend and a V4L2 capture device; otherwise it prints
 * "skipped: <reason>" and exits 0.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { getBackend, v4l2 } from '../src/index';

const FRAMES = 8;

function line(s = ''): void {
  process.stdout.write(`${s}\n`);
}

async function main(): Promise<void> {
  if (getBackend().name === 'mock') {
    line('skipped: the mock backend has no camera (run it with the native backend on a kernel with a V4L2 device)');
    return;
  }
  const node = v4l2.list().find((d) => d.error === undefined && d.capture !== null && !d.m2m);
  if (node === undefined) {
    line('skipped: no video capture node (sudo modprobe vivid; or run it in the project VM: npm run vm -- node dist/examples/camera.js)');
    return;
  }
  using cam = v4l2.open(node.path);
  const q = cam.capture!;
  const fmt = q.setFormat({ width: 640, height: 480, format: 'XRGB8888' });
  if (fmt.fourcc !== 'XR24') {
    line(`skipped: ${node.path} (${cam.driver}) offers no XRGB8888 (it chose ${fmt.fourcc})`);
    return;
  }
  line(`${node.path}: ${cam.driver} '${cam.card}' on ${cam.bus}, ${fmt.width}x${fmt.height} ${fmt.fourcc}, pitch ${fmt.planes[0]!.pitch}`);
  const frames = q.exportBuffers(4);
  line(`${frames.length} buffers exported as dma-bufs (inodes ${frames.map((f) => f.buffers[0]!.inode).join(', ')})`);
  q.start();
  let first = 0;
  let last = null;
  for (let i = 0; i < FRAMES; i++) {
    const got = await q.dequeue({ timeout: 5000 });
    if (i === 0) first = got.timestamp;
    line(`frame ${i}: buffer ${got.index}, sequence ${got.sequence}, +${(got.timestamp - first).toFixed(1)} ms, ${got.bytesUsed[0]} bytes`);
    if (i < FRAMES - 1) q.queue(got.frame);
    else last = got.frame;
  }
  q.stop();
  const out = process.argv[2] ?? path.join(os.tmpdir(), `dmabuf-camera-${process.pid}.ppm`);
  const { width, height } = fmt;
  const pitch = fmt.planes[0]!.pitch;
  const ppm = Buffer.alloc(width * height * 3);
  // XR24 (DRM XRGB8888, V4L2 XBGR32) is B, G, R, X in memory
  last!.access('read', ([bytes]) => {
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const s = y * pitch + x * 4;
        const d = (y * width + x) * 3;
        ppm[d] = bytes![s + 2]!;
        ppm[d + 1] = bytes![s + 1]!;
        ppm[d + 2] = bytes![s]!;
      }
    }
  });
  fs.writeFileSync(out, Buffer.concat([Buffer.from(`P6\n${width} ${height}\n255\n`), ppm]));
  line(`saved the last frame as ${out} (${fs.statSync(out).size} bytes)`);
  for (const f of frames) f.close();
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
