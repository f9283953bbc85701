// Errors: every failed syscall becomes the Error object returned by the JS factory that TypeScript
// registers at load time (src/errors.ts systemError), so the native and mock backends share one errno
// table. Coded errors (ERR_*) for the argument checks and for invalid states.
#include "errors.h"

#include <string.h>

#include <cerrno>
#include <string>

#include "addon.h"

namespace dmabuf {

namespace {

// Used only when no factory was registered (the raw addon used directly).
Napi::Value FallbackError(Napi::Env env, int err, const char* syscall, const char* path) {
  std::string code;
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  const char* name = strerrorname_np(err);
  code = name ? name : "E" + std::to_string(err);
#else
  code = "E" + std::to_string(err);
#endif
  std::string message = code + ": " + strerror(err) + ", " + syscall;
  if (path) message += std::string(" '") + path + "'";
  Napi::Object e = Napi::Error::New(env, message).Value();
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("code", Napi::String::New(env, code));
  e.Set("syscall", Napi::String::New(env, syscall));
  if (path) e.Set("path", Napi::String::New(env, path));
  return e;
}

Napi::Value SetErrorFactory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Arg(info, 0).IsFunction()) ThrowInvalidArgType(env, "factory", "of type function", Arg(info, 0));
  Data(env)->errorFactory = Napi::Persistent(info[0].As<Napi::Function>());
  return env.Undefined();
}

}  // namespace

Napi::Value MakeSystemError(Napi::Env env, int err, const char* syscall, const char* path) {
  InstanceData* data = Data(env);
  if (data->errorFactory.IsEmpty()) return FallbackError(env, err, syscall, path);
  Napi::Value pathValue = path ? Napi::Value(Napi::String::New(env, path)) : env.Undefined();
  return data->errorFactory.Call({Napi::Number::New(env, err), Napi::String::New(env, syscall), pathValue});
}

void ThrowErrno(Napi::Env env, int err, const char* syscall, const char* path) {
  Napi::Value e = MakeSystemError(env, err, syscall, path);
  throw Napi::Error(env, e);
}

[[noreturn]] static void ThrowCoded(Napi::Env env, Napi::Error e, const std::string& code) {
  e.Value().Set("code", Napi::String::New(env, code));
  throw e;
}

void ThrowTypeError(Napi::Env env, const std::string& code, const std::string& message) {
  ThrowCoded(env, Napi::TypeError::New(env, message), code);
}

void ThrowRangeError(Napi::Env env, const std::string& message) {
  ThrowCoded(env, Napi::RangeError::New(env, message), "ERR_OUT_OF_RANGE");
}

void ThrowStateError(Napi::Env env, const std::string& code, const std::string& message) {
  ThrowCoded(env, Napi::Error::New(env, message), code);
}

namespace {

const Export kExports[] = {
    {"setErrorFactory", SetErrorFactory},
};

}  // namespace

void InitErrors(Napi::Env env, Napi::Object exports) {
  Register(env, exports, kExports);
}

}  // namespace dmabuf
