-- A conversation snoozed until a time is out of the inbox's Open and Mine lists until
-- then (the feed brings `snoozedUntil`; kept as a column for the inbox's conditions).
ALTER TABLE conversation ADD COLUMN snoozed_until_ms INTEGER;
UPDATE conversation SET snoozed_until_ms = CAST(
    (julianday(json_extract(data, '$.snoozedUntil')) - 2440587.5) * 86400000 AS INTEGER)
WHERE json_extract(data, '$.snoozedUntil') IS NOT NULL;
