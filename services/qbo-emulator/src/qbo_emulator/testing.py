"""Helpers for tests and local tools: run the emulator and point python-quickbooks at it.

    from qbo_emulator.testing import EmulatorServer

    with EmulatorServer() as emu:                      # background thread, free port
        realm = emu.add_realm()                        # RealmTokens(realm_id, access, refresh)
        emu.seed_vendor(realm.realm_id, "Acme Ltd")    # names that collide across lists
        qb = emu.quickbooks(realm)                     # a real python-quickbooks client
        Customer(DisplayName="Acme Ltd").save(qb=qb)   # -> QuickbooksException 6240

The server itself is strict, like QuickBooks (only tokens it issued are accepted). The harness
starts it permissive unless told otherwise, so tests that do not care about OAuth can use any
bearer token: `EmulatorServer(permissive=False)` gives the server's own strict behaviour, and
`seed_realm(..., permissive=False)` one strict realm on a permissive server. The harness also
sets `service_time_ms` to 0 (`EmulatorServer(service_time_ms=...)` to ask for one).

python-quickbooks and intuit-oauth are imported lazily: the emulator itself does not need them.
The client helpers set OAUTHLIB_INSECURE_TRANSPORT=1 for the process, since the emulator serves
plain http (docs/reference/quickbooks-online.md).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_CLIENT_ID = "emulator-client-id"
DEFAULT_CLIENT_SECRET = "emulator-client-secret"
MINOR_VERSION = 75


@dataclass
class RealmTokens:
    realm_id: str
    access_token: str
    refresh_token: str


def discovery_url(base_url: str) -> str:
    """Passed as intuit-oauth's `environment`, which then uses it as the discovery URL."""
    return base_url.rstrip("/") + "/.well-known/openid_configuration"


def make_auth_client(
    base_url: str,
    *,
    access_token: str | None = None,
    refresh_token: str | None = None,
    realm_id: str | None = None,
    client_id: str = DEFAULT_CLIENT_ID,
    client_secret: str = DEFAULT_CLIENT_SECRET,
    redirect_uri: str = "http://localhost/callback",
) -> Any:
    """An intuitlib AuthClient whose discovery, token and revoke calls go to the emulator."""
    from intuitlib.client import AuthClient

    return AuthClient(
        client_id,
        client_secret,
        redirect_uri,
        discovery_url(base_url),
        access_token=access_token,
        refresh_token=refresh_token,
        realm_id=realm_id,
    )


def make_quickbooks(
    base_url: str,
    realm_id: str,
    *,
    auth_client: Any = None,
    access_token: str | None = None,
    refresh_token: str | None = None,
    minorversion: int = MINOR_VERSION,
    timeout: float | tuple[float, float] | None = None,
) -> Any:
    """A python-quickbooks `QuickBooks` client for `realm_id` on the emulator.

    Without `auth_client` one is built from the tokens. If it has no access token, the library
    refreshes on construction (and so rotates the refresh token: read it back from
    `client.refresh_token`). `timeout` is passed to requests (the library sets none itself).
    """
    from quickbooks import QuickBooks

    os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")
    if auth_client is None:
        auth_client = make_auth_client(
            base_url, access_token=access_token, refresh_token=refresh_token, realm_id=realm_id
        )
    api = base_url.rstrip("/") + "/v3"

    class EmulatedQuickBooks(QuickBooks):  # type: ignore[misc]
        api_url_v3 = api
        sandbox_api_url_v3 = api

        def process_request(self, request_type, url, headers="", params="", data=""):  # type: ignore[no-untyped-def]
            if timeout is None:
                return super().process_request(request_type, url, headers, params, data)
            headers.update({"Authorization": "Bearer " + self.session.access_token})
            return self.session.request(
                request_type, url, headers=headers, params=params, data=data, timeout=timeout
            )

    return EmulatedQuickBooks(
        auth_client=auth_client,
        refresh_token=refresh_token or auth_client.refresh_token,
        company_id=realm_id,
        minorversion=minorversion,
    )


PERMISSIVE_ACCESS_TOKEN = "emulator-any-token"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def consent(authorization_url: str, *, realm_id: str | None = None, deny: bool = False) -> str:
    """Open the emulator's consent page as the user's browser would and press Connect (or
    Cancel, `deny`), for company `realm_id` (None: the emulator's default). Returns where the page
    redirects to: the app's redirect_uri with `code`, `state`, `realmId` (or `error`). Raises
    RuntimeError with the page's answer when it does not redirect (bad client_id/redirect_uri)."""
    extra = {k: v for k, v in {"realm_id": realm_id, "consent": deny and "deny"}.items() if v}
    url = authorization_url + ("&" + urllib.parse.urlencode(extra) if extra else "")
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(url, timeout=30) as reply:
            raise RuntimeError(f"consent page did not redirect: {reply.status} {reply.read()!r}")
    except urllib.error.HTTPError as exc:
        if exc.code in (302, 303) and exc.headers.get("Location"):
            return str(exc.headers["Location"])
        raise RuntimeError(f"consent page answered {exc.code}: {exc.read().decode()}") from exc


def auth_client(
    base_url: str,
    *,
    access_token: str | None = None,
    refresh_token: str | None = None,
    realm_id: str | None = None,
) -> Any:
    """An intuit-oauth `AuthClient` whose discovery, token and revoke calls go to the emulator
    (client id/secret: `emulator-client-id` / `emulator-client-secret`)."""
    return make_auth_client(
        base_url, access_token=access_token, refresh_token=refresh_token, realm_id=realm_id
    )


def quickbooks_client(
    base_url: str,
    realm_id: str,
    *,
    access_token: str | None = None,
    refresh_token: str | None = None,
    timeout: float | tuple[float, float] | None = None,
) -> Any:
    """A python-quickbooks `QuickBooks` client for `realm_id` on the emulator.

    Without `access_token` a placeholder bearer is sent, which only permissive realms accept
    (seed_realm on a permissive EmulatorServer, the harness default, or an unknown realm when
    auto_create_realms is on). A realm set up with `add_realm`/`issue_tokens`, or any realm of a
    strict server, only accepts the tokens it issued. No refresh happens here.
    """
    client = make_auth_client(
        base_url,
        access_token=access_token or PERMISSIVE_ACCESS_TOKEN,
        refresh_token=refresh_token,
        realm_id=realm_id,
    )
    return make_quickbooks(
        base_url, realm_id, auth_client=client, refresh_token=refresh_token, timeout=timeout
    )


# What `EmulatorServer(permissive=True)`, the harness default, turns on (the server's own
# defaults are strict): realms seeded without tokens and unknown realm ids accept any bearer.
PERMISSIVE_SETTINGS = {"permissive_auth": True, "auto_create_realms": True}
# What `EmulatorServer(rotate_every_refresh=True)`, the harness default, turns on: every refresh
# hands out a new refresh token and the old one dies at once. That is the worst case a client
# must survive (it has to store every rotated token); the server's own default is Intuit's
# (the same value for a day, the replaced one usable for 24 hours more).
ROTATE_EVERY_REFRESH = {"refresh_token_rotation_seconds": 0, "refresh_grace_seconds": 0}


class EmulatorServer:
    """Runs the emulator on a free port, in a background thread (default) or a subprocess.

    Use as a context manager, or call start()/stop(). `settings` overrides `Settings` fields
    (e.g. {"access_token_ttl": 2, "requests_per_minute": 5}) and wins over the next two:
    - `permissive` (True): PERMISSIVE_SETTINGS, as the harness always behaved; False: strict
      auth, the server's default (unknown or placeholder tokens 401, unknown realms 401/403).
    - `service_time_ms` (0): how long each /v3 request takes; None: the server's default.
    - `rotate_every_refresh` (True): ROTATE_EVERY_REFRESH; False: Intuit's rotation (the
      server's default).
    `args`: extra command-line arguments (subprocess mode only).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        settings: dict[str, Any] | None = None,
        snapshot: Path | None = None,
        subprocess_mode: bool = False,
        permissive: bool = True,
        service_time_ms: int | None = 0,
        rotate_every_refresh: bool = True,
        args: Iterable[str] = (),
    ) -> None:
        self.host = host
        self.port = port
        defaults: dict[str, Any] = dict(PERMISSIVE_SETTINGS) if permissive else {}
        if rotate_every_refresh:
            defaults.update(ROTATE_EVERY_REFRESH)
        if service_time_ms is not None:
            defaults["service_time_ms"] = service_time_ms
        self.settings = {**defaults, **(settings or {})}
        self.snapshot = snapshot
        self.subprocess_mode = subprocess_mode
        self.args = list(args)
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._process: subprocess.Popen[str] | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def discovery_url(self) -> str:
        return discovery_url(self.base_url)

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> EmulatorServer:
        if self.subprocess_mode:
            self._start_process()
        else:
            self._start_thread()
        return self

    def _start_thread(self) -> None:
        import uvicorn

        from qbo_emulator.app import create_app
        from qbo_emulator.settings import Settings

        settings = Settings()
        settings.update(self.settings)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            create_app(settings, self.snapshot), log_level="warning", lifespan="on"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="qbo-emulator", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("qbo-emulator did not start")
            time.sleep(0.01)

    def _start_process(self) -> None:
        command = [
            sys.executable,
            "-m",
            "qbo_emulator",
            "--host",
            self.host,
            "--port",
            str(self.port),
        ]
        if self.snapshot is not None:
            command += ["--snapshot", str(self.snapshot)]
        if self.settings:
            command += ["--settings", json.dumps(self.settings)]
        command += ["--exit-with-parent", *self.args]
        self._process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if "listening on" not in line:
            self._process.kill()
            raise RuntimeError(f"qbo-emulator did not start: {line!r}")
        self.port = int(line.rsplit(":", 1)[1])

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
            self._server = self._thread = None
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> EmulatorServer:
        import asyncio

        return await asyncio.to_thread(self.start)

    async def __aexit__(self, *exc: object) -> None:
        import asyncio

        await asyncio.to_thread(self.stop)

    # -- admin API ---------------------------------------------------------------------------
    def admin(self, method: str, path: str, body: Any = None) -> Any:
        """Call `/_admin{path}`; raises RuntimeError with the body on a non-2xx answer."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{self.base_url}/_admin{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as reply:
                text = reply.read().decode()
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"admin {method} {path}: {exc.code} {exc.read().decode()}") from exc
        return json.loads(text) if text else None

    def add_realm(self, realm_id: str | None = None, name: str | None = None) -> RealmTokens:
        """A company plus a fresh token pair for it (the realm is reused if it exists)."""
        reply = self.admin("POST", "/realms", {"realm_id": realm_id, "name": name})
        return RealmTokens(reply["realm_id"], reply["access_token"], reply["refresh_token"])

    def issue_tokens(self, realm_id: str) -> RealmTokens:
        reply = self.admin("POST", f"/realms/{realm_id}/tokens")
        return RealmTokens(realm_id, reply["access_token"], reply["refresh_token"])

    def seed(self, realm_id: str, kind: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """kind: "customers", "vendors" or "employees". Returns the created objects."""
        result: list[dict[str, Any]] = self.admin("POST", f"/realms/{realm_id}/{kind}", records)
        return result

    def seed_customer(self, realm_id: str, display_name: str, **fields: Any) -> dict[str, Any]:
        return self.seed(realm_id, "customers", [{"DisplayName": display_name, **fields}])[0]

    def seed_vendor(self, realm_id: str, display_name: str, **fields: Any) -> dict[str, Any]:
        return self.seed(realm_id, "vendors", [{"DisplayName": display_name, **fields}])[0]

    def seed_employee(self, realm_id: str, display_name: str, **fields: Any) -> dict[str, Any]:
        return self.seed(realm_id, "employees", [{"DisplayName": display_name, **fields}])[0]

    def seed_realm(
        self,
        realm_id: str,
        *,
        customers: Iterable[str] = (),
        vendors: Iterable[str] = (),
        employees: Iterable[str] = (),
        permissive: bool | None = None,
    ) -> None:
        """Create the realm if needed and add customers, vendors and employees by DisplayName,
        through the normal rules. A realm created here accepts any bearer token if `permissive`;
        None (default) follows the server, i.e. yes on a permissive EmulatorServer (the harness
        default) and no on a strict one. An existing realm keeps its mode (see require_tokens).
        A strict realm needs tokens: `add_realm(realm_id)` or `issue_tokens(realm_id)`."""
        spec: dict[str, Any] = {
            "customers": list(customers),
            "vendors": list(vendors),
            "employees": list(employees),
        }
        if permissive is not None:
            spec["permissive"] = permissive
        self.admin("POST", f"/realms/{realm_id}/seed", spec)

    def state(self, realm_id: str | None = None) -> dict[str, Any]:
        """With `realm_id`: every customer of the realm, inactive ones included, keyed by Id.
        Without: the whole admin state (realms, counters, faults, settings, webhooks)."""
        if realm_id is not None:
            customers: dict[str, Any] = self.admin("GET", f"/realms/{realm_id}/customers")
            return customers
        result: dict[str, Any] = self.admin("GET", "/state")
        return result

    def set_faults(self, **spec: Any) -> None:
        """Replace all fault rules: latency_ms, error_5xx_rate, fail_next_n_5xx,
        drop_response_after_commit_next_n, timeout_next_n (+ timeout_seconds, default 2),
        status (the 5xx, default 503), realm_id and path (regex) to scope. No arguments: none."""
        self.admin("PUT", "/faults", spec)

    def set_limits(
        self,
        realm_id: str,
        per_minute: int | None = None,
        concurrent: int | None = None,
        *,
        per_second: int | None = None,
        batch_per_minute: int | None = None,
    ) -> None:
        """Per-realm throttle limits; None keeps QuickBooks' defaults (500/min, 10/s, 10 in
        flight, 40 batches/min)."""
        self.admin(
            "PUT",
            f"/realms/{realm_id}/limits",
            {
                "per_minute": per_minute,
                "concurrent": concurrent,
                "per_second": per_second,
                "batch_per_minute": batch_per_minute,
            },
        )

    def require_tokens(self, realm_id: str, required: bool = True) -> None:
        """Make the realm accept only access tokens the emulator issued (or any bearer)."""
        self.admin("PUT", f"/realms/{realm_id}/auth", {"require_tokens": required})

    def edit_customer(self, realm_id: str, customer_id: str, **fields: Any) -> dict[str, Any]:
        """A QuickBooks-side edit (another user): a sparse change that bumps the SyncToken."""
        return self.other_user_edit(realm_id, customer_id, **fields)

    def request_count(self, realm_id: str) -> int:
        """/v3 requests received for the realm, throttled and refused ones included."""
        return int(self.admin("GET", f"/realms/{realm_id}/counters")["requests"])

    def throttled_count(self, realm_id: str, limit: str | None = None) -> int:
        """429 answers given to the realm; with `limit`, only those refused by that limit
        (per_minute, per_second, concurrent or batch_per_minute)."""
        counters = self.admin("GET", f"/realms/{realm_id}/counters")
        if limit is None:
            return int(counters["throttled"])
        return int(counters["throttled_by_limit"].get(limit, 0))

    def customers(self, realm_id: str) -> dict[str, dict[str, Any]]:
        """Every customer of the realm, inactive ones included, keyed by Id."""
        result: dict[str, dict[str, Any]] = self.state()["realms"][realm_id]["entities"]["Customer"]
        return result

    def requests(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.admin("GET", "/requests")
        return result

    def add_fault(self, kind: str, **spec: Any) -> None:
        """See qbo_emulator.injection for kinds and fields (realm, method, path, seconds, ...)."""
        self.admin("POST", "/faults", {"kind": kind, **spec})

    def clear_faults(self) -> None:
        self.admin("DELETE", "/faults")

    def configure(self, **settings: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.admin("PATCH", "/config", settings)
        return result

    def reset(self) -> None:
        self.admin("POST", "/reset")

    def expire_tokens(self, realm_id: str | None = None) -> None:
        self.admin("POST", "/tokens/expire", {"realm_id": realm_id})

    def other_user_edit(self, realm_id: str, customer_id: str, **fields: Any) -> dict[str, Any]:
        """A concurrent edit in QuickBooks by someone else: SyncToken moves on."""
        result: dict[str, Any] = self.admin(
            "POST", f"/realms/{realm_id}/customers/{customer_id}/edit", fields
        )
        return result

    def merge(self, realm_id: str, from_id: str, into_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.admin(
            "POST", f"/realms/{realm_id}/merge", {"from_id": from_id, "into_id": into_id}
        )
        return result

    def webhook_deliveries(self) -> list[dict[str, Any]]:
        """One record per notification: seq, url, event, body, attempts, delivered, held (and
        duplicate_of for a redelivery)."""
        result: list[dict[str, Any]] = self.admin("GET", "/webhooks")
        return result

    def redeliver_webhook(self, seq: int) -> dict[str, Any]:
        """Deliver notification `seq` again, same body and signature (a duplicate)."""
        result: dict[str, Any] = self.admin("POST", f"/webhooks/{seq}/redeliver")
        return result

    def hold_webhooks(self) -> None:
        """Keep new notifications back until release_webhooks()."""
        self.admin("POST", "/webhooks/hold")

    def release_webhooks(self, order: str | list[int] = "fifo") -> list[int]:
        """Send the held notifications: "fifo", "reverse" (out of order) or a list of seqs."""
        result: list[int] = self.admin("POST", "/webhooks/release", {"order": order})["released"]
        return result

    # -- clients -----------------------------------------------------------------------------
    def auth_client(self, tokens: RealmTokens | None = None) -> Any:
        if tokens is None:
            return make_auth_client(self.base_url)
        return make_auth_client(
            self.base_url,
            access_token=tokens.access_token,
            refresh_token=tokens.refresh_token,
            realm_id=tokens.realm_id,
        )

    def quickbooks(self, tokens: RealmTokens, *, timeout: float | None = None) -> Any:
        """A python-quickbooks client for the realm, using the given (unrefreshed) tokens."""
        return make_quickbooks(
            self.base_url,
            tokens.realm_id,
            auth_client=self.auth_client(tokens),
            refresh_token=tokens.refresh_token,
            timeout=timeout,
        )
