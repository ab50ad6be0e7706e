package handlers_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
)

// BenchmarkTabCounts measures the list's status tabs (issue #18) through
// the real handler on the bench database, each beside the list page it
// belongs to, asked the same way in the same run:
//
//   - tab-page: the first page of each status tab (the tabs' own links on
//     the list page: status=open, …, attention=1), in turn, beside the
//     unfiltered list page (/links, the All tab);
//   - counts-no-term: the nine counts the unfiltered list page defers
//     (its tab-counts loader, tab_counts=1: the status tabs from the kept
//     figures, Needs attention counted), beside that list page.
//
// Each reports p50/p99 like BenchmarkListPage. BenchmarkTabCountsBroad
// does the same for a broad search.
func BenchmarkTabCounts(b *testing.B) {
	st := benchDB(b)
	app := newBenchApp(b, st)
	list := listDoc(b, app, "/links")
	var tabs []string
	list.Find("[data-testid=status-tabs] a[data-testid^=tab-]").Each(func(_ int, s *goquery.Selection) {
		if s.AttrOr("data-testid", "") != "tab-all" {
			tabs = append(tabs, s.AttrOr("href", ""))
		}
	})
	if len(tabs) != 8 {
		b.Fatalf("the list page has %d status tabs besides All, want 8: %q", len(tabs), tabs)
	}
	b.Run("tab-page/handler", func(b *testing.B) {
		for _, u := range tabs {
			mustContain(b, get(b, app.e, u, app.cookie), `data-testid="results"`)
		}
		timeGets(b, app.e, tabs, app.cookie)
	})
	b.Run("tab-page/baseline", func(b *testing.B) { timeGets(b, app.e, []string{"/links"}, app.cookie) })
	benchTabCounts(b, app, "counts-no-term", "/links", list)
}

// BenchmarkTabCountsBroad is BenchmarkTabCounts' counts for a search by a
// customer's surname, as staff type it (thousands of links: each tab's
// count runs to the 10,000 cap through the search's plan), beside the
// list page of that search. Its own group in make bench, with fewer
// iterations: the list page of a broad search takes far longer than the
// unfiltered one.
func BenchmarkTabCountsBroad(b *testing.B) {
	st := benchDB(b)
	app := newBenchApp(b, st)
	ctx := context.Background()
	total, err := st.CountLinks(ctx)
	if err != nil {
		b.Fatal(err)
	}
	mid, err := st.LinkByID(ctx, int64(total/2))
	if err != nil {
		b.Fatal(err)
	}
	local, _, _ := strings.Cut(mid.CustomerEmail, "@")
	_, surname, _ := strings.Cut(local, ".")
	surname = strings.TrimRight(surname, "0123456789")
	if len(surname) < 4 {
		b.Fatalf("no surname in %q", mid.CustomerEmail)
	}
	broad := "/links?" + url.Values{"q": {surname}}.Encode()
	benchTabCounts(b, app, "counts-broad-term-"+surname, broad, listDoc(b, app, broad))
}

// benchTabCounts times the tab counts the list page page (at path)
// defers, as its loader asks for them, beside the page itself. The
// counts' answer must hold nine counts, none refused as busy.
func benchTabCounts(b *testing.B, app *benchApp, name, path string, page *goquery.Document) {
	u, _ := page.Find("[data-testid=tab-counts-loader]").Attr("hx-get")
	if u == "" {
		b.Fatalf("%s defers no tab counts", path)
	}
	b.Run(name+"/handler", func(b *testing.B) {
		body := get(b, app.e, u, app.cookie)
		if strings.Count(body, `hx-swap-oob="true"`) != 9 || strings.Count(body, " (") != 9 || strings.Contains(body, `data-testid="busy"`) {
			b.Fatalf("%s: not nine tab counts: %s", u, body)
		}
		timeGets(b, app.e, []string{u}, app.cookie)
	})
	b.Run(name+"/baseline", func(b *testing.B) { timeGets(b, app.e, []string{path}, app.cookie) })
}

// listDoc is the list page at path, parsed.
func listDoc(b *testing.B, app *benchApp, path string) *goquery.Document {
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(get(b, app.e, path, app.cookie)))
	if err != nil {
		b.Fatal(err)
	}
	return doc
}
