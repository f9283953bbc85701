/**
 * Backend selection and other platforms: on a non-Linux host the install step compiles nothing and
 * the package loads the mock (simulated by overriding process.platform in a child process);
 * DMABUF_BACKEND forces a backend; probe() says which one is active and why. On Linux an addon that
 * does not load (DMABUF_ADDON pointing at a missing or broken file) is never replaced by the mock
 * silently: probe() says so and device calls throw ERR_DMABUF_NO_NATIVE.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
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

  describe('on Linux, an addon that does not load', function () {
    before(function () {
      if (process.platform !== 'linux') this.skip();
    });
    const missing = path.join(os.tmpdir(), 'dmabuf-no-such-dir', 'dmabuf.node');

    it('probe() reports no backend, with what the loader tried and the fix', async function () {
      const r = await node(`const d = require(${JSON.stringify(index)});
        const p = d.probe(); const c = d.backendChoice();
        console.log(JSON.stringify({ backend: p.backend, reason: p.backendReason, native: p.nativeError,
          udmabuf: p.udmabuf, heaps: p.heaps.available, drm: p.drm.available, usable: c.usable, name: c.backend.name }));`,
      { DMABUF_ADDON: missing });
      assert.equal(r.status, 0, r.stderr);
      const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
      assert.equal(out.backend, 'none');
      assert.equal(out.usable, false);
      assert.equal(out.name, 'native');
      assert.match(out.native, new RegExp(`${missing.replace(/[.]/g, '\\.')}: not found`));
      assert.match(out.native, /npm rebuild dmabuf/);
      assert.equal(out.udmabuf.available, false);
      assert.match(out.udmabuf.hint, /npm rebuild dmabuf/);
      assert.equal(out.heaps, false);
      assert.equal(out.drm, false);
    });

    it('every device call throws ERR_DMABUF_NO_NATIVE, never the mock', async function () {
      const r = await node(`const d = require(${JSON.stringify(index)});
        const calls = {
          'udmabuf.create': () => d.udmabuf.create(4096),
          'udmabuf.limits': () => d.udmabuf.limits(),
          'heaps.list': () => d.heaps.list(),
          'heaps.open': () => d.heaps.open('system'),
          'drm.list': () => d.drm.list(),
          'drm.open': () => d.drm.open('/dev/dri/card0'),
          'v4l2.list': () => d.v4l2.list(),
          'DmaBuf.fromFd': () => d.DmaBuf.fromFd(0),
          'getBackend': () => d.getBackend(),
          'backend.open': () => d.backendChoice().backend.open('/dev/null', 0),
          'backend.pageSize': () => d.backendChoice().backend.pageSize,
        };
        const out = {};
        for (const [k, f] of Object.entries(calls)) {
          try { f(); out[k] = 'returned'; } catch (e) { out[k] = { code: e.code, message: e.message, tried: e.tried }; }
        }
        console.log(JSON.stringify(out));`, { DMABUF_ADDON: missing });
      assert.equal(r.status, 0, r.stderr);
      const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, { code: string; message: string; tried: string[] }>;
      for (const [call, e] of Object.entries(out)) {
        assert.equal(e.code, 'ERR_DMABUF_NO_NATIVE', `${call}: ${JSON.stringify(e)}`);
        assert.match(e.message, /did not load/, call);
        assert.ok(e.message.includes(missing), `${call} names the file tried`);
        assert.match(e.message, /`npm rebuild dmabuf`/, call);
        assert.deepEqual(e.tried, [missing], call);
      }
    });

    it('a file that is not an addon: the loader\'s own error is in the message', async function () {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dmabuf-bad-addon-'));
      const bad = path.join(dir, 'dmabuf.node');
      fs.writeFileSync(bad, 'not an ELF file');
      try {
        const r = await node(`try { require(${JSON.stringify(index)}).udmabuf.create(4096); } catch (e) { console.log(e.code + ' ' + e.message); }`,
          { DMABUF_ADDON: bad });
        assert.match(r.stdout, /^ERR_DMABUF_NO_NATIVE /);
        assert.ok(r.stdout.includes(`${bad}: `), r.stdout);
        assert.match(r.stdout, /invalid ELF header|file too short/);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it('DMABUF_BACKEND=mock still runs on the mock', async function () {
      const r = await node(`const d = require(${JSON.stringify(index)}); const b = d.udmabuf.create(4096);
        console.log(d.probe().backend + ' ' + b.info().exporter); b.close();`, { DMABUF_ADDON: missing, DMABUF_BACKEND: 'mock' });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout.trim(), 'mock udmabuf');
    });

    it('DMABUF_BACKEND=native fails loudly, naming what was tried', async function () {
      const r = await node(`try { require(${JSON.stringify(index)}).probe(); console.log('loaded'); } catch (e) { console.log(e.code + ' ' + e.message); }`,
        { DMABUF_ADDON: missing, DMABUF_BACKEND: 'native' });
      assert.match(r.stdout, /^ERR_DMABUF_NO_NATIVE DMABUF_BACKEND=native but the native addon did not load/);
      assert.ok(r.stdout.includes(missing));
    });

    it('`dmabuf probe` says there is no backend and how to fix it', async function () {
      const r = await runChild(process.execPath, [path.join(root, 'bin', 'dmabuf.js'), 'probe'], {
        cwd: root, env: { ...process.env, DMABUF_BACKEND: undefined, DMABUF_ADDON: missing }, timeout: 60000,
      });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /^dmabuf probe — no backend \(the native addon did not load\)/);
      assert.match(r.stdout, /fix: npm rebuild dmabuf/);
    });
  });

  describe('on Linux, the install step', function () {
    // A copy of what the package ships for installing (binding.gyp, native/, scripts/install.js),
    // so that a failed build cannot touch this checkout's build/.
    let dir: string;
    before(function () {
      if (process.platform !== 'linux') this.skip();
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dmabuf-install-'));
      fs.mkdirSync(path.join(dir, 'scripts'));
      fs.copyFileSync(path.join(root, 'scripts', 'install.js'), path.join(dir, 'scripts', 'install.js'));
      fs.copyFileSync(path.join(root, 'binding.gyp'), path.join(dir, 'binding.gyp'));
      fs.copyFileSync(path.join(root, 'package.json'), path.join(dir, 'package.json'));
      fs.symlinkSync(path.join(root, 'native'), path.join(dir, 'native'));
      fs.symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'));
    });
    after(function () {
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });
    // PATH with node alone: no python3, make or compiler
    function install(env: Record<string, string | undefined> = {}) {
      const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'dmabuf-path-'));
      fs.symlinkSync(process.execPath, path.join(bin, 'node'));
      return runChild(process.execPath, [path.join(dir, 'scripts', 'install.js')], {
        cwd: dir, env: { ...process.env, PATH: bin, ...env }, timeout: 120000,
      }).finally(() => fs.rmSync(bin, { recursive: true, force: true }));
    }

    it('without a prebuilt binary or a compiler, fails with a warning npm shows', async function () {
      fs.rmSync(path.join(dir, 'prebuilds'), { recursive: true, force: true });
      const r = await install();
      assert.notEqual(r.status, 0, 'a non-zero exit status is what makes npm show the output');
      assert.match(r.stderr, /dmabuf: WARNING: no native addon for linux-/);
      assert.match(r.stderr, /prebuilt binary: No native build was found/);
      // node-gyp is found (a local one, or npm's next to node) and fails for want of a compiler; a
      // node without npm (the arm64 VM's userland) has none, and the install says so instead
      const npmGyp = [
        path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp'),
        path.join(path.dirname(process.execPath), 'node_modules', 'npm', 'node_modules', 'node-gyp'),
        path.join(root, 'node_modules', 'node-gyp'),
      ].some((p) => fs.existsSync(p)) || (!!process.env.npm_config_node_gyp && fs.existsSync(process.env.npm_config_node_gyp));
      assert.match(r.stderr, npmGyp ? /compiling it failed/ : /node-gyp was not found to compile it/);
      assert.match(r.stderr, /npm rebuild dmabuf/);
      assert.match(r.stderr, /DMABUF_SKIP_BUILD=1/);
      assert.ok(!fs.existsSync(path.join(dir, 'build', 'Release', 'dmabuf.node')));
    });

    it('DMABUF_SKIP_BUILD=1 installs without the addon and says what follows', async function () {
      const r = await install({ DMABUF_SKIP_BUILD: '1' });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /ERR_DMABUF_NO_NATIVE unless DMABUF_BACKEND=mock/);
    });

    it('with a prebuilt binary that loads, compiles nothing', async function () {
      const prebuilds = path.join(root, 'prebuilds', `linux-${process.arch}`);
      if (!fs.existsSync(prebuilds)) this.skip(); // npm run prebuilds makes them
      fs.cpSync(prebuilds, path.join(dir, 'prebuilds', `linux-${process.arch}`), { recursive: true });
      const r = await install();
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /dmabuf: using the prebuilt binary prebuilds\/linux-\w+\/dmabuf\.glibc\.node/);
      assert.ok(!fs.existsSync(path.join(dir, 'build')), 'nothing compiled');
    });
  });
});
