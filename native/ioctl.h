// ioctl(2) with the retry every caller needs, in one place.
#pragma once

#include <napi.h>
#include <sys/ioctl.h>

#include <cerrno>

#include "errors.h"

namespace dmabuf {

// libdrm's drmIoctl loop: retried while the call fails with EINTR (a signal arrived) or EAGAIN (the
// driver asks to be called again). For every ioctl whose EAGAIN means "call again": DRM, KMS,
// dma-buf, sync_file, sw_sync, udmabuf, dma-heap (V4L2's are IoctlEintr's).
// Returns what ioctl(2) returns: >= 0, or -1 with errno set.
inline int Ioctl(int fd, unsigned long request, void* arg) {
  int r;
  do {
    r = ::ioctl(fd, request, arg);
  } while (r == -1 && (errno == EINTR || errno == EAGAIN));
  return r;
}

// Retried on EINTR only: for ioctls where EAGAIN is an answer, not a request to call again (e.g.
// VIDIOC_DQBUF on a non-blocking fd: no buffer is ready yet). Ioctl() would spin on those. Every V4L2
// ioctl goes through it: V4L2 has no "call again" EAGAIN.
inline int IoctlEintr(int fd, unsigned long request, void* arg) {
  int r;
  do {
    r = ::ioctl(fd, request, arg);
  } while (r == -1 && errno == EINTR);
  return r;
}

// Ioctl(), throwing the error factory's Error for `syscall` (e.g. "ioctl(DRM_IOCTL_GET_CAP)") on
// failure. Returns the ioctl's result (an fd for the ioctls that return one).
inline int IoctlOrThrow(Napi::Env env, int fd, unsigned long request, void* arg, const char* syscall) {
  int r = Ioctl(fd, request, arg);
  if (r < 0) ThrowErrno(env, errno, syscall);
  return r;
}

// The same over IoctlEintr(): EAGAIN is thrown, not retried.
inline int IoctlEintrOrThrow(Napi::Env env, int fd, unsigned long request, void* arg, const char* syscall) {
  int r = IoctlEintr(fd, request, arg);
  if (r < 0) ThrowErrno(env, errno, syscall);
  return r;
}

}  // namespace dmabuf
