/**
 * Share a dma-buf with a child process through stdio fd passing.
 *
 * The parent allocates a buffer, writes a message into it (CPU access bracketed with
 * DMA_BUF_IOCTL_SYNC) and spawns a child with the dma-buf fd as the child's fd 3 (stdio[3]). The child
 * adopts it with DmaBuf.fromFd(3), reads the message, writes an answer into the same pages and exits;
 * the parent then reads the answer. No bytes are copied between the processes: both map the same
 * pages.
 *
 *   node dist/examples/share-child.js        (on a kernel with udmabuf, a dma-heap or a DRM card)
 */
import { spawn } from 'node:child_process';
import { DmaBuf } from '../src/index';
import { chooseProvider, skip } from './lib/provider';

const SIZE = 64 * 1024;
/** The child's answer starts here (the parent's message is at 0). */
const ANSWER_AT = 4096;

function readString(bytes: Uint8Array, at: number): string {
  const end = bytes.indexOf(0, at);
  return Buffer.from(bytes.subarray(at, end < 0 ? bytes.length : end)).toString('utf8');
}

function writeString(bytes: Uint8Array, at: number, s: string): void {
  const b = Buffer.from(`${s}\0`, 'utf8');
  bytes.set(b, at);
}

async function parent(): Promise<void> {
  const choice = chooseProvider();
  if ('skip' in choice) return skip(choice.skip);
  const { provider } = choice;

  using buf = provider.make(SIZE, 'share-child');
  const message = `hello from parent ${process.pid}`;
  buf.access('write', (bytes) => {
    bytes.fill(0);
    writeString(bytes, 0, message);
  });
  console.log(`parent ${process.pid}: ${provider.label} buffer, ${buf.size} bytes, inode ${buf.inode}; wrote "${message}"`);

  const child = spawn(process.execPath, [__filename, '--child'], { stdio: ['ignore', 'inherit', 'inherit', buf.fd] });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (c) => resolve(c));
  });
  if (code !== 0) throw new Error(`the child exited with status ${code}`);

  const answer = buf.access('read', (bytes) => readString(bytes, ANSWER_AT));
  console.log(`parent ${process.pid}: the child answered "${answer}"`);
  const expected = `hello parent, child ${child.pid} read "${message}"`;
  if (answer !== expected) throw new Error(`expected the answer "${expected}"`);
  console.log('ok: one buffer, two processes, no copies');
}

function child(): void {
  // fd 3 is this process's copy of the parent's dma-buf fd; the DmaBuf takes ownership of it.
  using buf = DmaBuf.fromFd(3, { dup: false });
  const info = buf.info();
  const message = buf.access('read', (bytes) => readString(bytes, 0));
  console.log(`child ${process.pid}: adopted fd 3: exporter ${info.exporter}, name ${info.name ?? '-'}, ${buf.size} bytes, `
    + `inode ${buf.inode}; read "${message}"`);
  buf.access('write', (bytes) => writeString(bytes, ANSWER_AT, `hello parent, child ${process.pid} read "${message}"`));
}

if (process.argv[2] === '--child') {
  child();
} else {
  parent().catch((e: unknown) => {
    console.error(`share-child failed: ${(e as Error).stack ?? String(e)}`);
    process.exitCode = 1;
  });
}
