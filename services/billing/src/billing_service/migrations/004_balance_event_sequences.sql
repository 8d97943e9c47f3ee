-- One counter per customer for the events billing publishes on billing.balances (keyed by the
-- customer): balance changes of every currency, flags and rejections share it, so `sequence`
-- grows with every event of a key and "drop what is older than the last seen" works per key.
-- It starts above every sequence published before (the accounts' entry counts).
CREATE TABLE balance_event_sequences (
    tenant_id   text   NOT NULL,
    customer_id text   NOT NULL,
    last        bigint NOT NULL,
    PRIMARY KEY (tenant_id, customer_id)
);
INSERT INTO balance_event_sequences (tenant_id, customer_id, last)
SELECT tenant_id, customer_id, max(entry_count) FROM balances GROUP BY tenant_id, customer_id;
