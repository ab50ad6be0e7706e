-- Bulk import of links from a spreadsheet (docs/architecture.md, walk 3).
--
-- import_uploads holds a file between its upload and its confirmation
-- (the preview and the re-mapping read it again); it is deleted once its
-- batch is made. import_mappings remembers a mapping per header layout.
-- import_batches is one confirmed file; import_rows each of its rows, with
-- the link it made (none for a skipped row). A batch's links are minted by
-- the import job, not by the recovery job (db.LinksCreating leaves out
-- links with an import row).
CREATE TABLE import_uploads (
    id          INTEGER PRIMARY KEY,
    token       TEXT    NOT NULL UNIQUE,   -- random, in the preview's URL
    user_id     INTEGER NOT NULL REFERENCES users(id),
    file_name   TEXT    NOT NULL,
    file_hash   TEXT    NOT NULL,          -- SHA-256 of the bytes
    data        BLOB    NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE import_mappings (
    header_hash TEXT    PRIMARY KEY,       -- importer.HeaderHash
    mapping     TEXT    NOT NULL,          -- JSON array: the field of each column, '' for none
    updated_by  INTEGER REFERENCES users(id),
    updated_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE import_batches (
    id           INTEGER PRIMARY KEY,
    upload_token TEXT    NOT NULL UNIQUE,  -- a second confirmation of one upload finds this batch
    file_name    TEXT    NOT NULL,
    file_hash    TEXT    NOT NULL,
    headers      TEXT    NOT NULL,         -- JSON array of the file's headers
    mapping      TEXT    NOT NULL,         -- JSON array, as import_mappings
    row_count    INTEGER NOT NULL,
    state        TEXT    NOT NULL DEFAULT 'running'
                 CHECK (state = 'running' OR state = 'paused' OR state = 'cancelled'),
    created_by   INTEGER NOT NULL REFERENCES users(id),
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX import_batches_file_hash ON import_batches(file_hash);

CREATE TABLE import_rows (
    batch_id    INTEGER NOT NULL REFERENCES import_batches(id),
    line        INTEGER NOT NULL,          -- the row's number in the spreadsheet (the header is 1)
    cells       TEXT    NOT NULL,          -- JSON array of the row's cells as read
    link_id     INTEGER REFERENCES links(id),
    email       INTEGER NOT NULL DEFAULT 0, -- email the customer once the link is open
    skipped     TEXT    NOT NULL DEFAULT '', -- why no link was made (staff skipped a duplicate)
    PRIMARY KEY (batch_id, line)
) STRICT, WITHOUT ROWID;
CREATE UNIQUE INDEX import_rows_link ON import_rows(link_id) WHERE link_id IS NOT NULL;
