"""Failed rows retried on their own after an outage (issue: they stayed failed until a person
pressed retry). Only rows whose attempts ran out on errors that say nothing about the customer
(timeouts and 5xx, 429, an expired token) are retried; a fault QuickBooks answered about the
customer itself (validation, 6240, ...) stays failed for a person.

While the company does not answer, one row per company probes it, at a backoff that doubles from
`base` up to `cap` with each automatic retry of that row, at most `max_retries` times. Once any
row of the company has synced since a failed row failed, the company answers again: every such
failed row goes at once.

The push worker runs this for every company; a Desktop company's Web Connector run also runs it
for its own company when it authenticates (usecases/qbd/web_connector.py), so a Desktop row is
retried when the Web Connector calls, even where no QuickBooks Online worker runs."""

from __future__ import annotations

from typing import Any

# QuickBooks Online: timeouts and 5xx, 429, an expired token.
ONLINE_RETRYABLE = ["transient", "429", "authexpired"]
# QuickBooks Desktop: a record or list locked by another user (3170, 3175, 3176) or "modified by
# another user" (3180), and QuickBooks throwing instead of answering (an HRESULT, no response):
# usecases/qbd/customer_push.py. Nothing there is about the customer itself.
DESKTOP_RETRYABLE = ["3170", "3175", "3176", "3180", "quickbooks_error"]
RETRYABLE_CODES = ONLINE_RETRYABLE + DESKTOP_RETRYABLE


async def retry_failed_rows(
    conn: Any,
    *,
    tenant_prefix: str,
    base: float,
    cap: float,
    max_retries: int,
    company: tuple[str, str] | None = None,
) -> int:
    """Make due failed rows (of `company` only, when given) pending again (attempts from 0);
    returns how many."""
    tenant_id, realm_id = company or (None, None)
    rows = await conn.fetch(
        """WITH eligible AS (
               SELECT f.tenant_id, f.realm_id, f.customer_id, f.updated_at,
                      f.updated_at + make_interval(secs => LEAST($4, $3 * 2 ^ f.auto_retries))
                          <= now() AS backed_off,
                      EXISTS (SELECT 1 FROM push_mappings s
                               WHERE s.tenant_id = f.tenant_id AND s.realm_id = f.realm_id
                                 AND s.status = 'synced' AND s.updated_at > f.updated_at)
                          AS answering
                 FROM push_mappings f
                WHERE f.status = 'failed' AND f.last_error_code = ANY($2::text[])
                  AND f.auto_retries < $5 AND starts_with(f.tenant_id, $1)
                  AND ($6::text IS NULL OR (f.tenant_id = $6 AND f.realm_id = $7))
           ), chosen AS (
               SELECT tenant_id, realm_id, customer_id FROM eligible WHERE answering
               UNION
               SELECT * FROM (
                   SELECT DISTINCT ON (tenant_id, realm_id) tenant_id, realm_id, customer_id
                     FROM eligible WHERE NOT answering AND backed_off
                    ORDER BY tenant_id, realm_id, updated_at
               ) probes
           )
           UPDATE push_mappings m
              SET status = 'pending', due_at = now(), attempts = 0,
                  auto_retries = m.auto_retries + 1, updated_at = now()
             FROM chosen c
            WHERE m.tenant_id = c.tenant_id AND m.realm_id = c.realm_id
              AND m.customer_id = c.customer_id AND m.status = 'failed'
        RETURNING m.customer_id""",
        tenant_prefix,
        RETRYABLE_CODES,
        base,
        cap,
        max_retries,
        tenant_id,
        realm_id,
    )
    return len(rows)
