/**
 * The tour (`npm start`): the main job end to end on whatever this machine offers — allocate from each
 * provider, write and read through zero-copy mappings with CPU access bracketed, name buffers, hand a
 * buffer to a DRM device and back, and to a child process. Without kernel support it runs on the mock
 * and says so first. `npm run vm -- npm start` shows it on a real kernel.
 */
import { spawnSync } from 'node:child_process';
import { probe, setBackend, udmabuf, heaps, drm, DmaBuf, Exporter, type Device } from '../src/index';

// `npm start | head` closes stdout early: stop quietly instead of an EPIPE stack trace
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

function line(s = ''): void {
  process.stdout.write(`${s}\n`);
}

function main(): void {
  let p = probe();
  const nothing = !p.udmabuf.available && !p.heaps.available && !p.drm.available;
  if (p.backend === 'native' && nothing && process.env.DMABUF_BACKEND !== 'native') {
    setBackend('mock');
    const why = `this kernel (${p.kernel ?? 'unknown'}) offers no udmabuf, dma-heap or DRM device`;
    p = probe();
    line(`dmabuf tour — on the MOCK backend: ${why}. Run \`npm run vm -- npm start\` to see a real kernel.`);
  } else {
    line(`dmabuf tour — on the ${p.backend.toUpperCase()} backend (${p.backendReason}), kernel ${p.kernel ?? 'unknown'}`);
  }
  line();
  line('What this machine offers:');
  line(`  udmabuf   ${p.udmabuf.available ? `yes (limit ${(p.udmabuf.limits.sizeLimit ?? 0) / 1048576} MiB, ${p.udmabuf.limits.listLimit} entries)` : `no: ${p.udmabuf.reason} — ${p.udmabuf.hint}`}`);
  line(`  dma-heaps ${p.heaps.available ? p.heaps.list.map((h) => `${h.name}${h.contiguous ? ' (contiguous)' : ''}`).join(', ') : `no: ${p.heaps.reason}`}`);
  line(`  DRM       ${p.drm.available ? p.drm.devices.map((d) => `${d.path} ${d.driver}`).join(', ') : `no: ${p.drm.reason}`}`);
  line();

  const made: Array<{ label: string; buf: DmaBuf }> = [];
  if (p.udmabuf.available) made.push({ label: 'udmabuf', buf: udmabuf.create(1 << 20, { name: 'tour-udmabuf' }) });
  for (const h of p.heaps.list) {
    try {
      using heap = heaps.open(h.name);
      made.push({ label: `heap ${h.name}`, buf: heap.allocate(1 << 20, { name: `tour-${h.name}`.slice(0, 31) }) });
    } catch (e) {
      line(`  heap ${h.name}: ${(e as Error).message}`);
    }
  }
  const card = p.drm.devices.find((d) => d.kind === 'card' && d.dumbBuffers);
  if (card) {
    using dev = drm.open(card.path);
    using bo = dev.createDumb({ width: 512, height: 512, bpp: 32 });
    line(`Dumb buffer on ${card.driver}: 512x512x32, pitch ${bo.pitch}, ${bo.size} bytes`);
    made.push({ label: `${card.driver} dumb (PRIME export)`, buf: bo.export() });
  }

  line('Allocate, write and read through zero-copy views (CPU access bracketed with DMA_BUF_IOCTL_SYNC):');
  for (const { label, buf } of made) {
    const text = `hello from ${label}`;
    buf.access('write', (bytes) => bytes.set(Buffer.from(text)));
    const back = buf.access('read', (bytes) => Buffer.from(bytes.subarray(0, text.length)).toString());
    const info = buf.info();
    line(`  ${label.padEnd(28)} ${String(buf.size).padStart(8)} B  exporter=${info.exporter.padEnd(10)} name=${info.name ?? '-'}  read back: "${back}"`);
  }
  line();

  const vgem = p.drm.devices.find((d) => d.kind === 'card' && d.driver === 'vgem') ?? card;
  if (vgem && made.length > 0) {
    using dev = drm.open(vgem.path);
    line(`Hand buffers to ${vgem.driver} (PRIME import; the same buffer twice gives the same GEM handle):`);
    for (const { label, buf } of made) {
      try {
        using a = dev.import(buf);
        using b = dev.import(buf);
        line(`  ${label.padEnd(28)} handle ${a.handle} (again: ${b.handle}, references ${dev.handles.get(a.handle)})`);
      } catch (e) {
        line(`  ${label.padEnd(28)} refused: ${(e as Error).message}`);
      }
    }
    line();
  }

  if (p.udmabuf.available || p.heaps.available) showExporter(vgem?.path);

  if (made.length > 0 && p.backend === 'native') {
    const { label, buf } = made[0]!;
    line(`Hand the ${label} buffer to a child process (inherited as fd 3):`);
    const script = `const { DmaBuf } = require(${JSON.stringify(require.resolve('../src/index'))});
      const b = DmaBuf.fromFd(3); const s = b.access('read', (x) => Buffer.from(x.subarray(0, 40)).toString().replace(/\\0.*$/s, ''));
      console.log('  child ' + process.pid + ' sees ' + b.size + ' bytes, inode ' + b.inode + ': "' + s + '"'); b.close();`;
    const r = spawnSync(process.execPath, ['-e', script], { stdio: ['ignore', 'inherit', 'inherit', buf.fd] });
    if (r.status !== 0) line(`  child failed (${r.status})`);
    line();
  }

  for (const { buf } of made) buf.close();
  line(`Done: ${made.length} buffer(s) allocated, shared and closed.`);
}

/** The exporter: attach first, allocate at the first map, then map/unmap from kept mappings. */
function showExporter(importerPath: string | undefined): void {
  const dev: Device | undefined = importerPath ? drm.open(importerPath) : undefined;
  try {
    using exp = new Exporter({ size: 1 << 20, providers: ['heap:system', 'udmabuf'], name: 'tour-exporter' });
    const cpu = exp.attach('cpu');
    const gpu = dev ? exp.attach(dev) : undefined;
    for (let i = 0; i < 1000; i++) {
      cpu.unmap(cpu.map());
      if (gpu) gpu.unmap(gpu.map());
    }
    const st = exp.stats();
    line('Exporter: attach first, allocate at the first map, hand kept mappings out again:');
    line(`  backing ${st.provider} (${st.reason})`);
    for (const a of exp.attachments) {
      line(`  attachment ${a.id}: ${a.kind === 'cpu' ? 'cpu' : `${a.device?.driver} ${a.device?.path}`}, mapped ${a.mapped}, since ${a.attachedAt.toISOString()}`);
    }
    const cycles = gpu ? 2000 : 1000;
    line(`  ${cycles} map/unmap cycles: ${st.hits} hits, ${st.misses} misses, ${st.syscalls} syscalls made, ${st.syscallsSaved} saved`);
    line();
  } finally {
    dev?.close();
  }
}

main();
