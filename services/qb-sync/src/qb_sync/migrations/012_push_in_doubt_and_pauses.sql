-- An update sent whose answer never came (read timeout, connection cut, qb-sync killed): the
-- sparse body, kept until an answer is seen. The next push re-reads QuickBooks first and treats
-- these fields as possibly changed there by ourselves (usecases/push_update.py).
ALTER TABLE push_mappings ADD COLUMN write_in_doubt jsonb;

-- Failed rows retried on their own once their company answers again (usecases/auto_retry.py):
-- how many times so far since the row last moved, for the bounded backoff.
ALTER TABLE push_mappings ADD COLUMN auto_retries integer NOT NULL DEFAULT 0;

-- A company QuickBooks throttled (429) is paused until `paused_until`. Kept in PostgreSQL so the
-- sync status API can show it and a restarted qb-sync honours it (qbo/realm_pauses.py).
CREATE TABLE qbo_realm_pauses (
    realm_id      text        PRIMARY KEY,
    paused_until  timestamptz NOT NULL,
    reason        text        NOT NULL,
    paused_at     timestamptz NOT NULL DEFAULT now()
);
