-- Times are Unix milliseconds (UTC).
-- A call's notes as a timeline: each note is added with its author and time, never
-- overwritten (the older single `call.notes` stays, shown as the first note).
CREATE TABLE call_note (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenant(id),
    call_id     TEXT NOT NULL REFERENCES call(id) ON DELETE CASCADE,
    author_id   TEXT NOT NULL REFERENCES app_user(id),
    text        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX call_note_timeline ON call_note (tenant_id, call_id, created_at, id);
