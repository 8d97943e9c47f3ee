"""Outgoing webhooks: legacy or CloudEvents payloads signed with `intuit-signature`.

Delivery runs on a daemon thread so a slow subscriber never stalls the API; failures are retried
on a compressed schedule (QBO's real one starts at 10 s).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import queue
import threading
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime
from typing import Any

from qbo_emulator.clock import Clock
from qbo_emulator.settings import Settings

CLOUD_TYPES = {"Create": "created", "Update": "updated", "Merge": "merged", "Delete": "deleted"}


def sign(body: bytes, verifier_token: str) -> str:
    """base64(HMAC-SHA256(verifier token, raw body)), as python-quickbooks validates it."""
    return base64.b64encode(
        hmac.new(verifier_token.encode(), body, hashlib.sha256).digest()
    ).decode()


def legacy_payload(event: dict[str, Any]) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "id": event["id"],
        "operation": event["operation"],
        "name": event["entity"],
        "lastUpdated": event["lastUpdated"],
    }
    if event.get("deletedId"):
        entity["deletedId"] = event["deletedId"]  # field name on Merge: n/v
    return {
        "eventNotifications": [
            {"realmId": event["realmId"], "dataChangeEvent": {"entities": [entity]}}
        ]
    }


def cloudevents_payload(event: dict[str, Any]) -> list[dict[str, Any]]:
    kind = CLOUD_TYPES.get(event["operation"], event["operation"].lower())
    item: dict[str, Any] = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "intuit.emulator",
        "type": f"qbo.{event['entity'].lower()}.{kind}.v1",
        "datacontenttype": "application/json",
        "time": event["lastUpdated"],
        "intuitentityid": event["id"],
        "intuitaccountid": event["realmId"],
    }
    if event.get("deletedId"):
        item["data"] = {"deletedid": event["deletedId"]}
    return [item]


class Notifier:
    """Queues one signed notification per change and delivers them in order on a thread.

    `deliveries` is the admin view: one record per notification (`seq` = its index), with its
    body, attempts and outcome. Tests can hold notifications back and release them in another
    order, or deliver a past one again (duplicates and out-of-order delivery, which Intuit warns of in its webhooks best practices)."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self.deliveries: list[dict[str, Any]] = []
        self._jobs: list[dict[str, Any]] = []  # by seq: url, body bytes, signature
        self._held: list[int] = []
        self._holding = False
        self._queue: queue.Queue[tuple[dict[str, Any], dict[str, Any]] | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    def emit(
        self, realm_id: str, entity: str, entity_id: str, operation: str, deleted_id: str | None
    ) -> None:
        if not self.settings.webhook_url:
            return
        # The emulator's clock, so clock_offset_seconds moves webhook times with MetaData.
        now = datetime.fromtimestamp(self.clock.epoch(), UTC)
        event = {
            "realmId": realm_id,
            "entity": entity,
            "id": entity_id,
            "operation": operation,
            "deletedId": deleted_id,
            "lastUpdated": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }
        payload: Any = (
            cloudevents_payload(event)
            if self.settings.webhook_format == "cloudevents"
            else legacy_payload(event)
        )
        body = json.dumps(payload).encode()
        seq = self._record(
            self.settings.webhook_url, body, sign(body, self.settings.webhook_verifier_token), event
        )
        if self._holding:
            self.deliveries[seq]["held"] = True
            self._held.append(seq)
        else:
            self._send(seq)

    def redeliver(self, seq: int) -> dict[str, Any]:
        """A new delivery of notification `seq` with the very same body and signature."""
        if not 0 <= seq < len(self._jobs):
            raise IndexError(seq)
        job = self._jobs[seq]
        copy = self._record(
            job["url"], job["body"], job["signature"], self.deliveries[seq]["event"]
        )
        self.deliveries[copy]["duplicate_of"] = seq
        self._send(copy)
        return self.deliveries[copy]

    def hold(self) -> None:
        self._holding = True

    def release(self, order: str | list[int] = "fifo") -> list[int]:
        """Stop holding; send the held notifications oldest first, newest first, or as listed."""
        if order == "fifo":
            sequence = list(self._held)
        elif order == "reverse":
            sequence = list(reversed(self._held))
        elif isinstance(order, list) and sorted(order) == sorted(self._held):
            sequence = [int(s) for s in order]
        else:
            raise ValueError(f"order must be fifo, reverse or a list of the held {self._held}")
        self._holding = False
        self._held.clear()
        for seq in sequence:
            self.deliveries[seq]["held"] = False
            self._send(seq)
        return sequence

    def clear(self) -> None:
        self.deliveries.clear()
        self._jobs.clear()
        self._held.clear()
        self._holding = False

    def _record(self, url: str, body: bytes, signature: str, event: dict[str, Any]) -> int:
        seq = len(self.deliveries)
        self._jobs.append({"url": url, "body": body, "signature": signature})
        self.deliveries.append(
            {
                "seq": seq,
                "url": url,
                "event": event,
                "body": body.decode(),
                "attempts": [],
                "delivered": False,
                "held": False,
            }
        )
        return seq

    def _send(self, seq: int) -> None:
        self._queue.put((self._jobs[seq], self.deliveries[seq]))
        self._ensure_thread()

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="qbo-webhooks", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            self._deliver(*item)

    def _deliver(self, job: dict[str, Any], record: dict[str, Any]) -> None:
        delays = [0.0, *self.settings.webhook_retry_delays]
        for delay in delays:
            time.sleep(delay)
            request = urllib.request.Request(
                job["url"],
                data=job["body"],
                method="POST",
                headers={"Content-Type": "application/json", "intuit-signature": job["signature"]},
            )
            try:
                with urllib.request.urlopen(
                    request, timeout=self.settings.webhook_timeout
                ) as reply:
                    status = reply.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            except OSError as exc:
                record["attempts"].append({"error": str(exc)})
                continue
            record["attempts"].append({"status": status})
            if status == 200:
                record["delivered"] = True
                return

    def stop(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout=2)
