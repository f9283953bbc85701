// Errors: every failed syscall becomes the Error object returned by the JS factory that TypeScript
// registers at load time (src/errors.ts systemError), so the native and mock backends share one errno
// table. Argument checks for what would be unsafe (TypeError / RangeError with Node's ERR_* codes).
#include <string.h>

#include <cerrno>
#include <cmath>
#include <string>

#include "addon.h"

namespace dmabuf {

namespace {

constexpr double kMaxSafe = 9007199254740991.0;  // 2^53 - 1

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
  if (info.Length() < 1 || !info[0].IsFunction()) {
    ThrowTypeError(env, "ERR_INVALID_ARG_TYPE", "The \"factory\" argument must be of type function");
  }
  Data(env)->errorFactory = Napi::Persistent(info[0].As<Napi::Function>());
  return env.Undefined();
}

std::string Describe(Napi::Value v) {
  switch (v.Type()) {
    case napi_undefined: return "undefined";
    case napi_null: return "null";
    case napi_boolean: return "type boolean";
    case napi_number: return "type number";
    case napi_string: return "type string";
    case napi_symbol: return "type symbol";
    case napi_object: return "an object";
    case napi_function: return "a function";
    case napi_external: return "an external";
    case napi_bigint: return "type bigint";
  }
  return "an unknown value";
}

double CheckedNumber(Napi::Env env, Napi::Value v, const std::string& name, double min, double max) {
  if (!v.IsNumber()) {
    ThrowTypeError(env, "ERR_INVALID_ARG_TYPE",
                   "The \"" + name + "\" argument must be of type number. Received " + Describe(v));
  }
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::trunc(d) != d) {
    ThrowRangeError(env, "The value of \"" + name + "\" is out of range. It must be an integer. Received " +
                             std::to_string(d));
  }
  if (d < min || d > max) {
    ThrowRangeError(env, "The value of \"" + name + "\" is out of range. It must be >= " +
                             std::to_string(static_cast<int64_t>(min)) + " && <= " +
                             std::to_string(static_cast<int64_t>(max)) + ". Received " +
                             std::to_string(static_cast<int64_t>(d)));
  }
  return d;
}

Napi::Value Arg(const Napi::CallbackInfo& info, size_t i) {
  return i < info.Length() ? info[i] : info.Env().Undefined();
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

int ValueFd(Napi::Env env, Napi::Value v, const std::string& name) {
  return static_cast<int>(CheckedNumber(env, v, name, 0, 2147483647.0));
}

uint64_t ValueSize(Napi::Env env, Napi::Value v, const std::string& name) {
  return static_cast<uint64_t>(CheckedNumber(env, v, name, 0, kMaxSafe));
}

int ArgFd(const Napi::CallbackInfo& info, size_t i, const char* name) {
  return ValueFd(info.Env(), Arg(info, i), name);
}

uint64_t ArgSize(const Napi::CallbackInfo& info, size_t i, const char* name) {
  return ValueSize(info.Env(), Arg(info, i), name);
}

int64_t ArgInt64(const Napi::CallbackInfo& info, size_t i, const char* name) {
  return static_cast<int64_t>(CheckedNumber(info.Env(), Arg(info, i), name, -kMaxSafe, kMaxSafe));
}

uint32_t ArgU32(const Napi::CallbackInfo& info, size_t i, const char* name) {
  return static_cast<uint32_t>(CheckedNumber(info.Env(), Arg(info, i), name, 0, 4294967295.0));
}

int32_t ArgI32(const Napi::CallbackInfo& info, size_t i, const char* name) {
  return static_cast<int32_t>(CheckedNumber(info.Env(), Arg(info, i), name, -2147483648.0, 2147483647.0));
}

std::string ArgString(const Napi::CallbackInfo& info, size_t i, const char* name) {
  Napi::Env env = info.Env();
  Napi::Value v = Arg(info, i);
  if (!v.IsString()) {
    ThrowTypeError(env, "ERR_INVALID_ARG_TYPE",
                   std::string("The \"") + name + "\" argument must be of type string. Received " + Describe(v));
  }
  std::string s = v.As<Napi::String>().Utf8Value();
  if (s.find('\0') != std::string::npos) {
    ThrowTypeError(env, "ERR_INVALID_ARG_VALUE",
                   std::string("The argument '") + name + "' must be a string without null bytes");
  }
  return s;
}

Napi::Uint8Array ArgBytes(const Napi::CallbackInfo& info, size_t i, const char* name) {
  Napi::Value v = Arg(info, i);
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    ThrowTypeError(info.Env(), "ERR_INVALID_ARG_TYPE",
                   std::string("The \"") + name + "\" argument must be an instance of Uint8Array. Received " +
                       Describe(v));
  }
  return v.As<Napi::Uint8Array>();
}

// ---- PromiseWorker ---------------------------------------------------------------------------------

PromiseWorker::PromiseWorker(Napi::Env env, const char* resourceName)
    : Napi::AsyncWorker(env, resourceName), deferred_(Napi::Promise::Deferred::New(env)) {
  // The stack is captured now (V8 formats it lazily), so a rejection points at the caller.
  stack_ = Napi::Persistent(Napi::Error::New(env).Value());
}

Napi::Value PromiseWorker::MakeError(Napi::Env env, int err, const char* syscall) {
  Napi::Value e = MakeSystemError(env, err, syscall);
  if (!e.IsObject()) return e;
  Napi::Object obj = e.As<Napi::Object>();
  Napi::Value captured = stack_.Value().Get("stack");
  Napi::Value own = obj.Get("stack");
  if (captured.IsString() && own.IsString()) {
    std::string c = captured.As<Napi::String>().Utf8Value();
    std::string o = own.As<Napi::String>().Utf8Value();
    size_t cut = c.find("\n    at ");
    size_t ownCut = o.find("\n    at ");
    if (cut != std::string::npos) {
      std::string head = ownCut == std::string::npos ? o : o.substr(0, ownCut);
      obj.Set("stack", Napi::String::New(env, head + c.substr(cut)));
    }
  }
  return obj;
}

void PromiseWorker::RejectNow(int err, const char* syscall) {
  Napi::Env env = Env();
  deferred_.Reject(MakeError(env, err, syscall));
}

void PromiseWorker::OnOK() {
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  try {
    if (errno_ != 0) {
      deferred_.Reject(MakeError(env, errno_, syscall_));
    } else {
      deferred_.Resolve(Result(env));
    }
  } catch (const Napi::Error& e) {  // the factory itself threw
    deferred_.Reject(e.Value());
  }
}

void PromiseWorker::OnError(const Napi::Error& e) {
  deferred_.Reject(e.Value());
}

void InitErrors(Napi::Env env, Napi::Object exports) {
  exports.Set("setErrorFactory", Napi::Function::New(env, SetErrorFactory, "setErrorFactory"));
}

}  // namespace dmabuf
