// Errors thrown to JS: system errors built by the JS factory (one errno table for both backends), and
// Node-style coded errors (TypeError / RangeError / Error with an ERR_* code).
#pragma once

#include <napi.h>

#include <string>

namespace dmabuf {

// The Error object for a failed syscall, built by the JS factory registered with setErrorFactory().
Napi::Value MakeSystemError(Napi::Env env, int err, const char* syscall, const char* path = nullptr);
// Throws MakeSystemError(...) as a C++ exception (converted to a JS exception by node-addon-api).
[[noreturn]] void ThrowErrno(Napi::Env env, int err, const char* syscall, const char* path = nullptr);
[[noreturn]] void ThrowTypeError(Napi::Env env, const std::string& code, const std::string& message);
[[noreturn]] void ThrowRangeError(Napi::Env env, const std::string& message);  // ERR_OUT_OF_RANGE
[[noreturn]] void ThrowStateError(Napi::Env env, const std::string& code, const std::string& message);

}  // namespace dmabuf
