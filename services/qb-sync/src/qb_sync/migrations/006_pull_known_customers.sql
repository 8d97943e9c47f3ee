-- The last version of each QuickBooks customer the pull side mirrored (owned by pull/): a merge
-- removes the merged-away customer from QuickBooks, so its final mirror event (with
-- merged_into_qb_customer_id) is built from what was last seen here.
CREATE TABLE pull_known_customers (
    tenant_id       text    NOT NULL,
    realm_id        text    NOT NULL,
    qb_customer_id  text    NOT NULL,
    sync_token      integer NOT NULL,
    display_name    text    NOT NULL,
    PRIMARY KEY (tenant_id, realm_id, qb_customer_id)
);
