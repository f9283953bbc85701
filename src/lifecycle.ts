/// <reference types="node" preserve="true" />
/**
 * Safety net for owned fds: an object dropped without close() has its fd closed by a finalizer, with
 * a process warning (it is a bug in the caller, not the plan). Workers: the native addon also closes
 * every fd it handed out when the worker's environment is torn down.
 */
import type { Backend, Fd } from './backend/types';
import { closedError, dmabufError, type DmabufError } from './errors';

/** Which file an owned fd refers to (st_dev, st_ino), to notice a number closed and reused behind our back. */
export interface FdIdentity {
  dev: bigint;
  ino: bigint;
}

export function identify(backend: Backend, fd: Fd): FdIdentity {
  const st = backend.fstat(fd);
  return { dev: st.dev, ino: st.ino };
}

/**
 * True while fd still refers to the same file. Limits: fds of one device node (a DRM card, a heap)
 * share the node's inode, and every sync_file shares the kernel's one anon inode, so a number reused
 * by another open of the same node, or by another anon-inode file, is not noticed; a reuse by any
 * other file (a memfd, a dma-buf, a regular file) is.
 */
export function sameFile(backend: Backend, fd: Fd, id: FdIdentity): boolean {
  try {
    const st = backend.fstat(fd);
    return st.ino === id.ino && st.dev === id.dev;
  } catch {
    return false;
  }
}

/**
 * ERR_DMABUF_STALE_FD: an owned fd was closed outside the library, and maybe reused by another file.
 * `cause` is fstat's EBADF when the number is free.
 */
export function staleFdError(what: string, fd: Fd, cause?: unknown): DmabufError & { fd: Fd } {
  const reused = cause === undefined ? ' and reused by another file' : '';
  return dmabufError('ERR_DMABUF_STALE_FD',
    `fd ${fd} no longer refers to this ${what}: it was closed outside the library${reused}`, { fd, cause });
}

/** Run a close/unmap and swallow what it throws: every [Symbol.dispose] goes through here (dispose never throws). */
export function quietly(release: () => void): void {
  try {
    release();
  } catch {
    /* dispose never throws */
  }
}

/** Something with an idempotent close(); `using` calls it and never throws. */
export abstract class Closeable implements Disposable {
  abstract close(): void;

  [Symbol.dispose](): void {
    quietly(() => this.close());
  }
}

interface Held {
  backend: Backend;
  fd: Fd;
  kind: string;
  id?: FdIdentity;
}

const registry = new FinalizationRegistry<Held>((held) => {
  try {
    if (held.id === undefined || sameFile(held.backend, held.fd, held.id)) held.backend.close(held.fd);
  } catch {
    /* already gone (e.g. environment teardown) */
  }
  process.emitWarning(`a ${held.kind} (fd ${held.fd}) was garbage-collected without close(); its fd was closed`, {
    code: 'DMABUF_UNCLOSED',
    detail: 'Call close() (or use `using`) when done with dma-buf objects.',
  });
});

export function trackOwned(owner: object, backend: Backend, fd: Fd, kind: string, id?: FdIdentity): void {
  registry.register(owner, id ? { backend, fd, kind, id } : { backend, fd, kind }, owner);
}

export function untrackOwned(owner: object): void {
  registry.unregister(owner);
}

/**
 * The base of everything that owns an fd (DmaBuf, drm.Device, Heap, Memfd, SyncFile): the fd is
 * closed exactly once (close() is idempotent, dispose never throws), never through a number that was
 * closed and reused behind the library's back (every use checks st_dev/st_ino first), and closed by
 * a finalizer with a warning if the object is dropped.
 */
export abstract class OwnedFd extends Closeable {
  readonly #fd: Fd;
  readonly #id: FdIdentity;
  readonly #kind: string;
  #closed = false;
  /** @internal the backend the fd lives in */
  readonly backend: Backend;

  /**
   * Takes ownership of fd (closed again if it cannot be identified). `kind` names it in warnings and
   * errors; `id` skips the fstat when the identity is known (a dup of an owned fd).
   */
  protected constructor(backend: Backend, fd: Fd, kind: string, id?: FdIdentity) {
    super();
    this.backend = backend;
    this.#fd = fd;
    this.#kind = kind;
    try {
      this.#id = id ?? identify(backend, fd);
    } catch (e) {
      backend.close(fd);
      throw e;
    }
    trackOwned(this, backend, fd, kind, this.#id);
  }

  /** The fd number (owned: do not close it yourself). Checked to still refer to this file. */
  get fd(): Fd {
    return this.verifiedFd();
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** How closed and stale-fd errors name this object. */
  protected get label(): string {
    return this.#kind;
  }

  /** The file's identity, taken when ownership began. */
  protected get identity(): FdIdentity {
    return this.#id;
  }

  /** The fd without any check: only right after verifiedFd(), or in onClose(). */
  protected get rawFd(): Fd {
    return this.#fd;
  }

  /** ERR_DMABUF_CLOSED after close(). */
  protected checkOpen(): void {
    if (this.#closed) throw closedError(this.label);
  }

  /**
   * The fd, after checking that the number still refers to this file. When it does not, the object
   * becomes closed (without touching the number), onStale() runs, and ERR_DMABUF_STALE_FD is thrown.
   */
  protected verifiedFd(): Fd {
    this.checkOpen();
    let cause: unknown;
    let same = false;
    try {
      const st = this.backend.fstat(this.#fd);
      same = st.ino === this.#id.ino && st.dev === this.#id.dev;
    } catch (e) {
      if ((e as { code?: string }).code !== 'EBADF') throw e;
      cause = e;
    }
    if (!same) {
      this.#closed = true;
      untrackOwned(this);
      this.onStale();
      throw staleFdError(this.label, this.#fd, cause);
    }
    return this.#fd;
  }

  /** What a subclass drops when its fd turned out stale (the number must not be used). */
  protected onStale(): void {
    /* nothing by default */
  }

  /**
   * What a subclass releases when closed, before the fd is closed. `ours` is false when the number no
   * longer refers to this file (then nothing may be done through it).
   */
  protected onClose(ours: boolean): void {
    void ours;
  }

  /** Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    untrackOwned(this);
    const ours = sameFile(this.backend, this.#fd, this.#id);
    try {
      this.onClose(ours);
    } finally {
      if (ours) this.backend.close(this.#fd);
    }
  }

  /** Give up ownership and return the fd (the caller must close it). */
  protected detach(): Fd {
    const fd = this.verifiedFd();
    this.#closed = true;
    untrackOwned(this);
    return fd;
  }
}
