/**
 * `dmabuf vm`: the package's VM runner (scripts/vm.sh, shipped in the package) for the project that
 * installed it. Everything after `vm` goes to the runner unchanged; its output is not captured, and
 * its exit status is the command's.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { dmabufError } from '../errors';

export const VM_SUMMARY = 'run a command as root on real Linux kernels (Debian\'s, in qemu) with udmabuf, heaps, DRM and V4L2';
export const VM_USAGE = 'dmabuf vm [--arch x86_64|arm64] [--kernel trixie|sid|trixie-cma|all] [--mem MB] [--timeout S] [--idle-timeout S] [--dmesg PATH] [--] <command>...';

export const VM_HELP = `Boots a Debian kernel in qemu with this machine's / as its root file system (read-only) and runs
<command> there as root, in the current directory, with the devices dmabuf uses: udmabuf, the
system (and CMA) heap, vgem, vkms (with overlays, cursor and writeback), virtio-gpu, sw_sync,
vivid, vim2m and vicodec. Node, node_modules and your build are used as they are.

Kernels: trixie (Debian 13's 6.12, the default), sid (7.2), trixie-cma (6.12 built with a CMA
heap; built once, about 15 minutes on 2 cores), all (one after the other; fails if any fails).

--arch arm64 boots Debian's arm64 kernels (trixie, sid) in qemu-system-aarch64 (always software
emulation), with a private arm64 userland (node 20 and the test tools, from Debian's packages) as
its root and the current directory shared at its own path; the package's prebuilt linux-arm64
addon is what loads there. The userland has no npm: run node_modules/.bin/mocha, not npx.

It uses KVM when /dev/kvm works, and says so when it falls back to software emulation (qemu TCG,
many times slower). The first run for a kernel downloads it from Debian's archive and builds the
test modules (a few minutes); everything is cached in ~/.cache/dmabuf-vm (DMABUF_VM_CACHE).

Needs, on the host: qemu-system-x86, busybox-static, cpio, kmod, xz-utils, make, gcc, python3,
binutils (apt-get install ...); an amd64 Debian or Ubuntu host with apt. For --arch arm64 also
qemu-system-arm and gcc-aarch64-linux-gnu.

Options:
  --arch A            x86_64 (the default) or arm64
  --kernel K          trixie, sid, trixie-cma or all (default trixie)
  --mem MB            guest memory (default 2048)
  --timeout S         per kernel, boot included (default 2400)
  --idle-timeout S    when the guest prints nothing for S seconds, show what is stuck and stop (default 300)
  --dmesg PATH        save the guest's kernel log there
  -h, --help          this help

Exit status: the command's; 125 when the VM could not be prepared or booted, 124 on a timeout.

Example:
  npx dmabuf vm --kernel all -- npx mocha test/`;

/** The runner in this package: scripts/vm.sh next to the package.json named dmabuf above this file. */
export function vmScript(from = __dirname): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg) && (JSON.parse(fs.readFileSync(pkg, 'utf8')) as { name?: string }).name === 'dmabuf') {
      return path.join(dir, 'scripts', 'vm.sh');
    }
    if (path.dirname(dir) === dir) throw dmabufError('ERR_DMABUF_NOT_FOUND', 'the dmabuf package that holds the VM runner was not found');
  }
}

/** Runs scripts/vm.sh with the arguments; returns its exit status (128 + signal number if killed). */
export function runVm(args: readonly string[]): number {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw Object.assign(dmabufError('ERR_DMABUF_UNSUPPORTED', `the VM runner needs an x86-64 Linux host (this is ${process.platform}-${process.arch})`), {
      hint: 'run it on a Linux CI machine; elsewhere the mock backend runs the same API (DMABUF_BACKEND=mock)',
    });
  }
  const script = vmScript();
  if (!fs.existsSync(script)) {
    throw dmabufError('ERR_DMABUF_NOT_FOUND', `the VM runner is missing from the package (${script})`);
  }
  const r = spawnSync('bash', [script, ...args], { stdio: 'inherit' });
  if (r.error) {
    const e = r.error as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') Object.assign(e, { hint: 'the VM runner needs bash on PATH' });
    throw e;
  }
  if (r.signal) return 128 + (os.constants.signals[r.signal] ?? 0);
  return r.status ?? 1;
}
