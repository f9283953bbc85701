// The hot path: fd identity checks, as raw N-API functions (fast.h).
//
// File identity: an owned fd is checked against the (st_dev, st_ino) taken when it was handed out,
// kept by JS as three u32 words (IdWords). fdCheck() and closeChecked() compare them natively, so a
// check is one call, one fstat and no BigInt.
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "addon.h"
#include "fast.h"

namespace dmabuf {

namespace {

using fast::Args;

IdWords CheckedFdAndId(const Napi::CallbackInfo& info, int* fd) {
  *fd = ArgFd(info, 0, "fd");
  return ArgIdWords(info);
}

// ---- fdCheck(fd, dev, inoHi, inoLo) -> 0 | -1 | errno -------------------------------------------

Napi::Value FdCheckChecked(const Napi::CallbackInfo& info) {
  int fd = 0;
  IdWords w = CheckedFdAndId(info, &fd);
  return Napi::Number::New(info.Env(), fast::Compare(fd, w));
}

napi_value FdCheck(napi_env env, napi_callback_info cbinfo) {
  Args<4> a;
  int fd = 0;
  IdWords w{};
  if (!fast::GetArgs(env, cbinfo, &a) || !fast::FdAndId(env, a, 0, &fd, &w)) {
    return fast::Checked(env, cbinfo, FdCheckChecked);
  }
  return fast::Int(env, fast::Compare(fd, w));
}

// ---- closeChecked(fd, dev, inoHi, inoLo) -> 0 (closed) | -1 | errno (left alone) ----------------

int CloseIfSame(InstanceData* data, int fd, const IdWords& w, int* closeErr) {
  int r = fast::Compare(fd, w);
  if (r != 0) return r;
  // Linux releases the descriptor even when close() fails (EINTR, EIO): untrack either way.
  *closeErr = ::close(fd) < 0 ? errno : 0;
  UntrackFd(data, fd);
  return 0;
}

Napi::Value CloseCheckedChecked(const Napi::CallbackInfo& info) {
  int fd = 0;
  IdWords w = CheckedFdAndId(info, &fd);
  int err = 0;
  int r = CloseIfSame(Data(info.Env()), fd, w, &err);
  if (err) ThrowErrno(info.Env(), err, "close");
  return Napi::Number::New(info.Env(), r);
}

napi_value CloseChecked(napi_env env, napi_callback_info cbinfo) {
  Args<4> a;
  int fd = 0;
  IdWords w{};
  if (!fast::GetArgs(env, cbinfo, &a) || !fast::FdAndId(env, a, 0, &fd, &w)) {
    return fast::Checked(env, cbinfo, CloseCheckedChecked);
  }
  int err = 0;
  int r = CloseIfSame(fast::DataOf(env), fd, w, &err);
  if (err) return fast::ThrowSystem(env, err, "close");
  return fast::Int(env, r);
}

const fast::RawExport kExports[] = {
    {"fdCheck", FdCheck},
    {"closeChecked", CloseChecked},
};

}  // namespace

void InitHot(Napi::Env env, Napi::Object exports) {
  fast::RegisterRaw(env, exports, kExports);
  // lastId: the identity words of the last fd handed out (see TrackFd). The ArrayBuffer's memory
  // does not move; the reference keeps it alive as long as the environment.
  InstanceData* data = Data(env);
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, 3 * sizeof(uint32_t));
  data->lastId = static_cast<uint32_t*>(ab.Data());
  data->lastIdBuffer = Napi::Persistent(ab);
  exports.Set("lastId", Napi::Uint32Array::New(env, 3, ab, 0));
}

}  // namespace dmabuf
