// Module entry: context-aware (NODE_API_MODULE), so it loads in several worker threads at once.
// Per-environment state lives in instance data; an env cleanup hook closes every fd and unmaps every
// region still held when the environment (main thread or worker) goes away.
#include <unistd.h>

#include "addon.h"

namespace dmabuf {

InstanceData* Data(Napi::Env env) {
  return env.GetInstanceData<InstanceData>();
}

namespace {

void Cleanup(InstanceData* data) {
  CancelLoopPolls(data);
  UnmapAllRegions(data);
  CloseTrackedFds(data);
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* data = new InstanceData();
  env.SetInstanceData<InstanceData>(data);  // deleted by the default finalizer at env teardown
  env.AddCleanupHook(Cleanup, data);

  exports.Set("pageSize", Napi::Number::New(env, static_cast<double>(sysconf(_SC_PAGESIZE))));
  InitErrors(env, exports);
  InitFd(env, exports);
  InitMapping(env, exports);
  InitDmabuf(env, exports);
  InitUdmabuf(env, exports);
  InitHeap(env, exports);
  InitDrm(env, exports);
  InitSync(env, exports);
  InitKms(env, exports);
  InitV4l2(env, exports);
  InitHot(env, exports);
  return exports;
}

}  // namespace dmabuf

static Napi::Object InitDmabufAddon(Napi::Env env, Napi::Object exports) {
  return dmabuf::Init(env, exports);
}

NODE_API_MODULE(dmabuf, InitDmabufAddon)
