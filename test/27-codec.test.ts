/**
 * V4L2 codecs through the library: queues whose format is coded (a bitstream in one plane of
 * sizeimage bytes), the codec commands, the buffer flagged last and DQBUF's EPIPE after it.
 *
 * - A scripted codec node (mock backend only): a fake video node in front of the mock, answering
 *   the ioctls as a stateful encoder or decoder would, so that what the library sends for coded
 *   frames (planes, bytesused, data_offset) and makes of what comes back (last, EPIPE) is checked
 *   without a driver. It models no codec: it records and replays.
 * - vivid (mock and VM): a node that is no codec refuses the commands with ENOTTY and a hint;
 *   on('source-change') subscribes before it returns.
 * - vicodec (VM): the kernel's virtual FWHT codec. Our picture goes through its stateful encoder
 *   from our dma-buf, into the encoder's own buffer, and that very dma-buf into its stateful decoder,
 *   whose picture comes out in our dma-buf: compared with the source by PSNR. A drain of the encoder
 *   ('stop'): the buffer flagged last, then EPIPE, then a restart. The mock models no codec: there
 *   these tests say so and skip.
 */
import assert from 'node:assert/strict';
import {
  constants as C, Frame, formats, getBackend, setBackend, v4l2, type Backend, type Dequeued, type VideoDevice,
  type VideoDeviceInfo, type VideoQueue,
} from '../src/index';
import { createMockBackend } from '../src/backend/mock/index';
import type { Fd, V4l2Buffer, V4l2PixFormat, V4l2QueueBuffer } from '../src/backend/types';
import { systemError } from '../src/errors';
import { isMock, needsUdmabuf, skip, throwsCode } from './support/index';

const FWHT = formats.get('FWHT');

// ---- a scripted codec node (mock only) ------------------------------------------------------------------

const SCRIPTED = '/dev/video-scripted';
/** The coded side's sizeimage: not a multiple of the page size, as vicodec's are not. */
const CODED_SIZE = 200_044;
const RAW = { width: 640, height: 480, pixelformat: 0x3231564e /* NV12 */, bytesperline: 640, sizeimage: 640 * 480 * 3 / 2 };

interface Scripted {
  backend: Backend;
  /** QBUF as the node got it. */
  queued: V4l2QueueBuffer[];
  /** (TRY_)ENCODER_CMD / DECODER_CMD as the node got them. */
  commands: { kind: 'encoder' | 'decoder'; cmd: number; flags: number; tryOnly: boolean }[];
  /** What DQBUF gives next, per buffer type: a buffer (index, bytesused, flags) or EPIPE. */
  done: Map<number, ({ index: number; bytesused: number; flags: number } | 'EPIPE')[]>;
  close(): void;
}

/**
 * A node in front of the mock backend: an encoder (coded capture) or a decoder (coded output), single-
 * or multi-planar. Every other fd and call goes to the mock.
 */
function scripted(kind: 'encoder' | 'decoder', multiplanar: boolean): Scripted {
  const base = createMockBackend();
  const capType = multiplanar ? C.V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE : C.V4L2_BUF_TYPE_VIDEO_CAPTURE;
  const outType = multiplanar ? C.V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE : C.V4L2_BUF_TYPE_VIDEO_OUTPUT;
  const codedType = kind === 'encoder' ? capType : outType;
  const heap = base.open('/dev/dma_heap/system', C.O_RDWR | C.O_CLOEXEC);
  let node = -1;
  const bufs = new Map<number, { memory: number; fds: Fd[] }>();
  const state: Scripted = { backend: base, queued: [], commands: [], done: new Map([[capType, []], [outType, []]]), close: () => {
    for (const q of bufs.values()) for (const fd of q.fds) base.close(fd);
    base.close(heap);
  } };
  const fmt = (type: number): V4l2PixFormat => {
    const coded = type === codedType;
    return {
      type, width: 640, height: 480, pixelformat: coded ? FWHT.v4l2[0]!.value : RAW.pixelformat, field: C.V4L2_FIELD_NONE,
      colorspace: 0, ycbcrEnc: 0, quantization: 0, xferFunc: 0, flags: 0,
      planes: [coded ? { bytesperline: 0, sizeimage: CODED_SIZE } : { bytesperline: RAW.bytesperline, sizeimage: RAW.sizeimage }],
    };
  };
  const sizeOf = (type: number): number => (type === codedType ? CODED_SIZE : RAW.sizeimage);
  const check = (fd: Fd, type: number, ioctl: string): void => {
    if (type !== capType && type !== outType) throw systemError('EINVAL', `ioctl(${ioctl})`);
    void fd;
  };
  const info = (type: number, index: number, memory: number, bytesused: number, flags: number): V4l2Buffer => {
    const length = sizeOf(type);
    const plane = { bytesused, length, dataOffset: 0, memOffset: memory === C.V4L2_MEMORY_MMAP ? index * 0x100000 : -1, fd: -1 };
    return { index, type, memory, bytesused: multiplanar ? 0 : bytesused, flags, field: C.V4L2_FIELD_NONE,
      timestamp: { sec: 1, usec: 0 }, sequence: index, length: multiplanar ? 1 : length, planes: [plane] };
  };
  const mine = (fd: Fd): boolean => fd === node;
  const backend: Backend = {
    ...base,
    open(path, flags) {
      if (path !== SCRIPTED) return base.open(path, flags);
      node = base.memfdCreate('scripted-codec', 0);
      return node;
    },
    pollAsync(fd, events, timeoutMs) {
      if (!mine(fd)) return base.pollAsync(fd, events, timeoutMs);
      const ready = [...state.done.values()].some((l) => l.length > 0);
      return ready ? Promise.resolve(events & (C.POLLIN | C.POLLOUT))
        : new Promise((resolve) => setTimeout(() => resolve(0), Math.min(timeoutMs, 20)));
    },
    v4l2QueryCap(fd) {
      if (!mine(fd)) return base.v4l2QueryCap(fd);
      const caps = C.V4L2_CAP_STREAMING | (multiplanar ? C.V4L2_CAP_VIDEO_M2M_MPLANE : C.V4L2_CAP_VIDEO_M2M);
      return { driver: 'scripted', card: `scripted ${kind}`, busInfo: 'platform:scripted', version: 0x060c00,
        capabilities: (caps | C.V4L2_CAP_DEVICE_CAPS) >>> 0, deviceCaps: caps };
    },
    v4l2EnumFmt(fd, type, index) {
      if (!mine(fd)) return base.v4l2EnumFmt(fd, type, index);
      check(fd, type, 'VIDIOC_ENUM_FMT');
      if (index > 0) throw systemError('EINVAL', 'ioctl(VIDIOC_ENUM_FMT)');
      const coded = type === codedType;
      return { index, type, flags: coded ? C.V4L2_FMT_FLAG_COMPRESSED : 0, description: coded ? 'FWHT' : 'Y/UV 4:2:0',
        pixelformat: fmt(type).pixelformat, mbusCode: 0 };
    },
    v4l2GetFmt(fd, type) {
      if (!mine(fd)) return base.v4l2GetFmt(fd, type);
      check(fd, type, 'VIDIOC_G_FMT');
      return fmt(type);
    },
    v4l2SetFmt(fd, f, tryOnly) {
      if (!mine(fd)) return base.v4l2SetFmt(fd, f, tryOnly);
      check(fd, f.type, tryOnly ? 'VIDIOC_TRY_FMT' : 'VIDIOC_S_FMT');
      return fmt(f.type);
    },
    v4l2ReqBufs(fd, type, memory, count) {
      if (!mine(fd)) return base.v4l2ReqBufs(fd, type, memory, count);
      check(fd, type, 'VIDIOC_REQBUFS');
      for (const x of bufs.get(type)?.fds ?? []) base.close(x);
      const fds = memory === C.V4L2_MEMORY_MMAP
        ? Array.from({ length: count }, () => base.heapAlloc(heap, sizeOf(type), C.O_RDWR | C.O_CLOEXEC, 0)) : [];
      bufs.set(type, { memory, fds });
      return { count, capabilities: C.V4L2_BUF_CAP_SUPPORTS_MMAP | C.V4L2_BUF_CAP_SUPPORTS_DMABUF, flags: 0 };
    },
    v4l2QueryBuf(fd, type, memory, index) {
      if (!mine(fd)) return base.v4l2QueryBuf(fd, type, memory, index);
      return info(type, index, memory, 0, 0);
    },
    v4l2ExpBuf(fd, type, index, plane, flags) {
      if (!mine(fd)) return base.v4l2ExpBuf(fd, type, index, plane, flags);
      const b = bufs.get(type)?.fds[index];
      if (b === undefined || plane !== 0) throw systemError('EINVAL', 'ioctl(VIDIOC_EXPBUF)');
      return base.dup(b);
    },
    v4l2QBuf(fd, buffer) {
      if (!mine(fd)) return base.v4l2QBuf(fd, buffer);
      check(fd, buffer.type, 'VIDIOC_QBUF');
      // vb2: a DMABUF plane must hold the format's size; an output's payload fits its length
      const p = buffer.planes[0]!;
      if (buffer.memory === C.V4L2_MEMORY_DMABUF && p.length < sizeOf(buffer.type)) throw systemError('EINVAL', 'ioctl(VIDIOC_QBUF)');
      if (p.bytesused > (buffer.memory === C.V4L2_MEMORY_DMABUF ? p.length : sizeOf(buffer.type))) {
        throw systemError('EINVAL', 'ioctl(VIDIOC_QBUF)');
      }
      state.queued.push(structuredClone(buffer));
      return info(buffer.type, buffer.index, buffer.memory, p.bytesused, C.V4L2_BUF_FLAG_QUEUED);
    },
    v4l2StreamOn(fd, type) {
      if (!mine(fd)) return base.v4l2StreamOn(fd, type);
      check(fd, type, 'VIDIOC_STREAMON');
    },
    v4l2StreamOff(fd, type) {
      if (!mine(fd)) return base.v4l2StreamOff(fd, type);
      check(fd, type, 'VIDIOC_STREAMOFF');
    },
    v4l2DqBuf(fd, type, memory) {
      if (!mine(fd)) return base.v4l2DqBuf(fd, type, memory);
      const next = state.done.get(type)!.shift();
      if (next === undefined) return null;
      if (next === 'EPIPE') throw systemError('EPIPE', 'ioctl(VIDIOC_DQBUF)');
      return info(type, next.index, memory, next.bytesused, next.flags | C.V4L2_BUF_FLAG_DONE);
    },
    v4l2GetInput(fd) {
      if (!mine(fd)) return base.v4l2GetInput(fd);
      throw systemError('ENOTTY', 'ioctl(VIDIOC_G_INPUT)');
    },
    v4l2SubscribeEvent(fd, type, id, flags) {
      if (!mine(fd)) return base.v4l2SubscribeEvent(fd, type, id, flags);
      throw systemError('EINVAL', 'ioctl(VIDIOC_SUBSCRIBE_EVENT)');
    },
    v4l2EncoderCmd(fd, cmd, flags, tryOnly) {
      if (!mine(fd)) return base.v4l2EncoderCmd(fd, cmd, flags, tryOnly);
      if (kind !== 'encoder') throw systemError('ENOTTY', `ioctl(VIDIOC_${tryOnly ? 'TRY_' : ''}ENCODER_CMD)`);
      state.commands.push({ kind: 'encoder', cmd, flags, tryOnly });
      return { cmd, flags: tryOnly ? 0 : flags };
    },
    v4l2DecoderCmd(fd, cmd, flags, tryOnly) {
      if (!mine(fd)) return base.v4l2DecoderCmd(fd, cmd, flags, tryOnly);
      if (kind !== 'decoder') throw systemError('ENOTTY', `ioctl(VIDIOC_${tryOnly ? 'TRY_' : ''}DECODER_CMD)`);
      state.commands.push({ kind: 'decoder', cmd, flags, tryOnly });
      return { cmd, flags: tryOnly ? 0 : flags };
    },
  };
  state.backend = backend;
  return state;
}

/** Run fn with the scripted node as the active backend, and put the backend back after. */
async function withScripted(ctx: Mocha.Context, kind: 'encoder' | 'decoder', multiplanar: boolean,
  fn: (s: Scripted) => Promise<void> | void): Promise<void> {
  if (!isMock()) {
    ctx.test!.title += ' (skipped: the scripted node stands in front of the mock backend; the native run has vicodec below)';
    ctx.skip();
  }
  const saved = getBackend();
  const s = scripted(kind, multiplanar);
  setBackend(s.backend);
  try {
    await fn(s);
  } finally {
    setBackend(saved);
    s.close();
  }
}

describe('v4l2 codecs: coded queues through the library, on a scripted node (no driver)', function () {
  this.timeout(60_000);

  for (const multiplanar of [false, true]) {
    const api = multiplanar ? 'multi-planar' : 'single-planar';

    it(`an encoder (${api}): the coded capture queue exports Frames of one plane of sizeimage bytes; last and EPIPE come back`, async function () {
      await withScripted(this, 'encoder', multiplanar, async (s) => {
        using dev = v4l2.open(SCRIPTED);
        assert.equal(dev.m2m, true);
        const cap = dev.capture!;
        const [desc] = cap.formats();
        assert.equal(desc!.fourcc, 'FWHT');
        assert.equal(desc!.format, FWHT, 'formats() knows the coded format');
        assert.equal(desc!.flags & C.V4L2_FMT_FLAG_COMPRESSED, C.V4L2_FMT_FLAG_COMPRESSED);
        const f = cap.setFormat({ width: 640, height: 480, format: 'FWHT' });
        assert.equal(f.format, FWHT);
        assert.deepEqual(f.planes, [{ pitch: 0, size: CODED_SIZE }]);
        assert.deepEqual(cap.frameDescription(), { width: 640, height: 480, format: 'FWHT', size: CODED_SIZE });
        const frames = cap.exportBuffers(2);
        try {
          for (const fr of frames) {
            assert.equal(fr.format, FWHT);
            assert.deepEqual(fr.planes.map((p) => [p.offset, p.pitch, p.size]), [[0, 0, CODED_SIZE]]);
            assert.ok(fr.planes[0]!.buffer.size >= CODED_SIZE);
            fr.access('write', ([p]) => p!.fill(1)); // the device's buffer, mapped as any other
          }
          cap.start();
          assert.deepEqual(s.queued.map((q) => [q.type, q.index, q.memory, q.planes[0]!.bytesused, q.planes[0]!.length]),
            [[cap.type, 0, C.V4L2_MEMORY_MMAP, 0, CODED_SIZE], [cap.type, 1, C.V4L2_MEMORY_MMAP, 0, CODED_SIZE]],
            'start() queues both, with no payload (capture)');
          s.done.get(cap.type)!.push({ index: 1, bytesused: 1234, flags: C.V4L2_BUF_FLAG_KEYFRAME },
            { index: 0, bytesused: 0, flags: C.V4L2_BUF_FLAG_LAST }, 'EPIPE');
          const a = await cap.dequeue({ timeout: 5000 });
          assert.equal(a.frame, frames[1]);
          assert.deepEqual([a.bytesUsed, a.last, a.error], [[1234], false, false], 'the compressed size');
          assert.equal(a.flags & C.V4L2_BUF_FLAG_KEYFRAME, C.V4L2_BUF_FLAG_KEYFRAME);
          const b = await cap.dequeue({ timeout: 5000 });
          assert.deepEqual([b.frame === frames[0], b.bytesUsed, b.last], [true, [0], true], 'the buffer flagged last');
          const e = await cap.dequeue({ timeout: 5000 }).then(() => null, (x: unknown) => x as Error & { code?: string; hint?: string });
          assert.ok(e, 'DQBUF after the last buffer fails');
          assert.equal(e.code, 'EPIPE', e.message);
          assert.equal((e as { syscall?: string }).syscall, 'ioctl(VIDIOC_DQBUF)');
          assert.equal((e as { path?: string }).path, SCRIPTED);
          assert.match(e.hint ?? '', /V4L2_BUF_FLAG_LAST.*stop\(\) and start\(\) the capture queue/);
          // the commands: a drain and a restart, as the driver takes them
          assert.deepEqual(dev.encoderCommand('stop'), { cmd: C.V4L2_ENC_CMD_STOP, flags: 0 });
          assert.deepEqual(dev.encoderCommand('start', { try: true }), { cmd: C.V4L2_ENC_CMD_START, flags: 0 });
          dev.encoderCommand('stop', { flags: C.V4L2_ENC_CMD_STOP_AT_GOP_END });
          dev.encoderCommand(C.V4L2_ENC_CMD_PAUSE);
          assert.deepEqual(s.commands, [
            { kind: 'encoder', cmd: C.V4L2_ENC_CMD_STOP, flags: 0, tryOnly: false },
            { kind: 'encoder', cmd: C.V4L2_ENC_CMD_START, flags: 0, tryOnly: true },
            { kind: 'encoder', cmd: C.V4L2_ENC_CMD_STOP, flags: C.V4L2_ENC_CMD_STOP_AT_GOP_END, tryOnly: false },
            { kind: 'encoder', cmd: C.V4L2_ENC_CMD_PAUSE, flags: 0, tryOnly: false },
          ]);
          const no = throwsCode(() => dev.decoderCommand('stop'), 'ENOTTY') as Error & { hint?: string };
          assert.match(no.hint ?? '', /scripted is no decoder \(no VIDIOC_DECODER_CMD\)/);
          throwsCode(() => dev.encoderCommand('drain' as 'stop'), 'ERR_INVALID_ARG_VALUE', TypeError);
          throwsCode(() => dev.encoderCommand(-1), 'ERR_OUT_OF_RANGE', RangeError);
          throwsCode(() => dev.encoderCommand('stop', { flags: 1.5 }), 'ERR_OUT_OF_RANGE', RangeError);
          throwsCode(() => dev.encoderCommand('stop', { try: 1 as unknown as boolean }), 'ERR_INVALID_ARG_TYPE', TypeError);
          throwsCode(() => dev.encoderCommand('stop', null as unknown as object), 'ERR_INVALID_ARG_TYPE', TypeError);
          throwsCode(() => dev.decoderCommand('flush', { flags: -1 }), 'ERR_OUT_OF_RANGE', RangeError);
          cap.release();
        } finally {
          for (const fr of frames) fr.close();
        }
        dev.close();
        throwsCode(() => dev.encoderCommand('stop'), 'ERR_DMABUF_CLOSED');
      });
    });

    it(`a decoder (${api}): the coded output queue takes our coded frames of any size that holds sizeimage; bytesUsed is the payload`, async function () {
      await withScripted(this, 'decoder', multiplanar, async (s) => {
        using dev = v4l2.open(SCRIPTED);
        const out = dev.output!;
        out.setFormat({ width: 640, height: 480, format: 'FWHT' });
        const desc = out.frameDescription();
        assert.deepEqual(desc, { width: 640, height: 480, format: 'FWHT', size: CODED_SIZE });
        using ours = Frame.allocate(desc, { provider: 'heap:system' });
        // a bitstream's width and height are the stream's: a frame of any nominal size will do
        using other = Frame.allocate({ width: 1, height: 1, format: 'FWHT', size: CODED_SIZE + 5000 }, { provider: 'heap:system' });
        using small = Frame.allocate({ width: 640, height: 480, format: 'FWHT', size: CODED_SIZE - 1 }, { provider: 'heap:system' });
        using h264 = Frame.allocate({ width: 640, height: 480, format: 'H264', size: CODED_SIZE }, { provider: 'heap:system' });
        using raw = Frame.allocate({ width: 640, height: 480, format: 'NV12' }, { provider: 'heap:system' });
        assert.equal(out.importBuffers(4), 4);
        out.queue(ours, { bytesUsed: 777 });
        out.queue(other);
        const [q0, q1] = s.queued;
        assert.deepEqual([q0!.memory, q0!.planes.length, q0!.planes[0]!.bytesused, q0!.planes[0]!.length],
          [C.V4L2_MEMORY_DMABUF, 1, 777, ours.planes[0]!.buffer.size], 'bytesUsed is the payload; length the dma-buf\'s');
        assert.equal(q0!.planes[0]!.fd, ours.planes[0]!.buffer.fd);
        assert.equal(q1!.planes[0]!.bytesused, CODED_SIZE + 5000, 'without bytesUsed: the whole plane');
        if (multiplanar) assert.deepEqual(s.queued.map((q) => q.planes[0]!.dataOffset), [0, 0]);
        throwsCode(() => out.queue(small), 'ERR_INVALID_ARG_VALUE', TypeError);
        throwsCode(() => out.queue(h264), 'ERR_INVALID_ARG_VALUE', TypeError);
        throwsCode(() => out.queue(raw), 'ERR_INVALID_ARG_VALUE', TypeError);
        const fresh = (): Frame => Frame.allocate(desc, { provider: 'heap:system' });
        {
          using f = fresh();
          throwsCode(() => out.queue(f, { bytesUsed: 0 }), 'ERR_OUT_OF_RANGE', RangeError);
          throwsCode(() => out.queue(f, { bytesUsed: CODED_SIZE + 1 }), 'ERR_OUT_OF_RANGE', RangeError);
          throwsCode(() => out.queue(f, { bytesUsed: [1, 2] }), 'ERR_INVALID_ARG_VALUE', TypeError);
          throwsCode(() => out.queue(f, { bytesUsed: 1.5 }), 'ERR_OUT_OF_RANGE', RangeError);
        }
        // a plane at an offset: data_offset on the multi-planar API, refused on the single-planar one
        const holder = Frame.allocate({ width: 1, height: 1, format: 'FWHT', size: CODED_SIZE + 8192 }, { provider: 'heap:system' });
        using at = Frame.from({ width: 640, height: 480, format: 'FWHT', planes: [{ buffer: holder.planes[0]!.buffer, offset: 4096, size: CODED_SIZE }] });
        holder.close();
        if (multiplanar) {
          out.queue(at, { bytesUsed: 100 });
          const q = s.queued.at(-1)!;
          assert.deepEqual([q.planes[0]!.dataOffset, q.planes[0]!.bytesused], [4096, 4096 + 100], 'bytesused counts data_offset, as V4L2 does');
        } else {
          throwsCode(() => out.queue(at, { bytesUsed: 100 }), 'ERR_INVALID_ARG_VALUE', TypeError);
        }
        assert.deepEqual(dev.decoderCommand('stop'), { cmd: C.V4L2_DEC_CMD_STOP, flags: 0 });
        assert.deepEqual(dev.decoderCommand('flush', { try: true }), { cmd: C.V4L2_DEC_CMD_FLUSH, flags: 0 });
        throwsCode(() => dev.encoderCommand('stop'), 'ENOTTY');
        out.release();
      });
    });
  }
});

// ---- vivid: a node that is no codec (mock and VM) ---------------------------------------------------------

function vividCapture(ctx: Mocha.Context): VideoDeviceInfo {
  const d = v4l2.list().find((x) => x.driver === 'vivid' && x.bus === 'platform:vivid-000' && x.capture !== null && x.error === undefined);
  if (!d) skip(ctx, 'no vivid capture node on platform:vivid-000 (modprobe vivid)');
  return d;
}

describe('v4l2 codecs: a node that is no codec (vivid)', function () {
  this.timeout(60_000);

  it('encoderCommand() and decoderCommand() are ENOTTY with a hint; dequeue()s of vivid carry last: false', async function () {
    using cam = v4l2.open(vividCapture(this).path);
    for (const [call, what] of [[() => cam.encoderCommand('stop'), 'encoder'], [() => cam.decoderCommand('start', { try: true }), 'decoder']] as const) {
      const e = throwsCode(call, 'ENOTTY') as Error & { hint?: string; path?: string };
      assert.equal(e.path, cam.path);
      assert.match(e.hint ?? '', new RegExp(`vivid is no ${what}`));
    }
    const q = cam.capture!;
    const frames = q.exportBuffers(2);
    try {
      q.start();
      const d = await q.dequeue({ timeout: 30_000 });
      assert.equal(d.last, false);
      assert.equal(d.frame.format.compressed, false);
    } finally {
      q.release();
      for (const f of frames) f.close();
    }
  });

  it('on(\'source-change\') has subscribed when it returns: a change made right after it is seen', async function () {
    using cam = v4l2.open(vividCapture(this).path);
    const before = cam.getControl('colorspace') as number;
    const seen: { changes: number; sequence: number }[] = [];
    const got = new Promise<void>((resolve) => {
      cam.on('source-change', (e) => {
        seen.push(e);
        resolve();
      });
    });
    try {
      // vivid signals a source change of its inputs when the colorspace it generates changes
      cam.setControl('colorspace', before === 1 ? 2 : 1);
      const timer = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 10_000).unref());
      assert.notEqual(await Promise.race([got, timer]), 'timeout', 'a source-change event within 10 s');
      assert.equal(seen[0]!.changes & C.V4L2_EVENT_SRC_CH_RESOLUTION, C.V4L2_EVENT_SRC_CH_RESOLUTION);
    } finally {
      cam.setControl('colorspace', before);
    }
  });
});

// ---- vicodec (VM) -------------------------------------------------------------------------------------------

interface VicodecNodes {
  encoder: string;
  decoder: string;
  stateless: string | undefined;
  /** What each node's queues offer, for messages. */
  seen: string;
}

/** A queue's formats as 'FWHT(c)' (compressed) or 'YU12'. */
function offered(q: VideoQueue | null): string[] {
  return q === null ? [] : q.formats().map((f) => `${f.fourcc}${f.flags & C.V4L2_FMT_FLAG_COMPRESSED ? '(c)' : ''}`);
}

/** vicodec's three nodes, told apart by their queues' formats (all say driver and card 'vicodec'). */
function vicodec(ctx: Mocha.Context): VicodecNodes {
  if (isMock()) {
    ctx.test!.title += ' (skipped: the mock models no codec)';
    ctx.skip();
  }
  const nodes = v4l2.list().filter((x) => x.driver === 'vicodec' && x.m2m && x.error === undefined);
  if (nodes.length === 0) skip(ctx, 'no vicodec node (modprobe vicodec)');
  let encoder: string | undefined;
  let decoder: string | undefined;
  let stateless: string | undefined;
  const seen: string[] = [];
  for (const n of nodes) {
    using dev = v4l2.open(n.path);
    const out = offered(dev.output);
    const cap = offered(dev.capture);
    seen.push(`${n.path}: output ${out.join(' ') || '-'}; capture ${cap.join(' ') || '-'}`);
    // by the codes alone (whether ENUM_FMT flags them compressed is checked below)
    const has = (l: string[], code: string): boolean => l.some((x) => x.startsWith(code));
    if (has(cap, 'FWHT')) encoder ??= n.path;
    else if (has(out, 'FWHT')) decoder ??= n.path;
    else if (has(out, 'SFWH')) stateless ??= n.path;
  }
  if (encoder === undefined || decoder === undefined) {
    skip(ctx, `vicodec's stateful encoder and decoder not both found (${seen.join(' | ')})`);
  }
  return { encoder, decoder, stateless, seen: seen.join(' | ') };
}

/** vicodec takes 640x360 and up (its MIN_WIDTH, MIN_HEIGHT); 640x480 is a multiple of 16 both ways. */
const W = 640;
const H = 480;

/**
 * The source picture, deterministic: a smooth luma gradient, a 16-pixel checkerboard (aligned to
 * FWHT's 8x8 blocks, so each block is flat), two rectangles with edges off the block grid, a thin
 * vertical line; smooth chroma gradients with a checkerboard of their own.
 */
function lumaAt(x: number, y: number): number {
  let v = 60 + (100 * x) / W + (40 * y) / H;
  if (((x >> 4) + (y >> 4)) & 1) v += 24;
  if (x >= 101 && x < 229 && y >= 77 && y < 171) v += 50;
  if (x >= 403 && x < 517 && y >= 250 && y < 405) v -= 45;
  if (x >= 600 && x < 603) v += 40;
  return Math.max(16, Math.min(235, Math.round(v)));
}
function cbAt(x: number, y: number): number {
  return Math.round(90 + (60 * x) / (W / 2) + (((x >> 3) + (y >> 3)) & 1 ? 12 : 0));
}
function crAt(x: number, y: number): number {
  return Math.round(170 - (60 * y) / (H / 2) - (((x >> 3) + (y >> 3)) & 1 ? 0 : 12));
}

/** The planes of a YUV420 (YU12) frame as [Y, Cb, Cr], each { view, pitch, width, height }. */
interface Plane { bytes: Uint8Array; pitch: number; width: number; height: number }
function planesOf(f: Frame, views: Uint8Array[], dataOffset = 0): Plane[] {
  const dims = [[f.width, f.height], [f.width / 2, f.height / 2], [f.width / 2, f.height / 2]];
  return f.planes.map((p, i) => ({ bytes: i === 0 && dataOffset > 0 ? views[i]!.subarray(dataOffset) : views[i]!, pitch: p.pitch,
    width: dims[i]![0]!, height: dims[i]![1]! }));
}

function fillSource(f: Frame, shiftRows = 0): void {
  f.access('write', (views) => {
    const [y, cb, cr] = planesOf(f, views);
    for (let r = 0; r < y!.height; r++) for (let x = 0; x < y!.width; x++) y!.bytes[r * y!.pitch + x] = lumaAt(x, r + shiftRows);
    for (let r = 0; r < cb!.height; r++) {
      for (let x = 0; x < cb!.width; x++) {
        cb!.bytes[r * cb!.pitch + x] = cbAt(x, r + (shiftRows >> 1));
        cr!.bytes[r * cr!.pitch + x] = crAt(x, r + (shiftRows >> 1));
      }
    }
  });
}

/** PSNR in dB of plane b against the reference function (Infinity when they are equal). */
function psnr(b: Plane, ref: (x: number, y: number) => number): number {
  let se = 0;
  for (let r = 0; r < b.height; r++) for (let x = 0; x < b.width; x++) se += (b.bytes[r * b.pitch + x]! - ref(x, r)) ** 2;
  const mse = se / (b.width * b.height);
  return mse === 0 ? Infinity : 10 * Math.log10((255 * 255) / mse);
}

/** PSNR of a function against the reference function over a plane's size (for what wrong decodes would score). */
function psnrOf(width: number, height: number, got: (x: number, y: number) => number, ref: (x: number, y: number) => number): number {
  let se = 0;
  for (let r = 0; r < height; r++) for (let x = 0; x < width; x++) se += (got(x, r) - ref(x, r)) ** 2;
  const mse = se / (width * height);
  return mse === 0 ? Infinity : 10 * Math.log10((255 * 255) / mse);
}

const db = (v: number): string => (v === Infinity ? 'inf' : v.toFixed(1));

/**
 * The PSNR a decoded plane must reach. vicodec's FWHT is lossy: an 8x8 Walsh-Hadamard transform whose
 * coefficients are cut to a multiple of 4 (and more at the highest frequencies, quantize_intra's table)
 * and dropped when that is within the I-frame QP (default 20) of zero; the inverse rounds down. On this
 * picture the loss is small: the checkerboard is flat in every block, the vertical line and the
 * rectangles' edges are rows and columns of a block (their coefficients sit in the first row and
 * column, cut by 4 only), the gradients lose components of about a level; only the rectangles'
 * corners reach the coarse corner of the table. That is an error of a level or two RMS, about 40 dB
 * and up. Measured on 6.12 and 7.2 (the same on every kernel: the codec is deterministic): Y 50.6,
 * Cb 51.7, Cr 50.6 dB. 45 dB (an RMS error under 1.5 levels) keeps 5 dB of margin below that and
 * would catch a codec that got worse; what a wrong decode scores on this picture (printed in the
 * title: a flat grey frame 17.2, chroma planes swapped 19.9, the picture a block row off) is far
 * below it.
 */
const MIN_PSNR = 45;

/** Wait for a promise, or fail after ms with msg() (what was seen so far). */
async function within<T>(p: Promise<T>, ms: number, msg: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${msg()} (waited ${ms} ms)`)), ms); });
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}

function describeDq(d: Dequeued): string {
  return `index ${d.index} seq ${d.sequence} bytesUsed ${d.bytesUsed.join('/')} flags 0x${d.flags.toString(16)}${d.last ? ' last' : ''}${d.error ? ' error' : ''}`;
}

/** The FWHT header vicodec writes before each frame: magic, version, width, height, flags, ..., size (big-endian). */
function fwhtHeader(bytes: Uint8Array): { magic: string; version: number; width: number; height: number; flags: number; size: number } {
  const v = new DataView(bytes.buffer, bytes.byteOffset, 44);
  return { magic: Buffer.from(bytes.subarray(0, 8)).toString('hex'), version: v.getUint32(8), width: v.getUint32(12),
    height: v.getUint32(16), flags: v.getUint32(20), size: v.getUint32(40) };
}
const FWHT_HEADER_BYTES = 44;
const FWHT_MAGIC = '4f4f4f4fffffffff';

/** Set the encoder up for YU12 W x H in, FWHT out; the formats as the driver answered. */
function encoderFormats(enc: VideoDevice, log: string[]): { raw: ReturnType<VideoQueue['getFormat']>; coded: ReturnType<VideoQueue['getFormat']> } {
  const raw = enc.output!.setFormat({ width: W, height: H, format: 'YUV420' });
  log.push(`encoder output ${raw.width}x${raw.height} ${raw.fourcc} planes ${JSON.stringify(raw.planes)}`);
  enc.capture!.setFormat({ width: raw.width, height: raw.height, format: 'FWHT' });
  const coded = enc.capture!.getFormat();
  log.push(`encoder capture ${coded.width}x${coded.height} ${coded.fourcc} planes ${JSON.stringify(coded.planes)}`);
  assert.equal(raw.fourcc, 'YU12', `the encoder takes YU12 (${log.join('; ')})`);
  assert.deepEqual([raw.width, raw.height], [W, H], `the encoder keeps ${W}x${H} (${log.join('; ')})`);
  assert.equal(coded.fourcc, 'FWHT', `the encoder's capture is FWHT (${log.join('; ')})`);
  assert.equal(coded.format, FWHT);
  return { raw, coded };
}

/** Every plain control of the device as key=value, for the title and messages. */
function controlsLine(dev: VideoDevice): string {
  return dev.controls().filter((c) => c.type !== C.V4L2_CTRL_TYPE_BUTTON && c.type < C.V4L2_CTRL_COMPOUND_TYPES)
    .map((c) => {
      try {
        return `${c.key}=${String(dev.getControl(c.id))}`;
      } catch (e) {
        return `${c.key}=? (${(e as { code?: string }).code})`;
      }
    }).join(', ');
}

describe('v4l2 codecs: vicodec (FWHT) through the library', function () {
  // qemu without KVM runs the codec slowly
  this.timeout(300_000);

  it('encodes our YU12 dma-buf into its own FWHT buffer, whose dma-buf its stateful decoder decodes into ours: PSNR', async function () {
    const nodes = vicodec(this);
    needsUdmabuf(this);
    const log: string[] = [nodes.seen];
    const why = (): string => log.join('; ');
    using enc = v4l2.open(nodes.encoder);
    const controls = controlsLine(enc);
    log.push(`encoder controls: ${controls}`);
    const qp = enc.controls().find((c) => c.key.startsWith('fwht_i_frame_qp'));
    const { raw, coded } = encoderFormats(enc, log);
    const eo = enc.output!;
    const ec = enc.capture!;
    using src = Frame.allocate(eo.frameDescription(), { provider: 'udmabuf' });
    assert.deepEqual(src.planes.map((p) => p.pitch), [W, W / 2, W / 2], `our YU12 layout is the driver's (${why()})`);
    assert.equal(src.buffers[0]!.size >= raw.planes[0]!.size, true);
    fillSource(src);
    const rawSize = raw.planes[0]!.size;
    let encoded: Frame[] = [];
    let compressed = 0;
    let header: ReturnType<typeof fwhtHeader> | undefined;
    let path = '';
    const psnrs: string[] = [];
    try {
      // the encoder: our frame in (imported), its own buffers out (exported)
      eo.importBuffers(1);
      encoded = ec.exportBuffers(2);
      log.push(`encoder capture frames: ${encoded.map((f) => `${f.planes[0]!.size} bytes in a ${f.planes[0]!.buffer.size}-byte dma-buf`).join(', ')}`);
      eo.queue(src);
      ec.start();
      eo.start();
      const d = await ec.dequeue({ timeout: 60_000 });
      log.push(`encoded: ${describeDq(d)}`);
      const o = await eo.dequeue({ timeout: 60_000 });
      log.push(`source back: ${describeDq(o)}`);
      assert.equal(o.frame, src);
      assert.equal(d.error, false, `the encoder flagged no error (${why()})`);
      assert.equal(d.last, false);
      compressed = d.bytesUsed[0]!;
      assert.ok(compressed > FWHT_HEADER_BYTES && compressed < rawSize, `it compressed: ${compressed} bytes of ${rawSize} (${why()})`);
      const bitstream = d.frame;
      header = bitstream.access('read', ([p]) => fwhtHeader(p!));
      log.push(`header ${JSON.stringify(header)}`);
      assert.equal(header.magic, FWHT_MAGIC, `the buffer starts with FWHT's magic (${why()})`);
      assert.deepEqual([header.width, header.height], [W, H], `the header's size (${why()})`);
      assert.equal(FWHT_HEADER_BYTES + header.size, compressed, `bytesUsed is the header and the frame it announces (${why()})`);

      // the decoder: the encoder's dma-buf in, as it is (or a copy if its size is short of the decoder's)
      using dec = v4l2.open(nodes.decoder);
      const events: string[] = [];
      dec.on('event', (e) => events.push(`type ${e.type} id ${e.id} seq ${e.sequence}`));
      const changed = new Promise<{ changes: number }>((resolve) => dec.once('source-change', resolve));
      const dout = dec.output!;
      const dcap = dec.capture!;
      const inFmt = dout.setFormat({ width: W, height: H, format: 'FWHT' });
      log.push(`decoder output ${inFmt.width}x${inFmt.height} ${inFmt.fourcc} planes ${JSON.stringify(inFmt.planes)}`);
      assert.equal(inFmt.fourcc, 'FWHT');
      let input = bitstream;
      let copy: Frame | undefined;
      if (bitstream.planes[0]!.size >= inFmt.planes[0]!.size) {
        path = 'the encoder\'s dma-buf itself';
      } else {
        copy = Frame.allocate(dout.frameDescription(), { provider: 'udmabuf' });
        copy.access('write', ([to]) => bitstream.access('read', ([from]) => to!.set(from!.subarray(0, compressed))));
        input = copy;
        path = `a copy (the encoder's ${bitstream.planes[0]!.size} bytes < the decoder's sizeimage ${inFmt.planes[0]!.size})`;
      }
      log.push(`decoder input: ${path}`);
      try {
        dout.importBuffers(1);
        dout.queue(input, { bytesUsed: compressed });
        // the stateful decoder's start: it parses the header of the first OUTPUT buffer and signals a
        // source change; then the CAPTURE format is the stream's
        dout.start();
        const change = await within(changed, 60_000, () => `no source change from the decoder (events: ${events.join(', ') || 'none'}; ${why()})`);
        log.push(`source change 0x${change.changes.toString(16)}`);
        assert.equal(change.changes & C.V4L2_EVENT_SRC_CH_RESOLUTION, C.V4L2_EVENT_SRC_CH_RESOLUTION);
        const outFmt = dcap.getFormat();
        log.push(`decoder capture ${outFmt.width}x${outFmt.height} ${outFmt.fourcc} planes ${JSON.stringify(outFmt.planes)}`);
        assert.equal(outFmt.fourcc, 'YU12', `the decoder gives YU12, the source's format (${why()})`);
        assert.deepEqual([outFmt.width, outFmt.height], [W, H]);
        using dst = Frame.allocate(dcap.frameDescription(), { provider: 'udmabuf' });
        dst.access('write', (views) => { for (const v of views) v.fill(0xa5); });
        dcap.importBuffers(1);
        dcap.queue(dst);
        dcap.start();
        const got = await dcap.dequeue({ timeout: 60_000 });
        log.push(`decoded: ${describeDq(got)}`);
        const back = await dout.dequeue({ timeout: 60_000 });
        log.push(`bitstream back: ${describeDq(back)}`);
        assert.equal(got.frame, dst);
        assert.equal(back.frame, input);
        assert.equal(got.error, false, `the decoder flagged no error (${why()})`);
        assert.equal(got.last, false);
        assert.equal(got.flags & C.V4L2_BUF_FLAG_KEYFRAME, C.V4L2_BUF_FLAG_KEYFRAME, `the decoded frame is a key frame (${why()})`);
        assert.equal(got.bytesUsed[0], outFmt.planes[0]!.size);
        const refs = [lumaAt, cbAt, crAt];
        const names = ['Y', 'Cb', 'Cr'];
        const measured = dst.access('read', (views) => planesOf(dst, views, got.dataOffsets[0]).map((p, i) => psnr(p, refs[i]!)));
        // what wrong decodes would score against the same reference
        const wrong = [
          `grey ${db(psnrOf(W, H, () => 128, lumaAt))}`,
          `Cb for Cr ${db(psnrOf(W / 2, H / 2, cbAt, crAt))}`,
          `a block row off ${db(psnrOf(W, H, (x, y) => lumaAt(x, y + 8), lumaAt))}`,
        ];
        measured.forEach((v, i) => psnrs.push(`${names[i]} ${db(v)} dB`));
        log.push(`PSNR ${psnrs.join(', ')}; wrong decodes would score ${wrong.join(', ')}`);
        for (const w of [psnrOf(W, H, () => 128, lumaAt), psnrOf(W / 2, H / 2, cbAt, crAt), psnrOf(W, H, (x, y) => lumaAt(x, y + 8), lumaAt)]) {
          assert.ok(w < MIN_PSNR - 5, `the threshold separates decodes from mistakes (${why()})`);
        }
        measured.forEach((v, i) => assert.ok(v >= MIN_PSNR, `${names[i]}: ${db(v)} dB < ${MIN_PSNR} dB (${why()})`));
        this.test!.title += ` (${psnrs.join(', ')}; ${compressed} of ${rawSize} bytes; I-frame QP ${qp ? String(enc.getControl(qp.id)) : '?'}; ` +
          `input: ${path}; encoder controls: ${controls}; wrong decodes: ${wrong.join(', ')})`;
      } finally {
        dcap.release();
        dout.release();
        copy?.close();
      }
    } finally {
      ec.release();
      eo.release();
      for (const f of encoded) f.close();
    }
  });

  it('drains the encoder into our FWHT frames: \'stop\' gives the buffer flagged last, then EPIPE; a capture restart goes on', async function () {
    const nodes = vicodec(this);
    needsUdmabuf(this);
    const log: string[] = [nodes.seen];
    const why = (): string => log.join('; ');
    using enc = v4l2.open(nodes.encoder);
    const { raw, coded } = encoderFormats(enc, log);
    const eo = enc.output!;
    const ec = enc.capture!;
    const events: string[] = [];
    let eos = 0;
    enc.on('event', (e) => {
      events.push(`type ${e.type} seq ${e.sequence}`);
      if (e.type === C.V4L2_EVENT_EOS) eos++;
    });
    enc.subscribe(C.V4L2_EVENT_EOS);
    const sources = [0, 8, 16].map((shift) => {
      const f = Frame.allocate(eo.frameDescription(), { provider: 'udmabuf' });
      fillSource(f, shift);
      return f;
    });
    const codedDesc = ec.frameDescription();
    assert.deepEqual(codedDesc, { width: coded.width, height: coded.height, format: 'FWHT', size: coded.planes[0]!.size });
    const sinks = Array.from({ length: 4 }, () => Frame.allocate(codedDesc, { provider: 'udmabuf' }));
    const sizes: number[] = [];
    try {
      eo.importBuffers(sources.length);
      ec.importBuffers(sinks.length);
      for (const f of sinks) ec.queue(f);
      for (const f of sources) eo.queue(f);
      ec.start();
      eo.start();
      const got: Dequeued[] = [];
      for (let i = 0; i < sources.length; i++) {
        const d = await ec.dequeue({ timeout: 60_000 });
        log.push(`encoded ${i}: ${describeDq(d)}`);
        got.push(d);
      }
      for (let i = 0; i < sources.length; i++) log.push(`source back: ${describeDq(await eo.dequeue({ timeout: 60_000 }))}`);
      for (const d of got) {
        assert.equal(d.error, false, why());
        assert.equal(d.last, false, why());
        assert.ok(sinks.includes(d.frame), 'one of our frames');
        const n = d.bytesUsed[0]!;
        assert.ok(n > FWHT_HEADER_BYTES && n < raw.planes[0]!.size, `compressed: ${n} bytes (${why()})`);
        const h = d.frame.access('read', ([p]) => fwhtHeader(p!));
        assert.equal(h.magic, FWHT_MAGIC, why());
        sizes.push(n);
      }
      assert.deepEqual(got.map((d) => d.sequence), [0, 1, 2], `capture sequence numbers (${why()})`);
      // drain: nothing is left to encode, so a queued capture buffer comes back at once, flagged last
      for (const d of got) ec.queue(d.frame);
      assert.deepEqual(enc.encoderCommand('stop', { try: true }), { cmd: C.V4L2_ENC_CMD_STOP, flags: 0 });
      const stop = enc.encoderCommand('stop');
      log.push(`stop -> ${JSON.stringify(stop)}`);
      const last = await ec.dequeue({ timeout: 60_000 });
      log.push(`after stop: ${describeDq(last)}`);
      assert.equal(last.last, true, `the buffer after the drain is flagged V4L2_BUF_FLAG_LAST (${why()})`);
      assert.equal(last.flags & C.V4L2_BUF_FLAG_LAST, C.V4L2_BUF_FLAG_LAST);
      const epipe = await ec.dequeue({ timeout: 60_000 }).then((d) => d, (e: unknown) => e as Error & { code?: string; hint?: string });
      assert.ok(epipe instanceof Error, `DQBUF after the last buffer fails (got ${epipe instanceof Error ? '' : describeDq(epipe)}; ${why()})`);
      log.push(`then: ${epipe.message}`);
      assert.equal(epipe.code, 'EPIPE', `${epipe.message} (${why()})`);
      assert.match(epipe.hint ?? '', /V4L2_BUF_FLAG_LAST/);
      const deadline = Date.now() + 10_000;
      while (eos === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      log.push(`events: ${events.join(', ') || 'none'}`);
      assert.ok(eos > 0, `V4L2_EVENT_EOS after the drain (${why()})`);
      // 'start' takes the encoder out of its stopped state; the capture queue goes on after a restart
      const start = enc.encoderCommand('start');
      log.push(`start -> ${JSON.stringify(start)}`);
      ec.stop();
      for (const f of sinks.slice(0, 2)) ec.queue(f);
      ec.start();
      eo.queue(sources[0]!);
      const again = await ec.dequeue({ timeout: 60_000 });
      log.push(`after the restart: ${describeDq(again)}`);
      assert.equal(again.last, false, why());
      assert.equal(again.error, false, why());
      assert.ok(again.bytesUsed[0]! > FWHT_HEADER_BYTES, `it encodes again (${why()})`);
      await eo.dequeue({ timeout: 60_000 });
      this.test!.title += ` (sizes ${sizes.join(', ')} of ${raw.planes[0]!.size}; after stop: ${describeDq(last)}; ` +
        `events: ${events.join(', ')}; after the restart: ${again.bytesUsed[0]} bytes)`;
    } finally {
      ec.release();
      eo.release();
      for (const f of [...sources, ...sinks]) f.close();
    }
  });

  it('the stateless decoder\'s output is SFWH (FWHT_STATELESS), a coded format; the stateful ones refuse the other kind\'s command', function () {
    const nodes = vicodec(this);
    const log = [nodes.seen];
    if (nodes.stateless !== undefined) {
      using sl = v4l2.open(nodes.stateless);
      const f = sl.output!.formats();
      assert.deepEqual(f.map((x) => [x.fourcc, x.flags & C.V4L2_FMT_FLAG_COMPRESSED]), [['SFWH', C.V4L2_FMT_FLAG_COMPRESSED]], log.join('; '));
      assert.equal(f[0]!.format, formats.get('FWHT_STATELESS'));
      const set = sl.output!.setFormat({ width: W, height: H, format: 'FWHT_STATELESS' });
      assert.equal(set.fourcc, 'SFWH');
      const desc = sl.output!.frameDescription();
      assert.deepEqual(desc, { width: set.width, height: set.height, format: 'FWHT_STATELESS', size: set.planes[0]!.size });
      throwsCode(() => sl.decoderCommand('stop'), 'ENOTTY');
    } else if (!isMock()) {
      skip(this, `no stateless vicodec node (${nodes.seen})`);
    }
    using enc = v4l2.open(nodes.encoder);
    using dec = v4l2.open(nodes.decoder);
    // ENUM_FMT flags the coded formats compressed; the raw ones not
    const encCap = enc.capture!.formats();
    const decOut = dec.output!.formats();
    assert.deepEqual(encCap.map((f) => [f.fourcc, f.flags & C.V4L2_FMT_FLAG_COMPRESSED]), [['FWHT', C.V4L2_FMT_FLAG_COMPRESSED]], nodes.seen);
    assert.deepEqual(decOut.map((f) => [f.fourcc, f.flags & C.V4L2_FMT_FLAG_COMPRESSED]), [['FWHT', C.V4L2_FMT_FLAG_COMPRESSED]], nodes.seen);
    assert.ok(enc.output!.formats().every((f) => (f.flags & C.V4L2_FMT_FLAG_COMPRESSED) === 0 && f.format?.compressed !== true), nodes.seen);
    assert.ok(encCap.every((f) => f.format === FWHT));
    this.test!.title += ` (${nodes.seen}; decoder output flags 0x${decOut[0]!.flags.toString(16)})`;
    throwsCode(() => enc.decoderCommand('stop'), 'ENOTTY');
    throwsCode(() => dec.encoderCommand('stop'), 'ENOTTY');
    // not streaming: vicodec takes the command and does nothing
    assert.deepEqual(dec.decoderCommand('stop', { try: true }), { cmd: C.V4L2_DEC_CMD_STOP, flags: 0 });
    assert.deepEqual(enc.encoderCommand('stop', { try: true }), { cmd: C.V4L2_ENC_CMD_STOP, flags: 0 });
    assert.equal(dec.output!.getFormat().format?.compressed, true);
  });
});
