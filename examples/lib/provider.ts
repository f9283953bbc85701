/**
 * For the examples that share buffers between processes: pick a provider of real kernel dma-bufs
 * (udmabuf, else the system heap, else a DRM dumb buffer exported with PRIME), or say why there is
 * none. The mock never qualifies: its fds are not kernel fds and cannot reach another process.
 */
import { drm, getBackend, heaps, probe, udmabuf, type DmaBuf } from '../../src/index';

export interface Provider {
  label: string;
  /** A new buffer of at least `size` bytes, named `name` where the provider allows names. */
  make(size: number, name: string): DmaBuf;
}

export type Choice = { provider: Provider } | { skip: string };

export function chooseProvider(): Choice {
  if (getBackend().name === 'mock') {
    return { skip: "the mock backend's fds are not kernel fds and cannot be passed to another process (run on Linux with the native addon, e.g. npm run vm -- node ...)" };
  }
  const p = probe();
  if (p.udmabuf.available) {
    return { provider: { label: 'udmabuf', make: (size, name) => udmabuf.create(size, { name }) } };
  }
  if (p.heaps.list.some((h) => h.name === 'system')) {
    return {
      provider: {
        label: 'dma-heap system',
        make: (size, name) => {
          using heap = heaps.open('system');
          return heap.allocate(size, { name });
        },
      },
    };
  }
  const card = p.drm.devices.find((d) => d.kind === 'card' && d.dumbBuffers && d.primeExport);
  if (card) {
    return {
      provider: {
        label: `${card.driver} dumb buffer (PRIME export)`,
        make: (size, name) => {
          using dev = drm.open(card.path);
          using bo = dev.createDumb({ width: 1024, height: Math.ceil(size / 4096), bpp: 32 });
          const buf = bo.export();
          buf.setName(name);
          return buf;
        },
      },
    };
  }
  const why = [p.udmabuf, p.heaps, p.drm].map((s) => s.reason).filter(Boolean).join('; ');
  return { skip: `no dma-buf provider on this machine (${why}); \`npx dmabuf probe\` says how to get one` };
}

/** Print the reason and end successfully: the example cannot run here, and does not pretend. */
export function skip(reason: string): void {
  process.stdout.write(`skipped: ${reason}\n`);
  process.exitCode = 0;
}
