-- webhook_deliveries' CHECK constraints were written as `x IN ('a', 'b', …)`.
-- SQLite evaluates such a list by building a temporary index of its values
-- each time the statement runs: four of them for every delivery the single
-- writer stores, about 8% of its throughput with 8 concurrent senders. The
-- same checks as OR chains cost nothing. SQLite cannot alter a CHECK, so the
-- table is rebuilt: the same columns, rows and ids, then its indexes,
-- triggers and view as 0003 and 0009 left them.
--
-- The new table names itself in its foreign key; RENAME rewrites that to
-- webhook_deliveries, so dropping the old table checks no child row.
DROP VIEW webhook_events;

CREATE TABLE webhook_deliveries_new (
    id                 INTEGER PRIMARY KEY,
    received_at        INTEGER NOT NULL,
    kind               TEXT    NOT NULL CHECK (kind = 'event' OR kind = 'duplicate' OR kind = 'rejected'),
    event_id           INTEGER REFERENCES webhook_deliveries_new(id), -- duplicate: its event
    ip                 TEXT    NOT NULL DEFAULT '',
    request_id         TEXT    NOT NULL DEFAULT '',
    body_sha256        TEXT    NOT NULL,            -- hex
    body_size          INTEGER NOT NULL,
    reason             TEXT    NOT NULL DEFAULT '', -- rejected: why
    sig_timestamp      TEXT    NOT NULL DEFAULT '', -- StableMint-Timestamp, verified deliveries only
    signature          TEXT    NOT NULL DEFAULT '', -- StableMint-Signature, verified deliveries only
    -- The event, on its 'event' row only.
    event_key          TEXT    UNIQUE,              -- eventId, else the hex SHA-256 of the raw body
    body               BLOB,                        -- the raw bytes that were signed
    family             TEXT    CHECK (family = 'legacy' OR family = 'partner' OR family = 'v2' OR family = 'unknown'),
    type               TEXT,                        -- exactly as sent
    effect             TEXT    CHECK (effect = 'none' OR effect = 'processing' OR effect = 'paid' OR effect = 'settled'
                                      OR effect = 'failed'),
    outcome            TEXT    CHECK (outcome = 'applied' OR outcome = 'no_change' OR outcome = 'needs_review'
                                      OR outcome = 'unmatched' OR outcome = 'unparsable' OR outcome = 'dismissed'),
    detail             TEXT,                        -- what it did, or why it did nothing, for staff
    link_id            INTEGER REFERENCES links(id),
    updated_at         INTEGER,                     -- the outcome's last change
    CHECK ((kind = 'event') = (event_key IS NOT NULL)),
    CHECK (kind <> 'event' OR (body IS NOT NULL AND family IS NOT NULL AND type IS NOT NULL AND effect IS NOT NULL
        AND outcome IS NOT NULL AND detail IS NOT NULL)),
    CHECK ((kind = 'duplicate') = (event_id IS NOT NULL))
) STRICT;

-- In id order: a duplicate's event is always copied before it.
INSERT INTO webhook_deliveries_new (id, received_at, kind, event_id, ip, request_id, body_sha256, body_size, reason,
    sig_timestamp, signature, event_key, body, family, type, effect, outcome, detail, link_id, updated_at)
SELECT id, received_at, kind, event_id, ip, request_id, body_sha256, body_size, reason,
    sig_timestamp, signature, event_key, body, family, type, effect, outcome, detail, link_id, updated_at
FROM webhook_deliveries ORDER BY id;

DROP TABLE webhook_deliveries;
ALTER TABLE webhook_deliveries_new RENAME TO webhook_deliveries;

CREATE INDEX webhook_deliveries_of_event ON webhook_deliveries(event_id) WHERE event_id IS NOT NULL;
CREATE INDEX webhook_deliveries_odd ON webhook_deliveries(kind, id) WHERE kind = 'duplicate' OR kind = 'rejected';
CREATE INDEX webhook_events_triage ON webhook_deliveries(outcome, id)
    WHERE outcome = 'needs_review' OR outcome = 'unmatched' OR outcome = 'unparsable' OR outcome = 'dismissed';
CREATE INDEX webhook_events_review ON webhook_deliveries(link_id) WHERE outcome = 'needs_review';

CREATE TRIGGER webhook_event_types_insert AFTER INSERT ON webhook_deliveries WHEN NEW.kind = 'event' AND NEW.type <> ''
BEGIN INSERT OR IGNORE INTO webhook_event_types (type) VALUES (NEW.type); END;
CREATE TRIGGER webhook_event_types_update AFTER UPDATE OF type ON webhook_deliveries WHEN NEW.type <> ''
BEGIN INSERT OR IGNORE INTO webhook_event_types (type) VALUES (NEW.type); END;

-- Deliveries are records of money: never deleted, except refused attempts
-- after their retention (0009); what was received never changes.
CREATE TRIGGER webhook_deliveries_no_delete BEFORE DELETE ON webhook_deliveries
WHEN OLD.kind <> 'rejected'
BEGIN SELECT RAISE(ABORT, 'webhook deliveries are kept'); END;
CREATE TRIGGER webhook_deliveries_fixed BEFORE UPDATE OF id, received_at, kind, event_id, ip, request_id, body_sha256,
    body_size, reason, sig_timestamp, signature, event_key, body ON webhook_deliveries
BEGIN SELECT RAISE(ABORT, 'what a webhook delivery received never changes'); END;

CREATE VIEW webhook_events AS
    SELECT id, event_key, received_at, family, type, effect, outcome, detail, link_id, updated_at, body
    FROM webhook_deliveries WHERE kind = 'event';
