// Shared declarations of the dmabuf addon: per-environment state, error helpers, argument checks,
// and one Init function per kernel interface (one .cc file each).
//
// The addon is context-aware: all state lives in the environment's instance data (one per main
// thread / worker), never in globals.
#pragma once

#include <napi.h>
#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>

namespace dmabuf {

struct Region;

// Mappings of one environment. Shared (shared_ptr) between the instance data and every Region, so
// a finalizer that runs late during teardown still finds a live registry.
struct RegionRegistry {
  std::set<Region*> regions;
  bool tearingDown = false;
};

// Identity of a tracked fd, so the cleanup hook never closes a number that JS closed behind our back
// (e.g. with fs.closeSync) and that now belongs to someone else.
struct FdIdentity {
  dev_t dev;
  ino_t ino;
};

struct InstanceData {
  Napi::FunctionReference errorFactory;
  std::map<int, FdIdentity> fds;  // every fd handed to JS and not yet closed/released
  std::shared_ptr<RegionRegistry> registry = std::make_shared<RegionRegistry>();
};

InstanceData* Data(Napi::Env env);

// ---- errors (errors.cc) -----------------------------------------------------------------------------
// The Error object for a failed syscall, built by the JS factory registered with setErrorFactory().
Napi::Value MakeSystemError(Napi::Env env, int err, const char* syscall, const char* path = nullptr);
// Throws MakeSystemError(...) as a C++ exception (converted to a JS exception by node-addon-api).
[[noreturn]] void ThrowErrno(Napi::Env env, int err, const char* syscall, const char* path = nullptr);
[[noreturn]] void ThrowTypeError(Napi::Env env, const std::string& code, const std::string& message);
[[noreturn]] void ThrowRangeError(Napi::Env env, const std::string& message);  // ERR_OUT_OF_RANGE
[[noreturn]] void ThrowStateError(Napi::Env env, const std::string& code, const std::string& message);

// ---- argument checks (errors.cc): only what would be unsafe; policy is TypeScript's ---------------
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

// ---- fd tracking (fd.cc) -------------------------------------------------------------------------
// Records fd as handed to JS (closed by the env cleanup hook unless closed or released) and returns it
// as a Number.
Napi::Number TrackFd(Napi::Env env, int fd);
void UntrackFd(Napi::Env env, int fd);
void CloseTrackedFds(InstanceData* data);

// ---- mappings (mapping.cc) ------------------------------------------------------------------------
void UnmapAllRegions(InstanceData* data);

// ---- per-interface registration --------------------------------------------------------------------
void InitErrors(Napi::Env env, Napi::Object exports);
void InitFd(Napi::Env env, Napi::Object exports);
void InitMapping(Napi::Env env, Napi::Object exports);
void InitDmabuf(Napi::Env env, Napi::Object exports);
void InitUdmabuf(Napi::Env env, Napi::Object exports);
void InitHeap(Napi::Env env, Napi::Object exports);
void InitDrm(Napi::Env env, Napi::Object exports);
void InitSync(Napi::Env env, Napi::Object exports);
void InitKms(Napi::Env env, Napi::Object exports);

// ---- async helper (errors.cc) ---------------------------------------------------------------------
// An AsyncWorker that settles a Promise. Execute() sets errno_/syscall_ on failure; the rejection is
// built on the JS thread by the error factory and carries the caller's stack (captured at call time).
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

}  // namespace dmabuf
