-- The dashboard's figures, kept as links change instead of worked out from
-- the links on every view (docs/architecture.md, "The dashboard's figures").
--
-- figures_daily: per UTC day (a timestamp in ms / 86400000) and currency,
-- what the dashboard's period tables and chart add up:
--   created    links created that day (created_at);
--   paid       links whose paid_at falls on that day, whatever their
--              status now (paid_at is set once, by links_paid_at);
--   settled    of those, the ones now settled: attributed to the paid day;
--   failed, expired, cancelled
--              links now in that status, on the day of their last change
--              (updated_at), as the dashboard always counted them.
-- Each with the links' amount in minor units; currencies never mix.
--
-- figures_status: per status and currency, how many links are in it now
-- and their amount: outstanding (open + processing) and links in error.
--
-- The triggers below keep both in the transaction that changes a link:
-- each takes the old row's contribution away and adds the new row's
-- (an UPSERT per side), and each fires only on the columns its figures
-- read, with a WHEN that skips changes that move no figure. Rows left at
-- zero stay; readers skip them. db.Store.RebuildFigures rebuilds both
-- from the links, db.Store.CheckFigures compares them
-- (`paylinks figures rebuild|check`).
CREATE TABLE figures_daily (
    day              INTEGER NOT NULL,
    currency         TEXT    NOT NULL,
    created          INTEGER NOT NULL DEFAULT 0,
    created_minor    INTEGER NOT NULL DEFAULT 0,
    paid             INTEGER NOT NULL DEFAULT 0,
    paid_minor       INTEGER NOT NULL DEFAULT 0,
    settled          INTEGER NOT NULL DEFAULT 0,
    settled_minor    INTEGER NOT NULL DEFAULT 0,
    failed           INTEGER NOT NULL DEFAULT 0,
    failed_minor     INTEGER NOT NULL DEFAULT 0,
    expired          INTEGER NOT NULL DEFAULT 0,
    expired_minor    INTEGER NOT NULL DEFAULT 0,
    cancelled        INTEGER NOT NULL DEFAULT 0,
    cancelled_minor  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, currency)
) STRICT, WITHOUT ROWID;

CREATE TABLE figures_status (
    status        TEXT    NOT NULL,
    currency      TEXT    NOT NULL,
    links         INTEGER NOT NULL DEFAULT 0,
    amount_minor  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (status, currency)
) STRICT, WITHOUT ROWID;

-- A link's created figure.
CREATE TRIGGER figures_created_insert AFTER INSERT ON links BEGIN
    INSERT INTO figures_daily (day, currency, created, created_minor)
    VALUES (NEW.created_at / 86400000, NEW.currency, 1, NEW.amount_minor)
    ON CONFLICT (day, currency) DO UPDATE SET created = created + excluded.created,
        created_minor = created_minor + excluded.created_minor;
END;

CREATE TRIGGER figures_created_update AFTER UPDATE OF created_at, currency, amount_minor ON links
WHEN OLD.created_at / 86400000 <> NEW.created_at / 86400000 OR OLD.currency <> NEW.currency
    OR OLD.amount_minor <> NEW.amount_minor
BEGIN
    INSERT INTO figures_daily (day, currency, created, created_minor)
    VALUES (OLD.created_at / 86400000, OLD.currency, -1, -OLD.amount_minor)
    ON CONFLICT (day, currency) DO UPDATE SET created = created + excluded.created,
        created_minor = created_minor + excluded.created_minor;
    INSERT INTO figures_daily (day, currency, created, created_minor)
    VALUES (NEW.created_at / 86400000, NEW.currency, 1, NEW.amount_minor)
    ON CONFLICT (day, currency) DO UPDATE SET created = created + excluded.created,
        created_minor = created_minor + excluded.created_minor;
END;

-- A link's paid and settled figures, on its paid day. The status change
-- to paid and the setting of paid_at are two UPDATEs (links_paid_at): each
-- moves the figures by its own old and new row, so their order is moot.
CREATE TRIGGER figures_paid_insert AFTER INSERT ON links WHEN NEW.paid_at IS NOT NULL BEGIN
    INSERT INTO figures_daily (day, currency, paid, paid_minor, settled, settled_minor)
    VALUES (NEW.paid_at / 86400000, NEW.currency, 1, NEW.amount_minor,
        NEW.status = 'settled', (NEW.status = 'settled') * NEW.amount_minor)
    ON CONFLICT (day, currency) DO UPDATE SET paid = paid + excluded.paid, paid_minor = paid_minor + excluded.paid_minor,
        settled = settled + excluded.settled, settled_minor = settled_minor + excluded.settled_minor;
END;

CREATE TRIGGER figures_paid_update AFTER UPDATE OF paid_at, status, currency, amount_minor ON links
WHEN (OLD.paid_at IS NOT NULL OR NEW.paid_at IS NOT NULL)
    AND (OLD.paid_at / 86400000 IS NOT NEW.paid_at / 86400000 OR (OLD.status = 'settled') <> (NEW.status = 'settled')
        OR OLD.currency <> NEW.currency OR OLD.amount_minor <> NEW.amount_minor)
BEGIN
    INSERT INTO figures_daily (day, currency, paid, paid_minor, settled, settled_minor)
    SELECT OLD.paid_at / 86400000, OLD.currency, -1, -OLD.amount_minor,
        -(OLD.status = 'settled'), -(OLD.status = 'settled') * OLD.amount_minor
    WHERE OLD.paid_at IS NOT NULL
    ON CONFLICT (day, currency) DO UPDATE SET paid = paid + excluded.paid, paid_minor = paid_minor + excluded.paid_minor,
        settled = settled + excluded.settled, settled_minor = settled_minor + excluded.settled_minor;
    INSERT INTO figures_daily (day, currency, paid, paid_minor, settled, settled_minor)
    SELECT NEW.paid_at / 86400000, NEW.currency, 1, NEW.amount_minor,
        NEW.status = 'settled', (NEW.status = 'settled') * NEW.amount_minor
    WHERE NEW.paid_at IS NOT NULL
    ON CONFLICT (day, currency) DO UPDATE SET paid = paid + excluded.paid, paid_minor = paid_minor + excluded.paid_minor,
        settled = settled + excluded.settled, settled_minor = settled_minor + excluded.settled_minor;
END;

-- A link's failed, expired or cancelled figure, on the day of its last
-- change: a later change (an event naming a session) moves it.
CREATE TRIGGER figures_ended_insert AFTER INSERT ON links
WHEN NEW.status = 'failed' OR NEW.status = 'expired' OR NEW.status = 'cancelled'
BEGIN
    INSERT INTO figures_daily (day, currency, failed, failed_minor, expired, expired_minor, cancelled, cancelled_minor)
    VALUES (NEW.updated_at / 86400000, NEW.currency,
        NEW.status = 'failed', (NEW.status = 'failed') * NEW.amount_minor,
        NEW.status = 'expired', (NEW.status = 'expired') * NEW.amount_minor,
        NEW.status = 'cancelled', (NEW.status = 'cancelled') * NEW.amount_minor)
    ON CONFLICT (day, currency) DO UPDATE SET failed = failed + excluded.failed, failed_minor = failed_minor + excluded.failed_minor,
        expired = expired + excluded.expired, expired_minor = expired_minor + excluded.expired_minor,
        cancelled = cancelled + excluded.cancelled, cancelled_minor = cancelled_minor + excluded.cancelled_minor;
END;

CREATE TRIGGER figures_ended_update AFTER UPDATE OF status, updated_at, currency, amount_minor ON links
WHEN (OLD.status = 'failed' OR OLD.status = 'expired' OR OLD.status = 'cancelled'
        OR NEW.status = 'failed' OR NEW.status = 'expired' OR NEW.status = 'cancelled')
    AND (OLD.status <> NEW.status OR OLD.updated_at / 86400000 <> NEW.updated_at / 86400000
        OR OLD.currency <> NEW.currency OR OLD.amount_minor <> NEW.amount_minor)
BEGIN
    INSERT INTO figures_daily (day, currency, failed, failed_minor, expired, expired_minor, cancelled, cancelled_minor)
    SELECT OLD.updated_at / 86400000, OLD.currency,
        -(OLD.status = 'failed'), -(OLD.status = 'failed') * OLD.amount_minor,
        -(OLD.status = 'expired'), -(OLD.status = 'expired') * OLD.amount_minor,
        -(OLD.status = 'cancelled'), -(OLD.status = 'cancelled') * OLD.amount_minor
    WHERE OLD.status = 'failed' OR OLD.status = 'expired' OR OLD.status = 'cancelled'
    ON CONFLICT (day, currency) DO UPDATE SET failed = failed + excluded.failed, failed_minor = failed_minor + excluded.failed_minor,
        expired = expired + excluded.expired, expired_minor = expired_minor + excluded.expired_minor,
        cancelled = cancelled + excluded.cancelled, cancelled_minor = cancelled_minor + excluded.cancelled_minor;
    INSERT INTO figures_daily (day, currency, failed, failed_minor, expired, expired_minor, cancelled, cancelled_minor)
    SELECT NEW.updated_at / 86400000, NEW.currency,
        NEW.status = 'failed', (NEW.status = 'failed') * NEW.amount_minor,
        NEW.status = 'expired', (NEW.status = 'expired') * NEW.amount_minor,
        NEW.status = 'cancelled', (NEW.status = 'cancelled') * NEW.amount_minor
    WHERE NEW.status = 'failed' OR NEW.status = 'expired' OR NEW.status = 'cancelled'
    ON CONFLICT (day, currency) DO UPDATE SET failed = failed + excluded.failed, failed_minor = failed_minor + excluded.failed_minor,
        expired = expired + excluded.expired, expired_minor = expired_minor + excluded.expired_minor,
        cancelled = cancelled + excluded.cancelled, cancelled_minor = cancelled_minor + excluded.cancelled_minor;
END;

-- Links per status and currency, now.
CREATE TRIGGER figures_status_insert AFTER INSERT ON links BEGIN
    INSERT INTO figures_status (status, currency, links, amount_minor) VALUES (NEW.status, NEW.currency, 1, NEW.amount_minor)
    ON CONFLICT (status, currency) DO UPDATE SET links = links + excluded.links, amount_minor = amount_minor + excluded.amount_minor;
END;

CREATE TRIGGER figures_status_update AFTER UPDATE OF status, currency, amount_minor ON links
WHEN OLD.status <> NEW.status OR OLD.currency <> NEW.currency OR OLD.amount_minor <> NEW.amount_minor
BEGIN
    INSERT INTO figures_status (status, currency, links, amount_minor) VALUES (OLD.status, OLD.currency, -1, -OLD.amount_minor)
    ON CONFLICT (status, currency) DO UPDATE SET links = links + excluded.links, amount_minor = amount_minor + excluded.amount_minor;
    INSERT INTO figures_status (status, currency, links, amount_minor) VALUES (NEW.status, NEW.currency, 1, NEW.amount_minor)
    ON CONFLICT (status, currency) DO UPDATE SET links = links + excluded.links, amount_minor = amount_minor + excluded.amount_minor;
END;

-- Links are not deleted today; if one ever is, its figures go with it.
CREATE TRIGGER figures_delete AFTER DELETE ON links BEGIN
    INSERT INTO figures_daily (day, currency, created, created_minor)
    VALUES (OLD.created_at / 86400000, OLD.currency, -1, -OLD.amount_minor)
    ON CONFLICT (day, currency) DO UPDATE SET created = created + excluded.created,
        created_minor = created_minor + excluded.created_minor;
    INSERT INTO figures_daily (day, currency, paid, paid_minor, settled, settled_minor)
    SELECT OLD.paid_at / 86400000, OLD.currency, -1, -OLD.amount_minor,
        -(OLD.status = 'settled'), -(OLD.status = 'settled') * OLD.amount_minor
    WHERE OLD.paid_at IS NOT NULL
    ON CONFLICT (day, currency) DO UPDATE SET paid = paid + excluded.paid, paid_minor = paid_minor + excluded.paid_minor,
        settled = settled + excluded.settled, settled_minor = settled_minor + excluded.settled_minor;
    INSERT INTO figures_daily (day, currency, failed, failed_minor, expired, expired_minor, cancelled, cancelled_minor)
    SELECT OLD.updated_at / 86400000, OLD.currency,
        -(OLD.status = 'failed'), -(OLD.status = 'failed') * OLD.amount_minor,
        -(OLD.status = 'expired'), -(OLD.status = 'expired') * OLD.amount_minor,
        -(OLD.status = 'cancelled'), -(OLD.status = 'cancelled') * OLD.amount_minor
    WHERE OLD.status = 'failed' OR OLD.status = 'expired' OR OLD.status = 'cancelled'
    ON CONFLICT (day, currency) DO UPDATE SET failed = failed + excluded.failed, failed_minor = failed_minor + excluded.failed_minor,
        expired = expired + excluded.expired, expired_minor = expired_minor + excluded.expired_minor,
        cancelled = cancelled + excluded.cancelled, cancelled_minor = cancelled_minor + excluded.cancelled_minor;
    INSERT INTO figures_status (status, currency, links, amount_minor) VALUES (OLD.status, OLD.currency, -1, -OLD.amount_minor)
    ON CONFLICT (status, currency) DO UPDATE SET links = links + excluded.links, amount_minor = amount_minor + excluded.amount_minor;
END;

-- The backfill: the same figures from the links as they are, in one pass
-- over the links table (about 2 s a million links) into a small grouping by
-- created day, paid day, ended day, currency and status, which both tables
-- are then summed from.
CREATE TEMP TABLE figures_backfill AS
SELECT created_at / 86400000 AS created_day, paid_at / 86400000 AS paid_day,
    CASE WHEN status = 'failed' OR status = 'expired' OR status = 'cancelled' THEN updated_at / 86400000 END AS ended_day,
    currency, status, count(*) AS n, sum(amount_minor) AS minor
FROM links GROUP BY 1, 2, 3, 4, 5;

INSERT INTO figures_daily (day, currency, created, created_minor, paid, paid_minor, settled, settled_minor,
    failed, failed_minor, expired, expired_minor, cancelled, cancelled_minor)
SELECT day, currency, sum(created), sum(created_minor), sum(paid), sum(paid_minor), sum(settled), sum(settled_minor),
    sum(failed), sum(failed_minor), sum(expired), sum(expired_minor), sum(cancelled), sum(cancelled_minor)
FROM (
    SELECT created_day AS day, currency, n AS created, minor AS created_minor, 0 AS paid, 0 AS paid_minor,
        0 AS settled, 0 AS settled_minor, 0 AS failed, 0 AS failed_minor, 0 AS expired, 0 AS expired_minor,
        0 AS cancelled, 0 AS cancelled_minor
    FROM temp.figures_backfill
    UNION ALL
    SELECT paid_day, currency, 0, 0, n, minor, (status = 'settled') * n, (status = 'settled') * minor, 0, 0, 0, 0, 0, 0
    FROM temp.figures_backfill WHERE paid_day IS NOT NULL
    UNION ALL
    SELECT ended_day, currency, 0, 0, 0, 0, 0, 0, (status = 'failed') * n, (status = 'failed') * minor,
        (status = 'expired') * n, (status = 'expired') * minor, (status = 'cancelled') * n, (status = 'cancelled') * minor
    FROM temp.figures_backfill WHERE ended_day IS NOT NULL
) GROUP BY day, currency;

INSERT INTO figures_status (status, currency, links, amount_minor)
SELECT status, currency, sum(n), sum(minor) FROM temp.figures_backfill GROUP BY status, currency;

DROP TABLE temp.figures_backfill;
