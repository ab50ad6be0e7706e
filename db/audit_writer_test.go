package db_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/paylinks/paylinks/db"
)

// Read audits queued from many goroutines, beside entries written at once
// (as a change's are), are all stored, in one intact chain: Flush commits
// what is queued, and Close what is left, before the store closes.
func TestAuditWriterKeepsTheChain(t *testing.T) {
	st := mustOpenDB(t)
	ctx := context.Background()
	w := st.NewAuditWriter(time.Hour, 16, func(n int, err error) { t.Errorf("%d entries lost: %v", n, err) })
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				if err := w.Add(ctx, db.AuditEntry{Action: "api.read", Target: fmt.Sprintf("/api/v1/links/%d-%d", g, i)}); err != nil {
					t.Error(err)
				}
				if i%10 == 0 {
					if err := st.Audit(ctx, db.AuditEntry{Action: "link.create"}); err != nil {
						t.Error(err)
					}
				}
			}
		}()
	}
	wg.Wait()
	w.Flush() // the linger is an hour: only Flush (and full batches) commit
	count := func() (reads, writes int) {
		entries, err := st.ListAudit(ctx, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			switch e.Action {
			case "api.read":
				reads++
			case "link.create":
				writes++
			}
		}
		return
	}
	if r, wr := count(); r != 100 || wr != 12 {
		t.Errorf("after Flush: %d reads and %d writes stored, want 100 and 12", r, wr)
	}
	if err := w.Add(ctx, db.AuditEntry{Action: "api.read", Target: "last"}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if r, _ := count(); r != 101 {
		t.Errorf("after Close: %d reads stored, want 101", r)
	}
	rep, err := st.VerifyAudit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Errorf("the chain does not verify: %+v", rep)
	}
	// Closed, it writes at once.
	if err := w.Add(ctx, db.AuditEntry{Action: "api.read", Target: "after close"}); err != nil {
		t.Fatal(err)
	}
	if r, _ := count(); r != 102 {
		t.Errorf("after Close, an entry is written at once: %d reads, want 102", r)
	}
}
