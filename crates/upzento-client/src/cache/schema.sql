-- The desktop cache (SQLCipher). Records are kept as the cloud's JSON beside the
-- columns the hot queries need. A message's rowid is its creation time in ms times
-- 1024 plus a few bits of its id: rowid order is time order, so "newest first" on the
-- full-text index is a walk down the rowids (see the shared recipes' FTS5 figures).

CREATE TABLE account (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    cloud      TEXT NOT NULL,
    tenant_id  TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    -- The change-feed position the data below covers; moved in the same transaction.
    cursor     INTEGER NOT NULL DEFAULT 0,
    -- 1 while messages are stored without the search index (bulk sync).
    search_stale INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE conversation (
    id                TEXT PRIMARY KEY,
    last_activity_ms  INTEGER NOT NULL,
    status            TEXT NOT NULL,
    assigned_to       TEXT,
    contact_id        TEXT,
    data              TEXT NOT NULL
);
CREATE INDEX conversation_inbox ON conversation (last_activity_ms DESC, id DESC);

CREATE TABLE message (
    rowid            INTEGER PRIMARY KEY,
    id               TEXT NOT NULL UNIQUE,
    conversation_id  TEXT NOT NULL,
    inbound          INTEGER NOT NULL,
    data             TEXT NOT NULL
);
CREATE INDEX message_thread ON message (conversation_id, rowid DESC);

-- The text is kept once, in the record: the index reads it through this view.
CREATE VIEW message_text AS
    SELECT rowid, json_extract(data, '$.message') AS body FROM message;
CREATE VIRTUAL TABLE message_fts USING fts5(
    body, content = 'message_text', content_rowid = 'rowid',
    tokenize = 'unicode61 remove_diacritics 2'
);
-- The triggers that keep message_fts in step are created by the code
-- (cache::MESSAGE_FTS_TRIGGERS): they are dropped during a large initial sync
-- and the index is built once at its end.

CREATE TABLE contact (
    rowid  INTEGER PRIMARY KEY,
    id     TEXT NOT NULL UNIQUE,
    name   TEXT NOT NULL,
    -- Name, email and numbers (with and without +): what a search may match.
    terms  TEXT NOT NULL,
    data   TEXT NOT NULL
);
CREATE VIRTUAL TABLE contact_fts USING fts5(
    terms, content = 'contact', content_rowid = 'rowid',
    tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER contact_fts_insert AFTER INSERT ON contact BEGIN
    INSERT INTO contact_fts (rowid, terms) VALUES (new.rowid, new.terms);
END;
CREATE TRIGGER contact_fts_delete AFTER DELETE ON contact BEGIN
    INSERT INTO contact_fts (contact_fts, rowid, terms) VALUES ('delete', old.rowid, old.terms);
END;
CREATE TRIGGER contact_fts_update AFTER UPDATE OF terms ON contact BEGIN
    INSERT INTO contact_fts (contact_fts, rowid, terms) VALUES ('delete', old.rowid, old.terms);
    INSERT INTO contact_fts (rowid, terms) VALUES (new.rowid, new.terms);
END;
-- Caller ID: a number to its contact.
CREATE TABLE contact_number (
    number      TEXT PRIMARY KEY,
    contact_id  TEXT NOT NULL
);

CREATE TABLE call (
    id         TEXT PRIMARY KEY,
    start_ms   INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    status     TEXT NOT NULL,
    data       TEXT NOT NULL
);
CREATE INDEX call_history ON call (start_ms DESC, id DESC);

-- Each user's read marker per conversation (unread = inbound messages after it).
CREATE TABLE read_marker (
    conversation_id  TEXT NOT NULL,
    user_id          TEXT NOT NULL,
    read_ms          INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, user_id)
);

-- Numbers, templates, campaigns: small sets, read whole.
CREATE TABLE record (
    entity  TEXT NOT NULL,
    id      TEXT NOT NULL,
    data    TEXT NOT NULL,
    PRIMARY KEY (entity, id)
);

-- Messages written here and not yet accepted by the cloud, sent in `seq` order.
CREATE TABLE outbox (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    key              TEXT NOT NULL UNIQUE,
    conversation_id  TEXT,
    phone_number_id  TEXT,
    to_number        TEXT,
    body             TEXT NOT NULL,
    template_id      TEXT,
    state            TEXT NOT NULL CHECK (state IN ('pending', 'failed')),
    error_code       TEXT,
    error_message    TEXT,
    attempts         INTEGER NOT NULL DEFAULT 0,
    created_ms       INTEGER NOT NULL
);
