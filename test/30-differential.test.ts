/**
 * Differential test: seeded random sequences of backend calls (valid and invalid) run on the native
 * backend (the real kernel) and on the mock; results and error codes must match call by call.
 * Runs where the native backend has udmabuf and the system heap (the VM); elsewhere it says why not.
 * DMABUF_DIFF_SEQUENCES / DMABUF_DIFF_SEED override the defaults.
 */
import assert from 'node:assert/strict';
import type { Backend } from '../src/index';
import { constants as C } from '../src/index';
import { loadNative } from '../src/backend/native';
import { createMockBackend } from '../src/backend/mock';

/** mulberry32: small, seedable, good enough for choosing calls. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Kind = 'memfd' | 'dmabuf' | 'syncfile';
interface Slot { kind: Kind; fd: number; open: boolean }

/** One backend's view of a sequence: symbolic slots → that backend's fds. */
class World {
  readonly slots: Slot[] = [];
  readonly maps: Array<{ h: ReturnType<Backend['mmap']> }> = [];
  udmabufDev: number;
  heapDev: number;
  constructor(readonly be: Backend) {
    this.udmabufDev = be.open('/dev/udmabuf', C.O_RDONLY);
    this.heapDev = be.open('/dev/dma_heap/system', C.O_RDONLY);
  }
  add(kind: Kind, fd: number): string {
    this.slots.push({ kind, fd, open: true });
    return `${kind}#${this.slots.length - 1}`;
  }
  dispose(): void {
    for (const m of this.maps) this.be.munmap(m.h);
    for (const s of this.slots) if (s.open) this.be.close(s.fd);
    this.be.close(this.udmabufDev);
    this.be.close(this.heapDev);
  }
}

interface Op {
  name: string;
  run(w: World): string;
}

function outcome(fn: () => string): string {
  try {
    return fn();
  } catch (e) {
    const err = e as { code?: string; syscall?: string };
    return `throws ${err.code ?? String(e)}${err.syscall ? ` (${err.syscall})` : ''}`;
  }
}

/** Generate one op from the random stream; slot indexes are symbolic so both worlds agree. */
function genOp(r: () => number, nSlots: () => number): Op {
  const P = 4096;
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const slot = () => Math.floor(r() * Math.max(1, nSlots()));
  const size = () => pick([0, 1, P / 2, P, 2 * P, 3 * P + 1, 16 * P]);
  const fdOf = (w: World, i: number): number => {
    const s = w.slots[i];
    // a closed slot's number may already belong to a newer file (the kernel reuses the lowest free
    // fd, the mock never does): use a number that is never open instead
    return s && s.open ? s.fd : 0x7ffffff0;
  };
  const which = pick(['memfd', 'memfd', 'udmabuf', 'udmabuf', 'heap', 'heap', 'close', 'dup', 'lseek', 'sync',
    'name', 'mmap', 'fstat', 'export', 'poll', 'read'] as const);
  switch (which) {
    case 'memfd': {
      const sz = pick([P, 2 * P, 4 * P, 0]);
      const sealing = r() < 0.85;
      const seals = pick([C.F_SEAL_SHRINK, C.F_SEAL_SHRINK, 0, C.F_SEAL_SHRINK | C.F_SEAL_GROW, C.F_SEAL_SHRINK | C.F_SEAL_WRITE]);
      return {
        name: `memfd(${sz}, sealing=${sealing}, seals=${seals})`,
        run: (w) => outcome(() => {
          const fd = w.be.memfdCreate('diff', sealing ? C.MFD_ALLOW_SEALING : 0);
          w.be.ftruncate(fd, sz);
          const id = w.add('memfd', fd);
          if (seals) w.be.addSeals(fd, seals);
          return id;
        }),
      };
    }
    case 'udmabuf': {
      const i = slot();
      const off = pick([0, 0, P, P / 2]);
      const sz = size();
      return {
        name: `udmabufCreate(slot ${i}, ${off}, ${sz})`,
        run: (w) => outcome(() => w.add('dmabuf', w.be.udmabufCreate(w.udmabufDev, fdOf(w, i), off, sz, C.UDMABUF_FLAGS_CLOEXEC))),
      };
    }
    case 'heap': {
      const len = size();
      const fl = pick([C.O_RDWR | C.O_CLOEXEC, C.O_RDONLY | C.O_CLOEXEC, C.O_RDWR | C.O_NONBLOCK]);
      const hf = r() < 0.9 ? 0 : 1;
      return {
        name: `heapAlloc(${len}, ${fl}, ${hf})`,
        run: (w) => outcome(() => w.add('dmabuf', w.be.heapAlloc(w.heapDev, len, fl, hf))),
      };
    }
    case 'close': {
      const i = slot();
      return {
        name: `close(slot ${i})`,
        run: (w) => outcome(() => {
          const s = w.slots[i];
          if (!s || !s.open) return 'skip';
          s.open = false;
          w.be.close(s.fd);
          return 'ok';
        }),
      };
    }
    case 'dup': {
      const i = slot();
      return {
        name: `dup(slot ${i})`,
        run: (w) => outcome(() => {
          const s = w.slots[i];
          if (!s || !s.open) return 'skip';
          return w.add(s.kind, w.be.dup(s.fd));
        }),
      };
    }
    case 'lseek': {
      const i = slot();
      const off = pick([0, 0, 1, -1, P]);
      const wh = pick([C.SEEK_SET, C.SEEK_END, C.SEEK_CUR]);
      return { name: `lseek(slot ${i}, ${off}, ${wh})`, run: (w) => outcome(() => String(w.be.lseek(open(w, i), off, wh))) };
    }
    case 'sync': {
      const i = slot();
      const fl = pick([C.DMA_BUF_SYNC_READ, C.DMA_BUF_SYNC_WRITE, C.DMA_BUF_SYNC_RW, C.DMA_BUF_SYNC_END | C.DMA_BUF_SYNC_RW,
        C.DMA_BUF_SYNC_END | C.DMA_BUF_SYNC_READ, 0, 4, 8]);
      return { name: `sync(slot ${i}, ${fl})`, run: (w) => outcome(() => (w.be.dmabufSync(dmabufOnly(w, i), fl), 'ok')) };
    }
    case 'name': {
      const i = slot();
      const n = 'n'.repeat(pick([0, 5, 31, 32, 40]));
      return { name: `setName(slot ${i}, ${n.length} chars)`, run: (w) => outcome(() => (w.be.dmabufSetName(dmabufOnly(w, i), n), 'ok')) };
    }
    case 'mmap': {
      const i = slot();
      const len = pick([P, 2 * P, 0, 64 * P]);
      const prot = pick([C.PROT_READ, C.PROT_READ | C.PROT_WRITE]);
      const off = pick([0, 0, P, 1]);
      return {
        name: `mmap(slot ${i}, ${len}, ${prot}, ${off})`,
        run: (w) => outcome(() => {
          const h = w.be.mmap(dmabufOnly(w, i), len, prot, C.MAP_SHARED, off);
          w.maps.push({ h });
          return `mapped ${h.length}`;
        }),
      };
    }
    case 'fstat': {
      const i = slot();
      return { name: `fstat(slot ${i}).size`, run: (w) => outcome(() => String(w.be.fstat(open(w, i)).size)) };
    }
    case 'export': {
      const i = slot();
      const fl = pick([C.DMA_BUF_SYNC_READ, C.DMA_BUF_SYNC_WRITE, C.DMA_BUF_SYNC_RW, 0, 4]);
      return {
        name: `exportSyncFile(slot ${i}, ${fl})`,
        run: (w) => outcome(() => {
          const fd = w.be.dmabufExportSyncFile(dmabufOnly(w, i), fl);
          const id = w.add('syncfile', fd);
          return `${id} status ${w.be.syncFileInfo(fd).status}`;
        }),
      };
    }
    case 'poll': {
      const i = slot();
      return { name: `poll(slot ${i})`, run: (w) => outcome(() => String(w.be.poll(dmabufOnly(w, i), C.POLLIN | C.POLLOUT, 0))) };
    }
    case 'read': {
      const i = slot();
      return { name: `read(slot ${i})`, run: (w) => outcome(() => String(w.be.read(dmabufOnly(w, i), 16).length)) };
    }
  }
  throw new Error('unreachable');

  function open(w: World, i: number): number {
    const s = w.slots[i];
    if (!s || !s.open) throw Object.assign(new Error('no slot'), { code: 'SKIP' });
    return s.fd;
  }
  function dmabufOnly(w: World, i: number): number {
    const s = w.slots[i];
    if (!s || !s.open || s.kind !== 'dmabuf') throw Object.assign(new Error('no slot'), { code: 'SKIP' });
    return s.fd;
  }
}

describe('differential: mock vs kernel', function () {
  it('seeded random call sequences give the same results and error codes on both', function () {
    const loaded = loadNative();
    const native = loaded.backend;
    if (!native || !native.access('/dev/udmabuf', 4) || !native.access('/dev/dma_heap/system', 4)) {
      if (process.env.DMABUF_VM === '1') assert.fail('the VM must offer udmabuf and the system heap');
      this.test!.title += ' (skipped: needs the native backend with udmabuf and the system heap — the VM)';
      this.skip();
    }
    const sequences = Number(process.env.DMABUF_DIFF_SEQUENCES ?? 200);
    const seed0 = Number(process.env.DMABUF_DIFF_SEED ?? 20261125);
    let calls = 0;
    for (let s = 0; s < sequences; s++) {
      const seed = seed0 + s;
      const r = rng(seed);
      const mock = createMockBackend();
      const wn = new World(native);
      const wm = new World(mock);
      const log: string[] = [];
      try {
        const length = 10 + Math.floor(r() * 30);
        for (let k = 0; k < length; k++) {
          const op = genOp(r, () => wn.slots.length);
          const a = op.run(wn);
          const b = op.run(wm);
          calls++;
          log.push(`${op.name} → kernel: ${a} | mock: ${b}`);
          if (a !== b) assert.fail(`seed ${seed}, call ${k}: ${op.name}\n  kernel: ${a}\n  mock:   ${b}\n${log.slice(-12).join('\n')}`);
        }
      } finally {
        wn.dispose();
        wm.dispose();
      }
    }
    this.test!.title += ` [${sequences} sequences, ${calls} calls]`;
    console.log(`      differential: ${sequences} sequences, ${calls} calls, seeds ${seed0}..${seed0 + sequences - 1}`);
  });
});
