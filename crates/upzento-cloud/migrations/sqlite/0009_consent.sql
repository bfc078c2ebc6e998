-- Times are Unix milliseconds (UTC).
-- Consent changes of contacts: kept for good, also after an opt-out.
CREATE TABLE consent_event (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenant(id),
    contact_id  TEXT NOT NULL,
    number      TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('optOut', 'optIn')),
    method      TEXT NOT NULL,
    message     TEXT,
    at          INTEGER NOT NULL
);
CREATE INDEX consent_event_contact ON consent_event (tenant_id, contact_id, at);
