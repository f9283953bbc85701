// DRM device ioctls (include/uapi/drm/{drm,drm_mode,vgem_drm}.h): version, caps, dumb buffers, GEM
// close, PRIME import/export, vgem fences. The host may have no DRM headers, so the structs are
// declared here with the kernel's names and checked against the kernel's layouts.
#include <linux/types.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <vector>

#include "addon.h"

namespace dmabuf {
namespace drm {

struct drm_version {
  int version_major;
  int version_minor;
  int version_patchlevel;
  __kernel_size_t name_len;
  char* name;
  __kernel_size_t date_len;
  char* date;
  __kernel_size_t desc_len;
  char* desc;
};
struct drm_gem_close {
  __u32 handle;
  __u32 pad;
};
struct drm_get_cap {
  __u64 capability;
  __u64 value;
};
struct drm_set_client_cap {
  __u64 capability;
  __u64 value;
};
struct drm_prime_handle {
  __u32 handle;
  __u32 flags;
  __s32 fd;
};
struct drm_mode_create_dumb {
  __u32 height;
  __u32 width;
  __u32 bpp;
  __u32 flags;
  __u32 handle;
  __u32 pitch;
  __u64 size;
};
struct drm_mode_map_dumb {
  __u32 handle;
  __u32 pad;
  __u64 offset;
};
struct drm_mode_destroy_dumb {
  __u32 handle;
};
struct drm_vgem_fence_attach {
  __u32 handle;
  __u32 flags;
  __u32 out_fence;
  __u32 pad;
};
struct drm_vgem_fence_signal {
  __u32 fence;
  __u32 flags;
};

#define DRM_IOCTL_BASE 'd'
#define DRM_IOW(nr, type) _IOW(DRM_IOCTL_BASE, nr, type)
#define DRM_IOWR(nr, type) _IOWR(DRM_IOCTL_BASE, nr, type)
#define DRM_COMMAND_BASE 0x40

#define DRM_IOCTL_VERSION DRM_IOWR(0x00, struct drm_version)
#define DRM_IOCTL_GEM_CLOSE DRM_IOW(0x09, struct drm_gem_close)
#define DRM_IOCTL_GET_CAP DRM_IOWR(0x0c, struct drm_get_cap)
#define DRM_IOCTL_SET_CLIENT_CAP DRM_IOW(0x0d, struct drm_set_client_cap)
#define DRM_IOCTL_PRIME_HANDLE_TO_FD DRM_IOWR(0x2d, struct drm_prime_handle)
#define DRM_IOCTL_PRIME_FD_TO_HANDLE DRM_IOWR(0x2e, struct drm_prime_handle)
#define DRM_IOCTL_MODE_CREATE_DUMB DRM_IOWR(0xB2, struct drm_mode_create_dumb)
#define DRM_IOCTL_MODE_MAP_DUMB DRM_IOWR(0xB3, struct drm_mode_map_dumb)
#define DRM_IOCTL_MODE_DESTROY_DUMB DRM_IOWR(0xB4, struct drm_mode_destroy_dumb)
#define DRM_IOCTL_VGEM_FENCE_ATTACH DRM_IOWR(DRM_COMMAND_BASE + 0x1, struct drm_vgem_fence_attach)
#define DRM_IOCTL_VGEM_FENCE_SIGNAL DRM_IOW(DRM_COMMAND_BASE + 0x2, struct drm_vgem_fence_signal)

#if defined(__LP64__)
static_assert(sizeof(drm_version) == 64, "drm_version (LP64)");
static_assert(offsetof(drm_version, name_len) == 16 && offsetof(drm_version, name) == 24, "drm_version.name");
static_assert(offsetof(drm_version, date_len) == 32 && offsetof(drm_version, date) == 40, "drm_version.date");
static_assert(offsetof(drm_version, desc_len) == 48 && offsetof(drm_version, desc) == 56, "drm_version.desc");
static_assert(DRM_IOCTL_VERSION == 0xC0406400, "DRM_IOCTL_VERSION (LP64)");
#else
static_assert(sizeof(drm_version) == 36, "drm_version (ILP32)");
static_assert(DRM_IOCTL_VERSION == 0xC0246400, "DRM_IOCTL_VERSION (ILP32)");
#endif
static_assert(sizeof(drm_gem_close) == 8, "drm_gem_close");
static_assert(sizeof(drm_get_cap) == 16, "drm_get_cap");
static_assert(sizeof(drm_set_client_cap) == 16, "drm_set_client_cap");
static_assert(sizeof(drm_prime_handle) == 12 && offsetof(drm_prime_handle, fd) == 8, "drm_prime_handle");
static_assert(sizeof(drm_mode_create_dumb) == 32, "drm_mode_create_dumb");
static_assert(offsetof(drm_mode_create_dumb, handle) == 16 && offsetof(drm_mode_create_dumb, pitch) == 20 &&
                  offsetof(drm_mode_create_dumb, size) == 24,
              "drm_mode_create_dumb out fields");
static_assert(sizeof(drm_mode_map_dumb) == 16 && offsetof(drm_mode_map_dumb, offset) == 8, "drm_mode_map_dumb");
static_assert(sizeof(drm_mode_destroy_dumb) == 4, "drm_mode_destroy_dumb");
static_assert(sizeof(drm_vgem_fence_attach) == 16, "drm_vgem_fence_attach");
static_assert(sizeof(drm_vgem_fence_signal) == 8, "drm_vgem_fence_signal");
static_assert(DRM_IOCTL_GEM_CLOSE == 0x40086409, "DRM_IOCTL_GEM_CLOSE");
static_assert(DRM_IOCTL_GET_CAP == 0xC010640C, "DRM_IOCTL_GET_CAP");
static_assert(DRM_IOCTL_SET_CLIENT_CAP == 0x4010640D, "DRM_IOCTL_SET_CLIENT_CAP");
static_assert(DRM_IOCTL_PRIME_HANDLE_TO_FD == 0xC00C642D, "DRM_IOCTL_PRIME_HANDLE_TO_FD");
static_assert(DRM_IOCTL_PRIME_FD_TO_HANDLE == 0xC00C642E, "DRM_IOCTL_PRIME_FD_TO_HANDLE");
static_assert(DRM_IOCTL_MODE_CREATE_DUMB == 0xC02064B2, "DRM_IOCTL_MODE_CREATE_DUMB");
static_assert(DRM_IOCTL_MODE_MAP_DUMB == 0xC01064B3, "DRM_IOCTL_MODE_MAP_DUMB");
static_assert(DRM_IOCTL_MODE_DESTROY_DUMB == 0xC00464B4, "DRM_IOCTL_MODE_DESTROY_DUMB");
static_assert(DRM_IOCTL_VGEM_FENCE_ATTACH == 0xC0106441, "DRM_IOCTL_VGEM_FENCE_ATTACH");
static_assert(DRM_IOCTL_VGEM_FENCE_SIGNAL == 0x40086442, "DRM_IOCTL_VGEM_FENCE_SIGNAL");

namespace {

Napi::Value Version(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  constexpr const char* kSyscall = "ioctl(DRM_IOCTL_VERSION)";
  drm_version v {};
  // First call with zero lengths: the kernel reports the lengths it needs.
  if (ioctl(fd, DRM_IOCTL_VERSION, &v) < 0) ThrowErrno(env, errno, kSyscall);
  constexpr size_t kCap = 4096;
  std::vector<char> name(std::min<size_t>(v.name_len, kCap) + 1, '\0');
  std::vector<char> date(std::min<size_t>(v.date_len, kCap) + 1, '\0');
  std::vector<char> desc(std::min<size_t>(v.desc_len, kCap) + 1, '\0');
  drm_version w {};
  w.name_len = name.size() - 1;
  w.name = name.data();
  w.date_len = date.size() - 1;
  w.date = date.data();
  w.desc_len = desc.size() - 1;
  w.desc = desc.data();
  if (ioctl(fd, DRM_IOCTL_VERSION, &w) < 0) ThrowErrno(env, errno, kSyscall);
  // The kernel copies min(buffer, actual) bytes and reports the actual length.
  auto str = [&](const std::vector<char>& buf, __kernel_size_t len) {
    size_t n = std::min<size_t>(len, buf.size() - 1);
    return Napi::String::New(env, buf.data(), strnlen(buf.data(), n));
  };
  Napi::Object out = Napi::Object::New(env);
  out.Set("major", Napi::Number::New(env, w.version_major));
  out.Set("minor", Napi::Number::New(env, w.version_minor));
  out.Set("patchlevel", Napi::Number::New(env, w.version_patchlevel));
  out.Set("name", str(name, w.name_len));
  out.Set("date", str(date, w.date_len));
  out.Set("desc", str(desc, w.desc_len));
  return out;
}

Napi::Value GetCap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  drm_get_cap c {};
  c.capability = ArgSize(info, 1, "capability");
  if (ioctl(fd, DRM_IOCTL_GET_CAP, &c) < 0) ThrowErrno(env, errno, "ioctl(DRM_IOCTL_GET_CAP)");
  return Napi::Number::New(env, static_cast<double>(c.value));
}

Napi::Value SetClientCap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  drm_set_client_cap c {};
  c.capability = ArgSize(info, 1, "capability");
  c.value = ArgSize(info, 2, "value");
  if (ioctl(fd, DRM_IOCTL_SET_CLIENT_CAP, &c) < 0) ThrowErrno(env, errno, "ioctl(DRM_IOCTL_SET_CLIENT_CAP)");
  return env.Undefined();
}

Napi::Value CreateDumb(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  drm_mode_create_dumb c {};
  c.width = ArgU32(info, 1, "width");
  c.height = ArgU32(info, 2, "height");
  c.bpp = ArgU32(info, 3, "bpp");
  c.flags = ArgU32(info, 4, "flags");
  if (ioctl(fd, DRM_IOCTL_MODE_CREATE_DUMB, &c) < 0) ThrowErrno(env, errno, "ioctl(DRM_IOCTL_MODE_CREATE_DUMB)");
  Napi::Object out = Napi::Object::New(env);
  out.Set("handle", Napi::Number::New(env, c.handle));
  out.Set("pitch", Napi::Number::New(env, c.pitch));
  out.Set("size", Napi::Number::New(env, static_cast<double>(c.size)));
  return out;
}

Napi::Value MapDumb(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  drm_mode_map_dumb m {};
  m.handle = ArgU32(info, 1, "handle");
  if (ioctl(fd, DRM_IOCTL_MODE_MAP_DUMB, &m) < 0) ThrowErrno(env, errno, "ioctl(DRM_IOCTL_MODE_MAP_DUMB)");
  return Napi::Number::New(env, static_cast<double>(m.offset));
}

Napi::Value DestroyDumb(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  drm_mode_destroy_dumb d {};
  d.handle = ArgU32(info, 1, "handle");
  if (ioctl(fd, DRM_IOCTL_MODE_DESTROY_DUMB, &d) < 0) ThrowErrno(env, errno, "ioctl(DRM_IOCTL_MODE_DESTROY_DUMB)");
  return env.Undefined();
}

Napi::Value GemClose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  drm_gem_close c {};
  c.handle = ArgU32(info, 1, "handle");
  if (ioctl(fd, DRM_IOCTL_GEM_CLOSE, &c) < 0) ThrowErrno(env, errno, "ioctl(DRM_IOCTL_GEM_CLOSE)");
  return env.Undefined();
}

Napi::Value PrimeHandleToFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  drm_prime_handle p {};
  p.handle = ArgU32(info, 1, "handle");
  p.flags = ArgU32(info, 2, "flags");  // TS passes DRM_CLOEXEC (| DRM_RDWR)
  p.fd = -1;
  if (ioctl(fd, DRM_IOCTL_PRIME_HANDLE_TO_FD, &p) < 0) ThrowErrno(env, errno, "ioctl(DRM_IOCTL_PRIME_HANDLE_TO_FD)");
  return TrackFd(env, p.fd);
}

Napi::Value PrimeFdToHandle(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  drm_prime_handle p {};
  p.fd = ArgFd(info, 1, "dmabuf");
  if (ioctl(fd, DRM_IOCTL_PRIME_FD_TO_HANDLE, &p) < 0) ThrowErrno(env, errno, "ioctl(DRM_IOCTL_PRIME_FD_TO_HANDLE)");
  return Napi::Number::New(env, p.handle);
}

Napi::Value VgemFenceAttach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  drm_vgem_fence_attach a {};
  a.handle = ArgU32(info, 1, "handle");
  a.flags = ArgU32(info, 2, "flags");
  if (ioctl(fd, DRM_IOCTL_VGEM_FENCE_ATTACH, &a) < 0) ThrowErrno(env, errno, "ioctl(DRM_IOCTL_VGEM_FENCE_ATTACH)");
  return Napi::Number::New(env, a.out_fence);
}

Napi::Value VgemFenceSignal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  drm_vgem_fence_signal s {};
  s.fence = ArgU32(info, 1, "fence");
  if (ioctl(fd, DRM_IOCTL_VGEM_FENCE_SIGNAL, &s) < 0) ThrowErrno(env, errno, "ioctl(DRM_IOCTL_VGEM_FENCE_SIGNAL)");
  return env.Undefined();
}

const Export kExports[] = {
    {"drmVersion", Version},
    {"drmGetCap", GetCap},
    {"drmSetClientCap", SetClientCap},
    {"drmCreateDumb", CreateDumb},
    {"drmMapDumb", MapDumb},
    {"drmDestroyDumb", DestroyDumb},
    {"drmGemClose", GemClose},
    {"drmPrimeHandleToFd", PrimeHandleToFd},
    {"drmPrimeFdToHandle", PrimeFdToHandle},
    {"vgemFenceAttach", VgemFenceAttach},
    {"vgemFenceSignal", VgemFenceSignal},
};

}  // namespace
}  // namespace drm

void InitDrm(Napi::Env env, Napi::Object exports) {
  Register(env, exports, drm::kExports);
}

}  // namespace dmabuf
