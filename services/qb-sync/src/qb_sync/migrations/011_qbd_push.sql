-- Pushing platform customers to a QuickBooks Desktop company (usecases/qbd/customer_push.py).
-- A Desktop company is a push realm like a QuickBooks Online one: its push_mappings rows carry
-- realm_id = the connection id (domain/qbd/records.desktop_realm). Each push of one row is one
-- `customer_push` job here: it leases the row (push_mappings' lease token, in `state`) and walks
-- find-first -> add, or read -> mod, one message set per round trip. A job whose write went out
-- unanswered becomes `uncertain` and starts again from the find (never a blind resend).
ALTER TABLE qbd_requests DROP CONSTRAINT qbd_requests_kind_check;
ALTER TABLE qbd_requests ADD CONSTRAINT qbd_requests_kind_check
    CHECK (kind IN ('customer_import', 'customer_changes', 'customer_push'));
ALTER TABLE qbd_requests ADD COLUMN customer_id text;
-- One open push job per platform customer and company.
CREATE UNIQUE INDEX qbd_requests_open_push ON qbd_requests (connection_id, customer_id)
    WHERE kind = 'customer_push' AND status IN ('queued', 'sent', 'uncertain');
