// The hot path: the calls the library makes on every buffer operation, written against the plain
// N-API C interface. node-addon-api's wrapper (a CallbackInfo, a try/catch, an argument vector per
// call) costs more than the syscall behind a call like DMA_BUF_IOCTL_SYNC; here a call reads its
// numbers straight from the argument slots.
//
// Each function has one fast argument check: every argument a number that is an integer in range.
// When that fails, the same arguments go to the checked node-addon-api form, which throws the
// precise TypeError / RangeError the rest of the addon throws. So the behaviour is the checked
// form's; only the cost differs.
//
// File identity: an owned fd is checked against the (st_dev, st_ino) taken when it was handed out,
// kept by JS as three u32 words (IdWords). fdCheck() and closeChecked() compare them natively, so a
// check is one call, one fstat and no BigInt.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdint>

#include "addon.h"

namespace dmabuf {

namespace {

constexpr size_t kMaxArgs = 4;

// The arguments of a call, up to kMaxArgs (missing ones are undefined).
struct Args {
  napi_value v[kMaxArgs];
  size_t count = kMaxArgs;
};

bool GetArgs(napi_env env, napi_callback_info cbinfo, Args* a) {
  return napi_get_cb_info(env, cbinfo, &a->count, a->v, nullptr, nullptr) == napi_ok;
}

// v is a number holding an integer in [0, max]; *out is it.
bool Uint(napi_env env, napi_value v, double max, double* out) {
  double d = 0;
  if (napi_get_value_double(env, v, &d) != napi_ok) return false;
  if (!(d >= 0 && d <= max) || d != std::floor(d)) return false;
  *out = d;
  return true;
}

constexpr double kFdMax = 2147483647.0;
constexpr double kU32Max = 4294967295.0;
constexpr double kSafeMax = 9007199254740991.0;

// Runs the checked node-addon-api form of a function on the same call, turning its C++ exception
// into a pending JS exception (what node-addon-api's own callback wrapper does).
napi_value Checked(napi_env env, napi_callback_info cbinfo, Napi::Value (*fn)(const Napi::CallbackInfo&)) {
  try {
    Napi::CallbackInfo info(env, cbinfo);
    return fn(info);
  } catch (const Napi::Error& e) {
    e.ThrowAsJavaScriptException();
  } catch (const std::exception& e) {
    napi_throw_error(env, nullptr, e.what());
  }
  return nullptr;
}

// Throws the system error for err from syscall (built by the JS error factory).
napi_value ThrowSystem(napi_env env, int err, const char* syscall) {
  try {
    ThrowErrno(Napi::Env(env), err, syscall);
  } catch (const Napi::Error& e) {
    e.ThrowAsJavaScriptException();
  }
  return nullptr;
}

napi_value Int(napi_env env, int32_t n) {
  napi_value out = nullptr;
  napi_create_int32(env, n, &out);
  return out;
}

napi_value Undefined(napi_env env) {
  napi_value out = nullptr;
  napi_get_undefined(env, &out);
  return out;
}

// 0 when fd names the file with identity w, -1 when it names another file, or fstat's errno
// (EBADF: the number is free).
int Compare(int fd, const IdWords& w) {
  struct stat st {};
  if (fstat(fd, &st) < 0) return errno;
  IdWords now = WordsOf(st.st_dev, st.st_ino);
  return now.dev == w.dev && now.inoHi == w.inoHi && now.inoLo == w.inoLo ? 0 : -1;
}

// Reads (fd, dev, inoHi, inoLo).
bool FdAndId(napi_env env, const Args& a, int* fd, IdWords* w) {
  double f = 0, d = 0, hi = 0, lo = 0;
  if (a.count < 4 || !Uint(env, a.v[0], kFdMax, &f) || !Uint(env, a.v[1], kU32Max, &d) ||
      !Uint(env, a.v[2], kU32Max, &hi) || !Uint(env, a.v[3], kU32Max, &lo)) {
    return false;
  }
  *fd = static_cast<int>(f);
  *w = IdWords{static_cast<uint32_t>(d), static_cast<uint32_t>(hi), static_cast<uint32_t>(lo)};
  return true;
}

IdWords CheckedFdAndId(const Napi::CallbackInfo& info, int* fd) {
  *fd = ArgFd(info, 0, "fd");
  return IdWords{ArgU32(info, 1, "dev"), ArgU32(info, 2, "inoHi"), ArgU32(info, 3, "inoLo")};
}

// ---- fdCheck(fd, dev, inoHi, inoLo) -> 0 | -1 | errno -------------------------------------------

Napi::Value FdCheckChecked(const Napi::CallbackInfo& info) {
  int fd = 0;
  IdWords w = CheckedFdAndId(info, &fd);
  return Napi::Number::New(info.Env(), Compare(fd, w));
}

napi_value FdCheck(napi_env env, napi_callback_info cbinfo) {
  Args a;
  int fd = 0;
  IdWords w{};
  if (!GetArgs(env, cbinfo, &a) || !FdAndId(env, a, &fd, &w)) return Checked(env, cbinfo, FdCheckChecked);
  return Int(env, Compare(fd, w));
}

// ---- closeChecked(fd, dev, inoHi, inoLo) -> 0 (closed) | -1 | errno (left alone) ----------------

int CloseIfSame(napi_env env, int fd, const IdWords& w, int* closeErr) {
  int r = Compare(fd, w);
  if (r != 0) return r;
  // Linux releases the descriptor even when close() fails (EINTR, EIO): untrack either way.
  *closeErr = ::close(fd) < 0 ? errno : 0;
  UntrackFd(Data(Napi::Env(env)), fd);
  return 0;
}

Napi::Value CloseCheckedChecked(const Napi::CallbackInfo& info) {
  int fd = 0;
  IdWords w = CheckedFdAndId(info, &fd);
  int err = 0;
  int r = CloseIfSame(info.Env(), fd, w, &err);
  if (err) ThrowErrno(info.Env(), err, "close");
  return Napi::Number::New(info.Env(), r);
}

napi_value CloseChecked(napi_env env, napi_callback_info cbinfo) {
  Args a;
  int fd = 0;
  IdWords w{};
  if (!GetArgs(env, cbinfo, &a) || !FdAndId(env, a, &fd, &w)) return Checked(env, cbinfo, CloseCheckedChecked);
  int err = 0;
  int r = CloseIfSame(env, fd, w, &err);
  if (err) return ThrowSystem(env, err, "close");
  return Int(env, r);
}

// ---- dmabufSync(fd, flags) ------------------------------------------------------------------------

napi_value Sync(napi_env env, napi_callback_info cbinfo) {
  Args a;
  double fd = 0, flags = 0;
  if (!GetArgs(env, cbinfo, &a) || a.count < 2 || !Uint(env, a.v[0], kFdMax, &fd) ||
      !Uint(env, a.v[1], kSafeMax, &flags)) {
    return Checked(env, cbinfo, DmabufSync);
  }
  int err = DmabufSyncIoctl(static_cast<int>(fd), static_cast<uint64_t>(flags));
  if (err) return ThrowSystem(env, err, "ioctl(DMA_BUF_IOCTL_SYNC)");
  return Undefined(env);
}

struct RawExport {
  const char* name;
  napi_callback fn;
};

const RawExport kExports[] = {
    {"fdCheck", FdCheck},
    {"closeChecked", CloseChecked},
    {"dmabufSync", Sync},
};

}  // namespace

void InitHot(Napi::Env env, Napi::Object exports) {
  for (const RawExport& e : kExports) {
    napi_value fn = nullptr;
    NAPI_THROW_IF_FAILED_VOID(env, napi_create_function(env, e.name, NAPI_AUTO_LENGTH, e.fn, nullptr, &fn));
    exports.Set(e.name, Napi::Value(env, fn));
  }
  // lastId: the identity words of the last fd handed out (see TrackFd). The ArrayBuffer's memory
  // does not move; the reference keeps it alive as long as the environment.
  InstanceData* data = Data(env);
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, 3 * sizeof(uint32_t));
  data->lastId = static_cast<uint32_t*>(ab.Data());
  data->lastIdBuffer = Napi::Persistent(ab);
  exports.Set("lastId", Napi::Uint32Array::New(env, 3, ab, 0));
}

}  // namespace dmabuf
