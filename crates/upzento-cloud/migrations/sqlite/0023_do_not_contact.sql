-- Times are Unix milliseconds (UTC).
-- The numbers a tenant must not text: fed by opt-outs, added by people, imported.
-- Campaigns skip them; a one-to-one send to one is refused.
CREATE TABLE do_not_contact (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenant(id),
    number      TEXT NOT NULL,
    reason      TEXT,
    source      TEXT NOT NULL CHECK (source IN ('optOut', 'manual', 'import')),
    created_by  TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE UNIQUE INDEX do_not_contact_number ON do_not_contact (tenant_id, number);
CREATE INDEX do_not_contact_tenant_created ON do_not_contact (tenant_id, created_at, id);
