-- Times are Unix milliseconds (UTC).
-- An admin can deactivate a user (their tokens end, they cannot sign in, their history
-- stays) and reactivate them.
ALTER TABLE app_user ADD COLUMN deactivated_at INTEGER;
