// Fixed-size char arrays of kernel structs (names): to and from JS strings, never past the array.
#pragma once

#include <napi.h>
#include <string.h>

#include <algorithm>
#include <string>

namespace dmabuf {

// The array as a string, up to its first NUL (the kernel may fill every byte).
template <size_t N>
Napi::String FixedString(Napi::Env env, const char (&s)[N]) {
  return Napi::String::New(env, s, strnlen(s, N));
}

// Copies src into the array, cut to N - 1 bytes, NUL-terminated.
template <size_t N>
void CopyName(char (&dst)[N], const std::string& src) {
  size_t n = std::min(src.size(), N - 1);
  memcpy(dst, src.data(), n);
  dst[n] = '\0';
}

}  // namespace dmabuf
