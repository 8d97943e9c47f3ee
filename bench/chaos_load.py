"""The steady mixed load bench/chaos.py runs against the platform while it kills parts of it:
customers created (and their push to QuickBooks requested), customers changed, payments.

Every request is retried the way a careful client would while services die under it: a payment
with its Idempotency-Key until it gets a definitive answer; a create only when it never reached
the service (connection refused), since the customer API has no idempotency key and a retried
create whose first answer was lost would be a second customer the client asked for. What the
client was told is recorded here and checked against the platform afterwards (chaos_checks.py).
"""

from __future__ import annotations

import asyncio
import random
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

DEFINITIVE_PAYMENT = (200, 201)


@dataclass
class Told:
    """What the platform acknowledged to the client."""

    customers: dict[str, str] = field(default_factory=dict)  # id -> last company name sent
    pushes: set[str] = field(default_factory=set)  # customer ids whose push was accepted
    payments: dict[str, tuple[str, int]] = field(default_factory=dict)  # key -> (customer, minor)
    unresolved_payments: dict[str, tuple[str, int]] = field(default_factory=dict)
    uncertain_creates: int = 0  # sent, answer lost: may or may not exist (not an error)
    changes: int = 0
    refused: dict[str, int] = field(default_factory=dict)  # unexpected 4xx by what and status

    def refuse(self, what: str, status: int) -> None:
        key = f"{what} {status}"
        self.refused[key] = self.refused.get(key, 0) + 1


class Load:
    def __init__(
        self,
        customer_url: str,
        billing_url: str,
        token: str,
        realm_id: str,
        run_id: str,
        *,
        seed: int,
    ) -> None:
        self.customer_url = customer_url
        self.billing_url = billing_url
        self.realm_id = realm_id
        self.run_id = run_id
        self.rnd = random.Random(seed)
        self.told = Told()
        self.client = httpx.AsyncClient(
            headers={"Authorization": f"Bearer {token}"}, timeout=httpx.Timeout(15.0)
        )
        self.stopping = asyncio.Event()
        self.inflight: set[asyncio.Task[None]] = set()
        # One limit per kind of work, so payments waiting for their customer to reach billing
        # never hold back the creates.
        self.limits: dict[str, asyncio.Semaphore] = {}
        self.created = 0

    # -- the three kinds of work ---------------------------------------------------------------

    async def create_customer(self) -> None:
        self.created += 1
        name = f"Chaos {self.run_id} {self.created:05d}"
        body = {"company_name": name, "contact_name": "Ada Lovelace", "email": "ada@example.com"}
        answer = await self._send("POST", f"{self.customer_url}/customers", body, resend=False)
        if answer is None:
            self.told.uncertain_creates += 1
            return
        if answer.status_code != 201:
            self.told.refuse("create", answer.status_code)
            return
        customer_id = answer.json()["customer_id"]
        self.told.customers[customer_id] = name
        push = await self._send(
            "POST",
            f"{self.customer_url}/customers/{customer_id}/quickbooks/push",
            {"realm_id": self.realm_id},
            resend=True,  # a second request for the same push is refused as mapped: harmless
        )
        if push is not None and push.status_code in (202, 409):
            self.told.pushes.add(customer_id)
        elif push is not None:
            self.told.refuse("push", push.status_code)

    async def change_customer(self) -> None:
        if not self.told.customers:
            return
        customer_id = self.rnd.choice(sorted(self.told.customers))
        name = f"{self.told.customers[customer_id].split(' v')[0]} v{self.rnd.randrange(10**6)}"
        body = {"company_name": name, "email": f"c{self.rnd.randrange(10**6)}@example.com"}
        answer = await self._send(
            "PATCH", f"{self.customer_url}/customers/{customer_id}", body, resend=True
        )
        if answer is not None and answer.status_code == 200:
            self.told.customers[customer_id] = name
            self.told.changes += 1
        elif answer is not None:
            self.told.refuse("change", answer.status_code)

    async def pay(self, key: str | None = None, settle: bool = False) -> None:
        if key is None:
            if not self.told.customers:
                return
            key = f"chaos-{uuid.uuid4()}"
            customer_id = self.rnd.choice(sorted(self.told.customers))
            amount = self.rnd.randrange(1, 100_000)
        else:
            customer_id, amount = self.told.unresolved_payments.pop(key)
        url = f"{self.billing_url}/v1/customers/{customer_id}/payments"
        body = {"amount_minor": amount, "currency": "USD"}
        for _ in range(120):  # the customer may reach billing a little after its create
            answer = await self._send("POST", url, body, resend=True, key=key, patient=settle)
            if answer is not None and answer.status_code in DEFINITIVE_PAYMENT:
                self.told.payments[key] = (customer_id, amount)
                return
            if answer is not None and answer.status_code != 404:
                self.told.refuse("payment", answer.status_code)
                return
            if self.stopping.is_set() and not settle:
                break
            await asyncio.sleep(1)
        self.told.unresolved_payments[key] = (customer_id, amount)

    # -- plumbing ------------------------------------------------------------------------------

    async def _send(
        self,
        method: str,
        url: str,
        body: dict[str, Any],
        *,
        resend: bool,
        key: str | None = None,
        patient: bool = False,
    ) -> httpx.Response | None:
        """The answer, retried through restarts; None when the outcome cannot be known (the
        request went out and its answer was lost, and it may not be resent)."""
        headers = {"Idempotency-Key": key} if key else {}
        for _ in range(600 if patient else 60):
            try:
                answer = await self.client.request(method, url, json=body, headers=headers)
            except httpx.ConnectError:
                answer = None  # never reached the service: always safe to send again
            except httpx.TransportError:
                if not resend:
                    return None
                answer = None
            if answer is not None and answer.status_code < 500:
                return answer
            if answer is not None and not resend:
                return None  # a 5xx to a create: it may have been stored before the failure
            if self.stopping.is_set() and not patient:
                return None
            await asyncio.sleep(0.5)
        return None

    async def _spawn(self, kind: str, make: Any) -> None:
        """Start one request once fewer than 16 of its kind are in flight: while the platform is
        slow the offered rate drops instead of a backlog piling up behind it (which would keep
        the load going long after stop())."""
        limit = self.limits.setdefault(kind, asyncio.Semaphore(16))
        await limit.acquire()

        async def guarded() -> None:
            try:
                await make()
            finally:
                limit.release()

        task = asyncio.create_task(guarded())
        self.inflight.add(task)
        task.add_done_callback(self.inflight.discard)

    async def run(self, creates_per_s: float, changes_per_s: float, payments_per_s: float) -> None:
        """Until stop(): each kind at its rate, each request its own task."""

        async def pace(rate: float, make: Any) -> None:
            while not self.stopping.is_set():
                await self._spawn(make.__name__, make)
                await asyncio.sleep(self.rnd.expovariate(rate))

        await asyncio.gather(
            pace(creates_per_s, self.create_customer),
            pace(changes_per_s, self.change_customer),
            pace(payments_per_s, self.pay),
        )

    async def stop(self) -> None:
        self.stopping.set()
        while self.inflight:
            await asyncio.gather(*list(self.inflight), return_exceptions=True)

    async def settle_payments(self) -> None:
        """Ask again for every payment whose answer was lost: with the platform up, each must now
        be answered (recorded, or already recorded) under its key."""
        for key in sorted(self.told.unresolved_payments):
            await self.pay(key, settle=True)

    async def close(self) -> None:
        await self.client.aclose()
