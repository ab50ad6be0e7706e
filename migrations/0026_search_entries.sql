-- Two things the links list reads on every page, made cheap.
--
-- links_search_text is the search's narrow copy of each link: the columns
-- a substring match is checked against (the four that links_fts indexes)
-- and those a page of matches is ordered and most often filtered by. A
-- search reads these entries, under 100 bytes each, instead of the wide
-- links rows (KYC, custom fields, URLs) for every candidate and every
-- match, and reads whole rows only for the page shown (db/search.go,
-- db/search_tiers.go; the figures are in docs/performance.md). Of the
-- usual writes only a status change touches it, and the entry stays in
-- place (id leads).
CREATE INDEX links_search_text ON links(id, created_at, amount_minor, status, currency,
    customer_email, customer_id, website_reference, note);

-- users_version counts the changes to the accounts ListUsers lists (the
-- users table, and which users are API keys'): every list page reads the
-- accounts for its creator filter, and ListUsers keeps them in memory for
-- as long as this count stays (db/users.go). Triggers count every change,
-- whichever process or statement makes it.
CREATE TABLE users_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n  INTEGER NOT NULL
) STRICT;
INSERT INTO users_version (id, n) VALUES (1, 0);
CREATE TRIGGER users_version_insert AFTER INSERT ON users BEGIN UPDATE users_version SET n = n + 1; END;
CREATE TRIGGER users_version_update AFTER UPDATE ON users BEGIN UPDATE users_version SET n = n + 1; END;
CREATE TRIGGER users_version_delete AFTER DELETE ON users BEGIN UPDATE users_version SET n = n + 1; END;
CREATE TRIGGER users_version_key_insert AFTER INSERT ON api_keys BEGIN UPDATE users_version SET n = n + 1; END;
CREATE TRIGGER users_version_key_delete AFTER DELETE ON api_keys BEGIN UPDATE users_version SET n = n + 1; END;
