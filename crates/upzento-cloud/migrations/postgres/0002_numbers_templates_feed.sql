-- The change feed: one ordered sequence per tenant. A writer bumps tenant.change_seq inside its
-- transaction; the row lock orders a tenant's writers, so a reader never sees seq N+1 committed
-- while N is still in flight (a global sequence would allow that across nodes).
ALTER TABLE tenant ADD COLUMN change_seq BIGINT NOT NULL DEFAULT 0;

CREATE TABLE change_log (
    tenant_id   TEXT NOT NULL REFERENCES tenant(id),
    seq         BIGINT NOT NULL,
    entity      TEXT NOT NULL,
    entity_id   TEXT NOT NULL,
    op          TEXT NOT NULL CHECK (op IN ('upsert', 'delete')),
    data        JSONB,
    changed_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);

CREATE TABLE audit_log (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenant(id),
    actor_id    TEXT NOT NULL,
    action      TEXT NOT NULL,
    entity      TEXT NOT NULL,
    entity_id   TEXT NOT NULL,
    before      JSONB,
    after       JSONB,
    at          TIMESTAMPTZ NOT NULL
);
CREATE INDEX audit_log_tenant_at ON audit_log (tenant_id, at, id);

CREATE TABLE phone_number (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL REFERENCES tenant(id),
    number           TEXT NOT NULL,
    kind             TEXT NOT NULL,
    location         TEXT,
    assigned_to      TEXT REFERENCES app_user(id),
    status           TEXT NOT NULL CHECK (status IN ('active', 'inactive')),
    call_forwarding  TEXT,
    voicemail        BOOLEAN NOT NULL,
    sms_enabled      BOOLEAN NOT NULL,
    monthly_fee      TEXT,
    purchase_date    TEXT,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX phone_number_tenant_number ON phone_number (tenant_id, number);
CREATE INDEX phone_number_tenant_created ON phone_number (tenant_id, created_at, id);

CREATE TABLE sms_template (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenant(id),
    name         TEXT NOT NULL,
    message      TEXT NOT NULL,
    usage_count  BIGINT NOT NULL DEFAULT 0,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX sms_template_tenant_created ON sms_template (tenant_id, created_at, id);
