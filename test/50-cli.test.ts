/**
 * The `dmabuf` command line (bin/dmabuf.js → src/cli): help and usage errors, exit statuses, coded
 * errors, probe and ls/info JSON schemas, and ls/info finding buffers this test process holds — as a
 * child process on the native backend (it scans /proc), in-process on either backend (the mock models
 * /proc/self only).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { heaps, udmabuf, type DmaBuf } from '../src/index';
import { main } from '../src/cli/main';
import type { LsReport } from '../src/cli/ls';
import type { InfoReport } from '../src/cli/info';
import { formatBytes } from '../src/cli/table';
import { backend, inVm, isMock, isNative, MiB, needsHeap, needsUdmabuf, PAGE } from './support/index';
import { runChild } from './support/child';

const ROOT = path.resolve(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'dmabuf.js');

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** The CLI as a child process, with this process's backend choice. */
function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return runChild(process.execPath, [BIN, ...args], {
    env: { ...process.env, DMABUF_BACKEND: backend().name, ...env }, timeout: 60_000,
  });
}

/** The CLI in this process (sees this process's buffers on the mock too). */
function inProcess(args: string[]): Run {
  let stdout = '';
  let stderr = '';
  const status = main(args, { stdout: (s) => { stdout += s; }, stderr: (s) => { stderr += s; } });
  return { status, stdout, stderr };
}

function usageError(r: Run, re: RegExp): void {
  assert.equal(r.status, 2, `exit status 2 (stderr: ${r.stderr})`);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, re);
  assert.match(r.stderr, /Usage: dmabuf/);
}

/** Structural check of `ls --json` (version 1), with the totals adding up. */
function checkLsSchema(r: LsReport): void {
  assert.equal(r.version, 1);
  assert.ok(r.backend === 'native' || r.backend === 'mock');
  assert.ok(r.scope === 'all' || r.scope === 'self');
  assert.equal(typeof r.mapsScanned, 'boolean');
  for (const k of ['scanned', 'unreadable'] as const) assert.ok(Number.isInteger(r[k]) && r[k] >= 0, k);
  let size = 0;
  let fds = 0;
  let maps = 0;
  for (const b of r.buffers) {
    assert.ok(Number.isInteger(b.inode) && b.inode > 0, 'inode');
    assert.ok(Number.isInteger(b.size) && b.size >= 0, 'size in bytes');
    assert.ok(b.exporter === null || typeof b.exporter === 'string');
    assert.ok(b.name === null || typeof b.name === 'string');
    assert.equal(b.processes, b.holders.length);
    assert.equal(b.fds, b.holders.reduce((n, h) => n + h.fds.length, 0));
    assert.equal(b.maps, b.holders.reduce((n, h) => n + h.maps, 0));
    for (const h of b.holders) {
      assert.ok(Number.isInteger(h.pid) && typeof h.comm === 'string' && Array.isArray(h.fds) && Number.isInteger(h.maps));
      assert.ok(h.fds.length > 0 || h.maps > 0, 'a holder holds an fd or a mapping');
    }
    size += b.size;
    fds += b.fds;
    maps += b.maps;
  }
  assert.deepEqual(r.total, { buffers: r.buffers.length, size, fds, maps, shared: r.buffers.filter((b) => b.processes > 1).length });
  assert.equal(r.exporters.reduce((n, e) => n + e.buffers, 0), r.buffers.length);
  assert.equal(r.exporters.reduce((n, e) => n + e.size, 0), size);
  for (const p of r.processes) {
    const held = r.buffers.filter((b) => b.holders.some((h) => h.pid === p.pid));
    assert.equal(p.buffers, held.length);
    assert.equal(p.size, held.reduce((n, b) => n + b.size, 0));
  }
}

type Runner = (args: string[]) => Run | Promise<Run>;

async function lsJson(run: Runner): Promise<LsReport> {
  const r = await run(['ls', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout) as LsReport;
  checkLsSchema(report);
  return report;
}

describe('CLI: help, usage and errors', function () {
  it('--help and -h print the usage with every command, exit 0', async function () {
    for (const flag of ['--help', '-h']) {
      const r = await cli([flag]);
      assert.equal(r.status, 0, r.stderr);
      for (const c of ['probe', 'ls', 'info', 'vm']) assert.match(r.stdout, new RegExp(`^  ${c} `, 'm'));
      assert.match(r.stdout, /^Usage: dmabuf <command>/);
    }
  });

  it('every command has its own --help / -h', async function () {
    for (const c of ['probe', 'ls', 'info']) {
      for (const flag of ['--help', '-h']) {
        const r = await cli([c, flag]);
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stdout, new RegExp(`^Usage: dmabuf ${c}`));
        assert.match(r.stdout, /--json/);
      }
    }
  });

  it('--version prints the package version', async function () {
    const r = await cli(['--version']);
    assert.equal(r.status, 0);
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    assert.equal(r.stdout, `${pkg.version}\n`);
  });

  it('no command, an unknown command, an unknown option, a bad or missing argument: exit 2 with the usage', async function () {
    usageError(await cli([]), /no command given/);
    usageError(await cli(['frobnicate']), /unknown command 'frobnicate'/);
    usageError(await cli(['ls', '--frob']), /unknown option '--frob'/);
    usageError(await cli(['--json']), /unknown option '--json'/);
    usageError(await cli(['probe', 'extra']), /unexpected argument 'extra'/);
    usageError(await cli(['info']), /missing argument/);
    usageError(await cli(['info', 'abc']), /'abc' is not <pid>:<fd>/);
  });

  it('vm: its help; no command is a usage error; the runner\'s own options and exit status pass through', async function () {
    for (const flag of ['--help', '-h']) {
      const r = await cli(['vm', flag]);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /^Usage: dmabuf vm \[--arch x86_64\|arm64\] \[--kernel trixie\|sid\|trixie-cma\|all\]/);
      assert.match(r.stdout, /KVM/);
      assert.match(r.stdout, /^ {2}--arch A {12}x86_64 \(the default\) or arm64$/m);
    }
    usageError(await cli(['vm']), /no command given for the VM/);
    if (process.arch !== 'x64') {
      // an arm64 guest runs this file too: there the runner is refused before vm.sh parses anything
      const r = await cli(['vm', '--kernel', 'nope', '--', 'true']);
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`^dmabuf: the VM runner needs an x86-64 Linux host \\(this is linux-${process.arch}\\) \\(ERR_DMABUF_UNSUPPORTED\\)$`, 'm'));
      return;
    }
    // vm.sh parses --kernel (and exits 2 on a bad one) before it needs qemu: the same here and in the VM
    const bad = await cli(['vm', '--kernel', 'nope', '--', 'true']);
    assert.equal(bad.status, 2, bad.stderr);
    assert.match(bad.stderr, /^vm: unknown kernel 'nope' \(trixie, sid, trixie-cma or all\)$/m);
    const opt = await cli(['vm', '--frob', '--', 'true']);
    assert.equal(opt.status, 2, opt.stderr);
    assert.match(opt.stderr, /^vm: unknown option --frob$/m);
  });

  it('vm on a host other than x86-64 Linux: exit 1, ERR_DMABUF_UNSUPPORTED with a hint', function () {
    const platform = Object.getOwnPropertyDescriptor(process, 'platform')!;
    Object.defineProperty(process, 'platform', { ...platform, value: 'darwin' });
    let r: Run;
    try {
      r = inProcess(['vm', '--', 'true']);
    } finally {
      Object.defineProperty(process, 'platform', platform);
    }
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^dmabuf: the VM runner needs an x86-64 Linux host \(this is darwin-\w+\) \(ERR_DMABUF_UNSUPPORTED\)$/m);
    assert.match(r.stderr, /^hint: .*DMABUF_BACKEND=mock/m);
  });

  it('errors exit 1 with the message and its code on stderr', async function () {
    const bad = await cli(['probe'], { DMABUF_BACKEND: 'bogus' });
    assert.equal(bad.status, 1);
    assert.equal(bad.stdout, '');
    assert.match(bad.stderr, /^dmabuf: .*DMABUF_BACKEND.*\(ERR_INVALID_ARG_VALUE\)$/m);

    const gone = inProcess(['info', `${process.pid}:999999`]);
    assert.equal(gone.status, 1);
    assert.match(gone.stderr, /\(ENOENT\)/);
    assert.match(gone.stderr, /^hint: /m);
  });
});

describe('CLI: probe', function () {
  it('--json is the API\'s probe(): per interface, available or a reason and a hint', async function () {
    const r = await cli(['probe', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const p = JSON.parse(r.stdout) as Record<string, unknown> & Record<'udmabuf' | 'heaps' | 'drm' | 'video' | 'syncFile', {
      available: boolean; reason?: string; hint?: string;
    }>;
    assert.equal(p.backend, backend().name);
    assert.equal(p.pageSize, PAGE());
    for (const k of ['udmabuf', 'heaps', 'drm', 'video', 'syncFile'] as const) {
      assert.equal(typeof p[k].available, 'boolean', k);
      if (!p[k].available) {
        assert.ok(p[k].reason, `${k}: a reason`);
        assert.equal(typeof p[k].hint, 'string', `${k}: a hint`);
      }
    }
    assert.ok(Array.isArray((p.heaps as unknown as { list: unknown[] }).list));
    assert.ok(Array.isArray((p.drm as unknown as { devices: unknown[] }).devices));
    const video = (p.video as unknown as { devices: { driver: string; bus: string; capture: { dmabuf: boolean } | null }[] }).devices;
    assert.ok(Array.isArray(video));
    if (inVm) {
      // vivid's two instances, each with a capture and an output node that take dma-bufs
      const vivid = video.filter((d) => d.driver === 'vivid');
      assert.equal(vivid.length, 4, JSON.stringify(video));
      assert.ok(vivid.filter((d) => d.capture !== null).every((d) => d.capture!.dmabuf), 'capture queues take dma-bufs');
    }
  });

  it('prints one line per interface, and how to fix what is missing', async function () {
    const r = await cli(['probe']);
    assert.equal(r.status, 0, r.stderr);
    const p = JSON.parse((await cli(['probe', '--json'])).stdout) as Record<string, { available: boolean; hint?: string }>;
    for (const [label, k] of [['udmabuf', 'udmabuf'], ['dma-heaps', 'heaps'], ['DRM', 'drm'], ['V4L2', 'video'], ['sync files', 'syncFile']] as const) {
      assert.match(r.stdout, new RegExp(`^${label} +${p[k]!.available ? 'yes' : 'no'}\\b`, 'm'), label);
      if (!p[k]!.available && p[k]!.hint) assert.ok(r.stdout.includes(`fix: ${p[k]!.hint}`), `${label}: the fix`);
    }
  });
});

describe('CLI: ls and info', function () {
  const held: DmaBuf[] = [];
  afterEach(function () {
    for (const b of held.splice(0)) b.close();
  });

  it('ls --json: the schema, and the totals add up (child process)', async function () {
    const r = await lsJson(cli);
    assert.equal(r.backend, backend().name);
    assert.equal(r.scope, isMock() ? 'self' : 'all');
    if (isNative()) assert.ok(r.scanned > 0);
  });

  /** A named, dup'ed, mapped buffer: two fds and one mapping in this process. */
  function hold(make: () => DmaBuf, name: string): { buf: DmaBuf; dup: DmaBuf } {
    const buf = make();
    held.push(buf);
    buf.setName(name);
    const dup = buf.dup();
    held.push(dup);
    buf.map('readwrite'); // closed with the buffer
    return { buf, dup };
  }

  function checkHeld(r: LsReport, buf: DmaBuf, dup: DmaBuf, exporter: string, name: string, mapped: boolean): void {
    const b = r.buffers.find((x) => x.inode === Number(buf.inode));
    assert.ok(b, `inode ${buf.inode} listed`);
    assert.equal(b.size, buf.size);
    assert.equal(b.exporter, exporter);
    assert.equal(b.name, name);
    const me = b.holders.find((h) => h.pid === process.pid);
    assert.ok(me, 'this process is a holder');
    assert.deepEqual(me.fds, [buf.fd, dup.fd].sort((x, y) => x - y));
    if (mapped) assert.equal(me.maps, 1);
    const p = r.processes.find((x) => x.pid === process.pid);
    assert.ok(p && p.buffers >= 1 && p.fds >= 2);
    assert.ok(r.exporters.some((e) => e.exporter === exporter && e.buffers >= 1 && e.size >= buf.size));
  }

  for (const [label, exporter, needs, make] of [
    ['udmabuf', 'udmabuf', needsUdmabuf, () => udmabuf.create(2 * MiB)],
    ['heap:system', 'system', (ctx: Mocha.Context) => needsHeap(ctx, 'system'), () => {
      using h = heaps.open('system');
      return h.allocate(MiB);
    }],
  ] as const) {
    it(`ls finds a ${label} buffer this process holds: inode, size, exporter, name, fds, maps (in-process)`, async function () {
      needs(this);
      const { buf, dup } = hold(make, `cli-${exporter}`);
      const r = await lsJson(inProcess);
      checkHeld(r, buf, dup, exporter, `cli-${exporter}`, r.mapsScanned);
    });

    it(`ls finds a ${label} buffer this process holds, and one shared with another process (child process)`, function (done) {
      needs(this);
      if (!isNative()) {
        this.test!.title += ' (skipped: the mock models no other process)';
        this.skip();
      }
      const { buf, dup } = hold(make, `cli-${exporter}`);
      // Another process holding the same buffer: it inherits the fd as its fd 3 and waits.
      const sleeper = spawn(process.execPath, ['-e', 'process.stdin.resume()'], { stdio: ['pipe', 'ignore', 'ignore', buf.fd] });
      sleeper.on('spawn', async () => {
        try {
          const r = await lsJson(cli);
          checkHeld(r, buf, dup, exporter, `cli-${exporter}`, true);
          const b = r.buffers.find((x) => x.inode === Number(buf.inode))!;
          assert.equal(b.processes, 2);
          assert.deepEqual(b.holders.find((h) => h.pid === sleeper.pid)?.fds, [3]);
          assert.ok(r.total.shared >= 1);
          const table = await cli(['ls']);
          assert.equal(table.status, 0, table.stderr);
          assert.match(table.stdout, new RegExp(`^ *${buf.inode} +${formatBytes(buf.size)} +${exporter} +cli-${exporter} +2 `, 'm'));
          assert.match(table.stdout, /^Per process/m);
          assert.match(table.stdout, /^Per exporter/m);
          assert.match(table.stdout, /^Total: /m);
        } catch (e) {
          sleeper.kill();
          done(e);
          return;
        }
        sleeper.on('exit', () => done());
        sleeper.stdin!.end();
      });
    });

    it(`info <pid>:<fd> shows a ${label} buffer in detail, with who holds it`, async function () {
      needs(this);
      const { buf, dup } = hold(make, `cli-info-${exporter}`);
      const run: Runner = isNative() ? cli : inProcess;
      const r = await run(['info', `${process.pid}:${dup.fd}`, '--json']);
      assert.equal(r.status, 0, r.stderr);
      const info = JSON.parse(r.stdout) as InfoReport;
      assert.equal(info.version, 1);
      assert.equal(info.pid, process.pid);
      assert.equal(info.fd, dup.fd);
      assert.equal(info.inode, Number(buf.inode));
      assert.equal(info.size, buf.size);
      assert.equal(info.exporter, exporter);
      assert.equal(info.name, `cli-info-${exporter}`);
      assert.equal(info.fdinfo.exp_name, exporter);
      assert.equal(Number(info.fdinfo.size), buf.size);
      const me = info.holders.find((h) => h.pid === process.pid);
      assert.deepEqual(me?.fds, [buf.fd, dup.fd].sort((x, y) => x - y));

      const t = await run(['info', `${process.pid}:${buf.fd}`]);
      assert.equal(t.status, 0, t.stderr);
      assert.match(t.stdout, new RegExp(`^dma-buf inode ${buf.inode} `));
      assert.match(t.stdout, new RegExp(`^  exp_name: +${exporter}$`, 'm'));
      assert.match(t.stdout, /^Held by 1 process/m);
    });
  }

  it('info on an fd that is not a dma-buf: exit 1, ERR_INVALID_ARG_VALUE', async function () {
    const fd = isMock() ? backend().open('/dev/udmabuf', 0) : fs.openSync(__filename, 'r');
    try {
      const r = await (isNative() ? cli : inProcess)(['info', `${process.pid}:${fd}`]);
      assert.equal(r.status, 1);
      assert.match(r.stderr, /is not a dma-buf.*\(ERR_INVALID_ARG_VALUE\)/);
    } finally {
      if (isMock()) backend().close(fd);
      else fs.closeSync(fd);
    }
  });
});
