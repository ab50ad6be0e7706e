package links_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/internal/testkit"
	"github.com/paylinks/paylinks/links"
	"github.com/paylinks/paylinks/paylink"
	"github.com/paylinks/paylinks/stablemint"
)

// importBatch commits a batch of n rows as the import page does: each
// draft validated, then links.NewLink.
func importBatch(t testing.TB, m *minting, n int, token string) int64 {
	t.Helper()
	nb := db.NewImportBatch{UploadToken: token, FileName: "month-end.csv", FileHash: "h-" + token,
		Headers: []string{"userId"}, Mapping: []string{"userId"}, CreatedBy: m.user}
	for i := range n {
		d := draft(fmt.Sprintf("INV-%s-%d", token, i))
		d.FormToken = ""
		req, errs := d.Validate(m.minter.Limits(db.Settings{}, "EUR"), time.Now())
		if len(errs) > 0 {
			t.Fatalf("draft refused: %v", errs)
		}
		nl := links.NewLink(d, req, m.user)
		nb.Rows = append(nb.Rows, db.NewImportRow{Line: i + 2, Cells: []string{d.Fields["userId"]}, Link: &nl})
	}
	id, created, err := m.st.CreateImportBatch(context.Background(), nb, db.AuditEntry{Action: "import.create", ActorID: m.user})
	if err != nil || !created {
		t.Fatalf("CreateImportBatch: %v created=%v", err, created)
	}
	return id
}

func sessionsByKey(m *minting) map[string]int {
	out := map[string]int{}
	for _, s := range m.sb.Sessions() {
		out[s.IdempotencyKey]++
	}
	return out
}

// TestBatchMintsEveryRowOnceAndResumesAfterARestart: a batch's links stay
// creating until the import job sends them; the recovery job leaves them
// alone; a link whose call was made by a process that died (attempt
// counted, session made, answer lost) is finished with its own key by the
// next process; every row ends open with exactly one StableMint session.
func TestBatchMintsEveryRowOnceAndResumesAfterARestart(t *testing.T) {
	m := newMinting(t)
	ctx := context.Background()
	id := importBatch(t, m, 12, "a")
	rows, err := m.st.ImportRows(ctx, id)
	if err != nil || len(rows) != 12 {
		t.Fatalf("rows %d err %v", len(rows), err)
	}
	if n, err := m.minter.Recover(ctx, time.Now().Add(time.Hour)); err != nil || n != 0 {
		t.Fatalf("the recovery job took %d import links (err %v); they are the import job's", n, err)
	}
	if got := len(m.sb.Sessions()); got != 0 {
		t.Fatalf("%d sessions before the job ran", got)
	}
	// The first process: row 2's call reaches StableMint, then it dies.
	first, err := m.st.BeginLinkAttempt(ctx, rows[0].LinkID)
	if err != nil {
		t.Fatal(err)
	}
	amount, _ := stablemint.NewAmount(first.AmountMinor, first.Currency)
	if _, err := m.client.CreateHostedSession(ctx, stablemint.Request{UserID: first.CustomerID, UserEmail: first.CustomerEmail,
		UserCountryCode: first.Country, Currency: first.Currency, Amount: amount, SuccessURL: first.SuccessURL,
		SupportURL: first.SupportURL, ExitURL: first.ExitURL, ErrorURL: first.ErrorURL, IdempotencyKey: first.IdempotencyKey,
		WebsiteReference: first.WebsiteReference, UserKYC: &stablemint.KYC{FullName: "Ada Lovelace"}}); err != nil {
		t.Fatal(err)
	}
	// The next process.
	bm := links.NewBatchMinter(m.minter, m.st, 4, nil, nil)
	if err := bm.Run(ctx); err != nil {
		t.Fatal(err)
	}
	rows, _ = m.st.ImportRows(ctx, id)
	keys := sessionsByKey(m)
	for _, r := range rows {
		l, err := m.st.LinkByID(ctx, r.LinkID)
		if err != nil {
			t.Fatal(err)
		}
		if l.Status != paylink.StatusOpen || l.CheckoutURL == "" {
			t.Errorf("row %d: link %d is %s (%s), want open with a checkout URL", r.Line, l.ID, l.Status, l.LastError)
		}
		if keys[l.IdempotencyKey] != 1 {
			t.Errorf("row %d: %d StableMint sessions for its key, want exactly 1", r.Line, keys[l.IdempotencyKey])
		}
	}
	if len(m.sb.Sessions()) != 12 {
		t.Errorf("%d sessions for 12 rows", len(m.sb.Sessions()))
	}
	b, err := m.st.ImportBatchByID(ctx, id)
	if err != nil || b.Counts.Minted != 12 || b.Counts.Queued != 0 {
		t.Errorf("counts %+v (err %v), want 12 minted", b.Counts, err)
	}
	// Running again sends nothing more.
	if err := bm.Run(ctx); err != nil || len(m.sb.Sessions()) != 12 {
		t.Errorf("a second run: err %v, %d sessions", err, len(m.sb.Sessions()))
	}
}

// TestBatchPauseResumeCancel: a paused batch sends nothing until resumed;
// cancelling the rest cancels the links never sent, and the batch's
// timeline says which import and row made each link.
func TestBatchPauseResumeCancel(t *testing.T) {
	m := newMinting(t)
	ctx := context.Background()
	id := importBatch(t, m, 5, "p")
	bm := links.NewBatchMinter(m.minter, m.st, 2, nil, nil)
	if err := m.st.SetImportState(ctx, id, db.ImportPaused, db.AuditEntry{Action: "import.pause", ActorID: m.user}); err != nil {
		t.Fatal(err)
	}
	if err := bm.Run(ctx); err != nil || len(m.sb.Sessions()) != 0 {
		t.Fatalf("paused: err %v, %d sessions, want none", err, len(m.sb.Sessions()))
	}
	n, err := links.CancelImportRest(ctx, m.st, id, m.user, db.AuditEntry{Action: "import.cancel", ActorID: m.user})
	if err != nil || n != 5 {
		t.Fatalf("cancelled %d (err %v), want 5", n, err)
	}
	if err := m.st.SetImportState(ctx, id, db.ImportRunning, db.AuditEntry{Action: "import.resume"}); err == nil {
		t.Errorf("a cancelled batch resumed")
	}
	if err := bm.Run(ctx); err != nil || len(m.sb.Sessions()) != 0 {
		t.Fatalf("cancelled: err %v, %d sessions, want none", err, len(m.sb.Sessions()))
	}
	rows, _ := m.st.ImportRows(ctx, id)
	tl, err := m.st.LinkTimeline(ctx, rows[1].LinkID)
	if err != nil || len(tl) < 2 || tl[0].Message != "Created by import month-end.csv row 3; waiting its turn to be sent to StableMint." {
		t.Errorf("timeline %+v", tl)
	}
	if rows[1].Status != paylink.StatusCancelled {
		t.Errorf("row 3 is %s, want cancelled", rows[1].Status)
	}

	id2 := importBatch(t, m, 3, "q")
	_ = m.st.SetImportState(ctx, id2, db.ImportPaused, db.AuditEntry{Action: "import.pause"})
	if err := bm.Run(ctx); err != nil || len(m.sb.Sessions()) != 0 {
		t.Fatalf("paused: %d sessions", len(m.sb.Sessions()))
	}
	if err := m.st.SetImportState(ctx, id2, db.ImportRunning, db.AuditEntry{Action: "import.resume"}); err != nil {
		t.Fatal(err)
	}
	if err := bm.Run(ctx); err != nil || len(m.sb.Sessions()) != 3 {
		t.Fatalf("resumed: err %v, %d sessions, want 3", err, len(m.sb.Sessions()))
	}
}

// TestBatchConfirmedTwiceMakesOneBatch: the same upload confirmed twice
// (a double click, two tabs) makes one batch and one link per row.
func TestBatchConfirmedTwiceMakesOneBatch(t *testing.T) {
	m := newMinting(t)
	ctx := context.Background()
	id := importBatch(t, m, 3, "d")
	again, created, err := m.st.CreateImportBatch(ctx, db.NewImportBatch{UploadToken: "d", FileName: "x", CreatedBy: m.user,
		Rows: []db.NewImportRow{{Line: 2, Link: &db.NewLink{}}}}, db.AuditEntry{Action: "import.create"})
	if err != nil || created || again != id {
		t.Fatalf("second confirmation: id %d created %v err %v, want batch %d again", again, created, err, id)
	}
	if n, _ := m.st.CountLinks(ctx); n != 3 {
		t.Errorf("%d links, want 3", n)
	}
}

// TestBatchWaitsWhileStableMintIsUnavailable: a row StableMint answers
// with 503 (after the client's retries) goes back in the queue, not to
// error; the job waits, sends nothing meanwhile, and carries on by itself
// once the wait is over, each row still minted exactly once.
func TestBatchWaitsWhileStableMintIsUnavailable(t *testing.T) {
	m := newMinting(t)
	ctx := context.Background()
	clk := testkit.NewClock(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	minter := links.NewMinter(m.st, m.client, nil, clk.Now)
	id := importBatch(t, m, 4, "u")
	bm := links.NewBatchMinter(minter, m.st, 1, nil, nil)
	m.sb.FailNextCreates(1, http.StatusServiceUnavailable)
	if err := bm.Run(ctx); err != nil {
		t.Fatal(err)
	}
	why, until := bm.Waiting()
	if why == "" || !until.After(clk.Now()) {
		t.Fatalf("not waiting after a 503: %q until %v", why, until)
	}
	rows, _ := m.st.ImportRows(ctx, id)
	if rows[0].Status != paylink.StatusCreating || rows[0].LastError != "" {
		t.Errorf("the refused row is %s (%q), want back in the queue", rows[0].Status, rows[0].LastError)
	}
	if err := bm.Run(ctx); err != nil || len(m.sb.Sessions()) != 0 {
		t.Fatalf("while waiting: err %v, %d sessions, want none", err, len(m.sb.Sessions()))
	}
	clk.Advance(3 * time.Second)
	if err := bm.Run(ctx); err != nil {
		t.Fatal(err)
	}
	keys := sessionsByKey(m)
	rows, _ = m.st.ImportRows(ctx, id)
	for _, r := range rows {
		l, _ := m.st.LinkByID(ctx, r.LinkID)
		if r.Status != paylink.StatusOpen || keys[l.IdempotencyKey] != 1 {
			t.Errorf("row %d: %s with %d sessions, want open with 1", r.Line, r.Status, keys[l.IdempotencyKey])
		}
	}
	if why, _ := bm.Waiting(); why != "" {
		t.Errorf("still waiting: %q", why)
	}
}

// TestBatchPausesWhileTheBreakerIsOpen: with the client's circuit breaker
// open the job sends nothing (no row fails), and carries on when it closes.
func TestBatchPausesWhileTheBreakerIsOpen(t *testing.T) {
	m := newMinting(t)
	ctx := context.Background()
	importBatch(t, m, 3, "br")
	state := "open"
	bm := links.NewBatchMinter(m.minter, m.st, 4, func() string { return state }, nil)
	if err := bm.Run(ctx); err != nil || len(m.sb.Sessions()) != 0 {
		t.Fatalf("breaker open: err %v, %d sessions", err, len(m.sb.Sessions()))
	}
	if why, _ := bm.Waiting(); !strings.Contains(why, "carries on by itself") {
		t.Errorf("waiting %q", why)
	}
	state = "closed"
	if err := bm.Run(ctx); err != nil || len(m.sb.Sessions()) != 3 {
		t.Fatalf("breaker closed: err %v, %d sessions, want 3", err, len(m.sb.Sessions()))
	}
}
