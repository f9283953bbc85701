/**
 * What the library tells a person about itself, seen from a child process as a user would see it:
 * NODE_DEBUG=dmabuf (the backend choice, the addon files tried and loaded, failed system calls), and
 * an uncaught error's output.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { runChild } from './support/child';

const root = path.resolve(__dirname, '..', '..');
const index = path.join(root, 'dist', 'src', 'index.js');

function node(code: string, env: Record<string, string | undefined> = {}) {
  return runChild(process.execPath, ['-e', code], {
    cwd: root,
    env: { ...process.env, NODE_DEBUG: undefined, DMABUF_BACKEND: undefined, DMABUF_ADDON: undefined, ...env },
    timeout: 60000,
  });
}

// a call that fails on every machine: the mock and the kernel both refuse a path that does not exist
const failing = `try { d.drm.open('/dev/dri/card-none'); } catch (e) { console.log(e.code); }`;

describe('NODE_DEBUG=dmabuf', function () {
  it('prints the backend choice and a failed system call (mock)', async function () {
    const r = await node(`const d = require(${JSON.stringify(index)}); ${failing}`, { NODE_DEBUG: 'dmabuf', DMABUF_BACKEND: 'mock' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'ENOENT');
    assert.match(r.stderr, new RegExp(`^DMABUF ${'\\d+'}: backend mock: DMABUF_BACKEND=mock$`, 'm'));
    assert.match(r.stderr, /^DMABUF \d+: open failed: ENOENT: no such file or directory, open '\/dev\/dri\/card-none'$/m);
  });

  it('prints the addon files tried and the one loaded (Linux)', async function () {
    if (process.platform !== 'linux') this.skip();
    const r = await node(`const d = require(${JSON.stringify(index)}); ${failing}`, { NODE_DEBUG: 'dmabuf' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /^DMABUF \d+: addon candidates: .*build\/Release\/dmabuf\.node/m);
    assert.match(r.stderr, /^DMABUF \d+: addon \S+dmabuf(\.glibc)?\.node: loaded$/m);
    assert.match(r.stderr, /^DMABUF \d+: backend native: native addon loaded on linux$/m);
    assert.match(r.stderr, /^DMABUF \d+: open failed: ENOENT/m);
  });

  it('says why no backend works when the addon does not load (Linux)', async function () {
    if (process.platform !== 'linux') this.skip();
    const r = await node(`require(${JSON.stringify(index)}).probe();`, { NODE_DEBUG: 'dmabuf', DMABUF_ADDON: '/nonexistent/dmabuf.node' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /^DMABUF \d+: addon \/nonexistent\/dmabuf\.node: not found$/m);
    assert.match(r.stderr, /^DMABUF \d+: backend none: the native addon did not load \(.*npm rebuild dmabuf/m);
  });

  it('prints nothing without NODE_DEBUG, or when it names other modules', async function () {
    for (const env of [{}, { NODE_DEBUG: 'net,http' }]) {
      const r = await node(`const d = require(${JSON.stringify(index)}); d.probe(); ${failing}`, env);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stderr, '', JSON.stringify(env));
    }
  });
});

describe('an uncaught error', function () {
  // a system error (the mock's ENOENT, with the heaps there are as hint) and a library error
  // (ERR_DMABUF_NO_DEVICE, with a hint), each thrown uncaught in a child
  const cases: Array<[string, string, RegExp]> = [
    ['heaps.open(\'nope\')', "this kernel has no heap named 'nope'", /^Error: ENOENT: no such file or directory, open '\/dev\/dma_heap\/nope' \(/m],
    ['drm.open({ driver: \'nope\' })', 'load a driver', /^Error: no card node with driver 'nope'/m],
  ];
  for (const [call, hint, header] of cases) {
    it(`prints its hint once: ${call}`, async function () {
      const r = await node(`require(${JSON.stringify(index)}).${call};`, { DMABUF_BACKEND: 'mock' });
      assert.equal(r.status, 1);
      assert.match(r.stderr, header);
      assert.equal(r.stderr.split(hint).length - 1, 1, r.stderr);
      assert.match(r.stderr, /code: '(ENOENT|ERR_DMABUF_NO_DEVICE)'/, 'the other properties are still shown');
    });

    it(`keeps err.hint: ${call}`, async function () {
      const r = await node(`try { require(${JSON.stringify(index)}).${call}; } catch (e) {
        console.log(JSON.stringify({ hint: e.hint, inMessage: e.message.includes(e.hint), keys: Object.keys(e) })); }`,
      { DMABUF_BACKEND: 'mock' });
      assert.equal(r.status, 0, r.stderr);
      const out = JSON.parse(r.stdout.trim()) as { hint: string; inMessage: boolean; keys: string[] };
      assert.ok(out.hint.includes(hint), out.hint);
      assert.ok(out.inMessage);
      assert.ok(!out.keys.includes('hint'), 'hint is not enumerable');
    });
  }
});
