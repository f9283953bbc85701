/**
 * The backend-level contract suite (test/01-backend-*.test.ts) calls the Backend directly, syscall by
 * syscall, on the backend the runner chose. `useBackend()`, called inside a describe, gives the file:
 *
 * - the backend under test (`t.b`): getBackend() on the native backend. On the mock, a fresh model
 *   with the VM's DRM drivers (vgem, vkms and virtio_gpu: the default mock has no virtio_gpu),
 *   installed with setBackend() for the file and put back after it, so the virtio-gpu cases run on the
 *   mock as well and every file starts from a clean machine.
 * - bookkeeping: what a test keeps (`keep`, `keepMap`, and every fd the helpers below open) is unmapped
 *   and closed after it, an fd only while its number still names the file it was kept for. On the
 *   mock the model must then have no fd and no mapping left that the test made: a test that forgets
 *   one fails here on the host before it can leave a DRM file open (and a DRM master held) in the VM.
 * - device nodes opened by driver name, skipping when absent and failing in the VM (`needs…` in
 *   ./index.ts).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { getBackend, setBackend, parseFdinfo, constants as C } from '../../src/index';
import type { Backend } from '../../src/index';
import type { Fd, MapHandle } from '../../src/backend/types';
import type { NativeBackend } from '../../src/backend/native';
import { createMockBackend, type MockControl } from '../../src/backend/mock';
import { drmDevices, kernelVersion, needsDriver, needsHeap, needsSwSync, needsUdmabuf, skip, SW_SYNC } from './index';

/** The DRM drivers of the VM matrix, which the mock models for the contract files. */
export const VM_DRIVERS = ['vgem', 'vkms', 'virtio_gpu'] as const;

/** fdinfo of one of this process's fds, parsed by the library's own parser. */
export function fdinfo(b: Backend, fd: Fd): Map<string, string> {
  return parseFdinfo(b.readTextFile(`/proc/self/fdinfo/${fd}`));
}

/** The fd is close-on-exec, as fdinfo's `flags` (octal) says. */
export function isCloexec(b: Backend, fd: Fd): boolean {
  return (parseInt(fdinfo(b, fd).get('flags') ?? '', 8) & C.O_CLOEXEC) !== 0;
}

/**
 * Run the describe block (its before hook and so its tests) only on one backend; on the other every
 * test of it is pending, and its title says why. Not a missing device: never a failure in the VM.
 */
export function onlyOnBackend(name: 'mock' | 'native'): void {
  before(function () {
    if (getBackend().name === name) return;
    const reason = ` (skipped: ${name}-only, this run is on the ${getBackend().name} backend)`;
    const mark = (suite: Mocha.Suite): void => {
      for (const test of suite.tests) test.title += reason;
      suite.suites.forEach(mark);
    };
    if (this.test?.parent) mark(this.test.parent);
    this.skip();
  });
}

/** Skip (fail in the VM) below a kernel release, e.g. 6000 for 6.0; the mock models 6.12. */
export function needsKernel(ctx: Mocha.Context, version: number, what: string): void {
  if (kernelVersion() >= version) return;
  const want = `${Math.floor(version / 1000)}.${version % 1000}`;
  skip(ctx, `${what} needs Linux ${want}`);
}

interface Kept {
  fd: Fd;
  /** (dev, ino) when kept: the fd is closed after the test only if its number still names this file. */
  id: string;
}

export interface MemfdOptions {
  /** seals added after ftruncate (default none) */
  seals?: number;
  /** memfd_create flags (default MFD_ALLOW_SEALING) */
  flags?: number;
  name?: string;
}

export class BackendTest {
  #kept: Kept[] = [];
  #maps: MapHandle[] = [];
  #cleanups: (() => void)[] = [];

  /** The backend under test. */
  get b(): Backend {
    return getBackend();
  }

  get isMock(): boolean {
    return getBackend().name === 'mock';
  }

  get isNative(): boolean {
    return getBackend().name === 'native';
  }

  get page(): number {
    return getBackend().pageSize;
  }

  /** Close fd after the test (unless the test closed it with `close`). An fd that is not open is ignored. */
  keep(fd: Fd): Fd {
    try {
      const st = this.b.fstat(fd);
      this.#kept.push({ fd, id: `${st.dev}:${st.ino}` });
    } catch { /* not open: nothing to close */ }
    return fd;
  }

  keepMap(m: MapHandle): MapHandle {
    this.#maps.push(m);
    return m;
  }

  /** Close a kept fd now (and forget it). */
  close(fd: Fd): void {
    const i = this.#kept.findIndex((k) => k.fd === fd);
    if (i >= 0) this.#kept.splice(i, 1);
    this.b.close(fd);
  }

  /** Run fn after the test, before its fds are closed (files to remove, timelines to advance). */
  defer(fn: () => void): void {
    this.#cleanups.push(fn);
  }

  open(path: string, flags: number): Fd {
    return this.keep(this.b.open(path, flags));
  }

  memfd(size: number, o: MemfdOptions = {}): Fd {
    const fd = this.keep(this.b.memfdCreate(o.name ?? 'dmabuf-test', o.flags ?? C.MFD_ALLOW_SEALING));
    this.b.ftruncate(fd, size);
    if (o.seals) this.b.addSeals(fd, o.seals);
    return fd;
  }

  /** A memfd ready for udmabuf (sealed F_SEAL_SHRINK unless told otherwise). */
  sealedMemfd(size: number, seals = C.F_SEAL_SHRINK): Fd {
    return this.memfd(size, { seals });
  }

  /** /dev/udmabuf, read-only (A16: enough to create buffers). */
  udmabufDev(ctx: Mocha.Context, flags = C.O_RDONLY): Fd {
    needsUdmabuf(ctx);
    return this.open('/dev/udmabuf', flags);
  }

  /** A udmabuf of `size` bytes over a new sealed memfd (close-on-exec), and that memfd. */
  udmabuf(ctx: Mocha.Context, size: number): { fd: Fd; memfd: Fd } {
    const dev = this.udmabufDev(ctx);
    const memfd = this.sealedMemfd(size);
    return { fd: this.keep(this.b.udmabufCreate(dev, memfd, 0, size, C.UDMABUF_FLAGS_CLOEXEC)), memfd };
  }

  /** /dev/dma_heap/<name>, read-only (C40: enough to allocate). */
  heap(ctx: Mocha.Context, name = 'system'): Fd {
    needsHeap(ctx, name);
    return this.open(`/dev/dma_heap/${name}`, C.O_RDONLY);
  }

  /** A system-heap buffer, O_RDWR | O_CLOEXEC unless told otherwise. */
  heapBuffer(ctx: Mocha.Context, size: number, fdFlags = C.O_RDWR | C.O_CLOEXEC): Fd {
    return this.keep(this.b.heapAlloc(this.heap(ctx), size, fdFlags, 0));
  }

  /** The card node of a driver, opened read-write. */
  card(ctx: Mocha.Context, driver: string): Fd {
    return this.open(needsDriver(ctx, driver).path, C.O_RDWR);
  }

  /** The render node of a driver, opened read-write. */
  render(ctx: Mocha.Context, driver: string): Fd {
    return this.open(needsRenderNode(ctx, driver), C.O_RDWR);
  }

  /** A new sw_sync timeline (each open is one, starting at 0). */
  timeline(ctx: Mocha.Context): Fd {
    needsSwSync(ctx);
    return this.open(SW_SYNC, C.O_RDWR);
  }

  fdinfo(fd: Fd): Map<string, string> {
    return fdinfo(this.b, fd);
  }

  isCloexec(fd: Fd): boolean {
    return isCloexec(this.b, fd);
  }

  /** A new dma-buf fd: close-on-exec, fstat and lseek(END) give the size, fdinfo its size and exporter. */
  checkDmabuf(fd: Fd, size: number, exporter: string): void {
    const b = this.b;
    assert.ok(this.isCloexec(fd), 'the dma-buf fd is close-on-exec');
    assert.equal(b.fstat(fd).size, size);
    assert.equal(b.lseek(fd, 0, C.SEEK_END), size);
    const info = this.fdinfo(fd);
    assert.equal(Number(info.get('size')), size);
    assert.equal(info.get('exp_name'), exporter);
  }

  /** Map a dma-buf read-write, write both ends inside SYNC WRITE, read the last byte back inside SYNC READ. */
  writeAndReadBack(fd: Fd, size: number): void {
    const b = this.b;
    const m = this.keepMap(b.mmap(fd, size, C.PROT_READ | C.PROT_WRITE, C.MAP_SHARED, 0));
    b.dmabufSync(fd, C.DMA_BUF_SYNC_START | C.DMA_BUF_SYNC_WRITE);
    const v = new Uint8Array(b.mapBuffer(m));
    v[0] = 0x5a;
    v[size - 1] = 0xa5;
    b.dmabufSync(fd, C.DMA_BUF_SYNC_END | C.DMA_BUF_SYNC_WRITE);
    const got = new Uint8Array(1);
    b.dmabufSync(fd, C.DMA_BUF_SYNC_START | C.DMA_BUF_SYNC_READ);
    b.mapRead(m, size - 1, got);
    b.dmabufSync(fd, C.DMA_BUF_SYNC_END | C.DMA_BUF_SYNC_READ);
    assert.equal(got[0], 0xa5);
    assert.equal(v[0], 0x5a);
  }

  /** What the backend reports open now: the mock's fd table, the addon's tracked fds. */
  openFds(): Fd[] {
    const b = this.b;
    return b.name === 'mock' ? (b as Backend & MockControl).openFds() : (b as NativeBackend).trackedFds();
  }

  /** @internal run by useBackend after each test */
  cleanup(before: Set<Fd>, mappingsBefore: number): void {
    const b = this.b;
    const errors: string[] = [];
    for (const fn of this.#cleanups.splice(0).reverse()) {
      try { fn(); } catch (e) { errors.push(`cleanup: ${(e as Error).message}`); }
    }
    for (const m of this.#maps.splice(0)) b.munmap(m);
    for (const k of this.#kept.splice(0).reverse()) {
      try {
        const st = b.fstat(k.fd);
        if (`${st.dev}:${st.ino}` !== k.id) continue; // the test closed it and the number was reused
        b.close(k.fd);
      } catch { /* the test closed it */ }
    }
    const left = this.openFds().filter((fd) => !before.has(fd));
    for (const fd of left) {
      try { b.close(fd); } catch { /* gone meanwhile */ }
    }
    if (b.name === 'mock') {
      if (left.length) errors.push(`the test left fds open: ${left.join(', ')} (keep() them)`);
      const maps = (b as Backend & MockControl).liveMappings();
      if (maps > mappingsBefore) errors.push(`the test left ${maps - mappingsBefore} mapping(s) (keepMap() them)`);
    } else if (left.length) {
      console.warn(`      (the test left fds open, closed now: ${left.join(', ')})`);
    }
    if (errors.length) throw new Error(errors.join('; '));
  }
}

/** The render node of a driver (vgem and virtio_gpu have one; vkms has none). */
export function needsRenderNode(ctx: Mocha.Context, driver: string): string {
  const d = drmDevices().find((x) => x.driver === driver && x.kind === 'render');
  if (!d) {
    skip(ctx, `no DRM render node with driver ${driver} on the ${getBackend().name} backend`);
  }
  return d.path;
}

/** Call inside a describe: the backend under test and its bookkeeping (see the file comment). */
export function useBackend(): BackendTest {
  const t = new BackendTest();
  let saved: Backend | undefined;
  let fdsBefore = new Set<Fd>();
  let mappingsBefore = 0;
  before(function () {
    if (getBackend().name === 'mock') {
      saved = getBackend();
      setBackend(createMockBackend({ drm: [...VM_DRIVERS] }));
    }
  });
  after(function () {
    if (saved) setBackend(saved);
    saved = undefined;
  });
  beforeEach(function () {
    fdsBefore = new Set(t.openFds());
    mappingsBefore = t.isMock ? (t.b as Backend & MockControl).liveMappings() : 0;
  });
  afterEach(function () {
    t.cleanup(fdsBefore, mappingsBefore);
  });
  return t;
}

/** /dev/shm is a tmpfs (the mock models one; a host may have none): for the tmpfs-file cases. */
export function needsShmTmpfs(ctx: Mocha.Context): void {
  if (getBackend().name === 'mock') return;
  let tmpfs = false;
  try {
    tmpfs = fs.readFileSync('/proc/mounts', 'utf8').split('\n').some((l) => {
      const [, dir, type] = l.split(' ');
      return dir === '/dev/shm' && type === 'tmpfs';
    });
  } catch { /* no /proc/mounts */ }
  if (tmpfs) return;
  skip(ctx, '/dev/shm is not a tmpfs on this machine');
}

/** Remove a file of the host (native backend) after the test; the mock's files go with its model. */
export function removeAfter(t: BackendTest, path: string): void {
  t.defer(() => {
    if (t.isNative) fs.rmSync(path, { force: true });
  });
}
