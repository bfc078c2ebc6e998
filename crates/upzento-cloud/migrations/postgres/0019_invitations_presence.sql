-- Invitations: an admin invites an email with a role; the invited person accepts with the
-- one-time code (kept only as its SHA-256) and becomes a user of the tenant.
CREATE TABLE invitation (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenant(id),
    email        TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('admin', 'supervisor', 'agent')),
    code_hash    BYTEA NOT NULL UNIQUE,
    invited_by   TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,
    accepted_at  TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ
);
CREATE INDEX invitation_tenant ON invitation (tenant_id, created_at);

-- Presence: what each user chose (or their softphone said), and when a live connection of
-- theirs was last seen; `offline` is derived from that lease, so a node that dies leaves
-- nobody "available". `offline_told` says the feed already said they went offline.
CREATE TABLE presence (
    tenant_id     TEXT NOT NULL REFERENCES tenant(id),
    user_id       TEXT NOT NULL REFERENCES app_user(id),
    status        TEXT NOT NULL CHECK (status IN ('available', 'busy', 'away', 'dnd')),
    changed_at    TIMESTAMPTZ NOT NULL,
    seen_at       TIMESTAMPTZ NOT NULL,
    offline_told  BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX presence_seen ON presence (seen_at) WHERE NOT offline_told;
