/**
 * V4L2 through the library's API, on vivid in the VM: instance 0 (vmalloc, single-planar) and
 * instance 1 (dma-contig, multi-planar), each with a capture and an output node. Formats and layouts
 * against S_FMT, capture from the device's own buffers compared byte for byte with what v4l2-ctl
 * captures, output of our frames (and the dma-contig refusal of scattered memory), the same frame on
 * the same index, controls, and lifetimes.
 *
 * The mock models vivid's two instances (src/backend/mock/vivid.ts): these tests run on it too, but
 * for the comparison with what v4l2-ctl captures, which needs the real driver and the program.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Frame, heaps, v4l2, type VideoDevice, type VideoDeviceInfo, type VideoQueue } from '../src/index';
import { getBackend, setBackend } from '../src/backend/index';
import { createMockBackend } from '../src/backend/mock/index';
import { V4L2_MEMORY_DMABUF } from '../src/constants';
import { CMA_HEAP_NAMES } from '../src/heap';
import { quietly } from '../src/lifecycle';
import { needsBufinfo, readBufinfo } from './support/bufinfo';
import { inVm, isMock, isNative, needsUdmabuf, openFdCount, skip, throwsCode } from './support/index';

function vivid(ctx: Mocha.Context, instance: 0 | 1, dir: 'capture' | 'output'): VideoDeviceInfo {
  const bus = `platform:vivid-00${instance}`;
  const d = v4l2.list().find((x) => x.driver === 'vivid' && x.bus === bus && x[dir] !== null && x.error === undefined);
  if (!d) skip(ctx, `no vivid ${dir} node on ${bus} (modprobe vivid n_devs=2 node_types=0x101,0x101 allocators=0,1 multiplanar=1,2)`);
  return d;
}

/** Formats whose planes vivid starts at a data offset (bytes per plane), in its multi-planar mode. */
const VIVID_DATA_OFFSETS: Record<string, number[]> = { NM16: [128, 0], NM61: [0, 128] };

/**
 * Put a node back as the test found it (format, the controls named), so that later files (and
 * v4l2-compliance) see vivid's state, not this file's.
 */
function restoring(dev: VideoDevice, q: VideoQueue, controls: string[] = []): Disposable {
  const format = q.getFormat();
  const values = controls.map((c) => [c, dev.getControl(c)] as const);
  return {
    [Symbol.dispose](): void {
      try {
        q.release();
        q.setFormat({ width: format.width, height: format.height, format: format.fourcc });
        for (const [c, v] of values) dev.setControl(c, v);
      } catch {
        /* the device went away: nothing to restore */
      }
    },
  };
}

function cmaHeap(): string | undefined {
  const h = heaps.list().find((x) => CMA_HEAP_NAMES.includes(x.name));
  return h && `heap:${h.name}`;
}

describe('v4l2: vivid through the library', function () {
  this.timeout(120_000);

  it('list(): vivid\'s four nodes with their queues; instance 1 speaks the multi-planar API; every queue takes dma-bufs', function () {
    vivid(this, 0, 'capture');
    const all = v4l2.list().filter((d) => d.driver === 'vivid');
    for (const inst of [0, 1]) {
      const mine = all.filter((d) => d.bus === `platform:vivid-00${inst}`);
      const cap = mine.find((d) => d.capture !== null);
      const out = mine.find((d) => d.output !== null);
      assert.ok(cap && out, `instance ${inst}: a capture and an output node (${JSON.stringify(mine.map((d) => d.path))})`);
      assert.equal(cap.capture!.multiplanar, inst === 1);
      assert.equal(out.output!.multiplanar, inst === 1);
      assert.equal(cap.capture!.dmabuf, true);
      assert.equal(out.output!.dmabuf, true);
      assert.equal(cap.m2m, false);
      assert.match(cap.version, /^\d+\.\d+\.\d+$/);
    }
  });

  it('formats(), setFormat() and the layouts: for every format vivid and the library share, S_FMT\'s pitches and sizes are formats.layout()\'s', function () {
    const checked: string[] = [];
    const withOffset: string[] = [];
    // sizes: a plain one, one that is no multiple of 16, and an odd one for formats without
    // subsampling (for a subsampled one, V4L2 defines no layout at an odd width: vivid's sizeimage
    // then gives a 4:2:2 planar chroma plane bytesperline × height / 2 bytes, no whole rows; see docs/kernel.md)
    const SIZES = [[640, 480], [322, 242], [333, 201]] as const;
    for (const [inst, dir] of [[0, 'capture'], [1, 'capture'], [0, 'output'], [1, 'output']] as const) {
      using dev = v4l2.open(vivid(this, inst, dir).path);
      const q = (dir === 'capture' ? dev.capture : dev.output)!;
      const saved = q.getFormat();
      try {
        for (const f of q.formats()) for (const [width, height] of SIZES) {
          if (f.format === undefined) continue;
          const info = f.format;
          if (width % 2 === 1 && info.planes.some((p) => p.hsub > 1 || p.vsub > 1)) continue;
          const v = info.v4l2.find((x) => x.value === f.pixelformat)!;
          const got = q.setFormat({ width, height, format: f.fourcc });
          assert.equal(got.fourcc, f.fourcc, `${f.fourcc} is kept`);
          const l = info.layout(got.width, got.height, { buffers: v.buffers });
          const want = v.buffers === 'per-plane' ? l.planes.map((p, i) => ({ pitch: p.pitch, size: l.sizes[i]! }))
            : [{ pitch: l.planes[0]!.pitch, size: l.sizes[0]! }];
          const at = `${dir} ${inst} ${f.fourcc} ${width}x${height} (set ${got.width}x${got.height})`;
          assert.deepEqual(got.planes.map((p) => p.pitch), want.map((p) => p.pitch), `${at}: pitches`);
          // vivid starts the data of one plane of NM16 and NM61 128 bytes in (its format table's
          // data_offset; sizeimage includes it, DQBUF reports it); every other size is the layout's
          const extra = got.planes.map((p, i) => p.size - want[i]!.size);
          const offsets = VIVID_DATA_OFFSETS[f.fourcc];
          if (offsets !== undefined && inst === 1 && !withOffset.includes(f.fourcc)) withOffset.push(f.fourcc);
          assert.deepEqual(extra, offsets !== undefined && inst === 1 ? offsets : want.map(() => 0),
            `${at}: sizes ${JSON.stringify(got.planes)} vs ${JSON.stringify(want)}`);
          if (width === 640) checked.push(`${dir[0]}${inst}:${f.fourcc}`);
        }
      } finally {
        q.setFormat({ width: saved.width, height: saved.height, format: saved.fourcc });
      }
    }
    assert.ok(checked.length >= 10, `checked ${checked.join(' ')}`);
    for (const node of ['c0', 'c1', 'o0', 'o1']) assert.ok(checked.some((c) => c.startsWith(`${node}:`)), `formats checked on ${node}`);
    this.test!.title += ` (${checked.length} formats: ${checked.join(' ')}; a 128-byte data offset: ${withOffset.join(' ') || 'none'})`;
  });

  it('capture from the device\'s own buffers equals, byte for byte, what v4l2-ctl captures (colour bars, no OSD)', async function () {
    if (isMock()) {
      this.test!.title += ' (skipped: v4l2-ctl captures from the kernel\'s vivid, not the mock\'s)';
      this.skip();
    }
    const info = vivid(this, 0, 'capture');
    const raw = path.join(os.tmpdir(), `dmabuf-v4l2ctl-${process.pid}.raw`);
    let mine: Uint8Array;
    {
      using dev = v4l2.open(info.path);
      const q = dev.capture!;
      using _restore = restoring(dev, q, ['test_pattern', 'osd_text_mode']);
      dev.setControl('test_pattern', 0); // 75% colour bars
      dev.setControl('osd_text_mode', 'None');
      const fmt = q.setFormat({ width: 320, height: 240, format: 'XRGB8888' });
      assert.equal(fmt.fourcc, 'XR24');
      const frames = q.exportBuffers(4);
      try {
        q.start();
        let last = -1;
        let got;
        for (let i = 0; i < 4; i++) {
          got = await q.dequeue({ timeout: 10_000 });
          assert.ok(got.sequence > last, `sequence ${got.sequence} after ${last}`);
          last = got.sequence;
          assert.equal(got.bytesUsed[0], fmt.planes[0]!.size);
          if (i < 3) q.queue(got.frame);
        }
        mine = got!.frame.access('read', ([p]) => Uint8Array.from(p!));
        q.stop();
      } finally {
        for (const f of frames) f.close();
      }
    }
    const saved = (() => { using d = v4l2.open(info.path); return { fmt: d.capture!.getFormat(), tp: d.getControl('test_pattern'), osd: d.getControl('osd_text_mode') }; })();
    try {
      execFileSync('v4l2-ctl', ['-d', info.path, '--set-fmt-video=width=320,height=240,pixelformat=XR24',
        '--set-ctrl=test_pattern=0,osd_text_mode=2', '--stream-mmap', '--stream-count=1', `--stream-to=${raw}`],
      { timeout: 60_000 });
    } finally {
      // v4l2-ctl leaves the node as it set it: put it back for the files after this one
      using d = v4l2.open(info.path);
      d.capture!.setFormat({ width: saved.fmt.width, height: saved.fmt.height, format: saved.fmt.fourcc });
      d.setControl('test_pattern', saved.tp);
      d.setControl('osd_text_mode', saved.osd);
    }
    try {
      const theirs = fs.readFileSync(raw);
      assert.equal(theirs.length, mine.length, 'the same size');
      assert.ok(Buffer.compare(theirs, Buffer.from(mine)) === 0, 'the same bytes');
      const px = new Uint32Array(mine.buffer, mine.byteOffset, mine.byteLength >>> 2);
      assert.ok(new Set(px).size >= 4, `a picture, not a blank (${new Set(px).size} colours)`);
    } finally {
      fs.rmSync(raw, { force: true });
    }
  });

  it('capture content: vivid\'s 75% colour bars and 100% Red in XR24 and YUYV, at the centre of each bar', async function () {
    // the values of frames captured from vivid on Linux 6.12 and 7.2 (75%: 191 of 255), R'G'B' full range,
    // Y'CbCr BT.601 limited range rounded down as if full scale were 256 (so 75% white is Y 179, 100% red Cr 239)
    const bars: Record<string, number[][]> = {
      XR24: [[191, 191, 191, 0], [0, 191, 191, 0], [191, 191, 0, 0], [0, 191, 0, 0], [191, 0, 191, 0], [0, 0, 191, 0],
        [191, 0, 0, 0], [0, 0, 0, 0]],
      YUYV: [[179, 128, 128], [160, 44, 141], [130, 156, 44], [111, 72, 58], [83, 183, 197], [64, 99, 211], [34, 211, 114],
        [16, 128, 128]],
    };
    const red: Record<string, number[]> = { XR24: [0, 0, 255, 0], YUYV: [81, 90, 239] };
    using dev = v4l2.open(vivid(this, 0, 'capture').path);
    const q = dev.capture!;
    using _restore = restoring(dev, q, ['test_pattern', 'osd_text_mode']);
    /** One frame of the pattern, the pixel at (x, row 90) as B, G, R, X (XR24) or Y, Cb, Cr (YUYV). */
    const grab = async (format: string, pattern: number): Promise<(x: number) => number[]> => {
      dev.setControl('test_pattern', pattern);
      const fmt = q.setFormat({ width: 320, height: 180, format });
      assert.deepEqual([fmt.width, fmt.height, fmt.fourcc], [320, 180, format]);
      const frames = q.exportBuffers(2);
      try {
        q.start();
        const d = await q.dequeue({ timeout: 10_000 });
        const bytes = d.frame.access('read', ([p]) => Uint8Array.from(p!));
        const pitch = fmt.planes[0]!.pitch;
        return (x) => (format === 'XR24' ? [...bytes.subarray(90 * pitch + x * 4, 90 * pitch + x * 4 + 4)]
          : [bytes[90 * pitch + x * 2]!, bytes[90 * pitch + (x & ~1) * 2 + 1]!, bytes[90 * pitch + (x & ~1) * 2 + 3]!]);
      } finally {
        q.release();
        for (const f of frames) f.close();
      }
    };
    dev.setControl('osd_text_mode', 'None');
    for (const format of ['XR24', 'YUYV']) {
      const px = await grab(format, 0); // 75% Colorbar
      assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 7].map((b) => px(b * 40 + 20)), bars[format], `${format}: the eight bars`);
      assert.deepEqual(px(39), bars[format]![0], `${format}: bar 0 ends at x 39`);
      assert.deepEqual(px(40), bars[format]![1], `${format}: bar 1 starts at x 40`);
      const solid = await grab(format, 7); // 100% Red
      assert.deepEqual([solid(0), solid(319)], [red[format], red[format]], `${format}: 100% Red`);
    }
  });

  it('inputs and outputs: listed, selected by name or index; the capture format follows the input; bad ones are coded errors', function () {
    using cam = v4l2.open(vivid(this, 0, 'capture').path);
    using out = v4l2.open(vivid(this, 0, 'output').path);
    const inputs = cam.inputs();
    assert.deepEqual(inputs.map((i) => i.name), ['Webcam 000-0', 'TV 000-0', 'S-Video 000-0', 'HDMI 000-0']);
    assert.deepEqual(inputs.map((i) => i.type), ['camera', 'tuner', 'camera', 'camera']);
    assert.deepEqual(out.outputs().map((o) => o.name), ['S-Video 000-0', 'HDMI 000-0']);
    assert.deepEqual(cam.outputs(), [], 'a capture node has no outputs');
    const before = cam.currentInput();
    const fmt = cam.capture!.getFormat();
    try {
      assert.equal(cam.selectInput('TV 000-0').index, 1);
      assert.equal(cam.currentInput().name, 'TV 000-0');
      const tv = cam.capture!.getFormat();
      assert.deepEqual([tv.width, tv.height], [720, 576], 'PAL size for the TV input');
      assert.equal(cam.selectInput(3).name, 'HDMI 000-0');
      throwsCode(() => cam.selectInput('Composite'), 'ERR_DMABUF_NOT_FOUND');
      throwsCode(() => cam.selectInput(9), 'ERR_OUT_OF_RANGE', RangeError);
      throwsCode(() => cam.selectInput(-1), 'ERR_OUT_OF_RANGE', RangeError);
      using _restore = restoring(cam, cam.capture!);
      cam.selectInput(before.index);
      cam.capture!.exportBuffers(2).forEach((f) => f.close());
      throwsCode(() => cam.selectInput(1), 'EBUSY');
    } finally {
      quietly(() => cam.capture!.release());
      cam.selectInput(before.index);
      cam.capture!.setFormat({ width: fmt.width, height: fmt.height, format: fmt.fourcc });
    }
  });

  it('through vivid\'s loop, what we queue on the output from our dma-bufs is what v4l2-ctl captures in another process', async function () {
    if (isMock()) this.test!.title += ' (on the mock: captured by the library, in this process)';
    needsUdmabuf(this);
    const capInfo = vivid(this, 0, 'capture');
    const outInfo = vivid(this, 0, 'output');
    using cam = v4l2.open(capInfo.path);
    using out = v4l2.open(outInfo.path);
    const cq = cam.capture!;
    const oq = out.output!;
    const input = cam.currentInput();
    const output = out.currentOutput();
    // HDMI in, connected to HDMI out: vivid copies each output frame into the capture buffers
    const hdmiIn = cam.inputs().find((i) => i.name.startsWith('HDMI'));
    const hdmiOut = out.outputs().find((o) => o.name.startsWith('HDMI'));
    assert.ok(hdmiIn && hdmiOut, `vivid has HDMI in and out (${cam.inputs().map((i) => i.name).join(', ')}; ${out.outputs().map((o) => o.name).join(', ')})`);
    const link = cam.controls().find((c) => c.key.endsWith('_is_connected_to') && c.key.startsWith('hdmi'));
    assert.ok(link?.menu, 'an HDMI "Is Connected To" menu control');
    // items: 'Test Pattern Generator', 'None', then 'Output HDMI 000-0' for each instance's output
    const item = link.menu.find((m) => m.name === `Output ${hdmiOut.name}`);
    assert.ok(item, `the menu offers ${hdmiOut.name} (it has ${link.menu.map((m) => m.name).join(', ')})`);
    const linkBefore = cam.getControl(link.key);
    const osdBefore = cam.getControl('osd_text_mode');
    const capFmtBefore = cq.getFormat();
    const outFmtBefore = oq.getFormat();
    const raw = path.join(os.tmpdir(), `dmabuf-loop-${process.pid}.raw`);
    const frames: Frame[] = [];
    try {
      cam.selectInput(hdmiIn.name);
      out.selectOutput(hdmiOut.name);
      cam.setControl(link.key, item.name!);
      cam.setControl('osd_text_mode', 'None');
      // the HDMI input's size comes from its DV timings (1280x720 by default): keep it
      const hdmiFmt = cq.getFormat();
      const cf = cq.setFormat({ width: hdmiFmt.width, height: hdmiFmt.height, format: 'XRGB8888' });
      const of = oq.setFormat({ width: cf.width, height: cf.height, format: 'XRGB8888' });
      assert.deepEqual([of.width, of.height, of.fourcc, of.planes[0]!.pitch], [cf.width, cf.height, cf.fourcc, cf.planes[0]!.pitch],
        'output and capture formats match (the loop needs it)');
      const desc = oq.frameDescription();
      // three buffers: vivid fills a capture frame from its test pattern whenever no output buffer is
      // queued, and under emulation the feeder below can be slower than a frame interval
      oq.importBuffers(3);
      for (let k = 0; k < 3; k++) {
        const f = Frame.allocate(desc, { provider: 'udmabuf' });
        frames.push(f);
        // a picture no test pattern has: every pixel's own value
        f.access('write', ([p]) => {
          const px = new Uint32Array(p!.buffer, p!.byteOffset, p!.byteLength >>> 2);
          for (let i = 0; i < px.length; i++) px[i] = ((Math.imul(i + k * 7919, 2654435761) >>> 8) & 0xffffff);
        });
        oq.queue(f);
      }
      oq.start();
      // keep the output fed while v4l2-ctl, another process, captures from the looped input
      let feeding = true;
      const feeder = (async () => {
        while (feeding) {
          try {
            const d = await oq.dequeue({ timeout: 200 });
            oq.queue(d.frame);
          } catch (e) {
            if ((e as { code?: string }).code !== 'ERR_DMABUF_TIMEOUT') throw e;
          }
        }
      })();
      let theirs: Buffer;
      if (isMock()) {
        // the mock's vivid has no other process: capture through the library instead
        const got = cq.exportBuffers(4);
        try {
          cq.start();
          const parts: Buffer[] = [];
          for (let i = 0; i < 4; i++) {
            const d = await cq.dequeue({ timeout: 10_000 });
            parts.push(d.frame.access('read', ([p]) => Buffer.from(p!)));
            cq.queue(d.frame);
          }
          theirs = Buffer.concat(parts);
        } finally {
          cq.release();
          for (const f of got) f.close();
        }
        feeding = false;
        await feeder;
      } else {
        const child = spawn('v4l2-ctl', ['-d', capInfo.path, '--stream-mmap', '--stream-count=4', `--stream-to=${raw}`], { stdio: ['ignore', 'ignore', 'pipe'] });
        let err = '';
        child.stderr.on('data', (b: Buffer) => { err += b.toString(); });
        const status = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
        feeding = false;
        await feeder;
        assert.equal(status, 0, `v4l2-ctl: ${err}`);
        theirs = fs.readFileSync(raw);
      }
      const size = cf.planes[0]!.size;
      assert.equal(theirs.length, 4 * size, 'four frames');
      // XRGB8888: compare B, G, R (the X byte is not part of the picture) of each captured frame with
      // each of ours. The first frames may predate the loop, and a frame in which the output had
      // nothing queued is vivid's test pattern, so at least one of the four (not a given one) is ours.
      const ours = frames.map((f) => f.access('read', ([p]) => Buffer.from(p!)));
      const differ = [0, 1, 2, 3].map((c) => ours.map((p) => {
        const got = theirs.subarray(c * size, (c + 1) * size);
        let n = 0;
        for (let i = 0; i < size; i++) if ((i & 3) !== 3 && got[i] !== p[i]) n++;
        return n;
      }));
      assert.ok(differ.some((d) => d.includes(0)),
        `no captured frame is one of ours (colour bytes differing from each of ours, per frame, of ${(size / 4) * 3}: ${differ.map((d) => d.join('/')).join(', ')})`);
      assert.ok(differ.every((d) => d.some((n) => n > 0)), 'our frames differ, so a match says which one was looped');
    } finally {
      quietly(() => oq.release());
      for (const f of frames) f.close();
      quietly(() => cam.selectInput(input.index));
      quietly(() => out.selectOutput(output.index));
      quietly(() => cam.setControl(link!.key, linkBefore));
      quietly(() => cam.setControl('osd_text_mode', osdBefore));
      quietly(() => cq.setFormat({ width: capFmtBefore.width, height: capFmtBefore.height, format: capFmtBefore.fourcc }));
      quietly(() => oq.setFormat({ width: outFmtBefore.width, height: outFmtBefore.height, format: outFmtBefore.fourcc }));
      fs.rmSync(raw, { force: true });
    }
  });

  it('output of our frames: the vmalloc queue takes udmabuf and heap frames; the dma-contig one refuses them (EFAULT, with a hint) and takes CMA frames', async function () {
    needsUdmabuf(this);
    const results: string[] = [];
    for (const inst of [0, 1] as const) {
      using dev = v4l2.open(vivid(this, inst, 'output').path);
      const q = dev.output!;
      using _restore = restoring(dev, q);
      const fmt = q.setFormat({ width: 320, height: 240, format: 'XRGB8888' });
      const desc = q.frameDescription();
      assert.deepEqual(desc, { width: fmt.width, height: fmt.height, format: 'XRGB8888' });
      const providers = ['udmabuf', 'heap:system', ...(cmaHeap() ? [cmaHeap()!] : [])];
      for (const provider of providers) {
        q.importBuffers(2);
        // vivid starts streaming with two buffers queued (min_queued_buffers)
        using f = Frame.allocate(desc, { provider });
        using g = Frame.allocate(desc, { provider });
        for (const x of [f, g]) x.access('write', ([p]) => p!.fill(0x80));
        const contiguous = provider.startsWith('heap:') && provider !== 'heap:system';
        if (inst === 1 && !contiguous) {
          const e = (() => { try { q.queue(f); } catch (err) { return err as Error & { code?: string; hint?: string }; } return undefined; })();
          assert.equal(e?.code, 'EFAULT', `${provider} on the dma-contig queue: ${e?.message}`);
          assert.match(e!.hint ?? '', /contiguous.*CMA heap/);
          results.push(`${inst}:${provider}:EFAULT`);
        } else {
          q.queue(f);
          q.queue(g);
          q.start();
          const done = await q.dequeue({ timeout: 10_000 });
          assert.equal(done.frame, f, 'the first queued is the first done');
          results.push(`${inst}:${provider}:ok`);
        }
        q.release();
      }
    }
    if (inVm && cmaHeap() === undefined) this.test!.title += ' (no CMA heap on this kernel: the dma-contig queue took nothing)';
    this.test!.title += ` (${results.join(' ')})`;
  });

  it('the same frame always goes back on the same index (100 frames through four imported frames)', async function () {
    needsUdmabuf(this);
    using dev = v4l2.open(vivid(this, 0, 'capture').path);
    const q = dev.capture!;
    using _restore = restoring(dev, q);
    q.setFormat({ width: 160, height: 120, format: 'XRGB8888' });
    const desc = q.frameDescription();
    q.importBuffers(4);
    const frames = [0, 1, 2, 3].map(() => Frame.allocate(desc, { provider: 'udmabuf' }));
    try {
      for (const f of frames) q.queue(f);
      q.start();
      const seen = new Map<Frame, Set<number>>();
      for (let i = 0; i < 100; i++) {
        const d = await q.dequeue({ timeout: 10_000 });
        assert.ok(frames.includes(d.frame));
        const s = seen.get(d.frame) ?? new Set<number>();
        s.add(d.index);
        seen.set(d.frame, s);
        q.queue(d.frame);
      }
      q.stop();
      assert.equal(seen.size, 4, 'every frame came back');
      for (const [f, idx] of seen) assert.equal(idx.size, 1, `frame ${frames.indexOf(f)} on indexes ${[...idx].join(',')}`);
    } finally {
      q.release();
      for (const f of frames) f.close();
    }
  });

  it('attachments stay constant over 100 frames (bufinfo): one per frame; rotating frames over indexes (raw ioctls) shows up there', async function () {
    // vb2-dma-contig attaches an imported dma-buf to the device (bufinfo lists it) and keeps the
    // attachment while the same dma-buf comes back on the same index; vb2-vmalloc makes no
    // attachment, so this needs instance 1. Contiguous memory every kernel has: the device's own
    // buffers, exported, the queue released (they outlive it), then imported back.
    needsBufinfo(this);
    using dev = v4l2.open(vivid(this, 1, 'capture').path);
    const q = dev.capture!;
    using _restore = restoring(dev, q);
    q.setFormat({ width: 320, height: 180, format: 'XRGB8888' });
    const frames = q.exportBuffers(4);
    try {
      q.release();
      const inodes = frames.map((f) => f.planes[0]!.buffer.inode);
      const attachments = (): number[] => {
        const info = readBufinfo();
        return inodes.map((ino) => info.get(ino)?.attached.length ?? -1);
      };
      assert.deepEqual(attachments(), [0, 0, 0, 0], 'exported and released: nothing attached');
      q.importBuffers(4);
      for (const f of frames) q.queue(f);
      q.start();
      const seen: string[] = [];
      for (let i = 0; i < 100; i++) {
        const d = await q.dequeue({ timeout: 10_000 });
        seen.push(attachments().join(','));
        q.queue(d.frame);
      }
      q.stop();
      const distinct = [...new Set(seen)];
      assert.deepEqual(distinct, ['1,1,1,1'], `attachments per frame over 100 frames: ${distinct.join(' | ')}`);
      const names = new Set(inodes.flatMap((ino) => readBufinfo().get(ino)!.attached));
      assert.equal(names.size, 1, `one device: ${[...names].join(', ')}`);
      assert.match([...names][0]!, /vivid/);
      q.release();

      // The control: the same frames on a different index each round, as a cache without affinity
      // would queue them. A frame is then attached on its new index while its old one still holds it.
      const b = getBackend();
      const type = q.type;
      b.v4l2ReqBufs(dev.fd, type, V4L2_MEMORY_DMABUF, 4);
      const rotated: string[] = [];
      for (let round = 1; round <= 3; round++) {
        frames.forEach((f, i) => {
          const p = f.planes[0]!;
          b.v4l2QBuf(dev.fd, { type, memory: V4L2_MEMORY_DMABUF, index: (i + round) % 4,
            planes: [{ bytesused: 0, length: p.buffer.size, dataOffset: 0, fd: p.buffer.fd }] });
          rotated.push(attachments().join(','));
        });
        b.v4l2StreamOff(dev.fd, type); // every buffer back to userspace, nothing captured
      }
      b.v4l2ReqBufs(dev.fd, type, V4L2_MEMORY_DMABUF, 0);
      assert.ok(rotated.some((r) => r.split(',').includes('2')), `rotation never attached a frame twice: ${rotated.join(' | ')}`);
      this.test!.title += ` (with affinity: ${distinct[0]} throughout; rotated: ${[...new Set(rotated)].join(' | ')})`;
    } finally {
      q.release();
      for (const f of frames) f.close();
    }
  });

  it('controls: listed with menus, set and read back by v4l2-ctl\'s names; unknown names are ERR_DMABUF_NOT_FOUND', function () {
    using dev = v4l2.open(vivid(this, 0, 'capture').path);
    const tp = dev.controls().find((c) => c.key === 'test_pattern');
    assert.ok(tp?.menu && tp.menu.length > 2, 'test_pattern is a menu');
    const before = dev.getControl('test_pattern');
    try {
      assert.equal(dev.setControl('test_pattern', 1), 1);
      assert.equal(dev.getControl('test_pattern'), 1);
      assert.equal(dev.getControl(tp.id), 1);
      dev.setControl('test_pattern', tp.menu[2]!.name!);
      assert.equal(dev.getControl('Test Pattern'), 2);
    } finally {
      dev.setControl('test_pattern', before);
    }
    throwsCode(() => dev.getControl('no_such_control'), 'ERR_DMABUF_NOT_FOUND');
    throwsCode(() => dev.setControl('test_pattern', 'no such item'), 'ERR_INVALID_ARG_VALUE', TypeError);
  });

  it('states and lifetimes: wrong states are coded errors; exported frames outlive the device; nothing leaks', async function () {
    const info = vivid(this, 0, 'capture');
    const fds = isNative() ? openFdCount() : 0;
    let kept: Frame[];
    let fmt;
    let saved;
    {
      using dev: VideoDevice = v4l2.open(info.path);
      const q = dev.capture!;
      saved = q.getFormat();
      fmt = q.setFormat({ width: 160, height: 120, format: 'XRGB8888' });
      await assert.rejects(q.dequeue({ timeout: 10 }), { code: 'ERR_INVALID_STATE' });
      throwsCode(() => q.start(), 'ERR_INVALID_STATE');
      using wrong = Frame.allocate({ width: 16, height: 16, format: 'XRGB8888' }, { provider: 'heap:system' });
      throwsCode(() => q.queue(wrong), 'ERR_INVALID_STATE');
      kept = q.exportBuffers(2);
      throwsCode(() => q.queue(wrong), 'ERR_INVALID_ARG_VALUE', TypeError);
      throwsCode(() => q.exportBuffers(2), 'ERR_INVALID_STATE');
      throwsCode(() => q.setFormat({ width: 64, height: 64, format: 'XRGB8888' }), 'ERR_INVALID_STATE');
      q.start();
      const d = await q.dequeue({ timeout: 10_000 });
      assert.ok(kept.includes(d.frame));
      q.queue(d.frame);
      q.stop();
      await assert.rejects(q.dequeue({ timeout: 10 }), { code: 'ERR_INVALID_STATE' });
      q.start();
      // closing while streaming: the kernel stops the queue and frees its buffers
    }
    // the frames' dma-bufs outlive the device
    const bytes = kept[0]!.access('read', ([p]) => p!.length);
    assert.equal(bytes, fmt!.planes[0]!.size);
    for (const f of kept) f.close();
    {
      using again = v4l2.open(info.path);
      again.capture!.setFormat({ width: saved!.width, height: saved!.height, format: saved!.fourcc });
    }
    throwsCode(() => v4l2.open({ driver: 'no-such-driver' }), 'ERR_DMABUF_NO_DEVICE');
    if (isNative()) assert.equal(openFdCount(), fds, 'no fd left');
  });
});

describe('v4l2 without devices', function () {
  it('list() is empty on a mock machine without vivid; open() of a missing driver is ERR_DMABUF_NO_DEVICE; a non-video path is refused', function () {
    if (!isMock()) {
      this.test!.title += ' (skipped: mock-only: a machine with { video: false })';
      this.skip();
    }
    const saved = getBackend();
    setBackend(createMockBackend({ video: false }));
    try {
      assert.deepEqual(v4l2.list(), []);
      throwsCode(() => v4l2.open({ driver: 'vivid' }), 'ERR_DMABUF_NO_DEVICE');
    } finally {
      setBackend(saved);
    }
    throwsCode(() => v4l2.open(''), 'ERR_INVALID_ARG_VALUE', TypeError);
    throwsCode(() => v4l2.open({ driver: 5 } as never), 'ERR_INVALID_ARG_TYPE', TypeError);
  });
});
