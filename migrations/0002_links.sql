-- Payment links. Amounts are integer minor units of their currency; times
-- are unix milliseconds, UTC.
CREATE TABLE links (
    id                 INTEGER PRIMARY KEY,
    idempotency_key    TEXT    NOT NULL UNIQUE,   -- sent to StableMint; committed before the first call
    form_token         TEXT    UNIQUE,            -- random id of the form submission: a double submit finds this link
    status             TEXT    NOT NULL DEFAULT 'creating'
                       CHECK (status IN ('creating','error','open','processing','paid','settled','failed','expired')),
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
    updated_at         INTEGER NOT NULL
) STRICT;
CREATE INDEX links_created ON links(created_at DESC, id DESC);
CREATE INDEX links_status ON links(status, created_at DESC);
CREATE UNIQUE INDEX links_sm_reference ON links(sm_reference) WHERE sm_reference IS NOT NULL;
CREATE INDEX links_website_reference ON links(website_reference COLLATE NOCASE);
CREATE INDEX links_customer ON links(customer_id, website_reference, amount_minor);
CREATE INDEX links_email ON links(customer_email);
CREATE INDEX links_session_id ON links(sm_session_id) WHERE sm_session_id IS NOT NULL;
CREATE INDEX links_deposit_reference ON links(deposit_reference) WHERE deposit_reference IS NOT NULL;
CREATE INDEX links_reissue_of ON links(reissue_of) WHERE reissue_of IS NOT NULL;
CREATE INDEX links_creating ON links(status, updated_at) WHERE status = 'creating';

-- Everything that happened to a link, in order.
CREATE TABLE link_events (
    id        INTEGER PRIMARY KEY,
    link_id   INTEGER NOT NULL REFERENCES links(id),
    at        INTEGER NOT NULL,
    kind      TEXT    NOT NULL,   -- created, requested, answered, error, retried, status, webhook, email, reissued, expired
    actor_id  INTEGER REFERENCES users(id),
    message   TEXT    NOT NULL DEFAULT '',
    ref_id    INTEGER             -- a webhook event or outbox row, by kind
) STRICT;
CREATE INDEX link_events_link ON link_events(link_id, id);

-- Admin settings, one JSON value per key; changes are audited.
CREATE TABLE settings (
    key         TEXT    PRIMARY KEY,
    value       TEXT    NOT NULL,
    updated_by  INTEGER REFERENCES users(id),
    updated_at  INTEGER NOT NULL
) STRICT;
