-- QuickBooks connections (owned by connections/): one row per tenant and QuickBooks company.
-- Tokens are Fernet ciphertexts (never plaintext); `token_version` counts refreshes so a caller
-- can tell that someone else already rotated the pair while it waited for the row lock.
CREATE TABLE qb_connections (
    tenant_id           text        NOT NULL,
    realm_id            text        NOT NULL,
    status              text        NOT NULL DEFAULT 'connected'
                            CHECK (status IN ('connected', 'reauth_required', 'disconnected')),
    access_token_enc    bytea       NOT NULL,
    refresh_token_enc   bytea,
    access_expires_at   timestamptz,
    refresh_expires_at  timestamptz,
    token_version       integer     NOT NULL DEFAULT 0,
    refreshed_at        timestamptz,
    last_error          text,
    connected_at        timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, realm_id)
);
-- Webhooks name only the realm: a realm belongs to exactly one tenant.
CREATE UNIQUE INDEX qb_connections_realm ON qb_connections (realm_id);

-- CSRF states of authorization-code flows in progress (real QuickBooks only).
CREATE TABLE qb_oauth_states (
    state       text        PRIMARY KEY,
    tenant_id   text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
