-- Snooze (a conversation out of the inbox until a time) and a conversation's internal
-- notes (for the team, never sent), kept like a call's notes.
ALTER TABLE conversation ADD COLUMN snoozed_until TIMESTAMPTZ;

CREATE TABLE conversation_note (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL REFERENCES tenant(id),
    conversation_id  TEXT NOT NULL REFERENCES conversation(id) ON DELETE CASCADE,
    author_id        TEXT NOT NULL REFERENCES app_user(id),
    text             TEXT NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX conversation_note_timeline ON conversation_note (tenant_id, conversation_id, created_at, id);
