"""The end-of-run checks of bench/chaos.py (and tests/fault): what the client was told against
what the platform and QuickBooks hold. Each figure must be 0; `details` names the rows behind it.

- events_lost: an acknowledged customer missing; a customer whose latest version never reached
  billing or qb-sync; a QuickBooks link that never came back to the customer service; an
  acknowledged payment with no ledger entry.
- applied_twice: a payment with more than one ledger entry, or an entry whose amount differs.
- balances_differ: billing's stored balances against a recompute from its ledger, and each
  customer's total paid against the sum of the payments the client was told were recorded.
- duplicate_qb_customers: a display name created more than once in the company, a QuickBooks
  customer no mapping points at, or one QuickBooks customer mapped to two platform customers.
- values_differ: a synced customer whose QuickBooks name, company or email differ from the
  platform's.
- rows_stuck: outbox rows not published, push rows not synced, billing transactions parked.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import asyncpg
import httpx

from bench.chaos_load import Told
from billing_service.store.recompute import differences
from qb_sync.domain.fields import desired

FIGURES = (
    "events_lost",
    "applied_twice",
    "balances_differ",
    "duplicate_qb_customers",
    "values_differ",
    "rows_stuck",
)


async def _emulator(emulator_url: str, realm_id: str) -> tuple[dict[str, Any], Counter[str]]:
    async with httpx.AsyncClient(timeout=60) as client:
        customers = (await client.get(f"{emulator_url}/_admin/realms/{realm_id}/customers")).json()
        state = (await client.get(f"{emulator_url}/_admin/state")).json()
    creates = Counter(
        {
            key.partition(":")[2]: n
            for key, n in state["creates_by_name"].items()
            if key.startswith(f"{realm_id}:")
        }
    )
    return customers, creates


async def stuck_rows(conn: asyncpg.Connection, tenant: str) -> dict[str, int]:
    """Work not done yet (settling waits for these to reach 0)."""
    return {
        "outbox": await conn.fetchval(
            """SELECT (SELECT count(*) FROM customer.outbox) + (SELECT count(*) FROM billing.outbox)
                    + (SELECT count(*) FROM qb_sync.outbox)"""
        ),
        "push_not_synced": await conn.fetchval(
            "SELECT count(*) FROM qb_sync.push_mappings "
            "WHERE tenant_id = $1 AND (status <> 'synced' OR dirty)",
            tenant,
        ),
        "billing_parked": await conn.fetchval(
            "SELECT count(*) FROM billing.pending_transactions WHERE tenant_id = $1", tenant
        ),
    }


async def lagging_views(conn: asyncpg.Connection, tenant: str) -> dict[str, list[str]]:
    """Customers whose latest version has not reached billing or qb-sync, and pushed customers
    whose QuickBooks link has not reached the customer service."""
    billing = await conn.fetch(
        """SELECT c.customer_id::text FROM customer.customers c
           LEFT JOIN billing.customers b
             ON b.tenant_id = c.tenant_id AND b.customer_id = c.customer_id::text
           WHERE c.tenant_id = $1 AND b.version IS DISTINCT FROM c.version""",
        tenant,
    )
    qb_sync = await conn.fetch(
        """SELECT c.customer_id::text FROM customer.customers c
           JOIN qb_sync.push_mappings m
             ON m.tenant_id = c.tenant_id AND m.customer_id = c.customer_id::text
           LEFT JOIN qb_sync.push_customers p
             ON p.tenant_id = c.tenant_id AND p.customer_id = c.customer_id::text
           WHERE c.tenant_id = $1 AND p.version IS DISTINCT FROM c.version""",
        tenant,
    )
    links = await conn.fetch(
        """SELECT m.customer_id FROM qb_sync.push_mappings m
           LEFT JOIN customer.qb_mappings q
             ON q.tenant_id = m.tenant_id AND q.realm_id = m.realm_id
            AND q.customer_id::text = m.customer_id
           WHERE m.tenant_id = $1 AND m.qb_customer_id IS NOT NULL
             AND q.qb_customer_id IS DISTINCT FROM m.qb_customer_id""",
        tenant,
    )
    return {
        "billing": [r[0] for r in billing],
        "qb_sync": [r[0] for r in qb_sync],
        "links": [r[0] for r in links],
    }


async def check(
    pool: asyncpg.Pool, told: Told, tenant: str, realm_id: str, emulator_url: str
) -> tuple[dict[str, int], dict[str, Any]]:
    details: dict[str, Any] = {}
    async with pool.acquire() as conn:
        existing = {
            r[0]
            for r in await conn.fetch(
                "SELECT customer_id::text FROM customer.customers WHERE tenant_id = $1", tenant
            )
        }
        lagging = await lagging_views(conn, tenant)
        entries = await conn.fetch(
            """SELECT idempotency_key, reference_id, customer_id, amount_minor
               FROM billing.ledger_entries WHERE tenant_id = $1 AND entry_type = 'payment'""",
            tenant,
        )
        paid = {
            r["customer_id"]: r["total_paid_minor"]
            for r in await conn.fetch(
                "SELECT customer_id, total_paid_minor FROM billing.balances WHERE tenant_id = $1",
                tenant,
            )
        }
        async with conn.transaction():  # billing's queries name its tables unqualified
            await conn.execute("SET LOCAL search_path TO billing")
            recompute = [d for d in await differences(conn) if d["tenant_id"] == tenant]
        mappings = await conn.fetch(
            """SELECT customer_id, qb_customer_id FROM qb_sync.push_mappings
               WHERE tenant_id = $1 AND realm_id = $2""",
            tenant,
            realm_id,
        )
        platform = {
            r["customer_id"]: dict(r)
            for r in await conn.fetch(
                """SELECT customer_id::text, company_name, display_name, email, active
                   FROM customer.customers WHERE tenant_id = $1""",
                tenant,
            )
        }
        stuck = await stuck_rows(conn, tenant)

    by_payment: dict[str, list[Any]] = {}
    for entry in entries:
        by_payment.setdefault(entry["reference_id"], []).append(entry)
    missing_customers = sorted(set(told.customers) - existing)
    missing_payments = sorted(k for k in told.payments if k not in by_payment)
    details["events_lost"] = {
        "acknowledged_customers_missing": missing_customers,
        "payments_missing": missing_payments,
        "billing_behind": lagging["billing"],
        "qb_sync_behind": lagging["qb_sync"],
        "links_not_back": lagging["links"],
    }
    events_lost = sum(len(v) for v in details["events_lost"].values())

    twice = [k for k, rows in by_payment.items() if len(rows) > 1]
    wrong_amount = [
        k
        for k, (customer, amount) in told.payments.items()
        if k in by_payment
        # the ledger stores a payment as a credit (negative amount)
        and [(r["customer_id"], -r["amount_minor"]) for r in by_payment[k]] != [(customer, amount)]
    ]
    details["applied_twice"] = {"several_entries": twice, "entry_differs": wrong_amount}
    applied_twice = len(set(twice) | set(wrong_amount))

    expected_paid: Counter[str] = Counter()
    for customer, amount in told.payments.values():
        expected_paid[customer] += amount
    client_view = sorted(
        c for c in set(expected_paid) | set(paid) if paid.get(c, 0) != expected_paid.get(c, 0)
    )
    details["balances_differ"] = {"recompute": recompute, "client_sum": client_view}
    balances_differ = len(recompute) + len(client_view)

    in_quickbooks, creates = await _emulator(emulator_url, realm_id)
    mapped = Counter(r["qb_customer_id"] for r in mappings if r["qb_customer_id"])
    details["duplicate_qb_customers"] = {
        "created_twice": sorted(name for name, n in creates.items() if n > 1),
        "unmapped_in_quickbooks": sorted(set(in_quickbooks) - set(mapped)),
        "mapped_twice": sorted(qb for qb, n in mapped.items() if n > 1),
    }
    duplicate_qb = (
        sum(n - 1 for n in creates.values() if n > 1)
        + len(details["duplicate_qb_customers"]["unmapped_in_quickbooks"])
        + sum(n - 1 for n in mapped.values() if n > 1)
    )

    differ = []
    for row in mappings:
        qb = in_quickbooks.get(row["qb_customer_id"] or "")
        customer = platform.get(row["customer_id"])
        if qb is None or customer is None:
            differ.append(row["customer_id"])
            continue
        want = desired(customer)
        have = {
            "DisplayName": qb.get("DisplayName"),
            "CompanyName": qb.get("CompanyName"),
            "PrimaryEmailAddr": qb.get("PrimaryEmailAddr"),
            "Active": qb.get("Active", True),
        }
        if any(want.get(k) != have[k] for k in have):
            differ.append(row["customer_id"])
    details["values_differ"] = differ

    details["rows_stuck"] = stuck
    figures = {
        "events_lost": events_lost,
        "applied_twice": applied_twice,
        "balances_differ": balances_differ,
        "duplicate_qb_customers": duplicate_qb,
        "values_differ": len(differ),
        "rows_stuck": sum(stuck.values()),
    }
    return figures, details
