package db

import (
	"context"
	"testing"
	"time"
)

// TestSeedLeavesTheSearchIndexInOneSegment: a seeded index is merged into
// one segment, so a trigram's postings are read in one run. A small FTS5
// hash makes the rebuild flush many segments first, as a million links do.
func TestSeedLeavesTheSearchIndexInOneSegment(t *testing.T) {
	st := OpenTestStore(t)
	ctx := context.Background()
	if _, err := st.write.ExecContext(ctx, "INSERT INTO links_fts (links_fts, rank) VALUES ('hashsize', 4096)"); err != nil {
		t.Fatal(err)
	}
	if err := st.SeedLinks(ctx, 300, 100, testUser(t, st), FakeLinks(time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC), 3), nil); err != nil {
		t.Fatal(err)
	}
	var segments int
	if err := st.read.QueryRowContext(ctx, "SELECT count(DISTINCT segid) FROM links_fts_idx").Scan(&segments); err != nil {
		t.Fatal(err)
	}
	if segments != 1 {
		t.Fatalf("seeded search index in %d segments, want 1", segments)
	}
	if _, err := st.write.ExecContext(ctx, "INSERT INTO links_fts (links_fts, rank) VALUES ('integrity-check', 1)"); err != nil {
		t.Fatalf("integrity-check: %v", err)
	}
}
