/**
 * SyncFile: one owned sync_file fd (a set of fences), as exported from a dma-buf or received from
 * another process or driver.
 */
import type { Backend, Fd, SyncFileInfo } from './backend/types';
import { getBackend } from './backend/index';
import { POLLIN } from './constants';
import { I32_MAX, invalidArgType, validateInt, validateObject, validateString, withPath } from './errors';
import { fileTableHint } from './hints';
import { OwnedFd } from './lifecycle';
import { waitReadable, type WaitOptions } from './wait';

export class SyncFile extends OwnedFd {
  /**
   * @internal takes ownership of fd; `last` when fd is the one the backend handed out last (its
   * identity is then read from Backend.lastId instead of fstat).
   */
  constructor(fd: Fd, backend: Backend = getBackend(), last = false) {
    super(backend, fd, 'SyncFile', last ? 'last' : undefined);
  }

  /** Nothing to release through the fd first: close() checks and closes in one call. */
  protected override closeNeedsFd(): boolean {
    return false;
  }

  /** Adopt a sync_file fd. With dup (the default) the caller keeps its own fd. */
  static fromFd(fd: number, options: { dup?: boolean } = {}): SyncFile {
    validateInt(fd, 'fd', 0, I32_MAX);
    validateObject(options, 'options', true);
    const backend = getBackend();
    const own = options.dup === false ? fd : backend.dup(fd);
    try {
      backend.syncFileInfo(own); // verifies it is a sync_file (ENOTTY/EINVAL otherwise)
    } catch (e) {
      if (own !== fd) backend.close(own);
      throw e;
    }
    return new SyncFile(own, backend);
  }

  /** SYNC_IOC_FILE_INFO: status 1 signalled, 0 active, < 0 error; and each fence. */
  info(): SyncFileInfo {
    return this.backend.syncFileInfo(this.fd);
  }

  /** True when every fence has signalled (poll with timeout 0). */
  get signaled(): boolean {
    return (this.backend.poll(this.fd, POLLIN, 0) & POLLIN) !== 0;
  }

  /** Resolves true when signalled, false if `timeout` ms passed first. Waits off the JS thread. */
  wait(options: WaitOptions = {}): Promise<boolean> {
    let fd: Fd;
    try {
      fd = this.fd;
    } catch (e) {
      return Promise.reject(e); // like DmaBuf.idle(): a promise-returning method reports by rejecting
    }
    return waitReadable(this.backend, fd, POLLIN, options);
  }

  /** SYNC_IOC_MERGE: a new sync file that signals when both have. */
  merge(other: SyncFile, name = 'merged'): SyncFile {
    if (!(other instanceof SyncFile)) throw invalidArgType('other', 'an instance of SyncFile', other);
    validateString(name, 'name');
    let fd: Fd;
    try {
      fd = this.backend.syncFileMerge(name, this.fd, other.fd);
    } catch (e) {
      throw withPath(e, undefined, fileTableHint(this.backend, (e as { code?: string }).code));
    }
    return new SyncFile(fd, this.backend);
  }
}
