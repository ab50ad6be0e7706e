package outbox_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/internal/testkit"
	"github.com/paylinks/paylinks/mail"
	"github.com/paylinks/paylinks/migrations"
	"github.com/paylinks/paylinks/outbox"
	"github.com/paylinks/paylinks/paylink"
)

// t0 is when every fixture's clock starts.
var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

var seq atomic.Int64

// fixture is a migrated store on a file, on a fake clock, with a finance
// user who creates the links.
type fixture struct {
	st    *db.Store
	path  string
	clock *testkit.Clock
	user  db.User
}

func openStore(t testing.TB, path string, clock *testkit.Clock) *db.Store {
	t.Helper()
	st, err := db.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(context.Background(), migrations.FS); err != nil {
		t.Fatal(err)
	}
	st.Now = clock.Now
	return st
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	clock := testkit.NewClock(t0)
	path := filepath.Join(t.TempDir(), "remind.db")
	f := &fixture{st: openStore(t, path, clock), path: path, clock: clock}
	f.user = f.newUser(t, paylink.RoleFinance)
	return f
}

func (f *fixture) newUser(t testing.TB, role paylink.Role) db.User {
	t.Helper()
	n := seq.Add(1)
	u, err := f.st.CreateUser(context.Background(), db.NewUser{Email: fmt.Sprintf("staff%d@acme.example", n),
		Name: fmt.Sprintf("Staff %d", n), Role: role, PasswordHash: "x"}, db.AuditEntry{Action: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// openLink is an open link of €9.50 created by user, expiring at expires.
func (f *fixture) openLink(t testing.TB, user int64, expires time.Time) db.Link {
	t.Helper()
	ctx := context.Background()
	n := seq.Add(1)
	ref := fmt.Sprintf("SM-%d", n)
	l, _, err := f.st.CreateLink(ctx, db.NewLink{
		IdempotencyKey: fmt.Sprintf("idem-%d", n), CustomerID: fmt.Sprintf("CUST-%d", n), CustomerEmail: "ada@example.com",
		Country: "DE", AmountMinor: 950, AmountText: "9.50", Currency: "EUR", WebsiteReference: fmt.Sprintf("INV-%d", n),
		SuccessURL: "https://x/s", SupportURL: "https://x/h", ExitURL: "https://x/e", ErrorURL: "https://x/r",
		CreatedBy: user, AllowDuplicate: true,
	}, db.AuditEntry{Action: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.st.CompleteLinkCreation(ctx, l.ID, ref, "https://checkout.example/"+ref, expires); err != nil {
		t.Fatal(err)
	}
	if l, err = f.st.LinkByID(ctx, l.ID); err != nil {
		t.Fatal(err)
	}
	return l
}

// emailCustomer queues the first email to the link's customer, as the
// email page does.
func (f *fixture) emailCustomer(t testing.TB, l db.Link) db.Email {
	t.Helper()
	e, _, err := f.st.QueueEmail(context.Background(), db.NewEmail{LinkID: l.ID, FromAddr: "desk@acme.example",
		FromName: "Acme", ToAddr: l.CustomerEmail, ToName: "Ada Lovelace", Subject: "Your payment link", Text: "Pay here",
		HTML: "<p>Pay here</p>", MessageIDDomain: "acme.example", CreatedBy: l.CreatedBy}, db.AuditEntry{Action: "email.queue"})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func reminders(st *db.Store, clock *testkit.Clock) *outbox.Reminders {
	return outbox.NewReminders(st, outbox.ReminderConfig{From: mail.Address{Name: "Acme", Email: "desk@acme.example"},
		CompanyName: "Acme", Now: clock.Now})
}

func notifier(st *db.Store, clock *testkit.Clock) *outbox.Notifier {
	return outbox.NewNotifier(st, outbox.NotifyConfig{From: mail.Address{Name: "Acme", Email: "desk@acme.example"},
		CompanyName: "Acme", BaseURL: "https://desk.acme.example/", Now: clock.Now})
}

// mailer is a worker on the fixture's clock; a nil sender keeps messages
// in the local mailbox.
func (f *fixture) mailer(sender outbox.Sender) *outbox.Mailer {
	return outbox.NewMailer(f.st, outbox.Config{Sender: sender, Now: f.clock.Now, Backoff: func(int) time.Duration { return time.Minute }})
}

func (f *fixture) drain(t testing.TB, m *outbox.Mailer) {
	t.Helper()
	if _, err := m.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// emailsOf lists a link's emails of one kind, oldest first.
func (f *fixture) emailsOf(t testing.TB, linkID int64, kind string) []db.Email {
	t.Helper()
	all, err := f.st.LinkEmails(context.Background(), linkID)
	if err != nil {
		t.Fatal(err)
	}
	var out []db.Email
	for i := len(all) - 1; i >= 0; i-- {
		if all[i].Kind == kind {
			out = append(out, all[i])
		}
	}
	return out
}

func (f *fixture) timelineSays(t testing.TB, linkID int64, want string) bool {
	t.Helper()
	evs, err := f.st.LinkTimeline(context.Background(), linkID)
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

// pay ingests a verified StableMint event with effect for link l, with
// event id key.
func (f *fixture) event(t testing.TB, key string, effect paylink.Effect, l db.Link, minor int64) []db.WebhookResult {
	t.Helper()
	res, err := f.st.IngestWebhooks(context.Background(), []db.WebhookDelivery{{
		IP: "192.0.2.7", RequestID: "req-" + key, BodySHA256: "sha-" + key, BodySize: 42,
		SigTimestamp: "2026-12-01T10:00:00Z", Signature: "c2ln",
		Event: db.WebhookEventData{
			Key: key, Parsed: true, Family: "v2", Type: "partner.customer.deposit." + string(effect), Effect: effect,
			SessionID: l.SMReference, IdempotencyKey: l.IdempotencyKey, WebsiteReference: l.WebsiteReference,
			AmountRaw: fmt.Sprintf("%d.%02d", minor/100, minor%100), Currency: "EUR", AmountMinor: minor, AmountKnown: true,
			Exponent: 2, Body: []byte(`{"eventId":"` + key + `"}`),
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func (f *fixture) setSettings(t testing.TB, change func(*db.Settings)) {
	t.Helper()
	ctx := context.Background()
	st, err := f.st.GetSettings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	change(&st)
	if err := f.st.SaveSettings(ctx, st, f.user.ID, db.AuditEntry{Action: "settings.change", ActorID: f.user.ID}); err != nil {
		t.Fatal(err)
	}
}
