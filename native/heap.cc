// /dev/dma_heap/<name> (include/uapi/linux/dma-heap.h): dma-buf allocation from a heap.
#include <fcntl.h>
#include <linux/dma-heap.h>

#include <cerrno>
#include <cstddef>

#include "addon.h"
#include "ioctl.h"

namespace dmabuf {

static_assert(sizeof(struct dma_heap_allocation_data) == 24, "dma_heap_allocation_data");
static_assert(offsetof(struct dma_heap_allocation_data, fd) == 8, "dma_heap_allocation_data.fd");
static_assert(offsetof(struct dma_heap_allocation_data, fd_flags) == 12, "dma_heap_allocation_data.fd_flags");
static_assert(offsetof(struct dma_heap_allocation_data, heap_flags) == 16, "dma_heap_allocation_data.heap_flags");
static_assert(DMA_HEAP_IOCTL_ALLOC == 0xC0184800, "DMA_HEAP_IOCTL_ALLOC");

namespace {

Napi::Value Alloc(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int heap = ArgFd(info, 0, "heap");
  struct dma_heap_allocation_data d {};
  d.len = ArgSize(info, 1, "len");
  d.fd = 0;  // input must be 0
  d.fd_flags = ArgU32(info, 2, "fdFlags") | O_CLOEXEC;  // close-on-exec whatever JS passes
  d.heap_flags = ArgSize(info, 3, "heapFlags");
  IoctlOrThrow(env, heap, DMA_HEAP_IOCTL_ALLOC, &d, "ioctl(DMA_HEAP_IOCTL_ALLOC)");
  return TrackFd(env, static_cast<int>(d.fd));
}

const Export kExports[] = {
    {"heapAlloc", Alloc},
};

}  // namespace

void InitHeap(Napi::Env env, Napi::Object exports) {
  Register(env, exports, kExports);
}

}  // namespace dmabuf
