-- Each sending number's pace, shared by every node: the earliest time (Unix ms) its next
-- message may go. A send reserves its slot by moving it on, in one statement, so the
-- nodes together never send faster than the number may.
CREATE TABLE send_pace (
    tenant_id     TEXT NOT NULL REFERENCES tenant(id),
    number        TEXT NOT NULL,
    next_free_ms  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, number)
);

-- The slot a deferred message holds: whichever node claims it at that time sends it
-- without reserving another (a slot is used once).
CREATE TABLE send_slot_held (
    message_id  TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenant(id),
    slot_ms     BIGINT NOT NULL
);

-- A number's own pace, in SMS segments a minute (NULL: by its kind).
ALTER TABLE phone_number ADD COLUMN send_per_minute INTEGER;
