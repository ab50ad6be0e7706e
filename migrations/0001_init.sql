-- Staff accounts. Emails are unique without regard to case.
CREATE TABLE users (
    id                    INTEGER PRIMARY KEY,
    email                 TEXT    NOT NULL COLLATE NOCASE UNIQUE,
    name                  TEXT    NOT NULL,
    role                  TEXT    NOT NULL CHECK (role IN ('admin', 'finance', 'viewer')),
    password_hash         TEXT    NOT NULL,
    must_change_password  INTEGER NOT NULL DEFAULT 0 CHECK (must_change_password IN (0, 1)),
    disabled              INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    failed_logins         INTEGER NOT NULL DEFAULT 0,
    last_failed_login_at  INTEGER,            -- unix milliseconds
    locked_until          INTEGER,            -- unix milliseconds; sign-in refused before this
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL
) STRICT;

-- Server-side sessions: the cookie carries only the id (signed and encrypted).
CREATE TABLE sessions (
    id            TEXT    PRIMARY KEY,        -- 256-bit random, base64url
    user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf_token    TEXT    NOT NULL,
    data          BLOB,                       -- gob-encoded gorilla session values (flashes)
    ip            TEXT    NOT NULL DEFAULT '',
    user_agent    TEXT    NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,
    last_seen_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX sessions_user ON sessions(user_id);
CREATE INDEX sessions_last_seen ON sessions(last_seen_at);

-- One-time links: first-run setup of the first admin.
CREATE TABLE setup_tokens (
    token_hash  TEXT    PRIMARY KEY,          -- hex SHA-256 of the token; the token itself is never stored
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
) STRICT;

-- Append-only record of who did what.
CREATE TABLE audit_log (
    id           INTEGER PRIMARY KEY,
    at           INTEGER NOT NULL,            -- unix milliseconds, UTC
    actor_id     INTEGER,                     -- NULL for anonymous or system actions
    actor_email  TEXT    NOT NULL DEFAULT '',
    action       TEXT    NOT NULL,
    target       TEXT    NOT NULL DEFAULT '',
    outcome      TEXT    NOT NULL DEFAULT 'ok',
    ip           TEXT    NOT NULL DEFAULT '',
    request_id   TEXT    NOT NULL DEFAULT '',
    details      TEXT    NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX audit_log_at ON audit_log(at);
CREATE INDEX audit_log_actor ON audit_log(actor_id, at);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
