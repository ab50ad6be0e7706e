package handlers_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/PuerkitoBio/goquery"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/paylink"
)

var fzLinkPath = regexp.MustCompile(`^/links/[0-9]+$`)

// FuzzLinksSearchPage: the links list reads its whole state from the query
// string (term, cursor, sort, currency, status, dates), so any of it may be
// anything. Signed in, GET /links with any such values answers 200, or 303
// straight to one link (/links/<id>) for a term that names exactly one;
// never 4xx or 5xx. A 200 page shows at most one page of rows, adds no
// <script> to the layout's, and its search box holds the term as searched:
// UTF-8, no control characters, at most 200 bytes.
func FuzzLinksSearchPage(f *testing.F) {
	for _, s := range [][6]string{
		{"INV-100", "", "", "", "", ""},
		{"inv-10", "", "amount", "EUR", "open", "2026-11-01"},
		{"%", "", "status", "eur", "paid", "2026-13-45"},
		{"_", "eyJyIjoxLCJ2IjoxLCJpIjoxfQ", "", "", "", ""},                              // {"r":1,"v":1,"i":1}
		{"12.50", "eyJyIjowLCJ2IjoieCIsImkiOi0xfQ", "amount", "", "", ""},                // {"r":0,"v":"x","i":-1}
		{"x", "eyJyIjowLCJ2IjoxZTMwMCwiaSI6OTIyMzM3MjAzNjg1NDc3NTgwN30", "", "", "", ""}, // v 1e300
		{`"><script>alert(1)</script>`, "!!!", "created", "JPY", "nope", "yesterday"},
		{"' OR 1=1 --", "", "", "XXX", "", ""},
		{"\x00\x01\u202e\xff", "", "", "", "", ""},
		{strings.Repeat("é", 150), "", "", "", "", ""},
		{"   ", "", "", "", "", ""},
		{"NEAR(a b)", "", "", "", "", ""},
	} {
		f.Add(s[0], s[1], s[2], s[3], s[4], s[5])
	}
	e := newEnv(f)
	u := e.addUser("fuzz-search@example.com", paylink.RoleFinance)
	for i, ref := range []string{"INV-100", "INV-1000", "INV-200", "100%_off", `"><b>x</b>`} {
		_, _, err := e.store.CreateLink(context.Background(), db.NewLink{
			IdempotencyKey: "fz-search-" + ref, CustomerID: "C-" + ref, CustomerEmail: "c@example.com", Country: "DE",
			AmountMinor: 1250 + int64(i), AmountText: "12.5" + string(rune('0'+i)), Currency: "EUR", WebsiteReference: ref,
			Note: "note " + ref, SuccessURL: "https://x/s", SupportURL: "https://x/h", ExitURL: "https://x/e", ErrorURL: "https://x/r",
			CreatedBy: u.ID, AllowDuplicate: true,
		}, db.AuditEntry{Action: "test"})
		if err != nil {
			f.Fatal(err)
		}
	}
	b := e.browser()
	b.login("fuzz-search@example.com")
	get := func(t testing.TB, v url.Values) (*http.Response, *goquery.Document) {
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/links?"+v.Encode(), nil)
		resp, err := b.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		doc, err := goquery.NewDocumentFromReader(strings.NewReader(string(raw)))
		if err != nil {
			t.Fatal(err)
		}
		return resp, doc
	}
	resp, doc := get(f, url.Values{})
	if resp.StatusCode != http.StatusOK {
		f.Fatalf("GET /links: %d", resp.StatusCode)
	}
	scripts := doc.Find("script").Length()
	f.Fuzz(func(t *testing.T, q, after, sort, currency, status, from string) {
		v := url.Values{"q": {q}, "after": {after}, "sort": {sort}, "currency": {currency}, "status": {status},
			"created_from": {from}, "expires_to": {from}}
		resp, doc := get(t, v)
		switch resp.StatusCode {
		case http.StatusSeeOther:
			if loc := resp.Header.Get("Location"); !fzLinkPath.MatchString(loc) {
				t.Fatalf("%v: 303 to %q, want /links/<id>", v, loc)
			}
			return
		case http.StatusOK:
		default:
			t.Fatalf("%v: status %d", v, resp.StatusCode)
		}
		if n := doc.Find("[data-testid=links-row]").Length(); n > 50 {
			t.Fatalf("%v: %d rows on one page", v, n)
		}
		if n := doc.Find("script").Length(); n != scripts {
			t.Fatalf("%v: %d script elements, the layout has %d", v, n, scripts)
		}
		box := doc.Find(`input[name="q"]`)
		if box.Length() == 0 {
			t.Fatalf("%v: no search box", v)
		}
		term := box.First().AttrOr("value", "")
		if len(term) > 200 || !utf8.ValidString(term) || strings.IndexFunc(term, unicode.IsControl) >= 0 {
			t.Fatalf("%v: search box holds %q", v, term)
		}
	})
}
