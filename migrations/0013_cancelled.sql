-- migrate: foreign_keys off
--
-- A link can be cancelled by staff: status 'cancelled', with when, by whom
-- and why, and a payment that arrives for it anyway is applied and flagged
-- "paid after cancel". SQLite cannot alter a CHECK, so links is rebuilt
-- with SQLite's twelve-step procedure (lang_altertable.html, "Making Other
-- Kinds Of Table Schema Changes"): the same columns, rows and ids, the new
-- ones after them, then every index and trigger as 0002–0012 left them.
-- settled_at joins paid_at (0008): when the link first became settled, set
-- by a trigger; links settled before this migration take their last
-- update's time, the best the table knows.
-- The marker line above makes db.Migrate run this file with foreign keys
-- off (link_keys would otherwise be emptied by its ON DELETE CASCADE when
-- the old table is dropped) and check every foreign key before commit.
-- The status CHECK is an OR chain, not an IN list (see 0011).
CREATE TABLE links_new (
    id                 INTEGER PRIMARY KEY,
    idempotency_key    TEXT    NOT NULL UNIQUE,   -- sent to StableMint; committed before the first call
    form_token         TEXT    UNIQUE,            -- random id of the form submission: a double submit finds this link
    status             TEXT    NOT NULL DEFAULT 'creating'
                       CHECK (status = 'creating' OR status = 'error' OR status = 'open' OR status = 'processing'
                              OR status = 'paid' OR status = 'settled' OR status = 'failed' OR status = 'expired'
                              OR status = 'cancelled'),
    customer_id        TEXT    NOT NULL,
    customer_email     TEXT    NOT NULL COLLATE NOCASE,
    country            TEXT    NOT NULL,
    amount_minor       INTEGER NOT NULL CHECK (amount_minor > 0),
    currency           TEXT    NOT NULL,
    website_reference  TEXT    NOT NULL DEFAULT '',
    note               TEXT    NOT NULL DEFAULT '',
    custom_fields      TEXT    NOT NULL DEFAULT '{}', -- JSON object of strings
    kyc                TEXT    NOT NULL DEFAULT '{}', -- JSON object of strings
    success_url        TEXT    NOT NULL,
    support_url        TEXT    NOT NULL,
    exit_url           TEXT    NOT NULL,
    error_url          TEXT    NOT NULL,
    sm_reference       TEXT,                      -- StableMint's session reference
    checkout_url       TEXT,
    expires_at         INTEGER,
    sm_session_id      TEXT,                      -- from webhooks
    deposit_reference  TEXT,                      -- from webhooks (DEP…)
    last_error         TEXT    NOT NULL DEFAULT '',
    attempts           INTEGER NOT NULL DEFAULT 0,
    paid_after_expiry  INTEGER NOT NULL DEFAULT 0,
    needs_review       INTEGER NOT NULL DEFAULT 0, -- amount or currency differed in an event
    reissue_of         INTEGER REFERENCES links(id),
    created_by         INTEGER NOT NULL REFERENCES users(id),
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    amount_text        TEXT    NOT NULL DEFAULT '',
    paid_at            INTEGER,
    held_checkout_url  TEXT,
    held_checkout_host TEXT,
    cancelled_at       INTEGER,
    cancelled_by       INTEGER REFERENCES users(id),
    cancel_reason      TEXT    NOT NULL DEFAULT '',  -- as staff gave it: a reason's words, or their own text
    paid_after_cancel  INTEGER NOT NULL DEFAULT 0,
    settled_at         INTEGER
) STRICT;

INSERT INTO links_new (id, idempotency_key, form_token, status, customer_id, customer_email, country, amount_minor,
    currency, website_reference, note, custom_fields, kyc, success_url, support_url, exit_url, error_url,
    sm_reference, checkout_url, expires_at, sm_session_id, deposit_reference, last_error, attempts,
    paid_after_expiry, needs_review, reissue_of, created_by, created_at, updated_at, amount_text, paid_at,
    held_checkout_url, held_checkout_host, settled_at)
SELECT id, idempotency_key, form_token, status, customer_id, customer_email, country, amount_minor,
    currency, website_reference, note, custom_fields, kyc, success_url, support_url, exit_url, error_url,
    sm_reference, checkout_url, expires_at, sm_session_id, deposit_reference, last_error, attempts,
    paid_after_expiry, needs_review, reissue_of, created_by, created_at, updated_at, amount_text, paid_at,
    held_checkout_url, held_checkout_host, CASE WHEN status = 'settled' THEN updated_at END
FROM links;

DROP TABLE links;
ALTER TABLE links_new RENAME TO links;

CREATE INDEX links_amount ON links(amount_minor, id);
CREATE INDEX links_created ON links(created_at DESC, id DESC);
CREATE INDEX links_created_by ON links(created_by, id);
CREATE INDEX links_creating ON links(status, updated_at) WHERE status = 'creating';
CREATE INDEX links_currency ON links(currency, id);
CREATE INDEX links_customer ON links(customer_id, website_reference, amount_minor);
CREATE INDEX links_deposit_reference ON links(deposit_reference) WHERE deposit_reference IS NOT NULL;
CREATE INDEX links_email ON links(customer_email);
CREATE INDEX links_expires ON links(expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX links_finished ON links(updated_at) WHERE status IN ('failed', 'expired');
CREATE INDEX links_held_checkout_host ON links(held_checkout_host) WHERE held_checkout_host IS NOT NULL;
CREATE INDEX links_needs_review ON links(id) WHERE needs_review = 1;
CREATE INDEX links_open_expires ON links(expires_at) WHERE status = 'open';
CREATE INDEX links_paid_after_expiry ON links(id) WHERE paid_after_expiry = 1;
CREATE INDEX links_paid_after_cancel ON links(id) WHERE paid_after_cancel = 1;
CREATE INDEX links_paid_at ON links(paid_at) WHERE paid_at IS NOT NULL;
CREATE INDEX links_reissue_of ON links(reissue_of) WHERE reissue_of IS NOT NULL;
CREATE INDEX links_session_id ON links(sm_session_id) WHERE sm_session_id IS NOT NULL;
CREATE UNIQUE INDEX links_sm_reference ON links(sm_reference) WHERE sm_reference IS NOT NULL;
CREATE INDEX links_status ON links(status, created_at DESC);
CREATE INDEX links_website_reference ON links(website_reference COLLATE NOCASE);

CREATE TRIGGER links_fts_delete AFTER DELETE ON links BEGIN
    INSERT INTO links_fts (links_fts, rowid, customer_email, customer_id, website_reference, note)
    VALUES ('delete', OLD.id, OLD.customer_email, OLD.customer_id, OLD.website_reference, OLD.note);
END;

CREATE TRIGGER links_fts_insert AFTER INSERT ON links BEGIN
    INSERT INTO links_fts (rowid, customer_email, customer_id, website_reference, note)
    VALUES (NEW.id, NEW.customer_email, NEW.customer_id, NEW.website_reference, NEW.note);
END;

CREATE TRIGGER links_fts_update AFTER UPDATE OF customer_email, customer_id, website_reference, note ON links BEGIN
    INSERT INTO links_fts (links_fts, rowid, customer_email, customer_id, website_reference, note)
    VALUES ('delete', OLD.id, OLD.customer_email, OLD.customer_id, OLD.website_reference, OLD.note);
    INSERT INTO links_fts (rowid, customer_email, customer_id, website_reference, note)
    VALUES (NEW.id, NEW.customer_email, NEW.customer_id, NEW.website_reference, NEW.note);
END;

CREATE TRIGGER links_keys_insert AFTER INSERT ON links BEGIN
    INSERT INTO link_keys (key, link_id, kind)
    SELECT v, NEW.id, k FROM (
        SELECT NEW.idempotency_key AS v, 'idempotency' AS k
        UNION ALL SELECT NEW.customer_id, 'customer'
        UNION ALL SELECT NEW.customer_email, 'email'
        UNION ALL SELECT NEW.website_reference, 'website'
        UNION ALL SELECT NEW.sm_reference, 'reference'
        UNION ALL SELECT NEW.sm_session_id, 'session'
        UNION ALL SELECT NEW.deposit_reference, 'deposit'
        UNION ALL SELECT NEW.amount_text, 'amount'
    ) WHERE v IS NOT NULL AND v <> '';
END;

CREATE TRIGGER links_keys_update AFTER UPDATE OF idempotency_key, customer_id, customer_email, website_reference,
    sm_reference, sm_session_id, deposit_reference, amount_text ON links BEGIN
    DELETE FROM link_keys WHERE link_id = NEW.id;
    INSERT INTO link_keys (key, link_id, kind)
    SELECT v, NEW.id, k FROM (
        SELECT NEW.idempotency_key AS v, 'idempotency' AS k
        UNION ALL SELECT NEW.customer_id, 'customer'
        UNION ALL SELECT NEW.customer_email, 'email'
        UNION ALL SELECT NEW.website_reference, 'website'
        UNION ALL SELECT NEW.sm_reference, 'reference'
        UNION ALL SELECT NEW.sm_session_id, 'session'
        UNION ALL SELECT NEW.deposit_reference, 'deposit'
        UNION ALL SELECT NEW.amount_text, 'amount'
    ) WHERE v IS NOT NULL AND v <> '';
END;

CREATE TRIGGER links_paid_at AFTER UPDATE OF status ON links
WHEN NEW.status IN ('paid', 'settled') AND NEW.paid_at IS NULL
BEGIN
    UPDATE links SET paid_at = NEW.updated_at WHERE id = NEW.id;
END;

CREATE TRIGGER links_settled_at AFTER UPDATE OF status ON links
WHEN NEW.status = 'settled' AND NEW.settled_at IS NULL
BEGIN
    UPDATE links SET settled_at = NEW.updated_at WHERE id = NEW.id;
END;
