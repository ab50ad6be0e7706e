-- Two-factor sign-in (TOTP, RFC 6238) and the half-signed-in state between
-- the password and the code.

-- One authenticator per user. A row with enabled_at NULL is an enrolment
-- waiting for its confirmation code; it does not protect sign-in yet.
CREATE TABLE user_totp (
    user_id     INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    secret      TEXT    NOT NULL,             -- base32, 160-bit seed
    enabled_at  INTEGER,                      -- unix milliseconds; NULL while unconfirmed
    last_step   INTEGER NOT NULL DEFAULT 0,   -- newest 30-second step accepted: a code from it or an older one is refused
    created_at  INTEGER NOT NULL
) STRICT;

-- Single-use recovery codes: 128 random bits each, stored as hex SHA-256
-- (a slow hash adds nothing at that entropy). Shown once, when made.
CREATE TABLE totp_recovery_codes (
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_hash  TEXT    NOT NULL,
    used_at    INTEGER,                       -- unix milliseconds; NULL while unused
    PRIMARY KEY (user_id, code_hash)
) STRICT;

-- A correct password for a user with two-factor sign-in: no session yet,
-- only this row, named by the hash of a random token in a short-lived
-- cookie of its own. It expires after five minutes and is deleted when used.
CREATE TABLE pending_logins (
    token_hash  TEXT    PRIMARY KEY,          -- hex SHA-256 of the cookie's token
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    next        TEXT    NOT NULL DEFAULT '',  -- checked local path to go to afterwards
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX pending_logins_user ON pending_logins(user_id);
CREATE INDEX pending_logins_expires ON pending_logins(expires_at);
