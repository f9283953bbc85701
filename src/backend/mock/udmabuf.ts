/**
 * /dev/udmabuf of the mock kernel (native/udmabuf.cc; drivers/dma-buf/udmabuf.c): dma-bufs over the
 * pages of sealed memfds, the module parameters that bound them, and the buffer's own rules (shared
 * mappings only, SYNC END before the first START refused: dmabuf.ts, mapping.ts).
 */
import {
  F_SEAL_FUTURE_WRITE, F_SEAL_SHRINK, F_SEAL_WRITE, MFD_ALLOW_SEALING, MFD_HUGETLB, MISC_MAJOR, O_RDWR, UDMABUF_FLAGS_CLOEXEC,
} from '../../constants';
import type { ErrnoName } from '../../errno';
import { systemError } from '../../errors';
import type { Fd, UdmabufItem, UdmabufOps } from '../types';
import { Bo, type Driver, type Machine, makedev, newDmabuf } from './kernel';
import { memfdOps } from './memfd';
import { Store } from './pages';

const UDMABUF_MINOR = 125; // a dynamic misc minor

/** The device node and its module parameters, when the options have udmabuf. */
export const udmabufDriver: Driver = (m) => {
  const u = m.o.udmabuf;
  if (!u) return;
  m.node('/dev/udmabuf', 'chr', makedev(MISC_MAJOR, UDMABUF_MINOR), 0o660,
    (flags) => m.file('/dev/udmabuf', flags, { kind: 'udmabuf-dev' }));
  m.text('/sys/module/udmabuf/parameters/size_limit_mb', () => `${u.sizeLimitMb}\n`);
  m.text('/sys/module/udmabuf/parameters/list_limit', () => `${u.listLimit}\n`);
};

/** udmabuf_create(): the checks in the kernel's order, then a dma-buf over the ranges. */
function create(m: Machine, dev: Fd, flags: number, items: readonly UdmabufItem[], syscall: string, list: boolean): Fd {
  m.ioctl(dev, syscall, 'udmabuf-dev');
  const lim = m.o.udmabuf!;
  const ps = m.pageSize;
  const fail = (e: ErrnoName = 'EINVAL'): Error => systemError(e, syscall);
  if (list && items.length > lim.listLimit) throw fail();
  const pglimit = Math.floor(lim.sizeLimitMb * 2 ** 20 / ps);
  let pgcnt = 0;
  for (const it of items) {
    if (it.offset % ps !== 0 || it.size % ps !== 0) throw fail();
    pgcnt += it.size / ps;
    if (pgcnt > pglimit) throw fail();
  }
  if (pgcnt === 0) throw fail();
  const nodes = items.map((it) => {
    const f = m.fds.get(it.memfd);
    if (f === undefined || f.kind !== 'memfd') throw fail('EBADFD');
    const seals = f.node.seals;
    if (!(seals & F_SEAL_SHRINK) || (seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE))) throw fail();
    if (it.size === 0 || it.offset + it.size > f.node.mem.size) throw fail();
    return f.node;
  });
  // The dma-buf's bytes: the memfd range's own store when it is exactly one, else a new store that
  // takes over the ranges (their bytes copied in), so memfds and dma-buf share them both ways.
  let pages = items.length === 1 ? nodes[0].mem.whole(items[0].offset, items[0].size) : null;
  if (pages === null) {
    const store = new Store(pgcnt * ps);
    let at = 0;
    items.forEach((it, i) => {
      if (nodes[i].mem.touched(it.offset, it.size)) {
        const chunk = new Uint8Array(it.size);
        nodes[i].mem.read(it.offset, chunk);
        store.write(at, chunk);
      }
      at += it.size;
    });
    at = 0;
    items.forEach((it, i) => {
      nodes[i].mem.remap(it.offset, it.size, store, at);
      at += it.size;
    });
    pages = store;
  }
  pages.pinned = true;
  const f = newDmabuf(m, new Bo(pages, 'udmabuf', 'udmabuf', null), O_RDWR);
  return m.install(f, (flags & UDMABUF_FLAGS_CLOEXEC) !== 0, syscall);
}

export function udmabufOps(m: Machine): UdmabufOps {
  const memfd$ = memfdOps(m);
  // Unknown flag bits are ignored by mainline; close-on-exec is added whatever the caller passes, like the addon.
  return {
    udmabufCreate: (dev, memfd, offset, size, flags) =>
      create(m, dev, flags | UDMABUF_FLAGS_CLOEXEC, [{ memfd, offset, size }], 'ioctl(UDMABUF_CREATE)', false),
    udmabufCreateList: (dev, flags, items) =>
      create(m, dev, flags | UDMABUF_FLAGS_CLOEXEC, items, 'ioctl(UDMABUF_CREATE_LIST)', true),
    udmabufCreateSized(dev, size, flags, hugetlb, name) {
      // the native addon's steps, in its order, each failing with its own syscall
      const memfd = memfd$.memfdCreate(name, MFD_ALLOW_SEALING | (hugetlb ? MFD_HUGETLB : 0));
      try {
        memfd$.ftruncate(memfd, size);
        memfd$.addSeals(memfd, F_SEAL_SHRINK);
        return create(m, dev, flags | UDMABUF_FLAGS_CLOEXEC, [{ memfd, offset: 0, size }], 'ioctl(UDMABUF_CREATE)', false);
      } finally {
        m.close(memfd);
      }
    },
  };
}
