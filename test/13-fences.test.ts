/**
 * Fences: a sync file imported from an unsignalled sw_sync
 * fence makes idle() wait, SYNC_START block, and the async API keeps the event loop running.
 */
import assert from 'node:assert/strict';
import { heaps, udmabuf, DmaBuf, constants as C } from '../src/index';
import { backend, needsSwSync, needsUdmabuf, PAGE } from './support/index';
import { Timeline } from './support/fences';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function makeBuffer(ctx: Mocha.Context): DmaBuf {
  if (heaps.list().some((h) => h.name === 'system')) {
    using h = heaps.open('system');
    return h.allocate(PAGE());
  }
  needsUdmabuf(ctx);
  return udmabuf.create(PAGE());
}

describe('fences (sw_sync)', function () {
  beforeEach(function () {
    needsSwSync(this);
  });

  it('a sw_sync fence is a sync file that signals when the timeline advances', async function () {
    using tl = new Timeline();
    using f = tl.fence();
    assert.equal(f.signaled, false);
    assert.equal(f.info().status, 0);
    assert.equal(await f.wait({ timeout: 50 }), false);
    tl.advance();
    assert.equal(await f.wait({ timeout: 5000 }), true);
    assert.equal(f.info().status, 1);
    assert.equal(f.info().fences.length, 1);
  });

  it('idle() waits for an imported write fence and resolves when it signals; timers keep firing', async function () {
    using tl = new Timeline();
    using buf = makeBuffer(this);
    using f = tl.fence();
    try {
      buf.importSyncFile(f, 'write');
    } catch (e) {
      if ((e as { code?: string }).code === 'ENOTTY') this.skip(); // kernel < 6.0
      throw e;
    }
    assert.equal(buf.isIdle('read'), false);
    assert.equal(buf.isIdle('write'), false);
    assert.equal(await buf.idle('read', { timeout: 100 }), false);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    let done = false;
    const waiting = buf.idle('read').then((v) => { done = true; return v; });
    await sleep(300);
    assert.equal(done, false, 'still waiting while the fence is pending');
    assert.ok(ticks >= 5, `the event loop kept running (${ticks} ticks)`);
    tl.advance();
    assert.equal(await waiting, true);
    clearInterval(timer);
    assert.equal(buf.isIdle('write'), true);
  });

  it('an exported sync file carries the pending fence', async function () {
    using tl = new Timeline();
    using buf = makeBuffer(this);
    using f = tl.fence();
    buf.importSyncFile(f, 'write');
    using out = buf.exportSyncFile('read');
    assert.equal(out.signaled, false);
    tl.advance();
    assert.equal(await out.wait({ timeout: 5000 }), true);
  });

  it('SYNC_START blocks until the fence signals; beginAccessAsync does not block the event loop', async function () {
    using tl = new Timeline();
    using buf = makeBuffer(this);
    using f = tl.fence();
    buf.importSyncFile(f, 'write');
    // the raw ioctl on the thread pool: still blocked after 300 ms
    let started = false;
    const raw = backend().dmabufSyncAsync(buf.fd, C.DMA_BUF_SYNC_START | C.DMA_BUF_SYNC_READ).then(() => { started = true; });
    let accessed = false;
    const viaApi = buf.accessAsync('read', (bytes) => { accessed = true; return bytes.length; });
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    await sleep(300);
    assert.equal(started, false, 'SYNC_START is blocked by the pending fence');
    assert.equal(accessed, false);
    assert.ok(ticks >= 5, `event loop alive (${ticks} ticks)`);
    tl.advance();
    await raw;
    assert.equal(await viaApi, PAGE());
    clearInterval(timer);
    backend().dmabufSync(buf.fd, C.DMA_BUF_SYNC_END | C.DMA_BUF_SYNC_READ);
    assert.equal(buf.openAccesses.size, 0);
  });

  it('beginAccessAsync with a timeout rejects with ERR_DMABUF_TIMEOUT while the fence is pending', async function () {
    using tl = new Timeline();
    using buf = makeBuffer(this);
    using f = tl.fence();
    buf.importSyncFile(f, 'write');
    await assert.rejects(buf.beginAccessAsync('write', { timeout: 100 }), { code: 'ERR_DMABUF_TIMEOUT', timeout: 100 });
    const ac = new AbortController();
    const p = buf.idle('write', { signal: ac.signal });
    ac.abort();
    await assert.rejects(p, { name: 'AbortError' });
    tl.advance();
    assert.equal(await buf.idle('write', { timeout: 5000 }), true);
  });

  it('a read fence blocks writers but not readers', async function () {
    using tl = new Timeline();
    using buf = makeBuffer(this);
    using f = tl.fence();
    buf.importSyncFile(f, 'read');
    assert.equal(buf.isIdle('read'), true);
    assert.equal(buf.isIdle('write'), false);
    tl.advance();
    assert.equal(await buf.idle('write', { timeout: 5000 }), true);
  });
});

