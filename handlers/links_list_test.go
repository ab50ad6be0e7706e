package handlers_test

import (
	"net/http"
	"testing"

	"github.com/paylinks/paylinks/paylink"
)

// TestSearchShortTermHint: a term of 1 or 2 characters finds only whole
// values (here an amount), and the page says so, whatever it found.
func TestSearchShortTermHint(t *testing.T) {
	e := newEnv(t)
	u := e.addUser("fin@example.com", paylink.RoleFinance)
	seedLinks(t, e, u.ID, "SHORT-1", "SHORT-2")
	b := e.browser()
	b.login("fin@example.com")
	for _, c := range []struct {
		q    string
		rows int
		hint bool
	}{
		{"5", 1, true},     // the amount 5.00, whole
		{"zz", 0, true},    // nothing whole
		{"é", 0, true},     // characters, not bytes
		{"SHO", 2, false},  // 3 characters: a prefix search
		{"", 2, false},     // no term
		{"5.01", 1, false}, // an amount, long enough to need no hint
	} {
		p := b.get("/links?q=" + c.q)
		if p.status() != http.StatusOK {
			t.Fatalf("q=%q: %d", c.q, p.status())
		}
		if n := p.find("[data-testid=links-row]").Length(); n != c.rows {
			t.Errorf("q=%q: %d rows, want %d", c.q, n, c.rows)
		}
		if got := p.find("#results [data-testid=short-term-hint]").Length() == 1; got != c.hint {
			t.Errorf("q=%q: hint shown %v, want %v", c.q, got, c.hint)
		}
	}
}
