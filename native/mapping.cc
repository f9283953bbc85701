// mmap'ed regions and their zero-copy ArrayBuffers.
//
// A Region is owned jointly by its JS handle (napi_wrap finalizer) and, once mapBuffer() made one, by
// its external ArrayBuffer (buffer finalizer): `refs` counts both, and the last one to go away unmaps
// (if still mapped) and frees the Region. munmap() detaches the ArrayBuffer first (every view then
// reads length 0), then unmaps and marks the Region unmapped, so no later finalizer unmaps again. Nothing
// is keyed by address: after munmap() the kernel may hand the same address to a new mapping.
// The env cleanup hook unmaps whatever is still mapped when a worker or the process exits.
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <cerrno>
#include <memory>
#include <string>
#include <vector>

#include "addon.h"
#include "fast.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

namespace dmabuf {

struct Region {
  void* addr = nullptr;
  size_t length = 0;
  int prot = 0;
  bool unmapped = false;
  int refs = 0;               // the handle + each ArrayBuffer made over the region
  napi_env env = nullptr;
  napi_ref buffer = nullptr;  // weak: the cached ArrayBuffer, for mapBuffer() and detaching
  std::shared_ptr<RegionRegistry> registry;
  Region* prev = nullptr;  // the registry's list of live regions
  Region* next = nullptr;
};

namespace {

// Tags a handle object as ours: napi_unwrap of a foreign wrapped object would be a wild pointer.
const napi_type_tag kRegionTag = {0x646d616275662d72ULL, 0x6567696f6e2d7631ULL};

void ForgetBuffer(Region* r) {
  if (r->buffer) {
    napi_delete_reference(r->env, r->buffer);
    r->buffer = nullptr;
  }
}

// Detaches the cached ArrayBuffer if it is still alive.
void DetachBuffer(Region* r) {
  if (!r->buffer) return;
  napi_value ab = nullptr;
  if (napi_get_reference_value(r->env, r->buffer, &ab) == napi_ok && ab != nullptr) {
    bool detachable = false;
    if (napi_is_detached_arraybuffer(r->env, ab, &detachable) == napi_ok && !detachable) {
      napi_detach_arraybuffer(r->env, ab);
    }
  }
  ForgetBuffer(r);
}

// Returns 0 or errno.
int Unmap(Region* r, bool adjustGc) {
  if (r->unmapped) return 0;
  if (::munmap(r->addr, r->length) < 0) return errno;
  r->unmapped = true;
  if (adjustGc && !r->registry->tearingDown) {
    int64_t change = 0;
    napi_adjust_external_memory(r->env, -static_cast<int64_t>(r->length), &change);
  }
  return 0;
}

void Link(Region* r) {
  RegionRegistry& reg = *r->registry;
  r->next = reg.first;
  if (reg.first) reg.first->prev = r;
  reg.first = r;
}

void Unlink(Region* r) {
  RegionRegistry& reg = *r->registry;
  if (r->prev) r->prev->next = r->next;
  else if (reg.first == r) reg.first = r->next;
  if (r->next) r->next->prev = r->prev;
  r->prev = r->next = nullptr;
}

void Release(Region* r) {
  if (--r->refs > 0) return;
  Unmap(r, true);
  ForgetBuffer(r);
  Unlink(r);
  delete r;
}

void FinalizeHandle(napi_env, void* data, void*) { Release(static_cast<Region*>(data)); }
void FinalizeBuffer(napi_env, void*, void* hint) { Release(static_cast<Region*>(hint)); }

Region* ArgRegion(const Napi::CallbackInfo& info, size_t i) {
  Napi::Env env = info.Env();
  Napi::Value v = Arg(info, i);
  void* p = nullptr;
  if (!v.IsObject() || !v.As<Napi::Object>().CheckTypeTag(&kRegionTag) || napi_unwrap(env, v, &p) != napi_ok ||
      p == nullptr) {
    ThrowInvalidArgType(env, "mapping", "a mapping made by this backend", v);
  }
  return static_cast<Region*>(p);
}

// mmap's flags argument: MAP_FIXED / MAP_FIXED_NOREPLACE would let JS replace any mapping of the process.
int ArgMapFlags(const Napi::CallbackInfo& info, size_t i) {
  int flags = ArgI32(info, i, "flags");
  if (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) {
    ThrowInvalidArgValue(info.Env(), "flags", "must not contain MAP_FIXED", Arg(info, i));
  }
  return flags;
}

// mmap of fd (whose fstat is st) and its handle; the file size is checked first.
Napi::Value MapAndWrap(Napi::Env env, int fd, const struct stat* st, uint64_t length, int prot, int flags,
                       uint64_t offset) {
  // Touching a file mapping beyond the end of the file raises SIGBUS: refuse to make one.
  if (st && S_ISREG(st->st_mode) && offset + length > static_cast<uint64_t>(st->st_size)) {
    ThrowRangeError(env, "The value of \"length\" is out of range. offset + length must be <= the file size (" +
                             std::to_string(st->st_size) + ")");
  }
  void* addr = ::mmap(nullptr, length, prot, flags, fd, static_cast<off_t>(offset));
  if (addr == MAP_FAILED) ThrowErrno(env, errno, "mmap");

  auto region = std::make_unique<Region>();
  region->addr = addr;
  region->length = length;
  region->prot = prot;
  region->refs = 1;
  region->env = env;
  region->registry = Data(env)->registry;
  napi_value handle = nullptr;
  napi_value lengthValue = nullptr, protValue = nullptr;
  napi_status status = napi_create_object(env, &handle);
  if (status == napi_ok) status = napi_create_double(env, static_cast<double>(length), &lengthValue);
  if (status == napi_ok) status = napi_create_int32(env, prot, &protValue);
  if (status == napi_ok) {
    const napi_property_descriptor props[] = {
        {"length", nullptr, nullptr, nullptr, nullptr, lengthValue, napi_enumerable, nullptr},
        {"prot", nullptr, nullptr, nullptr, nullptr, protValue, napi_enumerable, nullptr},
    };
    status = napi_define_properties(env, handle, 2, props);
  }
  if (status == napi_ok) status = napi_type_tag_object(env, handle, &kRegionTag);
  if (status == napi_ok) status = napi_wrap(env, handle, region.get(), FinalizeHandle, nullptr, nullptr);
  if (status != napi_ok) {
    ::munmap(addr, length);
    NAPI_THROW_IF_FAILED(env, status, Napi::Value());
  }
  Region* r = region.release();  // owned by the handle's finalizer now
  Link(r);
  Napi::MemoryManagement::AdjustExternalMemory(env, static_cast<int64_t>(length));
  return Napi::Value(env, handle);
}

Napi::Value Mmap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  uint64_t length = ArgSize(info, 1, "length");
  int prot = ArgI32(info, 2, "prot");
  int flags = ArgMapFlags(info, 3);
  uint64_t offset = ArgSize(info, 4, "offset");
  struct stat st {};
  const bool known = fstat(fd, &st) == 0;
  return MapAndWrap(env, fd, known ? &st : nullptr, length, prot, flags, offset);
}

// mmapChecked(fd, dev, inoHi, inoLo, length, prot, flags, offset): mmap of an owned fd after checking,
// with the same fstat, that it still names the file with these identity words (hot.cc's IdWords);
// null, and nothing mapped, when it does not (or the number is free).
Napi::Value MmapChecked(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  IdWords want = ArgIdWords(info);
  uint64_t length = ArgSize(info, 4, "length");
  int prot = ArgI32(info, 5, "prot");
  int flags = ArgMapFlags(info, 6);
  uint64_t offset = ArgSize(info, 7, "offset");
  struct stat st {};
  if (fstat(fd, &st) < 0) return env.Null();
  IdWords now = WordsOf(st.st_dev, st.st_ino);
  if (now.dev != want.dev || now.inoHi != want.inoHi || now.inoLo != want.inoLo) return env.Null();
  return MapAndWrap(env, fd, &st, length, prot, flags, offset);
}

Napi::Value MapBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Region* r = ArgRegion(info, 0);
  if (r->unmapped) ThrowStateError(env, "ERR_INVALID_STATE", "the mapping was unmapped");
  if ((r->prot & (PROT_READ | PROT_WRITE)) != (PROT_READ | PROT_WRITE)) {
    ThrowStateError(env, "ERR_INVALID_STATE",
                    "no ArrayBuffer over a mapping without PROT_READ|PROT_WRITE (a write through it would crash); use mapRead()");
  }
  if (r->buffer) {
    napi_value ab = nullptr;
    if (napi_get_reference_value(env, r->buffer, &ab) == napi_ok && ab != nullptr) return Napi::Value(env, ab);
    ForgetBuffer(r);  // collected; its finalizer still holds (and will drop) its own ref
  }
  napi_value ab = nullptr;
  napi_status status = napi_create_external_arraybuffer(env, r->addr, r->length, FinalizeBuffer, r, &ab);
  if (status == napi_no_external_buffers_allowed) {
    ThrowStateError(env, "ERR_DMABUF_UNSUPPORTED",
                    "this runtime does not allow external ArrayBuffers (e.g. Electron's V8 sandbox); use mapRead()");
  }
  NAPI_THROW_IF_FAILED(env, status, Napi::Value());
  r->refs++;
  NAPI_THROW_IF_FAILED(env, napi_create_reference(env, ab, 0, &r->buffer), Napi::Value());
  return Napi::Value(env, ab);
}

Napi::Value MapRead(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Region* r = ArgRegion(info, 0);
  uint64_t offset = ArgSize(info, 1, "offset");
  Napi::Uint8Array target = ArgBytes(info, 2, "target");
  if (r->unmapped) ThrowStateError(env, "ERR_INVALID_STATE", "the mapping was unmapped");
  if (!(r->prot & PROT_READ)) ThrowStateError(env, "ERR_INVALID_STATE", "the mapping is not readable (no PROT_READ)");
  size_t n = target.ByteLength();
  if (offset > r->length || n > r->length - offset) {
    // offset + target.byteLength must fit the mapping
    int64_t last = static_cast<int64_t>(r->length) - static_cast<int64_t>(n);
    ThrowOutOfRange(env, "offset", ">= 0 && <= " + std::to_string(last), Arg(info, 1));
  }
  if (n) memmove(target.Data(), static_cast<uint8_t*>(r->addr) + offset, n);
  return env.Undefined();
}

Napi::Value Munmap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Region* r = ArgRegion(info, 0);
  if (r->unmapped) return env.Undefined();
  DetachBuffer(r);  // first: no view may outlive the pages
  int err = Unmap(r, true);
  if (err) ThrowErrno(env, err, "munmap");
  return env.Undefined();
}

Napi::Value IsMapped(const Napi::CallbackInfo& info) {
  Region* r = ArgRegion(info, 0);
  return Napi::Boolean::New(info.Env(), !r->unmapped);
}

// ---- the hot path (fast.h) ----------------------------------------------------------------------

// A handle made by this addon: the Region it wraps, or nullptr.
Region* RegionOf(napi_env env, napi_value v) {
  napi_valuetype type = napi_undefined;
  bool tagged = false;
  void* p = nullptr;
  if (napi_typeof(env, v, &type) != napi_ok || type != napi_object) return nullptr;
  if (napi_check_object_type_tag(env, v, &kRegionTag, &tagged) != napi_ok || !tagged) return nullptr;
  if (napi_unwrap(env, v, &p) != napi_ok) return nullptr;
  return static_cast<Region*>(p);
}

napi_value MmapCheckedFast(napi_env env, napi_callback_info cbinfo) {
  fast::Args<8> a;
  int fd = 0;
  IdWords want{};
  uint64_t length = 0, offset = 0;
  int32_t prot = 0, flags = 0;
  if (!fast::GetArgs(env, cbinfo, &a) || a.count < 8 || !fast::FdAndId(env, a, 0, &fd, &want) ||
      !fast::Size(env, a.v[4], &length) || !fast::I32(env, a.v[5], &prot) || !fast::I32(env, a.v[6], &flags) ||
      !fast::Size(env, a.v[7], &offset) || (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE))) {
    return fast::Checked(env, cbinfo, MmapChecked);
  }
  struct stat st {};
  if (fast::Compare(fd, want, &st) != 0) return fast::Null(env);
  return fast::Rethrowing(env, [&] {
    return static_cast<napi_value>(MapAndWrap(Napi::Env(env), fd, &st, length, prot, flags, offset));
  });
}

napi_value MunmapFast(napi_env env, napi_callback_info cbinfo) {
  fast::Args<1> a;
  Region* r = nullptr;
  if (!fast::GetArgs(env, cbinfo, &a) || a.count < 1 || (r = RegionOf(env, a.v[0])) == nullptr) {
    return fast::Checked(env, cbinfo, Munmap);
  }
  if (r->unmapped) return nullptr;
  DetachBuffer(r);  // first: no view may outlive the pages
  int err = Unmap(r, true);
  if (err) return fast::ThrowSystem(env, err, "munmap");
  return nullptr;
}

// isMapHandle(v): whether v is a handle this addon made (the backend's argument check; never throws).
napi_value IsMapHandle(napi_env env, napi_callback_info cbinfo) {
  fast::Args<1> a;
  napi_value out = nullptr;
  const bool ours = fast::GetArgs(env, cbinfo, &a) && a.count >= 1 && RegionOf(env, a.v[0]) != nullptr;
  napi_get_boolean(env, ours, &out);
  return out;
}

}  // namespace

void UnmapAllRegions(InstanceData* data) {
  auto registry = data->registry;
  registry->tearingDown = true;
  std::vector<Region*> regions;
  for (Region* r = registry->first; r; r = r->next) regions.push_back(r);
  for (Region* r : regions) {
    r->refs++;  // keep r alive even if detaching runs its buffer finalizer synchronously
    if (!r->unmapped) {
      Napi::HandleScope scope(r->env);
      DetachBuffer(r);
      Unmap(r, false);
    }
    Release(r);
  }
  // Regions themselves are freed by their finalizers (which may still run during teardown).
}

namespace {

const Export kExports[] = {
    {"mmap", Mmap},
    {"mapBuffer", MapBuffer},
    {"mapRead", MapRead},
    {"isMapped", IsMapped},
};

}  // namespace

const fast::RawExport kFast[] = {
    {"mmapChecked", MmapCheckedFast},
    {"munmap", MunmapFast},
    {"isMapHandle", IsMapHandle},
};

void InitMapping(Napi::Env env, Napi::Object exports) {
  Register(env, exports, kExports);
  fast::RegisterRaw(env, exports, kFast);
}

}  // namespace dmabuf
