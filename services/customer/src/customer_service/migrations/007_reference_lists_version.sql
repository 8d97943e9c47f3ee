-- A tenant's reference lists carry a version, bumped in the transaction that replaces a list, so
-- a process may keep the lists in memory and its one-statement create can check in PostgreSQL
-- that they are still current (docs/decisions/0006-customer-api-conventions.md).
ALTER TABLE seeded_tenants ADD COLUMN lists_version bigint NOT NULL DEFAULT 0;
