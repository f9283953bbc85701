/**
 * Fuzzing: a seeded fast-check property throws random arguments and random operation
 * sequences at every public function, on both backends, in a CHILD process (test/tools/fuzz-child.ts)
 * so that a crash is seen as a signal exit and reported as a failure. The child checks that every
 * error is coded, that views of unmapped memory are detached, and that no fd is left open.
 *
 * DMABUF_FUZZ_SEED (default 0x5eed), DMABUF_FUZZ_RUNS (sequences per backend, default 500),
 * DMABUF_FUZZ_LEN (max calls per sequence, default 40). The number of calls tried is printed.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { loadNative } from '../src/backend/native';
import { inVm } from './support/index';

const CHILD = path.join(__dirname, 'tools', 'fuzz-child.js');

interface FuzzResult {
  backend?: string;
  seed?: number;
  sequences?: number;
  calls?: number;
  threw?: number;
  codes?: Record<string, number>;
  ms?: number;
  failed: boolean;
  counterexample?: string;
  error?: string;
  fdsAtStart?: number;
  fdsAtEnd?: number;
}

function runChild(backend: 'mock' | 'native'): Promise<{ code: number | null; signal: NodeJS.Signals | null; result?: FuzzResult; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD], {
      env: { ...process.env, DMABUF_BACKEND: backend },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let stderr = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const line = out.split('\n').find((l) => l.startsWith('FUZZ-RESULT '));
      resolve({ code, signal, result: line ? JSON.parse(line.slice('FUZZ-RESULT '.length)) as FuzzResult : undefined, stderr });
    });
  });
}

describe('fuzz: random arguments and operation sequences (child process)', function () {
  this.timeout(600000);

  for (const backend of ['mock', 'native'] as const) {
    it(`${backend}: the process never dies, every failure is a coded error, no fd is left open`, async function () {
      if (backend === 'native' && !loadNative().backend) {
        if (inVm || process.env.DMABUF_BACKEND === 'native') assert.fail(`the native addon did not load: ${loadNative().error?.message}`);
        this.skip();
      }
      const { code, signal, result, stderr } = await runChild(backend);
      assert.equal(signal, null, `the fuzz child died with ${signal}\n${stderr.slice(-4000)}`);
      assert.ok(result, `the fuzz child printed no result (exit ${code})\n${stderr.slice(-4000)}`);
      console.log(`      ${backend}: ${result.calls} calls in ${result.sequences} sequences (seed ${result.seed}, ` +
        `${result.threw} threw, ${result.ms} ms), fds ${result.fdsAtStart} → ${result.fdsAtEnd}; codes ${JSON.stringify(result.codes)}`);
      assert.equal(result.failed, false, `property failed (seed ${result.seed}):\n${result.error}\ncounterexample: ${result.counterexample}`);
      assert.equal(code, 0, `the fuzz child exited with ${code}\n${stderr.slice(-4000)}`);
      assert.ok((result.calls ?? 0) > 0, 'some calls were made');
    });
  }
});
