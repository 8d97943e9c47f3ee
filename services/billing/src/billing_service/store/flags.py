"""Re-evaluate credit-limit and overdue flags of some accounts; emit an event when one flips."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import date, timedelta

import asyncpg

from billing_service.domain.flags import over_credit_limit, overdue_status
from billing_service.store.metrics import FLAG_CHANGES
from platform_events import EventData, new_envelope
from platform_events.contracts.billing import CreditLimitExceeded, OverdueChanged
from platform_kit.outbox import OutgoingEvent, outgoing

SOURCE = "billing"
AccountKey = tuple[str, str, str]
# What an account's change was caused by: (correlation_id, causation_id) of the consumed event.
Causes = Mapping[AccountKey, tuple[str | None, str | None]]
NO_CAUSE: tuple[str | None, str | None] = (None, None)


async def refresh_flags(
    conn: asyncpg.Connection,
    accounts: Sequence[AccountKey],
    today: date,
    causes: Causes | None = None,
) -> list[OutgoingEvent]:
    """Flags of these accounts as of `today`; updates the rows and returns events for changes,
    naming the event that caused each account's change (`causes`; none for the daily sweep).

    The caller holds these customers' locks (store/locks.py), so the figures read here are the
    ones the flags are written against."""
    if not accounts:
        return []
    tenants, customers, currencies = (list(col) for col in zip(*accounts, strict=True))
    rows = await conn.fetch(
        """SELECT b.tenant_id, b.customer_id, b.currency, b.current_balance_minor,
                  b.total_invoiced_minor, b.entry_count, b.over_credit_limit, b.overdue,
                  b.overdue_amount_minor, b.oldest_due_date, b.next_due_check,
                  CASE WHEN c.currency = b.currency THEN c.credit_limit_minor END AS credit_limit
           FROM balances b
           JOIN unnest($1::text[], $2::text[], $3::text[]) AS k(tenant_id, customer_id, currency)
             USING (tenant_id, customer_id, currency)
           LEFT JOIN customers c USING (tenant_id, customer_id)
           ORDER BY 1, 2, 3""",
        tenants,
        customers,
        currencies,
    )
    past_due: dict[AccountKey, list[tuple[date, int]]] = defaultdict(list)
    next_check: dict[AccountKey, date] = {}
    for r in await conn.fetch(
        """SELECT e.tenant_id, e.customer_id, e.currency, e.due_date, e.amount_minor
           FROM ledger_entries e
           JOIN unnest($1::text[], $2::text[], $3::text[]) AS k(tenant_id, customer_id, currency)
             USING (tenant_id, customer_id, currency)
           WHERE e.entry_type = 'invoice' AND e.due_date IS NOT NULL
             AND NOT EXISTS (SELECT 1 FROM ledger_entries v WHERE v.reverses_entry_id = e.entry_id)""",
        tenants,
        customers,
        currencies,
    ):
        account = (r["tenant_id"], r["customer_id"], r["currency"])
        if r["due_date"] < today:
            past_due[account].append((r["due_date"], r["amount_minor"]))
        else:  # becomes past due the day after its due date: the sweep looks again then
            check = r["due_date"] + timedelta(days=1)
            next_check[account] = min(check, next_check.get(account, check))

    events: list[OutgoingEvent] = []
    updates: list[tuple[object, ...]] = []
    for r in rows:
        account = (r["tenant_id"], r["customer_id"], r["currency"])
        over = over_credit_limit(r["current_balance_minor"], r["credit_limit"])
        status = overdue_status(
            r["current_balance_minor"], r["total_invoiced_minor"], past_due.get(account, [])
        )
        correlation_id, causation_id = (causes or {}).get(account, NO_CAUSE)
        credit_flipped = over != r["over_credit_limit"]
        overdue_flipped = status.overdue != r["overdue"]
        flipped: list[EventData] = []
        if credit_flipped:
            FLAG_CHANGES.labels("credit_limit").inc()
            flipped.append(
                CreditLimitExceeded(
                    customer_id=r["customer_id"],
                    currency=r["currency"],
                    credit_limit_minor=r["credit_limit"] or 0,
                    current_balance_minor=r["current_balance_minor"],
                    exceeded=over,
                )
            )
        if overdue_flipped:
            FLAG_CHANGES.labels("overdue").inc()
            flipped.append(
                OverdueChanged(
                    customer_id=r["customer_id"],
                    overdue=status.overdue,
                    overdue_amount_minor=status.amount_minor,
                    oldest_due_date=status.oldest_due_date,
                    currency=r["currency"],
                )
            )
        events.extend(account_event(r, e, correlation_id, causation_id) for e in flipped)
        due_check = next_check.get(account)
        if (
            credit_flipped
            or overdue_flipped
            or status.amount_minor != r["overdue_amount_minor"]
            or status.oldest_due_date != r["oldest_due_date"]
            or due_check != r["next_due_check"]
        ):
            updates.append(
                (
                    *account,
                    over,
                    status.overdue,
                    status.amount_minor,
                    status.oldest_due_date,
                    due_check,
                )
            )
    if updates:
        await conn.executemany(
            """UPDATE balances SET over_credit_limit = $4, overdue = $5,
                   overdue_amount_minor = $6, oldest_due_date = $7, next_due_check = $8
               WHERE tenant_id = $1 AND customer_id = $2 AND currency = $3""",
            updates,
        )
    return events


def account_event(
    row: asyncpg.Record,
    data: EventData,
    correlation_id: str | None = None,
    causation_id: str | None = None,
) -> OutgoingEvent:
    """An event about one account (a balances row): keyed by its customer, numbered by entries."""
    return outgoing(
        new_envelope(
            data,
            source=SOURCE,
            subject=row["customer_id"],
            tenant_id=row["tenant_id"],
            sequence=row["entry_count"],
            correlation_id=correlation_id,
            causation_id=causation_id,
        )
    )
