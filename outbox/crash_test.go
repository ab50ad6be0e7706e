package outbox_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/internal/testkit"
)

// The crash test of the reminder job: a second process (this test binary,
// re-run as TestReminderCrashChild) runs the reminder job on the same
// SQLite file and is killed with SIGKILL at a random moment of each round,
// while it is queueing reminders; the parent then runs the job itself to
// finish the round. Every link must end with each reminder exactly once:
// one outbox row, one timeline line and one audit entry per reminder
// number, and its count of reminders sent equal to them.
//
// cmd/paylinks's crash test (crash_test.go) kills `paylinks serve` amid
// webhooks and minting; reminders are due only after hours, so they are
// killed here, on a fake clock the child reads from its environment.

const (
	crashChildDB  = "PAYLINKS_REMIND_CRASH_DB"
	crashChildNow = "PAYLINKS_REMIND_CRASH_NOW"
)

// TestReminderCrashChild is the child process; it does nothing unless the
// crash test started it.
func TestReminderCrashChild(t *testing.T) {
	path := os.Getenv(crashChildDB)
	if path == "" {
		t.Skip("run by TestRemindersExactlyOnceAcrossKill9")
	}
	now, err := time.Parse(time.RFC3339Nano, os.Getenv(crashChildNow))
	if err != nil {
		t.Fatal(err)
	}
	clock := testkit.NewClock(now)
	st, err := db.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	st.Now = clock.Now
	r := reminders(st, clock)
	fmt.Println("child: running")
	for { // until killed
		if _, err := r.RunOnce(context.Background()); err != nil {
			fmt.Println("child:", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRemindersExactlyOnceAcrossKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes and kills them")
	}
	const links, rounds = 120, 4
	f := newFixture(t)
	rule := db.ReminderRule{AfterEmail: true, AfterDays: 1, BeforeHours: 24, Max: rounds}
	f.setSettings(t, func(s *db.Settings) { s.Reminders = &rule })
	var ls []db.Link
	for range links {
		l := f.openLink(t, f.user.ID, t0.Add(30*24*time.Hour))
		f.emailCustomer(t, l)
		ls = append(ls, l)
	}
	ctx := context.Background()
	countReminders := func() int {
		n := 0
		for _, l := range ls {
			n += len(f.emailsOf(t, l.ID, db.KindReminder))
		}
		return n
	}
	for round := 1; round <= rounds; round++ {
		f.clock.Set(t0.Add(time.Duration(round) * 24 * time.Hour))
		cmd := exec.Command(os.Args[0], "-test.run=^TestReminderCrashChild$")
		cmd.Env = append(os.Environ(), crashChildDB+"="+f.path, crashChildNow+"="+f.clock.Now().Format(time.RFC3339Nano))
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		before := countReminders()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill once the child has queued something, at a random moment
		// after that (it commits one reminder every few milliseconds).
		testkit.WaitFor(t, "the child to queue a reminder", func() bool { return countReminders() > before })
		time.Sleep(time.Duration(rand.IntN(40)) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		err := cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("child ended with %v, want killed by SIGKILL; output:\n%s", err, out.String())
		}
		atKill := countReminders() - before
		n, err := reminders(f.st, f.clock).RunOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("round %d: the child queued %d of %d before kill -9, the parent the other %d", round, atKill, links, n)
		if atKill+n != links {
			t.Fatalf("round %d: %d + %d reminders queued, want %d", round, atKill, n, links)
		}
	}
	for _, l := range ls {
		rem := f.emailsOf(t, l.ID, db.KindReminder)
		rs, err := f.st.LinkReminders(ctx, l.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(rem) != rounds || rs.Sent != rounds {
			t.Fatalf("link %d: %d reminder rows, %d counted as sent; want %d", l.ID, len(rem), rs.Sent, rounds)
		}
		for i := 1; i <= rounds; i++ {
			if !f.timelineSays(t, l.ID, fmt.Sprintf("(reminder %d of at most %d)", i, rounds)) {
				t.Fatalf("link %d: reminder %d is not on the timeline", l.ID, i)
			}
		}
	}
	entries, err := f.st.ListAudit(ctx, 10000)
	if err != nil {
		t.Fatal(err)
	}
	audited := 0
	for _, e := range entries {
		if e.Action == "email.reminder" {
			audited++
		}
	}
	if audited != links*rounds {
		t.Fatalf("%d reminder audit entries, want %d", audited, links*rounds)
	}
}
