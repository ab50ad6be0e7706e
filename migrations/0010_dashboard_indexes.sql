-- The dashboard on a big table: links that failed or expired by their last
-- change, and the two flags it lists, each found by a small index instead
-- of a scan of every link.
CREATE INDEX links_finished ON links(updated_at) WHERE status IN ('failed', 'expired');
CREATE INDEX links_paid_after_expiry ON links(id) WHERE paid_after_expiry = 1;
CREATE INDEX links_needs_review ON links(id) WHERE needs_review = 1;
