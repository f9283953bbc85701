/**
 * A FramePool shared by two processes (`node dist/examples/pool-producer-consumer.js`): the producer
 * owns a pool of three XRGB8888 frames and sends every frame's dma-buf to the consumer once, over a
 * Unix socket with SCM_RIGHTS; the consumer wraps them with Frame.from. From then on only small
 * messages travel: "frame <index> is ready", with a sync file that signals when the producer's write
 * is done (an unsignalled sw_sync fence where the kernel has sw_sync, as a GPU still rendering would
 * leave), and "release <index>" back. The consumer keeps the frame it shows until the next one has
 * arrived (a display's front buffer), so the producer runs out of free frames and waits in
 * acquireAsync(): the pool's stats say how often. Frames are never reallocated and never re-sent.
 *
 * The socket is the consumer's stdio[3] 'pipe' (Node makes it with socketpair(AF_UNIX)); see
 * socket-producer-consumer.ts for the details. Needs kernel dma-bufs (udmabuf, a dma-heap or a DRM
 * card); the mock's fds cannot reach another process, so there it prints "skipped: <reason>".
 */
import * as fs from 'node:fs';
import { constants as C, DmaBuf, Frame, FramePool, getBackend, heaps, SyncFile, udmabuf } from '../src/index';
import { spawnConsumer } from './lib/lines';
import { skip } from './lib/provider';

const FRAMES = 12;
const W = 320;
const H = 240;
const SOCKET = 3;
const SW_SYNC = '/sys/kernel/debug/sync/sw_sync';

interface PoolMessage { kind: 'pool'; frames: { width: number; height: number; format: string; offset: number; pitch: number }[] }
interface FrameMessage { kind: 'frame'; index: number; seed: number; fenced: boolean }
interface EndMessage { kind: 'end' }

const pixel = (seed: number, x: number, y: number): number => (0xff000000 | ((x + seed) & 0xff) << 16 | ((y * 3 + seed) & 0xff) << 8 | seed) >>> 0;

function draw(frame: Frame, seed: number): void {
  frame.access('write', ([bytes]) => {
    const dv = new DataView(bytes!.buffer, bytes!.byteOffset, bytes!.byteLength);
    const pitch = frame.planes[0]!.pitch;
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) dv.setUint32(y * pitch + 4 * x, pixel(seed, x, y), true);
  });
}

/** The first pixel that is not the picture of seed, or -1. */
function check(frame: Frame, seed: number): number {
  return frame.access('read', ([bytes]) => {
    const dv = new DataView(bytes!.buffer, bytes!.byteOffset, bytes!.byteLength);
    const pitch = frame.planes[0]!.pitch;
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) if (dv.getUint32(y * pitch + 4 * x, true) !== pixel(seed, x, y)) return y * W + x;
    return -1;
  });
}

async function producer(): Promise<void> {
  const backend = getBackend();
  if (backend.name === 'mock') return skip('the mock backend\'s fds are not kernel fds and cannot reach another process');
  const provider = udmabuf.available() ? 'udmabuf' : heaps.list().some((h) => h.name === 'system') ? 'heap:system' : undefined;
  if (provider === undefined) return skip('no udmabuf and no system heap');
  const timeline = backend.access(SW_SYNC, fs.constants.R_OK | fs.constants.W_OK) ? backend.open(SW_SYNC, C.O_RDWR) : undefined;
  using pool = new FramePool({ width: W, height: H, format: 'XRGB8888', count: 3, provider });
  const peer = spawnConsumer(__filename);
  const { sock, nextLine, exited } = peer;
  try {
    // the pool, once: one dma-buf per frame, with its layout
    const hello: PoolMessage = { kind: 'pool', frames: pool.frames.map((f) => ({ width: f.width, height: f.height, format: f.format.name,
      offset: f.planes[0]!.offset, pitch: f.planes[0]!.pitch })) };
    backend.sendFds(sock, Buffer.from(JSON.stringify(hello)), pool.frames.map((f) => f.planes[0]!.buffer.fd));
    if ((await nextLine()) !== 'pool') throw new Error('the consumer did not take the pool');
    console.log(`producer ${process.pid}: a pool of ${pool.count} ${W}x${H} XRGB8888 frames from ${provider} sent once ` +
      `(inodes ${pool.frames.map((f) => f.planes[0]!.buffer.inode).join(', ')}); ${timeline !== undefined ? 'writes fenced with sw_sync' : 'no sw_sync here'}`);

    // releases come back as lines while the producer waits in acquireAsync
    let released = 0;
    const releases = (async () => {
      for (;;) {
        const l = await nextLine();
        const m = /^release (\d+)$/.exec(l);
        if (m === null) throw new Error(`the consumer said "${l}"`);
        pool.frames[Number(m[1])]!.release();
        if (++released === FRAMES) return;
      }
    })();
    let point = 0;
    for (let n = 0; n < FRAMES; n++) {
      const frame = await pool.acquireAsync({ timeout: 10_000 });
      const index = pool.frames.indexOf(frame);
      const seed = (n * 29) & 0xff;
      draw(frame, seed);
      let fenced = false;
      if (timeline !== undefined) {
        // as if a GPU still rendered into it: readers wait for the fence, signalled a little later
        using f = new SyncFile(backend.swSyncCreateFence(timeline, ++point, `frame-${n}`), backend);
        frame.planes[0]!.buffer.importSyncFile(f, 'write');
        fenced = true;
        setTimeout(() => backend.swSyncInc(timeline, 1), 20);
      }
      using ready = frame.planes[0]!.buffer.exportSyncFile('read');
      const msg: FrameMessage = { kind: 'frame', index, seed, fenced };
      backend.sendFds(sock, Buffer.from(JSON.stringify(msg)), [ready.fd]);
    }
    // the consumer lets its front frame go when it hears there is no more
    backend.sendFds(sock, Buffer.from(JSON.stringify({ kind: 'end' } satisfies EndMessage)), []);
    await releases;
    const code = await exited;
    if (code !== 0) throw new Error(`the consumer exited with status ${code}`);
    const s = pool.stats();
    console.log(`ok: ${FRAMES} frames through a pool of ${pool.count}; acquireAsync waited ${s.waited} times; ` +
      `the dma-bufs were sent once, never reallocated`);
  } finally {
    peer.stop();
    if (timeline !== undefined) backend.close(timeline);
  }
}

async function consumer(): Promise<void> {
  const backend = getBackend();
  const receive = async (maxFds: number): Promise<{ msg: PoolMessage | FrameMessage | EndMessage; fds: number[] }> => {
    if ((await backend.pollAsync(SOCKET, C.POLLIN, 10_000)) === 0) throw new Error('nothing from the producer for 10 s');
    const { data, fds } = backend.recvFds(SOCKET, 65536, maxFds);
    if (data.length === 0) throw new Error('the producer closed the socket');
    return { msg: JSON.parse(Buffer.from(data).toString('utf8')), fds };
  };
  const first = await receive(16);
  if (first.msg.kind !== 'pool') throw new Error('expected the pool first');
  const frames = first.msg.frames.map((d, i) => Frame.from({ width: d.width, height: d.height, format: d.format,
    planes: [{ buffer: DmaBuf.fromFd(first.fds[i]!, { dup: false }), offset: d.offset, pitch: d.pitch }], dup: false }));
  fs.writeSync(SOCKET, 'pool\n');
  let front: number | null = null;
  let waitedFor = 0;
  try {
    for (;;) {
      const { msg, fds } = await receive(1);
      if (msg.kind === 'end') break;
      if (msg.kind !== 'frame' || fds.length !== 1) throw new Error(`unexpected message ${JSON.stringify(msg)} with ${fds.length} fds`);
      using ready = SyncFile.fromFd(fds[0]!, { dup: false });
      if (!ready.signaled) waitedFor++;
      if (!(await ready.wait({ timeout: 5000 }))) throw new Error(`frame ${msg.index}: the sync file did not signal`);
      const bad = check(frames[msg.index]!, msg.seed);
      if (bad >= 0) throw new Error(`frame ${msg.index}: wrong pixel at (${bad % W}, ${Math.floor(bad / W)})`);
      // the new frame is shown: the one shown before goes back
      if (front !== null) fs.writeSync(SOCKET, `release ${front}\n`);
      front = msg.index;
      console.log(`consumer ${process.pid}: frame ${msg.index} (inode ${frames[msg.index]!.planes[0]!.buffer.inode}) checked` +
        `${msg.fenced ? ', after its fence' : ''}`);
    }
  } finally {
    if (front !== null) fs.writeSync(SOCKET, `release ${front}\n`);
    for (const f of frames) f.close();
  }
  console.log(`consumer: ${waitedFor} frames arrived before their producer's write was done and were waited for`);
}

const run = process.argv[2] === '--consumer' ? consumer : producer;
run().catch((e: unknown) => {
  console.error(`${process.argv[2] === '--consumer' ? 'consumer' : 'producer'} failed: ${(e as Error).stack ?? String(e)}`);
  process.exitCode = 1;
});
