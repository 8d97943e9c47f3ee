-- Customers and their profile. Every row carries tenant_id; every query filters on it.

-- Per-tenant reference lists (currency, category, terms, ...) with at most one default per kind.
CREATE TABLE reference_values (
    tenant_id   text    NOT NULL,
    kind        text    NOT NULL,
    code        text    NOT NULL,
    is_default  boolean NOT NULL DEFAULT false,
    PRIMARY KEY (tenant_id, kind, code)
);
CREATE UNIQUE INDEX reference_values_one_default
    ON reference_values (tenant_id, kind) WHERE is_default;

-- Tenants whose reference lists were seeded, so an admin's later edits are never re-seeded over.
CREATE TABLE seeded_tenants (
    tenant_id  text PRIMARY KEY,
    seeded_at  timestamptz NOT NULL DEFAULT now()
);

-- Generated tracking numbers come from one sequence: unique per tenant without a hot counter row.
CREATE SEQUENCE tracking_number_seq START 100001;

CREATE TABLE customers (
    customer_id            uuid PRIMARY KEY,
    tenant_id              text        NOT NULL,
    parent_id              uuid        REFERENCES customers (customer_id),
    active                 boolean     NOT NULL DEFAULT true,
    customer_type          text        NOT NULL,
    company_name           text        NOT NULL,
    display_name           text,
    contact_name           text,
    tracking_number        text        NOT NULL,
    ext_account_number     text,
    sub_account_number     text,
    currency               text        NOT NULL,
    category               text,
    sales_rep              text,
    terms                  text,
    country                text,
    warehouse              text,
    tax_type               text,
    delivery_method        text,
    carrier                text,
    email                  text,
    phone                  text,
    mobile                 text,
    fax                    text,
    website                text,
    factored               boolean     NOT NULL DEFAULT false,
    web_sales              boolean     NOT NULL DEFAULT false,
    allow_partial_payments boolean     NOT NULL DEFAULT false,
    product_display        text        NOT NULL DEFAULT 'standard_and_exclusive',
    discount_basis_points  integer     NOT NULL DEFAULT 0,
    credit_limit_minor     bigint,
    sales_limit_minor      bigint,
    billing_address        jsonb,
    delivery_address       jsonb,
    postal_address         jsonb,
    version                integer     NOT NULL,
    created_at             timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at             timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- What free-text search looks at, lower-cased once at write time.
    search_text            text GENERATED ALWAYS AS (lower(
        company_name || ' ' || coalesce(display_name, '') || ' ' || tracking_number || ' ' ||
        coalesce(email, '') || ' ' || coalesce(ext_account_number, '') || ' ' ||
        coalesce(sub_account_number, ''))) STORED,
    CONSTRAINT customers_tracking_number_unique UNIQUE (tenant_id, tracking_number)
);
-- Keyset pagination: one index per sort, each ending with the id as the tie-breaker.
CREATE INDEX customers_by_name ON customers (tenant_id, lower(company_name), customer_id);
CREATE INDEX customers_by_created ON customers (tenant_id, created_at, customer_id);
CREATE INDEX customers_by_parent ON customers (parent_id) WHERE parent_id IS NOT NULL;

-- Trigram index for substring search; pg_trgm lives in whichever schema already holds it.
DO $$
DECLARE trgm_schema text;
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;
    SELECT extnamespace::regnamespace::text INTO trgm_schema
      FROM pg_extension WHERE extname = 'pg_trgm';
    EXECUTE format(
        'CREATE INDEX customers_search ON customers USING gin (search_text %I.gin_trgm_ops)',
        trgm_schema);
END $$;

CREATE TABLE contacts (
    contact_id   uuid PRIMARY KEY,
    tenant_id    text        NOT NULL,
    customer_id  uuid        NOT NULL REFERENCES customers (customer_id),
    name         text        NOT NULL,
    title        text,
    email        text,
    phone        text,
    mobile       text,
    fax          text,
    notes        text,
    is_primary   boolean     NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX contacts_of_customer ON contacts (customer_id, created_at);
CREATE UNIQUE INDEX contacts_one_primary ON contacts (customer_id) WHERE is_primary;

-- Notes are append-only: no UPDATE or DELETE path exists in the service.
CREATE TABLE notes (
    note_id      uuid PRIMARY KEY,
    tenant_id    text        NOT NULL,
    customer_id  uuid        NOT NULL REFERENCES customers (customer_id),
    author       text        NOT NULL,
    body         text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX notes_of_customer ON notes (customer_id, created_at);

CREATE TABLE attachments (
    attachment_id  uuid PRIMARY KEY,
    tenant_id      text        NOT NULL,
    customer_id    uuid        NOT NULL REFERENCES customers (customer_id),
    filename       text        NOT NULL,
    content_type   text        NOT NULL,
    size_bytes     integer     NOT NULL,
    sha256         text        NOT NULL,
    content        bytea       NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX attachments_of_customer ON attachments (customer_id, created_at);

-- Billing's flags, projected from billing.balances; each flag keeps the sequence it came with.
CREATE TABLE billing_flags (
    tenant_id              text    NOT NULL,
    customer_id            text    NOT NULL,
    overdue                boolean NOT NULL DEFAULT false,
    overdue_sequence       bigint  NOT NULL DEFAULT -1,
    credit_limit_exceeded  boolean NOT NULL DEFAULT false,
    credit_sequence        bigint  NOT NULL DEFAULT -1,
    updated_at             timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, customer_id)
);
CREATE INDEX billing_flags_overdue ON billing_flags (tenant_id, customer_id) WHERE overdue;

-- The QuickBooks customer directory per tenant and QuickBooks company, from qb.customers.
CREATE TABLE qb_directory (
    tenant_id              text    NOT NULL,
    realm_id               text    NOT NULL,
    qb_customer_id         text    NOT NULL,
    sync_token             bigint  NOT NULL,
    display_name           text    NOT NULL,
    company_name           text,
    given_name             text,
    family_name            text,
    active                 boolean NOT NULL,
    parent_qb_customer_id  text,
    email                  text,
    phone                  text,
    mobile                 text,
    currency               text,
    billing_address        jsonb,
    shipping_address       jsonb,
    merged_into            text,
    updated_at             timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, realm_id, qb_customer_id)
);
CREATE INDEX qb_directory_by_name ON qb_directory (tenant_id, realm_id, display_name);

-- One row per QuickBooks customer mapping, or per push request (qb_customer_id not known yet).
CREATE TABLE qb_mappings (
    mapping_id      bigserial PRIMARY KEY,
    tenant_id       text        NOT NULL,
    realm_id        text        NOT NULL,
    qb_customer_id  text,
    customer_id     uuid        REFERENCES customers (customer_id),
    choice          text        NOT NULL,
    status          text        NOT NULL DEFAULT 'saved',
    last_error      text,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
-- A QuickBooks customer maps to at most one customer, and a customer to at most one QuickBooks
-- customer per QuickBooks company.
CREATE UNIQUE INDEX qb_mappings_one_per_qb_customer
    ON qb_mappings (tenant_id, realm_id, qb_customer_id) WHERE qb_customer_id IS NOT NULL;
CREATE UNIQUE INDEX qb_mappings_one_per_customer
    ON qb_mappings (tenant_id, realm_id, customer_id) WHERE customer_id IS NOT NULL;
CREATE INDEX qb_mappings_linked_customers ON qb_mappings (customer_id)
    WHERE customer_id IS NOT NULL AND qb_customer_id IS NOT NULL;
