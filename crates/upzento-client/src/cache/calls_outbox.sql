-- Records of calls made on this desktop, waiting to reach the cloud's history
-- (`POST /phone-sms/calls`, idempotent on the SIP Call-ID, which is the key here).
CREATE TABLE call_outbox (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    sip_call_id    TEXT NOT NULL UNIQUE,
    data           TEXT NOT NULL,
    state          TEXT NOT NULL CHECK (state IN ('pending', 'failed')),
    error_message  TEXT,
    attempts       INTEGER NOT NULL DEFAULT 0,
    created_ms     INTEGER NOT NULL
);
