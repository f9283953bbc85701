/**
 * Software fences for tests: a sw_sync timeline (/sys/kernel/debug/sync/sw_sync: CONFIG_SW_SYNC,
 * debugfs, root; built out of tree in the project's VM; modelled by the mock). Not public API.
 */
import { getBackend, SyncFile, constants as C } from '../../src/index';
import type { Backend } from '../../src/index';
import { SW_SYNC } from './index';

export class Timeline implements Disposable {
  readonly #backend: Backend;
  readonly #fd: number;
  #value = 0;

  constructor() {
    this.#backend = getBackend();
    this.#fd = this.#backend.open(SW_SYNC, C.O_RDWR);
  }

  /** A fence that signals when the timeline reaches `point` (default: the next point). */
  fence(point = this.#value + 1, name = 'test'): SyncFile {
    return new SyncFile(this.#backend.swSyncCreateFence(this.#fd, point, name), this.#backend);
  }

  /** Advance the timeline, signalling fences up to the new value. */
  advance(n = 1): void {
    this.#backend.swSyncInc(this.#fd, n);
    this.#value += n;
  }

  [Symbol.dispose](): void {
    this.#backend.close(this.#fd);
  }
}
