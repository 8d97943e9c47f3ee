-- Tenancy in the database as well as in every query: a row that points at a customer (its parent,
-- contacts, notes, attachments, QuickBooks mappings) must name that customer's tenant. The
-- composite keys replace the single-column ones, which only checked that the customer existed.
ALTER TABLE customers
    ADD CONSTRAINT customers_tenant_customer_unique UNIQUE (tenant_id, customer_id);

ALTER TABLE customers ADD CONSTRAINT customers_parent_same_tenant
    FOREIGN KEY (tenant_id, parent_id) REFERENCES customers (tenant_id, customer_id) NOT VALID;
ALTER TABLE contacts ADD CONSTRAINT contacts_customer_same_tenant
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, customer_id) NOT VALID;
ALTER TABLE notes ADD CONSTRAINT notes_customer_same_tenant
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, customer_id) NOT VALID;
ALTER TABLE attachments ADD CONSTRAINT attachments_customer_same_tenant
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, customer_id) NOT VALID;
-- customer_id is NULL on push requests and "don't import" rows: MATCH SIMPLE skips those.
ALTER TABLE qb_mappings ADD CONSTRAINT qb_mappings_customer_same_tenant
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, customer_id) NOT VALID;

-- Existing rows are checked too. A row that already crosses tenants is a bug to look into, not a
-- reason for the service not to start: its table's new key then stays NOT VALID (still enforced
-- on every row written from now on), the old key stays beside it, and the migration warns.
DO $$
DECLARE
    fk record;
BEGIN
    FOR fk IN SELECT * FROM (VALUES
        ('customers', 'customers_parent_same_tenant', 'customers_parent_id_fkey'),
        ('contacts', 'contacts_customer_same_tenant', 'contacts_customer_id_fkey'),
        ('notes', 'notes_customer_same_tenant', 'notes_customer_id_fkey'),
        ('attachments', 'attachments_customer_same_tenant', 'attachments_customer_id_fkey'),
        ('qb_mappings', 'qb_mappings_customer_same_tenant', 'qb_mappings_customer_id_fkey')
    ) AS t(tbl, new_key, old_key) LOOP
        BEGIN
            EXECUTE format('ALTER TABLE %I VALIDATE CONSTRAINT %I', fk.tbl, fk.new_key);
            EXECUTE format('ALTER TABLE %I DROP CONSTRAINT IF EXISTS %I', fk.tbl, fk.old_key);
        EXCEPTION WHEN foreign_key_violation THEN
            RAISE WARNING '%: rows reference a customer of another tenant; % stays NOT VALID',
                fk.tbl, fk.new_key;
        END;
    END LOOP;
END $$;
