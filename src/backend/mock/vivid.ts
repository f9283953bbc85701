/// <reference types="node" preserve="true" />
/**
 * vivid, the kernel's virtual video driver, in the mock kernel (drivers/media/test-drivers/vivid/,
 * videobuf2 in drivers/media/common/videobuf2/, the control and event cores of v4l2-core/), as the
 * VM loads it by default: `n_devs=2 node_types=0x101,0x101 allocators=0,1 multiplanar=1,2`. Each
 * instance has a capture node and an output node (/dev/video0 and 1 for platform:vivid-000,
 * vmalloc, single-planar; /dev/video2 and 3 for platform:vivid-001, dma-contig, multi-planar;
 * MockOptions.video changes the instances). The ioctls themselves are mock/v4l2.ts.
 *
 * Modelled:
 * - QUERYCAP: driver and card 'vivid', bus 'platform:vivid-00N', the capabilities vivid sets for
 *   these node types (capture: VIDEO_CAPTURE[_MPLANE], READWRITE, STREAMING, AUDIO, TUNER, and
 *   VIDEO_OVERLAY on the single-planar instance; output: VIDEO_OUTPUT[_MPLANE], READWRITE,
 *   STREAMING, AUDIO), EXT_PIX_FORMAT added by the V4L2 core, version = the kernel's.
 * - Formats: vivid_formats[] in its order (83 formats, 10 more with the multi-planar API), the
 *   CSC flags of ENUM_FMT on capture, vivid's TRY/S_FMT arithmetic (bytesperline clamped between the
 *   width's and MAX_ZOOM * MAX_WIDTH's, sizeimage with the other planes of a one-buffer format added,
 *   the 128-byte data offsets of NM16 and NM61 planes, YUYV's zeroed when a single-planar instance
 *   exists), unknown formats becoming YUYV, the inputs' sizes (the webcam's six discrete sizes by
 *   v4l2_find_nearest_size; TV and S-Video 720x576 interlaced; HDMI 1280x720), EBUSY with buffers,
 *   ENOTTY for the other API's types, EINVAL for the other direction's.
 * - Inputs Webcam 0, TV 0, S-Video 0, HDMI 0 and outputs S-Video 0, HDMI 0 (the module's defaults);
 *   switching sets the input's size, field and Colorspace (and the Brightness range) as vivid does.
 * - videobuf2: REQBUFS (at least 2 buffers; count 0 frees; capabilities MMAP, DMABUF, USERPTR on
 *   vmalloc, REQUESTS, ORPHANED_BUFS, MAX_NUM_BUFFERS, REMOVE_BUFS), CREATE_BUFS, QUERYBUF (mmap
 *   offsets as index << (PAGE_SHIFT + 3) | plane << PAGE_SHIFT), PREPARE_BUF, QBUF, DQBUF, EXPBUF
 *   (a new dma-buf of the plane's pages per call, exporter videobuf2_vmalloc or
 *   videobuf2_dma_contig, valid after the queue or the file is gone), STREAMON/OFF, the queue's owner
 *   (EBUSY for another file), the checks and errno of vb2 and of vivid's buf_prepare (sizes,
 *   planes, states), DMABUF import (EINVAL for a plane smaller than the format's, EFAULT for a
 *   dma-buf smaller than the length given, and on vb2-dma-contig EFAULT for memory that is not
 *   physically contiguous: everything but CMA heap buffers, vb2-dma-contig planes and one-page
 *   buffers), mmap() of MMAP planes on the video fd, closing the file releasing the queue.
 * - Streaming: vivid's min_queued_buffers is 0 (it supports requests): STREAMON starts at once;
 *   the capture thread fills the oldest queued buffer every frame (frames without a buffer are
 *   dropped, their sequence numbers skipped), the output thread takes the oldest queued buffer only
 *   while another one is queued behind it (vivid keeps the last for loopback: an output queue with
 *   one buffer never completes it). Buffers complete with sequence numbers from 0, CLOCK_MONOTONIC
 *   timestamps (V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC) and the queue's field. poll: POLLIN/POLLOUT with
 *   a buffer done, POLLERR when the queue does not stream (for the direction asked), POLLPRI with
 *   an event pending.
 * - Capture content: mock/tpg.ts, vivid's picture for the colour bar and solid colour patterns in
 *   the formats it lists, checked against frames captured from vivid (see there), without the OSD text;
 *   the bytes before a plane's data offset are left as they are.
 * - Loops: an HDMI or S-Video input whose "Is Connected To" control names an output of the same
 *   kind shows what that output shows (the oldest buffer queued on it, bytes copied as they are)
 *   when both have the same format and size; otherwise, and for "None", the test pattern.
 * - Controls: the capture node's User, Vivid and Digital Video controls that vivid creates for these
 *   node types (not the error injection ones: Disconnect, Inject ..., Percentage of Dropped Buffers,
 *   Wrap ...), the output node's, with their types, ranges, steps, defaults, flags, menus (skip
 *   masks, empty items), dims of the array and compound controls; QUERY_EXT_CTRL with NEXT_CTRL and
 *   NEXT_COMPOUND, QUERYMENU, G/S/TRY_EXT_CTRLS with the control core's checks, rounding, ERANGE,
 *   EACCES, ENOSPC and error_idx (the failing control for G and TRY, count for S when nothing was
 *   set), which = a control class.
 * - Events: SUBSCRIBE/UNSUBSCRIBE_EVENT of V4L2_EVENT_CTRL (SEND_INITIAL, ALLOW_FEEDBACK, one
 *   event per subscription, merged when a newer one replaces it) and V4L2_EVENT_SOURCE_CHANGE on the
 *   capture node (sent per input when Colorspace, Transfer Function, Y'CbCr Encoding, Quantization or
 *   HSV Encoding changes), DQEVENT with pending counts, per-file sequence numbers and timestamps.
 *
 * Not modelled (the mock differs from vivid here):
 * - Frame rate: vivid's webcam runs at 5 frames per second by default (200 ms a frame), its S-Video
 *   output at 25; the mock completes a frame every MockOptions.video.frameMs (default 10 ms) on
 *   every queue, so that tests stream fast. S_PARM, ENUM_FRAMEINTERVALS, standards, DV timings,
 *   EDID, selection (crop, compose, scaler), overlays, VBI, radio, SDR, metadata, touch, CEC and the
 *   read()/write() I/O emulation are not modelled (ENOTTY), nor are requests, USERPTR (the library
 *   refuses it anyway), REMOVE_BUFS, cache hints, the OSD text,
 *   movement, border, square, fill percentage and the effect of Sensor flips' input status bits.
 * - Array and compound controls are listed, but their payload is not kept: G_EXT_CTRLS reads zeros.
 */
import { O_ACCMODE, O_CLOEXEC } from '../../constants';
import type { ErrnoName } from '../../errno';
import { systemError } from '../../errors';
import { Bo, type DmabufFile, type Driver, kernelAtLeast, type Machine, makedev, newDmabuf, type VideoFile } from './kernel';
import { Store } from './pages';
import { CS, FOURCC, FOURCC_BE, renderFrame, TPG_PATTERN_NAMES, type TpgState } from './tpg';

// ---- uapi numbers the model needs (videodev2.h) ------------------------------------------------------

export const BUF_TYPE = { CAPTURE: 1, OUTPUT: 2, CAPTURE_MPLANE: 9, OUTPUT_MPLANE: 10 } as const;
export const MEMORY = { MMAP: 1, USERPTR: 2, OVERLAY: 3, DMABUF: 4 } as const;
export const FIELD = { ANY: 0, NONE: 1, TOP: 2, BOTTOM: 3, INTERLACED: 4, SEQ_TB: 5, SEQ_BT: 6, ALTERNATE: 7,
  INTERLACED_TB: 8, INTERLACED_BT: 9 } as const;
const CAP = { VIDEO_CAPTURE: 0x1, VIDEO_OUTPUT: 0x2, VIDEO_OVERLAY: 0x4, VIDEO_CAPTURE_MPLANE: 0x1000,
  VIDEO_OUTPUT_MPLANE: 0x2000, TUNER: 0x10000, AUDIO: 0x20000, EXT_PIX_FORMAT: 0x200000, READWRITE: 0x1000000,
  STREAMING: 0x4000000, DEVICE_CAPS: 0x80000000 } as const;
const BUF_CAP = { MMAP: 1 << 0, USERPTR: 1 << 1, DMABUF: 1 << 2, REQUESTS: 1 << 3, ORPHANED_BUFS: 1 << 4,
  MAX_NUM_BUFFERS: 1 << 7, REMOVE_BUFS: 1 << 8 } as const;
export const BUF_FLAG = { MAPPED: 0x1, QUEUED: 0x2, DONE: 0x4, ERROR: 0x40, PREPARED: 0x400, TIMESTAMP_MONOTONIC: 0x2000 } as const;
const FMT_FLAG = { CSC_COLORSPACE: 0x20, CSC_XFER_FUNC: 0x40, CSC_YCBCR_ENC: 0x80, CSC_QUANTIZATION: 0x100 } as const;
export const CTRL_TYPE = { INTEGER: 1, BOOLEAN: 2, MENU: 3, BUTTON: 4, INTEGER64: 5, CTRL_CLASS: 6, STRING: 7,
  BITMASK: 8, INTEGER_MENU: 9, COMPOUND_TYPES: 0x100, U8: 0x100, U16: 0x101, U32: 0x102, AREA: 0x106 } as const;
export const CTRL_FLAG = { DISABLED: 0x1, READ_ONLY: 0x4, UPDATE: 0x8, INACTIVE: 0x10, SLIDER: 0x20,
  WRITE_ONLY: 0x40, VOLATILE: 0x80, HAS_PAYLOAD: 0x100, EXECUTE_ON_WRITE: 0x200, DYNAMIC_ARRAY: 0x800 } as const;
export const EVENT = { ALL: 0, CTRL: 3, SOURCE_CHANGE: 5, SUB_FL_SEND_INITIAL: 1, SUB_FL_ALLOW_FEEDBACK: 2,
  CTRL_CH_VALUE: 1, CTRL_CH_FLAGS: 2, CTRL_CH_RANGE: 4, SRC_CH_RESOLUTION: 1 } as const;
const VIDEO_MAJOR = 81;
const MAX_WIDTH = 4096;
const MAX_HEIGHT = 2160;
const MAX_ZOOM = 4;
const MIN_WIDTH = 16;
const MIN_HEIGHT = 16;
const PLANE0_DATA_OFFSET = 128;
/** vivid: MAX_VID_CAP_BUFFERS (vb2's max_num_buffers for its video queues) */
const MAX_BUFFERS = 64;

// ---- options --------------------------------------------------------------------------------------------

export interface VividInstanceOptions {
  /** multiplanar=2: the multi-planar API (default: instance 1 of the default two) */
  multiplanar: boolean;
  /** allocators=0 (vmalloc) or 1 (dma-contig) */
  allocator: 'vmalloc' | 'dma-contig';
}

export interface ResolvedVideoOptions {
  instances: VividInstanceOptions[];
  /** The mock's frame period on every queue (vivid: its input's or output's frame rate). */
  frameMs: number;
}

// ---- formats (vivid-vid-common.c: vivid_formats[]) -------------------------------------------------------

type Enc = 'rgb' | 'yuv' | 'luma' | 'hsv';
export interface VividFormat {
  code: number;
  fourcc: string;
  description: string;
  bitDepth: number[];
  vdown: number[];
  planes: number;
  buffers: number;
  enc: Enc;
  dataOffset: number[];
}

type Row = [string | [string, 'be'], number[], number[], number, number, Enc, string];
/** a format of one plane in one buffer */
const one = (fc: Row[0], bits: number, enc: Enc, description: string): Row => [fc, [bits], [1], 1, 1, enc, description];
const ROWS: Row[] = [
  one('YUYV', 16, 'yuv', 'YUYV 4:2:2'),
  one('UYVY', 16, 'yuv', 'UYVY 4:2:2'),
  one('YVYU', 16, 'yuv', 'YVYU 4:2:2'),
  one('VYUY', 16, 'yuv', 'VYUY 4:2:2'),
  ['422P', [8, 4, 4], [1, 1, 1], 3, 1, 'yuv', 'Planar YUV 4:2:2'],
  ['YU12', [8, 4, 4], [1, 2, 2], 3, 1, 'yuv', 'Planar YUV 4:2:0'],
  ['YV12', [8, 4, 4], [1, 2, 2], 3, 1, 'yuv', 'Planar YVU 4:2:0'],
  ['NV12', [8, 8], [1, 2], 2, 1, 'yuv', 'Y/UV 4:2:0'],
  ['NV21', [8, 8], [1, 2], 2, 1, 'yuv', 'Y/VU 4:2:0'],
  ['NV16', [8, 8], [1, 1], 2, 1, 'yuv', 'Y/UV 4:2:2'],
  ['NV61', [8, 8], [1, 1], 2, 1, 'yuv', 'Y/VU 4:2:2'],
  ['NV24', [8, 16], [1, 1], 2, 1, 'yuv', 'Y/UV 4:4:4'],
  ['NV42', [8, 16], [1, 1], 2, 1, 'yuv', 'Y/VU 4:4:4'],
  one('YUVO', 16, 'rgb', '16-bit A/XYUV 1-5-5-5'),
  one('YUVP', 16, 'rgb', '16-bit YUV 5-6-5'),
  one('Y444', 16, 'rgb', '16-bit A/XYUV 4-4-4-4'),
  one('YUV4', 32, 'rgb', '32-bit A/XYUV 8-8-8-8'),
  one('AYUV', 32, 'rgb', '32-bit AYUV 8-8-8-8'),
  one('XYUV', 32, 'rgb', '32-bit XYUV 8-8-8-8'),
  one('VUYA', 32, 'rgb', '32-bit VUYA 8-8-8-8'),
  one('VUYX', 32, 'rgb', '32-bit VUYX 8-8-8-8'),
  one('YUVA', 32, 'rgb', '32-bit YUVA 8-8-8-8'),
  one('YUVX', 32, 'rgb', '32-bit YUVX 8-8-8-8'),
  one('GREY', 8, 'luma', '8-bit Greyscale'),
  ['Y10 ', [16], [1], 1, 1, 'luma', '10-bit Greyscale'],
  ['Y12 ', [16], [1], 1, 1, 'luma', '12-bit Greyscale'],
  ['Y16 ', [16], [1], 1, 1, 'luma', '16-bit Greyscale'],
  one(['Y16 ', 'be'], 16, 'luma', '16-bit Greyscale BE'),
  one('RGB1', 8, 'rgb', '8-bit RGB 3-3-2'),
  one('RGBP', 16, 'rgb', '16-bit RGB 5-6-5'),
  one('RGBR', 16, 'rgb', '16-bit RGB 5-6-5 BE'),
  one('R444', 16, 'rgb', '16-bit A/XRGB 4-4-4-4'),
  one('XR12', 16, 'rgb', '16-bit XRGB 4-4-4-4'),
  one('AR12', 16, 'rgb', '16-bit ARGB 4-4-4-4'),
  one('RX12', 16, 'rgb', '16-bit RGBX 4-4-4-4'),
  one('RA12', 16, 'rgb', '16-bit RGBA 4-4-4-4'),
  one('XB12', 16, 'rgb', '16-bit XBGR 4-4-4-4'),
  one('AB12', 16, 'rgb', '16-bit ABGR 4-4-4-4'),
  one('BX12', 16, 'rgb', '16-bit BGRX 4-4-4-4'),
  one('GA12', 16, 'rgb', '16-bit BGRA 4-4-4-4'), // V4L2_PIX_FMT_BGRA444: 'BA12' is 12-bit Bayer
  one('RGBO', 16, 'rgb', '16-bit A/XRGB 1-5-5-5'),
  one('XR15', 16, 'rgb', '16-bit XRGB 1-5-5-5'),
  one('AR15', 16, 'rgb', '16-bit ARGB 1-5-5-5'),
  one('RX15', 16, 'rgb', '16-bit RGBX 5-5-5-1'),
  one('RA15', 16, 'rgb', '16-bit RGBA 5-5-5-1'),
  one('XB15', 16, 'rgb', '16-bit XBGR 1-5-5-5'),
  one('AB15', 16, 'rgb', '16-bit ABGR 1-5-5-5'),
  one('BX15', 16, 'rgb', '16-bit BGRX 5-5-5-1'),
  one('BA15', 16, 'rgb', '16-bit BGRA 5-5-5-1'),
  one('RGBQ', 16, 'rgb', '16-bit A/XRGB 1-5-5-5 BE'),
  one(['XR15', 'be'], 16, 'rgb', '16-bit XRGB 1-5-5-5 BE'),
  one(['AR15', 'be'], 16, 'rgb', '16-bit ARGB 1-5-5-5 BE'),
  one('RGB3', 24, 'rgb', '24-bit RGB 8-8-8'),
  one('BGR3', 24, 'rgb', '24-bit BGR 8-8-8'),
  one('BGRH', 32, 'rgb', '18-bit BGRX 6-6-6-14'),
  one('RGB4', 32, 'rgb', '32-bit A/XRGB 8-8-8-8'),
  one('BGR4', 32, 'rgb', '32-bit BGRA/X 8-8-8-8'),
  one('BX24', 32, 'rgb', '32-bit XRGB 8-8-8-8'),
  one('XR24', 32, 'rgb', '32-bit BGRX 8-8-8-8'),
  one('BA24', 32, 'rgb', '32-bit ARGB 8-8-8-8'),
  one('AR24', 32, 'rgb', '32-bit BGRA 8-8-8-8'),
  one('XB24', 32, 'rgb', '32-bit RGBX 8-8-8-8'),
  one('RX24', 32, 'rgb', '32-bit XBGR 8-8-8-8'),
  one('AB24', 32, 'rgb', '32-bit RGBA 8-8-8-8'),
  one('RA24', 32, 'rgb', '32-bit ABGR 8-8-8-8'),
  one('BA81', 8, 'rgb', '8-bit Bayer BGBG/GRGR'),
  one('GBRG', 8, 'rgb', '8-bit Bayer GBGB/RGRG'),
  one('GRBG', 8, 'rgb', '8-bit Bayer GRGR/BGBG'),
  one('RGGB', 8, 'rgb', '8-bit Bayer RGRG/GBGB'),
  one('BG10', 16, 'rgb', '10-bit Bayer BGBG/GRGR'),
  one('GB10', 16, 'rgb', '10-bit Bayer GBGB/RGRG'),
  one('BA10', 16, 'rgb', '10-bit Bayer GRGR/BGBG'),
  one('RG10', 16, 'rgb', '10-bit Bayer RGRG/GBGB'),
  one('BG12', 16, 'rgb', '12-bit Bayer BGBG/GRGR'),
  one('GB12', 16, 'rgb', '12-bit Bayer GBGB/RGRG'),
  one('BA12', 16, 'rgb', '12-bit Bayer GRGR/BGBG'),
  one('RG12', 16, 'rgb', '12-bit Bayer RGRG/GBGB'),
  one('BYR2', 16, 'rgb', '16-bit Bayer BGBG/GRGR'),
  one('GB16', 16, 'rgb', '16-bit Bayer GBGB/RGRG'),
  one('GR16', 16, 'rgb', '16-bit Bayer GRGR/BGBG'),
  one('RG16', 16, 'rgb', '16-bit Bayer RGRG/GBGB'),
  one('HSV3', 24, 'hsv', '24-bit HSV 8-8-8'),
  one('HSV4', 32, 'hsv', '32-bit XHSV 8-8-8-8'),
  // the multi-planar formats (VIVID_MPLANAR_FORMATS)
  ['NM16', [8, 8], [1, 1], 2, 2, 'yuv', 'Y/UV 4:2:2 (N-C)'],
  ['NM61', [8, 8], [1, 1], 2, 2, 'yuv', 'Y/VU 4:2:2 (N-C)'],
  ['YM12', [8, 4, 4], [1, 2, 2], 3, 3, 'yuv', 'Planar YUV 4:2:0 (N-C)'],
  ['YM21', [8, 4, 4], [1, 2, 2], 3, 3, 'yuv', 'Planar YVU 4:2:0 (N-C)'],
  ['NM12', [8, 8], [1, 2], 2, 2, 'yuv', 'Y/UV 4:2:0 (N-C)'],
  ['NM21', [8, 8], [1, 2], 2, 2, 'yuv', 'Y/VU 4:2:0 (N-C)'],
  ['YM16', [8, 4, 4], [1, 1, 1], 3, 3, 'yuv', 'Planar YUV 4:2:2 (N-C)'],
  ['YM61', [8, 4, 4], [1, 1, 1], 3, 3, 'yuv', 'Planar YVU 4:2:2 (N-C)'],
  ['YM24', [8, 8, 8], [1, 1, 1], 3, 3, 'yuv', 'Planar YUV 4:4:4 (N-C)'],
  ['YM42', [8, 8, 8], [1, 1, 1], 3, 3, 'yuv', 'Planar YVU 4:4:4 (N-C)'],
];
const MPLANAR_FORMATS = 10;
const DATA_OFFSETS: Record<string, number[]> = { YUYV: [PLANE0_DATA_OFFSET], NM16: [PLANE0_DATA_OFFSET, 0],
  NM61: [0, PLANE0_DATA_OFFSET] };

/** vivid_formats[] for a machine: YUYV's data offset is zeroed by the first single-planar instance. */
function vividFormats(anySinglePlanar: boolean): VividFormat[] {
  return ROWS.map(([fc, bitDepth, vdown, planes, buffers, enc, description]) => {
    const fourcc = typeof fc === 'string' ? fc : fc[0];
    const code = typeof fc === 'string' ? FOURCC(fc) : FOURCC_BE(fc[0]);
    let dataOffset = [...(DATA_OFFSETS[typeof fc === 'string' ? fc : ''] ?? [])];
    if (fourcc === 'YUYV' && anySinglePlanar) dataOffset = [0];
    while (dataOffset.length < 3) dataOffset.push(0);
    return { code, fourcc, description, bitDepth, vdown, planes, buffers, enc, dataOffset };
  });
}

// ---- the inputs and outputs (vivid's module defaults: input_types 0xe4, output_types 0x02) -----------------

type InputType = 'webcam' | 'tv' | 'svid' | 'hdmi';
const INPUTS: InputType[] = ['webcam', 'tv', 'svid', 'hdmi'];
const OUTPUTS: ('svid' | 'hdmi')[] = ['svid', 'hdmi'];
const INPUT_NAMES: Record<InputType, string> = { webcam: 'Webcam', tv: 'TV', svid: 'S-Video', hdmi: 'HDMI' };
/** Sizes must be in increasing order (vivid-vid-cap.c: webcam_sizes) */
const WEBCAM_SIZES_6_12: readonly [number, number][] = [[320, 180], [640, 360], [640, 480], [1280, 720], [1920, 1080], [3840, 2160]];
/** 7.2's list (ENUM_FRAMESIZES in the VM): 320x240, 1280x960 and 1600x1200 added; the default is still index 1 */
const WEBCAM_SIZES_7_2: readonly [number, number][] = [[320, 180], [320, 240], [640, 360], [640, 480], [1280, 720],
  [1280, 960], [1600, 1200], [1920, 1080], [3840, 2160]];
/** The webcam input's sizes on the machine's kernel (6.13 and later: 7.2's, as for vkms's formats) */
export function webcamSizes(m: Machine): readonly [number, number][] {
  return kernelAtLeast(m.o.kernel, 6, 13) ? WEBCAM_SIZES_7_2 : WEBCAM_SIZES_6_12;
}
/** VIVID_CS_*: the Colorspace control's menu → V4L2 colorspace */
const COLORSPACES = [CS.SMPTE170M, CS.REC709, CS.SRGB, CS.OPRGB, CS.BT2020, CS.DCI_P3, CS.SMPTE240M, CS.SYSM, CS.SYSBG];
const VIVID_CS = { SMPTE170M: 0, REC709: 1, SRGB: 2 } as const;

// ---- controls --------------------------------------------------------------------------------------------

export interface CtrlDef {
  id: number;
  name: string;
  type: number;
  min: bigint;
  max: bigint;
  step: bigint;
  def: bigint;
  flags: number;
  menu?: readonly string[];
  intMenu?: readonly bigint[];
  skipMask?: bigint;
  dims?: readonly number[];
  /** what setting it does to the instance (vivid's s_ctrl), after the value changed */
  onChange?: (inst: VividInstance, c: Ctrl) => void;
}

export class Ctrl {
  cur: bigint | string;
  flags: number;
  /** subscriptions of V4L2_EVENT_CTRL for this control (ctrl->ev_subs) */
  readonly subs = new Set<Subscription>();

  constructor(public d: CtrlDef, readonly inst: VividInstance) {
    this.flags = d.flags;
    if (d.type === CTRL_TYPE.STRING) this.cur = ' '.repeat(Number(d.min));
    else this.cur = d.def;
  }

  get isCompound(): boolean {
    return (this.d.dims?.length ?? 0) > 0 || this.d.type >= CTRL_TYPE.COMPOUND_TYPES;
  }

  get isPtr(): boolean {
    return this.isCompound || this.d.type === CTRL_TYPE.STRING;
  }

  get elemSize(): number {
    switch (this.d.type) {
      case CTRL_TYPE.INTEGER64: return 8;
      case CTRL_TYPE.STRING: return Number(this.d.max) + 1;
      case CTRL_TYPE.U8: return 1;
      case CTRL_TYPE.U16: return 2;
      case CTRL_TYPE.AREA: return 8;
      default: return 4;
    }
  }

  get elems(): number {
    return (this.d.dims ?? []).reduce((a, b) => a * b, 1);
  }

  /** user_flags(): what QUERY_EXT_CTRL and events report */
  get userFlags(): number {
    return this.flags | (this.isPtr ? CTRL_FLAG.HAS_PAYLOAD : 0);
  }

  get num(): number {
    return Number(this.cur as bigint);
  }
}

const i = (v: number): bigint => BigInt(v);
const int = (id: number, name: string, min: number, max: number, step: number, def: number, flags = 0,
  onChange?: CtrlDef['onChange']): CtrlDef =>
  ({ id, name, type: CTRL_TYPE.INTEGER, min: i(min), max: i(max), step: i(step), def: i(def), flags, onChange });
const bool = (id: number, name: string, def = 0, onChange?: CtrlDef['onChange']): CtrlDef =>
  ({ id, name, type: CTRL_TYPE.BOOLEAN, min: 0n, max: 1n, step: 1n, def: i(def), flags: 0, onChange });
const menu = (id: number, name: string, items: readonly string[], def = 0, opts: { min?: number; max?: number; skip?: number;
  flags?: number; onChange?: CtrlDef['onChange'] } = {}): CtrlDef =>
  ({ id, name, type: CTRL_TYPE.MENU, min: i(opts.min ?? 0), max: i(opts.max ?? items.length - 1), step: 1n, def: i(def),
    flags: opts.flags ?? 0, menu: items, skipMask: i(opts.skip ?? 0), onChange: opts.onChange });
const cls = (id: number, name: string): CtrlDef =>
  ({ id, name, type: CTRL_TYPE.CTRL_CLASS, min: 0n, max: 0n, step: 0n, def: 0n, flags: CTRL_FLAG.READ_ONLY | CTRL_FLAG.WRITE_ONLY });
const array = (id: number, name: string, type: number, min: number, max: number, def: number, dims: number[],
  flags = 0): CtrlDef => ({ id, name, type, min: i(min), max: i(max), step: 1n, def: i(def), flags, dims });

const USER_CLASS = 0x00980001;
const USER_BASE = 0x00980900;
const VIVID_CUSTOM_BASE = 0x0098f000;
const VIVID_CLASS = 0x00f00001;
const VIVID_BASE = 0x00f0f000;
const DV_CLASS = 0x00a00001;
const DV_BASE = 0x00a00900;
const SLIDER = CTRL_FLAG.SLIDER;
/** The "Is Connected To" controls of the first HDMI and the first S-Video input */
const LOOP_CID = { hdmi: VIVID_BASE + 0x71, svid: VIVID_BASE + 0x80 } as const;
export const VIVID_CID = { TEST_PATTERN: VIVID_BASE, OSD_TEXT_MODE: VIVID_BASE + 1, COLORSPACE: VIVID_BASE + 25 } as const;

/** vivid_vid_cap_s_ctrl of the colorimetry controls: the generator's, then a source change */
const srcChange = (inst: VividInstance, c: Ctrl): void => {
  const v = c.num;
  switch (c.d.id - VIVID_BASE) {
    case 25: inst.csc.colorspace = COLORSPACES[v]; break;
    case 26: inst.csc.xfer = v; break;
    case 27: inst.csc.ycbcr = v; break;
    case 28: inst.csc.quant = v; break;
    default: break;
  }
  inst.sendSourceChange();
};
const tpgChanged = (): void => { /* read from the controls at every frame */ };

/** The controls of the User class, the vivid test controls and the audio ones (both nodes). */
function commonDefs(): CtrlDef[] {
  return [
    cls(USER_CLASS, 'User Controls'),
    int(USER_BASE + 5, 'Volume', 0, 255, 1, 200, SLIDER),
    bool(USER_BASE + 9, 'Mute'),
    { id: VIVID_CUSTOM_BASE, name: 'Button', type: CTRL_TYPE.BUTTON, min: 0n, max: 0n, step: 0n, def: 0n,
      flags: CTRL_FLAG.WRITE_ONLY | CTRL_FLAG.EXECUTE_ON_WRITE },
    bool(VIVID_CUSTOM_BASE + 1, 'Boolean', 1),
    int(VIVID_CUSTOM_BASE + 2, 'Integer 32 Bits', -0x80000000, 0x7fffffff, 1, 0),
    { id: VIVID_CUSTOM_BASE + 3, name: 'Integer 64 Bits', type: CTRL_TYPE.INTEGER64, min: -(2n ** 63n), max: 2n ** 63n - 1n,
      step: 1n, def: 0n, flags: 0 },
    menu(VIVID_CUSTOM_BASE + 4, 'Menu', ['Menu Item 0 (Skipped)', 'Menu Item 1', 'Menu Item 2 (Skipped)', 'Menu Item 3',
      'Menu Item 4', 'Menu Item 5 (Skipped)'], 3, { min: 1, max: 4, skip: 0x04 }),
    { id: VIVID_CUSTOM_BASE + 5, name: 'String', type: CTRL_TYPE.STRING, min: 2n, max: 4n, step: 1n, def: 0n, flags: 0 },
    { id: VIVID_CUSTOM_BASE + 6, name: 'Bitmask', type: CTRL_TYPE.BITMASK, min: 0n, max: 0x80402010n, step: 0n,
      def: 0x80002000n, flags: 0 },
    { id: VIVID_CUSTOM_BASE + 7, name: 'Integer Menu', type: CTRL_TYPE.INTEGER_MENU, min: 1n, max: 8n, step: 1n, def: 4n,
      flags: 0, intMenu: [1n, 1n, 2n, 3n, 5n, 8n, 13n, 21n, 42n], skipMask: 0x02n },
    array(VIVID_CUSTOM_BASE + 8, 'U32 1 Element Array', CTRL_TYPE.U32, 0x10, 0x20000, 0x18, [1]),
    array(VIVID_CUSTOM_BASE + 9, 'U16 8x16 Matrix', CTRL_TYPE.U16, 0x10, 0x2000, 0x18, [8, 16]),
    array(VIVID_CUSTOM_BASE + 10, 'U8 2x3x4x5 Array', CTRL_TYPE.U8, 0x10, 0x20, 0x18, [2, 3, 4, 5]),
    { id: VIVID_CUSTOM_BASE + 11, name: 'Area', type: CTRL_TYPE.AREA, min: 0n, max: 0n, step: 0n, def: 0n, flags: 0 },
    int(VIVID_CUSTOM_BASE + 12, 'Read-Only Integer 32 Bits', 0, 255, 1, 0, CTRL_FLAG.READ_ONLY),
    array(VIVID_CUSTOM_BASE + 13, 'U32 Dynamic Array', CTRL_TYPE.U32, 10, 90, 50, [100], CTRL_FLAG.DYNAMIC_ARRAY),
    array(VIVID_CUSTOM_BASE + 14, 'U8 Pixel Array', CTRL_TYPE.U8, 0, 0xff, 0x80, [40, 23]),
    array(VIVID_CUSTOM_BASE + 15, 'S32 2 Element Array', CTRL_TYPE.INTEGER, -10, 10, 2, [2]),
    array(VIVID_CUSTOM_BASE + 16, 'S64 5 Element Array', CTRL_TYPE.INTEGER64, -10, 10, 4, [5]),
    cls(VIVID_CLASS, 'Vivid Controls'),
  ];
}

const ASPECT = ['Source Width x Height', '4x3', '14x9', '16x9', '16x9 Anamorphic'];
const MOVEMENT = (a: string, b: string): string[] =>
  [`Move ${a} Fast`, `Move ${a}`, `Move ${a} Slow`, 'No Movement', `Move ${b} Slow`, `Move ${b}`, `Move ${b} Fast`];

/** The capture node's own controls (vivid_create_controls, has_vid_cap with SDTV and HDMI inputs). */
function captureDefs(): CtrlDef[] {
  const V = VIVID_BASE;
  return [
    int(USER_BASE, 'Brightness', 0, 255, 1, 128, SLIDER, tpgChanged),
    int(USER_BASE + 1, 'Contrast', 0, 255, 1, 128, SLIDER, tpgChanged),
    int(USER_BASE + 2, 'Saturation', 0, 255, 1, 128, SLIDER, tpgChanged),
    int(USER_BASE + 3, 'Hue', -128, 128, 1, 0, SLIDER, tpgChanged),
    { ...bool(USER_BASE + 0x12, 'Gain, Automatic', 1), flags: CTRL_FLAG.UPDATE },
    int(USER_BASE + 0x13, 'Gain', 0, 255, 1, 100, CTRL_FLAG.INACTIVE | CTRL_FLAG.VOLATILE),
    bool(USER_BASE + 0x14, 'Horizontal Flip'),
    bool(USER_BASE + 0x15, 'Vertical Flip'),
    int(USER_BASE + 0x29, 'Alpha Component', 0, 255, 1, 0),
    menu(V, 'Test Pattern', TPG_PATTERN_NAMES),
    menu(V + 1, 'OSD Text Mode', ['All', 'Counters Only', 'None']),
    menu(V + 2, 'Horizontal Movement', MOVEMENT('Left', 'Right'), 3),
    menu(V + 3, 'Vertical Movement', MOVEMENT('Up', 'Down'), 3),
    bool(V + 4, 'Show Border'),
    bool(V + 5, 'Show Square'),
    bool(V + 6, 'Insert SAV Code in Image'),
    bool(V + 7, 'Insert EAV Code in Image'),
    bool(V + 9, 'Insert Video Guard Band'),
    bool(V + 20, 'Sensor Flipped Horizontally'),
    bool(V + 21, 'Sensor Flipped Vertically'),
    menu(V + 22, 'Standard Aspect Ratio', ASPECT, 1, { min: 1, max: 4 }),
    menu(V + 23, 'DV Timings Aspect Ratio', ASPECT, 0, { max: 3 }),
    menu(V + 24, 'Timestamp Source', ['End of Frame', 'Start of Exposure']),
    menu(V + 25, 'Colorspace', ['SMPTE 170M', 'Rec. 709', 'sRGB', 'opRGB', 'BT.2020', 'DCI-P3', 'SMPTE 240M',
      '470 System M', '470 System BG'], 2, { onChange: srcChange }),
    menu(V + 26, 'Transfer Function', ['Default', 'Rec. 709', 'sRGB', 'opRGB', 'SMPTE 240M', 'None', 'DCI-P3',
      'SMPTE 2084'], 0, { onChange: srcChange }),
    menu(V + 27, 'Y\'CbCr Encoding', ['Default', 'ITU-R 601', 'Rec. 709', 'xvYCC 601', 'xvYCC 709', '', 'BT.2020',
      'BT.2020 Constant Luminance', 'SMPTE 240M'], 0, { skip: 1 << 5, onChange: srcChange }),
    menu(V + 28, 'Quantization', ['Default', 'Full Range', 'Limited Range'], 0, { onChange: srcChange }),
    bool(V + 29, 'Limited RGB Range (16-235)'),
    bool(V + 30, 'Apply Alpha To Red Only'),
    bool(V + 31, 'Enable Capture Cropping', 1),
    bool(V + 32, 'Enable Capture Composing', 1),
    bool(V + 33, 'Enable Capture Scaler', 1),
    int(V + 40, 'Maximum EDID Blocks', 1, 256, 1, 2),
    int(V + 41, 'Fill Percentage of Frame', 0, 100, 1, 100),
    bool(V + 42, 'Reduced Framerate'),
    menu(V + 43, 'HSV Encoding', ['Hue 0-179', 'Hue 0-256'], 0, { onChange: srcChange }),
    menu(V + 60, 'Standard Signal Mode', ['Current Standard', 'No Signal', 'No Lock', '', 'Selected Standard',
      'Cycle Through All Standards'], 0, { skip: 1 << 3, flags: CTRL_FLAG.INACTIVE }),
    menu(V + 61, 'Standard', ['NTSC-M', 'NTSC-M-JP', 'NTSC-M-KR', 'NTSC-443', 'PAL-BGH', 'PAL-I', 'PAL-DK', 'PAL-M',
      'PAL-N', 'PAL-Nc', 'PAL-60', 'SECAM-BGH', 'SECAM-DK', 'SECAM-L', 'SECAM-Lc'], 0, { flags: CTRL_FLAG.INACTIVE }),
    menu(V + 62, 'DV Timings Signal Mode', ['Current DV Timings', 'No Signal', 'No Lock', 'Out of Range',
      'Selected DV Timings', 'Cycle Through All DV Timings', 'Custom DV Timings'], 0, { max: 5, flags: CTRL_FLAG.INACTIVE }),
    cls(DV_CLASS, 'Digital Video Controls'),
    { id: DV_BASE + 100, name: 'Power Present', type: CTRL_TYPE.BITMASK, min: 0n, max: 1n, step: 0n, def: 1n,
      flags: CTRL_FLAG.READ_ONLY },
    menu(DV_BASE + 101, 'Rx RGB Quantization Range', ['Automatic', 'RGB Limited Range (16-235)', 'RGB Full Range (0-255)']),
  ];
}

/**
 * The loop controls of the capture node: for its HDMI and its S-Video input, what it is connected
 * to: vivid's test pattern, nothing, or the output of that type of any instance ('Output HDMI 001-0').
 */
function loopDefs(index: number, instances: number): CtrlDef[] {
  const port = (k: number): string => `${String(k).padStart(3, '0')}-0`;
  const outs = (kind: string): string[] => Array.from({ length: instances }, (_, k) => `Output ${kind} ${port(k)}`);
  return [
    menu(LOOP_CID.hdmi, `HDMI ${port(index)} Is Connected To`, ['Test Pattern Generator', 'None', ...outs('HDMI')]),
    menu(LOOP_CID.svid, `S-Video ${port(index)} Is Connected To`, ['Test Pattern Generator', 'None', ...outs('S-Video')]),
  ];
}

/** The output node's own controls (vid_out with an HDMI output). */
function outputDefs(): CtrlDef[] {
  return [
    bool(VIVID_BASE + 34, 'Enable Output Cropping', 1),
    bool(VIVID_BASE + 35, 'Enable Output Composing', 1),
    bool(VIVID_BASE + 36, 'Enable Output Scaler', 1),
    cls(DV_CLASS, 'Digital Video Controls'),
    { id: DV_BASE + 1, name: 'Hotplug Present', type: CTRL_TYPE.BITMASK, min: 0n, max: 1n, step: 0n, def: 0n,
      flags: CTRL_FLAG.READ_ONLY },
    { id: DV_BASE + 2, name: 'RxSense Present', type: CTRL_TYPE.BITMASK, min: 0n, max: 1n, step: 0n, def: 0n,
      flags: CTRL_FLAG.READ_ONLY },
    { id: DV_BASE + 3, name: 'EDID Present', type: CTRL_TYPE.BITMASK, min: 0n, max: 1n, step: 0n, def: 0n,
      flags: CTRL_FLAG.READ_ONLY },
    menu(DV_BASE + 4, 'Transmit Mode', ['DVI-D', 'HDMI'], 1),
    menu(DV_BASE + 5, 'Tx RGB Quantization Range', ['Automatic', 'RGB Limited Range (16-235)', 'RGB Full Range (0-255)']),
  ];
}

// ---- events -----------------------------------------------------------------------------------------------

export interface Subscription {
  fh: VideoFh;
  type: number;
  id: number;
  flags: number;
  /** the subscription's one event slot (elems 1), when queued */
  queued: QueuedEvent | null;
  ctrl: Ctrl | null;
}

export interface QueuedEvent {
  type: number;
  id: number;
  data: Uint8Array;
  ts: bigint;
  sequence: number;
  sub: Subscription;
}

// ---- videobuf2 ---------------------------------------------------------------------------------------------

export interface Vb2Plane {
  length: number;
  bytesused: number;
  dataOffset: number;
  memOffset: number;
  /** MMAP: the plane's pages, a buffer object EXPBUF exports */
  bo: Bo | null;
  /** DMABUF: the attached dma-buf (a reference held) and the fd it came by */
  dmabuf: DmabufFile | null;
  fd: number;
}

export type Vb2State = 'dequeued' | 'queued' | 'active' | 'done' | 'error';

export interface Vb2Buffer {
  index: number;
  planes: Vb2Plane[];
  state: Vb2State;
  prepared: boolean;
  sequence: number;
  timestampNs: bigint;
  field: number;
}

export class Vb2Queue {
  memory = 0;
  buffers: Vb2Buffer[] = [];
  owner: VideoFh | null = null;
  streaming = false;
  /** the driver's list (vid_cap_active / vid_out_active): queued buffers in order */
  active: Vb2Buffer[] = [];
  done: Vb2Buffer[] = [];
  timer: NodeJS.Timeout | null = null;
  seq = 0;

  constructor(readonly node: VividNode, readonly type: number) {}

  /**
   * q->max_num_buffers as REQBUFS and CREATE_BUFS clamp to it. Seen in the VM (6.12, 7.2): 64 on the
   * single-planar vmalloc instance's capture queue, 32 on the multi-planar one's and on both outputs.
   */
  get maxBuffers(): number {
    return !this.isOutput && !this.node.inst.multiplanar && !this.node.inst.contig ? MAX_BUFFERS : 32;
  }

  get isOutput(): boolean {
    return this.type === BUF_TYPE.OUTPUT || this.type === BUF_TYPE.OUTPUT_MPLANE;
  }

  get mplane(): boolean {
    return this.type === BUF_TYPE.CAPTURE_MPLANE || this.type === BUF_TYPE.OUTPUT_MPLANE;
  }

  /** V4L2_BUF_CAP_* (fill_buf_caps, and REMOVE_BUFS for vivid's vidioc_remove_bufs) */
  get caps(): number {
    const vmalloc = !this.node.inst.contig;
    return BUF_CAP.ORPHANED_BUFS | BUF_CAP.MMAP | BUF_CAP.DMABUF | (vmalloc ? BUF_CAP.USERPTR : 0) | BUF_CAP.REQUESTS
      | BUF_CAP.MAX_NUM_BUFFERS | BUF_CAP.REMOVE_BUFS;
  }
}

// ---- instances and nodes ----------------------------------------------------------------------------------

export interface VideoFh {
  node: VividNode;
  file: VideoFile | null;
  subs: Subscription[];
  /** fh->available */
  available: QueuedEvent[];
  /** fh->sequence (starts at -1) */
  sequence: number;
}

export class VividNode {
  readonly queue: Vb2Queue;
  readonly fhs = new Set<VideoFh>();
  /** the node's control handler: the instance's controls it has, by id */
  readonly ctrls: Ctrl[];

  constructor(readonly inst: VividInstance, readonly dir: 'capture' | 'output', readonly path: string, ctrls: Ctrl[]) {
    const mp = inst.multiplanar;
    const type = dir === 'capture' ? (mp ? BUF_TYPE.CAPTURE_MPLANE : BUF_TYPE.CAPTURE) : (mp ? BUF_TYPE.OUTPUT_MPLANE : BUF_TYPE.OUTPUT);
    this.queue = new Vb2Queue(this, type);
    this.ctrls = [...ctrls].sort((a, b) => a.d.id - b.d.id);
  }

  get deviceCaps(): number {
    const inst = this.inst;
    if (this.dir === 'capture') {
      return (inst.multiplanar ? CAP.VIDEO_CAPTURE_MPLANE : CAP.VIDEO_CAPTURE | CAP.VIDEO_OVERLAY) | CAP.STREAMING
        | CAP.READWRITE | CAP.AUDIO | CAP.TUNER | CAP.EXT_PIX_FORMAT;
    }
    return (inst.multiplanar ? CAP.VIDEO_OUTPUT_MPLANE : CAP.VIDEO_OUTPUT) | CAP.STREAMING | CAP.READWRITE | CAP.AUDIO
      | CAP.EXT_PIX_FORMAT;
  }

  ctrl(id: number): Ctrl | undefined {
    return this.ctrls.find((c) => c.d.id === id);
  }
}

/** A format a queue holds: vivid's fmt_cap/fmt_out, the image size and bytes per line per buffer plane. */
export interface QueueFormat {
  fmt: VividFormat;
  width: number;
  height: number;
  field: number;
  bpl: number[];
}

export class VividInstance {
  readonly capture: VividNode;
  readonly output: VividNode;
  readonly ctrls = new Map<number, Ctrl>();
  input = 0;
  output_ = 0;
  webcamSizeIdx = 1;
  capFmt!: QueueFormat;
  outFmt!: QueueFormat;
  /** the source the generator draws from (the input's size) */
  srcWidth = 640;
  srcHeight = 360;
  readonly brightnessPerInput = INPUTS.map(() => 128);
  /** Colorimetry drawn: the Colorspace, Transfer Function, Y'CbCr Encoding and Quantization controls, or S_FMT's */
  csc = { colorspace: CS.SRGB as number, xfer: 0, ycbcr: 0, quant: 0 };
  /** the output's colorimetry (colorspace_out, ...) */
  cscOut = { colorspace: CS.SMPTE170M as number, xfer: 0, ycbcr: 0, quant: 0 };

  constructor(readonly m: Machine, readonly index: number, readonly multiplanar: boolean, readonly contig: boolean,
    readonly formats: VividFormat[], capPath: string, outPath: string) {
    const common = commonDefs().map((d) => this.make(d));
    const cap = [...captureDefs(), ...loopDefs(index, m.o.video?.instances.length ?? 1)].map((d) => this.make(d));
    const out = outputDefs().map((d) => (this.ctrls.has(d.id) ? new Ctrl(d, this) : this.make(d)));
    this.capture = new VividNode(this, 'capture', capPath, [...common, ...cap]);
    this.output = new VividNode(this, 'output', outPath, [...common, ...out]);
    this.updateFormatCap();
    this.updateFormatOut();
  }

  private make(d: CtrlDef): Ctrl {
    const c = new Ctrl(d, this);
    this.ctrls.set(d.id, c);
    return c;
  }

  get busName(): string {
    return `platform:vivid-${String(this.index).padStart(3, '0')}`;
  }

  get inputType(): InputType {
    return INPUTS[this.input];
  }

  /** vivid_get_format: one-buffer formats always, the others with the multi-planar API */
  format(code: number): VividFormat | undefined {
    return this.formats.find((f) => f.code === code && (f.buffers === 1 || this.multiplanar));
  }

  get enumerable(): VividFormat[] {
    return this.multiplanar ? this.formats : this.formats.slice(0, this.formats.length - MPLANAR_FORMATS);
  }

  /** vivid_update_format_cap: the input's size, field and a format of it */
  updateFormatCap(): void {
    const t = this.inputType;
    let field: number = FIELD.NONE;
    if (t === 'webcam') [this.srcWidth, this.srcHeight] = webcamSizes(this.m)[this.webcamSizeIdx]!;
    else if (t === 'hdmi') [this.srcWidth, this.srcHeight] = [1280, 720];
    else {
      [this.srcWidth, this.srcHeight] = [720, 576];
      field = FIELD.INTERLACED;
    }
    const fmt = this.capFmt?.fmt ?? this.formats[0];
    this.capFmt = { fmt, width: this.srcWidth, height: this.srcHeight, field, bpl: minBpl(fmt, this.srcWidth) };
  }

  /** vivid_update_format_out: the output's size and field (S-Video: PAL, interlaced) */
  updateFormatOut(): void {
    const svid = OUTPUTS[this.output_] === 'svid';
    const [w, h] = svid ? [720, 576] : [1280, 720];
    const fmt = this.outFmt?.fmt ?? this.formats[0];
    this.outFmt = { fmt, width: w, height: h, field: svid ? FIELD.INTERLACED : FIELD.NONE, bpl: minBpl(fmt, w) };
    this.cscOut = { colorspace: svid ? CS.SMPTE170M : CS.REC709, xfer: 0, ycbcr: 0, quant: 0 };
  }

  /** vivid_send_source_change for every input type: an event per input to the capture node's files */
  sendSourceChange(): void {
    const data = new Uint8Array(64);
    new DataView(data.buffer).setUint32(0, EVENT.SRC_CH_RESOLUTION, true);
    for (const type of ['tv', 'svid', 'hdmi', 'webcam'] as InputType[]) {
      INPUTS.forEach((t, idx) => {
        if (t === type) queueEvent(this.m, this.capture, null, EVENT.SOURCE_CHANGE, idx, data);
      });
    }
  }

  /** What the generator draws now, as vivid's controls and S_FMT set it. */
  tpgState(q: QueueFormat): TpgState {
    const v = (id: number): number => this.ctrls.get(id)!.num;
    const V = VIVID_BASE;
    return {
      pattern: v(V), fourcc: q.fmt.code, srcWidth: this.srcWidth, srcHeight: this.srcHeight, width: q.width,
      height: q.height, bytesperline: q.bpl, dataOffset: q.fmt.dataOffset.slice(0, q.fmt.buffers),
      colorspace: this.csc.colorspace, xferFunc: this.csc.xfer, ycbcrEnc: this.csc.ycbcr, quantization: this.csc.quant,
      brightness: this.brightnessPerInput[this.input], contrast: v(USER_BASE + 1), saturation: v(USER_BASE + 2),
      hue: v(USER_BASE + 3), alphaComponent: v(USER_BASE + 0x29), alphaRedOnly: v(V + 30) !== 0,
      hflip: (v(V + 20) ^ v(USER_BASE + 0x14)) !== 0, vflip: (v(V + 21) ^ v(USER_BASE + 0x15)) !== 0,
      realRgbRange: v(V + 29) ? 1 : 2, rgbRange: 0,
    };
  }

  /** vidioc_s_input: the input's format, Colorspace and Brightness range */
  setInput(idx: number): void {
    this.input = idx;
    this.updateFormatCap();
    const cs = this.ctrls.get(VIVID_CID.COLORSPACE)!;
    const t = this.inputType;
    setCtrlInternal(this, cs, BigInt(t === 'webcam' ? VIVID_CS.SRGB : t === 'hdmi' ? VIVID_CS.REC709 : VIVID_CS.SMPTE170M));
    const b = this.ctrls.get(USER_BASE)!;
    const range: CtrlDef = { ...b.d, min: i(128 * idx), max: i(255 + 128 * idx), def: i(128 + 128 * idx) };
    b.d = range;
    ctrlEvent(this.m, b, null, EVENT.CTRL_CH_RANGE);
    setCtrlInternal(this, b, BigInt(128 * idx + this.brightnessPerInput[idx]));
  }
}

/** bytesperline of each buffer plane for a width, without padding: (width * bit depth) / 8 */
export function minBpl(f: VividFormat, width: number): number[] {
  return Array.from({ length: f.buffers }, (_, p) => (width * f.bitDepth[p]) >> 3);
}

/** The line width of every buffer plane (one-buffer formats: every image plane's line added up). */
function lineWidths(f: VividFormat, bpl: number[]): number[] {
  if (f.buffers > 1) return bpl;
  let w = 0;
  for (let p = 0; p < f.planes; p++) w += Math.trunc(Math.trunc((bpl[0] * f.bitDepth[p]) / f.bitDepth[0]) / f.vdown[p]);
  return [w];
}

/** The size of each buffer plane of a format as buf_prepare and G_FMT compute it (data offset included). */
export function planeSizes(q: QueueFormat): number[] {
  const lw = lineWidths(q.fmt, q.bpl);
  return lw.map((w, p) => Math.trunc((w * q.height) / q.fmt.vdown[p]) + q.fmt.dataOffset[p]);
}

/** try_fmt's bytesperline and sizeimage of each buffer plane (user bytesperline clamped) */
export function tryPlanes(f: VividFormat, width: number, height: number, user: number[]): { bpl: number[]; size: number[] } {
  const bpl: number[] = [];
  const size: number[] = [];
  for (let p = 0; p < f.buffers; p++) {
    const min = (width * f.bitDepth[p]) >> 3;
    const max = (MAX_ZOOM * MAX_WIDTH * f.bitDepth[p]) >> 3;
    let b = user[p] ?? 0;
    if (b > max) b = max;
    if (b < min) b = min;
    bpl.push(b);
    size.push(Math.trunc((b * height) / f.vdown[p]) + f.dataOffset[p]);
  }
  for (let p = f.buffers; p < f.planes; p++) {
    size[0] += Math.trunc((bpl[0] * height * Math.trunc(f.bitDepth[p] / f.vdown[p])) / Math.trunc(f.bitDepth[0] / f.vdown[0]));
  }
  return { bpl, size };
}

/** v4l2_find_nearest_size over the webcam's sizes */
export function nearestWebcamSize(sizes: readonly [number, number][], w: number, h: number): number {
  let best = 0;
  let bestErr = Infinity;
  sizes.forEach(([sw, sh], k) => {
    const err = Math.abs(sw - w) + Math.abs(sh - h);
    if (err < bestErr) {
      bestErr = err;
      best = k;
    }
  });
  return best;
}

export const limits = { MIN_WIDTH, MIN_HEIGHT, MAX_WIDTH, MAX_HEIGHT, MAX_ZOOM, MAX_BUFFERS };
export { INPUTS, INPUT_NAMES, OUTPUTS };

// ---- events on files ----------------------------------------------------------------------------------------

/** __v4l2_event_queue_fh for every file of the node subscribed to (type, id); `except` is not told. */
export function queueEvent(m: Machine, node: VividNode, except: VideoFh | null, type: number, id: number, data: Uint8Array,
  onlyFor?: Subscription): void {
  const ts = process.hrtime.bigint();
  for (const fh of node.fhs) {
    const sub = onlyFor ?? fh.subs.find((s) => s.type === type && s.id === id);
    if (sub === undefined || sub.fh !== fh) continue;
    if (fh === except && !(sub.flags & EVENT.SUB_FL_ALLOW_FEEDBACK)) continue;
    fh.sequence++;
    let payload = data;
    if (sub.queued !== null) { // one slot: the newer event replaces the older, their changes merged
      const old = sub.queued;
      fh.available.splice(fh.available.indexOf(old), 1);
      payload = new Uint8Array(data);
      const dv = new DataView(payload.buffer);
      dv.setUint32(0, dv.getUint32(0, true) | new DataView(old.data.buffer).getUint32(0, true), true);
    }
    const ev: QueuedEvent = { type, id, data: payload, ts, sequence: fh.sequence, sub };
    sub.queued = ev;
    fh.available.push(ev);
  }
  m.hub.wake();
}

/** struct v4l2_event_ctrl of a control's state */
export function ctrlEventData(c: Ctrl, changes: number): Uint8Array {
  const data = new Uint8Array(64);
  const dv = new DataView(data.buffer);
  dv.setUint32(0, changes, true);
  dv.setUint32(4, c.d.type, true);
  if (!c.isPtr) dv.setBigInt64(8, BigInt.asIntN(64, c.cur as bigint), true);
  dv.setUint32(16, c.userFlags, true);
  dv.setInt32(20, Number(BigInt.asIntN(32, c.d.min)), true);
  dv.setInt32(24, Number(BigInt.asIntN(32, c.d.max)), true);
  dv.setInt32(28, Number(BigInt.asIntN(32, c.d.step)), true);
  dv.setInt32(32, Number(BigInt.asIntN(32, c.d.def)), true);
  return data;
}

/** send_event: a V4L2_EVENT_CTRL to the control's subscribers (not `fh`, unless it allows feedback) */
export function ctrlEvent(m: Machine, c: Ctrl, fh: VideoFh | null, changes: number): void {
  for (const sub of [...c.subs]) queueEvent(m, sub.fh.node, fh, EVENT.CTRL, c.d.id, ctrlEventData(c, changes), sub);
}

/** v4l2_ctrl_s_ctrl from inside the driver: the value, vivid's reaction, events to every subscriber */
export function setCtrlInternal(inst: VividInstance, c: Ctrl, v: bigint): void {
  if (c.cur === v) return;
  c.cur = v;
  if (c.d.id === USER_BASE) inst.brightnessPerInput[inst.input] = Number(v) - inst.input * 128;
  c.d.onChange?.(inst, c);
  ctrlEvent(inst.m, c, null, EVENT.CTRL_CH_VALUE);
}

/** The controls' reaction to a value set by S_EXT_CTRLS (vivid's s_ctrl ops). */
export function ctrlChanged(inst: VividInstance, c: Ctrl): void {
  if (c.d.id === USER_BASE) inst.brightnessPerInput[inst.input] = c.num - inst.input * 128;
  c.d.onChange?.(inst, c);
}

// ---- the driver ---------------------------------------------------------------------------------------------

export interface VividModel {
  instances: VividInstance[];
  nodes: VividNode[];
}

/** /dev/video0.. : a capture and an output node per instance, in vivid's registration order. */
export const vividDriver: Driver = (m) => {
  const o = m.o.video;
  const model: VividModel = { instances: [], nodes: [] };
  m.video = model;
  if (o === null) return;
  const formats = vividFormats(o.instances.some((x) => !x.multiplanar));
  let minor = 0;
  o.instances.forEach((io, k) => {
    const capPath = `/dev/video${minor}`;
    const outPath = `/dev/video${minor + 1}`;
    const inst = new VividInstance(m, k, io.multiplanar, io.allocator === 'dma-contig', formats, capPath, outPath);
    model.instances.push(inst);
    for (const node of [inst.capture, inst.output]) {
      model.nodes.push(node);
      m.node(node.path, 'chr', makedev(VIDEO_MAJOR, minor++), 0o660, (flags) => {
        const fh: VideoFh = { node, file: null, subs: [], available: [], sequence: -1 };
        const f = m.file(node.path, flags, { kind: 'video' as const, fh });
        fh.file = f;
        node.fhs.add(fh);
        f.release = () => { // v4l2_fh_release + vb2_fop_release
          if (node.queue.owner === fh) releaseQueue(m, node.queue);
          for (const s of fh.subs) s.ctrl?.subs.delete(s);
          fh.subs = [];
          fh.available = [];
          node.fhs.delete(fh);
        };
        return f;
      });
    }
  });
};

// ---- videobuf2 operations the ioctls share -------------------------------------------------------------------

export function stopStreaming(m: Machine, q: Vb2Queue): void {
  if (q.timer !== null) {
    clearInterval(q.timer);
    m.timers.delete(q.timer);
    q.timer = null;
  }
  q.streaming = false;
  q.active = [];
  q.done = [];
  for (const b of q.buffers) {
    b.state = 'dequeued';
    b.prepared = false;
  }
  m.hub.wake();
}

/** __vb2_queue_free: buffers go; exported planes live on in their dma-bufs, imported ones are put. */
export function freeBuffers(m: Machine, q: Vb2Queue): void {
  for (const b of q.buffers) {
    for (const p of b.planes) {
      if (p.dmabuf !== null) m.unref(p.dmabuf);
      p.dmabuf = null;
    }
  }
  q.buffers = [];
  q.memory = 0;
}

/** vb2_queue_release: what closing the owner's file does */
export function releaseQueue(m: Machine, q: Vb2Queue): void {
  stopStreaming(m, q);
  freeBuffers(m, q);
  q.owner = null;
}

/** A new MMAP plane: vb2 allocates PAGE_ALIGN(length) bytes. */
export function mmapPlane(m: Machine, q: Vb2Queue, index: number, plane: number, length: number): Vb2Plane {
  const inst = q.node.inst;
  const bo = new Bo(new Store(m.pageAlign(Math.max(length, 1))), inst.contig ? 'videobuf2_dma_contig' : 'videobuf2_vmalloc',
    'vb2', null);
  bo.contiguous = inst.contig;
  const shift = Math.log2(m.pageSize);
  return { length, bytesused: 0, dataOffset: 0, memOffset: (index * 2 ** (shift + 3)) + plane * 2 ** shift, bo,
    dmabuf: null, fd: -1 };
}

/** EXPBUF: a new dma-buf of the plane's pages, with the access mode asked for */
export function exportPlane(m: Machine, p: Vb2Plane, flags: number): DmabufFile {
  return newDmabuf(m, p.bo!, flags & O_ACCMODE);
}

export const EXPBUF_FLAGS = O_CLOEXEC | O_ACCMODE;

/** The capture or output thread: one frame. */
export function frameTick(m: Machine, q: Vb2Queue): void {
  const inst = q.node.inst;
  const now = process.hrtime.bigint();
  if (q.isOutput) {
    // vivid_thread_vid_out_tick: a buffer only while another is queued behind it
    if (q.active.length >= 2) complete(q, q.active.shift()!, now, q.seq);
    q.seq++;
  } else {
    const b = q.active.shift();
    if (b !== undefined) {
      fill(inst, q, b);
      complete(q, b, now, q.seq);
    }
    q.seq++;
  }
  m.hub.wake();
}

function complete(q: Vb2Queue, b: Vb2Buffer, now: bigint, seq: number): void {
  b.state = 'done';
  b.sequence = seq;
  b.timestampNs = now;
  b.field = q.isOutput ? q.node.inst.outFmt.field : q.node.inst.capFmt.field;
  q.done.push(b);
}

/**
 * The output buffer a looped input shows, or null for the test pattern: the input is HDMI or
 * S-Video, its "Is Connected To" names an instance's output of the same kind, that output is
 * selected and streams, and both queues have the same format, size and line length. The output
 * shows the oldest buffer queued on it (it keeps the last one), which is what is copied.
 */
function loopSource(inst: VividInstance): Vb2Buffer | null {
  const t = inst.inputType;
  if (t !== 'hdmi' && t !== 'svid') return null;
  const v = inst.ctrls.get(LOOP_CID[t])?.num ?? 0;
  const other = v >= 2 ? inst.m.video.instances[v - 2] : undefined;
  if (other === undefined || OUTPUTS[other.output_] !== t) return null;
  const q = other.output.queue;
  const ob = q.streaming ? q.active[0] : undefined;
  const cf = inst.capFmt;
  const of = other.outFmt;
  if (ob === undefined || cf.fmt.code !== of.fmt.code || cf.width !== of.width || cf.height !== of.height ||
    cf.bpl.join() !== of.bpl.join()) return null;
  return ob;
}

/** vivid_fillbuff: the picture into the buffer's planes (MMAP pages or the imported dma-buf's). */
function fill(inst: VividInstance, q: Vb2Queue, b: Vb2Buffer): void {
  const src = loopSource(inst);
  if (src !== null) {
    b.planes.forEach((p, k) => {
      const from = src.planes[k];
      const to = p.bo?.pages ?? p.dmabuf?.bo.pages;
      const store = from?.bo?.pages ?? from?.dmabuf?.bo.pages;
      if (to === undefined || store === undefined || from === undefined) return;
      const bytes = new Uint8Array(Math.min(from.length, store.size, to.size));
      store.read(0, bytes);
      to.write(0, bytes);
    });
    return;
  }
  const fmt = inst.capFmt;
  const state = inst.tpgState(fmt);
  const frame = renderFrame(state, b.planes.map((p) => p.bytesused));
  if (frame === null) return;
  b.planes.forEach((p, k) => {
    const store = p.bo?.pages ?? p.dmabuf?.bo.pages;
    const data = frame[k];
    const at = state.dataOffset[k] ?? 0;
    if (store === undefined || data === undefined || at >= store.size) return;
    store.write(at, data.subarray(0, Math.min(data.length, store.size - at)));
  });
}

/** The errno of a vb2 refusal (a helper for the ioctl layer). */
export const fail = (e: ErrnoName, syscall: string): Error => systemError(e, syscall);
