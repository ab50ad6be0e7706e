package links_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/links"
	"github.com/paylinks/paylinks/paylink"
	"github.com/paylinks/paylinks/sandbox"
	"github.com/paylinks/paylinks/stablemint"
)

// heldAnswers is StableMint whose answers are held back: each call
// reaches the sandbox (the session is made), then waits for release
// before its answer comes back to paylinks, as a slow network would.
type heldAnswers struct {
	links.HostedSessions
	answered chan struct{} // one per call StableMint has answered
	release  chan struct{} // closed: answers go through
}

func (h *heldAnswers) CreateHostedSession(ctx context.Context, req stablemint.Request) (stablemint.Session, error) {
	s, err := h.HostedSessions.CreateHostedSession(ctx, req)
	h.answered <- struct{}{}
	<-h.release
	return s, err
}

// TestCancelTheRestWhileRowsAreInFlight: Cancel the rest pressed while 3
// rows' calls are under way (StableMint made their sessions, the answers
// not yet back) cancels every row not made, through the cancel service:
// the calls under way end with their answers not kept (no checkout link
// stored or shown), no row gets a StableMint call afterwards, each link's
// timeline says it was cancelled with the rest of the import, and each
// has the audit entry a person's cancel writes.
func TestCancelTheRestWhileRowsAreInFlight(t *testing.T) {
	m := newMinting(t)
	ctx := context.Background()
	id := importBatch(t, m, 10, "fl")
	held := &heldAnswers{HostedSessions: m.client, answered: make(chan struct{}, 10), release: make(chan struct{})}
	bm := links.NewBatchMinter(links.NewMinter(m.st, held, nil, nil), m.st, 3, nil, nil)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := bm.Run(ctx); err != nil {
			t.Error(err)
		}
	})
	for range 3 {
		<-held.answered
	}
	if got := len(m.sb.Sessions()); got != 3 {
		t.Fatalf("%d sessions while 3 calls are under way", got)
	}
	n, err := links.CancelImportRest(ctx, m.st, id, m.user, db.AuditEntry{Action: "import.cancel", ActorID: m.user, IP: "192.0.2.7"})
	if err != nil || n != 10 {
		t.Fatalf("Cancel the rest: %d cancelled, err %v; want all 10 (3 under way, 7 never sent)", n, err)
	}
	close(held.release)
	wg.Wait()
	// The job runs again, as it does every few seconds: nothing to send.
	if err := bm.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if got := len(m.sb.Sessions()); got != 3 {
		t.Errorf("%d StableMint sessions, want the 3 made before the cancel and none after", got)
	}
	rows, err := m.st.ImportRows(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	inFlight := 0
	for _, r := range rows {
		l, err := m.st.LinkByID(ctx, r.LinkID)
		if err != nil {
			t.Fatal(err)
		}
		if l.Status != paylink.StatusCancelled || l.CheckoutURL != "" || r.CheckoutURL != "" {
			t.Errorf("row %d: %s with checkout %q, want cancelled with none", r.Line, l.Status, l.CheckoutURL)
		}
		if l.CancelReason != "Cancelled with the rest of import month-end.csv" {
			t.Errorf("row %d: reason %q", r.Line, l.CancelReason)
		}
		tl, _ := m.st.LinkTimeline(ctx, l.ID)
		var said []string
		for _, e := range tl {
			said = append(said, e.Message)
		}
		text := strings.Join(said, "\n")
		if !strings.Contains(text, "Cancelled (was creating). Reason: Cancelled with the rest of import month-end.csv.") {
			t.Errorf("row %d: timeline\n%s", r.Line, text)
		}
		if strings.Contains(text, "StableMint created session") {
			t.Errorf("row %d: the late answer was stored:\n%s", r.Line, text)
		}
		if l.Attempts > 0 {
			inFlight++
			if !strings.Contains(text, "whatever it answers is not kept") {
				t.Errorf("row %d (call under way): timeline\n%s", r.Line, text)
			}
			// The session StableMint made all the same is named, so the
			// link is found by its reference; its checkout link is not kept.
			var sess sandbox.SessionInfo
			ok := false
			for _, x := range m.sb.Sessions() {
				if x.IdempotencyKey == l.IdempotencyKey {
					sess, ok = x, true
				}
			}
			if !ok || l.SMReference != sess.Reference ||
				!strings.Contains(text, "StableMint answered after the cancel: it made session "+sess.Reference+".") {
				t.Errorf("row %d (call under way): reference %q (StableMint's %q, %v), timeline\n%s", r.Line, l.SMReference, sess.Reference, ok, text)
			}
			if found, err := m.st.LinkBySMReference(ctx, sess.Reference); err != nil || found.ID != l.ID {
				t.Errorf("row %d: its session's reference finds link %d, %v", r.Line, found.ID, err)
			}
		} else if l.SMReference != "" {
			t.Errorf("row %d was never sent, yet has reference %q", r.Line, l.SMReference)
		}
	}
	if inFlight != 3 {
		t.Errorf("%d rows had a call counted, want the 3 under way", inFlight)
	}
	page, err := m.st.SearchAudit(ctx, db.AuditQuery{Action: "link.cancel", Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Entries) != 10 {
		t.Fatalf("%d link.cancel audit entries, want 10", len(page.Entries))
	}
	for _, e := range page.Entries {
		if e.ActorID != m.user || e.IP != "192.0.2.7" || !strings.HasPrefix(e.Target, "link:") ||
			e.Details != "from creating; reason: Cancelled with the rest of import month-end.csv" {
			t.Errorf("audit entry %+v", e)
		}
	}
	b, _ := m.st.ImportBatchByID(ctx, id)
	if b.State != db.ImportCancelled || b.Counts.Cancelled != 10 || b.Counts.Queued != 0 || !b.Counts.Done() {
		t.Errorf("batch %s %+v, want cancelled with 10 cancelled rows", b.State, b.Counts)
	}
}

// TestCancelRefusesWhatItRefusedBefore: the cancel service still refuses
// a paid, failed or expired link (and Cancel a creating one: only an
// import's Cancel the rest cancels links still being created), with the
// same sentences; CancelMany reports a refusal per link and cancels the
// others.
func TestCancelRefusesWhatItRefusedBefore(t *testing.T) {
	m := newMinting(t)
	ctx := context.Background()
	id := importBatch(t, m, 5, "rf")
	rows, _ := m.st.ImportRows(ctx, id)
	c := links.Cancellation{Reason: "not_owed"}
	if _, _, err := links.Cancel(ctx, m.st, rows[0].LinkID, m.user, c, db.AuditEntry{}); !errors.Is(err, links.ErrNotCancellable) ||
		err.Error() != links.CancelRefusal(paylink.StatusCreating) {
		t.Errorf("Cancel of a creating link: %v", err)
	}
	if err := bm(m).Run(ctx); err != nil {
		t.Fatal(err)
	}
	ended := map[int64]paylink.Status{}
	for i, s := range []paylink.Status{paylink.StatusPaid, paylink.StatusFailed, paylink.StatusExpired} {
		setStatus(t, m, rows[i].LinkID, s)
		ended[rows[i].LinkID] = s
	}
	ids := []int64{rows[0].LinkID, rows[1].LinkID, rows[2].LinkID, rows[3].LinkID, rows[4].LinkID}
	for _, creating := range []bool{false, true} {
		res, errs, err := links.CancelMany(ctx, m.st, ids, m.user, c, creating, db.AuditEntry{})
		if err != nil || errs != nil || len(res) != 5 {
			t.Fatalf("CancelMany: %v %v %d", err, errs, len(res))
		}
		for _, r := range res {
			s, isEnded := ended[r.ID]
			var no *links.Refusal
			switch {
			case isEnded && (!errors.As(r.Err, &no) || no.Status != s || no.Reason != links.CancelRefusal(s)):
				t.Errorf("a %s link: %+v, want refused as before", s, r)
			case !isEnded && r.Err != nil:
				t.Errorf("an open link: %v", r.Err)
			case !isEnded && r.Cancelled != !creating: // the second pass finds it cancelled already
				t.Errorf("an open link (second pass %v): cancelled %v", creating, r.Cancelled)
			}
		}
	}
	for lid, s := range ended {
		if l, _ := m.st.LinkByID(ctx, lid); l.Status != s {
			t.Errorf("link %d is %s, want %s unchanged", lid, l.Status, s)
		}
	}
}

func bm(m *minting) *links.BatchMinter { return links.NewBatchMinter(m.minter, m.st, 4, nil, nil) }

// setStatus puts a link in status s directly in the file, as webhooks
// would have over time.
func setStatus(t *testing.T, m *minting, id int64, s paylink.Status) {
	t.Helper()
	raw, err := sql.Open("sqlite", db.DSN(m.st.Path(), false))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec("UPDATE links SET status = ? WHERE id = ?", string(s), id); err != nil {
		t.Fatal(err)
	}
}

// TestCancelTheRestInterruptedIsFinishedAtStart: a process that stopped
// after the batch was cancelled but before its links were leaves them
// creating; the next process's import job cancels them at start, through
// the cancel service, and sends none.
func TestCancelTheRestInterruptedIsFinishedAtStart(t *testing.T) {
	m := newMinting(t)
	ctx := context.Background()
	id := importBatch(t, m, 4, "ci")
	if err := m.st.StopImportBatch(ctx, id, db.AuditEntry{Action: "import.cancel", ActorID: m.user}); err != nil {
		t.Fatal(err)
	}
	if err := bm(m).Start(ctx); err != nil {
		t.Fatal(err)
	}
	if got := len(m.sb.Sessions()); got != 0 {
		t.Errorf("%d sessions for a cancelled batch", got)
	}
	rows, _ := m.st.ImportRows(ctx, id)
	for _, r := range rows {
		if r.Status != paylink.StatusCancelled {
			t.Errorf("row %d is %s, want cancelled", r.Line, r.Status)
		}
	}
}
