#!/usr/bin/env python3
"""Filter the test VM's serial console (qemu's stdout) on the host.

  console.py NONCE STATE_DIR [DMESG_FILE]

Streams the guest command's output to stdout line by line (without \\r and kernel log lines),
shows the guest init's "vm: ..." messages on stderr, and writes into STATE_DIR:
  info    the guest's info line (kernel=... drivers=... heaps=... udmabuf=... sw_sync=... missing=...)
  rc      the command's exit status
  tail    the last console lines before the command started (to explain a failed boot)
The kernel log printed between the dmesg markers goes to DMESG_FILE.
"""
import os
import re
import sys
from collections import deque

nonce, state = sys.argv[1], sys.argv[2]
dmesg_path = sys.argv[3] if len(sys.argv) > 3 and sys.argv[3] else None
verbose = os.environ.get("DMABUF_VM_VERBOSE") == "1"
marker = ("@@DMABUF-VM:" + nonce + "@@").encode()
kernel_line = re.compile(rb"^(<\d>)?\[\s*\d+\.\d+\] ")
important = re.compile(rb"BUG|WARNING|Oops|Call Trace|panic|RIP:|Kernel")
ansi = re.compile(rb"\x1b(\[[0-9;?]*[A-Za-z]|[()][0-9A-Za-z]|[cDEHM78=>])")

out = sys.stdout.buffer
err = sys.stderr.buffer
tail = deque(maxlen=60)
phase = "boot"  # boot -> run -> done (-> dmesg -> done)
dmesg = []


def write_state(name, text):
    with open(os.path.join(state, name), "w") as f:
        f.write(text + "\n")


def say(b):
    err.write(b"vm: " + b + b"\n")
    err.flush()


for raw in sys.stdin.buffer:
    line = raw.replace(b"\r", b"").rstrip(b"\n")
    pos = line.find(marker)
    if pos >= 0:
        before, what = line[:pos], line[pos + len(marker):].strip()
        if before and phase == "run":
            out.write(before + b"\n")
            out.flush()
        if what.startswith(b"info "):
            info = what[5:].decode(errors="replace")
            write_state("info", info)
            say(b"guest " + what[5:])
        elif what == b"start":
            phase = "run"
        elif what.startswith(b"rc="):
            write_state("rc", what[3:].decode())
            phase = "done"
        elif what == b"dmesg-begin":
            phase = "dmesg"
        elif what == b"dmesg-end":
            phase = "done"
        continue
    if phase == "boot":
        clean = ansi.sub(b"", line)
        tail.append(clean)
        if clean.startswith(b"vm: ") or clean.startswith(b"vm:   |"):
            err.write(clean + b"\n")
            err.flush()
        elif verbose:
            err.write(b"vm: console: " + clean + b"\n")
            err.flush()
    elif phase == "run":
        if kernel_line.match(line):
            if verbose or important.search(line):
                say(b"kernel: " + line)
            continue
        out.write(line + b"\n")
        out.flush()
    elif phase == "dmesg":
        dmesg.append(line)
    elif verbose:
        say(b"console: " + line)

write_state("tail", b"\n".join(tail).decode(errors="replace"))
if dmesg_path and dmesg:
    with open(dmesg_path, "wb") as f:
        f.write(b"\n".join(dmesg) + b"\n")
