// /dev/udmabuf (include/uapi/linux/udmabuf.h): dma-bufs over memfd pages.
#include <linux/udmabuf.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstddef>
#include <string>
#include <vector>

#include "addon.h"
#include "fast.h"
#include "fd.h"
#include "ioctl.h"

namespace dmabuf {

static_assert(sizeof(struct udmabuf_create) == 24, "udmabuf_create");
static_assert(offsetof(struct udmabuf_create, offset) == 8, "udmabuf_create.offset");
static_assert(offsetof(struct udmabuf_create, size) == 16, "udmabuf_create.size");
static_assert(sizeof(struct udmabuf_create_item) == 24, "udmabuf_create_item");
static_assert(sizeof(struct udmabuf_create_list) == 8, "udmabuf_create_list header");
static_assert(UDMABUF_CREATE == 0x40187542, "UDMABUF_CREATE");
static_assert(UDMABUF_CREATE_LIST == 0x40087543, "UDMABUF_CREATE_LIST");

namespace {

Napi::Value Create(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int dev = ArgFd(info, 0, "dev");
  struct udmabuf_create c {};
  c.memfd = static_cast<__u32>(ArgFd(info, 1, "memfd"));
  c.offset = ArgSize(info, 2, "offset");
  c.size = ArgSize(info, 3, "size");
  c.flags = ArgU32(info, 4, "flags") | UDMABUF_FLAGS_CLOEXEC;  // close-on-exec whatever JS passes
  int fd = IoctlOrThrow(env, dev, UDMABUF_CREATE, &c, "ioctl(UDMABUF_CREATE)");  // returns the new fd
  return TrackFd(env, fd);
}

// The whole of udmabuf.create(size) in one call: a sealable memfd of size bytes (MFD_HUGETLB when
// asked) sealed F_SEAL_SHRINK, UDMABUF_CREATE over all of it, and the memfd closed again (the dma-buf
// keeps its pages). Each step fails with its own syscall's error, as the separate calls would: the
// new fd, or -1 with *err and *syscall set.
int CreateSizedFd(int dev, uint64_t size, uint32_t flags, bool hugetlb, const char* name, int* err,
                  const char** syscall) {
  UniqueFd memfd(memfd_create(name, MFD_ALLOW_SEALING | MFD_CLOEXEC | (hugetlb ? MFD_HUGETLB : 0)));
  if (!memfd) return *err = errno, *syscall = "memfd_create", -1;
  if (::ftruncate(memfd.get(), static_cast<off_t>(size)) < 0) return *err = errno, *syscall = "ftruncate", -1;
  if (fcntl(memfd.get(), F_ADD_SEALS, F_SEAL_SHRINK) < 0) return *err = errno, *syscall = "fcntl(F_ADD_SEALS)", -1;
  struct udmabuf_create c {};
  c.memfd = static_cast<__u32>(memfd.get());
  c.offset = 0;
  c.size = size;
  c.flags = flags | UDMABUF_FLAGS_CLOEXEC;  // close-on-exec whatever JS passes
  int fd = Ioctl(dev, UDMABUF_CREATE, &c);  // returns the new fd
  if (fd < 0) return *err = errno, *syscall = "ioctl(UDMABUF_CREATE)", -1;
  return fd;
}

Napi::Value CreateSized(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int dev = ArgFd(info, 0, "dev");
  uint64_t size = ArgSize(info, 1, "size");
  uint32_t flags = ArgU32(info, 2, "flags");
  bool hugetlb = ArgBool(info, 3, "hugetlb");
  std::string name = ArgString(info, 4, "name");
  int err = 0;
  const char* syscall = nullptr;
  int fd = CreateSizedFd(dev, size, flags, hugetlb, name.c_str(), &err, &syscall);
  if (fd < 0) ThrowErrno(env, err, syscall);
  return TrackFd(env, fd);
}

// udmabufCreateSized on the hot path (fast.h): the same, from plain arguments, without node-addon-api.
napi_value CreateSizedFast(napi_env env, napi_callback_info cbinfo) {
  fast::Args<5> a;
  int dev = 0;
  uint64_t size = 0;
  uint32_t flags = 0;
  bool hugetlb = false;
  char name[256];
  if (!fast::GetArgs(env, cbinfo, &a) || a.count < 5 || !fast::Fd(env, a.v[0], &dev) ||
      !fast::Size(env, a.v[1], &size) || !fast::U32(env, a.v[2], &flags) || !fast::Bool(env, a.v[3], &hugetlb) ||
      !fast::ShortString(env, a.v[4], name)) {
    return fast::Checked(env, cbinfo, CreateSized);
  }
  int err = 0;
  const char* syscall = nullptr;
  int fd = CreateSizedFd(dev, size, flags, hugetlb, name, &err, &syscall);
  if (fd < 0) return fast::ThrowSystem(env, err, syscall);
  TrackNewFd(fast::DataOf(env), fd);
  return fast::Int(env, fd);
}

Napi::Value CreateList(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int dev = ArgFd(info, 0, "dev");
  uint32_t flags = ArgU32(info, 1, "flags");
  if (!Arg(info, 2).IsArray()) ThrowInvalidArgType(env, "items", "an instance of Array", Arg(info, 2));
  Napi::Array items = info[2].As<Napi::Array>();
  const uint32_t count = items.Length();
  // Header + items in one 8-byte aligned block.
  const size_t bytes = sizeof(struct udmabuf_create_list) + size_t{count} * sizeof(struct udmabuf_create_item);
  std::vector<uint64_t> block((bytes + 7) / 8, 0);
  auto* list = reinterpret_cast<struct udmabuf_create_list*>(block.data());
  list->flags = flags | UDMABUF_FLAGS_CLOEXEC;  // close-on-exec whatever JS passes
  list->count = count;
  for (uint32_t i = 0; i < count; i++) {
    Napi::Value v = items.Get(i);
    std::string at = "items[" + std::to_string(i) + "]";
    if (!v.IsObject()) ThrowInvalidArgType(env, at, "of type object", v);
    Napi::Object o = v.As<Napi::Object>();
    list->list[i].memfd = static_cast<__u32>(ValueFd(env, o.Get("memfd"), at + ".memfd"));
    list->list[i].offset = ValueSize(env, o.Get("offset"), at + ".offset");
    list->list[i].size = ValueSize(env, o.Get("size"), at + ".size");
  }
  int fd = IoctlOrThrow(env, dev, UDMABUF_CREATE_LIST, list, "ioctl(UDMABUF_CREATE_LIST)");  // returns the new fd
  return TrackFd(env, fd);
}

const Export kExports[] = {
    {"udmabufCreate", Create},
    {"udmabufCreateList", CreateList},
};

const fast::RawExport kFast[] = {
    {"udmabufCreateSized", CreateSizedFast},
};

}  // namespace

void InitUdmabuf(Napi::Env env, Napi::Object exports) {
  Register(env, exports, kExports);
  fast::RegisterRaw(env, exports, kFast);
}

}  // namespace dmabuf
