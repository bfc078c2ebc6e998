-- Passwords: an initial one (a new tenant's admin) must be replaced at first sign-in, and
-- failed sign-ins are counted per email (any email: whether it exists is never told) to
-- lock out guessing.
ALTER TABLE app_user ADD COLUMN password_change_required BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE sign_in_failure (
    id     TEXT PRIMARY KEY,
    email  TEXT NOT NULL,
    at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX sign_in_failure_email ON sign_in_failure (email, at);
