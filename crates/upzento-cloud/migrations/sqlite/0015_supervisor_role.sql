-- Times are Unix milliseconds (UTC).
-- A third role: a supervisor oversees agents (and, with teams, their teams' work).
-- SQLite cannot change a CHECK constraint: the table is rebuilt as its documentation
-- says (migrations run with foreign keys off, and are checked before they commit).
CREATE TABLE app_user_rebuilt (
    id             TEXT PRIMARY KEY,
    tenant_id      TEXT NOT NULL REFERENCES tenant(id),
    name           TEXT NOT NULL,
    email          TEXT NOT NULL,
    role           TEXT NOT NULL CHECK (role IN ('admin', 'supervisor', 'agent')),
    password_hash  TEXT,
    created_at     INTEGER NOT NULL
);
INSERT INTO app_user_rebuilt (id, tenant_id, name, email, role, password_hash, created_at)
    SELECT id, tenant_id, name, email, role, password_hash, created_at FROM app_user;
DROP TABLE app_user;
ALTER TABLE app_user_rebuilt RENAME TO app_user;
CREATE UNIQUE INDEX app_user_email ON app_user (lower(email));
