/**
 * The examples that share buffers between processes, run as child processes: exit status 0 and what
 * they print. Where the kernel interfaces are missing (or on the mock, whose fds are not kernel fds)
 * they must say "skipped: <reason>" and exit 0; in the VM they must really run.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runChild } from './support/child';
import { backend, inVm, isMock, kernelVersion, SW_SYNC } from './support/index';

const EXAMPLES = path.resolve(__dirname, '..', 'examples');

function runExample(name: string, args: string[] = []): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return runChild(process.execPath, [path.join(EXAMPLES, `${name}.js`), ...args], {
    env: { ...process.env, DMABUF_BACKEND: backend().name }, timeout: 90_000,
  });
}

/** Exit 0; a skip is a pass-with-reason outside the VM (and required on the mock), a failure inside it. */
async function ranOrSkipped(ctx: Mocha.Context, name: string): Promise<string | undefined> {
  const r = await runExample(name);
  assert.equal(r.status, 0, `${name} exited ${r.status}\n${r.stdout}\n${r.stderr}`);
  const skipped = /^skipped: (.*)$/m.exec(r.stdout);
  if (isMock()) {
    assert.ok(skipped, `on the mock, ${name} says it is skipped:\n${r.stdout}`);
    assert.match(skipped[1]!, /mock/);
    return undefined;
  }
  if (skipped) {
    if (inVm) assert.fail(`${name} must run in the VM, but printed: ${skipped[0]}`);
    ctx.test!.title += ` (skipped: ${skipped[1]})`;
    ctx.skip();
  }
  assert.equal(r.stderr, '', 'nothing on stderr');
  return r.stdout;
}

describe('examples', function () {
  it('share-child: a child adopts the buffer from stdio fd 3, reads the message and answers', async function () {
    const out = await ranOrSkipped(this, 'share-child');
    if (out === undefined) return;
    const parent = /^parent (\d+): .* inode (\d+); wrote "(hello from parent \d+)"$/m.exec(out);
    assert.ok(parent, out);
    const child = /^child (\d+): adopted fd 3: exporter \S+, name share-child, \d+ bytes, inode (\d+); read "(.*)"$/m.exec(out);
    assert.ok(child, out);
    assert.equal(child[2], parent[2], 'the same buffer (inode) in both processes');
    assert.notEqual(child[1], parent[1]);
    assert.equal(child[3], parent[3], 'the child read what the parent wrote');
    assert.match(out, new RegExp(`^parent ${parent[1]}: the child answered "hello parent, child ${child[1]} read "${parent[3]}""$`, 'm'));
    assert.match(out, /^ok: /m);
  });

  it('socket-producer-consumer: frames and sync files over SCM_RIGHTS between two processes', async function () {
    if (!isMock() && kernelVersion() > 0 && kernelVersion() < 6000) {
      this.test!.title += ' (skipped: sync-file export needs Linux 6.0)';
      this.skip();
    }
    const out = await ranOrSkipped(this, 'socket-producer-consumer');
    if (out === undefined) return;
    const inodes = /^producer \d+: two .* \(inodes (\d+), (\d+)\)/m.exec(out);
    assert.ok(inodes, out);
    const frames = [...out.matchAll(/^consumer \d+: frame (\d+) on fd \d+ \(inode (\d+), [^)]+\): (.*), (\d+) bytes checked$/gm)];
    assert.deepEqual(frames.map((m) => Number(m[1])), [0, 1, 2, 3, 4, 5]);
    frames.forEach((m, i) => assert.equal(m[2], inodes[1 + (i % 2)], `frame ${i} arrives in buffer ${i % 2}`));
    if (backend().access(SW_SYNC, 6)) {
      // Fenced frames: the consumer really waited for the producer's signal.
      assert.match(out, /frames are fenced with sw_sync/);
      for (const m of frames) assert.match(m[3]!, /^waited [\d.]+ ms for the sync file$/);
      assert.equal((out.match(/sync file not yet signalled\)/g) ?? []).length, 6);
    }
    assert.match(out, /^ok: 6 frames passed/m);
  });

  it('tour (npm start): runs end to end and says which backend in its first line', async function () {
    const r = await runExample('tour');
    assert.equal(r.status, 0, `tour exited ${r.status}\n${r.stdout}\n${r.stderr}`);
    const first = r.stdout.split('\n')[0]!;
    assert.match(first, /^dmabuf tour — on the (MOCK|NATIVE) backend/);
    if (inVm) {
      assert.match(first, /NATIVE/);
      assert.match(r.stdout, /hello from udmabuf/);
      assert.match(r.stdout, /hello from heap system/);
      assert.match(r.stdout, /child \d+ sees/);
    }
    assert.match(r.stdout, /^Done: \d+ buffer\(s\) allocated, shared and closed\.$/m);
  });

  it('exporter: the worked example runs on this backend', async function () {
    const r = await runExample('exporter');
    assert.equal(r.status, 0, `exporter exited ${r.status}\n${r.stdout}\n${r.stderr}`);
    const skipped = /^skipped: (.*)$/m.exec(r.stdout);
    if (skipped) {
      if (inVm) assert.fail(`the exporter example must run in the VM, but printed: ${skipped[0]}`);
      this.test!.title += ` (skipped: ${skipped[1]})`;
      this.skip();
    }
    assert.match(r.stdout, /stats: /);
  });

  it('display: frames flipped on vkms (skipped without vkms)', async function () {
    const r = await runExample('display');
    assert.equal(r.status, 0, `display exited ${r.status}\n${r.stdout}\n${r.stderr}`);
    const skipped = /^skipped: (.*)$/m.exec(r.stdout);
    if (skipped) {
      if (inVm) assert.fail(`display must run in the VM, but printed: ${skipped[0]}`);
      this.test!.title += ` (skipped: ${skipped[1]})`;
      this.skip();
    }
    assert.match(r.stdout, /flip/i);
  });

  it('frames-on-screen: pool frames flipped on vkms through addFramebuffer (skipped without vkms)', async function () {
    const r = await runExample('frames-on-screen');
    assert.equal(r.status, 0, `frames-on-screen exited ${r.status}\n${r.stdout}\n${r.stderr}`);
    const skipped = /^skipped: (.*)$/m.exec(r.stdout);
    if (skipped) {
      if (inVm) assert.fail(`frames-on-screen must run in the VM, but printed: ${skipped[0]}`);
      this.test!.title += ` (skipped: ${skipped[1]})`;
      this.skip();
    }
    assert.equal((r.stdout.match(/^flip \d+: frame \d/gm) ?? []).length, 12, r.stdout);
    assert.match(r.stdout, /flip 12: .*"out":1/, 'after each flip only the frame on screen is out of the pool');
    assert.match(r.stdout, /^NV12: (shown as fb \d+|refused by this kernel's vkms \(EINVAL: no plane of vkms takes NV12)/m, r.stdout);
  });

  it('compose: a moving overlay over a background with fences, checked through writeback (skipped without vkms)', async function () {
    const r = await runExample('compose');
    assert.equal(r.status, 0, `compose exited ${r.status}\n${r.stdout}\n${r.stderr}`);
    const skipped = /^skipped: (.*)$/m.exec(r.stdout);
    if (skipped) {
      if (inVm) assert.fail(`compose must run in the VM, but printed: ${skipped[0]}`);
      this.test!.title += ` (skipped: ${skipped[1]})`;
      this.skip();
    }
    const steps = [...r.stdout.matchAll(/^step (\d+): overlay frame (\d) at \((\d+), (\d+)\), vblank (\d+), out-fence signalled$/gm)];
    assert.equal(steps.length, 10, r.stdout);
    assert.deepEqual(new Set(steps.map((m) => m[2])), new Set(['0', '1', '2']), 'the pool\'s three frames take turns');
    assert.match(r.stdout, /^writeback: the square's border is at \(580, 400\) in the composed picture \(0xff4000\)$/m, r.stdout);
  });

  it('camera-to-display: vivid captures into a FramePool shown on vkms, the writeback equals the frame (skipped without both)', async function () {
    const r = await runExample('camera-to-display');
    assert.equal(r.status, 0, `camera-to-display exited ${r.status}\n${r.stdout}\n${r.stderr}`);
    const skipped = /^skipped: (.*)$/m.exec(r.stdout);
    if (skipped) {
      if (inVm) assert.fail(`camera-to-display must run in the VM, but printed: ${skipped[0]}`);
      this.test!.title += ` (skipped: ${skipped[1]})`;
      this.skip();
    }
    const frames = [...r.stdout.matchAll(/^frame (\d+): V4L2 index (\d), sequence (\d+) → on screen at vblank (\d+)$/gm)];
    assert.equal(frames.length, 12, r.stdout);
    assert.equal(new Set(frames.map((m) => m[2])).size, 4, 'the pool\'s four frames keep their V4L2 indexes');
    const m = /^writeback equals the captured frame in all 307200 pixels \((\d+) distinct colours\)$/m.exec(r.stdout);
    assert.ok(m, r.stdout);
    assert.ok(Number(m[1]) >= 8, 'a picture, not a blank frame');
  });

  it('exporter-pipeline: frame exporters through vivid and vkms, no importer syscall in steady cycles, a late dma-contig camera moves every frame (skipped without them)', async function () {
    const r = await runExample('exporter-pipeline');
    assert.equal(r.status, 0, `exporter-pipeline exited ${r.status}\n${r.stdout}\n${r.stderr}`);
    const skipped = /^skipped: (.*)$/m.exec(r.stdout);
    if (skipped) {
      if (inVm) assert.fail(`exporter-pipeline must run in the VM, but printed: ${skipped[0]}`);
      this.test!.title += ` (skipped: ${skipped[1]})`;
      this.skip();
    }
    assert.match(r.stdout, /^\/dev\/video\d+ \(videobuf2_vmalloc\) and \/dev\/video\d+ \(videobuf2_dma_contig\) → /m, r.stdout);
    const cycles = [...r.stdout.matchAll(/^cycle (\d+) on camera ([01]): (.*?)( \(from (\S+)\))?$/gm)];
    assert.deepEqual(cycles.map((m) => Number(m[1])), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], r.stdout);
    assert.equal(cycles[0]![5], 'heap:system');
    for (const k of [1, 2, 3]) assert.equal(cycles[k]![3], cycles[0]![3], 'the same indices and framebuffers before the move');
    for (const k of [6, 7, 8, 9]) assert.equal(cycles[k]![3], cycles[4]![3], 'the same after it');
    assert.notEqual(cycles[4]![3], cycles[0]![3], 'new framebuffers after the move');
    assert.deepEqual([...r.stdout.matchAll(/^importer syscalls in cycles \S+: (\d+)$/gm)].map((m) => m[1]), ['0', '0']);
    const moves = [...r.stdout.matchAll(/^frame (\d) moved: heap:system → (\S+) /gm)];
    assert.equal(moves.length, 3, r.stdout);
    assert.match(moves[0]![2]!, /^(heap:contiguous|v4l2:\/dev\/video\d+)$/);
    assert.match(r.stdout, /^next maps say moved: true\/true, true\/true, true\/true$/m);
    const m = /^writeback equals the last frame shown in all 307200 pixels \((\d+) distinct colours\)$/m.exec(r.stdout);
    assert.ok(m, r.stdout);
    assert.ok(Number(m[1]) >= 8, 'a picture, not a blank frame');
  });

  it('camera-codec-display: vivid → vicodec encoder → decoder → vkms, the shown frame by PSNR (skipped without them)', async function () {
    const r = await runExample('camera-codec-display');
    assert.equal(r.status, 0, `camera-codec-display exited ${r.status}\n${r.stdout}\n${r.stderr}`);
    const skipped = /^skipped: (.*)$/m.exec(r.stdout);
    if (skipped) {
      if (inVm) assert.fail(`camera-codec-display must run in the VM, but printed: ${skipped[0]}`);
      this.test!.title += ` (skipped: ${skipped[1]})`;
      this.skip();
    }
    const frames = [...r.stdout.matchAll(/^frame (\d+): sequence \d+, (\d+) bytes of FWHT, decoded into V4L2 index (\d), on screen/gm)];
    assert.equal(frames.length, 6, r.stdout);
    for (const m of frames) assert.ok(Number(m[2]) > 0 && Number(m[2]) < 640 * 480 * 4, `a compressed frame: ${m[0]}`);
    const m = /writeback vs captured frame: PSNR (inf|[\d.]+) dB$/m.exec(r.stdout);
    assert.ok(m, r.stdout);
    this.test!.title += ` (PSNR ${m[1]} dB)`;
  });

  it('pool-producer-consumer: a FramePool shared by two processes, frames sent once, sync files each time (skipped on the mock)', async function () {
    const r = await runExample('pool-producer-consumer');
    assert.equal(r.status, 0, `pool-producer-consumer exited ${r.status}\n${r.stdout}\n${r.stderr}`);
    const skipped = /^skipped: (.*)$/m.exec(r.stdout);
    if (skipped) {
      if (inVm) assert.fail(`pool-producer-consumer must run in the VM, but printed: ${skipped[0]}`);
      this.test!.title += ` (skipped: ${skipped[1]})`;
      this.skip();
    }
    const inodes = /sent once \(inodes ([\d, ]+)\)/.exec(r.stdout);
    assert.ok(inodes, r.stdout);
    const sent = new Set(inodes[1]!.split(', '));
    const checked = [...r.stdout.matchAll(/^consumer \d+: frame (\d) \(inode (\d+)\) checked/gm)];
    assert.equal(checked.length, 12, r.stdout);
    for (const m of checked) assert.ok(sent.has(m[2]!), `frame ${m[1]} is one of the pool's buffers (inode ${m[2]})`);
    const ok = /^ok: 12 frames through a pool of 3; acquireAsync waited (\d+) times/m.exec(r.stdout);
    assert.ok(ok, r.stdout);
    assert.ok(Number(ok[1]) > 0, 'the consumer holding its front frame made the producer wait');
  });

  it('camera: frames captured from a V4L2 device into dma-bufs, the last saved as a PPM (skipped without one)', async function () {
    const out = path.join(os.tmpdir(), `dmabuf-camera-test-${process.pid}.ppm`);
    const r = await runExample('camera', [out]);
    try {
      assert.equal(r.status, 0, `camera exited ${r.status}\n${r.stdout}\n${r.stderr}`);
      const skipped = /^skipped: (.*)$/m.exec(r.stdout);
      if (skipped) {
        if (inVm) assert.fail(`camera must run in the VM, but printed: ${skipped[0]}`);
        this.test!.title += ` (skipped: ${skipped[1]})`;
        this.skip();
      }
      const seq = [...r.stdout.matchAll(/^frame \d: buffer \d+, sequence (\d+)/gm)].map((m) => Number(m[1]));
      assert.equal(seq.length, 8, r.stdout);
      for (let i = 1; i < seq.length; i++) assert.ok(seq[i]! > seq[i - 1]!, `sequences increase: ${seq}`);
      const ppm = fs.readFileSync(out);
      const header = /^P6\n(\d+) (\d+)\n255\n/.exec(ppm.subarray(0, 32).toString('latin1'));
      assert.ok(header, 'a PPM header');
      assert.equal(ppm.length, header[0].length + Number(header[1]) * Number(header[2]) * 3);
    } finally {
      fs.rmSync(out, { force: true });
    }
  });
});
