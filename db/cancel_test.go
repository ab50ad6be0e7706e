package db_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/migrations"
	"github.com/paylinks/paylinks/paylink"
)

func queueEmail(t *testing.T, st *db.Store, l db.Link, user int64) db.Email {
	t.Helper()
	e, _, err := st.QueueEmail(context.Background(), db.NewEmail{LinkID: l.ID, FromAddr: "desk@example.com",
		ToAddr: l.CustomerEmail, Subject: "Pay", Text: "Pay here", MessageIDDomain: "example.com", CreatedBy: user},
		db.AuditEntry{Action: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func timelineSays(t *testing.T, st *db.Store, id int64, want string) bool {
	t.Helper()
	evs, err := st.LinkTimeline(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if strings.Contains(e.Message, want) {
			return true
		}
	}
	return false
}

// TestCancelLinkStopsItsEmailsAndIsHarmlessTwice: cancelling an open link
// records when, who and why, stops its queued email (which then says why
// it was not sent), is on the timeline and in the audit log; cancelling it
// again changes nothing.
func TestCancelLinkStopsItsEmailsAndIsHarmlessTwice(t *testing.T) {
	st := mustOpenDB(t)
	ctx := context.Background()
	user := whUser(t, st)
	l := whLink(t, st, user, "SM-C1", "INV-C1", time.Now().Add(time.Hour))
	e := queueEmail(t, st, l, user)

	res, err := st.CancelLink(ctx, l.ID, user, "Paid another way", db.AuditEntry{IP: "192.0.2.1"})
	if err != nil || !res.Cancelled || res.EmailsStopped != 1 {
		t.Fatalf("cancel: %+v %v", res, err)
	}
	got := linkNow(t, st, l.ID)
	if got.Status != paylink.StatusCancelled || got.CancelReason != "Paid another way" || got.CancelledAt.IsZero() ||
		got.CancelledByName != "Webhook tester" {
		t.Fatalf("cancelled link: status %s reason %q at %v by %q", got.Status, got.CancelReason, got.CancelledAt, got.CancelledByName)
	}
	if em, _ := st.EmailByID(ctx, e.ID); em.Status != db.EmailCancelled || !strings.Contains(em.LastError, "cancelled") {
		t.Fatalf("queued email after cancel: %s %q", em.Status, em.LastError)
	}
	if _, err := st.ClaimEmail(ctx, time.Minute, 8); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("a worker could still claim the cancelled link's email: %v", err)
	}
	if !timelineSays(t, st, l.ID, "Cancelled (was open). Reason: Paid another way.") ||
		!timelineSays(t, st, l.ID, fmt.Sprintf("Email #%d not sent: the link was cancelled.", e.ID)) {
		t.Fatal("the timeline does not say the link was cancelled and its email stopped")
	}
	audit, _ := st.ListAudit(ctx, 5)
	if audit[0].Action != "link.cancel" || audit[0].Target != fmt.Sprintf("link:%d", l.ID) || !strings.Contains(audit[0].Details, "Paid another way") {
		t.Fatalf("audit: %+v", audit[0])
	}

	again, err := st.CancelLink(ctx, l.ID, user, "No longer owed", db.AuditEntry{})
	if err != nil || again.Cancelled {
		t.Fatalf("second cancel: %+v %v", again, err)
	}
	if linkNow(t, st, l.ID).CancelReason != "Paid another way" {
		t.Fatal("a second cancel changed the reason")
	}
}

// TestCancelRefusesEndedLinks: paid, settled, failed and expired links
// cannot be cancelled, and nothing about them changes.
func TestCancelRefusesEndedLinks(t *testing.T) {
	st := mustOpenDB(t)
	ctx := context.Background()
	user := whUser(t, st)
	for i, eff := range []paylink.Effect{paylink.EffectPaid, paylink.EffectSettled, paylink.EffectFailed} {
		l := whLink(t, st, user, fmt.Sprintf("SM-R%d", i), fmt.Sprintf("INV-R%d", i), time.Now().Add(time.Hour))
		ingest(t, st, whEvent(fmt.Sprintf("r-%d", i), eff, l))
		_, err := st.CancelLink(ctx, l.ID, user, "Other", db.AuditEntry{})
		var nc *db.NotCancellableError
		if !errors.As(err, &nc) || nc.Status != paylink.Status(eff) {
			t.Fatalf("cancel a %s link: %v", eff, err)
		}
		if got := linkNow(t, st, l.ID); got.Status != paylink.Status(eff) || !got.CancelledAt.IsZero() {
			t.Fatalf("refused cancel changed the %s link: %+v", eff, got)
		}
	}
}

// TestPaymentAfterCancelIsAppliedAndFlagged: money that moved is a fact. A
// payment for a cancelled link moves it to paid, flags it "paid after
// cancel" and is audited; and a cancel racing a payment ends in exactly
// one of the two outcomes the rules allow.
func TestPaymentAfterCancelIsAppliedAndFlagged(t *testing.T) {
	st := mustOpenDB(t)
	ctx := context.Background()
	user := whUser(t, st)
	l := whLink(t, st, user, "SM-PC", "INV-PC", time.Now().Add(time.Hour))
	if _, err := st.CancelLink(ctx, l.ID, user, "No longer owed", db.AuditEntry{}); err != nil {
		t.Fatal(err)
	}
	res := ingest(t, st, whEvent("pc-1", paylink.EffectPaid, l))
	got := linkNow(t, st, l.ID)
	if res[0].Outcome != paylink.OutcomeApplied || got.Status != paylink.StatusPaid || !got.PaidAfterCancel || got.PaidAt.IsZero() {
		t.Fatalf("payment after cancel: outcome %s, link %s flagged %v", res[0].Outcome, got.Status, got.PaidAfterCancel)
	}
	audit, _ := st.ListAudit(ctx, 3)
	if !slices.ContainsFunc(audit, func(a db.AuditEntry) bool { return a.Action == "webhook.paid_after_cancel" }) {
		t.Fatalf("no paid-after-cancel audit entry: %+v", audit)
	}
	if _, err := st.CancelLink(ctx, l.ID, user, "Other", db.AuditEntry{}); err == nil {
		t.Fatal("a paid link was cancelled")
	}

	for i := range 20 {
		l := whLink(t, st, user, fmt.Sprintf("SM-RACE%d", i), fmt.Sprintf("INV-RACE%d", i), time.Now().Add(time.Hour))
		var wg sync.WaitGroup
		var cancelErr error
		wg.Go(func() { _, cancelErr = st.CancelLink(ctx, l.ID, user, "Other", db.AuditEntry{}) })
		wg.Go(func() { ingest(t, st, whEvent(fmt.Sprintf("race-%d", i), paylink.EffectPaid, l)) })
		wg.Wait()
		got := linkNow(t, st, l.ID)
		switch {
		case cancelErr == nil && (got.Status != paylink.StatusPaid || !got.PaidAfterCancel || got.CancelledAt.IsZero()):
			t.Fatalf("cancel first, then payment: %s, flagged %v", got.Status, got.PaidAfterCancel)
		case cancelErr != nil && (got.Status != paylink.StatusPaid || got.PaidAfterCancel || !got.CancelledAt.IsZero()):
			t.Fatalf("payment first, cancel refused (%v): %s, flagged %v", cancelErr, got.Status, got.PaidAfterCancel)
		}
	}
}

// TestCancelMigrationKeepsEveryLink: migration 0013 rebuilds links (its
// status CHECK gains cancelled). Every link is kept as it was, ids
// included, with its search keys, full-text index, timeline and emails;
// the foreign keys hold; the CHECK still refuses a status it does not know.
func TestCancelMigrationKeepsEveryLink(t *testing.T) {
	ctx := context.Background()
	st, err := db.Open(ctx, filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	before := fstest.MapFS{}
	names, _ := fs.Glob(migrations.FS, "*.sql")
	for _, n := range names {
		if n < "0013" {
			b, _ := fs.ReadFile(migrations.FS, n)
			before[n] = &fstest.MapFile{Data: b}
		}
	}
	if _, err := st.Migrate(ctx, before); err != nil {
		t.Fatal(err)
	}
	raw := rawDB(t, st)
	if _, err := raw.Exec(`INSERT INTO users (id, email, name, role, password_hash, created_at, updated_at)
		VALUES (1, 'm@example.com', 'M', 'finance', 'x', 1, 1)`); err != nil {
		t.Fatal(err)
	}
	for i, status := range []string{"open", "paid", "expired"} {
		if _, err := raw.Exec(`INSERT INTO links (id, idempotency_key, status, customer_id, customer_email, country,
			amount_minor, currency, website_reference, note, success_url, support_url, exit_url, error_url,
			sm_reference, created_by, created_at, updated_at, amount_text, reissue_of)
			VALUES (?, ?, ?, 'CUST-M', 'zoe@example.com', 'DE', 950, 'EUR', ?, 'monthly retainer', 's', 'h', 'e', 'r',
			?, 1, 1, 1, '9.50', ?)`, 10+i, fmt.Sprint("k", i), status, fmt.Sprint("INV-M", i), fmt.Sprint("SM-M", i),
			map[bool]any{true: 10, false: nil}[i == 2]); err != nil {
			t.Fatal(err)
		}
		if _, err := raw.Exec(`INSERT INTO link_events (link_id, at, kind, message) VALUES (?, 1, 'created', 'made')`, 10+i); err != nil {
			t.Fatal(err)
		}
	}
	count := func(q string) int {
		var n int
		if err := raw.QueryRow(q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	keys, fts := count("SELECT count(*) FROM link_keys"), count("SELECT count(*) FROM links_fts WHERE links_fts MATCH 'retainer'")
	if keys == 0 || fts != 3 {
		t.Fatalf("before: %d keys, %d full-text hits", keys, fts)
	}
	if applied, err := st.Migrate(ctx, migrations.FS); err != nil || !slices.Contains(applied, "0013_cancelled.sql") {
		t.Fatalf("migrate: %v %v", applied, err)
	}
	if n := count("SELECT count(*) FROM links"); n != 3 {
		t.Fatalf("%d links after the rebuild", n)
	}
	if k, f := count("SELECT count(*) FROM link_keys"), count("SELECT count(*) FROM links_fts WHERE links_fts MATCH 'retainer'"); k != keys || f != fts {
		t.Fatalf("after: %d keys (was %d), %d full-text hits (was %d)", k, keys, f, fts)
	}
	if n := count("SELECT count(*) FROM link_events"); n != 3 {
		t.Fatalf("%d timeline lines after the rebuild", n)
	}
	if n := count("SELECT count(*) FROM pragma_foreign_key_check"); n != 0 {
		t.Fatalf("%d foreign key problems", n)
	}
	var check, table string
	if err := raw.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity check: %q %v", check, err)
	}
	if err := raw.QueryRow("SELECT sql FROM sqlite_schema WHERE name = 'links'").Scan(&table); err != nil || strings.Contains(table, "links_new") {
		t.Fatalf("rebuilt table: %v\n%s", err, table)
	}
	if l, err := st.LinkByID(ctx, 12); err != nil || l.Status != paylink.StatusExpired || l.ReissueOf != 10 || l.WebsiteReference != "INV-M2" {
		t.Fatalf("link 12 after the rebuild: %+v %v", l, err)
	}
	if _, err := raw.Exec("UPDATE links SET status = 'bogus' WHERE id = 10"); err == nil {
		t.Fatal("the status CHECK accepts any word")
	}
	if _, err := st.CancelLink(ctx, 10, 1, "No longer owed", db.AuditEntry{}); err != nil {
		t.Fatal(err)
	}
	// The writer's connection enforces foreign keys again: a link by a
	// user who does not exist is refused.
	if _, _, err := st.CreateLink(ctx, db.NewLink{IdempotencyKey: "fk", CustomerID: "C", CustomerEmail: "c@example.com",
		Country: "DE", AmountMinor: 1, AmountText: "0.01", Currency: "EUR", SuccessURL: "s", SupportURL: "h", ExitURL: "e",
		ErrorURL: "r", CreatedBy: 999, AllowDuplicate: true}, db.AuditEntry{}); err == nil {
		t.Fatal("foreign keys are off on the writer after the migration")
	}
}
