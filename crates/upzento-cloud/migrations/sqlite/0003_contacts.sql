-- Times are Unix milliseconds (UTC); JSON is stored as text.
-- Contacts (the CRM's Contacts module, as far as Phone & SMS needs it).
CREATE TABLE contact (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenant(id),
    first_name    TEXT NOT NULL,
    last_name     TEXT,
    email         TEXT,
    tags          TEXT NOT NULL DEFAULT '[]',
    time_zone     TEXT,
    opted_out     INTEGER NOT NULL DEFAULT 0,
    opted_out_at  INTEGER,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX contact_tenant_created ON contact (tenant_id, created_at, id);

-- A number belongs to at most one contact of a tenant: inbound SMS and calls find their
-- contact through it.
CREATE TABLE contact_phone (
    tenant_id   TEXT NOT NULL REFERENCES tenant(id),
    number      TEXT NOT NULL,
    contact_id  TEXT NOT NULL REFERENCES contact(id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, number)
);
CREATE INDEX contact_phone_contact ON contact_phone (contact_id, position);
