-- Outbound webhooks (docs/outbound-webhooks.md): endpoints admins register,
-- the event types each one hears, and an outbox of its own. A message row
-- is written by the triggers below, in the transaction of the change it
-- reports (a link created, a link's status or flags changed, an email sent
-- or failed); the worker (outbound/) delivers it after the commit and
-- records every attempt. Times are unix milliseconds, UTC.

CREATE TABLE outbound_endpoints (
    id               INTEGER PRIMARY KEY,
    url              TEXT    NOT NULL,
    description      TEXT    NOT NULL DEFAULT '',
    secret           TEXT    NOT NULL,              -- whsec_<base64>: signs every message
    old_secret       TEXT,                          -- the secret before the last rotation
    old_secret_until INTEGER,                       -- messages are signed with both until then
    enabled          INTEGER NOT NULL DEFAULT 1,
    disabled_reason  TEXT    NOT NULL DEFAULT '',
    disabled_at      INTEGER,
    failing_since    INTEGER,                       -- first failed attempt since the last success
    listener         INTEGER NOT NULL DEFAULT 0,    -- registered by `paylinks listen` (sandbox mode)
    created_by       INTEGER REFERENCES users(id),  -- NULL: paylinks listen
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
) STRICT;

-- The event types an endpoint hears. Keyed by type first: the triggers
-- look up the endpoints of one type.
CREATE TABLE outbound_subscriptions (
    type        TEXT    NOT NULL,
    endpoint_id INTEGER NOT NULL REFERENCES outbound_endpoints(id) ON DELETE CASCADE,
    PRIMARY KEY (type, endpoint_id)
) STRICT, WITHOUT ROWID;

-- One message to one endpoint: the outbox row. msg_id is the webhook-id
-- header, the same on every attempt and on a Resend; a bulk replay makes a
-- new message (replay = 1) with the link's state at the replay.
CREATE TABLE outbound_messages (
    id              INTEGER PRIMARY KEY,
    msg_id          TEXT    NOT NULL UNIQUE,
    endpoint_id     INTEGER NOT NULL REFERENCES outbound_endpoints(id) ON DELETE CASCADE,
    type            TEXT    NOT NULL,
    link_id         INTEGER REFERENCES links(id),
    email_id        INTEGER REFERENCES outbox(id),
    snapshot        TEXT    NOT NULL DEFAULT '{}',  -- JSON: the link (and email) as the change left them
    replay          INTEGER NOT NULL DEFAULT 0,
    replayed_as     INTEGER REFERENCES outbound_messages(id), -- a failed message a bulk replay covered
    -- pending: waiting for the worker (also between retries); delivered:
    -- the endpoint answered 2xx; failed: out of time (3 days) or the
    -- endpoint was disabled.
    status          TEXT    NOT NULL DEFAULT 'pending'
                    CHECK (status = 'pending' OR status = 'delivered' OR status = 'failed'),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    locked_until    INTEGER,                        -- a worker's lease; expired = claimable again
    lease_token     TEXT,
    last_status     INTEGER NOT NULL DEFAULT 0,     -- the last attempt's HTTP status; 0: no answer
    last_error      TEXT    NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,               -- when the change happened: the payload's timestamp
    finished_at     INTEGER
) STRICT;
CREATE INDEX outbound_messages_due ON outbound_messages(next_attempt_at, id) WHERE status = 'pending';
-- In order per link per endpoint: a message waits while an earlier one of
-- its link and endpoint is pending.
CREATE INDEX outbound_messages_order ON outbound_messages(endpoint_id, link_id, id) WHERE status = 'pending';
CREATE INDEX outbound_messages_endpoint ON outbound_messages(endpoint_id, id);
-- The leased messages, counted per endpoint at each claim (at most
-- perEndpoint to one endpoint at once).
CREATE INDEX outbound_messages_leased ON outbound_messages(endpoint_id) WHERE status = 'pending' AND locked_until IS NOT NULL;
CREATE INDEX outbound_messages_link ON outbound_messages(link_id, id) WHERE link_id IS NOT NULL;
CREATE INDEX outbound_messages_failed ON outbound_messages(endpoint_id, created_at) WHERE status = 'failed';

-- The delivery log: every attempt.
CREATE TABLE outbound_attempts (
    id           INTEGER PRIMARY KEY,
    message_id   INTEGER NOT NULL REFERENCES outbound_messages(id) ON DELETE CASCADE,
    at           INTEGER NOT NULL,
    duration_ms  INTEGER NOT NULL,
    http_status  INTEGER NOT NULL DEFAULT 0,        -- 0: no answer (refused, timed out, connection failed)
    error        TEXT    NOT NULL DEFAULT '',
    response     TEXT    NOT NULL DEFAULT ''        -- the first 1 KiB of the answer's body
) STRICT;
CREATE INDEX outbound_attempts_message ON outbound_attempts(message_id, id);

-- The triggers. With no endpoint subscribed to a type, each costs one
-- lookup in outbound_subscriptions' primary key. The link snapshot names
-- paid_at and settled_at as the links_paid_at and links_settled_at
-- triggers are about to set them (trigger order is not guaranteed).
-- db/outbound.go builds the same snapshot for a replay (linkSnapshotSQL);
-- a test keeps the two alike.

CREATE TRIGGER outbound_link_created AFTER INSERT ON links BEGIN
    INSERT INTO outbound_messages (msg_id, endpoint_id, type, link_id, snapshot, created_at, next_attempt_at)
    SELECT 'msg_' || lower(hex(randomblob(12))), s.endpoint_id, s.type, NEW.id,
        json_object('link', json_object('status', NEW.status, 'sm_reference', NEW.sm_reference,
            'checkout_url', NEW.checkout_url, 'expires_at', NEW.expires_at, 'sm_session_id', NEW.sm_session_id,
            'deposit_reference', NEW.deposit_reference, 'paid_after_expiry', NEW.paid_after_expiry,
            'needs_review', NEW.needs_review, 'paid_after_cancel', NEW.paid_after_cancel,
            'cancelled_at', NEW.cancelled_at, 'cancel_reason', NEW.cancel_reason,
            'paid_at', COALESCE(NEW.paid_at, CASE WHEN NEW.status IN ('paid', 'settled') THEN NEW.updated_at END),
            'settled_at', COALESCE(NEW.settled_at, CASE WHEN NEW.status = 'settled' THEN NEW.updated_at END),
            'held', NEW.held_checkout_host IS NOT NULL, 'updated_at', NEW.updated_at)),
        NEW.created_at, NEW.created_at
    FROM outbound_subscriptions s JOIN outbound_endpoints e ON e.id = s.endpoint_id AND e.enabled = 1
    WHERE s.type = 'link.created';
END;

-- A status change: link.opened (open), link.needs_attention (error), and
-- link.<status> for processing, paid, settled, failed, expired, cancelled.
CREATE TRIGGER outbound_link_status AFTER UPDATE OF status ON links
WHEN NEW.status <> OLD.status AND NEW.status <> 'creating'
BEGIN
    INSERT INTO outbound_messages (msg_id, endpoint_id, type, link_id, snapshot, created_at, next_attempt_at)
    SELECT 'msg_' || lower(hex(randomblob(12))), s.endpoint_id, s.type, NEW.id,
        json_object('link', json_object('status', NEW.status, 'sm_reference', NEW.sm_reference,
            'checkout_url', NEW.checkout_url, 'expires_at', NEW.expires_at, 'sm_session_id', NEW.sm_session_id,
            'deposit_reference', NEW.deposit_reference, 'paid_after_expiry', NEW.paid_after_expiry,
            'needs_review', NEW.needs_review, 'paid_after_cancel', NEW.paid_after_cancel,
            'cancelled_at', NEW.cancelled_at, 'cancel_reason', NEW.cancel_reason,
            'paid_at', COALESCE(NEW.paid_at, CASE WHEN NEW.status IN ('paid', 'settled') THEN NEW.updated_at END),
            'settled_at', COALESCE(NEW.settled_at, CASE WHEN NEW.status = 'settled' THEN NEW.updated_at END),
            'held', NEW.held_checkout_host IS NOT NULL, 'updated_at', NEW.updated_at)),
        NEW.updated_at, NEW.updated_at
    FROM outbound_subscriptions s JOIN outbound_endpoints e ON e.id = s.endpoint_id AND e.enabled = 1
    WHERE s.type = CASE NEW.status WHEN 'open' THEN 'link.opened' WHEN 'error' THEN 'link.needs_attention'
        ELSE 'link.' || NEW.status END;
END;

-- A flag newly set (an amount or currency that differed, a payment after
-- expiry or after cancel): link.needs_attention. The ingest path names
-- these columns in every status write; the WHEN clause filters.
CREATE TRIGGER outbound_link_flags AFTER UPDATE OF needs_review, paid_after_expiry, paid_after_cancel ON links
WHEN (NEW.needs_review = 1 AND OLD.needs_review = 0) OR (NEW.paid_after_expiry = 1 AND OLD.paid_after_expiry = 0)
    OR (NEW.paid_after_cancel = 1 AND OLD.paid_after_cancel = 0)
BEGIN
    INSERT INTO outbound_messages (msg_id, endpoint_id, type, link_id, snapshot, created_at, next_attempt_at)
    SELECT 'msg_' || lower(hex(randomblob(12))), s.endpoint_id, s.type, NEW.id,
        json_object('link', json_object('status', NEW.status, 'sm_reference', NEW.sm_reference,
            'checkout_url', NEW.checkout_url, 'expires_at', NEW.expires_at, 'sm_session_id', NEW.sm_session_id,
            'deposit_reference', NEW.deposit_reference, 'paid_after_expiry', NEW.paid_after_expiry,
            'needs_review', NEW.needs_review, 'paid_after_cancel', NEW.paid_after_cancel,
            'cancelled_at', NEW.cancelled_at, 'cancel_reason', NEW.cancel_reason,
            'paid_at', COALESCE(NEW.paid_at, CASE WHEN NEW.status IN ('paid', 'settled') THEN NEW.updated_at END),
            'settled_at', COALESCE(NEW.settled_at, CASE WHEN NEW.status = 'settled' THEN NEW.updated_at END),
            'held', NEW.held_checkout_host IS NOT NULL, 'updated_at', NEW.updated_at)),
        NEW.updated_at, NEW.updated_at
    FROM outbound_subscriptions s JOIN outbound_endpoints e ON e.id = s.endpoint_id AND e.enabled = 1
    WHERE s.type = 'link.needs_attention';
END;

-- An email about a link went (sent) or failed for good. Staff
-- notifications (no link) and emails kept in the local mailbox raise none.
CREATE TRIGGER outbound_email AFTER UPDATE OF status ON outbox
WHEN OLD.status = 'queued' AND NEW.status IN ('sent', 'failed') AND NEW.link_id IS NOT NULL
BEGIN
    INSERT INTO outbound_messages (msg_id, endpoint_id, type, link_id, email_id, snapshot, created_at, next_attempt_at)
    SELECT 'msg_' || lower(hex(randomblob(12))), s.endpoint_id, s.type, NEW.link_id, NEW.id,
        json_object('email', json_object('id', NEW.id, 'kind', NEW.kind, 'status', NEW.status, 'to', NEW.to_addr,
            'message_id', NEW.message_id, 'attempts', NEW.attempts, 'error', NEW.last_error,
            'at', COALESCE(NEW.finished_at, NEW.updated_at))),
        COALESCE(NEW.finished_at, NEW.updated_at), COALESCE(NEW.finished_at, NEW.updated_at)
    FROM outbound_subscriptions s JOIN outbound_endpoints e ON e.id = s.endpoint_id AND e.enabled = 1
    WHERE s.type = 'email.' || NEW.status;
END;
