"""Run the whole platform in the foreground: stack (Kafka, PostgreSQL, Prometheus), topics, the
QuickBooks emulator, the three services; print where everything listens and a ready token. A
process that dies is restarted with backoff (supervisor.py), its restarts counted in
`<state>/platform-status.json` and as the metric `platform_process_restarts_total` (served on
PLATFORM_METRICS_PORT, scraped by the stack's Prometheus); Ctrl-C stops all of it.

Started by `./dev up`. Ports can be moved with CUSTOMER_PORT, BILLING_PORT, QB_SYNC_PORT,
QBO_EMULATOR_PORT, OPS_CONSOLE_PORT (the ops console, a web page over all of it). Against the
emulator, tenant `demo` is connected to one QuickBooks company
(`QBO_DEMO_REALM`) the way a user connects real QuickBooks: qb-sync's authorization URL, the
emulator's consent page (Connect is automatic there), the redirect to qb-sync's callback and its
code exchange. So qb-sync holds tokens the emulator issued (and refreshes them at its token
endpoint) from the start: the emulator accepts no other bearer for that company. Tenant `demo`
also gets a QuickBooks Desktop connection (`connect_demo_desktop`, off with QBD_DEMO=0) served by
the simulated Web Connector and company file (services/qbd-simulator).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import prometheus_client

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

import prometheus_local  # noqa: E402  (siblings: the stack, its Prometheus, the supervisor)
import stack  # noqa: E402
from supervisor import Supervised, Supervisor  # noqa: E402


@dataclass
class Process:
    name: str
    module: str
    port: int
    ready_path: str
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    popen: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def has_metrics(self) -> bool:
        return self.name != "qbo-emulator"  # it stands in for QuickBooks: no /metrics

    def start(self) -> subprocess.Popen[bytes]:
        self.popen = subprocess.Popen(
            [sys.executable, "-m", self.module, *self.args], env=self.env, cwd=ROOT
        )
        return self.popen


def _port(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def processes(base_env: dict[str, str]) -> list[Process]:
    emulator_port = _port("QBO_EMULATOR_PORT", 8004)
    emulator_url = f"http://127.0.0.1:{emulator_port}"
    qb_sync_port = _port("QB_SYNC_PORT", 8003)
    callback = f"http://127.0.0.1:{qb_sync_port}/quickbooks/connections/callback"
    real_qbo = bool(os.environ.get("QBO_CLIENT_ID") and os.environ.get("QBO_CLIENT_SECRET"))
    procs = []
    if not real_qbo:
        procs.append(
            Process(
                "qbo-emulator",
                "qbo_emulator",
                emulator_port,
                "/healthz",
                args=[
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(emulator_port),
                    "--snapshot",
                    str(stack.STATE / "qbo-emulator.json"),
                    # As at Intuit, the consent page redirects only to registered URIs.
                    "--settings",
                    json.dumps({"redirect_uris": [callback]}),
                ],
            )
        )
    qb_env = (
        {}
        if real_qbo
        else {
            "QBO_ENVIRONMENT": "emulator",
            "QBO_BASE_URL": emulator_url,
            "QBO_REDIRECT_URI": callback,
        }
    )
    # The .qwc's AppURL: where the (simulated) Web Connector reaches qb-sync's SOAP endpoint.
    qb_env["QBD_PUBLIC_URL"] = f"http://localhost:{qb_sync_port}"
    services = {  # where the ops console finds them
        "CUSTOMER_URL": f"http://127.0.0.1:{_port('CUSTOMER_PORT', 8001)}",
        "BILLING_URL": f"http://127.0.0.1:{_port('BILLING_PORT', 8002)}",
        "QB_SYNC_URL": f"http://127.0.0.1:{qb_sync_port}",
        "QBO_EMULATOR_URL": "" if real_qbo else emulator_url,
        "PLATFORM_STATUS_FILE": str(stack.STATE / "platform-status.json"),  # the supervisor's
    }
    procs += [
        Process(
            "ops-console", "ops_console", _port("OPS_CONSOLE_PORT", 8005), "/readyz", env=services
        ),
        Process("customer", "customer_service", _port("CUSTOMER_PORT", 8001), "/readyz"),
        Process("billing", "billing_service", _port("BILLING_PORT", 8002), "/readyz"),
        Process("qb-sync", "qb_sync", qb_sync_port, "/readyz", env=qb_env),
    ]
    for proc in procs:
        proc.env = {**base_env, **proc.env, "HTTP_PORT": str(proc.port)}
    return procs


class StartFailed(Exception):
    pass


class Stop(Exception):
    """Ctrl-C or SIGTERM."""


def wait_http(proc: Process, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.popen and proc.popen.poll() is not None:
            raise StartFailed(f"{proc.name} exited with {proc.popen.returncode}")
        with contextlib.suppress(Exception):
            with urllib.request.urlopen(proc.url + proc.ready_path, timeout=2) as response:
                if response.status == 200:
                    return
        time.sleep(0.3)
    raise StartFailed(f"{proc.name} not ready on {proc.url}{proc.ready_path}")


def connect_demo_company(qb_sync: Process, token: str, realm_id: str) -> None:
    """What a user does once, as their browser would: open qb-sync's authorization URL, pick the
    company on the emulator's consent page (Connect is automatic there) and follow its redirect
    to qb-sync's callback, which exchanges the code exactly as for real QuickBooks."""
    request = urllib.request.Request(
        qb_sync.url + "/quickbooks/connections/authorize",
        headers={"Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # raises unless 2xx
        authorization_url = json.loads(response.read())["authorization_url"]
    consent_page = authorization_url + "&" + urllib.parse.urlencode({"realm_id": realm_id})
    with urllib.request.urlopen(consent_page, timeout=60) as response:  # follows the redirect
        connected = json.loads(response.read())
    if connected != {"realm_id": realm_id, "status": "connected"}:
        raise StartFailed(f"the callback answered {connected}")


def connect_demo_desktop(qb_sync: Process, token: str) -> Process:
    """Tenant `demo`'s QuickBooks Desktop company: a Desktop connection made through qb-sync's
    API as an admin makes one (kept in `<state>/qbd-demo.json` and reused), its .qwc downloaded,
    a refresh queued, and the simulated Web Connector started on it with a simulated company
    file, running a session every 30 s as the real one's scheduler does."""
    saved = stack.STATE / "qbd-demo.json"
    qwc_path = stack.STATE / "qbd-demo.qwc"

    def call(method: str, path: str) -> bytes:
        request = urllib.request.Request(
            qb_sync.url + path, method=method, headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # raises unless 2xx
            return bytes(response.read())

    demo = json.loads(saved.read_text()) if saved.exists() else None
    try:
        qwc = (
            call("GET", f"/quickbooks-desktop/connections/{demo['connection_id']}/qwc")
            if demo
            else None
        )
    except urllib.error.HTTPError:
        qwc = None  # the database was reset: connect again
    if qwc is None:
        demo = json.loads(call("POST", "/quickbooks-desktop/connections"))
        saved.write_text(json.dumps(demo))
        qwc = call("GET", f"/quickbooks-desktop/connections/{demo['connection_id']}/qwc")
    assert demo is not None
    qwc_path.write_bytes(qwc)
    call("POST", f"/quickbooks-desktop/connections/{demo['connection_id']}/refresh")
    proc = Process(
        "qbd-web-connector",
        "qbd_simulator",
        0,
        "",
        args=[
            "--qwc",
            str(qwc_path),
            "--password",
            demo["password"],
            "--customers",
            "25",
            "--every",
            os.environ.get("QBD_DEMO_EVERY_SECONDS", "30"),
            "--noop-pause",
            "1",
            "--quiet",
        ],
        env=dict(os.environ),
    )
    proc.start()
    return proc


def stop_all(procs: list[Process], started_stack: bool) -> None:
    """Stop every process this run started (newest first), then the stack if this run started
    it. Used on Ctrl-C and when start-up fails half way."""
    for proc in reversed(procs):
        if proc.popen and proc.popen.poll() is None:
            proc.popen.send_signal(signal.SIGTERM)
    for proc in reversed(procs):
        if proc.popen:
            try:
                proc.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                proc.popen.wait()
    if started_stack:
        stack.stop()


def _log(message: str) -> None:
    print(f"[platform] {message}", flush=True)


def supervise(procs: list[Process]) -> Supervisor:
    supervisor = Supervisor(
        stack.STATE / "platform-status.json",
        base=float(os.environ.get("PLATFORM_RESTART_BASE_SECONDS", "0.5")),
        cap=float(os.environ.get("PLATFORM_RESTART_MAX_SECONDS", "30")),
        log=_log,
    )
    for proc in procs:
        supervisor.add(Supervised(proc.name, proc.url, proc.ready_path, proc.start, proc.popen))
    return supervisor


def serve_supervisor_metrics(supervisor: Supervisor) -> int:
    """The supervisor's restart counts as Prometheus metrics, on PLATFORM_METRICS_PORT (any free
    port when unset: the scrape target file names the port taken)."""
    server, _thread = prometheus_client.start_http_server(
        _port("PLATFORM_METRICS_PORT", 0), addr="127.0.0.1", registry=supervisor.metrics()
    )
    port = int(server.server_port)
    _log(f"supervisor metrics on http://127.0.0.1:{port}/metrics")
    return port


def main() -> int:
    started_stack = not stack.is_up()

    def on_signal(*_: object) -> None:
        raise Stop

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    supervisor: Supervisor | None = None
    targets: Path | None = None
    try:
        procs = start_everything()
        supervisor = supervise(procs)
        metrics_port = serve_supervisor_metrics(supervisor)
        targets = prometheus_local.write_targets(
            f"platform-{procs[-1].port}",
            {p.name: p.port for p in procs if p.has_metrics} | {"supervisor": metrics_port},
        )
        while True:
            supervisor.tick()
            time.sleep(0.5)
    except Stop:
        return 0
    except (StartFailed, SystemExit) as exc:
        print(f"[platform] could not start: {exc}", file=sys.stderr, flush=True)
        return 1
    except Exception:
        traceback.print_exc()
        print("[platform] could not start", file=sys.stderr, flush=True)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("\n[platform] stopping…", flush=True)
        if targets:
            targets.unlink(missing_ok=True)
        stop_all(_started, started_stack)
        if supervisor:
            supervisor.stopped()


_started: list[Process] = []  # what start_everything has launched so far, for stop_all


def start_everything() -> list[Process]:
    stack.start()
    env = dict(os.environ)
    env["KAFKA_BOOTSTRAP_SERVERS"] = stack.bootstrap_servers()
    env["DATABASE_URL"] = stack.database_url()

    from platform_kit.auth import create_token, migrate_auth
    from platform_kit.topics import ensure_topics

    async def prepare() -> str:
        import asyncpg

        await ensure_topics(env["KAFKA_BOOTSTRAP_SERVERS"])
        await migrate_auth(env["DATABASE_URL"])
        conn = await asyncpg.connect(env["DATABASE_URL"])
        try:
            return await create_token(conn, "demo", ["read", "write", "admin"], "./dev up")
        finally:
            await conn.close()

    token = asyncio.run(prepare())
    procs = processes(env)
    for proc in procs:
        proc.start()
        _started.append(proc)
        wait_http(proc)
    emulated = procs[0].name == "qbo-emulator"
    demo_realm = os.environ.get("QBO_DEMO_REALM", "9130350000000001")
    if emulated:
        try:
            connect_demo_company(procs[-1], token, demo_realm)
        except Exception as exc:  # main() says why and stops what was started
            raise StartFailed(f"connecting QuickBooks company {demo_realm}: {exc}") from exc
    desktop = "off (QBD_DEMO=0)"
    if os.environ.get("QBD_DEMO", "1") != "0":
        try:
            _started.append(connect_demo_desktop(procs[-1], token))
        except Exception as exc:  # main() says why and stops what was started
            raise StartFailed(f"connecting the demo QuickBooks Desktop company: {exc}") from exc
        state = json.loads((stack.STATE / "qbd-demo.json").read_text())
        desktop = (
            f"simulated Web Connector + company file, a session every "
            f"{os.environ.get('QBD_DEMO_EVERY_SECONDS', '30')} s; realm_id "
            f"{state['connection_id']}, .qwc {stack.STATE / 'qbd-demo.qwc'}"
        )
    quickbooks = (
        f"{procs[0].url} (emulator; company {demo_realm} connected for tenant demo)"
        if emulated
        else "real QuickBooks Online (connect: GET /quickbooks/connections/authorize)"
    )
    customer = procs[-3].url
    billing = procs[-2].url
    print(
        f"""
[platform] up.
  customer service   {customer}   (OpenAPI: {customer}/docs)
  billing service    {billing}   (OpenAPI: {billing}/docs)
  qb-sync            {procs[-1].url}
  ops console        {procs[-4].url}   (log in with the token below)
  QuickBooks         {quickbooks}
  QuickBooks Desktop {desktop}
  Kafka              {env["KAFKA_BOOTSTRAP_SERVERS"]}
  PostgreSQL         {env["DATABASE_URL"]}
  Prometheus         {prometheus_local.prometheus_url()}   (alerts: /alerts, queries: /graph)
  ops                <service>/healthz  <service>/readyz  <service>/metrics
  restarts           {stack.STATE / "platform-status.json"}   (a dead service is restarted)

  token (tenant "demo", read+write+admin):
    export TOKEN={token}
  try:
    curl -s -X POST {customer}/customers -H "Authorization: Bearer $TOKEN" \\
         -H 'content-type: application/json' \\
         -d '{{"company_name": "Acme Ltd", "contact_name": "Ada Lovelace"}}'
    curl -s {customer}/customers -H "Authorization: Bearer $TOKEN"
    curl -s -X POST {billing}/v1/customers/<customer_id>/payments -H "Authorization: Bearer $TOKEN" \\
         -H 'Idempotency-Key: pay-1' -H 'content-type: application/json' \\
         -d '{{"amount_minor": 12500, "currency": "USD"}}'
    curl -s {billing}/v1/customers/<customer_id>/balance -H "Authorization: Bearer $TOKEN"

  Ctrl-C stops everything.
""",
        flush=True,
    )
    return procs


if __name__ == "__main__":
    sys.exit(main())
