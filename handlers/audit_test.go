package handlers_test

import (
	"context"
	"encoding/csv"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/paylink"
)

// seedAudit writes n entries, one a minute from the env's clock, alternating
// two actors and actions.
func seedAudit(t *testing.T, e *env, n int, actor db.User) {
	t.Helper()
	ctx := context.Background()
	for i := range n {
		a := db.AuditEntry{Action: "link.create", Target: "link:" + itoa(i), IP: "192.0.2.7", Details: "n=" + itoa(i)}
		if i%2 == 0 {
			a.ActorID, a.ActorEmail, a.Action = actor.ID, actor.Email, "user.role"
		}
		if err := e.store.Audit(ctx, a); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(time.Minute)
	}
}

func rowIDs(p page) []int64 {
	var out []int64
	p.find("[data-testid=audit-row]").Each(func(_ int, s *goquerySelection) {
		v, _ := s.Attr("data-id")
		id, _ := strconv.ParseInt(v, 10, 64)
		out = append(out, id)
	})
	return out
}

func TestAuditPageIsForAdminsOnly(t *testing.T) {
	e := newEnv(t)
	e.addUser("fin@example.com", paylink.RoleFinance)
	if p := e.browser().get("/admin/audit"); p.status() != http.StatusSeeOther || !strings.HasPrefix(p.location(), "/login") {
		t.Fatalf("signed out: %d %q, want the sign-in page", p.status(), p.location())
	}
	fin := e.browser()
	fin.login("fin@example.com")
	for _, path := range []string{"/admin/audit", "/admin/audit/export.csv"} {
		if p := fin.get(path); p.status() != http.StatusForbidden {
			t.Errorf("finance GET %s: %d, want 403", path, p.status())
		}
	}
	if p := fin.get("/links"); p.find(`nav a[href="/admin/audit"]`).Length() != 0 {
		t.Error("the Audit nav item is shown to finance")
	}
	entries, _ := e.store.ListAudit(context.Background(), 10)
	if !hasAudit(entries, "authz.denied", "GET /admin/audit") {
		t.Error("the refusal was not audited")
	}
}

func TestAuditPageFiltersAndPages(t *testing.T) {
	e := newEnv(t)
	admin := e.addUser("admin@example.com", paylink.RoleAdmin)
	start := e.clock.Now()
	seedAudit(t, e, 230, admin) // before signing in: it moves the clock 230 minutes
	b := e.browser()
	b.login("admin@example.com")
	latest, err := e.store.SearchAudit(context.Background(), db.AuditQuery{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	newest := latest.Entries[0].ID

	p := b.get("/admin/audit")
	if p.status() != http.StatusOK {
		t.Fatalf("GET /admin/audit: %d", p.status())
	}
	if p.find(`nav a[href="/admin/audit"][aria-current=page]`).Length() != 1 {
		t.Error("the Audit nav item is missing or not current")
	}
	ids := rowIDs(p)
	if len(ids) != 100 || ids[0] != newest || ids[99] != newest-99 {
		t.Fatalf("first page: %d rows from %v, want 100 from %d down", len(ids), ids[:min(3, len(ids))], newest)
	}
	if p.find("[data-testid=prev-page]").Length() != 0 {
		t.Error("the first page offers newer entries")
	}
	next, _ := p.find("[data-testid=next-page]").Attr("href")
	p2 := b.get(next)
	if ids := rowIDs(p2); len(ids) != 100 || ids[0] != newest-100 {
		t.Fatalf("second page starts at %v, want %d", ids[:1], newest-100)
	}
	prev, _ := p2.find("[data-testid=prev-page]").Attr("href")
	if ids := rowIDs(b.get(prev)); len(ids) != 100 || ids[0] != newest {
		t.Fatalf("back to the first page: starts at %v", ids[:1])
	}

	day := start.Format(time.DateOnly)
	cases := []struct {
		name, query string
		count       int
		check       func(*goquerySelection) bool
	}{
		{"actor by email, any case", "actor=ADMIN@example.com", 100, func(s *goquerySelection) bool {
			return strings.Contains(s.Find("[data-testid=audit-actor]").Text(), "admin@example.com")
		}},
		{"actor by id", "actor=" + itoa(int(admin.ID)), 100, nil},
		{"action", "action=link.create", 100, func(s *goquerySelection) bool {
			return s.Find("[data-testid=audit-action]").Text() == "link.create"
		}},
		{"action prefix", "action=user.*", 100, func(s *goquerySelection) bool {
			return s.Find("[data-testid=audit-action]").Text() == "user.role"
		}},
		{"outcome", "outcome=denied", 0, nil},
		{"one day", "from=" + day + "&to=" + day, 100, nil},
		{"before any entry", "to=2000-01-01", 0, nil},
		{"nobody", "actor=nobody@example.com", 0, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := b.get("/admin/audit?" + tc.query)
			rows := p.find("[data-testid=audit-row]")
			if p.status() != http.StatusOK || rows.Length() != tc.count {
				t.Fatalf("%d rows (status %d), want %d", rows.Length(), p.status(), tc.count)
			}
			if tc.count == 0 && p.find("[data-testid=audit-empty]").Length() != 1 {
				t.Error("no empty state")
			}
			if tc.check != nil {
				rows.Each(func(i int, s *goquerySelection) {
					if !tc.check(s) {
						t.Errorf("row %d does not match the filter: %s", i, s.Text())
					}
				})
			}
			// The filters stay in the export link.
			want, _ := url.ParseQuery(tc.query)
			href, _ := p.find("[data-testid=audit-export]").Attr("href")
			u, _ := url.Parse(href)
			for k := range want {
				if u.Query().Get(k) != want.Get(k) {
					t.Errorf("export link %q drops %s", href, k)
				}
			}
		})
	}
	// Only the actor's entries (115 seeded, and signing in): the second
	// page holds the rest.
	mine := 0
	if err := e.store.StreamAudit(context.Background(), db.AuditQuery{ActorID: admin.ID}, func(db.AuditEntry) error { mine++; return nil }); err != nil {
		t.Fatal(err)
	}
	p = b.get("/admin/audit?actor=" + itoa(int(admin.ID)))
	next, _ = p.find("[data-testid=next-page]").Attr("href")
	if !strings.Contains(next, "actor=") {
		t.Fatalf("next link %q drops the filter", next)
	}
	if n := len(rowIDs(b.get(next))); mine < 116 || n != mine-100 {
		t.Fatalf("second filtered page has %d rows, want %d", n, mine-100)
	}
	// A bad date is a message beside the field, not an error page.
	p = b.get("/admin/audit?from=yesterday")
	if p.status() != http.StatusOK || p.find(`[data-field="from"]`).Length() != 1 || len(rowIDs(p)) != 100 {
		t.Fatalf("bad date: %d, error shown %d", p.status(), p.find(`[data-field="from"]`).Length())
	}
}

func TestAuditExportCSV(t *testing.T) {
	e := newEnv(t)
	admin := e.addUser("admin@example.com", paylink.RoleAdmin)
	seedAudit(t, e, 5, admin)
	if err := e.store.Audit(context.Background(), db.AuditEntry{Action: "user.role", ActorID: admin.ID, ActorEmail: admin.Email,
		Target: "=HYPERLINK(\"http://x\")", Details: "role=admin, \"quoted\"\nsecond line"}); err != nil {
		t.Fatal(err)
	}
	b := e.browser()
	b.login("admin@example.com")
	p := b.get("/admin/audit/export.csv?action=user.role")
	h := p.resp.Header
	if p.status() != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "text/csv") ||
		!strings.HasPrefix(h.Get("Content-Disposition"), "attachment") || h.Get("X-Content-Type-Options") != "nosniff" ||
		h.Get("Cache-Control") != "no-store" {
		t.Fatalf("status %d, headers %v", p.status(), h)
	}
	rows, err := csv.NewReader(strings.NewReader(p.body)).ReadAll()
	if err != nil {
		t.Fatalf("not RFC 4180: %v", err)
	}
	// Header, the forged-looking entry and the three seeded user.role ones.
	if len(rows) != 5 || strings.Join(rows[0], ",") != "id,at,actor_id,actor_email,action,target,outcome,ip,request_id,details,hash" {
		t.Fatalf("%d rows, header %v", len(rows), rows[0])
	}
	first := rows[1]
	if first[4] != "user.role" || first[5] != `'=HYPERLINK("http://x")` {
		t.Errorf("newest row %v: want the formula neutralised", first)
	}
	if first[9] != `role=admin, "quoted"\nsecond line` {
		t.Errorf("details %q: the line break is stored escaped, commas and quotes round-trip", first[9])
	}
	if len(first[10]) != 64 {
		t.Errorf("hash %q", first[10])
	}
	for _, r := range rows[1:] {
		if r[4] != "user.role" {
			t.Errorf("row %v escaped the filter", r)
		}
	}
	entries, _ := e.store.ListAudit(context.Background(), 5)
	if !hasAudit(entries, "audit.export", "audit_log") {
		t.Error("the download was not audited")
	}
}
