-- The JSON API (docs/api.md): API keys and their idempotency records.
--
-- Each key acts through a user of its own (links.created_by, audit actor,
-- outbox created_by all reference users), named "API key <name>". That user
-- can never sign in: it is disabled, its password hash is not a hash, and
-- the trigger below refuses enabling it or giving it a password or a role.
CREATE TABLE api_keys (
    id            INTEGER PRIMARY KEY,
    user_id       INTEGER NOT NULL UNIQUE REFERENCES users(id),
    name          TEXT    NOT NULL,
    prefix        TEXT    NOT NULL,            -- visible start of the token: pl_live_AbCd
    secret_hash   TEXT    NOT NULL UNIQUE,     -- hex HMAC-SHA256(server key, token); the token is never stored
    scopes        TEXT    NOT NULL,            -- space-separated: links:read links:write links:email webhooks:manage
    allowed_ips   TEXT    NOT NULL DEFAULT '', -- space-separated CIDRs; empty: any address
    expires_at    INTEGER,                     -- unix ms; NULL: never
    revoked_at    INTEGER,
    revoked_by    INTEGER REFERENCES users(id),
    created_by    INTEGER NOT NULL REFERENCES users(id),
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER,
    last_used_ip  TEXT    NOT NULL DEFAULT ''
) STRICT;

CREATE TRIGGER api_key_users_never_sign_in BEFORE UPDATE OF disabled, password_hash, role ON users
WHEN OLD.id IN (SELECT user_id FROM api_keys)
BEGIN SELECT RAISE(ABORT, 'an API key''s user cannot sign in'); END;

-- Idempotency-Key records, per API key. A row is claimed (state pending) in
-- its own transaction before the operation runs, then holds the answer
-- (state done) that a repeat gets back. Pruned after 48 hours.
CREATE TABLE api_idempotency (
    api_key_id   INTEGER NOT NULL REFERENCES api_keys(id),
    idem_key     TEXT    NOT NULL,
    fingerprint  TEXT    NOT NULL,             -- hex SHA-256 of method, path and the canonical JSON body
    state        TEXT    NOT NULL CHECK (state IN ('pending', 'done')),
    status       INTEGER NOT NULL DEFAULT 0,
    content_type TEXT    NOT NULL DEFAULT '',
    location     TEXT    NOT NULL DEFAULT '',
    body         BLOB,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (api_key_id, idem_key)
) STRICT, WITHOUT ROWID;
CREATE INDEX api_idempotency_created ON api_idempotency(created_at);
