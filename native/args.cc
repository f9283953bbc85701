// Argument checks for what would be unsafe (TypeError / RangeError with Node's ERR_* codes).
#include "args.h"

#include <cmath>
#include <string>

#include "errors.h"

namespace dmabuf {

namespace {

constexpr double kMaxSafe = 9007199254740991.0;  // 2^53 - 1

}  // namespace

Napi::Value Arg(const Napi::CallbackInfo& info, size_t i) {
  return i < info.Length() ? info[i] : info.Env().Undefined();
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

}  // namespace dmabuf
