/**
 * For the examples (and the pipeline bench) that compare pictures: the RGB of a frame's pixels, and
 * the PSNR of two of them.
 */
import type { Frame } from '../../src/index';

/** RGB of the top-left width × height pixels of an XRGB8888 frame, row by row (its pitch skipped). */
export function rgb(frame: Frame, width: number, height: number): Uint8Array {
  const out = new Uint8Array(width * height * 3);
  frame.access('read', ([bytes]) => {
    const pitch = frame.planes[0]!.pitch;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) for (let c = 0; c < 3; c++) out[(y * width + x) * 3 + c] = bytes![y * pitch + 4 * x + c]!;
    }
  });
  return out;
}

/** Peak signal-to-noise ratio of two pictures of 8-bit samples, in dB (Infinity when equal). */
export function psnr(a: Uint8Array, b: Uint8Array): number {
  let se = 0;
  for (let i = 0; i < a.length; i++) se += (a[i]! - b[i]!) ** 2;
  return se === 0 ? Infinity : 10 * Math.log10((255 * 255) / (se / a.length));
}
