-- Desktop customers reach the customer service's QuickBooks directory as QuickBooks Online ones
-- do: QuickBooksCustomerMirrored on qb.customers (store/qbd/mirror.py). Desktop's EditSequence
-- is no counter, so each customer keeps its own mirror version, bumped only when what the
-- mirror shows changed (a digest of the event's fields): a re-import publishes nothing.
ALTER TABLE qbd_customers ADD COLUMN mirror_sequence bigint NOT NULL DEFAULT 0;
ALTER TABLE qbd_customers ADD COLUMN mirror_digest text;
