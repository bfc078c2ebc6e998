-- Wrap-ups of calls made on this desktop, waiting for their call's record to reach the
-- cloud and then sent (`PUT /phone-sms/calls/{id}/wrap-up`; the same again changes
-- nothing). Keyed by the call's SIP Call-ID: a later edit replaces the one waiting.
CREATE TABLE wrap_up_outbox (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    sip_call_id    TEXT NOT NULL UNIQUE,
    data           TEXT NOT NULL,
    state          TEXT NOT NULL CHECK (state IN ('pending', 'failed')),
    error_message  TEXT,
    attempts       INTEGER NOT NULL DEFAULT 0,
    created_ms     INTEGER NOT NULL
);
