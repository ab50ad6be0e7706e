-- Emails to customers, as a transactional outbox: a row is committed in the
-- transaction of its link timeline entry and audit entry, and the mail
-- worker sends it afterwards. Times are unix milliseconds, UTC.

-- One "email these links" action from the list page.
CREATE TABLE email_batches (
    id          INTEGER PRIMARY KEY,
    form_token  TEXT    UNIQUE,                 -- a resubmitted form finds its batch
    created_by  INTEGER NOT NULL REFERENCES users(id),
    created_at  INTEGER NOT NULL,
    skipped     TEXT    NOT NULL DEFAULT '[]'   -- JSON [{"linkId":1,"reason":"…"}]: links not emailed, and why
) STRICT;

CREATE TABLE outbox (
    id               INTEGER PRIMARY KEY,
    link_id          INTEGER NOT NULL REFERENCES links(id),
    batch_id         INTEGER REFERENCES email_batches(id),
    resend_of        INTEGER UNIQUE REFERENCES outbox(id), -- a failed email is resent at most once (the resend may be resent)
    form_token       TEXT    UNIQUE,                       -- a double-clicked Send finds the first row
    -- queued: waiting for the worker (also between retries);
    -- sent: the SMTP server took it; kept: no SMTP server is configured, it
    -- stays in the local mailbox, not sent; failed: permanent refusal or
    -- attempts used up; cancelled: the link stopped being payable first.
    status           TEXT    NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('queued', 'sent', 'kept', 'failed', 'cancelled')),
    message_id       TEXT    NOT NULL UNIQUE,              -- without <>; the same on every attempt
    from_addr        TEXT    NOT NULL,
    from_name        TEXT    NOT NULL DEFAULT '',
    to_addr          TEXT    NOT NULL,
    to_name          TEXT    NOT NULL DEFAULT '',
    subject          TEXT    NOT NULL,
    body_text        TEXT    NOT NULL,
    body_html        TEXT    NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,           -- claims so far, counted when claimed
    next_attempt_at  INTEGER NOT NULL,                     -- not claimed before this
    locked_until     INTEGER,                              -- a worker's lease; expired = claimable again
    lease_token      TEXT,                                 -- who holds the lease; outcomes must present it
    last_error       TEXT    NOT NULL DEFAULT '',
    server_reply     TEXT    NOT NULL DEFAULT '',          -- the SMTP server's answer to the message
    raw_message      BLOB,                                 -- the rendered message, for kept rows (local mailbox)
    created_by       INTEGER NOT NULL REFERENCES users(id),
    created_at       INTEGER NOT NULL,
    finished_at      INTEGER,                              -- when it became sent, kept, failed or cancelled
    updated_at       INTEGER NOT NULL
) STRICT;
CREATE INDEX outbox_due ON outbox(next_attempt_at, id) WHERE status = 'queued';
CREATE INDEX outbox_link ON outbox(link_id, id);
CREATE INDEX outbox_batch ON outbox(batch_id) WHERE batch_id IS NOT NULL;
CREATE INDEX outbox_failed ON outbox(finished_at DESC) WHERE status = 'failed';
CREATE INDEX outbox_kept ON outbox(id DESC) WHERE status = 'kept';

-- The admin-edited email template; no row means the built-in default.
CREATE TABLE email_templates (
    name        TEXT    PRIMARY KEY,               -- 'payment_link'
    subject     TEXT    NOT NULL,
    body_text   TEXT    NOT NULL,
    body_html   TEXT    NOT NULL,
    updated_by  INTEGER REFERENCES users(id),
    updated_at  INTEGER NOT NULL
) STRICT;
