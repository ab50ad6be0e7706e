-- The dashboard's median time to pay, kept like the other figures
-- (migrations/0017_figures.sql; docs/architecture.md, "The dashboard's
-- figures"): a histogram of how long links took from created to paid.
--
-- figures_pay_time: per UTC paid day (paid_at in ms / 86400000), currency
-- and bucket, how many links were paid that day whose time to pay
-- (paid_at - created_at) falls in the bucket. Buckets are log-spaced, four
-- to each doubling: bucket b holds times from 2^(b/4) s up to
-- 2^((b+1)/4) s (a bucket is 19 % wide, so its geometric middle is within
-- 9.1 % of any time in it); times under a second are bucket 0.
-- db.PayTimeBucket and db.Store.PayTimes read it the same way.
--
-- The triggers add a link when paid_at is set and move it when paid_at,
-- created_at or the currency changes; a deleted link goes with its
-- figure. db.Store.RebuildFigures and CheckFigures include this table.
CREATE TABLE figures_pay_time (
    day       INTEGER NOT NULL,
    currency  TEXT    NOT NULL,
    bucket    INTEGER NOT NULL,
    links     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, currency, bucket)
) STRICT, WITHOUT ROWID;

CREATE TRIGGER figures_pay_time_insert AFTER INSERT ON links WHEN NEW.paid_at IS NOT NULL BEGIN
    INSERT INTO figures_pay_time (day, currency, bucket, links)
    VALUES (NEW.paid_at / 86400000, NEW.currency,
        CAST(4 * log2(max(NEW.paid_at - NEW.created_at, 1000) / 1000.0) AS INTEGER), 1)
    ON CONFLICT (day, currency, bucket) DO UPDATE SET links = links + excluded.links;
END;

CREATE TRIGGER figures_pay_time_update AFTER UPDATE OF paid_at, created_at, currency ON links
WHEN (OLD.paid_at IS NOT NULL OR NEW.paid_at IS NOT NULL)
    AND (OLD.paid_at IS NOT NEW.paid_at OR OLD.created_at <> NEW.created_at OR OLD.currency <> NEW.currency)
BEGIN
    INSERT INTO figures_pay_time (day, currency, bucket, links)
    SELECT OLD.paid_at / 86400000, OLD.currency,
        CAST(4 * log2(max(OLD.paid_at - OLD.created_at, 1000) / 1000.0) AS INTEGER), -1
    WHERE OLD.paid_at IS NOT NULL
    ON CONFLICT (day, currency, bucket) DO UPDATE SET links = links + excluded.links;
    INSERT INTO figures_pay_time (day, currency, bucket, links)
    SELECT NEW.paid_at / 86400000, NEW.currency,
        CAST(4 * log2(max(NEW.paid_at - NEW.created_at, 1000) / 1000.0) AS INTEGER), 1
    WHERE NEW.paid_at IS NOT NULL
    ON CONFLICT (day, currency, bucket) DO UPDATE SET links = links + excluded.links;
END;

CREATE TRIGGER figures_pay_time_delete AFTER DELETE ON links WHEN OLD.paid_at IS NOT NULL BEGIN
    INSERT INTO figures_pay_time (day, currency, bucket, links)
    VALUES (OLD.paid_at / 86400000, OLD.currency,
        CAST(4 * log2(max(OLD.paid_at - OLD.created_at, 1000) / 1000.0) AS INTEGER), -1)
    ON CONFLICT (day, currency, bucket) DO UPDATE SET links = links + excluded.links;
END;

-- The backfill: one pass over the links (a full scan: the paid_at index
-- would fetch each paid link's row in index order, a random read each).
INSERT INTO figures_pay_time (day, currency, bucket, links)
SELECT paid_at / 86400000, currency, CAST(4 * log2(max(paid_at - created_at, 1000) / 1000.0) AS INTEGER), count(*)
FROM links NOT INDEXED WHERE paid_at IS NOT NULL
GROUP BY 1, 2, 3;
