// /dev/dma_heap/<name> (include/uapi/linux/dma-heap.h): dma-buf allocation from a heap.
#include <fcntl.h>
#include <linux/dma-heap.h>

#include <cerrno>
#include <cstddef>

#include "addon.h"
#include "fast.h"
#include "ioctl.h"

namespace dmabuf {

static_assert(sizeof(struct dma_heap_allocation_data) == 24, "dma_heap_allocation_data");
static_assert(offsetof(struct dma_heap_allocation_data, fd) == 8, "dma_heap_allocation_data.fd");
static_assert(offsetof(struct dma_heap_allocation_data, fd_flags) == 12, "dma_heap_allocation_data.fd_flags");
static_assert(offsetof(struct dma_heap_allocation_data, heap_flags) == 16, "dma_heap_allocation_data.heap_flags");
static_assert(DMA_HEAP_IOCTL_ALLOC == 0xC0184800, "DMA_HEAP_IOCTL_ALLOC");

namespace {

// DMA_HEAP_IOCTL_ALLOC: the new fd, or -1 with errno set.
int AllocFd(int heap, uint64_t len, uint32_t fdFlags, uint64_t heapFlags) {
  struct dma_heap_allocation_data d {};
  d.len = len;
  d.fd = 0;  // input must be 0
  d.fd_flags = fdFlags | O_CLOEXEC;  // close-on-exec whatever JS passes
  d.heap_flags = heapFlags;
  if (Ioctl(heap, DMA_HEAP_IOCTL_ALLOC, &d) < 0) return -1;
  return static_cast<int>(d.fd);
}

constexpr const char* kAlloc = "ioctl(DMA_HEAP_IOCTL_ALLOC)";

Napi::Value Alloc(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int heap = ArgFd(info, 0, "heap");
  uint64_t len = ArgSize(info, 1, "len");
  uint32_t fdFlags = ArgU32(info, 2, "fdFlags");
  uint64_t heapFlags = ArgSize(info, 3, "heapFlags");
  int fd = AllocFd(heap, len, fdFlags, heapFlags);
  if (fd < 0) ThrowErrno(env, errno, kAlloc);
  return TrackFd(env, fd);
}

// heapAllocChecked(heap, dev, inoHi, inoLo, len, fdFlags, heapFlags): the allocation through an owned
// heap fd after checking, with one fstat in the same call, that the number still names the heap
// opened (hot.cc's identity words); -1, and nothing asked of the kernel, when it does not or the
// number is free.
Napi::Value AllocChecked(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int heap = ArgFd(info, 0, "heap");
  IdWords want = ArgIdWords(info);
  uint64_t len = ArgSize(info, 4, "len");
  uint32_t fdFlags = ArgU32(info, 5, "fdFlags");
  uint64_t heapFlags = ArgSize(info, 6, "heapFlags");
  if (fast::Compare(heap, want) != 0) return Napi::Number::New(env, -1);
  int fd = AllocFd(heap, len, fdFlags, heapFlags);
  if (fd < 0) ThrowErrno(env, errno, kAlloc);
  return TrackFd(env, fd);
}

napi_value AllocCheckedFast(napi_env env, napi_callback_info cbinfo) {
  fast::Args<7> a;
  int heap = 0;
  IdWords want{};
  uint64_t len = 0, heapFlags = 0;
  uint32_t fdFlags = 0;
  if (!fast::GetArgs(env, cbinfo, &a) || a.count < 7 || !fast::FdAndId(env, a, 0, &heap, &want) ||
      !fast::Size(env, a.v[4], &len) || !fast::U32(env, a.v[5], &fdFlags) || !fast::Size(env, a.v[6], &heapFlags)) {
    return fast::Checked(env, cbinfo, AllocChecked);
  }
  if (fast::Compare(heap, want) != 0) return fast::Int(env, -1);
  int fd = AllocFd(heap, len, fdFlags, heapFlags);
  if (fd < 0) return fast::ThrowSystem(env, errno, kAlloc);
  TrackNewFd(fast::DataOf(env), fd);
  return fast::Int(env, fd);
}

const Export kExports[] = {
    {"heapAlloc", Alloc},
};

const fast::RawExport kFast[] = {
    {"heapAllocChecked", AllocCheckedFast},
};

}  // namespace

void InitHeap(Napi::Env env, Napi::Object exports) {
  Register(env, exports, kExports);
  fast::RegisterRaw(env, exports, kFast);
}

}  // namespace dmabuf
