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
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.deliveries: list[dict[str, Any]] = []
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    def emit(
        self, realm_id: str, entity: str, entity_id: str, operation: str, deleted_id: str | None
    ) -> None:
        if not self.settings.webhook_url:
            return
        event = {
            "realmId": realm_id,
            "entity": entity,
            "id": entity_id,
            "operation": operation,
            "deletedId": deleted_id,
            "lastUpdated": datetime.now(UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
        }
        payload: Any = (
            cloudevents_payload(event)
            if self.settings.webhook_format == "cloudevents"
            else legacy_payload(event)
        )
        body = json.dumps(payload).encode()
        self._queue.put(
            {
                "url": self.settings.webhook_url,
                "body": body,
                "event": event,
                "signature": sign(body, self.settings.webhook_verifier_token),
            }
        )
        self._ensure_thread()

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="qbo-webhooks", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while (job := self._queue.get()) is not None:
            self._deliver(job)

    def _deliver(self, job: dict[str, Any]) -> None:
        record = {"url": job["url"], "event": job["event"], "attempts": [], "delivered": False}
        self.deliveries.append(record)
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
