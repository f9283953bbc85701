#!/usr/bin/env node
'use strict';
// Install step: build the native addon on Linux; elsewhere build nothing (the mock backend is used).
// `--force` (npm run build:native) makes a failed build fatal; so does DMABUF_REQUIRE_NATIVE=1.
// DMABUF_SKIP_BUILD=1 skips the build on Linux too (the package then runs on the mock).
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const force = process.argv.includes('--force') || process.env.DMABUF_REQUIRE_NATIVE === '1';
const root = path.resolve(__dirname, '..');

if (process.platform !== 'linux') {
  console.log(`dmabuf: no native addon on ${process.platform}; the mock backend will be used (see README, "Mock mode").`);
  process.exit(0);
}
if (process.env.DMABUF_SKIP_BUILD === '1' && !force) {
  console.log('dmabuf: DMABUF_SKIP_BUILD=1, not building the native addon; the mock backend will be used.');
  process.exit(0);
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

const gyp = findNodeGyp();
if (!gyp) {
  const msg = 'dmabuf: node-gyp not found (tried $npm_config_node_gyp, a local node-gyp, and npm\'s bundled one)';
  if (force) { console.error(msg); process.exit(1); }
  console.warn(`${msg}; the mock backend will be used.`);
  process.exit(0);
}
const args = [gyp, 'rebuild', '--jobs', 'max'];
if (process.env.DMABUF_DEBUG_BUILD === '1') args.push('--debug');
const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
if (r.status !== 0) {
  const msg = `dmabuf: building the native addon failed (node-gyp exit ${r.status}). ` +
    'It needs python3, make and a C++17 compiler (g++ >= 8) and Node\'s headers.';
  if (force) { console.error(msg); process.exit(r.status || 1); }
  console.warn(`${msg}\n dmabuf: the package will run on the mock backend until the addon is built (npm run build:native).`);
}
process.exit(0);
