-- Push rows (push/state.py):
--   lease_token: minted by every lease; an outcome is written only under the token it was leased
--     with (fencing), so a worker whose lease was taken over can never write.
--   create_payload: the create, frozen (exact JSON text) before its first call and resent byte
--     for byte, with create_request_id, on every retry; cleared once linked, or when QuickBooks
--     answered it with a fault (nothing was created), which also moves create_request_id on.
--   create_names: every DisplayName a create of this row went out with; find-first searches them
--     all until the row is linked.
--   platform_content: the platform's values (fields.desired) as of the last reconcile; a field
--     is pushed only when it changed since. pushed_content is now what QuickBooks holds (from its
--     answers or the mirror), the base of the three-way merge; pushed_hash hashes platform_content.
ALTER TABLE push_mappings
    ADD COLUMN lease_token      uuid,
    ADD COLUMN create_payload   text,
    ADD COLUMN create_names     text[] NOT NULL DEFAULT '{}',
    ADD COLUMN platform_content jsonb;
UPDATE push_mappings SET platform_content = pushed_content WHERE qb_customer_id IS NOT NULL;
-- Children that gave up waiting for their parent, found again when the parent is linked.
CREATE INDEX push_mappings_parent_waits ON push_mappings (tenant_id, realm_id)
    WHERE last_error_code = 'parent_not_synced';

-- One create in flight per (company, display name compared loosely): a row claims the name before
-- its create goes out and keeps the claim until it is linked or unlinked, so no other row can
-- create the same name or link a customer another row created but has not recorded yet.
CREATE TABLE push_name_claims (
    tenant_id    text        NOT NULL,
    realm_id     text        NOT NULL,
    name_key     text        NOT NULL,
    customer_id  text        NOT NULL,
    claimed_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, realm_id, name_key)
);
CREATE INDEX push_name_claims_customer ON push_name_claims (tenant_id, realm_id, customer_id);

-- What QuickBooks held at the mirrored version (fields.current): a "create here" / "link
-- existing" link starts from it instead of from platform values QuickBooks never had.
ALTER TABLE mirror_versions ADD COLUMN content jsonb;

-- A merge seen only in change data capture (a "Deleted" customer stub) has no known survivor.
ALTER TABLE qb_merges ALTER COLUMN surviving_id DROP NOT NULL;
