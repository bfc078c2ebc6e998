-- Times are Unix milliseconds (UTC).
-- SMS conversations and messages.
CREATE TABLE conversation (
    id                    TEXT PRIMARY KEY,
    tenant_id             TEXT NOT NULL REFERENCES tenant(id),
    phone_number_id       TEXT REFERENCES phone_number(id) ON DELETE SET NULL,
    our_number            TEXT NOT NULL,
    contact_number        TEXT NOT NULL,
    contact_id            TEXT REFERENCES contact(id) ON DELETE SET NULL,
    status                TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    assigned_to           TEXT REFERENCES app_user(id),
    last_message_at       INTEGER,
    last_message_preview  TEXT,
    last_activity_at      INTEGER NOT NULL,
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL
);
-- One thread per pair of numbers.
CREATE UNIQUE INDEX conversation_pair ON conversation (tenant_id, our_number, contact_number);
-- The inbox: newest activity first.
CREATE INDEX conversation_inbox ON conversation (tenant_id, last_activity_at DESC, id DESC);

CREATE TABLE sms_message (
    id                   TEXT PRIMARY KEY,
    tenant_id            TEXT NOT NULL REFERENCES tenant(id),
    conversation_id      TEXT NOT NULL REFERENCES conversation(id),
    phone_number_id      TEXT REFERENCES phone_number(id) ON DELETE SET NULL,
    contact_id           TEXT REFERENCES contact(id) ON DELETE SET NULL,
    direction            TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    body                 TEXT NOT NULL,
    status               TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'delivered', 'failed', 'received')),
    error_code           TEXT,
    error_message        TEXT,
    encoding             TEXT NOT NULL,
    segments             INTEGER NOT NULL,
    campaign_id          TEXT,
    sent_by              TEXT,
    provider             TEXT NOT NULL,
    provider_message_id  TEXT,
    idempotency_key      TEXT,
    -- When the carrier worker should next act on this message (send, or report delivery).
    next_action_at       INTEGER,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL
);
CREATE INDEX sms_message_thread ON sms_message (conversation_id, created_at DESC, id DESC);
CREATE UNIQUE INDEX sms_message_idempotency ON sms_message (tenant_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX sms_message_due ON sms_message (next_action_at) WHERE next_action_at IS NOT NULL;

