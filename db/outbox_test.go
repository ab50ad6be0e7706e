package db_test

import (
	"context"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/paylink"
)

// testClock is a settable clock for the store.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// outboxFixture is a store with a clock, a finance user and an open link.
type outboxFixture struct {
	st    *db.Store
	clock *testClock
	user  db.User
	link  db.Link
}

func newOutboxFixture(t *testing.T) outboxFixture {
	t.Helper()
	ctx := context.Background()
	st := mustOpenDB(t)
	clk := &testClock{t: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)}
	st.Now = clk.Now
	u, err := st.CreateUser(ctx, db.NewUser{Email: "fin@example.com", Name: "Fin", Role: paylink.RoleFinance, PasswordHash: "x"}, db.AuditEntry{Action: "t"})
	if err != nil {
		t.Fatal(err)
	}
	return outboxFixture{st: st, clock: clk, user: u, link: openLink(t, st, u.ID, "INV-1")}
}

func openLink(t *testing.T, st *db.Store, userID int64, ref string) db.Link {
	t.Helper()
	ctx := context.Background()
	l, _, err := st.CreateLink(ctx, db.NewLink{
		IdempotencyKey: "key-" + ref, CustomerID: "C1", CustomerEmail: "ada@example.com", Country: "DE",
		AmountMinor: 950, Currency: "EUR", WebsiteReference: ref, SuccessURL: "https://x.example/s",
		SupportURL: "https://x.example/h", ExitURL: "https://x.example/e", ErrorURL: "https://x.example/r", CreatedBy: userID,
	}, db.AuditEntry{Action: "link.create"})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CompleteLinkCreation(ctx, l.ID, "SM-"+ref, "https://checkout.example/"+ref, st.Now().Add(72*time.Hour)); err != nil {
		t.Fatal(err)
	}
	l, _ = st.LinkByID(ctx, l.ID)
	return l
}

func (f outboxFixture) newEmail(token string) db.NewEmail {
	return db.NewEmail{
		LinkID: f.link.ID, FormToken: token, FromAddr: "billing@acme.example", FromName: "Acme",
		ToAddr: "ada@example.com", ToName: "Ada", Subject: "Your payment link", Text: "pay", HTML: "<p>pay</p>",
		MessageIDDomain: "acme.example", CreatedBy: f.user.ID,
	}
}

func (f outboxFixture) queue(t *testing.T) db.Email {
	t.Helper()
	e, _, err := f.st.QueueEmail(context.Background(), f.newEmail(""), db.AuditEntry{Action: "email.queue", ActorID: f.user.ID})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func emailEvents(t *testing.T, st *db.Store, linkID int64) []db.LinkEvent {
	t.Helper()
	all, err := st.LinkTimeline(context.Background(), linkID)
	if err != nil {
		t.Fatal(err)
	}
	var out []db.LinkEvent
	for _, e := range all {
		if e.Kind == "email" {
			out = append(out, e)
		}
	}
	return out
}

func TestQueueEmailCommitsRowTimelineAndAuditTogether(t *testing.T) {
	ctx := context.Background()
	f := newOutboxFixture(t)
	e, created, err := f.st.QueueEmail(ctx, f.newEmail("tok-1"), db.AuditEntry{Action: "email.queue", ActorID: f.user.ID})
	if err != nil || !created {
		t.Fatalf("queue: created=%v err=%v", created, err)
	}
	if e.Status != db.EmailQueued || e.Attempts != 0 || e.CreatedByName != "Fin" || !e.NextAttemptAt.Equal(f.clock.Now()) {
		t.Errorf("row %+v", e)
	}
	if !regexp.MustCompile(`^outbox-` + strconv.FormatInt(e.ID, 10) + `\.[a-z2-7]{16}@acme\.example$`).MatchString(e.MessageID) {
		t.Errorf("Message-ID %q", e.MessageID)
	}
	ev := emailEvents(t, f.st, f.link.ID)
	if len(ev) != 1 || ev[0].RefID != e.ID || ev[0].ActorID != f.user.ID || !strings.Contains(ev[0].Message, "queued to Ada <ada@example.com>") {
		t.Errorf("timeline %+v", ev)
	}
	audit, _ := f.st.ListAudit(ctx, 10)
	if audit[0].Action != "email.queue" || audit[0].Target != "link:"+strconv.FormatInt(f.link.ID, 10) || !strings.Contains(audit[0].Details, "outbox:"+strconv.FormatInt(e.ID, 10)) {
		t.Errorf("audit %+v", audit[0])
	}

	// The same form token (a double click) queues nothing more.
	again, created, err := f.st.QueueEmail(ctx, f.newEmail("tok-1"), db.AuditEntry{Action: "email.queue"})
	if err != nil || created || again.ID != e.ID {
		t.Fatalf("second submit: id %d created %v err %v", again.ID, created, err)
	}
	if list, _ := f.st.LinkEmails(ctx, f.link.ID); len(list) != 1 {
		t.Fatalf("%d rows after a double submit", len(list))
	}

	// A failing write leaves nothing: no row, no timeline line, no audit.
	bad := f.newEmail("")
	bad.LinkID = 9999
	before, _ := f.st.ListAudit(ctx, 100)
	if _, _, err := f.st.QueueEmail(ctx, bad, db.AuditEntry{Action: "email.queue"}); err == nil {
		t.Fatal("queued an email for a missing link")
	}
	after, _ := f.st.ListAudit(ctx, 100)
	if len(after) != len(before) {
		t.Error("audit entry left behind by a rolled-back queue")
	}
}

func TestClaimIsExclusive(t *testing.T) {
	ctx := context.Background()
	f := newOutboxFixture(t)
	want := f.queue(t)
	var mu sync.Mutex
	var got []db.Email
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e, err := f.st.ClaimEmail(ctx, time.Minute, 8)
			if errors.Is(err, db.ErrNotFound) {
				return
			}
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			got = append(got, e)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(got) != 1 || got[0].ID != want.ID || got[0].Attempts != 1 || got[0].LeaseToken == "" {
		t.Fatalf("claims: %+v", got)
	}
	if !got[0].Claimed(f.clock.Now()) {
		t.Error("claimed row does not show its lease")
	}
}

func TestExpiredLeaseIsClaimedAgainWithTheSameMessageID(t *testing.T) {
	ctx := context.Background()
	f := newOutboxFixture(t)
	f.queue(t)
	first, err := f.st.ClaimEmail(ctx, time.Minute, 8)
	if err != nil {
		t.Fatal(err)
	}
	// The worker "dies" after sending: no outcome. Within the lease nobody
	// else can take the row.
	if _, err := f.st.ClaimEmail(ctx, time.Minute, 8); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("claimed during the lease: %v", err)
	}
	f.clock.Advance(time.Minute + time.Second)
	second, err := f.st.ClaimEmail(ctx, time.Minute, 8)
	if err != nil {
		t.Fatal(err)
	}
	if second.ID != first.ID || second.MessageID != first.MessageID || second.Attempts != 2 || second.LeaseToken == first.LeaseToken {
		t.Fatalf("reclaim: %+v vs %+v", second, first)
	}
	// The dead worker's late outcome is refused: it no longer holds the row.
	if err := f.st.MarkEmailSent(ctx, first, "250 ok"); !errors.Is(err, db.ErrConflict) {
		t.Fatalf("stale lease marked the row: %v", err)
	}
	if err := f.st.MarkEmailSent(ctx, second, "250 2.0.0 queued as X"); err != nil {
		t.Fatal(err)
	}
	e, _ := f.st.EmailByID(ctx, first.ID)
	if e.Status != db.EmailSent || e.ServerReply != "250 2.0.0 queued as X" || e.FinishedAt.IsZero() || e.LeaseToken != "" {
		t.Fatalf("after sent: %+v", e)
	}
	if _, err := f.st.ClaimEmail(ctx, time.Minute, 8); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("a sent row was claimable: %v", err)
	}
}

func TestRetryWaitsThenAbandonedLastAttemptFails(t *testing.T) {
	ctx := context.Background()
	f := newOutboxFixture(t)
	f.queue(t)
	e, err := f.st.ClaimEmail(ctx, time.Minute, 2)
	if err != nil {
		t.Fatal(err)
	}
	next := f.clock.Now().Add(5 * time.Minute)
	if err := f.st.RetryEmail(ctx, e, next, "451 4.3.0 try later"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.ClaimEmail(ctx, time.Minute, 2); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("claimed before its next attempt: %v", err)
	}
	f.clock.Advance(5 * time.Minute)
	e, err = f.st.ClaimEmail(ctx, time.Minute, 2)
	if err != nil || e.Attempts != 2 || e.LastError != "451 4.3.0 try later" {
		t.Fatalf("second claim: %+v %v", e, err)
	}
	// The last allowed attempt never reports back.
	f.clock.Advance(2 * time.Minute)
	if _, err := f.st.ClaimEmail(ctx, time.Minute, 2); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("claimed beyond the attempt limit: %v", err)
	}
	e, _ = f.st.EmailByID(ctx, e.ID)
	if e.Status != db.EmailFailed || !strings.Contains(e.LastError, "gave up after 2 attempts") {
		t.Fatalf("abandoned row: %+v", e)
	}
	failed, _ := f.st.FailedEmails(ctx, 10)
	if len(failed) != 1 || failed[0].ID != e.ID {
		t.Fatalf("failed list %+v", failed)
	}
	ev := emailEvents(t, f.st, f.link.ID)
	if len(ev) != 3 || !strings.Contains(ev[1].Message, "Next attempt at 25 Nov 2026 09:05:00 UTC") || !strings.Contains(ev[2].Message, "failed") {
		t.Fatalf("timeline %+v", ev)
	}

	// Resending makes a new row with a new Message-ID, once.
	r, err := f.st.ResendEmail(ctx, e.ID, f.user.ID, "acme.example", db.AuditEntry{Action: "email.resend"})
	if err != nil {
		t.Fatal(err)
	}
	if r.ID == e.ID || r.ResendOf != e.ID || r.MessageID == e.MessageID || r.Status != db.EmailQueued || r.Subject != e.Subject {
		t.Fatalf("resend %+v", r)
	}
	if _, err := f.st.ResendEmail(ctx, e.ID, f.user.ID, "acme.example", db.AuditEntry{Action: "email.resend"}); !errors.Is(err, db.ErrConflict) {
		t.Fatalf("second resend: %v", err)
	}
	if _, err := f.st.ResendEmail(ctx, r.ID, f.user.ID, "acme.example", db.AuditEntry{Action: "email.resend"}); !errors.Is(err, db.ErrConflict) {
		t.Fatalf("resent a queued email: %v", err)
	}
	if failed, _ := f.st.FailedEmails(ctx, 10); len(failed) != 0 {
		t.Fatalf("a resent failure still needs attention: %+v", failed)
	}
}

func TestPermanentFailureAndCancel(t *testing.T) {
	ctx := context.Background()
	f := newOutboxFixture(t)
	f.queue(t)
	f.queue(t)
	a, _ := f.st.ClaimEmail(ctx, time.Minute, 8)
	b, _ := f.st.ClaimEmail(ctx, time.Minute, 8)
	if err := f.st.FailEmail(ctx, a, "the mail server refused the recipient: 550 5.1.1 No such user"); err != nil {
		t.Fatal(err)
	}
	if err := f.st.CancelEmail(ctx, b, "the link is paid"); err != nil {
		t.Fatal(err)
	}
	list, _ := f.st.LinkEmails(ctx, f.link.ID)
	if len(list) != 2 || list[0].Status != db.EmailCancelled || list[1].Status != db.EmailFailed || !strings.Contains(list[1].LastError, "550") {
		t.Fatalf("rows %+v", list)
	}
	if err := f.st.FailEmail(ctx, a, "again"); !errors.Is(err, db.ErrConflict) {
		t.Fatalf("a final row changed: %v", err)
	}
}

func TestKeptEmailsFormTheMailbox(t *testing.T) {
	ctx := context.Background()
	f := newOutboxFixture(t)
	f.queue(t)
	e, _ := f.st.ClaimEmail(ctx, time.Minute, 8)
	if err := f.st.KeepEmail(ctx, e, []byte("Subject: hi\r\n\r\nbody")); err != nil {
		t.Fatal(err)
	}
	box, err := f.st.MailboxEmails(ctx, 10)
	if err != nil || len(box) != 1 || box[0].ID != e.ID || box[0].Status != db.EmailKept {
		t.Fatalf("mailbox %+v %v", box, err)
	}
	_, raw, err := f.st.MailboxEmail(ctx, e.ID)
	if err != nil || string(raw) != "Subject: hi\r\n\r\nbody" {
		t.Fatalf("raw %q %v", raw, err)
	}
	f.queue(t)
	if _, _, err := f.st.MailboxEmail(ctx, e.ID+1); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("a queued row is in the mailbox: %v", err)
	}
}

func TestEmailBatch(t *testing.T) {
	ctx := context.Background()
	f := newOutboxFixture(t)
	other := openLink(t, f.st, f.user.ID, "INV-2")
	one, two := f.newEmail(""), f.newEmail("")
	two.LinkID = other.ID
	skipped := []db.BatchSkip{{LinkID: 77, Reason: "paid"}}
	id, created, err := f.st.QueueEmailBatch(ctx, "batch-tok", f.user.ID, []db.NewEmail{one, two}, skipped, db.AuditEntry{Action: "email.batch"})
	if err != nil || !created {
		t.Fatal(err)
	}
	again, created, err := f.st.QueueEmailBatch(ctx, "batch-tok", f.user.ID, []db.NewEmail{one, two}, skipped, db.AuditEntry{Action: "email.batch"})
	if err != nil || created || again != id {
		t.Fatalf("resubmitted batch: %d %v %v", again, created, err)
	}
	b, err := f.st.EmailBatchByID(ctx, id)
	if err != nil || b.CreatedByName != "Fin" || len(b.Skipped) != 1 || b.Skipped[0].Reason != "paid" {
		t.Fatalf("batch %+v %v", b, err)
	}
	rows, _ := f.st.BatchEmails(ctx, id)
	if len(rows) != 2 || rows[0].LinkID != f.link.ID || rows[1].LinkID != other.ID || rows[0].MessageID == rows[1].MessageID {
		t.Fatalf("batch rows %+v", rows)
	}
	audit, _ := f.st.ListAudit(ctx, 20)
	var queued, batches int
	for _, a := range audit {
		switch a.Action {
		case "email.queue":
			queued++
		case "email.batch":
			batches++
		}
	}
	if queued != 2 || batches != 1 {
		t.Fatalf("audit: %d email.queue, %d email.batch", queued, batches)
	}
}

func TestEmailTemplateSaveIsAudited(t *testing.T) {
	ctx := context.Background()
	f := newOutboxFixture(t)
	if _, err := f.st.EmailTemplate(ctx, db.EmailTemplateName); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("fresh database has a template: %v", err)
	}
	tpl := db.EmailTemplate{Name: db.EmailTemplateName, Subject: "Pay {{.Amount}}", Text: "{{.Link}}", HTML: "<p>{{.Link}}</p>"}
	if err := f.st.SaveEmailTemplate(ctx, tpl, f.user.ID, db.AuditEntry{Action: "email.template.change"}); err != nil {
		t.Fatal(err)
	}
	tpl.Subject = "Please pay {{.Amount}}"
	f.clock.Advance(time.Minute)
	if err := f.st.SaveEmailTemplate(ctx, tpl, f.user.ID, db.AuditEntry{Action: "email.template.change"}); err != nil {
		t.Fatal(err)
	}
	got, err := f.st.EmailTemplate(ctx, db.EmailTemplateName)
	if err != nil || got.Subject != "Please pay {{.Amount}}" || got.UpdatedByName != "Fin" || !got.UpdatedAt.Equal(f.clock.Now()) {
		t.Fatalf("template %+v %v", got, err)
	}
	audit, _ := f.st.ListAudit(ctx, 1)
	if audit[0].Action != "email.template.change" || !strings.Contains(audit[0].Details, "changed subject (15→22 chars)") || strings.Contains(audit[0].Details, "text") {
		t.Fatalf("audit %+v", audit[0])
	}
}

func TestRecentLinkEmail(t *testing.T) {
	ctx := context.Background()
	f := newOutboxFixture(t)
	since := func() time.Time { return f.clock.Now().Add(-24 * time.Hour) }
	if _, err := f.st.RecentLinkEmail(ctx, f.link.ID, "ada@example.com", since(), ""); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("no email yet: %v", err)
	}
	ne := f.newEmail("tok-a")
	e, _, err := f.st.QueueEmail(ctx, ne, db.AuditEntry{Action: "email.queue", ActorID: f.user.ID})
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(2 * time.Hour)
	r, err := f.st.RecentLinkEmail(ctx, f.link.ID, "ADA@example.com", since(), "")
	if err != nil || r.ID != e.ID || r.ByName != "Fin" || r.ByEmail != "fin@example.com" || r.ToName != "Ada" ||
		r.Status != db.EmailQueued || !r.CreatedAt.Equal(e.CreatedAt) {
		t.Fatalf("recent %+v, %v", r, err)
	}
	if _, err := f.st.RecentLinkEmail(ctx, f.link.ID, "ada@example.com", since(), "tok-a"); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("the same form's own row counted: %v", err)
	}
	if _, err := f.st.RecentLinkEmail(ctx, f.link.ID, "bob@example.com", since(), ""); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("another address counted: %v", err)
	}
	// A failed email never reached the customer.
	c, err := f.st.ClaimEmail(ctx, time.Minute, 8)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.st.FailEmail(ctx, c, "550 no such user"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.RecentLinkEmail(ctx, f.link.ID, "ada@example.com", since(), ""); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("a failed email counted: %v", err)
	}
	// A sent one counts for 24 hours.
	f.queue(t)
	c, _ = f.st.ClaimEmail(ctx, time.Minute, 8)
	if err := f.st.MarkEmailSent(ctx, c, "250 OK"); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(23 * time.Hour)
	if r, err := f.st.RecentLinkEmail(ctx, f.link.ID, "ada@example.com", since(), ""); err != nil || r.Status != db.EmailSent {
		t.Errorf("sent 23 h ago: %+v %v", r, err)
	}
	f.clock.Advance(time.Hour + time.Millisecond)
	if _, err := f.st.RecentLinkEmail(ctx, f.link.ID, "ada@example.com", since(), ""); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("sent over 24 h ago still counts: %v", err)
	}
}
