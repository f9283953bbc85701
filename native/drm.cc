// DRM device ioctls (include/uapi/drm/{drm,drm_mode,vgem_drm}.h): version, caps, dumb buffers, GEM
// close, PRIME import/export, vgem fences. Structs and ioctl numbers: drm_uapi.h.
#include <string.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <vector>

#include "addon.h"
#include "drm_uapi.h"
#include "ioctl.h"

namespace dmabuf {
namespace drm {

namespace {

Napi::Value Version(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  constexpr const char* kSyscall = "ioctl(DRM_IOCTL_VERSION)";
  drm_version v {};
  // First call with zero lengths: the kernel reports the lengths it needs.
  IoctlOrThrow(env, fd, DRM_IOCTL_VERSION, &v, kSyscall);
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
  IoctlOrThrow(env, fd, DRM_IOCTL_VERSION, &w, kSyscall);
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
  IoctlOrThrow(env, fd, DRM_IOCTL_GET_CAP, &c, "ioctl(DRM_IOCTL_GET_CAP)");
  return Napi::Number::New(env, static_cast<double>(c.value));
}

Napi::Value SetClientCap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  drm_set_client_cap c {};
  c.capability = ArgSize(info, 1, "capability");
  c.value = ArgSize(info, 2, "value");
  IoctlOrThrow(env, fd, DRM_IOCTL_SET_CLIENT_CAP, &c, "ioctl(DRM_IOCTL_SET_CLIENT_CAP)");
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
  IoctlOrThrow(env, fd, DRM_IOCTL_MODE_CREATE_DUMB, &c, "ioctl(DRM_IOCTL_MODE_CREATE_DUMB)");
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
  IoctlOrThrow(env, fd, DRM_IOCTL_MODE_MAP_DUMB, &m, "ioctl(DRM_IOCTL_MODE_MAP_DUMB)");
  return Napi::Number::New(env, static_cast<double>(m.offset));
}

Napi::Value DestroyDumb(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  drm_mode_destroy_dumb d {};
  d.handle = ArgU32(info, 1, "handle");
  IoctlOrThrow(env, fd, DRM_IOCTL_MODE_DESTROY_DUMB, &d, "ioctl(DRM_IOCTL_MODE_DESTROY_DUMB)");
  return env.Undefined();
}

Napi::Value GemClose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  drm_gem_close c {};
  c.handle = ArgU32(info, 1, "handle");
  IoctlOrThrow(env, fd, DRM_IOCTL_GEM_CLOSE, &c, "ioctl(DRM_IOCTL_GEM_CLOSE)");
  return env.Undefined();
}

Napi::Value PrimeHandleToFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  drm_prime_handle p {};
  p.handle = ArgU32(info, 1, "handle");
  p.flags = ArgU32(info, 2, "flags") | DRM_CLOEXEC;  // close-on-exec whatever JS passes
  p.fd = -1;
  IoctlOrThrow(env, fd, DRM_IOCTL_PRIME_HANDLE_TO_FD, &p, "ioctl(DRM_IOCTL_PRIME_HANDLE_TO_FD)");
  return TrackFd(env, p.fd);
}

Napi::Value PrimeFdToHandle(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  drm_prime_handle p {};
  p.fd = ArgFd(info, 1, "dmabuf");
  IoctlOrThrow(env, fd, DRM_IOCTL_PRIME_FD_TO_HANDLE, &p, "ioctl(DRM_IOCTL_PRIME_FD_TO_HANDLE)");
  return Napi::Number::New(env, p.handle);
}

Napi::Value VgemFenceAttach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  drm_vgem_fence_attach a {};
  a.handle = ArgU32(info, 1, "handle");
  a.flags = ArgU32(info, 2, "flags");
  IoctlOrThrow(env, fd, DRM_IOCTL_VGEM_FENCE_ATTACH, &a, "ioctl(DRM_IOCTL_VGEM_FENCE_ATTACH)");
  return Napi::Number::New(env, a.out_fence);
}

Napi::Value VgemFenceSignal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  drm_vgem_fence_signal s {};
  s.fence = ArgU32(info, 1, "fence");
  IoctlOrThrow(env, fd, DRM_IOCTL_VGEM_FENCE_SIGNAL, &s, "ioctl(DRM_IOCTL_VGEM_FENCE_SIGNAL)");
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
