/**
 * Safety net for owned fds: an object dropped without close() has its fd closed by a finalizer, with
 * a process warning (it is a bug in the caller, not the plan). Workers: the native addon also closes
 * every fd it handed out when the worker's environment is torn down.
 */
import type { Backend, Fd } from './backend/types';
import { closedError, systemError } from './errors';

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

/** EBADF for an owned fd that was closed outside the library (and maybe reused). */
export function staleFdError(kind: string, fd: Fd): Error {
  return systemError(9, 'fstat', undefined, `fd ${fd} no longer refers to this ${kind}: it was closed outside the library`);
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
 * One owned fd: closed exactly once (close() is idempotent, dispose never throws), never through a
 * number that was closed and reused behind the library's back, and closed by a finalizer with a
 * warning if the object is dropped. `fd` checks both before handing the number out.
 */
export abstract class OwnedFd implements Disposable {
  readonly #fd: Fd;
  readonly #id: FdIdentity;
  readonly #kind: string;
  #closed = false;
  /** @internal */
  protected readonly backend: Backend;

  /** Takes ownership of fd (closed again if it cannot be identified). `kind` names it in errors. */
  protected constructor(backend: Backend, fd: Fd, kind: string) {
    this.backend = backend;
    this.#fd = fd;
    this.#kind = kind;
    try {
      this.#id = identify(backend, fd);
    } catch (e) {
      backend.close(fd);
      throw e;
    }
    trackOwned(this, backend, fd, kind, this.#id);
  }

  /** The fd number (owned: do not close it yourself). */
  get fd(): Fd {
    if (this.#closed) throw closedError(this.#kind);
    if (!sameFile(this.backend, this.#fd, this.#id)) {
      this.#closed = true;
      untrackOwned(this);
      throw staleFdError(this.#kind, this.#fd);
    }
    return this.#fd;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    untrackOwned(this);
    if (sameFile(this.backend, this.#fd, this.#id)) this.backend.close(this.#fd);
  }

  [Symbol.dispose](): void {
    try {
      this.close();
    } catch {
      /* dispose never throws */
    }
  }
}
