/**
 * The shipped declarations in a consumer project, with TypeScript 5 and 7 (scripts/check-types.js):
 * the type tests in test/types/ and every ```ts block of the README. They do not depend on the
 * backend: they run with the mock suite only.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { runChild } from './support/child';

const root = path.resolve(__dirname, '..', '..');

describe('declarations in a consumer project', function () {
  before(function () {
    if (process.env.DMABUF_BACKEND === 'native') this.skip(); // once per npm test: with the mock suite
  });
  for (const ts of ['5', '7']) {
    it(`compile with TypeScript ${ts} without --types node: type tests and the README's examples`, async function () {
      this.timeout(180000);
      const r = await runChild(process.execPath, [path.join(root, 'scripts', 'check-types.js'), '--ts', ts], { cwd: root, timeout: 170000 });
      assert.equal(r.status, 0, r.stdout + r.stderr);
      assert.match(r.stdout, new RegExp(`Version ${ts}\\.\\d+\\.\\d+: \\d+ files compile \\(api\\.ts, readme-`));
    });
  }
});
