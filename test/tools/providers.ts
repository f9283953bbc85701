/**
 * The allocate → map → sync → close cycle over every provider, shared by the leak test in
 * test/61-lifecycle.test.ts and the long measurement in test/tools/soak.ts.
 */
import { drm, heaps, udmabuf, type Device, type Heap } from '../../src/index';

export interface SoakProvider {
  name: string;
  /** Absent on some kernels by design (trixie has no CMA): not a failure in the VM. */
  optional?: boolean;
  /** true, or why not. */
  available(): true | string;
  ctx: { heap?: Heap; dev?: Device };
  done?(ctx: SoakProvider['ctx']): void;
}

const SIZE = 64 * 1024;

function heapAvailable(pred: (name: string, contiguous: boolean) => boolean): true | string {
  try {
    return heaps.list().some((h) => pred(h.name, h.contiguous)) ? true : 'no such heap';
  } catch (e) {
    return (e as Error).message;
  }
}

export const providers: (SoakProvider & { kind: 'udmabuf' | 'heap' | 'vgem'; contiguous?: boolean })[] = [
  { name: 'udmabuf', kind: 'udmabuf', ctx: {}, available: () => (udmabuf.available() ? true : 'no /dev/udmabuf') },
  {
    name: 'heap:system', kind: 'heap', contiguous: false, ctx: {},
    available: () => heapAvailable((n) => n === 'system'),
    done: (ctx) => { ctx.heap?.close(); ctx.heap = undefined; },
  },
  {
    name: 'heap:cma', kind: 'heap', contiguous: true, optional: true, ctx: {},
    available: () => heapAvailable((_n, c) => c),
    done: (ctx) => { ctx.heap?.close(); ctx.heap = undefined; },
  },
  {
    name: 'drm:vgem (dumb + PRIME export)', kind: 'vgem', ctx: {},
    available: () => {
      try {
        drm.open({ driver: 'vgem' }).close();
        return true;
      } catch (e) {
        return (e as Error).message;
      }
    },
    done: (ctx) => { ctx.dev?.close(); ctx.dev = undefined; },
  },
];

/** One cycle: allocate SIZE bytes, map, write under SYNC, read under SYNC, unmap, close. */
export function cycle(p: (typeof providers)[number], ctx: SoakProvider['ctx'], i: number): void {
  let buf;
  let bo;
  if (p.kind === 'udmabuf') {
    buf = udmabuf.create(SIZE);
  } else if (p.kind === 'heap') {
    ctx.heap ??= p.contiguous ? heaps.find({ contiguous: true })! : heaps.open('system');
    buf = ctx.heap.allocate(SIZE);
  } else {
    ctx.dev ??= drm.open({ driver: 'vgem' });
    bo = ctx.dev.createDumb({ width: 128, height: SIZE / 512, bpp: 32 });
    buf = bo.export();
  }
  try {
    const m = buf.map();
    buf.access('write', (bytes) => { bytes[0] = i & 255; bytes[SIZE - 1] = 0xa5; });
    const back = buf.access('read', (bytes) => bytes[0]! + bytes[SIZE - 1]!);
    if (back !== (i & 255) + 0xa5) throw new Error(`${p.name}: read back ${back} in cycle ${i}`);
    m.unmap();
  } finally {
    buf.close();
    bo?.destroy();
  }
}
