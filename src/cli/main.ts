/**
 * The `dmabuf` command line: probe, ls, info, vm. bin/dmabuf.js calls run(process.argv.slice(2)).
 *
 * Exit status: 0 done; 1 an error (its message, code and hint on stderr); 2 a command line it does
 * not understand (the usage on stderr).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { infoReport, parseTarget, renderInfo } from './info';
import { lsReport, renderLs } from './ls';
import { probeReport, renderProbe } from './probe';
import { UsageError } from './usage';
import { runVm, VM_HELP, VM_SUMMARY, VM_USAGE } from './vm';

export interface Io {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
}

interface Command {
  summary: string;
  usage: string;
  help: string;
  /** Positional arguments: exactly this many. */
  args: number;
  run(args: string[], json: boolean): string;
}

const json = (v: unknown): string => `${JSON.stringify(v, null, 2)}\n`;

const COMMANDS: Record<string, Command> = {
  probe: {
    summary: 'what this machine offers (udmabuf, dma-heaps, DRM, sync files), and how to fix what is missing',
    usage: 'dmabuf probe [--json]',
    help: `For each interface: available or not; if not, why (the device node is missing, permission denied)
and how to fix it (the module to load, the group to join, the udev rule to add). For DRM, each card
and render node with its driver and what works (dumb buffers, PRIME import/export).

Options:
  --json      the API's probe() result as JSON
  -h, --help  this help`,
    args: 0,
    run: (_args, asJson) => {
      const p = probeReport();
      return asJson ? json(p) : renderProbe(p);
    },
  },
  ls: {
    summary: 'every dma-buf held by the processes you can see, with per-process and per-exporter totals',
    usage: 'dmabuf ls [--json]',
    help: `Scans /proc/<pid>/fdinfo (fds whose fdinfo has exp_name) and /proc/<pid>/maps (mappings of
/dmabuf: files). A buffer is one inode however many fds, mappings and processes hold it. Processes
that exit or deny access during the scan are skipped and counted; run as root to see them all.
On the mock backend only this process's own buffers are visible (it models /proc/self alone).

Options:
  --json      stable JSON (version 1; see the README's CLI section), sizes in bytes
  -h, --help  this help`,
    args: 0,
    run: (_args, asJson) => {
      const r = lsReport();
      return asJson ? json(r) : renderLs(r);
    },
  },
  info: {
    summary: 'one buffer in detail: fdinfo, name, exporter, size, inode, who else holds it',
    usage: 'dmabuf info <pid>:<fd> [--json]',
    help: `<pid>:<fd> names a dma-buf fd of a process, as listed by \`dmabuf ls\` (e.g. 1234:5).

Options:
  --json      stable JSON (version 1), sizes in bytes
  -h, --help  this help`,
    args: 1,
    run: (args, asJson) => {
      const { pid, fd } = parseTarget(args[0]!);
      const r = infoReport(pid, fd);
      return asJson ? json(r) : renderInfo(r);
    },
  },
};

/** Every command with its summary, for the top-level usage (vm passes its arguments on: not in COMMANDS). */
const SUMMARIES: [string, string][] = [...Object.entries(COMMANDS).map(([n, c]): [string, string] => [n, c.summary]), ['vm', VM_SUMMARY]];

function topUsage(): string {
  const w = Math.max(...SUMMARIES.map(([n]) => n.length));
  return `Usage: dmabuf <command> [options]

Linux dma-buf from the command line.

Commands:
${SUMMARIES.map(([name, summary]) => `  ${name.padEnd(w)}  ${summary}`).join('\n')}

Options:
  -h, --help     help (also after a command: dmabuf ls --help)
  --version      the version of dmabuf

DMABUF_BACKEND=mock|native chooses the backend (default: native on Linux when the addon loads).
`;
}

function commandHelp(name: string): string {
  const c = COMMANDS[name]!;
  return `Usage: ${c.usage}\n\n${c.summary[0]!.toUpperCase()}${c.summary.slice(1)}.\n\n${c.help}\n`;
}

export function version(): string {
  // dist/src/cli → the package root; walk up so it also works from the sources.
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const file = path.join(dir, 'package.json');
    if (fs.existsSync(file)) {
      const pkg = JSON.parse(fs.readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'dmabuf') return pkg.version ?? 'unknown';
    }
    if (path.dirname(dir) === dir) return 'unknown';
  }
}

function describeError(e: unknown): string {
  const err = e as Error & { code?: unknown; hint?: unknown };
  const lines = [`dmabuf: ${err?.message ?? String(e)}${typeof err?.code === 'string' ? ` (${err.code})` : ''}`];
  if (typeof err?.hint === 'string' && err.hint !== '' && !err.message.includes(err.hint)) lines.push(`hint: ${err.hint}`);
  return `${lines.join('\n')}\n`;
}

/** Runs one command line; returns the exit status. */
export function main(argv: readonly string[], io: Io = defaultIo): number {
  let command: string | undefined;
  try {
    if (argv[0] === 'vm') {
      // everything after `vm` is the runner's (its options, then the command and its own options)
      if (argv[1] === '-h' || argv[1] === '--help') {
        io.stdout(`Usage: ${VM_USAGE}\n\n${VM_SUMMARY[0]!.toUpperCase()}${VM_SUMMARY.slice(1)}.\n\n${VM_HELP}\n`);
        return 0;
      }
      if (argv.length === 1) throw new UsageError('no command given for the VM', 'vm');
      return runVm(argv.slice(1));
    }
    const rest: string[] = [];
    let help = false;
    let asJson = false;
    for (const a of argv) {
      if (a === '-h' || a === '--help') help = true;
      else if (a === '--version' && command === undefined) {
        io.stdout(`${version()}\n`);
        return 0;
      } else if (a === '--json' && command !== undefined) asJson = true;
      else if (a.startsWith('-') && a !== '-') throw new UsageError(`unknown option '${a}'`, command);
      else if (command === undefined) {
        if (!Object.hasOwn(COMMANDS, a)) throw new UsageError(`unknown command '${a}'`);
        command = a;
      } else rest.push(a);
    }
    if (command === undefined) {
      if (help) {
        io.stdout(topUsage());
        return 0;
      }
      throw new UsageError('no command given');
    }
    if (help) {
      io.stdout(commandHelp(command));
      return 0;
    }
    const c = COMMANDS[command]!;
    if (rest.length !== c.args) {
      throw new UsageError(rest.length > c.args ? `unexpected argument '${rest[c.args]}'` : 'missing argument', command);
    }
    io.stdout(c.run(rest, asJson));
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      const cmd = e.command ?? command;
      const usage = cmd === 'vm' ? VM_USAGE : cmd !== undefined ? COMMANDS[cmd]!.usage : undefined;
      io.stderr(`dmabuf: ${e.message}\n\n${usage !== undefined ? `Usage: ${usage}\nSee 'dmabuf ${cmd} --help'.\n` : topUsage()}`);
      return 2;
    }
    io.stderr(describeError(e));
    return 1;
  }
}

const defaultIo: Io = {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
};

/** For bin/dmabuf.js: sets the exit status without cutting off piped output. */
export function run(argv: readonly string[] = process.argv.slice(2)): void {
  process.exitCode = main(argv);
}
