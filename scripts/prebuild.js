#!/usr/bin/env node
'use strict';
// Builds the prebuilt binaries the package ships: prebuilds/linux-x64 and prebuilds/linux-arm64, with
// prebuildify (N-API, stripped, tagged glibc), so that installing the package needs no compiler.
//
//   node scripts/prebuild.js                  both architectures (npm run prebuild; run by prepack)
//   node scripts/prebuild.js --arch arm64     one
//   node scripts/prebuild.js --host-libc      against this machine's glibc instead of Debian 11's
//
// The binaries are built against Debian 11 (bullseye)'s glibc 2.31 and libstdc++ (GCC 10), unpacked
// into a private sysroot from Debian's archive (libc6, libc6-dev, libstdc++-10-dev, libgcc-10-dev,
// libgcc-s1 for amd64 and arm64, fetched with a private apt configuration, never installed), so
// they need only what those versions offer: the highest symbol versions are GLIBC_2.28 and
// GLIBCXX_3.4.26 (README, "Requirements"; test/70-package checks them). The kernel uAPI headers
// are this machine's (linux-libc-dev, and linux-libc-dev-arm64-cross for arm64): they describe the
// kernel, not the C library. arm64 is cross-compiled with Debian's aarch64-linux-gnu-g++
// (apt-get install g++-aarch64-linux-gnu). The cache lives in DMABUF_PREBUILD_CACHE
// (default ~/.cache/dmabuf-prebuild); DMABUF_DEBIAN_MIRROR names the mirror when
// /etc/apt/sources.list(.d) does not.
//
// Each build runs in a staging directory (a copy of binding.gyp beside links to native/ and
// node_modules/), so the developer's build/ is left alone.
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const root = path.resolve(__dirname, '..');
const argv = process.argv.slice(2);
const hostLibc = argv.includes('--host-libc');
const archArg = argv.includes('--arch') ? argv[argv.indexOf('--arch') + 1] : 'x64,arm64';
const arches = archArg.split(',').filter(Boolean);
const cache = process.env.DMABUF_PREBUILD_CACHE || path.join(os.homedir(), '.cache', 'dmabuf-prebuild');
const SUITE = 'bullseye';

const ARCH = {
  x64: { deb: 'amd64', triplet: 'x86_64-linux-gnu', cross: '', ld: ['lib64/ld-linux-x86-64.so.2', '../lib/x86_64-linux-gnu/ld-2.31.so'],
    uapi: ['/usr/include/linux', '/usr/include/asm-generic', '/usr/include/x86_64-linux-gnu/asm'] },
  arm64: { deb: 'arm64', triplet: 'aarch64-linux-gnu', cross: 'aarch64-linux-gnu-', ld: null,
    uapi: ['/usr/aarch64-linux-gnu/include/linux', '/usr/aarch64-linux-gnu/include/asm-generic', '/usr/aarch64-linux-gnu/include/asm'] },
};
const PACKAGES = ['libc6', 'libc6-dev', 'libstdc++-10-dev', 'libstdc++6', 'libgcc-10-dev', 'libgcc-s1'];

function die(msg) {
  console.error(`prebuild: ${msg}`);
  process.exit(1);
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', ...opts });
  if (r.error) die(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) die(`${cmd} ${args.join(' ')} exited with ${r.status}`);
  return r;
}

function have(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function mirror() {
  if (process.env.DMABUF_DEBIAN_MIRROR) return process.env.DMABUF_DEBIAN_MIRROR;
  const files = ['/etc/apt/sources.list.d/debian.sources', '/etc/apt/sources.list'];
  for (const f of files) {
    let text;
    try { text = fs.readFileSync(f, 'utf8'); } catch { continue; }
    const deb822 = text.match(/^URIs:\s*(\S+)/m);
    if (deb822 && !deb822[1].includes('security')) return deb822[1];
    const line = text.match(/^deb\s+(?:\[[^\]]*\]\s+)?(\S+)/m);
    if (line) return line[1];
  }
  return die('no Debian mirror in /etc/apt/sources.list(.d): set DMABUF_DEBIAN_MIRROR');
}

/**
 * Make the sysroot's absolute symbolic links (libc6-dev's lib*.so -> /lib/<triplet>/lib*.so.N) point
 * inside it. Left absolute, the linker follows them to the build machine's own libraries: for arm64
 * they do not exist there, so `-lpthread` silently took bullseye's static libpthread.a, and the
 * binary needed __pointer_chk_guard_local and GLIBC_PRIVATE symbols and did not load on any arm64
 * system; for x64 it linked against the build machine's newer libraries instead of bullseye's.
 * Idempotent; also repairs a sysroot unpacked before this existed.
 */
function relinkAbsolute(dir) {
  const walk = (d) => {
    let entries;
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(d, e.name);
      if (e.isSymbolicLink()) {
        const target = fs.readlinkSync(p);
        if (!path.isAbsolute(target)) continue;
        fs.rmSync(p);
        fs.symlinkSync(path.relative(path.dirname(p), path.join(dir, target)), p);
      } else if (e.isDirectory()) {
        walk(p);
      }
    }
  };
  for (const sub of ['lib', 'lib64', 'usr/lib']) walk(path.join(dir, sub));
}

/** Debian 11's C library and C++ runtime for one architecture, unpacked once into the cache. */
function sysroot(arch) {
  const a = ARCH[arch];
  const dir = path.join(cache, `${SUITE}-${a.deb}`);
  const stamp = path.join(dir, '.complete');
  if (fs.existsSync(stamp)) {
    relinkAbsolute(dir);
    return dir;
  }
  for (const tool of ['apt-get', 'dpkg-deb']) if (!have(tool)) die(`${tool} is needed to fetch the ${SUITE} sysroot (or use --host-libc)`);
  const apt = path.join(cache, 'apt');
  fs.mkdirSync(path.join(apt, 'lists', 'partial'), { recursive: true });
  fs.mkdirSync(path.join(apt, 'cache', 'archives', 'partial'), { recursive: true });
  fs.writeFileSync(path.join(apt, 'sources.list'), `deb [arch=amd64,arm64] ${mirror()} ${SUITE} main\n`);
  const opts = ['-q', '-o', `Dir::Etc::SourceList=${apt}/sources.list`, '-o', 'Dir::Etc::SourceParts=/dev/null',
    '-o', `Dir::State::Lists=${apt}/lists`, '-o', `Dir::Cache=${apt}/cache`, '-o', 'Dir::State::status=/dev/null',
    '-o', 'Dir::Etc::Preferences=/dev/null', '-o', 'Dir::Etc::PreferencesParts=/dev/null',
    '-o', 'Acquire::Languages=none', '-o', 'APT::Sandbox::User=root',
    '-o', 'APT::Architectures::=amd64', '-o', 'APT::Architectures::=arm64'];
  console.log(`prebuild: fetching the ${SUITE} ${a.deb} sysroot into ${dir}`);
  run('apt-get', [...opts, 'update'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const debs = fs.mkdtempSync(path.join(os.tmpdir(), 'dmabuf-debs-'));
  run('apt-get', [...opts, 'download', ...PACKAGES.map((p) => `${p}:${a.deb}`)], { cwd: debs, stdio: ['ignore', 'ignore', 'inherit'] });
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  for (const deb of fs.readdirSync(debs)) run('dpkg-deb', ['-x', path.join(debs, deb), dir]);
  fs.rmSync(debs, { recursive: true, force: true });
  // Kernel uAPI headers: this machine's (newer than Debian 11's 5.10, and independent of the C library).
  for (const src of a.uapi) {
    if (!fs.existsSync(src)) die(`${src} is missing (apt-get install ${arch === 'x64' ? 'linux-libc-dev' : 'g++-aarch64-linux-gnu'})`);
    const dest = path.join(dir, 'usr', 'include', path.basename(src) === 'asm' ? a.triplet : '', path.basename(src));
    fs.rmSync(dest, { recursive: true, force: true });
    fs.cpSync(src, dest, { recursive: true, dereference: true });
  }
  // The dynamic loader's link is absolute in the package; the link step reads it inside the sysroot.
  if (a.ld) {
    const link = path.join(dir, a.ld[0]);
    fs.rmSync(link, { force: true });
    fs.mkdirSync(path.dirname(link), { recursive: true });
    fs.symlinkSync(a.ld[1], link);
  }
  relinkAbsolute(dir);
  fs.writeFileSync(stamp, `${SUITE} ${PACKAGES.join(' ')}\n`);
  return dir;
}

/** Compiler and flags: the host's (or the cross) g++ against the sysroot's headers and libraries. */
function toolchain(arch) {
  const a = ARCH[arch];
  const env = {};
  if (a.cross) {
    if (!have(`${a.cross}g++`)) die(`${a.cross}g++ is missing: apt-get install g++-aarch64-linux-gnu`);
    Object.assign(env, { CC: `${a.cross}gcc`, CXX: `${a.cross}g++`, LINK: `${a.cross}g++`, AR: `${a.cross}ar` });
  } else if (os.arch() !== 'x64') {
    die('the x64 binary is built on an x64 machine');
  }
  if (!hostLibc) {
    const s = sysroot(arch);
    const gcc = path.join(s, 'usr', 'lib', 'gcc', a.triplet, '10');
    const lib = path.join(s, 'usr', 'lib', a.triplet);
    const slib = path.join(s, 'lib', a.triplet);
    env.CFLAGS = `--sysroot=${s}`;
    env.CXXFLAGS = `--sysroot=${s} -nostdinc++ -isystem ${s}/usr/include/c++/10 -isystem ${s}/usr/include/${a.triplet}/c++/10`;
    // -B and -L first, so the compiler's own start files and libraries (newer ones) are not used.
    env.LDFLAGS = `--sysroot=${s} -B${gcc}/ -B${lib}/ -L${gcc} -L${lib} -L${slib} -Wl,-rpath-link=${slib}:${lib}`;
  }
  return { env, strip: `${a.cross}strip` };
}

function findNodeGyp() {
  if (process.env.npm_config_node_gyp && fs.existsSync(process.env.npm_config_node_gyp)) return process.env.npm_config_node_gyp;
  const candidates = [
    path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    path.join(path.dirname(process.execPath), 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  return candidates.find((c) => fs.existsSync(c)) ?? die('node-gyp not found (set npm_config_node_gyp)');
}

/** The highest GLIBC_ and GLIBCXX_ versions a binary needs (readelf --version-info). */
function symbolVersions(file, readelf) {
  const r = spawnSync(readelf, ['--version-info', '--wide', file], { encoding: 'utf8' });
  // glibc's private symbols come from static libc objects linked in by mistake: such a binary
  // loads nowhere (seen: arm64 linked bullseye's libpthread.a, see relinkAbsolute)
  if (/Name: GLIBC_PRIVATE/.test(r.stdout || '')) die(`${file} needs GLIBC_PRIVATE symbols: static glibc objects were linked in`);
  const max = {};
  for (const m of (r.stdout || '').matchAll(/Name: (GLIBC|GLIBCXX)_([0-9.]+)/g)) {
    const v = m[2].split('.').map(Number);
    const cur = max[m[1]];
    if (!cur || compare(v, cur) > 0) max[m[1]] = v;
  }
  return Object.fromEntries(Object.entries(max).map(([k, v]) => [k, v.join('.')]));
}

function compare(a, b) {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

if (process.platform !== 'linux') die('prebuilt binaries are built on Linux');
for (const arch of arches) if (!ARCH[arch]) die(`unknown --arch ${arch} (x64, arm64)`);
const prebuildify = require.resolve('prebuildify/bin.js', { paths: [root] });
const nodeGyp = findNodeGyp();
// Node's headers: the running node's own when they are there (no download), else node-gyp's cache.
const nodedir = process.env.npm_config_nodedir ||
  (fs.existsSync(path.join(path.dirname(process.execPath), '..', 'include', 'node', 'node_api.h'))
    ? path.resolve(path.dirname(process.execPath), '..') : undefined);

for (const arch of arches) {
  const t0 = Date.now();
  const { env, strip } = toolchain(arch);
  const stage = fs.mkdtempSync(path.join(os.tmpdir(), `dmabuf-prebuild-${arch}-`));
  try {
    fs.copyFileSync(path.join(root, 'binding.gyp'), path.join(stage, 'binding.gyp'));
    fs.copyFileSync(path.join(root, 'package.json'), path.join(stage, 'package.json'));
    fs.symlinkSync(path.join(root, 'native'), path.join(stage, 'native'));
    fs.symlinkSync(path.join(root, 'node_modules'), path.join(stage, 'node_modules'));
    // prebuildify runs node-gyp as a command: a wrapper that runs it with this node
    const gyp = path.join(stage, 'node-gyp');
    fs.writeFileSync(gyp, `#!/bin/sh\nexec "${process.execPath}" "${nodeGyp}" "$@"\n`, { mode: 0o755 });
    const out = path.join(root, 'prebuilds', `linux-${arch}`);
    fs.rmSync(out, { recursive: true, force: true });
    console.log(`prebuild: linux-${arch}${hostLibc ? ' (host glibc)' : ` (${SUITE} glibc 2.31, libstdc++ of GCC 10)`}`);
    run(process.execPath, [prebuildify, '--napi', '--strip', '--tag-libc', '--arch', arch, '--strip-bin', strip,
      '--node-gyp', gyp, '--cwd', stage, '--out', root, '--quiet'], {
      env: { ...process.env, ...env, ...(nodedir ? { npm_config_nodedir: nodedir } : {}), JOBS: String(os.cpus().length) },
    });
    for (const f of fs.readdirSync(out)) {
      const file = path.join(out, f);
      const v = symbolVersions(file, `${ARCH[arch].cross}readelf`);
      console.log(`prebuild: ${path.relative(root, file)}: ${fs.statSync(file).size} bytes, needs GLIBC_${v.GLIBC}` +
        `${v.GLIBCXX ? `, GLIBCXX_${v.GLIBCXX}` : ''} (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
    }
  } finally {
    fs.rmSync(stage, { recursive: true, force: true });
  }
}
