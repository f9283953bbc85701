// Owning file descriptors. UniqueFd, after libcamera's UniqueFD: closes exactly once (in the
// destructor or reset()), can give up ownership with release(), move-only. DupCloexec() makes one.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <utility>

namespace dmabuf {

class UniqueFd {
 public:
  UniqueFd() noexcept = default;
  explicit UniqueFd(int fd) noexcept : fd_(fd) {}
  ~UniqueFd() { reset(); }

  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }

  int get() const noexcept { return fd_; }
  bool isValid() const noexcept { return fd_ >= 0; }
  explicit operator bool() const noexcept { return isValid(); }

  // Gives up ownership without closing; the caller now owns the fd.
  [[nodiscard]] int release() noexcept { return std::exchange(fd_, -1); }

  // Closes the owned fd (if any) and takes ownership of fd. Linux closes the fd even when close()
  // reports EINTR, so close() is never retried.
  void reset(int fd = -1) noexcept {
    int old = std::exchange(fd_, fd);
    if (old >= 0) ::close(old);
  }

 private:
  int fd_ = -1;
};

// A close-on-exec duplicate of fd (F_DUPFD_CLOEXEC); not valid, with errno set, if the dup failed.
inline UniqueFd DupCloexec(int fd) {
  return UniqueFd(fcntl(fd, F_DUPFD_CLOEXEC, 0));
}

}  // namespace dmabuf
