-- Search. link_keys holds every value staff look a link up by, exactly or by
-- prefix, in one NOCASE-indexed column: one index probe finds a reference of
-- any kind. links_fts indexes the free-text columns for substring search
-- (trigram). Triggers keep both in step, and fire only when a searched
-- column changes, so a status update does not touch the index.
CREATE TABLE link_keys (
    key      TEXT    NOT NULL COLLATE NOCASE,
    link_id  INTEGER NOT NULL REFERENCES links(id) ON DELETE CASCADE,
    kind     TEXT    NOT NULL   -- reference, session, deposit, website, idempotency, customer, email, amount
) STRICT;
CREATE INDEX link_keys_key ON link_keys(key, kind, link_id);
CREATE INDEX link_keys_link ON link_keys(link_id);

-- amount_text is the amount in major units as the currency writes it
-- (1250 minor EUR -> "12.50"), kept by the application on insert.
ALTER TABLE links ADD COLUMN amount_text TEXT NOT NULL DEFAULT '';

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

CREATE VIRTUAL TABLE links_fts USING fts5(
    customer_email, customer_id, website_reference, note,
    content = 'links', content_rowid = 'id', tokenize = 'trigram'
);

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

CREATE TRIGGER links_fts_delete AFTER DELETE ON links BEGIN
    INSERT INTO links_fts (links_fts, rowid, customer_email, customer_id, website_reference, note)
    VALUES ('delete', OLD.id, OLD.customer_email, OLD.customer_id, OLD.website_reference, OLD.note);
END;

-- Filters and sorts.
CREATE INDEX links_currency ON links(currency, id);
CREATE INDEX links_amount ON links(amount_minor, id);
CREATE INDEX links_expires ON links(expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX links_created_by ON links(created_by, id);
