package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/paylinks/paylinks/paylink"
)

// An export whose date range ends before it starts is refused with the
// list's own message (422), not downloaded as an empty file, and the list
// says the same beside the dates.
func TestExportWithAReversedDateRangeIsRefused(t *testing.T) {
	e := newEnv(t)
	u := e.addUser("fin@example.com", paylink.RoleFinance)
	seedLinks(t, e, u.ID, "REV-1")
	b := e.browser()
	b.login("fin@example.com")
	for _, c := range []struct{ from, to, field, says string }{
		{"created_from", "created_to", "created_range", "“Created before” is earlier than “Created from”"},
		{"expires_from", "expires_to", "expires_range", "“Expires before” is earlier than “Expires from”"},
	} {
		q := url.Values{c.from: {"2026-11-30"}, c.to: {"2026-11-01"}}.Encode()
		list := b.get("/links?" + q)
		if beside := list.find("[data-field=" + c.field + "]").Text(); !strings.Contains(beside, c.says) {
			t.Errorf("%s: the list says %q beside the dates", c.field, beside)
		}
		for _, path := range []string{"/links/export.csv", "/links/export.xlsx"} {
			p := b.get(path + "?" + q)
			if p.status() != http.StatusUnprocessableEntity {
				t.Errorf("%s %s: status %d, want 422", path, c.field, p.status())
			}
			if cd := p.resp.Header.Get("Content-Disposition"); cd != "" {
				t.Errorf("%s %s: a download (%s)", path, c.field, cd)
			}
			if !strings.Contains(p.find("[data-testid=error-page]").Text(), c.says) {
				t.Errorf("%s %s: page says %q", path, c.field, p.find("[data-testid=error-page]").Text())
			}
		}
	}
	// A range in the right order still downloads.
	p := b.get("/links/export.csv?" + url.Values{"created_from": {"2026-11-01"}, "created_to": {"2026-11-30"}}.Encode())
	if p.status() != http.StatusOK || !strings.HasPrefix(p.body, "id,status") {
		t.Errorf("a sound range: %d %.40q", p.status(), p.body)
	}
}
