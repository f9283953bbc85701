/**
 * The exporter layer, worked through (`node dist/examples/exporter.js`): attach the CPU and a DRM device
 * before any memory exists, let the first map pick the backing, map and unmap many times without a
 * syscall, then attach a display that needs a scanout layout and watch the buffer move.
 * Runs on the kernel when it has dma-heaps/udmabuf and DRM, else on the mock (and says so).
 */
import { probe, setBackend, drm, Exporter, type Device } from '../src/index';

function line(s = ''): void {
  process.stdout.write(`${s}\n`);
}

function main(): void {
  let p = probe();
  if (p.backend === 'native' && !(p.heaps.available || p.udmabuf.available) && process.env.DMABUF_BACKEND !== 'native') {
    setBackend('mock');
    p = probe();
    line('(this kernel has no dma-heap or udmabuf: running on the MOCK backend)');
  }
  if (!(p.heaps.available || p.udmabuf.available)) {
    // DMABUF_BACKEND=native forced on a kernel without providers: nothing to show
    line(`skipped: no dma-heap or udmabuf on this kernel (${p.heaps.reason ?? ''}; ${p.udmabuf.reason ?? ''})`);
    return;
  }
  line(`backend ${p.backend}, kernel ${p.kernel ?? 'unknown'}`);
  const cards = drm.list().filter((d) => d.kind === 'card' && d.dumbBuffers);
  const importerInfo = cards.find((d) => d.driver === 'vgem') ?? cards[0];
  const displayInfo = cards.find((d) => d.driver === 'vkms') ?? cards.find((d) => d !== importerInfo);
  const importer: Device | undefined = importerInfo && drm.open(importerInfo.path);
  const display: Device | undefined = displayInfo && drm.open(displayInfo.path);

  const size = 640 * 480 * 4;
  const providers: (string | Device)[] = ['heap:system', 'udmabuf'];
  if (display) providers.push(display);
  using exp = new Exporter({ size, providers, name: 'example-frame' });
  exp.on('allocate', (b) => line(`  allocate: ${b.provider} (${b.reason})`));
  exp.on('move', (m) => line(`  move: ${m.from.provider} → ${m.to.provider} because ${m.reason}`));

  line('\n1. attach first: nothing is allocated yet');
  const cpu = exp.attach('cpu');
  const gpu = importer ? exp.attach(importer) : undefined;
  line(`  attachments: ${exp.attachments.map((a) => a.device?.driver ?? a.kind).join(', ')}; backing: ${exp.backing?.provider ?? 'none'}`);

  line('\n2. the first map allocates backing every attachment can use');
  const first = cpu.map();
  first.mapping.bytes.fill(0x42);
  cpu.unmap(first);
  if (gpu) line(`  ${gpu.device!.driver} imported it as GEM handle ${gpu.map().handle.handle}`);
  gpu?.unmap();

  line('\n3. map/unmap again and again: the same mapping, no syscall');
  for (let i = 0; i < 1000; i++) {
    const m = cpu.map();
    if (m.mapping !== first.mapping) throw new Error('a new mapping was made');
    cpu.unmap(m);
  }
  const s = exp.stats();
  line(`  hits ${s.hits}, misses ${s.misses}, syscalls ${s.syscalls}, syscalls saved ${s.syscallsSaved}`);

  if (display) {
    line(`\n4. a display (${display.driver}) attaches late and needs a 640x480x32 scanout layout`);
    exp.attach(display, { layout: { width: 640, height: 480, bpp: 32 } });
    const again = cpu.map();
    line(`  the CPU's next map: moved=${again.moved}, contents kept=${again.mapping.bytes[size - 1] === 0x42}`);
    cpu.unmap(again);
  }

  line(`\nbacking: ${exp.backing!.provider}, ${exp.backing!.size} bytes, kernel attachments: ${exp.backing!.kernelAttachments.join(', ') || 'none'}`);
  line(`stats: ${JSON.stringify(exp.stats(), (_k, v) => (typeof v === 'bigint' ? String(v) : v))}`);
  exp.close();
  importer?.close();
  display?.close();
}

main();
