-- The merchant's logo (Settings → Brand): its bytes and content type, one
-- row at most. It lives here, not in the settings JSON that every page
-- reads, and is served from /brand/logo with its etag. The handler checks
-- the content (PNG, JPEG, or an SVG without script or external
-- references); the CHECKs are the last line.
CREATE TABLE brand_logo (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    content_type  TEXT    NOT NULL CHECK (content_type IN ('image/png', 'image/jpeg', 'image/svg+xml')),
    data          BLOB    NOT NULL CHECK (length(data) BETWEEN 1 AND 262144),
    etag          TEXT    NOT NULL,
    updated_by    INTEGER REFERENCES users(id),
    updated_at    INTEGER NOT NULL
) STRICT;
