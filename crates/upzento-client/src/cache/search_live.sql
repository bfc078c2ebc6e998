-- Messages that arrive after the search index was built in bulk go to a small index
-- of their own. FTS5 merges an index's segments as writes come; the bulk build leaves
-- one large segment, and a live write that made FTS5 merge it waited 0.9 s (1M
-- messages). Search reads both indexes. Which one holds a message follows from its
-- rowid alone: above account.search_split in message_fts_live, else in message_fts
-- (see cache::MESSAGE_FTS_TRIGGERS); finish_bulk moves the split.
CREATE VIRTUAL TABLE message_fts_live USING fts5(
    body, content = 'message_text', content_rowid = 'rowid',
    tokenize = 'unicode61 remove_diacritics 2'
);
ALTER TABLE account ADD COLUMN search_split INTEGER NOT NULL DEFAULT 0;
-- A cache written before: everything it holds is in message_fts.
UPDATE account SET search_split = (SELECT IFNULL(MAX(rowid), 0) FROM message);
DROP TRIGGER IF EXISTS message_fts_insert;
DROP TRIGGER IF EXISTS message_fts_delete;
DROP TRIGGER IF EXISTS message_fts_update;
