/**
 * Scale: one buffer shared by 64 processes at once. Each child (a small C program, so that 64 of
 * them fit in the VM's memory) inherits the dma-buf as its fd 3, maps it, writes its own slice under
 * DMA_BUF_IOCTL_SYNC and holds fd and mapping until every child has written; then they all exit.
 * The kernel's view (debugfs bufinfo: the file's reference count) shows all of them holding it at
 * once and none after; the parent finds every slice intact, and the buffer is gone from bufinfo once
 * the parent closes it.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { heaps, udmabuf, type DmaBuf } from '../src/index';
import { inVm, isMock, PAGE, skip } from './support/index';
import { needsBufinfo, readBufinfo } from './support/bufinfo';

const CHILDREN = 64;
const SOURCE = path.resolve(__dirname, '..', '..', 'test', 'fixtures', 'slice-writer.c');

function pattern(i: number, k: number): number {
  return (i * 37 + k * 7 + 1) & 0xff;
}

/** The reference count bufinfo shows for the dma-buf with this inode, or undefined if it is gone. */
function refCount(inode: bigint): number | undefined {
  return readBufinfo().get(inode)?.count;
}

function compile(ctx: Mocha.Context): string {
  const out = path.join(os.tmpdir(), `dmabuf-slice-writer-${process.pid}`);
  const r = spawnSync('gcc', ['-O2', '-Wall', '-Werror', '-o', out, SOURCE], { encoding: 'utf8' });
  if (r.error || r.status !== 0) skip(ctx, `cannot build ${SOURCE} with gcc: ${r.error?.message ?? r.stderr}`);
  return out;
}

function allocate(size: number): DmaBuf {
  if (heaps.list().some((h) => h.name === 'system')) {
    using h = heaps.open('system');
    return h.allocate(size);
  }
  return udmabuf.create(size);
}

describe('64 processes share one buffer at once', function () {
  this.timeout(300_000);

  it(`${CHILDREN} children map it, write their slices under SYNC and leave; nothing lost, freed with the last`, async function () {
    if (isMock()) {
      this.test!.title += ' (skipped: the mock\'s fds are not kernel fds; another process cannot inherit them)';
      this.skip();
    }
    needsBufinfo(this);
    if (!udmabuf.available() && !heaps.list().some((h) => h.name === 'system')) skip(this, 'no dma-buf provider');
    const bin = compile(this);
    const slice = PAGE();
    const buf = allocate(CHILDREN * slice);
    const inode = buf.inode;
    const children: ChildProcess[] = [];
    try {
      assert.equal(refCount(inode), 1, 'only the parent holds it');
      const ready: Promise<void>[] = [];
      const exited: Promise<number | null>[] = [];
      for (let i = 0; i < CHILDREN; i++) {
        const c = spawn(bin, [String(i), String(slice)], { stdio: ['pipe', 'pipe', 'inherit', buf.fd] });
        children.push(c);
        exited.push(new Promise((res) => c.on('exit', (code) => res(code))));
        ready.push(new Promise((res, rej) => {
          c.stdout!.once('data', () => res());
          c.on('exit', (code) => rej(new Error(`child ${i} exited with ${code} before writing`)));
        }));
      }
      await Promise.all(ready);
      // every child holds the file twice (its fd 3 and its mapping); the parent once
      const during = refCount(inode);
      assert.ok(during !== undefined && during >= 1 + 2 * CHILDREN, `bufinfo count ${during} while all hold it`);
      for (const c of children) c.stdin!.end();
      const codes = await Promise.all(exited);
      assert.deepEqual(codes, new Array(CHILDREN).fill(0), 'every child exited 0');
      assert.equal(refCount(inode), 1, 'the children left nothing behind');
      buf.access('read', (bytes) => {
        for (let i = 0; i < CHILDREN; i++) {
          for (let k = 0; k < slice; k++) {
            if (bytes[i * slice + k] !== pattern(i, k)) assert.fail(`slice ${i} byte ${k}: ${bytes[i * slice + k]} != ${pattern(i, k)}`);
          }
        }
      });
      buf.close();
      assert.equal(refCount(inode), undefined, 'freed when the last holder left');
      this.test!.title += ` (bufinfo count ${during} with all ${CHILDREN} holding it${inVm ? '' : ', on the host'})`;
    } finally {
      for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
      buf.close();
      fs.rmSync(bin, { force: true });
    }
  });
});
