-- links_attention holds the links someone must act on, in the list's
-- order: the Needs attention tab (db.LinkQuery.NeedsAttention) and its
-- count. The condition is the filter's own text (db/search.go, filters),
-- so SQLite sees the filter implies the index's WHERE. Without it the tab
-- walked every link in created order testing four columns, and its count
-- (up to the 10,000 cap) read 170,000 links at 1,000,000
-- (docs/performance.md).
CREATE INDEX links_attention ON links(created_at, id)
    WHERE status = 'error' OR needs_review = 1 OR paid_after_expiry = 1 OR paid_after_cancel = 1;
