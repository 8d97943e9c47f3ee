-- What billing knows about customers, from customer.events (latest version wins).
CREATE TABLE customers (
    tenant_id           text        NOT NULL,
    customer_id         text        NOT NULL,
    parent_id           text,
    currency            text        NOT NULL,
    credit_limit_minor  bigint,
    active              boolean     NOT NULL,
    version             integer     NOT NULL,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, customer_id)
);
CREATE INDEX customers_parent ON customers (tenant_id, parent_id) WHERE parent_id IS NOT NULL;

-- Append-only ledger: one row per fact; corrections are new rows pointing at what they correct.
CREATE TABLE ledger_entries (
    seq                 bigserial   PRIMARY KEY,       -- stable order for keyset pagination
    entry_id            uuid        NOT NULL UNIQUE,
    tenant_id           text        NOT NULL,
    customer_id         text        NOT NULL,
    currency            text        NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    entry_type          text        NOT NULL CHECK (entry_type IN ('invoice', 'invoice_void',
                            'payment', 'payment_reversal', 'refund', 'credit', 'adjustment')),
    amount_minor        bigint      NOT NULL,          -- signed: + the customer owes more
    reference_id        text        NOT NULL,          -- invoice_id, payment_id, ...
    idempotency_key     text        NOT NULL,          -- '<entry_type>:<reference_id>'
    content_hash        text        NOT NULL,
    reverses_entry_id   uuid        REFERENCES ledger_entries (entry_id),
    order_id            text,
    due_date            date,
    method              text,
    reason              text,
    note                text,
    source_event_id     uuid        NOT NULL UNIQUE,
    effective_at        timestamptz NOT NULL,
    recorded_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, idempotency_key)
);
CREATE INDEX ledger_account ON ledger_entries (tenant_id, customer_id, currency, seq);
CREATE INDEX ledger_reverses ON ledger_entries (reverses_entry_id) WHERE reverses_entry_id IS NOT NULL;
CREATE INDEX ledger_due_invoices ON ledger_entries (tenant_id, customer_id, currency, due_date)
    WHERE entry_type = 'invoice' AND due_date IS NOT NULL;

CREATE FUNCTION ledger_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger entries are append-only: post a correcting entry instead';
END $$;
CREATE TRIGGER ledger_append_only BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_is_append_only();

-- How each entry moves the balance of the orders it names (signed like the entry).
CREATE TABLE order_allocations (
    entry_id            uuid        NOT NULL REFERENCES ledger_entries (entry_id),
    tenant_id           text        NOT NULL,
    customer_id         text        NOT NULL,
    currency            text        NOT NULL,
    order_id            text        NOT NULL,
    entry_type          text        NOT NULL,
    amount_minor        bigint      NOT NULL,
    PRIMARY KEY (entry_id, order_id)
);
CREATE INDEX order_allocations_account ON order_allocations (tenant_id, customer_id, currency, order_id);

-- The projection, updated in the same transaction as the entries, inbox and outbox rows.
CREATE TABLE balances (
    tenant_id               text        NOT NULL,
    customer_id             text        NOT NULL,
    currency                text        NOT NULL,
    current_balance_minor   bigint      NOT NULL DEFAULT 0,
    total_invoiced_minor    bigint      NOT NULL DEFAULT 0,
    total_paid_minor        bigint      NOT NULL DEFAULT 0,
    total_refunded_minor    bigint      NOT NULL DEFAULT 0,
    total_credits_minor     bigint      NOT NULL DEFAULT 0,
    total_adjustments_minor bigint      NOT NULL DEFAULT 0,
    entry_count             bigint      NOT NULL DEFAULT 0,
    last_entry_id           uuid,
    over_credit_limit       boolean     NOT NULL DEFAULT false,
    overdue                 boolean     NOT NULL DEFAULT false,
    overdue_amount_minor    bigint      NOT NULL DEFAULT 0,
    oldest_due_date         date,
    updated_at              timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, customer_id, currency)
);
CREATE INDEX balances_flagged ON balances (tenant_id) WHERE overdue OR over_credit_limit;

-- Same natural key, different content: parked here and reported, never applied.
CREATE TABLE conflicts (
    event_id            uuid        PRIMARY KEY,
    tenant_id           text        NOT NULL,
    customer_id         text        NOT NULL,
    idempotency_key     text        NOT NULL,
    existing_entry_id   uuid,
    existing_hash       text        NOT NULL,
    incoming_hash       text        NOT NULL,
    event_type          text        NOT NULL,
    parked_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX conflicts_tenant ON conflicts (tenant_id, parked_at);

-- Facts refused (currency mismatch, inactive customer, ...): also dead-lettered, replayable.
CREATE TABLE rejections (
    event_id            uuid        PRIMARY KEY,
    tenant_id           text        NOT NULL,
    customer_id         text        NOT NULL,
    event_type          text        NOT NULL,
    reason              text        NOT NULL,
    rejected_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rejections_tenant ON rejections (tenant_id, rejected_at);
