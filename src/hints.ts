/**
 * What to tell a user when a device is missing or not permitted: module to load, group to join,
 * a udev rule. Used by errors (as `hint`) and by probe().
 */

import type { Backend } from './backend/types';

type Iface = 'udmabuf' | 'heap' | 'drm' | 'sw_sync';

const MISSING: Record<Iface, string> = {
  udmabuf: 'load the udmabuf module (sudo modprobe udmabuf); it needs a kernel with CONFIG_UDMABUF (4.20+)',
  heap: 'the kernel has no dma-heaps here: it needs CONFIG_DMABUF_HEAPS with CONFIG_DMABUF_HEAPS_SYSTEM (5.6+), or CONFIG_DMABUF_HEAPS_CMA and cma=<size> on the kernel command line for a contiguous heap',
  drm: 'no DRM device: load a driver (e.g. sudo modprobe vgem, or vkms for a virtual display)',
  sw_sync: 'sw_sync needs CONFIG_SW_SYNC and debugfs mounted at /sys/kernel/debug (root)',
};

const RULES: Record<Iface, string> = {
  udmabuf: 'KERNEL=="udmabuf", GROUP="video", MODE="0660"',
  heap: 'SUBSYSTEM=="dma_heap", GROUP="video", MODE="0660"',
  drm: 'SUBSYSTEM=="drm", KERNEL=="card*|renderD*", GROUP="video", MODE="0660"',
  sw_sync: '',
};

const PERMISSION: Record<Iface, string> = {
  udmabuf: `join the group that owns /dev/udmabuf, or add a udev rule (/etc/udev/rules.d/70-dmabuf.rules): ${RULES.udmabuf}`,
  heap: `join the group that owns /dev/dma_heap/*, or add a udev rule (/etc/udev/rules.d/70-dmabuf.rules): ${RULES.heap}`,
  drm: `join the 'video' (cards) or 'render' (render nodes) group, or add a udev rule: ${RULES.drm}`,
  sw_sync: 'debugfs files need root',
};

export function deviceHint(iface: Iface, code: string | undefined): string | undefined {
  if (code === 'ENOENT' || code === 'ENODEV' || code === 'ENXIO') return MISSING[iface];
  if (code === 'EACCES' || code === 'EPERM') return PERMISSION[iface];
  return undefined;
}

export function udevRule(iface: Iface): string {
  return RULES[iface];
}

/**
 * ENOMEM from a call that makes a sync file is also the kernel's answer when the system's open-file
 * table is full (sync_file_alloc returns NULL whatever failed): say so when fs.file-nr shows it full.
 */
export function fileTableHint(backend: Backend, code: string | undefined): string | undefined {
  if (code !== 'ENOMEM') return undefined;
  try {
    const [open, , max] = backend.readTextFile('/proc/sys/fs/file-nr').trim().split(/\s+/).map(Number);
    if (open !== undefined && max !== undefined && open >= max) {
      return `the system's open-file table is full (${open} open, fs.file-max ${max}): the kernel reports that as ENOMEM here`;
    }
  } catch (e) {
    // reading it needs a file too: ENFILE says the same
    if ((e as { code?: string }).code === 'ENFILE') {
      return 'the system\'s open-file table is full (fs.file-max; even /proc/sys/fs/file-nr cannot be opened): the kernel reports that as ENOMEM here';
    }
  }
  return undefined;
}
