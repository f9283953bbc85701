// Argument checks: only what would be unsafe; the policy is TypeScript's. TypeError / RangeError with
// Node's ERR_* codes.
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

// The same checks for a value that is not a direct argument (array elements, object fields).
int ValueFd(Napi::Env env, Napi::Value v, const std::string& name);
uint64_t ValueSize(Napi::Env env, Napi::Value v, const std::string& name);
// An integer number in [min, max] (both within +-(2^53-1)), as a double that casts without overflow.
double CheckedNumber(Napi::Env env, Napi::Value v, const std::string& name, double min, double max);

// How a value is shown after "Received" in a type error.
std::string Describe(Napi::Value v);

}  // namespace dmabuf
