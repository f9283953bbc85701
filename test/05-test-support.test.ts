/**
 * The test suite's own child-process helper (test/support/child.ts): output and status come back,
 * a timeout kills, and a child that will not go (uninterruptible sleep, or a leftover process holding
 * its output pipe) fails the test with what the kernel says it is doing instead of hanging the run.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describeStuck, runChild } from './support/child';

describe('test support: runChild', function () {
  it('returns status, stdout and stderr', async function () {
    const r = await runChild(process.execPath, ['-e', 'console.log("out"); console.error("err"); process.exit(3)']);
    assert.deepEqual([r.status, r.stdout, r.stderr], [3, 'out\n', 'err\n']);
  });

  it('kills a child at its timeout', async function () {
    const t0 = Date.now();
    const r = await runChild(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { timeout: 500 });
    assert.equal(r.signal, 'SIGKILL');
    assert.match(r.stderr, /killed after its 0.5 s timeout/);
    assert.ok(Date.now() - t0 < 10_000);
  });

  /** Processes whose command line starts with FILE (the test's own fixtures). */
  function pidsOf(file: string): number[] {
    return fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)).filter((d) => {
      try { return fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0')[0] === file; } catch { return false; }
    }).map(Number);
  }

  it('does not hang when the killed child leaves a process holding its output (vfork-block), and says so', async function () {
    if (process.platform !== 'linux') {
      this.test!.title += ' (skipped: /proc and vfork semantics are Linux\'s)';
      this.skip();
    }
    let gcc = true;
    try { execFileSync('gcc', ['--version'], { stdio: 'ignore' }); } catch { gcc = false; }
    if (!gcc) {
      this.test!.title += ' (skipped: no gcc to build test/fixtures/vfork-block.c)';
      this.skip();
    }
    // vfork-block's parent waits in the kernel (state D) for a child that never execs; SIGKILL ends
    // the parent (the wait is killable) but the child keeps the stdout pipe open, so a spawnSync
    // would never return. runChild gives up after the grace period and reports.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfork-block-'));
    const bin = path.join(dir, 'vfork-block');
    execFileSync('gcc', ['-O2', '-o', bin, path.resolve(__dirname, '..', '..', 'test', 'fixtures', 'vfork-block.c')]);
    try {
      const t0 = Date.now();
      const err = await runChild(bin, [], { timeout: 500, killGrace: 1000 }).then(
        () => assert.fail('the output pipe stays open'), (e: Error) => e);
      assert.ok(Date.now() - t0 < 10_000, 'gave up within the grace period');
      assert.match(err.message, /still running 1 s after SIGKILL at its 0.5 s timeout/);
      assert.match(err.message, /vfork-block: parent \d+ blocks/, 'the output so far');
      assert.match(err.message, /\(the process is gone\)/, 'the killed process itself is gone');
    } finally {
      for (const pid of pidsOf(bin)) process.kill(pid, 'SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('describeStuck gives each thread\'s state, wchan and kernel stack', async function () {
    if (process.platform !== 'linux') {
      this.test!.title += ' (skipped: /proc is Linux\'s)';
      this.skip();
    }
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000); console.log("ready")'], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      // a running task shows no kernel stack: wait until the child has started and sleeps
      await new Promise((r) => child.stdout!.once('data', r));
      const state = () => /^State:\s+(\S)/m.exec(fs.readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1];
      for (let i = 0; i < 100 && state() !== 'S'; i++) await new Promise((r) => setTimeout(r, 100));
      const text = describeStuck(child.pid!);
      assert.match(text, new RegExp(`^pid ${child.pid}: Name:\\s+node, State:\\s+[SR]`));
      assert.match(text, new RegExp(`thread ${child.pid}: State: [SR] \\((sleeping|running)\\), wchan `));
      if (process.getuid?.() === 0) assert.match(text, /\[<0>\] /, 'the kernel stack (root only)');
    } finally {
      child.kill('SIGKILL');
    }
  });
});
