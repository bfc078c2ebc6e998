-- Times are Unix milliseconds (UTC).
-- Delivery reports name the provider's id of a message.
CREATE INDEX sms_message_provider_id ON sms_message (provider, provider_message_id)
    WHERE provider_message_id IS NOT NULL;
-- Parts of multi-part inbound SMS until all have arrived (then they are joined).
CREATE TABLE inbound_part (
    tenant_id    TEXT NOT NULL REFERENCES tenant(id),
    provider     TEXT NOT NULL,
    sender       TEXT NOT NULL,
    reference    TEXT NOT NULL,
    part         INTEGER NOT NULL,
    total        INTEGER NOT NULL,
    message_id   TEXT NOT NULL,
    body         TEXT NOT NULL,
    received_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, provider, sender, reference, part)
);
