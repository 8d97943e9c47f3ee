-- Billing keeps overdue and credit-limit state per account (customer, currency), each account with
-- its own sequence. One row per customer let a CAD event be dropped as stale after a USD one, and
-- a USD "not overdue" clear a real CAD overdue. A row per account keeps each sequence apart; a
-- customer shows a flag when any of its accounts has it.
ALTER TABLE billing_flags ADD COLUMN currency text;
-- Existing rows came from events without a currency: they count as the customer's currency
-- (the same rule the consumer applies to such events); '' when the customer is unknown here.
UPDATE billing_flags f SET currency = c.currency
  FROM customers c
 WHERE c.tenant_id = f.tenant_id AND c.customer_id::text = f.customer_id;
UPDATE billing_flags SET currency = '' WHERE currency IS NULL;
ALTER TABLE billing_flags ALTER COLUMN currency SET NOT NULL;
ALTER TABLE billing_flags DROP CONSTRAINT billing_flags_pkey;
ALTER TABLE billing_flags ADD PRIMARY KEY (tenant_id, customer_id, currency);
CREATE INDEX billing_flags_over_limit ON billing_flags (tenant_id, customer_id)
    WHERE credit_limit_exceeded;
