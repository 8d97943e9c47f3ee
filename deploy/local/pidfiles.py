"""Small process helpers the local stack's parts share: is the process a pid file names still the
one we started, collect an exited child, is a port taken."""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path


def pid_alive(pid_file: Path, expect: str) -> int | None:
    """The pid in the file, if that process is alive and is the one we started: a pid file can
    outlive its process (a reboot, a crash) and the pid be reused by something unrelated, which
    must then be neither reported up nor signalled. `expect` is part of our command line."""
    try:
        pid = int(pid_file.read_text().splitlines()[0].strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, ValueError, IndexError):
        return None
    if state in ("Z", "X") or expect not in cmdline:
        return None
    return pid


def reap(pid: int, wait: float = 30.0) -> None:
    """Collect a child that exited (the servers are our children under `./dev up`), so it is not
    left a zombie that still looks alive. A JVM's main thread can show as exited (state Z) while
    its other threads still wind down (seconds on a busy machine), so this waits for the whole
    process; it returns as soon as the child is collected."""
    deadline = time.monotonic() + wait
    while True:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except (ChildProcessError, OSError):
            return  # not our child, or collected already
        if done or time.monotonic() > deadline:
            return
        time.sleep(0.05)


def terminate(pid: int, alive: Callable[[], int | None], grace: float = 30.0) -> bool:
    """SIGTERM our server, wait up to `grace` seconds for it to go, SIGKILL it if it did not, and
    collect it. `alive` re-reads its pid file (None once it is gone). True if it needed SIGKILL."""
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and alive():
        reap(pid, wait=0)
        time.sleep(0.2)
    killed = bool(alive())
    if killed:
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
    reap(pid)
    return killed


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0
