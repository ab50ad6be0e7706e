//go:build unix

package outbound_test

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/outbound"
)

// Two paylinks processes on one database file (two stores, two workers,
// one lock file): only the worker holding the delivery lock delivers,
// every message once; when it stops, the other takes over at its next
// turn and at once re-sends what the stopped one had claimed and not
// recorded, instead of waiting for the lease to run out.
func TestOneDeliveringProcessPerDatabase(t *testing.T) {
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	fa := newFixture(t, start)
	ctx := context.Background()
	// A second store on the same file: another process's pools and lease
	// prefix.
	stB, err := db.Open(ctx, fa.st.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer stB.Close()
	stB.Now = fa.clock.Now

	rc := &receiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	ep := fa.endpoint(t, srv.URL+"/hook")
	const n = 40
	for range n {
		if _, err := fa.st.SendOutboundTest(ctx, ep.ID, db.AuditEntry{Action: "test"}); err != nil {
			t.Fatal(err)
		}
	}

	lock := filepath.Join(t.TempDir(), "hooks.db.webhooks-lock")
	guard := &outbound.Guard{Sandbox: true}
	a := outbound.New(fa.st, outbound.Options{Guard: guard, Now: fa.clock.Now, LockPath: lock})
	b := outbound.New(stB, outbound.Options{Guard: guard, Now: fa.clock.Now, LockPath: lock})
	defer b.Close()

	if got := drain(t, a); got != n {
		t.Fatalf("the first worker made %d attempts, want %d", got, n)
	}
	for range 20 {
		if _, err := fa.st.SendOutboundTest(ctx, ep.ID, db.AuditEntry{Action: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	// Both drain at once, as two processes' jobs would.
	var wg sync.WaitGroup
	made := make([]int, 2)
	for i, w := range []*outbound.Worker{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if made[i], err = w.Drain(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if made[0] != 20 || made[1] != 0 {
		t.Errorf("attempts: holder %d, other %d; want 20 and 0", made[0], made[1])
	}
	counts := map[string]int{}
	for _, g := range rc.all() {
		counts[g.ID]++
	}
	if len(counts) != n+20 {
		t.Errorf("%d distinct messages received, want %d", len(counts), n+20)
	}
	for id, c := range counts {
		if c != 1 {
			t.Errorf("%s delivered %d times", id, c)
		}
	}

	// The holder claims one message and dies before recording it.
	if _, err := fa.st.SendOutboundTest(ctx, ep.ID, db.AuditEntry{Action: "test"}); err != nil {
		t.Fatal(err)
	}
	claimed, err := fa.st.ClaimOutbound(ctx, 1, 4, outbound.DefaultLease)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v, %d", err, len(claimed))
	}
	a.Close()
	if got := drain(t, b); got != 1 {
		t.Fatalf("the standby made %d attempts after the holder stopped, want 1 (the dead lease freed)", got)
	}
	m, err := stB.OutboundMessageByID(ctx, claimed[0].ID)
	if err != nil || m.Status != db.OutboundDelivered {
		t.Errorf("the dead process's message: %q %v", m.Status, err)
	}
}
