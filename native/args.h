// Argument checks: only what would be unsafe (memory, double-to-integer casts that would be undefined
// behaviour); the policy is TypeScript's, which validates every argument first. When a check here
// fails, its message is the TypeScript validator's (src/errors.ts), word for word:
//   TypeError [ERR_INVALID_ARG_TYPE]: The "fd" argument must be of type number. Received type string ('3')
//   RangeError [ERR_OUT_OF_RANGE]: The value of "fd" is out of range. It must be an integer. Received 1.5
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>

namespace dmabuf {

// info[i], or undefined past the last argument.
Napi::Value Arg(const Napi::CallbackInfo& info, size_t i);

int ArgFd(const Napi::CallbackInfo& info, size_t i, const char* name);  // integer in [0, 2^31-1]
uint64_t ArgSize(const Napi::CallbackInfo& info, size_t i, const char* name);  // safe integer >= 0
int64_t ArgInt64(const Napi::CallbackInfo& info, size_t i, const char* name);  // any safe integer
uint32_t ArgU32(const Napi::CallbackInfo& info, size_t i, const char* name);   // [0, 2^32-1]
int32_t ArgI32(const Napi::CallbackInfo& info, size_t i, const char* name);    // [-2^31, 2^31-1]
// A string without NUL characters (a NUL would silently shorten a path or a name).
std::string ArgString(const Napi::CallbackInfo& info, size_t i, const char* name);
Napi::Uint8Array ArgBytes(const Napi::CallbackInfo& info, size_t i, const char* name);
bool ArgBool(const Napi::CallbackInfo& info, size_t i, const char* name);

// The same checks for a value that is not a direct argument (array elements, object fields).
int ValueFd(Napi::Env env, Napi::Value v, const std::string& name);
uint64_t ValueSize(Napi::Env env, Napi::Value v, const std::string& name);
uint32_t ValueU32(Napi::Env env, Napi::Value v, const std::string& name);
// An array (ERR_INVALID_ARG_TYPE "an instance of Array" otherwise).
Napi::Array ValueArray(Napi::Env env, Napi::Value v, const std::string& name);
// An integer field o[key] in [0, max], checked and named "NAME.KEY" like a direct argument.
uint32_t FieldU32(Napi::Env env, Napi::Object o, const char* key, const std::string& name, double max = 4294967295.0);
// A bigint in [0, 2^64-1] (a __u64 that may use all 64 bits, e.g. a format modifier).
uint64_t ValueBigU64(Napi::Env env, Napi::Value v, const std::string& name);
// A bigint in [-2^63, 2^63-1] (a __s64, e.g. a 64-bit control value).
int64_t ValueBigI64(Napi::Env env, Napi::Value v, const std::string& name);
// An integer number in [min, max] (both within +-(2^53-1)), as a double that casts without overflow.
double CheckedNumber(Napi::Env env, Napi::Value v, const std::string& name, double min, double max);

// How the validator shows a value after "Received": undefined, null, type string ('abc'),
// type number (1.5), type bigint (5n), an instance of Array, function f, ...
std::string Describe(Napi::Value v);
// TypeError [ERR_INVALID_ARG_TYPE]: The "NAME" argument must be EXPECTED. Received Describe(v)
[[noreturn]] void ThrowInvalidArgType(Napi::Env env, const std::string& name, const std::string& expected,
                                      Napi::Value v);
// RangeError [ERR_OUT_OF_RANGE]: The value of "NAME" is out of range. It must be RANGE. Received v
[[noreturn]] void ThrowOutOfRange(Napi::Env env, const std::string& name, const std::string& range, Napi::Value v);
// TypeError [ERR_INVALID_ARG_VALUE]: The argument 'NAME' REASON. Received v
[[noreturn]] void ThrowInvalidArgValue(Napi::Env env, const std::string& name, const std::string& reason,
                                       Napi::Value v);

}  // namespace dmabuf
