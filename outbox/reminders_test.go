package outbox_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/mail"
	"github.com/paylinks/paylinks/mail/smtptest"
	"github.com/paylinks/paylinks/paylink"
)

func runReminders(t testing.TB, f *fixture) int {
	t.Helper()
	n, err := reminders(f.st, f.clock).RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestReminderIsScheduledBeforeExpiryAndSentOnce: with the default rule a
// link emailed at t0 that expires 72 h later is reminded once, 24 h before
// its expiry, through the outbox, on its timeline, and never again.
func TestReminderIsScheduledBeforeExpiryAndSentOnce(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	l := f.openLink(t, f.user.ID, t0.Add(72*time.Hour))
	if rs, _ := f.st.LinkReminders(ctx, l.ID); !rs.RemindAt.IsZero() {
		t.Fatalf("a link never emailed has a reminder due at %v", rs.RemindAt)
	}
	f.emailCustomer(t, l)
	rs, err := f.st.LinkReminders(ctx, l.ID)
	if err != nil || !rs.RemindAt.Equal(t0.Add(48*time.Hour)) || rs.ToAddr != "ada@example.com" {
		t.Fatalf("schedule after the first email: %+v %v; want due %v", rs, err, t0.Add(48*time.Hour))
	}
	m := f.mailer(nil)
	f.drain(t, m) // the first email

	f.clock.Advance(48*time.Hour - time.Second)
	if n := runReminders(t, f); n != 0 {
		t.Fatalf("%d reminder(s) queued a second early", n)
	}
	f.clock.Advance(time.Second)
	if n := runReminders(t, f); n != 1 {
		t.Fatalf("%d reminders queued when due, want 1", n)
	}
	for range 3 {
		f.clock.Advance(6 * time.Hour)
		if n := runReminders(t, f); n != 0 {
			t.Fatalf("another reminder queued at %v", f.clock.Now())
		}
	}
	f.drain(t, m)
	rem := f.emailsOf(t, l.ID, db.KindReminder)
	if len(rem) != 1 || rem[0].Status != db.EmailKept || !strings.HasPrefix(rem[0].Subject, "Reminder: your payment link from Acme") ||
		rem[0].ToAddr != "ada@example.com" || !strings.Contains(rem[0].Text, l.CheckoutURL) {
		t.Fatalf("reminders: %+v", rem)
	}
	if !f.timelineSays(t, l.ID, "(reminder 1 of at most 2)") {
		t.Fatal("the timeline does not show the reminder")
	}
	if rs, _ := f.st.LinkReminders(ctx, l.ID); rs.Sent != 1 || !rs.RemindAt.IsZero() {
		t.Fatalf("after the only reminder: %+v", rs)
	}
}

// TestRemindersStopAtTheMaximum: every day after the first email and a
// day before expiry, at most 3: hourly job runs over the link's ten days
// queue exactly 3, each on its day.
func TestRemindersStopAtTheMaximum(t *testing.T) {
	f := newFixture(t)
	rule := db.ReminderRule{BeforeExpiry: true, BeforeHours: 24, AfterEmail: true, AfterDays: 1, Max: 3}
	f.setSettings(t, func(s *db.Settings) { s.Reminders = &rule })
	l := f.openLink(t, f.user.ID, t0.Add(10*24*time.Hour))
	f.emailCustomer(t, l)
	var at []time.Time
	for f.clock.Now().Before(t0.Add(10 * 24 * time.Hour)) {
		f.clock.Advance(time.Hour)
		if runReminders(t, f) == 1 {
			at = append(at, f.clock.Now())
		}
	}
	want := []time.Time{t0.Add(24 * time.Hour), t0.Add(48 * time.Hour), t0.Add(72 * time.Hour)}
	if len(at) != 3 || !at[0].Equal(want[0]) || !at[1].Equal(want[1]) || !at[2].Equal(want[2]) {
		t.Fatalf("reminders queued at %v, want %v", at, want)
	}
	if got := f.emailsOf(t, l.ID, db.KindReminder); len(got) != 3 {
		t.Fatalf("%d reminder rows, want 3", len(got))
	}
}

// TestReminderStoppedByPaymentBetweenQueueingAndSending: the reminder is
// queued while the link is open, the customer pays before the worker gets
// to it, and the worker does not send it (checked at send time); the
// schedule then ends.
func TestReminderStoppedByPaymentBetweenQueueingAndSending(t *testing.T) {
	f := newFixture(t)
	srv, sender := smtpServer(t)
	l := f.openLink(t, f.user.ID, t0.Add(72*time.Hour))
	f.emailCustomer(t, l)
	m := f.mailer(sender)
	f.drain(t, m)
	before := len(srv.Messages())

	f.clock.Advance(48 * time.Hour)
	if n := runReminders(t, f); n != 1 {
		t.Fatalf("%d reminders queued, want 1", n)
	}
	f.event(t, "pay-1", paylink.EffectPaid, l, 950)
	f.drain(t, m)
	rem := f.emailsOf(t, l.ID, db.KindReminder)
	if len(rem) != 1 || rem[0].Status != db.EmailCancelled || !strings.Contains(rem[0].LastError, "is paid") {
		t.Fatalf("the reminder after payment: %+v", rem)
	}
	if got := len(srv.Messages()); got != before {
		t.Fatalf("the SMTP server received %d message(s) after the payment", got-before)
	}
	if !f.timelineSays(t, l.ID, "not sent: the link is paid") {
		t.Fatal("the timeline does not say why the reminder was not sent")
	}
}

// TestReminderStoppedAtSchedulingTime: a link paid, cancelled or expired
// before its reminder is due gets none, and its timeline says why.
func TestReminderStoppedAtSchedulingTime(t *testing.T) {
	ctx := context.Background()
	for name, end := range map[string]func(f *fixture, l db.Link){
		"paid": func(f *fixture, l db.Link) { f.event(t, "pay-"+l.SMReference, paylink.EffectPaid, l, 950) },
		"processing": func(f *fixture, l db.Link) {
			f.event(t, "proc-"+l.SMReference, paylink.EffectProcessing, l, 950)
		},
		"cancelled": func(f *fixture, l db.Link) {
			if _, err := f.st.CancelLink(ctx, l.ID, f.user.ID, "Paid another way", db.AuditEntry{}); err != nil {
				t.Fatal(err)
			}
		},
		"failed": func(f *fixture, l db.Link) { f.event(t, "fail-"+l.SMReference, paylink.EffectFailed, l, 950) },
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			l := f.openLink(t, f.user.ID, t0.Add(72*time.Hour))
			f.emailCustomer(t, l)
			f.clock.Advance(time.Hour)
			end(f, l)
			f.clock.Advance(47 * time.Hour)
			if n := runReminders(t, f); n != 0 {
				t.Fatalf("%d reminders queued for a %s link", n, name)
			}
			if got := f.emailsOf(t, l.ID, db.KindReminder); len(got) != 0 {
				t.Fatalf("reminder rows: %+v", got)
			}
			if !f.timelineSays(t, l.ID, "Reminder 1 not queued: the link") {
				t.Fatal("the timeline does not say the reminder was stopped")
			}
			if rs, _ := f.st.LinkReminders(ctx, l.ID); !rs.RemindAt.IsZero() {
				t.Fatalf("still due at %v", rs.RemindAt)
			}
		})
	}
}

// TestReminderQueuedThenLinkCancelled: cancelling stops a queued reminder
// at once (db.Store.CancelLink), and the worker has nothing to send.
func TestReminderQueuedThenLinkCancelled(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	l := f.openLink(t, f.user.ID, t0.Add(72*time.Hour))
	f.emailCustomer(t, l)
	m := f.mailer(nil)
	f.drain(t, m)
	f.clock.Advance(48 * time.Hour)
	if runReminders(t, f) != 1 {
		t.Fatal("no reminder queued")
	}
	res, err := f.st.CancelLink(ctx, l.ID, f.user.ID, "No longer owed", db.AuditEntry{})
	if err != nil || res.EmailsStopped != 1 {
		t.Fatalf("cancel: %+v %v", res, err)
	}
	f.drain(t, m)
	rem := f.emailsOf(t, l.ID, db.KindReminder)
	if len(rem) != 1 || rem[0].Status != db.EmailCancelled {
		t.Fatalf("the reminder after cancel: %+v", rem)
	}
}

// TestRemindersExactlyOnceAcrossConcurrentRuns: two processes' worth of
// jobs (two Stores on one SQLite file), each running its reminder job
// several times at once over 30 due links, queue exactly one reminder per
// link.
func TestRemindersExactlyOnceAcrossConcurrentRuns(t *testing.T) {
	f := newFixture(t)
	other := openStore(t, f.path, f.clock)
	var ls []db.Link
	for range 30 {
		l := f.openLink(t, f.user.ID, t0.Add(72*time.Hour))
		f.emailCustomer(t, l)
		ls = append(ls, l)
	}
	f.clock.Advance(48 * time.Hour)
	var wg sync.WaitGroup
	total := make([]int, 6)
	for i := range total {
		st := f.st
		if i%2 == 1 {
			st = other
		}
		wg.Go(func() {
			n, err := reminders(st, f.clock).RunOnce(context.Background())
			if err != nil {
				t.Error(err)
			}
			total[i] = n
		})
	}
	wg.Wait()
	sum := 0
	for _, n := range total {
		sum += n
	}
	if sum != len(ls) {
		t.Fatalf("the runs queued %d reminders in all (%v), want %d", sum, total, len(ls))
	}
	for _, l := range ls {
		if got := f.emailsOf(t, l.ID, db.KindReminder); len(got) != 1 {
			t.Fatalf("link %d has %d reminders", l.ID, len(got))
		}
	}
}

// TestReminderRefusedBySMTPFailsVisiblyOnTheLink: a reminder whose
// recipient the server refuses for good fails, and the link's email
// history and timeline say so with the server's words.
func TestReminderRefusedBySMTPFailsVisiblyOnTheLink(t *testing.T) {
	f := newFixture(t)
	srv, sender := smtpServer(t)
	l := f.openLink(t, f.user.ID, t0.Add(72*time.Hour))
	f.emailCustomer(t, l)
	m := f.mailer(sender)
	f.drain(t, m)
	f.clock.Advance(48 * time.Hour)
	if runReminders(t, f) != 1 {
		t.Fatal("no reminder queued")
	}
	srv.RefuseRecipients(1, 550, "5.1.1 No such user here")
	f.drain(t, m)
	rem := f.emailsOf(t, l.ID, db.KindReminder)
	if len(rem) != 1 || rem[0].Status != db.EmailFailed || !strings.Contains(rem[0].LastError, "No such user") {
		t.Fatalf("the refused reminder: %+v", rem)
	}
	if !f.timelineSays(t, l.ID, "failed") || !f.timelineSays(t, l.ID, "No such user") {
		t.Fatal("the timeline does not show the failed reminder")
	}
	if failed, _ := f.st.FailedEmails(context.Background(), 10); len(failed) != 1 || failed[0].ID != rem[0].ID {
		t.Fatalf("needs attention lists %+v", failed)
	}
}

// TestLinkOverrideAndSettingsReschedule: a link's own rule replaces the
// settings' one, and a settings change moves the links that follow it.
func TestLinkOverrideAndSettingsReschedule(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	own := f.openLink(t, f.user.ID, t0.Add(72*time.Hour))
	follows := f.openLink(t, f.user.ID, t0.Add(72*time.Hour))
	f.emailCustomer(t, own)
	f.emailCustomer(t, follows)
	off := db.ReminderRule{BeforeExpiry: false, BeforeHours: 24, AfterEmail: false, AfterDays: 3, Max: 2}
	if err := f.st.SetLinkReminders(ctx, own.ID, &off, f.user.ID, db.AuditEntry{}); err != nil {
		t.Fatal(err)
	}
	if rs, _ := f.st.LinkReminders(ctx, own.ID); rs.Override == nil || !rs.RemindAt.IsZero() {
		t.Fatalf("a link with reminders off: %+v", rs)
	}
	rule := db.ReminderRule{BeforeExpiry: true, BeforeHours: 36, Max: 1, AfterDays: 3}
	f.setSettings(t, func(s *db.Settings) { s.Reminders = &rule })
	if rs, _ := f.st.LinkReminders(ctx, follows.ID); !rs.RemindAt.Equal(t0.Add(36 * time.Hour)) {
		t.Fatalf("after the settings changed, due at %v, want %v", rs.RemindAt, t0.Add(36*time.Hour))
	}
	if err := f.st.SetLinkReminders(ctx, own.ID, nil, f.user.ID, db.AuditEntry{}); err != nil {
		t.Fatal(err)
	}
	if rs, _ := f.st.LinkReminders(ctx, own.ID); rs.Override != nil || !rs.RemindAt.Equal(t0.Add(36*time.Hour)) {
		t.Fatalf("back on the settings' rule: %+v", rs)
	}
	if !f.timelineSays(t, own.ID, "Reminders set to the settings' rule.") {
		t.Fatal("the timeline does not show the change")
	}
}

func smtpServer(t *testing.T) (*smtptest.Server, *mail.SMTP) {
	t.Helper()
	srv, err := smtptest.Start(smtptest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	sender, err := mail.NewSMTP(mail.SMTPConfig{Host: "127.0.0.1", Port: srv.Port(), Security: mail.PlainText,
		Timeout: 5 * time.Second, HELO: "paylinks.test"})
	if err != nil {
		t.Fatal(err)
	}
	return srv, sender
}

// TestReminderCarriesTheMerchantsBrand: a reminder comes from the company
// named in Settings, not the first-run default, with its accent colour on
// the Pay button, as the first email does.
func TestReminderCarriesTheMerchantsBrand(t *testing.T) {
	f := newFixture(t)
	f.setSettings(t, func(st *db.Settings) { st.CompanyName, st.AccentColor = "Zenith GmbH", "#1f5fbf" })
	l := f.openLink(t, f.user.ID, t0.Add(72*time.Hour))
	f.emailCustomer(t, l)
	f.clock.Advance(48 * time.Hour)
	if n := runReminders(t, f); n != 1 {
		t.Fatalf("%d reminders queued, want 1", n)
	}
	rem := f.emailsOf(t, l.ID, db.KindReminder)
	if len(rem) != 1 || !strings.Contains(rem[0].Subject, "from Zenith GmbH") || rem[0].FromName != "Zenith GmbH" ||
		!strings.Contains(rem[0].HTML, "background:#1f5fbf") || strings.Contains(rem[0].Text, "Acme") {
		t.Fatalf("reminder: from %q, subject %q, html has the accent: %v", rem[0].FromName, rem[0].Subject, strings.Contains(rem[0].HTML, "#1f5fbf"))
	}
}
