-- A recipient imported from a file brings its own name and fields (JSON object of
-- merge fields, `{{fields.<name>}}`); an A/B campaign records the variant each got.
ALTER TABLE campaign_recipient ADD COLUMN first_name TEXT;
ALTER TABLE campaign_recipient ADD COLUMN last_name TEXT;
ALTER TABLE campaign_recipient ADD COLUMN fields TEXT;
ALTER TABLE campaign_recipient ADD COLUMN variant TEXT;
