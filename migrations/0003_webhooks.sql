-- StableMint webhooks: one row per request to POST /webhooks/stablemint.
--
--   kind 'event'      the first verified delivery of an event (identified
--                     by event_key). The row holds the raw body as signed
--                     (everything else it says is read from there), its
--                     signature headers, its family and type, and what it
--                     did; its id is the event's id. It is written in the
--                     transaction that applies the event to its link.
--   kind 'duplicate'  a verified delivery of an event already stored
--                     (event_id); it changes nothing else.
--   kind 'rejected'   refused before anything trusted it: only the time,
--                     IP, reason and the body's hash and size are kept.
--
-- One table keeps the ingest path to one insert per delivery and the admin
-- list to one keyset scan. Times are unix milliseconds, UTC.
CREATE TABLE webhook_deliveries (
    id                 INTEGER PRIMARY KEY,
    received_at        INTEGER NOT NULL,
    kind               TEXT    NOT NULL CHECK (kind IN ('event', 'duplicate', 'rejected')),
    event_id           INTEGER REFERENCES webhook_deliveries(id), -- duplicate: its event
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
    family             TEXT    CHECK (family IN ('legacy', 'partner', 'v2', 'unknown')),
    type               TEXT,                        -- exactly as sent
    effect             TEXT    CHECK (effect IN ('none', 'processing', 'paid', 'settled', 'failed')),
    outcome            TEXT    CHECK (outcome IN ('applied', 'no_change', 'needs_review', 'unmatched', 'unparsable', 'dismissed')),
    detail             TEXT,                        -- what it did, or why it did nothing, for staff
    link_id            INTEGER REFERENCES links(id),
    updated_at         INTEGER,                     -- the outcome's last change
    CHECK ((kind = 'event') = (event_key IS NOT NULL)),
    CHECK (kind <> 'event' OR (body IS NOT NULL AND family IS NOT NULL AND type IS NOT NULL AND effect IS NOT NULL
        AND outcome IS NOT NULL AND detail IS NOT NULL)),
    CHECK ((kind = 'duplicate') = (event_id IS NOT NULL))
) STRICT;

-- Partial indexes: the hot path (a new event applied or changing nothing)
-- touches none of them.
CREATE INDEX webhook_deliveries_of_event ON webhook_deliveries(event_id) WHERE event_id IS NOT NULL;
CREATE INDEX webhook_deliveries_odd ON webhook_deliveries(kind, id) WHERE kind = 'duplicate' OR kind = 'rejected';
CREATE INDEX webhook_events_triage ON webhook_deliveries(outcome, id)
    WHERE outcome = 'needs_review' OR outcome = 'unmatched' OR outcome = 'unparsable' OR outcome = 'dismissed';
CREATE INDEX webhook_events_review ON webhook_deliveries(link_id) WHERE outcome = 'needs_review';

-- Every event type received, for the admin filter.
CREATE TABLE webhook_event_types (type TEXT PRIMARY KEY) WITHOUT ROWID, STRICT;
CREATE TRIGGER webhook_event_types_insert AFTER INSERT ON webhook_deliveries WHEN NEW.kind = 'event' AND NEW.type <> ''
BEGIN INSERT OR IGNORE INTO webhook_event_types (type) VALUES (NEW.type); END;
CREATE TRIGGER webhook_event_types_update AFTER UPDATE OF type ON webhook_deliveries WHEN NEW.type <> ''
BEGIN INSERT OR IGNORE INTO webhook_event_types (type) VALUES (NEW.type); END;

-- Deliveries are records of money: never deleted; what was received never
-- changes (only an event's outcome and what was parsed from it do).
CREATE TRIGGER webhook_deliveries_no_delete BEFORE DELETE ON webhook_deliveries
BEGIN SELECT RAISE(ABORT, 'webhook deliveries are kept'); END;
CREATE TRIGGER webhook_deliveries_fixed BEFORE UPDATE OF id, received_at, kind, event_id, ip, request_id, body_sha256,
    body_size, reason, sig_timestamp, signature, event_key, body ON webhook_deliveries
BEGIN SELECT RAISE(ABORT, 'what a webhook delivery received never changes'); END;

-- The events alone, for reading by hand.
CREATE VIEW webhook_events AS
    SELECT id, event_key, received_at, family, type, effect, outcome, detail, link_id, updated_at, body
    FROM webhook_deliveries WHERE kind = 'event';

-- The expiry sweeper's query: open links by expiry.
CREATE INDEX links_open_expires ON links(expires_at) WHERE status = 'open';
