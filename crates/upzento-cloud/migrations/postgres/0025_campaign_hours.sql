-- The hours of each recipient's day the tenant's campaigns may text in (`HH:MM`); NULL:
-- the law's 08:00 to 21:00.
ALTER TABLE tenant_settings ADD COLUMN campaign_hours_start TEXT;
ALTER TABLE tenant_settings ADD COLUMN campaign_hours_end TEXT;
