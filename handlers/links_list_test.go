package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/paylinks/paylinks/db"
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

// seedAmount makes one link of amount (as the currency writes it) in
// currency, directly in the store.
func seedAmount(t *testing.T, e *env, user int64, ref, amount string, minor int64, currency string) db.Link {
	t.Helper()
	l, _, err := e.store.CreateLink(context.Background(), db.NewLink{
		IdempotencyKey: "k-" + ref, CustomerID: "C-" + ref, CustomerEmail: strings.ToLower(ref) + "@example.com",
		Country: "DE", AmountMinor: minor, AmountText: amount, Currency: currency, WebsiteReference: ref,
		SuccessURL: "https://x/s", SupportURL: "https://x/h", ExitURL: "https://x/e", ErrorURL: "https://x/r",
		CreatedBy: user, AllowDuplicate: true,
	}, db.AuditEntry{Action: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestSearchAmountWithCurrency: an amount written with a sign or code is
// searched as that amount in that currency; a sign of several currencies
// searches the amount in any currency; the currency is not kept as a
// filter.
func TestSearchAmountWithCurrency(t *testing.T) {
	e := newEnv(t)
	u := e.addUser("fin@example.com", paylink.RoleFinance)
	seedAmount(t, e, u.ID, "AMT-EUR", "9.99", 999, "EUR")
	seedAmount(t, e, u.ID, "AMT-USD", "9.99", 999, "USD")
	seedAmount(t, e, u.ID, "AMT-CAD", "9.99", 999, "CAD")
	seedAmount(t, e, u.ID, "AMT-JPY", "999", 999, "JPY")
	b := e.browser()
	b.login("fin@example.com")
	for _, c := range []struct {
		q, currency string
		want        []string // website references listed
		note        string   // part of the note
	}{
		{"€9.99", "", []string{"AMT-EUR"}, "9.99 EUR"},
		{"9.99€", "", []string{"AMT-EUR"}, "9.99 EUR"},
		{"9.99 EUR", "", []string{"AMT-EUR"}, "9.99 EUR"},
		{"EUR 9.99", "", []string{"AMT-EUR"}, "9.99 EUR"},
		{"eur 9,99", "", []string{"AMT-EUR"}, "9.99 EUR"},
		{"US$9.99", "", []string{"AMT-USD"}, "9.99 USD"},
		{"$9.99", "", []string{"AMT-CAD", "AMT-EUR", "AMT-USD"}, "any currency"},
		{"$9.99", "CAD", []string{"AMT-CAD"}, ""},
		{"¥999", "", []string{"AMT-JPY"}, "any currency"},
		{"9.99", "", []string{"AMT-CAD", "AMT-EUR", "AMT-USD"}, ""},
		{"€9.99", "USD", nil, "no amount is searched"},
		{"€9.99", "EUR", []string{"AMT-EUR"}, "9.99 EUR"},
	} {
		v := url.Values{"q": {c.q}}
		if c.currency != "" {
			v.Set("currency", c.currency)
		}
		p := b.get("/links?" + v.Encode())
		if p.status() != http.StatusOK {
			t.Fatalf("%v: %d", v, p.status())
		}
		var got []string
		p.find("[data-testid=links-row]").Each(func(_ int, r *goquery.Selection) {
			r.Find("td").Each(func(_ int, td *goquery.Selection) {
				if ref := strings.TrimSpace(td.Text()); strings.HasPrefix(ref, "AMT-") {
					got = append(got, ref)
				}
			})
		})
		slices.Sort(got)
		if !slices.Equal(got, c.want) {
			t.Errorf("%v: listed %v, want %v", v, got, c.want)
		}
		note := p.find("[data-testid=amount-note]").Text()
		if c.note == "" && note != "" || !strings.Contains(note, c.note) {
			t.Errorf("%v: note %q, want %q", v, note, c.note)
		}
		// The currency read from the term is not the form's filter.
		if sel, _ := p.find("select[name=currency] option[selected]").Attr("value"); sel != c.currency {
			t.Errorf("%v: currency filter shows %q", v, sel)
		}
	}
}
