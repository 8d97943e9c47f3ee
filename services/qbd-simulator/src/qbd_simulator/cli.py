"""Run one Web Connector session by hand against a SOAP service:

    qbd-simulator --qwc my.qwc --password SECRET --customers 250
    qbd-simulator --url http://localhost:8210/qbwc --user acme-qbd --password SECRET \\
        --owner-id {…} --file-id {…}

The company file starts with `--customers` generated customers (a few with jobs); the session's
calls and the company's customers afterwards are printed. `--every N` runs a session every N
seconds against the same company file until stopped, as the Web Connector's scheduler does
(`./dev up` runs the demo tenant's Web Connector this way, `--quiet`: one line per session that
had work).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from qbd_simulator.company import CompanyFile
from qbd_simulator.connector import Faults, Qwc, WebConnector
from qbd_simulator.qwc import read_qwc


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="qbd-simulator", description=__doc__.split("\n\n")[0])
    parser.add_argument("--qwc", type=Path, help="a .qwc file (AppURL, UserName, OwnerID, FileID)")
    parser.add_argument("--url", help="the SOAP endpoint, instead of --qwc")
    parser.add_argument("--user")
    parser.add_argument("--owner-id")
    parser.add_argument("--file-id")
    parser.add_argument("--password", required=True)
    parser.add_argument("--customers", type=int, default=0, help="customers to seed")
    parser.add_argument("--noop-pause", type=float, default=5.0)
    parser.add_argument("--max-round-trips", type=int, default=1000)
    parser.add_argument("--drop-reply-after-write", type=int, default=0)
    parser.add_argument("--hresult-empty-response", type=int, default=0)
    parser.add_argument("--locked", action="store_true", help="answer writes with 3170")
    parser.add_argument("--permission-denied", action="store_true", help="answer writes with 3260")
    parser.add_argument("--every", type=float, default=0, help="a session every N seconds")
    parser.add_argument("--quiet", action="store_true", help="one line per session with work")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    if args.qwc:
        qwc = read_qwc(args.qwc.read_text())
    elif args.url and args.user and args.owner_id and args.file_id:
        qwc = Qwc(args.url, args.user, args.owner_id, args.file_id)
    else:
        print("give --qwc, or --url, --user, --owner-id and --file-id", file=sys.stderr)
        return 2
    company = CompanyFile()
    for i in range(args.customers):
        name = f"Customer {i:05d}"
        company.seed_customer(name, CompanyName=f"{name} Ltd")
        if i % 10 == 0:
            company.seed_customer("Main site", parent=name)
    company.locked, company.permission_denied = args.locked, args.permission_denied
    faults = Faults(
        drop_reply_after_write=args.drop_reply_after_write,
        hresult_empty_response=args.hresult_empty_response,
    )
    connector = WebConnector(
        qwc,
        args.password,
        company,
        faults=faults,
        noop_pause=args.noop_pause,
        max_round_trips=args.max_round_trips,
    )
    while True:
        session = connector.run()
        if not args.quiet:
            for call in session.calls:
                result = call.result if not isinstance(call.result, str) else call.result[:120]
                print(f"{call.method:20} -> {result!r}")
        if not args.quiet or session.outcome != "none":
            print(
                f"[web connector] outcome: {session.outcome}  last error: {session.last_error!r}  "
                f"progress: {session.progress[-5:]}  company file: {len(company.customers)} "
                f"customers, {company.message_sets} message sets",
                flush=True,
            )
        if not args.every:
            return 0 if session.outcome in ("done", "none") else 1
        time.sleep(args.every)


if __name__ == "__main__":
    sys.exit(main())
