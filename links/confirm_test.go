package links_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/links"
	"github.com/paylinks/paylinks/migrations"
	"github.com/paylinks/paylinks/paylink"
)

// planBatch is importBatch's first transaction alone: the batch and its
// rows committed, no link made, as a confirmation a crash stopped right
// after it. It returns each row's planned idempotency key by line.
func planBatch(t *testing.T, m *minting, n int, token string) (int64, map[int]string) {
	t.Helper()
	nb := db.NewImportBatch{UploadToken: token, FileName: "month-end.csv", FileHash: "h-" + token,
		Headers: []string{"userId"}, Mapping: []string{"userId"}, CreatedBy: m.user}
	keys := map[int]string{}
	for i := range n {
		d := draft(fmt.Sprintf("INV-%s-%d", token, i))
		d.FormToken = ""
		req, errs := d.Validate(m.minter.Limits(db.Settings{}, "EUR"), time.Now())
		if len(errs) > 0 {
			t.Fatalf("draft refused: %v", errs)
		}
		nl := links.NewLink(d, req, m.user)
		keys[i+2] = nl.IdempotencyKey
		nb.Rows = append(nb.Rows, db.NewImportRow{Line: i + 2, Cells: []string{d.Fields["userId"]}, Link: &nl})
	}
	id, created, err := m.st.PlanImportBatch(context.Background(), nb, db.AuditEntry{Action: "import.create", ActorID: m.user})
	if err != nil || !created {
		t.Fatalf("PlanImportBatch: %v created=%v", err, created)
	}
	return id, keys
}

// TestConfirmInterruptedBetweenChunksResumesAfterARestart: a 600-row
// confirmation stopped after its first chunk of links (the process died)
// shows its other rows waiting; after a restart on the same file the
// import job makes the rest and mints every row, each row with exactly
// one link, the key it was given at confirmation, and one StableMint
// session.
func TestConfirmInterruptedBetweenChunksResumesAfterARestart(t *testing.T) {
	m := newMinting(t)
	ctx := context.Background()
	id, keys := planBatch(t, m, 600, "cr")
	if n, err := m.st.MakeImportLinks(ctx, db.ImportChunk); err != nil || n != db.ImportChunk {
		t.Fatalf("first chunk: %d rows, err %v", n, err)
	}
	b, err := m.st.ImportBatchByID(ctx, id)
	if err != nil || b.Counts.Queued != 600 || b.Counts.Skipped != 0 {
		t.Fatalf("after one chunk: %+v (err %v), want 600 queued, none skipped", b.Counts, err)
	}
	// The restart: the store opened again on the same file, a new job.
	path := m.st.Path()
	if err := m.st.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := db.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(ctx, migrations.FS); err != nil {
		t.Fatal(err)
	}
	m.st = st
	m.minter = links.NewMinter(st, m.client, nil, nil)
	if err := bm(m).Start(ctx); err != nil {
		t.Fatal(err)
	}
	rows, err := st.ImportRows(ctx, id)
	if err != nil || len(rows) != 600 {
		t.Fatalf("%d rows (err %v)", len(rows), err)
	}
	sessions := sessionsByKey(m)
	seen := map[int64]bool{}
	for _, r := range rows {
		l, err := st.LinkByID(ctx, r.LinkID)
		if err != nil {
			t.Fatalf("row %d: link %d: %v", r.Line, r.LinkID, err)
		}
		if seen[l.ID] || l.IdempotencyKey != keys[r.Line] || l.Status != paylink.StatusOpen || sessions[l.IdempotencyKey] != 1 {
			t.Errorf("row %d: link %d %s, key %s (planned %s), %d sessions; want its own open link with 1 session",
				r.Line, l.ID, l.Status, l.IdempotencyKey, keys[r.Line], sessions[l.IdempotencyKey])
		}
		seen[l.ID] = true
	}
	if n, _ := st.CountLinks(ctx); n != 600 || len(m.sb.Sessions()) != 600 {
		t.Errorf("%d links and %d sessions, want 600 each", n, len(m.sb.Sessions()))
	}
}

// TestCancelWhileConfirmingMakesNoMoreLinks: Cancel the rest pressed
// while a confirmation is still making links: the rows not made yet make
// none, each saying so, and nothing is sent.
func TestCancelWhileConfirmingMakesNoMoreLinks(t *testing.T) {
	m := newMinting(t)
	ctx := context.Background()
	id, _ := planBatch(t, m, 300, "cc")
	if _, err := m.st.MakeImportLinks(ctx, 100); err != nil {
		t.Fatal(err)
	}
	n, err := links.CancelImportRest(ctx, m.st, id, m.user, db.AuditEntry{Action: "import.cancel", ActorID: m.user})
	if err != nil || n != 100 {
		t.Fatalf("cancelled %d (err %v), want the 100 links made", n, err)
	}
	if err := bm(m).Start(ctx); err != nil {
		t.Fatal(err)
	}
	b, _ := m.st.ImportBatchByID(ctx, id)
	if b.Counts.Cancelled != 100 || b.Counts.Skipped != 200 || b.Counts.Queued != 0 || len(m.sb.Sessions()) != 0 {
		t.Errorf("counts %+v, %d sessions; want 100 cancelled, 200 skipped, none sent", b.Counts, len(m.sb.Sessions()))
	}
	rows, _ := m.st.ImportRows(ctx, id)
	if r := rows[len(rows)-1]; r.LinkID != 0 || r.Skipped != "Not created: the import was cancelled before this row's link was made." {
		t.Errorf("last row: link %d, %q", r.LinkID, r.Skipped)
	}
}
