-- Tokens get an id so that API tokens can be listed and revoked one by one.
ALTER TABLE api_token ADD COLUMN id TEXT;
UPDATE api_token SET id = lower(hex(randomblob(16))) WHERE id IS NULL;
CREATE UNIQUE INDEX api_token_id ON api_token (id);
