#!/usr/bin/env python3
"""Filter the test VM's serial console (qemu's stdout) on the host, and watch it.

  console.py NONCE STATE_DIR [DMESG_FILE [IDLE_TIMEOUT WATCHDOG_SOCKET QEMU_PIDFILE]]

Streams the guest command's output to stdout line by line (without \\r and kernel log lines),
shows the guest init's "vm: ..." messages on stderr, and writes into STATE_DIR:
  info     the guest's info line (kernel=... drivers=... heaps=... udmabuf=... video=... missing=...)
  started  the command has started (a VM that dies before this ran nothing and may be booted again)
  rc       the command's exit status
  tail     the last console lines (boot, or the command's last output)
  idle     the watchdog fired: nothing was printed for IDLE_TIMEOUT seconds
The kernel log printed between the dmesg markers goes to DMESG_FILE.

Watchdog: when the console has been silent for IDLE_TIMEOUT seconds (0: never), it writes "dump" to
the guest's second serial port (WATCHDOG_SOCKET, a unix socket qemu listens on), where a helper of the
guest's initramfs answers with the stuck tasks and their kernel stacks, sysrq-w, sysrq-l and the
kernel log's tail. That report and the last lines the guest printed go to stderr; then qemu is
stopped (QEMU_PIDFILE) and the caller exits 124.
"""
import os
import re
import select
import signal
import socket
import sys
import time
from collections import deque

nonce, state = sys.argv[1], sys.argv[2]
dmesg_path = sys.argv[3] if len(sys.argv) > 3 and sys.argv[3] else None
idle_timeout = int(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[4] else 0
wd_socket = sys.argv[5] if len(sys.argv) > 5 else None
qemu_pidfile = sys.argv[6] if len(sys.argv) > 6 else None
verbose = os.environ.get("DMABUF_VM_VERBOSE") == "1"
marker = ("@@DMABUF-VM:" + nonce + "@@").encode()
kernel_line = re.compile(rb"^(<\d>)?\[\s*\d+\.\d+\] ")
important = re.compile(rb"BUG|WARNING|Oops|Call Trace|panic|RIP:|Kernel|blocked for more than")
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


def handle(raw):
    global phase
    line = raw.replace(b"\r", b"").rstrip(b"\n")
    pos = line.find(marker)
    if pos >= 0:
        before, what = line[:pos], line[pos + len(marker):].strip()
        if before and phase == "run":
            out.write(before + b"\n")
            out.flush()
        if what.startswith(b"info "):
            write_state("info", what[5:].decode(errors="replace"))
            say(b"guest " + what[5:])
        elif what == b"start":
            phase = "run"
            tail.clear()
            write_state("started", "")
        elif what.startswith(b"rc="):
            write_state("rc", what[3:].decode())
            phase = "done"
        elif what == b"dmesg-begin":
            phase = "dmesg"
        elif what == b"dmesg-end":
            phase = "done"
        return
    if phase == "boot":
        clean = ansi.sub(b"", line)
        tail.append(clean)
        if clean.startswith(b"vm: ") or clean.startswith(b"vm:   |"):
            err.write(clean + b"\n")
            err.flush()
        elif verbose:
            say(b"console: " + clean)
    elif phase == "run":
        tail.append(ansi.sub(b"", line))
        if kernel_line.match(line):
            if verbose or important.search(line):
                say(b"kernel: " + line)
            return
        out.write(line + b"\n")
        out.flush()
    elif phase == "dmesg":
        dmesg.append(line)
    elif verbose:
        say(b"console: " + line)


def stop_qemu():
    try:
        with open(qemu_pidfile) as f:
            pid = int(f.read().strip())
    except (OSError, ValueError, TypeError):
        return
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 0)):
        try:
            os.kill(pid, sig)
        except OSError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except OSError:
                return
            time.sleep(0.2)


def watchdog(silent_for):
    """Ask the guest what is stuck, show it, stop qemu."""
    say(b"watchdog: the guest has printed nothing for %ds; asking it what is stuck" % silent_for)
    report = []
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect(wd_socket)
        s.sendall(b"dump\n")
        buf = b""
        deadline = time.monotonic() + 60
        begin, end = marker + b" wd-begin", marker + b" wd-end"
        while end not in buf and time.monotonic() < deadline:
            s.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            buf += chunk
        s.close()
        if begin in buf:
            buf = buf[buf.index(begin) + len(begin):]
        complete = end in buf
        buf = buf.split(end)[0]
        report = [ln.replace(b"\r", b"") for ln in buf.split(b"\n") if ln.strip()]
        if not complete:
            report.append(b"(the guest's report did not finish within 60 s: the guest may be wedged)")
    except OSError as e:
        report = [b"(the guest's watchdog helper could not be reached: %s)" % str(e).encode()]
    for ln in report:
        err.write(b"vm: watchdog: | " + ln + b"\n")
    say(b"watchdog: the last lines the guest printed:")
    for ln in list(tail)[-30:]:
        err.write(b"vm: watchdog: > " + ln + b"\n")
    err.flush()
    with open(os.path.join(state, "watchdog"), "wb") as f:
        f.write(b"\n".join(report) + b"\n")
    write_state("idle", str(silent_for))
    stop_qemu()


fd = sys.stdin.buffer.fileno()
pending = b""
last = time.monotonic()
while True:
    wait = None
    if idle_timeout > 0 and wd_socket and phase != "done":
        wait = max(0.0, last + idle_timeout - time.monotonic())
    ready, _, _ = select.select([fd], [], [], wait)
    if not ready:
        watchdog(int(time.monotonic() - last))
        break
    chunk = os.read(fd, 65536)
    if not chunk:
        break
    last = time.monotonic()
    pending += chunk
    *lines, pending = pending.split(b"\n")
    for ln in lines:
        handle(ln)
if pending:
    handle(pending)

write_state("tail", b"\n".join(tail).decode(errors="replace"))
if dmesg_path and dmesg:
    with open(dmesg_path, "wb") as f:
        f.write(b"\n".join(dmesg) + b"\n")
