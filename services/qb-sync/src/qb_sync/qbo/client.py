"""Building a python-quickbooks client for one call, with timeouts and typed errors.

- No intuit-oauth `AuthClient`: its constructor fetches the discovery document over the network and
  can refresh tokens as a side effect
  (docs/reference/quickbooks-online.md#building-the-client-and-its-base-url). `QuickBooks` only
  reads `environment`, `client_id`, `access_token` and `refresh_token` from it, so a plain holder
  does; refreshing is the `Credentials`' job.
- `process_request` is overridden: every HTTP call gets a (connect, read) timeout (the library
  sets none, so a stalled socket blocks forever) and the HTTP status is classified before the
  library parses the body (a 429 is XML, which the library misreports as code 10000).
- A client is built per call: a `requests` session is not shared between threads.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from quickbooks import QuickBooks
from quickbooks.exceptions import QuickbooksException

from qb_sync.qbo.errors import AuthExpired, QboFault, Throttled, TooLarge, Transient

MINOR_VERSION = 75


@dataclass
class _BearerOnly:
    """What `QuickBooks.__new__` reads from an AuthClient, without the network calls."""

    client_id: str
    environment: str
    access_token: str
    refresh_token: str | None = None


class TimedQuickBooks(QuickBooks):  # type: ignore[misc]
    timeout: tuple[float, float] = (10.0, 60.0)
    last_intuit_tid: str | None = None
    before_send: Callable[[], None] | None = None

    def process_request(  # type: ignore[no-untyped-def]
        self, request_type, url, headers="", params="", data=""
    ):
        headers.update({"Authorization": "Bearer " + self.session.access_token})
        if self.before_send is not None:
            self.before_send()
        try:
            response = self.session.request(
                request_type, url, headers=headers, params=params, data=data, timeout=self.timeout
            )
            # Read the body here, so a connection cut mid-body is a Transient, not a parse error.
            _ = response.content
        except requests.Timeout as exc:
            raise Transient(f"timeout: {exc}") from exc
        except requests.RequestException as exc:
            raise Transient(f"connection error: {type(exc).__name__}: {exc}") from exc
        self.last_intuit_tid = response.headers.get("intuit_tid")
        status = response.status_code
        if status == 429:
            raise Throttled(f"429 ThrottleExceeded: {response.text[:200]}")
        if status == 401:
            raise AuthExpired(response.text[:300])
        if status == 413:  # an HTML page the library would report as unreadable JSON (10000)
            raise TooLarge(f"{len(data or '')} bytes sent to {url.split('?')[0]}")
        if status >= 500:
            raise Transient(f"HTTP {status}: {response.text[:300]}")
        return response


def build_client(
    *,
    environment: str,
    base_url: str,
    client_id: str,
    realm_id: str,
    access_token: str,
    timeout: tuple[float, float],
    before_send: Callable[[], None] | None = None,
) -> TimedQuickBooks:
    holder = _BearerOnly(
        client_id=client_id,
        # QuickBooks uses the sandbox host only for exactly "sandbox"
        # (docs/reference/quickbooks-online.md#building-the-client-and-its-base-url).
        environment="sandbox" if environment == "sandbox" else "production",
        access_token=access_token,
    )
    qb = TimedQuickBooks(
        auth_client=holder, refresh_token=None, company_id=realm_id, minorversion=MINOR_VERSION
    )
    qb.timeout = timeout
    qb.before_send = before_send
    if environment == "emulator":
        # The emulator serves plain http; oauthlib refuses that unless told otherwise.
        os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")
        api = base_url.rstrip("/") + "/v3"
        qb.api_url_v3 = api
        qb.sandbox_api_url_v3 = api
    return qb


def as_fault(exc: QuickbooksException) -> QboFault:
    code = int(getattr(exc, "error_code", 0) or 0)
    return QboFault(code, str(getattr(exc, "message", "") or exc), str(exc.detail or ""))


def fault_of(exc: Exception) -> Any:
    """Library exceptions become `QboFault`; ours pass through."""
    if isinstance(exc, QuickbooksException):
        return as_fault(exc)
    return exc
