/// <reference types="node" preserve="true" />
/**
 * Safety net for owned fds: an object dropped without close() has its fd closed by a finalizer, with
 * a process warning (it is a bug in the caller, not the plan). Workers: the native addon also closes
 * every fd it handed out when the worker's environment is torn down.
 */
import type { Backend, Fd } from './backend/types';
import { errnoNameOf } from './errno';
import { closedError, dmabufError, systemError, type DmabufError } from './errors';

/**
 * Which file an owned fd refers to, to notice a number closed and reused behind our back: (st_dev,
 * st_ino) as three u32 words (Backend.lastId's layout), so a check compares numbers natively
 * (Backend.fdCheck) and no BigInt is made. Limits: fds of one device node (a DRM card, a heap)
 * share the node's inode, and every sync_file shares the kernel's one anon inode, so a number reused
 * by another open of the same node, or by another anon-inode file, is not noticed; a reuse by any
 * other file (a memfd, a dma-buf, a regular file) is.
 */
export interface FdIdentity {
  /** st_dev (Linux encodes it in 32 bits; a wider one is folded, its halves xor'ed, as natively). */
  dev: number;
  inoHi: number;
  inoLo: number;
}

/** The identity of fd, from fstat (the slow path: allocators read Backend.lastId instead). */
export function identify(backend: Backend, fd: Fd): FdIdentity {
  const st = backend.fstat(fd);
  return {
    dev: Number((st.dev ^ (st.dev >> 32n)) & 0xffffffffn),
    inoHi: Number((st.ino >> 32n) & 0xffffffffn),
    inoLo: Number(st.ino & 0xffffffffn),
  };
}

/** st_ino of an identity, as the BigInt fstat gives. */
export function inodeOf(id: FdIdentity): bigint {
  // one BigInt for the common inode below 2^32
  return id.inoHi === 0 ? BigInt(id.inoLo) : (BigInt(id.inoHi) << 32n) | BigInt(id.inoLo);
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

/** What the finalizer needs of a dropped owner: one object per owner, also its identity. */
interface Held extends FdIdentity {
  backend: Backend;
  fd: Fd;
  kind: string;
  /**
   * Still owned: cleared by close(), detach() and a stale check. The registration is never taken back
   * (FinalizationRegistry.prototype.unregister is a runtime call that costs more than the fd's own
   * close): the finalizer of an object that is no longer live does nothing.
   */
  live: boolean;
}

const registry = new FinalizationRegistry<Held>((held) => {
  if (!held.live) return;
  held.live = false;
  try {
    held.backend.unchecked.closeChecked(held.fd, held.dev, held.inoHi, held.inoLo);
  } catch {
    /* already gone (e.g. environment teardown) */
  }
  process.emitWarning(`a ${held.kind} (fd ${held.fd}) was garbage-collected without close(); its fd was closed`, {
    code: 'DMABUF_UNCLOSED',
    detail: 'Call close() (or use `using`) when done with dma-buf objects.',
  });
});

/**
 * The base of everything that owns an fd (DmaBuf, drm.Device, Heap, Memfd, SyncFile): the fd is
 * closed exactly once (close() is idempotent, dispose never throws), never through a number that was
 * closed and reused behind the library's back (every use checks st_dev/st_ino first), and closed by
 * a finalizer with a warning if the object is dropped.
 */
export abstract class OwnedFd extends Closeable {
  /** fd, kind and identity in one object: the finalizer's held value too. */
  readonly #held: Held;
  #closed = false;
  /** @internal the backend the fd lives in */
  readonly backend: Backend;

  /**
   * Takes ownership of fd (closed again if it cannot be identified). `kind` names it in warnings and
   * errors. `id` is the file's identity when it is known (a dup of an owned fd), or 'last' when fd is
   * the last one the backend handed out (Backend.lastId holds its identity: no syscall); otherwise
   * fstat says.
   */
  protected constructor(backend: Backend, fd: Fd, kind: string, id?: FdIdentity | 'last') {
    super();
    this.backend = backend;
    let dev: number, inoHi: number, inoLo: number;
    if (id === 'last') {
      const w = backend.lastId;
      dev = w[0]!;
      inoHi = w[1]!;
      inoLo = w[2]!;
    } else {
      let known: FdIdentity;
      try {
        known = id ?? identify(backend, fd);
      } catch (e) {
        backend.close(fd);
        throw e;
      }
      ({ dev, inoHi, inoLo } = known);
    }
    this.#held = { backend, fd, kind, dev, inoHi, inoLo, live: true };
    registry.register(this, this.#held);
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
    return this.#held.kind;
  }

  /** The file's identity, taken when ownership began. */
  protected get identity(): FdIdentity {
    return this.#held;
  }

  /** The fd without any check: only right after verifiedFd(), or in onClose(). */
  protected get rawFd(): Fd {
    return this.#held.fd;
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
    if (this.#closed) throw closedError(this.label);
    const h = this.#held;
    const r = this.backend.unchecked.fdCheck(h.fd, h.dev, h.inoHi, h.inoLo);
    if (r === 0) return h.fd;
    const name = r > 0 ? errnoNameOf(r) : undefined;
    if (r > 0 && name !== 'EBADF') throw systemError(name ?? r, 'fstat');
    this.#closed = true;
    h.live = false;
    this.onStale();
    throw staleFdError(this.label, h.fd, name === 'EBADF' ? systemError('EBADF', 'fstat') : undefined);
  }

  /** What a subclass drops when its fd turned out stale (the number must not be used). */
  protected onStale(): void {
    /* nothing by default */
  }

  /**
   * Whether onClose() needs the fd (it then runs before the fd is closed, after a check that the
   * number is still ours). When not, close() is one call that checks and closes, and onClose() runs
   * after it. Default: needed.
   */
  protected closeNeedsFd(): boolean {
    return true;
  }

  /**
   * What a subclass releases when closed. `ours` is false when the number no longer refers to this
   * file (then nothing may be done through it).
   */
  protected onClose(ours: boolean): void {
    void ours;
  }

  /** Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const h = this.#held;
    h.live = false;
    const unchecked = this.backend.unchecked;
    if (!this.closeNeedsFd()) {
      let ours = false;
      try {
        ours = unchecked.closeChecked(h.fd, h.dev, h.inoHi, h.inoLo) === 0;
      } finally {
        this.onClose(ours);
      }
      return;
    }
    const ours = unchecked.fdCheck(h.fd, h.dev, h.inoHi, h.inoLo) === 0;
    try {
      this.onClose(ours);
    } finally {
      if (ours) this.backend.close(h.fd);
    }
  }

  /** Give up ownership and return the fd (the caller must close it). */
  protected detach(): Fd {
    const fd = this.verifiedFd();
    this.#closed = true;
    this.#held.live = false;
    return fd;
  }
}
