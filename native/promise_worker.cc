// PromiseWorker: settles its Promise on the JS thread, rejecting with the error factory's Error and
// the stack captured when the call was made.
#include "promise_worker.h"

#include <string>

#include "errors.h"

namespace dmabuf {

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

Napi::Promise QueueOrReject(PromiseWorker* w, int setupErr, const char* syscall) {
  Napi::Promise p = w->Promise();
  if (setupErr != 0) {
    w->RejectNow(setupErr, syscall);
    delete w;
  } else {
    w->Queue();
  }
  return p;
}

}  // namespace dmabuf
