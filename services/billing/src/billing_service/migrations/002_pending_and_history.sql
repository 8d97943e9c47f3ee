-- Every version of a customer billing has seen, with the time it took effect (its event time).
-- A transaction is judged by the customer as of the transaction's own time, so the outcome does
-- not depend on which poll the customer event and the transaction happened to share.
CREATE TABLE customer_versions (
    tenant_id       text        NOT NULL,
    customer_id     text        NOT NULL,
    version         integer     NOT NULL,
    currency        text        NOT NULL,
    active          boolean     NOT NULL,
    effective_at    timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, customer_id, version)
);
-- Customers known before this table existed: their current state holds for all time.
INSERT INTO customer_versions (tenant_id, customer_id, version, currency, active, effective_at)
SELECT tenant_id, customer_id, version, currency, active, '-infinity' FROM customers;

-- Transactions that cannot apply yet: the customer is not known to billing yet (customer.events
-- is another topic, a producer may be ahead of the customer service), or a void/reversal came
-- before what it corrects. Drained in arrival order when the dependency arrives. The original
-- record is kept, so a fact refused at drain time is dead-lettered with its own bytes.
CREATE TABLE pending_transactions (
    seq             bigserial   PRIMARY KEY,
    event_id        uuid        NOT NULL UNIQUE,
    tenant_id       text        NOT NULL,
    customer_id     text        NOT NULL,
    waits_for       text        NOT NULL,      -- 'customer', or the natural key a correction needs
    topic           text        NOT NULL,
    kafka_partition integer     NOT NULL,
    kafka_offset    bigint      NOT NULL,
    kafka_key       bytea,
    kafka_value     bytea       NOT NULL,
    kafka_headers   jsonb       NOT NULL,      -- [[name, value], ...] as received
    parked_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX pending_by_customer ON pending_transactions (tenant_id, customer_id)
    WHERE waits_for = 'customer';
CREATE INDEX pending_by_key ON pending_transactions (tenant_id, waits_for);

-- A refusal is resolved once its natural key enters the ledger (replayed after a fix, or sent
-- again corrected); resolved rows stay for the record but are no longer listed as open.
ALTER TABLE rejections
    ADD COLUMN idempotency_key      text,
    ADD COLUMN resolved_at          timestamptz,
    ADD COLUMN resolved_by_entry_id uuid;
CREATE INDEX rejections_open_by_key ON rejections (tenant_id, idempotency_key)
    WHERE resolved_at IS NULL;

-- The first day on which the calendar alone can change this account's overdue status (the day
-- after its next not-yet-past-due invoice is due); the sweep visits only accounts at or past it.
ALTER TABLE balances ADD COLUMN next_due_check date;
UPDATE balances b SET next_due_check = d.first_due + 1
FROM (SELECT tenant_id, customer_id, currency, min(due_date) AS first_due
      FROM ledger_entries WHERE entry_type = 'invoice' AND due_date IS NOT NULL
      GROUP BY tenant_id, customer_id, currency) d
WHERE (b.tenant_id, b.customer_id, b.currency) = (d.tenant_id, d.customer_id, d.currency);
CREATE INDEX balances_due_check ON balances (next_due_check, tenant_id, customer_id, currency)
    WHERE next_due_check IS NOT NULL;
