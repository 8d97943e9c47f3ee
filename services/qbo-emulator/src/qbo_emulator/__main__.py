"""`python -m qbo_emulator --host 127.0.0.1 --port 8000 [--snapshot FILE] [--settings JSON]
[--permissive-auth] [--auto-create-realms] [--service-time-ms N]`.

Strict by default, like QuickBooks: only tokens issued by the emulator (code exchange or admin)
are accepted. The two auth flags are opt-ins for runs that do not care about OAuth.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import threading
import time
from pathlib import Path

import uvicorn

from qbo_emulator.app import create_app
from qbo_emulator.settings import Settings


def _exit_with_parent(parent: int) -> None:
    """A harness killed without cleaning up (SIGKILL, SIGTERM) must not leave us running: once
    we are re-parented, stop like on Ctrl-C."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="qbo_emulator", description="Local QuickBooks Online API emulator"
    )
    parser.add_argument("--host", default=os.environ.get("QBO_EMULATOR_HOST", "127.0.0.1"))
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("QBO_EMULATOR_PORT", "8000"))
    )
    parser.add_argument(
        "--snapshot",
        type=Path,
        default=os.environ.get("QBO_EMULATOR_SNAPSHOT") or None,
        help="JSON file loaded at start and saved while running",
    )
    parser.add_argument("--settings", default=None, help="JSON object overriding Settings fields")
    parser.add_argument(
        "--permissive-auth",
        action="store_true",
        help="realms seeded without tokens accept any bearer token the emulator never issued",
    )
    parser.add_argument(
        "--auto-create-realms",
        action="store_true",
        help="the first call to an unknown realm id creates it, accepting any bearer token",
    )
    parser.add_argument(
        "--service-time-ms",
        type=int,
        default=None,
        help=f"time each admitted /v3 request takes (default {Settings.service_time_ms})",
    )
    parser.add_argument(
        "--exit-with-parent",
        action="store_true",
        help="stop when the process that started this one ends (harness use)",
    )
    args = parser.parse_args(argv)
    if args.exit_with_parent:
        _exit_with_parent(os.getppid())
    settings = Settings()
    if args.settings:
        settings.update(json.loads(args.settings))
    # Flags win over --settings, and only when given.
    if args.permissive_auth:
        settings.permissive_auth = True
    if args.auto_create_realms:
        settings.auto_create_realms = True
    if args.service_time_ms is not None:
        settings.service_time_ms = args.service_time_ms
    app = create_app(settings, args.snapshot)
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level="warning")
    server = uvicorn.Server(config)

    # Print the ready line only once the socket is listening, so callers can wait on it.
    original_startup = server.startup

    async def startup(sockets: list | None = None) -> None:  # type: ignore[type-arg]
        await original_startup(sockets=sockets)
        port = args.port
        if server.servers and server.servers[0].sockets:
            port = server.servers[0].sockets[0].getsockname()[1]
        print(f"qbo-emulator listening on http://{args.host}:{port}", flush=True)

    server.startup = startup  # type: ignore[method-assign]
    server.run()


if __name__ == "__main__":
    main()
