#!/usr/bin/env node
'use strict';
// The `dmabuf` command: a shim over the compiled CLI (src/cli/main.ts → dist/src/cli/main.js).
let cli;
try {
  cli = require('../dist/src/cli/main.js');
} catch (e) {
  if (e && e.code === 'MODULE_NOT_FOUND' && String(e.message).includes('dist/src/cli/main.js')) {
    process.stderr.write('dmabuf: the CLI is not built; run `npm run build:ts` in the package first\n');
    process.exit(1);
  }
  throw e;
}
cli.run(process.argv.slice(2));
