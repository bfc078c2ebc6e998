-- Times are Unix milliseconds (UTC).
-- After-call work: the tenant's dispositions, a call's wrap-up (disposition, tags, who
-- and when), follow-up tasks, and the tenant's settings (the wrap-up timer).
CREATE TABLE disposition (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenant(id),
    name        TEXT NOT NULL,
    position    INTEGER NOT NULL,
    archived    INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
-- One name per tenant, whatever its case: agents pick by name.
CREATE UNIQUE INDEX disposition_name ON disposition (tenant_id, lower(name));

ALTER TABLE call ADD COLUMN disposition_id TEXT REFERENCES disposition(id);
ALTER TABLE call ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
ALTER TABLE call ADD COLUMN wrapped_up_at INTEGER;
ALTER TABLE call ADD COLUMN wrapped_up_by TEXT REFERENCES app_user(id);

CREATE TABLE task (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL REFERENCES tenant(id),
    title            TEXT NOT NULL,
    due_at           INTEGER NOT NULL,
    assignee_id      TEXT NOT NULL REFERENCES app_user(id),
    call_id          TEXT REFERENCES call(id) ON DELETE SET NULL,
    contact_id       TEXT REFERENCES contact(id) ON DELETE SET NULL,
    conversation_id  TEXT REFERENCES conversation(id) ON DELETE SET NULL,
    done_at          INTEGER,
    created_by       TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX task_tenant_created ON task (tenant_id, created_at, id);
-- A user's open tasks, soonest first.
CREATE INDEX task_to_do ON task (tenant_id, assignee_id, due_at) WHERE done_at IS NULL;

CREATE TABLE tenant_settings (
    id               TEXT PRIMARY KEY REFERENCES tenant(id),
    tenant_id        TEXT NOT NULL REFERENCES tenant(id),
    wrap_up_seconds  INTEGER,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
