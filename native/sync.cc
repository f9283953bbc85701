// sync_file fds (include/uapi/linux/sync_file.h) and the sw_sync test timeline
// (/sys/kernel/debug/sync/sw_sync; its structs are not in the uapi headers, declared here with the
// names the kernel's sw_sync driver gives them).
#include <linux/sync_file.h>
#include <string.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <string>
#include <vector>

#include "addon.h"
#include "char_array.h"
#include "ioctl.h"

struct sw_sync_create_fence_data {
  __u32 value;
  char name[32];
  __s32 fence;
};
#define SW_SYNC_IOC_MAGIC 'W'
#define SW_SYNC_IOC_CREATE_FENCE _IOWR(SW_SYNC_IOC_MAGIC, 0, struct sw_sync_create_fence_data)
#define SW_SYNC_IOC_INC _IOW(SW_SYNC_IOC_MAGIC, 1, __u32)

namespace dmabuf {

static_assert(sizeof(struct sync_merge_data) == 48, "sync_merge_data");
static_assert(offsetof(struct sync_merge_data, fd2) == 32, "sync_merge_data.fd2");
static_assert(offsetof(struct sync_merge_data, fence) == 36, "sync_merge_data.fence");
static_assert(sizeof(struct sync_fence_info) == 80, "sync_fence_info");
static_assert(offsetof(struct sync_fence_info, status) == 64, "sync_fence_info.status");
static_assert(offsetof(struct sync_fence_info, timestamp_ns) == 72, "sync_fence_info.timestamp_ns");
static_assert(sizeof(struct sync_file_info) == 56, "sync_file_info");
static_assert(offsetof(struct sync_file_info, num_fences) == 40, "sync_file_info.num_fences");
static_assert(offsetof(struct sync_file_info, sync_fence_info) == 48, "sync_file_info.sync_fence_info");
static_assert(SYNC_IOC_MERGE == 0xC0303E03, "SYNC_IOC_MERGE");
static_assert(SYNC_IOC_FILE_INFO == 0xC0383E04, "SYNC_IOC_FILE_INFO");
static_assert(sizeof(struct sw_sync_create_fence_data) == 40, "sw_sync_create_fence_data");
static_assert(offsetof(struct sw_sync_create_fence_data, fence) == 36, "sw_sync_create_fence_data.fence");
static_assert(SW_SYNC_IOC_CREATE_FENCE == 0xC0285700, "SW_SYNC_IOC_CREATE_FENCE");
static_assert(SW_SYNC_IOC_INC == 0x40045701, "SW_SYNC_IOC_INC");

namespace {

Napi::Value FileInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  struct sync_file_info fi {};
  IoctlOrThrow(env, fd, SYNC_IOC_FILE_INFO, &fi, "ioctl(SYNC_IOC_FILE_INFO)");
  std::vector<struct sync_fence_info> fences(fi.num_fences);
  if (!fences.empty()) {
    uint32_t n = fi.num_fences;
    memset(&fi, 0, sizeof fi);
    fi.num_fences = n;
    fi.sync_fence_info = reinterpret_cast<uintptr_t>(fences.data());
    IoctlOrThrow(env, fd, SYNC_IOC_FILE_INFO, &fi, "ioctl(SYNC_IOC_FILE_INFO)");
    fences.resize(std::min<size_t>(fences.size(), fi.num_fences));
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("name", FixedString(env, fi.name));
  out.Set("status", Napi::Number::New(env, fi.status));
  out.Set("flags", Napi::Number::New(env, fi.flags));
  Napi::Array arr = Napi::Array::New(env, fences.size());
  for (size_t i = 0; i < fences.size(); i++) {
    const auto& f = fences[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("objName", FixedString(env, f.obj_name));
    o.Set("driverName", FixedString(env, f.driver_name));
    o.Set("status", Napi::Number::New(env, f.status));
    o.Set("flags", Napi::Number::New(env, f.flags));
    o.Set("timestampNs", Napi::BigInt::New(env, static_cast<uint64_t>(f.timestamp_ns)));
    arr.Set(static_cast<uint32_t>(i), o);
  }
  out.Set("fences", arr);
  return out;
}

Napi::Value Merge(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = ArgString(info, 0, "name");
  int fd1 = ArgFd(info, 1, "fd1");
  int fd2 = ArgFd(info, 2, "fd2");
  struct sync_merge_data m {};
  CopyName(m.name, name);
  m.fd2 = fd2;
  m.fence = -1;
  IoctlOrThrow(env, fd1, SYNC_IOC_MERGE, &m, "ioctl(SYNC_IOC_MERGE)");
  return TrackFd(env, m.fence);  // close-on-exec: the kernel makes sync_file fds O_CLOEXEC
}

Napi::Value SwSyncCreateFence(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int timeline = ArgFd(info, 0, "timeline");
  struct sw_sync_create_fence_data d {};
  d.value = ArgU32(info, 1, "value");
  CopyName(d.name, ArgString(info, 2, "name"));
  d.fence = -1;
  IoctlOrThrow(env, timeline, SW_SYNC_IOC_CREATE_FENCE, &d, "ioctl(SW_SYNC_IOC_CREATE_FENCE)");
  // Another driver may take the ioctl by its number and succeed without writing a fence (a dma-heap
  // runs it as ALLOC): there is no fd to hand out or track.
  if (d.fence < 0) {
    ThrowInvalidArgValue(env, "timeline", "is not a sw_sync timeline: the ioctl succeeded without a fence", info[0]);
  }
  return TrackFd(env, d.fence);  // close-on-exec: the kernel makes sync_file fds O_CLOEXEC
}

Napi::Value SwSyncInc(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int timeline = ArgFd(info, 0, "timeline");
  __u32 count = ArgU32(info, 1, "count");
  IoctlOrThrow(env, timeline, SW_SYNC_IOC_INC, &count, "ioctl(SW_SYNC_IOC_INC)");
  return env.Undefined();
}

const Export kExports[] = {
    {"syncFileInfo", FileInfo},
    {"syncFileMerge", Merge},
    {"swSyncCreateFence", SwSyncCreateFence},
    {"swSyncInc", SwSyncInc},
};

}  // namespace

void InitSync(Napi::Env env, Napi::Object exports) {
  Register(env, exports, kExports);
}

}  // namespace dmabuf
