#!/usr/bin/env node
'use strict';
// Builds test/fixtures/vivid-rows.json, the reference test/25-vivid-pattern compares the mock's
// pattern generator with, from frames captured from vivid in the VM:
//   node test/tools/vivid-fixture.js KERNEL=CAPTURES.jsonl [KERNEL=CAPTURES.jsonl ...] > test/fixtures/vivid-rows.json
// Each capture line is one frame, taken with
//   v4l2-ctl -d DEV -v width=640,height=360,pixelformat=FMT --set-ctrl=test_pattern=P,osd_text_mode=2 \
//     --stream-mmap --stream-count=1 --stream-to=FILE
// (the webcam input, sRGB, every other control at its default) and written as JSON: dev, fmt, pattern,
// info (v4l2-ctl --get-fmt-video, lines joined by '|'), bytes (the file's length), bpl (the first
// bytesperline), sha1 (of the file), rows ({ row: [byte, count, byte, count, ...] } for a few rows, the
// file cut into lines of bpl bytes). For a multi-planar format v4l2-ctl writes each plane from its data
// offset to its bytesused, one after the other.
// The fixture keeps, for each (node, format, pattern): the kernels it was captured on (once at the
// top when every frame was the same on every kernel), the file's length and sha1, the length of the
// lines its rows are cut into, the planes' bytesperline and sizeimage as G_FMT gave them (sizeimage
// includes a data offset; G_FMT does not say the offset itself), and the rows, each an index into a
// table of distinct rows. A row is written as runs [count, b0, b1, ...]: the bytes b0... repeated
// count times. Frames that differ between kernels are kept once per kernel.
const fs = require('fs');

function unrle(r) {
  const out = [];
  for (let i = 0; i < r.length; i += 2) for (let k = 0; k < r[i + 1]; k++) out.push(r[i]);
  return out;
}

/** runs of a repeated group of 1 to 4 bytes, the group size that gives the fewest numbers */
function runs(bytes) {
  let best = null;
  for (let g = 1; g <= 4; g++) {
    if (bytes.length % g !== 0) continue;
    const out = [];
    for (let i = 0; i < bytes.length; i += g) {
      const unit = bytes.slice(i, i + g);
      const last = out[out.length - 1];
      if (last && last.length === g + 1 && unit.every((b, k) => b === last[k + 1])) last[0]++;
      else out.push([1, ...unit]);
    }
    const size = out.reduce((n, r) => n + r.length, 0);
    if (best === null || size < best.size) best = { size, out };
  }
  return best.out;
}

/** the planes' bytesperline and sizeimage, from v4l2-ctl's --get-fmt-video */
function planes(info) {
  const bpl = [...info.matchAll(/Bytes per Line\s*:\s*(\d+)/g)].map((m) => +m[1]);
  const sizeimage = [...info.matchAll(/Size Image\s*:\s*(\d+)/g)].map((m) => +m[1]);
  return { bpl, sizeimage };
}

const table = [];
const index = new Map();
const frames = new Map();
for (const arg of process.argv.slice(2)) {
  const eq = arg.indexOf('=');
  const kernel = arg.slice(0, eq);
  for (const line of fs.readFileSync(arg.slice(eq + 1), 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    const c = JSON.parse(line);
    if (c.error) throw new Error(`${kernel}: ${c.dev} ${c.fmt} ${c.pattern}: v4l2-ctl failed`);
    const rows = {};
    for (const [r, rle] of Object.entries(c.rows)) {
      const enc = JSON.stringify(runs(unrle(rle)));
      if (!index.has(enc)) {
        index.set(enc, table.length);
        table.push(JSON.parse(enc));
      }
      rows[r] = index.get(enc);
    }
    const p = planes(c.info);
    const frame = { node: c.dev, fmt: c.fmt, pattern: c.pattern, bytes: c.bytes, rowBytes: c.bpl,
      bytesperline: p.bpl, sizeimage: p.sizeimage, sha1: c.sha1, rows };
    const key = JSON.stringify(frame);
    const f = frames.get(key);
    if (f) f.kernels.push(kernel);
    else frames.set(key, { kernels: [kernel], ...frame });
  }
}
// the kernels once when every frame was the same on all of them
let list = [...frames.values()];
const all = JSON.stringify(list[0].kernels);
const common = list.every((f) => JSON.stringify(f.kernels) === all);
if (common) list = list.map(({ kernels, ...f }) => f);
// one frame a line, the table of rows one row a line: small diffs when captures are added
const lines = (xs) => xs.map((x) => JSON.stringify(x)).join(',\n');
const head = common ? `"kernels": ${all},\n` : '';
process.stdout.write(`{${head}"rows": [\n${lines(table)}\n],\n"frames": [\n${lines(list)}\n]}\n`);
