// dma-buf fd ioctls (include/uapi/linux/dma-buf.h): CPU access bracketing, naming, implicit-fence
// sync files.
#include <linux/dma-buf.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <string>

#include "addon.h"
#include "fast.h"
#include "fd.h"
#include "ioctl.h"
#include "promise_worker.h"

namespace dmabuf {

static_assert(sizeof(struct dma_buf_sync) == 8, "dma_buf_sync");
static_assert(DMA_BUF_IOCTL_SYNC == 0x40086200, "DMA_BUF_IOCTL_SYNC");
static_assert(DMA_BUF_SET_NAME_B == 0x40086201, "DMA_BUF_SET_NAME_B");

// Older userspace headers (before 6.0) lack the sync-file ioctls: declare them with the kernel's names.
#ifndef DMA_BUF_IOCTL_EXPORT_SYNC_FILE
struct dma_buf_export_sync_file {
  __u32 flags;
  __s32 fd;
};
struct dma_buf_import_sync_file {
  __u32 flags;
  __s32 fd;
};
#define DMA_BUF_IOCTL_EXPORT_SYNC_FILE _IOWR(DMA_BUF_BASE, 2, struct dma_buf_export_sync_file)
#define DMA_BUF_IOCTL_IMPORT_SYNC_FILE _IOW(DMA_BUF_BASE, 3, struct dma_buf_import_sync_file)
#endif
static_assert(sizeof(struct dma_buf_export_sync_file) == 8, "dma_buf_export_sync_file");
static_assert(offsetof(struct dma_buf_export_sync_file, fd) == 4, "dma_buf_export_sync_file.fd");
static_assert(DMA_BUF_IOCTL_EXPORT_SYNC_FILE == 0xC0086202, "DMA_BUF_IOCTL_EXPORT_SYNC_FILE");
static_assert(DMA_BUF_IOCTL_IMPORT_SYNC_FILE == 0x40086203, "DMA_BUF_IOCTL_IMPORT_SYNC_FILE");

namespace {

constexpr const char* kSync = "ioctl(DMA_BUF_IOCTL_SYNC)";

// DMA_BUF_IOCTL_SYNC (START waits interruptibly for fences, hence Ioctl()'s retry). 0 or errno.
int SyncIoctl(int fd, uint64_t flags) {
  struct dma_buf_sync s {};
  s.flags = flags;
  return Ioctl(fd, DMA_BUF_IOCTL_SYNC, &s) == 0 ? 0 : errno;
}


class SyncWorker : public PromiseWorker {
 public:
  SyncWorker(Napi::Env env, UniqueFd fd, uint64_t flags)
      : PromiseWorker(env, "dmabuf:sync"), fd_(std::move(fd)), flags_(flags) {}

 protected:
  void Execute() override {
    errno_ = SyncIoctl(fd_.get(), flags_);
    syscall_ = kSync;
  }
  Napi::Value Result(Napi::Env env) override { return env.Undefined(); }

 private:
  UniqueFd fd_;  // our own dup: closing the caller's fd meanwhile cannot redirect the ioctl
  uint64_t flags_;
};

Napi::Value SyncAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  uint64_t flags = ArgSize(info, 1, "flags");
  UniqueFd dup = DupCloexec(fd);
  int err = dup ? 0 : errno;
  // EBADF is what the ioctl itself would have said about a closed fd.
  return QueueOrReject(new SyncWorker(env, std::move(dup), flags), err, err == EBADF ? kSync : "dup");
}

Napi::Value SetName(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  // Not truncated here: the kernel refuses > 31 bytes with EINVAL, and that is the contract.
  std::string name = ArgString(info, 1, "name");
  IoctlOrThrow(env, fd, DMA_BUF_SET_NAME_B, name.data(), "ioctl(DMA_BUF_SET_NAME_B)");
  return env.Undefined();
}

constexpr const char* kSetName = "ioctl(DMA_BUF_SET_NAME_B)";

// dmabufSetNameChecked(fd, dev, inoHi, inoLo, name): DMA_BUF_SET_NAME_B through an owned fd after
// checking, with one fstat in the same call, that the number still names that dma-buf (hot.cc's
// identity words): 0, or -1 with nothing done when it does not or the number is free.
Napi::Value SetNameChecked(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  IdWords want = ArgIdWords(info);
  std::string name = ArgString(info, 4, "name");
  if (fast::Compare(fd, want) != 0) return Napi::Number::New(env, -1);
  IoctlOrThrow(env, fd, DMA_BUF_SET_NAME_B, name.data(), kSetName);
  return Napi::Number::New(env, 0);
}

napi_value SetNameCheckedFast(napi_env env, napi_callback_info cbinfo) {
  fast::Args<5> a;
  int fd = 0;
  IdWords want{};
  char name[64];
  if (!fast::GetArgs(env, cbinfo, &a) || a.count < 5 || !fast::FdAndId(env, a, 0, &fd, &want) ||
      !fast::ShortString(env, a.v[4], name)) {
    return fast::Checked(env, cbinfo, SetNameChecked);
  }
  if (fast::Compare(fd, want) != 0) return fast::Int(env, -1);
  if (Ioctl(fd, DMA_BUF_SET_NAME_B, name) < 0) return fast::ThrowSystem(env, errno, kSetName);
  return fast::Int(env, 0);
}

Napi::Value ExportSyncFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  uint32_t flags = ArgU32(info, 1, "flags");
  struct dma_buf_export_sync_file arg {};
  arg.flags = flags;
  arg.fd = -1;
  IoctlOrThrow(env, fd, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &arg, "ioctl(DMA_BUF_IOCTL_EXPORT_SYNC_FILE)");
  return TrackFd(env, arg.fd);  // close-on-exec: the kernel makes sync_file fds O_CLOEXEC
}

Napi::Value ImportSyncFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  uint32_t flags = ArgU32(info, 1, "flags");
  int syncFile = ArgFd(info, 2, "syncFile");
  struct dma_buf_import_sync_file arg {};
  arg.flags = flags;
  arg.fd = syncFile;
  IoctlOrThrow(env, fd, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, &arg, "ioctl(DMA_BUF_IOCTL_IMPORT_SYNC_FILE)");
  return env.Undefined();
}

// dmabufSync's checked form: what the raw form runs when an argument is not the plain number it expects.
Napi::Value DmabufSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  uint64_t flags = ArgSize(info, 1, "flags");
  int err = SyncIoctl(fd, flags);
  if (err) ThrowErrno(env, err, kSync);
  return env.Undefined();
}

// dmabufSync(fd, flags) on the hot path (fast.h), in the same file as SyncIoctl so that the call is
// one function down to ioctl(2): under emulation every return is an indirect jump that costs a
// lookup, and this call is little more than its ioctl.
napi_value SyncFast(napi_env env, napi_callback_info cbinfo) {
  fast::Args<2> a;
  int fd = 0;
  uint64_t flags = 0;
  if (!fast::GetArgs(env, cbinfo, &a) || a.count < 2 || !fast::Fd(env, a.v[0], &fd) || !fast::Size(env, a.v[1], &flags)) {
    return fast::Checked(env, cbinfo, DmabufSync);
  }
  if (int err = SyncIoctl(fd, flags)) return fast::ThrowSystem(env, err, kSync);
  return nullptr;  // undefined
}

// ---- dmabufSyncer(flags) -> (fd) => void ------------------------------------------------------------
// DMA_BUF_IOCTL_SYNC with the flags bound as the function's data, so each call converts one argument,
// not two. DmaBuf's beginAccess/endAccess use one per flag combination.

uint64_t BoundFlags(void* data) {
  return static_cast<uint64_t>(reinterpret_cast<uintptr_t>(data));
}

Napi::Value SyncBoundChecked(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  if (int err = SyncIoctl(fd, BoundFlags(info.Data()))) ThrowErrno(env, err, kSync);
  return env.Undefined();
}

napi_value SyncBoundFast(napi_env env, napi_callback_info cbinfo) {
  napi_value v[1];
  size_t count = 1;
  void* data = nullptr;
  int fd = 0;
  if (napi_get_cb_info(env, cbinfo, &count, v, nullptr, &data) != napi_ok || count < 1 || !fast::Fd(env, v[0], &fd)) {
    return fast::Checked(env, cbinfo, SyncBoundChecked);
  }
  if (int err = SyncIoctl(fd, BoundFlags(data))) return fast::ThrowSystem(env, err, kSync);
  return nullptr;  // undefined
}

Napi::Value Syncer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t flags = ArgSize(info, 0, "flags");
  if (flags > UINTPTR_MAX) ThrowOutOfRange(env, "flags", "<= " + std::to_string(UINTPTR_MAX), info[0]);
  napi_value fn = nullptr;
  NAPI_THROW_IF_FAILED(env, napi_create_function(env, "dmabufSync", NAPI_AUTO_LENGTH, SyncBoundFast,
                                                 reinterpret_cast<void*>(static_cast<uintptr_t>(flags)), &fn),
                       Napi::Value());
  return Napi::Value(env, fn);
}

const Export kExports[] = {
    {"dmabufSyncer", Syncer},
    {"dmabufSyncAsync", SyncAsync},
    {"dmabufSetName", SetName},
    {"dmabufExportSyncFile", ExportSyncFile},
    {"dmabufImportSyncFile", ImportSyncFile},
};

const fast::RawExport kFast[] = {
    {"dmabufSync", SyncFast},
    {"dmabufSetNameChecked", SetNameCheckedFast},
};

}  // namespace

void InitDmabuf(Napi::Env env, Napi::Object exports) {
  Register(env, exports, kExports);
  fast::RegisterRaw(env, exports, kFast);
}

}  // namespace dmabuf
