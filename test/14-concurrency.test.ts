/**
 * Concurrency (docs/conformance.md C41, after Android's libdmabufheap test): at least 100 allocate →
 * map → SYNC → write/verify → close tasks in flight at once, spread over 8 worker threads (each its own
 * addon instance) with the SYNC bracketing on the thread pool. All must succeed and leave no fd.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { heaps, udmabuf } from '../src/index';
import { backend, inVm, isNative, openFdCount } from './support/index';

const WORKERS = 8;
const TASKS_PER_WORKER = 13; // 104 in flight

const workerCode = `
const { parentPort, workerData } = require('node:worker_threads');
const d = require(workerData.index);
async function task(i) {
  let buf;
  if (workerData.provider === 'heap') { const h = d.heaps.open('system'); try { buf = h.allocate(65536); } finally { h.close(); } }
  else buf = d.udmabuf.create(65536);
  try {
    const tag = (workerData.id * 1000 + i) & 0xff;
    await buf.accessAsync('write', (bytes) => { bytes.fill(tag); });
    const ok = await buf.accessAsync('read', (bytes) => bytes.every((x) => x === tag));
    if (!ok) throw new Error('pattern mismatch');
    return 1;
  } finally { buf.close(); }
}
Promise.all(Array.from({ length: workerData.tasks }, (_, i) => task(i)))
  .then((r) => parentPort.postMessage({ ok: r.length }))
  .catch((e) => parentPort.postMessage({ error: String(e && e.code) + ' ' + String(e && e.message) }));
`;

describe('concurrency (C41)', function () {
  it(`${WORKERS * TASKS_PER_WORKER} alloc/map/sync/close tasks at once over ${WORKERS} worker threads`, async function () {
    const provider = heaps.list().some((h) => h.name === 'system') ? 'heap' : udmabuf.available() ? 'udmabuf' : undefined;
    if (!provider) {
      if (inVm) assert.fail('the VM has no system heap or udmabuf');
      this.test!.title += ` (skipped: no system heap or udmabuf on the ${backend().name} backend)`;
      this.skip();
    }
    const before = isNative() ? openFdCount() : 0;
    const index = path.resolve(__dirname, '..', 'src', 'index.js');
    const results = await Promise.all(Array.from({ length: WORKERS }, (_, id) => new Promise<{ ok?: number; error?: string }>((resolve, reject) => {
      const w = new Worker(workerCode, { eval: true, workerData: { index, id, tasks: TASKS_PER_WORKER, provider } });
      let msg: { ok?: number; error?: string } = { error: 'the worker exited without an answer' };
      w.once('message', (m) => { msg = m as { ok?: number; error?: string }; });
      w.once('error', reject);
      w.once('exit', () => resolve(msg)); // after its environment (and the addon's fds) is torn down
    })));
    for (const r of results) assert.equal(r.error, undefined, r.error);
    assert.equal(results.reduce((n, r) => n + (r.ok ?? 0), 0), WORKERS * TASKS_PER_WORKER);
    if (isNative()) assert.equal(openFdCount(), before, 'no fd left behind');
  });
});
