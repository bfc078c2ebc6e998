-- Times are Unix milliseconds (UTC).
-- Call records: posted by the softphone after each call (and by providers' call webhooks).
CREATE TABLE call (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL REFERENCES tenant(id),
    phone_number_id  TEXT REFERENCES phone_number(id) ON DELETE SET NULL,
    contact_id       TEXT REFERENCES contact(id) ON DELETE SET NULL,
    kind             TEXT NOT NULL CHECK (kind IN ('incoming', 'outgoing')),
    status           TEXT NOT NULL CHECK (status IN ('completed', 'missed', 'voicemail', 'failed')),
    from_number      TEXT NOT NULL,
    to_number        TEXT NOT NULL,
    duration         INTEGER,
    recording_url    TEXT,
    notes            TEXT,
    assigned_to      TEXT REFERENCES app_user(id),
    start_time       INTEGER NOT NULL,
    end_time         INTEGER,
    sip_call_id      TEXT,
    created_by       TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX call_history ON call (tenant_id, start_time DESC, id DESC);
-- One record per SIP call: the softphone's retries are idempotent.
CREATE UNIQUE INDEX call_sip_id ON call (tenant_id, sip_call_id) WHERE sip_call_id IS NOT NULL;
