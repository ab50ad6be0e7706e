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

