-- A confirmed import is committed in chunks (docs/architecture.md, walk 3):
-- first the batch and every row, each row that makes a link holding that
-- link as JSON in `pending` (its idempotency key included, chosen once);
-- then the links, a few hundred rows a transaction, each row's link_id set
-- and its pending cleared in the transaction that inserts its link, so a
-- row makes its link exactly once. A crash between chunks leaves rows
-- pending, and the import job makes them (db.Store.MakeImportLinks).
ALTER TABLE import_rows ADD COLUMN pending TEXT;
CREATE INDEX import_rows_pending ON import_rows(batch_id, line) WHERE pending IS NOT NULL;
