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

// htmxGet is a live-search request: htmx asks for the results fragment.
func htmxGet(b *browser, path string) page {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.e.srv.URL+path, nil)
	req.Header.Set("HX-Request", "true")
	return b.do(req)
}

// TestSearchReversedDateRangeIsRefused: a range that ends before it
// starts is said beside the dates, keeps what was typed and searches
// nothing (not even an exact reference); a one-day range is fine.
func TestSearchReversedDateRangeIsRefused(t *testing.T) {
	e := newEnv(t)
	u := e.addUser("fin@example.com", paylink.RoleFinance)
	seeded := seedLinks(t, e, u.ID, "RANGE-1", "RANGE-2")
	b := e.browser()
	b.login("fin@example.com")
	for _, c := range []struct{ from, to, field string }{
		{"created_from", "created_to", "created_range"},
		{"expires_from", "expires_to", "expires_range"},
	} {
		v := url.Values{"q": {"RANGE-1"}, c.from: {"2026-11-30"}, c.to: {"2026-11-01"}}
		p := b.get("/links?" + v.Encode())
		if p.status() != http.StatusOK {
			t.Fatalf("%s: %d %s (an exact reference must not open the link)", c.field, p.status(), p.location())
		}
		msg := p.find("details.filters [data-field=" + c.field + "]")
		if !strings.Contains(msg.Text(), "earlier than") {
			t.Errorf("%s: message %q", c.field, msg.Text())
		}
		if _, open := p.find("details.filters").Attr("open"); !open {
			t.Errorf("%s: the filters holding the message are closed", c.field)
		}
		for name, want := range map[string]string{c.from: "2026-11-30", c.to: "2026-11-01", "q": "RANGE-1"} {
			if got, _ := p.find("#" + name).Attr("value"); got != want {
				t.Errorf("%s: %s holds %q, want %q", c.field, name, got, want)
			}
		}
		if p.find("[data-testid=links-row]").Length() != 0 || p.find("[data-testid=links-refused]").Length() != 1 {
			t.Errorf("%s: searched anyway", c.field)
		}
		if got := squash(p.find("[data-testid=total]").Text()); got != "0 links" {
			t.Errorf("%s: total %q", c.field, got)
		}
		// Live search: the message arrives out of band beside the dates.
		h := htmxGet(b, "/links?"+v.Encode())
		slot := h.find("#" + c.field + "-slot")
		if v, _ := slot.Attr("hx-swap-oob"); v != "true" || !strings.Contains(slot.Text(), "earlier than") ||
			h.find("[data-testid=links-row]").Length() != 0 {
			t.Errorf("%s: fragment slot %q oob=%q", c.field, slot.Text(), v)
		}
		if got := squash(b.get("/links/count?" + v.Encode()).find("[data-testid=total-count]").Text()); got != "0" {
			t.Errorf("%s: the count of a refused search %q", c.field, got)
		}
	}
	// One day (from = to) is a range.
	today := seeded[0].CreatedAt.UTC().Format("2006-01-02")
	p := b.get("/links?created_from=" + today + "&created_to=" + today)
	if p.find("[data-field=created_range]").Length() != 0 || p.find("[data-testid=links-row]").Length() == 0 {
		t.Errorf("one day refused or empty: %q", p.find("[data-field=created_range]").Text())
	}
}

// TestSearchClearWheneverAnythingIsSet: Clear shows for any term, filter
// or sort other than newest first, on the page and in the live-search
// fragment (out of band, so it appears and goes with JavaScript too).
func TestSearchClearWheneverAnythingIsSet(t *testing.T) {
	e := newEnv(t)
	u := e.addUser("fin@example.com", paylink.RoleFinance)
	seedLinks(t, e, u.ID, "CLEAR-1")
	b := e.browser()
	b.login("fin@example.com")
	for _, c := range []struct {
		query string
		clear bool
	}{
		{"", false},
		{"sort=created", false},
		{"q=CLEAR", true},
		{"q=zz", true},
		{"status=open", true},
		{"currency=EUR", true},
		{"created_from=2026-01-01", true},
		{"expires_to=2030-01-01", true},
		{"created_by=" + itoa(int(u.ID)), true},
		{"sort=amount", true},
	} {
		p := b.get("/links?" + c.query)
		if got := p.find("[data-testid=search-form] [data-testid=clear]").Length() == 1; got != c.clear {
			t.Errorf("%q: page shows Clear %v, want %v", c.query, got, c.clear)
		}
		h := htmxGet(b, "/links?"+c.query)
		slot := h.find("#search-clear")
		if oob, _ := slot.Attr("hx-swap-oob"); oob != "true" {
			t.Fatalf("%q: the fragment lacks the Clear slot out of band: %q", c.query, oob)
		}
		if got := slot.Find("[data-testid=clear]").Length() == 1; got != c.clear {
			t.Errorf("%q: live search shows Clear %v, want %v", c.query, got, c.clear)
		}
	}
}

// TestStatusTabs: the tabs are links to the search on each status (the
// term and other filters kept), the current one marked; their counts come
// in one deferred request, into each tab out of band, or in the page from
// a link without JavaScript.
func TestStatusTabs(t *testing.T) {
	e := newEnv(t)
	u := e.addUser("fin@example.com", paylink.RoleFinance)
	ls := seedLinks(t, e, u.ID, "TAB-1", "TAB-2", "TAB-3", "TAB-4", "TAB-5", "OTHER-6")
	setStatus(t, e, ls[0].ID, paylink.StatusOpen)
	setStatus(t, e, ls[1].ID, paylink.StatusOpen)
	setStatus(t, e, ls[2].ID, paylink.StatusPaid, "paid_after_expiry")
	setStatus(t, e, ls[3].ID, paylink.StatusError)
	setStatus(t, e, ls[4].ID, paylink.StatusSettled)
	setStatus(t, e, ls[5].ID, paylink.StatusOpen)
	b := e.browser()
	b.login("fin@example.com")

	p := b.get("/links?q=TAB&sort=amount")
	tabs := p.find("[data-testid=status-tabs] a[data-testid^=tab-]")
	if tabs.Length() != 9 {
		t.Fatalf("%d tabs", tabs.Length())
	}
	if cur := p.find("[data-testid=status-tabs] a[aria-current=page]"); cur.Length() != 1 || strings.TrimSpace(cur.Text()) != "All" {
		t.Errorf("current tab %q", cur.Text())
	}
	openHref, _ := p.find("[data-testid=tab-open]").Attr("href")
	for _, want := range []string{"q=TAB", "sort=amount", "status=open"} {
		if !strings.Contains(openHref, want) {
			t.Errorf("Open tab %q lacks %s", openHref, want)
		}
	}
	// The deferred counts: one request, each count into its tab.
	src, ok := p.find("[data-testid=tab-counts-loader]").Attr("hx-get")
	if !ok {
		t.Fatal("no deferred tab counts")
	}
	h := htmxGet(b, src)
	want := map[string]string{"all": "(5)", "open": "(2)", "processing": "(0)", "paid": "(1)", "settled": "(1)",
		"attention": "(2)", "failed": "(0)", "expired": "(0)", "cancelled": "(0)"}
	for key, n := range want {
		got := h.find("#tab-count-" + key)
		if oob, _ := got.Attr("hx-swap-oob"); oob != "true" || strings.TrimSpace(got.Text()) != n {
			t.Errorf("tab %s: count %q (oob %q), want %s", key, got.Text(), oob, n)
		}
	}
	// Without JavaScript: the page counted.
	counted := b.get("/links?q=TAB&sort=amount&count=1")
	if got := strings.TrimSpace(counted.find("#tab-count-attention").Text()); got != "(2)" {
		t.Errorf("counted in the page: attention %q", got)
	}
	// On a tab: its rows, the tab marked, the term kept.
	on := b.get(openHref)
	if n := on.find("[data-testid=links-row]").Length(); n != 2 {
		t.Errorf("Open tab lists %d rows", n)
	}
	if cur := on.find("[data-testid=status-tabs] a[aria-current=page]"); !strings.HasPrefix(strings.TrimSpace(cur.Text()), "Open") {
		t.Errorf("current tab on Open: %q", cur.Text())
	}
	attHref, _ := on.find("[data-testid=tab-attention]").Attr("href")
	att := b.get(attHref)
	if n := att.find("[data-testid=links-row]").Length(); n != 2 || strings.Contains(attHref, "status=") {
		t.Errorf("Needs attention %q lists %d rows", attHref, n)
	}
	if att.find("[data-testid=search-form] [data-testid=clear]").Length() != 1 {
		t.Error("no Clear on a tab")
	}
}
