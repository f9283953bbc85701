/**
 * Safety net for owned fds: an object dropped without close() has its fd closed by a finalizer, with
 * a process warning (it is a bug in the caller, not the plan). Workers: the native addon also closes
 * every fd it handed out when the worker's environment is torn down.
 */
import type { Backend, Fd } from './backend/types';

interface Held {
  backend: Backend;
  fd: Fd;
  kind: string;
}

const registry = new FinalizationRegistry<Held>((held) => {
  try {
    held.backend.close(held.fd);
  } catch {
    /* already gone (e.g. environment teardown) */
  }
  process.emitWarning(`a ${held.kind} (fd ${held.fd}) was garbage-collected without close(); its fd was closed`, {
    code: 'DMABUF_UNCLOSED',
    detail: 'Call close() (or use `using`) when done with dma-buf objects.',
  });
});

export function trackOwned(owner: object, backend: Backend, fd: Fd, kind: string): void {
  registry.register(owner, { backend, fd, kind }, owner);
}

export function untrackOwned(owner: object): void {
  registry.unregister(owner);
}
