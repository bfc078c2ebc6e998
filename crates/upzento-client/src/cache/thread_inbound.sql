-- The thread index carries each message's direction: an inbox row's unread count
-- (inbound messages after the read marker) is read from the index alone, without a
-- look into each message's row (an inbox page five times faster with 1M messages,
-- `cargo xtask bench client`). Keep in step with cache::THREAD_INDEX.
DROP INDEX IF EXISTS message_thread;
CREATE INDEX message_thread ON message (conversation_id, rowid DESC, inbound);
