/**
 * Kernel uAPI constants, under their kernel names (include/uapi/linux/{udmabuf,dma-heap,dma-buf,
 * sync_file,memfd,fcntl,videodev2}.h and include/uapi/drm/{drm,drm_mode,drm_fourcc,vgem_drm}.h), each defined
 * once: the API layer and the mock both import them from here. Values are the x86-64 / asm-generic
 * ones; ioctl numbers live in native/ (the backend never takes a raw ioctl number).
 */

// fcntl.h
export const O_RDONLY = 0o0;
export const O_WRONLY = 0o1;
export const O_RDWR = 0o2;
export const O_ACCMODE = 0o3;
export const O_NONBLOCK = 0o4000;
export const O_CLOEXEC = 0o2000000;
export const SEEK_SET = 0;
export const SEEK_CUR = 1;
export const SEEK_END = 2;
export const SEEK_DATA = 3;
export const SEEK_HOLE = 4;

// memfd.h / fcntl seals
export const MFD_CLOEXEC = 0x1;
export const MFD_ALLOW_SEALING = 0x2;
export const MFD_HUGETLB = 0x4;
export const F_SEAL_SEAL = 0x1;
export const F_SEAL_SHRINK = 0x2;
export const F_SEAL_GROW = 0x4;
export const F_SEAL_WRITE = 0x8;
export const F_SEAL_FUTURE_WRITE = 0x10;

// mman.h
export const PROT_NONE = 0x0;
export const PROT_READ = 0x1;
export const PROT_WRITE = 0x2;
export const MAP_SHARED = 0x1;
export const MAP_PRIVATE = 0x2;

// poll.h
export const POLLIN = 0x1;
export const POLLPRI = 0x2;
export const POLLOUT = 0x4;
export const POLLERR = 0x8;
export const POLLHUP = 0x10;
export const POLLNVAL = 0x20;

// udmabuf.h
export const UDMABUF_FLAGS_CLOEXEC = 0x01;

// dma-heap.h
export const DMA_HEAP_VALID_FD_FLAGS = O_CLOEXEC | O_ACCMODE;
export const DMA_HEAP_VALID_HEAP_FLAGS = 0;

// dma-buf.h
export const DMA_BUF_SYNC_READ = 1 << 0;
export const DMA_BUF_SYNC_WRITE = 2 << 0;
export const DMA_BUF_SYNC_RW = DMA_BUF_SYNC_READ | DMA_BUF_SYNC_WRITE;
export const DMA_BUF_SYNC_START = 0 << 2;
export const DMA_BUF_SYNC_END = 1 << 2;
export const DMA_BUF_SYNC_VALID_FLAGS_MASK = DMA_BUF_SYNC_RW | DMA_BUF_SYNC_END;
export const DMA_BUF_NAME_LEN = 32;

// drm.h
export const DRM_RDWR = O_RDWR;
export const DRM_CLOEXEC = O_CLOEXEC;
export const DRM_CAP_DUMB_BUFFER = 0x1;
export const DRM_CAP_VBLANK_HIGH_CRTC = 0x2;
export const DRM_CAP_DUMB_PREFERRED_DEPTH = 0x3;
export const DRM_CAP_DUMB_PREFER_SHADOW = 0x4;
export const DRM_CAP_PRIME = 0x5;
export const DRM_PRIME_CAP_IMPORT = 0x1;
export const DRM_PRIME_CAP_EXPORT = 0x2;
export const DRM_CAP_SYNCOBJ = 0x13;
export const DRM_CLIENT_CAP_UNIVERSAL_PLANES = 2;
export const DRM_CLIENT_CAP_ATOMIC = 3;

export const DRM_EVENT_VBLANK = 0x01;
export const DRM_EVENT_FLIP_COMPLETE = 0x02;
export const DRM_EVENT_CRTC_SEQUENCE = 0x03;

// drm_mode.h
export const DRM_MODE_PAGE_FLIP_EVENT = 0x01;
export const DRM_MODE_PAGE_FLIP_ASYNC = 0x02;
export const DRM_MODE_PAGE_FLIP_TARGET_ABSOLUTE = 0x4;
export const DRM_MODE_PAGE_FLIP_TARGET_RELATIVE = 0x8;
export const DRM_MODE_PAGE_FLIP_FLAGS = DRM_MODE_PAGE_FLIP_EVENT | DRM_MODE_PAGE_FLIP_ASYNC |
  DRM_MODE_PAGE_FLIP_TARGET_ABSOLUTE | DRM_MODE_PAGE_FLIP_TARGET_RELATIVE;
export const DRM_MODE_TYPE_PREFERRED = 1 << 3;
export const DRM_MODE_TYPE_DRIVER = 1 << 6;
export const DRM_MODE_CONNECTED = 1;
export const DRM_MODE_DISCONNECTED = 2;
export const DRM_MODE_UNKNOWNCONNECTION = 3;
export const DRM_MODE_CONNECTOR_VIRTUAL = 15;
export const DRM_MODE_FB_INTERLACED = 1 << 0;
export const DRM_MODE_FB_MODIFIERS = 1 << 1;
export const DRM_MODE_CONNECTOR_WRITEBACK = 18;
export const DRM_MODE_ATOMIC_TEST_ONLY = 0x0100;
export const DRM_MODE_ATOMIC_NONBLOCK = 0x0200;
export const DRM_MODE_ATOMIC_ALLOW_MODESET = 0x0400;
export const DRM_MODE_ATOMIC_FLAGS = DRM_MODE_PAGE_FLIP_EVENT | DRM_MODE_PAGE_FLIP_ASYNC | DRM_MODE_ATOMIC_TEST_ONLY |
  DRM_MODE_ATOMIC_NONBLOCK | DRM_MODE_ATOMIC_ALLOW_MODESET;
export const DRM_MODE_PROP_PENDING = 1 << 0;
export const DRM_MODE_PROP_RANGE = 1 << 1;
export const DRM_MODE_PROP_IMMUTABLE = 1 << 2;
export const DRM_MODE_PROP_ENUM = 1 << 3;
export const DRM_MODE_PROP_BLOB = 1 << 4;
export const DRM_MODE_PROP_BITMASK = 1 << 5;
export const DRM_MODE_PROP_LEGACY_TYPE = DRM_MODE_PROP_RANGE | DRM_MODE_PROP_ENUM | DRM_MODE_PROP_BLOB |
  DRM_MODE_PROP_BITMASK;
export const DRM_MODE_PROP_EXTENDED_TYPE = 0x0000ffc0;
export const DRM_MODE_PROP_OBJECT = 1 << 6;
export const DRM_MODE_PROP_SIGNED_RANGE = 2 << 6;
export const DRM_MODE_PROP_ATOMIC = 0x80000000;
export const DRM_MODE_OBJECT_CRTC = 0xcccccccc;
export const DRM_MODE_OBJECT_CONNECTOR = 0xc0c0c0c0;
export const DRM_MODE_OBJECT_ENCODER = 0xe0e0e0e0;
export const DRM_MODE_OBJECT_MODE = 0xdededede;
export const DRM_MODE_OBJECT_PROPERTY = 0xb0b0b0b0;
export const DRM_MODE_OBJECT_FB = 0xfbfbfbfb;
export const DRM_MODE_OBJECT_BLOB = 0xbbbbbbbb;
export const DRM_MODE_OBJECT_PLANE = 0xeeeeeeee;
export const DRM_MODE_OBJECT_ANY = 0;
export const DRM_PLANE_TYPE_OVERLAY = 0;
export const DRM_PLANE_TYPE_PRIMARY = 1;
export const DRM_PLANE_TYPE_CURSOR = 2;
/** struct drm_format_modifier_blob's version field for the IN_FORMATS layout. */
export const FORMAT_BLOB_CURRENT = 1;

// drm_fourcc.h
/** 'XR24': 32-bit pixels, little-endian B, G, R, X. */
export const DRM_FORMAT_XRGB8888 = 0x34325258;
/** 'AR24': 32-bit pixels, little-endian B, G, R, A. */
export const DRM_FORMAT_ARGB8888 = 0x34325241;
/** 'RG16': 16-bit pixels, little-endian R5 G6 B5. */
export const DRM_FORMAT_RGB565 = 0x36314752;

// vgem_drm.h
export const VGEM_FENCE_WRITE = 0x1;

// videodev2.h (V4L2)
export const VIDEO_MAX_PLANES = 8;
export const V4L2_BUF_TYPE_VIDEO_CAPTURE = 1;
export const V4L2_BUF_TYPE_VIDEO_OUTPUT = 2;
export const V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE = 9;
export const V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE = 10;
export const V4L2_MEMORY_MMAP = 1;
export const V4L2_MEMORY_USERPTR = 2;
export const V4L2_MEMORY_OVERLAY = 3;
export const V4L2_MEMORY_DMABUF = 4;
export const V4L2_FIELD_ANY = 0;
export const V4L2_FIELD_NONE = 1;
export const V4L2_CAP_VIDEO_CAPTURE = 0x00000001;
export const V4L2_CAP_VIDEO_OUTPUT = 0x00000002;
export const V4L2_CAP_VIDEO_CAPTURE_MPLANE = 0x00001000;
export const V4L2_CAP_VIDEO_OUTPUT_MPLANE = 0x00002000;
export const V4L2_CAP_VIDEO_M2M_MPLANE = 0x00004000;
export const V4L2_CAP_VIDEO_M2M = 0x00008000;
export const V4L2_CAP_STREAMING = 0x04000000;
/** Bit 31: `x & V4L2_CAP_DEVICE_CAPS` is negative in JS; compare with 0. */
export const V4L2_CAP_DEVICE_CAPS = 0x80000000;
export const V4L2_BUF_CAP_SUPPORTS_MMAP = 1 << 0;
export const V4L2_BUF_CAP_SUPPORTS_USERPTR = 1 << 1;
export const V4L2_BUF_CAP_SUPPORTS_DMABUF = 1 << 2;
export const V4L2_BUF_FLAG_MAPPED = 0x00000001;
export const V4L2_BUF_FLAG_QUEUED = 0x00000002;
export const V4L2_BUF_FLAG_DONE = 0x00000004;
export const V4L2_BUF_FLAG_KEYFRAME = 0x00000008;
export const V4L2_BUF_FLAG_PFRAME = 0x00000010;
export const V4L2_BUF_FLAG_BFRAME = 0x00000020;
export const V4L2_BUF_FLAG_ERROR = 0x00000040;
export const V4L2_BUF_FLAG_PREPARED = 0x00000400;
export const V4L2_BUF_FLAG_TIMESTAMP_MASK = 0x0000e000;
export const V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC = 0x00002000;
/** The last buffer of a drain (or before a resolution change); DQBUF on the capture queue then says EPIPE. */
export const V4L2_BUF_FLAG_LAST = 0x00100000;
export const V4L2_FMT_FLAG_COMPRESSED = 0x0001;
export const V4L2_FMT_FLAG_CONTINUOUS_BYTESTREAM = 0x0004;
export const V4L2_FMT_FLAG_DYN_RESOLUTION = 0x0008;
export const V4L2_ENC_CMD_START = 0;
export const V4L2_ENC_CMD_STOP = 1;
export const V4L2_ENC_CMD_PAUSE = 2;
export const V4L2_ENC_CMD_RESUME = 3;
export const V4L2_ENC_CMD_STOP_AT_GOP_END = 1 << 0;
export const V4L2_DEC_CMD_START = 0;
export const V4L2_DEC_CMD_STOP = 1;
export const V4L2_DEC_CMD_PAUSE = 2;
export const V4L2_DEC_CMD_RESUME = 3;
export const V4L2_DEC_CMD_FLUSH = 4;
export const V4L2_FRMSIZE_TYPE_DISCRETE = 1;
export const V4L2_FRMSIZE_TYPE_CONTINUOUS = 2;
export const V4L2_FRMSIZE_TYPE_STEPWISE = 3;
export const V4L2_INPUT_TYPE_CAMERA = 2;
export const V4L2_CTRL_TYPE_INTEGER = 1;
export const V4L2_CTRL_TYPE_BOOLEAN = 2;
export const V4L2_CTRL_TYPE_MENU = 3;
export const V4L2_CTRL_TYPE_BUTTON = 4;
export const V4L2_CTRL_TYPE_INTEGER64 = 5;
export const V4L2_CTRL_TYPE_CTRL_CLASS = 6;
export const V4L2_CTRL_TYPE_STRING = 7;
export const V4L2_CTRL_TYPE_BITMASK = 8;
export const V4L2_CTRL_TYPE_INTEGER_MENU = 9;
export const V4L2_CTRL_COMPOUND_TYPES = 0x0100;
/** Bit 31: OR it into an id with `(id | V4L2_CTRL_FLAG_NEXT_CTRL) >>> 0` (a JS `|` is signed). */
export const V4L2_CTRL_FLAG_NEXT_CTRL = 0x80000000;
export const V4L2_CTRL_FLAG_NEXT_COMPOUND = 0x40000000;
export const V4L2_CTRL_WHICH_CUR_VAL = 0;
export const V4L2_CTRL_WHICH_DEF_VAL = 0x0f000000;
/** The most controls one VIDIOC_*_EXT_CTRLS takes. */
export const V4L2_CID_MAX_CTRLS = 1024;
export const V4L2_EVENT_ALL = 0;
export const V4L2_EVENT_EOS = 2;
export const V4L2_EVENT_CTRL = 3;
export const V4L2_EVENT_SOURCE_CHANGE = 5;
export const V4L2_EVENT_SUB_FL_SEND_INITIAL = 1 << 0;
export const V4L2_EVENT_SUB_FL_ALLOW_FEEDBACK = 1 << 1;
export const V4L2_EVENT_CTRL_CH_VALUE = 1 << 0;
export const V4L2_EVENT_SRC_CH_RESOLUTION = 1 << 0;

// ---- more kernel names, used by the mock's model of the kernel ---------------------------------------

// fcntl.h
export const O_CREAT = 0o100;
export const O_EXCL = 0o200;
export const O_TRUNC = 0o1000;
export const O_APPEND = 0o2000;
export const O_LARGEFILE = 0o100000;
export const O_DIRECTORY = 0o200000;

// stat.h
export const S_IFREG = 0o100000;
export const S_IFDIR = 0o040000;
export const S_IFCHR = 0o020000;

// memfd.h / fcntl seals
export const MFD_NOEXEC_SEAL = 0x8;
export const MFD_EXEC = 0x10;
/** The hugetlb page-size field of memfd_create's flags: (flags >> MFD_HUGE_SHIFT) & MFD_HUGE_MASK. */
export const MFD_HUGE_SHIFT = 26;
export const MFD_HUGE_MASK = 0x3f;
export const F_SEAL_EXEC = 0x20;
// mm/memfd.c (kernel-internal)
export const F_ALL_SEALS = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_FUTURE_WRITE | F_SEAL_EXEC;
export const MFD_ALL_FLAGS = MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_HUGETLB | MFD_NOEXEC_SEAL | MFD_EXEC;
/** NAME_MAX less the "memfd:" prefix */
export const MFD_NAME_MAX_LEN = 249;

// mman.h
export const MAP_SHARED_VALIDATE = 0x3;
export const MAP_TYPE = 0x0f;
export const MAP_FIXED = 0x10;
export const MAP_FIXED_NOREPLACE = 0x100000;

// poll.h
export const POLLRDNORM = 0x40;
export const POLLWRNORM = 0x100;
/** include/linux/poll.h (kernel-internal): what a file without a poll operation answers */
export const DEFAULT_POLLMASK = POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM;

// drm.h
export const DRM_CAP_TIMESTAMP_MONOTONIC = 0x6;
export const DRM_CAP_ASYNC_PAGE_FLIP = 0x7;
export const DRM_CAP_CURSOR_WIDTH = 0x8;
export const DRM_CAP_CURSOR_HEIGHT = 0x9;
export const DRM_CAP_ADDFB2_MODIFIERS = 0x10;
export const DRM_CAP_PAGE_FLIP_TARGET = 0x11;
export const DRM_CAP_CRTC_IN_VBLANK_EVENT = 0x12;
export const DRM_CAP_SYNCOBJ_TIMELINE = 0x14;
export const DRM_CAP_ATOMIC_ASYNC_PAGE_FLIP = 0x15;
export const DRM_CLIENT_CAP_STEREO_3D = 1;
export const DRM_CLIENT_CAP_ASPECT_RATIO = 4;
export const DRM_CLIENT_CAP_WRITEBACK_CONNECTORS = 5;

// drm_mode.h
export const DRM_MODE_FLAG_PHSYNC = 1 << 0;
export const DRM_MODE_FLAG_NHSYNC = 1 << 1;
export const DRM_MODE_FLAG_PVSYNC = 1 << 2;
export const DRM_MODE_FLAG_NVSYNC = 1 << 3;
export const DRM_MODE_SUBPIXEL_UNKNOWN = 1;

// kernel-internal values
/** drivers/gpu/drm/drm_gem.c: where MAP_DUMB's fake offsets start, in pages (of 4 KiB). */
export const DRM_FILE_PAGE_OFFSET_START = 0x100000;
/** Character device majors: misc devices (/dev/udmabuf; include/uapi/linux/major.h) and DRM nodes. */
export const MISC_MAJOR = 10;
export const DRM_MAJOR = 226;
