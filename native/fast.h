// The hot path's building blocks: functions written against the plain N-API C interface.
// node-addon-api's wrapper (a CallbackInfo, a try/catch, an argument vector per call, a heap-allocated
// one past six arguments) costs more than the syscall behind a call like DMA_BUF_IOCTL_SYNC; a fast
// function reads its numbers straight from the argument slots.
//
// Each fast function has one cheap argument check: every argument the plain value it expects (a
// number that is an integer in range, a short string, a boolean). When that fails, the same call goes
// to the checked node-addon-api form (Checked()), which throws the precise TypeError / RangeError the
// rest of the addon throws. So the behaviour is the checked form's; only the cost differs.
#pragma once

#include <node_api.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "addon.h"

namespace dmabuf {
namespace fast {

constexpr int64_t kFdMax = 2147483647;
constexpr int64_t kI32Max = 2147483647;
constexpr int64_t kU32Max = 4294967295;
constexpr int64_t kI32Min = -2147483648LL;
constexpr int64_t kSafeMax = 9007199254740991;

// The first N arguments of a call (missing ones are undefined); count is how many were passed. N is
// the function's arity: napi_get_cb_info copies N slots and fills the missing ones, so a smaller N
// is a cheaper call.
template <size_t N>
struct Args {
  napi_value v[N];
  size_t count = N;
};

template <size_t N>
inline bool GetArgs(napi_env env, napi_callback_info cbinfo, Args<N>* a) {
  return napi_get_cb_info(env, cbinfo, &a->count, a->v, nullptr, nullptr) == napi_ok;
}

// d's value when it is an integer of magnitude below 2^53 (-0 is 0), decoded from its bits with
// integer operations only: under emulation (qemu's TCG) each floating-point instruction is a call
// into a soft-float helper, and a few compares per argument cost more than the call around them.
inline bool IntegerBits(double d, int64_t* out) {
  uint64_t bits = 0;
  std::memcpy(&bits, &d, sizeof bits);
  const uint64_t mag = bits & ~(uint64_t{1} << 63);
  if (mag == 0) return *out = 0, true;
  const int exp = static_cast<int>(mag >> 52) - 1023;  // NaN and Infinity: 1024; subnormals: -1023
  if (exp < 0 || exp > 52) return false;               // |d| < 1 (a fraction), >= 2^53, NaN, Infinity
  const int shift = 52 - exp;
  const uint64_t mant = (mag & ((uint64_t{1} << 52) - 1)) | (uint64_t{1} << 52);
  if (mant & ((uint64_t{1} << shift) - 1)) return false;  // a fraction
  const int64_t v = static_cast<int64_t>(mant >> shift);
  *out = (bits >> 63) ? -v : v;
  return true;
}

// v is a number holding an integer in [min, max] (a range within ±2^53); *out is it.
inline bool Integer(napi_env env, napi_value v, int64_t min, int64_t max, int64_t* out) {
  double d = 0;
  int64_t n = 0;
  if (napi_get_value_double(env, v, &d) != napi_ok || !IntegerBits(d, &n) || n < min || n > max) return false;
  *out = n;
  return true;
}

inline bool Fd(napi_env env, napi_value v, int* out) {
  int64_t n = 0;
  if (!Integer(env, v, 0, kFdMax, &n)) return false;
  *out = static_cast<int>(n);
  return true;
}

inline bool U32(napi_env env, napi_value v, uint32_t* out) {
  int64_t n = 0;
  if (!Integer(env, v, 0, kU32Max, &n)) return false;
  *out = static_cast<uint32_t>(n);
  return true;
}

inline bool I32(napi_env env, napi_value v, int32_t* out) {
  int64_t n = 0;
  if (!Integer(env, v, kI32Min, kI32Max, &n)) return false;
  *out = static_cast<int32_t>(n);
  return true;
}

inline bool Size(napi_env env, napi_value v, uint64_t* out) {
  int64_t n = 0;
  if (!Integer(env, v, 0, kSafeMax, &n)) return false;
  *out = static_cast<uint64_t>(n);
  return true;
}

inline bool Bool(napi_env env, napi_value v, bool* out) {
  return napi_get_value_bool(env, v, out) == napi_ok;
}

// A string of fewer than N bytes of UTF-8 without NUL, copied NUL-terminated into buf. Longer
// strings (and NULs, which ArgString refuses) go to the checked form.
template <size_t N>
bool ShortString(napi_env env, napi_value v, char (&buf)[N], size_t* len = nullptr) {
  size_t n = 0;
  if (napi_get_value_string_utf8(env, v, buf, N, &n) != napi_ok) return false;
  if (n >= N - 1 || std::strlen(buf) != n) return false;  // possibly truncated, or a NUL inside
  if (len) *len = n;
  return true;
}

// (fd, dev, inoHi, inoLo) from a.v[at..at+3].
template <size_t N>
inline bool FdAndId(napi_env env, const Args<N>& a, size_t at, int* fd, IdWords* w) {
  return a.count >= at + 4 && Fd(env, a.v[at], fd) && U32(env, a.v[at + 1], &w->dev) &&
         U32(env, a.v[at + 2], &w->inoHi) && U32(env, a.v[at + 3], &w->inoLo);
}

// 0 when fd names the file with identity w, -1 when it names another file, or fstat's errno (EBADF:
// the number is free). *st is fstat's answer when it succeeded.
inline int Compare(int fd, const IdWords& w, struct stat* st) {
  if (fstat(fd, st) < 0) return errno;
  IdWords now = WordsOf(st->st_dev, st->st_ino);
  return now.dev == w.dev && now.inoHi == w.inoHi && now.inoLo == w.inoLo ? 0 : -1;
}

inline int Compare(int fd, const IdWords& w) {
  struct stat st {};
  return Compare(fd, w, &st);
}

// Runs fn (which may use node-addon-api and throw its C++ exceptions) and turns such an exception into
// a pending JS exception, as node-addon-api's own callback wrapper does.
template <typename Fn>
napi_value Rethrowing(napi_env env, Fn fn) {
  try {
    return fn();
  } catch (const Napi::Error& e) {
    e.ThrowAsJavaScriptException();
  } catch (const std::exception& e) {
    napi_throw_error(env, nullptr, e.what());
  }
  return nullptr;
}

// Runs the checked node-addon-api form of a function on the same call.
inline napi_value Checked(napi_env env, napi_callback_info cbinfo, Napi::Value (*fn)(const Napi::CallbackInfo&)) {
  return Rethrowing(env, [&] {
    Napi::CallbackInfo info(env, cbinfo);
    return static_cast<napi_value>(fn(info));
  });
}

// Throws the system error for err from syscall (built by the JS error factory); returns nullptr.
inline napi_value ThrowSystem(napi_env env, int err, const char* syscall) {
  try {
    ThrowErrno(Napi::Env(env), err, syscall);
  } catch (const Napi::Error& e) {
    e.ThrowAsJavaScriptException();
  }
  return nullptr;
}

inline napi_value ThrowSystem(napi_env env, int err, const char* syscall, const char* path) {
  try {
    ThrowErrno(Napi::Env(env), err, syscall, path);
  } catch (const Napi::Error& e) {
    e.ThrowAsJavaScriptException();
  }
  return nullptr;
}

inline napi_value Int(napi_env env, int32_t n) {
  napi_value out = nullptr;
  napi_create_int32(env, n, &out);
  return out;
}

inline napi_value Null(napi_env env) {
  napi_value out = nullptr;
  napi_get_null(env, &out);
  return out;
}

inline InstanceData* DataOf(napi_env env) {
  void* p = nullptr;
  napi_get_instance_data(env, &p);
  return static_cast<InstanceData*>(p);
}

// One exported raw function: its JS name and its callback.
struct RawExport {
  const char* name;
  napi_callback fn;
};

template <size_t N>
void RegisterRaw(Napi::Env env, Napi::Object exports, const RawExport (&table)[N]) {
  for (const RawExport& e : table) {
    napi_value fn = nullptr;
    NAPI_THROW_IF_FAILED_VOID(env, napi_create_function(env, e.name, NAPI_AUTO_LENGTH, e.fn, nullptr, &fn));
    exports.Set(e.name, Napi::Value(env, fn));
  }
}

}  // namespace fast
}  // namespace dmabuf
