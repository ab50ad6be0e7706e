-- Tamper evidence for the audit log: a hash chain. Every row added from now
-- on carries
--
--     hash = hex(SHA-256(prev_hash || canonical encoding of the row))
--
-- where prev_hash is the hash of the row before it (hex text, as stored) and
-- the encoding covers id, at, actor_id, actor_email, action, target,
-- outcome, ip, request_id and details (db/audit_chain.go). Go computes it in
-- the inserting transaction; the single writer (and BEGIN IMMEDIATE across
-- processes) makes "the row before" well defined.
--
-- Rows written before this migration keep NULL here. They are not left out:
-- the chain's running value passes through them, so the first chained row's
-- prev_hash is a digest of all of them, and `paylinks audit verify` notices
-- an edit there too (naming the first chained row). Start-up adds an
-- "audit.chain.start" row at once, so that digest is fixed straight away.
ALTER TABLE audit_log ADD COLUMN prev_hash TEXT;
ALTER TABLE audit_log ADD COLUMN hash TEXT;

-- No unchained row can be added, by any code path.
CREATE TRIGGER audit_log_chained BEFORE INSERT ON audit_log
WHEN NEW.hash IS NULL OR NEW.prev_hash IS NULL OR length(NEW.hash) <> 64 OR length(NEW.prev_hash) <> 64
BEGIN SELECT RAISE(ABORT, 'audit_log rows must be hash-chained'); END;

-- Filters of /admin/audit (newest first within each).
CREATE INDEX audit_log_action ON audit_log(action, id);
CREATE INDEX audit_log_actor_email ON audit_log(actor_email COLLATE NOCASE, id);
CREATE INDEX audit_log_actor_id ON audit_log(actor_id, id);
