-- The customer service was told this row failed (QuickBooksSyncFailed): when it is synced again,
-- a QuickBooksCustomerLinked (how=resynced) clears that status there.
ALTER TABLE push_mappings ADD COLUMN failure_reported boolean NOT NULL DEFAULT false;
