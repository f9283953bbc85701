// KMS modesetting ioctls (include/uapi/drm/drm_mode.h) and the DRM event queue (drm.h: read(2) of a
// DRM fd): resources, connectors with their modes, CRTCs, encoders, planes, framebuffers, SETCRTC,
// PAGE_FLIP, and atomic modesetting (object properties, property blobs, ATOMIC with fence pointers). Thin and
// syscall-shaped: which connector, which mode and when to wait are TypeScript's (src/display.ts).
// Structs and ioctl numbers: drm_uapi.h.
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <initializer_list>
#include <utility>
#include <string>
#include <vector>

#include "addon.h"
#include "char_array.h"
#include "drm_uapi.h"
#include "ioctl.h"

namespace dmabuf {
namespace kms {

namespace {

// Bounds for the "count, then fill" protocol: a second call finding more objects than the first
// (hotplug in between) is retried a few times, then reported as the kernel's EAGAIN.
constexpr int kRetries = 5;
constexpr __u32 kMaxObjects = 1u << 16;

// Points a (pointer, count) pair of a struct at buf: the array the kernel fills, and its size.
template <typename T>
void Point(__u64& ptr, __u32& count, std::vector<T>& buf) {
  ptr = reinterpret_cast<uintptr_t>(buf.data());
  count = static_cast<__u32>(buf.size());
}

// After one call of the "count, then fill" protocol, given each count the kernel reported with the
// size of the array it was given: true when done (a call after the first, every count fits). Else
// the caller grows its arrays to the reported counts and calls again; EAGAIN after kRetries calls,
// EOVERFLOW for a count no device has.
bool Filled(Napi::Env env, const char* syscall, int attempt,
            std::initializer_list<std::pair<__u32, size_t>> counts) {
  bool fits = true;
  for (const auto& c : counts) fits = fits && c.first <= c.second;
  if (attempt > 0 && fits) return true;
  if (attempt == kRetries) ThrowErrno(env, EAGAIN, syscall);
  for (const auto& c : counts) {
    if (c.first > kMaxObjects) ThrowErrno(env, EOVERFLOW, syscall);
  }
  return false;
}

Napi::Array U32Array(Napi::Env env, const std::vector<__u32>& v, size_t n) {
  Napi::Array a = Napi::Array::New(env, n);
  for (size_t i = 0; i < n; i++) a.Set(static_cast<uint32_t>(i), Napi::Number::New(env, v[i]));
  return a;
}

Napi::Object ModeToJs(Napi::Env env, const drm_mode_modeinfo& m) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("clock", Napi::Number::New(env, m.clock));
  o.Set("hdisplay", Napi::Number::New(env, m.hdisplay));
  o.Set("hsyncStart", Napi::Number::New(env, m.hsync_start));
  o.Set("hsyncEnd", Napi::Number::New(env, m.hsync_end));
  o.Set("htotal", Napi::Number::New(env, m.htotal));
  o.Set("hskew", Napi::Number::New(env, m.hskew));
  o.Set("vdisplay", Napi::Number::New(env, m.vdisplay));
  o.Set("vsyncStart", Napi::Number::New(env, m.vsync_start));
  o.Set("vsyncEnd", Napi::Number::New(env, m.vsync_end));
  o.Set("vtotal", Napi::Number::New(env, m.vtotal));
  o.Set("vscan", Napi::Number::New(env, m.vscan));
  o.Set("vrefresh", Napi::Number::New(env, m.vrefresh));
  o.Set("flags", Napi::Number::New(env, m.flags));
  o.Set("type", Napi::Number::New(env, m.type));
  o.Set("name", FixedString(env, m.name));
  return o;
}


drm_mode_modeinfo ModeFromJs(Napi::Env env, Napi::Value v, const std::string& name) {
  if (!v.IsObject() || v.IsArray()) {
    ThrowInvalidArgType(env, name, "of type object or null", v);
  }
  Napi::Object o = v.As<Napi::Object>();
  drm_mode_modeinfo m {};
  m.clock = FieldU32(env, o, "clock", name, 0xffffffffu);
  m.hdisplay = FieldU32(env, o, "hdisplay", name, 0xffff);
  m.hsync_start = FieldU32(env, o, "hsyncStart", name, 0xffff);
  m.hsync_end = FieldU32(env, o, "hsyncEnd", name, 0xffff);
  m.htotal = FieldU32(env, o, "htotal", name, 0xffff);
  m.hskew = FieldU32(env, o, "hskew", name, 0xffff);
  m.vdisplay = FieldU32(env, o, "vdisplay", name, 0xffff);
  m.vsync_start = FieldU32(env, o, "vsyncStart", name, 0xffff);
  m.vsync_end = FieldU32(env, o, "vsyncEnd", name, 0xffff);
  m.vtotal = FieldU32(env, o, "vtotal", name, 0xffff);
  m.vscan = FieldU32(env, o, "vscan", name, 0xffff);
  m.vrefresh = FieldU32(env, o, "vrefresh", name, 0xffffffffu);
  m.flags = FieldU32(env, o, "flags", name, 0xffffffffu);
  m.type = FieldU32(env, o, "type", name, 0xffffffffu);
  Napi::Value n = o.Get("name");
  if (!n.IsString()) ThrowInvalidArgType(env, name + ".name", "of type string", n);
  CopyName(m.name, n.As<Napi::String>().Utf8Value());
  return m;
}

// An array of at most `max` u32 values.
std::vector<__u32> U32List(Napi::Env env, Napi::Value v, const std::string& name, size_t max) {
  Napi::Array a = ValueArray(env, v, name);
  if (a.Length() > max) {
    ThrowOutOfRange(env, name + ".length", "<= " + std::to_string(max), Napi::Number::New(env, a.Length()));
  }
  std::vector<__u32> out(a.Length());
  for (uint32_t i = 0; i < a.Length(); i++) out[i] = ValueU32(env, a.Get(i), name + "[" + std::to_string(i) + "]");
  return out;
}

// An array of at most N u32 values, into a fixed array of a struct (the rest left as it is: 0).
template <size_t N>
void U32ListInto(Napi::Env env, Napi::Value v, const std::string& name, __u32 (&dst)[N]) {
  std::vector<__u32> list = U32List(env, v, name, N);
  std::copy(list.begin(), list.end(), dst);
}

// An array of at most N bigints in [0, 2^64-1], into a fixed array of a struct (the rest: 0).
template <size_t N>
void U64ListInto(Napi::Env env, Napi::Value v, const std::string& name, __u64 (&dst)[N]) {
  Napi::Array a = ValueArray(env, v, name);
  if (a.Length() > N) {
    ThrowOutOfRange(env, name + ".length", "<= " + std::to_string(N), Napi::Number::New(env, a.Length()));
  }
  for (uint32_t i = 0; i < a.Length(); i++) dst[i] = ValueBigU64(env, a.Get(i), name + "[" + std::to_string(i) + "]");
}

Napi::Value GetResources(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  constexpr const char* kSyscall = "ioctl(DRM_IOCTL_MODE_GETRESOURCES)";
  std::vector<__u32> fbs, crtcs, conns, encs;
  drm_mode_card_res r {};
  for (int attempt = 0;; attempt++) {
    // First call (all counts 0): the kernel reports the counts. Second: it fills arrays of that size,
    // and reports the current counts again (larger if objects appeared meanwhile).
    r = drm_mode_card_res {};
    Point(r.fb_id_ptr, r.count_fbs, fbs);
    Point(r.crtc_id_ptr, r.count_crtcs, crtcs);
    Point(r.connector_id_ptr, r.count_connectors, conns);
    Point(r.encoder_id_ptr, r.count_encoders, encs);
    IoctlOrThrow(env, fd, DRM_IOCTL_MODE_GETRESOURCES, &r, kSyscall);
    if (Filled(env, kSyscall, attempt,
               {{r.count_fbs, fbs.size()}, {r.count_crtcs, crtcs.size()}, {r.count_connectors, conns.size()},
                {r.count_encoders, encs.size()}})) {
      break;
    }
    fbs.assign(r.count_fbs, 0);
    crtcs.assign(r.count_crtcs, 0);
    conns.assign(r.count_connectors, 0);
    encs.assign(r.count_encoders, 0);
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("fbs", U32Array(env, fbs, r.count_fbs));
  out.Set("crtcs", U32Array(env, crtcs, r.count_crtcs));
  out.Set("connectors", U32Array(env, conns, r.count_connectors));
  out.Set("encoders", U32Array(env, encs, r.count_encoders));
  out.Set("minWidth", Napi::Number::New(env, r.min_width));
  out.Set("maxWidth", Napi::Number::New(env, r.max_width));
  out.Set("minHeight", Napi::Number::New(env, r.min_height));
  out.Set("maxHeight", Napi::Number::New(env, r.max_height));
  return out;
}

Napi::Value GetConnector(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  __u32 id = ArgU32(info, 1, "connectorId");
  constexpr const char* kSyscall = "ioctl(DRM_IOCTL_MODE_GETCONNECTOR)";
  std::vector<drm_mode_modeinfo> modes;
  std::vector<__u32> encs;
  drm_mode_get_connector c {};
  for (int attempt = 0;; attempt++) {
    // count_modes == 0 on the first call makes the kernel probe the connector (fill_modes) when this
    // file is the DRM master; the second call copies the mode list it probed.
    c = drm_mode_get_connector {};
    c.connector_id = id;
    Point(c.modes_ptr, c.count_modes, modes);
    Point(c.encoders_ptr, c.count_encoders, encs);
    IoctlOrThrow(env, fd, DRM_IOCTL_MODE_GETCONNECTOR, &c, kSyscall);
    if (Filled(env, kSyscall, attempt, {{c.count_modes, modes.size()}, {c.count_encoders, encs.size()}})) break;
    // count_modes 0 on the second call would probe again: ask for one slot at least
    modes.assign(c.count_modes ? c.count_modes : 1, drm_mode_modeinfo {});
    encs.assign(c.count_encoders, 0);
  }
  Napi::Array ms = Napi::Array::New(env, c.count_modes);
  for (uint32_t i = 0; i < c.count_modes; i++) ms.Set(i, ModeToJs(env, modes[i]));
  Napi::Object out = Napi::Object::New(env);
  out.Set("id", Napi::Number::New(env, c.connector_id));
  out.Set("type", Napi::Number::New(env, c.connector_type));
  out.Set("typeId", Napi::Number::New(env, c.connector_type_id));
  out.Set("connection", Napi::Number::New(env, c.connection));
  out.Set("mmWidth", Napi::Number::New(env, c.mm_width));
  out.Set("mmHeight", Napi::Number::New(env, c.mm_height));
  out.Set("subpixel", Napi::Number::New(env, c.subpixel));
  out.Set("encoderId", Napi::Number::New(env, c.encoder_id));
  out.Set("encoders", U32Array(env, encs, c.count_encoders));
  out.Set("modes", ms);
  return out;
}

Napi::Value GetCrtc(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  drm_mode_crtc c {};
  c.crtc_id = ArgU32(info, 1, "crtcId");
  IoctlOrThrow(env, fd, DRM_IOCTL_MODE_GETCRTC, &c, "ioctl(DRM_IOCTL_MODE_GETCRTC)");
  Napi::Object out = Napi::Object::New(env);
  out.Set("id", Napi::Number::New(env, c.crtc_id));
  out.Set("fbId", Napi::Number::New(env, c.fb_id));
  out.Set("x", Napi::Number::New(env, c.x));
  out.Set("y", Napi::Number::New(env, c.y));
  out.Set("gammaSize", Napi::Number::New(env, c.gamma_size));
  out.Set("mode", c.mode_valid ? Napi::Value(ModeToJs(env, c.mode)) : env.Null());
  return out;
}

Napi::Value SetCrtc(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  drm_mode_crtc c {};
  c.crtc_id = ArgU32(info, 1, "crtcId");
  c.fb_id = ArgU32(info, 2, "fbId");  // 0xffffffff: keep the current framebuffer
  c.x = ArgU32(info, 3, "x");
  c.y = ArgU32(info, 4, "y");
  std::vector<__u32> conns = U32List(env, Arg(info, 5), "connectorIds", kMaxObjects);
  Napi::Value mode = Arg(info, 6);
  if (!mode.IsNull()) {
    c.mode = ModeFromJs(env, mode, "mode");
    c.mode_valid = 1;
  }
  Point(c.set_connectors_ptr, c.count_connectors, conns);
  IoctlOrThrow(env, fd, DRM_IOCTL_MODE_SETCRTC, &c, "ioctl(DRM_IOCTL_MODE_SETCRTC)");
  return env.Undefined();
}

Napi::Value AddFb2(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  drm_mode_fb_cmd2 f {};
  f.width = ArgU32(info, 1, "width");
  f.height = ArgU32(info, 2, "height");
  f.pixel_format = ArgU32(info, 3, "format");
  U32ListInto(env, Arg(info, 4), "handles", f.handles);
  U32ListInto(env, Arg(info, 5), "pitches", f.pitches);
  U32ListInto(env, Arg(info, 6), "offsets", f.offsets);
  U64ListInto(env, Arg(info, 7), "modifiers", f.modifier);
  f.flags = ArgU32(info, 8, "flags");
  IoctlOrThrow(env, fd, DRM_IOCTL_MODE_ADDFB2, &f, "ioctl(DRM_IOCTL_MODE_ADDFB2)");
  return Napi::Number::New(env, f.fb_id);
}

// The planes of the device: overlay planes only, unless this file set DRM_CLIENT_CAP_UNIVERSAL_PLANES.
Napi::Value GetPlaneResources(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  constexpr const char* kSyscall = "ioctl(DRM_IOCTL_MODE_GETPLANERESOURCES)";
  std::vector<__u32> ids;
  drm_mode_get_plane_res r {};
  for (int attempt = 0;; attempt++) {
    r = drm_mode_get_plane_res {};
    Point(r.plane_id_ptr, r.count_planes, ids);
    IoctlOrThrow(env, fd, DRM_IOCTL_MODE_GETPLANERESOURCES, &r, kSyscall);
    if (Filled(env, kSyscall, attempt, {{r.count_planes, ids.size()}})) break;
    ids.assign(r.count_planes, 0);
  }
  return U32Array(env, ids, r.count_planes);
}

// One plane: the CRTCs it can go on (bit mask of GETRESOURCES' CRTC indices), what it shows now and
// the pixel formats it takes (fourccs; their modifiers are in the IN_FORMATS property blob).
Napi::Value GetPlane(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  __u32 id = ArgU32(info, 1, "planeId");
  constexpr const char* kSyscall = "ioctl(DRM_IOCTL_MODE_GETPLANE)";
  std::vector<__u32> formats;
  drm_mode_get_plane p {};
  for (int attempt = 0;; attempt++) {
    p = drm_mode_get_plane {};
    p.plane_id = id;
    Point(p.format_type_ptr, p.count_format_types, formats);
    IoctlOrThrow(env, fd, DRM_IOCTL_MODE_GETPLANE, &p, kSyscall);
    if (Filled(env, kSyscall, attempt, {{p.count_format_types, formats.size()}})) break;
    formats.assign(p.count_format_types, 0);
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("id", Napi::Number::New(env, p.plane_id));
  out.Set("crtcId", Napi::Number::New(env, p.crtc_id));
  out.Set("fbId", Napi::Number::New(env, p.fb_id));
  out.Set("possibleCrtcs", Napi::Number::New(env, p.possible_crtcs));
  out.Set("gammaSize", Napi::Number::New(env, p.gamma_size));
  out.Set("formats", U32Array(env, formats, p.count_format_types));
  return out;
}

Napi::Value RmFb(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  unsigned int id = ArgU32(info, 1, "fbId");
  IoctlOrThrow(env, fd, DRM_IOCTL_MODE_RMFB, &id, "ioctl(DRM_IOCTL_MODE_RMFB)");
  return env.Undefined();
}

Napi::Value PageFlip(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  drm_mode_crtc_page_flip p {};
  p.crtc_id = ArgU32(info, 1, "crtcId");
  p.fb_id = ArgU32(info, 2, "fbId");
  p.flags = ArgU32(info, 3, "flags");
  p.user_data = ArgSize(info, 4, "userData");
  IoctlOrThrow(env, fd, DRM_IOCTL_MODE_PAGE_FLIP, &p, "ioctl(DRM_IOCTL_MODE_PAGE_FLIP)");
  return env.Undefined();
}

Napi::Value GetEncoder(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  drm_mode_get_encoder e {};
  e.encoder_id = ArgU32(info, 1, "encoderId");
  IoctlOrThrow(env, fd, DRM_IOCTL_MODE_GETENCODER, &e, "ioctl(DRM_IOCTL_MODE_GETENCODER)");
  Napi::Object out = Napi::Object::New(env);
  out.Set("id", Napi::Number::New(env, e.encoder_id));
  out.Set("type", Napi::Number::New(env, e.encoder_type));
  out.Set("crtcId", Napi::Number::New(env, e.crtc_id));
  out.Set("possibleCrtcs", Napi::Number::New(env, e.possible_crtcs));
  out.Set("possibleClones", Napi::Number::New(env, e.possible_clones));
  return out;
}

Napi::Array U64Array(Napi::Env env, const std::vector<__u64>& v, size_t n) {
  Napi::Array a = Napi::Array::New(env, n);
  for (size_t i = 0; i < n; i++) a.Set(static_cast<uint32_t>(i), Napi::BigInt::New(env, static_cast<uint64_t>(v[i])));
  return a;
}

// The properties of one object and their values: count, then both arrays.
Napi::Value GetProperties(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  __u32 id = ArgU32(info, 1, "objectId");
  __u32 type = ArgU32(info, 2, "objectType");
  constexpr const char* kSyscall = "ioctl(DRM_IOCTL_MODE_OBJ_GETPROPERTIES)";
  std::vector<__u32> ids;
  std::vector<__u64> values;
  drm_mode_obj_get_properties p {};
  for (int attempt = 0;; attempt++) {
    p = drm_mode_obj_get_properties {};
    p.obj_id = id;
    p.obj_type = type;
    Point(p.props_ptr, p.count_props, ids);
    p.prop_values_ptr = reinterpret_cast<uintptr_t>(values.data());
    IoctlOrThrow(env, fd, DRM_IOCTL_MODE_OBJ_GETPROPERTIES, &p, kSyscall);
    if (Filled(env, kSyscall, attempt, {{p.count_props, ids.size()}})) break;
    ids.assign(p.count_props, 0);
    values.assign(p.count_props, 0);
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("ids", U32Array(env, ids, p.count_props));
  out.Set("values", U64Array(env, values, p.count_props));
  return out;
}

// One property: name, flags, and its values (a range's bounds, an object type) and enum entries.
// A blob property's count_enum_blobs is not a count of enum entries: only ENUM and BITMASK read them.
Napi::Value GetProperty(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  __u32 id = ArgU32(info, 1, "propertyId");
  constexpr const char* kSyscall = "ioctl(DRM_IOCTL_MODE_GETPROPERTY)";
  constexpr __u32 kEnumTypes = 8 | 32;  // DRM_MODE_PROP_ENUM | DRM_MODE_PROP_BITMASK
  std::vector<__u64> values;
  std::vector<drm_mode_property_enum> enums;
  drm_mode_get_property p {};
  for (int attempt = 0;; attempt++) {
    p = drm_mode_get_property {};
    p.prop_id = id;
    Point(p.values_ptr, p.count_values, values);
    Point(p.enum_blob_ptr, p.count_enum_blobs, enums);
    IoctlOrThrow(env, fd, DRM_IOCTL_MODE_GETPROPERTY, &p, kSyscall);
    if (!(p.flags & kEnumTypes)) p.count_enum_blobs = 0;
    if (Filled(env, kSyscall, attempt, {{p.count_values, values.size()}, {p.count_enum_blobs, enums.size()}})) break;
    values.assign(p.count_values, 0);
    enums.assign(p.count_enum_blobs, drm_mode_property_enum {});
  }
  Napi::Array es = Napi::Array::New(env, p.count_enum_blobs);
  for (uint32_t i = 0; i < p.count_enum_blobs; i++) {
    Napi::Object e = Napi::Object::New(env);
    e.Set("value", Napi::BigInt::New(env, static_cast<uint64_t>(enums[i].value)));
    e.Set("name", FixedString(env, enums[i].name));
    es.Set(i, e);
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("id", Napi::Number::New(env, p.prop_id));
  out.Set("name", FixedString(env, p.name));
  out.Set("flags", Napi::Number::New(env, p.flags));
  out.Set("values", U64Array(env, values, p.count_values));
  out.Set("enums", es);
  return out;
}

// A property blob's bytes: its length, then a copy.
Napi::Value GetBlob(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  __u32 id = ArgU32(info, 1, "blobId");
  constexpr const char* kSyscall = "ioctl(DRM_IOCTL_MODE_GETPROPBLOB)";
  std::vector<uint8_t> data;
  drm_mode_get_blob b {};
  for (int attempt = 0;; attempt++) {
    b = drm_mode_get_blob {};
    b.blob_id = id;
    Point(b.data, b.length, data);
    IoctlOrThrow(env, fd, DRM_IOCTL_MODE_GETPROPBLOB, &b, kSyscall);
    if (attempt > 0 && b.length == data.size()) break;
    if (attempt == kRetries) ThrowErrno(env, EAGAIN, kSyscall);
    data.assign(b.length, 0);  // a blob never changes; the length is only read once more
  }
  return Napi::Buffer<uint8_t>::Copy(env, data.data(), data.size());
}

Napi::Value CreateBlob(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  Napi::Uint8Array data = ArgBytes(info, 1, "data");
  drm_mode_create_blob b {};
  b.data = reinterpret_cast<uintptr_t>(data.Data());
  b.length = static_cast<__u32>(std::min<size_t>(data.ByteLength(), 0xffffffffu));
  if (b.length != data.ByteLength()) ThrowErrno(env, E2BIG, "ioctl(DRM_IOCTL_MODE_CREATEPROPBLOB)");
  IoctlOrThrow(env, fd, DRM_IOCTL_MODE_CREATEPROPBLOB, &b, "ioctl(DRM_IOCTL_MODE_CREATEPROPBLOB)");
  return Napi::Number::New(env, b.blob_id);
}

Napi::Value DestroyBlob(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  drm_mode_destroy_blob b {};
  b.blob_id = ArgU32(info, 1, "blobId");
  IoctlOrThrow(env, fd, DRM_IOCTL_MODE_DESTROYPROPBLOB, &b, "ioctl(DRM_IOCTL_MODE_DESTROYPROPBLOB)");
  return env.Undefined();
}

// An array of at most `max` bigints in [0, 2^64-1].
std::vector<__u64> U64List(Napi::Env env, Napi::Value v, const std::string& name, size_t max) {
  Napi::Array a = ValueArray(env, v, name);
  if (a.Length() > max) {
    ThrowOutOfRange(env, name + ".length", "<= " + std::to_string(max), Napi::Number::New(env, a.Length()));
  }
  std::vector<__u64> out(a.Length());
  for (uint32_t i = 0; i < a.Length(); i++) out[i] = ValueBigU64(env, a.Get(i), name + "[" + std::to_string(i) + "]");
  return out;
}

// One atomic commit. The counts must add up to the property list's length and the fence indexes must
// be within it (else EINVAL before the kernel: the kernel would read past our arrays). Fence pointer
// values are replaced by the addresses of s32 slots owned here; the kernel writes a sync_file fd into
// each on success (none for TEST_ONLY), so the slots are returned as they are, -1 meaning none.
Napi::Value Atomic(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  constexpr const char* kSyscall = "ioctl(DRM_IOCTL_MODE_ATOMIC)";
  int fd = ArgFd(info, 0, "fd");
  __u32 flags = ArgU32(info, 1, "flags");
  std::vector<__u32> objs = U32List(env, Arg(info, 2), "objects", kMaxObjects);
  std::vector<__u32> counts = U32List(env, Arg(info, 3), "counts", kMaxObjects);
  std::vector<__u32> props = U32List(env, Arg(info, 4), "props", kMaxObjects);
  std::vector<__u64> values = U64List(env, Arg(info, 5), "values", kMaxObjects);
  uint64_t user_data = ArgSize(info, 6, "userData");
  std::vector<__u32> fence_at = U32List(env, Arg(info, 7), "outFences", kMaxObjects);
  uint64_t total = 0;
  for (__u32 c : counts) total += c;
  if (objs.size() != counts.size() || props.size() != values.size() || total != props.size()) {
    ThrowErrno(env, EINVAL, kSyscall);
  }
  std::vector<__s32> fences(fence_at.size(), -1);
  for (size_t i = 0; i < fence_at.size(); i++) {
    if (fence_at[i] >= values.size()) ThrowErrno(env, EINVAL, kSyscall);
    values[fence_at[i]] = reinterpret_cast<uintptr_t>(&fences[i]);
  }
  drm_mode_atomic a {};
  a.flags = flags;
  a.count_objs = static_cast<__u32>(objs.size());
  a.objs_ptr = reinterpret_cast<uintptr_t>(objs.data());
  a.count_props_ptr = reinterpret_cast<uintptr_t>(counts.data());
  a.props_ptr = reinterpret_cast<uintptr_t>(props.data());
  a.prop_values_ptr = reinterpret_cast<uintptr_t>(values.data());
  a.user_data = user_data;
  IoctlOrThrow(env, fd, DRM_IOCTL_MODE_ATOMIC, &a, kSyscall);
  Napi::Array out = Napi::Array::New(env, fences.size());
  for (size_t i = 0; i < fences.size(); i++) {
    // close-on-exec: the kernel makes its fence fds O_CLOEXEC
    out.Set(static_cast<uint32_t>(i), fences[i] >= 0 ? TrackFd(env, fences[i]) : Napi::Number::New(env, -1));
  }
  return out;
}

// The events queued on a DRM file, without blocking: poll(0) first (a DRM fd is opened blocking and
// drm_read() would sleep on an empty queue), then one read(2) of whole events.
Napi::Value ReadEvents(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  Napi::Array out = Napi::Array::New(env);
  struct pollfd p = {fd, POLLIN, 0};
  int r;
  do {
    r = poll(&p, 1, 0);
  } while (r < 0 && errno == EINTR);
  if (r < 0) ThrowErrno(env, errno, "poll");
  if (p.revents & POLLNVAL) ThrowErrno(env, EBADF, "poll");
  if (!(p.revents & POLLIN)) return out;
  alignas(8) char buf[4096];
  ssize_t n;
  do {
    n = ::read(fd, buf, sizeof buf);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN) return out;
    ThrowErrno(env, errno, "read");
  }
  uint32_t count = 0;
  for (size_t at = 0; at + sizeof(drm_event) <= static_cast<size_t>(n);) {
    drm_event e;
    memcpy(&e, buf + at, sizeof e);
    if (e.length < sizeof(drm_event) || at + e.length > static_cast<size_t>(n)) break;  // never past the data
    Napi::Object o = Napi::Object::New(env);
    o.Set("type", Napi::Number::New(env, e.type));
    o.Set("length", Napi::Number::New(env, e.length));
    if ((e.type == DRM_EVENT_VBLANK || e.type == DRM_EVENT_FLIP_COMPLETE) && e.length >= sizeof(drm_event_vblank)) {
      drm_event_vblank v;
      memcpy(&v, buf + at, sizeof v);
      o.Set("userData", Napi::Number::New(env, static_cast<double>(v.user_data)));
      o.Set("sec", Napi::Number::New(env, v.tv_sec));
      o.Set("usec", Napi::Number::New(env, v.tv_usec));
      o.Set("sequence", Napi::Number::New(env, v.sequence));
      o.Set("crtcId", Napi::Number::New(env, v.crtc_id));
    }
    out.Set(count++, o);
    at += e.length;
  }
  return out;
}

const Export kExports[] = {
    {"kmsGetResources", GetResources},
    {"kmsGetConnector", GetConnector},
    {"kmsGetCrtc", GetCrtc},
    {"kmsSetCrtc", SetCrtc},
    {"kmsGetPlaneResources", GetPlaneResources},
    {"kmsGetPlane", GetPlane},
    {"kmsAddFb2", AddFb2},
    {"kmsRmFb", RmFb},
    {"kmsPageFlip", PageFlip},
    {"kmsGetEncoder", GetEncoder},
    {"kmsGetProperties", GetProperties},
    {"kmsGetProperty", GetProperty},
    {"kmsGetBlob", GetBlob},
    {"kmsCreateBlob", CreateBlob},
    {"kmsDestroyBlob", DestroyBlob},
    {"kmsAtomic", Atomic},
    {"drmReadEvents", ReadEvents},
};

}  // namespace
}  // namespace kms

void InitKms(Napi::Env env, Napi::Object exports) {
  Register(env, exports, kms::kExports);
}

}  // namespace dmabuf
