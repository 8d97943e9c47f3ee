-- QuickBooks Desktop through the Web Connector (owned by qbd/). See
-- docs/reference/quickbooks-desktop.md#design-consequences-for-qb-sync-our-reading.

-- One row per tenant and company file: the .qwc's UserName/FileID, the password hashed (never
-- stored in clear), the app's OwnerID that owns the FileID DataExt in the company file.
CREATE TABLE qbd_connections (
    connection_id   uuid        PRIMARY KEY,
    tenant_id       text        NOT NULL,
    username        text        NOT NULL UNIQUE,
    password_hash   text        NOT NULL,
    owner_id        text        NOT NULL,
    file_id         text        NOT NULL UNIQUE,
    company_file    text        NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX qbd_connections_tenant ON qbd_connections (tenant_id);

-- Web Connector sessions: only the SHA-256 of the ticket is stored; a ticket is bound to one
-- connection and dies when closed, superseded by a newer session, idle or too old.
CREATE TABLE qbd_sessions (
    ticket_hash     bytea       PRIMARY KEY,
    connection_id   uuid        NOT NULL REFERENCES qbd_connections ON DELETE CASCADE,
    status          text        NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    qbxml_version   text        NOT NULL DEFAULT '13.0',
    file_checked    boolean     NOT NULL DEFAULT false,
    in_flight       bigint,
    last_error      text        NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_seen_at    timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL
);
CREATE INDEX qbd_sessions_open ON qbd_sessions (connection_id) WHERE status = 'open';

-- The work queue: one row per job (e.g. an iterated customer import); `state` carries what the
-- next message set needs (the iteratorID). A failed job is parked, never sent forever.
CREATE TABLE qbd_requests (
    request_id      bigserial   PRIMARY KEY,
    connection_id   uuid        NOT NULL REFERENCES qbd_connections ON DELETE CASCADE,
    kind            text        NOT NULL CHECK (kind IN ('customer_import', 'customer_changes')),
    status          text        NOT NULL DEFAULT 'queued'
                        CHECK (status IN ('queued', 'sent', 'done', 'failed', 'uncertain')),
    state           jsonb       NOT NULL DEFAULT '{}',
    attempts        integer     NOT NULL DEFAULT 0,
    last_status     text,
    sent_ticket     bytea,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX qbd_requests_open ON qbd_requests (connection_id, request_id)
    WHERE status IN ('queued', 'sent', 'uncertain');

-- What an import read from the company file, by connection and ListID (the ListID survives
-- renames). `fields` holds the mapped CustomerRet elements (names, addresses, contact lines);
-- `deleted_at` is set when ListDeletedQuery reports the customer deleted in QuickBooks.
CREATE TABLE qbd_customers (
    connection_id   uuid        NOT NULL REFERENCES qbd_connections ON DELETE CASCADE,
    list_id         text        NOT NULL,
    edit_sequence   text        NOT NULL,
    name            text        NOT NULL,
    full_name       text        NOT NULL,
    parent_list_id  text,
    sublevel        integer     NOT NULL DEFAULT 0,
    is_active       boolean     NOT NULL,
    time_modified   text        NOT NULL,
    fields          jsonb       NOT NULL DEFAULT '{}',
    imported_at     timestamptz NOT NULL DEFAULT now(),
    deleted_at      timestamptz,
    PRIMARY KEY (connection_id, list_id)
);
