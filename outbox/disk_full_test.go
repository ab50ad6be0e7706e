package outbox_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/internal/testkit"
	"github.com/paylinks/paylinks/mail"
	"github.com/paylinks/paylinks/outbox"
	"github.com/paylinks/paylinks/paylink"
)

// fillAfterSend is an SMTP sender that fills the disk once the server has
// taken the message, before paylinks records it as sent.
type fillAfterSend struct {
	outbox.Sender
	fill func()
}

func (f fillAfterSend) Send(ctx context.Context, m mail.Message) (string, error) {
	reply, err := f.Sender.Send(ctx, m)
	f.fill()
	return reply, err
}

// TestMailServerTookItButTheDiskRefusedTheRecord: the mail server answers
// 250, then the disk is full, so "sent" cannot be recorded. While the
// process lives the message is never sent again: not while the disk stays
// full, not after its lease runs out, and once space returns it is
// recorded as sent, once, on a real SMTP conversation and a real disk.
func TestMailServerTookItButTheDiskRefusedTheRecord(t *testing.T) {
	dir := testkit.SmallDisk(t, 16<<20)
	clock := testkit.NewClock(t0)
	f := &fixture{st: openStore(t, filepath.Join(dir, "paylinks.db"), clock), clock: clock}
	f.user = f.newUser(t, paylink.RoleFinance)
	l := f.openLink(t, f.user.ID, t0.Add(24*time.Hour))
	e := f.emailCustomer(t, l)

	srv, sender := smtpServer(t)
	var free func()
	m := outbox.NewMailer(f.st, outbox.Config{Sender: fillAfterSend{Sender: sender, fill: func() {
		if free == nil {
			free = testkit.FillDisk(t, dir)
		}
	}}, Now: clock.Now, Backoff: func(int) time.Duration { return time.Minute }})

	if _, err := m.ProcessOne(context.Background()); err == nil {
		t.Fatal("recording on a full disk reported no error")
	}
	if got := len(srv.Messages()); got != 1 {
		t.Fatalf("%d messages reached the server", got)
	}
	// The worker goes on turning while the disk is full, past the lease.
	for range 5 {
		clock.Advance(outbox.DefaultLease)
		_, _ = m.Drain(context.Background())
	}
	if got := len(srv.Messages()); got != 1 {
		t.Fatalf("the message went %d times while the process lived", got)
	}
	free()
	clock.Advance(outbox.DefaultLease)
	f.drain(t, m)
	if got := len(srv.Messages()); got != 1 {
		t.Fatalf("the message went %d times", got)
	}
	got, err := f.st.EmailByID(context.Background(), e.ID)
	if err != nil || got.Status != db.EmailSent {
		t.Fatalf("email %d is %q once space returned (%v)", e.ID, got.Status, err)
	}
}
