-- The newest MappingSaved.mapping_sequence applied per QuickBooks customer. Two mapping changes
-- about one QuickBooks customer are keyed by different customers and may arrive in either order;
-- a link older than the newest change applied to its QuickBooks customer is stale and only
-- unlinks its own customer (push/state.newer_mapping). Kept after an unlink, so a late link
-- cannot bring back a QuickBooks customer the form has since let go.
CREATE TABLE push_mapping_sequences (
    tenant_id       text   NOT NULL,
    realm_id        text   NOT NULL,
    qb_customer_id  text   NOT NULL,
    sequence        bigint NOT NULL,
    PRIMARY KEY (tenant_id, realm_id, qb_customer_id)
);
