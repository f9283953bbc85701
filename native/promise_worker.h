// PromiseWorker: an AsyncWorker that settles a Promise, for syscalls that may block (run on the
// libuv thread pool, never on the JS thread).
#pragma once

#include <napi.h>

namespace dmabuf {

// Execute() sets errno_/syscall_ on failure; the rejection is built on the JS thread by the error
// factory and carries the caller's stack (captured at call time).
class PromiseWorker : public Napi::AsyncWorker {
 public:
  explicit PromiseWorker(Napi::Env env, const char* resourceName);
  Napi::Promise Promise() { return deferred_.Promise(); }
  // Settles immediately with an error, without queueing (e.g. the dup failed).
  void RejectNow(int err, const char* syscall);

 protected:
  void OnOK() final;
  void OnError(const Napi::Error& e) final;
  virtual Napi::Value Result(Napi::Env env) = 0;

  int errno_ = 0;
  const char* syscall_ = "";

 private:
  Napi::Value MakeError(Napi::Env env, int err, const char* syscall);
  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference stack_;  // an Error created at call time, for its stack
};

// Queues w; or, when setupErr is set (the setup before it failed, e.g. the dup), settles its Promise
// at once with that error for `syscall` and deletes w. Returns the Promise.
Napi::Promise QueueOrReject(PromiseWorker* w, int setupErr, const char* syscall);

}  // namespace dmabuf
