// pollAsync on the event loop: a wait for fd readiness that the loop's own epoll answers, instead of
// a thread-pool thread blocked in poll(2).
//
// A thread-pool wait costs a thread wake-up to start it and another (uv_async_send) to report it:
// under emulation that was most of a V4L2 dequeue's CPU time. Here the fd (our own dup of it, so a
// close of the caller's number meanwhile changes nothing) is added to the loop with a uv_poll_t and a
// uv_timer_t for the timeout; whichever fires first settles the promise, and both handles are closed.
//
// The answer is poll(2)'s revents, as the thread-pool form gives: when libuv reports readiness or an
// error, one poll(fd, events, 0) reads the exact bits (POLLIN, POLLERR, POLLHUP, ...). A file epoll
// cannot watch (a regular file: EPERM) is refused by uv_poll_init, and the caller falls back to the
// thread pool.
#include <fcntl.h>
#include <napi.h>
#include <poll.h>
#include <uv.h>

#include <memory>
#include <set>

#include "addon.h"
#include "fd.h"

namespace dmabuf {

namespace {

struct LoopWait;

// The waits of one environment; shared with every wait so a close callback that runs late during
// teardown still finds it.
struct LoopWaits {
  std::set<LoopWait*> pending;
  bool tearingDown = false;
};

struct LoopWait {
  uv_poll_t poll{};
  uv_timer_t timer{};
  napi_env env = nullptr;
  napi_deferred deferred = nullptr;
  UniqueFd fd;
  short events = 0;
  int open = 0;  // handles not closed yet
  bool settled = false;
  std::shared_ptr<LoopWaits> waits;
};

void Closed(uv_handle_t* h) {
  auto* w = static_cast<LoopWait*>(h->data);
  if (--w->open > 0) return;
  w->waits->pending.erase(w);
  delete w;  // closes our dup of the fd
}

// Stops and closes both handles, and closes our dup of the fd now: when the promise settles no fd of
// the wait is left open. uv_close() of a poll handle stops it and takes the fd out of the loop's epoll
// before it returns (uv__poll_stop), and libuv does not touch the fd again.
void CloseHandles(LoopWait* w) {
  uv_timer_stop(&w->timer);
  uv_close(reinterpret_cast<uv_handle_t*>(&w->poll), Closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&w->timer), Closed);
  w->fd.reset();
}

void Settle(LoopWait* w, int revents) {
  if (w->settled) return;
  w->settled = true;
  if (!w->waits->tearingDown) {
    napi_handle_scope scope = nullptr;
    napi_open_handle_scope(w->env, &scope);
    napi_value v = nullptr;
    napi_create_int32(w->env, revents, &v);
    napi_resolve_deferred(w->env, w->deferred, v);
    napi_close_handle_scope(w->env, scope);
  }
  CloseHandles(w);
}

// poll(fd, events, 0): the exact revents (libuv folds POLLERR into a status, POLLHUP into
// UV_DISCONNECT), 0 when nothing is ready, POLLERR when poll itself fails.
int Revents(const LoopWait* w) {
  struct pollfd p {w->fd.get(), w->events, 0};
  int r;
  do {
    r = ::poll(&p, 1, 0);
  } while (r < 0 && errno == EINTR);
  return r < 0 ? POLLERR : r == 0 ? 0 : p.revents;
}

void OnPoll(uv_poll_t* h, int, int) {
  auto* w = static_cast<LoopWait*>(h->data);
  int revents = Revents(w);
  if (revents == 0) return;  // spurious: keep waiting
  Settle(w, revents);
}

// The timeout: what is ready now (libuv runs due timers before it polls, so a timeout of 0, or one
// that ends as the fd becomes ready, must still see the fd's state), else 0.
void OnTimer(uv_timer_t* h) {
  auto* w = static_cast<LoopWait*>(h->data);
  Settle(w, Revents(w));
}

}  // namespace

// Starts the wait; false (and fd left with the caller) when the loop cannot watch this fd.
bool LoopPoll(Napi::Env env, UniqueFd& fd, short events, int timeoutMs, napi_value* promise) {
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) return false;
  const int uvEvents = ((events & POLLIN) ? UV_READABLE : 0) | ((events & POLLOUT) ? UV_WRITABLE : 0) |
                       ((events & POLLPRI) ? UV_PRIORITIZED : 0);
  if (uvEvents == 0) return false;  // only POLLERR/POLLHUP asked: poll(2) on the pool reports those
  InstanceData* data = Data(env);
  if (!data->loopWaits) data->loopWaits = std::make_shared<LoopWaits>();
  auto w = std::make_unique<LoopWait>();
  // uv_poll_init makes the fd non-blocking, and O_NONBLOCK belongs to the open file, which the caller's
  // fd shares with our dup: put back what the caller had (a poll handle never reads or writes the fd)
  const int flags = fcntl(fd.get(), F_GETFL);
  if (uv_poll_init(loop, &w->poll, fd.get()) != 0) return false;  // e.g. a regular file (EPERM)
  if (flags >= 0 && !(flags & O_NONBLOCK)) fcntl(fd.get(), F_SETFL, flags);
  w->poll.data = w.get();
  w->open = 1;
  uv_timer_init(loop, &w->timer);
  w->timer.data = w.get();
  w->open = 2;
  w->env = env;
  w->events = events;
  w->waits = std::static_pointer_cast<LoopWaits>(data->loopWaits);
  w->fd = std::move(fd);
  LoopWait* raw = w.release();  // owned by the handles' close callbacks from here on
  raw->waits->pending.insert(raw);
  if (napi_create_promise(env, &raw->deferred, promise) != napi_ok ||
      uv_poll_start(&raw->poll, uvEvents, OnPoll) != 0) {
    raw->settled = true;
    CloseHandles(raw);
    NAPI_THROW_IF_FAILED(env, napi_generic_failure, false);
  }
  uv_update_time(loop);  // the loop's cached time may be stale: the timeout counts from now
  if (timeoutMs >= 0) uv_timer_start(&raw->timer, OnTimer, static_cast<uint64_t>(timeoutMs), 0);
  return true;
}

// Env teardown: no promise is settled any more, every handle is closed.
void CancelLoopPolls(InstanceData* data) {
  if (!data->loopWaits) return;
  auto waits = std::static_pointer_cast<LoopWaits>(data->loopWaits);
  waits->tearingDown = true;
  std::set<LoopWait*> all = waits->pending;
  for (LoopWait* w : all) {
    if (!w->settled) {
      w->settled = true;
      CloseHandles(w);
    }
  }
}

}  // namespace dmabuf
