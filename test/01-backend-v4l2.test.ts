/**
 * Backend contract, V4L2 (native/v4l2.cc), by direct ioctls on the backend the runner chose
 * (test/support/backend.ts). On the native backend in the VM: vivid as the VM loads it (n_devs=2
 * node_types=0x101,0x101 allocators=0,1 multiplanar=1,2): instance 0 (bus_info platform:vivid-000)
 * allocates with vmalloc and is single-planar, instance 1 (platform:vivid-001) with dma-contig and is
 * multi-planar; each has a capture and an output node, found by QUERYCAP among /dev/video*. The mock
 * models the same two instances (src/backend/mock/vivid.ts), so the device cases run there too; on a
 * host without vivid they skip, saying why, and in the VM they fail. The cases on files that are not
 * video nodes (ENOTTY, EBADF) and the argument refusals run on every backend.
 */
import assert from 'node:assert/strict';
import {
  O_CLOEXEC, O_NONBLOCK, O_RDWR, POLLIN, POLLPRI, V4L2_BUF_CAP_SUPPORTS_DMABUF, V4L2_BUF_CAP_SUPPORTS_MMAP,
  V4L2_BUF_FLAG_PREPARED, V4L2_BUF_FLAG_QUEUED, V4L2_BUF_FLAG_TIMESTAMP_MASK, V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC,
  V4L2_BUF_TYPE_VIDEO_CAPTURE, V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE, V4L2_CAP_DEVICE_CAPS, V4L2_CAP_STREAMING,
  V4L2_CAP_VIDEO_CAPTURE, V4L2_CAP_VIDEO_CAPTURE_MPLANE, V4L2_CAP_VIDEO_OUTPUT, V4L2_CTRL_COMPOUND_TYPES,
  V4L2_CTRL_FLAG_NEXT_COMPOUND, V4L2_CTRL_FLAG_NEXT_CTRL, V4L2_CTRL_TYPE_INTEGER64, V4L2_CTRL_TYPE_MENU,
  V4L2_CTRL_TYPE_STRING, V4L2_CTRL_WHICH_CUR_VAL, V4L2_EVENT_CTRL, V4L2_EVENT_CTRL_CH_VALUE,
  V4L2_EVENT_SOURCE_CHANGE, V4L2_EVENT_SRC_CH_RESOLUTION, V4L2_EVENT_SUB_FL_ALLOW_FEEDBACK, V4L2_FIELD_NONE,
  V4L2_FRMSIZE_TYPE_DISCRETE, V4L2_INPUT_TYPE_CAMERA, V4L2_MEMORY_DMABUF, V4L2_MEMORY_MMAP, V4L2_MEMORY_USERPTR,
  V4L2_DEC_CMD_START, V4L2_DEC_CMD_STOP, V4L2_ENC_CMD_START, V4L2_ENC_CMD_STOP,
} from '../src/constants';
import { fourccValue, isSystemError } from '../src/index';
import type {
  Fd, V4l2Buffer, V4l2Capability, V4l2ControlsError, V4l2PixFormat, V4l2QueryExtCtrl,
} from '../src/backend/types';
import { skip, throwsCode, throwsErrno } from './support/index';
import { useBackend } from './support/backend';

const XR24 = fourccValue('XR24'); // V4L2_PIX_FMT_XBGR32: bytes B, G, R, X
const NV12 = fourccValue('NV12');
const NM12 = fourccValue('NM12'); // V4L2_PIX_FMT_NV12M: Y and CbCr in two buffers
const MMAP = V4L2_MEMORY_MMAP;
const CUR = V4L2_CTRL_WHICH_CUR_VAL;
const V4L2_BUF_TYPE_VBI_CAPTURE = 4;
/** A number no fd of this process has. */
const NOT_OPEN = 999_999;
const ioctl = (name: string) => ({ syscall: `ioctl(${name})` });

/** A pixel format to try or set: the fields the driver adjusts left 0. */
function format(type: number, width: number, height: number, pixelformat: number): V4l2PixFormat {
  return {
    type, width, height, pixelformat, field: V4L2_FIELD_NONE, colorspace: 0, ycbcrEnc: 0, quantization: 0,
    xferFunc: 0, flags: 0, planes: [{ bytesperline: 0, sizeimage: 0 }],
  };
}

describe('backend: V4L2', function () {
  const t = useBackend();

  interface VideoNode {
    fd: Fd;
    path: string;
    cap: V4l2Capability;
  }

  /**
   * The vivid node of an instance whose device caps have one of `caps`, opened O_RDWR | O_NONBLOCK for
   * the test; a skip (a failure in the VM) when there is none.
   */
  function vividNode(ctx: Mocha.Context, instance: 0 | 1, caps: number): VideoNode {
    const { b } = t;
    const bus = `platform:vivid-00${instance}`;
    let names: string[] = [];
    try {
      names = b.readdir('/dev').filter((n) => /^video\d+$/.test(n)).sort((x, y) => Number(x.slice(5)) - Number(y.slice(5)));
    } catch { /* no /dev */ }
    for (const name of names) {
      const path = `/dev/${name}`;
      let fd: Fd;
      try {
        fd = b.open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
      } catch {
        continue;
      }
      let cap: V4l2Capability | undefined;
      try {
        cap = b.v4l2QueryCap(fd);
      } catch { /* not a V4L2 node */ }
      if (cap?.driver === 'vivid' && cap.busInfo === bus && (cap.deviceCaps & caps) !== 0) return { fd: t.keep(fd), path, cap };
      b.close(fd);
    }
    return skip(ctx, `no vivid node of ${bus} with device caps 0x${caps.toString(16)} among /dev/video* on the ` +
      `${b.name} backend`);
  }

  /** fn(0), fn(1), ... until the kernel's EINVAL past the last one. */
  function enumerate<T>(fn: (index: number) => T, syscall: string, max = 256): T[] {
    const out: T[] = [];
    for (let i = 0; i < max; i++) {
      try {
        out.push(fn(i));
      } catch (e) {
        if (isSystemError(e) && e.code === 'EINVAL' && e.syscall === syscall) return out;
        throw e;
      }
    }
    return assert.fail(`${syscall}: more than ${max} entries`);
  }

  /** QUERY_EXT_CTRL with `next` (NEXT_CTRL, and NEXT_COMPOUND) from id 0 until EINVAL. */
  function controls(fd: Fd, next: number): V4l2QueryExtCtrl[] {
    const out: V4l2QueryExtCtrl[] = [];
    let id = 0;
    for (let n = 0; n < 4096; n++) {
      let q: V4l2QueryExtCtrl;
      try {
        q = t.b.v4l2QueryExtCtrl(fd, (id | next) >>> 0);
      } catch (e) {
        if (isSystemError(e) && e.code === 'EINVAL' && e.syscall === 'ioctl(VIDIOC_QUERY_EXT_CTRL)') return out;
        throw e;
      }
      assert.ok(q.id > id, `QUERY_EXT_CTRL gives the next id: 0x${q.id.toString(16)} after 0x${id.toString(16)}`);
      out.push(q);
      id = q.id;
    }
    return assert.fail('QUERY_EXT_CTRL: more than 4096 controls');
  }

  function control(fd: Fd, name: string, type: number): V4l2QueryExtCtrl {
    const all = controls(fd, V4L2_CTRL_FLAG_NEXT_CTRL);
    const c = all.find((x) => x.name === name);
    assert.ok(c, `a control named '${name}' among ${all.map((x) => x.name).join(', ')}`);
    assert.equal(c.type, type, `'${name}' has type ${type}`);
    return c;
  }

  /** The current value of an i32 control, put back after the test. */
  function keepControl(fd: Fd, id: number): number {
    const { b } = t;
    const [before] = b.v4l2GetExtCtrls(fd, CUR, [{ id, kind: 'i32' }]);
    assert.equal(typeof before, 'number');
    t.defer(() => { b.v4l2SetExtCtrls(fd, CUR, [{ id, kind: 'i32', value: before }], false); });
    return before as number;
  }

  /**
   * Selects vivid's webcam input (its sizes are discrete: 320x240 becomes 320x180) and checks the
   * input ioctls on the way.
   */
  function webcamInput(fd: Fd): void {
    const { b } = t;
    const inputs = enumerate((i) => b.v4l2EnumInput(fd, i), 'ioctl(VIDIOC_ENUMINPUT)');
    inputs.forEach((inp, i) => assert.equal(inp.index, i));
    const webcam = inputs.find((inp) => inp.name.startsWith('Webcam'));
    assert.ok(webcam, `a webcam input among ${inputs.map((inp) => inp.name).join(', ')}`);
    assert.equal(webcam.type, V4L2_INPUT_TYPE_CAMERA);
    b.v4l2SetInput(fd, webcam.index);
    assert.equal(b.v4l2GetInput(fd), webcam.index);
  }

  /** ENUM_FMT of a type until EINVAL: the fourccs, each entry checked. */
  function formats(fd: Fd, type: number): number[] {
    const list = enumerate((i) => t.b.v4l2EnumFmt(fd, type, i), 'ioctl(VIDIOC_ENUM_FMT)');
    list.forEach((f, i) => {
      assert.equal(f.index, i);
      assert.equal(f.type, type);
      assert.ok(f.description.length > 0, `format ${i} has a description`);
    });
    return list.map((f) => f.pixelformat);
  }

  /**
   * TRY_FMT then S_FMT of want: both give the same, G_FMT too; returns it. The node's format is put
   * back after the test (its buffers freed first).
   */
  function setFormat(fd: Fd, want: V4l2PixFormat): V4l2PixFormat {
    const { b } = t;
    const original = b.v4l2GetFmt(fd, want.type);
    t.defer(() => {
      b.v4l2ReqBufs(fd, want.type, MMAP, 0);
      b.v4l2SetFmt(fd, original, false);
    });
    const tried = b.v4l2SetFmt(fd, want, true);
    assert.equal(tried.type, want.type);
    assert.equal(tried.pixelformat, want.pixelformat, 'TRY_FMT keeps a format the node has');
    assert.equal(tried.field, V4L2_FIELD_NONE, 'the webcam input is progressive');
    const set = b.v4l2SetFmt(fd, want, false);
    assert.deepEqual(set, tried, 'S_FMT sets what TRY_FMT tried');
    assert.deepEqual(b.v4l2GetFmt(fd, want.type), set, 'G_FMT reads it back');
    return set;
  }

  /** The webcam's discrete sizes of a format (ENUM_FRAMESIZES until EINVAL). */
  function frameSizes(fd: Fd, pixelformat: number): { width: number; height: number }[] {
    const sizes = enumerate((i) => t.b.v4l2EnumFrameSizes(fd, pixelformat, i), 'ioctl(VIDIOC_ENUM_FRAMESIZES)');
    assert.ok(sizes.length > 0, 'the webcam input has frame sizes');
    return sizes.map((s, i) => {
      assert.equal(s.index, i);
      assert.equal(s.pixelformat, pixelformat);
      assert.equal(s.type, V4L2_FRMSIZE_TYPE_DISCRETE, 'the webcam input\'s sizes are discrete');
      assert.ok(s.discrete);
      return s.discrete;
    });
  }

  /**
   * QUERYBUF of every buffer, with EXPBUF of each plane (a close-on-exec dma-buf of the plane's pages,
   * from videobuf2), checked against the format.
   */
  function queryAndExport(fd: Fd, type: number, count: number, fmt: V4l2PixFormat): V4l2Buffer[] {
    const { b } = t;
    const bufs: V4l2Buffer[] = [];
    for (let i = 0; i < count; i++) {
      const q = b.v4l2QueryBuf(fd, type, MMAP, i);
      assert.equal(q.index, i);
      assert.equal(q.type, type);
      assert.equal(q.memory, MMAP);
      assert.equal(q.flags & V4L2_BUF_FLAG_QUEUED, 0, 'not queued yet');
      assert.equal(q.planes.length, fmt.planes.length, 'a plane for each of the format\'s');
      q.planes.forEach((p, k) => {
        assert.ok(p.length >= fmt.planes[k].sizeimage, `buffer ${i} plane ${k}: ${p.length} bytes hold the image`);
        assert.ok(p.memOffset >= 0, 'MMAP: an mmap offset');
        assert.equal(p.fd, -1, 'MMAP: no fd');
        const dmabuf = t.keep(b.v4l2ExpBuf(fd, type, i, k, 0));
        assert.ok(t.isCloexec(dmabuf), 'EXPBUF without O_CLOEXEC: the fd is close-on-exec all the same');
        const size = b.fstat(dmabuf).size;
        assert.ok(size >= p.length && size % t.page === 0, `the dma-buf has the plane's pages (${size} bytes)`);
        assert.match(t.fdinfo(dmabuf).get('exp_name') ?? '', /^videobuf2_/, 'exported by videobuf2');
        t.close(dmabuf);
      });
      bufs.push(q);
    }
    const offsets = bufs.flatMap((q) => q.planes.map((p) => p.memOffset));
    assert.equal(new Set(offsets).size, offsets.length, 'every plane has its own mmap offset');
    return bufs;
  }

  /**
   * QBUF of every buffer (past the last index: EINVAL; DQBUF before STREAMON: EINVAL), STREAMON, a
   * pollAsync(POLLIN) and a DQBUF for each, DQBUF with nothing queued (null: EAGAIN), STREAMOFF.
   */
  async function stream(fd: Fd, type: number, bufs: V4l2Buffer[]): Promise<V4l2Buffer[]> {
    const { b } = t;
    const planes = (q: V4l2Buffer) => q.planes.map((p) => ({ bytesused: 0, length: p.length }));
    for (const q of bufs) {
      const queued = b.v4l2QBuf(fd, { type, memory: MMAP, index: q.index, planes: planes(q) });
      assert.equal(queued.index, q.index);
      assert.equal(queued.flags & V4L2_BUF_FLAG_QUEUED, V4L2_BUF_FLAG_QUEUED, 'QBUF: queued');
    }
    throwsErrno(() => b.v4l2QBuf(fd, { type, memory: MMAP, index: bufs.length, planes: planes(bufs[0]) }), 'EINVAL',
      ioctl('VIDIOC_QBUF'));
    throwsErrno(() => b.v4l2DqBuf(fd, type, MMAP), 'EINVAL', ioctl('VIDIOC_DQBUF')); // not streaming
    b.v4l2StreamOn(fd, type);
    const done: V4l2Buffer[] = [];
    try {
      while (done.length < bufs.length) {
        const revents = await b.pollAsync(fd, POLLIN, 10_000);
        assert.equal(revents & POLLIN, POLLIN, `a frame within 10 s (revents 0x${revents.toString(16)})`);
        const d = b.v4l2DqBuf(fd, type, MMAP);
        assert.ok(d, 'DQBUF after POLLIN has a buffer');
        done.push(d);
      }
      assert.equal(b.v4l2DqBuf(fd, type, MMAP), null, 'every buffer dequeued: DQBUF answers EAGAIN, null');
    } finally {
      b.v4l2StreamOff(fd, type);
    }
    done.forEach((d, i) => {
      assert.equal(d.type, type);
      assert.equal(d.memory, MMAP);
      assert.equal(d.flags & V4L2_BUF_FLAG_QUEUED, 0, 'dequeued');
      assert.equal(d.flags & V4L2_BUF_FLAG_TIMESTAMP_MASK, V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC, 'a monotonic timestamp');
      assert.ok(d.timestamp.sec > 0 || d.timestamp.usec > 0, 'the timestamp is set');
      assert.equal(d.field, V4L2_FIELD_NONE);
      if (i > 0) assert.ok(d.sequence > done[i - 1].sequence, 'frame sequence numbers grow');
      const q = bufs.find((x) => x.index === d.index);
      assert.ok(q, `DQBUF gives a buffer that was queued (index ${d.index})`);
      assert.equal(d.planes.length, q.planes.length);
      d.planes.forEach((p, k) => {
        assert.ok(p.bytesused > 0 && p.bytesused <= p.length, `plane ${k} holds a frame (${p.bytesused} bytes)`);
        assert.equal(p.memOffset, q.planes[k].memOffset);
      });
    });
    assert.deepEqual(done.map((d) => d.index).sort(), bufs.map((q) => q.index).sort(), 'each buffer once');
    return done;
  }

  describe('files that are not video nodes (every backend)', function () {
    /** One call of each V4L2 method with valid arguments, named by its ioctl. */
    function calls(fd: Fd): [string, () => unknown][] {
      const { b } = t;
      const fmt = format(V4L2_BUF_TYPE_VIDEO_CAPTURE, 320, 240, XR24);
      const buf = { type: V4L2_BUF_TYPE_VIDEO_CAPTURE, memory: MMAP, index: 0, planes: [{ bytesused: 0, length: 0 }] };
      const mp = V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE;
      return [
        ['VIDIOC_QUERYCAP', () => b.v4l2QueryCap(fd)],
        ['VIDIOC_ENUM_FMT', () => b.v4l2EnumFmt(fd, V4L2_BUF_TYPE_VIDEO_CAPTURE, 0)],
        ['VIDIOC_ENUM_FRAMESIZES', () => b.v4l2EnumFrameSizes(fd, XR24, 0)],
        ['VIDIOC_G_FMT', () => b.v4l2GetFmt(fd, mp)],
        ['VIDIOC_S_FMT', () => b.v4l2SetFmt(fd, fmt, false)],
        ['VIDIOC_TRY_FMT', () => b.v4l2SetFmt(fd, { ...fmt, type: mp }, true)],
        ['VIDIOC_REQBUFS', () => b.v4l2ReqBufs(fd, V4L2_BUF_TYPE_VIDEO_CAPTURE, MMAP, 2)],
        ['VIDIOC_CREATE_BUFS', () => b.v4l2CreateBufs(fd, MMAP, 1, fmt)],
        ['VIDIOC_QUERYBUF', () => b.v4l2QueryBuf(fd, mp, MMAP, 0)],
        ['VIDIOC_QBUF', () => b.v4l2QBuf(fd, buf)],
        ['VIDIOC_PREPARE_BUF', () => b.v4l2PrepareBuf(fd, { ...buf, type: mp, memory: V4L2_MEMORY_DMABUF,
          planes: [{ bytesused: 0, length: 0, fd }, { bytesused: 0, length: 0, dataOffset: 0, fd }] })],
        ['VIDIOC_DQBUF', () => b.v4l2DqBuf(fd, mp, MMAP)],
        ['VIDIOC_EXPBUF', () => b.v4l2ExpBuf(fd, V4L2_BUF_TYPE_VIDEO_CAPTURE, 0, 0, 0)],
        ['VIDIOC_STREAMON', () => b.v4l2StreamOn(fd, V4L2_BUF_TYPE_VIDEO_CAPTURE)],
        ['VIDIOC_STREAMOFF', () => b.v4l2StreamOff(fd, V4L2_BUF_TYPE_VIDEO_CAPTURE)],
        ['VIDIOC_G_INPUT', () => b.v4l2GetInput(fd)],
        ['VIDIOC_S_INPUT', () => b.v4l2SetInput(fd, 0)],
        ['VIDIOC_G_OUTPUT', () => b.v4l2GetOutput(fd)],
        ['VIDIOC_S_OUTPUT', () => b.v4l2SetOutput(fd, 0)],
        ['VIDIOC_ENUMINPUT', () => b.v4l2EnumInput(fd, 0)],
        ['VIDIOC_ENUMOUTPUT', () => b.v4l2EnumOutput(fd, 0)],
        ['VIDIOC_QUERY_EXT_CTRL', () => b.v4l2QueryExtCtrl(fd, V4L2_CTRL_FLAG_NEXT_CTRL)],
        ['VIDIOC_QUERYMENU', () => b.v4l2QueryMenu(fd, 1, 0)],
        ['VIDIOC_G_EXT_CTRLS', () => b.v4l2GetExtCtrls(fd, CUR, [{ id: 1, kind: 'string', size: 8 }])],
        ['VIDIOC_S_EXT_CTRLS', () => b.v4l2SetExtCtrls(fd, CUR, [{ id: 1, kind: 'i64', value: -1n }], false)],
        ['VIDIOC_TRY_EXT_CTRLS', () => b.v4l2SetExtCtrls(fd, CUR, [{ id: 1, kind: 'string', value: 'x' }], true)],
        ['VIDIOC_SUBSCRIBE_EVENT', () => b.v4l2SubscribeEvent(fd, V4L2_EVENT_CTRL, 1, 0)],
        ['VIDIOC_UNSUBSCRIBE_EVENT', () => b.v4l2UnsubscribeEvent(fd, V4L2_EVENT_CTRL, 1, 0)],
        ['VIDIOC_DQEVENT', () => b.v4l2DqEvent(fd)],
        ['VIDIOC_ENCODER_CMD', () => b.v4l2EncoderCmd(fd, V4L2_ENC_CMD_STOP, 0, false)],
        ['VIDIOC_TRY_ENCODER_CMD', () => b.v4l2EncoderCmd(fd, V4L2_ENC_CMD_STOP, 0, true)],
        ['VIDIOC_DECODER_CMD', () => b.v4l2DecoderCmd(fd, V4L2_DEC_CMD_STOP, 0, false)],
        ['VIDIOC_TRY_DECODER_CMD', () => b.v4l2DecoderCmd(fd, V4L2_DEC_CMD_START, 0, true)],
      ];
    }

    it('every V4L2 ioctl on a memfd is ENOTTY (DQBUF and DQEVENT too: not null), on an fd that is not open EBADF', function () {
      const memfd = t.memfd(t.page);
      for (const [name, call] of calls(memfd)) throwsErrno(call, 'ENOTTY', ioctl(name));
      for (const [name, call] of calls(NOT_OPEN)) throwsErrno(call, 'EBADF', ioctl(name));
    });

    it('G/S/TRY_EXT_CTRLS errors carry error_idx as index: controls.length when no control was reached', function () {
      const { b } = t;
      const memfd = t.memfd(t.page);
      const two = [{ id: 1, kind: 'i32' as const, value: 0 }, { id: 2, kind: 'i64' as const, value: 0n }];
      for (const [name, call] of [
        ['VIDIOC_G_EXT_CTRLS', () => b.v4l2GetExtCtrls(memfd, CUR, two)],
        ['VIDIOC_S_EXT_CTRLS', () => b.v4l2SetExtCtrls(memfd, CUR, two, false)],
        ['VIDIOC_TRY_EXT_CTRLS', () => b.v4l2SetExtCtrls(memfd, CUR, two, true)],
      ] as const) {
        assert.equal((throwsErrno(call, 'ENOTTY', ioctl(name)) as V4l2ControlsError).index, 2, name);
      }
      assert.equal((throwsErrno(() => b.v4l2GetExtCtrls(NOT_OPEN, CUR, []), 'EBADF') as V4l2ControlsError).index, 0);
    });

    it('USERPTR buffers and formats of other buffer types are refused before any ioctl (ERR_INVALID_ARG_VALUE)', function () {
      const { b } = t;
      const memfd = t.memfd(t.page); // an ioctl would answer ENOTTY
      const userptr = { type: V4L2_BUF_TYPE_VIDEO_CAPTURE, memory: V4L2_MEMORY_USERPTR, index: 0,
        planes: [{ bytesused: 0, length: 4096 }] };
      throwsCode(() => b.v4l2QBuf(memfd, userptr), 'ERR_INVALID_ARG_VALUE', TypeError);
      throwsCode(() => b.v4l2PrepareBuf(memfd, userptr), 'ERR_INVALID_ARG_VALUE', TypeError);
      throwsCode(() => b.v4l2GetFmt(memfd, V4L2_BUF_TYPE_VBI_CAPTURE), 'ERR_INVALID_ARG_VALUE', TypeError);
      throwsCode(() => b.v4l2SetFmt(memfd, format(V4L2_BUF_TYPE_VBI_CAPTURE, 320, 240, XR24), true), 'ERR_INVALID_ARG_VALUE',
        TypeError);
      // the queue ioctls take any type; their layout follows V4L2_TYPE_IS_MULTIPLANAR
      throwsErrno(() => b.v4l2ReqBufs(memfd, V4L2_BUF_TYPE_VBI_CAPTURE, MMAP, 1), 'ENOTTY', ioctl('VIDIOC_REQBUFS'));
      throwsErrno(() => b.v4l2DqBuf(memfd, V4L2_BUF_TYPE_VBI_CAPTURE, MMAP), 'ENOTTY', ioctl('VIDIOC_DQBUF'));
    });
  });

  describe('vivid', function () {
    this.timeout(120_000);

    it('QUERYCAP: vivid\'s capture and output nodes of both instances, with their device caps', function () {
      const cap0 = vividNode(this, 0, V4L2_CAP_VIDEO_CAPTURE);
      const cap1 = vividNode(this, 1, V4L2_CAP_VIDEO_CAPTURE_MPLANE);
      const out0 = vividNode(this, 0, V4L2_CAP_VIDEO_OUTPUT);
      for (const n of [cap0, cap1, out0]) {
        assert.notEqual(n.cap.capabilities & V4L2_CAP_DEVICE_CAPS, 0, `${n.path}: deviceCaps is set`);
        assert.equal(n.cap.deviceCaps & V4L2_CAP_STREAMING, V4L2_CAP_STREAMING, `${n.path} streams`);
        assert.equal(n.cap.capabilities & n.cap.deviceCaps, n.cap.deviceCaps, `${n.path}: the node's caps are the device's`);
        assert.ok(n.cap.card.length > 0 && n.cap.version > 0);
      }
      assert.equal(cap0.cap.deviceCaps & V4L2_CAP_VIDEO_CAPTURE_MPLANE, 0, 'instance 0 is single-planar');
      assert.equal(cap1.cap.deviceCaps & V4L2_CAP_VIDEO_CAPTURE, 0, 'instance 1 is multi-planar');
      assert.notEqual(cap0.path, out0.path);
    });

    it('vivid is no codec: (TRY_)ENCODER_CMD and (TRY_)DECODER_CMD are ENOTTY on its capture and output nodes', function () {
      const { b } = t;
      for (const n of [vividNode(this, 0, V4L2_CAP_VIDEO_CAPTURE), vividNode(this, 1, V4L2_CAP_VIDEO_CAPTURE_MPLANE),
        vividNode(this, 0, V4L2_CAP_VIDEO_OUTPUT)]) {
        for (const tryOnly of [false, true]) {
          throwsErrno(() => b.v4l2EncoderCmd(n.fd, V4L2_ENC_CMD_START, 0, tryOnly), 'ENOTTY',
            ioctl(tryOnly ? 'VIDIOC_TRY_ENCODER_CMD' : 'VIDIOC_ENCODER_CMD'));
          throwsErrno(() => b.v4l2DecoderCmd(n.fd, V4L2_DEC_CMD_STOP, 0, tryOnly), 'ENOTTY',
            ioctl(tryOnly ? 'VIDIOC_TRY_DECODER_CMD' : 'VIDIOC_DECODER_CMD'));
        }
      }
    });

    it('instance 0 (vmalloc, single-planar): ENUM_FMT, ENUM_FRAMESIZES, TRY/S_FMT XR24, REQBUFS, CREATE_BUFS, QUERYBUF, EXPBUF, streaming', async function () {
      const { b } = t;
      const type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
      const { fd } = vividNode(this, 0, V4L2_CAP_VIDEO_CAPTURE);
      webcamInput(fd);
      const fourccs = formats(fd, type);
      assert.ok(fourccs.includes(XR24) && fourccs.includes(NV12), 'XR24 and NV12 are among the formats');
      assert.ok(!fourccs.includes(NM12), 'formats with a buffer per plane need the multi-planar API');
      const sizes = frameSizes(fd, XR24);
      const fmt = setFormat(fd, format(type, 320, 240, XR24));
      assert.equal(fmt.width, 320, 'the nearest webcam size to 320x240 is 320 wide');
      assert.ok(sizes.some((s) => s.width === fmt.width && s.height === fmt.height), `${fmt.width}x${fmt.height} is a webcam size`);
      assert.equal(fmt.planes.length, 1);
      assert.equal(fmt.planes[0].bytesperline, fmt.width * 4);
      assert.equal(fmt.planes[0].sizeimage, fmt.planes[0].bytesperline * fmt.height);

      const rb = b.v4l2ReqBufs(fd, type, MMAP, 2);
      assert.ok(rb.count >= 2, `REQBUFS gives at least the 2 asked for (${rb.count})`);
      assert.equal(rb.capabilities & V4L2_BUF_CAP_SUPPORTS_MMAP, V4L2_BUF_CAP_SUPPORTS_MMAP);
      assert.equal(rb.capabilities & V4L2_BUF_CAP_SUPPORTS_DMABUF, V4L2_BUF_CAP_SUPPORTS_DMABUF);
      const cb = b.v4l2CreateBufs(fd, MMAP, 1, b.v4l2GetFmt(fd, type));
      assert.deepEqual([cb.index, cb.count], [rb.count, 1], 'CREATE_BUFS adds one after them');
      const bufs = queryAndExport(fd, type, rb.count + 1, fmt);
      const done = await stream(fd, type, bufs);
      for (const d of done) assert.equal(d.bytesused, fmt.planes[0].sizeimage, 'a whole frame');
      assert.equal(b.v4l2ReqBufs(fd, type, MMAP, 0).count, 0, 'REQBUFS 0 frees them');
    });

    it('instance 1 (dma-contig, multi-planar): TRY_FMT XR24 and NV12 (one plane), S_FMT NM12 (two), PREPARE_BUF, EXPBUF of each plane, streaming', async function () {
      const { b } = t;
      const type = V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE;
      const { fd } = vividNode(this, 1, V4L2_CAP_VIDEO_CAPTURE_MPLANE);
      webcamInput(fd);
      const fourccs = formats(fd, type);
      for (const f of [XR24, NV12, NM12]) assert.ok(fourccs.includes(f), `format 0x${f.toString(16)} is there`);
      const xr24 = b.v4l2SetFmt(fd, format(type, 320, 240, XR24), true);
      assert.equal(xr24.planes.length, 1);
      assert.equal(xr24.planes[0].bytesperline, xr24.width * 4);
      const nv12 = b.v4l2SetFmt(fd, format(type, 320, 240, NV12), true);
      assert.equal(nv12.planes.length, 1, 'NV12: both planes in one buffer');
      assert.equal(nv12.planes[0].sizeimage, nv12.width * nv12.height * 3 / 2);
      const fmt = setFormat(fd, format(type, 320, 240, NM12));
      assert.equal(fmt.width, 320);
      assert.deepEqual(fmt.planes, [
        { bytesperline: fmt.width, sizeimage: fmt.width * fmt.height },
        { bytesperline: fmt.width, sizeimage: fmt.width * fmt.height / 2 },
      ], 'NM12: Y, then CbCr at half the height');

      const rb = b.v4l2ReqBufs(fd, type, MMAP, 2);
      assert.ok(rb.count >= 2, `REQBUFS gives at least the 2 asked for (${rb.count})`);
      const bufs = queryAndExport(fd, type, rb.count, fmt);
      for (const q of bufs) assert.equal(q.length, 2, 'QUERYBUF reports two planes in length');
      const prepared = b.v4l2PrepareBuf(fd, { type, memory: MMAP, index: 0,
        planes: bufs[0].planes.map((p) => ({ bytesused: 0, length: p.length, dataOffset: 0 })) });
      assert.equal(prepared.flags & V4L2_BUF_FLAG_PREPARED, V4L2_BUF_FLAG_PREPARED, 'PREPARE_BUF: prepared');
      assert.equal(prepared.planes.length, 2);
      const done = await stream(fd, type, bufs);
      for (const d of done) {
        assert.equal(d.length, 2);
        assert.equal(d.bytesused, 0, 'multi-planar: the sizes are the planes\'');
        d.planes.forEach((p, k) => assert.equal(p.bytesused, fmt.planes[k].sizeimage, `plane ${k}: a whole frame`));
      }
      assert.equal(b.v4l2ReqBufs(fd, type, MMAP, 0).count, 0, 'REQBUFS 0 frees them');
    });

    it('inputs and outputs: ENUMINPUT / ENUMOUTPUT until EINVAL, G/S_INPUT, G/S_OUTPUT, the other direction ENOTTY', function () {
      const { b } = t;
      const cap = vividNode(this, 0, V4L2_CAP_VIDEO_CAPTURE).fd;
      const inputs = enumerate((i) => b.v4l2EnumInput(cap, i), 'ioctl(VIDIOC_ENUMINPUT)');
      const input = b.v4l2GetInput(cap);
      assert.ok(input < inputs.length);
      b.v4l2SetInput(cap, input);
      throwsErrno(() => b.v4l2SetInput(cap, inputs.length), 'EINVAL', ioctl('VIDIOC_S_INPUT'));
      throwsErrno(() => b.v4l2GetOutput(cap), 'ENOTTY', ioctl('VIDIOC_G_OUTPUT'));
      const out = vividNode(this, 0, V4L2_CAP_VIDEO_OUTPUT).fd;
      const outputs = enumerate((i) => b.v4l2EnumOutput(out, i), 'ioctl(VIDIOC_ENUMOUTPUT)');
      assert.ok(outputs.length > 0);
      outputs.forEach((o, i) => {
        assert.equal(o.index, i);
        assert.ok(o.name.length > 0);
      });
      const output = b.v4l2GetOutput(out);
      assert.ok(output < outputs.length);
      b.v4l2SetOutput(out, output);
      assert.equal(b.v4l2GetOutput(out), output);
      throwsErrno(() => b.v4l2SetOutput(out, outputs.length), 'EINVAL', ioctl('VIDIOC_S_OUTPUT'));
      throwsErrno(() => b.v4l2GetInput(out), 'ENOTTY', ioctl('VIDIOC_G_INPUT'));
    });

    it('controls: QUERY_EXT_CTRL until EINVAL, QUERYMENU, S/G_EXT_CTRLS of Test Pattern, error_idx of TRY and S, an i64 and a string control', function () {
      const { b } = t;
      const { fd } = vividNode(this, 0, V4L2_CAP_VIDEO_CAPTURE);
      const plain = controls(fd, V4L2_CTRL_FLAG_NEXT_CTRL);
      const all = controls(fd, V4L2_CTRL_FLAG_NEXT_CTRL | V4L2_CTRL_FLAG_NEXT_COMPOUND);
      assert.ok(plain.every((c) => c.type < V4L2_CTRL_COMPOUND_TYPES && c.nrOfDims === 0),
        'NEXT_CTRL alone: no compound or array control');
      assert.ok(all.length > plain.length, 'with NEXT_COMPOUND: vivid\'s array and compound controls too');
      for (const c of all) assert.equal(c.dims.length, Math.min(c.nrOfDims, 4));

      const tp = control(fd, 'Test Pattern', V4L2_CTRL_TYPE_MENU);
      assert.ok(tp.maximum >= 2n && tp.minimum === 0n, 'a menu of patterns');
      const item = b.v4l2QueryMenu(fd, tp.id, 1);
      assert.deepEqual([item.id, item.index], [tp.id, 1]);
      assert.ok(item.name.length > 0, `menu item 1 is named (${item.name})`);
      const before = keepControl(fd, tp.id);
      const next = before === 1 ? 2 : 1;
      assert.deepEqual(b.v4l2SetExtCtrls(fd, CUR, [{ id: tp.id, kind: 'i32', value: next }], false), [next]);
      assert.deepEqual(b.v4l2GetExtCtrls(fd, CUR, [{ id: tp.id, kind: 'i32' }]), [next], 'G_EXT_CTRLS reads it back');
      // a menu value past the maximum: ERANGE; TRY names the control (0), S none (count: nothing changed)
      const bad = [{ id: tp.id, kind: 'i32' as const, value: 0x7fffffff }];
      const tried = throwsErrno(() => b.v4l2SetExtCtrls(fd, CUR, bad, true), 'ERANGE', ioctl('VIDIOC_TRY_EXT_CTRLS'));
      assert.equal((tried as V4l2ControlsError).index, 0);
      const set = throwsErrno(() => b.v4l2SetExtCtrls(fd, CUR, bad, false), 'ERANGE', ioctl('VIDIOC_S_EXT_CTRLS'));
      assert.equal((set as V4l2ControlsError).index, 1);
      assert.deepEqual(b.v4l2GetExtCtrls(fd, CUR, [{ id: tp.id, kind: 'i32' }]), [next], 'unchanged');

      const i64 = control(fd, 'Integer 64 Bits', V4L2_CTRL_TYPE_INTEGER64);
      const [i64Before] = b.v4l2GetExtCtrls(fd, CUR, [{ id: i64.id, kind: 'i64' }]);
      assert.equal(typeof i64Before, 'bigint');
      t.defer(() => { b.v4l2SetExtCtrls(fd, CUR, [{ id: i64.id, kind: 'i64', value: i64Before }], false); });
      const big = -(2n ** 40n) - 3n;
      assert.deepEqual(b.v4l2SetExtCtrls(fd, CUR, [{ id: i64.id, kind: 'i64', value: big }], false), [big]);
      assert.deepEqual(b.v4l2GetExtCtrls(fd, CUR, [{ id: i64.id, kind: 'i64' }]), [big]);

      const str = control(fd, 'String', V4L2_CTRL_TYPE_STRING);
      assert.equal(BigInt(str.elemSize), str.maximum + 1n, 'a string control\'s element: maximum + 1 bytes');
      const size = str.elemSize;
      const [strBefore] = b.v4l2GetExtCtrls(fd, CUR, [{ id: str.id, kind: 'string', size }]);
      assert.equal(typeof strBefore, 'string');
      t.defer(() => { b.v4l2SetExtCtrls(fd, CUR, [{ id: str.id, kind: 'string', value: strBefore }], false); });
      const text = 'abc'.slice(0, Number(str.maximum));
      assert.deepEqual(b.v4l2SetExtCtrls(fd, CUR, [{ id: str.id, kind: 'string', value: text, size }], false), [text]);
      assert.deepEqual(b.v4l2GetExtCtrls(fd, CUR, [{ id: str.id, kind: 'string', size }]), [text]);
      // both at once, and a string buffer too small for the value: ENOSPC
      assert.deepEqual(b.v4l2GetExtCtrls(fd, CUR, [{ id: i64.id, kind: 'i64' }, { id: str.id, kind: 'string', size }]),
        [big, text]);
      throwsErrno(() => b.v4l2GetExtCtrls(fd, CUR, [{ id: str.id, kind: 'string', size: 1 }]), 'ENOSPC',
        ioctl('VIDIOC_G_EXT_CTRLS'));
    });

    it('events: DQEVENT with none pending is null; V4L2_EVENT_CTRL of Test Pattern, SOURCE_CHANGE of the webcam input', async function () {
      const { b } = t;
      const { fd } = vividNode(this, 0, V4L2_CAP_VIDEO_CAPTURE);
      webcamInput(fd);
      const input = b.v4l2GetInput(fd);
      assert.equal(b.v4l2DqEvent(fd), null, 'nothing pending: ENOENT, null');

      const tp = control(fd, 'Test Pattern', V4L2_CTRL_TYPE_MENU);
      const next = keepControl(fd, tp.id) === 1 ? 2 : 1;
      // ALLOW_FEEDBACK: this file is told of its own change
      b.v4l2SubscribeEvent(fd, V4L2_EVENT_CTRL, tp.id, V4L2_EVENT_SUB_FL_ALLOW_FEEDBACK);
      assert.equal(b.v4l2DqEvent(fd), null, 'no initial event without SEND_INITIAL');
      b.v4l2SetExtCtrls(fd, CUR, [{ id: tp.id, kind: 'i32', value: next }], false);
      assert.equal((await b.pollAsync(fd, POLLPRI, 5000)) & POLLPRI, POLLPRI, 'POLLPRI: an event is pending');
      const ev = b.v4l2DqEvent(fd);
      assert.ok(ev, 'DQEVENT gets it');
      assert.deepEqual([ev.type, ev.id, ev.pending], [V4L2_EVENT_CTRL, tp.id, 0]);
      assert.equal(ev.data.length, 64);
      const data = new DataView(ev.data.buffer, ev.data.byteOffset, ev.data.byteLength);
      assert.equal(data.getUint32(0, true) & V4L2_EVENT_CTRL_CH_VALUE, V4L2_EVENT_CTRL_CH_VALUE, 'v4l2_event_ctrl.changes');
      assert.equal(data.getUint32(4, true), V4L2_CTRL_TYPE_MENU, 'v4l2_event_ctrl.type');
      assert.equal(data.getInt32(8, true), next, 'v4l2_event_ctrl.value');
      assert.ok(ev.timestamp.sec > 0 || ev.timestamp.nsec > 0);
      assert.equal(b.v4l2DqEvent(fd), null);
      b.v4l2UnsubscribeEvent(fd, V4L2_EVENT_CTRL, tp.id, 0);

      // vivid signals a source change of its inputs when the colorspace it generates changes
      const cs = control(fd, 'Colorspace', V4L2_CTRL_TYPE_MENU);
      const csNext = keepControl(fd, cs.id) === 1 ? 2 : 1;
      b.v4l2SubscribeEvent(fd, V4L2_EVENT_SOURCE_CHANGE, input, 0);
      b.v4l2SetExtCtrls(fd, CUR, [{ id: cs.id, kind: 'i32', value: csNext }], false);
      const sc = b.v4l2DqEvent(fd);
      assert.ok(sc, 'a source change event');
      assert.deepEqual([sc.type, sc.id], [V4L2_EVENT_SOURCE_CHANGE, input]);
      assert.equal(new DataView(sc.data.buffer, sc.data.byteOffset, 4).getUint32(0, true), V4L2_EVENT_SRC_CH_RESOLUTION);
      b.v4l2UnsubscribeEvent(fd, V4L2_EVENT_SOURCE_CHANGE, input, 0);
      assert.equal(b.v4l2DqEvent(fd), null);
    });
  });
});
