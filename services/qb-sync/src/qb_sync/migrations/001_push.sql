-- The last QuickBooks customer version mirrored to qb.customers (mirror.py, shared by push and
-- pull): a version not newer than this is never published again.
CREATE TABLE mirror_versions (
    tenant_id       text        NOT NULL,
    realm_id        text        NOT NULL,
    qb_customer_id  text        NOT NULL,
    sync_token      integer     NOT NULL,
    mirrored_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, realm_id, qb_customer_id)
);

-- The latest customer snapshot seen on customer.events (push needs the data to push).
CREATE TABLE push_customers (
    tenant_id    text        NOT NULL,
    customer_id  text        NOT NULL,
    version      integer     NOT NULL,
    snapshot     jsonb       NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, customer_id)
);

-- Mapping state per (tenant, QuickBooks company, platform customer) (push/state.py).
--   status: pending (work to do, from due_at), synced, failed (attempts used up or a permanent
--     fault), conflict (both sides changed a field; `conflict` holds both values), needs_link
--     (the name is taken in QuickBooks; `candidate_qb_customer_id` / `reason`).
--   create_request_id: the requestid of the create, uuid5(realm, customer, push generation),
--     written when the push is requested, i.e. before any create call.
--   pushed_content: the QuickBooks fields as last pushed (or adopted at link time): the base of
--     sparse diffs and of the three-way merge on 5010; pushed_hash is its sha256.
--   dirty: the snapshot changed while a worker held the row; the outcome keeps it pending.
--   lease_until/lease_owner: a worker's claim; a killed worker's rows come back when it expires.
CREATE TABLE push_mappings (
    tenant_id                 text        NOT NULL,
    realm_id                  text        NOT NULL,
    customer_id               text        NOT NULL,
    qb_customer_id            text,
    sync_token                integer,
    status                    text        NOT NULL DEFAULT 'pending'
                                  CHECK (status IN ('pending', 'synced', 'failed', 'conflict',
                                                    'needs_link')),
    create_request_id         text        NOT NULL,
    pushed_content            jsonb,
    pushed_hash               text,
    dirty                     boolean     NOT NULL DEFAULT false,
    attempts                  integer     NOT NULL DEFAULT 0,
    last_error_code           text,
    last_error_message        text,
    candidate_qb_customer_id  text,
    conflict                  jsonb,
    due_at                    timestamptz,
    lease_until               timestamptz,
    lease_owner               text,
    created_at                timestamptz NOT NULL DEFAULT now(),
    updated_at                timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, realm_id, customer_id)
);
-- One platform customer per QuickBooks customer per company.
CREATE UNIQUE INDEX push_mappings_qb_id ON push_mappings (tenant_id, realm_id, qb_customer_id)
    WHERE qb_customer_id IS NOT NULL;
CREATE INDEX push_mappings_due ON push_mappings (due_at) WHERE status = 'pending';
CREATE INDEX push_mappings_customer ON push_mappings (tenant_id, customer_id);
CREATE INDEX push_mappings_status ON push_mappings (tenant_id, status, realm_id);
