/// <reference types="node" preserve="true" />
/**
 * mmap(2) of the mock kernel and the zero-copy views over a mapping (native/mapping.cc): dma-bufs,
 * memfds and DRM fake offsets; what a mapping's ArrayBuffer is (mock/pages.ts: the buffer's one
 * store, so views alias each other); munmap detaching the views.
 */
import {
  F_SEAL_FUTURE_WRITE, F_SEAL_WRITE, MAP_PRIVATE, MAP_SHARED, MAP_SHARED_VALIDATE, MAP_TYPE, PROT_READ, PROT_WRITE,
} from '../../constants';
import { invalidArgType, outOfRange, stateError, systemError, unsupportedError } from '../../errors';
import type { ErrnoName } from '../../errno';
import type { MapHandle, MappingOps } from '../types';
import { idWords, type Machine, type OpenFile, readable, type ShmInode, writable } from './kernel';
import { type Memory, Store } from './pages';
import { videoMmap } from './v4l2';

export class MockMapping implements MapHandle {
  live = true;
  ab: ArrayBuffer | null = null;
  /** The store whose ArrayBuffer this mapping handed out. */
  store: Store | null = null;

  constructor(readonly length: number, readonly prot: number, readonly mem: Memory, readonly offset: number,
    readonly file: OpenFile, readonly node: ShmInode | null) {}
}

/** The mock's own check of a MapHandle argument (the spec leaves handle types to each backend). */
export function checkMapping(v: unknown): void {
  if (!(v instanceof MockMapping)) throw invalidArgType('mapping', 'a mapping made by this backend', v);
}

const asMapping = (h: MapHandle): MockMapping => h as MockMapping;

export function mappingOps(m: Machine): MappingOps {
  const ops: MappingOps = {
    mmapChecked(fd, dev, inoHi, inoLo, length, prot, flags, offset) {
      const f = m.fds.get(fd);
      if (f === undefined) return null;
      const [d, hi, lo] = idWords(f);
      if (d !== dev || hi !== inoHi || lo !== inoLo) return null;
      return ops.mmap(fd, length, prot, flags, offset);
    },
    mmap(fd, length, prot, flags, offset) {
      const ps = m.pageSize;
      const fail = (e: ErrnoName): Error => systemError(e, 'mmap');
      if (offset % ps !== 0) throw fail('EINVAL');
      const f = m.get(fd, 'mmap');
      if (length === 0) throw fail('EINVAL');
      const type = flags & MAP_TYPE;
      const shared = type === MAP_SHARED || type === MAP_SHARED_VALIDATE;
      if (!shared && type !== MAP_PRIVATE) throw fail('EINVAL');
      const wantsWrite = shared && (prot & PROT_WRITE) !== 0;
      if (wantsWrite && !writable(f)) throw fail('EACCES');
      if (!readable(f)) throw fail('EACCES');
      const pages = Math.ceil(length / ps);
      let mem: Memory;
      let node: ShmInode | null = null;
      let at = offset;
      switch (f.kind) {
        case 'dmabuf':
          if (offset / ps + pages > f.bo.pages.size / ps) throw fail('EINVAL');
          if (f.bo.kind === 'udmabuf' && !shared) throw fail('EINVAL');
          mem = f.bo.pages;
          break;
        case 'memfd':
          if (wantsWrite && (f.node.seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE))) throw fail('EPERM');
          mem = f.node.mem;
          if (wantsWrite) node = f.node;
          break;
        case 'drm': { // drm_gem_mmap: the object whose fake offset range holds the mapping
          const pgoff = offset / ps;
          const hit = [...f.dev.offsets].find(([start, b]) => start <= pgoff && pgoff + pages <= start + b.pages.size / ps);
          if (hit === undefined) throw fail('EINVAL');
          const [start, bo] = hit;
          if (![...f.handles.values()].includes(bo)) throw fail('EACCES'); // drm_vma_node_is_allowed
          if (!shared) throw fail('EINVAL'); // shmem helpers refuse COW mappings
          mem = bo.pages;
          at = (pgoff - start) * ps;
          break;
        }
        case 'video': { // vb2_mmap: an MMAP plane by its offset
          const v = videoMmap(f, offset, length, shared, prot, ps);
          mem = v.mem;
          at = v.at;
          break;
        }
        default: throw fail('ENODEV');
      }
      if (!shared) {
        mem = Store.copyOf(mem, at, length); // a private mapping: a snapshot in the model
        at = 0;
      }
      const map = new MockMapping(length, prot, mem, at, f, node);
      if (node !== null) node.writableMaps++;
      f.refs++;
      m.maps.add(map);
      return map;
    },

    mapBuffer(handle) {
      const map = asMapping(handle);
      if (!map.live) throw stateError('the mapping is unmapped');
      if (!(map.prot & PROT_WRITE)) throw stateError('a read-only mapping has no ArrayBuffer (read it with mapRead)');
      if (map.ab !== null) return map.ab;
      const store = map.mem.whole(map.offset, map.length);
      if (store === null) {
        throw unsupportedError('the mock backend gives an ArrayBuffer only for a mapping of a whole buffer from offset 0');
      }
      try {
        map.ab = store.arrayBuffer();
      } catch {
        throw systemError('ENOMEM', 'mmap');
      }
      map.store = store;
      store.views++;
      store.pinned = true;
      return map.ab;
    },

    mapRead(handle, offset, target) {
      const map = asMapping(handle);
      if (!map.live) throw stateError('the mapping is unmapped');
      if (!(map.prot & PROT_READ)) throw stateError('the mapping is not readable');
      if (offset + target.length > map.length) throw outOfRange('offset', `>= 0 && <= ${map.length - target.length}`, offset);
      map.mem.read(map.offset + offset, target);
    },

    munmap(handle) {
      const map = asMapping(handle);
      if (!map.live) return;
      map.live = false;
      map.ab = null;
      if (map.node !== null) map.node.writableMaps--;
      if (map.store !== null && --map.store.views === 0) map.store.detach(); // no other view-holding mapping
      map.store = null;
      m.maps.delete(map);
      m.unref(map.file);
    },

    isMapped: (handle) => asMapping(handle).live,
  };
  return ops;
}
