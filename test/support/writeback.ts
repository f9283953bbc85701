/**
 * Pictures read back through vkms's writeback connector: a Display that can write back, and 32-bit
 * pixels painted into and read out of single-plane frames (XRGB8888, ARGB8888).
 */
import assert from 'node:assert/strict';
import { Display, type Device, type Frame } from '../../src/index';

/**
 * A Display that can write back a width×height picture: on Virtual-1 where the writeback connector
 * can share its CRTC (vkms from 6.13), else on the writeback connector itself in that mode.
 */
export function openWriteback(dev: Device, width: number, height: number): Display {
  const d = Display.open(dev, { atomic: true, writeback: true });
  const wb = d.writebackConnector;
  assert.ok(wb !== null, 'vkms has a writeback connector for the CRTC');
  if (wb.clones && d.mode.width === width && d.mode.height === height) return d;
  const connector = wb.clones ? d.connector.name : wb.name;
  d.close();
  return Display.open(dev, { atomic: true, writeback: true, connector, mode: { width, height } });
}

/** Fill a frame's single plane: fn(x, y) gives the 32-bit pixel (little-endian B, G, R, A/X). */
export function paint(frame: Frame, fn: (x: number, y: number) => number): void {
  frame.access('write', ([bytes]) => {
    const p = frame.planes[0]!;
    const dv = new DataView(bytes!.buffer, bytes!.byteOffset, bytes!.byteLength);
    for (let y = 0; y < frame.height; y++) {
      for (let x = 0; x < frame.width; x++) dv.setUint32(y * p.pitch + x * 4, fn(x, y) >>> 0, true);
    }
  });
}

/** A frame's pixels as 32-bit values, row by row without padding. */
export function pixels(frame: Frame): Uint32Array {
  const out = new Uint32Array(frame.width * frame.height);
  frame.access('read', ([bytes]) => {
    const p = frame.planes[0]!;
    const dv = new DataView(bytes!.buffer, bytes!.byteOffset, bytes!.byteLength);
    for (let y = 0; y < frame.height; y++) {
      for (let x = 0; x < frame.width; x++) out[y * frame.width + x] = dv.getUint32(y * p.pitch + x * 4, true);
    }
  });
  return out;
}
