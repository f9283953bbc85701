/**
 * Child processes for tests, run asynchronously with a timeout that cannot hang the suite.
 *
 * spawnSync blocks the event loop until the child exits: if the child is stuck in the kernel in an
 * uninterruptible sleep (state D: a read of the shared root in the VM, a driver that never
 * completes), the SIGKILL sent at the timeout does not end it, spawnSync never returns, mocha's own
 * timeout cannot fire, and the whole run goes silent. Here the timeout kills the child, waits a
 * little for it to go, and otherwise fails the test with what the kernel says the child is doing
 * (its state, wchan and kernel stack per thread, from /proc), leaving the stuck process behind.
 */
import { spawn, type StdioOptions } from 'node:child_process';
import * as fs from 'node:fs';

export interface ChildResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface ChildOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** milliseconds before SIGKILL (default 60 s) */
  timeout?: number;
  /** fds to pass as the child's fds 3, 4, ... */
  fds?: number[];
  /** stderr goes to this process's stderr instead of being collected */
  inheritStderr?: boolean;
  /** milliseconds a killed child may take to go before it is reported as stuck (default 10 s) */
  killGrace?: number;
}

function read(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch (e) {
    return `(${(e as NodeJS.ErrnoException).code ?? 'unreadable'})`;
  }
}

/** What the kernel says a process and each of its threads are doing. */
export function describeStuck(pid: number): string {
  const lines = [`pid ${pid}: ${read(`/proc/${pid}/status`).split('\n').filter((l) => /^(Name|State):/.test(l)).join(', ')}`];
  let tids: string[] = [];
  try {
    tids = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return lines.concat('(the process is gone)').join('\n');
  }
  for (const tid of tids) {
    const state = read(`/proc/${pid}/task/${tid}/status`).split('\n').find((l) => l.startsWith('State:')) ?? '';
    lines.push(`  thread ${tid}: ${state.replace(/\s+/g, ' ')}, wchan ${read(`/proc/${pid}/task/${tid}/wchan`)}`);
    for (const s of read(`/proc/${pid}/task/${tid}/stack`).split('\n')) if (s) lines.push(`    ${s}`);
  }
  return lines.join('\n');
}

/** Run FILE with ARGS; resolves when it exits, rejects if it cannot be started or will not die. */
export function runChild(file: string, args: string[], opts: ChildOptions = {}): Promise<ChildResult> {
  const timeout = opts.timeout ?? 60_000;
  const killGrace = opts.killGrace ?? 10_000;
  const stdio: StdioOptions = ['ignore', 'pipe', opts.inheritStderr ? 'inherit' : 'pipe', ...(opts.fds ?? [])];
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (s: string) => { stdout += s; });
    child.stderr?.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
    let killedAt = 0;
    let grace: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      killedAt = Date.now();
      child.kill('SIGKILL');
      grace = setTimeout(() => {
        const report = child.pid ? describeStuck(child.pid) : '(no pid)';
        child.stdout?.destroy();
        child.stderr?.destroy();
        child.unref();
        reject(new Error(`${file} ${args.join(' ').slice(0, 200)}: still running ${killGrace / 1000} s after ` +
          `SIGKILL at its ${timeout / 1000} s timeout; what the kernel says it is doing:\n${report}\n` +
          `output so far:\n${stdout.slice(-2000)}\n${stderr.slice(-2000)}`));
      }, killGrace);
    }, timeout);
    child.on('error', (e) => {
      clearTimeout(timer);
      if (grace) clearTimeout(grace);
      reject(e);
    });
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      if (grace) clearTimeout(grace);
      if (killedAt) stderr += `\n(killed after its ${timeout / 1000} s timeout)`;
      resolve({ status, signal, stdout, stderr });
    });
  });
}
