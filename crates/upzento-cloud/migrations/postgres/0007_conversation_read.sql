-- How far each user has read each conversation (unread = inbound messages after read_at).
CREATE TABLE conversation_read (
    conversation_id  TEXT NOT NULL REFERENCES conversation(id) ON DELETE CASCADE,
    user_id          TEXT NOT NULL REFERENCES app_user(id) ON DELETE CASCADE,
    tenant_id        TEXT NOT NULL REFERENCES tenant(id),
    read_at          TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (conversation_id, user_id)
);
-- Unread counts: a conversation's inbound messages by time.
CREATE INDEX sms_message_inbound ON sms_message (conversation_id, created_at)
    WHERE direction = 'inbound';
