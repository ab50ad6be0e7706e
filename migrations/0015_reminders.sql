-- migrate: foreign_keys off
--
-- Reminders to customers and notifications to staff (docs/guide.md).
--
-- outbox gains a kind (customer: an email staff sent; reminder: a reminder
-- the reminder job queued; staff: a notification to a colleague), a
-- dedupe_key (UNIQUE: a reminder or a notification is queued at most once,
-- whichever process queues it, however often it retries), and link_id may
-- be NULL for staff rows (a daily digest is about several links; a staff
-- row never belongs to a link's email history, is never stopped by the
-- link's status and never cancelled with it). SQLite cannot drop a NOT
-- NULL, so outbox is rebuilt with the twelve-step procedure (see 0013):
-- the same columns, rows and ids, the new ones after them, then every
-- index as 0004 left it. The marker line above runs this file with
-- foreign keys off and checks every foreign key before commit.
-- CHECKs are OR chains, not IN lists (see 0011).
CREATE TABLE outbox_new (
    id               INTEGER PRIMARY KEY,
    link_id          INTEGER REFERENCES links(id),     -- NULL only for staff rows
    batch_id         INTEGER REFERENCES email_batches(id),
    resend_of        INTEGER UNIQUE REFERENCES outbox(id),
    form_token       TEXT    UNIQUE,
    status           TEXT    NOT NULL DEFAULT 'queued'
                     CHECK (status = 'queued' OR status = 'sent' OR status = 'kept' OR status = 'failed'
                            OR status = 'cancelled'),
    message_id       TEXT    NOT NULL UNIQUE,
    from_addr        TEXT    NOT NULL,
    from_name        TEXT    NOT NULL DEFAULT '',
    to_addr          TEXT    NOT NULL,
    to_name          TEXT    NOT NULL DEFAULT '',
    subject          TEXT    NOT NULL,
    body_text        TEXT    NOT NULL,
    body_html        TEXT    NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    locked_until     INTEGER,
    lease_token      TEXT,
    last_error       TEXT    NOT NULL DEFAULT '',
    server_reply     TEXT    NOT NULL DEFAULT '',
    raw_message      BLOB,
    created_by       INTEGER NOT NULL REFERENCES users(id),
    created_at       INTEGER NOT NULL,
    finished_at      INTEGER,
    updated_at       INTEGER NOT NULL,
    kind             TEXT    NOT NULL DEFAULT 'customer'
                     CHECK (kind = 'customer' OR kind = 'reminder' OR kind = 'staff'),
    dedupe_key       TEXT    UNIQUE,                    -- reminder:<link>:<n>, notify:<id>:<address>, digest:<user>:<day>
    CHECK (link_id IS NOT NULL OR kind = 'staff')
) STRICT;

INSERT INTO outbox_new (id, link_id, batch_id, resend_of, form_token, status, message_id, from_addr, from_name,
    to_addr, to_name, subject, body_text, body_html, attempts, next_attempt_at, locked_until, lease_token,
    last_error, server_reply, raw_message, created_by, created_at, finished_at, updated_at)
SELECT id, link_id, batch_id, resend_of, form_token, status, message_id, from_addr, from_name,
    to_addr, to_name, subject, body_text, body_html, attempts, next_attempt_at, locked_until, lease_token,
    last_error, server_reply, raw_message, created_by, created_at, finished_at, updated_at
FROM outbox;

DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;

CREATE INDEX outbox_due ON outbox(next_attempt_at, id) WHERE status = 'queued';
CREATE INDEX outbox_link ON outbox(link_id, id);
CREATE INDEX outbox_batch ON outbox(batch_id) WHERE batch_id IS NOT NULL;
CREATE INDEX outbox_failed ON outbox(finished_at DESC) WHERE status = 'failed';
CREATE INDEX outbox_kept ON outbox(id DESC) WHERE status = 'kept';

-- A link's reminders: the per-link override (all four rule columns NULL:
-- the settings' rule applies), where and when the first customer email
-- went, how many reminders were queued, and when the next one is due
-- (NULL: none). The reminder job finds due rows through reminders_due.
CREATE TABLE link_reminders (
    link_id           INTEGER PRIMARY KEY REFERENCES links(id),
    before_on         INTEGER CHECK (before_on IS NULL OR before_on = 0 OR before_on = 1),
    before_hours      INTEGER CHECK (before_hours IS NULL OR before_hours > 0),
    after_on          INTEGER CHECK (after_on IS NULL OR after_on = 0 OR after_on = 1),
    after_days        INTEGER CHECK (after_days IS NULL OR after_days > 0),
    max_count         INTEGER CHECK (max_count IS NULL OR max_count >= 0),
    first_emailed_at  INTEGER,                      -- when the first customer email was queued
    to_addr           TEXT    NOT NULL DEFAULT '',  -- where it went: reminders go there too
    to_name           TEXT    NOT NULL DEFAULT '',
    sent              INTEGER NOT NULL DEFAULT 0,   -- reminders queued so far
    last_at           INTEGER,                      -- when the last one was queued
    remind_at         INTEGER,                      -- the next one is due; NULL: none
    updated_at        INTEGER NOT NULL
) STRICT;
CREATE INDEX reminders_due ON link_reminders(remind_at) WHERE remind_at IS NOT NULL;

-- What happened to a link that its creator (and the team addresses) hear
-- about: one row per change, written by the webhook ingest transaction
-- (db/webhooks_ingest.go applyToLink), turned into staff emails by the
-- notification job (processed_at set in the same transaction as the
-- outbox rows), and read by the daily digest.
CREATE TABLE staff_notifications (
    id            INTEGER PRIMARY KEY,
    link_id       INTEGER NOT NULL REFERENCES links(id),
    event         TEXT    NOT NULL
                  CHECK (event = 'paid' OR event = 'failed' OR event = 'needs_review'
                         OR event = 'paid_after_expiry' OR event = 'paid_after_cancel'),
    status        TEXT    NOT NULL,                 -- the link's status after the change
    at            INTEGER NOT NULL,
    processed_at  INTEGER
) STRICT;
CREATE INDEX staff_notifications_pending ON staff_notifications(id) WHERE processed_at IS NULL;
CREATE INDEX staff_notifications_at ON staff_notifications(at);

-- Each user's choice on /account: immediately, a daily digest, or off.
ALTER TABLE users ADD COLUMN notify TEXT NOT NULL DEFAULT 'immediate'
    CHECK (notify = 'immediate' OR notify = 'digest' OR notify = 'off');
