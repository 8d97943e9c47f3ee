-- The QuickBooks directory holds QuickBooks Desktop companies too (qb.customers events with
-- provider 'qbd', realm = qb-sync's connection id). A Desktop customer is linked by its exact
-- FullName (`Parent:Job`); it carries its contact persons for "create here"; a customer deleted
-- from the Desktop list leaves the form as a merged-away one does.
ALTER TABLE qb_directory ADD COLUMN provider text NOT NULL DEFAULT 'qbo';
ALTER TABLE qb_directory ADD COLUMN full_name text;
ALTER TABLE qb_directory ADD COLUMN contacts jsonb;
ALTER TABLE qb_directory ADD COLUMN deleted boolean NOT NULL DEFAULT false;
-- A link by name compares the exact FullName (Desktop) or display name (Online).
CREATE INDEX qb_directory_by_link_name
    ON qb_directory (tenant_id, realm_id, (coalesce(full_name, display_name)));
-- Contacts made by "create here" keep the role and address seed 003 gives them.
ALTER TABLE contacts ADD COLUMN role text;
ALTER TABLE contacts ADD COLUMN address jsonb;
