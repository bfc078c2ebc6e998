-- Tenants, their users, and bearer tokens (stored as SHA-256 hashes only).
-- Times are Unix milliseconds (UTC).
CREATE TABLE tenant (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE app_user (
    id             TEXT PRIMARY KEY,
    tenant_id      TEXT NOT NULL REFERENCES tenant(id),
    name           TEXT NOT NULL,
    email          TEXT NOT NULL,
    role           TEXT NOT NULL CHECK (role IN ('admin', 'agent')),
    password_hash  TEXT,
    created_at     INTEGER NOT NULL
);
-- An email signs in to exactly one tenant.
CREATE UNIQUE INDEX app_user_email ON app_user (lower(email));

CREATE TABLE api_token (
    token_hash  BLOB PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES app_user(id),
    tenant_id   TEXT NOT NULL REFERENCES tenant(id),
    kind        TEXT NOT NULL CHECK (kind IN ('session', 'api')),
    label       TEXT,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER
);
CREATE INDEX api_token_user ON api_token (user_id);
