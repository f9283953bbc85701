#!/usr/bin/env node
'use strict';
// Runs the mocha suite once per backend and prints one closing line.
//   node scripts/run-tests.js            the README's `npm test`: the suite on the mock, then on the
//                                        native addon (on a host without the kernel interfaces the
//                                        device tests skip, each saying why)
//   node scripts/run-tests.js --kernel   inside the VM (npm run test:kernel): the suite on the native
//                                        addon against the real kernel
//   extra arguments go to mocha (e.g. --grep udmabuf)
const { spawn } = require('child_process');
const path = require('path');

const root = path.resolve(__dirname, '..');
const args = process.argv.slice(2);
const kernel = args.includes('--kernel');
const extra = args.filter((a) => a !== '--kernel');
const mocha = require.resolve('mocha/bin/mocha.js', { paths: [root] });

let backends = kernel ? ['native'] : ['mock', 'native'];
if (process.env.DMABUF_BACKEND) backends = [process.env.DMABUF_BACKEND];
if (!kernel && process.platform !== 'linux') backends = ['mock'];

function run(backend) {
  return new Promise((resolve) => {
    console.log(`\n=== test suite on the ${backend} backend ===`);
    const child = spawn(process.execPath, [mocha, ...extra], {
      cwd: root,
      env: { ...process.env, DMABUF_BACKEND: backend },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const counts = { passed: 0, failed: 0, skipped: 0 };
    let buf = '';
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk);
      buf += chunk.toString();
    });
    child.on('close', (code, signal) => {
      const grab = (re) => Number((buf.match(re) || [])[1] || 0);
      counts.passed = grab(/^\s*(\d+) passing/m);
      counts.failed = grab(/^\s*(\d+) failing/m);
      counts.skipped = grab(/^\s*(\d+) pending/m);
      if (code !== 0 && counts.failed === 0) counts.failed = 1; // crashed or failed to load
      if (signal) console.error(`mocha on ${backend} died with ${signal}`);
      resolve(counts);
    });
  });
}

(async () => {
  const total = { passed: 0, failed: 0, skipped: 0 };
  const lines = [];
  for (const b of backends) {
    const c = await run(b);
    lines.push(`${b}: ${c.passed} passed, ${c.failed} failed, ${c.skipped} skipped`);
    total.passed += c.passed;
    total.failed += c.failed;
    total.skipped += c.skipped;
  }
  console.log('');
  if (backends.length > 1) for (const l of lines) console.log(l);
  console.log(`tests: ${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`);
  if (total.passed === 0 && total.failed === 0) {
    console.error('no test ran');
    process.exit(1);
  }
  process.exit(total.failed > 0 ? 1 : 0);
})();
