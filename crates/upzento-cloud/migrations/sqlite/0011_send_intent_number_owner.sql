-- The carrier worker's claim and its record of a send in progress. A claim names the worker
-- that holds it (`lease_owner`), and a worker may begin a send only while it still holds the
-- claim, so a lease that runs out under a slow sender cannot lead to a second send.
-- `send_started_at` is written before the provider is called: a message found with it after
-- a crash may have reached the provider, and is reconciled with it instead of being re-sent.
ALTER TABLE sms_message ADD COLUMN lease_owner TEXT;
ALTER TABLE sms_message ADD COLUMN send_started_at INTEGER;

-- A phone number belongs to one tenant. Numbers listed by several tenants before this rule
-- keep their oldest holder; the later ones are switched off and renamed, so that nothing is
-- deleted and nobody sends from a number that is not theirs.
UPDATE phone_number AS p SET status = 'inactive', sms_enabled = 0,
       number = p.number || '-duplicate-' || p.id
 WHERE EXISTS (SELECT 1 FROM phone_number o
               WHERE o.number = p.number AND o.tenant_id <> p.tenant_id
                 AND (o.created_at, o.id) < (p.created_at, p.id));
CREATE UNIQUE INDEX phone_number_owner ON phone_number (number);
