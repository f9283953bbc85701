// V4L2 video nodes (include/uapi/linux/videodev2.h): capabilities, formats and frame sizes, the
// buffer queue (REQBUFS, CREATE_BUFS, QUERYBUF, PREPARE_BUF, QBUF, DQBUF, EXPBUF, STREAMON/OFF),
// inputs and outputs, extended controls, events and the codec commands (ENCODER_CMD, DECODER_CMD).
// Thin and syscall-shaped: which buffer type, which memory, when to wait and what an error means are
// TypeScript's. What is decided here protects memory only:
// - a struct is laid out for its buffer type the way the kernel reads it (V4L2_TYPE_IS_MULTIPLANAR):
//   a multi-planar buffer points the kernel at a plane array of the addon's own; formats are laid out
//   for the four video buffer types only, other types are refused before the ioctl;
// - no address from JS reaches the kernel: USERPTR (and OVERLAY) buffers are refused, and a control
//   goes either as a value (size 0: the kernel then never takes the value for a pointer) or as a
//   buffer of the addon's own of exactly `size` bytes;
// - bounds: VIDEO_MAX_PLANES planes, V4L2_CID_MAX_CTRLS controls, kMaxControlSize bytes a control.
// Every ioctl is retried on EINTR only (IoctlEintr): DQBUF's EAGAIN and DQEVENT's ENOENT are answers
// (null). Neither blocks on the non-blocking fds the library opens video nodes with; waiting is
// pollAsync's, off the JS thread. Structs and ioctl numbers: v4l2_uapi.h.
#include <fcntl.h>
#include <string.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <string>
#include <vector>

#include "addon.h"
#include "char_array.h"
#include "ioctl.h"
#include "v4l2_uapi.h"

namespace dmabuf {
namespace v4l2 {

namespace {

// The most bytes one control may carry (a string control's buffer, NUL included).
constexpr uint32_t kMaxControlSize = 1u << 16;
constexpr double kU32Max = 4294967295.0;
constexpr double kMaxSafe = 9007199254740991.0;  // 2^53 - 1

// The argument checks' reasons, word for word as src/backend/args.ts has them.
constexpr const char* kVideoTypeReason =
    "must be a video buffer type: V4L2_BUF_TYPE_VIDEO_CAPTURE (1), _OUTPUT (2), _CAPTURE_MPLANE (9) or "
    "_OUTPUT_MPLANE (10)";
constexpr const char* kMemoryReason =
    "must be V4L2_MEMORY_MMAP (1) or V4L2_MEMORY_DMABUF (4): a USERPTR buffer would hand the kernel an "
    "address from JavaScript";
constexpr const char* kDataOffsetReason = "must be 0 for a single-planar type (struct v4l2_buffer has no data_offset)";
constexpr const char* kMmapFdReason = "must be left out for V4L2_MEMORY_MMAP";
constexpr const char* kKinds = "'i32', 'i64', 'string'";

bool IsMultiplanar(__u32 type) {
  return V4L2_TYPE_IS_MULTIPLANAR(type);
}

Napi::Number Num(Napi::Env env, double v) {
  return Napi::Number::New(env, v);
}

// ---- argument readers (the checks of src/backend/args.ts, in its order) ---------------------------

// An object (not an array, not null).
Napi::Object ObjectValue(Napi::Env env, Napi::Value v, const std::string& name) {
  if (!v.IsObject() || v.IsArray()) ThrowInvalidArgType(env, name, "of type object", v);
  return v.As<Napi::Object>();
}


// The same, 0 when the field is undefined.
uint32_t OptionalU32(Napi::Env env, Napi::Object o, const char* key, const std::string& name) {
  return o.Get(key).IsUndefined() ? 0 : FieldU32(env, o, key, name);
}

// V4L2_BUF_TYPE_VIDEO_CAPTURE, _OUTPUT, _CAPTURE_MPLANE or _OUTPUT_MPLANE: the types a format is laid
// out for (struct v4l2_pix_format or v4l2_pix_format_mplane).
__u32 VideoBufType(Napi::Env env, Napi::Value v, const std::string& name) {
  __u32 type = ValueU32(env, v, name);
  if (type != V4L2_BUF_TYPE_VIDEO_CAPTURE && type != V4L2_BUF_TYPE_VIDEO_OUTPUT && !IsMultiplanar(type)) {
    ThrowInvalidArgValue(env, name, kVideoTypeReason, v);
  }
  return type;
}

// The plane list of a format or a buffer: exactly one for a single-planar type, 1 to VIDEO_MAX_PLANES
// for a multi-planar one.
Napi::Array Planes(Napi::Env env, Napi::Object o, const std::string& name, bool mp) {
  Napi::Array a = ValueArray(env, o.Get("planes"), name + ".planes");
  uint32_t n = a.Length();
  if (mp ? (n < 1 || n > VIDEO_MAX_PLANES) : n != 1) {
    ThrowOutOfRange(env, name + ".planes.length", mp ? ">= 1 && <= 8" : "1 for a single-planar type", Num(env, n));
  }
  return a;
}

std::string PlaneName(const std::string& name, uint32_t i) {
  return name + ".planes[" + std::to_string(i) + "]";
}

// ---- formats --------------------------------------------------------------------------------------

// A V4l2PixFormat: struct v4l2_pix_format (single-planar types) or v4l2_pix_format_mplane.
v4l2_format FormatFromJs(Napi::Env env, Napi::Value v, const std::string& name) {
  Napi::Object o = ObjectValue(env, v, name);
  v4l2_format f {};
  f.type = VideoBufType(env, o.Get("type"), name + ".type");
  const bool mp = IsMultiplanar(f.type);
  const double small = mp ? 255 : kU32Max;  // these four are __u8 in v4l2_pix_format_mplane
  uint32_t width = FieldU32(env, o, "width", name);
  uint32_t height = FieldU32(env, o, "height", name);
  uint32_t pixelformat = FieldU32(env, o, "pixelformat", name);
  uint32_t field = FieldU32(env, o, "field", name);
  uint32_t colorspace = FieldU32(env, o, "colorspace", name);
  uint32_t ycbcrEnc = FieldU32(env, o, "ycbcrEnc", name, small);
  uint32_t quantization = FieldU32(env, o, "quantization", name, small);
  uint32_t xferFunc = FieldU32(env, o, "xferFunc", name, small);
  uint32_t flags = FieldU32(env, o, "flags", name, small);
  Napi::Array planes = Planes(env, o, name, mp);
  __u32 bytesperline[VIDEO_MAX_PLANES] = {};
  __u32 sizeimage[VIDEO_MAX_PLANES] = {};
  for (uint32_t i = 0; i < planes.Length(); i++) {
    std::string at = PlaneName(name, i);
    Napi::Object p = ObjectValue(env, planes.Get(i), at);
    bytesperline[i] = FieldU32(env, p, "bytesperline", at);
    sizeimage[i] = FieldU32(env, p, "sizeimage", at);
  }
  if (mp) {
    v4l2_pix_format_mplane& m = f.fmt.pix_mp;
    m.width = width;
    m.height = height;
    m.pixelformat = pixelformat;
    m.field = field;
    m.colorspace = colorspace;
    m.ycbcr_enc = static_cast<__u8>(ycbcrEnc);
    m.quantization = static_cast<__u8>(quantization);
    m.xfer_func = static_cast<__u8>(xferFunc);
    m.flags = static_cast<__u8>(flags);
    m.num_planes = static_cast<__u8>(planes.Length());
    for (uint32_t i = 0; i < planes.Length(); i++) {
      m.plane_fmt[i].bytesperline = bytesperline[i];
      m.plane_fmt[i].sizeimage = sizeimage[i];
    }
  } else {
    v4l2_pix_format& p = f.fmt.pix;
    p.width = width;
    p.height = height;
    p.pixelformat = pixelformat;
    p.field = field;
    p.colorspace = colorspace;
    p.priv = V4L2_PIX_FMT_PRIV_MAGIC;  // the fields below are set (else the kernel zeroes them)
    p.ycbcr_enc = ycbcrEnc;
    p.quantization = quantization;
    p.xfer_func = xferFunc;
    p.flags = flags;
    p.bytesperline = bytesperline[0];
    p.sizeimage = sizeimage[0];
  }
  return f;
}

Napi::Object PlaneFormat(Napi::Env env, __u32 bytesperline, __u32 sizeimage) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("bytesperline", Num(env, bytesperline));
  o.Set("sizeimage", Num(env, sizeimage));
  return o;
}

Napi::Object FormatToJs(Napi::Env env, const v4l2_format& f, bool mp) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("type", Num(env, f.type));
  if (mp) {
    const v4l2_pix_format_mplane& m = f.fmt.pix_mp;
    o.Set("width", Num(env, m.width));
    o.Set("height", Num(env, m.height));
    o.Set("pixelformat", Num(env, m.pixelformat));
    o.Set("field", Num(env, m.field));
    o.Set("colorspace", Num(env, m.colorspace));
    o.Set("ycbcrEnc", Num(env, m.ycbcr_enc));
    o.Set("quantization", Num(env, m.quantization));
    o.Set("xferFunc", Num(env, m.xfer_func));
    o.Set("flags", Num(env, m.flags));
    uint32_t n = std::min<uint32_t>(m.num_planes, VIDEO_MAX_PLANES);
    Napi::Array planes = Napi::Array::New(env, n);
    for (uint32_t i = 0; i < n; i++) planes.Set(i, PlaneFormat(env, m.plane_fmt[i].bytesperline, m.plane_fmt[i].sizeimage));
    o.Set("planes", planes);
  } else {
    const v4l2_pix_format& p = f.fmt.pix;
    o.Set("width", Num(env, p.width));
    o.Set("height", Num(env, p.height));
    o.Set("pixelformat", Num(env, p.pixelformat));
    o.Set("field", Num(env, p.field));
    o.Set("colorspace", Num(env, p.colorspace));
    o.Set("ycbcrEnc", Num(env, p.ycbcr_enc));
    o.Set("quantization", Num(env, p.quantization));
    o.Set("xferFunc", Num(env, p.xfer_func));
    o.Set("flags", Num(env, p.flags));
    Napi::Array planes = Napi::Array::New(env, 1);
    planes.Set(0u, PlaneFormat(env, p.bytesperline, p.sizeimage));
    o.Set("planes", planes);
  }
  return o;
}

// ---- buffers --------------------------------------------------------------------------------------

// The kernel's struct and, for a multi-planar type, the plane array its m.planes points at.
struct Buffer {
  v4l2_buffer b {};
  v4l2_plane planes[VIDEO_MAX_PLANES] {};
  bool mp = false;

  // Before the ioctl: the layout of `type`, with room for every plane the kernel may report.
  explicit Buffer(__u32 type) : mp(IsMultiplanar(type)) {
    b.type = type;
    if (mp) {
      b.m.planes = planes;
      b.length = VIDEO_MAX_PLANES;
    }
  }
};

// A V4l2QueueBuffer (QBUF, PREPARE_BUF) into buf.
void BufferFromJs(Napi::Env env, Napi::Value v, const std::string& name, Buffer& buf) {
  Napi::Object o = ObjectValue(env, v, name);
  v4l2_buffer& b = buf.b;
  b.type = FieldU32(env, o, "type", name);
  buf.mp = IsMultiplanar(b.type);
  Napi::Value memory = o.Get("memory");
  b.memory = ValueU32(env, memory, name + ".memory");
  if (b.memory != V4L2_MEMORY_MMAP && b.memory != V4L2_MEMORY_DMABUF) {
    ThrowInvalidArgValue(env, name + ".memory", kMemoryReason, memory);
  }
  const bool dmabuf = b.memory == V4L2_MEMORY_DMABUF;
  b.index = FieldU32(env, o, "index", name);
  b.flags = OptionalU32(env, o, "flags", name);
  b.field = OptionalU32(env, o, "field", name);
  Napi::Value ts = o.Get("timestamp");
  if (!ts.IsUndefined()) {
    std::string at = name + ".timestamp";
    Napi::Object t = ObjectValue(env, ts, at);
    b.timestamp.tv_sec = static_cast<time_t>(CheckedNumber(env, t.Get("sec"), at + ".sec", -kMaxSafe, kMaxSafe));
    b.timestamp.tv_usec = static_cast<suseconds_t>(CheckedNumber(env, t.Get("usec"), at + ".usec", -kMaxSafe, kMaxSafe));
  }
  Napi::Array planes = Planes(env, o, name, buf.mp);
  for (uint32_t i = 0; i < planes.Length(); i++) {
    std::string at = PlaneName(name, i);
    Napi::Object p = ObjectValue(env, planes.Get(i), at);
    v4l2_plane& pl = buf.planes[i];
    pl.bytesused = FieldU32(env, p, "bytesused", at);
    pl.length = FieldU32(env, p, "length", at);
    Napi::Value offset = p.Get("dataOffset");
    if (!offset.IsUndefined()) {
      pl.data_offset = ValueU32(env, offset, at + ".dataOffset");
      if (!buf.mp && pl.data_offset != 0) ThrowInvalidArgValue(env, at + ".dataOffset", kDataOffsetReason, offset);
    }
    Napi::Value fd = p.Get("fd");
    if (dmabuf) {
      pl.m.fd = ValueFd(env, fd, at + ".fd");
    } else if (!fd.IsUndefined()) {
      ValueFd(env, fd, at + ".fd");
      ThrowInvalidArgValue(env, at + ".fd", kMmapFdReason, fd);
    }
  }
  if (buf.mp) {
    b.m.planes = buf.planes;
    b.length = planes.Length();
  } else {
    b.bytesused = buf.planes[0].bytesused;
    b.length = buf.planes[0].length;
    if (dmabuf) b.m.fd = buf.planes[0].m.fd;
  }
}

Napi::Object BufferPlane(Napi::Env env, __u32 memory, __u32 bytesused, __u32 length, __u32 dataOffset, __u32 memOffset,
                         __s32 fd) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("bytesused", Num(env, bytesused));
  o.Set("length", Num(env, length));
  o.Set("dataOffset", Num(env, dataOffset));
  o.Set("memOffset", Num(env, memory == V4L2_MEMORY_MMAP ? static_cast<double>(memOffset) : -1));
  o.Set("fd", Num(env, memory == V4L2_MEMORY_DMABUF ? fd : -1));
  return o;
}

// A V4l2Buffer. The planes are read from the addon's own array (never through the struct's pointer),
// as many as the kernel reports in `length`, at most VIDEO_MAX_PLANES.
Napi::Object BufferToJs(Napi::Env env, const Buffer& buf) {
  const v4l2_buffer& b = buf.b;
  Napi::Object o = Napi::Object::New(env);
  o.Set("index", Num(env, b.index));
  o.Set("type", Num(env, b.type));
  o.Set("memory", Num(env, b.memory));
  o.Set("bytesused", Num(env, b.bytesused));
  o.Set("flags", Num(env, b.flags));
  o.Set("field", Num(env, b.field));
  Napi::Object ts = Napi::Object::New(env);
  ts.Set("sec", Num(env, static_cast<double>(b.timestamp.tv_sec)));
  ts.Set("usec", Num(env, static_cast<double>(b.timestamp.tv_usec)));
  o.Set("timestamp", ts);
  o.Set("sequence", Num(env, b.sequence));
  o.Set("length", Num(env, b.length));
  Napi::Array planes = Napi::Array::New(env);
  if (buf.mp) {
    uint32_t n = std::min<uint32_t>(b.length, VIDEO_MAX_PLANES);
    for (uint32_t i = 0; i < n; i++) {
      const v4l2_plane& p = buf.planes[i];
      planes.Set(i, BufferPlane(env, b.memory, p.bytesused, p.length, p.data_offset, p.m.mem_offset, p.m.fd));
    }
  } else {
    planes.Set(0u, BufferPlane(env, b.memory, b.bytesused, b.length, 0, b.m.offset, b.m.fd));
  }
  o.Set("planes", planes);
  return o;
}

// ---- controls -------------------------------------------------------------------------------------

enum class Kind { kI32, kI64, kString };

Kind KindOf(Napi::Env env, Napi::Value v, const std::string& name) {
  if (!v.IsString()) ThrowInvalidArgType(env, name, std::string("one of ") + kKinds, v);
  std::string s = v.As<Napi::String>().Utf8Value();
  if (s == "i32") return Kind::kI32;
  if (s == "i64") return Kind::kI64;
  if (s == "string") return Kind::kString;
  ThrowInvalidArgValue(env, name, std::string("must be one of ") + kKinds, v);
}

// The struct v4l2_ext_control array, and the buffers the string controls point at (exactly `size`
// bytes each: the most the kernel reads or writes there).
struct Controls {
  std::vector<v4l2_ext_control> list;
  std::vector<Kind> kinds;
  std::vector<uint32_t> sizes;
  std::vector<std::vector<char>> buffers;  // max(size, 1) bytes: data() is never null
};

// A V4l2Control[]; with values for S/TRY_EXT_CTRLS, without (not read) for G_EXT_CTRLS.
Controls ControlsFromJs(Napi::Env env, Napi::Value v, const std::string& name, bool withValues) {
  Napi::Array a = ValueArray(env, v, name);
  const uint32_t n = a.Length();
  if (n > V4L2_CID_MAX_CTRLS) ThrowOutOfRange(env, name + ".length", "<= 1024", Num(env, n));
  Controls c;
  c.list.assign(n, v4l2_ext_control {});
  c.kinds.resize(n);
  c.sizes.assign(n, 0);
  c.buffers.resize(n);
  for (uint32_t i = 0; i < n; i++) {
    std::string at = name + "[" + std::to_string(i) + "]";
    Napi::Object o = ObjectValue(env, a.Get(i), at);
    v4l2_ext_control& x = c.list[i];
    x.id = FieldU32(env, o, "id", at);
    Kind kind = c.kinds[i] = KindOf(env, o.Get("kind"), at + ".kind");
    Napi::Value value = withValues ? o.Get("value") : env.Undefined();
    std::string text;
    if (withValues) {
      std::string vat = at + ".value";
      if (kind == Kind::kI32) {
        x.value = static_cast<__s32>(CheckedNumber(env, value, vat, -2147483648.0, 2147483647.0));
      } else if (kind == Kind::kI64) {
        x.value64 = ValueBigI64(env, value, vat);
      } else {
        if (!value.IsString()) ThrowInvalidArgType(env, vat, "of type string", value);
        text = value.As<Napi::String>().Utf8Value();
        if (text.find('\0') != std::string::npos) {
          ThrowInvalidArgValue(env, vat, "must be a string without null bytes", value);
        }
      }
    }
    Napi::Value sizeValue = o.Get("size");
    const bool sized = !sizeValue.IsUndefined();
    uint32_t size = sized ? static_cast<uint32_t>(CheckedNumber(env, sizeValue, at + ".size", 0, kMaxControlSize)) : 0;
    if (kind != Kind::kString) continue;  // a value: size stays 0
    if (!sized && withValues) {  // the string and its NUL
      if (text.size() >= kMaxControlSize) {
        ThrowInvalidArgValue(env, at + ".value", "must be at most 65535 bytes long", value);
      }
      size = static_cast<uint32_t>(text.size() + 1);
    }
    std::vector<char>& buf = c.buffers[i];
    buf.assign(std::max<uint32_t>(size, 1), '\0');
    memcpy(buf.data(), text.data(), std::min<size_t>(text.size(), size));
    x.size = c.sizes[i] = size;
    x.string = buf.data();
  }
  return c;
}

// The values the kernel left in the array: number (i32), bigint (i64), string (up to its NUL, within
// the control's buffer).
Napi::Array ControlValues(Napi::Env env, const Controls& c) {
  Napi::Array out = Napi::Array::New(env, c.list.size());
  for (uint32_t i = 0; i < c.list.size(); i++) {
    const v4l2_ext_control& x = c.list[i];
    if (c.kinds[i] == Kind::kI32) {
      out.Set(i, Num(env, x.value));
    } else if (c.kinds[i] == Kind::kI64) {
      out.Set(i, Napi::BigInt::New(env, static_cast<int64_t>(x.value64)));
    } else {
      const char* buf = c.buffers[i].data();
      out.Set(i, Napi::String::New(env, buf, strnlen(buf, c.sizes[i])));
    }
  }
  return out;
}

// G/S/TRY_EXT_CTRLS. A failure carries the kernel's error_idx as `index`: the control it failed on,
// or controls.length when the error is not one control's (then no control was changed by S).
Napi::Value ExtCtrls(Napi::Env env, int fd, __u32 which, Controls& c, unsigned long request, const char* syscall) {
  v4l2_ext_controls x {};
  x.which = which;
  x.count = static_cast<__u32>(c.list.size());
  x.error_idx = x.count;
  x.controls = c.list.data();
  if (IoctlEintr(fd, request, &x) < 0) {
    int err = errno;
    Napi::Value e = MakeSystemError(env, err, syscall);
    if (e.IsObject()) e.As<Napi::Object>().Set("index", Num(env, x.error_idx));
    throw Napi::Error(env, e);
  }
  return ControlValues(env, c);
}

// ---- the ioctls -----------------------------------------------------------------------------------

Napi::Value QueryCap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  v4l2_capability c {};
  IoctlEintrOrThrow(env, fd, VIDIOC_QUERYCAP, &c, "ioctl(VIDIOC_QUERYCAP)");
  Napi::Object o = Napi::Object::New(env);
  o.Set("driver", FixedString(env, c.driver));
  o.Set("card", FixedString(env, c.card));
  o.Set("busInfo", FixedString(env, c.bus_info));
  o.Set("version", Num(env, c.version));
  o.Set("capabilities", Num(env, c.capabilities));
  o.Set("deviceCaps", Num(env, c.device_caps));
  return o;
}

Napi::Value EnumFmt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  v4l2_fmtdesc d {};
  d.type = ArgU32(info, 1, "type");
  d.index = ArgU32(info, 2, "index");
  IoctlEintrOrThrow(env, fd, VIDIOC_ENUM_FMT, &d, "ioctl(VIDIOC_ENUM_FMT)");
  Napi::Object o = Napi::Object::New(env);
  o.Set("index", Num(env, d.index));
  o.Set("type", Num(env, d.type));
  o.Set("flags", Num(env, d.flags));
  o.Set("description", FixedString(env, d.description));
  o.Set("pixelformat", Num(env, d.pixelformat));
  o.Set("mbusCode", Num(env, d.mbus_code));
  return o;
}

Napi::Value EnumFrameSizes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  v4l2_frmsizeenum s {};
  s.pixel_format = ArgU32(info, 1, "pixelformat");
  s.index = ArgU32(info, 2, "index");
  IoctlEintrOrThrow(env, fd, VIDIOC_ENUM_FRAMESIZES, &s, "ioctl(VIDIOC_ENUM_FRAMESIZES)");
  Napi::Object o = Napi::Object::New(env);
  o.Set("index", Num(env, s.index));
  o.Set("pixelformat", Num(env, s.pixel_format));
  o.Set("type", Num(env, s.type));
  if (s.type == V4L2_FRMSIZE_TYPE_DISCRETE) {
    Napi::Object d = Napi::Object::New(env);
    d.Set("width", Num(env, s.discrete.width));
    d.Set("height", Num(env, s.discrete.height));
    o.Set("discrete", d);
  } else {  // CONTINUOUS (2) and STEPWISE (3) both fill the stepwise struct
    Napi::Object w = Napi::Object::New(env);
    w.Set("minWidth", Num(env, s.stepwise.min_width));
    w.Set("maxWidth", Num(env, s.stepwise.max_width));
    w.Set("stepWidth", Num(env, s.stepwise.step_width));
    w.Set("minHeight", Num(env, s.stepwise.min_height));
    w.Set("maxHeight", Num(env, s.stepwise.max_height));
    w.Set("stepHeight", Num(env, s.stepwise.step_height));
    o.Set("stepwise", w);
  }
  return o;
}

Napi::Value GetFmt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  v4l2_format f {};
  f.type = VideoBufType(env, Arg(info, 1), "type");
  IoctlEintrOrThrow(env, fd, VIDIOC_G_FMT, &f, "ioctl(VIDIOC_G_FMT)");
  return FormatToJs(env, f, IsMultiplanar(f.type));
}

Napi::Value SetFmt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  v4l2_format f = FormatFromJs(env, Arg(info, 1), "format");
  const bool mp = IsMultiplanar(f.type);
  if (ArgBool(info, 2, "tryOnly")) {
    IoctlEintrOrThrow(env, fd, VIDIOC_TRY_FMT, &f, "ioctl(VIDIOC_TRY_FMT)");
  } else {
    IoctlEintrOrThrow(env, fd, VIDIOC_S_FMT, &f, "ioctl(VIDIOC_S_FMT)");
  }
  return FormatToJs(env, f, mp);
}

Napi::Value ReqBufs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  v4l2_requestbuffers r {};
  r.type = ArgU32(info, 1, "type");
  r.memory = ArgU32(info, 2, "memory");
  r.count = ArgU32(info, 3, "count");
  IoctlEintrOrThrow(env, fd, VIDIOC_REQBUFS, &r, "ioctl(VIDIOC_REQBUFS)");
  Napi::Object o = Napi::Object::New(env);
  o.Set("count", Num(env, r.count));
  o.Set("capabilities", Num(env, r.capabilities));
  o.Set("flags", Num(env, r.flags));
  return o;
}

Napi::Value CreateBufs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  v4l2_create_buffers c {};
  c.memory = ArgU32(info, 1, "memory");
  c.count = ArgU32(info, 2, "count");
  c.format = FormatFromJs(env, Arg(info, 3), "format");
  IoctlEintrOrThrow(env, fd, VIDIOC_CREATE_BUFS, &c, "ioctl(VIDIOC_CREATE_BUFS)");
  Napi::Object o = Napi::Object::New(env);
  o.Set("index", Num(env, c.index));
  o.Set("count", Num(env, c.count));
  o.Set("capabilities", Num(env, c.capabilities));
  return o;
}

Napi::Value QueryBuf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  Buffer buf(ArgU32(info, 1, "type"));
  buf.b.memory = ArgU32(info, 2, "memory");
  buf.b.index = ArgU32(info, 3, "index");
  IoctlEintrOrThrow(env, fd, VIDIOC_QUERYBUF, &buf.b, "ioctl(VIDIOC_QUERYBUF)");
  return BufferToJs(env, buf);
}

// QBUF and PREPARE_BUF: the same struct in, the buffer's state out.
Napi::Value QueueBuffer(const Napi::CallbackInfo& info, unsigned long request, const char* syscall) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  Buffer buf(0);
  BufferFromJs(env, Arg(info, 1), "buffer", buf);
  IoctlEintrOrThrow(env, fd, request, &buf.b, syscall);
  return BufferToJs(env, buf);
}

// DQBUF with room for VIDEO_MAX_PLANES planes (vb2 takes any length from the buffer's plane count up
// to that, and reports the count in `length`). null for EAGAIN: nothing is ready on a non-blocking fd.
Napi::Value DqBuf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  Buffer buf(ArgU32(info, 1, "type"));
  buf.b.memory = ArgU32(info, 2, "memory");
  if (IoctlEintr(fd, VIDIOC_DQBUF, &buf.b) < 0) {
    if (errno == EAGAIN) return env.Null();
    ThrowErrno(env, errno, "ioctl(VIDIOC_DQBUF)");
  }
  return BufferToJs(env, buf);
}

Napi::Value ExpBuf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  v4l2_exportbuffer e {};
  e.type = ArgU32(info, 1, "type");
  e.index = ArgU32(info, 2, "index");
  e.plane = ArgU32(info, 3, "plane");
  e.flags = ArgU32(info, 4, "flags") | O_CLOEXEC;  // close-on-exec whatever JS passes
  e.fd = -1;
  IoctlEintrOrThrow(env, fd, VIDIOC_EXPBUF, &e, "ioctl(VIDIOC_EXPBUF)");
  // Another driver may take the ioctl by its number and succeed without writing an fd.
  if (e.fd < 0) ThrowInvalidArgValue(env, "fd", "is not a V4L2 device: the ioctl succeeded without a dma-buf fd", info[0]);
  return TrackFd(env, e.fd);
}

Napi::Value Stream(const Napi::CallbackInfo& info, unsigned long request, const char* syscall) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  int type = static_cast<int>(ArgU32(info, 1, "type"));
  IoctlEintrOrThrow(env, fd, request, &type, syscall);
  return env.Undefined();
}

// G_INPUT, G_OUTPUT: the current index.
Napi::Value GetIndex(const Napi::CallbackInfo& info, unsigned long request, const char* syscall) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  __u32 index = 0;
  IoctlEintrOrThrow(env, fd, request, &index, syscall);
  return Num(env, index);
}

// S_INPUT, S_OUTPUT.
Napi::Value SetIndex(const Napi::CallbackInfo& info, unsigned long request, const char* syscall) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  __u32 index = ArgU32(info, 1, "index");
  IoctlEintrOrThrow(env, fd, request, &index, syscall);
  return env.Undefined();
}

// ENUMINPUT, ENUMOUTPUT: struct v4l2_input and v4l2_output share these fields.
template <typename T>
Napi::Object EnumPort(const Napi::CallbackInfo& info, T& port, unsigned long request, const char* syscall) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  port.index = ArgU32(info, 1, "index");
  IoctlEintrOrThrow(env, fd, request, &port, syscall);
  Napi::Object o = Napi::Object::New(env);
  o.Set("index", Num(env, port.index));
  o.Set("name", FixedString(env, port.name));
  o.Set("type", Num(env, port.type));
  o.Set("capabilities", Num(env, port.capabilities));
  return o;
}

Napi::Value EnumInput(const Napi::CallbackInfo& info) {
  v4l2_input in {};
  Napi::Object o = EnumPort(info, in, VIDIOC_ENUMINPUT, "ioctl(VIDIOC_ENUMINPUT)");
  o.Set("status", Num(info.Env(), in.status));
  return o;
}

Napi::Value EnumOutput(const Napi::CallbackInfo& info) {
  v4l2_output out {};
  return EnumPort(info, out, VIDIOC_ENUMOUTPUT, "ioctl(VIDIOC_ENUMOUTPUT)");
}

Napi::Value QueryExtCtrl(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  v4l2_query_ext_ctrl q {};
  q.id = ArgU32(info, 1, "id");  // may carry V4L2_CTRL_FLAG_NEXT_CTRL | V4L2_CTRL_FLAG_NEXT_COMPOUND
  IoctlEintrOrThrow(env, fd, VIDIOC_QUERY_EXT_CTRL, &q, "ioctl(VIDIOC_QUERY_EXT_CTRL)");
  Napi::Object o = Napi::Object::New(env);
  o.Set("id", Num(env, q.id));
  o.Set("type", Num(env, q.type));
  o.Set("name", FixedString(env, q.name));
  o.Set("minimum", Napi::BigInt::New(env, static_cast<int64_t>(q.minimum)));
  o.Set("maximum", Napi::BigInt::New(env, static_cast<int64_t>(q.maximum)));
  o.Set("step", Napi::BigInt::New(env, static_cast<uint64_t>(q.step)));
  o.Set("defaultValue", Napi::BigInt::New(env, static_cast<int64_t>(q.default_value)));
  o.Set("flags", Num(env, q.flags));
  o.Set("elemSize", Num(env, q.elem_size));
  o.Set("elems", Num(env, q.elems));
  o.Set("nrOfDims", Num(env, q.nr_of_dims));
  uint32_t n = std::min<uint32_t>(q.nr_of_dims, V4L2_CTRL_MAX_DIMS);
  Napi::Array dims = Napi::Array::New(env, n);
  for (uint32_t i = 0; i < n; i++) dims.Set(i, Num(env, q.dims[i]));
  o.Set("dims", dims);
  return o;
}

// Both views of the item's union, raw: `name` means something for MENU controls, `value` for
// INTEGER_MENU ones (QUERY_EXT_CTRL's type says which).
Napi::Value QueryMenu(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  v4l2_querymenu m {};
  m.id = ArgU32(info, 1, "id");
  m.index = ArgU32(info, 2, "index");
  IoctlEintrOrThrow(env, fd, VIDIOC_QUERYMENU, &m, "ioctl(VIDIOC_QUERYMENU)");
  char name[sizeof m.name];
  memcpy(name, m.name, sizeof name);
  Napi::Object o = Napi::Object::New(env);
  o.Set("id", Num(env, m.id));
  o.Set("index", Num(env, m.index));
  o.Set("name", FixedString(env, name));
  o.Set("value", Napi::BigInt::New(env, static_cast<int64_t>(m.value)));
  return o;
}

Napi::Value GetExtCtrls(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  __u32 which = ArgU32(info, 1, "which");
  Controls c = ControlsFromJs(env, Arg(info, 2), "controls", false);
  return ExtCtrls(env, fd, which, c, VIDIOC_G_EXT_CTRLS, "ioctl(VIDIOC_G_EXT_CTRLS)");
}

Napi::Value SetExtCtrls(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  __u32 which = ArgU32(info, 1, "which");
  Controls c = ControlsFromJs(env, Arg(info, 2), "controls", true);
  if (ArgBool(info, 3, "tryOnly")) return ExtCtrls(env, fd, which, c, VIDIOC_TRY_EXT_CTRLS, "ioctl(VIDIOC_TRY_EXT_CTRLS)");
  return ExtCtrls(env, fd, which, c, VIDIOC_S_EXT_CTRLS, "ioctl(VIDIOC_S_EXT_CTRLS)");
}

// SUBSCRIBE_EVENT, UNSUBSCRIBE_EVENT.
Napi::Value Subscription(const Napi::CallbackInfo& info, unsigned long request, const char* syscall) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  v4l2_event_subscription s {};
  s.type = ArgU32(info, 1, "type");
  s.id = ArgU32(info, 2, "id");
  s.flags = ArgU32(info, 3, "flags");
  IoctlEintrOrThrow(env, fd, request, &s, syscall);
  return env.Undefined();
}

// The next event, or null for ENOENT: none is pending on a non-blocking fd.
Napi::Value DqEvent(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  v4l2_event e {};
  if (IoctlEintr(fd, VIDIOC_DQEVENT, &e) < 0) {
    if (errno == ENOENT) return env.Null();
    ThrowErrno(env, errno, "ioctl(VIDIOC_DQEVENT)");
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("type", Num(env, e.type));
  o.Set("sequence", Num(env, e.sequence));
  o.Set("pending", Num(env, e.pending));
  o.Set("id", Num(env, e.id));
  Napi::Object ts = Napi::Object::New(env);
  ts.Set("sec", Num(env, static_cast<double>(e.timestamp.tv_sec)));
  ts.Set("nsec", Num(env, static_cast<double>(e.timestamp.tv_nsec)));
  o.Set("timestamp", ts);
  Napi::Uint8Array data = Napi::Uint8Array::New(env, sizeof e.u.data);
  memcpy(data.Data(), e.u.data, sizeof e.u.data);
  o.Set("data", data);
  return o;
}

// ENCODER_CMD / DECODER_CMD and their TRY forms: cmd and flags, the rest zero (for the decoder the
// union of stop.pts, start.speed and format: stop at once, start at normal speed); returns cmd and
// flags as the driver left them. Cmd is v4l2_encoder_cmd or v4l2_decoder_cmd.
template <typename Cmd>
Napi::Value CodecCmd(const Napi::CallbackInfo& info, unsigned long request, const char* syscall,
                     unsigned long tryRequest, const char* trySyscall) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  Cmd c {};
  c.cmd = ArgU32(info, 1, "cmd");
  c.flags = ArgU32(info, 2, "flags");
  const bool tryOnly = ArgBool(info, 3, "tryOnly");
  IoctlEintrOrThrow(env, fd, tryOnly ? tryRequest : request, &c, tryOnly ? trySyscall : syscall);
  Napi::Object o = Napi::Object::New(env);
  o.Set("cmd", Num(env, c.cmd));
  o.Set("flags", Num(env, c.flags));
  return o;
}

Napi::Value EncoderCmd(const Napi::CallbackInfo& info) {
  return CodecCmd<v4l2_encoder_cmd>(info, VIDIOC_ENCODER_CMD, "ioctl(VIDIOC_ENCODER_CMD)",
                                    VIDIOC_TRY_ENCODER_CMD, "ioctl(VIDIOC_TRY_ENCODER_CMD)");
}

Napi::Value DecoderCmd(const Napi::CallbackInfo& info) {
  return CodecCmd<v4l2_decoder_cmd>(info, VIDIOC_DECODER_CMD, "ioctl(VIDIOC_DECODER_CMD)",
                                    VIDIOC_TRY_DECODER_CMD, "ioctl(VIDIOC_TRY_DECODER_CMD)");
}

// The ioctls that share an implementation, by request and syscall name.
#define V4L2_EXPORT(js, impl, request) \
  { js, [](const Napi::CallbackInfo& info) { return impl(info, request, "ioctl(" #request ")"); } }

const Export kExports[] = {
    {"v4l2QueryCap", QueryCap},
    {"v4l2EnumFmt", EnumFmt},
    {"v4l2EnumFrameSizes", EnumFrameSizes},
    {"v4l2GetFmt", GetFmt},
    {"v4l2SetFmt", SetFmt},
    {"v4l2ReqBufs", ReqBufs},
    {"v4l2CreateBufs", CreateBufs},
    {"v4l2QueryBuf", QueryBuf},
    V4L2_EXPORT("v4l2QBuf", QueueBuffer, VIDIOC_QBUF),
    V4L2_EXPORT("v4l2PrepareBuf", QueueBuffer, VIDIOC_PREPARE_BUF),
    {"v4l2DqBuf", DqBuf},
    {"v4l2ExpBuf", ExpBuf},
    V4L2_EXPORT("v4l2StreamOn", Stream, VIDIOC_STREAMON),
    V4L2_EXPORT("v4l2StreamOff", Stream, VIDIOC_STREAMOFF),
    V4L2_EXPORT("v4l2GetInput", GetIndex, VIDIOC_G_INPUT),
    V4L2_EXPORT("v4l2SetInput", SetIndex, VIDIOC_S_INPUT),
    V4L2_EXPORT("v4l2GetOutput", GetIndex, VIDIOC_G_OUTPUT),
    V4L2_EXPORT("v4l2SetOutput", SetIndex, VIDIOC_S_OUTPUT),
    {"v4l2EnumInput", EnumInput},
    {"v4l2EnumOutput", EnumOutput},
    {"v4l2QueryExtCtrl", QueryExtCtrl},
    {"v4l2QueryMenu", QueryMenu},
    {"v4l2GetExtCtrls", GetExtCtrls},
    {"v4l2SetExtCtrls", SetExtCtrls},
    V4L2_EXPORT("v4l2SubscribeEvent", Subscription, VIDIOC_SUBSCRIBE_EVENT),
    V4L2_EXPORT("v4l2UnsubscribeEvent", Subscription, VIDIOC_UNSUBSCRIBE_EVENT),
    {"v4l2DqEvent", DqEvent},
    {"v4l2EncoderCmd", EncoderCmd},
    {"v4l2DecoderCmd", DecoderCmd},
};

#undef V4L2_EXPORT

}  // namespace
}  // namespace v4l2

void InitV4l2(Napi::Env env, Napi::Object exports) {
  Register(env, exports, v4l2::kExports);
}

}  // namespace dmabuf
