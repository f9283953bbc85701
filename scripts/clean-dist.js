#!/usr/bin/env node
'use strict';
// Removes dist/ before tsc writes it again: tsc never deletes the output of a source that was removed
// or moved (src/backend/mock.ts became src/backend/mock/index.ts, and Node would keep loading the
// stale dist/src/backend/mock.js).
const fs = require('fs');
const path = require('path');

fs.rmSync(path.resolve(__dirname, '..', 'dist'), { recursive: true, force: true });
