/**
 * `dmabuf probe`: what this machine offers, per interface, and for what is missing or not permitted,
 * why and how to fix it (from the library's probe() and its hints).
 */
import { probe, type ProbeResult, type InterfaceStatus } from '../index';
import { formatBytes, table } from './table';

export function probeReport(): ProbeResult {
  return probe();
}

function verdict(s: InterfaceStatus, detail: string): string {
  return s.available ? `yes  ${detail}`.trimEnd() : `no   ${s.reason ?? ''}`.trimEnd();
}

function fix(s: InterfaceStatus): string[] {
  return !s.available && s.hint ? [`${' '.repeat(17)}fix: ${s.hint}`] : [];
}

export function renderProbe(p: ProbeResult): string {
  const out: string[] = [];
  if (p.backend === 'none') {
    out.push(`dmabuf probe — no backend (${p.backendReason}), kernel ${p.kernel ?? 'unknown'}`);
    out.push(`  native addon: ${p.nativeError ?? ''}`);
    out.push(`  fix: ${p.udmabuf.hint ?? ''}`);
    return `${out.join('\n')}\n`;
  }
  out.push(`dmabuf probe — ${p.backend} backend (${p.backendReason}), kernel ${p.kernel ?? 'unknown'}, page size ${p.pageSize}`);
  if (p.nativeError) out.push(`  native addon: ${p.nativeError}`);
  if (p.backend === 'mock') out.push('  (the mock is a software model: what it offers is not what this kernel offers)');
  out.push('');

  const lim = p.udmabuf.limits;
  const limits = [
    lim.sizeLimit !== undefined ? `size limit ${formatBytes(lim.sizeLimit)}` : '',
    lim.listLimit !== undefined ? `list limit ${lim.listLimit} entries` : '',
  ].filter(Boolean).join(', ');
  out.push(`udmabuf     ${verdict(p.udmabuf, `/dev/udmabuf${limits ? `: ${limits}` : ''}`)}`, ...fix(p.udmabuf));

  out.push(`dma-heaps   ${verdict(p.heaps, p.heaps.list.map((h) => h.name).join(', '))}`, ...fix(p.heaps));
  if (p.heaps.list.length > 0) {
    out.push(table([{ header: 'HEAP' }, { header: 'PATH' }, { header: 'CONTIGUOUS' }, { header: 'CACHED' }],
      p.heaps.list.map((h) => [h.name, h.path, h.contiguous ? 'yes' : 'no', h.cached ? 'yes' : 'no']), '            '));
  }

  out.push(`DRM         ${verdict(p.drm, `${p.drm.devices.length} node${p.drm.devices.length === 1 ? '' : 's'}`)}`, ...fix(p.drm));
  if (p.drm.devices.length > 0) {
    const yn = (b: boolean): string => (b ? 'yes' : 'no');
    out.push(table([{ header: 'NODE' }, { header: 'KIND' }, { header: 'DRIVER' }, { header: 'DUMB' }, { header: 'PRIME IMPORT' },
      { header: 'PRIME EXPORT' }, { header: 'NOTE' }],
    p.drm.devices.map((d) => d.error !== undefined
      ? [d.path, d.kind, '?', '?', '?', '?', d.error]
      : [d.path, d.kind, d.driver, yn(d.dumbBuffers), yn(d.primeImport), yn(d.primeExport),
        d.kind === 'render' && !d.dumbBuffers ? 'dumb buffers need the card node' : '']), '            '));
  }

  out.push(`V4L2        ${verdict(p.video, `${p.video.devices.length} node${p.video.devices.length === 1 ? '' : 's'}`)}`, ...fix(p.video));
  if (p.video.devices.length > 0) {
    const q = (x: { multiplanar: boolean; dmabuf: boolean | null } | null): string =>
      x === null ? '-' : `${x.multiplanar ? 'mplane' : 'single'}${x.dmabuf === null ? ', dma-buf ?' : x.dmabuf ? ', dma-buf' : ''}`;
    out.push(table([{ header: 'NODE' }, { header: 'DRIVER' }, { header: 'BUS' }, { header: 'CAPTURE' }, { header: 'OUTPUT' },
      { header: 'NOTE' }],
    p.video.devices.map((d) => d.error !== undefined ? [d.path, '?', '?', '?', '?', d.error]
      : [d.path, d.driver, d.bus, q(d.capture), q(d.output), d.m2m ? 'memory-to-memory' : '']), '            '));
  }

  out.push(`sync files  ${verdict(p.syncFile, 'DMA_BUF_IOCTL_EXPORT/IMPORT_SYNC_FILE')}`, ...fix(p.syncFile));
  return `${out.join('\n')}\n`;
}
