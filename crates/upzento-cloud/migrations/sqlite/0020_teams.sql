-- Times are Unix milliseconds (UTC).
-- Teams: named groups of users. A team can own phone numbers and conversations (assignment
-- targets a user, a team, or both: the team's conversation, taken by one of its people).
CREATE TABLE team (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenant(id),
    name        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE UNIQUE INDEX team_name ON team (tenant_id, lower(name));
CREATE INDEX team_tenant_created ON team (tenant_id, created_at, id);

CREATE TABLE team_member (
    tenant_id  TEXT NOT NULL REFERENCES tenant(id),
    team_id    TEXT NOT NULL REFERENCES team(id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES app_user(id),
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_member_user ON team_member (tenant_id, user_id);

ALTER TABLE conversation ADD COLUMN team_id TEXT REFERENCES team(id) ON DELETE SET NULL;
ALTER TABLE phone_number ADD COLUMN team_id TEXT REFERENCES team(id) ON DELETE SET NULL;
