-- A recipient outside their allowed hours (quiet hours: 08:00-21:00 their time) waits,
-- still pending, until this time; the runner takes them then.
ALTER TABLE campaign_recipient ADD COLUMN held_until TIMESTAMPTZ;
