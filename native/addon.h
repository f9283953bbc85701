// The dmabuf addon's per-environment state and its registration: one Init function per kernel
// interface (one .cc file each). Includes the error and argument helpers every interface uses.
//
// The addon is context-aware: all state lives in the environment's instance data (one per main
// thread / worker), never in globals.
#pragma once

#include <napi.h>
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "args.h"
#include "errors.h"

namespace dmabuf {

struct Region;

// Mappings of one environment. Shared (shared_ptr) between the instance data and every Region, so
// a finalizer that runs late during teardown still finds a live registry.
struct RegionRegistry {
  Region* first = nullptr;  // the live regions, an intrusive list (Region::prev/next): no allocation per map
  bool tearingDown = false;
};

// Identity of a tracked fd, so the cleanup hook never closes a number that JS closed behind our back
// (e.g. with fs.closeSync) and that now belongs to someone else.
struct FdIdentity {
  dev_t dev = 0;
  ino_t ino = 0;
  bool tracked = false;
};

// What JS keeps of a file's identity: three u32 words (st_dev, which Linux encodes in 32 bits, and
// st_ino's high and low halves), so an identity is plain numbers, never BigInts.
struct IdWords {
  uint32_t dev, inoHi, inoLo;
};
IdWords WordsOf(dev_t dev, ino_t ino);

// The identity words of a checked call: its arguments 1 to 3 (dev, inoHi, inoLo), after the fd.
inline IdWords ArgIdWords(const Napi::CallbackInfo& info) {
  return IdWords{ArgU32(info, 1, "dev"), ArgU32(info, 2, "inoHi"), ArgU32(info, 3, "inoLo")};
}

struct InstanceData {
  Napi::FunctionReference errorFactory;
  // Every fd handed to JS and not yet closed/released, indexed by number (fds are small integers;
  // a vector allocates only when the highest number grows).
  std::vector<FdIdentity> fds;
  size_t trackedCount = 0;
  // The identity of the last fd handed out (TrackFd), read by JS through the Uint32Array exported as
  // `lastId` right after the call that made the fd: the identity costs no extra call and no object.
  uint32_t* lastId = nullptr;
  Napi::Reference<Napi::ArrayBuffer> lastIdBuffer;
  std::shared_ptr<RegionRegistry> registry = std::make_shared<RegionRegistry>();
  // The pending event-loop waits of pollAsync (loop_poll.cc), made at the first one.
  std::shared_ptr<void> loopWaits;
};

InstanceData* Data(Napi::Env env);

// ---- fd tracking (fd.cc) -------------------------------------------------------------------------
// Records fd as handed to JS (closed by the env cleanup hook unless closed or released) and returns it
// as a Number.
Napi::Number TrackFd(Napi::Env env, int fd);
// The same for the raw N-API functions (fast.h): records fd and its identity (also in lastId).
void TrackNewFd(InstanceData* data, int fd);
void UntrackFd(Napi::Env env, int fd);
void UntrackFd(InstanceData* data, int fd);
void CloseTrackedFds(InstanceData* data);

// ---- mappings (mapping.cc) ------------------------------------------------------------------------
void UnmapAllRegions(InstanceData* data);

// ---- event-loop waits (loop_poll.cc) --------------------------------------------------------------
// Env teardown: closes the handles of every pending wait (their promises stay pending).
void CancelLoopPolls(InstanceData* data);

// ---- registration ----------------------------------------------------------------------------------
// One exported function: its JS name and its callback. Each .cc ends with a table of them.
struct Export {
  const char* name;
  Napi::Function::Callback fn;
};

// Sets every function of a table on exports, under its JS name.
template <size_t N>
void Register(Napi::Env env, Napi::Object exports, const Export (&table)[N]) {
  for (const Export& e : table) exports.Set(e.name, Napi::Function::New(env, e.fn, e.name));
}

// One per kernel interface (one .cc file each).
void InitErrors(Napi::Env env, Napi::Object exports);
void InitFd(Napi::Env env, Napi::Object exports);
void InitMapping(Napi::Env env, Napi::Object exports);
void InitDmabuf(Napi::Env env, Napi::Object exports);
void InitUdmabuf(Napi::Env env, Napi::Object exports);
void InitHeap(Napi::Env env, Napi::Object exports);
void InitDrm(Napi::Env env, Napi::Object exports);
void InitSync(Napi::Env env, Napi::Object exports);
void InitKms(Napi::Env env, Napi::Object exports);
void InitV4l2(Napi::Env env, Napi::Object exports);
void InitHot(Napi::Env env, Napi::Object exports);

}  // namespace dmabuf
