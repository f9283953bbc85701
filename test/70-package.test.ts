/**
 * The package as a user gets it: `npm pack`'s file list, the prebuilt binaries (their architecture
 * and the newest glibc and libstdc++ symbol versions they import, against what the README
 * documents; the x64 one loaded with Debian 11's glibc), and the tarball installed into a fresh
 * project with no compiler on PATH (only node, npm and sh), with --ignore-scripts and without, where
 * the native backend must load.
 *
 * Needs the prebuilt binaries (npm run prebuilds; .ci/run makes them before npm test): without them
 * the tests skip, except in CI, where they fail. Runs once per npm test, with the mock suite.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runChild, type ChildResult } from './support/child';
import { skipBecause } from './support/skip';

/** Every file under dir, recursively. */
function walk(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]);
}

const root = path.resolve(__dirname, '..', '..');
const prebuilds = path.join(root, 'prebuilds');
const ARCHES = { x64: { machine: 'Advanced Micro Devices X86-64', file: 'x86-64' }, arm64: { machine: 'AArch64', file: 'ARM aarch64' } };
const binary = (arch: string): string => path.join(prebuilds, `linux-${arch}`, 'dmabuf.glibc.node');

function version(v: string): number[] {
  return v.split('.').map(Number);
}
function compare(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** The minimums the README states under Installation. */
function documented(): { glibc: string; glibcxx: string } {
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const glibc = readme.match(/need \*\*glibc (\d+\.\d+)\*\*/)?.[1];
  const glibcxx = readme.match(/\(`GLIBCXX_(\d+\.\d+\.\d+)`\) or newer/)?.[1];
  assert.ok(glibc && glibcxx, 'the README states the minimum glibc and libstdc++');
  return { glibc, glibcxx };
}

/** Every version a binary needs from each library (readelf --version-info: .gnu.version_r). */
function needed(file: string): Map<string, string[]> {
  const r = spawnSync('readelf', ['--version-info', '--wide', file], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const out = new Map<string, string[]>();
  // GLIBC_PRIVATE means static glibc objects were linked in: such a binary loads on no system
  for (const m of r.stdout.matchAll(/Name: (GLIBC|GLIBCXX|CXXABI|GCC)_([0-9.]+|PRIVATE)/g)) {
    out.set(m[1]!, [...(out.get(m[1]!) ?? []), m[2]!]);
  }
  return out;
}

function max(versions: string[] | undefined): string {
  return [...(versions ?? [])].sort((a, b) => compare(version(b), version(a)))[0] ?? '0';
}

function npmCli(): string {
  if (process.env.npm_execpath && /npm-cli\.js$/.test(process.env.npm_execpath)) return process.env.npm_execpath;
  const r = spawnSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' });
  return fs.realpathSync(r.stdout.trim());
}

describe('the package', function () {
  this.timeout(180000);
  let missing = '';
  before(function () {
    if (process.env.DMABUF_BACKEND === 'native') skipBecause(this, 'run once per npm test, with the mock suite');
    if (process.platform !== 'linux') skipBecause(this, 'the package ships Linux binaries; this is ' + process.platform);
    const absent = Object.keys(ARCHES).filter((a) => !fs.existsSync(binary(a)));
    if (absent.length > 0) {
      missing = `no prebuilt binary for ${absent.map((a) => `linux-${a}`).join(', ')} (npm run prebuilds)`;
      if (process.env.CI === 'true') assert.fail(missing);
      skipBecause(this, missing);
    }
  });

  describe('the prebuilt binaries', function () {
    for (const [arch, want] of Object.entries(ARCHES)) {
      it(`linux-${arch} is a stripped ${want.machine} shared object`, function () {
        const h = spawnSync('readelf', ['--file-header', binary(arch)], { encoding: 'utf8' });
        assert.equal(h.status, 0, h.stderr);
        assert.match(h.stdout, new RegExp(`Machine:\\s+${want.machine}`));
        assert.match(h.stdout, /Type:\s+DYN/);
        const f = spawnSync('file', ['-b', binary(arch)], { encoding: 'utf8' });
        if (f.error) skipBecause(this, 'no `file` program (apt-get install file); readelf checked the machine already');
        assert.match(f.stdout, new RegExp(`ELF 64-bit LSB shared object, ${want.file}`));
        assert.match(f.stdout, /, stripped/);
      });

      it(`linux-${arch} needs no newer glibc or libstdc++ than the README says`, function () {
        const { glibc, glibcxx } = documented();
        const v = needed(binary(arch));
        assert.ok(v.get('GLIBC')?.length, 'it imports versioned glibc symbols');
        assert.ok(!v.get('GLIBC')!.includes('PRIVATE'), 'it needs no GLIBC_PRIVATE symbol (static glibc objects linked in)');
        assert.ok(compare(version(max(v.get('GLIBC'))), version(glibc)) <= 0,
          `needs GLIBC_${max(v.get('GLIBC'))}, README says ${glibc}`);
        assert.ok(compare(version(max(v.get('GLIBCXX'))), version(glibcxx)) <= 0,
          `needs GLIBCXX_${max(v.get('GLIBCXX'))}, README says ${glibcxx}`);
      });
    }

    it('linux-x64 loads and works with Debian 11\'s glibc 2.31 and libstdc++', async function () {
      if (process.arch !== 'x64') skipBecause(this, `runs the x64 binary; this is ${process.arch}`);
      // the sysroot scripts/prebuild.js built against: run node itself on its C library
      const sysroot = path.join(process.env.DMABUF_PREBUILD_CACHE || path.join(os.homedir(), '.cache', 'dmabuf-prebuild'), 'bullseye-amd64');
      const ld = path.join(sysroot, 'lib', 'x86_64-linux-gnu', 'ld-2.31.so');
      if (!fs.existsSync(ld)) skipBecause(this, `no Debian 11 sysroot at ${sysroot} (npm run prebuilds fetches it)`);
      const libs = [path.join(sysroot, 'lib', 'x86_64-linux-gnu'), path.join(sysroot, 'usr', 'lib', 'x86_64-linux-gnu')].join(':');
      const code = `const a = require(${JSON.stringify(binary('x64'))});
        const maps = require('fs').readFileSync('/proc/self/maps', 'utf8');
        const fd = a.memfdCreate('glibc-2.31', 0); a.ftruncate(fd, 8192);
        console.log(JSON.stringify({ page: a.pageSize, size: a.fstat(fd).size, libc: /libc-2\\.31\\.so/.test(maps),
          stdcxx: /libstdc\\+\\+\\.so\\.6\\.0\\.28/.test(maps) })); a.close(fd);`;
      const r = await runChild(ld, ['--library-path', libs, process.execPath, '-e', code], { timeout: 60000 });
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout.trim()), { page: 4096, size: 8192, libc: true, stdcxx: true });
    });
  });

  describe('npm pack and a fresh install without a compiler', function () {
    let work: string;
    let tarball: string;
    let files: string[];
    let bin: string;
    let t0 = 0;

    before(async function () {
      t0 = Date.now();
      work = fs.mkdtempSync(path.join(os.tmpdir(), 'dmabuf-pack-'));
      // PATH with node, npm and sh (npm runs scripts with it) only: no python3, make, cc or g++
      bin = path.join(work, 'bin');
      fs.mkdirSync(bin);
      fs.symlinkSync(process.execPath, path.join(bin, 'node'));
      fs.symlinkSync(npmCli(), path.join(bin, 'npm'));
      fs.symlinkSync(fs.realpathSync('/bin/sh'), path.join(bin, 'sh'));
      // --ignore-scripts: pack what npm test built (prepack would rebuild the prebuilt binaries)
      const r = await npm(root, ['pack', '--ignore-scripts', '--json', '--pack-destination', work]);
      assert.equal(r.status, 0, r.stderr);
      const info = JSON.parse(r.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
      tarball = path.join(work, info[0]!.filename);
      files = info[0]!.files.map((f) => f.path);
    });
    after(function () {
      if (work) fs.rmSync(work, { recursive: true, force: true });
    });

    function npm(cwd: string, args: string[]): Promise<ChildResult> {
      return runChild(process.execPath, [npmCli(), ...args], {
        cwd,
        env: { ...process.env, PATH: bin, npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' },
        timeout: 150000,
      });
    }

    async function project(name: string, installArgs: string[]): Promise<{ dir: string; install: ChildResult }> {
      const dir = path.join(work, name);
      fs.mkdirSync(dir);
      fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true }));
      const install = await npm(dir, ['install', '--no-package-lock', '--prefer-offline', ...installArgs, tarball]);
      assert.equal(install.status, 0, install.stdout + install.stderr);
      return { dir, install };
    }

    function node(dir: string, code: string): Promise<ChildResult> {
      return runChild(path.join(bin, 'node'), ['-e', code], {
        cwd: dir, env: { ...process.env, PATH: bin, DMABUF_BACKEND: undefined, DMABUF_ADDON: undefined, NODE_DEBUG: undefined }, timeout: 60000,
      });
    }

    const loads = `const d = require('dmabuf'); const c = d.backendChoice(); const p = d.probe();
      console.log(JSON.stringify({ name: c.backend.name, usable: c.usable, addon: c.addon, probe: p.backend, page: p.pageSize }));`;

    it('ships the package and nothing of the repository\'s own', function () {
      for (const f of ['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md', 'dist/src/index.js', 'dist/src/index.d.ts',
        'dist/src/cli/main.js', 'dist/src/cli/main.d.ts', 'bin/dmabuf.js', 'scripts/install.js', 'binding.gyp', 'native/addon.cc',
        'prebuilds/linux-x64/dmabuf.glibc.node', 'prebuilds/linux-arm64/dmabuf.glibc.node']) {
        assert.ok(files.includes(f), `${f} is in the package`);
      }
      // the VM runner (`npx dmabuf vm`): every file of scripts/vm/ the repository has
      const runner = ['scripts/vm.sh', ...walk(path.join(root, 'scripts', 'vm')).map((f) => path.relative(root, f))];
      assert.ok(runner.length > 8, `the runner's files (${runner.length})`);
      assert.deepEqual(runner.filter((f) => !files.includes(f)), [], 'every file of the VM runner is in the package');
      const stray = files.filter((f) => /\.map$/.test(f) || /^(test|bench|examples|docs|dist\/test|dist\/bench|dist\/examples|build|src)\//.test(f) ||
        /^(\.ci|scripts\/(test-vm|sanitize|prebuild|check-types|run-tests|clean-dist))/.test(f) || f.startsWith('node_modules/'));
      // (npm adds every README of a folder it ships from: scripts/README.md comes with scripts/install.js)
      assert.deepEqual(stray, [], 'no source maps (the package has no TypeScript sources), tests, benches, examples or build tree');
      // no JavaScript file points at a map
      const js = files.filter((f) => f.endsWith('.js') && f.startsWith('dist/'));
      const withMap = js.filter((f) => fs.readFileSync(path.join(root, f), 'utf8').includes('sourceMappingURL'));
      assert.deepEqual(withMap, []);
    });

    it('installed with --ignore-scripts and no compiler on PATH, the native backend loads', async function () {
      const { dir } = await project('app-ignore-scripts', ['--ignore-scripts']);
      assert.ok(!fs.existsSync(path.join(dir, 'node_modules', 'dmabuf', 'build')), 'nothing was compiled');
      const r = await node(dir, loads);
      assert.equal(r.status, 0, r.stderr);
      const out = JSON.parse(r.stdout.trim()) as Record<string, unknown>;
      assert.deepEqual(out, {
        name: 'native', usable: true, probe: 'native', page: 4096,
        addon: path.join(fs.realpathSync(dir), 'node_modules', 'dmabuf', 'prebuilds', `linux-${process.arch}`, 'dmabuf.glibc.node'),
      });
      // the exports map: the subpaths it lists, and nothing else
      const sub = await node(dir, `console.log(typeof require('dmabuf/cli').main, require('dmabuf/package.json').name);
        try { require('dmabuf/dist/src/index.js'); } catch (e) { console.log(e.code); }`);
      assert.equal(sub.stdout.trim(), 'function dmabuf\nERR_PACKAGE_PATH_NOT_EXPORTED', sub.stderr);
      // the CLI the package's bin links
      const cli = await runChild(path.join(bin, 'node'), [path.join(dir, 'node_modules', '.bin', 'dmabuf'), 'probe'], {
        cwd: dir, env: { ...process.env, PATH: bin, DMABUF_BACKEND: undefined }, timeout: 60000,
      });
      assert.equal(cli.status, 0, cli.stderr);
      assert.match(cli.stdout, /^dmabuf probe — native backend \(native addon loaded on linux\)/);
    });

    it('installed with its install script and no compiler on PATH, it uses the prebuilt binary', async function () {
      const { dir, install } = await project('app-scripts', ['--foreground-scripts']);
      assert.match(install.stdout + install.stderr, /dmabuf: using the prebuilt binary prebuilds\/linux-\w+\/dmabuf\.glibc\.node/);
      assert.ok(!fs.existsSync(path.join(dir, 'node_modules', 'dmabuf', 'build')), 'nothing was compiled');
      const r = await node(dir, loads);
      assert.equal(r.status, 0, r.stderr);
      assert.equal((JSON.parse(r.stdout.trim()) as { probe: string }).probe, 'native');
      console.log(`      (pack and two installs: ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    });
  });
});
