-- API tokens, shared by every service's HTTP API. Only the SHA-256 of a token is stored.
CREATE TABLE IF NOT EXISTS api_tokens (
    token_hash  bytea PRIMARY KEY,
    tenant_id   text        NOT NULL,
    scopes      text[]      NOT NULL,
    name        text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
