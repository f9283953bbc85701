// Plain file-descriptor syscalls (open/close/dup/stat/read/write/...), memfd, poll, SCM_RIGHTS fd
// passing, and the per-environment record of every fd handed to JS.
#include "fd.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <string>
#include <vector>

#include "addon.h"
#include "fast.h"
#include "promise_worker.h"

namespace dmabuf {

// loop_poll.cc: starts a pollAsync on the event loop, taking fd; false (fd left) when the loop cannot
// watch it.
bool LoopPoll(Napi::Env env, UniqueFd& fd, short events, int timeoutMs, napi_value* promise);

// ---- tracking ------------------------------------------------------------------------------------

IdWords WordsOf(dev_t dev, ino_t ino) {
  const uint64_t d = static_cast<uint64_t>(dev);
  const uint64_t i = static_cast<uint64_t>(ino);
  // st_dev fits in 32 bits on Linux (new_encode_dev); fold a wider one rather than drop bits
  return IdWords{static_cast<uint32_t>(d ^ (d >> 32)), static_cast<uint32_t>(i >> 32), static_cast<uint32_t>(i)};
}

void TrackNewFd(InstanceData* data, int fd) {
  struct stat st {};
  FdIdentity id;
  if (fstat(fd, &st) == 0) {
    id.dev = st.st_dev;
    id.ino = st.st_ino;
  }
  id.tracked = true;
  if (static_cast<size_t>(fd) >= data->fds.size()) data->fds.resize(static_cast<size_t>(fd) + 64);
  if (!data->fds[fd].tracked) data->trackedCount++;
  data->fds[fd] = id;
  if (data->lastId) {
    IdWords w = WordsOf(id.dev, id.ino);
    data->lastId[0] = w.dev;
    data->lastId[1] = w.inoHi;
    data->lastId[2] = w.inoLo;
  }
}

Napi::Number TrackFd(Napi::Env env, int fd) {
  TrackNewFd(Data(env), fd);
  return Napi::Number::New(env, fd);
}

void UntrackFd(InstanceData* data, int fd) {
  if (fd >= 0 && static_cast<size_t>(fd) < data->fds.size() && data->fds[fd].tracked) {
    data->fds[fd].tracked = false;
    data->trackedCount--;
  }
}

void UntrackFd(Napi::Env env, int fd) {
  UntrackFd(Data(env), fd);
}

void CloseTrackedFds(InstanceData* data) {
  for (size_t fd = 0; fd < data->fds.size(); fd++) {
    const FdIdentity& id = data->fds[fd];
    if (!id.tracked) continue;
    struct stat st {};
    // Close only if the number still names the file we handed out.
    if (fstat(static_cast<int>(fd), &st) == 0 && st.st_dev == id.dev && st.st_ino == id.ino) ::close(static_cast<int>(fd));
  }
  data->fds.clear();
  data->trackedCount = 0;
}

namespace {

Napi::Object StatObject(Napi::Env env, const struct stat& st) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("ino", Napi::BigInt::New(env, static_cast<uint64_t>(st.st_ino)));
  o.Set("dev", Napi::BigInt::New(env, static_cast<uint64_t>(st.st_dev)));
  o.Set("rdev", Napi::BigInt::New(env, static_cast<uint64_t>(st.st_rdev)));
  o.Set("mode", Napi::Number::New(env, st.st_mode));
  o.Set("size", Napi::Number::New(env, static_cast<double>(st.st_size)));
  o.Set("uid", Napi::Number::New(env, st.st_uid));
  o.Set("gid", Napi::Number::New(env, st.st_gid));
  return o;
}

// A Uint8Array of exactly n bytes copied from buf.
Napi::Uint8Array BytesFrom(Napi::Env env, const void* buf, size_t n) {
  Napi::Uint8Array out = Napi::Uint8Array::New(env, n);
  if (n) memcpy(out.Data(), buf, n);
  return out;
}

// ---- files -------------------------------------------------------------------------------------------

Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = ArgString(info, 0, "path");
  int flags = ArgI32(info, 1, "flags");
  int fd = ::open(path.c_str(), flags | O_CLOEXEC, 0666);  // close-on-exec whatever JS passes
  if (fd < 0) ThrowErrno(env, errno, "open", path.c_str());
  return TrackFd(env, fd);
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  // Linux releases the descriptor even when close() fails (EINTR, EIO): untrack either way.
  int r = ::close(fd);
  int err = errno;
  UntrackFd(env, fd);
  if (r < 0) ThrowErrno(env, err, "close");
  return env.Undefined();
}

Napi::Value Dup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  UniqueFd dup = DupCloexec(fd);
  if (!dup) ThrowErrno(env, errno, "dup");
  return TrackFd(env, dup.release());
}

Napi::Value Fstat(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  struct stat st {};
  if (fstat(fd, &st) < 0) ThrowErrno(env, errno, "fstat");
  return StatObject(env, st);
}

Napi::Value Stat(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = ArgString(info, 0, "path");
  struct stat st {};
  if (stat(path.c_str(), &st) < 0) ThrowErrno(env, errno, "stat", path.c_str());
  return StatObject(env, st);
}

Napi::Value Lseek(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  int64_t offset = ArgInt64(info, 1, "offset");
  int whence = ArgI32(info, 2, "whence");
  off_t r = lseek(fd, static_cast<off_t>(offset), whence);
  if (r < 0) ThrowErrno(env, errno, "lseek");
  return Napi::Number::New(env, static_cast<double>(r));
}

Napi::Value GetFlags(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  int r = fcntl(fd, F_GETFL);
  if (r < 0) ThrowErrno(env, errno, "fcntl(F_GETFL)");
  return Napi::Number::New(env, r);
}

Napi::Value Read(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  uint64_t length = ArgSize(info, 1, "length");
  // Not zero-filled (std::vector would touch every page of `length`, up to 1 GiB for a 4 KiB file):
  // only the pages read(2) writes become resident.
  std::unique_ptr<uint8_t[]> buf(new (std::nothrow) uint8_t[length ? length : 1]);
  if (!buf) ThrowErrno(env, ENOMEM, "read");
  ssize_t n = ::read(fd, buf.get(), length);
  if (n < 0) ThrowErrno(env, errno, "read");
  return BytesFrom(env, buf.get(), static_cast<size_t>(n));
}

Napi::Value Write(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  Napi::Uint8Array data = ArgBytes(info, 1, "data");
  bool positioned = info.Length() > 2 && !info[2].IsUndefined();
  int64_t position = positioned ? static_cast<int64_t>(ArgSize(info, 2, "position")) : 0;
  ssize_t n = positioned ? ::pwrite(fd, data.Data(), data.ByteLength(), static_cast<off_t>(position))
                         : ::write(fd, data.Data(), data.ByteLength());
  if (n < 0) ThrowErrno(env, errno, "write");
  return Napi::Number::New(env, static_cast<double>(n));
}

Napi::Value Pread(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  uint64_t length = ArgSize(info, 1, "length");
  uint64_t position = ArgSize(info, 2, "position");
  std::unique_ptr<uint8_t[]> buf(new (std::nothrow) uint8_t[length ? length : 1]);  // see Read()
  if (!buf) ThrowErrno(env, ENOMEM, "pread");
  ssize_t n = ::pread(fd, buf.get(), length, static_cast<off_t>(position));
  if (n < 0) ThrowErrno(env, errno, "pread");
  return BytesFrom(env, buf.get(), static_cast<size_t>(n));
}

// A whole small text file: procfs/sysfs report st_size 0, so read until EOF, bounded. 0, or the
// errno with *syscall ("open" or "read").
int ReadWholeFile(const char* path, std::string* text, const char** syscall) {
  UniqueFd fd(::open(path, O_RDONLY | O_CLOEXEC));  // close-on-exec
  if (!fd) return *syscall = "open", errno;
  constexpr size_t kMax = 1 << 20;
  char chunk[4096];
  while (text->size() < kMax) {
    ssize_t n = ::read(fd.get(), chunk, std::min(sizeof chunk, kMax - text->size()));
    if (n < 0) {
      if (errno == EINTR) continue;
      return *syscall = "read", errno;
    }
    if (n == 0) break;
    text->append(chunk, static_cast<size_t>(n));
  }
  return 0;
}

Napi::Value ReadTextFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = ArgString(info, 0, "path");
  std::string text;
  const char* syscall = nullptr;
  if (int err = ReadWholeFile(path.c_str(), &text, &syscall)) ThrowErrno(env, err, syscall, path.c_str());
  return Napi::String::New(env, text);
}

// /proc/self/fdinfo/<fd> of an owned fd, after checking with one fstat in the same call that the number
// still names the file with these identity words (hot.cc's): *ours false and nothing read when it does
// not or the number is free. 0, or ReadWholeFile's errno.
int ReadFdinfo(int fd, const IdWords& want, std::string* text, bool* ours, const char** syscall,
               char (&path)[48]) {
  *ours = fast::Compare(fd, want) == 0;
  if (!*ours) return 0;
  snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
  return ReadWholeFile(path, text, syscall);
}

Napi::Value FdinfoChecked(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  IdWords want = ArgIdWords(info);
  std::string text;
  bool ours = false;
  const char* syscall = nullptr;
  char path[48];
  if (int err = ReadFdinfo(fd, want, &text, &ours, &syscall, path)) ThrowErrno(env, err, syscall, path);
  if (!ours) return env.Null();
  return Napi::String::New(env, text);
}

napi_value FdinfoCheckedFast(napi_env env, napi_callback_info cbinfo) {
  fast::Args<4> a;
  int fd = 0;
  IdWords want{};
  if (!fast::GetArgs(env, cbinfo, &a) || !fast::FdAndId(env, a, 0, &fd, &want)) {
    return fast::Checked(env, cbinfo, FdinfoChecked);
  }
  std::string text;
  bool ours = false;
  const char* syscall = nullptr;
  char path[48];
  if (int err = ReadFdinfo(fd, want, &text, &ours, &syscall, path)) return fast::ThrowSystem(env, err, syscall, path);
  if (!ours) return fast::Null(env);
  napi_value out = nullptr;
  napi_create_string_utf8(env, text.data(), text.size(), &out);
  return out;
}

Napi::Value Readdir(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = ArgString(info, 0, "path");
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));  // close-on-exec
  if (!fd) ThrowErrno(env, errno, "opendir", path.c_str());
  std::unique_ptr<DIR, int (*)(DIR*)> dir(fdopendir(fd.get()), closedir);
  if (!dir) ThrowErrno(env, errno, "opendir", path.c_str());
  (void)fd.release();  // owned by dir now
  std::vector<std::string> names;
  for (;;) {
    errno = 0;
    struct dirent* e = ::readdir(dir.get());
    if (!e) {
      if (errno != 0) ThrowErrno(env, errno, "readdir", path.c_str());
      break;
    }
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    names.emplace_back(e->d_name);
  }
  std::sort(names.begin(), names.end());
  Napi::Array out = Napi::Array::New(env, names.size());
  for (size_t i = 0; i < names.size(); i++) out.Set(static_cast<uint32_t>(i), names[i]);
  return out;
}

Napi::Value Readlink(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = ArgString(info, 0, "path");
  std::vector<char> buf(256);
  for (;;) {
    ssize_t n = ::readlink(path.c_str(), buf.data(), buf.size());
    if (n < 0) ThrowErrno(env, errno, "readlink", path.c_str());
    if (static_cast<size_t>(n) < buf.size()) return Napi::String::New(env, buf.data(), static_cast<size_t>(n));
    if (buf.size() >= (1u << 20)) return Napi::String::New(env, buf.data(), buf.size());
    buf.resize(buf.size() * 4);
  }
}

Napi::Value Access(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = ArgString(info, 0, "path");
  int mode = ArgI32(info, 1, "mode");
  return Napi::Boolean::New(env, ::access(path.c_str(), mode) == 0);
}

// ---- memfd ---------------------------------------------------------------------------------------

Napi::Value MemfdCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = ArgString(info, 0, "name");
  uint32_t flags = ArgU32(info, 1, "flags");
  int fd = memfd_create(name.c_str(), flags | MFD_CLOEXEC);  // close-on-exec whatever JS passes
  if (fd < 0) ThrowErrno(env, errno, "memfd_create");
  return TrackFd(env, fd);
}

Napi::Value Ftruncate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  uint64_t size = ArgSize(info, 1, "size");
  if (::ftruncate(fd, static_cast<off_t>(size)) < 0) ThrowErrno(env, errno, "ftruncate");
  return env.Undefined();
}

Napi::Value AddSeals(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  int seals = ArgI32(info, 1, "seals");
  if (fcntl(fd, F_ADD_SEALS, seals) < 0) ThrowErrno(env, errno, "fcntl(F_ADD_SEALS)");
  return env.Undefined();
}

Napi::Value GetSeals(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  int r = fcntl(fd, F_GET_SEALS);
  if (r < 0) ThrowErrno(env, errno, "fcntl(F_GET_SEALS)");
  return Napi::Number::New(env, r);
}

// ---- poll ----------------------------------------------------------------------------------------

int64_t NowMs() {
  struct timespec ts {};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// poll(2) on one fd; EINTR retried with the remaining timeout. Returns revents, or -errno.
int PollOne(int fd, short events, int timeoutMs) {
  const int64_t deadline = timeoutMs >= 0 ? NowMs() + timeoutMs : -1;
  int remaining = timeoutMs;
  for (;;) {
    struct pollfd p {fd, events, 0};
    int r = ::poll(&p, 1, remaining);
    if (r >= 0) return r == 0 ? 0 : p.revents;
    if (errno != EINTR) return -errno;
    if (deadline >= 0) remaining = static_cast<int>(std::max<int64_t>(0, deadline - NowMs()));
  }
}

Napi::Value Poll(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  int events = ArgI32(info, 1, "events");
  int timeout = ArgI32(info, 2, "timeoutMs");
  int r = PollOne(fd, static_cast<short>(events), timeout < 0 ? -1 : timeout);
  if (r < 0) ThrowErrno(env, -r, "poll");
  return Napi::Number::New(env, r);
}

class PollWorker : public PromiseWorker {
 public:
  PollWorker(Napi::Env env, UniqueFd fd, short events, int timeout)
      : PromiseWorker(env, "dmabuf:poll"), fd_(std::move(fd)), events_(events), timeout_(timeout) {}

 protected:
  void Execute() override {
    int r = PollOne(fd_.get(), events_, timeout_);
    if (r < 0) {
      errno_ = -r;
      syscall_ = "poll";
    } else {
      revents_ = r;
    }
  }
  Napi::Value Result(Napi::Env env) override { return Napi::Number::New(env, revents_); }

 private:
  UniqueFd fd_;  // our own dup: closing the caller's fd meanwhile cannot redirect the poll
  short events_;
  int timeout_;
  int revents_ = 0;
};

Napi::Value PollAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  int events = ArgI32(info, 1, "events");
  int timeout = ArgI32(info, 2, "timeoutMs");
  UniqueFd dup = DupCloexec(fd);
  if (!dup && errno == EBADF) {
    // poll(2) reports a closed fd as POLLNVAL, not as an error: answer the same.
    auto d = Napi::Promise::Deferred::New(env);
    d.Resolve(Napi::Number::New(env, POLLNVAL));
    return d.Promise();
  }
  if (dup) {
    // on the event loop when it can watch the fd (loop_poll.cc); the thread pool otherwise
    napi_value promise = nullptr;
    if (LoopPoll(env, dup, static_cast<short>(events), timeout < 0 ? -1 : timeout, &promise)) return Napi::Value(env, promise);
  }
  int err = dup ? 0 : errno;  // e.g. EMFILE
  return QueueOrReject(new PollWorker(env, std::move(dup), static_cast<short>(events), timeout < 0 ? -1 : timeout),
                       err, "dup");
}

// ---- SCM_RIGHTS ------------------------------------------------------------------------------------

Napi::Value SendFds(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int sock = ArgFd(info, 0, "socket");
  Napi::Uint8Array data = ArgBytes(info, 1, "data");
  if (!Arg(info, 2).IsArray()) ThrowInvalidArgType(env, "fds", "an instance of Array", Arg(info, 2));
  Napi::Array arr = info[2].As<Napi::Array>();
  std::vector<int> fds(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); i++) fds[i] = ValueFd(env, arr.Get(i), "fds[" + std::to_string(i) + "]");

  struct iovec iov {data.Data(), data.ByteLength()};
  struct msghdr msg {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  std::vector<uint64_t> control;  // uint64_t: cmsghdr alignment
  if (!fds.empty()) {
    size_t space = CMSG_SPACE(fds.size() * sizeof(int));
    control.assign((space + 7) / 8, 0);
    msg.msg_control = control.data();
    msg.msg_controllen = space;
    struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(fds.size() * sizeof(int));
    memcpy(CMSG_DATA(c), fds.data(), fds.size() * sizeof(int));
  }
  ssize_t n = sendmsg(sock, &msg, MSG_NOSIGNAL);
  if (n < 0) ThrowErrno(env, errno, "sendmsg");
  return Napi::Number::New(env, static_cast<double>(n));
}

Napi::Value RecvFds(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int sock = ArgFd(info, 0, "socket");
  uint64_t maxData = ArgSize(info, 1, "maxData");
  auto maxFds = static_cast<uint32_t>(CheckedNumber(env, Arg(info, 2), "maxFds", 0, 65536));  // bounds the buffer
  std::vector<uint8_t> buf(maxData);
  struct iovec iov {buf.data(), buf.size()};
  struct msghdr msg {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  std::vector<uint64_t> control;
  if (maxFds > 0) {
    size_t space = CMSG_SPACE(maxFds * sizeof(int));
    control.assign((space + 7) / 8, 0);
    msg.msg_control = control.data();
    msg.msg_controllen = space;
  }
  ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);  // close-on-exec for every fd received
  if (n < 0) ThrowErrno(env, errno, "recvmsg");
  // Take ownership of every received fd first, so nothing leaks if building the result throws.
  std::vector<UniqueFd> received;
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; i++) {
      int fd;
      memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      received.emplace_back(fd);
    }
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("data", BytesFrom(env, buf.data(), static_cast<size_t>(n)));
  Napi::Array fds = Napi::Array::New(env, received.size());
  for (size_t i = 0; i < received.size(); i++) fds.Set(static_cast<uint32_t>(i), Napi::Number::New(env, received[i].get()));
  out.Set("fds", fds);
  for (auto& fd : received) TrackFd(env, fd.release());
  return out;
}

// ---- tracking API --------------------------------------------------------------------------------

Napi::Value FdRelease(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0, "fd");
  InstanceData* data = Data(env);
  const bool was = static_cast<size_t>(fd) < data->fds.size() && data->fds[fd].tracked;
  UntrackFd(data, fd);
  return Napi::Boolean::New(env, was);
}

Napi::Value TrackedFds(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const InstanceData* data = Data(env);
  Napi::Array out = Napi::Array::New(env, data->trackedCount);
  uint32_t i = 0;
  for (size_t fd = 0; fd < data->fds.size(); fd++) {
    if (data->fds[fd].tracked) out.Set(i++, Napi::Number::New(env, static_cast<double>(fd)));
  }
  return out;
}

const Export kExports[] = {
    {"open", Open},
    {"close", Close},
    {"dup", Dup},
    {"fstat", Fstat},
    {"stat", Stat},
    {"lseek", Lseek},
    {"getFlags", GetFlags},
    {"read", Read},
    {"write", Write},
    {"pread", Pread},
    {"readTextFile", ReadTextFile},
    {"readdir", Readdir},
    {"readlink", Readlink},
    {"access", Access},
    {"memfdCreate", MemfdCreate},
    {"ftruncate", Ftruncate},
    {"addSeals", AddSeals},
    {"getSeals", GetSeals},
    {"poll", Poll},
    {"pollAsync", PollAsync},
    {"sendFds", SendFds},
    {"recvFds", RecvFds},
    {"fdRelease", FdRelease},
    {"trackedFds", TrackedFds},
};

}  // namespace

const fast::RawExport kFast[] = {
    {"fdinfoChecked", FdinfoCheckedFast},
};

void InitFd(Napi::Env env, Napi::Object exports) {
  Register(env, exports, kExports);
  fast::RegisterRaw(env, exports, kFast);
}

}  // namespace dmabuf
