/**
 * dma_fence, dma_resv and sync_file for the mock kernel.
 *
 * A fence is signalled by sw_sync (SW_SYNC_IOC_INC), by VGEM_FENCE_SIGNAL or by vgem's 10 s expiry.
 * Asynchronous waiters (dmabufSyncAsync, pollAsync) register a predicate with the hub, which
 * re-checks every waiter whenever any fence signals.
 */
import { errnoValue } from '../../errors';
import type { SyncFenceInfo, SyncFileInfo } from '../types';

export class Fence {
  signaled = false;
  /** Negative errno when signalled with an error (sw_sync timeline closed: -ENOENT). */
  error = 0;
  timestampNs = 0n;

  constructor(readonly driver: string, readonly timeline: string, readonly context: number, readonly seqno: number) {}

  /** dma_fence_get_status(): 1 signalled, 0 active, < 0 error. */
  get status(): number {
    return this.signaled ? (this.error || 1) : 0;
  }

  /**
   * SYNC_IOC_FILE_INFO's view of the fence. Since Linux 6.17 the names of a signalled fence are no
   * longer asked of its driver (which may be gone): 'signaled-timeline' and 'detached-driver'.
   */
  info(detachedNames = false): SyncFenceInfo {
    const detached = detachedNames && this.signaled;
    return {
      objName: detached ? 'signaled-timeline' : this.timeline, driverName: detached ? 'detached-driver' : this.driver,
      status: this.status, flags: 0, timestampNs: this.signaled ? this.timestampNs : 0n,
    };
  }
}

interface Waiter {
  ready: () => boolean;
  done: (ok: boolean) => void;
}

export class FenceHub {
  #nextContext = 1;
  #waiters = new Set<Waiter>();
  /** dma_fence_get_stub(): the always-signalled fence of an idle reservation. */
  readonly stub: Fence;

  constructor() {
    this.stub = new Fence('stub', 'stub', 0, 0);
    this.stub.signaled = true;
    this.stub.timestampNs = process.hrtime.bigint();
  }

  /** dma_fence_context_alloc(1) */
  context(): number {
    return this.#nextContext++;
  }

  signal(f: Fence, error = 0): void {
    if (f.signaled) return;
    f.signaled = true;
    f.error = error;
    f.timestampNs = process.hrtime.bigint();
    for (const w of [...this.#waiters]) {
      if (w.ready()) w.done(true);
    }
  }

  /** Something other than a fence changed (a video buffer completed, an event was queued): re-check every waiter. */
  wake(): void {
    for (const w of [...this.#waiters]) {
      if (w.ready()) w.done(true);
    }
  }

  /** Resolves true as soon as ready() holds, false after timeoutMs (-1: never times out). */
  waitUntil(ready: () => boolean, timeoutMs: number): Promise<boolean> {
    if (ready()) return Promise.resolve(true);
    if (timeoutMs === 0) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const w: Waiter = {
        ready,
        done: (ok) => {
          this.#waiters.delete(w);
          if (timer !== undefined) clearTimeout(timer);
          resolve(ok);
        },
      };
      this.#waiters.add(w);
      if (timeoutMs > 0) timer = setTimeout(() => w.done(false), timeoutMs);
    });
  }
}

/** A dma_resv: the fences a buffer's users attached, each for reading or for writing. */
export class Resv {
  #entries: { fence: Fence; write: boolean }[] = [];

  add(fence: Fence, write: boolean): void {
    this.#entries = this.#entries.filter((e) => !e.fence.signaled);
    this.#entries.push({ fence, write });
  }

  /**
   * Unsignalled fences that an access must wait for (dma_resv_usage_rw): a read waits for writers
   * only, a write waits for everyone.
   */
  pending(write: boolean): Fence[] {
    return this.#entries.filter((e) => !e.fence.signaled && (write || e.write)).map((e) => e.fence);
  }
}

/** The payload of a sync_file: its (unwrapped) fences, and the name given by SYNC_IOC_MERGE. */
export class SyncPayload {
  /** Context of the dma_fence_array when there is more than one fence. */
  readonly #arrayContext: number;

  constructor(hub: FenceHub, readonly fences: readonly Fence[], readonly userName = '') {
    this.#arrayContext = fences.length > 1 ? hub.context() : 0;
  }

  get signaled(): boolean {
    return this.fences.every((f) => f.signaled);
  }

  get status(): number {
    const err = this.fences.find((f) => f.signaled && f.error < 0);
    if (err) return err.error;
    return this.signaled ? 1 : 0;
  }

  /**
   * sync_file_get_name(): the merge name, else "<driver>-<timeline><context>-<seqno>" cut to the 31
   * bytes of the field; from Linux 6.17 (detachedNames) a signalled fence's names there are
   * 'detached-driver' and 'signaled-timeline' too.
   */
  name(detachedNames = false): string {
    if (this.userName !== '') return this.userName;
    let name = `dma_fence_array-unbound${this.#arrayContext}-1`;
    if (this.fences.length === 1) {
      const f = this.fences[0].info(detachedNames);
      name = `${f.driverName}-${f.objName}${this.fences[0].context}-${this.fences[0].seqno}`;
    } else if (detachedNames && this.signaled) {
      name = `detached-driver-signaled-timeline${this.#arrayContext}-1`;
    }
    return Buffer.from(name).subarray(0, 31).toString();
  }

  info(detachedNames = false): SyncFileInfo {
    return { name: this.name(detachedNames), status: this.status, flags: 0, fences: this.fences.map((f) => f.info(detachedNames)) };
  }

  /** SYNC_IOC_MERGE: the union of both, one fence per context (the later seqno wins). */
  static merge(hub: FenceHub, name: string, a: SyncPayload, b: SyncPayload): SyncPayload {
    const byContext = new Map<number, Fence>();
    for (const f of [...a.fences, ...b.fences]) {
      const seen = byContext.get(f.context);
      if (seen === undefined || f.seqno > seen.seqno) byContext.set(f.context, f);
    }
    const fences = [...byContext.values()].sort((x, y) => x.context - y.context);
    return new SyncPayload(hub, fences.length ? fences : [hub.stub], name);
  }
}

/** A sw_sync timeline (/sys/kernel/debug/sync/sw_sync): fences signal when its value reaches theirs. */
export class Timeline {
  value = 0;
  readonly context: number;
  #pending: Fence[] = [];

  constructor(private readonly hub: FenceHub, readonly name: string) {
    this.context = hub.context();
  }

  createFence(value: number): Fence {
    const f = new Fence('sw_sync', this.name, this.context, value);
    if (value <= this.value) this.hub.signal(f);
    else this.#pending.push(f);
    return f;
  }

  inc(count: number): void {
    this.value += count;
    const due = this.#pending.filter((f) => f.seqno <= this.value);
    this.#pending = this.#pending.filter((f) => f.seqno > this.value);
    for (const f of due) this.hub.signal(f);
  }

  /** Closing the timeline signals what is left with -ENOENT (sw_sync_debugfs_release). */
  release(): void {
    const left = this.#pending;
    this.#pending = [];
    for (const f of left) this.hub.signal(f, -errnoValue('ENOENT'));
  }
}
