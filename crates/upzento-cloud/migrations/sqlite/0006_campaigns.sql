-- Times are Unix milliseconds (UTC).
-- SMS campaigns. A campaign is read and written whole, so it is kept as its JSON
-- document; the columns beside it are what queries filter and sort on.
CREATE TABLE sms_campaign (
    id             TEXT PRIMARY KEY,
    tenant_id      TEXT NOT NULL REFERENCES tenant(id),
    status         TEXT NOT NULL CHECK (status IN ('draft', 'scheduled', 'active', 'paused', 'completed')),
    scheduled_for  INTEGER,
    created_at     INTEGER NOT NULL,
    data           TEXT NOT NULL
);
CREATE INDEX sms_campaign_list ON sms_campaign (tenant_id, created_at, id);
-- The campaign runner's scans: due schedules, running campaigns.
CREATE INDEX sms_campaign_runner ON sms_campaign (status, scheduled_for);

-- Once queued, a recipient's status is its message's (joined on read, never copied).
CREATE TABLE campaign_recipient (
    id             TEXT PRIMARY KEY,
    tenant_id      TEXT NOT NULL REFERENCES tenant(id),
    campaign_id    TEXT NOT NULL REFERENCES sms_campaign(id) ON DELETE CASCADE,
    contact_id     TEXT REFERENCES contact(id) ON DELETE SET NULL,
    number         TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('pending', 'queued', 'skipped')),
    message_id     TEXT,
    error_code     TEXT,
    error_message  TEXT,
    -- A runner node holds a pending recipient until then.
    lease_until    INTEGER,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);
-- A number is texted once per campaign.
CREATE UNIQUE INDEX campaign_recipient_number ON campaign_recipient (campaign_id, number);
CREATE INDEX campaign_recipient_list ON campaign_recipient (campaign_id, created_at, id);
CREATE INDEX campaign_recipient_pending ON campaign_recipient (campaign_id, lease_until)
    WHERE status = 'pending';
