/**
 * The frame providers every frame test runs over: udmabuf, the system heap, a CMA heap where the
 * kernel has one, and vgem dumb buffers. Each case skips with its reason where the provider cannot
 * exist (and fails in the VM where it must).
 */
import { heaps, type FrameProvider } from '../../src/index';
import { CMA_HEAP_NAMES } from '../../src/heap';
import { drmDevices, inVm, needsHeap, needsUdmabuf } from './index';

export interface ProviderCase {
  label: string;
  need: (ctx: Mocha.Context) => FrameProvider;
}

export const PROVIDERS: ProviderCase[] = [
  { label: 'udmabuf', need: (ctx) => { needsUdmabuf(ctx); return 'udmabuf'; } },
  { label: 'heap:system', need: (ctx) => { needsHeap(ctx, 'system'); return 'heap:system'; } },
  {
    label: 'a CMA heap', need: (ctx) => {
      const cma = heaps.list().find((h) => CMA_HEAP_NAMES.includes(h.name));
      if (!cma) {
        // the VM runner says which kernels have none (stock trixie); anywhere else in the VM it must be there
        if (inVm && process.env.DMABUF_VM_CMA !== '0') throw new Error('no CMA heap in the VM, where this kernel has one');
        ctx.test!.title += ` (skipped: no CMA heap on this kernel${inVm ? ': the VM runner reports it unavailable' : ''})`;
        return ctx.skip() as never;
      }
      return `heap:${cma.name}`;
    },
  },
  {
    label: 'vgem dumb buffers', need: (ctx) => {
      const v = drmDevices().find((d) => d.driver === 'vgem' && d.kind === 'card');
      if (!v) {
        if (inVm) throw new Error('no vgem card in the VM');
        ctx.test!.title += ' (skipped: no vgem card)';
        return ctx.skip() as never;
      }
      return `drm:${v.path}`;
    },
  },
];

