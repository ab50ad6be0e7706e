package db_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/paylinks/paylinks/db"
)

func auditIDs(p db.AuditPage) []int64 {
	var out []int64
	for _, e := range p.Entries {
		out = append(out, e.ID)
	}
	return out
}

func TestSearchAuditFilters(t *testing.T) {
	st := mustOpenDB(t)
	ctx := context.Background()
	day := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	add := func(d int, actor int64, email, action, outcome string) {
		t.Helper()
		st.Now = func() time.Time { return day.AddDate(0, 0, d) }
		if err := st.Audit(ctx, db.AuditEntry{ActorID: actor, ActorEmail: email, Action: action, Outcome: outcome}); err != nil {
			t.Fatal(err)
		}
	}
	add(0, 1, "ada@example.com", "login", "ok")            // 1
	add(0, 2, "bob@example.com", "login", "failed")        // 2
	add(1, 1, "ada@example.com", "user.create", "ok")      // 3
	add(2, 1, "ada@example.com", "user.role", "ok")        // 4
	add(3, 0, "", "webhook.rejected", "denied")            // 5
	add(4, 2, "bob@example.com", "links.export", "ok")     // 6
	add(5, 1, "ada@example.com", "authz.denied", "denied") // 7

	cases := []struct {
		name string
		q    db.AuditQuery
		want []int64
	}{
		{"everything, newest first", db.AuditQuery{}, []int64{7, 6, 5, 4, 3, 2, 1}},
		{"actor by id", db.AuditQuery{ActorID: 2}, []int64{6, 2}},
		{"actor by email, any case", db.AuditQuery{ActorEmail: "ADA@example.com"}, []int64{7, 4, 3, 1}},
		{"action exactly", db.AuditQuery{Action: "login"}, []int64{2, 1}},
		{"action prefix", db.AuditQuery{Action: "user.*"}, []int64{4, 3}},
		{"a bare star is no filter", db.AuditQuery{Action: "*"}, []int64{7, 6, 5, 4, 3, 2, 1}},
		{"outcome", db.AuditQuery{Outcome: "denied"}, []int64{7, 5}},
		{"date range, end exclusive", db.AuditQuery{From: day.AddDate(0, 0, 1).Truncate(24 * time.Hour), To: day.AddDate(0, 0, 3).Truncate(24 * time.Hour)}, []int64{4, 3}},
		{"combined", db.AuditQuery{ActorID: 1, Outcome: "ok", From: day.AddDate(0, 0, 1).Truncate(24 * time.Hour)}, []int64{4, 3}},
		{"nothing matches", db.AuditQuery{Action: "nope"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := st.SearchAudit(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if got := auditIDs(p); !slices.Equal(got, tc.want) {
				t.Fatalf("ids %v, want %v", got, tc.want)
			}
			var streamed []int64
			if err := st.StreamAudit(ctx, tc.q, func(e db.AuditEntry) error { streamed = append(streamed, e.ID); return nil }); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(streamed, tc.want) {
				t.Fatalf("streamed %v, want %v", streamed, tc.want)
			}
		})
	}
	actions, err := st.AuditActions(ctx)
	if err != nil || !slices.Equal(actions, []string{"authz.denied", "links.export", "login", "user.create", "user.role", "webhook.rejected"}) {
		t.Fatalf("actions %v, %v", actions, err)
	}
	p, _ := st.SearchAudit(ctx, db.AuditQuery{Limit: 1})
	if e := p.Entries[0]; e.ActorID != 1 || e.Action != "authz.denied" || len(e.Hash) != 64 || !e.At.Equal(day.AddDate(0, 0, 5)) {
		t.Fatalf("entry %+v", e)
	}
}

func TestSearchAuditKeysetPages(t *testing.T) {
	st := mustOpenDB(t)
	ctx := context.Background()
	for range 7 {
		if err := st.Audit(ctx, db.AuditEntry{Action: "login"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Audit(ctx, db.AuditEntry{Action: "other"}); err != nil { // 8: filtered out
		t.Fatal(err)
	}
	q := db.AuditQuery{Action: "login", Limit: 3}
	type want struct {
		ids        []int64
		next, prev int64
	}
	check := func(name string, q db.AuditQuery, w want) {
		t.Helper()
		p, err := st.SearchAudit(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if got := auditIDs(p); !slices.Equal(got, w.ids) || p.Next != w.next || p.Prev != w.prev {
			t.Fatalf("%s: ids %v next %d prev %d; want %v next %d prev %d", name, got, p.Next, p.Prev, w.ids, w.next, w.prev)
		}
	}
	check("first", q, want{[]int64{7, 6, 5}, 5, 0})
	q.After = 5
	check("second", q, want{[]int64{4, 3, 2}, 2, 4})
	q.After = 2
	check("last", q, want{[]int64{1}, 0, 1})
	q.After, q.Before = 0, 1
	check("back from the last", q, want{[]int64{4, 3, 2}, 2, 4})
	q.Before = 4
	check("back to the first", q, want{[]int64{7, 6, 5}, 5, 0})
}

// StreamAudit reads the log in keyset pages (each its own short read, so
// a slow download holds no snapshot open): across page boundaries every
// entry comes once, newest first, and entries written while it streams
// are not in it, as with one snapshot.
func TestStreamAuditAcrossPages(t *testing.T) {
	st := mustOpenDB(t)
	ctx := context.Background()
	const n = 2001 // three pages of 1,000
	for range n {
		if err := st.Audit(ctx, db.AuditEntry{Action: "login"}); err != nil {
			t.Fatal(err)
		}
	}
	var got []int64
	err := st.StreamAudit(ctx, db.AuditQuery{Action: "login"}, func(e db.AuditEntry) error {
		got = append(got, e.ID)
		if len(got) == 1 { // written after the stream began
			return st.Audit(ctx, db.AuditEntry{Action: "login"})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n || got[0] != n || got[n-1] != 1 || !slices.IsSortedFunc(got, func(a, b int64) int { return int(b - a) }) {
		t.Fatalf("streamed %d entries (first %d, last %d), want %d from %d down to 1, each once", len(got), got[0], got[len(got)-1], n, n)
	}
}
