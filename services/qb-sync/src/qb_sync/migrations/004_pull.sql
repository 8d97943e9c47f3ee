-- Pull state per connected realm (owned by pull/).
--   import_requested_at: set when a full import is due (connect, "refresh", CDC too old); cleared
--     by the import that finishes it. import_after_id is its keyset cursor (the last Id mirrored),
--     committed with each page, so an import killed mid-way resumes where it stopped.
--   cdc_watermark: every change up to this time is mirrored. cdc_due_at: run CDC now (webhooks
--     set it), else on the schedule.
CREATE TABLE pull_state (
    tenant_id            text        NOT NULL,
    realm_id             text        NOT NULL,
    import_requested_at  timestamptz,
    import_started_at    timestamptz,
    import_after_id      bigint      NOT NULL DEFAULT 0,
    import_seen          integer     NOT NULL DEFAULT 0,
    import_finished_at   timestamptz,
    cdc_watermark        timestamptz,
    cdc_due_at           timestamptz,
    cdc_last_run_at      timestamptz,
    last_error           text,
    updated_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, realm_id)
);

-- QuickBooks merges seen in webhooks (or CDC): the merged-away id and its survivor.
CREATE TABLE qb_merges (
    tenant_id      text        NOT NULL,
    realm_id       text        NOT NULL,
    merged_id      text        NOT NULL,
    surviving_id   text        NOT NULL,
    received_at    timestamptz NOT NULL DEFAULT now(),
    applied_at     timestamptz,
    PRIMARY KEY (tenant_id, realm_id, merged_id)
);
CREATE INDEX qb_merges_pending ON qb_merges (received_at) WHERE applied_at IS NULL;
