package outbox_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/paylink"
)

func runNotify(t testing.TB, f *fixture) int {
	t.Helper()
	n, err := notifier(f.st, f.clock).RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func staffEmails(t testing.TB, f *fixture) []db.Email {
	t.Helper()
	es, err := f.st.StaffEmails(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	return es
}

func to(es []db.Email) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.ToAddr)
	}
	return out
}

func setNotify(t testing.TB, f *fixture, u db.User, pref string) {
	t.Helper()
	if err := f.st.SetNotifyPreference(context.Background(), u.ID, pref, db.AuditEntry{Action: "user.notify", ActorID: u.ID}); err != nil {
		t.Fatal(err)
	}
}

// TestPaidLinkNotifiesItsCreatorOnce: a payment emails the link's creator
// once, at once; the same webhook again, a second paid event and the job
// running again send nothing more. The email carries no KYC data and is
// sent although the link is paid (no customer-email check for staff).
func TestPaidLinkNotifiesItsCreatorOnce(t *testing.T) {
	f := newFixture(t)
	l := f.openLink(t, f.user.ID, t0.Add(72*time.Hour))
	f.event(t, "paid-1", paylink.EffectPaid, l, 950)
	if n := runNotify(t, f); n != 1 {
		t.Fatalf("%d notifications queued, want 1", n)
	}
	if res := f.event(t, "paid-1", paylink.EffectPaid, l, 950); !res[0].Duplicate {
		t.Fatal("the repeated webhook was not a duplicate")
	}
	f.event(t, "paid-2", paylink.EffectPaid, l, 950) // another event saying the same
	for range 3 {
		if n := runNotify(t, f); n != 0 {
			t.Fatalf("%d more notifications queued", n)
		}
	}
	es := staffEmails(t, f)
	if len(es) != 1 || es[0].ToAddr != f.user.Email || es[0].Kind != db.KindStaff || es[0].LinkID != 0 ||
		!strings.HasPrefix(es[0].Subject, "Paid: Link #") || !strings.Contains(es[0].Text, "https://desk.acme.example/links/") {
		t.Fatalf("staff emails: %+v", es)
	}
	if strings.Contains(es[0].Text, "ada@example.com") || strings.Contains(es[0].HTML, "ada@example.com") {
		t.Fatal("the notification carries the customer's email address")
	}
	m := f.mailer(nil)
	f.drain(t, m)
	if e, _ := f.st.EmailByID(context.Background(), es[0].ID); e.Status != db.EmailKept {
		t.Fatalf("the notification about a paid link was %s (%s), want kept in the local mailbox", e.Status, e.LastError)
	}
	if got := f.emailsOf(t, l.ID, db.KindStaff); len(got) != 0 {
		t.Fatal("a staff notification is listed among the link's customer emails")
	}
}

// TestNotificationChoices: immediately, digest, off and team addresses.
func TestNotificationChoices(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	digest, off := f.newUser(t, paylink.RoleFinance), f.newUser(t, paylink.RoleFinance)
	setNotify(t, f, digest, db.NotifyDigest)
	setNotify(t, f, off, db.NotifyOff)
	f.setSettings(t, func(s *db.Settings) { s.NotifyTeam = []string{"team@acme.example", "Team@Acme.example"} })

	mine := f.openLink(t, f.user.ID, t0.Add(72*time.Hour))
	dl := f.openLink(t, digest.ID, t0.Add(72*time.Hour))
	dl2 := f.openLink(t, digest.ID, t0.Add(72*time.Hour))
	ol := f.openLink(t, off.ID, t0.Add(72*time.Hour))
	f.event(t, "p-mine", paylink.EffectPaid, mine, 950)
	f.event(t, "p-dl", paylink.EffectPaid, dl, 950)
	f.event(t, "f-dl2", paylink.EffectFailed, dl2, 950)
	f.event(t, "p-ol", paylink.EffectPaid, ol, 990) // the amount differs: needs attention
	if n := runNotify(t, f); n != 5 {
		t.Fatalf("%d immediate notifications, want 5: %v", n, to(staffEmails(t, f)))
	}
	count := map[string]int{}
	for _, e := range staffEmails(t, f) {
		count[e.ToAddr]++
	}
	if count[f.user.Email] != 1 || count["team@acme.example"] != 4 || count[digest.Email] != 0 || count[off.Email] != 0 {
		t.Fatalf("immediate notifications by address: %v", count)
	}

	digests := notifier(f.st, f.clock)
	if n, err := digests.RunDigests(ctx); err != nil || n != 0 {
		t.Fatalf("a digest before the day ended: %d %v", n, err)
	}
	f.clock.Advance(24 * time.Hour)
	for i := range 3 {
		n, err := digests.RunDigests(ctx)
		if err != nil || (i == 0 && n != 1) || (i > 0 && n != 0) {
			t.Fatalf("digest run %d: %d %v", i, n, err)
		}
	}
	var got []db.Email
	for _, e := range staffEmails(t, f) {
		if e.ToAddr == digest.Email {
			got = append(got, e)
		}
	}
	if len(got) != 1 || !strings.Contains(got[0].Subject, "2 update(s)") || !strings.Contains(got[0].Text, "Payment failed") ||
		!strings.Contains(got[0].Text, "Paid") {
		t.Fatalf("the digest: %+v", got)
	}
	for _, e := range staffEmails(t, f) {
		if e.ToAddr == off.Email {
			t.Fatal("the user who chose off was emailed")
		}
	}
}

// TestAttentionEvents: paid after cancel and paid after expiry each tell
// the creator, as needing attention.
func TestAttentionEvents(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	cancelled := f.openLink(t, f.user.ID, t0.Add(72*time.Hour))
	if _, err := f.st.CancelLink(ctx, cancelled.ID, f.user.ID, "Paid another way", db.AuditEntry{}); err != nil {
		t.Fatal(err)
	}
	f.event(t, "late-pay", paylink.EffectPaid, cancelled, 950)
	if n := runNotify(t, f); n != 1 {
		t.Fatalf("%d notifications, want 1", n)
	}
	es := staffEmails(t, f)
	if !strings.HasPrefix(es[0].Subject, "Needs attention") || !strings.Contains(es[0].Text, "after the link was cancelled") {
		t.Fatalf("paid after cancel: %q %q", es[0].Subject, es[0].Text)
	}
}

// TestNotificationsViewerAndDisabledCreatorsGetNone: a creator who became
// a viewer (or was disabled) is not emailed.
func TestNotificationsViewerCreatorGetsNone(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	l := f.openLink(t, f.user.ID, t0.Add(72*time.Hour))
	if err := f.st.SetUserRole(ctx, f.user.ID, paylink.RoleViewer, db.AuditEntry{Action: "user.role"}); err != nil {
		t.Fatal(err)
	}
	f.event(t, "paid-v", paylink.EffectPaid, l, 950)
	if n := runNotify(t, f); n != 0 {
		t.Fatalf("a viewer got %d notifications", n)
	}
}
