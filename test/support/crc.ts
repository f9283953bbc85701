/**
 * vkms's CRC of the composed picture (debugfs: /sys/kernel/debug/dri/<minor>/crtc-0/crc/): after
 * writing 'auto' to control, opening data starts a capture, and each read gives one
 * "0x<frame> 0x<crc>" entry, frame being the CRTC's vblank counter (the counter a flip's event
 * reports). Equal pictures give equal CRCs whatever buffer, pitch or provider they came from, which
 * is how a test proves what is on screen.
 *
 * vkms composes off the vblank, and under software emulation a YUV composition can take longer than
 * many vblanks: entries then repeat the last CRC, and a capture that stays open holds a backlog of
 * old ones. So each reading opens a fresh capture and waits for an entry of a vblank after the flip
 * that put the picture up: that entry was composed from the new state.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import type { Device, Display, Framebuffer } from '../../src/index';
import { isMock, skip } from './index';

/** How long a reading may take: vkms's NV12 composition of 640x480 takes seconds under qemu's TCG. */
const DEADLINE_MS = 60_000;

export interface CrcReader {
  /** Put fb on screen (show() the first time, then flips) and read the CRC of the picture. */
  show(display: Display, fb: Framebuffer): Promise<string>;
  close(): void;
}

/** The CRC reader of the device's first CRTC; skips (fails in the VM) when there is none. */
export function vkmsCrc(ctx: Mocha.Context, dev: Device): CrcReader {
  if (isMock()) {
    ctx.test!.title += ' (skipped: the mock does not model vkms\'s CRC)';
    ctx.skip();
  }
  const minor = Number(/card(\d+)$/.exec(dev.path)?.[1]);
  const dir = `/sys/kernel/debug/dri/${minor}`;
  let name = '';
  try {
    name = fs.readFileSync(`${dir}/name`, 'utf8');
  } catch { /* no debugfs */ }
  if (!name.startsWith('vkms') || !fs.existsSync(`${dir}/crtc-0/crc/data`)) {
    skip(ctx, `no vkms CRC in ${dir}: needs debugfs and root`);
  }
  let fd = -1;
  const close = (): void => {
    if (fd >= 0) fs.closeSync(fd);
    fd = -1;
  };
  const buf = Buffer.alloc(256);
  /** The first CRC of a vblank after `sequence`, from a fresh capture. */
  const after = async (sequence: number): Promise<string> => {
    close();
    // a capture needs an active CRTC (EIO otherwise): the caller has shown something
    fs.writeFileSync(`${dir}/crtc-0/crc/control`, 'auto');
    fd = fs.openSync(`${dir}/crtc-0/crc/data`, 'r');
    const deadline = Date.now() + DEADLINE_MS;
    for (;;) {
      const n = await new Promise<number>((res, rej) => fs.read(fd, buf, 0, buf.length, null, (e, k) => (e ? rej(e) : res(k))));
      const line = buf.subarray(0, n).toString();
      const m = /0x([0-9a-f]+)\s+0x([0-9a-f]+)/.exec(line);
      assert.ok(m, `a CRC line: ${JSON.stringify(line)}`);
      if (Number.parseInt(m[1]!, 16) > sequence) return m[2]!;
      assert.ok(Date.now() < deadline, `no CRC of a vblank after ${sequence} within ${DEADLINE_MS} ms (last: ${line.trim()})`);
    }
  };
  return {
    async show(display: Display, fb: Framebuffer): Promise<string> {
      // a flip (to fb again after a show) reports the vblank from which fb is on screen
      if (display.current === null || display.current.format !== fb.format) display.show(fb);
      const { sequence } = await display.flip(fb);
      return after(sequence);
    },
    close,
  };
}
