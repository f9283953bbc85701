#!/usr/bin/env node
'use strict';
// Install step, the way node-gyp-build's is: when a prebuilt binary in prebuilds/ matches this
// machine (platform, arch, libc; N-API, so any Node) and loads, do nothing; compile with node-gyp only
// when none does. Elsewhere than Linux nothing is built: the mock backend is used.
//
//   --force (npm run build:native)   always compile, and a failed build is fatal
//   npm_config_build_from_source     (npm install --build-from-source) compile even when a prebuild loads
//   DMABUF_SKIP_BUILD=1              neither load-test nor compile; on Linux the library then throws
//                                    ERR_DMABUF_NO_NATIVE unless DMABUF_BACKEND=mock
//
// When it can provide no binary on Linux (no prebuild loads and the build fails) it exits non-zero:
// npm shows an install script's output only when it fails, and on Linux the package does nothing
// useful without the addon. The message says what was tried and how to fix it.
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const force = process.argv.includes('--force') || process.env.DMABUF_REQUIRE_NATIVE === '1';
const fromSource = force || process.env.npm_config_build_from_source === 'true';
const root = path.resolve(__dirname, '..');

if (process.platform !== 'linux') {
  console.log(`dmabuf: no native addon on ${process.platform}; the mock backend will be used (see README, "Mock mode").`);
  process.exit(0);
}
if (process.env.DMABUF_SKIP_BUILD === '1' && !force) {
  console.log('dmabuf: DMABUF_SKIP_BUILD=1: no native addon installed; on Linux the library throws ' +
    'ERR_DMABUF_NO_NATIVE unless DMABUF_BACKEND=mock.');
  process.exit(0);
}

/** Does a prebuilt binary load here? node-gyp-build picks it (PREBUILDS_ONLY: not build/). */
function prebuildLoads() {
  let ngb;
  try {
    ngb = require.resolve('node-gyp-build', { paths: [root] });
  } catch {
    return 'node-gyp-build is not installed';
  }
  const code = `try { const f = require(${JSON.stringify(ngb)}).path(${JSON.stringify(root)}); require(f); console.log('OK ' + f); }
    catch (e) { console.log('NO ' + String(e && e.message).split('\\n')[0]); process.exitCode = 1; }`;
  const r = spawnSync(process.execPath, ['-e', code], { env: { ...process.env, PREBUILDS_ONLY: '1' }, encoding: 'utf8' });
  const out = (r.stdout || '').trim();
  if (r.status === 0 && out.startsWith('OK ')) return { file: out.slice(3) };
  return out.startsWith('NO ') ? out.slice(3) : `loading it ended with ${r.signal ?? `exit status ${r.status}`}`;
}

function findNodeGyp() {
  if (process.env.npm_config_node_gyp && fs.existsSync(process.env.npm_config_node_gyp)) {
    return process.env.npm_config_node_gyp;
  }
  try {
    return require.resolve('node-gyp/bin/node-gyp.js', { paths: [root] });
  } catch { /* not a dependency */ }
  // npm ships its own node-gyp
  const candidates = [
    path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    path.join(path.dirname(process.execPath), 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  return candidates.find((c) => fs.existsSync(c));
}

function fail(tried, why) {
  const msg = [
    `dmabuf: WARNING: no native addon for linux-${process.arch} (${tried}), and ${why}.`,
    'dmabuf: without it the library throws ERR_DMABUF_NO_NATIVE on Linux. Install python3, make and g++ (>= 8)',
    'dmabuf: and run `npm rebuild dmabuf`; or set DMABUF_SKIP_BUILD=1 to install without the addon',
    'dmabuf: (then only DMABUF_BACKEND=mock, the software mock, works).',
  ].join('\n');
  console.error(msg);
  process.exit(1);
}

let tried = 'compiling from source was asked for';
if (!fromSource) {
  const pre = prebuildLoads();
  if (typeof pre === 'object') {
    console.log(`dmabuf: using the prebuilt binary ${path.relative(root, pre.file)}`);
    process.exit(0);
  }
  tried = `prebuilt binary: ${pre}`;
}

const gyp = findNodeGyp();
if (!gyp) fail(tried, 'node-gyp was not found to compile it (tried $npm_config_node_gyp, a local node-gyp, and npm\'s bundled one)');
const args = [gyp, 'rebuild', '--jobs', 'max'];
if (process.env.DMABUF_DEBUG_BUILD === '1') args.push('--debug');
// Node's headers: the running node's own when they are there, so that no download is needed.
const env = { ...process.env };
if (!env.npm_config_nodedir && fs.existsSync(path.join(path.dirname(process.execPath), '..', 'include', 'node', 'node_api.h'))) {
  env.npm_config_nodedir = path.resolve(path.dirname(process.execPath), '..');
}
const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit', env });
if (r.status !== 0) {
  fail(tried, `compiling it failed (node-gyp exit ${r.status ?? r.signal ?? r.error?.message}; it needs python3, make, ` +
    'a C++17 compiler and Node\'s headers)');
}
process.exit(0);
