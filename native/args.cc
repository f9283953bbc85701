// Argument checks, with the TypeScript validator's messages (src/errors.ts: describe, invalidArgType,
// outOfRange, invalidArgValue, validateInt).
#include "args.h"

#include <cmath>
#include <optional>
#include <string>

#include "errors.h"

namespace dmabuf {

namespace {

constexpr double kMaxSafe = 9007199254740991.0;  // 2^53 - 1

// String(v) for a number or a bigint, by the engine itself: a number prints as Number#toString does
// (1.5, 1e+21, NaN, Infinity, -0 as 0).
std::string JsString(Napi::Value v) {
  return v.ToString().Utf8Value();
}

std::string NumberString(Napi::Env env, double d) {
  return JsString(Napi::Number::New(env, d));
}

// o.name as a template literal shows it; nothing when it is falsy.
std::optional<std::string> NameOf(Napi::Object o) {
  Napi::Value name = o.Get("name");
  if (!name.ToBoolean().Value()) return std::nullopt;
  return JsString(name);  // a symbol throws here, as it does in the template literal
}

// String(symbol): Symbol(description).
std::string SymbolString(Napi::Value v) {
  Napi::Value d = v.ToObject().Get("description");
  return "Symbol(" + (d.IsString() ? d.As<Napi::String>().Utf8Value() : std::string()) + ")";
}

// A string cut like the validator cuts it: past 28 UTF-16 units, the first 25 and "...".
std::string Shortened(Napi::Env env, Napi::String s) {
  std::u16string units = s.Utf16Value();
  if (units.size() <= 28) return s.Utf8Value();
  return Napi::String::New(env, units.substr(0, 25)).Utf8Value() + "...";
}

}  // namespace

Napi::Value Arg(const Napi::CallbackInfo& info, size_t i) {
  return i < info.Length() ? info[i] : info.Env().Undefined();
}

std::string Describe(Napi::Value v) {
  switch (v.Type()) {
    case napi_undefined: return "undefined";
    case napi_null: return "null";
    case napi_boolean: return v.As<Napi::Boolean>().Value() ? "type boolean (true)" : "type boolean (false)";
    case napi_number: return "type number (" + JsString(v) + ")";
    case napi_string: return "type string ('" + Shortened(v.Env(), v.As<Napi::String>()) + "')";
    case napi_bigint: return "type bigint (" + JsString(v) + "n)";
    case napi_symbol: return "type symbol (" + SymbolString(v) + ")";
    case napi_function: return "function " + NameOf(v.As<Napi::Object>()).value_or("<anonymous>");
    case napi_object: {
      Napi::Value ctor = v.As<Napi::Object>().Get("constructor");
      std::optional<std::string> name = ctor.IsObject() ? NameOf(ctor.As<Napi::Object>()) : std::nullopt;
      return name ? "an instance of " + *name : "an object";
    }
    case napi_external: return "an object";  // typeof 'object', without a constructor
  }
  return "an object";
}

void ThrowInvalidArgType(Napi::Env env, const std::string& name, const std::string& expected, Napi::Value v) {
  ThrowTypeError(env, "ERR_INVALID_ARG_TYPE",
                 "The \"" + name + "\" argument must be " + expected + ". Received " + Describe(v));
}

void ThrowOutOfRange(Napi::Env env, const std::string& name, const std::string& range, Napi::Value v) {
  std::string shown = v.IsString() ? "'" + v.As<Napi::String>().Utf8Value() + "'"
                      : v.IsBigInt() ? JsString(v) + "n"
                                     : JsString(v);
  ThrowRangeError(env, "The value of \"" + name + "\" is out of range. It must be " + range + ". Received " + shown);
}

void ThrowInvalidArgValue(Napi::Env env, const std::string& name, const std::string& reason, Napi::Value v) {
  // 'string', else JSON.stringify(v): a number as String(v), NaN and Infinity as null.
  std::string shown = v.IsString() ? "'" + v.As<Napi::String>().Utf8Value() + "'"
                      : v.IsNumber() && !std::isfinite(v.As<Napi::Number>().DoubleValue()) ? "null"
                                                                                           : JsString(v);
  ThrowTypeError(env, "ERR_INVALID_ARG_VALUE", "The argument '" + name + "' " + reason + ". Received " + shown);
}

double CheckedNumber(Napi::Env env, Napi::Value v, const std::string& name, double min, double max) {
  if (!v.IsNumber()) ThrowInvalidArgType(env, name, "of type number", v);
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::trunc(d) != d) ThrowOutOfRange(env, name, "an integer", v);
  if (d < min || d > max) {
    ThrowOutOfRange(env, name, ">= " + NumberString(env, min) + " && <= " + NumberString(env, max), v);
  }
  return d;
}

int ValueFd(Napi::Env env, Napi::Value v, const std::string& name) {
  return static_cast<int>(CheckedNumber(env, v, name, 0, 2147483647.0));
}

uint64_t ValueSize(Napi::Env env, Napi::Value v, const std::string& name) {
  return static_cast<uint64_t>(CheckedNumber(env, v, name, 0, kMaxSafe));
}

uint32_t ValueU32(Napi::Env env, Napi::Value v, const std::string& name) {
  return static_cast<uint32_t>(CheckedNumber(env, v, name, 0, 4294967295.0));
}

Napi::Array ValueArray(Napi::Env env, Napi::Value v, const std::string& name) {
  if (!v.IsArray()) ThrowInvalidArgType(env, name, "an instance of Array", v);
  return v.As<Napi::Array>();
}

uint32_t FieldU32(Napi::Env env, Napi::Object o, const char* key, const std::string& name, double max) {
  return static_cast<uint32_t>(CheckedNumber(env, o.Get(key), name + "." + key, 0, max));
}

uint64_t ValueBigU64(Napi::Env env, Napi::Value v, const std::string& name) {
  if (!v.IsBigInt()) ThrowInvalidArgType(env, name, "of type bigint", v);
  bool lossless = false;
  uint64_t x = v.As<Napi::BigInt>().Uint64Value(&lossless);
  if (!lossless) ThrowOutOfRange(env, name, ">= 0n && <= 18446744073709551615n", v);
  return x;
}

int64_t ValueBigI64(Napi::Env env, Napi::Value v, const std::string& name) {
  if (!v.IsBigInt()) ThrowInvalidArgType(env, name, "of type bigint", v);
  bool lossless = false;
  int64_t x = v.As<Napi::BigInt>().Int64Value(&lossless);
  if (!lossless) ThrowOutOfRange(env, name, ">= -9223372036854775808n && <= 9223372036854775807n", v);
  return x;
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
  return ValueU32(info.Env(), Arg(info, i), name);
}

int32_t ArgI32(const Napi::CallbackInfo& info, size_t i, const char* name) {
  return static_cast<int32_t>(CheckedNumber(info.Env(), Arg(info, i), name, -2147483648.0, 2147483647.0));
}

std::string ArgString(const Napi::CallbackInfo& info, size_t i, const char* name) {
  Napi::Env env = info.Env();
  Napi::Value v = Arg(info, i);
  if (!v.IsString()) ThrowInvalidArgType(env, name, "of type string", v);
  std::string s = v.As<Napi::String>().Utf8Value();
  if (s.find('\0') != std::string::npos) ThrowInvalidArgValue(env, name, "must be a string without null bytes", v);
  return s;
}

bool ArgBool(const Napi::CallbackInfo& info, size_t i, const char* name) {
  Napi::Value v = Arg(info, i);
  if (!v.IsBoolean()) ThrowInvalidArgType(info.Env(), name, "of type boolean", v);
  return v.As<Napi::Boolean>().Value();
}

Napi::Uint8Array ArgBytes(const Napi::CallbackInfo& info, size_t i, const char* name) {
  Napi::Value v = Arg(info, i);
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    ThrowInvalidArgType(info.Env(), name, "an instance of Uint8Array", v);
  }
  return v.As<Napi::Uint8Array>();
}

}  // namespace dmabuf
