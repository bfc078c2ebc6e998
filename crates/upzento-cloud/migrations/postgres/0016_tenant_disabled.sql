-- An operator can disable a tenant (its tokens, sign-ins and inbound SMS refused, its
-- campaigns paused, its data kept) and enable it again.
ALTER TABLE tenant ADD COLUMN disabled_at TIMESTAMPTZ;
