-- Whose work a change is about (JSON: the record's assignee and team before and after it),
-- so that the feed shows each user only the conversations, calls and tasks they may see.
-- NULL: a record everyone in the tenant sees (and every change written before this).
ALTER TABLE change_log ADD COLUMN audience JSONB;
