/// <reference types="node" preserve="true" />
/**
 * The Backend interface: one syscall-shaped function per kernel operation, no policy.
 *
 * Two implementations: `native` (the C++ addon, real syscalls) and `mock` (a TypeScript model of the
 * kernel with the same errno semantics). The API layer (src/*.ts) only talks to a Backend, so one
 * contract test suite runs on both.
 *
 * Conventions, for both implementations:
 * - Every failure throws a SystemError-shaped Error (see src/errors.ts): `code` ('EINVAL'), `errno`
 *   (positive, e.g. 22), `syscall` (e.g. 'ioctl(UDMABUF_CREATE)', 'mmap', 'open'), and `path` where the
 *   function takes one. Arguments are NOT validated for policy here (the API layer does that); a
 *   backend only refuses what would be unsafe (non-integer fd, negative length, a view over a
 *   read-only mapping) with a TypeError/RangeError carrying an ERR_* code. Those argument checks are
 *   one specification (src/backend/args.ts) applied by both backends before they run, so the same bad
 *   argument gives the same error, code and message on either.
 * - Every fd a backend creates is close-on-exec: the close-on-exec flag of each call (O_CLOEXEC,
 *   MFD_CLOEXEC, UDMABUF_FLAGS_CLOEXEC, DRM_CLOEXEC) is added to whatever flags the caller passes.
 * - Sizes and offsets are JS numbers (safe integers); inode and device numbers are bigint.
 * - Blocking calls (DMA_BUF_IOCTL_SYNC, poll) have an *Async twin that runs off the JS thread and works
 *   on its own dup of the fd, so closing the fd meanwhile cannot redirect it to another file.
 */

import type { DmabufSystemError } from '../errors';

export type Fd = number;

export interface StatInfo {
  /** st_ino */
  ino: bigint;
  /** st_dev */
  dev: bigint;
  /** st_rdev (device nodes) */
  rdev: bigint;
  /** st_mode (file type and permission bits) */
  mode: number;
  /** st_size */
  size: number;
  uid: number;
  gid: number;
}

export interface UdmabufItem {
  memfd: Fd;
  offset: number;
  size: number;
}

export interface DrmVersion {
  major: number;
  minor: number;
  patchlevel: number;
  name: string;
  date: string;
  desc: string;
}

export interface DumbBuffer {
  handle: number;
  pitch: number;
  size: number;
}

export interface SyncFenceInfo {
  objName: string;
  driverName: string;
  /** 1 signaled, 0 active, < 0 error */
  status: number;
  flags: number;
  timestampNs: bigint;
}

export interface SyncFileInfo {
  name: string;
  /** 1 signaled, 0 active, < 0 error */
  status: number;
  flags: number;
  fences: SyncFenceInfo[];
}

export interface KmsResources {
  fbs: number[];
  crtcs: number[];
  connectors: number[];
  encoders: number[];
  minWidth: number;
  maxWidth: number;
  minHeight: number;
  maxHeight: number;
}

/** struct drm_mode_modeinfo, field by field (name: up to 31 bytes). */
export interface KmsModeInfo {
  clock: number;
  hdisplay: number;
  hsyncStart: number;
  hsyncEnd: number;
  htotal: number;
  hskew: number;
  vdisplay: number;
  vsyncStart: number;
  vsyncEnd: number;
  vtotal: number;
  vscan: number;
  vrefresh: number;
  flags: number;
  /** DRM_MODE_TYPE_* bits (PREFERRED = 1 << 3, DRIVER = 1 << 6) */
  type: number;
  name: string;
}

export interface KmsConnector {
  id: number;
  /** DRM_MODE_CONNECTOR_* (Virtual = 15) */
  type: number;
  typeId: number;
  /** 1 connected, 2 disconnected, 3 unknown */
  connection: number;
  mmWidth: number;
  mmHeight: number;
  subpixel: number;
  encoderId: number;
  encoders: number[];
  modes: KmsModeInfo[];
}

export interface KmsCrtc {
  id: number;
  /** 0 when no framebuffer is shown. */
  fbId: number;
  x: number;
  y: number;
  gammaSize: number;
  /** null when mode_valid is 0 (the CRTC is off). */
  mode: KmsModeInfo | null;
}

/** One plane (GETPLANE): primary, overlay or cursor (the type is a property: atomic display). */
export interface KmsPlane {
  id: number;
  /** The CRTC it shows on now, 0 when off. */
  crtcId: number;
  fbId: number;
  /** Bit i: the i-th CRTC of GETRESOURCES. */
  possibleCrtcs: number;
  gammaSize: number;
  /** DRM fourccs it takes. */
  formats: number[];
}

/** One encoder (GETENCODER): the CRTC it feeds now (0: none) and the CRTCs it can feed. */
export interface KmsEncoder {
  id: number;
  /** DRM_MODE_ENCODER_* (5 virtual, 6 DSI, 7 DPMST, 8 DPI) */
  type: number;
  crtcId: number;
  /** Bit i: the i-th CRTC of GETRESOURCES. */
  possibleCrtcs: number;
  possibleClones: number;
}

/** OBJ_GETPROPERTIES: the properties of one KMS object and their current values (u64, as the kernel keeps them). */
export interface KmsObjectProperties {
  ids: number[];
  values: bigint[];
}

/**
 * GETPROPERTY: one property's name, flags (DRM_MODE_PROP_*) and, by type: a range's min and max
 * (values), an enum's or bitmask's names (enums; a bitmask's value is the bit number), an object
 * property's object type (values[0]).
 */
export interface KmsProperty {
  id: number;
  name: string;
  flags: number;
  values: bigint[];
  enums: { value: bigint; name: string }[];
}

/** One event read from a DRM file; vblank and flip-complete events carry the drm_event_vblank fields. */
export interface DrmEvent {
  /** DRM_EVENT_VBLANK 1, DRM_EVENT_FLIP_COMPLETE 2, DRM_EVENT_CRTC_SEQUENCE 3 */
  type: number;
  length: number;
  userData?: number;
  sec?: number;
  usec?: number;
  sequence?: number;
  crtcId?: number;
}

/** VIDIOC_QUERYCAP: struct v4l2_capability. */
export interface V4l2Capability {
  driver: string;
  card: string;
  busInfo: string;
  /** KERNEL_VERSION(major, minor, patch) of the driver (today: of the kernel) */
  version: number;
  /** V4L2_CAP_* of the whole device (V4L2_CAP_DEVICE_CAPS set: deviceCaps is valid) */
  capabilities: number;
  /** V4L2_CAP_* of this node */
  deviceCaps: number;
}

/** VIDIOC_ENUM_FMT: struct v4l2_fmtdesc. */
export interface V4l2FmtDesc {
  index: number;
  type: number;
  /** V4L2_FMT_FLAG_* */
  flags: number;
  description: string;
  /** fourcc (v4l2_fourcc) */
  pixelformat: number;
  mbusCode: number;
}

/** VIDIOC_ENUM_FRAMESIZES: struct v4l2_frmsizeenum; `discrete` for type DISCRETE (1), else `stepwise`. */
export interface V4l2FrameSize {
  index: number;
  pixelformat: number;
  /** V4L2_FRMSIZE_TYPE_DISCRETE 1, CONTINUOUS 2, STEPWISE 3 */
  type: number;
  discrete?: { width: number; height: number };
  stepwise?: { minWidth: number; maxWidth: number; stepWidth: number; minHeight: number; maxHeight: number;
    stepHeight: number };
}

/** One plane of a format: struct v4l2_plane_pix_format (or v4l2_pix_format's own two fields). */
export interface V4l2PlaneFormat {
  bytesperline: number;
  sizeimage: number;
}

/**
 * VIDIOC_G_FMT / S_FMT / TRY_FMT for the video buffer types: struct v4l2_pix_format for
 * V4L2_BUF_TYPE_VIDEO_CAPTURE (1) and _OUTPUT (2), with exactly one plane; v4l2_pix_format_mplane for
 * _CAPTURE_MPLANE (9) and _OUTPUT_MPLANE (10), with num_planes planes (1 to VIDEO_MAX_PLANES), where
 * ycbcrEnc, quantization, xferFunc and flags are __u8. (Not formats.ts's V4l2Format, which names a
 * pixel format.)
 */
export interface V4l2PixFormat {
  type: number;
  width: number;
  height: number;
  /** fourcc */
  pixelformat: number;
  /** enum v4l2_field */
  field: number;
  /** enum v4l2_colorspace */
  colorspace: number;
  /** enum v4l2_ycbcr_encoding (or v4l2_hsv_encoding: the same field) */
  ycbcrEnc: number;
  /** enum v4l2_quantization */
  quantization: number;
  /** enum v4l2_xfer_func */
  xferFunc: number;
  /** V4L2_PIX_FMT_FLAG_* */
  flags: number;
  planes: V4l2PlaneFormat[];
}

/** VIDIOC_REQBUFS: what struct v4l2_requestbuffers holds afterwards. */
export interface V4l2RequestBuffers {
  /** buffers allocated (the driver may give more or fewer than asked) */
  count: number;
  /** V4L2_BUF_CAP_* of the queue */
  capabilities: number;
  /** V4L2_MEMORY_FLAG_* */
  flags: number;
}

/** VIDIOC_CREATE_BUFS: what struct v4l2_create_buffers holds afterwards. */
export interface V4l2CreateBuffers {
  /** index of the first new buffer */
  index: number;
  count: number;
  capabilities: number;
}

/** One plane of a V4l2Buffer (single-planar types: one, made of struct v4l2_buffer's own fields). */
export interface V4l2BufferPlane {
  bytesused: number;
  length: number;
  /** data_offset (0 for single-planar types) */
  dataOffset: number;
  /** m.mem_offset (m.offset) for V4L2_MEMORY_MMAP, the mmap() offset on the video fd; else -1 */
  memOffset: number;
  /** m.fd for V4L2_MEMORY_DMABUF; else -1 */
  fd: Fd;
}

/** struct v4l2_buffer as QUERYBUF, QBUF, PREPARE_BUF and DQBUF leave it. */
export interface V4l2Buffer {
  index: number;
  type: number;
  memory: number;
  /** 0 for multi-planar types (each plane has its own) */
  bytesused: number;
  /** V4L2_BUF_FLAG_* */
  flags: number;
  field: number;
  timestamp: { sec: number; usec: number };
  sequence: number;
  /** single-planar: the buffer's size; multi-planar: the number of planes */
  length: number;
  planes: V4l2BufferPlane[];
}

/** One plane of a buffer to queue. */
export interface V4l2QueuePlane {
  bytesused: number;
  length: number;
  /** multi-planar types only (default 0) */
  dataOffset?: number;
  /** V4L2_MEMORY_DMABUF: the dma-buf of the plane (required); V4L2_MEMORY_MMAP: left out */
  fd?: Fd;
}

/**
 * A buffer for QBUF and PREPARE_BUF. memory is V4L2_MEMORY_MMAP or V4L2_MEMORY_DMABUF; USERPTR is
 * refused (ERR_INVALID_ARG_VALUE) before any ioctl: the kernel would DMA to an address from JS.
 * Single-planar types take exactly one plane (struct v4l2_buffer's bytesused, length and m.fd),
 * multi-planar types 1 to VIDEO_MAX_PLANES (the kernel wants at least the buffer's plane count).
 */
export interface V4l2QueueBuffer {
  type: number;
  memory: number;
  index: number;
  /** V4L2_BUF_FLAG_* (default 0) */
  flags?: number;
  /** enum v4l2_field (default 0: V4L2_FIELD_ANY) */
  field?: number;
  /** read by the kernel for output queues with V4L2_BUF_FLAG_TIMESTAMP_COPY (default 0) */
  timestamp?: { sec: number; usec: number };
  planes: V4l2QueuePlane[];
}

/** VIDIOC_ENUMINPUT: struct v4l2_input. */
export interface V4l2Input {
  index: number;
  name: string;
  /** V4L2_INPUT_TYPE_TUNER 1, CAMERA 2, TOUCH 3 */
  type: number;
  /** V4L2_IN_ST_* */
  status: number;
  /** V4L2_IN_CAP_* */
  capabilities: number;
}

/** VIDIOC_ENUMOUTPUT: struct v4l2_output. */
export interface V4l2Output {
  index: number;
  name: string;
  type: number;
  capabilities: number;
}

/** VIDIOC_QUERY_EXT_CTRL: struct v4l2_query_ext_ctrl (the __s64/__u64 fields as bigint). */
export interface V4l2QueryExtCtrl {
  id: number;
  /** enum v4l2_ctrl_type */
  type: number;
  name: string;
  minimum: bigint;
  maximum: bigint;
  step: bigint;
  defaultValue: bigint;
  /** V4L2_CTRL_FLAG_* */
  flags: number;
  /** bytes of one element (a string control: maximum + 1) */
  elemSize: number;
  elems: number;
  nrOfDims: number;
  /** the first nrOfDims of dims[] */
  dims: number[];
}

/**
 * VIDIOC_QUERYMENU: struct v4l2_querymenu, both views of its union raw: `name` means something for
 * a MENU control (V4L2_CTRL_TYPE_MENU), `value` for an INTEGER_MENU one; QUERY_EXT_CTRL's type says
 * which.
 */
export interface V4l2QueryMenu {
  id: number;
  index: number;
  name: string;
  value: bigint;
}

/**
 * How a control's value travels in struct v4l2_ext_control: 'i32' (value), 'i64' (value64) or
 * 'string' (a buffer of `size` bytes the addon owns; the kernel copies a string control's text, or
 * any pointer control's bytes up to `size`, there).
 */
export type V4l2ControlKind = 'i32' | 'i64' | 'string';

/** One control of G/S/TRY_EXT_CTRLS. */
export interface V4l2Control {
  id: number;
  kind: V4l2ControlKind;
  /** S/TRY_EXT_CTRLS: the value (number for 'i32', bigint for 'i64', string); not read by G_EXT_CTRLS */
  value?: number | bigint | string;
  /**
   * 'string' only: the buffer's bytes, NUL included, at most 65536 (pass QUERY_EXT_CTRL's elemSize).
   * Default: the value's UTF-8 length + 1 when setting; 0 when getting (the kernel then answers ENOSPC).
   */
  size?: number;
}

/** One control's value as the kernel left it: number ('i32'), bigint ('i64') or string. */
export type V4l2ControlValue = number | bigint | string;

/** What a failed G/S/TRY_EXT_CTRLS throws: the system error, with the kernel's error_idx. */
export interface V4l2ControlsError extends DmabufSystemError {
  /** struct v4l2_ext_controls.error_idx: the control that failed, or controls.length for none of them */
  index: number;
}

/** VIDIOC_DQEVENT: struct v4l2_event. */
export interface V4l2Event {
  /** V4L2_EVENT_* */
  type: number;
  sequence: number;
  /** events still queued after this one */
  pending: number;
  /** the control (V4L2_EVENT_CTRL) or input (V4L2_EVENT_SOURCE_CHANGE) it is about */
  id: number;
  /** CLOCK_MONOTONIC */
  timestamp: { sec: number; nsec: number };
  /** the 64-byte union u (struct v4l2_event_ctrl, v4l2_event_src_change, ...), little-endian */
  data: Uint8Array;
}

/**
 * One mmap()ed region. Opaque to callers; a backend keeps the address in it. The region stays mapped
 * until munmap() or until both this handle and its ArrayBuffer (if one was made) are garbage.
 */
export interface MapHandle {
  readonly length: number;
  readonly prot: number;
}

/** Plain file syscalls (native/fd.cc). */
export interface FileOps {
  /** open(2) with O_CLOEXEC always added. syscall 'open', path set. */
  open(path: string, flags: number): Fd;
  /** close(2). EBADF if not open. */
  close(fd: Fd): void;
  /** fcntl(F_DUPFD_CLOEXEC, 0). syscall 'dup'. */
  dup(fd: Fd): Fd;
  fstat(fd: Fd): StatInfo;
  /** stat(2) of a path. */
  stat(path: string): StatInfo;
  /** lseek(2); returns the new offset. */
  lseek(fd: Fd, offset: number, whence: number): number;
  /** fcntl(F_GETFL) */
  getFlags(fd: Fd): number;
  /** read(2) of up to `length` bytes (used to check that dma-bufs refuse read()). */
  read(fd: Fd, length: number): Uint8Array;
  /** write(2) (dma-bufs refuse it; memfds accept it). Returns bytes written. */
  write(fd: Fd, data: Uint8Array, position?: number): number;
  /** pread(2) of a regular file or memfd. */
  pread(fd: Fd, length: number, position: number): Uint8Array;
  /** A whole small text file, e.g. /proc/self/fdinfo/<fd> or a sysfs attribute. syscall 'open'/'read'. */
  readTextFile(path: string): string;
  /** Entries of a directory, sorted, without '.' and '..'. syscall 'opendir'. */
  readdir(path: string): string[];
  /** readlink(2). */
  readlink(path: string): string;
  /** access(path, mode) without throwing: true when permitted. */
  access(path: string, mode: number): boolean;
  /**
   * Whether fd still names the file whose identity words (lastId's three u32: st_dev, st_ino high
   * and low) are given: 0 yes, -1 another file, or fstat's errno (EBADF: the number is free).
   */
  fdCheck(fd: Fd, dev: number, inoHi: number, inoLo: number): number;
  /**
   * close(fd) when it still names the file with these identity words (then 0); otherwise nothing is
   * closed and the result is fdCheck's (-1 or errno). A failing close(2) throws (syscall 'close').
   */
  closeChecked(fd: Fd, dev: number, inoHi: number, inoLo: number): number;
  /**
   * /proc/self/fdinfo/<fd> of an owned fd, after checking (one fstat, the same call) that the number
   * still names the file with these identity words; null, with nothing read, when it does not or the
   * number is free. syscall 'open'/'read' (path: the fdinfo file) when reading fails.
   */
  fdinfoChecked(fd: Fd, dev: number, inoHi: number, inoLo: number): string | null;
}

/** memfd and its seals (native/fd.cc). */
export interface MemfdOps {
  /** memfd_create(2); MFD_CLOEXEC always added. */
  memfdCreate(name: string, flags: number): Fd;
  ftruncate(fd: Fd, size: number): void;
  /** fcntl(F_ADD_SEALS) */
  addSeals(fd: Fd, seals: number): void;
  /** fcntl(F_GET_SEALS) */
  getSeals(fd: Fd): number;
}

/** /dev/udmabuf (native/udmabuf.cc). */
export interface UdmabufOps {
  /** ioctl(UDMABUF_CREATE) on an open /dev/udmabuf; returns the new dma-buf fd. UDMABUF_FLAGS_CLOEXEC always added. */
  udmabufCreate(dev: Fd, memfd: Fd, offset: number, size: number, flags: number): Fd;
  /** ioctl(UDMABUF_CREATE_LIST); UDMABUF_FLAGS_CLOEXEC always added. */
  udmabufCreateList(dev: Fd, flags: number, items: readonly UdmabufItem[]): Fd;
  /**
   * udmabuf.create(size) in one call: memfd_create(name, MFD_ALLOW_SEALING, + MFD_HUGETLB), ftruncate,
   * F_ADD_SEALS(F_SEAL_SHRINK), UDMABUF_CREATE over the whole memfd, close of the memfd. Each step
   * fails with its own syscall's error.
   */
  udmabufCreateSized(dev: Fd, size: number, flags: number, hugetlb: boolean, name: string): Fd;
}

/** /dev/dma_heap/<name> (native/heap.cc). */
export interface HeapOps {
  /** ioctl(DMA_HEAP_IOCTL_ALLOC) on an open heap node; returns the new dma-buf fd. O_CLOEXEC always added to fdFlags. */
  heapAlloc(heap: Fd, len: number, fdFlags: number, heapFlags: number): Fd;
  /**
   * heapAlloc through an owned heap fd after checking (one fstat, the same call) that the number still
   * names the heap with these identity words; -1, with nothing allocated, when it does not or the
   * number is free.
   */
  heapAllocChecked(heap: Fd, dev: number, inoHi: number, inoLo: number, len: number, fdFlags: number,
    heapFlags: number): Fd;
}

/** The ioctls of every dma-buf fd (native/dmabuf.cc). */
export interface DmabufOps {
  /** ioctl(DMA_BUF_IOCTL_SYNC) with raw flags; EINTR/EAGAIN retried. May block (fences). */
  dmabufSync(fd: Fd, flags: number): void;
  /**
   * dmabufSync with the flags bound: a function of the fd alone (what DmaBuf's beginAccess and
   * endAccess call, one per flag combination: one argument less to convert on every call). Its
   * errors are dmabufSync's.
   */
  dmabufSyncer(flags: number): (fd: Fd) => void;
  /** The same, on the thread pool, against a dup of fd. */
  dmabufSyncAsync(fd: Fd, flags: number): Promise<void>;
  /** ioctl(DMA_BUF_SET_NAME_B): the kernel copies at most 32 bytes incl. NUL. */
  dmabufSetName(fd: Fd, name: string): void;
  /**
   * dmabufSetName through an owned fd after checking (one fstat, the same call) that the number still
   * names the dma-buf with these identity words: 0, or -1 with nothing done when it does not or the
   * number is free.
   */
  dmabufSetNameChecked(fd: Fd, dev: number, inoHi: number, inoLo: number, name: string): number;
  /** ioctl(DMA_BUF_IOCTL_EXPORT_SYNC_FILE); flags DMA_BUF_SYNC_READ/WRITE; returns a sync_file fd. */
  dmabufExportSyncFile(fd: Fd, flags: number): Fd;
  /** ioctl(DMA_BUF_IOCTL_IMPORT_SYNC_FILE) */
  dmabufImportSyncFile(fd: Fd, flags: number, syncFile: Fd): void;
}

/** sync_file fds (native/sync.cc). */
export interface SyncFileOps {
  /** ioctl(SYNC_IOC_FILE_INFO), including the fence array. */
  syncFileInfo(fd: Fd): SyncFileInfo;
  /** ioctl(SYNC_IOC_MERGE); returns a new sync_file fd. */
  syncFileMerge(name: string, fd1: Fd, fd2: Fd): Fd;
}

/** poll(2) (native/fd.cc). */
export interface PollOps {
  /** poll(2) on one fd; returns revents (0 on timeout). timeoutMs < 0 = forever. EINTR retried. */
  poll(fd: Fd, events: number, timeoutMs: number): number;
  /**
   * The same without blocking the JS thread: the event loop's epoll watches a dup of fd (a file epoll
   * cannot watch, e.g. a regular file, is polled on the thread pool instead). Resolves poll(2)'s revents,
   * 0 on timeout, POLLNVAL for a closed fd.
   */
  pollAsync(fd: Fd, events: number, timeoutMs: number): Promise<number>;
}

/** mmap(2) and the views over a mapping (native/mapping.cc). */
export interface MappingOps {
  /**
   * mmap(2). offset must be page aligned (else EINVAL from the kernel). Refused before the kernel,
   * because the result could crash JS: MAP_FIXED / MAP_FIXED_NOREPLACE (ERR_INVALID_ARG_VALUE), and a
   * regular file or memfd mapped past its current end (ERR_OUT_OF_RANGE: touching it would SIGBUS).
   */
  mmap(fd: Fd, length: number, prot: number, flags: number, offset: number): MapHandle;
  /**
   * mmap of an owned fd after checking, with the same fstat, that it still names the file with these
   * identity words (Backend.lastId's layout); null, with nothing mapped, when it does not or the
   * number is free. Otherwise mmap's behaviour and errors.
   */
  mmapChecked(fd: Fd, dev: number, inoHi: number, inoLo: number, length: number, prot: number, flags: number,
    offset: number): MapHandle | null;
  /**
   * The zero-copy ArrayBuffer over a PROT_WRITE|PROT_READ mapping; the same object on every call.
   * A read-only mapping never gets one (a write through it would crash): ERR_INVALID_STATE.
   * After munmap: ERR_INVALID_STATE.
   */
  mapBuffer(m: MapHandle): ArrayBuffer;
  /** Copy `target.byteLength` bytes at `offset` of the mapping into target (any readable mapping). */
  mapRead(m: MapHandle, offset: number, target: Uint8Array): void;
  /** Detach the ArrayBuffer (if any), then munmap(2). Idempotent. */
  munmap(m: MapHandle): void;
  /** True until munmap(). */
  isMapped(m: MapHandle): boolean;
}

/** DRM device ioctls: version, caps, dumb buffers, GEM, PRIME, vgem fences (native/drm.cc). */
export interface DrmOps {
  /** ioctl(DRM_IOCTL_VERSION) */
  drmVersion(fd: Fd): DrmVersion;
  /** ioctl(DRM_IOCTL_GET_CAP) */
  drmGetCap(fd: Fd, capability: number): number;
  /** ioctl(DRM_IOCTL_SET_CLIENT_CAP) */
  drmSetClientCap(fd: Fd, capability: number, value: number): void;
  /** ioctl(DRM_IOCTL_MODE_CREATE_DUMB) */
  drmCreateDumb(fd: Fd, width: number, height: number, bpp: number, flags: number): DumbBuffer;
  /** ioctl(DRM_IOCTL_MODE_MAP_DUMB): the fake mmap offset on the DRM fd. */
  drmMapDumb(fd: Fd, handle: number): number;
  /** ioctl(DRM_IOCTL_MODE_DESTROY_DUMB) */
  drmDestroyDumb(fd: Fd, handle: number): void;
  /** ioctl(DRM_IOCTL_GEM_CLOSE) */
  drmGemClose(fd: Fd, handle: number): void;
  /** ioctl(DRM_IOCTL_PRIME_HANDLE_TO_FD); flags DRM_CLOEXEC|DRM_RDWR (DRM_CLOEXEC always added). */
  drmPrimeHandleToFd(fd: Fd, handle: number, flags: number): Fd;
  /** ioctl(DRM_IOCTL_PRIME_FD_TO_HANDLE) */
  drmPrimeFdToHandle(fd: Fd, dmabuf: Fd): number;
  /** ioctl(DRM_IOCTL_VGEM_FENCE_ATTACH): returns the fence id. flags VGEM_FENCE_WRITE. */
  vgemFenceAttach(fd: Fd, handle: number, flags: number): number;
  /** ioctl(DRM_IOCTL_VGEM_FENCE_SIGNAL) */
  vgemFenceSignal(fd: Fd, fence: number): void;
}

/** The sw_sync test timeline, /sys/kernel/debug/sync/sw_sync (native/sync.cc). */
export interface SwSyncOps {
  /** ioctl(SW_SYNC_IOC_CREATE_FENCE) on an open sw_sync timeline; returns a sync_file fd. */
  swSyncCreateFence(timeline: Fd, value: number, name: string): Fd;
  /** ioctl(SW_SYNC_IOC_INC) */
  swSyncInc(timeline: Fd, count: number): void;
}

/** SCM_RIGHTS over Unix sockets (native/fd.cc). */
export interface FdPassingOps {
  /** sendmsg(2) with SCM_RIGHTS over a connected Unix socket fd. */
  sendFds(socket: Fd, data: Uint8Array, fds: readonly Fd[]): number;
  /** recvmsg(2) with SCM_RIGHTS (MSG_CMSG_CLOEXEC); EAGAIN on a non-blocking socket with nothing. */
  recvFds(socket: Fd, maxData: number, maxFds: number): { data: Uint8Array; fds: Fd[] };
}

/** KMS modesetting on card nodes and the DRM event queue (native/kms.cc). */
export interface KmsOps {
  /** ioctl(DRM_IOCTL_MODE_GETRESOURCES), counts then ids (EOPNOTSUPP/EINVAL without KMS, e.g. vgem). */
  kmsGetResources(fd: Fd): KmsResources;
  /** ioctl(DRM_IOCTL_MODE_GETCONNECTOR): count_modes 0 first (the master's call probes), then the lists. */
  kmsGetConnector(fd: Fd, connectorId: number): KmsConnector;
  /** ioctl(DRM_IOCTL_MODE_GETCRTC) */
  kmsGetCrtc(fd: Fd, crtcId: number): KmsCrtc;
  /** ioctl(DRM_IOCTL_MODE_SETCRTC); mode null = mode_valid 0 (off); fbId 0xffffffff keeps the current fb. */
  kmsSetCrtc(fd: Fd, crtcId: number, fbId: number, x: number, y: number, connectorIds: readonly number[],
    mode: KmsModeInfo | null): void;
  /** ioctl(DRM_IOCTL_MODE_GETPLANERESOURCES): plane ids (overlays only without UNIVERSAL_PLANES). */
  kmsGetPlaneResources(fd: Fd): number[];
  /** ioctl(DRM_IOCTL_MODE_GETPLANE), count then formats. */
  kmsGetPlane(fd: Fd, planeId: number): KmsPlane;
  /**
   * ioctl(DRM_IOCTL_MODE_ADDFB2) with up to 4 planes; modifiers are read by the kernel only with
   * flags & DRM_MODE_FB_MODIFIERS (else they must be 0). Returns the framebuffer id.
   */
  kmsAddFb2(fd: Fd, width: number, height: number, format: number, handles: readonly number[],
    pitches: readonly number[], offsets: readonly number[], modifiers: readonly bigint[], flags: number): number;
  /** ioctl(DRM_IOCTL_MODE_RMFB) */
  kmsRmFb(fd: Fd, fbId: number): void;
  /** ioctl(DRM_IOCTL_MODE_PAGE_FLIP); flags DRM_MODE_PAGE_FLIP_EVENT (1) queues a flip-complete event. */
  kmsPageFlip(fd: Fd, crtcId: number, fbId: number, flags: number, userData: number): void;
  /** ioctl(DRM_IOCTL_MODE_GETENCODER) */
  kmsGetEncoder(fd: Fd, encoderId: number): KmsEncoder;
  /** ioctl(DRM_IOCTL_MODE_OBJ_GETPROPERTIES), count then lists; objType DRM_MODE_OBJECT_* (0: any). */
  kmsGetProperties(fd: Fd, objectId: number, objectType: number): KmsObjectProperties;
  /** ioctl(DRM_IOCTL_MODE_GETPROPERTY), count then lists. */
  kmsGetProperty(fd: Fd, propertyId: number): KmsProperty;
  /** ioctl(DRM_IOCTL_MODE_GETPROPBLOB): the blob's bytes (a copy). */
  kmsGetBlob(fd: Fd, blobId: number): Uint8Array;
  /** ioctl(DRM_IOCTL_MODE_CREATEPROPBLOB): a blob of this file holding data (e.g. a MODE_ID mode); its id. */
  kmsCreateBlob(fd: Fd, data: Uint8Array): number;
  /** ioctl(DRM_IOCTL_MODE_DESTROYPROPBLOB) */
  kmsDestroyBlob(fd: Fd, blobId: number): void;
  /**
   * ioctl(DRM_IOCTL_MODE_ATOMIC) (needs DRM_CLIENT_CAP_ATOMIC): counts[i] properties of objects[i],
   * taken in order from props and values. The values at the indexes listed in outFences are fence
   * pointers (OUT_FENCE_PTR, WRITEBACK_OUT_FENCE_PTR): the addon points each at an s32 it owns,
   * initialised to -1, and returns them in that order once the ioctl returns: sync_file fds the
   * caller owns (O_CLOEXEC, the kernel's), or -1 where the kernel made none (TEST_ONLY).
   * flags: DRM_MODE_PAGE_FLIP_EVENT, DRM_MODE_ATOMIC_TEST_ONLY, _NONBLOCK, _ALLOW_MODESET.
   */
  kmsAtomic(fd: Fd, flags: number, objects: readonly number[], counts: readonly number[], props: readonly number[],
    values: readonly bigint[], userData: number, outFences: readonly number[]): number[];
  /** The events queued on a DRM file, without blocking (none: []); wait with pollAsync(POLLIN). */
  drmReadEvents(fd: Fd): DrmEvent[];
}

/** VIDIOC_ENCODER_CMD / VIDIOC_DECODER_CMD: cmd and flags of the struct as the driver left them. */
export interface V4l2CodecCommand {
  /** V4L2_ENC_CMD_* or V4L2_DEC_CMD_* */
  cmd: number;
  flags: number;
}

/**
 * V4L2 video nodes (native/v4l2.cc): one method per ioctl, syscall 'ioctl(VIDIOC_...)'. The library
 * opens video nodes O_RDWR | O_NONBLOCK; on a blocking fd DQBUF and DQEVENT would block the JS thread.
 * Layouts follow the buffer type as the kernel reads it (V4L2_TYPE_IS_MULTIPLANAR: types 9 and 10
 * carry a plane array); formats exist for the video types 1, 2, 9 and 10 only (others are
 * ERR_INVALID_ARG_VALUE before the ioctl).
 */
export interface V4l2Ops {
  /** ioctl(VIDIOC_QUERYCAP) */
  v4l2QueryCap(fd: Fd): V4l2Capability;
  /** ioctl(VIDIOC_ENUM_FMT); EINVAL past the last format. */
  v4l2EnumFmt(fd: Fd, type: number, index: number): V4l2FmtDesc;
  /** ioctl(VIDIOC_ENUM_FRAMESIZES); EINVAL past the last size (and for a format the node lacks). */
  v4l2EnumFrameSizes(fd: Fd, pixelformat: number, index: number): V4l2FrameSize;
  /** ioctl(VIDIOC_G_FMT) of a video buffer type (1, 2, 9, 10). */
  v4l2GetFmt(fd: Fd, type: number): V4l2PixFormat;
  /** ioctl(VIDIOC_S_FMT), or ioctl(VIDIOC_TRY_FMT) when tryOnly; returns the format the driver made of it. */
  v4l2SetFmt(fd: Fd, format: V4l2PixFormat, tryOnly: boolean): V4l2PixFormat;
  /** ioctl(VIDIOC_REQBUFS); count 0 frees the queue's buffers. */
  v4l2ReqBufs(fd: Fd, type: number, memory: number, count: number): V4l2RequestBuffers;
  /** ioctl(VIDIOC_CREATE_BUFS): count more buffers for format (its type is the queue's). */
  v4l2CreateBufs(fd: Fd, memory: number, count: number, format: V4l2PixFormat): V4l2CreateBuffers;
  /** ioctl(VIDIOC_QUERYBUF), with room for VIDEO_MAX_PLANES planes. */
  v4l2QueryBuf(fd: Fd, type: number, memory: number, index: number): V4l2Buffer;
  /** ioctl(VIDIOC_QBUF); returns the buffer's state afterwards. */
  v4l2QBuf(fd: Fd, buffer: V4l2QueueBuffer): V4l2Buffer;
  /** ioctl(VIDIOC_PREPARE_BUF) */
  v4l2PrepareBuf(fd: Fd, buffer: V4l2QueueBuffer): V4l2Buffer;
  /**
   * ioctl(VIDIOC_DQBUF), with room for VIDEO_MAX_PLANES planes (the kernel reports the count). null
   * when the kernel answers EAGAIN: nothing is ready on the non-blocking fd. It never waits: wait with
   * pollAsync(fd, POLLIN) (capture) or POLLOUT (output), off the JS thread, then call it.
   */
  v4l2DqBuf(fd: Fd, type: number, memory: number): V4l2Buffer | null;
  /** ioctl(VIDIOC_EXPBUF) of an MMAP buffer's plane; returns the new dma-buf fd. O_CLOEXEC always added to flags. */
  v4l2ExpBuf(fd: Fd, type: number, index: number, plane: number, flags: number): Fd;
  /** ioctl(VIDIOC_STREAMON) */
  v4l2StreamOn(fd: Fd, type: number): void;
  /** ioctl(VIDIOC_STREAMOFF): every buffer returns to userspace (dequeued). */
  v4l2StreamOff(fd: Fd, type: number): void;
  /** ioctl(VIDIOC_G_INPUT) */
  v4l2GetInput(fd: Fd): number;
  /** ioctl(VIDIOC_S_INPUT) */
  v4l2SetInput(fd: Fd, index: number): void;
  /** ioctl(VIDIOC_G_OUTPUT) */
  v4l2GetOutput(fd: Fd): number;
  /** ioctl(VIDIOC_S_OUTPUT) */
  v4l2SetOutput(fd: Fd, index: number): void;
  /** ioctl(VIDIOC_ENUMINPUT); EINVAL past the last input. */
  v4l2EnumInput(fd: Fd, index: number): V4l2Input;
  /** ioctl(VIDIOC_ENUMOUTPUT); EINVAL past the last output. */
  v4l2EnumOutput(fd: Fd, index: number): V4l2Output;
  /**
   * ioctl(VIDIOC_QUERY_EXT_CTRL). id | V4L2_CTRL_FLAG_NEXT_CTRL (and | V4L2_CTRL_FLAG_NEXT_COMPOUND)
   * asks for the next control after id; EINVAL after the last one.
   */
  v4l2QueryExtCtrl(fd: Fd, id: number): V4l2QueryExtCtrl;
  /** ioctl(VIDIOC_QUERYMENU); EINVAL for an index the menu skips. */
  v4l2QueryMenu(fd: Fd, id: number, index: number): V4l2QueryMenu;
  /**
   * ioctl(VIDIOC_G_EXT_CTRLS) of at most V4L2_CID_MAX_CTRLS (1024) controls; which is
   * V4L2_CTRL_WHICH_CUR_VAL (0), _DEF_VAL or a control class. A failure carries the kernel's
   * error_idx as `index` (V4l2ControlsError).
   */
  v4l2GetExtCtrls(fd: Fd, which: number, controls: readonly V4l2Control[]): V4l2ControlValue[];
  /**
   * ioctl(VIDIOC_S_EXT_CTRLS), or ioctl(VIDIOC_TRY_EXT_CTRLS) when tryOnly; returns the values the
   * kernel wrote back (adjusted). A failure carries error_idx as `index`: the failing control, or
   * controls.length when S_EXT_CTRLS changed none.
   */
  v4l2SetExtCtrls(fd: Fd, which: number, controls: readonly V4l2Control[], tryOnly: boolean): V4l2ControlValue[];
  /** ioctl(VIDIOC_SUBSCRIBE_EVENT); flags V4L2_EVENT_SUB_FL_SEND_INITIAL, _ALLOW_FEEDBACK. */
  v4l2SubscribeEvent(fd: Fd, type: number, id: number, flags: number): void;
  /** ioctl(VIDIOC_UNSUBSCRIBE_EVENT); type V4L2_EVENT_ALL (0) drops every subscription. */
  v4l2UnsubscribeEvent(fd: Fd, type: number, id: number, flags: number): void;
  /**
   * ioctl(VIDIOC_DQEVENT). null when the kernel answers ENOENT: no event is pending on the
   * non-blocking fd. Wait with pollAsync(fd, POLLPRI).
   */
  v4l2DqEvent(fd: Fd): V4l2Event | null;
  /**
   * ioctl(VIDIOC_ENCODER_CMD), or ioctl(VIDIOC_TRY_ENCODER_CMD) when tryOnly: cmd V4L2_ENC_CMD_START
   * (0), _STOP (1: drain), _PAUSE, _RESUME with flags (V4L2_ENC_CMD_STOP_AT_GOP_END); the rest of the
   * struct zero. ENOTTY on a node that is no encoder.
   */
  v4l2EncoderCmd(fd: Fd, cmd: number, flags: number, tryOnly: boolean): V4l2CodecCommand;
  /**
   * ioctl(VIDIOC_DECODER_CMD), or ioctl(VIDIOC_TRY_DECODER_CMD) when tryOnly: cmd V4L2_DEC_CMD_START
   * (0), _STOP (1: drain), _PAUSE, _RESUME, _FLUSH with flags; stop.pts and start.speed/format 0
   * (stop now, normal speed). ENOTTY on a node that is no decoder.
   */
  v4l2DecoderCmd(fd: Fd, cmd: number, flags: number, tryOnly: boolean): V4l2CodecCommand;
}

/** Every kernel operation, grouped by interface like native/ (one .cc file each) and src/backend/mock/. */
export interface Backend extends FileOps, MemfdOps, UdmabufOps, HeapOps, DmabufOps, SyncFileOps, PollOps, MappingOps,
  DrmOps, SwSyncOps, FdPassingOps, KmsOps, V4l2Ops {
  readonly name: 'native' | 'mock';
  /** sysconf(_SC_PAGESIZE) */
  readonly pageSize: number;
  /**
   * The identity of the last fd the backend handed out (open, dup, memfd, udmabuf, heap, PRIME export,
   * sync file, ...) as three u32 words: st_dev, st_ino's high and low halves. Read it right after the
   * call that made the fd; the next such call overwrites it.
   */
  readonly lastId: Uint32Array;
  /**
   * The same functions without the argument specification in front: for the library's own calls on
   * its hot paths, whose arguments it made itself (validated by the public API). The native addon
   * still checks every argument that could be unsafe.
   */
  readonly unchecked: Omit<Backend, 'name' | 'pageSize' | 'lastId' | 'unchecked'>;
}

/** The names of the syscall-shaped functions of a Backend (everything but the properties). */
export type BackendMethod = Exclude<keyof Backend, 'name' | 'pageSize' | 'lastId' | 'unchecked'>;
