/// <reference types="node" preserve="true" />
/**
 * Memory in the mock kernel.
 *
 * A Store is one run of bytes in one ArrayBuffer, allocated on first touch (a 2 GiB dumb buffer that
 * is never mapped costs nothing). A dma-buf has one Store; every writable mapping of the whole buffer
 * hands out that same ArrayBuffer, so views alias each other: zero copy, like shared pages.
 *
 * A tmpfs file (memfd) is a list of extents over Stores. udmabuf re-points the memfd's range at the
 * dma-buf's Store, so that the two share bytes both ways even for a part of a memfd or for several.
 */
export class Store {
  #buf: ArrayBuffer | null = null;
  /** Live mappings that handed out this ArrayBuffer; the last munmap detaches every view. */
  views = 0;
  /** Shared with a udmabuf or handed out to JS: never replaced by a resized copy. */
  pinned = false;

  constructor(readonly size: number) {}

  get allocated(): boolean {
    return this.#buf !== null;
  }

  arrayBuffer(): ArrayBuffer {
    if (this.#buf === null) this.#buf = new ArrayBuffer(this.size);
    return this.#buf;
  }

  /** Copy into target from offset; never-touched bytes read as 0. */
  read(offset: number, target: Uint8Array): void {
    if (this.#buf === null) target.fill(0);
    else target.set(new Uint8Array(this.#buf, offset, target.length));
  }

  write(offset: number, data: Uint8Array): void {
    if (data.length > 0) new Uint8Array(this.arrayBuffer(), offset, data.length).set(data);
  }

  /**
   * Detach every view made over the current ArrayBuffer, keeping the bytes: the store moves to a new
   * ArrayBuffer (transfer is O(1)), so old Uint8Arrays read length 0 instead of aliasing the buffer.
   */
  detach(): void {
    if (this.#buf !== null) this.#buf = structuredClone(this.#buf, { transfer: [this.#buf] });
  }

  /** The Store itself when [offset, offset + length) is all of it. */
  whole(offset: number, length: number): Store | null {
    return offset === 0 && length === this.size ? this : null;
  }

  /** A new Store holding a copy of [offset, offset + length) of mem (a private mapping, a udmabuf list). */
  static copyOf(mem: Memory, offset: number, length: number): Store {
    const s = new Store(length);
    if (mem.touched(offset, length)) {
      const n = Math.max(0, Math.min(length, mem.size - offset));
      const tmp = new Uint8Array(n);
      mem.read(offset, tmp);
      s.write(0, tmp);
    }
    return s;
  }

  touched(): boolean {
    return this.allocated;
  }
}

/** What a mapping maps: a Store, or the extents of a tmpfs file. */
export interface Memory {
  readonly size: number;
  /** Copy bytes from offset; bytes past the end read as 0. */
  read(offset: number, target: Uint8Array): void;
  /** Whether any byte of the range was ever written (else it is all zero). */
  touched(offset: number, length: number): boolean;
  /** The single Store that is exactly this range, if there is one (zero-copy ArrayBuffer). */
  whole(offset: number, length: number): Store | null;
}

interface Extent {
  store: Store;
  /** Offset of this extent in store. */
  at: number;
  len: number;
}

/** The pages of a tmpfs file: extents covering [0, size) in order. */
export class Extents implements Memory {
  #list: Extent[] = [];
  size = 0;

  /** Visit the parts of [offset, offset + length) that exist: (extent, offset in extent, offset in range, length). */
  #each(offset: number, length: number, fn: (e: Extent, inExtent: number, inRange: number, n: number) => void): void {
    let start = 0;
    for (const e of this.#list) {
      const from = Math.max(offset, start);
      const to = Math.min(offset + length, start + e.len);
      if (from < to) fn(e, from - start, from - offset, to - from);
      start += e.len;
    }
  }

  read(offset: number, target: Uint8Array): void {
    target.fill(0);
    this.#each(offset, target.length, (e, x, r, n) => e.store.read(e.at + x, target.subarray(r, r + n)));
  }

  /** Write inside [0, size); the caller grows the file first. */
  write(offset: number, data: Uint8Array): void {
    this.#each(offset, data.length, (e, x, r, n) => e.store.write(e.at + x, data.subarray(r, r + n)));
  }

  touched(offset: number, length: number): boolean {
    let t = false;
    this.#each(offset, length, (e) => { t ||= e.store.allocated; });
    return t;
  }

  whole(offset: number, length: number): Store | null {
    let hit: Store | null = null;
    let parts = 0;
    this.#each(offset, length, (e, x, _r, n) => {
      parts++;
      if (x === 0 && n === e.len && e.at === 0 && e.len === e.store.size) hit = e.store;
    });
    return parts === 1 && length === (hit as Store | null)?.size ? hit : null;
  }

  resize(size: number): void {
    if (size < this.size) {
      const kept: Extent[] = [];
      this.#each(0, size, (e, x, _r, n) => kept.push({ store: e.store, at: e.at + x, len: n }));
      this.#list = kept;
    } else if (size > this.size) {
      const last = this.#list[this.#list.length - 1];
      if (last !== undefined && !last.store.pinned && last.at === 0 && last.len === last.store.size) {
        // Grow the private tail store (keeps one extent, so a whole-file mapping stays zero-copy).
        const grown = Store.copyOf(last.store, 0, last.len + size - this.size);
        this.#list[this.#list.length - 1] = { store: grown, at: 0, len: grown.size };
      } else {
        this.#list.push({ store: new Store(size - this.size), at: 0, len: size - this.size });
      }
    }
    this.size = size;
  }

  /** Make [offset, offset + length) of the file the bytes [at, at + length) of store (udmabuf). */
  remap(offset: number, length: number, store: Store, at: number): void {
    const out: Extent[] = [];
    let start = 0;
    let placed = false;
    for (const e of this.#list) {
      const end = start + e.len;
      if (end <= offset || start >= offset + length) {
        if (start >= offset + length && !placed) { out.push({ store, at, len: length }); placed = true; }
        out.push(e);
      } else {
        if (start < offset) out.push({ store: e.store, at: e.at, len: offset - start });
        if (!placed) { out.push({ store, at, len: length }); placed = true; }
        if (end > offset + length) {
          const cut = offset + length - start;
          out.push({ store: e.store, at: e.at + cut, len: e.len - cut });
        }
      }
      start = end;
    }
    if (!placed) out.push({ store, at, len: length });
    this.#list = out;
  }
}
