/**
 * Backend selection and other platforms: on a non-Linux host the install step compiles nothing and
 * the package loads the mock (simulated by overriding process.platform in a child process);
 * DMABUF_BACKEND forces a backend; probe() says which one is active and why.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { runChild } from './support/child';

const root = path.resolve(__dirname, '..', '..');
const index = path.join(root, 'dist', 'src', 'index.js');

function node(code: string, env: Record<string, string | undefined> = {}, platform?: string) {
  const pre = platform ? `Object.defineProperty(process, 'platform', { value: ${JSON.stringify(platform)} });` : '';
  return runChild(process.execPath, ['-e', pre + code], {
    cwd: root,
    env: { ...process.env, DMABUF_BACKEND: undefined, ...env },
    timeout: 60000,
  });
}

describe('platforms and backend selection', function () {
  for (const platform of ['darwin', 'win32']) {
    it(`on ${platform}, install builds nothing and succeeds`, async function () {
      const r = await node(`process.argv[1] = 'install'; require(${JSON.stringify(path.join(root, 'scripts', 'install.js'))});`, {}, platform);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`no native addon on ${platform}; the mock backend will be used`));
      assert.doesNotMatch(r.stdout + r.stderr, /gyp/);
    });

    it(`on ${platform}, the package loads the mock and probe() says why`, async function () {
      const r = await node(`const d = require(${JSON.stringify(index)});
        const p = d.probe();
        const b = d.udmabuf.create(4096, { name: 'mac' });
        b.access('write', (x) => x.fill(7));
        console.log(JSON.stringify({ backend: p.backend, reason: p.backendReason, native: p.nativeError,
          exporter: b.info().exporter, name: b.info().name, byte: b.map('read').read(0, 1)[0] }));
        b.close();`, {}, platform);
      assert.equal(r.status, 0, r.stderr);
      const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
      assert.equal(out.backend, 'mock');
      assert.match(out.reason, new RegExp(`no native addon on ${platform}`));
      assert.ok(out.native, 'the native error is reported');
      assert.equal(out.exporter, 'udmabuf');
      assert.equal(out.name, 'mac');
      assert.equal(out.byte, 7);
    });

    it(`on ${platform}, DMABUF_BACKEND=native fails loudly with a coded error`, async function () {
      const r = await node(`try { require(${JSON.stringify(index)}).probe(); console.log('loaded'); }
        catch (e) { console.log(e.code); }`, { DMABUF_BACKEND: 'native' }, platform);
      assert.equal(r.stdout.trim(), 'ERR_DMABUF_NO_NATIVE');
    });
  }

  it('DMABUF_BACKEND=mock forces the mock on Linux too', async function () {
    const r = await node(`const p = require(${JSON.stringify(index)}).probe(); console.log(p.backend + ' ' + p.backendReason);`,
      { DMABUF_BACKEND: 'mock' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'mock DMABUF_BACKEND=mock');
  });

  it('an unknown DMABUF_BACKEND is a coded error', async function () {
    const r = await node(`try { require(${JSON.stringify(index)}).probe(); } catch (e) { console.log(e.code); }`,
      { DMABUF_BACKEND: 'gpu' });
    assert.equal(r.stdout.trim(), 'ERR_INVALID_ARG_VALUE');
  });

  it('on Linux the native addon is chosen when it loads', async function () {
    if (process.platform !== 'linux') this.skip();
    const r = await node(`const p = require(${JSON.stringify(index)}).probe(); console.log(p.backend);`);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'native');
  });
});
