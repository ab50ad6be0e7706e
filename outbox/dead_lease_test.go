package outbox_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/outbox"
)

// TestARestartFreesADeadProcesssLeasesAtOnce: a process claims an email
// and dies before reporting. The next process to start takes the mailer
// lock, frees that lease at once (the email reads "waiting to retry" and
// goes now, not after 5 minutes), says so on the link's timeline, and
// sends it; the dead process's late report would not count. A process
// that cannot take the lock (another is sending) frees nothing.
func TestARestartFreesADeadProcesssLeasesAtOnce(t *testing.T) {
	f := newFixture(t)
	l := f.openLink(t, f.user.ID, t0.Add(24*3600e9))
	e := f.emailCustomer(t, l)
	ctx := context.Background()

	// The first process claims it and dies mid-send.
	dead, err := f.st.ClaimEmail(ctx, outbox.DefaultLease, outbox.DefaultAttempts)
	if err != nil || dead.ID != e.ID {
		t.Fatalf("claim: %+v %v", dead, err)
	}

	// The next process: its own Store on the same file, its own mailer.
	st2 := openStore(t, f.path, f.clock)
	lock := filepath.Join(filepath.Dir(f.path), "paylinks.db.mailer-lock")
	srv, sender := smtpServer(t)
	m2 := outbox.NewMailer(st2, outbox.Config{Sender: sender, Now: f.clock.Now, LockPath: lock})
	defer m2.Close()

	if err := m2.Job().AtStart(ctx); err != nil {
		t.Fatal(err)
	}
	if got := srv.WaitFor(1, 5e9); len(got) != 1 {
		t.Fatalf("the restarted process sent %d messages at start, want the dead process's one", len(got))
	}

	sent, err := st2.EmailByID(ctx, e.ID)
	if err != nil || sent.Status != db.EmailSent {
		t.Fatalf("email after restart: %q %v", sent.Status, err)
	}
	if !f.timelineSays(t, l.ID, "the paylinks process that was sending it stopped; it is tried again now") {
		t.Fatal("the timeline does not say why the email went again")
	}
	if err := f.st.MarkEmailSent(ctx, dead, "250 late"); !errors.Is(err, db.ErrConflict) {
		t.Fatalf("the dead process's late report: %v", err)
	}
	if n := len(srv.Messages()); n != 1 || !strings.Contains(string(srv.Messages()[0].Data), "Pay here") {
		t.Fatalf("%d messages", n)
	}

	// While a live process (m2) holds the lock, a third one starting frees
	// nothing: the lease may be m2's, sending right now.
	e2 := f.emailCustomer(t, l)
	if held, err := st2.ClaimEmail(ctx, outbox.DefaultLease, outbox.DefaultAttempts); err != nil || held.ID != e2.ID {
		t.Fatalf("claim by the live process: %+v %v", held, err)
	}
	st3 := openStore(t, f.path, f.clock)
	third := outbox.NewMailer(st3, outbox.Config{Sender: sender, Now: f.clock.Now, LockPath: lock})
	defer third.Close()
	if err := third.Job().AtStart(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := st3.EmailByID(ctx, e2.ID); got.Status != db.EmailQueued || got.LockedUntil.IsZero() {
		t.Fatalf("a live process's lease was freed: %q, locked until %v", got.Status, got.LockedUntil)
	}
	if n := len(srv.Messages()); n != 1 {
		t.Fatalf("%d messages: the live process's email was sent by another", n)
	}
}
