"""A free TCP port for a server a test starts in another process.

Asking the kernel for port 0 returns a port from the ephemeral range (32768-60999 on Linux),
the same range every outgoing connection on the machine takes its source port from: between
choosing such a port and the child process binding it, a Kafka or PostgreSQL client of any
process may take it ("address already in use"). Ports are chosen below that range instead,
checked free by binding, and never handed out twice by one test process."""

from __future__ import annotations

import random
import socket

LOW, HIGH = 20_000, 32_000  # below the ephemeral range, above the stack's fixed ports
_handed_out: set[int] = set()


def free_port() -> int:
    for _ in range(500):
        port = random.randint(LOW, HIGH)
        if port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free port between {LOW} and {HIGH}")
