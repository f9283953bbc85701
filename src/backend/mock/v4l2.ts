/**
 * V4L2 in the mock kernel (native/v4l2.cc): a machine without video devices. Every V4L2 ioctl on an
 * fd the model knows answers what Linux answers for a V4L2 ioctl on a file that is not a video node
 * (foreignIoctl: ENOTTY, or EINVAL on a dma-heap, which dispatches by number), and EBADF on an fd
 * that is not open. G/S/TRY_EXT_CTRLS errors carry `index` as the addon's do: error_idx as the kernel
 * leaves it when no control was looked at (controls.length).
 *
 * The model of vivid comes next: its two instances as the VM loads them (vmalloc single-planar,
 * dma-contig multi-planar), with formats, buffers, streaming, controls and events.
 */
import type { Fd, V4l2ControlsError, V4l2Ops } from '../types';
import { foreignIoctl, type Machine } from './kernel';

/** The answer of a V4L2 ioctl on fd: there is no video node to take it. */
function noVideoNode(m: Machine, fd: Fd, ioctl: string): never {
  const syscall = `ioctl(${ioctl})`;
  throw foreignIoctl(m.get(fd, syscall), syscall);
}

/** The same for G/S/TRY_EXT_CTRLS, with error_idx as `index` (count: the ioctl reached no control). */
function noVideoNodeControls(m: Machine, fd: Fd, ioctl: string, count: number): never {
  try {
    noVideoNode(m, fd, ioctl);
  } catch (e) {
    throw Object.assign(e as V4l2ControlsError, { index: count });
  }
}

export function v4l2Ops(m: Machine): V4l2Ops {
  return {
    v4l2QueryCap: (fd) => noVideoNode(m, fd, 'VIDIOC_QUERYCAP'),
    v4l2EnumFmt: (fd) => noVideoNode(m, fd, 'VIDIOC_ENUM_FMT'),
    v4l2EnumFrameSizes: (fd) => noVideoNode(m, fd, 'VIDIOC_ENUM_FRAMESIZES'),
    v4l2GetFmt: (fd) => noVideoNode(m, fd, 'VIDIOC_G_FMT'),
    v4l2SetFmt: (fd, _format, tryOnly) => noVideoNode(m, fd, tryOnly ? 'VIDIOC_TRY_FMT' : 'VIDIOC_S_FMT'),
    v4l2ReqBufs: (fd) => noVideoNode(m, fd, 'VIDIOC_REQBUFS'),
    v4l2CreateBufs: (fd) => noVideoNode(m, fd, 'VIDIOC_CREATE_BUFS'),
    v4l2QueryBuf: (fd) => noVideoNode(m, fd, 'VIDIOC_QUERYBUF'),
    v4l2QBuf: (fd) => noVideoNode(m, fd, 'VIDIOC_QBUF'),
    v4l2PrepareBuf: (fd) => noVideoNode(m, fd, 'VIDIOC_PREPARE_BUF'),
    v4l2DqBuf: (fd) => noVideoNode(m, fd, 'VIDIOC_DQBUF'),
    v4l2ExpBuf: (fd) => noVideoNode(m, fd, 'VIDIOC_EXPBUF'),
    v4l2StreamOn: (fd) => noVideoNode(m, fd, 'VIDIOC_STREAMON'),
    v4l2StreamOff: (fd) => noVideoNode(m, fd, 'VIDIOC_STREAMOFF'),
    v4l2GetInput: (fd) => noVideoNode(m, fd, 'VIDIOC_G_INPUT'),
    v4l2SetInput: (fd) => noVideoNode(m, fd, 'VIDIOC_S_INPUT'),
    v4l2GetOutput: (fd) => noVideoNode(m, fd, 'VIDIOC_G_OUTPUT'),
    v4l2SetOutput: (fd) => noVideoNode(m, fd, 'VIDIOC_S_OUTPUT'),
    v4l2EnumInput: (fd) => noVideoNode(m, fd, 'VIDIOC_ENUMINPUT'),
    v4l2EnumOutput: (fd) => noVideoNode(m, fd, 'VIDIOC_ENUMOUTPUT'),
    v4l2QueryExtCtrl: (fd) => noVideoNode(m, fd, 'VIDIOC_QUERY_EXT_CTRL'),
    v4l2QueryMenu: (fd) => noVideoNode(m, fd, 'VIDIOC_QUERYMENU'),
    v4l2GetExtCtrls: (fd, _which, controls) => noVideoNodeControls(m, fd, 'VIDIOC_G_EXT_CTRLS', controls.length),
    v4l2SetExtCtrls: (fd, _which, controls, tryOnly) =>
      noVideoNodeControls(m, fd, tryOnly ? 'VIDIOC_TRY_EXT_CTRLS' : 'VIDIOC_S_EXT_CTRLS', controls.length),
    v4l2SubscribeEvent: (fd) => noVideoNode(m, fd, 'VIDIOC_SUBSCRIBE_EVENT'),
    v4l2UnsubscribeEvent: (fd) => noVideoNode(m, fd, 'VIDIOC_UNSUBSCRIBE_EVENT'),
    v4l2DqEvent: (fd) => noVideoNode(m, fd, 'VIDIOC_DQEVENT'),
  };
}
