"""Fault rules set by tests through the admin API.

kinds:
- latency: sleep `seconds`, then answer normally.
- error: answer `status` (500/502/503/413...) with an HTML, XML or JSON body; nothing is applied.
- timeout: sleep `seconds`, then 504 with an HTML body; nothing is applied.
- drop_after_commit: apply the write, then cut the connection mid-response (response lost).
- hang_after_commit: apply the write, then sleep `seconds` before answering (a client timeout
  fires although the write happened).
- refuse_write: a create or update (single or a batch item) whose DisplayName matches the regex
  `name` is refused with a 6000 business validation fault saying `detail`; nothing is applied.
  In a batch only that item fails, as Intuit answers item faults.
"""

from __future__ import annotations

import random
import re
from dataclasses import asdict, dataclass
from typing import Any

KINDS = ("latency", "error", "timeout", "drop_after_commit", "hang_after_commit", "refuse_write")
LATENCY = ("latency",)
BEFORE = ("error", "timeout")
AFTER = ("drop_after_commit", "hang_after_commit")


@dataclass
class FaultRule:
    kind: str
    realm: str | None = None  # None: every realm
    method: str | None = None  # None: any method
    path: str | None = None  # regex searched in the path after /v3/company/{realm}
    seconds: float = 0.0
    status: int = 500
    body: str = "html"  # html, xml or json
    times: int | None = 1  # None: until cleared
    probability: float = 1.0  # chance that a matching request is hit (error rates)
    name: str | None = None  # refuse_write: regex searched in the written DisplayName
    detail: str = "refused by an injected rule"  # refuse_write: the fault's detail

    def matches(self, realm: str, method: str, path: str) -> bool:
        return (
            (self.realm is None or self.realm == realm)
            and (self.method is None or self.method.upper() == method.upper())
            and (self.path is None or re.search(self.path, path) is not None)
        )


class FaultBook:
    def __init__(self) -> None:
        self.rules: list[FaultRule] = []

    def add(self, spec: dict[str, Any]) -> FaultRule:
        rule = FaultRule(**spec)
        if rule.kind not in KINDS:
            raise ValueError(f"unknown fault kind {rule.kind!r}; expected one of {KINDS}")
        self.rules.append(rule)
        return rule

    def take(self, realm: str, method: str, path: str, phase: tuple[str, ...]) -> FaultRule | None:
        """The first matching rule of the phase, consuming one of its uses."""
        for rule in self.rules:
            if rule.kind in phase and rule.matches(realm, method, path):
                if rule.probability < 1.0 and random.random() >= rule.probability:
                    continue
                return self._use(rule)
        return None

    def refusal(self, realm: str, display_name: str) -> FaultRule | None:
        """The first `refuse_write` rule matching a write of `display_name`, one use consumed."""
        for rule in self.rules:
            if (
                rule.kind == "refuse_write"
                and (rule.realm is None or rule.realm == realm)
                and re.search(rule.name or "", display_name) is not None
            ):
                return self._use(rule)
        return None

    def _use(self, rule: FaultRule) -> FaultRule:
        """One use of `rule` consumed; a rule with none left is gone."""
        if rule.times is not None:
            rule.times -= 1
            if rule.times <= 0:
                self.rules.remove(rule)
        return rule

    def clear(self) -> None:
        self.rules.clear()

    def dump(self) -> list[dict[str, Any]]:
        return [asdict(r) for r in self.rules]


def error_body(status: int, kind: str) -> tuple[str, str]:
    """(body, media type) for an injected server error."""
    if kind == "xml":
        return (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<IntuitResponse xmlns="http://schema.intuit.com/finance/v3"><Fault type="SystemFault">'
            f'<Error code="10000"><Message>An application error has occurred while processing your '
            f"request</Message><Detail>System Failure Error: HTTP {status}</Detail></Error></Fault>"
            "</IntuitResponse>",
            "application/xml",
        )
    if kind == "json":
        return (
            '{"Fault":{"Error":[{"Message":"An application error has occurred while processing your '
            f'request","Detail":"System Failure Error: HTTP {status}","code":"10000"}}],'
            '"type":"SystemFault"}}',
            "application/json",
        )
    return (f"<html><body><h1>{status} Service Unavailable</h1></body></html>", "text/html")


SIMPLE_KEYS = (
    "latency_ms",
    "error_5xx_rate",
    "fail_next_n_5xx",
    "drop_response_after_commit_next_n",
    "timeout_next_n",
    "timeout_seconds",
    "status",
    "realm_id",
    "path",
)


def simple_rules(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Rules for `set_faults(**kw)`: latency_ms (every request), error_5xx_rate (0..1, every
    request), fail_next_n_5xx, drop_response_after_commit_next_n (writes), timeout_next_n (sleep
    timeout_seconds, default 2, then 504); status (default 503) for the 5xx; realm_id/path scope."""
    unknown = set(spec) - set(SIMPLE_KEYS)
    if unknown:
        raise ValueError(f"unknown fault settings {sorted(unknown)}; expected {SIMPLE_KEYS}")
    scope = {"realm": spec.get("realm_id"), "path": spec.get("path")}
    status = int(spec.get("status") or 503)
    rules: list[dict[str, Any]] = []
    if spec.get("latency_ms"):
        rules.append(
            {"kind": "latency", "seconds": spec["latency_ms"] / 1000, "times": None, **scope}
        )
    if spec.get("fail_next_n_5xx"):
        rules.append(
            {"kind": "error", "status": status, "times": int(spec["fail_next_n_5xx"]), **scope}
        )
    if spec.get("error_5xx_rate"):
        rules.append(
            {
                "kind": "error",
                "status": status,
                "times": None,
                "probability": float(spec["error_5xx_rate"]),
                **scope,
            }
        )
    if spec.get("timeout_next_n"):
        rules.append(
            {
                "kind": "timeout",
                "seconds": float(spec.get("timeout_seconds") or 2.0),
                "times": int(spec["timeout_next_n"]),
                **scope,
            }
        )
    if spec.get("drop_response_after_commit_next_n"):
        rules.append(
            {
                "kind": "drop_after_commit",
                "method": "POST",
                "times": int(spec["drop_response_after_commit_next_n"]),
                **scope,
            }
        )
    return rules
