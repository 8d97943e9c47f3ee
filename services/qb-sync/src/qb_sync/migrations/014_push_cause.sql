-- The event that asked for a row's push (customer.mapping-saved, push_to_quickbooks): the
-- QuickBooksCustomerLinked / QuickBooksSyncFailed that answer it name it as their causation_id.
ALTER TABLE push_mappings ADD COLUMN IF NOT EXISTS cause_event_id text;
