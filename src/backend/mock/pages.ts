/**
 * The pages of one memory object in the mock kernel (a memfd/tmpfs inode, a heap buffer, a GEM object).
 *
 * One ArrayBuffer holds all the bytes, allocated on first touch (so a 2 GiB dumb buffer that is never
 * mapped costs nothing). Every writable mapping over the whole object hands out this same ArrayBuffer,
 * so views alias each other, the memfd and the dumb map: zero copy, like shared pages.
 */
export class Pages {
  #buf: ArrayBuffer | null = null;
  /** Live mappings over these pages; when the last one goes, every view is detached. */
  maps = 0;
  /** Live writable MAP_SHARED mappings (F_SEAL_WRITE is refused while there are any). */
  writableMaps = 0;

  constructor(readonly size: number) {}

  /** The backing store (allocated now if it was not). Throws a RangeError when the host cannot. */
  arrayBuffer(): ArrayBuffer {
    if (this.#buf === null) this.#buf = new ArrayBuffer(this.size);
    return this.#buf;
  }

  /** Copy `target.length` bytes from `offset`; bytes past the end (or never touched) read as 0. */
  read(offset: number, target: Uint8Array): void {
    target.fill(0);
    if (this.#buf === null || offset >= this.size) return;
    const n = Math.min(target.length, this.size - offset);
    target.set(new Uint8Array(this.#buf, offset, n));
  }

  /** Copy data in at offset; the caller has checked that it fits. */
  write(offset: number, data: Uint8Array): void {
    if (data.length === 0) return;
    new Uint8Array(this.arrayBuffer(), offset, data.length).set(data);
  }

  /** New pages of another size holding a copy of these bytes (memfd ftruncate, private mappings). */
  copy(size: number, offset = 0): Pages {
    const p = new Pages(size);
    if (this.#buf !== null && size > 0 && offset < this.size) {
      const n = Math.min(size, this.size - offset);
      new Uint8Array(p.arrayBuffer(), 0, n).set(new Uint8Array(this.#buf, offset, n));
    }
    return p;
  }

  /**
   * Detach every view made over the current ArrayBuffer, keeping the bytes: the store moves to a new
   * ArrayBuffer (transfer is O(1)), so old Uint8Arrays read length 0 instead of aliasing stale memory.
   */
  detach(): void {
    if (this.#buf !== null) this.#buf = structuredClone(this.#buf, { transfer: [this.#buf] });
  }
}
