"""Typed QuickBooks errors, classified by HTTP status first and `error_code` second.

python-quickbooks raises a plain `QuickbooksException` for 5010, 6240 and 6000 and reports a 429 (an
XML body) as code 10000 "Error reading json response"
(docs/reference/quickbooks-online.md#how-errors-become-exceptions), so the class it raises says
little. `qbo/client.py` looks at the HTTP status before the library parses the body and raises these
instead; everything that reaches the library's own fault handling becomes `QboFault`.
"""

from __future__ import annotations


class QboError(Exception):
    """Base of every error the gateway raises."""


class Throttled(QboError):
    """HTTP 429 (ThrottleExceeded). Nothing happened on the QuickBooks side: safe to retry."""


class Transient(QboError):
    """5xx, timeouts, connection errors, a response cut mid-body. The call may or may not have
    been applied: only idempotent calls (reads, creates with a requestid, sparse updates with a
    SyncToken) may be retried."""


class AuthExpired(QboError):
    """HTTP 401: the access token was rejected. The gateway refreshes once and retries."""


class ReauthRequired(QboError):
    """The connection cannot be used until the user reconnects (invalid_grant, revoked, none)."""


class LeaseEnding(QboError):
    """The caller's lease would end before another attempt could finish: nothing was sent."""


class QboFault(QboError):
    """A QuickBooks business fault (`Fault.Error[0]`): 5010 stale, 6240 duplicate name, 610 not
    found, 6000 business validation, 2xxx validation, 4000 query parse error, ..."""

    def __init__(self, code: int, message: str, detail: str = "") -> None:
        super().__init__(f"{code}: {message}" + (f" ({detail})" if detail else ""))
        self.code = code
        self.message = message
        self.detail = detail


class TooLarge(QboFault):
    """HTTP 413: QuickBooks' front end refused the body as too large (an HTML page, nothing
    applied). A batch can be split; a single write that big cannot be sent."""

    def __init__(self, detail: str) -> None:
        super().__init__(413, "Request Entity Too Large", detail)


STALE_OBJECT = 5010
DUPLICATE_NAME = 6240
NOT_FOUND = 610
