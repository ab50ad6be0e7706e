-- Saved views of the links list (docs/guide.md, "Saved views"): a name
-- for a search with its filters, sort and tab, kept as the list's query
-- string. Each belongs to the person who saved it; an admin may share one
-- with the team (shown to everyone, marked Shared). Deleting a user is
-- not possible (they are disabled), so owner_id always names someone.
CREATE TABLE saved_views (
    id         INTEGER PRIMARY KEY,
    owner_id   INTEGER NOT NULL REFERENCES users(id),
    name       TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 60),
    query      TEXT NOT NULL CHECK (length(query) <= 2000),
    shared     INTEGER NOT NULL DEFAULT 0 CHECK (shared = 0 OR shared = 1),
    created_at INTEGER NOT NULL
);
CREATE INDEX saved_views_owner ON saved_views(owner_id);
CREATE INDEX saved_views_shared ON saved_views(shared) WHERE shared = 1;
