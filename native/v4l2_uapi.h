// The V4L2 uAPI the addon uses, for v4l2.cc: structs with the kernel's names and layouts
// (include/uapi/linux/videodev2.h), their ioctl numbers and the constants the addon itself needs.
// Only what v4l2.cc reads or fills is declared; reserved fields are kept so every size is the
// kernel's. The host may have no V4L2 headers; every layout and number is checked against the
// kernel's on LP64 (x86-64, arm64). The time fields are the C library's struct timeval and timespec,
// as in the kernel's own header: on 32-bit the kernel takes both time layouts, each under its own
// ioctl number, so the numbers computed here are right there too.
#pragma once

#include <linux/types.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/time.h>
#include <time.h>

namespace dmabuf {

#define VIDEO_MAX_PLANES 8

// enum v4l2_buf_type: the two multi-planar video types, whose buffers carry a plane array
#define V4L2_BUF_TYPE_VIDEO_CAPTURE 1
#define V4L2_BUF_TYPE_VIDEO_OUTPUT 2
#define V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE 9
#define V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE 10
#define V4L2_TYPE_IS_MULTIPLANAR(type) \
  ((type) == V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE || (type) == V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE)

// enum v4l2_memory
#define V4L2_MEMORY_MMAP 1
#define V4L2_MEMORY_USERPTR 2
#define V4L2_MEMORY_DMABUF 4

// v4l2_pix_format.priv: the extended fields (flags, ycbcr_enc, quantization, xfer_func) are valid
#define V4L2_PIX_FMT_PRIV_MAGIC 0xfeedcafe

// enum v4l2_frmsizetypes
#define V4L2_FRMSIZE_TYPE_DISCRETE 1

#define V4L2_CTRL_MAX_DIMS 4
// The kernel refuses more controls in one VIDIOC_*_EXT_CTRLS (check_array_args: EINVAL).
#define V4L2_CID_MAX_CTRLS 1024

// ---- capabilities, formats, frame sizes ---------------------------------------------------------

struct v4l2_capability {
  char driver[16];
  char card[32];
  char bus_info[32];
  __u32 version;
  __u32 capabilities;
  __u32 device_caps;
  __u32 reserved[3];
};
static_assert(sizeof(v4l2_capability) == 104 && offsetof(v4l2_capability, version) == 80 &&
                  offsetof(v4l2_capability, device_caps) == 88,
              "v4l2_capability");

struct v4l2_fmtdesc {
  __u32 index;
  __u32 type;
  __u32 flags;
  char description[32];
  __u32 pixelformat;
  __u32 mbus_code;
  __u32 reserved[3];
};
static_assert(sizeof(v4l2_fmtdesc) == 64 && offsetof(v4l2_fmtdesc, pixelformat) == 44 &&
                  offsetof(v4l2_fmtdesc, mbus_code) == 48,
              "v4l2_fmtdesc");

struct v4l2_frmsize_discrete {
  __u32 width;
  __u32 height;
};

struct v4l2_frmsize_stepwise {
  __u32 min_width;
  __u32 max_width;
  __u32 step_width;
  __u32 min_height;
  __u32 max_height;
  __u32 step_height;
};

struct v4l2_frmsizeenum {
  __u32 index;
  __u32 pixel_format;
  __u32 type;  // enum v4l2_frmsizetypes
  union {
    struct v4l2_frmsize_discrete discrete;
    struct v4l2_frmsize_stepwise stepwise;
  };
  __u32 reserved[2];
};
static_assert(sizeof(v4l2_frmsizeenum) == 44 && offsetof(v4l2_frmsizeenum, discrete) == 12, "v4l2_frmsizeenum");

struct v4l2_pix_format {
  __u32 width;
  __u32 height;
  __u32 pixelformat;
  __u32 field;
  __u32 bytesperline;
  __u32 sizeimage;
  __u32 colorspace;
  __u32 priv;  // V4L2_PIX_FMT_PRIV_MAGIC: the fields below are valid
  __u32 flags;
  __u32 ycbcr_enc;  // union with hsv_enc
  __u32 quantization;
  __u32 xfer_func;
};
static_assert(sizeof(v4l2_pix_format) == 48 && offsetof(v4l2_pix_format, priv) == 28, "v4l2_pix_format");

struct v4l2_plane_pix_format {
  __u32 sizeimage;
  __u32 bytesperline;
  __u16 reserved[6];
} __attribute__((packed));
static_assert(sizeof(v4l2_plane_pix_format) == 20, "v4l2_plane_pix_format");

struct v4l2_pix_format_mplane {
  __u32 width;
  __u32 height;
  __u32 pixelformat;
  __u32 field;
  __u32 colorspace;
  struct v4l2_plane_pix_format plane_fmt[VIDEO_MAX_PLANES];
  __u8 num_planes;
  __u8 flags;
  __u8 ycbcr_enc;  // union with hsv_enc
  __u8 quantization;
  __u8 xfer_func;
  __u8 reserved[7];
} __attribute__((packed));
static_assert(sizeof(v4l2_pix_format_mplane) == 192 && offsetof(v4l2_pix_format_mplane, num_planes) == 180,
              "v4l2_pix_format_mplane");

struct v4l2_format {
  __u32 type;
  union {
    struct v4l2_pix_format pix;           // VIDEO_CAPTURE, VIDEO_OUTPUT
    struct v4l2_pix_format_mplane pix_mp;  // VIDEO_CAPTURE_MPLANE, VIDEO_OUTPUT_MPLANE
    __u8 raw_data[200];
    void* window_;  // the kernel's union holds struct v4l2_window, with pointers: it is pointer-aligned
  } fmt;
};
#if defined(__LP64__)
static_assert(sizeof(v4l2_format) == 208 && offsetof(v4l2_format, fmt) == 8, "v4l2_format (LP64)");
#endif

// ---- buffers ----------------------------------------------------------------------------------------

struct v4l2_requestbuffers {
  __u32 count;
  __u32 type;
  __u32 memory;
  __u32 capabilities;
  __u8 flags;
  __u8 reserved[3];
};
static_assert(sizeof(v4l2_requestbuffers) == 20 && offsetof(v4l2_requestbuffers, flags) == 16,
              "v4l2_requestbuffers");

struct v4l2_create_buffers {
  __u32 index;
  __u32 count;
  __u32 memory;
  struct v4l2_format format;
  __u32 capabilities;
  __u32 flags;
  __u32 max_num_buffers;
  __u32 reserved[5];
};
#if defined(__LP64__)
static_assert(sizeof(v4l2_create_buffers) == 256 && offsetof(v4l2_create_buffers, format) == 16 &&
                  offsetof(v4l2_create_buffers, capabilities) == 224,
              "v4l2_create_buffers (LP64)");
#endif

struct v4l2_timecode {
  __u32 type;
  __u32 flags;
  __u8 frames;
  __u8 seconds;
  __u8 minutes;
  __u8 hours;
  __u8 userbits[4];
};
static_assert(sizeof(v4l2_timecode) == 16, "v4l2_timecode");

struct v4l2_plane {
  __u32 bytesused;
  __u32 length;
  union {
    __u32 mem_offset;
    unsigned long userptr;
    __s32 fd;
  } m;
  __u32 data_offset;
  __u32 reserved[11];
};
#if defined(__LP64__)
static_assert(sizeof(v4l2_plane) == 64 && offsetof(v4l2_plane, m) == 8 && offsetof(v4l2_plane, data_offset) == 16,
              "v4l2_plane (LP64)");
#endif

struct v4l2_buffer {
  __u32 index;
  __u32 type;
  __u32 bytesused;
  __u32 flags;
  __u32 field;
  struct timeval timestamp;
  struct v4l2_timecode timecode;
  __u32 sequence;
  __u32 memory;
  union {
    __u32 offset;
    unsigned long userptr;
    struct v4l2_plane* planes;  // multi-planar types: `length` elements
    __s32 fd;
  } m;
  __u32 length;  // multi-planar types: the number of elements of m.planes
  __u32 reserved2;
  union {
    __s32 request_fd;
    __u32 reserved;
  };
};
#if defined(__LP64__)
static_assert(sizeof(v4l2_buffer) == 88, "v4l2_buffer (LP64)");
static_assert(offsetof(v4l2_buffer, timestamp) == 24 && offsetof(v4l2_buffer, timecode) == 40 &&
                  offsetof(v4l2_buffer, sequence) == 56 && offsetof(v4l2_buffer, memory) == 60,
              "v4l2_buffer fields (LP64)");
static_assert(offsetof(v4l2_buffer, m) == 64 && offsetof(v4l2_buffer, length) == 72 &&
                  offsetof(v4l2_buffer, request_fd) == 80,
              "v4l2_buffer.m (LP64)");
#endif

struct v4l2_exportbuffer {
  __u32 type;
  __u32 index;
  __u32 plane;
  __u32 flags;  // O_CLOEXEC and the access mode
  __s32 fd;
  __u32 reserved[11];
};
static_assert(sizeof(v4l2_exportbuffer) == 64 && offsetof(v4l2_exportbuffer, fd) == 16, "v4l2_exportbuffer");

// ---- inputs and outputs -------------------------------------------------------------------------------

struct v4l2_input {
  __u32 index;
  char name[32];
  __u32 type;
  __u32 audioset;
  __u32 tuner;
  __u64 std;
  __u32 status;
  __u32 capabilities;
  __u32 reserved[3];
};
static_assert(sizeof(v4l2_input) == 80 && offsetof(v4l2_input, std) == 48 && offsetof(v4l2_input, status) == 56,
              "v4l2_input");

struct v4l2_output {
  __u32 index;
  char name[32];
  __u32 type;
  __u32 audioset;
  __u32 modulator;
  __u64 std;
  __u32 capabilities;
  __u32 reserved[3];
};
static_assert(sizeof(v4l2_output) == 72 && offsetof(v4l2_output, capabilities) == 56, "v4l2_output");

// ---- controls -----------------------------------------------------------------------------------------

struct v4l2_query_ext_ctrl {
  __u32 id;
  __u32 type;
  char name[32];
  __s64 minimum;
  __s64 maximum;
  __u64 step;
  __s64 default_value;
  __u32 flags;
  __u32 elem_size;
  __u32 elems;
  __u32 nr_of_dims;
  __u32 dims[V4L2_CTRL_MAX_DIMS];
  __u32 reserved[32];
};
static_assert(sizeof(v4l2_query_ext_ctrl) == 232 && offsetof(v4l2_query_ext_ctrl, minimum) == 40 &&
                  offsetof(v4l2_query_ext_ctrl, flags) == 72 && offsetof(v4l2_query_ext_ctrl, dims) == 88,
              "v4l2_query_ext_ctrl");

struct v4l2_querymenu {
  __u32 id;
  __u32 index;
  union {
    char name[32];  // MENU controls
    __s64 value;    // INTEGER_MENU controls
  };
  __u32 reserved;
} __attribute__((packed));
static_assert(sizeof(v4l2_querymenu) == 44 && offsetof(v4l2_querymenu, name) == 8, "v4l2_querymenu");

struct v4l2_ext_control {
  __u32 id;
  __u32 size;  // bytes at `string` / `ptr`: pointer controls only (0 for value controls)
  __u32 reserved2[1];
  union {
    __s32 value;
    __s64 value64;
    char* string;
    void* ptr;
  } __attribute__((packed));
} __attribute__((packed));
static_assert(sizeof(v4l2_ext_control) == 20 && offsetof(v4l2_ext_control, value) == 12, "v4l2_ext_control");

struct v4l2_ext_controls {
  __u32 which;  // union with ctrl_class
  __u32 count;
  __u32 error_idx;
  __s32 request_fd;
  __u32 reserved[1];
  struct v4l2_ext_control* controls;
};
#if defined(__LP64__)
static_assert(sizeof(v4l2_ext_controls) == 32 && offsetof(v4l2_ext_controls, controls) == 24,
              "v4l2_ext_controls (LP64)");
#endif

// ---- events -------------------------------------------------------------------------------------------

struct v4l2_event {
  __u32 type;
  union {
    __u8 data[64];
    __s64 align_;  // struct v4l2_event_ctrl, one of the union's members, holds an __s64
  } u;
  __u32 pending;
  __u32 sequence;
  struct timespec timestamp;
  __u32 id;
  __u32 reserved[8];
};
#if defined(__LP64__)
static_assert(sizeof(v4l2_event) == 136 && offsetof(v4l2_event, u) == 8 && offsetof(v4l2_event, pending) == 72 &&
                  offsetof(v4l2_event, timestamp) == 80 && offsetof(v4l2_event, id) == 96,
              "v4l2_event (LP64)");
#endif

struct v4l2_event_subscription {
  __u32 type;
  __u32 id;
  __u32 flags;
  __u32 reserved[5];
};
static_assert(sizeof(v4l2_event_subscription) == 32, "v4l2_event_subscription");

// ---- codec commands ---------------------------------------------------------------------------------

struct v4l2_encoder_cmd {
  __u32 cmd;
  __u32 flags;
  __u32 raw[8];  // the union raw.data: no command the addon sends uses it
};
static_assert(sizeof(v4l2_encoder_cmd) == 40, "v4l2_encoder_cmd");

struct v4l2_decoder_cmd {
  __u32 cmd;
  __u32 flags;
  union {
    __u64 stop_pts;  // stop.pts
    __u32 raw[16];   // raw.data; start.speed and start.format overlay its first two words
  } u;
};
static_assert(sizeof(v4l2_decoder_cmd) == 72 && offsetof(v4l2_decoder_cmd, u) == 8, "v4l2_decoder_cmd");

// ---- ioctl numbers: one declaration each, checked against the kernel's value (LP64) ------------------

#define VIDIOC_QUERYCAP _IOR('V', 0, struct v4l2_capability)
static_assert(VIDIOC_QUERYCAP == 0x80685600, "VIDIOC_QUERYCAP");
#define VIDIOC_ENUM_FMT _IOWR('V', 2, struct v4l2_fmtdesc)
static_assert(VIDIOC_ENUM_FMT == 0xc0405602, "VIDIOC_ENUM_FMT");
#define VIDIOC_G_FMT _IOWR('V', 4, struct v4l2_format)
#define VIDIOC_S_FMT _IOWR('V', 5, struct v4l2_format)
#define VIDIOC_REQBUFS _IOWR('V', 8, struct v4l2_requestbuffers)
static_assert(VIDIOC_REQBUFS == 0xc0145608, "VIDIOC_REQBUFS");
#define VIDIOC_QUERYBUF _IOWR('V', 9, struct v4l2_buffer)
#define VIDIOC_QBUF _IOWR('V', 15, struct v4l2_buffer)
#define VIDIOC_EXPBUF _IOWR('V', 16, struct v4l2_exportbuffer)
static_assert(VIDIOC_EXPBUF == 0xc0405610, "VIDIOC_EXPBUF");
#define VIDIOC_DQBUF _IOWR('V', 17, struct v4l2_buffer)
#define VIDIOC_STREAMON _IOW('V', 18, int)
static_assert(VIDIOC_STREAMON == 0x40045612, "VIDIOC_STREAMON");
#define VIDIOC_STREAMOFF _IOW('V', 19, int)
static_assert(VIDIOC_STREAMOFF == 0x40045613, "VIDIOC_STREAMOFF");
#define VIDIOC_ENUMINPUT _IOWR('V', 26, struct v4l2_input)
static_assert(VIDIOC_ENUMINPUT == 0xc050561a, "VIDIOC_ENUMINPUT");
#define VIDIOC_QUERYMENU _IOWR('V', 37, struct v4l2_querymenu)
static_assert(VIDIOC_QUERYMENU == 0xc02c5625, "VIDIOC_QUERYMENU");
#define VIDIOC_G_INPUT _IOR('V', 38, int)
static_assert(VIDIOC_G_INPUT == 0x80045626, "VIDIOC_G_INPUT");
#define VIDIOC_S_INPUT _IOWR('V', 39, int)
static_assert(VIDIOC_S_INPUT == 0xc0045627, "VIDIOC_S_INPUT");
#define VIDIOC_G_OUTPUT _IOR('V', 46, int)
static_assert(VIDIOC_G_OUTPUT == 0x8004562e, "VIDIOC_G_OUTPUT");
#define VIDIOC_S_OUTPUT _IOWR('V', 47, int)
static_assert(VIDIOC_S_OUTPUT == 0xc004562f, "VIDIOC_S_OUTPUT");
#define VIDIOC_ENUMOUTPUT _IOWR('V', 48, struct v4l2_output)
static_assert(VIDIOC_ENUMOUTPUT == 0xc0485630, "VIDIOC_ENUMOUTPUT");
#define VIDIOC_TRY_FMT _IOWR('V', 64, struct v4l2_format)
#define VIDIOC_ENCODER_CMD _IOWR('V', 77, struct v4l2_encoder_cmd)
static_assert(VIDIOC_ENCODER_CMD == 0xc028564d, "VIDIOC_ENCODER_CMD");
#define VIDIOC_TRY_ENCODER_CMD _IOWR('V', 78, struct v4l2_encoder_cmd)
static_assert(VIDIOC_TRY_ENCODER_CMD == 0xc028564e, "VIDIOC_TRY_ENCODER_CMD");
#define VIDIOC_DECODER_CMD _IOWR('V', 96, struct v4l2_decoder_cmd)
static_assert(VIDIOC_DECODER_CMD == 0xc0485660, "VIDIOC_DECODER_CMD");
#define VIDIOC_TRY_DECODER_CMD _IOWR('V', 97, struct v4l2_decoder_cmd)
static_assert(VIDIOC_TRY_DECODER_CMD == 0xc0485661, "VIDIOC_TRY_DECODER_CMD");
#define VIDIOC_G_EXT_CTRLS _IOWR('V', 71, struct v4l2_ext_controls)
#define VIDIOC_S_EXT_CTRLS _IOWR('V', 72, struct v4l2_ext_controls)
#define VIDIOC_TRY_EXT_CTRLS _IOWR('V', 73, struct v4l2_ext_controls)
#define VIDIOC_ENUM_FRAMESIZES _IOWR('V', 74, struct v4l2_frmsizeenum)
static_assert(VIDIOC_ENUM_FRAMESIZES == 0xc02c564a, "VIDIOC_ENUM_FRAMESIZES");
#define VIDIOC_DQEVENT _IOR('V', 89, struct v4l2_event)
#define VIDIOC_SUBSCRIBE_EVENT _IOW('V', 90, struct v4l2_event_subscription)
static_assert(VIDIOC_SUBSCRIBE_EVENT == 0x4020565a, "VIDIOC_SUBSCRIBE_EVENT");
#define VIDIOC_UNSUBSCRIBE_EVENT _IOW('V', 91, struct v4l2_event_subscription)
static_assert(VIDIOC_UNSUBSCRIBE_EVENT == 0x4020565b, "VIDIOC_UNSUBSCRIBE_EVENT");
#define VIDIOC_CREATE_BUFS _IOWR('V', 92, struct v4l2_create_buffers)
#define VIDIOC_PREPARE_BUF _IOWR('V', 93, struct v4l2_buffer)
#define VIDIOC_QUERY_EXT_CTRL _IOWR('V', 103, struct v4l2_query_ext_ctrl)
static_assert(VIDIOC_QUERY_EXT_CTRL == 0xc0e85667, "VIDIOC_QUERY_EXT_CTRL");
#if defined(__LP64__)
static_assert(VIDIOC_G_FMT == 0xc0d05604 && VIDIOC_S_FMT == 0xc0d05605 && VIDIOC_TRY_FMT == 0xc0d05640,
              "VIDIOC_G_FMT, VIDIOC_S_FMT, VIDIOC_TRY_FMT (LP64)");
static_assert(VIDIOC_QUERYBUF == 0xc0585609 && VIDIOC_QBUF == 0xc058560f && VIDIOC_DQBUF == 0xc0585611 &&
                  VIDIOC_PREPARE_BUF == 0xc058565d,
              "VIDIOC_QUERYBUF, VIDIOC_QBUF, VIDIOC_DQBUF, VIDIOC_PREPARE_BUF (LP64)");
static_assert(VIDIOC_CREATE_BUFS == 0xc100565c, "VIDIOC_CREATE_BUFS (LP64)");
static_assert(VIDIOC_G_EXT_CTRLS == 0xc0205647 && VIDIOC_S_EXT_CTRLS == 0xc0205648 &&
                  VIDIOC_TRY_EXT_CTRLS == 0xc0205649,
              "VIDIOC_G_EXT_CTRLS, VIDIOC_S_EXT_CTRLS, VIDIOC_TRY_EXT_CTRLS (LP64)");
static_assert(VIDIOC_DQEVENT == 0x80885659, "VIDIOC_DQEVENT (LP64)");
#endif

}  // namespace dmabuf
