/**
 * A producer and a consumer process passing dma-bufs over a Unix socket with SCM_RIGHTS, together
 * with sync files that say when each frame is ready.
 *
 * The socket: the producer spawns the consumer with stdio[3] set to 'pipe'. On Unix, Node (libuv)
 * makes such a pipe with socketpair(AF_UNIX, SOCK_STREAM): the consumer's fd 3 is a connected Unix
 * socket (blocking), and the producer's end is the fd under `child.stdio[3]` (`_handle.fd`,
 * non-blocking; Node reads from it, which suits the plain-text acknowledgements the consumer sends
 * back). The dma-buf and sync-file fds go producer → consumer only, with getBackend().sendFds() /
 * recvFds() (sendmsg/recvmsg with SCM_RIGHTS), which Node's own sockets cannot do.
 *
 * Each frame: the producer writes the frame into a buffer inside access('write'); where sw_sync is
 * available (debugfs, root: the project's VM) it then attaches an unsignalled fence as a write
 * fence, as a GPU still rendering would. It exports the buffer's sync file for readers
 * (exportSyncFile('read')) and sends [dma-buf fd, sync-file fd] with a small JSON header. The
 * consumer adopts both fds, says "got <frame>" and waits on the sync file; the producer then signals
 * the fence (30 ms later, to make the wait visible). The consumer reads and checks the frame inside
 * access('read'), closes both fds and says "ok <frame>". Two buffers are used in turn,
 * so the consumer sees each one several times (the same inode each time, a new fd each time).
 *
 *   node dist/examples/socket-producer-consumer.js   (Linux 6.0+ with udmabuf, a dma-heap or a DRM card)
 */
import * as fs from 'node:fs';
import { constants as C, DmaBuf, getBackend, SyncFile, type Backend } from '../src/index';
import { spawnConsumer } from './lib/lines';
import { chooseProvider, skip } from './lib/provider';

const FRAMES = 6;
const SIZE = 256 * 1024;
const SOCKET = 3;
const SW_SYNC = '/sys/kernel/debug/sync/sw_sync';

interface Header {
  frame: number;
  /** The byte every position of the frame holds: (frame * 37 + position) & 0xff. */
  seed: number;
  fenced: boolean;
}

const pattern = (seed: number, i: number): number => (seed + i) & 0xff;

function fill(bytes: Uint8Array, seed: number): void {
  for (let i = 0; i < bytes.length; i++) bytes[i] = pattern(seed, i);
}

function firstMismatch(bytes: Uint8Array, seed: number): number {
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== pattern(seed, i)) return i;
  return -1;
}

/** A sw_sync timeline, when the kernel has one and we may use it (else undefined). */
function openTimeline(backend: Backend): number | undefined {
  if (!backend.access(SW_SYNC, fs.constants.R_OK | fs.constants.W_OK)) return undefined;
  try {
    return backend.open(SW_SYNC, C.O_RDWR);
  } catch {
    return undefined;
  }
}

async function producer(): Promise<void> {
  const choice = chooseProvider();
  if ('skip' in choice) return skip(choice.skip);
  const backend = getBackend();
  const { provider } = choice;

  const timeline = openTimeline(backend);
  const buffers = [provider.make(SIZE, 'frame-a'), provider.make(SIZE, 'frame-b')];
  console.log(`producer ${process.pid}: two ${provider.label} buffers of ${buffers[0]!.size} bytes (inodes ${buffers.map((b) => b.inode).join(', ')}); `
    + (timeline !== undefined ? 'frames are fenced with sw_sync, signalled once the consumer waits on them'
      : 'no sw_sync here: sync files are signalled when sent'));

  const peer = spawnConsumer(__filename);
  const { sock, nextLine, exited } = peer;
  try {
    let point = 0;

    for (let frame = 0; frame < FRAMES; frame++) {
      const buf = buffers[frame % 2]!;
      const seed = (frame * 37) & 0xff;
      buf.access('write', (bytes) => fill(bytes, seed)); // waits for the previous fence of this buffer
      let fence: SyncFile | undefined;
      if (timeline !== undefined) {
        fence = new SyncFile(backend.swSyncCreateFence(timeline, ++point, `frame-${frame}`), backend);
        buf.importSyncFile(fence, 'write');
        fence.close();
      }
      using ready = buf.exportSyncFile('read');
      const header: Header = { frame, seed, fenced: fence !== undefined };
      const signalledWhenSent = ready.signaled;
      backend.sendFds(sock, Buffer.from(JSON.stringify(header)), [buf.fd, ready.fd]);
      console.log(`producer: sent frame ${frame} (buffer inode ${buf.inode}, sync file ${signalledWhenSent ? 'signalled' : 'not yet signalled'})`);
      // The consumer says when it holds the frame (and is waiting on its sync file): "render" done.
      const got = await nextLine();
      if (got !== `got ${frame}`) throw new Error(`the consumer answered "${got}" for frame ${frame}`);
      if (timeline !== undefined) {
        await new Promise((r) => setTimeout(r, 30));
        backend.swSyncInc(timeline, 1);
      }
      const ack = await nextLine();
      if (ack !== `ok ${frame}`) throw new Error(`the consumer answered "${ack}" for frame ${frame}`);
    }
    backend.sendFds(sock, Buffer.from(JSON.stringify({ frame: -1 })), []);
    const code = await exited;
    if (code !== 0) throw new Error(`the consumer exited with status ${code}`);
    console.log(`ok: ${FRAMES} frames passed with their sync files; both processes closed everything`);
  } finally {
    peer.stop();
    for (const b of buffers) b.close();
    if (timeline !== undefined) backend.close(timeline);
  }
}

async function consumer(): Promise<void> {
  const backend = getBackend();
  for (;;) {
    if ((await backend.pollAsync(SOCKET, C.POLLIN, 10_000)) === 0) throw new Error('nothing from the producer for 10 s');
    const { data, fds } = backend.recvFds(SOCKET, 4096, 2);
    if (data.length === 0) throw new Error('the producer closed the socket');
    const header = JSON.parse(Buffer.from(data).toString('utf8')) as Header;
    if (header.frame < 0) return;
    if (fds.length !== 2) throw new Error(`frame ${header.frame}: expected 2 fds, got ${fds.length}`);
    using buf = DmaBuf.fromFd(fds[0]!, { dup: false });
    using ready = SyncFile.fromFd(fds[1]!, { dup: false });
    const early = ready.signaled;
    if (header.fenced && early) throw new Error(`frame ${header.frame}: fenced, yet the sync file was already signalled`);
    const t0 = process.hrtime.bigint();
    const signalled = ready.wait({ timeout: 5000 });
    fs.writeSync(SOCKET, `got ${header.frame}\n`);
    if (!(await signalled)) throw new Error(`frame ${header.frame}: the sync file did not signal in 5 s`);
    const waitedMs = Number(process.hrtime.bigint() - t0) / 1e6;
    const bad = buf.access('read', (bytes) => firstMismatch(bytes, header.seed));
    if (bad >= 0) throw new Error(`frame ${header.frame}: wrong byte at ${bad}`);
    console.log(`consumer ${process.pid}: frame ${header.frame} on fd ${fds[0]} (inode ${buf.inode}, ${buf.info().exporter}): `
      + `${early ? 'ready at once' : `waited ${waitedMs.toFixed(1)} ms for the sync file`}, ${buf.size} bytes checked`);
    buf.close();
    ready.close();
    fs.writeSync(SOCKET, `ok ${header.frame}\n`);
  }
}

const run = process.argv[2] === '--consumer' ? consumer : producer;
run().catch((e: unknown) => {
  console.error(`${process.argv[2] === '--consumer' ? 'consumer' : 'producer'} failed: ${(e as Error).stack ?? String(e)}`);
  process.exitCode = 1;
});
